"""Models by name (``fer-bench models``): SVMs on hand-crafted features and CNNs on pixels, and the array form a
fitted SVM pipeline is saved in (never a pickle)."""

from . import _cnn, _svm  # noqa: F401  (register the CNNs and SVMs)
from ._cnn import build_penalised, penalise_kernels, places_own_penalty
from ._files import ModelFileError, from_arrays, pipeline_from_arrays, pipeline_to_arrays, to_arrays
from ._pca import OneThreadPCA
from ._registry import ModelSpec, get_model, list_models, parameter_counts, register_model
from ._svm import (LIBLINEAR, SVM_BACKENDS, Float64, LiblinearSVC, UnitVariance, backend_that_ran, onedal_available,
                   resolve_svm_backend)

__all__ = ["Float64", "LIBLINEAR", "LiblinearSVC", "ModelFileError", "ModelSpec", "OneThreadPCA", "SVM_BACKENDS",
           "UnitVariance", "backend_that_ran", "build_penalised", "from_arrays", "get_model", "list_models",
           "onedal_available", "parameter_counts", "penalise_kernels", "places_own_penalty", "pipeline_from_arrays",
           "pipeline_to_arrays", "register_model", "resolve_svm_backend", "to_arrays"]
