"""Writing the report's outputs so that a failure never leaves them half-written.

:func:`check_writable` runs before any work: a reports folder that cannot take the outputs (a file where
``tables/`` or ``figures/`` should be, no permission) is a problem the user can fix before anything is computed
(:class:`FerBenchError`, exit 2). :func:`staged` then gives a hidden staging folder to build ``tables/``,
``figures/`` and ``report.md``/``.tex`` in, and swaps them in only when all are written; an OS error while
writing (a full disk) removes the staging folder, leaves the previous report as it was and raises
:class:`WorkFailedError` (exit 1).
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import FerBenchError, WorkFailedError, os_error_text
from ..files import temporary_name, writable

#: What the report writes into the reports folder (beside runs/).
OUTPUT_FOLDERS = ("tables", "figures")
OUTPUT_FILES = ("report.md", "report.tex", "provenance.tex", "references.bib")
STAGING = ".report-staging"
#: A staging folder untouched this long was left by a killed build and is removed.
STALE_STAGING_SECONDS = 3600




def check_writable(reports_dir: Path) -> None:
    """Raise :class:`FerBenchError` naming the path if the report's outputs cannot be written there."""
    reports_dir = Path(reports_dir)
    for name in OUTPUT_FOLDERS:
        path = reports_dir / name
        if path.exists() and not path.is_dir():
            raise FerBenchError(f"{path} is a file where the report writes a folder; move or remove it")
    for name in OUTPUT_FILES:
        path = reports_dir / name
        if path.is_dir():
            raise FerBenchError(f"{path} is a folder where the report writes a file; move or remove it")
    problem = writable(reports_dir)
    if problem is not None:
        raise FerBenchError(f"{reports_dir}: cannot write the report there ({os_error_text(problem)})")


@contextmanager
def staged(reports_dir: Path):
    """Yield a staging folder holding empty ``tables/`` and ``figures/``; when the body returns, move its
    outputs into ``reports_dir`` (replacing the previous ones). Any failure removes the staging folder, so the
    previous report stays whole; an :class:`OSError` becomes a one-line :class:`WorkFailedError`."""
    reports_dir = Path(reports_dir)
    _remove_stale_staging(reports_dir)
    stage = temporary_name(reports_dir / STAGING.lstrip("."), "build")  # .report-staging.<host-pid-uuid>.build
    try:
        for name in OUTPUT_FOLDERS:
            (stage / name).mkdir(parents=True)
        yield stage
        for name in OUTPUT_FOLDERS:
            target, previous = reports_dir / name, stage / f"previous-{name}"
            if target.exists():
                os.replace(target, previous)
            try:
                os.replace(stage / name, target)
            except OSError:
                if previous.exists():
                    os.replace(previous, target)
                raise
        for name in OUTPUT_FILES:
            os.replace(stage / name, reports_dir / name)
    except OSError as exc:
        raise WorkFailedError(f"could not write the report into {reports_dir}: {os_error_text(exc)}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _remove_stale_staging(reports_dir: Path) -> None:
    """Staging folders left by builds that were killed (untouched for an hour); live builds are left alone."""
    for folder in Path(reports_dir).glob(f"{STAGING}*"):
        try:
            if folder.is_dir() and time.time() - folder.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass
