"""Models by name (``fer-bench models``): SVMs on hand-crafted features and CNNs on pixels."""

from . import _cnn, _svm  # noqa: F401  (register the CNNs and SVMs)
from ._registry import ModelSpec, get_model, list_models, register_model
from ._svm import SVM_BACKENDS, backend_that_ran, onedal_available, resolve_svm_backend

__all__ = ["ModelSpec", "SVM_BACKENDS", "backend_that_ran", "get_model", "list_models", "onedal_available",
           "register_model", "resolve_svm_backend"]
