"""PCA fitted and applied on one BLAS thread wherever it runs, so that its numbers do not depend on where it runs.

OpenBLAS splits a decomposition's sums by thread, so the last digits of a fitted PCA follow the number of BLAS
threads of the process it ran in: every core in a main process, cores // n_jobs in joblib's process workers (a
grid search's trials with ``--n-jobs``), whatever a Dask worker was started with. On data where grid candidates
score within an image of each other, such a digit flips a trial's score and then the chosen hyperparameters
(measured on synthetic-b, lbp, 30 components: the first trial scored 0.2190 with ``--n-jobs 1`` and 0.2048 with
``--n-jobs 2``, same config hash; with numpy 2.4 / OpenBLAS 0.3.30-0.3.31).

OpenBLAS's thread count is one setting for the whole process, so threads that fit at once share one limit: the
first to start sets it, the last to finish gives the previous count back. What this covers: one fit at a time per
process, in its main thread or another one, which is how fer-bench fits (a run's main thread, joblib's process
workers, Dask workers with one task thread each). What it does not: several threads of one process calling
OpenBLAS at once gave the numbers of two threads despite the limit (measured); a process started with
``OPENBLAS_NUM_THREADS=1`` gives one-thread numbers in every case.
"""

from __future__ import annotations

import threading

import numpy as np
import threadpoolctl
from sklearn.decomposition import PCA

#: The BLAS libraries loaded once numpy and scipy are (both may bring an OpenBLAS), found once: finding them costs
#: milliseconds, and a search fits and applies hundreds of PCAs.
_POOLS = threadpoolctl.ThreadpoolController()


class _OneBlasThread:
    """A context in which BLAS runs on one thread, for every thread of the process that is inside one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._inside == 0:
                self._limiter = _POOLS.limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


_ONE_BLAS_THREAD = _OneBlasThread()


class OneThreadPCA(PCA):
    """scikit-learn's PCA whose fit and transforms run on one BLAS thread: the same parameters and fitted state
    (saved and loaded as a PCA), the same numbers in a main process, a joblib worker or a Dask task.

    Its components are kept in C order, the order a saved PCA loads in: the SVD leaves them in Fortran order, and
    on AVX-512 machines OpenBLAS sums a transform's products in another order for each layout, so a loaded PCA's
    projections differed from the fitted one's in the last bit (measured here, 2026-12-05; not on AVX2 machines).
    """

    def fit(self, X, y=None):
        with _ONE_BLAS_THREAD:
            super().fit(X, y)
        return self._in_c_order()

    def fit_transform(self, X, y=None):
        with _ONE_BLAS_THREAD:
            out = super().fit_transform(X, y)
        self._in_c_order()
        return out

    def _in_c_order(self):
        self.components_ = np.ascontiguousarray(self.components_)
        return self

    def transform(self, X):
        with _ONE_BLAS_THREAD:
            return super().transform(X)

    def inverse_transform(self, X):
        with _ONE_BLAS_THREAD:
            return super().inverse_transform(X)
