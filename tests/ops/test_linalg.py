"""Linear algebra primitives: matmul (and ``@``), dot, outer, einsum, tensordot, kron, cross.

The matrix functions of ``cr.linalg`` are tested in ``test_linalg_decomp.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.backend import numpy_namespace
from chainrule.ops.define import primitive_table
from chainrule.ops.linalg import cross, dot, einsum, kron, matmul, outer, tensordot
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(20240601)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


# ------------------------------------------------------------------------------ matmul
MATMUL_SHAPES = [
    ((2, 3), (3, 4)),  # matrix @ matrix
    ((3,), (3, 4)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((3,), (3,)),  # vector @ vector -> 0-d
    ((2, 2, 3), (2, 3, 4)),  # batched
    ((2, 2, 3), (3, 4)),  # stack @ shared matrix
    ((2, 3), (2, 3, 4)),  # shared matrix @ stack
    ((3,), (2, 3, 4)),  # vector @ stack
    ((2, 2, 3), (3,)),  # stack @ vector
    ((2, 1, 2, 3), (3, 3, 2)),  # broadcast batch axes on both sides
    ((1, 2, 3), (2, 3, 2)),  # size-1 batch axis broadcast
    ((2, 0, 3), (3, 2)),  # empty batch rows
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_forward_matches_numpy(sa, sb):
    a, b = randn(*sa), randn(*sb)
    out = matmul(cr.tensor(a), cr.tensor(b))
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES)
def test_matmul_gradients(sa, sb):
    a, b = randn(*sa), randn(*sb)
    assert gradcheck(matmul, a, b)
    assert gradgradcheck(matmul, a, b)


def _swap(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2)


GRAD_REFERENCES = [
    # (shape of a, shape of b, da(g, a, b), db(g, a, b)) written out case by case
    ((2, 3), (3, 4), lambda g, a, b: g @ b.T, lambda g, a, b: a.T @ g),
    ((3,), (3, 4), lambda g, a, b: b @ g, lambda g, a, b: np.outer(a, g)),
    ((2, 3), (3,), lambda g, a, b: np.outer(g, b), lambda g, a, b: a.T @ g),
    ((3,), (3,), lambda g, a, b: g * b, lambda g, a, b: g * a),
    ((2, 2, 3), (2, 3, 4), lambda g, a, b: g @ _swap(b), lambda g, a, b: _swap(a) @ g),
    (
        (2, 1, 2, 3),
        (3, 3, 2),
        lambda g, a, b: (g @ _swap(b)).sum(axis=1, keepdims=True),
        lambda g, a, b: (_swap(a) @ g).sum(axis=0),
    ),
    (
        (3,),
        (2, 3, 4),
        lambda g, a, b: np.einsum("bkm,bm->k", b, g),
        lambda g, a, b: np.einsum("k,bm->bkm", a, g),
    ),
]


@pytest.mark.parametrize("sa, sb, da, db", GRAD_REFERENCES)
def test_matmul_gradient_is_the_transposed_products(sa, sb, da, db):
    a, b = randn(*sa), randn(*sb)
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    out = ta @ tb
    g = randn(*out.shape)
    out.backward(g)
    np.testing.assert_allclose(ta.grad.numpy(), da(g, a, b), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tb.grad.numpy(), db(g, a, b), rtol=1e-12, atol=1e-14)


def test_matmul_2d_rule_is_exactly_g_at_b_transposed():
    # The hot path of every dense layer: one BLAS call on a transposed view, nothing more.
    a = randn(4, 3).astype(np.float32)
    b = randn(3, 5).astype(np.float32)
    g = randn(4, 5).astype(np.float32)
    da, db = (rule(numpy_namespace, g, None, a, b) for rule in primitive_table["matmul"].vjps)
    assert da.dtype == np.float32 and db.dtype == np.float32
    np.testing.assert_array_equal(da, g @ b.T)
    np.testing.assert_array_equal(db, a.T @ g)


def test_matmul_operator_and_reflected_operator():
    a, b = randn(2, 3), randn(3, 2)
    t = cr.tensor(a, requires_grad=True)
    for out in (t @ b, b.T @ t.T, matmul(a, cr.tensor(b))):
        assert isinstance(out, cr.Tensor)
    np.testing.assert_allclose((t @ b).numpy(), a @ b)
    np.testing.assert_allclose((b @ t).numpy(), b @ a)
    (b @ t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), b.T @ np.ones((3, 3)))


def test_matmul_float32_stays_float32_and_int_float_mix_follows_numpy():
    a = cr.tensor(randn(2, 3).astype(np.float32), requires_grad=True)
    b = cr.tensor(randn(3, 4).astype(np.float32), requires_grad=True)
    out = a @ b
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32
    ints = np.arange(6).reshape(3, 2)
    mixed = a @ ints
    assert mixed.dtype == np.matmul(a.numpy(), ints).dtype == np.float64
    mixed.sum().backward()
    assert a.grad.dtype == np.float32
    assert matmul(ints, ints.T).dtype == np.int64


def test_matmul_without_grad_records_nothing():
    a = cr.tensor(randn(2, 3), requires_grad=True)
    with cr.no_grad():
        out = a @ randn(3, 2)
    assert not out.requires_grad and out.grad_fn is None
    assert (a @ randn(3, 2)).grad_fn.name == "matmul"


@pytest.mark.parametrize(
    "sa, sb, message",
    [
        ((2, 3), (4, 5), "matmul: shapes (2, 3) and (4, 5) are not aligned: "
                         "3 (dim 1 of a) != 4 (dim 0 of b)"),
        ((3,), (4,), "matmul: shapes (3,) and (4,) are not aligned: 3 (dim 0 of a) != 4 "
                     "(dim 0 of b)"),
        ((2, 2, 3), (2, 4, 5), "matmul: shapes (2, 2, 3) and (2, 4, 5) are not aligned: "
                               "3 (dim 2 of a) != 4 (dim 1 of b)"),
        ((2, 2, 3), (3, 3, 4), "matmul: shapes (2, 2, 3) and (3, 3, 4): batch dimensions "
                               "(2,) and (3,) cannot be broadcast together"),
        ((), (3,), "matmul: shapes () and (3,): a is 0-d, expected at least 1 dimension"),
        ((3,), (), "matmul: shapes (3,) and (): b is 0-d, expected at least 1 dimension"),
    ],
)  # fmt: skip
def test_matmul_errors_name_both_shapes(sa, sb, message):
    a = cr.tensor(np.ones(sa), requires_grad=True)
    with pytest.raises(ValueError, match=re.escape(message)):
        matmul(a, np.ones(sb))
    with pytest.raises(ValueError, match=re.escape(message)):
        a @ np.ones(sb)


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two matmul-compatible shapes: 1-D or stacks whose batch axes broadcast."""
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(st.lists(st.integers(2, 3), max_size=2))

    def side(core: tuple[int, int]) -> tuple[int, ...]:
        if draw(st.integers(0, 3)) == 0:
            return (k,)  # a vector
        lead = batch[draw(st.integers(0, len(batch))) :]
        return tuple(1 if draw(st.booleans()) else d for d in lead) + core

    return side((n, k)), side((k, m))


