"""Classical models: SVM pipelines on cached hand-crafted features, hyperparameters searched without test data."""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone

from features import FEATURES, default_cache_dir, extract, parse_features
from models import LIBLINEAR, backend_that_ran, resolve_svm_backend

from ..console import printer, progress
from ..errors import FerBenchError, WorkFailedError, not_one_of
from ..options import BY_NAME
from ..protocols import inner_cv, inner_folds_used
from ..saved_models import MODEL_CHECK, MODEL_FILES
from ..selection import grouped_grid_search, holdout_grid_search, holdout_halving_search, smallest_halving_fit
from ._base import FitResult, ModelKind, adapted_inner_folds, prediction_rows
from ._svm_export import VERSIONS as SVM_EXPORT_VERSIONS, export_svm
from ._svm_files import SVMFoldModel, check_saved_svm, load_svm, save_svm

#: Above this many training images the SVMs project onto PCA components before the kernel (``--pca auto``).
PCA_AUTO_MIN_TRAIN = 10_000
PCA_AUTO_COMPONENTS = 400
#: ``--mirror``: whether the SVMs also train on each training image's mirror image
MIRRORS = ("on", "off")
#: The SVM implementation of runs recorded before the backend was an option (they all ran libsvm).
SVM_BACKEND = "libsvm"
#: How every SVM solver splits the classes since liblinear fits pair by pair too (manifest ``svm_multiclass``).
ONE_VS_ONE = "one-vs-one"
#: How a FER2013 SVM searches its grid on PublicTest (``--search``).
SEARCHES = ("exhaustive", "halving")
#: Test images whose features a saved SVM's rebuilt extractors must reproduce (its pipeline is checked on all).
SAVE_CHECK_IMAGES = 8


