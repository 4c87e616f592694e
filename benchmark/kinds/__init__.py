"""Model kinds: how a registered model is configured, fitted, saved, loaded, exported and recorded, by the kind its
registration names.

- ``classical`` (:class:`Classical`): SVM pipelines on cached hand-crafted features;
- ``deep`` (:class:`Keras`): Keras CNNs trained from pixels.

A model names its kind in ``@register_model(..., kind=...)``; everything that differs between kinds lives in
that kind's class (a subclass of :class:`ModelKind`), so the experiment runner, the options, the suites, the
report, predict and export never branch on the kind's name. A new kind is one more subclass, registered with
:func:`register_kind` (``tests/test_kinds.py`` adds one that lives in the tests).
"""

from __future__ import annotations

from ..errors import FerBenchError
from ._base import FitResult, ModelKind, adapted_inner_folds, prediction_rows, searched_another_grid
from ._classical import Classical
from ._keras import RECIPE, Keras, earlier_training_rule, null_l2, published_l2, recipe_of
from ._keras_export import (CNN_TOLERANCE, MIXED_PRECISION_TOLERANCE, computes_in_float16, export_keras)
from ._keras_files import KERAS_CHECK_IMAGES, KerasFoldModel, check_saved_keras, load_keras
from ._svm_export import SVM_TOLERANCE, exportable_svm_pipeline, svm_pipeline_to_onnx
from ._svm_files import (SVM_SAVE_TOLERANCE, SVMFoldModel, check_saved_svm, folds_decided_by_libsvm, load_svm,
                         save_svm)

#: Every model kind by name, in the order the report groups them.
KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Add a kind to :data:`KINDS` (its ``name`` is what models register under and run folders record)."""
    if kind.name in KINDS:
        raise ValueError(f"model kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


register_kind(Classical())
register_kind(Keras())


def kind_of(spec) -> ModelKind:
    """The kind of a registered model (:class:`models.ModelSpec`)."""
    return KINDS[spec.kind]


def kind_named(name: str) -> ModelKind:
    """The kind a run folder records (``Run.kind``); an unknown one is a :class:`FerBenchError`."""
    kind = KINDS.get(name)
    if kind is None:
        raise FerBenchError(f"unknown model kind {name!r} (this fer-bench knows {', '.join(KINDS)})")
    return kind


def load_fold_models(run, fold: str | None = None) -> list:
    """Every fold's model of a complete run that passed every check (a :class:`~benchmark.record.Run` from
    ``benchmark.verification.load_run``), or only ``fold`` (``3`` means ``fold-3``); each model file is verified
    against the SHA-256 the run's manifest recorded before it is read."""
    kind = kind_named(run.kind)
    folds = run.model_folds()  # a cross-dataset run's models are its source's folds
    chosen = folds
    if fold is not None:
        if fold not in folds and f"fold-{fold}" in folds:  # "3" for "fold-3", as export takes it
            fold = f"fold-{fold}"
        if fold not in folds:
            raise FerBenchError(f"--fold {fold}: {run.path.name} has folds {', '.join(folds)}")
        chosen = [fold]
    class_names = tuple(run.model_class_names())  # a cross-dataset run's models score its source's classes
    return [kind.load_fold_model(run.path, name, len(folds), class_names, run.config) for name in chosen]


__all__ = ["CNN_TOLERANCE", "FitResult", "KERAS_CHECK_IMAGES", "KINDS", "Classical", "Keras", "KerasFoldModel",
           "MIXED_PRECISION_TOLERANCE", "ModelKind", "RECIPE", "SVMFoldModel", "SVM_SAVE_TOLERANCE", "SVM_TOLERANCE",
           "adapted_inner_folds", "check_saved_keras", "check_saved_svm", "computes_in_float16", "earlier_training_rule",
           "export_keras", "exportable_svm_pipeline", "folds_decided_by_libsvm", "kind_named", "kind_of",
           "load_fold_models", "load_keras", "load_svm", "null_l2", "prediction_rows", "published_l2", "recipe_of",
           "register_kind", "save_svm", "searched_another_grid", "svm_pipeline_to_onnx"]
