"""Building ``reports/tables``, ``reports/figures`` and ``reports/report.md``/``.tex`` from complete runs.

Only runs that pass every check are used: complete (:mod:`._collect`), self-consistent (:mod:`._verify`) and,
where an experiment and seed was run more than once, agreeing with its duplicates (:mod:`._duplicates`). Runs
of the same experiment (same dataset, model, features, options and platform) with different seeds are
aggregated as mean +/- std with n. Everything written is a function of the run folders only (no build time,
fixed bootstrap seed), so rebuilding from the same runs gives byte-identical tables; outputs are built in a
staging folder and swapped in at the end (:mod:`._output`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FerBenchError, WorkFailedError
from ..figures import draw_confusion_matrix, plot_confusion_matrix, plot_learning_curves, pyplot, save_figure
from . import _stats as st
from ._collect import Run, collect_runs, title_of
from ._document import write_documents
from ._duplicates import resolve_duplicates
from ._output import check_writable, staged
from ._tables import HEADING, HIDDEN, KEY, Column, Table, abbreviations, mark_best, variant_letters
from ._verify import verify_runs

KIND_TITLES = {"classical": "classical (SVM on hand-crafted features)", "deep": "deep (CNN on pixels)"}


@dataclass
class Experiment:
    """One experiment of the matrix: its runs, one per seed (sorted by seed)."""

    dataset: str
    model: str
    features: str
    kind: str
    options: dict
    runs: list[Run] = field(default_factory=list)
    variant: str = ""

    @property
    def label(self) -> str:
        return self.model + (f" ({self.variant})" if self.variant else "")

    @property
    def slug(self) -> str:
        text = f"{self.model}_{self.features}" + (f"_{self.variant}" if self.variant else "")
        return _slug(text)

    def values(self, key: str) -> np.ndarray:
        return np.array([_get(run.metrics, key) for run in self.runs], dtype=float)

    def summary(self, key: str) -> tuple[float, float | None]:
        """(mean, std): over seeds when there are several, else the run's own (k-fold: over folds)."""
        v = self.values(key)
        if len(v) > 1:
            return float(np.mean(v)), float(np.std(v, ddof=1))
        std = self.runs[0].metrics.get(f"{key}_std") if "." not in key else None
        return float(v[0]), std


def _get(metrics: dict, dotted: str):
    value = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return np.nan
        value = value[part]
    return np.nan if value is None else value


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def dataset_slug(section: str) -> str:
    """File-name form of a report section: "ck+" -> "ckplus", "ck+ (5-fold)" -> "ckplus-5-fold"."""
    return _slug(section.replace("ck+", "ckplus"))


def group_experiments(runs: list[Run]) -> dict[str, list[Experiment]]:
    """Experiments per dataset, classical first, in registry order; variants named by the options that differ.

    ``runs`` hold one run per experiment and seed (:func:`resolve_duplicates` sees to that).
    """
    from models import list_models

    order = {spec.name: k for k, spec in enumerate(list_models())}
    experiments: dict[tuple, Experiment] = {}
    for run in runs:
        m = run.metrics
        exp = experiments.setdefault(run.experiment_key(), Experiment(m["dataset"], m["model"], m["features"],
                                                                      run.kind, run.options()))
        exp.runs.append(run)
    by_dataset: dict[str, list[Experiment]] = {}
    for exp in experiments.values():
        exp.runs.sort(key=lambda r: r.metrics["seed"])
        by_dataset.setdefault(exp.dataset, []).append(exp)
    by_dataset = _split_by_folds(by_dataset)
    for exps in by_dataset.values():
        _name_variants(exps)
        exps.sort(key=lambda e: (e.kind != "classical", order.get(e.model, 999), e.features, e.variant))
    return dict(sorted(by_dataset.items()))


def _split_by_folds(by_dataset: dict[str, list[Experiment]]) -> dict[str, list[Experiment]]:
    """k-fold results with different numbers of folds are not comparable: each fold count gets its own section
    (e.g. "synthetic (5-fold)"), so no table bolds a 3-fold figure against a 10-fold one."""
    out = {}
    for dataset, exps in by_dataset.items():
        counts = sorted({e.options.get("folds") for e in exps}, key=str)
        if len(counts) < 2:
            out[dataset] = exps
            continue
        for k in counts:
            out[f"{dataset} ({k}-fold)"] = [e for e in exps if e.options.get("folds") == k]
    return out


