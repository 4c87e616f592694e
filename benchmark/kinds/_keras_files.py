"""A deep model's file: the Keras CNN as ``<stem>.keras`` (Keras 3's backend-neutral archive), reloaded in safe
mode and checked on test images when it is saved."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import backends
from ..errors import FerBenchError, WorkFailedError, exception_text
from ..saved_models import SAVE_TOLERANCE, FoldModel, argmax, max_abs_diff

#: Test images a CNN's reloaded file is checked on when it is saved.
KERAS_CHECK_IMAGES = 64


@dataclass
class KerasFoldModel(FoldModel):
    """A Keras CNN on [0, 1]-scaled pixels, returning softmax probabilities."""

    fold: str
    class_names: tuple[str, ...]
    model: object
    score_kind: str = "probability"
    tta: str = "none"  # test-time augmentation the run's predictions used (``--tta``)

    def scores(self, images: np.ndarray) -> np.ndarray:
        from ..training import predict_proba  # lazy: benchmark.training imports Keras and its backend (seconds)

        # each fold's model traces its own predict function: TensorFlow's "triggered tf.function retracing"
        # warning about that says nothing the user can act on
        tf_logger = logging.getLogger("tensorflow")
        level = tf_logger.level
        tf_logger.setLevel(logging.ERROR)
        try:
            return predict_proba(self.model, np.asarray(images, dtype=np.uint8), tta=self.tta)
        finally:
            tf_logger.setLevel(level)


def check_saved_keras(path: Path, fitted: KerasFoldModel, images: np.ndarray) -> dict:
    """Reload a just-saved ``.keras`` file (safe mode) and compare its probabilities on ``images``."""
    rebuilt = KerasFoldModel(fitted.fold, fitted.class_names, load_keras(path), tta=fitted.tta)
    a, b = rebuilt.scores(images), fitted.scores(images)
    diff = max_abs_diff(a, b)
    same = bool(np.array_equal(argmax(a), argmax(b)))
    if not same or diff > SAVE_TOLERANCE:
        raise WorkFailedError(f"{path.name}: the saved CNN does not reproduce the trained one (max probability "
                              f"difference {diff:.3g}); the run is not written")
    return {"images": int(len(images)), "labels_identical": True, "max_abs_score_diff": diff}


def load_keras(path: Path):
    backends.prepare()  # before Keras's first import: it keeps the backend it starts with
    import keras  # lazy: Keras imports its backend (TensorFlow, JAX or PyTorch: seconds); only CNN runs need it

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # a damaged or foreign .keras archive
        raise FerBenchError(f"{path}: cannot load the CNN ({exception_text(exc, 160)})") from None
