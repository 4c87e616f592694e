"""The feature cache: where extracted features are stored on disk, and the checks a file passes before it is used.

The cache key is the dataset fingerprint plus the extractor's class, version and hyperparameters, so any run on
the same data with the same extractor (whatever the model or its settings) reuses the features.

A cache file is never trusted blindly, since a wrong array would give a complete run with wrong numbers. Its
sidecar JSON records what the array is (the key's fields, shape, dtype, SHA-256 of the bytes) and every load
checks all of it, plus finiteness and a fresh extraction of the first image. A file that fails a check is
recomputed and replaced; a cache that cannot be written is done without. Either is one warning line and never
an error: the cache only saves time, it must neither change a number nor stop a run.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from pathlib import Path
from typing import Literal

import numpy as np

from benchmark.errors import exception_text, one_line
from benchmark.files import temporary_name

from ._base import ImageTransformer

CACHE_FORMAT = 2

#: What happened with the cache for one extractor, as ``extract`` reports it in ``status[name]``:
#: ``hit`` loaded and verified; ``miss`` no cache file yet, computed and written; ``recomputed-corrupt`` the cache
#: file failed verification, was recomputed and replaced; ``unwritable`` computed, but the cache could not be
#: written (this wins over ``recomputed-corrupt``: the features are not cached either way); ``disabled``
#: computed with ``cache_dir=None``.
CacheStatus = Literal["hit", "miss", "recomputed-corrupt", "unwritable", "disabled"]


class CorruptCache(Exception):
    """Why a cache file cannot be trusted, in a few words (the reason in the warning line)."""


def default_cache_dir() -> Path:
    """``$FER_BENCH_CACHE`` when set, else ``~/.cache/fer-bench``."""
    return Path(os.environ.get("FER_BENCH_CACHE", Path.home() / ".cache" / "fer-bench")).expanduser()


def cache_identity(fingerprint: str, name: str, extractor: ImageTransformer) -> dict:
    """What a cache file holds the features of, as plain JSON values: the key hashes it, the sidecar records it."""
    identity = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "name": name,
                "class": type(extractor).__qualname__, "version": extractor.version,
                "params": extractor.get_params()}
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def cache_key(fingerprint: str, name: str, extractor: ImageTransformer) -> str:
    """20 hex digits naming the cache file of these features."""
    blob = json.dumps(cache_identity(fingerprint, name, extractor), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cache_path(cache_dir: Path, *, fingerprint: str, name: str, extractor: ImageTransformer) -> Path:
    """The ``.npy`` cache file of these features; its sidecar is the same path with ``.json``."""
    return (Path(cache_dir) / "features" / fingerprint[:16]
            / f"{name}-{cache_key(fingerprint, name, extractor)}.npy")


def describe(X: np.ndarray) -> dict:
    """The sidecar's record of an array's content: shape, dtype and SHA-256 of its bytes."""
    return {"shape": list(X.shape), "dtype": str(X.dtype),
            "sha256": hashlib.sha256(np.ascontiguousarray(X)).hexdigest()}


def load_verified(path: Path, *, expected: dict, fresh: dict[int, np.ndarray], n_images: int) -> np.ndarray:
    """The array cached at ``path`` once every check passed; raises :class:`CorruptCache` naming the first failure.

    ``expected`` is the sidecar's identity part (key and its fields). ``fresh`` maps a few image positions (the
    first, and some drawn at random on each load) to a fresh extraction of that image: they fix the expected
    width, and the cached rows must equal them, which catches altered data even where the sidecar's hash was
    rewritten to match. The array is mapped, not read, until its header passed, so a header that declares a
    huge shape costs nothing.
    """
    sidecar = path.with_suffix(".json")
    try:
        meta = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise CorruptCache(f"its sidecar {sidecar.name} is missing") from None
    except Exception as exc:  # OSError, ValueError, RecursionError (deeply nested JSON), MemoryError...
        raise CorruptCache(f"unreadable sidecar: {one_line(exc)[:120] or type(exc).__name__}") from None
    if not isinstance(meta, dict):
        raise CorruptCache("the sidecar is not a JSON object")
    differs = [k for k, v in expected.items() if meta.get(k) != v]
    if differs:
        raise CorruptCache(f"the sidecar is for other features: {', '.join(differs)} differ")
    want = (n_images, len(next(iter(fresh.values()))))
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
        if mapped.dtype != np.float32:
            raise CorruptCache(f"dtype {mapped.dtype}, expected float32")
        if mapped.shape != want:
            raise CorruptCache(f"shape {' x '.join(map(str, mapped.shape))}, expected {want[0]} x {want[1]}")
        X = np.array(mapped)
        del mapped
    except CorruptCache:
        raise
    except Exception as exc:  # truncated file, a header that lies about the data, no memory...
        raise CorruptCache(f"unreadable array: {exception_text(exc)}") from None
    differs = [k for k, v in describe(X).items() if meta.get(k) != v]
    if differs:
        raise CorruptCache(f"the array does not match its sidecar: {', '.join(differs)} differ")
    n_bad = int(np.count_nonzero(~np.isfinite(X)))
    if n_bad:
        raise CorruptCache(f"{n_bad} NaN or infinite values")
    for i, row in sorted(fresh.items()):
        if not np.allclose(X[i], row):
            raise CorruptCache("its first row differs from a fresh extraction" if i == 0 else
                               f"its row {i} differs from a fresh extraction of that image")
    return X


def store(path: Path, X: np.ndarray, sidecar: dict) -> None:
    """Write ``X`` to ``path`` and ``sidecar`` next to it, each through a temporary file and ``os.replace``.

    Temporary names carry the host, the process and a uuid, so concurrent writers (processes, threads, hosts
    sharing the folder) never write into the same file. Both temporaries are written first, then the data file
    is replaced, then the sidecar: a reader in between sees a mismatching pair, which fails verification and is
    recomputed. Raises OSError, leaving no temporary behind, nor a new data file without its sidecar.
    """
    tmp_data, tmp_meta = temporary_name(path), temporary_name(path.with_suffix(".json"))
    replaced = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp_data, "wb") as f:
            np.save(f, X)
        tmp_meta.write_text(json.dumps(sidecar, indent=2))
        os.replace(tmp_data, path)
        replaced.append(path)
        os.replace(tmp_meta, path.with_suffix(".json"))
    except BaseException:
        for leftover in (tmp_data, tmp_meta, *replaced):
            with suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise
