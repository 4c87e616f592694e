"""Seed ensembles: each image scored by the mean of the class probabilities that an experiment's seeds gave it.

Averaging networks trained from different random initialisations is the cheapest way the literature makes a CNN
stronger ("deep ensembles", Lakshminarayanan et al. 2017; Pramerdorfer & Kampel's 75.2% on FER2013 is an
ensemble). A report that holds several seeds of a CNN experiment already has what it needs: every run's
``predictions.csv`` records the probabilities behind each prediction (averaged over the test-time views, where the
run used them). So the ensemble is computed here, from verified runs, with nothing chosen: every seed, equal
weights. It never sees an image it scores: on the official split every seed's model trained on Training and chose
its epoch on PublicTest; on k-fold each seed draws its own folds, and an image's probabilities come, in each seed,
from the fold model that held it out (so the figure is pooled over all images, not a mean over folds).

Only kinds whose scores are class probabilities are ensembled (an SVM's scores are decision values, and an SVM's
seeds seldom differ). A run's scores are checked before they are averaged: one column per class, probabilities
that sum to one, and the class they rank first is the prediction the run recorded (which the run's verification
already checked against its metrics); a run that fails leaves its experiment out, said in a note.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import metrics
from ..kinds import KINDS
from ._experiment_tables import ROW_LABELS, fill_grouped, mark_variants, pct, sources_of
from ._experiments import Experiment
from ._names import dataset_slug, title_of
from . import _stats as st
from ._references import BOOTSTRAP_SOURCES, ENSEMBLE_SOURCES
from ._tables import HIDDEN, Column, Table, mark_best

#: How far a run's probabilities may sum from one (they are written with full float64 precision).
SUM_TOLERANCE = 1e-4


@dataclass(frozen=True)
class SeedEnsemble:
    """An experiment's seed ensemble: its figures on the reported test images (``test``: accuracy, macro-F1,
    balanced accuracy, n, the accuracy without cross-split duplicates where the runs mark them, and the labels,
    predictions and subjects they come from), on the
    validation split where the protocol has one (``validation``), and the mean accuracy of its seeds alone on the
    same images (``seeds_accuracy``)."""

    exp: Experiment
    test: dict
    validation: dict | None
    seeds_accuracy: float


def ensembled(exp: Experiment) -> bool:
    """Whether ``exp`` has a seed ensemble: several seeds of a kind that scores class probabilities."""
    kind = KINDS.get(exp.kind)
    return len(exp.runs) > 1 and kind is not None and kind.scores_are_probabilities


def seed_ensemble(exp: Experiment) -> SeedEnsemble | str:
    """The seed ensemble of an experiment :func:`ensembled` accepts, or why its runs cannot be averaged (one
    line)."""
    class_names = list(exp.runs[0].metrics["class_names"])
    protocol = exp.runs[0].protocol
    for run in exp.runs:  # every scored row, the validation split's too: any figure shown is averaged from them
        problem = _score_problem(run.predictions, class_names)
        if problem:
            return f"{run.run_id}: {problem}"
    tests = [run.test_predictions() for run in exp.runs]
    test, seeds_accuracy = _average(tests, class_names)
    if isinstance(test, str):
        return test
    validation = None
    if protocol.validation_split:
        parts = [run.predictions[run.predictions[run.part_column] == protocol.validation_split] for run in exp.runs]
        if all(len(part) for part in parts):
            averaged, _ = _average(parts, class_names)
            validation = None if isinstance(averaged, str) else averaged
    return SeedEnsemble(exp, test, validation, seeds_accuracy)


def shown_ensembles(exps: list[Experiment]) -> list[SeedEnsemble]:
    """The seed ensembles of ``exps`` that the table shows: those :func:`ensembled` accepts whose runs' scores
    pass the checks."""
    found = [seed_ensemble(exp) for exp in exps if ensembled(exp)]
    return [ensemble for ensemble in found if isinstance(ensemble, SeedEnsemble)]


def _score_columns(class_names: list[str]) -> list[str]:
    return [f"score_{name}" for name in class_names]


def _score_problem(frame: pd.DataFrame, class_names: list[str]) -> str | None:
    """Why a run's scores (its predictions.csv rows ``frame``) cannot be averaged as class probabilities, or
    None."""
    columns = _score_columns(class_names)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        return f"predictions.csv lacks {missing[0]}"
    scores = frame[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)  # text: NaN
    if not np.isfinite(scores).all() or (scores < 0).any() or (scores > 1).any():
        return "predictions.csv's scores are not probabilities (each within 0 and 1)"
    sums = scores.sum(axis=1)
    if np.abs(sums - 1).max() > SUM_TOLERANCE:
        row = int(np.abs(sums - 1).argmax())
        return f"predictions.csv's scores of sample {frame.sample_id.iloc[row]} sum to {sums[row]:.6g}, not 1"
    unknown = sorted(set(frame.y_pred.astype(str)) - set(class_names))
    if unknown:  # verification already refuses such a run; never a crash here
        return f"predictions.csv predicts {unknown[0]!r}, not one of the classes"
    picked = scores[np.arange(len(frame)), [class_names.index(p) for p in frame.y_pred.astype(str)]]
    disagree = np.flatnonzero(picked < scores.max(axis=1))
    if len(disagree):
        return (f"predictions.csv predicts sample {frame.sample_id.iloc[disagree[0]]} as "
                f"{frame.y_pred.iloc[disagree[0]]}, which its scores do not rank first ({len(disagree)} such rows)")
    return None


def _average(frames: list[pd.DataFrame], class_names: list[str]) -> tuple[dict | str, float]:
    """The figures of the mean probabilities over ``frames`` (one per seed, the same images; with the labels,
    predictions and subjects, for :func:`accuracy_interval`), and the mean accuracy of the seeds alone; a line saying
    why not where the seeds scored different images."""
    columns = _score_columns(class_names)
    first = frames[0].set_index("sample_id")
    ids = first.index
    total = np.zeros((len(ids), len(class_names)))
    for frame in frames:
        frame = frame.set_index("sample_id")
        if len(frame) != len(ids) or not frame.index.isin(ids).all():
            return ("the seeds scored different images: their splits differ (FER2013 test images without split "
                    "prefixes are halved by each seed) or their data does", float("nan"))
        frame = frame.loc[ids]
        if (frame.y_true.astype(str) != first.y_true.astype(str)).any():
            return "the seeds give an image different labels", float("nan")
        total += frame[columns].to_numpy(dtype=float)
    y_pred = np.asarray(class_names, dtype=object)[total.argmax(axis=1)]
    y_true = first.y_true.astype(str).to_numpy()
    figures = metrics.compute_metrics(y_true, y_pred, class_names)
    out = {**{key: figures[key] for key in (*metrics.SCORES, "n")}, "y_true": y_true, "y_pred": y_pred,
           "subjects": first.subject.astype(str).to_numpy() if "subject" in first else None}
    if metrics.DUPLICATE_COLUMN in first.columns:
        out.update(metrics.without_duplicates(pd.DataFrame({"y_true": y_true, "y_pred": y_pred,
                                                            metrics.DUPLICATE_COLUMN: first[
                                                                metrics.DUPLICATE_COLUMN].to_numpy()})))
    seeds = float(np.mean([metrics.accuracy(f.y_true.astype(str), f.y_pred.astype(str)) for f in frames]))
    return out, seeds


def accuracy_interval(ensemble: SeedEnsemble, clustered: bool) -> tuple[float, float]:
    """The 95% bootstrap interval of the ensemble's test accuracy (``clustered``: resampling whole subjects, as the
    confidence intervals of k-fold runs do). Only the table shows it, so only the table pays for its resamples."""
    test = ensemble.test
    return st.bootstrap_ci(test["y_true"], test["y_pred"], st.accuracy,
                           clusters=test["subjects"] if clustered else None)


WITHOUT_DUPLICATES = metrics.WITHOUT_DUPLICATES[0]


def ensemble_table(dataset: str, exps: list[Experiment]) -> Table | None:
    """``<section>_seed_ensembles``: each CNN experiment with several seeds, its ensemble's accuracy beside its
    seeds' mean on the same images (:func:`seed_ensemble`); None where no experiment of the section has one."""
    candidates = [exp for exp in exps if ensembled(exp)]
    if not candidates:
        return None
    found = {id(exp): seed_ensemble(exp) for exp in candidates}  # experiments are not hashable
    shown = [exp for exp in candidates if isinstance(found[id(exp)], SeedEnsemble)]
    protocol = candidates[0].runs[0].protocol
    pooled = protocol.per_fold
    images = "all images, pooled over folds" if pooled else f"{protocol.test_part}"
    marks_duplicates = any(WITHOUT_DUPLICATES in found[id(exp)].test for exp in shown)
    validation = protocol.validation_split if any(found[id(exp)].validation for exp in shown) else None
    columns = [*ROW_LABELS,
               Column("Seeds' mean acc. (%)", short="Seeds", means="mean accuracy of the seeds alone (%)"),
               Column("Ensemble acc. (%)", short="Ens.", means="accuracy of the seed ensemble (%)"),
               Column("Ensemble acc. 95% CI", short="95% CI", means="its bootstrap interval (%)"),
               # LaTeX leaves the gain to the reader (Ens. minus Seeds): the table must fit the text width
               Column("Gain (pp)", short="Gain", tex=HIDDEN,
                      means="Ens. minus Seeds (percentage points, from the unrounded figures)"),
               Column("Ensemble macro-F1 (%)", short="Ens. F1", means="macro-F1 of the seed ensemble (%)")]
    if marks_duplicates:
        columns.append(Column("Ensemble acc. without duplicates (%)", short="No dup.",
                              means=f"its accuracy on the {protocol.test_part} images without a copy in "
                                    f"{protocol.duplicates_looked_for_in} (%)"))
    if validation:
        columns.append(Column(f"Ensemble {validation} acc. (%)", short="Val.",  # "PublicTest" would widen it
                              means=f"the ensemble's accuracy on {validation}, the validation split (%)"))
    columns.append(Column("Seeds", short="n", means="seeds averaged"))
    how = ("each seed draws its own folds, and an image's probabilities come, in every seed, from the fold model "
           "that held it out" if pooled else
           f"every seed's model was fitted on the training images and chose its epoch on "
           f"{protocol.validation_split or 'validation images'} only")
    table = Table(f"{dataset_slug(dataset)}_seed_ensembles",
                  f"{title_of(dataset)}: seed ensembles of the CNN experiments with several seeds. Each image is "
                  f"scored by the mean of the class probabilities its seeds' models gave it (every seed, equal "
                  f"weights: nothing is chosen), on {images}; {how}. Beside it, the mean accuracy of the seeds "
                  f"alone on the same images, and the ensemble's 95% bootstrap interval ({st.BOOTSTRAP_SAMPLES} "
                  f"resamples of the {'subjects' if pooled else 'images'}, seed {st.BOOTSTRAP_SEED}). Best per "
                  f"column in bold.",
                  columns, sources=sources_of(shown or candidates, ("ensembles", ENSEMBLE_SOURCES),
                                              ("bootstrap", BOOTSTRAP_SOURCES)))

    def row(exp: Experiment):
        ensemble = found[id(exp)]
        test = ensemble.test
        gain = test["accuracy"] - ensemble.seeds_accuracy
        low, high = accuracy_interval(ensemble, pooled)
        cells = [pct(ensemble.seeds_accuracy), pct(test["accuracy"]), f"[{100 * low:.1f}, {100 * high:.1f}]",
                 f"{100 * gain:+.1f}", pct(test["macro_f1"])]
        raw = {"n_seeds": len(exp.runs), "runs": " ".join(run.run_id for run in exp.runs),
               "seeds_accuracy": ensemble.seeds_accuracy, "accuracy": test["accuracy"], "accuracy_ci_low": low,
               "accuracy_ci_high": high, "gain": gain,
               "macro_f1": test["macro_f1"], "balanced_accuracy": test["balanced_accuracy"], "n_images": test["n"]}
        compared = {3: test["accuracy"], 6: test["macro_f1"]}
        if marks_duplicates:
            kept = test.get(WITHOUT_DUPLICATES)
            cells.append(pct(kept) if kept is not None else "")
            raw[WITHOUT_DUPLICATES] = kept
            compared[len(cells) + 1] = kept
        if validation:
            accuracy = (ensemble.validation or {}).get("accuracy")
            cells.append(pct(accuracy) if accuracy is not None else "")
            raw["validation_accuracy"] = accuracy
            compared[len(cells) + 1] = accuracy
        cells.append(str(len(exp.runs)))
        return cells, raw, compared

    if shown:
        mark_best(table, list(range(3, len(columns) - 1)), fill_grouped(table, shown, row))
        mark_variants(table, exps, shown)
    for exp in candidates:
        if not isinstance(found[id(exp)], SeedEnsemble):
            table.notes.append(f"{exp.title}: not ensembled ({found[id(exp)]}).")
    return table
