"""The report uses only runs it can defend: files that agree (predictions, splits, metrics), duplicates that
agree, and a reports folder it can write; everything set aside is named, with the reason, in the report.

Runs are real (svm-linear, svm-rbf and a 1-epoch mini-xception on a small synthetic set, svm-linear on a tiny
FER2013 CSV), made once per module; each test copies the folders it needs and breaks them on purpose.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from benchmark.errors import EXIT_FAILED, EXIT_USAGE, FerBenchError, WorkFailedError
from benchmark.evaluation import summarise
from benchmark.experiment import RunConfig, run_experiment
from benchmark.report import Run, Table, build_report, check_run, collect_runs, latex_escape
from benchmark.report._output import OUTPUT_FILES, staged
from conftest import copy_run


@pytest.fixture(scope="module")
def source(tmp_path_factory, small_synthetic, small_cnn_run):
    """runs/ with svm-linear and svm-rbf on hog and mini-xception (1 epoch, the session's shared run), seed 0, on
    the same small data."""
    root = tmp_path_factory.mktemp("trust") / "reports"
    common = dict(dataset="synthetic", reports_dir=str(root), folds=3, inner_folds=2, seed=0)
    for model in ("svm-linear", "svm-rbf"):
        run_experiment(RunConfig(model=model, features="hog", cache_dir=str(root.parent / "cache"), **common),
                       dataset=small_synthetic)
    copy_run(small_cnn_run, root)
    return root / "runs"


@pytest.fixture(scope="module")
def official(tmp_path_factory, learnable_fer_plan, write_fer_csv):
    """runs/ with svm-linear on a tiny FER2013 CSV (official split: Training, PublicTest, PrivateTest)."""
    root = tmp_path_factory.mktemp("trust-fer")
    plan, images = learnable_fer_plan
    csv = write_fer_csv(root / "fer2013.csv", plan, images=images)
    run_experiment(RunConfig(dataset="fer2013", model="svm-linear", features="hog", data_dir=str(csv),
                             reports_dir=str(root / "reports"), cache_dir=str(root / "cache")))
    return root / "reports" / "runs"


def _folder(runs: Path, model: str) -> Path:
    found = sorted(runs.glob(f"*_{model}_*"))
    assert len(found) == 1, found
    return found[0]


def _reports_with(tmp_path: Path, runs: Path, *models: str) -> Path:
    """A fresh reports folder holding copies of the named models' runs."""
    reports = tmp_path / "reports"
    for model in models:
        folder = _folder(runs, model)
        shutil.copytree(folder, reports / "runs" / folder.name)
    return reports


def _later_copy(folder: Path) -> Path:
    """The same run under a later run id (as if run again): same config hash, seed, data and platform."""
    copy = folder.parent / ("29990101T000000000000Z" + folder.name[folder.name.index("_"):])
    shutil.copytree(folder, copy)
    return copy


def _predictions(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "predictions.csv", dtype={"sample_id": str, "subject": str})


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _change_one_prediction(folder: Path) -> None:
    """Predict another class for one sample and rewrite metrics.json from the predictions, so the run stays
    self-consistent and only a comparison with its duplicate can tell."""
    preds = _predictions(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    classes = metrics["class_names"]
    preds.loc[0, "y_pred"] = next(c for c in classes if c != preds.loc[0, "y_pred"])
    preds.to_csv(folder / "predictions.csv", index=False)
    metrics.update(summarise(preds, classes, part_column="fold"))
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))


def _table_texts(reports: Path) -> str:
    return "\n".join(p.read_text() for p in sorted((reports / "tables").iterdir()))


def _load(folder: Path) -> Run:
    runs, skipped = collect_runs(folder.parent)
    assert not skipped
    return next(run for run in runs if run.path == folder)


# ------------------------------------------------------------------------------------ one run's files agree

@pytest.mark.slow
def test_runs_as_written_pass_every_check(source, official):
    for runs in (source, official):
        loaded, skipped = collect_runs(runs)
        assert loaded and not skipped
        assert [check_run(run) for run in loaded] == [None] * len(loaded)


