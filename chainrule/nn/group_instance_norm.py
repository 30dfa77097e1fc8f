"""Group and instance normalisation, as PyTorch's ``F.group_norm``/``nn.GroupNorm`` and
``F.instance_norm``/``nn.InstanceNorm1d/2d``.

Both standardise groups of values with :func:`~chainrule.nn.functional.layer_norm` (the
``standardize`` primitive, second order included) applied to a reshaped input, so they add no
rule of their own: group norm over ``(C / G) * spatial`` values per sample and group, instance
norm over the spatial values per sample and channel. The affine part is ``* weight + bias``.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np

from ..tensor import Tensor, _float_dtype, as_tensor
from .functional import layer_norm
from .module import Module, Parameter

__all__ = ["group_norm", "instance_norm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d"]


def _affine(y: Tensor, weight: Any, bias: Any, c: int, op: str) -> Tensor:
    """``y * weight + bias`` with per-channel (axis 1) vectors of length ``c``."""
    shape = (1, c) + (1,) * (y.ndim - 2)
    for v, what in ((weight, "weight"), (bias, "bias")):
        if v is not None and tuple(as_tensor(v).shape) != (c,):
            raise ValueError(
                f"{op}: {what} of shape {tuple(as_tensor(v).shape)} does not match the "
                f"input's {c} channels; expected ({c},)"
            )
    if weight is not None:
        y = y * as_tensor(weight).reshape(shape)
    if bias is not None:
        y = y + as_tensor(bias).reshape(shape)
    return y


def _check_input(x: Any, op: str) -> Tensor:
    x = as_tensor(x)
    if x.ndim < 2 or x.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected a floating input of shape (N, C, ...), got shape "
            f"{tuple(x.shape)} and dtype {x.dtype}"
        )
    return x


def group_norm(
    input: Any,  # noqa: A002 - PyTorch's name
    num_groups: int,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Standardise each sample over groups of ``C / num_groups`` channels (and all spatial
    positions), then scale and shift per channel: ``torch.nn.functional.group_norm``.

    Parameters
    ----------
    input : Tensor, shape (N, C, *)
    num_groups : int
        Divides C.
    weight, bias : Tensor of shape (C,), optional
    eps : float
        Added to the (biased) variance.

    Examples
    --------
    >>> import chainrule as cr
    >>> y = group_norm(cr.arange(8.0).reshape(1, 4, 2), 2)
    >>> [round(v, 3) for v in y[0, :2].reshape(-1).tolist()]
    [-1.342, -0.447, 0.447, 1.342]
    """
    op = "group_norm"
    x = _check_input(input, op)
    g = operator.index(num_groups)
    n, c = x.shape[0], x.shape[1]
    if g <= 0 or c % g:
        raise ValueError(
            f"{op}: num_groups={g} must be a positive divisor of the input's {c} channels "
            f"(input shape {tuple(x.shape)})"
        )
    flat = x.reshape(n, g, -1)
    y = layer_norm(flat, (flat.shape[-1],), eps=eps).reshape(x.shape)
    return _affine(y, weight, bias, c, op)


