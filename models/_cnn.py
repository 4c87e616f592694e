"""CNNs trained from pixels, each built as published (each registration cites its paper in ``source``).

Every builder takes the number of classes and the dataset name (for architectures with per-dataset variants)
and returns an uncompiled Keras model on 48 x 48 x 1 inputs scaled to [0, 1]. The output softmax is always
float32, so the models stay numerically sound under mixed precision on a GPU. ``training`` holds each paper's
training defaults as plain data; ``fer-bench run`` options override them.
"""

from __future__ import annotations

import inspect

from benchmark.errors import FerBenchError
from benchmark import backends

from ._registry import register_model

INPUT_SHAPE = (48, 48, 1)
#: Batch-norm moving-average momentum. Keras's default 0.99 needs thousands of steps before inference-mode
#: statistics match training; a CK+ fold gives ~25 steps per epoch, so validation would sit at chance for
#: tens of epochs. 0.9 (PyTorch's default) settles within an epoch and changes no parameter count.
BN_MOMENTUM = 0.9


def _layers():
    backends.prepare()  # before Keras's first import: it keeps the backend it starts with
    import keras  # lazy: Keras imports its backend (TensorFlow, JAX or PyTorch: seconds)

    return keras, keras.layers


def penalise_kernels(model, l2: float) -> int:
    """Add an L2 penalty of ``l2`` (times the sum of squares, added to the loss, as Keras's ``kernel_regularizer``)
    on every convolution and dense kernel of a built ``model`` (depthwise and pointwise ones, and those of nested
    models, included), for architectures whose builder does not place its own (``--l2``; VGG-FER's recipe); biases
    and batch-norm weights stay free. Returns how many kernels it penalised. A saved model does not keep the
    penalty: it only acts while training, and the run's config records it."""
    keras, _ = _layers()
    penalty = keras.regularizers.L2(l2) if l2 else None
    kernels = [getattr(layer, name) for layer in _all_layers(model) for name in KERNELS
               if getattr(layer, name, None) is not None]
    for kernel in kernels:
        kernel.regularizer = penalty
    return len(kernels) if penalty is not None else 0


def places_own_penalty(spec) -> bool:
    """Whether ``spec``'s builder places its paper's L2 penalty itself (an ``l2`` argument: mini-xception's on
    the kernels its paper penalises); otherwise :func:`penalise_kernels` puts it on every kernel."""
    return "l2" in inspect.signature(spec.factory).parameters


def build_penalised(spec, l2: float, **kwargs):
    """``spec``'s network (``spec.build(**kwargs)``) with an L2 penalty of ``l2``: through the builder where the
    architecture places its own, else on every kernel. What a run trains, and what ``fer-bench benchmark`` times."""
    own = places_own_penalty(spec)
    model = spec.build(**kwargs, **({"l2": l2} if own else {}))
    if not own:
        penalise_kernels(model, l2)
    return model


#: The weights :func:`penalise_kernels` penalises, by their Keras attribute names.
KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def _softmax_head(x, n_classes: int, layers):
    x = layers.Dense(n_classes)(x)
    return layers.Activation("softmax", dtype="float32", name="predictions")(x)


@register_model(
    "cnn-patil", kind="deep", display_name="Patil CNN",
    description="Patil's thesis CNN: 4 double-conv blocks 64-512 (3x1 kernels), BN, dropout; dense 512 (+256 on CK+)",
    training={"epochs": 25, "batch_size": 32, "lr": 0.01, "patience": 5, "min_delta": 1e-4},
    source="Patil, MSc thesis, CSUN 2023 (3,931,975 params FER2013 variant, 4,062,535 CK+ variant)",
    variants={"ck+": {"dense": (512, 256)}})
