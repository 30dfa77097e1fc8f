"""Issue 9's reductions and predicates: values against NumPy (PyTorch's semantics where the
name is PyTorch's), gradients against finite differences and closed forms, ties, zeros, NaNs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck


def distinct(shape, seed=0):
    """Values with gaps far wider than gradcheck's step: no ties, sorted order unambiguous."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n).astype(np.float64) - n / 2 + 0.25
    return (vals * 0.37).reshape(shape)


def _grad(f, v):
    x = cr.tensor(np.asarray(v, np.float64), requires_grad=True)
    out = f(x)
    out.sum().backward()
    return out, x.grad.numpy()


# ------------------------------------------------------------ predicates and counts
def test_all_any_count_nonzero_match_numpy():
    v = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]])
    x = cr.tensor(v, requires_grad=True)
    for f, ref in ((cr.all, np.all), (cr.any, np.any), (cr.count_nonzero, np.count_nonzero)):
        out = f(x)
        assert not out.requires_grad
        assert out.item() == ref(v)
        np.testing.assert_array_equal(f(x, axis=1).numpy(), ref(v, axis=1))
        np.testing.assert_array_equal(f(x, dim=0, keepdim=True).numpy(), ref(v, 0, keepdims=True))
        np.testing.assert_array_equal(f(x, (0, 1), True).numpy(), ref(v, (0, 1), keepdims=True))
    assert cr.count_nonzero(x).dtype == np.int64 and cr.count_nonzero(x, dim=1).tolist() == [2, 3]
    assert x.all(dim=1).tolist() == [False, True] and x.any().item() is True
    assert cr.all(cr.tensor([True, True])).dtype == np.bool_
    with pytest.raises(TypeError, match="all: got both axis=0 and dim=1"):
        cr.all(x, axis=0, dim=1)
    with pytest.raises(ValueError, match="any: axis 2 is out of bounds"):
        cr.any(x, dim=2)


def test_allclose_is_a_python_bool():
    a = cr.tensor(np.array([1.0, 2.0, np.nan]))
    assert cr.allclose(a, a) is False and cr.allclose(a, a, equal_nan=True) is True
    assert cr.allclose(cr.tensor([1.0, 2.0]), np.array([1.0, 2.001]), rtol=1e-2) is True
    assert cr.allclose(cr.tensor([1.0, 2.0]), [1.0, 2.1]) is False
    assert cr.tensor([1.0]).allclose(cr.tensor([1.0 + 1e-7])) is True


# ------------------------------------------------------------------ amax, amin, aminmax
def test_amax_amin_values_and_gradients():
    v = distinct((3, 4))
    for f, ref in ((cr.amax, np.amax), (cr.amin, np.amin)):
        both = ({"dim": (0, 1), "keepdim": True}, {"axis": (0, 1), "keepdims": True})
        cases = (({}, {}), ({"dim": 1}, {"axis": 1}), ({"axis": 0}, {"axis": 0}), both)
        for kw, rkw in cases:
            np.testing.assert_array_equal(f(cr.tensor(v), **kw).numpy(), ref(v, **rkw))
            assert gradcheck(lambda a, f=f, kw=kw: f(a, **kw), v)
            assert gradgradcheck(lambda a, f=f, kw=kw: f(a, **kw) * f(a, **kw), v)
    assert cr.amax(cr.tensor(v), dim=1).grad_fn is None
    assert cr.tensor(v, requires_grad=True).amax(1).grad_fn.name == "amax"


def test_amax_ties_share_the_gradient_evenly():
    v = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
    out, g = _grad(lambda a: cr.amax(a, dim=1), v)
    np.testing.assert_array_equal(out.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]])
    out, g = _grad(cr.amin, v)
    assert out.item() == 0.0
    np.testing.assert_array_equal(g, [[0, 0, 0, 1], [0, 0, 0, 0]])


