"""Uniform local binary patterns (scikit-image), histogrammed over a grid of cells."""

from __future__ import annotations

import numpy as np
from skimage.feature import local_binary_pattern

from ._base import ImageTransformer


class LBPFeatures(ImageTransformer):
    """Rotation-invariant uniform LBP codes, one normalised histogram per cell of a ``grid`` x ``grid`` layout.

    ``n_points`` neighbours on a circle of ``radius`` give ``n_points + 2`` codes, so the default yields
    6 x 6 x 10 = 360 values.
    """

    non_negative = True

    def __init__(self, n_points: int = 8, radius: float = 1.0, grid: int = 6):
        self.n_points = n_points
        self.radius = radius
        self.grid = grid

    def _transform_one(self, image: np.ndarray) -> np.ndarray:
        codes = local_binary_pattern(image, self.n_points, self.radius, method="uniform")
        n_bins = self.n_points + 2
        h, w = codes.shape
        rows = np.linspace(0, h, self.grid + 1).astype(int)
        cols = np.linspace(0, w, self.grid + 1).astype(int)
        hists = []
        for r0, r1 in zip(rows[:-1], rows[1:]):
            for c0, c1 in zip(cols[:-1], cols[1:]):
                cell = codes[r0:r1, c0:c1]
                hist = np.bincount(cell.astype(int).ravel(), minlength=n_bins)[:n_bins]
                hists.append(hist / max(cell.size, 1))
        return np.concatenate(hists)
