"""Dataset loaders on the real on-disk layouts, malformed input, layout detection and the synthetic set."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.datasets import (FER_CLASSES, IMAGE_SIZE, Dataset, default_data_dir, detect_layout, load_dataset,
                                make_synthetic)
from benchmark.datasets._ckplus import CK48_CLASSES, CK_CODES, load_ck48, load_ck_original
from benchmark.datasets._fer2013 import load_fer2013_csv, load_fer2013_folders
from benchmark.errors import DataError, FerBenchError


def _assert_images(ds: Dataset, n: int) -> None:
    assert ds.images.dtype == np.uint8
    assert ds.images.shape == (n, IMAGE_SIZE, IMAGE_SIZE)
    assert len(ds.labels) == len(ds.sample_ids) == n


def _expected_counts(plan):
    """{"all": {...}, split: {class: n}} as Dataset.counts() reports them, from a (usage, label) plan."""
    out = {"all": {c: 0 for c in FER_CLASSES}}
    for usage, label in plan:
        out.setdefault(usage, {c: 0 for c in FER_CLASSES})
        out[usage][FER_CLASSES[label]] += 1
        out["all"][FER_CLASSES[label]] += 1
    return out


# --------------------------------------------------------------------------------------------------- FER2013 CSV

def test_fer_csv_loads_rows_labels_splits_and_pixels(fer_csv, fer_plan, face_pool):
    """The challenge CSV loads every row with its label, Usage split, a row-named id and exact pixels."""
    ds = load_fer2013_csv(fer_csv)
    _assert_images(ds, len(fer_plan))
    assert (ds.name, ds.layout) == ("fer2013", "fer2013-csv")
    assert ds.class_names == FER_CLASSES
    assert ds.subjects is None
    assert list(ds.labels) == [label for _, label in fer_plan]
    assert list(ds.splits) == [usage for usage, _ in fer_plan]
    assert list(ds.sample_ids) == [f"fer2013.csv:{line}" for line in range(2, len(fer_plan) + 2)]
    np.testing.assert_array_equal(ds.images, face_pool[:len(fer_plan)])
    assert ds.counts() == _expected_counts(fer_plan)
    assert ds.skipped == [] and ds.converted == []
    assert ds.split_is_official is True


def test_fer_csv_wrong_pixel_count_names_the_row(tmp_path, write_fer_csv, fer_plan):
    """A row with 2303 pixel values is fatal, and the error names the file and its line number."""
    path = write_fer_csv(tmp_path / "fer2013.csv", fer_plan)
    lines = path.read_text().splitlines()
    emotion, pixels, usage = lines[4].split(",")  # line 5 of the file
    lines[4] = ",".join([emotion, " ".join(pixels.split()[:-1]), usage])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"fer2013\.csv row 5: expected 2304 pixel values .*got 2303"):
        load_fer2013_csv(path)


def test_fer_csv_bad_header_is_rejected(tmp_path, write_fer_csv, fer_plan):
    """A CSV whose header is not emotion,pixels,Usage is refused with the header it found."""
    path = write_fer_csv(tmp_path / "fer2013.csv", fer_plan, header="emotion,Usage,pixels")
    with pytest.raises(DataError, match="header is 'emotion,Usage,pixels'"):
        load_fer2013_csv(path)


@pytest.mark.parametrize("header, fragment", [
    ("emotion,pixel,Usage", "header column 2 is 'pixel', expected 'pixels'"),
    ("Emotion,pixels,Usage", "header column 1 is 'Emotion', expected 'emotion'"),
    ("emotion,pixels,split", "header column 3 is 'split', expected 'Usage'")])
def test_a_renamed_fer_csv_column_is_named_wherever_the_data_is_looked_for(tmp_path, write_fer_csv, fer_plan,
                                                                          header, fragment):
    from benchmark.datasets import load_dataset

    path = write_fer_csv(tmp_path / "fer" / "fer2013.csv", fer_plan, header=header)
    for where in (path, path.parent):  # the file, or the folder holding it
        with pytest.raises(DataError, match=re.escape(f"{path}: {fragment} (FER2013's header is "
                                                      f"emotion,pixels,Usage); rename it back")):
            load_dataset("fer2013", where)


def test_fer_csv_bad_usage_names_the_row(tmp_path, write_fer_csv):
    """A Usage value outside Training/PublicTest/PrivateTest is fatal and names the row and value."""
    path = write_fer_csv(tmp_path / "fer2013.csv", [("Training", 0), ("Validation", 1)])
    with pytest.raises(DataError, match=r"row 3: Usage 'Validation' is not one of Training, PublicTest, PrivateTest"):
        load_fer2013_csv(path)


@pytest.mark.parametrize("edit, message", [
    (lambda e, p, u: ("7", p, u), r"row 2: emotion '7' is not an integer 0-6"),
    (lambda e, p, u: (e, p.replace(p.split()[0], "256", 1), u), r"row 2: pixel values must be integers 0-255"),
    (lambda e, p, u: (e, p.replace(p.split()[0], "x", 1), u), r"row 2: pixel values must be integers"),
])
def test_fer_csv_bad_values_name_the_row(tmp_path, write_fer_csv, edit, message):
    """An out-of-range emotion or pixel value is fatal and the error names the row."""
    path = write_fer_csv(tmp_path / "fer2013.csv", [("Training", 0)])
    header, row = path.read_text().splitlines()
    path.write_text(header + "\n" + ",".join(edit(*row.split(","))) + "\n")
    with pytest.raises(DataError, match=message):
        load_fer2013_csv(path)


def test_fer_csv_with_windows_line_endings_and_blank_lines_loads(tmp_path, write_fer_csv, fer_plan):
    """A CSV saved with CRLF line endings and a trailing blank line loads exactly like the LF original."""
    path = write_fer_csv(tmp_path / "fer2013.csv", fer_plan)
    expected = load_fer2013_csv(path)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n") + b"\r\n")
    ds = load_fer2013_csv(path)
    assert ds.fingerprint == expected.fingerprint
    assert list(ds.splits) == list(expected.splits)


def test_fer_csv_with_header_only_is_an_error(tmp_path):
    """A CSV with a header and no rows is a DataError, not an empty dataset."""
    path = tmp_path / "fer2013.csv"
    path.write_text("emotion,pixels,Usage\n")
    with pytest.raises(DataError, match="no data rows"):
        load_fer2013_csv(path)


# ----------------------------------------------------------------------------------------- FER2013 image folders

def test_fer_folders_load_with_official_split_from_prefixes(fer_folders, fer_plan, face_pool):
    """train/ and test/ class folders load with labels from the folder and splits from the file-name prefix."""
    ds = load_fer2013_folders(fer_folders)
    _assert_images(ds, len(fer_plan))
    assert (ds.name, ds.layout) == ("fer2013", "fer2013-folders")
    assert ds.class_names == FER_CLASSES
    assert ds.subjects is None and ds.notes == [] and ds.skipped == []
    assert ds.counts() == _expected_counts(fer_plan)
    for sid, split, label in zip(ds.sample_ids, ds.splits, ds.labels):
        folder, cls, fname = sid.split("/")
        assert folder == ("train" if split == "Training" else "test")
        assert cls == FER_CLASSES[label].lower()
        assert fname.startswith(f"{split}_") and fname.endswith(".jpg")
    # JPEG is lossy, but the pixels must be those images (not, say, transposed or rescaled)
    index = {f"{10000000 + 37 * i}": i for i in range(len(fer_plan))}
    for sid, img in zip(ds.sample_ids, ds.images):
        original = face_pool[index[sid.rsplit("_", 1)[1][:-4]]].astype(int)
        assert np.abs(img.astype(int) - original).mean() < 6


def test_fer_csv_and_folders_give_same_per_split_counts(fer_csv, fer_folders):
    """The CSV and the image-folder layouts of the same images load to identical per-split class counts."""
    a, b = load_fer2013_csv(fer_csv), load_fer2013_folders(fer_folders)
    assert a.counts() == b.counts()
    for split in ("Training", "PublicTest", "PrivateTest"):
        assert Counter(a.labels[a.splits == split]) == Counter(b.labels[b.splits == split])


def test_fer_folders_without_prefixes_split_test_in_halves_with_a_note(tmp_path, write_fer_folders):
    """Unprefixed test/ files are split per class into PublicTest/PrivateTest halves, seeded, with a note."""
    plan = [("Training", c) for c in range(7)] + [("PublicTest", c) for c in range(7) for _ in range(4)]
    root = write_fer_folders(tmp_path / "f", plan, prefixes=False)
    ds = load_fer2013_folders(root, seed=3)
    counts = ds.counts()
    assert counts["Training"] == {c: 1 for c in FER_CLASSES}
    assert counts["PublicTest"] == {c: 2 for c in FER_CLASSES}
    assert counts["PrivateTest"] == {c: 2 for c in FER_CLASSES}
    assert len(ds.notes) == 1 and "NOT the official split" in ds.notes[0] and "28" in ds.notes[0]
    assert ds.split_is_official is False
    again = load_fer2013_folders(root, seed=3)
    np.testing.assert_array_equal(ds.splits, again.splits)
    other = [load_fer2013_folders(root, seed=s).splits for s in range(4, 9)]
    assert any(not np.array_equal(ds.splits, o) for o in other), "the halves should depend on the seed"


def test_fer_folders_empty_class_folder_is_an_error(fer_folders):
    """An empty class folder is refused, naming it (a silently missing class would skew every figure)."""
    for f in (fer_folders / "test" / "disgust").iterdir():
        f.unlink()
    with pytest.raises(DataError, match=r"test/disgust: class folder missing or empty"):
        load_fer2013_folders(fer_folders)


def test_fer_folders_missing_class_folder_is_an_error(fer_folders):
    """A class folder that does not exist at all is refused too."""
    import shutil

    shutil.rmtree(fer_folders / "train" / "fear")
    with pytest.raises(DataError, match=r"train/fear: class folder missing or empty"):
        load_fer2013_folders(fer_folders)


def test_fer_folders_unknown_class_folder_is_an_error(fer_folders, face_pool):
    """A class folder outside the 7 FER classes (e.g. CK+'s 'contempt') is refused by name."""
    (fer_folders / "train" / "contempt").mkdir()
    Image.fromarray(face_pool[0]).save(fer_folders / "train" / "contempt" / "Training_1.jpg")
    with pytest.raises(DataError, match="unknown class folder 'contempt'"):
        load_fer2013_folders(fer_folders)


def test_fer_folders_corrupt_image_is_skipped_and_counted_or_fatal_when_strict(fer_folders, fer_plan):
    """A corrupt JPG is skipped and listed in dataset.skipped; with strict=True it raises DataError."""
    bad = fer_folders / "train" / "happy" / "Training_99999999.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    ds = load_fer2013_folders(fer_folders)
    assert len(ds) == len(fer_plan)
    assert len(ds.skipped) == 1
    assert ds.skipped[0]["path"] == "train/happy/Training_99999999.jpg"
    assert "unreadable image" in ds.skipped[0]["reason"]
    assert ds.summary()["skipped"] == ds.skipped
    with pytest.raises(DataError, match="Training_99999999.jpg: unreadable image"):
        load_fer2013_folders(fer_folders, strict=True)


def test_fer_folders_resize_non_48_images(tmp_path, write_fer_folders, fer_plan):
    """Images of another size or mode (e.g. RGB 96x96) are converted to 48x48 grayscale uint8, and listed."""
    root = write_fer_folders(tmp_path / "f", fer_plan)
    path = root / "train" / "sad" / "Training_big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(path)
    Image.fromarray(np.full((48, 48), 128, np.uint8)).convert("P").save(root / "train" / "sad" / "Training_p.png")
    ds = load_fer2013_folders(root)
    _assert_images(ds, len(fer_plan) + 2)
    assert "train/sad/Training_big.jpg" in set(ds.sample_ids)
    assert ds.converted == [{"path": "train/sad/Training_big.jpg", "original": "96x96 RGB"},
                            {"path": "train/sad/Training_p.png", "original": "48x48 P"}]


# ------------------------------------------------------------------------------------------------------- CK+48

def test_ck48_loads_classes_subjects_and_ids(ck48_dir, ck48_plan):
    """CK+48 folders load with the 7 CK+ classes, the S### subject from each file name and relative ids."""
    ds = load_ck48(ck48_dir)
    n = 3 * sum(len(s) for s in ck48_plan.values())
    _assert_images(ds, n)
    assert (ds.name, ds.layout) == ("ck+", "ck+48-folders")
    assert ds.class_names == CK48_CLASSES
    assert ds.splits is None
    assert ds.class_counts() == {e: 3 * len(s) for e, s in ck48_plan.items()}
    assert set(ds.subjects) == {s for subjects in ck48_plan.values() for s in subjects}
    for sid, subject, label in zip(ds.sample_ids, ds.subjects, ds.labels):
        emotion, fname = sid.split("/")
        assert emotion == CK48_CLASSES[label]
        assert fname.startswith(subject + "_") and fname.endswith(".png")
    assert ds.summary()["n_subjects"] == 7
    assert ds.split_is_official is None and ds.converted == []


def test_ck48_corrupt_png_is_skipped_and_counted_or_fatal_when_strict(ck48_dir, ck48_plan):
    """A truncated PNG is skipped and counted; strict=True turns it into a DataError."""
    good = sorted((ck48_dir / "fear").iterdir())[0]
    good.write_bytes(good.read_bytes()[:40])
    ds = load_ck48(ck48_dir)
    assert len(ds) == 3 * sum(len(s) for s in ck48_plan.values()) - 1
    assert [s["path"] for s in ds.skipped] == [f"fear/{good.name}"]
    assert f"fear/{good.name}" not in set(ds.sample_ids)
    with pytest.raises(DataError, match="unreadable image"):
        load_ck48(ck48_dir, strict=True)


def test_ck48_unknown_class_folder_is_an_error(ck48_dir):
    """A 'neutral' folder is not a CK+48 class: refused by name."""
    (ck48_dir / "neutral").mkdir()
    with pytest.raises(DataError, match="unknown class folder 'neutral'"):
        load_ck48(ck48_dir)


def test_ck48_empty_class_folder_is_an_error(ck48_dir):
    """An empty CK+48 class folder is refused, naming it."""
    for f in (ck48_dir / "contempt").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="contempt: class folder missing or empty"):
        load_ck48(ck48_dir)


