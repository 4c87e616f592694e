"""The feature cache written by several processes at once (as Dask workers on several hosts sharing one folder
do) stays correct: a reader only ever gets an array together with its own sidecar, and writers leave exactly one
data file behind and no temporary.

Before format 3 a write replaced the data file, then the sidecar, under fixed names: a reader in between paired
one write's data with another's sidecar (a "corrupt" warning and a wasted recomputation), and two writers could
interleave so the pair left behind did not match.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest

import features._cache as cache_module

WRITERS = 3
WRITES = 40
SHAPE = (64, 32)
IDENTITY = {"format": cache_module.CACHE_FORMAT, "fingerprint": "c" * 64, "name": "stress", "key": "0123456789" * 2}


def written(writer: int, write: int) -> np.ndarray:
    """The array the ``write``-th write of ``writer`` stores: the same first row for all (so one fresh row fits
    every write), the others shifted by a tag unique to the write."""
    X = _base()
    X[1:] += np.float32(1 + writer * 1000 + write)
    return X


def _base() -> np.ndarray:
    return (np.arange(SHAPE[0] * SHAPE[1], dtype=np.float32).reshape(SHAPE) / 1000).astype(np.float32)


def which_write(X: np.ndarray) -> tuple[int, int]:
    """(writer, write) whose tag ``X`` carries (whether ``X`` is exactly that array is for the caller to check)."""
    return divmod(int(round(float(X[1, 0] - _base()[1, 0]))) - 1, 1000)


def entry(folder: Path) -> Path:
    return folder / f"{IDENTITY['name']}-{IDENTITY['key']}.json"


def _writer(folder: str, writer: int, start, results) -> None:
    """Store this writer's arrays one after another as fast as it can; reports how many writes raised."""
    start.wait(60)
    failed = 0
    for write in range(WRITES):
        X = written(writer, write)
        try:
            cache_module.store(entry(Path(folder)), X, {**IDENTITY, **cache_module.describe(X)})
        except OSError:
            failed += 1
    results.put(("writer", writer, failed))


def _reader(folder: str, start, done, results) -> None:
    """Load the entry again and again until the writers are done; reports the writes it got and each failure's
    reason (an array that is not exactly one of the written ones is a failure too)."""
    path, fresh = entry(Path(folder)), {0: written(0, 0)[0]}
    got, failures = [], []
    start.wait(60)
    while not done.is_set():
        if not path.exists():
            continue
        try:
            X = cache_module.load_verified(path, expected=IDENTITY, fresh=fresh, n_images=SHAPE[0])
        except cache_module.CorruptCache as exc:
            failures.append(str(exc))
            continue
        writer, write = which_write(X)
        if not (0 <= writer < WRITERS and 0 <= write < WRITES and np.array_equal(X, written(writer, write))):
            failures.append("not one of the written arrays")
        got.append((writer, write))
    results.put(("reader", got, failures))


@pytest.mark.slow
def test_concurrent_writers_and_a_reader_only_ever_see_matching_pairs(tmp_path):
    """Three processes each write 40 different arrays to one entry as fast as they can while another process
    loads it in a loop: every load verifies (its data file's SHA-256 is its own sidecar's) and is exactly one of
    the written arrays; afterwards one data file is left, the one the sidecar names, and no temporary."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["features._cache"])  # imported once, not once per process
    folder = tmp_path / "features" / "cccccccccccccccc"
    start, done, results = context.Barrier(WRITERS + 1), context.Event(), context.Queue()
    processes = [context.Process(target=_reader, args=(str(folder), start, done, results))]
    processes += [context.Process(target=_writer, args=(str(folder), writer, start, results))
                  for writer in range(WRITERS)]
    for process in processes:
        process.start()
    try:
        failed_writes = dict(results.get(timeout=120)[1:] for _ in range(WRITERS))
        time.sleep(0.05)  # the reader loads the final entry too
        done.set()
        _, got, failures = results.get(timeout=60)
    finally:
        done.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    assert failed_writes == dict.fromkeys(range(WRITERS), 0)
    assert failures == [], failures[:5]
    assert len(got) >= 10 and len(set(got)) >= 2, got  # the reader did run while the writers wrote
    left = sorted(p.name for p in folder.iterdir())
    meta = json.loads(entry(folder).read_text())
    assert left == sorted([entry(folder).name, meta["data"]]), left  # no superseded data file, no temporary
    X = cache_module.load_verified(entry(folder), expected=IDENTITY, fresh={0: written(0, 0)[0]}, n_images=SHAPE[0])
    assert which_write(X)[1] == WRITES - 1 and np.array_equal(X, written(*which_write(X)))
