"""Shape primitives: they move or copy elements without changing values, so each gradient
moves the incoming gradient back (reshape back, transpose back, sum over what was broadcast).
"""

from __future__ import annotations

from typing import Any

from ..autodiff import unbroadcast
from .define import apply, define
from .reduce import normalize_axis

__all__ = ["reshape", "broadcast_to", "expand_dims", "transpose"]


def _shape_tuple(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (tuple, list)):
        return tuple(int(n) for n in shape)
    return (int(shape),)


_reshape = define("reshape", (lambda xp, g, out, x, shape: g.reshape(x.shape),),
                  "g reshaped to x's shape")


def reshape(x: Any, *shape: Any) -> Any:
    """Give ``x`` a new shape with the same number of elements (one -1 is inferred).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.reshape(cr.arange(6), (2, 3)).shape
    (2, 3)
    """
    new = _shape_tuple(shape[0]) if len(shape) == 1 else _shape_tuple(shape)
    size = x.size if hasattr(x, "size") else 1
    known = 1
    for n in new:
        if n != -1:
            known *= n
    if new.count(-1) > 1 or (new.count(-1) == 0 and known != size) or (
        new.count(-1) == 1 and (known == 0 or size % known)
    ):
        raise ValueError(
            f"reshape: cannot reshape a tensor of shape {tuple(getattr(x, 'shape', ()))} "
            f"({size} elements) into shape {new}"
        )
    return apply(_reshape, lambda xp, x, s: xp.reshape(x, s), (x,), (new,))


_broadcast_to = define("broadcast_to", (
    lambda xp, g, out, x, shape: unbroadcast(g, x.shape),),
    "g summed over the broadcast axes")


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
    return apply(_broadcast_to, lambda xp, x, s: xp.broadcast_to(x, s), (x,), (new,))


_expand_dims = define("expand_dims", (lambda xp, g, out, x, axes: g.reshape(x.shape),),
                      "g reshaped to x's shape")


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
    return apply(_expand_dims, lambda xp, x, a: xp.expand_dims(x, a), (x,), (axes,))


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


_transpose = define("transpose", (
    lambda xp, g, out, x, axes: xp.transpose(g, _inverse(axes)),),
    "g transposed back by the inverse permutation")


def transpose(x: Any, axes: Any = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None), as ``numpy.transpose``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.transpose(cr.ones((2, 3, 4)), (2, 0, 1)).shape
    (4, 2, 3)
    """
    shape = tuple(getattr(x, "shape", ()))
    ndim = len(shape)
    if axes is None:
        perm = tuple(range(ndim - 1, -1, -1))
    else:
        perm = tuple(int(a) % ndim if ndim else int(a) for a in axes)
        if sorted(perm) != list(range(ndim)):
            raise ValueError(
                f"transpose: axes {tuple(axes)} are not a permutation of the {ndim} axes of a "
                f"tensor of shape {shape}"
            )
    return apply(_transpose, lambda xp, x, p: xp.transpose(x, p), (x,), (perm,))

TENSOR_METHODS = ("reshape", "broadcast_to", "expand_dims")
