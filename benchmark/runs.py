"""Run folders and their provenance: atomic creation, run ids, config hashes and system information."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from . import __version__
from .errors import FerBenchError, WorkFailedError, os_error_text
from .files import writable, write_json  # noqa: F401  (write_json: run folders' JSON files)
from .leases import LEASE_FILE, Lease, folder_is_stale, ttl_seconds
from .options import options_hash
from .record import INCOMPLETE_PREFIX

PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "scikit-learn-intelex", "daal", "scikit-image", "dlib-bin",
            "face_recognition_models", "tensorflow", "keras", "jax", "jaxlib", "torch", "joblib", "rich", "typer",
            "matplotlib", "pillow")


def config_hash(config: dict) -> str:
    """Hash of the options that determine a run's numbers (not n_jobs or output paths)."""
    return options_hash(config)


def make_run_id(config: dict, *, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    parts = [config["dataset"], config["model"], config.get("features") or "pixels", f"s{config['seed']}"]
    slug = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "-", str(part)) for part in parts)
    return f"{stamp}_{slug}_{config_hash(config)}"


def check_runs_dir(runs_dir: Path, *, option: str = "--reports-dir") -> None:
    """Up front, before any work: ``runs_dir`` is (or can be made) a folder this process can write in.

    Raises :class:`FerBenchError` (exit 2) naming the path: a file where a folder should be, a read-only or
    otherwise unwritable location.
    """
    ttl_seconds()  # a malformed $FER_BENCH_LEASE_TTL is refused here, before any work
    runs_dir = Path(runs_dir)
    for folder in (runs_dir.parent, runs_dir):
        if folder.exists() and not folder.is_dir():
            raise FerBenchError(f"{option} {runs_dir.parent}: {folder} is a file, expected a folder")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        problem = writable(runs_dir)
    except OSError as exc:
        problem = exc
    if problem is not None:
        raise FerBenchError(f"{option} {runs_dir.parent}: cannot write run folders in {runs_dir} "
                            f"({problem.strerror or type(problem).__name__})")


def clean_stale_incomplete(runs_dir: Path) -> list[str]:
    """Remove ``.incomplete-*`` folders that no live process owns (stale lease); returns one line per removal.

    Folders with a live lease (a run in progress here or on another host) are left alone.
    """
    removed = []
    if not Path(runs_dir).is_dir():
        return removed
    for folder in sorted(Path(runs_dir).glob(f"{INCOMPLETE_PREFIX}*")):
        if not folder.is_dir():
            continue
        stale, why = folder_is_stale(folder)
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(f"removed the abandoned run folder {folder.name} ({why})")
    return removed


@contextmanager
def run_folder(runs_dir: Path, run_id: str):
    """Yield a hidden temporary folder, leased to this process; rename it to ``runs_dir/run_id`` only when the
    body completes.

    Any exception (including Ctrl-C) removes the temporary folder, so nothing half-written looks finished; an
    OSError (disk full, folder gone read-only) becomes :class:`WorkFailedError` naming the folder. Complete run
    folders already there are never touched.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = runs_dir / f"{INCOMPLETE_PREFIX}{run_id}"
    tmp.mkdir()
    lease = Lease.acquire(tmp / LEASE_FILE)
    try:
        yield tmp
        if lease is not None:
            lease.release()
        os.replace(tmp, runs_dir / run_id)
    except BaseException as exc:
        if lease is not None:
            lease.release()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise WorkFailedError(f"cannot write the run folder {runs_dir / run_id} ({os_error_text(exc)}); "
                                  f"nothing of this run was kept") from None
        raise


class PhaseTimer:
    """Wall time per named phase, for the manifest."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def phase(self, name: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0

    def summary(self) -> dict:
        return {**{k: round(v, 3) for k, v in self.seconds.items()},
                "total": round(time.perf_counter() - self._start, 3)}


def git_commit() -> dict:
    """The commit of the fer-bench checkout (if it is one) and whether it had uncommitted changes."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """GPUs as nvidia-smi lists them (without importing TensorFlow); empty when there are none."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def system_info() -> dict:
    """Tool, Python and package versions, platform and hardware: what a figure needs to be traced."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "tool": "fer-bench", "tool_version": __version__, **{f"git_{k}": v for k, v in git_commit().items()},
        "python": sys.version.split()[0], "packages": versions,
        "platform": platform.platform(), "machine": platform.machine(), "hostname": platform.node(),
        "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "memory_gib": _memory_gib(), "gpus": _gpus(),
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
