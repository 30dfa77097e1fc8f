"""Losses: cross_entropy, nll_loss, the binary cross-entropies, mse/l1/huber and their Modules.

Values are checked against NumPy float64 references written here and, where noted, against
numbers computed with PyTorch 2.13 in float64 during development (torch is not imported).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
)
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(3)
REDUCTIONS = ["mean", "sum", "none"]


# ------------------------------------------------------------------ NumPy references
def log_softmax(q: np.ndarray, axis: int = 1) -> np.ndarray:
    m = q.max(axis=axis, keepdims=True)
    return q - m - np.log(np.exp(q - m).sum(axis=axis, keepdims=True))


def reduce(loss: np.ndarray, reduction: str, denom: float) -> np.ndarray:
    if reduction == "none":
        return loss
    return loss.sum() / denom if reduction == "mean" else loss.sum()


def ref_cross_entropy(q, y, weight=None, ignore_index=-100, reduction="mean", s=0.0):
    """PyTorch's definition spelled out sample by sample (class axis 1, or 0 for one sample)."""
    target_shape = np.shape(y)
    if q.ndim == 1:
        q = q[None]
    lp = np.moveaxis(log_softmax(q, 1), 1, -1).reshape(-1, q.shape[1])
    c = q.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    labels = np.asarray(y).reshape(-1)
    loss, denom = np.zeros(len(labels)), 0.0
    for i, label in enumerate(labels):
        if label == ignore_index:
            continue
        loss[i] = -(1 - s) * w[label] * lp[i, label] - s / c * (w * lp[i]).sum()
        denom += w[label]
    out = reduce(loss, reduction, denom)
    return out.reshape(target_shape) if reduction == "none" else out


def ref_soft_cross_entropy(q, t, weight=None, reduction="mean", s=0.0):
    c = q.shape[1] if q.ndim > 1 else q.shape[0]
    axis = 1 if q.ndim > 1 else 0
    tt = t * (1 - s) + s / c
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    shape = [1] * q.ndim
    shape[axis] = c
    loss = -(log_softmax(q, axis) * tt * w.reshape(shape)).sum(axis=axis)
    return reduce(loss, reduction, q.size // c)


def ref_nll(lp, y, weight=None, ignore_index=-100, reduction="mean"):
    c = lp.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    rows = np.moveaxis(lp, 1, -1).reshape(-1, c)
    yf = np.asarray(y).reshape(-1)
    keep = yf != ignore_index
    ys = np.where(keep, yf, 0)
    loss = np.where(keep, -w[ys] * rows[np.arange(len(yf)), ys], 0.0)
    return reduce(loss, reduction, (w[ys] * keep).sum()).reshape(
        np.shape(y) if reduction == "none" else ()
    )


def ref_bce_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    log_sig = -np.logaddexp(0.0, -x)  # log sigmoid(x)
    log_one_minus = -np.logaddexp(0.0, x)  # log(1 - sigmoid(x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * log_sig + (1 - t) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return reduce(loss, reduction, x.size)


def ref_bce(p, t, weight=None, reduction="mean"):
    with np.errstate(divide="ignore"):
        loss = -(t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log(1 - p), -100))
    if weight is not None:
        loss = loss * weight
    return reduce(loss, reduction, p.size)


def ref_huber(x, t, reduction="mean", delta=1.0):
    d = np.abs(x - t)
    return reduce(np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction, x.size)


def assert_close(actual, expected, tol=1e-13):
    actual = actual.numpy() if isinstance(actual, cr.Tensor) else np.asarray(actual)
    assert actual.shape == np.shape(expected)
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


# A fixed example whose values were computed with PyTorch 2.13 (float64) while developing.
Q = np.array([[1.0, 2.0, -1.0], [0.5, 0.1, 0.2], [3.0, -2.0, 1.0], [0.0, 0.0, 0.0]])
Y = np.array([1, -100, 2, 0])
W = np.array([0.5, 2.0, 1.5])
T = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8], [0.25, 0.25, 0.5]])
X = np.array([[1.5, -0.5, 3.0], [-2.0, 0.0, 0.7]])
TB = np.array([[1.0, 0.0, 0.3], [0.0, 1.0, 0.9]])
PW = np.array([2.0, 0.5, 1.0])


