"""Reductions: sum, mean, var, std, max, min, prod, logsumexp, softmax, log_softmax, argmax,
argmin, cumsum, norm. Each takes ``axis`` (None, an int or a tuple) and ``keepdims``.

A reduction's gradient is the incoming gradient put back on the reduced axes and broadcast to
the input's shape (:func:`expand_to`), times the local derivative.
"""

from __future__ import annotations

from typing import Any

from .define import apply, define

__all__ = ["sum", "mean", "normalize_axis", "expand_to"]


def normalize_axis(axis: Any, ndim: int, op: str, shape: tuple[int, ...] = ()) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative ints; a clear error when out of range.

    Examples
    --------
    >>> normalize_axis(-1, 3, "sum")
    (2,)
    >>> normalize_axis(None, 2, "sum")
    (0, 1)
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        try:
            ai = int(a)
        except (TypeError, ValueError):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= ai < ndim:
            raise ValueError(
                f"{op}: axis {ai} is out of bounds for a tensor of shape {tuple(shape)} "
                f"(ndim {ndim}); expected -{ndim} <= axis < {ndim}"
            )
        out.append(ai % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def expand_to(xp: Any, g: Any, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Undo a reduction's shape change: put back the reduced ``axes`` of ``g`` (if they were
    dropped) and broadcast to ``shape``."""
    if not keepdims and axes:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return xp.broadcast_to(g, shape)


def _shape_ndim(x: Any) -> tuple[tuple[int, ...], int]:
    shape = x.shape if hasattr(x, "shape") else ()
    return tuple(shape), len(shape)


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
    return apply(_sum, lambda xp, x, axes, kd: xp.sum(x, axis=axes, keepdims=kd), (x,),
                 (axes, bool(keepdims)))


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
    n = 1
    for a in axes:
        n *= shape[a]
    return apply(_mean, lambda xp, x, axes, kd, n: xp.mean(x, axis=axes, keepdims=kd), (x,),
                 (axes, bool(keepdims), n))

TENSOR_METHODS = ("sum", "mean")
