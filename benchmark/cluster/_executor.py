"""Suites on Dask (``fer-bench suite FILE --executor dask``): one task per experiment, the same run folders.

The submitting process checks the suite exactly as the local executor does (every dataset found, every option
and data limit), skips experiments whose complete run exists, and submits each pending experiment as one Dask
task. A worker runs it through the same code as the local executor (``benchmark.suite.run_one``): it claims
the experiment with a lease (so two workers, or a worker and a local suite, never run the same one), writes the
run folder under its leased temporary name into the shared reports folder and renames it when complete.
Datasets are loaded once per worker process and kept for the following experiments; features go through the
(shared) feature cache.

A worker killed mid-experiment leaves only an ``.incomplete-`` folder with a stale lease; the scheduler gives the
task to another worker (at most ``retries`` times, Dask's ``allowed-failures``), whose run removes the stale
folder and takes over the stale claim. When workers declare a ``GPU`` resource (``dask worker --resources
GPU=1``, or ``gpus`` in a ``[cluster]`` table), CNN experiments go only to them.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import joblib
from rich.console import Console

from models import get_model

from ..console import printer, progress
from ..errors import FerBenchError
from ..kinds import kind_of
from ..runs import clean_stale_incomplete, config_hash
from ..suite import (GPU_RESOURCE, DataCache, completed_runs, describe, prepare_suite, previous_runs, run_one,
                     write_status)
from ._jobqueue import make_cluster, scale_for

#: Times the scheduler may lose a worker while it runs one experiment before the experiment is failed.
DEFAULT_RETRIES = 2
#: Dask resource name of a GPU (the [cluster] table's gpus declare it).
GPU = GPU_RESOURCE

_WORKER_DATA = None  # this worker process's loaded datasets (benchmark.suite.DataCache), kept between tasks
_WORKER_DATA_LOCK = threading.Lock()


def run_experiment_task(config, label: str, distribute_search: bool = False) -> dict:
    """One experiment on a Dask worker: the local executor's ``run_one``, with the datasets this worker already
    loaded. Returns the suite record (plain values only) plus where and how long it ran and its console output."""
    from distributed import get_worker  # lazy: the cluster extra is optional (see _import_distributed)

    global _WORKER_DATA
    with _WORKER_DATA_LOCK:
        if _WORKER_DATA is None:
            _WORKER_DATA = DataCache()
        data = _WORKER_DATA
        dataset, others = data.get(config), data.others(config)
    runs_dir = Path(config.reports_dir) / "runs"
    done: dict = {}  # the submitter skipped what was complete; run_one looks again once it holds the claim
    warnings.filterwarnings("ignore", message=".*'Threading' parallel backend is not supported.*")  # sklearnex,
    # inside a worker thread, where joblib runs threads (each SVM fits on one thread anyway: models/_onedal.py)
    log = io.StringIO()
    console = Console(file=log, width=160, force_terminal=False, no_color=True)
    started = time.monotonic()
    if distribute_search:
        record = _with_search_on_cluster(lambda: run_one(config, dataset, label, runs_dir, done, console, others))
    else:
        record = run_one(config, dataset, label, runs_dir, done, console, others)
    worker = get_worker()
    return {**{k: v for k, v in record.items() if k != "config"},
            "run_dir": str(record["run_dir"]) if record.get("run_dir") is not None else None,
            "worker": worker.address, "host": socket.gethostname(), "pid": os.getpid(),
            "seconds": round(time.monotonic() - started, 1), "log": log.getvalue()[-8000:]}


def _with_search_on_cluster(work):
    """Run ``work`` with joblib's parallel loops (the SVMs' grid searches, feature extraction) as tasks on the
    cluster. joblib's Dask backend, called inside a task, takes the worker's client and secedes the task's
    thread from the worker's pool while it waits for its tasks (and rejoins after), so the tasks it submits can
    run on this worker too: no deadlock on a one-thread worker."""
    with joblib.parallel_config(backend="dask"):
        return work()


def run_suite_dask(suite, *, console: Console, progress_console: Console | None = None, scheduler: str | None = None,
                   cluster=None, workers: int | None = None, distribute_search: bool = False,
                   retries: int = DEFAULT_RETRIES) -> list[dict]:
    """Run a suite's pending experiments as Dask tasks; returns one record per experiment, as ``run_suite``.

    ``scheduler``: the address of a running scheduler; ``cluster``: a ``ClusterSettings`` to start one on SLURM
    or PBS (``benchmark.cluster._jobqueue``); neither: a ``LocalCluster`` of ``workers`` process workers.
    """

    if suite.sources:
        k, source = suite.sources[0]
        raise FerBenchError(f"{suite.path}: experiment {k + 1} starts from the weights experiment {source + 1} makes "
                            f"(init_from = {suite.configs[k].init_from!r}); the dask executor runs experiments "
                            f"independently: run this suite with --executor local, or run the source first and give "
                            f"init_from its run folder")
    distributed = _import_distributed()
    data, reports_dir, runs_dir = prepare_suite(suite)
    done = completed_runs(runs_dir)
    say = printer(progress_console or console)
    for line in clean_stale_incomplete(runs_dir):
        say(f"note: {line}")
    records: list[dict | None] = [None] * len(suite.configs)
    pending = []
    for k, config in enumerate(suite.configs):
        label = f"[{k + 1}/{len(suite.configs)}] {describe(config)}"
        previous = previous_runs(config, data.get(config), done, data.others(config))
        if previous:
            say(f"{label}: already complete in {previous[-1].name}, skipped")
            records[k] = {"experiment": describe(config), "run_dir": previous[-1], "status": "skipped"}
        else:
            pending.append((k, config, label))
    if not pending:
        write_status(reports_dir, suite, records, say)
        return records

    import dask  # lazy: the cluster extra is optional (see _import_distributed)

    # workers compute exactly as this process does: Dask's default pins BLAS/OpenMP to one thread per worker,
    # which changes how oneDNN and BLAS sum (and each experiment is meant to use the cores it is given)
    same_threads = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                    if not k.endswith("_NUM_THREADS")}
    # local workers stay daemon processes: joblib runs threads inside them rather than process pools, which a
    # worker killed on Ctrl-C would leave behind computing for minutes (measured); batch jobs, which the batch
    # system cleans up, run non-daemon workers (see _jobqueue)
    with _environment_given_back():
        with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                              "distributed.nanny.pre-spawn-environ": same_threads}):
            client, close = _connect(distributed, scheduler, cluster, workers, len(pending), say)
        _run_on_cluster(distributed, client, close, pending, records, suite, reports_dir, distribute_search,
                        progress_console or console)
    return records


@contextmanager
def _environment_given_back():
    """This process's environment as it was, once the block ends however it ends: a nanny started here (a local
    cluster's) writes its pre-spawn environment (and PYTHONHASHSEED, and a marker of its own) into ``os.environ``
    before each worker it spawns, and leaves it there."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(before):
            del os.environ[key]
        os.environ.update(before)


