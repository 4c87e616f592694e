"""The report's tables of experiments: summary, per-class F1, bootstrap confidence intervals and the paired
test of the best classical against the best deep model. What depends on the protocol (a validation column, how
intervals resample, which paired test) is asked of the runs' protocol class."""

from __future__ import annotations

import math

import numpy as np

from .. import metrics
from ..kinds import KINDS
from . import _stats as st
from ._experiments import Experiment, best_of_each_kind, machine_of, run_platform
from ._names import dataset_slug, title_of
from ._references import BOOTSTRAP_SOURCES, caption_sources, test_keys
from ._tables import HEADING, HIDDEN, KEY, Column, Table, abbreviations, mark_best, variant_letters


def pct(value: float, std: float | None = None) -> str:
    if value is None or value != value:
        return ""
    return f"{100 * value:.1f}" + (f" ± {100 * std:.1f}" if std is not None and std == std else "")


def _size(exp: Experiment) -> str:
    params, svs = _size_numbers(exp)  # the kind's group heading and the header say which
    if params is not None:
        return f"{params:,}"
    return f"{svs:,.0f}" if svs is not None else ""


def _size_numbers(exp: Experiment) -> tuple[int | None, float | None]:
    """A CNN's parameter count, or an SVM's support vectors (mean over folds and seeds); None where not one."""
    run = exp.runs[0].metrics
    if run.get("n_params"):
        return int(run["n_params"]), None
    svs = [v for r in exp.runs for v in (r.metrics.get("n_support_vectors") or {}).values() if v is not None]
    return None, (float(np.mean(svs)) if svs else None)


def sources_of(exps: list[Experiment], *extra: tuple[str, list[str]]) -> list[tuple[str, tuple[str, ...]]]:
    """What a caption showing ``exps`` cites (:func:`caption_sources`): the data, features and models of their runs,
    then ``extra`` groups."""
    return caption_sources([run for exp in exps for run in exp.runs], *extra)


def fill_grouped(table: Table, exps: list[Experiment], make_row) -> dict:
    """Add one row per experiment, grouped classical / deep, named as a reader knows the model (its
    ``display_name``; the CSV keeps the command-line name beside it); ``make_row(exp)`` gives the cells after model
    and features, the raw CSV values and the numbers to compare per column. Returns those numbers by cell."""
    values = {}
    for g, kind in enumerate(k for k in KINDS if any(e.kind == k for e in exps)):
        rows = []
        for r, exp in enumerate(e for e in exps if e.kind == kind):
            cells, raw, scores = make_row(exp)
            rows.append([exp.title, exp.features, *cells])
            table.raw.append({"group": kind, "model": exp.model, "display_name": exp.display_name,
                              "features": exp.features, "variant": exp.variant, **raw})
            values.update({(g, r, c): v for c, v in scores.items()})
        table.groups.append((KINDS[kind].title, rows))
    return values


#: The row label of the experiment tables: in LaTeX the model (variants marked by a letter), with its features
#: as sub-headings over the rows, since "svm-rbf (svm_backend=onedal)" beside "hog+landmark-distances" would
#: not leave room for the scores.
ROW_LABELS = [Column("Model", "l", tex=KEY), Column("Features", "l", tex=HEADING)]


def mark_variants(table: Table, exps: list[Experiment], marked: list[Experiment] | None = None) -> None:
    """Mark the variants among ``marked`` (default: all ``exps``) in ``table``: a variant has the same letter in
    every table of its dataset."""
    letters = variant_letters(exp.variant for exp in exps if exp.variant)
    for exp in exps if marked is None else marked:
        if exp.variant:
            table.mark(exp.title, exp.display_name, letters[exp.variant], exp.variant)