def test_aminmax():
    v = distinct((2, 5))
    lo, hi = cr.aminmax(cr.tensor(v), dim=1)
    np.testing.assert_array_equal(lo.numpy(), v.min(axis=1))
    np.testing.assert_array_equal(hi.numpy(), v.max(axis=1))
    r = cr.tensor(v).aminmax(keepdim=True, dim=0)
    assert r.min.shape == (1, 5) and r.max.shape == (1, 5)
    assert gradcheck(lambda a: cr.aminmax(a, dim=0).max - 2 * cr.aminmax(a, dim=0).min, v)
    with pytest.raises(ValueError, match="amin: cannot reduce over axis 0 of length 0"):
        cr.aminmax(cr.tensor(np.zeros((0, 2))), dim=0)


# ------------------------------------------------------------------ var_mean, std_mean
def test_var_mean_std_mean_default_to_pytorchs_correction():
    v = np.random.default_rng(1).normal(size=(3, 5))
    var, mean = cr.var_mean(cr.tensor(v), dim=1)
    np.testing.assert_allclose(var.numpy(), v.var(axis=1, ddof=1), rtol=1e-14)
    np.testing.assert_allclose(mean.numpy(), v.mean(axis=1), rtol=1e-14)
    for kw, ddof in (({"unbiased": False}, 0), ({"correction": 0}, 0), ({"correction": 2}, 2),
                     ({"unbiased": True}, 1), ({"ddof": 0}, 0)):  # fmt: skip
        std, mean = cr.std_mean(cr.tensor(v), 0, **kw)
        np.testing.assert_allclose(std.numpy(), v.std(axis=0, ddof=ddof), rtol=1e-14)
        var, _ = cr.var_mean(cr.tensor(v), axis=0, keepdims=True, **kw)
        np.testing.assert_allclose(var.numpy(), v.var(axis=0, ddof=ddof, keepdims=True), rtol=1e-14)
    s, m = cr.std_mean(cr.tensor(v))
    np.testing.assert_allclose([s.item(), m.item()], [v.std(ddof=1), v.mean()], rtol=1e-14)
    assert gradcheck(lambda a: cr.var_mean(a, 1)[0] * cr.var_mean(a, 1)[1], v)
    assert gradgradcheck(lambda a: cr.std_mean(a, dim=0, correction=0)[0], v)
    with pytest.raises(TypeError, match="var_mean: give one of correction=1, unbiased=True"):
        cr.var_mean(cr.tensor(v), correction=1, unbiased=True)


def test_var_std_take_pytorchs_correction_spelling():
    v = np.array([1.0, 2.0, 4.0, 7.0])
    x = cr.tensor(v)
    assert cr.var(x).item() == pytest.approx(v.var())  # NumPy's default stays
    assert cr.var(x, correction=1).item() == pytest.approx(v.var(ddof=1), rel=1e-6)
    assert cr.std(x, unbiased=True).item() == pytest.approx(v.std(ddof=1), rel=1e-6)
    assert cr.std(x, unbiased=False).item() == pytest.approx(v.std(), rel=1e-6)
    with pytest.raises(TypeError, match="std: give one of ddof=1, correction=1"):
        cr.std(x, ddof=1, correction=1)


