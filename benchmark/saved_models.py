"""The fitted models of a run, whatever their kind: the in-memory interface, file hashes, verification on reuse.

Every run saves one model per fold beside its results, in files its model kind names and writes
(``benchmark.kinds``: a CNN as ``model[_<fold>].keras``, an SVM as ``svm[_<fold>].npz`` + ``.json``). The manifest
records each file's SHA-256 (``model_files``), and how the saved model was proven to reproduce the run's own
predictions when it was written (``model_check``). ``fer-bench predict`` and ``fer-bench export`` load models only
through ``benchmark.kinds.load_fold_models``, which checks every file with :func:`verified_model_path` first.

In memory, a fold's model is a :class:`FoldModel`: uint8 48 x 48 faces in, one score per class out
(probabilities for CNNs, one-vs-rest decision values for SVMs), the same object whether it was just trained or
loaded from a run folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .errors import FerBenchError, exception_text

#: manifest.json key: {file name: SHA-256} of every saved model file.
MODEL_FILES = "model_files"
#: manifest.json key: per fold, how the saved model was checked against the model that made the predictions.
MODEL_CHECK = "model_check"
#: Largest difference in a CNN probability (or a feature value) a reloaded model file may show against the model
#: in memory; labels must be identical.
SAVE_TOLERANCE = 1e-6


class FoldModel:
    """One fold's fitted model: ``scores(images)`` is N x classes (NaN for a class the fold never trained on);
    ``score_kind`` says what the scores are; ``predict(images)`` the class indices the run would record."""

    fold: str
    class_names: tuple[str, ...]
    score_kind: str

    def scores(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, images: np.ndarray) -> np.ndarray:
        return argmax(self.scores(images))

    def dataset_scores(self, dataset, idx: np.ndarray, *, config, shared: dict) -> np.ndarray:
        """Scores of ``dataset.images[idx]`` when a whole dataset is scored by several fold models (cross-dataset
        evaluation); ``shared`` is one dict for all folds, where a kind may keep what its folds can share (an SVM's
        stateless features). By default, :meth:`scores`."""
        return self.scores(dataset.images[idx])


def mean_scores(per_fold: list[np.ndarray]) -> np.ndarray:
    """Mean score over folds (probabilities or decision values); a class no fold trained on stays NaN."""
    stacked = np.stack(per_fold)
    with np.errstate(invalid="ignore"):
        seen = ~np.isnan(stacked)
        total = np.where(seen, stacked, 0.0).sum(axis=0)
        count = seen.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def ensemble_scores(models: list[FoldModel], images: np.ndarray) -> np.ndarray:
    """Mean score of ``models`` over folds on ``images`` (see :func:`mean_scores`)."""
    return mean_scores([m.scores(images) for m in models])


def score_words(models) -> str:
    """What the scores of ``models`` are, in words ("decision values", "probabilities", or "scores" when mixed)."""
    kinds = {getattr(m, "score_kind", "") for m in models}
    kind = kinds.pop() if len(kinds) == 1 else ""
    return {"decision": "decision values", "probability": "probabilities"}.get(kind, "scores")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_model_path(run_dir: Path, name: str) -> Path:
    """``run_dir/name`` once its SHA-256 equals the one the run's manifest recorded; a missing, unrecorded or
    changed file is a :class:`FerBenchError` naming it."""
    run_dir = Path(run_dir)
    recorded = _recorded_hashes(run_dir)
    path = run_dir / name
    if name not in recorded:
        raise FerBenchError(f"{path}: not a model file this run recorded (it recorded {', '.join(recorded)})")
    if not path.is_file():
        raise FerBenchError(f"{path}: the run's model file is missing")
    actual = file_sha256(path)
    if actual != recorded[name]:
        raise FerBenchError(f"{path}: SHA-256 {actual[:12]}... differs from the {recorded[name][:12]}... the run "
                            f"recorded; the file was changed or damaged, refusing to load it")
    return path


def _recorded_hashes(run_dir: Path) -> dict[str, str]:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise FerBenchError(f"{run_dir}: not a readable run folder ({exception_text(exc)})") from None
    recorded = manifest.get(MODEL_FILES) if isinstance(manifest, dict) else None
    if not isinstance(recorded, dict) or not recorded:
        raise FerBenchError(f"{run_dir}: this run was recorded before fer-bench saved and hashed its models; "
                            f"re-run it to use its models")
    return recorded


def argmax(scores: np.ndarray) -> np.ndarray:
    """The index of each row's highest score; a NaN score (a class a fold never trained on) never wins."""
    return np.where(np.isnan(scores), -np.inf, scores).argmax(axis=1)


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference of two score arrays, NaN where both are NaN counting as equal."""
    both = ~(np.isnan(a) & np.isnan(b))
    return float(np.abs(np.where(both, a, 0) - np.where(both, b, 0)).max()) if a.size else 0.0
