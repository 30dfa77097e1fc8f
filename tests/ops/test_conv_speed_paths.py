"""conv2d's fast "flat" path (stride 1, one group, C_in*kh*kw large enough): forward, input gradient
and weight gradient against the general im2col path and a direct-loop reference, gradients
and second derivatives against finite differences, dtypes and layouts of the results."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import conv as C
from chainrule.testing import gradcheck, gradgradcheck
from tests.ops.test_conv import ref_conv2d

RNG = np.random.default_rng(11)

# (N, C_in, C_out, H, W, kh, kw, pads ((top, bottom), (left, right)), dilation)
CASES = [
    (3, 4, 5, 7, 6, 3, 3, ((1, 1), (1, 1)), (1, 1)),
    (2, 8, 3, 5, 9, 2, 3, ((0, 2), (1, 0)), (2, 1)),
    (2, 16, 32, 8, 8, 3, 3, ((1, 1), (1, 1)), (1, 1)),
    (1, 5, 2, 4, 4, 4, 4, ((0, 0), (0, 0)), (1, 1)),
    (2, 7, 4, 10, 3, 1, 3, ((0, 0), (2, 2)), (1, 2)),
    (2, 32, 3, 3, 3, 1, 1, ((0, 0), (0, 0)), (1, 1)),
]


def _general(monkeypatch: pytest.MonkeyPatch, fn, *args):
    with monkeypatch.context() as m:
        m.setattr(C, "_FLAT_MIN_K", 10**9)
        m.setattr(C, "_FLAT_MIN_K_INPUT", 10**9)
        return fn(*args)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flat_path_equals_general_path(case, dtype, monkeypatch):
    n, c, o, h, w, kh, kw, pads, dil = case
    monkeypatch.setattr(C, "_FLAT_MIN_K", 1)
    monkeypatch.setattr(C, "_FLAT_MIN_K_INPUT", 1)
    cfg = ((1, 1), pads, dil, 1)
    assert C._flat(C.NP, cfg, (o, c, kh, kw))
    x = RNG.standard_normal((n, c, h, w)).astype(dtype)
    wt = RNG.standard_normal((o, c, kh, kw)).astype(dtype)
    b = RNG.standard_normal(o).astype(dtype)
    out = C._conv2d_forward(C.NP, x, wt, b, cfg)
    g = RNG.standard_normal(out.shape).astype(dtype)
    got = (
        out,
        C._conv2d_input_grad_forward(C.NP, g, wt, x.shape, cfg),
        C._conv2d_weight_grad_forward(C.NP, x, g, wt.shape, cfg),
    )
    want = (
        _general(monkeypatch, C._conv2d_forward, C.NP, x, wt, b, cfg),
        _general(monkeypatch, C._conv2d_input_grad_forward, C.NP, g, wt, x.shape, cfg),
        _general(monkeypatch, C._conv2d_weight_grad_forward, C.NP, x, g, wt.shape, cfg),
    )
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, r in zip(got, want):
        assert a.shape == r.shape
        assert a.dtype == dtype
        assert a.flags.c_contiguous
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol * np.abs(r).max())


def test_flat_forward_against_direct_loops():
    # The CNN example's second layer at a small batch: takes the flat path by default.
    x, w = RNG.standard_normal((2, 32, 8, 8)), RNG.standard_normal((4, 32, 3, 3))
    b = RNG.standard_normal(4)
    assert C._flat(C.NP, ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), w.shape)
    out = cr.conv2d(x, w, b, padding=1)
    np.testing.assert_allclose(out.numpy(), ref_conv2d(x, w, b, padding=1), rtol=1e-12, atol=1e-12)
    out = cr.conv2d(x, w, None, padding=(0, 2), dilation=(1, 2))
    np.testing.assert_allclose(
        out.numpy(), ref_conv2d(x, w, None, padding=(0, 2), dilation=(1, 2)), rtol=1e-12, atol=1e-12
    )


def test_flat_gradients_and_second_derivatives(monkeypatch):
    x, w = RNG.standard_normal((2, 4, 5, 5)), RNG.standard_normal((3, 4, 3, 3))
    b = RNG.standard_normal(3)
    monkeypatch.setattr(C, "_FLAT_MIN_K", 1)
    monkeypatch.setattr(C, "_FLAT_MIN_K_INPUT", 1)
    assert C._flat(C.NP, ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), w.shape)

    def f(x, w, b):
        return cr.tanh(cr.conv2d(x, w, b, padding=1)).sum()

    assert gradcheck(f, x, w, b)
    assert gradgradcheck(f, x, w, b)
    assert gradcheck(lambda x, w: cr.conv2d(x, w, padding=(2, 0), dilation=2), x, w)


def test_flat_float32_stays_float32_and_mixed_bias_promotes():
    x = RNG.standard_normal((2, 16, 6, 6)).astype(np.float32)
    w = cr.tensor(RNG.standard_normal((8, 16, 3, 3)).astype(np.float32), requires_grad=True)
    out = cr.conv2d(x, w, padding=1)
    assert out.dtype == np.float32
    out.sum().backward()
    assert w.grad.dtype == np.float32
    b64 = RNG.standard_normal(8)
    assert cr.conv2d(x, w.detach(), b64, padding=1).dtype == np.float64
