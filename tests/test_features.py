"""HOG, LBP and dlib-landmark transformers, the feature registry and the on-disk feature cache."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from features import (FEATURES, HOGFeatures, ImageTransformer, LandmarkFeatures, LBPFeatures, UnknownFeatureError,
                      default_cache_dir, extract, extract_all, parse_features)


@pytest.fixture(scope="module")
def few_faces(synthetic):
    return synthetic.images[::70][:14]


def test_hog_and_lbp_default_sizes_on_48x48(few_faces):
    """Default HOG gives 900 values and default LBP 360 values per 48x48 face, as float32."""
    hog = HOGFeatures().transform(few_faces)
    lbp = LBPFeatures().transform(few_faces)
    assert hog.shape == (len(few_faces), 900) and hog.dtype == np.float32
    assert lbp.shape == (len(few_faces), 360) and lbp.dtype == np.float32
    # LBP: one normalised 10-bin histogram per cell of the 6x6 grid
    np.testing.assert_allclose(lbp.reshape(len(few_faces), 36, 10).sum(axis=2), 1.0, rtol=1e-5)
    assert np.isfinite(hog).all() and hog.std(axis=0).max() > 0  # features differ between faces


@pytest.fixture(scope="module")
def mixed_faces(few_faces, astronaut_face):
    """A real face crop and four synthetic ones."""
    return np.concatenate([astronaut_face[None], few_faces[:4]])


@pytest.mark.parametrize("name", list(FEATURES))
def test_every_registered_extractor_gives_the_width_it_describes(name, mixed_faces):
    """Each registry entry builds an ImageTransformer whose float32, finite, deterministic features have the width
    its one-line description states, and parse_features builds the same extractor by its name."""
    factory, description = FEATURES[name]
    extractor = factory()
    assert isinstance(extractor, ImageTransformer)
    width = re.search(r"\(([\d,]+) values", description)
    assert width, f"the description of {name!r} should state its width, as '(N values ...)': {description!r}"
    X = extractor.fit_transform(mixed_faces)
    assert X.dtype == np.float32 and X.shape == (len(mixed_faces), int(width.group(1).replace(",", "")))
    assert np.isfinite(X).all() and X.std(axis=0).max() > 0  # finite, and not the same for every face
    again = factory().fit(mixed_faces) if extractor.learns_from_training else factory()  # a seeded fit
    np.testing.assert_array_equal(again.transform(mixed_faces), X)
    [(parsed_name, parsed)] = parse_features(name)
    assert parsed_name == name and type(parsed) is type(extractor) and parsed is not extractor
    assert parsed.get_params() == extractor.get_params() == clone(extractor).get_params()


@pytest.mark.parametrize("name", list(FEATURES))
def test_every_registered_extractor_takes_one_image_and_refuses_other_shapes(name, mixed_faces):
    """A single H x W image is a batch of one; anything else than N x H x W is a ValueError."""
    extractor = _ready(name, mixed_faces)
    np.testing.assert_array_equal(extractor.transform(mixed_faces[0]), extractor.transform(mixed_faces[:1]))
    with pytest.raises(ValueError, match="N x H x W"):
        extractor.transform(np.zeros((2, 48, 48, 3), np.uint8))


@pytest.mark.parametrize("name", list(FEATURES))
def test_every_registered_extractor_round_trips_through_the_cache(name, mixed_faces, tmp_path):
    """extract() caches each registered extractor's features and gives the identical array back."""
    extractor = _ready(name, mixed_faces)  # fitted once: a vocabulary's k-means is seeded, so a refit is the same
    first, hit1 = extract(mixed_faces, name, extractor, fingerprint="e" * 64, cache_dir=tmp_path, n_jobs=1)
    second, hit2 = extract(mixed_faces, name, extractor, fingerprint="e" * 64, cache_dir=tmp_path, n_jobs=1)
    assert (hit1, hit2) == (False, True)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, extractor.transform(mixed_faces))


def _ready(name, images):
    """The registered extractor, fitted on ``images`` where it learns (a vocabulary); as built otherwise."""
    extractor = FEATURES[name][0]()
    return extractor.fit(images) if extractor.learns_from_training else extractor


