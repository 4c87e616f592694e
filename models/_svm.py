"""Support vector machines on hand-crafted features: scaler (+ optional PCA) + SVM pipelines.

Two exact SVM solvers give the same model up to solver tolerance: scikit-learn's libsvm and oneDAL's
(``sklearnex.svm.SVC`` from scikit-learn-intelex), which fits FER2013-sized problems about 10x faster on the same
cores. ``--svm-backend auto`` takes oneDAL where it is installed; the backend that ran is recorded in the run.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import AdditiveChi2Sampler
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC as LibsvmSVC

from benchmark.errors import FerBenchError

from ._registry import register_model

#: kernel cache per SVC fit; large caches matter for the 28,709-sample FER2013 fits.
CACHE_MB = 2000
SVM_BACKENDS = ("auto", "onedal", "libsvm")

LINEAR_GRID = {"svm__C": [0.0001, 0.001, 0.01, 0.1, 1.0]}
POLY_GRID = {"svm__C": [0.1, 1.0, 10.0], "svm__degree": [2, 3]}
#: RBF gamma as a multiple of 1 / (total feature variance), the same scale for any features (see UnitVariance)
RBF_GRID = {"svm__C": [1.0, 3.0, 10.0, 30.0], "svm__gamma": [0.5, 1.0, 2.0]}
#: FER2013 (selected on PublicTest, bovw+hog+landmarks, 400 PCA components, mirror images): C from 3 to 30 scored
#: within 0.2 points at the best gamma, which sat at the old grid's top (2): so fewer Cs, gamma one step wider
RBF_GRID_FER = {"svm__C": [3.0, 10.0], "svm__gamma": [1.0, 2.0, 4.0]}
#: CK+'s few hundred training images per fold afford a wider grid, reaching the near-linear small gammas
RBF_GRID_CK = {"svm__C": [1.0, 3.0, 10.0, 30.0, 100.0], "svm__gamma": [0.03, 0.1, 0.3, 1.0, 3.0]}
CHI2_GRID = {"svm__C": [1.0, 10.0, 100.0], "svm__gamma": [0.3, 1.0, 3.0]}
DEFAULT_FEATURES = "hog+landmarks"


def onedal_available() -> bool:
    """Whether scikit-learn-intelex (oneDAL) can be imported here (it ships for x86-64 only)."""
    try:
        import sklearnex.svm  # noqa: F401
    except Exception:  # ImportError, or a broken native library
        return False
    return True


def resolve_svm_backend(requested: str) -> str:
    """The backend a run will use: ``auto`` is oneDAL where it is installed, else libsvm."""
    if requested not in SVM_BACKENDS:
        raise FerBenchError(f"--svm-backend must be one of {', '.join(SVM_BACKENDS)}, got {requested!r}")
    if requested == "auto":
        return "onedal" if onedal_available() else "libsvm"
    if requested == "onedal" and not onedal_available():
        raise FerBenchError("--svm-backend onedal: scikit-learn-intelex is not installed (pip install "
                            "scikit-learn-intelex; x86-64 only); use --svm-backend libsvm")
    return requested


def backend_that_ran(svm) -> str:
    """``onedal`` when a fitted sklearnex SVC ran oneDAL's solver, ``libsvm`` when scikit-learn's ran (sklearnex
    falls back to it for parameters oneDAL does not support)."""
    return "onedal" if getattr(svm, "_onedal_estimator", None) is not None else "libsvm"


def _svc(backend: str, **params):
    if backend == "onedal":
        from sklearnex.svm import SVC  # lazy: scikit-learn-intelex (oneDAL) takes a second to import
    elif backend == "libsvm":
        SVC = LibsvmSVC
    else:
        raise ValueError(f"unresolved SVM backend {backend!r}")
    return SVC(cache_size=CACHE_MB, **params)


class UnitVariance(TransformerMixin, BaseEstimator):
    """Divides features by the square root of their total variance (learned on the training data), so that
    squared distances between samples average about 2 whatever the features' number and PCA: an RBF ``gamma``
    of 1 is then scikit-learn's ``gamma='scale'``, and one declared grid of gammas suits every feature set."""

    def fit(self, X, y=None):
        self.scale_ = float(np.sqrt(np.asarray(X, dtype=np.float64).var(axis=0).sum())) or 1.0
        return self

    def transform(self, X):
        return np.asarray(X) / self.scale_


