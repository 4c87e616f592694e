"""Suites on SLURM / PBS (benchmark.cluster._jobqueue): the [cluster] table, the batch job script dask-jobqueue
generates from it, --cluster against the table, scaling, and a missing extra. No batch system is needed: a
cluster only starts its scheduler here (nothing is submitted), and the one test that starts a worker runs the
generated job script with bash, as a batch system would."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from benchmark.cluster._jobqueue import cluster_options, make_cluster, scale_for
from benchmark.suite import ClusterSettings, cluster_settings
from benchmark.errors import FerBenchError
from benchmark.suite import Suite, load_suite

try:  # the cluster extra; without it the tests that build a cluster or its job script skip, the others still run
    import dask_jobqueue  # noqa: F401
except ImportError:
    dask_jobqueue = None

#: A test that builds a dask-jobqueue cluster (its job script, its scaling) needs the cluster extra.
needs_cluster_extra = pytest.mark.skipif(
    dask_jobqueue is None, reason="needs the cluster extra (dask-jobqueue): pip install -e '.[cluster]' "
                                  "(or make install-cluster)")

EXPERIMENT = '[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\n'

FAKE_SUBMIT = """#!/bin/sh
# a batch system's submit command: keeps the job script, prints the job id (or refuses when $FAKE_REFUSE is set)
if [ -n "$FAKE_REFUSE" ]; then echo "$FAKE_REFUSE" >&2; exit 1; fi
cp "$1" "{jobs}/job-$$.sh"
echo "Submitted batch job $$"
"""
FAKE_CANCEL = '#!/bin/sh\necho "$@" >> "{jobs}/../cancelled"\n'


@pytest.fixture(autouse=True)
def batch_system(tmp_path, monkeypatch):
    """sbatch / qsub that keep the scripts they are given in <tmp>/jobs, and scancel / qdel that note job ids:
    a cluster can be scaled here without submitting anything anywhere."""
    bin_dir, jobs = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    jobs.mkdir()
    for name, text in (("sbatch", FAKE_SUBMIT), ("qsub", FAKE_SUBMIT), ("scancel", FAKE_CANCEL),
                       ("qdel", FAKE_CANCEL)):
        (bin_dir / name).write_text(text.format(jobs=jobs))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return jobs


def _suite(tmp_path, cluster: str = "") -> Suite:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(cluster) + EXPERIMENT)  # [cluster] first: a key after [[experiment]] is its
    return load_suite(path, reports_dir=str(tmp_path / "reports"))


def _script(settings: ClusterSettings) -> str:
    cluster = make_cluster(settings, dashboard_address=":0")
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def _directives(script: str, prefix: str) -> list[str]:
    return [line[len(prefix):].strip() for line in script.splitlines() if line.startswith(prefix)]


GPU_TABLE = """
[cluster]
system = "{system}"
queue = "gpu"
account = "fer-lab"
walltime = "02:30:00"
memory = "32GiB"
cores = 8
gpus = 1
max_jobs = 3
job_extra = ["{extra}"]
prologue = ["module load cuda", "source /shared/fer-bench/.venv/bin/activate"]
python = "/shared/fer-bench/.venv/bin/python"
"""


@needs_cluster_extra
def test_slurm_job_script_carries_the_cluster_table(tmp_path):
    suite = _suite(tmp_path, GPU_TABLE.format(system="slurm", extra="--constraint=a100"))
    assert suite.cluster.max_jobs == 3 and suite.cluster.prologue[0] == "module load cuda"
    script = _script(suite.cluster)
    sbatch = _directives(script, "#SBATCH")
    for line in ("-J fer-bench", "-p gpu", "-A fer-lab", "-t 02:30:00", "--mem=32G", "--cpus-per-task=8",
                 "--gres=gpu:1", "--constraint=a100"):
        assert line in sbatch, (line, sbatch)
    worker = script.splitlines()[-1]
    assert worker.startswith("/shared/fer-bench/.venv/bin/python -m distributed.cli.dask_worker")
    # one worker of one task thread per job (one experiment at a time, using the job's 8 cores), GPU declared
    assert "--nthreads 1 " in worker and "--resources GPU=1" in worker
    body = script.splitlines()
    assert body.index(f"cd {os.getcwd()}") < body.index("export OMP_NUM_THREADS=8") < body.index("module load cuda") \
        < body.index(worker)
    assert "export DASK_DISTRIBUTED__WORKER__DAEMON=False" in body


@needs_cluster_extra
def test_pbs_job_script_carries_the_cluster_table_with_gpus_in_the_select_chunk(tmp_path):
    suite = _suite(tmp_path, GPU_TABLE.format(system="pbs", extra="-j oe"))
    script = _script(suite.cluster)
    pbs = _directives(script, "#PBS")
    for line in ("-N fer-bench", "-q gpu", "-A fer-lab", "-l walltime=02:30:00", "-j oe",
                 "-l select=1:ncpus=8:ngpus=1:mem=32GB"):
        assert line in pbs, (line, pbs)
    assert sum(line.startswith("-l select") for line in pbs) == 1  # a second select line would replace the first
    assert "--nthreads 1 " in script and "--resources GPU=1" in script


@needs_cluster_extra
@pytest.mark.parametrize("system", ["slurm", "pbs"])
def test_cpu_jobs_request_no_gpu_and_declare_no_gpu_resource(system):
    options = cluster_options(ClusterSettings(system=system, cores=2, memory="4GiB"))
    assert "--resources" not in options["worker_extra_args"]
    assert not any("gpu" in line for line in options["job_extra_directives"])
    assert "ngpus" not in options.get("resource_spec", "")
    script = _script(ClusterSettings(system=system, cores=2, memory="4GiB"))
    assert "gpu" not in script.lower() and "--resources" not in script


@pytest.mark.parametrize(("table", "fragment"), [
    ("walltime = '4h'", "[cluster] walltime = '4h' should be hours:minutes:seconds"),
    ("walltime = '00:00:00'", "[cluster] walltime = '00:00:00' should be"),
    ("memory = '32'", "[cluster] memory = '32' should be memory per job with its unit"),
    ("memory = 32", "[cluster] memory = 32 should be"),
    ("cores = 0", "[cluster] cores = 0 should be a positive integer"),
    ("cores = '8'", "[cluster] cores = '8' should be a positive integer"),
    ("gpus = -1", "[cluster] gpus = -1 should be 0 or a positive integer"),
    ("gpus = true", "[cluster] gpus = True should be 0 or a positive integer"),
    ("max_jobs = 0", "[cluster] max_jobs = 0 should be a positive integer"),
    ("system = 'sge'", "[cluster] system = 'sge' should be \"slurm\" or \"pbs\""),
    ("prologue = 'module load cuda'", "[cluster] prologue = 'module load cuda' should be a list of shell lines"),
    ("job_extra = ['']", "[cluster] job_extra = [''] should be a list of batch directives"),
    ("queue = ''", "[cluster] queue = '' should be a queue"),
    ("partition = 'gpu'", "[cluster]: unknown key 'partition'; known keys: system, queue, account, walltime"),
])
def test_bad_cluster_tables_are_one_line_errors_naming_the_key(tmp_path, table, fragment):
    with pytest.raises(FerBenchError) as err:
        _suite(tmp_path, f"[cluster]\n{table}\n")
    message = str(err.value)
    assert fragment in message and str(tmp_path / "s.toml") in message and "\n" not in message


def test_cluster_must_be_a_table_and_other_tables_are_still_refused(tmp_path):
    with pytest.raises(FerBenchError, match=r"\[cluster\]: expected a table"):
        _suite(tmp_path, "cluster = 3\n")
    with pytest.raises(FerBenchError, match=r"unknown table \[clusters\]; expected .*\[cluster\]"):
        _suite(tmp_path, "[clusters]\nqueue = 'gpu'\n")


def test_cluster_flag_wins_over_the_table_and_defaults_fill_the_rest(tmp_path):
    declared = _suite(tmp_path, "[cluster]\nsystem = 'pbs'\nqueue = 'long'\n").cluster
    assert declared == ClusterSettings(system="pbs", queue="long")
    chosen = cluster_settings(declared, "slurm")
    assert chosen.system == "slurm" and chosen.queue == "long"
    assert cluster_settings(declared, None).system == "pbs"
    # no [cluster] table: --cluster alone gives the defaults on that system
    plain = _suite(tmp_path)
    assert plain.cluster is None
    assert cluster_settings(plain.cluster, "slurm") == ClusterSettings(system="slurm")
    assert cluster_settings(None, None) is None  # nothing names a system: the executor's local cluster
    assert cluster_settings(ClusterSettings(queue="q"), None) is None
    with pytest.raises(FerBenchError, match="--cluster sge: expected slurm or pbs"):
        cluster_settings(None, "sge")


@needs_cluster_extra
def test_defaults_are_a_sane_cpu_job_on_this_python():
    settings = ClusterSettings(system="slurm")
    assert (settings.walltime, settings.memory, settings.cores, settings.gpus, settings.max_jobs) == \
        ("04:00:00", "16GB", 4, 0, 10)
    assert settings.python == sys.executable
    sbatch = _directives(_script(settings), "#SBATCH")
    assert "-t 04:00:00" in sbatch and "--cpus-per-task=4" in sbatch and not any(s.startswith("-p") for s in sbatch)


def test_suite_stays_constructible_without_a_cluster():
    assert Suite("s", "s.toml", ()).cluster is None


def test_make_cluster_needs_a_system():
    with pytest.raises(FerBenchError, match="--cluster slurm\\|pbs"):
        make_cluster(ClusterSettings())


def test_missing_extra_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # import dask_jobqueue raises ImportError
    with pytest.raises(FerBenchError) as err:
        make_cluster(ClusterSettings(system="slurm"))
    assert "the cluster extra is not installed: pip install -e '.[cluster]' (or make install-cluster)" in str(err.value)


class _StubCluster:
    """What scale_for uses of a Dask SpecCluster: its worker spec, and the step that submits what it lacks."""

    def __init__(self):
        self.worker_spec, self.submitted = {}, []

    def new_worker_spec(self):
        return {f"job-{len(self.worker_spec)}": {}}

    def sync(self, coroutine, *args):
        asyncio.run(coroutine(*args))

    async def _correct_state(self):
        self.submitted.append(len(self.worker_spec))


@pytest.mark.parametrize(("pending", "max_jobs", "jobs"), [(25, 10, 10), (3, 10, 3), (0, 10, 0), (10, 10, 10)])
def test_scale_for_asks_one_job_per_pending_experiment_up_to_max_jobs(pending, max_jobs, jobs):
    stub = _StubCluster()
    assert scale_for(stub, ClusterSettings(system="slurm", max_jobs=max_jobs), pending) == jobs
    assert stub.submitted == ([jobs] if jobs else [])


@needs_cluster_extra
def test_scale_for_submits_the_jobs_and_closing_cancels_them(tmp_path, batch_system):
    cluster = make_cluster(ClusterSettings(system="slurm", max_jobs=2, queue="long"), dashboard_address=":0")
    try:
        assert scale_for(cluster, ClusterSettings(system="slurm", max_jobs=2), 5) == 2
        scripts = sorted(batch_system.iterdir())
        assert len(scripts) == 2 and all("#SBATCH -p long" in p.read_text() for p in scripts)
    finally:
        cluster.close()
    assert sorted((tmp_path / "cancelled").read_text().split()) == sorted(p.stem[4:] for p in scripts)


@needs_cluster_extra
def test_a_refused_submission_is_a_one_line_error_not_a_wait_for_workers(monkeypatch, batch_system):
    monkeypatch.setenv("FAKE_REFUSE", "sbatch: error: invalid partition specified: gpux")
    settings = ClusterSettings(system="slurm", queue="gpux")
    cluster = make_cluster(settings, dashboard_address=":0")
    with pytest.raises(FerBenchError) as err:
        scale_for(cluster, settings, 3)
    assert str(err.value) == "--cluster slurm: sbatch refused a job: sbatch: error: invalid partition specified: gpux"
    assert cluster.status.name == "closed" and not list(batch_system.iterdir())


@needs_cluster_extra
@pytest.mark.parametrize(("system", "command"), [("slurm", "sbatch"), ("pbs", "qsub")])
def test_no_submit_command_here_is_a_one_line_error(monkeypatch, tmp_path, system, command):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(FerBenchError, match=f"--cluster {system}: {command} is not on PATH"):
        make_cluster(ClusterSettings(system=system))


PROBE = '''
import multiprocessing, os, time

def _pid(_):
    time.sleep(0.3)
    return os.getpid()

def probe():
    """What an experiment on this worker sees: its threads, its GPU resource, and whether joblib really forks."""
    from distributed import get_worker
    from joblib import Parallel, delayed

    state = get_worker().state
    return {"cwd": os.getcwd(), "omp": os.environ.get("OMP_NUM_THREADS"), "daemon": multiprocessing.current_process().daemon,
            "nthreads": state.nthreads, "resources": dict(state.total_resources),
            "joblib_pids": len(set(Parallel(n_jobs=2)(delayed(_pid)(k) for k in range(4))))}
'''


@needs_cluster_extra
@pytest.mark.slow
def test_the_job_script_run_by_bash_starts_a_worker_that_computes_like_a_plain_process(tmp_path, monkeypatch):
    """What a SLURM node would run: the generated script (its #SBATCH lines are comments to bash), started in
    another folder, starts a worker in the submitting folder that joins the scheduler with the GPU resource, one
    task thread, BLAS on the job's cores and joblib's process pools working (Dask's daemonic worker would make
    them one job)."""
    from distributed import Client

    (tmp_path / "fer_probe.py").write_text(PROBE)
    monkeypatch.chdir(tmp_path)
    settings = ClusterSettings(system="slurm", cores=2, gpus=1, memory="2GiB",
                               prologue=(f"export PYTHONPATH={tmp_path}",))
    cluster = make_cluster(settings, dashboard_address=":0")
    job = subprocess.Popen(["bash", "-c", cluster.job_script()], start_new_session=True, cwd="/",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=60)
            sys.path.insert(0, str(tmp_path))
            try:
                from fer_probe import probe
            finally:
                sys.path.remove(str(tmp_path))
            seen = client.submit(probe, resources={"GPU": 1}, pure=False).result(timeout=60)
    finally:
        cluster.close()
        os.killpg(job.pid, signal.SIGTERM)  # a batch system's scancel
        job.wait(timeout=30)
        sys.modules.pop("fer_probe", None)
    assert seen["cwd"] == str(tmp_path)
    assert seen["resources"] == {"GPU": 1.0} and seen["nthreads"] == 1
    assert seen["omp"] == "2" and seen["daemon"] is False
    assert seen["joblib_pids"] == 2, seen
