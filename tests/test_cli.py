"""The fer-bench CLI end to end (typer's CliRunner): real runs, their folders, reproducibility, user errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.datasets import FER_CLASSES, make_synthetic
from features import FEATURES
from models import get_model, list_models

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN_FILES = {"metrics.json", "classification_report.txt", "classification_report.csv", "confusion_matrix.csv",
             "confusion_matrix_normalized.csv", "confusion_matrix.png", "confusion_matrix.pdf", "predictions.csv",
             "splits.csv", "config.json", "manifest.json", "search.json"}
FAST = ["--features", "hog", "--folds", "3", "--inner-folds", "2"]


def _text(result) -> str:
    """Everything the user saw (stdout and stderr), without colour codes."""
    parts = [result.output]
    try:
        stderr = result.stderr
    except ValueError:  # older click without separate stderr capture
        stderr = ""
    if stderr and stderr not in result.output:
        parts.append(stderr)
    return ANSI.sub("", "\n".join(parts))


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def _only_run_dir(reports: Path) -> Path:
    runs = reports / "runs"
    entries = sorted(runs.iterdir())
    assert len(entries) == 1, [e.name for e in entries]
    assert not entries[0].name.startswith(".incomplete-")
    return entries[0]


def _no_run_folder(reports: Path) -> bool:
    runs = reports / "runs"
    return not runs.exists() or not any(runs.iterdir())


def _assert_user_error(result, reports: Path, *fragments: str) -> str:
    """Non-zero exit, exactly one 'error: ...' line holding every fragment, no traceback, no run folder."""
    text = _text(result)
    assert result.exit_code not in (0, None), text
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # not an uncaught exception
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(set(errors)) == 1, text
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert _no_run_folder(reports)
    return errors[0]


def _run(reports: Path, cache: Path, *extra: str, dataset="synthetic", model="svm-linear", seed="0"):
    result = _invoke("run", "--dataset", dataset, "--model", model, "--seed", seed, "--reports-dir", str(reports),
                     "--cache-dir", str(cache), *extra)
    assert result.exit_code == 0, _text(result)
    run_dir = _only_run_dir(reports)
    return result, run_dir


def _load(run_dir: Path, name: str):
    return json.loads((run_dir / name).read_text())


@pytest.fixture(scope="module")
def cli_tmp(tmp_path_factory):
    """A module-wide tmp folder, with the feature cache env var pointed into it for module fixtures too."""
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_BENCH_CACHE", str(root / "env-cache"))
        mp.setenv("FER_BENCH_DATA", str(root / "no-data"))
        yield root


@pytest.fixture(scope="module")
def linear_run(synthetic_linear_run):
    """svm-linear on synthetic, hog, 3 outer / 2 inner folds (FAST), seed 0, all cores: the session's shared
    run (conftest), which filled a fresh feature cache."""
    return synthetic_linear_run.result, synthetic_linear_run.run_dir


@pytest.fixture(scope="module")
def linear_rerun(cli_tmp, synthetic_linear_run):
    """The same run again, one worker (n_jobs is not a result option), reusing the feature cache."""
    return _run(cli_tmp / "reports-linear-again", synthetic_linear_run.cache, *FAST, "--n-jobs", "1")


@pytest.fixture(scope="module")
def rbf_run(cli_tmp, synthetic_linear_run):
    """svm-rbf with the same data, features and seed: a matched experiment (on 30 principal components, which
    leave the folds as they are and take a fraction of the fits' time)."""
    return _run(cli_tmp / "reports-rbf", synthetic_linear_run.cache, *FAST, "--pca", "30", model="svm-rbf")


@pytest.fixture(scope="module")
def tiny_fer_csv(cli_tmp, learnable_fer_plan, write_fer_csv):
    """A tiny FER2013 CSV with learnable images (see ``learnable_fer_plan``)."""
    plan, images = learnable_fer_plan
    return write_fer_csv(cli_tmp / "fer2013" / "fer2013.csv", plan, images=images)


@pytest.fixture(scope="module")
def official_run(fer2013_linear_run):
    """svm-linear on hog of a tiny FER2013 CSV with learnable images: official split (the session's shared run)."""
    return fer2013_linear_run.result, fer2013_linear_run.run_dir


# ------------------------------------------------------------------------------------------- k-fold synthetic run
# (slow: the fixtures run svm-linear twice and svm-rbf once on all 980 synthetic images)

def test_version_prints_the_tool_version_and_exits_0():
    from benchmark import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith(f"fer-bench {__version__}")


@pytest.mark.slow
def test_run_writes_a_complete_run_folder(linear_run):
    """`fer-bench run` exits 0, prints the run folder, and the folder holds every documented file."""
    result, run_dir = linear_run
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    assert run_dir.name in _text(result).replace("\n", "")
    assert run_dir.name.endswith("_" + _load(run_dir, "config.json")["config_hash"])
    assert "accuracy" in result.stdout


@pytest.mark.slow
def test_run_metrics_json_has_the_headline_fields(linear_run):
    """metrics.json names the run and reports mean/std over folds, per-fold best params and figures."""
    _, run_dir = linear_run
    m = _load(run_dir, "metrics.json")
    assert list(m)[:6] == ["dataset", "model", "features", "protocol", "seed", "best_params"]
    assert (m["dataset"], m["model"], m["features"], m["protocol"], m["seed"]) == (
        "synthetic", "svm-linear", "hog", "subject-kfold", 0)
    for key in ("accuracy", "accuracy_std", "macro_f1", "balanced_accuracy", "best_params", "folds"):
        assert key in m
    folds = ["fold-0", "fold-1", "fold-2"]
    assert sorted(m["folds"]) == folds and sorted(m["best_params"]) == folds
    grid = get_model("svm-linear").param_grid["svm__C"]
    assert all(p["svm__C"] in grid for p in m["best_params"].values())
    assert m["accuracy"] == pytest.approx(np.mean([m["folds"][f]["accuracy"] for f in folds]))
    assert m["accuracy_std"] > 0
    assert 0.25 < m["accuracy"] < 1.0, "well above chance (1/7), and not suspiciously perfect"
    assert 0.2 < m["macro_f1"] < 1.0
    assert m["n_test"] == 980 and sum(m["folds"][f]["n"] for f in folds) == 980
    assert np.array(m["confusion_matrix"]).sum() == 980
    assert m["class_names"] == list(FER_CLASSES)
    assert m["n_features"] == 900


@pytest.mark.slow
def test_run_predictions_and_splits_agree_and_are_subject_independent(linear_run):
    """Every image is predicted once, in the fold splits.csv says, and no subject spans two folds."""
    _, run_dir = linear_run
    splits = pd.read_csv(run_dir / "splits.csv")
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert list(splits.columns) == ["sample_id", "subject", "label", "fold"]
    assert list(preds.columns[:5]) == ["sample_id", "subject", "fold", "y_true", "y_pred"]
    assert {f"score_{c}" for c in FER_CLASSES} <= set(preds.columns)
    assert len(splits) == len(preds) == 980 and preds.sample_id.is_unique
    merged = preds.merge(splits, on="sample_id", suffixes=("", "_split"))
    assert (merged.fold == merged.fold_split).all()
    assert (merged.y_true == merged.label).all()
    assert (splits.groupby("subject").fold.nunique() == 1).all()
    m = _load(run_dir, "metrics.json")
    for fold, g in preds.groupby("fold"):
        assert np.mean(g.y_true == g.y_pred) == pytest.approx(m["folds"][fold]["accuracy"])


@pytest.mark.slow
def test_run_config_and_manifest_record_provenance(linear_run):
    """config.json holds the resolved options and grid; manifest.json the data and split fingerprints."""
    _, run_dir = linear_run
    config = _load(run_dir, "config.json")
    assert (config["dataset"], config["model"], config["features"], config["seed"]) == (
        "synthetic", "svm-linear", "hog", 0)
    assert (config["folds"], config["inner_folds"]) == (3, 2)
    assert config["param_grid"] == get_model("svm-linear").param_grid
    manifest = _load(run_dir, "manifest.json")
    assert manifest["run_id"] == run_dir.name
    assert manifest["seed"] == 0
    assert manifest["dataset"]["fingerprint"] == make_synthetic().fingerprint
    assert manifest["dataset"]["n_images"] == 980 and manifest["dataset"]["n_subjects"] == 20
    assert manifest["protocol"]["kind"] == "subject-kfold" and manifest["protocol"]["n_folds"] == 3
    assert manifest["features"]["hog"]["from_cache"] is False
    assert manifest["features"]["hog"]["params"]["orientations"] == 9
    for key in ("python", "packages", "wall_seconds", "finished_utc"):
        assert key in manifest
    from importlib import metadata

    for name in ("scikit-learn", "scikit-learn-intelex", "daal", "keras"):  # what fits SVMs, what trains CNNs
        assert name in manifest["packages"]
    assert manifest["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    search = _load(run_dir, "search.json")
    assert sorted(search) == ["fold-0", "fold-1", "fold-2"]
    assert len(search["fold-0"]) == len(get_model("svm-linear").param_grid["svm__C"])


@pytest.mark.slow
def test_rerun_with_the_same_seed_reproduces_every_figure(linear_run, linear_rerun):
    """Same data, options and seed (even with another n_jobs) give identical figures, folds and predictions;
    the features come from the cache the second time."""
    (_, a), (_, b) = linear_run, linear_rerun
    ma, mb = _load(a, "metrics.json"), _load(b, "metrics.json")
    for key in ("accuracy", "accuracy_std", "macro_f1", "balanced_accuracy", "folds", "best_params",
                "confusion_matrix"):
        assert ma[key] == mb[key], key
    assert (a / "splits.csv").read_bytes() == (b / "splits.csv").read_bytes()
    pa, pb = pd.read_csv(a / "predictions.csv"), pd.read_csv(b / "predictions.csv")
    pd.testing.assert_frame_equal(pa, pb)
    assert _load(a, "config.json")["config_hash"] == _load(b, "config.json")["config_hash"]
    assert _load(b, "manifest.json")["features"]["hog"]["from_cache"] is True


@pytest.mark.slow
def test_matched_models_get_identical_folds(linear_run, rbf_run):
    """svm-linear and svm-rbf with the same seed are tested on identical folds (matched experiment)."""
    (_, lin), (_, rbf) = linear_run, rbf_run
    assert (lin / "splits.csv").read_bytes() == (rbf / "splits.csv").read_bytes()
    assert (_load(lin, "manifest.json")["protocol"]["fingerprint"]
            == _load(rbf, "manifest.json")["protocol"]["fingerprint"])
    m = _load(rbf, "metrics.json")
    assert m["model"] == "svm-rbf" and 0.25 < m["accuracy"] < 1.0
    grid = get_model("svm-rbf").param_grid
    assert all(p["svm__gamma"] in grid["svm__gamma"] for p in m["best_params"].values())
    assert _load(rbf, "manifest.json")["features"]["hog"]["from_cache"] is True


# ------------------------------------------------------------------------------------- official split (FER2013)

def test_official_split_run_on_a_fer2013_csv(official_run):
    """A FER2013 run fits on Training, selects on PublicTest and reports PrivateTest, with PublicTest beside it."""
    result, run_dir = official_run
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    m = _load(run_dir, "metrics.json")
    assert (m["dataset"], m["protocol"], m["test_split"]) == ("fer2013", "official-split", "PrivateTest")
    assert m["accuracy_std"] is None and "folds" not in m
    assert m["best_params"]["svm__C"] in get_model("svm-linear").param_grid["svm__C"]
    assert m["n_test"] == 70 and m["validation"]["split"] == "PublicTest" and m["validation"]["n"] == 70
    assert 1 / 7 < m["accuracy"] <= 1.0
    splits = pd.read_csv(run_dir / "splits.csv")
    assert list(splits.columns) == ["sample_id", "subject", "label", "split"]
    assert splits.split.value_counts().to_dict() == {"Training": 140, "PublicTest": 70, "PrivateTest": 70}
    preds = pd.read_csv(run_dir / "predictions.csv")
    assert list(preds.columns[:5]) == ["sample_id", "subject", "split", "y_true", "y_pred"]
    assert preds.split.value_counts().to_dict() == {"PublicTest": 70, "PrivateTest": 70}
    assert preds.sample_id.str.startswith("fer2013.csv:").all()
    assert np.array(m["confusion_matrix"]).sum() == 70
    manifest = _load(run_dir, "manifest.json")
    assert manifest["dataset"]["layout"] == "fer2013-csv"
    assert manifest["protocol"]["sizes"] == {"PrivateTest": {"train": 140, "val": 70, "test": 70}}
    assert "PrivateTest" in _text(result)


def test_interrupted_run_leaves_no_folder(tmp_path, tiny_fer_csv, monkeypatch):
    """Ctrl-C while the run folder is being written: exit 130, a one-line error, and no folder of any kind."""
    import benchmark.record._write as writer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "write_json", interrupted)  # the run writer, half-way through the run's files
    reports = tmp_path / "reports"
    result = _invoke("run", "--dataset", "fer2013", "--model", "svm-linear", "--features", "hog", "--data-dir",
                     str(tiny_fer_csv), "--reports-dir", str(reports), "--cache-dir", str(tmp_path / "c"))
    assert result.exit_code == 130
    _assert_user_error(result, reports, "interrupted")
    assert (reports / "runs").is_dir() and list((reports / "runs").iterdir()) == []


def test_ck48_run_is_subject_independent(tmp_path, ck48_dir):
    """A CK+48 run (svm-poly on lbp) uses subject k-fold on the S### subjects and writes a complete folder."""
    reports = tmp_path / "reports"
    _, run_dir = _run(reports, tmp_path / "cache", "--features", "lbp", "--folds", "3", "--inner-folds", "2",
                      "--n-jobs", "1", "--data-dir", str(ck48_dir), dataset="ck+", model="svm-poly", seed="2")
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    m = _load(run_dir, "metrics.json")
    assert (m["dataset"], m["protocol"], m["seed"]) == ("ck+", "subject-kfold", 2)
    assert m["class_names"] == ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    assert m["n_test"] == 57
    splits = pd.read_csv(run_dir / "splits.csv")
    assert splits.subject.str.fullmatch(r"S\d{3}").all()
    assert (splits.groupby("subject").fold.nunique() == 1).all()
    assert _load(run_dir, "manifest.json")["dataset"]["layout"] == "ck+48-folders"


# ---------------------------------------------------------------------------------------------- user mistakes

def test_unknown_model_is_a_one_line_error(tmp_path):
    """An unknown --model exits non-zero with 'error: unknown model ...' listing the choices."""
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "synthetic", "--model", "svm-quantum", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown model 'svm-quantum'", "svm-linear")
    assert "did you mean" not in result.output  # nothing is close to it
    result = _invoke("run", "--dataset", "synthetic", "--model", "svm-rbff", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown model 'svm-rbff' (did you mean svm-rbf?); choose one of")


def test_unknown_dataset_is_a_one_line_error(tmp_path):
    """An unknown --dataset exits non-zero with 'error: unknown dataset ...'."""
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "affectnet", "--model", "svm-linear", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown dataset 'affectnet'", "fer2013")
    assert "did you mean" not in result.output
    result = _invoke("run", "--dataset", "fer2031", "--model", "svm-linear", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown dataset 'fer2031' (did you mean fer2013?); choose one of")
    result = _invoke("run", "--dataset", "ck+", "--model", "svm-linear", "--test-dataset", "ferplus2",
                     "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown dataset 'ferplus2' (did you mean ferplus?)")
    (tmp_path / "suite.toml").write_text('[suite]\nname = "s"\n[[experiment]]\ndatasets = ["ck+"]\n'
                                         'models = ["svm-linear"]\n')
    result = _invoke("suite", str(tmp_path / "suite.toml"), "--data-dir", "ck=/tmp", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "--data-dir ck=...: unknown dataset (did you mean ck+?)")


def test_unknown_feature_is_a_one_line_error(tmp_path):
    """An unknown --features name exits non-zero naming it."""
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "synthetic", "--model", "svm-linear", "--features", "hog+sift",
                     "--reports-dir", str(reports))
    _assert_user_error(result, reports, "--features", "unknown feature 'sift'")
    result = _invoke("run", "--dataset", "synthetic", "--model", "svm-linear", "--features", "hog+lpb",
                     "--reports-dir", str(reports))
    _assert_user_error(result, reports, "unknown feature 'lpb' in 'hog+lpb' (did you mean lbp?); choose from")


def test_missing_data_dir_is_a_one_line_error(tmp_path):
    """A --data-dir that does not exist exits non-zero naming the path and what was expected."""
    reports, missing = tmp_path / "r", tmp_path / "no" / "fer2013"
    result = _invoke("run", "--dataset", "fer2013", "--model", "svm-linear", "--data-dir", str(missing),
                     "--reports-dir", str(reports))
    _assert_user_error(result, reports, str(missing), "no such file or folder")


def test_default_data_dir_missing_is_a_one_line_error(tmp_path):
    """Without --data-dir, a missing $FER_BENCH_DATA/ck+ is reported the same way."""
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "ck+", "--model", "svm-linear", "--reports-dir", str(reports))
    _assert_user_error(result, reports, "no such file or folder", "FER_BENCH_DATA")


def test_malformed_csv_row_is_a_one_line_error(tmp_path, write_fer_csv, fer_plan):
    """A FER2013 CSV row with too few pixels exits non-zero naming the file and row."""
    path = write_fer_csv(tmp_path / "data" / "fer2013.csv", fer_plan)
    lines = path.read_text().splitlines()
    emotion, pixels, usage = lines[9].split(",")
    lines[9] = f"{emotion},{' '.join(pixels.split()[:100])},{usage}"
    path.write_text("\n".join(lines) + "\n")
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "fer2013", "--model", "svm-linear", "--data-dir", str(path.parent),
                     "--reports-dir", str(reports), "--cache-dir", str(tmp_path / "c"))
    _assert_user_error(result, reports, "fer2013.csv row 10", "got 100")


