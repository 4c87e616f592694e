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
def reports(tmp_path_factory):
    """svm-linear on hog with seeds 0 and 1, svm-rbf on hog and mini-xception (1 epoch), all seed-0 folds shared."""
    root = tmp_path_factory.mktemp("report") / "reports"
    small = make_synthetic(n_subjects=6, images_per_class=2, seed=1)
    common = dict(dataset="synthetic", reports_dir=str(root), folds=3, inner_folds=2,
                  cache_dir=str(root.parent / "cache"))
    for model, seed in (("svm-linear", 0), ("svm-linear", 1), ("svm-rbf", 0)):
        run_experiment(RunConfig(model=model, features="hog", seed=seed, **common), dataset=small)
    run_experiment(RunConfig(model="mini-xception", seed=0, epochs=1, batch_size=16, **common), dataset=small)
    return root


@pytest.fixture(scope="module")
def built(reports):
    return build_report(reports)


def _metrics(reports: Path, model: str, seed: int) -> dict:
    for path in sorted((reports / "runs").glob(f"*_{model}_*_s{seed}_*/metrics.json")):
        return json.loads(path.read_text())
    raise AssertionError(f"no run of {model} seed {seed}")


def test_report_writes_tables_figures_and_documents(reports, built):
    tables = {p.name for p in (reports / "tables").iterdir()}
    for name in ("synthetic_summary", "synthetic_per_class_f1", "synthetic_confidence_intervals",
                 "synthetic_significance"):
        assert {f"{name}.tex", f"{name}.md", f"{name}.csv"} <= tables
    figures = {p.name for p in (reports / "figures").iterdir()}
    assert "synthetic_best_classical_vs_deep_confusion.pdf" in figures
    assert "synthetic_mini-xception-pixels_learning_curves.png" in figures
    assert "synthetic_svm-rbf-hog_confusion.pdf" in figures
    report = (reports / "report.md").read_text()
    assert "## Provenance" in report and "fer-bench 0.1.0" in report
    assert make_synthetic(n_subjects=6, images_per_class=2, seed=1).fingerprint[:12] in report
    assert r"\input{tables/synthetic_summary.tex}" in (reports / "report.tex").read_text()
    assert built["runs"] == 4


def test_summary_numbers_match_metrics_json_and_seeds_are_aggregated(reports, built):
    table = pd.read_csv(reports / "tables" / "synthetic_summary.csv")
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
    assert deep.group == "deep" and deep["size"] == "58,423 params"
    tex = (reports / "tables" / "synthetic_summary.tex").read_text()
    assert f"{100 * m['accuracy']:.1f} $\\pm$ {100 * m['accuracy_std']:.1f}" in tex
    assert f"{100 * np.mean(accs):.1f} $\\pm$ {100 * np.std(accs, ddof=1):.1f}" in tex


def test_best_value_per_column_is_bold(reports, built):
    table = pd.read_csv(reports / "tables" / "synthetic_summary.csv")
    best = table.accuracy.max()
    tex = (reports / "tables" / "synthetic_summary.tex").read_text()
    bold = re.findall(r"\\textbf\{([0-9.]+) \$\\pm\$", tex)
    assert f"{100 * best:.1f}" in bold


def test_tex_tables_are_well_formed_booktabs(reports, built):
    for path in (reports / "tables").glob("*.tex"):
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


def test_paired_tests_compare_best_classical_and_best_deep_over_shared_folds(reports, built):
    tests = pd.read_csv(reports / "tables" / "synthetic_significance.csv")
    assert set(tests.test) == {"corrected_resampled_ttest", "wilcoxon"}
    assert (tests.n == 3).all()
    assert tests.comparison.str.contains("vs mini-xception").all()


