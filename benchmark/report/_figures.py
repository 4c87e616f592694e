"""The report's figures: each experiment's confusion matrix, CNN learning curves, and the best classical vs best
deep model side by side; each returned with what it shows and what its caption cites (:class:`Figure`)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..kinds import KINDS
from ..figures import (draw_confusion_matrix, plot_confusion_matrix, plot_learning_curves, pyplot, save_figure,
                       tight)
from ..record import HISTORY
from ._experiment_tables import sources_of
from ._experiments import Experiment, best_of_each_kind
from ._names import dataset_slug, title_of


@dataclass(frozen=True)
class Figure:
    """A written figure: the stem of its ``.pdf`` and ``.png``, what it shows (plain text; report.tex puts the
    section's title before it) and the (what, citation keys) pairs its LaTeX caption cites. A side-by-side figure
    is shown in report.tex as its ``members``, the figures of its panels, each at the full text width."""

    stem: Path
    caption: str
    sources: tuple = ()
    members: tuple = ()


def write_figures(dataset: str, exps: list[Experiment], folder: Path) -> list[Figure]:
    """Each experiment's confusion matrix (one per file) and learning curves, and the best of each kind side by
    side (its members: the two matrices' own figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    written, matrices = [], {}
    ds = dataset_slug(dataset)
    for exp in exps:
        run = exp.runs[0]
        cm = np.array(run.metrics["confusion_matrix"])
        name = f"{exp.title} [{exp.features}]"
        sources = tuple(sources_of([exp]))
        stem = folder / f"{ds}_{exp.slug}_confusion"
        plot_confusion_matrix(cm, run.metrics["class_names"], f"{name} on {title_of(dataset)}", stem)
        matrices[exp.slug] = Figure(stem, f"row-normalised confusion matrix of {name}", sources)
        written.append(matrices[exp.slug])
        history = run.path / HISTORY
        if history.is_file():
            stem = folder / f"{ds}_{exp.slug}_learning_curves"
            plot_learning_curves(pd.read_csv(history), f"{exp.title} on {title_of(dataset)}", stem)
            written.append(Figure(stem, f"learning curves of {name} (loss includes weight penalties)", sources))
    pair = best_of_each_kind(exps)
    if pair is not None:
        a, b = pair
        stem = folder / f"{ds}_best_{a.kind}_vs_{b.kind}_confusion"
        _side_by_side(a, b, dataset, stem)
        # report.tex shows the pair as subfigures of the two matrices' own files (readable at \textwidth)
        written.append(Figure(stem, f"best {a.kind} vs best {b.kind} model, row-normalised confusion matrices",
                              tuple(sources_of([a, b])), (matrices[a.slug], matrices[b.slug])))
    return written


def _side_by_side(a: Experiment, b: Experiment, dataset: str, stem: Path) -> None:
    plt = pyplot()

    labels = a.runs[0].metrics["class_names"]
    size = 1.0 + 0.75 * len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1.5, size), dpi=120)
    for ax, exp in zip(axes, (a, b)):
        m = exp.runs[0].metrics
        draw_confusion_matrix(ax, np.array(m["confusion_matrix"]), labels,
                              f"{exp.title} [{exp.features}]: accuracy {100 * m['accuracy']:.1f}%")
    fig.suptitle(f"{title_of(dataset)}: best {a.kind} vs best {b.kind} (row-normalised)", fontsize=9)
    tight(fig)
    save_figure(fig, stem)


def write_summary_plots(dataset: str, summary, confidence, folder: Path) -> list[Figure]:
    """Two figures per section from its tables' own numbers (nothing recomputed): each experiment's accuracy with
    its 95% bootstrap interval (``confidence``, the confidence-interval table: one row per seed), and accuracy
    against training time (``summary``, the summary table: summed over folds, mean over seeds; log scale); each
    cites what its table cites."""
    plt = pyplot()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ds = dataset_slug(dataset)
    written = []
    intervals = confidence.raw if confidence is not None else []
    timings = summary.raw if summary is not None else []
    several_seeds = len({r.get("seed") for r in intervals}) > 1
    colour_of = dict(zip(KINDS, ("tab:blue", "tab:orange", "tab:green", "tab:purple")))  # by kind, registry order

    def label(row, seed=None):
        return (f"{row['display_name']} [{row['features']}]" + (f" ({row['variant']})" if row.get("variant") else "")
                + (f" s{seed}" if seed is not None and several_seeds else ""))

    if intervals:
        fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.32 * len(intervals)), dpi=150)
        for y, row in enumerate(reversed(intervals)):
            acc, low, high = (100 * row[k] for k in ("accuracy", "accuracy_ci_low", "accuracy_ci_high"))
            ax.errorbar(acc, y, xerr=[[acc - low], [high - acc]], fmt="o", ms=4, capsize=3,
                        color=colour_of.get(row.get("group"), "tab:gray"))
        # long variant names wrapped, so the axis leaves the plot its width
        ax.set_yticks(range(len(intervals)), [textwrap.fill(label(r, r.get("seed")), 48)
                                              for r in reversed(intervals)], fontsize=8)
        ax.set_xlabel("accuracy (%) with its 95% bootstrap interval", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{title_of(dataset)}: accuracy per experiment", fontsize=9)
        tight(fig)
        stem = folder / f"{ds}_accuracy_ci"
        save_figure(fig, stem)
        written.append(Figure(stem, "accuracy of each experiment with its 95% bootstrap interval (the "
                                    "confidence-interval table's)", tuple(confidence.sources)))
    timed = [r for r in timings if r.get("fit_seconds") is not None and r["fit_seconds"] == r["fit_seconds"]
             and r["fit_seconds"] > 0]
    if timed:
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=150)
        for row in timed:
            ax.scatter(row["fit_seconds"], 100 * row["accuracy"], color=colour_of.get(row.get("group"), "tab:gray"),
                       s=18)
            ax.annotate(label(row), (row["fit_seconds"], 100 * row["accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.margins(x=0.25, y=0.1)  # room for the labels beside the points
        ax.set_xlabel("training time (s, summed over folds, mean over seeds; log scale)", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(f"{title_of(dataset)}: accuracy against training time", fontsize=9)
        tight(fig)
        stem = folder / f"{ds}_accuracy_vs_time"
        save_figure(fig, stem)
        written.append(Figure(stem, "accuracy against training time (summed over folds, mean over seeds; log "
                                    "scale)", tuple(summary.sources)))
    return written