# --------------------------------------------------------------------- nansum, nanmean
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_nansum_nanmean_values_and_zero_gradient_at_nans():
    v = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 4.0]])
    for f, ref in ((cr.nansum, np.nansum), (cr.nanmean, np.nanmean)):
        np.testing.assert_allclose(f(cr.tensor(v)).numpy(), ref(v), rtol=1e-15)
        np.testing.assert_allclose(f(cr.tensor(v), dim=1).numpy(), ref(v, axis=1), rtol=1e-15)
        np.testing.assert_allclose(
            f(cr.tensor(v), axis=0, keepdim=True).numpy(), ref(v, axis=0, keepdims=True)
        )
    _, g = _grad(lambda a: cr.nansum(a, dim=1), v)
    np.testing.assert_array_equal(g, [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    _, g = _grad(lambda a: cr.nanmean(a, dim=1), v)
    np.testing.assert_array_equal(g, [[0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    _, g = _grad(cr.nanmean, v)
    np.testing.assert_array_equal(g, np.where(np.isnan(v), 0.0, 1 / 3))
    finite = np.random.default_rng(2).normal(size=(2, 3))
    for f in (cr.nansum, cr.nanmean):
        assert gradcheck(lambda a, f=f: f(a * a, dim=0), finite)
        assert gradgradcheck(lambda a, f=f: f(a * a, dim=0), finite)
    assert gradcheck(lambda a: cr.nanmean(cr.where(cr.tensor(np.isnan(v)), np.nan, a)), finite)


def test_nanmean_of_an_all_nan_slice():
    x = cr.tensor(np.array([[np.nan, np.nan], [1.0, 3.0]]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "Mean of empty slice"
        out = cr.nanmean(x, dim=1)
    assert np.isnan(out.numpy()[0]) and out.numpy()[1] == 2.0
    (out[1] * 1.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [0.5, 0.5]])


# ------------------------------------------------------------------ sum/prod dtype=
def test_sum_and_prod_with_dtype():
    v = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    x = cr.tensor(v, requires_grad=True)
    s = cr.sum(x, dtype=np.float64)
    assert s.dtype == np.float64 and s.item() == v.sum(dtype=np.float64)
    p = x.prod(axis=1, dtype="float64")
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p.numpy(), v.prod(axis=1, dtype=np.float64))
    (s + p.sum()).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 1 + v[:, ::-1], rtol=1e-7)
    ints = cr.sum(x, dtype=np.int64)
    assert ints.dtype == np.int64 and not ints.requires_grad and ints.item() == 0
    big = cr.tensor(np.array([200, 100], np.uint8))
    wide = cr.sum(big, dtype=np.int32)
    assert wide.item() == 300 and wide.dtype == np.int32
    assert cr.prod(cr.tensor([3, 4]), dtype=np.float32).dtype == np.float32
    assert gradcheck(lambda a: cr.sum(a * a, axis=0, dtype=np.float64), v.astype(np.float64))
    assert gradgradcheck(lambda a: cr.prod(a, dtype=np.float64), np.array([0.5, -2.0, 1.5]))
    with pytest.raises(TypeError, match="sum"):
        cr.sum(x, dtype="not a dtype")


# --------------------------------------------------------------------------- cumprod
def test_cumprod_values_and_gradients():
    v = np.random.default_rng(3).uniform(0.5, 1.5, (3, 4)) * np.array([1, -1, 1, -1])
    for kw, axis in (({"dim": 1}, 1), ({"axis": 0}, 0), ({}, None), ({"dim": -1}, -1)):
        np.testing.assert_allclose(
            cr.cumprod(cr.tensor(v), **kw).numpy(), np.cumprod(v, axis=axis), rtol=1e-15
        )
        assert gradcheck(lambda a, kw=kw: cr.cumprod(a, **kw), v)
        assert gradgradcheck(lambda a, kw=kw: cr.cumprod(a, **kw), v)
    assert cr.tensor(v).cumprod(dim=0).shape == (3, 4)


ZERO_CASES = {
    "one zero": [2.0, 0.0, 3.0, -1.5],
    "zero first": [0.0, 2.0, 3.0, 0.5],
    "zero last": [2.0, -1.0, 3.0, 0.0],
    "two zeros": [2.0, 0.0, 3.0, 0.0, 1.5],
    "adjacent zeros": [1.5, 0.0, 0.0, 2.0],
    "all zero": [0.0, 0.0, 0.0],
}


def _cumprod_jacobian(v):
    # d out_j / d x_i = prod_{k <= j, k != i} x_k for j >= i: products, no division.
    n = len(v)
    return np.array([[np.prod([v[k] for k in range(j + 1) if k != i]) if j >= i else 0.0
                      for j in range(n)] for i in range(n)])  # fmt: skip


@pytest.mark.parametrize("case", list(ZERO_CASES))
def test_cumprod_gradient_with_zeros_is_exact(case):
    v = np.array(ZERO_CASES[case])
    weights = np.arange(1.0, len(v) + 1)
    out, g = _grad(lambda a: cr.cumprod(a) * weights, v)
    np.testing.assert_array_equal(out.numpy(), np.cumprod(v) * weights)
    np.testing.assert_allclose(g, _cumprod_jacobian(v) @ weights, rtol=1e-15, atol=0)
    assert np.isfinite(g).all()
    assert gradcheck(cr.cumprod, v)
    assert gradgradcheck(cr.cumprod, v)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.sampled_from([0.0, -1.5, 0.5, 2.0])))
def test_cumprod_gradient_property(v):
    # any pattern of zeros: the gradient is the product formula (a sum may cancel to 1e-16)
    weights = np.linspace(1.0, 2.0, len(v))
    out, g = _grad(lambda a: cr.cumprod(a) * weights, v)
    np.testing.assert_array_equal(out.numpy(), np.cumprod(v) * weights)
    np.testing.assert_allclose(g, _cumprod_jacobian(v) @ weights, rtol=1e-14, atol=1e-12)


def test_cumprod_with_zeros_in_a_batch_along_either_axis():
    v = np.random.default_rng(4).uniform(0.5, 1.5, (3, 4))
    v[0, 1] = v[1, 0] = v[1, 2] = v[2, 3] = 0.0
    for axis in (0, 1):
        assert gradcheck(lambda a, axis=axis: cr.cumprod(a, dim=axis), v)
        assert gradgradcheck(lambda a, axis=axis: cr.cumprod(a, dim=axis), v)
    x = cr.tensor(v.astype(np.float32), requires_grad=True)
    cr.cumprod(x, dim=1).sum().backward()
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.numpy()).all()


# ---------------------------------------------------------------------- logcumsumexp
def test_logcumsumexp_values_and_gradients():
    v = np.random.default_rng(5).normal(size=(3, 4))
    for kw, axis in (({"dim": 1}, 1), ({"axis": 0}, 0), ({}, None)):
        expected = np.log(np.cumsum(np.exp(v), axis=axis))
        np.testing.assert_allclose(cr.logcumsumexp(cr.tensor(v), **kw).numpy(), expected,
                                   rtol=1e-13)  # fmt: skip
        assert gradcheck(lambda a, kw=kw: cr.logcumsumexp(a, **kw), v)
        assert gradgradcheck(lambda a, kw=kw: cr.logcumsumexp(a, **kw), v)
    assert cr.tensor(v).logcumsumexp(dim=0).shape == (3, 4)


def test_logcumsumexp_is_stable_for_large_and_spread_values():
    v = np.array([1000.0, -1000.0, 1000.0, 2000.0, -50.0])
    x = cr.tensor(v, requires_grad=True)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = cr.logcumsumexp(x, dim=0)
    # each prefix shifted by its own max
    expected = np.array([v[: j + 1].max() + np.log(np.exp(v[: j + 1] - v[: j + 1].max()).sum())
                         for j in range(5)])  # fmt: skip
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-14)
    weights = np.array([1.0, -2.0, 0.5, 3.0, -1.0])
    (out * weights).sum().backward()
    # d/dx_i = sum_{j >= i} w_j exp(x_i - out_j)
    ref = [sum(weights[j] * np.exp(v[i] - expected[j]) for j in range(i, 5)) for i in range(5)]
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-12, atol=1e-300)
    assert np.isfinite(x.grad.numpy()).all()
    f32 = cr.logcumsumexp(cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True), 0)
    assert f32.dtype == np.float32


def test_logcumsumexp_with_a_leading_run_of_minus_infinity():
    v = np.array([-np.inf, -np.inf, 0.0, 1.0])
    x = cr.tensor(v, requires_grad=True)
    with np.errstate(all="raise"):
        out = cr.logcumsumexp(x, dim=0)
    np.testing.assert_allclose(out.numpy(), [-np.inf, -np.inf, 0.0, np.log1p(np.e)], rtol=1e-15)
    (out[2:] * cr.tensor(np.array([2.0, -1.0]))).sum().backward()
    e = np.exp(1.0)
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 2.0 - 1 / (1 + e), -e / (1 + e)],
                               rtol=1e-14)  # fmt: skip
    x.grad = None
    out = cr.logcumsumexp(x, dim=0)
    with np.errstate(divide="raise", invalid="raise"):
        out.sum().backward()  # the -inf outputs' own gradient flows nowhere: zeros, no NaN
    assert np.isfinite(x.grad.numpy()).all() and x.grad.numpy()[:2].tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- median
def _lower_median(v, axis=None):
    v = np.asarray(v)
    if axis is None:
        s = np.sort(v.reshape(-1))
        return s[(s.size - 1) // 2]
    n = v.shape[axis]
    return np.take(np.sort(v, axis=axis), (n - 1) // 2, axis=axis)


def test_median_is_pytorchs_lower_median():
    for shape in ((5,), (4,), (3, 4), (2, 3, 2)):
        v = distinct(shape)
        x = cr.tensor(v)
        assert cr.median(x).item() == _lower_median(v)
        for axis in range(len(shape)):
            values, indices = cr.median(x, dim=axis)
            np.testing.assert_array_equal(values.numpy(), _lower_median(v, axis))
            np.testing.assert_array_equal(
                np.take_along_axis(v, np.expand_dims(indices.numpy(), axis), axis).squeeze(axis),
                values.numpy(),
            )
            assert indices.dtype == np.int64 and not indices.requires_grad
    r = cr.tensor(distinct((3, 4))).median(dim=1, keepdim=True)
    assert r.values.shape == (3, 1) and r.indices.shape == (3, 1)
    assert cr.median(cr.tensor([4.0, 1.0, 3.0, 2.0])).item() == 2.0  # NumPy would say 2.5


def test_median_gradients():
    v = distinct((3, 4))
    assert gradcheck(cr.median, v)
    assert gradgradcheck(lambda a: cr.median(a) * cr.median(a), v)
    for axis in (0, 1):
        assert gradcheck(lambda a, axis=axis: cr.median(a, dim=axis).values, v)
        assert gradgradcheck(lambda a, axis=axis: cr.median(a, axis=axis).values ** 2, v)
    # with dim: g goes to the returned index; without: shared by the elements equal to it
    out, g = _grad(lambda a: cr.median(a, dim=0).values, [[1.0, 2.0], [1.0, 5.0], [3.0, 0.0]])
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(g, [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # stable sort's middle
    out, g = _grad(cr.median, [3.0, 1.0, 3.0, 5.0, 3.0])
    assert out.item() == 3.0
    np.testing.assert_allclose(g, [1 / 3, 0.0, 1 / 3, 0.0, 1 / 3], rtol=1e-15)


def test_median_with_nan_is_nan():
    v = np.array([[1.0, np.nan, 3.0], [2.0, 0.0, 1.0]])
    assert np.isnan(cr.median(cr.tensor(v)).item())
    values, indices = cr.median(cr.tensor(v), dim=1)
    assert np.isnan(values.numpy()[0]) and values.numpy()[1] == 1.0
    assert indices.tolist() == [1, 2]


def test_median_errors():
    with pytest.raises(ValueError, match="median: cannot reduce over axis 0 of length 0"):
        cr.median(cr.tensor(np.zeros((0, 3))), dim=0)
    with pytest.raises(TypeError, match="median: axis must be None or an int"):
        cr.median(cr.tensor(np.zeros((2, 3))), dim=(0, 1))


# ------------------------------------------------------------------------- quantile
@pytest.mark.parametrize("method", ["linear", "lower", "higher", "midpoint", "nearest"])
def test_quantile_matches_numpy(method):
    v = distinct((4, 7))
    for q in (0.0, 0.3, 0.5, 0.75, 1.0, [0.1, 0.5, 0.9], np.array([0.25])):
        cases = (({}, {}), ({"dim": 1}, {"axis": 1}), ({"keepdims": True}, {"keepdims": True}),
                 ({"axis": 0, "keepdim": True}, {"axis": 0, "keepdims": True}))  # fmt: skip
        for kw, rkw in cases:
            out = cr.quantile(cr.tensor(v), q, interpolation=method, **kw)
            expected = np.quantile(v, q, method=method, **rkw)
            assert out.shape == np.shape(expected)
            np.testing.assert_allclose(out.numpy(), expected, rtol=1e-15, atol=1e-15)
    assert gradcheck(lambda a: cr.quantile(a, [0.3, 0.8], dim=1, interpolation=method), v)
    assert gradgradcheck(lambda a: cr.quantile(a * a, 0.4, interpolation=method), v)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
               elements=st.floats(-10, 10, allow_subnormal=False)),
    st.floats(0, 1),
    st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]),
)  # fmt: skip
def test_quantile_and_median_property(v, q, method):
    axis = v.ndim - 1
    out = cr.quantile(cr.tensor(v), q, dim=axis, interpolation=method)
    np.testing.assert_allclose(out.numpy(), np.quantile(v, q, axis=axis, method=method),
                               rtol=1e-14, atol=1e-14)  # fmt: skip
    np.testing.assert_array_equal(cr.median(cr.tensor(v), dim=axis).values.numpy(),
                                  _lower_median(v, axis))  # fmt: skip
    # the gradient's weights sum to 1 per quantile: it is an average of two elements
    _, g = _grad(lambda a: cr.quantile(a, q, dim=axis, interpolation=method), v)
    np.testing.assert_allclose(g.sum(axis=axis), 1.0, rtol=1e-12)


def test_quantile_gradient_splits_between_the_neighbours():
    out, g = _grad(lambda a: cr.quantile(a, 0.25), [4.0, 1.0, 3.0, 2.0, 0.0])
    # sorted 0, 1, 2, 3, 4; position 0.25 * 4 = 1: the element 1.0 alone
    assert out.item() == 1.0
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0, 0.0, 0.0])
    out, g = _grad(lambda a: cr.quantile(a, 0.6), [4.0, 1.0, 3.0, 2.0, 0.0])
    # position 2.4: 0.6 * (element 2.0) + 0.4 * (element 3.0)
    assert out.item() == pytest.approx(2.4)
    np.testing.assert_allclose(g, [0.0, 0.0, 0.4, 0.6, 0.0], rtol=1e-12)
    x = cr.tensor(np.array([3.0, 1.0, 2.0], np.float32), requires_grad=True)
    q = x.quantile(0.5)
    assert q.dtype == np.float32
    q.backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [0.0, 0.0, 1.0]


def test_quantile_errors():
    x = cr.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"quantile: q must be a number or a 1-D sequence"):
        cr.quantile(x, 1.5)
    with pytest.raises(ValueError, match=r"quantile: q must be"):
        cr.quantile(x, [[0.5]])
    with pytest.raises(ValueError, match="quantile: interpolation must be one of linear"):
        cr.quantile(x, 0.5, interpolation="cubic")
    with pytest.raises(ValueError, match="quantile: cannot reduce over axis 0 of length 0"):
        cr.quantile(cr.tensor(np.zeros(0)), 0.5)
    q = cr.tensor([0.5], requires_grad=True)
    with pytest.raises(TypeError, match=r"quantile: q \(shape \(1,\)\) requires grad"):
        cr.quantile(x, q)
    assert cr.quantile(x, q.detach()).tolist() == [1.5]


