"""Writing files so that other processes (on this host or another sharing the folder) never see half of one.

Temporary names carry the host, the process and a uuid, so concurrent writers never share one; a file appears
under its real name only through ``os.replace``, which is atomic.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from pathlib import Path


def temporary_name(path: Path, what: str = "tmp") -> Path:
    """A hidden name beside ``path`` that no other writer uses at the same time."""
    path = Path(path)
    return path.with_name(f".{path.name}.{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:12]}.{what}")


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file; raises OSError and leaves no temporary behind."""
    tmp = temporary_name(path)
    try:
        with open(tmp, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def writable(folder: Path) -> OSError | None:
    """None when a file can be written into ``folder`` and renamed there (as the atomic writes do); else the
    OSError that says why not. Leaves nothing behind."""
    probe = temporary_name(Path(folder) / "write-probe")
    renamed = probe.with_name(probe.name + "-renamed")
    try:
        with open(probe, "w") as handle:  # the same kind of write, and the same rename, the atomic writes do
            handle.write("")
        os.replace(probe, renamed)
    except OSError as exc:
        return exc
    finally:
        for leftover in (probe, renamed):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass
    return None


def write_json(path: Path, data: dict) -> None:
    """``data`` as indented JSON (what run folders hold; values JSON cannot hold are written as text)."""
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
