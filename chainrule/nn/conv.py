"""Convolution and pooling layers (NCL, NCHW, NCDHW, as in PyTorch): thin Modules over
:mod:`chainrule.ops.conv`, with PyTorch's argument names, parameter layouts (weights
``(out, in / groups, *k)``, transposed ``(in, out / groups, *k)``), initialisation and reprs.

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

from ..ops.conv import (
    _ntuple,
    _pair,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool2d,
    pixel_shuffle,
    pixel_unshuffle,
    unfold,
)
from ..tensor import Tensor, _float_dtype, empty
from . import init
from .module import Module, Parameter

__all__ = [
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool2d", "MaxUnpool2d", "Unfold", "Fold", "PixelShuffle", "PixelUnshuffle",
]  # fmt: skip


def _tuple(value: Any, nd: int, name: str, op: str, low: int) -> tuple[int, ...]:
    return _pair(value, name, op, low) if nd == 2 else _ntuple(value, nd, name, op, low)


def _channels(op: str, in_channels: int, out_channels: int, groups: int) -> tuple[int, int, int]:
    c, o, g = operator.index(in_channels), operator.index(out_channels), operator.index(groups)
    if c < 1 or o < 1 or g < 1:
        raise ValueError(
            f"{op}: in_channels, out_channels and groups must be positive, got "
            f"{in_channels}, {out_channels} and {groups}"
        )
    if c % g or o % g:
        raise ValueError(
            f"{op}: groups={g} must divide in_channels={c} and out_channels={o}"
        )
    return c, o, g


class _ConvNd(Module):
    """The parameters, initialisation and repr shared by the convolution layers; a subclass
    sets ``nd`` and ``function`` (the functional form it calls)."""

    nd = 2
    transposed = False
    function: Any = None  # conv1d, conv2d or conv3d

    def forward(self, x: Any) -> Tensor:
        p = self._parameters
        x, padding = self._padded(x)
        return self.function(x, p["weight"], p["bias"], self.stride, padding, self.dilation,
                             self.groups)  # fmt: skip

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        dtype: Any,
        output_padding: Any = 0,
    ) -> None:
        super().__init__()
        op, nd = type(self).__name__, self.nd
        self.in_channels, self.out_channels, self.groups = _channels(
            op, in_channels, out_channels, groups
        )
        modes = ("zeros",) if self.transposed else ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in modes:
            raise ValueError(
                f"{op}: padding_mode {padding_mode!r} is not supported; expected one of "
                f"{list(modes)}"
            )
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size", op, 1)
        self.stride = _tuple(stride, nd, "stride", op, 1)
        self.dilation = _tuple(dilation, nd, "dilation", op, 1)
        if isinstance(padding, str) and not self.transposed:
            if padding not in ("same", "valid"):
                kinds = "a pair of ints" if nd == 2 else f"a tuple of {nd} ints"
                raise ValueError(
                    f"{op}: padding {padding!r} is not understood; expected an int, {kinds}, "
                    "'same' or 'valid'"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(
                    f"{op}: padding='same' needs stride 1, got stride {self.stride} "
                    "(as in PyTorch)"
                )
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, nd, "padding", op, 0)
        self.output_padding = _tuple(output_padding, nd, "output_padding", op, 0)
        if self.transposed and any(
            q >= max(s, d) for q, s, d in zip(self.output_padding, self.stride, self.dilation)
        ):
            raise ValueError(
                f"{op}: output_padding {self.output_padding} must be smaller than stride "
                f"{self.stride} or dilation {self.dilation}"
            )
        self.padding_mode = padding_mode
        dt = _float_dtype(dtype, op)
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
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

    def _padded(self, x: Any) -> tuple[Any, Any]:
        """The input and the padding to convolve it with: for a padding_mode other than
        'zeros', the input padded by ``F.pad`` in that mode and no padding left (PyTorch's)."""
        if self.padding_mode == "zeros" or self.padding == "valid":
            return x, self.padding
        from .padding import pad

        if self.padding == "same":
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            amounts = [(t // 2, t - t // 2) for t in total]
        else:
            amounts = [(q, q) for q in self.padding]
        widths = [w for pair in reversed(amounts) for w in pair]  # last dim first, as F.pad
        return pad(x, widths, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        nd = self.nd
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._parameters["bias"] is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over a batch of sequences (N, C_in, L) -> (N, C_out, Lo).

    ``weight`` has shape ``(out_channels, in_channels / groups, k)``, ``bias``
    ``(out_channels,)``; both U(-b, b), ``b = 1 / sqrt(in_channels / groups * k)`` (PyTorch's
    initialisation), from chainrule's global generator. See :func:`chainrule.ops.conv.conv1d`.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, dilation : int or tuple of one int
    padding : int, tuple of one int, 'same' or 'valid'
    groups : int
    bias : bool
    padding_mode : str
        ``'zeros'`` (default), ``'reflect'``, ``'replicate'`` or ``'circular'`` (F.pad's modes).
    dtype : dtype, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> conv = Conv1d(4, 8, 3, padding=1)
    >>> conv
    Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=(1,))
    >>> conv(cr.zeros(2, 4, 10)).shape
    (2, 8, 10)
    """

    nd = 1
    function = staticmethod(conv1d)

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
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)  # fmt: skip



class Conv2d(_ConvNd):
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
        ``'zeros'`` (default), ``'reflect'``, ``'replicate'`` or ``'circular'`` (F.pad's modes).
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

    nd = 2
    function = staticmethod(conv2d)

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
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)  # fmt: skip



class Conv3d(_ConvNd):
    """3-D convolution over a batch of volumes (N, C_in, D, H, W) -> (N, C_out, Do, Ho, Wo).

    ``weight`` has shape ``(out_channels, in_channels / groups, kd, kh, kw)``; initialised as
    :class:`Conv2d`'s (PyTorch's scheme). See :func:`chainrule.ops.conv.conv3d`.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, dilation : int or tuple of three ints
    padding : int, tuple of three ints, 'same' or 'valid'
    groups : int
    bias : bool
    padding_mode : str
        ``'zeros'`` (default), ``'reflect'``, ``'replicate'`` or ``'circular'`` (F.pad's modes).
    dtype : dtype, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> conv = Conv3d(2, 4, 3, stride=2)
    >>> conv
    Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(2, 2, 2))
    >>> conv(cr.zeros(1, 2, 7, 7, 7)).shape
    (1, 4, 3, 3, 3)
    """

    nd = 3
    function = staticmethod(conv3d)

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
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype)  # fmt: skip



class _ConvTransposeNd(_ConvNd):
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype, output_padding)  # fmt: skip

    def _output_padding(self, x: Any, output_size: Any) -> tuple[int, ...]:
        """PyTorch's ``output_size``: the output_padding that gives that size."""
        if output_size is None:
            return self.output_padding
        op, nd = type(self).__name__, self.nd
        size = tuple(output_size)[-nd:]
        shape = tuple(x.shape)
        pads = []
        for i in range(nd):
            low = ((shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                   + self.dilation[i] * (self.kernel_size[i] - 1) + 1)  # fmt: skip
            if not low <= size[i] < low + self.stride[i]:
                raise ValueError(
                    f"{op}: output_size {tuple(output_size)} is not reachable from input of "
                    f"shape {shape}: size {i} must lie in [{low}, {low + self.stride[i] - 1}]"
                )
            pads.append(size[i] - low)
        return tuple(pads)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution (N, C_in, L) -> (N, C_out, Lo), as PyTorch's.

    ``weight`` has PyTorch's transposed layout ``(in_channels, out_channels / groups, k)``;
    U(-b, b) with ``b = 1 / sqrt(out_channels / groups * k)`` (PyTorch's initialisation, whose
    fan-in is computed on this layout). ``forward(x, output_size=None)`` can pick the output
    length among those ``output_padding`` reaches. See
    :func:`chainrule.ops.conv.conv_transpose1d`.

    Examples
    --------
    >>> import chainrule as cr
    >>> up = ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1)
    >>> up
    ConvTranspose1d(4, 2, kernel_size=(3,), stride=(2,), padding=(1,), output_padding=(1,))
    >>> up(cr.zeros(1, 4, 5)).shape
    (1, 2, 10)
    """

    nd = 1

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        p = self._parameters
        return conv_transpose1d(x, p["weight"], p["bias"], self.stride, self.padding,
                                self._output_padding(x, output_size), self.groups,
                                self.dilation)  # fmt: skip


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (N, C_in, H, W) -> (N, C_out, Ho, Wo), as PyTorch's.

    ``weight`` has PyTorch's transposed layout ``(in_channels, out_channels / groups, kh,
    kw)``; U(-b, b) with ``b = 1 / sqrt(out_channels / groups * kh * kw)``.
    ``forward(x, output_size=None)`` can pick the output size among those ``output_padding``
    reaches. See :func:`chainrule.ops.conv.conv_transpose2d`.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, output_padding, dilation : int or pair of ints
    groups : int
    bias : bool
    dilation : int or pair of ints
    padding_mode : str
        Only ``'zeros'``.
    dtype : dtype, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> up = ConvTranspose2d(8, 4, 2, stride=2)
    >>> up
    ConvTranspose2d(8, 4, kernel_size=(2, 2), stride=(2, 2))
    >>> up(cr.zeros(1, 8, 5, 5)).shape
    (1, 4, 10, 10)
    """

    nd = 2

    def forward(self, x: Any, output_size: Any = None) -> Tensor:
        p = self._parameters
        return conv_transpose2d(x, p["weight"], p["bias"], self.stride, self.padding,
                                self._output_padding(x, output_size), self.groups,
                                self.dilation)  # fmt: skip


class _MaxPoolNd(Module):
    nd = 2

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _tuple(kernel_size, self.nd, "kernel_size", type(self).__name__, 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """Maximum over windows of a sequence (N, C, L); see :func:`chainrule.ops.conv.max_pool1d`.

    With ``return_indices=True`` the forward also returns each maximum's position.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = MaxPool1d(3, stride=2)
    >>> pool
    MaxPool1d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(cr.zeros(1, 2, 9)).shape
    (1, 2, 4)
    """

    nd = 1

    def forward(self, x: Any) -> Any:
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)  # fmt: skip


class MaxPool2d(_MaxPoolNd):
    """Maximum over (kh, kw) windows; the gradient goes to each window's first maximum.

    Parameters
    ----------
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size``.
    padding : int or pair of ints
        ``-inf`` padding, at most half the kernel size.
    dilation : int or pair of ints
    return_indices : bool
        Also return the flat index of each maximum (for :class:`MaxUnpool2d`).
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

    nd = 2

    def forward(self, x: Any) -> Any:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)  # fmt: skip


class MaxPool3d(_MaxPoolNd):
    """Maximum over (kd, kh, kw) boxes of a volume (N, C, D, H, W); see
    :func:`chainrule.ops.conv.max_pool3d` (``return_indices`` is not supported).

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = MaxPool3d(2)
    >>> pool
    MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool(cr.zeros(1, 2, 4, 6, 6)).shape
    (1, 2, 2, 3, 3)
    """

    nd = 3

    def forward(self, x: Any) -> Tensor:
        return max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                          self.ceil_mode, self.return_indices)  # fmt: skip


class AvgPool1d(Module):
    """Mean over windows of a sequence (N, C, L); see :func:`chainrule.ops.conv.avg_pool1d`.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = AvgPool1d(3, stride=2)
    >>> pool
    AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))
    >>> pool(cr.ones(1, 2, 9)).shape
    (1, 2, 4)
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        op = "AvgPool1d"
        # PyTorch keeps these as 1-tuples, and shows them so.
        self.kernel_size = _ntuple(kernel_size, 1, "kernel_size", op, 1)
        self.stride = self.kernel_size if stride is None else _ntuple(stride, 1, "stride", op, 1)
        self.padding = _ntuple(padding, 1, "padding", op, 0)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> Tensor:
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)  # fmt: skip

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolNd(Module):
    nd = 2

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
        _tuple(kernel_size, self.nd, "kernel_size", type(self).__name__, 1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(_AvgPoolNd):
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

    nd = 2

    def forward(self, x: Any) -> Tensor:
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)


