"""The rest of the convolution family (1-D and 3-D convolution and pooling, transposed
convolution, unfold/fold, max_unpool2d, pixel shuffle): forward against direct-loop NumPy
references, float64 gradients against finite differences, second derivatives, dtypes and
error messages."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.ops.conv import (
    avg_pool1d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool2d,
    pixel_shuffle,
    pixel_unshuffle,
    unfold,
)
from chainrule.ops.define import primitive_table
from chainrule.testing import gradcheck, gradgradcheck


def arr(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def distinct(seed: int, *shape: int) -> np.ndarray:
    """Values 0.05 apart in random order: no ties, and a 1e-6 step never moves a maximum."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))) * 0.05 - 1.0).reshape(shape)


def _tup(v, nd):
    return (v,) * nd if isinstance(v, int) else tuple(v)


# ------------------------------------------------------------------- direct-loop references
def ref_conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """N-d cross-correlation by loops over every output element (any number of axes)."""
    nd = x.ndim - 2
    s, d = _tup(stride, nd), _tup(dilation, nd)
    k = w.shape[2:]
    if padding == "same":
        pads = [(dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for kk, dd in zip(k, d)]
    else:
        pads = [(p, p) for p in _tup(0 if padding == "valid" else padding, nd)]
    xp = np.pad(x, [(0, 0), (0, 0), *pads])
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    og = o // groups
    out_sp = [(xp.shape[2 + i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(nd)]
    out = np.zeros((n, o, *out_sp))
    for ni, oi in itertools.product(range(n), range(o)):
        gi = oi // og
        for pos in itertools.product(*map(range, out_sp)):
            win = tuple(
                slice(pos[i] * s[i], pos[i] * s[i] + d[i] * (k[i] - 1) + 1, d[i]) for i in range(nd)
            )
            patch = xp[(ni, slice(gi * cg, (gi + 1) * cg), *win)]
            out[(ni, oi, *pos)] = (patch * w[oi]).sum() + (0 if b is None else b[oi])
    return out


def ref_conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Every input element times the kernel, added at its stride-spaced place: loops."""
    nd = x.ndim - 2
    s, p, q, d = (_tup(v, nd) for v in (stride, padding, output_padding, dilation))
    n, c = x.shape[:2]
    cg, og = c // groups, w.shape[1]
    k = w.shape[2:]
    full = [(x.shape[2 + i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 + q[i] for i in range(nd)]
    out = np.zeros((n, og * groups, *full))
    for ni, ci in itertools.product(range(n), range(c)):
        gi = ci // cg
        for pos in itertools.product(*map(range, x.shape[2:])):
            for tap in itertools.product(*map(range, k)):
                at = tuple(pos[i] * s[i] + tap[i] * d[i] for i in range(nd))
                out[(ni, slice(gi * og, (gi + 1) * og), *at)] += x[(ni, ci, *pos)] * w[
                    (ci, slice(None), *tap)
                ]
    crop = tuple(slice(p[i], full[i] - p[i]) for i in range(nd))
    out = out[(slice(None), slice(None), *crop)]
    return out if b is None else out + b.reshape((-1,) + (1,) * nd)


def _pool_windows(shape, k, s, p, d, ceil_mode):
    """PyTorch's output size per axis and, per output position, the window's indices."""
    sizes = []
    for n, kk, ss, pp, dd in zip(shape, k, s, p, d):
        span = dd * (kk - 1) + 1
        m = n + 2 * pp - span
        size = (-(-m // ss) if ceil_mode else m // ss) + 1
        if ceil_mode and (size - 1) * ss >= n + pp:
            size -= 1
        sizes.append(size)
    return sizes


def ref_max_pool(x, k, s=None, p=0, d=1, ceil_mode=False):
    """Maxima and their flat in-plane indices (first maximum in row-major order), by loops."""
    nd = x.ndim - 2
    k = _tup(k, nd)
    s = k if s is None else _tup(s, nd)
    p, d = _tup(p, nd), _tup(d, nd)
    sizes = _pool_windows(x.shape[2:], k, s, p, d, ceil_mode)
    out = np.zeros((*x.shape[:2], *sizes))
    idx = np.zeros(out.shape, np.int64)
    for nc in np.ndindex(*x.shape[:2]):
        for pos in itertools.product(*map(range, sizes)):
            best, where = -np.inf, None
            for tap in itertools.product(*map(range, k)):
                at = tuple(pos[i] * s[i] - p[i] + tap[i] * d[i] for i in range(nd))
                if all(0 <= at[i] < x.shape[2 + i] for i in range(nd)) and x[(*nc, *at)] > best:
                    best, where = x[(*nc, *at)], at
            out[(*nc, *pos)] = best
            idx[(*nc, *pos)] = np.ravel_multi_index(where, x.shape[2:])
    return out, idx


def ref_avg_pool(x, k, s=None, p=0, ceil_mode=False, count_include_pad=True, divisor=None):
    """Window sums over real elements divided by PyTorch's count, by loops."""
    nd = x.ndim - 2
    k = _tup(k, nd)
    s = k if s is None else _tup(s, nd)
    p = _tup(p, nd)
    sizes = _pool_windows(x.shape[2:], k, s, p, (1,) * nd, ceil_mode)
    out = np.zeros((*x.shape[:2], *sizes))
    for nc in np.ndindex(*x.shape[:2]):
        for pos in itertools.product(*map(range, sizes)):
            total, count_pad, count_real = 0.0, 1, 1
            lo_hi = []
            for i in range(nd):
                start = pos[i] * s[i] - p[i]
                end = min(start + k[i], x.shape[2 + i] + p[i])
                count_pad *= end - start
                lo, hi = max(start, 0), min(end, x.shape[2 + i])
                count_real *= hi - lo
                lo_hi.append(slice(lo, hi))
            total = x[(*nc, *lo_hi)].sum()
            div = divisor or (count_pad if count_include_pad else count_real)
            out[(*nc, *pos)] = total / div
    return out


# ------------------------------------------------------------------------------ conv1d
CONV1D_CASES = [
    # x shape, w shape, stride, padding, dilation, groups, bias
    ((2, 3, 7), (4, 3, 3), 1, 0, 1, 1, True),
    ((1, 2, 9), (3, 2, 2), 2, 1, 1, 1, False),
    ((2, 4, 8), (6, 2, 3), 1, 2, 2, 2, True),  # groups and dilation
    ((1, 3, 6), (3, 1, 3), 3, 1, 1, 3, True),  # depthwise, stride skips the end
    ((1, 2, 6), (3, 2, 4), 1, "same", 1, 1, True),  # even kernel: the extra zero at the end
    ((1, 2, 6), (2, 2, 3), 1, "valid", 1, 1, False),
]


@pytest.mark.parametrize(("xs", "ws", "s", "p", "d", "g", "bias"), CONV1D_CASES)
def test_conv1d_matches_loops_and_gradchecks(xs, ws, s, p, d, g, bias):
    x, w = arr(1, *xs), arr(2, *ws)
    b = arr(3, ws[0]) if bias else None
    out = conv1d(x, w, b, s, p, d, g)
    np.testing.assert_allclose(out.numpy(), ref_conv(x, w, b, s, p, d, g), rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    if p == "same":
        assert out.shape[2] == xs[2]
    if bias:
        assert gradcheck(lambda x, w, b: conv1d(x, w, b, s, p, d, g), x, w, b)
        assert gradgradcheck(lambda x, w, b: conv1d(x, w, b, s, p, d, g) ** 2, x, w, b)
    else:
        assert gradcheck(lambda x, w: conv1d(x, w, None, s, p, d, g), x, w)
        assert gradgradcheck(lambda x, w: conv1d(x, w, None, s, p, d, g) ** 2, x, w)


def test_conv1d_keeps_float32():
    x, w = arr(4, 2, 3, 8).astype(np.float32), arr(5, 4, 3, 3).astype(np.float32)
    out = conv1d(x, w, np.zeros(4, np.float32), padding=1)
    assert out.dtype == np.float32 and out.shape == (2, 4, 8)
    np.testing.assert_allclose(out.numpy(), ref_conv(x.astype(np.float64), w.astype(np.float64),
                               padding=1), rtol=1e-5, atol=1e-5)  # fmt: skip


# ------------------------------------------------------------------------------ conv3d
CONV3D_CASES = [
    ((1, 2, 4, 4, 5), (3, 2, 2, 3, 2), 1, 0, 1, 1, True),
    ((2, 2, 5, 4, 4), (2, 2, 3, 2, 2), (2, 1, 2), (1, 0, 1), 1, 1, False),
    ((1, 4, 5, 5, 4), (4, 2, 2, 2, 2), 1, 1, (2, 1, 1), 2, True),  # groups, depth dilation
    ((1, 2, 4, 3, 4), (2, 2, 2, 3, 3), 1, "same", 1, 1, True),
]


@pytest.mark.parametrize(("xs", "ws", "s", "p", "d", "g", "bias"), CONV3D_CASES)
def test_conv3d_matches_loops_and_gradchecks(xs, ws, s, p, d, g, bias):
    x, w = arr(6, *xs), arr(7, *ws)
    b = arr(8, ws[0]) if bias else None
    out = conv3d(x, w, b, s, p, d, g)
    np.testing.assert_allclose(out.numpy(), ref_conv(x, w, b, s, p, d, g), rtol=1e-12,
                               atol=1e-12)  # fmt: skip
    if p == "same":
        assert out.shape[2:] == xs[2:]
    if bias:
        assert gradcheck(lambda x, w, b: conv3d(x, w, b, s, p, d, g), x, w, b)
    else:
        assert gradcheck(lambda x, w: conv3d(x, w, None, s, p, d, g), x, w)


def test_conv3d_second_derivatives_and_float32():
    x, w, b = arr(9, 1, 2, 3, 3, 3), arr(10, 2, 2, 2, 2, 2), arr(11, 2)
    assert gradgradcheck(lambda x, w, b: conv3d(x, w, b, 1, 1) ** 2, x, w, b)
    out = conv3d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), padding=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref_conv(x, w, b, 1, 1), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- conv_transpose
CONVT2D_CASES = [
    # x shape, w shape, stride, padding, output_padding, groups, dilation, bias
    ((1, 2, 3, 3), (2, 3, 2, 2), 1, 0, 0, 1, 1, True),
    ((2, 2, 3, 4), (2, 2, 3, 3), 2, 1, 1, 1, 1, True),
    ((1, 4, 3, 3), (4, 1, 3, 2), (2, 3), (1, 0), (0, 2), 2, 1, False),  # groups
    ((1, 3, 3, 3), (3, 1, 2, 2), 1, 0, 0, 3, 2, True),  # depthwise, dilated
    # output_padding >= stride, allowed below the dilation (as PyTorch): the rows past the
    # last window are zeros (plus the bias), or are still reached through the padding.
    ((1, 2, 3, 3), (2, 2, 2, 2), 1, 0, 2, 1, 3, True),
    ((1, 2, 3, 4), (2, 1, 3, 2), (1, 2), (1, 0), (1, 2), 1, (2, 3), True),
    ((1, 2, 3, 3), (2, 2, 3, 3), 2, 2, 2, 1, 3, False),
]


@pytest.mark.parametrize(("xs", "ws", "s", "p", "op", "g", "d", "bias"), CONVT2D_CASES)
def test_conv_transpose2d_matches_loops_and_gradchecks(xs, ws, s, p, op, g, d, bias):
    x, w = arr(12, *xs), arr(13, *ws)
    b = arr(14, ws[1] * g) if bias else None
    out = conv_transpose2d(x, w, b, s, p, op, g, d)
    np.testing.assert_allclose(out.numpy(), ref_conv_transpose(x, w, b, s, p, op, g, d),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    if bias:
        f = lambda x, w, b: conv_transpose2d(x, w, b, s, p, op, g, d)  # noqa: E731
        assert gradcheck(f, x, w, b)
        assert gradgradcheck(lambda x, w, b: f(x, w, b) ** 2, x, w, b)
    else:
        f2 = lambda x, w: conv_transpose2d(x, w, None, s, p, op, g, d)  # noqa: E731
        assert gradcheck(f2, x, w)
        assert gradgradcheck(lambda x, w: f2(x, w) ** 2, x, w)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    # <conv2d(y, W), x> == <y, conv_transpose2d(x, W)> for the same settings.
    # output_padding picks the size among those that conv2d maps to x's: W 7 or 8 -> 4.
    y, w, x = arr(15, 2, 4, 9, 8), arr(16, 6, 2, 3, 3), arr(17, 2, 6, 5, 4)
    back = conv_transpose2d(x, w, None, 2, 1, (0, 1), 2).numpy()
    assert back.shape == y.shape
    lhs = (conv2d(y, w, None, 2, 1, 1, 2).numpy() * x).sum()
    np.testing.assert_allclose(lhs, (y * back).sum(), rtol=1e-12)


@pytest.mark.parametrize(("xs", "ws", "s", "p", "op", "g", "d"), [
    ((2, 2, 5), (2, 3, 3), 1, 0, 0, 1, 1),
    ((1, 4, 4), (4, 1, 2), 3, 1, 2, 2, 2),
    ((1, 2, 4), (2, 2, 3), 1, 1, 2, 1, 3),  # output_padding past the stride, below dilation
])  # fmt: skip
def test_conv_transpose1d_matches_loops_and_gradchecks(xs, ws, s, p, op, g, d):
    x, w, b = arr(18, *xs), arr(19, *ws), arr(20, ws[1] * g)
    out = conv_transpose1d(x, w, b, s, p, op, g, d)
    np.testing.assert_allclose(out.numpy(), ref_conv_transpose(x, w, b, s, p, op, g, d),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    f = lambda x, w, b: conv_transpose1d(x, w, b, s, p, op, g, d)  # noqa: E731
    assert gradcheck(f, x, w, b)
    assert gradgradcheck(lambda x, w, b: f(x, w, b) ** 2, x, w, b)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), g=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2),
       h=st.integers(1, 4), w=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       p=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       d=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       q=st.tuples(st.integers(0, 2), st.integers(0, 2)), seed=st.integers(0, 2**16))
def test_conv_transpose2d_property_against_loops_and_conv2d(n, g, cg, og, h, w, kh, kw, s, p,
                                                            d, q, seed):
    q = tuple(min(qi, max(si, di) - 1) for qi, si, di in zip(q, s, d))  # PyTorch's limit
    sizes = [(i - 1) * si - 2 * pi + di * (k - 1) + qi + 1
             for i, si, pi, di, k, qi in zip((h, w), s, p, d, (kh, kw), q)]
    if min(sizes) < 1:
        return
    x, wt = arr(seed, n, g * cg, h, w), arr(seed + 1, g * cg, og, kh, kw)
    out = conv_transpose2d(x, wt, None, s, p, q, g, d)
    np.testing.assert_allclose(out.numpy(), ref_conv_transpose(x, wt, None, s, p, q, g, d),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    # It is conv2d's transpose: <conv2d(y, W), x> == <y, conv_transpose2d(x, W)> (when
    # output_padding < stride; past it, conv2d of the output has more windows than x).
    if any(qi >= si for qi, si in zip(q, s)):
        return
    y = arr(seed + 2, *out.shape)
    np.testing.assert_allclose((conv2d(y, wt, None, s, p, d, g).numpy() * x).sum(),
                               (y * out.numpy()).sum(), rtol=1e-10, atol=1e-10)  # fmt: skip


def test_conv_transpose_keeps_float32():
    x, w = arr(21, 1, 2, 3, 3).astype(np.float32), arr(22, 2, 3, 3, 3).astype(np.float32)
    out = conv_transpose2d(x, w, np.ones(3, np.float32), 2)
    assert out.dtype == np.float32 and out.shape == (1, 3, 7, 7)


# ----------------------------------------------------------------------- 1-D/3-D pooling
@pytest.mark.parametrize(("k", "s", "p", "d", "ceil"), [
    (2, None, 0, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False), (3, 2, 0, 1, True),
])  # fmt: skip
def test_max_pool1d_matches_loops_and_gradchecks(k, s, p, d, ceil):
    x = distinct(23, 2, 3, 9)
    out, idx = max_pool1d(x, k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = ref_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert idx.dtype == np.int64 and not idx.requires_grad
    assert gradcheck(lambda t: max_pool1d(t, k, s, p, d, ceil), x)
    assert gradgradcheck(lambda t: max_pool1d(t, k, s, p, d, ceil) ** 2, x)


@pytest.mark.parametrize(("k", "s", "p", "d", "ceil"), [
    (2, None, 0, 1, False), ((2, 3, 2), (1, 2, 2), (1, 1, 0), 1, True),
    (2, 1, 0, (2, 1, 1), False), (3, 2, 1, 1, False),
])  # fmt: skip
def test_max_pool3d_matches_loops_and_gradchecks(k, s, p, d, ceil):
    x = distinct(24, 1, 2, 5, 5, 4)
    out = max_pool3d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref_max_pool(x, k, s, p, d, ceil)[0])
    assert gradcheck(lambda t: max_pool3d(t, k, s, p, d, ceil), x)
    assert gradgradcheck(lambda t: max_pool3d(t, k, s, p, d, ceil) ** 2, x)


def test_max_pool3d_ties_go_to_the_first_maximum_in_dhw_order():
    x = cr.tensor(np.ones((1, 1, 2, 2, 2)), requires_grad=True)
    max_pool3d(x, 2).sum().backward()
    expected = np.zeros((1, 1, 2, 2, 2))
    expected[0, 0, 0, 0, 0] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    # The maximum at depth 1 wins over an equal one later in the first plane's order.
    y = np.zeros((1, 1, 2, 2, 2))
    y[0, 0, 1, 0, 0] = y[0, 0, 0, 1, 1] = 5.0
    yt = cr.tensor(y, requires_grad=True)
    max_pool3d(yt, 2).sum().backward()
    assert yt.grad.numpy()[0, 0, 0, 1, 1] == 1 and yt.grad.numpy().sum() == 1


@pytest.mark.parametrize(("k", "s", "p", "ceil", "cip"), [
    (2, None, 0, False, True), (3, 2, 1, True, True), (3, 2, 1, True, False),
    (2, 1, 1, False, False),
])  # fmt: skip
def test_avg_pool1d_matches_loops_and_gradchecks(k, s, p, ceil, cip):
    x = arr(25, 2, 2, 8)
    out = avg_pool1d(x, k, s, p, ceil, cip)
    np.testing.assert_allclose(out.numpy(), ref_avg_pool(x, k, s, p, ceil, cip), rtol=1e-12,
                               atol=1e-14)  # fmt: skip
    assert gradcheck(lambda t: avg_pool1d(t, k, s, p, ceil, cip), x)
    assert gradgradcheck(lambda t: avg_pool1d(t, k, s, p, ceil, cip) ** 2, x)


@pytest.mark.parametrize(("k", "s", "p", "ceil", "cip", "div"), [
    (2, None, 0, False, True, None),
    ((2, 3, 2), (1, 2, 2), (1, 1, 0), True, True, None),
    ((2, 3, 2), (1, 2, 2), (1, 1, 0), True, False, None),
    (3, 2, 1, False, False, None),
    (2, 2, 1, True, True, 5),
])  # fmt: skip
def test_avg_pool3d_matches_loops_and_gradchecks(k, s, p, ceil, cip, div):
    x = arr(26, 1, 2, 5, 4, 5)
    out = avg_pool3d(x, k, s, p, ceil, cip, div)
    np.testing.assert_allclose(out.numpy(), ref_avg_pool(x, k, s, p, ceil, cip, div),
                               rtol=1e-12, atol=1e-14)  # fmt: skip
    assert gradcheck(lambda t: avg_pool3d(t, k, s, p, ceil, cip, div), x)
    assert gradgradcheck(lambda t: avg_pool3d(t, k, s, p, ceil, cip, div) ** 2, x)


def test_pools_keep_float32():
    x = arr(27, 1, 2, 4, 4, 4).astype(np.float32)
    assert max_pool3d(x, 2).dtype == np.float32 and avg_pool3d(x, 2).dtype == np.float32
    y = x[:, :, 0, 0]
    assert max_pool1d(y, 2).dtype == np.float32 and avg_pool1d(y, 2).dtype == np.float32


# ------------------------------------------------------- max_pool2d indices and unpooling
@pytest.mark.parametrize(("k", "s", "p", "d", "ceil"), [
    (2, None, 0, 1, False), (3, 2, 1, 1, True), ((2, 3), (1, 2), (1, 1), (2, 1), False),
])  # fmt: skip
def test_max_pool2d_returns_pytorchs_flat_indices(k, s, p, d, ceil):
    x = distinct(28, 2, 2, 6, 7)
    out, idx = max_pool2d(cr.tensor(x, requires_grad=True), k, s, p, d, ceil, return_indices=True)
    ref, ref_idx = ref_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    assert out.requires_grad and not idx.requires_grad and idx.dtype == np.int64


def test_max_unpool2d_puts_each_maximum_back():
    x = distinct(29, 2, 3, 4, 6)
    out, idx = max_pool2d(x, 2, return_indices=True)
    up = max_unpool2d(out, idx, 2)
    expected = np.zeros_like(x)
    for n, c, i, j in np.ndindex(out.shape):
        r, q = divmod(int(idx.numpy()[n, c, i, j]), 6)
        expected[n, c, r, q] = out.numpy()[n, c, i, j]
    np.testing.assert_array_equal(up.numpy(), expected)
    assert up.shape == x.shape
    # output_size may be the full shape (as PyTorch's module takes input.size()).
    x2 = distinct(30, 1, 1, 5, 5)
    o2, i2 = max_pool2d(x2, 2, return_indices=True)
    assert max_unpool2d(o2, i2, 2).shape == (1, 1, 4, 4)
    assert max_unpool2d(o2, i2, 2, output_size=x2.shape).shape == (1, 1, 5, 5)
    idx_np = i2.numpy()
    assert gradcheck(lambda t: max_unpool2d(t, idx_np, 2, output_size=(5, 5)), o2.numpy())
    assert gradgradcheck(lambda t: max_unpool2d(t, idx_np, 2, output_size=(5, 5)) ** 2,
                         o2.numpy())  # fmt: skip


def test_max_unpool2d_repeated_index_keeps_the_last_value_and_only_its_gradient():
    x = cr.tensor([[[[1.0, 2.0, 3.0]]]], requires_grad=True)
    idx = np.array([[[[1, 1, 0]]]])
    up = max_unpool2d(x, idx, (1, 2), output_size=(1, 2))
    np.testing.assert_array_equal(up.numpy(), [[[[3.0, 2.0]]]])
    up.backward(np.array([[[[10.0, 20.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, 20.0, 10.0]]]])
    assert gradcheck(lambda t: max_unpool2d(t, idx, (1, 2), output_size=(1, 2)), x.numpy())


# ---------------------------------------------------------------------- unfold / fold
def ref_unfold(x, k, d=1, p=0, s=1):
    k, d, p, s = (_tup(v, 2) for v in (k, d, p, s))
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    n, c = x.shape[:2]
    ho = (xp.shape[2] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (xp.shape[3] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c * k[0] * k[1], ho * wo))
    for ni, ci, a, bb, i, j in itertools.product(range(n), range(c), range(k[0]), range(k[1]),
                                                  range(ho), range(wo)):  # fmt: skip
        out[ni, (ci * k[0] + a) * k[1] + bb, i * wo + j] = xp[
            ni, ci, i * s[0] + a * d[0], j * s[1] + bb * d[1]
        ]
    return out


@pytest.mark.parametrize(("k", "d", "p", "s"), [
    (2, 1, 0, 1), (3, 1, 1, 2), ((2, 3), (2, 1), (1, 0), (1, 2)), (1, 1, 0, 1),
])  # fmt: skip
def test_unfold_and_fold_match_loops_and_are_adjoint(k, d, p, s):
    x = arr(31, 2, 3, 5, 6)
    cols = unfold(x, k, d, p, s)
    np.testing.assert_array_equal(cols.numpy(), ref_unfold(x, k, d, p, s))
    # fold is the adjoint: <unfold(x), c> == <x, fold(c)>.
    c = arr(32, *cols.shape)
    back = fold(c, (5, 6), k, d, p, s)
    assert back.shape == x.shape
    np.testing.assert_allclose((cols.numpy() * c).sum(), (x * back.numpy()).sum(), rtol=1e-12)
    assert gradcheck(lambda t: unfold(t, k, d, p, s), x)
    assert gradgradcheck(lambda t: unfold(t, k, d, p, s) ** 2, x)
    assert gradcheck(lambda t: fold(t, (5, 6), k, d, p, s), c)
    assert gradgradcheck(lambda t: fold(t, (5, 6), k, d, p, s) ** 2, c)


def test_unfold_never_aliases_its_input_and_keeps_float32():
    x = np.ones((1, 2, 3, 3), np.float32)
    cols = unfold(x, 1)
    cols.numpy()[...] = 5.0
    assert x.max() == 1.0 and cols.dtype == np.float32
    assert fold(unfold(x, 2), 3, 2).dtype == np.float32


def test_unfold_conv_equivalence():
    # A convolution is unfold, then a product with the flattened weight.
    x, w = arr(33, 2, 3, 5, 5), arr(34, 4, 3, 3, 3)
    cols = unfold(x, 3, padding=1)
    out = (w.reshape(4, -1) @ cols.numpy()).reshape(2, 4, 5, 5)
    np.testing.assert_allclose(out, conv2d(x, w, padding=1).numpy(), rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------- pixel (un)shuffle
def test_pixel_shuffle_is_pytorchs_and_unshuffle_inverts_it():
    x = arr(35, 2, 8, 3, 2)
    y = pixel_shuffle(x, 2)
    assert y.shape == (2, 2, 6, 4)
    for n, c, h, w in np.ndindex(y.shape):
        assert y.numpy()[n, c, h, w] == x[n, c * 4 + (h % 2) * 2 + w % 2, h // 2, w // 2]
    np.testing.assert_array_equal(pixel_unshuffle(y, 2).numpy(), x)
    assert gradcheck(lambda t: pixel_shuffle(t, 2) ** 2, x)
    assert pixel_shuffle(np.zeros((3, 2, 9, 1, 1), np.float32), 3).shape == (3, 2, 1, 3, 3)


# ----------------------------------------------------------------- table and errors
def test_new_primitives_are_registered_with_formulas():
    for name in ("unfold", "fold", "max_unpool2d", "max_unpool2d_backward"):
        assert primitive_table[name].formula
    # conv_transpose2d is conv2d's input gradient, not a rule of its own.
    x = cr.tensor(arr(36, 1, 1, 2, 2), requires_grad=True)
    assert conv_transpose2d(x, np.ones((1, 1, 2, 2))).grad_fn.name == "conv2d_input_grad"


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: conv1d(np.zeros((1, 2, 5, 5)), np.zeros((1, 2, 3))), ValueError,
     "conv1d: input must be 3-D (N, C_in, L), got shape (1, 2, 5, 5) (4-D)"),
    (lambda: conv1d(np.zeros((1, 2, 5)), np.zeros((1, 3, 3))), ValueError,
     "conv1d: input of shape (1, 2, 5) has 2 channels, but weight of shape (1, 3, 3) expects 3"),
    (lambda: conv1d(np.zeros((1, 2, 2)), np.zeros((1, 2, 3))), ValueError,
     "conv1d: kernel of size (3,) (dilation (1,)) spans 3 along L, more than the padded "
     "input's 2"),
    (lambda: conv1d(np.zeros((1, 2, 5)), np.zeros((1, 2, 3)), stride=2, padding="same"),
     ValueError, "conv1d: padding='same' needs stride 1"),
    (lambda: conv3d(np.zeros((1, 2, 5, 5)), np.zeros((1, 2, 3, 3, 3))), ValueError,
     "conv3d: input must be 5-D (N, C_in, D, H, W), got shape (1, 2, 5, 5) (4-D) (add a "
     "batch axis"),
    (lambda: conv3d(np.zeros((1, 2, 5, 5, 5)), np.zeros((1, 2, 3, 3, 3)), stride=(1, 2)),
     TypeError, "conv3d: stride must be an int or a tuple of 3 ints, got (1, 2)"),
    (lambda: conv3d(np.zeros((1, 2, 5, 5, 5)), np.zeros((1, 2, 3, 3, 3)), np.zeros(2)),
     ValueError, "conv3d: bias of shape (2,) does not match weight of shape (1, 2, 3, 3, 3)"),
    (lambda: conv_transpose2d(np.zeros((1, 2, 3, 3)), np.zeros((3, 2, 2, 2))), ValueError,
     "conv_transpose2d: input of shape (1, 2, 3, 3) has 2 channels, but weight of shape "
     "(3, 2, 2, 2) expects 3"),
    (lambda: conv_transpose2d(np.zeros((1, 2, 3, 3)), np.zeros((2, 2, 2, 2)), stride=2,
                              output_padding=2), ValueError,
     "conv_transpose2d: output_padding (2, 2) must be smaller than stride (2, 2) or dilation "
     "(1, 1) along H (as in PyTorch)"),
    (lambda: conv_transpose2d(np.zeros((1, 2, 1, 1)), np.zeros((2, 2, 1, 1)), padding=1),
     ValueError, "gives an output of size -1 along H"),
    (lambda: conv_transpose1d(np.zeros((1, 2, 3), np.int64), np.zeros((2, 2, 2))), TypeError,
     "conv_transpose1d: input must be floating point, got dtype int64"),
    (lambda: max_pool1d(np.zeros((1, 2, 5)), 4, padding=3), ValueError,
     "max_pool1d: padding (3,) must be at most half of kernel_size (4,)"),
    (lambda: max_pool3d(np.zeros((1, 2, 2, 5, 5)), 3), ValueError,
     "max_pool3d: kernel of size (3, 3, 3) (dilation (1, 1, 1)) spans 3 along D"),
    (lambda: max_pool3d(np.zeros((1, 2, 4, 4, 4)), 2, return_indices=True), ValueError,
     "max_pool3d: return_indices=True is not supported"),
    (lambda: avg_pool3d(np.zeros((1, 2, 4, 4)), 2), ValueError,
     "avg_pool3d: input must be 5-D (N, C, D, H, W)"),
    (lambda: avg_pool3d(np.zeros((1, 2, 4, 4, 4)), 2, divisor_override=0), ValueError,
     "avg_pool3d: divisor_override must be positive"),
    (lambda: avg_pool1d(np.zeros((1, 2, 4)), 0), ValueError,
     "avg_pool1d: kernel_size must be >= 1"),
    (lambda: unfold(np.zeros((1, 2, 3)), 2), ValueError, "unfold: input must be 4-D"),
    (lambda: fold(np.zeros((1, 8, 5)), 3, 2), ValueError,
     "fold: input of shape (1, 8, 5) does not fit kernel_size (2, 2) and output_size (3, 3): "
     "expected (N, C*4, 4)"),
    (lambda: max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 2)), 2), ValueError,
     "max_unpool2d: indices must be integers of the input's shape (1, 1, 2, 2), got shape "
     "(1, 1, 2, 2) and dtype float64"),
    (lambda: max_unpool2d(np.zeros((1, 1, 1, 1)), np.full((1, 1, 1, 1), 4), 2), ValueError,
     "max_unpool2d: indices must lie in [0, 4) for an output of size (2, 2), got values in "
     "[4, 4]"),
    (lambda: pixel_shuffle(np.zeros((1, 6, 2, 2)), 2), ValueError,
     "pixel_shuffle: input of shape (1, 6, 2, 2) must be (*, C * 2^2, H, W)"),
    (lambda: pixel_unshuffle(np.zeros((1, 1, 3, 4)), 2), ValueError,
     "pixel_unshuffle: input of shape (1, 1, 3, 4) must be (*, C, H, W) with H and W "
     "divisible by downscale_factor = 2"),
    (lambda: pixel_shuffle(np.zeros((1, 4, 2, 2)), 0), ValueError,
     "pixel_shuffle: upscale_factor must be >= 1"),
])  # fmt: skip
def test_errors_name_the_operation_and_shapes(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
