"""The feature cache cannot silently change a number or stop a run, and extractors never yield non-finite features.

Each test first reproduces a case that used to pass unnoticed (an altered, wrong-width or NaN cache file was
loaded because only its row count was compared; an unwritable cache raised after all features were computed)
and then shows it is caught: one warning line, the features recomputed equal to a fresh extraction, the cache
file replaced or, when it cannot be written, nothing half-written left behind.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest

import features._cache as cache_module
import features._extract as extract_module
from benchmark.errors import FerBenchError
from features import (FeatureError, HOGFeatures, ImageTransformer, LandmarkFeatures, PredictorNotFoundError,
                      UnknownFeatureError, extract, extract_all, parse_features)

FINGERPRINT = "e" * 64


@pytest.fixture(scope="module")
def faces(synthetic):
    """100 real synthetic faces and their sample ids (one extraction chunk, fast)."""
    return synthetic.images[:100], synthetic.sample_ids[:100]


@pytest.fixture(scope="module")
def fresh_hog(faces):
    """HOG features of ``faces`` computed without any cache: the reference every result must equal."""
    return HOGFeatures().transform(faces[0])


def run_hog(cache: Path, images: np.ndarray):
    """extract() of HOG through ``cache``: (features, from_cache, status, warnings)."""
    warnings, status = [], {}
    X, hit = extract(images, "hog", HOGFeatures(), fingerprint=FINGERPRINT, cache_dir=cache, n_jobs=1,
                     warn=warnings.append, status=status)
    return X, hit, status["hog"], warnings


def cache_files(cache: Path) -> tuple[Path, Path]:
    """The single data file of the cache and its sidecar, which names it (no other data file is left)."""
    (sidecar,) = (cache / "features" / FINGERPRINT[:16]).glob("*.json")
    (npy,) = (cache / "features" / FINGERPRINT[:16]).glob("*.npy")
    assert json.loads(sidecar.read_text())["data"] == npy.name
    return npy, sidecar


def rewrite_sidecar_for(sidecar: Path, X: np.ndarray) -> None:
    """Make the sidecar describe ``X`` (shape, dtype, hash) as a careless writer or a forger would."""
    meta = json.loads(sidecar.read_text())
    meta.update(cache_module.describe(X))
    sidecar.write_text(json.dumps(meta))


def assert_recomputed(cache: Path, images, fresh, reason: str):
    """The next run warns once that the file is corrupt for ``reason``, returns fresh features and repairs the
    cache, so the run after that is a verified hit without warnings."""
    sidecar = cache_module.cache_path(cache, fingerprint=FINGERPRINT, name="hog", extractor=HOGFeatures())
    X, hit, status, warnings = run_hog(cache, images)
    assert warnings == [f"cache file {sidecar} is corrupt ({reason}); recomputing"]
    assert (hit, status) == (False, "recomputed-corrupt")
    np.testing.assert_array_equal(X, fresh)
    npy, _ = cache_files(cache)  # the only data file left: the bad one was replaced
    np.testing.assert_array_equal(np.load(npy), fresh)
    assert json.loads(sidecar.read_text())["sha256"] == cache_module.describe(fresh)["sha256"]
    X, hit, status, warnings = run_hog(cache, images)
    assert (hit, status, warnings) == (True, "hit", [])
    np.testing.assert_array_equal(X, fresh)


def test_altered_data_bytes_with_intact_header_are_recomputed(tmp_path, faces, fresh_hog):
    """Bytes of row 50 changed behind an intact .npy header: the file still loads with the right shape (what the
    old row-count check accepted), but its SHA-256 no longer matches the sidecar."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    npy, _ = cache_files(cache)
    raw = bytearray(npy.read_bytes())
    data_start = len(raw) - fresh_hog.nbytes
    row = data_start + 50 * fresh_hog.shape[1] * 4
    raw[row:row + 400] = (fresh_hog[50, :100] * 0.5 + 0.1).astype(np.float32).tobytes()
    npy.write_bytes(bytes(raw))
    altered = np.load(npy)
    assert altered.shape == fresh_hog.shape and np.isfinite(altered).all() and (altered != fresh_hog).any()
    assert_recomputed(cache, images, fresh_hog, "the array does not match its sidecar: sha256 differ")


