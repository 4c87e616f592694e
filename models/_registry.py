"""The model registry: every model, classical or deep, is one decorated factory looked up by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from benchmark.errors import FerBenchError, did_you_mean


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and what its search declares.

    ``param_grid`` is plain data (scikit-learn grid syntax, keys ``step__param``); ``default_features`` is the
    feature spec a classical model uses when ``--features`` is not given (None for models on pixels), or a
    mapping from dataset name (``"*"``: any other) to that spec, where the best features differ per dataset.
    ``training`` holds a deep model's published training defaults (epochs, batch_size, lr, patience), also
    plain data; ``source`` cites where the architecture comes from. ``variants`` maps a dataset name to the
    factory arguments of a published per-dataset variant (e.g. a wider head on CK+); ``pretrainable`` says
    whether ``--pretrained`` can load published weights; ``histograms_only`` that the model's kernel needs
    non-negative histogram features (extractors with ``non_negative = True``); ``defaults_why`` says what
    measurement chose the default features and grid (``fer-bench models`` prints it); ``dataset_grids`` maps a
    dataset name to the grid searched there instead of ``param_grid`` (a small dataset affords a wider grid). ``kind`` names one of ``benchmark.kinds.KINDS``, whose
    class says how the model is fitted (a registry test checks every kind and variant name). ``display_name`` is
    how the report's tables, figures and methods name the model for a reader ("SVM, RBF kernel",
    "mini-Xception"), where the command line's ``name`` stays in file names and CSV files (a registry test checks
    that every model has one). ``linear`` says that the model has no kernel, so that liblinear's solver can fit it
    (``--svm-backend liblinear``). ``dataset_training`` maps a dataset name to a deep model's recipe validated
    there: the settings (of ``training``, and ``l2``, ``optimizer``, ``schedule``, ``tta``) that differ from the
    paper's, chosen on that dataset's validation images only (``defaults_why`` says how); runs on that dataset use
    them unless ``--recipe paper``.
    """

    name: str
    kind: str
    description: str
    factory: Callable
    param_grid: dict = field(default_factory=dict)
    default_features: str | dict | None = None
    training: dict = field(default_factory=dict)
    source: str = ""
    variants: dict = field(default_factory=dict)
    pretrainable: bool = False
    histograms_only: bool = False
    defaults_why: str = ""
    dataset_grids: dict = field(default_factory=dict)
    display_name: str = ""
    linear: bool = False
    dataset_training: dict = field(default_factory=dict)

    def features_for(self, dataset: str | None) -> str | None:
        """The features this model uses on ``dataset`` when ``--features`` is not given: ``default_features``,
        or, where it maps dataset names to features, that dataset's entry (``"*"`` for any other)."""
        if isinstance(self.default_features, dict):
            return self.default_features.get(dataset, self.default_features["*"])
        return self.default_features

    def grid_for(self, dataset: str | None) -> dict:
        """The grid searched on ``dataset``: its entry of ``dataset_grids``, else ``param_grid``."""
        return self.dataset_grids.get(dataset, self.param_grid)

    def training_for(self, dataset: str | None, *, paper: bool = False) -> dict:
        """A deep model's training settings on ``dataset``: ``training`` (the paper's), with that dataset's
        validated recipe (``dataset_training``) over it unless ``paper``."""
        return {**self.training, **({} if paper else self.dataset_training.get(dataset, {}))}

    def build(self, *, dataset: str | None = None, **kwargs):
        """The model, built with the factory's arguments plus this dataset's published variant (if any)."""
        return self.factory(**kwargs, **self.variants.get(dataset, {}))


_MODELS: dict[str, ModelSpec] = {}


def register_model(name: str, *, kind: str, description: str, param_grid: dict | None = None,
                   default_features: str | dict | None = None, training: dict | None = None, source: str = "",
                   variants: dict | None = None, pretrainable: bool = False, histograms_only: bool = False,
                   defaults_why: str = "", dataset_grids: dict | None = None, display_name: str = "",
                   linear: bool = False, dataset_training: dict | None = None):
    """Decorator adding the factory to the registry under ``name``."""

    def decorator(factory: Callable) -> Callable:
        if name in _MODELS:
            raise ValueError(f"model {name!r} registered twice")
        _MODELS[name] = ModelSpec(name, kind, description, factory, dict(param_grid or {}), default_features,
                                  dict(training or {}), source, dict(variants or {}), pretrainable,
                                  histograms_only, defaults_why, dict(dataset_grids or {}), display_name, linear,
                                  {k: dict(v) for k, v in (dataset_training or {}).items()})
        return factory

    return decorator


def get_model(name: str) -> ModelSpec:
    try:
        return _MODELS[name]
    except KeyError:
        raise FerBenchError(f"unknown model {name!r}{did_you_mean(name, _MODELS)}; choose one of {', '.join(_MODELS)} "
                            f"(see 'fer-bench models')") from None


def list_models() -> list[ModelSpec]:
    return list(_MODELS.values())


def parameter_counts(n_classes: int = 7) -> dict[str, int]:
    """Every CNN's parameter count (the models with training settings) as runs build them, keyed
    ``"<model> (<dataset>)"``: FER2013's build and each per-dataset variant's, on the Keras backend this process
    runs (the same on every backend, as tested)."""
    return {f"{spec.name} ({dataset})": spec.build(n_classes=n_classes, dataset=dataset).count_params()
            for spec in list_models() if spec.training for dataset in ("fer2013", *spec.variants)}
