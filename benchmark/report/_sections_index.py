"""Which files each report section owns, kept from one build to the next (``tables/sections.json``).

A thesis ``\\input``s a table and ``\\ref``s its label long after the report was first built. A rebuild therefore
never deletes or renames a file that an earlier build wrote for another section: when the runs of a section are
no longer in ``runs/`` (moved to another reports folder, say), its files are carried into the new build as they
were and listed as from an earlier build. Only the files of a section rebuilt now are replaced, as a set. Files
an earlier build left that no index assigns (a report built before the index existed, or a file the user put
there) are carried too: the report deletes nothing it cannot prove is its own and rebuilt.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ._output import OUTPUT_FOLDERS

INDEX = "sections.json"  # in tables/
#: The pseudo-section of files an earlier build left that no index assigns to a section.
UNASSIGNED = "(files of an earlier build, not assigned to a section)"


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    files: tuple[str, ...]  # paths relative to the reports folder: tables/x.tex, figures/y.pdf
    earlier: bool = False  # carried from an earlier build: none of its runs is in runs/ now


def carry_earlier_sections(reports_dir: Path, stage: Path, built: list[Section]) -> list[Section]:
    """Copy into ``stage`` the files of the previous build that belong to no section rebuilt now, write the
    index of every section (``built`` first, then the carried ones) into ``stage/tables``, and return the
    carried sections."""
    reports_dir, stage = Path(reports_dir), Path(stage)
    previous = _read_index(reports_dir / "tables" / INDEX)
    rebuilt = {s.slug for s in built}
    owner = {f: s for s in previous for f in s.files}
    carried: dict[str, list[str]] = {}
    titles = {s.slug: s.title for s in previous}
    for folder in OUTPUT_FOLDERS:
        old = reports_dir / folder
        if not old.is_dir():
            continue
        for path in sorted(p for p in old.rglob("*") if p.is_file()):
            rel = path.relative_to(reports_dir).as_posix()
            if rel == f"tables/{INDEX}" or (stage / rel).exists():
                continue
            section = owner.get(rel)
            if section is not None and section.slug in rebuilt:
                continue  # a file of a section rebuilt now that this build no longer makes
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, stage / rel)
            carried.setdefault(section.slug if section is not None else UNASSIGNED, []).append(rel)
    earlier = [Section(slug, titles.get(slug, slug), tuple(files), earlier=True)
               for slug, files in sorted(carried.items())]
    body = {"sections": [{"slug": s.slug, "title": s.title, "files": list(s.files), "earlier": s.earlier}
                         for s in [*built, *earlier]]}
    (stage / "tables" / INDEX).write_text(json.dumps(body, indent=2) + "\n")
    return earlier


def _read_index(path: Path) -> list[Section]:
    """The previous build's sections; an index that is missing or not what a build writes counts as none (its
    files are then carried as unassigned, never deleted)."""
    try:
        body = json.loads(path.read_text())
        return [Section(str(s["slug"]), str(s["title"]), tuple(str(f) for f in s["files"]), bool(s["earlier"]))
                for s in body["sections"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
