"""Fused neural-network primitives: softmax_cross_entropy, linear, one_hot."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.linalg import matmul
from chainrule.ops.nn import linear, one_hot, softmax_cross_entropy
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(7)


def reference_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy row by row in Python floats: max-shifted exps summed with fsum."""
    losses = []
    for row, y in zip(logits.tolist(), labels.tolist()):
        m = max(row)
        lse = m + math.log(math.fsum(math.exp(v - m) for v in row))
        losses.append(lse - row[y])
    return math.fsum(losses) / len(losses)


def softmax_minus_onehot(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1.0
    return p / len(labels)


# ------------------------------------------------------------------ softmax cross-entropy
@pytest.mark.parametrize("n, c", [(1, 1), (1, 3), (4, 3), (5, 10)])
def test_softmax_cross_entropy_value_and_the_articles_gradient(n, c):
    logits = RNG.standard_normal((n, c)) * 3
    labels = RNG.integers(0, c, size=n)
    q = cr.tensor(logits, requires_grad=True)
    loss = softmax_cross_entropy(q, labels)
    assert loss.shape == () and loss.dtype == np.float64
    assert loss.item() == pytest.approx(reference_loss(logits, labels), rel=1e-14, abs=1e-15)
    loss.backward()
    np.testing.assert_allclose(q.grad.numpy(), softmax_minus_onehot(logits, labels),
                               rtol=0, atol=1e-12)


def test_softmax_cross_entropy_gradient_scales_with_the_incoming_gradient():
    logits, labels = RNG.standard_normal((3, 4)), np.array([3, 0, 1])
    q = cr.tensor(logits, requires_grad=True)
    (softmax_cross_entropy(q, labels) * 2.5).backward()
    np.testing.assert_allclose(q.grad.numpy(), 2.5 * softmax_minus_onehot(logits, labels),
                               atol=1e-12)


def test_softmax_cross_entropy_logits_of_magnitude_1e4():
    logits = np.array([[1e4, -1e4, 5e3], [1e4, 1e4 - 1, 0.0], [-1e4, -1e4, -1e4 + 2]])
    labels = np.array([1, 1, 0])
    q = cr.tensor(logits, requires_grad=True)
    loss = softmax_cross_entropy(q, labels)
    expected = reference_loss(logits, labels)
    # Row by row: 2e4, 1 + log(1 + e^-1), 2 + log(1 + 2 e^-2) (up to e^-5000 terms).
    by_hand = (2e4 + 1 + math.log1p(math.exp(-1)) + 2 + math.log1p(2 * math.exp(-2))) / 3
    assert expected == pytest.approx(by_hand, rel=1e-15)
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(expected, rel=1e-15)
    loss.backward()
    grad = q.grad.numpy()
    assert np.isfinite(grad).all()
    np.testing.assert_allclose(grad, softmax_minus_onehot(logits, labels), atol=1e-15)
    # float32 too: no overflow, the same answer to float32 precision.
    loss32 = softmax_cross_entropy(logits.astype(np.float32), labels)
    assert loss32.dtype == np.float32
    assert loss32.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("n, c", [(1, 2), (3, 4)])
def test_softmax_cross_entropy_first_and_second_derivatives(n, c):
    logits = RNG.standard_normal((n, c))
    labels = RNG.integers(0, c, size=n)
    f = lambda q: softmax_cross_entropy(q, labels)
    assert gradcheck(f, logits)
    assert gradgradcheck(f, logits)


def test_softmax_cross_entropy_hessian_is_the_softmax_jacobian():
    # d2L/dq2 for one row: (diag(p) - p p^T) / n, independent of the label.
    logits, labels = RNG.standard_normal((1, 3)), np.array([2])
    hessian = cr.hessian(lambda q: softmax_cross_entropy(q, labels))(cr.tensor(logits))
    hessian = np.asarray(hessian).reshape(3, 3)
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(np.array(hessian), np.diag(p) - np.outer(p, p), atol=1e-12)


def test_softmax_cross_entropy_float32_stays_float32_and_accepts_label_forms():
    logits = cr.tensor(RNG.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    for labels in ([0, 3, 1], np.array([0, 3, 1], np.int32), cr.tensor([0, 3, 1]),
                   np.array([0, 3, 1], np.uint8)):
        logits.grad = None
        loss = softmax_cross_entropy(logits, labels)
        assert loss.dtype == np.float32
        loss.backward()
        assert logits.grad.dtype == np.float32
        np.testing.assert_allclose(
            logits.grad.numpy(),
            softmax_minus_onehot(logits.numpy().astype(np.float64), np.array([0, 3, 1])),
            atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 6), scale=st.sampled_from([1e-3, 1.0, 50.0, 1e4]),
       seed=st.integers(0, 2**16))
def test_softmax_cross_entropy_property(n, c, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)) * scale
    labels = rng.integers(0, c, size=n)
    q = cr.tensor(logits, requires_grad=True)
    loss = softmax_cross_entropy(q, labels)
    expected = reference_loss(logits, labels)
    assert loss.item() >= 0
    assert loss.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    loss.backward()
    np.testing.assert_allclose(q.grad.numpy(), softmax_minus_onehot(logits, labels), atol=1e-12)
    np.testing.assert_allclose(q.grad.numpy().sum(axis=1), 0.0, atol=1e-12)


