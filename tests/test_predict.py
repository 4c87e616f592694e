"""fer-bench predict: faces found in real photos (skimage's astronaut), aligned crops, videos, and the run's own
models reproducing its recorded predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.predict import FaceFinder, aligned_crop, template_for
from benchmark.predict._faces import LEFT_EYE, RIGHT_EYE, alignment
from benchmark.predict._inputs import read_image
from benchmark.kinds import load_fold_models
from benchmark.saved_models import ensemble_scores
from benchmark.verification import load_run


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def group_photo(astronaut):
    """Three faces in one picture: the astronaut's head at full size, at 0.75x and mirrored, on a grey canvas."""
    head = astronaut[0:260, 90:350]
    small = np.asarray(Image.fromarray(head).resize((195, 195), Image.BILINEAR))
    canvas = np.full((300, 760, 3), 128, dtype=np.uint8)
    canvas[20:280, 10:270] = head
    canvas[50:245, 290:485] = small
    canvas[20:280, 495:755] = head[:, ::-1]
    return canvas


def test_the_detector_settings_keep_the_astronauts_face_and_drop_her_mission_patch(astronaut):
    faces = FaceFinder().find(astronaut)
    assert len(faces) == 1 and faces[0].score == pytest.approx(1.16, abs=0.01)
    left, top, right, bottom = faces[0].box
    assert 150 < left < 200 and 60 < top < 100 and 240 < right < 290 and 150 < bottom < 190
    everything = FaceFinder(min_score=0.0).find(astronaut)
    assert [round(f.score, 2) for f in everything] == [1.16, 0.12]  # the patch on her suit, below the threshold


def test_every_face_of_a_group_photo_is_found(group_photo):
    faces = FaceFinder().find(group_photo)
    assert len(faces) == 3
    assert sorted(f.box[0] // 250 for f in faces) == [0, 1, 2]  # one per panel


def test_the_crop_levels_the_eyes_and_puts_them_where_the_training_crops_have_them(astronaut):
    from skimage.transform import rotate

    name, template = template_for("fer2013")
    tilted = (rotate(astronaut, 20, mode="edge") * 255).round().astype(np.uint8)
    crops = []
    for image in (astronaut, tilted):
        face = FaceFinder().find(image)[0]
        to_crop = np.linalg.inv(alignment(face.landmarks, template))
        points = np.c_[face.landmarks, np.ones(68)] @ to_crop.T
        left, right = points[LEFT_EYE, :2].mean(axis=0), points[RIGHT_EYE, :2].mean(axis=0)
        assert abs(left[1] - right[1]) < 0.5  # level
        assert np.abs(left - template[LEFT_EYE].mean(axis=0)).max() < 1.5
        crops.append(aligned_crop(image, face, template).astype(float))
    assert crops[0].shape == (48, 48)
    assert np.corrcoef(crops[0].ravel(), crops[1].ravel())[0, 1] > 0.9  # the tilt is undone


def _write_video(path, frames):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, frames[0].shape[1::-1])
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