class AvgPool3d(_AvgPoolNd):
    """Mean over (kd, kh, kw) boxes of a volume; see :func:`chainrule.ops.conv.avg_pool3d`.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool = AvgPool3d(2, stride=1)
    >>> pool
    AvgPool3d(kernel_size=2, stride=1, padding=0)
    >>> pool(cr.ones(1, 1, 3, 3, 3)).shape
    (1, 1, 2, 2, 2)
    """

    nd = 3

    def forward(self, x: Any) -> Tensor:
        return avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override)  # fmt: skip


class MaxUnpool2d(Module):
    """Put each maximum back where :class:`MaxPool2d` found it (zeros elsewhere);
    ``forward(x, indices, output_size=None)``. See :func:`chainrule.ops.conv.max_unpool2d`.

    Examples
    --------
    >>> import chainrule as cr
    >>> pool, unpool = MaxPool2d(2, return_indices=True), MaxUnpool2d(2)
    >>> unpool
    MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))
    >>> out, idx = pool(cr.ones(1, 1, 4, 4))
    >>> unpool(out, idx).shape
    (1, 1, 4, 4)
    """

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        op = "MaxUnpool2d"
        self.kernel_size = _pair(kernel_size, "kernel_size", op, 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", op, 1)
        self.padding = _pair(padding, "padding", op, 0)

    def forward(self, x: Any, indices: Any, output_size: Any = None) -> Tensor:
        return max_unpool2d(x, indices, self.kernel_size, self.stride, self.padding,
                            output_size)  # fmt: skip

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


class Unfold(Module):
    """Sliding windows as columns (im2col): (N, C, H, W) -> (N, C*kh*kw, L). See
    :func:`chainrule.ops.conv.unfold`.

    Examples
    --------
    >>> import chainrule as cr
    >>> Unfold(kernel_size=(2, 3))
    Unfold(kernel_size=(2, 3), dilation=1, padding=0, stride=1)
    >>> Unfold(2)(cr.zeros(1, 3, 4, 4)).shape
    (1, 12, 9)
    """

    def __init__(
        self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Any) -> Tensor:
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
            f"stride={self.stride}"
        )


