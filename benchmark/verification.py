"""Verifying run folders before a number from them is used: every check a run passes, in one place.

A run is used (by the report, a resumed suite, ``predict`` and ``export``) only when its files agree: the checks
every run passes (``benchmark.record``: identity, parts, samples, figures recomputed from the predictions), then
its evaluation mode's own (``benchmark.evaluations``; the source part and class mapping of a cross-dataset run).
Then the runs are checked against each other where their files must agree: every run on the same data flags the
same images as copies of Training or PublicTest images (:func:`disagreeing_duplicate_flags`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from .errors import FerBenchError, exception_text
from .evaluations import EVALUATIONS, evaluation_of
from .metrics import DUPLICATE_COLUMN, duplicate_flags
from .record import INCOMPLETE_PREFIX, Broken, Run, check_identity, check_parts, read_run, runs_inside


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
    disagreeing = disagreeing_duplicate_flags(good)
    inconsistent += [(run.run_id, disagreeing[run.run_id]) for run in good if run.run_id in disagreeing]
    return [run for run in good if run.run_id not in disagreeing], inconsistent


def disagreeing_duplicate_flags(runs: list[Run]) -> dict[str, str]:
    """Run id -> reason, for the runs whose predictions.csv flags other images as copies of Training or PublicTest
    images than the other runs on the same data (same dataset fingerprint and protocol) do.

    The flags come from the images alone, so they are the same in every run on that data. A run's own check can
    only see that its figures agree with its column; a column edited together with its figures shows here. The
    flags most runs share are taken as right; where two sets are equally common, neither can be told right and
    every run of that data that does not share one set with a majority is left out."""
    groups: dict[tuple, list[tuple[str, frozenset]]] = defaultdict(list)
    for run in runs:
        if DUPLICATE_COLUMN in run.predictions.columns:
            rows = run.predictions
            flagged = frozenset(rows.loc[duplicate_flags(rows[DUPLICATE_COLUMN]), "sample_id"])
            groups[(run.manifest["dataset"]["fingerprint"], run.metrics["protocol"])].append((run.run_id, flagged))
    reasons = {}
    for members in groups.values():
        ranked = Counter(flagged for _, flagged in members).most_common()
        majority = ranked[0][0] if len(ranked) == 1 or ranked[0][1] > ranked[1][1] else None
        for run_id, flagged in members:
            if flagged != majority:
                others = sorted({len(f) for _, f in members if f != flagged})
                reasons[run_id] = (f"predictions.csv flags {len(flagged)} images in {DUPLICATE_COLUMN}, other runs "
                                   f"on the same data flag other images ({' or '.join(map(str, others))}); the "
                                   f"flags come from the images, so they must agree")
    return reasons


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
        raise FerBenchError(f"{folder}: not a complete run ({exc}){runs_inside(folder)}") from None
    except Exception as exc:
        raise FerBenchError(f"{folder}: unreadable run ({exception_text(exc)})") from None
    problem = check_run(run)
    if problem is not None:
        raise FerBenchError(f"{folder}: its files disagree ({problem}); not using it")
    return run


__all__ = ["check_run", "load_run", "verify_runs"]
