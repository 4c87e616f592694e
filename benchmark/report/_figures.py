"""The report's figures: each experiment's confusion matrix, CNN learning curves, and the best classical vs best
deep model side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..figures import draw_confusion_matrix, plot_confusion_matrix, plot_learning_curves, pyplot, save_figure
from ..record import HISTORY
from ._experiments import Experiment, best_of_each_kind
from ._names import dataset_slug, title_of


def write_figures(dataset: str, exps: list[Experiment], folder: Path) -> list:
    """Each experiment's confusion matrix (one per file) and learning curves, and the best of each kind side by
    side; returns their stems, the side-by-side one as (its stem, the stems of its two matrices)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    ds = dataset_slug(dataset)
    for exp in exps:
        run = exp.runs[0]
        cm = np.array(run.metrics["confusion_matrix"])
        stem = folder / f"{ds}_{exp.slug}_confusion"
        plot_confusion_matrix(cm, run.metrics["class_names"], f"{exp.label} [{exp.features}] on "
                              f"{title_of(dataset)}", stem)
        written.append(stem)
        history = run.path / HISTORY
        if history.is_file():
            stem = folder / f"{ds}_{exp.slug}_learning_curves"
            plot_learning_curves(pd.read_csv(history), f"{exp.label} on {title_of(dataset)}",
                                 stem)
            written.append(stem)
    pair = best_of_each_kind(exps)
    if pair is not None:
        a, b = pair
        stem = folder / f"{ds}_best_{a.kind}_vs_{b.kind}_confusion"
        _side_by_side(a, b, dataset, stem)
        # report.tex shows the pair as subfigures of the two matrices' own files (readable at \textwidth)
        written.append((stem, folder / f"{ds}_{a.slug}_confusion", folder / f"{ds}_{b.slug}_confusion"))
    return written


def _side_by_side(a: Experiment, b: Experiment, dataset: str, stem: Path) -> None:
    plt = pyplot()

    labels = a.runs[0].metrics["class_names"]
    size = 1.0 + 0.75 * len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5, size), dpi=120)
    for ax, exp in zip(axes, (a, b)):
        m = exp.runs[0].metrics
        draw_confusion_matrix(ax, np.array(m["confusion_matrix"]), labels,
                              f"{exp.label} [{exp.features}]: accuracy {100 * m['accuracy']:.1f}%")
    fig.suptitle(f"{title_of(dataset)}: best {a.kind} vs best {b.kind} (row-normalised)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, stem)
