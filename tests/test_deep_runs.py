"""CNN runs end to end on tiny data: run folder, determinism, validation-only selection, matched folds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import benchmark.training as training
from benchmark.resolution import resolve
from benchmark.cli import app
from benchmark.errors import FerBenchError
from benchmark.experiment import RunConfig, run_experiment

TINY = dict(folds=2, inner_folds=3, epochs=2, batch_size=16, seed=3)
EVALUATION_FILES = {"metrics.json", "classification_report.txt", "classification_report.csv", "confusion_matrix.csv",
                    "confusion_matrix_normalized.csv", "confusion_matrix.png", "confusion_matrix.pdf",
                    "predictions.csv", "splits.csv", "config.json", "manifest.json"}


@pytest.fixture(scope="module")
def small(small_synthetic):
    """84 synthetic faces of 6 subjects: enough for 3 subject-independent folds with a carved validation part."""
    return small_synthetic


@pytest.fixture(scope="module")
def spy_runs(tmp_path_factory, small, tiny_cnn):
    """Two runs of the test CNN with one seed, recording what fit_network received in each fold."""
    root = tmp_path_factory.mktemp("deep")
    seen, original = [], training.fit_network

    def spy(model, train, val, settings, **kwargs):
        seen.append({"train": set(train.sample_ids), "val": set(val.sample_ids)})
        return original(model, train, val, settings, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "fit_network", spy)
        runs = [run_experiment(RunConfig(dataset="synthetic", model=tiny_cnn, reports_dir=str(root / f"r{i}"),
                                         **TINY), dataset=small) for i in range(2)]
    return runs, seen


@pytest.mark.slow
def test_deep_run_folder_has_the_evaluation_files_plus_history_curves_and_models(spy_runs):
    run_dir, metrics = spy_runs[0][0]
    files = {p.name for p in run_dir.iterdir()}
    assert EVALUATION_FILES <= files
    assert {"history.csv", "learning_curves.png", "learning_curves.pdf", "training_roles.csv"} <= files
    assert {f"model_fold-{k}.keras" for k in range(2)} <= files
    assert metrics["n_params"] == 167 and metrics["kind"] == "deep" and metrics["features"] == "pixels"
    history = pd.read_csv(run_dir / "history.csv")
    assert {"fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
    assert set(history.fold) == {"fold-0", "fold-1"} and history.epoch.max() <= TINY["epochs"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["training_device"]["device"] in {"CPU", "GPU"}
    assert manifest["training_device"]["deterministic_ops"] is True


@pytest.mark.slow
def test_saved_model_reloads_and_reproduces_the_predictions(spy_runs, small):
    import keras

    run_dir = spy_runs[0][0][0]
    model = keras.models.load_model(run_dir / "model_fold-0.keras")
    preds = pd.read_csv(run_dir / "predictions.csv")
    fold0 = preds[preds.fold == "fold-0"]
    position = {sample_id: i for i, sample_id in enumerate(small.sample_ids)}
    idx = [position[s] for s in fold0.sample_id]
    proba = training.predict_proba(model, small.images[idx])
    assert list(np.asarray(small.class_names)[proba.argmax(1)]) == list(fold0.y_pred)


@pytest.mark.slow
def test_two_cpu_runs_with_one_seed_give_identical_numbers(spy_runs):
    (dir_a, a), (dir_b, b) = spy_runs[0]
    for key in ("accuracy", "macro_f1", "balanced_accuracy", "folds", "confusion_matrix", "best_params"):
        assert a[key] == b[key], key
    assert (dir_a / "predictions.csv").read_bytes() == (dir_b / "predictions.csv").read_bytes()
    assert (dir_a / "history.csv").read_bytes() == (dir_b / "history.csv").read_bytes()


@pytest.mark.slow
def test_early_stopping_and_checkpoints_see_validation_data_only(spy_runs, small):
    """What fit_network (and so every callback) received holds no test image and no test subject."""
    runs, seen = spy_runs
    run_dir = runs[0][0]
    splits = pd.read_csv(run_dir / "splits.csv")
    subject_of = dict(zip(small.sample_ids, small.subjects))
    assert len(seen) == 4  # 2 folds x 2 runs
    for k, parts in enumerate(seen[:2]):
        test = set(splits.sample_id[splits.fold == f"fold-{k}"])
        assert parts["val"] and not parts["val"] & test and not parts["train"] & test
        assert not parts["val"] & parts["train"]
        val_subjects = {subject_of[s] for s in parts["val"]}
        assert not val_subjects & {subject_of[s] for s in parts["train"] | test}
    roles = pd.read_csv(run_dir / "training_roles.csv")
    for k in range(2):
        fold_roles = roles[roles.fold == f"fold-{k}"]
        assert set(fold_roles.sample_id[fold_roles.role == "validation"]) == seen[k]["val"]


@pytest.mark.slow
def test_cnn_and_svm_runs_of_one_dataset_and_seed_share_their_folds(spy_runs, small, tmp_path):
    deep_dir = spy_runs[0][0][0]
    svm_dir, _ = run_experiment(RunConfig(dataset="synthetic", model="svm-linear", features="hog",
                                          reports_dir=str(tmp_path), folds=2, inner_folds=2, seed=3), dataset=small)
    assert (deep_dir / "splits.csv").read_bytes() == (svm_dir / "splits.csv").read_bytes()
    deep_preds = pd.read_csv(deep_dir / "predictions.csv").sort_values("sample_id")
    svm_preds = pd.read_csv(svm_dir / "predictions.csv").sort_values("sample_id")
    assert list(deep_preds.fold) == list(svm_preds.fold)


@pytest.mark.slow
def test_official_split_trains_on_training_and_selects_on_publictest(tmp_path, write_fer_csv, monkeypatch, tiny_cnn):
    """FER2013: the validation part handed to training is exactly PublicTest; PrivateTest is the headline."""
    plan = [(usage, label) for usage, n in (("Training", 4), ("PublicTest", 2), ("PrivateTest", 2))
            for label in range(7) for _ in range(n)]
    csv = write_fer_csv(tmp_path / "fer2013.csv", plan)
    seen, original = [], training.fit_network

    def spy(model, train, val, settings, **kwargs):
        seen.append((set(train.sample_ids), set(val.sample_ids)))
        return original(model, train, val, settings, **kwargs)

    monkeypatch.setattr(training, "fit_network", spy)
    run_dir, metrics = run_experiment(RunConfig(dataset="fer2013", model=tiny_cnn, data_dir=str(csv),
                                                reports_dir=str(tmp_path / "reports"), epochs=1, batch_size=16,
                                                class_weights=True))
    splits = pd.read_csv(run_dir / "splits.csv")
    ids = {name: set(splits.sample_id[splits.split == name]) for name in ("Training", "PublicTest", "PrivateTest")}
    assert seen == [(ids["Training"], ids["PublicTest"])]
    assert metrics["test_split"] == "PrivateTest" and metrics["n_test"] == 14
    assert metrics["validation"]["split"] == "PublicTest"
    assert (run_dir / "model.keras").is_file()
    assert json.loads((run_dir / "config.json").read_text())["class_weights"] is True


def test_class_weights_balance_rare_classes():
    weights = training.balanced_class_weights(np.array([0, 0, 0, 1]), 3)
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0), 2: 0.0}


def test_interrupted_training_leaves_no_run_folder(tmp_path, small, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "fit_network", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(RunConfig(dataset="synthetic", model="mini-xception", reports_dir=str(tmp_path), **TINY),
                       dataset=small)
    assert list((tmp_path / "runs").iterdir()) == []


@pytest.mark.parametrize(("args", "fragment"), [
    (["--model", "mini-xception", "--pretrained"], "--pretrained: mini-xception has no published pretrained"),
    (["--model", "svm-linear", "--epochs", "3"], "--epochs only applies to CNNs"),
    (["--model", "mini-xception", "--features", "hog"], "--features does not apply to mini-xception"),
    (["--model", "mini-xception", "--epochs", "0"], "--epochs must be a positive number"),
    (["--model", "mini-xception", "--lr", "-1"], "--lr must be a positive"),
])
def test_deep_option_mistakes_are_one_line_errors(tmp_path, args, fragment):
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--reports-dir", str(tmp_path), *args])
    assert result.exit_code == 2
    assert f"error: {fragment}" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_config_rejects_deep_options_for_svms_in_notebooks_too():
    with pytest.raises(FerBenchError, match="only applies to CNNs"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", pretrained=True))
    with pytest.raises(FerBenchError, match="--epochs, --lr only apply to CNNs; svm-rbf is an SVM"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", epochs=3, lr=0.01))


def test_a_run_whose_validation_loss_is_never_finite_has_no_checkpoint():
    """NaN validation losses never count as 'best', so a diverged run cannot be evaluated as if it had one."""
    best = training._RestoreBest("val_loss")
    for epoch in range(3):
        best.on_epoch_end(epoch, {"val_loss": float("nan")})
    assert best.weights is None


def test_options_that_cannot_change_the_numbers_resolve_to_none():
    fer = resolve(RunConfig(dataset="fer2013", model="mini-xception", folds=5))
    assert fer.folds is None and fer.ck_frames is None and fer.halving_min_samples is None
    assert fer.inner_folds == 5  # unused on the official split, but harmless; k-fold carving uses it
    svm = resolve(RunConfig(dataset="fer2013", model="svm-rbf", folds=5, inner_folds=3, pca=200))
    assert (svm.folds, svm.inner_folds, svm.pca, svm.halving_min_samples) == (None, None, "200", None)
    ck = resolve(RunConfig(dataset="ck+", model="svm-rbf", halving_min_samples=10))
    assert ck.halving_min_samples is None and ck.ck_frames == 3 and ck.folds == 10


def test_an_epoch_line_says_the_figures_of_a_log_file():
    from benchmark.training import epoch_line

    line = epoch_line("fold-3", 5, 40, {"loss": 1.23456, "accuracy": 0.5, "val_loss": 1.3, "val_accuracy": 0.44},
                      12.34, 0.001)
    assert line == ("fold-3 epoch 5/40: loss 1.2346, accuracy 0.5000, val_loss 1.3000, val_accuracy 0.4400, 12.3 s, "
                    "lr 0.001")


def test_recipe_options_default_to_the_architectures_recipe_and_keep_earlier_runs_hashes():
    from dataclasses import asdict

    from benchmark.runs import config_hash

    cnn = asdict(resolve(RunConfig(dataset="synthetic", model="mini-xception", epochs=8, folds=5)))
    assert (cnn["optimizer"], cnn["schedule"], cnn["tta"]) == ("adam", "plateau", "none")
    before = {k: v for k, v in cnn.items() if k not in ("optimizer", "schedule", "tta")}  # a run made before them
    assert config_hash(cnn) == config_hash(before)
    svm = asdict(resolve(RunConfig(dataset="synthetic", model="svm-linear", features="hog")))
    assert svm["optimizer"] is None and config_hash(svm) == config_hash(
        {k: v for k, v in svm.items() if k not in ("optimizer", "schedule", "tta")})
    hashes = {config_hash(asdict(resolve(RunConfig(dataset="synthetic", model="mini-xception", epochs=8, folds=5,
                                                   **{key: value})))) for key, value in
              (("optimizer", "sgd"), ("schedule", "cosine"), ("schedule", "none"), ("tta", "flip"))}
    assert len(hashes) == 4 and config_hash(cnn) not in hashes  # another recipe, another experiment
    for key, bad in (("optimizer", "rmsprop"), ("schedule", "step"), ("tta", "five-crop")):
        with pytest.raises(FerBenchError, match=f"--{key} must be"):
            resolve(RunConfig(dataset="synthetic", model="mini-xception", **{key: bad}))
    with pytest.raises(FerBenchError, match="only applies to CNNs"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", optimizer="sgd"))


@pytest.mark.slow
def test_sgd_cosine_and_ten_crop_tta_run_logs_each_epoch_and_its_saved_models_reproduce_the_predictions(
        small, tmp_path, tiny_cnn):
    """One CNN run with another recipe, its output going to a file (not a terminal): a plain line per epoch and
    per fold while it goes on, the recipe recorded, the saved models reproducing the (ten-crop averaged) scores."""
    import io

    from rich.console import Console

    from benchmark.kinds import load_fold_models
    from benchmark.verification import load_run

    log = io.StringIO()
    run_dir, metrics = run_experiment(RunConfig(
        dataset="synthetic", model=tiny_cnn, folds=2, inner_folds=2, epochs=2, batch_size=16,
        optimizer="sgd", schedule="cosine", tta="ten-crop", reports_dir=str(tmp_path / "r")), dataset=small,
        console=Console(file=log))
    lines = log.getvalue().splitlines()
    epochs = [line for line in lines if " epoch " in line and "/2: loss " in line]
    assert [line.split(" epoch ")[0] for line in epochs] == ["fold-0", "fold-0", "fold-1", "fold-1"]
    assert all("val_accuracy" in line and " s, lr " in line for line in epochs)
    assert [line.split(":")[0] for line in lines if "epochs, best epoch" in line] == ["fold-0", "fold-1"]
    assert metrics["training"]["optimizer"] == "sgd" and metrics["training"]["schedule"] == "cosine"
    assert metrics["training"]["tta"] == "ten-crop"
    run = load_run(run_dir)
    assert (run.config["optimizer"], run.config["schedule"], run.config["tta"]) == ("sgd", "cosine", "ten-crop")
    history = pd.read_csv(run_dir / "history.csv")
    assert "lr" not in history.columns  # no plateau callback: the cosine schedule lives in the optimizer
    position = {s: i for i, s in enumerate(small.sample_ids)}
    predictions = pd.read_csv(run_dir / "predictions.csv")
    columns = [f"score_{c}" for c in small.class_names]
    for model in load_fold_models(run):
        assert model.tta == "ten-crop"
        rows = predictions[predictions.fold == model.fold]
        images = small.images[[position[s] for s in rows.sample_id]]
        np.testing.assert_allclose(model.scores(images), rows[columns].to_numpy(), atol=1e-6)
        plain = type(model)(model.fold, model.class_names, model.model)  # no TTA
        views = training.tta_views(images, "ten-crop")
        expected = sum(plain.scores(view) for view in views) / len(views)
        np.testing.assert_allclose(model.scores(images), expected, atol=1e-6)
        assert not np.allclose(model.scores(images), plain.scores(images), atol=1e-6)


def test_test_time_augmentation_views_are_the_image_its_mirror_and_ten_crops():
    images = (np.arange(2 * 48 * 48) % 251).astype(np.uint8).reshape(2, 48, 48)
    assert [len(training.tta_views(images, t)) for t in ("none", "flip", "ten-crop")] == [1, 2, 10]
    flip = training.tta_views(images, "flip")[1]
    assert np.array_equal(flip, images[:, :, ::-1])
    views = training.tta_views(images, "ten-crop")
    assert all(v.shape == images.shape and v.dtype == np.uint8 for v in views)
    assert all(np.array_equal(b, a[:, :, ::-1]) for a, b in zip(views[::2], views[1::2]))  # a crop, its mirror
    assert len({v.tobytes() for v in views[::2]}) == 5  # five different crops
    flat = np.full((1, 48, 48), 77, dtype=np.uint8)
    assert all(np.array_equal(v, flat) for v in training.tta_views(flat, "ten-crop"))  # resizing adds nothing


@pytest.mark.slow
def test_init_from_fine_tunes_a_finished_runs_weights_and_refuses_a_source_that_saw_the_test_images(
        tmp_path, learnable_fer_plan, write_fer_csv, tiny_cnn):
    """A FER2013 (official split, one model) CNN run as the source: CK+-style classes (synthetic-b) start from its
    body with a fresh classifier; the synthetic faces the source's CSV was made of are refused (it trained on
    them); a source of another architecture or with several fold models is refused; the source is recorded."""
    import io

    from rich.console import Console

    from benchmark.kinds import load_keras

    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", plan, images=images)
    common = dict(model=tiny_cnn, epochs=1, batch_size=16, reports_dir=str(tmp_path / "r"))
    source_dir, _ = run_experiment(RunConfig(dataset="fer2013", data_dir=str(csv), **common))
    log = io.StringIO()
    run_dir, metrics = run_experiment(RunConfig(dataset="synthetic-b", folds=2, inner_folds=2,
                                                init_from=str(source_dir), **common), console=Console(file=log))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    source_sha = json.loads((source_dir / "manifest.json").read_text())["model_files"]["model.keras"]
    assert manifest["init_from"]["run_id"] == source_dir.name and manifest["init_from"]["sha256"] == source_sha
    assert manifest["init_from"]["classifier"].startswith("re-initialised")
    assert config["init_weights"] == source_sha[:16] and config["init_from"] == str(source_dir)
    assert f"starting from {source_dir.name}" in log.getvalue()
    # the report marks the row as pretrained and names the source
    from benchmark.report import build_report

    build_report(tmp_path / "r")
    summary = (tmp_path / "r" / "tables" / "synthetic-b_2fold_summary.md").read_text()
    assert f"tiny test CNN (pretrained on fer2013, run {source_dir.name.rsplit('_', 1)[-1]})" in summary
    # the same run from scratch is another experiment: another config hash (the weights' hash, not the path, counts)
    from dataclasses import asdict

    from benchmark.runs import config_hash

    scratch = asdict(resolve(RunConfig(dataset="synthetic-b", folds=2, inner_folds=2, **common)))
    assert config["config_hash"] != config_hash(scratch)
    options = {k: v for k, v in config.items() if k not in ("config_hash", "param_grid", "model_source")}
    assert config["config_hash"] == config_hash(options) == config_hash({**options, "init_from": "/moved/there"})

    with pytest.raises(FerBenchError, match="trained or validated on .* of the .* test images of this run"):
        run_experiment(RunConfig(dataset="synthetic", folds=2, inner_folds=2, init_from=str(source_dir), **common))
    with pytest.raises(FerBenchError, match="can only start from a cnn-gelu run"):
        resolve(RunConfig(dataset="synthetic-b", model="cnn-gelu", init_from=str(source_dir)))
    with pytest.raises(FerBenchError, match="2 fold models"):
        resolve(RunConfig(dataset="synthetic", model=tiny_cnn, init_from=str(run_dir)))
    with pytest.raises(FerBenchError, match="only applies to CNNs"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", init_from=str(source_dir)))
    with pytest.raises(FerBenchError, match="no such run folder"):
        resolve(RunConfig(dataset="synthetic", model=tiny_cnn, init_from=str(tmp_path / "nothing")))
    with pytest.raises(FerBenchError, match=f"model.keras: a file; give the run folder that holds it \\({source_dir}"):
        resolve(RunConfig(dataset="synthetic", model=tiny_cnn, init_from=str(source_dir / "model.keras")))
    with pytest.raises(FerBenchError, match="--init-from needs a run folder"):
        resolve(RunConfig(dataset="synthetic", model=tiny_cnn, init_from=""))
    with pytest.raises(FerBenchError, match="not a complete run .*; it holds run folders: give one of them, e.g. "
                                            f"{source_dir.parent}/"):  # the runs/ folder itself
        resolve(RunConfig(dataset="synthetic", model=tiny_cnn, init_from=str(source_dir.parent)))

    # the copy itself: every layer but the classifier takes the source's weights when the classes differ
    from benchmark.kinds._transfer import transfer
    from models import get_model

    source = load_keras(source_dir / "model.keras")
    fresh = get_model(tiny_cnn).build(n_classes=7, dataset="synthetic-b", pretrained=False)
    assert transfer(fresh, source, same_classes=False).startswith("re-initialised")
    pairs = [(a, b) for a, b in zip([l for l in fresh.layers if l.weights], [l for l in source.layers if l.weights])]
    assert all(np.array_equal(x, y) for a, b in pairs[:-1] for x, y in zip(a.get_weights(), b.get_weights()))
    assert not all(np.array_equal(x, y) for x, y in zip(pairs[-1][0].get_weights(), pairs[-1][1].get_weights()))


@pytest.mark.slow
def test_seeds_that_each_start_from_their_own_seeds_source_run_are_seeds_of_one_experiment(
        tmp_path, learnable_fer_plan, write_fer_csv, tiny_cnn):
    """A pretraining experiment with seeds 0 and 1, and a fine-tuning one whose seed k starts from the source's seed
    k (as a suite does): the report shows the fine-tuning as one experiment of two seeds (mean ± std, seed
    ensemble), naming both source runs; a seed that fine-tuned another seed's source stays an experiment of its
    own (other weights, the same for any seed), and then nothing is merged."""
    from benchmark.report import build_report

    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", plan, images=images)
    common = dict(model=tiny_cnn, epochs=1, batch_size=16, reports_dir=str(tmp_path / "r"))
    sources = [run_experiment(RunConfig(dataset="fer2013", data_dir=str(csv), seed=seed, **common))[0]
               for seed in (0, 1)]
    tune = lambda seed, source: run_experiment(RunConfig(  # noqa: E731
        dataset="synthetic-b", folds=2, inner_folds=2, init_from=str(source), seed=seed, **common))[0]
    tuned = [tune(0, sources[0]), tune(1, sources[1])]
    recorded = [json.loads((run / "manifest.json").read_text())["init_from"] for run in tuned]
    assert [r["seed"] for r in recorded] == [0, 1]
    assert recorded[0]["experiment"] == recorded[1]["experiment"]  # the seeds of one source experiment
    build_report(tmp_path / "r")
    summary = pd.read_csv(tmp_path / "r" / "tables" / "synthetic-b_2fold_summary.csv")
    hashes = [source.name.rsplit("_", 1)[-1] for source in sources]
    assert list(zip(summary.variant, summary.n_seeds)) == [
        (f"pretrained on fer2013, each seed from its own seed's run of experiment {recorded[0]['experiment']}", 2)]
    assert summary.runs.iloc[0].split() == [tuned[0].name, tuned[1].name]
    methods = (tmp_path / "r" / "tables" / "synthetic-b_2fold_methods.md").read_text()
    assert all(f"run {h}), fine-tuned" in methods for h in hashes)  # each seed's source run
    ensembles = pd.read_csv(tmp_path / "r" / "tables" / "synthetic-b_2fold_seed_ensembles.csv")
    assert list(ensembles.n_seeds) == [2]
    # seed 1 fine-tuned from seed 0's source as well: seed 0's source, fixed, now has two seeds; nothing is merged
    tune(1, sources[0])
    build_report(tmp_path / "r")
    summary = pd.read_csv(tmp_path / "r" / "tables" / "synthetic-b_2fold_summary.csv")
    assert dict(zip(summary.variant, summary.n_seeds)) == {f"pretrained on fer2013, run {hashes[0]}": 2,
                                                          f"pretrained on fer2013, run {hashes[1]}": 1}


@pytest.mark.slow
def test_init_from_refuses_weights_that_saw_a_scored_image_through_the_target_an_earlier_run_or_any_record(
        tmp_path, monkeypatch, learnable_fer_plan, write_fer_csv, tiny_cnn):
    """What --init-from's weights saw is every image of its source's data outside the source's verified test
    part, and of every run they came through before; none may be scored: not a --test-dataset target's image (a
    CK+-style run fine-tuned from FER2013 and scored on FER2013), not a test image through an intermediate run,
    and a source's training_roles.csv emptied by hand changes nothing. An earlier run that is gone is refused."""
    import shutil

    plan, images = learnable_fer_plan
    faces = write_fer_csv(tmp_path / "a" / "fer2013.csv", plan, images=images)  # the synthetic faces
    other = write_fer_csv(tmp_path / "b" / "fer2013.csv", plan, images=255 - images)  # other pixels
    common = dict(model=tiny_cnn, epochs=1, batch_size=16, reports_dir=str(tmp_path / "r"))
    a, _ = run_experiment(RunConfig(dataset="fer2013", data_dir=str(faces), **common))
    b, _ = run_experiment(RunConfig(dataset="fer2013", data_dir=str(other), init_from=str(a), **common))
    k_fold = dict(folds=2, inner_folds=2, **common)

    # a target image the source trained on (all of FER2013's Training and PublicTest)
    with pytest.raises(FerBenchError, match=r"source run trained or validated on \d+ of the \d+ fer2013 images this "
                                            r"run scores \(--test-dataset\)"):
        run_experiment(RunConfig(dataset="synthetic-b", init_from=str(a), test_dataset="fer2013",
                                 test_data_dir=str(faces), **k_fold))
    # a test image seen two runs back: b never saw the synthetic faces, a (which b started from) did
    with pytest.raises(FerBenchError, match=f"the run its weights started from before, {a.name}, trained or "
                                            f"validated on .* test images of this run"):
        run_experiment(RunConfig(dataset="synthetic", init_from=str(b), **k_fold))
    # what the source saw comes from its verified splits.csv, not from training_roles.csv
    roles = a / "training_roles.csv"
    roles.write_text(roles.read_text().splitlines()[0] + "\n")
    with pytest.raises(FerBenchError, match="source run trained or validated on"):
        run_experiment(RunConfig(dataset="synthetic", init_from=str(a), **k_fold))
    # the earlier run gone: what b's weights saw before cannot be checked
    shutil.rmtree(a)
    with pytest.raises(FerBenchError, match=f"{b.name} started from {a.name} .* cannot be checked .*no such run "
                                            f"folder"):
        run_experiment(RunConfig(dataset="synthetic-b", init_from=str(b), **k_fold))
    # a source that read its default data folder, run from elsewhere: the error says how to find that data
    write_fer_csv(tmp_path / "home" / "fer2013" / "fer2013.csv", plan, images=255 - images)
    monkeypatch.setenv("FER_BENCH_DATA", str(tmp_path / "home"))
    home, _ = run_experiment(RunConfig(dataset="fer2013", **common))
    monkeypatch.setenv("FER_BENCH_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FerBenchError, match="cannot load the data the source run trained on.*default data folder.*"
                                            "set FER_BENCH_DATA"):
        run_experiment(RunConfig(dataset="synthetic-b", init_from=str(home), **k_fold))
    assert sorted(p.name for p in (tmp_path / "r" / "runs").iterdir()) == sorted([b.name, home.name])  # no others


