"""``F.bilinear`` and ``nn.Bilinear``: ``y_k = x1^T A_k x2 + b_k``, as PyTorch's.

Composed from ``matmul``, ``*`` and ``sum`` (no rule of its own): ``x1 @ A`` for all ``k`` in
one product, then the contraction with ``x2``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from ..tensor import Tensor, _float_dtype, as_tensor, empty
from . import init
from .module import Module, Parameter

__all__ = ["bilinear", "Bilinear"]


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """``out[..., k] = sum_ij input1[..., i] * weight[k, i, j] * input2[..., j] + bias[k]``.

    Parameters
    ----------
    input1 : Tensor, shape (*, in1)
    input2 : Tensor, shape (*, in2), the same leading dims
    weight : Tensor, shape (out, in1, in2)
    bias : Tensor, shape (out,), optional

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.ones((1, 2, 2))
    >>> bilinear(cr.tensor([[1.0, 2.0]]), cr.tensor([[3.0, 4.0]]), w).tolist()
    [[21.0]]
    """
    op = "bilinear"
    a, b, w = as_tensor(input1), as_tensor(input2), as_tensor(weight)
    if (
        w.ndim != 3
        or a.ndim < 1
        or a.shape[:-1] != b.shape[:-1]
        or a.shape[-1] != w.shape[1]
        or b.shape[-1] != w.shape[2]
    ):
        raise ValueError(
            f"{op}: expected input1 (*, in1), input2 (*, in2) and weight (out, in1, in2), got "
            f"shapes {tuple(a.shape)}, {tuple(b.shape)} and {tuple(w.shape)}"
        )
    out, in1, in2 = w.shape
    lead = a.shape[:-1]
    # (M, in1) @ (in1, out * in2) -> (M, out, in2), then contract in2 with x2.
    t = a.reshape(-1, in1) @ w.permute(1, 0, 2).reshape(in1, out * in2)
    y = (t.reshape(-1, out, in2) * b.reshape(-1, 1, in2)).sum(-1).reshape(*lead, out)
    if bias is not None:
        bias = as_tensor(bias)
        if tuple(bias.shape) != (out,):
            raise ValueError(f"{op}: bias of shape {tuple(bias.shape)}, expected ({out},)")
        y = y + bias
    return y


class Bilinear(Module):
    """``y = x1^T A x2 + b`` with ``weight`` (out, in1, in2) and ``bias`` (out,), both drawn
    from U(-1/sqrt(in1), 1/sqrt(in1)) as in PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> m = Bilinear(3, 4, 2)
    >>> m
    Bilinear(in1_features=3, in2_features=4, out_features=2, bias=True)
    >>> m(cr.randn(5, 3), cr.randn(5, 4)).shape
    (5, 2)
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in1_features = operator.index(in1_features)
        self.in2_features = operator.index(in2_features)
        self.out_features = operator.index(out_features)
        dt = _float_dtype(dtype, "Bilinear")
        shape = (self.out_features, self.in1_features, self.in2_features)
        self.weight = Parameter(empty(*shape, dtype=dt))
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weight and bias from U(-1/sqrt(in1), 1/sqrt(in1)) again."""
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self._parameters["bias"] is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Tensor:
        p = self._parameters
        return bilinear(input1, input2, p["weight"], p["bias"])

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self._parameters['bias'] is not None}"
        )
