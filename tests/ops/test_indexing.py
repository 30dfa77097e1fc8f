"""Indexing and scatter primitives: values against NumPy loops (PyTorch's semantics), gradients
against finite differences in float64 (first and second order), ties, repeated indices, dtypes
and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def arr(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def grads(f, *arrays, create_graph=False):
    """Gradients of sum(u * f(*xs)) for a fixed random u, via Tensor.backward."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    u = np.random.default_rng(1).standard_normal(out.shape)
    (out * u).sum().backward(create_graph=create_graph)
    return [np.zeros_like(a) if x.grad is None else x.grad.numpy() for a, x in zip(arrays, xs)]


def check(f, *arrays, square=True):
    """Gradcheck ``f``; gradgradcheck ``f**2`` (a linear op's second derivative is zero, so
    squaring makes the rule's create_graph form matter); the create_graph gradient equals the
    ordinary one."""
    assert gradcheck(f, *arrays)
    g = (lambda *xs: f(*xs) ** 2) if square else f
    assert gradgradcheck(g, *arrays)
    for plain, graph in zip(grads(g, *arrays), grads(g, *arrays, create_graph=True)):
        np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)


def ref_gather(x, dim, index):
    out = np.empty(index.shape, x.dtype)
    for pos in np.ndindex(*index.shape):
        src = list(pos)
        src[dim] = index[pos]
        out[pos] = x[tuple(src)]
    return out


def ref_scatter_reduce(x, dim, index, src, reduce, include_self=True):
    out = x.copy()
    groups: dict = {}
    for pos in np.ndindex(*index.shape):
        dst = list(pos)
        dst[dim] = index[pos]
        groups.setdefault(tuple(dst), []).append(src[pos])
    for dst, vals in groups.items():
        vals = ([x[dst]] if include_self else []) + vals
        out[dst] = {
            "sum": np.sum,
            "prod": np.prod,
            "mean": np.mean,
            "amax": np.max,
            "amin": np.min,
        }[reduce](vals)
    return out


# ------------------------------------------------------------------------------ gather
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_values_and_grads(dim):
    x = arr(3, 4)
    index = RNG.integers(0, x.shape[dim], (2, 3))
    out = cr.gather(cr.tensor(x), dim, cr.tensor(index))
    np.testing.assert_array_equal(out.numpy(), ref_gather(x, dim % 2, index))
    np.testing.assert_array_equal(cr.tensor(x).gather(dim, index).numpy(), out.numpy())
    np.testing.assert_array_equal(cr.gather(x, axis=dim, index=index).numpy(), out.numpy())
    check(lambda t: cr.gather(t, dim, index), x)


def test_gather_repeated_index_accumulates():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    cr.gather(x, 0, cr.tensor([2, 2, 0])).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 2.0]
    assert primitive_table["gather"].formula.startswith("dx = scatter_add")


def test_take_along_axis_matches_numpy():
    x = arr(3, 4)
    idx = np.argsort(x, axis=1)[:, :2]
    np.testing.assert_array_equal(
        cr.take_along_axis(cr.tensor(x), idx, axis=1).numpy(), np.take_along_axis(x, idx, axis=1)
    )
    # broadcasting on the other axes, and axis=None
    idx_b = np.array([[2, 0]])
    np.testing.assert_array_equal(
        cr.take_along_axis(x, idx_b, 1).numpy(), np.take_along_axis(x, idx_b, 1)
    )
    np.testing.assert_array_equal(
        cr.take_along_axis(x, np.array([5, 0]), None).numpy(),
        np.take_along_axis(x, np.array([5, 0]), None),
    )
    x1 = arr(1, 4)
    np.testing.assert_array_equal(
        cr.take_along_axis(x1, idx, dim=1).numpy(), np.take_along_axis(x1, idx, 1)
    )
    check(lambda t: cr.take_along_axis(t, idx, 1), x)
    check(lambda t: cr.take_along_axis(t, idx, 1), x1)
    check(lambda t: cr.take_along_axis(t, np.array([5, 0, 5]), None), x)


