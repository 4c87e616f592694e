"""Checking that a run's files agree with each other before the report uses a number from it.

A run folder states its results three times: the predictions (``predictions.csv``), the partition they were
made on (``splits.csv`` and the manifest's split sizes) and the figures computed from them (``metrics.json``).
A file cut short by a full disk, edited by hand or copied from another run makes them disagree, and a table
built from such a run would print a number nobody can defend. So a run is used only when:

- every tested part (fold, or PublicTest/PrivateTest) has as many predictions as ``splits.csv`` has images in
  it, and as many as ``manifest.json["protocol"]["sizes"]`` says;
- every sample is predicted once, in the part and with the label (``y_true``) that ``splits.csv`` gives it;
- accuracy, macro-F1, balanced accuracy (headline, spread and per fold), the validation figures, the accuracy
  without the test images that have a pixel-identical copy in Training or PublicTest (and its counts, from
  predictions.csv's ``duplicate_in_training_or_validation`` column, which official-split runs of record schema 4
  and later must have; earlier runs have neither it nor the figure), the per-class figures and the confusion
  matrix recomputed from the predictions by the function that wrote them (:func:`benchmark.metrics.summarise`)
  equal ``metrics.json``.

These are the checks every run passes (:func:`check_identity`, :func:`check_parts`); an evaluation mode adds its
own (``benchmark.evaluations``), and ``benchmark.verification`` runs them all before a run is used.

Each check returns the first disagreement as one line naming the file and what disagrees.
"""

from __future__ import annotations

import math
from numbers import Real

from models import get_model

from ..errors import FerBenchError
from ..metrics import DUPLICATE_COLUMN, SCORES, TEST_SPLIT, WITHOUT_DUPLICATES, duplicate_flags, summarise
from ..protocols import PROTOCOLS
from ._run import Run
from ._schema import DUPLICATES_MARKED_SINCE

#: Largest difference between a recorded and a recomputed figure that still counts as equal (JSON round-trip).
TOLERANCE = 1e-9
#: The metrics.json entries the report reads, compared with their recomputed values.
COMPARED = (*SCORES, *(f"{key}_std" for key in SCORES), "folds", "validation", *WITHOUT_DUPLICATES, "per_class",
            "confusion_matrix")


def check_identity(run: Run, expected_extra: dict | None = None) -> str | None:
    """metrics.json names the same experiment as config.json and manifest.json: dataset, model, features,
    seed, model kind and protocol (the report files a run's row by these, so an edited one would misfile it);
    ``expected_extra`` adds what the run's evaluation mode records in its identity ({key: the values config.json and
    manifest.json give it})."""
    m, config, manifest = run.metrics, run.config, run.manifest
    expected = {"dataset": (config.get("dataset"), (manifest.get("dataset") or {}).get("name")),
                "model": (config.get("model"),), "features": (config.get("features"),),
                "seed": (config.get("seed"), manifest.get("seed")),
                "protocol": ((manifest.get("protocol") or {}).get("kind"),), **(expected_extra or {})}
    for key, sources in expected.items():
        for value in sources:
            if value is not None and value != m.get(key):
                return f"metrics.json names {key} {m.get(key)!r} but config.json or manifest.json say {value!r}"
    if m.get("protocol") not in PROTOCOLS:
        return f"metrics.json names an unknown protocol {m.get('protocol')!r}"
    try:
        registered = get_model(str(m.get("model"))).kind
    except FerBenchError:
        return None  # a model this version does not know: its kind cannot be checked
    if m.get("kind", registered) != registered:
        return f"metrics.json says {m['model']} is {m.get('kind')!r}, but it is a {registered} model"
    return None


def check_parts(run: Run) -> str | None:
    """The checks every scored part passes (see the module docstring): columns, parts and their sizes, samples
    and labels, and every figure recomputed from the predictions; the first disagreement, in one line."""
    for check in (_check_columns, _check_parts, _check_samples, _check_metrics):
        reason = check(run, run.part_column)
        if reason:
            return reason
    return None


