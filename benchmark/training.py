"""Training a CNN on one fold, on any Keras backend: batches, augmentation, optimizer, validation-only selection.

:func:`fit_network` only ever receives the training part and the protocol's validation part (FER2013's
PublicTest, or a subject-grouped split carved from a k-fold training fold); early stopping, learning-rate
reduction and the restored best checkpoint are all driven by that validation part. Test images reach the
network only afterwards, through :func:`predict_proba`.

One code path serves TensorFlow, JAX and PyTorch: augmentation is Keras preprocessing layers inside the model, and
batches come from :class:`ArrayBatches` (a ``keras.utils.PyDataset`` over the numpy images, shuffled by the run's
seed). On TensorFlow, the default, a ``tf.data`` pipeline feeds batches of the same sizes instead: it is faster
there, and TensorFlow runs keep the numbers (and config hashes) they always had.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from . import backends, tf_setup
from .recipe import ROTATION_DEGREES, SHIFT, TEN_CROP_SHARE, ZOOM, plateau_rule
from .errors import FerBenchError

backends.prepare()  # the backend is chosen before Keras is first imported, just below

import keras  # noqa: E402
from keras import layers  # noqa: E402

MONITOR = "val_loss"


@dataclass(frozen=True)
class Part:
    """Images (N x H x W uint8), integer labels and sample ids of one part of a fold."""

    images: np.ndarray
    labels: np.ndarray
    sample_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    patience: int
    min_delta: float = 0.0
    augment: bool = True
    class_weights: bool = False
    optimizer: str = "adam"   # or "sgd": Nesterov momentum 0.9
    schedule: str = "plateau"  # or "cosine" (to 0 over the epochs), "none"
    #: the plateau schedule's rule where a paper declares its own (None: recipe.plateau_rule's default)
    plateau_factor: float | None = None
    plateau_patience: int | None = None

    def plateau(self) -> tuple[float, int]:
        """The plateau schedule's (factor, epochs to wait) for these settings."""
        return plateau_rule(self.patience, {"plateau_factor": self.plateau_factor,
                                            "plateau_patience": self.plateau_patience})


def input_pipeline(part: Part, *, batch_size: int, shuffle: bool, seed: int):
    """Batches of ``part`` scaled to [0, 1], shuffled with the run's seed (training only): a ``tf.data`` pipeline on
    TensorFlow (:func:`tf_pipeline`), an :class:`ArrayBatches` on JAX and PyTorch. Both train on the same images
    per epoch (:func:`trained_per_epoch`) and predict every image in order."""
    if keras.backend.backend() == "tensorflow":
        return tf_pipeline(part, batch_size=batch_size, shuffle=shuffle, seed=seed)
    return ArrayBatches(part, batch_size=batch_size, shuffle=shuffle, seed=seed)


def tf_pipeline(part: Part, *, batch_size: int, shuffle: bool, seed: int):
    """tf.data pipeline: scale to [0, 1], shuffle with the run's seed (training only), batch, prefetch.

    The training pipeline (``shuffle=True``) yields even-sized batches only: TensorFlow 2.21's oneDNN kernels
    corrupt the heap when they train on an odd batch (see :func:`benchmark.tf_setup.quiet_tensorflow`). With an
    even ``batch_size`` every full batch is even, and when the part holds an odd number of images the last image
    of each epoch's shuffled order is left out, so the last batch is even too (an empty remainder is no batch).
    Which image sits out is drawn anew each epoch (the shuffle reshuffles every epoch), so every image trains in
    almost every epoch and no gradient or batch-norm statistic ever sees a padding row. Padding the last batch
    with zero-weighted rows instead would not be neutral: batch normalisation averages over every row of a batch
    whatever its sample weight, and dropping the whole remainder would sit out up to ``batch_size - 1`` images
    per epoch. Validation and prediction (``shuffle=False``) keep every image, at any batch size: forward passes
    are unaffected by the bug.
    """
    import tensorflow as tf  # lazy: only the TensorFlow backend has it (and needs it)

    data = tf.data.Dataset.from_tensor_slices((part.images[..., None], part.labels.astype(np.int32)))
    if shuffle:
        data = data.shuffle(len(part), seed=seed, reshuffle_each_iteration=True).take(trained_per_epoch(len(part)))
    data = data.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y),
                                      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return data.prefetch(tf.data.AUTOTUNE)