def test_ck48_file_name_without_subject_is_an_error(ck48_dir, face_pool):
    """A file whose name carries no S### subject cannot be placed in a subject-independent fold: refused."""
    Image.fromarray(face_pool[0]).save(ck48_dir / "happy" / "face_1.png")
    with pytest.raises(DataError, match="face_1.png: file name does not match"):
        load_ck48(ck48_dir)


def test_ck48_capitalised_class_folders_load(tmp_path, write_ck48, ck48_plan):
    """Class folders spelled 'Anger', 'Happy'... load like lower-case ones (the unknown check allows them)."""
    root = write_ck48(tmp_path / "ck", {e.capitalize(): s for e, s in ck48_plan.items()})
    ds = load_ck48(root)
    assert len(ds) == 3 * sum(len(s) for s in ck48_plan.values())


# ---------------------------------------------------------------------------------------------- CK+ original

def test_ck_original_crops_faces_and_skips_frames_without_one(ck_original_dir):
    """Last 3 frames of each labelled sequence are face-cropped to 48x48; the blank frame is skipped, counted."""
    ds = load_ck_original(ck_original_dir)
    _assert_images(ds, 8)
    assert (ds.name, ds.layout) == ("ck+", "ck+-original")
    assert ds.class_names == CK48_CLASSES
    assert ds.splits is None
    assert list(ds.sample_ids) == [
        "cohn-kanade-images/S005/001/S005_001_00000003.png", "cohn-kanade-images/S005/001/S005_001_00000004.png",
        "cohn-kanade-images/S010/002/S010_002_00000002.png", "cohn-kanade-images/S010/002/S010_002_00000003.png",
        "cohn-kanade-images/S010/002/S010_002_00000004.png", "cohn-kanade-images/S011/001/S011_001_00000002.png",
        "cohn-kanade-images/S011/001/S011_001_00000003.png", "cohn-kanade-images/S011/001/S011_001_00000004.png"]
    assert [CK48_CLASSES[i] for i in ds.labels] == ["disgust"] * 2 + ["happy"] * 3 + ["surprise"] * 3
    assert list(ds.subjects) == ["S005"] * 2 + ["S010"] * 3 + ["S011"] * 3
    assert ds.skipped == [{"path": "cohn-kanade-images/S005/001/S005_001_00000005.png",
                           "reason": "no face found by dlib's frontal detector"}]
    assert ds.images.std() > 20  # real face crops, not flat padding
    assert any("last 3 frame" in n for n in ds.notes)


