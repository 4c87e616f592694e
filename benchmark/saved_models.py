"""The fitted models of a run: saved beside its results, hashed in its manifest, verified before any reuse.

Every run saves one model per fold: a CNN as ``model.keras`` (``model_<fold>.keras`` on k-fold protocols), an SVM
as ``svm.npz`` + ``svm.json`` (``svm_<fold>.*``): its feature extractors (a learned vocabulary included) and its
pipeline as arrays, rebuilt into stock scikit-learn objects (:mod:`models._files`; never a pickle). The manifest
records each file's SHA-256 (``model_files``), and how the saved model was proven to reproduce the run's own
predictions when it was written (``model_check``). ``fer-bench predict`` and ``fer-bench export`` load models
only through :func:`load_fold_models` / :func:`verified_model_path`, which refuse a file whose hash differs.

In memory, a fold's model is a :class:`FoldModel`: uint8 48 x 48 faces in, one score per class out
(probabilities for CNNs, one-vs-rest decision values for SVMs), the same object whether it was just trained or
loaded from a run folder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FerBenchError, WorkFailedError, exception_text

#: manifest.json key: {file name: SHA-256} of every saved model file.
MODEL_FILES = "model_files"
#: manifest.json key: per fold, how the saved model was checked against the model that made the predictions.
MODEL_CHECK = "model_check"
SVM_FORMAT, SVM_FORMAT_VERSION = "fer-bench-svm", 1
#: Largest difference in a CNN probability (or a feature value) a reloaded model file may show against the model
#: in memory; labels must be identical.
SAVE_TOLERANCE = 1e-6
#: The same for SVM pairwise decision values, relative to their largest magnitude. oneDAL and libsvm compute the
#: kernel expansion differently: measured 1e-6 relative on synthetic and CK+ folds, 2e-4 on FER2013 (400 PCA
#: components, ~50,000 training images). A conversion mistake (a wrong gamma, support vector or sign) is off by
#: the order of the values themselves; the run's predictions come from the saved model either way.
SVM_SAVE_TOLERANCE = 1e-2
#: Test images a CNN's reloaded file is checked on when it is saved (every image for SVM pipelines).
KERAS_CHECK_IMAGES = 64


class FoldModel:
    """One fold's fitted model: ``scores(images)`` is N x classes (NaN for a class the fold never trained on);
    ``score_kind`` says what the scores are; ``predict(images)`` the class indices the run would record."""

    fold: str
    class_names: tuple[str, ...]
    score_kind: str

    def scores(self, images: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, images: np.ndarray) -> np.ndarray:
        return _argmax(self.scores(images))


@dataclass
class SVMFoldModel(FoldModel):
    """Feature extractors (fitted where they learn) + an SVM pipeline on their stacked features."""

    fold: str
    class_names: tuple[str, ...]
    extractors: list  # [(name, extractor)]
    pipeline: object
    score_kind: str = "decision"

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.hstack([extractor.transform(images) for _, extractor in self.extractors])

    def scores_of_features(self, X: np.ndarray) -> np.ndarray:
        out = np.full((len(X), len(self.class_names)), np.nan)
        raw = np.asarray(self.pipeline.decision_function(X), dtype=np.float64)
        classes = np.asarray(self.pipeline.classes_)
        if raw.ndim == 1:  # two classes: one decision value, positive for the second
            raw = np.stack([-raw, raw], axis=1)
        out[:, classes] = raw
        return out

    def scores(self, images: np.ndarray) -> np.ndarray:
        return self.scores_of_features(self.features(images))

    def predict(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.pipeline.predict(self.features(images)))


@dataclass
class KerasFoldModel(FoldModel):
    """A Keras CNN on [0, 1]-scaled pixels, returning softmax probabilities."""

    fold: str
    class_names: tuple[str, ...]
    model: object
    score_kind: str = "probability"

    def scores(self, images: np.ndarray) -> np.ndarray:
        import logging

        from .training import predict_proba

        # each fold's model traces its own predict function: TensorFlow's "triggered tf.function retracing"
        # warning about that says nothing the user can act on
        tf_logger = logging.getLogger("tensorflow")
        level = tf_logger.level
        tf_logger.setLevel(logging.ERROR)
        try:
            return predict_proba(self.model, np.asarray(images, dtype=np.uint8))
        finally:
            tf_logger.setLevel(level)


def ensemble_scores(models: list[FoldModel], images: np.ndarray) -> np.ndarray:
    """Mean score over folds (probabilities or decision values); a class no fold trained on stays NaN."""
    stacked = np.stack([m.scores(images) for m in models])
    with np.errstate(invalid="ignore"):
        seen = ~np.isnan(stacked)
        total = np.where(seen, stacked, 0.0).sum(axis=0)
        count = seen.sum(axis=0)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def model_stem(kind: str, fold: str, n_folds: int) -> str:
    """``model`` / ``svm`` for a single-fold run, ``model_<fold>`` / ``svm_<fold>`` per fold otherwise."""
    base = "model" if kind == "deep" else "svm"
    return base if n_folds == 1 else f"{base}_{fold}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ saving

def save_svm(path_stem: Path, model: SVMFoldModel) -> dict[str, str]:
    """Write ``<stem>.npz`` + ``<stem>.json``; returns {file name: SHA-256} for the manifest."""
    from models._files import pipeline_to_arrays, to_arrays

    steps, arrays = pipeline_to_arrays(model.pipeline)
    features = []
    for name, extractor in model.extractors:
        description, extractor_arrays = to_arrays(extractor, f"features.{name}")
        features.append({"name": name, **description})
        arrays.update(extractor_arrays)
    npz = path_stem.with_suffix(".npz")
    with open(npz, "wb") as handle:
        np.savez(handle, **arrays)
    description = {"format": SVM_FORMAT, "version": SVM_FORMAT_VERSION, "fold": model.fold,
                   "class_names": list(model.class_names), "features": features, "pipeline": steps,
                   "arrays": {"file": npz.name, "sha256": file_sha256(npz)}}
    meta = path_stem.with_suffix(".json")
    meta.write_text(json.dumps(description, indent=1) + "\n")
    return {npz.name: file_sha256(npz), meta.name: file_sha256(meta)}


def check_saved_svm(path_stem: Path, fitted: SVMFoldModel, X: np.ndarray, images: np.ndarray
                    ) -> tuple[SVMFoldModel, dict]:
    """Rebuild the model just saved and check it against the fitted one: pairwise decision values on ``X`` (the
    fold's test features) within :data:`SVM_SAVE_TOLERANCE` of their largest magnitude, and the rebuilt
    extractors reproducing the features of ``images`` (a few test images) within :data:`SAVE_TOLERANCE`. The run then predicts with the rebuilt model,
    so its file reproduces predictions.csv exactly. Raises :class:`WorkFailedError` on a mismatch; returns the
    rebuilt model and the figures for the manifest (including how many labels the solver itself would have
    given differently: a oneDAL fit predicts with its own kernel code, equal up to rounding)."""
    rebuilt = _load_svm(path_stem, fitted.fold)
    labels = rebuilt.pipeline.predict(X)
    solver_differs = int((labels != fitted.pipeline.predict(X)).sum())
    # the pairwise (one-vs-one) decision values, which the two implementations compute up to rounding; the
    # one-vs-rest scores count votes, which a pair decided by a rounding error flips by a whole unit
    a, b = (_pairwise_decisions(m.pipeline, X) for m in (rebuilt, fitted))
    diff = _max_abs_diff(a, b)
    scale = max(1.0, float(np.nanmax(np.abs(b)))) if b.size and not np.isnan(b).all() else 1.0
    feature_diff = _max_abs_diff(rebuilt.features(images), fitted.features(images)) if len(images) else 0.0
    if diff > SVM_SAVE_TOLERANCE * scale or feature_diff > SAVE_TOLERANCE:
        raise WorkFailedError(f"{path_stem.name}: the saved SVM does not reproduce the fitted one (max decision "
                              f"difference {diff:.3g}, max feature difference {feature_diff:.3g}); the run is not "
                              f"written")
    return rebuilt, {"images": int(len(X)), "max_abs_score_diff": diff, "labels_differing_from_solver": solver_differs,
                     "feature_images": int(len(images)), "max_abs_feature_diff": feature_diff,
                     "predictions_by": "the saved model (stock scikit-learn SVC)"}


def _pairwise_decisions(pipeline, X: np.ndarray) -> np.ndarray:
    """An SVM pipeline's one-vs-one decision values (its SVC set to ``decision_function_shape="ovo"`` for the
    call, then set back)."""
    svm = pipeline.steps[-1][1]
    shape = svm.decision_function_shape
    svm.decision_function_shape = "ovo"
    try:
        return np.asarray(pipeline.decision_function(X), dtype=np.float64).reshape(len(X), -1)
    finally:
        svm.decision_function_shape = shape


def check_saved_keras(path: Path, fitted: KerasFoldModel, images: np.ndarray) -> dict:
    """Reload a just-saved ``.keras`` file (safe mode) and compare its probabilities on ``images``."""
    rebuilt = KerasFoldModel(fitted.fold, fitted.class_names, _load_keras(path))
    a, b = rebuilt.scores(images), fitted.scores(images)
    diff = _max_abs_diff(a, b)
    same = bool(np.array_equal(_argmax(a), _argmax(b)))
    if not same or diff > SAVE_TOLERANCE:
        raise WorkFailedError(f"{path.name}: the saved CNN does not reproduce the trained one (max probability "
                              f"difference {diff:.3g}); the run is not written")
    return {"images": int(len(images)), "labels_identical": True, "max_abs_score_diff": diff}


# ------------------------------------------------------------------------------------------------ loading

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


def load_fold_models(run, fold: str | None = None) -> list[FoldModel]:
    """Every fold's model of a complete run (or only ``fold``), each file verified against the manifest.

    ``run`` is a run folder, or a :class:`~benchmark.record.Run` the caller already loaded and checked with
    :func:`~benchmark.record.load_run` (so it is not read and checked again)."""
    from .record import Run, load_run

    run = run if isinstance(run, Run) else load_run(Path(run))
    stems = _fold_stems(run)
    if fold is not None:
        if fold not in stems and f"fold-{fold}" in stems:  # "3" for "fold-3", as export takes it
            fold = f"fold-{fold}"
        if fold not in stems:
            raise FerBenchError(f"--fold {fold}: {run.path.name} has folds {', '.join(stems)}")
        stems = {fold: stems[fold]}
    class_names = tuple(run.model_class_names())  # a cross-dataset run's models score its source's classes
    models = []
    for name, stem in stems.items():
        if run.kind == "deep":
            path = verified_model_path(run.path, f"{stem}.keras")
            models.append(KerasFoldModel(name, class_names, _load_keras(path)))
        else:
            verified_model_path(run.path, f"{stem}.npz")
            verified_model_path(run.path, f"{stem}.json")
            models.append(_load_svm(run.path / stem, name))
    return models


def _fold_stems(run) -> dict[str, str]:
    """{fold name: model file stem} for a run, from its recorded folds (a cross-dataset run's source folds)."""
    folds = run.model_folds()
    return {fold: model_stem(run.kind, fold, len(folds)) for fold in folds}


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


def _load_svm(path_stem: Path, fold: str) -> SVMFoldModel:
    from features import FEATURES
    from models._files import ModelFileError, from_arrays, pipeline_from_arrays

    meta = path_stem.with_suffix(".json")
    try:
        description = json.loads(meta.read_text())
        if description.get("format") != SVM_FORMAT or description.get("version") != SVM_FORMAT_VERSION:
            raise ModelFileError(f"format {description.get('format')} {description.get('version')}, expected "
                                 f"{SVM_FORMAT} {SVM_FORMAT_VERSION}")
        npz = path_stem.with_suffix(".npz")
        if file_sha256(npz) != description["arrays"]["sha256"]:
            raise ModelFileError(f"{npz.name} does not match the SHA-256 its description recorded")
        extractor_classes = {type(make()).__name__: type(make()) for make, _ in FEATURES.values()}
        with np.load(npz, allow_pickle=False) as arrays:
            extractors = [(f["name"], from_arrays(f, arrays, extractor_classes)) for f in description["features"]]
            pipeline = pipeline_from_arrays(description["pipeline"], arrays)
        return SVMFoldModel(fold, tuple(description["class_names"]), extractors, pipeline)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FerBenchError(f"{meta}: cannot rebuild the SVM ({exception_text(exc, 160)})") from None


def _load_keras(path: Path):
    from . import tf_setup

    tf_setup.quiet_tensorflow()
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # a damaged or foreign .keras archive
        raise FerBenchError(f"{path}: cannot load the CNN ({exception_text(exc, 160)})") from None


def _argmax(scores: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(scores), -np.inf, scores).argmax(axis=1)


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    both = ~(np.isnan(a) & np.isnan(b))
    return float(np.abs(np.where(both, a, 0) - np.where(both, b, 0)).max()) if a.size else 0.0
