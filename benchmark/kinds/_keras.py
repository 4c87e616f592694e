"""Deep models: Keras CNNs trained from pixels, selecting (early stopping, checkpoint) on validation data only."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from models import build_penalised, get_model, list_models

from .. import backends, tf_setup
from ..console import printer, progress
from ..errors import FerBenchError, did_you_mean
from ..protocols import carve_validation, inner_folds_used
from ..options import is_int
from ..recipe import PLATEAU_KEYS
from ..saved_models import MODEL_CHECK, MODEL_FILES, file_sha256
from ._base import FitResult, ModelKind, adapted_inner_folds, prediction_rows
from ._keras_export import VERSIONS as KERAS_EXPORT_VERSIONS, export_keras
from ._keras_files import KERAS_CHECK_IMAGES, KerasFoldModel, check_saved_keras, load_keras
from ._transfer import Source, check_unseen, read_source, transfer

#: The published training settings a CNN run may override.
TRAINING_OPTIONS = ("epochs", "batch_size", "lr", "patience")
#: The recipe options, each value a CNN may take, and the value of every architecture that does not name one (what
#: every CNN did before the options existed).
RECIPE = {"optimizer": (("adam", "sgd"), "adam"), "schedule": (("plateau", "cosine", "none"), "plateau"),
          "tta": (("none", "flip", "ten-crop"), "none")}


#: The values of ``--recipe``: a dataset's validated recipe where the model has one, or the paper's everywhere.
RECIPE_CHOICES = ("validated", "paper")


def recipe_of(spec, dataset: str | None = None, *, paper: bool = False) -> dict:
    """An architecture's training recipe on ``dataset``: its settings, its L2 penalty (0: none) and its optimizer,
    schedule and test-time augmentation (``training`` of its registration with the dataset's validated recipe over
    it unless ``paper``, or the defaults of :data:`RECIPE`)."""
    training = spec.training_for(dataset, paper=paper)
    return {**{k: v for k, v in training.items() if k not in ("min_delta", "l2", *RECIPE)},
            "l2": float(training.get("l2", 0.0)),
            **{k: training.get(k, default) for k, (_, default) in RECIPE.items()}}


def published_l2(spec) -> float:
    """The L2 penalty coefficient ``spec``'s paper trains with (0.0: none)."""
    return float(spec.training.get("l2", 0.0))


#: Architectures whose paper's L2 was registered after runs of them had recorded ``l2`` as null, and what that null
#: meant then (VGG-FER trained without a penalty until its authors' weight decay was registered). Their runs record
#: the L2 explicitly, so an old run and a new one never share a config hash while training differently.
NULL_L2 = {"vgg-fer": 0.0}


def null_l2(spec) -> float:
    """The L2 coefficient a run of ``spec`` that recorded ``l2`` as null trained with: the published one, except
    for the architectures of :data:`NULL_L2`."""
    return NULL_L2.get(spec.name, published_l2(spec))


def l2_of(config, spec) -> float:
    """The L2 penalty a resolved ``config`` trains with: its ``l2``, or, where that is None, :func:`null_l2`."""
    return float(config.l2) if config.l2 is not None else null_l2(spec)


def plateau_declared(spec, config) -> dict:
    """The plateau rule ``spec``'s recipe declares for a resolved ``config`` (its paper's factor and wait), where
    the run trains on the plateau schedule; {} otherwise (the default rule of ``benchmark.recipe``)."""
    return declared_plateau(spec, config.dataset, config.schedule, config.recipe)


def declared_plateau(spec, dataset: str | None, schedule: str | None, recipe: str | None) -> dict:
    """:func:`plateau_declared` from the values themselves (a config.json's; a ``schedule`` of None is the plateau
    schedule every CNN trained on before the option)."""
    if (schedule or RECIPE["schedule"][1]) != "plateau":
        return {}
    settings = recipe_of(spec, dataset, paper=recipe == "paper")
    return {key: settings[key] for key in PLATEAU_KEYS if key in settings}


