"""One experiment, end to end: dataset -> protocol -> features -> model -> evaluation -> run folder.

:func:`run_experiment` is what ``fer-bench run`` calls; it is also the function to call from a notebook.
Classical models (SVMs on cached features) and deep models (CNNs on pixels) share the dataset, the protocol's
folds, the evaluation module and the run folder, so their run folders compare file for file. The folder is
written under a temporary name and appears under its final name only once every file is in it.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from models import get_model

from . import record
from .console import printer
from .cross_dataset import load_target, score_target, source_part
from .datasets import Dataset, load_dataset
from .errors import EXIT_USAGE, FerBenchError, WorkFailedError
from .kinds import kind_of
from .metrics import TEST_SPLIT
from .options import RunConfig, data_options
from .protocols import CrossDataset, Protocol, make_protocol
from .resolution import ignored_options, resolve
from .runs import (PhaseTimer, check_runs_dir, clean_stale_incomplete, config_hash, make_run_id, run_folder,
                   system_info)

__all__ = ["RunConfig", "check_data_limits", "dataset_warnings", "run_experiment"]


def run_experiment(config: RunConfig, *, console: Console | None = None, dataset: Dataset | None = None,
                   target: Dataset | None = None) -> tuple[Path, dict]:
    """Run one experiment and write its run folder; returns the folder and its metrics.

    ``dataset`` skips loading when the caller (a suite) already holds it; it must be what the config loads
    (``target`` likewise for ``--test-dataset``: see :mod:`benchmark.cross_dataset`).
    Everything that can be checked is checked before any work starts (options, the reports folder, the data,
    the limits the data puts on the options): such problems raise :class:`FerBenchError` (exit 2). A failure
    after work started raises :class:`WorkFailedError` (exit 1). The folder is written under a temporary,
    leased name and renamed only when complete.
    """
    console = console or Console(stderr=True)
    requested, config = config, resolve(config)
    spec = get_model(config.model)
    kind = kind_of(spec)
    runs_dir = Path(config.reports_dir) / "runs"
    check_runs_dir(runs_dir)
    timer = PhaseTimer()
    started = system_info()

    with timer.phase("load"):
        if dataset is None:
            dataset = load_dataset(config.dataset, config.data_dir, **data_options(config))
        if config.test_dataset is not None and target is None:
            target = load_target(config)
    with timer.phase("split"):
        protocol = make_protocol(dataset, seed=config.seed, folds=config.folds)
        cross = CrossDataset.build(protocol, dataset, target) if config.test_dataset is not None else None
    check_data_limits(config, dataset, protocol)
    say = printer(console)
    say(f"{dataset.name} ({dataset.layout}): {len(dataset)} images, {len(dataset.class_names)} classes; "
        f"protocol {protocol.title}: {protocol.description}; {kind.selection(protocol, config)}")
    if cross is not None:
        say(cross_dataset_line(cross, target))
    for flag in ignored_options(requested, config):
        say(f"note: {flag} does not apply to {config.model} on {dataset.name} ({protocol.title}); ignored")
    for line in dataset_warnings(dataset):
        say(f"warning: {line}")
    for line in dataset_warnings(target) if cross is not None else ():
        say(f"warning: {target.name}: {line}")
    for line in clean_stale_incomplete(runs_dir):
        say(f"note: {line}")

    config_dict = asdict(config)
    run_id = make_run_id(config_dict)
    try:
        with run_folder(runs_dir, run_id) as tmp:
            result = kind.run(spec, config, dataset, protocol, timer, console, tmp)
            for option, used in result.adapted.items():
                asked = getattr(config, option)
                reduced = ", ".join(f"{fold}: {value}" for fold, value in used.items() if value != asked)
                say(f"note: --{option.replace('_', '-')} {asked} was reduced where a training fold has too few "
                    f"subjects ({reduced}); manifest.json records the value used per fold")
            header = {"dataset": dataset.name, "model": config.model, "features": config.features,
                      "protocol": (cross or protocol).name, "seed": config.seed,
                      "best_params": (result.best_params if protocol.per_fold
                                      else next(iter(result.best_params.values()))),
                      "kind": kind.name}
            # the headline: the protocol's test parts, or (--test-dataset) the target scored by the source's models
            reported, scored, class_names = protocol, dataset, dataset.class_names
            predictions, extra, cross_manifest, source = result.predictions, result.extra, {}, None
            if cross is not None:
                with timer.phase("target"):
                    source, source_figures = source_part(predictions, dataset, protocol)
                    predictions, facts = score_target(cross, result.fold_models, target, config)
                reported, scored, class_names = cross, target, cross.mapping.shared_target_names
                header["test_dataset"] = target.name
                extra = {**extra, "source": source_figures, "cross_dataset": facts}
                cross_manifest = {"test_dataset": target.summary(), "class_mapping": cross.mapping.summary(),
                                  "cross_dataset": facts}
            content = record.RunContent(
                config={**config_dict, "config_hash": config_hash(config_dict),
                        "param_grid": spec.grid_for(dataset.name), "model_source": spec.source},
                header=header, extra=extra, predictions=predictions, class_names=class_names,
                part_column=reported.column, splits=reported.assignments(scored),
                test_part=reported.test_part or TEST_SPLIT, search_log=result.search_log,
                history=result.history, history_title=f"{config.model} on {dataset.name}",
                training_roles=result.training_roles, source=source)
            metrics = record.write_run(tmp, content, timed=lambda: timer.phase("evaluate"), manifest=lambda: {
                "schema_version": record.SCHEMA_VERSION, **started, "run_id": run_id, "seed": config.seed,
                "config_hash": config_hash(config_dict), "dataset": dataset.summary(), **cross_manifest,
                "protocol": reported.summary(scored, kind.selection(protocol, config)),
                **result.manifest, "adapted": result.adapted,
                "wall_seconds": timer.summary(),
                "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except FerBenchError as exc:
        if exc.exit_code == EXIT_USAGE:  # found only after work started: a failed run, not a usage error
            raise WorkFailedError(str(exc)) from None
        raise
    return runs_dir / run_id, metrics


def cross_dataset_line(cross: CrossDataset, target: Dataset) -> str:
    """What a cross-dataset run will score, said before the work starts: the target, the emotions both datasets
    know, and what is dropped (and why)."""
    mapping = cross.mapping
    dropped = [f"{int((cross.parts == part).sum())} {part}" for part in cross.DROPPED if (cross.parts == part).any()]
    return (f"cross-dataset: {len(cross.folds[0].test)} of {len(target)} {target.name} ({target.layout}) images scored "
            f"over the {len(mapping.shared)} emotions both know ("
            + ", ".join(f"{mapping.source_names[s]}={mapping.target_names[t]}" for _, s, t in mapping.shared) + ")"
            + (f"; dropped: {', '.join(dropped)}" if dropped else "")
            + (f"; a top class of {' or '.join(mapping.source_only)} (not in {target.name}) is counted as outside"
               if mapping.source_only else ""))


def dataset_warnings(dataset: Dataset) -> list[str]:
    """What is odd about the loaded data (skipped, converted, duplicated, blank images; a split unlike the
    others; an unofficial split), one line each; printed by every run and by ``fer-bench datasets``."""
    return list(dataset.diagnostics["warnings"])


def check_data_limits(config: RunConfig, dataset: Dataset, protocol: Protocol) -> None:
    """Limits the loaded data puts on the options, checked before any work starts (exit 2 when broken): the
    protocol checked its own (folds against subjects) when it was built; the model's kind checks its own
    (``--pca`` against samples and features, the dlib model for landmarks)."""
    spec = get_model(config.model)
    kind_of(spec).check_limits(config, spec, dataset, protocol)
