"""Histogram of oriented gradients (scikit-image) as a scikit-learn transformer, whole-face or sliding-window."""

from __future__ import annotations

import numpy as np
from skimage.feature import hog

from ._base import ImageTransformer


class HOGFeatures(ImageTransformer):
    """HOG descriptor of each grayscale image: gradient orientation histograms over cells, block-normalised.

    Parameters mirror :func:`skimage.feature.hog`; the defaults give 900 values for a 48 x 48 face. With
    ``window`` > 0 the descriptor is computed in square windows of that many pixels, moved by ``window_step``
    pixels, and concatenated: the sliding-window HOG of the widely used FER2013 SVM reference (24-pixel windows,
    step 6, 8 orientations, 8x8-pixel cells, 1x1-cell blocks: 25 windows x 72 = 1,800 values on 48 x 48).
    """

    non_negative = True

    def __init__(self, orientations: int = 9, pixels_per_cell: int = 8, cells_per_block: int = 2,
                 block_norm: str = "L2-Hys", window: int = 0, window_step: int = 6):
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.window = window
        self.window_step = window_step

    def _hog(self, image: np.ndarray) -> np.ndarray:
        return hog(image, orientations=self.orientations,
                   pixels_per_cell=(self.pixels_per_cell, self.pixels_per_cell),
                   cells_per_block=(self.cells_per_block, self.cells_per_block),
                   block_norm=self.block_norm, feature_vector=True)

    def _transform_one(self, image: np.ndarray) -> np.ndarray:
        if not self.window:
            return self._hog(image)
        h, w = image.shape
        return np.concatenate([self._hog(image[r:r + self.window, c:c + self.window])
                               for r in range(0, h - self.window + 1, self.window_step)
                               for c in range(0, w - self.window + 1, self.window_step)])