def cnn_patil(*, n_classes: int = 7, dense: tuple[int, ...] = (512,), pretrained: bool = False):
    """The published layer table; 3-tap (3, 1) kernels reproduce its parameter counts exactly."""
    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for filters in (64, 128, 256, 512):
        x = layers.Conv2D(filters, (3, 1), padding="same")(x)
        x = layers.Conv2D(filters, (3, 1), padding="same")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    for units in dense:
        x = layers.Dense(units)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name="cnn_patil")


@register_model(
    "cnn-hpo", kind="deep", display_name="Vulpe-Grigorasi CNN",
    description="Vulpe-Grigorasi & Grigore's random-search CNN: conv 256, 512, 384, 192, 384 (3x3), dense 256",
    training={"epochs": 100, "batch_size": 128, "lr": 1e-3, "patience": 10, "min_delta": 0.0},
    source="Vulpe-Grigorasi & Grigore, ATEE 2021 (5,173,959 params)")
def cnn_hpo(*, n_classes: int = 7, pretrained: bool = False):
    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(256, 3, padding="same", activation="relu")(inputs)
    for filters in (512, 384, 192, 384):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.4)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name="cnn_hpo")


@register_model(
    "cnn-gelu", kind="deep", display_name="Shrivastava CNN",
    description="Shrivastava's 4-layer GELU CNN: conv 128, 256, 512, 512 with pool + dropout 0.4; dense 256, 512",
    training={"epochs": 100, "batch_size": 64, "lr": 1e-3, "patience": 10, "min_delta": 0.0},
    source="Shrivastava (seed paper); no batch-norm, as the paper found it overfits")
def cnn_gelu(*, n_classes: int = 7, pretrained: bool = False):
    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for filters in (128, 256, 512, 512):
        x = layers.Conv2D(filters, 3, padding="same", activation="gelu")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(0.4)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="gelu")(x)
    x = layers.Dense(512, activation="gelu")(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name="cnn_gelu")


@register_model(
    "mini-xception", kind="deep", display_name="mini-Xception",
    description="Arriaga et al.'s mini-Xception: residual depthwise-separable blocks 16-128, global pooling (~58k)",
    training={"epochs": 100, "batch_size": 32, "lr": 1e-3, "patience": 50, "min_delta": 0.0, "l2": 0.01},
    source="Arriaga, Ploger, Valdenegro 2017 (face_classification mini_XCEPTION, l2 0.01)",
    dataset_training={"fer2013": {"schedule": "cosine", "l2": 1e-4, "tta": "ten-crop"}},
    defaults_why="on FER2013, the recipe chosen on the development copy's PublicTest (seed 0, no other split "
                 "seen): cosine decay over the paper's 100 epochs, L2 1e-4 and ten-crop test-time augmentation, "
                 "PublicTest 0.666, against 0.650 with 60 epochs, 0.615 without the ten crops, 0.586 with the "
                 "paper's L2 0.01 as well and 0.665 with L2 1e-5; --recipe paper trains the paper's there too")
