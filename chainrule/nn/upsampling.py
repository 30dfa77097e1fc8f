"""Resizing as PyTorch does it: ``F.interpolate`` and the ``Upsample`` layers.

Every mode resizes each spatial axis on its own, so no new primitive is needed:

    nearest, nearest-exact     an index per output position (one ``getitem`` for all axes);
                               the gradient adds back into the sources
    linear/bilinear/trilinear  a sparse (out, in) matrix per axis with two weights a row,
                               applied by ``matmul``: ``A_h @ x @ A_w^T``
    area                       the averaging matrix of adaptive average pooling, per axis

Source coordinates follow PyTorch: ``src = (dst + 0.5) * scale - 0.5`` (clamped at 0) for
the linear modes, ``src = dst * (in - 1) / (out - 1)`` with ``align_corners=True``, and
``floor(dst * scale)`` for nearest; ``scale = 1 / scale_factor`` when a scale factor is given
(and not recomputed), else ``in / out``.

Examples
--------
>>> import chainrule as cr
>>> Upsample(scale_factor=2)(cr.zeros(1, 3, 4, 4)).shape
(1, 3, 8, 8)
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..ops.conv import _adaptive_matrix, _operand
from ..ops.define import xp_of
from ..ops.linalg import matmul
from ..ops.shape import getitem, reshape
from ..tensor import Tensor, _leaf
from .module import Module

__all__ = ["interpolate", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area")


def _nearest_index(n_in: int, n_out: int, scale: float | None, exact: bool) -> np.ndarray:
    """PyTorch's nearest source per output position. PyTorch computes it in single precision
    (``floorf(dst * scale)``), and so does this, so that sizes like 3 -> 7 agree exactly."""
    s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    dst = np.arange(n_out, dtype=np.float32)
    if exact:
        dst = dst + np.float32(0.5)
    return np.minimum(np.floor(dst * s).astype(np.int64), n_in - 1)


def _linear_matrix(
    n_in: int, n_out: int, scale: float | None, align_corners: bool, dtype: Any
) -> np.ndarray:
    """(n_out, n_in) weights of linear interpolation: row i holds ``1 - lam`` at ``i0`` and
    ``lam`` at ``i0 + 1`` (clamped to the last input)."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        s = 1.0 / scale if scale else n_in / n_out
        src = np.maximum((dst + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(src.astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    a = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(a, (rows, i0), 1.0 - lam)
    np.add.at(a, (rows, i1), lam)
    return a.astype(dtype)


def _along(x: Any, a: np.ndarray, axis: int, shape: tuple[int, ...]) -> Any:
    """``a`` (out, in) applied along spatial ``axis`` (counted from the end, -1 = last)."""
    if axis == -1:
        return matmul(x, a.T)
    lead, n = shape[:axis], shape[axis]
    rest = int(np.prod(shape[axis + 1:]))
    y = matmul(a, reshape(x, (*lead, n, rest)))
    return reshape(y, (*lead, a.shape[0], *shape[axis + 1:]))


def interpolate(
    x: Any,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
) -> Tensor:
    """Resize the spatial axes of a batch (N, C, L), (N, C, H, W) or (N, C, D, H, W), as
    PyTorch's ``F.interpolate``.

    Parameters
    ----------
    x : Tensor or array_like, floating, 3-D to 5-D
    size : int or tuple of ints, optional
        The output's spatial size. Give exactly one of ``size`` and ``scale_factor``.
    scale_factor : float or tuple of floats, optional
        Output size ``floor(in * scale_factor)``.
    mode : {'nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear', 'area'}
        ``linear`` for 3-D input, ``bilinear`` 4-D, ``trilinear`` 5-D.
    align_corners : bool, optional
        Linear modes only: map the corner pixels' centres onto each other (default False).
    recompute_scale_factor : bool, optional
        Use ``in / out`` rather than ``1 / scale_factor`` to map coordinates.

    Returns
    -------
    Tensor
        ``x``'s dtype. Differentiable in ``x`` (every mode is linear in ``x``), with second
        derivatives.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> interpolate(x, scale_factor=2, mode="bilinear")[0, 0, 0].tolist()
    [1.0, 1.25, 1.75, 2.0]
    >>> interpolate(x, size=(1, 3), mode="nearest")[0, 0].tolist()
    [[1.0, 1.0, 2.0]]
    """
    op = "interpolate"
    xd = _operand(x, op, "input")
    shape = tuple(xd.shape)
    nd = len(shape) - 2
    if not 1 <= nd <= 3:
        raise ValueError(
            f"{op}: input must be 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got "
            f"shape {shape}"
        )
    if mode not in _MODES:
        raise ValueError(
            f"{op}: mode {mode!r} is not supported; expected one of {', '.join(_MODES)}"
        )
    if mode in _LINEAR and _LINEAR[mode] != nd:
        raise ValueError(
            f"{op}: mode {mode!r} needs {_LINEAR[mode] + 2}-D input, got shape {shape} "
            f"({len(shape)}-D)"
        )
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError(
            f"{op}: align_corners can only be set with the linear modes (linear, bilinear, "
            f"trilinear), not mode {mode!r}"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    spatial = shape[2:]
    scales: tuple[float | None, ...] = (None,) * nd
    if size is not None:
        try:
            if isinstance(size, (tuple, list)):
                out = tuple(operator.index(s) for s in size)
                if len(out) != nd:
                    raise TypeError
            else:
                out = (operator.index(size),) * nd
        except TypeError:
            raise TypeError(
                f"{op}: size must be an int or a tuple of {nd} ints, got {size!r}"
            ) from None
    else:
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (
            (scale_factor,) * nd)  # fmt: skip
        if len(factors) != nd or not all(isinstance(f, (int, float)) and f > 0 for f in factors):
            raise ValueError(
                f"{op}: scale_factor must be a positive number or {nd} of them, got "
                f"{scale_factor!r}"
            )
        out = tuple(int(math.floor(n * float(f))) for n, f in zip(spatial, factors))
        if not recompute_scale_factor:
            scales = tuple(float(f) for f in factors)
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: the output size {out} must be positive (input of shape {shape})")
    t = x if isinstance(x, Tensor) else _leaf(xd)
    xp = xp_of(xd)  # the indices and matrices are made with NumPy; a GPU input needs copies
    if mode in ("nearest", "nearest-exact"):
        index: list[Any] = [slice(None), slice(None)]
        for i, (n, o, s) in enumerate(zip(spatial, out, scales)):
            src = _nearest_index(n, o, s, mode == "nearest-exact")
            index.append(xp.asarray(src.reshape((-1,) + (1,) * (nd - 1 - i))))
        return getitem(t, tuple(index))
    cur = shape
    for i, (n, o, s) in enumerate(zip(spatial, out, scales)):
        if mode == "area":
            a = _adaptive_matrix(n, o, xd.dtype)
        else:
            a = _linear_matrix(n, o, s, bool(align_corners), xd.dtype)
        if n == o and np.array_equal(a, np.eye(n)):
            continue  # this axis is unchanged
        axis = i - nd
        t = _along(t, xp.asarray(a), axis, cur)
        cur = tuple(t.shape)
    return t


class Upsample(Module):
    """Resize the spatial axes: :func:`interpolate` as a layer, with PyTorch's arguments.

    Parameters
    ----------
    size : int or tuple of ints, optional
    scale_factor : float or tuple of floats, optional
    mode : str
        ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'``, ``'bilinear'``,
        ``'trilinear'`` or ``'area'``.
    align_corners : bool, optional
    recompute_scale_factor : bool, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> up = Upsample(scale_factor=2, mode="bilinear")
    >>> up
    Upsample(scale_factor=2.0, mode='bilinear')
    >>> up(cr.zeros(1, 1, 3, 5)).shape
    (1, 1, 6, 10)
    """

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(
                f"{type(self).__name__}: mode {mode!r} is not supported; expected one of "
                f"{', '.join(_MODES)}"
            )
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x: Any) -> Tensor:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)  # fmt: skip

    def extra_repr(self) -> str:
        info = (
            f"scale_factor={self.scale_factor!r}"
            if self.scale_factor is not None
            else f"size={self.size!r}"
        )
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of images: ``Upsample(..., mode='nearest')``.

    Examples
    --------
    >>> import chainrule as cr
    >>> UpsamplingNearest2d(scale_factor=2)(cr.zeros(1, 1, 2, 3)).shape
    (1, 1, 4, 6)
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of images with ``align_corners=True`` (as PyTorch's layer).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[[[1.0, 2.0]]]])
    >>> UpsamplingBilinear2d(size=(1, 3))(x).tolist()
    [[[[1.0, 1.5, 2.0]]]]
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
