"""Cross-dataset evaluation (``--test-dataset``): a source's fitted models score every image of another dataset.

The source is fitted and selected exactly as its own protocol does (``kind.run`` is not told about the target);
the fold models it returns then score the target once, through :class:`~benchmark.protocols.CrossDataset`'s
assignment: classes are matched by emotion (``benchmark.datasets.class_mapping``), target images of an emotion
the source never learned (or pixel-identical to a source image) are dropped and counted, and a prediction is the
argmax of the source's scores over the shared emotions (the mean score over the fold models on k-fold sources).
How often the unrestricted top class was an emotion the target lacks is recorded beside it.

The run folder stays a normal one: predictions.csv, metrics.json and the evaluation files hold the target's scored
images; the source's own test predictions (what its protocol would have reported) are kept in
``source_predictions.csv`` and ``source_splits.csv``, with their figures under ``metrics.json["source"]``. Such runs
never enter the report's in-domain tables (a model's score on CK+ after training on FER2013 is not a FER2013
result); they get a section of their own, one group of rows per source -> target pair, with the source's in-domain
score beside the target's.

A recorded cross-dataset run passes the common checks on its target part and :meth:`CrossDatasetEvaluation.verify`
on the rest: the source's own predictions pass every common check against its own protocol and figures; the class
mapping, recomputed from the canonical emotion table, is the recorded one; every prediction is the argmax of its
row's recorded source scores over the shared emotions; the unrestricted top class, the "top class outside" counts
and the drop counts recomputed from predictions.csv and splits.csv equal metrics.json's.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ..datasets import DATASETS, Dataset, class_mapping, load_dataset
from ..errors import FerBenchError, did_you_mean
from ..metrics import summarise
from ..options import data_options
from ..protocols import PROTOCOLS, CrossDataset, Protocol
from ..record import SOURCE_PREDICTIONS, SourcePart, check_parts, first_difference, MISSING, shown
from ..saved_models import mean_scores, score_words
from ._base import Evaluation, Plan, Scored

#: predictions.csv: the source's class with the highest score over all its classes (before restriction).
TOP_CLASS = "top_class"


def score_columns(class_names) -> list[str]:
    """predictions.csv's score columns of a cross-dataset run: one per source class, under the source's names."""
    return [f"score_{name}" for name in class_names]


def restricted_predictions(scores: np.ndarray, mapping) -> tuple[np.ndarray, np.ndarray]:
    """(target class index predicted, source class index on top overall) per row of source ``scores``.

    The prediction is the argmax over the shared emotions' scores only; a NaN score (a class no fold trained on)
    never wins. The same function checks a recorded run (``benchmark.record``)."""
    def argmax(block: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(block), -np.inf, block).argmax(axis=1)

    shared = mapping.shared_source_indices
    to_target = np.array([t for _, _, t in mapping.shared])
    return to_target[argmax(scores[:, shared])], argmax(scores)


def outside_counts(top: np.ndarray, mapping) -> dict:
    """How often the unrestricted top class (source indices ``top``) is a class the target lacks, by class."""
    shared = set(mapping.shared_source_indices)
    outside = [mapping.source_names[i] for i in top if i not in shared]
    by_class = {name: outside.count(name) for name in mapping.source_names if name in outside}
    n = len(top)
    return {"count": len(outside), "rate": len(outside) / n if n else float("nan"), "by_class": by_class}


def dropped_counts_of(splits: pd.DataFrame, column: str) -> dict:
    """The drop counts of a cross-dataset assignment table (splits.csv): per reason, images per class."""
    out = {}
    for part in CrossDataset.DROPPED:
        labels = splits.label[splits[column].astype(str) == part].astype(str)
        out[part] = {str(c): int(n) for c, n in labels.value_counts(sort=False).sort_index().items()}
    return out


#: predictions.csv: the target image's own split, where the target has one (FER2013's Training/...).
TARGET_SPLIT = "target_split"


def target_config(config):
    """The options that load the target: ``config`` with ``--test-dataset``/``--test-data-dir`` as its data."""
    return replace(config, dataset=config.test_dataset, data_dir=config.test_data_dir)


def load_target(config) -> Dataset:
    """The ``--test-dataset`` of ``config``, loaded like a ``--dataset`` (same data options and defaults)."""
    target = target_config(config)
    return load_dataset(target.dataset, target.data_dir, **data_options(target))


def dropped_counts(cross: CrossDataset, target: Dataset) -> dict:
    """{reason (the part splits.csv gives): {target class: images}} for every target image not scored."""
    return dropped_counts_of(cross.assignments(target), cross.column)


def target_scores(fold_models: dict, target: Dataset, idx: np.ndarray, config) -> np.ndarray:
    """The source's scores (N x source classes) for ``target.images[idx]``: the mean over its fold models (each
    kind's models share what they can between folds: see ``FoldModel.dataset_scores``)."""
    shared: dict = {}
    return mean_scores([model.dataset_scores(target, idx, config=config, shared=shared)
                        for model in fold_models.values()])


