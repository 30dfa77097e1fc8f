"""Reductions: sum, mean, var, std, max, min, prod, logsumexp, softmax, log_softmax, argmax,
argmin, cumsum, norm. Each takes ``axis`` (None, an int or a tuple) where NumPy does, and
``keepdims``.

A reduction's gradient is the incoming gradient put back on the reduced axes (:func:`_keep`, or
:func:`expand_to` when it must also be broadcast to the input's shape), times the local
derivative:

    sum        vjp  g                                  (broadcast back)
    mean       vjp  g / n
    var        vjp  g * 2 (x - mean) / (n - ddof)
    std        vjp  g * (x - mean) / ((n - ddof) std)  (0 where std == 0)
    max, min   vjp  g * [x == out] / count             (ties share g equally)
    prod       vjp  g * prod_{j != i} x_j              (exact with zeros)
    logsumexp  vjp  g * exp(x - out)                   (= g * softmax(x))
    softmax    vjp  out * (g - sum(g * out))
    log_softmax vjp g - exp(out) * sum(g)
    cumsum     vjp  reversed cumsum of g
    norm       vjp  g * x / out (2), g * sign(x) (1), max-|x| mask (inf)

The functions NumPy lacks (``logsumexp``, ``softmax``, ``log_softmax``) are registered in the
array namespaces, so rules can call ``xp.softmax`` on raw arrays as well as on Tensors.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..backend import register_raw
from ..tensor import Tensor, _as_array
from .define import apply, define, nondiff, raw

__all__ = [
    "sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "softmax", "log_softmax",
    "argmax", "argmin", "cumsum", "norm",
]  # fmt: skip

_INF = math.inf


# ------------------------------------------------------------------------------ helpers
def normalize_axis(axis: Any, ndim: int, op: str, shape: tuple[int, ...] = ()) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints; a clear error when it is not valid.

    Examples
    --------
    >>> normalize_axis(-1, 3, "sum")
    (2,)
    >>> normalize_axis(None, 2, "sum")
    (0, 1)
    """
    if axis is None:
        return tuple(range(ndim))
    if axis.__class__ is int and -ndim <= axis < ndim:  # the common case, checked cheaply
        return (axis % ndim,)
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in axes:
        try:
            if isinstance(a, bool):
                raise TypeError
            ai = operator.index(a)
        except TypeError:
            raise TypeError(
                f"{op}: axis must be None, an int or a tuple of ints, got {axis!r} "
                f"(tensor of shape {tuple(shape)})"
            ) from None
        if not -ndim <= ai < ndim:
            raise ValueError(
                f"{op}: axis {ai} is out of bounds for a tensor of shape {tuple(shape)} "
                f"(ndim {ndim}); expected -{ndim} <= axis < {ndim}"
            )
        out.append(ai % ndim)
    if len(set(out)) != len(out):
        raise ValueError(
            f"{op}: repeated axis in {axis!r} for a tensor of shape {tuple(shape)}; "
            "each axis may appear once"
        )
    return tuple(sorted(out))


def _int_axis(axis: Any, ndim: int, op: str, shape: tuple[int, ...]) -> int | None:
    """``axis`` for functions that take one axis or None (argmax, argmin, cumsum)."""
    if axis is None:
        return None
    if isinstance(axis, (tuple, list)):
        raise TypeError(
            f"{op}: axis must be None or an int, got {axis!r} (tensor of shape {shape})"
        )
    return normalize_axis(axis, ndim, op, shape)[0]