def _run_on_cluster(distributed, client, close, pending, records, suite, reports_dir, distribute_search,
                    console) -> None:
    """Submit the pending experiments, collect their records, and close what :func:`_connect` started."""
    futures: dict = {}
    try:
        say = printer(console)
        say(f"dask: {_describe_cluster(client)}; dashboard {client.dashboard_link}")
        on_gpus = _gpu_workers(client)
        for k, config, label in pending:
            deep = _needs_gpu(config)
            future = client.submit(run_experiment_task, _absolute_paths(config), label, distribute_search, pure=False,
                                   key=f"fer-bench-{config_hash(asdict(config))}-{k}-{os.urandom(4).hex()}",
                                   resources={GPU: 1} if deep and on_gpus else None)
            futures[future] = (k, config, label)
        _collect(distributed, futures, records, suite, reports_dir, console)
    except KeyboardInterrupt:
        client.cancel(list(futures))  # pending experiments never start; running ones stay incomplete folders
        raise
    finally:
        close()


def _collect(distributed, futures: dict, records: list, suite, reports_dir: Path, console: Console) -> None:
    """Wait for every task, printing each result as it arrives and keeping the progress bar (done / running /
    failed) and the status file current; ends with what each worker did."""

    per_worker: dict[str, dict] = {}
    counts = {"ran": 0, "skipped": 0, "failed": 0}

    def summary() -> str:
        left = len(futures) - sum(counts.values())
        return f"experiments: {counts['ran']} done, {left} running or queued, {counts['failed']} failed"

    with progress(console) as bar:
        say = printer(bar.console)
        task = bar.add_task(summary(), total=len(futures))
        for future in distributed.as_completed(list(futures)):
            k, config, label = futures[future]
            try:
                record = future.result()
            except distributed.KilledWorker:
                record = {"status": "failed", "run_dir": None,
                          "reason": "its worker died every time it ran it (killed, or out of memory); the suite "
                                    "resumes it when submitted again"}
            except Exception as exc:  # the task itself raised: a bug, or the worker lost the shared folder
                record = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}", "run_dir": None}
            record = {"experiment": describe(config), **record}
            records[k] = record
            counts[record["status"]] += 1
            worker = record.get("worker", "?")
            mine = per_worker.setdefault(worker, {"ran": 0, "skipped": 0, "failed": 0})
            mine[record["status"]] += 1
            outcome = record.get("reason") if record["status"] == "failed" else record.get("run_dir")
            took = f" in {record['seconds']:.0f} s" if "seconds" in record else ""
            say(f"{label}: {record['status']} on {worker}{took}: {outcome}")
            write_status(reports_dir, suite, [r for r in records if r is not None], say)
            bar.update(task, advance=1, description=summary())
        for worker, mine in sorted(per_worker.items()):
            say(f"worker {worker}: " + ", ".join(f"{n} {status}" for status, n in mine.items() if n))


