"""``fer-bench benchmark``: measured throughput of each pipeline stage on this machine, printed as figures.

Performance claims live here, not in timed unit tests. Everything runs on synthetic images (nothing to
download), so the figures say how fast the stages are, not how accurate; where a rate scales linearly
(features, CNN epochs) it is projected to FER2013's sizes.
"""

from __future__ import annotations

import time

import numpy as np

from features import FEATURES
from models import build_penalised, get_model, onedal_available

from . import backends
from .datasets import make_synthetic
from .recipe import PLATEAU_KEYS

FER2013_TRAIN, FER2013_IMAGES = 28_709, 35_887


def _timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def run_benchmark(*, n_images: int, svm_samples: int, cnn: str | None, cnn_steps: int, seed: int = 0,
                  classical: bool = True) -> list[tuple[str, str, str]]:
    """(stage, measured figure, what it means at FER2013 scale) rows; ``classical=False`` times the CNN alone (a
    GPU node without dlib, say)."""
    per_subject = max(1, int(np.ceil(n_images / (7 * 20))))
    data, seconds = _timed(lambda: make_synthetic(n_subjects=20, images_per_class=per_subject, seed=seed))
    rows = [("synthetic dataset", f"{len(data)} images in {seconds:.2f} s", "")]
    if classical:
        rows += _classical_rows(data, n_images, svm_samples, seed)
    if cnn:
        rows += cnn_rows(cnn, data, cnn_steps, seed)
    return rows


def cnn_rows(name: str, data, steps: int, seed: int) -> list[tuple[str, str, str]]:
    """A CNN's training speed in fer-bench's loop, then that loop without augmentation beside a plain
    ``model.fit`` of the same model, batch and images, on the backend and device this process trains on."""
    from .training import Part  # lazy: imports Keras and its backend (CNN timing only)

    spec = get_model(name)
    recipe = _recipe(spec)
    n = min(len(data), steps * recipe["batch_size"])  # the timed part: ``steps`` of the recipe's batches
    part = Part(data.images[:n], data.labels[:n], data.sample_ids[:n])
    return [_cnn_row(name, spec, recipe, part, seed), _plain_fit_row(name, spec, recipe, part, seed)]


def _classical_rows(data, n_images, svm_samples, seed) -> list[tuple[str, str, str]]:
    images, rows = data.images[:n_images], []
    extracted = {}
    for name, (factory, _) in FEATURES.items():  # every registered extractor; learned ones fitted first
        extractor = factory()
        fitted, fit_seconds = _timed(lambda: extractor.fit(images))
        X, seconds = _timed(lambda: fitted.transform(images))
        extracted[name] = X
        rate = len(images) / seconds
        learned = f"; vocabulary fitted in {fit_seconds:.1f} s" if extractor.learns_from_training else ""
        rows.append((f"features: {name} (1 core)", f"{rate:,.0f} images/s, {X.shape[1]} dims{learned}",
                     f"{FER2013_IMAGES / rate / 60:.1f} min for all {FER2013_IMAGES:,} FER2013 images on 1 core"))
    X = np.hstack([extracted["hog"], extracted["landmarks"]])
    for backend in ("onedal", "libsvm") if onedal_available() else ("libsvm",):
        rows.append(_svm_row(X, data.labels[:n_images], svm_samples, seed, backend))
    return rows


def _svm_row(X, y, n, seed, backend):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), size=min(n, len(y)), replace=False)
    model = get_model("svm-rbf").build(seed=seed, pca=None, backend=backend).set_params(svm__C=10.0,
                                                                                         svm__gamma=1e-3)
    _, seconds = _timed(lambda: model.fit(X[idx], y[idx]))
    _, predict_seconds = _timed(lambda: model.predict(X[idx]))
    n_sv = int(model[-1].n_support_.sum())
    # not extrapolated: an SVM's cost depends on how many support vectors the data needs, and synthetic faces
    # need far fewer than FER2013; compare the backends' rates instead (measured on FER2013's 28,709 x 200 PCA
    # features: libsvm 133 s, oneDAL 10.5 s per fit on two threads, before oneDAL fits got one)
    threads = " (1 thread)" if backend == "onedal" else ""  # as every oneDAL fit (models/_onedal.py)
    return (f"svm-rbf fit on {backend}{threads}, {len(idx)} x {X.shape[1]} (hog+landmarks)",
            f"fit {seconds:.2f} s ({len(idx) / seconds:,.0f} samples/s), predict {len(idx) / predict_seconds:,.0f} "
            f"samples/s, {n_sv} support vectors", "not extrapolated (cost depends on the data's support vectors)")


