"""What a Keras model's L2 penalty adds to its loss, and what it should add: shared by the tests that check where
each architecture places its penalty (test_cnn_models) and that the timed network carries it (test_perf)."""

from __future__ import annotations

import numpy as np


def l2_penalty(model) -> float:
    """The regularisation losses a built model adds to its training loss, summed."""
    return float(sum(float(np.asarray(loss)) for loss in model.losses))


def sum_of_squares(weights) -> float:
    """Sum of the squared entries of ``weights`` (Keras variables or arrays): an L2 penalty's coefficient times
    this is what :func:`l2_penalty` should read."""
    return float(sum(float(np.sum(np.square(np.asarray(w)))) for w in weights))
