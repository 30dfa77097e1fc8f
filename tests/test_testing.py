"""gradcheck and gradgradcheck must catch wrong rules, not only pass right ones."""

from __future__ import annotations

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.define import apply, define
from chainrule.testing import GradcheckError, gradcheck, gradgradcheck

# A primitive whose rule is off by a factor: d(x^2)/dx written as x instead of 2x.
_wrong_square = define(
    "test_testing_wrong_square", (lambda xp, g, out, x: g * x,), "g * x  (deliberately wrong)"
)


def wrong_square(x):
    return apply(_wrong_square, lambda xp, x: x * x, (x,))


# A rule wrong only for the second argument, so the message must name input 1.
_wrong_second = define(
    "test_testing_wrong_second",
    (lambda xp, g, out, x, y: g * y, lambda xp, g, out, x, y: g * x + 1.0),
    "dx = g y;  dy = g x + 1  (deliberately wrong)",
)


def wrong_second(x, y):
    return apply(_wrong_second, lambda xp, x, y: x * y, (x, y))


# x^3 with a rule that is right at first order, but reads x through np.asarray: under
# create_graph that turns the Tensor into a constant, so the rule's own derivative (6 x g) is lost.
_cube_raw_rule = define(
    "test_testing_cube_raw_rule",
    (lambda xp, g, out, x: g * (3.0 * np.asarray(x) ** 2),),
    "g * 3 x^2  (computed outside the graph)",
)


def cube_raw_rule(x):
    return apply(_cube_raw_rule, lambda xp, x: x * x * x, (x,))


# A control that must pass: sin with its rule written as sqrt(1 - out^2) * sign(cos x). The sign
# comes from raw NumPy (a constant under create_graph), which is harmless because its derivative
# is zero; the magnitude is built from `out` (the output Tensor), so the second derivative is right.
_sin_via_out = define(
    "test_testing_sin_via_out",
    (lambda xp, g, out, x: g * xp.sqrt(1.0 - out * out) * np.sign(np.cos(np.asarray(x))),),
    "g * cos(x) via sin",
)


def sin_via_out(x):
    return apply(_sin_via_out, lambda xp, x: xp.sin(x), (x,))


def test_gradcheck_passes_a_correct_function():
    assert gradcheck(lambda x: cr.exp(x) * x, np.array([0.1, -0.4, 1.2]))
    assert gradcheck(lambda x, y: x / y, np.array([[1.0, 2.0]]), np.array([0.5, 3.0]))


def test_gradcheck_catches_a_wrong_rule_and_says_where():
    v = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong_square, v)
    msg = str(info.value)
    assert "input 0" in msg and "shape (2, 3)" in msg
    assert "element (0, 0)" in msg  # the first element already disagrees
    m = re.search(r"reverse mode ([-\d.e]+), finite differences ([-\d.e]+)", msg)
    assert m, msg
    analytic, numeric = float(m.group(1)), float(m.group(2))
    u = np.random.default_rng(0).standard_normal(v.shape)[0, 0]  # gradcheck's output weighting
    np.testing.assert_allclose(analytic, u * v[0, 0], rtol=1e-12)
    np.testing.assert_allclose(numeric, u * 2 * v[0, 0], rtol=1e-6)
    assert isinstance(info.value, AssertionError)


def test_gradcheck_catches_a_wrong_rule_on_a_fortran_ordered_input():
    # A transposed array is Fortran-ordered: the perturbations must still reach the input.
    v = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]).T
    assert not v.flags.c_contiguous
    with pytest.raises(GradcheckError, match="element"):
        gradcheck(wrong_square, v)
    assert gradcheck(lambda x: x * x, v)


def test_gradcheck_names_the_second_input():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2,\)\) at element \(0,\)"):
        gradcheck(wrong_second, x, y)


def test_gradcheck_reports_a_0d_element():
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(\)\) at element \(\)"):
        gradcheck(wrong_square, np.array(1.5))


def test_gradcheck_catches_an_error_in_one_element_only():
    # right everywhere except where x > 1: the message points at that element
    prim = define(
        "test_testing_wrong_above_one",
        (lambda xp, g, out, x: g * xp.where(x > 1, 0.0, xp.cos(x)),),
        "g cos(x), wrong for x > 1",
    )
    v = np.array([0.1, 0.2, 1.5, 0.3])
    with pytest.raises(GradcheckError, match=r"element \(2,\)"):
        gradcheck(lambda x: apply(prim, lambda xp, x: xp.sin(x), (x,)), v)