class Fold(Module):
    """Columns summed back into images (col2im): (N, C*kh*kw, L) -> (N, C, H, W). See
    :func:`chainrule.ops.conv.fold`.

    Examples
    --------
    >>> import chainrule as cr
    >>> Fold(output_size=(4, 5), kernel_size=(2, 2))
    Fold(output_size=(4, 5), kernel_size=(2, 2), dilation=1, padding=0, stride=1)
    >>> Fold((4, 4), 2)(cr.zeros(1, 12, 9)).shape
    (1, 3, 4, 4)
    """

    def __init__(
        self,
        output_size: Any,
        kernel_size: Any,
        dilation: Any = 1,
        padding: Any = 0,
        stride: Any = 1,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, x: Any) -> Tensor:
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                    self.stride)  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r); see :func:`chainrule.ops.conv.pixel_shuffle`.

    Examples
    --------
    >>> import chainrule as cr
    >>> PixelShuffle(3)
    PixelShuffle(upscale_factor=3)
    >>> PixelShuffle(3)(cr.zeros(1, 9, 4, 4)).shape
    (1, 1, 12, 12)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = operator.index(upscale_factor)

    def forward(self, x: Any) -> Tensor:
        return pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W); see :func:`chainrule.ops.conv.pixel_unshuffle`.

    Examples
    --------
    >>> import chainrule as cr
    >>> PixelUnshuffle(2)
    PixelUnshuffle(downscale_factor=2)
    >>> PixelUnshuffle(2)(cr.zeros(1, 1, 4, 4)).shape
    (1, 4, 2, 2)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = operator.index(downscale_factor)

    def forward(self, x: Any) -> Tensor:
        return pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
