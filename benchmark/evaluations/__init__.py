"""Evaluation modes: how an experiment's fitted models are scored, recorded, checked and reported.

- ``in-domain`` (:class:`InDomain`): by the dataset's own protocol;
- ``cross-dataset`` (:class:`CrossDatasetEvaluation`, ``--test-dataset``): on every image of another dataset.

Each mode is one class implementing :class:`Evaluation` (plan, score, record, verify, report section), registered
here with :func:`register_evaluation`; the experiment runner, the verifier, the report and the suite find a
config's or a run's mode with :func:`evaluation_for` / :func:`evaluation_of` and never name one. A new mode is its
own module and one line below (plus, where it has options, their declaration in ``benchmark.options``).
"""

from __future__ import annotations

from ._base import Evaluation, Plan, Scored
from ._cross_dataset import (TARGET_SPLIT, TOP_CLASS, CrossDatasetEvaluation, dropped_counts_of, load_target,
                             outside_counts, restricted_predictions, score_columns, target_config)
from ._in_domain import InDomain

#: Every mode, most specific first: a config's or a run's mode is the first that claims it (in-domain claims all).
EVALUATIONS: list[Evaluation] = []


def register_evaluation(evaluation: Evaluation, *, before: str | None = None) -> Evaluation:
    """Add a mode to :data:`EVALUATIONS` (before the mode named ``before``; by default before the catch-all
    in-domain mode)."""
    if any(e.name == evaluation.name for e in EVALUATIONS):
        raise ValueError(f"evaluation mode {evaluation.name!r} is already registered")
    names = [e.name for e in EVALUATIONS]
    at = names.index(before) if before in names else len(EVALUATIONS)
    EVALUATIONS.insert(at, evaluation)
    return evaluation


register_evaluation(InDomain())
register_evaluation(CrossDatasetEvaluation(), before=InDomain.name)


def evaluation_for(config) -> Evaluation:
    """The mode an experiment with ``config`` is evaluated in."""
    return next(e for e in EVALUATIONS if e.applies_to(config))


def evaluation_of(run) -> Evaluation:
    """The mode a recorded :class:`~benchmark.record.Run` was evaluated in."""
    return next(e for e in EVALUATIONS if e.recorded_in(run))


def foreign_options(evaluation: Evaluation) -> tuple[str, ...]:
    """The options other modes own: they resolve to None in ``evaluation``."""
    return tuple(o for e in EVALUATIONS if e is not evaluation for o in e.own_options if o not in evaluation.own_options)


__all__ = ["EVALUATIONS", "TARGET_SPLIT", "TOP_CLASS", "CrossDatasetEvaluation", "Evaluation", "InDomain", "Plan",
           "Scored", "dropped_counts_of", "evaluation_for", "evaluation_of", "foreign_options", "load_target",
           "outside_counts", "register_evaluation", "restricted_predictions", "score_columns", "target_config"]
