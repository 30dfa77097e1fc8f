"""Convolution and pooling primitives: forward against direct-loop references, gradients
against finite differences (float64), second derivatives, PyTorch's tie and padding rules,
dtypes and error messages."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.conv import adaptive_avg_pool2d, avg_pool2d, conv2d, max_pool2d
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(3)


def arr(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def distinct(*shape: int) -> np.ndarray:
    """Values at least 0.05 apart in random order: no ties in any window, and a finite
    difference step of 1e-6 never changes which element is the maximum."""
    return (RNG.permutation(int(np.prod(shape))) * 0.05 - 1.0).reshape(shape)


# ------------------------------------------------------------------- direct-loop references
def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Cross-correlation by plain loops over every output element and every kernel tap."""
    sh, sw = _pairs(stride)
    dh, dw = _pairs(dilation)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if padding == "same":
        th, tw = dh * (kh - 1), dw * (kw - 1)
        pads = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
    elif padding == "valid":
        pads = ((0, 0), (0, 0))
    else:
        ph, pw = _pairs(padding)
        pads = ((ph, ph), (pw, pw))
    (pt, pb), (pl, pr) = pads
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, ho, wo))
    for ni in range(n):
        for oi in range(o):
            gi = oi // og
            for i in range(ho):
                for j in range(wo):
                    acc = 0.0 if b is None else float(b[oi])
                    for ci in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                acc += w[oi, ci, p, q] * xp[ni, gi * cg + ci,
                                                            i * sh + p * dh, j * sw + q * dw]
                    out[ni, oi, i, j] = acc
    return out


