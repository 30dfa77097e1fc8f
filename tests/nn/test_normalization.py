"""LayerNorm, BatchNorm1d, BatchNorm2d and their functional forms: values against NumPy,
gradients (first and second) against finite differences, running statistics by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(5)


def np_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def np_batch_norm(x, w=None, b=None, eps=1e-5, mean=None, var=None):
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (-1,) + (1,) * (x.ndim - 2)
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


# --------------------------------------------------------------------------- layer_norm
@pytest.mark.parametrize("shape, normalized", [
    ((4, 5), 5), ((2, 3, 4), (3, 4)), ((2, 3, 4), [4]), ((6,), 6), ((2, 1, 3), 3),
])
def test_layer_norm_matches_numpy(shape, normalized):
    k = 1 if isinstance(normalized, int) else len(normalized)
    x = RNG.standard_normal(shape) * 3 + 1
    w = RNG.standard_normal(shape[len(shape) - k:])
    b = RNG.standard_normal(shape[len(shape) - k:])
    y = F.layer_norm(cr.tensor(x), normalized, cr.tensor(w), cr.tensor(b), eps=1e-3)
    np.testing.assert_allclose(y.numpy(), np_layer_norm(x, k, w, b, 1e-3), rtol=1e-12,
                               atol=1e-12)
    y = F.layer_norm(x, normalized)  # plain arrays, no affine
    np.testing.assert_allclose(y.numpy(), np_layer_norm(x, k), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, normalized", [((3, 4), 4), ((2, 2, 3), (2, 3))])
def test_layer_norm_gradients_first_and_second(shape, normalized):
    k = 1 if isinstance(normalized, int) else len(normalized)
    x = RNG.standard_normal(shape)
    w, b = RNG.standard_normal(shape[-k:]), RNG.standard_normal(shape[-k:])
    f = lambda x, w, b: F.layer_norm(x, normalized, w, b, eps=0.1)
    assert gradcheck(f, x, w, b)
    assert gradgradcheck(f, x, w, b)
    assert gradcheck(lambda x: F.layer_norm(x, normalized), x)


def test_layer_norm_dtype_and_constant_rows():
    x = cr.tensor(RNG.standard_normal((3, 8)).astype(np.float32), requires_grad=True)
    y = F.layer_norm(x, 8, cr.ones(8), cr.zeros(8))
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    # A constant row: zero output, and the finite gradient (g - mean(g)) / sqrt(eps).
    c = cr.tensor(np.full((1, 4), 2.0), requires_grad=True)
    out = F.layer_norm(c, 4)
    np.testing.assert_array_equal(out.numpy(), 0)
    g = RNG.standard_normal((1, 4))
    out.backward(g)
    np.testing.assert_allclose(c.grad.numpy(), (g - g.mean()) / np.sqrt(1e-5), rtol=1e-12)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"layer_norm: given normalized_shape=\(3,\), expected an "
                                         r"input of shape \(\*, 3\), but got shape \(2, 4\)"):
        F.layer_norm(cr.zeros(2, 4), 3)
    with pytest.raises(ValueError, match=r"expected an input of shape \(\*, 2, 4\)"):
        F.layer_norm(cr.zeros(4), (2, 4))
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(3,\), expected \(4,\)"):
        F.layer_norm(cr.zeros(2, 4), 4, cr.ones(3))
    with pytest.raises(ValueError, match="layer_norm: eps must be a positive number, got 0"):
        F.layer_norm(cr.zeros(2, 4), 4, eps=0)
    with pytest.raises(TypeError, match="layer_norm: expected a floating-point input"):
        F.layer_norm(cr.tensor([[1, 2]]), 2)


@settings(max_examples=25, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 6)),
                  elements=st.floats(-1e3, 1e3)))
def test_layer_norm_rows_have_zero_mean_and_unit_variance(x):
    y = F.layer_norm(x, x.shape[1], eps=1e-5).numpy()
    var = x.var(axis=1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-9)
    # var(y) = var / (var + eps) exactly, in exact arithmetic.
    np.testing.assert_allclose(y.var(axis=1), var / (var + 1e-5), rtol=1e-7, atol=1e-9)


def test_layer_norm_module():
    ln = nn.LayerNorm((2, 3), eps=1e-3)
    assert repr(ln) == "LayerNorm((2, 3), eps=0.001, elementwise_affine=True, bias=True)"
    assert ln.weight.shape == (2, 3) and ln.weight.numpy().tolist() == [[1.0] * 3] * 2
    assert not ln.bias.numpy().any() and ln.weight.dtype == np.float32
    ln.weight.data = RNG.standard_normal((2, 3)).astype(np.float32)
    x = RNG.standard_normal((4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(ln(cr.tensor(x)).numpy(),
                               np_layer_norm(x, 2, ln.weight.numpy(), 0, 1e-3), rtol=1e-5,
                               atol=1e-5)
    ln.reset_parameters()
    assert ln.weight.numpy().tolist() == [[1.0] * 3] * 2
    plain = nn.LayerNorm(3, elementwise_affine=False)
    assert plain.weight is None and plain.bias is None and list(plain.parameters()) == []
    assert repr(plain) == "LayerNorm((3,), eps=1e-05, elementwise_affine=False, bias=False)"
    no_bias = nn.LayerNorm(3, bias=False)
    assert [n for n, _ in no_bias.named_parameters()] == ["weight"]
    assert nn.LayerNorm(3, dtype=np.float64).weight.dtype == np.float64


# --------------------------------------------------------------------------- batch_norm
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 3, 4)])
def test_batch_norm_training_matches_numpy(shape):
    c = shape[1]
    x = RNG.standard_normal(shape) * 2 + 3
    w, b = RNG.standard_normal(c), RNG.standard_normal(c)
    y = F.batch_norm(cr.tensor(x), None, None, cr.tensor(w), cr.tensor(b), training=True)
    np.testing.assert_allclose(y.numpy(), np_batch_norm(x, w, b), rtol=1e-12, atol=1e-12)
    y = F.batch_norm(x, None, None, training=True, eps=0.5)
    np.testing.assert_allclose(y.numpy(), np_batch_norm(x, eps=0.5), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 2), (2, 3, 2, 2)])
def test_batch_norm_training_gradients_first_and_second(shape):
    c = shape[1]
    x = RNG.standard_normal(shape)
    w, b = RNG.standard_normal(c), RNG.standard_normal(c)

    def f(x, w, b):
        # Fresh running statistics per call: they are updated, but never read, in training.
        return F.batch_norm(x, np.zeros(c), np.ones(c), w, b, training=True, eps=0.01)

    assert gradcheck(f, x, w, b)
    assert gradgradcheck(f, x, w, b)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_batch_norm_eval_uses_running_statistics(shape):
    c = shape[1]
    x = RNG.standard_normal(shape)
    rm, rv = RNG.standard_normal(c), RNG.random(c) + 0.5
    w, b = RNG.standard_normal(c), RNG.standard_normal(c)
    y = F.batch_norm(cr.tensor(x), rm, rv, cr.tensor(w), cr.tensor(b), training=False)
    np.testing.assert_allclose(y.numpy(), np_batch_norm(x, w, b, mean=rm, var=rv), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(F.batch_norm(x, rm, rv).numpy(),
                               np_batch_norm(x, mean=rm, var=rv), rtol=1e-12, atol=1e-12)
    before = rm.copy(), rv.copy()
    f = lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False)
    assert gradcheck(f, x, w, b)
    np.testing.assert_array_equal(rm, before[0])  # evaluation never updates them
    np.testing.assert_array_equal(rv, before[1])


def test_batch_norm_running_statistics_by_hand():
    # Channel 0: values 1, 3, 5, 7 (mean 4, biased var 5, unbiased var 20/3);
    # channel 1: values 0, 0, 2, 2 (mean 1, biased var 1, unbiased var 4/3).
    x = np.array([[[1.0, 3.0], [0.0, 0.0]], [[5.0, 7.0], [2.0, 2.0]]])  # (N=2, C=2, L=2)
    rm = np.array([0.5, -1.0])
    rv = np.array([2.0, 1.0])
    y = F.batch_norm(cr.tensor(x), rm, rv, training=True, momentum=0.25, eps=0.0 + 1e-5)
    np.testing.assert_allclose(rm, [0.75 * 0.5 + 0.25 * 4, 0.75 * -1.0 + 0.25 * 1])
    np.testing.assert_allclose(rv, [0.75 * 2.0 + 0.25 * 20 / 3, 0.75 * 1.0 + 0.25 * 4 / 3])
    # The output is normalised with the biased variance.
    np.testing.assert_allclose(y.numpy()[:, 0].ravel(),
                               (np.array([1, 3, 5, 7]) - 4) / np.sqrt(5 + 1e-5))


def test_batch_norm_updates_tensors_and_float32_buffers_in_place():
    rm, rv = cr.zeros(2), cr.ones(2)
    x = np.array([[1.0, 2.0], [3.0, 6.0]])  # float64 input, float32 statistics
    F.batch_norm(x, rm, rv, training=True)
    np.testing.assert_allclose(rm.numpy(), [0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(rv.numpy(), [0.9 + 0.1 * 2, 0.9 + 0.1 * 8], rtol=1e-6)
    assert rm.dtype == np.float32


def test_batch_norm_errors_change_nothing():
    rm, rv = np.zeros(3), np.ones(3)
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel "
                                         r"when training, got an input of shape \(1, 3\)"):
        F.batch_norm(cr.zeros(1, 3), rm, rv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(3,\), expected "
                                         r"\(4,\)"):
        F.batch_norm(cr.zeros(2, 4), rm, rv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(2,\), expected \(3,\)"):
        F.batch_norm(cr.zeros(2, 3), rm, rv, cr.ones(2), training=True)
    with pytest.raises(ValueError, match=r"expected an input of shape \(N, C\) or \(N, C, "
                                         r"\*spatial\), got shape \(3,\)"):
        F.batch_norm(cr.zeros(3), rm, rv)
    with pytest.raises(ValueError, match="evaluation mode .* needs running_mean and running_var"):
        F.batch_norm(cr.zeros(2, 3), None, None)
    with pytest.raises(ValueError, match="batch_norm: eps must be positive"):
        F.batch_norm(cr.zeros(2, 3), rm, rv, training=True, eps=0.0)
    with pytest.raises(TypeError, match="batch_norm: running_mean must be a Tensor or an array"):
        F.batch_norm(cr.zeros(2, 3), [0.0, 0.0, 0.0], rv, training=True)
    with pytest.raises(TypeError, match="batch_norm: expected a floating-point input"):
        F.batch_norm(cr.tensor([[1, 2, 3], [4, 5, 6]]), rm, rv, training=True)
    np.testing.assert_array_equal(rm, 0)
    np.testing.assert_array_equal(rv, 1)


# ---------------------------------------------------------------------- BatchNorm modules
def test_batchnorm_module_defaults_and_repr():
    bn = nn.BatchNorm1d(4)
    assert repr(bn) == ("BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                        "track_running_stats=True)")
    assert bn.weight.numpy().tolist() == [1.0] * 4 and bn.bias.numpy().tolist() == [0.0] * 4
    assert bn.running_mean.tolist() == [0.0] * 4 and bn.running_var.tolist() == [1.0] * 4
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.dtype == np.int64
    assert bn.running_mean.dtype == np.float32
    bn2 = nn.BatchNorm2d(3, momentum=None, affine=False, track_running_stats=False)
    assert repr(bn2) == ("BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, bias=False, "
                         "track_running_stats=False)")
    assert list(bn2.parameters()) == [] and bn2.state_dict() == {}
    assert [n for n, _ in nn.BatchNorm1d(2, bias=False).named_parameters()] == ["weight"]


def test_batchnorm1d_momentum_updates_by_hand():
    bn = nn.BatchNorm1d(2, momentum=0.5).double()
    batches = [np.array([[1.0, 0.0], [3.0, 4.0]]), np.array([[2.0, 2.0], [2.0, 6.0], [5.0, 1.0]])]
    rm, rv = np.zeros(2), np.ones(2)
    for k, x in enumerate(batches, 1):
        y = bn(cr.tensor(x))
        np.testing.assert_allclose(y.numpy(), np_batch_norm(x), rtol=1e-12, atol=1e-12)
        rm = 0.5 * rm + 0.5 * x.mean(axis=0)
        rv = 0.5 * rv + 0.5 * x.var(axis=0, ddof=1)
        np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-14)
        np.testing.assert_allclose(bn.running_var, rv, rtol=1e-14)
        assert int(bn.num_batches_tracked) == k
    np.testing.assert_allclose(bn.running_mean, [0.5 * 1 + 0.5 * 3, 0.5 * 1 + 0.5 * 3])


def test_batchnorm2d_cumulative_average_with_momentum_none():
    bn = nn.BatchNorm2d(2, momentum=None).double()
    xs = [RNG.standard_normal((2, 2, 3, 3)) * (k + 1) + k for k in range(3)]
    for x in xs:
        bn(cr.tensor(x))
    # Batch k gets weight 1/k: the running statistics are the plain averages over batches.
    means = [x.mean(axis=(0, 2, 3)) for x in xs]
    vars_ = [x.var(axis=(0, 2, 3), ddof=1) for x in xs]
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, np.mean(vars_, axis=0), rtol=1e-13)
    assert int(bn.num_batches_tracked) == 3


def test_batchnorm_eval_mode_uses_and_keeps_running_statistics():
    bn = nn.BatchNorm2d(3)
    bn.weight.data = np.array([1.0, 2.0, 3.0], np.float32)
    bn.bias.data = np.array([0.5, 0.0, -1.0], np.float32)
    bn(cr.randn(4, 3, 2, 2) * 3)
    state = {k: v.copy() for k, v in bn.state_dict().items()}
    bn.eval()
    x = RNG.standard_normal((2, 3, 2, 2)).astype(np.float32)
    y = bn(cr.tensor(x))
    expected = np_batch_norm(x, bn.weight.numpy(), bn.bias.numpy(), mean=bn.running_mean,
                             var=bn.running_var)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert y.dtype == np.float32
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, state[k])  # nothing updated, count unchanged


def test_batchnorm_eval_gradients_in_float64():
    bn = nn.BatchNorm2d(2).double()
    bn(cr.tensor(RNG.standard_normal((3, 2, 2, 2))))
    bn.eval()
    x = cr.tensor(RNG.standard_normal((2, 2, 2, 2)), requires_grad=True)
    g = RNG.standard_normal((2, 2, 2, 2))
    bn(x).backward(g)
    inv = 1 / np.sqrt(bn.running_var + bn.eps)
    np.testing.assert_allclose(x.grad.numpy(), g * inv.reshape(2, 1, 1), rtol=1e-12)
    xhat = (x.numpy() - bn.running_mean.reshape(2, 1, 1)) * inv.reshape(2, 1, 1)
    np.testing.assert_allclose(bn.weight.grad.numpy(), (g * xhat).sum(axis=(0, 2, 3)),
                               rtol=1e-12)
    np.testing.assert_allclose(bn.bias.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_batchnorm_without_running_statistics_always_uses_the_batch():
    bn = nn.BatchNorm1d(3, track_running_stats=False).double().eval()
    assert bn.running_mean is None and bn.num_batches_tracked is None
    x = RNG.standard_normal((5, 3))
    np.testing.assert_allclose(bn(cr.tensor(x)).numpy(), np_batch_norm(x), rtol=1e-12,
                               atol=1e-12)


def test_batchnorm_module_training_gradcheck():
    bn = nn.BatchNorm1d(3).double()
    x = RNG.standard_normal((4, 3, 2))
    assert gradcheck(bn, x)


def test_batchnorm_module_errors_change_nothing():
    bn1, bn2 = nn.BatchNorm1d(3), nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D or 3D input \(got 4D input\)"):
        bn1(cr.zeros(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D input \(got 2D input\)"):
        bn2(cr.zeros(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d: input of shape \(2, 4\) has 4 channels "
                                         r"\(axis 1\), expected num_features=3"):
        bn1(cr.zeros(2, 4))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn1(cr.zeros(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn2(cr.zeros(1, 3, 1, 1))
    for bn in (bn1, bn2):
        assert int(bn.num_batches_tracked) == 0
        assert bn.running_mean.tolist() == [0.0] * 3
    bn1.eval()(cr.ones(1, 3))  # one sample is fine in evaluation mode


def test_batchnorm_reset():
    bn = nn.BatchNorm1d(2)
    bn(cr.randn(4, 2) + 3)
    bn.weight.data = np.array([2.0, 2.0], np.float32)
    bn.reset_parameters()
    assert bn.running_mean.tolist() == [0.0, 0.0] and bn.running_var.tolist() == [1.0, 1.0]
    assert int(bn.num_batches_tracked) == 0 and bn.weight.numpy().tolist() == [1.0, 1.0]


def test_batchnorm_float64_model_and_float32_default():
    x32 = cr.randn(4, 3, 2, 2)
    assert nn.BatchNorm2d(3)(x32).dtype == np.float32
    bn = nn.BatchNorm2d(3).double()
    y = bn(cr.tensor(RNG.standard_normal((4, 3, 2, 2))))
    assert y.dtype == np.float64 and bn.running_var.dtype == np.float64
