"""Reading run folders for the report: complete runs only; incomplete or unreadable ones are listed, never used."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..runs import INCOMPLETE_PREFIX

DATASET_TITLES = {"fer2013": "FER2013", "ck+": "CK+", "synthetic": "synthetic"}


def title_of(section: str) -> str:
    """Display name of a report section: "ck+ (5-fold)" -> "CK+ (5-fold)"."""
    name, _, rest = section.partition(" ")
    return DATASET_TITLES.get(name, name) + (f" {rest}" if rest else "")


REQUIRED_FILES = ("metrics.json", "config.json", "manifest.json", "predictions.csv")
REQUIRED_METRICS = ("dataset", "model", "features", "protocol", "seed", "accuracy", "macro_f1",
                    "balanced_accuracy", "per_class", "confusion_matrix", "class_names")
#: Options that never distinguish one experiment from another in a table (seeds are aggregated).
NOT_A_VARIANT = {"seed", "n_jobs", "reports_dir", "cache_dir", "data_dir", "config_hash", "param_grid",
                 "model_source", "dataset", "model", "features"}


@dataclass
class Run:
    """One complete run folder, loaded."""

    run_id: str
    path: Path
    config: dict
    metrics: dict
    manifest: dict
    predictions: pd.DataFrame

    @property
    def dataset(self) -> str:
        return self.metrics["dataset"]

    @property
    def kind(self) -> str:
        return self.metrics.get("kind", "deep" if self.metrics.get("n_params") else "classical")

    def options(self) -> dict:
        """The options that make this run's experiment, without seed and paths, plus the data it ran on: runs of
        one model on two different copies or layouts of a dataset are never averaged together."""
        return {**{k: v for k, v in self.config.items() if k not in NOT_A_VARIANT},
                "data": self.manifest["dataset"]["fingerprint"][:12]}

    @property
    def official_split(self) -> bool:
        """False where FER2013's test folder had no split prefixes and was halved at random (seeded)."""
        notes = " ".join(self.manifest["dataset"].get("notes") or [])
        return self.metrics["protocol"] == "official-split" and "NOT the official split" not in notes

    def test_predictions(self) -> pd.DataFrame:
        """The reported test rows: PrivateTest on the official split, every row (each fold's test) on k-fold."""
        if "split" in self.predictions:
            return self.predictions[self.predictions.split == self.metrics.get("test_split", "PrivateTest")]
        return self.predictions


def collect_runs(runs_dir: Path) -> tuple[list[Run], list[tuple[str, str]]]:
    """Complete runs (sorted by id) and the skipped folders with the reason each was skipped."""
    runs, skipped = [], []
    if not Path(runs_dir).is_dir():
        return runs, skipped
    for folder in sorted(p for p in Path(runs_dir).iterdir() if p.is_dir()):
        if folder.name.startswith(INCOMPLETE_PREFIX):
            skipped.append((folder.name, "incomplete (interrupted or still running)"))
            continue
        try:
            runs.append(_load(folder))
        except _Broken as exc:
            skipped.append((folder.name, str(exc)))
    return runs, skipped


class _Broken(Exception):
    pass


def _load(folder: Path) -> Run:
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise _Broken(f"missing {', '.join(missing)}")
    try:
        config, metrics, manifest = (json.loads((folder / name).read_text())
                                     for name in ("config.json", "metrics.json", "manifest.json"))
        predictions = pd.read_csv(folder / "predictions.csv", dtype={"sample_id": str, "subject": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise _Broken(f"unreadable ({type(exc).__name__}: {str(exc)[:80]})") from None
    absent = [key for key in REQUIRED_METRICS if key not in metrics]
    if absent:
        raise _Broken(f"metrics.json lacks {', '.join(absent)}")
    if not {"sample_id", "y_true", "y_pred"} <= set(predictions.columns):
        raise _Broken("predictions.csv lacks sample_id, y_true or y_pred")
    try:
        manifest["dataset"]["fingerprint"], manifest["protocol"]["fingerprint"], manifest["protocol"]["sizes"]
        str(manifest["finished_utc"])
    except (KeyError, TypeError):
        raise _Broken("manifest.json lacks the dataset or protocol fingerprint, split sizes or finish time") from None
    return Run(folder.name, folder, config, metrics, manifest, predictions)
