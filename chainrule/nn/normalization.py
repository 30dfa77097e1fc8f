"""Normalisation layers: LayerNorm, BatchNorm1d, BatchNorm2d (PyTorch's arguments and
semantics), over :func:`chainrule.nn.functional.layer_norm` and ``batch_norm``.

BatchNorm keeps ``running_mean``, ``running_var`` and ``num_batches_tracked`` as buffers (saved
in ``state_dict``). In training mode it normalises with the batch statistics and updates the
running ones (``momentum=None``: a cumulative average over the batches seen); in evaluation mode
it normalises with the running statistics.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np

from ..tensor import _float_dtype
from . import functional as F
from .module import Module, Parameter

__all__ = ["LayerNorm", "BatchNorm1d", "BatchNorm2d"]


class LayerNorm(Module):
    """Normalise each sample over its trailing ``normalized_shape`` axes, then scale by
    ``weight`` (ones) and shift by ``bias`` (zeros), both of shape ``normalized_shape``.

    Parameters
    ----------
    normalized_shape : int or tuple of ints
    eps : float
    elementwise_affine : bool
        Learn ``weight`` (and ``bias`` when ``bias=True``).
    bias : bool
    dtype : dtype, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> ln = LayerNorm(4)
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> ln(cr.randn(2, 3, 4)).shape
    (2, 3, 4)
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...] | list[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(operator.index(n) for n in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = _float_dtype(dtype, "LayerNorm")
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """Set the weight to ones and the bias to zeros."""
        p = self._parameters
        if p["weight"] is not None:
            p["weight"].data = np.ones_like(p["weight"]._data)
        if p["bias"] is not None:
            p["bias"].data = np.zeros_like(p["bias"]._data)

    def forward(self, x: Any) -> Any:
        p = self._parameters
        return F.layer_norm(x, self.normalized_shape, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, "
            f"bias={self._parameters['bias'] is not None}"
        )


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d: parameters, buffers, the running-average rule."""

    _expected = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = operator.index(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        c = self.num_features
        dt = _float_dtype(dtype, type(self).__name__)
        if affine:
            self.weight = Parameter(np.ones(c, dt))
            if bias:
                self.bias = Parameter(np.zeros(c, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dt))
            self.register_buffer("running_var", np.ones(c, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean to zeros, running variance to ones, batch count to zero."""
        b = self._buffers
        if b["running_mean"] is not None:
            b["running_mean"][...] = 0
            b["running_var"][...] = 1
            b["num_batches_tracked"][...] = 0

    def reset_parameters(self) -> None:
        """Reset the running statistics, the weight to ones and the bias to zeros."""
        self.reset_running_stats()
        p = self._parameters
        if p["weight"] is not None:
            p["weight"].data = np.ones_like(p["weight"]._data)
        if p["bias"] is not None:
            p["bias"].data = np.zeros_like(p["bias"]._data)

    def _check_input_dim(self, x: Any) -> None:
        raise NotImplementedError

    def forward(self, x: Any) -> Any:
        self._check_input_dim(x)
        shape = tuple(x.shape)
        if shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}: input of shape {shape} has {shape[1]} channels (axis 1), "
                f"expected num_features={self.num_features}"
            )
        b, p = self._buffers, self._parameters
        training = self.training
        factor = 0.0 if self.momentum is None else self.momentum
        count = b["num_batches_tracked"]
        counting = training and self.track_running_stats and count is not None
        if counting and self.momentum is None:  # cumulative average: batch k gets weight 1/k
            factor = 1.0 / float(count + 1)
        use_batch = training or (b["running_mean"] is None and b["running_var"] is None)
        track = not training or self.track_running_stats
        y = F.batch_norm(
            x,
            b["running_mean"] if track else None,
            b["running_var"] if track else None,
            p["weight"],
            p["bias"],
            use_batch,
            factor,
            self.eps,
        )
        if counting:  # only after batch_norm has accepted the input
            count += 1
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self._parameters['bias'] is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the batch's mean and biased
    variance while training (then ``running = (1 - momentum) * running + momentum * batch``,
    the variance unbiased), the running ones in evaluation mode.

    Examples
    --------
    >>> import chainrule as cr
    >>> bn = BatchNorm1d(3)
    >>> bn
    BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
    >>> y = bn(cr.randn(8, 3))
    >>> int(bn.num_batches_tracked)
    1
    """

    def _check_input_dim(self, x: Any) -> None:
        ndim = len(x.shape)
        if ndim not in (2, 3):
            raise ValueError(f"BatchNorm1d: expected 2D or 3D input (got {ndim}D input)")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, per channel C (statistics over N, H, W).

    Examples
    --------
    >>> import chainrule as cr
    >>> bn = BatchNorm2d(4).eval()
    >>> bn(cr.zeros(2, 4, 5, 5)).shape
    (2, 4, 5, 5)
    """

    def _check_input_dim(self, x: Any) -> None:
        ndim = len(x.shape)
        if ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (got {ndim}D input)")
