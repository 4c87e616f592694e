"""Bag of visual words over dense SIFT descriptors, with a spatial pyramid (the classical FER2013 record's
representation: Ionescu, Popescu & Grozea 2013)."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import MiniBatchKMeans
from sklearn.utils.validation import check_is_fitted

from ._base import ImageTransformer


#: SIFT's layout: 4 x 4 spatial bins of 8 orientation bins (128 values).
_BINS, _ORIENTATIONS = 4, 8


def _patch_offsets(h: int, w: int, step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners of the ``size`` x ``size`` patches on a grid of ``step`` pixels inside an h x w image."""
    rows, cols = np.meshgrid(np.arange(0, h - size + 1, step), np.arange(0, w - size + 1, step), indexing="ij")
    return rows.ravel(), cols.ravel()


def dense_sift(image: np.ndarray, *, step: int, patch_sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """RootSIFT descriptors on a regular grid of patches at every size, and the (row, col) centre of each patch.

    The dense SIFT of VLFeat's fast mode: gradient magnitudes split between the two nearest of 8 orientations,
    summed over the 4 x 4 square bins of each patch (a flat window instead of SIFT's Gaussian weighting), then
    SIFT's normalisation (L2, clip at 0.2, L2) and RootSIFT's (L1, square root), so Euclidean distance between
    descriptors approximates the Hellinger distance k-means should use. Sums come from integral images, so one
    48 x 48 face takes a fraction of a millisecond.
    """
    img = np.asarray(image, dtype=np.float32)
    h, w = img.shape
    gy, gx = np.gradient(img)
    magnitude = np.hypot(gx, gy)
    position = (np.arctan2(gy, gx) % (2 * np.pi)) / (2 * np.pi / _ORIENTATIONS)
    lower = np.floor(position).astype(int) % _ORIENTATIONS
    upper_weight = position - np.floor(position)
    bins = np.arange(_ORIENTATIONS)[:, None, None]
    planes = magnitude * ((lower == bins) * (1 - upper_weight) + ((lower + 1) % _ORIENTATIONS == bins) * upper_weight)
    integral = np.zeros((_ORIENTATIONS, h + 1, w + 1), dtype=np.float64)
    integral[:, 1:, 1:] = planes.cumsum(axis=1).cumsum(axis=2)
    descriptors, centres = [], []
    for size in patch_sizes:
        if size % _BINS or size > min(h, w):
            raise ValueError(f"dense SIFT patch size {size} must be a multiple of {_BINS} and fit the {h}x{w} image")
        cell = size // _BINS
        top, left = _patch_offsets(h, w, step, size)
        r0 = top[:, None, None] + cell * np.arange(_BINS)[None, :, None]  # patch x bin row x bin col
        c0 = left[:, None, None] + cell * np.arange(_BINS)[None, None, :]
        r0, c0 = np.broadcast_arrays(r0, c0)
        sums = (integral[:, r0 + cell, c0 + cell] - integral[:, r0, c0 + cell]
                - integral[:, r0 + cell, c0] + integral[:, r0, c0])  # orientation x patch x 4 x 4
        descriptors.append(sums.transpose(1, 2, 3, 0).reshape(len(top), -1))
        centres.append(np.stack([top + size / 2, left + size / 2], axis=1))
    desc = np.maximum(np.concatenate(descriptors), 0.0)  # integral-image differences can round below zero
    desc /= np.maximum(np.linalg.norm(desc, axis=1, keepdims=True), 1e-12)
    desc = np.minimum(desc, 0.2)
    desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-12)  # L1 (after the clip) for RootSIFT
    return np.sqrt(desc).astype(np.float32), np.concatenate(centres)


class DenseSIFTBoVW(ImageTransformer):
    """Spatial-pyramid histograms of visual words: dense SIFT at several patch sizes, each descriptor assigned to
    its nearest word of a vocabulary learned by k-means on training images only.

    ``pyramid`` lists the grid sizes of the levels (``(1, 2, 3)``: the whole face, its quadrants, a 3 x 3 grid); each
    cell's histogram is L1-normalised, so the features are non-negative histograms suited to the chi-squared
    and intersection kernels (``svm-chi2``). The vocabulary is fitted per fold (``learns_from_training``), from
    at most ``max_descriptors`` descriptors drawn with ``seed``. ``n_words x sum(g*g for g in pyramid)``
    values per image.
    """

    non_negative = True

    learns_from_training = True

    def __init__(self, n_words: int = 512, step: int = 4, patch_sizes: tuple[int, ...] = (8, 12, 16),
                 pyramid: tuple[int, ...] = (1, 2, 3), max_descriptors: int = 200_000, seed: int = 0):
        self.n_words = n_words
        self.step = step
        self.patch_sizes = patch_sizes
        self.pyramid = pyramid
        self.max_descriptors = max_descriptors
        self.seed = seed

    def _descriptors(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return dense_sift(image, step=self.step, patch_sizes=tuple(self.patch_sizes))

    def fit(self, X, y=None):
        X = np.asarray(X)
        rng = np.random.default_rng(self.seed)
        per_image = len(self._descriptors(X[0])[0])
        n_images = min(len(X), max(1, self.max_descriptors // per_image))
        picked = np.sort(rng.choice(len(X), size=n_images, replace=False))
        sample = np.concatenate([self._descriptors(X[i])[0] for i in picked])
        kmeans = MiniBatchKMeans(n_clusters=min(self.n_words, len(sample)), random_state=self.seed, n_init=1,
                                 batch_size=4096)
        self.vocabulary_ = kmeans.fit(sample).cluster_centers_.astype(np.float32)
        self.image_shape_ = X.shape[1:]
        return self

    def transform(self, X, *, image_ids=None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")  # a vocabulary comes from training images: fit first
        return super().transform(X, image_ids=image_ids)

    def _transform_one(self, image: np.ndarray) -> np.ndarray:
        desc, centres = self._descriptors(image)
        words = self.vocabulary_
        distances = (words * words).sum(axis=1)[None, :] - 2.0 * desc @ words.T
        assigned = distances.argmin(axis=1)
        h, w = image.shape
        hists = []
        for grid in self.pyramid:
            cell = (np.minimum((centres[:, 0] * grid // h), grid - 1) * grid
                    + np.minimum(centres[:, 1] * grid // w, grid - 1)).astype(int)
            counts = np.zeros((grid * grid, self.n_words))
            np.add.at(counts, (cell, assigned), 1.0)
            counts /= np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
            hists.append(counts.ravel())
        return np.concatenate(hists)
