"""FER2013's PrivateTest images that are pixel-identical copies of Training or PublicTest images: flagged per row in
predictions.csv, left out of a second accuracy in metrics.json (with the counts), recomputed by the verifier, shown
on the console and in the report; runs recorded before the flag existed still load and verify, without the figure.

The run is real: a tiny learnable FER2013 CSV (``learnable_fer_plan``: 140 Training, 70 PublicTest, 70
PrivateTest rows) in which some PrivateTest rows are copies of Training and PublicTest rows, through ``fer-bench
run`` (svm-linear on hog).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.datasets import DATASETS, load_dataset, make_synthetic
from benchmark.evaluation import write_evaluation
from benchmark.metrics import DUPLICATE_COLUMN, summarise
from benchmark.protocols import PROTOCOLS, make_protocol
from benchmark.record import read_run
from benchmark.report import build_report
from benchmark.verification import check_run

#: Row positions in the CSV (``learnable_fer_plan``'s order): Training 0-139, PublicTest 140-209, PrivateTest
#: 210-279.
TRAINING, PUBLIC, PRIVATE = range(0, 140), range(140, 210), range(210, 280)
#: copy -> original: the copy's pixels are replaced by the original's
COPIES = {
    210: 0,      # PrivateTest <- Training, the same class
    213: 5,      # PrivateTest <- Training, another class (the copy keeps its own label)
    220: 150,    # PrivateTest <- PublicTest
    231: 230,    # PrivateTest <- PrivateTest: a copy within the test split is not a copy the models saw
    160: 20,     # PublicTest <- Training: flagged on its PublicTest row, no part of the PrivateTest figure
}
BLANK = (30, 240)  # a blank Training image and a blank PrivateTest image of the same grey: pixel-identical too
FLAGGED_PRIVATE = {210, 213, 220, 240}
FLAGGED_PUBLIC = {160}
FIGURES = ("accuracy_without_cross_split_duplicates", "n_scored_without_duplicates", "n_cross_split_duplicates")


def _sample_id(row: int) -> str:
    return f"fer2013.csv:{row + 2}"  # the CSV's line number: header on line 1


@pytest.fixture(scope="module")
def dup_csv(tmp_path_factory, learnable_fer_plan, write_fer_csv) -> Path:
    """The learnable FER2013 CSV with the copies above."""
    plan, images = learnable_fer_plan
    images = images.copy()
    for copy, original in COPIES.items():
        images[copy] = images[original]
    images[list(BLANK)] = 128
    return write_fer_csv(tmp_path_factory.mktemp("dup-csv") / "fer2013.csv", plan, images=images)


@pytest.fixture(scope="module")
def dup_run(tmp_path_factory, dup_csv):
    """(the CLI result, the run folder): svm-linear on hog of :func:`dup_csv` (FER2013's default solver,
    liblinear; about 5 s in all)."""
    root = tmp_path_factory.mktemp("dup-run")
    env = {"FER_BENCH_CACHE": str(root / "env-cache"), "FER_BENCH_DATA": str(root / "no-data")}
    result = CliRunner().invoke(app, ["run", "--dataset", "fer2013", "--data-dir", str(dup_csv), "--model",
                                      "svm-linear", "--features", "hog", "--seed", "0",
                                      "--reports-dir", str(root / "reports"), "--cache-dir", str(root / "cache")],
                                env=env)
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "reports" / "runs").iterdir()
    return result, run_dir


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "reports" / "runs" / run_dir.name))


def _edit_json(path: Path, edit) -> None:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value, indent=2))


def _as_before_the_flag(run_dir: Path) -> None:
    """The run as fer-bench wrote it before the flag existed: record schema 3, no column, no figure."""
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype={"sample_id": str, "subject": str})
    predictions.drop(columns=[DUPLICATE_COLUMN]).to_csv(run_dir / "predictions.csv", index=False)
    _edit_json(run_dir / "metrics.json", lambda m: [m.pop(key) for key in FIGURES])
    _edit_json(run_dir / "manifest.json", lambda m: m.update(schema_version=3))


# ------------------------------------------------------------------------------------------------ the protocol

def test_the_official_split_flags_exactly_the_copies_of_training_and_publictest_images(dup_csv):
    dataset = load_dataset("fer2013", dup_csv)
    protocol = make_protocol(dataset)
    assert protocol.duplicates_looked_for_in == "Training or PublicTest"
    scored = np.flatnonzero(dataset.splits != "Training")
    frame = pd.DataFrame({"sample_id": dataset.sample_ids[scored], "split": dataset.splits[scored]})
    marked = protocol.mark_duplicates(frame, dataset)
    assert DUPLICATE_COLUMN not in frame and marked[DUPLICATE_COLUMN].dtype == bool
    flagged = marked[marked[DUPLICATE_COLUMN]]
    assert set(flagged.sample_id[flagged.split == "PrivateTest"]) == {_sample_id(r) for r in FLAGGED_PRIVATE}
    assert set(flagged.sample_id[flagged.split == "PublicTest"]) == {_sample_id(r) for r in FLAGGED_PUBLIC}


def test_fer2013_and_ferplus_flag_duplicates_ck_and_synthetic_do_not():
    """The registry's datasets: those on the official split (FER2013, FER+) flag; the k-fold ones never."""
    marks = {name: PROTOCOLS[entry.protocol].duplicates_looked_for_in is not None for name, entry in DATASETS.items()}
    assert marks == {**{name: False for name in DATASETS}, "fer2013": True, "ferplus": True}


