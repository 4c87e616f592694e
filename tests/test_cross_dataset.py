"""Cross-dataset evaluation (``--test-dataset``): the canonical emotion table, the second synthetic dataset, runs in
both directions between synthetic and synthetic-b (k-fold sources scored by their fold ensemble), the run record's
checks, the report's cross-dataset table, suites and the refusals."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.resolution import resolve
from benchmark.cli import app
from benchmark.datasets import FER_CLASSES, FERPLUS_CLASSES, Dataset, load_dataset, make_synthetic
from benchmark.datasets._ckplus import CK48_CLASSES, CK_CODES
from benchmark.datasets._emotions import CANONICAL, canonical, canonical_classes, class_mapping
from benchmark.datasets._synthetic import make_synthetic_b
from benchmark.errors import FerBenchError
from benchmark.experiment import RunConfig, run_experiment
from benchmark.metrics import DUPLICATE_COLUMN
from benchmark.protocols import CrossDataset, make_protocol
from benchmark.evaluations import load_target
from benchmark.record import SCHEMA_VERSION, collect_runs, read_run
from benchmark.verification import check_run, load_run
from benchmark.runs import config_hash
from benchmark.kinds import load_fold_models
from benchmark.saved_models import ensemble_scores

#: FER2013's names -> CK+'s, written out by hand (the table under test must agree with it).
FER_TO_CK = {"Angry": "anger", "Disgust": "disgust", "Fear": "fear", "Happy": "happy", "Sad": "sadness",
             "Surprise": "surprise"}
FAST = dict(model="svm-linear", features="hog", folds=3, inner_folds=2, seed=0)


# ------------------------------------------------------------------------------------------ the emotion table

def test_canonical_table_maps_every_dataset_s_class_names_to_the_same_emotions():
    """FER2013, CK+ (both layouts), FER+ and both synthetic datasets: each name maps to one canonical emotion,
    spelled differently but the same emotion ("Happy", "happy", "happiness")."""
    assert canonical_classes(FER_CLASSES) == ("anger", "disgust", "fear", "happiness", "sadness", "surprise",
                                              "neutral")
    assert canonical_classes(CK48_CLASSES) == ("anger", "contempt", "disgust", "fear", "happiness", "sadness",
                                               "surprise")
    assert canonical_classes(CK_CODES)[0] == "neutral"
    assert canonical_classes(FERPLUS_CLASSES) == ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                                                  "fear", "contempt")
    assert set(canonical_classes(make_synthetic_b(2, 1).class_names)) == set(CANONICAL) - {"neutral"}
    assert {canonical(n) for n in ("Happy", "happy", "happiness", "HAPPINESS ")} == {"happiness"}
    assert {canonical(n) for n in ("Sad", "sadness")} == {"sadness"}


def test_unknown_or_ambiguous_class_names_are_refused_with_one_line():
    with pytest.raises(FerBenchError, match=r"mydata: class 'joy' is not an emotion the canonical table knows"):
        canonical_classes(("anger", "joy"), where="mydata")
    with pytest.raises(FerBenchError, match=r"classes 'Happy' and 'happiness' are both 'happiness'"):
        canonical_classes(("Happy", "happiness"))


def test_fer2013_to_ck48_mapping_drops_contempt_and_counts_neutral_as_outside():
    mapping = class_mapping(FER_CLASSES, CK48_CLASSES, source="fer2013", target="ck+")
    assert dict(zip((mapping.source_names[s] for _, s, _ in mapping.shared), mapping.shared_target_names)) == FER_TO_CK
    assert mapping.target_only == ("contempt",) and mapping.source_only == ("Neutral",)
    back = class_mapping(CK48_CLASSES, FERPLUS_CLASSES)
    assert back.target_only == ("neutral",) and back.source_only == () and len(back.shared) == 7
    with pytest.raises(FerBenchError, match="share no emotion"):
        class_mapping(("happy", "sadness"), ("anger", "fear"), source="a", target="b")


# ------------------------------------------------------------------------------------------ the datasets

def test_synthetic_b_is_another_dataset_drawn_by_the_same_code():
    """synthetic stays byte for byte what it was; synthetic-b has CK+'s classes, other faces and other pixels."""
    a, b = make_synthetic(), load_dataset("synthetic-b")
    assert a.fingerprint == "2311c1e3357135a6a08950a43a568568429390e9189be442472801a85d59db60"
    assert b.name == "synthetic-b" and b.class_names == CK48_CLASSES and len(b) == 420
    assert b.images.shape[1:] == (48, 48) and len(np.unique(b.subjects)) == 12
    assert abs(float(a.images.mean()) - float(b.images.mean())) > 20  # lighter backgrounds, larger faces
    assert not set(map(bytes, a.images)) & set(map(bytes, b.images))


