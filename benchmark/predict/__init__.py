"""``fer-bench predict``: a run's saved models on faces in the user's own photos and videos."""

from ._faces import Face, FaceFinder, aligned_crop, whole_image_crop
from ._inputs import VIDEO_SUFFIXES, collect_inputs, read_frames
from ._predict import PredictResult, PredictSettings, predict
from ._templates import TEMPLATES, template_for

__all__ = ["Face", "FaceFinder", "PredictResult", "PredictSettings", "TEMPLATES", "VIDEO_SUFFIXES", "aligned_crop",
           "collect_inputs", "predict", "read_frames", "template_for", "whole_image_crop"]
