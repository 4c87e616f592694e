"""The report: statistics against hand-computed cases, tables matching metrics.json, seed aggregation,
skipped broken runs, LaTeX structure and escaping, byte-identical rebuilds."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.datasets import make_synthetic
from benchmark.errors import FerBenchError
from benchmark.experiment import RunConfig, run_experiment
from conftest import copy_run
from benchmark.report import (bootstrap_ci, build_report, corrected_resampled_ttest, latex_escape, mcnemar_exact,
                              wilcoxon_signed_rank)


# --------------------------------------------------------------------------------------------------- statistics

def test_mcnemar_exact_hand_computed():
    """b = 2 (only A right), c = 8 (only B right): p = 2 * P(X <= 2 | n=10, 1/2) = 2 * 56 / 1024."""
    a = [1] * 2 + [0] * 8 + [1] * 5 + [0] * 3
    b = [0] * 2 + [1] * 8 + [1] * 5 + [0] * 3
    res = mcnemar_exact(a, b)
    assert (res["b"], res["c"]) == (2, 8)
    assert res["p_value"] == pytest.approx(112 / 1024)
    assert res["p_value"] == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)
    assert mcnemar_exact([1, 0], [1, 0])["p_value"] == 1.0


def test_bootstrap_with_a_fixed_seed_is_reproducible_and_right_on_hand_cases():
    assert bootstrap_ci([0, 1, 2], [0, 1, 2]) == (1.0, 1.0)
    # two images, one right: resampled accuracy is 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4
    lo, hi = bootstrap_ci([0, 1], [0, 0], n_boot=4000)
    assert (lo, hi) == (0.0, 1.0)
    y_true = np.arange(40) % 4
    y_pred = np.where(np.arange(40) < 30, y_true, (y_true + 1) % 4)
    first = bootstrap_ci(y_true, y_pred, seed=7)
    assert first == bootstrap_ci(y_true, y_pred, seed=7)
    assert first[0] < 0.75 < first[1]


def test_cluster_bootstrap_resamples_whole_subjects():
    """Subject A all right, subject B all wrong: a resample holds 0, 1 or 2 copies of A, so accuracy is 0, 1/2, 1."""
    y = np.zeros(6, int)
    pred = np.array([0, 0, 0, 1, 1, 1])
    subjects = np.array(["A"] * 3 + ["B"] * 3)
    values = set()
    for seed in range(20):
        values |= set(bootstrap_ci(y, pred, clusters=subjects, n_boot=50, seed=seed))
    assert values <= {0.0, 0.5, 1.0}


def test_corrected_resampled_ttest_hand_computed():
    """d = (0.1, 0.2, 0.3), k = 3, n_test / n_train = 0.5: t = 0.2 / sqrt((1/3 + 1/2) * 0.01)."""
    res = corrected_resampled_ttest([0.9, 0.8, 0.7], [0.8, 0.6, 0.4], n_train=20, n_test=10)
    t = 0.2 / math.sqrt((1 / 3 + 0.5) * 0.01)
    assert res["statistic"] == pytest.approx(t)
    assert res["p_value"] == pytest.approx(2 * stats.t.sf(t, 2))
    assert res["df"] == 2


def test_wilcoxon_signed_rank_exact_small_case():
    """Five folds all favouring A: exact two-sided p = 2 / 2^5."""
    res = wilcoxon_signed_rank([0.9, 0.8, 0.85, 0.7, 0.75], [0.8, 0.75, 0.6, 0.5, 0.72])
    assert res["p_value"] == pytest.approx(2 / 32)
    assert wilcoxon_signed_rank([0.5, 0.6], [0.5, 0.6])["p_value"] == 1.0


def test_latex_escape_covers_the_special_characters():
    assert latex_escape("svm_rbf & 50% #1 $x {y} ~ ^ \\") == (
        r"svm\_rbf \& 50\% \#1 \$x \{y\} \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert latex_escape("88.1 ± 2.0") == r"88.1 $\pm$ 2.0"


# ------------------------------------------------------------------------------------------------- built reports

@pytest.fixture(scope="module")
def reports(tmp_path_factory, small_synthetic, small_cnn_run):
    """svm-linear on hog with seeds 0 and 1, svm-rbf on hog and mini-xception (1 epoch, the session's shared run),
    all seed-0 folds shared."""
    root = tmp_path_factory.mktemp("report") / "reports"
    common = dict(dataset="synthetic", reports_dir=str(root), folds=3, inner_folds=2,
                  cache_dir=str(root.parent / "cache"))
    for model, seed in (("svm-linear", 0), ("svm-linear", 1), ("svm-rbf", 0)):
        run_experiment(RunConfig(model=model, features="hog", seed=seed, **common), dataset=small_synthetic)
    copy_run(small_cnn_run, root)
    return root


@pytest.fixture(scope="module")
def built(reports):
    return build_report(reports)


def _metrics(reports: Path, model: str, seed: int) -> dict:
    for path in sorted((reports / "runs").glob(f"*_{model}_*_s{seed}_*/metrics.json")):
        return json.loads(path.read_text())
    raise AssertionError(f"no run of {model} seed {seed}")


def test_a_figure_whose_name_holds_a_dot_is_written_under_its_whole_name(tmp_path):
    """A variant's name may hold a number (``l2-0.0001``): the PNG and PDF take the whole stem, as the report links
    them (a substituted suffix once wrote one variant's matrix and curves to the same ``...-l2-0.pdf``)."""
    from benchmark.figures import pyplot, save_figure

    stem = "fer2013_official_mini-xception-pixels-l2-0.0001-tta-ten-crop"
    for figure in ("confusion", "learning_curves"):
        save_figure(pyplot().figure(figsize=(1, 1)), tmp_path / f"{stem}_{figure}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{stem}_{f}.{x}" for f in ("confusion", "learning_curves")
                                                          for x in ("pdf", "png")]


@pytest.mark.slow
def test_report_writes_tables_figures_and_documents(reports, built):
    tables = {p.name for p in (reports / "tables").iterdir()}
    for name in ("synthetic_3fold_summary", "synthetic_3fold_per_class_f1", "synthetic_3fold_confidence_intervals",
                 "synthetic_3fold_significance"):
        assert {f"{name}.tex", f"{name}.md", f"{name}.csv"} <= tables
    figures = {p.name for p in (reports / "figures").iterdir()}
    assert "synthetic_3fold_best_classical_vs_deep_confusion.pdf" in figures
    assert "synthetic_3fold_mini-xception-pixels_learning_curves.png" in figures
    assert "synthetic_3fold_svm-rbf-hog_confusion.pdf" in figures
    # from the tables' own numbers: accuracy with its interval per experiment, accuracy against training time
    assert {"synthetic_3fold_accuracy_ci.pdf", "synthetic_3fold_accuracy_vs_time.png"} <= figures
    # every figure report.md and report.tex link to is there
    linked = {m for doc in ("report.md", "report.tex") for m in
              re.findall(r"figures/([^)}\s]+\.(?:png|pdf))", (reports / doc).read_text())}
    assert linked and linked <= figures, sorted(linked - figures)
    # each matrix also as a table, with the figure's counts
    matrix = pd.read_csv(reports / "tables" / "synthetic_3fold_svm-rbf-hog_confusion.csv")
    rbf_metrics = _metrics(reports, "svm-rbf", 0)
    assert matrix.drop(columns="true_class").to_numpy().tolist() == rbf_metrics["confusion_matrix"]
    assert list(matrix.true_class) == rbf_metrics["class_names"]
    report = (reports / "report.md").read_text()
    assert "## Provenance" in report and "fer-bench 0.1.0" in report
    assert make_synthetic(n_subjects=6, images_per_class=2, seed=1).fingerprint[:12] in report
    tex = (reports / "report.tex").read_text()
    assert r"\input{tables/synthetic_3fold_summary.tex}" in tex
    # provenance to \input, and the sources of what the runs used (hog, SVMs, mini-Xception, the fold tests)
    provenance = (reports / "provenance.tex").read_text()
    n_runs = len(list((reports / "runs").glob("2*")))
    assert provenance.startswith("{\\setlength{\\emergencystretch}{3em}%\n" + f"{n_runs} runs made with fer-bench")
    assert provenance.rstrip().endswith("\\par}")  # a group: the stretch never leaks into the thesis
    bib = (reports / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([a-z0-9]+),", bib, flags=re.M)
    # hog, the SVMs (libsvm where it fitted them), mini-Xception with Adam, early stopping, Keras on TensorFlow,
    # the fold tests and the confidence intervals' bootstrap
    libsvm = any(json.loads(p.read_text()).get("svm_backend") == "libsvm"
                 for p in (reports / "runs").glob("*/manifest.json"))
    assert sorted(keys) == sorted(["dalal2005", "cortes1995", "pedregosa2011", "arriaga2017", "chollet2017",
                                   "nadeau2003", "wilcoxon1945", "kingma2015", "prechelt1998", "chollet2015",
                                   "abadi2016", "efron1979", *(["chang2011"] if libsvm else [])])
    assert bib.count("{") == bib.count("}")
    # the best-of-each-kind pair: subfigures of the two matrices' own files, each at the full width
    pair = tex[tex.index("fig:synthetic-3fold-best-classical-vs-deep-confusion") - 900:]
    assert pair.count(r"\begin{subfigure}{\linewidth}") >= 2 and "_mini-xception-pixels_confusion.pdf}" in pair
    assert built["runs"] == 4


@pytest.mark.slow
def test_summary_numbers_match_metrics_json_and_seeds_are_aggregated(reports, built):
    table = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv")
    linear = table[table.model == "svm-linear"].iloc[0]
    accs = [_metrics(reports, "svm-linear", s)["accuracy"] for s in (0, 1)]
    assert linear.n_seeds == 2
    assert linear.accuracy == pytest.approx(np.mean(accs))
    assert linear.accuracy_std == pytest.approx(np.std(accs, ddof=1))
    rbf = table[table.model == "svm-rbf"].iloc[0]
    m = _metrics(reports, "svm-rbf", 0)
    assert rbf.accuracy == pytest.approx(m["accuracy"]) and rbf.accuracy_std == pytest.approx(m["accuracy_std"])
    assert rbf.macro_f1 == pytest.approx(m["macro_f1"])
    deep = table[table.model == "mini-xception"].iloc[0]
    assert deep.group == "deep" and deep["parameters"] == 58423 and np.isnan(deep.support_vectors_mean)
    svs = [v for s in (0, 1) for v in _metrics(reports, "svm-linear", s)["n_support_vectors"].values()]
    assert linear.support_vectors_mean == pytest.approx(np.mean(svs)) and np.isnan(linear.parameters)
    assert pd.api.types.is_numeric_dtype(table.parameters) and pd.api.types.is_numeric_dtype(table.fit_seconds)
    # time that means something: the search summed over folds, the chosen model's fit per fold, inference per image
    runs = {p.name: p for p in (reports / "runs").iterdir() if not p.name.startswith(".")}
    linear_runs = [runs[r] for r in linear.runs.split()]
    metrics = [json.loads((r / "metrics.json").read_text()) for r in linear_runs]
    assert all(set(m["final_fit_seconds"]) == set(m["folds"]) for m in metrics)
    assert linear.selection_seconds == pytest.approx(np.mean([m["fit_seconds"] - sum(m["final_fit_seconds"].values())
                                                              for m in metrics]))
    assert linear.fit_seconds_per_fold == pytest.approx(np.mean([np.mean(list(m["final_fit_seconds"].values()))
                                                                 for m in metrics]))
    per_image = [1000 * json.loads((r / "manifest.json").read_text())["wall_seconds"]["predict"]
                 / len(pd.read_csv(r / "predictions.csv")) for r in linear_runs]
    assert linear.inference_ms_per_image == pytest.approx(np.mean(per_image))
    dm = json.loads((runs[deep.runs] / "metrics.json").read_text())
    assert np.isnan(deep.selection_seconds) and deep.fit_seconds_per_fold == pytest.approx(dm["fit_seconds"] / 3)
    cost = (reports / "tables" / "synthetic_3fold_summary.tex").read_text().split("\\end{table}")[1]
    cpu = json.loads((linear_runs[0] / "manifest.json").read_text())["cpu"]
    assert "Sel. (s) & Fit (s) & Inf. (ms)" in cost and f"Measured on {latex_escape(cpu)}" in cost
    tex = (reports / "tables" / "synthetic_3fold_summary.tex").read_text()
    assert f"{100 * m['accuracy']:.1f} $\\pm$ {100 * m['accuracy_std']:.1f}" in tex
    assert f"{100 * np.mean(accs):.1f} $\\pm$ {100 * np.std(accs, ddof=1):.1f}" in tex


@pytest.mark.slow
def test_best_value_per_column_is_bold(reports, built):
    """In every compared column (summary: accuracy, macro-F1, balanced accuracy; per-class F1: every class) exactly
    the cells holding the column's best value are bold, and every other cell of that column is plain. The best is
    taken over all rows, classical and deep together (mark_best), not per group: the deep group's only row is not
    bold where a classical row beats it. Columns that are not compared (model, features, spread, size, time,
    seeds) are plain. Checked cell by cell in Markdown (every column, full headers), and in LaTeX (whose layout
    moves columns around) as the same cells of each model's row being bold."""
    summary = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv")
    classes = json.loads(next((reports / "runs").glob("*/metrics.json")).read_text())["class_names"]
    cases = {"synthetic_3fold_summary": {"accuracy": "Accuracy (%)", "macro_f1": "Macro-F1 (%)",
                                   "balanced_accuracy": "Bal. acc. (%)"},
             "synthetic_3fold_per_class_f1": {name: name for name in classes}}
    assert (summary.accuracy[summary.group == "deep"] < summary.accuracy.max()).all(), \
        "the fixture should have a deep row that is best in its group but not overall"
    for name, compared in cases.items():
        raw = pd.read_csv(reports / "tables" / f"{name}.csv")
        assert list(raw.group) == ["classical"] * 2 + ["deep"] and raw.model.is_unique
        assert list(raw.display_name) == ["SVM, linear kernel", "SVM, RBF kernel", "mini-Xception"]
        lines = [line for line in (reports / "tables" / f"{name}.md").read_text().splitlines()
                 if line.startswith("| ") and not line.startswith("| *")]  # header, rule, rows; no group titles
        header, rows = [c.strip() for c in lines[0][1:-1].split(" | ")], [
            [c.strip() for c in line[1:-1].split(" | ")] for line in lines[2:]]
        assert [row[0] for row in rows] == list(raw.display_name), "the CSV rows are the displayed rows, in order"
        bold_in_md = {row[0]: [] for row in rows}
        for c, title in enumerate(header):
            key = next((k for k, t in compared.items() if t == title), None)
            shown = [row[c].startswith("**") and row[c].endswith("**") for row in rows]
            if key is None:
                assert not any(shown), (name, title)
                continue
            values = raw[key].to_numpy(float)
            best = np.nanmax(values)
            assert shown == [bool(abs(v - best) < 1e-12) for v in values], (name, title, list(values))
            for row, value, bold in zip(rows, values, shown):
                if bold:
                    assert row[c] == f"**{row[c].strip('*')}**" and row[c].strip("*").startswith(f"{100 * value:.1f}")
                    bold_in_md[row[0]].append(row[c].strip("*"))
        assert set(compared.values()) <= set(header), (name, header)
        assert any(bold_in_md.values()), name
        # LaTeX: each model's row (in whichever float and column its cells went) has the same cells bold
        tex = (reports / "tables" / f"{name}.tex").read_text()
        bold_in_tex = {model: [] for model in bold_in_md}
        for body in re.findall(r"\\midrule\n(.*?)\\bottomrule", tex, flags=re.S):
            for line in body.splitlines():
                cells = line.removesuffix(" \\\\").split(" & ")
                if cells[0] in bold_in_tex:
                    bold_in_tex[cells[0]] += [m for c in cells[1:] for m in re.findall(r"^\\textbf\{(.*)\}$", c)]
                else:
                    assert "\\textbf" not in line, (name, line)
        assert {m: sorted(texts) for m, texts in bold_in_tex.items()} == {
            m: sorted(latex_escape(t) for t in texts) for m, texts in bold_in_md.items()}, name


@pytest.mark.slow
def test_tex_tables_are_well_formed_booktabs(reports, built):
    for path in (p for p in (reports / "tables").glob("*.tex") if not p.name.endswith("_methods.tex")):
        tex = path.read_text()
        assert tex.startswith("\\begin{table}") and tex.rstrip().endswith("\\end{table}")
        for command in ("\\toprule", "\\midrule", "\\bottomrule", "\\caption{", "\\label{tab:"):
            assert command in tex, (path.name, command)
        assert tex.count("{") == tex.count("}") + tex.count("\\{") - tex.count("\\}"), path.name
        spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
        body = tex.split("\\toprule")[1].split("\\bottomrule")[0]
        for line in body.splitlines():
            if line.endswith("\\\\") and "multicolumn" not in line:
                assert line.count(" & ") + 1 == len(spec), (path.name, line)
        assert "_" not in re.sub(r"\\_", "", tex.split("\\begin{tabular}")[1].split("\\end{tabular}")[0])


@pytest.mark.slow
def test_paired_tests_compare_best_classical_and_best_deep_over_shared_folds(reports, built):
    """The significance table pairs the best classical experiment (mean accuracy over its seeds) with the best deep
    one on their shared seed, and its figures are the Nadeau-Bengio corrected resampled t-test and the Wilcoxon
    signed-rank test recomputed here, with numpy and scipy, from the two runs' per-fold accuracies (metrics.json)
    over the folds they share (splits.csv)."""
    from models import get_model

    tests = pd.read_csv(reports / "tables" / "synthetic_3fold_significance.csv")
    assert list(tests.test) == ["accuracy_difference", "cohens_d", "corrected_resampled_ttest", "wilcoxon"]
    experiments = {}  # (kind, model, features) -> {seed: (metrics, run folder)}
    for path in sorted((reports / "runs").glob("*/metrics.json")):
        m = json.loads(path.read_text())
        key = (get_model(m["model"]).kind, m["model"], m["features"])
        experiments.setdefault(key, {})[m["seed"]] = (m, path.parent)

    def best(kind):  # highest mean accuracy over the experiment's seeds (ties: the later model name)
        return max((key for key in experiments if key[0] == kind),
                   key=lambda key: (np.mean([m["accuracy"] for m, _ in experiments[key].values()]), key[1]))

    a, b = best("classical"), best("deep")
    assert (tests.comparison == f"{a[1]} [{a[2]}] vs {b[1]}").all()
    seed = min(set(experiments[a]) & set(experiments[b]))
    (ma, dir_a), (mb, dir_b) = experiments[a][seed], experiments[b][seed]

    # the folds are shared: same partition, same fold names
    assert (dir_a / "splits.csv").read_bytes() == (dir_b / "splits.csv").read_bytes()
    folds = sorted(ma["folds"])
    assert sorted(mb["folds"]) == folds and (tests.n == len(folds)).all() and len(folds) == 3
    acc_a = np.array([ma["folds"][f]["accuracy"] for f in folds])
    acc_b = np.array([mb["folds"][f]["accuracy"] for f in folds])
    d = acc_a - acc_b
    assert d.var() > 0, "constant differences would take the degenerate branch, not the formula"

    # corrected resampled t: mean(d) / sqrt((1/k + n_test/n_train) * var(d)), k - 1 degrees of freedom, with the
    # mean test and training sizes of the folds
    splits = pd.read_csv(dir_a / "splits.csv")
    n_test = splits.fold.value_counts().reindex(folds).to_numpy(float)
    n_train = len(splits) - n_test
    k = len(folds)
    t = d.mean() / np.sqrt((1 / k + n_test.mean() / n_train.mean()) * d.var(ddof=1))
    ttest = tests[tests.test == "corrected_resampled_ttest"].iloc[0]
    assert ttest.statistic == pytest.approx(t, rel=1e-9)
    assert ttest.df == k - 1
    assert ttest.p_value == pytest.approx(2 * stats.t.sf(abs(t), k - 1), rel=1e-9)

    wilcoxon = stats.wilcoxon(acc_a, acc_b, zero_method="wilcox", alternative="two-sided")
    row = tests[tests.test == "wilcoxon"].iloc[0]
    assert row.statistic == pytest.approx(wilcoxon.statistic)
    assert row.p_value == pytest.approx(wilcoxon.pvalue, rel=1e-9)
    tex = (reports / "tables" / "synthetic_3fold_significance.tex").read_text()
    assert f"{t:.3f}" in tex and f"{wilcoxon.statistic:.1f}" in tex
    # the effect: the mean paired difference with the t interval of the same corrected variance, Cohen's d
    half = stats.t.ppf(0.975, k - 1) * np.sqrt((1 / k + n_test.mean() / n_train.mean()) * d.var(ddof=1))
    effect = tests[tests.test == "accuracy_difference"].iloc[0]
    assert (effect.statistic, effect.ci_low, effect.ci_high) == pytest.approx((d.mean(), d.mean() - half,
                                                                               d.mean() + half), rel=1e-9)
    assert tests[tests.test == "cohens_d"].iloc[0].statistic == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-9)
    assert f"{100 * d.mean():+.1f} [{100 * (d.mean() - half):+.1f}, {100 * (d.mean() + half):+.1f}]" in tex
    assert "smallest possible p is 0.25" in tex  # 3 folds: 2 / 2^3


def _run_records(reports: Path) -> dict[str, list[tuple[dict, dict, dict]]]:
    """(config, manifest, metrics) of every run under ``reports/runs``, by model."""
    out: dict[str, list] = {}
    for folder in sorted(p for p in (reports / "runs").iterdir() if not p.name.startswith(".")):
        config, manifest, metrics = (json.loads((folder / f"{name}.json").read_text())
                                     for name in ("config", "manifest", "metrics"))
        out.setdefault(metrics["model"], []).append((config, manifest, metrics))
    return out


@pytest.mark.slow
def test_methods_tex_says_what_the_sections_runs_recorded(reports, built):
    """tables/<section>_methods.tex: the protocol, seeds and split sizes, each SVM's declared grid, the features
    with their parameters, the selection rule and solver, and the CNN's recipe, all as the runs' config.json and
    manifest.json recorded them; settings every SVM run shares are said once, the rest per experiment. The .md says
    the same in plain text; the file is indexed, listed in report.md and \input by report.tex."""
    tex = (reports / "tables" / "synthetic_3fold_methods.tex").read_text()
    md = (reports / "tables" / "synthetic_3fold_methods.md").read_text()
    records = _run_records(reports)
    (linear, linear_manifest, _), (rbf, _, _), (cnn, cnn_manifest, cnn_metrics) = (
        records["svm-linear"][0], records["svm-rbf"][0], records["mini-xception"][0])
    # a group of its own, in which an option name may break after its underscore (no preamble needed)
    assert tex.startswith("{\\setlength{\\emergencystretch}{3em}%\n\\paragraph{Data and protocol.} ")
    assert tex.rstrip().endswith("\\par}")
    assert "subject-independent 3-fold cross-validation" in tex and "Seeds: 0 and 1; every run with the same seed " \
        "on the same data used the same folds" in tex
    sizes = {size["train"] for _, m, _ in sum(records.values(), []) for size in m["protocol"]["sizes"].values()}
    assert f"Images per fold: training {min(sizes)}" in tex
    assert "No test fold was seen while selecting: the hyperparameters and the kept epochs were chosen or fitted " \
        "inside each training fold only" in tex
    # the classical paragraph: what both SVMs share once, then each one's model and grid
    classical = tex[tex.index("\\paragraph{Classical"):tex.index("\\paragraph{Deep")]
    assert "Experiments: SVM, linear kernel [hog] (seeds 0 and 1); SVM, RBF kernel [hog] (seed 0)." in classical
    assert classical.count("Features: hog \\citep{dalal2005} (HOG: 9 orientations") == 1
    assert classical.count(f"{linear['inner_folds']} subject-grouped inner folds") == 1
    assert "Training images: each with its left-right mirror image" in classical  # mirrored_training: true
    solver = {"onedal": "oneDAL's exact SVM solver (hinge loss, one-vs-one) through scikit-learn-intelex, in double "
                        "precision",
              "libsvm": "libsvm (hinge loss, one-vs-one) through scikit-learn"}[linear_manifest["svm_backend"]]
    assert classical.count(f"SVM solver: {solver}") == 1
    grids = {"SVM, linear kernel [hog] (seeds 0 and 1)": linear["param_grid"], "SVM, RBF kernel [hog] (seed 0)":
             rbf["param_grid"]}
    for name, grid in grids.items():
        own = classical[classical.index(f"\\emph{{{name}}}"):]
        own = own[:own.index("\\emph", 1)] if "\\emph" in own[1:] else own
        for key, values in grid.items():
            symbol = {"svm__C": "C", "svm__gamma": "\\gamma"}[key]
            assert f"${symbol} \\in \\{{{', '.join(f'{v:g}' for v in values)}\\}}$" in own, (name, key)
    assert "\\citep{cortes1995,pedregosa2011}" in classical
    # the deep paragraph: the recorded recipe
    deep = tex[tex.index("\\paragraph{Deep"):]
    assert f"{cnn_metrics['n_params']:,} parameters" in deep and "\\citep{arriaga2017,chollet2017}" in deep
    assert (f"Optimiser: Adam \\citep{{kingma2015}}, learning rate {cnn['lr']:g}, divided by 10 whenever the "
            f"validation loss has not fallen for {cnn['patience'] // 4} epochs") in deep
    assert (f"Training: at most {cnn['epochs']} epoch in batches of {cnn['batch_size']}; early stopping "
            f"\\citep{{prechelt1998}} after {cnn['patience']} epochs without a lower validation loss (cross-entropy "
            f"plus the weight penalty), keeping") in deep  # Keras's validation loss includes the L2 penalty
    assert "Initialisation: random (Keras's default initialisers), trained from scratch" in deep
    # a CNN runs no inner folds: its validation split is one of them
    assert f"the validation split is one of {cnn['inner_folds']} subject-grouped inner folds" in deep
    assert ("Weight penalty: L2 with coefficient 0.01 on the convolution kernels its paper penalises, added to the "
            "loss") in deep  # mini-xception's published L2, which the run's config records as null
    assert "Augmentation: random horizontal flips" in deep and "Test-time augmentation: none" in deep
    device = cnn_manifest["training_device"]
    assert f"Keras {device['keras']} \\citep{{chollet2015}} on TensorFlow {device['backend_version']}" in deep
    assert "grid" not in deep.lower() and "SVM solver" not in deep  # a CNN recorded neither
    assert "face\\_\\allowbreak{}classification" in deep and "_" not in re.sub(r"\\_", "", tex)  # escaped
    # Markdown: the same, plain
    assert "\\" not in md and "citep" not in md and "C ∈ {" in md and "**Data and protocol.**" in md
    # indexed with its section, listed in report.md, \input by report.tex
    index = json.loads((reports / "tables" / "sections.json").read_text())
    files = next(s["files"] for s in index["sections"] if s["slug"] == "synthetic_3fold")
    assert {"tables/synthetic_3fold_methods.tex", "tables/synthetic_3fold_methods.md"} <= set(files)
    assert "`tables/synthetic_3fold_methods.tex`" in (reports / "report.md").read_text()
    assert "\\input{tables/synthetic_3fold_methods.tex}" in (reports / "report.tex").read_text()


@pytest.mark.slow
def test_methods_describe_each_group_of_runs_with_other_settings(reports, built):
    """Runs of one section with different settings are each described, grouped: a seed trained without mirror
    images, and a CNN with SGD, cosine decay and ten-crop test-time augmentation, cite what they used."""
    from dataclasses import replace

    from benchmark.record import collect_runs
    from benchmark.report._experiments import group_experiments
    from benchmark.report._methods import LATEX, methods
    from benchmark.report._references import ENTRIES

    def edited(run):
        if run.metrics["model"] == "svm-linear" and run.metrics["seed"] == 1:
            return replace(run, manifest={**run.manifest, "mirrored_training": False})
        if run.metrics["model"] == "mini-xception":
            return replace(run, config={**run.config, "optimizer": "sgd", "schedule": "cosine", "tta": "ten-crop",
                                            "l2": 1e-4})
        return run

    runs, _ = collect_runs(reports / "runs")
    (exps,) = group_experiments([edited(run) for run in runs]).values()
    tex = methods(exps, LATEX)
    classical = tex[tex.index("\\paragraph{Classical"):tex.index("\\paragraph{Deep")].strip()
    shared = classical[:classical.index("\\emph")]
    assert "Training images" not in shared and "Features: hog" in shared  # mirror images no longer shared
    groups = dict(re.findall(r"\\emph\{([^}]*)\}: (.*?)(?= \\emph\{|$)", classical))
    mirrored, originals = "Training images: each with its left-right mirror image", "Training images: the originals"
    # the linear SVM's model and grid once, then what each of its seeds did; the RBF SVM's whole settings
    assert list(groups) == ["SVM, linear kernel [hog] (seeds 0 and 1)", "seed 0", "seed 1",
                            "SVM, RBF kernel [hog] (seed 0)"]
    assert [(mirrored in text, originals in text) for text in groups.values()] == [
        (False, False), (True, False), (False, True), (True, False)]
    assert "Grid: $C" in groups["SVM, linear kernel [hog] (seeds 0 and 1)"]
    deep = tex[tex.index("\\paragraph{Deep"):]
    assert "SGD with Nesterov momentum 0.9 \\citep{sutskever2013}" in deep
    assert "decayed to 0 along a cosine over the 1 epochs \\citep{loshchilov2017}" in deep
    assert "four corner crops and centre crop (92% of each side".replace("%", "\\%") in deep
    assert "\\citep{krizhevsky2012}" in deep
    assert "Weight penalty: L2 with coefficient 0.0001 on the convolution kernels its paper penalises" in deep
    assert {"sutskever2013", "loshchilov2017", "krizhevsky2012"} <= set(ENTRIES)


@pytest.mark.slow
def test_captions_cite_the_sources_of_what_they_show_in_latex_only(reports, built):
    """Each table's LaTeX captions (the cost float's too) and report.tex's figure captions cite the data, features
    and models they show, a confidence table its bootstrap, the significance table its tests; Markdown and CSV stay
    plain, and name models by their display names while the CSV keeps the command-line name beside it."""
    tables = reports / "tables"
    summary = (tables / "synthetic_3fold_summary.tex").read_text()
    sources = "Sources: features \\citep{dalal2005}; models \\citep{cortes1995,pedregosa2011,arriaga2017,chollet2017}."
    assert summary.count(sources) == 2  # the scores and the cost float
    assert sources in (tables / "synthetic_3fold_per_class_f1.tex").read_text()
    assert sources[:-1] + "; bootstrap \\citep{efron1979}." in (tables / "synthetic_3fold_confidence_intervals.tex"
                                                                 ).read_text()
    assert "; tests \\citep{nadeau2003,wilcoxon1945}." in (tables / "synthetic_3fold_significance.tex").read_text()
    svm_matrix = (tables / "synthetic_3fold_svm-rbf-hog_confusion.tex").read_text()
    assert "Sources: features \\citep{dalal2005}; models \\citep{cortes1995,pedregosa2011}." in svm_matrix
    assert "confusion matrix of SVM, RBF kernel [hog]" in svm_matrix
    for path in [*tables.glob("*.md"), *tables.glob("*.csv"), reports / "report.md"]:
        assert "citep" not in path.read_text(), path.name
    report = (reports / "report.tex").read_text()
    assert "\\usepackage{natbib}" in report and "\\bibliography{references}" in report
    pair = report[report.index("\\caption{synthetic (3-fold): best classical vs best deep"):]
    assert pair[:pair.index("\\label")].endswith(sources + "}\n")
    assert ("\\caption{synthetic (3-fold): row-normalised confusion matrix of SVM, linear kernel [hog]. Sources: "
            "features \\citep{dalal2005}; models \\citep{cortes1995,pedregosa2011}.}") in report
    assert ("\\caption{synthetic (3-fold): learning curves of mini-Xception [pixels] (loss includes weight "
            "penalties). Sources: models \\citep{arriaga2017,chollet2017}.}") in report
    md = (tables / "synthetic_3fold_summary.md").read_text()
    assert "| SVM, linear kernel | hog |" in md and "| mini-Xception | pixels |" in md and "svm-linear" not in md
    csv = pd.read_csv(tables / "synthetic_3fold_summary.csv")
    assert list(csv.model) == ["svm-linear", "svm-rbf", "mini-xception"]
    assert list(csv.display_name) == ["SVM, linear kernel", "SVM, RBF kernel", "mini-Xception"]
    tests = pd.read_csv(tables / "synthetic_3fold_significance.csv")
    assert tests.comparison.str.contains("mini-xception").all()  # the CSV keeps command-line names


@pytest.mark.slow
def test_every_key_cited_in_any_generated_tex_is_in_references_bib(reports, built):
    from benchmark.report._references import cited_in

    written = [*(reports / "tables").glob("*.tex"), reports / "report.tex", reports / "provenance.tex"]
    cited = cited_in(written)
    bib = (reports / "references.bib").read_text()
    entries = re.findall(r"^@\w+\{([a-z0-9]+),", bib, flags=re.M)
    assert {"dalal2005", "cortes1995", "arriaga2017", "kingma2015", "efron1979", "nadeau2003"} <= set(cited)
    assert set(cited) <= set(entries), set(cited) - set(entries)
    assert len(entries) == len(set(entries))


def test_references_bib_holds_every_key_the_written_files_cite(tmp_path):
    """A carried file (or any written .tex) that cites a key no current run uses still finds its entry; every key
    the captions and methods can cite has an entry."""
    from benchmark.report._references import (BOOTSTRAP_SOURCES, EARLY_STOPPING_SOURCES, ENSEMBLE_SOURCES, ENTRIES,
                                              SOURCE_MAPS,
                                              cited_in, write_references)

    for keys in [*(v for m in SOURCE_MAPS for v in m.values()), BOOTSTRAP_SOURCES, EARLY_STOPPING_SOURCES,
                 ENSEMBLE_SOURCES]:
        assert set(keys) <= set(ENTRIES), keys
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "old_methods.tex").write_text("Adam \\citep{kingma2015}; see \\citet[p.~3]{efron1979}, "
                                                         "\\cite{lucey2010,unknown2099}.\n")
    assert cited_in([tmp_path / "tables" / "old_methods.tex"]) == ["kingma2015", "efron1979", "lucey2010",
                                                                    "unknown2099"]
    assert write_references(tmp_path, []) == ["kingma2015", "efron1979", "lucey2010"]
    bib = (tmp_path / "references.bib").read_text()
    assert re.findall(r"^@\w+\{([a-z0-9]+),", bib, flags=re.M) == ["kingma2015", "efron1979", "lucey2010"]


@pytest.mark.slow
def test_rebuilding_from_the_same_runs_gives_byte_identical_tables(reports, built, tmp_path):
    before = {p.name: p.read_bytes() for p in (reports / "tables").iterdir()}
    report_md = (reports / "report.md").read_bytes()
    build_report(reports)
    assert {p.name: p.read_bytes() for p in (reports / "tables").iterdir()} == before
    assert (reports / "report.md").read_bytes() == report_md


@pytest.mark.slow
def test_incomplete_and_broken_runs_are_listed_and_skipped(reports, built, tmp_path):
    copy = tmp_path / "reports"
    shutil.copytree(reports / "runs", copy / "runs")
    (copy / "runs" / ".incomplete-20260101T000000Z_synthetic_svm-rbf_hog_s5_abc").mkdir()
    broken = copy / "runs" / "20260101T000000Z_synthetic_svm-poly_hog_s0_def"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    for name in ("config.json", "manifest.json", "predictions.csv", "splits.csv"):
        (broken / name).write_text("")
    result = build_report(copy)
    reasons = dict(result["skipped"])
    assert "incomplete" in reasons[".incomplete-20260101T000000Z_synthetic_svm-rbf_hog_s5_abc"]
    assert "unreadable" in reasons[broken.name]
    assert result["runs"] == 4
    assert (copy / "tables" / "synthetic_3fold_summary.csv").read_bytes() == \
        (reports / "tables" / "synthetic_3fold_summary.csv").read_bytes()
    assert broken.name in (copy / "report.md").read_text()


def test_report_without_runs_says_how_to_make_some(tmp_path):
    with pytest.raises(FerBenchError, match="no complete runs"):
        build_report(tmp_path)
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(tmp_path)])
    assert result.exit_code == 1 and "make demo" in " ".join(result.output.split())


