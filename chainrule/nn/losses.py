"""Loss functions with PyTorch's semantics and argument names, and their Module forms.

``cross_entropy`` is the article's result made general: the loss is fused with the log-softmax
into one primitive whose gradient is ``(softmax(q) - onehot(y)) / n`` (exact for logits of any
magnitude), extended with PyTorch's class weights, ``ignore_index``, label smoothing and
probability targets. The binary cross-entropies and ``nll_loss`` are fused primitives too (see
``chainrule/ops/nn.py``); ``mse_loss``, ``l1_loss`` and ``huber_loss`` are compositions.

Every loss takes ``reduction`` = ``"mean"`` (default), ``"sum"`` or ``"none"``. Class weights
and ``pos_weight`` are constants (no gradient flows to them); targets given as Tensors that
require grad get gradients where PyTorch gives them (probabilities, binary and regression
targets). Raw targets (arrays, lists) are cast to the input's dtype, so float32 stays float32.
Options after ``weight`` are keyword-only: PyTorch's signatures still hold the deprecated
``size_average``/``reduce`` there, so positional code ported from PyTorch fails loudly.

Examples
--------
>>> import chainrule as cr
>>> from chainrule.nn.losses import cross_entropy
>>> q = cr.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True)
>>> loss = cross_entropy(q, [0, 0]); loss.backward()
>>> round(loss.item(), 4)
1.1269
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from ..backend import like_device
from ..ops.define import apply, xp_of
from ..ops.nn import (
    _binary_cross_entropy,
    _label_nll,
    _sigmoid_cross_entropy,
    _soft_cross_entropy,
    binary_cross_entropy_prim,
    label_cross_entropy,
    label_nll_prim,
    sigmoid_cross_entropy_prim,
    soft_cross_entropy_prim,
)
from ..tensor import Tensor, _as_array
from .activation import pairwise_distance
from .module import Module

__all__ = [
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "mse_loss", "l1_loss", "huber_loss",
    "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "BCELoss", "MSELoss", "L1Loss",
    "HuberLoss",
    "kl_div", "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
    "poisson_nll_loss", "gaussian_nll_loss", "smooth_l1_loss",
    "KLDivLoss", "CosineEmbeddingLoss", "MarginRankingLoss", "TripletMarginLoss",
    "PoissonNLLLoss", "GaussianNLLLoss", "SmoothL1Loss",
]  # fmt: skip

_REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------------ checks
def _check_reduction(reduction: Any, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _float_input(x: Any, op: str) -> Any:
    xd = x._data if isinstance(x, Tensor) else _as_array(x, None, op)
    if xd.dtype.kind != "f":
        raise TypeError(
            f"{op}: input of shape {xd.shape} must be floating point, got dtype {xd.dtype}"
        )
    return xd


def _target_like(t: Any, xd: Any, op: str) -> Any:
    """``t`` checked to have the input's shape and cast to its dtype (differentiably for a
    Tensor that requires grad)."""
    if isinstance(t, Tensor):
        td = t._data
    else:  # straight to the input's dtype: Python floats are not rounded to float32 first
        td = t = like_device(_as_array(t, xd.dtype, op), xd)
    if td.shape != xd.shape:
        raise ValueError(
            f"{op}: target of shape {td.shape} does not match input of shape {xd.shape}; "
            "expected the same shape"
        )
    if td.dtype == xd.dtype:
        return t
    if isinstance(t, Tensor) and t._rg:
        return ops.astype(t, xd.dtype)
    return td.astype(xd.dtype)


def _constant(w: Any, xd: Any, name: str, op: str) -> Any:
    """A weight as a raw array of the input ``xd``'s dtype (and device) that broadcasts to its
    shape without enlarging it."""
    if w is None:
        return None
    dtype, shape = xd.dtype, xd.shape
    wd = w._data if isinstance(w, Tensor) else like_device(_as_array(w, dtype, op), xd)
    try:
        fits = np.broadcast_shapes(wd.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{op}: {name} of shape {wd.shape} does not broadcast to the input's shape {shape}"
        )
    return wd if wd.dtype == dtype else wd.astype(dtype)


def _class_weight(weight: Any, c: int, xd: Any, op: str) -> Any:
    if weight is None:
        return None
    dtype = xd.dtype
    wd = weight._data if isinstance(weight, Tensor) else _as_array(weight, dtype, op)
    wd = like_device(wd, xd)
    if wd.shape != (c,):
        raise ValueError(
            f"{op}: weight of shape {wd.shape} does not match the {c} classes of the input; "
            f"expected shape ({c},), one weight per class"
        )
    return wd if wd.dtype == dtype else wd.astype(dtype)


def _in_range(y: Any, c: int) -> bool:
    # Viewed as unsigned, a negative label is huge: one reduction checks both bounds (the
    # outcome read, not the largest label: see ops.nn._check_range).
    return y.size == 0 or bool(y.view(y.dtype.str.replace("i", "u")).max() < c)


def _labels(y: Any, c: int, ignore_index: int, op: str) -> tuple[Any, Any]:
    """Flat labels with ignored entries replaced by class 0, and the mask of kept entries
    (None when nothing is ignored)."""
    if _in_range(y, c) and not 0 <= ignore_index < c:
        return y, None  # the common case: one reduction, nothing to ignore
    ignored = y == ignore_index
    valid = None
    if ignored.any():
        valid = ~ignored
        y = xp_of(y).where(ignored, 0, y)
    if not _in_range(y, c):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise ValueError(
            f"{op}: target {bad} is out of range for an input with {c} classes; expected "
            f"0 <= target < {c} (or target == ignore_index, {ignore_index})"
        )
    return y, valid


def _class_layout(xd: Any, op: str) -> tuple[int, tuple[int, ...]]:
    """The number of classes and the shape of one class index per sample (PyTorch's layouts
    (C,), (N, C) and (N, C, d1, ...))."""
    shape = xd.shape
    if not shape or shape[1 if len(shape) > 1 else 0] == 0:
        raise ValueError(
            f"{op}: input of shape {shape} has no class axis; expected shape (C,), (N, C) or "
            "(N, C, d1, ...) with C >= 1"
        )
    if len(shape) == 1:
        return shape[0], ()
    return shape[1], shape[:1] + shape[2:]


def _as_rows(x: Any, ndim: int, c: int) -> Any:
    """(C,), (N, C) or (N, C, d1, ...) as (rows, C), the class axis last."""
    if ndim == 2:
        return x
    if ndim > 2:
        x = ops.transpose(x, (0, *range(2, ndim), 1))
    return ops.reshape(x, (-1, c))


def _denominator(reduction: str, count: Any) -> Any:
    return count if reduction == "mean" else (1 if reduction == "sum" else None)


def _reduce(loss: Any, reduction: str) -> Any:
    if reduction == "mean":
        return ops.mean(loss)
    return ops.sum(loss) if reduction == "sum" else loss


# -------------------------------------------------------------------- cross-entropy
def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between class scores and targets, fused with the log-softmax.

    For class indices ``y``, sample ``i`` loses
    ``(1 - s) w[y_i] (-log p_i[y_i]) + s/C sum_c w_c (-log p_ic)`` with ``p = softmax(input)``
    over the class axis, ``s = label_smoothing`` and ``w`` the class weights (ones by default);
    samples whose target is ``ignore_index`` lose 0. ``"mean"`` divides the sum by
    ``sum_i w[y_i]`` over the kept samples (their count without weights), as PyTorch does.
    For class probabilities ``t`` (a floating target of the input's shape), sample ``i`` loses
    ``-sum_c w_c t'_ic log p_ic`` with ``t' = (1 - s) t + s/C``, and ``"mean"`` divides by
    the number of samples.

    Without weights, smoothing or ignored samples the gradient is the article's
    ``(softmax(input) - onehot(y)) / n``; losses are computed from the max-shifted
    log-sum-exp, exact and finite for logits of any magnitude. Second derivatives work.

    Parameters
    ----------
    input : Tensor or array_like, floating, shape (C,), (N, C) or (N, C, d1, ...)
        Unnormalised class scores (logits); the class axis is 1 (0 for a single sample).
    target : Tensor or array_like
        Integer class indices of shape (), (N,) or (N, d1, ...), or class probabilities of the
        input's shape (floating; gets a gradient if it requires grad).
    weight : array_like, shape (C,), optional
        Class weights (constants).
    ignore_index : int
        Class-index targets equal to it are skipped (not allowed >= 0 with probabilities).
    reduction : {"mean", "sum", "none"}
    label_smoothing : float in [0, 1]

    Returns
    -------
    Tensor
        0-d, or the target's sample shape for ``reduction="none"``; the input's dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> q = cr.tensor([[0.0, 0.0], [0.0, 0.0]], requires_grad=True)
    >>> loss = cross_entropy(q, [0, 1]); loss.backward()
    >>> round(loss.item(), 6), q.grad.tolist()
    (0.693147, [[-0.25, 0.25], [0.25, -0.25]])
    >>> cross_entropy(q, [0, -100], reduction="none").tolist()
    [0.6931471824645996, 0.0]
    """
    op = "cross_entropy"
    qd = _float_input(input, op)
    _check_reduction(reduction, op)
    s = float(label_smoothing)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {s}")
    c, sample_shape = _class_layout(qd, op)
    w = _class_weight(weight, c, qd, op)
    td = target._data if isinstance(target, Tensor) else _as_array(target, None, op)
    td = like_device(td, qd)
    if td.shape == qd.shape:
        return _cross_entropy_probs(input, target, td, qd, c, w, int(ignore_index), reduction, s)
    if td.shape != sample_shape:
        raise ValueError(
            f"{op}: target of shape {td.shape} does not match input of shape {qd.shape}; "
            f"expected class indices of shape {sample_shape} or class probabilities of shape "
            f"{qd.shape}"
        )
    if td.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target of shape {td.shape} has dtype {td.dtype}; class indices must be "
            f"integers (class probabilities are a floating target of the input's shape "
            f"{qd.shape})"
        )
    y, valid = _labels(td.reshape(-1), c, int(ignore_index), op)
    a = b = None
    count: Any = y.shape[0]
    if w is not None or valid is not None:
        if w is None:
            row_w = valid.astype(qd.dtype)
        else:
            row_w = w[y] if valid is None else w[y] * valid
        count = row_w.sum()
        a = row_w if s == 0.0 else row_w * (1.0 - s)
        if s:
            b = s / c if valid is None else valid.astype(qd.dtype) * (s / c)
    elif s:
        a, b = 1.0 - s, s / c
    q = input if isinstance(input, Tensor) else qd
    if qd.ndim != 2:
        q = _as_rows(q, qd.ndim, c)
    out = label_cross_entropy(q, y, a, b, w if s else None, _denominator(reduction, count))
    if reduction == "none" and qd.ndim != 2:
        return ops.reshape(out, sample_shape)
    return out


