"""Indexing and scatter primitives: gather, scatter, scatter_reduce, index_select, index_add,
masked_fill, masked_select, take_along_axis, put_along_axis (and nonzero, with no gradient).

Every one of them reads or writes ``x`` at an advanced index. ``gather(x, dim, index)`` is
``x[idx]`` where ``idx`` is ``index`` on axis ``dim`` and the position itself on every other
axis (``_along_index``), so gathering and scattering pair up exactly as ``getitem`` and
``scatter_add`` do in ``shape.py``::

    gather          forward  x[idx]                          vjp  scatter_add(g, idx, x.shape)
    scatter         forward  x with x[idx] = src             vjp  dx = g, 0 where written;
                                                                  dsrc = g[idx] where src won
    scatter_reduce  forward  x with src reduced into x[idx]  vjp  per reduction, see _d_reduce_*
    index_add       forward  x with alpha * src added at idx vjp  dx = g;  dsrc = alpha * g[idx]
    masked_fill     forward  where(mask, value, x)           vjp  dx = g * ~mask;  dvalue = g * mask

The index arrays are constants of the node (never differentiated); rules only index, add and
compare, so every gradient here has derivatives of every order.

Functions with PyTorch's names take PyTorch's arguments (``input, dim, index, src``) and also
accept ``axis=`` for ``dim``; NumPy's names (``take_along_axis``, ``put_along_axis``) take NumPy's.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..autodiff import modes_switched, state
from ..backend import namespace_of, register_raw
from ..tensor import Tensor, _leaf, record
from .define import apply, define, raw, xp_of
from .shape import _brief, _operand, getitem, reshape
from .shape import scatter_add as _scatter_add_at

__all__ = [
    "gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
    "masked_fill", "masked_select", "nonzero", "take_along_axis", "put_along_axis",
]  # fmt: skip

_ndarray = np.ndarray
_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


# ------------------------------------------------------------------------------ helpers
def dim_arg(dim: Any, axis: Any, op: str, default: Any = None, required: bool = True) -> Any:
    """The one axis a function was given as ``dim=`` (PyTorch) or ``axis=`` (NumPy).

    Examples
    --------
    >>> dim_arg(None, 1, "gather")
    1
    """
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{op}: got dim={dim!r} and axis={axis!r}; pass one of them")
    value = dim if dim is not None else axis
    if value is None:
        if required and default is None:
            raise TypeError(f"{op}: missing the axis (pass dim= or axis=)")
        return default
    return value


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


def _dtype_of(x: Any) -> Any:
    return getattr(x, "dtype", type(x).__name__)


def _axis(axis: Any, ndim: int, op: str, shape: tuple[int, ...]) -> int:
    try:
        if isinstance(axis, bool):
            raise TypeError
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int, got {axis!r}") from None
    if not -max(ndim, 1) <= a < max(ndim, 1):
        raise ValueError(
            f"{op}: dim {a} is out of range for a tensor of shape {shape} (ndim {ndim})"
        )
    return a % max(ndim, 1)


def _int_index(index: Any, op: str, name: str = "index", like: Any = None) -> Any:
    """``index`` as a raw integer array on ``like``'s device; a clear error for floats and
    bools."""
    idx = index._data if isinstance(index, Tensor) else index
    if idx.__class__ is not _ndarray and not hasattr(idx, "__cuda_array_interface__"):
        idx = np.asarray(idx)
        if idx.size == 0 and idx.dtype.kind == "f":
            idx = idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"{op}: {name} must be an integer tensor, got dtype {idx.dtype} "
            f"(shape {tuple(idx.shape)})"
        )
    return _on_device_of(like, idx)


def _on_device_of(like: Any, arr: Any) -> Any:
    """``arr`` moved to the device of ``like`` (a Tensor or array): index arrays built from a
    host list must live beside a GPU tensor they index, as CuPy's scatter (``add.at``) needs."""
    if like is None:
        return arr
    data = raw(like)
    if data.__class__ is _ndarray or not hasattr(data, "__cuda_array_interface__"):
        return arr
    return namespace_of(data).asarray(arr)


def _along_index(xp: Any, index: Any, axis: int, x_shape: tuple[int, ...]) -> tuple[Any, ...]:
    """The advanced index that reads ``x[i_0, ..., index[i], ..., i_n]`` for every position
    ``i`` of ``index``: ``index`` on ``axis``, the position's own coordinate (an ``arange``) on
    every other axis, or 0 where ``x`` has length 1 there and broadcasts (``take_along_axis``)."""
    nd = index.ndim
    parts = []
    for a in range(nd):
        if a == axis:
            parts.append(index)
            continue
        view = [1] * nd
        view[a] = -1
        n = 1 if x_shape[a] == 1 else index.shape[a]
        parts.append(xp.arange(n).reshape(view))
    return tuple(parts)