def test_a_model_no_longer_registered_is_named_by_its_command_line_name():
    """Runs of a model that a later fer-bench no longer registers keep their rows, under the name they recorded."""
    from benchmark.report._experiments import display_name, registered_spec

    assert registered_spec("svm-retired") is None and display_name("svm-retired") == "svm-retired"
    assert registered_spec("svm-rbf").name == "svm-rbf" and display_name("svm-rbf") == "SVM, RBF kernel"


@pytest.mark.slow
def test_official_split_report_has_publictest_column_and_mcnemar(tmp_path, write_fer_csv, tiny_cnn):
    plan = [(usage, label) for usage, n in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan)
    reports = tmp_path / "reports"
    for model in ("svm-linear", tiny_cnn):
        run_experiment(RunConfig(dataset="fer2013", model=model, data_dir=str(csv), reports_dir=str(reports),
                                 features="hog" if model.startswith("svm") else None,
                                 epochs=None if model.startswith("svm") else 1,
                                 cache_dir=str(tmp_path / "cache") if model.startswith("svm") else None))
    build_report(reports)
    summary = (reports / "tables" / "fer2013_official_summary.md").read_text()
    assert "PublicTest acc. (%)" in summary and "PrivateTest reported" in summary
    tests = pd.read_csv(reports / "tables" / "fer2013_official_significance.csv")
    assert list(tests.test) == ["mcnemar_exact", "accuracy_difference"] and (tests.n == 14).all()
    b, c = tests.b.iloc[0], tests.c.iloc[0]
    diff, half = (b - c) / 14, 1.959963984540054 * np.sqrt((b + c) - (b - c) ** 2 / 14) / 14
    assert (tests.statistic.iloc[1], tests.ci_low.iloc[1], tests.ci_high.iloc[1]) == pytest.approx(
        (diff, diff - half, diff + half))


