"""dlib's 68 facial landmarks on pre-cropped faces, normalised for position and scale."""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchmark.errors import FerBenchError

from ._base import ImageTransformer

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
HOW_TO_GET_THE_PREDICTOR = ("install it with `pip install face_recognition_models`, or set FER_BENCH_DLIB_PREDICTOR "
                            f"to a {PREDICTOR_FILE} file")


class PredictorNotFoundError(FerBenchError):
    """dlib's 68-point landmark model file is missing: a setup problem the user fixes, explained in one line."""


def default_predictor_path() -> Path:
    """The 68-point model shipped by the ``face_recognition_models`` package (or ``$FER_BENCH_DLIB_PREDICTOR``).

    Raises :class:`PredictorNotFoundError` when neither is there; an existing path is checked on first use.
    """
    override = os.environ.get("FER_BENCH_DLIB_PREDICTOR")
    if override:
        return Path(override)
    try:
        return Path(str(importlib.resources.files("face_recognition_models") / "models" / PREDICTOR_FILE))
    except ModuleNotFoundError:
        # The package's __init__ imports pkg_resources, gone from recent setuptools: find the data
        # file without executing it.
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise PredictorNotFoundError(f"dlib 68-point landmark model not found: the face_recognition_models "
                                         f"package is not installed; {HOW_TO_GET_THE_PREDICTOR}") from None
        return Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE


@lru_cache(maxsize=2)
def load_predictor(path: str):
    """dlib's 68-point shape predictor from ``path`` (cached: read once per path and process)."""
    try:
        import dlib  # lazy: dlib loads a large native library, and only landmark features and predict need it
    except ImportError:  # a machine set up for CNNs only (a GPU node with JAX or PyTorch, say)
        raise PredictorNotFoundError("landmark features need dlib, which is not installed here (pip install "
                                     "dlib-bin); --features hog, lbp or hog+lbp need none") from None
    if not Path(path).is_file():
        raise PredictorNotFoundError(f"dlib 68-point landmark model not found at {path}; {HOW_TO_GET_THE_PREDICTOR}")
    return dlib.shape_predictor(path)


class LandmarkFeatures(ImageTransformer):
    """68 (x, y) landmark coordinates per face, centred on their mean and divided by their RMS radius.

    The images are already face crops, so the face box is the whole image shrunk by ``box_inset`` pixels
    (no detector, which misses most 48 x 48 faces). ``pairwise_distances`` appends the 2,278 distances
    between all landmark pairs to the 136 coordinates.
    """

    version = 1  # bump when a code change alters the landmarks for the same parameters (see ImageTransformer)

    def __init__(self, pairwise_distances: bool = False, box_inset: int = 1, predictor_path: str | None = None):
        self.pairwise_distances = pairwise_distances
        self.box_inset = box_inset
        self.predictor_path = predictor_path

    def landmarks(self, image: np.ndarray) -> np.ndarray:
        """The raw 68 x 2 landmark coordinates (x, y) in pixels."""
        predictor = load_predictor(str(self.predictor_path or default_predictor_path()))
        import dlib  # lazy: load_predictor just imported it (or said in one line that it is missing)

        h, w = image.shape
        i = self.box_inset
        shape = predictor(np.ascontiguousarray(image, dtype=np.uint8), dlib.rectangle(i, i, w - 1 - i, h - 1 - i))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)

    def _transform_one(self, image: np.ndarray) -> np.ndarray:
        pts = self.landmarks(image)
        pts -= pts.mean(axis=0)
        pts /= np.sqrt((pts ** 2).sum(axis=1).mean()) + 1e-12
        if not self.pairwise_distances:
            return pts.ravel()
        i, j = np.triu_indices(len(pts), k=1)
        return np.concatenate([pts.ravel(), np.linalg.norm(pts[i] - pts[j], axis=1)])