def expand_to(xp: Any, g: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Undo a reduction's shape change: put back the reduced ``axes`` of ``g`` (if they were
    dropped) and broadcast to ``shape``.

    Small NumPy results are filled into a fresh array: ``np.broadcast_to`` costs ~2.5 us in
    Python-level checks, a fill of a few thousand elements less than 1 us; large ones stay
    zero-copy views."""
    v = _keep(g, shape, axes, keepdims)
    if v.__class__ is np.ndarray and math.prod(shape) <= 4096:
        out = np.empty(shape, v.dtype)
        out[...] = v
        return out
    return xp.broadcast_to(v, shape)


def _keep(v: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Any:
    """``v`` (a reduced result) with the reduced axes back as length 1, ready to broadcast."""
    if keepdims or not axes:
        return v
    return v.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))


def _shape_ndim(x: Any) -> tuple[tuple[int, ...], int]:
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)  # Python scalars and nested lists
    return tuple(shape), len(shape)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _check_nonempty(shape: tuple[int, ...], axes: tuple[int, ...], op: str) -> None:
    for a in axes:
        if shape[a] == 0:
            raise ValueError(
                f"{op}: cannot reduce over axis {a} of length 0 (tensor of shape {shape}); "
                "an empty slice has no value to return"
            )


# ------------------------------------------------------------------------ sum and mean
def _sum_forward(xp: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return xp.sum(x, axis=axes, keepdims=keepdims)


_sum = define("sum", (
    lambda xp, g, out, x, axes, keepdims: expand_to(xp, g, x.shape, axes, keepdims),),
    "g broadcast back over the summed axes")


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes when None).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sum(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).tolist()
    [4.0, 6.0]
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "sum", shape)
    return apply(_sum, _sum_forward, (x,), (axes, bool(keepdims)))


def _mean_forward(xp: Any, x: Any, axes: tuple[int, ...], keepdims: bool, n: int) -> Any:
    return xp.mean(x, axis=axes, keepdims=keepdims)


_mean = define("mean", (
    lambda xp, g, out, x, axes, keepdims, n: expand_to(xp, g / n, x.shape, axes, keepdims),),
    "g / n broadcast back over the averaged axes")


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean over ``axis`` (all axes when None).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.mean(cr.tensor([1.0, 2.0, 6.0])).item()
    3.0
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "mean", shape)
    return apply(_mean, _mean_forward, (x,), (axes, bool(keepdims), _count(shape, axes)))


# -------------------------------------------------------------------------- var and std
def _var_forward(xp: Any, x: Any, axes: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    return xp.var(x, axis=axes, ddof=ddof, keepdims=keepdims)


def _std_forward(xp: Any, x: Any, axes: tuple[int, ...], ddof: Any, keepdims: bool) -> Any:
    return xp.std(x, axis=axes, ddof=ddof, keepdims=keepdims)


def _d_var(xp: Any, g: Any, out: Any, x: Any, axes: Any, ddof: Any, keepdims: bool) -> Any:
    # d var / dx_i = 2 (x_i - mean) / (n - ddof); the mean's own dependence on x sums to zero.
    scale = _keep(g, x.shape, axes, keepdims) * (2.0 / (_count(x.shape, axes) - ddof))
    return scale * (x - xp.mean(x, axis=axes, keepdims=True))


def _d_std(xp: Any, g: Any, out: Any, x: Any, axes: Any, ddof: Any, keepdims: bool) -> Any:
    # d std = d var / (2 std). Where std == 0 every x_i equals the mean: the gradient is 0 (a
    # subgradient of sqrt at 0) instead of 0/0.
    s = _keep(out, x.shape, axes, keepdims)
    pos = s > 0
    gk = _keep(g, x.shape, axes, keepdims)
    scale = xp.where(pos, gk / ((_count(x.shape, axes) - ddof) * xp.where(pos, s, 1)), 0)
    return scale * (x - xp.mean(x, axis=axes, keepdims=True))


_var = define("var", (_d_var,), "g * 2 (x - mean(x)) / (n - ddof)")
_std = define("std", (_d_std,), "g * (x - mean(x)) / ((n - ddof) std(x));  0 where std == 0")


def _ddof_check(x: Any, axis: Any, ddof: Any, op: str) -> tuple[tuple[int, ...], Any]:
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, op, shape)
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: ddof must be a number, got {ddof!r}")
    n = _count(shape, axes)
    if n - ddof <= 0:
        raise ValueError(
            f"{op}: ddof={ddof} leaves no degrees of freedom: each slice of the tensor of shape "
            f"{shape} over axes {axes} has {n} element(s); expected ddof < {n}"
        )
    return axes, ddof


def var(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    """Variance over ``axis``: ``sum((x - mean)**2) / (n - ddof)``, as ``numpy.var``.

    Unlike NumPy (which returns NaN with a warning), ``ddof >= n`` raises ValueError.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.var(cr.tensor([1.0, 2.0, 3.0, 4.0])).item()
    1.25
    """
    axes, ddof = _ddof_check(x, axis, ddof, "var")
    return apply(_var, _var_forward, (x,), (axes, ddof, bool(keepdims)))


def std(x: Any, axis: Any = None, ddof: Any = 0, keepdims: bool = False) -> Any:
    """Standard deviation over ``axis``, ``sqrt(var(x, axis, ddof))``, as ``numpy.std``.

    The gradient where the standard deviation is 0 (all elements of a slice equal) is taken to be
    0, a subgradient, rather than the 0/0 of the formula. ``ddof >= n`` raises ValueError.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.std(cr.tensor([1.0, 3.0])).item()
    1.0
    """
    axes, ddof = _ddof_check(x, axis, ddof, "std")
    return apply(_std, _std_forward, (x,), (axes, ddof, bool(keepdims)))


# --------------------------------------------------------------------- max, min, prod
def _max_forward(xp: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return xp.max(x, axis=axes, keepdims=keepdims)


def _min_forward(xp: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return xp.min(x, axis=axes, keepdims=keepdims)


def _d_extreme(xp: Any, g: Any, out: Any, x: Any, axes: Any, keepdims: bool) -> Any:
    # Every element that attains the extreme gets an equal share of g (a subgradient that
    # keeps sum(grad) == g, as for a tie in maximum()).
    mask = (x == _keep(out, x.shape, axes, keepdims)).astype(x.dtype)
    return mask * (_keep(g, x.shape, axes, keepdims) / mask.sum(axis=axes, keepdims=True))


_max = define("max", (_d_extreme,), "g * [x == max] / count(x == max)")
_min = define("min", (_d_extreme,), "g * [x == min] / count(x == min)")


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Largest element over ``axis``; ties share the gradient equally.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 5.0], [3.0, 2.0]]).max(axis=0).tolist()
    [3.0, 5.0]
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "max", shape)
    _check_nonempty(shape, axes, "max")
    return apply(_max, _max_forward, (x,), (axes, bool(keepdims)))


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Smallest element over ``axis``; ties share the gradient equally.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 5.0], [3.0, 2.0]]).min(axis=1).tolist()
    [1.0, 2.0]
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "min", shape)
    _check_nonempty(shape, axes, "min")
    return apply(_min, _min_forward, (x,), (axes, bool(keepdims)))


def _prod_forward(xp: Any, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    return xp.prod(x, axis=axes, keepdims=keepdims)


def _d_prod(xp: Any, g: Any, out: Any, x: Any, axes: Any, keepdims: bool) -> Any:
    gk = _keep(g, x.shape, axes, keepdims)
    if not (raw(x) == 0).any():
        return gk * _keep(out, x.shape, axes, keepdims) / x
    # With zeros, out / x is 0/0. Write prod_{j != i} x_j from the product p of the nonzero
    # factors and the zero factors themselves, so that second derivatives are exact too:
    #   x_i != 0:  (product of the zeros) * p / x_i             (value 0, slope p / x_i)
    #   x_i == 0:  (product of the *other* zeros) * p, i.e. p with one zero, (sum of zeros -
    #              x_i) * p with two, 0 with three or more (value and slope both 0).
    is_zero = x == 0
    nz = is_zero.sum(axis=axes, keepdims=True)
    p = xp.prod(xp.where(is_zero, 1, x), axis=axes, keepdims=True)
    zeros = xp.prod(xp.where(is_zero, x, 1), axis=axes, keepdims=True)
    zsum = xp.where(is_zero, x, 0).sum(axis=axes, keepdims=True)
    others = xp.where(nz == 1, 1, xp.where(nz == 2, zsum - x, 0))
    return gk * xp.where(is_zero, others * p, zeros * p / xp.where(is_zero, 1, x))


_prod = define("prod", (_d_prod,), "g * prod_{j != i} x_j  (g * out / x without zeros)")


def prod(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product of the elements over ``axis``.

    The gradient ``prod_{j != i} x_j`` is exact when the input holds zeros (not ``out / x``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.prod(cr.tensor([2.0, 3.0, 4.0])).item()
    24.0
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "prod", shape)
    return apply(_prod, _prod_forward, (x,), (axes, bool(keepdims)))


# ------------------------------------------------------ logsumexp, softmax, log_softmax
# NumPy reduces a short last axis row by row, one inner loop per row: the max over (1797, 10)
# takes ~70 us where ten column-wise maximums take ~18 us, and the sum ~37 us where a product
# with a vector of ones takes ~5 us. Softmax, log-softmax, logsumexp and the cross-entropies
# reduce over the class axis at every step, so their NumPy/CuPy paths use these two.
_FAST_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def max_last(xp: Any, x: Any, axes: Any = (-1,)) -> Any:
    """``x.max(axis=axes, keepdims=True)``, column by column when ``axes`` is the last axis of
    an array of 2 or more dimensions and it has at most 16 entries."""
    c = x.shape[-1] if x.ndim > 1 else 0
    if 1 < c <= 16 and len(axes) == 1 and axes[0] in (-1, x.ndim - 1):
        m = xp.maximum(x[..., 0], x[..., 1])
        for j in range(2, c):
            xp.maximum(m, x[..., j], out=m)
        return m[..., None]
    return x.max(axis=axes, keepdims=True)


def sum_last(xp: Any, x: Any, axes: Any = (-1,)) -> Any:
    """``x.sum(axis=axes, keepdims=True)``, as ``x @ ones`` when ``axes`` is the last axis of a
    float32/float64 array."""
    if x.ndim and len(axes) == 1 and axes[0] in (-1, x.ndim - 1) and x.dtype in _FAST_FLOATS:
        return (x @ xp.ones(x.shape[-1], dtype=x.dtype))[..., None]
    return x.sum(axis=axes, keepdims=True)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """The raw functions' ``axis`` (None, an int or a tuple, as NumPy takes it) as a tuple."""
    if axis is None:
        return tuple(range(ndim))
    return axis if isinstance(axis, tuple) else (axis,)