@pytest.mark.slow
def test_runs_on_different_data_are_never_averaged_together(tmp_path):
    reports = tmp_path / "reports"
    for data_seed in (1, 2):
        data = make_synthetic(n_subjects=6, images_per_class=2, seed=data_seed)
        run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog", seed=0, folds=3,
                                 inner_folds=2, n_jobs=1, reports_dir=str(reports),
                                 cache_dir=str(tmp_path / "c")),
                       dataset=data)
    build_report(reports)
    table = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv")
    assert len(table) == 2 and (table.n_seeds == 1).all()
    assert table.variant.str.startswith("data=").all()


@pytest.mark.slow  # runs of real kinds, about 3-4 s
def test_different_fold_counts_get_their_own_sections_and_single_rows_are_not_bold(tmp_path):
    reports = tmp_path / "reports"
    data = make_synthetic(n_subjects=6, images_per_class=2, seed=1)
    for folds in (2, 3):
        run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog", seed=0, folds=folds,
                                 inner_folds=2, n_jobs=1, reports_dir=str(reports),
                                 cache_dir=str(tmp_path / "c")),
                       dataset=data)
    built = build_report(reports)
    assert built["datasets"] == ["synthetic (2-fold)", "synthetic (3-fold)"]
    for k in (2, 3):
        tex = (reports / "tables" / f"synthetic_{k}fold_summary.tex").read_text()
        assert f"synthetic ({k}-fold)" in tex and "\\textbf" not in tex  # one row: nothing to be best against
        assert f"{k}-fold cross-validation, mean $\\pm$ std over folds" in tex  # what the spread is over
        md = (reports / "tables" / f"synthetic_{k}fold_summary.md").read_text()
        assert f"| {k} folds |" in md  # and Markdown's ± over column


