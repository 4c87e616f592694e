"""Models by name (``fer-bench models``): SVMs on features now, CNNs on pixels next."""

from . import _svm  # noqa: F401  (registers the SVMs)
from ._registry import ModelSpec, get_model, list_models, register_model

__all__ = ["ModelSpec", "get_model", "list_models", "register_model"]