def test_ck_original_neutral_adds_first_frames(ck_original_dir):
    """With neutral=True the first frame of each labelled sequence joins as class 'neutral' (code 0)."""
    ds = load_ck_original(ck_original_dir, neutral=True)
    assert ds.class_names == CK_CODES and CK_CODES[0] == "neutral"
    assert len(ds) == 8 + 3
    neutral_ids = sorted(ds.sample_ids[ds.labels == 0])
    assert neutral_ids == ["cohn-kanade-images/S005/001/S005_001_00000001.png",
                           "cohn-kanade-images/S010/002/S010_002_00000001.png",
                           "cohn-kanade-images/S011/001/S011_001_00000001.png"]
    assert sorted(CK_CODES[i] for i in set(ds.labels)) == ["disgust", "happy", "neutral", "surprise"]


def test_ck_original_frames_option_and_strict(ck_original_dir):
    """frames=1 keeps only each peak frame; strict=True makes the faceless frame fatal."""
    ds = load_ck_original(ck_original_dir, frames=1)
    assert list(ds.sample_ids) == ["cohn-kanade-images/S010/002/S010_002_00000004.png",
                                   "cohn-kanade-images/S011/001/S011_001_00000004.png"]
    assert len(ds.skipped) == 1
    with pytest.raises(DataError, match="S005_001_00000005.png: no face found"):
        load_ck_original(ck_original_dir, strict=True)
    with pytest.raises(DataError, match="at least 1"):
        load_ck_original(ck_original_dir, frames=0)


