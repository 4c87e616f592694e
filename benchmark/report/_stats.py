"""The statistics a thesis examiner asks for: bootstrap intervals and paired tests between two models.

- :func:`bootstrap_ci`: percentile interval of a score over resampled test images (or resampled subjects,
  when images are clustered by subject as on CK+), with a fixed seed so a rebuilt report is identical.
- :func:`mcnemar_exact`: exact (binomial) McNemar test for two models on the same test images (FER2013).
- :func:`corrected_resampled_ttest` (Nadeau & Bengio 2003) and :func:`wilcoxon_signed_rank`: paired tests
  over the folds of two k-fold runs that share their folds.

scipy does the exact binomial, t and Wilcoxon distributions; what is written here is what no library offers:
resampling whole subjects (``scipy.stats.bootstrap`` resamples observations, not clusters, and recomputing
macro-F1 with scikit-learn 2,000 times is slow) and the Nadeau-Bengio variance correction.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..metrics import accuracy, macro_f1

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0


def _fast_scores(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int) -> tuple[float, float]:
    """Accuracy and macro-F1 (classes present in either array) from integer codes, for bootstrap loops."""
    cm = np.bincount(true_codes * n_classes + pred_codes, minlength=n_classes * n_classes).reshape(n_classes,
                                                                                                    n_classes)
    tp, support, predicted = np.diag(cm), cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros(n_classes), where=present)
    return float(tp.sum() / len(true_codes)), float(f1[present].mean())


def bootstrap_ci(y_true, y_pred, score=accuracy, *, clusters=None, n_boot: int = BOOTSTRAP_SAMPLES,
                 level: float = 0.95, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of ``score`` (:func:`accuracy` or :func:`macro_f1`); with ``clusters``
    whole clusters (subjects) are resampled."""
    if score not in (accuracy, macro_f1):
        raise ValueError("score must be accuracy or macro_f1")
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    true_codes, pred_codes = codes[:len(y_true)], codes[len(y_true):]
    rng = np.random.default_rng(seed)
    if clusters is None:
        groups = [np.array([i]) for i in range(len(y_true))]
    else:
        clusters = np.asarray(clusters)
        groups = [np.flatnonzero(clusters == c) for c in np.unique(clusters)]
    which = 0 if score is accuracy else 1
    values = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, len(groups), size=len(groups))
        idx = np.concatenate([groups[g] for g in picked])
        values[b] = _fast_scores(true_codes[idx], pred_codes[idx], len(classes))[which]
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def mcnemar_exact(correct_a, correct_b) -> dict:
    """Exact McNemar test on paired correctness: b = only A right, c = only B right; two-sided binomial p."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    b = int(np.sum(correct_a & ~correct_b))
    c = int(np.sum(~correct_a & correct_b))
    if b + c == 0:
        return {"b": b, "c": c, "statistic": 0, "p_value": 1.0}
    p_value = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    return {"b": b, "c": c, "statistic": min(b, c), "p_value": float(min(1.0, p_value))}


def corrected_resampled_ttest(scores_a, scores_b, *, n_train: float, n_test: float) -> dict:
    """Nadeau & Bengio's corrected resampled t-test over paired fold scores (k - 1 degrees of freedom).

    The variance term is inflated by n_test / n_train because k-fold training sets overlap.
    """
    d = np.asarray(scores_a, float) - np.asarray(scores_b, float)
    k = len(d)
    var = d.var(ddof=1) if k > 1 else 0.0
    if var == 0:
        return {"statistic": 0.0 if d.mean() == 0 else math.copysign(math.inf, d.mean()),
                "p_value": 1.0 if d.mean() == 0 else 0.0, "df": k - 1}
    t = d.mean() / _corrected_se(d, n_train=n_train, n_test=n_test)
    return {"statistic": float(t), "p_value": float(2 * stats.t.sf(abs(t), k - 1)), "df": k - 1}


def _corrected_se(d: np.ndarray, *, n_train: float, n_test: float) -> float:
    """Nadeau & Bengio's standard error of the mean of k paired fold differences ``d``: the variance inflated by
    n_test / n_train because k-fold training sets overlap."""
    return math.sqrt((1 / len(d) + n_test / n_train) * d.var(ddof=1))


def wilcoxon_signed_rank(scores_a, scores_b) -> dict:
    """Two-sided Wilcoxon signed-rank test over paired fold scores (exact for small k, zero differences dropped)."""
    d = np.asarray(scores_a, float) - np.asarray(scores_b, float)
    if np.all(d == 0):
        return {"statistic": 0.0, "p_value": 1.0}
    result = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue)}


def paired_difference(scores_a, scores_b, *, n_train: float, n_test: float, level: float = 0.95) -> dict:
    """The mean paired difference of fold scores (A - B) with its confidence interval from the same corrected
    variance as :func:`corrected_resampled_ttest` (t with k - 1 degrees of freedom), and Cohen's d over folds (the
    mean difference over the differences' standard deviation). Needs 2 folds or more; CI and d are NaN where the
    differences do not vary."""
    d = np.asarray(scores_a, float) - np.asarray(scores_b, float)
    k = len(d)
    sd = d.std(ddof=1)
    half = stats.t.ppf(0.5 + level / 2, k - 1) * _corrected_se(d, n_train=n_train, n_test=n_test) if sd > 0 \
        else math.nan
    return {"difference": float(d.mean()), "ci_low": float(d.mean() - half), "ci_high": float(d.mean() + half),
            "cohens_d": float(d.mean() / sd) if sd > 0 else math.nan, "k": k}


def paired_accuracy_difference(correct_a, correct_b, level: float = 0.95) -> dict:
    """Accuracy of A minus accuracy of B on the same images, with the Wald interval for paired proportions (its
    variance from the discordant pairs: b images only A gets right, c only B)."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    n = len(correct_a)
    b, c = int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))
    diff = (b - c) / n
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(max(0.0, (b + c) - (b - c) ** 2 / n)) / n
    return {"difference": diff, "ci_low": diff - half, "ci_high": diff + half, "n": n}


def smallest_wilcoxon_p(k: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with k paired differences (all
    of one sign): 2 / 2^k. With 5 folds it is 0.0625, so no 5-fold comparison can reach p < 0.05."""
    return min(1.0, 2.0 / 2 ** k)
