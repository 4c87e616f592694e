"""The run record: what a run folder holds, one typed reader for it, and the checks it passes before use.

Runs write it (``benchmark.experiment`` through ``benchmark.runs`` and ``benchmark.evaluation``, with the file
names and schema version of :mod:`._schema`); the report, the suite's resume and the coming ``predict`` read it
through :func:`collect_runs` (complete, readable folders as :class:`Run`) and :func:`verify_runs` (only runs whose
predictions, splits and metrics agree).
"""

from ._run import Run, collect_runs, load_run
from ._schema import (CONFIG, CROSS_DATASET_FILES, HISTORY, INCOMPLETE_PREFIX, MANIFEST, METRICS, PREDICTIONS,
                      REQUIRED_FILES, SCHEMA_VERSION, SEARCH, SOURCE_PREDICTIONS, SOURCE_SPLITS, SPLITS, TRAINING_ROLES)
from ._verify import check_run, verify_runs

__all__ = ["CONFIG", "CROSS_DATASET_FILES", "HISTORY", "INCOMPLETE_PREFIX", "MANIFEST", "METRICS", "PREDICTIONS",
           "REQUIRED_FILES", "Run", "SCHEMA_VERSION", "SEARCH", "SOURCE_PREDICTIONS", "SOURCE_SPLITS", "SPLITS",
           "TRAINING_ROLES", "check_run", "collect_runs", "load_run", "verify_runs"]
