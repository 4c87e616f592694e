"""Hyperparameter selection: successive halving on a validation set and grouped grid search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.model_selection import GroupKFold, ParameterGrid
from sklearn.svm import SVC

from benchmark.protocols import inner_cv
from benchmark.selection import grouped_grid_search, holdout_halving_search
from features import parse_features
from models import get_model, list_models


class SpyClassifier(ClassifierMixin, BaseEstimator):
    """A linear SVM on columns 1: that logs the row ids (column 0) it is fitted on and asked to predict."""

    events: list = []
    _tokens = itertools.count()

    def __init__(self, C=1.0):
        self.C = C

    def fit(self, X, y):
        self.fit_ids_ = X[:, 0].astype(int).copy()
        self.model_ = SVC(kernel="linear", C=self.C).fit(X[:, 1:], y)
        self.classes_ = self.model_.classes_
        self.token_ = next(SpyClassifier._tokens)  # unique per fit (id() can be reused after garbage collection)
        SpyClassifier.events.append(("fit", self.token_, self.fit_ids_))
        return self

    def predict(self, X):
        SpyClassifier.events.append(("predict", self.token_, X[:, 0].astype(int).copy()))
        return self.model_.predict(X[:, 1:])


@pytest.fixture
def spy():
    SpyClassifier.events = []
    yield SpyClassifier
    SpyClassifier.events = []


def _data(n, seed, id_offset):
    X, y = make_classification(n_samples=n, n_features=8, n_informative=5, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, class_sep=1.5, random_state=seed)
    return np.column_stack([np.arange(n) + id_offset, X]), y


def test_halving_fits_only_on_train_and_scores_only_on_val(spy):
    """Every fit sees training rows only, every prediction is on validation rows only, and the returned
    model is an exact fit on the whole training set."""
    X, y = _data(600, 0, 0)
    X_val, y_val = _data(200, 1, 10_000)
    grid = {"C": [0.001, 0.01, 0.1, 1.0, 10.0]}
    model, params, log = holdout_halving_search(SpyClassifier(), grid, X, y, X_val, y_val, seed=0, n_jobs=1,
                                                min_samples=50, factor=3)
    train_ids, val_ids = set(range(600)), set(range(10_000, 10_200))
    fits = [ids for kind, _, ids in spy.events if kind == "fit"]
    predicts = [ids for kind, _, ids in spy.events if kind == "predict"]
    assert fits and predicts
    assert all(set(ids) <= train_ids for ids in fits)
    assert all(set(ids) == val_ids for ids in predicts)
    assert params in [{"C": c} for c in grid["C"]]
    assert model.C == params["C"]
    assert sorted(model.fit_ids_) == sorted(train_ids)
    # rounds: 5 candidates on ~50 images, the best 2 on ~150, the survivor on all 600
    assert [(e["round"], e["n_train"]) for e in log] == [(0, 50)] * 5 + [(1, 150)] * 2 + [(2, 600)]
    assert log[-1]["params"] == params
    assert all(0 <= e["val_accuracy"] <= 1 for e in log)


def test_halving_ties_go_to_the_earlier_grid_point_and_small_sets_fit_once(spy):
    """With identical scores the first grid point wins; a training set below min_samples is fitted whole."""
    X, y = _data(120, 2, 0)
    X_val, y_val = _data(60, 3, 5_000)
    model, params, log = holdout_halving_search(SpyClassifier(), {"C": [5.0, 5.0 + 1e-12, 5.0 + 2e-12]}, X, y,
                                                X_val, y_val, n_jobs=1)
    assert params == {"C": 5.0}
    assert {e["n_train"] for e in log} == {120} and len(log) == 3


def test_halving_with_the_real_svm_pipeline_is_seeded(synthetic):
    """On HOG features with the registered linear SVM, the search returns a grid point and a pipeline fitted
    on all training images; the same seed gives the same choice and predictions."""
    from features import HOGFeatures

    spec = get_model("svm-linear")
    X = HOGFeatures().transform(synthetic.images)
    train, val = synthetic.subjects < "P12", synthetic.subjects >= "P16"
    args = (spec.param_grid, X[train], synthetic.labels[train], X[val], synthetic.labels[val])
    model, params, log = holdout_halving_search(spec.build(seed=0), *args, seed=0, n_jobs=1, min_samples=100)
    assert params["svm__C"] in spec.param_grid["svm__C"]
    assert model.named_steps["scale"].n_samples_seen_ == train.sum()
    again, params2, log2 = holdout_halving_search(spec.build(seed=0), *args, seed=0, n_jobs=1, min_samples=100)
    assert params2 == params and log2 == log
    np.testing.assert_array_equal(model.predict(X[val]), again.predict(X[val]))
    assert np.mean(model.predict(X[val]) == synthetic.labels[val]) > 2 / 7


def test_grouped_grid_search_keeps_groups_apart(spy):
    """Inner CV folds never put one group on both sides; the best model is refitted on everything."""
    X, y = _data(240, 4, 0)
    groups = np.repeat([f"S{k:03d}" for k in range(12)], 20)
    grid = {"C": [0.01, 1.0]}
    model, params, log = grouped_grid_search(SpyClassifier(), grid, X, y, groups,
                                             cv=inner_cv(groups, folds=3, seed=0), n_jobs=1)
    assert params in [{"C": 0.01}, {"C": 1.0}]
    assert [e["params"] for e in log] == [{"C": 0.01}, {"C": 1.0}]
    assert all(0 <= e["mean_cv_accuracy"] <= 1 for e in log)
    fitted = {inst: ids for kind, inst, ids in spy.events if kind == "fit"}
    scored = [(inst, ids) for kind, inst, ids in spy.events if kind == "predict"]
    assert len(scored) == 2 * 3  # 2 candidates x 3 inner folds
    for inst, ids in scored:
        assert not set(groups[fitted[inst]]) & set(groups[ids])
    assert sorted(model.fit_ids_) == list(range(240))
    assert model.C == params["C"]


def test_grouped_grid_search_passes_groups_to_the_splitter():
    """Group-aware splitters receive the groups (GroupKFold raises without them)."""
    X, y = _data(90, 5, 0)
    groups = np.repeat(np.arange(9), 10)
    spec = get_model("svm-rbf")
    model, params, log = grouped_grid_search(spec.build(), {"svm__C": [1.0, 10.0]}, X[:, 1:], y, groups,
                                             cv=GroupKFold(n_splits=3), n_jobs=1)
    assert params["svm__C"] in (1.0, 10.0)
    assert len(log) == 2
    assert model.predict(X[:5, 1:]).shape == (5,)


# ------------------------------------------------------------------------------------- every classical model

CLASSICAL = [spec.name for spec in list_models() if spec.kind == "classical"]


def test_the_registry_has_classical_models():
    assert CLASSICAL, "no classical model registered"


@pytest.mark.parametrize("name", CLASSICAL)
def test_every_classical_model_declares_a_grid_its_pipeline_accepts(name):
    """A registered classical model has default features that parse, and every point of its declared grid sets
    real parameters of the pipeline it builds (with and without PCA) and fits."""
    spec = get_model(name)
    assert spec.description and spec.training == {}
    for dataset in ("fer2013", "ck+", "synthetic"):
        assert parse_features(spec.features_for(dataset))
    assert spec.param_grid and all(isinstance(v, list) and v for v in spec.param_grid.values())
    X, y = make_classification(n_samples=140, n_features=8, n_informative=5, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, class_sep=2.0, random_state=0)
    if spec.histograms_only:  # e.g. the chi-squared kernel: histogram-like non-negative values
        X = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)
    scores = []
    for params in ParameterGrid(spec.param_grid):
        model = spec.build(seed=0).set_params(**params)  # a key the pipeline lacks raises here
        assert {k: model.get_params()[k] for k in params} == params
        scores.append(model.fit(X[::2], y[::2]).score(X[1::2], y[1::2]))  # a value the SVM refuses raises here
    assert max(scores) > 0.6, "no point of the grid learns an easy 3-class problem"
    reduced = spec.build(seed=0, pca=3).fit(X, y)
    assert reduced.named_steps["pca"].n_components_ == 3
