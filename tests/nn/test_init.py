"""chainrule.nn.init: PyTorch's formulas, in-place filling, dtypes, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import init


# ---------------------------------------------------------------------------- gains
@pytest.mark.parametrize("name, param, expected", [
    ("linear", None, 1.0), ("conv2d", None, 1.0), ("conv_transpose3d", None, 1.0),
    ("sigmoid", None, 1.0), ("tanh", None, 5 / 3), ("relu", None, math.sqrt(2)),
    ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("leaky_relu", 1, 1.0),
    ("leaky_relu", math.sqrt(5), math.sqrt(1 / 3)), ("selu", None, 0.75),
])
def test_calculate_gain_table(name, param, expected):
    assert init.calculate_gain(name, param) == pytest.approx(expected, rel=1e-15)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope True is not a valid number"):
        init.calculate_gain("leaky_relu", True)


# ---------------------------------------------------------------------------- fans
@pytest.mark.parametrize("shape, fan_in, fan_out", [
    ((8, 4), 4, 8), ((16, 3, 5, 5), 75, 400), ((6, 2, 3), 6, 18), ((32, 4, 3, 3), 36, 288),
])
def test_kaiming_uniform_bound_uses_pytorch_fans(shape, fan_in, fan_out):
    for mode, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        w = init.kaiming_uniform_(cr.empty(*shape), mode=mode, nonlinearity="relu", generator=0)
        bound = math.sqrt(2) * math.sqrt(3 / fan)
        assert np.abs(w.numpy()).max() <= bound
        # With this many samples the largest is within a few percent of the bound.
        big = init.kaiming_uniform_(cr.empty(4000, *shape[1:]), mode="fan_in",
                                    nonlinearity="relu", generator=1)
        big_bound = math.sqrt(6 / fan_in)
        assert big_bound * 0.99 < np.abs(big.numpy()).max() <= big_bound


def test_fans_need_two_dimensions():
    with pytest.raises(ValueError, match=r"fewer than 2 dimensions \(got shape \(5,\)\)"):
        init.kaiming_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="xavier_normal_: fan in and fan out"):
        init.xavier_normal_(cr.empty(5))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_normal_(cr.empty(3, 3), mode="fan_avg")


# ------------------------------------------------------------------------- statistics
def test_kaiming_normal_std_of_a_large_sample():
    w = init.kaiming_normal_(cr.empty(500, 200), mode="fan_in", nonlinearity="relu", generator=0)
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / 200), rel=0.01)
    assert abs(w.numpy().mean()) < 0.002
    w = init.kaiming_normal_(cr.empty(300, 100, 2, 2), mode="fan_out", generator=0)
    assert w.numpy().std() == pytest.approx(init.calculate_gain("leaky_relu", 0) /
                                            math.sqrt(1200), rel=0.01)


def test_xavier_uniform_bound_and_xavier_normal_std():
    w = init.xavier_uniform_(cr.empty(300, 500), gain=2.0, generator=0)
    bound = 2.0 * math.sqrt(6 / 800)
    assert bound * 0.999 < np.abs(w.numpy()).max() <= bound
    # The variance of U(-b, b) is b^2 / 3.
    assert w.numpy().var() == pytest.approx(bound**2 / 3, rel=0.01)
    w = init.xavier_normal_(cr.empty(400, 600), gain=0.5, generator=0)
    assert w.numpy().std() == pytest.approx(0.5 * math.sqrt(2 / 1000), rel=0.01)


def test_uniform_and_normal_parameters():
    u = init.uniform_(cr.empty(100000), -3.0, 5.0, generator=0).numpy()
    assert u.min() >= -3.0 and u.max() <= 5.0
    assert u.mean() == pytest.approx(1.0, abs=0.03)
    n = init.normal_(cr.empty(100000), mean=2.0, std=0.25, generator=0).numpy()
    assert n.mean() == pytest.approx(2.0, abs=0.005)
    assert n.std() == pytest.approx(0.25, rel=0.01)
    with pytest.raises(ValueError, match="uniform_: expected a <= b, got a=1, b=0"):
        init.uniform_(cr.empty(2), 1, 0)
    with pytest.raises(ValueError, match="normal_: std must be non-negative, got -1"):
        init.normal_(cr.empty(2), 0, -1)


def test_constant_zeros_ones():
    t = cr.empty(2, 3)
    assert init.constant_(t, 0.25) is t
    np.testing.assert_array_equal(t.numpy(), np.full((2, 3), 0.25, np.float32))
    np.testing.assert_array_equal(init.zeros_(t).numpy(), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones_(t).numpy(), np.ones((2, 3)))
    ints = cr.tensor([1, 2])
    init.constant_(ints, 7)
    assert ints.dtype == np.int64 and ints.tolist() == [7, 7]


# ------------------------------------------------------------ in place, dtype, returns
@pytest.mark.parametrize("fn", [
    lambda t: init.uniform_(t, -1, 1), lambda t: init.normal_(t), lambda t: init.zeros_(t),
    lambda t: init.ones_(t), lambda t: init.constant_(t, 3.0), init.xavier_uniform_,
    init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_initialisers_fill_in_place_keep_dtype_and_return_the_tensor(fn, dtype):
    p = nn.Parameter(cr.zeros(4, 3, dtype=dtype))
    out = fn(p)
    assert out is p
    assert p.dtype == dtype and p.shape == (4, 3) and p.requires_grad and p.is_leaf
    assert p.grad_fn is None


def test_initialising_records_nothing_and_invalidates_old_graphs():
    p = nn.Parameter(cr.ones(2, 2))
    y = (p * 2).sum()
    init.normal_(p, generator=0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.backward()


def test_numpy_arrays_are_filled_in_place():
    a = np.zeros((3, 4))
    out = init.xavier_uniform_(a, generator=0)
    assert out is a and a.any()


def test_zero_element_tensors_are_left_alone_with_a_warning():
    t = cr.empty(0, 3)
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(t) is t


def test_random_initialisers_need_floating_tensors():
    with pytest.raises(TypeError, match="normal_: expected a floating-point tensor, got dtype "
                                        "int64"):
        init.normal_(cr.tensor([1, 2]))
    with pytest.raises(TypeError, match="expected a Tensor, Parameter or array, got list"):
        init.zeros_([1.0, 2.0])


# ------------------------------------------------------------------------ reproducible
def test_generator_forms_agree():
    a = init.normal_(cr.empty(5), generator=3).numpy()
    b = init.normal_(cr.empty(5), generator=np.random.default_rng(3)).numpy()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.random.default_rng(3).normal(0, 1, 5).astype(np.float32))


def test_global_seed_makes_initialisation_and_models_reproducible():
    cr.random.seed(123)
    a = init.kaiming_uniform_(cr.empty(4, 4)).numpy().copy()
    m1 = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2), nn.Embedding(4, 2))
    cr.random.seed(123)
    b = init.kaiming_uniform_(cr.empty(4, 4)).numpy()
    m2 = nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2), nn.Embedding(4, 2))
    np.testing.assert_array_equal(a, b)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert list(s1) == list(s2)
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
    m3 = nn.Linear(3, 5)  # the stream has moved on: new values
    assert not np.array_equal(m3.weight.numpy(), m1[0].weight.numpy())


def test_linear_default_init_draws_weight_then_bias_from_the_global_generator():
    cr.random.seed(7)
    lin = nn.Linear(6, 3)
    rng = np.random.default_rng(7)
    bound = 1 / math.sqrt(6)  # kaiming_uniform_(a=sqrt(5)): gain sqrt(1/3) * sqrt(3 / 6)
    w = rng.uniform(-bound, bound, (3, 6)).astype(np.float32)
    b = rng.uniform(-bound, bound, 3).astype(np.float32)
    np.testing.assert_array_equal(lin.weight.numpy(), w)
    np.testing.assert_array_equal(lin.bias.numpy(), b)