@pytest.mark.slow
def test_a_cnn_run_trained_by_an_earlier_plateau_rule_is_its_own_variant_and_never_completes_a_suite(
        tmp_path, small, tiny_cnn):
    """The plateau and early-stopping rules a model's registration declares are data, not options (not hashed):
    a run whose metrics.json records another rule than today's declaration is never a seed of today's runs in the
    report, and a resumed suite runs it again; a run recording today's rule is untouched."""
    import io

    from rich.console import Console

    from benchmark.record import collect_runs
    from benchmark.report import group_experiments
    from benchmark.suite._suite import completed_runs

    paths = [run_experiment(RunConfig(dataset="synthetic", model=tiny_cnn, reports_dir=str(tmp_path),
                                      **{**TINY, "seed": seed}), dataset=small, console=Console(file=io.StringIO()))[0]
             for seed in (0, 1)]

    def done():
        return sorted(p for runs in completed_runs(tmp_path / "runs").values() for p, _ in runs)

    runs, _ = collect_runs(tmp_path / "runs")
    ((_, exps),) = group_experiments(runs).items()
    assert [(e.variant, len(e.runs)) for e in exps] == [("", 2)] and done() == sorted(paths)
    metrics_file = paths[1] / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    assert not {"plateau_factor", "plateau_patience"} & set(metrics["training"])  # the default rule, as declared
    metrics["training"].update(plateau_factor=0.5, plateau_patience=3)  # as if its model had declared one then
    metrics_file.write_text(json.dumps(metrics))
    runs, _ = collect_runs(tmp_path / "runs")
    ((_, exps),) = group_experiments(runs).items()
    assert sorted((e.variant, [r.metrics["seed"] for r in e.runs]) for e in exps) == [
        ("", [0]), ("rule=earlier plateau factor 0.5, patience 3", [1])]
    assert done() == [paths[0]]