class ArrayBatches(keras.utils.PyDataset):
    """Batches of a part straight from its numpy arrays, for every backend: images scaled to [0, 1] with a channel
    axis, integer labels. Training order (``shuffle=True``) is a permutation drawn from a generator seeded with the
    run's seed, anew each epoch, less one image when the part is odd (as :func:`tf_pipeline`); otherwise every
    image in order. One worker, no multiprocessing: the order, and so the numbers, never depend on timing."""

    def __init__(self, part: Part, *, batch_size: int, shuffle: bool, seed: int):
        super().__init__(workers=1, use_multiprocessing=False)
        self.images, self.labels = part.images, part.labels.astype(np.int32)
        self.batch_size, self.shuffle = batch_size, shuffle
        self.generator = np.random.default_rng(seed)
        self.order = self._draw()

    def _draw(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.labels))
        return self.generator.permutation(len(self.labels))[:trained_per_epoch(len(self.labels))]

    def __len__(self) -> int:
        return int(np.ceil(len(self.order) / self.batch_size))

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.images[rows][..., None].astype(np.float32) / np.float32(255.0), self.labels[rows]

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self._draw()


def trained_per_epoch(n: int) -> int:
    """Images the training pipeline yields per epoch out of ``n``: all of them, less one when ``n`` is odd."""
    return n - n % 2


def augmenter(seed: int):
    """Keras preprocessing layers, active only while training: flip, rotation, zoom and shifts."""
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(ROTATION_DEGREES / 360.0, fill_mode="nearest", seed=seed + 1),
        layers.RandomZoom(ZOOM, fill_mode="nearest", seed=seed + 2),
        layers.RandomTranslation(SHIFT, SHIFT, fill_mode="nearest", seed=seed + 3),
    ], name="augmentation")


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """scikit-learn's "balanced" weights, n / (k * count) over the k classes present (0 for an absent class):
    FER2013's rare Disgust class weighs as much in the loss as Happy."""
    present = np.unique(labels)
    weights = np.zeros(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=labels)
    return {int(c): float(w) for c, w in enumerate(weights)}


