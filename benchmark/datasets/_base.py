"""The one loaded-dataset type every source produces, and the helpers loaders share."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SIZE = 48
FER_CLASSES = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
OFFICIAL_SPLITS = ("Training", "PublicTest", "PrivateTest")


@dataclass
class Dataset:
    """Images, labels and provenance of one dataset, whatever layout it came from.

    ``images`` is uint8 N x H x W grayscale; ``labels`` index into ``class_names``; ``sample_ids`` name each
    image (relative path or CSV row); ``subjects`` and ``splits`` are None where the source has none.
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
    notes: list[str] = field(default_factory=list)

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
            "notes": self.notes,
        }


def read_gray(path: Path, size: int = IMAGE_SIZE) -> np.ndarray:
    """Read an image file as uint8 grayscale ``size`` x ``size``; raises OSError/ValueError if unreadable."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("L")
        if img.size != (size, size):
            img = img.resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8).copy()


class SkipLog:
    """Collects inputs that could not be used: skipped and counted, or fatal under ``strict``."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.items: list[dict] = []

    def skip(self, path: Path | str, reason: str) -> None:
        if self.strict:
            raise DataError(f"{path}: {reason} (--strict stops at the first unusable input)")
        self.items.append({"path": str(path), "reason": reason})


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def load_images(paths: list[Path], root: Path, log: SkipLog, size: int) -> tuple[list[np.ndarray], list[int]]:
    """Read each path; unreadable files are logged. Returns the images and the indices that loaded."""
    images, kept = [], []
    for i, path in enumerate(paths):
        try:
            images.append(read_gray(path, size))
        except Exception as exc:  # PIL raises several types for corrupt files
            log.skip(path.relative_to(root), f"unreadable image ({type(exc).__name__})")
            continue
        kept.append(i)
    return images, kept
