"""The PCA of SVM pipelines is fitted and applied on one BLAS thread, so that where it runs changes no number."""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import threadpoolctl
from joblib import Parallel, delayed
from sklearn.decomposition import PCA

from models import OneThreadPCA, get_model, pipeline_from_arrays, pipeline_to_arrays


def _digest(cls, X, blas_threads=None) -> str:
    def fitted():
        return cls(n_components=30, random_state=0).fit(X).transform(X)

    if blas_threads is None:
        Z = fitted()
    else:
        with threadpoolctl.threadpool_limits(blas_threads, user_api="blas"):
            Z = fitted()
    return hashlib.sha256(np.ascontiguousarray(Z).tobytes()).hexdigest()


def _in_a_thread(cls, X, blas_threads=None) -> str:
    out = []
    worker = threading.Thread(target=lambda: out.append(_digest(cls, X, blas_threads)))
    worker.start()
    worker.join()
    return out[0]


class _PlainPCAInCOrder(PCA):
    """scikit-learn's PCA with its components in C order, as OneThreadPCA keeps them."""

    def fit(self, X, y=None):
        super().fit(X, y)
        self.components_ = np.ascontiguousarray(self.components_)
        return self


def test_a_one_thread_pca_gives_the_same_numbers_wherever_it_is_fitted():
    """Main thread with every core, with two and one BLAS threads, another thread, joblib's process workers (which
    give BLAS cores // n_jobs threads): one digest. (A plain PCA's digests differ between one and two BLAS threads
    on a multi-core machine: measured with numpy 2.4's OpenBLAS on this shape.)"""
    X = np.random.default_rng(0).normal(size=(105, 944))
    digests = {_digest(OneThreadPCA, X), _digest(OneThreadPCA, X, 2), _digest(OneThreadPCA, X, 1),
               _in_a_thread(OneThreadPCA, X), _in_a_thread(OneThreadPCA, X, 2),
               *Parallel(n_jobs=2)(delayed(_digest)(OneThreadPCA, X) for _ in range(2))}
    assert len(digests) == 1
    assert _digest(_PlainPCAInCOrder, X, 1) in digests  # a plain PCA's numbers on one thread
    before = threadpoolctl.threadpool_info()
    OneThreadPCA(n_components=3).fit(X)
    assert threadpoolctl.threadpool_info() == before  # the previous BLAS thread count is given back


def test_a_saved_pipeline_keeps_its_pca_as_a_pca_and_loads_it_on_one_thread():
    X = np.random.default_rng(2).normal(size=(140, 60))
    y = np.repeat(np.arange(7), 20)
    pipeline = get_model("svm-rbf").build(seed=0, pca=10, backend="libsvm").fit(X, y)
    assert type(pipeline.named_steps["pca"]) is OneThreadPCA
    description, arrays = pipeline_to_arrays(pipeline)
    assert "PCA" in str(description) and "OneThreadPCA" not in str(description)  # the file format is unchanged
    loaded = pipeline_from_arrays(description, arrays)
    assert type(loaded.named_steps["pca"]) is OneThreadPCA
    np.testing.assert_array_equal(loaded.decision_function(X), pipeline.decision_function(X))
