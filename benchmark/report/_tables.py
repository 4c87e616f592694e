"""One table, three formats: LaTeX (booktabs, caption, label, escaped, ready for ``\\input``), Markdown and CSV.

A :class:`Table` holds display strings; the CSV keeps the raw numbers beside them so a figure in a thesis can
be traced to the run that produced it. Best values per column are marked bold in LaTeX and Markdown.

Markdown has room for every column under its full header. LaTeX must fit the text width of a plain
``\\documentclass{article}`` (345 pt), because a thesis ``\\input``'s the tables into its own document; so each
:class:`Column` says where LaTeX puts it (a column, sub-headings over the rows, a second float, or nowhere when
the caption already says it) and may carry a short header, and long row labels (a model with the options that
make it a variant) become a name with a superscript letter. A legend under the table spells out both.

Why not pandas' ``Styler.to_latex``/``to_markdown``: they cannot bold one cell in Markdown, group rows under
sub-headings, put columns in a second float or add the legend; so one small writer serves both formats.
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
    """Escape LaTeX's special characters; "±" becomes ``$\\pm$``, "→" ``$\\rightarrow$``."""
    return (_LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group()], str(text)).replace("±", r"$\pm$")
            .replace("→", r"$\rightarrow$"))


def breakable(tex: str, *, underscores: bool = True) -> str:
    """Escaped LaTeX that may break a line after each slash and underscore (paths, run ids, ``svm_backend=onedal``)
    in any document, without report.tex's preamble (``underscores=False``: slashes only, where a preamble already
    lets underscores break)."""
    tex = tex.replace("/", "/\\allowbreak{}")
    return tex.replace("\\_", "\\_\\allowbreak{}") if underscores else tex


def standalone(tex: str) -> str:
    """Paragraphs for a thesis to ``\\input``: a group in which lines stretch further before a long name sticks out
    of the margin (the stretch never leaks into the thesis)."""
    return "{\\setlength{\\emergencystretch}{3em}%\n" + tex.rstrip("\n") + "\\par}\n"


def citep(keys) -> str:
    """``\\citep{a,b}`` (natbib) for citation keys of ``references.bib``; empty for none."""
    keys = list(dict.fromkeys(keys))
    return f"\\citep{{{','.join(keys)}}}" if keys else ""


def cited_caption(caption: str, sources) -> str:
    """A LaTeX caption: ``caption`` escaped, then what it shows cited, ``Sources: data \\citep{lucey2010}; models
    \\citep{cortes1995}.`` for ``[("data", ("lucey2010",)), ("models", ("cortes1995",))]`` (nothing for none)."""
    groups = [f"{latex_escape(what)} {citep(keys)}" for what, keys in sources if keys]
    if not groups:
        return latex_escape(caption)
    return latex_escape(caption if caption.rstrip().endswith(".") else caption.rstrip() + ".") + \
        f" Sources: {'; '.join(groups)}."


#: Where LaTeX puts a column (:attr:`Column.tex`); any other value names an extra float (:attr:`Table.floats`).
IN_TABLE, KEY, HEADING, HIDDEN = "", "key", "heading", "hidden"


@dataclass(frozen=True)
class Column:
    """A column: its header (Markdown, and CSV where the table has no raw rows) and its place in LaTeX.

    ``tex`` is :data:`IN_TABLE` (a column of the table), :data:`KEY` (the row label, repeated in every float),
    :data:`HEADING` (no column: the rows of each group are gathered under a sub-heading per value),
    :data:`HIDDEN` (Markdown only; the caption says what it tells) or the name of an extra float. ``short`` is
    the LaTeX header where the title would widen the table; ``means`` then spells it out in the legend.
    """

    title: str
    align: str = "r"
    short: str = ""
    means: str = ""
    tex: str = IN_TABLE


def abbreviations(names: list[str], length: int = 3) -> list[str]:
    """Distinct short forms of ``names``: their first ``length`` letters, more where two would be the same
    ("Sad", "Sur"; "Sadness" and "Sad" give "Sadn" and "Sad")."""
    out = []
    for name in names:
        n = length
        while n < len(name) and any(o != name and o[:n] == name[:n] for o in names):
            n += 1
        out.append(name[:n])
    return out


