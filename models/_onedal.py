"""oneDAL's SVM (scikit-learn-intelex) fitted on one thread wherever it runs, so that its numbers do not depend on
where a fit happens.

oneDAL splits its sums by thread, so the last digits of a fitted SVM's decision values follow the number of
threads it ran on. Where a fit runs decides that number: in a main thread, OpenMP's current limit (which joblib's
process workers set to cores // n_jobs, and which TensorFlow lowers when it pins its pools); in any other thread
(joblib's thread workers, a Dask worker's task thread), oneDAL's own setting (every core). Grid-search trials run in
all of these places depending on ``--n-jobs`` and the executor, and on data where candidates score close, a last
digit flips a prediction, a trial's score, and then the chosen hyperparameters (measured: one suite's svm-rbf
scored 0.186 with ``--n-jobs 2`` and 0.198 with ``--n-jobs 1`` or on a Dask worker, same config hash).

One thread per fit costs little: grid searches run their trials in parallel, one per core, and only the last
fits of a search (a refit, or successive halving's last round) lose the cores they would have shared. Imported
lazily (scikit-learn-intelex is optional and takes a second to import).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import daal4py
import threadpoolctl
from sklearnex.svm import SVC

_SETTING = threading.Lock()
#: The native thread pools loaded once scikit-learn-intelex is (its OpenMP among them): found once, because finding
#: them costs about 2.3 ms, against 0.01 ms for a limit on a known pool, and a search pins hundreds of fits and
#: predictions.
_POOLS = threadpoolctl.ThreadpoolController()


def _process_wide_one_thread() -> None:
    """oneDAL's process-wide thread count (what fits outside a main thread use, and a main thread whose OpenMP limit
    is every core) set to one, once per process. Left at one: every oneDAL fit fer-bench makes wants it (it caps
    oneDAL's own threads; TensorFlow's and BLAS's pools are their own)."""
    with _SETTING:  # set once, by whichever fit comes first
        if daal4py.num_threads() != 1:
            daal4py.daalinit(1)


@contextmanager
def _one_thread():
    """oneDAL on one thread in this thread: the process-wide count, and this thread's own OpenMP limit."""
    _process_wide_one_thread()
    with _POOLS.limit(limits=1, user_api="openmp"):
        yield


class OneThreadSVC(SVC):
    """``sklearnex.svm.SVC`` whose fit, predictions and score (a search scores its trials with them) run on one
    thread in any thread of any process: the same constructor parameters, the same fitted state (saved and exported
    as any oneDAL SVC is). Its ``n_jobs`` stays None: scikit-learn-intelex would set oneDAL's threads from it."""

    def fit(self, X, y, sample_weight=None):
        with _one_thread():
            return super().fit(X, y, sample_weight)

    def predict(self, X):
        with _one_thread():
            return super().predict(X)

    def decision_function(self, X):
        with _one_thread():
            return super().decision_function(X)

    def score(self, X, y, sample_weight=None):
        with _one_thread():
            return super().score(X, y, sample_weight)