@pytest.mark.slow  # runs of real kinds, about 3-4 s
def test_fer2013_folders_without_split_prefixes_are_not_called_official(tmp_path, write_fer_folders):
    plan = [(usage, label) for usage, n in (("Training", 3), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    root = write_fer_folders(tmp_path / "fer", plan, prefixes=False)
    reports = tmp_path / "reports"
    run_experiment(RunConfig(dataset="fer2013", model="svm-linear", features="hog", data_dir=str(root),
                             reports_dir=str(reports), cache_dir=str(tmp_path / "c")))
    build_report(reports)
    caption = (reports / "tables" / "fer2013_unofficial_summary.md").read_text().splitlines()[0]
    assert "NOT the official split" in caption and "(official split:" not in caption
    assert not (reports / "tables" / "fer2013_official_summary.md").exists()  # never filed as the official one


@pytest.mark.slow
def test_file_names_and_labels_stay_when_runs_of_another_protocol_arrive_or_a_sections_runs_leave(
        tmp_path, synthetic_linear_run, monkeypatch):
    """A thesis \\inputs tables/<dataset>_<protocol>_summary.tex and \\refs its label: adding runs of another fold
    count never renames or removes them, and a section whose runs left runs/ keeps its files."""
    from centroid_kind import MODEL, register_centroid
    from conftest import copy_run

    register_centroid(monkeypatch)  # the 2-fold run: the test kind's, which takes milliseconds

    reports = tmp_path / "reports"
    copy_run(synthetic_linear_run.run_dir, reports)
    build_report(reports)
    first = {p.relative_to(reports).as_posix(): p.read_bytes()
             for folder in ("tables", "figures") for p in (reports / folder).iterdir() if p.name != "sections.json"}
    assert "tables/synthetic_3fold_summary.tex" in first
    assert b"\\label{tab:synthetic-3fold-summary}" in first["tables/synthetic_3fold_summary.tex"]
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--model", MODEL, "--folds", "2",
                                      "--reports-dir", str(reports)])
    assert result.exit_code == 0, result.output
    build_report(reports)
    for name, content in first.items():  # every earlier file, byte for byte
        assert (reports / name).read_bytes() == content, name
    assert (reports / "tables" / "synthetic_2fold_summary.tex").is_file()
    text = (reports / "report.md").read_text()
    assert "- synthetic (3-fold): " in text and "- synthetic (2-fold): " in text
    # the 3-fold run moves to another reports folder: its section's files stay, listed as from an earlier build
    three = next(p for p in (reports / "runs").iterdir() if p.name == synthetic_linear_run.run_dir.name)
    shutil.move(three, tmp_path / "elsewhere")
    build_report(reports)
    for name, content in first.items():
        assert (reports / name).read_bytes() == content, name
    assert "- synthetic (3-fold) (from an earlier build; none of its runs is in runs/ now): " in \
        (reports / "report.md").read_text()
    index = json.loads((reports / "tables" / "sections.json").read_text())
    assert [(s["slug"], s["earlier"]) for s in index["sections"]] == [("synthetic_2fold", False),
                                                                      ("synthetic_3fold", True)]


