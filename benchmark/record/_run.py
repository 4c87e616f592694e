"""Reading run folders: complete runs only; incomplete or unreadable ones are listed with the reason, never used.

Whether a complete run's files agree with each other is :mod:`._verify`'s question; whether two runs of the
same experiment and seed agree is the report's (``benchmark.report._duplicates``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import exception_text
from ..leases import folder_is_stale
from ..protocols import PROTOCOLS, Protocol
from ._upgrade import RunFacts, upgrade
from ._schema import (CONFIG, CROSS_DATASET_FILES, INCOMPLETE_PREFIX, MANIFEST, METRICS, PREDICTIONS, REQUIRED_FILES,
                      SCHEMA_VERSION, SOURCE_PREDICTIONS, SOURCE_SPLITS, SPLITS)

REQUIRED_METRICS = ("dataset", "model", "features", "protocol", "seed", "accuracy", "macro_f1",
                    "balanced_accuracy", "per_class", "confusion_matrix", "class_names")


@dataclass
class Run:
    """One complete run folder, loaded."""

    run_id: str
    path: Path
    config: dict
    metrics: dict
    manifest: dict
    predictions: pd.DataFrame
    splits: pd.DataFrame
    #: cross-dataset runs only: the source's own test predictions and assignment (None otherwise)
    source_predictions: pd.DataFrame | None = None
    source_splits: pd.DataFrame | None = None
    #: what the record says in today's terms, whatever its schema version (:func:`._upgrade.upgrade`)
    facts: RunFacts = field(init=False)

    def __post_init__(self) -> None:
        self.facts = upgrade(self.config, self.metrics, self.manifest)

    @property
    def dataset(self) -> str:
        """The dataset the models were fitted on (the source of a cross-dataset run)."""
        return self.metrics["dataset"]

    @property
    def has_source_part(self) -> bool:
        """Whether the run's models were fitted under a source protocol of their own, recorded beside the scored
        part (``protocol.source`` in the manifest, ``source`` in metrics.json, the source_* files): the runs of
        protocols that score another dataset than the one fitted on."""
        return self.protocol.scores_another_dataset

    def model_folds(self) -> list[str]:
        """The folds the run fitted a model on (one saved model each): the source protocol's where the run has a
        source part (a cross-dataset run's own protocol has the one scored part ``target``)."""
        protocol = self.manifest["protocol"]
        return [str(fold) for fold in (protocol["source"] if self.has_source_part else protocol)["sizes"]]

    def model_class_names(self) -> list[str]:
        """The classes the run's models score, in their order (the source's on a cross-dataset run, whose
        metrics.json class_names are the target's classes shared with it)."""
        return list((self.metrics["source"] if self.has_source_part else self.metrics)["class_names"])

    @property
    def kind(self) -> str:
        """The model kind's name (``benchmark.kinds``)."""
        return self.facts.kind

    @property
    def protocol(self) -> type[Protocol]:
        """The protocol class the run was evaluated under (a loaded run names a known one)."""
        return PROTOCOLS[self.metrics["protocol"]]

    @property
    def part_column(self) -> str:
        """How predictions.csv and splits.csv name a sample's part: "split" (official split) or "fold"."""
        return self.protocol.column

    @property
    def schema_version(self) -> int:
        """The run record's schema: 1 for runs written before manifests recorded one."""
        return self.facts.schema_version

    @property
    def official_split(self) -> bool:
        """False where FER2013's test folder had no split prefixes and was halved at random (seeded).

        Read from the manifest's ``dataset.split_is_official`` (older runs: see :func:`._upgrade.upgrade`).
        """
        return False if self.protocol.per_fold else self.facts.split_is_official

    def test_predictions(self) -> pd.DataFrame:
        """The reported test rows: PrivateTest on the official split, every row (each fold's test) on k-fold."""
        if not self.protocol.per_fold:
            return self.predictions[self.predictions[self.part_column] == self.facts.test_split]
        return self.predictions


def collect_runs(runs_dir: Path, *, config_hash: str | None = None) -> tuple[list[Run], list[tuple[str, str]]]:
    """Complete runs (sorted by id) and the skipped folders with the reason each was skipped.

    ``config_hash`` limits both to the folders of one experiment (run ids end in ``_<config hash>``).
    An ``.incomplete-*`` folder is reported as in progress (live lease) or abandoned (stale lease: its process
    was killed; the next run or suite removes it).
    """
    runs, skipped = [], []
    if not Path(runs_dir).is_dir():
        return runs, skipped
    for folder in sorted(p for p in Path(runs_dir).iterdir() if p.is_dir()):
        if config_hash is not None and not folder.name.endswith(f"_{config_hash}"):
            continue
        if folder.name.startswith(INCOMPLETE_PREFIX):
            stale, why = folder_is_stale(folder)
            skipped.append((folder.name, f"incomplete, abandoned by a killed process ({why}); the next run or "
                                         f"suite removes it" if stale else f"incomplete, still running ({why})"))
            continue
        try:
            runs.append(read_run(folder))
        except Broken as exc:
            skipped.append((folder.name, str(exc)))
        except Exception as exc:  # a run folder damaged in a way not foreseen: listed, never a crash of the report
            skipped.append((folder.name, f"unreadable ({exception_text(exc)})"))
    return runs, skipped


class Broken(Exception):
    """A run folder that is not a complete run (the message says why)."""


def runs_inside(folder: Path) -> str:
    """For the error about a folder that is not a run: where it is a runs/ folder (it holds complete runs), a hint
    naming one of them to give instead; else nothing."""
    held = sorted(p.parent.name for p in Path(folder).glob(f"*/{METRICS}"))
    return f"; it holds run folders: give one of them, e.g. {Path(folder) / held[-1]}" if held else ""


def _json_object(path: Path) -> dict:
    """A run file that must hold a JSON object; anything else makes the run broken, naming the file."""
    try:
        value = json.loads(path.read_text())
    except (ValueError, OSError, RecursionError) as exc:
        raise Broken(f"{path.name} is unreadable ({exception_text(exc)})") from None
    if not isinstance(value, dict):
        raise Broken(f"{path.name} holds a JSON {type(value).__name__}, expected an object")
    return value


def _table(path: Path, dtypes) -> pd.DataFrame:
    try:
        if dtypes is str:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        return pd.read_csv(path, dtype=dtypes)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise Broken(f"{path.name} is unreadable ({exception_text(exc)})") from None


def read_run(folder: Path) -> Run:
    """One complete run folder as a :class:`Run`; :class:`Broken` naming what is missing or unreadable."""
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise Broken(f"missing {', '.join(missing)}")
    config, metrics, manifest = (_json_object(folder / name) for name in (CONFIG, METRICS, MANIFEST))
    version = manifest.get("schema_version", 1)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise Broken(f"written by a newer fer-bench (run record schema {version}; this version reads up to "
                      f"{SCHEMA_VERSION}): upgrade fer-bench to use it")
    predictions, splits = (_table(folder / name, dtypes) for name, dtypes in (
        (PREDICTIONS, {"sample_id": str, "subject": str}), (SPLITS, str)))
    absent = [key for key in REQUIRED_METRICS if key not in metrics]
    if absent:
        raise Broken(f"metrics.json lacks {', '.join(absent)}")
    if metrics["protocol"] not in PROTOCOLS:
        raise Broken(f"metrics.json names an unknown protocol {metrics['protocol']!r}")
    if not {"sample_id", "y_true", "y_pred"} <= set(predictions.columns):
        raise Broken("predictions.csv lacks sample_id, y_true or y_pred")
    try:
        manifest["dataset"]["fingerprint"][:12], manifest["protocol"]["fingerprint"][:12]
        dict(manifest["protocol"]["sizes"])
        str(manifest["finished_utc"])
    except (KeyError, TypeError, ValueError):
        raise Broken("manifest.json lacks the dataset or protocol fingerprint, split sizes or finish time") from None
    run = Run(folder.name, folder, config, metrics, manifest, predictions, splits)
    if run.has_source_part:
        _load_source_part(run)
    return run


def _load_source_part(run: Run) -> None:
    """A cross-dataset run's extra parts: both datasets' fingerprints, the source protocol's folds, the source's
    figures in metrics.json and its own predictions and assignment."""
    missing = [name for name in CROSS_DATASET_FILES if not (run.path / name).is_file()]
    if missing:
        raise Broken(f"missing {', '.join(missing)} (a cross-dataset run keeps the source's own predictions)")
    absent = [key for key in ("test_dataset", "source", "cross_dataset") if not isinstance(run.metrics.get(key),
                                                                                           (str, dict))]
    if absent:
        raise Broken(f"metrics.json lacks {', '.join(absent)} (a cross-dataset run records them)")
    try:
        run.manifest["test_dataset"]["fingerprint"][:12], run.manifest["protocol"]["source"]["fingerprint"][:12]
        dict(run.manifest["protocol"]["source"]["sizes"]), dict(run.manifest["class_mapping"])
        list(run.metrics["source"]["class_names"])
    except (KeyError, TypeError, ValueError):
        raise Broken("manifest.json lacks the test dataset's fingerprint, the source protocol or the class "
                      "mapping") from None
    run.source_predictions = _table(run.path / SOURCE_PREDICTIONS, {"sample_id": str, "subject": str})
    run.source_splits = _table(run.path / SOURCE_SPLITS, str)