def _logsumexp(xp: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # Shift by the max so exp never overflows.
    axes = _axes(axis, x.ndim)
    m = max_last(xp, x, axes)
    finite = xp.isfinite(m)
    if finite.all():
        out = xp.log(sum_last(xp, xp.exp(x - m), axes)) + m
    else:
        # A slice whose max is infinite (all -inf) is shifted by 0 instead, so x - m stays
        # NaN-free and its result is log(0) = -inf (+inf and NaN propagate).
        m = xp.where(finite, m, 0)
        with np.errstate(divide="ignore"):
            out = xp.log(sum_last(xp, xp.exp(x - m), axes)) + m
    return out if keepdims else xp.squeeze(out, axis=axes)


def _d_logsumexp(xp: Any, g: Any, out: Any, x: Any, axes: Any, keepdims: bool) -> Any:
    # d lse / dx = exp(x - lse) = softmax(x). A slice of all -inf has lse = -inf; using 0 there
    # gives exp(-inf) = 0, a finite gradient (no x can gain mass) instead of exp(NaN).
    lse = _keep(out, x.shape, axes, keepdims)
    lse = xp.where(lse == -_INF, 0, lse)
    return _keep(g, x.shape, axes, keepdims) * xp.exp(x - lse)


_logsumexp_prim = define("logsumexp", (_d_logsumexp,),
                         "g * exp(x - out)  (= g * softmax(x); 0 for an all -inf slice)")
register_raw("logsumexp", _logsumexp)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``log(sum(exp(x)))`` over ``axis``, computed without overflow (shifted by the max).

    A slice of all ``-inf`` gives ``-inf``, and its gradient is 0 (finite).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.logsumexp(cr.tensor([1000.0, 1000.0])).item() - 1000.0 > 0.69
    True
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "logsumexp", shape)
    _check_nonempty(shape, axes, "logsumexp")
    return apply(_logsumexp_prim, _logsumexp, (x,), (axes, bool(keepdims)))