@settings(max_examples=30, deadline=None)
@given(shapes=matmul_shapes(), seed=st.integers(0, 2**16))
def test_matmul_property_matches_numpy_and_finite_differences(shapes, seed):
    sa, sb = shapes
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    expected = np.matmul(a, b)
    out = matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    assert gradcheck(matmul, a, b)


# ------------------------------------------------------------------------------ dot, outer
DOT_SHAPES = [
    ((), (2, 3)),
    ((3,), ()),
    ((3,), (3,)),
    ((2, 3), (3, 4)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 2, 3), (3,)),
    ((2, 2, 3), (3, 2)),
    ((3,), (2, 3, 2)),
    ((2, 3), (2, 3, 2)),  # N-D . M-D: no batch broadcasting, the axes concatenate
    ((2, 1, 3), (2, 3, 2)),
]


@pytest.mark.parametrize("sa, sb", DOT_SHAPES)
def test_dot_matches_numpy_and_finite_differences(sa, sb):
    a, b = randn(*sa), randn(*sb)
    out = dot(a, b)
    expected = np.dot(a, b)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=1e-13)
    assert gradcheck(dot, a, b)
    assert gradgradcheck(dot, a, b)


def test_dot_method_and_errors():
    a = cr.tensor(randn(2, 3), requires_grad=True)
    b = randn(3, 2)
    np.testing.assert_allclose(a.dot(b).numpy(), a.numpy().dot(b))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "dot: shapes (2, 3) and (2, 3) are not aligned: 3 (dim 1 of a) != 2 (dim 0 of b)"
        ),
    ):
        a.dot(randn(2, 3))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "dot: shapes (2, 3) and (4, 2, 2) are not aligned: 3 (dim 1 of a) != 2 (dim 1 of b)"
        ),
    ):
        dot(a, randn(4, 2, 2))


