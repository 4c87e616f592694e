"""FER+ (Microsoft's relabelling of the FER2013 images, ten annotators' votes per image) in its two layouts.

- ``ferplus-folders``: what FERPlus's ``generate_training_data.py`` writes: ``FER2013Train/``, ``FER2013Valid/``
  and ``FER2013Test/``, each with ``fer#######.png`` images and a header-less ``label.csv`` (image name, face
  box, ten vote counts).
- ``ferplus-csv``: the original ``fer2013.csv`` (read by the FER2013 loader) beside Microsoft's
  ``fer2013new.csv``, which has one row per original row, in the same order, with the votes.

Votes become one label by FERPlus's own rule (``src/ferplus.py``, mode ``majority``): every column with a single
vote (all ten columns, unknown and NF included) is set to zero as an outlier, then an image is kept only if one
column holds more than half of the remaining votes and that column is an emotion, not unknown or NF.
``plurality`` keeps more images: the most voted column after the same outlier removal, ties to the earlier
column, dropped when that column is unknown or NF. Images keep FER+'s name as their id in both layouts
(``fer0000123``), and FER2013's split names, so FER2013's official-split protocol applies unchanged. FER+'s names are
not the row number of the original CSV: in Microsoft's ``fer2013new.csv`` data row 18 is ``fer0000018.png`` yet
data row 60 is ``fer0000059.png``, and four names are given to two rows each (``fer0006953.png`` to data rows 5274
and 6968, all four pairs within one split). So the two files are matched by position, as FERPlus's own script
does; where a name is used twice, that script's image file holds the later row's image, so the earlier row is
dropped (``name_reused``) and both layouts hold the same images. How many images each rule dropped, per reason and split, is recorded.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import DataError, not_one_of
from ._base import IMAGE_SIZE, OFFICIAL_SPLITS, Dataset, InputLog, csv_rows, is_image_file, load_images
from ._fer2013 import find_csv, load_fer2013_csv

#: The eight FER+ emotions, in FER+'s column order (label index = position).
FERPLUS_CLASSES = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
#: The ten vote columns of both label files, in their order.
VOTE_COLUMNS = (*FERPLUS_CLASSES, "unknown", "NF")
#: ``--ferplus-labels``: how votes become one label.
LABEL_RULES = ("majority", "plurality")
#: FER2013's split name -> the folder FERPlus's generation script writes it to.
SPLIT_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
NEW_CSV_HEADER = ["Usage", "Image name", *VOTE_COLUMNS]
#: Why an image has no label, as ``Dataset.dropped`` keys them, with the words a note uses.
DROP_REASONS = {
    "no_label": "no FER+ label (no label row, or an empty image name)",
    "name_reused": "image name used again by a later row (FERPlus's script keeps the later image under it)",
    "all_votes_removed": "no vote left after outlier removal",
    "no_majority": "no majority",
    "unknown": "most votes for unknown",
    "NF": "most votes for not a face (NF)",
}
_IMAGE_NUMBER = re.compile(r"^fer(\d+)\.png$")


def vote_label(votes: Sequence[int], rule: str = "majority") -> int | str:
    """The class index (into :data:`FERPLUS_CLASSES`) that ``votes`` (ten counts, :data:`VOTE_COLUMNS` order)
    give under ``rule``, or the :data:`DROP_REASONS` key saying why the image has none."""
    _check_rule(rule)
    kept = [0 if v <= 1 else v for v in votes]  # FERPlus: "remove emotions with a single vote (outlier removal)"
    total = sum(kept)
    if total == 0:
        return "all_votes_removed"
    top = max(range(len(kept)), key=kept.__getitem__)  # the first maximum: ties go to the earlier column
    if rule == "majority" and 2 * kept[top] <= total:  # FERPlus: maxval > 0.5 * sum
        return "no_majority"
    return VOTE_COLUMNS[top] if top >= len(FERPLUS_CLASSES) else top


def _check_rule(rule: str) -> None:
    if rule not in LABEL_RULES:
        raise DataError(not_one_of("--ferplus-labels", rule, LABEL_RULES))


class _Labels:
    """Labels images by one rule and counts the images each reason dropped, per split."""

    def __init__(self, rule: str) -> None:
        _check_rule(rule)
        self.rule = rule
        self.drops: dict[str, Counter] = {reason: Counter() for reason in DROP_REASONS}

    def label(self, votes: list[int], split: str) -> int | None:
        """The image's class index, or None when dropped (counted under its reason and split)."""
        label = vote_label(votes, self.rule)
        if isinstance(label, str):
            self.drop(label, split)
            return None
        return label

    def drop(self, reason: str, split: str, n: int = 1) -> None:
        self.drops[reason][split] += n

    def dropped(self) -> dict[str, dict[str, int]]:
        """``{reason: {"all": n, split: n, ...}}`` for every reason, zeros included, so manifests compare."""
        return {reason: {"all": sum(per.values()), **{s: per[s] for s in OFFICIAL_SPLITS}}
                for reason, per in self.drops.items()}

    def note(self) -> str:
        total = sum(sum(per.values()) for per in self.drops.values())
        how = ("majority vote (FERPlus's rule: single votes removed as outliers, then more than half of the rest)"
               if self.rule == "majority" else "plurality (the most voted emotion after FERPlus's outlier removal)")
        reasons = ", ".join(f"{sum(per.values()):,} {DROP_REASONS[r]}" for r, per in self.drops.items()
                            if sum(per.values()))
        return f"FER+ labels by {how}; {total:,} images dropped" + (f": {reasons}" if reasons else "")


