"""Feature extraction over a whole dataset: parallel, with a progress bar, through the verified cache.

Extraction depends on nothing but each image and the extractor's hyperparameters, so features are computed
once per dataset and reused by every model (see :mod:`features._cache` for what makes a cached file trusted).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np
from joblib import Parallel, delayed

from benchmark.errors import os_error_text

from ._base import ImageTransformer
from ._cache import (CacheStatus, CorruptCache, cache_identity, cache_key, cache_path, describe, has_entry,
                     load_verified, store)

#: Images per parallel task.
CHUNK = 256


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _compute(images: np.ndarray, name: str, extractor: ImageTransformer, *, image_ids: np.ndarray, n_jobs: int,
             progress) -> np.ndarray:
    """Features of all images, in chunks run in parallel; each image is named by ``image_ids`` in errors."""
    starts = range(0, len(images), CHUNK)
    task = progress.add_task(f"features: {name}", total=len(images)) if progress is not None else None
    jobs = Parallel(n_jobs=n_jobs if len(starts) > 1 else 1, return_as="generator")(
        delayed(extractor.transform)(images[i:i + CHUNK], image_ids=image_ids[i:i + CHUNK]) for i in starts)
    parts = []
    for part in jobs:
        parts.append(part)
        if task is not None:
            progress.advance(task, len(part))
    return np.concatenate(parts).astype(np.float32, copy=False)


#: Cached rows compared with a fresh extraction on every load: the first, and this many drawn at random.
SPOT_CHECKS = 7


def _fresh_rows(images: np.ndarray, extractor: ImageTransformer, image_ids: np.ndarray) -> dict[int, np.ndarray]:
    """Fresh features of the first image and of a few drawn at random (unseeded: a different few on every load,
    so no fixed set of rows is ever trusted; the numbers a run computes do not depend on the draw)."""
    picked = {0} | set(np.random.default_rng().choice(len(images), size=min(SPOT_CHECKS, len(images)),
                                                      replace=False).tolist())
    idx = np.array(sorted(picked))
    return dict(zip(idx.tolist(), extractor.transform(images[idx], image_ids=image_ids[idx])))


def extract(images: np.ndarray, name: str, extractor: ImageTransformer, *, fingerprint: str,
            cache_dir: Path | None = None, n_jobs: int = -1, progress=None, sample_ids: np.ndarray | None = None,
            warn: Callable[[str], None] | None = None,
            status: dict[str, CacheStatus] | None = None) -> tuple[np.ndarray, bool]:
    """Features of all ``images`` for one extractor; returns them and whether they came from the cache.

    ``cache_dir=None`` disables the cache. A cache file is used only once verified (see the module docstring);
    a corrupt one is recomputed and replaced, and a cache that cannot be written is done without, each with one
    line through ``warn`` (default: ``warning: ...`` on stderr). ``status``, when given, receives
    ``status[name]``, a :data:`CacheStatus` saying which of these happened. ``sample_ids`` (one per image) name
    the image in a :class:`FeatureError` for a non-finite feature; by default its position in ``images``.
    ``progress`` is an optional rich Progress to report chunks on.
    """
    warn = warn or _warn_stderr
    image_ids = np.arange(len(images)) if sample_ids is None else np.asarray(sample_ids)
    if len(image_ids) != len(images):
        raise ValueError(f"{len(image_ids)} sample ids for {len(images)} images")
    path = None if cache_dir is None else cache_path(cache_dir, fingerprint=fingerprint, name=name,
                                                        extractor=extractor)
    identity = {**cache_identity(fingerprint, name, extractor), "key": cache_key(fingerprint, name, extractor)}
    state, X = ("disabled" if path is None else "miss"), None
    if path is not None and has_entry(path):
        try:
            X = load_verified(path, expected=identity, n_images=len(images),
                              fresh=_fresh_rows(images, extractor, image_ids))
            state = "hit"
        except CorruptCache as exc:
            warn(f"cache file {path} is corrupt ({exc}); recomputing")
            state = "recomputed-corrupt"
    if X is None:
        X = _compute(images, name, extractor, image_ids=image_ids, n_jobs=n_jobs, progress=progress)
        if path is not None:
            try:
                store(path, X, {**identity, **describe(X)})
            except OSError as exc:
                warn(f"cannot write the feature cache at {path} ({os_error_text(exc)}); continuing without it")
                state = "unwritable"
    if status is not None:
        status[name] = state
    return X, state == "hit"


def extract_all(images: np.ndarray, extractors: list[tuple[str, ImageTransformer]], *, fingerprint: str,
                cache_dir: Path | None = None, n_jobs: int = -1, progress=None, sample_ids: np.ndarray | None = None,
                warn: Callable[[str], None] | None = None,
                status: dict[str, CacheStatus] | None = None) -> tuple[np.ndarray, dict[str, bool]]:
    """Concatenated features of several extractors, each cached on its own; plus {name: came-from-cache}.

    The keyword arguments are :func:`extract`'s, passed to each extractor; ``status`` gets one entry per name.
    """
    blocks, cached = [], {}
    for name, extractor in extractors:
        X, cached[name] = extract(images, name, extractor, fingerprint=fingerprint, cache_dir=cache_dir,
                                  n_jobs=n_jobs, progress=progress, sample_ids=sample_ids, warn=warn, status=status)
        blocks.append(X)
    return np.hstack(blocks), cached
