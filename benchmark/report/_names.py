"""How the report names things: dataset sections for people ("CK+ (5-fold)") and for files ("ckplus-5-fold")."""

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


def dataset_slug(section: str) -> str:
    """File-name form of a report section: "ck+" -> "ckplus", "ck+ (5-fold)" -> "ckplus-5-fold"."""
    name, _, rest = section.partition(" ")
    return slug((DATASETS[name].slug if name in DATASETS else name) + (f" {rest}" if rest else ""))
