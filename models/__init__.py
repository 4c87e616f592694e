"""Models by name (``fer-bench models``): SVMs on hand-crafted features and CNNs on pixels."""

from . import _cnn, _svm  # noqa: F401  (register the CNNs and SVMs)
from ._registry import ModelSpec, get_model, list_models, register_model

__all__ = ["ModelSpec", "get_model", "list_models", "register_model"]
