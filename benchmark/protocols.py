"""Evaluation protocols: which images fit, which select hyperparameters, which are reported.

Each protocol is a class that owns everything that depends on it: its recorded name, how predictions and splits
name a sample's part, which parts a fitted model predicts, how each kind of model selects without test data (and
how that is worded), which options do not apply to it, and how the report captions and compares its results.

- :class:`OfficialSplit` (``official-split``, FER2013): fit on Training, select on PublicTest, report
  PrivateTest. PrivateTest is never passed to any selection step. Its predictions flag the test images that have a
  pixel-identical copy in Training or PublicTest (:meth:`OfficialSplit.mark_duplicates`), so the accuracy without
  them is reported beside the official one.
- :class:`SubjectKFold` (``subject-kfold``, CK+, synthetic): stratified k-fold grouped by subject; hyperparameters
  are selected by an inner grouped CV inside each training fold. Folds depend only on labels, subjects, seed and
  k, so every model run on the same dataset and seed gets identical folds.

- :class:`CrossDataset` (``cross-dataset``, ``--test-dataset``): the source dataset is fitted and selected by its
  own protocol (one of the above); every image of another dataset, of a class the source knows, is then scored
  once by the source's model (the mean over its fold models on k-fold). Its one tested part is ``target``.

A new protocol is one more subclass registered in :data:`PROTOCOLS`.
"""

from __future__ import annotations

