"""Matched suites: a declared matrix of experiments (datasets x models x features x seeds), run one by one.

A suite file is plain TOML data::

    [suite]
    name = "demo"

    [defaults]            # options for every experiment (any `fer-bench run` option, snake_case)
    folds = 5
    seeds = [0]

    [[experiment]]        # one block = datasets x models x features x seeds, with its own options
    datasets = ["synthetic"]
    models = ["svm-linear", "svm-rbf"]
    features = ["hog", "hog+landmarks"]
    seeds = [0, 1]
    options = { inner_folds = 3 }

    [[experiment]]        # a source of weights for later blocks: its id names it
    id = "fer-pretrain"
    datasets = ["fer2013"]
    models = ["mini-xception"]

    [[experiment]]        # fine-tunes the weights of the run block "fer-pretrain" made (or found complete)
    datasets = ["ck+"]
    models = ["mini-xception"]
    options = { init_from = "@fer-pretrain" }

    [[experiment]]        # cross-dataset: fitted on the datasets, each scored on test_dataset
    datasets = ["ck+"]
    models = ["svm-rbf"]
    options = { test_dataset = "fer2013" }

    [cluster]             # optional: the batch jobs of `--executor dask --cluster slurm|pbs` (benchmark.cluster)
    queue = "gpu"
    walltime = "04:00:00"

Experiments share the loaded datasets, the folds (which depend only on data + seed + folds) and the feature
cache. An experiment whose complete run folder already exists for the same config and the same data is
skipped, so an interrupted suite resumes where it stopped. ``init_from = "@<id>"`` names an earlier block: each
of its experiments starts from the run of that block's experiment with the same model (and seed, where the
block has several); the suite runs the source first and resolves the reference to its run folder then (the
config hash holds the hash of the source's weights, which exist only once it has run).
"""

from __future__ import annotations

import json
import re
import sys
import traceback

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from models import get_model

from ..console import printer, progress
from ..datasets import default_data_dir, detect_layout, load_dataset
from ..errors import FerBenchError, os_error_text
from ..evaluations import evaluation_for, evaluation_of
from ..experiment import check_data_limits, run_experiment
from ..files import write_text_atomically
from ..kinds import KINDS, kind_of
from ..leases import Lease
from ..options import DATA_KEYS, SUITE_TYPES, RunConfig, data_options
from ..protocols import make_protocol
from ..record import collect_runs
from ..resolution import resolve
from ..runs import check_runs_dir, clean_stale_incomplete, config_hash
from ..verification import verify_runs
from ._cluster_table import ClusterSettings, parse_cluster_table

BLOCK_KEYS = {"id", "datasets", "models", "features", "seeds", "options"}
#: ``init_from = "@<id>"`` in a suite: the run an earlier block (``id = "<id>"``) makes
REFERENCE = "@"
#: Claims of experiments being run, beside runs/ in the reports folder (hidden).
CLAIMS_DIR = ".claims"


@dataclass(frozen=True)
class Suite:
    name: str
    path: str
    configs: tuple[RunConfig, ...]
    cluster: ClusterSettings | None = None  # the [cluster] table: batch jobs for --executor dask
    #: experiments that start from another's weights: their index in ``configs`` -> the source's index. Their
    #: config keeps ``init_from = "@<id>"`` until :func:`resolve_source` gives it the source's run folder.
    sources: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _Declared:
    """One expanded experiment as loaded: its config (resolved; a reference kept as written) and its block."""

    config: RunConfig
    block_id: str | None
    where: str


