"""Fused primitives for neural networks, where one rule beats a chain of small ones.

* ``linear``: ``x @ W^T + b`` as one node (PyTorch's layout, ``W`` is (out, in)): one matrix
  product forward, two backward, no intermediate ``x @ W^T`` kept or broadcast bias summed by
  the walk.
* ``softmax_cross_entropy``: the mean of ``-log softmax(logits)[i, y_i]``. Composed of softmax,
  log and indexing, its gradient would pass through ``1 / softmax``, which underflows; fused, it
  is the article's result, ``(softmax(logits) - onehot(y)) / n``, and the forward is a stable
  log-sum-exp.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autodiff import state
from ..backend import like_device, namespace_of, register_raw
from ..tensor import Tensor, _as_array, _leaf, record
from .define import NP, apply, define, raw, xp_of
from .reduce import max_last, sum_last

__all__ = ["linear", "softmax_cross_entropy", "one_hot"]

_ndarray = np.ndarray


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


# ----------------------------------------------------------------------------- one_hot
def _one_hot(xp: Any, labels: Any, num_classes: int, dtype: Any = np.int64) -> Any:
    return (labels[..., None] == xp.arange(num_classes)).astype(dtype)


register_raw("one_hot", _one_hot)


def _labels_array(labels: Any, op: str) -> Any:
    yd = labels._data if isinstance(labels, Tensor) else raw(labels)
    if yd.__class__ is not _ndarray and not hasattr(yd, "__cuda_array_interface__"):
        yd = _as_array(yd, None, op)
    if yd.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: labels must be integer class indices, got dtype {yd.dtype} "
            "(convert with .astype(np.int64))"
        )
    return yd


def _check_range(yd: Any, num_classes: int, op: str) -> None:
    # Viewed as unsigned, a negative label is huge: one reduction checks both bounds.
    if yd.size and int(yd.view(yd.dtype.str.replace("i", "u")).max()) >= num_classes:
        bad = int(yd.min()) if int(yd.min()) < 0 else int(yd.max())
        raise ValueError(
            f"{op}: label {bad} is out of range for {num_classes} classes; expected "
            f"0 <= label < {num_classes}"
        )


def one_hot(labels: Any, num_classes: int, dtype: Any = np.int64) -> Tensor:
    """Rows of the identity: ``out[..., c] = 1 if labels[...] == c else 0``. Never requires grad.

    Parameters
    ----------
    labels : Tensor or array_like of ints
        Class indices in ``[0, num_classes)``, any shape.
    num_classes : int
    dtype : dtype
        Of the result (int64 by default, as in PyTorch).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.one_hot([2, 0], 3).tolist()
    [[0, 0, 1], [1, 0, 0]]
    """
    yd = _labels_array(labels, "one_hot")
    _check_range(yd, int(num_classes), "one_hot")
    return _leaf(_one_hot(xp_of(yd), yd, int(num_classes), dtype))


# ------------------------------------------------------------------ softmax cross-entropy
def _softmax_cross_entropy(xp: Any, logits: Any, labels: Any, n: int) -> Any:
    # log sum_c e^{q_c} - q_y with the row max subtracted first: exact for any magnitude.
    z = logits - max_last(xp, logits)
    lse = xp.log(sum_last(xp, xp.exp(z))[:, 0])
    return (lse - z[xp.arange(n), labels]).sum() / n


_sce = define("softmax_cross_entropy", (
    lambda xp, g, out, logits, labels, n:
        (xp.softmax(logits, axis=-1) - xp.one_hot(labels, logits.shape[1], logits.dtype))
        * (g / n),),
    "(softmax(logits) - onehot(labels)) / n * g")  # fmt: skip


def softmax_cross_entropy(logits: Any, labels: Any) -> Tensor:
    """Mean cross-entropy of class scores against integer labels, fused with the softmax.

    ``L = 1/n sum_i [log sum_c exp(logits[i, c]) - logits[i, labels[i]]]``, computed with the
    row maximum subtracted (finite for logits of any magnitude). Its gradient is
    ``(softmax(logits) - onehot(labels)) / n``; second derivatives work too.

    Parameters
    ----------
    logits : Tensor or array_like, shape (n, C), floating
        Unnormalised class scores.
    labels : Tensor or array_like of ints, shape (n,)
        Class indices in ``[0, C)``.

    Returns
    -------
    Tensor
        0-d, with the dtype of ``logits``.

    Examples
    --------
    >>> import chainrule as cr
    >>> q = cr.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    >>> loss = cr.softmax_cross_entropy(q, [0, 1])
    >>> round(loss.item(), 6)  # log 2
    0.693147
    >>> loss.backward(); q.grad.tolist()
    [[-0.25, 0.25], [0.25, -0.25]]
    """
    op = "softmax_cross_entropy"
    qd = logits._data if isinstance(logits, Tensor) else _as_array(raw(logits), None, op)
    yd = like_device(_labels_array(labels, op), qd)
    qs, ys = _shape(qd), _shape(yd)
    if len(qs) != 2 or qs[0] == 0 or qs[1] == 0:
        raise ValueError(
            f"{op}: logits must have shape (n, C) with n, C >= 1, got shape {qs}"
        )
    if qd.dtype.kind != "f":
        raise TypeError(f"{op}: logits must be floating point, got dtype {qd.dtype}")
    if ys != qs[:1]:
        raise ValueError(
            f"{op}: labels of shape {ys} do not match logits of shape {qs}; expected labels "
            f"of shape ({qs[0]},), one class index per row"
        )
    _check_range(yd, qs[1], op)
    return apply(_sce, _softmax_cross_entropy, (logits,), (yd, qs[0]))


# ------------------------------------------------------------------------------ linear
def _linear(xp: Any, x: Any, w: Any, b: Any) -> Any:
    if x.ndim == 2:
        out = xp.matmul(x, w.T)
    else:  # leading batch axes: one product over the flattened rows
        out = xp.matmul(x.reshape((-1, x.shape[-1])), w.T).reshape(x.shape[:-1] + w.shape[:1])
    if b is None:
        return out
    if out.dtype == b.dtype:
        out += b  # a fresh array: adding in place saves one allocation
        return out
    return out + b


def _rows(t: Any) -> Any:
    return t.reshape((-1, t.shape[-1]))


_linear_prim = define("linear", (
    lambda xp, g, out, x, w, b: g @ w if g.ndim == 2 else (_rows(g) @ w).reshape(x.shape),
    lambda xp, g, out, x, w, b: g.T @ x if g.ndim == 2 else _rows(g).T @ _rows(x),
    lambda xp, g, out, x, w, b: g.sum(axis=0) if g.ndim == 2 else _rows(g).sum(axis=0)),
    "dx = g @ W;  dW = g^T @ x;  db = sum over rows of g  (fused x @ W^T + b)")  # fmt: skip


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """Affine map ``x @ weight.T + bias``, one fused node (PyTorch's ``F.linear`` convention).

    Parameters
    ----------
    x : Tensor or array_like, shape (..., in_features)
        Leading axes are batch axes (a 1-D ``x`` is one sample).
    weight : Tensor or array_like, shape (out_features, in_features)
    bias : Tensor or array_like, shape (out_features,), optional

    Returns
    -------
    Tensor
        Shape ``x.shape[:-1] + (out_features,)``; dtypes combine as in NumPy.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0]])
    >>> w = cr.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    >>> cr.linear(x, w, cr.tensor([0.5, 0.5, 0.5])).tolist()
    [[1.5, 3.5, 4.5]]
    """
    if isinstance(x, Tensor):
        xd = x._data
        xr = x._rg
    else:
        xd = _as_array(raw(x), None, "linear")
        xr = False
    if isinstance(weight, Tensor):
        wd = weight._data
        wr = weight._rg
    else:
        wd = _as_array(raw(weight), None, "linear")
        wr = False
    if isinstance(bias, Tensor):
        bd = bias._data
        br = bias._rg
    else:
        bd = None if bias is None else _as_array(raw(bias), None, "linear")
        br = False
    ws = wd.shape
    if len(ws) != 2:
        raise ValueError(
            f"linear: weight must be 2-D (out_features, in_features), got shape {ws}"
        )
    xs = xd.shape
    if not xs or xs[-1] != ws[1]:
        raise ValueError(
            f"linear: input of shape {xs} does not match weight of shape {ws}: expected the "
            f"last dimension of the input to be {ws[1]} (in_features)"
        )
    if bd is not None and bd.shape != ws[:1]:
        raise ValueError(
            f"linear: bias of shape {bd.shape} does not match weight of shape {ws}: expected "
            f"shape ({ws[0]},) (out_features)"
        )
    data = _linear(NP if xd.__class__ is _ndarray else xp_of(xd), xd, wd, bd)
    if (xr or wr or br) and state.grad_enabled:
        return record(_linear_prim, data, (xd, wd, bd),
                      (x if xr else None, weight if wr else None, bias if br else None))
    return _leaf(data)


# ------------------------------------------------------------------- loss primitives
# The fused primitives behind chainrule.nn.losses (cross_entropy, nll_loss, the binary
# cross-entropies). They take arguments already checked and prepared there (labels in range,
# weights cast to the input's dtype, the mean's denominator), so they carry no checks of their
# own; ``denom`` is the divisor of the summed loss, or None for reduction="none" (one loss per
# row/element). Why fused: the composed forms pass gradients through 1/softmax or 1/sigmoid,
# which underflow; fused, each gradient is the closed form (softmax - target, sigmoid - target)
# and each loss is one node.
def _scale(g: Any, denom: Any, rows: bool) -> Any:
    """The incoming gradient per row (as a column) or per element, divided by ``denom``."""
    if denom is not None:
        return g / denom
    return g.reshape((-1, 1)) if rows else g


def _column(a: Any) -> Any:
    return a if a is None or not hasattr(a, "shape") else a.reshape((-1, 1))


def _label_cross_entropy(
    xp: Any, logits: Any, labels: Any, a: Any, b: Any, v: Any, denom: Any
) -> tuple[Any, Any]:
    """The loss and ``softmax(logits)`` (saved for the backward, which then costs two
    operations instead of recomputing the softmax)."""
    # Row i: a_i (-log p_i[y_i]) + b_i sum_c v_c (-log p_ic), with -log p_ic = lse_i - z_ic and
    # z = logits - row max (exact for logits of any magnitude).
    z = logits - max_last(xp, logits)
    p = xp.exp(z)
    total = sum_last(xp, p)
    p /= total
    lse = xp.log(total[:, 0])
    loss = lse - z[xp.arange(z.shape[0]), labels]
    if b is not None:
        smooth = z.shape[1] * lse - z.sum(axis=1) if v is None else v.sum() * lse - z @ v
    if denom is not None and b is None:
        return (loss.sum() if a is None else loss @ a) / denom, p
    if a is not None:
        loss = loss * a
    if b is not None:
        loss = loss + b * smooth
    return (loss if denom is None else loss.sum() / denom), p


def _d_label_cross_entropy(
    xp: Any, g: Any, out: Any, logits: Any, labels: Any, a: Any, b: Any, v: Any, denom: Any,
    p: Any,
) -> Any:  # fmt: skip
    if g.__class__ is Tensor:  # create_graph: differentiable in logits, so p is recomputed
        p = xp.softmax(logits, axis=-1)
        d = p - xp.one_hot(labels, logits.shape[1], logits.dtype)
        if a is not None:
            d = d * _column(a)
        if b is not None:
            d = d + _d_smoothing(p, v) * _column(b)
        return d * _scale(g, denom, True)
    rows = xp.arange(p.shape[0])
    if a is None:
        d = p.copy()
        d[rows, labels] -= 1
    else:
        d = p * _column(a)
        d[rows, labels] -= a
    if b is not None:
        d += _d_smoothing(p, v) * _column(b)
    d *= _scale(g, denom, True)
    return d


def _d_smoothing(p: Any, v: Any) -> Any:
    """d/dq of sum_c v_c (-log p_c) (v = ones when None): sum(v) p - v."""
    return p * p.shape[1] - 1 if v is None else p * v.sum() - v


label_cross_entropy_prim = define(
    "label_cross_entropy", (_d_label_cross_entropy,),
    "(a (softmax(q) - onehot(y)) + b (sum(v) softmax(q) - v)) * g / denom  "
    "(plain mean: (softmax(q) - onehot(y)) / n)")  # fmt: skip


def label_cross_entropy(
    logits: Any, labels: Any, a: Any = None, b: Any = None, v: Any = None, denom: Any = None
) -> Tensor:
    """Cross-entropy of 2-D ``logits`` against integer ``labels``, one node (no checks).

    Row ``i`` loses ``a_i (-log p_i[y_i]) + b_i sum_c v_c (-log p_ic)`` with
    ``p = softmax(logits)`` (``a``, ``b`` default to 1 and 0, ``v`` to ones); the rows are
    summed and divided by ``denom``, or returned as they are when ``denom`` is None. The
    callers (:func:`chainrule.nn.functional.cross_entropy`, the estimators) validate shapes.

    Examples
    --------
    >>> import chainrule as cr
    >>> q = cr.tensor([[0.0, 0.0]], requires_grad=True)
    >>> loss = label_cross_entropy(q, cr.tensor([1]).numpy(), denom=1.0); loss.backward()
    >>> round(loss.item(), 6), q.grad.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    qd = logits._data if isinstance(logits, Tensor) else logits
    loss, p = _label_cross_entropy(xp_of(qd), qd, labels, a, b, v, denom)
    if isinstance(logits, Tensor) and logits._rg and state.grad_enabled:
        return record(label_cross_entropy_prim, loss, (qd, labels, a, b, v, denom, p), logits)
    return _leaf(loss)