def earlier_training_rule(config: dict, training: dict) -> str | None:
    """How a run's early stopping or plateau rule differs from what its model's registration declares now, as
    recorded in its metrics.json ``training`` (e.g. "plateau x0.1 after 12 epochs"), or None. These rules are
    declared data, not options, so they are not in the config hash: a rule changed since leaves older runs with
    today's hash but another training. Runs recording no early-stopping threshold (from before it was recorded)
    are not judged on it; models no longer registered are never judged."""
    try:
        spec = get_model(str(config.get("model")))
    except FerBenchError:
        return None
    declared = declared_plateau(spec, config.get("dataset"), config.get("schedule"), config.get("recipe"))
    recorded = {key: training[key] for key in PLATEAU_KEYS if key in training}
    if recorded != declared:
        return "plateau " + (", ".join(f"{key.split('_')[1]} {value:g}" for key, value in recorded.items())
                             if recorded else "by the default rule")
    if "min_delta" in training and float(training["min_delta"]) != float(spec.training.get("min_delta", 0.0)):
        return f"early stopping by more than {float(training['min_delta']):g}"
    return None


def build_network(spec, config, dataset):
    """``spec``'s network for ``dataset``'s classes, with the run's L2 penalty (:func:`models.build_penalised`)."""
    return build_penalised(spec, l2_of(config, spec), n_classes=len(dataset.class_names), dataset=dataset.name,
                           pretrained=config.pretrained)


