"""Sorting primitives: sort, topk, kthvalue, cummax, cummin (values and indices), and argsort,
unique, searchsorted (integer or value results with no gradient).

A sort does not change values, it moves them: the values are ``x`` read at the indices the sort
found, so each differentiable function here is a gathering primitive (``indexing.picking``)
whose rule puts ``g`` back where each value came from::

    sort, topk, kthvalue, cummax, cummin   forward  x[idx]   vjp  scatter_add(g, idx, x.shape)

``idx`` is computed on raw arrays, never differentiated (it is piecewise constant in ``x``).
In ``cummax``/``cummin`` one element can be the running extreme of many positions, so its
gradient is the sum of theirs: the gradient is routed to the arg positions, as in PyTorch.

Names and arguments follow PyTorch (``dim``, ``descending``, ``largest``, ``keepdim``), and
``axis=``/``keepdims=`` are accepted beside them; results with values and indices are
:class:`ValuesIndices` named tuples (``out.values``, ``out.indices``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import _leaf
from .define import raw, xp_of
from .indexing import _along_index, dim_arg, pick, picking
from .reduce import ValuesIndices, normalize_axis  # one result type, median's too
from .shape import _operand, reshape

__all__ = [
    "sort", "argsort", "topk", "kthvalue", "unique", "searchsorted", "cummax", "cummin",
    "ValuesIndices",
]  # fmt: skip


# ------------------------------------------------------------------------------ helpers
def _one_axis(dim: Any, axis: Any, op: str, shape: tuple[int, ...], default: Any = -1) -> int:
    d = dim_arg(dim, axis, op, default=default, required=default is None)
    return normalize_axis(d, max(len(shape), 1), op, shape)[0]


def _keep(keepdim: Any, keepdims: Any, op: str) -> bool:
    if keepdim is not None and keepdims is not None and bool(keepdim) != bool(keepdims):
        raise TypeError(f"{op}: got keepdim={keepdim!r} and keepdims={keepdims!r}; pass one")
    return bool(keepdim if keepdim is not None else keepdims)


def _argsort_raw(xp: Any, x: Any, axis: int, descending: bool, stable: bool) -> Any:
    """Indices that sort ``x`` along ``axis``; NaN counts as the largest value (PyTorch).

    Descending order is the ascending stable sort of the reversed array, reversed: equal
    elements keep their order, and NaN comes first."""
    if not descending:
        return xp.argsort(x, axis=axis, kind="stable" if stable else None)
    n = x.shape[axis]
    rev = xp.argsort(xp.flip(x, axis), axis=axis, kind="stable")
    return (n - 1) - xp.flip(rev, axis)


def _as_1d(x: Any) -> tuple[Any, bool]:
    """A 0-d tensor is sorted, scanned... as shape (1,) and given back as 0-d."""
    if len(getattr(x, "shape", ())) == 0:
        return reshape(x, (1,)), True
    return x, False


def _finish(values: Any, idx: Any, scalar: bool) -> ValuesIndices:
    idx = idx.astype(np.int64, copy=False)
    if scalar:
        return ValuesIndices(reshape(values, ()), _leaf(idx.reshape(())))
    return ValuesIndices(values, _leaf(idx))


# --------------------------------------------------------------------------------- sort
_sort = picking("sort", "dx = zeros(x.shape) with g put back at the sorted-from positions")


def sort(
    input: Any,
    dim: Any = None,
    descending: bool = False,
    stable: bool = False,
    *,
    axis: Any = None,
) -> ValuesIndices:
    """Sort along ``dim`` (default the last), as ``torch.sort``: ``(values, indices)`` with
    ``values == take_along_axis(input, indices, dim)``. NaN sorts as the largest value.
    ``stable=True`` keeps equal elements in their order (descending sorts are always stable).
    The gradient puts ``g`` back where each value came from. ``axis=`` may stand for ``dim``.
    Unlike ``numpy.sort`` (values only) the result is the pair; ``cr.sort(x).values`` is
    NumPy's.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    >>> values, indices = x.sort(descending=True)
    >>> values.tolist(), indices.tolist()
    ([[3.0, 2.0, 1.0]], [[0, 2, 1]])
    """
    x, scalar = _as_1d(_operand(input, "sort"))
    xd = raw(x)
    ax = _one_axis(dim, axis, "sort", tuple(xd.shape))
    xp = xp_of(xd)
    idx = _argsort_raw(xp, xd, ax, bool(descending), bool(stable))
    values = pick(_sort, x, _along_index(xp, idx, ax, tuple(xd.shape)))
    return _finish(values, idx, scalar)


def argsort(
    input: Any,
    dim: Any = None,
    descending: bool = False,
    stable: bool = False,
    *,
    axis: Any = None,
    kind: str | None = None,
) -> Any:
    """The int64 indices that sort ``input`` along ``dim`` (default the last), as
    ``torch.argsort`` and ``numpy.argsort`` (``axis=``, and ``kind="stable"`` for
    ``stable=True``). Never requires grad.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.argsort(cr.tensor([3.0, 1.0, 2.0])).tolist()
    [1, 2, 0]
    """
    xd = raw(_operand(input, "argsort"))
    if xd.ndim == 0:
        return _leaf(np.zeros((), np.int64))
    ax = _one_axis(dim, axis, "argsort", tuple(xd.shape))
    stable = bool(stable) or kind == "stable"
    idx = _argsort_raw(xp_of(xd), xd, ax, bool(descending), stable)
    return _leaf(idx.astype(np.int64, copy=False))


# --------------------------------------------------------------------- topk, kthvalue
_topk = picking("topk", "dx = zeros(x.shape) with g put back at the k chosen positions")
_kthvalue = picking("kthvalue", "dx = zeros(x.shape) with g at the k-th value's position")


def _check_k(k: Any, n: int, op: str, shape: tuple[int, ...], low: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{op}: k must be an int, got {k!r}")
    if not low <= k <= n:
        raise ValueError(
            f"{op}: k={k} is out of range for a dimension of length {n} (tensor of shape "
            f"{shape}); expected {low} <= k <= {n}"
        )
    return int(k)


def topk(
    input: Any,
    k: int,
    dim: Any = None,
    largest: bool = True,
    sorted: bool = True,
    *,
    axis: Any = None,
) -> ValuesIndices:
    """The ``k`` largest (``largest=False``: smallest) elements along ``dim`` (default the
    last), as ``torch.topk``: ``(values, indices)``, in sorted order (also when
    ``sorted=False``, which PyTorch leaves unspecified). Equal elements are taken in their
    order in ``input``. The gradient goes to the chosen positions.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 5.0, 3.0, 4.0]).topk(2).values.tolist()
    [5.0, 4.0]
    """
    x, scalar = _as_1d(_operand(input, "topk"))
    xd = raw(x)
    shape = tuple(xd.shape)
    ax = _one_axis(dim, axis, "topk", shape)
    k = _check_k(k, shape[ax], "topk", shape, 0)
    xp = xp_of(xd)
    order = _argsort_raw(xp, xd, ax, bool(largest), True)
    idx = order[(slice(None),) * ax + (slice(0, k),)]
    values = pick(_topk, x, _along_index(xp, idx, ax, shape))
    return _finish(values, idx, scalar)


def kthvalue(
    input: Any,
    k: int,
    dim: Any = None,
    keepdim: Any = None,
    *,
    axis: Any = None,
    keepdims: Any = None,
) -> ValuesIndices:
    """The ``k``-th smallest element (``k`` from 1) along ``dim`` (default the last) and its
    index, as ``torch.kthvalue``; the axis is dropped unless ``keepdim`` (or ``keepdims``).
    Among equal elements the first in ``input`` counts first.

    Examples
    --------
    >>> import chainrule as cr
    >>> v, i = cr.kthvalue(cr.tensor([[4.0, 1.0, 3.0]]), 2, dim=1)
    >>> v.tolist(), i.tolist()
    ([3.0], [2])
    """
    keep = _keep(keepdim, keepdims, "kthvalue")
    x, scalar = _as_1d(_operand(input, "kthvalue"))
    xd = raw(x)
    shape = tuple(xd.shape)
    ax = _one_axis(dim, axis, "kthvalue", shape)
    k = _check_k(k, shape[ax], "kthvalue", shape, 1)
    xp = xp_of(xd)
    order = _argsort_raw(xp, xd, ax, False, True)
    idx = order[(slice(None),) * ax + (slice(k - 1, k),)]
    full = _along_index(xp, idx, ax, shape)
    if not keep:  # every part has length 1 on ax: drop that axis from all of them
        full = tuple(p.reshape(p.shape[:ax] + p.shape[ax + 1 :]) for p in full)
        idx = idx.reshape(idx.shape[:ax] + idx.shape[ax + 1 :])
    values = pick(_kthvalue, x, full)
    return _finish(values, idx, scalar)


# ----------------------------------------------------------------------- cummax, cummin
_cummax = picking("cummax", "dx = scatter_add(g, argmax positions): each running max's source")
_cummin = picking("cummin", "dx = scatter_add(g, argmin positions): each running min's source")


def _running_arg(xp: Any, x: Any, ax: int, largest: bool) -> Any:
    """Index of the running extreme along ``ax``: the latest element that equals it (PyTorch
    takes the later of tied elements), or the latest NaN once a NaN has been seen."""
    acc = (xp.maximum if largest else xp.minimum).accumulate(x, axis=ax)
    hit = x == acc
    if x.dtype.kind == "f":
        hit = hit | xp.isnan(x)
    view = [1] * x.ndim
    view[ax] = -1
    pos = xp.arange(x.shape[ax]).reshape(view)
    return xp.maximum.accumulate(xp.where(hit, pos, 0), axis=ax)


def _cumulative(op: str, prim: Any, input: Any, dim: Any, axis: Any) -> ValuesIndices:
    x, scalar = _as_1d(_operand(input, op))
    xd = raw(x)
    shape = tuple(xd.shape)
    ax = _one_axis(dim, axis, op, shape, default=None)
    xp = xp_of(xd)
    idx = _running_arg(xp, xd, ax, op == "cummax")
    values = pick(prim, x, _along_index(xp, idx, ax, shape))
    return _finish(values, idx, scalar)


def cummax(input: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
    """Running maximum along ``dim`` and the index it comes from, as ``torch.cummax``: ties
    take the later index; NaN propagates. The gradient of each output goes to its source
    element, so an element that stays the maximum collects the gradient of every position it
    fills.

    Examples
    --------
    >>> import chainrule as cr
    >>> v, i = cr.cummax(cr.tensor([1.0, 3.0, 2.0, 3.0]), 0)
    >>> v.tolist(), i.tolist()
    ([1.0, 3.0, 3.0, 3.0], [0, 1, 1, 3])
    """
    return _cumulative("cummax", _cummax, input, dim, axis)


def cummin(input: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
    """Running minimum along ``dim`` and the index it comes from, as ``torch.cummin`` (ties take
    the later index; NaN propagates; gradients go to the source elements).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cummin(cr.tensor([2.0, 1.0, 3.0]), 0).indices.tolist()
    [0, 1, 1]
    """
    return _cumulative("cummin", _cummin, input, dim, axis)


# ------------------------------------------------------------------ no gradient: unique
def unique(
    input: Any,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: Any = None,
    *,
    axis: Any = None,
    return_index: bool = False,
) -> Any:
    """The distinct values of ``input`` in ascending order (distinct slices along ``dim`` when
    given), as ``torch.unique``/``numpy.unique``; optionally (in this order) the index of each
    value's first occurrence (``return_index``, NumPy's), the inverse (``input``'s shape:
    ``values[inverse]`` rebuilds ``input``) and the counts. A single result is a tensor, several
    a tuple.

    Not differentiable: the results never require grad, even when ``input`` does (deciding
    which values are equal is not a smooth function). To differentiate through the values use
    ``input[index]`` with ``return_index=True``, which is recorded.

    Examples
    --------
    >>> import chainrule as cr
    >>> values, counts = cr.unique(cr.tensor([3, 1, 3, 2]), return_counts=True)
    >>> values.tolist(), counts.tolist()
    ([1, 2, 3], [1, 1, 2])
    """
    xd = raw(_operand(input, "unique"))
    d = dim_arg(dim, axis, "unique", required=False)
    xp = xp_of(xd)
    if d is not None:
        d = normalize_axis(d, max(xd.ndim, 1), "unique", tuple(xd.shape))[0]
    out = xp.unique(xd, return_index=True, return_inverse=True, return_counts=True, axis=d)
    values, first, inverse, counts = out
    if d is None:
        inverse = inverse.reshape(xd.shape)
    else:
        inverse = inverse.reshape(-1)
    results = [_leaf(values)]
    for flag, arr in ((return_index, first), (return_inverse, inverse), (return_counts, counts)):
        if flag:
            results.append(_leaf(arr.astype(np.int64, copy=False)))
    return results[0] if len(results) == 1 else tuple(results)


# ------------------------------------------------------------ no gradient: searchsorted
def searchsorted(
    sorted_sequence: Any,
    input: Any,
    side: str | None = None,
    sorter: Any = None,
    *,
    right: bool = False,
    out_int32: bool = False,
) -> Any:
    """Where ``input``'s values would be inserted into ``sorted_sequence`` to keep it sorted,
    as ``torch.searchsorted`` and ``numpy.searchsorted``: ``side="left"`` (default) gives the
    first such index, ``side="right"`` (or ``right=True``) the last. A sequence with more than
    one dimension is searched row by row: its leading dimensions must match ``input``'s.
    Int64 results (int32 with ``out_int32``); never requires grad.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.searchsorted(cr.tensor([1.0, 3.0, 5.0]), cr.tensor([3.0, 6.0])).tolist()
    [1, 3]
    >>> cr.searchsorted(cr.tensor([1.0, 3.0, 5.0]), 3.0, side="right").tolist()
    2
    """
    op = "searchsorted"
    seq = raw(_operand(sorted_sequence, op))
    v = raw(_operand(input, op))
    if side is None:
        side = "right" if right else "left"
    elif side not in ("left", "right") or (right and side == "left"):
        raise ValueError(
            f"{op}: side must be 'left' or 'right' (and agree with right=), got {side!r}"
        )
    xp = xp_of(seq)
    v = xp.asarray(v)  # a Python number or a host list beside a GPU sequence
    srt = None if sorter is None else xp.asarray(raw(_operand(sorter, op)))
    dtype = np.int32 if out_int32 else np.int64
    if seq.ndim <= 1:
        if seq.ndim == 0:
            raise ValueError(f"{op}: sorted_sequence must have at least one dimension, got ()")
        return _leaf(xp.searchsorted(seq, v, side=side, sorter=srt).astype(dtype))
    lead = tuple(seq.shape[:-1])
    if tuple(v.shape[:-1]) != lead:
        raise ValueError(
            f"{op}: sorted_sequence of shape {tuple(seq.shape)} and input of shape "
            f"{tuple(v.shape)} must match on every dimension but the last"
        )
    out = xp.empty(v.shape, dtype=dtype)
    for row in np.ndindex(*lead):
        out[row] = xp.searchsorted(
            seq[row], v[row], side=side, sorter=None if srt is None else srt[row]
        )
    return _leaf(out)


TENSOR_METHODS = ("sort", "argsort", "topk", "kthvalue", "unique", "cummax", "cummin")
