"""Faults after work started and between processes: a full disk, an unwritable cache, adapted options, leases on
run folders and suite experiments, failing experiments in a suite, stale folders of killed processes."""

from __future__ import annotations

import errno
import json
import os
import re
import time
from pathlib import Path

import pytest
from rich.console import Console

import benchmark.experiment as experiment
import benchmark.suite as suite_module
from benchmark.cli import main
from benchmark.errors import FerBenchError
from benchmark.leases import LEASE_FILE, Lease, folder_is_stale, read_lease
from benchmark.runs import INCOMPLETE_PREFIX, clean_stale_incomplete
from benchmark.suite import claim_path, load_suite, run_suite

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
FAST = ["--dataset", "synthetic", "--model", "svm-linear", "--features", "lbp", "--folds", "2", "--inner-folds", "2",
        "--n-jobs", "1"]


def _main(argv, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, ANSI.sub("", captured.out + captured.err)


def _complete_runs(reports: Path) -> list[Path]:
    runs = reports / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")) if runs.is_dir() else []


def _errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


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

    monkeypatch.setattr(experiment, "write_json", disk_full)
    code, text = _main(["run", *FAST, "--seed", "1", "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    [line] = _errors(text)
    assert "No space left on device" in line and "nothing of this run was kept" in line
    assert sorted(p.name for p in (reports / "runs").iterdir()) == [before.name]
    assert {p.name: p.read_bytes() for p in before.iterdir()} == files


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
    """12 inner folds on training folds of 10 subjects: the console says so, the manifest records the 10 that
    ran per fold, and config.json (and the hash a resumed suite looks for) keeps the request."""
    reports = tmp_path / "reports"
    args = [a if a != "2" or i != 9 else "12" for i, a in enumerate(FAST)]
    assert args[8:10] == ["--inner-folds", "12"]
    code, text = _main(["run", *args, "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "--inner-folds 12 was reduced" in " ".join(text.split())
    [run] = _complete_runs(reports)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["adapted"] == {"inner_folds": {"fold-0": 10, "fold-1": 10}}
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


# -------------------------------------------------------------------------------------------------- leases

def test_a_lease_is_exclusive_until_released_or_stale(tmp_path, monkeypatch):
    path = tmp_path / "claims" / "x.json"
    first = Lease.acquire(path)
    assert first is not None and read_lease(path).token == first.token
    assert Lease.acquire(path) is None, "a live lease is not taken twice"
    first.release()
    assert not path.exists()
    second = Lease.acquire(path)
    assert second is not None
    # a killed process: its heartbeat stops, and after the TTL anyone may take over
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "heartbeat": time.time() - 3600}))
    assert read_lease(path).stale
    third = Lease.acquire(path)
    assert third is not None and third.token != second.token
    second.release()  # no longer ours: must not remove the new owner's lease
    assert read_lease(path).token == third.token
    third.release()


def test_a_lease_of_a_dead_process_on_this_host_is_stale_at_once(tmp_path):
    path = tmp_path / "x.json"
    lease = Lease.acquire(path)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "pid": _dead_pid()}))
    assert read_lease(path).stale and "stale" in read_lease(path).describe()
    lease.release()


def _dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_stale_incomplete_folders_are_cleaned_and_live_ones_kept(tmp_path, monkeypatch):
    """A killed run's .incomplete folder (dead owner, or no lease and old) is removed by the next run; one with a
    live lease (a run in progress, maybe on another host) is left alone."""
    runs = tmp_path / "runs"
    dead = runs / f"{INCOMPLETE_PREFIX}dead"
    dead.mkdir(parents=True)
    (dead / LEASE_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": _dead_pid(), "token": "t",
                                               "heartbeat": time.time()}))
    old = runs / f"{INCOMPLETE_PREFIX}old-version"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    elsewhere = runs / f"{INCOMPLETE_PREFIX}other-host"
    elsewhere.mkdir()
    (elsewhere / LEASE_FILE).write_text(json.dumps({"host": "another-host", "pid": 1, "token": "u",
                                                    "heartbeat": time.time()}))
    young = runs / f"{INCOMPLETE_PREFIX}just-started"
    young.mkdir()
    assert folder_is_stale(elsewhere)[0] is False and folder_is_stale(young)[0] is False
    removed = clean_stale_incomplete(runs)
    assert len(removed) == 2 and all("removed the abandoned run folder" in line for line in removed)
    assert sorted(p.name for p in runs.iterdir()) == sorted([elsewhere.name, young.name])
    # the other host stops beating: after the TTL its folder is stale too
    monkeypatch.setenv("FER_BENCH_LEASE_TTL", "0.001")
    assert folder_is_stale(elsewhere)[0] is True


