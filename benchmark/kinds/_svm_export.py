"""A classical model's export (``fer-bench export`` of an SVM run): the classifier only, as ONNX on feature vectors.

The scaler, PCA and SVC of a fold's pipeline become ONNX through skl2onnx, with the feature vector as input.
fer-bench's feature extractors (HOG, landmarks, LBP, the bag of visual words) have no ONNX form, so a user of the
export computes the features as fer-bench does. svm-chi2's chi-squared feature map has no skl2onnx converter: it
cannot be exported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from models import Float64, LiblinearSVC, OneThreadPCA, UnitVariance

from ..errors import FerBenchError
from ..exported import ONNX_OPSET, Parity, quiet_warnings

#: Largest difference in a one-vs-rest decision value between the ONNX classifier and the scikit-learn pipeline:
#: onnxruntime's SVMClassifier computes kernels in float32, scikit-learn in float64 (measured: ~1e-6).
SVM_TOLERANCE = 1e-4
#: The class-score output, as the sidecar describes it.
OUTPUT = ("label: the class index; probabilities: one-vs-rest decision values of the classes the fold trained on "
          "(classes order), not probabilities; with two classes, column {one} is the one decision value (positive "
          "for the second class) and column {other} its negation")
#: The distributions whose versions a sidecar records.
VERSIONS = ["scikit-learn", "skl2onnx", "onnx", "onnxruntime"]


def svm_pipeline_to_onnx(pipeline, X: np.ndarray):
    """A fitted SVM pipeline (scaler -> PCA or passthrough -> optional UnitVariance -> SVC) as an ONNX model on
    feature vectors (input ``features``, N x D float32), and its :class:`Parity` on ``X`` (test feature vectors).

    skl2onnx converts StandardScaler, PCA and a stock ``sklearn.svm.SVC``; ``"passthrough"`` steps are left out
    and ``UnitVariance`` (no skl2onnx converter) becomes the equivalent ``StandardScaler(with_mean=False)`` whose
    ``scale_`` is the learned scalar. The check: the ONNX labels equal ``pipeline.predict(X)`` on every row and
    the ONNX ``probabilities`` output (skl2onnx's name; for an SVC without probability estimates it holds the
    one-vs-rest decision values, columns in ``classes_`` order; with two classes, the column
    :func:`two_class_column` names holds scikit-learn's one decision value) is within :data:`SVM_TOLERANCE` of
    ``pipeline.decision_function(X)``. A pipeline with another step (svm-chi2's AdditiveChi2Sampler, a oneDAL
    SVC) is a :class:`FerBenchError` saying it cannot be exported.
    """
    import onnxruntime as ort  # lazy: the ONNX stack takes seconds to import and only an export needs it
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X = np.asarray(X)
    stock = exportable_svm_pipeline(pipeline, X)
    with quiet_warnings():  # skl2onnx reads SVC.probA_/probB_, deprecated in scikit-learn 1.9
        onx = convert_sklearn(stock, initial_types=[("features", FloatTensorType([None, X.shape[1]]))],
                              target_opset={"": ONNX_OPSET, "ai.onnx.ml": 3}, options={"zipmap": False})
    session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, scores = session.run(["label", "probabilities"], {"features": X.astype(np.float32)})
    expected_labels = np.asarray(pipeline.predict(X))
    reference = np.asarray(pipeline.decision_function(X), dtype=np.float64)
    if reference.ndim == 1:  # two classes: scikit-learn gives one value, positive for classes_[1]; skl2onnx
        scores = np.asarray(scores)[:, two_class_column(stock)]  # writes it in one column, its negation in the other
    diff = float(np.abs(np.asarray(scores, dtype=np.float64) - reference).max()) if len(X) else 0.0
    same = int((np.asarray(labels) == expected_labels).sum())
    return onx, Parity(len(X), diff, SVM_TOLERANCE, same, labels_must_agree=True)


def exportable_svm_pipeline(pipeline, X: np.ndarray):
    """The stock scikit-learn pipeline skl2onnx converts, equivalent to ``pipeline`` (see
    :func:`svm_pipeline_to_onnx`); ``X`` gives the width a UnitVariance step sees."""
    steps, seen = [], np.asarray(X[:1])
    for name, step in pipeline.steps:
        if step is None or (isinstance(step, str) and step == "passthrough") or type(step) is Float64:
            continue  # (the ONNX model computes in its float32 input's precision)
        if type(step) is UnitVariance:  # a scalar divisor: the same as a scaler with that scale on every column
            width = Pipeline(steps).transform(seen).shape[1] if steps else seen.shape[1]
            scaler = StandardScaler(with_mean=False)
            scaler.scale_ = np.full(width, step.scale_, dtype=np.float64)
            scaler.var_, scaler.mean_, scaler.n_features_in_, scaler.n_samples_seen_ = scaler.scale_ ** 2, None, \
                width, 1
            step = scaler
        elif type(step) is LinearSVC:
            step = _as_linear_classifier(step)
        elif type(step) in STOCK_CLASSES:  # skl2onnx knows scikit-learn's classes, not fer-bench's subclasses
            step = _as_stock(step, STOCK_CLASSES[type(step)])
        elif type(step) not in (StandardScaler, PCA, SVC):
            what = type(step).__name__
            why = ("svm-chi2's additive chi-squared feature map has no skl2onnx converter" if what ==
                   "AdditiveChi2Sampler" else f"skl2onnx cannot convert its {name!r} step ({what})")
            raise FerBenchError(f"ONNX export is not supported for this SVM: {why}")
        steps.append((name, step))
    if not steps or type(steps[-1][1]) not in (SVC, SGDClassifier):
        raise FerBenchError("ONNX export is not supported for this model: its pipeline does not end in an SVM")
    return Pipeline(steps)


def two_class_column(pipeline) -> int:
    """The ONNX ``probabilities`` column holding a two-class model's one decision value, for a fitted pipeline or
    its exportable form: skl2onnx writes an SVC's in column 0 and a linear classifier's (a LinearSVC, exported as
    an SGDClassifier) in column 1 (the other column is its negation)."""
    return 1 if isinstance(pipeline.steps[-1][1], (LinearSVC, SGDClassifier)) else 0


#: fer-bench's subclasses of scikit-learn estimators, by the stock class each is once fitted: a OneThreadPCA is the
#: PCA it applies on one thread, a LiblinearSVC the linear SVC that holds its pairwise hyperplanes
STOCK_CLASSES = {OneThreadPCA: PCA, LiblinearSVC: SVC}


def _as_stock(step, cls):
    """``step`` as an instance of its stock scikit-learn class ``cls``: ``cls``'s parameters read from ``step``,
    and its fitted state."""
    plain = cls(**{k: getattr(step, k) for k in cls().get_params()})
    plain.__dict__.update(vars(step))
    return plain


def _as_linear_classifier(svm: LinearSVC) -> SGDClassifier:
    """The same linear decision function (weights, intercepts, classes) as a hinge-loss SGDClassifier, whose skl2onnx
    converter writes the decision values as its ``probabilities`` output; skl2onnx cannot convert a LinearSVC at the
    end of a pipeline (it asks the LinearSVC converter for a ZipMap option that it does not have)."""
    linear = SGDClassifier(loss="hinge")
    linear.coef_, linear.intercept_ = np.array(svm.coef_, dtype=np.float64), np.array(svm.intercept_, dtype=np.float64)
    linear.classes_, linear.n_features_in_ = np.array(svm.classes_), svm.n_features_in_
    return linear


def export_svm(model, images: np.ndarray, target: Path, features: str | None) -> tuple[str, list, Parity, dict]:
    """Write a fold's SVM classifier (on features) as ONNX to ``target``, checked on the test images' features."""
    X = model.features(images)
    onx, parity = svm_pipeline_to_onnx(model.pipeline, X)
    target.write_bytes(onx.SerializeToString())
    route = "skl2onnx.convert_sklearn (classifier on feature vectors)"
    details = {"opset": ONNX_OPSET,
               "input": {"name": "features", "shape": [None, int(X.shape[1])], "dtype": "float32",
                         "meaning": f"the {features} feature vector fer-bench computes from a 48x48 face"},
               "output": {"names": ["label", "probabilities"],
                          "meaning": OUTPUT.format(one=(one := two_class_column(model.pipeline)),
                                                        other=1 - one),
                          "classes": [int(c) for c in model.pipeline.classes_]}}
    return route, [{"route": route, "error": None if parity.passed else parity.describe()}], parity, details