def _softmax(xp: Any, x: Any, axis: Any = -1) -> Any:
    axes = _axes(axis, x.ndim)
    e = xp.exp(x - max_last(xp, x, axes))
    e /= sum_last(xp, e, axes)
    return e


def _log_softmax(xp: Any, x: Any, axis: Any = -1) -> Any:
    axes = _axes(axis, x.ndim)
    z = x - max_last(xp, x, axes)
    z -= xp.log(sum_last(xp, xp.exp(z), axes))
    return z


def _d_softmax(xp: Any, g: Any, out: Any, x: Any, axes: Any) -> Any:
    if g.__class__ is Tensor:  # create_graph
        return out * (g - (g * out).sum(axis=axes, keepdims=True))
    return out * (g - sum_last(xp, g * out, axes))


def _d_log_softmax(xp: Any, g: Any, out: Any, x: Any, axes: Any) -> Any:
    if g.__class__ is Tensor:  # create_graph
        return g - xp.exp(out) * g.sum(axis=axes, keepdims=True)
    return g - xp.exp(out) * sum_last(xp, g, axes)


_softmax_prim = define("softmax", (_d_softmax,), "out * (g - sum(g * out))")
_log_softmax_prim = define("log_softmax", (_d_log_softmax,), "g - exp(out) * sum(g)")
register_raw("softmax", _softmax)
register_raw("log_softmax", _log_softmax)


