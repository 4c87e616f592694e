"""FER+ (``--dataset ferplus``): FERPlus's vote rules, both on-disk layouts, bad input, detection and the CLI.

Fixtures are written into tmp_path in the real layouts: the folders FERPlus's ``generate_training_data.py``
writes (``FER2013Train/`` etc. with ``fer#######.png`` and a header-less ``label.csv``), and the original
``fer2013.csv`` beside Microsoft's ``fer2013new.csv``.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.datasets import FERPLUS_CLASSES, detect_layout, load_dataset
from benchmark.datasets._ferplus import (NEW_CSV_HEADER, SPLIT_FOLDERS, load_ferplus_csv, load_ferplus_folders,
                                         vote_label)
from benchmark.errors import DataError
from benchmark.options import RunConfig
from benchmark.resolution import resolve
from benchmark.runs import config_hash

Z = [0] * 10


def _v(**votes) -> list[int]:
    """Ten vote counts from keyword counts (neutral=5, unknown=2, NF=3...)."""
    columns = (*FERPLUS_CLASSES, "unknown", "NF")
    return [votes.get(c, 0) for c in columns]


# ------------------------------------------------------------------------------------------------ vote rules

@pytest.mark.parametrize("votes, majority, plurality", [
    (_v(happiness=10), "happiness", "happiness"),
    (_v(contempt=8, neutral=2), "contempt", "contempt"),
    (_v(neutral=6, surprise=1, sadness=1, unknown=2), "neutral", "neutral"),
    # outlier removal: 5 of 10 is no majority, but the four single votes go, leaving 5 of 5
    (_v(neutral=5, happiness=1, surprise=1, sadness=1, unknown=1, NF=1), "neutral", "neutral"),
    # it removes a single unknown vote too (FERPlus loops over all ten columns): 3 of 5, not 3 of 6
    (_v(anger=3, unknown=1, NF=2), "anger", "anger"),
    # FERPlus's sample row fer0000000: 4 neutral of 9 left is no majority; the plurality is neutral
    ([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], "no_majority", "neutral"),
    # exactly half is no majority (more than half is needed); a tie goes to the earlier FER+ column
    (_v(neutral=5, happiness=5), "no_majority", "neutral"),
    (_v(fear=4, surprise=4, anger=2), "no_majority", "surprise"),
    (_v(sadness=4, unknown=4, NF=2), "no_majority", "sadness"),  # a tie with unknown goes to the emotion
    (_v(unknown=8, neutral=2), "unknown", "unknown"),
    (_v(NF=10), "NF", "NF"),
    (_v(unknown=5, neutral=3, NF=2), "no_majority", "unknown"),
    ([1] * 10, "all_votes_removed", "all_votes_removed"),
    (Z, "all_votes_removed", "all_votes_removed"),
])
def test_vote_rules_follow_ferplus(votes, majority, plurality):
    """Majority is FERPlus's own rule (single votes removed, then more than half of the rest, not unknown/NF);
    plurality takes the top column after the same removal, ties to the earlier column, unknown/NF dropped."""
    def named(label):
        return FERPLUS_CLASSES[label] if isinstance(label, int) else label

    assert named(vote_label(votes, "majority")) == majority
    assert named(vote_label(votes, "plurality")) == plurality


def test_unknown_rule_is_refused():
    with pytest.raises(DataError, match="--ferplus-labels must be one of majority, plurality, got 'mode'"):
        vote_label(_v(neutral=10), "mode")


# ------------------------------------------------------------------------------------------- layout fixtures

#: FER2013 rows in CSV order: (Usage, votes, label under majority, or the reason it is dropped); votes None: an
#: image FER+ dropped (an empty image name in fer2013new.csv, no file in the folders). Every split keeps at
#: least two classes, so the official split can be fitted.
PLAN = [
    ("Training", _v(neutral=10), "neutral"),
    ("Training", _v(happiness=9, surprise=1), "happiness"),
    ("Training", _v(surprise=8, fear=2), "surprise"),
    ("Training", _v(sadness=8, neutral=2), "sadness"),
    ("Training", _v(neutral=5, happiness=1, surprise=1, sadness=1, anger=1, unknown=1), "neutral"),
    ("Training", None, "no_label"),
    ("Training", _v(anger=9, unknown=1), "anger"),
    ("Training", _v(neutral=5, happiness=5), "no_majority"),
    ("Training", _v(unknown=8, sadness=2), "unknown"),
    ("Training", _v(disgust=7, anger=3), "disgust"),
    ("Training", _v(happiness=10), "happiness"),
    ("Training", _v(NF=10), "NF"),
    ("PublicTest", _v(neutral=8, sadness=2), "neutral"),
    ("PublicTest", _v(happiness=10), "happiness"),
    ("PublicTest", [1] * 10, "all_votes_removed"),
    ("PublicTest", _v(surprise=6, fear=4), "surprise"),
    ("PublicTest", None, "no_label"),
    ("PublicTest", _v(anger=6, neutral=4), "anger"),
    ("PrivateTest", _v(happiness=7, neutral=3), "happiness"),
    ("PrivateTest", _v(neutral=10), "neutral"),
    ("PrivateTest", _v(fear=4, surprise=4, anger=2), "no_majority"),
    ("PrivateTest", _v(contempt=6, neutral=4), "contempt"),
    ("PrivateTest", _v(sadness=9, unknown=1), "sadness"),
]


def _name(i: int, plan=PLAN) -> str:
    """FER+'s name of plan row ``i``: a counter over the rows that have a name (votes), from 0, as in Microsoft's
    fer2013new.csv (whose data row 60 is fer0000059.png, row 59 having none), so not the row number."""
    return f"fer{sum(1 for _, votes, _ in plan[:i] if votes is not None):07d}.png"


def _write_folders(root: Path, images, plan=PLAN, *, box=True) -> Path:
    """FERPlus's generated folders: a PNG and a label.csv row for each row FER+ kept (as its script writes)."""
    rows = {split: [] for split in SPLIT_FOLDERS}
    for i, (usage, votes, _) in enumerate(plan):
        if votes is None:
            continue
        folder = root / SPLIT_FOLDERS[usage]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i]).save(folder / _name(i, plan), compress_level=0)
        rows[usage].append([_name(i, plan), *(["(0, 0, 48, 48)"] if box else []), *votes])
    for split, folder in SPLIT_FOLDERS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        with open(root / folder / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows[split])
    return root


