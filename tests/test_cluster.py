"""Suites on Dask: a real LocalCluster of process workers gives the local executor's run folders, survives a
killed worker, resumes, sends CNNs to GPU workers only, and fans grid searches out with identical results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

pytest.importorskip("distributed", reason="needs the cluster extra (dask[distributed]): "
                    "pip install -e '.[cluster]' (or make install-cluster)")

from benchmark.cluster import run_suite_dask  # noqa: E402
from benchmark.record import collect_runs  # noqa: E402
from benchmark.suite import load_suite, run_suite  # noqa: E402

pytestmark = pytest.mark.slow  # every test starts a cluster of worker processes

SUITE = """
[suite]
name = "cluster-check"

[defaults]
folds = 2  # the fewest: what is compared is the same for any number of folds
seeds = [0]
{more}
"""
BASE = """
[[experiment]]
datasets = ["synthetic-b"]
models = ["svm-linear"]
features = ["lbp"]  # LBP: 360 dimensions, the quickest SVM fits
options = { inner_folds = 2 }
"""
RBF = """
[[experiment]]
datasets = ["synthetic-b"]
models = ["svm-rbf"]
features = ["lbp"]  # LBP: 360 dimensions, the quickest SVM fits
options = { inner_folds = 2, pca = 30 }  # 30 components: the same check, at a fraction of the fits' time
"""
LINEAR = """
[[experiment]]
datasets = ["synthetic-b"]
models = ["svm-linear"]
features = ["lbp"]  # LBP: 360 dimensions, the quickest SVM fits
options = { inner_folds = 3 }
"""
#: metrics.json entries that measure time, not results
TIMINGS = {"fit_seconds", "final_fit_seconds", "folds_training"}


def _suite(tmp_path: Path, more: str, reports: str, *, base: str = BASE):
    """The svm-linear experiment ``base`` followed by ``more``."""
    path = tmp_path / "suite.toml"
    path.write_text(SUITE.format(more=base + more))
    return load_suite(path, reports_dir=str(tmp_path / reports))


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"), width=200)


def _runs(reports: Path) -> dict:
    runs, skipped = collect_runs(reports / "runs")
    assert not skipped, skipped
    return {(r.metrics["model"]): r for r in runs}


def _same_results(a, b) -> None:
    for name in ("splits.csv", "predictions.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(a.path / name), pd.read_csv(b.path / name))
    strip = lambda m: {k: v for k, v in m.items() if k not in TIMINGS}  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    where = {"reports_dir": None, "cache_dir": None}  # folders, which change no number (nor the config hash)
    assert {**a.config, **where} == {**b.config, **where}  # the config hash among them


@pytest.fixture(autouse=True)
def _environment_kept():
    """A Dask nanny started from this process writes its pre-spawn environment (OMP_NUM_THREADS=1 and the like,
    where not configured otherwise, as the GPU-routing test's own cluster is) into this process's ``os.environ``
    and leaves it there (fer-bench's executor gives it back; a test's own cluster does not): BLAS and TensorFlow in
    every later test of the process would then run on one thread, unlike a user's. Each test gets the environment
    back as it found it, by the executor's own guard."""
    from benchmark.cluster._executor import _environment_given_back

    with _environment_given_back():
        yield


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory) -> dict:
    """The svm-linear and svm-rbf experiments run by the local executor, once for the module's comparisons."""
    root = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as patch:  # module scope: the tests' isolated cache is not set up yet
        patch.setenv("FER_BENCH_CACHE", str(root / "fer-cache"))
        local = run_suite(_suite(root, RBF, "local"), console=_quiet())
    assert [r["status"] for r in local] == ["ran", "ran"]
    return _runs(root / "local")


def test_dask_executor_writes_the_local_executors_run_folders_and_resumes(tmp_path, local_runs):
    """(A CNN on Dask gives the local run folder too: see the GPU-routing test, which runs one there.) The local
    cluster's nannies leave this process's environment as they found it (they write MALLOC_TRIM_THRESHOLD_ and the
    like into it before spawning each worker)."""
    environment = dict(os.environ)
    records = run_suite_dask(_suite(tmp_path, RBF, "dask"), console=_quiet(), workers=2)
    assert dict(os.environ) == environment
    assert [r["status"] for r in records] == ["ran", "ran"]
    assert all(r["worker"].startswith("tcp://") and r["seconds"] > 0 for r in records)  # where and how long
    a, b = local_runs, _runs(tmp_path / "dask")
    assert set(a) == set(b) == {"svm-linear", "svm-rbf"}
    for model in a:
        _same_results(a[model], b[model])
    status = json.loads((tmp_path / "dask" / "suites" / "cluster-check.json").read_text())
    assert [e["status"] for e in status["experiments"]] == ["ran", "ran"]
    again = run_suite_dask(_suite(tmp_path, RBF, "dask"), console=_quiet(), workers=2)  # resume: nothing to do
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    assert len(list((tmp_path / "dask" / "runs").iterdir())) == 2