@pytest.mark.parametrize("sa, sb", [((3,), (2,)), ((2, 2), (3,)), ((), (2,)), ((2,), (1, 3))])
def test_outer_matches_numpy_and_finite_differences(sa, sb):
    a, b = randn(*sa), randn(*sb)
    np.testing.assert_allclose(outer(a, b).numpy(), np.outer(a, b), rtol=1e-14)
    assert gradcheck(outer, a, b)
    assert gradgradcheck(outer, a, b)


# ------------------------------------------------------------------------------ einsum
EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(3,), (3,)]),
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit: output 'ik'
    ("ba", [(2, 3)]),  # implicit: output sorted, so this transposes
    ("i,j->ij", [(2,), (3,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),  # a size-1 axis broadcasts
    (",i->i", [(), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 2)]),
    ("...i", [(2, 3)]),  # implicit with ellipsis: the ellipsis axes come first
    ("i...,i...", [(2, 3), (2, 1)]),
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace
    ("iij->j", [(2, 2, 3)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    (" ij , jk -> ik ", [(2, 3), (3, 2)]),
]


@pytest.mark.parametrize("subscripts, shapes", EINSUM_CASES)
def test_einsum_matches_numpy_and_finite_differences(subscripts, shapes):
    operands = [randn(*s) for s in shapes]
    out = einsum(subscripts, *operands)
    expected = np.einsum(subscripts, *operands)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=1e-13)
    f = lambda *xs: einsum(subscripts, *xs)
    assert gradcheck(f, *operands)
    assert gradgradcheck(f, *operands)


def test_einsum_optimize_and_dtypes():
    a32 = cr.tensor(randn(3, 4).astype(np.float32), requires_grad=True)
    b32 = cr.tensor(randn(4, 2).astype(np.float32), requires_grad=True)
    out = einsum("ij,jk->ik", a32, b32, optimize=True)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), a32.numpy() @ b32.numpy(), rtol=1e-5)
    out.sum().backward()
    assert a32.grad.dtype == np.float32
    np.testing.assert_allclose(a32.grad.numpy(), np.ones((3, 2)) @ b32.numpy().T, rtol=1e-5)
    a, b, c = randn(2, 3), randn(3, 4), randn(4, 2)
    assert gradgradcheck(lambda *xs: einsum("ij,jk,kl->il", *xs, optimize="greedy"), a, b, c)
    ints = np.arange(6).reshape(2, 3)
    assert einsum("ij->j", ints).dtype == np.einsum("ij->j", ints).dtype


def test_the_same_tensor_twice_gets_both_contributions():
    x = randn(3, 3)
    assert gradgradcheck(lambda x: einsum("ij,jk->ik", x, x), x)
    assert gradgradcheck(lambda x: matmul(x, x), x)
    t = cr.tensor(x, requires_grad=True)
    einsum("ij,ij->", t, t).backward()
    np.testing.assert_allclose(t.grad.numpy(), 2 * x, rtol=1e-14)