# -------------------------------------------------------------------- the rule table
def test_new_reductions_are_in_the_rule_table():
    for name in ("amax", "amin", "nansum", "nanmean", "cumprod", "logcumsumexp", "median",
                 "quantile"):  # fmt: skip
        assert primitive_table[name].formula
    x = cr.tensor(np.array([0.5, 2.0]), requires_grad=True)
    text = str(cr.explain(cr.cumprod(x).sum()))
    assert "prod_{k <= j, k != i} x_k" in text


# ---------------------------------------------------- GPU code path (a fake CuPy on NumPy)
DEVICE_CASES = {
    "amax": lambda a: cr.amax(a, dim=1),
    "nansum": lambda a: cr.nansum(a, dim=1),
    "nanmean": lambda a: cr.nanmean(a, 0),
    "var_mean": lambda a: cr.var_mean(a, 1)[0],
    "sum_dtype": lambda a: cr.sum(a, dtype=np.float64),
    "cumprod": lambda a: cr.cumprod(a, dim=1),
    "cumprod_zeros": lambda a: cr.cumprod(a * (a > 0.5), dim=1),
    "logcumsumexp": lambda a: cr.logcumsumexp(a, dim=1),
    "median": cr.median,
    "median_dim": lambda a: cr.median(a, dim=1).values,
    "quantile": lambda a: cr.quantile(a, [0.2, 0.7], dim=1),
    "quantile_all": lambda a: cr.quantile(a, 0.3),
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


def test_predicates_on_the_device(monkeypatch):
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    v = np.array([[1.0, 0.0], [2.0, 3.0]])
    x = cr.tensor(cupy.asarray(v))
    assert cr.all(x, dim=1).tolist() == [False, True]
    assert cr.count_nonzero(x).item() == 3
    assert hasattr(cr.any(x, dim=0).data, "__cuda_array_interface__")
