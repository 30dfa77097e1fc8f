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
    amax, amin vjp  as max, min
    nansum     vjp  g where x is not NaN, else 0         (nanmean: g / count of non-NaN)
    cumprod    vjp  sum_{j >= i} g_j prod_{k <= j, k != i} x_k   (exact with zeros)
    logcumsumexp vjp sum_{j >= i} g_j exp(x_i - out_j)
    median     vjp  g at the median's index (with an axis), or shared by ties (without)
    quantile   vjp  g times the interpolation weights of the two neighbours in sorted order

The new reductions (issue 9) also take PyTorch's ``dim=`` and ``keepdim=``; ``all``, ``any``,
``count_nonzero``, ``allclose`` have no gradient.

The functions NumPy lacks (``logsumexp``, ``softmax``, ``log_softmax``) are registered in the
array namespaces, so rules can call ``xp.softmax`` on raw arrays as well as on Tensors.
"""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import numpy as np

from ..backend import register_raw
from ..tensor import Tensor, _as_array, _leaf
from .define import apply, define, nondiff, raw, xp_of

__all__ = [
    "sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "softmax", "log_softmax",
    "argmax", "argmin", "cumsum", "norm",
    "all", "any", "count_nonzero", "allclose", "amax", "amin", "aminmax", "var_mean", "std_mean",
    "nansum", "nanmean", "cumprod", "logcumsumexp", "median", "quantile",
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


def sum(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:  # noqa: A001
    """Sum over ``axis`` (all axes when None), accumulated and returned in ``dtype`` if given
    (the gradient comes back in ``x``'s dtype; an integer ``dtype`` gives no gradient).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.sum(cr.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).tolist()
    [4.0, 6.0]
    >>> cr.sum(cr.tensor([0.5, 0.25]), dtype="float64").dtype
    dtype('float64')
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "sum", shape)
    if dtype is not None:
        return _in_dtype(_sum, "sum", x, axes, bool(keepdims), dtype)
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


def _correction(ddof: Any, correction: Any, unbiased: Any, op: str) -> Any:
    """NumPy's ``ddof`` from PyTorch's ``correction`` or ``unbiased``, whichever was given."""
    if correction is None and unbiased is None:
        return ddof
    if correction is not None and unbiased is not None or ddof != 0:
        raise TypeError(
            f"{op}: give one of ddof={ddof!r}, correction={correction!r}, unbiased={unbiased!r}"
        )
    return correction if correction is not None else int(bool(unbiased))


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


def var(
    x: Any,
    axis: Any = None,
    ddof: Any = 0,
    keepdims: bool = False,
    *,
    correction: Any = None,
    unbiased: bool | None = None,
) -> Any:
    """Variance over ``axis``: ``sum((x - mean)**2) / (n - ddof)``, as ``numpy.var``.

    PyTorch's spellings of ``ddof`` are accepted too: ``correction=1`` or ``unbiased=True``
    (ddof 1), ``unbiased=False`` (ddof 0). The default stays NumPy's ``ddof=0``. Unlike NumPy
    (which returns NaN with a warning), ``ddof >= n`` raises ValueError.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.var(cr.tensor([1.0, 2.0, 3.0, 4.0])).item()
    1.25
    """
    ddof = _correction(ddof, correction, unbiased, "var")
    axes, ddof = _ddof_check(x, axis, ddof, "var")
    return apply(_var, _var_forward, (x,), (axes, ddof, bool(keepdims)))


def std(
    x: Any,
    axis: Any = None,
    ddof: Any = 0,
    keepdims: bool = False,
    *,
    correction: Any = None,
    unbiased: bool | None = None,
) -> Any:
    """Standard deviation over ``axis``, ``sqrt(var(x, axis, ddof))``, as ``numpy.std``
    (``correction=``/``unbiased=`` as in :func:`var`).

    The gradient where the standard deviation is 0 (all elements of a slice equal) is taken to be
    0, a subgradient, rather than the 0/0 of the formula. ``ddof >= n`` raises ValueError.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.std(cr.tensor([1.0, 3.0])).item()
    1.0
    """
    ddof = _correction(ddof, correction, unbiased, "std")
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


