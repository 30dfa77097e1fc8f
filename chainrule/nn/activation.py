"""Activations and similarity functions: functional forms (``F.silu``, ``F.normalize``...) and
their Modules (``nn.SiLU``, ``nn.PReLU``...), with PyTorch's names, arguments and defaults.

The elementwise activations are primitives of :mod:`chainrule.ops.activation` (forward and
gradient side by side, shown by ``cr.explain``); ``softmin``, ``glu``, ``softplus(beta,
threshold)`` and the similarities are compositions of primitives, so their first and second
derivatives come from the chain rule. ``inplace=True`` is accepted for PyTorch compatibility;
the result is always a new tensor.

Examples
--------
>>> import chainrule as cr
>>> [round(v, 4) for v in silu(cr.tensor([-1.0, 1.0])).tolist()]
[-0.2689, 0.7311]
>>> Hardtanh(-2.0, 2.0)(cr.tensor([-3.0, 1.0])).tolist()
[-2.0, 1.0]
"""

from __future__ import annotations

import numbers
import operator
import warnings
from typing import Any

import numpy as np

from .. import ops
from ..ops import activation as _act
from ..ops.define import raw
from ..tensor import Tensor, _as_array, _float_dtype, _leaf, full
from .module import Module, Parameter

__all__ = [
    "silu", "swish", "mish", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid",
    "hardswish", "softsign", "softmin", "logsigmoid", "glu", "prelu", "softplus",
    "normalize", "cosine_similarity", "pairwise_distance",
    "SiLU", "Mish", "ELU", "SELU", "CELU", "Hardtanh", "ReLU6", "Hardsigmoid", "Hardswish",
    "Softsign", "Softmin", "LogSigmoid", "GLU", "PReLU", "Softplus", "CosineSimilarity",
    "PairwiseDistance",
]  # fmt: skip


def _tensor(x: Any, op: str) -> Tensor:
    """``x`` as a Tensor (arrays and lists become leaves with chainrule's dtype rules)."""
    if isinstance(x, Tensor):
        return x
    return _leaf(_as_array(raw(x), None, op))


def _dim(dim: Any, ndim: int, op: str) -> int:
    """``dim`` as a non-negative axis of an ``ndim``-D input, or a clear error."""
    try:
        d = operator.index(dim)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int, got {dim!r}") from None
    if not -max(ndim, 1) <= d < max(ndim, 1):
        raise IndexError(
            f"{op}: dim {d} is out of range for an input with {ndim} dimensions "
            f"(expected {-max(ndim, 1)} <= dim < {max(ndim, 1)})"
        )
    return d % max(ndim, 1)


# ------------------------------------------------------------------ functional forms
def silu(input: Any, inplace: bool = False) -> Tensor:
    """Sigmoid linear unit (swish), ``x * sigmoid(x)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(silu(cr.tensor(1.0)).item(), 6)
    0.731059
    """
    return _act.silu(input)


swish = silu


def mish(input: Any, inplace: bool = False) -> Tensor:
    """``x * tanh(softplus(x))``.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(mish(cr.tensor(1.0)).item(), 6)
    0.865098
    """
    return _act.mish(input)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, ``alpha (exp(x) - 1)`` elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in elu(cr.tensor([-1.0, 2.0]), alpha=2.0).tolist()]
    [-1.2642, 2.0]
    """
    return _act.elu(input, alpha)


def selu(input: Any, inplace: bool = False) -> Tensor:
    """``scale * elu(x, alpha)`` with alpha = 1.6733 and scale = 1.0507 (self-normalising).

    Examples
    --------
    >>> import chainrule as cr
    >>> round(selu(cr.tensor(1.0)).item(), 4)
    1.0507
    """
    return _act.selu(input)


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, ``alpha (exp(x / alpha) - 1)`` elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(celu(cr.tensor(-1.0)).item(), 4)
    -0.6321
    """
    return _act.celu(input, alpha)