@pytest.mark.slow  # runs of real kinds, about 3-4 s
def test_two_paired_folds_get_no_t_test_and_the_caption_says_what_no_test_can_reach(tmp_path):
    from centroid_kind import register_centroid, two_kind_runs

    from benchmark.report._experiment_tables import tests_table
    from benchmark.report._experiments import group_experiments

    with pytest.MonkeyPatch.context() as patch:
        register_centroid(patch)
        table = tests_table("synthetic (2-fold)", group_experiments(two_kind_runs(tmp_path, folds=2))[
            "synthetic (2-fold)"])
    assert [r["test"] for r in table.raw] == ["accuracy_difference", "cohens_d", "wilcoxon"]
    assert "No t-test on 2 paired folds (it needs 3 or more)" in table.caption
    assert "the Wilcoxon test cannot reach p < 0.05 (its smallest possible p is 0.5)" in table.caption


@pytest.mark.parametrize("n_classes", [7, 8])
def test_confusion_matrix_text_prints_at_7_pt_or_more_when_included_at_the_text_width(n_classes):
    """Every text of a matrix figure (cell numbers, class names, axis labels, title), scaled as LaTeX scales the
    figure to the 345 pt text width of a 10 pt article, is at least 7 pt."""
    import matplotlib.text

    from benchmark.figures import TEXT_WIDTH_IN, confusion_figure, pyplot

    cm = np.arange(n_classes * n_classes).reshape(n_classes, n_classes) * 37
    fig = confusion_figure(cm, [f"class-{k}" for k in range(n_classes)], "svm-rbf [hog+landmarks] on CK+ (10-fold)")
    scale = 345 / 72.27 / fig.get_figwidth()
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
    assert fig.get_figwidth() == pytest.approx(TEXT_WIDTH_IN)
    assert len(texts) >= n_classes * n_classes + 2 * n_classes + 3
    assert min(t.get_fontsize() * scale for t in texts) >= 7.0
    pyplot().close(fig)


