"""The shared evaluation module: metrics on hand-computed cases and the files it writes into a run folder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation import compute_metrics, normalise_rows, summarise, write_evaluation

CLASSES = ("a", "b", "c")
# Hand-computed case: confusion [[2,1,0],[0,1,1],[0,0,1]]
Y_TRUE = ["a", "a", "a", "b", "b", "c"]
Y_PRED = ["a", "a", "b", "b", "c", "c"]
ACCURACY = 4 / 6
BALANCED = (2 / 3 + 1 / 2 + 1) / 3
F1 = {"a": 0.8, "b": 0.5, "c": 2 / 3}  # precision a 1, b 1/2, c 1/2; recall a 2/3, b 1/2, c 1
MACRO_F1 = sum(F1.values()) / 3


def test_compute_metrics_hand_computed_case():
    """Accuracy, macro-F1, balanced accuracy, per-class figures and confusion counts match a hand calculation."""
    m = compute_metrics(Y_TRUE, Y_PRED, CLASSES)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(ACCURACY)
    assert m["balanced_accuracy"] == pytest.approx(BALANCED)
    assert m["macro_f1"] == pytest.approx(MACRO_F1)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["per_class"]["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    assert m["per_class"]["c"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})


def test_compute_metrics_accepts_integer_labels_and_agrees_with_sklearn():
    """Integer labels index class_names and give the same figures; they agree with scikit-learn's own."""
    from sklearn.metrics import balanced_accuracy_score, f1_score

    to_int = {c: i for i, c in enumerate(CLASSES)}
    m_int = compute_metrics(np.array([to_int[c] for c in Y_TRUE]), np.array([to_int[c] for c in Y_PRED]), CLASSES)
    m_str = compute_metrics(Y_TRUE, Y_PRED, CLASSES)
    assert m_int == m_str
    assert m_str["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(Y_TRUE, Y_PRED))
    assert m_str["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="macro"))


def test_balanced_accuracy_ignores_classes_absent_from_the_truth():
    """Balanced accuracy is the mean recall over the classes present in y_true (sklearn's definition)."""
    m = compute_metrics(["a", "a", "b"], ["a", "c", "b"], CLASSES)
    assert m["balanced_accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["confusion_matrix"][2] == [0, 0, 0]
    assert m["per_class"]["c"]["support"] == 0


def _fold_predictions():
    """Two folds: fold-0 all right (4/4), fold-1 half right (2/4)."""
    return pd.DataFrame({
        "sample_id": [f"img{i}" for i in range(8)],
        "subject": ["S1", "S1", "S2", "S2", "S3", "S3", "S4", "S4"],
        "fold": ["fold-0"] * 4 + ["fold-1"] * 4,
        "y_true": ["a", "b", "c", "a", "a", "b", "c", "c"],
        "y_pred": ["a", "b", "c", "a", "b", "b", "a", "c"],
        "score_a": np.linspace(0, 1, 8),
    })


def _split_predictions():
    """PublicTest (validation): 3/6 right; PrivateTest: the hand-computed case, 4/6 right."""
    public_true, public_pred = ["a", "b", "c", "a", "b", "c"], ["a", "b", "c", "b", "c", "a"]
    return pd.DataFrame({
        "y_pred": public_pred + Y_PRED,
        "y_true": public_true + Y_TRUE,
        "split": ["PublicTest"] * 6 + ["PrivateTest"] * 6,
        "sample_id": [f"fer2013.csv:{i}" for i in range(2, 14)],
        "subject": "",
    })


def test_write_evaluation_kfold_writes_every_file(tmp_path):
    """part_column='fold': per-fold figures under 'folds', mean/std over folds, pooled matrix, and all files."""
    header = {"dataset": "toy", "model": "m", "features": "hog", "protocol": "subject-kfold", "seed": 3,
              "best_params": {"fold-0": {"C": 1}, "fold-1": {"C": 10}}}
    metrics = write_evaluation(tmp_path, _fold_predictions(), CLASSES, part_column="fold", header=header,
                               extra={"fit_seconds": 1.5})
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    keys = list(on_disk)
    assert keys[:6] == list(header) and keys[-1] == "fit_seconds"
    assert on_disk["folds"]["fold-0"]["accuracy"] == 1.0 and on_disk["folds"]["fold-1"]["accuracy"] == 0.5
    assert on_disk["folds"]["fold-0"]["n"] == 4
    assert on_disk["accuracy"] == pytest.approx(0.75)
    assert on_disk["accuracy_std"] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    for key in ("macro_f1", "balanced_accuracy"):
        per_fold = [on_disk["folds"][f][key] for f in ("fold-0", "fold-1")]
        assert on_disk[key] == pytest.approx(np.mean(per_fold))
        assert on_disk[f"{key}_std"] == pytest.approx(np.std(per_fold, ddof=1))
    assert on_disk["pooled"]["accuracy"] == pytest.approx(6 / 8)
    assert on_disk["n_test"] == 8
    assert on_disk["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert on_disk["class_names"] == list(CLASSES)

    expected = {"metrics.json", "classification_report.txt", "classification_report.csv", "confusion_matrix.csv",
                "confusion_matrix_normalized.csv", "confusion_matrix.png", "confusion_matrix.pdf",
                "predictions.csv"}
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "confusion_matrix.pdf").read_bytes()[:5] == b"%PDF-"

    text = (tmp_path / "classification_report.txt").read_text()
    assert text.startswith("m on toy (pooled over folds)")
    assert "precision" in text and "macro avg" in text
    report = pd.read_csv(tmp_path / "classification_report.csv")
    assert list(report.columns) == ["class", "precision", "recall", "f1", "support"]
    assert list(report["class"]) == ["a", "b", "c", "accuracy", "macro avg", "weighted avg"]
    assert report.set_index("class").loc["accuracy", "f1"] == pytest.approx(0.75)
    assert report.set_index("class").loc[["a", "b", "c"], "support"].tolist() == [3, 2, 3]

    cm = pd.read_csv(tmp_path / "confusion_matrix.csv", index_col=0)
    assert cm.index.name == "true \\ predicted"
    assert list(cm.index) == list(cm.columns) == list(CLASSES)
    assert cm.to_numpy().tolist() == on_disk["confusion_matrix"]
    norm = pd.read_csv(tmp_path / "confusion_matrix_normalized.csv", index_col=0).to_numpy()
    np.testing.assert_allclose(norm.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0], atol=1e-6)

    preds = pd.read_csv(tmp_path / "predictions.csv")
    assert list(preds.columns) == ["sample_id", "subject", "fold", "y_true", "y_pred", "score_a"]
    assert len(preds) == 8


def test_write_evaluation_official_split_reports_privatetest_with_publictest_as_validation(tmp_path):
    """part_column='split': PrivateTest is the headline (and the only scope of report and matrix),
    PublicTest appears under 'validation'; predictions.csv keeps both."""
    header = {"dataset": "fer2013", "model": "m", "features": "hog", "protocol": "official-split", "seed": 0,
              "best_params": {"C": 1}}
    write_evaluation(tmp_path, _split_predictions(), CLASSES, part_column="split", header=header)
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["test_split"] == "PrivateTest"
    assert m["accuracy"] == pytest.approx(ACCURACY)
    assert m["macro_f1"] == pytest.approx(MACRO_F1)
    assert m["balanced_accuracy"] == pytest.approx(BALANCED)
    assert m["accuracy_std"] is None
    assert m["n_test"] == 6
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["validation"]["split"] == "PublicTest"
    assert m["validation"]["accuracy"] == pytest.approx(0.5) and m["validation"]["n"] == 6
    assert "folds" not in m
    assert (tmp_path / "classification_report.txt").read_text().startswith("m on fer2013 (PrivateTest)")
    report = pd.read_csv(tmp_path / "classification_report.csv").set_index("class")
    assert report.loc[["a", "b", "c"], "support"].sum() == 6
    assert report.loc["accuracy", "f1"] == pytest.approx(ACCURACY)
    cm = pd.read_csv(tmp_path / "confusion_matrix.csv", index_col=0)
    assert cm.to_numpy().tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    preds = pd.read_csv(tmp_path / "predictions.csv", keep_default_na=False)
    assert list(preds.columns) == ["sample_id", "subject", "split", "y_true", "y_pred"]
    assert preds["split"].value_counts().to_dict() == {"PublicTest": 6, "PrivateTest": 6}
    for name in ("confusion_matrix.png", "confusion_matrix.pdf", "confusion_matrix_normalized.csv"):
        assert (tmp_path / name).stat().st_size > 0


def test_summarise_split_without_publictest_has_no_validation_figure():
    """Without PublicTest rows there is no 'validation' entry (nothing is invented)."""
    preds = _split_predictions()
    out = summarise(preds[preds.split == "PrivateTest"], CLASSES, part_column="split")
    assert "validation" not in out and out["accuracy"] == pytest.approx(ACCURACY)


def test_write_evaluation_refuses_missing_columns(tmp_path):
    """A predictions table without y_pred (or without its part column) is a programming error: ValueError."""
    with pytest.raises(ValueError, match="y_pred"):
        write_evaluation(tmp_path, _fold_predictions().drop(columns="y_pred"), CLASSES, part_column="fold",
                         header={})
    with pytest.raises(ValueError, match="split"):
        write_evaluation(tmp_path, _fold_predictions(), CLASSES, part_column="split", header={})
    assert list(tmp_path.iterdir()) == []


def test_normalise_rows_leaves_empty_rows_at_zero():
    """Row normalisation divides by row totals and keeps an all-zero row at zero (no NaN)."""
    out = normalise_rows(np.array([[1, 3], [0, 0]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [0, 0]])


def test_macro_f1_ignores_a_class_absent_from_the_fold():
    """A class neither in y_true nor y_pred of a small test fold is not averaged in as F1 = 0."""
    m = compute_metrics(["a", "a", "b"], ["a", "a", "b"], CLASSES)
    assert m["macro_f1"] == pytest.approx(1.0)
    # a class that was predicted but never true does count (F1 0 for it)
    m = compute_metrics(["a", "a", "b"], ["a", "c", "b"], CLASSES)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
