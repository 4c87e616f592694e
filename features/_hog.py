"""Histogram of oriented gradients (scikit-image) as a scikit-learn transformer."""

from __future__ import annotations

import numpy as np
from skimage.feature import hog

from ._base import ImageTransformer


class HOGFeatures(ImageTransformer):
    """HOG descriptor of each grayscale image: gradient orientation histograms over cells, block-normalised.

    Parameters mirror :func:`skimage.feature.hog`; the defaults give 900 values for a 48 x 48 face.
    """

    def __init__(self, orientations: int = 9, pixels_per_cell: int = 8, cells_per_block: int = 2,
                 block_norm: str = "L2-Hys"):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm

    def _transform_one(self, image: np.ndarray) -> np.ndarray:
        return hog(image, orientations=self.orientations,
                   pixels_per_cell=(self.pixels_per_cell, self.pixels_per_cell),
                   cells_per_block=(self.cells_per_block, self.cells_per_block),
                   block_norm=self.block_norm, feature_vector=True)
