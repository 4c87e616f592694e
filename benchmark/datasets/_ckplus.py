"""CK+ in its two public layouts: the "CK+48" face-crop folders and the original release with label files."""

from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ._base import IMAGE_SIZE, Dataset, InputLog, is_image_file, load_images, open_image

CK48_CLASSES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
#: Label codes of the original release's Emotion/*_emotion.txt files, 0-7.
CK_CODES = ("neutral",) + CK48_CLASSES
_CK48_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$", re.IGNORECASE)


def _class_folders(path: Path) -> dict[str, Path]:
    """Sub-folders of ``path`` by lower-cased name, so ``Anger/`` and ``anger/`` both count."""
    return {p.name.lower(): p for p in path.iterdir() if p.is_dir()} if path.is_dir() else {}


def has_ck48_folders(path: Path) -> bool:
    return any(c in _class_folders(path) for c in CK48_CLASSES)


def has_ck_original(path: Path) -> bool:
    return (path / "cohn-kanade-images").is_dir() and (path / "Emotion").is_dir()


def load_ck48(root: Path, *, strict: bool = False) -> Dataset:
    """Load ``<emotion>/S###_###_########.png``; the subject is the ``S###`` prefix."""
    log = InputLog(strict)
    folders = _class_folders(root)
    unknown = [p.name for key, p in folders.items() if key not in CK48_CLASSES]
    if unknown:
        fer_like = {"angry", "sad", "neutral", "train", "test"} & {u.lower() for u in unknown}
        hint = "; this looks like FER2013 (use --dataset fer2013)" if fer_like else ""
        raise DataError(f"{root}: unknown class folder {sorted(unknown)[0]!r}, expected "
                        f"{', '.join(CK48_CLASSES)}{hint}")
    paths, labels, subjects = [], [], []
    for label, name in enumerate(CK48_CLASSES):
        folder = folders.get(name, root / name)
        files = sorted(f for f in folder.iterdir() if is_image_file(f)) if folder.is_dir() else []
        if not files:
            raise DataError(f"{folder}: class folder missing or empty, expected S###_###_########.png images")
        for f in files:
            m = _CK48_NAME.match(f.name)
            if not m:
                raise DataError(f"{f}: file name does not match S###_###_########.png, so its subject is unknown")
            paths.append(f)
            labels.append(label)
            subjects.append(m.group(1).upper())
    images, kept = load_images(paths, root, log, IMAGE_SIZE)
    if not images:
        raise DataError(f"{root}: none of the {len(paths)} image files could be read")
    return Dataset(
        name="ck+", layout="ck+48-folders", images=np.stack(images),
        labels=np.array([labels[i] for i in kept]), class_names=CK48_CLASSES,
        sample_ids=np.array([str(paths[i].relative_to(root)) for i in kept]),
        subjects=np.array([subjects[i] for i in kept]), root=str(root), skipped=log.skipped,
        converted=log.converted,
    )


def load_ck_original(root: Path, *, frames: int = 3, neutral: bool = False, strict: bool = False,
                     margin: float = 0.15) -> Dataset:
    """Load the original release: last ``frames`` frames of each labelled sequence, face-cropped to 48 x 48.

    With ``neutral`` the first frame of each labelled sequence is added as class ``neutral``. Faces are found
    with dlib's frontal detector; frames without a face are skipped and counted.
    """
    if frames < 1:
        raise DataError(f"--ck-frames must be at least 1, got {frames}")
    log = InputLog(strict)
    class_names = CK_CODES if neutral else CK48_CLASSES
    label_files = sorted((root / "Emotion").glob("S*/*/*_emotion.txt"))
    if not label_files:
        raise DataError(f"{root / 'Emotion'}: no S###/###/*_emotion.txt label files found")
    chosen: list[tuple[Path, int, str]] = []
    for lf in label_files:
        subject, sequence = lf.parent.parent.name, lf.parent.name
        try:
            code = float(lf.read_text().split()[0])
        except (IndexError, ValueError):
            raise DataError(f"{lf}: expected one number 0-7, got {lf.read_text()[:40]!r}") from None
        if not math.isfinite(code) or code != int(code) or not 1 <= code <= 7:
            raise DataError(f"{lf}: emotion code {code} is not an integer 1-7 (0 neutral is never a peak label)")
        seq_dir = root / "cohn-kanade-images" / subject / sequence
        seq_frames = sorted(f for f in seq_dir.glob("*") if is_image_file(f)) if seq_dir.is_dir() else []
        if not seq_frames:
            raise DataError(f"{seq_dir}: labelled by {lf.name} but holds no frames")
        label = int(code) if neutral else int(code) - 1
        # With --ck-neutral the first frame is the neutral one, so it is never also taken as a peak frame.
        peaks = seq_frames[1:] if neutral else seq_frames
        chosen += [(f, label, subject) for f in peaks[-frames:]]
        if neutral:
            chosen.append((seq_frames[0], 0, subject))
    images, labels, ids, subjects = [], [], [], []
    for path, label, subject in chosen:
        rel = path.relative_to(root)
        try:
            face = _crop_face(path, margin)
        except Exception as exc:
            log.skip(rel, f"unreadable image ({type(exc).__name__})")
            continue
        if face is None:
            log.skip(rel, "no face found by dlib's frontal detector")
            continue
        images.append(face)
        labels.append(label)
        ids.append(str(rel))
        subjects.append(subject.upper())
    if not images:
        raise DataError(f"{root}: no face could be extracted from the {len(chosen)} selected frames")
    return Dataset(
        name="ck+", layout="ck+-original", images=np.stack(images), labels=np.array(labels),
        class_names=class_names, sample_ids=np.array(ids), subjects=np.array(subjects), root=str(root),
        skipped=log.skipped, notes=[f"last {frames} frame(s) of each labelled sequence"
                                  + ("; first frame as neutral" if neutral else "")],
    )


@lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


def _crop_face(path: Path, margin: float) -> np.ndarray | None:
    """The largest detected face, squared with ``margin`` on each side, as uint8 48 x 48; None if no face."""
    with open_image(path) as img:
        gray = np.asarray(img.convert("L"), dtype=np.uint8)
    faces = _detector()(gray, 0)
    if len(faces) == 0:
        faces = _detector()(gray, 1)
    if len(faces) == 0:
        return None
    box = max(faces, key=lambda r: r.width() * r.height())
    cx, cy = (box.left() + box.right()) / 2, (box.top() + box.bottom()) / 2
    half = max(box.width(), box.height()) * (0.5 + margin)
    x0, y0, x1, y1 = (int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
    pad = max(0, -x0, -y0, x1 - gray.shape[1], y1 - gray.shape[0])
    if pad:
        gray = np.pad(gray, pad, mode="edge")
        x0, y0, x1, y1 = x0 + pad, y0 + pad, x1 + pad, y1 + pad
    crop = Image.fromarray(gray[y0:y1, x0:x1]).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return np.asarray(crop, dtype=np.uint8).copy()