def _pool_geometry(h, k, s, p, d, ceil_mode):
    """PyTorch's output size and the window starts, by its own formula."""
    span = d * (k - 1) + 1
    num = h + 2 * p - span
    size = (math.ceil(num / s) if ceil_mode else num // s) + 1
    if ceil_mode and (size - 1) * s >= h + p:
        size -= 1
    return size


def ref_max_pool2d(x, k, s=None, p=0, d=1, ceil_mode=False):
    """Maximum and the flat index of its first occurrence, window by window."""
    (kh, kw), (ph, pw), (dh, dw) = _pairs(k), _pairs(p), _pairs(d)
    sh, sw = _pairs(k if s is None else s)
    n, c, h, w = x.shape
    ho = _pool_geometry(h, kh, sh, ph, dh, ceil_mode)
    wo = _pool_geometry(w, kw, sw, pw, dw, ceil_mode)
    out = np.zeros((n, c, ho, wo))
    where = np.zeros((n, c, ho, wo, 2), int)
    for ni in range(n):
        for ci in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, at = -math.inf, None
                    for a in range(kh):
                        for bq in range(kw):
                            r, q = i * sh - ph + a * dh, j * sw - pw + bq * dw
                            if 0 <= r < h and 0 <= q < w and x[ni, ci, r, q] > best:
                                best, at = x[ni, ci, r, q], (r, q)
                    out[ni, ci, i, j] = best
                    where[ni, ci, i, j] = at
    return out, where


def ref_avg_pool2d(x, k, s=None, p=0, ceil_mode=False, count_include_pad=True,
                   divisor_override=None):
    """Window sums over the real elements divided by PyTorch's count."""
    (kh, kw), (ph, pw) = _pairs(k), _pairs(p)
    sh, sw = _pairs(k if s is None else s)
    n, c, h, w = x.shape
    ho = _pool_geometry(h, kh, sh, ph, 1, ceil_mode)
    wo = _pool_geometry(w, kw, sw, pw, 1, ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, q0 = i * sh - ph, j * sw - pw
            r1, q1 = min(r0 + kh, h + ph), min(q0 + kw, w + pw)  # windows end at the padding
            count = (r1 - r0) * (q1 - q0)
            r0c, q0c, r1c, q1c = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
            if not count_include_pad:
                count = (r1c - r0c) * (q1c - q0c)
            if divisor_override is not None:
                count = divisor_override
            for ni in range(n):
                for ci in range(c):
                    total = 0.0
                    for r in range(r0c, r1c):
                        for q in range(q0c, q1c):
                            total += x[ni, ci, r, q]
                    out[ni, ci, i, j] = total / count
    return out


def ref_adaptive_avg_pool2d(x, oh, ow):
    n, c, h, w = x.shape
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            q0, q1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            for ni in range(n):
                for ci in range(c):
                    out[ni, ci, i, j] = x[ni, ci, r0:r1, q0:q1].sum() / ((r1 - r0) * (q1 - q0))
    return out


def grads(f, *arrays, create_graph=False):
    """Gradients of sum(u * f(*xs)) for a fixed random u, via Tensor.backward."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    u = np.random.default_rng(1).standard_normal(out.shape)
    (out * u).sum().backward(create_graph=create_graph)
    return [x.grad.numpy() for x in xs]


# ----------------------------------------------------------------------- conv2d forward
CONV_CASES = [
    # x shape, weight shape, stride, padding, dilation, groups, bias
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 0, 1, 1, True),
    ((2, 3, 5, 5), (4, 3, 3, 3), 1, 1, 1, 1, False),
    ((1, 2, 6, 7), (3, 2, 3, 2), 2, 1, 1, 1, True),          # non-square kernel and input
    ((1, 2, 7, 6), (3, 2, 2, 3), (2, 1), (0, 2), 1, 1, True),
    ((2, 2, 7, 7), (2, 2, 3, 3), 1, 2, 2, 1, True),          # dilation
    ((1, 3, 8, 6), (2, 3, 2, 2), (1, 3), 1, (2, 1), 1, False),
    ((2, 4, 5, 5), (6, 2, 3, 3), 1, 1, 1, 2, True),          # two groups
    ((2, 4, 5, 6), (4, 1, 3, 3), 1, 1, 1, 4, True),          # depthwise
    ((1, 3, 5, 5), (6, 1, 3, 3), 2, 1, 1, 3, False),         # depthwise, multiplier 2
    ((2, 3, 4, 4), (5, 3, 1, 1), 1, 0, 1, 1, True),          # 1x1
    ((1, 1, 5, 4), (1, 1, 5, 4), 1, 0, 1, 1, True),          # kernel as large as the input
    ((1, 2, 5, 6), (3, 2, 3, 2), 1, "same", 1, 1, True),     # even kernel: extra on the right
    ((1, 2, 6, 5), (2, 2, 3, 3), 1, "same", 2, 1, False),
    ((1, 2, 5, 6), (3, 2, 3, 2), 1, "valid", 1, 1, True),
]


@pytest.mark.parametrize(("xs", "ws", "stride", "padding", "dilation", "groups", "bias"),
                         CONV_CASES)
def test_conv2d_matches_direct_loops(xs, ws, stride, padding, dilation, groups, bias):
    x, w = arr(*xs), arr(*ws)
    b = arr(ws[0]) if bias else None
    out = conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    expected = ref_conv2d(x, w, b, stride, padding, dilation, groups)
    assert out.shape == expected.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    if padding == "same":
        assert out.shape[2:] == xs[2:]


def test_conv2d_by_hand():
    # A 2x2 box filter on a ramp: each output is the sum of its four inputs.
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    out = conv2d(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    np.testing.assert_array_equal(out.numpy(), [[[[8.5, 12.5], [20.5, 24.5]]]])
    # Cross-correlation, not convolution: the kernel is not flipped.
    k = np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
    np.testing.assert_array_equal(conv2d(x, k).numpy(), x[:, :, :2, :2])


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), g=st.integers(1, 3), cg=st.integers(1, 2), og=st.integers(1, 2),
       h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 3), kw=st.integers(1, 3),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv2d_property_against_loops(n, g, cg, og, h, w, kh, kw, s, p, d, bias, seed):
    if h + 2 * p[0] < d[0] * (kh - 1) + 1 or w + 2 * p[1] < d[1] * (kw - 1) + 1:
        return  # the kernel does not fit; the error is tested below
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, g * cg, h, w))
    wt = rng.standard_normal((g * og, cg, kh, kw))
    b = rng.standard_normal(g * og) if bias else None
    out = conv2d(x, wt, b, stride=s, padding=p, dilation=d, groups=g)
    np.testing.assert_allclose(out.numpy(), ref_conv2d(x, wt, b, s, p, d, g),
                               rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------- conv2d gradients
GRAD_CASES = [
    ((2, 2, 4, 4), (3, 2, 3, 3), 1, 1, 1, 1),
    ((1, 2, 5, 4), (2, 2, 2, 3), (2, 1), (1, 0), 1, 1),
    ((1, 2, 5, 5), (2, 2, 2, 2), 1, 1, 2, 1),
    ((1, 4, 4, 4), (4, 2, 3, 3), 2, 1, 1, 2),
    ((2, 3, 4, 3), (3, 1, 3, 3), 1, 1, 1, 3),   # depthwise
    ((1, 2, 5, 5), (2, 2, 3, 3), 3, 0, 1, 1),   # stride skips the last row and column
]


@pytest.mark.parametrize(("xs", "ws", "stride", "padding", "dilation", "groups"), GRAD_CASES)
def test_conv2d_gradcheck(xs, ws, stride, padding, dilation, groups):
    f = lambda x, w, b: conv2d(x, w, b, stride, padding, dilation, groups)
    assert gradcheck(f, arr(*xs), arr(*ws), arr(ws[0]))
    g = lambda x, w: conv2d(x, w, None, stride, padding, dilation, groups)
    assert gradcheck(g, arr(*xs), arr(*ws))


@pytest.mark.parametrize("case", [GRAD_CASES[0], GRAD_CASES[3], GRAD_CASES[4], GRAD_CASES[5]])
def test_conv2d_second_derivatives(case):
    xs, ws, stride, padding, dilation, groups = case
    f = lambda x, w, b: conv2d(x, w, b, stride, padding, dilation, groups) ** 2
    x, w, b = arr(*xs), arr(*ws), arr(ws[0])
    assert gradgradcheck(f, x, w, b)
    # conv2d alone is bilinear: its only second derivatives are the x-w cross terms.
    assert gradgradcheck(lambda x, w: conv2d(x, w, None, stride, padding, dilation, groups),
                         x, w)
    # The create_graph rules give the same first derivatives as the raw ones.
    for plain, graph in zip(grads(f, x, w, b), grads(f, x, w, b, create_graph=True)):
        np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)


def test_conv2d_third_derivative_through_the_helper_primitives():
    # d/dx of the create_graph gradient runs the helpers' own rules; once more runs theirs.
    x = cr.tensor(arr(1, 1, 4, 4), requires_grad=True)
    w = cr.tensor(arr(1, 1, 2, 2), requires_grad=True)
    (gw,) = cr.autodiff.backward(conv2d(x, w).sum() ** 2, cr.tensor(1.0, dtype=np.float64),
                                 create_graph=True, retain_graph=True, targets=[w])
    names = set()
    stack = [gw]
    while stack:
        t = stack.pop()
        if t._prim is not None:
            names.add(t._prim.name)
            stack.extend(p for p in cr.autodiff.parents_of(t) if p is not None)
    assert "conv2d_weight_grad" in names
    assert gradgradcheck(lambda x, w: conv2d(x, w).sum() ** 3, x.numpy(), w.numpy())


def test_conv2d_gradients_by_hand():
    # out = sum of each 2x2 window; d(sum out)/dx counts the windows covering each pixel,
    # and d(sum out)/dW sums the pixels each tap sees.
    x = cr.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    w = cr.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    b = cr.tensor(np.zeros(1), requires_grad=True)
    conv2d(x, w, b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    np.testing.assert_array_equal(w.grad.numpy()[0, 0], [[8, 12], [20, 24]])
    np.testing.assert_array_equal(b.grad.numpy(), [4.0])


def test_conv2d_only_some_arguments_require_grad():
    x, w = arr(2, 2, 4, 4), arr(3, 2, 3, 3)
    wt = cr.tensor(w, requires_grad=True)
    conv2d(x, wt, padding=1).sum().backward()
    xt = cr.tensor(x, requires_grad=True)
    conv2d(xt, w, padding=1).sum().backward()
    assert wt.grad.shape == w.shape and xt.grad.shape == x.shape
    out = conv2d(x, w)  # nothing requires grad: a plain leaf
    assert not out.requires_grad and out.grad_fn is None
    with cr.no_grad():
        assert not conv2d(xt, wt).requires_grad


def test_conv2d_broadcast_incoming_gradient():
    # y.sum().backward() hands the rules a zero-stride g; the products must still be right.
    x, w, b = arr(2, 3, 5, 5), arr(4, 3, 3, 3), arr(4)
    ts = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    conv2d(*ts, padding=1).sum().backward()
    us = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    conv2d(*us, padding=1).backward(np.ones((2, 4, 5, 5)))
    for t, u in zip(ts, us):
        np.testing.assert_allclose(t.grad.numpy(), u.grad.numpy(), rtol=1e-12)


def test_conv2d_float32_stays_float32():
    x = cr.tensor(arr(2, 3, 6, 6).astype(np.float32), requires_grad=True)
    w = cr.tensor(arr(4, 3, 3, 3).astype(np.float32), requires_grad=True)
    b = cr.tensor(arr(4).astype(np.float32), requires_grad=True)
    out = conv2d(x, w, b, padding=1)
    assert out.dtype == np.float32
    expected = ref_conv2d(x.numpy().astype(np.float64), w.numpy(), b.numpy(), 1, 1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    assert x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    dw = conv2d(x.numpy(), w.numpy()).dtype
    assert dw == np.float32
    depthwise = conv2d(x, cr.tensor(arr(3, 1, 3, 3).astype(np.float32)), groups=3)
    assert depthwise.dtype == np.float32


def test_conv2d_accepts_lists_and_non_contiguous_arrays():
    x = arr(5, 5, 3, 2).transpose(3, 2, 0, 1)  # (2, 3, 5, 5), not C-contiguous
    w = arr(2, 3, 3, 3)
    np.testing.assert_allclose(conv2d(x, w).numpy(), ref_conv2d(x, w), rtol=1e-12, atol=1e-12)
    out = conv2d([[[[1.0, 2.0], [3.0, 4.0]]]], [[[[1.0]]]], [0.5])
    assert out.tolist() == [[[[1.5, 2.5], [3.5, 4.5]]]] and out.dtype == np.float32


def test_conv2d_primitives_are_registered_with_formulas():
    for name in ("conv2d", "conv2d_input_grad", "conv2d_weight_grad", "max_pool2d",
                 "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"):
        assert primitive_table[name].formula
    assert conv2d.prim is primitive_table["conv2d"]
    assert "col2im" in conv2d.prim.formula
    assert max_pool2d.prim.name == "max_pool2d" and avg_pool2d.prim.name == "avg_pool2d"
    assert adaptive_avg_pool2d.prim.formula


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    (dict(x=(3, 5, 5)), ValueError, "conv2d: input must be 4-D (N, C_in, H, W), got shape "
                                    "(3, 5, 5) (3-D) (add a batch axis"),
    (dict(w=(2, 3, 3)), ValueError, "conv2d: weight must be 4-D"),
    (dict(w=(2, 2, 3, 3)), ValueError, "input of shape (1, 3, 5, 5) has 3 channels, but weight "
                                       "of shape (2, 2, 3, 3) expects 2"),
    (dict(w=(2, 1, 3, 3), groups=2), ValueError, "groups=2 must divide both the input channels "
                                                 "(3"),
    (dict(w=(3, 1, 3, 3), x=(1, 4, 5, 5), groups=2), ValueError, "output channels (3"),
    (dict(w=(2, 3, 7, 3)), ValueError, "kernel of size (7, 3) (dilation (1, 1)) spans 7 along "
                                       "H, more than the padded input's 5"),
    (dict(w=(2, 3, 3, 3), dilation=3), ValueError, "spans 7 along H"),
    (dict(b=(3,)), ValueError, "bias of shape (3,) does not match weight of shape (2, 3, 3, 3)"),
    (dict(padding="full"), ValueError, "padding 'full' is not understood"),
    (dict(padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    (dict(stride=0), ValueError, "stride must be >= 1"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(stride=(1, 2, 3)), TypeError, "stride must be an int or a pair of ints"),
    (dict(groups=0), ValueError, "groups must be >= 1"),
    (dict(groups=1.5), TypeError, "groups must be an int"),
    (dict(xdtype=np.int64), TypeError, "conv2d: input must be floating point, got dtype int64"),
])
def test_conv2d_errors(kwargs, error, message):
    x = np.zeros(kwargs.pop("x", (1, 3, 5, 5)), kwargs.pop("xdtype", np.float64))
    w = np.zeros(kwargs.pop("w", (2, 3, 3, 3)))
    b = kwargs.pop("b", None)
    with pytest.raises(error, match=re.escape(message)):
        conv2d(x, w, None if b is None else np.zeros(b), **kwargs)


# ---------------------------------------------------------------------------- max_pool2d
POOL_CASES = [
    # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    (3, 2, 1, 1, True),
    ((2, 3), (1, 2), (1, 1), 1, False),
    (2, 1, 0, 2, False),
    (3, 3, 1, 1, True),
    (2, 2, 0, 1, True),
]


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil_mode"), POOL_CASES)
@pytest.mark.parametrize("shape", [(2, 2, 5, 5), (1, 2, 6, 7)])
def test_max_pool2d_matches_direct_loops(shape, k, s, p, d, ceil_mode):
    x = distinct(*shape)
    out = max_pool2d(x, k, s, p, d, ceil_mode)
    expected, _ = ref_max_pool2d(x, k, s, p, d, ceil_mode)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.numpy(), expected)
    xt = cr.tensor(x, requires_grad=True)  # the recording path computes the same values
    np.testing.assert_array_equal(max_pool2d(xt, k, s, p, d, ceil_mode).numpy(), expected)


def test_max_pool2d_gradient_goes_to_each_windows_maximum():
    x = distinct(1, 2, 6, 5)
    xt = cr.tensor(x, requires_grad=True)
    out = max_pool2d(xt, 3, 2, 1)
    g = np.arange(1.0, out.size + 1).reshape(out.shape)
    out.backward(g)
    _, where = ref_max_pool2d(x, 3, 2, 1)
    expected = np.zeros_like(x)
    for idx in np.ndindex(out.shape):
        r, q = where[idx]
        expected[idx[0], idx[1], r, q] += g[idx]  # overlapping windows may share a maximum
    np.testing.assert_array_equal(xt.grad.numpy(), expected)


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil_mode"), POOL_CASES)
def test_max_pool2d_gradcheck(k, s, p, d, ceil_mode):
    assert gradcheck(lambda x: max_pool2d(x, k, s, p, d, ceil_mode), distinct(2, 2, 5, 6))


def test_max_pool2d_second_derivatives():
    x = distinct(1, 2, 5, 5)
    for k, s, p in [(2, 2, 0), (3, 1, 1)]:  # disjoint and overlapping windows
        f = lambda t, k=k, s=s, p=p: max_pool2d(t, k, s, p) ** 2
        assert gradgradcheck(f, x)
        for plain, graph in zip(grads(f, x), grads(f, x, create_graph=True)):
            np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)


def test_max_pool2d_ties_go_to_the_first_maximum():
    # Every window holds equal values: PyTorch gives the gradient to the first, row-major.
    x = cr.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    max_pool2d(x, 2).backward(np.ones((1, 1, 2, 2)))
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)
    # A tie between the second and fourth elements of a window: the second wins.
    x = cr.tensor(np.array([[[[0.0, 5.0], [1.0, 5.0]]]]), requires_grad=True)
    max_pool2d(x, 2).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    # Overlapping windows sharing one tied plateau: each window picks its own first element.
    x = cr.tensor(np.full((1, 1, 1, 4), 2.0), requires_grad=True)
    max_pool2d(x, (1, 2), 1).backward(np.ones((1, 1, 1, 3)))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0, 0], [1.0, 1.0, 1.0, 0.0])


def test_max_pool2d_padding_is_minus_infinity_and_nan_propagates():
    x = np.full((1, 1, 3, 3), -5.0)
    np.testing.assert_array_equal(max_pool2d(x, 3, 1, 1).numpy(), np.full((1, 1, 3, 3), -5.0))
    xt = cr.tensor(x, requires_grad=True)
    max_pool2d(xt, 2, 2, 1).sum().backward()  # corners are windows of one real element
    assert xt.grad.numpy()[0, 0, 0, 0] == 1 and xt.grad.numpy().sum() == 4
    y = np.array([[[[1.0, np.nan], [0.0, 2.0]]]])
    assert np.isnan(max_pool2d(y, 2).item())
    assert np.isnan(max_pool2d(cr.tensor(y, requires_grad=True), 2).item())


def test_max_pool2d_float32_and_int_size_windows():
    x = cr.tensor(distinct(2, 3, 8, 8).astype(np.float32), requires_grad=True)
    out = max_pool2d(x, 2)
    assert out.dtype == np.float32 and out.shape == (2, 3, 4, 4)
    out.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.numpy().sum() == out.size
    big = distinct(1, 1, 17, 17)  # 289 offsets: the index no longer fits in uint8
    xt = cr.tensor(big, requires_grad=True)
    m = max_pool2d(xt, 17)
    m.backward(np.ones((1, 1, 1, 1)))
    assert m.item() == big.max() and xt.grad.numpy()[np.unravel_index(big.argmax(),
                                                                      big.shape)] == 1


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda x: max_pool2d(x, 4, padding=3), ValueError,
     "max_pool2d: padding (3, 3) must be at most half of kernel_size (4, 4)"),
    (lambda x: max_pool2d(x, 6), ValueError, "kernel of size (6, 6) (dilation (1, 1)) spans 6 "
                                             "along H, more than the padded input's 5"),
    (lambda x: max_pool2d(x, 3, dilation=3), ValueError, "spans 7 along H"),
    (lambda x: max_pool2d(x[0], 2), ValueError,
     "max_pool2d: input must be 4-D (N, C, H, W), got shape (2, 5, 5)"),
    (lambda x: max_pool2d(x, 0), ValueError, "max_pool2d: kernel_size must be >= 1"),
    (lambda x: max_pool2d(x, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda x: max_pool2d(x, "2"), TypeError, "kernel_size must be an int or a pair of ints"),
    (lambda x: max_pool2d(x.astype(np.int32), 2), TypeError,
     "max_pool2d: input must be floating point, got dtype int32"),
    (lambda x: avg_pool2d(x, 2, padding=2), ValueError,
     "avg_pool2d: padding (2, 2) must be at most half"),
    (lambda x: avg_pool2d(x, 2, divisor_override=0), ValueError,
     "divisor_override must be positive"),
    (lambda x: adaptive_avg_pool2d(x, 0), ValueError, "output_size must be >= 1"),
    (lambda x: adaptive_avg_pool2d(x[0], 1), ValueError, "adaptive_avg_pool2d: input must be 4-D"),
])
def test_pool_errors(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(np.zeros((1, 2, 5, 5)))


# ---------------------------------------------------------------------------- avg_pool2d
AVG_CASES = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    (3, 1, 1, False, True, None),
    (3, 1, 1, False, False, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    ((2, 3), (2, 1), (1, 0), False, True, None),
    (2, 2, 0, True, True, None),
    (3, 2, 1, False, True, 2),
]


@pytest.mark.parametrize(("k", "s", "p", "ceil_mode", "cip", "div"), AVG_CASES)
@pytest.mark.parametrize("shape", [(2, 2, 5, 5), (1, 2, 6, 7)])
def test_avg_pool2d_matches_direct_loops(shape, k, s, p, ceil_mode, cip, div):
    x = arr(*shape)
    out = avg_pool2d(x, k, s, p, ceil_mode, cip, div)
    expected = ref_avg_pool2d(x, k, s, p, ceil_mode, cip, div)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("k", "s", "p", "ceil_mode", "cip", "div"), AVG_CASES)
def test_avg_pool2d_gradcheck(k, s, p, ceil_mode, cip, div):
    assert gradcheck(lambda x: avg_pool2d(x, k, s, p, ceil_mode, cip, div), arr(2, 2, 5, 6))


def test_avg_pool2d_gradient_is_spread_evenly():
    x = cr.tensor(arr(1, 1, 4, 4), requires_grad=True)
    avg_pool2d(x, 2).backward(np.array([[[[4.0, 8.0], [12.0, 16.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                         [3, 3, 4, 4], [3, 3, 4, 4]])
    # Overlapping 3x3 windows with padding counted: each pixel gets (windows over it) / 9.
    x = cr.tensor(arr(1, 1, 3, 3), requires_grad=True)
    avg_pool2d(x, 3, 1, 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[0, 0] * 9, [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_avg_pool2d_second_derivatives_and_float32():
    x = arr(1, 2, 5, 5)
    for args in [(2,), (3, 2, 1, True, False)]:
        f = lambda t, args=args: avg_pool2d(t, *args) ** 2
        assert gradgradcheck(f, x)
        for plain, graph in zip(grads(f, x), grads(f, x, create_graph=True)):
            np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)
    x32 = cr.tensor(x.astype(np.float32), requires_grad=True)
    out = avg_pool2d(x32, 3, 2, 1, count_include_pad=False)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x32.grad.dtype == np.float32


# ------------------------------------------------------------------- adaptive_avg_pool2d
@pytest.mark.parametrize(("shape", "size"), [
    ((2, 3, 4, 6), 1), ((2, 3, 4, 6), (2, 3)), ((1, 2, 6, 6), 3), ((1, 2, 5, 7), (2, 3)),
    ((1, 2, 5, 7), 4), ((1, 1, 3, 3), 5), ((1, 2, 4, 6), (None, 2)),
])
def test_adaptive_avg_pool2d_matches_pytorch_windows(shape, size):
    x = arr(*shape)
    out = adaptive_avg_pool2d(x, size)
    pair = (size, size) if isinstance(size, int) else size
    oh, ow = (shape[2] if pair[0] is None else pair[0]), (shape[3] if pair[1] is None else pair[1])
    np.testing.assert_allclose(out.numpy(), ref_adaptive_avg_pool2d(x, oh, ow), rtol=1e-12,
                               atol=1e-14)
    assert gradcheck(lambda t: adaptive_avg_pool2d(t, size), x)


def test_adaptive_avg_pool2d_of_one_is_the_mean():
    x = arr(3, 4, 5, 6)
    np.testing.assert_allclose(adaptive_avg_pool2d(x, 1).numpy(),
                               x.mean(axis=(2, 3), keepdims=True), rtol=1e-13)
    xt = cr.tensor(x.astype(np.float32), requires_grad=True)
    out = adaptive_avg_pool2d(xt, (1, 1))
    assert out.dtype == np.float32 and out.shape == (3, 4, 1, 1)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.full(x.shape, 1 / 30), rtol=1e-6)
    assert gradgradcheck(lambda t: adaptive_avg_pool2d(t, 1) ** 2, arr(1, 2, 3, 3))
