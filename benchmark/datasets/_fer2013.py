"""FER2013 in its two public layouts: the challenge CSV and Kaggle's train/test image folders."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

from ..errors import DataError
from ._base import (FER_CLASSES, IMAGE_SIZE, OFFICIAL_SPLITS, Dataset, InputLog, csv_rows, is_image_file,
                    load_images)

CSV_HEADER = ["emotion", "pixels", "Usage"]
FOLDER_CLASSES = {name.lower(): i for i, name in enumerate(FER_CLASSES)}
_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_")


def find_csv(path: Path) -> Path | None:
    """The FER2013 CSV at ``path``: the file itself, or the one file in the folder with the right header.

    A folder holding several such files is refused (naming them) rather than one being picked silently.
    """
    candidates = [path] if path.is_file() else sorted(path.glob("*.csv"))
    found = []
    for candidate in candidates:
        try:
            with open(candidate, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):  # not a readable CSV: not this dataset's file
            continue
        names = [h.strip() for h in header][:3]
        if names == CSV_HEADER:
            found.append(candidate)
        elif len(names) == 3 and sum(a == b for a, b in zip(names, CSV_HEADER)) == 2:
            bad = next(k for k, (a, b) in enumerate(zip(names, CSV_HEADER)) if a != b)
            raise DataError(f"{candidate}: header column {bad + 1} is {names[bad]!r}, expected {CSV_HEADER[bad]!r} "
                            f"(FER2013's header is {','.join(CSV_HEADER)}); rename it back")
    if len(found) > 1:
        raise DataError(f"{path}: {len(found)} FER2013 CSV files ({', '.join(p.name for p in found)}); pass the one "
                        f"to use as --data-dir")
    return found[0] if found else None


def _lines(path: Path):
    """The CSV's text lines, decoded one by one (a UTF-8 byte-order mark is dropped), so a line that is not
    UTF-8 is named by its number."""
    with open(path, "rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                yield raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path.name} row {line_no}: not UTF-8 text; expected emotion,pixels,Usage") from None


def load_fer2013_csv(path: Path, *, strict: bool = False) -> Dataset:
    """Load the challenge CSV (header ``emotion,pixels,Usage``); malformed rows are fatal, named by line."""
    n_pixels = IMAGE_SIZE * IMAGE_SIZE
    images, labels, ids, splits = [], [], [], []
    rows = csv_rows(csv.reader(_lines(path)), path.name, "emotion,pixels,Usage")
    header = [h.strip() for h in next(rows, [])]
    if header[:3] != CSV_HEADER:
        raise DataError(f"{path}: header is {','.join(header)!r}, expected 'emotion,pixels,Usage'")
    for line_no, row in enumerate(rows, start=2):
        if not row:
            continue
        where = f"{path.name} row {line_no}"
        if len(row) < 3:
            raise DataError(f"{where}: expected 3 columns emotion,pixels,Usage, got {len(row)}")
        emotion, pixels, usage = row[0].strip(), row[1], row[2].strip()
        if emotion not in {str(i) for i in range(len(FER_CLASSES))}:
            raise DataError(f"{where}: emotion {emotion!r} is not an integer 0-6")
        if usage not in OFFICIAL_SPLITS:
            raise DataError(f"{where}: Usage {usage!r} is not one of {', '.join(OFFICIAL_SPLITS)}")
        values = pixels.split()
        if len(values) != n_pixels:
            raise DataError(f"{where}: expected {n_pixels} pixel values (48x48), got {len(values)}")
        try:
            arr = np.array(values, dtype=np.int32)
        except ValueError:
            raise DataError(f"{where}: pixel values must be integers 0-255") from None
        if arr.min() < 0 or arr.max() > 255:
            raise DataError(f"{where}: pixel values must be integers 0-255, found {arr.min()}..{arr.max()}")
        images.append(arr.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
        labels.append(int(emotion))
        ids.append(f"{path.name}:{line_no}")
        splits.append(usage)
    if not images:
        raise DataError(f"{path}: no data rows after the header")
    return Dataset(
        name="fer2013", layout="fer2013-csv", images=np.stack(images), labels=np.array(labels),
        class_names=FER_CLASSES, sample_ids=np.array(ids), splits=np.array(splits), split_is_official=True,
        root=str(path),
    )


def has_fer_folders(path: Path) -> bool:
    return (path / "train").is_dir() and (path / "test").is_dir()


def load_fer2013_folders(root: Path, *, strict: bool = False, seed: int = 0) -> Dataset:
    """Load ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, keeping the official split from file names.

    Test files without a ``PublicTest_``/``PrivateTest_`` prefix are split into validation and test halves,
    stratified and seeded; the dataset is then marked ``split_is_official=False`` and notes why.
    """
    log = InputLog(strict)
    paths, labels, part = [], [], []
    for folder in ("train", "test"):
        subdirs = sorted(p for p in (root / folder).iterdir() if p.is_dir())
        unknown = [p.name for p in subdirs if p.name.lower() not in FOLDER_CLASSES]
        if unknown:
            raise DataError(f"{root / folder}: unknown class folder {unknown[0]!r}, "
                            f"expected {', '.join(FOLDER_CLASSES)}")
        for name in FOLDER_CLASSES:
            matches = [p for p in subdirs if p.name.lower() == name]
            files = sorted(f for f in matches[0].iterdir() if is_image_file(f)) if matches else []
            if not files:
                raise DataError(f"{root / folder / name}: class folder missing or empty, expected *.jpg images")
            paths += files
            labels += [FOLDER_CLASSES[name]] * len(files)
            part += [folder] * len(files)
    images, kept = load_images(paths, root, log, IMAGE_SIZE)
    if not images:
        raise DataError(f"{root}: none of the {len(paths)} image files could be read")
    paths = [paths[i] for i in kept]
    labels = np.array([labels[i] for i in kept])
    part = [part[i] for i in kept]

    splits = np.empty(len(paths), dtype=object)
    for i, (p, folder) in enumerate(zip(paths, part)):
        m = _PREFIX.match(p.name)
        if m:
            splits[i] = m.group(1)
        elif folder == "train":
            splits[i] = "Training"
    notes = []
    missing = np.flatnonzero(splits == None)  # noqa: E711 (object array comparison)
    if len(missing):
        splits[missing] = _stratified_halves(labels[missing], seed)
        notes.append(f"{len(missing)} test/ images carry no PublicTest_/PrivateTest_ prefix: they were split "
                     f"into PublicTest/PrivateTest halves (stratified, seed {seed}); this is NOT the official split")
    return Dataset(
        name="fer2013", layout="fer2013-folders", images=np.stack(images), labels=labels,
        class_names=FER_CLASSES, sample_ids=np.array([str(p.relative_to(root)) for p in paths]),
        splits=splits.astype(str), split_is_official=len(missing) == 0, root=str(root), skipped=log.skipped,
        converted=log.converted, notes=notes,
    )


def _stratified_halves(labels: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=object)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        half = (len(idx) + 1) // 2
        out[idx[:half]] = "PublicTest"
        out[idx[half:]] = "PrivateTest"
    return out
