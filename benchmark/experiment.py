"""One experiment, end to end: dataset -> protocol -> features -> model -> evaluation -> run folder.

:func:`run_experiment` is what ``fer-bench run`` calls; it is also the function to call from a notebook.
All the expensive work happens before the run folder is created, and the folder appears under its final name
only once every file is written.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features import default_cache_dir, extract_all, parse_features
from features import UnknownFeatureError
from models import get_model

from .datasets import DATASETS, Dataset, load_dataset
from .errors import FerBenchError
from .evaluation import write_evaluation
from .protocols import Fold, Protocol, inner_cv, make_protocol
from .runs import PhaseTimer, config_hash, make_run_id, run_folder, system_info, write_json
from .selection import grouped_grid_search, holdout_halving_search

#: Above this many training images the SVMs project onto PCA components before the kernel (``--pca auto``).
PCA_AUTO_MIN_TRAIN = 10_000
PCA_AUTO_COMPONENTS = 200


@dataclass
class RunConfig:
    """Every option of a run; ``resolved()`` fills the defaults that depend on the model and environment."""

    dataset: str
    model: str
    features: str | None = None
    data_dir: str | None = None
    seed: int = 0
    folds: int = 10
    inner_folds: int = 5
    n_jobs: int = -1
    reports_dir: str = "reports"
    cache_dir: str | None = None
    strict: bool = False
    ck_frames: int = 3
    ck_neutral: bool = False
    pca: str = "auto"
    halving_min_samples: int = 3000

    def resolved(self) -> "RunConfig":
        if self.dataset not in DATASETS:
            raise FerBenchError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        spec = get_model(self.model)
        features = self.features or spec.default_features
        if spec.kind == "classical":
            try:
                parse_features(features)
            except UnknownFeatureError as exc:
                raise FerBenchError(f"--features: {exc}") from None
        if self.pca != "auto" and not (self.pca.isdigit() and int(self.pca) > 0) and self.pca != "none":
            raise FerBenchError(f"--pca must be 'auto', 'none' or a positive number of components, got {self.pca!r}")
        return RunConfig(**{**asdict(self), "features": features,
                            "cache_dir": str(Path(self.cache_dir or default_cache_dir()).expanduser())})


def _pca_components(option: str, n_train: int) -> int | None:
    if option == "none":
        return None
    if option == "auto":
        return PCA_AUTO_COMPONENTS if n_train > PCA_AUTO_MIN_TRAIN else None
    return int(option)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def run_experiment(config: RunConfig, *, console: Console | None = None) -> tuple[Path, dict]:
    """Run one experiment and write its run folder; returns the folder and its metrics."""
    console = console or Console(stderr=True)
    config = config.resolved()
    spec = get_model(config.model)
    if spec.kind != "classical":
        raise FerBenchError(f"model {config.model!r} is a {spec.kind} model; only classical models run so far")
    timer = PhaseTimer()
    started = system_info()

    with timer.phase("load"):
        dataset = load_dataset(config.dataset, config.data_dir, strict=config.strict, seed=config.seed,
                               ck_frames=config.ck_frames, ck_neutral=config.ck_neutral)
    with timer.phase("split"):
        protocol = make_protocol(dataset, seed=config.seed, folds=config.folds)
    console.print(f"[bold]{dataset.name}[/] ({dataset.layout}): {len(dataset)} images, "
                  f"{len(dataset.class_names)} classes; protocol {protocol.kind}: {protocol.description}")

    extractors = parse_features(config.features)
    with _progress(console) as progress:
        with timer.phase("features"):
            X, cached = extract_all(dataset.images, extractors, fingerprint=dataset.fingerprint,
                                    cache_dir=Path(config.cache_dir), n_jobs=config.n_jobs, progress=progress)
        fold_task = progress.add_task("fit + predict (folds)", total=len(protocol.folds))
        results = []
        for fold in protocol.folds:
            results.append(_fit_predict_fold(spec, config, dataset, protocol, fold, X, timer))
            progress.advance(fold_task)

    predictions = pd.concat([r["predictions"] for r in results], ignore_index=True)
    per_fold = protocol.kind == "subject-kfold"
    best_params = {r["fold"]: r["best_params"] for r in results} if per_fold else results[0]["best_params"]
    header = {"dataset": dataset.name, "model": config.model, "features": config.features,
              "protocol": protocol.kind, "seed": config.seed, "best_params": best_params}
    extra = {"n_features": int(X.shape[1]), "pca_components": results[0]["pca"],
             "n_support_vectors": {r["fold"]: r["n_support_vectors"] for r in results},
             "fit_seconds": round(timer.seconds.get("fit", 0.0), 3)}

    config_dict = asdict(config)
    run_id = make_run_id(config_dict)
    with run_folder(Path(config.reports_dir) / "runs", run_id) as tmp:
        with timer.phase("evaluate"):
            metrics = write_evaluation(tmp, predictions, dataset.class_names, part_column=protocol.column,
                                       header=header, extra=extra)
        protocol.assignments(dataset).to_csv(tmp / "splits.csv", index=False)
        write_json(tmp / "config.json", {**config_dict, "config_hash": config_hash(config_dict),
                                         "param_grid": spec.param_grid})
        write_json(tmp / "search.json", {r["fold"]: r["search_log"] for r in results})
        write_json(tmp / "manifest.json", {
            **started, "run_id": run_id, "seed": config.seed, "config_hash": config_hash(config_dict),
            "dataset": dataset.summary(), "protocol": protocol.summary(dataset),
            "features": {name: {"params": ex.get_params(), "from_cache": cached[name]} for name, ex in extractors},
            "wall_seconds": timer.summary(),
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
    return Path(config.reports_dir) / "runs" / run_id, metrics


def _fit_predict_fold(spec, config: RunConfig, dataset: Dataset, protocol: Protocol, fold: Fold, X: np.ndarray,
                      timer: PhaseTimer) -> dict:
    """Select hyperparameters without the test part, fit, and predict the test (and validation) part."""
    y = dataset.labels
    pca = _pca_components(config.pca, len(fold.train))
    estimator = spec.build(seed=config.seed, pca=pca)
    with timer.phase("fit"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(converge|least populated class).*")
        if fold.val is None:
            groups = dataset.subjects[fold.train]
            model, params, log = grouped_grid_search(
                estimator, spec.param_grid, X[fold.train], y[fold.train], groups,
                cv=inner_cv(groups, folds=config.inner_folds, seed=config.seed), n_jobs=config.n_jobs)
        else:
            model, params, log = holdout_halving_search(
                estimator, spec.param_grid, X[fold.train], y[fold.train], X[fold.val], y[fold.val],
                seed=config.seed, n_jobs=config.n_jobs, min_samples=config.halving_min_samples)
    parts = [(fold.test, fold.name if protocol.kind == "subject-kfold" else "PrivateTest")]
    if fold.val is not None:
        parts.insert(0, (fold.val, "PublicTest"))
    frames = []
    with timer.phase("predict"):
        for idx, part in parts:
            frames.append(_prediction_frame(model, dataset, idx, X[idx], protocol.column, part))
    svm = model.named_steps["svm"] if hasattr(model, "named_steps") else model
    n_sv = int(svm.n_support_.sum()) if hasattr(svm, "n_support_") else None
    return {"fold": fold.name, "predictions": pd.concat(frames, ignore_index=True), "best_params": params,
            "search_log": log, "n_support_vectors": n_sv, "pca": pca}


def _prediction_frame(model, dataset: Dataset, idx: np.ndarray, X: np.ndarray, column: str, part: str):
    names = np.asarray(dataset.class_names, dtype=object)
    frame = pd.DataFrame({
        "sample_id": dataset.sample_ids[idx],
        "subject": dataset.subjects[idx] if dataset.subjects is not None else "",
        column: part, "y_true": names[dataset.labels[idx]], "y_pred": names[model.predict(X)],
    })
    if hasattr(model, "decision_function"):
        scores = np.asarray(model.decision_function(X))
        if scores.ndim == 2 and scores.shape[1] == len(model.classes_):
            for j, cls in enumerate(names):
                col = np.flatnonzero(model.classes_ == j)
                frame[f"score_{cls}"] = scores[:, col[0]] if col.size else np.nan
    return frame