def _cross_entropy_probs(
    input: Any, target: Any, td: Any, qd: Any, c: int, w: Any, ignore_index: int,
    reduction: str, s: float,
) -> Tensor:  # fmt: skip
    op = "cross_entropy"
    if td.dtype.kind != "f":
        raise TypeError(
            f"{op}: target of the input's shape {td.shape} is read as class probabilities and "
            f"must be floating point, got dtype {td.dtype} (class indices have shape "
            f"{_class_layout(qd, op)[1]})"
        )
    if ignore_index >= 0:
        raise ValueError(
            f"{op}: ignore_index={ignore_index} is not supported with class-probability targets"
        )
    t = _target_like(target, qd, op)
    q = input if isinstance(input, Tensor) else qd
    if qd.ndim != 2:
        q, t = _as_rows(q, qd.ndim, c), _as_rows(t, qd.ndim, c)
    if s:
        t = t * (1.0 - s) + s / c
    if w is not None:
        t = t * w
    rows = qd.size // c
    out = apply(soft_cross_entropy_prim, _soft_cross_entropy, (q, t),
                (_denominator(reduction, rows),))  # fmt: skip
    if reduction == "none" and qd.ndim != 2:
        return ops.reshape(out, _class_layout(qd, op)[1])
    return out


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices under log-probabilities:
    ``-w[y_i] input[i, y_i]``.

    Targets equal to ``ignore_index`` lose 0; ``"mean"`` divides by ``sum_i w[y_i]`` over the
    kept samples, as PyTorch does. ``nll_loss(log_softmax(q), y)`` equals
    ``cross_entropy(q, y)``, but ``cross_entropy`` is one fused node.

    Parameters
    ----------
    input : Tensor or array_like, floating, shape (C,), (N, C) or (N, C, d1, ...)
        Log-probabilities; the class axis is 1 (0 for a single sample).
    target : Tensor or array_like of ints, shape (), (N,) or (N, d1, ...)
    weight : array_like, shape (C,), optional
        Class weights (constants).
    ignore_index : int
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor
        0-d, or the target's shape for ``reduction="none"``; the input's dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> nll_loss(cr.tensor([[-1.0, -2.0], [-3.0, -0.5]]), [1, 0]).item()
    2.5
    """
    op = "nll_loss"
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    c, sample_shape = _class_layout(xd, op)
    w = _class_weight(weight, c, xd, op)
    td = target._data if isinstance(target, Tensor) else _as_array(target, None, op)
    td = like_device(td, xd)
    if td.shape != sample_shape:
        raise ValueError(
            f"{op}: target of shape {td.shape} does not match input of shape {xd.shape}; "
            f"expected class indices of shape {sample_shape}"
        )
    if td.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: target of shape {td.shape} has dtype {td.dtype}; class indices must be "
            "integers"
        )
    y, valid = _labels(td.reshape(-1), c, int(ignore_index), op)
    a = None
    count: Any = y.shape[0]
    if w is not None:
        a = w[y] if valid is None else w[y] * valid
        count = a.sum()
    elif valid is not None:
        a = valid.astype(xd.dtype)
        count = a.sum()
    x = input if isinstance(input, Tensor) else xd
    if xd.ndim != 2:
        x = _as_rows(x, xd.ndim, c)
    out = apply(label_nll_prim, _label_nll, (x,), (y, a, _denominator(reduction, count)))
    if reduction == "none" and xd.ndim != 2:
        return ops.reshape(out, sample_shape)
    return out


# ------------------------------------------------------------ binary cross-entropy
def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Binary cross-entropy of logits, fused with the sigmoid:
    ``w [(1 - t) x - (1 + (pos_weight - 1) t) log sigmoid(x)]``.

    ``log sigmoid(x) = min(x, 0) - log1p(exp(-|x|))`` is exact for any ``|x|`` (1e4 gives
    1e4, not inf). Without ``pos_weight`` the gradient is ``w (sigmoid(x) - t)`` (divided by
    the number of elements for ``"mean"``).

    Parameters
    ----------
    input : Tensor or array_like, floating
        Logits, any shape.
    target : Tensor or array_like, the input's shape
        Targets in [0, 1] (cast to the input's dtype; a Tensor that requires grad gets one).
    weight : array_like, optional
        Weights broadcast to the input's shape (constants).
    reduction : {"mean", "sum", "none"}
    pos_weight : array_like, optional
        Weight of the positive term, broadcast along the last axis (one per class).

    Returns
    -------
    Tensor
        0-d, or the input's shape for ``reduction="none"``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1e4, -1e4, 0.0])
    >>> binary_cross_entropy_with_logits(x, [0.0, 1.0, 1.0], reduction="none").tolist()
    [10000.0, 10000.0, 0.6931471824645996]
    """
    op = "binary_cross_entropy_with_logits"
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    w = _constant(weight, xd, "weight", op)
    pw = _constant(pos_weight, xd, "pos_weight", op)
    x = input if isinstance(input, Tensor) else xd
    return apply(sigmoid_cross_entropy_prim, _sigmoid_cross_entropy, (x, t),
                 (w, pw, _denominator(reduction, xd.size)))  # fmt: skip


