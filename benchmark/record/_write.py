"""Writing a run folder: every file of the run record, from one call (the mirror of :mod:`._run`, which reads it).

The experiment runner gathers what a run found (the model kind's predictions and choices, the evaluation mode's
scored part, the provenance) and calls :func:`write_run` once, inside the leased temporary folder that is renamed
only once complete; model files are the model kind's own and are already there.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

import pandas as pd

from ..evaluation import write_evaluation, write_history
from ..files import write_json
from ..metrics import TEST_SPLIT, ordered_predictions
from ._schema import (CONFIG, MANIFEST, SEARCH, SOURCE_PREDICTIONS, SOURCE_SPLITS, SPLITS, TRAINING_ROLES)


@dataclass
class SourcePart:
    """A cross-dataset run's source's own test predictions and assignment (what its protocol would report)."""

    predictions: pd.DataFrame
    splits: pd.DataFrame
    part_column: str


@dataclass
class RunContent:
    """Everything a run folder holds besides the model files, as the runner assembled it.

    ``header`` opens metrics.json (dataset, model, features, protocol, seed, best_params, kind...), ``extra`` ends it;
    the scores between them are computed from ``predictions`` over ``class_names`` (the ``test_part`` of
    ``part_column`` where results are not per fold). ``config`` is written as given.
    """

    config: dict
    header: dict
    extra: dict
    predictions: pd.DataFrame
    class_names: tuple
    part_column: str
    splits: pd.DataFrame
    test_part: str = TEST_SPLIT
    search_log: dict | None = None
    history: pd.DataFrame | None = None
    history_title: str = ""
    training_roles: pd.DataFrame | None = None
    source: SourcePart | None = None


def write_run(folder: Path, content: RunContent, *, manifest: Callable[[], dict],
              timed: Callable[[], ContextManager] = nullcontext) -> dict:
    """Write every file of the run record into ``folder``; returns metrics.json's content.

    ``manifest`` is called last, so the provenance it returns (wall time per phase, finish time) covers the
    evaluation, which runs inside ``timed()`` (the runner's phase timer)."""
    folder = Path(folder)
    if content.search_log is not None:
        write_json(folder / SEARCH, content.search_log)
    if content.history is not None:
        write_history(folder, content.history, content.history_title)
    if content.training_roles is not None:
        content.training_roles.to_csv(folder / TRAINING_ROLES, index=False)
    if content.source is not None:
        source = content.source
        ordered_predictions(source.predictions, source.part_column).to_csv(folder / SOURCE_PREDICTIONS, index=False)
        source.splits.to_csv(folder / SOURCE_SPLITS, index=False)
    with timed():
        metrics = write_evaluation(folder, content.predictions, content.class_names,
                                   part_column=content.part_column, header=content.header, extra=content.extra,
                                   test_part=content.test_part)
    content.splits.to_csv(folder / SPLITS, index=False)
    write_json(folder / CONFIG, content.config)
    write_json(folder / MANIFEST, manifest())
    return metrics
