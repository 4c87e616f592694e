"""Exporting a run's trained models (``fer-bench export``): ONNX, TFLite or a TensorFlow SavedModel, each proven
to reproduce the run's own model on the run's own test images before it is kept.

Which formats a run can take, and the conversion routes, are its model kind's (``benchmark.kinds``: a CNN exports
whole, faces in and probabilities out, by the routes of ``kinds/_keras_export.py``; an SVM exports its classifier
on feature vectors as ONNX, ``kinds/_svm_export.py``). This module is the command around them.

The check: the run's folder and model files are verified (``benchmark.verification.load_run``, each model file's
SHA-256 against the manifest), the run's dataset is loaded and must have the fingerprint the run recorded, and the
exported model's outputs on the fold's test images (predictions.csv; a cross-dataset run's source_predictions.csv)
must match the run's own model within the kind's tolerance (:class:`benchmark.exported.Parity`). Everything is
written under temporary names and renamed only once every export of the command passed, so a failed check leaves
no exported file behind. A JSON sidecar beside each export records where it came from, the route, the check's
figures and the versions of the converters.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np

from .datasets import load_dataset
from .errors import FerBenchError, WorkFailedError, exception_text
from .exported import Parity, remove_path
from .files import temporary_name, writable
from .kinds import kind_named, load_fold_models
from .options import BY_NAME, RunConfig, data_options
from .evaluations import evaluation_of
from .verification import load_run
from .saved_models import file_sha256

#: Every format ``fer-bench export`` knows; each model kind lists those it can write (``export_formats``).
FORMATS = ("onnx", "tflite", "savedmodel")


@dataclass
class Exported:
    """One written export: its file (a folder for a SavedModel), sidecar, route and check."""

    fold: str
    format: str
    path: Path
    sidecar: Path
    route: str
    parity: Parity
    size_bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ the command

def export_run(run_dir: Path, fmt: str, *, out: Path | None = None, fold: str | None = None,
               data_dir: str | None = None, log: Callable[[str], None] = lambda line: None) -> list[Exported]:
    """Export every fold's model of the run in ``run_dir`` (or only ``fold``) as ``fmt`` into ``out`` (default
    ``exports/<run id>/``), each checked on its fold's test images; returns what was written.

    Problems found before any work (the run, the format for its kind, the fold, the data, a model file's hash)
    raise :class:`FerBenchError` (exit 2); a conversion that fails or does not reproduce the model raises
    :class:`WorkFailedError` (exit 1) and leaves no export behind.
    """
    if fmt not in FORMATS:
        raise FerBenchError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    run = load_run(Path(run_dir))
    kind = kind_named(run.kind)
    if fmt not in kind.export_formats:
        raise FerBenchError(f"--format {fmt}: not supported for {run.path.name} ({run.metrics['model']}, "
                            f"{kind.model_noun}); {kind.export_note}")
    folds = _chosen_folds(run, fold)
    wanted = Path(out).expanduser() if out is not None else Path("exports") / run.run_id
    created = [p for p in (wanted, *wanted.parents) if not p.exists()]  # deepest first
    out = _output_folder(run, out)
    staged: list[tuple[Path, Path, Exported]] = []
    try:
        dataset = run_dataset(run, data_dir, log)
        for name in folds:
            staged.append(_export_fold(run, name, fmt, dataset, out, log))
        return [_commit(*item) for item in staged]
    except BaseException:
        for tmp, tmp_sidecar, _ in staged:
            remove_path(tmp)
            remove_path(tmp_sidecar)
        for folder in created:  # a refused or failed export leaves no empty --out folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    finally:
        for tmp, tmp_sidecar, _ in staged:  # whatever a failure left under temporary names
            remove_path(tmp)
            remove_path(tmp_sidecar)


def _output_folder(run, out: Path | None) -> Path:
    """``out`` or ``exports/<run id>``, created; never inside the run folder (a complete run is never changed)."""
    out = Path(out).expanduser() if out is not None else Path("exports") / run.run_id
    if out.resolve() == run.path.resolve() or run.path.resolve() in out.resolve().parents:
        raise FerBenchError(f"--out {out}: inside the run folder {run.path}; a complete run is never changed, "
                            f"export somewhere else (default exports/{run.run_id}/)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FerBenchError(f"--out {out}: cannot create the folder ({exception_text(exc)})") from None
    problem = writable(out)
    if problem is not None:
        raise FerBenchError(f"--out {out}: cannot write there ({exception_text(problem)})")
    return out


def _chosen_folds(run, fold: str | None) -> list[str]:
    """The folds the run saved a model for (a cross-dataset run's source folds), or the one ``--fold`` names
    (``3`` means ``fold-3``)."""
    folds = run.model_folds()
    if fold is None:
        return folds
    if fold not in folds and f"fold-{fold}" in folds:
        fold = f"fold-{fold}"
    if fold not in folds:
        raise FerBenchError(f"--fold {fold}: {run.path.name} has {'fold' if len(folds) == 1 else 'folds'} "
                            f"{', '.join(folds)}")
    return [fold]


def run_dataset(run, data_dir: str | None = None, log: Callable[[str], None] = lambda line: None):
    """The dataset ``run`` was made on, loaded with the run's own data options from ``data_dir`` (default: where
    the run read it); a :class:`FerBenchError` naming the run folder when its fingerprint is not the recorded one."""
    config = RunConfig(**{k: v for k, v in run.config.items() if k in BY_NAME})
    where = data_dir if data_dir is not None else config.data_dir
    log(f"loading {config.dataset} from {where or 'its default folder'} to check the exports on "
        f"{run.path.name}'s test images")
    dataset = load_dataset(config.dataset, where, **data_options(config))
    recorded = run.manifest["dataset"]
    if dataset.fingerprint != recorded["fingerprint"]:
        differs = [f"{what} {recorded.get(key)!r} there, {now!r} here" for what, key, now in (
            ("images", "n_images", len(dataset)), ("classes", "class_names", list(dataset.class_names)),
            ("layout", "layout", dataset.layout)) if recorded.get(key) is not None and recorded.get(key) != now]
        raise FerBenchError(f"{run.path}: the {config.dataset} data at {dataset.root or where or '(default)'} is "
                            f"not the data this run was made on (fingerprint {dataset.fingerprint[:12]}, the run "
                            f"recorded {recorded['fingerprint'][:12]}" + (f"; {', '.join(differs)}" if differs else
                            "; same size and classes, different images or labels") + "); point --data-dir at the "
                            "run's data")
    return dataset


def _test_images(run, fold: str, dataset) -> tuple[np.ndarray, np.ndarray]:
    """The fold's test images (predictions.csv rows of the fold's own test part; a cross-dataset run's models are
    checked on the source's own test images, source_predictions.csv) and their sample ids."""
    table, column, name = evaluation_of(run).model_test_images(run)
    rows = table[table[column] == fold]
    position = {sample_id: i for i, sample_id in enumerate(dataset.sample_ids)}
    missing = [s for s in rows.sample_id if s not in position]
    if missing or rows.empty:
        raise FerBenchError(f"{run.path / name}: " + (
            f"sample {missing[0]} of {fold} is not in the loaded data" if missing else f"no test rows of {fold}"))
    idx = np.array([position[s] for s in rows.sample_id])
    return dataset.images[idx], np.asarray(rows.sample_id)


def _export_fold(run, fold: str, fmt: str, dataset, out: Path, log) -> tuple[Path, Path, Exported]:
    """Convert and check one fold's model under temporary names; (export, sidecar, what was exported)."""
    kind = kind_named(run.kind)
    stem = kind.file_stem(fold, len(run.model_folds()))
    (model,) = load_fold_models(run, fold)  # every model file's SHA-256 checked against the manifest
    images, _ = _test_images(run, fold, dataset)
    final = out / (f"{stem}.{fmt}" if fmt != "savedmodel" else f"{stem}_savedmodel")
    tmp = temporary_name(final, "partial")
    tmp_sidecar = temporary_name(final.with_name(final.name + ".json"), "partial")
    try:
        log(f"{fold}: exporting {stem} as {fmt}, checked on {len(images)} test images")
        started = time.perf_counter()
        route, tried, parity, details, notes = kind.export(model, fmt, images, tmp, run.config.get("features"))
        if parity is None:
            raise WorkFailedError(f"{final}: no route converts {run.path.name} {fold} to {fmt} (" + "; ".join(
                f"{t['route']}: {t['error']}" for t in tried) + "); nothing was written")
        source = kind.model_files(fold, len(run.model_folds()))
        seconds = time.perf_counter() - started
        if not parity.passed:
            raise WorkFailedError(f"{final}: the {fmt} export of {run.path.name} {fold} does not reproduce the "
                                  f"run's model ({parity.describe()}); nothing was written")
        size = _size(tmp)
        exported = Exported(fold, fmt, final, final.with_name(final.name + ".json"), route, parity, size, seconds,
                            notes)
        sidecar = _sidecar(run, exported, tmp, tried, details, source, dataset.fingerprint)
        tmp_sidecar.write_text(json.dumps(sidecar, indent=2) + "\n")
        return tmp, tmp_sidecar, exported
    except BaseException:  # a failed conversion or check, or Ctrl-C: nothing of this fold stays behind
        remove_path(tmp)
        remove_path(tmp_sidecar)
        raise


def _sidecar(run, exported: Exported, path: Path, tried: list, details: dict, source: list[str],
             fingerprint: str) -> dict:
    """What the JSON beside an export records: the run and fold it came from, the source model files' SHA-256s,
    the route, input and output, the check's figures and the converters' versions."""
    parity = exported.parity
    return {
        "fer_bench": _version("fer-bench"), "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run.run_id, "run_dir": str(run.path.resolve()), "model": run.metrics["model"],
        "features": run.metrics["features"], "dataset": run.metrics["dataset"], "kind": run.kind,
        "fold": exported.fold, "source_files": {name: run.manifest["model_files"][name] for name in source},
        "format": exported.format, "file": exported.path.name, "size_bytes": exported.size_bytes,
        "sha256": file_sha256(path) if path.is_file() else None, "route": exported.route, "routes_tried": tried,
        **details, "class_names": run.model_class_names(),
        "check": {"reference": "the run's own model file, loaded as saved", "fold": exported.fold,
                  "test_images": parity.images, "data_fingerprint": fingerprint, "tolerance": parity.tolerance,
                  "max_abs_diff": parity.max_abs_diff, "argmax_agree": parity.argmax_agree, "passed": parity.passed},
        "seconds": round(exported.seconds, 3), "notes": exported.notes,
        "versions": {name: _version(name) for name in kind_named(run.kind).export_versions(exported.format)},
    }


def _commit(tmp: Path, tmp_sidecar: Path, exported: Exported) -> Exported:
    """Move a checked export and its sidecar to their names (an older export of the same name is replaced)."""
    if tmp.is_dir() and exported.path.exists():  # a folder cannot replace a folder atomically: move the old aside
        old = temporary_name(exported.path, "old")
        os.replace(exported.path, old)
        remove_path(old)
    os.replace(tmp, exported.path)
    os.replace(tmp_sidecar, exported.sidecar)
    return exported


# ------------------------------------------------------------------------------------------------ CNNs

# ------------------------------------------------------------------------------------------------ SVMs

# ------------------------------------------------------------------------------------------------ helpers

def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


__all__ = ["Exported", "FORMATS", "export_run", "run_dataset"]
