"""Evaluation protocols: which images fit, which select hyperparameters, which are reported.

- ``official-split`` (FER2013): fit on Training, select on PublicTest, report PrivateTest. PrivateTest is
  never passed to any selection step.
- ``subject-kfold`` (CK+, synthetic): stratified k-fold grouped by subject; hyperparameters are selected by an
  inner grouped CV inside each training fold. Folds depend only on labels, subjects, seed and k, so every model
  run on the same dataset and seed gets identical folds.
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from .datasets import OFFICIAL_SPLITS, Dataset
from .errors import FerBenchError


class LeakageError(FerBenchError):
    """A subject (or an image) appears on both sides of a split."""


@dataclass(frozen=True)
class Fold:
    """One train/test partition. ``val`` is the held-out selection set, or None for inner grouped CV."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray | None = None


@dataclass(frozen=True)
class Protocol:
    kind: str
    folds: tuple[Fold, ...]
    seed: int
    description: str
    column: str  # "split" or "fold": how splits.csv and predictions.csv name a sample's part
    title: str = ""  # how the console names it: "official split", "unofficial split", "subject k-fold"

    def assignments(self, dataset: Dataset) -> pd.DataFrame:
        """One row per sample: sample_id, subject, label and its fold (k-fold) or split (official)."""
        part = np.empty(len(dataset), dtype=object)
        if self.kind == "official-split":
            part[:] = dataset.splits
        else:
            for fold in self.folds:
                part[fold.test] = fold.name
        return pd.DataFrame({
            "sample_id": dataset.sample_ids,
            "subject": dataset.subjects if dataset.subjects is not None else "",
            "label": np.asarray(dataset.class_names)[dataset.labels],
            self.column: part,
        })

    def scored_parts(self, fold: Fold) -> list[tuple[np.ndarray, str]]:
        """The parts of ``fold`` a fitted model predicts, with the name predictions.csv gives each: the
        validation part first where there is one (FER2013's PublicTest), then the test part (PrivateTest, or the
        fold's name on k-fold protocols)."""
        test = (fold.test, fold.name if self.kind == "subject-kfold" else "PrivateTest")
        return [(fold.val, "PublicTest"), test] if self.kind == "official-split" else [test]

    def fingerprint(self, dataset: Dataset) -> str:
        """SHA-256 of the assignment table: equal fingerprints mean identical splits."""
        table = self.assignments(dataset)
        return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()

    def summary(self, dataset: Dataset) -> dict:
        return {"kind": self.kind, "description": self.description, "seed": self.seed, "n_folds": len(self.folds),
                "fingerprint": self.fingerprint(dataset),
                "sizes": {f.name: {"train": len(f.train), "val": None if f.val is None else len(f.val),
                                   "test": len(f.test)} for f in self.folds}}


def make_protocol(dataset: Dataset, *, seed: int = 0, folds: int = 10) -> Protocol:
    """The honest protocol for ``dataset``: its official split where it has one, else subject k-fold."""
    if dataset.splits is not None:
        return official_split(dataset, seed=seed)
    if dataset.subjects is None:
        raise FerBenchError(f"{dataset.name}: has neither an official split nor subject ids; cannot build an "
                            f"honest protocol")
    return subject_kfold(dataset, seed=seed, folds=folds)


def official_split(dataset: Dataset, *, seed: int = 0) -> Protocol:
    idx = {name: np.flatnonzero(dataset.splits == name) for name in OFFICIAL_SPLITS}
    for name, members in idx.items():
        if len(members) == 0:
            raise FerBenchError(f"{dataset.root}: the {name} split is empty; FER2013 needs Training, PublicTest "
                                f"and PrivateTest")
    fold = Fold("PrivateTest", train=idx["Training"], val=idx["PublicTest"], test=idx["PrivateTest"])
    check_independence(dataset, [fold])
    if getattr(dataset, "split_is_official", True) is False:
        return Protocol("official-split", (fold,), seed,
                        "NOT the official split: the test images carry no PublicTest_/PrivateTest_ prefixes and were "
                        "halved at random (seeded); fit on Training, select on the PublicTest half, report the "
                        "PrivateTest half", column="split", title="unofficial split")
    return Protocol("official-split", (fold,), seed, "fit on Training, select on PublicTest, report PrivateTest",
                    column="split", title="official split")


def subject_kfold(dataset: Dataset, *, seed: int = 0, folds: int = 10) -> Protocol:
    n_subjects = len(np.unique(dataset.subjects))
    if folds < 2:
        raise FerBenchError(f"--folds must be at least 2, got {folds}")
    if n_subjects < folds:
        raise FerBenchError(f"{dataset.name}: {n_subjects} subjects cannot fill {folds} subject-independent folds; "
                            f"use --folds {n_subjects} or fewer")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with _quiet_stratification():
        out = tuple(Fold(f"fold-{k}", train=np.sort(tr), test=np.sort(te))
                    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(dataset)), dataset.labels,
                                                                 dataset.subjects)))
    check_independence(dataset, out)
    return Protocol("subject-kfold", out, seed, f"{folds}-fold stratified, grouped by subject (seed {seed})",
                    column="fold", title="subject k-fold")


def check_independence(dataset: Dataset, folds) -> None:
    """Refuse any fold whose parts share an image or, where subjects are known, a subject."""
    for fold in folds:
        parts = {"train": fold.train, "test": fold.test}
        if fold.val is not None:
            parts["val"] = fold.val
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if np.intersect1d(parts[a], parts[b]).size:
                    raise LeakageError(f"{fold.name}: the same image is in both {a} and {b}")
                if dataset.subjects is not None:
                    shared = np.intersect1d(dataset.subjects[parts[a]], dataset.subjects[parts[b]])
                    if shared.size:
                        raise LeakageError(f"{fold.name}: subject {shared[0]} is in both {a} and {b} "
                                           f"({shared.size} shared subjects); refusing a subject-dependent split")


@contextmanager
def _quiet_stratification():
    """Silence scikit-learn's 'least populated class' warning: with subject groups, small CK+ classes cannot be
    spread evenly over every fold, which is expected and says nothing about the split's honesty."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        yield


def inner_folds_used(subjects: np.ndarray, folds: int) -> int:
    """The inner folds that can run on a training part: ``folds``, or fewer where it has fewer subjects (at least
    2). Runs record the value used per fold and say when it differs from the requested one."""
    return max(2, min(folds, len(np.unique(subjects))))


def inner_cv(subjects: np.ndarray, *, folds: int, seed: int) -> StratifiedGroupKFold:
    """The grouped CV that selects hyperparameters inside one training fold."""
    return StratifiedGroupKFold(n_splits=inner_folds_used(subjects, folds), shuffle=True, random_state=seed)


def carve_validation(dataset: Dataset, fold: Fold, *, folds: int, seed: int) -> Fold:
    """The fold with a validation part for models that select on held-out data (the CNNs).

    FER2013 already has one (PublicTest). In a k-fold training part, the first of ``folds`` stratified
    subject-grouped splits becomes validation, so no validation subject is ever trained on or tested.
    """
    if fold.val is not None:
        return fold
    subjects = dataset.subjects[fold.train]
    splitter = inner_cv(subjects, folds=folds, seed=seed)
    with _quiet_stratification():
        fit, val = next(splitter.split(np.zeros(len(fold.train)), dataset.labels[fold.train], subjects))
    carved = Fold(fold.name, train=fold.train[np.sort(fit)], test=fold.test, val=fold.train[np.sort(val)])
    check_independence(dataset, [carved])
    return carved
