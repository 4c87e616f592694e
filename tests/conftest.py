"""Shared fixtures: real on-disk dataset layouts written into tmp_path, an isolated feature cache, runs that
several modules read (made once per session). Slow tests carry ``@pytest.mark.slow`` in their own files.

Nothing here reads ../shared or downloads anything: every file is generated from the embedded synthetic
dataset, random noise, or scikit-image's bundled astronaut photograph.
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# A pytest-xdist worker starts with COLUMNS=80 and LINES=24 in its environment (GNU readline, imported with pdb,
# exports the size of a terminal the worker does not have). rich reads COLUMNS when a console is made, at import,
# and keeps that width for good, so a test could no longer widen the CLI's console with COLUMNS as it can in a
# plain pytest run. Drop them before anything imports the CLI.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    # One thread per worker for TensorFlow (make test starts one worker per core): it would otherwise start a pool
    # of a thread per core in every worker, and on a 2-core machine the workers' threads then wait on each other.
    # Not OMP_NUM_THREADS or OPENBLAS_NUM_THREADS: the tests' BLAS (PCA, features) would then run on one thread,
    # unlike a user's (oneDAL's SVMs fit on one thread anyway: models/_onedal.py).
    os.environ.setdefault("FER_BENCH_TF_THREADS", "1")

from benchmark.datasets import FER_CLASSES, make_synthetic  # noqa: E402

#: Kaggle folder names in FER_CLASSES order (label index = position).
FER_FOLDER_NAMES = tuple(c.lower() for c in FER_CLASSES)
CK48_NAMES = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")


#: The test files that take longest on a 2-core machine (measured with --durations=0, longest first). They are
#: collected first, so that pytest-xdist's workers, which take whole files in collection order (--dist loadfile
#: with --no-loadscope-reorder, as the Makefile runs them), start with them and finish together, instead of one
#: worker running a long file alone at the end. test_report_trust.py comes second: it is the first to ask for the
#: session's shared CNN run (:func:`small_cnn_run`), which it trains while the other worker runs the cluster tests,
#: so that no worker waits for it.
LONGEST_FIRST = ("test_cluster.py", "test_report_trust.py", "test_suite.py", "test_latex.py", "test_export.py",
                 "test_report.py", "test_deep_runs.py", "test_cnn_models.py", "test_backends.py",
                 "test_experiment.py", "test_cli.py", "test_perf.py", "test_svm_backends.py", "test_cross_dataset.py",
                 "test_kinds.py", "test_features.py")


def pytest_collection_modifyitems(items):
    """Put the files of :data:`LONGEST_FIRST` first, in its order; the rest keep theirs."""
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: tests keep their order in a file


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test writes into ~/.cache or reads a user's ./data: both point into the test's tmp_path."""
    monkeypatch.setenv("FER_BENCH_CACHE", str(tmp_path / "fer-cache"))
    monkeypatch.setenv("FER_BENCH_DATA", str(tmp_path / "no-data-here"))


@pytest.fixture(scope="module")
def tiny_cnn():
    """The test CNN's name, registered for the rest of the module (``tests/tiny_cnn.py``: traced in a fraction of a
    second, for tests of the machinery around training, where the architecture does not matter)."""
    import tiny_cnn as module

    with module.registered():
        yield module.MODEL


@pytest.fixture(scope="session")
def synthetic():
    """The embedded synthetic dataset with its defaults (980 images, 20 subjects); treat as read-only."""
    return make_synthetic()


@dataclass(frozen=True)
class SharedRun:
    """A complete run made once per session with `fer-bench run`; read-only (copy the folder to change it)."""

    result: object  # the CliRunner result: what the user saw
    run_dir: Path
    cache: Path  # the feature cache the run filled; it was the first to use it