def _name_variants(exps: list[Experiment]) -> None:
    """Experiments sharing model and features are told apart by the options whose values differ."""
    by_name: dict[tuple, list[Experiment]] = {}
    for exp in exps:
        by_name.setdefault((exp.model, exp.features), []).append(exp)
    for same in by_name.values():
        if len(same) < 2:
            continue
        keys = sorted(k for k in set().union(*(e.options for e in same))
                      if len({json.dumps(e.options.get(k), default=str) for e in same}) > 1)
        for exp in same:
            exp.variant = ", ".join(f"{k}={exp.options.get(k)}" for k in keys)


def _pct(value: float, std: float | None = None) -> str:
    if value is None or value != value:
        return ""
    return f"{100 * value:.1f}" + (f" ± {100 * std:.1f}" if std is not None and std == std else "")


def _size(exp: Experiment) -> str:
    run = exp.runs[0].metrics
    if run.get("n_params"):
        return f"{int(run['n_params']):,} params"
    svs = [v for r in exp.runs for v in (r.metrics.get("n_support_vectors") or {}).values() if v is not None]
    return f"{np.mean(svs):,.0f} SVs" if svs else ""


def _fill_grouped(table: Table, exps: list[Experiment], make_row) -> dict:
    """Add one row per experiment, grouped classical / deep; ``make_row(exp)`` gives the cells after model and
    features, the raw CSV values and the numbers to compare per column. Returns those numbers by cell."""
    values = {}
    for g, kind in enumerate(k for k in ("classical", "deep") if any(e.kind == k for e in exps)):
        rows = []
        for r, exp in enumerate(e for e in exps if e.kind == kind):
            cells, raw, scores = make_row(exp)
            rows.append([exp.label, exp.features, *cells])
            table.raw.append({"group": kind, "model": exp.model, "features": exp.features, "variant": exp.variant,
                              **raw})
            values.update({(g, r, c): v for c, v in scores.items()})
        table.groups.append((KIND_TITLES[kind], rows))
    return values


#: The row label of the experiment tables: in LaTeX the model (variants marked by a letter), with its features
#: as sub-headings over the rows, since "svm-rbf (svm_backend=onedal)" beside "hog+landmark-distances" would
#: not leave room for the scores.
ROW_LABELS = [Column("Model", "l", tex=KEY), Column("Features", "l", tex=HEADING)]


def _mark_variants(table: Table, exps: list[Experiment], marked: list[Experiment] | None = None) -> None:
    """Mark the variants among ``marked`` (default: all ``exps``) in ``table``: a variant has the same letter in
    every table of its dataset."""
    letters = variant_letters(exp.variant for exp in exps if exp.variant)
    for exp in exps if marked is None else marked:
        if exp.variant:
            table.mark(exp.label, exp.model, letters[exp.variant], exp.variant)


def summary_table(dataset: str, exps: list[Experiment]) -> Table:
    """Scores per experiment, with spread and seeds; in LaTeX the size and training time make a second float
    (``-cost``), as both beside three or four "mean ± std" columns would not fit the text width."""
    official = exps[0].runs[0].metrics["protocol"] == "official-split"
    scores = [("accuracy", Column("Accuracy (%)", short="Acc.", means="accuracy (%)")),
              ("macro_f1", Column("Macro-F1 (%)", short="Macro-F1", means="macro-F1 (%)")),
              ("balanced_accuracy", Column("Bal. acc. (%)", short="Bal. acc.", means="balanced accuracy (%)"))]
    if official:
        scores.append(("validation.accuracy", Column("PublicTest acc. (%)", short="PublicTest",
                                                     means="accuracy on PublicTest (%)")))
    columns = [*ROW_LABELS, *[column for _, column in scores], Column("± over", tex=HIDDEN),
               Column("Size (params / mean SVs)", tex="cost"), Column("Train time (s)", tex="cost"),
               Column("Seeds", short="n", means="seeds")]
    table = Table(f"{dataset_slug(dataset)}_summary", _summary_caption(dataset, exps), columns,
                  floats={"cost": f"{title_of(dataset)}: size (parameters of a CNN, support vectors of an SVM, "
                                  f"mean over folds and seeds) and training time (mean over seeds) of the "
                                  f"experiments in the summary table."})

    def row(exp: Experiment):
        cells, compared = [], {}
        raw = {"n_seeds": len(exp.runs), "runs": " ".join(run.run_id for run in exp.runs)}
        for c, (key, _) in enumerate(scores, start=2):
            mean, std = exp.summary(key)
            cells.append(_pct(mean, std if key != "validation.accuracy" else None))
            compared[c] = mean
            raw.update({key: mean, f"{key}_std": std})
        seconds = np.nanmean(exp.values("fit_seconds"))
        spread = ("seeds" if len(exp.runs) > 1 else
                  f"{len(exp.runs[0].metrics.get('folds', {}))} folds" if exp.runs[0].metrics.get("folds") else "")
        cells += [spread, _size(exp), f"{seconds:.0f}" if seconds == seconds else "", str(len(exp.runs))]
        raw["std_over"] = spread
        raw.update({"size": _size(exp), "fit_seconds": seconds})
        return cells, raw, compared

    mark_best(table, list(range(2, 2 + len(scores))), _fill_grouped(table, exps, row))
    _mark_variants(table, exps)
    return table


