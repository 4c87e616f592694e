"""A deep model's exports (``fer-bench export`` of a CNN run): the whole network, uint8 faces scaled to [0, 1]
(N x 48 x 48 x 1 float32) in, softmax probabilities out.

- ONNX: tf2onnx, first straight from the Keras model (``tf2onnx.convert.from_keras``); where that route fails
  (tf2onnx's Keras 3 support has known gaps) or does not reproduce the model, from the model exported as a
  SavedModel (its ``serve`` function through ``tf2onnx.convert.from_function``). The route that passed is
  recorded. GELU's ``Erfc``, which tf2onnx cannot convert, is written as ``1 + Erf(-x)``.
- TFLite: ``tf.lite.TFLiteConverter`` from the SavedModel, float32, no optimisations; checked with LiteRT
  (``ai_edge_litert``; TensorFlow's own ``tf.lite.Interpreter`` is deprecated).
- SavedModel: Keras 3's ``model.export(..., format="tf_saved_model")``, its ``serve`` function checked.

TensorFlow, tf2onnx and the runtimes are imported inside the functions that use them: they take seconds to import
and only an export needs them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import FerBenchError, exception_text
from ..exported import ONNX_OPSET, Parity, compare, quiet_converters, remove_path, run_exported

#: Largest difference in a class probability between an exported CNN and the Keras model (float32 throughout;
#: measured differences are about 1e-7).
CNN_TOLERANCE = 1e-4
#: The same for a model trained in mixed precision (on a GPU: float16 layers, float32 softmax): float16 rounds at
#: about 5e-4 and TensorFlow and onnxruntime round in different places (measured 2e-3 and 3e-3 on two briefly
#: trained mini-Xceptions, 180 images each, every predicted class the same).
MIXED_PRECISION_TOLERANCE = 1e-2
#: The class-score output, as the sidecar describes it.
OUTPUT = "softmax probabilities, one per class (class_names order)"
#: The distributions whose versions a sidecar records, per format.
VERSIONS = {"onnx": ["tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"],
            "tflite": ["tensorflow", "keras", "ai-edge-litert"], "savedmodel": ["tensorflow", "keras"]}


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
    from ..training import predict_proba  # lazy: benchmark.training imports TensorFlow


    half = computes_in_float16(model)
    if half and fmt == "tflite":
        raise FerBenchError("--format tflite: not supported for a CNN trained in mixed precision (float16 layers, "
                            "as fer-bench trains on a GPU): TFLite's converter cannot translate its float16 "
                            "convolutions; use --format onnx or savedmodel")
    tolerance = MIXED_PRECISION_TOLERANCE if half else CNN_TOLERANCE
    with quiet_converters():  # Keras' retracing notices for each freshly loaded model
        reference = predict_proba(model, images)
    x = _pixels(images)
    details = {"input": {"shape": [None, *model.input_shape[1:]], "dtype": "float32",
                         "meaning": "grayscale faces, uint8 pixel values / 255"},
               "output": {"shape": [None, int(model.output_shape[-1])], "meaning": OUTPUT}}
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
            remove_path(target)
            try:
                with quiet_converters():
                    extra = convert() or {}
                    outputs = run_exported(fmt, target, x)
            except Exception as exc:  # a converter's own error: try the next route, say why this one failed
                tried.append({"route": route, "error": exception_text(exc, 200)})
                continue
            parity = compare(outputs, reference, tolerance)
            tried.append({"route": route, "error": None if parity.passed else f"check failed: {parity.describe()}"})
            if parity.passed:
                for end in ("input", "output"):  # the ONNX graph's own names, where the route gives them
                    if f"{end}_name" in extra:
                        details[end] = {"name": extra.pop(f"{end}_name"), **details[end]}
                return route, tried, parity, {**details, **extra}
        remove_path(target)
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
