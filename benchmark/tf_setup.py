"""TensorFlow's own set-up, for runs on the TensorFlow backend: quiet logs, oneDNN, thread pools.

What every backend shares (seeds, precision, the device record) is :mod:`benchmark.backends`'.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from .errors import FerBenchError

_ONEDNN: str | None = None


def quiet_tensorflow() -> None:
    """Environment for TensorFlow; must run before the first ``import tensorflow`` to take effect.

    Silences the C++ start-up chatter and turns TensorFlow's oneDNN CPU kernels on (TF_ENABLE_ONEDNN_OPTS=1
    unless the environment already says otherwise): they train mini-Xception about 1.5x faster on the CPU.
    TensorFlow 2.21's oneDNN backward pass of mini-Xception's strided 1x1 shortcut convolutions corrupts the heap
    (``double free or corruption``, or a segfault) on a training batch of odd size (measured: 1, 3, ..., 31, 33
    crash; 2, 6, ..., 30, 32, 64 do not); :func:`benchmark.training.input_pipeline` therefore trains on even
    batches only, and :func:`benchmark.training.fit_network` refuses an odd ``--batch-size`` while oneDNN is on.
    Forward passes (validation, prediction) are safe at any batch size. With oneDNN on, a CPU rerun with one seed
    still gives identical numbers; runs with and without it differ in the last bits (reordered float sums),
    which is why the manifest records the setting. Set TF_ENABLE_ONEDNN_OPTS=0 to turn the kernels off.
    """
    global _ONEDNN
    if "tensorflow" in sys.modules:  # too late: TensorFlow read its environment when it was imported
        _ONEDNN = _ONEDNN or "unknown (tensorflow imported before fer-bench)"
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    _ONEDNN = os.environ["TF_ENABLE_ONEDNN_OPTS"]
    with _without_startup_chatter():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # where the CUDA probe logs, once per process


#: TensorFlow's start-up lines that reach stderr before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot
#: silence them; they say nothing a run does not record (device and oneDNN setting are in the manifest).
_CHATTER = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are",
            "Could not find cuda drivers", "failed call to cuInit", "Unable to register cu")


@contextlib.contextmanager
def held_stderr():
    """Hold the process's stderr (file descriptor 2, where TensorFlow's C++ code writes) in a temporary file while
    the block runs; yields the file, positioned at its end, so the caller decides what to pass on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _without_startup_chatter():
    """Pass on every line TensorFlow's start-up writes to stderr but the known chatter; a real error still reaches
    the user."""
    with held_stderr() as held:
        try:
            yield
        finally:
            sys.stderr.flush()
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines()
    for line in lines:
        if line.strip() and not any(text in line for text in _CHATTER):
            print(line, file=sys.stderr)


def onednn_may_be_on() -> bool:
    """Whether TensorFlow's oneDNN CPU kernels may be active: on unless TF_ENABLE_ONEDNN_OPTS was 0 or false
    when TensorFlow was imported (and on when that cannot be known)."""
    return str(_ONEDNN).strip().lower() not in ("0", "false")


def odd_batch_error(batch_size: int):
    """The refusal of an odd ``--batch-size`` where oneDNN trains (said when the options resolve, and again by
    training itself)."""
    return FerBenchError(f"--batch-size {batch_size}: TensorFlow's oneDNN CPU kernels crash on odd training "
                         f"batches; use an even batch size (or set TF_ENABLE_ONEDNN_OPTS=0, slower)")


def onednn_state() -> str | None:
    """TF_ENABLE_ONEDNN_OPTS as TensorFlow read it (what the manifest records)."""
    return _ONEDNN


def thread_count() -> int:
    """The threads a CNN's kernels run on: ``$FER_BENCH_TF_THREADS``, else the machine's cores (a fixed count, so
    a process whose default differs, such as a Dask worker, sums in the same order)."""
    return int(os.environ.get("FER_BENCH_TF_THREADS") or 0) or (os.cpu_count() or 1)


def pin_threads(tf) -> int | None:
    """Fix TensorFlow's intra- and inter-op thread pools at the machine's cores (``$FER_BENCH_TF_THREADS`` to
    choose): oneDNN splits its sums by thread, so a process that gets another default (a Dask worker, say)
    would train to other numbers. Returns the count, or None where TensorFlow had already started (then the
    pools it started with stay)."""
    threads = thread_count()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime is initialised: its pools cannot change any more
        current = tf.config.threading.get_intra_op_parallelism_threads()
        return current or None
    return threads
