"""The thesis report (``fer-bench report``): tables, statistics, figures and provenance from complete runs."""

from ..record import Run, collect_runs
from ..verification import check_run, verify_runs
from ._build import DATASET_TABLES, KIT, build_report
from ._document import compile_pdf, find_pdflatex
from ._experiments import group_experiments
from ._stats import bootstrap_ci, corrected_resampled_ttest, mcnemar_exact, wilcoxon_signed_rank
from ._tables import Table, latex_escape

__all__ = ["DATASET_TABLES", "KIT", "Run", "Table", "bootstrap_ci", "build_report", "check_run", "collect_runs",
           "compile_pdf", "corrected_resampled_ttest", "find_pdflatex", "group_experiments", "latex_escape",
           "mcnemar_exact", "verify_runs", "wilcoxon_signed_rank"]
