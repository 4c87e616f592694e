"""How the report names things: dataset sections for people ("CK+ (10-fold)", "FER2013 (official split)") and
for files ("ckplus_10fold", "fer2013_official").

A section is a dataset under one protocol with its parameters, all of them things the user chose: so a table's
file name and label never depend on which other runs happen to be in the reports folder, and a thesis's
``\\input`` and ``\\ref`` keep working as runs are added.
"""

from __future__ import annotations

import re

from ..datasets import DATASETS


def slug(text: str) -> str:
    """Lower-case letters, digits and dots; anything else becomes one hyphen."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def title_of(section: str) -> str:
    """Display name of a report section: "ck+ (5-fold)" -> "CK+ (5-fold)"."""
    name, _, rest = section.partition(" ")
    title = DATASETS[name].title if name in DATASETS else name
    return title + (f" {rest}" if rest else "")


def section_name(dataset: str, protocol: str) -> str:
    """A report section: the dataset's registry name and the protocol with its parameters, "ck+ (10-fold)"."""
    return f"{dataset} ({protocol})"


def dataset_slug(section: str) -> str:
    """File-name form of a report section: "ck+ (10-fold)" -> "ckplus_10fold", "fer2013 (official split)" ->
    "fer2013_official"; the dataset's part never holds an underscore, so the name splits back at the first."""
    name, _, rest = section.partition(" ")
    base = DATASETS[name].slug if name in DATASETS else slug(name)
    tag = slug(rest.strip("()")).replace("-fold", "fold").replace("-split", "")
    return base.replace("_", "-") + (f"_{tag}" if tag else "")
