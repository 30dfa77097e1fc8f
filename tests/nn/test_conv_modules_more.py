"""The rest of the convolution layers, padding and resizing: PyTorch's parameter layout,
initialisation, reprs and state_dict names; layers equal to their functional forms; F.pad and
F.interpolate against NumPy references and PyTorch's documented values; float64 gradients."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.ops.conv import (
    avg_pool1d,
    avg_pool3d,
    conv1d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    max_pool1d,
    max_pool3d,
)
from chainrule.testing import gradcheck, gradgradcheck


def arr(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------- conv layers
@pytest.mark.parametrize(("cls", "args", "kwargs", "w_shape", "fan_in"), [
    (nn.Conv1d, (4, 6, 3), {"groups": 2}, (6, 2, 3), 6),
    (nn.Conv3d, (2, 4, (3, 2, 2)), {}, (4, 2, 3, 2, 2), 24),
    (nn.ConvTranspose1d, (4, 6, 3), {"groups": 2}, (4, 3, 3), 9),
    (nn.ConvTranspose2d, (3, 5, (2, 3)), {"bias": False}, (3, 5, 2, 3), 30),
])  # fmt: skip
def test_conv_layers_have_pytorchs_layout_and_initialisation(cls, args, kwargs, w_shape, fan_in):
    cr.random.seed(11)
    layer = cls(*args, **kwargs)
    cr.random.seed(11)
    gen = cr.random.get_generator()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=sqrt(5)): fan_in = shape[1] * prod(k)
    w = gen.uniform(-bound, bound, w_shape).astype(np.float32)
    assert layer.weight.shape == w_shape and layer.weight.dtype == np.float32
    np.testing.assert_array_equal(layer.weight.numpy(), w)
    if kwargs.get("bias", True):
        b = gen.uniform(-bound, bound, (args[1],)).astype(np.float32)
        np.testing.assert_array_equal(layer.bias.numpy(), b)
        assert list(layer.state_dict()) == ["weight", "bias"]
    else:
        assert layer.bias is None and list(layer.state_dict()) == ["weight"]


@pytest.mark.parametrize(("layer", "text"), [
    (nn.Conv1d(16, 33, 3, stride=2), "Conv1d(16, 33, kernel_size=(3,), stride=(2,))"),
    (nn.Conv1d(2, 4, 3, padding="same", dilation=2, bias=False),
     "Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same, dilation=(2,), bias=False)"),
    (nn.Conv3d(16, 33, (3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0)),
     "Conv3d(16, 33, kernel_size=(3, 5, 2), stride=(2, 1, 1), padding=(4, 2, 0))"),
    (nn.ConvTranspose2d(16, 33, 3, stride=2, padding=1, output_padding=1, groups=1),
     "ConvTranspose2d(16, 33, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
     "output_padding=(1, 1))"),
    (nn.ConvTranspose1d(4, 4, 2, groups=2, dilation=2),
     "ConvTranspose1d(4, 4, kernel_size=(2,), stride=(1,), dilation=(2,), groups=2)"),
    (nn.MaxPool1d(3, 2), "MaxPool1d(kernel_size=3, stride=2, padding=0, dilation=1, "
     "ceil_mode=False)"),
    (nn.MaxPool3d((3, 2, 2), stride=(2, 1, 2)), "MaxPool3d(kernel_size=(3, 2, 2), "
     "stride=(2, 1, 2), padding=0, dilation=1, ceil_mode=False)"),
    (nn.AvgPool1d(3, 2), "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))"),
    (nn.AvgPool3d(3, 2), "AvgPool3d(kernel_size=3, stride=2, padding=0)"),
    (nn.MaxUnpool2d(2), "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"),
    (nn.Unfold(2, padding=1), "Unfold(kernel_size=2, dilation=1, padding=1, stride=1)"),
    (nn.Fold((4, 5), 2), "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, "
     "stride=1)"),
    (nn.PixelShuffle(3), "PixelShuffle(upscale_factor=3)"),
    (nn.PixelUnshuffle(2), "PixelUnshuffle(downscale_factor=2)"),
    (nn.Upsample(scale_factor=2, mode="nearest"), "Upsample(scale_factor=2.0, mode='nearest')"),
    (nn.Upsample(size=(3, 4), mode="bilinear"), "Upsample(size=(3, 4), mode='bilinear')"),
    (nn.UpsamplingBilinear2d(scale_factor=2), "UpsamplingBilinear2d(scale_factor=2.0, "
     "mode='bilinear')"),
    (nn.ZeroPad2d((1, 1, 2, 0)), "ZeroPad2d((1, 1, 2, 0))"),
    (nn.ConstantPad1d(2, 3.5), "ConstantPad1d(padding=(2, 2), value=3.5)"),
    (nn.ReflectionPad2d(2), "ReflectionPad2d((2, 2, 2, 2))"),
    (nn.ReplicationPad1d((3, 1)), "ReplicationPad1d((3, 1))"),
    (nn.CircularPad2d(1), "CircularPad2d((1, 1, 1, 1))"),
])  # fmt: skip
def test_reprs_are_pytorchs(layer, text):
    assert repr(layer) == text


def test_conv_layers_are_the_functional_forms():
    cr.random.seed(3)
    x1, x3 = arr(1, 2, 4, 9).astype(np.float32), arr(2, 1, 2, 5, 6, 4).astype(np.float32)
    c1 = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    np.testing.assert_array_equal(
        c1(x1).numpy(), conv1d(x1, c1.weight.numpy(), c1.bias.numpy(), 2, 1, 1, 2).numpy())
    c3 = nn.Conv3d(2, 3, (2, 3, 2), padding="same", bias=False)
    out = c3(x3)
    assert out.shape == (1, 3, 5, 6, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), conv3d(x3, c3.weight.numpy(), None,
                                                      padding="same").numpy())  # fmt: skip
    t1 = nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, output_padding=1)
    np.testing.assert_array_equal(
        t1(x1).numpy(),
        conv_transpose1d(x1, t1.weight.numpy(), t1.bias.numpy(), 2, 1, 1).numpy())
    x2 = arr(3, 2, 4, 5, 5).astype(np.float32)
    t2 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    np.testing.assert_array_equal(
        t2(x2).numpy(),
        conv_transpose2d(x2, t2.weight.numpy(), t2.bias.numpy(), 2, 1, 0, 2).numpy())
    # PyTorch's output_size: the output_padding that reaches the asked size.
    assert t2(x2).shape == (2, 6, 9, 9)
    assert t2(x2, output_size=(10, 9)).shape == (2, 6, 10, 9)
    assert t2(x2, output_size=(2, 6, 10, 10)).shape == (2, 6, 10, 10)
    with pytest.raises(ValueError, match=re.escape("ConvTranspose2d: output_size (11, 9) is "
                                                   "not reachable")):  # fmt: skip
        t2(x2, output_size=(11, 9))


def test_conv_transpose_layer_gradients_in_float64_and_state_dict():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1).double()
    x = arr(4, 2, 2, 3, 3)
    xt = cr.tensor(x, requires_grad=True)
    out = layer(xt)
    assert out.shape == (2, 3, 6, 6)
    out.sum().backward()
    # Each output position adds the bias once: the bias gradient counts them, 2 * 6 * 6.
    np.testing.assert_allclose(layer.bias.grad.numpy(), np.full(3, 72.0))
    assert layer.weight.grad.shape == (2, 3, 3, 3) and xt.grad.shape == x.shape

    def f(x, w, b):
        return conv_transpose2d(x, w, b, 2, 1, 1)

    assert gradcheck(f, x, layer.weight.numpy(), layer.bias.numpy())
    other = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1).double()
    other.load_state_dict(layer.state_dict())
    np.testing.assert_array_equal(other(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(cls=nn.Conv1d, in_channels=3, out_channels=4, kernel_size=3, groups=2),
     "Conv1d: groups=2 must divide in_channels=3 and out_channels=4"),
    (dict(cls=nn.Conv3d, in_channels=2, out_channels=4, kernel_size=3, padding="full"),
     "Conv3d: padding 'full' is not understood; expected an int, a tuple of 3 ints"),
    (dict(cls=nn.Conv1d, in_channels=2, out_channels=4, kernel_size=3, padding="same",
          stride=2), "Conv1d: padding='same' needs stride 1"),
    (dict(cls=nn.ConvTranspose2d, in_channels=2, out_channels=4, kernel_size=3, stride=2,
          output_padding=2), "ConvTranspose2d: output_padding (2, 2) must be smaller than "
     "stride (2, 2)"),
    (dict(cls=nn.Conv3d, in_channels=2, out_channels=4, kernel_size=0),
     "Conv3d: kernel_size must be >= 1"),
])  # fmt: skip
def test_conv_layer_constructor_errors(kwargs, message):
    cls = kwargs.pop("cls")
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(**kwargs)


# ------------------------------------------------------------------- pooling layers
def test_pooling_layers_are_the_functional_forms_and_have_no_parameters():
    x1, x3 = arr(5, 2, 3, 9), arr(6, 1, 2, 5, 6, 7)
    cases = [
        (nn.MaxPool1d(3, 2, 1), max_pool1d(x1, 3, 2, 1)),
        (nn.MaxPool3d(2, ceil_mode=True), max_pool3d(x3, 2, ceil_mode=True)),
        (nn.AvgPool1d(3, 2, 1, count_include_pad=False),
         avg_pool1d(x1, 3, 2, 1, count_include_pad=False)),
        (nn.AvgPool3d((2, 3, 2), divisor_override=4),
         avg_pool3d(x3, (2, 3, 2), divisor_override=4)),
    ]
    for layer, expected in cases:
        x = x1 if expected.ndim == 3 else x3
        np.testing.assert_array_equal(layer(cr.tensor(x)).numpy(), expected.numpy())
        assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_maxpool_with_indices_and_maxunpool_layers():
    x = cr.tensor(arr(7, 1, 2, 4, 4), requires_grad=True)
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    out, idx = pool(x)
    up = unpool(out, idx)
    # Every 2x2 block keeps its maximum in place and zeros elsewhere.
    xn = x.numpy()
    blocks = xn.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))
    kept = np.where(xn == np.repeat(np.repeat(blocks, 2, axis=2), 2, axis=3), xn, 0.0)
    np.testing.assert_array_equal(up.numpy(), kept)
    up.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (kept != 0).astype(float))
    assert unpool(out, idx, output_size=(5, 5)).shape == (1, 2, 5, 5)
    o1, i1 = nn.MaxPool1d(2, return_indices=True)(arr(8, 1, 1, 6))
    assert o1.shape == i1.shape == (1, 1, 3)


# ------------------------------------------------------------------------- F.pad
def ref_pad(x, widths, mode, value=0.0):
    """NumPy's np.pad with PyTorch's pad tuple (last axis first) and mode names."""
    pairs = [(0, 0)] * x.ndim
    for i in range(len(widths) // 2):
        pairs[x.ndim - 1 - i] = (widths[2 * i], widths[2 * i + 1])
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
    if mode == "constant":
        return np.pad(x, pairs, constant_values=value)
    return np.pad(x, pairs, mode=np_mode[mode])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("widths", [(1, 2), (2, 0, 1, 3), (1, 1, 0, 2, 1, 0)])
def test_pad_modes_match_numpy_with_pytorchs_order(mode, widths):
    x = arr(9, 2, 3, 4, 5)
    out = F.pad(x, widths, mode)
    np.testing.assert_array_equal(out.numpy(), ref_pad(x, widths, mode))
    assert gradcheck(lambda t: F.pad(t, widths, mode), x)
    assert gradgradcheck(lambda t: F.pad(t, widths, mode) ** 2, x)


def test_pad_known_values_negative_widths_value_and_float32():
    x = cr.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    assert F.pad(x, (2, 2), "reflect").tolist() == [[[3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]]]
    assert F.pad(x, (2, 1), "replicate").tolist() == [[[1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0]]]
    assert F.pad(x, (1, 2), "circular").tolist() == [[[4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]]]
    assert F.pad(x, (-1, 2), value=7.0).tolist() == [[[2.0, 3.0, 4.0, 7.0, 7.0]]]
    y = cr.tensor(arr(10, 1, 2, 3, 3), requires_grad=True)
    F.pad(y, (-1, 1, 0, -2)).sum().backward()
    expected = np.zeros((1, 2, 3, 3))
    expected[:, :, :1, 1:] = 1
    np.testing.assert_array_equal(y.grad.numpy(), expected)
    z = np.ones((1, 1, 2, 2), np.float32)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert F.pad(z, (1, 1, 1, 1), mode).dtype == np.float32


def test_reflection_pad_gradient_counts_the_copies():
    x = cr.tensor(np.zeros((1, 1, 4)), requires_grad=True)
    nn.ReflectionPad1d(2)(x).sum().backward()
    # [x2 x1 | x0 x1 x2 x3 | x2 x1]: x1 and x2 appear twice more.
    assert x.grad.tolist() == [[[1.0, 3.0, 3.0, 1.0]]]


@pytest.mark.parametrize(("layer", "mode", "value"), [
    (nn.ZeroPad2d((1, 2, 0, 1)), "constant", 0.0),
    (nn.ConstantPad2d((1, 2, 0, 1), -1.5), "constant", -1.5),
    (nn.ReflectionPad2d((1, 2, 0, 1)), "reflect", None),
    (nn.ReplicationPad2d((1, 2, 0, 1)), "replicate", None),
    (nn.CircularPad2d((1, 2, 0, 1)), "circular", None),
])  # fmt: skip
def test_padding_layers_are_f_pad(layer, mode, value):
    x = arr(11, 2, 3, 4, 4)
    np.testing.assert_array_equal(layer(x).numpy(), ref_pad(x, (1, 2, 0, 1), mode, value or 0))
    assert layer(x[0]).shape == (3, 5, 7)  # unbatched
    assert layer.state_dict() == {}


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: F.pad(x, (1, 2, 3)), ValueError, "pad: pad (1, 2, 3) must have an even length"),
    (lambda x: F.pad(x, (1,) * 10), ValueError, "of at most 2 * 4"),
    (lambda x: F.pad(x, (4, 0), "reflect"), ValueError,
     "pad: mode 'reflect' needs each width smaller than the padded axis's length; got (4, 0) "
     "for axis -1 of length 4"),
    (lambda x: F.pad(x, (0, 5), "circular"), ValueError, "at most the padded axis's length"),
    (lambda x: F.pad(x, (-1, 0), "replicate"), ValueError,
     "pad: mode 'replicate' needs non-negative widths"),
    (lambda x: F.pad(x, (1, 1), "reflect", value=1.0), ValueError,
     "pad: mode 'reflect' takes no value"),
    (lambda x: F.pad(x, (1, 1), "edge"), ValueError, "pad: mode 'edge' is not supported"),
    (lambda x: F.pad(x, (-3, -2)), ValueError, "crops more than the input"),
    (lambda x: F.pad(x, (1.5, 1)), TypeError, "pad: pad must be a sequence of ints"),
    (lambda x: nn.ReflectionPad2d(1)(x[0, 0]), ValueError,
     "ReflectionPad2d: input must be 3-D or 4-D, got shape (4, 4)"),
    (lambda x: nn.ZeroPad2d((1, 2)), TypeError,
     "ZeroPad2d: padding must be an int or a tuple of 4 ints"),
])  # fmt: skip
def test_pad_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(arr(12, 1, 2, 4, 4))


# ------------------------------------------------------------------- F.interpolate
def ref_interpolate_axis(x, n_out, mode, align_corners=False, scale=None):
    """Resize the last axis by PyTorch's per-element source formulas, by loops."""
    n_in = x.shape[-1]
    out = np.zeros((*x.shape[:-1], n_out))
    for i in range(n_out):
        if mode == "nearest":
            s = np.float32(1 / scale) if scale else np.float32(n_in) / np.float32(n_out)
            out[..., i] = x[..., min(int(np.floor(np.float32(i) * s)), n_in - 1)]
            continue
        if align_corners:
            src = i * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            src = max((i + 0.5) * (1 / scale if scale else n_in / n_out) - 0.5, 0.0)
        i0 = min(int(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        lam = src - i0
        out[..., i] = (1 - lam) * x[..., i0] + lam * x[..., i1]
    return out


def ref_interpolate(x, size, mode, align_corners=False, scales=None):
    nd = x.ndim - 2
    scales = scales or (None,) * nd
    y = x
    for axis in range(nd):
        ax = 2 + axis
        y = np.moveaxis(ref_interpolate_axis(np.moveaxis(y, ax, -1), size[axis], mode,
                                             align_corners, scales[axis]), -1, ax)  # fmt: skip
    return y


def test_interpolate_matches_pytorchs_documented_values():
    # The examples in PyTorch's nn.Upsample documentation.
    x = cr.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    np.testing.assert_array_equal(nn.Upsample(scale_factor=2, mode="nearest")(x).numpy()[0, 0],
                                  [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_allclose(
        nn.Upsample(scale_factor=2, mode="bilinear")(x).numpy()[0, 0],
        [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5],
         [3.0, 3.25, 3.75, 4.0]], rtol=1e-7)  # fmt: skip
    np.testing.assert_allclose(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)(x).numpy()[0, 0],
        [[1.0, 4 / 3, 5 / 3, 2.0], [5 / 3, 2.0, 7 / 3, 8 / 3], [7 / 3, 8 / 3, 3.0, 10 / 3],
         [3.0, 10 / 3, 11 / 3, 4.0]], rtol=1e-6)  # fmt: skip
    padded = np.zeros((1, 1, 3, 3), np.float32)
    padded[:, :, :2, :2] = x.numpy()
    np.testing.assert_allclose(
        nn.Upsample(scale_factor=2, mode="bilinear")(padded).numpy()[0, 0],
        [[1.0, 1.25, 1.75, 1.5, 0.5, 0.0], [1.5, 1.75, 2.25, 1.875, 0.625, 0.0],
         [2.5, 2.75, 3.25, 2.625, 0.875, 0.0], [2.25, 2.4375, 2.8125, 2.25, 0.75, 0.0],
         [0.75, 0.8125, 0.9375, 0.75, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
        rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize(("shape", "kwargs", "out_size", "scales"), [
    ((2, 3, 5), dict(size=8, mode="linear"), (8,), None),
    ((2, 3, 5), dict(size=3, mode="linear", align_corners=True), (3,), None),
    ((1, 2, 4, 5), dict(size=(7, 3), mode="bilinear"), (7, 3), None),
    ((1, 2, 4, 5), dict(scale_factor=(1.5, 2.5), mode="bilinear"), (6, 12), (1.5, 2.5)),
    ((1, 2, 3, 4), dict(size=(5, 7), mode="bilinear", align_corners=True), (5, 7), None),
    ((1, 2, 3, 4, 2), dict(scale_factor=2, mode="trilinear"), (6, 8, 4), (2.0,) * 3),
    ((1, 2, 3, 5), dict(size=(7, 2), mode="nearest"), (7, 2), None),
    ((1, 2, 3, 5), dict(scale_factor=1.7, mode="nearest"), (5, 8), (1.7, 1.7)),
    ((1, 1, 4, 3, 3), dict(size=(2, 5, 3), mode="nearest"), (2, 5, 3), None),
])  # fmt: skip
def test_interpolate_matches_loops_and_gradchecks(shape, kwargs, out_size, scales):
    x = arr(13, *shape)
    out = F.interpolate(x, **kwargs)
    assert out.shape == (*shape[:2], *out_size)
    mode = "nearest" if kwargs["mode"] == "nearest" else "linear"
    ref = ref_interpolate(x, out_size, mode, kwargs.get("align_corners", False), scales)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda t: F.interpolate(t, **kwargs), x)
    assert gradgradcheck(lambda t: F.interpolate(t, **kwargs) ** 2, x)


def test_interpolate_nearest_exact_area_recompute_and_float32():
    x = arr(14, 1, 1, 5)
    exact = F.interpolate(x, size=3, mode="nearest-exact").numpy()
    # src = floor((i + 0.5) * 5 / 3): 0, 2, 4
    np.testing.assert_array_equal(exact, x[:, :, [0, 2, 4]])
    np.testing.assert_array_equal(F.interpolate(x, size=3).numpy(), x[:, :, [0, 1, 3]])
    img = arr(15, 2, 3, 6, 5)
    np.testing.assert_allclose(F.interpolate(img, size=(3, 2), mode="area").numpy(),
                               cr.nn.functional.adaptive_avg_pool2d(img, (3, 2)).numpy(),
                               rtol=1e-12)  # fmt: skip
    # 5 * 1.5 = 7 outputs; with recompute the coordinates use 5 / 7 instead of 1 / 1.5.
    a = F.interpolate(x, scale_factor=1.5, mode="linear").numpy()
    b = F.interpolate(x, scale_factor=1.5, mode="linear", recompute_scale_factor=True).numpy()
    np.testing.assert_allclose(a, ref_interpolate(x, (7,), "linear", False, (1.5,)), rtol=1e-12)
    np.testing.assert_allclose(b, ref_interpolate(x, (7,), "linear", False, None), rtol=1e-12)
    assert not np.allclose(a, b)
    f32 = img.astype(np.float32)
    for mode in ("nearest", "bilinear", "area"):
        assert F.interpolate(f32, scale_factor=2, mode=mode).dtype == np.float32


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(size=4, mode="bicubic"), "interpolate: mode 'bicubic' is not supported"),
    (dict(size=4, mode="linear"), "interpolate: mode 'linear' needs 3-D input, got shape "
     "(1, 2, 3, 3) (4-D)"),
    (dict(size=4, mode="nearest", align_corners=True), "align_corners can only be set with "
     "the linear modes"),
    (dict(mode="nearest"), "give exactly one of size and scale_factor"),
    (dict(size=4, scale_factor=2), "give exactly one of size and scale_factor"),
    (dict(size=(1, 2, 3)), "size must be an int or a tuple of 2 ints"),
    (dict(scale_factor=-1.0), "scale_factor must be a positive number"),
    (dict(scale_factor=0.1), "the output size (0, 0) must be positive"),
])  # fmt: skip
def test_interpolate_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        F.interpolate(np.zeros((1, 2, 3, 3)), **kwargs)


# ------------------------------------------------------- the layers together, learning
def test_a_small_encoder_decoder_fits_and_exports_its_state():
    # Conv1d down, ConvTranspose1d back up: a few Adam steps must cut the error.
    cr.random.seed(0)
    model = nn.Sequential(nn.Conv1d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
                          nn.ConvTranspose1d(4, 1, 3, stride=2, padding=1, output_padding=1))
    x = cr.tensor(np.sin(np.linspace(0, 6, 16, dtype=np.float32))[None, None])
    opt = cr.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - x) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.state_dict()["2.weight"].shape == (4, 1, 3)