def test_variant_names_show_the_value_a_cnn_trained_with_never_none():
    """Two mini-xception variants on FER2013, the paper's recipe (which records the published L2 and Adam as null or
    leaves them out, as runs before those options did) and another: the names say l2=0.01 and optimizer=adam."""
    from types import SimpleNamespace

    from benchmark.report._experiments import Experiment, _name_variants

    def experiment(options, config):
        run = SimpleNamespace(config={"model": "mini-xception", "epochs": 100, **config}, metrics={}, manifest={})
        return Experiment("fer2013", "mini-xception", "pixels", "deep", options, [run])

    paper = experiment({"epochs": 100}, {"l2": None, "optimizer": None})
    other = experiment({"epochs": 100, "l2": 1e-4, "optimizer": "sgd"}, {"l2": 1e-4, "optimizer": "sgd"})
    _name_variants([paper, other])
    assert (paper.variant, other.variant) == ("l2=0.01, optimizer=adam", "l2=0.0001, optimizer=sgd")
    assert "none" not in paper.slug.lower()


def test_learning_curves_have_whole_epoch_ticks_and_mark_each_folds_kept_epoch():
    from benchmark.figures import learning_curves_figure, pyplot, selected_epoch

    history = pd.DataFrame({"fold": ["fold-0"] * 4 + ["fold-1"] * 4, "epoch": [1, 2, 3, 4] * 2,
                            "loss": [2.0, 1.5, 1.2, 1.0] * 2, "accuracy": [0.2, 0.3, 0.4, 0.5] * 2,
                            "val_loss": [1.9, 1.4, 1.6, 1.4, 1.8, float("nan"), 1.7, 1.1],
                            "val_accuracy": [0.2, 0.35, 0.3, 0.36, 0.2, 0.1, 0.25, 0.4]})
    # the first lowest finite validation loss, as training restores it (strictly better only; NaN never)
    assert [selected_epoch(g) for _, g in history.groupby("fold")] == [2, 4]
    fig = learning_curves_figure(history, "mini-xception on CK+ (10-fold)")
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    stars = [line for line in fig.findobj() if getattr(line, "get_gid", lambda: None)() == "selected-epoch"]
    assert sorted(float(line.get_xdata()[0]) for line in stars) == [2.0, 2.0, 4.0, 4.0]  # loss and accuracy panels
    pyplot().close(fig)


