"""Sorting: values and indices against NumPy (PyTorch's conventions: ties, NaN, descending),
gradients against finite differences in float64 (first and second order), the functions with
no gradient, dtypes and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def distinct(*shape: int, seed: int = 0) -> np.ndarray:
    """Values with gaps far wider than gradcheck's step, so every order is unambiguous."""
    n = int(np.prod(shape))
    vals = np.random.default_rng(seed).permutation(n).astype(np.float64) - n / 2 + 0.25
    return vals.reshape(shape)


def grads(f, *arrays, create_graph=False):
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    u = np.random.default_rng(1).standard_normal(out.shape)
    (out * u).sum().backward(create_graph=create_graph)
    return [x.grad.numpy() for x in xs]


def check(f, *arrays):
    """Gradcheck ``f``, gradgradcheck ``f**2``; the create_graph gradient equals the plain one."""
    assert gradcheck(f, *arrays)
    sq = lambda *xs: f(*xs) ** 2
    assert gradgradcheck(sq, *arrays)
    for plain, graph in zip(grads(sq, *arrays), grads(sq, *arrays, create_graph=True)):
        np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------- sort
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(dim, descending):
    x = distinct(3, 4)
    values, indices = cr.sort(cr.tensor(x), dim, descending=descending)
    order = np.argsort(-x if descending else x, axis=dim)
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, dim))
    assert indices.dtype == np.int64 and not indices.requires_grad
    out = cr.tensor(x).sort(axis=dim, descending=descending)
    np.testing.assert_array_equal(out.values.numpy(), values.numpy())
    check(lambda t: cr.sort(t, dim, descending)[0], x)


def test_sort_ties_stable_and_nan():
    x = cr.tensor([2.0, 1.0, 2.0, np.nan, 1.0])
    assert cr.sort(x, stable=True).indices.tolist() == [1, 4, 0, 2, 3]
    assert cr.sort(x, descending=True).indices.tolist() == [3, 0, 2, 1, 4]  # NaN largest
    assert cr.argsort(x, descending=True, stable=True).tolist() == [3, 0, 2, 1, 4]
    assert cr.argsort(x, kind="stable").tolist() == [1, 4, 0, 2, 3]
    v, i = cr.sort(cr.tensor(5.0))
    assert v.shape == () and i.item() == 0


def test_argsort_matches_numpy():
    x = distinct(4, 3)
    np.testing.assert_array_equal(cr.argsort(cr.tensor(x), 0).numpy(), np.argsort(x, 0))
    np.testing.assert_array_equal(cr.tensor(x).argsort().numpy(), np.argsort(x, -1))
    np.testing.assert_array_equal(cr.argsort(x, axis=0, descending=True).numpy(), np.argsort(-x, 0))


# --------------------------------------------------------------------- topk, kthvalue
@pytest.mark.parametrize("largest", [True, False])
def test_topk(largest):
    x = distinct(3, 5)
    values, indices = cr.topk(cr.tensor(x), 2, dim=1, largest=largest)
    order = np.argsort(-x if largest else x, axis=1)[:, :2]
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, 1))
    np.testing.assert_array_equal(
        cr.tensor(x).topk(3, 0, largest).indices.numpy(),
        np.argsort(-x if largest else x, axis=0)[:3],
    )
    check(lambda t: cr.topk(t, 2, dim=1, largest=largest).values, x)
    check(lambda t: t.topk(3, axis=0).values, x)


def test_topk_gradient_goes_to_the_chosen():
    x = cr.tensor([1.0, 5.0, 3.0, 4.0], requires_grad=True)
    x.topk(2).values.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue(keepdim):
    x = distinct(3, 5)
    values, indices = cr.kthvalue(cr.tensor(x), 2, dim=1, keepdim=keepdim)
    order = np.argsort(x, axis=1)[:, 1:2]
    expected_i = order if keepdim else order[:, 0]
    np.testing.assert_array_equal(indices.numpy(), expected_i)
    np.testing.assert_array_equal(
        values.numpy(), np.sort(x, 1)[:, 1:2] if keepdim else np.sort(x, 1)[:, 1]
    )
    assert cr.tensor(x).kthvalue(3, 0, keepdims=keepdim).values.shape == (
        (1, 5) if keepdim else (5,)
    )
    check(lambda t: cr.kthvalue(t, 2, dim=1, keepdim=keepdim).values, x)
    check(lambda t: cr.kthvalue(t, 1, 0).values, x)


# ----------------------------------------------------------------------- cummax, cummin
def ref_cum(x, dim, largest):
    """A loop, PyTorch's rule: a new element takes over when >= (<=) the running extreme."""
    x = np.moveaxis(x, dim, -1)
    vals = np.empty_like(x)
    idx = np.empty(x.shape, np.int64)
    for row in np.ndindex(*x.shape[:-1]):
        best, at = x[row][0], 0
        for j, v in enumerate(x[row]):
            if np.isnan(v) or (not np.isnan(best) and (v >= best if largest else v <= best)):
                best, at = v, j
            vals[row + (j,)] = best
            idx[row + (j,)] = at
    return np.moveaxis(vals, -1, dim), np.moveaxis(idx, -1, dim)


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, 1])
def test_cummax_cummin(op, dim):
    f = getattr(cr, op)
    x = RNG.integers(0, 4, (4, 6)).astype(np.float64)  # many ties
    x[2, 3] = np.nan
    values, indices = f(cr.tensor(x), dim)
    ref_v, ref_i = ref_cum(x, dim, op == "cummax")
    np.testing.assert_array_equal(values.numpy(), ref_v)
    np.testing.assert_array_equal(indices.numpy(), ref_i)
    np.testing.assert_array_equal(getattr(cr.tensor(x), op)(axis=dim).indices.numpy(), ref_i)
    check(lambda t: f(t, dim).values, distinct(4, 6))


