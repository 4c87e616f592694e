"""Suites on a cluster: the Dask executor (``--executor dask``) and batch-system clusters (``--cluster``)."""

from ._executor import run_suite_dask
from ._jobqueue import make_cluster, scale_for, worker_setup

__all__ = ["make_cluster", "run_suite_dask", "scale_for", "worker_setup"]