def fit_network(model, train: Part, val: Part, settings: TrainSettings, *, seed: int, n_classes: int,
                progress=None, label: str = "") -> dict:
    """Train ``model`` in place on ``train``, selecting on ``val`` only; return its history and training facts.

    The weights of the epoch with the lowest validation loss are restored before returning. That loss is Keras's
    (cross-entropy plus the model's L2 penalty) on the plain validation images: test-time augmentation applies to
    the predictions made after training, not to selection.
    """
    if settings.batch_size % 2 and _onednn_trains_here():
        raise tf_setup.odd_batch_error(settings.batch_size)
    inputs = keras.Input(model.input_shape[1:])
    network = keras.Model(inputs, model(augmenter(seed)(inputs) if settings.augment else inputs))
    steps = int(np.ceil(trained_per_epoch(len(train)) / settings.batch_size))
    network.compile(optimizer=optimizer_for(settings, steps), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
    _build_before_tracing(network)
    best = _RestoreBest(MONITOR)
    speed = Throughput(settings.batch_size)
    callbacks = [
        keras.callbacks.EarlyStopping(MONITOR, patience=settings.patience, min_delta=settings.min_delta),
        *([plateau_callback(settings)] if settings.schedule == "plateau" else []),
        keras.callbacks.TerminateOnNaN(), best, speed,
    ]
    if progress is not None and progress.console.is_terminal:
        callbacks.append(_RichProgress(progress, label, settings.epochs, steps))
    elif progress is not None:  # a log file (SLURM, `> run.log`): a plain line per epoch, there at once
        callbacks.append(_EpochLines(progress.console, label, settings.epochs))
    history = network.fit(
        input_pipeline(train, batch_size=settings.batch_size, shuffle=True, seed=seed),
        validation_data=input_pipeline(val, batch_size=settings.batch_size, shuffle=False, seed=seed),
        epochs=settings.epochs, verbose=0, callbacks=callbacks, shuffle=False,  # the pipeline shuffles, seeded
        class_weight=balanced_class_weights(train.labels, n_classes) if settings.class_weights else None,
    )
    if best.weights is None:
        raise FerBenchError(f"{label or 'training'}: the validation loss was never finite (training diverged); "
                            f"no checkpoint to evaluate. Try a lower --lr than {settings.lr}")
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    if "learning_rate" in frame:
        frame = frame.rename(columns={"learning_rate": "lr"})
    return {"history": frame, "best_epoch": best.best_epoch + 1, "epochs_trained": len(frame),
            "train_images_per_second": speed.images_per_second(), "steps_per_second": speed.steps_per_second(),
            "n_train": len(train), "n_val": len(val)}


def _build_before_tracing(network) -> None:
    """Create the optimizer's and the metrics' variables before ``fit`` traces its training step.

    Keras on TensorFlow (without a distribution strategy) creates them inside the first trace, and a
    ``tf.function`` that creates variables is traced twice: for mini-xception that second trace costs about 3 s
    of every fold. Creating them first (as Keras itself does on JAX, PyTorch and under a strategy) gives the same
    zero-initialised variables, so the same numbers. ``_symbolic_build`` is Keras's own method for this; on a Keras
    without it the fit is only slower.
    """
    if keras.backend.backend() != "tensorflow" or not hasattr(network, "_symbolic_build"):
        return
    shape = (1, *network.input_shape[1:])
    network._symbolic_build(data_batch=(np.zeros(shape, np.float32), np.zeros(1, np.int32), None))


def _onednn_trains_here() -> bool:
    """Whether this training runs on TensorFlow's oneDNN CPU kernels (which crash on odd training batches)."""
    if keras.backend.backend() != "tensorflow" or not tf_setup.onednn_may_be_on():
        return False
    import tensorflow as tf  # lazy: TensorFlow backend only

    return not tf.config.list_physical_devices("GPU")


def plateau_callback(settings: TrainSettings):
    """The plateau schedule: the rate times the factor after the settings' epochs without a lower validation
    loss (:meth:`TrainSettings.plateau`)."""
    factor, wait = settings.plateau()
    return keras.callbacks.ReduceLROnPlateau(MONITOR, factor=factor, patience=wait, min_lr=1e-6)


def optimizer_for(settings: TrainSettings, steps_per_epoch: int):
    """Adam, or SGD with Nesterov momentum 0.9; on a cosine schedule the rate decays to 0 over every step of
    ``settings.epochs`` (the plateau schedule is a callback)."""
    lr = settings.lr
    if settings.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(settings.lr, decay_steps=max(1, settings.epochs * steps_per_epoch))
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    return keras.optimizers.Adam(lr)



def tta_views(images: np.ndarray, tta: str) -> list[np.ndarray]:
    """The uint8 images a test-time augmentation scores for each image (their probabilities are averaged):
    ``none`` the image; ``flip`` it and its left-right mirror image; ``ten-crop`` its four corner crops and centre
    crop (:data:`TEN_CROP_SHARE` of each side, resized back to the image's size, bilinear) and their mirror
    images."""
    if tta == "none":
        return [images]
    if tta == "flip":
        return [images, np.ascontiguousarray(images[:, :, ::-1])]
    if tta != "ten-crop":
        raise ValueError(f"unknown test-time augmentation {tta!r}")
    from skimage.transform import resize  # lazy: scikit-image's import takes a second; only ten-crop needs it

    h, w = images.shape[1:3]
    ch, cw = int(round(h * TEN_CROP_SHARE)), int(round(w * TEN_CROP_SHARE))
    corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    views = []
    for top, left in corners:
        crop = images[:, top:top + ch, left:left + cw].astype(np.float64)
        zoomed = resize(crop, (len(images), h, w), order=1, anti_aliasing=False, preserve_range=True)
        zoomed = np.clip(np.rint(zoomed), 0, 255).astype(np.uint8)
        views += [zoomed, np.ascontiguousarray(zoomed[:, :, ::-1])]
    return views


def predict_proba(model, images: np.ndarray, *, batch_size: int = 256, tta: str = "none") -> np.ndarray:
    """Class probabilities for uint8 images, in the pipeline's [0, 1] scaling; with test-time augmentation
    (``tta`` ``flip`` or ``ten-crop``, see :func:`tta_views`) the mean of each image's views' probabilities."""
    def proba(batch: np.ndarray) -> np.ndarray:
        part = Part(batch, np.zeros(len(batch), dtype=np.int32), np.arange(len(batch)))
        return np.asarray(model.predict(input_pipeline(part, batch_size=batch_size, shuffle=False, seed=0),
                                        verbose=0), dtype=np.float64)

    views = tta_views(images, tta)
    return sum(proba(view) for view in views) / len(views)


class _RestoreBest(keras.callbacks.Callback):
    """Keep the weights of the best epoch on the validation monitor and restore them when training ends."""

    def __init__(self, monitor: str):
        super().__init__()
        self.monitor, self.best, self.best_epoch, self.weights = monitor, np.inf, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and np.isfinite(value) and value < self.best:
            self.best, self.best_epoch, self.weights = value, epoch, self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)