def _pipeline(svm, pca: int | None, seed: int, *, unit_variance: bool = False, first=None) -> Pipeline:
    """``first`` (default: a standard scaler, as ``("scale", ...)``) -> optional PCA -> optional unit total
    variance -> the SVM."""
    reducer = PCA(n_components=pca, random_state=seed) if pca else "passthrough"
    steps = [first or ("scale", StandardScaler()), ("pca", reducer)]
    return Pipeline([*steps, *([("unit", UnitVariance())] if unit_variance else []), ("svm", svm)])


@register_model("svm-linear", kind="classical", param_grid=LINEAR_GRID, default_features=DEFAULT_FEATURES,
                description="linear-kernel SVM (hinge loss, one-vs-one); grid over C")
def svm_linear(*, seed: int = 0, pca: int | None = None, backend: str = "libsvm") -> Pipeline:
    return _pipeline(_svc(backend, kernel="linear"), pca, seed)


@register_model("svm-poly", kind="classical", param_grid=POLY_GRID, default_features=DEFAULT_FEATURES,
                description="polynomial-kernel SVM (gamma='scale', coef0=1); grid over C and degree")
def svm_poly(*, seed: int = 0, pca: int | None = None, backend: str = "libsvm") -> Pipeline:
    return _pipeline(_svc(backend, kernel="poly", gamma="scale", coef0=1.0), pca, seed)


@register_model("svm-rbf", kind="classical", param_grid=RBF_GRID,
                default_features={"fer2013": "bovw+hog+lbp+landmarks", "ck+": "hog+lbp+landmarks",
                                  "*": DEFAULT_FEATURES},
                dataset_grids={"ck+": RBF_GRID_CK, "fer2013": RBF_GRID_FER},
                defaults_why="chosen on validation figures of the development copies (FER2013: PublicTest; CK+48: "
                             "inner-CV accuracy, mean over the 10 outer folds), all with mirror images. FER2013: "
                             "the bag of visual words beside hog+landmarks lifts PublicTest from 0.602 to 0.622, "
                             "0.634 with mirror images, 0.637 with lbp too. CK+: hog+lbp+landmarks 0.929 against "
                             "0.915 for hog+landmarks; the bag of words, finer HOG cells and landmark distances did not help "
                             "there.",
                description="RBF-kernel SVM; grid over C and gamma (in units of 1 / total feature variance)")
def svm_rbf(*, seed: int = 0, pca: int | None = None, backend: str = "libsvm") -> Pipeline:
    return _pipeline(_svc(backend, kernel="rbf"), pca, seed, unit_variance=True)


@register_model("svm-chi2", kind="classical", param_grid=CHI2_GRID, default_features="bovw", histograms_only=True,
                description="exponential chi-squared kernel SVM for histogram features (bovw, hog, lbp): RBF on "
                            "the additive chi-squared explicit feature map; grid over C and gamma")
def svm_chi2(*, seed: int = 0, pca: int | None = None, backend: str = "libsvm") -> Pipeline:
    """exp(-gamma * chi2(x, y)) through scikit-learn's explicit map of the additive chi-squared kernel: squared
    Euclidean distance between mapped histograms approximates their chi-squared distance, so an RBF SVM on the
    map is the exponential chi-squared kernel of bag-of-words classification, at RBF speed on either backend.
    No scaler: the map needs the raw non-negative histograms."""
    return _pipeline(_svc(backend, kernel="rbf"), pca, seed, first=("chi2", AdditiveChi2Sampler(sample_steps=2)))