def score_target(cross: CrossDataset, fold_models: dict, target: Dataset, config) -> tuple[pd.DataFrame, dict]:
    """predictions.csv's rows for the target (one per scored image) and the facts metrics.json records:
    how the scores were combined, the drop counts and the unrestricted top class outside the target's classes."""
    mapping = cross.mapping
    idx = cross.folds[0].test
    scores = target_scores(fold_models, target, idx, config)
    predicted, top = restricted_predictions(scores, mapping)
    names = np.asarray(target.class_names, dtype=object)
    frame = pd.DataFrame({
        "sample_id": target.sample_ids[idx],
        "subject": target.subjects[idx] if target.subjects is not None else "",
        cross.column: cross.test_part, "y_true": names[target.labels[idx]], "y_pred": names[predicted],
    })
    if target.splits is not None:
        frame[TARGET_SPLIT] = target.splits[idx]
    frame[TOP_CLASS] = np.asarray(mapping.source_names, dtype=object)[top]
    for j, column in enumerate(score_columns(mapping.source_names)):
        frame[column] = scores[:, j]
    dropped = dropped_counts(cross, target)
    facts = {"n_scored": int(len(idx)), "n_dropped": sum(sum(v.values()) for v in dropped.values()),
             "dropped": dropped, "top_class_outside": outside_counts(top, mapping),
             "scored_by": (f"mean {score_words(fold_models.values())} over {len(fold_models)} fold models"
                           if len(fold_models) > 1 else f"the model's {score_words(fold_models.values())}")}
    return frame, facts


def source_part(predictions: pd.DataFrame, source: Dataset, protocol: Protocol) -> tuple[SourcePart, dict]:
    """The source's own test predictions and assignment (written as ``source_predictions.csv`` and
    ``source_splits.csv``) and their figures for ``metrics.json["source"]``: the in-domain score its protocol
    reports, for comparison; where that protocol marks duplicates (the official split), with its column and its
    accuracy without them, as an in-domain run records them."""
    predictions = protocol.mark_duplicates(predictions, source)
    figures = {"dataset": source.name, "protocol": protocol.name,
               **summarise(predictions, source.class_names, part_column=protocol.column,
                           **({"test_part": protocol.test_part} if protocol.test_part else {}))}
    return SourcePart(predictions, protocol.assignments(source), protocol.column), figures


def _announcement(cross: CrossDataset, target: Dataset) -> str:
    """What a cross-dataset run will score, said before the work starts: the target, the emotions both datasets
    know, and what is dropped (and why)."""
    mapping = cross.mapping
    dropped = [f"{int((cross.parts == part).sum())} {part}" for part in cross.DROPPED if (cross.parts == part).any()]
    return (f"cross-dataset: {len(cross.folds[0].test)} of {len(target)} {target.name} ({target.layout}) images scored "
            f"over the {len(mapping.shared)} emotions both know ("
            + ", ".join(f"{mapping.source_names[s]}={mapping.target_names[t]}" for _, s, t in mapping.shared) + ")"
            + (f"; dropped: {', '.join(dropped)}" if dropped else "")
            + (f"; a top class of {' or '.join(mapping.source_only)} (not in {target.name}) is counted as outside"
               if mapping.source_only else ""))


