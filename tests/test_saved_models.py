"""Saved models: SVM pipelines as arrays + JSON rebuilt into stock scikit-learn, hashes verified before any use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from benchmark.errors import FerBenchError
from benchmark.kinds import SVMFoldModel, check_saved_svm, load_fold_models, save_svm
from benchmark.saved_models import MODEL_FILES, ensemble_scores, verified_model_path
from benchmark.verification import load_run
from features import HOGFeatures
from features._bovw import DenseSIFTBoVW
from models import get_model, onedal_available
from models._files import STEP_CLASSES, ModelFileError, from_arrays, pipeline_from_arrays, pipeline_to_arrays

BACKENDS = ["libsvm"] + (["onedal"] if onedal_available() else [])


def _data(n=160, d=30, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    X = rng.normal(size=(n, d)) + y[:, None] * 0.4
    return X, y


@pytest.mark.parametrize("backend", BACKENDS + ["liblinear"])
@pytest.mark.parametrize("model,pca", [("svm-rbf", 10), ("svm-rbf", None), ("svm-linear", None), ("svm-poly", 8)])
def test_fitted_pipelines_rebuild_as_stock_scikit_learn_with_identical_predictions(model, pca, backend):
    if backend == "liblinear" and model != "svm-linear":
        pytest.skip("liblinear fits linear SVMs only")
    X, y = _data()
    fitted = get_model(model).build(seed=0, pca=pca, backend=backend).fit(X, y)
    steps, arrays = pipeline_to_arrays(fitted)
    json.dumps(steps)  # plain JSON: no object survives as anything but numbers, strings and arrays
    rebuilt = pipeline_from_arrays(json.loads(json.dumps(steps)), arrays)
    assert type(rebuilt.named_steps["svm"]).__module__.startswith("sklearn.svm")
    np.testing.assert_array_equal(rebuilt.predict(X), fitted.predict(X))
    scale = np.abs(fitted.decision_function(X)).max()
    np.testing.assert_allclose(rebuilt.decision_function(X), fitted.decision_function(X), atol=1e-4 * scale)


def test_a_liblinear_svm_is_the_kernel_solvers_model_and_saves_checks_and_exports_as_a_stock_svc(tmp_path, synthetic):
    """svm-linear's liblinear solver (FER2013's default) solves the kernel solvers' problem (hinge loss, one-vs-one)
    pair by pair: each pair's decision values are liblinear's own hyperplane's, it predicts within a few labels of
    libsvm's linear SVC, and it is held, saved, checked and exported as the stock linear SVC it is."""
    from sklearn.svm import SVC, LinearSVC

    from benchmark.kinds import svm_pipeline_to_onnx
    from models._svm import INTERCEPT_SCALING, LIBLINEAR_MAX_ITER

    images, y = synthetic.images[:200], synthetic.labels[:200]
    extractors = [("hog", HOGFeatures())]
    X = extractors[0][1].transform(images)
    pipeline = get_model("svm-linear").build(seed=0, pca=20, backend="liblinear").set_params(svm__C=0.01).fit(X, y)
    svm = pipeline.named_steps["svm"]
    assert type(svm).__name__ == "LiblinearSVC" and isinstance(svm, SVC) and svm.kernel == "linear"
    Z = pipeline[:-1].transform(X)
    classes = svm.classes_
    pairs = [(i, j) for i in range(len(classes)) for j in range(i + 1, len(classes))]
    svm.decision_function_shape = "ovo"  # as the save check reads the pairs
    ovo = svm.decision_function(Z)
    for k in (0, len(pairs) - 1):  # the first and the last pair, by liblinear itself
        i, j = pairs[k]
        rows = (y == classes[i]) | (y == classes[j])
        own = LinearSVC(C=0.01, loss="hinge", max_iter=LIBLINEAR_MAX_ITER, intercept_scaling=INTERCEPT_SCALING,
                        random_state=0)
        own.fit(Z[rows], np.where(y[rows] == classes[i], 1, -1))
        # (the pipeline's fit saw PCA's fit_transform, equal to this transform up to rounding, which liblinear's
        # stopping rule may carry to its tolerance)
        np.testing.assert_allclose(ovo[:, k], own.decision_function(Z), atol=1e-4)
    svm.decision_function_shape = "ovr"
    kernel = get_model("svm-linear").build(seed=0, pca=20, backend="libsvm").set_params(svm__C=0.01).fit(X, y)
    assert np.mean(kernel.predict(X) == pipeline.predict(X)) >= 0.97  # the same model, up to the solvers
    fitted = SVMFoldModel("fold-0", synthetic.class_names, extractors, pipeline)
    save_svm(tmp_path / "svm", fitted)
    assert json.loads((tmp_path / "svm.json").read_text())["pipeline"][-1]["params"]["kernel"] == "linear"
    rebuilt, check = check_saved_svm(tmp_path / "svm", fitted, X, images[:4])
    assert check["max_abs_score_diff"] == 0.0 and check["labels_differing_from_solver"] == 0
    assert check["predictions_by"] == "the saved model (stock scikit-learn SVC)"
    _, parity = svm_pipeline_to_onnx(rebuilt.pipeline, X)
    assert parity.passed and parity.argmax_agree == len(X), parity.describe()
    _, parity = svm_pipeline_to_onnx(pipeline, X)  # the fitted pipeline too
    assert parity.passed, parity.describe()


