"""SVM backends (oneDAL and libsvm), the exhaustive search on a validation set, and the histogram kernel."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.base import clone

from benchmark.resolution import resolve
from benchmark.errors import FerBenchError
from benchmark.experiment import RunConfig, run_experiment
from benchmark.selection import holdout_grid_search
from features import parse_features
from models import backend_that_ran, get_model, list_models, onedal_available, resolve_svm_backend

needs_onedal = pytest.mark.skipif(not onedal_available(), reason="scikit-learn-intelex is not installed here")


@pytest.fixture(scope="module")
def hog_split(synthetic):
    """HOG features of the synthetic faces, split by subject: 14 subjects to fit on, 6 to predict."""
    X = parse_features("hog")[0][1].transform(synthetic.images)
    subject = np.array([int(s[1:]) for s in synthetic.subjects])
    train = subject < 14
    return X[train], synthetic.labels[train], X[~train], synthetic.labels[~train]


@needs_onedal
@pytest.mark.parametrize("model, params", [
    ("svm-linear", {"svm__C": 0.01}),
    ("svm-poly", {"svm__C": 1.0, "svm__degree": 2}),
    ("svm-rbf", {"svm__C": 10.0, "svm__gamma": 1e-3}),
    ("svm-chi2", {"svm__C": 10.0, "svm__gamma": 0.1}),
])
def test_onedal_predicts_the_same_labels_as_libsvm(hog_split, model, params):
    """Both solvers reach the same model up to their tolerance: identical predicted labels on held-out subjects
    (decision values may differ slightly), and each fitted SVM says which solver ran."""
    X, y, X_test, y_test = hog_split
    fitted = {}
    for backend in ("onedal", "libsvm"):
        pipeline = get_model(model).build(seed=0, pca=None, backend=backend).set_params(**params).fit(X, y)
        assert backend_that_ran(pipeline.named_steps["svm"]) == backend
        fitted[backend] = pipeline
    np.testing.assert_array_equal(fitted["onedal"].predict(X_test), fitted["libsvm"].predict(X_test))
    assert (fitted["onedal"].predict(X_test) == y_test).mean() > 0.3  # it learned something (chance: 1/7)


def test_auto_picks_liblinear_for_the_linear_svm_on_fer2013_and_onedal_where_installed_otherwise(monkeypatch):
    import models._svm as svm

    monkeypatch.setattr(svm, "onedal_available", lambda: True)
    assert resolve_svm_backend("auto", "svm-rbf") == "onedal" and resolve_svm_backend("libsvm", "svm-rbf") == "libsvm"
    assert resolve_svm_backend("auto", "svm-linear", "fer2013") == "liblinear"  # cost linear in 57,000 images
    assert resolve_svm_backend("auto", "svm-linear", "ck+") == "onedal"  # the kernel solver on small sets
    assert resolve_svm_backend("onedal", "svm-linear", "fer2013") == "onedal"  # the kernel form, when asked for
    assert resolve_svm_backend("liblinear", "svm-linear", "ck+") == "liblinear"
    monkeypatch.setattr(svm, "onedal_available", lambda: False)
    assert resolve_svm_backend("auto", "svm-poly") == "libsvm"
    with pytest.raises(FerBenchError, match="scikit-learn-intelex is not installed"):
        resolve_svm_backend("onedal", "svm-rbf")
    with pytest.raises(FerBenchError, match="--svm-backend must be one of auto, onedal, libsvm, liblinear"):
        resolve_svm_backend("cuda", "svm-rbf")
    with pytest.raises(FerBenchError, match=r"liblinear solves linear SVMs only \(svm-linear\); svm-rbf has a kernel"):
        resolve_svm_backend("liblinear", "svm-rbf")
    assert [spec.name for spec in list_models() if spec.linear] == ["svm-linear"]  # the registration says so


def test_the_backend_is_resolved_recorded_and_hashed():
    """The config records the backend that will run (never 'auto'), so runs on different backends have different
    config hashes; CNNs have no backend and keep the config hashes they had before the option existed."""
    from benchmark.runs import config_hash

    libsvm = resolve(RunConfig(dataset="synthetic", model="svm-rbf", svm_backend="libsvm"))
    auto = resolve(RunConfig(dataset="synthetic", model="svm-rbf"))
    assert libsvm.svm_backend == "libsvm" and auto.svm_backend in ("onedal", "libsvm")
    if auto.svm_backend == "onedal":
        assert config_hash(vars(libsvm)) != config_hash(vars(auto))
    cnn = resolve(RunConfig(dataset="synthetic", model="mini-xception", svm_backend="libsvm"))
    assert cnn.svm_backend is None and cnn.search is None
    hashed = dict(vars(cnn))
    del hashed["svm_backend"], hashed["search"]  # as a config written before these options existed
    assert config_hash(vars(cnn)) == config_hash(hashed)


@pytest.mark.slow
@needs_onedal
def test_a_run_records_the_backend_that_ran(tmp_path, monkeypatch):
    """The manifest and config name the backend; a backend that fell back to another solver fails the run
    rather than recording the wrong one."""
    common = dict(dataset="synthetic", model="svm-linear", features="lbp", folds=2, inner_folds=2, n_jobs=1,
                  reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    from rich.console import Console

    from benchmark.datasets import make_synthetic

    quiet = Console(file=open(tmp_path / "log", "w"))
    data = make_synthetic(n_subjects=9)  # what is checked is the record, not the fit
    paths = {}
    for backend in ("onedal", "libsvm"):
        path, _ = run_experiment(RunConfig(**common, svm_backend=backend), dataset=data, console=quiet)
        assert json.loads((path / "manifest.json").read_text())["svm_backend"] == backend
        assert json.loads((path / "config.json").read_text())["svm_backend"] == backend
        paths[backend] = path
    labels = {b: (p / "predictions.csv").read_text().splitlines() for b, p in paths.items()}
    assert labels["onedal"][0] == labels["libsvm"][0]
    import models._svm as svm

    monkeypatch.setattr(svm, "backend_that_ran", lambda fitted: "libsvm")
    import benchmark.kinds._classical as classical

    monkeypatch.setattr(classical, "backend_that_ran", lambda fitted: "libsvm")
    with pytest.raises(FerBenchError, match="ran on libsvm, not the requested onedal"):
        run_experiment(RunConfig(**common, svm_backend="onedal", seed=1), dataset=data, console=quiet)


def test_exhaustive_search_fits_every_point_on_all_training_rows_and_scores_on_validation(hog_split):
    """Every grid point is fitted on the whole training set and scored on the validation set only; the best is
    returned fitted, ties going to the earlier point."""
    X, y, X_val, y_val = hog_split
    estimator = get_model("svm-linear").build(seed=0, pca=None, backend="libsvm")
    grid = {"svm__C": [1e-4, 1e-3, 1e-2]}
    model, params, log = holdout_grid_search(estimator, grid, X, y, X_val, y_val, n_jobs=1)
    scores = []
    for C in grid["svm__C"]:
        alone = clone(estimator).set_params(svm__C=C).fit(X, y)
        scores.append((alone.predict(X_val) == y_val).mean())
    assert [e["val_accuracy"] for e in log] == pytest.approx(scores)
    assert all(e["n_train"] == len(y) for e in log)
    assert params == {"svm__C": grid["svm__C"][int(np.argmax(scores))]}
    np.testing.assert_array_equal(model.predict(X_val), clone(estimator).set_params(**params).fit(X, y)
                                  .predict(X_val))


def test_search_applies_to_the_official_split_only():
    fer = resolve(RunConfig(dataset="fer2013", model="svm-rbf", search="halving"))
    assert fer.search == "halving" and fer.halving_min_samples == 3000
    exhaustive = resolve(RunConfig(dataset="fer2013", model="svm-rbf"))
    assert exhaustive.search == "exhaustive" and exhaustive.halving_min_samples is None
    ck = resolve(RunConfig(dataset="ck+", model="svm-rbf", search="halving"))
    assert ck.search is None and ck.halving_min_samples is None
    with pytest.raises(FerBenchError, match="--search must be one of exhaustive, halving"):
        resolve(RunConfig(dataset="fer2013", model="svm-rbf", search="random"))


def test_the_chi2_kernel_refuses_features_that_can_be_negative():
    with pytest.raises(FerBenchError, match="svm-chi2 needs non-negative histogram features .*landmarks can be "
                                            "negative"):
        resolve(RunConfig(dataset="synthetic", model="svm-chi2", features="hog+landmarks"))
    assert resolve(RunConfig(dataset="synthetic", model="svm-chi2", features="hog+lbp")).features == "hog+lbp"


def test_a_selected_value_at_the_end_of_its_grid_is_said():
    from benchmark.kinds._classical import grid_edges

    grid = {"svm__C": [1.0, 10.0, 100.0], "svm__gamma": [0.5, 1.0, 2.0], "svm__kernel": ["rbf", "poly"]}
    assert grid_edges(grid, {"PrivateTest": {"svm__C": 10.0, "svm__gamma": 1.0, "svm__kernel": "poly"}}) == []
    [line] = grid_edges(grid, {"fold-1": {"svm__C": 100.0, "svm__gamma": 1.0},
                               "fold-2": {"svm__C": 10.0, "svm__gamma": 1.0}})
    assert line.startswith("the selected C is at an end of its grid [1.0, 10.0, 100.0] in 1 of 2 folds")


@pytest.mark.slow
def test_mirror_images_train_only_where_asked_and_are_never_scored(tmp_path, monkeypatch):
    """--mirror on (the default): a mirror image joins its original's inner training fold and is never scored,
    in the inner CV or in the outer test: predictions.csv has one row per image (9 synthetic subjects)."""
    import pandas as pd
    from rich.console import Console

    import benchmark.kinds._classical as classical
    from benchmark.datasets import make_synthetic
    with pytest.raises(FerBenchError, match="--mirror must be one of on, off"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", mirror="yes"))
    assert resolve(RunConfig(dataset="synthetic", model="mini-xception")).mirror is None

    seen = []
    real = classical.grouped_grid_search

    def spy(estimator, grid, X, y, groups, *, cv, n_jobs, timings=None):
        seen.append((len(X), [(set(fit.tolist()), set(score.tolist())) for fit, score in cv]))
        return real(estimator, grid, X, y, groups, cv=cv, n_jobs=n_jobs, timings=timings)

    monkeypatch.setattr(classical, "grouped_grid_search", spy)
    common = dict(dataset="synthetic", model="svm-linear", features="hog", folds=3, inner_folds=2, n_jobs=1,
                  reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    quiet = Console(file=open(tmp_path / "log", "w"))
    data = make_synthetic(n_subjects=9)
    path, metrics = run_experiment(RunConfig(**common), dataset=data, console=quiet)
    assert metrics["mirrored_training"] is True
    assert json.loads((path / "manifest.json").read_text())["mirrored_training"] is True
    predictions = pd.read_csv(path / "predictions.csv", dtype=str)
    assert len(predictions) == len(data) == 441 and predictions.sample_id.is_unique
    assert len(seen) == 3
    for n_rows, splits in seen:
        n = n_rows // 2  # originals first, then their mirror images in the same order
        for fit, score in splits:
            assert all(i < n for i in score)  # only original images are scored
            assert {i for i in fit if i >= n} == {i + n for i in fit if i < n}  # each original with its mirror
    seen.clear()
    plain, plain_metrics = run_experiment(RunConfig(**common, mirror="off"), dataset=data, console=quiet)
    assert plain_metrics["mirrored_training"] is False
    assert len(seen) == 3 and all(len(fit | score) == n_rows for n_rows, splits in seen for fit, score in splits)
    assert plain.name.split("_")[-1] != path.name.split("_")[-1]  # another experiment (config hash)


@pytest.mark.slow  # a run: about 6 s
def test_a_liblinear_fit_stopped_at_its_iteration_cap_is_said(monkeypatch, tmp_path):
    """The search silences convergence warnings (small grid points may hit them harmlessly); a chosen liblinear
    model that stopped at its cap rather than at its tolerance is said on the console, naming the fold."""
    import models._svm as svm_module
    from typer.testing import CliRunner

    from benchmark.cli import app

    monkeypatch.setattr(svm_module, "LIBLINEAR_MAX_ITER", 1)
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--model", "svm-linear", "--features", "lbp",
                                      "--svm-backend", "liblinear", "--folds", "2", "--inner-folds", "2",
                                      "--reports-dir", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "warning: liblinear stopped at its iteration cap in fold-0, fold-1" in text


#: The decision values of one oneDAL SVM fitted in each place a fit happens: a main thread, the same after OpenMP's
#: limit changed there (as TensorFlow's pinned pools change it), another thread (joblib's thread workers, a Dask
#: worker's task), and joblib's process workers (grid-search trials, whose OpenMP limit joblib sets to
#: cores // n_jobs); prints one digest per place.
_THREADS_SCRIPT = """
import hashlib
from concurrent.futures import ThreadPoolExecutor
import warnings
import numpy as np
import threadpoolctl
from joblib import Parallel, delayed
from models import get_model
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X, y = rng.normal(size=(600, 300)), rng.integers(0, 7, 600)
def fit(n=0):
    svm = get_model("svm-linear").build(backend="onedal").set_params(svm__C=0.01)
    return hashlib.sha256(svm.fit(X, y).decision_function(X).tobytes()).hexdigest()[:16]
