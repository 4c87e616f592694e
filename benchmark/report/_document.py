"""``reports/report.md`` and ``reports/report.tex``: the tables and figures, put together with their provenance;
and ``report.pdf`` compiled from ``report.tex`` with pdflatex (``fer-bench report --pdf``).

The LaTeX prose (provenance, warnings, runs not used) names run ids, paths and fingerprints: report.tex lets a line
break after an underscore and stretch further before one sticks out of the margin. Captions and each section's
methods cite with natbib's ``\\citep`` from ``references.bib``, which report.tex uses as its bibliography.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FerBenchError, WorkFailedError
from ..evaluations import evaluation_of
from ..kinds import kind_named
from ..record import Run
from ._experiments import machine_of
from ._names import dataset_slug, title_of
from ._tables import breakable, cited_caption, latex_escape, standalone


#: How many skipped input names the provenance quotes per dataset.
SKIPPED_NAMES_SHOWN = 3


#: How the provenance names a library whose PyPI name says little.
LIBRARY_NAMES = {"daal": "oneDAL", "dlib-bin": "dlib"}


def provenance(runs: list[Run], n_inconsistent: int = 0) -> list[str]:
    """Sentences on tool versions, commits, data (and inputs skipped from it), protocols, hardware and dates, all
    read from the runs; plus how many runs were left out because their files disagree."""
    def unique(values):
        return sorted({str(v) for v in values if v not in (None, "")})

    versions = unique(r.manifest.get("tool_version") for r in runs)
    commits = unique((r.manifest.get("git_commit") or "")[:12] + (" (uncommitted changes)" if r.manifest.get(
        "git_dirty") else "") for r in runs if r.manifest.get("git_commit"))
    data = unique(f"{title_of(d.get('name', r.dataset))} ({d.get('layout', '?')}, "
                  f"{d.get('n_images', d.get('size', '?'))} images, "
                  f"fingerprint {str(d.get('fingerprint', ''))[:12]})"
                  for r in runs for d in (r.manifest["dataset"], *evaluation_of(r).other_datasets(r)) if d)
    protocols = unique(f"{title_of(r.dataset)}: {r.manifest['protocol'].get('description')} "
                       f"(split fingerprint {str(r.manifest['protocol'].get('fingerprint', ''))[:12]})"
                       for r in runs)
    hardware = unique(f"{machine_of(r)}, {r.manifest.get('platform')}" for r in runs)
    devices = unique(f"{r.metrics['model']} on {r.manifest['training_device'].get('device')} "
                     f"({r.manifest['training_device'].get('precision')})" for r in runs
                     if r.manifest.get("training_device"))
    packages = unique(f"{LIBRARY_NAMES.get(k, k)} {v}" for r in runs
                      for k, v in kind_named(r.kind).libraries(r.manifest, r.config).items())
    dates = unique(r.manifest.get("finished_utc", "")[:10] for r in runs)
    return [
        f"{len(runs)} runs made with fer-bench {', '.join(versions) or 'unknown version'}"
        + (f" at commit {', '.join(commits)}" if commits else "") + f"; Python {', '.join(unique(r.manifest.get('python') for r in runs))}; "
        + ", ".join(packages) + ".",
        "Data: " + "; ".join(data) + ".",
        *skipped_inputs(runs),
        "Protocols: " + "; ".join(protocols) + ".",
        "Hardware: " + "; ".join(hardware) + (f". CNN training devices: {'; '.join(devices)}" if devices else "")
        + ".",
        "Runs finished " + (f"between {dates[0]} and {dates[-1]}" if len(dates) > 1 else f"on {dates[0]}")
        + " (UTC). Every number traces to a run folder in runs/ of the reports folder (listed in the tables' CSV "
          "files).",
        *([f"Left out: {n_inconsistent} inconsistent run{'s' if n_inconsistent > 1 else ''}, whose predictions, "
           f"splits and metrics disagree (listed under Runs not used)."] if n_inconsistent else []),
    ]


def _data_name(run: Run) -> str:
    return f"{title_of(run.dataset)} (fingerprint {str(run.manifest['dataset'].get('fingerprint', ''))[:12]})"


def skipped_inputs(runs: list[Run]) -> list[str]:
    """One sentence per dataset copy that had inputs skipped on loading (unreadable images, faces not found):
    how many, and the first names."""
    sentences = {}
    for run in runs:
        skipped = run.manifest["dataset"].get("skipped") or []
        if skipped:
            names = [item.get("path", "?") if isinstance(item, dict) else str(item) for item in skipped]
            reasons = sorted({item.get("reason", "") for item in skipped if isinstance(item, dict)} - {""})
            shown = ", ".join(names[:SKIPPED_NAMES_SHOWN]) + (", ..." if len(names) > SKIPPED_NAMES_SHOWN else "")
            sentences[_data_name(run)] = (f"{_data_name(run)}: {len(names)} input{'s' if len(names) > 1 else ''} "
                                          f"skipped on loading ({shown})"
                                          + (f", as {'; '.join(reasons)}" if reasons else "") + ".")
    return [sentences[k] for k in sorted(sentences)]


def dataset_warnings(runs: list[Run]) -> list[str]:
    """The loaders' warnings about the data the runs used (duplicated, blank, converted images...), one line
    each, each said once however many runs share the data; where runs of one dataset used different copies of it
    (another layout, another file), each line names the copy (layout, and file or folder)."""
    copies: dict[str, set] = {}
    for run in runs:
        copies.setdefault(run.dataset, set()).add(run.manifest["dataset"].get("fingerprint"))

    def source(run) -> str:
        data = run.manifest["dataset"]
        if len(copies[run.dataset]) < 2:
            return title_of(run.dataset)
        return f"{title_of(run.dataset)} ({data.get('layout')}, {Path(str(data.get('root') or '')).name})"

    lines = {f"{source(run)}: {warning}" for run in runs
             for warning in ((run.manifest["dataset"].get("diagnostics") or {}).get("warnings") or [])}
    return sorted(lines)


@dataclass(frozen=True)
class SectionBody:
    """What one report section shows: its title key (``"ck+ (10-fold)"``), its tables (:class:`Table`), its
    figures (``._figures.Figure``), whether it has no paired test, and its methods (the Markdown of the
    ``<section>_methods`` files, or None where the section has none)."""

    section: str
    tables: list
    figures: list = field(default_factory=list)
    untested: bool = False
    methods: str | None = None


#: report.tex's preamble lines that keep run ids and paths inside the margin: a line may break after an underscore
#: ("20260101T000000Z_ck+_svm-rbf_hog_s0_..."), and stretch its spaces further before a name sticks out.
_BREAKABLE_NAMES = (r"\DeclareRobustCommand{\_}{\textunderscore\allowbreak}",
                    r"\setlength{\emergencystretch}{3em}")


def write_documents(folder: Path, runs: list[Run], sections, *, unused: list[tuple[str, str]],
                    warnings: list[str], n_inconsistent: int = 0, files=(), paper: str = "a4") -> None:
    """Write ``report.md`` and ``report.tex`` into ``folder``: warnings first (runs that must be sorted out
    before their numbers can be used), the provenance and the data's warnings, one section per dataset
    (``sections``: a :class:`SectionBody` each; its methods, tables and figures), the runs not used with the reason
    for each, and (report.tex) the bibliography from ``references.bib``."""
    about = " ".join(provenance(runs, n_inconsistent))
    data_warnings = dataset_warnings(runs)
    lines_md = ["# fer-bench report", ""]
    tex = [r"\documentclass{article}", f"\\usepackage[{paper}paper,margin=2cm]{{geometry}}",
           r"\usepackage{booktabs}", r"\usepackage{natbib}",
           r"\usepackage{graphicx}", r"\usepackage{subcaption}", r"\usepackage[T1]{fontenc}", *_BREAKABLE_NAMES,
           r"\begin{document}",
           r"\section*{fer-bench report}"]
    if warnings:
        lines_md += ["## Warnings", "", *[f"- {line}" for line in warnings], ""]
        tex += [r"\section*{Warnings}", *_itemize(warnings)]
    lines_md += ["## Provenance", "", about, "",
                 "(`provenance.tex`: this paragraph, to `\\input`; `references.bib`: the sources of the datasets, "
                 "features, models, training methods and tests these runs used, with every key that a caption or "
                 "methods paragraph of the `.tex` files cites.)", ""]
    tex.append(r"\paragraph{Provenance} " + breakable(latex_escape(about), underscores=False))
    # on its own in a thesis, without report.tex's preamble: run ids and paths may break after an underscore
    (Path(folder) / "provenance.tex").write_text(standalone(breakable(latex_escape(about))))
    if data_warnings:
        lines_md += ["Warnings about the data:", "", *[f"- {line}" for line in data_warnings], ""]
        tex += [latex_escape("Warnings about the data:"), *_itemize(data_warnings)]
    for body in sections:
        title, slug = title_of(body.section), dataset_slug(body.section)
        lines_md += [f"## {title}", ""]
        tex.append(f"\\section*{{{latex_escape(title)}}}")
        if body.methods is not None:
            lines_md += ["### Methods", "", body.methods.rstrip(), "",
                         f"(`tables/{slug}_methods.tex`: these paragraphs, citing `references.bib`, to `\\input` in "
                         f"a thesis's methods chapter; `.md`: as here.)", ""]
            tex += [r"\subsection*{Methods}", f"\\input{{tables/{slug}_methods.tex}}"]
        for table in body.tables:
            lines_md += [table.to_md(), f"(`tables/{table.name}.tex`, `.md`, `.csv`)", ""]
            tex.append(f"\\input{{tables/{table.name}.tex}}")
        if body.untested:
            note = ("No paired test: the dataset needs complete runs of at least one classical and one deep model "
                    "with a common seed and the same split.")
            lines_md += [f"_{note}_", ""]
            tex.append(latex_escape(note))
        for figure in body.figures:
            rel = f"figures/{figure.stem.name}"
            lines_md += [f"![{figure.stem.name}]({rel}.png)", ""]
            tex += [r"\begin{figure}[htbp]", r"\centering"]
            if figure.members:  # a side-by-side pair: its two matrices' own files, each at the full width
                for member in figure.members:
                    tex += [r"\begin{subfigure}{\linewidth}", r"\centering",
                            f"\\includegraphics[width=\\linewidth]{{figures/{member.stem.name}.pdf}}",
                            f"\\caption{{{latex_escape(member.caption)}}}", r"\end{subfigure}", r"\par\medskip"]
            else:
                tex.append(f"\\includegraphics[width=\\linewidth]{{{rel}.pdf}}")
            tex += [f"\\caption{{{cited_caption(f'{title}: {figure.caption}', figure.sources)}}}",
                    f"\\label{{fig:{figure.stem.name.replace('_', '-')}}}", r"\end{figure}"]
        tex.append(r"\clearpage")
    if files:
        lines_md += ["## Files", "", "Each section's files keep their names from build to build (they are named from "
                     "the dataset and the protocol with its parameters). A section whose runs are no longer in "
                     "runs/ keeps the files an earlier build wrote, so documents that cite them still compile.", ""]
        for section in files:
            lines_md += [f"- {section.title}" + (" (from an earlier build; none of its runs is in runs/ now)"
                                                  if section.earlier else "") + ": "
                         + ", ".join(f"`{name}`" for name in section.files)]
        lines_md.append("")
    if unused:
        lines_md += ["## Runs not used", ""] + [f"- `{name}`: {reason}" for name, reason in unused] + [""]
        tex += [r"\section*{Runs not used}", *_itemize(f"{name}: {reason}" for name, reason in unused)]
    tex += [r"\bibliographystyle{plainnat}", r"\bibliography{references}", r"\end{document}"]
    (Path(folder) / "report.md").write_text("\n".join(lines_md).rstrip() + "\n")
    (Path(folder) / "report.tex").write_text("\n".join(tex) + "\n")


def _itemize(lines) -> list[str]:
    items = [f"\\item {breakable(latex_escape(line), underscores=False)}" for line in lines]
    return [r"\begin{itemize}", *items, r"\end{itemize}"]


#: The TeX packages that give pdflatex and everything report.tex uses, as Debian and Ubuntu name them.
TEX_PACKAGES = "texlive-latex-recommended texlive-latex-extra"
#: Where ``--pdf`` has pdflatex write (hidden, in the reports folder); removed once the PDF is built.
PDF_BUILD = ".pdf-build"
#: ``--paper``: the page size of report.tex (the tables fit either's text width).
PAPERS = ("a4", "letter")
#: Longest a pdflatex pass may take before the build is called failed (a report has a few dozen pages).
PDFLATEX_TIMEOUT_S = 300


def find_pdflatex() -> str:
    """The pdflatex executable; :class:`FerBenchError` (exit 2) saying how to install TeX when there is none,
    so that ``--pdf`` fails before anything is built."""
    found = shutil.which("pdflatex")
    if found is None:
        raise FerBenchError(f"--pdf needs pdflatex, which is not on PATH: install TeX (Debian/Ubuntu: apt-get "
                            f"install {TEX_PACKAGES}; elsewhere TeX Live or MiKTeX), or leave out --pdf")
    return found


def compile_pdf(folder: Path, pdflatex: str) -> Path:
    """Compile ``folder/report.tex`` into ``folder/report.pdf``: BibTeX on ``references.bib`` and two more passes
    where the captions and methods cite (and bibtex is installed), else a second pass when LaTeX asks for one
    (cross-references). :class:`WorkFailedError` naming ``report.log`` and its first error when LaTeX fails."""
    folder = Path(folder)
    build = folder / PDF_BUILD  # LaTeX's .aux, .log and .out go here, not beside the PDF
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    (folder / "report.pdf").unlink(missing_ok=True)  # never mistaken for this build's
    text = _pdflatex_pass(folder, pdflatex)
    passes = 2 if _bibtex(folder) else int("Rerun to get" in text)
    for _ in range(passes):
        _pdflatex_pass(folder, pdflatex)
    (build / "report.pdf").replace(folder / "report.pdf")
    shutil.rmtree(build, ignore_errors=True)  # kept only when LaTeX fails, for its log
    return folder / "report.pdf"


def _pdflatex_pass(folder: Path, pdflatex: str) -> str:
    """One pdflatex pass over ``folder/report.tex`` into :data:`PDF_BUILD`; returns its log."""
    build, log = folder / PDF_BUILD, folder / PDF_BUILD / "report.log"
    try:
        result = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
                                 f"-output-directory={PDF_BUILD}", "report.tex"], cwd=folder,
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=PDFLATEX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WorkFailedError(f"pdflatex took over {PDFLATEX_TIMEOUT_S} s on {folder / 'report.tex'}; "
                              f"see {log}") from None
    text = log.read_text(errors="replace") if log.is_file() else ""
    if result.returncode != 0 or not (build / "report.pdf").is_file():
        error = next((line.strip() for line in text.splitlines() if re.match(r"!|.*:\d+: ", line)), "")
        raise WorkFailedError(f"pdflatex could not compile {folder / 'report.tex'}"
                              + (f" ({error})" if error else "") + f"; see {log}")
    return text


def _bibtex(folder: Path) -> bool:
    """Run bibtex on the first pass's citations (``references.bib`` beside report.tex); whether it wrote the
    bibliography. Without bibtex, or where it fails, the PDF is built all the same, its citations shown as "?"."""
    bibtex, aux = shutil.which("bibtex"), folder / PDF_BUILD / "report.aux"
    if bibtex is None or not aux.is_file() or "\\citation" not in aux.read_text(errors="replace"):
        return False
    env = {**os.environ, "BIBINPUTS": f"{folder.resolve()}{os.pathsep}"}
    try:
        subprocess.run([bibtex, "report"], cwd=folder / PDF_BUILD, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=PDFLATEX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False
    return (folder / PDF_BUILD / "report.bbl").is_file()
