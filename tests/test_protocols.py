"""Evaluation protocols: subject-independent k-fold and FER2013's official split."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets._ckplus import load_ck48
from benchmark.datasets._fer2013 import load_fer2013_csv
from benchmark.errors import FerBenchError
from benchmark.protocols import (Fold, LeakageError, check_independence, inner_cv, make_protocol, official_split,
                                 subject_kfold)


def _subjects(dataset, idx):
    return set(dataset.subjects[idx])


def test_subject_kfold_folds_are_subject_independent_and_cover_everything(synthetic):
    """Every image is tested exactly once, and no subject is on both the train and test side of any fold."""
    protocol = subject_kfold(synthetic, seed=0, folds=5)
    assert protocol.name == "subject-kfold" and protocol.column == "fold"
    assert [f.name for f in protocol.folds] == [f"fold-{k}" for k in range(5)]
    tested = np.concatenate([f.test for f in protocol.folds])
    assert sorted(tested) == list(range(len(synthetic)))
    for fold in protocol.folds:
        assert fold.val is None
        assert len(fold.train) + len(fold.test) == len(synthetic)
        assert not _subjects(synthetic, fold.train) & _subjects(synthetic, fold.test)
        assert len(set(synthetic.labels[fold.test])) == 7  # stratified: every class in every fold


def test_subject_kfold_on_ck48_groups_by_s_number(ck48_dir):
    """On CK+48 files the grouping is the S### prefix: images of one subject share a fold."""
    ds = load_ck48(ck48_dir)
    protocol = make_protocol(ds, seed=1, folds=3)
    assert protocol.name == "subject-kfold"
    table = protocol.assignments(ds)
    assert (table.groupby("subject")["fold"].nunique() == 1).all()
    assert list(table.columns) == ["sample_id", "subject", "label", "fold"]


def test_check_independence_raises_on_a_leaking_fold(synthetic):
    """A hand-made fold with one subject's images on both sides is refused with LeakageError."""
    p00 = np.flatnonzero(synthetic.subjects == "P00")
    others = np.flatnonzero(synthetic.subjects != "P00")
    leaking = Fold("bad", train=np.concatenate([others, p00[:3]]), test=p00[3:])
    with pytest.raises(LeakageError, match="subject P00 is in both train and test"):
        check_independence(synthetic, [leaking])
    same_image = Fold("dup", train=others, test=np.concatenate([p00, others[:1]]))
    with pytest.raises(LeakageError, match="same image"):
        check_independence(synthetic, [same_image])
    val_leak = Fold("val", train=others[others > 100], val=others[others <= 100], test=p00)
    with pytest.raises(LeakageError, match="train and val"):
        check_independence(synthetic, [val_leak])
    assert issubclass(LeakageError, FerBenchError)
    check_independence(synthetic, [Fold("ok", train=others, test=p00)])  # no error


def test_subject_kfold_same_seed_same_folds_other_seed_other_folds(synthetic):
    """Folds depend only on data, k and seed: same seed -> identical, different seed -> different."""
    a = subject_kfold(synthetic, seed=7, folds=4)
    b = subject_kfold(synthetic, seed=7, folds=4)
    c = subject_kfold(synthetic, seed=8, folds=4)
    for fa, fb in zip(a.folds, b.folds):
        np.testing.assert_array_equal(fa.train, fb.train)
        np.testing.assert_array_equal(fa.test, fb.test)
    assert a.fingerprint(synthetic) == b.fingerprint(synthetic)
    assert a.fingerprint(synthetic) != c.fingerprint(synthetic)
    assert [set(f.test) for f in a.folds] != [set(f.test) for f in c.folds]


def test_subject_kfold_refuses_more_folds_than_subjects(synthetic):
    """20 subjects cannot fill 21 subject-independent folds; fewer than 2 folds is refused too."""
    with pytest.raises(FerBenchError, match="20 subjects cannot fill 21"):
        subject_kfold(synthetic, folds=21)
    with pytest.raises(FerBenchError, match="at least 2"):
        subject_kfold(synthetic, folds=1)
    assert len(subject_kfold(synthetic, folds=20).folds) == 20


def test_official_split_uses_training_publictest_privatetest(fer_csv):
    """Official split: fit on Training, select on PublicTest (val), report PrivateTest (test)."""
    ds = load_fer2013_csv(fer_csv)
    protocol = make_protocol(ds, seed=0, folds=10)
    assert protocol.name == "official-split" and protocol.column == "split"
    (fold,) = protocol.folds
    assert fold.name == "PrivateTest"
    assert set(ds.splits[fold.train]) == {"Training"}
    assert set(ds.splits[fold.val]) == {"PublicTest"}
    assert set(ds.splits[fold.test]) == {"PrivateTest"}
    assert len(fold.train) + len(fold.val) + len(fold.test) == len(ds)
    table = protocol.assignments(ds)
    assert list(table.columns) == ["sample_id", "subject", "label", "split"]
    assert list(table["split"]) == list(ds.splits)
    summary = protocol.summary(ds)
    assert summary["sizes"] == {"PrivateTest": {"train": 21, "val": 14, "test": 14}}


def test_official_split_refuses_an_empty_split(tmp_path, write_fer_csv):
    """A FER2013 file without PrivateTest rows cannot be evaluated honestly: FerBenchError."""
    ds = load_fer2013_csv(write_fer_csv(tmp_path / "f.csv", [("Training", 0), ("PublicTest", 1)]))
    with pytest.raises(FerBenchError, match="PrivateTest split is empty"):
        official_split(ds)


def test_make_protocol_without_splits_or_subjects_is_refused(synthetic):
    """Data with neither an official split nor subject ids has no honest protocol."""
    from dataclasses import replace

    anonymous = replace(synthetic, subjects=None)
    with pytest.raises(FerBenchError, match="neither an official split nor subject ids"):
        make_protocol(anonymous)


def test_inner_cv_is_grouped_and_capped_by_subjects(synthetic):
    """Inner CV never splits a subject and never asks for more folds than there are subjects."""
    train = np.flatnonzero(np.isin(synthetic.subjects, ["P00", "P01", "P02"]))
    groups = synthetic.subjects[train]
    cv = inner_cv(groups, folds=5, seed=0)
    assert cv.get_n_splits() == 3
    for tr, te in cv.split(np.zeros(len(train)), synthetic.labels[train], groups):
        assert not set(groups[tr]) & set(groups[te])
