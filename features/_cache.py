"""Feature extraction over a whole dataset: parallel, with a progress bar, cached on disk.

The cache key is the dataset fingerprint plus the extractor's class and hyperparameters, so any run on the same
data with the same extractor (whatever the model or its settings) reuses the features.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ._base import ImageTransformer

CACHE_FORMAT = 1
CHUNK = 256


def default_cache_dir() -> Path:
    """``$FER_BENCH_CACHE`` when set, else ``~/.cache/fer-bench``."""
    return Path(os.environ.get("FER_BENCH_CACHE", Path.home() / ".cache" / "fer-bench")).expanduser()


def cache_key(fingerprint: str, name: str, extractor: ImageTransformer) -> str:
    params = {k: v for k, v in sorted(extractor.get_params().items())}
    blob = json.dumps({"format": CACHE_FORMAT, "data": fingerprint, "name": name,
                       "class": type(extractor).__qualname__, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def extract(images: np.ndarray, name: str, extractor: ImageTransformer, *, fingerprint: str,
            cache_dir: Path | None = None, n_jobs: int = -1, progress=None) -> tuple[np.ndarray, bool]:
    """Features of all ``images`` for one extractor; returns them and whether they came from the cache.

    ``progress`` is an optional rich Progress to report chunks on. ``cache_dir=None`` disables the cache.
    """
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "features" / fingerprint[:16] / f"{name}-{cache_key(fingerprint, name, extractor)}.npy"
        if path.is_file():
            try:
                X = np.load(path)
                if len(X) == len(images):
                    return X, True
            except (OSError, ValueError):
                pass  # a corrupt cache file is recomputed and replaced
    chunks = [images[i:i + CHUNK] for i in range(0, len(images), CHUNK)]
    task = progress.add_task(f"features: {name}", total=len(images)) if progress is not None else None
    parts = []
    jobs = Parallel(n_jobs=n_jobs if len(chunks) > 1 else 1, return_as="generator")(
        delayed(extractor.transform)(chunk) for chunk in chunks)
    for chunk, part in zip(chunks, jobs):
        parts.append(part)
        if task is not None:
            progress.advance(task, len(chunk))
    X = np.concatenate(parts).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, X)
        os.replace(tmp, path)
        path.with_suffix(".json").write_text(json.dumps(
            {"fingerprint": fingerprint, "name": name, "class": type(extractor).__qualname__,
             "params": extractor.get_params(), "shape": list(X.shape)}, indent=2, default=str))
    return X, False


def extract_all(images: np.ndarray, extractors: list[tuple[str, ImageTransformer]], *, fingerprint: str,
                cache_dir: Path | None = None, n_jobs: int = -1, progress=None) -> tuple[np.ndarray, dict]:
    """Concatenated features of several extractors, each cached on its own; plus {name: came-from-cache}."""
    blocks, cached = [], {}
    for name, extractor in extractors:
        X, hit = extract(images, name, extractor, fingerprint=fingerprint, cache_dir=cache_dir,
                         n_jobs=n_jobs, progress=progress)
        blocks.append(X)
        cached[name] = hit
    return np.hstack(blocks), cached
