"""Functional transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def cube_sum(x):
    return (x**3).sum()


def test_grad_returns_the_kind_it_was_given():
    x = np.array([1.0, 2.0])
    g = cr.grad(cube_sum)(x)
    assert type(g) is np.ndarray and g.dtype == np.float64
    np.testing.assert_array_equal(g, [3.0, 12.0])
    gt = cr.grad(cube_sum)(cr.tensor(x))
    assert isinstance(gt, cr.Tensor) and not gt.requires_grad
    np.testing.assert_array_equal(gt.numpy(), [3.0, 12.0])
    gf = cr.grad(lambda v: v * v * 3.0)(2.0)
    assert type(gf) is float and gf == 12.0


def test_grad_keeps_float32():
    g = cr.grad(cube_sum)(np.array([1.0, 2.0], np.float32))
    assert g.dtype == np.float32


def test_grad_argnums_tuple_and_has_aux():
    def f(w, x, scale):
        loss = (w * x).sum() * scale
        return loss, {"scale": scale}

    (gw, gx), aux = cr.grad(f, argnums=(0, 1), has_aux=True)(
        np.array([1.0, 2.0]), np.array([3.0, 5.0]), 2.0
    )
    np.testing.assert_array_equal(gw, [6.0, 10.0])
    np.testing.assert_array_equal(gx, [2.0, 4.0])
    assert aux == {"scale": 2.0}
    gneg = cr.grad(lambda a, b: (a * b).sum(), argnums=-1)(np.ones(2), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(gneg, [1.0, 1.0])


def test_value_and_grad():
    (value, aux), g = cr.value_and_grad(lambda x: (cube_sum(x), "aux"), has_aux=True)(
        np.array([1.0, 2.0])
    )
    assert float(value) == 9.0 and aux == "aux"
    np.testing.assert_array_equal(g, [3.0, 12.0])
    value, g = cr.value_and_grad(cube_sum)(cr.tensor([1.0, 2.0], dtype=np.float64))
    assert isinstance(value, cr.Tensor) and value.item() == 9.0 and not value.requires_grad


def test_pytrees_in_and_out():
    params = {"w": np.array([1.0, 2.0]), "layers": [np.array(3.0), (np.array([4.0]),)]}

    def f(p):
        return (p["w"] * p["layers"][0]).sum() + (p["layers"][1][0] ** 2).sum()

    g = cr.grad(f)(params)
    assert set(g) == {"w", "layers"} and isinstance(g["layers"], list)
    assert isinstance(g["layers"][1], tuple)
    np.testing.assert_array_equal(g["w"], [3.0, 3.0])
    np.testing.assert_array_equal(g["layers"][0], 3.0)
    np.testing.assert_array_equal(g["layers"][1][0], [8.0])


def test_grad_touches_no_grad_attribute():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = cr.tensor([7.0, 7.0])
    g = cr.grad(cube_sum)(w)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    np.testing.assert_array_equal(w.grad.numpy(), [7.0, 7.0])
    assert w.is_leaf


def test_unused_input_gets_zero_gradient_and_constant_function():
    g = cr.grad(lambda a, b: (a * 2.0).sum(), argnums=(0, 1))(np.ones(2), np.ones(3))
    np.testing.assert_array_equal(g[1], np.zeros(3))
    np.testing.assert_array_equal(cr.grad(lambda a: 3.0)(np.ones(2)), np.zeros(2))


def test_nested_grad_third_derivative():
    f = lambda x: x**4  # noqa: E731
    d1 = cr.grad(f)
    d2 = cr.grad(d1)
    d3 = cr.grad(d2)
    assert d1(2.0) == 32.0 and d2(2.0) == 48.0 and d3(2.0) == 48.0


def test_nested_grad_with_closure_over_outer_variable():
    # d/dx [ x * d/dy (x * y**2) at y=3 ] = d/dx [ x * 6x ] = 12 x
    def outer(x):
        inner = cr.grad(lambda y: x * y**2)(cr.tensor(3.0, dtype=np.float64))
        return x * inner

    x = np.array(2.0)
    assert float(cr.grad(outer)(x)) == 24.0


def test_hessian_of_logistic_loss_is_xt_diag_p1mp_x():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    y = (rng.random(20) < 0.5).astype(np.float64)
    w = rng.normal(size=3)

    def loss(w):
        z = X @ w
        return (cr.softplus(z) - y * z).sum()  # -log likelihood of logistic regression

    p = 1 / (1 + np.exp(-(X @ w)))
    expected = X.T @ np.diag(p * (1 - p)) @ X
    np.testing.assert_allclose(cr.hessian(loss)(w), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cr.grad(loss)(w), X.T @ (p - y), rtol=1e-12, atol=1e-12)


def test_jacobian_shapes_and_values():
    A = np.arange(6.0).reshape(2, 3)
    J = cr.jacobian(lambda x: A @ x)(np.ones(3))
    np.testing.assert_array_equal(J, A)
    J2 = cr.jacobian(lambda x: x * 2.0)(np.ones((2, 2)))
    assert J2.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(J2.reshape(4, 4), 2 * np.eye(4))
    jac = cr.jacobian(lambda a, b: a * b, argnums=(0, 1))
    Ja, Jb = jac(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(Ja, np.diag([3.0, 4.0]))
    np.testing.assert_array_equal(Jb, np.diag([1.0, 2.0]))


def test_jvp_matches_jacobian_times_tangent():
    rng = np.random.default_rng(1)
    x = rng.normal(size=4)
    t = rng.normal(size=4)
    f = lambda x: cr.tanh(x) * x.sum()  # noqa: E731
    out, tangent = cr.jvp(f, (x,), (t,))
    J = cr.jacobian(f)(x)
    np.testing.assert_allclose(out, np.tanh(x) * x.sum(), rtol=1e-14)
    np.testing.assert_allclose(tangent, J @ t, rtol=1e-12, atol=1e-14)


def test_jvp_of_several_primals_and_floats():
    out, tangent = cr.jvp(lambda a, b: a * b, (2.0, 3.0), (1.0, 0.0))
    assert tangent == 3.0 and float(out) == 6.0


def test_vjp_can_be_called_many_times_and_handles_several_outputs():
    out, f_vjp = cr.vjp(lambda x, y: (x * y, x + y), np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(out[0], [3.0, 8.0])
    for _ in range(2):
        gx, gy = f_vjp((np.ones(2), np.ones(2)))
        np.testing.assert_array_equal(gx, [4.0, 5.0])
        np.testing.assert_array_equal(gy, [2.0, 3.0])
    (g,) = cr.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))[1](np.array([1.0, 10.0]))
    np.testing.assert_array_equal(g, [3.0, 30.0])


def test_grad_of_grad_via_vjp_matches_hessian_vector_product():
    rng = np.random.default_rng(2)
    x = rng.normal(size=3)
    v = rng.normal(size=3)
    f = lambda x: (cr.exp(x) * x).sum()  # noqa: E731
    _, hvp = cr.jvp(cr.grad(f), (x,), (v,))
    H = cr.hessian(f)(x)
    np.testing.assert_allclose(hvp, H @ v, rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cr.grad(lambda x: x * 2.0)(np.ones(3)), r"grad: .*scalar.*shape \(3,\)"),
        (lambda: cr.grad(cube_sum)(np.arange(3)), r"grad: argument 0 has dtype int64"),
        (lambda: cr.grad(cube_sum)(3), r"grad: argument 0 is the Python int 3"),
        (lambda: cr.grad(cube_sum, argnums=2)(np.ones(2)), r"argnums 2 is out of range"),
        (lambda: cr.grad(cube_sum)("abc"), r"grad: argument 0 is a str"),
        (lambda: cr.jvp(cube_sum, (np.ones(2),), ()), r"jvp: got 1 primals but 0 tangents"),
        (lambda: cr.vjp(lambda x: x, np.ones(2))[1](np.ones(3)), r"vjp: cotangent has shape"),
        (lambda: cr.grad(lambda x: "nope")(np.ones(2)), r"grad: the function must return a Tensor"),
    ],
)
def test_errors(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()
