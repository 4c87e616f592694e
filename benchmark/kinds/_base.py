"""What every model kind provides, and the pieces the kinds share (prediction rows, adapted inner folds)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from models import get_model

from ..datasets import Dataset
from ..errors import FerBenchError
from ..options import ALL, OPTIONS
from ..saved_models import FoldModel, verified_model_path


def searched_another_grid(config: dict) -> bool:
    """Whether a run searched another grid than its model's registration declares now for its dataset (config.json's
    ``param_grid`` against ``ModelSpec.grid_for``). The grid is declared data, not an option, so it is not in the
    config hash: a grid changed since leaves older runs with today's hash but another search. False where
    config.json names no grid and for models no longer registered (nothing to compare with)."""
    recorded = config.get("param_grid")
    if recorded is None:
        return False
    try:
        declared = get_model(str(config.get("model"))).grid_for(config.get("dataset"))
    except FerBenchError:
        return False
    return json.loads(json.dumps(declared, default=str)) != json.loads(json.dumps(recorded, default=str))


@dataclass
class FitResult:
    """What a kind's :meth:`ModelKind.run` hands the run writer (``benchmark.record.write_run``): the predictions
    of every scored part, the choices and figures it made, and the tables only some kinds have.

    ``best_params`` is per fold; ``extra`` goes at the end of metrics.json, ``manifest`` into manifest.json (with
    the saved model files' hashes); ``adapted`` names options changed to fit the data, per fold; ``fold_models``
    holds each fold's fitted :class:`~benchmark.saved_models.FoldModel` (already saved by the kind)."""

    predictions: pd.DataFrame
    best_params: dict
    extra: dict
    manifest: dict
    fold_models: dict[str, FoldModel]
    adapted: dict = field(default_factory=dict)
    #: search.json: every grid point's score, per fold (kinds that search a grid)
    search_log: dict | None = None
    #: history.csv and the learning curves: loss and accuracy per epoch, per fold (kinds that train by epochs)
    history: pd.DataFrame | None = None
    #: training_roles.csv: which images trained and which validated, per fold (kinds that carve a validation part)
    training_roles: pd.DataFrame | None = None


class ModelKind:
    """How the models of one kind are configured, checked against the data, fitted, saved, loaded, exported and
    recorded: everything that differs between kinds lives in a subclass, so nothing outside ``benchmark.kinds``
    compares a kind's name.

    ``name`` is what the registry and run folders call the kind (``ModelSpec.kind``, ``metrics.json["kind"]``);
    ``title`` how the report names its group of rows; ``selects_by_search`` whether it chooses hyperparameters by
    searching a grid (so a held-out split's validation part replaces inner folds); ``model_stem`` the stem of its
    saved model files and ``model_suffixes`` their suffixes (``svm_fold-3.npz`` + ``.json``); ``needs_gpu`` whether
    a cluster should send its runs to GPU workers; ``export_formats`` what ``fer-bench export`` can write for it.
    """

    name: str
    title: str
    selects_by_search: bool
    model_stem: str
    model_suffixes: tuple[str, ...]
    needs_gpu: bool = False
    export_formats: tuple[str, ...] = ()
    #: the report's citation keys (``references.bib``) for every model of the kind, beside each model's own
    citations: tuple[str, ...] = ()
    #: whether the ``score_<class>`` columns of its predictions.csv are class probabilities (which the report may
    #: average over seeds: ``benchmark.report._ensembles``), not decision values
    scores_are_probabilities: bool = False

    def own_options(self) -> tuple[str, ...]:
        """The options declared for this kind only (``applies_to`` its name)."""
        return tuple(o.name for o in OPTIONS if o.applies_to == self.name)

    def foreign_options(self) -> tuple[str, ...]:
        """The options declared for other kinds: they resolve to None for this kind's models."""
        return tuple(o.name for o in OPTIONS if o.applies_to not in (ALL, self.name))

    def file_stem(self, fold: str, n_folds: int) -> str:
        """The stem of a fold's model files: ``model`` / ``svm`` for a single-fold run, ``<stem>_<fold>`` per fold
        otherwise."""
        return self.model_stem if n_folds == 1 else f"{self.model_stem}_{fold}"

    def model_files(self, fold: str, n_folds: int) -> list[str]:
        """The file names of a fold's saved model."""
        stem = self.file_stem(fold, n_folds)
        return [stem + suffix for suffix in self.model_suffixes]

    def load_fold_model(self, run_dir: Path, fold: str, n_folds: int, class_names: tuple[str, ...],
                        config: dict) -> FoldModel:
        """A fold's saved model, each of its files verified against the manifest's SHA-256 first; ``config`` is
        the run's config.json (how the run used the model, e.g. test-time augmentation)."""
        for name in self.model_files(fold, n_folds):
            verified_model_path(run_dir, name)
        return self._load(Path(run_dir) / self.file_stem(fold, n_folds), fold, class_names, config)

    def _load(self, stem: Path, fold: str, class_names: tuple[str, ...],
              config: dict) -> FoldModel:  # pragma: no cover - abstract
        """Rebuild a fold's model from its (verified) files at ``stem``, used as the run's ``config`` says."""
        raise NotImplementedError

    def defaults_of(self, spec) -> dict:
        """What ``fer-bench models`` lists as a model's defaults: its grid, or its training recipe."""
        return {**spec.param_grid, **spec.training}

    def export(self, model: FoldModel, fmt: str, images: np.ndarray, target: Path, features: str | None):
        """Write ``model`` as ``fmt`` to ``target``, checked on ``images`` (the fold's test faces): returns
        (route, routes tried, parity or None, details for the sidecar, notes). A format this kind cannot write is
        refused before (``export_formats``)."""
        raise NotImplementedError  # pragma: no cover - kinds without exports list no formats

    def export_versions(self, fmt: str) -> list[str]:
        """The distributions whose versions an export's sidecar records."""
        return []

    def resolve(self, config, spec) -> dict:  # pragma: no cover - abstract
        """The options this kind fills in or refuses (a :class:`FerBenchError` names the option)."""
        raise NotImplementedError

    def check_limits(self, config, spec, dataset: Dataset, protocol, plan) -> None:
        """Limits the loaded data puts on this kind's options (exit 2 before any work when broken); ``plan`` (a
        ``benchmark.evaluations.Plan``) says what the run will score."""

    def check_process(self, config) -> None:
        """What this process needs to run ``config`` (a CNN's Keras backend installed), checked by a run before its
        data is loaded (exit 2); not by a suite's checks, which may run where its experiments do not."""

    def run(self, spec, config, dataset: Dataset, protocol, timer, console: Console, run_dir: Path) -> FitResult:
        """Fit and predict every fold, saving each fold's model in ``run_dir`` (its own files, see
        :meth:`model_files`); everything else of the run folder is written by the run writer from the result."""
        raise NotImplementedError  # pragma: no cover - abstract

    def describe(self, config, spec) -> list[str]:
        """The options where an experiment departs from its model's defaults (suite listings)."""
        return []

    def selection(self, protocol, config) -> str:  # pragma: no cover - abstract
        """How this kind's models select without test data under ``protocol`` (printed and recorded)."""
        raise NotImplementedError

    def platform(self, manifest: dict, config: dict) -> dict:  # pragma: no cover - abstract
        """What computed a run's numbers beyond its options, read from its manifest and config (the report
        keeps runs that differ here apart, as variants)."""
        raise NotImplementedError

    def superseded(self, run) -> str | None:
        """Why a run's model is not the one its config now names (fitted by an implementation since replaced by
        another model under the same options, or by declared data since changed), or None. Such a run stays in the
        report, as its own variant, but never completes a suite's experiment: a resumed suite runs it again. Every
        kind: a run that searched another grid than its model declares now (:func:`searched_another_grid`)."""
        if searched_another_grid(run.config):
            return "it searched another grid than its model declares now for its dataset"
        return None

    def fit_times(self, metrics: dict) -> tuple[float | None, float | None]:
        """(selection seconds summed over folds, the chosen model's own fit in seconds per fold) of a run, from its
        metrics; None where the run does not tell them apart (the report leaves the cell empty)."""
        return None, None

    def libraries(self, manifest: dict, config: dict) -> dict[str, str]:
        """The libraries that computed a run's numbers, with the versions its manifest recorded (the report's
        provenance names them): NumPy and scikit-learn (scores) for every kind, and what the kind adds."""
        packages = manifest.get("packages") or {}
        return {name: packages[name] for name in ("numpy", "scikit-learn") if packages.get(name)}


def adapted_inner_folds(config, used: dict) -> dict:
    """``{"inner_folds": {fold: value that ran}}`` when any fold ran fewer inner folds than requested, else {}.
    The config (and its hash) keeps the requested value, so a resumed suite still finds the run."""
    if any(v is not None and v != config.inner_folds for v in used.values()):
        return {"inner_folds": used}
    return {}


def prediction_rows(dataset: Dataset, idx: np.ndarray, column: str, part: str, y_pred: np.ndarray,
                    scores: np.ndarray | None) -> pd.DataFrame:
    """predictions.csv rows for one part: ids, subject, part, true and predicted class names, and one
    ``score_<class>`` column per class (CNN probabilities or SVM decision values) where there are scores."""
    names = np.asarray(dataset.class_names, dtype=object)
    frame = pd.DataFrame({
        "sample_id": dataset.sample_ids[idx],
        "subject": dataset.subjects[idx] if dataset.subjects is not None else "",
        column: part, "y_true": names[dataset.labels[idx]], "y_pred": names[y_pred],
    })
    if scores is not None:
        for j, cls in enumerate(names):
            frame[f"score_{cls}"] = scores[:, j]
    return frame