places = [fit()]
threadpoolctl.threadpool_limits(limits=3, user_api="openmp")
places += [fit(), ThreadPoolExecutor(1).submit(fit).result()]
places += Parallel(n_jobs=2)(delayed(fit)(n) for n in range(2)) + Parallel(n_jobs=1)(delayed(fit)(n) for n in [0])
print(*places)
"""


def _digests_of_fits_in_every_place(omp_num_threads: str | None) -> list[str]:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | {"PYTHONPATH": str(root)}
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    result = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], cwd=root, capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


@needs_onedal
@pytest.mark.slow  # subprocesses: OpenMP reads OMP_NUM_THREADS when it starts
def test_onedal_fits_the_same_svm_wherever_it_runs():
    """Seen: a suite's svm-rbf chose other hyperparameters with --n-jobs 1 (or on a Dask worker) than with
    --n-jobs 2, same config hash: oneDAL's last digits follow its thread count, which differs between a main
    thread, other threads and joblib's process workers, and with OMP_NUM_THREADS. Every oneDAL fit is one-threaded
    (models/_onedal.py); with scikit-learn-intelex's own SVC the digests below differ."""
    digests = _digests_of_fits_in_every_place(None) + _digests_of_fits_in_every_place("1")
    assert len(digests) == 12 and len(set(digests)) == 1, digests


