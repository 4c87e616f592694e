"""Which datasets exist, where their files are by default, and which layout a folder holds."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError, os_error_text
from ._base import Dataset
from ._ckplus import has_ck48_folders, has_ck_original, load_ck48, load_ck_original
from ._fer2013 import find_csv, has_fer_folders, load_fer2013_csv, load_fer2013_folders
from ._synthetic import make_synthetic

#: name -> (one-line description, folder names tried under the data root, expected layouts)
DATASETS = {
    "fer2013": ("FER2013 (Kaggle): 35,887 48x48 faces, 7 classes, official Training/PublicTest/PrivateTest",
                ("fer2013", "FER2013"), "fer2013.csv (emotion,pixels,Usage) or train/<class>/*.jpg + test/<class>/*.jpg"),
    "ck+": ("CK+ (Cohn-Kanade extended): posed sequences of 118-123 subjects, subject-independent folds",
            ("ck+", "CK+", "ckplus", "CK+48"), "CK+48 folders <emotion>/S###_###_########.png, or "
            "cohn-kanade-images/ + Emotion/ of the original release"),
    "synthetic": ("embedded procedural faces (no files): for tests, the demo and quick checks", (), "none"),
}

EXPECTED_SPLIT_SIZES = {"fer2013": {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}}
EXPECTED_TOTALS = {"ck+": 981}


def check_name(name: str) -> str:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return name


def default_data_dir(name: str) -> Path:
    """``$FER_BENCH_DATA/<name>`` when set, else ``./data/<name>``; the first existing spelling wins."""
    check_name(name)
    root = Path(os.environ.get("FER_BENCH_DATA", "data")).expanduser()
    spellings = DATASETS[name][1] or (name,)
    for folder in spellings:
        if (root / folder).exists():
            return root / folder
    return root / spellings[0]


def detect_layout(name: str, path: Path) -> tuple[str, Path]:
    """The layout found at ``path`` (searching one folder level down) and where it starts."""
    check_name(name)
    if name == "synthetic":
        return "synthetic", path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected {DATASETS[name][2]} "
                        f"(check --data-dir, or set FER_BENCH_DATA)")
    candidates = [path] + (sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else [])
    for where in candidates:
        if name == "fer2013":
            if has_fer_folders(where):
                return "fer2013-folders", where
            csv_path = find_csv(where)
            if csv_path is not None:
                return "fer2013-csv", csv_path
        elif has_ck_original(where):
            return "ck+-original", where
        elif has_ck48_folders(where):
            return "ck+48-folders", where
    raise DataError(f"{path}: no {name} data found; expected {DATASETS[name][2]}")


def load_dataset(name: str, data_dir: str | Path | None = None, *, strict: bool = False, seed: int = 0,
                 ck_frames: int = 3, ck_neutral: bool = False) -> Dataset:
    """Load dataset ``name`` from ``data_dir`` (default: :func:`default_data_dir`), whatever its layout."""
    check_name(name)
    if name == "synthetic":
        return make_synthetic()
    path = Path(data_dir).expanduser() if data_dir else default_data_dir(name)
    try:
        layout, where = detect_layout(name, path)
        if layout == "fer2013-csv":
            return load_fer2013_csv(where, strict=strict)
        if layout == "fer2013-folders":
            return load_fer2013_folders(where, strict=strict, seed=seed)
        if layout == "ck+-original":
            return load_ck_original(where, frames=ck_frames, neutral=ck_neutral, strict=strict)
        return load_ck48(where, strict=strict)
    except UnicodeDecodeError as exc:  # a text file (CSV, label file) with bytes that are not UTF-8
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start} of a line); expected {DATASETS[name][2]}") from None
    except OSError as exc:  # permission denied, a folder that vanished, an I/O error while reading
        raise DataError(f"{path}: cannot read the data ({os_error_text(exc)})") from None