def cache_replaced_by(tmp_path, images, array: np.ndarray, *, matching_sidecar: bool = True) -> Path:
    """A cache filled by a real run, whose array was then replaced by ``array`` (its sidecar rewritten to
    describe it exactly when ``matching_sidecar``): only the other checks can catch it."""
    cache = tmp_path / "cache"
    run_hog(cache, images)
    npy, sidecar = cache_files(cache)
    np.save(npy, array)
    if matching_sidecar:
        rewrite_sidecar_for(sidecar, array)
    return cache


def test_altered_first_row_is_caught_even_with_a_matching_hash(tmp_path, faces, fresh_hog):
    """Wrong values whose sidecar was rewritten to match are still caught: the first row is compared with a
    fresh extraction of the first image."""
    images, _ = faces
    wrong = fresh_hog.copy()
    wrong[0] = wrong[0][::-1]
    cache = cache_replaced_by(tmp_path, images, wrong)
    assert_recomputed(cache, images, fresh_hog, "its first row differs from a fresh extraction")


def test_wrong_width_with_a_matching_looking_sidecar_is_recomputed(tmp_path, faces, fresh_hog):
    """An N x 10 array (right row count) with a sidecar describing it exactly: the width is checked against a
    fresh extraction of the first image (900 values)."""
    images, _ = faces
    cache = cache_replaced_by(tmp_path, images, fresh_hog[:, :10].copy())
    assert_recomputed(cache, images, fresh_hog, "shape 100 x 10, expected 100 x 900")


def test_nan_in_the_cache_is_recomputed(tmp_path, faces, fresh_hog):
    """A cached NaN (with a sidecar hash to match) used to make every later run fail in scikit-learn."""
    images, _ = faces
    poisoned = fresh_hog.copy()
    poisoned[7, 3] = np.nan
    poisoned[9, 0] = np.inf
    cache = cache_replaced_by(tmp_path, images, poisoned)
    assert_recomputed(cache, images, fresh_hog, "2 NaN or infinite values")


def test_wrong_dtype_is_recomputed(tmp_path, faces, fresh_hog):
    """The same values as float64 (twice the bytes, right shape) are not accepted as the float32 cache."""
    images, _ = faces
    cache = cache_replaced_by(tmp_path, images, fresh_hog.astype(np.float64), matching_sidecar=False)
    assert_recomputed(cache, images, fresh_hog, "dtype float64, expected float32")


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except ValueError as exc:
        return str(exc)
    raise AssertionError(f"{text!r} parses")


GARBLED = '{"shape": [100, 9'


@pytest.mark.parametrize("damage, reason", [
    (lambda sidecar: sidecar.unlink(), "its sidecar {name} is missing"),
    (lambda sidecar: sidecar.write_text(GARBLED), f"unreadable sidecar: {_json_error(GARBLED)}"),
    (lambda sidecar: sidecar.write_text("[1, 2]"), "the sidecar is not a JSON object"),
    (lambda sidecar: sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "version": 0,
                                                    "params": {}})),
     "the sidecar is for other features: params, version differ"),
    (lambda sidecar: sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "format": 2, "data": None})),
     "the sidecar is for other features: format differ"),
    (lambda sidecar: sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "data": None})),
     "the sidecar names no data file of its own"),
    (lambda sidecar: sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()),
                                                    "data": f"../{json.loads(sidecar.read_text())['data']}"})),
     "the sidecar names no data file of its own"),
], ids=["missing", "garbled", "not-an-object", "other-extractor", "old-format", "no-data-file", "outside-path"])
def test_missing_or_garbled_sidecar_is_recomputed(tmp_path, faces, fresh_hog, damage, reason):
    """A data file without a trustworthy sidecar (or whose sidecar names no file of its own entry, so no other
    file is ever opened) is recomputed, and the sidecar restored."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    _, sidecar = cache_files(cache)
    damage(sidecar)
    assert_recomputed(cache, images, fresh_hog, reason.format(name=sidecar.name))


def test_sidecar_records_what_the_array_is(tmp_path, faces, fresh_hog):
    """The sidecar holds the key's fields (format, extractor version, params...) and the content description."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    npy, sidecar = cache_files(cache)
    meta = json.loads(sidecar.read_text())
    assert meta["shape"] == [100, 900] and meta["dtype"] == "float32"
    assert meta["sha256"] == cache_module.describe(fresh_hog)["sha256"]
    assert meta["format"] == cache_module.CACHE_FORMAT and meta["version"] == HOGFeatures.version == 1
    assert (meta["fingerprint"], meta["name"], meta["class"]) == (FINGERPRINT, "hog", "HOGFeatures")
    assert meta["params"] == HOGFeatures().get_params() and sidecar.stem.endswith(meta["key"])
    assert meta["data"] == npy.name and npy.name.startswith(f"{sidecar.stem}.{meta['sha256'][:12]}.")