def methods_fact(fact, **run) -> str | None:
    """One fact of the report's methods (``benchmark.report._methods``) for a stand-in run with just the given
    attributes (config, metrics, manifest ...), as "Name: text"; None where the fact is left out."""
    from types import SimpleNamespace

    from benchmark.report._methods import MARKDOWN

    found = fact(SimpleNamespace(**run), MARKDOWN)
    return None if found is None else ": ".join(found)


def test_methods_say_which_recipe_set_a_cnn_s_settings_where_its_dataset_has_a_validated_one():
    """A FER2013 mini-xception run on its validated recipe names the settings chosen on validation images; under
    ``--recipe paper`` the paper's; runs with no recipe recorded (other datasets, SVMs, earlier runs): no fact."""
    from benchmark.report._methods import _recipe

    def fact(**config):
        return methods_fact(_recipe, config={"model": "mini-xception", "dataset": "fer2013", "epochs": 100, **config})

    assert fact(recipe="validated", schedule="cosine", l2=1e-4, tta="ten-crop") == (
        "Recipe: the paper's, except the learning-rate schedule, weight penalty and test-time augmentation, chosen "
        "for this dataset on its validation images only (no test image seen)")
    # from the settings recorded, whatever the recipe's name: one overridden is no longer called validated
    assert fact(recipe="validated", tta="none", schedule="cosine", l2=1e-4) == (
        "Recipe: the paper's, except the learning-rate schedule and weight penalty, chosen for this dataset on its "
        "validation images only (no test image seen)")
    assert fact(recipe="paper", epochs=100, schedule="plateau", tta="none", l2=None) == "Recipe: the paper's"
    assert fact(recipe="paper", dataset="ck+") == "Recipe: the paper's"  # no validated recipe there
    # a setting that is neither the paper's nor the validated one is named with its value, never called the paper's
    assert fact(recipe="validated", schedule="cosine", l2=1e-4, tta="ten-crop", epochs=60, optimizer="sgd",
                lr=0.01) == (
        "Recipe: the paper's, except the learning-rate schedule, weight penalty and test-time augmentation, chosen "
        "for this dataset on its validation images only (no test image seen); and the number of epochs (60), "
        "learning rate (0.01) and optimiser (sgd), set for this run")
    assert fact(recipe="paper", dataset="ck+", tta="flip", batch_size=64) == (
        "Recipe: the paper's, except the batch size (64) and test-time augmentation (flip), set for this run")
    # the validated recipe as the run recorded it when it ran, not as registered since
    earlier = methods_fact(_recipe, config={"model": "mini-xception", "dataset": "fer2013", "epochs": 100,
                                            "recipe": "validated", "schedule": "cosine", "l2": 1e-3, "tta": "none"},
                           metrics={"training": {"l2": 1e-3, "validated_recipe": {"schedule": "cosine", "l2": 1e-3}}})
    assert earlier == ("Recipe: the paper's, except the learning-rate schedule and weight penalty, chosen for this "
                       "dataset on its validation images only (no test image seen)")
    assert fact(recipe=None) is None and fact(recipe="validated", epochs=None) is None  # not a CNN


def test_methods_state_early_stopping_s_threshold_where_a_paper_declares_one():
    """Patil's recipe stops after 5 epochs without a validation loss lower by more than 1e-4 (Keras's min_delta); a
    run records it in metrics.json (``training.min_delta``), and the methods say so; runs without one say nothing."""
    from benchmark.report._methods import _training

    def fact(training):
        return methods_fact(_training, config={"model": "cnn-patil", "epochs": 25, "batch_size": 32, "patience": 5,
                                               "l2": None}, metrics={"training": training})

    assert "after 5 epochs without a lower validation loss (by more than 0.0001), keeping" in fact(
        {"min_delta": 1e-4, "l2": 0.0})
    assert "after 5 epochs without a lower validation loss, keeping" in fact({"l2": 0.0})


def test_methods_state_the_plateau_rule_a_cnn_trained_with():
    """The default rule (x0.1 after a quarter of the patience) unless the run's metrics record its paper's own
    (VGG-FER: x0.75 after 6 epochs, Khaireddin & Chen's patience 5 in Keras's count)."""
    from benchmark.report._methods import _optimiser

    def fact(training=None, **config):
        return methods_fact(_optimiser, config={"epochs": 300, "patience": 20, "lr": 0.01, **config},
                            metrics={"training": training} if training is not None else {})

    assert fact(optimizer="adam").endswith(
        "learning rate 0.01, divided by 10 whenever the validation loss has not fallen for 5 epochs")
    assert fact({"plateau_factor": 0.75, "plateau_patience": 6}, optimizer="sgd", patience=300).endswith(
        "learning rate 0.01, multiplied by 0.75 whenever the validation loss has not fallen for 6 epochs")
    assert fact({"plateau_factor": 0.5, "plateau_patience": 3}, optimizer="sgd").endswith(
        "divided by 2 whenever the validation loss has not fallen for 3 epochs")