def test_ck_original_colour_frames_are_converted(ck_original_dir):
    """Colour (RGB) frames, as some CK+ sequences have, are read as grayscale like the others."""
    for frame in (ck_original_dir / "cohn-kanade-images" / "S011" / "001").iterdir():
        Image.open(frame).convert("RGB").save(frame)
    ds = load_ck_original(ck_original_dir)
    _assert_images(ds, 8)
    assert (ds.subjects == "S011").sum() == 3


@pytest.mark.parametrize("content, message", [("   0.0000000e+00\n", "not an integer 1-7"),
                                               ("   2.5000000e+00\n", "not an integer 1-7"),
                                               ("happy\n", "expected one number 0-7"),
                                               ("", "expected one number 0-7")])
def test_ck_original_bad_label_file_is_an_error(ck_original_dir, content, message):
    """A label file that does not hold one peak code 1-7 is fatal and named."""
    label = next((ck_original_dir / "Emotion").glob("S010/002/*_emotion.txt"))
    label.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        load_ck_original(ck_original_dir)
    assert label.name in str(info.value)


def test_ck_original_neutral_frame_is_never_also_a_peak_frame(ck_original_dir):
    """Every sample id is unique, even when --ck-frames covers a whole short sequence and --ck-neutral is on."""
    ds = load_ck_original(ck_original_dir, frames=4, neutral=True)
    duplicated = [sid for sid, n in Counter(ds.sample_ids).items() if n > 1]
    assert duplicated == []