@needs_onedal
@pytest.mark.slow
def test_the_number_of_jobs_changes_no_figure_of_an_svm_run(tmp_path):
    """--n-jobs is not part of the config hash, so it must change no number: on synthetic-b's LBP features (whose
    grid candidates score within an image of each other) the one-job and two-job runs of one svm-rbf experiment
    choose the same hyperparameters and write the same predictions and search log."""
    import pandas as pd

    runs = []
    for n_jobs in (1, 2):
        run_dir, _ = run_experiment(RunConfig(
            dataset="synthetic-b", model="svm-rbf", features="lbp", pca=30, folds=2, inner_folds=2, seed=0,
            n_jobs=n_jobs, svm_backend="onedal", reports_dir=str(tmp_path / f"r{n_jobs}"),
            cache_dir=str(tmp_path / "cache")))
        runs.append(run_dir)
    one, two = runs
    pd.testing.assert_frame_equal(pd.read_csv(one / "predictions.csv"), pd.read_csv(two / "predictions.csv"))
    assert json.loads((one / "search.json").read_text()) == json.loads((two / "search.json").read_text())


@needs_onedal
def test_a_onedal_svm_scores_as_it_predicts(hog_split):
    """The one-thread oneDAL SVM (every call pinned, score included) is still scikit-learn-intelex's solver: its
    score is the accuracy of its predictions, and the fitted SVM says oneDAL ran."""
    X, y, X_test, y_test = hog_split
    model = get_model("svm-rbf").build(backend="onedal").set_params(svm__C=10.0, svm__gamma=1.0).fit(X, y)
    svm = model[-1]
    assert backend_that_ran(svm) == "onedal"
    scaled = model[:-1].transform(X_test)
    assert svm.score(scaled, y_test) == pytest.approx(float(np.mean(svm.predict(scaled) == y_test)))