# ---------------------------------------------------------------------- cross-entropy
def test_cross_entropy_matches_pytorch_numbers():
    # torch.nn.functional.cross_entropy on Q, Y (float64)
    assert_close(cross_entropy(Q, Y), 1.1934899130546237)
    assert_close(cross_entropy(Q, Y, weight=W), 1.1116496071154476)
    assert_close(cross_entropy(Q, Y, weight=W, label_smoothing=0.2), 1.2946843349699495)
    assert_close(cross_entropy(Q, Y, label_smoothing=0.2, reduction="sum"), 3.9138030724972044)
    assert_close(cross_entropy(Q, Y, weight=W, label_smoothing=0.2, reduction="none"),
                 [0.9848228046339478, 0.0, 3.461506342800444, 0.7324081924454066])
    # ... and with class probabilities T
    assert_close(cross_entropy(Q, T), 1.4151421712511192)
    assert_close(cross_entropy(Q, T, weight=W, label_smoothing=0.2), 1.9917184246138904)
    assert_close(cross_entropy(Q, T, weight=W, label_smoothing=0.2, reduction="none"),
                 [2.0191784065974003, 0.670065963893737, 3.776192533451341, 1.5014367945130833])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("s", [0.0, 0.25])
def test_cross_entropy_indices_against_reference(reduction, weighted, ignore_index, s):
    q = RNG.standard_normal((7, 4)) * 3
    y = np.array([0, 3, 2, 1, -100, 2, 3])
    if ignore_index != -100:
        y[4] = 1  # class 2 is ignored instead
    w = RNG.uniform(0.2, 2.0, 4) if weighted else None
    out = cross_entropy(q, y, weight=w, ignore_index=ignore_index, reduction=reduction,
                        label_smoothing=s)
    assert_close(out, ref_cross_entropy(q, y, w, ignore_index, reduction, s))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("s", [0.0, 0.3])
def test_cross_entropy_probabilities_against_reference(reduction, weighted, s):
    q = RNG.standard_normal((5, 3)) * 2
    t = RNG.dirichlet(np.ones(3), size=5)
    w = RNG.uniform(0.2, 2.0, 3) if weighted else None
    out = cross_entropy(q, t, weight=w, reduction=reduction, label_smoothing=s)
    assert_close(out, ref_soft_cross_entropy(q, t, w, reduction, s))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_spatial_and_single_sample_layouts(reduction):
    q = RNG.standard_normal((2, 4, 3, 2))
    y = RNG.integers(0, 4, (2, 3, 2))
    y[0, 1, 1] = -100
    w = RNG.uniform(0.5, 1.5, 4)
    out = cross_entropy(q, y, weight=w, reduction=reduction, label_smoothing=0.1)
    assert_close(out, ref_cross_entropy(q, y, w, -100, reduction, 0.1))
    t = np.moveaxis(RNG.dirichlet(np.ones(4), size=(2, 3, 2)), -1, 1)
    assert_close(cross_entropy(q, t, weight=w, reduction=reduction),
                 ref_soft_cross_entropy(q, t, w, reduction))
    one = cross_entropy(q[0, :, 0, 0], np.array(2), reduction=reduction, label_smoothing=0.2)
    assert_close(one, np.asarray(ref_cross_entropy(q[0, :, 0, 0], 2, None, -100, "sum", 0.2)))


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    q = RNG.standard_normal((6, 5)) * 4
    y = RNG.integers(0, 5, 6)
    x = cr.tensor(q, requires_grad=True)
    cross_entropy(x, y).backward()
    e = np.exp(q - q.max(axis=1, keepdims=True))
    expected = (e / e.sum(axis=1, keepdims=True) - np.eye(5)[y]) / 6
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=1e-12)


