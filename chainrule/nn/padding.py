"""Padding as PyTorch spells it: ``F.pad(x, (left, right, top, bottom, ...))`` (the last axis
first) in the modes ``constant``, ``reflect``, ``replicate`` and ``circular``, and the layers
``ZeroPad2d``, ``ConstantPad2d``, ``ReflectionPad2d``, ``ReplicationPad2d``, ``CircularPad2d``
(and their 1-D and 3-D forms).

No new primitive: constant padding is :func:`chainrule.pad` (its gradient drops the border),
negative widths crop with a slice, and the copying modes index into ``x`` (NumPy's ``reflect``,
``edge`` and ``wrap``), so a copied element's gradient sums over its copies.

Examples
--------
>>> import chainrule as cr
>>> ReflectionPad2d(1)(cr.arange(4.0).reshape(1, 1, 2, 2)).shape
(1, 1, 4, 4)
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..ops.conv import _operand
from ..ops.define import xp_of
from ..ops.shape import getitem
from ..ops.shape import pad as _pad_axes
from ..tensor import Tensor, _leaf
from .module import Module

__all__ = [
    "pad", "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
    "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
    "CircularPad2d", "CircularPad3d",
]  # fmt: skip

#: PyTorch's mode names and NumPy's for the same copies.
_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: Any, pad: Any, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` axes of ``x``, as PyTorch's ``F.pad``.

    ``pad`` lists (before, after) pairs from the *last* axis backwards: ``(left, right)`` pads
    W, ``(left, right, top, bottom)`` pads W and H. Widths may differ on the two sides
    (asymmetric padding); in ``'constant'`` mode a negative width crops.

    Parameters
    ----------
    x : Tensor or array_like, floating
    pad : sequence of ints, even length, at most ``2 * x.ndim``
    mode : {'constant', 'reflect', 'replicate', 'circular'}
        ``reflect`` mirrors without repeating the edge (each width < the axis length),
        ``replicate`` repeats the edge, ``circular`` wraps around (each width <= the length).
    value : float, optional
        The fill of ``'constant'`` (default 0).

    Returns
    -------
    Tensor
        ``x``'s dtype; each padded axis grows by ``before + after``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[1.0, 2.0, 3.0]])
    >>> pad(x, (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    >>> pad(x, (1, -1), value=9.0).tolist()
    [[9.0, 1.0, 2.0]]
    """
    op = "pad"
    xd = _operand(x, op, "input")
    shape = tuple(xd.shape)
    try:
        widths = [operator.index(p) for p in pad]
    except TypeError:
        raise TypeError(f"{op}: pad must be a sequence of ints, got {pad!r}") from None
    if len(widths) % 2 or len(widths) > 2 * len(shape):
        raise ValueError(
            f"{op}: pad {tuple(widths)} must have an even length of at most 2 * {len(shape)} "
            f"(pairs for the last axes of the input of shape {shape})"
        )
    if mode not in _MODES:
        raise ValueError(
            f"{op}: mode {mode!r} is not supported; expected 'constant', 'reflect', "
            "'replicate' or 'circular'"
        )
    if mode != "constant" and value is not None:
        raise ValueError(f"{op}: mode {mode!r} takes no value (got value={value!r})")
    # widths[2i], widths[2i + 1] pad axis -1 - i.
    pairs = [(0, 0)] * len(shape)
    for i in range(len(widths) // 2):
        pairs[len(shape) - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    t = x if isinstance(x, Tensor) else _leaf(xd)
    if mode == "constant":
        if any(b < 0 or a < 0 for b, a in pairs):
            crop = tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(pairs, shape))
            if any(s.stop - s.start < 0 for s in crop):
                raise ValueError(f"{op}: pad {tuple(widths)} crops more than the input of shape "
                                 f"{shape} has")  # fmt: skip
            t = getitem(t, crop)
            pairs = [(max(b, 0), max(a, 0)) for b, a in pairs]
        if not any(b or a for b, a in pairs):
            return t
        return _pad_axes(t, tuple(pairs), constant_values=0.0 if value is None else value)
    for axis, ((b, a), n) in enumerate(zip(pairs, shape)):
        if b < 0 or a < 0:
            raise ValueError(
                f"{op}: mode {mode!r} needs non-negative widths, got pad {tuple(widths)}"
            )
        too_wide = (mode == "reflect" and max(b, a) >= n) or (
            mode == "circular" and max(b, a) > n) or (mode == "replicate" and n == 0 and b + a)
        if too_wide:
            limit = "smaller than" if mode == "reflect" else "at most"
            raise ValueError(
                f"{op}: mode {mode!r} needs each width {limit} the padded axis's length; got "
                f"({b}, {a}) for axis {axis - len(shape)} of length {n} (input of shape {shape})"
            )
    if not any(b or a for b, a in pairs):
        return t
    # One gather for all padded axes: per axis, the source of each output position (NumPy's
    # own padding of 0..n-1), broadcast against the others like numpy.ix_. A copied element's
    # gradient sums over its copies.
    xp = xp_of(xd)
    first = next(i for i, (b, a) in enumerate(pairs) if b or a)
    index: list[Any] = [slice(None)] * first
    for axis in range(first, len(shape)):
        src = np.pad(np.arange(shape[axis]), pairs[axis], mode=_MODES[mode])
        index.append(xp.asarray(src.reshape((-1,) + (1,) * (len(shape) - 1 - axis))))
    return getitem(t, tuple(index))


class _PadNd(Module):
    """A padding layer over the last ``nd`` axes; ``padding`` is an int or ``2 * nd`` ints
    (left, right, top, bottom, front, back)."""

    nd = 2
    mode = "constant"

    def __init__(self, padding: Any, value: float | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        n = 2 * self.nd
        try:
            if isinstance(padding, (tuple, list)):
                widths = tuple(operator.index(p) for p in padding)
                if len(widths) != n:
                    raise TypeError
            else:
                widths = (operator.index(padding),) * n
        except TypeError:
            raise TypeError(
                f"{name}: padding must be an int or a tuple of {n} ints, got {padding!r}"
            ) from None
        self.padding = widths
        self.value = value

    def forward(self, x: Any) -> Tensor:
        ndim = getattr(x, "ndim", None)
        if ndim not in (self.nd + 1, self.nd + 2):
            raise ValueError(
                f"{type(self).__name__}: input must be {self.nd + 1}-D or {self.nd + 2}-D, got "
                f"shape {tuple(getattr(x, 'shape', ()))}"
            )
        return pad(x, self.padding, self.mode, self.value)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding, float(value))

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_PadNd):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)


