"""A third model kind that lives in the tests: registering it (one class, one ``register_kind``, one model) is all it
takes for runs, the run record and its checks, saved models, suites and the report to work with it; nothing
outside ``benchmark/kinds`` needs to know it. Fitting is a class mean per fold, so these runs take milliseconds."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from centroid_kind import register_centroid
from rich.console import Console

from benchmark.experiment import RunConfig, run_experiment
from benchmark.kinds import KINDS, kind_named, load_fold_models
from benchmark.report import build_report
from benchmark.suite import describe, load_suite, run_suite
from benchmark.verification import load_run
from models import get_model


@pytest.fixture
def centroid(monkeypatch):
    """The kind and its one model, registered for this test only."""
    return register_centroid(monkeypatch)


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"))


def test_a_kind_registered_in_the_tests_runs_records_and_reloads(centroid, tmp_path):
    config = RunConfig(dataset="synthetic", model="nearest-centroid", folds=3, reports_dir=str(tmp_path / "r"))
    run_dir, metrics = run_experiment(config, console=_quiet())
    assert metrics["kind"] == "centroid" and metrics["features"] == "pixels" and 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["accuracy"] > 1 / 7  # the synthetic classes differ in their mean face
    run = load_run(run_dir)  # every check of the run record passes
    assert run.kind == "centroid" and kind_named(run.kind) is centroid
    assert sorted(p.name for p in run_dir.glob("centroids_*.npz")) == [f"centroids_fold-{k}.npz" for k in range(3)]
    predictions = pd.read_csv(run_dir / "predictions.csv")
    data = {s: i for i, s in enumerate(run.predictions.sample_id)}
    from benchmark.datasets import make_synthetic

    synthetic = make_synthetic()
    position = {s: i for i, s in enumerate(synthetic.sample_ids)}
    for model in load_fold_models(run):  # the saved files reproduce the recorded scores
        rows = predictions[predictions.fold == model.fold]
        scores = model.scores(synthetic.images[[position[s] for s in rows.sample_id]])
        np.testing.assert_allclose(scores, rows[[f"score_{c}" for c in synthetic.class_names]].to_numpy())
    assert len(data) == len(synthetic)
    # options of the other kinds do not apply to it, so they resolve to None and stay out of its hash
    assert run.config["pca"] is None and run.config["epochs"] is None and run.config["svm_backend"] is None


@pytest.mark.slow
def test_the_report_and_suites_take_the_new_kind_with_the_others(centroid, tmp_path):
    suite_file = tmp_path / "suite.toml"
    suite_file.write_text('[suite]\nname = "three-kinds"\n[defaults]\nfolds = 3\n'
                          '[[experiment]]\ndatasets = ["synthetic-b"]\nmodels = ["nearest-centroid"]\n'
                          '[[experiment]]\ndatasets = ["synthetic-b"]\nmodels = ["svm-linear"]\nfeatures = ["lbp"]\n'
                          'options = { inner_folds = 2, n_jobs = 1 }\n')
    suite = load_suite(suite_file, reports_dir=str(tmp_path / "reports"))
    assert "nearest-centroid" in describe(suite.configs[0])
    records = run_suite(suite, console=_quiet())
    assert [r["status"] for r in records] == ["ran", "ran"]
    assert [r["status"] for r in run_suite(suite, console=_quiet())] == ["skipped", "skipped"]  # resumes
    result = build_report(tmp_path / "reports")
    assert result["runs"] == 2 and result["inconsistent"] == [] and result["skipped"] == []
    summary = pd.read_csv(tmp_path / "reports" / "tables" / "synthetic-b_3fold_summary.csv")
    assert set(summary.group) == {"classical", "centroid"}
    assert "nearest class mean (a kind that lives in the tests)" in (tmp_path / "reports" / "report.md").read_text()


def test_the_kinds_own_their_model_files():
    assert kind_named("classical").model_files("fold-3", 10) == ["svm_fold-3.npz", "svm_fold-3.json"]
    assert kind_named("deep").model_files("PrivateTest", 1) == ["model.keras"]
    assert kind_named("deep").needs_gpu and not kind_named("classical").needs_gpu
    assert kind_named("classical").export_formats == ("onnx",)
    assert {get_model(name).kind for name in ("svm-rbf", "mini-xception")} == {"classical", "deep"}


def test_each_kind_names_the_libraries_that_computed_a_run_with_their_recorded_versions():
    packages = {"numpy": "2.0", "scikit-learn": "1.9", "scikit-image": "0.26", "scikit-learn-intelex": "2026.2",
                "daal": "2026.2", "dlib-bin": "20.0", "tensorflow": "2.21", "keras": "3.15"}
    classical, deep = KINDS["classical"], KINDS["deep"]
    assert classical.libraries({"packages": packages, "svm_backend": "onedal"}, {"features": "hog+landmarks"}) == {
        "numpy": "2.0", "scikit-learn": "1.9", "scikit-image": "0.26", "scikit-learn-intelex": "2026.2",
        "daal": "2026.2", "dlib-bin": "20.0"}
    assert "daal" not in classical.libraries({"packages": packages, "svm_backend": "libsvm"}, {"features": "hog"})
    gpu = {"packages": packages, "training_device": {"backend": "jax", "backend_version": "0.7", "keras": "3.15",
                                                     "cuda": "12.4", "cudnn": 91000}}
    assert deep.libraries(gpu, {}) == {"numpy": "2.0", "scikit-learn": "1.9", "keras": "3.15", "jax": "0.7",
                                       "CUDA": "12.4", "cuDNN": "91000"}
    assert deep.libraries({"packages": packages}, {}) == {"numpy": "2.0", "scikit-learn": "1.9", "keras": "3.15",
                                                         "tensorflow": "2.21"}  # a run from before backends


def test_onedal_runs_fitted_in_single_precision_are_a_variant_of_their_own():
    """Runs that oneDAL fitted before the SVMs got double precision gave other numbers: a report keeps them apart
    from new oneDAL runs (never averaged together as one experiment's seeds) and names the solver they ran."""
    classical = KINDS["classical"]
    new = {"svm_backend": "onedal", "svm_precision": "float64", "svm_threads": 1}
    assert classical.platform(new, {}) == {"svm_backend": "onedal"}
    assert classical.platform({"svm_backend": "onedal"}, {}) == {"svm_backend": "onedal-float32"}
    # fitted in double precision before every oneDAL fit got one thread (--n-jobs could change their digits)
    assert classical.platform({**new, "svm_threads": None}, {}) == {"svm_backend": "onedal-multithreaded"}
    assert classical.platform({"svm_backend": "libsvm"}, {}) == {"svm_backend": "libsvm"}  # always double
    # a PCA fitted before every PCA got one BLAS thread: where the run projected (a number, or auto above 10,000
    # training images), a variant of its own; CK+-sized auto runs never projected and stay as they were
    sizes = lambda n: {"protocol": {"sizes": {"fold-0": {"train": n, "val": None, "test": 9}}}}  # noqa: E731
    old_pca = {"svm_backend": "libsvm", **sizes(600)}
    assert classical.platform(old_pca, {"pca": "30"}) == {"svm_backend": "libsvm", "pca": "pca-multithreaded"}
    assert classical.platform({**old_pca, "pca_blas_threads": 1}, {"pca": "30"}) == {"svm_backend": "libsvm"}
    assert classical.platform(old_pca, {"pca": "auto"}) == {"svm_backend": "libsvm"}
    assert classical.platform({**new, **sizes(28_709)}, {"pca": "auto"}) == {"svm_backend": "onedal",
                                                                               "pca": "pca-multithreaded"}
    assert classical.platform({**new, **sizes(28_709), "pca_blas_threads": 1}, {"pca": "auto"}) == {
        "svm_backend": "onedal"}
    assert "daal" in classical.libraries({"packages": {"daal": "2025.1"}, "svm_backend": "onedal"}, {"features": "hog"})