def softmax(x: Any, axis: Any = -1) -> Any:
    """``exp(x) / sum(exp(x))`` over ``axis`` (the last by default), shifted by the max so
    logits of any magnitude give exact, finite probabilities.

    A slice of all ``-inf`` has no defined softmax and gives NaN, as in SciPy and PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.softmax(cr.tensor([[0.0, 0.0], [1e4, 0.0]])).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "softmax", shape)
    _check_nonempty(shape, axes, "softmax")
    return apply(_softmax_prim, _softmax, (x,), (axes,))


def log_softmax(x: Any, axis: Any = -1) -> Any:
    """``x - logsumexp(x)`` over ``axis`` (the last by default), computed as one fused, stable
    primitive (exact for logits of any magnitude). A slice of all ``-inf`` gives NaN.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.log_softmax(cr.tensor([1e4, 0.0])).tolist()
    [0.0, -10000.0]
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "log_softmax", shape)
    _check_nonempty(shape, axes, "log_softmax")
    return apply(_log_softmax_prim, _log_softmax, (x,), (axes,))


# -------------------------------------------------------------------- argmax, argmin
_argmax = nondiff("argmax", lambda xp, x, axis, keepdims: xp.argmax(
    x, axis=axis, keepdims=keepdims).astype(xp.int64, copy=False))