# ------------------------------------------------------------------------------------------------ layout detection

def test_detect_layout_finds_each_layout(tmp_path, fer_csv, fer_folders, ck48_dir, ck_original_dir):
    """Each real layout is recognised at its own path and one folder level down."""
    assert detect_layout("fer2013", fer_csv) == ("fer2013-csv", fer_csv)
    assert detect_layout("fer2013", fer_csv.parent) == ("fer2013-csv", fer_csv)
    assert detect_layout("fer2013", fer_folders) == ("fer2013-folders", fer_folders)
    parent = tmp_path / "downloads"
    parent.mkdir()
    fer_folders.rename(parent / "archive")
    assert detect_layout("fer2013", parent) == ("fer2013-folders", parent / "archive")
    assert detect_layout("ck+", ck48_dir) == ("ck+48-folders", ck48_dir)
    assert detect_layout("ck+", ck_original_dir) == ("ck+-original", ck_original_dir)
    with pytest.raises(DataError, match="2 copies of ck\\+ found"):  # two candidates: none is picked silently
        detect_layout("ck+", tmp_path)
    assert detect_layout("synthetic", tmp_path / "anything")[0] == "synthetic"


def test_detect_layout_missing_or_empty_path_is_a_data_error(tmp_path):
    """A data dir that does not exist, or holds nothing recognisable, is a DataError that names the path."""
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match="no such file or folder") as info:
        detect_layout("fer2013", missing)
    assert str(missing) in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.csv").write_text("a,b,c\n1,2,3\n")  # a CSV, but not FER2013's
    with pytest.raises(DataError, match="no fer2013 data found"):
        detect_layout("fer2013", empty)
    with pytest.raises(DataError, match="no ck\\+ data found"):
        detect_layout("ck+", empty)
    with pytest.raises(DataError, match="unknown dataset 'affectnet'"):
        detect_layout("affectnet", empty)


