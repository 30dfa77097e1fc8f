"""Activations and similarities: values against NumPy/SciPy references written here (PyTorch's
documented formulas), float64 gradcheck and gradgradcheck, dtypes, Modules and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, log_expit

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _away_from(x: np.ndarray, kinks: tuple[float, ...], gap: float = 0.05) -> np.ndarray:
    """``x`` with values near a kink pushed ``gap`` away (finite differences across a kink
    disagree with any one-sided derivative)."""
    x = x.copy()
    for k in kinks:
        near = np.abs(x - k) < gap
        x[near] = k + np.where(x[near] >= k, gap, -gap)
    return x


def _softplus(x):
    return np.logaddexp(0.0, x)


# name -> (chainrule function, NumPy reference, kinks, input scale)
ELEMENTWISE = {
    "silu": (F.silu, lambda x: x * expit(x), (), 3.0),
    "swish": (F.swish, lambda x: x * expit(x), (), 3.0),
    "mish": (F.mish, lambda x: x * np.tanh(_softplus(x)), (), 3.0),
    "elu": (F.elu, lambda x: np.where(x > 0, x, np.expm1(x)), (0.0,), 3.0),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.7),
                  lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)), (0.0,), 3.0),
    "selu": (F.selu, lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x)),
             (0.0,), 3.0),
    "celu": (lambda x: F.celu(x, alpha=1.5),
             lambda x: np.maximum(x, 0) + np.minimum(0, 1.5 * np.expm1(x / 1.5)), (0.0,), 3.0),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5),
                 (-0.5, 1.5), 2.0),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6), (0.0, 6.0), 5.0),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, (-3.0, 3.0), 4.0),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6, (-3.0, 3.0), 4.0),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x)), (0.0,), 3.0),
    "logsigmoid": (F.logsigmoid, log_expit, (), 5.0),
    "softplus": (F.softplus, _softplus, (), 5.0),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=4.0),
                      lambda x: np.where(2 * x > 4, x, _softplus(2 * x) / 2), (2.0,), 4.0),
}  # fmt: skip


def _input(name: str, shape=(3, 4), seed=0) -> np.ndarray:
    _, _, kinks, scale = ELEMENTWISE[name]
    x = np.random.default_rng(seed).standard_normal(shape) * scale
    return _away_from(x, kinks)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_value(name):
    f, ref, _, _ = ELEMENTWISE[name]
    x = _input(name, (5, 7))
    np.testing.assert_allclose(f(cr.tensor(x)).numpy(), ref(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_gradcheck(name):
    assert gradcheck(ELEMENTWISE[name][0], _input(name, seed=1))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_gradgradcheck(name):
    assert gradgradcheck(ELEMENTWISE[name][0], _input(name, seed=2))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_float32_stays_float32(name):
    x = cr.tensor(_input(name, seed=3).astype(np.float32), requires_grad=True)
    y = ELEMENTWISE[name][0](x)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_derivatives_at_the_kinks_are_pytorchs():
    # PyTorch: hardtanh/relu6/hardsigmoid pass the gradient strictly inside; hardswish is
    # x/3 + 1/2 on [-3, 3]; elu takes alpha exp(x) at 0.
    def grad(f, values):
        x = cr.tensor(values, dtype=np.float64, requires_grad=True)
        f(x).sum().backward()
        return x.grad.tolist()

    assert grad(F.relu6, [0.0, 6.0, 3.0]) == [0.0, 0.0, 1.0]
    assert grad(F.hardtanh, [-1.0, 1.0, 0.0]) == [0.0, 0.0, 1.0]
    assert grad(F.hardsigmoid, [-3.0, 3.0, 0.0]) == [0.0, 0.0, 1 / 6]
    assert grad(F.hardswish, [-3.0, 3.0, -4.0, 4.0]) == [-0.5, 1.5, 0.0, 1.0]
    assert grad(F.elu, [0.0]) == [1.0]


def test_extreme_inputs_stay_finite():
    x = cr.tensor([-1000.0, 1000.0], dtype=np.float64, requires_grad=True)
    for f in (F.silu, F.mish, F.elu, F.selu, F.celu, F.softplus, F.logsigmoid, F.softsign):
        y = f(x)
        y.sum().backward()
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all(), f.__name__
        x.grad = None


# ------------------------------------------------------------------------ softmin, glu
def test_softmin():
    x = RNG.standard_normal((3, 4))
    e = np.exp(-x - (-x).max(axis=1, keepdims=True))
    np.testing.assert_allclose(F.softmin(cr.tensor(x), dim=1).numpy(),
                               e / e.sum(axis=1, keepdims=True), rtol=1e-12)  # fmt: skip
    assert gradcheck(lambda t: F.softmin(t, dim=0), x)
    assert gradgradcheck(lambda t: F.softmin(t, dim=-1), x)
    with pytest.warns(UserWarning, match="implicit dimension"):
        y = F.softmin(cr.tensor(x))
    np.testing.assert_allclose(y.numpy(), F.softmin(cr.tensor(x), dim=1).numpy())
    np.testing.assert_allclose(nn.Softmin(dim=1)(cr.tensor(x)).numpy(), y.numpy())


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_glu(dim):
    x = RNG.standard_normal((4, 6, 2))
    a, b = np.split(x, 2, axis=dim)
    np.testing.assert_allclose(F.glu(cr.tensor(x), dim).numpy(), a * expit(b), rtol=1e-12)
    assert gradcheck(lambda t: F.glu(t, dim), x)
    assert gradgradcheck(lambda t: F.glu(t, dim), x)
    assert nn.GLU(dim)(cr.tensor(x)).shape == a.shape


def test_glu_errors():
    with pytest.raises(ValueError, match="glu: halving dimension must be even.*size 3"):
        F.glu(cr.zeros(2, 3))
    with pytest.raises(IndexError, match="glu: dim 2 is out of range"):
        F.glu(cr.zeros(2, 4), dim=2)


# ------------------------------------------------------------------------------ prelu
@pytest.mark.parametrize("shape,wshape", [((5,), (1,)), ((3, 4), (1,)), ((3, 4), (4,)),
                                          ((2, 3, 4, 2), (3,))])  # fmt: skip
def test_prelu(shape, wshape):
    x = _away_from(RNG.standard_normal(shape), (0.0,))
    w = RNG.uniform(0.1, 0.5, wshape)
    wb = w if w.size == 1 or len(shape) == 2 else w.reshape((-1,) + (1,) * (len(shape) - 2))
    ref = np.where(x > 0, x, wb * x)
    np.testing.assert_allclose(F.prelu(cr.tensor(x), cr.tensor(w)).numpy(), ref, rtol=1e-12)
    assert gradcheck(F.prelu, x, w)
    assert gradgradcheck(F.prelu, x, w)


def test_prelu_module_learns_its_slope():
    act = nn.PReLU(3, init=0.1, dtype=np.float64)
    assert [name for name, _ in act.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(act.weight.numpy(), [0.1, 0.1, 0.1])
    x = cr.tensor([[-1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], dtype=np.float64)
    act(x).sum().backward()
    np.testing.assert_allclose(act.weight.grad.numpy(), [-5.0, -2.0, -6.0])
    assert repr(act) == "PReLU(num_parameters=3)"


def test_prelu_errors():
    with pytest.raises(ValueError, match=r"prelu: weight of shape \(3,\) does not fit an input "
                                         r"of shape \(2, 4\)"):  # fmt: skip
        F.prelu(cr.zeros(2, 4), cr.zeros(3))


# ---------------------------------------------------------------------------- softplus
def test_softplus_threshold_returns_x():
    x = cr.tensor([10.0, 25.0], dtype=np.float64)
    np.testing.assert_array_equal(F.softplus(x, threshold=20.0).numpy()[1], 25.0)
    np.testing.assert_allclose(F.softplus(x).numpy()[0], _softplus(10.0), rtol=1e-14)
    with pytest.raises(ValueError, match="softplus: beta must not be 0"):
        F.softplus(x, beta=0)


# ------------------------------------------------------------------------ similarities
@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p, dim):
    x = RNG.standard_normal((3, 4))
    n = (np.abs(x) ** p).sum(axis=dim, keepdims=True) ** (1 / p)
    np.testing.assert_allclose(F.normalize(cr.tensor(x), p=p, dim=dim).numpy(), x / n,
                               rtol=1e-12)  # fmt: skip
    assert gradcheck(lambda t: F.normalize(t, p=p, dim=dim), x)
    assert gradgradcheck(lambda t: F.normalize(t, p=p, dim=dim), x)


def test_normalize_zero_vector_stays_zero():
    x = cr.zeros(2, 3, dtype=np.float64, requires_grad=True)
    y = F.normalize(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), 0.0)
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("s1,s2,dim", [((4, 5), (4, 5), 1), ((4, 5), (1, 5), 1),
                                       ((3, 4, 2), (3, 4, 2), 0), ((5,), (5,), 0)])  # fmt: skip
def test_cosine_similarity(s1, s2, dim):
    a, b = RNG.standard_normal(s1), RNG.standard_normal(s2)
    ab, bb = np.broadcast_arrays(a, b)
    ref = (ab * bb).sum(dim) / (np.linalg.norm(ab, axis=dim) * np.linalg.norm(bb, axis=dim))
    out = F.cosine_similarity(cr.tensor(a), cr.tensor(b), dim=dim)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda u, v: F.cosine_similarity(u, v, dim=dim), a, b)
    assert gradgradcheck(lambda u, v: F.cosine_similarity(u, v, dim=dim), a, b)
    np.testing.assert_allclose(nn.CosineSimilarity(dim)(a, b).numpy(), ref, rtol=1e-12)


def test_cosine_similarity_clamps_small_norms_with_eps():
    a = np.array([[1e-10, 0.0]])
    b = np.array([[1.0, 0.0]])
    # max(||a||, eps) = 1e-8: the value is 1e-10 / 1e-8.
    np.testing.assert_allclose(F.cosine_similarity(a, b).numpy(), [1e-2], rtol=1e-12)
    with pytest.raises(ValueError, match=r"cosine_similarity: inputs of shapes \(2, 3\) and "
                                         r"\(2, 4\)"):  # fmt: skip
        F.cosine_similarity(cr.zeros(2, 3), cr.zeros(2, 4))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(p, keepdim):
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    ref = (np.abs(a - b + 1e-6) ** p).sum(-1, keepdims=keepdim) ** (1 / p)
    out = F.pairwise_distance(cr.tensor(a), cr.tensor(b), p=p, keepdim=keepdim)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda u, v: F.pairwise_distance(u, v, p=p, keepdim=keepdim), a, b)
    assert gradgradcheck(lambda u, v: F.pairwise_distance(u, v, p=p), a, b)
    mod = nn.PairwiseDistance(p=p, keepdim=keepdim)
    np.testing.assert_allclose(mod(a, b).numpy(), ref, rtol=1e-12)


# ----------------------------------------------------------------------------- Modules
MODULES = [
    (nn.SiLU(), F.silu), (nn.Mish(), F.mish), (nn.ELU(alpha=0.5), lambda x: F.elu(x, 0.5)),
    (nn.SELU(), F.selu), (nn.CELU(alpha=2.0), lambda x: F.celu(x, 2.0)),
    (nn.Hardtanh(-2.0, 2.0), lambda x: F.hardtanh(x, -2.0, 2.0)), (nn.ReLU6(), F.relu6),
    (nn.Hardsigmoid(), F.hardsigmoid), (nn.Hardswish(), F.hardswish),
    (nn.Softsign(), F.softsign), (nn.LogSigmoid(), F.logsigmoid),
    (nn.Softplus(beta=2.0, threshold=5.0), lambda x: F.softplus(x, 2.0, 5.0)),
]  # fmt: skip


@pytest.mark.parametrize("module,function", MODULES, ids=lambda m: type(m).__name__)
def test_module_matches_functional(module, function):
    x = RNG.standard_normal((3, 4)) * 4
    np.testing.assert_array_equal(module(cr.tensor(x)).numpy(), function(cr.tensor(x)).numpy())
    assert list(module.parameters()) == []


def test_module_reprs():
    assert repr(nn.ELU(alpha=0.5)) == "ELU(alpha=0.5)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.SiLU(inplace=True)) == "SiLU(inplace=True)"
    assert repr(nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"


def test_primitives_have_formulas():
    table = cr.ops.primitive_table
    for name in ("silu", "mish", "elu", "selu", "celu", "hardtanh", "hardsigmoid",
                 "hardswish", "softsign", "prelu"):  # fmt: skip
        assert table[name].formula
    x = cr.tensor([1.0], requires_grad=True)
    assert F.silu(x).grad_fn.name == "silu"
    assert F.relu6(x).grad_fn.name == "hardtanh"


def test_errors_name_the_operation():
    with pytest.raises(ValueError, match="celu: alpha must not be 0"):
        F.celu(cr.zeros(2), alpha=0.0)
    with pytest.raises(ValueError, match=r"hardtanh: min_val \(2.0\) must not exceed"):
        F.hardtanh(cr.zeros(2), 2.0, 1.0)
    assert math.isclose(F.selu(cr.tensor(1.0, dtype=np.float64)).item(), SELU_SCALE)


# ------------------------------------------------------------------------ properties
_arrays = st.integers(1, 4).flatmap(
    lambda n: st.lists(st.floats(-20, 20, allow_nan=False), min_size=n * 3, max_size=n * 3).map(
        lambda v: np.array(v).reshape(-1, 3)
    )
)


@settings(max_examples=40, deadline=None)
@given(_arrays)
def test_identities_between_activations(x):
    t = cr.tensor(x)
    np.testing.assert_allclose(F.hardswish(t).numpy(), x * F.hardsigmoid(t).numpy(), atol=1e-12)
    np.testing.assert_allclose(F.silu(t).numpy(), x * expit(x), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(F.relu6(t).numpy(), F.hardtanh(t, 0.0, 6.0).numpy())
    np.testing.assert_allclose(F.celu(t, 1.0).numpy(), F.elu(t).numpy(), rtol=1e-12)
    sm = F.softmin(t, dim=1).numpy()
    np.testing.assert_allclose(sm.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(sm, F.softmax(-t, dim=1).numpy(), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(_arrays)
def test_normalize_gives_unit_rows_and_cosine_is_their_dot(x):
    t = cr.tensor(x)
    n = F.normalize(t).numpy()
    norms = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1)[norms > 1e-6], 1.0, rtol=1e-12)
    y = x[::-1].copy()
    cos = F.cosine_similarity(t, cr.tensor(y)).numpy()
    big = (norms > 1e-6) & (np.linalg.norm(y, axis=1) > 1e-6)
    np.testing.assert_allclose(cos[big], (n * F.normalize(cr.tensor(y)).numpy()).sum(1)[big],
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    assert np.all(np.abs(cos) <= 1 + 1e-12)
