"""Shape primitives: they move or copy elements without changing values, so each gradient
moves the incoming gradient back (reshape back, transpose back, sum over what was broadcast,
slice out what was concatenated, scatter back what was indexed).

The pair at the heart of indexing::

    getitem      forward  x[index]                    vjp  scatter_add(g, index, x.shape)
    scatter_add  forward  zeros(shape)[index] += v    vjp  g[index]

Each is the other's gradient, so indexing has derivatives of every order. ``scatter_add``
accumulates repeated integer indices (``np.add.at``) and uses a plain assignment when the index
cannot repeat (slices, integers, boolean masks), which is several times faster.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autodiff import modes_switched, state, unbroadcast
from ..backend import namespace_of, numpy_namespace, register_raw
from ..tensor import Tensor, _as_array, _leaf, record
from .define import apply, define, holds_tensor, raw, stack_nested
from .reduce import normalize_axis

__all__ = [
    "reshape", "broadcast_to", "expand_dims", "transpose", "permute", "swapaxes", "squeeze",
    "flip", "concatenate", "stack", "split", "pad", "getitem", "repeat", "repeat_interleave",
    "tile", "tril", "triu", "roll", "diagonal", "diag", "trace", "moveaxis", "movedim", "fliplr",
    "flipud", "rot90", "unflatten", "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack",
    "dstack", "column_stack", "append", "meshgrid",
]  # fmt: skip

_ndarray = np.ndarray
NP = numpy_namespace


def _shape_tuple(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (tuple, list)):
        return tuple(int(n) for n in shape)
    return (int(shape),)


def _operand(x: Any, op: str) -> Any:
    """``x`` itself if it is a Tensor or an array, else ``x`` as an array (lists, scalars)."""
    if isinstance(x, Tensor) or x.__class__ is _ndarray or hasattr(x, "__cuda_array_interface__"):
        return x
    if isinstance(x, (list, tuple)) and holds_tensor(x):
        return stack_nested(x, op)  # differentiable: the list's tensors keep their gradients
    return _as_array(x, None, op)


def _int_axis(axis: Any, op: str) -> int:
    try:
        return operator.index(axis)
    except TypeError:
        raise TypeError(f"{op}: axis must be an int, got {axis!r}") from None


def _one_axis(axis: Any, ndim: int, op: str, shape: tuple[int, ...]) -> int:
    return normalize_axis(_int_axis(axis, op), ndim, op, shape)[0]


class _ByPosition:
    """The vjps of a primitive that takes any number of arrays (``concatenate``, ``stack``):
    the rule for argument ``i`` is ``rule(i, xp, g, out, *args)``."""

    __slots__ = ("rule",)

    def __init__(self, rule: Callable[..., Any]) -> None:
        self.rule = rule

    def __getitem__(self, i: int) -> Callable[..., Any]:
        return functools.partial(self.rule, i)

    def __repr__(self) -> str:
        return f"_ByPosition({self.rule.__name__})"


# ----------------------------------------------------------------------------- reshape
_reshape = define("reshape", (lambda xp, g, out, x, shape: g.reshape(x.shape),),
                  "g reshaped to x's shape")


def reshape(x: Any, *shape: Any) -> Any:
    """Give ``x`` a new shape with the same number of elements (one -1 is inferred).

    ``shape`` may be a tuple or separate ints: ``reshape(x, (2, 3))`` or ``x.reshape(2, 3)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.reshape(cr.arange(6), (2, 3)).shape
    (2, 3)
    """
    dims = shape[0] if len(shape) == 1 else shape
    try:
        new = tuple(map(operator.index, dims)) if isinstance(dims, (tuple, list)) else (
            operator.index(dims),)
        # NumPy checks the element count (and the one -1) in C; only its message is replaced.
        return apply(_reshape, _reshape_forward, (x,), (new,))
    except (TypeError, ValueError) as exc:
        shape_x = tuple(getattr(x, "shape", ()))
        raise type(exc)(
            f"reshape: cannot reshape a tensor of shape {shape_x} "
            f"({int(np.prod(shape_x))} elements) into shape {dims!r}: {exc}"
        ) from None


def _reshape_forward(xp: Any, x: Any, shape: tuple[int, ...]) -> Any:
    return xp.reshape(x, shape)


# ------------------------------------------------------------------------ broadcast_to
_broadcast_to = define("broadcast_to", (
    lambda xp, g, out, x, shape: unbroadcast(g, x.shape),),
    "g summed over the broadcast axes")


def _broadcast_to_forward(xp: Any, x: Any, shape: tuple[int, ...]) -> Any:
    return xp.broadcast_to(x, shape)


def broadcast_to(x: Any, shape: Any) -> Any:
    """Broadcast ``x`` to ``shape`` (a read-only view, as in NumPy).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.broadcast_to(cr.tensor([1.0, 2.0]), (3, 2)).shape
    (3, 2)
    """
    new = _shape_tuple(shape)
    xshape = tuple(getattr(x, "shape", ()))
    ok = len(new) >= len(xshape) and all(
        a == b or a == 1 for a, b in zip(xshape[::-1], new[::-1])
    )
    if not ok:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {xshape} to {new}")
    return apply(_broadcast_to, _broadcast_to_forward, (x,), (new,))


# ------------------------------------------------------------------ expand_dims, squeeze
_expand_dims = define("expand_dims", (lambda xp, g, out, x, axes: g.reshape(x.shape),),
                      "g reshaped to x's shape")


def _expand_dims_forward(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    return xp.expand_dims(x, axes)


def expand_dims(x: Any, axis: Any) -> Any:
    """Insert length-1 axes at the positions ``axis`` (int or tuple) of the result.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.expand_dims(cr.ones(3), 0).shape
    (1, 3)
    """
    ndim = len(getattr(x, "shape", ()))
    n_new = len(axis) if isinstance(axis, (tuple, list)) else 1
    axes = normalize_axis(axis, ndim + n_new, "expand_dims", tuple(getattr(x, "shape", ())))
    return apply(_expand_dims, _expand_dims_forward, (x,), (axes,))


_squeeze = define("squeeze", (lambda xp, g, out, x, axes: g.reshape(x.shape),),
                  "g reshaped to x's shape")


def _squeeze_forward(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    return xp.squeeze(x, axes)


def squeeze(x: Any, axis: Any = None) -> Any:
    """Remove length-1 axes: all of them when ``axis`` is None, else those named (int or tuple),
    which must have length 1.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.squeeze(cr.ones((1, 3, 1))).shape
    (3,)
    >>> cr.ones((1, 3, 1)).squeeze(0).shape
    (3, 1)
    """
    x = _operand(x, "squeeze")
    shape = tuple(x.shape)
    if axis is None:
        axes = tuple(i for i, n in enumerate(shape) if n == 1)
    else:
        axes = normalize_axis(axis, len(shape), "squeeze", shape)
        for a in axes:
            if shape[a] != 1:
                raise ValueError(
                    f"squeeze: cannot squeeze axis {a} of a tensor of shape {shape}: it has "
                    f"length {shape[a]}, expected 1"
                )
    return apply(_squeeze, _squeeze_forward, (x,), (axes,))


# -------------------------------------------------------- transpose, permute, swapaxes
def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


_transpose = define("transpose", (
    lambda xp, g, out, x, axes: xp.transpose(g, _inverse(axes)),),
    "g transposed back by the inverse permutation")


def _transpose_forward(xp: Any, x: Any, perm: tuple[int, ...]) -> Any:
    return xp.transpose(x, perm)


def _permutation(axes: Any, shape: tuple[int, ...], op: str) -> tuple[int, ...]:
    ndim = len(shape)
    try:
        perm = tuple(operator.index(a) for a in axes)
    except TypeError:
        raise TypeError(f"{op}: axes must be ints, got {axes!r}") from None
    if len(perm) != ndim or not all(-ndim <= a < ndim for a in perm):
        ok = False
    else:
        perm = tuple(a % ndim for a in perm)
        ok = len(set(perm)) == ndim
    if not ok:
        raise ValueError(
            f"{op}: axes {tuple(axes)} are not a permutation of the {ndim} axes of a tensor of "
            f"shape {shape}"
        )
    return perm


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None), as ``numpy.transpose``.

    The method accepts the axes as a tuple or as separate ints, like NumPy's:
    ``x.transpose()``, ``x.transpose(1, 0)``, ``x.transpose((1, 0))``; ``x.T`` reverses all axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.transpose(cr.ones((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    >>> cr.ones((2, 3)).T.shape
    (3, 2)
    """
    shape = tuple(getattr(x, "shape", ()))
    if axes is None:
        perm = tuple(range(len(shape) - 1, -1, -1))
    else:
        perm = _permutation(axes, shape, "transpose")
    return apply(_transpose, _transpose_forward, (x,), (perm,))