def test_chi2_pipeline_and_learned_vocabulary_round_trip(tmp_path, synthetic):
    images, y = synthetic.images[:140], synthetic.labels[:140]
    bovw = DenseSIFTBoVW(n_words=16, max_descriptors=4000).fit(images)
    extractors = [("bovw", bovw), ("hog", HOGFeatures())]
    X = np.hstack([e.transform(images) for _, e in extractors])
    pipeline = get_model("svm-chi2").build(seed=0, backend="libsvm").fit(X, y)
    fitted = SVMFoldModel("fold-0", synthetic.class_names, extractors, pipeline)
    save_svm(tmp_path / "svm", fitted)
    rebuilt, check = check_saved_svm(tmp_path / "svm", fitted, X, images[:4])
    assert check["max_abs_feature_diff"] == 0.0 and check["labels_differing_from_solver"] == 0
    np.testing.assert_array_equal(rebuilt.extractors[0][1].vocabulary_, bovw.vocabulary_)
    assert rebuilt.extractors[0][1].get_params() == bovw.get_params()  # tuples stay tuples
    np.testing.assert_array_equal(rebuilt.predict(images), pipeline.predict(X))
    with np.load(tmp_path / "svm.npz", allow_pickle=False) as arrays:  # never needs unpickling
        assert all(arrays[k].dtype != object for k in arrays.files)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_save_check_compares_pairwise_decisions_which_rounding_cannot_flip_by_a_vote(backend):
    from benchmark.kinds._svm_files import pairwise_decisions

    X, y = _data(classes=5)
    fitted = get_model("svm-rbf").build(seed=0, pca=None, backend=backend).fit(X, y)
    pairwise = pairwise_decisions(fitted, X)
    assert pairwise.shape == (len(X), 10)  # one column per pair of the 5 classes
    assert fitted.named_steps["svm"].decision_function_shape == "ovr"  # set back
    rebuilt = pipeline_from_arrays(*pipeline_to_arrays(fitted))
    np.testing.assert_allclose(pairwise_decisions(rebuilt, X), pairwise, atol=1e-4 * np.abs(pairwise).max())


def test_a_class_outside_the_allow_list_is_never_constructed():
    with pytest.raises(ModelFileError, match="not one fer-bench rebuilds"):
        from_arrays({"class": "Popen", "params": {"args": ["true"]}, "attributes": {}}, {}, STEP_CLASSES)


def test_ensemble_averages_scores_and_keeps_classes_no_fold_saw_as_nan():
    class Fixed:
        def __init__(self, scores):
            self._scores = np.array(scores, dtype=float)

        def scores(self, images):
            return self._scores

    mean = ensemble_scores([Fixed([[1.0, np.nan, 3.0]]), Fixed([[3.0, np.nan, np.nan]])], np.zeros((1, 48, 48)))
    np.testing.assert_allclose(mean[0, [0, 2]], [2.0, 3.0])
    assert np.isnan(mean[0, 1])