def test_cross_entropy_logits_of_1e4_are_exact():
    q = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, -1e4], [1e4, 1e4, 0.0], [-1e4, -1e4, -1e4]])
    y = np.array([2, 0, 1, 1])
    x = cr.tensor(q, requires_grad=True)
    loss = cross_entropy(x, y, reduction="none")
    # Careful float64 reference: log(fsum(exp(q - max))) - (q_y - max), no cancellation.
    expected = []
    for row, label in zip(q.tolist(), y.tolist()):
        m = max(row)
        expected.append(math.log(math.fsum(math.exp(v - m) for v in row)) - (row[label] - m))
    assert loss.tolist() == expected == [2e4, 1e4, math.log(2.0), math.log(3.0)]
    loss.sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, [[1, 0, -1], [-1, 1, 0], [0.5, -0.5, 0], [1 / 3, -2 / 3, 1 / 3]],
                               atol=1e-15)
    smooth = cross_entropy(q, y, weight=[1.0, 2.0, 0.5], label_smoothing=0.1)
    assert np.isfinite(smooth.item())
    assert_close(smooth, ref_cross_entropy(q, y, [1.0, 2.0, 0.5], -100, "mean", 0.1), 1e-12)
    t = np.array([[0.0, 0.0, 1.0]] * 4)
    expected = [2e4, 2e4, 1e4 + math.log(2.0), math.log(3.0)]
    assert cross_entropy(q, t, reduction="none").tolist() == expected


def test_cross_entropy_ignored_samples_get_no_gradient():
    x = cr.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    cross_entropy(x, [1, -100, 2, -100], weight=[1.0, 2.0, 3.0], label_smoothing=0.3).backward()
    assert np.all(x.grad.numpy()[[1, 3]] == 0) and np.all(x.grad.numpy()[[0, 2]] != 0)


def test_cross_entropy_all_ignored_mean_is_nan_as_in_pytorch():
    with np.errstate(invalid="ignore", divide="ignore"):
        assert math.isnan(cross_entropy(Q, [-100] * 4).item())  # PyTorch gives nan too
    assert cross_entropy(Q, [-100] * 4, reduction="sum").item() == 0.0


@pytest.mark.parametrize("options", [
    {}, {"weight": W}, {"label_smoothing": 0.3}, {"weight": W, "label_smoothing": 0.2},
    {"reduction": "none", "weight": W}, {"reduction": "sum", "label_smoothing": 0.1},
])  # fmt: skip
def test_cross_entropy_gradcheck_and_gradgradcheck(options):
    q = RNG.standard_normal((4, 3))
    assert gradcheck(lambda x: cross_entropy(x, Y, **options), q)
    assert gradgradcheck(lambda x: cross_entropy(x, Y, **options), q)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities_gradcheck_both_arguments(reduction):
    # gradcheck treats the probabilities as a differentiable input too, as PyTorch does.
    f = lambda x, t: cross_entropy(x, t, weight=W, reduction=reduction, label_smoothing=0.2)
    assert gradcheck(f, RNG.standard_normal((3, 3)), T[:3])
    assert gradgradcheck(f, RNG.standard_normal((3, 3)), T[:3])


def test_cross_entropy_spatial_gradcheck():
    y = np.array([[0, 2], [1, -100]])
    f = lambda x: cross_entropy(x, y, weight=W, label_smoothing=0.1, reduction="none")
    assert gradcheck(f, RNG.standard_normal((2, 3, 2)))
    assert gradgradcheck(f, RNG.standard_normal((2, 3, 2)))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 5), s=st.sampled_from([0.0, 0.1, 1.0]),
       weighted=st.booleans(), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 30.0]))
def test_cross_entropy_property(n, c, s, weighted, seed, scale):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, c)) * scale
    y = rng.integers(0, c, n)
    y[rng.random(n) < 0.3] = -100
    w = rng.uniform(0.1, 3.0, c) if weighted else None
    for reduction in ("sum", "none"):
        assert_close(cross_entropy(q, y, w, reduction=reduction, label_smoothing=s),
                     ref_cross_entropy(q, y, w, -100, reduction, s), 1e-12)


