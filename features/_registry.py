"""Feature extractors by name, composed with ``+`` (``hog+landmarks``)."""

from __future__ import annotations

from typing import Callable

from benchmark.errors import FerBenchError, did_you_mean

from ._base import ImageTransformer
from ._bovw import DenseSIFTBoVW
from ._hog import HOGFeatures
from ._landmarks import LandmarkFeatures
from ._lbp import LBPFeatures

#: name -> (factory with the default hyperparameters, one-line description)
FEATURES: dict[str, tuple[Callable[[], ImageTransformer], str]] = {
    "hog": (HOGFeatures, "HOG: 9 orientations, 8x8-pixel cells, 2x2-cell blocks (900 values on 48x48)"),
    "hog-4": (lambda: HOGFeatures(pixels_per_cell=4), "HOG with 4x4-pixel cells, 2x2-cell blocks (4,356 values)"),
    "hog-6": (lambda: HOGFeatures(pixels_per_cell=6), "HOG with 6x6-pixel cells, 2x2-cell blocks (1,764 values)"),
    "hog-sliding": (lambda: HOGFeatures(orientations=8, pixels_per_cell=8, cells_per_block=1, window=24,
                                        window_step=6),
                    "sliding-window HOG of the FER2013 SVM reference: 24-pixel windows, step 6, 8 orientations, "
                    "8x8-pixel cells, 1x1-cell blocks (1,800 values)"),
    "bovw": (DenseSIFTBoVW, "bag of visual words: dense RootSIFT (patches 8, 12, 16 px, step 4), 512 words "
             "learned per fold on training images, spatial pyramid 1x1 + 2x2 + 3x3 (7,168 values)"),
    "lbp": (LBPFeatures, "uniform LBP (8 points, radius 1) histograms over a 6x6 grid (360 values)"),
    "landmarks": (LandmarkFeatures, "dlib 68 landmarks, centred and scale-normalised (136 values)"),
    "landmark-distances": (lambda: LandmarkFeatures(pairwise_distances=True),
                           "dlib 68 landmarks plus all 2,278 pairwise distances (2,414 values)"),
}


class UnknownFeatureError(FerBenchError, ValueError):
    """A feature name that is not in :data:`FEATURES` (a usage error; still a ValueError for older callers)."""


def parse_features(spec: str) -> list[tuple[str, ImageTransformer]]:
    """``"hog+landmarks"`` -> ``[("hog", HOGFeatures()), ("landmarks", LandmarkFeatures())]``."""
    names = [n.strip() for n in spec.split("+")]
    if not spec.strip() or any(not n for n in names):
        raise UnknownFeatureError(f"empty feature name in {spec!r}; choose from {', '.join(FEATURES)}, joined by +")
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise UnknownFeatureError(f"unknown feature {unknown[0]!r} in {spec!r}{did_you_mean(unknown[0], FEATURES)}; "
                                  f"choose from {', '.join(FEATURES)}, joined by +")
    if len(set(names)) != len(names):
        raise UnknownFeatureError(f"feature listed twice in {spec!r}")
    return [(n, FEATURES[n][0]()) for n in names]