def _summary_caption(dataset: str, exps: list[Experiment]) -> str:
    run = exps[0].runs[0]
    if run.metrics["protocol"] == "official-split":
        if all(r.official_split for e in exps for r in e.runs):
            how = "official split: trained on Training, selected on PublicTest, PrivateTest reported"
        else:
            how = ("trained on Training, selected on PublicTest, PrivateTest reported; NOT the official split: the "
                   "test images had no split prefixes and were halved at random (seeded)")
    else:
        folds = sorted({len(r.metrics.get("folds", {})) for e in exps for r in e.runs})
        how = f"subject-independent {'/'.join(map(str, folds))}-fold cross-validation, mean ± std over folds"
    multi = any(len(e.runs) > 1 for e in exps)
    return (f"{title_of(dataset)}: classical vs deep models ({how}"
            + ("; rows with several seeds give mean ± std over seeds" if multi else "")
            + "). Best per column in bold.")


def per_class_table(dataset: str, exps: list[Experiment]) -> Table:
    """Per-class F1; in LaTeX the classes are headed by short names ("Sur" for surprise) with a legend."""
    classes = list(exps[0].runs[0].metrics["class_names"])
    table = Table(f"{dataset_slug(dataset)}_per_class_f1",
                  f"{title_of(dataset)}: per-class F1 (%) on the reported test images "
                  f"(pooled over folds for k-fold; mean over seeds). Best per class in bold.",
                  [*ROW_LABELS, *[Column(name, short=short, means=name)
                                  for name, short in zip(classes, abbreviations(classes))]])

    def row(exp: Experiment):
        f1 = {name: float(np.nanmean(exp.values(f"per_class.{name}.f1"))) for name in classes}
        return [_pct(v) for v in f1.values()], f1, dict(enumerate(f1.values(), start=2))

    mark_best(table, list(range(2, 2 + len(classes))), _fill_grouped(table, exps, row))
    _mark_variants(table, exps)
    return table


def confidence_table(dataset: str, exps: list[Experiment]) -> Table:
    clustered = exps[0].runs[0].metrics["protocol"] == "subject-kfold"
    table = Table(f"{dataset_slug(dataset)}_confidence_intervals",
                  f"{title_of(dataset)}: 95% bootstrap confidence intervals "
                  f"({st.BOOTSTRAP_SAMPLES} resamples of the "
                  + ("subjects; figures on all test predictions pooled over folds, so they differ slightly from the "
                     "mean over folds of the summary table" if clustered else "PrivateTest images")
                  + f", seed {st.BOOTSTRAP_SEED}; first seed of each experiment).",
                  [*ROW_LABELS, Column("Seed"),
                   Column(f"{'Pooled a' if clustered else 'A'}ccuracy (%) [95% CI]", short="Accuracy (%)"),
                   Column(f"{'Pooled m' if clustered else 'M'}acro-F1 (%) [95% CI]", short="Macro-F1 (%)")])

    def row(exp: Experiment):
        run = exp.runs[0]
        test = run.test_predictions()
        clusters = test.subject.to_numpy() if clustered and "subject" in test else None
        cells, raw = [str(run.metrics["seed"])], {"seed": run.metrics["seed"], "run": run.run_id}
        for name, score in (("accuracy", st.accuracy), ("macro_f1", st.macro_f1)):
            point = score(test.y_true, test.y_pred)
            lo, hi = st.bootstrap_ci(test.y_true.to_numpy(), test.y_pred.to_numpy(), score, clusters=clusters)
            cells.append(f"{100 * point:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]")
            raw.update({name: point, f"{name}_ci_low": lo, f"{name}_ci_high": hi})
        return cells, raw, {}

    _fill_grouped(table, exps, row)
    _mark_variants(table, exps)
    return table