def _soft_cross_entropy(xp: Any, logits: Any, targets: Any, denom: Any) -> Any:
    # Row i: sum_c t_ic (lse_i - z_ic) = -sum_c t_ic log softmax(q_i)_c.
    z = logits - max_last(xp, logits)
    lse = xp.log(sum_last(xp, xp.exp(z)))
    loss = sum_last(xp, targets * (lse - z))[:, 0]
    return loss if denom is None else loss.sum() / denom


soft_cross_entropy_prim = define("soft_cross_entropy", (
    lambda xp, g, out, logits, targets, denom:
        (xp.softmax(logits, axis=-1) * targets.sum(axis=1, keepdims=True) - targets)
        * _scale(g, denom, True),
    lambda xp, g, out, logits, targets, denom:
        -xp.log_softmax(logits, axis=-1) * _scale(g, denom, True)),
    "dq = (sum(t) softmax(q) - t) * g / denom;  dt = -log_softmax(q) * g / denom")  # fmt: skip


def _label_nll(xp: Any, log_probs: Any, labels: Any, a: Any, denom: Any) -> Any:
    loss = -log_probs[xp.arange(log_probs.shape[0]), labels]
    if a is not None:
        loss = loss * a
    return loss if denom is None else loss.sum() / denom


def _d_label_nll(
    xp: Any, g: Any, out: Any, log_probs: Any, labels: Any, a: Any, denom: Any
) -> Any:
    d = xp.one_hot(labels, log_probs.shape[1], log_probs.dtype) * _scale(g, denom, True)
    return -d if a is None else d * -_column(a)


