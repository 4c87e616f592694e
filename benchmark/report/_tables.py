"""One table, three formats: LaTeX (booktabs, caption, label, escaped, ready for ``\\input``), Markdown and CSV.

A :class:`Table` holds display strings; the CSV keeps the raw numbers beside them so a figure in a thesis can
be traced to the run that produced it. Best values per column are marked bold in LaTeX and Markdown.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

_LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                   "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIALS))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; "±" becomes ``$\\pm$``."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group()], str(text)).replace("±", r"$\pm$")


@dataclass
class Table:
    """Rows of display strings, optionally grouped (e.g. classical / deep), with bold cells and raw values."""

    name: str
    caption: str
    columns: list[str]
    align: str
    groups: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    bold: set[tuple[int, int, int]] = field(default_factory=set)  # (group, row, column)
    raw: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def label(self) -> str:
        return "tab:" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def _cell(self, g: int, r: int, c: int, value: str, fmt: str) -> str:
        text = latex_escape(value) if fmt == "tex" else value.replace("|", "\\|")
        if (g, r, c) in self.bold and value:
            return f"\\textbf{{{text}}}" if fmt == "tex" else f"**{text}**"
        return text

    def to_tex(self) -> str:
        lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
                 f"\\caption{{{latex_escape(self.caption)}}}", f"\\label{{{self.label()}}}",
                 f"\\begin{{tabular}}{{{self.align}}}", r"\toprule",
                 " & ".join(latex_escape(c) for c in self.columns) + r" \\", r"\midrule"]
        for g, (title, rows) in enumerate(self.groups):
            if g:
                lines.append(r"\midrule")
            if title:
                lines.append(f"\\multicolumn{{{len(self.columns)}}}{{l}}{{\\textit{{{latex_escape(title)}}}}} \\\\")
            for r, row in enumerate(rows):
                lines.append(" & ".join(self._cell(g, r, c, v, "tex") for c, v in enumerate(row)) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        for note in self.notes:
            lines.append(f"\\par\\smallskip\\footnotesize {latex_escape(note)}")
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    def to_md(self) -> str:
        lines = [f"**{self.caption}**", "", "| " + " | ".join(self.columns) + " |",
                 "| " + " | ".join("---:" if a == "r" else "---" for a in self.align) + " |"]
        for g, (title, rows) in enumerate(self.groups):
            if title:
                lines.append(f"| *{title}* |" + " |" * (len(self.columns) - 1))
            for r, row in enumerate(rows):
                lines.append("| " + " | ".join(self._cell(g, r, c, v, "md") for c, v in enumerate(row)) + " |")
        lines += [""] + [f"_{note}_" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        rows = self.raw or [dict(zip(["group", *self.columns], [title, *row]))
                            for title, rows in self.groups for row in rows]
        keys = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(buffer, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for suffix, text in ((".tex", self.to_tex()), (".md", self.to_md()), (".csv", self.to_csv())):
            path = folder / f"{self.name}{suffix}"
            path.write_text(text)
            paths.append(path)
        return paths


def mark_best(table: Table, columns: list[int], values: dict[tuple[int, int, int], float]) -> None:
    """Bold the highest value of each listed column across all groups (ties all bold); a column with a single
    row has nothing to be best against and stays plain."""
    for c in columns:
        cells = {k: v for k, v in values.items() if k[2] == c and v is not None and v == v}
        if len(cells) > 1:
            best = max(cells.values())
            table.bold |= {k for k, v in cells.items() if abs(v - best) < 1e-12}
