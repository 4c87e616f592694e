"""What the tests that drive ``fer-bench`` through ``benchmark.cli.main`` share: running it, and reading its output
and the run folders it leaves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmark.cli import main

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_main(argv, capsys) -> tuple[int, str]:
    """``fer-bench argv`` in this process: (exit code, stdout + stderr without colour codes)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in argv])
    captured = capsys.readouterr()
    return exit_info.value.code, ANSI.sub("", captured.out + captured.err)


def complete_runs(reports: Path) -> list[Path]:
    """The complete run folders under ``reports/runs`` (not the hidden, incomplete ones)."""
    runs = reports / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")) if runs.is_dir() else []


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def one_error(code: int, text: str, expected_code: int, *fragments: str) -> None:
    """No traceback, the expected exit code, exactly one ``error:`` line, holding every fragment."""
    assert "Traceback" not in text, text
    assert code == expected_code, text
    errors = error_lines(text)
    assert len(errors) == 1, text
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