label_nll_prim = define("label_nll", (_d_label_nll,), "-a onehot(y) * g / denom")


def _sigmoid_cross_entropy(xp: Any, x: Any, t: Any, w: Any, pw: Any, denom: Any) -> Any:
    # (1 - t) x - (1 + (pw - 1) t) log sigmoid(x), PyTorch's form; log_sigmoid is
    # min(x, 0) - log1p(e^-|x|), exact for |x| = 1e4.
    ls = xp.log_sigmoid(x)
    loss = (1 - t) * x - (ls if pw is None else (1 + (pw - 1) * t) * ls)
    if w is not None:
        loss = loss * w
    return loss if denom is None else loss.sum() / denom


def _d_sigmoid_cross_entropy_x(
    xp: Any, g: Any, out: Any, x: Any, t: Any, w: Any, pw: Any, denom: Any
) -> Any:
    if pw is None:
        d = xp.sigmoid(x) - t
    else:
        d = (1 - t) - (1 + (pw - 1) * t) * xp.sigmoid(-x)
    if w is not None:
        d = d * w
    return d * _scale(g, denom, False)


def _d_sigmoid_cross_entropy_t(
    xp: Any, g: Any, out: Any, x: Any, t: Any, w: Any, pw: Any, denom: Any
) -> Any:
    d = -x if pw is None else -x - (pw - 1) * xp.log_sigmoid(x)
    if w is not None:
        d = d * w
    return d * _scale(g, denom, False)


