"""Building ``reports/tables``, ``reports/figures`` and ``reports/report.md``/``.tex`` from complete runs.

Only runs that pass every check are used: complete and self-consistent (:mod:`benchmark.record`) and,
where an experiment and seed was run more than once, agreeing with its duplicates (:mod:`._duplicates`). Runs
of the same experiment (same dataset, model, features, options and platform) with different seeds are
aggregated as mean +/- std with n. Runs of an evaluation mode with a report section of its own (cross-dataset
runs, ``--test-dataset``) get that section's tables (built by the mode, with :data:`KIT`) and never enter the
per-dataset tables. Each section also gets its methods paragraphs (``<section>_methods.tex``, :mod:`._methods`),
and every caption cites its sources from ``references.bib``. Everything written is a function of the run folders
only (no build time, fixed bootstrap seed), so rebuilding from the same runs gives byte-identical tables; outputs
are built in a staging folder and swapped in at the end (:mod:`._output`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import FerBenchError, WorkFailedError
from ..evaluations import EVALUATIONS, evaluation_of
from ..record import collect_runs
from ..verification import verify_runs
from . import _experiment_tables as experiment_tables
from ._document import PAPERS, SectionBody, write_documents
from ._duplicates import resolve_duplicates
from ._experiment_tables import (confidence_table, confusion_tables, duplicates_table, per_class_table, summary_table,
                                 tests_table)
from ._ensembles import ensemble_table
from ._experiments import group_experiments
from ._methods import write_methods
from ._names import dataset_slug, title_of
from ._references import caption_sources, write_references
from ._sections_index import Section, carry_earlier_sections
from ._tables import Column, Table
from ._figures import write_figures, write_summary_plots
from ._output import check_writable, staged


#: The tables of every dataset section, in the order the report shows them: each takes (dataset, experiments) and
#: returns a :class:`Table` named ``<dataset slug>_<what>``, or None where it does not apply (the paired tests need
#: two model kinds; the accuracy without duplicates needs a protocol that marks them and runs that have it; the seed
#: ensembles need a CNN experiment with several seeds). An evaluation mode with a section of its own builds that
#: section's tables itself.
DATASET_TABLES = (summary_table, duplicates_table, ensemble_table, per_class_table, confidence_table, tests_table)


def build_report(reports_dir: Path, *, paper: str = "a4") -> dict:
    """Write tables, figures and report.md/.tex from every usable run under ``reports_dir/runs``.

    Raises :class:`FerBenchError` (exit 2) when the outputs cannot be written there, checked before any work;
    :class:`WorkFailedError` (exit 1) when no run is usable or writing fails. Returns ``runs`` (how many were
    used), ``skipped`` and ``inconsistent`` ((run id, reason) pairs), ``duplicates`` ((run id not used, run id used
    in its place) pairs), ``conflicting`` (lists of run ids that disagree, none used), ``warnings`` (one line each,
    for the console), ``datasets`` (report sections), and the ``tables``/``figures`` folders and ``report`` path.
    """
    if paper not in PAPERS:
        raise FerBenchError(f"--paper must be {' or '.join(PAPERS)}, got {paper!r}")
    reports_dir = Path(reports_dir)
    runs_dir = reports_dir / "runs"
    if reports_dir.exists() and not reports_dir.is_dir():
        raise FerBenchError(f"--reports-dir {reports_dir} is a file, expected the folder holding runs/")
    if runs_dir.exists() and not runs_dir.is_dir():
        raise FerBenchError(f"{runs_dir} is a file, expected the folder of run folders")
    if runs_dir.is_dir():
        check_writable(reports_dir)
    runs, skipped = collect_runs(runs_dir)
    runs, inconsistent = verify_runs(runs)
    duplicates = resolve_duplicates(runs)
    if not duplicates.runs:
        raise WorkFailedError(_no_runs(runs_dir, skipped, inconsistent, duplicates.conflicting))
    by_mode = {e.name: [r for r in duplicates.runs if evaluation_of(r) is e] for e in EVALUATIONS}
    by_dataset = group_experiments([r for e in EVALUATIONS if e.report_section is None for r in by_mode[e.name]])
    own_sections = [e for e in EVALUATIONS if e.report_section is not None and by_mode[e.name]]
    with staged(reports_dir) as stage:
        sections, index = [], []
        for dataset, exps in by_dataset.items():
            before = _files(stage)
            methods = write_methods(dataset, exps, stage / "tables")
            made = {make: make(dataset, exps) for make in DATASET_TABLES}
            tables = [table for table in made.values() if table is not None]
            for table in [*tables, *confusion_tables(dataset, exps)]:  # the matrices: files only, not in report.tex
                table.write(stage / "tables")
            figures = write_figures(dataset, exps, stage / "figures") + write_summary_plots(
                dataset, made[summary_table], made[confidence_table], stage / "figures")
            sections.append(SectionBody(dataset, tables, figures, made[tests_table] is None, methods))
            index.append(Section(dataset_slug(dataset), title_of(dataset), tuple(sorted(_files(stage) - before))))
        for evaluation in own_sections:
            before = _files(stage)
            runs_of_mode = by_mode[evaluation.name]
            methods = write_methods(evaluation.report_section, [exp for exps in group_experiments(
                runs_of_mode).values() for exp in exps], stage / "tables")
            tables = evaluation.report_tables(runs_of_mode, KIT)
            for table in tables:
                table.sources = table.sources or caption_sources(runs_of_mode)  # the mode's runs, where it cites none
                table.write(stage / "tables")
            sections.append(SectionBody(evaluation.report_section, tables, methods=methods))
            index.append(Section(dataset_slug(evaluation.report_section), evaluation.report_section,
                                 tuple(sorted(_files(stage) - before))))
        earlier = carry_earlier_sections(reports_dir, stage, index)
        write_documents(stage, duplicates.runs, sections, unused=_unused(skipped, inconsistent, duplicates),
                        warnings=duplicates.warnings, n_inconsistent=len(inconsistent), files=[*index, *earlier],
                        paper=paper)
        write_references(stage, duplicates.runs)  # last: with the key of every \cite the files above hold
    return {"runs": len(duplicates.runs), "skipped": skipped, "inconsistent": inconsistent,
            "duplicates": duplicates.identical, "conflicting": duplicates.conflicting,
            "warnings": duplicates.warnings, "datasets": list(by_dataset) + [e.report_section for e in own_sections],
            "tables": reports_dir / "tables",
            "figures": reports_dir / "figures", "report": reports_dir / "report.md"}


@dataclass(frozen=True)
class ReportKit:
    """What an evaluation mode's own report section builds its tables with (the report sits above the modes, so it
    hands them its toolkit): the table types, the experiment grouping and the row helpers of the per-dataset
    tables."""

    Table: type
    Column: type
    ROW_LABELS: list
    group_experiments: Callable
    fill_grouped: Callable
    mark_variants: Callable
    pct: Callable
    title_of: Callable


KIT = ReportKit(Table, Column, experiment_tables.ROW_LABELS, group_experiments, experiment_tables.fill_grouped,
                experiment_tables.mark_variants, experiment_tables.pct, title_of)


def _files(stage: Path) -> set[str]:
    """The files under the staging folder's tables/ and figures/, relative to it."""
    return {p.relative_to(stage).as_posix() for folder in ("tables", "figures") for p in (stage / folder).rglob("*")
            if p.is_file()}


