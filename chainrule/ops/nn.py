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

from ..autodiff import modes_switched, state
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
    # Viewed as unsigned, a negative label is huge: one reduction checks both bounds. The
    # comparison is made on the array and only its outcome read (cr.compile then guards on
    # "in range", not on the largest label of each batch).
    if yd.size and bool(yd.view(yd.dtype.str.replace("i", "u")).max() >= num_classes):
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
    if (xr or wr or br) and (not modes_switched or state.grad_enabled):
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
    if isinstance(logits, Tensor) and logits._rg and (not modes_switched or state.grad_enabled):
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
    if isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled):
        return record(_standardize_prim, xc, (xd, axes, eps, inv), (x,)), mean, var
    return _leaf(xc), mean, var


# ---------------------------------------------------------------------- recurrent cells
# The gate arithmetic of one LSTM or GRU step as fused nodes (composed, it is a dozen nodes for
# every time step); the matrix products stay ``linear`` nodes (chainrule.nn.rnn). The forward
# saves the gate activations, so an ordinary backward is a few array operations; under
# create_graph the rules recompute them from the inputs (saved arrays would be constants to the
# second derivative) with xp operations only, so they are differentiable again.
def _block(a: Any, k: int, n: int) -> Any:
    """The ``k``-th block of ``n`` columns of the last axis."""
    return a[..., k * n : (k + 1) * n]


def _record_saved(
    prim: Any, data: Any, arrays: tuple[Any, ...], saved: Any, inputs: tuple[Any, ...]
) -> Tensor:
    """Record ``prim`` with ``saved`` (the activations) after the arrays, like ``apply``."""
    recording = not modes_switched or state.grad_enabled
    if recording and any(isinstance(a, Tensor) and a._rg for a in inputs):
        parents = tuple(a if isinstance(a, Tensor) and a._rg else None for a in inputs)
        return record(prim, data, (*arrays, saved), parents)
    return _leaf(data)


def _raw(a: Any) -> Any:
    return a._data if isinstance(a, Tensor) else raw(a)


def _lstm_state_acts(xp: Any, gates: Any, n: int) -> tuple[Any, Any, Any]:
    # PyTorch's order: input, forget, cell (g), output.
    return (xp.sigmoid(_block(gates, 0, n)), xp.sigmoid(_block(gates, 1, n)),
            xp.tanh(_block(gates, 2, n)))  # fmt: skip


