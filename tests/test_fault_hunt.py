"""Faults found by an adversarial walk through the tool (a fresh clone, ~175 commands): each one reproduced here
and shown to be caught. The contract: one ``error:`` line and the binding exit code, never a traceback, never a
silently wrong number in a run or a report table."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from benchmark.cli import main
from benchmark.experiment import RunConfig, run_experiment
from benchmark.report import build_report
from benchmark.report._output import staged
from features import HOGFeatures, extract

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FAST = ["--dataset", "synthetic", "--model", "svm-linear", "--features", "lbp", "--folds", "2", "--inner-folds", "2",
        "--n-jobs", "1"]
PIXELS = " ".join(["128"] * 2304)


def _main(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, ANSI.sub("", captured.out + captured.err)


def _one_error(code: int, text: str, expected_code: int, *fragments: str) -> None:
    assert "Traceback" not in text, text
    assert code == expected_code, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# ------------------------------------------------------------------------------------------- options and data

@pytest.mark.parametrize(("args", "fragments"), [
    (["--n-jobs", "100000"], ("--n-jobs", "at most this machine's")),
    (["--features", ""], ("empty feature name",)),
    (["--reports-dir", ""], ("--reports-dir is empty",)),
    (["--cache-dir", " "], ("--cache-dir is empty",)),
    (["--model", "mini-xception", "--features", "pixels", "--lr", "inf"], ("--lr must be a positive, finite",)),
])
def test_run_option_values_found_by_the_hunt_are_refused(tmp_path, capsys, args, fragments):
    code, text = _main(["run", *FAST, "--reports-dir", tmp_path / "r", *args], capsys)
    _one_error(code, text, 2, *fragments)
    assert not (tmp_path / "r" / "runs").exists() or not list((tmp_path / "r" / "runs").iterdir())


@pytest.mark.parametrize(("args", "fragment"), [
    (["--images", "999999999999"], "--images must be from"),
    (["--svm-samples", "1"], "--svm-samples must be from"),
    (["--cnn", "svm-rbf"], "--cnn svm-rbf: not a CNN"),
])
def test_benchmark_sizes_and_models_are_checked(capsys, args, fragment):
    code, text = _main(["benchmark", "--images", "200", "--svm-samples", "150", "--cnn", "", *args], capsys)
    _one_error(code, text, 2, fragment)


def test_an_invalid_lease_ttl_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FER_BENCH_LEASE_TTL", "-1")
    code, text = _main(["run", *FAST, "--reports-dir", tmp_path / "r", "--cache-dir", tmp_path / "c"], capsys)
    _one_error(code, text, 2, "FER_BENCH_LEASE_TTL='-1'")


@pytest.mark.parametrize("code_text", ["nan", "inf"])
def test_a_non_finite_ck_label_is_one_error_line(tmp_path, capsys, ck_original_dir, code_text):
    label = next((ck_original_dir / "Emotion").glob("S*/*/*_emotion.txt"))
    label.write_text(f"   {code_text}\n")
    code, text = _main(["run", "--dataset", "ck+", "--model", "svm-linear", "--features", "hog", "--data-dir",
                        ck_original_dir, "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, label.name, "not an integer 1-7")


def _fer_csv(path: Path, *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{k},{PIXELS},{usage}" for usage in ("Training", "PublicTest", "PrivateTest") for k in range(7)]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\n".join(["emotion,pixels,Usage", *rows, ""]).encode())
    return path


def test_several_candidate_copies_are_refused_not_picked(tmp_path):
    from benchmark.datasets import detect_layout
    from benchmark.errors import DataError

    _fer_csv(tmp_path / "one" / "fer2013.csv")
    _fer_csv(tmp_path / "one" / "a_backup.csv")
    with pytest.raises(DataError, match="2 FER2013 CSV files .*a_backup.csv, fer2013.csv"):
        detect_layout("fer2013", tmp_path / "one")
    _fer_csv(tmp_path / "two" / "a" / "fer2013.csv")
    _fer_csv(tmp_path / "two" / "b" / "fer2013.csv")
    with pytest.raises(DataError, match="2 copies of fer2013 found"):
        detect_layout("fer2013", tmp_path / "two")


def test_a_csv_with_a_byte_order_mark_loads_and_a_non_utf8_row_is_named(tmp_path):
    from benchmark.datasets import load_dataset
    from benchmark.errors import DataError

    ds = load_dataset("fer2013", _fer_csv(tmp_path / "bom" / "fer2013.csv", bom=True))
    assert len(ds) == 21 and ds.sample_ids[0] == "fer2013.csv:2"
    bad = _fer_csv(tmp_path / "latin" / "fer2013.csv")
    bad.write_bytes(bad.read_bytes() + b"1,\xe9\xe9,Training\n")
    with pytest.raises(DataError, match="fer2013.csv row 23: not UTF-8"):
        load_dataset("fer2013", bad)


def test_options_that_do_not_apply_are_said_to_be_ignored(tmp_path, capsys):
    code, text = _main(["run", *FAST, "--data-dir", tmp_path / "nothing", "--reports-dir", tmp_path / "r",
                        "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "note: --data-dir does not apply" in " ".join(text.split())


@pytest.mark.parametrize("name", ["../../evil", "", ".hidden"])
def test_a_suite_name_cannot_escape_the_reports_folder(tmp_path, capsys, name):
    path = tmp_path / "suite.toml"
    path.write_text(f"[suite]\nname = {json.dumps(name)}\n[[experiment]]\ndatasets = ['synthetic']\n"
                    f"models = ['svm-linear']\nfeatures = ['lbp']\n")
    code, text = _main(["suite", path, "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, "[suite]: name =")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "r").exists()


def test_paths_with_brackets_are_printed_verbatim(tmp_path, capsys):
    reports = tmp_path / "R [x] ü"
    code, text = _main(["run", *FAST, "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "R [x] ü/runs/" in text.replace("\n", "")


# ------------------------------------------------------------------------------------------------ feature cache

def _cache_files(cache: Path) -> tuple[Path, Path]:
    [sidecar] = cache.rglob("*.json")
    return sidecar.with_name(json.loads(sidecar.read_text())["data"]), sidecar


@pytest.fixture
def cached_hog(tmp_path, synthetic):
    images, ids = synthetic.images[:120], synthetic.sample_ids[:120]
    cache = tmp_path / "cache"
    fresh, _ = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1, sample_ids=ids)
    return images, ids, cache, fresh


def _reload(cached_hog) -> tuple[np.ndarray, list[str]]:
    images, ids, cache, _ = cached_hog
    warnings: list[str] = []
    X, _ = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1, sample_ids=ids,
                   warn=warnings.append)
    return X, warnings


@pytest.mark.parametrize("forgery", ["rows-reversed", "rows-zeroed"])
def test_a_cache_forged_with_a_matching_hash_is_still_caught(cached_hog, forgery):
    """Altered rows with the sidecar's hash rewritten to match: the first row is kept intact, so only the rows
    drawn at random and compared with a fresh extraction can catch it."""
    from features._cache import describe

    _, _, cache, fresh = cached_hog
    npy, sidecar = _cache_files(cache)
    forged = fresh.copy()
    if forgery == "rows-reversed":
        forged[1:] = fresh[1:][::-1]
    else:
        forged[1:] = 0
    np.save(npy, forged)
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **describe(forged)}))
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "differs from a fresh extraction of that image" in warnings[0]


def test_a_cache_file_that_exhausts_the_parser_or_memory_is_recomputed(cached_hog):
    _, _, cache, fresh = cached_hog
    npy, sidecar = _cache_files(cache)
    sidecar.write_text("[" * 200_000)
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "unreadable sidecar" in warnings[0]
    npy, sidecar = _cache_files(cache)  # the recomputed entry's data file
    header = npy.read_bytes()
    npy.write_bytes(header.replace(f"({len(fresh)}, {fresh.shape[1]})".encode(),
                                   f"({len(fresh)}, 100000000000)".encode().ljust(len(f"({len(fresh)}, "
                                                                                      f"{fresh.shape[1]})"))))
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "is corrupt" in warnings[0]


# -------------------------------------------------------------------------------------------------- the report

@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunt")
    path, _ = run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="lbp", folds=2,
                                       inner_folds=2, n_jobs=1, reports_dir=str(root / "reports"),
                                       cache_dir=str(root / "cache")), console=Console(file=open("/dev/null", "w")))
    return path


def _copy(one_run: Path, tmp_path: Path) -> Path:
    runs = tmp_path / "reports" / "runs"
    runs.mkdir(parents=True)
    shutil.copytree(one_run, runs / one_run.name)
    return runs / one_run.name


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


def test_report_refuses_a_runs_file_up_front(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "runs").write_text("not a folder")
    code, text = _main(["report", "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, "runs is a file")


def test_two_report_builds_at_once_use_their_own_staging_folders(tmp_path):
    with staged(tmp_path) as first, staged(tmp_path) as second:
        assert first != second and first.is_dir() and second.is_dir()
        for stage in (first, second):
            (stage / "report.md").write_text(stage.name)
            (stage / "report.tex").write_text(stage.name)
    assert (tmp_path / "report.md").read_text() == first.name  # the outer build finished last
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report-staging")]