def test_hog_parameters_change_the_descriptor(few_faces):
    """Hyperparameters are used: 6 orientations on 12-pixel cells -> 3x3 blocks x 2x2 cells x 6 = 216 values."""
    assert HOGFeatures(orientations=6, pixels_per_cell=12).transform(few_faces).shape == (len(few_faces), 216)
    assert LBPFeatures(n_points=16, radius=2, grid=4).transform(few_faces).shape == (len(few_faces), 4 * 4 * 18)


def test_landmark_feature_sizes(astronaut_face):
    """Landmarks give 68 x 2 = 136 values, and 136 + 2278 pairwise distances = 2414 with pairwise_distances."""
    plain = LandmarkFeatures().transform(astronaut_face[None])
    full = LandmarkFeatures(pairwise_distances=True).transform(astronaut_face[None])
    assert plain.shape == (1, 136) and full.shape == (1, 2414)
    np.testing.assert_allclose(full[0, :136], plain[0], rtol=1e-6)
    pts = plain[0].reshape(68, 2).astype(np.float64)
    i, j = np.triu_indices(68, k=1)
    np.testing.assert_allclose(full[0, 136:], np.linalg.norm(pts[i] - pts[j], axis=1), rtol=1e-5, atol=1e-6)


def test_landmarks_on_a_real_face_are_inside_and_anatomically_ordered(astronaut_face):
    """On the astronaut's face crop, dlib gives 68 points inside the image: brows above eyes above mouth."""
    assert astronaut_face.shape == (48, 48) and astronaut_face.dtype == np.uint8
    pts = LandmarkFeatures().landmarks(astronaut_face)
    assert pts.shape == (68, 2)
    assert (pts >= 0).all() and (pts <= 47).all()
    brows, eyes, nose_tip, mouth = pts[17:27], pts[36:48], pts[30], pts[48:68]
    assert brows[:, 1].mean() < eyes[:, 1].mean() < nose_tip[1] < mouth[:, 1].mean()
    left_eye, right_eye = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
    assert left_eye[0] < nose_tip[0] < right_eye[0]
    # the normalised features are centred with unit RMS radius
    coords = LandmarkFeatures().transform(astronaut_face).reshape(68, 2)
    np.testing.assert_allclose(coords.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((coords ** 2).sum(axis=1).mean()), 1.0, rtol=1e-4)


def test_transformers_work_in_a_pipeline_and_clone_with_explicit_params(synthetic):
    """The extractors are scikit-learn transformers: get_params/set_params/clone keep explicit parameters
    and a Pipeline from raw images to an SVM fits and predicts."""
    hog = HOGFeatures(orientations=6, pixels_per_cell=12, cells_per_block=3, block_norm="L1")
    assert hog.get_params() == {"orientations": 6, "pixels_per_cell": 12, "cells_per_block": 3,
                                "block_norm": "L1", "window": 0, "window_step": 6}
    assert clone(hog).get_params() == hog.get_params()
    lm = LandmarkFeatures(pairwise_distances=True, box_inset=2, predictor_path="/x/model.dat")
    assert clone(lm).get_params() == {"pairwise_distances": True, "box_inset": 2, "predictor_path": "/x/model.dat"}
    assert clone(LBPFeatures(n_points=16, radius=2.0, grid=4)).get_params() == {"n_points": 16, "radius": 2.0,
                                                                                "grid": 4}

    pipe = Pipeline([("hog", HOGFeatures()), ("scale", StandardScaler()), ("svm", SVC(kernel="linear"))])
    pipe.set_params(hog__orientations=8)
    assert pipe.get_params()["hog__orientations"] == 8
    train = np.flatnonzero(synthetic.subjects != "P00")[::4]
    test = np.flatnonzero(synthetic.subjects == "P00")
    fitted = clone(pipe).fit(synthetic.images[train], synthetic.labels[train])
    pred = fitted.predict(synthetic.images[test])
    assert pred.shape == (len(test),)
    assert np.mean(pred == synthetic.labels[test]) > 1 / 7  # learns something from raw images