def _spread(xp: Any, like: Any, blocks: list[Any], first: int) -> Any:
    """``blocks`` placed from column block ``first`` of an array shaped like ``like`` (zeros
    elsewhere)."""
    n = blocks[0].shape[-1]
    if like.__class__ is Tensor or blocks[0].__class__ is Tensor:  # create_graph
        total = like.shape[-1] // n
        zeros = xp.zeros_like(_block(like, 0, n))
        parts = [zeros] * first + list(blocks) + [zeros] * (total - first - len(blocks))
        return xp.concatenate(parts, axis=-1)
    d = xp.empty_like(like)
    for k in range(like.shape[-1] // n):
        if first <= k < first + len(blocks):
            d[..., k * n : (k + 1) * n] = blocks[k - first]
        else:
            d[..., k * n : (k + 1) * n] = 0
    return d


def _d_lstm_state_gates(xp: Any, g: Any, out: Any, gates: Any, c: Any, acts: Any) -> Any:
    i, f, gg = _lstm_state_acts(xp, gates, c.shape[-1]) if g.__class__ is Tensor else acts
    return _spread(xp, gates, [g * gg * i * (1 - i), g * c * f * (1 - f),
                               g * i * (1 - gg * gg)], 0)  # fmt: skip


def _d_lstm_state_c(xp: Any, g: Any, out: Any, gates: Any, c: Any, acts: Any) -> Any:
    f = xp.sigmoid(_block(gates, 1, c.shape[-1])) if g.__class__ is Tensor else acts[1]
    return g * f


lstm_state_prim = define(
    "lstm_state", (_d_lstm_state_gates, _d_lstm_state_c),
    "c' = f c + i g;  dgates = g * [g i(1-i), c f(1-f), i (1-g**2), 0];  dc = g f  "
    "(i, f, o = sigmoid, g = tanh of the gate blocks)")  # fmt: skip


def lstm_state(gates: Any, c: Any) -> Tensor:
    """The LSTM's new cell state ``c' = f c + i g`` from the gate pre-activations ``gates``
    (N, 4H, PyTorch's order i, f, g, o) and the cell state ``c`` (N, H); one node. See
    :class:`chainrule.nn.LSTM`.

    Examples
    --------
    >>> import chainrule as cr
    >>> lstm_state(cr.zeros(1, 4), cr.ones(1, 1)).tolist()  # f = 1/2, g = 0
    [[0.5]]
    """
    gd, cd = _raw(gates), _raw(c)
    xp = xp_of(gd)
    acts = _lstm_state_acts(xp, gd, cd.shape[-1])
    return _record_saved(lstm_state_prim, acts[1] * cd + acts[0] * acts[2], (gd, cd), acts,
                         (gates, c))  # fmt: skip


def _d_lstm_output_gates(xp: Any, g: Any, out: Any, gates: Any, c: Any, acts: Any) -> Any:
    if g.__class__ is Tensor:
        acts = xp.sigmoid(_block(gates, 3, c.shape[-1])), xp.tanh(c)
    o, tc = acts
    return _spread(xp, gates, [g * tc * o * (1 - o)], 3)


def _d_lstm_output_c(xp: Any, g: Any, out: Any, gates: Any, c: Any, acts: Any) -> Any:
    if g.__class__ is Tensor:
        acts = xp.sigmoid(_block(gates, 3, c.shape[-1])), xp.tanh(c)
    o, tc = acts
    return g * o * (1 - tc * tc)


lstm_output_prim = define(
    "lstm_output", (_d_lstm_output_gates, _d_lstm_output_c),
    "h = o tanh(c);  dgates = [0, 0, 0, g tanh(c) o(1-o)];  dc = g o (1 - tanh(c)**2)")  # fmt: skip


def lstm_output(gates: Any, c: Any) -> Tensor:
    """The LSTM's hidden state ``h = o tanh(c)`` from the gate pre-activations ``gates``
    (N, 4H; ``o`` is the last block) and the new cell state ``c`` (N, H); one node.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(lstm_output(cr.zeros(1, 4), cr.ones(1, 1)).item(), 6)  # tanh(1) / 2
    0.380797
    """
    gd, cd = _raw(gates), _raw(c)
    xp = xp_of(gd)
    acts = xp.sigmoid(_block(gd, 3, cd.shape[-1])), xp.tanh(cd)
    return _record_saved(lstm_output_prim, acts[0] * acts[1], (gd, cd), acts, (gates, c))


def _gru_acts(xp: Any, xg: Any, hg: Any, k: int) -> tuple[Any, Any, Any]:
    # PyTorch's order: reset, update (z), new (n); the reset gate scales W_hn h + b_hn.
    r = xp.sigmoid(_block(xg, 0, k) + _block(hg, 0, k))
    z = xp.sigmoid(_block(xg, 1, k) + _block(hg, 1, k))
    return r, z, xp.tanh(_block(xg, 2, k) + r * _block(hg, 2, k))


def _d_gru_pre(xp: Any, g: Any, xg: Any, hg: Any, h: Any, acts: Any) -> tuple[Any, ...]:
    """dL/d of the three pre-activations (r, z, n), and r."""
    k = h.shape[-1]
    r, z, n = _gru_acts(xp, xg, hg, k) if g.__class__ is Tensor else acts
    dn = g * (1 - z) * (1 - n * n)
    dz = g * (h - n) * z * (1 - z)
    dr = dn * _block(hg, 2, k) * r * (1 - r)
    return dr, dz, dn, r


def _d_gru_x(xp: Any, g: Any, out: Any, xg: Any, hg: Any, h: Any, acts: Any) -> Any:
    dr, dz, dn, _ = _d_gru_pre(xp, g, xg, hg, h, acts)
    return _spread(xp, xg, [dr, dz, dn], 0)


def _d_gru_h_gates(xp: Any, g: Any, out: Any, xg: Any, hg: Any, h: Any, acts: Any) -> Any:
    dr, dz, dn, r = _d_gru_pre(xp, g, xg, hg, h, acts)
    return _spread(xp, hg, [dr, dz, dn * r], 0)


def _d_gru_h(xp: Any, g: Any, out: Any, xg: Any, hg: Any, h: Any, acts: Any) -> Any:
    z = _gru_acts(xp, xg, hg, h.shape[-1])[1] if g.__class__ is Tensor else acts[1]
    return g * z


gru_cell_prim = define(
    "gru_cell", (_d_gru_x, _d_gru_h_gates, _d_gru_h),
    "h' = (1-z) n + z h;  dn = g (1-z)(1-n**2);  dz = g (h-n) z(1-z);  dr = dn hn r(1-r);  "
    "dxg = [dr, dz, dn];  dhg = [dr, dz, dn r];  dh = g z")  # fmt: skip


def gru_cell(x_gates: Any, h_gates: Any, h: Any) -> Tensor:
    """One GRU step from the input projections ``x_gates`` (N, 3H) and the recurrent ones
    ``h_gates`` (N, 3H), PyTorch's order r, z, n, and the state ``h`` (N, H):
    ``(1 - z) n + z h`` with ``n = tanh(x_n + r h_n)``; one node. See
    :class:`chainrule.nn.GRU`.

    Examples
    --------
    >>> import chainrule as cr
    >>> gru_cell(cr.zeros(1, 3), cr.zeros(1, 3), cr.ones(1, 1)).tolist()  # z = 1/2, n = 0
    [[0.5]]
    """
    xd, hgd, hd = _raw(x_gates), _raw(h_gates), _raw(h)
    xp = xp_of(xd)
    acts = _gru_acts(xp, xd, hgd, hd.shape[-1])
    r, z, n = acts
    return _record_saved(gru_cell_prim, (1 - z) * n + z * hd, (xd, hgd, hd), acts,
                         (x_gates, h_gates, h))  # fmt: skip
