"""Gradient clipping: rescale gradients whose total norm is too large, or clamp each value.

Both functions change the ``.grad`` arrays in place (as PyTorch's do), skip parameters
without a gradient, and keep each gradient's dtype.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...autodiff import next_seq
from ...backend import namespace_of
from ...tensor import Tensor, _leaf

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor], op: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = []
    for i, p in enumerate(parameters):
        if not isinstance(p, Tensor):
            raise TypeError(
                f"{op}: parameters must be Tensors, but item {i} is a {type(p).__name__}"
            )
        if p._grad is not None:
            grads.append(p._grad)
    return grads


def _vector_norm(xp: Any, a: Any, p: float) -> Any:
    if a.size == 0:
        return xp.zeros((), a.dtype)
    if p == 2.0:
        return xp.sqrt(xp.vdot(a, a))
    if p == math.inf:
        return xp.abs(a).max()
    if p == 1.0:
        return xp.abs(a).sum()
    return (xp.abs(a) ** p).sum() ** (1.0 / p)


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float | str = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    r"""Rescale the gradients so that their total norm is at most ``max_norm``.

    The total norm is the ``norm_type``-norm of all gradients taken together (the norm of the
    per-gradient norms). When it exceeds ``max_norm`` every gradient is multiplied, in place, by
    ``max_norm / (total_norm + 1e-6)``, as in PyTorch.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Parameters whose ``.grad`` to clip (those without a gradient are skipped).
    max_norm : float
        The largest total norm allowed.
    norm_type : float or "inf"
        Order of the norm: a positive number, or ``inf`` for the largest absolute value.
    error_if_nonfinite : bool
        Raise RuntimeError, before changing anything, if the total norm is NaN or infinite.
    foreach : None
        Accepted for compatibility with PyTorch; ignored.

    Returns
    -------
    Tensor
        The total norm of the gradients before clipping (0-d, in the gradients' dtype).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.zeros(2)); w.grad = cr.tensor([3.0, 4.0])
    >>> cr.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    >>> w.grad  # scaled by 1 / (5 + 1e-6)
    tensor([0.5999999 , 0.79999983])
    """
    op = "clip_grad_norm_"
    try:
        p = float(norm_type)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: norm_type must be a number or 'inf', got {norm_type!r}") from None
    if not p > 0:
        raise ValueError(f"{op}: norm_type must be positive or inf, got {norm_type!r}")
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool):
        raise TypeError(f"{op}: max_norm must be a real number, got {max_norm!r}")
    max_norm = float(max_norm)
    grads = _grads(parameters, op)
    if not grads:
        return Tensor(0.0)
    xp = namespace_of(grads[0]._data)
    norms = [_vector_norm(xp, g._data, p) for g in grads]
    dtype = np.result_type(*(n.dtype for n in norms))
    total = _vector_norm(xp, xp.stack([xp.asarray(n, dtype=dtype) for n in norms]), p)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"{op}: the total norm of order {norm_type} of the gradients is non-finite, so it "
            f"cannot be clipped; to scale the gradients by the non-finite norm anyway, set "
            f"error_if_nonfinite=False"
        )
    coef = max_norm / (total + 1e-6)
    if not bool(coef >= 1):  # NaN too: a non-finite norm spreads to the gradients, as in PyTorch
        for g in grads:
            g._data *= coef
            g._version = next_seq()
    return _leaf(xp.asarray(total))


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient value into ``[-clip_value, clip_value]``, in place.

    Parameters
    ----------
    parameters : Tensor or iterable of Tensor
        Parameters whose ``.grad`` to clip (those without a gradient are skipped).
    clip_value : float
        The largest absolute value allowed (non-negative).
    foreach : None
        Accepted for compatibility with PyTorch; ignored.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.zeros(3)); w.grad = cr.tensor([-3.0, 0.5, 2.0])
    >>> cr.nn.utils.clip_grad_value_([w], clip_value=1.0)
    >>> w.grad
    tensor([-1. ,  0.5,  1. ])
    """
    op = "clip_grad_value_"
    if not isinstance(clip_value, numbers.Real) or isinstance(clip_value, bool):
        raise TypeError(f"{op}: clip_value must be a real number, got {clip_value!r}")
    clip_value = float(clip_value)
    if not clip_value >= 0:
        raise ValueError(f"{op}: clip_value must be non-negative, got {clip_value!r}")
    for g in _grads(parameters, op):
        data = g._data
        namespace_of(data).clip(data, -clip_value, clip_value, out=data)
        g._version = next_seq()