@pytest.mark.slow
def test_a_runs_saved_models_reproduce_its_recorded_predictions_exactly(synthetic_linear_run, synthetic):
    run_dir = synthetic_linear_run.run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert set(manifest[MODEL_FILES]) == {f"svm_fold-{k}.{ext}" for k in range(3) for ext in ("npz", "json")}
    assert all(c["max_abs_score_diff"] <= 1e-4 for c in manifest["model_check"].values())
    predictions = pd.read_csv(run_dir / "predictions.csv")
    position = {s: i for i, s in enumerate(synthetic.sample_ids)}
    for model in load_fold_models(load_run(run_dir)):
        rows = predictions[predictions.fold == model.fold]
        images = synthetic.images[[position[s] for s in rows.sample_id]]
        names = np.asarray(synthetic.class_names)[model.predict(images)]
        assert list(names) == list(rows.y_pred)
        recorded = rows[[f"score_{c}" for c in synthetic.class_names]].to_numpy()
        np.testing.assert_array_equal(model.scores(images), recorded)


@pytest.mark.slow
def test_a_changed_model_file_or_a_run_without_hashes_is_refused(synthetic_linear_run, tmp_path):
    run_dir = tmp_path / synthetic_linear_run.run_dir.name
    shutil.copytree(synthetic_linear_run.run_dir, run_dir)
    data = bytearray((run_dir / "svm_fold-1.npz").read_bytes())
    data[-40] ^= 0xFF
    (run_dir / "svm_fold-1.npz").write_bytes(bytes(data))
    assert verified_model_path(run_dir, "svm_fold-0.npz").name == "svm_fold-0.npz"
    with pytest.raises(FerBenchError, match="svm_fold-1.npz: SHA-256 .* differs"):
        load_fold_models(load_run(run_dir))
    assert [m.fold for m in load_fold_models(load_run(run_dir), "fold-2")] == ["fold-2"]
    assert [m.fold for m in load_fold_models(load_run(run_dir), "2")] == ["fold-2"]
    with pytest.raises(FerBenchError, match="--fold fold-9: .* has folds fold-0, fold-1, fold-2"):
        load_fold_models(load_run(run_dir), "fold-9")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    del manifest[MODEL_FILES]
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(FerBenchError, match="recorded before fer-bench saved and hashed its models; re-run it"):
        load_fold_models(load_run(run_dir), "fold-0")


def _exact_pairwise(svm, Z: np.ndarray) -> np.ndarray:
    """The one-vs-one decision values of a fitted SVC's own dual solution, summed in double precision here."""
    sv, coef = np.asarray(svm.support_vectors_, np.float64), np.asarray(svm.dual_coef_, np.float64)
    K = Z @ sv.T if svm.kernel == "linear" else (svm._gamma * Z @ sv.T + svm.coef0) ** svm.degree
    starts, k, out = np.concatenate([[0], np.cumsum(svm.n_support_)]), len(svm.classes_), []
    for i in range(k):
        for j in range(i + 1, k):
            a, b = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
            out.append(K[:, a] @ coef[j - 1, a] + K[:, b] @ coef[i, b] + svm.intercept_[len(out)])
    return np.stack(out, axis=1)


@pytest.mark.skipif(not onedal_available(), reason="needs scikit-learn-intelex (oneDAL)")
@pytest.mark.parametrize("model,params", [("svm-linear", {"svm__C": 1.0}), ("svm-poly", {"svm__C": 10.0})])
def test_onedal_fits_unbounded_kernels_in_double_precision_from_single_precision_features(model, params):
    """Features are float32; oneDAL computes in its input's precision, and a linear or polynomial kernel sum of
    single-precision terms loses ~1e-7 of their magnitudes, which on FER2013 (57,000 images) put the solver's own
    decision values 0.26 away from the saved model's and threw the run away. The pipeline hands the SVM doubles:
    the solver's decision values are its dual solution's exact ones, as the saved libsvm model computes them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2000)).astype(np.float32)  # wide: kernel terms in the thousands, decisions ~1
    y = np.arange(300) % 3
    pipeline = get_model(model).build(seed=0, backend="onedal").set_params(**params).fit(X, y)
    from benchmark.kinds._svm_files import pairwise_decisions

    svm = pipeline.named_steps["svm"]
    exact = _exact_pairwise(svm, pipeline[:-1].transform(X))
    assert np.abs(pairwise_decisions(pipeline, X) - exact).max() <= 1e-8 * max(1.0, np.abs(exact).max())