def test_a_target_of_another_size_is_resized_by_its_loader(tmp_path, face_pool):
    """A CK+48 folder of 64 x 64 RGB files loads as 48 x 48 faces, each conversion counted."""
    root = tmp_path / "ck"
    for k, name in enumerate(CK48_CLASSES):
        (root / name).mkdir(parents=True)
        big = Image.fromarray(face_pool[k]).resize((64, 64)).convert("RGB")
        big.save(root / name / f"S{k:03d}_001_00000001.png")
    config = resolve(RunConfig(dataset="synthetic", test_dataset="ck+", test_data_dir=str(root), **FAST))
    target = load_target(config)
    assert target.images.shape == (7, 48, 48) and len(target.converted) == 7
    assert target.converted[0]["original"] == "64x64 RGB"


# ------------------------------------------------------------------------------------------ options and refusals

def test_new_options_leave_existing_config_hashes_alone():
    """A run without --test-dataset hashes as it did before the options existed (they resolve to None)."""
    config = asdict(resolve(RunConfig(dataset="synthetic", **FAST)))
    assert config["test_dataset"] is None and config["test_data_dir"] is None
    before = {k: v for k, v in config.items() if k not in ("test_dataset", "test_data_dir")}
    assert config_hash(config) == config_hash(before)
    cross = asdict(resolve(RunConfig(dataset="synthetic", test_dataset="synthetic-b", **FAST)))
    assert config_hash(cross) != config_hash(config)


def test_a_ck_target_keeps_its_own_data_options():
    """--ck-frames loads a CK+ target, so it is kept even though the FER2013-like source does not use it."""
    config = resolve(RunConfig(dataset="synthetic", test_dataset="ck+", ck_frames=2, **FAST))
    assert config.ck_frames == 2
    assert resolve(RunConfig(dataset="synthetic", ck_frames=2, **FAST)).ck_frames is None


@pytest.mark.parametrize("args, message", [
    (["--test-dataset", "synthetic"], "--test-dataset synthetic is --dataset itself"),
    (["--test-dataset", "nope"], "--test-dataset: unknown dataset 'nope'"),
    (["--test-dataset", "ck+", "--test-data-dir", " "], "--test-data-dir is empty"),
])
def test_bad_test_dataset_is_one_line_and_exit_2(tmp_path, args, message):
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--model", "svm-linear",
                                      "--reports-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _dataset(name, images, labels, class_names, subjects):
    return Dataset(name=name, layout=name, images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels),
                   class_names=tuple(class_names), sample_ids=np.array([f"{name}/{k}" for k in range(len(labels))]),
                   subjects=np.asarray(subjects))


def test_no_shared_emotion_or_nothing_left_to_score_is_refused(small_synthetic):
    source = small_synthetic
    protocol = make_protocol(source, folds=3)
    n = 6
    other = _dataset("x", np.full((n, 48, 48), 7), [0, 1] * 3, ("contempt", "contempt2"), ["s"] * n)
    with pytest.raises(FerBenchError, match="contempt2"):  # not an emotion
        CrossDataset.build(protocol, source, other)
    only_contempt = _dataset("x", np.full((n, 48, 48), 7), [0] * n, ("contempt",), ["s"] * n)
    with pytest.raises(FerBenchError, match="share no emotion"):
        CrossDataset.build(protocol, source, only_contempt)
    copies = _dataset("copies", source.images[:n], source.labels[:n], source.class_names, ["s"] * n)
    with pytest.raises(FerBenchError, match="no image left to score .all of them are pixel-identical"):
        CrossDataset.build(protocol, source, copies)


