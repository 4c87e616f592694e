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


def _one_thread_outside_main_threads() -> None:
    """oneDAL's process-wide thread count, which fits outside a main thread use, set to one (once per process; a
    lock so that concurrent fits never see it half-set). Left at one: every oneDAL fit fer-bench makes wants it."""
    with _SETTING:
        if daal4py.num_threads() != 1:
            daal4py.daalinit(1)


@contextmanager
def _one_thread():
    _one_thread_outside_main_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):  # a main thread's own limit
        yield


class OneThreadSVC(SVC):
    """``sklearnex.svm.SVC`` whose fit and predictions (a search scores its trials with them) run on one thread in
    any thread of any process: the same constructor parameters, the same fitted state (saved and exported as any
    oneDAL SVC is)."""

    def fit(self, X, y, sample_weight=None):
        with _one_thread():
            return super().fit(X, y, sample_weight)

    def predict(self, X):
        with _one_thread():
            return super().predict(X)

    def decision_function(self, X):
        with _one_thread():
            return super().decision_function(X)