def load_suite(path: Path, *, reports_dir: str = "reports", data_dirs: dict[str, str] | None = None) -> Suite:
    """Parse and expand a suite file; every experiment is validated before anything runs."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise FerBenchError(f"{path}: suite file not found") from None
    except IsADirectoryError:
        raise FerBenchError(f"{path}: is a folder, expected a suite TOML file") from None
    except OSError as exc:
        raise FerBenchError(f"{path}: cannot read the suite file ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise FerBenchError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise FerBenchError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(doc) - {"suite", "defaults", "experiment", "cluster"}
    if unknown:
        raise FerBenchError(f"{path}: unknown table [{sorted(unknown)[0]}]; expected [suite], [defaults], "
                            f"[[experiment]], [cluster]")
    for table in ("suite", "defaults"):
        if not isinstance(doc.get(table, {}), dict):
            raise FerBenchError(f"{path}: {table} must be a table ([{table}] followed by key = value lines)")
    defaults = dict(doc.get("defaults", {}))
    if "seed" in defaults and "seeds" in defaults:
        raise FerBenchError(f"{path} [defaults]: give either seed or seeds, not both")
    default_seeds = defaults.pop("seeds", [defaults.pop("seed")] if "seed" in defaults else [0])
    defaults = _options(defaults, f"{path} [defaults]")
    blocks = doc.get("experiment", [])
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise FerBenchError(f"{path}: experiment must be [[experiment]] tables, each with datasets = [...] and "
                            f"models = [...]")
    if not blocks:
        raise FerBenchError(f"{path}: no [[experiment]] blocks; declare at least one")
    declared: list[_Declared] = []
    ids: dict[str, str] = {}
    for n, block in enumerate(blocks, 1):
        where = f"{path} [[experiment]] #{n}"
        block_id = block.get("id")
        if block_id is not None and (not isinstance(block_id, str) or not re.fullmatch(r"[A-Za-z0-9._+-]+", block_id)):
            raise FerBenchError(f"{where}: id = {block_id!r} should be letters, digits, '.', '_', '+' or '-'")
        if block_id in ids:
            raise FerBenchError(f"{where}: id {block_id!r} is already the id of {ids[block_id]}")
        if block_id is not None:
            ids[block_id] = where
        if "seed" in (block.get("options") or {}) and "seeds" in block:
            raise FerBenchError(f"{where}: give either seeds or options.seed, not both")
        extra = set(block) - BLOCK_KEYS
        if extra:
            raise FerBenchError(f"{where}: unknown key {sorted(extra)[0]!r}; expected {', '.join(sorted(BLOCK_KEYS))}")
        for key in ("datasets", "models"):
            if not _is_list(block.get(key), str):
                raise FerBenchError(f"{where}: {key!r} must be a non-empty list of names")
        features = block.get("features", [None])
        block_options = dict(block.get("options", {})) if isinstance(block.get("options", {}), dict) else None
        if block_options is not None and "seed" in block_options:
            block.setdefault("seeds", [block_options.pop("seed")])
        seeds = block.get("seeds", default_seeds)
        if not _is_list(features, (str, type(None))):
            raise FerBenchError(f"{where}: 'features' must be a list of feature specs such as [\"hog\", \"lbp\"]")
        if not _is_list(seeds, int):
            raise FerBenchError(f"{where}: 'seeds' must be a non-empty list of integers")
        options = {**defaults, **_options(block_options if block_options is not None else block.get("options"),
                                          f"{where} options")}
        for dataset in block["datasets"]:
            for model in block["models"]:
                for feature in features:
                    for seed in seeds:
                        dirs = data_dirs or {}
                        config = RunConfig(dataset=dataset, model=model, features=feature, seed=seed,
                                           reports_dir=reports_dir, **{
                                               "data_dir": dirs.get(dataset),
                                               "test_data_dir": dirs.get(options.get("test_dataset")), **options})
                        reference = config.init_from if _is_reference(config.init_from) else None
                        try:
                            resolved = resolve(replace(config, init_from=None) if reference else config)
                        except FerBenchError as exc:
                            raise FerBenchError(f"{where} ({dataset}, {model}): {exc}") from None
                        if reference:
                            resolved = replace(resolved, init_from=reference)
                        declared.append(_Declared(resolved, block_id, f"{where} ({dataset}, {model})"))
    unique = list({(config_hash(asdict(d.config)), d.config.init_from if _is_reference(d.config.init_from) else None):
                   d for d in declared}.values())
    sources = _sources(unique, ids)
    table = doc.get("suite", {})
    name = table.get("name", re.sub(r"[^A-Za-z0-9._+-]+", "-", path.stem).strip("-.") or "suite") \
        if isinstance(table, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", name):
        raise FerBenchError(f"{path} [suite]: name = {name!r} should be letters, digits, '.', '_', '+' or '-' (it "
                            f"names the status file reports/suites/<name>.json)")
    return Suite(name, str(path), tuple(d.config for d in unique), _cluster(doc, path), sources)


def _is_reference(init_from) -> bool:
    return isinstance(init_from, str) and init_from.startswith(REFERENCE)


def _sources(declared: list[_Declared], ids: dict[str, str]) -> tuple[tuple[int, int], ...]:
    """Each experiment whose ``init_from`` names a block, with the index of its source: the one experiment of
    that earlier block with the same model (and the same seed, where the block has several)."""
    out = []
    for k, d in enumerate(declared):
        reference = d.config.init_from
        if not _is_reference(reference):
            continue
        name = reference[len(REFERENCE):]
        where = f"{d.where}: init_from = {reference!r}"
        if name not in ids:
            raise FerBenchError(f"{where}: no [[experiment]] block has id = {name!r}"
                                + (f" (ids: {', '.join(sorted(ids))})" if ids else ""))
        earlier = [j for j in range(k) if declared[j].block_id == name]
        if not earlier:
            raise FerBenchError(f"{where}: that block must come before this one (the suite runs the source first)")
        same = [j for j in earlier if declared[j].config.model == d.config.model]
        if len(same) > 1:
            same = [j for j in same if declared[j].config.seed == d.config.seed]
        if len(same) != 1:
            raise FerBenchError(f"{where}: block {name!r} has {'no' if not same else len(same)} "
                                f"{d.config.model} experiment{'s' if len(same) > 1 else ''}"
                                f"{' of seed ' + str(d.config.seed) if len(same) > 1 else ''} to start from; "
                                f"--init-from starts from a run of the same architecture")
        out.append((k, same[0]))
    return tuple(out)


def resolve_source(suite: Suite, k: int, records: list[dict]) -> tuple[RunConfig | None, str | None]:
    """Experiment ``k`` of the suite ready to run: its config as declared, or, for one that starts from another's
    weights, resolved against the run folder its source's record names (then the hash of those weights is in
    its config). ``(None, reason)`` when the source has no complete run (it failed, or another process has it)."""
    config = suite.configs[k]
    source = dict(suite.sources).get(k)
    if source is None:
        return config, None
    record = records[source] if source < len(records) else None
    if record is None or record.get("run_dir") is None:
        status = "did not run" if record is None else record["status"] + (
            f": {record['reason']}" if record.get("reason") else "")
        return None, (f"init_from = {config.init_from!r}: its source, experiment {source + 1} "
                      f"({describe(suite.configs[source]).strip()}), has no complete run ({status})")
    try:
        return resolve(replace(config, init_from=str(record["run_dir"]), init_weights=None)), None
    except FerBenchError as exc:
        return None, str(exc)


def _cluster(doc: dict, path: Path) -> ClusterSettings | None:
    """The suite's optional [cluster] table, checked now (a mistake there is found before anything runs)."""
    if "cluster" not in doc:
        return None
    return parse_cluster_table(doc["cluster"], f"{path} [cluster]")