def test_a_run_in_progress_holds_a_lease_on_its_folder(tmp_path, monkeypatch):
    """While a run writes its folder, lease.json names this process; the finished folder holds no lease."""
    seen = {}
    original = experiment.write_evaluation

    def spy(run_dir, *args, **kwargs):
        seen["lease"] = read_lease(Path(run_dir) / LEASE_FILE)
        return original(run_dir, *args, **kwargs)

    monkeypatch.setattr(experiment, "write_evaluation", spy)
    path, _ = experiment.run_experiment(experiment.RunConfig(
        dataset="synthetic", model="svm-linear", features="lbp", folds=2, inner_folds=2, n_jobs=1,
        reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c")), console=Console(file=open(os.devnull, "w")))
    assert seen["lease"] is not None and seen["lease"].pid == os.getpid() and not seen["lease"].stale
    assert not (path / LEASE_FILE).exists()


# --------------------------------------------------------------------------------------------------- suites

SUITE = """[suite]
name = "faulty"
[defaults]
folds = 2
n_jobs = 1
[[experiment]]
datasets = ["synthetic"]
models = ["svm-linear"]
features = ["lbp"]
seeds = [0, 1, 2]
options = { inner_folds = 2 }
"""


@pytest.mark.slow
def test_a_failing_experiment_does_not_stop_the_suite(tmp_path, capsys, monkeypatch):
    """The second of three experiments fails at run time: the other two complete, the failure is listed on the
    console and in reports/suites/<name>.json, and the suite exits 1 with one error line."""
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    original = suite_module.run_experiment

    def fails_for_seed_1(config, **kwargs):
        if config.seed == 1:
            raise FerBenchError("synthetic: something only the run could find")
        return original(config, **kwargs)

    monkeypatch.setattr(suite_module, "run_experiment", fails_for_seed_1)
    reports = tmp_path / "reports"
    code, text = _main(["suite", path, "--reports-dir", reports], capsys)
    assert code == 1, text
    assert "Traceback" not in text
    [line] = _errors(text)
    assert "1 of 3 experiments of suite faulty failed" in line
    assert "something only the run could find" in text
    assert len(_complete_runs(reports)) == 2
    status = json.loads((reports / "suites" / "faulty.json").read_text())
    assert [e["status"] for e in status["experiments"]] == ["ran", "failed", "ran"]
    assert status["failed"] == [{"experiment": status["experiments"][1]["experiment"],
                                 "reason": "synthetic: something only the run could find"}]
    # fixed and resumed: only the failed one runs
    monkeypatch.setattr(suite_module, "run_experiment", original)
    code, text = _main(["suite", path, "--reports-dir", reports], capsys)
    assert code == 0, text
    assert len(_complete_runs(reports)) == 3
    status = json.loads((reports / "suites" / "faulty.json").read_text())
    assert [e["status"] for e in status["experiments"]] == ["skipped", "ran", "skipped"] and status["failed"] == []


def test_two_suites_never_run_the_same_experiment(tmp_path):
    """An experiment claimed by another live process is skipped, not run a second time; once that claim is gone
    (released, or stale after a kill) the experiment runs."""
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("seeds = [0, 1, 2]", "seeds = [0]"))
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    [config] = suite.configs
    from benchmark.datasets import make_synthetic

    other = Lease.acquire(claim_path(tmp_path / "reports", config, make_synthetic()))
    quiet = Console(file=open(os.devnull, "w"))
    [record] = run_suite(suite, console=quiet)
    assert record["status"] == "skipped" and record["reason"] == "running in another process"
    assert _complete_runs(tmp_path / "reports") == []
    other.release()
    [record] = run_suite(suite, console=quiet)
    assert record["status"] == "ran" and len(_complete_runs(tmp_path / "reports")) == 1
    assert not claim_path(tmp_path / "reports", config, make_synthetic()).exists()


@pytest.mark.slow
def test_a_suite_with_adapted_inner_folds_resumes(tmp_path):
    """The config hash is the hash of the requested options, so a run whose inner folds were reduced is still
    found complete by the resumed suite."""
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.replace("seeds = [0, 1, 2]", "seeds = [0]").replace("inner_folds = 2", "inner_folds = 12"))
    suite = load_suite(path, reports_dir=str(tmp_path / "reports"))
    quiet = Console(file=open(os.devnull, "w"))
    assert [r["status"] for r in run_suite(suite, console=quiet)] == ["ran"]
    assert [r["status"] for r in run_suite(suite, console=quiet)] == ["skipped"]


@pytest.mark.slow
def test_two_suite_processes_at_once_run_each_experiment_exactly_once(tmp_path):
    """Two real `fer-bench suite` processes started together on one reports folder: every experiment ends
    complete exactly once, and both processes exit 0."""
    import subprocess
    import sys

    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    reports = tmp_path / "reports"
    env = {**os.environ, "FER_BENCH_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-m", "benchmark.cli", "suite", str(path), "--reports-dir",
                               str(reports)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("Traceback" in out for out in outputs), outputs
    runs = _complete_runs(reports)
    seeds = sorted(json.loads((run / "config.json").read_text())["seed"] for run in runs)
    assert seeds == [0, 1, 2], [r.name for r in runs]
    assert not list((reports / ".claims").glob("*.json"))
