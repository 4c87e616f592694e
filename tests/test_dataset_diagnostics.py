"""Dataset.diagnostics on real on-disk layouts: duplicates, blank and converted images, unlike splits, warnings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from benchmark.datasets import load_dataset
from benchmark.datasets._ckplus import load_ck48
from benchmark.datasets._fer2013 import load_fer2013_csv, load_fer2013_folders


def _row_id(i: int) -> str:
    """The sample id of plan row ``i`` in a CSV written by write_fer_csv (line 1 is the header)."""
    return f"fer2013.csv:{i + 2}"


def _warnings_with(ds, text: str) -> list[str]:
    return [w for w in ds.diagnostics["warnings"] if text in w]


@pytest.fixture
def odd_csv(tmp_path, write_fer_csv, fer_plan, face_pool):
    """The default 49-row plan (rows 0-20 Training, 21-34 PublicTest, 35-48 PrivateTest; label = row // 3 in
    Training), with planted oddities:

    - row 35 (PrivateTest, Angry) repeats row 0 (Training, Angry): a cross-split duplicate;
    - row 4 (Training, Disgust) repeats row 1 (Training, Angry): a label conflict;
    - rows 10 (Training) and 22 (PublicTest) are blank (all 0): blank, and not a duplicate group;
    - row 6 is row 7 with one pixel changed: not a duplicate.
    """
    images = face_pool[:len(fer_plan)].copy()
    images[35] = images[0]
    images[4] = images[1]
    images[[10, 22]] = 0
    images[6] = images[7]
    images[6, 20, 20] ^= 1
    return write_fer_csv(tmp_path / "fer2013.csv", fer_plan, images=images)


def test_csv_duplicates_conflicts_and_blank_images_are_counted_with_examples(odd_csv):
    """Cross-split duplicates, label conflicts and blank images are counted, with their ids, splits and labels."""
    d = load_fer2013_csv(odd_csv).diagnostics
    dup = d["duplicates"]
    assert (dup["all"]["groups"], dup["all"]["images"]) == (2, 4)
    assert [g["ids"] for g in dup["all"]["examples"]] == [[_row_id(0), _row_id(35)], [_row_id(1), _row_id(4)]]
    assert dup["cross_split"] == {"groups": 1, "images": 2, "examples": [
        {"size": 2, "ids": [_row_id(0), _row_id(35)], "labels": ["Angry"], "splits": ["Training", "PrivateTest"]}]}
    assert dup["label_conflicts"] == {"groups": 1, "images": 2, "examples": [
        {"size": 2, "ids": [_row_id(1), _row_id(4)], "labels": ["Angry", "Disgust"], "splits": ["Training"]}]}
    assert dup["cross_subject"] is None  # FER2013 has no subjects
    assert d["blank"] == {"count": 2, "examples": [{"id": _row_id(10), "value": 0}, {"id": _row_id(22), "value": 0}]}


def test_csv_findings_each_get_a_warning_with_an_example(odd_csv):
    """Every planted finding gets one warning naming its count and an example; nothing else is warned about."""
    ds = load_fer2013_csv(odd_csv)
    assert _warnings_with(ds, "2 groups (4 images) of pixel-identical images, e.g. fer2013.csv:2 (Angry, Training)")
    assert _warnings_with(ds, "spanning splits") == [
        "1 duplicate group (2 images) spanning splits, the same face in training and test data, e.g. "
        "fer2013.csv:2 (Angry, Training) = fer2013.csv:37 (Angry, PrivateTest)"]
    assert _warnings_with(ds, "1 duplicate group (2 images) with conflicting labels, e.g. fer2013.csv:3 (Angry, "
                              "Training) = fer2013.csv:6 (Disgust, Training)")
    assert _warnings_with(ds, "2 blank (constant) images, e.g. fer2013.csv:12 (Happy, Training): every pixel is 0")
    assert len(ds.diagnostics["warnings"]) == 4


def test_clean_csv_has_no_warnings_and_its_split_is_official(fer_csv):
    """The same layout without planted oddities: no warnings, official split, per-split statistics present."""
    ds = load_fer2013_csv(fer_csv)
    assert ds.split_is_official is True and ds.summary()["split_is_official"] is True
    d = ds.diagnostics
    assert d["warnings"] == [] and d["unlike_splits"] == []
    assert d["duplicates"]["all"] == {"groups": 0, "images": 0, "examples": []}
    assert list(d["pixel_stats"]) == ["all", "Training", "PublicTest", "PrivateTest"]
    assert [d["pixel_stats"][s]["n"] for s in ("all", "Training", "PublicTest", "PrivateTest")] == [49, 21, 14, 14]
    train = ds.images[ds.splits == "Training"].astype(float)
    assert d["pixel_stats"]["Training"]["mean"] == pytest.approx(train.mean(), abs=0.01)
    assert d["pixel_stats"]["Training"]["std"] == pytest.approx(train.std(), abs=0.01)


def test_sharpness_is_the_mean_variance_of_the_laplacian(fer_csv):
    """Sharpness matches scipy's Laplacian variance over each image's interior pixels, averaged."""
    from scipy.ndimage import laplace

    ds = load_fer2013_csv(fer_csv)
    expected = np.mean([laplace(img.astype(float))[1:-1, 1:-1].var() for img in ds.images])
    assert ds.diagnostics["pixel_stats"]["all"]["sharpness"] == pytest.approx(expected, abs=0.1)


@pytest.mark.parametrize("split", ["Training", "PrivateTest"])
def test_a_blurred_split_is_named_in_a_warning(tmp_path, write_fer_csv, fer_plan, face_pool, split):
    """One split blurred (Gaussian, sigma 1.2, as in the blurred FER2013 folder copy) is the one warned about."""
    images = face_pool[:len(fer_plan)].copy()
    rows = [i for i, (usage, _) in enumerate(fer_plan) if usage == split]
    images[rows] = np.round(gaussian_filter(images[rows].astype(float), sigma=(0, 1.2, 1.2))).astype(np.uint8)
    ds = load_fer2013_csv(write_fer_csv(tmp_path / "fer2013.csv", fer_plan, images=images))
    unlike = {u["statistic"]: u for u in ds.diagnostics["unlike_splits"]}
    assert {u["split"] for u in unlike.values()} == {split}  # the blur also lowers std on these noisy faces
    sharpness = unlike["sharpness"]
    assert set(sharpness["others"]) == {"Training", "PublicTest", "PrivateTest"} - {split}
    assert min(sharpness["others"].values()) > 4 * sharpness["value"]
    assert _warnings_with(ds, f"split {split} is unlike the others: sharpness (mean variance of the Laplacian)")


def test_a_darker_split_is_warned_about_by_its_mean(tmp_path, write_fer_csv, fer_plan, face_pool):
    """A PublicTest 40 grey levels darker than the rest is told by its mean (not by sharpness)."""
    images = face_pool[:len(fer_plan)].astype(int)
    rows = [i for i, (usage, _) in enumerate(fer_plan) if usage == "PublicTest"]
    images[rows] -= 40
    ds = load_fer2013_csv(write_fer_csv(tmp_path / "fer2013.csv", fer_plan, images=np.clip(images, 0, 255)))
    assert [(u["split"], u["statistic"]) for u in ds.diagnostics["unlike_splits"]] == [("PublicTest", "mean")]
    assert _warnings_with(ds, "split PublicTest is unlike the others: mean pixel value")


def test_folder_images_not_48_gray_are_counted_as_converted(tmp_path, write_fer_folders, fer_plan):
    """A 64x64 RGB jpg is loaded (converted) and counted with its original size and mode; 48x48 gray ones are not."""
    root = write_fer_folders(tmp_path / "f", fer_plan)
    rgb = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(root / "train" / "sad" / "Training_big.jpg")
    ds = load_fer2013_folders(root)
    assert ds.converted == [{"path": "train/sad/Training_big.jpg", "original": "64x64 RGB"}]
    assert ds.diagnostics["converted"] == {"count": 1, "examples": ds.converted}
    assert ds.diagnostics["warnings"] == ["1 image converted to 48x48 grayscale: train/sad/Training_big.jpg "
                                          "(was 64x64 RGB)"]


def test_skipped_inputs_are_counted_and_named_in_a_warning(fer_folders):
    """A corrupt file stays in Dataset.skipped, is counted in diagnostics and named in a warning."""
    (fer_folders / "test" / "fear" / "PublicTest_1.jpg").write_bytes(b"not a jpeg")
    ds = load_fer2013_folders(fer_folders)
    assert ds.diagnostics["skipped"] == {"count": 1, "examples": ["test/fear/PublicTest_1.jpg"]}
    [warning] = ds.diagnostics["warnings"]
    assert warning.startswith("1 input skipped and left out of the data: test/fear/PublicTest_1.jpg (unreadable")


def test_folders_without_prefixes_are_marked_unofficial_and_warned_about(tmp_path, write_fer_folders, fer_plan):
    """Unprefixed test/ images are halved at random: split_is_official is False, and a warning says so."""
    ds = load_fer2013_folders(write_fer_folders(tmp_path / "f", fer_plan, prefixes=False))
    assert ds.split_is_official is False and ds.summary()["split_is_official"] is False
    assert _warnings_with(ds, "NOT the official ones")
    official = load_fer2013_folders(write_fer_folders(tmp_path / "g", fer_plan))
    assert official.split_is_official is True and official.diagnostics["warnings"] == []


def test_ck48_duplicates_across_subjects(ck48_dir):
    """On CK+48 (subjects, no splits) a face filed under two subjects is a cross-subject duplicate."""
    source = ck48_dir / "anger" / "S005_001_00000012.png"
    (ck48_dir / "anger" / "S010_001_00000012.png").write_bytes(source.read_bytes())
    ds = load_ck48(ck48_dir)
    assert ds.split_is_official is None and list(ds.diagnostics["pixel_stats"]) == ["all"]
    dup = ds.diagnostics["duplicates"]
    assert dup["cross_split"] is None
    assert dup["cross_subject"]["examples"] == [{"size": 2, "ids": ["anger/S005_001_00000012.png",
                                                                    "anger/S010_001_00000012.png"],
                                                 "labels": ["anger"], "subjects": ["S005", "S010"]}]
    assert _warnings_with(ds, "1 duplicate group (2 images) spanning subjects")


def test_synthetic_has_no_warnings_and_an_unchanged_fingerprint(synthetic):
    """The embedded dataset is clean: no findings, no warnings; diagnosing it leaves the fingerprint alone."""
    fingerprint = load_dataset("synthetic").fingerprint
    d = synthetic.diagnostics
    assert d["warnings"] == []
    assert (d["duplicates"]["all"]["groups"], d["blank"]["count"], d["converted"]["count"]) == (0, 0, 0)
    assert d["duplicates"]["cross_subject"]["groups"] == 0
    assert synthetic.split_is_official is None
    assert synthetic.fingerprint == fingerprint == synthetic.summary()["fingerprint"]


def test_examples_are_capped_so_the_manifest_stays_small(tmp_path, write_fer_csv, face_pool):
    """28 duplicate groups and one group of 8: at most 5 example groups, each with at most 5 ids."""
    plan = [(usage, label) for usage in ("Training", "PublicTest") for label in range(7) for _ in range(4)]
    images = np.concatenate([face_pool[:28], face_pool[:28]])
    images[[0, 1, 2, 3, 28, 29, 30, 31]] = face_pool[100]
    ds = load_fer2013_csv(write_fer_csv(tmp_path / "fer2013.csv", plan, images=images))
    dup = ds.diagnostics["duplicates"]["all"]
    assert (dup["groups"], dup["images"]) == (25, 56)
    assert len(dup["examples"]) == 5
    assert dup["examples"][0]["size"] == 8 and len(dup["examples"][0]["ids"]) == 5
    assert len(json.dumps(ds.summary())) < 4000


@pytest.mark.parametrize("make", ["odd_csv", "fer_folders", "ck48_dir", "synthetic"])
def test_summary_is_json_serialisable(request, make):
    """summary(), diagnostics included, survives a JSON round trip unchanged (no numpy scalars or arrays)."""
    source = request.getfixturevalue(make)
    ds = source if make == "synthetic" else load_dataset("ck+" if make == "ck48_dir" else "fer2013", source)
    summary = ds.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert set(summary["diagnostics"]) == {"skipped", "converted", "duplicates", "blank", "pixel_stats",
                                           "unlike_splits", "warnings"}