def test_liblinear_runs_from_before_the_one_vs_one_model_are_another_variant():
    """liblinear's runs saved as a LinearSVC (one-vs-rest, squared hinge: before liblinear solved the kernel
    solvers' model pair by pair) are a platform variant of their own, never pooled with today's, and the methods
    describe each as it ran."""
    from types import SimpleNamespace

    from benchmark.kinds import kind_named
    from benchmark.report._methods import MARKDOWN, _solver

    classical = kind_named("classical")
    old = {"svm_backend": "liblinear", "model_check": {
        "fold-0": {"predictions_by": "the saved model (stock scikit-learn LinearSVC)"}}}
    new = {"svm_backend": "liblinear", "model_check": {
        "fold-0": {"predictions_by": "the saved model (stock scikit-learn SVC)"}}}
    assert classical.platform(old, {})["svm_backend"] == "liblinear-ovr"
    assert classical.platform(new, {})["svm_backend"] == "liblinear"
    # today's manifests say how the classes were split; that, not the saved model's class, decides
    assert classical.platform({**old, "svm_multiclass": "one-vs-one"}, {})["svm_backend"] == "liblinear"
    assert classical.platform({**new, "svm_multiclass": "one-vs-rest"}, {})["svm_backend"] == "liblinear-ovr"

    def fact(manifest):
        run = SimpleNamespace(kind="classical", manifest=manifest, config={})
        return ": ".join(_solver(run, MARKDOWN))

    assert fact(new).startswith("SVM solver: liblinear (hinge loss, one-vs-one, as the kernel solvers, with a "
                                "lightly penalised intercept;")
    assert fact(old).startswith("SVM solver: liblinear (squared hinge loss, one-vs-rest;")


