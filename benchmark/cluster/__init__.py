"""Suites on a cluster: the Dask executor (``--executor dask``) and batch-system clusters (``--cluster``)."""

from ._executor import run_suite_dask

__all__ = ["run_suite_dask"]
