"""The feature cache: where extracted features are stored on disk, and the checks a file passes before it is used.

The cache key is the dataset fingerprint plus the extractor's class, version and hyperparameters, so any run on
the same data with the same extractor (whatever the model or its settings) reuses the features.

A cache file is never trusted blindly, since a wrong array would give a complete run with wrong numbers. Its
sidecar JSON records what the array is (the key's fields, shape, dtype, SHA-256 of the bytes) and every load
checks all of it, plus finiteness and a fresh extraction of the first image. A file that fails a check is
recomputed and replaced; a cache that cannot be written is done without. Either is one warning line and never
an error: the cache only saves time, it must neither change a number nor stop a run.

Several processes, on several hosts sharing the folder, may write and read one entry at once, so the data and
its sidecar change together. An entry is its sidecar ``<name>-<key>.json``, and the sidecar names its data file,
``<name>-<key>.<sha12>.<uuid12>.npy``: a name used by one write only (the first 12 hex digits of the array's
SHA-256, for whoever lists the folder, and a fresh uuid; the sidecar's full SHA-256 is what is checked). A write
moves its data file into place, then installs its sidecar; each through a temporary file and ``os.replace``,
which is atomic. A reader reads the sidecar first and opens exactly the file it names, so it only ever pairs a
sidecar with the data written with it, and no write ever overwrites a data file a reader may be using. (Each
write replacing a data file, then its sidecar, under fixed names, as format 2 did, let a reader between the two
pair one write's data with another's sidecar, and two writers interleave into a mismatching pair.)

Data files a newer sidecar superseded are removed by the writers, without locks (which hosts sharing a folder do
not reliably have). A write marks its data file in flight (an empty ``.<data file>.pending`` beside it) before
moving it in, and removes the mark once its sidecar is installed. A writer then lists the entry's data files,
checks their marks, and only then reads the sidecar: it removes the files listed, not in flight, that the
sidecar does not name. Such a file's sidecar was installed before that read, and a later write replaced it; as
no later sidecar can name it again, it is garbage for good. Once concurrent writes end, exactly the one data
file the last sidecar names is left. Cleanup is best effort and never fails a run; a write killed between its
two moves leaves its data file and mark behind, as a killed write always left its temporary. A reader that
finds the file its sidecar named removed meanwhile reads the sidecar again and opens the newer file; a sidecar
naming a file that is not there is corrupt (recomputed). Temporary names are hidden and unique per host,
process and call (:func:`temporary_name`).

``CACHE_FORMAT`` is part of the key: cache files of an older format (format 2 kept ``<name>-<key>.npy`` beside
its sidecar) have another key, so they are simply misses, never opened; they stay in the folder until deleted.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Literal

import numpy as np

from benchmark.errors import exception_text, one_line
from benchmark.files import temporary_name

from ._base import ImageTransformer

CACHE_FORMAT = 3

#: What happened with the cache for one extractor, as ``extract`` reports it in ``status[name]``:
#: ``hit`` loaded and verified; ``miss`` no cache file yet, computed and written; ``recomputed-corrupt`` the cache
#: file failed verification, was recomputed and replaced; ``unwritable`` computed, but the cache could not be
#: written (this wins over ``recomputed-corrupt``: the features are not cached either way); ``disabled``
#: computed with ``cache_dir=None``.
CacheStatus = Literal["hit", "miss", "recomputed-corrupt", "unwritable", "disabled"]

#: How many times a reader reads the sidecar, at most, while the data file it named keeps being superseded and
#: removed before the reader opens it (a new try only when the sidecar names another file).
READ_TRIES = 10

#: What follows ``<name>-<key>`` in a data file's name.
_DATA_SUFFIX = re.compile(r"\.[0-9a-f]{12}\.[0-9a-f]{12}\.npy")


class CorruptCache(Exception):
    """Why a cache file cannot be trusted, in a few words (the reason in the warning line)."""


class _Vanished(Exception):
    """The data file a sidecar named is not there, or was removed while being read (NFS): worth another try if
    the sidecar now names another file. Its message is the :class:`CorruptCache` reason otherwise."""


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
    """The cache entry of these features: its sidecar ``<name>-<key>.json``, which names its data file."""
    return (Path(cache_dir) / "features" / fingerprint[:16]
            / f"{name}-{cache_key(fingerprint, name, extractor)}.json")


def _is_data_name(path: Path, name: object) -> bool:
    """Whether ``name`` is the name of one of the data files of the entry ``path`` (in its folder, nowhere else)."""
    return (isinstance(name, str) and name.startswith(path.stem)
            and _DATA_SUFFIX.fullmatch(name[len(path.stem):]) is not None)


def data_files(path: Path) -> list[Path]:
    """The data files of the entry ``path`` now in its folder: the one its sidecar names, and any superseded one
    not yet removed or in flight (moved in, its sidecar not installed yet)."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    return [path.with_name(name) for name in sorted(names) if _is_data_name(path, name)]


def has_entry(path: Path) -> bool:
    """Whether anything of the entry ``path`` is on disk: its sidecar, or a data file without it (one in flight
    does not count: its sidecar is on its way)."""
    return path.exists() or any(not _in_flight(data) for data in data_files(path))


def describe(X: np.ndarray) -> dict:
    """The sidecar's record of an array's content: shape, dtype and SHA-256 of its bytes."""
    return {"shape": list(X.shape), "dtype": str(X.dtype),
            "sha256": hashlib.sha256(np.ascontiguousarray(X)).hexdigest()}


def _is_stale_handle(exc: BaseException) -> bool:
    """An NFS client reading a file another host replaced or removed meanwhile gets ESTALE."""
    return isinstance(exc, OSError) and exc.errno == errno.ESTALE