def prod(x: Any, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Any:
    """Product of the elements over ``axis``, computed in ``dtype`` if given (as :func:`sum`).

    The gradient ``prod_{j != i} x_j`` is exact when the input holds zeros (not ``out / x``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.prod(cr.tensor([2.0, 3.0, 4.0])).item()
    24.0
    >>> cr.prod(cr.tensor([2, 3]), dtype="float32").tolist()
    6.0
    """
    shape, ndim = _shape_ndim(x)
    axes = normalize_axis(axis, ndim, "prod", shape)
    if dtype is not None:
        return _in_dtype(_prod, "prod", x, axes, bool(keepdims), dtype)
    return apply(_prod, _prod_forward, (x,), (axes, bool(keepdims)))


def _in_dtype(prim: Any, op: str, x: Any, axes: tuple[int, ...], keepdims: bool, dtype: Any) -> Any:
    """``sum``/``prod`` with NumPy's ``dtype=``: the same primitive and rule (the walk casts the
    gradient back to ``x``'s dtype); an integer result never requires grad."""
    from ..tensor import _resolve_dtype

    dt = _resolve_dtype(dtype, op)
    out = apply(prim, lambda xp, x, axes, keepdims: getattr(xp, op)(
        x, axis=axes, keepdims=keepdims, dtype=dt), (x,), (axes, keepdims))
    return out.detach() if out._rg and dt.kind != "f" else out


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


# ------------------------------------------------- PyTorch's spellings: dim=, keepdim=
def _dim(axis: Any, dim: Any, op: str) -> Any:
    """``axis`` or PyTorch's ``dim`` (one of them)."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; pass one of them")
    return dim


def _keepdim(keepdims: Any, keepdim: Any) -> bool:
    return bool(keepdims if keepdim is None else keepdim)


def _reduced_axes(x: Any, axis: Any, dim: Any, op: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    shape, ndim = _shape_ndim(x)
    return shape, normalize_axis(_dim(axis, dim, op), ndim, op, shape)


class ValuesIndices(NamedTuple):
    """``(values, indices)``, as PyTorch's ``torch.return_types``."""

    values: Any
    indices: Any


class MinMax(NamedTuple):
    """``(min, max)``, as ``torch.aminmax`` returns them."""

    min: Any
    max: Any


# ------------------------------------------------------------ predicates and counts
_all = nondiff("all", lambda xp, x, axes, keepdims: xp.all(x, axis=axes, keepdims=keepdims))
_any = nondiff("any", lambda xp, x, axes, keepdims: xp.any(x, axis=axes, keepdims=keepdims))
_count_nonzero = nondiff("count_nonzero", lambda xp, x, axes, keepdims: xp.asarray(
    xp.count_nonzero(x, axis=axes, keepdims=keepdims), dtype=xp.int64))


def all(  # noqa: A001 - NumPy's and PyTorch's name
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Whether every element over ``axis`` (``dim``) is true (nonzero), as a bool tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.all(cr.tensor([[1.0, 0.0], [2.0, 3.0]]), dim=1).tolist()
    [False, True]
    """
    _, axes = _reduced_axes(x, axis, dim, "all")
    return _all(x, axes, _keepdim(keepdims, keepdim))


def any(  # noqa: A001 - NumPy's and PyTorch's name
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Whether some element over ``axis`` (``dim``) is true (nonzero), as a bool tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.any(cr.tensor([[1.0, 0.0], [0.0, 0.0]]), axis=1).tolist()
    [True, False]
    """
    _, axes = _reduced_axes(x, axis, dim, "any")
    return _any(x, axes, _keepdim(keepdims, keepdim))


def count_nonzero(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Number of nonzero elements over ``axis`` (``dim``), as an int64 tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.count_nonzero(cr.tensor([[1.0, 0.0], [2.0, 3.0]]), dim=0).tolist()
    [2, 1]
    """
    _, axes = _reduced_axes(x, axis, dim, "count_nonzero")
    return _count_nonzero(x, axes, _keepdim(keepdims, keepdim))


def allclose(
    x: Any, y: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    """Whether ``|x - y| <= atol + rtol * |y|`` everywhere (broadcast), as a Python bool.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.allclose(cr.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    True
    """
    xd, yd = raw(x), raw(y)
    return bool(xp_of(xd, yd).allclose(xd, yd, rtol=rtol, atol=atol, equal_nan=equal_nan))


# ------------------------------------------------------------------ amax, amin, aminmax
_amax = define("amax", (_d_extreme,), "g * [x == amax] / count(x == amax)")
_amin = define("amin", (_d_extreme,), "g * [x == amin] / count(x == amin)")


def amax(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Largest element over ``axis`` (``dim``: an int, a tuple or None), values only, as
    ``torch.amax``. Ties share the gradient evenly.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.amax(cr.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=1).tolist()
    [5.0, 3.0]
    """
    shape, axes = _reduced_axes(x, axis, dim, "amax")
    _check_nonempty(shape, axes, "amax")
    return apply(_amax, _max_forward, (x,), (axes, _keepdim(keepdims, keepdim)))


def amin(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Smallest element over ``axis`` (``dim``), values only, as ``torch.amin``. Ties share
    the gradient evenly.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.amin(cr.tensor([[1.0, 5.0], [3.0, 2.0]]), dim=0).tolist()
    [1.0, 2.0]
    """
    shape, axes = _reduced_axes(x, axis, dim, "amin")
    _check_nonempty(shape, axes, "amin")
    return apply(_amin, _min_forward, (x,), (axes, _keepdim(keepdims, keepdim)))


def aminmax(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> MinMax:
    """``(min, max)`` over ``axis`` (``dim``), as ``torch.aminmax``; both differentiable.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.aminmax(cr.tensor([3.0, -1.0, 2.0])).max.item()
    3.0
    """
    d = _dim(axis, dim, "aminmax")
    k = _keepdim(keepdims, keepdim)
    return MinMax(amin(x, d, k), amax(x, d, k))


# ------------------------------------------------------------------ var_mean, std_mean
def _torch_ddof(correction: Any, unbiased: Any, ddof: Any, op: str) -> Any:
    given = [v for v in (correction, unbiased, ddof) if v is not None]
    if len(given) > 1:
        raise TypeError(
            f"{op}: give one of correction={correction!r}, unbiased={unbiased!r}, ddof={ddof!r}"
        )
    if unbiased is not None:
        return int(bool(unbiased))
    return given[0] if given else 1  # PyTorch's default: Bessel's correction


def var_mean(
    x: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
    axis: Any = None,
    keepdims: Any = None,
    ddof: Any = None,
) -> tuple[Any, Any]:
    """``(var, mean)`` over ``dim`` (``axis``), as ``torch.var_mean``: the default is PyTorch's
    ``correction=1`` (divide by n - 1); ``unbiased=False`` or ``correction=0`` divides by n.

    Examples
    --------
    >>> import chainrule as cr
    >>> v, m = cr.var_mean(cr.tensor([1.0, 2.0, 3.0, 4.0]))
    >>> round(v.item(), 4), m.item()
    (1.6667, 2.5)
    """
    d = _dim(axis, dim, "var_mean")
    k = _keepdim(keepdim, keepdims)
    ddof_ = _torch_ddof(correction, unbiased, ddof, "var_mean")
    return var(x, d, ddof_, k), mean(x, d, k)


def std_mean(
    x: Any,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
    axis: Any = None,
    keepdims: Any = None,
    ddof: Any = None,
) -> tuple[Any, Any]:
    """``(std, mean)`` over ``dim`` (``axis``), as ``torch.std_mean`` (correction as in
    :func:`var_mean`, default 1).

    Examples
    --------
    >>> import chainrule as cr
    >>> s, m = cr.std_mean(cr.tensor([1.0, 3.0]), correction=0)
    >>> s.item(), m.item()
    (1.0, 2.0)
    """
    d = _dim(axis, dim, "std_mean")
    k = _keepdim(keepdim, keepdims)
    ddof_ = _torch_ddof(correction, unbiased, ddof, "std_mean")
    return std(x, d, ddof_, k), mean(x, d, k)


# --------------------------------------------------------------------- nansum, nanmean
def _d_nansum(xp: Any, g: Any, out: Any, x: Any, axes: Any, keepdims: bool) -> Any:
    return xp.where(xp.isnan(x), 0, expand_to(xp, g, x.shape, axes, keepdims))


def _d_nanmean(xp: Any, g: Any, out: Any, x: Any, axes: Any, keepdims: bool) -> Any:
    # Each non-NaN element counts 1/n of its slice, n = the number of non-NaN elements.
    nan = xp.isnan(x)
    n = (~raw(nan)).sum(axis=axes, keepdims=True)
    n = n + (n == 0)  # an all-NaN slice: no element gets a share (and no 0/0)
    return xp.where(nan, 0, _keep(g, x.shape, axes, keepdims) / n)


_nansum = define("nansum", (_d_nansum,), "g at the non-NaN elements, 0 at the NaNs")
_nanmean = define("nanmean", (_d_nanmean,),
                  "g / count(not NaN) at the non-NaN elements, 0 at the NaNs")  # fmt: skip


def nansum(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Sum over ``axis`` (``dim``) treating NaN as 0; NaN elements get a zero gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nansum(cr.tensor([1.0, float("nan"), 2.0])).item()
    3.0
    """
    _, axes = _reduced_axes(x, axis, dim, "nansum")
    return apply(_nansum, lambda xp, x, axes, keepdims: xp.nansum(x, axis=axes, keepdims=keepdims),
                 (x,), (axes, _keepdim(keepdims, keepdim)))  # fmt: skip


def nanmean(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """Mean of the non-NaN elements over ``axis`` (``dim``); NaN for an all-NaN slice (as
    NumPy, with its warning). NaN elements get a zero gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nanmean(cr.tensor([1.0, float("nan"), 2.0])).item()
    1.5
    """
    _, axes = _reduced_axes(x, axis, dim, "nanmean")
    return apply(_nanmean,
                 lambda xp, x, axes, keepdims: xp.nanmean(x, axis=axes, keepdims=keepdims),
                 (x,), (axes, _keepdim(keepdims, keepdim)))  # fmt: skip


# --------------------------------------------------------------- cumprod, logcumsumexp
def _cumprod_forward(xp: Any, x: Any, axis: int | None) -> Any:
    return xp.cumprod(x, axis=axis)


def _along_axis(xp: Any, n: int, axis: int, ndim: int) -> Any:
    """0, 1, ..., n-1 laid along ``axis`` of an ``ndim``-array, to broadcast against it."""
    return xp.arange(n).reshape(tuple(n if i == axis else 1 for i in range(ndim)))


def _d_cumprod(xp: Any, g: Any, out: Any, x: Any, axis: int | None) -> Any:
    if axis is None:  # the forward flattened x
        return _d_cumprod(xp, g, out, x.reshape(-1), 0).reshape(x.shape)
    xr = raw(x)
    if not (xr == 0).any():
        # d out_j / d x_i = out_j / x_i for j >= i: the reversed cumsum of g * out, over x.
        return _reverse_cumsum(xp, g * out, axis) / x
    n = xr.shape[axis]
    if g.__class__ is Tensor:  # create_graph
        return _d_cumprod_quadratic(xp, g, x, axis, n)
    rxp = xp_of(xr)
    i = _along_axis(rxp, n, axis, xr.ndim)
    zero = xr == 0
    first = rxp.where(zero.any(axis=axis, keepdims=True), zero.argmax(axis=axis, keepdims=True), n)
    # Without division by zero: before the first zero z of a slice, out_j / x_i is safe (x_i is
    # not 0); at z, d out_j / d x_z = prod_{k <= j, k != z} x_k (a cumprod with x_z set to 1);
    # after z every product holds x_z = 0.
    before = i < first
    at = i == first
    c = rxp.cumprod(rxp.where(at, 1, xr), axis=axis)
    d_before = _reverse_cumsum(xp, g * out, axis) / rxp.where(before, xr, 1)
    d_at = (rxp.where(i >= first, g * c, 0)).sum(axis=axis, keepdims=True)
    return rxp.where(before, d_before, rxp.where(at, d_at, 0))


def _d_cumprod_quadratic(xp: Any, g: Any, x: Any, axis: int, n: int) -> Any:
    """The cumprod gradient as a differentiable expression without division (for second
    derivatives when x holds zeros): d_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k, from an
    (n, n) table per slice, row i being the cumprod of x with x_i replaced by 1."""
    xm = xp.swapaxes(x, axis, -1)  # (..., n)
    gm = xp.swapaxes(g, axis, -1)
    eye = np.eye(n, dtype=bool)
    rows = xp.where(eye, 1, xp.expand_dims(xm, -2))  # (..., n rows i, n columns k)
    table = xp.cumprod(rows, axis=-1)  # prod_{k <= j, k != i} x_k at (i, j)
    upper = np.triu(np.ones((n, n), dtype=bool))  # j >= i
    d = xp.where(upper, table * xp.expand_dims(gm, -2), 0).sum(axis=-1)
    return xp.swapaxes(d, axis, -1)


_cumprod = define("cumprod", (_d_cumprod,),
                  "sum_{j >= i} g_j prod_{k <= j, k != i} x_k  (reversed cumsum of g * out / x "
                  "without zeros)")  # fmt: skip


def cumprod(x: Any, axis: Any = None, *, dim: Any = None) -> Any:
    """Running product along ``axis`` (``dim``); with ``axis=None`` the tensor is flattened
    first (NumPy). The gradient is exact where ``x`` holds zeros (no division by x there).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cumprod(cr.tensor([1.0, 2.0, 3.0, 0.0, 5.0])).tolist()
    [1.0, 2.0, 6.0, 0.0, 0.0]
    """
    shape, ndim = _shape_ndim(x)
    ax = _int_axis(_dim(axis, dim, "cumprod"), ndim, "cumprod", shape)
    return apply(_cumprod, _cumprod_forward, (x,), (ax,))


def _logcumsumexp(xp: Any, x: Any, axis: int | None) -> Any:
    # logaddexp accumulated left to right: each step is exact for any magnitudes.
    if axis is None:
        x, axis = x.reshape(-1), 0
    if x.dtype.kind != "f":
        x = x.astype(xp.float64)
    return xp.logaddexp.accumulate(x, axis=axis)


def _d_logcumsumexp(xp: Any, g: Any, out: Any, x: Any, axis: int | None) -> Any:
    # d out_j / d x_i = exp(x_i - out_j) for j >= i. Summed against g without overflow as in
    # PyTorch: positive and negative parts of g in log space, each a reversed logcumsumexp.
    if axis is None:
        return _d_logcumsumexp(xp, g, out, x.reshape(-1), 0).reshape(x.shape)
    lowest = float(np.finfo(raw(out).dtype).min)  # not -inf: keeps -inf - -inf out
    # A prefix of -inf has out = -inf: shifted by 0 instead, its elements' exp(x_i - out_j)
    # terms are exp(-inf) = 0 (as logsumexp's gradient for an all -inf slice), not NaN.
    out = xp.where(out == -_INF, 0, out)

    def part(mask: Any, magnitude: Any) -> Any:
        log_g = xp.where(mask, xp.log(xp.where(mask, magnitude, 1)), lowest)
        r = xp.flip(xp.logcumsumexp(xp.flip(log_g - out, axis), axis), axis)
        with np.errstate(over="ignore"):  # lowest + a negative x: -inf, whose exp is the 0 meant
            return xp.exp(r + x)

    return part(g > 0, g) - part(g < 0, -g)


_logcumsumexp_prim = define(
    "logcumsumexp",
    (_d_logcumsumexp,),
    "sum_{j >= i} g_j exp(x_i - out_j)  (in log space, by the sign of g)",
)
register_raw("logcumsumexp", lambda xp, x, axis=None: _logcumsumexp(xp, x, axis))


def logcumsumexp(x: Any, axis: Any = None, *, dim: Any = None) -> Any:
    """``log(cumsum(exp(x)))`` along ``axis`` (``dim``; flattened when None), without overflow.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.logcumsumexp(cr.tensor([1000.0, 1000.0]), dim=0).tolist()[1] > 1000.69
    True
    """
    shape, ndim = _shape_ndim(x)
    ax = _int_axis(_dim(axis, dim, "logcumsumexp"), ndim, "logcumsumexp", shape)
    return apply(_logcumsumexp_prim, _logcumsumexp, (x,), (ax,))


# --------------------------------------------------------------------- median, quantile
def _onehot(xp: Any, index: Any, n: int, axis: int, ndim: int) -> Any:
    """Booleans that are true at ``index`` (kept-dims, along ``axis``) of an ``ndim``-array."""
    return _along_axis(xp, n, axis, ndim) == index


def _median_forward(xp: Any, x: Any, axis: Any, keepdims: bool, index: Any) -> Any:
    if axis is None:
        return x.reshape(-1)[index]
    out = xp.take_along_axis(x, index, axis=axis)
    return out if keepdims else xp.squeeze(out, axis=axis)


def _d_median(xp: Any, g: Any, out: Any, x: Any, axis: Any, keepdims: bool, index: Any) -> Any:
    if axis is None:
        # PyTorch's median() of all elements: every element equal to it shares g evenly.
        xr, o = raw(x), raw(out)
        mask = (xr == o) | (xp_of(xr).isnan(xr) & xp_of(xr).isnan(o))
        return g * (mask / mask.sum())
    mask = _onehot(xp_of(raw(x)), index, x.shape[axis], axis, x.ndim)
    return _keep(g, x.shape, (axis,), keepdims) * mask


_median = define(
    "median",
    (_d_median,),
    "g at the median's index (with dim); shared by the elements equal to it (without)",
)


def _lower_median_index(xp: Any, x: Any, axis: int) -> Any:
    """Index of the lower median along ``axis`` (kept dims): the stable sort's middle element,
    or the first NaN of a slice that holds one (its median is NaN, as in PyTorch)."""
    n = x.shape[axis]
    order = xp.argsort(x, axis=axis, kind="stable")
    index = xp.take(order, xp.asarray([(n - 1) // 2]), axis=axis)
    if x.dtype.kind == "f":
        nan = xp.isnan(x)
        if nan.any():
            has = nan.any(axis=axis, keepdims=True)
            index = xp.where(has, nan.argmax(axis=axis, keepdims=True), index)
    return index


def median(
    x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Any:
    """The lower median, as ``torch.median`` (of an even count, the smaller middle value; NumPy
    would average the two).

    Without ``axis`` (``dim``): the median of all elements, whose gradient is shared evenly by
    the elements equal to it. With ``axis``: ``(values, indices)``, the gradient going to the
    index (ties: the index of the stable sort's middle element). A slice with a NaN has median
    NaN.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.median(cr.tensor([4.0, 1.0, 3.0, 2.0])).item()
    2.0
    >>> v, i = cr.median(cr.tensor([[4.0, 1.0, 3.0], [0.0, 5.0, 6.0]]), dim=1)
    >>> v.tolist(), i.tolist()
    ([3.0, 5.0], [2, 1])
    """
    shape, ndim = _shape_ndim(x)
    d = _dim(axis, dim, "median")
    if not hasattr(x, "dtype"):
        x = _as_array(x, None, "median")
    xr = raw(x)
    if d is None:
        _check_nonempty((xr.size,), (0,), "median")
        index = int(_lower_median_index(xp_of(xr), xr.reshape(-1), 0)[0])
        out = apply(_median, _median_forward, (x,), (None, False, index))
        return out.reshape((1,) * ndim) if _keepdim(keepdims, keepdim) else out
    ax = _int_axis(d, ndim, "median", shape)
    _check_nonempty(shape, (ax,), "median")
    k = _keepdim(keepdims, keepdim)
    index = _lower_median_index(xp_of(xr), xr, ax)
    values = apply(_median, _median_forward, (x,), (ax, k, index))
    indices = index.astype(np.int64, copy=False)
    return ValuesIndices(values, _leaf(indices if k else indices.squeeze(axis=ax)))


_QUANTILE_METHODS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_weights(xp: Any, x: Any, q: Any, axis: int, method: str) -> Any:
    """``W[k]``: how much each element of ``x`` weighs in the ``q[k]`` quantile along ``axis``
    (the forward is ``sum(W[k] * x)`` over the axis), from a stable sort's positions."""
    n = x.shape[axis]
    order = xp.argsort(x, axis=axis, kind="stable")
    weights = []
    for qk in q:
        # NumPy's own choice of (virtual) position for this method: the quantile of 0..n-1.
        pos = float(np.quantile(np.arange(n, dtype=np.float64), qk, method=method))
        lo = int(math.floor(pos))
        hi = lo + 1 if lo + 1 < n else lo
        t = pos - lo
        w = (1.0 - t) * _onehot(xp, xp.take(order, [lo], axis=axis), n, axis, x.ndim)
        if t:
            w = w + t * _onehot(xp, xp.take(order, [hi], axis=axis), n, axis, x.ndim)
        weights.append(w)
    return xp.stack(weights)


def _quantile_forward(
    xp: Any, x: Any, q: Any, axis: Any, keepdims: bool, method: str, scalar: bool, w: Any
) -> Any:
    out = xp.quantile(x, q[0] if scalar else q, axis=axis, keepdims=keepdims, method=method)
    return out.astype(x.dtype) if x.dtype.kind == "f" and out.dtype != x.dtype else out


def _d_quantile(
    xp: Any, g: Any, out: Any, x: Any, q: Any, axis: Any, keepdims: bool, method: str,
    scalar: bool, w: Any,
) -> Any:  # fmt: skip
    # The quantile is sum(W * x) along the axis with W fixed by the sort: dx = g * W.
    axes = tuple(range(x.ndim)) if axis is None else (axis,)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    if scalar:
        return g.reshape(kept) * w[0]
    return (g.reshape((len(q),) + kept) * w).sum(axis=0)


_quantile = define("quantile", (_d_quantile,),
                   "g * w_lo at the lower and g * w_hi at the upper neighbour in sorted order "
                   "(linear: w_hi = q (n - 1) - lo)")  # fmt: skip


def quantile(
    x: Any,
    q: Any,
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: Any = None,
    interpolation: str = "linear",
) -> Any:
    """The ``q``-th quantiles (``0 <= q <= 1``) along ``axis`` (``dim``; the flattened tensor
    when None), as ``torch.quantile`` and ``numpy.quantile``.

    ``interpolation`` is ``"linear"`` (the default), ``"lower"``, ``"higher"``, ``"midpoint"``
    or ``"nearest"``. For a 1-D ``q`` the result has a leading axis of quantiles. The gradient
    goes to the (at most two) elements the value interpolates between.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.quantile(cr.tensor([1.0, 2.0, 3.0, 4.0]), 0.5).item()
    2.5
    >>> cr.quantile(cr.tensor([[0.0, 10.0], [1.0, 3.0]]), [0.25, 1.0], dim=1).tolist()
    [[2.5, 1.5], [10.0, 3.0]]
    """
    if interpolation not in _QUANTILE_METHODS:
        raise ValueError(
            f"quantile: interpolation must be one of {', '.join(_QUANTILE_METHODS)}, got "
            f"{interpolation!r}"
        )
    if not hasattr(x, "dtype"):
        x = _as_array(x, None, "quantile")
    shape, ndim = _shape_ndim(x)
    if isinstance(q, Tensor) and q.requires_grad:
        raise TypeError(
            f"quantile: q (shape {tuple(q.shape)}) requires grad, but quantile is not "
            "differentiable in q (as in PyTorch); pass q.detach()"
        )
    # (not raw(): a list of Python floats would pass through the default float32)
    qs = np.asarray(q._data if isinstance(q, Tensor) else q, dtype=np.float64)
    if qs.ndim > 1 or not ((qs >= 0) & (qs <= 1)).all():
        raise ValueError(
            f"quantile: q must be a number or a 1-D sequence of numbers in [0, 1], got {q!r}"
        )
    scalar = qs.ndim == 0
    qs = qs.reshape(-1)
    d = _dim(axis, dim, "quantile")
    ax = _int_axis(d, ndim, "quantile", shape)
    _check_nonempty(shape, tuple(range(ndim)) if ax is None else (ax,), "quantile")
    xr = raw(x)
    rxp = xp_of(xr)
    if ax is None:
        w = _quantile_weights(rxp, xr.reshape(-1), qs, 0, interpolation).reshape((-1, *shape))
    else:
        w = _quantile_weights(rxp, xr, qs, ax, interpolation)
    k = _keepdim(keepdims, keepdim)
    return apply(_quantile, _quantile_forward, (x,), (qs, ax, k, interpolation, scalar, w))


TENSOR_METHODS = (
    "sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "softmax", "log_softmax",
    "argmax", "argmin", "cumsum", "norm",
    "all", "any", "count_nonzero", "allclose", "amax", "amin", "aminmax", "nansum", "nanmean",
    "cumprod", "logcumsumexp", "median", "quantile",
)  # fmt: skip