def test_parse_features_registry():
    """'hog+landmarks' parses into fresh extractors in order, as does every registered name joined with +;
    unknown, empty and repeated names are refused."""
    parsed = parse_features("hog+landmarks")
    assert [n for n, _ in parsed] == ["hog", "landmarks"]
    assert isinstance(parsed[0][1], HOGFeatures) and isinstance(parsed[1][1], LandmarkFeatures)
    assert parse_features("landmark-distances")[0][1].pairwise_distances is True
    names = list(reversed(FEATURES))
    assert [n for n, _ in parse_features("+".join(names))] == names
    assert all("+" not in n and n.strip() == n and n for n in FEATURES)  # every name can be joined with +
    for bad, message in [("sift", "unknown feature 'sift'"), ("hog+", "empty feature name"), ("", "empty"),
                         ("hog+hog", "listed twice")]:
        with pytest.raises(UnknownFeatureError, match=message):
            parse_features(bad)


def test_feature_cache_hit_returns_identical_array(tmp_path, synthetic):
    """The second extract() with the same data and extractor comes from the cache and is identical."""
    images = synthetic.images[:300]  # more than one chunk of 256
    cache = tmp_path / "cache"
    first, hit1 = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1)
    second, hit2 = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1)
    assert (hit1, hit2) == (False, True)
    np.testing.assert_array_equal(first, second)
    assert second.dtype == np.float32 and second.shape == (300, 900)
    np.testing.assert_array_equal(first, HOGFeatures().transform(images))
    files = sorted(p.name for p in (cache / "features" / ("f" * 16)).iterdir())
    assert len(files) == 2 and sorted(name.rsplit(".", 1)[1] for name in files) == ["json", "npy"]
    assert not any("tmp" in name for name in files)


def test_feature_cache_keys_on_params_and_data(tmp_path, synthetic):
    """Different extractor parameters, or a different dataset fingerprint, use a different cache file."""
    images = synthetic.images[:20]
    cache = tmp_path / "cache"
    extract(images, "hog", HOGFeatures(), fingerprint="a" * 64, cache_dir=cache)
    other, hit = extract(images, "hog", HOGFeatures(orientations=6), fingerprint="a" * 64, cache_dir=cache)
    assert hit is False and other.shape == (20, 600)
    assert len(list((cache / "features" / ("a" * 16)).glob("*.npy"))) == 2
    _, hit = extract(images, "hog", HOGFeatures(), fingerprint="b" * 64, cache_dir=cache)
    assert hit is False
    _, hit = extract(images, "hog", HOGFeatures(orientations=6), fingerprint="a" * 64, cache_dir=cache)
    assert hit is True


def test_feature_cache_disabled_and_corrupt_file_recomputed(tmp_path, synthetic, capsys):
    """cache_dir=None never caches; a corrupt cache file is recomputed and replaced, not trusted, with one
    warning line (on stderr unless a ``warn`` callable is given)."""
    images = synthetic.images[:10]
    status = {}
    _, hit = extract(images, "lbp", LBPFeatures(), fingerprint="c" * 64, cache_dir=None, status=status)
    _, hit_again = extract(images, "lbp", LBPFeatures(), fingerprint="c" * 64, cache_dir=None)
    assert (hit, hit_again) == (False, False) and status == {"lbp": "disabled"}
    cache = tmp_path / "cache"
    good, _ = extract(images, "lbp", LBPFeatures(), fingerprint="c" * 64, cache_dir=cache)
    (npy,) = (cache / "features" / ("c" * 16)).glob("*.npy")
    (sidecar,) = (cache / "features" / ("c" * 16)).glob("*.json")
    npy.write_bytes(b"garbage")
    again, hit = extract(images, "lbp", LBPFeatures(), fingerprint="c" * 64, cache_dir=cache, status=status)
    assert hit is False and status == {"lbp": "recomputed-corrupt"}
    np.testing.assert_array_equal(good, again)
    err = capsys.readouterr().err
    assert err.startswith(f"warning: cache file {sidecar} is corrupt (unreadable array: ") and err.count("\n") == 1
    assert err.endswith("); recomputing\n")
    _, hit = extract(images, "lbp", LBPFeatures(), fingerprint="c" * 64, cache_dir=cache)
    assert hit is True and capsys.readouterr().err == ""


