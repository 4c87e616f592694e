"""fer-bench export: SVM classifiers to ONNX (skl2onnx), CNNs to ONNX / TFLite / SavedModel, each export checked
against the run's own model on the run's own test images, refused for changed model files or other data."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.errors import FerBenchError
from benchmark.kinds import SVM_TOLERANCE, exportable_svm_pipeline, svm_pipeline_to_onnx
from benchmark.verification import load_run
from models import get_model


# ------------------------------------------------------------------------------------------------ SVM pipelines

def _fitted(name: str, pca: int | None, *, n_classes: int = 7, seed: int = 0, backend: str = "libsvm", **params):
    """A registered SVM pipeline (libsvm) fitted on random non-negative features; (pipeline, test features)."""
    rng = np.random.default_rng(seed)
    X, y = rng.random((240, 40)), rng.integers(0, n_classes, 240)
    pipeline = get_model(name).build(seed=seed, pca=pca, backend=backend)
    pipeline.set_params(**params)
    return pipeline.fit(X, y), rng.random((90, 40))


def _onnx_outputs(onx, X):
    import onnxruntime as ort

    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["label", "probabilities"], {"features": X.astype(np.float32)})


@pytest.mark.parametrize("name, pca, params", [
    ("svm-rbf", 20, {"svm__gamma": 1.0, "svm__C": 10.0}),  # scaler -> PCA -> UnitVariance -> SVC
    ("svm-rbf", None, {"svm__gamma": 1.0}),  # scaler -> passthrough -> UnitVariance -> SVC
    ("svm-linear", None, {"svm__C": 1.0}),
    ("svm-poly", 12, {"svm__degree": 3}),
])
def test_svm_pipeline_exports_with_identical_labels_and_close_decision_values(name, pca, params):
    pipeline, X = _fitted(name, pca, **params)
    onx, parity = svm_pipeline_to_onnx(pipeline, X)
    labels, scores = _onnx_outputs(onx, X)  # the returned model, run again here: the check is what it claims
    assert np.array_equal(labels, pipeline.predict(X))
    assert np.abs(scores - pipeline.decision_function(X)).max() <= SVM_TOLERANCE
    assert parity.passed and parity.images == 90 and parity.argmax_agree == 90
    assert parity.max_abs_diff <= SVM_TOLERANCE and parity.tolerance == SVM_TOLERANCE
    assert pipeline.predict(X).min() != pipeline.predict(X).max()  # the labels compared are not all one class


def test_unit_variance_is_replaced_by_an_equivalent_scaler():
    from sklearn.preprocessing import StandardScaler

    pipeline, X = _fitted("svm-rbf", None, svm__gamma=1.0)
    stock = exportable_svm_pipeline(pipeline, X)
    assert [name for name, _ in stock.steps] == ["scale", "unit", "svm"]  # "passthrough" PCA left out
    assert type(stock.named_steps["unit"]) is StandardScaler
    np.testing.assert_allclose(stock[:-1].transform(X), pipeline[:-1].transform(X), rtol=1e-12)


@pytest.mark.parametrize("backend,column", [("libsvm", 0), ("liblinear", 0)])
def test_two_class_svm_scores_compare_with_sklearns_one_decision_value(backend, column):
    """skl2onnx writes a two-class SVC's one decision value in column 0 (liblinear's one-vs-one model is held as a
    stock SVC too), and its negation in the other."""
    from benchmark.kinds._svm_export import exportable_svm_pipeline, two_class_column

    pipeline, X = _fitted("svm-linear", None, n_classes=2, backend=backend)
    onx, parity = svm_pipeline_to_onnx(pipeline, X)
    labels, scores = _onnx_outputs(onx, X)
    assert parity.passed and np.array_equal(labels, pipeline.predict(X))
    assert two_class_column(exportable_svm_pipeline(pipeline, X)) == column
    assert np.abs(scores[:, column] - pipeline.decision_function(X)).max() <= SVM_TOLERANCE  # skl2onnx's layout
    assert np.abs(scores[:, 1 - column] + pipeline.decision_function(X)).max() <= SVM_TOLERANCE


def test_parity_passes_only_within_tolerance_and_for_svms_with_every_label_identical():
    from benchmark.exported import Parity

    assert Parity(90, 1e-5, SVM_TOLERANCE, 90, labels_must_agree=True).passed
    assert not Parity(90, 0.0, SVM_TOLERANCE, 89, labels_must_agree=True).passed  # one label off fails an SVM
    assert Parity(90, 0.0, 1e-4, 89).passed  # a CNN near-tie may flip a class within tolerance: reported only
    assert not Parity(90, 2e-4, 1e-4, 90).passed
    assert not Parity(90, float("nan"), 1e-4, 90).passed


def test_svm_chi2_is_said_to_be_unsupported():
    pipeline, X = _fitted("svm-chi2", None)
    with pytest.raises(FerBenchError, match="ONNX export is not supported.*chi-squared feature map"):
        svm_pipeline_to_onnx(pipeline, X)


# ------------------------------------------------------------------------------------------------ CNNs, no run

@pytest.mark.slow
@pytest.mark.parametrize("model, fmt", [("mini-xception", "onnx"), ("cnn-gelu", "onnx"),
                                        ("mini-xception", "tflite"), ("mini-xception", "savedmodel")])
def test_untrained_cnns_export_within_tolerance(tmp_path, synthetic, model, fmt):
    from benchmark.kinds import CNN_TOLERANCE, export_keras

    network = get_model(model).build(n_classes=7, dataset="synthetic", pretrained=False)
    route, tried, parity, details = export_keras(network, fmt, synthetic.images[:40], tmp_path / "exported")
    assert parity.passed and parity.images == 40 and parity.max_abs_diff <= CNN_TOLERANCE
    assert (tmp_path / "exported").exists() and tried[-1] == {"route": route, "error": None}
    assert details["input"]["shape"] == [None, 48, 48, 1] and details["output"]["shape"] == [None, 7]
    if fmt == "onnx":  # cnn-gelu converts only through the Erfc handler (tf2onnx has no Erfc)
        assert route == "tf2onnx.convert.from_keras" and len(tried) == 1


@pytest.mark.slow
def test_mixed_precision_cnn_exports_to_onnx_with_its_own_tolerance_and_refuses_tflite(tmp_path, synthetic):
    import keras

    from benchmark.kinds import MIXED_PRECISION_TOLERANCE, computes_in_float16, export_keras

    keras.mixed_precision.set_global_policy("mixed_float16")  # as fer-bench trains on a GPU
    try:
        network = get_model("mini-xception").build(n_classes=7, dataset="synthetic", pretrained=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert computes_in_float16(network)
    assert not computes_in_float16(get_model("mini-xception").build(n_classes=7, dataset="synthetic"))
    route, _, parity, _ = export_keras(network, "onnx", synthetic.images[:40], tmp_path / "m.onnx")
    assert parity.passed and parity.tolerance == MIXED_PRECISION_TOLERANCE
    with pytest.raises(FerBenchError, match="--format tflite: not supported for a CNN trained in mixed precision"):
        export_keras(network, "tflite", synthetic.images[:40], tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


# ------------------------------------------------------------------------------------------------ the command

def _export(*args: str):
    return CliRunner().invoke(app, ["export", *map(str, args)])


@pytest.fixture(scope="module")
def fer_cnn_run(tmp_path_factory, learnable_fer_plan, write_fer_csv, tiny_cnn):
    """The test CNN (convolution, batch norm, dropout), 1 epoch, on the learnable tiny FER2013 CSV (official split:
    one model.keras). What is tested here is the export of a run; each published architecture's conversion is
    tested above, untrained."""
    root = tmp_path_factory.mktemp("fer-cnn")
    plan, images = learnable_fer_plan
    csv = write_fer_csv(root / "fer2013" / "fer2013.csv", plan, images=images)
    result = CliRunner().invoke(app, ["run", "--dataset", "fer2013", "--data-dir", str(csv), "--model",
                                      tiny_cnn, "--epochs", "1", "--batch-size", "16", "--reports-dir",
                                      str(root / "reports")])
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "reports" / "runs").iterdir()
    return run_dir, csv


@pytest.mark.slow
def test_onnx_export_reproduces_the_runs_recorded_probabilities(fer_cnn_run, tmp_path):
    import onnxruntime as ort

    from benchmark.datasets import load_dataset

    run_dir, csv = fer_cnn_run
    before = sorted(p.name for p in run_dir.iterdir())
    result = _export(run_dir, "--format", "onnx", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "max abs difference" in result.stdout and "agrees on 70/70 test images" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.json"]
    assert sorted(p.name for p in run_dir.iterdir()) == before  # the run folder is never changed
    meta = json.loads((tmp_path / "model.onnx.json").read_text())
    assert meta["route"] == "tf2onnx.convert.from_keras" and meta["fold"] == "PrivateTest"
    assert meta["check"]["test_images"] == 70 and meta["check"]["max_abs_diff"] <= meta["check"]["tolerance"]
    assert meta["source_files"] == {"model.keras": json.loads((run_dir / "manifest.json").read_text())[
        "model_files"]["model.keras"]}
    assert {"tensorflow", "tf2onnx", "onnxruntime"} <= set(meta["versions"])
    # independently of the command's own check: the ONNX file's probabilities are the run's recorded ones
    predictions = pd.read_csv(run_dir / "predictions.csv")
    test = predictions[predictions.split == "PrivateTest"]
    data = load_dataset("fer2013", csv)
    position = {s: i for i, s in enumerate(data.sample_ids)}
    x = data.images[[position[s] for s in test.sample_id]][..., None].astype(np.float32) / 255
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    proba = session.run(None, {meta["input"]["name"]: x})[0]
    recorded = test[[f"score_{c}" for c in data.class_names]].to_numpy()
    assert np.abs(proba - recorded).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("fmt, written", [("tflite", "model.tflite"), ("savedmodel", "model_savedmodel")])
def test_tflite_and_savedmodel_exports_pass_their_check(fer_cnn_run, tmp_path, fmt, written):
    run_dir, _ = fer_cnn_run
    result = _export(run_dir, "--format", fmt, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / written).exists() and (tmp_path / f"{written}.json").is_file()
    meta = json.loads((tmp_path / f"{written}.json").read_text())
    assert meta["check"]["passed"] and meta["check"]["max_abs_diff"] <= 1e-4 and meta["format"] == fmt
    assert len(list(tmp_path.iterdir())) == 2  # no temporary left behind


@pytest.mark.slow
def test_onnx_falls_back_to_the_savedmodel_route_and_records_why(fer_cnn_run, tmp_path, monkeypatch):
    import tf2onnx

    def broken(*args, **kwargs):
        raise ValueError("simulated Keras 3 conversion failure")

    monkeypatch.setattr(tf2onnx.convert, "from_keras", broken)
    result = _export(fer_cnn_run[0], "--out", tmp_path)
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "model.onnx.json").read_text())
    assert meta["route"] == "keras export(tf_saved_model) + tf2onnx.convert.from_function"
    assert meta["routes_tried"][0]["error"] == "ValueError: simulated Keras 3 conversion failure"
    assert meta["check"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
def test_a_failed_check_is_exit_1_and_leaves_no_file(fer_cnn_run, tmp_path, monkeypatch):
    import benchmark.kinds._keras_export as keras_export

    monkeypatch.setattr(keras_export, "CNN_TOLERANCE", 0.0)
    monkeypatch.setattr(keras_export, "_pixels", lambda images: np.zeros((len(images), 48, 48, 1), np.float32))
    result = _export(fer_cnn_run[0], "--format", "tflite", "--out", tmp_path / "new" / "out")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "does not reproduce the run's model" in lines[-1]
    assert "nothing was written" in lines[-1]
    assert list(tmp_path.iterdir()) == []  # not even the --out folders it made


@pytest.mark.slow
def test_a_changed_model_file_is_refused(fer_cnn_run, tmp_path):
    copy = tmp_path / "runs" / fer_cnn_run[0].name
    shutil.copytree(fer_cnn_run[0], copy)
    with open(copy / "model.keras", "ab") as handle:
        handle.write(b"\0")
    result = _export(copy, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert "model.keras: SHA-256" in result.stderr and "refusing to load it" in result.stderr
    assert not any((tmp_path / "out").glob("*.onnx"))


@pytest.mark.slow
def test_other_data_is_refused_naming_the_run_folder(fer_cnn_run, tmp_path):
    run_dir, csv = fer_cnn_run
    lines = csv.read_text().splitlines()
    label, pixels, usage = lines[-1].split(",")
    lines[-1] = ",".join([str((int(label) + 1) % 7), pixels, usage])  # one label changed
    (tmp_path / "fer2013.csv").write_text("\n".join(lines) + "\n")
    result = _export(run_dir, "--data-dir", tmp_path / "fer2013.csv", "--out", tmp_path / "out")
    assert result.exit_code == 2
    error = result.stderr.strip().splitlines()[-1]
    assert str(run_dir) in " ".join(result.stderr.split()) and "not the data this run was made on" in error
    assert "different images or labels" in error


@pytest.mark.slow
def test_usage_mistakes_are_one_line_exit_2(fer_cnn_run, tmp_path):
    run_dir, _ = fer_cnn_run
    cases = [((run_dir, "--format", "keras"), "--format keras: choose one of onnx, tflite, savedmodel"),
             ((tmp_path, ), "not a complete run"),
             ((run_dir, "--fold", "fold-3"), "has fold PrivateTest"),
             ((run_dir, "--out", run_dir / "exports"), "inside the run folder")]
    for args, message in cases:
        result = _export(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("error:") == 1 and message in " ".join(result.stderr.split())
    assert not (run_dir / "exports").exists()


@pytest.mark.slow
def test_svm_run_exports_its_classifier_on_features_per_fold(synthetic_linear_run, tmp_path, monkeypatch):
    import onnxruntime as ort

    from benchmark.kinds import load_fold_models

    run_dir = synthetic_linear_run.run_dir
    monkeypatch.chdir(tmp_path)  # the default folder is exports/<run id>/ in the current folder
    result = _export(run_dir, "--fold", "1")
    assert result.exit_code == 0, result.output
    out = tmp_path / "exports" / run_dir.name
    assert sorted(p.name for p in out.iterdir()) == ["svm_fold-1.onnx", "svm_fold-1.onnx.json"]
    assert "feature vector (hog)" in result.stdout and "not the image" in result.stdout
    meta = json.loads((out / "svm_fold-1.onnx.json").read_text())
    assert meta["input"]["name"] == "features" and meta["check"]["argmax_agree"] == meta["check"]["test_images"]
    # the export predicts what the run recorded for fold-1's test images, from their features
    (model,) = load_fold_models(load_run(run_dir), "fold-1")
    predictions = pd.read_csv(run_dir / "predictions.csv")
    fold = predictions[predictions.fold == "fold-1"]
    from benchmark.datasets import make_synthetic

    data = make_synthetic()
    position = {s: i for i, s in enumerate(data.sample_ids)}
    X = model.features(data.images[[position[s] for s in fold.sample_id]]).astype(np.float32)
    session = ort.InferenceSession(str(out / "svm_fold-1.onnx"), providers=["CPUExecutionProvider"])
    labels = session.run(["label"], {"features": X})[0]
    assert list(np.asarray(data.class_names)[labels]) == list(fold.y_pred)

    refused = _export(run_dir, "--format", "tflite")
    assert refused.exit_code == 2 and "not supported" in refused.stderr and refused.stderr.count("error:") == 1

    import benchmark.kinds._svm_export as svm_export
    from benchmark.exported import Parity

    real, calls = svm_export.svm_pipeline_to_onnx, []

    def second_fold_fails(pipeline, X):  # fold-0 passes and is staged; fold-1's check fails
        onx, parity = real(pipeline, X)
        calls.append(1)
        return onx, (parity if len(calls) == 1 else Parity(len(X), 1.0, SVM_TOLERANCE, len(X), True))

    monkeypatch.setattr(svm_export, "svm_pipeline_to_onnx", second_fold_fails)
    failed = _export(run_dir, "--out", tmp_path / "failed")
    assert failed.exit_code == 1 and "svm_fold-1.onnx: the onnx export" in failed.stderr and len(calls) == 2
    assert "does not reproduce the run's model" in failed.stderr
    assert not (tmp_path / "failed").exists()  # fold-0's passed export is not kept either, nor the folder made


@pytest.mark.slow
def test_cross_dataset_run_exports_its_source_models_checked_on_the_source_test_images(tmp_path, write_fer_csv):
    from conftest import fer_split_plan

    from benchmark.datasets import make_synthetic

    other_faces = make_synthetic(n_subjects=4, images_per_class=2, seed=7).images  # none of the source's images
    csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", fer_split_plan(), images=other_faces)
    ran = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--model", "svm-linear", "--features", "hog",
                                   "--folds", "2", "--inner-folds", "2", "--test-dataset", "fer2013",
                                   "--test-data-dir", str(csv), "--reports-dir", str(tmp_path / "reports"),
                                   "--cache-dir", str(tmp_path / "cache")])
    assert ran.exit_code == 0, ran.output
    (run_dir,) = (tmp_path / "reports" / "runs").iterdir()
    result = _export(run_dir, "--fold", "1", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "svm_fold-1.onnx.json").read_text())
    source = pd.read_csv(run_dir / "source_predictions.csv")
    assert meta["check"]["test_images"] == int((source.fold == "fold-1").sum()) > 0  # the source's fold-1 part
    assert meta["class_names"] == json.loads((run_dir / "metrics.json").read_text())["source"]["class_names"]


def test_a_live_onedal_pipeline_is_refused_in_one_line_not_mistaken_for_liblinear():
    """Only liblinear's one-vs-one model is turned into the stock SVC it holds; oneDAL's SVC (a subclass of
    scikit-learn's too) is refused as before: fer-bench exports the saved model, rebuilt as a stock SVC."""
    from models import onedal_available

    if not onedal_available():
        pytest.skip("scikit-learn-intelex (oneDAL) is not installed here")
    pipeline, X = _fitted("svm-linear", None, n_classes=3, backend="onedal")
    with pytest.raises(FerBenchError, match="ONNX export is not supported for this SVM"):
        svm_pipeline_to_onnx(pipeline, X)
