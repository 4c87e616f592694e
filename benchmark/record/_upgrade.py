"""Older run records read in today's terms: the one place that knows how earlier schema versions recorded a fact.

A run folder is never rewritten; :func:`upgrade` reads its JSON files as they are and returns the facts the
current schema records directly (:class:`RunFacts`), so :class:`~benchmark.record.Run` has no fallbacks of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protocols import PROTOCOLS
from ._schema import DUPLICATES_MARKED_SINCE, LEGACY_CNN_KIND, LEGACY_SVM_KIND


@dataclass(frozen=True)
class RunFacts:
    """What every run record version says, as the current version says it."""

    #: the run record's schema (1 for runs written before manifests recorded one)
    schema_version: int
    #: the model kind's name (``benchmark.kinds``)
    kind: str
    #: the part the run's headline figures come from where results are not per fold (PrivateTest, target)
    test_split: str
    #: False where FER2013's test folder had no split prefixes and was halved at random (seeded)
    split_is_official: bool
    #: whether predictions.csv flags the test images with a pixel-identical copy where the models fitted or selected
    #: (``benchmark.metrics.DUPLICATE_COLUMN``) and metrics.json scores the others: every run since version 4 on a
    #: protocol that marks duplicates (the official split); runs before have neither
    marks_duplicates: bool


def upgrade(config: dict, metrics: dict, manifest: dict) -> RunFacts:
    """The facts of a run record of any version up to the current one.

    - ``schema_version``: absent before version 2, which is version 1;
    - ``kind``: metrics.json records it since version 2; earlier runs are told apart by what only CNN runs record
      (a parameter count, ``n_params``);
    - ``test_split``: every run of a non-k-fold protocol before cross-dataset runs reported PrivateTest;
    - ``split_is_official``: the manifest's dataset entry records it since version 2; earlier runs are judged by
      the note their loader left ("NOT the official split");
    - ``marks_duplicates``: since version 4, on a protocol that marks duplicates; earlier runs' predictions.csv has
      no such column and their metrics.json no figure without duplicates (absent, never guessed).
    """
    data = manifest.get("dataset") or {}
    if data.get("split_is_official") is not None:
        official = bool(data["split_is_official"])
    else:
        official = "NOT the official split" not in " ".join(data.get("notes") or [])
    kind = metrics.get("kind") or (LEGACY_CNN_KIND if metrics.get("n_params") else LEGACY_SVM_KIND)
    version = int(manifest.get("schema_version", 1))
    protocol = PROTOCOLS.get(metrics.get("protocol"))
    marks = version >= DUPLICATES_MARKED_SINCE and getattr(protocol, "duplicates_looked_for_in", None) is not None
    return RunFacts(schema_version=version, kind=kind, test_split=metrics.get("test_split", "PrivateTest"),
                    split_is_official=official, marks_duplicates=marks)