def hardtanh(
    input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """``x`` clipped to ``[min_val, max_val]``; the gradient is 1 strictly inside, else 0.

    Examples
    --------
    >>> import chainrule as cr
    >>> hardtanh(cr.tensor([-3.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    return _act.hardtanh(input, min_val, max_val)


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> relu6(cr.tensor([-1.0, 7.0])).tolist()
    [0.0, 6.0]
    """
    return _act.relu6(input)


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``, a piecewise-linear sigmoid.

    Examples
    --------
    >>> import chainrule as cr
    >>> hardsigmoid(cr.tensor([-4.0, 0.0, 4.0])).tolist()
    [0.0, 0.5, 1.0]
    """
    return _act.hardsigmoid(input)


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """``x * relu6(x + 3) / 6``.

    Examples
    --------
    >>> import chainrule as cr
    >>> hardswish(cr.tensor([-4.0, 1.5, 4.0])).tolist()
    [-0.0, 1.125, 4.0]
    """
    return _act.hardswish(input)


def softsign(input: Any) -> Tensor:
    """``x / (1 + |x|)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> softsign(cr.tensor([-1.0, 3.0])).tolist()
    [-0.5, 0.75]
    """
    return _act.softsign(input)


def logsigmoid(input: Any) -> Tensor:
    """``log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|))``, exact for large ``|x|``.

    Examples
    --------
    >>> import chainrule as cr
    >>> logsigmoid(cr.tensor([-1e4, 0.0])).tolist()[0]
    -10000.0
    """
    return ops.log_sigmoid(input)


def softmin(input: Any, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``softmax(-x)`` along ``dim``.

    With ``dim=None`` PyTorch's deprecated implicit choice is made (axis 0 for 0-, 1- and 3-D
    inputs, else axis 1), with a warning.

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in softmin(cr.tensor([0.0, 1.0]), dim=0).tolist()]
    [0.7311, 0.2689]
    """
    x = _tensor(input, "softmin")
    if dim is None:
        warnings.warn(
            "softmin: implicit dimension choice has been deprecated; pass dim=X "
            "(e.g. dim=-1 for the last axis)",
            UserWarning,
            stacklevel=2,
        )
        dim = 0 if x.ndim in (0, 1, 3) else 1
    if dtype is not None:
        x = ops.astype(x, dtype)
    return ops.softmax(-x, dim)


def glu(input: Any, dim: int = -1) -> Tensor:
    """Gated linear unit: split ``input`` in halves ``a, b`` along ``dim``; ``a * sigmoid(b)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> glu(cr.tensor([[2.0, 0.0]])).tolist()
    [[1.0]]
    """
    x = _tensor(input, "glu")
    shape = tuple(x.shape)
    if not shape:
        raise ValueError("glu: a 0-d input has no dimension to halve")
    d = _dim(dim, len(shape), "glu")
    if shape[d] % 2:
        raise ValueError(
            f"glu: halving dimension must be even, but dimension {d} of the input of shape "
            f"{shape} has size {shape[d]}"
        )
    a, b = ops.split(x, 2, axis=d)
    return a * ops.sigmoid(b)


def prelu(input: Any, weight: Any) -> Tensor:
    """``x`` where positive, ``weight * x`` elsewhere, with one learnable slope for all
    elements (``weight`` of size 1) or one per channel (size C, the channel axis is 1).

    Examples
    --------
    >>> import chainrule as cr
    >>> prelu(cr.tensor([[-2.0, -4.0]]), cr.tensor([0.5, 0.25])).tolist()
    [[-1.0, -1.0]]
    """
    x = _tensor(input, "prelu")
    w = _tensor(weight, "prelu")
    xs, ws = tuple(x.shape), tuple(w.shape)
    channels = xs[1] if len(xs) >= 2 else 1
    if len(ws) > 1 or w.size not in (1, channels):
        raise ValueError(
            f"prelu: weight of shape {ws} does not fit an input of shape {xs} (dtype "
            f"{x.dtype}); expected a 1-D weight with 1 element or {channels} (the input's "
            "channels, axis 1)"
        )
    if w.size == 1:
        w = ops.reshape(w, ())
    elif len(xs) > 2:
        w = ops.reshape(w, (channels,) + (1,) * (len(xs) - 2))
    return _act.prelu(x, w)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold`` (where
    the two agree to float precision), as PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in softplus(cr.tensor([0.0, 30.0]), beta=2.0).tolist()]
    [0.3466, 30.0]
    """
    beta, threshold = float(beta), float(threshold)
    if beta == 0:
        raise ValueError("softplus: beta must not be 0 (it divides the result)")
    x = _tensor(input, "softplus")
    bx = x if beta == 1 else x * beta
    sp = ops.softplus(bx)
    if beta != 1:
        sp = sp / beta
    return ops.where(bx > threshold, x, sp)


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim`` (unit vectors; zero vectors stay zero).

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in normalize(cr.tensor([[3.0, 4.0]]))[0].tolist()]
    [0.6, 0.8]
    """
    x = _tensor(input, "normalize")
    d = _dim(dim, x.ndim, "normalize")
    n = ops.norm(x, ord=float(p), axis=d, keepdims=True)
    return x / ops.clip(n, float(eps), None)


