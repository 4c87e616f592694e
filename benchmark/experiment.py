"""One experiment, end to end: dataset -> protocol -> features -> model -> evaluation -> run folder.

:func:`run_experiment` is what ``fer-bench run`` calls; it is also the function to call from a notebook.
Classical models (SVMs on cached features) and deep models (CNNs on pixels) share the dataset, the protocol's
folds, the evaluation module and the run folder, so their run folders compare file for file. The folder is
written under a temporary name and appears under its final name only once every file is in it.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from features import extract_all, parse_features
from models import get_model

from .datasets import Dataset, load_dataset
from .errors import EXIT_USAGE, FerBenchError, WorkFailedError
from .evaluation import write_evaluation, write_history
from .options import RunConfig
from .protocols import Fold, Protocol, carve_validation, inner_cv, inner_folds_used, make_protocol
from .runs import (PhaseTimer, check_runs_dir, clean_stale_incomplete, config_hash, make_run_id, run_folder,
                   system_info, write_json)
from .selection import grouped_grid_search, holdout_halving_search, smallest_halving_fit

#: Above this many training images the SVMs project onto PCA components before the kernel (``--pca auto``).
PCA_AUTO_MIN_TRAIN = 10_000
PCA_AUTO_COMPONENTS = 200
#: The SVM implementation classical runs use (recorded, so runs on other backends are told apart).
SVM_BACKEND = "libsvm"

__all__ = ["RunConfig", "check_data_limits", "dataset_warnings", "run_experiment"]


def _pca_components(option: str, n_train: int) -> int | None:
    if option == "none":
        return None
    if option == "auto":
        return PCA_AUTO_COMPONENTS if n_train > PCA_AUTO_MIN_TRAIN else None
    return int(option)


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def run_experiment(config: RunConfig, *, console: Console | None = None, dataset: Dataset | None = None
                   ) -> tuple[Path, dict]:
    """Run one experiment and write its run folder; returns the folder and its metrics.

    ``dataset`` skips loading when the caller (a suite) already holds it; it must be what the config loads.
    Everything that can be checked is checked before any work starts (options, the reports folder, the data,
    the limits the data puts on the options): such problems raise :class:`FerBenchError` (exit 2). A failure
    after work started raises :class:`WorkFailedError` (exit 1). The folder is written under a temporary,
    leased name and renamed only when complete.
    """
    console = console or Console(stderr=True)
    config = config.resolved()
    spec = get_model(config.model)
    runs_dir = Path(config.reports_dir) / "runs"
    check_runs_dir(runs_dir)
    timer = PhaseTimer()
    started = system_info()

    with timer.phase("load"):
        if dataset is None:
            dataset = load_dataset(config.dataset, config.data_dir, strict=config.strict, seed=config.seed,
                                   ck_frames=config.ck_frames, ck_neutral=config.ck_neutral)
    with timer.phase("split"):
        protocol = make_protocol(dataset, seed=config.seed, folds=config.folds or 10)
    check_data_limits(config, dataset, protocol)
    say = _printer(console)
    say(f"{dataset.name} ({dataset.layout}): {len(dataset)} images, {len(dataset.class_names)} classes; "
        f"protocol {protocol.title or protocol.kind}: {protocol.description}; {_selection(spec, protocol)}")
    for line in dataset_warnings(dataset):
        say(f"warning: {line}")
    for line in clean_stale_incomplete(runs_dir):
        say(f"note: {line}")

    config_dict = asdict(config)
    run_id = make_run_id(config_dict)
    try:
        with run_folder(runs_dir, run_id) as tmp:
            run = (_run_classical if spec.kind == "classical" else _run_deep)(
                spec, config, dataset, protocol, timer, console, tmp)
            adapted = run.pop("adapted", {})
            for option, used in adapted.items():
                asked = getattr(config, option)
                reduced = ", ".join(f"{fold}: {value}" for fold, value in used.items() if value != asked)
                say(f"note: --{option.replace('_', '-')} {asked} was reduced where a training fold has too few "
                    f"subjects ({reduced}); manifest.json records the value used per fold")
            per_fold = protocol.kind == "subject-kfold"
            header = {"dataset": dataset.name, "model": config.model, "features": config.features,
                      "protocol": protocol.kind, "seed": config.seed,
                      "best_params": run["best_params"] if per_fold else next(iter(run["best_params"].values())),
                      "kind": spec.kind}
            with timer.phase("evaluate"):
                metrics = write_evaluation(tmp, run["predictions"], dataset.class_names,
                                           part_column=protocol.column, header=header, extra=run["extra"])
            protocol.assignments(dataset).to_csv(tmp / "splits.csv", index=False)
            write_json(tmp / "config.json", {**config_dict, "config_hash": config_hash(config_dict),
                                             "param_grid": spec.param_grid, "model_source": spec.source})
            write_json(tmp / "manifest.json", {
                **started, "run_id": run_id, "seed": config.seed, "config_hash": config_hash(config_dict),
                "dataset": dataset.summary(), "protocol": {**protocol.summary(dataset),
                                                           "selection": _selection(spec, protocol)},
                **run["manifest"], "adapted": adapted,
                "wall_seconds": timer.summary(),
                "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            })
    except FerBenchError as exc:
        if exc.exit_code == EXIT_USAGE:  # found only after work started: a failed run, not a usage error
            raise WorkFailedError(str(exc)) from None
        raise
    return runs_dir / run_id, metrics


def _printer(console: Console):
    """Print one plain line (no Rich markup: paths and option names with brackets are printed verbatim)."""
    return lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)


def dataset_warnings(dataset: Dataset) -> list[str]:
    """What is odd about the loaded data (skipped, converted, duplicated, blank images; a split unlike the
    others; an unofficial split), one line each; printed by every run and by ``fer-bench datasets``."""
    return list(dataset.diagnostics["warnings"])


def check_data_limits(config: RunConfig, dataset: Dataset, protocol: Protocol) -> None:
    """Limits the loaded data puts on the options, checked before any work starts (exit 2 when broken):
    every k-fold training part has enough subjects for its inner CV, and a numeric ``--pca`` fits both the
    feature width and the smallest training set any SVM is fitted on."""
    spec = get_model(config.model)
    if protocol.kind == "subject-kfold":
        for fold in protocol.folds:
            n_subjects = len(np.unique(dataset.subjects[fold.train]))
            if n_subjects < 2:
                raise FerBenchError(f"{dataset.name}: {fold.name} has {n_subjects} subject in its training part; "
                                    f"the inner CV needs at least 2: use fewer --folds")
    if spec.kind != "classical":
        return
    # one image through every extractor: the feature width, and a missing dlib model found before the work
    n_features = sum(int(ex.transform(dataset.images[:1]).shape[1]) for _, ex in parse_features(config.features))
    if config.pca in ("auto", "none"):
        return
    smallest = min(_smallest_fit(config, dataset, protocol, fold) for fold in protocol.folds)
    limit = min(n_features, smallest)
    if int(config.pca) > limit:
        raise FerBenchError(f"--pca {config.pca}: more components than the data allows (at most {limit}: the "
                            f"features have {n_features} values and the smallest training set an SVM is fitted on "
                            f"has {smallest} images)")


def _smallest_fit(config: RunConfig, dataset: Dataset, protocol: Protocol, fold: Fold) -> int:
    """The fewest images any SVM of this fold is fitted on: the smallest inner-CV training part (k-fold), or the
    first successive-halving subsample (official split)."""
    if fold.val is not None:
        return smallest_halving_fit(dataset.labels[fold.train], get_model(config.model).param_grid,
                                    min_samples=config.halving_min_samples or len(fold.train))
    subjects = dataset.subjects[fold.train]
    cv = inner_cv(subjects, folds=config.inner_folds, seed=config.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        return min(len(tr) for tr, _ in cv.split(np.zeros(len(fold.train)), dataset.labels[fold.train], subjects))


def _selection(spec, protocol: Protocol) -> str:
    """How this model chooses its hyperparameters or checkpoint without test data (printed and recorded)."""
    if protocol.kind == "official-split":
        return ("successive-halving grid search scored on PublicTest" if spec.kind == "classical"
                else "early stopping and checkpoint on PublicTest")
    return ("inner grouped CV selects hyperparameters" if spec.kind == "classical"
            else "a subject-grouped validation split of each training fold drives early stopping and checkpoint")


def _run_classical(spec, config, dataset, protocol, timer, console, run_dir) -> dict:
    """Features (cached) -> per-fold selection without test data -> fit -> predictions."""
    extractors = parse_features(config.features)
    with _progress(console) as progress:
        with timer.phase("features"):
            cache_status: dict = {}
            X, cached = extract_all(dataset.images, extractors, fingerprint=dataset.fingerprint,
                                    cache_dir=Path(config.cache_dir), n_jobs=config.n_jobs, progress=progress,
                                    sample_ids=dataset.sample_ids, status=cache_status,
                                    warn=lambda message: progress.console.print(
                                        f"warning: {message}", markup=False, highlight=False, soft_wrap=True))
        fold_task = progress.add_task("fit + predict (folds)", total=len(protocol.folds))
        results = []
        for fold in protocol.folds:
            results.append(_fit_predict_fold(spec, config, dataset, protocol, fold, X, timer))
            progress.advance(fold_task)
    write_json(run_dir / "search.json", {r["fold"]: r["search_log"] for r in results})
    return {
        "adapted": _adapted_inner_folds(config, {r["fold"]: r["inner_folds"] for r in results}),
        "predictions": pd.concat([r["predictions"] for r in results], ignore_index=True),
        "best_params": {r["fold"]: r["best_params"] for r in results},
        "extra": {"n_features": int(X.shape[1]), "pca_components": results[0]["pca"],
                  "n_support_vectors": {r["fold"]: r["n_support_vectors"] for r in results},
                  "fit_seconds": round(timer.seconds.get("fit", 0.0), 3)},
        "manifest": {"features": {name: {"params": ex.get_params(), "from_cache": cached[name],
                                         "cache": cache_status.get(name)} for name, ex in extractors},
                     "svm_backend": SVM_BACKEND},
    }


def _run_deep(spec, config, dataset, protocol, timer, console, run_dir) -> dict:
    """Per fold: carve validation, train selecting on it only, predict validation and test, save the model."""
    from . import tf_setup
    from .training import Part, TrainSettings, fit_network, predict_proba

    device = tf_setup.configure(config.seed)
    settings = TrainSettings(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                             patience=config.patience, min_delta=spec.training.get("min_delta", 0.0),
                             augment=config.augment, class_weights=config.class_weights)
    console.print(f"training {config.model} on the {device['device']} ({device['precision']}): "
                  f"{settings.epochs} epochs max, batch {settings.batch_size}, lr {settings.lr}, "
                  f"patience {settings.patience}, augment {settings.augment}")
    part = lambda idx: Part(dataset.images[idx], dataset.labels[idx], dataset.sample_ids[idx])  # noqa: E731
    frames, histories, roles, facts = [], [], [], {}
    n_params = None
    with _progress(console) as progress:
        fold_task = progress.add_task("folds", total=len(protocol.folds))
        inner = {}
        for fold in protocol.folds:
            if fold.val is None:
                inner[fold.name] = inner_folds_used(dataset.subjects[fold.train], config.inner_folds)
            fold = carve_validation(dataset, fold, folds=config.inner_folds, seed=config.seed)
            tf_setup.reseed(config.seed)
            model = spec.build(n_classes=len(dataset.class_names), dataset=dataset.name,
                               pretrained=config.pretrained)
            n_params = model.count_params()
            with timer.phase("fit"):
                info = fit_network(model, part(fold.train), part(fold.val), settings, seed=config.seed,
                                   n_classes=len(dataset.class_names), progress=progress,
                                   label=fold.name if protocol.kind == "subject-kfold" else "Training")
            histories.append(info.pop("history").assign(fold=fold.name))
            facts[fold.name] = info
            with timer.phase("predict"):
                for idx, name in protocol.scored_parts(fold):
                    proba = predict_proba(model, dataset.images[idx])
                    frames.append(_frame(dataset, idx, protocol.column, name, proba.argmax(axis=1), proba))
            model.save(run_dir / ("model.keras" if len(protocol.folds) == 1 else f"model_{fold.name}.keras"))
            roles.append(pd.DataFrame({"fold": fold.name, "sample_id": dataset.sample_ids[
                np.concatenate([fold.train, fold.val])], "role": ["train"] * len(fold.train) +
                ["validation"] * len(fold.val)}))
            progress.advance(fold_task)
    history = pd.concat(histories, ignore_index=True)
    history = history[["fold"] + [c for c in history.columns if c != "fold"]]
    write_history(run_dir, history, f"{config.model} on {dataset.name}")
    pd.concat(roles, ignore_index=True).to_csv(run_dir / "training_roles.csv", index=False)
    return {
        "adapted": _adapted_inner_folds(config, inner),
        "predictions": pd.concat(frames, ignore_index=True),
        "best_params": {name: {"best_epoch": f["best_epoch"]} for name, f in facts.items()},
        "extra": {"n_params": n_params, "training": {k: getattr(settings, k) for k in
                                                     ("epochs", "batch_size", "lr", "patience", "augment",
                                                      "class_weights")},
                  "folds_training": facts, "fit_seconds": round(timer.seconds.get("fit", 0.0), 3),
                  "device": device["device"]},
        "manifest": {"training_device": device},
    }


def _adapted_inner_folds(config: RunConfig, used: dict) -> dict:
    """``{"inner_folds": {fold: value that ran}}`` when any fold ran fewer inner folds than requested, else {}.
    The config (and its hash) keeps the requested value, so a resumed suite still finds the run."""
    if any(v is not None and v != config.inner_folds for v in used.values()):
        return {"inner_folds": used}
    return {}


def _frame(dataset: Dataset, idx: np.ndarray, column: str, part: str, y_pred: np.ndarray,
           scores: np.ndarray | None) -> pd.DataFrame:
    """predictions.csv rows for one part: ids, subject, part, true and predicted class names, and one
    ``score_<class>`` column per class (CNN probabilities or SVM decision values) where there are scores."""
    names = np.asarray(dataset.class_names, dtype=object)
    frame = pd.DataFrame({
        "sample_id": dataset.sample_ids[idx],
        "subject": dataset.subjects[idx] if dataset.subjects is not None else "",
        column: part, "y_true": names[dataset.labels[idx]], "y_pred": names[y_pred],
    })
    if scores is not None:
        for j, cls in enumerate(names):
            frame[f"score_{cls}"] = scores[:, j]
    return frame


def _fit_predict_fold(spec, config: RunConfig, dataset: Dataset, protocol: Protocol, fold: Fold, X: np.ndarray,
                      timer: PhaseTimer) -> dict:
    """Select hyperparameters without the test part, fit, and predict the test (and validation) part."""
    y = dataset.labels
    pca = _pca_components(config.pca, len(fold.train))
    estimator = spec.build(seed=config.seed, pca=pca)
    with timer.phase("fit"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(converge|least populated class).*")
        inner_folds = None
        if fold.val is None:
            groups = dataset.subjects[fold.train]
            inner_folds = inner_folds_used(groups, config.inner_folds)
            model, params, log = grouped_grid_search(
                estimator, spec.param_grid, X[fold.train], y[fold.train], groups,
                cv=inner_cv(groups, folds=config.inner_folds, seed=config.seed), n_jobs=config.n_jobs)
        else:
            model, params, log = holdout_halving_search(
                estimator, spec.param_grid, X[fold.train], y[fold.train], X[fold.val], y[fold.val],
                seed=config.seed, n_jobs=config.n_jobs, min_samples=config.halving_min_samples)
    frames = []
    with timer.phase("predict"):
        for idx, part in protocol.scored_parts(fold):
            frames.append(_prediction_frame(model, dataset, idx, X[idx], protocol.column, part))
    svm = model.named_steps["svm"] if hasattr(model, "named_steps") else model
    n_sv = int(svm.n_support_.sum()) if hasattr(svm, "n_support_") else None
    return {"fold": fold.name, "predictions": pd.concat(frames, ignore_index=True), "best_params": params,
            "search_log": log, "n_support_vectors": n_sv, "pca": pca, "inner_folds": inner_folds}


def _prediction_frame(model, dataset: Dataset, idx: np.ndarray, X: np.ndarray, column: str, part: str):
    """Predictions of a fitted SVM pipeline, with its per-class decision values (NaN for a class it never saw)."""
    scores = None
    if hasattr(model, "decision_function"):
        raw = np.asarray(model.decision_function(X))
        if raw.ndim == 2 and raw.shape[1] == len(model.classes_):
            scores = np.full((len(X), len(dataset.class_names)), np.nan)
            scores[:, model.classes_] = raw
    return _frame(dataset, idx, column, part, model.predict(X), scores)