def test_extractor_version_is_part_of_the_key(tmp_path, faces, monkeypatch):
    """Bumping an extractor's version (its output changed) makes old cache files unused, not loaded."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    monkeypatch.setattr(HOGFeatures, "version", 2)
    _, hit, status, warnings = run_hog(cache, images)
    assert (hit, status, warnings) == (False, "miss", [])
    assert len(list((cache / "features" / FINGERPRINT[:16]).glob("*.npy"))) == 2


def test_old_format_cache_files_are_misses_and_never_opened(tmp_path, faces, fresh_hog, monkeypatch):
    """A format-2 entry (data file ``<name>-<key>.npy`` beside its sidecar, which names no data file) left in the
    folder, holding a wrong array its sidecar describes exactly: the format is part of the key, so the new
    format looks elsewhere; a clean miss, the features computed afresh, the old files left alone."""
    images, _ = faces
    cache = tmp_path / "cache"
    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "CACHE_FORMAT", 2)
        old = cache_module.cache_path(cache, fingerprint=FINGERPRINT, name="hog", extractor=HOGFeatures())
        old_identity = {**cache_module.cache_identity(FINGERPRINT, "hog", HOGFeatures()),
                        "key": cache_module.cache_key(FINGERPRINT, "hog", HOGFeatures())}
    wrong = fresh_hog[::-1].copy()
    old.parent.mkdir(parents=True)
    np.save(old.with_suffix(".npy"), wrong)
    old.write_text(json.dumps({**old_identity, **cache_module.describe(wrong)}))
    X, hit, status, warnings = run_hog(cache, images)
    assert (hit, status, warnings) == (False, "miss", [])
    np.testing.assert_array_equal(X, fresh_hog)
    new = cache_module.cache_path(cache, fingerprint=FINGERPRINT, name="hog", extractor=HOGFeatures())
    assert new != old and new.exists() and old.exists() and old.with_suffix(".npy").exists()
    assert run_hog(cache, images)[1:] == (True, "hit", [])


def test_a_sidecar_naming_a_missing_data_file_is_recomputed(tmp_path, faces, fresh_hog):
    """A data file gone for good (a write killed half-way, a hand-made deletion): the sidecar, read again, still
    names it, so the entry is corrupt, recomputed and replaced, not a crash."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    npy, _ = cache_files(cache)
    npy.unlink()
    assert_recomputed(cache, images, fresh_hog, f"its data file {npy.name} is missing")


def test_a_data_file_removed_by_a_concurrent_write_is_followed(tmp_path, faces, fresh_hog, monkeypatch):
    """A reader read the sidecar, then another write replaced the entry and removed the data file it named: the
    reader reads the sidecar again and loads the newer file, a verified hit without any warning."""
    images, _ = faces
    cache = tmp_path / "cache"
    run_hog(cache, images)
    first, sidecar = cache_files(cache)
    identity = {**cache_module.cache_identity(FINGERPRINT, "hog", HOGFeatures()),
                "key": cache_module.cache_key(FINGERPRINT, "hog", HOGFeatures())}
    real_read, opened = cache_module._read_array, []

    def read_after_a_concurrent_write(data, want):
        if not opened:
            cache_module.store(sidecar, fresh_hog, {**identity, **cache_module.describe(fresh_hog)})
        opened.append(data.name)
        return real_read(data, want)

    monkeypatch.setattr(cache_module, "_read_array", read_after_a_concurrent_write)
    X, hit, status, warnings = run_hog(cache, images)
    assert (hit, status, warnings) == (True, "hit", [])
    np.testing.assert_array_equal(X, fresh_hog)
    second, _ = cache_files(cache)
    assert opened == [first.name, second.name] and not first.exists()


def _file_in_place_of_the_folder(cache: Path, patch):
    (cache / "features").mkdir(parents=True)
    (cache / "features" / FINGERPRINT[:16]).write_text("not a folder")
    return f"{cache / 'features' / FINGERPRINT[:16]}: File exists"


def _read_only_folder(cache: Path, patch):
    """Tests run as root, which writes anywhere: a read-only folder is os.replace refusing."""
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    patch.setattr(os, "replace", refuse)
    return os.strerror(errno.EACCES)


