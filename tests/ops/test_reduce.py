"""Reductions: forward against NumPy/SciPy, gradients against finite differences and closed forms,
edge cases (ties, zeros, -inf, huge logits, zero variance, the zero vector) and error messages."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import chainrule as cr
from chainrule.backend import numpy_namespace
from chainrule.testing import gradcheck, gradgradcheck

try:
    from scipy import special as _special
except ImportError:  # pragma: no cover - SciPy is optional
    _special = None


# ---------------------------------------------------------------------- references
def ref_logsumexp(x, axis=None, keepdims=False):
    if _special is not None:
        return _special.logsumexp(x, axis=axis, keepdims=keepdims)
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def ref_softmax(x, axis=-1):
    if _special is not None:
        return _special.softmax(x, axis=axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    if _special is not None:
        return _special.log_softmax(x, axis=axis)
    return x - ref_logsumexp(x, axis=axis, keepdims=True)


def distinct(shape, seed=0, scale=1.0):
    """Values with gaps far wider than gradcheck's step, so max/min/sort are unambiguous."""
    n = math.prod(shape)
    vals = np.random.default_rng(seed).permutation(n).astype(np.float64) - n / 2 + 0.25
    return (vals * scale).reshape(shape)


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(shape, seed=0):
    v = np.random.default_rng(seed).uniform(0.5, 1.5, shape)
    sign = np.where(np.random.default_rng(seed + 1).random(shape) < 0.5, -1.0, 1.0)
    return v * sign


def grad_of(f, x, g=None):
    """d sum(g * f(x)) / dx by reverse mode (float64 leaf)."""
    t = cr.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = f(t)
    gg = np.ones(y.shape) if g is None else g
    y.backward(gg)
    return t.grad.numpy()


# Shapes and axes used for every axis-taking reduction: 0-d, int, negative, tuple, None.
AXIS_CASES = [
    ((), None),
    ((4,), 0),
    ((2, 3), None),
    ((2, 3), -1),
    ((2, 3), (0, 1)),
    ((2, 3, 2), (0, 2)),
    ((2, 3, 2), -2),
]
AXIS_IDS = [f"{s}-{a}" for s, a in AXIS_CASES]


# ------------------------------------------------------------------------ forward values
FORWARD = {
    "sum": (cr.sum, np.sum),
    "mean": (cr.mean, np.mean),
    "var": (cr.var, np.var),
    "std": (cr.std, np.std),
    "max": (cr.max, np.max),
    "min": (cr.min, np.min),
    "prod": (cr.prod, np.prod),
    "logsumexp": (cr.logsumexp, ref_logsumexp),
}


@pytest.mark.parametrize("name", list(FORWARD))
@pytest.mark.parametrize(("shape", "axis"), AXIS_CASES, ids=AXIS_IDS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_forward_matches_numpy(name, shape, axis, keepdims):
    ours, ref = FORWARD[name]
    x = normal(shape, seed=3)
    got = ours(cr.tensor(x), axis=axis, keepdims=keepdims)
    want = ref(x, axis=axis, keepdims=keepdims)
    # NumPy's shape rule (SciPy's logsumexp gives a 0-d input with keepdims the shape (1,))
    assert got.shape == np.sum(x, axis=axis, keepdims=keepdims).shape
    np.testing.assert_allclose(got.numpy(), np.reshape(want, got.shape), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "axis"), [((5,), -1), ((2, 3), 0), ((2, 3, 4), (0, 2)),
                                             ((2, 3), None), ((), None)])
def test_softmax_and_log_softmax_match_reference(shape, axis):
    x = normal(shape, seed=4) * 3
    np.testing.assert_allclose(cr.softmax(cr.tensor(x), axis=axis).numpy(),
                               ref_softmax(x, axis=axis), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cr.log_softmax(cr.tensor(x), axis=axis).numpy(),
                               ref_log_softmax(x, axis=axis), rtol=1e-12, atol=1e-12)


def test_softmax_default_axis_is_last():
    x = normal((3, 4), seed=5)
    np.testing.assert_allclose(cr.tensor(x).softmax().numpy().sum(axis=-1), np.ones(3))
    np.testing.assert_allclose(cr.softmax(cr.tensor(x)).numpy(), ref_softmax(x, axis=-1))