def _check_columns(run: Run, column: str) -> str | None:
    for name, frame, needed in (("predictions.csv", run.predictions, ("sample_id", column, "y_true", "y_pred")),
                                ("splits.csv", run.splits, ("sample_id", column, "label"))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            return f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
    if DUPLICATE_COLUMN in run.predictions.columns:
        if not run.facts.marks_duplicates:  # older runs, and protocols that never look for duplicates
            why = (f"no run of record schema {run.schema_version} has it (since schema {DUPLICATES_MARKED_SINCE})"
                   if run.schema_version < DUPLICATES_MARKED_SINCE else f"no {run.protocol.name} run has it")
            return f"predictions.csv has the column {DUPLICATE_COLUMN}, but {why}: the file was edited or comes from " \
                   f"another run"
        try:
            duplicate_flags(run.predictions[DUPLICATE_COLUMN])
        except ValueError as exc:
            return f"predictions.csv's {exc}"
    elif run.facts.marks_duplicates:
        return (f"predictions.csv lacks the column {DUPLICATE_COLUMN}, which every {run.protocol.name} run of record "
                f"schema {DUPLICATES_MARKED_SINCE} or later has (this one is schema {run.schema_version})")
    return None


def _expected_sizes(run: Run) -> dict[str, int]:
    """Images per tested part according to the manifest: each fold's test part, plus PublicTest on the official
    split (the validation part its models are scored on beside PrivateTest)."""
    expected = {}
    for name, size in run.manifest["protocol"]["sizes"].items():
        expected[str(name)] = int(size["test"])
        if run.protocol.validation_split and size.get("val") is not None:
            expected[run.protocol.validation_split] = int(size["val"])
    return expected


def _check_parts(run: Run, column: str) -> str | None:
    """Predictions per part = images per part in splits.csv = the manifest's split sizes; one row per sample."""
    try:
        expected = _expected_sizes(run)
    except (AttributeError, KeyError, TypeError, ValueError):
        return "manifest.json's protocol sizes are malformed"
    for name, frame in (("splits.csv", run.splits), ("predictions.csv", run.predictions)):
        repeated = frame.sample_id[frame.sample_id.duplicated()]
        if len(repeated):
            times = int((frame.sample_id == repeated.iloc[0]).sum())
            return (f"{name} lists sample {repeated.iloc[0]} {times} times"
                    + (f" ({repeated.nunique()} samples repeated)" if repeated.nunique() > 1 else ""))
    in_splits = run.splits[column].astype(str).value_counts()
    predicted = run.predictions[column].astype(str).value_counts()
    for part, n in expected.items():
        if int(in_splits.get(part, 0)) != n:
            return (f"splits.csv has {int(in_splits.get(part, 0))} images in {part} where manifest.json's protocol "
                    f"sizes say {n}")
    extra = sorted(set(predicted.index) - set(expected))
    if extra:
        return f"predictions.csv has rows for {extra[0]}, a part that manifest.json's protocol does not test"
    wrong = [part for part, n in expected.items() if int(predicted.get(part, 0)) != n]
    if wrong:
        part = wrong[0]
        return (f"predictions.csv has {len(run.predictions)} rows for {sum(expected.values())} test images in "
                f"splits.csv ({part}: {int(predicted.get(part, 0))} rows for {expected[part]} images)")
    return None


def _check_samples(run: Run, column: str) -> str | None:
    """Every predicted sample is in splits.csv, in the same part, with the same label."""
    merged = run.predictions[["sample_id", column, "y_true"]].merge(
        run.splits[["sample_id", column, "label"]], on="sample_id", how="left", suffixes=("", "_splits"),
        indicator=True)
    unknown = merged[merged["_merge"] == "left_only"]
    if len(unknown):
        return (f"predictions.csv predicts {len(unknown)} sample(s) that splits.csv does not list "
                f"(first: {unknown.sample_id.iloc[0]})")
    moved = merged[merged[column].astype(str) != merged[f"{column}_splits"].astype(str)]
    if len(moved):
        first = moved.iloc[0]
        return (f"predictions.csv predicts sample {first.sample_id} in {first[column]} but splits.csv puts it in "
                f"{first[f'{column}_splits']} ({len(moved)} such samples)")
    relabelled = merged[merged.y_true.astype(str) != merged.label.astype(str)]
    if len(relabelled):
        first = relabelled.iloc[0]
        return (f"predictions.csv gives sample {first.sample_id} the label {first.y_true} but splits.csv gives it "
                f"{first.label} ({len(relabelled)} such samples)")
    return None


def _check_metrics(run: Run, column: str) -> str | None:
    """metrics.json equals what :func:`summarise` computes from predictions.csv, for every entry the report reads."""
    try:
        recomputed = summarise(run.predictions, run.metrics["class_names"], part_column=column,
                               test_part=run.protocol.test_part or TEST_SPLIT)
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        return f"predictions.csv cannot be scored with metrics.json's class_names ({type(exc).__name__}: {exc})"
    recorded = run.metrics
    if "folds" in recomputed and set(map(str, recorded.get("folds") or {})) != set(recomputed["folds"]):
        return (f"metrics.json has folds {', '.join(sorted(map(str, recorded.get('folds') or {}))) or 'none'} but "
                f"predictions.csv has {', '.join(sorted(recomputed['folds']))}")
    for key in COMPARED:
        if key not in recomputed:
            continue
        where = first_difference(recorded.get(key, MISSING), recomputed[key], key)
        if where is not None:
            path, was, now = where
            if was is MISSING:
                return f"metrics.json lacks {path}, which predictions.csv gives as {shown(now)}"
            if isinstance(now, list):
                return f"metrics.json {path} differs from the one predictions.csv gives"
            return f"metrics.json {path} is {shown(was)} but predictions.csv gives {shown(now)}"
    unfounded = [key for key in WITHOUT_DUPLICATES if key in recorded and key not in recomputed]
    if unfounded:
        return (f"metrics.json gives {unfounded[0]}, but predictions.csv has no {DUPLICATE_COLUMN} column to compute "
                f"it from")
    return None


#: A recorded entry that is absent (:func:`first_difference`).
MISSING = object()


def first_difference(recorded, recomputed, path: str):
    """(path, recorded, recomputed) of the first entry that differs, or None; lists are compared whole."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict):
            return path, recorded, recomputed
        for key, value in recomputed.items():
            found = first_difference(recorded.get(key, MISSING), value, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recomputed, list):
        same = (isinstance(recorded, list) and len(recorded) == len(recomputed)
                and all(first_difference(a, b, path) is None for a, b in zip(recorded, recomputed)))
        return None if same else (path, recorded, recomputed)
    return None if _equal(recorded, recomputed) else (path, recorded, recomputed)


def _equal(recorded, recomputed) -> bool:
    if isinstance(recomputed, Real) and not isinstance(recomputed, bool):
        if not isinstance(recorded, Real) or isinstance(recorded, bool):
            return False
        if math.isnan(recomputed) or math.isnan(recorded):
            return math.isnan(recomputed) and math.isnan(recorded)
        return abs(recorded - recomputed) <= TOLERANCE
    return recorded == recomputed


def shown(value) -> str:
    """A recorded or recomputed value as an error line shows it."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return "missing" if value is MISSING else str(value)