def test_einsum_gradient_of_a_trace_is_the_identity():
    x = cr.tensor(randn(3, 3), requires_grad=True)
    einsum("ii", x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3))


@pytest.mark.parametrize(
    "subscripts, shapes, message",
    [
        ("ij,jk", [(2, 3)], "einsum: subscripts 'ij,jk' name 2 operand(s), but 1 were given"),
        ("ij", [(3,)], "einsum: operand of shape (3,) has 1 dimension(s), but its subscripts "
                       "'ij' name 2"),
        ("ij->k", [(2, 3)], "einsum: output index 'k' of 'ij->k' does not appear"),
        ("ij->ii", [(2, 3)], "einsum: output subscripts of 'ij->ii' repeat an index"),
        ("ij,jk", [(2, 3), (4, 3)], "einsum: index 'j' has size 3 in one operand and 4 in "
                                    "another"),
        ("ii", [(2, 3)], "einsum: index 'i' is repeated in operand 'ii' of shape (2, 3) with "
                         "different sizes 2 and 3"),
        ("i$", [(2, 3)], "einsum: invalid character(s) '$'"),
        ("i->j->k", [(2,)], "einsum: subscripts 'i->j->k' have a misplaced '->'"),
        ("...i->i", [(2, 3)], "einsum: output subscripts of '...i->i' must contain '...'"),
        ("...ij", [(2,)], "einsum: operand of shape (2,) has 1 dimension(s), fewer than the 2"),
    ],
)  # fmt: skip
def test_einsum_errors(subscripts, shapes, message):
    operands = [cr.tensor(np.ones(s), requires_grad=True) for s in shapes]
    with pytest.raises(ValueError, match=re.escape(message)):
        einsum(subscripts, *operands)


def test_einsum_rejects_the_sublist_form_and_no_operands():
    with pytest.raises(TypeError, match="einsum: subscripts must be a str"):
        einsum(np.ones(2), [0])
    with pytest.raises(ValueError, match="einsum: subscripts 'ij' given no operands"):
        einsum("ij")


# --------------------------------------------------------------------------- tensordot
TENSORDOT_CASES = [
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3), (3, 4), 1),
    ((2, 3), (4, 5), 0),  # outer product
    ((3,), (3,), 1),  # inner product: 0-d
    ((2, 3, 4), (4, 2, 5), ([0, 2], [1, 0])),  # paired axes in any order
    ((2, 3, 4), (4, 5), ([-1], [0])),
    ((3, 2), (2, 3), ([0, 1], [1, 0])),  # full contraction: 0-d
]


@pytest.mark.parametrize("sa, sb, axes", TENSORDOT_CASES)
def test_tensordot_matches_numpy_and_finite_differences(sa, sb, axes):
    a, b = randn(*sa), randn(*sb)
    out = tensordot(cr.tensor(a), cr.tensor(b), axes=axes)
    expected = np.tensordot(a, b, axes=axes)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    f = lambda x, y: tensordot(x, y, axes=axes)
    assert gradcheck(f, a, b)
    assert gradgradcheck(f, a, b)


def test_tensordot_gradient_values_and_float32():
    a, b = randn(2, 3), randn(3, 4)
    ta = cr.tensor(a, requires_grad=True)
    tb = cr.tensor(b, requires_grad=True)
    g = randn(2, 4)
    (tensordot(ta, tb, axes=1) * g).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), a.T @ g, rtol=1e-12)
    x = cr.tensor(a.astype(np.float32), requires_grad=True)
    out = cr.tensordot(x, b.astype(np.float32), axes=1)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