def _disk_full(cache: Path, patch):
    """The disk fills up half-way through the data file (so a partial temporary exists and must go)."""
    def partial_save(file, arr, *args, **kwargs):
        file.write(b"\x93NUMPY partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    patch.setattr(np, "save", partial_save)
    return os.strerror(errno.ENOSPC)


def _replace_fails_for(suffix: str):
    def make_unwritable(cache: Path, patch):
        real_replace = os.replace

        def replace(src, dst):
            if str(dst).endswith(suffix):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            real_replace(src, dst)

        patch.setattr(os, "replace", replace)
        return os.strerror(errno.EACCES)

    return make_unwritable


#: The data file cannot be moved in: nothing of the entry may appear.
_data_replace_fails = _replace_fails_for(".npy")
#: The data file is moved in, then its sidecar cannot be installed: the data file must not stay without it.
_sidecar_replace_fails = _replace_fails_for(".json")


@pytest.mark.parametrize("make_unwritable", [_file_in_place_of_the_folder, _read_only_folder, _disk_full,
                                             _sidecar_replace_fails, _data_replace_fails],
                         ids=["file-for-folder", "read-only", "disk-full", "sidecar-replace", "data-replace"])
def test_unwritable_cache_warns_and_still_returns_the_features(tmp_path, faces, fresh_hog, monkeypatch,
                                                               make_unwritable):
    """A cache that cannot be written is one warning line; the features are returned all the same and no
    temporary (nor a data file without its sidecar) is left behind."""
    images, _ = faces
    cache = tmp_path / "cache"
    path = cache_module.cache_path(cache, fingerprint=FINGERPRINT, name="hog", extractor=HOGFeatures())
    with monkeypatch.context() as patch:
        reason = make_unwritable(cache, patch)
        X, hit, status, warnings = run_hog(cache, images)
    assert warnings == [f"cannot write the feature cache at {path} ({reason}); continuing without it"]
    assert (hit, status) == (False, "unwritable")
    np.testing.assert_array_equal(X, fresh_hog)
    left = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert not any("tmp" in name or name.endswith((".npy", ".pending")) for name in left), left
    assert not path.exists()
    # writable again: the next run is a clean miss (no corrupt-file warning), then a verified hit
    if make_unwritable is _file_in_place_of_the_folder:
        path.parent.unlink()
    assert run_hog(cache, images)[1:] == (False, "miss", [])
    assert run_hog(cache, images)[1:] == (True, "hit", [])


def test_temporary_names_are_unique_per_host_process_and_call(tmp_path, faces, monkeypatch):
    """Concurrent writers never share a temporary: its name carries the host, the pid and a fresh uuid; the data
    file is moved in before the sidecar naming it is installed."""
    images, _ = faces
    real_replace, calls = os.replace, []

    def spy(src, dst):
        calls.append((Path(src).name, Path(dst).suffix))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    for cache in (tmp_path / "a", tmp_path / "b"):
        run_hog(cache, images)
    assert [suffix for _, suffix in calls] == [".npy", ".json"] * 2
    names = [name for name, _ in calls]
    assert all(socket.gethostname() in n and f"-{os.getpid()}-" in n and ".tmp" in n for n in names)
    assert len(set(names)) == 4


class _BlankIsNaN(ImageTransformer):
    """A broken extractor: NaN (or infinity) for an all-black image, as a division by its contrast would give."""

    def __init__(self, value: float = np.nan):
        self.value = value

    def _transform_one(self, image):
        return np.array([image.mean(), self.value if image.max() == 0 else 1.0])


@pytest.mark.parametrize("value, what", [(np.nan, "NaN"), (np.inf, "an infinite value")])
def test_extractor_producing_non_finite_features_raises_feature_error(tmp_path, faces, monkeypatch, value, what):
    """Image 17 of 100 is black; with chunks of 10 it is image 7 of its chunk, yet the error names the sample id
    (or, without ids, its position in the whole array) and the extractor, and nothing is cached."""
    images, ids = faces
    images = images.copy()
    images[17] = 0
    monkeypatch.setattr(extract_module, "CHUNK", 10)
    cache = tmp_path / "cache"
    with pytest.raises(FeatureError) as caught:
        extract_all(images, [("blank", _BlankIsNaN(value))], fingerprint=FINGERPRINT, cache_dir=cache, n_jobs=1,
                    sample_ids=ids)
    assert str(caught.value) == f"_BlankIsNaN produced {what} for image {ids[17]}; its features cannot be used"
    assert isinstance(caught.value, FerBenchError) and caught.value.exit_code == 1
    with pytest.raises(FeatureError, match=f"produced {what} for image 17;"):
        extract(images, "blank", _BlankIsNaN(value), fingerprint=FINGERPRINT, cache_dir=cache, n_jobs=1)
    assert not cache.exists() or not any(cache.rglob("*.npy"))
    # it crosses process boundaries intact (joblib pickles a worker's exception back to the parent)
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is FeatureError and str(again) == str(caught.value)


def test_missing_dlib_model_is_a_fer_bench_error(tmp_path, monkeypatch, astronaut_face):
    """A missing landmark model is one line naming the path and the two fixes, not a FileNotFoundError."""
    for extractor, missing in [(LandmarkFeatures(predictor_path=str(tmp_path / "given.dat")), tmp_path / "given.dat"),
                               (LandmarkFeatures(), tmp_path / "from-env.dat")]:
        monkeypatch.setenv("FER_BENCH_DLIB_PREDICTOR", str(tmp_path / "from-env.dat"))
        with pytest.raises(PredictorNotFoundError) as caught:
            extractor.transform(astronaut_face)
        message = str(caught.value)
        assert isinstance(caught.value, FerBenchError) and not isinstance(caught.value, FileNotFoundError)
        assert str(missing) in message and "\n" not in message
        assert "pip install face_recognition_models" in message and "FER_BENCH_DLIB_PREDICTOR" in message


def test_unknown_feature_is_a_fer_bench_error_and_still_a_value_error():
    """An unknown feature name is a user error (exit 2), and existing ``except ValueError`` still catch it."""
    with pytest.raises(UnknownFeatureError) as caught:
        parse_features("hog+sift")
    assert isinstance(caught.value, FerBenchError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 2 and "unknown feature 'sift'" in str(caught.value)


# ------------------------------------------------------------- forged and oversized cache files

def _cache_files(cache: Path) -> tuple[Path, Path]:
    [sidecar] = cache.rglob("*.json")
    return sidecar.with_name(json.loads(sidecar.read_text())["data"]), sidecar


@pytest.fixture
def cached_hog(tmp_path, synthetic):
    images, ids = synthetic.images[:120], synthetic.sample_ids[:120]
    cache = tmp_path / "cache"
    fresh, _ = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1, sample_ids=ids)
    return images, ids, cache, fresh


def _reload(cached_hog) -> tuple[np.ndarray, list[str]]:
    images, ids, cache, _ = cached_hog
    warnings: list[str] = []
    X, _ = extract(images, "hog", HOGFeatures(), fingerprint="f" * 64, cache_dir=cache, n_jobs=1, sample_ids=ids,
                   warn=warnings.append)
    return X, warnings


@pytest.mark.parametrize("forgery", ["rows-reversed", "rows-zeroed"])
def test_a_cache_forged_with_a_matching_hash_is_still_caught(cached_hog, forgery):
    """Altered rows with the sidecar's hash rewritten to match: the first row is kept intact, so only the rows
    drawn at random and compared with a fresh extraction can catch it."""
    from features._cache import describe

    _, _, cache, fresh = cached_hog
    npy, sidecar = _cache_files(cache)
    forged = fresh.copy()
    if forgery == "rows-reversed":
        forged[1:] = fresh[1:][::-1]
    else:
        forged[1:] = 0
    np.save(npy, forged)
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), **describe(forged)}))
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "differs from a fresh extraction of that image" in warnings[0]


def test_a_cache_file_that_exhausts_the_parser_or_memory_is_recomputed(cached_hog):
    _, _, cache, fresh = cached_hog
    npy, sidecar = _cache_files(cache)
    sidecar.write_text("[" * 200_000)
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "unreadable sidecar" in warnings[0]
    npy, sidecar = _cache_files(cache)  # the recomputed entry's data file
    header = npy.read_bytes()
    npy.write_bytes(header.replace(f"({len(fresh)}, {fresh.shape[1]})".encode(),
                                   f"({len(fresh)}, 100000000000)".encode().ljust(len(f"({len(fresh)}, "
                                                                                      f"{fresh.shape[1]})"))))
    X, warnings = _reload(cached_hog)
    np.testing.assert_array_equal(X, fresh)
    assert len(warnings) == 1 and "is corrupt" in warnings[0]