class Classical(ModelKind):
    """Features (cached) -> per-fold selection without test data (inner grouped CV, or successive halving on a
    held-out validation part) -> an exact fit -> predictions with decision values."""

    name = "classical"
    title = "classical (SVM on hand-crafted features)"
    citations = ("cortes1995", "pedregosa2011")  # support-vector networks; scikit-learn, which fits them
    selects_by_search = True
    model_stem = "svm"
    model_suffixes = (".npz", ".json")
    model_noun = "an SVM"
    export_formats = ("onnx",)
    export_note = "SVM runs export to onnx only, as the classifier on feature vectors"

    def _load(self, stem: Path, fold: str, class_names: tuple[str, ...], config: dict) -> SVMFoldModel:
        return load_svm(stem, fold)  # an SVM's file records its own class names

    def export(self, model, fmt, images, target, features):
        route, tried, parity, details = export_svm(model, images, target, features)
        notes = [f"the input is the {details['input']['shape'][1]}-value feature vector ({features}) as fer-bench "
                 f"computes it, not the image; the feature extractors are not in the export"]
        return route, tried, parity, details, notes

    def export_versions(self, fmt: str) -> list[str]:
        return list(SVM_EXPORT_VERSIONS)

    def resolve(self, config, spec) -> dict:
        features = spec.features_for(config.dataset) if config.features is None else config.features
        try:
            extractors = parse_features(features)
        except FerBenchError as exc:
            raise FerBenchError(f"--features: {exc}") from None
        signed = [name for name, ex in extractors if not ex.non_negative]
        if spec.histograms_only and signed:
            histograms = [name for name, (make, _) in FEATURES.items() if make().non_negative]
            raise FerBenchError(f"--features: {config.model} needs non-negative histogram features "
                                f"({', '.join(histograms)}); {', '.join(signed)} can be negative")
        pca = str(config.pca)
        if pca.isascii() and pca.isdigit():
            pca = str(int(pca))  # "0200" and 200 are the same option
        if pca not in ("auto", "none") and not (pca.isascii() and pca.isdigit() and int(pca) > 0):
            raise FerBenchError(f"--pca must be 'auto', 'none' or a positive number of components, got "
                                f"{config.pca!r}")
        if config.mirror not in MIRRORS:
            raise FerBenchError(not_one_of("--mirror", config.mirror, MIRRORS))
        if config.search not in (None, *SEARCHES):
            raise FerBenchError(not_one_of("--search", config.search, SEARCHES))
        given = [BY_NAME[k].flag for k in self.foreign_options() if getattr(config, k) not in (None, BY_NAME[k].default)]
        if given:
            raise FerBenchError(f"{', '.join(given)} only appl{'ies' if len(given) == 1 else 'y'} to CNNs; "
                                f"{config.model} is an SVM")
        halving = config.search == "halving"  # None on k-fold protocols, which always search the whole grid
        return {"features": features, "pca": pca, "svm_backend": resolve_svm_backend(config.svm_backend, config.model, config.dataset),
                "halving_min_samples": config.halving_min_samples if halving else None,
                "cache_dir": str(Path(config.cache_dir or default_cache_dir()).expanduser()),
                **{k: None for k in self.foreign_options()}}

    def check_limits(self, config, spec, dataset, protocol, plan) -> None:
        """A numeric ``--pca`` fits both the feature width and the smallest training set any SVM is fitted on;
        one image through every extractor also finds a missing dlib model before the work starts."""
        extractors = parse_features(config.features)
        n_features = sum(int(ex.transform(dataset.images[:1]).shape[1]) for _, ex in extractors
                         if not ex.learns_from_training)
        if config.pca in ("auto", "none"):
            return
        train = dataset.images[protocol.folds[0].train]  # a learned extractor's width needs it fitted once
        n_features += sum(int(clone(ex).fit(train).transform(dataset.images[:1]).shape[1]) for _, ex in extractors
                          if ex.learns_from_training)
        smallest = min(_smallest_fit(config, spec, dataset, fold) for fold in protocol.folds)
        limit = min(n_features, smallest)
        if int(config.pca) > limit:
            raise FerBenchError(f"--pca {config.pca}: more components than the data allows (at most {limit}: the "
                                f"features have {n_features} values and the smallest training set an SVM is "
                                f"fitted on has {smallest} images"
                                f"{', mirror images included' if config.mirror == 'on' else ''})")

    def run(self, spec, config, dataset, protocol, timer, console, run_dir) -> FitResult:
        extractors = parse_features(config.features)
        cache_status: dict = {}
        mirror_status: dict = {}
        mirror = config.mirror == "on"
        with progress(console) as bar:
            features = _Features(extractors, dataset, config, bar, cache_status)
            mirrored = (_Features(extractors, dataset, config, bar, mirror_status, mirrored=True,
                                  fitted=features.fitted, warned=features.warned) if mirror else None)
            with timer.phase("features"):
                features.extract_stateless()
                if mirrored is not None:
                    mirrored.extract_stateless()
            fold_task = bar.add_task("fit + predict (folds)", total=len(protocol.folds))
            results, fold_models, model_files, model_checks = [], {}, {}, {}
            for fold in protocol.folds:
                with timer.phase("features"):
                    X = features.for_fold(fold)
                    X_mirrored = mirrored.for_fold(fold) if mirrored is not None else None
                result = _fit_fold(spec, config, dataset, fold, X, X_mirrored, timer)
                fitted = SVMFoldModel(fold.name, dataset.class_names, features.extractors_for(fold),
                                      result.pop("model"))
                with timer.phase("save"):
                    stem = run_dir / self.file_stem(fold.name, len(protocol.folds))
                    model_files.update(save_svm(stem, fitted))
                    saved, model_checks[fold.name] = check_saved_svm(
                        stem, fitted, X[fold.test], dataset.images[fold.test[:SAVE_CHECK_IMAGES]])
                with timer.phase("predict"):  # by the saved model, so its file reproduces predictions.csv exactly
                    result["predictions"] = pd.concat([_predict(saved, dataset, idx, X[idx], protocol.column, part)
                                                       for idx, part in protocol.scored_parts(fold)],
                                                      ignore_index=True)
                fold_models[fold.name] = saved
                results.append(result)
                bar.advance(fold_task)
        for line in grid_edges(spec.grid_for(dataset.name), {r["fold"]: r["best_params"] for r in results}):
            printer(console)(f"note: {line}")
        capped = [r["fold"] for r in results if r["at_iteration_cap"]]
        if capped:
            printer(console)(f"warning: liblinear stopped at its iteration cap in {', '.join(capped)}: the chosen "
                             f"model may not have converged (a kernel solver, --svm-backend libsvm, solves to "
                             f"tolerance)")
        cached = features.cached
        return FitResult(
            fold_models=fold_models,
            adapted=adapted_inner_folds(config, {r["fold"]: r["inner_folds"] for r in results}),
            predictions=pd.concat([r["predictions"] for r in results], ignore_index=True),
            best_params={r["fold"]: r["best_params"] for r in results},
            extra={"n_features": int(X.shape[1]), "pca_components": results[0]["pca"],
                   "mirrored_training": mirror,
                   "n_support_vectors": {r["fold"]: r["n_support_vectors"] for r in results},
                   "fit_seconds": round(timer.seconds.get("fit", 0.0), 3),
                   # of which: each fold's chosen model's own fit; the rest selected it (the grid search)
                   "final_fit_seconds": {r["fold"]: r["final_fit_seconds"] for r in results}},
            manifest={"features": {name: {"params": ex.get_params(), "from_cache": cached[name],
                                          "cache": cache_status.get(name),
                                          "mirror_cache": mirror_status.get(name),
                                          "fitted_per_fold": ex.learns_from_training} for name, ex in extractors},
                      "svm_backend": config.svm_backend, "svm_precision": "float64",
                      "svm_threads": 1,  # per oneDAL fit, wherever it ran (models/_onedal.py)
                      "svm_multiclass": ONE_VS_ONE,  # every solver, liblinear included (models/_svm.LiblinearSVC)
                      "pca_blas_threads": 1,  # per PCA fit and projection (models/_pca.py)
                      "mirrored_training": mirror,
                      MODEL_FILES: model_files, MODEL_CHECK: model_checks},
            search_log={r["fold"]: r["search_log"] for r in results},
        )

    def describe(self, config, spec) -> list[str]:
        return [f"pca={config.pca}"] if config.pca not in (None, "auto") else []

    def selection(self, protocol, config) -> str:
        if protocol.validation_split:
            if config.search == "halving":
                return f"successive-halving grid search scored on {protocol.validation_split}"
            return (f"every grid point fitted on all of {protocol.progress_label(protocol.folds[0])}, scored on "
                    f"{protocol.validation_split}")
        return "inner grouped CV selects hyperparameters"

    def platform(self, manifest: dict, config: dict) -> dict:
        # runs written before a second backend existed record none: they ran libsvm
        backend = manifest.get("svm_backend") or config.get("svm_backend") or SVM_BACKEND
        if backend == "onedal" and manifest.get("svm_precision") != "float64":
            backend = "onedal-float32"  # fitted before the SVMs got double precision: other numbers, a variant
        elif backend == "onedal" and manifest.get("svm_threads") != 1:
            # fitted before every oneDAL fit got one thread: last digits (and near-tied choices) of their own
            backend = "onedal-multithreaded"
        elif backend == LIBLINEAR and _fitted_one_vs_rest(manifest):
            # fitted one-vs-rest with the squared hinge, before liblinear solved the kernel solvers' model pair by
            # pair: another model
            backend = "liblinear-ovr"
        if manifest.get("pca_blas_threads") != 1 and _projected(manifest, config):
            # its PCA fitted before every PCA got one BLAS thread: last digits (and near-tied choices) of its own
            return {"svm_backend": backend, "pca": "pca-multithreaded"}
        return {"svm_backend": backend}

    def superseded(self, run) -> str | None:
        if self.platform(run.manifest, run.config)["svm_backend"] == "liblinear-ovr":
            return "liblinear fitted it one-vs-rest with the squared hinge; it now fits the kernel solvers' model"
        return super().superseded(run)

    def fit_times(self, metrics: dict) -> tuple[float | None, float | None]:
        """The grid search selects, the chosen model's refit is the fit: runs record both (``final_fit_seconds``
        per fold, within ``fit_seconds``); runs written before they did tell neither."""
        finals = metrics.get("final_fit_seconds") or {}
        if not finals or metrics.get("fit_seconds") is None:
            return None, None
        total = float(sum(finals.values()))
        return max(0.0, float(metrics["fit_seconds"]) - total), total / len(finals)

    def libraries(self, manifest: dict, config: dict) -> dict[str, str]:
        """scikit-learn's libsvm, or scikit-learn-intelex and its oneDAL (PyPI ``daal``) where they fitted the SVMs;
        scikit-image for the image features, dlib for the landmarks."""
        packages = manifest.get("packages") or {}
        names = ["scikit-image"]
        if self.platform(manifest, config)["svm_backend"].startswith("onedal"):
            names += ["scikit-learn-intelex", "daal"]
        if "landmark" in str(config.get("features") or ""):
            names.append("dlib-bin")
        return {**super().libraries(manifest, config), **{n: packages[n] for n in names if packages.get(n)}}


