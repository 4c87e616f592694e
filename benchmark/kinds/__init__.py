"""Model kinds: how a registered model is configured, fitted and recorded, by the kind its registration names.

- ``classical`` (:class:`Classical`): SVM pipelines on cached hand-crafted features;
- ``deep`` (:class:`Keras`): Keras CNNs trained from pixels.

A model names its kind in ``@register_model(..., kind=...)``; everything that differs between kinds lives in
that kind's class, so the experiment runner, the options and the suites never branch on the kind's name.
"""

from ._base import ModelKind, prediction_rows
from ._classical import Classical
from ._keras import Keras

KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (Classical(), Keras())}


def kind_of(spec) -> ModelKind:
    """The kind of a registered model (:class:`models.ModelSpec`)."""
    return KINDS[spec.kind]


__all__ = ["KINDS", "Classical", "Keras", "ModelKind", "kind_of", "prediction_rows"]
