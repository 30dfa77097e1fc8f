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

from ..autodiff import state, unbroadcast
from ..backend import numpy_namespace, register_raw
from ..tensor import Tensor, _as_array, _leaf, record
from .define import apply, define, raw
from .reduce import normalize_axis

__all__ = [
    "reshape", "broadcast_to", "expand_dims", "transpose", "permute", "swapaxes", "squeeze",
    "flip", "concatenate", "stack", "split", "pad", "getitem",
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
    recording = isinstance(x, Tensor) and x._rg and state.grad_enabled
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
    if isinstance(x, Tensor) and x._rg and state.grad_enabled:
        return record(_getitem, data, (xd, idx), x)
    return _leaf(data)


TENSOR_METHODS = ("reshape", "broadcast_to", "expand_dims", "swapaxes", "squeeze", "flip")


# --------------------------------------------------- Tensor methods that need their own shape
def _transpose_method(self: Tensor, *axes: Any) -> Any:
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(self, axes if axes else None)


_transpose_method.__name__ = "transpose"
_transpose_method.__doc__ = transpose.__doc__

Tensor.transpose = _transpose_method  # type: ignore[attr-defined]
Tensor.permute = permute  # type: ignore[attr-defined]


def _T(self: Tensor) -> Any:  # noqa: N802 - the property's name
    perm = tuple(range(self._data.ndim - 1, -1, -1))
    return apply(_transpose, _transpose_forward, (self,), (perm,))


Tensor.T = property(_T, doc="The tensor with its axes reversed (``transpose(x)``).")  # type: ignore
Tensor.__getitem__ = getitem  # type: ignore[attr-defined]
