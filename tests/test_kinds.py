"""A third model kind that lives in the tests: registering it (one class, one ``register_kind``, one model) is all it
takes for runs, the run record and its checks, saved models, suites and the report to work with it; nothing
outside ``benchmark/kinds`` needs to know it. Fitting is a class mean per fold, so these runs take milliseconds."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import models._registry as model_registry
from benchmark.experiment import RunConfig, run_experiment
from benchmark.kinds import KINDS, FitResult, ModelKind, kind_named, load_fold_models, prediction_rows
from benchmark.report import build_report
from benchmark.saved_models import MODEL_CHECK, MODEL_FILES, FoldModel, file_sha256
from benchmark.suite import describe, load_suite, run_suite
from benchmark.verification import load_run
from models import ModelSpec, get_model


@dataclass
class CentroidModel(FoldModel):
    """Scores are minus the distance to each class's mean training image (NaN for a class the fold lacks)."""

    fold: str
    class_names: tuple[str, ...]
    centroids: np.ndarray  # classes x pixels
    score_kind: str = "negative distance"

    def scores(self, images: np.ndarray) -> np.ndarray:
        x = np.asarray(images, dtype=np.float64).reshape(len(images), -1) / 255.0
        return -np.sqrt(((x[:, None, :] - self.centroids[None]) ** 2).sum(axis=2))


class CentroidKind(ModelKind):
    """Nearest class mean on pixels: nothing to select, a mean per class per fold."""

    name = "centroid"
    title = "nearest class mean (a kind that lives in the tests)"
    selects_by_search = False
    model_stem = "centroids"
    model_suffixes = (".npz",)

    def resolve(self, config, spec) -> dict:
        return {"features": "pixels", **{k: None for k in self.foreign_options()}}

    def selection(self, protocol, config) -> str:
        return "nothing is selected"

    def platform(self, manifest: dict, config: dict) -> dict:
        return {}

    def run(self, spec, config, dataset, protocol, timer, console, run_dir) -> FitResult:
        frames, fold_models, files = [], {}, {}
        x = dataset.images.reshape(len(dataset), -1).astype(np.float64) / 255.0
        for fold in protocol.folds:
            with timer.phase("fit"):
                centroids = np.full((len(dataset.class_names), x.shape[1]), np.nan)
                for c in np.unique(dataset.labels[fold.train]):
                    centroids[c] = x[fold.train][dataset.labels[fold.train] == c].mean(axis=0)
            (name,) = self.model_files(fold.name, len(protocol.folds))
            np.savez(run_dir / name, centroids=centroids)
            files[name] = file_sha256(run_dir / name)
            model = fold_models[fold.name] = CentroidModel(fold.name, tuple(dataset.class_names), centroids)
            for idx, part in protocol.scored_parts(fold):
                scores = model.scores(dataset.images[idx])
                frames.append(prediction_rows(dataset, idx, protocol.column, part, model.predict(dataset.images[idx]),
                                              scores))
        return FitResult(predictions=pd.concat(frames, ignore_index=True),
                         best_params={fold: {} for fold in fold_models},
                         extra={"fit_seconds": round(timer.seconds.get("fit", 0.0), 3)},
                         manifest={MODEL_FILES: files, MODEL_CHECK: {}}, fold_models=fold_models)

    def _load(self, stem: Path, fold: str, class_names: tuple[str, ...], config: dict) -> CentroidModel:
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as arrays:
            return CentroidModel(fold, class_names, arrays["centroids"])


@pytest.fixture
def centroid(monkeypatch):
    """The kind and its one model, registered for this test only."""
    kind = CentroidKind()
    monkeypatch.setitem(KINDS, kind.name, kind)
    spec = ModelSpec("nearest-centroid", kind.name, "nearest class mean on pixels (tests)", factory=lambda **_: None)
    monkeypatch.setitem(model_registry._MODELS, spec.name, spec)
    return kind


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
                          '[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["nearest-centroid"]\n'
                          '[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\nfeatures = ["lbp"]\n'
                          'options = { inner_folds = 2, n_jobs = 1 }\n')
    suite = load_suite(suite_file, reports_dir=str(tmp_path / "reports"))
    assert "nearest-centroid" in describe(suite.configs[0])
    records = run_suite(suite, console=_quiet())
    assert [r["status"] for r in records] == ["ran", "ran"]
    assert [r["status"] for r in run_suite(suite, console=_quiet())] == ["skipped", "skipped"]  # resumes
    result = build_report(tmp_path / "reports")
    assert result["runs"] == 2 and result["inconsistent"] == [] and result["skipped"] == []
    summary = pd.read_csv(tmp_path / "reports" / "tables" / "synthetic_3fold_summary.csv")
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


def register_centroid(patch: pytest.MonkeyPatch) -> None:
    """Register the test kind and its model ``nearest-centroid`` for as long as ``patch`` holds."""
    kind = CentroidKind()
    patch.setitem(KINDS, kind.name, kind)
    patch.setitem(model_registry._MODELS, "nearest-centroid", ModelSpec(
        "nearest-centroid", kind.name, "nearest class mean on pixels (tests)", factory=lambda **_: None))


def two_kind_runs(reports: Path, folds: int) -> list:
    """Runs of two kinds on the synthetic faces, in ``reports``: the test kind's nearest class mean (milliseconds;
    register it first, :func:`register_centroid`) and an SVM on LBP, ``folds`` subject folds each; returns them
    read back and verified."""
    from benchmark.record import collect_runs
    from benchmark.verification import verify_runs

    quiet = Console(file=open(os.devnull, "w"))
    for model, features in (("nearest-centroid", None), ("svm-linear", "lbp")):
        run_experiment(RunConfig(dataset="synthetic", model=model, features=features, folds=folds, inner_folds=2,
                                 n_jobs=1, reports_dir=str(reports), cache_dir=str(reports / "cache")), console=quiet)
    runs, _ = verify_runs(collect_runs(reports / "runs")[0])
    return runs


def test_onedal_runs_fitted_in_single_precision_are_a_variant_of_their_own():
    """Runs that oneDAL fitted before the SVMs got double precision gave other numbers: a report keeps them apart
    from new oneDAL runs (never averaged together as one experiment's seeds) and names the solver they ran."""
    classical = KINDS["classical"]
    assert classical.platform({"svm_backend": "onedal", "svm_precision": "float64"}, {}) == {"svm_backend": "onedal"}
    assert classical.platform({"svm_backend": "onedal"}, {}) == {"svm_backend": "onedal-float32"}
    assert classical.platform({"svm_backend": "libsvm"}, {}) == {"svm_backend": "libsvm"}  # always double
    assert "daal" in classical.libraries({"packages": {"daal": "2025.1"}, "svm_backend": "onedal"}, {"features": "hog"})
