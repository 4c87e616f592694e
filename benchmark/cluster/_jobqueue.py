"""Dask clusters on a batch system (``--cluster slurm|pbs``): one batch job per Dask worker, from a suite's
``[cluster]`` table.

A suite file may carry the job shape::

    [cluster]
    system = "slurm"          # or "pbs"; `fer-bench suite ... --cluster slurm|pbs` wins over it
    queue = "gpu"             # partition (SLURM) / queue (PBS); the site's default when left out
    account = "my-project"
    walltime = "04:00:00"     # per job, hours:minutes:seconds
    memory = "32GB"           # per job
    cores = 8                 # per job: the cores one experiment uses (feature extraction, SVM searches)
    gpus = 1                  # per job; the worker then declares the Dask resource GPU=1
    max_jobs = 10             # at most this many jobs at once
    job_extra = ["--constraint=a100"]                           # more #SBATCH / #PBS directives
    prologue = ["module load cuda", "source .venv/bin/activate"]  # shell lines run before the worker
    local_directory = "$TMPDIR"                                 # the worker's scratch folder
    interface = "ib0"         # network interface the scheduler and workers talk over
    python = "/shared/fer-bench/.venv/bin/python"               # worker python (default: this one)

Each job runs one Dask worker with one task thread (``processes=1``, ``--nthreads 1``), so one job runs one
experiment at a time with all the job's cores: the worker loads each dataset once, and fer-bench parallelises
inside the experiment (joblib over the job's cores, TensorFlow's own threads). For that the job script also
starts the worker in the submitting process's working folder and lets it compute like a plain process (Dask's
defaults would pin BLAS/OpenMP to one thread and make the worker process daemonic, which turns joblib's process
pools into a single job): see :func:`worker_setup`.

GPUs: dask-jobqueue has no GPU argument. SLURM gets ``#SBATCH --gres=gpu:N`` (a job directive). PBS Pro takes
GPUs in the job's one ``select`` chunk (``-l select=1:ncpus=C:ngpus=N:mem=M``); a second ``-l select`` line in
the job directives would replace the first, not add to it, so the whole chunk goes in as dask-jobqueue's
``resource_spec``. ``ngpus`` is PBS Pro's usual (site-defined) resource name.

dask-jobqueue is the ``cluster`` extra (``pip install -e '.[cluster]'``): it is imported only when a cluster
starts, never for a local suite. The ``[cluster]`` table itself is part of the suite file, parsed and checked by
``benchmark.suite`` (:class:`~benchmark.suite.ClusterSettings`).
"""

from __future__ import annotations

import os
import shlex
import shutil

from ..errors import FerBenchError, one_line
from ..suite import GPU_RESOURCE, SYSTEMS, ClusterSettings

#: Batch job name (``squeue`` / ``qstat`` show it).
JOB_NAME = "fer-bench"
#: The command that submits a job script, per system.
SUBMIT = {"slurm": "sbatch", "pbs": "qsub"}
_INSTALL = "pip install -e '.[cluster]' (or make install-cluster)"