def _shared_run(root: Path, *args: str) -> SharedRun:
    from typer.testing import CliRunner

    from benchmark.cli import app

    reports, cache = root / "reports", root / "cache"
    isolated = {"FER_BENCH_CACHE": str(root / "env-cache"), "FER_BENCH_DATA": str(root / "no-data")}
    result = CliRunner().invoke(app, ["run", *args, "--reports-dir", str(reports), "--cache-dir", str(cache)],
                                env=isolated)
    assert result.exit_code == 0, result.output
    runs = sorted((reports / "runs").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith("."), runs
    return SharedRun(result, runs[0], cache)


@pytest.fixture(scope="session")
def synthetic_linear_run(tmp_path_factory) -> SharedRun:
    """svm-linear on hog features of the 980 synthetic faces, 3 outer / 2 inner folds, seed 0, all cores, into a
    fresh reports folder and feature cache. Slow (about 10 s): tests using it are marked slow."""
    return _shared_run(tmp_path_factory.mktemp("synthetic-linear"), "--dataset", "synthetic", "--model",
                       "svm-linear", "--seed", "0", "--features", "hog", "--folds", "3", "--inner-folds", "2")


@pytest.fixture(scope="session")
def fer2013_linear_run(tmp_path_factory, learnable_fer_plan, write_fer_csv) -> SharedRun:
    """svm-linear on hog features of the learnable tiny FER2013 CSV (``learnable_fer_plan``; official split),
    seed 0, all cores, into a fresh reports folder and feature cache."""
    root = tmp_path_factory.mktemp("fer2013-linear")
    plan, images = learnable_fer_plan
    csv = write_fer_csv(root / "fer2013" / "fer2013.csv", plan, images=images)
    return _shared_run(root, "--dataset", "fer2013", "--model", "svm-linear", "--seed", "0", "--features", "hog",
                       "--data-dir", str(csv))


@pytest.fixture(scope="session")
def small_synthetic():
    """84 synthetic faces of 6 subjects (2 per class and subject, data seed 1): enough for 3 subject-independent
    folds with a carved validation part; treat as read-only."""
    return make_synthetic(n_subjects=6, images_per_class=2, seed=1)


@pytest.fixture(scope="session")
def small_cnn_run(tmp_path_factory, small_synthetic) -> Path:
    """mini-xception (1 epoch, batch 16) on :func:`small_synthetic`, 3 outer / 2 inner folds, seed 0: trained once
    per test session, shared by the pytest-xdist workers (the first to take the lock trains it, the others wait and
    read it), so the modules that need a CNN run beside their own runs copy this one (``copy_run``) instead of
    training their own. Treat as read-only."""
    import fcntl

    from benchmark.experiment import RunConfig, run_experiment

    shared = tmp_path_factory.getbasetemp()
    # the session's folder, common to its workers (without pytest-xdist, or with -p no:xdist, the only one)
    shared = shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared
    with open(shared / "small-cnn-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "small-cnn-run.done"
        if not done.exists():
            run_dir, _ = run_experiment(RunConfig(
                dataset="synthetic", model="mini-xception", folds=3, inner_folds=2, seed=0, epochs=1, batch_size=16,
                reports_dir=str(shared / "small-cnn-run")), dataset=small_synthetic)
            done.write_text(str(run_dir))
        return Path(done.read_text())


def copy_run(run_dir: Path, reports_dir: Path) -> Path:
    """A copy of a complete run folder into ``reports_dir/runs`` (as a user moves runs between reports folders)."""
    import shutil

    return Path(shutil.copytree(run_dir, Path(reports_dir) / "runs" / run_dir.name))


@pytest.fixture(scope="session")
def face_pool(synthetic):
    """48x48 uint8 face images to write into fixture files (distinct images, in a fixed order)."""
    return synthetic.images


@pytest.fixture(scope="session")
def astronaut_gray():
    """skimage's astronaut photograph (a real face) as uint8 grayscale 512x512."""
    from skimage import color, data

    return (color.rgb2gray(data.astronaut()) * 255).round().astype(np.uint8)


@pytest.fixture(scope="session")
def astronaut_face(astronaut_gray):
    """The astronaut's face cropped (rows 30:200, cols 150:320) and resized to a 48x48 uint8 face crop."""
    crop = Image.fromarray(astronaut_gray[30:200, 150:320]).resize((48, 48), Image.BILINEAR)
    return np.asarray(crop, dtype=np.uint8).copy()


def fer_split_plan(per_split=(("Training", 3), ("PublicTest", 2), ("PrivateTest", 2))):
    """(usage, label) pairs in the real CSV order: all Training rows, then PublicTest, then PrivateTest."""
    return [(usage, label) for usage, n in per_split for label in range(len(FER_CLASSES)) for _ in range(n)]


@pytest.fixture
def fer_plan():
    """Default tiny FER2013: 7 classes x (3 Training, 2 PublicTest, 2 PrivateTest) = 49 images."""
    return fer_split_plan()


@pytest.fixture(scope="session")
def write_fer_csv(face_pool):
    """Factory: write a FER2013 challenge CSV (header emotion,pixels,Usage) for a plan of (usage, label).

    Row i gets ``images[i]`` (default: the i-th image of the face pool, whatever its expression).
    """

    def write(path: Path, plan, *, header="emotion,pixels,Usage", images=None) -> Path:
        images = face_pool if images is None else images
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [header]
        for i, (usage, label) in enumerate(plan):
            pixels = " ".join(map(str, images[i].ravel()))
            lines.append(f"{label},{pixels},{usage}")
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


@pytest.fixture(scope="session")
def learnable_fer_plan(synthetic):
    """(plan, images) for a tiny FER2013 whose labels can be learned: Training from 10 synthetic subjects,
    PublicTest and PrivateTest from 5 other subjects each, 2 images per class and subject (pass both to
    ``write_fer_csv``)."""
    plan, images = [], []
    for usage, subjects in (("Training", range(0, 10)), ("PublicTest", range(10, 15)),
                            ("PrivateTest", range(15, 20))):
        for s in subjects:
            for label in range(7):
                idx = np.flatnonzero((synthetic.subjects == f"P{s:02d}") & (synthetic.labels == label))[:2]
                plan += [(usage, label)] * len(idx)
                images += list(synthetic.images[idx])
    return plan, np.stack(images)


@pytest.fixture
def fer_csv(tmp_path, write_fer_csv, fer_plan):
    """A well-formed tiny fer2013.csv in tmp_path/fer2013/."""
    return write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", fer_plan)


@pytest.fixture(scope="session")
def write_fer_folders(face_pool):
    """Factory: write Kaggle's train/<class>/*.jpg + test/<class>/*.jpg layout for a plan of (usage, label).

    Files keep the official split in their Training_/PublicTest_/PrivateTest_ prefix unless ``prefixes`` is
    False, in which case test/ files are named by number only (the unofficial variant).
    """

    def write(root: Path, plan, *, prefixes=True) -> Path:
        for name in FER_FOLDER_NAMES:
            (root / "train" / name).mkdir(parents=True, exist_ok=True)
            (root / "test" / name).mkdir(parents=True, exist_ok=True)
        for i, (usage, label) in enumerate(plan):
            folder = "train" if usage == "Training" else "test"
            stem = f"{usage}_{10000000 + 37 * i}" if prefixes or usage == "Training" else f"{i:05d}"
            Image.fromarray(face_pool[i]).save(root / folder / FER_FOLDER_NAMES[label] / f"{stem}.jpg",
                                                        quality=95)
        return root

    return write


@pytest.fixture
def fer_folders(tmp_path, write_fer_folders, fer_plan):
    """A well-formed tiny Kaggle-folder FER2013 in tmp_path/fer2013-folders/ (same images as ``fer_csv``)."""
    return write_fer_folders(tmp_path / "fer2013-folders", fer_plan)


#: CK+48 plan: emotion -> subjects having one 3-frame sequence of it. 7 subjects overall, 19 sequences, 57 images.
CK48_PLAN = {
    "anger": ["S005", "S010", "S011"],
    "contempt": ["S014", "S022"],
    "disgust": ["S005", "S011", "S026"],
    "fear": ["S010", "S014"],
    "happy": ["S005", "S010", "S022", "S026"],
    "sadness": ["S011", "S032"],
    "surprise": ["S014", "S026", "S032"],
}


@pytest.fixture
def ck48_plan():
    """The default CK+48 fixture plan (emotion -> subjects with one 3-frame sequence)."""
    return {k: list(v) for k, v in CK48_PLAN.items()}


@pytest.fixture(scope="session")
def write_ck48(face_pool):
    """Factory: write CK+48's <emotion>/S###_###_########.png layout (48x48 grayscale PNG, 3 frames each)."""

    def write(root: Path, plan=None) -> Path:
        plan = CK48_PLAN if plan is None else plan
        i = 0
        for seq_no, (emotion, subjects) in enumerate(plan.items(), start=1):
            (root / emotion).mkdir(parents=True, exist_ok=True)
            for subject in subjects:
                for frame in (12, 13, 14):
                    name = f"{subject}_{seq_no:03d}_{frame:08d}.png"
                    Image.fromarray(face_pool[i]).save(root / emotion / name)
                    i += 1
        return root

    return write


@pytest.fixture
def ck48_dir(tmp_path, write_ck48):
    """A well-formed tiny CK+48 tree in tmp_path/CK+48/."""
    return write_ck48(tmp_path / "CK+48")


@pytest.fixture(scope="session")
def ck_frame(astronaut_gray):
    """Factory: a 640x490 grayscale CK+-like frame with the astronaut's head, shifted by ``dx`` pixels."""
    head = np.asarray(Image.fromarray(astronaut_gray[0:300, 80:380]).resize((380, 380), Image.BILINEAR))

    def frame(dx: int = 0) -> np.ndarray:
        canvas = np.full((490, 640), 110, dtype=np.uint8)
        canvas[50:430, 130 + dx:510 + dx] = head
        return canvas

    return frame


@pytest.fixture
def ck_original_dir(tmp_path, ck_frame):
    """The original CK+ release layout: cohn-kanade-images/S###/###/*.png frames, Emotion/ label files.

    - S005/001: 5 frames, label 3 (disgust); its last frame is blank (no face) -> skipped and counted.
    - S010/002: 4 frames, label 5 (happy).
    - S010/003: 3 frames, no Emotion file -> an unlabelled sequence, ignored.
    - S011/001: 4 frames, label 7 (surprise).
    With the default 3 last frames: 9 chosen frames, 8 faces, 1 skipped.
    """
    root = tmp_path / "CK+"
    sequences = {("S005", "001"): (5, 3.0, True), ("S010", "002"): (4, 5.0, False),
                 ("S010", "003"): (3, None, False), ("S011", "001"): (4, 7.0, False)}
    for (subject, seq), (n_frames, code, blank_last) in sequences.items():
        frames_dir = root / "cohn-kanade-images" / subject / seq
        frames_dir.mkdir(parents=True)
        for k in range(1, n_frames + 1):
            img = ck_frame(dx=4 * k)
            if blank_last and k == n_frames:
                img = np.full_like(img, 95)
            Image.fromarray(img).save(frames_dir / f"{subject}_{seq}_{k:08d}.png")
        if code is not None:
            label_dir = root / "Emotion" / subject / seq
            label_dir.mkdir(parents=True)
            (label_dir / f"{subject}_{seq}_{n_frames:08d}_emotion.txt").write_text(f"   {code:.7e}\n")
    return root
