"""What a run folder is made of: its file names and the version of their schema.

Version 1 is every run written before manifests recorded a version; version 2 adds ``schema_version`` to the
manifest, ``split_is_official`` and ``diagnostics`` to its dataset entry, ``svm_backend``, the feature cache
status and ``adapted`` (options changed to fit the data). A reader takes every version up to
:data:`SCHEMA_VERSION` and lists a newer one as written by a newer fer-bench, never misreading it.
"""

SCHEMA_VERSION = 2

METRICS = "metrics.json"
CONFIG = "config.json"
MANIFEST = "manifest.json"
PREDICTIONS = "predictions.csv"
SPLITS = "splits.csv"
SEARCH = "search.json"
HISTORY = "history.csv"
TRAINING_ROLES = "training_roles.csv"
#: Without these a folder is not a run the report or a resumed suite can use.
REQUIRED_FILES = (METRICS, CONFIG, MANIFEST, PREDICTIONS, SPLITS)
#: A run is written under this prefix and renamed to its run id only once complete.
INCOMPLETE_PREFIX = ".incomplete-"
