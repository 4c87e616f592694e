"""Which datasets exist, where their files are by default, and which layout a folder holds."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DataError, did_you_mean, os_error_text
from ..options import is_int
from ._base import FER_CLASSES, Dataset
from ._ckplus import CK48_CLASSES, CK_CODES, has_ck48_folders, has_ck_original, load_ck48, load_ck_original
from ._fer2013 import find_csv, has_fer_folders, load_fer2013_csv, load_fer2013_folders
from ._ferplus import FERPLUS_CLASSES, LABEL_RULES, find_ferplus_csv, has_ferplus_folders, load_ferplus_csv, load_ferplus_folders
from ._synthetic import make_synthetic, make_synthetic_b

@dataclass(frozen=True)
class Layout:
    """One on-disk layout of a dataset: ``find(path)`` says where it starts under ``path`` (or None), ``load``
    reads it (keyword options: strict, seed, ck_frames, ck_neutral, ferplus_labels; each layout takes those it
    uses)."""

    name: str
    find: Callable[[Path], Path | None]
    load: Callable[..., Dataset]


@dataclass(frozen=True)
class DatasetEntry:
    """Everything fer-bench knows about one dataset: its names, where its files are looked for, its layouts,
    the honest protocol for it (by the name :mod:`benchmark.protocols` registers), the sizes its official
    release has, the classes a copy of it can hold (``class_names``, in label order; a loaded copy holds all of
    them or, for some options, a subset), the options only it uses (the others resolve them to None) with the values each accepts
    (``option_rules``: option -> (check, what is expected)), and the landmark template ``fer-bench predict`` crops
    photos to for its runs (``crop_template``, a name of ``benchmark.predict.TEMPLATES``).

    Adding a dataset is its loader module and its entry here; an option of its own is also a field of
    ``benchmark.options.RunConfig`` (commands and suites take it from there, ``fer-bench datasets`` from here)."""

    name: str
    title: str
    slug: str  # file-name form (report tables)
    description: str
    folders: tuple[str, ...]
    expected_layouts: str
    layouts: tuple[Layout, ...]
    protocol: str
    class_names: tuple[str, ...] = ()
    expected_splits: dict = field(default_factory=dict)
    expected_total: int | None = None
    own_options: tuple[str, ...] = ()
    embedded: Callable[[], Dataset] | None = None
    option_rules: dict = field(default_factory=dict)
    crop_template: str = "fer2013"

    def unused_options(self) -> tuple[str, ...]:
        """Options that cannot change a run on this dataset: the other datasets' own options, and the data folder
        of an embedded dataset."""
        others = tuple(o for entry in DATASETS.values() if entry is not self for o in entry.own_options
                       if o not in self.own_options)
        return others + (("data_dir",) if self.embedded is not None else ())


def _if(probe: Callable[[Path], bool]) -> Callable[[Path], Path | None]:
    return lambda path: path if probe(path) else None


_ENTRIES = (
    DatasetEntry(
        "fer2013", "FER2013", "fer2013",
        "FER2013 (Kaggle): 35,887 48x48 faces, 7 classes, official Training/PublicTest/PrivateTest",
        ("fer2013", "FER2013"), "fer2013.csv (emotion,pixels,Usage) or train/<class>/*.jpg + test/<class>/*.jpg",
        (Layout("fer2013-folders", _if(has_fer_folders),
                lambda where, *, strict, seed, **_: load_fer2013_folders(where, strict=strict, seed=seed)),
         Layout("fer2013-csv", find_csv, lambda where, *, strict, **_: load_fer2013_csv(where, strict=strict))),
        protocol="official-split", class_names=FER_CLASSES,
        expected_splits={"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}),
    DatasetEntry(
        "ferplus", "FER+", "ferplus",
        "FER+ (Microsoft): the FER2013 images relabelled by 10 annotators each, 8 classes, FER2013's official split",
        ("ferplus", "FERPlus", "FER+"), "FER2013Train/ + FER2013Valid/ + FER2013Test/ (fer#######.png and "
        "label.csv each), or fer2013.csv beside fer2013new.csv",
        (Layout("ferplus-folders", _if(has_ferplus_folders),
                lambda where, *, strict, ferplus_labels, **_: load_ferplus_folders(
                    where, strict=strict, labels=ferplus_labels)),
         Layout("ferplus-csv", find_ferplus_csv,
                lambda where, *, strict, ferplus_labels, **_: load_ferplus_csv(
                    where, strict=strict, labels=ferplus_labels))),
        protocol="official-split", class_names=FERPLUS_CLASSES, own_options=("ferplus_labels",),
        option_rules={"ferplus_labels": (lambda v: v in LABEL_RULES, " or ".join(LABEL_RULES))}),
    DatasetEntry(
        "ck+", "CK+", "ckplus",
        "CK+ (Cohn-Kanade extended): posed sequences of 118-123 subjects, subject-independent folds",
        ("ck+", "CK+", "ckplus", "CK+48"), "CK+48 folders <emotion>/S###_###_########.png, or cohn-kanade-images/ "
        "+ Emotion/ of the original release",
        (Layout("ck+-original", _if(has_ck_original),
                lambda where, *, strict, ck_frames, ck_neutral, **_: load_ck_original(
                    where, frames=ck_frames, neutral=ck_neutral, strict=strict)),
         Layout("ck+48-folders", _if(has_ck48_folders),
                lambda where, *, strict, **_: load_ck48(where, strict=strict))),
        protocol="subject-kfold", class_names=CK_CODES, expected_total=981, own_options=("ck_frames", "ck_neutral"),
        option_rules={"ck_frames": (lambda v: is_int(v) and v >= 1, "a positive integer")}, crop_template="ck+"),
    DatasetEntry(
        "synthetic", "synthetic", "synthetic",
        "embedded procedural faces (no files): for tests, the demo and quick checks", (), "none", (),
        protocol="subject-kfold", class_names=FER_CLASSES, embedded=make_synthetic),
    DatasetEntry(
        "synthetic-b", "synthetic B", "synthetic-b",
        "a second embedded procedural dataset (other seed, face geometry and contrast; CK+'s class names, contempt "
        "and no neutral): the target of cross-dataset tests", (), "none", (),
        protocol="subject-kfold", class_names=CK48_CLASSES, embedded=make_synthetic_b),
)
#: Every dataset by name, in the order commands list them.
DATASETS: dict[str, DatasetEntry] = {entry.name: entry for entry in _ENTRIES}


def dataset_entry(name: str) -> DatasetEntry:
    """The registered dataset ``name``; an unknown name is one error line listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; "
                        f"choose one of {', '.join(DATASETS)}") from None