def test_k_fold_protocols_flag_nothing():
    """CK+ and the synthetic faces: every image is a test image once; nothing changes in their runs."""
    dataset = make_synthetic(n_subjects=4, images_per_class=2, seed=1)
    protocol = make_protocol(dataset, seed=0, folds=2)
    frame = pd.DataFrame({"sample_id": dataset.sample_ids, "y_true": "a", "y_pred": "a"})
    assert protocol.duplicates_looked_for_in is None and protocol.mark_duplicates(frame, dataset) is frame


def test_summarise_scores_the_unflagged_test_rows_and_the_writer_puts_the_flag_beside_y_pred(tmp_path):
    """By hand: PrivateTest 3/4 right overall; without its one flagged row (a right one) 2/3."""
    predictions = pd.DataFrame({
        "sample_id": list("abcdef"), "subject": "", "split": ["PublicTest"] * 2 + ["PrivateTest"] * 4,
        "y_true": ["x", "y", "x", "y", "x", "y"], "y_pred": ["x", "x", "x", "y", "y", "y"],
        DUPLICATE_COLUMN: [True, False, True, False, False, False], "score_x": np.zeros(6)})
    m = summarise(predictions, ["x", "y"], part_column="split")
    assert m["accuracy"] == 0.75 and m["validation"]["accuracy"] == 0.5
    assert (m["accuracy_without_cross_split_duplicates"], m["n_scored_without_duplicates"],
            m["n_cross_split_duplicates"]) == (pytest.approx(2 / 3), 3, 1)
    assert not set(FIGURES) & set(summarise(predictions.drop(columns=[DUPLICATE_COLUMN]), ["x", "y"],
                                            part_column="split"))
    write_evaluation(tmp_path, predictions, ["x", "y"], part_column="split", header={"model": "m"})
    written = pd.read_csv(tmp_path / "predictions.csv")
    assert list(written.columns) == ["sample_id", "subject", "split", "y_true", "y_pred", DUPLICATE_COLUMN, "score_x"]


# ------------------------------------------------------------------------------------------------ the real run
# (slow: the run takes about 5 s; the tests after it reuse it)

@pytest.mark.slow
def test_predictions_flag_exactly_the_copies_of_training_and_publictest_images(dup_run):
    _, run_dir = dup_run
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype={"sample_id": str})
    assert list(predictions.columns[:6]) == ["sample_id", "subject", "split", "y_true", "y_pred", DUPLICATE_COLUMN]
    assert predictions[DUPLICATE_COLUMN].dtype == bool
    flagged = predictions[predictions[DUPLICATE_COLUMN]]
    assert set(flagged.sample_id[flagged.split == "PrivateTest"]) == {_sample_id(r) for r in FLAGGED_PRIVATE}
    assert set(flagged.sample_id[flagged.split == "PublicTest"]) == {_sample_id(r) for r in FLAGGED_PUBLIC}