class Throughput(keras.callbacks.Callback):
    """Training steps and images per second, over the epochs after the first (which includes tracing).

    Timed from the first training batch to the last of each epoch, so the validation pass is not counted.
    """

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size, self.epochs, self.start, self.end, self.steps = batch_size, [], None, 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.steps = None, 0

    def on_train_batch_begin(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        self.end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self.start is not None:
            self.epochs.append((self.steps, self.end - self.start))

    def _timed(self):
        return self.epochs[1:] or self.epochs

    def steps_per_second(self) -> float | None:
        steps, seconds = (sum(v) for v in zip(*self._timed())) if self.epochs else (0, 0.0)
        return round(steps / seconds, 3) if seconds else None

    def images_per_second(self) -> float | None:
        rate = self.steps_per_second()
        return None if rate is None else round(rate * self.batch_size, 1)


class _EpochLines(keras.callbacks.Callback):
    """One plain line per epoch, flushed at once, where the output is not a terminal (a log file shows progress
    while the run goes on; Rich's bars would only appear when it ends)."""

    def __init__(self, console, label: str, epochs: int):
        super().__init__()
        self.console, self.label, self.epochs, self.t0 = console, label, epochs, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.console.print(epoch_line(self.label, epoch + 1, self.epochs, logs or {}, time.perf_counter() - self.t0,
                                      _learning_rate(self.model, logs or {})),
                           markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()


def epoch_line(label: str, epoch: int, epochs: int, logs: dict, seconds: float, lr: float | None) -> str:
    """``fold-3 epoch 5/40: loss 1.2345, accuracy 0.4567, val_loss 1.3012, val_accuracy 0.4400, 12.3 s, lr 0.001``"""
    figures = [f"{key} {logs[key]:.4f}" for key in ("loss", "accuracy", "val_loss", "val_accuracy") if key in logs]
    return (f"{label + ' ' if label else ''}epoch {epoch}/{epochs}: " + ", ".join(figures)
            + f", {seconds:.1f} s" + (f", lr {lr:.3g}" if lr is not None else ""))


def _learning_rate(model, logs: dict) -> float | None:
    """The learning rate the epoch just ended with (ReduceLROnPlateau logs it; else the optimizer's: under a cosine
    schedule, decayed step by step, its value after the epoch's last step)."""
    if "learning_rate" in logs:
        return float(logs["learning_rate"])
    try:
        return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None


class _RichProgress(keras.callbacks.Callback):
    """Epoch and step bars with the last epoch's loss and accuracy, and the step throughput."""

    def __init__(self, progress, label: str, epochs: int, steps: int):
        super().__init__()
        self.progress, self.label, self.steps = progress, label, steps
        self.epoch_task = progress.add_task(f"{label} epochs", total=epochs)
        self.step_task = progress.add_task(f"{label} steps", total=steps)
        self.t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()
        self.progress.reset(self.step_task, total=self.steps)

    def on_train_batch_end(self, batch, logs=None):
        rate = (batch + 1) / max(time.perf_counter() - self.t0, 1e-9)
        self.progress.update(self.step_task, advance=1,
                             description=f"{self.label} steps ({rate:.1f} steps/s, loss {logs.get('loss', 0):.3f})")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.progress.update(self.epoch_task, advance=1, description=(
            f"{self.label} epochs (acc {logs.get('accuracy', 0):.3f}, val_loss {logs.get('val_loss', 0):.3f}, "
            f"val_acc {logs.get('val_accuracy', 0):.3f})"))

    def on_train_end(self, logs=None):
        self.progress.remove_task(self.step_task)
        self.progress.remove_task(self.epoch_task)
