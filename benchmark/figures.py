"""The figures of a run folder and of the report: confusion matrices and learning curves, as PNG and PDF."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import normalise_rows


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend (no display needed, same output everywhere)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def tight(fig) -> None:
    """``fig.tight_layout()`` without matplotlib's warning when a layout cannot fit (long names): the figure is
    written all the same, and the user sees no library warning in place of fer-bench's own lines."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()


def save_figure(fig, stem: Path) -> None:
    """Write ``stem.png`` and ``stem.pdf`` (without a creation date, so rebuilt PDFs are identical) and close. The
    suffix is appended, never substituted: a stem may hold a dot (a variant's ``l2-0.0001``)."""
    stem = Path(stem)
    for suffix in (".png", ".pdf"):
        fig.savefig(stem.with_name(stem.name + suffix), metadata={"CreationDate": None} if suffix == ".pdf" else None)
    pyplot().close(fig)


#: The text width of a 10 pt LaTeX article (345 pt), in inches: a confusion matrix is drawn at this width, so
#: included at ``\textwidth`` its text prints at the sizes below, never smaller.
TEXT_WIDTH_IN = 345 / 72.27
#: Font sizes (pt) of a confusion matrix at that width: cell numbers, class names and axis labels, title.
CELL_PT, LABEL_PT, TITLE_PT = 7.5, 8.0, 9.0


def confusion_figure(cm: np.ndarray, labels, title: str):
    """A figure of the row-normalised confusion matrix with counts, :data:`TEXT_WIDTH_IN` wide (square cells)."""
    plt = pyplot()

    width = TEXT_WIDTH_IN
    fig, ax = plt.subplots(figsize=(width, width * 0.86), dpi=150)
    im = draw_confusion_matrix(ax, cm, labels, title)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("row-normalised", fontsize=LABEL_PT)
    bar.ax.tick_params(labelsize=LABEL_PT)
    tight(fig)
    return fig


def plot_confusion_matrix(cm: np.ndarray, labels, title: str, stem: Path) -> None:
    """Row-normalised confusion matrix with counts, saved as ``stem.png`` and ``stem.pdf`` (one matrix per file,
    readable at ``\textwidth``: see :func:`confusion_figure`)."""
    save_figure(confusion_figure(cm, labels, title), stem)


def draw_confusion_matrix(ax, cm: np.ndarray, labels, title: str):
    """Draw the row-normalised matrix (with counts) on ``ax``, class names on both axes; returns the image."""
    norm = normalise_rows(cm)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({cm[i, j]})", ha="center", va="center", fontsize=CELL_PT,
                    linespacing=1.0, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=LABEL_PT)
    ax.set_yticks(range(len(labels)), labels, fontsize=LABEL_PT)
    ax.set_xlabel("predicted", fontsize=LABEL_PT)
    ax.set_ylabel("true", fontsize=LABEL_PT)
    ax.set_title(title, fontsize=TITLE_PT, wrap=True)
    return im


def selected_epoch(fold_history: pd.DataFrame) -> int | None:
    """The epoch whose weights training kept: the first with the lowest finite validation loss (the CNNs restore
    the best epoch on ``val_loss``, strictly better only); None without validation losses."""
    if "val_loss" not in fold_history:
        return None
    losses = pd.to_numeric(fold_history["val_loss"], errors="coerce").where(np.isfinite, np.nan)
    if losses.isna().all():
        return None
    return int(fold_history["epoch"].iloc[int(np.nanargmin(losses.to_numpy()))])


def learning_curves_figure(history: pd.DataFrame, title: str):
    """Loss and accuracy per epoch (train solid, validation dashed), one line pair per fold; whole-number epoch
    ticks, and each fold's selected epoch (:func:`selected_epoch`) marked on its validation curves."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120)
    groups = list(history.groupby("fold", sort=False)) if "fold" in history else [("", history)]
    for k, (name, g) in enumerate(groups):
        colour = plt.cm.tab10(k % 10)
        best = selected_epoch(g)
        for ax, metric in zip(axes, ("loss", "accuracy")):
            label = f"{name} " if len(groups) > 1 else ""
            ax.plot(g.epoch, g[metric], color=colour, lw=1, label=f"{label}train")
            if f"val_{metric}" in g:
                ax.plot(g.epoch, g[f"val_{metric}"], color=colour, lw=1, ls="--", label=f"{label}validation")
                if best is not None:
                    ax.plot([best], g.loc[g.epoch == best, f"val_{metric}"].iloc[:1], marker="*", ms=9,
                            color=colour, ls="none", gid="selected-epoch")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (incl. weight penalties)" if metric == "loss" else metric)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if len(groups) <= 2:
        axes[1].legend(fontsize=7)
    fig.suptitle(title + ("\nsolid: train, dashed: validation; one colour per fold" if len(groups) > 2 else "")
                 + "; star: the epoch kept (lowest validation loss)", fontsize=9)
    tight(fig)
    return fig


def plot_learning_curves(history: pd.DataFrame, title: str, stem: Path) -> None:
    """:func:`learning_curves_figure`, saved as ``stem.png`` and ``stem.pdf``."""
    save_figure(learning_curves_figure(history, title), stem)
