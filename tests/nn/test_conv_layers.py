"""Convolution and pooling layers: PyTorch's initialisation and reprs, forward equal to the
functional forms, gradients through the layers (float64), and a small CNN that learns."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.ops.conv import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d
from chainrule.testing import gradcheck


# ------------------------------------------------------------------------------ Conv2d
@pytest.mark.parametrize(("args", "kwargs", "w_shape"), [
    ((1, 32, 3), {}, (32, 1, 3, 3)),
    ((4, 6, (3, 2)), {"groups": 2}, (6, 2, 3, 2)),
    ((3, 3, 5), {"groups": 3, "bias": False}, (3, 1, 5, 5)),
])
def test_conv2d_initialisation_is_pytorchs_from_the_global_generator(args, kwargs, w_shape):
    cr.random.seed(123)
    layer = nn.Conv2d(*args, **kwargs)
    cr.random.seed(123)
    gen = cr.random.get_generator()
    fan_in = w_shape[1] * w_shape[2] * w_shape[3]
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)) on (out, in/groups, kh, kw)
    w = gen.uniform(-bound, bound, w_shape).astype(np.float32)  # weight first, then bias
    assert layer.weight.shape == w_shape and layer.weight.dtype == np.float32
    np.testing.assert_allclose(layer.weight.numpy(), w, rtol=1e-6, atol=0)
    assert np.abs(layer.weight.numpy()).max() <= bound
    if kwargs.get("bias", True):
        b = gen.uniform(-bound, bound, w_shape[:1]).astype(np.float32)
        assert layer.bias.shape == w_shape[:1] and layer.bias.dtype == np.float32
        np.testing.assert_allclose(layer.bias.numpy(), b, rtol=1e-6, atol=0)
        assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    else:
        assert layer.bias is None
        assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_conv2d_is_reproducible_from_a_seed_and_takes_a_dtype():
    cr.random.seed(7)
    a = nn.Conv2d(2, 3, 3)
    cr.random.seed(7)
    b = nn.Conv2d(2, 3, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())
    assert not np.array_equal(a.weight.numpy(), nn.Conv2d(2, 3, 3).weight.numpy())
    assert nn.Conv2d(2, 3, 3, dtype=np.float64).weight.dtype == np.float64


@pytest.mark.parametrize(("kwargs", "text"), [
    (dict(in_channels=1, out_channels=32, kernel_size=3, padding=1),
     "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"),
    (dict(in_channels=4, out_channels=8, kernel_size=(3, 2), stride=2, padding=(1, 0),
          dilation=2, groups=2, bias=False),
     "Conv2d(4, 8, kernel_size=(3, 2), stride=(2, 2), padding=(1, 0), dilation=(2, 2), "
     "groups=2, bias=False)"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding="same"),
     "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=same)"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding="valid"),
     "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=valid)"),
    (dict(in_channels=2, out_channels=4, kernel_size=3),
     "Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1))"),
])
def test_conv2d_repr_is_pytorchs(kwargs, text):
    assert repr(nn.Conv2d(**kwargs)) == text


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
    dict(kernel_size=3, groups=2, bias=False),
    dict(kernel_size=(2, 4), padding="same", dilation=2),
])
def test_conv2d_layer_is_the_functional_form(kwargs):
    rng = np.random.default_rng(5)
    layer = nn.Conv2d(4, 6, **kwargs)
    x = rng.standard_normal((2, 4, 7, 8)).astype(np.float32)
    out = layer(cr.tensor(x))
    p = {k: kwargs.get(k, d) for k, d in (("stride", 1), ("padding", 0), ("dilation", 1),
                                          ("groups", 1))}
    expected = conv2d(x, layer.weight.numpy(), None if layer.bias is None else
                      layer.bias.numpy(), **p)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    if kwargs.get("padding") == "same":
        assert out.shape[2:] == x.shape[2:]


def test_conv2d_layer_gradients_in_float64():
    layer = nn.Conv2d(2, 3, 3, stride=2, padding=1).double()
    x = np.random.default_rng(6).standard_normal((2, 2, 5, 5))

    def f(x, w, b):
        layer.weight.data, layer.bias.data = w.numpy(), b.numpy()
        return conv2d(x, w, b, 2, 1)

    assert gradcheck(f, x, layer.weight.numpy(), layer.bias.numpy())
    xt = cr.tensor(x, requires_grad=True)
    layer(xt).sum().backward()
    assert layer.weight.grad.shape == (3, 2, 3, 3) and layer.bias.grad.shape == (3,)
    assert xt.grad.shape == x.shape
    # The bias gradient of a summed output counts the output positions: 2 * 3 * 3.
    np.testing.assert_allclose(layer.bias.grad.numpy(), np.full(3, 18.0))


def test_conv2d_state_dict_round_trip():
    a, b = nn.Conv2d(3, 4, 3, groups=1), nn.Conv2d(3, 4, 3)
    b.load_state_dict(a.state_dict())
    x = cr.tensor(np.random.default_rng(7).standard_normal((1, 3, 6, 6)).astype(np.float32))
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    assert list(a.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), ValueError,
     "Conv2d: groups=2 must divide in_channels=3 and out_channels=4"),
    (dict(in_channels=0, out_channels=4, kernel_size=3), ValueError,
     "in_channels, out_channels and groups must be positive"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding="full"), ValueError,
     "Conv2d: padding 'full' is not understood"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding="same", stride=2), ValueError,
     "Conv2d: padding='same' needs stride 1"),
    (dict(in_channels=2, out_channels=4, kernel_size=3, padding_mode="mirror"), ValueError,
     "padding_mode 'mirror' is not supported"),
    (dict(in_channels=2, out_channels=4, kernel_size=0), ValueError,
     "Conv2d: kernel_size must be >= 1"),
])
def test_conv2d_constructor_errors(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        nn.Conv2d(**kwargs)


def test_conv2d_forward_error_names_the_shapes():
    layer = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=re.escape("input of shape (1, 2, 5, 5) has 2 channels, "
                                                   "but weight of shape (4, 3, 3, 3) expects 3")):
        layer(cr.zeros(1, 2, 5, 5))


# ------------------------------------------------------------------------------- pooling
def test_pool_reprs_are_pytorchs():
    assert repr(nn.MaxPool2d(2)) == (
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    assert repr(nn.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True)) == (
        "MaxPool2d(kernel_size=(3, 2), stride=1, padding=1, dilation=1, ceil_mode=True)")
    assert repr(nn.AvgPool2d(3, 2, 1)) == "AvgPool2d(kernel_size=3, stride=2, padding=1)"
    assert repr(nn.AdaptiveAvgPool2d((2, 3))) == "AdaptiveAvgPool2d(output_size=(2, 3))"
    assert repr(nn.AdaptiveAvgPool2d(1)) == "AdaptiveAvgPool2d(output_size=1)"


def test_pool_layers_are_the_functional_forms_and_have_no_parameters():
    x = np.random.default_rng(8).standard_normal((2, 3, 7, 6))
    cases = [
        (nn.MaxPool2d(3, 2, 1, ceil_mode=True), max_pool2d(x, 3, 2, 1, ceil_mode=True)),
        (nn.MaxPool2d(2, dilation=2), max_pool2d(x, 2, dilation=2)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False),
         avg_pool2d(x, 3, 2, 1, count_include_pad=False)),
        (nn.AvgPool2d(2, ceil_mode=True, divisor_override=3),
         avg_pool2d(x, 2, ceil_mode=True, divisor_override=3)),
        (nn.AdaptiveAvgPool2d(1), adaptive_avg_pool2d(x, 1)),
        (nn.AdaptiveAvgPool2d((3, 4)), adaptive_avg_pool2d(x, (3, 4))),
    ]
    for layer, expected in cases:
        np.testing.assert_array_equal(layer(cr.tensor(x)).numpy(), expected.numpy())
        assert list(layer.parameters()) == [] and layer.state_dict() == {}
    with pytest.raises(ValueError, match=re.escape("MaxPool2d: kernel_size must be >= 1")):
        nn.MaxPool2d(0)


def test_global_average_pooling_layer():
    rng = np.random.default_rng(9)
    x = cr.tensor(rng.standard_normal((4, 5, 3, 3)).astype(np.float32), requires_grad=True)
    out = nn.AdaptiveAvgPool2d(1)(x)
    assert out.shape == (4, 5, 1, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x.numpy().mean(axis=(2, 3), keepdims=True),
                               rtol=1e-6, atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(x.shape, 1 / 9), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------ a CNN
def test_a_small_cnn_learns_to_tell_stripes_apart():
    # Horizontal vs vertical stripes: one conv layer, max pooling and a linear read-out.
    rng = np.random.default_rng(0)
    images = np.zeros((16, 1, 8, 8), np.float32)
    labels = np.arange(16) % 2
    for i, y in enumerate(labels):
        k = rng.integers(0, 8)
        if y:
            images[i, 0, :, k] = 1.0
        else:
            images[i, 0, k, :] = 1.0
    images += 0.1 * rng.standard_normal(images.shape).astype(np.float32)
    cr.random.seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    x = cr.tensor(images)
    losses = []
    for _ in range(60):
        model.zero_grad()
        loss = cr.softmax_cross_entropy(model(x), labels)
        loss.backward()
        losses.append(loss.item())
        for p in model.parameters():
            assert p.grad.dtype == np.float32 and p.grad.shape == p.shape
            p.data = p.numpy() - 0.5 * p.grad.numpy()
    assert losses[-1] < 0.5 * losses[0]
    predictions = model(x).numpy().argmax(axis=1)
    assert (predictions == labels).mean() >= 0.9