def summary_table(dataset: str, exps: list[Experiment]) -> Table:
    """Scores per experiment, with spread and seeds; in LaTeX the size and training time make a second float
    (``-cost``), as both beside three or four "mean ± std" columns would not fit the text width."""
    validation = exps[0].runs[0].protocol.validation_split
    scores = [("accuracy", Column("Accuracy (%)", short="Acc.", means="accuracy (%)")),
              ("macro_f1", Column("Macro-F1 (%)", short="Macro-F1", means="macro-F1 (%)")),
              ("balanced_accuracy", Column("Bal. acc. (%)", short="Bal. acc.", means="balanced accuracy (%)"))]
    if validation:
        scores.append(("validation.accuracy", Column(f"{validation} acc. (%)", short=validation,
                                                     means=f"accuracy on {validation} (%)")))
    columns = [*ROW_LABELS, *[column for _, column in scores], Column("± over", tex=HIDDEN),
               Column("Size (params / mean SVs)", short="Size", tex="cost"),
               Column("Selection (s, sum over folds)", short="Sel. (s)", tex="cost"),
               Column("Fit per fold (s)", short="Fit (s)", tex="cost"),
               Column("Inference (ms/image)", short="Inf. (ms)", tex="cost"),
               Column("Ran on", tex="cost"), Column("Seeds", short="n", means="seeds")]
    table = Table(f"{dataset_slug(dataset)}_summary", _summary_caption(dataset, exps), columns,
                  floats={"cost": f"{title_of(dataset)}: cost of the experiments in the summary table, mean over "
                                  f"seeds. Size: parameters of a CNN, support vectors of an SVM (mean over folds). "
                                  f"Sel.: the hyperparameter search, summed over folds (an SVM's grid search; "
                                  f"none for a CNN, which picks its epoch by early stopping while it trains). "
                                  f"Fit: the chosen model's own fit, mean per fold (a CNN's whole training). "
                                  f"Inf.: milliseconds per scored image (an SVM on extracted features; a CNN on "
                                  f"pixels, every test-time view). Measured on {_hardware(exps)}."},
                  sources=sources_of(exps))

    def row(exp: Experiment):
        cells, compared = [], {}
        raw = {"n_seeds": len(exp.runs), "runs": " ".join(run.run_id for run in exp.runs)}
        for c, (key, _) in enumerate(scores, start=2):
            mean, std = exp.summary(key)
            cells.append(pct(mean, std if key != "validation.accuracy" else None))
            compared[c] = mean
            raw.update({key: mean, f"{key}_std": std})
        seconds = np.nanmean(exp.values("fit_seconds"))
        selection, per_fold, inference = _times(exp)
        spread = ("seeds" if len(exp.runs) > 1 else
                  f"{len(exp.runs[0].metrics.get('folds', {}))} folds" if exp.runs[0].metrics.get("folds") else "")
        cells += [spread, _size(exp), _seconds(selection, "—"), _seconds(per_fold, ""),
                  "" if inference is None else f"{inference:.2f}", _ran_on(exp), str(len(exp.runs))]
        raw["std_over"] = spread
        params, svs = _size_numbers(exp)  # the CSV holds numbers: 58423, not "58,423 params"
        raw.update({"parameters": params, "support_vectors_mean": svs, "fit_seconds": seconds,
                    "selection_seconds": selection, "fit_seconds_per_fold": per_fold,
                    "inference_ms_per_image": inference, "ran_on": _ran_on(exp)})
        return cells, raw, compared

    mark_best(table, list(range(2, 2 + len(scores))), fill_grouped(table, exps, row))
    mark_variants(table, exps)
    return table


#: How the summary names what computed a row: the SVM solver, or the CNN's device and precision.
PLATFORM_NAMES = {"onedal": "oneDAL", "onedal-float32": "oneDAL fp32", "onedal-multithreaded": "oneDAL (threads)",
                  "pca-multithreaded": "PCA (threads)", "libsvm": "libsvm", "liblinear": "liblinear",
                  "liblinear-ovr": "liblinear (OvR)",
                  "float32": "fp32", "mixed_float16": "mixed fp16",
                  "mixed_bfloat16": "mixed bf16", "CPU (oneDNN)": "oneDNN", "jax": "JAX", "torch": "PyTorch"}


def _ran_on(exp: Experiment) -> str:
    """What computed the row's numbers (every run of an experiment ran on the same platform: it is part of the
    experiment's key), e.g. "oneDAL" (the SVM solver), "CPU fp32" or "oneDNN fp32" (a CNN's device, with
    TensorFlow's oneDNN CPU kernels, and precision), "GPU mixed bf16 JAX" (a backend other than TensorFlow)."""
    return " ".join(PLATFORM_NAMES.get(str(v), str(v)) for v in run_platform(exp.runs[0]).values() if v)


def _times(exp: Experiment) -> tuple[float | None, float | None, float | None]:
    """Selection seconds (summed over folds), the chosen model's fit per fold (seconds) and inference
    (milliseconds per scored image), each a mean over the experiment's seeds; None where no run tells it."""
    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    split = [KINDS[exp.kind].fit_times(run.metrics) for run in exp.runs]
    inference = [1000 * run.manifest["wall_seconds"]["predict"] / len(run.predictions) for run in exp.runs
                 if (run.manifest.get("wall_seconds") or {}).get("predict") is not None and len(run.predictions)]
    return mean(s for s, _ in split), mean(f for _, f in split), mean(inference)


