"""Hand-crafted face features as scikit-learn transformers: HOG, LBP and dlib landmarks."""

from ._base import FeatureError, ImageTransformer
from ._cache import CacheStatus, default_cache_dir
from ._extract import extract, extract_all
from ._hog import HOGFeatures
from ._landmarks import LandmarkFeatures, PredictorNotFoundError, default_predictor_path, load_predictor
from ._lbp import LBPFeatures
from ._registry import FEATURES, UnknownFeatureError, parse_features

__all__ = ["FEATURES", "CacheStatus", "FeatureError", "HOGFeatures", "ImageTransformer", "LBPFeatures",
           "LandmarkFeatures", "PredictorNotFoundError", "UnknownFeatureError", "default_cache_dir",
           "default_predictor_path", "extract", "extract_all", "load_predictor", "parse_features"]