def test_methods_say_where_the_weight_penalty_acts():
    """mini-xception's builder places its paper's penalty on the kernels that paper penalises; VGG-FER's authors'
    weight decay (Keras L2 5e-5) goes on every kernel, as does an --l2 on any other architecture. A VGG-FER run
    that recorded a null L2 trained before that decay was registered: without a penalty, so no fact."""
    from benchmark.report._methods import _weight_penalty

    def fact(model, l2):
        return methods_fact(_weight_penalty, config={"model": model, "epochs": 10, "l2": l2}, metrics={})

    assert fact("mini-xception", None) == ("Weight penalty: L2 with coefficient 0.01 on the convolution kernels its "
                                           "paper penalises, added to the loss")
    assert fact("vgg-fer", 5e-5) == ("Weight penalty: L2 with coefficient 5e-05 on every convolution and dense "
                                     "kernel, added to the loss")
    assert fact("vgg-fer", None) is None and fact("cnn-gelu", None) is None
    assert fact("cnn-gelu", 1e-4).endswith("on every convolution and dense kernel, added to the loss")


def _hand_ensemble(reports: Path, model: str, part_column: str, part: str | None) -> tuple:
    """(ensemble accuracy, mean accuracy of the seeds, the ensemble accuracy's bootstrap interval over images) of
    ``model``'s runs under ``reports``, on the rows of ``part``
    (None: every row), computed here from the files: the mean of the seeds' score columns, per sample."""
    frames = [pd.read_csv(p, dtype={"sample_id": str}) for p in sorted((reports / "runs").glob(
        f"*_{model}_*/predictions.csv"))]
    assert len(frames) == 2
    frames = [(f if part is None else f[f[part_column] == part]).set_index("sample_id") for f in frames]
    scores = [c for c in frames[0].columns if c.startswith("score_")]
    mean = (frames[0][scores] + frames[1][scores].loc[frames[0].index]) / 2
    predicted = mean.to_numpy().argmax(axis=1)
    truth = frames[0].y_true.map({c[len("score_"):]: i for i, c in enumerate(scores)}).to_numpy()
    interval = bootstrap_ci(truth, predicted)  # resampling images (the official split's)
    return (float((predicted == truth).mean()), float(np.mean([(f.y_true == f.y_pred).mean() for f in frames])),
            interval)


def test_seed_ensembles_average_each_images_probabilities_over_a_cnns_seeds_and_refuse_unchecked_scores(
        tmp_path, write_fer_csv, tiny_cnn, small_synthetic):
    """A CNN experiment with several seeds gets a seed-ensemble row: per image the mean of its seeds' probabilities
    (official split: on PrivateTest, with the PublicTest figure; k-fold: pooled over every image, each seed with its
    own folds), beside the seeds' mean accuracy on the same images. One seed, or an SVM, gets none; a run whose
    scores do not rank its recorded prediction first is not averaged, and the table says so."""
    plan = [(usage, label) for usage, n in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan)
    reports = tmp_path / "reports"
    run_experiment(RunConfig(dataset="fer2013", model="svm-linear", data_dir=str(csv), reports_dir=str(reports),
                             features="hog", cache_dir=str(tmp_path / "cache")))
    for seed in (0, 1):
        run_experiment(RunConfig(dataset="fer2013", model=tiny_cnn, data_dir=str(csv), reports_dir=str(reports),
                                 epochs=2, seed=seed))
        build_report(reports)
        table = reports / "tables" / "fer2013_official_seed_ensembles.csv"
        assert table.is_file() == (seed == 1)  # one seed: nothing to average
    row = pd.read_csv(table)
    assert list(row.model) == [tiny_cnn] and row.n_seeds.iloc[0] == 2 and row.n_images.iloc[0] == 14
    accuracy, seeds, interval = _hand_ensemble(reports, tiny_cnn, "split", "PrivateTest")
    assert (row.accuracy.iloc[0], row.seeds_accuracy.iloc[0]) == pytest.approx((accuracy, seeds))
    assert (row.accuracy_ci_low.iloc[0], row.accuracy_ci_high.iloc[0]) == pytest.approx(interval)
    assert row.validation_accuracy.iloc[0] == pytest.approx(_hand_ensemble(reports, tiny_cnn, "split",
                                                                           "PublicTest")[0])
    assert row.gain.iloc[0] == pytest.approx(accuracy - seeds)
    assert ("**Seed ensembles.** For the 2 seeds of tiny test CNN, the seed-ensembles table also scores every image "
            "by the mean of the class probabilities") in (reports / "tables" / "fer2013_official_methods.md").read_text()
    tex = (reports / "tables" / "fer2013_official_seed_ensembles.tex").read_text()
    assert "\\citep{lakshminarayanan2017}" in tex and "@inproceedings{lakshminarayanan2017" in (
        reports / "references.bib").read_text()

    # k-fold: each seed's own folds, pooled over every image
    kfold = tmp_path / "kfold"
    for seed in (0, 1):
        run_experiment(RunConfig(dataset="synthetic", model=tiny_cnn, reports_dir=str(kfold), folds=3, inner_folds=2,
                                 epochs=1, seed=seed), dataset=small_synthetic)
    build_report(kfold)
    pooled = pd.read_csv(kfold / "tables" / "synthetic_3fold_seed_ensembles.csv")
    assert (pooled.accuracy.iloc[0], pooled.seeds_accuracy.iloc[0]) == pytest.approx(
        _hand_ensemble(kfold, tiny_cnn, "fold", None)[:2])
    assert pooled.accuracy_ci_low.iloc[0] <= pooled.accuracy.iloc[0] <= pooled.accuracy_ci_high.iloc[0]
    assert pooled.n_images.iloc[0] == len(small_synthetic.labels)

    # scores that do not rank the recorded prediction first, or are not numbers, even on the validation rows
    # only: that experiment is not averaged, the table says why, and the methods do not describe it
    path = sorted((reports / "runs").glob(f"*_{tiny_cnn}_*_s1_*/predictions.csv"))[0]
    original = pd.read_csv(path, dtype={"sample_id": str, "subject": str}, keep_default_na=False)
    scores = [c for c in original.columns if c.startswith("score_")]
    public = original.split == "PublicTest"
    swapped, text_cell = original.copy(), original.astype({scores[0]: object})
    swapped.loc[public, scores] = original.loc[public, scores].to_numpy()[:, ::-1]  # probabilities swapped around
    text_cell.loc[public[public].index[0], scores[0]] = "abc"
    for frame, why in ((swapped, "predictions.csv predicts sample"),
                       (text_cell, "predictions.csv's scores are not probabilities")):
        frame.to_csv(path, index=False)
        build_report(reports)
        text = (reports / "tables" / "fer2013_official_seed_ensembles.md").read_text()
        assert f"not ensembled ({path.parent.name}: {why}" in text
        assert not (reports / "tables" / "fer2013_official_seed_ensembles.csv").read_text().strip()  # no row
        assert "Seed ensembles" not in (reports / "tables" / "fer2013_official_methods.md").read_text()