def _read_sidecar(path: Path, expected: dict) -> dict:
    """The sidecar at ``path`` once it is for the ``expected`` features and names a data file of its entry."""
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CorruptCache(f"its sidecar {path.name} is missing") from None
    except Exception as exc:  # OSError, ValueError, RecursionError (deeply nested JSON), MemoryError...
        raise CorruptCache(f"unreadable sidecar: {one_line(exc)[:120] or type(exc).__name__}") from None
    if not isinstance(meta, dict):
        raise CorruptCache("the sidecar is not a JSON object")
    differs = [k for k, v in expected.items() if meta.get(k) != v]
    if differs:
        raise CorruptCache(f"the sidecar is for other features: {', '.join(differs)} differ")
    if not _is_data_name(path, meta.get("data")):
        raise CorruptCache("the sidecar names no data file of its own")
    return meta


def _read_array(data: Path, want: tuple[int, int]) -> np.ndarray:
    """The float32 array ``want`` in shape stored at ``data``. It is mapped, not read, until its header passed,
    so a header that declares a huge shape costs nothing."""
    try:
        mapped = np.load(data, mmap_mode="r", allow_pickle=False)
        if mapped.dtype != np.float32:
            raise CorruptCache(f"dtype {mapped.dtype}, expected float32")
        if mapped.shape != want:
            raise CorruptCache(f"shape {' x '.join(map(str, mapped.shape))}, expected {want[0]} x {want[1]}")
        X = np.array(mapped)
        del mapped
    except CorruptCache:
        raise
    except Exception as exc:  # truncated file, a header that lies about the data, no memory...
        if isinstance(exc, FileNotFoundError):
            raise _Vanished(f"its data file {data.name} is missing") from None
        if _is_stale_handle(exc):
            raise _Vanished(f"unreadable array: {os.strerror(errno.ESTALE)}") from None
        raise CorruptCache(f"unreadable array: {exception_text(exc)}") from None
    return X


def _read_entry(path: Path, expected: dict, want: tuple[int, int]) -> tuple[dict, np.ndarray]:
    """The sidecar of the entry ``path`` and the array in the data file it names (see :func:`load_verified`)."""
    tried, vanished = None, None
    for _ in range(READ_TRIES):
        meta = _read_sidecar(path, expected)
        if meta["data"] == tried:  # not superseded: the file it names is simply not there
            break
        tried = meta["data"]
        try:
            return meta, _read_array(path.with_name(tried), want)
        except _Vanished as exc:
            vanished = exc
    raise CorruptCache(str(vanished))


def load_verified(path: Path, *, expected: dict, fresh: dict[int, np.ndarray], n_images: int) -> np.ndarray:
    """The array of the cache entry ``path`` (its sidecar) once every check passed; raises :class:`CorruptCache`
    naming the first failure.

    ``expected`` is the sidecar's identity part (key and its fields). ``fresh`` maps a few image positions (the
    first, and some drawn at random on each load) to a fresh extraction of that image: they fix the expected
    width, and the cached rows must equal them, which catches altered data even where the sidecar's hash was
    rewritten to match. The data file read is the one the sidecar names; when a concurrent write removed it
    meanwhile, the sidecar is read again and the newer file it names opened (see the module docstring).
    """
    meta, X = _read_entry(path, expected, (n_images, len(next(iter(fresh.values())))))
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


def _unlink_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


def _named_data(path: Path) -> object:
    """The ``data`` field of the sidecar at ``path`` now, or None when it cannot be read."""
    try:
        meta = json.loads(path.read_text())
        return meta.get("data") if isinstance(meta, dict) else None
    except Exception:
        return None


def _pending_mark(data: Path) -> Path:
    """The mark a write puts beside its data file while that file's sidecar is not installed yet."""
    return data.with_name(f".{data.name}.pending")


def _in_flight(data: Path) -> bool:
    """Whether ``data`` is marked in flight (or its mark cannot be checked: then it is kept, to be safe)."""
    try:
        os.lstat(_pending_mark(data))
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def _remove_superseded(path: Path) -> None:
    """Remove the entry's data files that are not in flight and that its sidecar does not name, best effort. The
    files are listed and their marks checked *before* the sidecar is read; that order is what makes it safe (see
    the module docstring)."""
    settled = [data for data in data_files(path) if not _in_flight(data)]
    current = _named_data(path)
    if current is None:
        return
    for data in settled:
        if data.name != current:
            _unlink_quietly(data)


def store(path: Path, X: np.ndarray, sidecar: dict) -> None:
    """Write ``X`` and its ``sidecar`` (the identity plus :func:`describe` of ``X``) as the entry ``path``.

    Both are written under temporary names first; then the data file, under a name no other write uses and
    marked in flight, is moved into place, the sidecar naming it installed, the mark removed, and the data
    files it superseded removed (see the module docstring). Raises OSError, leaving no temporary behind, nor a
    new data file its sidecar does not name.
    """
    data = path.with_name(f"{path.stem}.{sidecar['sha256'][:12]}.{uuid.uuid4().hex[:12]}.npy")
    tmp_data, tmp_meta, mark = temporary_name(data), temporary_name(path), _pending_mark(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp_data, "wb") as f:
            np.save(f, X)
        tmp_meta.write_text(json.dumps({**sidecar, "data": data.name}, indent=2))
        mark.touch(exist_ok=False)
        os.replace(tmp_data, data)
        os.replace(tmp_meta, path)
    except BaseException:
        installed = _named_data(path) == data.name  # interrupted just after installing it
        for leftover in (tmp_data, tmp_meta, mark, *([] if installed else [data])):
            _unlink_quietly(leftover)
        raise
    _unlink_quietly(mark)
    _remove_superseded(path)
