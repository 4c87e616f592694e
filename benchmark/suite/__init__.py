"""Matched suites (``fer-bench suite``): a declared matrix of experiments read from a TOML file, planned, run one by
one on this machine (resumable, claimed per experiment), and their status written; the ``[cluster]`` table of the
file shapes the batch jobs of ``--executor dask --cluster`` (run by ``benchmark.cluster``, which builds on the
pieces exposed here: :func:`run_one`, :class:`DataCache`, :func:`previous_runs`, :func:`write_status`)."""

from ._cluster_table import GPU_RESOURCE, SYSTEMS, ClusterSettings, cluster_settings, parse_cluster_table
from ._suite import (CLAIMS_DIR, DataCache, Suite, check_suite, claim_path, completed_runs, data_fingerprint, describe,
                     load_suite, plan_suite, prepare_suite, previous_runs, run_one, run_suite, status_path,
                     write_status)

__all__ = ["CLAIMS_DIR", "ClusterSettings", "DataCache", "GPU_RESOURCE", "SYSTEMS", "Suite", "check_suite",
           "claim_path", "cluster_settings", "completed_runs", "data_fingerprint", "describe", "load_suite",
           "parse_cluster_table", "plan_suite", "prepare_suite", "previous_runs", "run_one", "run_suite",
           "status_path", "write_status"]