def _unused(skipped, inconsistent, duplicates) -> list[tuple[str, str]]:
    """Every run folder the report did not use, with the reason, sorted by name (for "Runs not used")."""
    return sorted(skipped + [(name, f"inconsistent: {reason}") for name, reason in inconsistent]
                  + [(name, "disagreeing duplicate (see Warnings), not used")
                     for group in duplicates.conflicting for name in group]
                  + [(name, f"same predictions as {kept}, counted once") for name, kept in duplicates.identical])


def _no_runs(runs_dir: Path, skipped, inconsistent, conflicting) -> str:
    """The one line saying there is nothing to report, what was set aside (with the first reason), and how to
    make runs."""
    left_out = [f"{n} {what}" for n, what in ((len(skipped), "skipped"), (len(inconsistent), "inconsistent"),
                                             (sum(map(len, conflicting)), "disagreeing duplicates")) if n]
    first = next(iter(inconsistent + skipped), None)
    example = f", e.g. {first[0]}: {first[1]}" if first else ""
    if not left_out and runs_dir.parent.name == "runs" and any(runs_dir.parent.glob("*/metrics.json")):
        return (f"no complete runs usable under {runs_dir}; {runs_dir.parent} holds run folders itself: give the "
                f"folder above it (--reports-dir {runs_dir.parent.parent})")
    return (f"no complete runs usable under {runs_dir}" + (f" ({', '.join(left_out)}{example})" if left_out else "")
            + "; create some with 'fer-bench run --dataset synthetic --model svm-rbf' or 'fer-bench suite "
              "suites/demo.toml' ('make demo' builds its own report in reports/demo/)")
