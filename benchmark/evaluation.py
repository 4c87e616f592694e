"""The shared evaluation module: every model, classical or deep, is scored and written by these functions.

Scores are computed in :mod:`benchmark.metrics` (pure functions), figures drawn in :mod:`benchmark.figures`;
this module writes them into a run folder.

Given predictions (true and predicted class per sample, with the fold or split it was tested in), it computes
accuracy, balanced accuracy, macro-F1, scikit-learn's classification report and the confusion matrix (counts
and row-normalised), and writes them into a run folder. k-fold protocols get per-fold figures, mean and std over
folds and a pooled confusion matrix; the official FER2013 split reports PrivateTest, with PublicTest beside it
as the validation figure, and the accuracy on the PrivateTest images that have no pixel-identical copy in Training
or PublicTest (from predictions.csv's :data:`~benchmark.metrics.DUPLICATE_COLUMN`, which the protocol fills in).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report

from .figures import plot_confusion_matrix, plot_learning_curves
from .metrics import PREDICTION_COLUMNS, TEST_SPLIT, compute_metrics, normalise_rows, ordered_predictions, summarise

#: The shared evaluation module's public face: the scores (:mod:`benchmark.metrics`) and the writers below.
__all__ = ["compute_metrics", "normalise_rows", "summarise", "write_confusion_csvs", "write_evaluation",
           "write_history"]


def write_evaluation(run_dir: Path, predictions: pd.DataFrame, class_names, *, part_column: str,
                     header: dict, extra: dict | None = None, test_part: str = TEST_SPLIT) -> dict:
    """Write metrics.json, the classification report, the confusion matrix and predictions.csv; return metrics.

    ``header`` holds the run's identity (dataset, model, features, protocol, seed, best_params...) and goes
    first in ``metrics.json``; ``extra`` (timings, model sizes) goes last. ``test_part`` names the reported part
    where ``part_column`` is not ``"fold"`` (PrivateTest; ``target`` on a cross-dataset run).
    """
    run_dir = Path(run_dir)
    missing = [c for c in (*PREDICTION_COLUMNS, part_column) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}")
    metrics = {**header, **summarise(predictions, class_names, part_column=part_column, test_part=test_part),
               **(extra or {})}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")

    scored = predictions if part_column == "fold" else predictions[predictions[part_column] == test_part]
    labels = list(class_names)
    title = f"{header.get('model', '')} on {header.get('dataset', '')}"
    if header.get("test_dataset"):
        title = (f"{header.get('model', '')} trained on {header.get('dataset', '')}, scored on "
                 f"{header['test_dataset']}")
    text = classification_report(scored.y_true, scored.y_pred, labels=labels, digits=4, zero_division=0)
    scope = "pooled over folds" if part_column == "fold" else test_part
    (run_dir / "classification_report.txt").write_text(f"{title} ({scope})\n\n{text}")
    report = classification_report(scored.y_true, scored.y_pred, labels=labels, output_dict=True, zero_division=0)
    pd.DataFrame(_report_rows(report)).to_csv(run_dir / "classification_report.csv", index=False)

    cm = np.array(metrics["confusion_matrix"])
    write_confusion_csvs(run_dir, cm, labels)
    plot_confusion_matrix(cm, labels, f"{title} ({scope})", run_dir / "confusion_matrix")
    ordered_predictions(predictions, part_column).to_csv(run_dir / "predictions.csv", index=False)
    return metrics


def _report_rows(report: dict) -> list[dict]:
    rows = []
    for name, values in report.items():
        if isinstance(values, dict):
            rows.append({"class": name, "precision": values["precision"], "recall": values["recall"],
                         "f1": values["f1-score"], "support": int(values["support"])})
        else:  # "accuracy" is a bare float
            rows.append({"class": name, "precision": None, "recall": None, "f1": values, "support": None})
    return rows


def write_confusion_csvs(run_dir: Path, cm: np.ndarray, labels) -> None:
    """``confusion_matrix.csv`` (counts) and ``confusion_matrix_normalized.csv`` (rows sum to 1)."""
    index = pd.Index(labels, name="true \\ predicted")
    pd.DataFrame(cm, index=index, columns=labels).to_csv(run_dir / "confusion_matrix.csv")
    pd.DataFrame(normalise_rows(cm), index=index, columns=labels).round(6).to_csv(
        run_dir / "confusion_matrix_normalized.csv")


def write_history(run_dir: Path, history: pd.DataFrame, title: str) -> None:
    """``history.csv`` (loss and accuracy per epoch, train and validation, per fold) and the learning curves."""
    run_dir = Path(run_dir)
    history.to_csv(run_dir / "history.csv", index=False)
    plot_learning_curves(history, title, run_dir / "learning_curves")


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