_argmin = nondiff("argmin", lambda xp, x, axis, keepdims: xp.argmin(
    x, axis=axis, keepdims=keepdims).astype(xp.int64, copy=False))


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the largest element along ``axis`` (of the flattened tensor when None), as an
    int64 tensor that never requires grad. Ties give the first index.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 5.0], [3.0, 2.0]]).argmax(axis=1).tolist()
    [1, 0]
    """
    shape, ndim = _shape_ndim(x)
    ax = _int_axis(axis, ndim, "argmax", shape)
    _check_nonempty(shape, tuple(range(ndim)) if ax is None else (ax,), "argmax")
    return _argmax(x, axis=ax, keepdims=bool(keepdims))


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Index of the smallest element along ``axis`` (of the flattened tensor when None), as an
    int64 tensor that never requires grad. Ties give the first index.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.argmin(cr.tensor([3.0, 1.0, 2.0])).item()
    1
    """
    shape, ndim = _shape_ndim(x)
    ax = _int_axis(axis, ndim, "argmin", shape)
    _check_nonempty(shape, tuple(range(ndim)) if ax is None else (ax,), "argmin")
    return _argmin(x, axis=ax, keepdims=bool(keepdims))


# -------------------------------------------------------------------------------- cumsum
def _reverse_cumsum_forward(xp: Any, v: Any, axis: int) -> Any:
    return xp.flip(xp.cumsum(xp.flip(v, axis), axis=axis), axis)


# cumsum's transpose, sum_{j >= i} v_j; a primitive of its own so that cumsum's gradient can be
# differentiated again (its transpose is cumsum).
_reverse_cumsum_prim = define("reverse_cumsum", (
    lambda xp, g, out, v, axis: xp.cumsum(g, axis=axis),),
    "cumsum of g along the axis")


def _reverse_cumsum(xp: Any, v: Any, axis: int) -> Any:
    if isinstance(v, Tensor):
        return apply(_reverse_cumsum_prim, _reverse_cumsum_forward, (v,), (axis,))
    return _reverse_cumsum_forward(xp, v, axis)


def _cumsum_forward(xp: Any, x: Any, axis: int | None) -> Any:
    return xp.cumsum(x, axis=axis)


def _d_cumsum(xp: Any, g: Any, out: Any, x: Any, axis: int | None) -> Any:
    if axis is None:  # the forward flattened x
        return _reverse_cumsum(xp, g, 0).reshape(x.shape)
    return _reverse_cumsum(xp, g, axis)


_cumsum = define("cumsum", (_d_cumsum,), "reversed cumsum of g: sum_{j >= i} g_j")


def cumsum(x: Any, axis: Any = None) -> Any:
    """Running sum along ``axis``; with ``axis=None`` the tensor is flattened first (NumPy).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cumsum(cr.tensor([1.0, 2.0, 3.0])).tolist()
    [1.0, 3.0, 6.0]
    """
    shape, ndim = _shape_ndim(x)
    return apply(_cumsum, _cumsum_forward, (x,), (_int_axis(axis, ndim, "cumsum", shape),))


# ---------------------------------------------------------------------------------- norm
def _norm_forward(xp: Any, x: Any, p: float, axes: tuple[int, ...], keepdims: bool) -> Any:
    if x.dtype.kind != "f":  # integers and bools are measured in float64, as numpy.linalg.norm
        x = x.astype(xp.float64)
    if p == 2:
        return xp.sqrt(xp.sum(x * x, axis=axes, keepdims=keepdims))
    a = xp.abs(x)
    if p == 1:
        return xp.sum(a, axis=axes, keepdims=keepdims)
    if p == _INF:
        return xp.max(a, axis=axes, keepdims=keepdims)
    if p == -_INF:
        return xp.min(a, axis=axes, keepdims=keepdims)
    return xp.sum(a**p, axis=axes, keepdims=keepdims) ** (1.0 / p)