def test_l2_defaults_to_the_published_penalty_keeps_earlier_runs_hashes_and_refuses_bad_values():
    from dataclasses import asdict

    from benchmark.runs import config_hash

    def resolved(model="mini-xception", **options):
        return asdict(resolve(RunConfig(dataset="synthetic", model=model, epochs=8, folds=5, **options)))

    mini = resolved()
    assert mini["l2"] is None  # Arriaga's 0.01, as every mini-xception run before --l2
    assert config_hash(mini) == config_hash({k: v for k, v in mini.items() if k != "l2"})
    assert resolved(l2=0.01) == mini  # the published value given by hand: the same experiment
    lighter = resolved(l2=1e-4)
    assert lighter["l2"] == 1e-4 and config_hash(lighter) != config_hash(mini)
    assert resolved(l2=0)["l2"] == 0.0 and config_hash(resolved(l2=0)) not in {config_hash(mini),
                                                                                config_hash(lighter)}
    assert resolved("cnn-gelu", l2=0)["l2"] is None and resolved("cnn-gelu", l2=1e-3)["l2"] == 1e-3
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(FerBenchError, match="--l2 must be a finite number >= 0"):
            resolved(l2=bad)
    with pytest.raises(FerBenchError, match="only applies to CNNs"):
        resolve(RunConfig(dataset="synthetic", model="svm-rbf", l2=0.1))