def _written(xp: Any, idx: tuple[Any, ...], shape: tuple[int, ...]) -> Any:
    """A boolean array of ``shape``, true where ``idx`` writes."""
    z = xp.zeros(shape, dtype=bool)
    z[idx] = True
    return z


def _counts(xp: Any, idx: tuple[Any, ...], shape: tuple[int, ...], bshape: tuple[int, ...]):
    """How many of the ``bshape`` positions of ``idx`` write to each element of ``shape``."""
    c = xp.zeros(shape, dtype=np.int64)
    xp.add.at(c, idx, xp.ones(bshape, dtype=np.int64))
    return c


def _index_shape(idx: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(np.broadcast_shapes(*(getattr(p, "shape", ()) for p in idx)))


def _raw_ns(idx: tuple[Any, ...]) -> Any:
    for p in idx:
        if hasattr(p, "shape"):
            return namespace_of(p)
    return namespace_of(np.zeros(0))


def _check_same_ndim(op: str, x_shape: tuple[int, ...], index: Any, name: str = "input") -> None:
    if len(x_shape) != index.ndim and not (len(x_shape) == 0 and index.ndim <= 1):
        raise ValueError(
            f"{op}: index (shape {tuple(index.shape)}) must have as many dimensions as "
            f"{name} (shape {x_shape})"
        )


def _check_fits(op: str, x_shape: tuple[int, ...], index: Any, dim: int, name: str) -> None:
    """PyTorch's rule: ``index.size(d) <= x.size(d)`` on every axis but ``dim``."""
    for a, (n, m) in enumerate(zip(x_shape, index.shape)):
        if a != dim and m > n:
            raise ValueError(
                f"{op}: index of shape {tuple(index.shape)} is larger than {name} of shape "
                f"{x_shape} on dim {a} (only dim {dim} may differ)"
            )


def _index_error(op: str, exc: Exception, index: Any, x_shape: tuple[int, ...], dim: Any):
    return IndexError(
        f"{op}: index {_brief(index)} is out of range for dim {dim} of a tensor of shape "
        f"{x_shape}: {exc}"
    )


def _zero_dims(x_shape: tuple[int, ...], index: Any) -> tuple[tuple[int, ...], Any]:
    """A 0-d input with a 0-d or 1-d index is read as shape (1,) (as in PyTorch)."""
    return ((1,), index.reshape(-1)) if not x_shape else (x_shape, index)


# --------------------------------------------------------------------------- gathering
def _d_pick(xp: Any, g: Any, out: Any, x: Any, idx: Any, *params: Any) -> Any:
    return xp.scatter_add(g, idx, x.shape)


def _pick_forward(xp: Any, x: Any, idx: Any, *params: Any) -> Any:
    return x[idx]


def picking(name: str, formula: str) -> Any:
    """Register a primitive ``out = x[idx]`` (``idx`` an advanced index made by the caller)
    whose gradient is ``scatter_add(g, idx, x.shape)``; ``gather``, ``take_along_axis``,
    ``index_select``, ``sort``, ``topk``, ``cummax``... are each one of these, under their name.

    Examples
    --------
    >>> from chainrule.ops.define import primitive_table
    >>> primitive_table["gather"].formula
    'dx = scatter_add(zeros(x.shape), dim, index, g): g added back where it was read'
    """
    return define(name, (_d_pick,), formula)


def pick(prim: Any, x: Any, idx: Any) -> Any:
    """``x[idx]`` recorded as ``prim`` (made by :func:`picking`); ``x`` a Tensor or array.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> pick(_gather, cr.tensor([1.0, 2.0, 3.0]), (np.array([2, 0]),)).tolist()
    [3.0, 1.0]
    """
    xd = x._data if isinstance(x, Tensor) else x
    data = xd[idx]
    if isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled):
        return record(prim, data, (xd, idx), x)
    return _leaf(data)


_gather = picking(
    "gather", "dx = scatter_add(zeros(x.shape), dim, index, g): g added back where it was read"
)


def gather(
    input: Any, dim: Any = None, index: Any = None, *, axis: Any = None, sparse_grad: bool = False
) -> Any:
    """Values of ``input`` along ``dim`` at ``index``, as ``torch.gather``.

    ``out[i][j][k] = input[index[i][j][k]][j][k]`` for ``dim=0`` (likewise for other dims).
    ``index`` is an integer tensor with as many dimensions as ``input``, no larger than it on
    the other dims; the result has ``index``'s shape. The gradient adds ``g`` back at the
    positions read (an element read twice gets both). ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.gather(x, 1, cr.tensor([[0, 0], [1, 0]])).tolist()
    [[1.0, 1.0], [4.0, 3.0]]
    """
    op = "gather"
    d = dim_arg(dim, axis, op)
    if index is None:
        raise TypeError("gather: missing index")
    x = _operand(input, op)
    idx = _int_index(index, op, like=x)
    x_shape = _shape_of(x)
    shape, idx_r = _zero_dims(x_shape, idx)
    _check_same_ndim(op, shape, idx_r)
    d = _axis(d, len(shape), op, x_shape)
    _check_fits(op, shape, idx_r, d, "input")
    full = _along_index(xp_of(idx_r), idx_r, d, shape)
    src = x if x_shape else _reshape_1(x)
    try:
        out = pick(_gather, src, full)
    except IndexError as exc:
        raise _index_error(op, exc, index, x_shape, d) from None
    return out if x_shape or idx.ndim else out.reshape(())


def _reshape_1(x: Any) -> Any:
    return reshape(x, (1,))


_take_along_axis = picking(
    "take_along_axis", "dx = zeros(arr.shape) with g added at (..., indices, ...) along axis"
)


def take_along_axis(arr: Any, indices: Any, axis: Any = -1, *, dim: Any = None) -> Any:
    """Values of ``arr`` at ``indices`` along ``axis``, as ``numpy.take_along_axis``: the
    two broadcast against each other on the other axes; ``axis=None`` reads the flattened
    array with 1-d ``indices``. ``dim=`` may stand for ``axis``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> cr.take_along_axis(x, cr.tensor([[1], [0]]), axis=1).tolist()
    [[30.0], [60.0]]
    """
    op = "take_along_axis"
    if dim is not None:
        axis = dim
    x = _operand(arr, op)
    idx = _int_index(indices, op, "indices", like=x)
    if axis is None:
        if idx.ndim != 1:
            raise ValueError(
                f"{op}: with axis=None, indices must be 1-d, got shape {tuple(idx.shape)}"
            )
        x = reshape(x, (-1,))
        axis = 0
    x_shape = _shape_of(x)
    if len(x_shape) != idx.ndim:
        raise ValueError(
            f"{op}: indices (shape {tuple(idx.shape)}) must have as many dimensions as arr "
            f"(shape {x_shape})"
        )
    a = _axis(axis, len(x_shape), op, x_shape)
    try:
        bshape = np.broadcast_shapes(
            tuple(1 if i == a else n for i, n in enumerate(x_shape)),
            tuple(1 if i == a else n for i, n in enumerate(idx.shape)),
        )
    except ValueError:
        raise ValueError(
            f"{op}: arr of shape {x_shape} and indices of shape {tuple(idx.shape)} do not "
            f"broadcast on the axes other than {a}"
        ) from None
    idx = xp_of(idx).broadcast_to(
        idx, tuple(idx.shape[i] if i == a else bshape[i] for i in range(len(bshape)))
    )
    full = _along_index(xp_of(idx), idx, a, x_shape)
    try:
        return pick(_take_along_axis, x, full)
    except IndexError as exc:
        raise _index_error(op, exc, indices, x_shape, a) from None


_index_select = picking("index_select", "dx = zeros(x.shape) with g added at index along dim")


def index_select(input: Any, dim: Any = None, index: Any = None, *, axis: Any = None) -> Any:
    """The slices of ``input`` at the 1-d integer ``index`` along ``dim``, as
    ``torch.index_select`` (``numpy.take`` with an axis). ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> cr.index_select(x, 0, cr.tensor([2, 0])).tolist()
    [[5.0, 6.0], [1.0, 2.0]]
    """
    op = "index_select"
    d = dim_arg(dim, axis, op)
    if index is None:
        raise TypeError("index_select: missing index")
    x = _operand(input, op)
    idx = _int_index(index, op, like=x)
    x_shape = _shape_of(x)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index must be 0-d or 1-d, got shape {tuple(idx.shape)}")
    if not x_shape:
        x = _reshape_1(x)
        d = _axis(d, 1, op, x_shape)
        out = pick(_index_select, x, (idx.reshape(-1),))
        return out.reshape(())
    d = _axis(d, len(x_shape), op, x_shape)
    full = (slice(None),) * d + (idx.reshape(-1),)
    try:
        return pick(_index_select, x, full)
    except IndexError as exc:
        raise _index_error(op, exc, index, x_shape, d) from None


# ------------------------------------------------------------------------------ scatter
def _scatter_forward(xp: Any, x: Any, src: Any, idx: Any) -> Any:
    out = x.copy()
    out[idx] = src
    return out


def _d_scatter_x(xp: Any, g: Any, out: Any, x: Any, src: Any, idx: Any) -> Any:
    return xp.where(_written(_raw_ns(idx), idx, x.shape), 0.0, g)


def _d_scatter_src(xp: Any, g: Any, out: Any, x: Any, src: Any, idx: Any) -> Any:
    # Where two positions of idx write to one element, one write survives (NumPy: the last);
    # only its source gets the gradient. Replaying the writes with position ids finds it.
    rxp = _raw_ns(idx)
    bshape = _index_shape(idx)
    ids = rxp.arange(int(np.prod(bshape))).reshape(bshape)
    who = rxp.full(x.shape, -1, dtype=ids.dtype)
    who[idx] = ids
    won = who[idx] == ids
    gi = g[idx]
    return gi if bool(won.all()) else gi * won


_scatter = define(
    "scatter",
    (_d_scatter_x, _d_scatter_src),
    "dx = g with 0 where written;  dsrc = g[idx] (where that write survived)",
)
_put_along_axis = define(
    "put_along_axis",
    (_d_scatter_x, _d_scatter_src),
    "dx = g with 0 where written;  dvalues = g[idx] (where it survived)",
)


def _prepare_scatter(op: str, input: Any, dim: Any, index: Any, src: Any, name: str = "src"):
    """(x, src, full index, dim) for PyTorch's scatter family; ``src`` cut to ``index``'s shape."""
    x = _operand(input, op)
    idx = _int_index(index, op, like=x)
    x_shape = _shape_of(x)
    if not x_shape:
        raise ValueError(f"{op}: input must have at least one dimension, got shape ()")
    _check_same_ndim(op, x_shape, idx)
    d = _axis(dim, len(x_shape), op, x_shape)
    _check_fits(op, x_shape, idx, d, "input")
    if isinstance(src, (Tensor, _ndarray)) or hasattr(src, "__cuda_array_interface__"):
        s_shape = tuple(src.shape)
        if s_shape and s_shape != tuple(idx.shape):  # a 0-d src is a value, like a number
            if len(s_shape) != idx.ndim or any(m > n for m, n in zip(idx.shape, s_shape)):
                raise ValueError(
                    f"{op}: {name} of shape {s_shape} must have index's number of dimensions "
                    f"and be at least as large as index (shape {tuple(idx.shape)}) on each"
                )
            src = getitem(src, tuple(slice(0, m) for m in idx.shape))
    elif isinstance(src, (list, tuple)):
        raise TypeError(f"{op}: {name} must be a tensor or a number, got {type(src).__name__}")
    full = _along_index(xp_of(idx), idx, d, x_shape)
    return x, src, full, d


def _check_float_src(op: str, x: Any, src: Any) -> None:
    # As in PyTorch; a 0-d value is cast into the input like a number (its gradient back).
    if isinstance(src, Tensor) and src._rg and src.ndim and x.dtype != src.dtype:
        raise TypeError(
            f"{op}: src (dtype {src.dtype}) must have input's dtype ({x.dtype}) to be "
            "differentiated"
        )