def test_rebuilding_from_the_same_runs_gives_byte_identical_tables(reports, built, tmp_path):
    before = {p.name: p.read_bytes() for p in (reports / "tables").iterdir()}
    report_md = (reports / "report.md").read_bytes()
    build_report(reports)
    assert {p.name: p.read_bytes() for p in (reports / "tables").iterdir()} == before
    assert (reports / "report.md").read_bytes() == report_md


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
    assert (copy / "tables" / "synthetic_summary.csv").read_bytes() == \
        (reports / "tables" / "synthetic_summary.csv").read_bytes()
    assert broken.name in (copy / "report.md").read_text()


def test_report_without_runs_says_how_to_make_some(tmp_path):
    with pytest.raises(FerBenchError, match="no complete runs"):
        build_report(tmp_path)
    result = CliRunner().invoke(app, ["report", "--reports-dir", str(tmp_path)])
    assert result.exit_code == 1 and "make demo" in " ".join(result.output.split())


def test_official_split_report_has_publictest_column_and_mcnemar(tmp_path, write_fer_csv):
    plan = [(usage, label) for usage, n in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan)
    reports = tmp_path / "reports"
    for model in ("svm-linear", "mini-xception"):
        run_experiment(RunConfig(dataset="fer2013", model=model, data_dir=str(csv), reports_dir=str(reports),
                                 features="hog" if model.startswith("svm") else None,
                                 epochs=None if model.startswith("svm") else 1,
                                 cache_dir=str(tmp_path / "cache") if model.startswith("svm") else None))
    build_report(reports)
    summary = (reports / "tables" / "fer2013_summary.md").read_text()
    assert "PublicTest acc. (%)" in summary and "PrivateTest reported" in summary
    tests = pd.read_csv(reports / "tables" / "fer2013_significance.csv")
    assert list(tests.test) == ["mcnemar_exact"] and tests.n.iloc[0] == 14


def test_runs_on_different_data_are_never_averaged_together(tmp_path):
    reports = tmp_path / "reports"
    for data_seed in (1, 2):
        data = make_synthetic(n_subjects=6, images_per_class=2, seed=data_seed)
        run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog", seed=0, folds=3,
                                 inner_folds=2, reports_dir=str(reports), cache_dir=str(tmp_path / "c")),
                       dataset=data)
    build_report(reports)
    table = pd.read_csv(reports / "tables" / "synthetic_summary.csv")
    assert len(table) == 2 and (table.n_seeds == 1).all()
    assert table.variant.str.startswith("data=").all()


def test_different_fold_counts_get_their_own_sections_and_single_rows_are_not_bold(tmp_path):
    reports = tmp_path / "reports"
    data = make_synthetic(n_subjects=6, images_per_class=2, seed=1)
    for folds in (2, 3):
        run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog", seed=0, folds=folds,
                                 inner_folds=2, reports_dir=str(reports), cache_dir=str(tmp_path / "c")),
                       dataset=data)
    built = build_report(reports)
    assert built["datasets"] == ["synthetic (2-fold)", "synthetic (3-fold)"]
    for k in (2, 3):
        tex = (reports / "tables" / f"synthetic-{k}-fold_summary.tex").read_text()
        assert f"synthetic ({k}-fold)" in tex and "\\textbf" not in tex  # one row: nothing to be best against
        assert f"{k} folds" in tex  # the ± over column says what the spread is over


def test_fer2013_folders_without_split_prefixes_are_not_called_official(tmp_path, write_fer_folders):
    plan = [(usage, label) for usage, n in (("Training", 3), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    root = write_fer_folders(tmp_path / "fer", plan, prefixes=False)
    reports = tmp_path / "reports"
    run_experiment(RunConfig(dataset="fer2013", model="svm-linear", features="hog", data_dir=str(root),
                             reports_dir=str(reports), cache_dir=str(tmp_path / "c")))
    build_report(reports)
    caption = (reports / "tables" / "fer2013_summary.md").read_text().splitlines()[0]
    assert "NOT the official split" in caption and "(official split:" not in caption