def _votes(cells: Sequence[str], where: str) -> list[int]:
    """The ten vote counts of a label row; anything but a non-negative integer is fatal, naming the row."""
    votes = []
    for column, cell in zip(VOTE_COLUMNS, cells):
        cell = cell.strip()
        if not (cell.isascii() and cell.isdigit()):
            raise DataError(f"{where}: {column} vote count {cell!r} is not a non-negative integer")
        votes.append(int(cell))
    return votes


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-empty CSV row (a UTF-8 byte-order mark is dropped)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        for row in csv_rows(reader, path.name, "one image's name and votes per row"):
            if any(cell.strip() for cell in row):
                yield reader.line_num, row


def _dataset(layout: str, root: Path, images, labels, ids, splits, labeller: _Labels, log: InputLog) -> Dataset:
    if len(images) == 0:
        raise DataError(f"{root}: no image kept a FER+ label ({labeller.note()})")
    return Dataset(
        name="ferplus", layout=layout, images=np.stack(images), labels=np.array(labels), class_names=FERPLUS_CLASSES,
        sample_ids=np.array(ids), splits=np.array(splits), split_is_official=True, root=str(root),
        skipped=log.skipped, converted=log.converted, notes=[labeller.note()], dropped=labeller.dropped(),
    )


# ------------------------------------------------------------------------------------- FERPlus's image folders

def has_ferplus_folders(path: Path) -> bool:
    return all((path / folder).is_dir() for folder in SPLIT_FOLDERS.values())


def load_ferplus_folders(root: Path, *, strict: bool = False, labels: str = "majority") -> Dataset:
    """Load ``FER2013Train/``, ``FER2013Valid/`` and ``FER2013Test/`` with their ``label.csv`` files.

    A row naming a missing image, a bad vote count or a wrong column count is fatal (naming the file and row);
    an unreadable image is skipped and logged (fatal under ``strict``), as in the FER2013 loaders. Images that
    no label row names are counted as dropped (``no_label``); a row whose name a later row lists again is dropped
    (``name_reused``: FERPlus's script wrote the later row's image under that name).
    """
    labeller, log = _Labels(labels), InputLog(strict)
    paths, kept_labels, ids, splits = [], [], [], []
    for split, folder_name in SPLIT_FOLDERS.items():
        folder = root / folder_name
        label_file = folder / "label.csv"
        if not label_file.is_file():
            raise DataError(f"{label_file}: missing; FERPlus's generate_training_data.py writes a label.csv "
                            f"beside each folder's images")
        rows = list(_rows(label_file))
        last = {row[0].strip(): k for k, (_, row) in enumerate(rows)}  # a name listed twice: its image is the later
        named = set()
        for k, (line_no, row) in enumerate(rows):
            where = f"{folder_name}/label.csv row {line_no}"
            if len(row) not in (11, 12):
                raise DataError(f"{where}: expected 12 columns (image name, face box, the 10 vote counts "
                                f"{','.join(VOTE_COLUMNS)}), got {len(row)}")
            name = row[0].strip()
            if not name:
                raise DataError(f"{where}: image name is empty")
            named.add(name)
            votes = _votes(row[-len(VOTE_COLUMNS):], where)
            if last[name] != k:  # as in fer2013new.csv (see load_ferplus_csv): the later row's image is the file
                labeller.drop("name_reused", split)
                continue
            if not (folder / name).is_file():
                raise DataError(f"{where}: names {name}, which is not in {folder} (FERPlus's "
                                f"generate_training_data.py writes the images)")
            label = labeller.label(votes, split)
            if label is not None:
                paths.append(folder / name)
                kept_labels.append(label)
                ids.append(Path(name).stem)
                splits.append(split)
        unnamed = sum(1 for f in folder.iterdir() if is_image_file(f) and f.name not in named)
        labeller.drop("no_label", split, unnamed)
    images, kept = load_images(paths, root, log, IMAGE_SIZE)
    if paths and not images:
        raise DataError(f"{root}: none of the {len(paths)} labelled image files could be read")
    return _dataset("ferplus-folders", root, images, [kept_labels[i] for i in kept], [ids[i] for i in kept],
                    [splits[i] for i in kept], labeller, log)