def test_gradgradcheck_passes_a_correct_second_derivative():
    assert gradgradcheck(lambda x: cr.tanh(x) * x, np.array([0.3, -1.1]))
    assert gradgradcheck(sin_via_out, np.array([0.3, 2.0, -2.5]))


def test_cube_with_a_raw_numpy_rule_is_right_at_first_order():
    v = np.array([0.5, -1.2, 2.0])
    assert gradcheck(cube_raw_rule, v)
    x = cr.tensor(v, requires_grad=True)
    cube_raw_rule(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * v**2, rtol=1e-15)


def test_gradgradcheck_catches_a_wrong_second_derivative():
    v = np.array([0.5, -1.2, 2.0])
    with pytest.raises(GradcheckError, match=r"gradcheck: mismatch for input 0 .*element \(0,\)"):
        gradgradcheck(cube_raw_rule, v)
    # the same function built from differentiable operations passes
    assert gradgradcheck(lambda x: x * x * x, v)


def test_gradgradcheck_catches_a_rule_whose_derivative_is_wrong_but_not_zero():
    # d/dx of the rule g * 2x is computed as 3 g (a wrong rule for the second order only):
    # the first-order rule is built as g*2x evaluated through a primitive with a wrong vjp.
    twice = define(
        "test_testing_twice_wrong_vjp", (lambda xp, g, out, x: 3.0 * g,), "3 g (wrong: 2 g)"
    )

    def double(x):
        return apply(twice, lambda xp, x: 2.0 * x, (x,))

    square = define(
        "test_testing_square_via_double", (lambda xp, g, out, x: g * _double_any(xp, x),), ""
    )

    def _double_any(xp, x):
        return double(x) if isinstance(x, cr.Tensor) else 2.0 * x

    def f(x):
        return apply(square, lambda xp, x: x * x, (x,))

    v = np.array([0.7, -0.2])
    assert gradcheck(f, v)
    with pytest.raises(GradcheckError, match="input 0"):
        gradgradcheck(f, v)


def test_integer_and_bool_inputs_pass_through_unchanged():
    seen = []
    idx = np.array([2, 0, 1])
    mask = np.array([True, False, True])

    def f(x, n, i, m):
        seen.append((n, i, m))
        return cr.where(m, x**n, 0.0) * i

    assert gradcheck(f, np.array([0.5, 1.5, -2.0]), 3, idx, mask)
    assert all(n == 3 and type(n) is int and i is idx and m is mask for n, i, m in seen)
    assert gradgradcheck(f, np.array([0.5, 1.5, -2.0]), 2, idx, mask)


def test_gradcheck_does_not_modify_its_inputs_and_works_under_no_grad():
    v = np.array([0.5, 1.5])
    t = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with cr.no_grad():
        assert gradcheck(lambda a, b: a * b, v, t)
    np.testing.assert_array_equal(v, [0.5, 1.5])
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    assert t.grad is None


def test_gradcheck_checks_float32_inputs_in_float64():
    # a float32 evaluation would fail these tolerances with eps=1e-6
    assert gradcheck(lambda x: cr.sin(x) * x, np.array([0.3, 1.7], np.float32))


def test_gradcheck_input_errors():
    with pytest.raises(ValueError, match="gradcheck: no floating-point input"):
        gradcheck(lambda i: cr.tensor([1.0]), np.array([1, 2]))
    with pytest.raises(ValueError, match="gradgradcheck: no floating-point input"):
        gradgradcheck(lambda i: cr.tensor([1.0]), 3)
    with pytest.raises(TypeError, match="gradcheck: the function must return a Tensor, got nd"):
        gradcheck(lambda x: np.asarray(x), np.array([1.0]))


def test_gradcheck_tolerances_are_used():
    # a rule off by 1e-3 relative: caught with tight tolerances, accepted with loose ones
    prim = define("test_testing_slightly_off", (lambda xp, g, out, x: g * 1.001,), "g * 1.001")

    def f(x):
        return apply(prim, lambda xp, x: x + 0.0, (x,))

    v = np.array([1.0, 2.0])
    with pytest.raises(GradcheckError):
        gradcheck(f, v)
    assert gradcheck(f, v, rtol=1e-2, atol=1e-2)
