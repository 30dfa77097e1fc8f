"""Layers and their functional forms: values against NumPy, gradients against finite
differences (float64), containers, dropout, embedding, reprs and errors."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(11)


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_gelu(x):
    return np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x.ravel()]).reshape(x.shape)


# ------------------------------------------------------------------------------ Linear
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward_matches_numpy(bias):
    lin = nn.Linear(4, 3, bias=bias)
    x = RNG.standard_normal((5, 4)).astype(np.float32)
    expected = x @ lin.weight.numpy().T + (lin.bias.numpy() if bias else 0)
    y = lin(cr.tensor(x))
    assert y.dtype == np.float32 and y.shape == (5, 3)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6)
    x3 = RNG.standard_normal((2, 5, 4)).astype(np.float32)  # leading batch axes
    np.testing.assert_allclose(lin(x3).numpy(), x3 @ lin.weight.numpy().T
                               + (lin.bias.numpy() if bias else 0), rtol=1e-5, atol=1e-6)


def test_linear_shapes_dtype_repr_and_registration():
    lin = nn.Linear(4, 8)
    assert lin.weight.shape == (8, 4) and lin.bias.shape == (8,)
    assert lin.weight.dtype == np.float32
    assert repr(lin) == "Linear(in_features=4, out_features=8, bias=True)"
    assert repr(nn.Linear(2, 1, bias=False)) == "Linear(in_features=2, out_features=1, bias=False)"
    assert nn.Linear(2, 1, bias=False).bias is None
    assert nn.Linear(2, 1, dtype=np.float64).weight.dtype == np.float64
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    bound = 1 / math.sqrt(4)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.bias.numpy()).max() <= bound


def test_linear_gradcheck_in_float64():
    lin = nn.Linear(3, 2).double()
    x = RNG.standard_normal((4, 3))

    def f(x, w, b):
        lin.weight.data, lin.bias.data = w.numpy(), b.numpy()
        return F.linear(x, w, b)

    assert gradcheck(f, x, lin.weight.numpy().copy(), lin.bias.numpy().copy())
    y = lin(cr.tensor(x))
    y.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.ones((2, 4)) @ x)
    np.testing.assert_allclose(lin.bias.grad.numpy(), [4.0, 4.0])


def test_linear_bad_input_names_the_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not match weight "
                                         r"of shape \(3, 4\)"):
        nn.Linear(4, 3)(cr.zeros(2, 5))
    with pytest.raises(ValueError, match="Linear: in_features and out_features must be "
                                         "non-negative"):
        nn.Linear(-1, 2)


# ----------------------------------------------------------------------- activations
@pytest.mark.parametrize("module, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.GELU(), np_gelu),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                         * (x + 0.044715 * x**3)))),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Softmax(dim=1), lambda x: np_softmax(x, 1)),
    (nn.Softmax(dim=0), lambda x: np_softmax(x, 0)),
    (nn.LogSoftmax(dim=-1), lambda x: np.log(np_softmax(x, -1))),
    (nn.Identity(3, unused=True), lambda x: x),
])
def test_activation_modules_match_numpy(module, reference):
    x = RNG.standard_normal((4, 5)) * 3
    y = module(cr.tensor(x))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), reference(x), rtol=1e-12, atol=1e-14)
    y32 = module(cr.tensor(x.astype(np.float32)))
    assert y32.dtype == np.float32


@pytest.mark.parametrize("f", [
    F.relu, F.tanh, F.sigmoid, F.gelu, lambda x: F.gelu(x, approximate="tanh"),
    lambda x: F.leaky_relu(x, 0.3), lambda x: F.softmax(x, dim=0),
    lambda x: F.log_softmax(x, dim=1),
])
def test_functional_activations_gradcheck(f):
    x = RNG.standard_normal((3, 4)) + 0.05  # away from relu's kink
    assert gradcheck(f, x)


@pytest.mark.parametrize("f", [F.tanh, F.sigmoid, F.gelu, lambda x: F.softmax(x, dim=-1)])
def test_functional_activations_second_derivatives(f):
    assert gradgradcheck(f, RNG.standard_normal((2, 3)))


def test_functional_names_are_the_primitives():
    assert F.relu is cr.relu and F.tanh is cr.tanh and F.linear is cr.linear


def test_softmax_dtype_argument_and_dim():
    x = cr.tensor([[1.0, 2.0], [3.0, 5.0]])
    y = F.softmax(x, dim=0, dtype=np.float64)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), np_softmax(x.numpy().astype(np.float64), 0))
    assert F.log_softmax(x, 1, dtype=np.float64).dtype == np.float64


def test_softmax_without_dim_warns_and_picks_pytorchs_axis():
    x = RNG.standard_normal((2, 3, 4))
    with pytest.warns(UserWarning, match="implicit dimension choice"):
        y = nn.Softmax()(cr.tensor(x))
    np.testing.assert_allclose(y.numpy(), np_softmax(x, 0))
    with pytest.warns(UserWarning, match="LogSoftmax: implicit"):
        y = nn.LogSoftmax()(cr.tensor(x[0]))
    np.testing.assert_allclose(y.numpy(), np.log(np_softmax(x[0], 1)))


def test_activation_reprs():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    assert repr(nn.LogSoftmax(dim=-1)) == "LogSoftmax(dim=-1)"
    assert repr(nn.Tanh()) == "Tanh()" and repr(nn.Sigmoid()) == "Sigmoid()"
    assert repr(nn.Identity()) == "Identity()"
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        nn.GELU("fast")


# ----------------------------------------------------------------------------- Flatten
@pytest.mark.parametrize("start, end, shape, expected", [
    (1, -1, (2, 3, 4, 5), (2, 60)), (0, -1, (2, 3, 4), (24,)), (0, 1, (2, 3, 4), (6, 4)),
    (1, 2, (2, 3, 4, 5), (2, 12, 5)), (-2, -1, (2, 3, 4), (2, 12)), (1, 1, (2, 3), (2, 3)),
])
def test_flatten_shapes(start, end, shape, expected):
    x = RNG.standard_normal(shape)
    y = nn.Flatten(start, end)(cr.tensor(x))
    assert y.shape == expected
    np.testing.assert_array_equal(y.numpy(), x.reshape(expected))


def test_flatten_gradient_repr_and_errors():
    assert gradcheck(lambda x: nn.Flatten()(x) * 2.0, RNG.standard_normal((2, 2, 3)))
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert nn.Flatten()(cr.tensor(3.0)).shape == (1,)
    with pytest.raises(IndexError, match=r"Flatten: start_dim=3, end_dim=-1 are out of range for "
                                         r"an input of shape \(2, 3\)"):
        nn.Flatten(3)(cr.zeros(2, 3))
    with pytest.raises(ValueError, match="start_dim=2 comes after end_dim=1"):
        nn.Flatten(2, 1)(cr.zeros(2, 3, 4))


# ---------------------------------------------------------------------------- Sequential
def test_sequential_forward_is_the_composition():
    seq = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = cr.randn(5, 3)
    np.testing.assert_array_equal(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())


def test_sequential_indexing_len_iteration_slicing():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c and seq[-3] is a
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert list(tail._modules) == ["1", "2"]  # names kept, as in PyTorch
    assert list(seq[::-1]) == [c, b, a]
    assert len(seq[5:]) == 0
    with pytest.raises(IndexError, match="Sequential: index 3 is out of range for 3 modules"):
        seq[3]
    with pytest.raises(TypeError):
        seq["0"]


def test_sequential_append_insert_extend_set_delete():
    seq = nn.Sequential(nn.Linear(1, 1))
    relu = nn.ReLU()
    assert seq.append(relu) is seq
    assert list(seq._modules) == ["0", "1"] and seq[1] is relu
    tanh = nn.Tanh()
    seq.insert(1, tanh)
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "ReLU"]
    assert list(seq._modules) == ["0", "1", "2"]
    seq.insert(-1, nn.Sigmoid())
    assert [type(m).__name__ for m in seq] == ["Linear", "Tanh", "Sigmoid", "ReLU"]
    seq.extend([nn.Identity()])
    seq[0] = nn.Linear(1, 3)
    assert seq[0].out_features == 3
    del seq[1]
    assert [type(m).__name__ for m in seq] == ["Linear", "Sigmoid", "ReLU", "Identity"]
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1:3]
    assert [type(m).__name__ for m in seq] == ["Linear", "Identity"]
    with pytest.raises(TypeError, match="add_module: '2' must be a Module, got int"):
        seq.append(3)
    with pytest.raises(IndexError, match="Sequential.insert: index 9 is out of range"):
        seq.insert(9, nn.ReLU())
    with pytest.raises(TypeError, match="add_module: '0' must be a Module, got str"):
        nn.Sequential("relu")


def test_sequential_from_ordered_dict():
    seq = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.ReLU()))
    assert seq.fc is seq[0] and seq.act is seq[1]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2), nn.ReLU()])
    layers.append(nn.Linear(2, 1))
    assert len(layers) == 3 and isinstance(layers[-1], nn.Linear)
    assert [n for n, _ in layers.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                         "2.bias"]
    assert isinstance(layers[:2], nn.ModuleList) and len(layers[:2]) == 2
    layers.insert(0, nn.Tanh())
    assert isinstance(layers[0], nn.Tanh) and list(layers._modules) == ["0", "1", "2", "3"]
    del layers[0]
    layers[1] = nn.Sigmoid()
    assert [type(m).__name__ for m in layers] == ["Linear", "Sigmoid", "Linear"]
    x = cr.randn(4, 2)
    for layer in layers:
        x = layer(x)
    assert x.shape == (4, 1)
    with pytest.raises(IndexError, match="ModuleList: index 5 is out of range for 3 modules"):
        layers[5]
    with pytest.raises(NotImplementedError):
        layers(x)


# ----------------------------------------------------------------------------- dropout
def test_dropout_mask_values_and_rate():
    x = cr.ones(200, 100)
    y = F.dropout(x, p=0.3, generator=0).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    # The expectation is preserved: inverted dropout.
    assert y.mean() == pytest.approx(1.0, abs=0.02)


def test_dropout_mask_is_the_generators():
    x = RNG.standard_normal((4, 5))
    y = F.dropout(cr.tensor(x), p=0.4, generator=5)
    keep = np.random.default_rng(5).random((4, 5)) >= 0.4
    np.testing.assert_array_equal(y.numpy(), np.where(keep, x / 0.6, 0.0))


def test_dropout_special_cases():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.5, training=False) is x
    z = F.dropout(x, 1.0)
    assert z.tolist() == [0.0, 0.0, 0.0]
    z.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    assert isinstance(F.dropout(np.ones(2), 0.5, training=False), cr.Tensor)
    assert F.dropout(cr.ones(3, dtype=np.float64), 0.5, generator=0).dtype == np.float64
    assert F.dropout(cr.ones(3), 0.5, generator=0).dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5"])
def test_dropout_probability_is_checked(p):
    with pytest.raises(ValueError, match="probability has to be between 0 and 1, but got"):
        F.dropout(cr.ones(2), p)
    with pytest.raises(ValueError, match="Dropout: probability has to be between 0 and 1"):
        nn.Dropout(p)


def test_dropout_gradcheck_with_a_fixed_mask():
    x = RNG.standard_normal((3, 4))
    # An int seed makes a fresh generator on every call: the same mask for each evaluation.
    assert gradcheck(lambda x: F.dropout(x, 0.5, generator=3), x)
    t = cr.tensor(x, requires_grad=True)
    y = F.dropout(t, 0.25, generator=4)
    y.backward(np.ones_like(x))
    keep = np.random.default_rng(4).random((3, 4)) >= 0.25
    np.testing.assert_allclose(t.grad.numpy(), keep / 0.75)


def test_dropout_module_is_seeded_by_the_global_generator_and_off_in_eval():
    d = nn.Dropout(0.5)
    assert repr(d) == "Dropout(p=0.5, inplace=False)"
    x = cr.ones(50)
    cr.random.seed(9)
    a = d(x).numpy().copy()
    b = d(x).numpy()
    assert not np.array_equal(a, b)  # a fresh mask per call
    cr.random.seed(9)
    np.testing.assert_array_equal(d(x).numpy(), a)
    d.eval()
    assert d(x) is x
    d.train()
    assert set(np.unique(d(x).numpy())) <= {0.0, 2.0}
    seeded = nn.Dropout(0.5, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(
        seeded(x).numpy(), (np.random.default_rng(1).random(50, dtype=np.float32) >= 0.5) * 2.0)


# --------------------------------------------------------------------------- embedding
def test_embedding_forward_and_accumulating_gradient():
    w = RNG.standard_normal((5, 3))
    idx = np.array([[1, 4, 1], [0, 1, 2]])
    wt = cr.tensor(w, requires_grad=True)
    y = F.embedding(idx, wt)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.numpy(), w[idx])
    g = RNG.standard_normal((2, 3, 3))
    y.backward(g)
    expected = np.zeros_like(w)
    for (i, j), row in np.ndenumerate(idx):
        expected[row] += g[i, j]
    np.testing.assert_allclose(wt.grad.numpy(), expected, rtol=1e-15)
    assert gradcheck(lambda w: F.embedding(idx, w), w)
    assert gradgradcheck(lambda w: F.embedding(idx, w) ** 2, w)


def test_embedding_padding_idx_passes_no_gradient():
    w = RNG.standard_normal((4, 2))
    idx = cr.tensor([0, 2, 0, 3])
    wt = cr.tensor(w, requires_grad=True)
    y = F.embedding(idx, wt, padding_idx=0)
    np.testing.assert_array_equal(y.numpy(), w[[0, 2, 0, 3]])  # values unchanged
    y.sum().backward()
    np.testing.assert_array_equal(wt.grad.numpy(), [[0, 0], [0, 0], [1, 1], [1, 1]])
    # Without the padding index among the indices, the gradient is the plain one.
    assert gradcheck(lambda w: F.embedding([1, 2, 1], w, padding_idx=-1), w)


def test_embedding_module():
    cr.random.seed(0)
    emb = nn.Embedding(10, 3, padding_idx=2)
    assert repr(emb) == "Embedding(10, 3, padding_idx=2)"
    assert repr(nn.Embedding(4, 2)) == "Embedding(4, 2)"
    assert emb.weight.shape == (10, 3) and emb.weight.dtype == np.float32
    np.testing.assert_array_equal(emb.weight.numpy()[2], 0)
    cr.random.seed(0)
    expected = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    expected[2] = 0
    np.testing.assert_array_equal(emb.weight.numpy(), expected)  # N(0, 1), global generator
    out = emb(cr.tensor([[2, 5, 5]]))
    out.sum().backward()
    grad = emb.weight.grad.numpy()
    assert grad[5].tolist() == [2.0, 2.0, 2.0] and not grad[2].any()
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_from_pretrained():
    table = np.arange(6.0).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad and emb.weight.dtype == np.float64
    np.testing.assert_array_equal(emb(cr.tensor([2, 0])).numpy(), table[[2, 0]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad


def test_embedding_errors():
    w = cr.randn(3, 2)
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float32"):
        F.embedding(cr.tensor([0.0]), w)
    with pytest.raises(IndexError, match="embedding: index 3 is out of range for a weight with 3 "
                                         "rows"):
        F.embedding([0, 3], w)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding([-1], w)
    with pytest.raises(ValueError, match=r"weight must be 2-D .* got shape \(3,\)"):
        F.embedding([0], cr.randn(3))
    with pytest.raises(ValueError, match="padding_idx 5 must be within num_embeddings"):
        nn.Embedding(3, 2, padding_idx=5)
    with pytest.raises(ValueError, match="embedding: padding_idx 3 is out of range"):
        F.embedding([0], w, padding_idx=3)


# ------------------------------------------------------------------------------- a model
def test_small_mlp_gradchecks_in_float64():
    cr.random.seed(3)
    model = nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 4), nn.LogSoftmax(dim=1))
    model.double()
    x = RNG.standard_normal((6, 3))
    slots = [(m, name) for m in model.modules() for name in m._parameters]
    values = [m._parameters[name].numpy().copy() for m, name in slots]

    def f(x, *ps):
        # The layers read their parameters from _parameters: put gradcheck's tensors there.
        for (m, name), p in zip(slots, ps):
            m._parameters[name] = p
        return model(x)

    assert gradcheck(f, x, *values)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.data())
def test_flatten_property(shape, data):
    n = len(shape)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, n - 1))
    x = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = nn.Flatten(start, end)(cr.tensor(x))
    assert y.shape == tuple(shape[:start]) + (math.prod(shape[start:end + 1]),) + tuple(
        shape[end + 1:])
    np.testing.assert_array_equal(y.numpy().ravel(), x.ravel())
