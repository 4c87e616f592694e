"""What a run folder is made of: its file names and the version of their schema.

Version 1 is every run written before manifests recorded a version; version 2 adds ``schema_version`` to the
manifest, ``split_is_official`` and ``diagnostics`` to its dataset entry, ``svm_backend``, the feature cache
status and ``adapted`` (options changed to fit the data). Version 3 adds cross-dataset runs (protocol
``cross-dataset``): the manifest's ``test_dataset`` (the target's summary and fingerprint), ``class_mapping`` and
``protocol.source`` (the source protocol's own summary); metrics.json's ``test_dataset``, ``source`` (the
in-domain figures) and ``cross_dataset`` (drop counts, the unrestricted top class outside the target's classes);
and the files :data:`SOURCE_PREDICTIONS` and :data:`SOURCE_SPLITS`. Runs of the other protocols are unchanged.
Version 4 adds, on protocols that mark duplicates (the official split), predictions.csv's column
``duplicate_in_training_or_validation`` (a test image with a pixel-identical copy in Training or PublicTest, a
PublicTest image with one in Training) and metrics.json's figures without those test images
(``accuracy_without_cross_split_duplicates``, ``n_scored_without_duplicates``, ``n_cross_split_duplicates``); a
run of an earlier version has neither (:func:`benchmark.record._upgrade.upgrade`). A reader takes every version up
to :data:`SCHEMA_VERSION` and lists a newer one as written by a newer fer-bench, never misreading it.
"""

SCHEMA_VERSION = 4

METRICS = "metrics.json"
CONFIG = "config.json"
MANIFEST = "manifest.json"
PREDICTIONS = "predictions.csv"
SPLITS = "splits.csv"
SEARCH = "search.json"
HISTORY = "history.csv"
TRAINING_ROLES = "training_roles.csv"
#: Cross-dataset runs: the source's own test predictions and its assignment (what its protocol reports).
SOURCE_PREDICTIONS = "source_predictions.csv"
SOURCE_SPLITS = "source_splits.csv"
#: Without these a folder is not a run the report or a resumed suite can use.
REQUIRED_FILES = (METRICS, CONFIG, MANIFEST, PREDICTIONS, SPLITS)
#: ... and a cross-dataset run needs these too.
CROSS_DATASET_FILES = (SOURCE_PREDICTIONS, SOURCE_SPLITS)
#: A run is written under this prefix and renamed to its run id only once complete.
INCOMPLETE_PREFIX = ".incomplete-"
#: The model kinds of runs written before metrics.json recorded ``kind`` (schema 1): a CNN run records ``n_params``,
#: an SVM run does not (read by :func:`benchmark.record._upgrade.upgrade` only).
LEGACY_CNN_KIND, LEGACY_SVM_KIND = "deep", "classical"
#: The first schema version whose official-split runs flag duplicates in predictions.csv (see above).
DUPLICATES_MARKED_SINCE = 4
