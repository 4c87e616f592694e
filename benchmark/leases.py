"""Leases: who owns a folder or an experiment right now, in a form that a killed process cannot leave stuck.

A lease is a small JSON file (host, pid, a unique token, start and heartbeat times) created exclusively
(``O_EXCL``), so of two processes asking for the same lease exactly one gets it. While a process holds leases a
daemon thread rewrites their heartbeat every :data:`HEARTBEAT_SECONDS`. A lease is *stale*, and may be taken
over or cleaned up, when its heartbeat is older than :func:`ttl_seconds` or when it names a process on this
host that no longer runs. A process id alone cannot tell liveness once suites run on several hosts sharing one
reports folder; the heartbeat can.

Used for the ``.incomplete-<run id>`` folder of a run in progress (``lease.json`` inside it) and for the
per-experiment claims of ``fer-bench suite`` (``reports/.claims/<key>.json``).
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import FerBenchError
from .files import write_text_atomically

HEARTBEAT_SECONDS = 30.0
#: A lease whose heartbeat is older than this is stale (``$FER_BENCH_LEASE_TTL`` overrides, in seconds).
DEFAULT_TTL_SECONDS = 300.0
LEASE_FILE = "lease.json"


def ttl_seconds() -> float:
    """The lease TTL in seconds; ``$FER_BENCH_LEASE_TTL`` must be a positive number when set."""
    raw = os.environ.get("FER_BENCH_LEASE_TTL")
    if raw is None:
        return DEFAULT_TTL_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise FerBenchError(f"FER_BENCH_LEASE_TTL={raw!r}: expected a positive number of seconds")
    return value


def _now() -> float:
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LeaseInfo:
    """What a lease file says, and whether it is still held."""

    host: str
    pid: int
    token: str
    heartbeat: float
    stale: bool

    def describe(self) -> str:
        age = max(0, int(_now() - self.heartbeat))
        state = "stale" if self.stale else "live"
        return f"{state} lease of process {self.pid} on {self.host}, heartbeat {age} s ago"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def read_lease(path: Path) -> LeaseInfo | None:
    """The lease at ``path``, or None when there is none (or it is unreadable, which counts as no owner)."""
    try:
        data = json.loads(Path(path).read_text())
        host, pid, token, beat = str(data["host"]), int(data["pid"]), str(data["token"]), float(data["heartbeat"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    stale = _now() - beat > ttl_seconds() or (host == socket.gethostname() and not _pid_alive(pid))
    return LeaseInfo(host, pid, token, beat, stale)


def folder_is_stale(folder: Path) -> tuple[bool, str]:
    """Whether an ``.incomplete-*`` folder is abandoned, with a one-line reason.

    Folders written before leases existed (no ``lease.json``) count as stale once untouched for the lease TTL.
    """
    lease = read_lease(Path(folder) / LEASE_FILE)
    if lease is not None:
        return lease.stale, lease.describe()
    try:
        age = _now() - Path(folder).stat().st_mtime
    except OSError:
        return False, "vanished"
    if age > ttl_seconds():
        return True, f"no lease, untouched for {int(age)} s"
    return False, f"no lease yet, modified {int(age)} s ago"


class Lease:
    """A lease held by this process; create with :meth:`acquire`, end with :meth:`release`."""

    def __init__(self, path: Path, token: str) -> None:
        self.path = Path(path)
        self.token = token
        self.started = _now()

    @classmethod
    def acquire(cls, path: Path, *, take_over_stale: bool = True) -> "Lease | None":
        """Take the lease at ``path``; None when another live process holds it. A stale one is taken over."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lease = cls(path, uuid.uuid4().hex)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                held = read_lease(path)
                if held is not None and not held.stale:
                    return None
                if held is None and path.exists() and _now() - path.stat().st_mtime < ttl_seconds():
                    return None  # being written right now by its owner
                if not take_over_stale:
                    return None
                # move the stale lease aside under a unique name; if what was moved turns out to be a fresh
                # lease (another process took over in between), put it back (link fails if the name is taken)
                aside = path.with_name(f".{path.name}.stale-{lease.token}")
                try:
                    os.replace(path, aside)
                except FileNotFoundError:
                    continue
                moved = read_lease(aside)
                if moved is not None and not moved.stale:
                    try:
                        os.link(aside, path)
                    except OSError:
                        pass
                    aside.unlink(missing_ok=True)
                    return None
                aside.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(lease._payload())
            _HEARTBEAT.add(lease)
            return lease
        return None

    def _payload(self) -> str:
        now = _now()
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                           "started_utc": _iso(self.started), "heartbeat": now, "heartbeat_utc": _iso(now)})

    def refresh(self) -> None:
        """Rewrite the heartbeat (atomically), if the lease is still ours."""
        held = read_lease(self.path)
        if held is None or held.token != self.token:
            return
        try:
            write_text_atomically(self.path, self._payload())
        except OSError:
            pass  # a missed heartbeat; the next one tries again

    def release(self) -> None:
        """Stop the heartbeat and remove the lease file if it is still ours."""
        _HEARTBEAT.discard(self)
        held = read_lease(self.path)
        if held is not None and held.token == self.token:
            self.path.unlink(missing_ok=True)


class _Heartbeat:
    """One daemon thread per process that refreshes every lease the process holds."""

    def __init__(self) -> None:
        self._leases: set[Lease] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._leases.add(lease)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="fer-bench-lease-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, lease: Lease) -> None:
        with self._lock:  # waits for a refresh in progress, so none rewrites a lease after its release
            self._leases.discard(lease)

    def _loop(self) -> None:
        while True:
            try:
                pause = min(HEARTBEAT_SECONDS, ttl_seconds() / 3)
            except FerBenchError:  # refused where the lease was taken; the heartbeat keeps its default pace
                pause = HEARTBEAT_SECONDS
            time.sleep(pause)
            with self._lock:
                for lease in list(self._leases):
                    lease.refresh()


_HEARTBEAT = _Heartbeat()