# ---------------------------------------------------------------------------- nll_loss
def test_nll_loss_matches_pytorch_numbers():
    # torch.nn.functional.nll_loss (float64)
    assert_close(nll_loss(log_softmax(Q), Y, weight=W), 1.1116496071154476)
    assert_close(nll_loss(Q, Y, weight=W, reduction="none"), [-4.0, 0.0, -1.5, 0.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_against_reference_and_cross_entropy(reduction, weighted):
    lp = log_softmax(RNG.standard_normal((5, 4)))
    y = np.array([3, -100, 0, 1, 1])
    w = RNG.uniform(0.2, 2.0, 4) if weighted else None
    assert_close(nll_loss(lp, y, w, reduction=reduction), ref_nll(lp, y, w, -100, reduction))
    lp4 = log_softmax(RNG.standard_normal((2, 4, 3)))
    y4 = np.array([[0, 3, -100], [2, 2, 1]])
    assert_close(nll_loss(lp4, y4, w, reduction=reduction), ref_nll(lp4, y4, w, -100, reduction))
    q = RNG.standard_normal((5, 4))
    assert_close(nll_loss(cr.log_softmax(cr.tensor(q)), y, w, reduction=reduction),
                 cross_entropy(q, y, w, reduction=reduction).numpy())


@pytest.mark.parametrize("options", [{}, {"weight": W, "reduction": "none"},
                                     {"ignore_index": 0, "reduction": "sum"}])
def test_nll_loss_gradcheck(options):
    y = np.array([1, 0, 2, 0])
    assert gradcheck(lambda x: nll_loss(x, y, **options), RNG.standard_normal((4, 3)))
    assert gradgradcheck(lambda x: nll_loss(x, y, **options), RNG.standard_normal((4, 3)))


# ---------------------------------------------------------------- binary cross-entropy
def test_binary_cross_entropies_match_pytorch_numbers():
    # torch.nn.functional.binary_cross_entropy(_with_logits) (float64)
    assert_close(binary_cross_entropy_with_logits(X, TB), 0.6862231423708295)
    assert_close(binary_cross_entropy_with_logits(X, TB, weight=W, pos_weight=PW),
                 0.973139755518866)
    assert_close(binary_cross_entropy_with_logits(X, TB, pos_weight=PW, reduction="none"),
                 [[0.4028265559655048, 0.4740769841801067, 2.1485873515737417],
                  [0.1269280110429727, 0.34657359027997264, 0.4731860488854579]])
    p = 1 / (1 + np.exp(-X))
    assert_close(binary_cross_entropy(p, TB), 0.6862231423708298)
    assert_close(binary_cross_entropy(p, TB, weight=W, reduction="sum"), 6.431279074681769)
    edge = binary_cross_entropy([0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.5], reduction="none")
    assert_close(edge, [100.0, 100.0, 0.0, 50.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, "row", "full"])
@pytest.mark.parametrize("pos_weight", [None, PW])
def test_bce_with_logits_against_reference(reduction, weight, pos_weight):
    x = RNG.standard_normal((4, 3)) * 3
    t = RNG.uniform(size=(4, 3))
    w = {None: None, "row": RNG.uniform(size=3), "full": RNG.uniform(size=(4, 3))}[weight]
    out = binary_cross_entropy_with_logits(x, t, w, reduction=reduction, pos_weight=pos_weight)
    assert_close(out, ref_bce_logits(x, t, w, reduction, pos_weight))


def test_bce_with_logits_of_1e4_is_exact_and_its_gradient_is_sigmoid_minus_target():
    x = np.array([1e4, -1e4, 1e4, -1e4, 0.0])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    xt = cr.tensor(x, requires_grad=True)
    loss = binary_cross_entropy_with_logits(xt, t, reduction="none")
    assert loss.tolist() == [1e4, 1e4, 0.0, 0.0, math.log(2.0)]
    pos = binary_cross_entropy_with_logits(x, t, pos_weight=np.full(5, 3.0), reduction="none")
    assert pos.tolist() == [1e4, 3e4, 0.0, 0.0, 2 * math.log(2.0)]
    loss.sum().backward()
    assert xt.grad.tolist() == [1.0, -1.0, 0.0, 0.0, 0.0]
    q = RNG.standard_normal(6)
    y = RNG.uniform(size=6)
    xt = cr.tensor(q, requires_grad=True)
    binary_cross_entropy_with_logits(xt, y).backward()
    np.testing.assert_allclose(xt.grad.numpy(), (1 / (1 + np.exp(-q)) - y) / 6, atol=1e-15)


@pytest.mark.parametrize("options", [{}, {"pos_weight": PW}, {"weight": W, "pos_weight": PW},
                                     {"reduction": "none", "weight": W}])
def test_bce_with_logits_gradcheck_input_and_target(options):
    f = lambda x, t: binary_cross_entropy_with_logits(x, t, **options)
    assert gradcheck(f, RNG.standard_normal((2, 3)), RNG.uniform(size=(2, 3)))
    assert gradgradcheck(f, RNG.standard_normal((2, 3)), RNG.uniform(size=(2, 3)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy_against_reference(reduction, weighted):
    p = RNG.uniform(0.01, 0.99, (4, 3))
    t = RNG.uniform(size=(4, 3))
    w = RNG.uniform(size=(4, 1)) if weighted else None
    assert_close(binary_cross_entropy(p, t, w, reduction=reduction), ref_bce(p, t, w, reduction))


def test_binary_cross_entropy_clamps_like_pytorch():
    p = cr.tensor(np.array([0.0, 1.0, 0.0, 1.0, 0.5]), requires_grad=True)
    t = [0.0, 0.0, 1.0, 1.0, 0.3]
    loss = binary_cross_entropy(p, t, reduction="none")
    assert_close(loss, ref_bce(p.numpy(), np.array(t), reduction="none"))
    loss.sum().backward()
    # (p - t) / max(p (1 - p), 1e-12), as PyTorch's backward: finite at 0 and 1.
    np.testing.assert_allclose(p.grad.numpy(), [0.0, 1e12, -1e12, 0.0, 0.8], rtol=1e-12)


@pytest.mark.parametrize("options", [{}, {"weight": W}, {"reduction": "none"}])
def test_binary_cross_entropy_gradcheck_input_and_target(options):
    f = lambda p, t: binary_cross_entropy(p, t, **options)
    p = RNG.uniform(0.1, 0.9, (2, 3))
    assert gradcheck(f, p, RNG.uniform(size=(2, 3)))
    assert gradgradcheck(f, p, RNG.uniform(size=(2, 3)))


# ------------------------------------------------------------------- regression losses
def test_regression_losses_match_pytorch_numbers():
    # torch.nn.functional.mse_loss / l1_loss / huber_loss(delta=0.8) (float64)
    assert_close(mse_loss(X, TB), 2.1383333333333336)
    assert_close(l1_loss(X, TB), 1.1500000000000001)
    assert_close(huber_loss(X, TB, delta=0.8), 0.6450000000000001)
    assert_close(huber_loss(X, TB, reduction="none", delta=0.8),
                 [[0.125, 0.125, 1.8400000000000003], [1.2800000000000002, 0.48, 0.02]])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_against_reference(reduction):
    x, t = RNG.standard_normal((3, 4)) * 2, RNG.standard_normal((3, 4))
    d = x - t
    assert_close(mse_loss(x, t, reduction=reduction), reduce(d * d, reduction, d.size))
    assert_close(l1_loss(x, t, reduction=reduction), reduce(np.abs(d), reduction, d.size))
    for delta in (0.5, 1.0, 3.0):
        assert_close(huber_loss(x, t, reduction, delta), ref_huber(x, t, reduction, delta))


@pytest.mark.parametrize("loss", [mse_loss, l1_loss, huber_loss])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_gradcheck(loss, reduction):
    x = np.array([[0.3, -2.0, 1.7], [0.1, 0.9, -0.6]])
    t = np.array([[0.0, 0.5, -0.4], [1.2, 0.2, -0.1]])  # |x - t| away from 0 and 1
    assert gradcheck(lambda a, b: loss(a, b, reduction=reduction), x, t)
    assert gradgradcheck(lambda a, b: loss(a, b, reduction=reduction), x, t)


# ---------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("call", [
    lambda x: cross_entropy(x, [0, 2, 1], weight=[1.0, 2.0, 3.0], label_smoothing=0.1),
    lambda x: cross_entropy(x, np.full((3, 3), 1 / 3)),
    lambda x: cross_entropy(x, [0, -100, 1], reduction="none"),
    lambda x: nll_loss(x, [0, 2, 1], weight=np.array([1.0, 2.0, 3.0])),
    lambda x: binary_cross_entropy_with_logits(x, np.ones((3, 3)), pos_weight=np.ones(3)),
    lambda x: binary_cross_entropy(cr.sigmoid(x), np.ones((3, 3)), weight=np.ones(3)),
    lambda x: mse_loss(x, np.zeros((3, 3))),
    lambda x: l1_loss(x, np.zeros((3, 3), np.int64)),
    lambda x: huber_loss(x, np.zeros((3, 3)), reduction="none"),
])  # fmt: skip
def test_float32_stays_float32(call):
    x = cr.tensor(RNG.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    out = call(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.numpy()).all()


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, error, message", [
    (lambda: cross_entropy(Q, [0, 1]), ValueError,
     "cross_entropy: target of shape (2,) does not match input of shape (4, 3); expected class "
     "indices of shape (4,) or class probabilities of shape (4, 3)"),
    (lambda: cross_entropy(Q, np.array([0.0, 1.0, 2.0, 1.0])), TypeError,
     "cross_entropy: target of shape (4,) has dtype float64; class indices must be integers"),
    (lambda: cross_entropy(Q, np.ones((4, 3), np.int64)), TypeError,
     "cross_entropy: target of the input's shape (4, 3) is read as class probabilities and "
     "must be floating point, got dtype int64"),
    (lambda: cross_entropy(Q, [0, 1, 3, 0]), ValueError,
     "cross_entropy: target 3 is out of range for an input with 3 classes; expected "
     "0 <= target < 3 (or target == ignore_index, -100)"),
    (lambda: cross_entropy(Q, [0, -1, 2, 0]), ValueError, "target -1 is out of range"),
    (lambda: cross_entropy(Q, [0, -100, 2, 0], ignore_index=1), ValueError,
     "target -100 is out of range"),
    (lambda: cross_entropy(Q, Y, reduction="avg"), ValueError,
     "cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    (lambda: cross_entropy(Q, Y, weight=[1.0, 2.0]), ValueError,
     "cross_entropy: weight of shape (2,) does not match the 3 classes of the input; "
     "expected shape (3,)"),
    (lambda: cross_entropy(Q, Y, label_smoothing=1.5), ValueError,
     "cross_entropy: label_smoothing must be between 0.0 and 1.0, got 1.5"),
    (lambda: cross_entropy(Q, T, ignore_index=1), ValueError,
     "cross_entropy: ignore_index=1 is not supported with class-probability targets"),
    (lambda: cross_entropy(np.zeros((2, 0)), [0, 0]), ValueError,
     "cross_entropy: input of shape (2, 0) has no class axis"),
    (lambda: cross_entropy(np.zeros((2, 3), np.int64), [0, 0]), TypeError,
     "cross_entropy: input of shape (2, 3) must be floating point, got dtype int64"),
    (lambda: nll_loss(Q, np.zeros(4)), TypeError,
     "nll_loss: target of shape (4,) has dtype float64; class indices must be integers"),
    (lambda: nll_loss(Q, [[0, 1]]), ValueError,
     "nll_loss: target of shape (1, 2) does not match input of shape (4, 3)"),
    (lambda: nll_loss(Q, [0, 1, 2, 7]), ValueError, "nll_loss: target 7 is out of range"),
    (lambda: binary_cross_entropy_with_logits(X, TB[:, :2]), ValueError,
     "binary_cross_entropy_with_logits: target of shape (2, 2) does not match input of shape "
     "(2, 3); expected the same shape"),
    (lambda: binary_cross_entropy_with_logits(X, TB, pos_weight=np.ones(2)), ValueError,
     "binary_cross_entropy_with_logits: pos_weight of shape (2,) does not broadcast to the "
     "input's shape (2, 3)"),
    (lambda: binary_cross_entropy_with_logits(X, TB, weight=np.ones((3, 3))), ValueError,
     "weight of shape (3, 3) does not broadcast"),
    (lambda: binary_cross_entropy_with_logits(X, TB, reduction="max"), ValueError,
     "binary_cross_entropy_with_logits: reduction must be"),
    (lambda: binary_cross_entropy(X, TB), ValueError,
     "binary_cross_entropy: all elements of input should be between 0 and 1"),
    (lambda: binary_cross_entropy(TB, X), ValueError,
     "binary_cross_entropy: all elements of target should be between 0 and 1"),
    (lambda: binary_cross_entropy([np.nan, 0.5], [0.0, 1.0]), ValueError, "input should be"),
    (lambda: mse_loss(X, X[:1]), ValueError,
     "mse_loss: target of shape (1, 3) does not match input of shape (2, 3)"),
    (lambda: l1_loss(X, X, reduction=None), ValueError, "l1_loss: reduction must be"),
    (lambda: huber_loss(X, X, delta=0.0), ValueError, "huber_loss: delta must be positive"),
    (lambda: CrossEntropyLoss(reduction="avg"), ValueError, "CrossEntropyLoss: reduction must"),
    (lambda: CrossEntropyLoss(label_smoothing=-0.1), ValueError, "label_smoothing must be"),
    (lambda: MSELoss(reduction="mean "), ValueError, "MSELoss: reduction must be"),
    (lambda: HuberLoss(delta=-1.0), ValueError, "HuberLoss: delta must be positive"),
])  # fmt: skip
def test_bad_input_gives_a_clear_error(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_errors_are_raised_before_anything_is_recorded():
    x = cr.tensor(Q, requires_grad=True)
    with pytest.raises(ValueError):
        cross_entropy(x, [0, 1, 5, 0])
    assert x.grad is None and x.is_leaf


# --------------------------------------------------------------------------- Modules
@pytest.mark.parametrize("module, function, args", [
    (CrossEntropyLoss(weight=W, label_smoothing=0.2, reduction="sum"),
     lambda q, y: cross_entropy(q, y, W, reduction="sum", label_smoothing=0.2), (Q, Y)),
    (CrossEntropyLoss(ignore_index=0), lambda q, y: cross_entropy(q, y, ignore_index=0),
     (Q, np.array([1, 0, 2, 2]))),
    (NLLLoss(weight=W, reduction="none"), lambda q, y: nll_loss(q, y, W, reduction="none"),
     (Q, Y)),
    (BCEWithLogitsLoss(weight=W, pos_weight=PW),
     lambda x, t: binary_cross_entropy_with_logits(x, t, W, pos_weight=PW), (X, TB)),
    (BCELoss(weight=W), lambda p, t: binary_cross_entropy(p, t, W), (TB * 0.5 + 0.2, TB)),
    (MSELoss(), mse_loss, (X, TB)),
    (L1Loss(reduction="sum"), lambda x, t: l1_loss(x, t, reduction="sum"), (X, TB)),
    (HuberLoss(delta=0.5), lambda x, t: huber_loss(x, t, delta=0.5), (X, TB)),
])  # fmt: skip
def test_modules_call_their_functional_form(module, function, args):
    assert isinstance(module, cr.nn.Module)
    np.testing.assert_array_equal(module(*args).numpy(), function(*args).numpy())
    assert list(module.parameters()) == []


def test_module_weights_are_buffers_in_the_state_dict():
    loss_fn = BCEWithLogitsLoss(weight=W, pos_weight=PW)
    state = loss_fn.state_dict()
    assert list(state) == ["weight", "pos_weight"]
    np.testing.assert_array_equal(state["pos_weight"], PW)
    assert list(CrossEntropyLoss().state_dict()) == []
    assert list(CrossEntropyLoss(weight=W).state_dict()) == ["weight"]
    assert repr(CrossEntropyLoss()) == "CrossEntropyLoss()"
    assert repr(CrossEntropyLoss(reduction="sum", label_smoothing=0.1)) == (
        "CrossEntropyLoss(reduction='sum', label_smoothing=0.1)"
    )
    assert repr(HuberLoss(delta=2.0)) == "HuberLoss(delta=2.0)"


def test_module_losses_train_a_tiny_classifier():
    # One gradient step on a linear model lowers the loss: the pieces fit together.
    x = RNG.standard_normal((20, 2))
    y = (x[:, 0] > 0).astype(np.int64)
    w = cr.tensor(np.zeros((2, 2)), requires_grad=True)
    loss_fn = CrossEntropyLoss()
    before = loss_fn(cr.tensor(x) @ w, y)
    before.backward()
    w2 = cr.tensor(w.numpy() - 1.0 * w.grad.numpy())
    assert loss_fn(cr.tensor(x) @ w2, y).item() < before.item() == pytest.approx(math.log(2))


def test_options_after_weight_are_keyword_only():
    # PyTorch's positional slots there are the deprecated size_average/reduce: fail loudly.
    with pytest.raises(TypeError):
        cross_entropy(Q, Y, None, None, -100)  # type: ignore[misc]
    with pytest.raises(TypeError):
        mse_loss(X, TB, None, None, "sum")  # type: ignore[misc]
    with pytest.raises(TypeError):
        MSELoss(None, None, "sum")  # type: ignore[call-arg]
