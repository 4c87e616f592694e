"""CNNs on every Keras backend: the option and its hash, one backend per process, the backend-neutral batches, and
(where JAX or PyTorch is installed) runs on them: same parameter counts, identical reruns, model files that load
under another backend, predict and export of their runs.

The test process runs Keras on TensorFlow; another backend runs in a subprocess (Keras keeps the backend it was
first imported with).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import backends
from benchmark.errors import FerBenchError
from benchmark.kinds import KINDS
from benchmark.options import RunConfig
from benchmark.resolution import resolve
from benchmark.runs import config_hash
from benchmark.training import ArrayBatches, Part

from cli_helpers import complete_runs, one_error, run_main
from conftest import fer_split_plan

ROOT = Path(__file__).resolve().parents[1]
OTHER_BACKENDS = [name for name in ("jax", "torch") if backends.installed(name)]
#: counted from the variables' shapes: a StatelessScope that never initialises them spares JAX compiling one
#: initialiser per weight shape (20 s here); the process ends right after
COUNT_SCRIPT = ("import json, keras; from models import parameter_counts\n"
                "with keras.StatelessScope(initialize_variables=False): print(json.dumps(parameter_counts()))")


def on_backend(backend: str, code: str, *args: str, cache: Path | None = None, timeout: float = 600) -> str:
    """Run ``code`` in a fresh Python on ``backend``; its stdout (the test fails with its output if it fails).
    With ``cache``, JAX keeps what it compiles there: a second run of the same model reuses the first's
    executables (the numbers are XLA's either way; only the compile time goes)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           # XLA's CPU compiler without LLVM's optimisation passes: the same operations, compiled in a third less
           # time (these tests compare runs made with the same flags, and probabilities within a tolerance)
           "XLA_FLAGS": "--xla_backend_optimization_level=0"}
    if cache is not None:
        env |= {"JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def needs_another_backend():
    if not OTHER_BACKENDS:
        pytest.skip("neither JAX nor PyTorch is installed here (pip install 'fer-bench[jax]'); only TensorFlow's "
                    "runs are tested")


def test_the_backend_option_keeps_tensorflow_runs_hashes_and_makes_another_backend_a_new_experiment(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    import keras  # noqa: F401  (the test process's Keras runs on TensorFlow)

    base = dict(dataset="synthetic", model="mini-xception", epochs=8, folds=5)
    default = resolve(RunConfig(**base))
    assert default.backend == "tensorflow"
    hashes = {name: config_hash(asdict(resolve(RunConfig(**base, backend=name)))) for name in backends.BACKENDS}
    assert config_hash(asdict(default)) == hashes["tensorflow"]
    assert len(set(hashes.values())) == 3
    assert resolve(RunConfig(dataset="synthetic", model="svm-linear")).backend is None
    with pytest.raises(FerBenchError, match="--backend only applies to CNNs"):
        resolve(RunConfig(dataset="synthetic", model="svm-linear", backend="jax"))


def test_an_unknown_backend_is_a_one_line_error(tmp_path, capsys):
    code, text = run_main(["run", "--dataset", "synthetic", "--model", "mini-xception", "--backend", "mxnet",
                           "--reports-dir", tmp_path], capsys)
    one_error(code, text, 2, "--backend must be tensorflow, jax or torch", "'mxnet'")
    assert not complete_runs(tmp_path)


def test_tensorflow_threads_are_pinned_unless_its_runtime_already_started(monkeypatch):
    """Pinned at $FER_BENCH_TF_THREADS (else the cores) before TensorFlow's runtime starts; once it has started
    (a notebook that ran TensorFlow first), its pools stay and the count recorded is theirs (None: TensorFlow's
    default)."""
    from types import SimpleNamespace

    from benchmark import tf_setup

    class Threading:
        def __init__(self, started: bool, current: int = 0):
            self.started, self.current, self.pinned = started, current, []

        def _set(self, n):
            if self.started:
                raise RuntimeError("Intra op parallelism cannot be modified after initialization.")
            self.pinned.append(n)

        set_intra_op_parallelism_threads = set_inter_op_parallelism_threads = _set

        def get_intra_op_parallelism_threads(self):
            return self.current

    monkeypatch.setenv("FER_BENCH_TF_THREADS", "5")
    fresh = Threading(started=False)
    assert tf_setup.pin_threads(SimpleNamespace(config=SimpleNamespace(threading=fresh))) == 5
    assert fresh.pinned == [5, 5]  # intra- and inter-op
    for current, recorded in ((0, None), (3, 3)):
        started = Threading(started=True, current=current)
        assert tf_setup.pin_threads(SimpleNamespace(config=SimpleNamespace(threading=started))) == recorded
        assert started.pinned == []


def test_keras_keeps_one_backend_per_process_and_says_so():
    import keras  # noqa: F401

    with pytest.raises(FerBenchError, match="already runs Keras on tensorflow.*separate fer-bench command"):
        backends.use("jax")
    backends.use("tensorflow")  # the backend it runs on is fine


def test_a_backend_that_is_not_installed_is_named_with_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(backends, "active", lambda: None)
    monkeypatch.setattr(backends, "installed", lambda name: False)
    with pytest.raises(FerBenchError, match=r"--backend torch: torch is not installed here \(pip install "
                                            r"'fer-bench\[torch\]'\)"):
        backends.use("torch")
    # a run refuses it before loading any data: a usage error (exit 2), the data folder never read
    code, text = run_main(["run", "--dataset", "fer2013", "--data-dir", tmp_path / "not-read", "--model",
                           "mini-xception", "--backend", "torch", "--reports-dir", tmp_path], capsys)
    one_error(code, text, 2, "--backend torch: torch is not installed here")
    assert not complete_runs(tmp_path)


def test_array_batches_shuffle_by_seed_train_on_even_batches_and_predict_every_image_in_order():
    images = np.arange(11 * 48 * 48, dtype=np.int64).reshape(11, 48, 48).astype(np.uint8)
    part = Part(images, np.arange(11), np.arange(11))  # labels = positions, to follow the order

    def epochs(seed, n=3):
        batches = ArrayBatches(part, batch_size=4, shuffle=True, seed=seed)
        out = []
        for _ in range(n):
            out.append(np.concatenate([batches[i][1] for i in range(len(batches))]))
            batches.on_epoch_end()
        return out

    first, again, other = epochs(1), epochs(1), epochs(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # the seed fixes the order
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    assert all(len(e) == 10 and len(set(e.tolist())) == 10 for e in first)  # odd part: one image sits out
    assert not np.array_equal(first[0], first[1])  # reshuffled each epoch
    ordered = ArrayBatches(part, batch_size=4, shuffle=False, seed=0)
    x, y = ordered[2]
    assert len(ordered) == 3 and x.shape == (3, 48, 48, 1) and x.dtype == np.float32 and y.tolist() == [8, 9, 10]
    np.testing.assert_allclose(x[..., 0], images[8:] / 255.0, rtol=1e-6)


def test_the_backend_is_part_of_the_platform_a_report_row_ran_on():
    kind = KINDS["deep"]
    jax_gpu = {"training_device": {"device": "GPU", "precision": "mixed_bfloat16", "backend": "jax"}}
    tf_cpu = {"training_device": {"device": "CPU", "precision": "float32", "onednn": "1", "backend": "tensorflow"}}
    assert kind.platform(jax_gpu, {}) == {"device": "GPU", "precision": "mixed_bfloat16", "backend": "jax"}
    assert kind.platform(tf_cpu, {}) == {"device": "CPU (oneDNN)", "precision": "float32", "backend": None}


def test_export_on_another_backend_refuses_in_one_line_naming_what_it_needs(monkeypatch):
    monkeypatch.setattr(backends, "prepare", lambda: "jax")
    with pytest.raises(FerBenchError, match="converting a CNN needs Keras on TensorFlow.*KERAS_BACKEND=tensorflow"):
        KINDS["deep"].export(None, "onnx", None, None, None)


@pytest.mark.slow
@pytest.mark.parametrize("backend", OTHER_BACKENDS or ["jax"])
def test_every_cnn_has_the_same_parameter_count_on_every_backend(backend):
    needs_another_backend()
    if backend not in OTHER_BACKENDS:
        pytest.skip(f"{backend} is not installed here")
    from models import parameter_counts

    here = parameter_counts()
    assert "cnn-patil (ck+)" in here and len(here) == 8  # 7 CNNs, and cnn-patil's CK+ variant
    assert json.loads(on_backend(backend, COUNT_SCRIPT).splitlines()[-1]) == here


RUN_TWICE = """
import sys
import tiny_cnn
from benchmark.cli import main
tiny_cnn.register_for_good()
for reports in sys.argv[1:3]:
    try:
        main(["run", "--dataset", "fer2013", "--data-dir", sys.argv[6], "--model", "tiny-cnn", "--epochs", "2",
              "--batch-size", "16", "--no-augment", "--seed", "5", "--reports-dir", reports])
    except SystemExit as exit:
        assert exit.code == 0, exit.code
# a model file TensorFlow saved, loaded here: the same probabilities
import numpy as np
from benchmark.kinds._keras_files import load_keras
from benchmark.training import predict_proba
images = np.load(sys.argv[4])
np.save(sys.argv[5], predict_proba(load_keras(sys.argv[3]), images))
"""


@pytest.fixture(scope="module")
def other_backend_runs(tmp_path_factory, synthetic, write_fer_csv, tiny_cnn):
    """Two runs of the test CNN with one seed on another backend (a subprocess; a tiny FER2013 CSV of 56 Training,
    21 PublicTest and 21 PrivateTest faces, 2 epochs, no augmentation; the test CNN compiles in a fraction of a
    published one's time, and every published CNN builds on the backend in the parameter-count test), and what
    that backend computes with a mini-xception file TensorFlow saved (separable convolutions and batch
    normalisation across backends)."""
    needs_another_backend()
    from models import get_model
    from benchmark.training import predict_proba

    backend = OTHER_BACKENDS[0]
    root = tmp_path_factory.mktemp(f"on-{backend}")
    csv = write_fer_csv(root / "fer2013.csv", fer_split_plan((("Training", 8), ("PublicTest", 3), ("PrivateTest", 3))))
    model = get_model("mini-xception").build(n_classes=7, dataset="synthetic")
    model.save(root / "tf.keras")
    images = synthetic.images[:32]
    np.save(root / "images.npy", images)
    on_backend(backend, RUN_TWICE, str(root / "a"), str(root / "b"), str(root / "tf.keras"),
               str(root / "images.npy"), str(root / "there.npy"), str(csv), cache=root / "compiled")
    return backend, root, predict_proba(model, images)


@pytest.mark.slow
def test_a_run_on_another_backend_records_it_and_reruns_to_identical_numbers(other_backend_runs):
    backend, root, _ = other_backend_runs
    (a,), (b,) = complete_runs(root / "a"), complete_runs(root / "b")
    assert (a / "predictions.csv").read_bytes() == (b / "predictions.csv").read_bytes()
    assert (a / "history.csv").read_bytes() == (b / "history.csv").read_bytes()
    config, device = (json.loads((a / name).read_text()) for name in ("config.json", "manifest.json"))
    assert config["backend"] == backend
    device = device["training_device"]
    assert device["backend"] == backend and device["backend_version"] and device["device"] == "CPU"
    assert device["precision"] == "float32" and device["deterministic_ops"] is True


@pytest.mark.slow
def test_model_files_load_under_another_backend_with_the_same_probabilities(other_backend_runs):
    from benchmark.datasets import load_dataset
    from benchmark.kinds._keras_files import load_keras
    from benchmark.training import predict_proba

    backend, root, here = other_backend_runs
    np.testing.assert_allclose(np.load(root / "there.npy"), here, atol=1e-5)  # TensorFlow's file, on the backend
    (run,) = complete_runs(root / "a")
    predictions = pd.read_csv(run / "predictions.csv")
    data = load_dataset("fer2013", root / "fer2013.csv")
    position = {sample_id: i for i, sample_id in enumerate(data.sample_ids)}
    images = data.images[[position[s] for s in predictions.sample_id]]
    proba = predict_proba(load_keras(run / "model.keras"), images)  # the backend's file, on TensorFlow
    recorded = predictions[[c for c in predictions.columns if c.startswith("score_")]].to_numpy()
    np.testing.assert_allclose(proba, recorded, atol=1e-5)


@pytest.mark.slow
def test_predict_and_export_take_another_backends_run(other_backend_runs, tmp_path, capsys, astronaut_face):
    from PIL import Image

    _, root, _ = other_backend_runs
    (run,) = complete_runs(root / "a")
    photo = tmp_path / "face.png"
    Image.fromarray(astronaut_face).save(photo)
    code, text = run_main(["predict", run, photo, "--no-detect", "--out", tmp_path / "faces.csv"], capsys)
    assert code == 0, text
    assert len(pd.read_csv(tmp_path / "faces.csv")) == 1
    code, text = run_main(["export", run, "--format", "onnx", "--out", tmp_path / "export"], capsys)
    assert code == 0, text
    assert list((tmp_path / "export").rglob("*.onnx"))