def _is_list(value, kind) -> bool:
    return isinstance(value, list) and len(value) > 0 and all(isinstance(v, kind) for v in value)


def _options(table: dict, where: str) -> dict:
    if not isinstance(table, dict):
        raise FerBenchError(f"{where}: expected a table of options")
    extra = set(table) - set(SUITE_TYPES)
    if extra:
        raise FerBenchError(f"{where}: unknown option {sorted(extra)[0]!r}; options are those of 'fer-bench run' "
                            f"in snake_case ({', '.join(sorted(set(SUITE_TYPES) | {'seeds'}))})")
    for key, value in table.items():
        expected = SUITE_TYPES[key]
        if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
            kind = {bool: "true or false", int: "an integer", str: "a string"}.get(expected, "a number or a string")
            raise FerBenchError(f"{where}: {key} = {value!r} should be {kind}")
    return dict(table)


def describe(config: RunConfig) -> str:
    """One experiment in a line: dataset, model, features, seed and the options where it departs from its
    model's defaults, e.g. "fer2013 mini-xception pixels seed 0 (class_weights)"."""
    spec = get_model(config.model)
    parts = kind_of(spec).describe(config, spec)
    dataset = evaluation_for(config).label(config)
    if config.init_from is not None:
        parts = [*parts, f"init_from {config.init_from if _is_reference(config.init_from) else 'a run'}"]
    return (f"{dataset:9s} {config.model:14s} {config.features:14s} seed {config.seed}"
            + (f" ({', '.join(parts)})" if parts else ""))