def _write_new_csv(path: Path, plan=PLAN) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(NEW_CSV_HEADER)
        for i, (usage, votes, _) in enumerate(plan):
            w.writerow([usage, "" if votes is None else _name(i, plan), *(Z if votes is None else votes)])
    return path


@pytest.fixture
def images(face_pool):
    return face_pool[:len(PLAN)]


@pytest.fixture
def folders(tmp_path, images):
    return _write_folders(tmp_path / "FERPlus", images)


@pytest.fixture
def csv_dir(tmp_path, write_fer_csv, images):
    """fer2013.csv (its own emotion labels are FER2013's, irrelevant here) beside fer2013new.csv."""
    folder = tmp_path / "fer2013-with-new"
    write_fer_csv(folder / "fer2013.csv", [(usage, 0) for usage, _, _ in PLAN], images=images)
    _write_new_csv(folder / "fer2013new.csv")
    return folder


def _expected(plan=PLAN):
    kept = [(i, usage, label) for i, (usage, _, label) in enumerate(plan) if label in FERPLUS_CLASSES]
    return kept, {reason: sum(1 for _, _, label in plan if label == reason) for reason in
                  ("no_label", "name_reused", "all_votes_removed", "no_majority", "unknown", "NF")}


# ---------------------------------------------------------------------------------------------- both layouts

def test_both_layouts_load_the_same_images_labels_ids_and_splits(folders, csv_dir, images):
    """Folders and CSV pair give identical data: FER+ names as ids, majority labels, FER2013's split names."""
    kept, drops = _expected()
    by_folders, by_csv = load_ferplus_folders(folders), load_ferplus_csv(csv_dir)
    assert (by_folders.layout, by_csv.layout) == ("ferplus-folders", "ferplus-csv")
    for ds in (by_folders, by_csv):
        assert ds.name == "ferplus" and ds.class_names == FERPLUS_CLASSES
        assert list(ds.sample_ids) == [_name(i)[:-4] for i, _, _ in kept]
        assert "fer0000005" in ds.sample_ids and _name(6) == "fer0000005.png"  # row 6: the first after a dropped one
        assert [FERPLUS_CLASSES[k] for k in ds.labels] == [label for _, _, label in kept]
        assert list(ds.splits) == [usage for _, usage, _ in kept]
        np.testing.assert_array_equal(ds.images, images[[i for i, _, _ in kept]])
        assert ds.split_is_official is True and ds.skipped == []
        assert ds.counts()["all"]["contempt"] == 1 and ds.counts()["Training"]["contempt"] == 0  # kept, even empty
        # every reason but no_label agrees; the folders hold no trace of the images FER+ dropped
        assert {r: n["all"] for r, n in ds.dropped.items() if r != "no_label"} == {
            r: n for r, n in drops.items() if r != "no_label"}
        assert ds.summary()["dropped"] == ds.dropped
        assert ds.notes and "majority vote" in ds.notes[0] and "1 no majority" not in ds.notes[0]
    assert by_folders.fingerprint == by_csv.fingerprint
    assert by_csv.dropped["no_label"] == {"all": 2, "Training": 1, "PublicTest": 1, "PrivateTest": 0}
    assert by_folders.dropped["no_label"]["all"] == 0
    assert by_csv.dropped["no_majority"] == {"all": 2, "Training": 1, "PublicTest": 0, "PrivateTest": 1}
    assert "2 no majority" in by_csv.notes[0] and "1 most votes for not a face" in by_csv.notes[0]


