"""The shared evaluation module: every model, classical or deep, is scored and written by these functions.

Given predictions (true and predicted class per sample, with the fold or split it was tested in), it computes
accuracy, balanced accuracy, macro-F1, scikit-learn's classification report and the confusion matrix (counts
and row-normalised), and writes them into a run folder. k-fold protocols get per-fold figures, mean and std over
folds and a pooled confusion matrix; the official FER2013 split reports PrivateTest, with PublicTest beside it
as the validation figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

PREDICTION_COLUMNS = ("sample_id", "subject", "y_true", "y_pred")
SCORES = ("accuracy", "macro_f1", "balanced_accuracy")
TEST_SPLIT, VALIDATION_SPLIT = "PrivateTest", "PublicTest"


def accuracy(y_true, y_pred) -> float:
    """Share of exact matches; NaN for no predictions."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the classes present in y_true or y_pred (scikit-learn's default label set): a class absent
    from a small CK+ test fold, and never predicted, is not scored as F1 = 0. NaN for no predictions."""
    if not len(y_true):
        return float("nan")
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


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
        "macro_f1": macro_f1(y_true, y_pred),
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


def summarise(predictions: pd.DataFrame, class_names, *, part_column: str) -> dict:
    """The figures of ``metrics.json`` (without the run's header) for a predictions table.

    ``part_column`` is ``"fold"`` (k-fold: mean and std over folds, pooled matrix) or ``"split"`` (official
    split: PrivateTest is the headline, PublicTest the validation figure).
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
    test = predictions[predictions[part_column] == TEST_SPLIT]
    val = predictions[predictions[part_column] == VALIDATION_SPLIT]
    headline = compute_metrics(test.y_true, test.y_pred, class_names)
    out = {**_scores(headline), "accuracy_std": None, "n_test": headline["n"], "test_split": TEST_SPLIT,
           "per_class": headline["per_class"], "confusion_matrix": headline["confusion_matrix"],
           "class_names": list(class_names)}
    if len(val):
        out["validation"] = {"split": VALIDATION_SPLIT, **_scores(compute_metrics(val.y_true, val.y_pred,
                                                                                  class_names))}
    return out


def _scores(m: dict) -> dict:
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "balanced_accuracy": m["balanced_accuracy"],
            "n": m["n"]}


def write_evaluation(run_dir: Path, predictions: pd.DataFrame, class_names, *, part_column: str,
                     header: dict, extra: dict | None = None) -> dict:
    """Write metrics.json, the classification report, the confusion matrix and predictions.csv; return metrics.

    ``header`` holds the run's identity (dataset, model, features, protocol, seed, best_params...) and goes
    first in ``metrics.json``; ``extra`` (timings, model sizes) goes last.
    """
    run_dir = Path(run_dir)
    missing = [c for c in (*PREDICTION_COLUMNS, part_column) if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lack columns {missing}")
    metrics = {**header, **summarise(predictions, class_names, part_column=part_column), **(extra or {})}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_json_default) + "\n")

    scored = predictions if part_column == "fold" else predictions[predictions[part_column] == TEST_SPLIT]
    labels = list(class_names)
    title = f"{header.get('model', '')} on {header.get('dataset', '')}"
    text = classification_report(scored.y_true, scored.y_pred, labels=labels, digits=4, zero_division=0)
    scope = "pooled over folds" if part_column == "fold" else TEST_SPLIT
    (run_dir / "classification_report.txt").write_text(f"{title} ({scope})\n\n{text}")
    report = classification_report(scored.y_true, scored.y_pred, labels=labels, output_dict=True, zero_division=0)
    pd.DataFrame(_report_rows(report)).to_csv(run_dir / "classification_report.csv", index=False)

    cm = np.array(metrics["confusion_matrix"])
    write_confusion_csvs(run_dir, cm, labels)
    plot_confusion_matrix(cm, labels, f"{title} ({scope})", run_dir / "confusion_matrix")
    cols = ["sample_id", "subject", part_column, "y_true", "y_pred"]
    predictions[cols + [c for c in predictions.columns if c not in cols]].to_csv(run_dir / "predictions.csv",
                                                                                 index=False)
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


def normalise_rows(cm: np.ndarray) -> np.ndarray:
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed, same output everywhere)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, stem: Path) -> None:
    """Write ``stem.png`` and ``stem.pdf`` (without a creation date, so rebuilt PDFs are identical) and close."""
    for suffix in (".png", ".pdf"):
        fig.savefig(Path(stem).with_suffix(suffix), metadata={"CreationDate": None} if suffix == ".pdf" else None)
    pyplot().close(fig)


def plot_confusion_matrix(cm: np.ndarray, labels, title: str, stem: Path) -> None:
    """Row-normalised confusion matrix with counts, saved as ``stem.png`` and ``stem.pdf``."""
    plt = pyplot()

    size = 1.0 + 0.75 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=120)
    im = draw_confusion_matrix(ax, cm, labels, title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="row-normalised")
    fig.tight_layout()
    save_figure(fig, stem)


def draw_confusion_matrix(ax, cm: np.ndarray, labels, title: str):
    """Draw the row-normalised matrix (with counts) on ``ax``, class names on both axes; returns the image."""
    norm = normalise_rows(cm)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return im


def write_history(run_dir: Path, history: pd.DataFrame, title: str) -> None:
    """``history.csv`` (loss and accuracy per epoch, train and validation, per fold) and the learning curves."""
    run_dir = Path(run_dir)
    history.to_csv(run_dir / "history.csv", index=False)
    plot_learning_curves(history, title, run_dir / "learning_curves")


def plot_learning_curves(history: pd.DataFrame, title: str, stem: Path) -> None:
    """Loss and accuracy per epoch (train solid, validation dashed), one line pair per fold."""
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    groups = list(history.groupby("fold", sort=False)) if "fold" in history else [("", history)]
    for k, (name, g) in enumerate(groups):
        colour = plt.cm.tab10(k % 10)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            label = f"{name} " if len(groups) > 1 else ""
            ax.plot(g.epoch, g[metric], color=colour, lw=1, label=f"{label}train")
            if f"val_{metric}" in g:
                ax.plot(g.epoch, g[f"val_{metric}"], color=colour, lw=1, ls="--", label=f"{label}validation")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (incl. weight penalties)" if metric == "loss" else metric)
        ax.grid(alpha=0.3)
    if len(groups) <= 2:
        axes[1].legend(fontsize=7)
    fig.suptitle(title + ("\nsolid: train, dashed: validation; one colour per fold" if len(groups) > 2 else ""),
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, stem)


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