def completed_runs(runs_dir: Path, *, only_hash: str | None = None) -> dict[str, list[tuple[Path, str]]]:
    """Complete run folders by config hash, each with the fingerprint of the data it ran on (``only_hash``:
    just the runs of that config; a cross-dataset run's is both datasets', see :func:`data_fingerprint`).

    "Complete" is the report's definition: a folder the report would skip as broken, or set aside as
    inconsistent (its predictions, splits and metrics disagree), is never counted as done, so a resumed suite
    redoes it; nor is a run whose model was fitted by an implementation since replaced (``ModelKind.superseded``).
    """
    found: dict[str, list[tuple[Path, str]]] = {}
    runs, _ = collect_runs(Path(runs_dir), config_hash=only_hash)
    runs, _ = verify_runs(runs)
    for run in runs:
        kind = KINDS.get(run.kind)
        if kind is not None and kind.superseded(run):
            continue  # its model is not the one the config now names: not done
        if "config_hash" in run.config:
            others = [d["fingerprint"] for d in evaluation_of(run).other_datasets(run)]
            found.setdefault(run.config["config_hash"], []).append(
                (run.path, _fingerprint(run.manifest["dataset"]["fingerprint"], others)))
    return found


def data_fingerprint(dataset, others=()) -> str:
    """What a run's data is: the dataset's fingerprint, and after it those of the datasets its evaluation mode
    loads beside it (a cross-dataset run's target)."""
    return _fingerprint(dataset.fingerprint, [other.fingerprint for other in others])


def _fingerprint(dataset: str, others: list[str]) -> str:
    return "+".join([dataset, *others])


class DataCache:
    """Datasets loaded once per suite, keyed by what identifies them (see DATA_KEYS)."""

    def __init__(self):
        self.loaded = {}

    def get(self, config: RunConfig):
        key = tuple(getattr(config, k) for k in DATA_KEYS)
        if key not in self.loaded:
            self.loaded[key] = load_dataset(config.dataset, config.data_dir, **data_options(config))
        return self.loaded[key]

    def others(self, config: RunConfig) -> tuple:
        """The datasets the experiment's evaluation mode loads beside its own (a cross-dataset experiment's
        target; none in-domain), loaded once too."""
        return tuple(self.get(c) for c in evaluation_for(config).data_configs(config))


def previous_runs(config: RunConfig, dataset, done: dict, others=()) -> list[Path]:
    """Complete runs of exactly this experiment on exactly this data (and the evaluation's other data)."""
    return [run for run, fp in done.get(config_hash(asdict(config)), [])
            if fp == data_fingerprint(dataset, others)]


def plan_suite(suite: Suite) -> list[tuple[RunConfig, str]]:
    """Each experiment with its state: 'complete (<run>)' or 'to run'. Everything a real run checks before
    its first experiment is checked here too, so a dry run refuses what the run would refuse."""
    data, plan, records = DataCache(), [], []
    check_suite(suite, data)
    done = completed_runs(Path(suite.configs[0].reports_dir) / "runs")
    for k, config in enumerate(suite.configs):
        ready, reason = resolve_source(suite, k, records)
        if ready is None:
            source = dict(suite.sources)[k]
            plan.append((config, f"to run, after experiment {source + 1}" if records[source]["run_dir"] is None
                         else f"cannot run: {reason}"))
            records.append({"status": "planned", "run_dir": None})
            continue
        previous = previous_runs(ready, data.get(ready), done, data.others(ready))
        plan.append((config, f"complete ({previous[-1].name})" if previous else "to run"))
        records.append({"status": "planned", "run_dir": previous[-1] if previous else None})
    return plan