def test_plurality_keeps_more_images_in_both_layouts(folders, csv_dir):
    """--ferplus-labels plurality labels the no-majority rows by their top emotion; unknown and NF still go."""
    majority = load_dataset("ferplus", folders)
    plural = [load_dataset("ferplus", d, ferplus_labels="plurality") for d in (folders, csv_dir)]
    assert plural[0].fingerprint == plural[1].fingerprint
    assert len(plural[0]) == len(majority) + 2
    labels = dict(zip(plural[0].sample_ids, plural[0].labels))
    assert FERPLUS_CLASSES[labels[_name(7)[:-4]]] == "neutral"  # the 5/5 tie: the earlier column
    assert FERPLUS_CLASSES[labels[_name(20)[:-4]]] == "surprise"  # fear 4, surprise 4: surprise comes first
    assert plural[0].dropped["no_majority"]["all"] == 0 and plural[0].dropped["unknown"]["all"] == 1
    assert "plurality" in plural[0].notes[0]


def test_label_rows_without_face_box_also_load(tmp_path, images):
    """11-column rows (image name and votes, as the current generate_training_data.py writes) load the same."""
    with_box = load_ferplus_folders(_write_folders(tmp_path / "a", images))
    without = load_ferplus_folders(_write_folders(tmp_path / "b", images, box=False))
    assert with_box.fingerprint == without.fingerprint


def test_image_without_label_row_is_counted_as_dropped(folders, face_pool):
    Image.fromarray(face_pool[100]).save(folders / "FER2013Test" / "fer0099999.png")
    ds = load_ferplus_folders(folders)
    assert "fer0099999" not in ds.sample_ids
    assert ds.dropped["no_label"] == {"all": 1, "Training": 0, "PublicTest": 0, "PrivateTest": 1}


def test_unreadable_image_is_skipped_or_fatal_under_strict(folders):
    """As in the FER2013 loaders: a corrupt image is skipped and logged, or stops the load under --strict."""
    (folders / "FER2013Valid" / _name(13)).write_bytes(b"not a png")
    ds = load_ferplus_folders(folders)
    assert _name(13) == "fer0000012.png" and "fer0000012" not in ds.sample_ids
    assert ds.skipped == [{"path": "FER2013Valid/fer0000012.png",
                           "reason": "unreadable image (UnidentifiedImageError)"}]
    with pytest.raises(DataError, match="fer0000012.png: unreadable image"):
        load_ferplus_folders(folders, strict=True)


# ------------------------------------------------------------------------------------------------- bad input

def _one_line(info) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


def _edit_label_row(folder: Path, row_no: int, edit) -> None:
    path = folder / "label.csv"
    rows = list(csv.reader(path.open(newline="")))
    rows[row_no - 1] = edit(rows[row_no - 1])
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r[:2] + ["x"] + r[3:], r"FER2013Train/label\.csv row 3: neutral vote count 'x' is not a non-negative"),
    (lambda r: r[:3] + ["-1"] + r[4:], r"row 3: happiness vote count '-1' is not a non-negative integer"),
    (lambda r: r[:11] + ["2.5"], r"row 3: NF vote count '2\.5' is not a non-negative integer"),
    (lambda r: r + ["0"], r"FER2013Train/label\.csv row 3: expected 12 columns \(image name, face box, .*got 13"),
    (lambda r: ["fer0000777.png"] + r[1:], r"FER2013Train/label\.csv row 3: names fer0000777\.png, which is not in"),
    (lambda r: [""] + r[1:], r"FER2013Train/label\.csv row 3: image name is empty"),
])
def test_bad_label_rows_are_one_line_errors_naming_file_and_row(folders, edit, message):
    _edit_label_row(folders / "FER2013Train", 3, edit)
    with pytest.raises(DataError, match=message) as info:
        load_dataset("ferplus", folders)
    _one_line(info)