def test_corrupt_image_under_strict_is_a_one_line_error(tmp_path, fer_folders):
    """--strict turns an unreadable image into a one-line error naming the file."""
    (fer_folders / "test" / "sad" / "PrivateTest_1.jpg").write_bytes(b"not a jpeg")
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "fer2013", "--model", "svm-linear", "--data-dir", str(fer_folders),
                     "--strict", "--reports-dir", str(reports), "--cache-dir", str(tmp_path / "c"))
    _assert_user_error(result, reports, "PrivateTest_1.jpg", "unreadable image")


@pytest.mark.parametrize("args, fragment", [(["--folds", "25"], "20 subjects cannot fill 25"),
                                            (["--folds", "1"], "at least 2"),
                                            (["--pca", "lots"], "--pca")])
def test_impossible_options_are_one_line_errors(tmp_path, args, fragment):
    """Options that cannot give an honest run (more folds than subjects, a bad --pca) are one-line errors."""
    reports = tmp_path / "r"
    result = _invoke("run", "--dataset", "synthetic", "--model", "svm-linear", "--features", "hog",
                     "--reports-dir", str(reports), "--cache-dir", str(tmp_path / "c"), *args)
    _assert_user_error(result, reports, fragment)


# ------------------------------------------------------------------------------------ datasets / models commands

