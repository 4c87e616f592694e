"""``fer-bench predict``: a run's saved models on faces found in the user's own photos and videos.

inputs -> frames -> faces (dlib detector + 68 landmarks) -> aligned 48 x 48 crops (the run's dataset template) ->
the run's fold models (the fold ensemble by default; with ``also`` the mean over several runs' fold ensembles, e.g. a
CNN's seeds) -> one CSV row per face, plus a JSON sidecar that records the runs, the detector settings and which
inputs had no face or could not be read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw
from rich.console import Console

from .. import __version__
from ..console import printer, progress
from ..errors import FerBenchError, WorkFailedError, os_error_text
from ..files import temporary_name, writable, write_text_atomically
from ..kinds import load_fold_models
from ..verification import load_run
from ..saved_models import ensemble_scores, mean_scores
from ._faces import (ALIGN_POINTS, DEFAULT_MIN_SCORE, DEFAULT_UPSAMPLE, OVERSAMPLE, FaceFinder, aligned_crop,
                     whole_image_crop)
from ._inputs import UnreadableInput, collect_inputs, is_video, read_frames
from ._templates import template_for

#: CSV columns before the per-class scores
COLUMNS = ("input", "frame", "face", "left", "top", "right", "bottom", "detection_score", "predicted")


@dataclass
class PredictSettings:
    """How faces are found and scored; all recorded in the sidecar."""

    detect: bool = True
    upsample: int = DEFAULT_UPSAMPLE
    min_score: float = DEFAULT_MIN_SCORE
    every: int = 10
    fold: str | None = None

    def check(self) -> None:
        if not isinstance(self.every, int) or self.every < 1:
            raise FerBenchError(f"--every must be a positive number of frames, got {self.every!r}")
        if not isinstance(self.upsample, int) or not 0 <= self.upsample <= 4:
            raise FerBenchError(f"--upsample must be 0 to 4 (each step doubles the image), got {self.upsample!r}")
        if not np.isfinite(self.min_score):
            raise FerBenchError(f"--min-score must be a finite number, got {self.min_score!r}")


@dataclass
class PredictResult:
    rows: pd.DataFrame
    no_face: list[str] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)
    frames: int = 0
    sidecar: dict = field(default_factory=dict)


def predict(run_dir: Path, inputs: list[Path], *, out: Path, annotate: Path | None = None,
            settings: PredictSettings | None = None, console: Console | None = None,
            also: list[Path] = ()) -> PredictResult:
    """Predict every face of ``inputs`` with the run's models; write ``out`` (CSV) and ``out``.json atomically.

    ``also`` (``--with``) adds more runs of the same model, features, dataset and classes (typically the other
    seeds of an experiment, the report's seed ensemble): each face's scores are then the mean over the runs of
    each run's fold-ensemble scores, so every run weighs the same whatever its number of folds.

    Problems found before any work (a run folder that is not a complete run, a model file whose hash differs,
    a missing input, an unwritable output) raise :class:`FerBenchError` (exit 2); inputs that cannot be decoded
    and inputs without a face are listed, never fatal.
    """
    settings = settings or PredictSettings()
    settings.check()
    console = console or Console(stderr=True)
    say = printer(console)
    if also and settings.fold is not None:
        raise FerBenchError("--fold picks one model of one run; --with averages every fold model of several runs: "
                            "give one or the other")
    run = load_run(Path(run_dir))
    runs = [run, *(_ensemble_member(run, Path(path)) for path in also)]
    _check_distinct(runs)
    files = collect_inputs(inputs)
    out = Path(out)
    if out.is_dir():
        raise FerBenchError(f"--out {out}: a folder, expected the CSV file to write (e.g. {out / 'predictions.csv'})")
    _check_writable(out.parent, "--out")
    if annotate is not None:
        annotate = Path(annotate)
        if annotate.exists() and not annotate.is_dir():
            raise FerBenchError(f"--annotate {annotate}: a file, expected a folder for the annotated copies")
        try:
            annotate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FerBenchError(f"--annotate {annotate}: cannot create the folder ({os_error_text(exc)})") from None
        _check_writable(annotate, "--annotate")
    members = [load_fold_models(r, settings.fold) for r in runs]  # per run, its fold models
    class_names = list(members[0][0].class_names)
    template_name, template = template_for(run.dataset)
    finder = FaceFinder(upsample=settings.upsample, min_score=settings.min_score) if settings.detect else None
    say(f"{run.run_id}: {run.metrics['model']} ({run.metrics['features']}) on {run.dataset}; "
        f"{_ensemble_words(runs, members)}; "
        + (f"faces by dlib's HOG detector (upsample {settings.upsample}, score >= {settings.min_score}), aligned "
           f"to the {template_name} crop" if finder else "every image taken as an already-cropped face"))

    frames_seen, rows, no_face, unreadable = 0, [], [], []
    with progress(console) as bar:
        task = bar.add_task("predict (inputs)", total=len(files))
        for n, path in enumerate(files):
            try:
                found = []  # (frame, face number in the frame, face or None, crop)
                pictures = []
                for frame in read_frames(path, settings.every):
                    frames_seen += 1
                    pictures.append(frame)
                    if finder is None:
                        found.append((frame, 0, None, whole_image_crop(frame.pixels)))
                    else:  # numbered within the frame, best detection score first
                        found.extend((frame, k, face, aligned_crop(frame.pixels, face, template))
                                     for k, face in enumerate(finder.find(frame.pixels)))
            except UnreadableInput as exc:
                unreadable.append({"input": str(path), "reason": str(exc)})
                bar.advance(task)
                continue
            if not found:
                no_face.append(str(path))
            else:
                crops = np.stack([crop for *_, crop in found])
                scores = _scores(members, crops)
                predicted = np.where(np.isnan(scores), -np.inf, scores).argmax(axis=1)
                rows.extend(_row(path, frame, face, k, class_names, predicted[i], scores[i])
                            for i, (frame, k, face, _) in enumerate(found))
                if annotate is not None:
                    _annotate(annotate, n, path, pictures, found, [class_names[k] for k in predicted])
            bar.advance(task)
    table = pd.DataFrame(rows, columns=[*COLUMNS, *(f"score_{c}" for c in class_names)])
    sidecar = _sidecar(runs, members, settings, template_name, files, frames_seen, table, no_face, unreadable,
                       annotate)
    _write(out, table, sidecar)
    for path in no_face:
        say(f"no face: {path}")
    for item in unreadable:
        say(f"unreadable: {item['input']}: {item['reason']}")
    return PredictResult(table, no_face, unreadable, frames_seen, sidecar)


def _ensemble_member(first, path: Path):
    """The run at ``path`` (``--with``), once it is a complete run of what ``first`` is a run of."""
    try:
        other = load_run(path)
    except FerBenchError as exc:
        raise FerBenchError(f"--with: {exc}") from None
    mine, theirs = _what_it_predicts(first), _what_it_predicts(other)
    if mine != theirs:
        what = (f"classes {', '.join(other.model_class_names())}" if mine[:3] == theirs[:3] else
                f"{theirs[0]} ({theirs[1]}) on {theirs[2]}")
        raise FerBenchError(f"--with {path}: a run of {what}, not as {first.path.name}: only runs of one model, "
                            f"features, dataset and classes are averaged")
    return other


def _what_it_predicts(run) -> tuple:
    """A run's model, features, dataset and classes (runs averaged by ``--with`` must share them)."""
    return run.metrics["model"], run.metrics["features"], run.dataset, tuple(run.model_class_names())


def _check_distinct(runs) -> None:
    seen = {}
    for run in runs:
        if run.run_id in seen:
            raise FerBenchError(f"--with {run.path}: run {run.run_id} is given twice (also as {seen[run.run_id]}); "
                                f"an ensemble averages different runs")
        seen[run.run_id] = run.path


def _scores(members: list[list], crops: np.ndarray) -> np.ndarray:
    """Each run's fold-ensemble scores of ``crops`` (one fold: its model's), averaged over the runs."""
    return mean_scores([ensemble_scores(models, crops) for models in members])  # a mean of one is that one, exactly


def _ensemble_words(runs, members) -> str:
    models = members[0]
    own = f"fold {models[0].fold}" if len(models) == 1 else f"ensemble of {len(models)} fold models"
    if len(runs) == 1:
        return own
    return (f"{own}, averaged with {len(runs) - 1} more run{'s' if len(runs) > 2 else ''} "
            f"({', '.join(r.run_id for r in runs[1:])}): the mean of {len(runs)} runs' scores")


def _row(path, frame, face, index, class_names, predicted, scores) -> list:
    if face is None:  # --no-detect: the whole picture
        h, w = frame.pixels.shape[:2]
        box, score = (0, 0, w - 1, h - 1), None
    else:
        box, score = face.box, round(face.score, 4)
    return [str(path), "" if frame.index is None else frame.index, index, *box, score, class_names[predicted],
            *scores]


def _check_writable(folder: Path, option: str) -> None:
    if not folder.is_dir():
        raise FerBenchError(f"{option}: {folder} is not an existing folder")
    problem = writable(folder)
    if problem is not None:
        raise FerBenchError(f"{option}: cannot write into {folder} ({problem.strerror or problem})")


def _write(out: Path, table: pd.DataFrame, sidecar: dict) -> None:
    """The CSV and its sidecar, each through a temporary name (never half a file under the real name)."""
    write_text_atomically(out, table.to_csv(index=False))
    write_text_atomically(out.with_suffix(out.suffix + ".json"), json.dumps(sidecar, indent=2, default=str) + "\n")


def _sidecar(runs, members, settings, template_name, files, frames_seen, table, no_face, unreadable,
             annotate) -> dict:
    run, models = runs[0], members[0]
    if settings.detect:
        import dlib  # lazy: found faces, so it is installed; --no-detect needs none (a machine without dlib)
    return {
        "tool": "fer-bench", "tool_version": __version__,
        "written_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run.run_id, "run_dir": str(run.path.resolve()), "model": run.metrics["model"],
        "features": run.metrics["features"], "dataset": run.dataset,
        "dataset_fingerprint": run.manifest["dataset"]["fingerprint"],
        "folds": [m.fold for m in models], "combined": "mean of fold scores" if len(models) > 1 else "one fold",
        # --with: every run averaged (the first is run_id), each as the mean of its own fold models' scores
        "runs": [{"run_id": r.run_id, "run_dir": str(r.path.resolve()), "seed": r.config.get("seed"),
                  "dataset_fingerprint": r.manifest["dataset"]["fingerprint"], "folds": [m.fold for m in member],
                  "tta": getattr(member[0], "tta", None)} for r, member in zip(runs, members)],
        "runs_combined": "mean over the runs of each run's scores" if len(runs) > 1 else "one run",
        "scores": models[0].score_kind, "class_names": list(models[0].class_names),
        # a CNN's test-time augmentation, applied as the run applied it to its test images (None: an SVM)
        "tta": getattr(models[0], "tta", None),
        "faces": ({"detector": "dlib HOG frontal face detector", "dlib_version": dlib.__version__,
                   "upsample": settings.upsample, "min_score": settings.min_score,
                   "landmarks": "dlib 68-point shape predictor", "template": template_name,
                   "aligned_on_landmarks": [int(ALIGN_POINTS[0]), int(ALIGN_POINTS[-1])], "eyes_level": True,
                   "render_oversample": OVERSAMPLE}
                  if settings.detect else {"detector": None, "note": "--no-detect: each image is one face"}),
        "every_nth_video_frame": settings.every,
        "counts": {"inputs": len(files), "videos": sum(map(is_video, files)), "frames": frames_seen,
                   "faces": int(len(table)), "inputs_without_face": len(no_face), "unreadable": len(unreadable)},
        "inputs_without_face": no_face, "unreadable": unreadable,
        "annotated": str(annotate) if annotate is not None else None,
    }


def _annotate(folder: Path, n: int, path: Path, pictures: list, found: list, labels: list[str]) -> None:
    """Copies of the input (or of each sampled video frame) with each face's box and predicted class drawn."""
    for frame in pictures:
        faces = [(face, label) for (f, _, face, _), label in zip(found, labels) if f is frame]
        if not faces:
            continue
        image = Image.fromarray(frame.pixels).convert("RGB")
        draw = ImageDraw.Draw(image)
        width = max(2, image.width // 300)
        for face, label in faces:
            box = face.box if face is not None else (0, 0, image.width - 1, image.height - 1)
            draw.rectangle(box, outline=(255, 40, 40), width=width)
            draw.text((box[0] + width, max(0, box[1] - 12 - width)), label, fill=(255, 40, 40))
        suffix = "" if frame.index is None else f"_frame{frame.index:06d}"
        target = folder / f"{n:04d}_{path.stem}{suffix}.png"
        tmp = temporary_name(target)
        try:
            image.save(tmp, format="PNG")
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise WorkFailedError(f"--annotate: cannot write {target} ({exc.strerror or exc})") from None
