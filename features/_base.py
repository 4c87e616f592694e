"""Shared base for per-image feature extractors: stateless scikit-learn transformers."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class ImageTransformer(TransformerMixin, BaseEstimator):
    """Maps uint8 images N x H x W to float features N x D, one image at a time.

    Extraction depends on nothing but the image and the hyperparameters, so ``fit`` learns nothing and
    features can be computed once for a whole dataset without leaking across folds.
    """

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 2:  # a single image
            X = X[None]
        if X.ndim != 3:
            raise ValueError(f"{type(self).__name__} expects images N x H x W, got shape {X.shape}")
        return np.stack([self._transform_one(img) for img in X]).astype(np.float32)

    def _transform_one(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
