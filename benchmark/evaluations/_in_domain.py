"""In-domain evaluation: the fold models are scored on the parts their dataset's own protocol reports (FER2013's
PrivateTest; every fold's test subjects on k-fold). Nothing to add to the run record; its runs fill the report's
per-dataset tables."""

from __future__ import annotations

import pandas as pd

from ..datasets import Dataset
from ..protocols import Protocol
from ..record import PREDICTIONS
from ._base import Evaluation, Plan, Scored


class InDomain(Evaluation):
    """Scored by the dataset's own protocol (the mode of every run no other mode claims)."""

    name = "in-domain"

    def applies_to(self, config) -> bool:
        return True

    def plan(self, protocol: Protocol, dataset: Dataset, others: tuple[Dataset, ...]) -> Plan:
        return Plan(protocol, dataset, tuple(dataset.class_names), others)

    def score(self, plan: Plan, result, config, protocol: Protocol, dataset: Dataset) -> Scored:
        return Scored(result.predictions)

    def recorded_in(self, run) -> bool:
        return True

    def model_test_images(self, run) -> tuple[pd.DataFrame, str, str]:
        return run.predictions, run.part_column, PREDICTIONS
