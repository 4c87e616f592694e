"""Exporting a run's trained models (``fer-bench export``): ONNX, TFLite or a TensorFlow SavedModel, each proven
to reproduce the run's own model on the run's own test images before it is kept.

CNN runs export whole: uint8 faces scaled to [0, 1] (N x 48 x 48 x 1 float32) in, softmax probabilities out.

- ONNX: tf2onnx, first straight from the Keras model (``tf2onnx.convert.from_keras``); where that route fails
  (tf2onnx's Keras 3 support has known gaps) or does not reproduce the model, from the model exported as a
  SavedModel (its ``serve`` function through ``tf2onnx.convert.from_function``). The route that passed is
  recorded. GELU's ``Erfc``, which tf2onnx cannot convert, is written as ``1 + Erf(-x)``.
- TFLite: ``tf.lite.TFLiteConverter`` from the SavedModel, float32, no optimisations; checked with LiteRT
  (``ai_edge_litert``; TensorFlow's own ``tf.lite.Interpreter`` is deprecated).
- SavedModel: Keras 3's ``model.export(..., format="tf_saved_model")``, its ``serve`` function checked.

SVM runs export the classifier only (:func:`svm_pipeline_to_onnx`): the scaler, PCA and SVC of the fold's
pipeline become ONNX through skl2onnx, with the feature vector as input. fer-bench's feature extractors (HOG,
landmarks, LBP, the bag of visual words) have no ONNX form, so a user of the export computes the features as
fer-bench does. svm-chi2's chi-squared feature map has no skl2onnx converter: it cannot be exported.

The check: the run's folder and model files are verified (:func:`benchmark.record.load_run`, each model file's
SHA-256 against the manifest), the run's dataset is loaded and must have the fingerprint the run recorded, and the
exported model's outputs on the fold's test images (predictions.csv) must match the run's own model within
:data:`CNN_TOLERANCE` (probabilities) or, for an SVM, give identical labels and decision values within
:data:`SVM_TOLERANCE`. Everything is written under temporary names and renamed only once every export of the
command passed, so a failed check leaves no exported file behind. A JSON sidecar beside each export records where
it came from, the route, the check's figures and the versions of the converters.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import FerBenchError, WorkFailedError, exception_text

FORMATS = ("onnx", "tflite", "savedmodel")
#: Largest difference in a class probability between an exported CNN and the Keras model (float32 throughout;
#: measured differences are about 1e-7).
CNN_TOLERANCE = 1e-4
#: The same for a model trained in mixed precision (on a GPU: float16 layers, float32 softmax): float16 rounds at
#: about 5e-4 and TensorFlow and onnxruntime round in different places (measured 2e-3 and 3e-3 on two briefly
#: trained mini-Xceptions, 180 images each, every predicted class the same).
MIXED_PRECISION_TOLERANCE = 1e-2
#: Largest difference in a one-vs-rest decision value between the ONNX classifier and the scikit-learn pipeline:
#: onnxruntime's SVMClassifier computes kernels in float32, scikit-learn in float64 (measured: ~1e-6).
SVM_TOLERANCE = 1e-4
#: ONNX opset of every export (onnxruntime 1.17+ runs it; skl2onnx's ai.onnx.ml domain at version 3).
ONNX_OPSET = 17
#: Images per inference call in the checks (bounds memory on FER2013's 3,589 test images).
CHECK_BATCH = 256
#: The class-score output of each kind, as the sidecar describes it.
OUTPUTS = {"deep": "softmax probabilities, one per class (class_names order)",
           "classical": "label: the class index; probabilities: one-vs-rest decision values of the classes the "
                        "fold trained on (classes order), not probabilities; with two classes, column 0 is the one "
                        "decision value (positive for the second class) and column 1 its negation"}


@dataclass
class Parity:
    """How closely an export reproduces the run's own model on ``images`` test images of one fold."""

    images: int
    max_abs_diff: float
    tolerance: float
    argmax_agree: int  # images whose predicted class is the same (an SVM: ONNX label == pipeline.predict)
    labels_must_agree: bool = False  # SVMs: every label must be identical, not only the scores close

    @property
    def passed(self) -> bool:
        close = bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance
        return close and (not self.labels_must_agree or self.argmax_agree == self.images)

    def describe(self) -> str:
        return (f"max abs difference {self.max_abs_diff:.3g} (tolerance {self.tolerance:g}), predicted class "
                f"agrees on {self.argmax_agree}/{self.images} test images")