sigmoid_cross_entropy_prim = define(
    "sigmoid_cross_entropy", (_d_sigmoid_cross_entropy_x, _d_sigmoid_cross_entropy_t),
    "dx = w ((1 - t) - (1 + (pw - 1) t) sigmoid(-x)) * g / denom  (= w (sigmoid(x) - t) "
    "without pos_weight);  dt = w (-x - (pw - 1) log sigmoid(x)) * g / denom")  # fmt: skip

#: PyTorch's floor for the logarithms in binary cross-entropy (log 0 = -inf becomes -100).
_LOG_FLOOR = -100.0
#: PyTorch's floor for p (1 - p) in binary cross-entropy's gradient: finite at p = 0 and 1.
_BCE_EPS = 1e-12


def _clamped_logs(xp: Any, p: Any) -> tuple[Any, Any]:
    with np.errstate(divide="ignore"):
        return xp.maximum(xp.log(p), _LOG_FLOOR), xp.maximum(xp.log1p(-p), _LOG_FLOOR)


def _binary_cross_entropy(xp: Any, p: Any, t: Any, w: Any, denom: Any) -> Any:
    log_p, log_1mp = _clamped_logs(xp, p)
    loss = (t - 1) * log_1mp - t * log_p
    if w is not None:
        loss = loss * w
    return loss if denom is None else loss.sum() / denom


