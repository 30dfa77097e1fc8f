"""Elementwise primitives: values against NumPy / math, gradients against finite differences."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.backend import numpy_namespace
from chainrule.ops import elementwise
from chainrule.testing import gradcheck, gradgradcheck

SHAPES = [(), (3,), (2, 3)]
BROADCAST_PAIRS = [((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((), (2, 2)), ((2, 2), ())]

_erf_ref = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid_ref(v):
    return np.exp(-np.logaddexp(0.0, -v))


def _gelu_ref(v):
    # erfc, not 1 + erf: no cancellation for negative t
    return np.vectorize(lambda t: 0.5 * t * math.erfc(-t / math.sqrt(2.0)))(v)


def _gelu_tanh_ref(v):
    c = math.sqrt(2.0 / math.pi)
    return np.vectorize(lambda t: 0.5 * t * (1.0 + math.tanh(c * (t + 0.044715 * t**3))))(v)


# name -> (chainrule function, NumPy / math reference, (low, high) domain, kinks to avoid)
UNARY = {
    "negative": (cr.negative, np.negative, (-3, 3), ()),
    "abs": (cr.abs, np.abs, (-3, 3), (0.0,)),
    "exp": (cr.exp, np.exp, (-3, 3), ()),
    "log": (cr.log, np.log, (0.1, 5), ()),
    "log1p": (cr.log1p, np.log1p, (-0.9, 5), ()),
    "expm1": (cr.expm1, np.expm1, (-3, 3), ()),
    "sqrt": (cr.sqrt, np.sqrt, (0.1, 5), ()),
    "sin": (cr.sin, np.sin, (-3, 3), ()),
    "cos": (cr.cos, np.cos, (-3, 3), ()),
    "tanh": (cr.tanh, np.tanh, (-3, 3), ()),
    "sigmoid": (cr.sigmoid, _sigmoid_ref, (-5, 5), ()),
    "relu": (cr.relu, lambda v: np.maximum(v, 0.0), (-3, 3), (0.0,)),
    "leaky_relu": (cr.leaky_relu, lambda v: np.where(v > 0, v, 0.01 * v), (-3, 3), (0.0,)),
    "leaky_relu_0.3": (
        lambda x: cr.leaky_relu(x, 0.3),
        lambda v: np.where(v > 0, v, 0.3 * v),
        (-3, 3),
        (0.0,),
    ),
    "gelu": (cr.gelu, _gelu_ref, (-4, 4), ()),
    "gelu_tanh": (lambda x: cr.gelu(x, approximate="tanh"), _gelu_tanh_ref, (-4, 4), ()),
    "softplus": (cr.softplus, lambda v: np.logaddexp(0.0, v), (-5, 5), ()),
    "log_sigmoid": (cr.log_sigmoid, lambda v: -np.logaddexp(0.0, -v), (-5, 5), ()),
    "erf": (cr.erf, _erf_ref, (-3, 3), ()),
    "clip": (
        lambda x: cr.clip(x, -0.5, 0.7),
        lambda v: np.clip(v, -0.5, 0.7),
        (-2, 2),
        (-0.5, 0.7),
    ),
    "clip_min": (lambda x: cr.clip(x, min=-0.5), lambda v: np.maximum(v, -0.5), (-2, 2), (-0.5,)),
    "clip_max": (lambda x: cr.clip(x, max=0.7), lambda v: np.minimum(v, 0.7), (-2, 2), (0.7,)),
    "astype": (lambda x: cr.astype(x, np.float64), lambda v: v, (-3, 3), ()),
    # piecewise constant: zero gradient (as PyTorch), checked away from the jumps
    "sign": (cr.sign, np.sign, (-3, 3), (0.0,)),
    "floor": (cr.floor, np.floor, (-3, 3), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)),
    "ceil": (cr.ceil, np.ceil, (-3, 3), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)),
    "trunc": (cr.trunc, np.trunc, (-3, 3), (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)),
    "round": (cr.round, np.round, (-3, 3), (-2.5, -1.5, -0.5, 0.5, 1.5, 2.5)),
    "tan": (cr.tan, np.tan, (-1.2, 1.2), ()),
    "arcsin": (cr.arcsin, np.arcsin, (-0.9, 0.9), ()),
    "arccos": (cr.arccos, np.arccos, (-0.9, 0.9), ()),
    "arctan": (cr.arctan, np.arctan, (-3, 3), ()),
    "sinh": (cr.sinh, np.sinh, (-3, 3), ()),
    "cosh": (cr.cosh, np.cosh, (-3, 3), ()),
    "arcsinh": (cr.arcsinh, np.arcsinh, (-3, 3), ()),
    "arccosh": (cr.arccosh, np.arccosh, (1.1, 4), ()),
    "arctanh": (cr.arctanh, np.arctanh, (-0.9, 0.9), ()),
    "log2": (cr.log2, np.log2, (0.1, 5), ()),
    "log10": (cr.log10, np.log10, (0.1, 5), ()),
    "exp2": (cr.exp2, np.exp2, (-3, 3), ()),
    "rsqrt": (cr.rsqrt, lambda v: 1 / np.sqrt(v), (0.2, 5), ()),
    "reciprocal": (cr.reciprocal, np.reciprocal, (0.2, 3), ()),
    "reciprocal_negative": (cr.reciprocal, np.reciprocal, (-3, -0.2), ()),
    "square": (cr.square, np.square, (-3, 3), ()),
    "nan_to_num": (cr.nan_to_num, np.nan_to_num, (-3, 3), ()),
}

# name -> (chainrule function, NumPy reference, adjust (x, y) into the domain)
BINARY = {
    "add": (cr.add, np.add, None),
    "subtract": (cr.subtract, np.subtract, None),
    "multiply": (cr.multiply, np.multiply, None),
    "divide": (cr.divide, np.divide, lambda x, y: (x, np.abs(y) + 0.5)),
    "power": (cr.power, np.power, lambda x, y: (np.abs(x) + 0.3, y)),
    "maximum": (cr.maximum, np.maximum, None),
    "minimum": (cr.minimum, np.minimum, None),
    # the integer-arithmetic family: divisors away from 0, both signs
    "floor_divide": (cr.floor_divide, np.floor_divide, lambda x, y: (x, _away_from_zero(y))),
    "remainder": (cr.remainder, np.remainder, lambda x, y: (x, _away_from_zero(y))),
    "fmod": (cr.fmod, np.fmod, lambda x, y: (x, _away_from_zero(y))),
    "copysign": (cr.copysign, np.copysign, lambda x, y: (_away_from_zero(x), _away_from_zero(y))),
    "arctan2": (cr.arctan2, np.arctan2, lambda x, y: (x, _away_from_zero(y))),
    "logaddexp": (cr.logaddexp, np.logaddexp, None),
    "hypot": (cr.hypot, np.hypot, None),
}


def _away_from_zero(v):
    return np.where(v < 0, v - 0.5, v + 0.5)


def _away_from_kinks(v, kinks, gap=0.05):
    v = np.array(v, dtype=np.float64)
    for k in kinks:
        close = np.abs(v - k) < gap
        v[close] = k + np.where(v[close] >= k, gap, -gap)
    return v


def _unary_input(name, shape, seed=0):
    _, _, (lo, hi), kinks = UNARY[name]
    v = np.random.default_rng(seed).uniform(lo, hi, shape)
    return _away_from_kinks(v, kinks)


def _binary_inputs(name, sx, sy, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-2, 2, sx), rng.uniform(-2, 2, sy)
    adjust = BINARY[name][2]
    if adjust is not None:
        x, y = adjust(x, y)
    if name in ("maximum", "minimum"):  # keep clear of ties, where the function has a kink
        xb, yb = np.broadcast_arrays(x, y)
        if np.abs(xb - yb).min() < 0.05:
            return _binary_inputs(name, sx, sy, seed + 1)
    return np.asarray(x, np.float64), np.asarray(y, np.float64)


# ------------------------------------------------------------------------ unary family
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_forward_matches_reference(name, shape):
    f, ref, _, _ = UNARY[name]
    v = _unary_input(name, shape)
    out = f(cr.tensor(v))
    assert out.shape == shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref(v), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradcheck(name, shape):
    assert gradcheck(UNARY[name][0], _unary_input(name, shape, seed=1))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_gradgradcheck(name, shape):
    assert gradgradcheck(UNARY[name][0], _unary_input(name, shape, seed=2))


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float32_in_float32_out_and_gradient(name):
    f = UNARY[name][0]
    if name == "astype":
        f = lambda x: cr.astype(x, np.float32)  # noqa: E731
    x = cr.tensor(_unary_input(name, (2, 3)).astype(np.float32), requires_grad=True)
    y = f(x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.shape == (2, 3)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_on_arrays_and_scalars_gives_tensors(name):
    f, ref, _, _ = UNARY[name]
    v = _unary_input(name, (3,))
    out = f(v)
    assert isinstance(out, cr.Tensor) and not out.requires_grad
    np.testing.assert_allclose(out.numpy(), ref(v), rtol=1e-13, atol=1e-15)


_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


@st.composite
def _unary_cases(draw):
    name = draw(st.sampled_from(sorted(UNARY)))
    _, _, (lo, hi), kinks = UNARY[name]
    shape = draw(_shapes)
    v = draw(hnp.arrays(np.float64, shape, elements=st.floats(lo, hi, allow_subnormal=False)))
    return name, v, kinks


@settings(max_examples=60, deadline=None)
@given(_unary_cases())
def test_unary_family_properties(case):
    name, v, kinks = case
    f, ref, _, _ = UNARY[name]
    out = f(cr.tensor(v))
    np.testing.assert_allclose(out.numpy(), ref(v), rtol=1e-12, atol=1e-14)
    assume(all(np.all(np.abs(v - k) > 1e-3) for k in kinks))
    assert gradcheck(f, v)


# ----------------------------------------------------------------------- binary family
@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [(s, s) for s in SHAPES] + BROADCAST_PAIRS, ids=str)
def test_binary_forward_matches_numpy(name, shapes):
    f, ref, _ = BINARY[name]
    x, y = _binary_inputs(name, *shapes)
    out = f(cr.tensor(x), cr.tensor(y))
    expected = ref(x, y)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [(s, s) for s in SHAPES] + BROADCAST_PAIRS, ids=str)
def test_binary_gradcheck(name, shapes):
    x, y = _binary_inputs(name, *shapes, seed=3)
    assert gradcheck(BINARY[name][0], x, y)


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("shapes", [(s, s) for s in SHAPES] + BROADCAST_PAIRS, ids=str)
def test_binary_gradgradcheck(name, shapes):
    x, y = _binary_inputs(name, *shapes, seed=4)
    assert gradgradcheck(BINARY[name][0], x, y)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_with_a_constant_operand(name):
    f = BINARY[name][0]
    x, y = _binary_inputs(name, (2, 3), (3,), seed=5)
    assert gradcheck(lambda a: f(a, y), x)
    assert gradcheck(lambda b: f(x, b), y)
    assert gradgradcheck(lambda a: f(a, y), x)
    assert gradcheck(lambda a: f(a, 1.5), x)
    assert gradgradcheck(lambda a: f(a, 1.5), x)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_float32(name):
    f, ref, _ = BINARY[name]
    xv, yv = _binary_inputs(name, (2, 3), (3,), seed=6)
    x = cr.tensor(xv.astype(np.float32), requires_grad=True)
    y = cr.tensor(yv.astype(np.float32), requires_grad=True)
    out = f(x, y)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and y.grad.dtype == np.float32
    assert y.grad.shape == (3,)
    assert f(x, 1.5).dtype == np.float32  # a Python float is weak
    assert f(1.5, x).dtype == np.float32


@pytest.mark.parametrize("name", list(BINARY))
def test_float32_tensor_with_float64_array_promotes_like_numpy(name):
    f, ref, _ = BINARY[name]
    xv, yv = _binary_inputs(name, (2, 3), (3,), seed=7)
    x = cr.tensor(xv.astype(np.float32), requires_grad=True)
    out = f(x, yv)
    expected = ref(xv.astype(np.float32), yv)
    assert out.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15)
    out.sum().backward()
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- power
@pytest.mark.parametrize("p", [2, 3, 0.5, -1.5, 0, 1, 2.0, -2])
def test_power_constant_exponent(p):
    v = np.array([0.4, 1.3, 2.2])
    x = cr.tensor(v, requires_grad=True)
    y = x**p
    np.testing.assert_allclose(y.numpy(), v**p, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), p * v ** (p - 1) if p != 0 else 0 * v, rtol=1e-14)
    assert gradcheck(lambda a: a**p, v)
    assert gradgradcheck(lambda a: a**p, v)


def test_power_tensor_exponent_and_number_base():
    assert gradcheck(lambda b: 2.0**b, np.array([-1.0, 0.0, 1.5]))
    assert gradgradcheck(lambda b: 2.0**b, np.array([-1.0, 0.0, 1.5]))
    assert gradcheck(lambda a, b: a**b, np.array([0.5, 1.5]), np.array([-2.0, 3.0]))


def _grads(f, *values):
    ts = [cr.tensor(np.asarray(v, np.float64), requires_grad=True) for v in values]
    out = f(*ts)
    out.sum().backward()
    return out.numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_power_at_zero_with_constant_exponent():
    cases = [(2, 0.0, 0.0), (3, 0.0, 0.0), (1, 0.0, 1.0), (0, 1.0, 0.0), (0.0, 1.0, 0.0),
             (0.5, 0.0, np.inf)]  # fmt: skip
    for p, value, grad in cases:
        out, (gx,) = _grads(lambda x, p=p: x**p, [0.0])
        assert out[0] == value and gx[0] == grad, p


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_power_at_zero_with_tensor_exponent():
    x, y = [0.0, 0.0, 0.0, 2.0], [2.0, 0.0, 3.0, 3.0]
    out, (gx, gy) = _grads(lambda a, b: a**b, x, y)
    np.testing.assert_array_equal(out, [0.0, 1.0, 0.0, 8.0])
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0, 12.0])  # y x^(y-1); 0 where y == 0
    np.testing.assert_allclose(gy, [0.0, 0.0, 0.0, 8.0 * math.log(2.0)], rtol=1e-15)
    # x ** array exponent: same rule on a raw array
    _, (g,) = _grads(lambda a: a ** np.array([0.0, 2.0]), [0.0, 0.0])
    np.testing.assert_array_equal(g, [0.0, 0.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_power_second_derivatives_at_zero_are_finite():
    # d/dx and d/dy of (dz/dx + dz/dy), z = x**y, at x = 0: the limits, never 0 * inf = NaN
    x = cr.tensor(np.array([0.0, 0.0, 0.0]), requires_grad=True)
    y = cr.tensor(np.array([2.0, 3.0, 0.0]), requires_grad=True)
    (x**y).sum().backward(create_graph=True)
    gx, gy = x.grad, y.grad
    x.grad = y.grad = None
    (gx + gy).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 0.0])  # y(y-1)x^(y-2) + ...
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0])


# -------------------------------------------------------------------- maximum / minimum
def test_maximum_and_minimum_ties_share_the_gradient():
    out, (g,) = _grads(lambda x: cr.maximum(x, x), [1.0, -2.0])
    np.testing.assert_array_equal(out, [1.0, -2.0])
    np.testing.assert_array_equal(g, [1.0, 1.0])  # 0.5 through each argument
    out, (gx, gy) = _grads(cr.maximum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(out, [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])
    out, (gx, gy) = _grads(cr.minimum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(out, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(gx, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(gy, [0.5, 0.0, 1.0])
    _, (g,) = _grads(lambda x: cr.maximum(x, 1.0), [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(g, [0.5, 1.0, 0.0])
    _, (g,) = _grads(lambda x: x.minimum(1.0), [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(g, [0.5, 0.0, 1.0])


def test_maximum_broadcast_tie_gradient_is_summed():
    _, (gx, gy) = _grads(cr.maximum, [[1.0, 2.0], [1.0, 0.0]], [1.0, 1.0])
    np.testing.assert_array_equal(gx, [[0.5, 1.0], [0.5, 0.0]])
    np.testing.assert_array_equal(gy, [1.0, 1.0])


# ---------------------------------------------------------------- kinks and boundaries
def test_clip_gradient_passes_at_the_boundaries():
    v = [-1.0, 0.0, 0.5, 1.0, 2.0]
    out, (g,) = _grads(lambda x: cr.clip(x, 0.0, 1.0), v)
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])
    _, (g,) = _grads(lambda x: cr.clip(x, min=0.0), v)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 1.0])
    _, (g,) = _grads(lambda x: x.clip(max=1.0), v)
    np.testing.assert_array_equal(g, [1.0, 1.0, 1.0, 1.0, 0.0])


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip: at least one of min and max"):
        cr.clip(cr.tensor([1.0]))


def test_relu_abs_leaky_relu_at_zero():
    v = [-1.0, 0.0, 1.0]
    _, (g,) = _grads(cr.relu, v)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])
    _, (g,) = _grads(cr.abs, v)
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])
    out, (g,) = _grads(lambda x: cr.leaky_relu(x, 0.1), v)
    np.testing.assert_array_equal(out, [-0.1, 0.0, 1.0])
    np.testing.assert_array_equal(g, [0.1, 0.1, 1.0])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'erf'"):
        cr.gelu(cr.tensor([1.0]), approximate="erf")


def test_gelu_modes_differ_and_match_references():
    v = np.linspace(-4, 4, 17)
    exact = cr.gelu(cr.tensor(v)).numpy()
    approx = cr.gelu(cr.tensor(v), approximate="tanh").numpy()
    # 1 + erf(x/sqrt 2) cancels for negative x: the error is absolute, about 1e-16
    np.testing.assert_allclose(exact, _gelu_ref(v), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(approx, _gelu_tanh_ref(v), rtol=1e-14, atol=1e-15)
    assert 1e-5 < np.abs(exact - approx).max() < 1e-2


# -------------------------------------------------------------------------------- erf
def test_numpy_erf_fallback_matches_math_erf():
    v = np.concatenate([np.linspace(-8, 8, 4001), [0.0, 2.5, -2.5, 2.5 + 1e-9, 1e-300, 27.0]])
    got = elementwise._erf_numpy(numpy_namespace, v)
    np.testing.assert_allclose(got, _erf_ref(v), rtol=2e-15, atol=2e-15)
    assert got.dtype == np.float64
    v32 = v.astype(np.float32)
    assert elementwise._erf_numpy(numpy_namespace, v32).dtype == np.float32
    edge = elementwise._erf_numpy(numpy_namespace, np.array([np.inf, -np.inf]))
    np.testing.assert_array_equal(edge, [1.0, -1.0])


def test_erf_without_scipy_uses_the_fallback(monkeypatch):
    calls = []

    def spy(xp, x):
        calls.append(x.shape)
        return fallback(xp, x)

    fallback = elementwise._erf_numpy
    monkeypatch.setattr(elementwise, "_erf_numpy", spy)
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # makes the import fail
    v = np.array([-3.0, -0.5, 0.0, 0.7, 2.6, 6.0])
    out = cr.erf(cr.tensor(v))
    np.testing.assert_allclose(out.numpy(), _erf_ref(v), rtol=2e-15, atol=2e-15)
    assert cr.erf(cr.tensor(np.float64(0.5))).shape == ()
    assert gradcheck(cr.erf, v)
    assert gradcheck(cr.gelu, v)
    assert calls and (6,) in calls


# -------------------------------------------------------------------------- stability
_STABLE = {
    "sigmoid": (cr.sigmoid, {-1000.0: 0.0, 1000.0: 1.0}),
    "softplus": (cr.softplus, {-1000.0: 0.0, 1000.0: 1000.0}),
    "log_sigmoid": (cr.log_sigmoid, {-1000.0: -1000.0, 1000.0: 0.0}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(_STABLE))
def test_stability_at_extremes(name, dtype):
    f, expected = _STABLE[name]
    v = np.array(list(expected), dtype)
    x = cr.tensor(v, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = f(x)
        out.sum().backward()
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), np.array(list(expected.values()), dtype))
    assert np.isfinite(x.grad.numpy()).all() and x.grad.dtype == dtype
    # the gradients are sigmoid's saturated values: 0 or 1
    assert set(np.round(x.grad.numpy(), 12).tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_functions_over_a_wide_range(dtype):
    v = np.linspace(-200, 200, 41).astype(dtype)
    v64 = v.astype(np.float64)
    tol = {"rtol": 1e-6 if dtype == np.float32 else 1e-14, "atol": np.finfo(dtype).tiny}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for f, ref in ((cr.sigmoid, _sigmoid_ref(v64)), (cr.softplus, np.logaddexp(0.0, v64)),
                       (cr.log_sigmoid, -np.logaddexp(0.0, -v64))):  # fmt: skip
            out = f(v)
            assert out.dtype == dtype
            np.testing.assert_allclose(out.numpy(), ref.astype(dtype), **tol)


# ------------------------------------------------------------------------------ where
def test_where_values_and_gradients():
    c = np.array([[True, False, True], [False, True, False]])
    xv, yv = np.arange(6.0).reshape(2, 3), np.array([10.0, 20.0, 30.0])
    out, (gx, gy) = _grads(lambda x, y: cr.where(c, x, y), xv, yv)
    np.testing.assert_array_equal(out, np.where(c, xv, yv))
    np.testing.assert_array_equal(gx, c.astype(float))
    np.testing.assert_array_equal(gy, (~c).sum(axis=0).astype(float))
    assert gradcheck(lambda x, y: cr.where(c, x, y), xv, yv)
    assert gradgradcheck(lambda x, y: cr.where(c, x * x, y * x), xv, yv)
    assert gradcheck(lambda m, x, y: cr.where(m, x, y), c, xv, yv)  # a bool input passes
    t = cr.tensor(xv, requires_grad=True)
    w = cr.where(t > 2, t, 0.0)
    np.testing.assert_array_equal(w.numpy(), np.where(xv > 2, xv, 0.0))
    w.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), (xv > 2).astype(float))


def test_where_dtype_and_broadcast():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    w = cr.where(np.array([True, False, True]), x, 2.0)
    assert w.dtype == np.float32
    w.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 1.0])
    b = cr.where(np.array([[True], [False]]), cr.tensor(np.ones(3)), cr.tensor(np.zeros(()))).shape
    assert b == (2, 3)


# ----------------------------------------------------------------------------- astype
def test_astype_round_trips_gradients_between_float_dtypes():
    x = cr.tensor(np.array([1.5, -2.0], np.float64), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -4.0])
    assert gradgradcheck(lambda a: cr.astype(a, np.float64) ** 3, np.array([0.5, 1.5]))


# -------------------------------------------------------------- comparisons and friends
@pytest.mark.parametrize(
    "f, ref",
    [
        (cr.less, np.less), (cr.less_equal, np.less_equal), (cr.greater, np.greater),
        (cr.greater_equal, np.greater_equal), (cr.equal, np.equal), (cr.not_equal, np.not_equal),
    ],
)  # fmt: skip
def test_comparisons_return_bool_tensors_without_grad(f, ref):
    xv, yv = np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])
    x = cr.tensor(xv, requires_grad=True)
    for out in (f(x, cr.tensor(yv, requires_grad=True)), f(x, yv), f(x, 2.0), f(xv, x)):
        assert out.dtype == np.bool_ and not out.requires_grad and out.is_leaf
    np.testing.assert_array_equal(f(x, yv).numpy(), ref(xv, yv))
    np.testing.assert_array_equal(f(yv, x).numpy(), ref(yv, xv))


def test_other_non_differentiable_ops():
    x = cr.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    s = cr.sign(x)  # since issue 9: differentiable with a zero gradient, as in PyTorch
    np.testing.assert_array_equal(s.numpy(), [-1.0, 0.0, 1.0])
    assert s.requires_grad
    (s * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0])  # only through the factor x
    x = cr.tensor([-2.0, 0.0, np.inf, np.nan], requires_grad=True)
    f = cr.isfinite(x)
    assert f.dtype == np.bool_ and not f.requires_grad
    assert f.tolist() == [True, True, False, False]
    a, b = cr.tensor([True, False, True]), cr.tensor([True, True, False])
    assert cr.logical_and(a, b).tolist() == [True, False, False]
    assert cr.logical_or(a, b).tolist() == [True, True, True]
    assert cr.logical_not(a).tolist() == [False, True, False]


def test_no_grad_results_do_not_require_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        outs = [UNARY[n][0](x) for n in ("exp", "gelu", "clip", "leaky_relu")]
        outs += [cr.where(np.array([True, False]), x, 0.0), x * x, x.astype(np.float64)]
    assert all(not o.requires_grad and o.is_leaf for o in outs)


def test_every_public_primitive_is_covered():
    # lerp, div, round (decimals) and nan_to_num's replacements: tests/ops/test_elementwise_more.py
    covered = set(UNARY) | set(BINARY) | {"where", "astype", "lerp", "div"}
    covered.add("clone")  # tests/test_pytorch_spellings.py
    aliases = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "atan2": "arctan2",
               "asinh": "arcsinh", "acosh": "arccosh", "atanh": "arctanh"}  # fmt: skip
    for alias, name in aliases.items():
        assert getattr(cr, alias) is getattr(cr, name)
    covered |= set(aliases)
    differentiable = {
        n for n in elementwise.__all__
        if n not in {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                     "isfinite", "logical_not", "logical_and", "logical_or", "isnan", "isinf",
                     "isclose", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
                     "left_shift", "right_shift"}
    }  # fmt: skip
    assert differentiable <= covered


@pytest.mark.parametrize("without_scipy", [False, True])
def test_gelu_is_accurate_in_the_negative_tail(without_scipy, monkeypatch):
    # x * Phi(x) with Phi from erfc: no cancellation in 1 + erf(x / sqrt 2) for x << 0.
    if without_scipy:  # the pure-NumPy erf/erfc, as on a machine without SciPy
        monkeypatch.setitem(sys.modules, "scipy.special", None)
    xs = np.linspace(-30.0, 5.0, 701)
    ref = np.array([0.5 * v * math.erfc(-v / math.sqrt(2.0)) for v in xs])
    got = cr.gelu(cr.tensor(xs)).numpy()
    nonzero = ref != 0
    np.testing.assert_allclose(got[nonzero], ref[nonzero], rtol=1e-13)
    assert got[0] < 0 and got[0] == pytest.approx(ref[0], rel=1e-13)


def test_numpy_erfc_fallback_matches_math_erfc():
    from chainrule.backend import numpy_namespace
    from chainrule.ops.elementwise import _erfc_numpy

    xs = np.linspace(-8.0, 8.0, 4001)
    ref = np.array([math.erfc(v) for v in xs])
    np.testing.assert_allclose(_erfc_numpy(numpy_namespace, xs), ref, rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cr.ones((2, 3)) + cr.ones(4), r"add: operands of shapes \(2, 3\), \(4,\)"),
        (
            lambda: cr.ones((2, 3)) * np.ones((3, 2)),
            r"multiply: operands of shapes \(2, 3\), \(3, 2\)",
        ),
        (
            lambda: cr.where(cr.ones(2) > 0, cr.ones(3), cr.ones(2)),
            r"where: operands of shapes \(2,\), \(3,\), \(2,\) \(dtypes bool, float32, float32\)",
        ),
    ],
)
def test_broadcast_errors_name_the_operation_and_shapes(call, message):
    x = cr.ones((2, 3), requires_grad=True)
    with pytest.raises(ValueError, match=message):
        call()
    assert x.grad is None


def test_python_lists_are_weak_beside_floating_tensors():
    x64 = cr.tensor(np.ones(2))
    y = x64 * [0.3, 0.1]
    assert y.dtype == np.float64 and y.numpy()[0] == 0.3  # not rounded through float32
    x32 = cr.tensor([1.0, 2.0])
    assert (x32 * [1, 2]).dtype == np.float32  # an int list does not promote to float64
    assert ([1, 2] - x32).tolist() == [0.0, 0.0] and ([1, 2] - x32).dtype == np.float32