@pytest.mark.slow
def test_metrics_score_privatetest_without_the_copies_with_the_counts(dup_run):
    _, run_dir = dup_run
    metrics = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype={"sample_id": str})
    test = predictions[predictions.split == "PrivateTest"]
    kept = test[~test.sample_id.isin({_sample_id(r) for r in FLAGGED_PRIVATE})]
    assert len(test) == 70 and len(kept) == 66
    assert metrics["n_cross_split_duplicates"] == 4 and metrics["n_scored_without_duplicates"] == 66
    assert metrics["accuracy_without_cross_split_duplicates"] == pytest.approx((kept.y_true == kept.y_pred).mean())
    assert metrics["accuracy"] == pytest.approx((test.y_true == test.y_pred).mean())  # the official figure as it was


@pytest.mark.slow
def test_the_run_verifies_and_the_console_says_the_figure(dup_run):
    result, run_dir = dup_run
    run = read_run(run_dir)
    assert run.facts.marks_duplicates and check_run(run) is None
    text = " ".join(result.output.replace("│", " ").split())  # the summary table's cells, wrapped or not
    assert f"{run.metrics['accuracy_without_cross_split_duplicates']:.4f} (66 scored, 4 left out)" in text
    assert "pixel-identical copies in Training or PublicTest" in text


# ------------------------------------------------------------------------------------------------ the verifier

@pytest.mark.slow
@pytest.mark.parametrize("edit, reason", [
    (lambda m: m.update(accuracy_without_cross_split_duplicates=m["accuracy_without_cross_split_duplicates"] + 0.05),
     "accuracy_without_cross_split_duplicates"),
    (lambda m: m.update(n_cross_split_duplicates=0), "n_cross_split_duplicates"),
    (lambda m: m.pop("n_scored_without_duplicates"), "lacks n_scored_without_duplicates"),
])
def test_the_verifier_refuses_a_tampered_figure(dup_run, tmp_path, edit, reason):
    run_dir = _copy(dup_run[1], tmp_path)
    _edit_json(run_dir / "metrics.json", edit)
    problem = check_run(read_run(run_dir))
    assert problem is not None and reason in problem and "metrics.json" in problem


@pytest.mark.slow
def test_the_verifier_refuses_a_flag_that_is_not_true_or_false(dup_run, tmp_path):
    run_dir = _copy(dup_run[1], tmp_path)
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype=str, keep_default_na=False)
    predictions.loc[3, DUPLICATE_COLUMN] = "maybe"
    predictions.to_csv(run_dir / "predictions.csv", index=False)
    problem = check_run(read_run(run_dir))
    assert problem is not None and DUPLICATE_COLUMN in problem and "'maybe'" in problem


@pytest.mark.slow
def test_a_run_recorded_before_the_flag_verifies_without_the_figure(dup_run, tmp_path):
    run_dir = _copy(dup_run[1], tmp_path)
    _as_before_the_flag(run_dir)
    run = read_run(run_dir)
    assert not run.facts.marks_duplicates and check_run(run) is None
    assert not set(FIGURES) & set(run.metrics)


@pytest.mark.slow
def test_a_current_run_without_the_column_or_with_a_figure_it_cannot_back_is_refused(dup_run, tmp_path):
    run_dir = _copy(dup_run[1], tmp_path)
    _as_before_the_flag(run_dir)
    _edit_json(run_dir / "manifest.json", lambda m: m.update(schema_version=4))
    problem = check_run(read_run(run_dir))
    assert problem is not None and f"lacks the column {DUPLICATE_COLUMN}" in problem
    _edit_json(run_dir / "manifest.json", lambda m: m.update(schema_version=3))
    _edit_json(run_dir / "metrics.json", lambda m: m.update(accuracy_without_cross_split_duplicates=0.9))
    problem = check_run(read_run(run_dir))
    assert problem is not None and "no duplicate_in_training_or_validation column" in problem


@pytest.mark.slow
def test_a_run_of_an_older_schema_with_the_column_is_refused_for_what_it_is(dup_run, tmp_path):
    """The column in a schema-3 run (which never wrote it): said as such, not as a figure metrics.json lacks."""
    run_dir = _copy(dup_run[1], tmp_path)
    _edit_json(run_dir / "metrics.json", lambda m: [m.pop(key) for key in FIGURES])
    _edit_json(run_dir / "manifest.json", lambda m: m.update(schema_version=3))
    problem = check_run(read_run(run_dir))
    assert problem == (f"predictions.csv has the column {DUPLICATE_COLUMN}, but no run of record schema 3 has it "
                       f"(since schema 4): the file was edited or comes from another run")


