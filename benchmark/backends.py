"""Keras 3's backend for the CNNs: TensorFlow, JAX or PyTorch, one per process, chosen before Keras is imported.

Keras reads ``KERAS_BACKEND`` when it is first imported and keeps that backend for the life of the process, so
the choice is made here, once, before anything imports Keras: :func:`use` for a run's ``--backend``,
:func:`prepare` for code that only loads or builds models (predict, export, ``fer-bench models``), which takes
``$KERAS_BACKEND``, else the first of TensorFlow, JAX and PyTorch that is installed. A machine with only JAX or
PyTorch (a GPU node without TensorFlow's wheels) therefore runs every CNN command.

:func:`configure` seeds every generator, asks for deterministic kernels where the backend has them, picks the
precision (mixed on a GPU, float32 on the CPU) and returns what the manifest records about the device.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys

from . import tf_setup
from .errors import FerBenchError

BACKENDS = ("tensorflow", "jax", "torch")
#: What a user installs for each backend (the README says how to get GPU builds).
INSTALL = {"tensorflow": "pip install tensorflow (fer-bench's default dependencies)",
           "jax": "pip install 'fer-bench[jax]'", "torch": "pip install 'fer-bench[torch]'"}
#: The mixed precision policy on a GPU: TensorFlow's runs have always used float16 (with Keras's loss scaling);
#: JAX and PyTorch use bfloat16, native on Ampere and later and in no need of loss scaling.
GPU_POLICY = {"tensorflow": "mixed_float16", "jax": "mixed_bfloat16", "torch": "mixed_bfloat16"}


def installed(name: str) -> bool:
    """Whether backend ``name``'s package can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-removed install
        return False


def active() -> str | None:
    """The backend Keras runs on in this process, or None before Keras is imported."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    try:
        return keras.backend.backend()
    except AttributeError:  # Keras is half-way through its import
        return os.environ.get("KERAS_BACKEND")


def default_backend() -> str:
    """The backend a CNN command takes when none is given: the one Keras already runs on, ``$KERAS_BACKEND``, else
    the first of TensorFlow, JAX and PyTorch that is installed (TensorFlow where none is, so the error names it)."""
    current = active()
    if current is not None:
        return current
    chosen = os.environ.get("KERAS_BACKEND", "").strip().lower()
    if chosen:
        return chosen
    return next((name for name in BACKENDS if installed(name)), "tensorflow")


def check(name: str) -> str:
    """``name`` if it is a backend; else the one-line error ``--backend`` gives."""
    if name not in BACKENDS:
        raise FerBenchError(f"--backend must be {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]}, got {name!r}"
                            + (" (from $KERAS_BACKEND)" if name == os.environ.get("KERAS_BACKEND") else ""))
    return name


def check_usable(name: str) -> None:
    """Refuse (one line) a backend this process cannot train on: not one, not installed, or other than the backend
    Keras was already imported with. Nothing is imported or set."""
    check(name)
    current = active()
    if current is not None and current != name:
        raise FerBenchError(f"--backend {name}: this process already runs Keras on {current}, and Keras takes one "
                            f"backend per process; run the {name} experiments in a separate fer-bench command")
    if current is None and not installed(name):
        raise FerBenchError(f"--backend {name}: {name} is not installed here ({INSTALL[name]})")


def use(name: str) -> None:
    """Make ``name`` this process's Keras backend (:func:`check_usable` first)."""
    check_usable(name)
    current = active()
    os.environ["KERAS_BACKEND"] = name
    if name == "tensorflow" or (current is None and installed("tensorflow")):
        # on JAX and PyTorch too: Keras's data adapters import TensorFlow where it is installed, and its start-up
        # chatter would reach the console
        tf_setup.quiet_tensorflow()


def prepare() -> str:
    """Choose the backend (:func:`default_backend`) if Keras is not imported yet; returns the one in use. Call it
    before ``import keras``."""
    name = default_backend()
    use(name)
    return name


def configure(seed: int) -> dict:
    """Seed Python, NumPy, Keras and the backend, ask for deterministic kernels, pick device and precision.

    On a GPU the global policy is mixed precision (:data:`GPU_POLICY`; the models keep a float32 softmax); on the
    CPU everything stays float32. Returns what the manifest records about the training device.
    """
    name = prepare()
    import keras  # lazy: the backend is chosen just above, before Keras is first imported

    setup = {"tensorflow": _tensorflow, "jax": _jax, "torch": _torch}[name]
    details = setup()
    reseed(seed)
    gpus = details.pop("gpus")
    policy = GPU_POLICY[name] if gpus else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return {"device": "GPU" if gpus else "CPU", "gpus": gpus, "precision": policy, **details,
            "keras": keras.__version__, "backend": name}


def _tensorflow() -> dict:
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # e.g. retracing notices when each fold builds a fresh model
    threads = tf_setup.pin_threads(tf)
    tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    build = tf.sysconfig.get_build_info() if gpus else {}  # the CUDA and cuDNN TensorFlow was built for
    return {"gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
            "tensorflow": tf.__version__, "deterministic_ops": True, "onednn": tf_setup.onednn_state(),
            "threads": threads, "backend_version": tf.__version__,
            **({"cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")} if gpus else {})}


def _jax() -> dict:
    import jax

    gpus = [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    # XLA's CPU kernels are deterministic; its GPU kernels are where XLA_FLAGS has --xla_gpu_deterministic_ops
    deterministic = not gpus or "--xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
    return {"gpus": gpus, "deterministic_ops": deterministic, "threads": None, "backend_version": jax.__version__}


def _torch() -> dict:
    import torch

    threads = tf_setup.thread_count()
    torch.set_num_threads(threads)
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    # cuBLAS needs this workspace setting for deterministic results; it must be set before CUDA starts
    deterministic = not gpus or os.environ.get("CUBLAS_WORKSPACE_CONFIG") in (":4096:8", ":16:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {"gpus": gpus, "deterministic_ops": deterministic, "threads": threads,
            "backend_version": torch.__version__,
            **({"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()} if gpus else {})}


def reseed(seed: int) -> None:
    """Reset every generator, so each fold trains the same way whatever ran before it."""
    import keras  # lazy: after the backend is chosen

    keras.utils.set_random_seed(seed)  # Python's random, NumPy and the backend's
    _private_default_seeds(seed)


def _private_default_seeds(seed: int) -> None:
    """Keras draws the seed of every layer built without one (dropout, weight initialisers) from Python's global
    ``random``, which other threads of the process draw from too: a Dask worker's own threads do, so a CNN
    trained there came out differently on every run. Keras gets a generator of its own, seeded like the global
    one (so runs in a plain process keep their numbers), that nothing else touches."""
    seed_generator = importlib.import_module("keras.src.random.seed_generator")
    if hasattr(seed_generator, "python_random"):
        seed_generator.python_random = random.Random(seed)
