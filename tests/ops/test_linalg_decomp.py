"""cr.linalg: inverse, determinants, solve, Cholesky, QR, eigh, SVD, pinv, powers and norms.

Each function: values against numpy.linalg, batched; gradients against finite differences in
float64 to second order (``gradcheck`` / ``gradgradcheck``) on well-conditioned inputs
(symmetric ones built inside the function for cholesky and eigh, losses of eigen/singular
vectors that do not depend on their signs); gradients against closed forms; the degenerate
cases PyTorch defines (zero, repeated values, singular matrices); the errors.
"""

from __future__ import annotations

import io
import re
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import linalg
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(20261129)


@pytest.fixture(autouse=True)
def _fresh_rng(request):
    """Each test draws from its own seeded stream, whatever ran before it (a module-wide
    stream made a test's matrices depend on the test order)."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
INF = float("inf")


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def conditioned(*shape: int) -> np.ndarray:
    """A random (stack of) square matrices, comfortably invertible."""
    return randn(*shape) + 3 * np.eye(shape[-1])


def spd(*shape: int) -> np.ndarray:
    x = randn(*shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def mT(x):  # noqa: N802 - the maths' name
    return np.swapaxes(x, -1, -2)


def sym(x):
    """Symmetric input built from a free one: finite differences then move both triangles."""
    return x + x.swapaxes(-1, -2)


def grad_of(f, a: np.ndarray, dtype=np.float64) -> np.ndarray:
    t = cr.tensor(a.astype(dtype), requires_grad=True)
    f(t).backward()
    return t.grad.numpy()


def cofactor_matrix(a: np.ndarray) -> np.ndarray:
    """adj(a)^T by the textbook definition: signed minors (an independent reference)."""
    n = a.shape[0]
    c = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=0), j, axis=1)
            c[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return c


SQUARE_SHAPES = [(3, 3), (2, 3, 3), (2, 1, 2, 2), (1, 1)]


# --------------------------------------------------------------------------------- inv
@pytest.mark.parametrize("shape", SQUARE_SHAPES)
def test_inv_matches_numpy_and_finite_differences(shape):
    a = conditioned(*shape)
    np.testing.assert_allclose(linalg.inv(a).numpy(), np.linalg.inv(a), rtol=1e-12)
    assert gradcheck(linalg.inv, a)
    assert gradgradcheck(linalg.inv, a)


def test_inv_gradient_is_minus_inverse_transpose_products():
    a, g = conditioned(3, 3), randn(3, 3)
    ai = np.linalg.inv(a)
    got = grad_of(lambda t: (linalg.inv(t) * g).sum(), a)
    np.testing.assert_allclose(got, -ai.T @ g @ ai.T, rtol=1e-10)


def test_inv_errors_name_the_operation():
    with pytest.raises(
        np.linalg.LinAlgError,
        match=re.escape("inv: Singular matrix (input of shape (2, 2), float64)"),
    ):
        linalg.inv(np.ones((2, 2)))
    with pytest.raises(
        ValueError,
        match=re.escape("inv: expected square matrices (..., n, n); got shape (2, 3) (float64)"),
    ):
        linalg.inv(np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=re.escape("inv: expected square matrices (..., n, n); got shape (3,)")
    ):
        linalg.inv(np.ones(3))
    with pytest.raises(TypeError, match="inv: unsupported dtype float16"):
        linalg.inv(np.eye(2, dtype=np.float16))


# --------------------------------------------------------------------------------- det
@pytest.mark.parametrize("shape", SQUARE_SHAPES)
def test_det_matches_numpy_and_finite_differences(shape):
    a = conditioned(*shape)
    np.testing.assert_allclose(linalg.det(a).numpy(), np.linalg.det(a), rtol=1e-12)
    assert gradcheck(linalg.det, a)
    assert gradgradcheck(linalg.det, a)


def test_det_gradient_is_the_cofactor_matrix():
    a = conditioned(4, 4)
    np.testing.assert_allclose(grad_of(linalg.det, a), cofactor_matrix(a), rtol=1e-10)


def _singular(zero_columns: int) -> np.ndarray:
    """A 3 x 3 matrix of rank 3 - zero_columns whose LU determinant is exactly 0."""
    a = randn(3, 3)
    a[:, 3 - zero_columns :] = 0
    return np.ascontiguousarray(a[:, [2, 0, 1]])  # gradcheck perturbs C-ordered inputs


@pytest.mark.parametrize(
    "a",
    [_singular(1), _singular(2), np.zeros((3, 3)), np.array([[1.0, 2.0], [2.0, 4.0]])],
    ids=["rank 2", "rank 1", "rank 0", "2x2 rank 1"],
)
def test_det_gradient_at_singular_matrices_is_the_cofactor_matrix(a):
    # rank n-1: a nonzero gradient (PyTorch's SVD cofactors); rank <= n-2: zero
    assert np.linalg.det(a) == 0
    got = grad_of(linalg.det, a)
    np.testing.assert_allclose(got, cofactor_matrix(a), atol=1e-12)
    assert gradcheck(linalg.det, a)
    if np.linalg.matrix_rank(a) == a.shape[0] - 1:
        assert np.abs(got).max() > 0.1


def test_det_batch_mixing_singular_and_regular_matrices():
    a = np.stack([conditioned(3, 3), _singular(1), conditioned(3, 3)])
    got = grad_of(lambda t: linalg.det(t).sum(), a)
    for k in range(3):
        np.testing.assert_allclose(got[k], cofactor_matrix(a[k]), rtol=1e-9, atol=1e-10)


def test_det_second_derivative_at_a_singular_matrix_is_refused():
    a = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(NotImplementedError, match="det: second derivatives at a singular"):
        gradgradcheck(linalg.det, a)


def test_det_of_integers_is_float64():
    out = linalg.det(np.array([[1, 2], [3, 4]]))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.item(), -2.0)


# ----------------------------------------------------------------------------- slogdet
@pytest.mark.parametrize("shape", SQUARE_SHAPES)
def test_slogdet_matches_numpy_and_finite_differences(shape):
    a = conditioned(*shape)
    a[..., 0, :] *= -1  # some negative determinants
    sign, logabsdet = linalg.slogdet(a)
    ref_sign, ref_log = np.linalg.slogdet(a)
    np.testing.assert_array_equal(sign.numpy(), ref_sign)
    np.testing.assert_allclose(logabsdet.numpy(), ref_log, rtol=1e-12)
    f = lambda t: linalg.slogdet(t).logabsdet
    assert gradcheck(f, a)
    assert gradgradcheck(f, a)


def test_slogdet_gradient_is_the_inverse_transpose_and_sign_has_none():
    a = conditioned(3, 3)
    t = cr.tensor(a, requires_grad=True)
    sign, logabsdet = linalg.slogdet(t)
    assert not sign.requires_grad and logabsdet.requires_grad
    logabsdet.backward()
    np.testing.assert_allclose(t.grad.numpy(), np.linalg.inv(a).T, rtol=1e-10)


def test_slogdet_gradient_at_a_singular_matrix_raises():
    t = cr.tensor(np.ones((2, 2)), requires_grad=True)
    logabsdet = linalg.slogdet(t).logabsdet
    assert logabsdet.item() == -INF
    with pytest.raises(np.linalg.LinAlgError, match="slogdet: the gradient of log|det"):
        logabsdet.backward()


# ------------------------------------------------------------------------------- solve
SOLVE_SHAPES = [
    ((3, 3), (3,)),  # one right-hand side
    ((3, 3), (3, 2)),  # several
    ((2, 3, 3), (3,)),  # a stack, one shared vector
    ((2, 3, 3), (2, 3, 2)),
    ((3, 3), (2, 3, 4)),  # one matrix, a stack of right-hand sides
    ((2, 1, 3, 3), (4, 3, 1)),  # batch axes broadcast
]


@pytest.mark.parametrize("sa, sb", SOLVE_SHAPES)
def test_solve_matches_numpy_and_finite_differences(sa, sb):
    a, b = conditioned(*sa), randn(*sb)
    out = linalg.solve(a, b)
    expected = np.linalg.solve(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-11)
    assert gradcheck(linalg.solve, a, b)
    assert gradgradcheck(linalg.solve, a, b)


def test_solve_gradients_against_the_closed_form():
    a, b, g = conditioned(3, 3), randn(3, 2), randn(3, 2)
    ta, tb = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
    (linalg.solve(ta, tb) * g).sum().backward()
    gb = np.linalg.solve(a.T, g)
    np.testing.assert_allclose(tb.grad.numpy(), gb, rtol=1e-10)
    np.testing.assert_allclose(ta.grad.numpy(), -gb @ np.linalg.solve(a, b).T, rtol=1e-10)


def test_solve_errors():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "solve: b of shape (2,) does not fit a of shape (3, 3); expected (3,) or (..., 3, k)"
        ),
    ):
        linalg.solve(np.eye(3), np.ones(2))
    with pytest.raises(
        ValueError,
        match=re.escape(
            "solve: batch shapes of a (2, 3, 3) and b (4, 3, 1) cannot be broadcast together"
        ),
    ):
        linalg.solve(conditioned(2, 3, 3), np.ones((4, 3, 1)))
    with pytest.raises(np.linalg.LinAlgError, match="solve: Singular matrix"):
        linalg.solve(np.ones((2, 2)), np.ones(2))


# ---------------------------------------------------------------------------- cholesky
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_matches_numpy_and_finite_differences(shape, upper):
    a = spd(*shape)
    got = linalg.cholesky(a, upper=upper).numpy()
    np.testing.assert_allclose(got, np.linalg.cholesky(a, upper=upper), rtol=1e-12)
    n = shape[-1]
    # A symmetric positive definite function of a free matrix x.
    f = lambda x: linalg.cholesky(x @ x.swapaxes(-1, -2) + n * np.eye(n), upper=upper)
    x = randn(*shape)
    assert gradcheck(f, x)
    assert gradgradcheck(f, x)


def test_cholesky_gradient_is_symmetric_and_matches_symmetric_differences():
    a, g = spd(3, 3), randn(3, 3)
    got = grad_of(lambda t: (linalg.cholesky(t) * g).sum(), a)
    np.testing.assert_allclose(got, got.T, rtol=1e-12)
    # Along any symmetric direction d: <grad, d> = d/de loss(a + e d).
    d = sym(randn(3, 3))
    loss = lambda m: (np.linalg.cholesky(m) * g).sum()
    numeric = (loss(a + 1e-6 * d) - loss(a - 1e-6 * d)) / 2e-6
    np.testing.assert_allclose((got * d).sum(), numeric, rtol=1e-6)


def test_cholesky_of_a_matrix_not_positive_definite_raises():
    with pytest.raises(
        np.linalg.LinAlgError,
        match=re.escape("cholesky: Matrix is not positive definite (input of shape (2, 2)"),
    ):
        linalg.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]))


# ---------------------------------------------------------------------------------- qr
QR_SHAPES = [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 2, 4)]


@pytest.mark.parametrize("shape", QR_SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete"])
def test_qr_matches_numpy(shape, mode):
    a = randn(*shape)
    q, r = linalg.qr(a, mode=mode)
    ref_q, ref_r = np.linalg.qr(a, mode=mode)
    np.testing.assert_allclose(q.numpy(), ref_q, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.numpy(), ref_r, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(linalg.qr(a, mode="r").numpy(), np.linalg.qr(a, mode="r"),
                               rtol=1e-12, atol=1e-12)  # fmt: skip


@pytest.mark.parametrize("shape", QR_SHAPES)
def test_qr_gradients(shape):
    def f(x):  # every element of Q and R takes part, nonlinearly
        q, r = linalg.qr(x)
        return (q**3).sum() + (r**3).sum()

    a = randn(*shape)
    assert gradcheck(f, a)
    assert gradgradcheck(f, a)
    assert gradcheck(lambda x: linalg.qr(x, mode="r"), a)


def test_qr_complete_mode_of_a_tall_matrix_is_not_differentiable():
    t = cr.tensor(randn(4, 2), requires_grad=True)
    q, r = linalg.qr(t, mode="complete")
    assert q.shape == (4, 4)
    with pytest.raises(ValueError, match="qr: mode='complete' is not differentiable for a tall"):
        q.sum().backward()
    # complete == reduced for a wide matrix: differentiable
    assert gradcheck(lambda x: linalg.qr(x, mode="complete").Q, randn(2, 4))


def test_qr_refuses_unknown_modes():
    with pytest.raises(ValueError, match="qr: unsupported mode 'raw'"):
        linalg.qr(np.eye(2), mode="raw")


# -------------------------------------------------------------------------------- eigh
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)])
@pytest.mark.parametrize("uplo", ["L", "U"])
def test_eigh_matches_numpy(shape, uplo):
    a = randn(*shape)  # not symmetric: only one triangle is read, as NumPy
    w, v = linalg.eigh(a, UPLO=uplo)
    ref_w, ref_v = np.linalg.eigh(a, UPLO=uplo)
    np.testing.assert_allclose(w.numpy(), ref_w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.abs(v.numpy()), np.abs(ref_v), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(linalg.eigvalsh(a, UPLO=uplo).numpy(), ref_w, rtol=1e-12,
                               atol=1e-12)  # fmt: skip


EIGH_LOSSES = {
    # sign-invariant functions of the eigenvectors
    "V exp(w) V^T": lambda w, v: v @ (w.exp().expand_dims(-1) * v.swapaxes(-1, -2)),
    "weighted |v|^2": lambda w, v: (v * v) * np.array([1.0, -2.0, 3.0]) + w.expand_dims(-2),
    "eigenvalues": lambda w, v: w**2,
}


@pytest.mark.parametrize("loss", EIGH_LOSSES)
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3)])
def test_eigh_gradients(loss, shape):
    f = lambda x: EIGH_LOSSES[loss](*linalg.eigh(sym(x)))
    x = randn(*shape)
    assert gradcheck(f, x)
    assert gradgradcheck(f, x)


def test_eigvalsh_gradient_is_the_weighted_projectors():
    a, c = sym(randn(3, 3)), np.array([0.5, -1.0, 2.0])
    got = grad_of(lambda t: (linalg.eigvalsh(t) * c).sum(), a)
    _, v = np.linalg.eigh(a)
    np.testing.assert_allclose(got, (v * c) @ v.T, rtol=1e-10, atol=1e-12)
    assert gradgradcheck(lambda x: linalg.eigvalsh(sym(x)), randn(2, 3, 3))


def test_eigh_repeated_eigenvalues():
    # A loss of the eigenvalues alone: exact. d trace / dA = I, even where all coincide.
    got = grad_of(lambda t: linalg.eigvalsh(t).sum(), np.eye(3))
    np.testing.assert_allclose(got, np.eye(3), atol=1e-12)
    # A loss of the eigenvectors: not finite where two coincide, as PyTorch.
    weights = np.array([1.0, 2.0, 3.0])
    vector_loss = lambda t: ((linalg.eigh(t).eigenvectors ** 2) * weights).sum()
    got = grad_of(vector_loss, np.diag([1.0, 1.0, 2.0]))
    assert not np.isfinite(got).all()


# --------------------------------------------------------------------------------- svd
SVD_SHAPES = [(4, 3), (3, 3), (3, 5), (2, 4, 2), (2, 2, 3)]


@pytest.mark.parametrize("shape", SVD_SHAPES)
@pytest.mark.parametrize("full_matrices", [True, False])
def test_svd_matches_numpy(shape, full_matrices):
    a = randn(*shape)
    u, s, vh = linalg.svd(a, full_matrices=full_matrices)
    ref_u, ref_s, ref_vh = np.linalg.svd(a, full_matrices=full_matrices)
    assert u.shape == ref_u.shape and vh.shape == ref_vh.shape
    np.testing.assert_allclose(s.numpy(), ref_s, rtol=1e-12)
    np.testing.assert_allclose(np.abs(u.numpy()), np.abs(ref_u), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.abs(vh.numpy()), np.abs(ref_vh), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(linalg.svd(a, compute_uv=False).numpy(), ref_s, rtol=1e-12)
    np.testing.assert_allclose(linalg.svdvals(a).numpy(), ref_s, rtol=1e-12)


def _weights(n: int) -> np.ndarray:
    return np.arange(1.0, n + 1.0)


SVD_LOSSES = {
    # U diag(s^2) Vh: gauge-invariant (a sign flip of u_i and v_i cancels)
    "U diag(s^2) Vh": lambda u, s, vh: (u * (s * s).expand_dims(-2)) @ vh,
    "weighted |U|^2": lambda u, s, vh: (u * u) * _weights(u.shape[-1]) + s.sum(),
    "weighted |Vh|^2": lambda u, s, vh: (vh * vh).swapaxes(-1, -2) * _weights(vh.shape[-2]),
    "singular values": lambda u, s, vh: s**3,
}


@pytest.mark.parametrize("loss", SVD_LOSSES)
@pytest.mark.parametrize("shape", SVD_SHAPES)
def test_svd_gradients(loss, shape):
    f = lambda x: SVD_LOSSES[loss](*linalg.svd(x, full_matrices=False))
    a = randn(*shape)
    assert gradcheck(f, a)
    assert gradgradcheck(f, a)


def test_svd_full_matrices_ignores_the_extra_columns_as_pytorch():
    a, w = randn(5, 3), _weights(3)
    reduced = grad_of(lambda t: ((linalg.svd(t, False).U ** 2) * w).sum(), a)
    full = grad_of(lambda t: ((linalg.svd(t).U[:, :3] ** 2) * w).sum(), a)
    np.testing.assert_allclose(full, reduced, rtol=1e-10)
    assert gradgradcheck(lambda t: (linalg.svd(t).U[:, :3] ** 2) * w, a)
    # The extra columns' own gradient is dropped: they are any basis of the complement.
    extra = grad_of(lambda t: (linalg.svd(t).U[:, 3:] ** 3).sum(), a)
    np.testing.assert_allclose(extra, 0, atol=1e-12)


def test_svdvals_gradient_is_u_vt_even_for_repeated_values():
    a = randn(4, 3)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(grad_of(lambda t: linalg.svdvals(t).sum(), a), u @ vh, rtol=1e-10)
    # The nuclear norm of the identity: all singular values equal, gradient exactly I.
    np.testing.assert_allclose(grad_of(lambda t: linalg.svdvals(t).sum(), np.eye(3)), np.eye(3),
                               atol=1e-12)  # fmt: skip
    # A loss of the vectors where singular values repeat: not finite, as PyTorch.
    got = grad_of(lambda t: ((linalg.svd(t).U ** 2) * _weights(3)).sum(), np.eye(3))
    assert not np.isfinite(got).all()


# -------------------------------------------------------------------------------- pinv
@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3), (2, 4, 2), (2, 2, 3)])
def test_pinv_matches_numpy_and_finite_differences(shape):
    a = randn(*shape)
    np.testing.assert_allclose(linalg.pinv(a).numpy(), np.linalg.pinv(a), rtol=1e-10, atol=1e-12)
    assert gradcheck(linalg.pinv, a)
    assert gradgradcheck(linalg.pinv, a)


def test_pinv_of_an_invertible_matrix_has_the_inverse_gradient():
    a, g = conditioned(3, 3), randn(3, 3)
    got = grad_of(lambda t: (linalg.pinv(t) * g).sum(), a)
    expected = grad_of(lambda t: (linalg.inv(t) * g).sum(), a)
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_allclose(linalg.pinv(np.diag([2.0, 0.0]), rcond=0.1).numpy(),
                               [[0.5, 0.0], [0.0, 0.0]])  # fmt: skip


# ------------------------------------------------------------------------ matrix_power
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -3])
def test_matrix_power_matches_numpy_and_finite_differences(n):
    a = conditioned(2, 3, 3) / 3
    np.testing.assert_allclose(linalg.matrix_power(a, n).numpy(),
                               np.linalg.matrix_power(a, n), rtol=1e-10)  # fmt: skip
    f = lambda x: linalg.matrix_power(x, n)
    assert gradcheck(f, a)
    assert gradgradcheck(f, a)


def test_matrix_power_zero_has_a_zero_gradient_and_the_exponent_must_be_an_int():
    np.testing.assert_array_equal(grad_of(lambda t: linalg.matrix_power(t, 0).sum(), randn(2, 2)),
                                  np.zeros((2, 2)))  # fmt: skip
    ints = np.array([[1, 2], [3, 4]])
    for n in (0, 1, 3):  # integers stay integers, as NumPy
        out = linalg.matrix_power(ints, n)
        assert out.dtype == ints.dtype
        np.testing.assert_array_equal(out.numpy(), np.linalg.matrix_power(ints, n))
    with pytest.raises(TypeError, match="matrix_power: the exponent must be an int, got float"):
        linalg.matrix_power(np.eye(2), 2.0)


# ------------------------------------------------------------------------------- norms
NORM_CASES = [
    # (shape, ord, axis)
    ((3, 4), None, None),
    ((2, 3, 4), None, None),
    ((3, 4), "fro", None),
    ((3, 4), "nuc", None),
    ((3, 4), 2, None),
    ((3, 4), -2, None),
    ((3, 4), 1, None),
    ((3, 4), -1, None),
    ((3, 4), INF, None),
    ((3, 4), -INF, None),
    ((2, 3, 4), "nuc", (2, 0)),
    ((2, 3, 4), 1, (1, 2)),
    ((2, 3, 4), INF, (2, 1)),
    ((5,), None, None),
    ((5,), 1, None),
    ((5,), 3, None),
    ((5,), INF, None),
    ((5,), -INF, None),
    ((5,), 0.5, None),
    ((5,), -1, None),
    ((2, 5), 3, 1),
    ((2, 5), 2, (0,)),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape, ord, axis", NORM_CASES)
def test_norm_matches_numpy_and_finite_differences(shape, ord, axis, keepdims):
    x = randn(*shape)
    out = linalg.norm(x, ord, axis, keepdims)
    expected = np.linalg.norm(x, ord, axis, keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    f = lambda t: linalg.norm(t, ord, axis, keepdims)
    assert gradcheck(f, x)
    assert gradgradcheck(f, x)


@pytest.mark.parametrize("ord", [2, 1, INF, -INF, 3, 0, -1])
@pytest.mark.parametrize("axis", [None, 1, (0, 2), (-1, 0)])
def test_vector_norm_matches_numpy(ord, axis):
    x = randn(2, 3, 4)
    out = linalg.vector_norm(x, ord, axis, keepdims=True)
    expected = np.linalg.vector_norm(x, ord=ord, axis=axis, keepdims=True)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    if ord != 0:
        assert gradcheck(lambda t: linalg.vector_norm(t, ord, axis), x)


def test_matrix_norm_defaults_and_pytorch_names():
    x = randn(2, 3, 4)
    np.testing.assert_allclose(linalg.matrix_norm(x).numpy(), np.linalg.matrix_norm(x), rtol=1e-12)
    np.testing.assert_allclose(
        linalg.matrix_norm(x, 2, dim=(0, 1), keepdim=True).numpy(),
        np.linalg.norm(x, 2, axis=(0, 1), keepdims=True),
        rtol=1e-12,
    )
    np.testing.assert_allclose(linalg.norm(x, dim=1).numpy(), np.linalg.norm(x, axis=1),
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize(
    "f",
    [
        lambda t: linalg.norm(t),
        lambda t: linalg.vector_norm(t, 1),
        lambda t: linalg.vector_norm(t, INF),
        lambda t: linalg.vector_norm(t, 3),
        lambda t: linalg.matrix_norm(t, 1),
        lambda t: linalg.matrix_norm(t, -INF),
    ],
)
def test_norm_gradient_at_zero_is_zero_as_pytorch(f):
    got = grad_of(lambda t: f(t).sum(), np.zeros((2, 3)))
    np.testing.assert_array_equal(got, np.zeros((2, 3)))


def test_spectral_and_nuclear_norm_gradients():
    a = randn(4, 3)
    u, _, vh = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(grad_of(lambda t: linalg.norm(t, "nuc"), a), u @ vh, rtol=1e-10)
    np.testing.assert_allclose(grad_of(lambda t: linalg.norm(t, 2), a),
                               np.outer(u[:, 0], vh[0]), rtol=1e-10)  # fmt: skip
    # At zero both are finite subgradients (unit spectral / nuclear norm).
    for ord, dual in (("nuc", 2), (2, "nuc")):
        g = grad_of(lambda t, ord=ord: linalg.norm(t, ord), np.zeros((2, 2)))
        assert np.isfinite(g).all()
        assert np.isclose(np.linalg.norm(g, dual), 1.0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: linalg.norm(np.ones((2, 2, 2)), 1), ValueError,
         "norm: ord=1 with axis=None needs a 1-D or 2-D tensor, got shape (2, 2, 2)"),
        (lambda: linalg.norm(np.ones((2, 2, 2)), axis=(0, 1, 2)), ValueError,
         "norm: axis (0, 1, 2) names 3 axes"),
        (lambda: linalg.matrix_norm(np.ones((2, 2)), 3), ValueError,
         "matrix_norm: unsupported ord=3"),
        (lambda: linalg.matrix_norm(np.ones(2)), ValueError,
         "matrix_norm: expected at least 2 dimensions, got shape (2,)"),
        (lambda: linalg.matrix_norm(np.ones((2, 2)), axis=(1, 1)), ValueError,
         "matrix_norm: axis (1, 1) must name two different axes"),
        (lambda: linalg.vector_norm(np.ones(2), "fro"), ValueError,
         "vector_norm: ord must be a real number"),
        (lambda: linalg.vector_norm(np.ones(2), axis=0, dim=0), TypeError,
         "vector_norm: give axis or dim, not both"),
    ],
)  # fmt: skip
def test_norm_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


# --------------------------------------------------------- dtypes, recording, the rule table
FLOAT32_CASES = {
    "inv": (linalg.inv, lambda: conditioned(2, 3, 3)),
    "det": (linalg.det, lambda: conditioned(3, 3)),
    "slogdet": (lambda t: linalg.slogdet(t).logabsdet, lambda: conditioned(3, 3)),
    "solve": (lambda t: linalg.solve(t, np.ones(3, np.float32)), lambda: conditioned(3, 3)),
    "cholesky": (linalg.cholesky, lambda: spd(3, 3)),
    "qr": (lambda t: linalg.qr(t).R, lambda: randn(4, 3)),
    "eigh": (lambda t: linalg.eigh(t).eigenvalues, lambda: spd(3, 3)),
    "svd": (lambda t: linalg.svd(t).S, lambda: randn(3, 4)),
    "pinv": (linalg.pinv, lambda: randn(3, 4)),
    "nuc": (lambda t: linalg.norm(t, "nuc"), lambda: randn(3, 4)),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32(name):
    f, make = FLOAT32_CASES[name]
    t = cr.tensor(make().astype(np.float32), requires_grad=True)
    out = f(t)
    assert out.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32
    assert np.isfinite(t.grad.numpy()).all()


def test_nothing_is_recorded_without_grad():
    t = cr.tensor(conditioned(3, 3), requires_grad=True)
    with cr.no_grad():
        outs = [linalg.inv(t), linalg.det(t), *linalg.qr(t), *linalg.svd(t), *linalg.eigh(t)]
    assert not any(o.requires_grad for o in outs)
    assert all(o.grad_fn is None for o in outs)


def test_every_matrix_rule_is_in_the_table_and_explained():
    for name in ("inv", "det", "slogdet", "solve", "cholesky", "qr", "eigh", "svd", "pinv"):
        assert primitive_table[name].formula
    t = cr.tensor(conditioned(2, 2), requires_grad=True)
    text = io.StringIO()
    cr.explain(linalg.det(t) + linalg.svdvals(t).sum(), file=text)
    assert "det(a) * a^{-T}" in text.getvalue()
    assert "U diag(gs) V^T" in text.getvalue()


def test_namespace():
    assert cr.linalg is linalg
    for name in linalg.__all__:
        assert getattr(linalg, name) is getattr(cr.ops.linalg, name)
    a, b = randn(2, 3), randn(3, 2)
    np.testing.assert_allclose(cr.tensordot(a, b, 1).numpy(), a @ b, rtol=1e-12)
    np.testing.assert_allclose(cr.kron(a, b).numpy(), np.kron(a, b), rtol=1e-12)
    np.testing.assert_allclose(cr.cross(a, a[::-1]).numpy(), np.cross(a, a[::-1]), rtol=1e-12)
    assert not hasattr(cr, "svd")  # matrix functions only under cr.linalg, as NumPy


# ---------------------------------------------------------------------------- property
@settings(max_examples=25, deadline=None)
@given(
    batch=st.lists(st.integers(1, 3), max_size=2).map(tuple),
    m=st.integers(1, 5),
    n=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_property_factorisations_rebuild_the_matrix_and_gradients_match(batch, m, n, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch + (m, n))
    u, s, vh = linalg.svd(a, full_matrices=False)
    rebuilt = (u.numpy() * s.numpy()[..., None, :]) @ vh.numpy()
    np.testing.assert_allclose(rebuilt, a, atol=1e-10)
    q, r = linalg.qr(a)
    np.testing.assert_allclose(q.numpy() @ r.numpy(), a, atol=1e-10)
    # sum of singular values: gradient U V^T
    expected = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(grad_of(lambda t: linalg.svdvals(t).sum(), a),
                               expected[0] @ expected[2], atol=1e-9)  # fmt: skip
    sq = rng.standard_normal(batch + (n, n)) + 3 * np.eye(n)
    np.testing.assert_allclose(grad_of(lambda t: linalg.det(t).sum(), sq),
                               np.linalg.det(sq)[..., None, None] * mT(np.linalg.inv(sq)),
                               rtol=1e-8, atol=1e-10)  # fmt: skip
    assert gradcheck(lambda t: linalg.slogdet(t).logabsdet, sq)
