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


@pytest.mark.slow  # builds vgg-fer and mini-xception: about 8 s
def test_benchmark_times_each_cnn_with_the_l2_penalty_its_fer2013_recipe_trains_with():
    """The timed network is the one a FER2013 run trains: vgg-fer's weight decay on every kernel (its builder
    places none), mini-xception's validated 1e-4 where its builder places it."""
    from benchmark.perf import _network, _recipe
    from models import get_model
    from penalties import l2_penalty, sum_of_squares

    for name in ("vgg-fer", "mini-xception"):
        spec = get_model(name)
        model = _network(spec, _recipe(spec))
        kernels = [w for w in model.weights if getattr(w, "regularizer", None) is not None]
        l2 = spec.training_for("fer2013")["l2"]
        assert l2 > 0 and model.losses, name
        assert kernels and l2_penalty(model) == pytest.approx(l2 * sum_of_squares(kernels), rel=1e-4), name