def test_datasets_command_reports_layout_and_counts(fer_csv):
    """`fer-bench datasets` finds a FER2013 CSV, names its layout, image count and split counts."""
    result = _invoke("datasets", "--dataset", "fer2013", "--data-dir", str(fer_csv.parent))
    text = " ".join(_text(result).split())  # rich wraps long lines at the terminal width
    assert result.exit_code == 0, text
    assert "fer2013-csv: 49 images" in text
    for split in ("Training", "PublicTest", "PrivateTest"):
        assert split in text


def test_datasets_command_reports_skipped_frames_of_ck_original(ck_original_dir):
    """On the original CK+ layout, the faceless frame is reported as skipped with its reason."""
    result = _invoke("datasets", "--dataset", "ck+", "--data-dir", str(ck_original_dir))
    text = " ".join(_text(result).split())  # rich wraps long lines at the terminal width
    assert result.exit_code == 0, text
    assert "ck+-original: 8 images, 3 subjects" in text
    assert "skipped 1 inputs" in text and "no face found" in text


def test_datasets_command_flags_an_unusable_folder(tmp_path):
    """A data folder without the dataset asked for is one error line naming the folder, exit 2 (bad input)."""
    result = _invoke("datasets", "--dataset", "ck+", "--data-dir", str(tmp_path / "nothing"))
    assert result.exit_code == 2
    _assert_user_error(result, tmp_path, "nothing: no such file or folder")
    result = _invoke("datasets", "--dataset", "nope")
    assert result.exit_code != 0 and "error: unknown dataset 'nope'" in _text(result)


