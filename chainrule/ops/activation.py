"""Activation primitives beyond relu/gelu/softplus: each forward beside its local derivative.

The rules use only ``xp`` operations, so under ``create_graph=True`` they record a graph and
give second derivatives. Branches that ``where`` discards stay finite (``exp(min(x, 0))``, not
``exp(x)``): under create_graph their gradient is 0 times the branch's derivative, and 0 * inf
would be NaN. Piecewise-linear functions (hardtanh, hardsigmoid, prelu) pass the gradient
strictly inside their linear piece, as PyTorch does (0 at the kinks).

``selu`` and ``relu6`` are PyTorch's fixed-parameter forms of ``elu`` and ``hardtanh``; ``prelu``
takes its weight already broadcast against ``x`` (the walk sums its gradient back).
"""

from __future__ import annotations

from typing import Any

from .define import apply, define, unary

__all__ = [
    "silu", "mish", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid", "hardswish",
    "softsign", "prelu",
]  # fmt: skip

#: SELU's constants (Klambauer et al. 2017), PyTorch's values.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ------------------------------------------------------------------------ smooth ones
def _d_silu(xp: Any, g: Any, out: Any, x: Any) -> Any:
    s = xp.sigmoid(x)
    return g * (s * (1 + x * (1 - s)))


def _d_mish(xp: Any, g: Any, out: Any, x: Any) -> Any:
    t = xp.tanh(xp.softplus(x))
    return g * (t + x * (1 - t * t) * xp.sigmoid(x))


# fmt: off
silu = unary("silu", lambda xp, x: x * xp.sigmoid(x), _d_silu,
             "g * s * (1 + x (1 - s)),  s = sigmoid(x)")
mish = unary("mish", lambda xp, x: x * xp.tanh(xp.softplus(x)), _d_mish,
             "g * (t + x (1 - t**2) sigmoid(x)),  t = tanh(softplus(x))")
softsign = unary("softsign", lambda xp, x: x / (1 + xp.abs(x)),
                 lambda xp, g, out, x: g / ((1 + xp.abs(x)) * (1 + xp.abs(x))),
                 "g / (1 + |x|)**2")
# fmt: on


# ------------------------------------------------------------- the exponential units
# elu, selu and celu are scale * (x if x > 0 else alpha (exp(x / c) - 1)) for (alpha, scale, c)
# = (alpha, 1, 1), (SELU_ALPHA, SELU_SCALE, 1) and (alpha, 1, alpha).
def _exp_unit(xp: Any, x: Any, alpha: float, scale: float, c: float) -> Any:
    neg = alpha * xp.expm1(xp.minimum(x, 0) / c)
    out = xp.where(x > 0, x, neg)
    return out if scale == 1 else out * scale


def _d_exp_unit(xp: Any, g: Any, out: Any, x: Any, alpha: float, scale: float, c: float) -> Any:
    d = xp.where(x > 0, g, g * ((alpha / c) * xp.exp(xp.minimum(x, 0) / c)))
    return d if scale == 1 else d * scale


# fmt: off
_elu = define("elu", (_d_exp_unit,), "g * (1 if x > 0 else alpha exp(x))")
_selu = define("selu", (_d_exp_unit,),
               "g * scale * (1 if x > 0 else alpha exp(x)),  alpha = 1.6733, scale = 1.0507")
_celu = define("celu", (_d_exp_unit,), "g * (1 if x > 0 else exp(x / alpha))")
# fmt: on


def elu(x: Any, alpha: float = 1.0) -> Any:
    """Exponential linear unit: ``x`` where ``x > 0``, ``alpha (exp(x) - 1)`` elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in elu(cr.tensor([-1.0, 2.0])).tolist()]
    [-0.6321, 2.0]
    """
    return apply(_elu, _exp_unit, (x,), (float(alpha), 1.0, 1.0))


def selu(x: Any) -> Any:
    """Scaled ELU, ``scale * elu(x, alpha)`` with PyTorch's self-normalising constants
    (alpha = 1.6733, scale = 1.0507).

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in selu(cr.tensor([-1.0, 1.0])).tolist()]
    [-1.1113, 1.0507]
    """
    return apply(_selu, _exp_unit, (x,), (SELU_ALPHA, SELU_SCALE, 1.0))


def celu(x: Any, alpha: float = 1.0) -> Any:
    """Continuously differentiable ELU: ``x`` where ``x > 0``, ``alpha (exp(x / alpha) - 1)``
    elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> [round(v, 4) for v in celu(cr.tensor([-1.0, 2.0]), alpha=2.0).tolist()]
    [-0.7869, 2.0]
    """
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return apply(_celu, _exp_unit, (x,), (alpha, 1.0, alpha))


# --------------------------------------------------------------- piecewise linear ones
def _hardtanh(xp: Any, x: Any, lo: float, hi: float) -> Any:
    return xp.clip(x, lo, hi)


_hardtanh_prim = define("hardtanh", (
    lambda xp, g, out, x, lo, hi: g * ((x > lo) & (x < hi)),),
    "g * [min_val < x < max_val]")  # fmt: skip


def hardtanh(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    """``x`` clipped to ``[min_val, max_val]``; the gradient passes strictly inside.

    Examples
    --------
    >>> import chainrule as cr
    >>> hardtanh(cr.tensor([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    lo, hi = float(min_val), float(max_val)
    if lo > hi:
        raise ValueError(f"hardtanh: min_val ({lo}) must not exceed max_val ({hi})")
    return apply(_hardtanh_prim, _hardtanh, (x,), (lo, hi))


def relu6(x: Any) -> Any:
    """``min(max(x, 0), 6)``, which is ``hardtanh(x, 0, 6)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> relu6(cr.tensor([-1.0, 3.0, 8.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    return apply(_hardtanh_prim, _hardtanh, (x,), (0.0, 6.0))


# fmt: off
hardsigmoid = unary("hardsigmoid", lambda xp, x: xp.clip(x / 6 + 0.5, 0, 1),
                    lambda xp, g, out, x: g * ((x > -3) & (x < 3)) / 6,
                    "g / 6 * [-3 < x < 3]")
hardswish = unary("hardswish", lambda xp, x: x * xp.clip(x + 3, 0, 6) / 6,
                  lambda xp, g, out, x: xp.where(x < -3, 0, xp.where(x <= 3, g * (x / 3 + 0.5), g)),
                  "g * (0 if x < -3 else x/3 + 1/2 if x <= 3 else 1)")
# fmt: on


_prelu = define("prelu", (
    lambda xp, g, out, x, w: xp.where(x > 0, g, g * w),
    lambda xp, g, out, x, w: xp.where(x > 0, 0, g * x)),
    "dx = g * (1 if x > 0 else w);  dw = g * (0 if x > 0 else x)")  # fmt: skip


def prelu(x: Any, weight: Any) -> Any:
    """``x`` where positive, ``weight * x`` elsewhere, with ``weight`` broadcast against ``x``
    as it is (:func:`chainrule.nn.functional.prelu` puts a per-channel weight on axis 1).

    Examples
    --------
    >>> import chainrule as cr
    >>> prelu(cr.tensor([-2.0, 3.0]), cr.tensor([0.25])).tolist()
    [-0.5, 3.0]
    """
    return apply(_prelu, lambda xp, x, w: xp.where(x > 0, x, w * x), (x, weight))