@dataclass
class Exported:
    """One written export: its file (a folder for a SavedModel), sidecar, route and check."""

    fold: str
    format: str
    path: Path
    sidecar: Path
    route: str
    parity: Parity
    size_bytes: int
    seconds: float
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------ the command

def export_run(run_dir: Path, fmt: str, *, out: Path | None = None, fold: str | None = None,
               data_dir: str | None = None, log: Callable[[str], None] = lambda line: None) -> list[Exported]:
    """Export every fold's model of the run in ``run_dir`` (or only ``fold``) as ``fmt`` into ``out`` (default
    ``exports/<run id>/``), each checked on its fold's test images; returns what was written.

    Problems found before any work (the run, the format for its kind, the fold, the data, a model file's hash)
    raise :class:`FerBenchError` (exit 2); a conversion that fails or does not reproduce the model raises
    :class:`WorkFailedError` (exit 1) and leaves no export behind.
    """
    from .record import load_run

    if fmt not in FORMATS:
        raise FerBenchError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    run = load_run(Path(run_dir))
    if run.kind != "deep" and fmt != "onnx":
        raise FerBenchError(f"--format {fmt}: not supported for {run.path.name} ({run.metrics['model']}, an SVM); "
                            f"SVM runs export to onnx only, as the classifier on feature vectors")
    folds = _chosen_folds(run, fold)
    out = _output_folder(run, out)
    dataset = run_dataset(run, data_dir, log)
    staged: list[tuple[Path, Path, Exported]] = []
    try:
        for name in folds:
            staged.append(_export_fold(run, name, fmt, dataset, out, log))
        return [_commit(*item) for item in staged]
    finally:
        for tmp, tmp_sidecar, _ in staged:  # whatever a failure left under temporary names
            _remove(tmp)
            _remove(tmp_sidecar)