def test_short_label_row_without_box_is_read_as_eleven_columns(folders):
    """Dropping one column leaves 11: read as a row without a face box, so the votes shift and are refused."""
    _edit_label_row(folders / "FER2013Train", 3, lambda r: r[:-1])
    with pytest.raises(DataError, match=r"row 3: neutral vote count '\(0, 0, 48, 48\)' is not a non-negative"):
        load_ferplus_folders(folders)


def test_missing_label_file_is_named(folders):
    (folders / "FER2013Valid" / "label.csv").unlink()
    with pytest.raises(DataError, match=r"FER2013Valid/label\.csv: missing") as info:
        load_dataset("ferplus", folders)
    _one_line(info)


def test_usage_mismatch_is_refused_naming_the_row(csv_dir):
    """fer2013new.csv rows must match fer2013.csv's, Usage by Usage: a mismatch names both rows."""
    path = csv_dir / "fer2013new.csv"
    lines = path.read_text().splitlines()
    lines[13] = lines[13].replace("PublicTest", "Training", 1)  # row 14 of the file: the 13th image row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_dataset("ferplus", csv_dir)
    assert _one_line(info) == ("fer2013new.csv row 14: Usage 'Training' but fer2013.csv:14 is 'PublicTest'; "
                               "the two files must list the same images in the same order")


def test_row_count_mismatch_is_refused(csv_dir):
    path = csv_dir / "fer2013new.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(DataError, match=r"fer2013new\.csv: 22 label rows for the 23 image rows of fer2013\.csv"):
        load_dataset("ferplus", csv_dir)


def test_a_malformed_image_name_is_refused_naming_the_row(csv_dir):
    path = csv_dir / "fer2013new.csv"
    path.write_text(path.read_text().replace("fer0000003.png", "face3.jpg", 1))
    with pytest.raises(DataError, match=r"fer2013new\.csv row 5: image name 'face3\.jpg', expected fer#######\.png") \
            as info:
        load_dataset("ferplus", csv_dir)
    _one_line(info)