def _seconds(value: float | None, missing: str) -> str:
    if value is None:
        return missing
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _hardware(exps: list[Experiment]) -> str:
    """The machines the runs ran on, as their manifests recorded them: CPU model and cores, and GPUs."""
    return "; ".join(sorted({machine_of(r) for e in exps for r in e.runs}))


def _summary_caption(dataset: str, exps: list[Experiment]) -> str:
    runs = [r for e in exps for r in e.runs]
    multi = any(len(e.runs) > 1 for e in exps)
    return (f"{title_of(dataset)}: classical vs deep models ({runs[0].protocol.report_caption(runs)}"
            + ("; rows with several seeds give mean ± std over seeds" if multi else "")
            + "). Best per column in bold.")


#: The metrics.json figure without duplicates (official split, record schema 4 and later) and its counts.
WITHOUT_DUPLICATES, N_SCORED, N_LEFT_OUT = metrics.WITHOUT_DUPLICATES


def duplicates_table(dataset: str, exps: list[Experiment]) -> Table | None:
    """Each experiment's accuracy on the test images that have no pixel-identical copy where its models fitted or
    selected (FER2013: PrivateTest images without a copy in Training or PublicTest), beside its accuracy on every
    test image, with how many were scored and left out. A table of its own, as a fifth score column would widen the
    summary past the text width. None where the protocol marks no duplicates (k-fold) or no run has the figure (runs
    recorded before it); experiments whose runs lack it are left out and counted in a note."""
    protocol = exps[0].runs[0].protocol
    shown = [exp for exp in exps if all(WITHOUT_DUPLICATES in run.metrics for run in exp.runs)]
    if protocol.duplicates_looked_for_in is None or not shown:
        return None
    test, where = protocol.test_part, protocol.duplicates_looked_for_in
    multi = any(len(exp.runs) > 1 for exp in shown)
    table = Table(f"{dataset_slug(dataset)}_without_duplicates",
                  f"{title_of(dataset)}: accuracy on the {test} images that have no pixel-identical copy in {where}, "
                  f"beside the accuracy on every {test} image (the same predictions); the images with a copy (the "
                  f"same face, seen in training or selection) are left out and counted"
                  + ("; rows with several seeds give mean ± std over seeds" if multi else "")
                  + ". Best accuracy per column in bold.",
                  [*ROW_LABELS, Column(f"{test} acc. (%)", short="Acc.", means=f"accuracy on every {test} image (%)"),
                   Column("Acc. without duplicates (%)", short="No dup.",
                          means=f"accuracy on the {test} images without a copy (%)"),
                   Column("Difference (pp)", short="Diff.", means="No dup. minus Acc. (percentage points)"),
                   Column("Images scored", short="Scored"), Column("Images left out", short="Left out"),
                   Column("Seeds", short="n", means="seeds")],
                  sources=sources_of(shown))

    def row(exp: Experiment):
        (acc, acc_std), (kept, kept_std) = exp.summary("accuracy"), exp.summary(WITHOUT_DUPLICATES)
        difference = float(np.mean(exp.values(WITHOUT_DUPLICATES) - exp.values("accuracy")))
        counts = [int(exp.runs[0].metrics[key]) for key in (N_SCORED, N_LEFT_OUT)]  # its seeds share its data
        cells = [pct(acc, acc_std), pct(kept, kept_std), "" if difference != difference else
                 f"{100 * difference:+.1f}", *(f"{n:,}" for n in counts), str(len(exp.runs))]
        raw = {"n_seeds": len(exp.runs), "runs": " ".join(run.run_id for run in exp.runs), "accuracy": acc,
               "accuracy_std": acc_std, WITHOUT_DUPLICATES: kept, f"{WITHOUT_DUPLICATES}_std": kept_std,
               "difference": difference, N_SCORED: counts[0], N_LEFT_OUT: counts[1]}
        return cells, raw, {2: acc, 3: kept}

    mark_best(table, [2, 3], fill_grouped(table, shown, row))
    mark_variants(table, exps, shown)
    left = len(exps) - len(shown)
    if left:
        table.notes.append(f"{left} experiment{'s' if left > 1 else ''} of this section recorded before the figure "
                           f"existed (runs without it) {'are' if left > 1 else 'is'} not listed.")
    return table