def test_images_the_source_holds_are_dropped_and_counted(small_synthetic):
    """A target image pixel-identical to a source image (FER+ holds FER2013's) is never scored."""
    source = small_synthetic
    target = make_synthetic_b(3, 2)
    mixed = _dataset("mixed", np.concatenate([target.images, source.images[:4]]),
                     np.concatenate([target.labels, [0, 0, 0, 0]]), target.class_names, ["s"] * (len(target) + 4))
    cross = CrossDataset.build(make_protocol(source, folds=3), source, mixed)
    parts = pd.Series(cross.parts).value_counts().to_dict()
    assert parts == {"target": len(target) - 6, "class-not-in-source": 6, "image-in-source": 4}


# ------------------------------------------------------------------------------------------ runs

@pytest.fixture(scope="module")
def datasets():
    """Small copies of both synthetic datasets: 126 faces of 6 subjects and 84 faces of 4 subjects."""
    return make_synthetic(n_subjects=6, images_per_class=3, seed=2), make_synthetic_b(n_subjects=4, images_per_class=3)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, datasets):
    """svm-linear on hog: synthetic -> synthetic-b, synthetic-b -> synthetic, and synthetic in-domain."""
    root = tmp_path_factory.mktemp("cross")
    a, b = datasets
    common = dict(reports_dir=str(root / "reports"), cache_dir=str(root / "cache"), n_jobs=1, **FAST)
    out = {}
    for key, source, target, test in (("a_to_b", a, b, "synthetic-b"), ("b_to_a", b, a, "synthetic"),
                                      ("a", a, None, None)):
        config = RunConfig(dataset=source.name, test_dataset=test, **common)
        out[key] = run_experiment(config, dataset=source, others=(target,) if target is not None else ())
    return out


def _scores(frame: pd.DataFrame, class_names) -> np.ndarray:
    return frame[[f"score_{c}" for c in class_names]].to_numpy(dtype=float)


def test_predictions_are_the_argmax_over_shared_emotions_of_the_fold_ensemble(runs, datasets):
    """One row per target image of a shared emotion; its scores are the mean of the saved fold models' scores; its
    prediction is the argmax over the shared emotions only, named as the target names them."""
    run_dir, metrics = runs["a_to_b"]
    a, b = datasets
    predictions = pd.read_csv(run_dir / "predictions.csv")
    kept = np.flatnonzero(np.asarray(b.class_names)[b.labels] != "contempt")
    assert list(predictions.sample_id) == list(b.sample_ids[kept]) and set(predictions.part) == {"target"}
    scores = _scores(predictions, a.class_names)
    models = load_fold_models(load_run(run_dir))
    assert len(models) == 3
    np.testing.assert_allclose(scores, ensemble_scores(models, b.images[kept]), rtol=1e-9, atol=1e-9)
    shared = list(FER_TO_CK)
    by_hand = [FER_TO_CK[shared[k]] for k in scores[:, [a.class_names.index(c) for c in shared]].argmax(axis=1)]
    assert list(predictions.y_pred) == by_hand
    assert set(predictions.y_true) | set(predictions.y_pred) <= set(FER_TO_CK.values())
    assert metrics["class_names"] == [c for c in b.class_names if c != "contempt"]
    assert metrics["accuracy"] == pytest.approx(float(np.mean(predictions.y_true == predictions.y_pred)))


def test_drops_and_the_top_class_outside_are_counted_from_the_saved_scores(runs, datasets):
    a, b = datasets
    for key, source, target, outside in (("a_to_b", a, b, "Neutral"), ("b_to_a", b, a, "contempt")):
        run_dir, metrics = runs[key]
        predictions = pd.read_csv(run_dir / "predictions.csv")
        top = np.asarray(source.class_names)[_scores(predictions, source.class_names).argmax(axis=1)]
        assert list(predictions.top_class) == list(top)
        facts = metrics["cross_dataset"]
        assert facts["top_class_outside"]["count"] == int((top == outside).sum())
        assert facts["top_class_outside"]["rate"] == pytest.approx(float(np.mean(top == outside)))
        missing = next(c for c in target.class_names if c.lower() in ("contempt", "neutral"))
        n_missing = int((target.labels == target.class_names.index(missing)).sum())
        assert facts["dropped"]["class-not-in-source"] == {missing: n_missing} and facts["n_dropped"] == n_missing
        assert facts["n_scored"] == len(predictions) == len(target) - n_missing
        splits = pd.read_csv(run_dir / "splits.csv")
        assert len(splits) == len(target) and int((splits.part == "class-not-in-source").sum()) == n_missing


