"""kl_div, cosine_embedding, margin_ranking, triplet_margin, poisson_nll, gaussian_nll and
smooth_l1 losses: values against NumPy references written from PyTorch's documented formulas,
every reduction, float64 gradcheck and gradgradcheck, Modules and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import xlogy

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(5)
REDUCTIONS = ["mean", "sum", "none"]


def reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        return loss
    return loss.mean() if reduction == "mean" else loss.sum()


def check(f, ref, *inputs, second=True):
    """Value, gradient and (optionally) second-derivative checks of ``f`` at ``inputs``."""
    np.testing.assert_allclose(f(*inputs).numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(f, *inputs)
    if second:
        assert gradgradcheck(f, *inputs)


def probs(shape, seed):
    p = np.random.default_rng(seed).uniform(0.1, 1.0, shape)
    return p / p.sum(axis=-1, keepdims=True)


# ------------------------------------------------------------------------------ kl_div
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
def test_kl_div(reduction):
    q, t = np.log(probs((4, 5), 0)), probs((4, 5), 1)
    t[0, 2] = 0.0  # 0 log 0 = 0, and no gradient trouble
    loss = xlogy(t, t) - t * q
    ref = loss.sum() / 4 if reduction == "batchmean" else reduce(loss, reduction)
    np.testing.assert_allclose(F.kl_div(cr.tensor(q), t, reduction=reduction).numpy(), ref,
                               rtol=1e-12)  # fmt: skip
    assert gradcheck(lambda x: F.kl_div(x, t, reduction=reduction), q)
    assert gradgradcheck(lambda x: F.kl_div(x, t, reduction=reduction), q)


def test_kl_div_target_gradient_and_log_target():
    q, t = np.log(probs((3, 4), 2)), probs((3, 4), 3)
    check(lambda x, y: F.kl_div(x, y, reduction="sum"), (t * (np.log(t) - q)).sum(), q, t)
    lt = np.log(t)
    check(lambda x, y: F.kl_div(x, y, reduction="none", log_target=True),
          np.exp(lt) * (lt - q), q, lt)  # fmt: skip
    mod = nn.KLDivLoss(reduction="batchmean", log_target=True)
    np.testing.assert_allclose(mod(cr.tensor(q), lt).item(), (t * (lt - q)).sum() / 3)


# --------------------------------------------------------------- cosine_embedding_loss
def ref_cosine_embedding(a, b, y, margin):
    eps = 1e-12
    cos = (a * b).sum(-1) / np.sqrt(((a * a).sum(-1) + eps) * ((b * b).sum(-1) + eps))
    return np.where(y == 1, 1 - cos, np.maximum(cos - margin, 0))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss(reduction):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    b[3] = a[3] + 0.1  # a -1 pair with cos > margin: the hinge is active
    y = np.array([-1, -1, 1, -1, 1, 1])
    margin = 0.1
    cos = 1 - ref_cosine_embedding(a, b, np.ones(6), 0)
    assert np.all(np.abs(cos - margin) > 0.02)  # away from the hinge's kink
    assert np.any((cos > margin) & (y == -1)) and np.any((cos < margin) & (y == -1))
    ref = reduce(ref_cosine_embedding(a, b, y, margin), reduction)
    check(lambda u, v: F.cosine_embedding_loss(u, v, y, margin, reduction=reduction), ref, a, b)
    mod = nn.CosineEmbeddingLoss(margin, reduction=reduction)
    np.testing.assert_allclose(mod(a, b, y).numpy(), ref, rtol=1e-12)


def test_cosine_embedding_loss_one_pair_and_errors():
    a, b = RNG.standard_normal(4), RNG.standard_normal(4)
    ref = ref_cosine_embedding(a, b, np.array(1), 0.0)
    np.testing.assert_allclose(F.cosine_embedding_loss(a, b, 1).numpy(), ref, rtol=1e-12)
    with pytest.raises(ValueError, match="cosine_embedding_loss: target must contain only 1 "
                                         "and -1"):  # fmt: skip
        F.cosine_embedding_loss(cr.ones(2, 3), cr.ones(2, 3), [1, 0])
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: target of shape \(3,\)"):
        F.cosine_embedding_loss(cr.ones(2, 3), cr.ones(2, 3), [1, 1, 1])
    with pytest.raises(ValueError, match=r"input1 and input2 have shapes \(2, 3\) and \(2, 4\)"):
        F.cosine_embedding_loss(cr.ones(2, 3), cr.ones(2, 4), [1, 1])


# ----------------------------------------------------------------- margin_ranking_loss
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking_loss(reduction):
    a, b = RNG.standard_normal(8), RNG.standard_normal(8)
    y = np.array([1, -1, 1, 1, -1, -1, 1, -1])
    margin = 0.3
    v = -y * (a - b) + margin
    a = np.where(np.abs(v) < 0.05, a + 0.1, a)  # away from the hinge's kink
    ref = reduce(np.maximum(-y * (a - b) + margin, 0), reduction)
    check(lambda u, w: F.margin_ranking_loss(u, w, y, margin, reduction=reduction), ref, a, b)
    np.testing.assert_allclose(nn.MarginRankingLoss(margin, reduction=reduction)(a, b, y).numpy(),
                               ref, rtol=1e-12)  # fmt: skip


# ----------------------------------------------------------------- triplet_margin_loss
def ref_triplet(a, p, n, margin, pn, eps, swap):
    def d(x, y):
        return (np.abs(x - y + eps) ** pn).sum(-1) ** (1 / pn)

    dan = d(a, n)
    if swap:
        dan = np.minimum(dan, d(p, n))
    return np.maximum(margin + d(a, p) - dan, 0)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("pn", [2.0, 1.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_loss(swap, pn, reduction):
    rng = np.random.default_rng(7)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    ref = reduce(ref_triplet(a, p, n, 1.0, pn, 1e-6, swap), reduction)

    def f(x, y, z):
        return F.triplet_margin_loss(x, y, z, p=pn, swap=swap, reduction=reduction)

    check(f, ref, a, p, n)
    mod = nn.TripletMarginLoss(p=pn, swap=swap, reduction=reduction)
    np.testing.assert_allclose(mod(a, p, n).numpy(), ref, rtol=1e-12)


def test_triplet_margin_loss_errors():
    with pytest.raises(ValueError, match=r"triplet_margin_loss: anchor and negative have shapes"):
        F.triplet_margin_loss(cr.ones(2, 3), cr.ones(2, 3), cr.ones(3, 3))


# -------------------------------------------------------------------- poisson_nll_loss
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_loss(log_input, full, reduction):
    t = np.array([[0.0, 1.5, 2.0], [3.0, 0.5, 7.0]])  # none at the Stirling seam, 1
    x = RNG.uniform(-1, 1, t.shape) if log_input else RNG.uniform(0.2, 3, t.shape)
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + 1e-8)
    if full:
        ts = np.maximum(t, 1)
        stirling = ts * np.log(ts) - ts + 0.5 * np.log(2 * np.pi * ts)
        loss = loss + np.where(t > 1, stirling, 0)
    ref = reduce(loss, reduction)

    def f(u, w):
        return F.poisson_nll_loss(u, w, log_input, full, reduction=reduction)

    check(f, ref, x, t + 0.0)
    mod = nn.PoissonNLLLoss(log_input, full, reduction=reduction)
    np.testing.assert_allclose(mod(x, t).numpy(), ref, rtol=1e-12)


def test_poisson_full_matches_log_factorial():
    # Stirling's term approximates log(t!) for large t.
    t = np.array([30.0])
    full = F.poisson_nll_loss(cr.tensor([0.0], dtype=np.float64), t, full=True).item()
    assert abs(full - (1.0 + math.lgamma(31.0))) < 1e-2


# ------------------------------------------------------------------- gaussian_nll_loss
@pytest.mark.parametrize("vshape", [(4, 3), (4,), (4, 1)])
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_loss(vshape, full, reduction):
    x, t = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    var = RNG.uniform(0.5, 2.0, vshape)
    vb = var[:, None] if vshape == (4,) else var
    loss = 0.5 * (np.log(vb) + (x - t) ** 2 / vb) + (0.5 * np.log(2 * np.pi) if full else 0)
    ref = reduce(loss, reduction)
    check(lambda u, w, v: F.gaussian_nll_loss(u, w, v, full, reduction=reduction), ref, x, t, var)
    mod = nn.GaussianNLLLoss(full=full, reduction=reduction)
    np.testing.assert_allclose(mod(x, t, var).numpy(), ref, rtol=1e-12)


def test_gaussian_nll_loss_clamps_var_without_cutting_the_gradient():
    v = cr.tensor([0.0, 1.0], dtype=np.float64, requires_grad=True)
    x = cr.tensor([1.0, 1.0], dtype=np.float64)
    loss = F.gaussian_nll_loss(x, [0.0, 0.0], v, eps=1e-2, reduction="sum")
    np.testing.assert_allclose(loss.item(), 0.5 * (np.log(1e-2) + 1 / 1e-2) + 0.5)
    loss.backward()
    # d/dv of 0.5 (log v + d^2 / v) at the clamped value 1e-2, passed through to v = 0.
    np.testing.assert_allclose(v.grad.numpy(), [0.5 * (1 / 1e-2 - 1 / 1e-4), 0.0])


def test_gaussian_nll_loss_errors():
    with pytest.raises(ValueError, match=r"gaussian_nll_loss: var of shape \(3,\) does not fit"):
        F.gaussian_nll_loss(cr.ones(4, 2), cr.ones(4, 2), np.ones(3))
    with pytest.raises(ValueError, match="gaussian_nll_loss: var has negative entries"):
        F.gaussian_nll_loss(cr.ones(2), cr.ones(2), [-1.0, 1.0])


# ---------------------------------------------------------------------- smooth_l1_loss
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1_loss(beta, reduction):
    x, t = RNG.standard_normal((3, 5)) * 2, RNG.standard_normal((3, 5))
    d = x - t
    d = np.where(np.abs(np.abs(d) - beta) < 0.05, d + 0.1, d)  # away from the seam
    x = t + d
    ad = np.abs(d)
    loss = ad if beta == 0 else np.where(ad < beta, 0.5 * d * d / beta, ad - 0.5 * beta)
    ref = reduce(loss, reduction)
    check(lambda u, w: F.smooth_l1_loss(u, w, reduction=reduction, beta=beta), ref, x, t,
          second=beta > 0)  # fmt: skip
    mod = nn.SmoothL1Loss(reduction=reduction, beta=beta)
    np.testing.assert_allclose(mod(x, t).numpy(), ref, rtol=1e-12)


def test_smooth_l1_equals_huber_over_beta():
    x = RNG.standard_normal(10) * 3
    np.testing.assert_allclose(F.smooth_l1_loss(x, np.zeros(10), beta=2.0).item(),
                               F.huber_loss(x, np.zeros(10), delta=2.0).item() / 2.0)  # fmt: skip
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(cr.ones(2), [0.0, 0.0], beta=-1.0)


# ------------------------------------------------------------------------------ common
@pytest.mark.parametrize("f", [
    lambda x: F.kl_div(x, np.full(x.shape, 0.5, np.float32)),
    lambda x: F.poisson_nll_loss(x, np.ones(x.shape, np.float32)),
    lambda x: F.gaussian_nll_loss(x, np.zeros(x.shape), np.ones(x.shape)),
    lambda x: F.smooth_l1_loss(x, np.zeros(x.shape)),
    lambda x: F.margin_ranking_loss(x, x * 0.5, np.ones(x.shape)),
    lambda x: F.cosine_embedding_loss(x, x + 1, np.ones(x.shape[0])),
    lambda x: F.triplet_margin_loss(x, x + 1, x - 1),
])  # fmt: skip
def test_float32_stays_float32(f):
    x = cr.tensor(RNG.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    loss = f(x)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


def test_bad_reduction_names_the_loss():
    with pytest.raises(ValueError, match="kl_div: reduction must be"):
        F.kl_div(cr.ones(2), [0.5, 0.5], reduction="avg")
    with pytest.raises(ValueError, match="smooth_l1_loss: reduction must be"):
        F.smooth_l1_loss(cr.ones(2), [0.5, 0.5], reduction="batchmean")


def test_losses_on_device_equal_cpu(monkeypatch):
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    a, b, c = (RNG.standard_normal((4, 3)) for _ in range(3))
    y = np.array([1, -1, 1, -1])
    t = probs((4, 3), 9)
    results = []
    for move in (lambda v: v, cupy.asarray):
        x1 = cr.tensor(move(a), requires_grad=True)
        x2 = cr.tensor(move(b), requires_grad=True)
        terms = [
            F.kl_div(x1, t), F.cosine_embedding_loss(x1, x2, y, 0.1),
            F.margin_ranking_loss(x1, x2, np.ones((4, 3))), F.triplet_margin_loss(x1, x2, move(c)),
            F.poisson_nll_loss(x1, t, full=True), F.gaussian_nll_loss(x1, b, t),
            F.smooth_l1_loss(x1, b), F.cosine_similarity(x1, x2).sum(), F.normalize(x1).sum(),
            F.prelu(x1, move(np.array([0.1, 0.2, 0.3]))).sum(),
        ]  # fmt: skip
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        total.backward()
        results.append([cupy.asnumpy(v._data) for v in (total, x1.grad, x2.grad)])
    for u, v in zip(*results):
        np.testing.assert_allclose(u, v, rtol=1e-12)