def test_index_select():
    x = arr(3, 4)
    index = np.array([2, 0, 2])
    np.testing.assert_array_equal(
        cr.index_select(cr.tensor(x), 1, cr.tensor(index)).numpy(), np.take(x, index, axis=1)
    )
    np.testing.assert_array_equal(cr.tensor(x).index_select(0, index).numpy(), x[index])
    check(lambda t: cr.index_select(t, 1, index), x)
    check(lambda t: t.index_select(0, [1]), x)


# ----------------------------------------------------------------------------- scatter
def test_scatter_values_and_grads():
    x = arr(3, 4)
    index = np.array([[0, 2, 1, 0], [2, 1, 0, 1]])  # each column a permutation part: no repeats
    src = arr(2, 5)  # larger than index: its [:2, :4] block is used, as in PyTorch
    expected = x.copy()
    for i, j in np.ndindex(*index.shape):
        expected[index[i, j], j] = src[i, j]
    out = cr.scatter(cr.tensor(x), 0, cr.tensor(index), cr.tensor(src))
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(cr.tensor(x).scatter(0, index, src).numpy(), expected)
    check(lambda a, s: cr.scatter(a, 0, index, s), x, src)
    # a number, and the value= spelling
    filled = cr.scatter(cr.tensor(x), 1, cr.tensor([[0], [3], [1]]), value=2.5).numpy()
    assert filled[0, 0] == filled[1, 3] == filled[2, 1] == 2.5
    check(lambda a: cr.scatter(a, 1, [[0], [3], [1]], 2.5), x)
    # a 0-d tensor is a value too, and collects the gradient of every element it wrote
    check(lambda a, v: cr.scatter(a, 1, [[0], [3], [1]], v), x, np.array(0.75))
    v = cr.tensor(0.75, requires_grad=True)
    cr.scatter(cr.tensor(x), 1, [[0, 2], [3, 3], [1, 0]], v).sum().backward()
    assert v.grad.item() == 5.0  # 5 distinct elements written (one twice, once surviving)