def _clamped_norm(x: Tensor, dim: int, eps: float) -> Tensor:
    """``||x||_2`` along ``dim`` (kept) raised to at least ``eps`` without a gradient through
    the clamp, as PyTorch's cosine_similarity does (it clamps in place under no_grad)."""
    n = ops.norm(x, axis=dim, keepdims=True)
    nd = n._data
    lift = np.maximum(nd, eps) - nd if nd.__class__ is np.ndarray else nd.clip(eps, None) - nd
    return n + lift


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2) / (max(||x1||, eps) max(||x2||, eps))`` along ``dim``, the inputs
    broadcast together first.

    Examples
    --------
    >>> import chainrule as cr
    >>> cosine_similarity(cr.tensor([[1.0, 0.0]]), cr.tensor([[2.0, 2.0]])).tolist()
    [0.7071067690849304]
    """
    op = "cosine_similarity"
    a, b = _tensor(x1, op), _tensor(x2, op)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op}: inputs of shapes {a.shape} and {b.shape} (dtypes {a.dtype}, {b.dtype}) "
            "cannot be broadcast together"
        ) from None
    if a.shape != shape:
        a = ops.broadcast_to(a, shape)
    if b.shape != shape:
        b = ops.broadcast_to(b, shape)
    d = _dim(dim, len(shape), op)
    eps = float(eps)
    return ((a / _clamped_norm(a, d, eps)) * (b / _clamped_norm(b, d, eps))).sum(axis=d)


def pairwise_distance(
    x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> Tensor:
    """``||x1 - x2 + eps||_p`` along the last axis (the inputs broadcast), as PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> pairwise_distance(cr.tensor([[3.0, 0.0]]), cr.tensor([[0.0, 4.0]]), eps=0.0).tolist()
    [5.0]
    """
    op = "pairwise_distance"
    a, b = _tensor(x1, op), _tensor(x2, op)
    try:
        diff = a - b + float(eps)
    except ValueError:
        raise ValueError(
            f"{op}: inputs of shapes {a.shape} and {b.shape} (dtypes {a.dtype}, {b.dtype}) "
            "cannot be broadcast together"
        ) from None
    if diff.ndim == 0:
        raise ValueError(f"{op}: inputs must have at least one dimension, got shape ()")
    return ops.norm(diff, ord=float(p), axis=-1, keepdims=bool(keepdim))


# --------------------------------------------------------------------------- Modules
class _Elementwise(Module):
    """An activation without parameters; ``inplace`` is kept for ``repr`` only."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_Elementwise):
    """:func:`silu`, ``x * sigmoid(x)``, as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(SiLU()(cr.tensor(1.0)).item(), 4)
    0.7311
    """

    def forward(self, input: Any) -> Tensor:
        return _act.silu(input)


class Mish(_Elementwise):
    """:func:`mish`, ``x * tanh(softplus(x))``, as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(Mish()(cr.tensor(1.0)).item(), 4)
    0.8651
    """

    def forward(self, input: Any) -> Tensor:
        return _act.mish(input)


class ELU(_Elementwise):
    """:func:`elu` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> ELU(alpha=0.5)
    ELU(alpha=0.5)
    >>> round(ELU()(cr.tensor(-1.0)).item(), 4)
    -0.6321
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = float(alpha)

    def forward(self, input: Any) -> Tensor:
        return _act.elu(input, self.alpha)

    def extra_repr(self) -> str:
        return ", ".join(p for p in (f"alpha={self.alpha}", super().extra_repr()) if p)


class SELU(_Elementwise):
    """:func:`selu` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(SELU()(cr.tensor(1.0)).item(), 4)
    1.0507
    """

    def forward(self, input: Any) -> Tensor:
        return _act.selu(input)


class CELU(_Elementwise):
    """:func:`celu` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(CELU(alpha=2.0)(cr.tensor(-1.0)).item(), 4)
    -0.7869
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        if float(alpha) == 0:
            raise ValueError("CELU: alpha must not be 0 (it divides x)")
        self.alpha = float(alpha)

    def forward(self, input: Any) -> Tensor:
        return _act.celu(input, self.alpha)

    def extra_repr(self) -> str:
        return ", ".join(p for p in (f"alpha={self.alpha}", super().extra_repr()) if p)