def _plain_fit_row(name, spec, recipe, part, seed):
    """fer-bench's training loop without augmentation against a plain ``model.fit`` of the same model, batch,
    optimizer and data (numpy arrays, no callbacks): the price of fer-bench's pipeline. Each over its second epoch
    (the first includes tracing)."""
    from .training import Throughput, fit_network, optimizer_for  # lazy: imports Keras and its backend

    settings = _timed_settings(recipe, augment=False)
    batch, n = settings.batch_size, len(part)
    backends.reseed(seed)
    info = fit_network(_network(spec, recipe), part, part, settings, seed=seed, n_classes=7)
    backends.reseed(seed)
    plain = _network(spec, recipe)
    plain.compile(optimizer=optimizer_for(settings, len(part) // batch), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    speed = Throughput(batch)
    x = (part.images[..., None].astype("float32") / 255.0)[: n - n % 2]  # even batches, as fer-bench trains
    plain.fit(x, part.labels[: len(x)], batch_size=batch, epochs=2, verbose=0, callbacks=[speed], shuffle=True)
    ours, theirs = info["train_images_per_second"] or 0.0, speed.images_per_second() or 0.0
    ratio = f"{ours / theirs:.2f}x" if theirs else "n/a"
    return (f"{name}: fer-bench's loop (no augmentation) vs plain model.fit, batch {batch}",
            f"{ours:,.0f} vs {theirs:,.0f} images/s ({ratio})", "same model, batch and images; second epoch")


#: The dataset whose recipe the CNN timings train with (its batch, optimizer, schedule and L2), and whose size
#: the per-epoch figures extrapolate to.
TIMED_DATASET = "fer2013"


def _recipe(spec) -> dict:
    """``spec``'s training recipe on :data:`TIMED_DATASET` (its validated one, if any): what a run of it trains with."""
    return spec.training_for(TIMED_DATASET)


def _network(spec, recipe: dict):
    """``spec``'s network for FER2013's 7 classes with ``recipe``'s L2 penalty, as a run trains it (a penalty adds a
    term per kernel to every step's loss)."""
    return build_penalised(spec, float(recipe.get("l2", 0.0)), n_classes=7, dataset=TIMED_DATASET)


def _timed_settings(recipe: dict, *, augment: bool = True):
    """Two epochs of a CNN's ``recipe``: its batch, rate, optimizer and schedule (VGG-FER's SGD, not Adam), so the
    figures are those of the steps a FER2013 run of it takes; what the recipe leaves out, TrainSettings' defaults
    (as a run's)."""
    from .training import TrainSettings  # lazy: imports Keras and its backend (CNN timing only)

    declared = {key: recipe[key] for key in ("optimizer", "schedule", *PLATEAU_KEYS) if key in recipe}
    return TrainSettings(2, recipe["batch_size"], recipe["lr"], 5, augment=augment, **declared)


def _cnn_row(name, spec, recipe, part, seed):
    from .training import fit_network  # lazy: imports Keras and its backend (CNN timing only)

    device = backends.configure(seed)
    settings = _timed_settings(recipe)
    batch = settings.batch_size
    model = _network(spec, recipe)
    info, _ = _timed(lambda: fit_network(model, part, part, settings, seed=seed, n_classes=7))
    ips = info["train_images_per_second"] or 0.0
    epoch_min = FER2013_TRAIN / ips / 60 if ips else float("nan")
    fer_epochs = recipe["epochs"]  # its FER2013 default: the validated recipe's, if any
    return (f"{name} training on the {device['device']} ({device['backend']}, batch {batch}, {device['precision']})",
            f"{info['steps_per_second']:.2f} steps/s, {ips:,.0f} images/s",
            f"{epoch_min:.1f} min per FER2013 epoch; {fer_epochs} epochs max = "
            f"{epoch_min * fer_epochs / 60:.1f} h")
