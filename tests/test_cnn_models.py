"""The CNN registry: each architecture builds as published, with the parameter counts its source gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import FerBenchError
from models import get_model, list_models
from penalties import l2_penalty, sum_of_squares

#: Published totals for 48 x 48 x 1 input and 7 classes, per (model, dataset); a model whose count does not
#: depend on the dataset is listed for fer2013 only. Every registered CNN needs an entry (its test fails without
#: one). Exact counts where the source gives one; keras.applications backbones (with the dense 1000 head) to the
#: 0.1 M the README quotes.
PUBLISHED_PARAMS = {
    ("cnn-patil", "fer2013"): 3_931_975,  # Patil, FER2013 variant
    ("cnn-patil", "ck+"): 4_062_535,  # Patil, CK+ variant (extra dense 256)
    ("cnn-hpo", "fer2013"): 5_173_959,  # Vulpe-Grigorasi & Grigore
    ("cnn-gelu", "fer2013"): 5_151_495,  # Shrivastava
    ("mini-xception", "fer2013"): 58_423,  # Arriaga et al.'s mini_XCEPTION ("about 60k")
    ("vgg-fer", "fer2013"): 40_380_359,  # Khaireddin & Chen
    ("resnet50", "fer2013"): pytest.approx(25.6e6, abs=0.05e6),  # ResNet50 + dense 1000 head: 25.6 M
    ("xception", "fer2013"): pytest.approx(22.9e6, abs=0.05e6),  # Xception + dense 1000 head: 22.9 M
}
DEEP = [spec.name for spec in list_models() if spec.kind == "deep"]


def test_the_registry_has_cnns_and_the_table_names_only_registered_ones():
    assert DEEP, "no CNN registered"
    stale = sorted({name for name, _ in PUBLISHED_PARAMS} - set(DEEP))
    assert not stale, f"PUBLISHED_PARAMS lists {stale}, which are not registered CNNs"


@pytest.mark.parametrize("name", DEEP)
def test_every_cnn_is_registered_as_deep_with_training_defaults(name):
    spec = get_model(name)
    assert {"epochs", "batch_size", "lr", "patience"} <= set(spec.training)
    assert all(spec.training[k] > 0 for k in ("epochs", "batch_size", "lr", "patience"))
    assert spec.source and spec.description and spec.default_features is None and spec.param_grid == {}


@pytest.mark.parametrize("name", DEEP)
def test_parameter_count_matches_the_publication(name):
    published = {dataset: n for (model, dataset), n in PUBLISHED_PARAMS.items() if model == name}
    if not published:
        pytest.fail(f"{name} is a registered CNN without a published parameter count: add its total for "
                    f"48x48x1 input and 7 classes to PUBLISHED_PARAMS in {Path(__file__).name} (with its source)")
    unlisted = sorted(set(get_model(name).variants) - set(published))
    if unlisted:
        pytest.fail(f"{name} declares a variant for {', '.join(unlisted)} without a published parameter count in "
                    f"PUBLISHED_PARAMS in {Path(__file__).name}")
    for dataset, expected in published.items():
        model = get_model(name).build(n_classes=7, dataset=dataset)
        assert model.count_params() == expected, (name, dataset)
        assert model.input_shape == (None, 48, 48, 1) and model.output_shape == (None, 7)


def test_cnn_patil_uses_three_tap_kernels_and_the_published_dense_layer():
    model = get_model("cnn-patil").build(n_classes=7, dataset="fer2013")
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert {c.kernel_size for c in convs} == {(3, 1)}
    assert convs[0].count_params() == 256 and convs[1].count_params() == 12_352
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense[0].count_params() == 2_359_808


def test_cnn_gelu_has_four_gelu_convs_and_no_batch_norm():
    model = get_model("cnn-gelu").build(n_classes=7)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [128, 256, 512, 512]
    assert all("gelu" in str(c.activation) for c in convs)
    assert not any(layer.__class__.__name__ == "BatchNormalization" for layer in model.layers)
    dropouts = [layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"]
    assert dropouts == [0.4] * 4


def test_vgg_fer_has_eight_convs_and_two_4096_dense_layers():
    model = get_model("vgg-fer").build(n_classes=7)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    dense = [layer.units for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert dense == [4096, 4096, 7]


@pytest.mark.parametrize("name", DEEP)
def test_every_cnn_takes_grayscale_48x48_and_outputs_probabilities(name):
    model = get_model(name).build(n_classes=5)
    out = np.asarray(model(np.random.default_rng(0).random((2, 48, 48, 1), dtype=np.float32)))
    assert out.shape == (2, 5)  # the head follows n_classes (CK+ without contempt, say), not a fixed 7
    assert (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-4)


def test_pretrained_weights_that_cannot_be_fetched_give_a_clear_error(monkeypatch):
    """No network: --pretrained fails with a message that says what to do, not a traceback from keras."""
    import keras

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no route to host")

    monkeypatch.setattr(keras.applications, "ResNet50", offline)
    with pytest.raises(FerBenchError, match="could not load ImageNet weights for ResNet50.*without --pretrained"):
        get_model("resnet50").build(n_classes=7, pretrained=True)


@pytest.mark.parametrize("name", DEEP)
def test_softmax_output_stays_float32_under_mixed_precision(name):
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = get_model(name).build(n_classes=7)
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow  # trains in a subprocess
def test_training_survives_an_odd_sized_last_batch():
    """Regression: with TensorFlow's oneDNN kernels on, training mini-Xception on a batch of odd size (63 images at
    batch 32 left a last batch of 31) corrupted the heap and killed the process (CK+ folds have such sizes). Runs
    with oneDNN forced on, in a subprocess so a crash fails only this test; validation (15 images) and prediction
    (31 and 1) keep their odd batches, which forward passes survive, and every image is predicted once."""
    import os
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from benchmark import backends\n"
        "assert backends.configure(0)['onednn'] == '1'\n"
        "from benchmark.training import Part, TrainSettings, fit_network, predict_proba\n"
        "from models import get_model\n"
        "rng = np.random.default_rng(0)\n"
        "x = rng.integers(0, 255, (63, 48, 48)).astype(np.uint8); y = rng.integers(0, 7, 63)\n"
        "m = get_model('mini-xception').build(n_classes=7)\n"
        "fit_network(m, Part(x, y, np.arange(63)), Part(x[:15], y[:15], np.arange(15)),\n"
        "            TrainSettings(2, 32, 1e-3, 5, augment=False), seed=0, n_classes=7)\n"
        "p = predict_proba(m, x[:31], batch_size=8)\n"
        "assert p.shape == (31, 7) and np.allclose(p[30], predict_proba(m, x[30:31])[0], atol=1e-5)\n"
        "print('trained')\n")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("n", [63, 64, 33])
def test_training_batches_are_even_and_each_epoch_sits_out_at_most_one_image(n):
    """The training pipeline never yields an odd batch (oneDNN's crash), leaves out one image per epoch only when
    the part is odd, a different one in different epochs, and never repeats or pads an image; validation and
    prediction keep every image once, in order."""
    from benchmark.training import Part, input_pipeline, trained_per_epoch

    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 48, 48))  # pixels = image index
    part = Part(np.ascontiguousarray(images), np.zeros(n, int), np.arange(n))
    index = lambda batch: np.rint(batch[:, 0, 0, 0].numpy() * 255).astype(int)  # noqa: E731
    data = input_pipeline(part, batch_size=32, shuffle=True, seed=0)
    left_out = set()
    for _ in range(6):  # epochs
        batches = [index(x) for x, _ in data]
        assert all(len(b) % 2 == 0 and len(b) > 0 for b in batches)
        seen = np.concatenate(batches)
        assert len(seen) == len(set(seen)) == trained_per_epoch(n) == n - n % 2
        left_out |= set(range(n)) - set(seen)
    assert (1 < len(left_out) <= 6) if n % 2 else not left_out
    kept = np.concatenate([index(x) for x, _ in input_pipeline(part, batch_size=32, shuffle=False, seed=0)])
    assert list(kept) == list(range(n))


def test_an_odd_batch_size_is_refused_while_onednn_is_on(monkeypatch):
    from benchmark import tf_setup
    from benchmark.training import Part, TrainSettings, fit_network

    monkeypatch.setattr(tf_setup, "_ONEDNN", "1")
    part = Part(np.zeros((4, 48, 48), np.uint8), np.zeros(4, int), np.arange(4))
    with pytest.raises(FerBenchError, match="--batch-size 33: .*oneDNN.*even batch size"):
        fit_network(get_model("mini-xception").build(n_classes=7), part, part,
                    TrainSettings(1, 33, 1e-3, 1, augment=False), seed=0, n_classes=7)
    monkeypatch.setattr(tf_setup, "_ONEDNN", "0")
    assert not tf_setup.onednn_may_be_on()


def test_every_registration_names_a_known_kind_and_known_datasets():
    """A model's kind must be one of benchmark.kinds.KINDS, and its per-dataset variants must name registered
    datasets (a misspelt "ck+" would silently build the default variant)."""
    from benchmark.datasets import DATASETS
    from benchmark.kinds import KINDS

    for spec in list_models():
        assert spec.kind in KINDS, spec.name
        assert set(spec.variants) <= set(DATASETS), (spec.name, spec.variants)


def test_an_odd_batch_size_is_refused_before_any_data_is_loaded(monkeypatch, tmp_path, capsys):
    """On a machine without a GPU (no nvidia-smi) the refusal comes when the options resolve: exit 2, one line,
    no run folder, the data never read."""
    import shutil

    from cli_helpers import complete_runs, one_error, run_main

    from benchmark import tf_setup

    monkeypatch.setattr(tf_setup, "_ONEDNN", "1")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "nvidia-smi" else "/usr/bin/" + name)
    code, text = run_main(["run", "--dataset", "fer2013", "--data-dir", tmp_path / "not-read", "--model",
                           "mini-xception", "--batch-size", "33", "--reports-dir", tmp_path], capsys)
    one_error(code, text, 2, "--batch-size 33: TensorFlow's oneDNN CPU kernels crash on odd training batches")
    assert not complete_runs(tmp_path)


def test_the_l2_penalty_acts_where_each_architecture_places_it_and_changes_no_parameter_count():
    """mini-xception's L2 acts on its 3x3 and separable convolutions at the coefficient given (Arriaga's 0.01 by
    default, none at 0); an architecture published without one gets it on every convolution and dense kernel."""
    from types import SimpleNamespace

    from benchmark.kinds._keras import build_network

    data = SimpleNamespace(class_names=tuple("abcdefg"), name="fer2013")
    mini = get_model("mini-xception")
    published = build_network(mini, SimpleNamespace(l2=None, pretrained=False), data)
    lighter = build_network(mini, SimpleNamespace(l2=1e-4, pretrained=False), data)
    free = build_network(mini, SimpleNamespace(l2=0.0, pretrained=False), data)
    assert {m.count_params() for m in (published, lighter, free)} == {58_423}
    assert len(published.losses) == len(lighter.losses) == 2 + 4 * 2 * 2 and free.losses == []
    penalised = [w for layer in published.layers for name, w in (
        ("kernel", getattr(layer, "kernel", None)), ("depthwise", getattr(layer, "depthwise_kernel", None)),
        ("pointwise", getattr(layer, "pointwise_kernel", None)))
        if w is not None and w.regularizer is not None]
    assert len(penalised) == 18
    free_convs = [layer for layer in published.layers
                  if type(layer).__name__ == "Conv2D" and layer.kernel.regularizer is None]
    assert [tuple(c.kernel.shape[:2]) for c in free_convs] == [(1, 1)] * 4 + [(3, 3)]  # shortcuts, class conv
    assert l2_penalty(published) == pytest.approx(0.01 * sum_of_squares(penalised), rel=1e-5)

    gelu = get_model("cnn-gelu")
    plain = build_network(gelu, SimpleNamespace(l2=None, pretrained=False), data)
    assert plain.losses == []
    decayed = build_network(gelu, SimpleNamespace(l2=1e-3, pretrained=False), data)
    kernels = [layer.kernel for layer in decayed.layers if hasattr(layer, "kernel")]
    assert len(decayed.losses) == len(kernels) == 4 + 3  # 4 convolutions, 2 dense layers and the class layer
    assert l2_penalty(decayed) == pytest.approx(1e-3 * sum_of_squares(kernels), rel=1e-5)
    assert decayed.count_params() == plain.count_params()


def test_vgg_fer_trains_on_its_authors_recipe():
    """Khaireddin & Chen's code: SGD with Nesterov momentum from 0.01, weight decay 1e-4 (Keras L2 5e-5), the rate
    x0.75 after 5 epochs without improvement, 300 epochs with no early stop, batch 64, ten crops at test time. The
    run is told, records the plateau rule in its metrics, and the callback applies it; other CNNs keep the default
    rule (x0.1 after a quarter of the patience) and record none."""
    from benchmark.experiment import RunConfig
    from dataclasses import replace

    from benchmark.kinds._keras import l2_of, plateau_declared
    from benchmark.resolution import resolve
    from benchmark.training import TrainSettings, plateau_callback

    config = resolve(RunConfig(dataset="fer2013", model="vgg-fer"))
    assert (config.optimizer, config.lr, config.batch_size, config.epochs, config.patience, config.schedule,
            config.tta) == ("sgd", 0.01, 64, 300, 300, "plateau", "ten-crop")
    # VGG-FER's runs recorded a null L2 while it trained without one: its L2 is now written out, so that no new run
    # shares a config hash with an old one while training differently
    assert config.l2 == 5e-5 and l2_of(config, get_model("vgg-fer")) == 5e-5
    assert l2_of(replace(config, l2=None), get_model("vgg-fer")) == 0.0
    old_recipe = resolve(RunConfig(dataset="fer2013", model="vgg-fer", optimizer="adam", lr=1e-3, patience=20,
                                   tta="none", l2=0.0))
    assert old_recipe.l2 == 0.0 and resolve(old_recipe) == old_recipe
    declared = plateau_declared(get_model("vgg-fer"), config)
    assert declared == {"plateau_factor": 0.75, "plateau_patience": 6}  # PyTorch's patience 5, in Keras's count
    callback = plateau_callback(TrainSettings(epochs=300, batch_size=64, lr=0.01, patience=300, **declared))
    assert (callback.factor, callback.patience) == (0.75, 6)
    mini = resolve(RunConfig(dataset="ck+", model="mini-xception"))
    assert plateau_declared(get_model("mini-xception"), mini) == {}
    callback = plateau_callback(TrainSettings(epochs=100, batch_size=32, lr=1e-3, patience=50))
    assert (callback.factor, callback.patience) == (0.1, 12)
    # on another schedule no plateau rule applies, even for VGG-FER
    assert plateau_declared(get_model("vgg-fer"), resolve(RunConfig(dataset="fer2013", model="vgg-fer",
                                                                    schedule="cosine"))) == {}
