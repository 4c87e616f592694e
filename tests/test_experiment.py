"""run_experiment through the CLI when things go wrong after work started: a full disk, an unwritable cache,
options adapted to the data, a split that is not the official one; and the lease a run holds on its folder."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from rich.console import Console

import benchmark.experiment as experiment
import benchmark.record._write as writer
from cli_helpers import complete_runs as _complete_runs
from cli_helpers import error_lines as _errors
from cli_helpers import run_main as _main
from benchmark.leases import LEASE_FILE, read_lease

FAST = ["--dataset", "synthetic", "--model", "svm-linear", "--features", "lbp", "--folds", "2", "--inner-folds", "2",
        "--n-jobs", "1"]


# ----------------------------------------------------------------------------------------- failures mid-run

@pytest.mark.slow
def test_a_full_disk_while_writing_the_run_is_exit_1_and_keeps_earlier_runs(tmp_path, capsys, monkeypatch):
    """ENOSPC while the run folder is written: exit 1 (work had started), one error line naming the folder and
    the reason, nothing half-written left, and the complete run made before is untouched."""
    reports = tmp_path / "reports"
    code, _ = _main(["run", *FAST, "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0
    [before] = _complete_runs(reports)
    files = {p.name: p.read_bytes() for p in before.iterdir()}

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(writer, "write_json", disk_full)  # the run writer, half-way through the run's files
    code, text = _main(["run", *FAST, "--seed", "1", "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    [line] = _errors(text)
    assert "No space left on device" in line and "nothing of this run was kept" in line
    assert sorted(p.name for p in (reports / "runs").iterdir()) == [before.name]
    assert {p.name: p.read_bytes() for p in before.iterdir()} == files


@pytest.mark.slow
def test_an_unwritable_cache_is_a_warning_and_the_run_completes(tmp_path, capsys):
    """A file where the cache folder should be: the features are computed, one warning says the cache could not
    be written, and the run is complete (exit 0)."""
    cache = tmp_path / "cache-file"
    cache.write_text("not a folder\n")
    reports = tmp_path / "reports"
    code, text = _main(["run", *FAST, "--reports-dir", reports, "--cache-dir", cache], capsys)
    assert code == 0, text
    assert "Traceback" not in text and not _errors(text)
    assert len([line for line in text.splitlines() if "cannot write the feature cache" in line]) == 1
    [run] = _complete_runs(reports)
    assert json.loads((run / "manifest.json").read_text())["features"]["lbp"]["cache"] == "unwritable"
    assert 0 < json.loads((run / "metrics.json").read_text())["accuracy"] <= 1


@pytest.mark.slow
def test_inner_folds_adapted_to_the_subjects_are_said_and_recorded_per_fold(tmp_path, capsys):
    """12 inner folds on training folds of 6 subjects (synthetic-b's 12 in 2 folds): the console says so, the
    manifest records the 6 that ran per fold, and config.json (and the hash a resumed suite looks for) keeps the
    request."""
    reports = tmp_path / "reports"
    args = [a if a != "2" or i != 9 else "12" for i, a in enumerate(FAST)]
    assert args[:2] == ["--dataset", "synthetic"] and args[8:10] == ["--inner-folds", "12"]
    args[1] = "synthetic-b"
    code, text = _main(["run", *args, "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "--inner-folds 12 was reduced" in " ".join(text.split())
    [run] = _complete_runs(reports)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["adapted"] == {"inner_folds": {"fold-0": 6, "fold-1": 6}}
    config = json.loads((run / "config.json").read_text())
    assert config["inner_folds"] == 12
    search = json.loads((run / "search.json").read_text())
    assert len(search) == 2


def test_unofficial_fer2013_folders_are_not_announced_as_the_official_split(tmp_path, capsys, write_fer_folders,
                                                                             fer_plan):
    """Test images without PublicTest_/PrivateTest_ prefixes: the console never calls the split official."""
    root = write_fer_folders(tmp_path / "fer", fer_plan, prefixes=False)
    code, text = _main(["run", "--dataset", "fer2013", "--model", "svm-linear", "--features", "hog", "--data-dir",
                        root, "--reports-dir", tmp_path / "r", "--cache-dir", tmp_path / "c", "--n-jobs", "1",
                        "--pca", "none"], capsys)
    assert code == 0, text
    flat = " ".join(text.split())
    assert "protocol unofficial split: NOT the official split" in flat
    assert "protocol official split" not in flat


def test_a_run_in_progress_holds_a_lease_on_its_folder(tmp_path, monkeypatch, small_synthetic):
    """While a run writes its folder, lease.json names this process; the finished folder holds no lease."""
    seen = {}
    original = experiment.record.write_run

    def spy(run_dir, *args, **kwargs):
        seen["lease"] = read_lease(Path(run_dir) / LEASE_FILE)
        return original(run_dir, *args, **kwargs)

    monkeypatch.setattr(experiment.record, "write_run", spy)
    path, _ = experiment.run_experiment(experiment.RunConfig(
        dataset="synthetic", model="svm-linear", features="lbp", folds=2, inner_folds=2, n_jobs=1,
        reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c")), console=Console(file=open(os.devnull, "w")),
        dataset=small_synthetic)
    assert seen["lease"] is not None and seen["lease"].pid == os.getpid() and not seen["lease"].stale
    assert not (path / LEASE_FILE).exists()
