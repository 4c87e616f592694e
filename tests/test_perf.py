"""`fer-bench benchmark` runs every stage and prints its figures (no timing is asserted: speed is reported)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from benchmark.cli import app


@pytest.mark.slow
def test_benchmark_prints_a_figure_for_every_stage(monkeypatch, tiny_cnn):
    monkeypatch.setenv("COLUMNS", "400")  # one line per row: no label broken over a cell's lines
    # the test CNN: what is checked is that every stage prints its figures, not any published CNN's speed
    result = CliRunner().invoke(app, ["benchmark", "--images", "140", "--svm-samples", "140", "--cnn",
                                      tiny_cnn, "--cnn-steps", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    from features import FEATURES

    for stage in (*FEATURES, "svm-rbf fit", f"{tiny_cnn} training", "plain model.fit"):
        assert stage in text
    assert text.count(" images/s, ") == len(FEATURES) and "steps/s" in text  # one rate per extractor
    assert " vs " in text and "images/s (" in text  # fer-bench's loop beside a plain fit, with the ratio


def test_benchmark_with_an_unknown_cnn_is_a_one_line_error():
    result = CliRunner().invoke(app, ["benchmark", "--cnn", "cnn-quantum"])
    assert result.exit_code == 2 and "error: unknown model 'cnn-quantum'" in result.output