def _output_folder(run, out: Path | None) -> Path:
    """``out`` or ``exports/<run id>``, created; never inside the run folder (a complete run is never changed)."""
    from .files import writable

    out = Path(out).expanduser() if out is not None else Path("exports") / run.run_id
    if out.resolve() == run.path.resolve() or run.path.resolve() in out.resolve().parents:
        raise FerBenchError(f"--out {out}: inside the run folder {run.path}; a complete run is never changed, "
                            f"export somewhere else (default exports/{run.run_id}/)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FerBenchError(f"--out {out}: cannot create the folder ({exception_text(exc)})") from None
    problem = writable(out)
    if problem is not None:
        raise FerBenchError(f"--out {out}: cannot write there ({exception_text(problem)})")
    return out


def _chosen_folds(run, fold: str | None) -> list[str]:
    """The folds the run saved a model for (a cross-dataset run's source folds), or the one ``--fold`` names
    (``3`` means ``fold-3``)."""
    folds = run.model_folds()
    if fold is None:
        return folds
    if fold not in folds and f"fold-{fold}" in folds:
        fold = f"fold-{fold}"
    if fold not in folds:
        raise FerBenchError(f"--fold {fold}: {run.path.name} has {'fold' if len(folds) == 1 else 'folds'} "
                            f"{', '.join(folds)}")
    return [fold]


def run_dataset(run, data_dir: str | None = None, log: Callable[[str], None] = lambda line: None):
    """The dataset ``run`` was made on, loaded with the run's own data options from ``data_dir`` (default: where
    the run read it); a :class:`FerBenchError` naming the run folder when its fingerprint is not the recorded one."""
    from .datasets import load_dataset
    from .options import BY_NAME, RunConfig, data_options

    config = RunConfig(**{k: v for k, v in run.config.items() if k in BY_NAME})
    where = data_dir if data_dir is not None else config.data_dir
    log(f"loading {config.dataset} from {where or 'its default folder'} to check the exports on "
        f"{run.path.name}'s test images")
    dataset = load_dataset(config.dataset, where, **data_options(config))
    recorded = run.manifest["dataset"]
    if dataset.fingerprint != recorded["fingerprint"]:
        differs = [f"{what} {recorded.get(key)!r} there, {now!r} here" for what, key, now in (
            ("images", "n_images", len(dataset)), ("classes", "class_names", list(dataset.class_names)),
            ("layout", "layout", dataset.layout)) if recorded.get(key) is not None and recorded.get(key) != now]
        raise FerBenchError(f"{run.path}: the {config.dataset} data at {dataset.root or where or '(default)'} is "
                            f"not the data this run was made on (fingerprint {dataset.fingerprint[:12]}, the run "
                            f"recorded {recorded['fingerprint'][:12]}" + (f"; {', '.join(differs)}" if differs else
                            "; same size and classes, different images or labels") + "); point --data-dir at the "
                            "run's data")
    return dataset


def _test_images(run, fold: str, dataset) -> tuple[np.ndarray, np.ndarray]:
    """The fold's test images (predictions.csv rows of the fold's own test part; a cross-dataset run's models are
    checked on the source's own test images, source_predictions.csv) and their sample ids."""
    from .protocols import PROTOCOLS
    from .record import PREDICTIONS, SOURCE_PREDICTIONS

    table, column, name = run.predictions, run.part_column, PREDICTIONS
    if run.cross_dataset:
        table, name = run.source_predictions, SOURCE_PREDICTIONS
        column = PROTOCOLS[run.metrics["source"]["protocol"]].column
    rows = table[table[column] == fold]
    position = {sample_id: i for i, sample_id in enumerate(dataset.sample_ids)}
    missing = [s for s in rows.sample_id if s not in position]
    if missing or rows.empty:
        raise FerBenchError(f"{run.path / name}: " + (
            f"sample {missing[0]} of {fold} is not in the loaded data" if missing else f"no test rows of {fold}"))
    idx = np.array([position[s] for s in rows.sample_id])
    return dataset.images[idx], np.asarray(rows.sample_id)


def _export_fold(run, fold: str, fmt: str, dataset, out: Path, log) -> tuple[Path, Path, Exported]:
    """Convert and check one fold's model under temporary names; (export, sidecar, what was exported)."""
    from .files import temporary_name
    from .saved_models import load_fold_models, model_stem

    stem = model_stem(run.kind, fold, len(run.model_folds()))
    (model,) = load_fold_models(run, fold)  # every model file's SHA-256 checked against the manifest
    images, _ = _test_images(run, fold, dataset)
    final = out / (f"{stem}.{fmt}" if fmt != "savedmodel" else f"{stem}_savedmodel")
    tmp = temporary_name(final, "partial")
    tmp_sidecar = temporary_name(final.with_name(final.name + ".json"), "partial")
    try:
        log(f"{fold}: exporting {stem} as {fmt}, checked on {len(images)} test images")
        started = time.perf_counter()
        if run.kind == "deep":
            route, tried, parity, details = export_keras(model.model, fmt, images, tmp)
            if parity is None:
                raise WorkFailedError(f"{final}: no route converts {run.path.name} {fold} to {fmt} (" + "; ".join(
                    f"{t['route']}: {t['error']}" for t in tried) + "); nothing was written")
            source = [f"{stem}.keras"]
            notes = []
        else:
            route, tried, parity, details = _export_svm(model, images, tmp, run.config.get("features"))
            source = [f"{stem}.npz", f"{stem}.json"]
            notes = [f"the input is the {details['input']['shape'][1]}-value feature vector "
                     f"({run.config.get('features')}) as fer-bench computes it, not the image; the feature "
                     f"extractors are not in the export"]
        seconds = time.perf_counter() - started
        if not parity.passed:
            raise WorkFailedError(f"{final}: the {fmt} export of {run.path.name} {fold} does not reproduce the "
                                  f"run's model ({parity.describe()}); nothing was written")
        size = _size(tmp)
        exported = Exported(fold, fmt, final, final.with_name(final.name + ".json"), route, parity, size, seconds,
                            notes)
        sidecar = _sidecar(run, exported, tmp, tried, details, source, dataset.fingerprint)
        tmp_sidecar.write_text(json.dumps(sidecar, indent=2) + "\n")
        return tmp, tmp_sidecar, exported
    except BaseException:  # a failed conversion or check, or Ctrl-C: nothing of this fold stays behind
        _remove(tmp)
        _remove(tmp_sidecar)
        raise


def _sidecar(run, exported: Exported, path: Path, tried: list, details: dict, source: list[str],
             fingerprint: str) -> dict:
    """What the JSON beside an export records: the run and fold it came from, the source model files' SHA-256s,
    the route, input and output, the check's figures and the converters' versions."""
    from .saved_models import file_sha256

    parity = exported.parity
    return {
        "fer_bench": _version("fer-bench"), "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run.run_id, "run_dir": str(run.path.resolve()), "model": run.metrics["model"],
        "features": run.metrics["features"], "dataset": run.metrics["dataset"], "kind": run.kind,
        "fold": exported.fold, "source_files": {name: run.manifest["model_files"][name] for name in source},
        "format": exported.format, "file": exported.path.name, "size_bytes": exported.size_bytes,
        "sha256": file_sha256(path) if path.is_file() else None, "route": exported.route, "routes_tried": tried,
        **details, "class_names": run.model_class_names(),
        "check": {"reference": "the run's own model file, loaded as saved", "fold": exported.fold,
                  "test_images": parity.images, "data_fingerprint": fingerprint, "tolerance": parity.tolerance,
                  "max_abs_diff": parity.max_abs_diff, "argmax_agree": parity.argmax_agree, "passed": parity.passed},
        "seconds": round(exported.seconds, 3), "notes": exported.notes,
        "versions": _versions(run.kind, exported.format),
    }


def _commit(tmp: Path, tmp_sidecar: Path, exported: Exported) -> Exported:
    """Move a checked export and its sidecar to their names (an older export of the same name is replaced)."""
    from .files import temporary_name

    if tmp.is_dir() and exported.path.exists():  # a folder cannot replace a folder atomically: move the old aside
        old = temporary_name(exported.path, "old")
        os.replace(exported.path, old)
        _remove(old)
    os.replace(tmp, exported.path)
    os.replace(tmp_sidecar, exported.sidecar)
    return exported


# ------------------------------------------------------------------------------------------------ CNNs

def _pixels(images: np.ndarray) -> np.ndarray:
    """uint8 faces as the network reads them: N x H x W x 1 float32 in [0, 1] (as ``training.input_pipeline``)."""
    return (np.asarray(images, dtype=np.uint8)[..., None].astype(np.float32) / np.float32(255.0))


def export_keras(model, fmt: str, images: np.ndarray, target: Path) -> tuple[str, list, Parity | None, dict]:
    """Write the Keras ``model`` as ``fmt`` to ``target``, trying each route of the format until one converts and
    reproduces the model's probabilities on ``images`` (uint8 faces) within :data:`CNN_TOLERANCE`
    (:data:`MIXED_PRECISION_TOLERANCE` for a mixed-precision model, which TFLite cannot take: FerBenchError).

    Returns (route, every route tried with why it failed, the :class:`Parity` of the last route checked, details
    for the sidecar); ``target`` exists only when that parity passed. Parity is None when no route converted.
    """
    from .training import predict_proba

    half = computes_in_float16(model)
    if half and fmt == "tflite":
        raise FerBenchError("--format tflite: not supported for a CNN trained in mixed precision (float16 layers, "
                            "as fer-bench trains on a GPU): TFLite's converter cannot translate its float16 "
                            "convolutions; use --format onnx or savedmodel")
    tolerance = MIXED_PRECISION_TOLERANCE if half else CNN_TOLERANCE
    with _held_stderr():  # Keras' retracing notices for each freshly loaded model
        reference = predict_proba(model, images)
    x = _pixels(images)
    details = {"input": {"shape": [None, *model.input_shape[1:]], "dtype": "float32",
                         "meaning": "grayscale faces, uint8 pixel values / 255"},
               "output": {"shape": [None, int(model.output_shape[-1])], "meaning": OUTPUTS["deep"]}}
    with tempfile.TemporaryDirectory(prefix="fer-bench-export-") as work:
        saved = Path(work) / "savedmodel"
        routes = {
            "onnx": [("tf2onnx.convert.from_keras", lambda: _onnx_from_keras(model, target)),
                     ("keras export(tf_saved_model) + tf2onnx.convert.from_function",
                      lambda: _onnx_from_saved_model(model, saved, target))],
            "tflite": [("keras export(tf_saved_model) + tf.lite.TFLiteConverter.from_saved_model",
                        lambda: _tflite_from_saved_model(model, saved, target))],
            "savedmodel": [("keras export(format='tf_saved_model')", lambda: _saved_model(model, target))],
        }[fmt]
        tried, parity = [], None
        for route, convert in routes:
            _remove(target)
            try:
                with _held_stderr():
                    extra = convert() or {}
                    outputs = _run_exported(fmt, target, x)
            except Exception as exc:  # a converter's own error: try the next route, say why this one failed
                tried.append({"route": route, "error": exception_text(exc, 200)})
                continue
            parity = _compare(outputs, reference, tolerance)
            tried.append({"route": route, "error": None if parity.passed else f"check failed: {parity.describe()}"})
            if parity.passed:
                for end in ("input", "output"):  # the ONNX graph's own names, where the route gives them
                    if f"{end}_name" in extra:
                        details[end] = {"name": extra.pop(f"{end}_name"), **details[end]}
                return route, tried, parity, {**details, **extra}
        _remove(target)
    return route, tried, parity, details  # no route passed: the caller says why (parity None: none converted)


def computes_in_float16(model) -> bool:
    """Whether any layer of the Keras ``model`` computes in float16 (a mixed-precision model)."""
    layers = [model, *model._flatten_layers(include_self=False, recursive=True)]
    return any(getattr(getattr(layer, "dtype_policy", None), "compute_dtype", None) == "float16" for layer in layers)


def _erfc(ctx, node, name, args):
    """tf2onnx handler for TensorFlow's Erfc (Keras' exact GELU), which ONNX lacks: erfc(x) = 1 + erf(-x)."""
    from tf2onnx import utils

    ctx.insert_new_node_on_input(node, "Neg", node.input[0])
    node.type = "Erf"
    one = ctx.make_const(utils.make_name("erfc_one"),
                         np.array(1, dtype=utils.map_onnx_to_numpy_type(ctx.get_dtype(node.output[0]))))
    ctx.insert_new_node_on_output("Add", node.output[0], inputs=[node.output[0], one.output[0]])
    return node


def _input_signature(model):
    import tensorflow as tf

    return (tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images"),)


def _onnx_from_keras(model, target: Path) -> dict:
    import tf2onnx

    proto, _ = tf2onnx.convert.from_keras(model, input_signature=_input_signature(model), opset=ONNX_OPSET,
                                          custom_op_handlers={"Erfc": (_erfc, [])})
    return _write_onnx(proto, target)


def _write_onnx(proto, target: Path) -> dict:
    target.write_bytes(proto.SerializeToString())
    return {"opset": ONNX_OPSET, "input_name": proto.graph.input[0].name, "output_name": proto.graph.output[0].name}


def _keras_saved_model(model, folder: Path) -> Path:
    """The model as a TensorFlow SavedModel in ``folder`` (made once per fold; both fallback routes read it)."""
    if not (folder / "saved_model.pb").is_file():
        model.export(str(folder), format="tf_saved_model", verbose=False)
    return folder


def _onnx_from_saved_model(model, folder: Path, target: Path) -> dict:
    import tensorflow as tf
    import tf2onnx

    loaded = tf.saved_model.load(str(_keras_saved_model(model, folder)))
    proto, _ = tf2onnx.convert.from_function(tf.function(lambda images: loaded.serve(images)),
                                             input_signature=_input_signature(model), opset=ONNX_OPSET,
                                             custom_op_handlers={"Erfc": (_erfc, [])})
    return _write_onnx(proto, target)


def _tflite_from_saved_model(model, folder: Path, target: Path) -> dict:
    import tensorflow as tf

    target.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(_keras_saved_model(model, folder))).convert())
    return {}