def permute(x: Any, *dims: Any) -> Any:
    """Permute the axes, PyTorch's spelling of :func:`transpose`: ``permute(x, 2, 0, 1)`` or
    ``x.permute((2, 0, 1))``; the result's axis ``i`` is ``x``'s axis ``dims[i]``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones((2, 3, 4)).permute(2, 0, 1).shape
    (4, 2, 3)
    """
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    shape = tuple(getattr(x, "shape", ()))
    return apply(_transpose, _transpose_forward, (x,), (_permutation(dims, shape, "permute"),))


_swapaxes = define("swapaxes", (
    lambda xp, g, out, x, a, b: xp.swapaxes(g, a, b),),
    "g with axes a and b swapped back")


def _swapaxes_forward(xp: Any, x: Any, a: int, b: int) -> Any:
    return xp.swapaxes(x, a, b)


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    """Exchange two axes, as ``numpy.swapaxes``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.swapaxes(cr.ones((2, 3, 4)), 0, -1).shape
    (4, 3, 2)
    """
    x = _operand(x, "swapaxes")
    shape = tuple(x.shape)
    a = _one_axis(axis1, len(shape), "swapaxes", shape)
    b = _one_axis(axis2, len(shape), "swapaxes", shape)
    return apply(_swapaxes, _swapaxes_forward, (x,), (a, b))


# -------------------------------------------------------------------------------- flip
_flip = define("flip", (lambda xp, g, out, x, axes: xp.flip(g, axes),),
               "g flipped back along the same axes")


def _flip_forward(xp: Any, x: Any, axes: tuple[int, ...]) -> Any:
    return xp.flip(x, axes)


def flip(x: Any, axis: Any = None) -> Any:
    """Reverse the order of elements along ``axis`` (int or tuple; all axes when None).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.flip(cr.tensor([1.0, 2.0, 3.0])).tolist()
    [3.0, 2.0, 1.0]
    """
    x = _operand(x, "flip")
    shape = tuple(x.shape)
    return apply(_flip, _flip_forward, (x,), (normalize_axis(axis, len(shape), "flip", shape),))


# ---------------------------------------------------------------- concatenate and stack
def _along(axis: int, index: Any) -> tuple[Any, ...]:
    """The index that selects ``index`` (an int or a slice) on ``axis`` and everything else."""
    return (slice(None),) * axis + (index,)


def _d_concatenate(i: int, xp: Any, g: Any, out: Any, *args: Any) -> Any:
    axis, bounds = args[-2], args[-1]
    return g[_along(axis, slice(bounds[i], bounds[i + 1]))]


def _concatenate_forward(xp: Any, *args: Any) -> Any:
    return xp.concatenate(args[:-2], axis=args[-2])


_concatenate = define("concatenate", _ByPosition(_d_concatenate),  # type: ignore[arg-type]
                      "dx_i = g[..., start_i:stop_i, ...]  (x_i's block of g along axis)")


def _operands(tensors: Any, op: str) -> tuple[tuple[Any, ...], list[tuple[int, ...]]]:
    if isinstance(tensors, (Tensor, _ndarray)) or not hasattr(tensors, "__iter__"):
        raise TypeError(
            f"{op}: expected a sequence of tensors, got a single {type(tensors).__name__} "
            f"(write {op}([a, b, ...]))"
        )
    operands = tuple(_operand(t, op) for t in tensors)
    if not operands:
        raise ValueError(f"{op}: need at least one tensor, got an empty sequence")
    return operands, [tuple(t.shape) for t in operands]


def concatenate(tensors: Any, axis: int = 0) -> Any:
    """Join tensors along an existing axis; their shapes must agree on every other axis.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.concatenate([cr.ones((2, 3)), cr.zeros((1, 3))]).shape
    (3, 3)
    """
    operands, shapes = _operands(tensors, "concatenate")
    ndim = len(shapes[0])
    if any(len(s) != ndim for s in shapes):
        raise ValueError(
            f"concatenate: all tensors must have the same number of dimensions, got shapes "
            f"{shapes}"
        )
    if ndim == 0:
        raise ValueError(
            f"concatenate: zero-dimensional tensors cannot be concatenated (shapes {shapes}); "
            "use stack"
        )
    ax = _int_axis(axis, "concatenate")
    if not -ndim <= ax < ndim:
        raise ValueError(
            f"concatenate: axis {ax} is out of bounds for tensors of shapes {shapes}; "
            f"expected -{ndim} <= axis < {ndim}"
        )
    ax %= ndim
    first = shapes[0]
    bounds = [0]
    for s in shapes:
        if s[:ax] != first[:ax] or s[ax + 1:] != first[ax + 1:]:
            raise ValueError(
                f"concatenate: shapes {shapes} must match on every axis except axis {ax}"
            )
        bounds.append(bounds[-1] + s[ax])
    return apply(_concatenate, _concatenate_forward, tuple(operands), (ax, tuple(bounds)))


def _d_stack(i: int, xp: Any, g: Any, out: Any, *args: Any) -> Any:
    return g[_along(args[-1], i)]


def _stack_forward(xp: Any, *args: Any) -> Any:
    return xp.stack(args[:-1], axis=args[-1])


_stack = define("stack", _ByPosition(_d_stack),  # type: ignore[arg-type]
                "dx_i = g[..., i, ...]  (index i of g on the new axis)")


def stack(tensors: Any, axis: int = 0) -> Any:
    """Join tensors of one shape along a new axis.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.stack([cr.ones(3), cr.zeros(3)], axis=1).shape
    (3, 2)
    """
    operands, shapes = _operands(tensors, "stack")
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"stack: all tensors must have the same shape, got shapes {shapes}")
    ndim = len(shapes[0]) + 1
    ax = _int_axis(axis, "stack")
    if not -ndim <= ax < ndim:
        raise ValueError(
            f"stack: axis {ax} is out of bounds for stacking tensors of shapes {shapes} "
            f"(result has {ndim} dimensions); expected -{ndim} <= axis < {ndim}"
        )
    return apply(_stack, _stack_forward, tuple(operands), (ax % ndim,))


# ------------------------------------------------------------------------------- split
_split = define("split", (
    lambda xp, g, out, x, index: xp.scatter_add(g, index, x.shape),),
    "g placed at the piece's slice of x, zeros elsewhere")


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
    """Split ``x`` along ``axis`` into a list of tensors, as ``numpy.split``.

    An int ``n`` gives ``n`` equal pieces (the length must divide); a sequence of indices gives
    the pieces between them. Each piece is its own node: gradients reach ``x`` from the pieces
    that are used, and the positions of unused pieces get zero.

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.tolist() for p in cr.split(cr.arange(5), [2])]
    [[0, 1], [2, 3, 4]]
    """
    x = _operand(x, "split")
    shape = tuple(x.shape)
    if not shape:
        raise ValueError("split: cannot split a zero-dimensional tensor (shape ())")
    ax = _one_axis(axis, len(shape), "split", shape)
    n = shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections <= 0 or n % sections:
            raise ValueError(
                f"split: cannot split axis {ax} (length {n}) of a tensor of shape {shape} into "
                f"{sections} equal pieces"
            )
        step = n // sections
        cuts = [step * k for k in range(sections + 1)]
    else:
        try:
            cuts = [0, *(operator.index(i) for i in indices_or_sections), n]
        except TypeError:
            raise TypeError(
                f"split: indices_or_sections must be an int or a sequence of ints, got "
                f"{indices_or_sections!r}"
            ) from None
    xd = x._data if isinstance(x, Tensor) else x
    recording = isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled)
    pieces = []
    for start, stop in zip(cuts[:-1], cuts[1:]):
        index = _along(ax, slice(start, stop))
        piece = xd[index]
        pieces.append(record(_split, piece, (xd, index), (x,)) if recording else _leaf(piece))
    return pieces


# --------------------------------------------------------------------------------- pad
_pad = define("pad", (
    lambda xp, g, out, x, widths, value: g[_interior(widths, x.shape)],),
    "g[interior]  (the padding gets no gradient)")


def _interior(widths: tuple[tuple[int, int], ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    return tuple(slice(b, b + n) for (b, _), n in zip(widths, shape))


def _pad_forward(xp: Any, x: Any, widths: tuple[tuple[int, int], ...], value: Any) -> Any:
    # NumPy reads () as a float array; a 0-d x has nothing to pad, which 0 says as well.
    return xp.pad(x, widths or 0, mode="constant", constant_values=value)


_COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
    """Pad each axis of ``x`` with ``pad_width`` values before and after it.

    ``pad_width`` takes NumPy's forms: ``n``, ``(before, after)``, one pair per axis, or a dict
    ``{axis: n or (before, after)}``.

    ``mode="constant"`` fills with ``constant_values`` and its gradient is ``g`` without the
    border. ``"edge"``, ``"reflect"``, ``"symmetric"`` and ``"wrap"`` copy elements of ``x``;
    they are computed as an index into ``x`` (a ``getitem``), so a copied element's gradient
    sums over all of its copies.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.pad(cr.tensor([1.0, 2.0]), (1, 2)).tolist()
    [0.0, 1.0, 2.0, 0.0, 0.0]
    >>> cr.pad(cr.tensor([1.0, 2.0]), 1, mode="edge").tolist()
    [1.0, 1.0, 2.0, 2.0]
    """
    x = _operand(x, "pad")
    shape = tuple(x.shape)
    if isinstance(pad_width, dict):  # NumPy 2.4's {axis: n or (before, after)}, others 0
        by_axis = [(0, 0)] * len(shape)
        for ax, w in pad_width.items():
            by_axis[_one_axis(ax, len(shape), "pad", shape)] = (w, w) if np.ndim(w) == 0 else w
        pad_width = by_axis
    try:
        widths_arr = np.broadcast_to(np.asarray(pad_width), (len(shape), 2))
    except ValueError:
        raise ValueError(
            f"pad: pad_width {pad_width!r} does not fit a tensor of shape {shape}; expected an "
            "int, a (before, after) pair or one pair per axis"
        ) from None
    if widths_arr.size and widths_arr.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be integers, got {pad_width!r}")
    if (widths_arr < 0).any():
        raise ValueError(f"pad: pad_width must be non-negative, got {pad_width!r}")
    widths = tuple((int(b), int(a)) for b, a in widths_arr)
    if mode == "constant":
        return apply(_pad, _pad_forward, (x,), (widths, raw(constant_values)))
    if mode not in _COPYING_MODES:
        raise ValueError(
            f"pad: mode {mode!r} is not supported; expected 'constant', 'edge', 'reflect', "
            "'symmetric' or 'wrap'"
        )
    try:
        source = np.pad(np.arange(int(np.prod(shape))).reshape(shape), widths or 0, mode=mode)
    except ValueError as exc:
        raise ValueError(f"pad: mode {mode!r} on a tensor of shape {shape}: {exc}") from None
    return getitem(reshape(x, -1), source)


# ---------------------------------------------------------------------------- indexing
def _index_part(i: Any) -> Any:
    if isinstance(i, Tensor):
        return i._data
    if isinstance(i, (list, tuple)):
        arr = np.asarray(i)
        # NumPy reads [] as float64; as an index it means "no elements", so make it integer.
        return arr.astype(np.intp) if arr.size == 0 and arr.dtype.kind == "f" else arr
    return i


def _brief(index: Any) -> str:
    """``repr(index)``, cut short: an error message should not print a million-entry list."""
    text = repr(index)
    return text if len(text) <= 120 else text[:117] + "..."


def _raw_index(index: Any) -> Any:
    """``index`` with Tensors and lists replaced by raw arrays (inside a tuple too)."""
    if index.__class__ is tuple:
        return tuple(_index_part(i) for i in index)
    return _index_part(index)


def _may_repeat(index: Any) -> bool:
    """Whether ``index`` can name one element twice: only integer arrays can."""
    for part in index if index.__class__ is tuple else (index,):
        dt = getattr(part, "dtype", None)
        if dt is not None and dt.kind in "iu" and part.size > 1:
            return True
    return False


def _scatter_add_raw(xp: Any, values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    z = xp.zeros(shape, dtype=values.dtype)
    if _may_repeat(index):
        xp.add.at(z, index, values)  # unbuffered: a repeated index adds every time
    else:
        z[index] = values
    return z


register_raw("scatter_add", _scatter_add_raw)

_scatter_add = define("scatter_add", (
    lambda xp, g, out, values, index, shape: g[index],),
    "g[index]")


def scatter_add(values: Any, index: Any, shape: Any) -> Any:
    """Zeros of ``shape`` with ``values`` added at ``index``; a repeated integer index adds
    every time (``numpy.add.at``). The dtype is ``values``'s. This is the gradient of
    :func:`getitem`, and :func:`getitem` is its gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.scatter_add(cr.tensor([1.0, 2.0, 3.0]), [0, 2, 0], (3,)).tolist()
    [4.0, 0.0, 2.0]
    """
    shape = _shape_tuple(shape)
    idx = _raw_index(index)
    values = _operand(values, "scatter_add")
    try:
        return apply(_scatter_add, _scatter_add_raw, (values,), (idx, shape))
    except (IndexError, ValueError) as exc:
        raise type(exc)(
            f"scatter_add: cannot add values of shape {tuple(values.shape)} at index "
            f"{_brief(index)} of a tensor of shape {shape}: {exc}"
        ) from None


_getitem = define("getitem", (
    lambda xp, g, out, x, index: xp.scatter_add(g, index, x.shape),),
    "scatter_add(g, index, x.shape): zeros of x's shape, g added at index")


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` with NumPy's indexing: ints, slices (any step), ``None``, ``...``, integer
    arrays, lists or Tensors, boolean masks, and their combinations.

    The gradient is zeros of ``x``'s shape with ``g`` added at ``index``; an element indexed
    several times gets the sum of its gradients.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> x[[0, 0, 2]].sum().backward()
    >>> x.grad
    tensor([2., 0., 1.])
    """
    xd = x._data if isinstance(x, Tensor) else _operand(x, "getitem")
    try:
        idx = _raw_index(index)
        data = xd[idx]
    except (IndexError, TypeError, ValueError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else IndexError
        raise kind(
            f"getitem: invalid index {_brief(index)} for a tensor of shape {tuple(xd.shape)}: {exc}"
        ) from None
    if isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled):
        return record(_getitem, data, (xd, idx), x)
    return _leaf(data)


# ------------------------------------------------------------- repeat, repeat_interleave
def _axis_alias(axis: Any, dim: Any, op: str) -> Any:
    if axis is not None and dim is not None and axis != dim:
        raise TypeError(f"{op}: got axis={axis!r} and dim={dim!r}; pass one of them")
    return axis if axis is not None else dim


def _d_repeat(xp: Any, g: Any, out: Any, x: Any, repeats: Any, axis: int) -> Any:
    shape = tuple(x.shape)
    if isinstance(repeats, int):  # every element r times: sum each run of r
        return g.reshape(shape[:axis] + (shape[axis], repeats) + shape[axis + 1:]).sum(
            axis=axis + 1)
    # repeats is one count per element: the output position -> the input position it copies
    ns = namespace_of(raw(x))
    source = ns.repeat(ns.arange(shape[axis]), repeats)
    return xp.scatter_add(g, _along(axis, source), shape)


def _repeat_forward(xp: Any, x: Any, repeats: Any, axis: int) -> Any:
    return xp.repeat(x, repeats, axis=axis)


_repeat = define("repeat", (_d_repeat,),
                 "dx_i = sum of g over the copies of x_i (runs of r along the axis)")


def repeat(a: Any, repeats: Any, axis: Any = None, *, dim: Any = None) -> Any:
    """Repeat each element ``repeats`` times along ``axis``, as ``numpy.repeat`` (PyTorch's
    ``repeat_interleave``); ``axis=None`` repeats the elements of the flattened tensor.
    ``repeats`` is an int or one count per element along the axis. Each element's gradient is
    the sum over its copies. ``dim=`` may stand for ``axis``.

    This function is NumPy's: ``cr.repeat(x, 2)`` gives ``[a, a, b, b]``. The method
    ``x.repeat(*sizes)`` is PyTorch's ``Tensor.repeat``, which tiles the whole tensor
    (``[a, b, a, b]``, :func:`tile`); ``x.repeat_interleave(2)`` is this function.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.repeat(cr.tensor([1.0, 2.0]), 2).tolist()
    [1.0, 1.0, 2.0, 2.0]
    >>> cr.repeat(cr.tensor([[1.0, 2.0]]), [1, 3], axis=1).tolist()
    [[1.0, 2.0, 2.0, 2.0]]
    """
    x = _operand(a, "repeat")
    ax = _axis_alias(axis, dim, "repeat")
    if ax is None:
        x = reshape(x, (-1,))
        ax = 0
    shape = tuple(x.shape)
    if not shape:
        x = reshape(x, (1,))
        shape = (1,)
    ax = _one_axis(ax, len(shape), "repeat", shape)
    reps = raw(repeats)
    if np.ndim(reps) == 0:
        try:
            reps = operator.index(reps)
        except TypeError:
            raise TypeError(f"repeat: repeats must be integers, got {repeats!r}") from None
        bad = reps < 0
    else:
        reps = np.asarray(reps)
        if reps.dtype.kind not in "iu" or reps.ndim != 1:
            raise TypeError(f"repeat: repeats must be an int or a 1-d sequence of ints, got "
                            f"{_brief(repeats)}")
        bad = bool((reps < 0).any()) or reps.shape[0] not in (1, shape[ax])
        # a tuple: hashable, and CuPy's repeat takes it where it refuses a host array
        reps = int(reps[0]) if reps.shape[0] == 1 else tuple(int(r) for r in reps)
    if bad:
        raise ValueError(
            f"repeat: repeats {_brief(repeats)} must be non-negative, one count or one per "
            f"element of axis {ax} (length {shape[ax]}) of a tensor of shape {shape}"
        )
    return apply(_repeat, _repeat_forward, (x,), (reps, ax))


def repeat_interleave(
    input: Any, repeats: Any, dim: Any = None, *, output_size: Any = None, axis: Any = None
) -> Any:
    """Repeat each element ``repeats`` times along ``dim`` (of the flattened tensor when None),
    as ``torch.repeat_interleave``; the same operation as :func:`repeat` (NumPy's name).
    ``output_size``, when given, is checked against the result's length.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0]]).repeat_interleave(2, dim=0).tolist()
    [[1.0, 2.0], [1.0, 2.0]]
    """
    out = repeat(input, repeats, _axis_alias(axis, dim, "repeat_interleave"))
    if output_size is not None:
        d = _axis_alias(axis, dim, "repeat_interleave")
        n = out.shape[0 if d is None else d]
        if n != output_size:
            raise ValueError(f"repeat_interleave: output_size={output_size} but the result has "
                             f"length {n} along the repeated dimension")
    return out


# -------------------------------------------------------------------------------- tile
def _d_tile(xp: Any, g: Any, out: Any, x: Any, reps: tuple[int, ...]) -> Any:
    # out[i * n + j] = x[j] on every axis: view each output axis as (copy, position) and sum
    # over the copies.
    d = max(len(reps), x.ndim)
    xs = (1,) * (d - x.ndim) + tuple(x.shape)
    rs = (1,) * (d - len(reps)) + reps
    split_axes = tuple(n for pair in zip(rs, xs) for n in pair)
    return g.reshape(split_axes).sum(axis=tuple(range(0, 2 * d, 2))).reshape(x.shape)


def _tile_forward(xp: Any, x: Any, reps: tuple[int, ...]) -> Any:
    return xp.tile(x, reps)


_tile = define("tile", (_d_tile,), "dx = g summed over the tiled copies")


def tile(A: Any, reps: Any = None, *, dims: Any = None) -> Any:  # noqa: N803 - NumPy's name
    """Repeat the whole tensor ``reps[i]`` times along axis ``i``, as ``numpy.tile`` and
    ``torch.tile`` (``dims=``): a shorter ``reps`` is padded with ones in front, a longer one
    adds leading axes to ``A``. The gradient sums over the copies.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tile(cr.tensor([1.0, 2.0]), 2).tolist()
    [1.0, 2.0, 1.0, 2.0]
    >>> cr.tensor([[1.0, 2.0]]).tile((2, 1)).shape
    (2, 2)
    """
    if reps is None:
        reps = dims
    x = _operand(A, "tile")
    try:
        r = tuple(operator.index(n) for n in reps) if isinstance(reps, (tuple, list)) else (
            operator.index(reps),)
    except TypeError:
        raise TypeError(f"tile: reps must be ints, got {reps!r}") from None
    if any(n < 0 for n in r):
        raise ValueError(f"tile: reps must be non-negative, got {reps!r}")
    return apply(_tile, _tile_forward, (x,), (r,))


def _repeat_method(self: Tensor, *sizes: Any) -> Any:
    """PyTorch's ``Tensor.repeat``: tile the tensor ``sizes[i]`` times along axis ``i``
    (``sizes`` as ints or one tuple, at least one per axis). Not :func:`repeat`, which is
    NumPy's element-wise repeat (``x.repeat_interleave``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0]).repeat(2).tolist()
    [1.0, 2.0, 1.0, 2.0]
    >>> cr.tensor([1.0, 2.0]).repeat(2, 1).shape
    (2, 2)
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < self.ndim:
        raise ValueError(
            f"repeat: Tensor.repeat (PyTorch's, which tiles) needs at least one size per "
            f"dimension, got {len(sizes)} sizes for a tensor of shape {self.shape} (for "
            "NumPy's element-wise repeat use repeat_interleave or cr.repeat)"
        )
    return tile(self, sizes)


_repeat_method.__name__ = "repeat"


# ------------------------------------------------------------------------- tril, triu
_tril = define("tril", (lambda xp, g, out, x, k: xp.tril(g, k),), "tril(g, k)")
_triu = define("triu", (lambda xp, g, out, x, k: xp.triu(g, k),), "triu(g, k)")


def _tri(op: str, prim: Any, x: Any, diagonal: Any, k: Any) -> Any:
    x = _operand(x, op)
    if k is not None:
        diagonal = k
    if len(x.shape) < 2:
        raise ValueError(f"{op}: needs a tensor of at least 2 dimensions, got shape "
                         f"{tuple(x.shape)}")
    kk = _int_axis(diagonal, op)
    fwd = _tril_forward if op == "tril" else _triu_forward
    return apply(prim, fwd, (x,), (kk,))


def _tril_forward(xp: Any, x: Any, k: int) -> Any:
    return xp.tril(x, k)


def _triu_forward(xp: Any, x: Any, k: int) -> Any:
    return xp.triu(x, k)


def tril(input: Any, diagonal: int = 0, *, k: Any = None) -> Any:
    """The lower triangle of the last two axes: elements above diagonal ``diagonal`` (NumPy's
    ``k``; 0 the main one, > 0 above it) set to zero, as ``torch.tril``/``numpy.tril``. The
    gradient is ``tril(g)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tril(cr.ones(2, 2)).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    return _tri("tril", _tril, input, diagonal, k)


def triu(input: Any, diagonal: int = 0, *, k: Any = None) -> Any:
    """The upper triangle of the last two axes (elements below diagonal ``diagonal`` set to
    zero), as ``torch.triu``/``numpy.triu``. The gradient is ``triu(g)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 2).triu(1).tolist()
    [[0.0, 1.0], [0.0, 0.0]]
    """
    return _tri("triu", _triu, input, diagonal, k)


# -------------------------------------------------------------------------------- roll
def _neg_shift(shift: Any) -> Any:
    return tuple(-s for s in shift) if isinstance(shift, tuple) else -shift


_roll = define("roll", (lambda xp, g, out, x, shift, axis: xp.roll(g, _neg_shift(shift), axis),),
               "roll(g, -shift, axis)")


def _roll_forward(xp: Any, x: Any, shift: Any, axis: Any) -> Any:
    return xp.roll(x, shift, axis)


def roll(
    input: Any, shifts: Any = None, dims: Any = None, *, shift: Any = None, axis: Any = None
) -> Any:
    """Shift elements along ``dims`` by ``shifts`` with wrap-around, as ``torch.roll`` and
    ``numpy.roll`` (``shift=``, ``axis=``); the flattened tensor when no axis is given. The
    gradient rolls back by ``-shifts``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.roll(cr.tensor([1.0, 2.0, 3.0]), 1).tolist()
    [3.0, 1.0, 2.0]
    """
    x = _operand(input, "roll")
    s = shift if shifts is None else shifts
    ax = _axis_alias(axis, dims, "roll")
    shape = tuple(x.shape)
    try:
        s = tuple(operator.index(v) for v in s) if isinstance(s, (tuple, list)) else (
            operator.index(s))
    except TypeError:
        raise TypeError(f"roll: shifts must be ints, got {s!r}") from None
    if ax is None:
        if isinstance(s, tuple):
            raise ValueError("roll: a tuple of shifts needs as many dims")
    else:
        if isinstance(ax, (tuple, list)):
            axes = tuple(_one_axis(a, len(shape), "roll", shape) for a in ax)
            if not isinstance(s, tuple) or len(s) != len(axes):
                raise ValueError(f"roll: shifts {s!r} and dims {ax!r} must have one shift per dim")
            ax = axes
        else:
            ax = _one_axis(ax, len(shape), "roll", shape)
            if isinstance(s, tuple):
                raise ValueError(f"roll: shifts {s!r} and dims {ax!r} must have one shift per dim")
    return apply(_roll, _roll_forward, (x,), (s, ax))


# ----------------------------------------------------------- diagonal, diag, trace
def _diagonal_index(
    x: Any, offset: int, a1: int, a2: int, length: int
) -> tuple[tuple[Any, ...], int]:
    """The index that reads the diagonal of ``x`` (on axes a1, a2; on x's device), and the
    position of the diagonal's axis in ``x[index]`` (NumPy puts it first unless a1 and a2 are
    neighbours)."""
    shape = tuple(x.shape)
    ns = namespace_of(raw(x))
    rows = ns.arange(length) + max(-offset, 0)
    cols = ns.arange(length) + max(offset, 0)
    index: list[Any] = [slice(None)] * len(shape)
    index[a1] = rows
    index[a2] = cols
    pos = min(a1, a2) if abs(a1 - a2) == 1 else 0
    return tuple(index), pos


def _d_diagonal(xp: Any, g: Any, out: Any, x: Any, offset: int, a1: int, a2: int) -> Any:
    index, pos = _diagonal_index(x, offset, a1, a2, g.shape[-1])
    return xp.scatter_add(xp.moveaxis(g, -1, pos), index, tuple(x.shape))


def _diagonal_forward(xp: Any, x: Any, offset: int, a1: int, a2: int) -> Any:
    return xp.diagonal(x, offset, a1, a2).copy()  # NumPy's is a read-only view


_diagonal = define("diagonal", (_d_diagonal,),
                   "dx = zeros(x.shape) with g placed on the diagonal")


def _diag_axes(x: Any, op: str, a1: Any, a2: Any, d1: Any, d2: Any) -> tuple[int, int]:
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ValueError(f"{op}: needs a tensor of at least 2 dimensions, got shape {shape}")
    a = _one_axis(_axis_alias(a1, d1, op) if (a1 is not None or d1 is not None) else 0,
                  len(shape), op, shape)
    b = _one_axis(_axis_alias(a2, d2, op) if (a2 is not None or d2 is not None) else 1,
                  len(shape), op, shape)
    if a == b:
        raise ValueError(f"{op}: the two axes must differ, got {a} and {b} (shape {shape})")
    return a, b


def diagonal(
    input: Any,
    offset: int = 0,
    dim1: Any = None,
    dim2: Any = None,
    *,
    axis1: Any = None,
    axis2: Any = None,
) -> Any:
    """The diagonal ``offset`` (> 0 above the main one) of the 2-d slices on axes ``dim1``,
    ``dim2`` (default 0, 1; NumPy's ``axis1``, ``axis2``), as ``numpy.diagonal`` and
    ``torch.diagonal``: those axes are removed and the diagonal becomes the last axis. The
    gradient places ``g`` on that diagonal of zeros.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.diagonal(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [1.0, 4.0]
    >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal(1).tolist()
    [2.0]
    """
    x = _operand(input, "diagonal")
    a, b = _diag_axes(x, "diagonal", axis1, axis2, dim1, dim2)
    return apply(_diagonal, _diagonal_forward, (x,), (_int_axis(offset, "diagonal"), a, b))


def _d_diag(xp: Any, g: Any, out: Any, v: Any, k: int) -> Any:
    return xp.diagonal(g, k)


def _diag_forward(xp: Any, v: Any, k: int) -> Any:
    return xp.diag(v, k)


_diag = define("diag", (_d_diag,), "dv = diagonal(g, k)")


def diag(v: Any, k: int = 0, *, diagonal: Any = None) -> Any:
    """A square matrix with the 1-d ``v`` on diagonal ``k`` (``torch.diag``'s ``diagonal``), or
    the diagonal ``k`` of a 2-d ``v``, as ``numpy.diag``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.diag(cr.tensor([1.0, 2.0])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    >>> cr.diag(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [1.0, 4.0]
    """
    x = _operand(v, "diag")
    kk = _int_axis(k if diagonal is None else diagonal, "diag")
    if len(x.shape) == 2:
        return apply(_diagonal, _diagonal_forward, (x,), (kk, 0, 1))
    if len(x.shape) != 1:
        raise ValueError(f"diag: needs a 1-d or 2-d tensor, got shape {tuple(x.shape)}")
    return apply(_diag, _diag_forward, (x,), (kk,))


def _d_trace(xp: Any, g: Any, out: Any, x: Any, offset: int, a1: int, a2: int) -> Any:
    shape = tuple(x.shape)
    n1, n2 = shape[a1], shape[a2]
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    g_diag = xp.broadcast_to(xp.expand_dims(g, -1), tuple(g.shape) + (length,))
    index, pos = _diagonal_index(x, offset, a1, a2, length)
    return xp.scatter_add(xp.moveaxis(g_diag, -1, pos), index, shape)


def _trace_forward(xp: Any, x: Any, offset: int, a1: int, a2: int) -> Any:
    return xp.trace(x, offset, a1, a2)


_trace = define("trace", (_d_trace,), "dx = g on the diagonal, 0 elsewhere")


def trace(
    input: Any,
    offset: int = 0,
    axis1: Any = None,
    axis2: Any = None,
    *,
    dim1: Any = None,
    dim2: Any = None,
) -> Any:
    """Sum of the diagonal ``offset`` of the 2-d slices on ``axis1``, ``axis2`` (default 0,
    1), as ``numpy.trace`` (``torch.trace`` for a matrix). The gradient is ``g`` on that
    diagonal.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([[1.0, 2.0], [3.0, 4.0]]).trace().item()
    5.0
    """
    x = _operand(input, "trace")
    a, b = _diag_axes(x, "trace", axis1, axis2, dim1, dim2)
    return apply(_trace, _trace_forward, (x,), (_int_axis(offset, "trace"), a, b))


# --------------------------------------------- moveaxis, rot90, flips: transposes and flips
def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """Move axes ``source`` to positions ``destination`` (ints or sequences), keeping the order
    of the others, as ``numpy.moveaxis``/``torch.movedim``; recorded as a ``transpose``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.moveaxis(cr.ones((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    x = _operand(a, "moveaxis")
    shape = tuple(x.shape)
    nd = len(shape)
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise ValueError(
            f"moveaxis: source {source!r} and destination {destination!r} must have the same "
            "number of elements"
        )
    s = [_one_axis(i, nd, "moveaxis", shape) for i in src]
    d = [_one_axis(i, nd, "moveaxis", shape) for i in dst]
    if len(set(s)) != len(s) or len(set(d)) != len(d):
        raise ValueError(f"moveaxis: repeated axis in {source!r} or {destination!r}")
    order = [n for n in range(nd) if n not in s]
    for dest, src_ax in sorted(zip(d, s)):
        order.insert(dest, src_ax)
    return apply(_transpose, _transpose_forward, (x,), (tuple(order),))


def movedim(input: Any, source: Any, destination: Any) -> Any:
    """PyTorch's name for :func:`moveaxis`.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones((2, 3, 4)).movedim((0, 1), (2, 0)).shape
    (3, 4, 2)
    """
    return moveaxis(input, source, destination)


def fliplr(m: Any) -> Any:
    """Reverse the columns (axis 1) of a tensor of at least 2 dimensions, as ``numpy.fliplr``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.fliplr(cr.tensor([[1.0, 2.0]])).tolist()
    [[2.0, 1.0]]
    """
    x = _operand(m, "fliplr")
    if len(x.shape) < 2:
        raise ValueError(f"fliplr: needs at least 2 dimensions, got shape {tuple(x.shape)}")
    return flip(x, 1)


def flipud(m: Any) -> Any:
    """Reverse the rows (axis 0) of a tensor of at least 1 dimension, as ``numpy.flipud``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.flipud(cr.tensor([1.0, 2.0])).tolist()
    [2.0, 1.0]
    """
    x = _operand(m, "flipud")
    if len(x.shape) < 1:
        raise ValueError("flipud: needs at least 1 dimension, got shape ()")
    return flip(x, 0)


def rot90(m: Any, k: int = 1, axes: Any = (0, 1), *, dims: Any = None) -> Any:
    """Rotate by 90 degrees ``k`` times in the plane of ``axes`` (PyTorch's ``dims``), from
    the first axis towards the second, as ``numpy.rot90``/``torch.rot90``: flips and
    transposes, so the gradient rotates back.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rot90(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
    [[2.0, 4.0], [1.0, 3.0]]
    """
    x = _operand(m, "rot90")
    if dims is not None:
        axes = dims
    shape = tuple(x.shape)
    if len(axes) != 2 or len(shape) < 2:
        raise ValueError(f"rot90: needs two axes of a tensor of at least 2 dimensions, got axes "
                         f"{axes!r} and shape {shape}")
    a, b = (_one_axis(i, len(shape), "rot90", shape) for i in axes)
    if a == b:
        raise ValueError(f"rot90: the two axes must differ, got {axes!r}")
    k = _int_axis(k, "rot90") % 4
    if k == 0:
        return flip(x, ())
    if k == 2:
        return flip(x, (a, b))
    perm = list(range(len(shape)))
    perm[a], perm[b] = perm[b], perm[a]
    if k == 1:
        return transpose(flip(x, b), perm)
    return flip(transpose(x, perm), b)


# ------------------------------------------------------------------ unflatten, atleast
def unflatten(input: Any, dim: Any = None, sizes: Any = None, *, axis: Any = None) -> Any:
    """Split axis ``dim`` into axes of ``sizes`` (one may be -1), as ``torch.unflatten``;
    ``axis=`` may stand for ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones((2, 6)).unflatten(1, (3, -1)).shape
    (2, 3, 2)
    """
    x = _operand(input, "unflatten")
    shape = tuple(x.shape)
    dim = _axis_alias(axis, dim, "unflatten")
    if dim is None or sizes is None:
        raise TypeError("unflatten: needs dim (or axis) and sizes")
    d = _one_axis(dim, len(shape), "unflatten", shape)
    sizes = _shape_tuple(sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    if sizes.count(-1) > 1 or (
        shape[d] != known if -1 not in sizes else (known == 0 or shape[d] % known)
    ):
        raise ValueError(
            f"unflatten: sizes {sizes} do not multiply to the length {shape[d]} of dim {d} "
            f"of a tensor of shape {shape}"
        )
    return reshape(x, shape[:d] + sizes + shape[d + 1:])


def _atleast(n: int, arys: tuple[Any, ...]) -> Any:
    op = f"atleast_{n}d"
    out = []
    for a in arys:
        x = _operand(a, op)
        s = tuple(x.shape)
        if len(s) >= n:
            out.append(x if isinstance(x, Tensor) else _leaf(x))
            continue
        if n == 1:
            new = (1,)
        elif n == 2:
            new = (1,) * (2 - len(s)) + s
        else:  # NumPy: () -> (1, 1, 1), (n,) -> (1, n, 1), (m, n) -> (m, n, 1)
            new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
        out.append(reshape(x, new))
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*arys: Any) -> Any:
    """Each input with at least 1 dimension (a 0-d one becomes shape (1,)), as
    ``numpy.atleast_1d``; one tensor for one input, else a tuple.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_1d(cr.tensor(1.0)).shape
    (1,)
    """
    return _atleast(1, arys)


def atleast_2d(*arys: Any) -> Any:
    """Each input with at least 2 dimensions (ones in front), as ``numpy.atleast_2d``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_2d(cr.ones(3)).shape
    (1, 3)
    """
    return _atleast(2, arys)


def atleast_3d(*arys: Any) -> Any:
    """Each input with at least 3 dimensions, as ``numpy.atleast_3d``: (n,) becomes (1, n, 1),
    (m, n) becomes (m, n, 1).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.atleast_3d(cr.ones((2, 3))).shape
    (2, 3, 1)
    """
    return _atleast(3, arys)


# -------------------------------------------- hstack & co: the replacements for np.r_/np.c_
def _as_tuple(x: Any) -> tuple[Any, ...]:
    return x if isinstance(x, tuple) else (x,)


def _sequence(tensors: Any, op: str) -> list[Any]:
    operands, _ = _operands(tensors, op)
    return list(operands)


def hstack(tensors: Any) -> Any:
    """Join along the second axis (the first for 1-d tensors), as ``numpy.hstack``: what
    ``np.r_[a, b]`` does for 1-d arrays.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.hstack([cr.ones(2), cr.zeros(1)]).tolist()
    [1.0, 1.0, 0.0]
    """
    ts = _as_tuple(atleast_1d(*_sequence(tensors, "hstack")))
    return concatenate(ts, axis=0 if len(ts[0].shape) == 1 else 1)


def vstack(tensors: Any) -> Any:
    """Join along the first axis, 1-d tensors as rows, as ``numpy.vstack``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.vstack([cr.ones(2), cr.zeros(2)]).shape
    (2, 2)
    """
    return concatenate(_as_tuple(atleast_2d(*_sequence(tensors, "vstack"))), axis=0)


def dstack(tensors: Any) -> Any:
    """Join along the third axis (after :func:`atleast_3d`), as ``numpy.dstack``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.dstack([cr.ones((2, 2)), cr.zeros((2, 2))]).shape
    (2, 2, 2)
    """
    return concatenate(_as_tuple(atleast_3d(*_sequence(tensors, "dstack"))), axis=2)


def column_stack(tensors: Any) -> Any:
    """Join 1-d tensors as columns (2-d ones as they are) of a matrix, as
    ``numpy.column_stack``: what ``np.c_[a, b]`` does.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.column_stack([cr.ones(3), cr.zeros(3)]).shape
    (3, 2)
    """
    ts = [reshape(t, (-1, 1)) if len(t.shape) < 2 else t
          for t in _sequence(tensors, "column_stack")]
    return concatenate(ts, axis=1)


def append(arr: Any, values: Any, axis: Any = None, *, dim: Any = None) -> Any:
    """``arr`` with ``values`` after it along ``axis``, as ``numpy.append``; both flattened
    when ``axis`` is None. ``dim=`` may stand for ``axis``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.append(cr.tensor([1.0, 2.0]), [3.0]).tolist()
    [1.0, 2.0, 3.0]
    """
    a = _operand(arr, "append")
    v = _operand(values, "append")
    axis = _axis_alias(axis, dim, "append")
    if axis is None:
        return concatenate([reshape(a, (-1,)), reshape(v, (-1,))], axis=0)
    return concatenate([a, v], axis=axis)


def meshgrid(*xi: Any, indexing: str = "xy") -> tuple[Any, ...]:
    """Coordinate grids from 1-d tensors, as ``numpy.meshgrid``: with ``indexing="xy"`` (the
    default, NumPy's) the first two outputs have shape ``(len(y), len(x), ...)``; with
    ``"ij"`` (PyTorch's recommended) shape ``(len(x), len(y), ...)``. Each grid is a reshape
    and a broadcast of its input, so its gradient sums over the broadcast axes.

    Examples
    --------
    >>> import chainrule as cr
    >>> gx, gy = cr.meshgrid(cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0, 5.0]))
    >>> gx.shape, gy.tolist()
    ((2, 3), [[4.0, 4.0, 4.0], [5.0, 5.0, 5.0]])
    """
    if len(xi) == 1 and isinstance(xi[0], (list, tuple)):
        xi = tuple(xi[0])
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    xs = [reshape(_operand(x, "meshgrid"), (-1,)) for x in xi]
    n = len(xs)
    shape = [x.shape[0] for x in xs]
    if indexing == "xy" and n > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xs):
        at = i
        if indexing == "xy" and n > 1 and i < 2:
            at = 1 - i
        view = [1] * n
        view[at] = -1
        out.append(broadcast_to(reshape(x, tuple(view)), tuple(shape)))
    return tuple(out)


TENSOR_METHODS = (
    "reshape", "broadcast_to", "expand_dims", "swapaxes", "squeeze", "flip", "repeat_interleave",
    "tile", "tril", "triu", "roll", "diagonal", "diag", "trace", "moveaxis", "movedim", "fliplr",
    "flipud", "rot90", "unflatten",
)  # fmt: skip


# --------------------------------------------------- Tensor methods that need their own shape
def _transpose_method(self: Tensor, *axes: Any) -> Any:
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(self, axes if axes else None)


_transpose_method.__name__ = "transpose"
_transpose_method.__doc__ = transpose.__doc__

Tensor.transpose = _transpose_method  # type: ignore[attr-defined]
Tensor.permute = permute  # type: ignore[attr-defined]
Tensor.repeat = _repeat_method  # type: ignore[attr-defined]


def _T(self: Tensor) -> Any:  # noqa: N802 - the property's name
    perm = tuple(range(self._data.ndim - 1, -1, -1))
    return apply(_transpose, _transpose_forward, (self,), (perm,))


Tensor.T = property(_T, doc="The tensor with its axes reversed (``transpose(x)``).")  # type: ignore
Tensor.__getitem__ = getitem  # type: ignore[attr-defined]