def test_extract_all_concatenates_and_reports_cache_per_extractor(tmp_path, synthetic):
    """extract_all stacks each extractor's block in order and says which came from the cache (as a bool, and as
    a status per name)."""
    images = synthetic.images[:12]
    cache = tmp_path / "cache"
    extract(images, "lbp", LBPFeatures(), fingerprint="d" * 64, cache_dir=cache)
    warnings, status = [], {}
    X, cached = extract_all(images, parse_features("hog+lbp"), fingerprint="d" * 64, cache_dir=cache, n_jobs=1,
                            sample_ids=synthetic.sample_ids[:12], warn=warnings.append, status=status)
    assert X.shape == (12, 900 + 360)
    assert cached == {"hog": False, "lbp": True}
    assert status == {"hog": "miss", "lbp": "hit"} and warnings == []
    np.testing.assert_array_equal(X[:, 900:], LBPFeatures().transform(images))


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    """$FER_BENCH_CACHE decides the default cache folder (the test suite points it into tmp_path)."""
    assert default_cache_dir() == tmp_path / "fer-cache"
    monkeypatch.setenv("FER_BENCH_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"


class _MeanFaceDistance(ImageTransformer):
    """A toy extractor that learns (the mean training face) and records every image it was fitted on."""

    learns_from_training = True
    fitted_on: list[set] = []

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def fit(self, X, y=None):
        type(self).fitted_on.append({img.tobytes() for img in np.asarray(X)})
        self.mean_ = np.asarray(X, dtype=np.float32).mean(axis=0)
        return self

    def _transform_one(self, image):
        diff = (image.astype(np.float32) - self.mean_) * self.scale
        return np.array([np.abs(diff).mean(), (diff ** 2).mean()])


@pytest.mark.slow
def test_an_extractor_that_learns_is_fitted_per_fold_on_training_images_only(tmp_path, monkeypatch):
    """Room for a visual vocabulary: an extractor with learns_from_training is fitted once per fold on that
    fold's training images (never a test image), composes with stateless ones, and its features are cached per
    fold, so a second run fits it again but extracts nothing new (on 9 of the synthetic set's 20 subjects)."""
    import pandas as pd
    from rich.console import Console

    import features._registry as registry
    from benchmark.datasets import make_synthetic
    from benchmark.experiment import RunConfig, run_experiment

    synthetic = make_synthetic(n_subjects=9)

    monkeypatch.setitem(registry.FEATURES, "meanface", (_MeanFaceDistance, "toy learned extractor"))
    _MeanFaceDistance.fitted_on = []
    config = RunConfig(dataset="synthetic", model="svm-linear", features="hog+meanface", folds=3, inner_folds=2,
                       n_jobs=1, reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    quiet = Console(file=open(tmp_path / "log", "w"))
    path, metrics = run_experiment(config, dataset=synthetic, console=quiet)
    assert metrics["n_features"] == 900 + 2
    splits = pd.read_csv(path / "splits.csv", dtype=str)
    by_id = {sid: img.tobytes() for sid, img in zip(synthetic.sample_ids, synthetic.images)}
    assert len(_MeanFaceDistance.fitted_on) == 3
    for fold, seen in zip(sorted(splits.fold.unique()), _MeanFaceDistance.fitted_on):
        train = {by_id[s] for s in splits.sample_id[splits.fold != fold]}
        test = {by_id[s] for s in splits.sample_id[splits.fold == fold]}
        assert seen == train and not seen & test
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["features"]["meanface"]["fitted_per_fold"] is True
    assert manifest["features"]["hog"]["fitted_per_fold"] is False
    again, again_metrics = run_experiment(config, dataset=synthetic, console=quiet)
    assert json.loads((again / "manifest.json").read_text())["features"]["meanface"]["from_cache"] is True
    assert again_metrics["accuracy"] == metrics["accuracy"]