class _Features:
    """The feature matrix of each fold: stateless extractors once for the whole dataset (cached); extractors
    that learn are fitted per fold on the fold's training images only and cached per fold, keyed by those
    images' ids, so no vocabulary ever sees a validation or test image."""

    def __init__(self, extractors, dataset, config, bar, status: dict, *, mirrored: bool = False,
                 fitted: dict | None = None, warned: set | None = None) -> None:
        self.extractors, self.dataset, self.config, self.bar, self.status = extractors, dataset, config, bar, status
        # the mirror images (left-right flips) are features of their own, cached under their own key
        self.images = np.ascontiguousarray(dataset.images[:, :, ::-1]) if mirrored else dataset.images
        self.tag = "|mirrored" if mirrored else ""
        #: learned extractors fitted per fold (on original training images), shared with the mirrored view
        self.fitted: dict = {} if fitted is None else fitted
        #: warnings already printed (an unwritable cache is said once, not once per view and extractor)
        self.warned: set = set() if warned is None else warned
        self.blocks: dict[str, np.ndarray] = {}
        self.stacked: np.ndarray | None = None
        self.cached: dict[str, bool] = {}

    def _extract(self, name: str, extractor, fingerprint: str) -> np.ndarray:
        X, hit = extract(self.images, name, extractor, fingerprint=fingerprint + self.tag,
                         cache_dir=Path(self.config.cache_dir), n_jobs=self.config.n_jobs, progress=self.bar,
                         sample_ids=self.dataset.sample_ids, status=self.status,
                         warn=self._warn)
        self.cached[name] = self.cached.get(name, True) and hit
        return X

    def _warn(self, message: str) -> None:
        """Print a warning once per run: the same warning about another cache file (the mirror images', another
        extractor's) adds nothing."""
        key = re.sub(r"\S*/\S*", "<path>", message)
        if key not in self.warned:
            self.warned.add(key)
            printer(self.bar.console)(f"warning: {message}")

    def extract_stateless(self) -> None:
        for name, extractor in self.extractors:
            if not extractor.learns_from_training:
                self.blocks[name] = self._extract(name, extractor, self.dataset.fingerprint)

    def extractors_for(self, fold) -> list:
        """The fold's extractors as its model uses them: learned ones as fitted on the fold (after ``for_fold``)."""
        return [(name, self.fitted[(name, fold.name)] if extractor.learns_from_training else extractor)
                for name, extractor in self.extractors]

    def for_fold(self, fold) -> np.ndarray:
        if not any(extractor.learns_from_training for _, extractor in self.extractors):
            if self.stacked is None:  # the same matrix for every fold: stacked once
                self.stacked = np.hstack([self.blocks[name] for name, _ in self.extractors])
            return self.stacked
        blocks = dict(self.blocks)
        for name, extractor in self.extractors:
            if extractor.learns_from_training:
                train_ids = "\x1f".join(map(str, self.dataset.sample_ids[fold.train]))
                fingerprint = hashlib.sha256(f"{self.dataset.fingerprint}|{train_ids}".encode()).hexdigest()
                key = (name, fold.name)
                if key not in self.fitted:
                    self.fitted[key] = clone(extractor).fit(self.dataset.images[fold.train])
                blocks[name] = self._extract(name, self.fitted[key], fingerprint)
        return np.hstack([blocks[name] for name, _ in self.extractors])


