"""The fixed parts of fer-bench's CNN training recipe: what ``--augment`` draws, the crops of ``--tta ten-crop`` and
when the plateau schedule lowers the learning rate. Training applies them and the report's methods describe them
(runs do not record them), so both read them here, without starting Keras."""

from __future__ import annotations

#: Augmentation ranges (Deshmukh & Yadav; Arriaga et al.): flips, +/-10 degrees, +/-10% zoom and shifts.
ROTATION_DEGREES, ZOOM, SHIFT = 10.0, 0.1, 0.1

#: ``--tta ten-crop``: the side of the five crops (four corners and the centre), as a share of the image's side;
#: each crop is resized back to the network's input, a zoom of 1/0.92 = +9%, inside the training augmentation's
#: +/-10% zoom (Khaireddin & Chen crop 40 of 48 pixels, but their network takes 40 x 40 inputs).
TEN_CROP_SHARE = 0.92

#: ``--schedule plateau``: the learning rate is multiplied by this when the validation loss has not fallen for
#: :func:`plateau_patience` epochs (unless a model's paper declares its own rule: :func:`plateau_rule`).
PLATEAU_FACTOR = 0.1
#: The keys of a model's registered recipe that give its paper's own plateau rule (e.g. Khaireddin & Chen: x0.75
#: after 5 epochs); the rule is recorded in the run's ``metrics.json`` (``training``) where it is not the default.
PLATEAU_KEYS = ("plateau_factor", "plateau_patience")


def plateau_patience(patience: int) -> int:
    """Epochs without a lower validation loss before the plateau schedule lowers the rate: a quarter of the early
    stopping patience (at least one), so the rate drops several times before training stops."""
    return max(1, int(patience) // 4)


def plateau_rule(patience: int, declared: dict | None = None) -> tuple[float, int]:
    """The plateau schedule's (factor, epochs to wait): ``declared``'s ``plateau_factor`` and ``plateau_patience``
    (a model's registered recipe, or a run's recorded training facts) where it has them, else
    :data:`PLATEAU_FACTOR` and :func:`plateau_patience` of the early-stopping ``patience``."""
    declared = declared or {}
    factor, wait = declared.get("plateau_factor"), declared.get("plateau_patience")
    return (float(factor) if factor is not None else PLATEAU_FACTOR,
            int(wait) if wait is not None else plateau_patience(patience))