def worker_setup(cores: int, folder: str | None = None) -> list[str]:
    """Shell lines that start a job's Dask worker in ``folder`` (default: this process's working folder) and let it
    compute like a plain process using ``cores`` cores.

    The folder: relative paths of the suite (``reports``, ``--data-dir data/ck+``, ``.venv/bin/activate`` in the
    prologue) then mean on the node what they mean here (a PBS job otherwise starts in the home folder). Threads:
    Dask's nanny starts the worker with OMP/MKL/OpenBLAS pinned to one thread unless these variables are set
    already, and makes it a daemonic process, inside which joblib runs every parallel loop as a single job.
    """
    threads = [f"export {name}={cores}" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")]
    return [f"cd {shlex.quote(folder or os.getcwd())}", *threads, "export DASK_DISTRIBUTED__WORKER__DAEMON=False"]


def cluster_options(settings: ClusterSettings) -> dict:
    """The keyword arguments of ``SLURMCluster`` / ``PBSCluster`` for these settings (see the module docstring)."""
    from dask.utils import parse_bytes

    options = {
        "cores": 1,              # Dask threads: one experiment at a time; the job itself gets settings.cores
        "processes": 1,
        "memory": settings.memory,
        "walltime": settings.walltime,
        "queue": settings.queue,
        "account": settings.account,
        "job_name": JOB_NAME,
        "python": settings.python,
        "local_directory": settings.local_directory,
        "interface": settings.interface,
        "job_script_prologue": [*worker_setup(settings.cores), *settings.prologue],
        "worker_extra_args": ["--resources", f"{GPU_RESOURCE}={settings.gpus}"] if settings.gpus else [],
        "job_extra_directives": list(settings.job_extra),
    }
    if settings.system == "slurm":
        options["job_cpu"] = settings.cores
        if settings.gpus:
            options["job_extra_directives"].insert(0, f"--gres=gpu:{settings.gpus}")
    else:
        from dask_jobqueue.pbs import pbs_format_bytes_ceil

        gpus = f":ngpus={settings.gpus}" if settings.gpus else ""
        options["resource_spec"] = (f"select=1:ncpus={settings.cores}{gpus}"
                                    f":mem={pbs_format_bytes_ceil(parse_bytes(settings.memory))}")
    return options


def make_cluster(settings: ClusterSettings, *, dashboard_address: str = ":8787"):
    """Start the scheduler of a SLURM or PBS cluster (no job is submitted until :func:`scale_for`)."""
    if settings.system not in SYSTEMS:
        raise FerBenchError("--executor dask: name the batch system with --cluster slurm|pbs or system = \"slurm\" "
                            "in the suite's [cluster] table")
    jobqueue = _import_jobqueue()
    submit = SUBMIT[settings.system]
    if shutil.which(submit) is None:
        raise FerBenchError(f"--cluster {settings.system}: {submit} is not on PATH; run the suite where jobs are "
                            f"submitted (a login node), or start workers by hand and use --scheduler")
    cls = jobqueue.SLURMCluster if settings.system == "slurm" else jobqueue.PBSCluster
    return cls(**cluster_options(settings), scheduler_options={"dashboard_address": dashboard_address})


def scale_for(cluster, settings: ClusterSettings, pending: int) -> int:
    """Submit one job per pending experiment, at most ``max_jobs``; returns the number of jobs submitted.

    A fixed ``scale`` rather than ``adapt``: Dask's adaptive target comes from task durations it has not seen
    yet (an experiment takes minutes to hours), so it would ask for too few jobs at the start. Jobs end with the
    cluster when the suite is done (or at their walltime). The jobs are submitted before this returns: a job the
    batch system refuses (a wrong partition, account or limit) closes the cluster (cancelling the jobs already
    submitted) and is a one-line error, where Dask would only log it and leave the suite waiting for workers."""
    jobs = max(0, min(pending, settings.max_jobs))
    if jobs:
        try:
            cluster.sync(_submit, cluster, jobs)
        except (RuntimeError, ValueError, OSError) as exc:
            _close_refused(cluster)
            raise FerBenchError(f"--cluster {settings.system}: {SUBMIT.get(settings.system, 'the batch system')} "
                                f"refused a job: {_refusal(exc)}") from None
    return jobs


async def _submit(cluster, jobs: int) -> None:
    """What ``cluster.scale(jobs=jobs)`` does (one worker per job here), with Dask's step that submits the missing
    jobs awaited, inside the cluster's event loop, rather than scheduled: a submission error reaches the caller
    instead of a log line."""
    while len(cluster.worker_spec) < jobs:
        cluster.worker_spec.update(cluster.new_worker_spec())
    await cluster._correct_state()


def _close_refused(cluster) -> None:
    """Close a cluster after a refused submission: jobs already submitted are cancelled, and the refused ones
    are marked failed first (Dask's close insists that every job it created was started, closed or failed)."""
    from distributed.core import Status

    for job in list(cluster.workers.values()):
        if getattr(job, "job_id", None) is None:
            job.status = Status.failed
    cluster.close()


def _refusal(exc: Exception) -> str:
    """The batch system's own words from dask-jobqueue's error (its stderr), on one line."""
    text = str(exc)
    said = text.rpartition("stderr:")[2] if "stderr:" in text else text
    return one_line(said)[:300] or type(exc).__name__


def _import_jobqueue():
    try:
        import dask_jobqueue
    except ImportError:
        raise FerBenchError(f"--cluster: the cluster extra is not installed: {_INSTALL}") from None
    return dask_jobqueue
