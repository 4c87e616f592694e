"""The run record: what a run folder holds, one typed reader for it, and the checks it passes before use.

Runs write it through :func:`write_run` (one writer, called once by ``benchmark.experiment``, with the file names
and schema version of :mod:`._schema`); the report, the suite's resume, ``predict`` and ``export`` read it
through :func:`collect_runs` (complete, readable folders as :class:`Run`) and :func:`verify_runs` (only runs whose
predictions, splits and metrics agree).
"""

from ._run import Run, collect_runs
from ._schema import (CONFIG, CROSS_DATASET_FILES, HISTORY, INCOMPLETE_PREFIX, MANIFEST, METRICS, PREDICTIONS,
                      REQUIRED_FILES, SCHEMA_VERSION, SEARCH, SOURCE_PREDICTIONS, SOURCE_SPLITS, SPLITS, TRAINING_ROLES)
from ._upgrade import RunFacts, upgrade
from ._verify import check_run, load_run, verify_runs
from ._write import RunContent, SourcePart, write_run

__all__ = ["CONFIG", "CROSS_DATASET_FILES", "HISTORY", "INCOMPLETE_PREFIX", "MANIFEST", "METRICS", "PREDICTIONS",
           "REQUIRED_FILES", "Run", "RunContent", "RunFacts", "SCHEMA_VERSION", "SEARCH", "SOURCE_PREDICTIONS",
           "SOURCE_SPLITS", "SPLITS", "SourcePart", "TRAINING_ROLES", "check_run", "collect_runs", "load_run", "upgrade",
           "verify_runs", "write_run"]
