"""Checking an exported model against the model it came from: the export is run from its file by the runtime a user
would use (onnxruntime, LiteRT, TensorFlow) and its outputs compared with the source model's (:class:`Parity`).

Shared by every model kind's exporter (``benchmark.kinds``) and by ``fer-bench export`` (:mod:`benchmark.export`).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .tf_setup import held_stderr

#: ONNX opset of every export (onnxruntime 1.17+ runs it; skl2onnx's ai.onnx.ml domain at version 3).
ONNX_OPSET = 17
#: Images per inference call in the checks (bounds memory on FER2013's 3,589 test images).
CHECK_BATCH = 256


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


def run_exported(fmt: str, path: Path, x: np.ndarray) -> np.ndarray:
    """The written export's outputs for ``x``, read back from disk by the runtime a user would use."""
    if fmt == "onnx":
        import onnxruntime as ort  # lazy, like every runtime here: only the format being checked is loaded

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return batched(lambda b: session.run(None, {name: b})[0], x)
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

        return batched(run, x)
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))
    return batched(lambda b: loaded.serve(tf.constant(b)).numpy(), x)


def batched(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(run(x[i:i + CHECK_BATCH]), dtype=np.float64)
                           for i in range(0, len(x), CHECK_BATCH)])


def compare(outputs: np.ndarray, reference: np.ndarray, tolerance: float) -> Parity:
    if outputs.shape != reference.shape:
        return Parity(len(reference), float("inf"), tolerance, 0)
    return Parity(len(reference), float(np.abs(outputs - reference).max()) if outputs.size else 0.0, tolerance,
                  int((outputs.argmax(axis=1) == reference.argmax(axis=1)).sum()))


@contextlib.contextmanager
def quiet_converters():
    """Hold file descriptor 2 while a converter runs: TensorFlow's and tf2onnx's conversion notices are noise
    beside the check's figures (a converter that fails says why in its exception, which is recorded)."""
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
def quiet_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def remove_path(path: Path) -> None:
    try:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass
