"""conv2d's fast "flat" path (stride 1, one group, C_in*kh*kw large enough): forward, input gradient
and weight gradient against the general im2col path and a direct-loop reference, gradients
and second derivatives against finite differences, dtypes and layouts of the results; the
im2col a recorded node keeps, and the per-thread pool its large arrays come from."""

from __future__ import annotations

from collections import OrderedDict

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
    # Wider output than input (more padding than 'same'): the row pitch is Wo, not W.
    (2, 3, 4, 5, 4, 3, 3, ((2, 1), (3, 2)), (1, 1)),
    (2, 3, 4, 4, 3, 3, 3, ((2, 2), (3, 3)), (1, 1)),
    # Padding wider than the dilated kernel reaches: some offsets read nothing but padding.
    (1, 2, 3, 3, 2, 2, 2, ((0, 0), (4, 1)), (1, 2)),
]


def _general(monkeypatch: pytest.MonkeyPatch, fn, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(C, "_FLAT_MIN_K", 10**9)
        return fn(*args, **kwargs)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flat_path_equals_general_path(case, dtype, monkeypatch):
    n, c, o, h, w, kh, kw, pads, dil = case
    monkeypatch.setattr(C, "_FLAT_MIN_K", 1)
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


def _flat_everywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(C, "_FLAT_MIN_K", 1)


def _grads(x, w, b, g, **kw):
    xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
    out = cr.conv2d(xt, wt, bt, **kw)
    (out * g).sum().backward()
    return out, xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@pytest.mark.parametrize("case", [c for c in CASES if all(a == b for a, b in c[7])])
def test_recorded_flat_node_keeps_its_columns_and_gives_the_general_gradients(case, monkeypatch):
    # A recorded flat conv2d keeps its im2col for the weight gradient: the results are the
    # general path's.
    n, c, o, h, w, kh, kw, pads, dil = case
    x, wt = RNG.standard_normal((n, c, h, w)), RNG.standard_normal((o, c, kh, kw))
    b = RNG.standard_normal(o)
    opts = {"padding": (pads[0][0], pads[1][0]), "dilation": dil}
    ref = ref_conv2d(x, wt, b, **opts)
    g = RNG.standard_normal(ref.shape)
    want = _general(monkeypatch, _grads, x, wt, b, g, **opts)
    _flat_everywhere(monkeypatch)
    out = cr.conv2d(cr.tensor(x), cr.tensor(wt, requires_grad=True), b, **opts)
    saved = out._args[-1]
    assert isinstance(saved, C._FlatSaved) and saved.cols is not None
    got = _grads(x, wt, b, g, **opts)
    np.testing.assert_allclose(got[0].numpy(), ref, rtol=1e-12, atol=1e-12)
    for a, r in zip(got[1:], want[1:]):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12 * np.abs(r).max())
    # Without the kept columns (a layer above the size limit) the weight gradient is rebuilt.
    monkeypatch.setattr(C, "_SAVE_COLS_MAX_BYTES", 0)
    again = _grads(x, wt, b, g, **opts)
    for a, r in zip(again[1:], want[1:]):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12 * np.abs(r).max())


def test_flat_node_backward_twice_with_other_upstream_gradients(monkeypatch):
    # retain_graph: the second backward brings another g (the kept im2col serves both; nothing
    # derived from the first g may be reused).
    _flat_everywhere(monkeypatch)
    x = cr.tensor(RNG.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((4, 3, 3, 3)), requires_grad=True)
    out = cr.conv2d(x, w, padding=1)
    g1, g2 = RNG.standard_normal(out.shape), RNG.standard_normal(out.shape)
    (out * g1).sum().backward(retain_graph=True)
    dx1, dw1 = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    (out * g2).sum().backward()
    np.testing.assert_allclose(dw1, C._conv2d_weight_grad_forward(C.NP, x.numpy(), g1, w.shape,
                               ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)), rtol=1e-12)  # fmt: skip
    want_dx = ref_conv2d_input_grad(g2, w.numpy(), x.shape)
    np.testing.assert_allclose(x.grad.numpy(), want_dx, rtol=1e-10, atol=1e-10)
    assert not np.allclose(dx1, want_dx)


def ref_conv2d_input_grad(g, w, x_shape):
    """d sum(conv2d(x, w, padding=1) * g) / dx by loops over the kernel (3x3, padding 1)."""
    n, c, h, wd = x_shape
    dx = np.zeros((n, c, h + 2, wd + 2))
    for p in range(3):
        for q in range(3):
            dx[:, :, p : p + h, q : q + wd] += np.einsum("nohw,oc->nchw", g, w[:, :, p, q])
    return dx[:, :, 1:-1, 1:-1]


def test_flat_node_under_no_grad_and_without_weight_grad_keeps_nothing(monkeypatch):
    _flat_everywhere(monkeypatch)
    x = cr.tensor(RNG.standard_normal((1, 2, 4, 4)), requires_grad=True)
    w = RNG.standard_normal((3, 2, 3, 3))
    out = cr.conv2d(x, w, padding=1)  # no weight gradient: nothing to keep
    assert not any(isinstance(a, C._FlatSaved) for a in out._args)
    with cr.no_grad():
        y = cr.conv2d(x, cr.tensor(w, requires_grad=True), padding=1)
    assert y.grad_fn is None