@pytest.mark.parametrize(
    "sa, sb, axes, message",
    [
        ((2, 3), (4, 5), 1, "tensordot: shapes (2, 3) and (4, 5) do not match along the summed "
                            "axes: 3 (axis 1 of a) != 4 (axis 0 of b)"),
        ((2, 3), (3,), 2, "tensordot: axes=2 needs 0 <= axes <= min(a.ndim, b.ndim)"),
        ((2, 3), (3, 2), ([0], [0, 1]), "tensordot: axes ([0], [0, 1]) pair 1 axes of a with 2"),
        ((2, 3), (3, 2), ([5], [0]), "tensordot: axes (5,) out of range for a of shape (2, 3)"),
        ((2, 2), (2, 2), ([0, 0], [0, 1]), "tensordot: axes (0, 0) of a repeat an axis"),
        ((2, 2), (2, 2), "ij", "tensordot: axes must be an int or a pair"),
    ],
)  # fmt: skip
def test_tensordot_errors(sa, sb, axes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tensordot(cr.ones(sa), cr.ones(sb), axes=axes)


# -------------------------------------------------------------------------------- kron
KRON_SHAPES = [((2,), (3,)), ((2, 3), (2, 2)), ((2, 1, 3), (2, 2)), ((3,), (2, 2)), ((), (2,))]


@pytest.mark.parametrize("sa, sb", KRON_SHAPES)
def test_kron_matches_numpy_and_finite_differences(sa, sb):
    a, b = randn(*sa), randn(*sb)
    out = kron(cr.tensor(a), cr.tensor(b))
    expected = np.kron(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=1e-13)
    assert gradcheck(kron, a, b)
    assert gradgradcheck(kron, a, b)


def test_kron_gradient_sums_each_block():
    # d(sum kron(a, b)) / da[i] = sum(b), d / db[k] = sum(a)
    a, b = randn(2, 2), randn(3)
    ta = cr.tensor(a, requires_grad=True)
    tb = cr.tensor(b, requires_grad=True)
    cr.kron(ta, tb).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.full((2, 2), b.sum()), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), np.full(3, a.sum()), rtol=1e-12)


# ------------------------------------------------------------------------------- cross
CROSS_CASES = [((3,), (3,), -1), ((4, 3), (4, 3), -1), ((2, 1, 3), (4, 3), -1),
               ((3, 4), (3, 4), 0), ((2, 3, 2), (2, 3, 2), 1)]  # fmt: skip


@pytest.mark.parametrize("sa, sb, axis", CROSS_CASES)
def test_cross_matches_numpy_and_finite_differences(sa, sb, axis):
    a, b = randn(*sa), randn(*sb)
    out = cross(cr.tensor(a), cr.tensor(b), axis=axis)
    expected = np.cross(a, b, axis=axis)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13, atol=1e-13)
    f = lambda x, y: cross(x, y, axis=axis)
    assert gradcheck(f, a, b)
    assert gradgradcheck(f, a, b)


def test_cross_gradient_is_the_other_cross_product():
    a, b, g = randn(3), randn(3), randn(3)
    ta = cr.tensor(a, requires_grad=True)
    tb = cr.tensor(b, requires_grad=True)
    (cr.cross(ta, tb) * g).sum().backward()
    np.testing.assert_allclose(ta.grad.numpy(), np.cross(b, g), rtol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), np.cross(g, a), rtol=1e-12)
    np.testing.assert_array_equal(cr.linalg.cross(a, b).numpy(), np.cross(a, b))


@pytest.mark.parametrize(
    "sa, sb, axis, message",
    [
        ((2,), (2,), -1, "cross: a of shape (2,) (float64) has no axis of size 3 at axis -1"),
        ((3,), (3, 4), -2, "cross: a of shape (3,) (float64) has no axis of size 3 at axis -2"),
        ((3,), (3,), 1, "cross: axis 1 out of range for operands of shapes (3,) and (3,)"),
        ((2, 3), (4, 3), -1, "cross: shapes (2, 3) and (4, 3) cannot be broadcast together"),
    ],
)
def test_cross_errors(sa, sb, axis, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cross(np.ones(sa), np.ones(sb), axis=axis)


def test_tensordot_kron_cross_are_in_the_rule_table():
    for name in ("tensordot", "kron", "cross"):
        assert primitive_table[name].formula
    x = cr.tensor(randn(3), requires_grad=True)
    assert cr.cross(x, randn(3)).grad_fn.name == "cross"
