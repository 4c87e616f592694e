"""One experiment, end to end: dataset -> protocol -> features -> model -> evaluation -> run folder.

:func:`run_experiment` is what ``fer-bench run`` calls; it is also the function to call from a notebook.
Classical models (SVMs on cached features) and deep models (CNNs on pixels) share the dataset, the protocol's
folds, the evaluation module and the run folder, so their run folders compare file for file. The folder is
written under a temporary name and appears under its final name only once every file is in it.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from models import get_model

from . import record
from .console import printer
from .datasets import Dataset, load_dataset
from .errors import EXIT_USAGE, FerBenchError, WorkFailedError
from .evaluations import evaluation_for
from .kinds import kind_of
from .metrics import TEST_SPLIT
from .options import RunConfig, data_options
from .protocols import Protocol, make_protocol
from .resolution import ignored_options, resolve
from .runs import (PhaseTimer, check_runs_dir, clean_stale_incomplete, config_hash, make_run_id, run_folder,
                   system_info)

__all__ = ["RunConfig", "check_data_limits", "dataset_warnings", "run_experiment"]


def run_experiment(config: RunConfig, *, console: Console | None = None, dataset: Dataset | None = None,
                   others: tuple[Dataset, ...] | None = None) -> tuple[Path, dict]:
    """Run one experiment and write its run folder; returns the folder and its metrics.

    ``dataset`` skips loading when the caller (a suite) already holds it; it must be what the config loads
    (``others`` likewise for the datasets the evaluation mode loads beside it: ``--test-dataset``'s target).
    Everything that can be checked is checked before any work starts (options, the reports folder, the data,
    the limits the data puts on the options): such problems raise :class:`FerBenchError` (exit 2). A failure
    after work started raises :class:`WorkFailedError` (exit 1). The folder is written under a temporary,
    leased name and renamed only when complete.
    """
    console = console or Console(stderr=True)
    requested, config = config, resolve(config)
    spec = get_model(config.model)
    kind = kind_of(spec)
    evaluation = evaluation_for(config)
    runs_dir = Path(config.reports_dir) / "runs"
    check_runs_dir(runs_dir)
    kind.check_process(config)
    timer = PhaseTimer()
    started = system_info()

    with timer.phase("load"):
        if dataset is None:
            dataset = load_dataset(config.dataset, config.data_dir, **data_options(config))
        if others is None:
            others = tuple(load_dataset(c.dataset, c.data_dir, **data_options(c))
                           for c in evaluation.data_configs(config))
    with timer.phase("split"):
        protocol = make_protocol(dataset, seed=config.seed, folds=config.folds)
        plan = evaluation.plan(protocol, dataset, tuple(others))
    check_data_limits(config, dataset, protocol, plan)
    say = printer(console)
    say(f"{dataset.name} ({dataset.layout}): {len(dataset)} images, {len(dataset.class_names)} classes; "
        f"protocol {protocol.title}: {protocol.description}; {kind.selection(protocol, config)}")
    for line in evaluation.announce(plan):
        say(line)
    for flag in ignored_options(requested, config):
        say(f"note: {flag} does not apply to {config.model} on {dataset.name} ({protocol.title}); ignored")
    for line in dataset_warnings(dataset):
        say(f"warning: {line}")
    for other in plan.others:
        for line in dataset_warnings(other):
            say(f"warning: {other.name}: {line}")
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
            # the headline: the protocol's test parts, or what the evaluation mode scores instead
            with timer.phase(evaluation.phase) if evaluation.phase else nullcontext():
                scored = evaluation.score(plan, result, config, protocol, dataset)
            reported = plan.reported
            with timer.phase("evaluate"):  # the test images with a pixel-identical copy where the models fitted
                predictions = reported.mark_duplicates(scored.predictions, plan.scored)
            header = {"dataset": dataset.name, "model": config.model, "features": config.features,
                      "protocol": reported.name, "seed": config.seed,
                      "best_params": (result.best_params if protocol.per_fold
                                      else next(iter(result.best_params.values()))),
                      "kind": kind.name, **scored.header}
            content = record.RunContent(
                config={**config_dict, "config_hash": config_hash(config_dict),
                        "param_grid": spec.grid_for(dataset.name), "model_source": spec.source},
                header=header, extra={**result.extra, **scored.extra}, predictions=predictions,
                class_names=plan.class_names, part_column=reported.column, splits=reported.assignments(plan.scored),
                test_part=reported.test_part or TEST_SPLIT, search_log=result.search_log,
                history=result.history, history_title=f"{config.model} on {dataset.name}",
                training_roles=result.training_roles, source=scored.source)
            metrics = record.write_run(tmp, content, timed=lambda: timer.phase("evaluate"), manifest=lambda: {
                "schema_version": record.SCHEMA_VERSION, **started, "run_id": run_id, "seed": config.seed,
                "config_hash": config_hash(config_dict), "dataset": dataset.summary(), **scored.manifest,
                "protocol": reported.summary(plan.scored, kind.selection(protocol, config)),
                **result.manifest, "adapted": result.adapted,
                "wall_seconds": timer.summary(),
                "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    except FerBenchError as exc:
        if exc.exit_code == EXIT_USAGE:  # found only after work started: a failed run, not a usage error
            raise WorkFailedError(str(exc)) from None
        raise
    return runs_dir / run_id, metrics


def dataset_warnings(dataset: Dataset) -> list[str]:
    """What is odd about the loaded data (skipped, converted, duplicated, blank images; a split unlike the
    others; an unofficial split), one line each; printed by every run and by ``fer-bench datasets``."""
    return list(dataset.diagnostics["warnings"])


def check_data_limits(config: RunConfig, dataset: Dataset, protocol: Protocol, plan) -> None:
    """Limits the loaded data puts on the options, checked before any work starts (exit 2 when broken): the
    protocol checked its own (folds against subjects) when it was built; the model's kind checks its own
    (``--pca`` against samples and features, the dlib model for landmarks, an --init-from source that saw an image
    the run scores), ``plan`` (the evaluation mode's) saying what the run scores."""
    spec = get_model(config.model)
    kind_of(spec).check_limits(config, spec, dataset, protocol, plan)
