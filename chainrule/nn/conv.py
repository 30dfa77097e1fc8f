"""Convolution and pooling layers (NCHW, as in PyTorch): thin Modules over
:mod:`chainrule.ops.conv`.

Examples
--------
>>> import chainrule as cr
>>> net = cr.nn.Sequential(Conv2d(1, 4, 3, padding=1), MaxPool2d(2), AdaptiveAvgPool2d(1))
>>> net(cr.zeros(2, 1, 8, 8)).shape
(2, 4, 1, 1)
"""

from __future__ import annotations

import operator
from typing import Any

from ..ops.conv import _pair, adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d
from ..tensor import Tensor, _float_dtype, empty
from . import init
from .module import Module, Parameter

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class Conv2d(Module):
    """2-D convolution over a batch of images (N, C_in, H, W) -> (N, C_out, Ho, Wo).

    ``weight`` has shape ``(out_channels, in_channels / groups, kh, kw)`` and ``bias``
    ``(out_channels,)``; both start as U(-b, b) with ``b = 1 / sqrt(fan_in)``,
    ``fan_in = in_channels / groups * kh * kw`` (PyTorch's ``kaiming_uniform_(a=sqrt(5))``),
    weight first, from chainrule's global generator.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or pair of ints
    stride, dilation : int or pair of ints
    padding : int, pair of ints, 'same' or 'valid'
    groups : int
        Must divide both channel counts; ``groups == in_channels`` is depthwise.
    bias : bool
    padding_mode : str
        Only ``'zeros'``.
    dtype : dtype, optional
        Of the parameters (chainrule's default float dtype, float32, unless given).

    Examples
    --------
    >>> import chainrule as cr
    >>> conv = Conv2d(1, 32, 3, padding=1)
    >>> conv
    Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv(cr.zeros(2, 1, 28, 28)).shape
    (2, 32, 28, 28)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype: Any = None,
    ) -> None:
        super().__init__()
        op = "Conv2d"
        self.in_channels = operator.index(in_channels)
        self.out_channels = operator.index(out_channels)
        self.groups = operator.index(groups)
        if self.in_channels < 1 or self.out_channels < 1 or self.groups < 1:
            raise ValueError(
                f"{op}: in_channels, out_channels and groups must be positive, got "
                f"{in_channels}, {out_channels} and {groups}"
            )
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{op}: groups={self.groups} must divide in_channels={self.in_channels} and "
                f"out_channels={self.out_channels}"
            )
        if padding_mode != "zeros":
            raise ValueError(f"{op}: padding_mode {padding_mode!r} is not supported; only 'zeros'")
        self.kernel_size = _pair(kernel_size, "kernel_size", op, 1)
        self.stride = _pair(stride, "stride", op, 1)
        self.dilation = _pair(dilation, "dilation", op, 1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{op}: padding {padding!r} is not understood; expected an int, a pair of "
                    "ints, 'same' or 'valid'"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' needs stride 1, got stride {self.stride} "
                    "(as in PyTorch)"
                )
            self.padding: Any = padding
        else:
            self.padding = _pair(padding, "padding", op, 0)
        self.padding_mode = padding_mode
        dt = _float_dtype(dtype, op)
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(empty(*shape, dtype=dt))
        if bias:
            self.bias = Parameter(empty(self.out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the initial weight and bias again (PyTorch's scheme)."""
        init.reset_affine_(self.weight, self.bias)

    def forward(self, x: Any) -> Tensor:
        p = self._parameters
        return conv2d(x, p["weight"], p["bias"], self.stride, self.padding, self.dilation,
                      self.groups)

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._parameters["bias"] is None:
            s += ", bias=False"
        return s


class MaxPool2d(Module):
    """Maximum over (kh, kw) windows; the gradient goes to each window's first maximum.

    Parameters
    ----------
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size``.
    padding : int or pair of ints
        ``-inf`` padding, at most half the kernel size.
    dilation : int or pair of ints
    ceil_mode : bool
        Round the output size up.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(cr.zeros(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _pair(kernel_size, "kernel_size", "MaxPool2d", 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x: Any) -> Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """Mean over (kh, kw) windows; the gradient is spread evenly over each window.

    Parameters
    ----------
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size``.
    padding : int or pair of ints
        Zeros, at most half the kernel size.
    ceil_mode : bool
    count_include_pad : bool
        Whether padded zeros count in the divisor.
    divisor_override : int, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = AvgPool2d(2)
    >>> pool
    AvgPool2d(kernel_size=2, stride=2, padding=0)
    >>> pool(cr.ones(1, 3, 8, 8)).shape
    (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        _pair(kernel_size, "kernel_size", "AvgPool2d", 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean over the windows that divide H x W into ``output_size`` cells (PyTorch's windows).

    ``AdaptiveAvgPool2d(1)`` is global average pooling.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = AdaptiveAvgPool2d(1)
    >>> pool
    AdaptiveAvgPool2d(output_size=1)
    >>> pool(cr.ones(2, 3, 5, 5)).shape
    (2, 3, 1, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