# ------------------------------------------------------------------------------------------------ the report

@pytest.mark.slow
def test_the_report_gives_the_figure_and_its_counts_beside_the_privatetest_accuracy(dup_run, tmp_path):
    run_dir = _copy(dup_run[1], tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    acc, kept = 100 * metrics["accuracy"], 100 * metrics["accuracy_without_cross_split_duplicates"]
    build_report(tmp_path / "reports")
    tables = tmp_path / "reports" / "tables"
    md = (tables / "fer2013_official_without_duplicates.md").read_text()
    assert ("accuracy on the PrivateTest images that have no pixel-identical copy in Training or PublicTest, beside "
            "the accuracy on every PrivateTest image") in md
    assert ("| Model | Features | PrivateTest acc. (%) | Acc. without duplicates (%) | Difference (pp) | Images scored "
            "| Images left out | Seeds |") in md
    assert f"| SVM, linear kernel | hog | {acc:.1f} | {kept:.1f} | {kept - acc:+.1f} | 66 | 4 | 1 |" in md
    tex = (tables / "fer2013_official_without_duplicates.tex").read_text()
    assert "Acc. & No dup. & Diff. & Scored & Left out & n" in tex and "\\citep{goodfellow2013}" in tex
    assert "No dup.: accuracy on the PrivateTest images without a copy (\\%)" in tex
    (row,) = pd.read_csv(tables / "fer2013_official_without_duplicates.csv").to_dict("records")
    assert row["accuracy_without_cross_split_duplicates"] == pytest.approx(kept / 100)
    assert (row["n_scored_without_duplicates"], row["n_cross_split_duplicates"]) == (66, 4)
    report = (tmp_path / "reports" / "report.md").read_text()
    assert report.index("fer2013_official_summary.tex") < report.index("fer2013_official_without_duplicates.tex")
    assert "duplicates" not in (tables / "fer2013_official_summary.md").read_text()  # the summary stays as it was


@pytest.mark.slow
def test_a_report_of_runs_recorded_before_the_flag_keeps_its_table_as_it_was(dup_run, tmp_path):
    _as_before_the_flag(_copy(dup_run[1], tmp_path))
    build_report(tmp_path / "reports")
    assert not list((tmp_path / "reports" / "tables").glob("*duplicates*"))
    assert "without_duplicates" not in (tmp_path / "reports" / "report.md").read_text()


@pytest.mark.slow
def test_a_column_edited_with_its_figures_is_refused_beside_runs_on_the_same_data(dup_run, tmp_path):
    """A run's own check sees only that its figures agree with its column; the flags come from the images, so
    every run on the same data must flag the same images, and one that flags others is left out."""
    from benchmark.verification import verify_runs

    first = _copy(dup_run[1], tmp_path)
    name = first.name[first.name.index("_"):]
    second, edited = (Path(shutil.copytree(first, first.parent / (stamp + name)))
                      for stamp in ("29990101T000000000000Z", "29990102T000000000000Z"))
    predictions = pd.read_csv(edited / "predictions.csv", dtype={"sample_id": str, "subject": str})
    unflagged = predictions.index[(predictions.split == "PrivateTest") & ~predictions[DUPLICATE_COLUMN]]
    predictions.loc[unflagged[0], DUPLICATE_COLUMN] = True
    predictions.to_csv(edited / "predictions.csv", index=False)
    metrics = json.loads((edited / "metrics.json").read_text())
    figures = summarise(predictions, metrics["class_names"], part_column="split")
    _edit_json(edited / "metrics.json", lambda m: m.update({key: figures[key] for key in FIGURES}))
    assert check_run(read_run(edited)) is None  # its own files agree

    good, inconsistent = verify_runs([read_run(p) for p in (first, second, edited)])
    assert [run.path for run in good] == [first, second]
    [(run_id, reason)] = inconsistent
    flagged = len(FLAGGED_PRIVATE | FLAGGED_PUBLIC)
    assert run_id == edited.name and f"flags {flagged + 1} images" in reason
    assert f"flag other images ({flagged})" in reason
    # two runs that disagree: neither can be told right
    good, inconsistent = verify_runs([read_run(p) for p in (first, edited)])
    assert good == [] and {run_id for run_id, _ in inconsistent} == {first.name, edited.name}