def test_names_are_matched_by_position_and_a_reused_name_keeps_its_later_row_in_both_layouts(
        tmp_path, write_fer_csv, images):
    """Microsoft's file numbers its images irregularly (data row 60 is fer0000059.png) and gives four names to two
    rows each (fer0006953.png to data rows 5274 and 6968): rows are matched by position, as FERPlus's script does,
    and of two rows with one name the later is kept, as that script's image file holds the later row's image."""
    names = {k: _name(k) for k, (_, votes, _) in enumerate(PLAN) if votes is not None}
    names[0], names[1] = "fer0000900.png", "fer0000050.png"  # far from the row, out of order
    names[3] = names[4]  # rows 3 and 4 share a name (both Training): row 4's image wins
    folder = tmp_path / "csv"
    write_fer_csv(folder / "fer2013.csv", [(usage, 0) for usage, _, _ in PLAN], images=images)
    with open(folder / "fer2013new.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(NEW_CSV_HEADER)
        for k, (usage, votes, _) in enumerate(PLAN):
            w.writerow([usage, names.get(k, ""), *(Z if votes is None else votes)])
    by_csv = load_dataset("ferplus", folder)
    assert list(by_csv.sample_ids[:3]) == ["fer0000900", "fer0000050", "fer0000002"]
    np.testing.assert_array_equal(by_csv.images[:3], images[:3])  # the first rows' images, whatever their names
    ids = list(by_csv.sample_ids)
    assert ids.count(names[4][:-4]) == 1
    np.testing.assert_array_equal(by_csv.images[ids.index(names[4][:-4])], images[4])
    assert by_csv.dropped["name_reused"] == {"all": 1, "Training": 1, "PublicTest": 0, "PrivateTest": 0}
    # FERPlus's folders of the same file: one image under the shared name (the later row's), two label rows
    root = tmp_path / "folders"
    for k, (usage, votes, _) in enumerate(PLAN):
        if votes is not None:
            (root / SPLIT_FOLDERS[usage]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[k]).save(root / SPLIT_FOLDERS[usage] / names[k], compress_level=0)
            with open(root / SPLIT_FOLDERS[usage] / "label.csv", "a", newline="") as fh:
                csv.writer(fh).writerow([names[k], "(0, 0, 48, 48)", *votes])
    by_folders = load_dataset("ferplus", root)
    assert by_folders.fingerprint == by_csv.fingerprint
    assert by_folders.dropped["name_reused"]["all"] == 1


def test_bad_vote_in_new_csv_names_the_row(csv_dir):
    path = csv_dir / "fer2013new.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",ten"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"fer2013new\.csv row 3: NF vote count 'ten' is not a non-negative"):
        load_dataset("ferplus", csv_dir)


# ------------------------------------------------------------------------------------------- layout detection

def test_detection_tells_ferplus_from_fer2013(tmp_path, folders, csv_dir):
    """Both FER+ layouts are found; fer2013.csv alone is FER2013, not FER+; FER2013 still loads beside
    fer2013new.csv."""
    assert detect_layout("ferplus", folders) == ("ferplus-folders", folders)
    assert detect_layout("ferplus", csv_dir) == ("ferplus-csv", csv_dir)
    assert detect_layout("ferplus", csv_dir / "fer2013new.csv") == ("ferplus-csv", csv_dir)
    assert load_dataset("fer2013", csv_dir).layout == "fer2013-csv"
    fer_only = tmp_path / "fer2013"
    fer_only.mkdir()
    shutil.copy(csv_dir / "fer2013.csv", fer_only)
    with pytest.raises(DataError, match="no ferplus data found; this looks like FER2013"):
        detect_layout("ferplus", fer_only)
    with pytest.raises(DataError, match="expected one FER2013 CSV .* and one fer2013new.csv"):
        load_ferplus_csv(fer_only)
    new_only = tmp_path / "new-only"
    new_only.mkdir()
    shutil.copy(csv_dir / "fer2013new.csv", new_only)
    with pytest.raises(DataError, match="no ferplus data found; expected FER2013Train/"):
        detect_layout("ferplus", new_only)
    with pytest.raises(DataError, match="this looks like FER\\+ \\(use --dataset ferplus\\)"):
        detect_layout("fer2013", folders)


def test_default_data_folder_and_one_level_down(tmp_path, images, monkeypatch):
    """$FER_BENCH_DATA/FER+ is found by name, and the layout one folder level down inside it."""
    monkeypatch.setenv("FER_BENCH_DATA", str(tmp_path))
    _write_folders(tmp_path / "FER+" / "data", images)
    ds = load_dataset("ferplus")
    assert (ds.layout, ds.root) == ("ferplus-folders", str(tmp_path / "FER+" / "data"))


# ------------------------------------------------------------------------------------------- options and CLI

def test_option_applies_to_ferplus_only_and_keeps_other_hashes():
    """--ferplus-labels is recorded and hashed for FER+; for other datasets it resolves to None and leaves
    their config hashes as they were before the option existed."""
    base = RunConfig(dataset="ferplus", model="svm-linear", features="hog")
    majority, plurality = resolve(base), resolve(replace(base, ferplus_labels="plurality"))
    assert (majority.ferplus_labels, plurality.ferplus_labels) == ("majority", "plurality")
    assert config_hash(vars(majority)) != config_hash(vars(plurality))
    fer = resolve(RunConfig(dataset="fer2013", model="svm-linear", features="hog"))
    assert fer.ferplus_labels is None
    before = {k: v for k, v in vars(fer).items() if k != "ferplus_labels"}
    assert config_hash(vars(fer)) == config_hash(before)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_cli_run_end_to_end(tmp_path, folders):
    """fer-bench run --dataset ferplus: official split, 8 classes, the drops and the rule in the run folder."""
    reports = tmp_path / "reports"
    result = _cli("run", "--dataset", "ferplus", "--data-dir", str(folders), "--model", "svm-linear", "--features",
                  "hog", "--reports-dir", str(reports), "--cache-dir", str(tmp_path / "cache"), "--n-jobs", "1")
    assert result.exit_code == 0, result.output
    (run,) = (reports / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["dataset"], metrics["protocol"]) == ("ferplus", "official-split")
    assert metrics["class_names"] == list(FERPLUS_CLASSES)
    assert json.loads((run / "config.json").read_text())["ferplus_labels"] == "majority"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["dataset"]["dropped"]["no_majority"]["all"] == 2
    assert manifest["protocol"]["sizes"] == {"PrivateTest": {"train": 8, "val": 4, "test": 4}}


def test_cli_refuses_an_unknown_rule(tmp_path, folders):
    result = _cli("run", "--dataset", "ferplus", "--data-dir", str(folders), "--model", "svm-linear",
                  "--ferplus-labels", "mode", "--reports-dir", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "--ferplus-labels must be majority or plurality, got 'mode'" in result.output
    assert "Traceback" not in result.output


def test_cli_datasets_lists_ferplus(folders):
    result = _cli("datasets", "--dataset", "ferplus", "--data-dir", str(folders))
    assert result.exit_code == 0, result.output
    text = re.sub(r"\s+", " ", result.output)
    assert "as ferplus-folders: 16 images" in text
    assert "2 no majority" in text
