"""Support vector machines on hand-crafted features: scaler (+ optional PCA) + SVM pipelines."""

from __future__ import annotations

from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ._registry import register_model

DEFAULT_FEATURES = "hog+landmarks"
#: kernel cache per SVC fit; large caches matter for the 28,709-sample FER2013 fits.
CACHE_MB = 2000

LINEAR_GRID = {"svm__C": [0.0001, 0.001, 0.01, 0.1, 1.0]}
POLY_GRID = {"svm__C": [0.1, 1.0, 10.0], "svm__degree": [2, 3]}
RBF_GRID = {"svm__C": [1.0, 10.0, 100.0], "svm__gamma": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}


def _pipeline(svm, pca: int | None, seed: int) -> Pipeline:
    reducer = PCA(n_components=pca, random_state=seed) if pca else "passthrough"
    return Pipeline([("scale", StandardScaler()), ("pca", reducer), ("svm", svm)])


@register_model("svm-linear", kind="classical", param_grid=LINEAR_GRID, default_features=DEFAULT_FEATURES,
                description="linear-kernel SVM (libsvm, hinge loss, one-vs-one); grid over C")
def svm_linear(*, seed: int = 0, pca: int | None = None) -> Pipeline:
    return _pipeline(SVC(kernel="linear", cache_size=CACHE_MB), pca, seed)


@register_model("svm-poly", kind="classical", param_grid=POLY_GRID, default_features=DEFAULT_FEATURES,
                description="polynomial-kernel SVM (libsvm, gamma='scale', coef0=1); grid over C and degree")
def svm_poly(*, seed: int = 0, pca: int | None = None) -> Pipeline:
    return _pipeline(SVC(kernel="poly", gamma="scale", coef0=1.0, cache_size=CACHE_MB), pca, seed)


@register_model("svm-rbf", kind="classical", param_grid=RBF_GRID, default_features=DEFAULT_FEATURES,
                description="RBF-kernel SVM (libsvm); grid over C and gamma")
def svm_rbf(*, seed: int = 0, pca: int | None = None) -> Pipeline:
    return _pipeline(SVC(kernel="rbf", cache_size=CACHE_MB), pca, seed)