def _d_binary_cross_entropy_p(xp: Any, g: Any, out: Any, p: Any, t: Any, w: Any, denom: Any):
    d = (p - t) / xp.maximum((1 - p) * p, _BCE_EPS)
    if w is not None:
        d = d * w
    return d * _scale(g, denom, False)


def _d_binary_cross_entropy_t(xp: Any, g: Any, out: Any, p: Any, t: Any, w: Any, denom: Any):
    log_p, log_1mp = _clamped_logs(xp, p)
    d = log_1mp - log_p
    if w is not None:
        d = d * w
    return d * _scale(g, denom, False)


binary_cross_entropy_prim = define(
    "binary_cross_entropy", (_d_binary_cross_entropy_p, _d_binary_cross_entropy_t),
    "dp = w (p - t) / max(p (1 - p), 1e-12) * g / denom;  "
    "dt = w (max(log(1 - p), -100) - max(log p, -100)) * g / denom")  # fmt: skip


# ------------------------------------------------------------------------ standardize
# Standardising over ``axes`` gets a primitive of its own because composed from mean, subtract,
# square, mean, sqrt and divide it is six recorded nodes whose backward passes broadcast and sum
# the gradient several times over the full input; fused, the backward is one formula,
#     dx = inv * (g - mean(g) - out * mean(g * out)),   inv = 1 / sqrt(var(x) + eps),
# and layer_norm's forward + backward runs 1.5x (8x32) to 5x (256x1024) faster than composed.
# The rule uses only xp operations, so under create_graph it is differentiable again (there
# ``inv`` is recomputed from x: the saved array would be a constant to the second derivative).
def _d_standardize(xp: Any, g: Any, out: Any, x: Any, axes: Any, eps: float, inv: Any) -> Any:
    if g.__class__ is Tensor:
        inv = 1 / xp.sqrt(xp.var(x, axis=axes, keepdims=True) + eps)
        return inv * (g - g.mean(axis=axes, keepdims=True)
                      - out * (g * out).mean(axis=axes, keepdims=True))
    d = g - g.mean(axis=axes, keepdims=True)
    d -= out * (g * out).mean(axis=axes, keepdims=True)
    d *= inv
    return d


_standardize_prim = define(
    "standardize", (_d_standardize,),
    "inv * (g - mean(g) - out * mean(g * out)),  out = (x - mean(x)) * inv,  "
    "inv = 1/sqrt(var(x) + eps)")  # fmt: skip


def _standardize(x: Any, xd: Any, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Any, Any]:
    """``(x - mean) / sqrt(var + eps)`` over ``axes`` (biased var), and the raw mean and var."""
    mean = xd.mean(axis=axes, keepdims=True)
    xc = xd - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv = 1 / namespace_of(xd).sqrt(var + eps)
    xc *= inv
    if isinstance(x, Tensor) and x._rg and state.grad_enabled:
        return record(_standardize_prim, xc, (xd, axes, eps, inv), (x,)), mean, var
    return _leaf(xc), mean, var
