"""Adaptive pooling beyond ``adaptive_avg_pool2d``: PyTorch's ``F.adaptive_max_pool1d/2d``
(with ``return_indices``), ``F.adaptive_avg_pool1d`` and their modules.

The windows are PyTorch's, ``[floor(i * L / Lo), ceil((i + 1) * L / Lo))`` per axis (possibly
overlapping). Max pooling chooses each window's first largest element with NumPy and reads it
with the differentiable ``take_along_axis``, so the gradient goes to that element alone (as in
PyTorch) and second derivatives come from the gather's own rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops.conv import adaptive_avg_pool2d
from ..ops.indexing import take_along_axis
from ..tensor import Tensor, _leaf, as_tensor
from .module import Module

__all__ = [
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_avg_pool1d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveAvgPool1d",
]  # fmt: skip


def _sizes(output_size: Any, spatial: tuple[int, ...], op: str) -> tuple[int, ...]:
    nd = len(spatial)
    size = (output_size,) * nd if not isinstance(output_size, (tuple, list)) else output_size
    if len(size) != nd:
        raise ValueError(f"{op}: output_size must be an int or {nd} ints, got {output_size!r}")
    out = []
    for s, n in zip(size, spatial):
        if s is None:
            s = n
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"{op}: output_size entries must be ints >= 1, got {output_size!r}")
        out.append(int(s))
    return tuple(out)


def _input(x: Any, nd: int, op: str) -> tuple[Tensor, bool]:
    x = as_tensor(x)
    if x.ndim not in (nd + 1, nd + 2) or any(n == 0 for n in x.shape[-nd:]):
        raise ValueError(
            f"{op}: expected an input of shape (N, C, {', '.join('LHW'[-nd:] if nd == 1 else 'HW')}"
            f") or without N, with non-empty spatial dims, got shape {tuple(x.shape)}"
        )
    batched = x.ndim == nd + 2
    return (x if batched else x.unsqueeze(0)), batched


def _windows(n: int, m: int) -> list[tuple[int, int]]:
    return [(i * n // m, math.ceil((i + 1) * n / m)) for i in range(m)]


def _adaptive_max(x: Any, output_size: Any, return_indices: bool, nd: int, op: str) -> Any:
    xb, batched = _input(x, nd, op)
    spatial = tuple(xb.shape[2:])
    out = _sizes(output_size, spatial, op)
    data = xb.detach().numpy()
    n, c = data.shape[:2]
    idx = np.empty((n, c, *out), np.int64)
    rows = [_windows(spatial[0], out[0])]
    cols = [_windows(spatial[1], out[1])] if nd == 2 else [[(0, 1)]]
    width = spatial[1] if nd == 2 else 1
    for i, (h0, h1) in enumerate(rows[0]):
        for j, (w0, w1) in enumerate(cols[0]):
            block = data[:, :, h0:h1, w0:w1] if nd == 2 else data[:, :, h0:h1]
            k = block.reshape(n, c, -1).argmax(-1)  # first largest, NaN first as PyTorch
            if nd == 2:
                h, w = np.divmod(k, w1 - w0)
                idx[:, :, i, j] = (h0 + h) * width + w0 + w
            else:
                idx[:, :, i] = h0 + k
    values = take_along_axis(xb.reshape(n, c, -1), _leaf(idx.reshape(n, c, -1)), axis=-1)
    values = values.reshape(n, c, *out)
    indices = _leaf(idx)
    if not batched:
        values, indices = values.squeeze(0), indices.squeeze(0)
    return (values, indices) if return_indices else values


def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Largest value of each of ``output_size`` windows along L: (N, C, L) -> (N, C, Lo).

    With ``return_indices`` also the int64 positions of the chosen values in L.

    Examples
    --------
    >>> import chainrule as cr
    >>> v, i = adaptive_max_pool1d(cr.tensor([[[1.0, 5.0, 2.0, 4.0, 3.0]]]), 2, True)
    >>> v.tolist(), i.tolist()
    ([[[5.0, 4.0]]], [[[1, 3]]])
    """
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")


def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:  # noqa: A002
    """Largest value of each of the windows dividing H x W into ``output_size`` cells:
    (N, C, H, W) -> (N, C, Ho, Wo); with ``return_indices`` also the int64 flat positions
    ``h * W + w`` of the chosen values (PyTorch's, usable by ``max_unpool2d``).

    Examples
    --------
    >>> import chainrule as cr
    >>> adaptive_max_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:  # noqa: A002
    """Mean of each of ``output_size`` windows along L: (N, C, L) -> (N, C, Lo).

    Examples
    --------
    >>> import chainrule as cr
    >>> adaptive_avg_pool1d(cr.tensor([[[1.0, 2.0, 3.0, 4.0]]]), 2).tolist()
    [[[1.5, 3.5]]]
    """
    op = "adaptive_avg_pool1d"
    xb, batched = _input(input, 1, op)
    (lo,) = _sizes(output_size, tuple(xb.shape[2:]), op)
    y = adaptive_avg_pool2d(xb.unsqueeze(2), (1, lo)).squeeze(2)
    return y if batched else y.squeeze(0)


class _Adaptive(Module):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def extra_repr(self) -> str:
        s = f"output_size={self.output_size}"
        return s + (", return_indices=True" if self.return_indices else "")


class AdaptiveMaxPool1d(_Adaptive):
    """:func:`adaptive_max_pool1d` as a module.

    Examples
    --------
    >>> import chainrule as cr
    >>> AdaptiveMaxPool1d(3)(cr.randn(2, 4, 10)).shape
    (2, 4, 3)
    """

    def forward(self, x: Any) -> Any:
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool2d(_Adaptive):
    """:func:`adaptive_max_pool2d` as a module.

    Examples
    --------
    >>> import chainrule as cr
    >>> AdaptiveMaxPool2d((2, None))(cr.randn(2, 4, 5, 6)).shape
    (2, 4, 2, 6)
    """

    def forward(self, x: Any) -> Any:
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


class AdaptiveAvgPool1d(Module):
    """:func:`adaptive_avg_pool1d` as a module.

    Examples
    --------
    >>> import chainrule as cr
    >>> AdaptiveAvgPool1d(1)(cr.ones(2, 3, 7)).shape
    (2, 3, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return adaptive_avg_pool1d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