def _check_unit_interval(values: Any, what: str, op: str) -> None:
    # NaN fails both comparisons, so it is reported too (as PyTorch does).
    if values.size and not (values.min() >= 0 and values.max() <= 1):
        raise ValueError(
            f"{op}: all elements of {what} should be between 0 and 1 (got values in "
            f"[{float(values.min())}, {float(values.max())}] in shape {values.shape})"
        )


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy of probabilities: ``-w [t log p + (1 - t) log(1 - p)]``.

    As in PyTorch, each logarithm is clamped to >= -100 (so p = 0 or 1 gives a finite loss)
    and the gradient ``w (p - t) / max(p (1 - p), 1e-12)`` stays finite. Prefer
    :func:`binary_cross_entropy_with_logits` on logits: it is exact where this saturates.

    Parameters
    ----------
    input : Tensor or array_like, floating
        Probabilities in [0, 1], any shape.
    target : Tensor or array_like, the input's shape
        Targets in [0, 1] (cast to the input's dtype; a Tensor that requires grad gets one).
    weight : array_like, optional
        Weights broadcast to the input's shape (constants).
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor
        0-d, or the input's shape for ``reduction="none"``.

    Examples
    --------
    >>> import chainrule as cr
    >>> binary_cross_entropy(cr.tensor([0.5, 0.0]), [1.0, 1.0], reduction="none").tolist()
    [0.6931471824645996, 100.0]
    """
    op = "binary_cross_entropy"
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    _check_unit_interval(xd, "input", op)
    _check_unit_interval(t._data if isinstance(t, Tensor) else t, "target", op)
    w = _constant(weight, xd, "weight", op)
    x = input if isinstance(input, Tensor) else xd
    return apply(binary_cross_entropy_prim, _binary_cross_entropy, (x, t),
                 (w, _denominator(reduction, xd.size)))  # fmt: skip


# ------------------------------------------------------------------ regression losses
def _difference(input: Any, target: Any, reduction: str, op: str) -> Tensor:
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    return ops.subtract(input if isinstance(input, Tensor) else xd, t)


def mse_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Squared error ``(input - target)**2``, reduced.

    Unlike PyTorch (which broadcasts with a warning), input and target must have one shape.

    Examples
    --------
    >>> import chainrule as cr
    >>> mse_loss(cr.tensor([1.0, 2.0]), [0.0, 4.0]).item()
    2.5
    """
    d = _difference(input, target, reduction, "mse_loss")
    return _reduce(d * d, reduction)


def l1_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Absolute error ``|input - target|``, reduced (gradient 0 where they are equal).

    Examples
    --------
    >>> import chainrule as cr
    >>> l1_loss(cr.tensor([1.0, 2.0]), [0.0, 4.0]).item()
    1.5
    """
    return _reduce(ops.abs(_difference(input, target, reduction, "l1_loss")), reduction)


def huber_loss(
    input: Any,
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    """Huber loss: ``0.5 d**2`` where ``|d| < delta``, ``delta (|d| - delta/2)`` elsewhere, with
    ``d = input - target``.

    Examples
    --------
    >>> import chainrule as cr
    >>> huber_loss(cr.tensor([0.5, 3.0]), [0.0, 0.0], reduction="none").tolist()
    [0.125, 2.5]
    """
    op = "huber_loss"
    if not delta > 0:
        raise ValueError(f"{op}: delta must be positive, got {delta}")
    d = _difference(input, target, reduction, op)
    ad = ops.abs(d)
    loss = ops.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _reduce(loss, reduction)


# ------------------------------------------------ more losses (PyTorch's, composed)
# Compositions of primitives: their gradients (and second derivatives) come from the chain rule.
# Where PyTorch clamps under no_grad (gaussian_nll_loss's variance), the clamp adds a constant,
# so the gradient is the unclamped one, as there.
def _float_operand(x: Any, xd: Any) -> Any:
    """A Tensor as it is; a raw input as its checked array."""
    return x if isinstance(x, Tensor) else xd


def _same_shape(a: Any, b: Any, what: str, op: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{op}: {what} have shapes {a.shape} and {b.shape} (dtypes {a.dtype}, {b.dtype}); "
            "expected the same shape"
        )


def _hinge(v: Any) -> Any:
    """``max(v, 0)`` with PyTorch's ``clamp_min`` gradient (passes where ``v >= 0``)."""
    return ops.clip(v, 0.0, None)


def _sign_target(target: Any, xd: Any, shape: tuple[int, ...], op: str) -> Any:
    """A target of +1/-1 labels of ``shape``, as a raw array of ``xd``'s dtype."""
    if isinstance(target, Tensor):
        td = target._data
    else:
        td = like_device(_as_array(target, None, op), xd)
    if td.shape != shape:
        raise ValueError(
            f"{op}: target of shape {td.shape} does not match the inputs; expected shape {shape}"
        )
    if td.size and not ((td == 1) | (td == -1)).all():
        raise ValueError(f"{op}: target must contain only 1 and -1, got values {np.unique(td)}")
    return td.astype(xd.dtype) if td.dtype != xd.dtype else td


def kl_div(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence with ``input`` given as log-probabilities:
    ``target (log target - input)`` pointwise (0 where ``target == 0``), or
    ``exp(target) (target - input)`` with ``log_target=True``.

    ``reduction="batchmean"`` divides the sum by the batch size (the mathematically right KL
    divergence per sample); ``"mean"`` divides by the number of elements, as PyTorch.

    Parameters
    ----------
    input : Tensor or array_like, floating
        Log-probabilities, any shape.
    target : Tensor or array_like, the input's shape
        Probabilities (log-probabilities with ``log_target=True``); a Tensor that requires grad
        gets a gradient.
    reduction : {"mean", "batchmean", "sum", "none"}
    log_target : bool

    Examples
    --------
    >>> import chainrule as cr, math
    >>> q = cr.tensor([math.log(0.5), math.log(0.5)])
    >>> round(kl_div(q, [1.0, 0.0], reduction="sum").item(), 6)  # log 2
    0.693147
    """
    op = "kl_div"
    xd = _float_input(input, op)
    if reduction != "batchmean":
        _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    x = _float_operand(input, xd)
    if log_target:
        loss = ops.exp(t) * ops.subtract(t, x)
    else:
        td = t._data if isinstance(t, Tensor) else t
        pos = td > 0
        # xlogy(t, t): log of 1 in the discarded branch keeps every derivative finite.
        tlogt = ops.where(pos, ops.multiply(t, ops.log(ops.where(pos, t, 1.0))), 0.0)
        loss = tlogt - ops.multiply(t, x)
    if reduction == "batchmean":
        return ops.sum(loss) / (xd.shape[0] if xd.ndim else 1)
    return _reduce(loss, reduction)


def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    *,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(x1, x2)`` where ``target == 1``, ``max(0, cos(x1, x2) - margin)`` where
    ``target == -1``, with PyTorch's ``cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12))``.

    Parameters
    ----------
    input1, input2 : Tensor or array_like, shape (N, D) or (D,)
    target : array_like of 1 and -1, shape (N,) or ()
    margin : float
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import chainrule as cr
    >>> x1, x2 = cr.tensor([[1.0, 0.0], [1.0, 0.0]]), cr.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> [round(v, 4) for v in cosine_embedding_loss(x1, x2, [1, -1], reduction="none").tolist()]
    [1.0, 0.7071]
    """
    op = "cosine_embedding_loss"
    ad, bd = _float_input(input1, op), _float_input(input2, op)
    _check_reduction(reduction, op)
    _same_shape(ad, bd, "input1 and input2", op)
    if ad.ndim not in (1, 2):
        raise ValueError(f"{op}: inputs must have shape (N, D) or (D,), got shape {ad.shape}")
    axis = ad.ndim - 1
    y = _sign_target(target, ad, ad.shape[:-1], op)
    a, b = _float_operand(input1, ad), _float_operand(input2, bd)
    eps = 1e-12  # PyTorch's EPSILON
    prod = ops.sum(a * b, axis=axis)
    denom = ops.sqrt((ops.sum(a * a, axis=axis) + eps) * (ops.sum(b * b, axis=axis) + eps))
    cos = prod / denom
    loss = ops.where(y == 1, 1.0 - cos, _hinge(cos - float(margin)))
    return _reduce(loss, reduction)


def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0.0,
    *,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target (input1 - input2) + margin)``: ranks ``input1`` above ``input2`` where
    ``target == 1`` and below where ``target == -1``.

    Examples
    --------
    >>> import chainrule as cr
    >>> margin_ranking_loss(cr.tensor([1.0, 1.0]), cr.tensor([2.0, 0.0]), [1, 1]).item()
    0.5
    """
    op = "margin_ranking_loss"
    ad, bd = _float_input(input1, op), _float_input(input2, op)
    _check_reduction(reduction, op)
    _same_shape(ad, bd, "input1 and input2", op)
    y = _sign_target(target, ad, ad.shape, op)
    diff = _float_operand(input1, ad) - _float_operand(input2, bd)
    return _reduce(_hinge(diff * -y + float(margin)), reduction)


def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    *,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d`` the :func:`pairwise_distance`
    (``p``, ``eps``); ``swap=True`` uses ``min(d(a, n), d(p, n))`` as the negative distance.

    Parameters
    ----------
    anchor, positive, negative : Tensor or array_like, shape (N, D) or (D,)
    margin, p, eps : float
    swap : bool
    reduction : {"mean", "sum", "none"}

    Examples
    --------
    >>> import chainrule as cr
    >>> a, p, n = cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]]), cr.tensor([[0.0, 1.0]])
    >>> round(triplet_margin_loss(a, p, n, eps=0.0).item(), 6)  # 1 + 5 - 1
    5.0
    """
    op = "triplet_margin_loss"
    arrays = [_float_input(v, op) for v in (anchor, positive, negative)]
    _check_reduction(reduction, op)
    for name, d in zip(("positive", "negative"), arrays[1:]):
        _same_shape(arrays[0], d, f"anchor and {name}", op)
    shape = arrays[0].shape
    if len(shape) not in (1, 2):
        raise ValueError(f"{op}: inputs must have shape (N, D) or (D,), got shape {shape}")
    a, pos, neg = (_float_operand(v, d) for v, d in zip((anchor, positive, negative), arrays))
    d_ap = pairwise_distance(a, pos, p, eps)
    d_an = pairwise_distance(a, neg, p, eps)
    if swap:
        d_an = ops.minimum(d_an, pairwise_distance(pos, neg, p, eps))
    return _reduce(_hinge(float(margin) + d_ap - d_an), reduction)


def poisson_nll_loss(
    input: Any,
    target: Any,
    log_input: bool = True,
    full: bool = False,
    *,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target input`` for a log-rate
    ``input`` (``log_input=True``), ``input - target log(input + eps)`` for a rate.

    ``full=True`` adds Stirling's approximation of ``log(target!)``,
    ``target log target - target + log(2 pi target) / 2``, where ``target > 1``.

    Examples
    --------
    >>> import chainrule as cr
    >>> poisson_nll_loss(cr.tensor([0.0, 0.0]), [1.0, 2.0]).item()
    1.0
    """
    op = "poisson_nll_loss"
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    x = _float_operand(input, xd)
    if log_input:
        loss = ops.exp(x) - ops.multiply(t, x)
    else:
        loss = ops.subtract(x, ops.multiply(t, ops.log(x + float(eps))))
    if full:
        td = t._data if isinstance(t, Tensor) else t
        big = td > 1
        ts = ops.where(big, t, 1.0)  # finite logs in the discarded branch
        stirling = ts * ops.log(ts) - ts + 0.5 * ops.log(2 * np.pi * ts)
        loss = loss + ops.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input: Any,
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Gaussian negative log-likelihood ``(log var + (input - target)**2 / var) / 2`` (plus
    ``log(2 pi) / 2`` with ``full=True``), with the variance raised to at least ``eps``.

    ``var`` has the input's shape (one variance per element), or the input's shape without its
    last axis, or with a last axis of 1 (one variance shared along the last axis). As in
    PyTorch the clamp to ``eps`` passes the gradient unchanged.

    Examples
    --------
    >>> import chainrule as cr
    >>> gaussian_nll_loss(cr.tensor([1.0, 3.0]), [1.0, 1.0], [1.0, 1.0]).item()
    1.0
    """
    op = "gaussian_nll_loss"
    xd = _float_input(input, op)
    _check_reduction(reduction, op)
    t = _target_like(target, xd, op)
    if isinstance(var, Tensor):
        v, vd = var, var._data
    else:
        vd = like_device(_as_array(var, xd.dtype, op), xd)
        v = vd
    if vd.shape != xd.shape:
        if vd.shape == xd.shape[:-1]:
            v = ops.expand_dims(v, -1)
        elif not (vd.ndim == xd.ndim and vd.shape[:-1] == xd.shape[:-1] and vd.shape[-1] == 1):
            raise ValueError(
                f"{op}: var of shape {vd.shape} does not fit an input of shape {xd.shape}; "
                f"expected {xd.shape}, {xd.shape[:-1]} or {xd.shape[:-1] + (1,)}"
            )
    if vd.size and vd.min() < 0:
        raise ValueError(f"{op}: var has negative entries (minimum {float(vd.min())})")
    lift = np.maximum(vd, eps) - vd if vd.__class__ is np.ndarray else vd.clip(eps, None) - vd
    if lift.any():
        v = v + lift.reshape(getattr(v, "shape", lift.shape)).astype(xd.dtype, copy=False)
    d = ops.subtract(_float_operand(input, xd), t)
    loss = 0.5 * (ops.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)


def smooth_l1_loss(
    input: Any,
    target: Any,
    *,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, ``|d| - beta / 2`` elsewhere, with
    ``d = input - target``; ``beta=0`` is the L1 loss.

    Examples
    --------
    >>> import chainrule as cr
    >>> smooth_l1_loss(cr.tensor([0.5, 3.0]), [0.0, 0.0], reduction="none").tolist()
    [0.125, 2.5]
    """
    op = "smooth_l1_loss"
    beta = float(beta)
    if beta < 0:
        raise ValueError(f"{op}: beta must be non-negative, got {beta}")
    d = _difference(input, target, reduction, op)
    ad = ops.abs(d)
    if beta == 0:
        return _reduce(ad, reduction)
    return _reduce(ops.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta), reduction)


# ---------------------------------------------------------------------- Modules
class _Loss(Module):
    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """:func:`cross_entropy` as a Module; ``weight`` is kept as a buffer (in ``state_dict``).

    Examples
    --------
    >>> import chainrule as cr
    >>> loss_fn = cr.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> round(loss_fn(cr.tensor([[0.0, 0.0]]), [1]).item(), 6)
    0.693147
    """

    def __init__(
        self,
        weight: Any = None,
        *,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction=reduction)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must be between 0.0 and 1.0, got "
                f"{label_smoothing}"
            )
        self.register_buffer("weight", weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Any, target: Any) -> Tensor:
        return cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(p for p in parts if p)


class NLLLoss(_Loss):
    """:func:`nll_loss` as a Module; ``weight`` is kept as a buffer.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.NLLLoss()(cr.tensor([[-1.0, -2.0]]), [1]).item()
    2.0
    """

    def __init__(self, weight: Any = None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: Any, target: Any) -> Tensor:
        return nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """:func:`binary_cross_entropy_with_logits` as a Module; ``weight`` and ``pos_weight`` are
    kept as buffers.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(cr.nn.BCEWithLogitsLoss()(cr.tensor([0.0]), [1.0]).item(), 6)
    0.693147
    """

    def __init__(self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None):
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return binary_cross_entropy_with_logits(input, target, self.weight,
                                                reduction=self.reduction,
                                                pos_weight=self.pos_weight)


class BCELoss(_Loss):
    """:func:`binary_cross_entropy` as a Module; ``weight`` is kept as a buffer.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(cr.nn.BCELoss()(cr.tensor([0.5]), [1.0]).item(), 6)
    0.693147
    """

    def __init__(self, weight: Any = None, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class MSELoss(_Loss):
    """:func:`mse_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.MSELoss(reduction="sum")(cr.tensor([1.0, 2.0]), [0.0, 4.0]).item()
    5.0
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """:func:`l1_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.L1Loss()(cr.tensor([1.0, 2.0]), [0.0, 4.0]).item()
    1.5
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return l1_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    """:func:`huber_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.HuberLoss(delta=2.0)(cr.tensor([3.0]), [0.0]).item()
    4.0
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if not delta > 0:
            raise ValueError(f"HuberLoss: delta must be positive, got {delta}")
        self.delta = float(delta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return huber_loss(input, target, self.reduction, self.delta)

    def extra_repr(self) -> str:
        return ", ".join(p for p in (super().extra_repr(), f"delta={self.delta}") if p)


class KLDivLoss(_Loss):
    """:func:`kl_div` as a Module (``reduction`` may also be ``"batchmean"``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.KLDivLoss(reduction="batchmean")(cr.tensor([[0.0, 0.0]]), [[1.0, 0.0]]).item()
    0.0
    """

    def __init__(self, *, reduction: str = "mean", log_target: bool = False) -> None:
        Module.__init__(self)
        if reduction != "batchmean":
            _check_reduction(reduction, "KLDivLoss")
        self.reduction = reduction
        self.log_target = bool(log_target)

    def forward(self, input: Any, target: Any) -> Tensor:
        return kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    """:func:`cosine_embedding_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.CosineEmbeddingLoss()(cr.tensor([[1.0, 0.0]]), cr.tensor([[2.0, 0.0]]), [1]).item()
    0.0
    """

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = float(margin)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return cosine_embedding_loss(input1, input2, target, self.margin,
                                     reduction=self.reduction)  # fmt: skip


class MarginRankingLoss(_Loss):
    """:func:`margin_ranking_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.MarginRankingLoss(margin=1.0)(cr.tensor([2.0]), cr.tensor([0.0]), [1]).item()
    0.0
    """

    def __init__(self, margin: float = 0.0, *, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = float(margin)

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return margin_ranking_loss(input1, input2, target, self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    """:func:`triplet_margin_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> a, p, n = cr.tensor([[0.0]]), cr.tensor([[1.0]]), cr.tensor([[5.0]])
    >>> cr.nn.TripletMarginLoss(eps=0.0)(a, p, n).item()
    0.0
    """

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        *,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        self.margin, self.p, self.eps, self.swap = float(margin), float(p), float(eps), bool(swap)

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Tensor:
        return triplet_margin_loss(anchor, positive, negative, self.margin, self.p, self.eps,
                                   self.swap, reduction=self.reduction)  # fmt: skip


class PoissonNLLLoss(_Loss):
    """:func:`poisson_nll_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.PoissonNLLLoss()(cr.tensor([0.0]), [1.0]).item()
    1.0
    """

    def __init__(
        self, log_input: bool = True, full: bool = False, *, eps: float = 1e-8,
        reduction: str = "mean",
    ) -> None:  # fmt: skip
        super().__init__(reduction=reduction)
        self.log_input, self.full, self.eps = bool(log_input), bool(full), float(eps)

    def forward(self, log_input: Any, target: Any) -> Tensor:
        return poisson_nll_loss(log_input, target, self.log_input, self.full, eps=self.eps,
                                reduction=self.reduction)  # fmt: skip


class GaussianNLLLoss(_Loss):
    """:func:`gaussian_nll_loss` as a Module, called as ``loss(input, target, var)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.GaussianNLLLoss()(cr.tensor([1.0]), [1.0], [1.0]).item()
    0.0
    """

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = bool(full), float(eps)

    def forward(self, input: Any, target: Any, var: Any) -> Tensor:
        return gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class SmoothL1Loss(_Loss):
    """:func:`smooth_l1_loss` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.SmoothL1Loss(beta=2.0)(cr.tensor([1.0]), [0.0]).item()
    0.25
    """

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if float(beta) < 0:
            raise ValueError(f"SmoothL1Loss: beta must be non-negative, got {beta}")
        self.beta = float(beta)

    def forward(self, input: Any, target: Any) -> Tensor:
        return smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)