def test_var_std_ddof_forward():
    x = normal((3, 4), seed=6)
    for ddof in (0, 1, 2):
        np.testing.assert_allclose(cr.var(cr.tensor(x), axis=1, ddof=ddof).numpy(),
                                   np.var(x, axis=1, ddof=ddof), rtol=1e-12)
        np.testing.assert_allclose(cr.std(cr.tensor(x), axis=0, ddof=ddof, keepdims=True).numpy(),
                                   np.std(x, axis=0, ddof=ddof, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize(("shape", "axis"), [((), None), ((5,), None), ((2, 3), None),
                                             ((2, 3), 0), ((2, 3), -1), ((2, 3, 2), 1)])
def test_cumsum_forward(shape, axis):
    x = normal(shape, seed=7)
    got = cr.cumsum(cr.tensor(x), axis=axis)
    np.testing.assert_allclose(got.numpy(), np.cumsum(x, axis=axis), rtol=1e-12)
    assert got.shape == np.cumsum(x, axis=axis).shape


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize(("shape", "axis", "keepdims"), [
    ((), None, False), ((5,), None, False), ((3, 4), None, True), ((3, 4), 0, False),
    ((3, 4), -1, True), ((2, 3, 4), 1, False)])
def test_argmax_argmin(op, shape, axis, keepdims):
    x = distinct(shape, seed=8)
    t = cr.tensor(x, requires_grad=True)
    got = getattr(cr, op)(t, axis=axis, keepdims=keepdims)
    want = getattr(np, op)(x, axis=axis, keepdims=keepdims)
    assert got.dtype == np.int64
    assert not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(getattr(t, op)(axis=axis, keepdims=keepdims).numpy(), want)


def test_argmax_ties_take_first_index():
    assert cr.argmax(cr.tensor([1.0, 3.0, 3.0])).item() == 1
    assert cr.argmin(cr.tensor([2.0, 0.0, 0.0, 5.0])).item() == 1


NORM_CASES = [
    ((5,), None, None), ((5,), 2, None), ((5,), 1, None), ((5,), np.inf, None),
    ((5,), -np.inf, None), ((5,), 3, None), ((5,), 1.5, None), ((3, 4), None, None),
    ((3, 4), "fro", None), ((3, 4), None, 0), ((3, 4), 1, -1), ((3, 4), np.inf, 1),
    ((2, 3, 4), None, (0, 2)), ((2, 3, 4), "fro", (1, 2)), ((2, 3, 4), None, None),
]


@pytest.mark.parametrize(("shape", "ord", "axis"), NORM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm_forward_matches_numpy(shape, ord, axis, keepdims):
    x = away_from_zero(shape, seed=9)
    got = cr.norm(cr.tensor(x), ord=ord, axis=axis, keepdims=keepdims)
    if axis is None and len(shape) > 2:  # numpy only flattens itself for ord=None
        want = np.linalg.norm(x.ravel())
        want = np.reshape(want, (1,) * len(shape)) if keepdims else want
    else:
        want = np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_norm_of_integers_and_scalars():
    assert cr.norm(cr.tensor([3, 4])).item() == 5.0
    assert cr.norm(cr.tensor([3, 4])).dtype == np.float64
    assert cr.norm(-3.0).item() == 3.0


# ---------------------------------------------------------------------------- gradients
GRAD_OPS = {
    "sum": (cr.sum, normal),
    "mean": (cr.mean, normal),
    "var": (cr.var, normal),
    "std": (cr.std, lambda s, seed: distinct(s, seed, 0.5)),
    "max": (cr.max, distinct),
    "min": (cr.min, distinct),
    "prod": (cr.prod, away_from_zero),
    "logsumexp": (cr.logsumexp, normal),
}


@pytest.mark.parametrize("name", list(GRAD_OPS))
@pytest.mark.parametrize(("shape", "axis"), AXIS_CASES, ids=AXIS_IDS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_gradcheck_and_gradgradcheck(name, shape, axis, keepdims):
    op, make = GRAD_OPS[name]
    x = make(shape, seed=11)

    def f(t):
        return op(t, axis=axis, keepdims=keepdims)

    assert gradcheck(f, x)
    assert gradgradcheck(f, x)


@pytest.mark.parametrize("ddof", [1, 2])
def test_var_std_ddof_gradients(ddof):
    x = normal((3, 4), seed=12)
    assert gradcheck(lambda t: cr.var(t, axis=1, ddof=ddof), x)
    assert gradgradcheck(lambda t: cr.std(t, axis=0, ddof=ddof, keepdims=True), x)


@pytest.mark.parametrize("op", [cr.softmax, cr.log_softmax])
@pytest.mark.parametrize(("shape", "axis"), [((4,), -1), ((2, 3), 0), ((2, 3), -1),
                                             ((2, 3, 2), (0, 2)), ((2, 3), None), ((), None)])
def test_softmax_gradients(op, shape, axis):
    x = normal(shape, seed=13)
    assert gradcheck(lambda t: op(t, axis=axis), x)
    assert gradgradcheck(lambda t: op(t, axis=axis), x)


@pytest.mark.parametrize(("shape", "axis"), [((), None), ((5,), None), ((2, 3), None),
                                             ((2, 3), 0), ((2, 3, 2), -1)])
def test_cumsum_gradients(shape, axis):
    x = normal(shape, seed=14)
    assert gradcheck(lambda t: cr.cumsum(t, axis=axis), x)
    assert gradgradcheck(lambda t: cr.cumsum(t, axis=axis) ** 2, x)


def test_cumsum_gradient_is_reversed_cumsum():
    g = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    got = grad_of(lambda t: cr.cumsum(t, axis=1), np.zeros((2, 3)), g)
    np.testing.assert_array_equal(got, [[6.0, 5.0, 3.0], [15.0, 11.0, 6.0]])
    flat = grad_of(lambda t: t.cumsum(), np.zeros((2, 2)), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(flat, [[10.0, 9.0], [7.0, 4.0]])


@pytest.mark.parametrize(("shape", "ord", "axis"), [
    ((5,), None, None), ((5,), 1, None), ((5,), np.inf, None), ((5,), -np.inf, None),
    ((5,), 3, None), ((3, 4), "fro", None), ((3, 4), None, 0), ((3, 4), 1, -1),
    ((3, 4), np.inf, 1), ((2, 3, 2), None, (0, 2)), ((), None, None)])
def test_norm_gradients(shape, ord, axis):
    x = distinct(shape, seed=15) if ord in (np.inf, -np.inf) else away_from_zero(shape, 15)
    assert gradcheck(lambda t: cr.norm(t, ord=ord, axis=axis), x)
    if ord not in (1, np.inf, -np.inf):  # piecewise linear: the second derivative is 0
        assert gradgradcheck(lambda t: cr.norm(t, ord=ord, axis=axis, keepdims=True), x)


@pytest.mark.parametrize("ord", [None, 2, 1, np.inf, -np.inf, 3])
def test_norm_gradient_at_zero_vector_is_zero(ord):
    g = grad_of(lambda t: cr.norm(t, ord=ord), np.zeros(4))
    np.testing.assert_array_equal(g, np.zeros(4))
    g = grad_of(lambda t: cr.norm(t, ord=ord, axis=1), np.array([[0.0, 0.0], [3.0, -4.0]]))
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0], [0.0, 0.0])


def test_norm_closed_form_gradients():
    x = np.array([3.0, -4.0, 1.0])
    np.testing.assert_allclose(grad_of(cr.norm, x), x / np.sqrt(26.0))
    np.testing.assert_array_equal(grad_of(lambda t: cr.norm(t, 1), x), np.sign(x))
    np.testing.assert_array_equal(grad_of(lambda t: cr.norm(t, np.inf), x), [0.0, -1.0, 0.0])
    tie = grad_of(lambda t: cr.norm(t, np.inf), np.array([2.0, -2.0, 1.0]))
    np.testing.assert_array_equal(tie, [0.5, -0.5, 0.0])


# ---------------------------------------------------------------------- special values
def test_max_min_ties_share_gradient_equally():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    np.testing.assert_array_equal(grad_of(cr.max, x), [0.0, 0.5, 0.5, 0.0])
    np.testing.assert_array_equal(grad_of(cr.min, np.array([1.0, 1.0, 1.0, 2.0])),
                                  [1 / 3, 1 / 3, 1 / 3, 0.0])
    m = np.array([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]])
    g = np.array([4.0, 6.0])
    np.testing.assert_array_equal(grad_of(lambda t: t.max(axis=1), m, g),
                                  [[2.0, 2.0, 0.0], [0.0, 3.0, 3.0]])
    np.testing.assert_array_equal(grad_of(lambda t: cr.max(t, axis=0, keepdims=True), m,
                                          np.ones((1, 3))),
                                  [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    # Every element equal: each gets g / n.
    np.testing.assert_array_equal(grad_of(cr.max, np.full((2, 2), 7.0)), np.full((2, 2), 0.25))


@pytest.mark.parametrize(("x", "want"), [
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),
    ([0.0, 0.0, 3.0], [0.0, 0.0, 0.0]),
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    ([2.0, 5.0, 3.0], [15.0, 6.0, 10.0]),
])
def test_prod_gradient_with_zeros(x, want):
    np.testing.assert_array_equal(grad_of(cr.prod, np.array(x)), want)
    assert gradcheck(cr.prod, np.array(x))
    assert gradgradcheck(cr.prod, np.array(x))


def test_prod_zeros_along_axis():
    # row 0: no zero, row 1: one zero, row 2: two zeros, row 3: three zeros
    x = np.array([[1.5, -2.0, 0.5, 3.0], [1.5, 0.0, 2.0, -1.0], [0.0, 2.0, 0.0, 1.5],
                  [0.0, 0.0, 0.0, 2.0]])
    for axis, kd in ((1, False), (-1, True), (0, False), (None, False)):
        assert gradcheck(lambda t, axis=axis, kd=kd: cr.prod(t, axis=axis, keepdims=kd), x)
        assert gradgradcheck(lambda t, axis=axis, kd=kd: cr.prod(t, axis=axis, keepdims=kd), x)
    np.testing.assert_array_equal(grad_of(lambda t: t.prod(axis=1), x)[1], [0.0, -3.0, 0.0, 0.0])


def test_std_gradient_at_zero_variance_is_zero():
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    g = grad_of(lambda t: cr.std(t, axis=1), x)
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g[1], (x[1] - 2.0) / (3 * np.std(x[1])))
    np.testing.assert_array_equal(grad_of(cr.std, np.array(5.0)), 0.0)


def test_logsumexp_all_minus_inf_gives_minus_inf_and_a_finite_gradient():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, np.log(3.0), -np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero or invalid-value warnings either
        out = cr.logsumexp(cr.tensor(x), axis=1)
        g = grad_of(lambda t: cr.logsumexp(t, axis=1), x)
    assert out.numpy()[0] == -np.inf
    np.testing.assert_allclose(out.numpy()[1], np.log(4.0))
    assert np.isfinite(g).all()
    np.testing.assert_array_equal(g[0], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(g[1], [0.25, 0.75, 0.0])
    assert cr.logsumexp(cr.tensor([-np.inf, -np.inf])).item() == -np.inf


def test_logsumexp_inf_and_nan_propagate():
    assert cr.logsumexp(cr.tensor([np.inf, 0.0])).item() == np.inf
    assert np.isnan(cr.logsumexp(cr.tensor([np.nan, 0.0])).item())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_exact(dtype):
    x = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype)
    sm = cr.softmax(cr.tensor(x)).numpy()
    lsm = cr.log_softmax(cr.tensor(x)).numpy()
    lse = cr.logsumexp(cr.tensor(x), axis=-1).numpy()
    assert sm.dtype == lsm.dtype == lse.dtype == dtype
    np.testing.assert_array_equal(sm[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(sm[1], [1 / 3] * 3, rtol=1e-6)
    np.testing.assert_array_equal(lsm[0], [0.0, -1e4, -2e4])
    np.testing.assert_allclose(lsm[1], [-np.log(3.0)] * 3, rtol=1e-6)
    np.testing.assert_allclose(lse, [1e4, -1e4 + np.log(3.0)], rtol=1e-7)
    for op in (cr.softmax, cr.log_softmax, lambda t: cr.logsumexp(t, axis=-1)):
        t = cr.tensor(x, requires_grad=True)
        y = op(t)
        y.backward(np.ones(y.shape, dtype))
        assert t.grad.dtype == dtype
        assert np.isfinite(t.grad.numpy()).all()
    # log_softmax: d sum(out) / dx = 1 - n * softmax(x)
    t = cr.tensor(x, requires_grad=True)
    cr.log_softmax(t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy()[0], [-2.0, 1.0, 1.0], atol=1e-6)


def test_softmax_closed_form_gradient():
    x = normal((2, 5), seed=16)
    g = normal((2, 5), seed=17)
    s = ref_softmax(x)
    want = s * (g - (g * s).sum(axis=-1, keepdims=True))
    np.testing.assert_allclose(grad_of(cr.softmax, x, g), want, rtol=1e-12, atol=1e-15)
    want_log = g - s * g.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(grad_of(cr.log_softmax, x, g), want_log, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- dtype, methods, namespace
F32_OPS = [
    ("sum", lambda t: t.sum(axis=0)), ("mean", lambda t: t.mean(axis=1)),
    ("var", lambda t: t.var(axis=0)), ("std", lambda t: t.std()),
    ("max", lambda t: t.max(axis=1)), ("min", lambda t: t.min()),
    ("prod", lambda t: t.prod(axis=0)), ("prod0", lambda t: (t * 0).prod(axis=0) + t.sum()),
    ("logsumexp", lambda t: t.logsumexp(axis=1)), ("softmax", lambda t: t.softmax()),
    ("log_softmax", lambda t: t.log_softmax(axis=0)), ("cumsum", lambda t: t.cumsum(axis=1)),
    ("cumsum_flat", lambda t: t.cumsum()), ("norm", lambda t: t.norm()),
    ("norm1", lambda t: t.norm(1, axis=1)), ("norm_inf", lambda t: t.norm(np.inf, axis=0)),
    ("norm3", lambda t: t.norm(3, axis=0)),
]


@pytest.mark.parametrize("f", [f for _, f in F32_OPS], ids=[n for n, _ in F32_OPS])
def test_float32_in_float32_out_and_grad(f):
    t = cr.tensor(distinct((2, 3), seed=18, scale=0.5).astype(np.float32), requires_grad=True)
    y = f(t)
    assert y.dtype == np.float32
    y.backward(np.ones(y.shape, np.float32))
    assert t.grad.dtype == np.float32
    assert np.isfinite(t.grad.numpy()).all()


def test_tensor_methods():
    x = cr.tensor([[1.0, 4.0], [3.0, 2.0]])
    assert x.max(axis=0).tolist() == [3.0, 4.0]
    assert x.min(axis=1).tolist() == [1.0, 2.0]
    assert x.prod().item() == 24.0
    assert x.argmax(axis=0).tolist() == [1, 0]
    assert x.argmin().item() == 0
    assert x.cumsum(axis=0).tolist() == [[1.0, 4.0], [4.0, 6.0]]
    assert x.var().item() == 1.25
    assert x.norm(1, axis=1).tolist() == [5.0, 5.0]
    for name in cr.ops.reduce.TENSOR_METHODS:
        assert callable(getattr(cr.Tensor, name)), name
        assert name in cr.ops.reduce.__all__


def test_numpy_namespace_has_the_functions_numpy_lacks():
    x = normal((2, 3), seed=19)
    np.testing.assert_allclose(numpy_namespace.logsumexp(x, axis=1), ref_logsumexp(x, axis=1))
    np.testing.assert_allclose(numpy_namespace.logsumexp(x, axis=0, keepdims=True),
                               ref_logsumexp(x, axis=0, keepdims=True))
    np.testing.assert_allclose(numpy_namespace.softmax(x, axis=0), ref_softmax(x, axis=0))
    np.testing.assert_allclose(numpy_namespace.log_softmax(x), ref_log_softmax(x))


def test_non_tensor_inputs_and_no_grad_results():
    assert cr.sum([1.0, 2.0, 3.0], axis=0).item() == 6.0
    assert cr.max(np.array([[1.0, 2.0]]), axis=-1).tolist() == [2.0]
    y = cr.logsumexp(cr.tensor([0.0, 0.0], requires_grad=True))
    assert y.requires_grad and y.grad_fn.name == "logsumexp"
    with cr.no_grad():
        assert not cr.softmax(cr.tensor([0.0, 1.0], requires_grad=True)).requires_grad


# ------------------------------------------------------------------------- Hypothesis
@st.composite
def shape_and_axis(draw):
    shape = draw(array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
    ndim = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]) if ndim else st.just("none"))
    if kind == "none":
        axis = None
    elif kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    else:
        axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        axis = tuple(a - ndim if draw(st.booleans()) else a for a in axes)
    return shape, axis, draw(st.booleans())


def _reduced(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


@settings(max_examples=40, deadline=None)
@given(shape_and_axis(), st.integers(0, 2**16))
def test_hypothesis_sum_mean_closed_form(case, seed):
    shape, axis, keepdims = case
    x = normal(shape, seed)
    want_shape = np.sum(x, axis=axis, keepdims=keepdims).shape
    g = normal(want_shape, seed + 1)
    gk = np.expand_dims(g, _reduced(axis, len(shape))) if not keepdims else g
    n = np.size(x) // max(np.size(g), 1)
    got = grad_of(lambda t: cr.sum(t, axis=axis, keepdims=keepdims), x, g)
    np.testing.assert_allclose(got, np.broadcast_to(gk, shape), rtol=1e-12)
    got = grad_of(lambda t: t.mean(axis=axis, keepdims=keepdims), x, g)
    np.testing.assert_allclose(got, np.broadcast_to(gk, shape) / n, rtol=1e-12)
    np.testing.assert_allclose(cr.mean(cr.tensor(x), axis=axis, keepdims=keepdims).numpy(),
                               np.mean(x, axis=axis, keepdims=keepdims), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(shape_and_axis(), st.integers(0, 2**16))
def test_hypothesis_max_logsumexp_closed_form(case, seed):
    shape, axis, keepdims = case
    x = distinct(shape, seed)
    axes = _reduced(axis, len(shape))
    out = np.max(x, axis=axis, keepdims=True)
    g = normal(np.max(x, axis=axis, keepdims=keepdims).shape, seed + 1)
    gk = g if keepdims else np.expand_dims(g, axes)
    got = grad_of(lambda t: t.max(axis=axis, keepdims=keepdims), x, g)
    np.testing.assert_allclose(got, np.where(x == out, gk, 0.0), rtol=1e-12)
    assert cr.max(cr.tensor(x), axis=axis, keepdims=keepdims).shape == g.shape
    y = x / 4.0
    lse = ref_logsumexp(y, axis=axes, keepdims=True)
    got = grad_of(lambda t: cr.logsumexp(t, axis=axis, keepdims=keepdims), y, g)
    np.testing.assert_allclose(got, gk * np.exp(y - lse), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(cr.logsumexp(cr.tensor(y), axis=axis, keepdims=keepdims).numpy(),
                               ref_logsumexp(y, axis=axes, keepdims=keepdims), rtol=1e-12)


@settings(max_examples=15, deadline=None)
@given(shape_and_axis(), st.integers(0, 2**16))
def test_hypothesis_gradcheck_var_prod(case, seed):
    shape, axis, keepdims = case
    assert gradcheck(lambda t: cr.var(t, axis=axis, keepdims=keepdims), normal(shape, seed))
    x = away_from_zero(shape, seed)
    assert gradcheck(lambda t: cr.prod(t, axis=axis, keepdims=keepdims), x)


# ----------------------------------------------------------------------------- errors
AXIS_OPS = ["sum", "mean", "var", "std", "max", "min", "prod", "logsumexp", "softmax",
            "log_softmax", "norm"]


@pytest.mark.parametrize("name", AXIS_OPS)
def test_axis_errors_name_the_op_and_shape(name):
    op = getattr(cr, name)
    x = cr.ones((2, 3))
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of bounds .*shape \(2, 3\)"):
        op(x, axis=2)
    with pytest.raises(ValueError, match=rf"{name}: axis -3 is out of bounds .*shape \(2, 3\)"):
        op(x, axis=-3)
    with pytest.raises(ValueError, match=rf"{name}: repeated axis .*shape \(2, 3\)"):
        op(x, axis=(1, -1))
    for bad in (1.5, "0", True, (0, None)):
        with pytest.raises(TypeError, match=rf"{name}: axis must be .*shape \(2, 3\)"):
            op(x, axis=bad)


def test_axis_on_zero_d_tensor():
    with pytest.raises(ValueError, match=r"max: axis 0 is out of bounds .*shape \(\).*ndim 0"):
        cr.max(cr.tensor(1.0), axis=0)
    with pytest.raises(ValueError, match=r"softmax: axis -1 is out of bounds .*shape \(\)"):
        cr.softmax(cr.tensor(1.0))


@pytest.mark.parametrize("name", ["argmax", "argmin", "cumsum"])
def test_single_axis_ops_errors(name):
    op = getattr(cr, name)
    x = cr.ones((2, 3))
    with pytest.raises(TypeError, match=rf"{name}: axis must be None or an int, got \(0, 1\) "
                                         r"\(tensor of shape \(2, 3\)\)"):
        op(x, axis=(0, 1))
    with pytest.raises(ValueError, match=rf"{name}: axis 5 is out of bounds .*shape \(2, 3\)"):
        op(x, axis=5)
    with pytest.raises(TypeError, match=rf"{name}: axis must be .*got 0.5"):
        op(x, axis=0.5)


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin", "logsumexp", "softmax"])
def test_empty_reduction_errors(name):
    with pytest.raises(ValueError, match=rf"{name}: cannot reduce over axis 1 of length 0 "
                                         r"\(tensor of shape \(2, 0\)\)"):
        getattr(cr, name)(cr.ones((2, 0)), axis=1)


def test_ddof_errors():
    with pytest.raises(ValueError, match=r"var: ddof=3 leaves no degrees of freedom.*shape "
                                         r"\(2, 3\).*3 element"):
        cr.var(cr.ones((2, 3)), axis=1, ddof=3)
    with pytest.raises(ValueError, match=r"std: ddof=1 leaves no degrees"):
        cr.std(cr.tensor(1.0), ddof=1)
    with pytest.raises(TypeError, match=r"var: ddof must be a number, got 'x'"):
        cr.var(cr.ones(3), ddof="x")


def test_norm_errors():
    with pytest.raises(ValueError, match=r"norm: matrix norm ord=1 is not supported .*\(3, 4\)"):
        cr.norm(cr.ones((3, 4)), ord=1)
    with pytest.raises(ValueError, match=r"norm: matrix norm ord=2 is not supported"):
        cr.norm(cr.ones((2, 3, 4)), ord=2, axis=(0, 1))
    with pytest.raises(ValueError, match=r"norm: unsupported vector norm ord=0.5"):
        cr.norm(cr.ones(3), ord=0.5)
    with pytest.raises(ValueError, match=r"norm: unsupported vector norm ord='fro'"):
        cr.norm(cr.ones(3), ord="fro")
    with pytest.raises(ValueError, match=r"norm: ord=1 needs a vector.*shape \(2, 3, 4\)"):
        cr.norm(cr.ones((2, 3, 4)), ord=1)
    with pytest.raises(ValueError, match=r"norm: axis \(0, 1, 2\) names 3 axes"):
        cr.norm(cr.ones((2, 3, 4)), axis=(0, 1, 2))


# ------------------------------------------------- fast last-axis max and sum (internal)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("shape", [(5,), (7, 1), (7, 2), (150, 3), (4, 3, 10), (6, 16), (6, 17)])
def test_max_last_and_sum_last_equal_numpy(shape, dtype):
    from chainrule.ops.reduce import max_last, sum_last

    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    axes = (len(shape) - 1,)
    m = max_last(numpy_namespace, x, axes)
    assert m.dtype == x.dtype and m.shape == shape[:-1] + (1,)
    np.testing.assert_array_equal(m, x.max(axis=-1, keepdims=True))
    s = sum_last(numpy_namespace, x, axes)
    assert s.dtype == x.dtype and s.shape == shape[:-1] + (1,)
    tol = {np.float16: 1e-2, np.float32: 1e-5}.get(dtype, 1e-12)
    np.testing.assert_allclose(s, x.sum(axis=-1, keepdims=True), rtol=tol, atol=tol * 10)


def test_max_last_and_sum_last_propagate_nan_and_inf():
    from chainrule.ops.reduce import max_last, sum_last

    x = np.array([[1.0, np.nan, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 0.0, -1.0]])
    xp = numpy_namespace
    np.testing.assert_array_equal(max_last(xp, x, (1,))[:, 0], [np.nan, -np.inf, np.inf])
    np.testing.assert_array_equal(sum_last(xp, x, (1,))[:, 0], [np.nan, -np.inf, np.inf])
    # Other axes fall back to NumPy's reductions.
    np.testing.assert_array_equal(max_last(xp, x, (0,)), np.max(x, axis=0, keepdims=True))
