"""Hyperparameter selection that never sees test data.

- :func:`grouped_grid_search`: exhaustive grid, inner CV grouped by subject (k-fold protocols).
- :func:`holdout_grid_search`: every grid point fitted on the whole training set and scored on a held-out
  validation set (FER2013's PublicTest); exact, and affordable with oneDAL's SVM solver.
- :func:`holdout_halving_search`: successive halving over training-set sizes, every candidate scored on a
  held-out validation set (FER2013's PublicTest), grid points fitted in parallel. The survivor is an exact
  model fitted on the whole training set.
"""

from __future__ import annotations

import math
import time

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, ParameterGrid

from .metrics import accuracy


def grouped_grid_search(estimator, param_grid: dict, X, y, groups, *, cv, n_jobs: int = -1,
                        timings: dict | None = None):
    """Fit a GridSearchCV with group-aware ``cv`` on (X, y); returns (refitted best model, best params, log).
    ``timings`` (a dict), where given, receives ``final_fit_seconds``: how long the chosen model's own fit took
    (the refit on all of (X, y)), the rest of the search being selection."""
    search = GridSearchCV(estimator, param_grid, cv=cv, scoring="accuracy", n_jobs=n_jobs, refit=True,
                          error_score="raise")
    search.fit(X, y, groups=groups)
    if timings is not None:
        timings["final_fit_seconds"] = float(search.refit_time_)
    log = [{"params": p, "mean_cv_accuracy": float(m)}
           for p, m in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"])]
    return search.best_estimator_, search.best_params_, log


def _per_class_counts(y: np.ndarray, n: int) -> list[tuple[np.ndarray, int]]:
    """Each class's members and how many of them a stratified subsample of ``n`` takes (at least one)."""
    out = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        out.append((members, min(max(1, int(round(n * len(members) / len(y)))), len(members))))
    return out


def _is_last_round(size: int, n_total: int, n_candidates: int, factor: int) -> bool:
    """Successive halving fits on the whole training set once the next size would pass it, or one is left."""
    return size * factor > n_total or n_candidates == 1 or size >= n_total


def smallest_halving_fit(y: np.ndarray, param_grid: dict, *, min_samples: int, factor: int = 3) -> int:
    """The fewest training images any fit of :func:`holdout_halving_search` sees (its first round's subsample,
    whose per-class rounding moves it a little from ``min_samples``): what limits, e.g., PCA components."""
    n_candidates = len(list(ParameterGrid(param_grid))) or 1
    if _is_last_round(min_samples, len(y), n_candidates, factor):
        return len(y)
    return sum(k for _, k in _per_class_counts(y, min_samples))


def _stratified_subsample(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices of ``y`` with class proportions kept (at least one per class)."""
    if n >= len(y):
        return np.arange(len(y))
    picked = [rng.choice(members, size=k, replace=False) for members, k in _per_class_counts(y, n)]
    return np.sort(np.concatenate(picked))


def _fit_score(estimator, params, X, y, X_val, y_val):
    """The candidate fitted on (X, y), its validation accuracy and its fit's seconds."""
    start = time.perf_counter()
    model = clone(estimator).set_params(**params).fit(X, y)
    seconds = time.perf_counter() - start
    return model, accuracy(y_val, model.predict(X_val)), seconds


def holdout_grid_search(estimator, param_grid: dict, X, y, X_val, y_val, *, n_jobs: int = -1,
                        timings: dict | None = None):
    """Exhaustive search on a validation set; returns (model fitted on all of X, best params, log).

    Every candidate is fitted on the whole training set (grid points in parallel) and scored on the validation
    set; ties go to the earlier grid point. Only the best model is kept in memory once its rivals are scored.
    ``timings``, where given, receives ``final_fit_seconds``: the chosen candidate's own fit.
    """
    candidates = list(ParameterGrid(param_grid)) or [{}]
    best, log = None, []
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_score)(estimator, p, X, y, X_val, y_val) for p in candidates)
    for i, (model, score, seconds) in enumerate(results):
        log.append({"round": 0, "n_train": int(len(y)), "params": candidates[i], "val_accuracy": score})
        if best is None or score > best[2]:
            best = (model, candidates[i], score, seconds)
    if timings is not None:
        timings["final_fit_seconds"] = best[3]
    return best[0], best[1], log


def holdout_halving_search(estimator, param_grid: dict, X, y, X_val, y_val, *, seed: int = 0,
                           n_jobs: int = -1, min_samples: int = 3000, factor: int = 3, timings: dict | None = None):
    """Successive halving on a validation set; returns (model fitted on all of X, best params, log).

    Round r fits every surviving candidate on a stratified subsample of ``min_samples * factor**r`` training
    images (the whole set once that reaches it) and keeps the best ``1/factor`` by validation accuracy. Ties go
    to the earlier grid point. The last round always uses the whole training set, so the returned model is an
    exact fit on all of it.
    """
    rng = np.random.default_rng(seed)
    candidates = list(ParameterGrid(param_grid)) or [{}]
    n_total, size, log = len(y), min_samples, []
    for round_no in range(64):
        full = _is_last_round(size, n_total, len(candidates), factor)
        n = n_total if full else size
        rows = _stratified_subsample(y, n, rng)
        results = Parallel(n_jobs=n_jobs)(delayed(_fit_score)(estimator, p, X[rows], y[rows], X_val, y_val)
                                          for p in candidates)
        scores = [s for _, s, _ in results]
        log += [{"round": round_no, "n_train": int(n), "params": p,
                 "val_accuracy": s} for p, s in zip(candidates, scores)]
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
        if full:
            best = order[0]
            if timings is not None:  # the chosen candidate's fit on the whole training set
                timings["final_fit_seconds"] = results[best][2]
            return results[best][0], candidates[best], log
        keep = max(1, math.ceil(len(candidates) / factor))
        candidates = [candidates[i] for i in sorted(order[:keep])]
        size *= factor
    raise AssertionError("successive halving did not converge")  # pragma: no cover