def test_scatter_repeated_index_gives_gradient_to_the_surviving_write():
    x = cr.tensor([0.0, 0.0], requires_grad=True)
    src = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = cr.scatter(x, 0, cr.tensor([1, 1, 0]), src)
    kept = out.numpy()[1]
    (out * cr.tensor([10.0, 100.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    assert src.grad.numpy().sum() == 110.0  # one of the two writes to element 1 got 100
    assert src.grad.numpy()[[1.0, 2.0].index(kept)] == 100.0


def test_put_along_axis_matches_numpy():
    x = arr(3, 4)
    idx = np.array([[1], [3], [0]])
    vals = arr(3, 1)
    expected = x.copy()
    np.put_along_axis(expected, idx, vals, axis=1)
    np.testing.assert_array_equal(cr.put_along_axis(cr.tensor(x), idx, vals, 1).numpy(), expected)
    expected = x.copy()
    np.put_along_axis(expected, idx, 7.0, axis=1)
    np.testing.assert_array_equal(cr.put_along_axis(x, idx, 7.0, 1).numpy(), expected)
    expected = x.copy()
    np.put_along_axis(expected, np.array([0, 5]), np.array([1.0, 2.0]), None)
    np.testing.assert_array_equal(
        cr.put_along_axis(x, np.array([0, 5]), np.array([1.0, 2.0]), None).numpy(), expected
    )
    check(lambda a, v: cr.put_along_axis(a, idx, v, axis=1), x, vals)
    check(lambda a, v: cr.put_along_axis(a, idx, v, axis=1), x, np.array([0.5]))


# ---------------------------------------------------------------------- scatter_reduce
REDUCES = ["sum", "prod", "mean", "amax", "amin"]


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_values(reduce, include_self):
    x = arr(4, 3)
    index = RNG.integers(0, 3, (5, 3))  # row 3 never written
    src = arr(5, 3)
    out = cr.scatter_reduce(
        cr.tensor(x), 0, cr.tensor(index), cr.tensor(src), reduce, include_self=include_self
    )
    np.testing.assert_allclose(
        out.numpy(), ref_scatter_reduce(x, 0, index, src, reduce, include_self), rtol=1e-13
    )
    method = cr.tensor(x).scatter_reduce(0, index, src, reduce, include_self=include_self)
    np.testing.assert_array_equal(method.numpy(), out.numpy())


@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_grads(reduce, include_self):
    # distinct values, so max/min are unambiguous under the finite-difference step
    vals = RNG.permutation(27).astype(np.float64) / 4 + 0.5
    x = vals[:12].reshape(4, 3)
    src = vals[12:].reshape(5, 3)
    index = np.array([[0, 1, 2], [0, 1, 1], [2, 1, 0], [0, 0, 0], [2, 2, 1]])
    f = lambda a, s: cr.scatter_reduce(a, 0, index, s, reduce, include_self=include_self)
    check(f, x, src, square=reduce in ("sum", "mean", "amax", "amin"))


def test_scatter_reduce_amax_ties_share_evenly():
    x = cr.tensor([1.0, 0.0], requires_grad=True)
    src = cr.tensor([1.0, 1.0, 0.5, -1.0], requires_grad=True)
    out = cr.scatter_reduce(x, 0, cr.tensor([0, 0, 0, 1]), src, "amax")
    assert out.tolist() == [1.0, 0.0]
    out.backward(cr.tensor([3.0, 5.0]))
    assert x.grad.tolist() == [1.0, 5.0]  # x[0] ties with two sources: a third each
    assert src.grad.tolist() == [1.0, 1.0, 0.0, 0.0]
    x.grad = None
    src.grad = None
    cr.scatter_reduce(x, 0, cr.tensor([0, 0, 0, 1]), src, "amin", include_self=False).backward(
        cr.tensor([3.0, 5.0])
    )
    assert x.grad.tolist() == [0.0, 0.0]
    assert src.grad.tolist() == [0.0, 0.0, 3.0, 5.0]


def test_scatter_reduce_prod_with_zeros():
    x = np.array([2.0, 3.0, 0.5])
    index = np.array([0, 0, 1, 1, 2])
    for src in (np.array([0.0, 4.0, 0.0, 0.0, 1.5]), np.array([0.0, 4.0, 5.0, 0.0, 1.5])):
        f = lambda a, s: cr.scatter_reduce(a, 0, index, s, "prod")
        assert gradcheck(f, x, src)
        assert gradgradcheck(f, x, src)
        xz = np.array([0.0, 3.0, 0.5])
        assert gradcheck(f, xz, src)


def test_scatter_add_both_forms():
    x = arr(3, 2)
    index = np.array([[0, 2], [0, 0]])
    src = arr(2, 2)
    expected = ref_scatter_reduce(x, 0, index, src, "sum")
    np.testing.assert_allclose(cr.scatter_add(cr.tensor(x), 0, index, src).numpy(), expected)
    np.testing.assert_allclose(cr.tensor(x).scatter_add(0, index, src).numpy(), expected)
    np.testing.assert_allclose(cr.scatter_add(x, dim=0, index=index, src=src).numpy(), expected)
    check(lambda a, s: cr.scatter_add(a, 0, index, s), x, src)
    # the NumPy-index form, the gradient of getitem
    assert cr.scatter_add(cr.tensor([1.0, 2.0]), [1, 1], (3,)).tolist() == [0.0, 3.0, 0.0]
    # scatter(reduce="add"/"multiply") are the sum/prod reductions
    np.testing.assert_allclose(cr.scatter(x, 0, index, src, reduce="add").numpy(), expected)
    np.testing.assert_allclose(
        cr.scatter(x, 0, index, src, reduce="multiply").numpy(),
        ref_scatter_reduce(x, 0, index, src, "prod"),
    )


def test_index_add():
    x = arr(4, 3)
    index = np.array([3, 0, 3])
    source = arr(4, 3)[:3]
    expected = x.copy()
    np.add.at(expected, index, 2.0 * source)
    np.testing.assert_allclose(
        cr.index_add(cr.tensor(x), 0, index, source, alpha=2.0).numpy(), expected
    )
    np.testing.assert_allclose(
        cr.tensor(x).index_add(0, index, source, alpha=2.0).numpy(), expected
    )
    check(lambda a, s: cr.index_add(a, 0, index, s, alpha=2.0), x, source)
    src1 = arr(4, 2)
    check(lambda a, s: cr.index_add(a, 1, [2, 2], s), x, src1)


# ----------------------------------------------------------------------------- masking
def test_masked_fill():
    x = arr(3, 4)
    mask = x > 0.3
    out = cr.masked_fill(cr.tensor(x), cr.tensor(mask), -1.5)
    np.testing.assert_array_equal(out.numpy(), np.where(mask, -1.5, x))
    row_mask = np.array([True, False, False, True])  # broadcast over rows
    np.testing.assert_array_equal(
        cr.tensor(x).masked_fill(row_mask, 0.0).numpy(), np.where(row_mask, 0.0, x)
    )
    check(lambda a: cr.masked_fill(a, mask, -1.5), x)
    check(lambda a, v: cr.masked_fill(a, row_mask, v), x, np.array(0.7))
    xt = cr.tensor(x, requires_grad=True)
    v = cr.tensor(0.25, requires_grad=True)
    cr.masked_fill(xt, row_mask, v).sum().backward()
    assert v.grad.item() == 6.0  # two masked columns of three rows
    np.testing.assert_array_equal(xt.grad.numpy(), np.broadcast_to(~row_mask, (3, 4)) * 1.0)


def test_masked_select():
    x = arr(3, 4)
    mask = x > 0
    np.testing.assert_array_equal(cr.masked_select(cr.tensor(x), cr.tensor(mask)).numpy(), x[mask])
    row_mask = np.array([True, False, True, True])
    np.testing.assert_array_equal(
        cr.tensor(x).masked_select(row_mask).numpy(), x[:, row_mask].reshape(-1)
    )
    check(lambda a: cr.masked_select(a, mask), x)
    check(lambda a: cr.masked_select(a, row_mask), x)
    b = arr(4)  # the input broadcasts to the mask's shape: each element's gradient sums
    check(lambda a: cr.masked_select(a, mask), b)


def test_nonzero():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    out = cr.nonzero(cr.tensor(x))
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.argwhere(x))
    parts = cr.tensor(x, requires_grad=True).nonzero(as_tuple=True)
    for p, q in zip(parts, np.nonzero(x)):
        np.testing.assert_array_equal(p.numpy(), q)
    assert cr.nonzero(cr.tensor(3.0)).shape == (1, 0)


# ------------------------------------------------------------------------------- dtypes
F32_OPS = {
    "gather": lambda t: cr.gather(t, 1, [[0, 0], [2, 1]]),
    "take_along_axis": lambda t: cr.take_along_axis(t, np.array([[0], [2]]), 1),
    "index_select": lambda t: t.index_select(1, [2, 0]),
    "scatter": lambda t: cr.scatter(t, 1, [[0], [1]], t * 2.0),
    "scatter_reduce": lambda t: cr.scatter_reduce(t, 1, [[0, 0], [1, 1]], t * 3.0, "amax"),
    "scatter_reduce mean": lambda t: cr.scatter_reduce(t, 1, [[0, 0], [1, 1]], t, "mean"),
    "scatter_reduce prod": lambda t: cr.scatter_reduce(t, 1, [[0, 0], [1, 1]], t, "prod"),
    "index_add": lambda t: cr.index_add(t, 0, [1, 1], t),
    "masked_fill": lambda t: t.masked_fill(t > 0, 1.0),
    "masked_fill tensor": lambda t: t.masked_fill(t > 0, cr.tensor(2.0, dtype=np.float64)),
    "masked_select": lambda t: t.masked_select(t > 0),
    "put_along_axis": lambda t: cr.put_along_axis(t, np.array([[1], [0]]), t[:, :1] * 2.0, 1),
}


@pytest.mark.parametrize("f", F32_OPS.values(), ids=F32_OPS.keys())
def test_float32_stays_float32(f):
    x = cr.tensor(arr(2, 3).astype(np.float32), requires_grad=True)
    out = f(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------------------- errors
def test_errors():
    x = cr.ones((2, 3))
    with pytest.raises(
        TypeError,
        match=r"gather: index must be an integer tensor, got dtype "
        r"float32 \(shape \(1, 1\)\)",
    ):
        cr.gather(x, 0, cr.tensor([[0.0]]))
    with pytest.raises(
        ValueError,
        match=r"gather: index \(shape \(2,\)\) must have as many "
        r"dimensions as input \(shape \(2, 3\)\)",
    ):
        cr.gather(x, 0, [0, 1])
    with pytest.raises(
        ValueError,
        match=r"gather: index of shape \(1, 4\) is larger than input "
        r"of shape \(2, 3\) on dim 1",
    ):
        cr.gather(x, 0, [[0, 0, 0, 0]])
    with pytest.raises(
        IndexError,
        match=r"gather: index .* is out of range for dim 1 of a "
        r"tensor of shape \(2, 3\)",
    ):
        cr.gather(x, 1, [[3]])
    with pytest.raises(ValueError, match=r"gather: dim 2 is out of range for a tensor of shape"):
        cr.gather(x, 2, [[0]])
    with pytest.raises(TypeError, match=r"gather: got dim=0 and axis=1"):
        cr.gather(x, 0, [[0]], axis=1)
    with pytest.raises(TypeError, match=r"gather: missing the axis"):
        cr.gather(x, index=[[0]])
    with pytest.raises(
        ValueError,
        match=r"scatter_reduce: reduce must be one of 'sum', 'prod', "
        r"'mean', 'amax', 'amin', got 'max'",
    ):
        cr.scatter_reduce(x, 0, [[0]], cr.ones((1, 1)), "max")
    with pytest.raises(
        ValueError,
        match=r"scatter: src of shape \(1, 1\) must .* at least as "
        r"large as index \(shape \(1, 2\)\)",
    ):
        cr.scatter(x, 0, [[0, 1]], cr.ones((1, 1)))
    with pytest.raises(
        TypeError,
        match=r"scatter: src \(dtype float64\) must have input's dtype "
        r"\(float32\)",
    ):
        cr.scatter(x, 0, [[0]], cr.ones((1, 1), dtype=np.float64, requires_grad=True))
    with pytest.raises(
        ValueError,
        match=r"index_add: source of shape \(2, 3\) must have shape "
        r"\(1, 3\)",
    ):
        cr.index_add(x, 0, [1], cr.ones((2, 3)))
    with pytest.raises(ValueError, match=r"index_select: index must be 0-d or 1-d"):
        cr.index_select(x, 0, [[1]])
    with pytest.raises(
        TypeError,
        match=r"masked_fill: mask must be a bool tensor, got dtype "
        r"int64",
    ):
        cr.masked_fill(x, np.array([1, 0, 1]), 0.0)
    with pytest.raises(
        ValueError,
        match=r"masked_fill: mask of shape \(2, 2\) and value of shape "
        r"\(\) must broadcast to input's shape \(2, 3\)",
    ):
        cr.masked_fill(x, np.ones((2, 2), bool), 0.0)
    with pytest.raises(
        ValueError,
        match=r"masked_select: mask of shape \(2,\) and input of shape "
        r"\(2, 3\) \(float32\) cannot be broadcast",
    ):
        cr.masked_select(x, np.ones(2, bool))
    with pytest.raises(
        ValueError,
        match=r"take_along_axis: indices \(shape \(2,\)\) must have as "
        r"many dimensions as arr",
    ):
        cr.take_along_axis(x, np.array([0, 1]), 1)
    with pytest.raises(
        ValueError,
        match=r"put_along_axis: indices of shape \(2, 1\) would write "
        r"beyond arr of shape \(1, 3\)",
    ):
        cr.put_along_axis(cr.ones((1, 3)), np.zeros((2, 1), int), 1.0, 1)
    with pytest.raises(
        ValueError,
        match=r"put_along_axis: arr of shape \(2, 3\), indices of "
        r"shape \(3, 1\) and values of shape \(\) do not",
    ):
        cr.put_along_axis(x, np.zeros((3, 1), int), 1.0, 1)


# ------------------------------------------------------------------- on a (fake) GPU
def _fake_cupy():
    """tests/fake_cupy.py, loaded by path (tests/ops is not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "fake_cupy.py"
    spec = importlib.util.spec_from_file_location("_fake_cupy_for_ops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


DEVICE_OPS = {
    "gather": lambda t: cr.gather(t, 1, [[0, 2], [1, 1], [3, 0]]),
    "take_along_axis": lambda t: cr.take_along_axis(t, np.array([[0], [2], [3]]), 1),
    "index_select": lambda t: t.index_select(1, [3, 0, 3]),
    "scatter": lambda t: cr.scatter(t, 1, [[0], [1], [1]], t * 2.0),
    "scatter_reduce": lambda t: cr.scatter_reduce(t, 1, [[0, 0], [1, 1], [2, 2]], t, "amax"),
    "scatter_reduce prod": lambda t: cr.scatter_reduce(t, 0, [[0, 1, 0, 1]], t, "prod"),
    "scatter_reduce mean": lambda t: cr.scatter_reduce(t, 0, [[0, 1, 0, 1]], t, "mean"),
    "index_add": lambda t: cr.index_add(t, 0, [1, 1], t[:2]),
    "masked_fill": lambda t: t.masked_fill(np.array([True, False, True, False]), 1.0),
    "masked_select": lambda t: t.masked_select(t > 0),
    "put_along_axis": lambda t: cr.put_along_axis(t, np.array([[1], [0], [2]]), 5.0, 1),
    "sort": lambda t: t.sort(descending=True).values,
    "topk": lambda t: t.topk(2, dim=0).values,
    "kthvalue": lambda t: t.kthvalue(2).values,
    "cummax": lambda t: cr.cummax(t, 1).values,
    "repeat": lambda t: cr.repeat(t, [1, 0, 2, 1], axis=1),
    "tile": lambda t: t.repeat(2, 1),
    "tril": lambda t: t.tril(1),
    "roll": lambda t: t.roll((1, 2), (0, 1)),
    "diagonal": lambda t: t.diagonal(1),
    "diag": lambda t: cr.diag(t[0]),
    "trace": lambda t: t.trace(-1),
    "rot90": lambda t: t.rot90(),
}


@pytest.mark.parametrize("f", DEVICE_OPS.values(), ids=DEVICE_OPS.keys())
def test_on_device_equal_cpu(monkeypatch, f):
    cupy = _fake_cupy().install(monkeypatch)
    x = RNG.permutation(12).reshape(3, 4).astype(np.float32) - 5.5
    out = []
    for data in (x, cupy.asarray(x)):
        t = cr.tensor(data, requires_grad=True)
        y = f(t)
        (y * y).sum().backward()
        assert hasattr(y.data, "__cuda_array_interface__") == (data is not x)
        out.append((y.numpy(), t.grad.numpy()))
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


# ------------------------------------------------------------------ rule table, properties
def test_every_primitive_is_in_the_rule_table_with_a_formula():
    names = ["gather", "take_along_axis", "index_select", "scatter", "put_along_axis",
             "scatter_reduce", "index_add", "masked_fill", "masked_select", "sort", "topk",
             "kthvalue", "cummax", "cummin", "repeat", "tile", "tril", "triu", "roll",
             "diagonal", "diag", "trace"]  # fmt: skip
    for name in names:
        assert primitive_table[name].formula, name
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    assert cr.gather(x, 1, [[1]]).grad_fn.name == "gather"
    assert cr.masked_fill(x, x > 1, 0.0).grad_fn.name == "masked_fill"


@settings(max_examples=30, deadline=None)
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), st.data())
def test_gather_hypothesis(shape, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    ishape = tuple(
        data.draw(st.integers(1, 5)) if a == dim else data.draw(st.integers(1, n))
        for a, n in enumerate(shape)
    )
    index = data.draw(hnp.arrays(np.int64, ishape, elements=st.integers(0, shape[dim] - 1)))
    a = RNG.standard_normal(shape)
    x = cr.tensor(a, requires_grad=True)
    out = cr.gather(x, dim, index)
    np.testing.assert_array_equal(out.numpy(), ref_gather(a, dim, index))
    w = RNG.standard_normal(ishape)
    out.backward(cr.tensor(w))
    expected = np.zeros_like(a)
    for pos in np.ndindex(*ishape):
        dst = list(pos)
        dst[dim] = index[pos]
        expected[tuple(dst)] += w[pos]
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=1e-12)
