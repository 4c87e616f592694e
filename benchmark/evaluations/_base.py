"""What every evaluation mode provides: how an experiment's fitted models are scored, recorded, checked and reported.

An experiment fits and selects on its dataset by the dataset's own protocol whatever the mode (the model kind is
never told the mode); the mode then decides which images the fold models score for the headline figures, what
the run folder records beyond the common files, how a recorded run of the mode is checked, and which report section
shows it. The experiment runner, the verifier, the report and the suite call this interface and never name a mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pandas as pd

from ..datasets import Dataset
from ..protocols import Protocol
from ..record import SourcePart


@dataclass
class Plan:
    """What an experiment will score, settled (and checked) before any work starts.

    ``reported`` is the protocol whose parts carry the headline figures and ``scored`` the dataset it assigns
    (the experiment's own protocol and dataset in-domain; the target's assignment across datasets); ``class_names``
    are the classes of the headline figures; ``others`` the datasets loaded beside the experiment's own."""

    reported: Protocol
    scored: Dataset
    class_names: tuple
    others: tuple[Dataset, ...] = ()


@dataclass
class Scored:
    """The headline predictions and what the mode adds to the run record: identity entries (``header``, after
    metrics.json's own), figures (``extra``, after the model kind's), provenance (``manifest``) and the source's
    own part (cross-dataset runs)."""

    predictions: pd.DataFrame
    header: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    source: SourcePart | None = None


class Evaluation:
    """One evaluation mode. ``name`` is how errors and listings call it; ``report_section`` the heading of its own
    report section (None: its runs fill the report's per-dataset tables)."""

    name: ClassVar[str]
    report_section: ClassVar[str | None] = None
    #: the options only this mode uses (they resolve to None in every other mode)
    own_options: ClassVar[tuple[str, ...]] = ()
    #: the phase of the run's wall time (manifest.json) that scoring takes, where it is a phase of its own
    phase: ClassVar[str | None] = None

    # ------------------------------------------------------------------------------------------------ plan
    def applies_to(self, config) -> bool:  # pragma: no cover - abstract
        """Whether an experiment with ``config`` (a :class:`~benchmark.options.RunConfig`) is evaluated so."""
        raise NotImplementedError

    def unused_options(self, config, unused: tuple[str, ...]) -> tuple[str, ...]:
        """``unused`` (the options the protocol and dataset cannot use) adjusted for this mode; a config the mode
        cannot run is a :class:`~benchmark.errors.FerBenchError` naming the option."""
        return unused

    def data_configs(self, config) -> list:
        """The configs of the datasets this mode loads beside the experiment's own (none in-domain)."""
        return []

    def plan(self, protocol: Protocol, dataset: Dataset, others: tuple[Dataset, ...]) -> Plan:
        """What will be scored; a combination that cannot be scored is a FerBenchError, before any work."""
        raise NotImplementedError  # pragma: no cover - abstract

    def announce(self, plan: Plan) -> list[str]:
        """Lines said before the work starts (what will be scored, what is dropped)."""
        return []

    def label(self, config) -> str:
        """How listings name the experiment's data: the dataset, and where the mode scores another, that one."""
        return config.dataset

    # ------------------------------------------------------------------------------------------------ score
    def score(self, plan: Plan, result, config, protocol: Protocol, dataset: Dataset) -> Scored:
        """The headline predictions from the model kind's :class:`~benchmark.kinds.FitResult` (its predictions of
        the protocol's parts and its fold models), and what the run record adds."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ------------------------------------------------------------------------------------------------ recorded runs
    def recorded_in(self, run) -> bool:  # pragma: no cover - abstract
        """Whether a recorded :class:`~benchmark.record.Run` was evaluated so."""
        raise NotImplementedError

    def identity(self, run) -> dict:
        """metrics.json entries this mode adds to a run's identity, with the values config.json and manifest.json
        give them (checked like dataset, model and seed)."""
        return {}

    def verify(self, run) -> str | None:
        """The checks only this mode's runs need (the common ones have passed): None, or the first disagreement."""
        return None

    def other_datasets(self, run) -> list[dict]:
        """The manifest summaries (name, fingerprint...) of the datasets a recorded run read beside its own (a
        resumed suite matches on their fingerprints; the report's provenance lists them)."""
        return []

    def experiment_options(self, run) -> dict:
        """What this mode adds to what identifies a run's experiment in the report (the other data's)."""
        return {}

    def model_test_images(self, run) -> tuple[pd.DataFrame, str, str]:
        """(the table of the run's models' own test predictions, its part column, its file name): what an export
        of the run's models is checked on."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ------------------------------------------------------------------------------------------------ report
    def report_tables(self, runs: list, kit) -> list:
        """The tables of this mode's own report section (``report_section``), built with ``kit`` (the report's
        table toolkit: ``benchmark.report`` hands it in, as the report sits above the modes)."""
        return []