def _d_norm(xp: Any, g: Any, out: Any, x: Any, p: float, axes: Any, keepdims: bool) -> Any:
    gk = _keep(g, x.shape, axes, keepdims)
    if p == 1:
        return gk * xp.sign(x)
    if p == _INF or p == -_INF:
        # The elements of largest (smallest) |x| share g, each with its sign; 0 at x == 0.
        mask = (xp.abs(x) == _keep(out, x.shape, axes, keepdims)).astype(x.dtype)
        return xp.sign(x) * mask * (gk / mask.sum(axis=axes, keepdims=True))
    # d ||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); at the zero vector the gradient is 0
    # (a subgradient) instead of 0/0.
    n = _keep(out, x.shape, axes, keepdims)
    pos = n > 0
    safe = xp.where(pos, n, 1)
    if p == 2:
        return xp.where(pos, gk / safe, 0) * x
    return xp.where(pos, gk / safe ** (p - 1), 0) * (xp.sign(x) * xp.abs(x) ** (p - 1))


_norm = define("norm", (_d_norm,),
               "g * x / out (ord 2);  g * sign(x) (ord 1);  g * sign(x) [|x| == out] / count "
               "(ord inf);  g * sign(x) |x|^(p-1) / out^(p-1);  0 at the zero vector")


def _norm_order(ord: Any, axes: tuple[int, ...], axis: Any, shape: tuple[int, ...]) -> float:
    """The exponent p of the vector (or Frobenius) norm ``ord`` asks for, or a clear error."""
    matrix = len(axes) == 2 if axis is not None else (len(shape) == 2 and ord is not None)
    if ord is None or (ord == "fro" and matrix):
        if axis is not None and len(axes) > 2:
            raise ValueError(
                f"norm: axis {axis!r} names {len(axes)} axes of a tensor of shape {shape}; "
                "expected one axis (vector norm) or two (matrix norm)"
            )
        return 2.0
    if matrix:
        raise ValueError(
            f"norm: matrix norm ord={ord!r} is not supported (tensor of shape {shape}, "
            f"axis {axis!r}); supported for matrices: None or 'fro'"
        )
    if len(axes) != 1 and not (axis is None and len(shape) <= 1):
        raise ValueError(
            f"norm: ord={ord!r} needs a vector: one axis, or axis=None with a 1-D tensor; got "
            f"axis {axis!r} for a tensor of shape {shape}"
        )
    if isinstance(ord, bool) or not isinstance(ord, (int, float, np.integer, np.floating)) or (
        not ord >= 1 and ord != -_INF
    ):
        raise ValueError(
            f"norm: unsupported vector norm ord={ord!r}; expected None, 1, 2, inf, -inf or a "
            "real number p >= 1"
        )
    return float(ord)


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector p-norm, or the Frobenius norm, as ``numpy.linalg.norm``.

    With ``ord=None`` the 2-norm of all the elements over ``axis`` (Frobenius norm of a matrix
    when ``axis`` is None). Vector orders (``axis`` an int, or a 1-D tensor): None/2, 1, ``inf``
    (largest ``|x|``), ``-inf`` (smallest ``|x|``) and any real ``p >= 1``. Matrix norms other
    than ``'fro'`` are not supported. The gradient at the zero vector is 0 (a subgradient), not
    NaN. Integer input is measured in float64; float32 stays float32.

    Examples
    --------
    >>> import chainrule as cr
    >>> v = cr.tensor([3.0, -4.0])
    >>> cr.norm(v).item(), cr.norm(v, 1).item(), cr.norm(v, float("inf")).item()
    (5.0, 7.0, 4.0)
    """
    if not hasattr(x, "dtype"):
        x = _as_array(x, None, "norm")
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "norm", shape)
    p = _norm_order(ord, axes, axis, shape)
    if p == _INF or p == -_INF:
        _check_nonempty(shape, axes, "norm")
    return apply(_norm, _norm_forward, (x,), (p, axes, bool(keepdims)))


TENSOR_METHODS = (
    "sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "softmax", "log_softmax",
    "argmax", "argmin", "cumsum", "norm",
)  # fmt: skip