def scatter(
    input: Any,
    dim: Any = None,
    index: Any = None,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
    axis: Any = None,
) -> Any:
    """A copy of ``input`` with ``src`` written at ``index`` along ``dim``, as ``torch.scatter``.

    ``out[index[i][j]][j] = src[i][j]`` for ``dim=0``. ``src`` may be a tensor (at least
    ``index``'s size on each dim; its first ``index.shape`` block is used) or a number
    (``value=`` also gives one). Where ``index`` writes one element twice, one write survives
    and only its source receives a gradient. ``reduce="add"``/``"multiply"`` is
    :func:`scatter_reduce` with ``"sum"``/``"prod"``. ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[2], [0]]), cr.tensor([[5.0], [7.0]])).tolist()
    [[0.0, 0.0, 5.0], [7.0, 0.0, 0.0]]
    """
    op = "scatter"
    d = dim_arg(dim, axis, op)
    if src is None:
        src = value
    if src is None or index is None:
        raise TypeError("scatter: needs index and src (or value)")
    if reduce is not None:
        modes = {"add": "sum", "multiply": "prod"}
        if reduce not in modes:
            raise ValueError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
        if not isinstance(src, Tensor):
            src = _leaf(
                xp_of(raw(input)).full(_int_index(index, op).shape, src, dtype=raw(input).dtype)
            )
        return scatter_reduce(input, d, index, src, modes[reduce], include_self=True)
    x, src, full, d = _prepare_scatter(op, input, d, index, src)
    _check_float_src(op, x, src)
    try:
        return apply(_scatter, _scatter_forward, (x, src), (full,))
    except IndexError as exc:
        raise _index_error(op, exc, index, _shape_of(x), d) from None


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any, *, dim: Any = None) -> Any:
    """A copy of ``arr`` with ``values`` written at ``indices`` along ``axis``: the values of
    ``numpy.put_along_axis``, returned as a new tensor instead of written in place (a recorded
    tensor is never modified). ``values`` broadcasts against ``indices``; ``axis=None`` writes
    into the flattened array. ``dim=`` may stand for ``axis``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.put_along_axis(cr.zeros(2, 2), cr.tensor([[1], [0]]), 9.0, axis=1).tolist()
    [[0.0, 9.0], [9.0, 0.0]]
    """
    op = "put_along_axis"
    if dim is not None:
        axis = dim
    x = _operand(arr, op)
    idx = _int_index(indices, op, "indices", like=x)
    shape0 = _shape_of(x)
    flat = axis is None
    if flat:
        x = reshape(x, (-1,))
        axis = 0
    x_shape = _shape_of(x)
    if len(x_shape) != idx.ndim:
        raise ValueError(
            f"{op}: indices (shape {tuple(idx.shape)}) must have as many dimensions as arr "
            f"(shape {x_shape})"
        )
    a = _axis(axis, len(x_shape), op, x_shape)
    try:
        bshape = np.broadcast_shapes(
            tuple(1 if i == a else n for i, n in enumerate(x_shape)),
            tuple(1 if i == a else n for i, n in enumerate(idx.shape)),
        )
        idx = xp_of(idx).broadcast_to(
            idx, tuple(idx.shape[i] if i == a else bshape[i] for i in range(len(bshape)))
        )
        np.broadcast_shapes(_shape_of(values), tuple(idx.shape))
    except ValueError:
        raise ValueError(
            f"{op}: arr of shape {x_shape}, indices of shape {tuple(idx.shape)} and values of "
            f"shape {_shape_of(values)} do not broadcast together"
        ) from None
    if bshape != tuple(1 if i == a else n for i, n in enumerate(x_shape)):
        raise ValueError(
            f"{op}: indices of shape {tuple(idx.shape)} would write beyond arr of shape {x_shape}"
        )
    full = _along_index(xp_of(idx), idx, a, x_shape)
    if isinstance(values, (list, tuple)):
        values = _operand(values, op)
    _check_float_src(op, x, values)
    try:
        out = apply(_put_along_axis, _scatter_forward, (x, values), (full,))
    except IndexError as exc:
        raise _index_error(op, exc, indices, x_shape, a) from None
    return out.reshape(shape0) if flat else out


# ------------------------------------------------------------------- scatter_reduce
def _fill_for(reduce: str, dtype: Any) -> Any:
    """The identity of ``reduce`` in ``dtype``: what a written element starts from when the
    input itself is not included."""
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max
    return -big if reduce == "amax" else big


_UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}


def _scatter_reduce_at(
    xp: Any, x: Any, src: Any, idx: tuple[Any, ...], reduce: str, include_self: bool
) -> Any:
    """The forward on raw arrays, ``idx`` already the full advanced index."""
    out = x.copy()
    if not include_self:
        out[idx] = _fill_for(reduce, x.dtype)
    if not hasattr(src, "shape") or src.shape != _index_shape(idx):
        src = xp.broadcast_to(xp.asarray(src, dtype=x.dtype), _index_shape(idx))
    getattr(xp, _UFUNC[reduce]).at(out, idx, src)
    if reduce == "mean":
        cnt = _counts(xp, idx, x.shape, _index_shape(idx)) + (1 if include_self else 0)
        written = cnt > 0
        safe = xp.where(written, cnt, 1)
        q = out / safe if x.dtype.kind == "f" else out // safe
        out = xp.where(written, q, x).astype(x.dtype, copy=False)
    return out


def _d_reduce_x(
    xp: Any, g: Any, out: Any, x: Any, src: Any, idx: Any, reduce: str, include_self: bool
) -> Any:
    rxp = _raw_ns(idx)
    written = _written(rxp, idx, x.shape)
    if not include_self:
        return xp.where(written, 0.0, g)
    if reduce == "sum":
        return g
    if reduce == "mean":
        cnt = _counts(rxp, idx, x.shape, _index_shape(idx)) + 1
        return g / cnt.astype(raw(g).dtype)
    if reduce == "prod":
        return g * _others(xp, x, src, idx, x, None)
    ties = _ties(rxp, out, x, src, idx, include_self)
    return xp.where(written, g * (raw(x) == raw(out)) / ties, g)


def _d_reduce_src(
    xp: Any, g: Any, out: Any, x: Any, src: Any, idx: Any, reduce: str, include_self: bool
) -> Any:
    if reduce == "sum":
        return g[idx]
    rxp = _raw_ns(idx)
    if reduce == "mean":
        cnt = _counts(rxp, idx, x.shape, _index_shape(idx)) + (1 if include_self else 0)
        return (g / rxp.maximum(cnt, 1).astype(raw(g).dtype))[idx]
    if reduce == "prod":
        return g[idx] * _others(xp, x, src, idx, None, include_self)
    ties = _ties(rxp, out, x, src, idx, include_self)
    return (g / ties)[idx] * (raw(src) == raw(out)[idx])


