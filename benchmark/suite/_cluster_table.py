"""A suite's ``[cluster]`` table: the shape of the batch jobs ``fer-bench suite --executor dask --cluster
slurm|pbs`` submits (``benchmark.cluster`` starts them), parsed and checked with the rest of the suite file so a
mistake there is found before anything runs. Needs nothing beyond the standard library.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace

from ..errors import FerBenchError

#: Batch systems a cluster can be started on (``--cluster`` / ``system``).
SYSTEMS = ("slurm", "pbs")
#: The Dask resource a GPU worker declares; the Dask executor sends CNN experiments only to such workers.
GPU_RESOURCE = "GPU"
_WALLTIME = re.compile(r"(\d+):([0-5]\d):([0-5]\d)")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]i?b?)", re.IGNORECASE)


@dataclass(frozen=True)
class ClusterSettings:
    """The shape of every batch job of a suite's Dask cluster (one worker per job); defaults suit a CPU node."""

    system: str | None = None              # "slurm" | "pbs"; None: given by --cluster
    queue: str | None = None               # the site's default queue / partition when None
    account: str | None = None
    walltime: str = "04:00:00"
    memory: str = "16GB"
    cores: int = 4
    gpus: int = 0
    max_jobs: int = 10
    job_extra: tuple[str, ...] = ()        # extra #SBATCH / #PBS directives, e.g. "--constraint=a100"
    prologue: tuple[str, ...] = ()         # shell lines run before the worker starts
    local_directory: str | None = None     # the worker's scratch folder (Dask's default: the temp folder)
    interface: str | None = None           # e.g. "ib0"; Dask picks one when None
    python: str = field(default_factory=lambda: sys.executable)


def _text(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _count(minimum: int):
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _walltime(value) -> bool:
    match = _WALLTIME.fullmatch(value) if isinstance(value, str) else None
    return match is not None and any(int(part) for part in match.groups())


def _memory(value) -> bool:
    match = _MEMORY.fullmatch(value.strip()) if isinstance(value, str) else None
    return match is not None and float(match.group(1)) > 0


def _lines(value) -> bool:
    return isinstance(value, list) and all(_text(v) for v in value)


#: Each key of a [cluster] table: its check and what the error says is expected.
_CHECKS = {
    "system": (lambda v: v in SYSTEMS, '"slurm" or "pbs"'),
    "queue": (_text, "a queue (partition) name"),
    "account": (_text, "an account (project) name"),
    "walltime": (_walltime, 'hours:minutes:seconds per job, e.g. "04:00:00"'),
    "memory": (_memory, 'memory per job with its unit, e.g. "32GB"'),
    "cores": (_count(1), "a positive integer (cores per job)"),
    "gpus": (_count(0), "0 or a positive integer (GPUs per job)"),
    "max_jobs": (_count(1), "a positive integer (jobs at most at once)"),
    "job_extra": (_lines, 'a list of batch directives, e.g. ["--constraint=a100"]'),
    "prologue": (_lines, 'a list of shell lines, e.g. ["module load cuda"]'),
    "local_directory": (_text, "a folder path"),
    "interface": (_text, 'a network interface name, e.g. "ib0"'),
    "python": (_text, "the path of the workers' python"),
}


def parse_cluster_table(table: dict, where: str) -> ClusterSettings:
    """A suite's ``[cluster]`` table as :class:`ClusterSettings`, every key checked. ``where`` names the table in
    errors (e.g. ``"suites/thesis.toml [cluster]"``); an error is one line naming the key and what is expected."""
    if not isinstance(table, dict):
        raise FerBenchError(f"{where}: expected a table ([cluster] followed by key = value lines)")
    unknown = sorted(set(table) - set(_CHECKS))
    if unknown:
        raise FerBenchError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(_CHECKS)}")
    for key, value in table.items():
        check, expected = _CHECKS[key]
        if not check(value):
            raise FerBenchError(f"{where} {key} = {value!r} should be {expected}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    return ClusterSettings(**values)


def cluster_settings(suite_cluster: ClusterSettings | None, cli_system: str | None) -> ClusterSettings | None:
    """The cluster to start: the suite's ``[cluster]`` table (or the defaults) on the system ``--cluster`` names,
    which wins over the table's ``system``. None when neither names a system (the Dask executor then runs a
    local cluster)."""
    if cli_system is not None and cli_system not in SYSTEMS:
        raise FerBenchError(f"--cluster {cli_system}: expected slurm or pbs")
    settings = suite_cluster or ClusterSettings()
    system = cli_system or settings.system
    return replace(settings, system=system) if system is not None else None