@pytest.mark.parametrize(
    "logits, labels, error, message",
    [
        (np.zeros((2, 3)), [0, 3], ValueError,
         "softmax_cross_entropy: label 3 is out of range for 3 classes; expected 0 <= label < 3"),
        (np.zeros((2, 3)), [-1, 0], ValueError,
         "softmax_cross_entropy: label -1 is out of range for 3 classes"),
        (np.zeros((2, 3)), [0, 1, 2], ValueError,
         "softmax_cross_entropy: labels of shape (3,) do not match logits of shape (2, 3); "
         "expected labels of shape (2,)"),
        (np.zeros((2, 3)), [[0], [1]], ValueError,
         "softmax_cross_entropy: labels of shape (2, 1) do not match logits of shape (2, 3)"),
        (np.zeros(3), [0], ValueError,
         "softmax_cross_entropy: logits must have shape (n, C) with n, C >= 1, got shape (3,)"),
        (np.zeros((0, 3)), np.zeros(0, np.int64), ValueError,
         "softmax_cross_entropy: logits must have shape (n, C) with n, C >= 1, got shape (0, 3)"),
        (np.zeros((2, 3)), [0.0, 1.0], TypeError,
         "softmax_cross_entropy: labels must be integer class indices, got dtype float32"),
        (np.zeros((2, 3)), np.array([True, False]), TypeError,
         "softmax_cross_entropy: labels must be integer class indices, got dtype bool"),
        (np.zeros((2, 3), np.int64), [0, 1], TypeError,
         "softmax_cross_entropy: logits must be floating point, got dtype int64"),
    ],
)  # fmt: skip
def test_softmax_cross_entropy_errors(logits, labels, error, message):
    with pytest.raises(error, match=re.escape(message)):
        softmax_cross_entropy(logits, labels)


# ---------------------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4, 3), (3,), (2, 2, 3), (0, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_x_times_w_transposed_plus_b(x_shape, with_bias):
    x, w, b = RNG.standard_normal(x_shape), RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    out = linear(x, w, b if with_bias else None)
    expected = x @ w.T + (b if with_bias else 0.0)
    assert out.shape == x_shape[:-1] + (2,)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("x_shape", [(4, 3), (3,), (2, 2, 3)])
def test_linear_gradients(x_shape):
    x, w, b = RNG.standard_normal(x_shape), RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    assert gradcheck(linear, x, w, b)
    assert gradcheck(linear, x, w)
    assert gradgradcheck(linear, x, w, b)