def _ties(rxp: Any, out: Any, x: Any, src: Any, idx: Any, include_self: bool) -> Any:
    """How many contributors attain each element's max (min); at least 1, so it can divide."""
    o = raw(out)
    # Counted in out's (floating) dtype, so dividing g by it keeps g's dtype.
    n = _scatter_add_at_raw(rxp, (raw(src) == o[idx]).astype(o.dtype), idx, o.shape)
    if include_self:
        n = n + (raw(x) == o)
    return rxp.maximum(n, 1)


def _scatter_add_at_raw(xp: Any, values: Any, idx: Any, shape: tuple[int, ...]) -> Any:
    z = xp.zeros(shape, dtype=values.dtype)
    xp.add.at(z, idx, values)
    return z


def _others(xp: Any, x: Any, src: Any, idx: Any, at_x: Any, include_self: Any) -> Any:
    """For each factor of a scatter product, the product of the *other* factors of its element
    (the factors of element e are x[e] when included and the src values written to e).

    With zeros, ``out / factor`` is 0/0; as in ``reduce.prod``, write it from the product ``p``
    of the nonzero factors, the product of the zeros, and their sum, so that second derivatives
    are exact too. ``at_x`` given: the factors are x (include_self is true); else the sources.
    """
    xr, sr = raw(x), raw(src)
    inc = True if at_x is not None else include_self
    zx = (xr == 0) if inc else _false_like(xr)
    zs = sr == 0
    xs_nz = xp.where(zx, 1, x) if inc else x
    p = xp.scatter_reduce_at(xs_nz, xp.where(zs, 1, src), idx, "prod", inc)
    zprod = xp.scatter_reduce_at(
        xp.where(zx, x, 1) if inc else x, xp.where(zs, src, 1), idx, "prod", inc
    )
    zsum = xp.scatter_reduce_at(
        xp.where(zx, x, 0) if inc else x, xp.where(zs, src, 0), idx, "sum", inc
    )
    nz = _scatter_add_at_raw(_raw_ns(idx), zs.astype(np.int64), idx, xr.shape)
    if inc:
        nz = nz + zx
    if at_x is not None:
        v, vz, pv, zp, zs_, n = x, zx, p, zprod, zsum, nz
    else:
        v, vz, pv, zp, zs_, n = src, zs, p[idx], zprod[idx], zsum[idx], nz[idx]
    one_zero = xp.where(n == 1, 1, xp.where(n == 2, zs_ - v, 0))
    return xp.where(vz, one_zero * pv, zp * pv / xp.where(vz, 1, v))


def _false_like(a: Any) -> Any:
    return namespace_of(a).zeros(a.shape, dtype=bool)


register_raw("scatter_reduce_at", _scatter_reduce_at)

_scatter_reduce = define(
    "scatter_reduce",
    (_d_reduce_x, _d_reduce_src),
    (
        "sum: dx = g, dsrc = g[idx];  mean: both / count;  prod: g * (product of the other "
        "factors);  amax/amin: g shared evenly among the tied extremes;  "
        "include_self=False: dx = 0 where written"
    ),
)


def scatter_reduce_at(
    x: Any, src: Any, idx: Any, reduce: str = "sum", include_self: bool = True
) -> Any:
    """``scatter_reduce`` with the full advanced index ``idx`` (every axis indexed) given
    directly; the form rules call, differentiable in ``x`` and ``src``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> idx = (np.array([0, 0, 1]),)
    >>> scatter_reduce_at(cr.zeros(2), cr.tensor([1.0, 2.0, 3.0]), idx, "sum").tolist()
    [3.0, 3.0]
    """
    return apply(_scatter_reduce, _scatter_reduce_at, (x, src), (idx, reduce, bool(include_self)))