def _table_rows(text: str) -> dict[str, list[str]]:
    """Cells of every body row of the rich tables in ``text``, by their first cell (rows are one line each when
    the console is wide enough)."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            assert cells[0] not in rows, f"{cells[0]} listed twice"
            rows[cells[0]] = cells
    return rows


def test_models_command_lists_models_and_features(monkeypatch):
    """`fer-bench models` lists every registered model with its kind, default features, grid (classical) or
    training defaults (deep) and description, and every registered feature extractor with its description."""
    monkeypatch.setenv("COLUMNS", "1000")  # one line per row: nothing wrapped or cut with an ellipsis
    result = _invoke("models")
    text = _text(result)
    assert result.exit_code == 0, text
    rows = _table_rows(text)
    specs, features = list_models(), dict(FEATURES)
    assert specs and features
    assert set(rows) == {s.name for s in specs} | set(features), "a row too many or missing"
    for spec in specs:
        name, kind, default_features, grid, description = rows[spec.name]
        assert kind == spec.kind and kind in {"classical", "deep"}, spec.name
        if isinstance(spec.default_features, dict):  # per dataset: each named, then the rest
            assert all(f"{k}: {v}" in default_features for k, v in spec.default_features.items() if k != "*")
            assert f"other datasets: {spec.default_features['*']}" in default_features, spec.name
        else:
            assert default_features == (spec.default_features or "pixels"), spec.name
        assert description == f"{spec.display_name} (as the report names it): " + spec.description + (
            f" Defaults: {spec.defaults_why}" if spec.defaults_why else ""), spec.name
        # the grid (step__param=values) and the training defaults, by parameter name (min_delta is not shown)
        shown = {k.split("__")[-1]: v for k, v in {**spec.param_grid, **spec.training}.items() if k != "min_delta"}
        if spec.kind == "deep":  # a CNN's recipe: L2 (0: none), optimizer, schedule, test-time augmentation
            shown.update({"l2": float(spec.training.get("l2", 0.0))})
            shown.update({k: spec.training.get(k, v) for k, v in (("optimizer", "adam"), ("schedule", "plateau"),
                                                                    ("tta", "none"))})
        assert shown, f"{spec.name} declares neither a grid nor training defaults"
        expected = ", ".join(f"{k}={v}" for k, v in shown.items())
        # a dataset's own grid, or a CNN's recipe validated on a dataset, follows the default one
        for dataset, other in {**spec.dataset_grids, **spec.dataset_training}.items():
            expected += f"; on {dataset}: " + ", ".join(f"{k.split('__')[-1]}={v}" for k, v in other.items())
        assert grid == expected, spec.name
    for name, (factory, description) in features.items():
        extractor = factory()
        assert rows[name][0] == name and rows[name][2].startswith(description)
        for param, value in extractor.get_params().items():  # every hyperparameter with its default
            assert f"{param}={value}" in rows[name][1], (name, param)
        assert ("Learned per fold on training images only" in rows[name][2]) == extractor.learns_from_training