class Hardtanh(_Elementwise):
    """:func:`hardtanh` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> Hardtanh()(cr.tensor([-2.0, 0.5])).tolist()
    [-1.0, 0.5]
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__(inplace)
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val, self.max_val = float(min_val), float(max_val)

    def forward(self, input: Any) -> Tensor:
        return _act.hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        s = f"min_val={self.min_val}, max_val={self.max_val}"
        return ", ".join(p for p in (s, super().extra_repr()) if p)


class ReLU6(_Elementwise):
    """:func:`relu6` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> ReLU6()(cr.tensor([-1.0, 9.0])).tolist()
    [0.0, 6.0]
    """

    def forward(self, input: Any) -> Tensor:
        return _act.relu6(input)


class Hardsigmoid(_Elementwise):
    """:func:`hardsigmoid` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> Hardsigmoid()(cr.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, input: Any) -> Tensor:
        return _act.hardsigmoid(input)


class Hardswish(_Elementwise):
    """:func:`hardswish` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> Hardswish()(cr.tensor([4.0])).tolist()
    [4.0]
    """

    def forward(self, input: Any) -> Tensor:
        return _act.hardswish(input)


class Softsign(Module):
    """:func:`softsign` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> Softsign()(cr.tensor([1.0])).tolist()
    [0.5]
    """

    def forward(self, input: Any) -> Tensor:
        return _act.softsign(input)


class LogSigmoid(Module):
    """:func:`logsigmoid` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(LogSigmoid()(cr.tensor(0.0)).item(), 4)
    -0.6931
    """

    def forward(self, input: Any) -> Tensor:
        return ops.log_sigmoid(input)


class Softmin(Module):
    """:func:`softmin` along ``dim`` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> Softmin(dim=-1)(cr.tensor([0.0, 0.0])).tolist()
    [0.5, 0.5]
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:
        return softmin(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GLU(Module):
    """:func:`glu` along ``dim`` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> GLU()(cr.tensor([4.0, 0.0])).tolist()
    [2.0]
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:
        return glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """:func:`prelu` with a learnable ``weight`` of ``num_parameters`` slopes (1, or one per
    channel), each initialised to ``init``.

    Examples
    --------
    >>> import chainrule as cr
    >>> act = PReLU(num_parameters=2)
    >>> act
    PReLU(num_parameters=2)
    >>> act(cr.tensor([[-4.0, 1.0]])).tolist()
    [[-1.0, 1.0]]
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = operator.index(num_parameters)
        if self.num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be >= 1, got {self.num_parameters}")
        if not isinstance(init, numbers.Real):
            raise TypeError(f"PReLU: init must be a number, got {init!r}")
        self.init = float(init)
        dt = _float_dtype(dtype, "PReLU")
        self.weight = Parameter(full((self.num_parameters,), self.init, dtype=dt))

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``."""
        self.weight._data[...] = self.init

    def forward(self, input: Any) -> Tensor:
        return prelu(input, self._parameters["weight"])

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softplus(Module):
    """:func:`softplus` with ``beta`` and ``threshold`` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(Softplus()(cr.tensor(0.0)).item(), 4)
    0.6931
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if float(beta) == 0:
            raise ValueError("Softplus: beta must not be 0 (it divides the result)")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, input: Any) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class CosineSimilarity(Module):
    """:func:`cosine_similarity` along ``dim`` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> CosineSimilarity(dim=0)(cr.tensor([1.0, 0.0]), cr.tensor([3.0, 0.0])).item()
    1.0
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, float(eps)

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """:func:`pairwise_distance` as a Module.

    Examples
    --------
    >>> import chainrule as cr
    >>> PairwiseDistance(eps=0.0)(cr.tensor([[0.0, 3.0]]), cr.tensor([[4.0, 0.0]])).tolist()
    [5.0]
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = float(p), float(eps), bool(keepdim)

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