def scatter_reduce(
    input: Any,
    dim: Any = None,
    index: Any = None,
    src: Any = None,
    reduce: str = "sum",
    *,
    include_self: bool = True,
    axis: Any = None,
) -> Any:
    """Reduce ``src`` into a copy of ``input`` at ``index`` along ``dim``, as
    ``torch.scatter_reduce``: ``reduce`` is ``"sum"``, ``"prod"``, ``"mean"``, ``"amax"`` or
    ``"amin"``. With ``include_self=False`` the elements written start from the reduction's
    identity instead of ``input``'s value; elements not written keep ``input``'s value.

    Gradients: ``prod`` is exact with zeros (the product of the other factors); in ``amax`` and
    ``amin`` the contributors tied at the extreme share the gradient evenly, as in PyTorch.
    ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> src = cr.tensor([1.0, 5.0, 2.0])
    >>> cr.scatter_reduce(cr.zeros(2), 0, cr.tensor([0, 0, 1]), src, "amax").tolist()
    [5.0, 2.0]
    >>> cr.scatter_reduce(cr.zeros(2), 0, cr.tensor([0, 0, 1]), src, "mean",
    ...                   include_self=False).tolist()
    [3.0, 2.0]
    """
    op = "scatter_reduce"
    d = dim_arg(dim, axis, op)
    if index is None or src is None:
        raise TypeError("scatter_reduce: needs index and src")
    if reduce not in _REDUCTIONS:
        raise ValueError(
            f"scatter_reduce: reduce must be one of {', '.join(map(repr, _REDUCTIONS))}, "
            f"got {reduce!r}"
        )
    src = _operand(src, op)
    x, src, full, d = _prepare_scatter(op, input, d, index, src)
    _check_float_src(op, x, src)
    try:
        return apply(
            _scatter_reduce, _scatter_reduce_at, (x, src), (full, reduce, bool(include_self))
        )
    except IndexError as exc:
        raise _index_error(op, exc, index, _shape_of(x), d) from None


def scatter_add(*args: Any, **kwargs: Any) -> Any:
    """Two forms, told apart by their arguments:

    * ``scatter_add(input, dim, index, src)``: PyTorch's, ``input`` with ``src`` added at
      ``index`` along ``dim`` (repeated indices add up); :func:`scatter_reduce` with ``"sum"``.
      ``axis=`` may stand for ``dim``.
    * ``scatter_add(values, index, shape)``: zeros of ``shape`` with ``values`` added at a
      NumPy index (``numpy.add.at``), the gradient of ``getitem``
      (:func:`chainrule.ops.shape.scatter_add`).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.scatter_add(cr.zeros(3), 0, cr.tensor([0, 2, 0]), cr.tensor([1.0, 2.0, 3.0])).tolist()
    [4.0, 0.0, 2.0]
    >>> cr.scatter_add(cr.tensor([1.0, 2.0]), [0, 0], (2,)).tolist()
    [3.0, 0.0]
    """
    torch_form = len(args) + len(kwargs) == 4 or any(k in kwargs for k in ("dim", "axis", "src"))
    if not torch_form:
        return _scatter_add_at(*args, **kwargs)
    names = ("input", "dim", "index", "src")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        bound["dim" if k == "axis" else k] = v
    missing = [n for n in names if n not in bound]
    if missing:
        raise TypeError(f"scatter_add: missing {', '.join(missing)}")
    return scatter_reduce(bound["input"], bound["dim"], bound["index"], bound["src"], "sum")


# ------------------------------------------------------------------------- index_add
def _index_add_forward(xp: Any, x: Any, src: Any, idx: Any, alpha: Any) -> Any:
    out = x.copy()
    xp.add.at(out, idx, src * alpha if alpha != 1 else src)
    return out


_index_add = define(
    "index_add",
    (
        lambda xp, g, out, x, src, idx, alpha: g,
        lambda xp, g, out, x, src, idx, alpha: g[idx] * alpha if alpha != 1 else g[idx],
    ),
    "dx = g;  dsource = alpha * g[..., index, ...]",
)


def index_add(
    input: Any,
    dim: Any = None,
    index: Any = None,
    source: Any = None,
    *,
    alpha: Any = 1,
    axis: Any = None,
) -> Any:
    """A copy of ``input`` with ``alpha * source`` added at the 1-d ``index`` along ``dim``, as
    ``torch.index_add``; a repeated index adds every time. ``source`` has ``input``'s shape
    except ``len(index)`` on ``dim``. ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.index_add(cr.zeros(3, 1), 0, cr.tensor([0, 0]), cr.ones(2, 1)).tolist()
    [[2.0], [0.0], [0.0]]
    """
    op = "index_add"
    d = dim_arg(dim, axis, op)
    if index is None or source is None:
        raise TypeError("index_add: needs index and source")
    x = _operand(input, op)
    src = _operand(source, op)
    idx = _int_index(index, op, like=x)
    x_shape = _shape_of(x)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index must be 0-d or 1-d, got shape {tuple(idx.shape)}")
    idx = idx.reshape(-1)
    if not x_shape:
        raise ValueError(f"{op}: input must have at least one dimension, got shape ()")
    d = _axis(d, len(x_shape), op, x_shape)
    expected = x_shape[:d] + (idx.shape[0],) + x_shape[d + 1 :]
    if _shape_of(src) != expected:
        raise ValueError(
            f"{op}: source of shape {_shape_of(src)} must have shape {expected} (input's "
            f"shape {x_shape} with len(index) = {idx.shape[0]} on dim {d})"
        )
    _check_float_src(op, x, src)
    full = (slice(None),) * d + (idx,)
    try:
        return apply(_index_add, _index_add_forward, (x, src), (full, alpha))
    except IndexError as exc:
        raise _index_error(op, exc, index, x_shape, d) from None