def variant_letters(variants) -> dict[str, str]:
    """A superscript letter per distinct variant, in order of first appearance: a, b, ..., z, aa, ab, ..."""
    def letter(i: int) -> str:
        return (letter(i // 26 - 1) if i >= 26 else "") + chr(ord("a") + i % 26)

    return {variant: letter(i) for i, variant in enumerate(dict.fromkeys(variants))}


@dataclass
class Table:
    """Rows of display strings, optionally grouped (e.g. classical / deep), with bold cells and raw values.

    ``floats`` names the extra LaTeX floats that columns may be moved to, with their captions; ``marks`` are the
    long labels LaTeX shortens (:meth:`mark`); ``sources`` are (what, citation keys) pairs that every LaTeX caption
    of the table cites (:func:`cited_caption`; Markdown and CSV stay plain).
    """

    name: str
    caption: str
    columns: list[Column]
    groups: list[tuple[str, list[list[str]]]] = field(default_factory=list)
    bold: set[tuple[int, int, int]] = field(default_factory=set)  # (group, row, column)
    raw: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    floats: dict[str, str] = field(default_factory=dict)
    marks: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # text -> (shown, letter, variant)
    sources: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def label(self) -> str:
        return "tab:" + re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")

    def mark(self, text: str, shown: str, letter: str, variant: str) -> None:
        """In LaTeX, print ``shown`` with the superscript ``letter`` wherever ``text`` appears (a row label, a
        sub-heading); the legend says which ``variant`` each letter stands for."""
        self.marks[text] = (shown, letter, variant)

    def _tex_text(self, text: str) -> str:
        """``text`` escaped, with every marked label in it replaced by its short form and letter."""
        if not self.marks:
            return latex_escape(text)
        pattern = re.compile("|".join(re.escape(k) for k in sorted(self.marks, key=len, reverse=True)))
        out, end = [], 0
        for match in pattern.finditer(text):
            shown, letter, _ = self.marks[match.group()]
            out += [latex_escape(text[end:match.start()]), f"{latex_escape(shown)}\\textsuperscript{{{letter}}}"]
            end = match.end()
        return "".join(out) + latex_escape(text[end:])

    def _cell(self, g: int, r: int, c: int, value: str, fmt: str) -> str:
        text = self._tex_text(value) if fmt == "tex" else value.replace("|", "\\|")
        if (g, r, c) in self.bold and value:
            return f"\\textbf{{{text}}}" if fmt == "tex" else f"**{text}**"
        return text

    def to_tex(self) -> str:
        """The table as LaTeX floats: the table itself, then one per extra float its columns are moved to."""
        parts = [(IN_TABLE, self.caption, self.label())]
        parts += [(name, caption, f"{self.label()}-{name}") for name, caption in self.floats.items()
                  if any(column.tex == name for column in self.columns)]
        return "\n".join(self._float(*part) for part in parts)

    def _float(self, part: str, caption: str, label: str) -> str:
        shown = [c for c, column in enumerate(self.columns) if column.tex in (KEY, part)]
        heading = next((c for c, column in enumerate(self.columns) if column.tex == HEADING), None)
        width = len(shown)
        lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
                 f"\\caption{{{cited_caption(caption, self.sources)}}}",
                 f"\\label{{{label}}}", f"\\begin{{tabular}}{{{''.join(self.columns[c].align for c in shown)}}}",
                 r"\toprule", " & ".join(latex_escape(self.columns[c].short or self.columns[c].title)
                                        for c in shown) + r" \\", r"\midrule"]
        for g, (title, rows) in enumerate(self.groups):
            if g:
                lines.append(r"\midrule")
            if title:
                lines.append(f"\\multicolumn{{{width}}}{{l}}{{\\textit{{{latex_escape(title)}}}}} \\\\")
            values = [row[heading] if heading is not None else "" for row in rows]
            for value in dict.fromkeys(values):
                if value and value not in title:  # a sub-heading the group's title already says is left out
                    text = f"{latex_escape(self.columns[heading].title)}: {self._tex_text(value)}"
                    lines.append(f"\\multicolumn{{{width}}}{{l}}{{{text}}} \\\\")
                lines += [" & ".join(self._cell(g, r, c, row[c], "tex") for c in shown) + r" \\"
                          for r, row in enumerate(rows) if values[r] == value]
        lines += [r"\bottomrule", r"\end{tabular}"]
        for note in [*self._legend(shown), *map(latex_escape, self.notes)]:
            lines.append(f"\\par\\smallskip\\footnotesize {note}")
        lines.append(r"\end{table}")
        return "\n".join(lines) + "\n"

    def _legend(self, shown: list[int]) -> list[str]:
        """What the short headers of the shown columns and the variant letters stand for (LaTeX)."""
        headers = [f"{latex_escape(self.columns[c].short)}: {latex_escape(self.columns[c].means)}"
                   for c in shown if self.columns[c].short and self.columns[c].means]
        letters = sorted({(len(letter), letter, variant) for _, letter, variant in self.marks.values()})
        variants = [f"\\textsuperscript{{{letter}}}\\,{latex_escape(variant)}"
                    for _, letter, variant in letters]
        return ([("; ".join(headers) + ".")] if headers else []) + (
            [f"Variants: {'; '.join(variants)}."] if variants else [])

    def to_md(self) -> str:
        lines = [f"**{self.caption}**", "", "| " + " | ".join(c.title for c in self.columns) + " |",
                 "| " + " | ".join("---:" if c.align == "r" else "---" for c in self.columns) + " |"]
        for g, (title, rows) in enumerate(self.groups):
            if title:
                lines.append(f"| *{title}* |" + " |" * (len(self.columns) - 1))
            for r, row in enumerate(rows):
                lines.append("| " + " | ".join(self._cell(g, r, c, v, "md") for c, v in enumerate(row)) + " |")
        lines += [""] + [f"_{note}_" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        rows = self.raw or [dict(zip(["group", *(c.title for c in self.columns)], [title, *row]))
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