class CrossDatasetEvaluation(Evaluation):
    """Fitted on ``--dataset`` by its own protocol, scored on every image of ``--test-dataset`` of an emotion the
    source knows."""

    name = "cross-dataset"
    report_section = "Cross-dataset evaluation"
    #: the options only this mode uses (they resolve to None in every other mode)
    own_options = ("test_dataset", "test_data_dir")
    #: the phase of the run's wall time that scoring the target takes
    phase = "target"

    def applies_to(self, config) -> bool:
        return getattr(config, "test_dataset", None) is not None

    def unused_options(self, config, unused: tuple[str, ...]) -> tuple[str, ...]:
        """``unused`` adjusted for ``--test-dataset``: the target's own data options (``--ck-frames`` for a CK+ target)
        load the target, so they are kept; ``--test-data-dir`` is unused without a target or for an embedded one. A
        target that is the source itself is refused."""
        target = DATASETS.get(config.test_dataset)
        if target is None:
            raise FerBenchError(f"--test-dataset: unknown dataset {config.test_dataset!r}"
                                f"{did_you_mean(config.test_dataset, DATASETS)}; choose one of "
                                f"{', '.join(DATASETS)}")
        if config.test_dataset == config.dataset:
            raise FerBenchError(f"--test-dataset {config.test_dataset} is --dataset itself; cross-dataset evaluation "
                                f"scores another dataset (leave out --test-dataset to score {config.dataset} by its own "
                                f"protocol)")
        kept = tuple(o for o in unused if o not in target.own_options)
        return (*kept, "test_data_dir") if target.embedded is not None else kept

    def data_configs(self, config) -> list:
        return [target_config(config)]

    def plan(self, protocol: Protocol, dataset: Dataset, others: tuple[Dataset, ...]) -> Plan:
        (target,) = others
        cross = CrossDataset.build(protocol, dataset, target)
        return Plan(cross, target, cross.mapping.shared_target_names, others)

    def announce(self, plan: Plan) -> list[str]:
        return [_announcement(plan.reported, plan.scored)]

    def label(self, config) -> str:
        return f"{config.dataset} -> {config.test_dataset}"

    def score(self, plan: Plan, result, config, protocol: Protocol, dataset: Dataset) -> Scored:
        cross, target = plan.reported, plan.scored
        source, source_figures = source_part(result.predictions, dataset, protocol)
        predictions, facts = score_target(cross, result.fold_models, target, config)
        return Scored(predictions, header={"test_dataset": target.name},
                      extra={"source": source_figures, "cross_dataset": facts},
                      manifest={"test_dataset": target.summary(), "class_mapping": cross.mapping.summary(),
                                "cross_dataset": facts},
                      source=source)

    def recorded_in(self, run) -> bool:
        return run.metrics["protocol"] == CrossDataset.name

    def identity(self, run) -> dict:
        return {"test_dataset": (run.config.get("test_dataset"), (run.manifest.get("test_dataset") or {}).get("name"))}

    def verify(self, run) -> str | None:
        return _check(run)

    def other_datasets(self, run) -> list[dict]:
        return [run.manifest["test_dataset"]]

    def experiment_options(self, run) -> dict:
        return {"test_data": run.manifest["test_dataset"]["fingerprint"][:12]}

    def model_test_images(self, run) -> tuple[pd.DataFrame, str, str]:
        return run.source_predictions, PROTOCOLS[run.metrics["source"]["protocol"]].column, SOURCE_PREDICTIONS

    def report_tables(self, runs: list, kit) -> list:
        return [_table(runs, kit)]