def _connect(distributed, scheduler, cluster, workers, n_pending: int, say):
    """A client and the function that closes what this call started."""
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise FerBenchError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({exc})") from None
        return client, client.close
    if cluster is not None:

        started = make_cluster(cluster)
        scale_for(started, cluster, n_pending)
        say(f"dask: {cluster.system} jobs submitted for up to {min(n_pending, cluster.max_jobs)} workers")
        client = distributed.Client(started)
        return client, lambda: (client.close(), started.close())
    n = workers or _default_workers(n_pending)
    local = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     silence_logs=50)
    client = distributed.Client(local)
    return client, lambda: (client.close(), local.close())


def _absolute_paths(config):
    """The config with its folders made absolute, as a worker started elsewhere must read them (the config hash
    never includes them, so the run is the same experiment)."""

    folders = {k: str(Path(getattr(config, k)).expanduser().resolve()) for k in ("reports_dir", "data_dir",
                                                                                   "test_data_dir", "cache_dir")
               if getattr(config, k, None)}
    return replace(config, **folders)


def _default_workers(n_pending: int) -> int:
    """One worker per two cores (each experiment uses all the cores it is given), at most one per experiment."""
    return max(1, min(n_pending, (os.cpu_count() or 2) // 2))


def _describe_cluster(client) -> str:
    workers = client.scheduler_info().get("workers", {})
    gpus = sum(1 for w in workers.values() if w.get("resources", {}).get(GPU, 0) > 0)
    return f"{len(workers)} workers" + (f" ({gpus} with a GPU)" if gpus else "") + " connected"


def _gpu_workers(client) -> bool:
    """Whether any connected worker declares a GPU resource: then CNN experiments go only to those."""
    return any(w.get("resources", {}).get(GPU, 0) > 0 for w in client.scheduler_info().get("workers", {}).values())


def _needs_gpu(config) -> bool:
    """Whether the experiment's model kind asks for a GPU worker (``ModelKind.needs_gpu``: the CNNs)."""
    return kind_of(get_model(config.model)).needs_gpu


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise FerBenchError("--executor dask: the cluster extra is not installed (pip install -e '.[cluster]', or "
                            "make install-cluster)") from None
    return distributed