@pytest.mark.slow  # a run: about 6 s
def test_a_suite_reruns_a_liblinear_run_fitted_one_vs_rest(tmp_path):
    """A run of the same options fitted by the replaced one-vs-rest liblinear model (its saved model a LinearSVC)
    never completes the experiment: a resumed suite runs it again, while the report keeps it as its own variant.
    Today's liblinear run counts as done, and records no support-vector count (its 'support vectors' are the
    pairs' hyperplanes)."""
    import io

    from rich.console import Console

    from benchmark.experiment import RunConfig, run_experiment
    from benchmark.suite._suite import completed_runs

    config = RunConfig(dataset="synthetic", model="svm-linear", features="lbp", svm_backend="liblinear", folds=2,
                       inner_folds=2, reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    path, metrics = run_experiment(config, console=Console(file=io.StringIO()))
    assert set(metrics["n_support_vectors"].values()) == {None}
    done = completed_runs(tmp_path / "r" / "runs")
    assert [p for runs in done.values() for p, _ in runs] == [path]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["svm_multiclass"] == "one-vs-one"
    del manifest["svm_multiclass"]  # as a run from before the field, fitted one-vs-rest, recorded
    for check in manifest["model_check"].values():
        check["predictions_by"] = "the saved model (stock scikit-learn LinearSVC)"
    (path / "manifest.json").write_text(json.dumps(manifest))
    assert completed_runs(tmp_path / "r" / "runs") == {}


@pytest.mark.slow  # two runs: about 10 s
def test_a_run_that_searched_an_earlier_grid_is_its_own_variant_and_never_completes_a_suite(tmp_path):
    """The grid is declared data, not an option, so a grid changed since leaves older runs with today's config
    hash: such a run (its config.json's ``param_grid`` not the one the model declares now) is never a seed of
    today's runs in the report, and a resumed suite runs it again."""
    import io

    from rich.console import Console

    from benchmark.record import collect_runs
    from benchmark.report import group_experiments
    from benchmark.suite._suite import completed_runs

    paths = []
    for seed in (0, 1):
        config = RunConfig(dataset="synthetic", model="svm-linear", features="lbp", folds=2, inner_folds=2,
                           seed=seed, reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
        paths.append(run_experiment(config, console=Console(file=io.StringIO()))[0])
    runs, _ = collect_runs(tmp_path / "r" / "runs")
    ((section, exps),) = group_experiments(runs).items()
    assert [(e.variant, len(e.runs)) for e in exps] == [("", 2)]  # today's grid: two seeds of one experiment
    def done():
        return sorted(p for runs in completed_runs(tmp_path / "r" / "runs").values() for p, _ in runs)

    assert done() == sorted(paths)

    config_file = paths[1] / "config.json"
    config = json.loads(config_file.read_text())
    assert config["param_grid"] == get_model("svm-linear").grid_for("synthetic")  # what it searched: today's
    config["param_grid"] = {"svm__C": [0.01, 0.1, 1.0, 10.0]}  # as a run searched before a grid change
    config_file.write_text(json.dumps(config))
    runs, _ = collect_runs(tmp_path / "r" / "runs")
    ((section, exps),) = group_experiments(runs).items()
    # today's keeps its name (no table file is renamed by an old run beside it); the old one is marked
    variants = sorted((e.variant, [r.metrics["seed"] for r in e.runs]) for e in exps)
    assert [v for v, _ in variants] == ["", variants[1][0]] and [s for _, s in variants] == [[0], [1]]
    assert re.fullmatch(r"grid=earlier [0-9a-f]{6}", variants[1][0])
    old_alone = [r for r in runs if r.metrics["seed"] == 1]
    ((_, (exp,)),) = group_experiments(old_alone).items()
    assert exp.variant == variants[1][0]  # marked when no run of today's grid is beside it, too
    assert done() == [paths[0]]


@needs_onedal
def test_a_onedal_fit_whose_own_decisions_differ_from_its_solution_decides_through_libsvm(hog_split, monkeypatch):
    """Each oneDAL fit compares its own pairwise decision values with those of the solution it exports (what the saved
    model holds): a healthy fit agrees to rounding and keeps oneDAL's inference; one whose own inference is off
    (seen with scikit-learn-intelex 2026.2 on an AVX-512 CPU, one class pair of an RBF SVM) predicts, decides and
    scores through libsvm's code from that solution."""
    from sklearnex.svm import SVC as OneDalSVC

    X, y, X_test, y_test = hog_split
    params = {"svm__C": 10.0, "svm__gamma": 1e-3}
    healthy = get_model("svm-rbf").build(seed=0, pca=None, backend="onedal").set_params(**params).fit(X, y)
    svm = healthy.named_steps["svm"]
    assert svm.inference_diff_ < 1e-6 and svm.libsvm_inference_ is None
    own = OneDalSVC.decision_function
    monkeypatch.setattr(OneDalSVC, "decision_function", lambda self, X: own(self, X) + 0.5)
    faulty = get_model("svm-rbf").build(seed=0, pca=None, backend="onedal").set_params(**params).fit(X, y)
    svm = faulty.named_steps["svm"]
    assert svm.inference_diff_ == pytest.approx(0.5) and svm.libsvm_inference_ is not None
    libsvm = get_model("svm-rbf").build(seed=0, pca=None, backend="libsvm").set_params(**params).fit(X, y)
    np.testing.assert_array_equal(faulty.predict(X_test), libsvm.predict(X_test))
    np.testing.assert_allclose(faulty.decision_function(X_test), libsvm.decision_function(X_test), atol=1e-3)
    assert faulty.score(X_test, y_test) == libsvm.score(X_test, y_test)


@pytest.mark.slow  # two runs: about 8 s
@needs_onedal
def test_a_run_whose_onedal_fits_decide_otherwise_than_their_solution_records_it_and_scores_that_solution(
        tmp_path, monkeypatch):
    """The run is written, its searches score their trials and its saved models predict through the solutions
    oneDAL found (the libsvm run's choices and labels here), manifest.json's model_check says so per fold, and
    the methods say so."""
    from types import SimpleNamespace

    from rich.console import Console
    from sklearnex.svm import SVC as OneDalSVC

    from benchmark.datasets import make_synthetic
    from benchmark.report._methods import MARKDOWN, _solver

    common = dict(dataset="synthetic", model="svm-rbf", features="hog", folds=2, inner_folds=2, n_jobs=1,
                  cache_dir=str(tmp_path / "c"))
    data = make_synthetic(n_subjects=9)
    quiet = Console(file=open(tmp_path / "log", "w"))
    reference, _ = run_experiment(RunConfig(**common, svm_backend="libsvm", reports_dir=str(tmp_path / "libsvm")),
                                  dataset=data, console=quiet)
    own = OneDalSVC.decision_function
    monkeypatch.setattr(OneDalSVC, "decision_function", lambda self, X: own(self, X) + 0.5)
    path, _ = run_experiment(RunConfig(**common, svm_backend="onedal", reports_dir=str(tmp_path / "onedal")),
                             dataset=data, console=quiet)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["svm_backend"] == "onedal"
    for fold in ("fold-0", "fold-1"):
        record = manifest["model_check"][fold]["onedal_inference"]
        assert record["decided_by"] == "libsvm" and record["max_abs_pairwise_diff"] == pytest.approx(0.5)
    metrics = {p: json.loads((p / "metrics.json").read_text()) for p in (reference, path)}
    assert metrics[path]["best_params"] == metrics[reference]["best_params"]
    assert metrics[path]["n_support_vectors"] == metrics[reference]["n_support_vectors"]
    import pandas as pd

    ours, theirs = (pd.read_csv(p / "predictions.csv") for p in (path, reference))
    assert list(ours.y_pred) == list(theirs.y_pred)  # two solvers, one solution (decision values up to tolerance)
    scores = [c for c in ours.columns if c.startswith("score_")]
    np.testing.assert_allclose(ours[scores].to_numpy(), theirs[scores].to_numpy(), atol=1e-2)
    fact = ": ".join(_solver(SimpleNamespace(kind="classical", manifest=manifest, config={}), MARKDOWN))
    assert fact.endswith("; in fold-0 and fold-1 oneDAL's own decision values disagreed with the solution it "
                         "exported, so that solution decided there through libsvm's code"), fact