def test_linear_gradients_are_the_fused_rules():
    x, w, b = RNG.standard_normal((5, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    tx, tw, tb = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    out = linear(tx, tw, tb)
    assert out.grad_fn.name == "linear"  # one node, not a matmul and an add
    g = RNG.standard_normal((5, 2))
    out.backward(g)
    np.testing.assert_allclose(tx.grad.numpy(), g @ w, rtol=1e-14)
    np.testing.assert_allclose(tw.grad.numpy(), g.T @ x, rtol=1e-14)
    np.testing.assert_allclose(tb.grad.numpy(), g.sum(0), rtol=1e-14)
    # and the composition gives the same gradients
    ux, uw, ub = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    (matmul(ux, uw.T) + ub).backward(g)
    for fused, composed in ((tx, ux), (tw, uw), (tb, ub)):
        np.testing.assert_allclose(fused.grad.numpy(), composed.grad.numpy(), rtol=1e-14)


def test_linear_float32_stays_float32_and_dtypes_follow_numpy():
    x = cr.tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    b = cr.tensor(np.zeros(2, np.float32), requires_grad=True)
    out = linear(x, w, b)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    b64 = np.ones(2)
    assert linear(x, w, b64).dtype == (x.numpy() @ w.numpy().T + b64).dtype == np.float64
    ints = np.arange(6).reshape(2, 3)
    assert linear(ints, ints).dtype == np.int64
    with cr.no_grad():
        assert not linear(x, w, b).requires_grad


@pytest.mark.parametrize(
    "x_shape, w_shape, b_shape, message",
    [
        ((4, 3), (2, 5), None, "linear: input of shape (4, 3) does not match weight of shape "
                               "(2, 5): expected the last dimension of the input to be 5"),
        ((), (2, 3), None, "linear: input of shape () does not match weight of shape (2, 3)"),
        ((4, 3), (3,), None, "linear: weight must be 2-D (out_features, in_features), got "
                             "shape (3,)"),
        ((4, 3), (2, 3), (3,), "linear: bias of shape (3,) does not match weight of shape "
                               "(2, 3): expected shape (2,)"),
        ((4, 3), (2, 3), (1, 2), "linear: bias of shape (1, 2) does not match weight"),
    ],
)  # fmt: skip
def test_linear_errors(x_shape, w_shape, b_shape, message):
    w = cr.tensor(np.ones(w_shape), requires_grad=True)
    b = None if b_shape is None else np.ones(b_shape)
    with pytest.raises(ValueError, match=re.escape(message)):
        linear(np.ones(x_shape), w, b)


# -------------------------------------------------------------------------------- one_hot
def test_one_hot_values_and_errors():
    out = one_hot(np.array([[2, 0], [1, 1]]), 3)
    assert out.dtype == np.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[2, 0], [1, 1]]])
    assert one_hot([1], 2, np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=re.escape("one_hot: label 2 is out of range for 2")):
        one_hot([0, 2], 2)
    with pytest.raises(TypeError, match="one_hot: labels must be integer class indices"):
        one_hot([0.5], 2)


@pytest.mark.parametrize("denom", [None, 1.0, 2.5])
def test_label_cross_entropy_row_weights_gradcheck(denom):
    # The estimators' node: per-row weights a, summed (denom) or one loss per row (None).
    from chainrule.ops.nn import label_cross_entropy

    rng = np.random.default_rng(3)
    y = np.array([2, 0, 1, 2])
    a = rng.uniform(0.1, 2.0, 4)
    q = rng.standard_normal((4, 3))
    out = label_cross_entropy(cr.tensor(q), y, a, denom=denom)
    z = q - q.max(axis=1, keepdims=True)
    rows = a * (np.log(np.exp(z).sum(axis=1)) - z[np.arange(4), y])
    np.testing.assert_allclose(out.numpy(), rows if denom is None else rows.sum() / denom)
    assert gradcheck(lambda x: label_cross_entropy(x, y, a, denom=denom), q)
    assert gradgradcheck(lambda x: label_cross_entropy(x, y, a, denom=denom), q)