def claim_path(reports_dir: Path, config: RunConfig, dataset) -> Path:
    """Where the claim on one experiment (this config on this data) lives while a process runs it."""
    return Path(reports_dir) / CLAIMS_DIR / f"{config_hash(asdict(config))}-{dataset.fingerprint[:12]}.json"


def check_suite(suite: Suite, data: "DataCache") -> None:
    """Everything that can fail before the first experiment: every dataset located and loaded once, and the
    limits each dataset puts on each experiment's options (folds against subjects, pca against samples and
    features). Raises :class:`FerBenchError` (exit 2) naming the experiment."""
    wanted = {(c.dataset, c.data_dir or "") for c in suite.configs}
    wanted |= {(o.dataset, o.data_dir or "") for c in suite.configs for o in evaluation_for(c).data_configs(c)}
    for name, data_dir in sorted(wanted):
        # every dataset is found before the first experiment starts, not hours into the suite
        detect_layout(name, Path(data_dir).expanduser() if data_dir else default_data_dir(name))
    sources = dict(suite.sources)
    for k, config in enumerate(suite.configs):
        dataset = data.get(config)
        try:
            protocol = make_protocol(dataset, seed=config.seed, folds=config.folds)
            if k in sources:  # its source's run folder exists only once the source has run: checked then
                _check_source(suite.configs[sources[k]], data, config.init_from)
                config = replace(config, init_from=None)
            # what the evaluation mode scores (a cross-dataset target: the emotions both share, images left)
            plan = evaluation_for(config).plan(protocol, dataset, data.others(config))
            check_data_limits(config, dataset, protocol, plan)
        except FerBenchError as exc:
            raise FerBenchError(f"{suite.path}: {describe(config).strip()}: {exc}") from None


def _check_source(source: RunConfig, data: "DataCache", reference: str) -> None:
    """A source of weights must make one model (an official split's single fold): --init-from refuses fold
    ensembles, and this is known before anything runs."""
    folds = len(make_protocol(data.get(source), seed=source.seed, folds=source.folds).folds)
    if folds != 1:
        raise FerBenchError(f"init_from = {reference!r}: its source ({describe(source).strip()}) trains {folds} fold "
                            f"models; start from an experiment with one model (an official split, such as "
                            f"FER2013's)")


def prepare_suite(suite: Suite) -> tuple["DataCache", Path, Path]:
    """What every executor checks before the first experiment (:func:`check_suite`, the reports folder's runs/,
    claims and status folders); returns the loaded data, the reports folder and its runs/ folder."""
    data = DataCache()
    check_suite(suite, data)
    reports_dir = Path(suite.configs[0].reports_dir)
    runs_dir = reports_dir / "runs"
    check_runs_dir(runs_dir)
    for folder in (reports_dir / CLAIMS_DIR, reports_dir / "suites"):
        if folder.exists() and not folder.is_dir():
            raise FerBenchError(f"{folder} is a file, expected a folder (fer-bench keeps suite "
                                f"{'claims' if folder.name == CLAIMS_DIR else 'status files'} there)")
    return data, reports_dir, runs_dir