@pytest.mark.slow
def test_predict_on_photos_folders_and_a_video(synthetic_linear_run, astronaut, group_photo, tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "more").mkdir(parents=True)
    Image.fromarray(astronaut).save(inputs / "astronaut.jpg")
    Image.fromarray(group_photo).save(inputs / "more" / "group.png")
    Image.fromarray(np.full((64, 64), 90, dtype=np.uint8)).save(inputs / "more" / "blank.png")
    (inputs / "more" / "broken.jpg").write_bytes(b"not a jpeg")
    video = tmp_path / "clip.avi"
    _write_video(video, [np.roll(astronaut, 4 * k, axis=1) for k in range(12)])
    out, annotated = tmp_path / "faces.csv", tmp_path / "annotated"
    result = CliRunner().invoke(app, ["predict", str(synthetic_linear_run.run_dir), str(inputs), str(video),
                                      "--out", str(out), "--annotate", str(annotated), "--every", "5"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out, keep_default_na=False)
    per_input = rows.groupby("input").size().to_dict()
    assert per_input == {str(inputs / "astronaut.jpg"): 1, str(inputs / "more" / "group.png"): 3, str(video): 3}
    assert sorted(rows[rows.input == str(video)].frame.astype(int)) == [0, 5, 10]
    class_names = json.loads((synthetic_linear_run.run_dir / "metrics.json").read_text())["class_names"]
    assert list(rows.columns[-len(class_names):]) == [f"score_{c}" for c in class_names]
    scores = rows[[f"score_{c}" for c in class_names]].to_numpy(dtype=float)
    assert list(rows.predicted) == [class_names[k] for k in scores.argmax(axis=1)]
    # the scores are the mean of the three fold models' scores on the aligned crop
    photo = read_image(inputs / "astronaut.jpg")  # as predict read it (JPEG-compressed)
    face = FaceFinder().find(photo)[0]
    crop = aligned_crop(photo, face, template_for("synthetic")[1])[None]
    expected = ensemble_scores(load_fold_models(load_run(synthetic_linear_run.run_dir)), crop)
    np.testing.assert_allclose(scores[rows.input == str(inputs / "astronaut.jpg")], expected, rtol=1e-9)
    sidecar = json.loads(out.with_suffix(".csv.json").read_text())
    assert sidecar["faces"]["upsample"] == 1 and sidecar["faces"]["min_score"] == 0.5
    assert sidecar["folds"] == ["fold-0", "fold-1", "fold-2"] and sidecar["scores"] == "decision"
    assert sidecar["tta"] is None  # an SVM
    assert sidecar["inputs_without_face"] == [str(inputs / "more" / "blank.png")]
    assert [u["input"] for u in sidecar["unreadable"]] == [str(inputs / "more" / "broken.jpg")]
    assert sidecar["counts"] == {"inputs": 5, "videos": 1, "frames": 6, "faces": 7, "inputs_without_face": 1,
                                 "unreadable": 1}
    assert len(list(annotated.glob("*.png"))) == 5  # 2 photos with faces + 3 video frames
    assert "no face: " in result.output and "unreadable: " in result.output


@pytest.mark.slow
def test_no_detect_on_a_runs_own_test_images_gives_its_recorded_predictions(synthetic_linear_run, synthetic,
                                                                             tmp_path):
    run_dir = synthetic_linear_run.run_dir
    recorded = pd.read_csv(run_dir / "predictions.csv")
    fold0 = recorded[recorded.fold == "fold-0"].head(12)
    position = {s: i for i, s in enumerate(synthetic.sample_ids)}
    folder = tmp_path / "faces"
    folder.mkdir()
    for k, sample_id in enumerate(fold0.sample_id):
        Image.fromarray(synthetic.images[position[sample_id]]).save(folder / f"{k:02d}.png")
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(app, ["predict", str(run_dir), str(folder), "--no-detect", "--fold", "fold-0",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert list(rows.predicted) == list(fold0.y_pred)
    columns = [c for c in rows.columns if c.startswith("score_")]
    np.testing.assert_array_equal(rows[columns].to_numpy(), fold0[columns].to_numpy())


@pytest.mark.slow
@pytest.mark.parametrize("args,fragment", [
    (["{run}", "missing.jpg"], "missing.jpg: no such file or folder"),
    (["{tmp}", "{img}"], "not a complete run"),
    (["{runs}", "{img}"], "it holds run folders: give one of them, e.g. "),
    (["{run}", "{img}", "--every", "0"], "--every must be a positive number"),
    (["{run}", "{img}", "--out", "{tmp}/nowhere/p.csv"], "--out: "),
    (["{run}", "{img}", "--out", "{tmp}"], "a folder, expected the CSV file to write"),
    (["{run}", "{img}", "--annotate", "{img}"], "a file, expected a folder for the annotated copies"),
    (["{tampered}", "{img}"], "SHA-256"),
])
def test_mistakes_are_one_line_errors_with_exit_2(synthetic_linear_run, tmp_path, astronaut, args, fragment):
    img = tmp_path / "a.png"
    Image.fromarray(astronaut).save(img)
    tampered = tmp_path / "runs" / synthetic_linear_run.run_dir.name
    shutil.copytree(synthetic_linear_run.run_dir, tampered)
    (tampered / "svm_fold-0.json").write_text((tampered / "svm_fold-0.json").read_text().replace("fold-0", "fold-1"))
    filled = [a.format(run=synthetic_linear_run.run_dir, runs=synthetic_linear_run.run_dir.parent, tmp=tmp_path,
                       img=img, tampered=tampered) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(app, ["predict", *filled, *out])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


@pytest.mark.slow
def test_a_cnn_run_predicts_with_its_saved_keras_models(small_synthetic, small_cnn_run, tmp_path, astronaut):
    from conftest import copy_run

    run_dir = copy_run(small_cnn_run, tmp_path / "reports")  # 3 fold models, trained once for the session
    recorded = pd.read_csv(run_dir / "predictions.csv")
    fold = recorded[recorded.fold == "fold-1"].head(6)
    position = {s: i for i, s in enumerate(small_synthetic.sample_ids)}
    folder = tmp_path / "faces"
    folder.mkdir()
    for k, sample_id in enumerate(fold.sample_id):
        Image.fromarray(small_synthetic.images[position[sample_id]]).save(folder / f"{k}.png")
    Image.fromarray(astronaut).save(tmp_path / "astronaut.jpg")
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(app, ["predict", str(run_dir), str(folder), "--no-detect", "--fold", "fold-1",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    columns = [c for c in rows.columns if c.startswith("score_")]
    assert list(rows.predicted) == list(fold.y_pred)
    np.testing.assert_allclose(rows[columns].to_numpy(), fold[columns].to_numpy(), atol=1e-6)
    tta = json.loads((run_dir / "config.json").read_text())["tta"]
    assert json.loads(out.with_suffix(".csv.json").read_text())["tta"] == tta  # the run's, as it applied it
    result = CliRunner().invoke(app, ["predict", str(run_dir), str(tmp_path / "astronaut.jpg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == 1 and np.isclose(rows[columns].to_numpy().sum(), 1.0)  # mean of 3 folds' probabilities


@pytest.mark.slow
def test_with_averages_several_runs_each_weighing_the_same_and_refuses_what_cannot_be_averaged(
        synthetic_linear_run, synthetic, small_cnn_run, tmp_path):
    from conftest import copy_run

    first = synthetic_linear_run.run_dir
    result = CliRunner().invoke(app, ["run", "--dataset", "synthetic", "--model", "svm-linear", "--seed", "1",
                                      "--features", "hog", "--folds", "2", "--inner-folds", "2",
                                      "--reports-dir", str(tmp_path / "reports"), "--cache-dir", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    (second,) = (tmp_path / "reports" / "runs").iterdir()  # seed 1, 2 folds against the first run's 3
    folder = tmp_path / "faces"
    folder.mkdir()
    for k in range(6):
        Image.fromarray(synthetic.images[k * 97]).save(folder / f"{k}.png")

    def predicted(*args):
        out = tmp_path / f"p{len(list(tmp_path.glob('p*.csv')))}.csv"
        outcome = CliRunner().invoke(app, ["predict", *map(str, args), "--out", str(out)])
        return outcome, out

    (one, p1), (two, p2), (both, p12) = (predicted(first, folder, "--no-detect"),
                                         predicted(second, folder, "--no-detect"),
                                         predicted(first, folder, "--no-detect", "--with", second))
    assert one.exit_code == two.exit_code == both.exit_code == 0, both.output
    rows = [pd.read_csv(p) for p in (p1, p2, p12)]
    columns = [c for c in rows[0].columns if c.startswith("score_")]
    # each run's own fold ensemble (3 and 2 models), then the runs' mean: not the mean of all 5 fold models
    expected = (rows[0][columns].to_numpy() + rows[1][columns].to_numpy()) / 2
    np.testing.assert_allclose(rows[2][columns].to_numpy(), expected, rtol=1e-12)
    assert list(rows[2].predicted) == [c.removeprefix("score_") for c in np.asarray(columns)[expected.argmax(1)]]
    sidecar = json.loads(p12.with_suffix(".csv.json").read_text())
    assert [r["run_id"] for r in sidecar["runs"]] == [first.name, second.name]
    assert [len(r["folds"]) for r in sidecar["runs"]] == [3, 2] and [r["seed"] for r in sidecar["runs"]] == [0, 1]
    assert "averaged with 1 more run" in both.output

    cnn = copy_run(small_cnn_run, tmp_path / "cnn")
    for args, fragment in [((first, folder, "--with", cnn), "only runs of one model, features, dataset"),
                           ((first, folder, "--with", first), "is given twice"),
                           ((first, folder, "--with", second, "--fold", "0"), "give one or the other"),
                           ((first, folder, "--with", tmp_path), "--with: ")]:
        outcome, _ = predicted(*args, "--no-detect")
        assert outcome.exit_code == 2 and fragment in outcome.output, outcome.output
        assert "Traceback" not in outcome.output
