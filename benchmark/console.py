"""How fer-bench writes to the terminal while it works: plain lines and one style of progress bar."""

from __future__ import annotations

from typing import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def printer(console: Console) -> Callable[[str], None]:
    """Print one line verbatim: no Rich markup (paths and option names with brackets stay as they are), no
    highlighting, no wrapping into several lines."""
    return lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True)


def progress(console: Console) -> Progress:
    """The progress bar of runs and suites: description, bar, done/total, elapsed time."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)
