"""A third model kind that lives in the tests: nearest class mean on pixels, fitted in milliseconds.

Registering it takes one kind and one model, nothing outside its own file (the point of ``tests/test_kinds.py``).
Tests of the machinery around a fit (suites, resuming, claims, the record, the report) use it where the model does
not matter, so that they run in milliseconds instead of fitting an SVM or training a CNN.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

import models._registry as model_registry
from benchmark.experiment import RunConfig, run_experiment
from benchmark.kinds import KINDS, FitResult, ModelKind, prediction_rows
from benchmark.saved_models import MODEL_CHECK, MODEL_FILES, FoldModel, file_sha256
from models import ModelSpec

#: The test kind's one model.
MODEL = "nearest-centroid"


@dataclass
class CentroidModel(FoldModel):
    """Scores are minus the distance to each class's mean training image (NaN for a class the fold lacks)."""

    fold: str
    class_names: tuple[str, ...]
    centroids: np.ndarray  # classes x pixels
    score_kind: str = "negative distance"

    def scores(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0
        return -np.sqrt(((x[:, None, :] - self.centroids[None]) ** 2).sum(axis=2))


class CentroidKind(ModelKind):
    """Nearest class mean on pixels: nothing to select, a mean per class per fold."""

    name = "centroid"
    title = "nearest class mean (a kind that lives in the tests)"
    selects_by_search = False
    model_stem = "centroids"
    model_suffixes = (".npz",)

    def resolve(self, config, spec) -> dict:
        return {"features": "pixels", **{k: None for k in self.foreign_options()}}

    def selection(self, protocol, config) -> str:
        return "nothing is selected"

    def platform(self, manifest: dict, config: dict) -> dict:
        return {}

    def run(self, spec, config, dataset, protocol, timer, console, run_dir) -> FitResult:
        frames, fold_models, files = [], {}, {}
        x = dataset.images.reshape(len(dataset), -1).astype(np.float64) / 255.0
        for fold in protocol.folds:
            with timer.phase("fit"):
                centroids = np.full((len(dataset.class_names), x.shape[1]), np.nan)
                for c in np.unique(dataset.labels[fold.train]):
                    centroids[c] = x[fold.train][dataset.labels[fold.train] == c].mean(axis=0)
            (name,) = self.model_files(fold.name, len(protocol.folds))
            np.savez(run_dir / name, centroids=centroids)
            files[name] = file_sha256(run_dir / name)
            model = fold_models[fold.name] = CentroidModel(fold.name, tuple(dataset.class_names), centroids)
            for idx, part in protocol.scored_parts(fold):
                scores = model.scores(dataset.images[idx])
                frames.append(prediction_rows(dataset, idx, protocol.column, part, model.predict(dataset.images[idx]),
                                              scores))
        return FitResult(predictions=pd.concat(frames, ignore_index=True),
                         best_params={fold: {} for fold in fold_models},
                         extra={"fit_seconds": round(timer.seconds.get("fit", 0.0), 3)},
                         manifest={MODEL_FILES: files, MODEL_CHECK: {}}, fold_models=fold_models)

    def _load(self, stem: Path, fold: str, class_names: tuple[str, ...], config: dict) -> CentroidModel:
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            return CentroidModel(fold, class_names, arrays["centroids"])


def register_centroid(patch) -> CentroidKind:
    """Register the test kind and its model ``nearest-centroid`` for as long as ``patch`` (a pytest
    ``MonkeyPatch``) holds; returns the kind."""
    kind = CentroidKind()
    patch.setitem(KINDS, kind.name, kind)
    patch.setitem(model_registry._MODELS, MODEL, _spec(kind))
    return kind


def register_for_good() -> None:
    """Register the test kind in this process for good: what a Dask worker started by a test runs
    (:func:`dask_setup`)."""
    kind = CentroidKind()
    KINDS[kind.name] = kind
    model_registry._MODELS[MODEL] = _spec(kind)


def dask_setup(worker=None) -> None:
    """Dask's preload hook: a worker started with ``--preload centroid_kind`` knows the test kind."""
    register_for_good()


def _spec(kind: CentroidKind) -> ModelSpec:
    return ModelSpec(MODEL, kind.name, "nearest class mean on pixels (tests)", factory=lambda **_: None)


def two_kind_runs(reports: Path, folds: int) -> list:
    """Runs of two kinds on the synthetic faces, in ``reports``: the test kind's nearest class mean (milliseconds;
    register it first, :func:`register_centroid`) and an SVM on LBP, ``folds`` subject folds each; returns them
    read back and verified."""
    from benchmark.record import collect_runs
    from benchmark.verification import verify_runs

    quiet = Console(file=open(os.devnull, "w"))
    for model, features in (("nearest-centroid", None), ("svm-linear", "lbp")):
        run_experiment(RunConfig(dataset="synthetic", model=model, features=features, folds=folds, inner_folds=2,
                                 n_jobs=1, reports_dir=str(reports), cache_dir=str(reports / "cache")), console=quiet)
    runs, _ = verify_runs(collect_runs(reports / "runs")[0])
    return runs