import hashlib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from .datasets import DATASETS, OFFICIAL_SPLITS, Dataset, class_mapping
from .errors import FerBenchError
from .metrics import DUPLICATE_COLUMN


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
    """The folds of one protocol on one dataset, and what the protocol decides (class attributes and methods).

    ``name`` is what run folders record (``metrics.json["protocol"]``); ``column`` names a sample's part in
    ``splits.csv`` and ``predictions.csv``; ``per_fold`` says whether results and chosen hyperparameters come
    per fold; ``validation_split`` names the held-out part models select on, where the protocol has one (each
    model kind words how it selects, see ``benchmark.kinds``).
    """

    folds: tuple[Fold, ...]
    seed: int
    description: str
    title: str  # how the console names it: "official split", "unofficial split", "subject k-fold"

    name: ClassVar[str]
    column: ClassVar[str]
    per_fold: ClassVar[bool]
    validation_split: ClassVar[str | None]  # the held-out part models select on (None: they carve their own)
    test_part: ClassVar[str | None] = None  # the part reported where results are not per fold
    #: whether the protocol scores another dataset than the models were fitted on (their own protocol's folds and
    #: figures are then recorded as the run's source part)
    scores_another_dataset: ClassVar[bool] = False
    #: the parts in which :meth:`mark_duplicates` looks for a pixel-identical copy of each test image, as captions
    #: name them ("Training or PublicTest"); None where the protocol marks no duplicates (k-fold: every image is a
    #: test image once, so no part stands apart as the one the models fitted and selected on)
    duplicates_looked_for_in: ClassVar[str | None] = None

    @classmethod
    def report_caption(cls, runs) -> str:  # pragma: no cover - abstract
        """How the report's summary caption describes this protocol for these runs (record.Run objects)."""
        raise NotImplementedError

    def assignments(self, dataset: Dataset) -> pd.DataFrame:
        """One row per sample: sample_id, subject, label and its part (fold or split)."""
        return pd.DataFrame({
            "sample_id": dataset.sample_ids,
            "subject": dataset.subjects if dataset.subjects is not None else "",
            "label": np.asarray(dataset.class_names)[dataset.labels],
            self.column: self._parts(dataset),
        })

    def _parts(self, dataset: Dataset) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def scored_parts(self, fold: Fold) -> list[tuple[np.ndarray, str]]:  # pragma: no cover - abstract
        """The parts of ``fold`` a fitted model predicts, each with the name predictions.csv gives it."""
        raise NotImplementedError

    def progress_label(self, fold: Fold) -> str:  # pragma: no cover - abstract
        """What a training progress bar calls this fold."""
        raise NotImplementedError

    def mark_duplicates(self, predictions: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
        """``predictions`` (the rows of predictions.csv) with :data:`~benchmark.metrics.DUPLICATE_COLUMN` where the
        protocol marks duplicates (:attr:`duplicates_looked_for_in`); unchanged where it does not."""
        return predictions

    def fingerprint(self, dataset: Dataset) -> str:
        """SHA-256 of the assignment table: equal fingerprints mean identical splits."""
        table = self.assignments(dataset)
        return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()

    def summary(self, dataset: Dataset, selection: str | None = None) -> dict:
        """What a manifest records about the protocol (``selection``: how the run's model selected)."""
        return {"kind": self.name, "description": self.description, "seed": self.seed, "n_folds": len(self.folds),
                "fingerprint": self.fingerprint(dataset),
                "sizes": {f.name: {"train": len(f.train), "val": None if f.val is None else len(f.val),
                                   "test": len(f.test)} for f in self.folds},
                **({"selection": selection} if selection else {})}

    @staticmethod
    def unused_options(selects_by_search: bool) -> tuple[str, ...]:  # pragma: no cover - abstract
        """Options that cannot change a run under this protocol (they resolve to None, so they never split an
        experiment in two); ``selects_by_search`` is true for models that search a grid (the SVMs)."""
        raise NotImplementedError


class OfficialSplit(Protocol):
    """FER2013's official split: fit on Training, select on PublicTest, report PrivateTest."""

    name = "official-split"
    column = "split"
    per_fold = False
    validation_split = "PublicTest"
    test_part = "PrivateTest"
    duplicates_looked_for_in = "Training or PublicTest"

    @classmethod
    def report_caption(cls, runs) -> str:
        if all(run.official_split for run in runs):
            return "official split: trained on Training, selected on PublicTest, PrivateTest reported"
        return ("trained on Training, selected on PublicTest, PrivateTest reported; NOT the official split: the "
                "test images had no split prefixes and were halved at random (seeded)")

    def _parts(self, dataset: Dataset) -> np.ndarray:
        return np.asarray(dataset.splits, dtype=object)

    def scored_parts(self, fold: Fold) -> list[tuple[np.ndarray, str]]:
        """PublicTest (the validation figure) first, then PrivateTest (the reported one)."""
        return [(fold.val, "PublicTest"), (fold.test, "PrivateTest")]

    def progress_label(self, fold: Fold) -> str:
        return "Training"

    def mark_duplicates(self, predictions: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
        """Each row flagged where its image has a pixel-identical copy among the images the models were fitted or
        selected on: a PrivateTest image with one in Training or PublicTest, a PublicTest image with one in Training
        (a copy within the image's own split does not count; blank images count like any other)."""
        flags = self.duplicate_flags(dataset)
        position = {str(sid): i for i, sid in enumerate(dataset.sample_ids.tolist())}
        marked = predictions.copy()
        marked[DUPLICATE_COLUMN] = flags[[position[str(sid)] for sid in predictions.sample_id.tolist()]]
        return marked

    def duplicate_flags(self, dataset: Dataset) -> np.ndarray:
        """Per image of ``dataset``: a test image with a pixel-identical copy in the training or validation part, or a
        validation image with one in the training part (training images are never flagged)."""
        (fold,) = self.folds
        digests = pixel_hashes(dataset.images)  # each image hashed once
        training = {digests[i] for i in fold.train}
        seen = training | {digests[i] for i in fold.val}
        flags = np.zeros(len(dataset), dtype=bool)
        flags[fold.val] = [digests[i] in training for i in fold.val]
        flags[fold.test] = [digests[i] in seen for i in fold.test]
        return flags

    @staticmethod
    def unused_options(selects_by_search: bool) -> tuple[str, ...]:
        # no outer folds; a grid search selects on PublicTest, so its inner folds never run (CNNs keep theirs in
        # the config, as they always did, so their config hashes, and resumed suites, stay as they were)
        return ("folds", "inner_folds") if selects_by_search else ("folds",)

    @classmethod
    def build(cls, dataset: Dataset, *, seed: int = 0, folds: int | None = None) -> "OfficialSplit":
        idx = {name: np.flatnonzero(dataset.splits == name) for name in OFFICIAL_SPLITS}
        for name, members in idx.items():
            if len(members) == 0:
                raise FerBenchError(f"{dataset.root}: the {name} split is empty; FER2013 needs Training, "
                                    f"PublicTest and PrivateTest")
        fold = Fold("PrivateTest", train=idx["Training"], val=idx["PublicTest"], test=idx["PrivateTest"])
        check_independence(dataset, [fold])
        if getattr(dataset, "split_is_official", True) is False:
            return cls((fold,), seed, "NOT the official split: the test images carry no PublicTest_/PrivateTest_ "
                       "prefixes and were halved at random (seeded); fit on Training, select on the PublicTest "
                       "half, report the PrivateTest half", "unofficial split")
        return cls((fold,), seed, "fit on Training, select on PublicTest, report PrivateTest", "official split")


class SubjectKFold(Protocol):
    """Stratified k-fold grouped by subject, selection inside each training fold."""

    name = "subject-kfold"
    column = "fold"
    per_fold = True
    validation_split = None

    @classmethod
    def report_caption(cls, runs) -> str:
        folds = sorted({len(run.metrics.get("folds", {})) for run in runs})
        return f"subject-independent {'/'.join(map(str, folds))}-fold cross-validation, mean ± std over folds"

    def _parts(self, dataset: Dataset) -> np.ndarray:
        part = np.empty(len(dataset), dtype=object)
        for fold in self.folds:
            part[fold.test] = fold.name
        return part

    def scored_parts(self, fold: Fold) -> list[tuple[np.ndarray, str]]:
        return [(fold.test, fold.name)]

    def progress_label(self, fold: Fold) -> str:
        return fold.name

    @staticmethod
    def unused_options(selects_by_search: bool) -> tuple[str, ...]:
        # inner grouped CV always tries the whole grid: no choice of search
        return ("halving_min_samples", "search")

    @classmethod
    def build(cls, dataset: Dataset, *, seed: int = 0, folds: int | None = 10) -> "SubjectKFold":
        if dataset.subjects is None:
            raise FerBenchError(f"{dataset.name}: has neither an official split nor subject ids; cannot build an "
                                f"honest protocol")
        folds = 10 if folds is None else folds
        n_subjects = len(np.unique(dataset.subjects))
        if folds < 2:
            raise FerBenchError(f"--folds must be at least 2, got {folds}")
        if n_subjects < folds:
            raise FerBenchError(f"{dataset.name}: {n_subjects} subjects cannot fill {folds} subject-independent "
                                f"folds; " + (f"use --folds {n_subjects} or fewer" if n_subjects >= 2 else
                                              "subject-independent evaluation needs at least 2 subjects"))
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with _quiet_stratification():
            out = tuple(Fold(f"fold-{k}", train=np.sort(tr), test=np.sort(te))
                        for k, (tr, te) in enumerate(splitter.split(np.zeros(len(dataset)), dataset.labels,
                                                                     dataset.subjects)))
        check_independence(dataset, out)
        for fold in out:  # the inner CV (or a CNN's validation carve-out) splits each training part by subject
            n_train_subjects = len(np.unique(dataset.subjects[fold.train]))
            if n_train_subjects < 2:
                raise FerBenchError(f"{dataset.name}: {fold.name} has {n_train_subjects} subject in its training "
                                    f"part; selection inside it needs at least 2" + (
                                        ": use fewer --folds" if folds > 2 else
                                        f" (the data has only {n_subjects} subjects)"))
        return cls(out, seed, f"{folds}-fold stratified, grouped by subject (seed {seed})", "subject k-fold")


@dataclass(frozen=True, eq=False)
class CrossDataset(Protocol):
    """Fit and select on a source dataset by its own protocol (:attr:`source`); score another dataset's images.

    Its assignments are the target's images: ``target`` (scored once), ``class-not-in-source`` (a class the
    source never learned, e.g. CK+'s contempt for a FER2013 model) or ``image-in-source`` (pixel-identical to a
    source image, which the source's models may have trained on: FER+ holds FER2013's images). The last two are
    dropped and counted, never scored.
    """

    source: Protocol | None = None
    source_dataset: Dataset | None = None
    mapping: object = None  # datasets._emotions.ClassMapping
    parts: np.ndarray | None = None

    name = "cross-dataset"
    scores_another_dataset = True
    column = "part"
    per_fold = False
    validation_split = None
    test_part = "target"
    #: Why a target image is not scored, by the part splits.csv gives it.
    DROPPED = ("class-not-in-source", "image-in-source")

    @classmethod
    def report_caption(cls, runs) -> str:
        return ("cross-dataset: fitted and selected on the source by its own protocol, every target image of an "
                "emotion the source knows scored once; accuracy and macro-F1 over the shared emotions")

    def _parts(self, dataset: Dataset) -> np.ndarray:
        return self.parts

    def scored_parts(self, fold: Fold) -> list[tuple[np.ndarray, str]]:
        return [(fold.test, self.test_part)]

    def progress_label(self, fold: Fold) -> str:
        return "target"

    @staticmethod
    def unused_options(selects_by_search: bool) -> tuple[str, ...]:
        return ()  # options resolve by the source's own protocol

    def summary(self, dataset: Dataset, selection: str | None = None) -> dict:
        """The target's assignment (fingerprint, scored and dropped counts) with the source protocol's own summary
        (its folds, their sizes and fingerprint) under ``source``; ``train`` is None: the target trains nothing."""
        dropped = {part: int((self.parts == part).sum()) for part in self.DROPPED}
        return {"kind": self.name, "description": self.description, "seed": self.seed, "n_folds": 1,
                "fingerprint": self.fingerprint(dataset),
                "sizes": {self.test_part: {"train": None, "val": None, "test": len(self.folds[0].test)}},
                "dropped": dropped,
                "source": self.source.summary(self.source_dataset, selection)}

    @classmethod
    def build(cls, source_protocol: Protocol, source: Dataset, target: Dataset) -> "CrossDataset":
        """The target's assignment for a model fitted on ``source`` under ``source_protocol``: classes matched
        through the canonical emotion table (no shared emotion, or nothing left to score, is refused)."""
        mapping = class_mapping(source.class_names, target.class_names, source=source.name, target=target.name)
        shared = np.isin(target.labels, [t for _, _, t in mapping.shared])
        in_source = copies_in(target.images, source.images)
        parts = np.where(~shared, cls.DROPPED[0], np.where(in_source, cls.DROPPED[1], cls.test_part)).astype(object)
        scored = np.flatnonzero(parts == cls.test_part)
        if len(scored) == 0:
            why = ("all of them are pixel-identical to source images" if shared.any() else
                   f"none is of an emotion {source.name} knows")
            raise FerBenchError(f"--test-dataset {target.name}: no image left to score ({why})")
        n = len(source_protocol.folds)
        by = f"the mean score of its {n} fold models" if n > 1 else "its model"
        description = (f"fit and select on {source.name} ({source_protocol.description}); every {target.name} image "
                       f"of an emotion {source.name} knows scored once by {by}")
        return cls((Fold(cls.test_part, train=np.array([], dtype=int), test=scored),), source_protocol.seed,
                   description, f"cross-dataset {source.name} -> {target.name}", source=source_protocol,
                   source_dataset=source, mapping=mapping, parts=parts)


def pixel_hashes(images: np.ndarray) -> list[bytes]:
    """A digest per image (shape and pixels), to find images two datasets share."""
    return [hashlib.blake2b(f"{img.shape}".encode() + np.ascontiguousarray(img).tobytes(),
                            digest_size=16).digest() for img in images]


def copies_in(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per image of ``images``: whether a pixel-identical copy (same shape and pixels) is among ``reference``."""
    seen = set(pixel_hashes(reference))
    return np.array([h in seen for h in pixel_hashes(images)], dtype=bool)


#: Every protocol by the name run folders record.
PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (OfficialSplit, SubjectKFold, CrossDataset)}


def protocol_class(name: str) -> type[Protocol]:
    """The protocol a run folder names (``metrics.json["protocol"]``)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise FerBenchError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def make_protocol(dataset: Dataset, *, seed: int = 0, folds: int | None = 10) -> Protocol:
    """The honest protocol for ``dataset``: the one its registry entry names (FER2013's official split,
    subject k-fold for CK+ and the synthetic faces)."""
    entry = DATASETS.get(dataset.name)
    if entry is not None:
        return protocol_class(entry.protocol).build(dataset, seed=seed, folds=folds)
    # a dataset built by hand (a notebook): its official split where it has one, else subject k-fold
    return (OfficialSplit if dataset.splits is not None else SubjectKFold).build(dataset, seed=seed, folds=folds)


def official_split(dataset: Dataset, *, seed: int = 0) -> OfficialSplit:
    return OfficialSplit.build(dataset, seed=seed)


def subject_kfold(dataset: Dataset, *, seed: int = 0, folds: int = 10) -> SubjectKFold:
    return SubjectKFold.build(dataset, seed=seed, folds=folds)


def check_independence(dataset: Dataset, folds) -> None:
    """Refuse any fold whose parts share an image or, where subjects are known, a subject; and any fold whose
    training part holds a single class (no classifier can be fitted on it)."""
    for fold in folds:
        classes = np.unique(dataset.labels[fold.train])
        if len(classes) < 2:
            only = dataset.class_names[classes[0]] if len(classes) else "none"
            raise FerBenchError(f"{dataset.name}: the training part of {fold.name} holds one class only ({only}); "
                                f"a classifier needs at least 2")
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
