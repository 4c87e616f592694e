"""Fitted SVM pipelines and feature extractors as plain arrays + JSON, rebuilt into stock scikit-learn objects.

Why not pickle, joblib or skops: unpickling runs code from the file, and ``skops.io.dump`` of a fitted
``sklearnex.svm.SVC`` (the oneDAL backend) kills the interpreter. Here a model file is an ``.npz`` of numeric
arrays (loaded with ``allow_pickle=False``) and a JSON description naming each step's class from an allow-list,
its constructor parameters and its fitted attributes. A oneDAL-fitted SVC is written as the stock
``sklearn.svm.SVC`` holding the same support vectors, dual coefficients and intercepts (libsvm's own layout), so
the rebuilt model predicts with scikit-learn's libsvm code whatever backend trained it; fer-bench proves that on
the run's test images when it saves the model (see ``benchmark.saved_models``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.kernel_approximation import AdditiveChi2Sampler
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from ._pca import OneThreadPCA
from ._stock import SVC_STATE as _SVC_STATE
from ._svm import Float64, UnitVariance

#: The classes a pipeline step may be rebuilt as (nothing else is ever constructed from a model file).
#: A PCA is rebuilt as a OneThreadPCA, which applies it on one BLAS thread as the run did.
STEP_CLASSES = {cls.__name__: cls for cls in (StandardScaler, UnitVariance, Float64, AdditiveChi2Sampler, SVC,
                                               LinearSVC)} | {"PCA": OneThreadPCA}


class ModelFileError(ValueError):
    """A model description that cannot be rebuilt (unknown class, missing array, unsupported value)."""


def to_arrays(obj, prefix: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``(description, arrays)`` of a fitted estimator or extractor: its class name, constructor parameters and
    fitted state. Arrays are keyed ``<prefix>.<attribute>`` so that several objects share one ``.npz``."""
    params = {k: _plain(v, f"{prefix} parameter {k}") for k, v in obj.get_params(deep=False).items()}
    if isinstance(obj, SVC) or getattr(obj, "_onedal_estimator", None) is not None:
        # a stock SVC, sklearnex's, or a LiblinearSVC (its kernel fixed, not a parameter): as the stock SVC
        cls, state = "SVC", {k: getattr(obj, k) for k in _SVC_STATE if hasattr(obj, k)}
        params = {k: _plain(getattr(obj, k), f"{prefix} parameter {k}") for k in SVC().get_params()
                  if hasattr(obj, k)}
    else:  # a OneThreadPCA is saved as the PCA it is
        cls = "PCA" if isinstance(obj, OneThreadPCA) else type(obj).__name__
        state = {k: v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("__")}
    attributes, arrays = {}, {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                raise ModelFileError(f"{prefix}.{key}: object arrays cannot be saved safely")
            arrays[f"{prefix}.{key}"] = np.ascontiguousarray(value)
            attributes[key] = {"array": f"{prefix}.{key}"}
        else:
            attributes[key] = {"value": _plain(value, f"{prefix}.{key}")}
    return {"class": cls, "params": params, "attributes": attributes}, arrays


def from_arrays(description: dict, arrays, classes: dict[str, type]):
    """The object ``description`` names (its class must be in ``classes``), with its fitted state restored."""
    name = description.get("class")
    if name not in classes:
        raise ModelFileError(f"class {name!r} is not one fer-bench rebuilds (allowed: {', '.join(classes)})")
    obj = classes[name](**{k: _restored(v) for k, v in description["params"].items()})
    for key, entry in description["attributes"].items():
        if "array" in entry:
            if entry["array"] not in arrays:
                raise ModelFileError(f"array {entry['array']} is missing from the model file")
            value = np.asarray(arrays[entry["array"]])
            dtype = _SVC_STATE.get(key) if name == "SVC" else None
            value = np.ascontiguousarray(value, dtype=dtype)  # libsvm needs C order and its own index types
        else:
            value = _restored(entry["value"])
        setattr(obj, key, value)
    if name == "SVC":  # probability estimates are never fitted (no Platt scaling): libsvm wants empty arrays
        obj._probA = obj._probB = np.empty(0, dtype=np.float64)
    return obj


def pipeline_to_arrays(pipeline: Pipeline) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Each step of a fitted SVM pipeline (``"passthrough"`` kept as such) as descriptions + arrays."""
    steps, arrays = [], {}
    for name, step in pipeline.steps:
        if step == "passthrough" or step is None:
            steps.append({"name": name, "passthrough": True})
            continue
        description, step_arrays = to_arrays(step, f"step.{name}")
        steps.append({"name": name, **description})
        arrays.update(step_arrays)
    return steps, arrays


def pipeline_from_arrays(steps: list[dict], arrays) -> Pipeline:
    """The stock scikit-learn pipeline ``pipeline_to_arrays`` described."""
    return Pipeline([(s["name"], "passthrough" if s.get("passthrough") else from_arrays(s, arrays, STEP_CLASSES))
                     for s in steps])


def _plain(value, what: str):
    """A JSON value for a parameter or fitted scalar (tuples as tagged lists, numpy scalars as Python ones)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (tuple, list)):
        items = [_plain(v, what) for v in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    raise ModelFileError(f"{what}: a {type(value).__name__} cannot be saved safely")


def _restored(value):
    if isinstance(value, dict) and set(value) == {"tuple"}:
        return tuple(_restored(v) for v in value["tuple"])
    if isinstance(value, list):
        return [_restored(v) for v in value]
    return value
