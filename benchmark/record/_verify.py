"""Checking that a run's files agree with each other before the report uses a number from it.

A run folder states its results three times: the predictions (``predictions.csv``), the partition they were
made on (``splits.csv`` and the manifest's split sizes) and the figures computed from them (``metrics.json``).
A file cut short by a full disk, edited by hand or copied from another run makes them disagree, and a table
built from such a run would print a number nobody can defend. So a run is used only when:

- every tested part (fold, or PublicTest/PrivateTest) has as many predictions as ``splits.csv`` has images in
  it, and as many as ``manifest.json["protocol"]["sizes"]`` says;
- every sample is predicted once, in the part and with the label (``y_true``) that ``splits.csv`` gives it;
- accuracy, macro-F1, balanced accuracy (headline, spread and per fold), the validation figures, the per-class
  figures and the confusion matrix recomputed from the predictions by the function that wrote them
  (:func:`benchmark.metrics.summarise`) equal ``metrics.json``.

A cross-dataset run (``--test-dataset``) passes these on its target part, and :func:`_check_cross_dataset` on the
rest: the source's own predictions pass every check above against its own protocol and figures; the class
mapping, recomputed from the canonical emotion table, is the recorded one; every prediction is the argmax of its
row's recorded source scores over the shared emotions; the unrestricted top class, the "top class outside" counts
and the drop counts recomputed from predictions.csv and splits.csv equal metrics.json's.

Each check returns the first disagreement as one line naming the file and what disagrees.
"""

from __future__ import annotations

import math
import re
from numbers import Real
from pathlib import Path

import numpy as np

from models import get_model

from ..datasets import class_mapping
from ..errors import FerBenchError, exception_text
from ..metrics import SCORES, TEST_SPLIT, summarise
from ..protocols import (PROTOCOLS, TOP_CLASS, CrossDataset, dropped_counts_of, outside_counts,
                         restricted_predictions, score_columns)
from ._run import Broken, Run, read_run
from ._schema import INCOMPLETE_PREFIX

#: Largest difference between a recorded and a recomputed figure that still counts as equal (JSON round-trip).
TOLERANCE = 1e-9
#: The metrics.json entries the report reads, compared with their recomputed values.
COMPARED = (*SCORES, *(f"{key}_std" for key in SCORES), "folds", "validation", "per_class", "confusion_matrix")


def verify_runs(runs: list[Run]) -> tuple[list[Run], list[tuple[str, str]]]:
    """The runs whose files agree, and (run id, reason) for every run whose files do not."""
    good, inconsistent = [], []
    for run in runs:
        try:
            reason = check_run(run)
        except Exception as exc:  # files damaged in a way no check foresaw: never used, never a crash
            reason = f"cannot be checked ({exception_text(exc)})"
        if reason is None:
            good.append(run)
        else:
            inconsistent.append((run.run_id, reason))
    return good, inconsistent


def check_run(run: Run) -> str | None:
    """None when the run's predictions, splits and metrics agree, else the first disagreement, in one line."""
    reason = _check_identity(run)
    if reason:
        return reason
    column = run.part_column
    for check in (_check_columns, _check_parts, _check_samples, _check_metrics):
        reason = check(run, column)
        if reason:
            return reason
    return _check_cross_dataset(run) if run.cross_dataset else None


def _check_identity(run: Run) -> str | None:
    """metrics.json names the same experiment as config.json and manifest.json: dataset, model, features,
    seed, model kind and protocol (the report files a run's row by these, so an edited one would misfile it)."""
    m, config, manifest = run.metrics, run.config, run.manifest
    expected = {"dataset": (config.get("dataset"), (manifest.get("dataset") or {}).get("name")),
                "model": (config.get("model"),), "features": (config.get("features"),),
                "seed": (config.get("seed"), manifest.get("seed")),
                "protocol": ((manifest.get("protocol") or {}).get("kind"),)}
    if run.cross_dataset:
        expected["test_dataset"] = (config.get("test_dataset"), (manifest.get("test_dataset") or {}).get("name"))
    elif config.get("test_dataset") is not None:
        return (f"config.json names a test dataset ({config['test_dataset']!r}) but metrics.json's protocol is "
                f"{m.get('protocol')!r}, not a cross-dataset one")
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


