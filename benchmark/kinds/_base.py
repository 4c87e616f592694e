"""What every model kind provides, and the pieces both kinds share (prediction rows, adapted inner folds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from ..datasets import Dataset


class ModelKind:
    """How the models of one kind are configured, checked against the data, fitted and recorded.

    ``name`` is what the registry and run folders call the kind (``ModelSpec.kind``, ``metrics.json["kind"]``);
    ``title`` how the report names its group of rows; ``selects_by_search`` whether it chooses hyperparameters by
    searching a grid (so a held-out split's validation part replaces inner folds).
    """

    name: str
    title: str
    selects_by_search: bool

    def resolve(self, config, spec) -> dict:  # pragma: no cover - abstract
        """The options this kind fills in or refuses (a :class:`FerBenchError` names the option)."""
        raise NotImplementedError

    def check_limits(self, config, spec, dataset: Dataset, protocol) -> None:
        """Limits the loaded data puts on this kind's options (exit 2 before any work when broken)."""

    def run(self, spec, config, dataset: Dataset, protocol, timer, console: Console, run_dir: Path) -> dict:
        """Fit and predict every fold, saving each fold's model in ``run_dir`` (``benchmark.saved_models``);
        returns ``predictions``, ``best_params`` (per fold), ``extra`` (for metrics.json), ``manifest`` (for
        manifest.json, with the model files' hashes), ``adapted`` (options changed to fit the data) and
        ``fold_models`` (each fold's fitted :class:`~benchmark.saved_models.FoldModel`, by fold name)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def describe(self, config, spec) -> list[str]:
        """The options where an experiment departs from its model's defaults (suite listings)."""
        return []

    def selection(self, protocol, config) -> str:  # pragma: no cover - abstract
        """How this kind's models select without test data under ``protocol`` (printed and recorded)."""
        raise NotImplementedError

    def platform(self, manifest: dict, config: dict) -> dict:  # pragma: no cover - abstract
        """What computed a run's numbers beyond its options, read from its manifest and config (the report
        keeps runs that differ here apart, as variants)."""
        raise NotImplementedError


def adapted_inner_folds(config, used: dict) -> dict:
    """``{"inner_folds": {fold: value that ran}}`` when any fold ran fewer inner folds than requested, else {}.
    The config (and its hash) keeps the requested value, so a resumed suite still finds the run."""
    if any(v is not None and v != config.inner_folds for v in used.values()):
        return {"inner_folds": used}
    return {}


def prediction_rows(dataset: Dataset, idx: np.ndarray, column: str, part: str, y_pred: np.ndarray,
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
