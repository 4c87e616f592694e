"""``reports/report.md`` and ``reports/report.tex``: the tables and figures, put together with their provenance."""

from __future__ import annotations

from pathlib import Path

from ._collect import Run, title_of
from ._tables import latex_escape


def provenance(runs: list[Run]) -> list[str]:
    """Sentences on tool versions, commits, data, protocols, hardware and dates, all read from the runs."""
    def unique(values):
        return sorted({str(v) for v in values if v not in (None, "")})

    versions = unique(r.manifest.get("tool_version") for r in runs)
    commits = unique((r.manifest.get("git_commit") or "")[:12] + (" (uncommitted changes)" if r.manifest.get(
        "git_dirty") else "") for r in runs if r.manifest.get("git_commit"))
    data = unique(f"{title_of(r.dataset)} ({r.manifest['dataset'].get('layout', '?')}, "
                  f"{r.manifest['dataset'].get('n_images', r.manifest['dataset'].get('size', '?'))} images, "
                  f"fingerprint {str(r.manifest['dataset'].get('fingerprint', ''))[:12]})" for r in runs)
    protocols = unique(f"{title_of(r.dataset)}: {r.manifest['protocol'].get('description')} "
                       f"(split fingerprint {str(r.manifest['protocol'].get('fingerprint', ''))[:12]})"
                       for r in runs)
    hardware = unique(f"{r.manifest.get('cpu')} x {r.manifest.get('cpu_count')} cores"
                      + (f", GPU {', '.join(r.manifest['gpus'])}" if r.manifest.get("gpus") else "")
                      + f", {r.manifest.get('platform')}" for r in runs)
    devices = unique(f"{r.metrics['model']} on {r.manifest['training_device'].get('device')} "
                     f"({r.manifest['training_device'].get('precision')})" for r in runs
                     if r.manifest.get("training_device"))
    packages = unique(f"{k} {v}" for r in runs for k, v in (r.manifest.get("packages") or {}).items()
                      if k in ("scikit-learn", "tensorflow", "numpy", "dlib-bin") and v)
    dates = unique(r.manifest.get("finished_utc", "")[:10] for r in runs)
    return [
        f"{len(runs)} runs made with fer-bench {', '.join(versions) or 'unknown version'}"
        + (f" at commit {', '.join(commits)}" if commits else "") + f"; Python {', '.join(unique(r.manifest.get('python') for r in runs))}; "
        + ", ".join(packages) + ".",
        "Data: " + "; ".join(data) + ".",
        "Protocols: " + "; ".join(protocols) + ".",
        "Hardware: " + "; ".join(hardware) + (f". CNN training devices: {'; '.join(devices)}" if devices else "")
        + ".",
        "Runs finished " + (f"between {dates[0]} and {dates[-1]}" if len(dates) > 1 else f"on {dates[0]}")
        + " (UTC). Every number traces to a run folder under reports/runs/ (listed in the tables' CSV files).",
    ]


def _figure_caption(name: str) -> str:
    if name.endswith("best_classical_vs_deep_confusion"):
        return "best classical vs best deep model, row-normalised confusion matrices"
    experiment = name.split("_", 1)[1].rsplit("_", 1 if name.endswith("_confusion") else 2)[0]
    if name.endswith("learning_curves"):
        return f"learning curves of {experiment} (loss includes weight penalties)"
    return f"row-normalised confusion matrix of {experiment}"


def _width(name: str) -> str:
    return r"\linewidth" if name.endswith(("best_classical_vs_deep_confusion", "learning_curves")) else r"0.6\linewidth"


def write_documents(reports_dir: Path, runs: list[Run], skipped, sections) -> None:
    lines_md = ["# fer-bench report", "", "## Provenance", "", " ".join(provenance(runs)), ""]
    tex = [r"\documentclass{article}", r"\usepackage[margin=2cm]{geometry}", r"\usepackage{booktabs}",
           r"\usepackage{graphicx}", r"\usepackage[T1]{fontenc}", r"\begin{document}",
           r"\section*{fer-bench report}", r"\paragraph{Provenance} " + latex_escape(" ".join(provenance(runs)))]
    for dataset, exps, tables, figures, untested in sections:
        title = title_of(dataset)
        lines_md += [f"## {title}", ""]
        tex.append(f"\\section*{{{latex_escape(title)}}}")
        for table in tables:
            lines_md += [table.to_md(), f"(`tables/{table.name}.tex`, `.md`, `.csv`)", ""]
            tex.append(f"\\input{{tables/{table.name}.tex}}")
        if untested:
            note = ("No paired test: the dataset needs complete runs of at least one classical and one deep model "
                    "with a common seed and the same split.")
            lines_md += [f"_{note}_", ""]
            tex.append(latex_escape(note))
        for stem in figures:
            rel = f"figures/{stem.name}"
            lines_md += [f"![{stem.name}]({rel}.png)", ""]
            tex += [r"\begin{figure}[htbp]", r"\centering",
                    f"\\includegraphics[width={_width(stem.name)}]{{{rel}.pdf}}",
                    f"\\caption{{{latex_escape(title)}: {latex_escape(_figure_caption(stem.name))}}}",
                    f"\\label{{fig:{stem.name.replace('_', '-')}}}", r"\end{figure}"]
        tex.append(r"\clearpage")
    if skipped:
        lines_md += ["## Runs not used", ""] + [f"- `{name}`: {reason}" for name, reason in skipped] + [""]
    tex.append(r"\end{document}")
    (Path(reports_dir) / "report.md").write_text("\n".join(lines_md).rstrip() + "\n")
    (Path(reports_dir) / "report.tex").write_text("\n".join(tex) + "\n")
