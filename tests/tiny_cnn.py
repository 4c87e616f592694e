"""A CNN that lives in the tests: one convolution with batch normalisation and dropout, traced in a fraction of a
second, where a published architecture costs seconds per fold on the CPU (mini-xception's training step alone
traces in about 2 s).

Tests of the machinery around training (folds, early stopping, checkpoints, saved models, fine-tuning from a run,
test-time augmentation, cross-dataset ensembles, suites, clusters) use it where the architecture does not matter;
the published CNNs keep their own tests (parameter counts, builds on every backend, exports, the shared CNN run).
Registering it is one model in the registry, like any CNN (the deep kind does the rest).
"""

from __future__ import annotations

import contextlib

import models._registry as model_registry
from models import ModelSpec

#: The test CNN's name, as --model takes it.
MODEL = "tiny-cnn"


def tiny_cnn(*, n_classes: int = 7, pretrained: bool = False):
    """Conv 8 (3x3, stride 2), batch norm, ReLU, global pooling, dropout 0.2, softmax: 167 weights for 7 classes."""
    from models._cnn import BN_MOMENTUM, INPUT_SHAPE, _layers, _softmax_head

    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name="tiny_cnn")


SPEC = ModelSpec(MODEL, "deep", "one convolution, batch norm, dropout (tests)", tiny_cnn,
                 training={"epochs": 2, "batch_size": 16, "lr": 1e-2, "patience": 5, "min_delta": 0.0},
                 source="fer-bench's tests", display_name="tiny test CNN")


def register_tiny_cnn(patch) -> ModelSpec:
    """Register ``tiny-cnn`` for as long as ``patch`` (a pytest ``MonkeyPatch``) holds; returns its spec."""
    patch.setitem(model_registry._MODELS, MODEL, SPEC)
    return SPEC


@contextlib.contextmanager
def registered():
    """``tiny-cnn`` registered inside the ``with`` block (for fixtures wider than one test)."""
    import pytest

    with pytest.MonkeyPatch.context() as patch:
        yield register_tiny_cnn(patch)


def register_for_good() -> None:
    """Register ``tiny-cnn`` in this process for good: what a subprocess started by a test calls before the CLI
    (``python -m tiny_cnn fer-bench-arguments...``), and what a Dask worker runs when started with
    ``--preload tiny_cnn`` (:func:`dask_setup`)."""
    model_registry._MODELS[MODEL] = SPEC


def dask_setup(worker=None) -> None:
    """Dask's preload hook: a worker started with ``--preload tiny_cnn`` knows the test CNN."""
    register_for_good()


if __name__ == "__main__":  # the CLI with the test CNN registered: python -m tiny_cnn run --model tiny-cnn ...
    import sys

    from benchmark.cli import app

    register_for_good()
    sys.exit(app(prog_name="fer-bench"))