def _target_of(run) -> str:
    return run.metrics["test_dataset"]


def _check(run) -> str | None:
    """The parts only a cross-dataset run has (see the module docstring), first disagreement in one line."""
    m, manifest = run.metrics, run.manifest
    source, facts = m["source"], m["cross_dataset"]
    if source.get("dataset") != m["dataset"]:
        return f"metrics.json's source names dataset {source.get('dataset')!r} but the run's is {m['dataset']!r}"
    if source.get("protocol") != manifest["protocol"]["source"].get("kind"):
        return (f"metrics.json's source protocol {source.get('protocol')!r} is not manifest.json's "
                f"{manifest['protocol']['source'].get('kind')!r}")
    reason = _check_source_part(run)
    if reason:
        return reason
    try:
        mapping = class_mapping(source["class_names"], manifest["test_dataset"]["class_names"])
    except (FerBenchError, KeyError, TypeError) as exc:
        return f"the class mapping cannot be rebuilt from the two datasets' class names ({exc})"
    if list(m["class_names"]) != list(mapping.shared_target_names):
        return (f"metrics.json's class_names {m['class_names']} are not the emotions the two datasets share "
                f"({list(mapping.shared_target_names)})")
    if manifest.get("class_mapping") != mapping.summary():
        return "manifest.json's class_mapping differs from the canonical emotion table's"
    columns = score_columns(mapping.source_names)
    absent = [c for c in (*columns, TOP_CLASS) if c not in run.predictions.columns]
    if absent:
        return f"predictions.csv lacks {', '.join(absent[:3])}, needed to check its predictions"
    try:
        scores = run.predictions[columns].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return "predictions.csv has scores that are not numbers"
    predicted, top = restricted_predictions(scores, mapping)
    names = np.asarray(mapping.target_names, dtype=object)
    differ = np.flatnonzero(names[predicted] != run.predictions.y_pred.astype(str).to_numpy())
    if len(differ):
        row = run.predictions.iloc[differ[0]]
        return (f"predictions.csv predicts {row.y_pred} for sample {row.sample_id}, but the argmax of its scores "
                f"over the shared emotions is {names[predicted[differ[0]]]} ({len(differ)} such rows)")
    tops = np.asarray(mapping.source_names, dtype=object)[top]
    if not np.array_equal(tops, run.predictions[TOP_CLASS].astype(str).to_numpy()):
        return f"predictions.csv's {TOP_CLASS} is not the top of its scores over every source class"
    where = first_difference(facts.get("top_class_outside", MISSING), outside_counts(top, mapping),
                              "cross_dataset.top_class_outside")
    if where is not None:
        return f"metrics.json {where[0]} is {shown(where[1])} but predictions.csv gives {shown(where[2])}"
    if facts.get("n_scored") != len(run.predictions):
        return f"metrics.json says {facts.get('n_scored')} target images were scored; predictions.csv has " \
               f"{len(run.predictions)}"
    dropped = dropped_counts_of(run.splits, run.part_column)
    if facts.get("dropped") != dropped or facts.get("n_dropped") != sum(sum(v.values()) for v in dropped.values()):
        return f"metrics.json's drop counts {facts.get('dropped')} are not splits.csv's {dropped}"
    if manifest.get("cross_dataset") != facts:
        return "manifest.json's cross_dataset figures differ from metrics.json's"
    return None


def _check_source_part(run) -> str | None:
    """The source's own predictions against its own protocol, assignment and figures: the checks every run
    passes, on ``source_predictions.csv``, ``source_splits.csv``, ``metrics.json["source"]`` and the manifest's
    ``protocol.source``."""
    source = run.metrics["source"]
    if source.get("protocol") not in set(PROTOCOLS) - {CrossDataset.name}:
        return f"metrics.json's source protocol {source.get('protocol')!r} is not one a source is fitted under"
    view = replace(run, metrics={**source, "dataset": run.metrics["dataset"]},
                   manifest={**run.manifest, "protocol": run.manifest["protocol"]["source"]},
                   predictions=run.source_predictions, splits=run.source_splits)
    reason = check_parts(view)
    if reason:
        reason = re.sub(r"\b(predictions|splits)\.csv", r"source_\1.csv", reason)
        return "the source's own part: " + reason.replace("metrics.json", "metrics.json source")
    return None