def _check_columns(run: Run, column: str) -> str | None:
    for name, frame, needed in (("predictions.csv", run.predictions, ("sample_id", column, "y_true", "y_pred")),
                                ("splits.csv", run.splits, ("sample_id", column, "label"))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            return f"{name} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
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
        where = _first_difference(recorded.get(key, _MISSING), recomputed[key], key)
        if where is not None:
            path, was, now = where
            if was is _MISSING:
                return f"metrics.json lacks {path}, which predictions.csv gives as {_show(now)}"
            if isinstance(now, list):
                return f"metrics.json {path} differs from the one predictions.csv gives"
            return f"metrics.json {path} is {_show(was)} but predictions.csv gives {_show(now)}"
    return None


def _check_cross_dataset(run: Run) -> str | None:
    """The parts only a cross-dataset run has (see the module docstring), first disagreement in one line."""
    m, manifest = run.metrics, run.manifest
    source, facts = m["source"], m["cross_dataset"]
    if source.get("dataset") != m["dataset"]:
        return f"metrics.json's source names dataset {source.get('dataset')!r} but the run's is {m['dataset']!r}"
    if source.get("protocol") != manifest["protocol"]["source"].get("kind"):
        return (f"metrics.json's source protocol {source.get('protocol')!r} is not manifest.json's "
                f"{manifest['protocol']['source'].get('kind')!r}")
    reason = _check_source_part(run)
    if reason:
        return reason
    try:
        mapping = class_mapping(source["class_names"], manifest["test_dataset"]["class_names"])
    except (FerBenchError, KeyError, TypeError) as exc:
        return f"the class mapping cannot be rebuilt from the two datasets' class names ({exc})"
    if list(m["class_names"]) != list(mapping.shared_target_names):
        return (f"metrics.json's class_names {m['class_names']} are not the emotions the two datasets share "
                f"({list(mapping.shared_target_names)})")
    if manifest.get("class_mapping") != mapping.summary():
        return "manifest.json's class_mapping differs from the canonical emotion table's"
    columns = score_columns(mapping.source_names)
    absent = [c for c in (*columns, TOP_CLASS) if c not in run.predictions.columns]
    if absent:
        return f"predictions.csv lacks {', '.join(absent[:3])}, needed to check its predictions"
    try:
        scores = run.predictions[columns].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return "predictions.csv has scores that are not numbers"
    predicted, top = restricted_predictions(scores, mapping)
    names = np.asarray(mapping.target_names, dtype=object)
    differ = np.flatnonzero(names[predicted] != run.predictions.y_pred.astype(str).to_numpy())
    if len(differ):
        row = run.predictions.iloc[differ[0]]
        return (f"predictions.csv predicts {row.y_pred} for sample {row.sample_id}, but the argmax of its scores "
                f"over the shared emotions is {names[predicted[differ[0]]]} ({len(differ)} such rows)")
    tops = np.asarray(mapping.source_names, dtype=object)[top]
    if not np.array_equal(tops, run.predictions[TOP_CLASS].astype(str).to_numpy()):
        return f"predictions.csv's {TOP_CLASS} is not the top of its scores over every source class"
    where = _first_difference(facts.get("top_class_outside", _MISSING), outside_counts(top, mapping),
                              "cross_dataset.top_class_outside")
    if where is not None:
        return f"metrics.json {where[0]} is {_show(where[1])} but predictions.csv gives {_show(where[2])}"
    if facts.get("n_scored") != len(run.predictions):
        return f"metrics.json says {facts.get('n_scored')} target images were scored; predictions.csv has " \
               f"{len(run.predictions)}"
    dropped = dropped_counts_of(run.splits, run.part_column)
    if facts.get("dropped") != dropped or facts.get("n_dropped") != sum(sum(v.values()) for v in dropped.values()):
        return f"metrics.json's drop counts {facts.get('dropped')} are not splits.csv's {dropped}"
    if manifest.get("cross_dataset") != facts:
        return "manifest.json's cross_dataset figures differ from metrics.json's"
    return None


def _check_source_part(run: Run) -> str | None:
    """The source's own predictions against its own protocol, assignment and figures: the checks every run
    passes, on ``source_predictions.csv``, ``source_splits.csv``, ``metrics.json["source"]`` and the manifest's
    ``protocol.source``."""
    source = run.metrics["source"]
    if source.get("protocol") not in _in_domain_protocols():
        return f"metrics.json's source protocol {source.get('protocol')!r} is not one a source is fitted under"
    view = Run(run.run_id, run.path, run.config, {**source, "dataset": run.metrics["dataset"]},
               {**run.manifest, "protocol": run.manifest["protocol"]["source"]}, run.source_predictions,
               run.source_splits)
    for check in (_check_columns, _check_parts, _check_samples, _check_metrics):
        reason = check(view, view.part_column)
        if reason:
            reason = re.sub(r"\b(predictions|splits)\.csv", r"source_\1.csv", reason)
            return "the source's own part: " + reason.replace("metrics.json", "metrics.json source")
    return None


def _in_domain_protocols() -> set[str]:
    return set(PROTOCOLS) - {CrossDataset.name}


_MISSING = object()


def _first_difference(recorded, recomputed, path: str):
    """(path, recorded, recomputed) of the first entry that differs, or None; lists are compared whole."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict):
            return path, recorded, recomputed
        for key, value in recomputed.items():
            found = _first_difference(recorded.get(key, _MISSING), value, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(recomputed, list):
        same = (isinstance(recorded, list) and len(recorded) == len(recomputed)
                and all(_first_difference(a, b, path) is None for a, b in zip(recorded, recomputed)))
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


def _show(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "missing" if value is _MISSING else str(value)


def load_run(folder: Path) -> Run:
    """One complete run folder whose files agree with each other (``check_run``), for commands that use a run's
    models (``predict``, ``export``); anything else is a :class:`FerBenchError` (exit 2) naming the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FerBenchError(f"{folder}: no such run folder (runs are under <reports>/runs/)")
    if folder.name.startswith(INCOMPLETE_PREFIX):
        raise FerBenchError(f"{folder}: an incomplete run (still running, or abandoned by a killed process)")
    try:
        run = read_run(folder)
    except Broken as exc:
        raise FerBenchError(f"{folder}: not a complete run ({exc})") from None
    except Exception as exc:
        raise FerBenchError(f"{folder}: unreadable run ({exception_text(exc)})") from None
    problem = check_run(run)
    if problem is not None:
        raise FerBenchError(f"{folder}: its files disagree ({problem}); not using it")
    return run
