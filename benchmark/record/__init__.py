"""The run record: what a run folder holds, one typed reader for it, and the checks it passes before use.

Runs write it through :func:`write_run` (one writer, called once by ``benchmark.experiment``, with the file names
and schema version of :mod:`._schema`); the report, the suite's resume, ``predict`` and ``export`` read it
through :func:`collect_runs` (complete, readable folders as :class:`Run`), and use them only once
``benchmark.verification`` found their predictions, splits and metrics in agreement (the checks every run passes
are here, :func:`check_identity` and :func:`check_parts`; an evaluation mode adds its own).
"""

from ._run import Broken, Run, collect_runs, read_run, runs_inside
from ._schema import (CONFIG, CROSS_DATASET_FILES, HISTORY, INCOMPLETE_PREFIX, MANIFEST, METRICS, PREDICTIONS,
                      REQUIRED_FILES, SCHEMA_VERSION, SEARCH, SOURCE_PREDICTIONS, SOURCE_SPLITS, SPLITS, TRAINING_ROLES)
from ._upgrade import RunFacts, upgrade
from ._verify import MISSING, check_identity, check_parts, first_difference, shown
from ._write import RunContent, SourcePart, write_run

__all__ = ["CONFIG", "CROSS_DATASET_FILES", "HISTORY", "INCOMPLETE_PREFIX", "MANIFEST", "METRICS", "PREDICTIONS",
           "MISSING", "REQUIRED_FILES", "Run", "RunContent", "RunFacts", "SCHEMA_VERSION", "SEARCH",
           "SOURCE_PREDICTIONS", "SOURCE_SPLITS", "SPLITS", "SourcePart", "TRAINING_ROLES", "Broken", "check_identity",
           "check_parts", "collect_runs", "first_difference", "read_run", "runs_inside", "shown", "upgrade", "write_run"]
