"""Scores of predictions: accuracy, macro-F1, balanced accuracy, per-class figures and confusion counts.

Pure functions of labels and predictions (no files): the run folders' ``metrics.json`` and the report's check of
a run (recomputing them from ``predictions.csv``) call the same code, so a figure has one definition.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

PREDICTION_COLUMNS = ("sample_id", "subject", "y_true", "y_pred")
SCORES = ("accuracy", "macro_f1", "balanced_accuracy")
TEST_SPLIT, VALIDATION_SPLIT = "PrivateTest", "PublicTest"
#: predictions.csv's per-row flag on protocols with a held-out test part beside the parts models fit and select on
#: (the official split): True where the image has a pixel-identical copy among the images the models were fitted
#: or selected on (a PrivateTest image: in Training or PublicTest; a PublicTest image: in Training).
DUPLICATE_COLUMN = "duplicate_in_training_or_validation"
#: The metrics.json figures computed from it over the test part: accuracy on the test images without such a copy,
#: how many were scored, and how many were left out for having one.
WITHOUT_DUPLICATES = ("accuracy_without_cross_split_duplicates", "n_scored_without_duplicates",
                      "n_cross_split_duplicates")


def ordered_predictions(predictions: pd.DataFrame, part_column: str) -> pd.DataFrame:
    """A predictions table in the column order its file is written in: identity, part, truth, prediction, the
    duplicate flag where the protocol marks one, then the per-class scores and anything else."""
    first = ["sample_id", "subject", part_column, "y_true", "y_pred",
             *[c for c in (DUPLICATE_COLUMN,) if c in predictions.columns]]
    return predictions[first + [c for c in predictions.columns if c not in first]]


def accuracy(y_true, y_pred) -> float:
    """Share of exact matches; NaN for no predictions."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def macro_f1(y_true, y_pred, labels=None) -> float:
    """Macro-F1 over the classes present in y_true or y_pred: a class absent from a small CK+ test fold, and
    never predicted, is not scored as F1 = 0. ``labels`` gives the class order to average in (run folders use
    the dataset's); NaN for no predictions."""
    if not len(y_true):
        return float("nan")
    present = set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist())
    order = [c for c in labels if c in present] if labels is not None else None
    return float(f1_score(y_true, y_pred, labels=order, average="macro", zero_division=0))


def compute_metrics(y_true, y_pred, class_names) -> dict:
    """Headline scores, per-class report and confusion counts for label arrays (ints or class names)."""
    labels = list(class_names)
    y_true, y_pred = _as_names(y_true, labels), _as_names(y_pred, labels)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(len(labels)), where=support > 0)
    report = classification_report(y_true, y_pred, labels=labels, output_dict=True, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred, labels),
        # mean recall over the classes present: sklearn's definition, without its warning on absent classes
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else float("nan"),
        "per_class": {c: {"precision": report[c]["precision"], "recall": report[c]["recall"],
                          "f1": report[c]["f1-score"], "support": int(report[c]["support"])} for c in labels},
        "confusion_matrix": cm.tolist(),
    }


def _as_names(y, labels) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        return np.asarray(labels, dtype=object)[y]
    return y.astype(object)


def summarise(predictions: pd.DataFrame, class_names, *, part_column: str, test_part: str = TEST_SPLIT) -> dict:
    """The figures of ``metrics.json`` (without the run's header) for a predictions table.

    ``part_column`` is ``"fold"`` (k-fold: mean and std over folds, pooled matrix) or another column whose
    ``test_part`` rows are the headline: PrivateTest on the official split (with PublicTest as the validation
    figure), ``target`` on a cross-dataset run. Where the table has a :data:`DUPLICATE_COLUMN`, the
    :data:`WITHOUT_DUPLICATES` figures of the test rows follow ``test_split`` (runs recorded before it have none).
    """
    if part_column == "fold":
        per_fold = {str(name): _scores(compute_metrics(g.y_true, g.y_pred, class_names))
                    for name, g in predictions.groupby(part_column, sort=False)}
        pooled = compute_metrics(predictions.y_true, predictions.y_pred, class_names)
        out = {}
        for key in SCORES:
            values = np.array([f[key] for f in per_fold.values()])
            out[key] = float(values.mean())
            out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        return {**out, "n_test": pooled["n"], "folds": per_fold, "pooled": _scores(pooled),
                "per_class": pooled["per_class"], "confusion_matrix": pooled["confusion_matrix"],
                "class_names": list(class_names)}
    test = predictions[predictions[part_column] == test_part]
    val = predictions[predictions[part_column] == VALIDATION_SPLIT]
    headline = compute_metrics(test.y_true, test.y_pred, class_names)
    marked = without_duplicates(test) if DUPLICATE_COLUMN in predictions.columns else {}
    out = {**_scores(headline), "accuracy_std": None, "n_test": headline["n"], "test_split": test_part, **marked,
           "per_class": headline["per_class"], "confusion_matrix": headline["confusion_matrix"],
           "class_names": list(class_names)}
    if len(val):
        out["validation"] = {"split": VALIDATION_SPLIT, **_scores(compute_metrics(val.y_true, val.y_pred,
                                                                                  class_names))}
    return out


def without_duplicates(test: pd.DataFrame) -> dict:
    """The :data:`WITHOUT_DUPLICATES` figures of the test rows of a predictions table with a
    :data:`DUPLICATE_COLUMN`: accuracy over the rows not flagged (NaN where every row is), their number and the
    number flagged."""
    flagged = duplicate_flags(test[DUPLICATE_COLUMN])
    kept = test[~flagged]
    accuracy_kept, n_kept, n_flagged = WITHOUT_DUPLICATES
    return {accuracy_kept: accuracy(kept.y_true, kept.y_pred), n_kept: int(len(kept)), n_flagged: int(flagged.sum())}


def duplicate_flags(column: pd.Series) -> np.ndarray:
    """:data:`DUPLICATE_COLUMN` as booleans: as written (True/False, which pandas reads back as bool) or as text;
    anything else is a ValueError naming the value."""
    if column.dtype == bool:
        return column.to_numpy()
    text = column.astype(str).str.strip().str.lower()
    bad = text[~text.isin(("true", "false"))]
    if len(bad):
        raise ValueError(f"{DUPLICATE_COLUMN} holds {column[bad.index[0]]!r}, expected True or False")
    return (text == "true").to_numpy()


def _scores(m: dict) -> dict:
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "balanced_accuracy": m["balanced_accuracy"],
            "n": m["n"]}


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)
