"""Elementwise primitives: arithmetic with broadcasting, and the smooth functions of one array.

Each line pairs a forward with its vector-Jacobian product (``g`` is dL/d(out)). The walk undoes
broadcasting and restores the argument's dtype, so the rules read like the maths.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import register_raw
from .define import apply, binary, define, nondiff, raw, unary

__all__ = [
    "add", "subtract", "multiply", "divide", "power", "negative", "maximum", "minimum",
    "abs", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    "leaky_relu", "gelu", "softplus", "log_sigmoid", "erf", "clip", "where", "astype",
    "sign", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
    "isfinite", "logical_not", "logical_and", "logical_or",
]  # fmt: skip

_SQRT_2 = math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------- arithmetic
def _d_power_x(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    # d(x**y)/dx = y x**(y-1); defined as 0 where y == 0 (also at x == 0), as PyTorch does.
    if not hasattr(y, "shape"):
        return g * 0.0 if y == 0 else g * y * x ** (y - 1)
    # The discarded branch must stay finite too (no 0**-1 where y == 0): under create_graph its
    # gradient is 0 times the branch's derivative, and 0 * inf would be NaN.
    return xp.where(y == 0, 0.0, g * y * x ** xp.where(y == 0, 1, y - 1))


def _d_power_y(xp: Any, g: Any, out: Any, x: Any, y: Any) -> Any:
    # d(x**y)/dy = x**y log x; 0 where x == 0 and y >= 0 (the limit), as PyTorch does.
    zero = (x == 0) & (y >= 0)
    # log of 1, not of 0, in the discarded branch: keeps second derivatives free of 0 * inf.
    return xp.where(zero, 0.0, g * out * xp.log(xp.where(zero, 1, x)))


def _d_maximum(xp: Any, g: Any, a: Any, b: Any) -> Any:
    # The winner takes g; a tie shares it equally.
    return xp.where(a > b, g, xp.where(a == b, g * 0.5, 0.0))


add = binary("add", lambda xp, x, y: x + y,
             lambda xp, g, out, x, y: g,
             lambda xp, g, out, x, y: g,
             "dx = g;  dy = g", ufunc=True)
subtract = binary("subtract", lambda xp, x, y: x - y,
                  lambda xp, g, out, x, y: g,
                  lambda xp, g, out, x, y: -g,
                  "dx = g;  dy = -g", ufunc=True)
multiply = binary("multiply", lambda xp, x, y: x * y,
                  lambda xp, g, out, x, y: g * y,
                  lambda xp, g, out, x, y: g * x,
                  "dx = g * y;  dy = g * x", ufunc=True)
divide = binary("divide", lambda xp, x, y: x / y,
                lambda xp, g, out, x, y: g / y,
                lambda xp, g, out, x, y: -g * out / y,
                "dx = g / y;  dy = -g * x / y**2", ufunc=True)
power = binary("power", lambda xp, x, y: x ** y, _d_power_x, _d_power_y,
               "dx = g * y * x**(y-1);  dy = g * x**y * log(x)", ufunc=True)
maximum = binary("maximum", lambda xp, x, y: xp.maximum(x, y),
                 lambda xp, g, out, x, y: _d_maximum(xp, g, x, y),
                 lambda xp, g, out, x, y: _d_maximum(xp, g, y, x),
                 "dx = g * [x > y] (+ g/2 on ties);  dy likewise", ufunc=True)
minimum = binary("minimum", lambda xp, x, y: xp.minimum(x, y),
                 lambda xp, g, out, x, y: _d_maximum(xp, g, y, x),
                 lambda xp, g, out, x, y: _d_maximum(xp, g, x, y),
                 "dx = g * [x < y] (+ g/2 on ties);  dy likewise", ufunc=True)  # fmt: skip


# --------------------------------------------------------------------- smooth functions
def _sigmoid(xp: Any, x: Any) -> Any:
    # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) for x < 0: never exp of a large positive number.
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(xp: Any, x: Any) -> Any:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): exact for large |x|.
    return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))


def _log_sigmoid(xp: Any, x: Any) -> Any:
    # log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|).
    return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))


negative = unary("negative", lambda xp, x: -x, lambda xp, g, out, x: -g, "-g", ufunc=True)
abs = unary("abs", lambda xp, x: xp.abs(x),  # noqa: A001 - the maths' name
            lambda xp, g, out, x: g * xp.sign(x), "g * sign(x)", ufunc=True)
exp = unary("exp", lambda xp, x: xp.exp(x), lambda xp, g, out, x: g * out, "g * exp(x)", ufunc=True)
log = unary("log", lambda xp, x: xp.log(x), lambda xp, g, out, x: g / x, "g / x", ufunc=True)
log1p = unary("log1p", lambda xp, x: xp.log1p(x),
              lambda xp, g, out, x: g / (1 + x), "g / (1 + x)", ufunc=True)
expm1 = unary("expm1", lambda xp, x: xp.expm1(x),
              lambda xp, g, out, x: g * (out + 1), "g * exp(x)", ufunc=True)
sqrt = unary("sqrt", lambda xp, x: xp.sqrt(x),
             lambda xp, g, out, x: g / (2 * out), "g / (2 sqrt(x))", ufunc=True)
sin = unary("sin", lambda xp, x: xp.sin(x),
            lambda xp, g, out, x: g * xp.cos(x), "g * cos(x)", ufunc=True)
cos = unary("cos", lambda xp, x: xp.cos(x),
            lambda xp, g, out, x: -g * xp.sin(x), "-g * sin(x)", ufunc=True)
tanh = unary("tanh", lambda xp, x: xp.tanh(x),
             lambda xp, g, out, x: g * (1 - out * out), "g * (1 - tanh(x)**2)", ufunc=True)
sigmoid = unary("sigmoid", _sigmoid,
                lambda xp, g, out, x: g * out * (1 - out), "g * s * (1 - s),  s = sigmoid(x)")
relu = unary("relu", lambda xp, x: xp.maximum(x, 0),
             # A multiply by the mask: ~3.5x faster than where(x > 0, g, 0) in NumPy.
             lambda xp, g, out, x: g * (x > 0), "g * [x > 0]")
softplus = unary("softplus", _softplus,
                 lambda xp, g, out, x: g * xp.sigmoid(x), "g * sigmoid(x)")
log_sigmoid = unary("log_sigmoid", _log_sigmoid,
                    lambda xp, g, out, x: g * xp.sigmoid(-x), "g * sigmoid(-x)")  # fmt: skip


# ------------------------------------------------------------------------------- erf
_ERF_SPLIT = 1.0  # below: the series for erf; above: the continued fraction for erfc


def _erf_parts(xp: Any, x: Any) -> tuple[Any, Any, Any]:
    """For a = |x| in float64 with NumPy alone: the mask ``a <= 1``, erf(a) there, and erfc(a)
    elsewhere (each array holds only its own elements).

    a <= 1: erf(a) = 2/sqrt(pi) e^{-a^2} sum_n 2^n a^{2n+1} / (1*3*...*(2n+1)), a series of
    positive terms (no cancellation; 30 terms reach double precision). a > 1: erfc(a) from its
    continued fraction, evaluated bottom-up to a fixed depth that converges to double precision
    for a > 1 (erf = 1 - erfc there loses nothing, since erf(1) > 0.84).
    """
    x64 = x.astype(xp.float64) if x.dtype != xp.float64 else x
    a = xp.abs(x64)
    small = a <= _ERF_SPLIT
    s = a[small]
    term = s.copy()
    total = s.copy()
    s2 = s * s
    for n in range(1, 30):
        term = term * (2.0 * s2 / (2 * n + 1))
        total = total + term
    erf_small = _TWO_OVER_SQRT_PI * xp.exp(-s2) * total
    b = a[~small]
    # erfc(z) = e^{-z^2}/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...)))))
    frac = b.copy()
    for k in range(200, 0, -1):
        frac = b + (k / 2.0) / frac
    erfc_big = xp.exp(-b * b) / (math.sqrt(math.pi) * frac)
    return small, erf_small, erfc_big


def _erf_numpy(xp: Any, x: Any) -> Any:
    """erf to double precision with NumPy alone (SciPy's is used when it is installed)."""
    small, erf_small, erfc_big = _erf_parts(xp, x)
    result = xp.empty(small.shape, xp.float64)
    result[small] = erf_small
    result[~small] = 1.0 - erfc_big
    result = xp.sign(x) * result
    return result.astype(x.dtype) if result.dtype != x.dtype else result


def _erfc_numpy(xp: Any, x: Any) -> Any:
    """erfc = 1 - erf, without the cancellation for large x (SciPy's is used when installed)."""
    small, erf_small, erfc_big = _erf_parts(xp, x)
    positive = x >= 0
    result = xp.empty(small.shape, xp.float64)
    result[small] = xp.where(positive[small], 1.0 - erf_small, 1.0 + erf_small)
    result[~small] = xp.where(positive[~small], erfc_big, 2.0 - erfc_big)
    return result.astype(x.dtype) if result.dtype != x.dtype else result


def _special(xp: Any, name: str, fallback: Any) -> Any:
    """SciPy's (or CuPy's) special function ``name`` when available, else our NumPy one."""
    if xp.__name__ == "numpy":
        try:
            import scipy.special
        except ImportError:
            return lambda x: fallback(xp, xp.asarray(x))
        return getattr(scipy.special, name)
    import cupyx.scipy.special  # pragma: no cover - GPU only

    return getattr(cupyx.scipy.special, name)  # pragma: no cover


def _erf(xp: Any, x: Any) -> Any:
    return _special(xp, "erf", _erf_numpy)(x)


register_raw("erfc", lambda xp, x: _special(xp, "erfc", _erfc_numpy)(x))


erf = unary("erf", _erf, lambda xp, g, out, x: g * _TWO_OVER_SQRT_PI * xp.exp(-x * x),
            "g * 2/sqrt(pi) * exp(-x**2)")


# ----------------------------------------------------------- functions with parameters
def _gelu(xp: Any, x: Any, approximate: str) -> Any:
    if approximate == "tanh":
        return 0.5 * x * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    # x * Phi(x) with Phi = erfc(-x/sqrt 2)/2: no cancellation in 1 + erf for negative x.
    return 0.5 * x * xp.erfc(-x / _SQRT_2)


def _d_gelu(xp: Any, g: Any, out: Any, x: Any, approximate: str) -> Any:
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        t = xp.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
    cdf = 0.5 * (1 + xp.erf(x / _SQRT_2))
    pdf = _INV_SQRT_2PI * xp.exp(-0.5 * x * x)
    return g * (cdf + x * pdf)


_gelu_prim = define("gelu", (_d_gelu,),
                    "g * (Phi(x) + x * phi(x))  (tanh form with approximate='tanh')")
register_raw("gelu", lambda xp, x, approximate="none": _gelu(xp, x, approximate))


def gelu(x: Any, approximate: str = "none") -> Any:
    """Gaussian error linear unit, x * Phi(x); ``approximate="tanh"`` uses the tanh formula.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(cr.gelu(cr.tensor(1.0)).item(), 6)
    0.841345
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return apply(_gelu_prim, _gelu, (x,), (approximate,))


_leaky_prim = define("leaky_relu", (
    lambda xp, g, out, x, slope: xp.where(x > 0, g, g * slope),),
    "g * (1 if x > 0 else slope)")
register_raw("leaky_relu", lambda xp, x, slope=0.01: xp.where(x > 0, x, x * slope))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.leaky_relu(cr.tensor([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return apply(_leaky_prim, lambda xp, x, s: xp.where(x > 0, x, x * s), (x,), (negative_slope,))


_clip_prim = define("clip", (
    lambda xp, g, out, x, lo, hi: xp.where(_inside(x, lo, hi), g, 0),),
    "g * [lo <= x <= hi]")


def _inside(x: Any, lo: Any, hi: Any) -> Any:
    if lo is None:
        return x <= hi
    if hi is None:
        return x >= lo
    return (x >= lo) & (x <= hi)


def clip(x: Any, min: Any = None, max: Any = None) -> Any:  # noqa: A002 - NumPy's names
    """Limit values to ``[min, max]`` (either may be None). The gradient passes where
    ``min <= x <= max`` and is zero outside, as in PyTorch's ``clamp``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.clip(cr.tensor([-2.0, 0.5, 3.0]), 0, 1).tolist()
    [0.0, 0.5, 1.0]
    """
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    lo, hi = raw(min), raw(max)
    return apply(_clip_prim, lambda xp, x, lo, hi: xp.clip(x, lo, hi), (x,), (lo, hi))


_where_prim = define("where", (
    None,
    lambda xp, g, out, c, x, y: xp.where(c, g, 0),
    lambda xp, g, out, c, x, y: xp.where(c, 0, g)),
    "dx = g * [c];  dy = g * [not c]")  # fmt: skip


def where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where ``condition`` is true, ``y`` elsewhere (all three broadcast together).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.where(cr.tensor([True, False]), 1.0, cr.tensor([5.0, 6.0])).tolist()
    [1.0, 6.0]
    """
    return apply(_where_prim, lambda xp, c, x, y: xp.where(c, x, y), (condition, x, y))


_astype_prim = define("astype", (lambda xp, g, out, x, dtype: g,),
                      "g (cast back to x's dtype)")


def astype(x: Any, dtype: Any) -> Any:
    """Cast to ``dtype``; differentiable between floating dtypes (the gradient is cast back).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.tensor([1.5]).astype(np.float64).dtype
    dtype('float64')
    """
    from ..tensor import _resolve_dtype

    dt = _resolve_dtype(dtype, "astype")
    out = apply(_astype_prim, lambda xp, x, dt: x.astype(dt), (x,), (dt,))
    if out._rg and dt.kind != "f":
        out = out.detach()  # integer results never require grad
    return out


# ------------------------------------------------------------------------ no gradient
sign = nondiff("sign", lambda xp, x: xp.sign(x))
less = nondiff("less", lambda xp, x, y: xp.less(x, y))
less_equal = nondiff("less_equal", lambda xp, x, y: xp.less_equal(x, y))
greater = nondiff("greater", lambda xp, x, y: xp.greater(x, y))
greater_equal = nondiff("greater_equal", lambda xp, x, y: xp.greater_equal(x, y))
equal = nondiff("equal", lambda xp, x, y: xp.equal(x, y))
not_equal = nondiff("not_equal", lambda xp, x, y: xp.not_equal(x, y))
isfinite = nondiff("isfinite", lambda xp, x: xp.isfinite(x))
logical_not = nondiff("logical_not", lambda xp, x: xp.logical_not(x))
logical_and = nondiff("logical_and", lambda xp, x, y: xp.logical_and(x, y))
logical_or = nondiff("logical_or", lambda xp, x, y: xp.logical_or(x, y))

TENSOR_METHODS = (
    "abs", "exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    "leaky_relu", "gelu", "softplus", "log_sigmoid", "erf", "clip", "astype", "sign",
    "maximum", "minimum", "isfinite",
)  # fmt: skip
