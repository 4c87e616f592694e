"""What ``fer-bench predict`` reads: image files, folders of them, and video files (every Nth frame)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import ImageOps

from ..datasets import IMAGE_SUFFIXES, open_image
from ..errors import FerBenchError, exception_text

#: Video containers decoded with OpenCV's bundled FFmpeg (opencv-python-headless).
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


class UnreadableInput(Exception):
    """An input that exists but cannot be decoded (listed in the output, never fatal)."""


@dataclass(frozen=True)
class Frame:
    """One picture to look for faces in: an image (``index`` None) or a video frame (its index from 0)."""

    index: int | None
    pixels: np.ndarray  # uint8 H x W (gray) or H x W x 3 (RGB)


def collect_inputs(paths: list[Path]) -> list[Path]:
    """The files to read, in the order given; a folder contributes its images and videos (recursively, sorted).
    A path that does not exist, or a folder without any, is a :class:`FerBenchError` naming it."""
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
            if not found:
                raise FerBenchError(f"{path}: no images or videos in this folder (looked for "
                                    f"{', '.join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FerBenchError(f"{path}: no such file or folder (expected an image, a video or a folder of them)")
    return files


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def read_frames(path: Path, every: int) -> Iterator[Frame]:
    """The image at ``path``, or every ``every``-th frame of a video (frames 0, every, 2 * every, ...).
    Raises :class:`UnreadableInput` when it cannot be decoded."""
    if is_video(path):
        yield from _video_frames(path, every)
    else:
        yield Frame(None, read_image(path))


def read_image(path: Path) -> np.ndarray:
    """Any image PIL reads, upright (EXIF orientation applied, as phone photos need), as uint8 gray or RGB."""
    try:
        with open_image(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("L", "I;16", "I", "F", "1"):
                return np.asarray(img.convert("L"), dtype=np.uint8).copy()
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except Exception as exc:  # PIL raises several types for corrupt or unsupported files
        raise UnreadableInput(f"not a readable image ({exception_text(exc)})") from None


def _video_frames(path: Path, every: int) -> Iterator[Frame]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UnreadableInput("not a video OpenCV can decode")
        index, decoded = 0, 0
        while True:
            if index % every == 0:
                ok, frame = capture.read()
                if ok:
                    decoded += 1
                    yield Frame(index, np.ascontiguousarray(frame[..., ::-1]))  # BGR -> RGB
            else:
                ok = capture.grab()  # skipped frames are not decoded into pixels
            if not ok:
                break
            index += 1
        if decoded == 0:
            raise UnreadableInput("a video without a decodable frame")
    finally:
        capture.release()
