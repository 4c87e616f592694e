"""Suites on a cluster: the Dask executor (``--executor dask``) and batch-system clusters (``--cluster``)."""

from ._executor import run_suite_dask
from ._jobqueue import ClusterSettings, cluster_settings, make_cluster, parse_cluster_table, scale_for

__all__ = ["ClusterSettings", "cluster_settings", "make_cluster", "parse_cluster_table", "run_suite_dask", "scale_for"]