# --------------------------------------------------------------------------- fer2013.csv beside fer2013new.csv

def _new_csvs(folder: Path) -> list[Path]:
    """The CSV files in ``folder`` whose header is fer2013new.csv's."""
    found = []
    for candidate in sorted(folder.glob("*.csv")):
        try:
            with open(candidate, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):  # not a readable CSV: not this dataset's file
            continue
        if [h.strip() for h in header] == NEW_CSV_HEADER:
            found.append(candidate)
    return found


def find_ferplus_csv(path: Path) -> Path | None:
    """The folder holding both FER2013's CSV and fer2013new.csv (``path`` itself, or the folder of ``path``
    when it is one of the two files); None when either is missing, so a folder holding only fer2013.csv is
    FER2013, not FER+. Several candidates for either file are refused, naming them."""
    folder = path.parent if path.is_file() else path
    if path.is_file() and path.suffix.lower() != ".csv":
        return None
    new = _new_csvs(folder)
    if not new:
        return None
    if len(new) > 1:
        raise DataError(f"{folder}: {len(new)} fer2013new.csv files ({', '.join(p.name for p in new)}); keep one")
    return folder if find_csv(folder) is not None else None


def load_ferplus_csv(folder: Path, *, strict: bool = False, labels: str = "majority") -> Dataset:
    """Load FER2013's CSV with the votes of fer2013new.csv, row by row.

    The files are matched by position, as FERPlus's ``generate_training_data.py`` does: the same number of rows,
    each row's ``Usage`` the same in both, and image names ``fer#######.png`` (their numbers are not the row
    numbers: see the module's docstring); any mismatch is fatal, naming the row. A row with an empty name is an
    image FER+ dropped (``no_label``); a row whose name a later row uses again is dropped (``name_reused``).
    """
    fer_csv, new_csvs = find_csv(folder), _new_csvs(folder)
    if fer_csv is None or len(new_csvs) != 1:
        raise DataError(f"{folder}: expected one FER2013 CSV (emotion,pixels,Usage) and one fer2013new.csv "
                        f"({','.join(NEW_CSV_HEADER)}) in this folder")
    new_csv = new_csvs[0]
    labeller = _Labels(labels)
    fer = load_fer2013_csv(fer_csv, strict=strict)
    rows = list(_rows(new_csv))[1:]  # less the header
    if len(rows) != len(fer):
        raise DataError(f"{new_csv}: {len(rows)} label rows for the {len(fer)} image rows of {fer_csv.name}; "
                        f"expected one per image row, in the same order")
    keep, kept_labels, ids = [], [], []
    last = {row[1].strip(): k for k, (_, row) in enumerate(rows) if len(row) > 1}  # name -> its last row
    for index, ((line_no, row), usage, fer_row) in enumerate(zip(rows, fer.splits.tolist(), fer.sample_ids)):
        where = f"{new_csv.name} row {line_no}"
        if len(row) != len(NEW_CSV_HEADER):
            raise DataError(f"{where}: expected {len(NEW_CSV_HEADER)} columns ({','.join(NEW_CSV_HEADER)}), "
                            f"got {len(row)}")
        if row[0].strip() != usage:
            raise DataError(f"{where}: Usage {row[0].strip()!r} but {fer_row} is {usage!r}; the two files must "
                            f"list the same images in the same order")
        name = row[1].strip()
        votes = _votes(row[2:], where)
        if not name:
            labeller.drop("no_label", usage)
            continue
        number = _IMAGE_NUMBER.match(name)
        if number is None:
            raise DataError(f"{where}: image name {name!r}, expected fer#######.png")
        if last[name] != index:
            labeller.drop("name_reused", usage)
            continue
        label = labeller.label(votes, usage)
        if label is not None:
            keep.append(index)
            kept_labels.append(label)
            ids.append(Path(name).stem)
    return _dataset("ferplus-csv", folder, fer.images[keep], kept_labels, ids, list(fer.splits[keep]),
                    labeller, InputLog(strict))
