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
from .protocols import CrossDataset, Protocol
from .record import SOURCE_PREDICTIONS, SOURCE_SPLITS
from .saved_models import SVMFoldModel, ensemble_scores

#: predictions.csv: the source's class with the highest score over all its classes (before restriction).
TOP_CLASS = "top_class"
#: predictions.csv: the target image's own split, where the target has one (FER2013's Training/...).
TARGET_SPLIT = "target_split"


def target_config(config):
    """The options that load the target: ``config`` with ``--test-dataset``/``--test-data-dir`` as its data."""
    return replace(config, dataset=config.test_dataset, data_dir=config.test_data_dir)


def load_target(config) -> Dataset:
    """The ``--test-dataset`` of ``config``, loaded like a ``--dataset`` (same data options and defaults)."""
    target = target_config(config)
    return load_dataset(target.dataset, target.data_dir, **data_options(target))


def score_columns(class_names) -> list[str]:
    """predictions.csv's score columns of a cross-dataset run: one per source class, under the source's names."""
    return [f"score_{name}" for name in class_names]


def restricted_predictions(scores: np.ndarray, mapping) -> tuple[np.ndarray, np.ndarray]:
    """(target class index predicted, source class index on top overall) per row of source ``scores``.

    The prediction is the argmax over the shared emotions' scores only; a NaN score (a class no fold trained on)
    never wins. The same function checks a recorded run (:mod:`benchmark.record._verify`)."""
    def argmax(block: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(block), -np.inf, block).argmax(axis=1)

    shared = mapping.shared_source_indices
    to_target = np.array([t for _, _, t in mapping.shared])
    return to_target[argmax(scores[:, shared])], argmax(scores)


def outside_counts(top: np.ndarray, mapping) -> dict:
    """How often the unrestricted top class (source indices ``top``) is a class the target lacks, by class."""
    shared = set(mapping.shared_source_indices)
    outside = [mapping.source_names[i] for i in top if i not in shared]
    by_class = {name: outside.count(name) for name in mapping.source_names if name in outside}
    n = len(top)
    return {"count": len(outside), "rate": len(outside) / n if n else float("nan"), "by_class": by_class}


def dropped_counts(cross: CrossDataset, target: Dataset) -> dict:
    """{reason (the part splits.csv gives): {target class: images}} for every target image not scored."""
    return dropped_counts_of(cross.assignments(target), cross.column)


def dropped_counts_of(splits: pd.DataFrame, column: str) -> dict:
    """The drop counts of a cross-dataset assignment table (splits.csv): per reason, images per class."""
    out = {}
    for part in CrossDataset.DROPPED:
        labels = splits.label[splits[column].astype(str) == part].astype(str)
        out[part] = {str(c): int(n) for c, n in labels.value_counts(sort=False).sort_index().items()}
    return out


def target_scores(fold_models: dict, target: Dataset, idx: np.ndarray, config) -> np.ndarray:
    """The source's scores (N x source classes) for ``target.images[idx]``: the mean over its fold models.

    SVM folds share their stateless features (HOG, LBP, landmarks): computed once for the whole target through
    the feature cache (keyed by the target's fingerprint, as an in-domain run on it would be), not once per fold;
    learned features (a fold's visual words) come from each fold's own extractor."""
    models = list(fold_models.values())
    if not all(isinstance(m, SVMFoldModel) for m in models):
        return ensemble_scores(models, target.images[idx])
    from features import extract

    shared: dict[tuple, np.ndarray] = {}
    per_fold = []
    for model in models:
        blocks = []
        for name, extractor in model.extractors:
            if extractor.learns_from_training:
                blocks.append(extractor.transform(target.images[idx]))
                continue
            key = (name, repr(sorted(extractor.get_params().items())))
            if key not in shared:
                X, _ = extract(target.images, name, extractor, fingerprint=target.fingerprint,
                               cache_dir=config.cache_dir, n_jobs=config.n_jobs, sample_ids=target.sample_ids)
                shared[key] = X[idx]
            blocks.append(shared[key])
        per_fold.append(_Scored(model.scores_of_features(np.hstack(blocks))))
    return ensemble_scores(per_fold, target.images[idx])


class _Scored:
    """A fold's scores already computed (so :func:`ensemble_scores` averages them as it averages any fold's)."""

    def __init__(self, scores: np.ndarray) -> None:
        self._scores = scores

    def scores(self, images: np.ndarray) -> np.ndarray:
        return self._scores


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
             "scored_by": (f"mean {_score_words(fold_models)} over {len(fold_models)} fold models"
                           if len(fold_models) > 1 else f"the model's {_score_words(fold_models)}")}
    return frame, facts


def _score_words(fold_models: dict) -> str:
    kinds = {getattr(m, "score_kind", "") for m in fold_models.values()}
    kind = kinds.pop() if len(kinds) == 1 else ""
    return {"decision": "decision values", "probability": "probabilities"}.get(kind, "scores")


def source_part(run_dir, predictions: pd.DataFrame, source: Dataset, protocol: Protocol) -> dict:
    """Keep the source's own test predictions (``source_predictions.csv``, with ``source_splits.csv``) and return
    their figures for ``metrics.json["source"]``: the in-domain score its protocol reports, for comparison."""
    cols = ["sample_id", "subject", protocol.column, "y_true", "y_pred"]
    predictions[cols + [c for c in predictions.columns if c not in cols]].to_csv(run_dir / SOURCE_PREDICTIONS,
                                                                                 index=False)
    protocol.assignments(source).to_csv(run_dir / SOURCE_SPLITS, index=False)
    return {"dataset": source.name, "protocol": protocol.name,
            **summarise(predictions, source.class_names, part_column=protocol.column,
                        **({"test_part": protocol.test_part} if protocol.test_part else {}))}