def per_class_table(dataset: str, exps: list[Experiment]) -> Table:
    """Per-class F1; in LaTeX the classes are headed by short names ("Sur" for surprise) with a legend."""
    classes = list(exps[0].runs[0].metrics["class_names"])
    table = Table(f"{dataset_slug(dataset)}_per_class_f1",
                  f"{title_of(dataset)}: per-class F1 (%) on the reported test images "
                  f"(pooled over folds for k-fold; mean over seeds). Best per class in bold.",
                  [*ROW_LABELS, *[Column(name, short=short, means=name)
                                  for name, short in zip(classes, abbreviations(classes))]],
                  sources=sources_of(exps))

    def row(exp: Experiment):
        f1 = {name: float(np.nanmean(exp.values(f"per_class.{name}.f1"))) for name in classes}
        return [pct(v) for v in f1.values()], f1, dict(enumerate(f1.values(), start=2))

    mark_best(table, list(range(2, 2 + len(classes))), fill_grouped(table, exps, row))
    mark_variants(table, exps)
    return table


def confidence_table(dataset: str, exps: list[Experiment]) -> Table:
    clustered = exps[0].runs[0].protocol.per_fold  # k-fold test images cluster by subject: resample subjects
    table = Table(f"{dataset_slug(dataset)}_confidence_intervals",
                  f"{title_of(dataset)}: 95% bootstrap confidence intervals "
                  f"({st.BOOTSTRAP_SAMPLES} resamples of the "
                  + ("subjects; figures on all test predictions pooled over folds, so they differ slightly from the "
                     "mean over folds of the summary table" if clustered else "PrivateTest images")
                  + f", seed {st.BOOTSTRAP_SEED}; first seed of each experiment).",
                  [*ROW_LABELS, Column("Seed"),
                   Column(f"{'Pooled a' if clustered else 'A'}ccuracy (%) [95% CI]", short="Accuracy (%)"),
                   Column(f"{'Pooled m' if clustered else 'M'}acro-F1 (%) [95% CI]", short="Macro-F1 (%)")],
                  sources=sources_of(exps, ("bootstrap", BOOTSTRAP_SOURCES)))

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

    fill_grouped(table, exps, row)
    mark_variants(table, exps)
    return table


def tests_table(dataset: str, exps: list[Experiment]) -> Table | None:
    """Best classical vs best deep: exact McNemar on FER2013, paired fold tests on k-fold; None if not paired."""
    pair = best_of_each_kind(exps)
    if pair is None:
        return None
    a, b = pair
    seeds = sorted({r.metrics["seed"] for r in a.runs} & {r.metrics["seed"] for r in b.runs})
    if not seeds:
        return None
    ra = next(r for r in a.runs if r.metrics["seed"] == seeds[0])
    rb = next(r for r in b.runs if r.metrics["seed"] == seeds[0])
    comparison = f"{a.label} [{a.features}] vs {b.label}"  # the CSV's; the tables show the models' display names
    shown = f"{a.title} [{a.features}] vs {b.title}"
    validation = ra.protocol.validation_split
    chosen = (f"chosen by {validation} accuracy" if validation
              else "chosen post hoc by mean test accuracy over folds, so p-values are optimistic")
    table = Table(f"{dataset_slug(dataset)}_significance",
                  f"{title_of(dataset)}: best {a.kind} vs best {b.kind} model ({chosen}; "
                  f"seed {seeds[0]}), paired tests on the same test images.",
                  [Column("Comparison", "l", tex=HEADING), Column("Test", "l"), Column("Statistic"),
                   Column("p-value"), Column("n")],
                  sources=sources_of([a, b], ("tests", test_keys(ra))))
    mark_variants(table, exps, [a, b])
    rows = []
    if not ra.protocol.per_fold:  # one held-out test set: the two models' answers per image
        ta, tb = ra.test_predictions(), rb.test_predictions()
        merged = ta.merge(tb, on="sample_id", suffixes=("_a", "_b"))
        if len(merged) != len(ta) or len(merged) != len(tb):
            return None
        right_a, right_b = merged.y_true_a == merged.y_pred_a, merged.y_true_b == merged.y_pred_b
        res = st.mcnemar_exact(right_a, right_b)
        rows.append([shown, f"exact McNemar (b={res['b']}, c={res['c']})", str(res["statistic"]),
                     _p(res["p_value"]), str(len(merged))])
        table.raw.append({"comparison": comparison, "test": "mcnemar_exact", **res, "n": len(merged)})
        effect = st.paired_accuracy_difference(right_a, right_b)
        rows.append([shown, "accuracy difference (pp), 95% CI", _interval(effect), "", str(len(merged))])
        table.raw.append({"comparison": comparison, "test": "accuracy_difference", "statistic": effect["difference"],
                          "ci_low": effect["ci_low"], "ci_high": effect["ci_high"], "n": len(merged)})
    else:
        if ra.manifest["protocol"]["fingerprint"] != rb.manifest["protocol"]["fingerprint"]:
            return None
        folds = list(ra.metrics["folds"])
        acc_a = [ra.metrics["folds"][f]["accuracy"] for f in folds]
        acc_b = [rb.metrics["folds"][f]["accuracy"] for f in folds]
        sizes = ra.manifest["protocol"]["sizes"]
        n_train = float(np.mean([s["train"] for s in sizes.values()]))
        n_test = float(np.mean([s["test"] for s in sizes.values()]))
        k = len(folds)
        effect = st.paired_difference(acc_a, acc_b, n_train=n_train, n_test=n_test)
        rows.append([shown, "accuracy difference (pp), 95% CI", _interval(effect), "", str(k)])
        rows.append([shown, "Cohen's d over folds", _number(effect["cohens_d"], 2), "", str(k)])
        table.raw += [{"comparison": comparison, "test": "accuracy_difference", "statistic": effect["difference"],
                       "ci_low": effect["ci_low"], "ci_high": effect["ci_high"], "n": k},
                      {"comparison": comparison, "test": "cohens_d", "statistic": effect["cohens_d"], "n": k}]
        if k >= MIN_T_TEST_PAIRS:
            t = st.corrected_resampled_ttest(acc_a, acc_b, n_train=n_train, n_test=n_test)
            rows.append([shown, f"corrected resampled t-test (df={t['df']})", f"{t['statistic']:.3f}",
                         _p(t["p_value"]), str(k)])
            table.raw.append({"comparison": comparison, "test": "corrected_resampled_ttest", **t, "n": k})
        w = st.wilcoxon_signed_rank(acc_a, acc_b)
        rows.append([shown, "Wilcoxon signed-rank", f"{w['statistic']:.1f}", _p(w["p_value"]), str(k)])
        table.raw.append({"comparison": comparison, "test": "wilcoxon", **w, "n": k,
                          "smallest_possible_p": st.smallest_wilcoxon_p(k)})
        notes = []
        if k < MIN_T_TEST_PAIRS:
            notes.append(f"no t-test on {k} paired folds (it needs {MIN_T_TEST_PAIRS} or more)")
        if st.smallest_wilcoxon_p(k) > 0.05:
            notes.append(f"with {k} paired folds the Wilcoxon test cannot reach p < 0.05 (its smallest possible "
                         f"p is {st.smallest_wilcoxon_p(k):.4g})")
        if notes:
            text = "; ".join(notes)
            table.caption += f" {text[0].upper()}{text[1:]}."
    table.groups.append(("", rows))
    return table