def _cut_in_half(folder):
    preds = _predictions(folder)
    preds.iloc[:len(preds) // 2].to_csv(folder / "predictions.csv", index=False)


def _duplicate_a_row(folder):
    preds = _predictions(folder)
    pd.concat([preds, preds.iloc[[3]]]).to_csv(folder / "predictions.csv", index=False)


def _relabel(folder):
    preds = _predictions(folder)
    classes = json.loads((folder / "metrics.json").read_text())["class_names"]
    preds.loc[0, "y_true"] = next(c for c in classes if c != preds.loc[0, "y_true"])
    preds.to_csv(folder / "predictions.csv", index=False)


def _move_to_another_fold(folder):
    preds = _predictions(folder)
    a = preds.index[preds.fold == "fold-0"][0]
    b = preds.index[preds.fold == "fold-1"][0]
    preds.loc[[a, b], "fold"] = ["fold-1", "fold-0"]  # counts per fold unchanged
    preds.to_csv(folder / "predictions.csv", index=False)


def _drop_a_split_row(folder):
    splits = pd.read_csv(folder / "splits.csv", dtype=str)
    splits.iloc[1:].to_csv(folder / "splits.csv", index=False)


def _accuracy(m):
    m["accuracy"] += 0.01


def _fold_macro_f1(m):
    m["folds"]["fold-1"]["macro_f1"] -= 0.05


def _confusion(m):
    m["confusion_matrix"][0][0] += 1


BREAKAGES = {
    "predictions cut in half": (_cut_in_half, "predictions.csv has {half} rows for {n} test images in splits.csv"),
    "a duplicated prediction row": (_duplicate_a_row, "predictions.csv lists sample"),
    "y_true unlike splits.csv": (_relabel, "but splits.csv gives it"),
    "a sample in another fold": (_move_to_another_fold, "but splits.csv puts it in"),
    "a row missing from splits.csv": (_drop_a_split_row, "where manifest.json's protocol sizes say"),
    "metrics.json accuracy edited": (lambda f: _edit_json(f / "metrics.json", _accuracy),
                                     "metrics.json accuracy is"),
    "metrics.json fold macro-F1 edited": (lambda f: _edit_json(f / "metrics.json", _fold_macro_f1),
                                          "metrics.json folds.fold-1.macro_f1 is"),
    "metrics.json confusion matrix edited": (lambda f: _edit_json(f / "metrics.json", _confusion),
                                             "metrics.json confusion_matrix differs"),
}


@pytest.mark.slow
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_run_whose_files_disagree_is_named_with_the_reason(source, tmp_path, breakage):
    reports = _reports_with(tmp_path, source, "svm-rbf")
    folder = _folder(reports / "runs", "svm-rbf")
    n = len(_predictions(folder))
    break_it, expected = BREAKAGES[breakage]
    break_it(folder)
    reason = check_run(_load(folder))
    assert reason is not None and expected.format(half=n // 2, n=n) in reason, reason
    assert "\n" not in reason


def test_official_split_checks_privatetest_and_publictest_separately(official, tmp_path):
    reports = _reports_with(tmp_path, official, "svm-linear")
    folder = _folder(reports / "runs", "svm-linear")
    preds = _predictions(folder)
    private = preds.index[preds.split == "PrivateTest"]
    preds.drop(private[: len(private) // 2]).to_csv(folder / "predictions.csv", index=False)
    reason = check_run(_load(folder))
    assert f"PrivateTest: {len(private) - len(private) // 2} rows for {len(private)} images" in reason


@pytest.mark.slow
def test_a_half_cut_run_is_in_no_table_or_figure(source, tmp_path):
    """The regression: predictions.csv cut in half used to give a confidence interval on half the images."""
    reports = _reports_with(tmp_path, source, "svm-linear", "svm-rbf")
    bad = _folder(reports / "runs", "svm-rbf")
    _cut_in_half(bad)
    built = build_report(reports)
    assert built["runs"] == 1 and [name for name, _ in built["inconsistent"]] == [bad.name]
    assert "predictions.csv has" in built["inconsistent"][0][1]
    assert list(pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv").model) == ["svm-linear"]
    assert list(pd.read_csv(reports / "tables" / "synthetic_3fold_confidence_intervals.csv").model) == ["svm-linear"]
    assert bad.name not in _table_texts(reports)
    assert not [p for p in (reports / "figures").iterdir() if "svm-rbf" in p.name]
    report = (reports / "report.md").read_text()
    assert f"`{bad.name}`: inconsistent: predictions.csv has" in report
    assert "1 inconsistent run" in report
    assert latex_escape(bad.name) in (reports / "report.tex").read_text()


@pytest.mark.slow
def test_with_no_consistent_run_the_report_fails_saying_how_many_were_left_out(source, tmp_path):
    reports = _reports_with(tmp_path, source, "svm-rbf")
    _cut_in_half(_folder(reports / "runs", "svm-rbf"))
    with pytest.raises(WorkFailedError) as caught:
        build_report(reports)
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_FAILED and "\n" not in message
    assert "1 inconsistent, e.g. " in message and "predictions.csv has" in message and "fer-bench run" in message
    assert not (reports / "tables").exists() and not (reports / "report.md").exists()


@pytest.mark.slow
def test_a_run_without_splits_csv_is_skipped(source, tmp_path):
    reports = _reports_with(tmp_path, source, "svm-linear", "svm-rbf")
    bad = _folder(reports / "runs", "svm-rbf")
    (bad / "splits.csv").unlink()
    built = build_report(reports)
    assert dict(built["skipped"]) == {bad.name: "missing splits.csv"} and built["runs"] == 1
    assert bad.name not in _table_texts(reports)


# ------------------------------------------------------------------------------------------------ duplicates

@pytest.mark.slow
def test_duplicates_that_predict_differently_are_both_named_and_neither_is_used(source, tmp_path):
    reports = _reports_with(tmp_path, source, "svm-linear", "svm-rbf")
    first = _folder(reports / "runs", "svm-rbf")
    second = _later_copy(first)
    _change_one_prediction(second)
    assert check_run(_load(second)) is None  # self-consistent: only the comparison catches it
    built = build_report(reports)
    assert built["conflicting"] == [[first.name, second.name]]
    assert len(built["warnings"]) == 1
    warning = built["warnings"][0]
    assert first.name in warning and second.name in warning and "1 of" in warning and "\n" not in warning
    assert list(pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv").model) == ["svm-linear"]
    assert first.name not in _table_texts(reports) and second.name not in _table_texts(reports)
    report = (reports / "report.md").read_text()
    assert "## Warnings" in report and warning in report
    tex = (reports / "report.tex").read_text()
    assert "\\section*{Warnings}" in tex and latex_escape(warning) in tex


@pytest.mark.slow
def test_identical_duplicates_are_used_once(source, tmp_path):
    reports = _reports_with(tmp_path, source, "svm-linear", "svm-rbf")
    first = _folder(reports / "runs", "svm-rbf")
    second = _later_copy(first)
    built = build_report(reports)
    assert built["runs"] == 2 and not built["warnings"] and not built["conflicting"]
    assert built["duplicates"] == [(first.name, second.name)]
    rbf = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv").set_index("model").loc["svm-rbf"]
    assert rbf.n_seeds == 1 and rbf.runs == second.name
    assert f"same predictions as {second.name}, counted once" in (reports / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("model, edit, variants", [
    ("svm-linear", lambda m: m.update(svm_backend={"onedal": "libsvm"}.get(m["svm_backend"], "onedal"),
                                      svm_precision="float64", svm_threads=1),
     {"svm_backend=libsvm", "svm_backend=onedal"}),
    ("mini-xception", lambda m: m.update(training_device={**m["training_device"], "device": "GPU",
                                                          "precision": "mixed_float16"}),
     {"device=CPU (oneDNN), precision=float32", "device=GPU, precision=mixed_float16"}),
    ("mini-xception", lambda m: m.update(training_device={**m["training_device"], "onednn": "0"}),
     {"device=CPU (oneDNN)", "device=CPU"}),
])
def test_runs_on_another_device_or_backend_are_variants_not_duplicates(source, tmp_path, model, edit, variants):
    reports = _reports_with(tmp_path, source, model)
    copy = _later_copy(_folder(reports / "runs", model))
    _edit_json(copy / "manifest.json", edit)
    _change_one_prediction(copy)  # another platform may well predict differently: that is no conflict
    built = build_report(reports)
    assert built["runs"] == 2 and not built["warnings"] and not built["duplicates"]
    table = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv")
    assert set(table.variant) == variants and (table.n_seeds == 1).all()


# ------------------------------------------------------------------------------------------ writing the report

def _only_runs(reports: Path, *also: str) -> None:
    assert sorted(p.name for p in reports.iterdir()) == sorted(["runs", *also])


@pytest.mark.slow
@pytest.mark.parametrize("blocked", ["tables", "figures"])
def test_a_file_where_an_output_folder_goes_stops_the_report_before_it_writes(source, tmp_path, blocked):
    reports = _reports_with(tmp_path, source, "svm-linear")
    (reports / blocked).write_text("not a folder")
    with pytest.raises(FerBenchError) as caught:
        build_report(reports)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(reports / blocked) in str(caught.value) and "\n" not in str(caught.value)
    _only_runs(reports, blocked)
    assert (reports / blocked).read_text() == "not a folder"


@pytest.mark.slow
def test_permission_denied_stops_the_report_before_it_writes(source, tmp_path, monkeypatch):
    reports = _reports_with(tmp_path, source, "svm-linear")
    real_open, real_replace = builtins.open, os.replace

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(args[0]))

    def inside(path) -> bool:  # directly in the reports folder (runs/ stays readable)
        return isinstance(path, (str, os.PathLike)) and Path(path).parent == reports

    for patch in (("open", lambda path, *a, **k: refused(path) if inside(path) else real_open(path, *a, **k)),
                  ("replace", lambda src, dst: refused(src) if inside(src) else real_replace(src, dst))):
        with monkeypatch.context() as m:
            m.setattr(builtins if patch[0] == "open" else os, patch[0], patch[1])
            with pytest.raises(FerBenchError) as caught:
                build_report(reports)
        assert caught.value.exit_code == EXIT_USAGE, patch[0]
        assert "Permission denied" in str(caught.value) and str(reports) in str(caught.value)
        _only_runs(reports)


@pytest.mark.slow
def test_a_full_disk_while_writing_fails_with_one_line_and_keeps_the_previous_report(source, tmp_path,
                                                                                      monkeypatch):
    reports = _reports_with(tmp_path, source, "svm-linear")
    build_report(reports)
    before = {p.relative_to(reports): p.read_bytes() for p in reports.rglob("*") if p.is_file()}
    calls = []

    def fills_up(self, folder):
        calls.append(self.name)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / self.name))
        return real_write(self, folder)

    real_write = Table.write
    monkeypatch.setattr(Table, "write", fills_up)
    with pytest.raises(WorkFailedError) as caught:
        build_report(reports)
    assert caught.value.exit_code == EXIT_FAILED
    assert "No space left on device" in str(caught.value) and "\n" not in str(caught.value)
    assert {p.relative_to(reports): p.read_bytes() for p in reports.rglob("*") if p.is_file()} == before


# --------------------------------------------------------------------------------------------------- provenance

@pytest.mark.slow
def test_provenance_names_skipped_inputs_and_dataset_warnings_once(source, tmp_path):
    reports = _reports_with(tmp_path, source, "svm-linear", "svm-rbf")
    skipped = [{"path": f"happy/broken_{k}.png", "reason": "unreadable image (UnidentifiedImageError)"}
               for k in range(5)]

    def add(m):
        m["dataset"]["skipped"] = skipped
        m["dataset"]["diagnostics"] = {"warnings": ["2 images appear twice (e.g. happy/a.png = sad/b.png)"]}

    for folder in (reports / "runs").iterdir():
        _edit_json(folder / "manifest.json", add)
    build_report(reports)
    report = (reports / "report.md").read_text()
    assert report.count("5 inputs skipped on loading (happy/broken_0.png, happy/broken_1.png, "
                        "happy/broken_2.png, ...), as unreadable image (UnidentifiedImageError)") == 1
    assert report.count("- synthetic: 2 images appear twice (e.g. happy/a.png = sad/b.png)") == 1
    tex = (reports / "report.tex").read_text()
    assert tex.count(latex_escape("2 images appear twice")) == 1 and "broken\\_0.png" in tex


def test_dataset_warnings_name_the_copy_where_runs_of_one_dataset_used_several():
    """FER2013 as a CSV and as folders: the same kind of warning with other numbers, each line naming its copy;
    one copy only: the dataset's name alone, each warning once."""
    from types import SimpleNamespace

    from benchmark.report._document import dataset_warnings

    def run(layout, root, fingerprint, warning):
        return SimpleNamespace(dataset="fer2013", manifest={"dataset": {
            "layout": layout, "root": root, "fingerprint": fingerprint, "diagnostics": {"warnings": [warning]}}})

    csv = run("fer2013-csv", "/data/fer2013.csv", "a1", "split Training is unlike the others: 69.4")
    folders = run("fer2013-folders", "/data/fer2013", "b2", "split Training is unlike the others: 70.1")
    assert dataset_warnings([csv, folders, csv]) == [
        "FER2013 (fer2013-csv, fer2013.csv): split Training is unlike the others: 69.4",
        "FER2013 (fer2013-folders, fer2013): split Training is unlike the others: 70.1"]
    assert dataset_warnings([csv, csv]) == ["FER2013: split Training is unlike the others: 69.4"]


def test_official_split_is_read_from_the_manifest_field_and_old_runs_from_their_note():
    def run(dataset: dict) -> Run:
        return Run("r", Path("r"), {}, {"protocol": "official-split"}, {"dataset": dataset}, pd.DataFrame(),
                   pd.DataFrame())

    note = ["test images had no split prefixes: NOT the official split"]
    assert run({"split_is_official": False}).official_split is False
    assert run({"split_is_official": True, "notes": note}).official_split is True
    assert run({"notes": note}).official_split is False  # written before the field existed
    assert run({"notes": []}).official_split is True


# ------------------------------------------------------------- runs that name another experiment; staging

@pytest.fixture(scope="module")
def one_run(tmp_path_factory, small_synthetic):
    """svm-linear on lbp of the 84 small synthetic faces, 2 folds, one worker: a complete run to copy and break."""
    root = tmp_path_factory.mktemp("hunt")
    path, _ = run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="lbp", folds=2,
                                       inner_folds=2, n_jobs=1, reports_dir=str(root / "reports"),
                                       cache_dir=str(root / "cache")), console=Console(file=open("/dev/null", "w")),
                             dataset=small_synthetic)
    return path


def _copy(one_run: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "reports" / "runs"
    runs.mkdir(parents=True)
    shutil.copytree(one_run, runs / one_run.name)
    return runs / one_run.name


def test_a_report_pointed_at_the_runs_folder_says_to_give_the_folder_above_it(one_run, tmp_path):
    _copy(one_run, tmp_path)
    with pytest.raises(FerBenchError, match=r"runs holds run folders itself: give the folder above it "
                                            rf"\(--reports-dir {tmp_path / 'reports'}\)"):
        build_report(tmp_path / "reports" / "runs")


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("dataset", "ck+", "metrics.json names dataset 'ck+'"),
    ("model", "svm-rbf", "metrics.json names model 'svm-rbf'"),
    ("features", "hog", "metrics.json names features 'hog'"),
    ("kind", "deep", "svm-linear is 'deep', but it is a classical model"),
])
def test_a_run_whose_metrics_name_another_experiment_is_never_filed(one_run, tmp_path, key, value, fragment):
    """Seen: "dataset": "ck+" in a synthetic run's metrics.json put it in the CK+ tables."""
    run = _copy(one_run, tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, key: value}))
    with pytest.raises(Exception, match="no complete runs usable"):
        build_report(tmp_path / "reports")
    second = tmp_path / "second"
    second.mkdir()
    other = _copy(one_run, second)
    shutil.copytree(run, other.parent / (run.name + "-edited"))
    built = build_report(second / "reports")
    assert built["runs"] == 1 and fragment in built["inconsistent"][0][1]
    assert not list((second / "reports" / "tables").glob("ckplus*"))


@pytest.mark.parametrize("content", ["[]", '"x"', "3"])
def test_a_run_file_of_the_wrong_json_type_is_listed_not_a_crash(one_run, tmp_path, content):
    run = _copy(one_run, tmp_path)
    (run / "config.json").write_text(content)
    shutil.copytree(one_run, run.parent / "20990101T000000000000Z_good")
    built = build_report(tmp_path / "reports")
    assert built["runs"] == 1
    assert [reason for name, reason in built["skipped"] if name == run.name] == [
        f"config.json holds a JSON {type(json.loads(content)).__name__}, expected an object"]


def test_two_report_builds_at_once_use_their_own_staging_folders(tmp_path):
    with staged(tmp_path) as first, staged(tmp_path) as second:
        assert first != second and first.is_dir() and second.is_dir()
        for stage in (first, second):
            for name in OUTPUT_FILES:
                (stage / name).write_text(stage.name)
    assert (tmp_path / "report.md").read_text() == first.name  # the outer build finished last
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-staging")]
