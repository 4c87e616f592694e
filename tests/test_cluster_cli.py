"""fer-bench suite's executor options: mistakes are one error line and exit 2, before anything is loaded."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from benchmark.cli import app


@pytest.mark.parametrize("args,fragment", [
    (["--executor", "dsk"], "--executor must be local or dask, got 'dsk'"),
    (["--scheduler", "tcp://h:8786"], "--scheduler only applies to --executor dask"),
    (["--workers", "2", "--distribute-search"], "--workers, --distribute-search only apply to --executor dask"),
    (["--executor", "dask", "--scheduler", "tcp://h:8786", "--cluster", "slurm"], "cannot be combined"),
    (["--executor", "dask", "--cluster", "slurm", "--workers", "2"], "--workers sizes the local cluster"),
    (["--executor", "dask", "--workers", "0"], "--workers must be a positive number"),
])
def test_executor_option_mistakes_are_one_line_errors(tmp_path, args, fragment):
    result = CliRunner().invoke(app, ["suite", "suites/demo.toml", "--reports-dir", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert not (tmp_path / "runs").exists()  # nothing ran
