"""Shared base for per-image feature extractors: scikit-learn transformers, stateless or learned per fold."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from benchmark.errors import WorkFailedError


class FeatureError(WorkFailedError):
    """An extractor produced a non-finite value (NaN or infinity) for an image.

    Such a vector would reach the SVM as ``Input X contains NaN`` (or, worse, be cached and break every later
    run), so extraction stops at the first one and names the extractor and the image. Built from one message
    string, so it survives pickling from a joblib worker to the parent process. A failure after work started
    (a :class:`~benchmark.errors.FerBenchError` with exit code 1).
    """


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Maps uint8 images N x H x W to float features N x D, one image at a time.

    By default extraction depends on nothing but the image and the hyperparameters, so ``fit`` learns nothing
    and features are computed once for a whole dataset (and cached) without leaking across folds.

    An extractor that learns from data (a visual vocabulary, say) sets ``learns_from_training = True`` and learns
    in ``fit(images)``. The classical models then fit a fresh clone per fold on that fold's training images only
    (never its validation or test images) and cache its features per fold, keyed by the training images' ids.
    """

    #: Whether ``fit`` learns from images (then it is fitted per fold, on training images only).
    learns_from_training = False
    #: Whether every value is >= 0 (histograms: HOG, LBP, bags of words), as kernels for histograms require.
    non_negative = False
    #: Version of the extractor's output for given hyperparameters. It is part of the feature cache key and
    #: sidecar: a subclass bumps it whenever a code change alters its features, so old cache files are not reused.
    version = 1

    def fit(self, X, y=None):
        return self

    def transform(self, X, *, image_ids=None) -> np.ndarray:
        """Features of each image of ``X`` (N x H x W, or a single H x W image) as float32 N x D.

        Every vector is checked to be finite; the first that is not raises :class:`FeatureError` naming the image
        by ``image_ids[i]`` (e.g. sample ids, one per image) or, by default, by its position in ``X``.
        """
        X = np.asarray(X)
        if X.ndim == 2:  # a single image
            X = X[None]
        if X.ndim != 3:
            raise ValueError(f"{type(self).__name__} expects images N x H x W, got shape {X.shape}")
        if image_ids is not None and len(image_ids) != len(X):
            raise ValueError(f"{len(image_ids)} image ids for {len(X)} images")
        rows = []
        for i, image in enumerate(X):
            row = np.asarray(self._transform_one(image), dtype=np.float32)
            if not np.isfinite(row).all():
                what = "NaN" if np.isnan(row).any() else "an infinite value"
                name = f"image {i}" if image_ids is None else f"image {image_ids[i]}"
                raise FeatureError(f"{type(self).__name__} produced {what} for {name}; its features cannot be used")
            rows.append(row)
        return np.stack(rows)

    def _transform_one(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