def test_pooled_arrays_are_reused_only_once_nothing_references_them():
    # The flat path's large arrays come from a per-thread pool (no page faults per step); an
    # output or a kept im2col that is still referenced must never be handed out again.
    x1, x2 = RNG.standard_normal((2, 2, 16, 6, 6))
    w = cr.tensor(RNG.standard_normal((4, 16, 3, 3)), requires_grad=True)
    assert C._flat(C.NP, ((1, 1), ((1, 1), (1, 1)), (1, 1), 1), w.shape)
    out1 = cr.conv2d(x1, w, padding=1)
    first = out1.numpy().copy()
    out2 = cr.conv2d(x2, w, padding=1)  # while out1 and its node's im2col are alive
    assert not np.shares_memory(out1.numpy(), out2.numpy())
    np.testing.assert_array_equal(out1.numpy(), first)
    g = RNG.standard_normal(first.shape)
    (out1 * g).sum().backward()  # the im2col kept by out1's node is x1's, not x2's
    want = ref_conv2d_weight_grad(x1, g)
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-10, atol=1e-10)
    # Once dropped, an output's memory serves the next call of that shape.
    with cr.no_grad():
        y = cr.conv2d(x1, w, padding=1)
        address = y.numpy().__array_interface__["data"][0]
        del y
        z = cr.conv2d(x2, w, padding=1)
    assert z.numpy().__array_interface__["data"][0] == address
    np.testing.assert_allclose(z.numpy(), ref_conv2d(x2, w.numpy(), None, padding=1), rtol=1e-12)


def ref_conv2d_weight_grad(x, g):
    """d sum(conv2d(x, w, padding=1) * g) / dw by loops over the kernel (3x3, padding 1)."""
    h, wd = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    dw = np.zeros((g.shape[1], x.shape[1], 3, 3))
    for p in range(3):
        for q in range(3):
            dw[:, :, p, q] = np.einsum("nohw,nchw->oc", g, xp[:, :, p : p + h, q : q + wd])
    return dw


def test_flat_path_in_threads_at_once():
    # Each thread has its own pool: two threads convolving at once get their own results.
    import threading

    w = RNG.standard_normal((8, 16, 3, 3)).astype(np.float32)
    xs = [RNG.standard_normal((4, 16, 8, 8)).astype(np.float32) for _ in range(2)]
    want = [ref_conv2d(x.astype(np.float64), w.astype(np.float64), None, padding=1) for x in xs]
    errors: list[str] = []

    def work(i: int) -> None:
        for _ in range(30):
            wt = cr.tensor(w, requires_grad=True)
            out = cr.conv2d(xs[i], wt, padding=1)
            out.sum().backward()
            if not np.allclose(out.numpy(), want[i], rtol=1e-4, atol=1e-4):
                errors.append(f"thread {i}: wrong output")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_pool_stays_under_its_caps(monkeypatch):
    # Many shapes (a batch size that changes) keep at most _POOL_SHAPES shapes and
    # _POOL_MAX_BYTES per thread; an array larger than a quarter of the cap is never kept.
    monkeypatch.setattr(C, "_POOL_SHAPES", 4)
    monkeypatch.setattr(C, "_POOL_MAX_BYTES", 64 << 10)
    monkeypatch.setattr(C._pool, "arrays", OrderedDict())
    monkeypatch.setattr(C._pool, "nbytes", 0)
    w = RNG.standard_normal((4, 16, 3, 3))
    for n in range(1, 12):
        out = cr.conv2d(RNG.standard_normal((n, 16, 4, 4)), w, padding=1)
        assert out.shape == (n, 4, 4, 4)
        assert len(C._pool.arrays) <= 4
        kept = [a for arrays in C._pool.arrays.values() for a in arrays]
        assert C._pool.nbytes == sum(a.nbytes for a in kept) <= 64 << 10
        assert all(a.nbytes <= 16 << 10 for a in kept)
    assert kept  # the small ones are kept


@pytest.mark.parametrize("nd", [1, 3])
def test_conv1d_and_conv3d_nodes_on_the_flat_path(nd, monkeypatch):
    # conv1d (a unit height) and conv3d (one conv2d per kernel depth) record flat conv2d
    # nodes that keep their im2col too; their gradients are the general path's.
    conv = {1: cr.conv1d, 3: cr.conv3d}[nd]
    x = RNG.standard_normal((2, 12) + (5,) * nd)
    w = RNG.standard_normal((4, 12) + (3,) * nd)
    b = RNG.standard_normal(4)
    g = RNG.standard_normal((2, 4) + (5,) * nd)

    def grads():
        xt, wt, bt = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
        out = conv(xt, wt, bt, padding=1)
        (out * g).sum().backward()
        return out.numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    want = _general(monkeypatch, grads)
    assert C._flat(C.NP, ((1, 1), ((0, 0), (1, 1)), (1, 1), 1), (4, 12, 1, 3))
    kept: list[object] = []
    real = C._FlatSaved.__init__

    def spy(self):
        real(self)
        kept.append(self)

    monkeypatch.setattr(C._FlatSaved, "__init__", spy)
    got = grads()
    assert len(kept) == (1 if nd == 1 else 3) and all(s.cols is not None for s in kept)
    for a, r in zip(got, want):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-12 * np.abs(r).max())


def test_flat_node_sees_a_gradient_array_changed_in_place_between_walks(monkeypatch):
    # The same seed array, doubled in place between two walks of a retained graph: both
    # gradients double (nothing made from the first walk's g is kept on the node).
    _flat_everywhere(monkeypatch)
    x = cr.tensor(RNG.standard_normal((2, 3, 5, 5)), requires_grad=True)
    w = cr.tensor(RNG.standard_normal((4, 3, 3, 3)), requires_grad=True)
    out = cr.conv2d(x, w, padding=1)
    seed = RNG.standard_normal(out.shape)
    out.backward(seed, retain_graph=True)
    dx1, dw1 = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    seed *= 2
    out.backward(seed)
    np.testing.assert_allclose(x.grad.numpy(), 2 * dx1, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), 2 * dw1, rtol=1e-12)