def _layer(base: type, name: str, nd: int, mode: str, doc: str) -> type:
    cls = type(name, (base,), {"nd": nd, "mode": mode, "__doc__": doc, "__module__": __name__})
    return cls


_EXAMPLE = """

    Examples
    --------
    >>> import chainrule as cr
    >>> {name}({arg}).padding
    {padding}
    """

ZeroPad1d = _layer(_ZeroPadNd, "ZeroPad1d", 1, "constant",
                   "Pad the last axis with zeros: ``F.pad(x, padding)``."
                   + _EXAMPLE.format(name="ZeroPad1d", arg="(1, 2)", padding="(1, 2)"))
ZeroPad2d = _layer(_ZeroPadNd, "ZeroPad2d", 2, "constant",
                   "Pad H and W with zeros; ``padding`` is (left, right, top, bottom)."
                   + _EXAMPLE.format(name="ZeroPad2d", arg="1", padding="(1, 1, 1, 1)"))
ZeroPad3d = _layer(_ZeroPadNd, "ZeroPad3d", 3, "constant",
                   "Pad D, H and W with zeros."
                   + _EXAMPLE.format(name="ZeroPad3d", arg="1", padding="(1, 1, 1, 1, 1, 1)"))
ConstantPad1d = _layer(_ConstantPadNd, "ConstantPad1d", 1, "constant",
                       "Pad the last axis with ``value``."
                       + _EXAMPLE.format(name="ConstantPad1d", arg="2, 0.5", padding="(2, 2)"))
ConstantPad2d = _layer(_ConstantPadNd, "ConstantPad2d", 2, "constant",
                       "Pad H and W with ``value``."
                       + _EXAMPLE.format(name="ConstantPad2d", arg="(1, 0, 2, 0), 1.0",
                                         padding="(1, 0, 2, 0)"))
ConstantPad3d = _layer(_ConstantPadNd, "ConstantPad3d", 3, "constant",
                       "Pad D, H and W with ``value``."
                       + _EXAMPLE.format(name="ConstantPad3d", arg="1, 0.0",
                                         padding="(1, 1, 1, 1, 1, 1)"))
ReflectionPad1d = _layer(_PadNd, "ReflectionPad1d", 1, "reflect",
                         "Pad the last axis with its mirror image (the edge not repeated)."
                         + _EXAMPLE.format(name="ReflectionPad1d", arg="2", padding="(2, 2)"))
ReflectionPad2d = _layer(_PadNd, "ReflectionPad2d", 2, "reflect",
                         "Pad H and W with their mirror image (the edge not repeated)."
                         + _EXAMPLE.format(name="ReflectionPad2d", arg="1",
                                           padding="(1, 1, 1, 1)"))
ReflectionPad3d = _layer(_PadNd, "ReflectionPad3d", 3, "reflect",
                         "Pad D, H and W with their mirror image."
                         + _EXAMPLE.format(name="ReflectionPad3d", arg="1",
                                           padding="(1, 1, 1, 1, 1, 1)"))
ReplicationPad1d = _layer(_PadNd, "ReplicationPad1d", 1, "replicate",
                          "Pad the last axis by repeating its edge values."
                          + _EXAMPLE.format(name="ReplicationPad1d", arg="(0, 3)",
                                            padding="(0, 3)"))
ReplicationPad2d = _layer(_PadNd, "ReplicationPad2d", 2, "replicate",
                          "Pad H and W by repeating their edge values."
                          + _EXAMPLE.format(name="ReplicationPad2d", arg="1",
                                            padding="(1, 1, 1, 1)"))
ReplicationPad3d = _layer(_PadNd, "ReplicationPad3d", 3, "replicate",
                          "Pad D, H and W by repeating their edge values."
                          + _EXAMPLE.format(name="ReplicationPad3d", arg="1",
                                            padding="(1, 1, 1, 1, 1, 1)"))
CircularPad1d = _layer(_PadNd, "CircularPad1d", 1, "circular",
                       "Pad the last axis by wrapping around (periodic)."
                       + _EXAMPLE.format(name="CircularPad1d", arg="1", padding="(1, 1)"))
CircularPad2d = _layer(_PadNd, "CircularPad2d", 2, "circular",
                       "Pad H and W by wrapping around (periodic)."
                       + _EXAMPLE.format(name="CircularPad2d", arg="1", padding="(1, 1, 1, 1)"))
CircularPad3d = _layer(_PadNd, "CircularPad3d", 3, "circular",
                       "Pad D, H and W by wrapping around (periodic)."
                       + _EXAMPLE.format(name="CircularPad3d", arg="1",
                                         padding="(1, 1, 1, 1, 1, 1)"))
