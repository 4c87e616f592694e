"""Cross-dataset evaluation (``--test-dataset``): a source's fitted models score every image of another dataset.

The source is fitted and selected exactly as its own protocol does (``kind.run`` is not told about the target);
the fold models it returns then score the target once, through :class:`~benchmark.protocols.CrossDataset`'s
assignment: classes are matched by emotion (:mod:`benchmark.datasets._emotions`), target images of an emotion
the source never learned (or pixel-identical to a source image) are dropped and counted, and a prediction is the
argmax of the source's scores over the shared emotions (the mean score over the fold models on k-fold sources).
How often the unrestricted top class was an emotion the target lacks is recorded beside it.

The run folder stays a normal one: predictions.csv, metrics.json and the evaluation files hold the target's scored
images; the source's own test predictions (what its protocol would have reported) are kept in
``source_predictions.csv`` and ``source_splits.csv``, with their figures under ``metrics.json["source"]``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .datasets import Dataset, load_dataset
from .metrics import summarise
from .options import data_options
from .protocols import (TOP_CLASS, CrossDataset, Protocol, dropped_counts_of, outside_counts, restricted_predictions,
                        score_columns)
from .record import SourcePart
from .saved_models import mean_scores, score_words

#: predictions.csv: the target image's own split, where the target has one (FER2013's Training/...).
TARGET_SPLIT = "target_split"


def target_config(config):
    """The options that load the target: ``config`` with ``--test-dataset``/``--test-data-dir`` as its data."""
    return replace(config, dataset=config.test_dataset, data_dir=config.test_data_dir)


def load_target(config) -> Dataset:
    """The ``--test-dataset`` of ``config``, loaded like a ``--dataset`` (same data options and defaults)."""
    target = target_config(config)
    return load_dataset(target.dataset, target.data_dir, **data_options(target))


def dropped_counts(cross: CrossDataset, target: Dataset) -> dict:
    """{reason (the part splits.csv gives): {target class: images}} for every target image not scored."""
    return dropped_counts_of(cross.assignments(target), cross.column)


def target_scores(fold_models: dict, target: Dataset, idx: np.ndarray, config) -> np.ndarray:
    """The source's scores (N x source classes) for ``target.images[idx]``: the mean over its fold models (each
    kind's models share what they can between folds: see ``FoldModel.dataset_scores``)."""
    shared: dict = {}
    return mean_scores([model.dataset_scores(target, idx, config=config, shared=shared)
                        for model in fold_models.values()])


def score_target(cross: CrossDataset, fold_models: dict, target: Dataset, config) -> tuple[pd.DataFrame, dict]:
    """predictions.csv's rows for the target (one per scored image) and the facts metrics.json records:
    how the scores were combined, the drop counts and the unrestricted top class outside the target's classes."""
    mapping = cross.mapping
    idx = cross.folds[0].test
    scores = target_scores(fold_models, target, idx, config)
    predicted, top = restricted_predictions(scores, mapping)
    names = np.asarray(target.class_names, dtype=object)
    frame = pd.DataFrame({
        "sample_id": target.sample_ids[idx],
        "subject": target.subjects[idx] if target.subjects is not None else "",
        cross.column: cross.test_part, "y_true": names[target.labels[idx]], "y_pred": names[predicted],
    })
    if target.splits is not None:
        frame[TARGET_SPLIT] = target.splits[idx]
    frame[TOP_CLASS] = np.asarray(mapping.source_names, dtype=object)[top]
    for j, column in enumerate(score_columns(mapping.source_names)):
        frame[column] = scores[:, j]
    dropped = dropped_counts(cross, target)
    facts = {"n_scored": int(len(idx)), "n_dropped": sum(sum(v.values()) for v in dropped.values()),
             "dropped": dropped, "top_class_outside": outside_counts(top, mapping),
             "scored_by": (f"mean {score_words(fold_models.values())} over {len(fold_models)} fold models"
                           if len(fold_models) > 1 else f"the model's {score_words(fold_models.values())}")}
    return frame, facts


def source_part(predictions: pd.DataFrame, source: Dataset, protocol: Protocol) -> tuple[SourcePart, dict]:
    """The source's own test predictions and assignment (written as ``source_predictions.csv`` and
    ``source_splits.csv``) and their figures for ``metrics.json["source"]``: the in-domain score its protocol
    reports, for comparison."""
    figures = {"dataset": source.name, "protocol": protocol.name,
               **summarise(predictions, source.class_names, part_column=protocol.column,
                           **({"test_part": protocol.test_part} if protocol.test_part else {}))}
    return SourcePart(predictions, protocol.assignments(source), protocol.column), figures