# ------------------------------------------------- GPU code paths (the fake CuPy on NumPy)
DEVICE_CASES = {
    "conv1d": lambda x: F.conv1d(x[:, :, 0], x[:2, :, 0, :3], x[0, :2, 0, 0]),
    "conv3d": lambda x: F.conv3d(x[:, :, None], x[:2, :, None, :2, :2], x[0, :2, 0, 0], 1, 1),
    "max_pool1d": lambda x: F.max_pool1d(x[:, :, 0], 2),
    "max_pool3d": lambda x: F.max_pool3d(x[:, :, None], (1, 2, 2), padding=(0, 1, 1)),
    "avg_pool3d": lambda x: F.avg_pool3d(x[:, :, None], (1, 2, 2), padding=(0, 1, 1)),
    "unpool": lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
    "shuffle": lambda x: F.pixel_shuffle(F.pixel_unshuffle(x, 2) ** 2, 2),
    "pad_reflect": lambda x: F.pad(x, (1, 2, 0, 1), "reflect"),
    "pad_circular": lambda x: F.pad(x, (1, 1, 2, 0, 1, 1), "circular"),
    "pad_constant": lambda x: F.pad(x, (1, -1, 0, 1), value=2.0),
    "nearest": lambda x: F.interpolate(x, scale_factor=2),
    "bilinear": lambda x: F.interpolate(x, size=(5, 7), mode="bilinear"),
    "area": lambda x: F.interpolate(x, size=(3, 3), mode="area"),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x, 3),
}


@pytest.mark.parametrize("name", list(DEVICE_CASES))
def test_on_a_device_equal_cpu(monkeypatch, name):
    # Index arrays and interpolation matrices are made with NumPy: they must be moved to the
    # input's device (CuPy refuses host operands, and so does the fake). Not covered here:
    # conv2d without a bias (so conv_transpose's backward, unfold): the fake's as_strided
    # returns host arrays, where CuPy's does not.
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    f = DEVICE_CASES[name]
    x = arr(16, 2, 3, 4, 4)
    grads, outs = [], []
    for move in (lambda a: a, cupy.asarray):
        xt = cr.as_tensor(move(x))
        xt.requires_grad = True
        out = f(xt)
        (out * out).sum().backward()
        outs.append(cupy.asnumpy(out.numpy()))
        grads.append(cupy.asnumpy(xt.grad.numpy()))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-12)
