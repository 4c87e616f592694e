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

Every fit's own inference is checked against the model it solved. oneDAL's predictions and decision values come
from its own kernel code, not from the support vectors, dual coefficients and intercepts it exports (which the
saved model holds); with scikit-learn-intelex 2026.2 on an AVX-512 CPU they were wrong for one class pair of an
RBF SVM (synthetic faces, hog, --pca 30: pairwise decision values off by up to 1.31, 7 of 343 labels changed),
while the exported solution decided as a libsvm fit of the same problem does. Where a fit's own decision values
differ from its exported model's, its predictions, decision values and scores (a search's trial scores among
them) are computed from the exported model by scikit-learn's libsvm code instead, and the fit records it.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import daal4py
import numpy as np
import threadpoolctl
from sklearnex.svm import SVC

from ._stock import stock_svc

_SETTING = threading.Lock()
#: The native thread pools loaded once scikit-learn-intelex is (its OpenMP among them): found once, because finding
#: them costs about 2.3 ms, against 0.01 ms for a limit on a known pool, and a search pins hundreds of fits and
#: predictions.
_POOLS = threadpoolctl.ThreadpoolController()
#: Rows of its training data on which each fit's own pairwise decision values are compared with its exported
#: model's (the fault seen changed most rows' values for the class pair it hit).
CHECKED_ROWS = 256
#: Their largest difference, as a share of the largest magnitude, beyond which oneDAL's inference is not trusted:
#: the two compute the kernel expansion in another order (measured 1e-6 relative on CK+, 2e-4 on FER2013).
INFERENCE_TOLERANCE = 0.01


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
    as any oneDAL SVC is). Its ``n_jobs`` stays None: scikit-learn-intelex would set oneDAL's threads from it.

    After each fit, ``inference_diff_`` is the largest difference between its own pairwise decision values and its
    exported model's on :data:`CHECKED_ROWS` training rows; beyond :data:`INFERENCE_TOLERANCE` of their magnitude,
    ``libsvm_inference_`` holds the exported model as a stock SVC, which then predicts, decides and scores."""

    def fit(self, X, y, sample_weight=None):
        with _one_thread():
            super().fit(X, y, sample_weight)
        self._check_inference(np.asarray(X)[:CHECKED_ROWS])
        return self

    def _check_inference(self, rows: np.ndarray) -> None:
        stock = stock_svc(self)
        shape = self.decision_function_shape
        try:
            self.decision_function_shape = stock.decision_function_shape = "ovo"  # the values, never votes
            with _one_thread():
                own = np.asarray(super().decision_function(rows), dtype=np.float64)
            exported = np.asarray(stock.decision_function(rows), dtype=np.float64)
        finally:
            self.decision_function_shape = stock.decision_function_shape = shape
        self.inference_diff_ = float(np.max(np.abs(own - exported))) if own.size else 0.0
        scale = max(1.0, float(np.max(np.abs(exported)))) if exported.size else 1.0
        self.libsvm_inference_ = stock if self.inference_diff_ > INFERENCE_TOLERANCE * scale else None

    def _stock(self):
        return getattr(self, "libsvm_inference_", None)

    def predict(self, X):
        if self._stock() is not None:
            return self._stock().predict(X)
        with _one_thread():
            return super().predict(X)

    def decision_function(self, X):
        if self._stock() is not None:
            self._stock().decision_function_shape = self.decision_function_shape
            return self._stock().decision_function(X)
        with _one_thread():
            return super().decision_function(X)

    def score(self, X, y, sample_weight=None):
        if self._stock() is not None:
            return self._stock().score(X, y, sample_weight)
        with _one_thread():
            return super().score(X, y, sample_weight)