#: The fewest paired folds a t-test is computed on (with 2, its one degree of freedom makes it meaningless).
MIN_T_TEST_PAIRS = 3


def _interval(effect: dict) -> str:
    """``+3.1 [-1.2, +7.4]``: a difference of accuracies in percentage points with its interval."""
    if math.isnan(effect["ci_low"]):
        return f"{100 * effect['difference']:+.1f}"
    return f"{100 * effect['difference']:+.1f} [{100 * effect['ci_low']:+.1f}, {100 * effect['ci_high']:+.1f}]"


def _number(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def confusion_tables(dataset: str, exps: list[Experiment]) -> list[Table]:
    """Each experiment's confusion matrix as a table (the figure's counts, to quote or typeset): rows the true
    classes, columns the predicted ones (in LaTeX by short names, with a legend); counts pooled over folds, of
    the experiment's first seed, as its figure shows."""
    tables = []
    for exp in exps:
        run = exp.runs[0]
        classes = list(run.metrics["class_names"])
        cm = np.asarray(run.metrics["confusion_matrix"], dtype=int)
        table = Table(f"{dataset_slug(dataset)}_{exp.slug}_confusion",
                      f"{title_of(dataset)}: confusion matrix of {exp.display_name} [{exp.features}]"
                      + (f" ({exp.variant})" if exp.variant else "")
                      + f", seed {run.metrics['seed']}: counts of test images"
                      + (", pooled over folds" if run.protocol.per_fold else "")
                      + "; rows are the true classes, columns the predicted ones.",
                      [Column("True class", "l"), *[Column(name, short=short, means=f"predicted {name}")
                                                   for name, short in zip(classes, abbreviations(classes))]],
                      sources=sources_of([exp]))
        table.groups.append(("", [[name, *[str(v) for v in row]] for name, row in zip(classes, cm)]))
        table.raw += [{"true_class": name, **{f"predicted_{c}": int(v) for c, v in zip(classes, row)}}
                      for name, row in zip(classes, cm)]
        tables.append(table)
    return tables
