"""The one loaded-dataset type every source produces, and the helpers loaders share."""

from __future__ import annotations

import csv
import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from ._diagnostics import diagnose


def csv_rows(reader, name: str, expected: str):
    """The rows of a ``csv.reader``, with what the csv module refuses (a field over its 131,072-character limit,
    a stray quote at the end of the file) as a :class:`DataError` naming the file's row and what was expected."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataError(f"{name} row {reader.line_num}: not a CSV row ({exc}); expected {expected}") from None
        yield row

IMAGE_SIZE = 48
FER_CLASSES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
OFFICIAL_SPLITS = ("Training", "PublicTest", "PrivateTest")


@dataclass
class Dataset:
    """Images, labels and provenance of one dataset, whatever layout it came from.

    ``images`` is uint8 N x H x W grayscale; ``labels`` index into ``class_names``; ``sample_ids`` name each
    image (relative path or CSV row); ``subjects`` and ``splits`` are None where the source has none.
    ``skipped`` lists inputs left out, ``converted`` files that were not already 48 x 48 grayscale (path and
    original size and mode). ``split_is_official`` says whether ``splits`` is the source's own split (False when
    a loader had to make one up, None where there are no splits), so no reader has to parse ``notes``.
    ``dropped`` counts the images a source's labelling rule left out, ``{reason: {"all": n, split: n}}`` (FER+'s
    vote rules); empty where the source labels every image.
    """

    name: str
    layout: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    sample_ids: np.ndarray
    subjects: np.ndarray | None = None
    splits: np.ndarray | None = None
    root: str | None = None
    skipped: list[dict] = field(default_factory=list)
    converted: list[dict] = field(default_factory=list)
    split_is_official: bool | None = None
    notes: list[str] = field(default_factory=list)
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.images)
        if n == 0:
            raise DataError(f"{self.name}: no images were loaded from {self.root or 'the source'}")
        for attr in ("labels", "sample_ids", "subjects", "splits"):
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"Dataset.{attr} has {len(value)} entries for {n} images")
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise ValueError("Dataset.images must be uint8 N x H x W")
        if self.split_is_official is not None and self.splits is None:
            raise ValueError("Dataset.split_is_official needs splits")

    def __len__(self) -> int:
        return len(self.images)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over pixels, labels, class names and sample ids: identical data, identical hash."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.asarray(self.labels, dtype=np.int64).tobytes())
        h.update("\x1f".join(self.class_names).encode())
        h.update("\x1f".join(map(str, self.sample_ids)).encode())
        return h.hexdigest()

    @cached_property
    def diagnostics(self) -> dict:
        """What is odd about the data (duplicates, blank or converted images, an unlike split...) and warnings.

        See :func:`benchmark.datasets._diagnostics.diagnose`; computed once, in well under a second for FER2013.
        """
        return diagnose(self)

    def class_counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        labels = self.labels if mask is None else self.labels[mask]
        counts = np.bincount(labels, minlength=len(self.class_names))
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class, overall and per source split where the source has splits."""
        out = {"all": self.class_counts()}
        if self.splits is not None:
            for split in dict.fromkeys(self.splits):
                out[str(split)] = self.class_counts(self.splits == split)
        return out

    def summary(self) -> dict:
        """What a manifest records about the data."""
        return {
            "name": self.name,
            "layout": self.layout,
            "root": self.root,
            "n_images": len(self),
            "image_shape": list(self.images.shape[1:]),
            "class_names": list(self.class_names),
            "n_subjects": None if self.subjects is None else int(len(np.unique(self.subjects))),
            "fingerprint": self.fingerprint,
            "counts": self.counts(),
            "skipped": self.skipped,
            "split_is_official": self.split_is_official,
            "notes": self.notes,
            "dropped": self.dropped,
            "diagnostics": self.diagnostics,
        }


def open_image(path: Path):
    """``PIL.Image.open``, with an image over Pillow's decompression-bomb limit (about 89 megapixels, where
    Pillow would print its own raw warning or raise its error) refused as a ValueError in words: such a file is
    unreadable input, said and counted like any other."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise ValueError(f"over Pillow's decompression-bomb limit ({Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                             f"megapixels); downscale it") from None


def read_gray(path: Path, size: int = IMAGE_SIZE) -> tuple[np.ndarray, str | None]:
    """Read an image file as uint8 grayscale ``size`` x ``size``; raises OSError/ValueError if unreadable.

    Also returns the file's original size and mode (e.g. ``"64x64 RGB"``) when it had to be converted, None when
    it already was ``size`` x ``size`` grayscale, so that conversions are counted rather than hidden.
    """
    with open_image(path) as img:
        original = None if img.size == (size, size) and img.mode == "L" else f"{img.width}x{img.height} {img.mode}"
        img = img.convert("L")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8).copy(), original


class InputLog:
    """Collects inputs not used as they are: skipped (or fatal under ``strict``), or converted on reading."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.skipped: list[dict] = []
        self.converted: list[dict] = []

    def skip(self, path: Path | str, reason: str) -> None:
        if self.strict:
            raise DataError(f"{path}: {reason} (--strict stops at the first unusable input)")
        self.skipped.append({"path": str(path), "reason": reason})

    def convert(self, path: Path | str, original: str) -> None:
        self.converted.append({"path": str(path), "original": original})


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def load_images(paths: list[Path], root: Path, log: InputLog, size: int) -> tuple[list[np.ndarray], list[int]]:
    """Read each path; unreadable and converted files are logged. Returns the images and the indices that loaded."""
    images, kept = [], []
    for i, path in enumerate(paths):
        try:
            image, original = read_gray(path, size)
        except Exception as exc:  # PIL raises several types for corrupt files
            log.skip(path.relative_to(root), f"unreadable image ({type(exc).__name__})")
            continue
        if original is not None:
            log.convert(path.relative_to(root), original)
        images.append(image)
        kept.append(i)
    return images, kept