def _table(runs: list, kit):
    """One row per experiment (model, features, options; mean over seeds), grouped by source -> target."""
    columns = [*kit.ROW_LABELS,
               kit.Column("Accuracy (%)", short="Acc.", means="accuracy on the target's scored images (%)"),
               kit.Column("Macro-F1 (%)", short="Macro-F1", means="macro-F1 over the shared emotions (%)"),
               kit.Column("Scored", short="n", means="target images scored"),
               kit.Column("Dropped", short="Drop.", means="target images of an emotion the source lacks, or "
                                                     "pixel-identical to a source image"),
               kit.Column("Top class outside (%)", short="Out.", means="scored images whose unrestricted top class "
                                                                   "is an emotion the target lacks (%)"),
               kit.Column("Source in-domain acc. (%)", short="Source", means="the source's own protocol's accuracy (%)"),
               kit.Column("Seeds", short="Seeds")]
    table = kit.Table("cross_dataset", "Cross-dataset evaluation: fitted and selected on the source by its own "
                  "protocol, every target image of an emotion the source knows scored once (k-fold sources: mean "
                  "score over the fold models); predictions restricted to the emotions both datasets share. "
                  "Rows with several seeds give mean ± std over seeds.", columns)
    pairs = []
    for target in sorted({_target_of(r) for r in runs}):
        for section, exps in kit.group_experiments([r for r in runs if _target_of(r) == target]).items():
            pairs.append((f"{kit.title_of(section)} → {kit.title_of(target)}", exps))
    every = [e for _, exps in pairs for e in exps]
    for pair, exps in pairs:
        sub = kit.Table(table.name, table.caption, columns)
        kit.fill_grouped(sub, exps, lambda exp: _row(exp, pair, kit))
        table.groups += [(f"{pair}: {title}" if len(sub.groups) > 1 else pair, rows) for title, rows in sub.groups]
        table.raw += sub.raw
    kit.mark_variants(table, every)
    return table


def _row(exp, pair: str, kit):
    """Cells, raw CSV values and (no) compared numbers of one experiment's row."""
    first = exp.runs[0]
    facts = [r.metrics["cross_dataset"] for r in exp.runs]
    cells, raw = [], {"pair": pair, "source": exp.dataset, "target": _target_of(first)}
    for key in ("accuracy", "macro_f1"):
        mean, std = exp.summary(key)
        cells.append(kit.pct(mean, std))
        raw.update({key: mean, f"{key}_std": std})
    outside = float(np.mean([f["top_class_outside"]["rate"] for f in facts]))
    source, source_std = exp.summary("source.accuracy")
    if len(exp.runs) == 1:  # one run: the spread over its folds, where the source has folds
        source_std = first.metrics["source"].get("accuracy_std")
    scored, dropped = facts[0]["n_scored"], facts[0]["n_dropped"]
    cells += [str(scored), str(dropped), kit.pct(outside), kit.pct(source, source_std), str(len(exp.runs))]
    by_class = facts[0]["top_class_outside"]["by_class"] if len(facts) == 1 else None
    raw.update({"n_scored": scored, "n_dropped": dropped, "dropped": json.dumps(facts[0]["dropped"]),
                "top_class_outside_rate": outside,
                "top_class_outside_by_class": json.dumps(by_class) if by_class is not None else "",
                "source_protocol": first.metrics["source"]["protocol"],
                "source_accuracy": source, "source_accuracy_std": source_std, "n_seeds": len(exp.runs),
                "runs": " ".join(r.run_id for r in exp.runs)})
    return cells, raw, {}
