"""What the CLI says when the user or the environment gets something wrong. The bad-input matrix: every user or environment mistake ends in exactly one ``error:`` line and the binding
exit code (2 before any work, 1 after work started, 130 interrupted), with no traceback, no complete run folder
left behind and no complete run lost.

Each case runs the real console script entry point (:func:`benchmark.cli.main`, which also turns command-line
parsing mistakes into one line) in-process. Tests run as root, for whom ``chmod`` does not make a folder
read-only, so unwritable places are simulated: a file where a folder should be, or a patched call raising
``PermissionError`` / ``OSError(ENOSPC)``.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image

from cli_helpers import one_error as _one_error
from benchmark.cli import main

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
SENTINEL = "20240101T000000000000Z_synthetic_svm-linear_hog_s0_0123456789"
FAST = ["--dataset", "synthetic", "--model", "svm-linear", "--features", "lbp", "--folds", "2", "--inner-folds", "2",
        "--n-jobs", "1"]


@dataclass
class Env:
    """The per-case sandbox: a reports folder holding one complete run that must survive the mistake."""

    root: Path
    monkeypatch: pytest.MonkeyPatch
    extra: dict = field(default_factory=dict)

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def path(self, name: str) -> str:
        return str(self.root / name)


def _sentinel(reports: Path) -> Path:
    run = reports / "runs" / SENTINEL
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"accuracy": 0.5}\n')
    return run


def _invoke(argv: list, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, ANSI.sub("", captured.out + captured.err)


def _deny_writes_under(env: Env, root: Path, error: OSError) -> None:
    """Make every file or folder creation under ``root`` fail with ``error`` (a read-only or full disk)."""
    real_open, real_mkdir = os.open, os.mkdir

    def under(path) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(root.resolve())
        except (TypeError, ValueError):
            return False

    def guarded_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and under(path):
            raise type(error)(error.errno, error.strerror, os.fsdecode(path))
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if under(path):
            raise type(error)(error.errno, error.strerror, os.fsdecode(path))
        return real_mkdir(path, *args, **kwargs)

    import builtins
    import io
    real_builtin_open = builtins.open

    def guarded_builtin_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and under(file):
            raise type(error)(error.errno, error.strerror, os.fsdecode(file))
        return real_builtin_open(file, mode, *args, **kwargs)

    env.monkeypatch.setattr(os, "open", guarded_open)
    env.monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    env.monkeypatch.setattr(builtins, "open", guarded_builtin_open)
    env.monkeypatch.setattr(io, "open", guarded_builtin_open)


# ------------------------------------------------------------------------------------------------ case setups

def _fer_csv(env: Env, rows: list[str], header: str = "emotion,pixels,Usage") -> str:
    path = env.root / "fer2013" / "fer2013.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return str(path)


PIXELS = " ".join(["128"] * 2304)


def _ck48(env: Env, *, bad_name: bool = False, corrupt: bool = False) -> str:
    root = env.root / "CK+48"
    for k, emotion in enumerate(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")):
        (root / emotion).mkdir(parents=True)
        for s in range(3):
            Image.new("L", (48, 48), 40 * k + s).save(root / emotion / f"S{s:03d}_001_{k:08d}.png")
    if bad_name:
        Image.new("L", (48, 48), 3).save(root / "anger" / "face.png")
    if corrupt:
        (root / "happy" / "S009_001_00000001.png").write_bytes(b"not a png")
    return str(root)


def _suite(env: Env, text: str, *, raw: bytes | None = None) -> str:
    path = env.root / "suite.toml"
    if raw is not None:
        path.write_bytes(raw)
    else:
        path.write_text(text)
    return str(path)


SUITE_OK = "[[experiment]]\ndatasets = ['synthetic']\nmodels = ['svm-linear']\nfeatures = ['lbp']\n"


@dataclass
class Case:
    id: str
    argv: Callable[[Env], list[str]]
    code: int
    fragments: tuple[str, ...]
    setup: Callable[[Env], None] | None = None


def run(*args: str, fast: bool = True) -> Callable[[Env], list[str]]:
    return lambda env: ["run", *(FAST if fast else []), "--reports-dir", str(env.reports),
                        "--cache-dir", env.path("cache"), *args]


def run_on(dataset_path: Callable[[Env], str], dataset: str, *args: str) -> Callable[[Env], list[str]]:
    return lambda env: ["run", "--dataset", dataset, "--model", "svm-linear", "--features", "lbp", "--data-dir",
                        dataset_path(env), "--reports-dir", str(env.reports), "--cache-dir", env.path("cache"),
                        *args]


def suite_of(text: str = SUITE_OK, raw: bytes | None = None, *extra: str) -> Callable[[Env], list[str]]:
    return lambda env: ["suite", _suite(env, text, raw=raw), "--reports-dir", str(env.reports), *extra]


CASES = [
    # ---- options of `run`
    Case("seed-negative", run("--seed", "-1"), 2, ("--seed", "got -1")),
    Case("seed-too-large", run("--seed", "99999999999"), 2, ("--seed", "99999999999")),
    Case("seed-not-a-number", run("--seed", "abc"), 2, ("--seed",)),
    Case("n-jobs-zero", run("--n-jobs", "0"), 2, ("--n-jobs", "got 0")),
    Case("folds-zero", run("--folds", "0"), 2, ("--folds", "at least 2", "got 0")),
    Case("folds-one", run("--folds", "1"), 2, ("--folds", "got 1")),
    Case("inner-folds-one", run("--inner-folds", "1"), 2, ("--inner-folds", "got 1")),
    Case("folds-more-than-subjects", run("--folds", "50"), 2, ("20 subjects cannot fill 50",)),
    Case("pca-too-many", run("--pca", "100000"), 2, ("--pca 100000", "at most")),
    Case("pca-zero", run("--pca", "0"), 2, ("--pca",)),
    Case("pca-negative", run("--pca", "-5"), 2, ("--pca",)),
    Case("pca-word", run("--pca", "many"), 2, ("--pca", "'many'")),
    Case("feature-unknown", run("--features", "sift"), 2, ("unknown feature 'sift'",)),
    Case("feature-twice", run("--features", "hog+hog"), 2, ("feature listed twice",)),
    Case("model-unknown", run("--model", "svm-quantum"), 2, ("unknown model 'svm-quantum'",)),
    Case("dataset-unknown", run("--dataset", "affectnet"), 2, ("unknown dataset 'affectnet'",)),
    Case("option-unknown", run("--colour", "red"), 2, ("--colour",)),
    Case("cnn-option-on-svm", run("--epochs", "3"), 2, ("--epochs only applies to CNNs",)),
    Case("svm-backend-misspelt", run("--svm-backend", "liblinaer"), 2,
         ("--svm-backend must be one of", "got 'liblinaer' (did you mean liblinear?)")),
    Case("mirror-misspelt", run("--mirror", "of"), 2, ("--mirror must be one of on, off", "(did you mean off?)")),
    Case("cnn-optimizer-misspelt", run("--model", "mini-xception", "--features", "pixels", "--optimizer", "sgdd"), 2,
         ("--optimizer must be adam or sgd", "got 'sgdd' (did you mean sgd?)")),
    Case("cnn-lr-zero", run("--model", "mini-xception", "--features", "pixels", "--lr", "0"), 2, ("--lr",)),
    Case("cnn-batch-zero", run("--model", "mini-xception", "--features", "pixels", "--batch-size", "0"), 2,
         ("--batch-size",)),
    Case("cnn-not-pretrainable", run("--model", "mini-xception", "--features", "pixels", "--pretrained"), 2,
         ("--pretrained: mini-xception",)),
    Case("ck-frames-zero", run("--ck-frames", "0"), 2, ("--ck-frames", "got 0")),
    # ---- data files
    Case("data-dir-missing", run_on(lambda env: env.path("nowhere"), "ck+"), 2, ("nowhere: no such file or folder",)),
    Case("fer-csv-bad-header", run_on(lambda env: _fer_csv(env, [f"0,{PIXELS},Training"], header="label,pix,use"),
                                      "fer2013"), 2, ("no fer2013 data found",)),
    Case("fer-csv-short-row", run_on(lambda env: _fer_csv(env, [f"0,{PIXELS},Training", "3,1 2 3,Training"]),
                                     "fer2013"), 2, ("fer2013.csv row 3", "expected 2304 pixel values")),
    Case("fer-csv-bad-emotion", run_on(lambda env: _fer_csv(env, [f"9,{PIXELS},Training"]), "fer2013"), 2,
         ("row 2", "emotion '9'")),
    Case("fer-csv-bad-usage", run_on(lambda env: _fer_csv(env, [f"1,{PIXELS},Validation"]), "fer2013"), 2,
         ("row 2", "Usage 'Validation'")),
    Case("fer-csv-no-rows", run_on(lambda env: _fer_csv(env, []), "fer2013"), 2, ("no data rows",)),
    Case("fer-csv-field-over-the-csv-limit", run_on(lambda env: _fer_csv(
        env, [f"0,{PIXELS},Training", "1," + "1 " * 70_000 + ",Training"]), "fer2013"), 2,
        ("fer2013.csv row 3", "not a CSV row", "field limit", "expected emotion,pixels,Usage")),
    Case("fer-split-missing", run_on(lambda env: _fer_csv(env, [f"1,{PIXELS},Training"]), "fer2013"), 2,
         ("PublicTest split is empty",)),
    Case("fer-csv-not-utf8", run_on(lambda env: _fer_csv_bytes(env, f"0,{PIXELS},Training\n".encode()
                                                                + b"1,\xff\xfe,Training\n"), "fer2013"), 2,
         ("not UTF-8",)),
    Case("fer-csv-unreadable", run_on(lambda env: env.extra["csv"], "fer2013"), 2,
         ("cannot read the data", "Permission denied"), setup=lambda env: _unreadable_csv(env)),
    Case("ck-original-bad-label", run_on(lambda env: _ck_original_bad_label(env), "ck+"), 2,
         ("_emotion.txt", "expected one number")),
    Case("fer-pca-beyond-training-images", run_on(lambda env: _fer_csv(
        env, [f"{k},{PIXELS},Training" for k in range(7)] + [f"0,{PIXELS},PublicTest", f"1,{PIXELS},PrivateTest"]),
        "fer2013", "--pca", "50", "--mirror", "off"), 2, ("--pca 50", "at most 7")),
    Case("fer-pca-beyond-training-and-mirror-images", run_on(lambda env: _fer_csv(
        env, [f"{k},{PIXELS},Training" for k in range(7)] + [f"0,{PIXELS},PublicTest", f"1,{PIXELS},PrivateTest"]),
        "fer2013", "--pca", "50"), 2, ("--pca 50", "at most 14", "mirror images included")),
    Case("ck48-bad-file-name", run_on(lambda env: _ck48(env, bad_name=True), "ck+"), 2,
         ("face.png", "S###_###_########.png")),
    Case("ck48-corrupt-image-strict", run_on(lambda env: _ck48(env, corrupt=True), "ck+", "--strict"), 2,
         ("S009_001_00000001.png", "unreadable image")),
    Case("fer-folders-given-as-ck", run_on(lambda env: str(_fer_folders(env)), "ck+"), 2,
         ("looks like FER2013",)),
    # ---- environment
    Case("reports-dir-is-a-file", lambda env: ["run", *FAST, "--reports-dir", env.extra["file"]], 2,
         ("is a file, expected a folder",), setup=lambda env: env.extra.update(file=_touch(env, "afile"))),
    Case("runs-is-a-file", lambda env: ["run", *FAST, "--reports-dir", env.path("r2")], 2,
         ("runs is a file",), setup=lambda env: env.extra.update(file=_touch(env, "r2/runs"))),
    Case("reports-dir-read-only", run(), 2, ("cannot write run folders", "Permission denied"),
         setup=lambda env: _deny_writes_under(env, env.reports / "runs",
                                              PermissionError(errno.EACCES, "Permission denied"))),
    Case("dlib-model-missing", run("--features", "landmarks"), 2, ("68-point", "FER_BENCH_DLIB_PREDICTOR"),
         setup=lambda env: env.monkeypatch.setenv("FER_BENCH_DLIB_PREDICTOR", env.path("missing.dat"))),
    # ---- report
    Case("report-no-runs", lambda env: ["report", "--reports-dir", env.path("empty")], 1, ("no complete runs",)),
    Case("report-dir-is-a-file", lambda env: ["report", "--reports-dir", env.extra["file"]], 2,
         ("afile",), setup=lambda env: env.extra.update(file=_touch(env, "afile"))),
    # ---- suites
    Case("suite-missing", lambda env: ["suite", env.path("nope.toml")], 2, ("suite file not found",)),
    Case("suite-is-a-folder", lambda env: ["suite", str(env.root)], 2, ("expected a suite TOML file",)),
    Case("suite-not-utf8", suite_of(raw="[suite]\nname = 'd\u00e9mo'\n".encode("latin-1") + SUITE_OK.encode()), 2,
         ("not UTF-8",)),
    Case("suite-not-toml", suite_of("[[experiment]\ndatasets = "), 2, ("not valid TOML",)),
    Case("suite-negative-seed", suite_of(SUITE_OK + "seeds = [-1]\n"), 2, ("--seed", "got -1")),
    Case("suite-unknown-model", suite_of(SUITE_OK.replace("svm-linear", "svm-quantum")), 2,
         ("unknown model 'svm-quantum'",)),
    Case("suite-pca-beyond-the-data", suite_of(SUITE_OK + "options = { pca = 5000 }\n"), 2,
         ("--pca 5000", "at most")),
    Case("suite-folds-beyond-subjects", suite_of(SUITE_OK + "options = { folds = 40 }\n"), 2,
         ("cannot fill 40",)),
    Case("suite-n-jobs-zero", suite_of(SUITE_OK + "options = { n_jobs = 0 }\n"), 2, ("--n-jobs",)),
    Case("suite-defaults-not-a-table", suite_of("defaults = 5\n" + SUITE_OK), 2, ("defaults must be a table",)),
    Case("suite-experiment-not-tables", suite_of("experiment = [1]\n"), 2, ("[[experiment]] tables",)),
    Case("suite-seed-and-seeds", suite_of("[defaults]\nseed = 1\nseeds = [2]\n" + SUITE_OK), 2,
         ("either seed or seeds",)),
    Case("suite-dry-run-checks-like-a-run", suite_of(SUITE_OK + "options = { folds = 1000 }\n", None, "--dry-run"),
         2, ("cannot fill 1000",)),
    Case("suite-claims-is-a-file", suite_of(), 2, (".claims is a file",),
         setup=lambda env: _touch(env, "reports/.claims")),
    Case("fer-one-class-in-training", run_on(lambda env: _fer_csv(
        env, [f"3,{PIXELS},Training"] * 3 + [f"0,{PIXELS},PublicTest", f"1,{PIXELS},PrivateTest"]), "fer2013"), 2,
         ("holds one class only (Happy)",)),
    Case("suite-bad-data-dir", lambda env: ["suite", _suite(env, SUITE_OK), "--data-dir", "ck+"], 2,
         ("expected NAME=PATH",)),
    # ---- other commands
    Case("datasets-missing-folder", lambda env: ["datasets", "--dataset", "ck+", "--data-dir", env.path("none")], 2,
         ("none: no such file or folder",)),
    Case("datasets-unknown", lambda env: ["datasets", "--dataset", "affectnet"], 2, ("unknown dataset",)),
    Case("benchmark-unknown-cnn", lambda env: ["benchmark", "--cnn", "cnn-quantum"], 2, ("unknown model",)),
    Case("benchmark-zero-images", lambda env: ["benchmark", "--images", "0"], 2, ("--images",)),
]


def _fer_csv_bytes(env: Env, body: bytes) -> str:
    path = env.root / "fer2013" / "fer2013.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"emotion,pixels,Usage\n" + body)
    return str(path)


def _unreadable_csv(env: Env) -> None:
    """A CSV the loader may not read: the layout probe reads its header (it is a FER2013 CSV), then opening it
    again raises PermissionError, as a file whose rights changed would (root ignores chmod)."""
    import builtins

    path = _fer_csv(env, [f"0,{PIXELS},Training"])
    env.extra["csv"] = path
    real_open, opened = builtins.open, []

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file) == path:
            opened.append(file)
            if len(opened) > 1:
                raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(file, *args, **kwargs)

    env.monkeypatch.setattr(builtins, "open", guarded)


def _ck_original_bad_label(env: Env) -> str:
    root = env.root / "CK+"
    frames = root / "cohn-kanade-images" / "S005" / "001"
    frames.mkdir(parents=True)
    Image.new("L", (64, 64), 100).save(frames / "S005_001_00000001.png")
    labels = root / "Emotion" / "S005" / "001"
    labels.mkdir(parents=True)
    (labels / "S005_001_00000001_emotion.txt").write_text("happy\n")
    return str(root)


def _touch(env: Env, name: str) -> str:
    path = env.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder\n")
    return str(path)


def _fer_folders(env: Env) -> Path:
    root = env.root / "fer-folders"
    for split in ("train", "test"):
        for name in ("angry", "happy"):
            (root / split / name).mkdir(parents=True)
            Image.new("L", (48, 48), 90).save(root / split / name / f"Training_{len(name)}.jpg")
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mistake_is_one_error_line_with_the_binding_exit_code(case: Case, tmp_path, monkeypatch, capsys):
    env = Env(tmp_path, monkeypatch)
    sentinel = _sentinel(env.reports)
    if case.setup:
        case.setup(env)
    code, text = _invoke(case.argv(env), capsys)
    assert "Traceback" not in text, text
    assert code == case.code, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text
    for fragment in case.fragments:
        assert fragment in errors[0], errors[0]
    runs = env.reports / "runs"
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".write-probe")) == [SENTINEL], \
        "a run folder (complete or not) was left behind, or the complete run was lost"
    assert (sentinel / "metrics.json").read_text() == '{"accuracy": 0.5}\n'


def test_matrix_is_wide_enough():
    """The issue asks for at least 40 cases over datasets, options, files, environment and suites."""
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


# ------------------------------------------------------------- single cases (found by an adversarial walk)


@pytest.mark.parametrize(("args", "fragments"), [
    (["--n-jobs", "100000"], ("--n-jobs", "at most this machine's")),
    (["--features", ""], ("empty feature name",)),
    (["--reports-dir", ""], ("--reports-dir is empty",)),
    (["--cache-dir", " "], ("--cache-dir is empty",)),
    (["--model", "mini-xception", "--features", "pixels", "--lr", "inf"], ("--lr must be a positive, finite",)),
])
def test_run_option_values_found_by_the_hunt_are_refused(tmp_path, capsys, args, fragments):
    code, text = _invoke(["run", *FAST, "--reports-dir", tmp_path / "r", *args], capsys)
    _one_error(code, text, 2, *fragments)
    assert not (tmp_path / "r" / "runs").exists() or not list((tmp_path / "r" / "runs").iterdir())


@pytest.mark.parametrize(("args", "fragment"), [
    (["--images", "999999999999"], "--images must be from"),
    (["--svm-samples", "1"], "--svm-samples must be from"),
    (["--cnn", "svm-rbf"], "--cnn svm-rbf: not a CNN"),
])
def test_benchmark_sizes_and_models_are_checked(capsys, args, fragment):
    code, text = _invoke(["benchmark", "--images", "200", "--svm-samples", "150", "--cnn", "", *args], capsys)
    _one_error(code, text, 2, fragment)


def test_an_invalid_lease_ttl_is_one_error_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FER_BENCH_LEASE_TTL", "-1")
    code, text = _invoke(["run", *FAST, "--reports-dir", tmp_path / "r", "--cache-dir", tmp_path / "c"], capsys)
    _one_error(code, text, 2, "FER_BENCH_LEASE_TTL='-1'")


@pytest.mark.parametrize("code_text", ["nan", "inf"])
def test_a_non_finite_ck_label_is_one_error_line(tmp_path, capsys, ck_original_dir, code_text):
    label = next((ck_original_dir / "Emotion").glob("S*/*/*_emotion.txt"))
    label.write_text(f"   {code_text}\n")
    code, text = _invoke(["run", "--dataset", "ck+", "--model", "svm-linear", "--features", "hog", "--data-dir",
                        ck_original_dir, "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, label.name, "not an integer 1-7")


@pytest.mark.slow
def test_options_that_do_not_apply_are_said_to_be_ignored(tmp_path, capsys):
    code, text = _invoke(["run", *FAST, "--data-dir", tmp_path / "nothing", "--reports-dir", tmp_path / "r",
                        "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "note: --data-dir does not apply" in " ".join(text.split())


@pytest.mark.slow
def test_paths_with_brackets_are_printed_verbatim(tmp_path, capsys):
    reports = tmp_path / "R [x] ü"
    code, text = _invoke(["run", *FAST, "--reports-dir", reports, "--cache-dir", tmp_path / "c"], capsys)
    assert code == 0, text
    assert "R [x] ü/runs/" in text.replace("\n", "")


def test_report_refuses_a_runs_file_up_front(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "runs").write_text("not a folder")
    code, text = _invoke(["report", "--reports-dir", tmp_path / "r"], capsys)
    _one_error(code, text, 2, "runs is a file")
