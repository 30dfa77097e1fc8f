"""Issue 9's elementwise additions: rounding with zero gradients, integer arithmetic, lerp,
nan_to_num, predicates. (The smooth unary and binary functions are in the tables of
test_elementwise.py, which run value, gradcheck, gradgradcheck and float32 checks on each.)"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck

ROUNDING = [cr.floor, cr.ceil, cr.trunc, cr.round, cr.sign]


def _grads(f, *values):
    ts = [cr.tensor(np.asarray(v, np.float64), requires_grad=True) for v in values]
    out = f(*ts)
    out.sum().backward()
    return out.numpy(), [t.grad.numpy() for t in ts]


# ------------------------------------------------------- zero gradients (regression)
@pytest.mark.parametrize("f", ROUNDING, ids=lambda f: f.__name__)
def test_rounding_has_a_zero_gradient_not_an_error(f):
    x = cr.tensor([-1.7, -0.2, 0.4, 2.5], requires_grad=True)
    y = f(x)
    assert y.requires_grad and y.grad_fn.name == f.__name__
    (y * x).sum().backward()  # d/dx (f(x) x) = f(x): only the product rule's other factor
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    x.grad = None
    g = cr.grad(lambda a: f(a).sum())(x)
    np.testing.assert_array_equal(g.numpy(), [0.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("f", ROUNDING, ids=lambda f: f.__name__)
def test_rounding_second_derivatives_are_zero(f):
    v = np.array([-1.7, -0.2, 0.4, 2.3])
    assert gradgradcheck(lambda a: f(a) * a * a, v)
    x = cr.tensor(v, requires_grad=True)
    (g,) = cr.grad(lambda a: (f(a) * a).sum(), argnums=(0,))(x)
    np.testing.assert_array_equal(g.numpy(), f(v).numpy())


@pytest.mark.parametrize("f, ref", [(cr.floor, np.floor), (cr.ceil, np.ceil),
                                    (cr.trunc, np.trunc), (cr.round, np.round)])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_rounding_keeps_integer_tensors_integer(f, ref, dtype):
    v = np.array([0, 3, 7, 100], dtype)
    out = f(cr.tensor(v))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), v)
    assert out.numpy() is not v


def test_round_decimals_matches_numpy_and_rounds_halves_to_even():
    v = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1.2345, -3.14159, 1234.5678])
    for d in (0, 1, 2, 3, -1, -2):
        np.testing.assert_array_equal(cr.round(cr.tensor(v), d).numpy(), np.round(v, d))
        np.testing.assert_array_equal(cr.tensor(v).round(decimals=d).numpy(), np.round(v, d))
    np.testing.assert_array_equal(cr.round(cr.tensor([15, 25, -35]), -1).numpy(), [20, 20, -40])
    assert cr.round(cr.tensor(np.array([1.26], np.float32)), 1).dtype == np.float32
    assert gradcheck(lambda a: cr.round(a, 2) + a, np.array([0.1234, -1.2361]))
    with pytest.raises(TypeError, match="round: decimals must be an int, got 1.5"):
        cr.round(cr.tensor([1.0]), 1.5)


# ---------------------------------------------------------------- integer arithmetic
INT_A = np.array([-7, -6, -1, 0, 1, 5, 7, 9])
INT_B = np.array([3, -3, 2, -4, 3, -2, 2, -5])


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_division_family_keeps_integers_and_matches_numpy(dtype):
    a, b = cr.tensor(INT_A.astype(dtype)), cr.tensor(INT_B.astype(dtype))
    cases = [
        (cr.floor_divide(a, b), np.floor_divide(INT_A, INT_B)),
        (a // b, INT_A // INT_B),
        (a % b, INT_A % INT_B),
        (cr.remainder(a, b), np.remainder(INT_A, INT_B)),
        (cr.fmod(a, b), np.fmod(INT_A, INT_B)),
        (cr.div(a, b, rounding_mode="floor"), INT_A // INT_B),
        (cr.div(a, b, rounding_mode="trunc"), np.trunc(INT_A / INT_B).astype(np.int64)),
        (a.div(b, rounding_mode="trunc"), np.trunc(INT_A / INT_B).astype(np.int64)),
        (cr.square(a), INT_A * INT_A),
    ]
    for out, expected in cases:
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_allclose(cr.div(a, b).numpy(), INT_A / INT_B, rtol=1e-15)
    assert cr.div(a, b).dtype == np.float64 and cr.reciprocal(a[1:2]).dtype == np.float64


def test_python_operators_and_their_reflections():
    xv = np.array([-7.5, -1.0, 0.25, 5.0, 9.75])
    x = cr.tensor(xv)
    np.testing.assert_array_equal((x // 2).numpy(), xv // 2)
    np.testing.assert_array_equal((x % 2).numpy(), xv % 2)
    np.testing.assert_array_equal((x % -2).numpy(), xv % -2)
    np.testing.assert_array_equal((10 // x).numpy(), 10 // xv)
    np.testing.assert_array_equal((10 % x).numpy(), 10 % xv)
    np.testing.assert_array_equal((x // x[::-1]).numpy(), xv // xv[::-1])
    assert (cr.tensor([7, -7]) // 2).tolist() == [3, -4]
    assert (cr.tensor([7, -7]) % 3).tolist() == [1, 2]
    assert (7 % cr.tensor([3, -3])).tolist() == [1, -2]


def test_trunc_division_of_floats_and_mixed_operands():
    xv, yv = np.array([-7.5, -1.0, 0.25, 5.0, 9.75]), np.array([2.0, -3.0, 0.1, -2.0, 2.5])
    out = cr.div(cr.tensor(xv), cr.tensor(yv), "trunc")
    np.testing.assert_array_equal(out.numpy(), np.trunc(xv / yv))
    out = cr.div(cr.tensor([-7, 7]), 2.5, "trunc")  # int tensor, float divisor: a float
    assert out.dtype == np.float64 or out.dtype == np.float32
    assert out.tolist() == [-2.0, 2.0]
    assert cr.div(cr.tensor([-7.0]), 2.0, "floor").tolist() == [-4.0]


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: a // b, lambda a, b: a % b, lambda a, b: cr.fmod(a, b),
        lambda a, b: cr.div(a, b, "trunc"), lambda a, b: cr.div(a, b, "floor"),
    ],
)  # fmt: skip
def test_integer_division_by_zero_raises(call):
    a = cr.tensor(np.array([4, 5], np.int64))
    with pytest.raises(ZeroDivisionError, match=r"integer division by zero \(operands of shapes"):
        call(a, cr.tensor(np.array([1, 0], np.int64)))
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        call(a, 0)


def test_float_division_by_zero_follows_ieee():
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cr.floor_divide(cr.tensor([1.0, -1.0]), 0.0)
        assert np.isinf(out.numpy()).all() or np.isnan(out.numpy()).all()


def test_div_rejects_unknown_rounding_modes():
    with pytest.raises(ValueError, match="div: rounding_mode must be None, 'trunc' or 'floor'"):
        cr.div(cr.tensor([1.0]), 2.0, rounding_mode="round")


def test_remainder_and_fmod_gradients_are_pytorchs():
    x, y = [-7.5, 7.5, 4.0, -4.0], [2.0, -2.0, 3.0, 3.0]
    out, (gx, gy) = _grads(cr.remainder, x, y)
    np.testing.assert_array_equal(out, np.remainder(x, y))
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gy, -np.floor(np.divide(x, y)))  # [4, 4, -1, 2]
    out, (gx, gy) = _grads(cr.fmod, x, y)
    np.testing.assert_array_equal(out, np.fmod(x, y))
    np.testing.assert_array_equal(gx, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gy, -np.trunc(np.divide(x, y)))  # [3, 3, -1, 1]
    out, (gx, gy) = _grads(lambda a, b: a // b, x, y)
    np.testing.assert_array_equal(out, np.floor_divide(x, y))
    assert not gx.any() and not gy.any()
    _, (g,) = _grads(lambda a: 10.0 % a, [3.0, -4.0])
    np.testing.assert_array_equal(g, [-3.0, 3.0])


def test_copysign_gradient():
    out, (gx, gy) = _grads(cr.copysign, [2.0, -3.0, 0.0, 4.0], [-1.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(out, [-2.0, -3.0, -0.0, 4.0])
    np.testing.assert_array_equal(gx, [-1.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0, 0.0])


def test_hypot_gradient_at_the_origin_is_zero():
    out, (gx, gy) = _grads(cr.hypot, [0.0, 3.0], [0.0, -4.0])
    np.testing.assert_array_equal(out, [0.0, 5.0])
    np.testing.assert_array_equal(gx, [0.0, 0.6])
    np.testing.assert_array_equal(gy, [0.0, -0.8])


def test_hypot_and_logaddexp_do_not_overflow():
    big = cr.tensor(np.array([1e300, 1e300]), requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        h = cr.hypot(big, big)
        h.sum().backward()
    np.testing.assert_allclose(h.numpy(), np.sqrt(2) * 1e300, rtol=1e-15)
    np.testing.assert_allclose(big.grad.numpy(), 2 / np.sqrt(2), rtol=1e-15)
    x = cr.tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    out = cr.logaddexp(x, cr.tensor(np.array([1000.0, 0.0])))
    np.testing.assert_allclose(out.numpy(), [1000.0 + np.log(2.0), 0.0], rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.0], atol=1e-300)


def test_logaddexp_of_two_minus_infinities_has_a_zero_gradient():
    x = cr.tensor(np.array([-np.inf, 0.0]), requires_grad=True)
    y = cr.tensor(np.array([-np.inf, -np.inf]), requires_grad=True)
    with np.errstate(all="raise"):
        out = cr.logaddexp(x, y)
        out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), [-np.inf, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0])


# ------------------------------------------------------------------------------ lerp
def test_lerp_values_and_gradients():
    rng = np.random.default_rng(0)
    s, e, w = rng.normal(size=(2, 3)), rng.normal(size=(3,)), rng.uniform(0, 1, (2, 1))
    out = cr.lerp(cr.tensor(s), cr.tensor(e), cr.tensor(w))
    np.testing.assert_allclose(out.numpy(), s + w * (e - s), rtol=1e-14, atol=1e-15)
    assert gradcheck(cr.lerp, s, e, w)
    assert gradgradcheck(cr.lerp, s, e, w)
    assert gradcheck(lambda a, b: cr.lerp(a, b, 0.3), s, e)
    assert gradgradcheck(lambda a, b: a.lerp(b * b, 0.7), s, e)
    # exact at both ends, as PyTorch's two-sided formula
    a, b = cr.tensor([0.1, 1e16]), cr.tensor([0.7, 1.0])
    assert cr.lerp(a, b, 1.0).tolist() == b.tolist() and cr.lerp(a, b, 0.0).tolist() == a.tolist()
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    y = cr.lerp(x, 2.0, 0.25)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [0.75, 0.75, 0.75]


# ------------------------------------------------------------------------ nan_to_num
def test_nan_to_num_values_and_gradient():
    v = np.array([1.5, np.nan, np.inf, -np.inf, -2.0])
    x = cr.tensor(v, requires_grad=True)
    for kw in ({}, {"nan": 7.0}, {"posinf": 9.0, "neginf": -9.0}):
        out = cr.nan_to_num(x, **kw)
        np.testing.assert_array_equal(out.numpy(), np.nan_to_num(v, **kw))
    out = x.nan_to_num(nan=-1.0, posinf=9.0, neginf=-9.0)
    (out * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 0.0, 0.0, 3.0])
    assert gradgradcheck(lambda a: cr.nan_to_num(a * a), np.array([0.5, -1.5]))
    f32 = cr.nan_to_num(cr.tensor(np.array([np.inf], np.float32)))
    assert f32.dtype == np.float32 and f32.item() == np.finfo(np.float32).max


# ----------------------------------------------------------------------- predicates
def test_predicates_match_numpy():
    v = np.array([1.0, np.nan, np.inf, -np.inf, 0.0])
    x = cr.tensor(v, requires_grad=True)
    for f, ref in ((cr.isnan, np.isnan), (cr.isinf, np.isinf)):
        out = f(x)
        assert out.dtype == np.bool_ and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), ref(v))
    np.testing.assert_array_equal(x.isnan().numpy(), np.isnan(v))
    a, b = np.array([1.0, 1.0, np.nan, 100.0]), np.array([1.0 + 1e-9, 1.1, np.nan, 100.001])
    np.testing.assert_array_equal(cr.isclose(a, b).numpy(), np.isclose(a, b))
    np.testing.assert_array_equal(
        cr.isclose(cr.tensor(a), b, rtol=1e-3, equal_nan=True).numpy(),
        np.isclose(a, b, rtol=1e-3, equal_nan=True),
    )
    assert cr.tensor(a).isclose(cr.tensor(b), atol=0.2).tolist() == [True, True, False, True]


# -------------------------------------------------------------------- the rule table
def test_new_primitives_are_in_the_rule_table_with_formulas():
    names = ["floor", "ceil", "trunc", "round", "sign", "floor_divide", "trunc_divide",
             "remainder", "fmod", "copysign", "tan", "arcsin", "arccos", "arctan", "arctan2",
             "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "log2", "log10", "exp2", "rsqrt",
             "reciprocal", "square", "logaddexp", "lerp", "hypot", "nan_to_num"]  # fmt: skip
    for name in names:
        assert primitive_table[name].formula
    assert primitive_table["remainder"].formula == "dx = g;  dy = -g * floor(x / y)"
    x = cr.tensor([0.5], requires_grad=True)
    text = str(cr.explain(cr.arcsinh(x).sum()))
    assert "g / sqrt(x**2 + 1)" in text


def test_pytorch_names_are_tensor_methods():
    x = cr.tensor([0.25, 0.5])
    names = ("asin", "acos", "atan", "asinh", "atanh", "arcsin", "tan", "log2", "exp2",
             "rsqrt", "square", "reciprocal", "floor", "ceil", "trunc", "round", "fmod",
             "remainder", "copysign", "hypot", "logaddexp", "atan2", "floor_divide")  # fmt: skip
    for name in names:
        assert callable(getattr(x, name)), name
    np.testing.assert_allclose(x.asin().numpy(), np.arcsin([0.25, 0.5]), rtol=1e-6)
    np.testing.assert_allclose(x.atan2(x + 1).numpy(), np.arctan2([0.25, 0.5], [1.25, 1.5]),
                               rtol=1e-6)  # fmt: skip


# ---------------------------------------------------- GPU code path (a fake CuPy on NumPy)
DEVICE_CASES = {
    "floor": lambda a: cr.floor(a) * a,
    "round": lambda a: cr.round(a, 1) * a,
    "sign": lambda a: cr.sign(a) * a,
    "remainder": lambda a: a % 0.7,
    "fmod": lambda a: cr.fmod(a, 0.7),
    "floor_divide": lambda a: (a // 0.7) * a,
    "div_trunc": lambda a: cr.div(a, 0.7, "trunc") * a,
    "copysign": lambda a: cr.copysign(a, -1.0),
    "arctan2": lambda a: cr.arctan2(a, a + 3),
    "hypot": lambda a: cr.hypot(a, a * 2),
    "logaddexp": lambda a: cr.logaddexp(a, a * 2),
    "lerp": lambda a: cr.lerp(a, a * a, 0.3),
    "nan_to_num": cr.nan_to_num,
    "rsqrt": lambda a: cr.rsqrt(a * a + 1),
}


@pytest.mark.parametrize("name", list(DEVICE_CASES))
def test_device_arrays_stay_on_the_device_and_match_the_cpu(name, monkeypatch):
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    v = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    results = []
    for on_device in (False, True):
        x = cr.tensor(cupy.asarray(v) if on_device else v, requires_grad=True)
        y = DEVICE_CASES[name](x)
        y.sum().backward()
        if on_device:
            assert hasattr(y.data, "__cuda_array_interface__")
            assert hasattr(x.grad.data, "__cuda_array_interface__")
        results.append((y.numpy(), x.grad.numpy()))
    (y_cpu, g_cpu), (y_dev, g_dev) = results
    np.testing.assert_array_equal(y_dev, y_cpu)
    np.testing.assert_array_equal(g_dev, g_cpu)