def test_load_dataset_uses_fer_bench_data_and_its_spellings(tmp_path, monkeypatch, write_ck48, write_fer_csv,
                                                            fer_plan):
    """Without --data-dir, $FER_BENCH_DATA/<spelling> is used (e.g. CK+48 for ck+, fer2013 for fer2013)."""
    root = tmp_path / "data"
    write_ck48(root / "CK+48")
    write_fer_csv(root / "fer2013" / "fer2013.csv", fer_plan)
    monkeypatch.setenv("FER_BENCH_DATA", str(root))
    assert default_data_dir("ck+") == root / "CK+48"
    assert default_data_dir("fer2013") == root / "fer2013"
    assert load_dataset("ck+").layout == "ck+48-folders"
    assert load_dataset("fer2013").layout == "fer2013-csv"
    monkeypatch.setenv("FER_BENCH_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset("ck+")


def test_load_dataset_dispatches_on_layout(fer_csv, fer_folders, ck48_dir, ck_original_dir):
    """load_dataset returns the loader matching the layout found at data_dir."""
    assert load_dataset("fer2013", fer_csv.parent).layout == "fer2013-csv"
    assert load_dataset("fer2013", str(fer_folders)).layout == "fer2013-folders"
    assert load_dataset("ck+", ck48_dir).layout == "ck+48-folders"
    assert len(load_dataset("ck+", ck_original_dir, ck_frames=1)) == 2
    with pytest.raises(FerBenchError):
        load_dataset("mnist")


# ------------------------------------------------------------------------------------------------- synthetic

def test_synthetic_is_deterministic_and_seeded():
    """Same seed -> same fingerprint and images; another seed -> different data. (How fast it is drawn is reported
    by `fer-bench benchmark`, never asserted here.)"""
    a = make_synthetic()
    b = make_synthetic()
    assert a.fingerprint == b.fingerprint
    for field in ("images", "labels", "subjects", "sample_ids"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert make_synthetic(seed=1).fingerprint != a.fingerprint
    assert len(a) == 980


def test_synthetic_has_seven_balanced_classes_and_several_subjects(synthetic):
    """7 FER classes, equally represented, 20 subjects each with every class, uint8 48x48 non-flat images."""
    _assert_images(synthetic, 980)
    assert synthetic.class_names == FER_CLASSES
    assert synthetic.class_counts() == {c: 140 for c in FER_CLASSES}
    assert len(set(synthetic.subjects)) == 20
    for s in set(synthetic.subjects):
        assert set(synthetic.labels[synthetic.subjects == s]) == set(range(7))
    assert len(set(synthetic.sample_ids)) == len(synthetic)
    assert synthetic.splits is None
    assert synthetic.images.std(axis=(1, 2)).min() > 10
    assert load_dataset("synthetic").fingerprint == synthetic.fingerprint


def test_dataset_validates_its_arrays():
    """A Dataset refuses zero images (DataError), misaligned arrays and non-uint8 images (ValueError)."""
    img = np.zeros((2, 48, 48), np.uint8)
    with pytest.raises(DataError, match="no images"):
        Dataset("x", "l", np.zeros((0, 48, 48), np.uint8), np.array([], int), ("a",), np.array([]))
    with pytest.raises(ValueError, match="labels"):
        Dataset("x", "l", img, np.array([0]), ("a",), np.array(["1", "2"]))
    with pytest.raises(ValueError, match="uint8"):
        Dataset("x", "l", img.astype(float), np.array([0, 0]), ("a",), np.array(["1", "2"]))
    with pytest.raises(ValueError, match="split_is_official needs splits"):
        Dataset("x", "l", img, np.array([0, 0]), ("a",), np.array(["1", "2"]), split_is_official=True)


# ------------------------------------------------------------- FER2013 CSV: copies and encodings

PIXELS = " ".join(["128"] * 2304)


def _fer_csv(path: Path, *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{k},{PIXELS},{usage}" for usage in ("Training", "PublicTest", "PrivateTest") for k in range(7)]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\n".join(["emotion,pixels,Usage", *rows, ""]).encode())
    return path


def test_several_candidate_copies_are_refused_not_picked(tmp_path):
    _fer_csv(tmp_path / "one" / "fer2013.csv")
    _fer_csv(tmp_path / "one" / "a_backup.csv")
    with pytest.raises(DataError, match="2 FER2013 CSV files .*a_backup.csv, fer2013.csv"):
        detect_layout("fer2013", tmp_path / "one")
    _fer_csv(tmp_path / "two" / "a" / "fer2013.csv")
    _fer_csv(tmp_path / "two" / "b" / "fer2013.csv")
    with pytest.raises(DataError, match="2 copies of fer2013 found"):
        detect_layout("fer2013", tmp_path / "two")


def test_a_csv_with_a_byte_order_mark_loads_and_a_non_utf8_row_is_named(tmp_path):
    ds = load_dataset("fer2013", _fer_csv(tmp_path / "bom" / "fer2013.csv", bom=True))
    assert len(ds) == 21 and ds.sample_ids[0] == "fer2013.csv:2"
    bad = _fer_csv(tmp_path / "latin" / "fer2013.csv")
    bad.write_bytes(bad.read_bytes() + b"1,\xe9\xe9,Training\n")
    with pytest.raises(DataError, match="fer2013.csv row 23: not UTF-8"):
        load_dataset("fer2013", bad)


@pytest.mark.parametrize("limit", [2000, 1000])  # 48 x 48 = 2,304 pixels: Pillow's warning, then its error
def test_an_image_over_pillows_bomb_limit_is_unreadable_input_said_in_words(tmp_path, monkeypatch, face_pool, limit):
    import warnings

    from PIL import Image

    from benchmark.datasets._base import read_gray
    from benchmark.predict._inputs import UnreadableInput, read_image

    path = tmp_path / "big.png"
    Image.fromarray(face_pool[0]).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw Pillow warning reaches the user
        with pytest.raises(ValueError, match=r"over Pillow's decompression-bomb limit \(0 megapixels\); downscale it"):
            read_gray(path)
        with pytest.raises(UnreadableInput, match=r"over Pillow's decompression-bomb limit \(0 megapixels\); "
                                                  r"downscale it\)"):
            read_image(path)