# --------------------------------------------------------------------------- masking
def _bool_mask(mask: Any, op: str) -> Any:
    m = mask._data if isinstance(mask, Tensor) else mask
    if m.__class__ is not _ndarray and not hasattr(m, "__cuda_array_interface__"):
        m = np.asarray(m)
    if m.dtype != bool:
        raise TypeError(f"{op}: mask must be a bool tensor, got dtype {m.dtype}")
    return m


def _masked_fill_forward(xp: Any, x: Any, value: Any, mask: Any) -> Any:
    out = xp.where(mask, value, x)
    return out if out.dtype == x.dtype else out.astype(x.dtype)


_masked_fill = define(
    "masked_fill",
    (
        lambda xp, g, out, x, value, mask: xp.where(mask, 0.0, g),
        lambda xp, g, out, x, value, mask: xp.where(mask, g, 0.0),
    ),
    "dx = g where not mask, 0 elsewhere;  dvalue = sum of g where mask",
)


def masked_fill(input: Any, mask: Any, value: Any) -> Any:
    """A copy of ``input`` with ``value`` where the boolean ``mask`` (broadcast to ``input``'s
    shape) is true, as ``torch.masked_fill``. ``value`` is a number or a tensor that broadcasts
    to ``input`` (a 0-d tensor in PyTorch) and receives the sum of the gradient where masked.
    The result keeps ``input``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, -2.0, 3.0])
    >>> cr.masked_fill(x, x < 0, 0.0).tolist()
    [1.0, 0.0, 3.0]
    """
    op = "masked_fill"
    x = _operand(input, op)
    m = _on_device_of(x, _bool_mask(mask, op))
    x_shape = _shape_of(x)
    try:
        ok = np.broadcast_shapes(tuple(m.shape), _shape_of(value), x_shape) == x_shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{op}: mask of shape {tuple(m.shape)} and value of shape {_shape_of(value)} must "
            f"broadcast to input's shape {x_shape}"
        )
    if isinstance(value, (list, tuple)):
        value = _operand(value, op)
    return apply(_masked_fill, _masked_fill_forward, (x, value), (m,))


def _masked_select_forward(xp: Any, x: Any, mask: Any, shape: tuple[int, ...]) -> Any:
    return xp.broadcast_to(x, shape)[xp.broadcast_to(mask, shape)]


_masked_select = define(
    "masked_select",
    (
        lambda xp, g, out, x, mask, shape: xp.scatter_add(
            g, _raw_ns((mask,)).broadcast_to(mask, shape), shape
        ),
    ),
    "dx = zeros(x.shape) with g placed where mask is true",
)


def masked_select(input: Any, mask: Any) -> Any:
    """The elements of ``input`` where the boolean ``mask`` is true, as a 1-d tensor
    (``torch.masked_select``; ``input`` and ``mask`` broadcast together).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, -2.0], [-3.0, 4.0]])
    >>> cr.masked_select(x, x > 0).tolist()
    [1.0, 4.0]
    """
    op = "masked_select"
    x = _operand(input, op)
    m = _on_device_of(x, _bool_mask(mask, op))
    try:
        shape = tuple(np.broadcast_shapes(tuple(m.shape), _shape_of(x)))
    except ValueError:
        raise ValueError(
            f"{op}: mask of shape {tuple(m.shape)} and input of shape {_shape_of(x)} "
            f"({_dtype_of(x)}) cannot be broadcast together"
        ) from None
    return apply(_masked_select, _masked_select_forward, (x,), (m, shape))


def nonzero(input: Any, *, as_tuple: bool = False) -> Any:
    """Indices of the nonzero elements, as ``torch.nonzero``: an int64 tensor of shape
    ``(count, ndim)``, one row per element in C order; with ``as_tuple=True`` one 1-d tensor per
    axis (``numpy.nonzero``'s form, usable as an index). Never requires grad.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nonzero(cr.tensor([[0.0, 1.0], [2.0, 0.0]])).tolist()
    [[0, 1], [1, 0]]
    >>> [t.tolist() for t in cr.nonzero(cr.tensor([0.0, 3.0, 4.0]), as_tuple=True)]
    [[1, 2]]
    """
    x = raw(_operand(input, "nonzero"))
    xp = xp_of(x)
    if as_tuple:
        parts = xp.nonzero(xp.atleast_1d(x))
        return tuple(_leaf(p.astype(xp.int64, copy=False)) for p in parts)
    return _leaf(xp.argwhere(x).astype(xp.int64, copy=False))


TENSOR_METHODS = (
    "gather", "scatter", "scatter_add", "scatter_reduce", "index_select", "index_add",
    "masked_fill", "masked_select", "nonzero",
)  # fmt: skip
