"""The report's cross-dataset table: models fitted on one dataset, scored on another (``--test-dataset``).

Cross-dataset runs never enter the in-domain tables (a model's score on CK+ after training on FER2013 is not a
FER2013 result, and must never be averaged with one); they get this table of their own, one group of rows per
source -> target pair, with the source's in-domain score beside the target's for comparison.
"""

from __future__ import annotations

import json

import numpy as np

from ..record import Run
from ._experiment_tables import ROW_LABELS, _fill_grouped, _mark_variants, _pct
from ._experiments import Experiment, group_experiments
from ._names import title_of
from ._tables import Column, Table

#: The section of report.md/.tex that holds the table.
SECTION = "Cross-dataset evaluation"


def split_cross_dataset(runs: list[Run]) -> tuple[list[Run], list[Run]]:
    """(in-domain runs, cross-dataset runs)."""
    return [r for r in runs if not r.cross_dataset], [r for r in runs if r.cross_dataset]


def cross_dataset_table(runs: list[Run]) -> Table:
    """One row per experiment (model, features, options; mean over seeds), grouped by source -> target."""
    columns = [*ROW_LABELS,
               Column("Accuracy (%)", short="Acc.", means="accuracy on the target's scored images (%)"),
               Column("Macro-F1 (%)", short="Macro-F1", means="macro-F1 over the shared emotions (%)"),
               Column("Scored", short="n", means="target images scored"),
               Column("Dropped", short="Drop.", means="target images of an emotion the source lacks, or "
                                                     "pixel-identical to a source image"),
               Column("Top class outside (%)", short="Out.", means="scored images whose unrestricted top class "
                                                                   "is an emotion the target lacks (%)"),
               Column("Source in-domain acc. (%)", short="Source", means="the source's own protocol's accuracy (%)"),
               Column("Seeds", short="Seeds")]
    table = Table("cross_dataset", "Cross-dataset evaluation: fitted and selected on the source by its own "
                  "protocol, every target image of an emotion the source knows scored once (k-fold sources: mean "
                  "score over the fold models); predictions restricted to the emotions both datasets share. "
                  "Rows with several seeds give mean ± std over seeds.", columns)
    pairs: list[tuple[str, list[Experiment]]] = []
    for target in sorted({r.test_dataset for r in runs}):
        for section, exps in group_experiments([r for r in runs if r.test_dataset == target]).items():
            pairs.append((f"{title_of(section)} → {title_of(target)}", exps))
    every = [e for _, exps in pairs for e in exps]
    for pair, exps in pairs:
        sub = Table(table.name, table.caption, columns)
        _fill_grouped(sub, exps, lambda exp: _row(exp, pair))
        table.groups += [(f"{pair}: {title}" if len(sub.groups) > 1 else pair, rows) for title, rows in sub.groups]
        table.raw += sub.raw
    _mark_variants(table, every)
    return table


def _row(exp: Experiment, pair: str):
    """Cells, raw CSV values and (no) compared numbers of one experiment's row."""
    first = exp.runs[0]
    facts = [r.metrics["cross_dataset"] for r in exp.runs]
    cells, raw = [], {"pair": pair, "source": exp.dataset, "target": first.test_dataset}
    for key in ("accuracy", "macro_f1"):
        mean, std = exp.summary(key)
        cells.append(_pct(mean, std))
        raw.update({key: mean, f"{key}_std": std})
    outside = float(np.mean([f["top_class_outside"]["rate"] for f in facts]))
    source, source_std = exp.summary("source.accuracy")
    if len(exp.runs) == 1:  # one run: the spread over its folds, where the source has folds
        source_std = first.metrics["source"].get("accuracy_std")
    scored, dropped = facts[0]["n_scored"], facts[0]["n_dropped"]
    cells += [str(scored), str(dropped), _pct(outside), _pct(source, source_std), str(len(exp.runs))]
    by_class = facts[0]["top_class_outside"]["by_class"] if len(facts) == 1 else None
    raw.update({"n_scored": scored, "n_dropped": dropped, "dropped": json.dumps(facts[0]["dropped"]),
                "top_class_outside_rate": outside,
                "top_class_outside_by_class": json.dumps(by_class) if by_class is not None else "",
                "source_protocol": first.metrics["source"]["protocol"],
                "source_accuracy": source, "source_accuracy_std": source_std, "n_seeds": len(exp.runs),
                "runs": " ".join(r.run_id for r in exp.runs)})
    return cells, raw, {}