def grid_edges(param_grid: dict, best: dict) -> list[str]:
    """One line per parameter whose selected value sits at an end of its grid (in any fold): the optimum may lie
    beyond it, so a wider grid may do better. Said on the console; ``search.json`` holds every score."""
    lines = []
    for key, values in param_grid.items():
        ordered = sorted(values) if len(values) > 1 and all(isinstance(v, (int, float)) for v in values) else None
        if ordered is None:
            continue
        at_edge = sorted({str(fold) for fold, params in best.items() if params.get(key) in (ordered[0], ordered[-1])})
        if at_edge:
            where = f"in {len(at_edge)} of {len(best)} folds" if len(best) > 1 else "on the validation split"
            lines.append(f"the selected {key.split('__')[-1]} is at an end of its grid {ordered} {where}; the "
                         f"optimum may lie beyond it (search.json has every score)")
    return lines


def _projected(manifest: dict, config: dict) -> bool:
    """Whether a recorded run projected its features onto PCA components in any fold (``--pca`` and the training
    sizes its manifest records, as :func:`pca_components` decided)."""
    protocol = manifest.get("protocol") or {}
    sizes = [*(protocol.get("sizes") or {}).values(), *((protocol.get("source") or {}).get("sizes") or {}).values()]
    option = str(config.get("pca") or "none")
    return any(pca_components(option, int(size.get("train") or 0)) for size in sizes if isinstance(size, dict))