def test_a_dataset_s_validated_recipe_is_its_default_and_recipe_paper_restores_the_paper_s():
    """mini-xception's FER2013 recipe (chosen on PublicTest) fills in its settings there; ``--recipe paper`` gives
    the published recipe, the same experiment (config hash) as giving each paper setting by hand; options given
    explicitly win over either; datasets without a validated recipe get the paper's and record no recipe name."""
    from dataclasses import asdict

    from benchmark.kinds import recipe_of
    from models import get_model
    from benchmark.runs import config_hash
    from benchmark.suite._suite import describe

    def resolved(dataset="fer2013", **options):
        return resolve(RunConfig(dataset=dataset, model="mini-xception", **options))

    spec = get_model("mini-xception")
    validated, paper = spec.dataset_training["fer2013"], recipe_of(spec)
    default = resolved()
    assert default.recipe == "validated" and {k: getattr(default, k) for k in validated} == validated
    assert (paper["schedule"], paper["tta"], paper["l2"]) == ("plateau", "none", 0.01)  # the paper's, listed
    by_hand = resolved(recipe="paper")
    assert by_hand.recipe == "paper" and (by_hand.epochs, by_hand.schedule, by_hand.tta, by_hand.l2) == (
        paper["epochs"], "plateau", "none", None)  # null: the published L2, as runs before --l2 record it
    # the paper's recipe is the experiment every FER2013 mini-xception run was before the option (no recipe, l2
    # null): the same hash
    assert config_hash(asdict(by_hand)) == config_hash(
        {k: v for k, v in asdict(by_hand).items() if k != "recipe"}) != config_hash(asdict(default))
    # resolving a resolved config (as suites do) changes nothing: the paper's L2 given on FER2013 stays 0.01
    assert resolved(l2=0.01).l2 == 0.01
    for dataset in ("fer2013", "ck+"):
        for options in ({}, {"recipe": "paper"}, {"l2": 0.01}, {"l2": 1e-4}, {"recipe": "paper", "l2": 1e-4}):
            once = resolved(dataset, **options)
            assert resolve(once) == once, (dataset, options)
    # an explicit option wins over the validated recipe, the rest of which still applies
    mixed = resolved(tta="flip")
    assert (mixed.tta, mixed.schedule, mixed.l2, mixed.epochs) == ("flip", "cosine", validated["l2"],
                                                                   {**paper, **validated}["epochs"])
    assert describe(default).endswith("seed 0") and describe(mixed).endswith("(tta=flip)")
    assert describe(by_hand).endswith("(paper recipe)")
    # CK+ has no validated recipe: the paper's, with or without --recipe paper, and no name recorded
    ck, ck_paper = resolved("ck+"), resolved("ck+", recipe="paper")
    assert ck.recipe is None and ck_paper.recipe == "paper"  # recorded as given (no "ignored" note), not hashed
    assert config_hash(asdict(ck)) == config_hash(asdict(ck_paper))
    assert (ck.epochs, ck.schedule, ck.tta) == (paper["epochs"], "plateau", "none")
    with pytest.raises(FerBenchError, match="--recipe must be validated or paper, got 'best'"):
        resolved(recipe="best")
    with pytest.raises(FerBenchError, match="only applies to CNNs"):
        resolve(RunConfig(dataset="fer2013", model="svm-rbf", recipe="paper"))


def test_the_published_l2_given_by_hand_is_not_called_ignored():
    """``--l2 0.01`` on CK+ resolves to null (the published value), which is a setting, not an option dropped; and
    ``--recipe paper`` is recorded as given: neither gets the "does not apply ... ignored" note."""
    from benchmark.resolution import ignored_options

    for options in ({"l2": 0.01}, {"recipe": "paper"}):
        requested = RunConfig(dataset="ck+", model="mini-xception", **options)
        assert ignored_options(requested, resolve(requested)) == [], options
    requested = RunConfig(dataset="fer2013", model="mini-xception", folds=5)
    assert ignored_options(requested, resolve(requested)) == ["--folds"]  # a real one still is