def _saved_model(model, target: Path) -> dict:
    model.export(str(target), format="tf_saved_model", verbose=False)
    return {"signature": "serve (and serving_default)"}


def _run_exported(fmt: str, path: Path, x: np.ndarray) -> np.ndarray:
    """The written export's outputs for ``x``, read back from disk by the runtime a user would use."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return _batched(lambda b: session.run(None, {name: b})[0], x)
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]

        def run(batch):
            interpreter.resize_tensor_input(inp["index"], batch.shape)
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], batch)
            interpreter.invoke()
            return interpreter.get_tensor(outp["index"]).copy()

        return _batched(run, x)
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return _batched(lambda b: loaded.serve(tf.constant(b)).numpy(), x)


def _batched(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(run(x[i:i + CHECK_BATCH]), dtype=np.float64)
                           for i in range(0, len(x), CHECK_BATCH)])


def _compare(outputs: np.ndarray, reference: np.ndarray, tolerance: float) -> Parity:
    if outputs.shape != reference.shape:
        return Parity(len(reference), float("inf"), tolerance, 0)
    return Parity(len(reference), float(np.abs(outputs - reference).max()) if outputs.size else 0.0, tolerance,
                  int((outputs.argmax(axis=1) == reference.argmax(axis=1)).sum()))


# ------------------------------------------------------------------------------------------------ SVMs

def svm_pipeline_to_onnx(pipeline, X: np.ndarray):
    """A fitted SVM pipeline (scaler -> PCA or passthrough -> optional UnitVariance -> SVC) as an ONNX model on
    feature vectors (input ``features``, N x D float32), and its :class:`Parity` on ``X`` (test feature vectors).

    skl2onnx converts StandardScaler, PCA and a stock ``sklearn.svm.SVC``; ``"passthrough"`` steps are left out
    and ``UnitVariance`` (no skl2onnx converter) becomes the equivalent ``StandardScaler(with_mean=False)`` whose
    ``scale_`` is the learned scalar. The check: the ONNX labels equal ``pipeline.predict(X)`` on every row and
    the ONNX ``probabilities`` output (skl2onnx's name; for an SVC without probability estimates it holds the
    one-vs-rest decision values, columns in ``classes_`` order; with two classes, column 0 is scikit-learn's one
    decision value) is within :data:`SVM_TOLERANCE` of ``pipeline.decision_function(X)``. A pipeline with
    another step (svm-chi2's AdditiveChi2Sampler, a oneDAL SVC) is a :class:`FerBenchError` saying it cannot be
    exported.
    """
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X = np.asarray(X)
    stock = exportable_svm_pipeline(pipeline, X)
    with _quiet_warnings():  # skl2onnx reads SVC.probA_/probB_, deprecated in scikit-learn 1.9
        onx = convert_sklearn(stock, initial_types=[("features", FloatTensorType([None, X.shape[1]]))],
                              target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3}, options={"zipmap": False})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, scores = session.run(["label", "probabilities"], {"features": X.astype(np.float32)})
    expected_labels = np.asarray(pipeline.predict(X))
    reference = np.asarray(pipeline.decision_function(X), dtype=np.float64)
    if reference.ndim == 1:  # two classes: scikit-learn gives one value, positive for classes_[1]; skl2onnx
        scores = np.asarray(scores)[:, 0]  # writes that value in column 0 and its negation in column 1
    diff = float(np.abs(np.asarray(scores, dtype=np.float64) - reference).max()) if len(X) else 0.0
    same = int((np.asarray(labels) == expected_labels).sum())
    return onx, Parity(len(X), diff, SVM_TOLERANCE, same, labels_must_agree=True)


def exportable_svm_pipeline(pipeline, X: np.ndarray):
    """The stock scikit-learn pipeline skl2onnx converts, equivalent to ``pipeline`` (see
    :func:`svm_pipeline_to_onnx`); ``X`` gives the width a UnitVariance step sees."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from models._svm import UnitVariance

    steps, seen = [], np.asarray(X[:1])
    for name, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        if type(step) is UnitVariance:  # a scalar divisor: the same as a scaler with that scale on every column
            width = Pipeline(steps).transform(seen).shape[1] if steps else seen.shape[1]
            scaler = StandardScaler(with_mean=False)
            scaler.scale_ = np.full(width, step.scale_, dtype=np.float64)
            scaler.var_, scaler.mean_, scaler.n_features_in_, scaler.n_samples_seen_ = scaler.scale_ ** 2, None, \
                width, 1
            step = scaler
        elif type(step) not in (StandardScaler, PCA, SVC):
            what = type(step).__name__
            why = ("svm-chi2's additive chi-squared feature map has no skl2onnx converter" if what ==
                   "AdditiveChi2Sampler" else f"skl2onnx cannot convert its {name!r} step ({what})")
            raise FerBenchError(f"ONNX export is not supported for this SVM: {why}")
        steps.append((name, step))
    if not steps or type(steps[-1][1]) is not SVC:
        raise FerBenchError("ONNX export is not supported for this model: its pipeline does not end in an SVC")
    return Pipeline(steps)


def _export_svm(model, images: np.ndarray, target: Path, features: str | None) -> tuple[str, list, Parity, dict]:
    """Write a fold's SVM classifier (on features) as ONNX to ``target``, checked on the test images' features."""
    X = model.features(images)
    onx, parity = svm_pipeline_to_onnx(model.pipeline, X)
    target.write_bytes(onx.SerializeToString())
    route = "skl2onnx.convert_sklearn (classifier on feature vectors)"
    details = {"opset": ONNX_OPSET,
               "input": {"name": "features", "shape": [None, int(X.shape[1])], "dtype": "float32",
                         "meaning": f"the {features} feature vector fer-bench computes from a 48x48 face"},
               "output": {"names": ["label", "probabilities"], "meaning": OUTPUTS["classical"],
                          "classes": [int(c) for c in model.pipeline.classes_]}}
    return route, [{"route": route, "error": None if parity.passed else parity.describe()}], parity, details


# ------------------------------------------------------------------------------------------------ helpers

@contextlib.contextmanager
def _held_stderr():
    """Hold file descriptor 2 while a converter runs: TensorFlow's and tf2onnx's conversion notices are noise
    beside the check's figures (a converter that fails says why in its exception, which is recorded)."""
    import logging

    from .tf_setup import held_stderr

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow", "absl")]
    levels = [lg.level for lg in loggers]
    with held_stderr():
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


@contextlib.contextmanager
def _quiet_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _remove(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _versions(kind: str, fmt: str) -> dict:
    """The versions of what wrote and checked an export (so it can be traced and reproduced)."""
    names = {"deep": ["tensorflow", "keras"] + {"onnx": ["tf2onnx", "onnx", "onnxruntime"],
                                                "tflite": ["ai-edge-litert"], "savedmodel": []}[fmt],
             "classical": ["scikit-learn", "skl2onnx", "onnx", "onnxruntime"]}[kind]
    return {name: _version(name) for name in names}


__all__ = ["CNN_TOLERANCE", "Exported", "FORMATS", "MIXED_PRECISION_TOLERANCE", "Parity", "SVM_TOLERANCE",
           "computes_in_float16", "export_keras", "export_run", "exportable_svm_pipeline", "run_dataset",
           "svm_pipeline_to_onnx"]