def pca_components(option: str, n_train: int) -> int | None:
    """Components for ``--pca`` (auto: :data:`PCA_AUTO_COMPONENTS` above :data:`PCA_AUTO_MIN_TRAIN` images)."""
    if option == "none":
        return None
    if option == "auto":
        return PCA_AUTO_COMPONENTS if n_train > PCA_AUTO_MIN_TRAIN else None
    return int(option)


def _smallest_fit(config, spec, dataset, fold) -> int:
    """The fewest images any SVM of this fold is fitted on: the smallest inner-CV training part, or the first
    successive-halving subsample where the fold has a validation part; mirror images count (``--mirror on``
    doubles every training part, as :func:`_fit_fold` fits on originals and mirrors)."""
    copies = 2 if config.mirror == "on" else 1
    if fold.val is not None:
        return smallest_halving_fit(np.tile(dataset.labels[fold.train], copies), spec.grid_for(dataset.name),
                                    min_samples=config.halving_min_samples or copies * len(fold.train))
    subjects = dataset.subjects[fold.train]
    cv = inner_cv(subjects, folds=config.inner_folds, seed=config.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        return copies * min(len(tr) for tr, _ in cv.split(np.zeros(len(fold.train)), dataset.labels[fold.train],
                                                          subjects))


def _fit_fold(spec, config, dataset, fold, X: np.ndarray, X_mirrored: np.ndarray | None, timer) -> dict:
    """Select hyperparameters without the test part and fit (the caller saves the model and predicts with it).

    With mirror images (``X_mirrored``) the training part is the training images plus their mirror images;
    validation and test images are never mirrored. Inner CV keeps each mirror image in its original's inner
    fold and scores original images only."""
    y = dataset.labels
    train = fold.train
    X_train, y_train = X[train], y[train]
    if X_mirrored is not None:
        X_train, y_train = np.vstack([X_train, X_mirrored[train]]), np.concatenate([y_train, y_train])
    pca = pca_components(config.pca, len(fold.train))
    estimator = spec.build(seed=config.seed, pca=pca, backend=config.svm_backend)
    timings: dict = {}  # the searches put the chosen model's own fit time here
    with timer.phase("fit"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(converge|least populated class).*")
        inner_folds = None
        if fold.val is None:
            groups = dataset.subjects[train]
            inner_folds = inner_folds_used(groups, config.inner_folds)
            splits = list(inner_cv(groups, folds=config.inner_folds, seed=config.seed)
                          .split(np.zeros(len(train)), y[train], groups))
            if X_mirrored is not None:  # a mirror image trains with its original, and is never scored
                splits = [(np.concatenate([fit, fit + len(train)]), score) for fit, score in splits]
            model, params, log = grouped_grid_search(
                estimator, spec.grid_for(dataset.name), X_train, y_train, None, cv=splits, n_jobs=config.n_jobs,
                timings=timings)
        elif config.search == "halving":
            model, params, log = holdout_halving_search(
                estimator, spec.grid_for(dataset.name), X_train, y_train, X[fold.val], y[fold.val],
                seed=config.seed, n_jobs=config.n_jobs, min_samples=config.halving_min_samples, timings=timings)
        else:
            model, params, log = holdout_grid_search(
                estimator, spec.grid_for(dataset.name), X_train, y_train, X[fold.val], y[fold.val],
                n_jobs=config.n_jobs, timings=timings)
    svm = model.named_steps["svm"] if hasattr(model, "named_steps") else model
    if backend_that_ran(svm) != config.svm_backend:  # e.g. oneDAL fell back to libsvm for a parameter
        raise WorkFailedError(f"{config.model}: the SVM ran on {backend_that_ran(svm)}, not the requested "
                              f"{config.svm_backend}; rerun with --svm-backend {backend_that_ran(svm)}")
    # liblinear's models (pair by pair, or one-vs-rest before) have hyperplanes, not support vectors
    n_sv = int(svm.n_support_.sum()) if backend_that_ran(svm) != LIBLINEAR else None
    return {"fold": fold.name, "model": model, "best_params": params, "search_log": log, "n_support_vectors": n_sv,
            "pca": pca, "inner_folds": inner_folds, "final_fit_seconds": round(timings["final_fit_seconds"], 3),
            "at_iteration_cap": _at_iteration_cap(svm)}


def _at_iteration_cap(svm) -> bool:
    """Whether a liblinear fit stopped at its iteration cap rather than at its tolerance (the convergence warning
    is silenced during the search, where small grid points may hit it harmlessly; the chosen model's is said)."""
    n_iter, cap = getattr(svm, "n_iter_", None), getattr(svm, "max_iter", None)
    return backend_that_ran(svm) == LIBLINEAR and n_iter is not None and cap is not None and int(np.max(n_iter)) >= cap


def _predict(model: SVMFoldModel, dataset, idx: np.ndarray, X: np.ndarray, column: str, part: str) -> pd.DataFrame:
    """Predictions of a fold's SVM on its features, with per-class decision values (NaN for a class it never
    saw)."""
    return prediction_rows(dataset, idx, column, part, model.pipeline.predict(X), model.scores_of_features(X))


def _fitted_one_vs_rest(manifest: dict) -> bool:
    """Whether a liblinear run's model is the one-vs-rest one: its manifest says so; one written before manifests
    recorded ``svm_multiclass`` tells by its saved model's class (a ``LinearSVC``; the one-vs-one model saves as an
    ``SVC``), which its save check names."""
    if "svm_multiclass" in manifest:
        return manifest["svm_multiclass"] != ONE_VS_ONE
    return any("LinearSVC" in str((check or {}).get("predictions_by"))
               for check in (manifest.get(MODEL_CHECK) or {}).values())