def instance_norm(
    input: Any,  # noqa: A002 - PyTorch's name
    running_mean: Any = None,
    running_var: Any = None,
    weight: Any = None,
    bias: Any = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Standardise each channel of each sample over its spatial positions, then scale and
    shift per channel: ``torch.nn.functional.instance_norm``.

    With ``use_input_stats`` (the default) the statistics are the sample's own; given
    ``running_mean``/``running_var`` (arrays of shape (C,)), they are then updated in place
    with ``momentum`` and the batch average of the per-instance mean and unbiased variance, as
    PyTorch does. With ``use_input_stats=False`` the running statistics normalise instead.

    Examples
    --------
    >>> import chainrule as cr
    >>> y = instance_norm(cr.tensor([[[1.0, 3.0], [2.0, 2.0]]]))
    >>> [round(v, 4) for v in y.reshape(-1).tolist()]
    [-1.0, 1.0, 0.0, 0.0]
    """
    op = "instance_norm"
    x = _check_input(input, op)
    if x.ndim < 3:
        raise ValueError(
            f"{op}: expected an input of shape (N, C, L) or (N, C, H, W)..., got {tuple(x.shape)}"
        )
    n, c = x.shape[0], x.shape[1]
    stats = [s for s in (running_mean, running_var) if s is not None]
    for s in stats:
        if tuple(np.shape(s)) != (c,):
            raise ValueError(
                f"{op}: running statistics of shape {tuple(np.shape(s))} do not match the "
                f"input's {c} channels"
            )
    if use_input_stats:
        flat = x.reshape(n, c, -1)
        y = layer_norm(flat, (flat.shape[-1],), eps=eps).reshape(x.shape)
        if stats:
            data = flat.detach().numpy()
            m = data.shape[-1]
            if running_mean is not None:
                rm = _buffer(running_mean, op)
                rm *= 1 - momentum
                rm += momentum * data.mean(-1).mean(0).astype(rm.dtype)
            if running_var is not None:
                if m < 2:
                    raise ValueError(
                        f"{op}: an unbiased running variance needs more than 1 value per "
                        f"channel, got input shape {tuple(x.shape)}"
                    )
                rv = _buffer(running_var, op)
                rv *= 1 - momentum
                rv += momentum * data.var(-1, ddof=1).mean(0).astype(rv.dtype)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: use_input_stats=False needs running_mean and running_var")
        shape = (1, c) + (1,) * (x.ndim - 2)
        mean = as_tensor(running_mean).detach().reshape(shape)
        var = as_tensor(running_var).detach().reshape(shape)
        y = (x - mean) / (var + eps) ** 0.5
    return _affine(y, weight, bias, c, op)


def _buffer(v: Any, op: str) -> np.ndarray:
    arr = v._data if isinstance(v, Tensor) else v
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{op}: running statistics must be arrays, got {type(v).__name__}")
    return arr


class GroupNorm(Module):
    """Group normalisation (Wu and He, 2018): :func:`group_norm` with learnable per-channel
    ``weight`` (ones) and ``bias`` (zeros) when ``affine``.

    Examples
    --------
    >>> import chainrule as cr
    >>> gn = GroupNorm(2, 4)
    >>> gn
    GroupNorm(2, 4, eps=1e-05, affine=True)
    >>> gn(cr.randn(3, 4, 5)).shape
    (3, 4, 5)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_groups = operator.index(num_groups)
        self.num_channels = operator.index(num_channels)
        if self.num_groups <= 0 or self.num_channels % self.num_groups:
            raise ValueError(
                f"GroupNorm: num_channels={self.num_channels} must be divisible by "
                f"num_groups={self.num_groups}"
            )
        self.eps = eps
        self.affine = affine
        dt = _float_dtype(dtype, "GroupNorm")
        if affine:
            self.weight = Parameter(np.ones(self.num_channels, dt))
            self.bias = Parameter(np.zeros(self.num_channels, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Any) -> Tensor:
        p = self._parameters
        return group_norm(x, self.num_groups, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(Module):
    _spatial = 1

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = operator.index(num_features)
        if not isinstance(momentum, numbers.Real) or isinstance(momentum, bool):
            raise ValueError(f"{name}: momentum must be a number, got {momentum!r}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        c, dt = self.num_features, _float_dtype(dtype, name)
        if affine:
            self.weight = Parameter(np.ones(c, dt))
            self.bias = Parameter(np.zeros(c, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dt))
            self.register_buffer("running_var", np.ones(c, dt))
            # kept for PyTorch's state dict keys; PyTorch's instance norm never counts either
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Any) -> Tensor:
        name, d = type(self).__name__, self._spatial
        x = as_tensor(x)
        if x.ndim not in (d + 1, d + 2):
            raise ValueError(
                f"{name}: expected an input with {d + 1} (unbatched) or {d + 2} dims, got shape "
                f"{tuple(x.shape)}"
            )
        batched = x.ndim == d + 2
        xb = x if batched else x.unsqueeze(0)
        if xb.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: input of shape {tuple(x.shape)} has {xb.shape[1]} channels, expected "
                f"num_features={self.num_features}"
            )
        b, p = self._buffers, self._parameters
        use_input_stats = self.training or not self.track_running_stats
        y = instance_norm(
            xb, b["running_mean"], b["running_var"], p["weight"], p["bias"],
            use_input_stats, self.momentum, self.eps,
        )  # fmt: skip
        return y if batched else y.squeeze(0)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) inputs: :func:`instance_norm`, with
    PyTorch's defaults (``affine=False``, ``track_running_stats=False``).

    Examples
    --------
    >>> import chainrule as cr
    >>> InstanceNorm1d(3, affine=True)(cr.randn(2, 3, 5)).shape
    (2, 3, 5)
    """

    _spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) inputs: :func:`instance_norm`,
    with PyTorch's defaults (``affine=False``, ``track_running_stats=False``).

    Examples
    --------
    >>> import chainrule as cr
    >>> InstanceNorm2d(3)(cr.randn(2, 3, 4, 4)).shape
    (2, 3, 4, 4)
    """

    _spatial = 2