def mini_xception(*, n_classes: int = 7, pretrained: bool = False, l2: float = 0.01):
    """Arriaga et al.'s L2 penalty (``l2``) acts where theirs does: the 3x3 and separable convolutions, not the 1x1
    shortcuts or the class convolution."""
    keras, layers = _layers()
    l2 = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False, kernel_regularizer=l2)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
    for filters in (16, 32, 64, 128):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization(momentum=BN_MOMENTUM)(residual)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, depthwise_regularizer=l2,
                                   pointwise_regularizer=l2)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False, depthwise_regularizer=l2,
                                   pointwise_regularizer=l2)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add()([x, residual])
    x = layers.Conv2D(n_classes, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mini_xception")


@register_model(
    "vgg-fer", kind="deep", display_name="VGG-FER",
    description="Khaireddin & Chen's VGG variant: 4 stages of two 3x3 conv + BN + ReLU (64-512), dense 4096 x 2",
    # the authors' code (usef-kh/fer, train.py and data/fer2013.py): SGD with Nesterov momentum 0.9 from 0.01, weight
    # decay 1e-4 (PyTorch's, the gradient's w * 1e-4: Keras's L2 5e-5), the rate x0.75 once 5 epochs have passed
    # without a better validation score (PyTorch lowers it after more than `patience` bad epochs, Keras after
    # `patience`: Keras's 6), 300 epochs with no early stop, batch 64, ten crops at test time
    training={"epochs": 300, "batch_size": 64, "lr": 0.01, "patience": 300, "min_delta": 0.0, "plateau_factor": 0.75,
              "plateau_patience": 6, "l2": 5e-5, "optimizer": "sgd", "schedule": "plateau", "tta": "ten-crop"},
    source="Khaireddin & Chen 2021; recipe from the authors' code",
    defaults_why="the authors' recipe, from their code (usef-kh/fer); plateau_patience 6 is their 5 in PyTorch's "
                 "count. Departures: fer-bench's augmentation (theirs: ten 40x40 crops of each image, random erasing); "
                 "48x48 inputs; the plateau and checkpoint on validation loss (theirs: accuracy); L2 on kernels only; "
                 "dropout 0.5 (theirs: 0.2)")
def vgg_fer(*, n_classes: int = 7, pretrained: bool = False):
    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for filters in (64, 128, 256, 512):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same")(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    for _ in range(2):
        x = layers.Dense(4096, activation="relu")(x)
        x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name="vgg_fer")


#: Backbones see the grayscale face repeated to 3 channels and upsized to this side (Xception needs >= 71).
BACKBONE_INPUT = 96


def _backbone(application: str, n_classes: int, pretrained: bool):
    """A keras.applications backbone with Deshmukh & Yadav's new head (dense 1000 + softmax)."""
    keras, layers = _layers()
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Resizing(BACKBONE_INPUT, BACKBONE_INPUT)(inputs)
    x = layers.Concatenate()([x, x, x])
    x = layers.Rescaling(255.0)(x)  # keras.applications preprocessors expect 0-255 pixels
    constructor = getattr(keras.applications, application)
    module = {"ResNet50": keras.applications.resnet50, "Xception": keras.applications.xception}[application]
    x = module.preprocess_input(x)
    try:
        base = constructor(include_top=False, weights="imagenet" if pretrained else None,
                           input_shape=(BACKBONE_INPUT, BACKBONE_INPUT, 3), pooling="avg")
    except Exception as exc:  # no network, proxy, corrupt cache...
        raise FerBenchError(f"--pretrained: could not load ImageNet weights for {application} "
                            f"({type(exc).__name__}: {str(exc)[:120]}); this needs internet access once, "
                            f"or run without --pretrained to train from scratch") from None
    for layer in base.layers:  # same batch-norm momentum as the other CNNs (see BN_MOMENTUM)
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    x = base(x)
    x = layers.Dense(1000, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(inputs, _softmax_head(x, n_classes, layers), name=application.lower())


_BACKBONE_TRAINING = {"epochs": 60, "batch_size": 64, "lr": 1e-3, "patience": 10, "min_delta": 0.0}


@register_model(
    "resnet50", kind="deep", display_name="ResNet-50",
    description="keras.applications ResNet50 (from scratch, or --pretrained ImageNet) + dense 1000 head",
    training=_BACKBONE_TRAINING, pretrainable=True,
    source="Deshmukh & Yadav (seed paper; their batch 785 is lowered to 64 to fit workstation memory)")
def resnet50(*, n_classes: int = 7, pretrained: bool = False):
    return _backbone("ResNet50", n_classes, pretrained)


@register_model(
    "xception", kind="deep", display_name="Xception",
    description="keras.applications Xception (from scratch, or --pretrained ImageNet) + dense 1000 head",
    training=_BACKBONE_TRAINING, pretrainable=True,
    source="Deshmukh & Yadav (seed paper; their batch 785 is lowered to 64 to fit workstation memory)")
def xception(*, n_classes: int = 7, pretrained: bool = False):
    return _backbone("Xception", n_classes, pretrained)