class Keras(ModelKind):
    """Per fold: carve validation (k-fold), train selecting on it only, predict validation and test, save the
    model (``model.keras`` or ``model_<fold>.keras``); returns the history and which images trained and validated
    with the predictions, for the run writer."""

    name = "deep"
    title = "deep (CNN on pixels)"
    selects_by_search = False
    model_stem = "model"
    model_suffixes = (".keras",)
    model_noun = "a CNN"
    needs_gpu = True
    export_formats = ("onnx", "tflite", "savedmodel")
    scores_are_probabilities = True  # softmax outputs (the mean over the test-time views, with --tta)

    def _load(self, stem: Path, fold: str, class_names: tuple[str, ...], config: dict) -> KerasFoldModel:
        return KerasFoldModel(fold, class_names, load_keras(stem.with_suffix(".keras")),
                              tta=config.get("tta") or "none")  # runs before --tta predicted without

    def export(self, model, fmt, images, target, features):
        backend = backends.prepare()
        if backend != "tensorflow":  # tf2onnx, the TFLite converter and SavedModels all work on TensorFlow graphs
            raise FerBenchError(
                f"export --format {fmt}: converting a CNN needs Keras on TensorFlow, and this process runs it on "
                f"{backend}" + (" because TensorFlow is not installed (pip install tensorflow)" if not
                                backends.installed("tensorflow") else " ($KERAS_BACKEND); run the export with "
                                "KERAS_BACKEND=tensorflow") + "; a run's .keras files load under any backend")
        route, tried, parity, details = export_keras(model.model, fmt, images, target)
        views = {"flip": "the image and its left-right flip",
                 "ten-crop": "the image's ten crops (benchmark.training.tta_views: four corners and centre, "
                             "92% of each side resized back to 48 x 48, and their flips)"}
        notes = [] if model.tta == "none" else [
            f"the run's predictions average the probabilities of several views of each image (--tta {model.tta}); "
            f"the export is the network alone: average its outputs on {views[model.tta]} to match"]
        return route, tried, parity, details, notes

    def defaults_of(self, spec) -> dict:
        return recipe_of(spec)

    def export_versions(self, fmt: str) -> list[str]:
        return list(KERAS_EXPORT_VERSIONS[fmt])

    def resolve(self, config, spec) -> dict:
        if config.features not in (None, "pixels"):
            raise FerBenchError(f"--features does not apply to {config.model}: CNNs learn from pixels")
        if config.pretrained and not spec.pretrainable:
            pretrainable = [s.name for s in list_models() if s.pretrainable]
            raise FerBenchError(f"--pretrained: {config.model} has no published pretrained weights; only "
                                f"{', '.join(pretrainable)} can load ImageNet weights")
        if config.recipe not in (None, *RECIPE_CHOICES):
            raise FerBenchError(f"--recipe must be validated or paper, got {config.recipe!r}"
                                f"{did_you_mean(str(config.recipe), RECIPE_CHOICES)}")
        recipe = recipe_of(spec, config.dataset, paper=config.recipe == "paper")
        out = {k: getattr(config, k) if getattr(config, k) is not None else recipe[k] for k in TRAINING_OPTIONS}
        for key in ("epochs", "batch_size", "patience"):
            if not is_int(out[key]) or out[key] < (0 if key == "patience" else 1):
                raise FerBenchError(f"--{key.replace('_', '-')} must be a positive number, got {out[key]}")
        if not (isinstance(out["lr"], (int, float)) and math.isfinite(out["lr"]) and out["lr"] > 0):
            raise FerBenchError(f"--lr must be a positive, finite number, got {out['lr']}")
        if config.init_from is not None and config.pretrained:
            raise FerBenchError("--init-from and --pretrained both choose the starting weights; give one")
        source = self._source(config) if config.init_from is not None else None
        out["init_weights"] = source.sha256[:16] if source is not None else None
        out["backend"] = backends.check(config.backend or backends.default_backend())
        if (out["batch_size"] % 2 and out["backend"] == "tensorflow" and tf_setup.onednn_may_be_on()
                and shutil.which("nvidia-smi") is None):  # no GPU here: oneDNN trains (fit_network checks again)
            raise tf_setup.odd_batch_error(out["batch_size"])
        if config.l2 is not None and (isinstance(config.l2, bool) or not isinstance(config.l2, (int, float))
                                      or not math.isfinite(config.l2) or config.l2 < 0):
            raise FerBenchError(f"--l2 must be a finite number >= 0 (0: no penalty), got {config.l2}")
        l2 = float(config.l2) if config.l2 is not None else recipe["l2"]
        # null where the published value is also the recipe's, as every run before --l2 recorded it; written out
        # where a validated recipe has another, so that resolving a resolved config again keeps it (suites do)
        out["l2"] = None if l2 == null_l2(spec) == recipe["l2"] else l2
        # which recipe filled in the settings: as given, else "validated" where the dataset has one (None: only
        # the paper's exists)
        out["recipe"] = config.recipe or ("validated" if config.dataset in spec.dataset_training else None)
        for key, (values, _) in RECIPE.items():
            out[key] = getattr(config, key) if getattr(config, key) is not None else recipe[key]
            if out[key] not in values:
                raise FerBenchError(f"--{key} must be {', '.join(values[:-1])} or {values[-1]}, got {out[key]!r}"
                                    f"{did_you_mean(str(out[key]), values)}")
        return {**out, "features": "pixels", **{k: None for k in self.foreign_options()},
                "augment": bool(config.augment), "class_weights": bool(config.class_weights),
                "pretrained": bool(config.pretrained)}

    def _source(self, config) -> Source:
        return read_source(config.init_from, config.model, self._model_file)

    def _model_file(self, fold, n_folds) -> str:
        """The file a fold's network is saved in (what --init-from starts from)."""
        return self.model_files(fold, n_folds)[0]

    def check_process(self, config) -> None:
        backends.check_usable(config.backend)

    def check_limits(self, config, spec, dataset, protocol, plan) -> None:
        """--init-from's weights never saw an image this run scores: its protocol's test images and, where the run
        scores another dataset (``plan.scored``: a --test-dataset's target), the target images it scores."""
        if config.init_from is None:
            return
        scored = [(dataset, np.unique(np.concatenate([fold.test for fold in protocol.folds])),
                   "test images of this run")]
        if plan.scored is not dataset:
            scored.append((plan.scored, plan.reported.folds[0].test,
                           f"{plan.scored.name} images this run scores (--test-dataset)"))
        check_unseen(self._source(config), scored, self._model_file)

    def run(self, spec, config, dataset, protocol, timer, console, run_dir) -> FitResult:
        backends.use(config.backend)  # before benchmark.training imports Keras
        # lazy: benchmark.training imports Keras and its backend (seconds of start-up), which only a CNN run needs
        from ..training import Part, TrainSettings, fit_network, predict_proba

        device = backends.configure(config.seed)
        plateau = plateau_declared(spec, config)
        settings = TrainSettings(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                                 patience=config.patience, min_delta=spec.training.get("min_delta", 0.0),
                                 augment=config.augment, class_weights=config.class_weights,
                                 optimizer=config.optimizer, schedule=config.schedule, **plateau)
        say = printer(console)
        say(f"training {config.model} on the {device['device']} ({device['backend']}, {device['precision']}): "
            f"{settings.epochs} epoch{'s' if settings.epochs != 1 else ''} max, batch {settings.batch_size}, "
            f"lr {settings.lr}, "
            f"patience {settings.patience}, augment {settings.augment}, l2 {l2_of(config, spec):g}"
            + "".join(f", {key} {getattr(config, key)}" for key in RECIPE
                      if getattr(config, key) != RECIPE[key][1])
            + (", plateau x{:g} after {} epochs without a lower validation loss".format(*settings.plateau())
               if plateau else "")
            + (f"; the {config.recipe} recipe for {config.dataset}" if config.recipe else ""))
        part = lambda idx: Part(dataset.images[idx], dataset.labels[idx], dataset.sample_ids[idx])  # noqa: E731
        frames, histories, roles, facts, inner = [], [], [], {}, {}
        fold_models, model_files, model_checks = {}, {}, {}
        n_params = None
        source = self._source(config) if config.init_from is not None else None
        source_model = load_keras(source.path / source.model_file) if source is not None else None
        started_from = None
        with progress(console) as bar:
            fold_task = bar.add_task("folds", total=len(protocol.folds))
            for fold in protocol.folds:
                if fold.val is None:
                    inner[fold.name] = inner_folds_used(dataset.subjects[fold.train], config.inner_folds)
                fold = carve_validation(dataset, fold, folds=config.inner_folds, seed=config.seed)
                backends.reseed(config.seed)
                model = build_network(spec, config, dataset)
                n_params = model.count_params()
                if source_model is not None:
                    classifier = transfer(model, source_model, source.class_names == tuple(dataset.class_names))
                    if started_from is None:
                        say(f"starting from {source.run_id} ({source.dataset}'s {source.model_file}), classifier "
                            f"{classifier}")
                    started_from = source.summary(classifier)
                with timer.phase("fit"):
                    info = fit_network(model, part(fold.train), part(fold.val), settings, seed=config.seed,
                                       n_classes=len(dataset.class_names), progress=bar,
                                       label=protocol.progress_label(fold))
                history_of_fold = info.pop("history")
                if not bar.console.is_terminal:  # a log file: the fold's outcome in one line, there at once
                    say(fold_line(protocol.progress_label(fold), history_of_fold, info, timer))
                histories.append(history_of_fold.assign(fold=fold.name))
                facts[fold.name] = info
                with timer.phase("predict"):
                    for idx, name in protocol.scored_parts(fold):
                        proba = predict_proba(model, dataset.images[idx], tta=config.tta)
                        frames.append(prediction_rows(dataset, idx, protocol.column, name, proba.argmax(axis=1),
                                                      proba))
                fold_model = KerasFoldModel(fold.name, dataset.class_names, model, tta=config.tta)
                with timer.phase("save"):  # the model file, reloaded in safe mode and checked on test images
                    (filename,) = self.model_files(fold.name, len(protocol.folds))
                    path = run_dir / filename
                    model.save(path)
                    model_files[path.name] = file_sha256(path)
                    model_checks[fold.name] = check_saved_keras(
                        path, fold_model, dataset.images[fold.test[:KERAS_CHECK_IMAGES]])
                fold_models[fold.name] = fold_model
                roles.append(pd.DataFrame({"fold": fold.name, "sample_id": dataset.sample_ids[
                    np.concatenate([fold.train, fold.val])], "role": ["train"] * len(fold.train) +
                    ["validation"] * len(fold.val)}))
                bar.advance(fold_task)
        history = pd.concat(histories, ignore_index=True)
        return FitResult(
            fold_models=fold_models,
            adapted=adapted_inner_folds(config, inner),
            predictions=pd.concat(frames, ignore_index=True),
            best_params={name: {"best_epoch": f["best_epoch"]} for name, f in facts.items()},
            extra={"n_params": n_params, "training": {**{k: getattr(settings, k) for k in
                                                         ("epochs", "batch_size", "lr", "patience", "augment",
                                                          "class_weights")},
                                                      "l2": l2_of(config, spec), **plateau,
                                                      # the paper's early-stopping threshold, where it has one
                                                      **({"min_delta": settings.min_delta} if settings.min_delta
                                                         else {}),
                                                      # the dataset's validated recipe as registered when it ran
                                                      # (the methods say which settings it chose)
                                                      **({"validated_recipe": dict(
                                                          spec.dataset_training[config.dataset])}
                                                         if config.dataset in spec.dataset_training else {}),
                                                      # the recipe, where it is not what every CNN did before
                                                      **{k: getattr(config, k) for k in RECIPE
                                                         if getattr(config, k) != RECIPE[k][1]}},
                   "folds_training": facts, "fit_seconds": round(timer.seconds.get("fit", 0.0), 3),
                   "device": device["device"]},
            manifest={"training_device": device, MODEL_FILES: model_files, MODEL_CHECK: model_checks,
                      **({"init_from": started_from} if started_from is not None else {})},
            history=history[["fold"] + [c for c in history.columns if c != "fold"]],
            training_roles=pd.concat(roles, ignore_index=True),
        )

    def describe(self, config, spec) -> list[str]:
        """The settings where a resolved ``config`` departs from its dataset's recipe (the paper's under
        ``--recipe paper``, then named first)."""
        paper = config.recipe == "paper"
        recipe = recipe_of(spec, config.dataset, paper=paper)
        parts = ["paper recipe"] if paper else []
        parts += [f"{k}={getattr(config, k)}" for k in (*TRAINING_OPTIONS, *RECIPE)
                  if getattr(config, k) != recipe.get(k)]
        parts += [f"l2={l2_of(config, spec):g}"] if l2_of(config, spec) != recipe["l2"] else []
        return parts + [name for name, on in (("no augment", config.augment is False),
                                              ("class_weights", config.class_weights),
                                              ("pretrained", config.pretrained)) if on]

    def selection(self, protocol, config) -> str:
        if protocol.validation_split:
            return f"early stopping and checkpoint on {protocol.validation_split}"
        return "a subject-grouped validation split of each training fold drives early stopping and checkpoint"

    def fit_times(self, metrics: dict) -> tuple[float | None, float | None]:
        """A CNN selects its epoch by early stopping while it trains: no separate selection; its fit per fold is
        the training time over the folds it trained."""
        folds = len(metrics.get("folds_training") or {}) or 1
        seconds = metrics.get("fit_seconds")
        return None, (float(seconds) / folds if seconds is not None else None)

    def libraries(self, manifest: dict, config: dict) -> dict[str, str]:
        """Keras and the backend that trained (its version as the run recorded it), with CUDA and cuDNN on a GPU."""
        device = manifest.get("training_device") or {}
        packages = manifest.get("packages") or {}
        backend = device.get("backend") or "tensorflow"
        out = {"keras": device.get("keras") or packages.get("keras"),
               backend: device.get("backend_version") or packages.get(backend),
               "CUDA": device.get("cuda"), "cuDNN": device.get("cudnn")}
        return {**super().libraries(manifest, config), **{k: str(v) for k, v in out.items() if v}}

    def superseded(self, run) -> str | None:
        earlier = earlier_training_rule(run.config, run.metrics.get("training") or {})
        if earlier is not None:
            return f"it trained with another rule ({earlier}) than its model declares now"
        return super().superseded(run)

    def platform(self, manifest: dict, config: dict) -> dict:
        # oneDNN's CPU kernels sum in another order, so CPU runs with and without them are variants, never
        # duplicates (runs before fer-bench turned them on recorded "0")
        # JAX and PyTorch sum in their own order too: the backend is part of the platform (TensorFlow, the one
        # backend before the option existed, is left unnamed, so the report's rows of earlier runs stay as they were)
        device = manifest.get("training_device") or {}
        name = device.get("device")
        if name == "CPU" and str(device.get("onednn")).strip().lower() in ("1", "true"):
            name = "CPU (oneDNN)"
        backend = device.get("backend")
        return {"device": name, "precision": device.get("precision"),
                "backend": None if backend in (None, "tensorflow") else backend}


def fold_line(label: str, history: pd.DataFrame, facts: dict, timer) -> str:
    """``fold-3: 12 epochs, best epoch 8 (val_loss 1.2345, val_accuracy 0.5600); training so far 145.2 s``"""
    best = history[history.epoch == facts["best_epoch"]].iloc[0]
    figures = ", ".join(f"{key} {best[key]:.4f}" for key in ("val_loss", "val_accuracy") if key in best)
    trained = facts["epochs_trained"]
    return (f"{label}: {trained} epoch{'s' if trained != 1 else ''}, best epoch {facts['best_epoch']} ({figures}); "
            f"training so far {timer.seconds.get('fit', 0.0):.1f} s")