def default_data_dir(name: str) -> Path:
    """``$FER_BENCH_DATA/<name>`` when set, else ``./data/<name>``; the first existing spelling wins."""
    entry = dataset_entry(name)
    root = Path(os.environ.get("FER_BENCH_DATA", "data")).expanduser()
    spellings = entry.folders or (name,)
    for folder in spellings:
        if (root / folder).exists():
            return root / folder
    return root / spellings[0]


def find_layout(name: str, path: Path) -> tuple[Layout | None, Path]:
    """The layout found at ``path`` (searching one folder level down) and where it starts; (None, path) for an
    embedded dataset."""
    entry = dataset_entry(name)
    if entry.embedded is not None:
        return None, path
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected {entry.expected_layouts} "
                        f"(check --data-dir, or set FER_BENCH_DATA)")
    found = _layouts_in(entry, path)
    if not found:
        other = next((e for e in DATASETS.values() if e is not entry and _layouts_in(e, path)), None)
        if other is not None:
            raise DataError(f"{path}: no {name} data found; this looks like {other.title} (use --dataset "
                            f"{other.name})")
    if not found and path.is_dir():  # one folder level down: several matches are refused, never picked silently
        found = [hit for sub in sorted(p for p in path.iterdir() if p.is_dir()) for hit in _layouts_in(entry, sub)[:1]]
        if len(found) > 1:
            raise DataError(f"{path}: {len(found)} copies of {name} found ({', '.join(str(w) for _, w in found)}); "
                            f"pass the one to use as --data-dir")
    if found:
        return found[0]
    raise DataError(f"{path}: no {name} data found; expected {entry.expected_layouts}")


def _layouts_in(entry: DatasetEntry, where: Path) -> list[tuple[Layout, Path]]:
    """The layouts of ``entry`` that start at ``where``, in the entry's order of preference."""
    return [(layout, start) for layout in entry.layouts if (start := layout.find(where)) is not None]


def detect_layout(name: str, path: Path) -> tuple[str, Path]:
    """The name of the layout found at ``path`` and where it starts (``"synthetic"`` for the embedded one)."""
    layout, where = find_layout(name, path)
    return (layout.name if layout else name), where


def load_dataset(name: str, data_dir: str | Path | None = None, *, strict: bool = False, seed: int = 0,
                 ck_frames: int = 3, ck_neutral: bool = False, ferplus_labels: str = "majority") -> Dataset:
    """Load dataset ``name`` from ``data_dir`` (default: :func:`default_data_dir`), whatever its layout."""
    entry = dataset_entry(name)
    if entry.embedded is not None:
        return entry.embedded()
    path = Path(data_dir).expanduser() if data_dir else default_data_dir(name)
    try:
        layout, where = find_layout(name, path)
        return layout.load(where, strict=strict, seed=seed, ck_frames=ck_frames, ck_neutral=ck_neutral,
                           ferplus_labels=ferplus_labels)
    except UnicodeDecodeError as exc:  # a text file (CSV, label file) with bytes that are not UTF-8
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start} of a line); expected "
                        f"{entry.expected_layouts}") from None
    except OSError as exc:  # permission denied, a folder that vanished, an I/O error while reading
        raise DataError(f"{path}: cannot read the data ({os_error_text(exc)})") from None