def best(exps: list[Experiment], kind: str) -> Experiment | None:
    """The best experiment of a kind: by PublicTest (validation) accuracy on the official split, so the test
    images that the paired test uses play no part in choosing the pair; by mean accuracy over folds on k-fold
    protocols, which have no held-out set (the significance caption says the choice is post hoc)."""
    candidates = [e for e in exps if e.kind == kind]
    if not candidates:
        return None
    key = "validation.accuracy" if candidates[0].runs[0].metrics["protocol"] == "official-split" else "accuracy"
    return max(candidates, key=lambda e: (np.nan_to_num(e.summary(key)[0], nan=-1.0), e.label))


def tests_table(dataset: str, exps: list[Experiment]) -> Table | None:
    """Best classical vs best deep: exact McNemar on FER2013, paired fold tests on k-fold; None if not paired."""
    a, b = best(exps, "classical"), best(exps, "deep")
    if a is None or b is None:
        return None
    seeds = sorted({r.metrics["seed"] for r in a.runs} & {r.metrics["seed"] for r in b.runs})
    if not seeds:
        return None
    ra = next(r for r in a.runs if r.metrics["seed"] == seeds[0])
    rb = next(r for r in b.runs if r.metrics["seed"] == seeds[0])
    comparison = f"{a.label} [{a.features}] vs {b.label}"
    chosen = ("chosen by PublicTest accuracy" if ra.metrics["protocol"] == "official-split"
              else "chosen post hoc by mean test accuracy over folds, so p-values are optimistic")
    table = Table(f"{dataset_slug(dataset)}_significance",
                  f"{title_of(dataset)}: best classical vs best deep model ({chosen}; "
                  f"seed {seeds[0]}), paired tests on the same test images.",
                  [Column("Comparison", "l", tex=HEADING), Column("Test", "l"), Column("Statistic"),
                   Column("p-value"), Column("n")])
    _mark_variants(table, exps, [a, b])
    rows = []
    if ra.metrics["protocol"] == "official-split":
        ta, tb = ra.test_predictions(), rb.test_predictions()
        merged = ta.merge(tb, on="sample_id", suffixes=("_a", "_b"))
        if len(merged) != len(ta) or len(merged) != len(tb):
            return None
        res = st.mcnemar_exact(merged.y_true_a == merged.y_pred_a, merged.y_true_b == merged.y_pred_b)
        rows.append([comparison, f"exact McNemar (b={res['b']}, c={res['c']})", str(res["statistic"]),
                     _p(res["p_value"]), str(len(merged))])
        table.raw.append({"comparison": comparison, "test": "mcnemar_exact", **res, "n": len(merged)})
    else:
        if ra.manifest["protocol"]["fingerprint"] != rb.manifest["protocol"]["fingerprint"]:
            return None
        folds = list(ra.metrics["folds"])
        acc_a = [ra.metrics["folds"][f]["accuracy"] for f in folds]
        acc_b = [rb.metrics["folds"][f]["accuracy"] for f in folds]
        sizes = ra.manifest["protocol"]["sizes"]
        n_train = float(np.mean([s["train"] for s in sizes.values()]))
        n_test = float(np.mean([s["test"] for s in sizes.values()]))
        t = st.corrected_resampled_ttest(acc_a, acc_b, n_train=n_train, n_test=n_test)
        w = st.wilcoxon_signed_rank(acc_a, acc_b)
        rows.append([comparison, f"corrected resampled t-test (df={t['df']})", f"{t['statistic']:.3f}",
                     _p(t["p_value"]), str(len(folds))])
        rows.append([comparison, "Wilcoxon signed-rank", f"{w['statistic']:.1f}", _p(w["p_value"]),
                     str(len(folds))])
        table.raw += [{"comparison": comparison, "test": "corrected_resampled_ttest", **t, "n": len(folds)},
                      {"comparison": comparison, "test": "wilcoxon", **w, "n": len(folds)}]
    table.groups.append(("", rows))
    return table


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def write_figures(dataset: str, exps: list[Experiment], folder: Path) -> list[Path]:
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
        history = run.path / "history.csv"
        if history.is_file():
            stem = folder / f"{ds}_{exp.slug}_learning_curves"
            plot_learning_curves(pd.read_csv(history), f"{exp.label} on {title_of(dataset)}",
                                 stem)
            written.append(stem)
    a, b = best(exps, "classical"), best(exps, "deep")
    if a and b:
        stem = folder / f"{ds}_best_classical_vs_deep_confusion"
        _side_by_side(a, b, dataset, stem)
        written.append(stem)
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
    fig.suptitle(f"{title_of(dataset)}: best classical vs best deep (row-normalised)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, stem)


def build_report(reports_dir: Path) -> dict:
    """Write tables, figures and report.md/.tex from every usable run under ``reports_dir/runs``.

    Raises :class:`FerBenchError` (exit 2) when the outputs cannot be written there, checked before any work;
    :class:`WorkFailedError` (exit 1) when no run is usable or writing fails. Returns ``runs`` (how many were
    used), ``skipped`` and ``inconsistent`` ((run id, reason) pairs), ``duplicates`` ((run id not used, run id used
    in its place) pairs), ``conflicting`` (lists of run ids that disagree, none used), ``warnings`` (one line each,
    for the console), ``datasets`` (report sections), and the ``tables``/``figures`` folders and ``report`` path.
    """
    reports_dir = Path(reports_dir)
    runs_dir = reports_dir / "runs"
    if reports_dir.exists() and not reports_dir.is_dir():
        raise FerBenchError(f"--reports-dir {reports_dir} is a file, expected the folder holding runs/")
    if runs_dir.exists() and not runs_dir.is_dir():
        raise FerBenchError(f"{runs_dir} is a file, expected the folder of run folders")
    if runs_dir.is_dir():
        check_writable(reports_dir)
    runs, skipped = collect_runs(runs_dir)
    runs, inconsistent = verify_runs(runs)
    duplicates = resolve_duplicates(runs)
    if not duplicates.runs:
        raise WorkFailedError(_no_runs(runs_dir, skipped, inconsistent, duplicates.conflicting))
    by_dataset = group_experiments(duplicates.runs)
    with staged(reports_dir) as stage:
        sections = []
        for dataset, exps in by_dataset.items():
            tables = [summary_table(dataset, exps), per_class_table(dataset, exps), confidence_table(dataset, exps)]
            significance = tests_table(dataset, exps)
            if significance is not None:
                tables.append(significance)
            for table in tables:
                table.write(stage / "tables")
            figures = write_figures(dataset, exps, stage / "figures")
            sections.append((dataset, exps, tables, figures, significance is None))
        write_documents(stage, duplicates.runs, sections, unused=_unused(skipped, inconsistent, duplicates),
                        warnings=duplicates.warnings, n_inconsistent=len(inconsistent))
    return {"runs": len(duplicates.runs), "skipped": skipped, "inconsistent": inconsistent,
            "duplicates": duplicates.identical, "conflicting": duplicates.conflicting,
            "warnings": duplicates.warnings, "datasets": list(by_dataset), "tables": reports_dir / "tables",
            "figures": reports_dir / "figures", "report": reports_dir / "report.md"}


def _unused(skipped, inconsistent, duplicates) -> list[tuple[str, str]]:
    """Every run folder the report did not use, with the reason, sorted by name (for "Runs not used")."""
    return sorted(skipped + [(name, f"inconsistent: {reason}") for name, reason in inconsistent]
                  + [(name, "disagreeing duplicate (see Warnings), not used")
                     for group in duplicates.conflicting for name in group]
                  + [(name, f"same predictions as {kept}, counted once") for name, kept in duplicates.identical])


def _no_runs(runs_dir: Path, skipped, inconsistent, conflicting) -> str:
    """The one line saying there is nothing to report, what was set aside (with the first reason), and how to
    make runs."""
    left_out = [f"{n} {what}" for n, what in ((len(skipped), "skipped"), (len(inconsistent), "inconsistent"),
                                             (sum(map(len, conflicting)), "disagreeing duplicates")) if n]
    first = next(iter(inconsistent + skipped), None)
    example = f", e.g. {first[0]}: {first[1]}" if first else ""
    return (f"no complete runs usable under {runs_dir}" + (f" ({', '.join(left_out)}{example})" if left_out else "")
            + "; create some with 'fer-bench run --dataset synthetic --model svm-rbf', 'fer-bench suite "
              "suites/demo.toml' or 'make demo'")
