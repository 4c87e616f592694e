"""Verifying run folders before a number from them is used: every check a run passes, in one place.

A run is used (by the report, a resumed suite, ``predict`` and ``export``) only when its files agree: the checks
every run passes (``benchmark.record``: identity, parts, samples, figures recomputed from the predictions), then
its evaluation mode's own (``benchmark.evaluations``; the source part and class mapping of a cross-dataset run).
"""

from __future__ import annotations

from pathlib import Path

from .errors import FerBenchError, exception_text
from .evaluations import EVALUATIONS, evaluation_of
from .record import INCOMPLETE_PREFIX, Broken, Run, check_identity, check_parts, read_run


def check_run(run: Run) -> str | None:
    """None when the run's predictions, splits and metrics agree, else the first disagreement, in one line."""
    evaluation = evaluation_of(run)
    reason = _check_mode(run, evaluation) or check_identity(run, evaluation.identity(run))
    return reason or check_parts(run) or evaluation.verify(run)


def _check_mode(run: Run, recorded) -> str | None:
    """config.json asks for the mode the run recorded (an edited config that asks for another would misfile the
    run's row)."""
    config = _Options(run.config)
    asked = next(e for e in EVALUATIONS if e.applies_to(config))
    if asked is not recorded:
        return (f"config.json asks for {asked.name} evaluation but metrics.json's protocol "
                f"{run.metrics.get('protocol')!r} is {recorded.name}")
    return None


class _Options:
    """config.json's entries as attributes (what :meth:`Evaluation.applies_to` reads of a config)."""

    def __init__(self, config: dict) -> None:
        self._config = config

    def __getattr__(self, name: str):
        return self._config.get(name)


def verify_runs(runs: list[Run]) -> tuple[list[Run], list[tuple[str, str]]]:
    """The runs whose files agree, and (run id, reason) for every run whose files do not."""
    good, inconsistent = [], []
    for run in runs:
        try:
            reason = check_run(run)
        except Exception as exc:  # files damaged in a way no check foresaw: never used, never a crash
            reason = f"cannot be checked ({exception_text(exc)})"
        if reason is None:
            good.append(run)
        else:
            inconsistent.append((run.run_id, reason))
    return good, inconsistent


def load_run(folder: Path) -> Run:
    """One complete run folder whose files agree with each other (:func:`check_run`), for commands that use a
    run's models (``predict``, ``export``); anything else is a :class:`FerBenchError` (exit 2) naming the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FerBenchError(f"{folder}: no such run folder (runs are under <reports>/runs/)")
    if folder.name.startswith(INCOMPLETE_PREFIX):
        raise FerBenchError(f"{folder}: an incomplete run (still running, or abandoned by a killed process)")
    try:
        run = read_run(folder)
    except Broken as exc:
        raise FerBenchError(f"{folder}: not a complete run ({exc})") from None
    except Exception as exc:
        raise FerBenchError(f"{folder}: unreadable run ({exception_text(exc)})") from None
    problem = check_run(run)
    if problem is not None:
        raise FerBenchError(f"{folder}: its files disagree ({problem}); not using it")
    return run


__all__ = ["check_run", "load_run", "verify_runs"]
