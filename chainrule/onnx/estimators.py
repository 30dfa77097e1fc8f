"""``to_onnx()`` of the scikit-learn estimators, with the outputs skl2onnx users expect.

A fitted estimator's weights become a chainrule network (float32), which is traced like any
module; then a head: classifiers give ``label`` (batch,) in ``classes_``' dtype (int64 for
integer labels, strings for text) and ``probabilities`` (batch, n_classes), as skl2onnx does
with ``zipmap=False``; regressors give ``variable`` (batch, n_outputs). The input is ``X``,
float32 (batch, n_features).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .graph import Builder, onnx_dtype, require_onnx

__all__ = ["estimator_to_onnx", "classifier_head"]


def _classes_const(b: Builder, classes: np.ndarray) -> tuple[str, np.dtype]:
    """``classes_`` as an initializer: int64 for integers, strings for text, else float32."""
    kind = classes.dtype.kind
    if kind in "iub":
        arr = classes.astype(np.int64)
    elif kind in "f":
        arr = classes.astype(np.float32)
    else:
        arr = np.array([str(c) for c in classes], dtype=object)
    return b.const(arr), arr.dtype


def classifier_head(
    b: Builder, logits: str, classes: np.ndarray, *, single_logit: bool
) -> tuple[str, str]:
    """``(label, probabilities)`` from the scores: one logit per sample (two classes,
    ``sigmoid``) or one per class (``softmax``).

    Examples
    --------
    >>> b = Builder(17)
    >>> label, proba = classifier_head(b, "scores", np.array(["a", "b", "c"]), single_logit=False)
    >>> [n.op_type for n in b.nodes]
    ['Softmax', 'ArgMax', 'Gather']
    """
    if single_logit:  # z > 0 means classes[1]; probabilities [1 - sigmoid(z), sigmoid(z)]
        p1 = b.node("Sigmoid", [logits])
        p0 = b.node("Sigmoid", [b.node("Neg", [logits])])
        proba = b.node("Concat", [p0, p1], axis=1)
        index = b.node("Cast", [b.node("Greater", [logits, b.const(np.float32(0))])],
                       to=onnx_dtype(np.int64))  # fmt: skip
        index = b.node("Squeeze", [index, b.ints([1])])
    else:
        proba = b.node("Softmax", [logits], axis=1)
        index = b.node("ArgMax", [logits], axis=1, keepdims=0)
    table, _ = _classes_const(b, np.asarray(classes))
    return b.node("Gather", [table, index], axis=0), proba


def _network(est: Any) -> tuple[Any, int]:
    """The fitted estimator's forward as a float32 chainrule module, and its input width."""
    from .. import nn
    from ..estimators import LogisticRegression

    if isinstance(est, LogisticRegression):
        pairs = [(est.coef_.T, est.intercept_)]  # (n_features, k), scores X @ coef_.T + b
        activation = None
    else:
        pairs = list(zip(est.coefs_, est.intercepts_))
        activation = est.activation
    acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}
    layers: list[Any] = []
    for i, (coef, intercept) in enumerate(pairs):
        lin = nn.Linear(coef.shape[0], coef.shape[1])
        lin.weight._data = np.ascontiguousarray(coef.T, dtype=np.float32)
        lin.bias._data = np.asarray(intercept, dtype=np.float32).reshape(-1)
        layers.append(lin)
        if i < len(pairs) - 1:
            layers.append(acts[activation]())
    return nn.Sequential(*layers), pairs[0][0].shape[0]


def estimator_to_onnx(
    est: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    input_name: str = "X",
    opset: int = 17,
) -> Any:
    """The fitted ``LogisticRegression``, ``MLPClassifier`` or ``MLPRegressor`` as ONNX.

    See the module docstring for the inputs and outputs; ``path`` writes the file too.

    Examples
    --------
    >>> import numpy as np
    >>> from chainrule.estimators import LogisticRegression
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0, 0, 1, 1])
    >>> proto = LogisticRegression().fit(X, y).to_onnx()
    >>> [o.name for o in proto.graph.output]
    ['label', 'probabilities']
    """
    require_onnx()
    from sklearn.utils.validation import check_is_fitted

    from ..estimators import LogisticRegression, MLPClassifier, MLPRegressor
    from . import _value_info, make_model, save
    from .table import onnx_table
    from .trace import trace_into

    if not isinstance(est, (LogisticRegression, MLPClassifier, MLPRegressor)):
        raise TypeError(
            f"to_onnx: {type(est).__name__} is not one of LogisticRegression, MLPClassifier, "
            "MLPRegressor"
        )
    check_is_fitted(est)
    net, n_features = _network(est)
    b = Builder(opset)
    example = np.random.default_rng(0).standard_normal((3, n_features)).astype(np.float32)
    outs, values, _ = trace_into(b, net, [example], [input_name], table=onnx_table)
    scores = outs[0]
    ins = [_value_info(input_name, np.float32, ["batch", n_features])]
    if isinstance(est, MLPRegressor):
        b.node("Identity", [scores], outputs=["variable"])
        outs_info = [_value_info("variable", np.float32, ["batch", values[0].shape[1]])]
    else:
        classes = np.asarray(est.classes_)
        label, proba = classifier_head(b, scores, classes, single_logit=values[0].shape[1] == 1)
        b.node("Identity", [label], outputs=["label"])
        b.node("Identity", [proba], outputs=["probabilities"])
        _, label_dtype = _classes_const(Builder(opset), classes)
        outs_info = [
            _value_info("label", label_dtype, ["batch"]),
            _value_info("probabilities", np.float32, ["batch", len(classes)]),
        ]
    proto = make_model(b, ins, outs_info, doc=f"chainrule {type(est).__name__}")
    if path is not None:
        save(proto, path)
    return proto