def test_cummax_routes_gradient_to_the_arg_positions():
    x = cr.tensor([1.0, 3.0, 2.0, 3.0, 0.0], requires_grad=True)
    cr.cummax(x, 0).values.backward(cr.tensor([1.0, 2.0, 4.0, 8.0, 16.0]))
    assert x.grad.tolist() == [1.0, 6.0, 0.0, 24.0, 0.0]
    ints = cr.cummin(cr.tensor([3, 1, 2]), 0)
    assert ints.values.tolist() == [3, 1, 1] and ints.indices.tolist() == [0, 1, 1]


# ------------------------------------------------------------------------ no gradient
def test_unique():
    x = np.array([[3, 1], [3, 2], [1, 1]])
    values = cr.unique(cr.tensor(x))
    np.testing.assert_array_equal(values.numpy(), [1, 2, 3])
    v, inv, counts = cr.tensor(x).unique(return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(v.numpy()[inv.numpy()], x)
    np.testing.assert_array_equal(counts.numpy(), [3, 1, 2])
    rows, inv_rows = cr.unique(cr.tensor(x), dim=0, return_inverse=True)
    np.testing.assert_array_equal(rows.numpy(), np.unique(x, axis=0))
    np.testing.assert_array_equal(rows.numpy()[inv_rows.numpy()], x)
    v, first = cr.unique(cr.tensor(x), return_index=True)
    np.testing.assert_array_equal(x.reshape(-1)[first.numpy()], v.numpy())
    f = cr.tensor([2.0, 1.0, 2.0], requires_grad=True)
    assert not cr.unique(f).requires_grad


def test_searchsorted():
    seq = np.array([1.0, 3.0, 3.0, 5.0])
    v = np.array([[0.0, 3.0], [4.0, 9.0]])
    for side in ("left", "right"):
        np.testing.assert_array_equal(
            cr.searchsorted(cr.tensor(seq), cr.tensor(v), side).numpy(),
            np.searchsorted(seq, v, side),
        )
    np.testing.assert_array_equal(
        cr.searchsorted(seq, v, right=True).numpy(), np.searchsorted(seq, v, "right")
    )
    rows = np.array([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])
    vals = np.array([[2.5], [5.0]])
    out = cr.searchsorted(rows, vals, out_int32=True)
    assert out.dtype == np.int32 and out.tolist() == [[2], [0]]
    sorter = np.argsort(np.array([5.0, 1.0, 3.0]))
    assert cr.searchsorted(np.array([5.0, 1.0, 3.0]), 4.0, sorter=sorter).item() == 2


# ------------------------------------------------------------------ dtypes and errors
@pytest.mark.parametrize(
    "f",
    [
        lambda t: cr.sort(t, 1)[0],
        lambda t: t.topk(2)[0],
        lambda t: t.kthvalue(2)[0],
        lambda t: cr.cummax(t, 1)[0],
        lambda t: cr.cummin(t, 0)[0],
    ],
)
def test_float32_stays_float32(f):
    x = cr.tensor(distinct(2, 3).astype(np.float32), requires_grad=True)
    out = f(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32


def test_errors():
    x = cr.ones((2, 3))
    with pytest.raises(
        ValueError,
        match=r"topk: k=4 is out of range for a dimension of length 3 "
        r"\(tensor of shape \(2, 3\)\); expected 0 <= k <= 3",
    ):
        cr.topk(x, 4)
    with pytest.raises(ValueError, match=r"kthvalue: k=0 is out of range .* expected 1 <= k"):
        cr.kthvalue(x, 0)
    with pytest.raises(TypeError, match=r"topk: k must be an int, got 1.5"):
        cr.topk(x, 1.5)
    with pytest.raises(
        ValueError,
        match=r"sort: axis 2 is out of bounds for a tensor of shape "
        r"\(2, 3\)",
    ):
        cr.sort(x, 2)
    with pytest.raises(TypeError, match=r"cummax: missing the axis"):
        cr.cummax(x)
    with pytest.raises(TypeError, match=r"kthvalue: got keepdim=True and keepdims=False"):
        cr.kthvalue(x, 1, keepdim=True, keepdims=False)
    with pytest.raises(
        ValueError,
        match=r"searchsorted: sorted_sequence of shape \(2, 3\) and "
        r"input of shape \(3, 1\) must match",
    ):
        cr.searchsorted(x, cr.ones((3, 1)))
    with pytest.raises(ValueError, match=r"searchsorted: side must be 'left' or 'right'"):
        cr.searchsorted(cr.ones(3), 1.0, "middle")


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.integers(-3, 3).map(float),
    ),
    st.data(),
)
def test_sort_hypothesis(a, data):
    """With many ties: values equal np.sort, indices give a stable order, and the gradient is
    the output weighting put back through the permutation."""
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    descending = data.draw(st.booleans())
    x = cr.tensor(a, requires_grad=True)
    values, indices = cr.sort(x, dim, descending=descending, stable=True)
    key = -a if descending else a
    np.testing.assert_array_equal(indices.numpy(), np.argsort(key, axis=dim, kind="stable"))
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(a, indices.numpy(), dim))
    w = np.random.default_rng(0).standard_normal(a.shape)
    values.backward(cr.tensor(w))
    expected = np.zeros_like(a)
    np.put_along_axis(expected, indices.numpy(), w, dim)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