def run_suite(suite: Suite, *, console, progress_console=None) -> list[dict]:
    """Run every experiment not already complete; returns one record per experiment.

    A record's status is "ran", "skipped" (complete already, or being run by another live process) or
    "failed" (with the reason): one failing experiment does not stop the others. Each experiment is claimed
    with a lease first, so two suites on one reports folder never run the same experiment. The records are
    also written to ``<reports>/suites/<suite name>.json`` after every experiment.
    """
    data, reports_dir, runs_dir = prepare_suite(suite)
    records = []
    done = completed_runs(runs_dir)
    with progress(progress_console or console) as bar:
        say = printer(bar.console)
        for line in clean_stale_incomplete(runs_dir):
            say(f"note: {line}")
        task = bar.add_task(f"suite {suite.name}", total=len(suite.configs))
        for k, declared in enumerate(suite.configs):
            label = f"[{k + 1}/{len(suite.configs)}] {describe(declared)}"
            config, reason = resolve_source(suite, k, records)
            if config is None:
                say(f"{label}: FAILED: {reason}")
                records.append({"config": declared, "experiment": describe(declared), "run_dir": None,
                                "status": "failed", "reason": reason})
            else:
                dataset = data.get(config)
                records.append({**run_one(config, dataset, label, runs_dir, done, bar.console, data.others(config)),
                                "experiment": describe(declared)})  # as declared: with its init_from @<id>
            write_status(reports_dir, suite, records, say)
            bar.advance(task)
    return records


def run_one(config: RunConfig, dataset, label: str, runs_dir: Path, done: dict, console, others=()) -> dict:
    """One experiment of a suite: skipped if complete, claimed, run, released; a failure is a record."""
    say = printer(console)
    record = {"config": config, "experiment": describe(config), "run_dir": None}
    previous = previous_runs(config, dataset, done, others)
    if previous:
        say(f"{label}: already complete in {previous[-1].name}, skipped")
        return {**record, "run_dir": previous[-1], "status": "skipped"}
    claim = Lease.acquire(claim_path(runs_dir.parent, config, dataset))
    if claim is None:
        say(f"{label}: being run by another live process ({claim_path(runs_dir.parent, config, dataset).name}), skipped")
        return {**record, "status": "skipped", "reason": "running in another process"}
    try:
        # another process may have completed it between our look at the runs folder and our claim
        done.update(completed_runs(runs_dir, only_hash=config_hash(asdict(config))))
        previous = previous_runs(config, dataset, done, others)
        if previous:
            say(f"{label}: completed meanwhile in {previous[-1].name}, skipped")
            return {**record, "run_dir": previous[-1], "status": "skipped"}
        say(f"{label}: running")
        try:
            run_dir, metrics = run_experiment(config, console=console, dataset=dataset, others=others)
        except (FerBenchError, OSError) as exc:
            reason = str(exc) if isinstance(exc, FerBenchError) else os_error_text(exc)
            say(f"{label}: FAILED: {reason}")
            return {**record, "status": "failed", "reason": reason}
        except Exception as exc:  # a bug: keep the suite going, keep the traceback in the status file
            reason = f"internal error {type(exc).__name__}: {exc}"
            say(f"{label}: FAILED: {reason}")
            return {**record, "status": "failed", "reason": reason, "traceback": traceback.format_exc()}
        say(f"{label}: accuracy {metrics['accuracy']:.4f} -> {run_dir}")
        done.setdefault(config_hash(asdict(config)), []).append((run_dir, data_fingerprint(dataset, others)))
        return {**record, "run_dir": run_dir, "status": "ran"}
    finally:
        claim.release()


def write_status(reports_dir: Path, suite: Suite, records: list[dict], say) -> None:
    """``<reports>/suites/<name>.json``: every experiment so far with its status, run folder and failure reason.
    A status file that cannot be written is a warning: the runs themselves are what counts."""
    path = status_path(reports_dir, suite)
    body = {"suite": suite.name, "file": suite.path,
            "updated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "experiments": [{k: (str(v) if k == "run_dir" and v is not None else v) for k, v in r.items()
                             if k != "config"} for r in records],
            "failed": [{"experiment": r["experiment"], "reason": r["reason"]} for r in records
                       if r["status"] == "failed"]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(body, indent=2) + "\n")
    except OSError as exc:
        say(f"warning: cannot write the suite status file {path} ({exc.strerror or type(exc).__name__})")


def status_path(reports_dir: Path, suite: Suite) -> Path:
    """The suite's status file: every experiment's status, and the failed ones with their reasons."""
    return Path(reports_dir) / "suites" / f"{suite.name}.json"