def test_run_folder_records_both_datasets_and_the_source_s_own_score(runs, datasets):
    run_dir, metrics = runs["a_to_b"]
    a, b = datasets
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["dataset"]["fingerprint"] == a.fingerprint
    assert manifest["test_dataset"]["fingerprint"] == b.fingerprint
    assert manifest["schema_version"] == SCHEMA_VERSION >= 3 and manifest["protocol"]["kind"] == "cross-dataset"
    assert list(manifest["protocol"]["source"]["sizes"]) == ["fold-0", "fold-1", "fold-2"]
    assert manifest["class_mapping"]["target_only"] == ["contempt"] and manifest["class_mapping"]["source_only"] == [
        "Neutral"]
    assert manifest["cross_dataset"] == metrics["cross_dataset"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["test_dataset"] == "synthetic-b" and metrics["test_dataset"] == "synthetic-b"
    # the source's own test predictions: every source image once, scored as its protocol scores them
    source = pd.read_csv(run_dir / "source_predictions.csv")
    assert sorted(source.sample_id) == sorted(a.sample_ids) and set(source.fold) == {"fold-0", "fold-1", "fold-2"}
    per_fold = source.groupby("fold").apply(lambda g: float(np.mean(g.y_true == g.y_pred)), include_groups=False)
    assert metrics["source"]["accuracy"] == pytest.approx(per_fold.mean())
    assert metrics["source"]["protocol"] == "subject-kfold"
    assert {"svm_fold-0.npz", "svm_fold-2.json", "search.json"} <= {p.name for p in run_dir.iterdir()}


def test_verify_accepts_the_run_and_refuses_tampered_copies(runs, tmp_path):
    run_dir, _ = runs["a_to_b"]
    assert check_run(load_run(run_dir)) is None

    def tampered(name: str, change) -> str | None:
        copy = tmp_path / name
        shutil.copytree(run_dir, copy)
        change(copy)
        found, skipped = collect_runs(tmp_path)
        run = next((r for r in found if r.run_id == name), None)
        return dict(skipped).get(name) if run is None else check_run(run)

    def swap_predictions(folder: Path):
        """Swap the predictions of two rows of one true class: every figure stays as it was, not the argmax."""
        frame = pd.read_csv(folder / "predictions.csv")
        for _, group in frame.groupby("y_true"):
            if group.y_pred.nunique() > 1:
                i, j = group.index[0], group.index[group.y_pred != group.y_pred.iloc[0]][0]
                frame.loc[[i, j], "y_pred"] = frame.loc[[j, i], "y_pred"].to_numpy()
                break
        frame.to_csv(folder / "predictions.csv", index=False)

    def edit_json(file: str, edit):
        def change(folder: Path):
            data = json.loads((folder / file).read_text())
            edit(data)
            (folder / file).write_text(json.dumps(data))
        return change

    def outside(m):
        m["cross_dataset"]["top_class_outside"]["count"] += 1

    def relabel_drop(folder: Path):
        frame = pd.read_csv(folder / "splits.csv")
        frame.loc[frame.index[frame.part == "class-not-in-source"][0], "part"] = "image-in-source"
        frame.to_csv(folder / "splits.csv", index=False)

    def lose_source_row(folder: Path):
        frame = pd.read_csv(folder / "source_predictions.csv")
        frame.iloc[1:].to_csv(folder / "source_predictions.csv", index=False)

    assert "the argmax of its scores over the shared emotions is" in tampered("swap", swap_predictions)
    assert "top_class_outside.count" in tampered("outside", edit_json("metrics.json", outside))
    assert "drop counts" in tampered("drops", relabel_drop)
    assert tampered("source", lose_source_row).startswith("the source's own part: source_predictions.csv has")
    assert "source_splits.csv" in tampered("nosplits", lambda f: (f / "source_splits.csv").unlink())
    assert "test dataset's fingerprint" in tampered(
        "nofp", edit_json("manifest.json", lambda m: m["test_dataset"].pop("fingerprint")))
    assert "class_mapping" in tampered(
        "mapping", edit_json("manifest.json", lambda m: m["class_mapping"]["shared"].pop()))


def test_report_has_a_cross_dataset_table_and_keeps_those_runs_out_of_in_domain_tables(runs):
    from benchmark.report import build_report

    reports = runs["a"][0].parent.parent
    result = build_report(reports)
    assert result["runs"] == 3 and "Cross-dataset evaluation" in result["datasets"]
    table = pd.read_csv(reports / "tables" / "cross_dataset.csv")
    assert set(table.pair) == {"synthetic (3-fold) → synthetic B", "synthetic B (3-fold) → synthetic"}
    row = table[table.pair == "synthetic (3-fold) → synthetic B"].iloc[0]
    metrics = runs["a_to_b"][1]
    assert row.model == "svm-linear" and row.accuracy == pytest.approx(metrics["accuracy"])
    assert row.n_scored == metrics["cross_dataset"]["n_scored"]
    assert row.n_dropped == metrics["cross_dataset"]["n_dropped"]
    assert row.source_accuracy == pytest.approx(metrics["source"]["accuracy"])
    assert row.top_class_outside_rate == pytest.approx(metrics["cross_dataset"]["top_class_outside"]["rate"])
    summary = pd.read_csv(reports / "tables" / "synthetic_3fold_summary.csv")
    assert list(summary.runs) == [runs["a"][0].name]  # the in-domain run only
    assert not (reports / "tables" / "synthetic-b_3fold_summary.csv").exists()
    text = (reports / "report.md").read_text()
    assert "## Cross-dataset evaluation" in text and "synthetic (3-fold) → synthetic B" in text
    assert r"$\rightarrow$" in (reports / "tables" / "cross_dataset.tex").read_text()


def test_an_official_split_source_scores_with_its_one_model(tmp_path, learnable_fer_plan, write_fer_csv, datasets):
    """FER2013-like source: fitted on Training, selected on PublicTest; its one model scores the target; its own
    PublicTest and PrivateTest predictions are kept as the source part, PrivateTest its in-domain score."""
    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", plan, images=images)
    target = datasets[1]
    config = RunConfig(dataset="fer2013", data_dir=str(csv), test_dataset="synthetic-b",
                       reports_dir=str(tmp_path / "reports"), cache_dir=str(tmp_path / "cache"),
                       **{**FAST, "folds": 10})
    run_dir, metrics = run_experiment(config, others=(target,))
    run = load_run(run_dir)
    assert run.model_folds() == ["PrivateTest"] and {"svm.npz", "svm.json"} <= {p.name for p in run_dir.iterdir()}
    (model,) = load_fold_models(load_run(run_dir))
    kept = np.flatnonzero(np.asarray(target.class_names)[target.labels] != "contempt")
    np.testing.assert_allclose(_scores(run.predictions, FER_CLASSES), model.scores(target.images[kept]), atol=1e-9)
    assert metrics["source"]["protocol"] == "official-split" and metrics["source"]["test_split"] == "PrivateTest"
    assert metrics["source"]["validation"]["split"] == "PublicTest"
    private = run.source_predictions[run.source_predictions.split == "PrivateTest"]
    assert metrics["source"]["accuracy"] == pytest.approx(float(np.mean(private.y_true == private.y_pred)))
    assert set(run.source_predictions.split) == {"PublicTest", "PrivateTest"}
    # as in-domain, the official split's part says which images have a copy where the model fitted or selected
    assert not run.source_predictions[DUPLICATE_COLUMN].any() and metrics["source"]["n_cross_split_duplicates"] == 0
    assert metrics["source"]["accuracy_without_cross_split_duplicates"] == metrics["source"]["accuracy"]
    assert metrics["cross_dataset"]["scored_by"] == "the model's decision values"
    assert check_run(load_run(run_dir)) is None
    # the source part is held to the official split's record: without the column, it is refused
    copy = tmp_path / "copy" / run_dir.name
    shutil.copytree(run_dir, copy)
    source = pd.read_csv(copy / "source_predictions.csv", dtype={"sample_id": str, "subject": str})
    source.drop(columns=[DUPLICATE_COLUMN]).to_csv(copy / "source_predictions.csv", index=False)
    problem = check_run(read_run(copy))
    assert problem is not None and problem.startswith("the source's own part: source_predictions.csv lacks the "
                                                      f"column {DUPLICATE_COLUMN}"), problem


# ------------------------------------------------------------------------------------------ suites

def test_suites_accept_test_dataset_and_say_it(tmp_path):
    from benchmark.suite import describe, load_suite

    suite = tmp_path / "s.toml"
    suite.write_text('[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\nfeatures = ["hog"]\n'
                     'options = { test_dataset = "synthetic-b", folds = 3 }\n')
    (config,) = load_suite(suite).configs
    assert config.test_dataset == "synthetic-b" and "synthetic -> synthetic-b" in describe(config)
    suite.write_text('[[experiment]]\ndatasets = ["ck+"]\nmodels = ["svm-linear"]\n'
                     'options = { test_dataset = "ck+" }\n')
    with pytest.raises(FerBenchError, match=r"#1 \(ck\+, svm-linear\): --test-dataset ck\+ is --dataset itself"):
        load_suite(suite)
    suite.write_text('[[experiment]]\ndatasets = ["ck+"]\nmodels = ["svm-linear"]\noptions = { test_dataset = 3 }\n')
    with pytest.raises(FerBenchError, match="test_dataset = 3 should be a string"):
        load_suite(suite)


def test_a_suite_checks_its_targets_before_the_first_experiment(tmp_path):
    """The dry run loads each target once and checks the emotions it shares with the source: a CK+ target that is
    missing stops the suite before anything runs, naming its folder."""
    from benchmark.suite import load_suite, plan_suite

    suite = tmp_path / "s.toml"
    suite.write_text('[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\nfeatures = ["hog"]\n'
                     'options = { test_dataset = "synthetic-b", folds = 3 }\n')
    plan = plan_suite(load_suite(suite, reports_dir=str(tmp_path / "reports")))
    assert [state for _, state in plan] == ["to run"]
    suite.write_text('[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\n'
                     'options = { test_dataset = "ck+" }\n')
    with pytest.raises(FerBenchError, match="no-ck-here"):
        plan_suite(load_suite(suite, reports_dir=str(tmp_path / "reports"),
                              data_dirs={"ck+": str(tmp_path / "no-ck-here")}))


def test_suite_gives_the_target_its_data_dir(tmp_path):
    from benchmark.suite import load_suite

    suite = tmp_path / "s.toml"
    suite.write_text('[[experiment]]\ndatasets = ["synthetic"]\nmodels = ["svm-linear"]\n'
                     'options = { test_dataset = "ck+" }\n')
    (config,) = load_suite(suite, data_dirs={"ck+": "/data/CK+48"}).configs
    assert config.test_data_dir == "/data/CK+48" and config.data_dir is None


# ------------------------------------------------------------------------------------------ a CNN source

@pytest.mark.slow
def test_cnn_source_scores_the_target_with_its_fold_ensemble(tmp_path, datasets, tiny_cnn):
    a, b = datasets
    config = RunConfig(dataset="synthetic", model=tiny_cnn, test_dataset="synthetic-b", folds=3,
                       inner_folds=3, epochs=1, batch_size=16, seed=3, reports_dir=str(tmp_path))
    run_dir, metrics = run_experiment(config, dataset=a, others=(b,))
    run = load_run(run_dir)  # load_run refuses a run whose files disagree
    scores = _scores(run.predictions, a.class_names)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)  # the mean of 3 folds' probabilities
    assert metrics["cross_dataset"]["scored_by"] == "mean probabilities over 3 fold models"
    assert len(load_fold_models(load_run(run_dir))) == 3 and metrics["source"]["protocol"] == "subject-kfold"
