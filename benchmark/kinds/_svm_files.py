"""A classical model's files: feature extractors (a learned vocabulary included) and an SVM pipeline, written as
``<stem>.npz`` (numeric arrays only) + ``<stem>.json`` (each step's allow-listed class, parameters and fitted
state) and rebuilt into stock scikit-learn objects (:mod:`models` ``pipeline_to_arrays``; never a pickle)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features import FEATURES, extract
from models import ModelFileError, from_arrays, pipeline_from_arrays, pipeline_to_arrays, to_arrays

from ..errors import FerBenchError, WorkFailedError, exception_text
from ..saved_models import MODEL_CHECK, SAVE_TOLERANCE, FoldModel, file_sha256, max_abs_diff

SVM_FORMAT, SVM_FORMAT_VERSION = "fer-bench-svm", 1
#: The largest difference in SVM pairwise decision values a rebuilt model may show, relative to their largest
#: magnitude. oneDAL and libsvm compute the
#: kernel expansion differently: measured 1e-6 relative on synthetic and CK+ folds, 2e-4 on FER2013 (400 PCA
#: components, ~50,000 training images). A conversion mistake (a wrong gamma, support vector or sign) is off by
#: the order of the values themselves; the run's predictions come from the saved model either way.
SVM_SAVE_TOLERANCE = 1e-2


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

    def dataset_scores(self, dataset, idx: np.ndarray, *, config, shared: dict) -> np.ndarray:
        """The folds of a run share their stateless features (HOG, LBP, landmarks): computed once for the whole
        dataset through the feature cache (keyed by its fingerprint, as an in-domain run on it would be), not once
        per fold; learned features (a fold's visual words) come from the fold's own extractor."""
        blocks = []
        for name, extractor in self.extractors:
            if extractor.learns_from_training:
                blocks.append(extractor.transform(dataset.images[idx]))
                continue
            key = (name, repr(sorted(extractor.get_params().items())))
            if key not in shared:
                X, _ = extract(dataset.images, name, extractor, fingerprint=dataset.fingerprint,
                               cache_dir=config.cache_dir, n_jobs=config.n_jobs, sample_ids=dataset.sample_ids)
                shared[key] = X[idx]
            blocks.append(shared[key])
        return self.scores_of_features(np.hstack(blocks))


def save_svm(path_stem: Path, model: SVMFoldModel) -> dict[str, str]:
    """Write ``<stem>.npz`` + ``<stem>.json``; returns {file name: SHA-256} for the manifest."""
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
    rebuilt = load_svm(path_stem, fitted.fold)
    labels = rebuilt.pipeline.predict(X)
    solver_differs = int((labels != fitted.pipeline.predict(X)).sum())
    # the pairwise (one-vs-one) decision values, which the two implementations compute up to rounding; the
    # one-vs-rest scores count votes, which a pair decided by a rounding error flips by a whole unit
    a, b = (pairwise_decisions(m.pipeline, X) for m in (rebuilt, fitted))
    diff = max_abs_diff(a, b)
    scale = max(1.0, float(np.nanmax(np.abs(b)))) if b.size and not np.isnan(b).all() else 1.0
    feature_diff = max_abs_diff(rebuilt.features(images), fitted.features(images)) if len(images) else 0.0
    if diff > SVM_SAVE_TOLERANCE * scale or feature_diff > SAVE_TOLERANCE:
        raise WorkFailedError(f"{path_stem.name}: the saved SVM does not reproduce the fitted one (max decision "
                              f"difference {diff:.3g}, max feature difference {feature_diff:.3g}); the run is not "
                              f"written. Rerun with --svm-backend libsvm (scikit-learn's solver, which the saved "
                              f"model uses too), and please report this with the run's command")
    return rebuilt, {"images": int(len(X)), "max_abs_score_diff": diff, "labels_differing_from_solver": solver_differs,
                     **_inference_record(fitted.pipeline),
                     "feature_images": int(len(images)), "max_abs_feature_diff": feature_diff,
                     "predictions_by": f"the saved model (stock scikit-learn {type(rebuilt.pipeline.steps[-1][1]).__name__})"}


def _inference_record(pipeline) -> dict:
    """What a oneDAL fit's check of its own inference found (``models._onedal.OneThreadSVC``): the largest
    difference between its own pairwise decision values and its exported model's, and which code therefore
    predicted (``libsvm`` where they disagreed); nothing for other solvers."""
    svm = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    if getattr(svm, "inference_diff_", None) is None:
        return {}
    return {"onedal_inference": {"max_abs_pairwise_diff": svm.inference_diff_,
                                 "decided_by": "libsvm" if svm.libsvm_inference_ is not None else "onedal"}}


def folds_decided_by_libsvm(manifest: dict) -> list[str]:
    """The folds whose oneDAL fit's own inference disagreed with its solution, so that libsvm's code decided from
    it (what :func:`_inference_record` wrote into manifest.json's model check)."""
    checks = manifest.get(MODEL_CHECK) or {}
    return [fold for fold, check in checks.items()
            if isinstance(check, dict) and (check.get("onedal_inference") or {}).get("decided_by") == "libsvm"]


def pairwise_decisions(pipeline, X: np.ndarray) -> np.ndarray:
    """An SVM pipeline's one-vs-one decision values (its SVC set to ``decision_function_shape="ovo"`` for the
    call, then set back); a one-vs-rest linear SVM's own decision values, which no vote rounds."""
    svm = pipeline.steps[-1][1]
    if not hasattr(svm, "decision_function_shape"):  # LinearSVC: one decision value per class
        return np.asarray(pipeline.decision_function(X), dtype=np.float64).reshape(len(X), -1)
    shape = svm.decision_function_shape
    svm.decision_function_shape = "ovo"
    try:
        return np.asarray(pipeline.decision_function(X), dtype=np.float64).reshape(len(X), -1)
    finally:
        svm.decision_function_shape = shape


def load_svm(path_stem: Path, fold: str) -> SVMFoldModel:
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


