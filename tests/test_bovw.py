"""The bag of visual words: dense SIFT, a vocabulary learned on training images only, spatial-pyramid histograms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import features._registry as registry
from benchmark.datasets import make_synthetic
from benchmark.experiment import RunConfig, run_experiment
from features._bovw import DenseSIFTBoVW, dense_sift


def test_dense_sift_is_a_normalised_grid_of_descriptors(astronaut_face):
    """One RootSIFT descriptor per patch of each size on the grid: non-negative with unit L2 norm (the square
    root of an L1-normalised SIFT), centred where the patch is; a rotated face gives other descriptors."""
    desc, centres = dense_sift(astronaut_face, step=4, patch_sizes=(8, 16))
    assert desc.shape == (11 * 11 + 9 * 9, 128) and centres.shape == (len(desc), 2)
    assert (desc >= 0).all()
    np.testing.assert_allclose((desc ** 2).sum(axis=1), 1.0, rtol=1e-4)
    assert centres[0].tolist() == [4.0, 4.0] and centres[-1].tolist() == [40.0, 40.0]
    turned, _ = dense_sift(np.rot90(astronaut_face).copy(), step=4, patch_sizes=(8, 16))
    assert not np.allclose(turned, desc)
    with pytest.raises(ValueError, match="multiple of 4"):
        dense_sift(astronaut_face, step=4, patch_sizes=(10,))


def test_histograms_are_l1_per_pyramid_cell_and_need_a_fitted_vocabulary(synthetic):
    from sklearn.exceptions import NotFittedError

    bovw = DenseSIFTBoVW(n_words=16, pyramid=(1, 2), max_descriptors=3000)
    with pytest.raises(NotFittedError):
        bovw.transform(synthetic.images[:2])
    X = bovw.fit(synthetic.images[:40]).transform(synthetic.images[:5])
    assert X.shape == (5, 16 * (1 + 4)) and bovw.vocabulary_.shape == (16, 128)
    cells = X.reshape(5, 5, 16)
    np.testing.assert_allclose(cells.sum(axis=2), 1.0, rtol=1e-5)  # every cell (1x1, then 4 quadrants)
    desc, _ = dense_sift(synthetic.images[0], step=4, patch_sizes=(8, 12, 16))
    nearest = ((desc[:, None, :] - bovw.vocabulary_[None]) ** 2).sum(axis=2).argmin(axis=1)
    np.testing.assert_allclose(cells[0, 0], np.bincount(nearest, minlength=16) / len(desc), atol=1e-6)
    assert not np.allclose(cells[:, 1], cells[:, 4])  # the quadrants keep where the words are


class _SpyBoVW(DenseSIFTBoVW):
    """The real extractor, small, recording the images every vocabulary is learned from."""

    fitted_on: list[set] = []

    def fit(self, X, y=None):
        type(self).fitted_on.append({img.tobytes() for img in np.asarray(X)})
        return super().fit(X, y)


def _small_spy(**kw):
    return _SpyBoVW(n_words=16, max_descriptors=4000, **kw)


@pytest.mark.slow
def test_the_vocabulary_is_learned_per_fold_on_training_images_only(tmp_path, monkeypatch):
    """On subject-independent folds each fold's vocabulary comes from that fold's training images: never one of
    its test images (9 of the synthetic set's 20 subjects: what is checked is which images, not how many)."""
    synthetic = make_synthetic(n_subjects=9)
    monkeypatch.setitem(registry.FEATURES, "bovw", (_small_spy, "small spy"))
    _SpyBoVW.fitted_on = []
    config = RunConfig(dataset="synthetic", model="svm-chi2", features="bovw", folds=3, inner_folds=2, n_jobs=1,
                       mirror="off",  # mirror images never fit a vocabulary (they share the fold's); half the work
                       reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    path, metrics = run_experiment(config, dataset=synthetic, console=Console(file=open(tmp_path / "log", "w")))
    splits = pd.read_csv(path / "splits.csv", dtype=str)
    by_id = {sid: img.tobytes() for sid, img in zip(synthetic.sample_ids, synthetic.images)}
    fits = _SpyBoVW.fitted_on[-3:]  # check_limits may fit once more on the first fold's training images
    for fold, seen in zip(sorted(splits.fold.unique()), fits):
        train = {by_id[s] for s in splits.sample_id[splits.fold != fold]}
        test = {by_id[s] for s in splits.sample_id[splits.fold == fold]}
        assert seen <= train and not seen & test
    assert all(seen <= {by_id[s] for s in splits.sample_id} for seen in _SpyBoVW.fitted_on)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["features"]["bovw"]["fitted_per_fold"] is True
    assert metrics["accuracy"] > 1 / 7


@pytest.mark.slow
def test_on_fer2013_the_vocabulary_never_sees_publictest_or_privatetest(tmp_path, monkeypatch, learnable_fer_plan,
                                                                     write_fer_csv):
    monkeypatch.setitem(registry.FEATURES, "bovw", (_small_spy, "small spy"))
    _SpyBoVW.fitted_on = []
    plan, images = learnable_fer_plan
    csv = write_fer_csv(tmp_path / "fer2013" / "fer2013.csv", plan, images=images)
    config = RunConfig(dataset="fer2013", data_dir=str(csv), model="svm-chi2", features="bovw", n_jobs=1,
                       reports_dir=str(tmp_path / "r"), cache_dir=str(tmp_path / "c"))
    run_experiment(config, console=Console(file=open(tmp_path / "log", "w")))
    training = {img.tobytes() for (usage, _), img in zip(plan, images) if usage == "Training"}
    held_out = {img.tobytes() for (usage, _), img in zip(plan, images) if usage != "Training"}
    assert _SpyBoVW.fitted_on and all(seen <= training and not seen & held_out for seen in _SpyBoVW.fitted_on)