def test_a_worker_killed_mid_experiment_is_retried_and_every_experiment_completes_once(tmp_path):
    suite = _suite(tmp_path, LINEAR, "dask")
    runs_dir = tmp_path / "dask" / "runs"
    killed = []

    def kill_first_worker_that_runs():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for folder in runs_dir.glob(".incomplete-*") if runs_dir.is_dir() else []:
                try:
                    pid = json.loads((folder / "lease.json").read_text())["pid"]
                except (OSError, ValueError, KeyError):
                    continue
                os.kill(pid, signal.SIGKILL)
                killed.append((folder.name, pid))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker_that_runs)
    killer.start()
    records = run_suite_dask(suite, console=_quiet(), workers=2)
    killer.join()
    assert killed, "no experiment was caught running"
    assert [r["status"] for r in records] == ["ran", "ran"]
    complete = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    runs, skipped = collect_runs(runs_dir)
    assert len(complete) == len(runs) == 2 and not skipped  # each experiment exactly once, each complete
    assert len({r.config["config_hash"] for r in runs}) == 2
    assert all(r["pid"] != killed[0][1] for r in records)  # finished by a live worker


GPU_SUITE = """
[[experiment]]
datasets = ["synthetic-b"]
models = ["nearest-centroid"]  # the test kind, declared to need a GPU below: milliseconds per experiment
seeds = [0, 1, 2, 3]
[[experiment]]
datasets = ["synthetic-b"]
models = ["tiny-cnn"]  # the test CNN: one convolution, traced in a fraction of a second
options = { epochs = 1 }
"""


def test_cnn_experiments_go_only_to_workers_that_declare_a_gpu(tmp_path, monkeypatch, tiny_cnn):
    """Five experiments whose kind needs a GPU and two workers, one of them idle without a GPU: all five go to the
    GPU worker (by chance they would all land there once in 32 tries; the other worker does not even know the test
    kinds, so a task sent there fails). The CNN's run folder is the one a local `fer-bench suite` writes."""
    import distributed

    from centroid_kind import CentroidKind, register_centroid

    register_centroid(monkeypatch)
    monkeypatch.setattr(CentroidKind, "needs_gpu", True)
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH")) if p)}
    # the CNN's run folder must be the one a local `fer-bench suite` writes, in a process of its own as a user's is
    # (TensorFlow keeps the thread pools of its first use in a process, and this test's process may have started
    # TensorFlow unpinned in an earlier test): started first, it runs while the cluster does
    (tmp_path / "local.toml").write_text(SUITE.format(more=GPU_SUITE[GPU_SUITE.index("[[experiment]]", 10):]))
    local = subprocess.Popen([sys.executable, "-m", "tiny_cnn", "suite", str(tmp_path / "local.toml"),
                              "--reports-dir", str(tmp_path / "local")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cpu:
            gpu_worker = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", cpu.scheduler_address, "--nthreads", "1",
                 "--resources", "GPU=1", "--name", "gpu-worker", "--no-dashboard", "--preload", "centroid_kind",
                 "--preload", "tiny_cnn"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                with distributed.Client(cpu.scheduler_address) as client:
                    client.wait_for_workers(2, timeout=60)
                    gpu_address = next(a for a, w in client.scheduler_info()["workers"].items()
                                       if w.get("resources", {}).get("GPU"))
                records = run_suite_dask(_suite(tmp_path, GPU_SUITE, "dask", base=""), console=_quiet(),
                                         scheduler=cpu.scheduler_address)
            finally:
                gpu_worker.terminate()
                gpu_worker.wait(timeout=30)
    except BaseException:
        local.kill()
        raise
    assert [r["status"] for r in records] == ["ran"] * 5, [r.get("reason") for r in records]
    assert [r["worker"] for r in records] == [gpu_address] * 5
    _, errors = local.communicate(timeout=300)
    assert local.returncode == 0, errors
    _same_results(_runs(tmp_path / "local")[tiny_cnn], _runs(tmp_path / "dask")[tiny_cnn])


def test_distributed_grid_search_gives_the_local_results(tmp_path, local_runs):
    records = run_suite_dask(_suite(tmp_path, "", "dask"), console=_quiet(), workers=2, distribute_search=True)
    assert [r["status"] for r in records] == ["ran"]
    _same_results(local_runs["svm-linear"], _runs(tmp_path / "dask")["svm-linear"])


def test_ctrl_c_cancels_pending_experiments_and_exits_130_without_a_complete_looking_run(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text(SUITE.format(more=BASE + RBF + RBF.replace("inner_folds = 2", "inner_folds = 3")))
    reports = tmp_path / "reports"
    process = subprocess.Popen([sys.executable, "-m", "benchmark.cli", "suite", str(suite), "--executor", "dask",
                                "--workers", "1", "--reports-dir", str(reports)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = reports / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (runs.is_dir() and any(runs.glob(".incomplete-*"))):
        time.sleep(0.1)
    assert runs.is_dir() and any(runs.glob(".incomplete-*")), "the first experiment never started"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "error: interrupted; pending experiments were cancelled" in err and "Traceback" not in err
    complete = [p for p in runs.iterdir() if not p.name.startswith(".")]
    assert len(complete) <= 1  # at most the experiment that finished before Ctrl-C; the other three never ran
    assert not [p for p in complete if not (p / "metrics.json").is_file()]
