"""optim.minimize: full-batch optimisation through scipy.optimize with exact gradients."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

pytest.importorskip("scipy.optimize")

TIGHT = {"gtol": 1e-12, "ftol": 1e-15, "maxiter": 2000}


def test_least_squares_reaches_the_lstsq_solution():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = X @ np.array([1.5, -2.0, 0.5, 3.0]) + 0.1 * rng.standard_normal(50)
    Xt, yt = cr.tensor(X), cr.tensor(y)
    w = cr.nn.Parameter(cr.zeros(4, dtype="float64"))
    b = cr.nn.Parameter(cr.zeros((), dtype="float64"))

    def loss():
        r = Xt @ w + b - yt
        return (r * r).sum()

    res = optim.minimize(loss, [w, b], options=TIGHT)
    A = np.hstack([X, np.ones((50, 1))])
    expected = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(np.append(w.numpy(), b.numpy()), expected, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.x, expected, rtol=0, atol=1e-8)
    assert res.fun == pytest.approx(((A @ expected - y) ** 2).sum(), rel=1e-12)
    assert w.dtype == np.float64 and b.shape == ()


def _newton_logistic(X, y, lam):
    """Reference: Newton's method on mean(log(1 + exp(-y * Xw))) + lam/2 |w|^2, y in {-1, 1}."""
    w = np.zeros(X.shape[1])
    for _ in range(50):
        z = y * (X @ w)
        s = 1 / (1 + np.exp(z))  # sigmoid(-z)
        grad = -(X.T @ (y * s)) / len(y) + lam * w
        hess = (X.T * (s * (1 - s))) @ X / len(y) + lam * np.eye(X.shape[1])
        w = w - np.linalg.solve(hess, grad)
    return w


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "CG", "Newton-CG", "trust-constr"])
def test_logistic_regression_reaches_the_newton_optimum(method):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 3))
    y = np.where(X @ np.array([2.0, -1.0, 0.5]) + rng.standard_normal(80) > 0, 1.0, -1.0)
    lam = 0.1
    Xt, yt = cr.tensor(X), cr.tensor(y)

    class Logistic(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = cr.nn.Parameter(cr.zeros(3, dtype="float64"))

        def forward(self):
            return cr.softplus(-yt * (Xt @ self.w)).mean() + lam / 2 * (self.w * self.w).sum()

    model = Logistic()
    options = {
        "L-BFGS-B": {"gtol": 1e-10}, "BFGS": {"gtol": 1e-10}, "CG": {"gtol": 1e-7},
        "Newton-CG": {"xtol": 1e-12}, "trust-constr": {"gtol": 1e-10},
    }[method]  # fmt: skip
    res = optim.minimize(model, model, method=method, options=options)
    assert res.success, res.message
    np.testing.assert_allclose(model.w.numpy(), _newton_logistic(X, y, lam), atol=1e-6)


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS"])
def test_rosenbrock_reaches_one_one(method):
    xy = cr.nn.Parameter(cr.tensor([-1.2, 1.0], dtype="float64"))

    def rosenbrock():
        x, y = xy[0], xy[1]
        return (1 - x) ** 2 + 100 * (y - x * x) ** 2

    options = TIGHT if method == "L-BFGS-B" else {"gtol": 1e-10}
    res = optim.minimize(rosenbrock, [xy], method=method, options=options)
    assert res.success, res.message
    np.testing.assert_allclose(xy.numpy(), [1.0, 1.0], atol=1e-6)
    assert res.nit > 10  # it had to climb the valley


def test_float32_parameters_keep_their_dtype_and_arrays():
    target = np.array([[0.25, -1.5], [3.0, 0.5]], np.float32)
    w = cr.nn.Parameter(cr.zeros(2, 2))
    array = w.numpy()
    res = optim.minimize(lambda: ((w - cr.tensor(target)) ** 2).sum(), [w])
    assert w.dtype == np.float32 and w.numpy() is array
    assert res.x.dtype == np.float64
    np.testing.assert_allclose(w.numpy(), target, atol=1e-5)


def test_grad_attributes_are_left_alone_and_graphs_see_the_change():
    w = cr.nn.Parameter(cr.tensor([1.0, 2.0], dtype="float64"))
    sentinel = cr.tensor([7.0, 7.0], dtype="float64")
    w.grad = sentinel
    stale = (w * w).sum()
    optim.minimize(lambda: ((w - 3.0) ** 2).sum(), [w])
    assert w.grad is sentinel
    np.testing.assert_allclose(w.numpy(), [3.0, 3.0], atol=1e-6)
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


def test_gradient_free_method_gets_no_jacobian():
    w = cr.nn.Parameter(cr.tensor([0.0, 0.0], dtype="float64"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SciPy warns when handed a jac it cannot use
        res = optim.minimize(
            lambda: ((w - cr.tensor([1.0, -1.0], dtype="float64")) ** 2).sum(), [w],
            method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-14},
        )  # fmt: skip
    assert res.success
    np.testing.assert_allclose(w.numpy(), [1.0, -1.0], atol=1e-6)


def test_bounds_per_parameter():
    a = cr.nn.Parameter(cr.zeros(3, dtype="float64"))
    b = cr.nn.Parameter(cr.zeros((), dtype="float64"))

    def loss():
        return ((a - 3.0) ** 2).sum() + (b + 2.0) ** 2

    res = optim.minimize(loss, [a, b], bounds=[(None, [1.0, 5.0, 2.0]), (-1.0, None)])
    assert res.success
    np.testing.assert_allclose(a.numpy(), [1.0, 3.0, 2.0], atol=1e-8)
    assert b.item() == pytest.approx(-1.0)


def test_callback_and_options_are_passed_through():
    w = cr.nn.Parameter(cr.tensor([5.0], dtype="float64"))
    seen = []
    res = optim.minimize(
        lambda: (w**4).sum(), [w], callback=lambda xk: seen.append(xk.copy()),
        options={"maxiter": 3},
    )  # fmt: skip
    assert res.nit == 3 and len(seen) == 3
    assert w.item() == res.x[0]


def test_loss_independent_of_the_parameters():
    w = cr.nn.Parameter(cr.tensor([5.0], dtype="float64"))
    res = optim.minimize(lambda: cr.tensor(2.0, dtype="float64"), [w])
    assert res.fun == 2.0 and w.item() == 5.0


def test_missing_scipy_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.optimize", None)
    w = cr.nn.Parameter(cr.zeros(1))
    with pytest.raises(ImportError, match=r'pip install "chainrule\[scipy\]"'):
        optim.minimize(lambda: (w * w).sum(), [w])


W = cr.nn.Parameter(cr.tensor([1.0, 2.0], dtype="float64"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"fun": lambda: "x"}, TypeError, "must return a one-element Tensor.*got a str"),
        ({"fun": lambda: W * 2}, TypeError, r"got a Tensor of shape \(2,\)"),
        ({"fun": 3}, TypeError, "fun must be a callable"),
        ({"params": []}, ValueError, "empty parameter list"),
        ({"params": [cr.zeros(2)]}, ValueError, "must be a leaf tensor that requires grad"),
        ({"params": [W, W]}, ValueError, "appears more than once"),
        ({"params": [np.zeros(2)]}, TypeError, "is a ndarray; expected a Tensor"),
        ({"bounds": [None, None]}, ValueError, "bounds has 2 entries but there are 1"),
        ({"bounds": [(0.0,)]}, ValueError, r"bounds\[0\] must be None or a pair"),
        ({"bounds": [([0, 0, 0], None)]}, ValueError, r"shape \(3,\), which does not broadcast"),
        ({"bounds": [(1.0, 0.0)]}, ValueError, "lower bounds are above"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"fun": lambda: (W * W).sum(), "params": [W], **kwargs}
    before = W.numpy().copy()
    with pytest.raises(error, match=match):
        optim.minimize(args.pop("fun"), args.pop("params"), **args)
    if "fun" not in kwargs:
        np.testing.assert_array_equal(W.numpy(), before)



def test_importing_chainrule_does_not_import_scipy():
    import subprocess

    code = "import sys, chainrule; sys.exit('scipy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("method", ["Powell", "Nelder-Mead", "L-BFGS-B"])
def test_the_solution_scipy_returns_is_written_back_not_the_last_point_tried(method):
    """Powell's line searches end on trial points: the parameters must hold ``result.x``, not
    whatever ``fun`` saw last."""
    w = cr.nn.Parameter(cr.tensor([0.0, 0.0, 0.0], dtype="float64"))
    b = cr.nn.Parameter(cr.tensor(0.5, dtype="float64"))
    target = cr.tensor([1.0, -2.0, 0.5], dtype="float64")
    seen = []

    def fun():
        seen.append(np.append(w.numpy(), b.numpy()))
        return ((w - target) ** 2).sum() + (w.sum() * b - 1.0) ** 2 + b**4

    res = optim.minimize(fun, [w, b], method=method, options={"maxiter": 3})
    if method != "L-BFGS-B":  # gradient-based methods may happen to end on the solution
        assert not np.array_equal(seen[-1], res.x)  # else this test could not fail
    np.testing.assert_array_equal(np.append(w.numpy(), b.numpy()), res.x)
    assert fun().item() == res.fun
