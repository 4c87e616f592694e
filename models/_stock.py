"""A fitted SVC's solution as the stock scikit-learn ``SVC`` that holds it, which predicts with libsvm's code.

What a model file keeps of an SVM (``_files``) and what a oneDAL fit's check of its own inference compares with
(``_onedal``). Depends on scikit-learn and NumPy only, so both can use it without an import loop.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import SVC

#: What a stock SVC needs to predict, in libsvm's layout and index types (sklearnex's SVC keeps the same names);
#: None: kept as it is.
SVC_STATE = {"support_": np.int32, "support_vectors_": np.float64, "_n_support": np.int32,
             "_dual_coef_": np.float64, "_intercept_": np.float64, "dual_coef_": np.float64,
             "intercept_": np.float64, "classes_": None, "class_weight_": np.float64, "_gamma": None,
             "shape_fit_": None, "_sparse": None, "fit_status_": None, "n_features_in_": None, "n_iter_": None}


def stock_svc(svm) -> SVC:
    """The stock ``SVC`` with ``svm``'s parameters and solution (support vectors, dual coefficients, intercepts),
    as a model file rebuilds it; ``svm`` is any fitted SVC (stock, sklearnex's or a LiblinearSVC)."""
    stock = SVC(**{k: getattr(svm, k) for k in SVC().get_params() if hasattr(svm, k)})
    for key, dtype in SVC_STATE.items():
        if hasattr(svm, key):
            value = getattr(svm, key)
            setattr(stock, key, np.ascontiguousarray(value, dtype=dtype) if isinstance(value, np.ndarray) else value)
    stock._probA = stock._probB = np.empty(0, dtype=np.float64)  # no Platt scaling: libsvm wants empty arrays
    return stock
