"""RNN, LSTM, GRU and their cells: values against a plain-NumPy reference written here from
PyTorch's documented equations, shapes for every flag combination, PyTorch's parameter names
and layouts, float64 gradchecks of a tiny model's loss with respect to its parameters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import expit

import chainrule as cr
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(23)


# ----------------------------------------------------------------- NumPy reference
def ref_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.T + b_ih
    gh = h @ w_hh.T + b_hh
    if mode == "RNN_TANH":
        return np.tanh(gi + gh), None
    if mode == "RNN_RELU":
        return np.maximum(gi + gh, 0), None
    if mode == "LSTM":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = expit(f) * c + expit(i) * np.tanh(g)
        return expit(o) * np.tanh(c), c
    ir, iz, in_ = np.split(gi, 3, axis=-1)
    hr, hz, hn = np.split(gh, 3, axis=-1)
    r, z = expit(ir + hr), expit(iz + hz)
    n = np.tanh(in_ + r * hn)
    return (1 - z) * n + z * h, None


def ref_rnn(module, x, h0=None, c0=None):
    """PyTorch's multi-layer (bi)directional recurrence on (L, N, input_size) float64 arrays."""
    p = {name: t.numpy() for name, t in module.named_parameters()}
    dirs = 2 if module.bidirectional else 1
    steps, n = x.shape[:2]
    hsz = module.hidden_size
    h0 = np.zeros((module.num_layers * dirs, n, hsz)) if h0 is None else h0
    c0 = np.zeros_like(h0) if c0 is None else c0
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        outs = []
        for d, sfx in enumerate(["", "_reverse"][:dirs]):
            k = f"l{layer}{sfx}"
            w_ih, w_hh = p[f"weight_ih_{k}"], p[f"weight_hh_{k}"]
            b_ih = p.get(f"bias_ih_{k}", 0.0)
            b_hh = p.get(f"bias_hh_{k}", 0.0)
            h, c = h0[layer * dirs + d], c0[layer * dirs + d]
            out = np.zeros((steps, n, hsz))
            for t in range(steps - 1, -1, -1) if d else range(steps):
                h, c = ref_step(module.mode, x[t], h, c, w_ih, w_hh, b_ih, b_hh)
                out[t] = h
            outs.append(out)
            h_n.append(h)
            c_n.append(c)
        x = np.concatenate(outs, axis=-1)
    return x, np.stack(h_n), (np.stack(c_n) if module.mode == "LSTM" else None)


def _module(cls, **kwargs):
    cr.random.seed(4)
    return cls(dtype=np.float64, **kwargs)


MODES = [
    ("rnn_tanh", nn.RNN, {}),
    ("rnn_relu", nn.RNN, {"nonlinearity": "relu"}),
    ("lstm", nn.LSTM, {}),
    ("gru", nn.GRU, {}),
]


# --------------------------------------------------------------------------- values
@pytest.mark.parametrize("name,cls,extra", MODES, ids=[m[0] for m in MODES])
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, False), (1, True),
                                                      (2, True)])  # fmt: skip
def test_values_against_numpy(name, cls, extra, num_layers, bidirectional):
    m = _module(cls, input_size=3, hidden_size=4, num_layers=num_layers,
                bidirectional=bidirectional, **extra)  # fmt: skip
    x = RNG.standard_normal((5, 2, 3))
    out, state = m(x)
    ref_out, ref_h, ref_c = ref_rnn(m, x)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)
    h = state[0] if name == "lstm" else state
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-10, atol=1e-12)
    if name == "lstm":
        np.testing.assert_allclose(state[1].numpy(), ref_c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,cls,extra", MODES, ids=[m[0] for m in MODES])
def test_initial_state_batch_first_and_no_bias(name, cls, extra):
    m = _module(cls, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                batch_first=True, bias=False, **extra)  # fmt: skip
    assert not any("bias" in n for n, _ in m.named_parameters())
    x = RNG.standard_normal((2, 5, 3))  # (N, L, input)
    h0, c0 = RNG.standard_normal((4, 2, 4)), RNG.standard_normal((4, 2, 4))
    out, state = m(x, (h0, c0) if name == "lstm" else h0)
    ref_out, ref_h, ref_c = ref_rnn(m, np.swapaxes(x, 0, 1), h0, c0)
    np.testing.assert_allclose(out.numpy(), np.swapaxes(ref_out, 0, 1), rtol=1e-10, atol=1e-12)
    h = state[0] if name == "lstm" else state
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-10, atol=1e-12)
    if name == "lstm":
        np.testing.assert_allclose(state[1].numpy(), ref_c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,cls,extra", MODES, ids=[m[0] for m in MODES])
def test_unbatched(name, cls, extra):
    m = _module(cls, input_size=3, hidden_size=2, **extra)
    x = RNG.standard_normal((4, 3))
    h0 = RNG.standard_normal((1, 2))
    out, state = m(x, (h0, h0) if name == "lstm" else h0)
    ref_out, ref_h, _ = ref_rnn(m, x[:, None], h0[:, None], h0[:, None])
    np.testing.assert_allclose(out.numpy(), ref_out[:, 0], rtol=1e-10, atol=1e-12)
    h = state[0] if name == "lstm" else state
    assert h.shape == (1, 2)
    np.testing.assert_allclose(h.numpy(), ref_h[:, 0], rtol=1e-10, atol=1e-12)


def test_lstm_gate_order_is_i_f_g_o():
    # Only the forget gate's bias is large: the cell keeps c_0, so i, f, g, o sit where PyTorch
    # puts them. With o's pre-activation 0 the output is tanh(c) / 2.
    m = _module(nn.LSTM, input_size=1, hidden_size=1)
    for _, t in m.named_parameters():
        t._data[...] = 0.0
    m.bias_ih_l0._data[...] = [-50.0, 50.0, 0.0, 0.0]  # i closed, f open
    out, (h, c) = m(np.zeros((3, 1, 1)), (np.zeros((1, 1, 1)), np.full((1, 1, 1), 0.7)))
    np.testing.assert_allclose(c.numpy(), 0.7, rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), 0.5 * np.tanh(0.7), rtol=1e-12)


def test_gru_gate_order_is_r_z_n():
    # z saturated open (its bias is 2nd): h stays h_0 whatever the input.
    m = _module(nn.GRU, input_size=1, hidden_size=1)
    m.bias_ih_l0._data[...] = [0.0, 50.0, 0.0]
    _, h = m(RNG.standard_normal((3, 1, 1)), np.full((1, 1, 1), 0.3))
    np.testing.assert_allclose(h.numpy(), 0.3, rtol=1e-12)


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("batch_first,num_layers,bidirectional,batched,with_state",
                         list(itertools.product([True, False], [1, 2], [True, False],
                                                [True, False], [True, False])))  # fmt: skip
def test_shapes_for_every_flag(cls, batch_first, num_layers, bidirectional, batched, with_state):
    m = cls(3, 4, num_layers=num_layers, batch_first=batch_first, bidirectional=bidirectional)
    steps, n, dirs = 5, 2, 2 if bidirectional else 1
    if batched:
        x = cr.zeros(*((n, steps, 3) if batch_first else (steps, n, 3)))
        state_shape = (num_layers * dirs, n, 4)
    else:
        x = cr.zeros(steps, 3)
        state_shape = (num_layers * dirs, 4)
    hx = None
    if with_state:
        hx = (cr.zeros(*state_shape), cr.zeros(*state_shape)) if cls is nn.LSTM else \
            cr.zeros(*state_shape)  # fmt: skip
    out, state = m(x, hx)
    assert out.shape == x.shape[:-1] + (4 * dirs,)
    if cls is nn.LSTM:
        assert state[0].shape == state_shape and state[1].shape == state_shape
    else:
        assert state.shape == state_shape


def test_parameter_names_and_shapes_are_pytorchs():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    shapes = {name: tuple(t.shape) for name, t in m.state_dict().items()}
    assert list(shapes)[:8] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
        "bias_hh_l0_reverse",
    ]  # fmt: skip
    assert shapes["weight_ih_l0"] == (16, 3) and shapes["weight_ih_l1"] == (16, 8)
    assert shapes["weight_hh_l1_reverse"] == (16, 4) and len(shapes) == 16
    gru = nn.GRU(3, 4)
    assert gru.weight_ih_l0.shape == (12, 3)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(t.numpy()).max() <= bound for t in gru.parameters())
    assert repr(nn.RNN(3, 4, nonlinearity="relu", batch_first=True)) == \
        "RNN(3, 4, nonlinearity='relu', batch_first=True)"  # fmt: skip


def test_state_dict_round_trip():
    a, b = nn.GRU(3, 4, num_layers=2), nn.GRU(3, 4, num_layers=2)
    b.load_state_dict(a.state_dict())
    x = RNG.standard_normal((5, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(a(x)[0].numpy(), b(x)[0].numpy())
    assert a(x)[0].dtype == np.float32


# ------------------------------------------------------------------------ gradients
@pytest.mark.parametrize("name,cls,extra", MODES, ids=[m[0] for m in MODES])
def test_gradcheck_parameters_initial_state_and_input(name, cls, extra):
    m = _module(cls, input_size=2, hidden_size=3, num_layers=2, bidirectional=True, **extra)
    names = [n for n, _ in m.named_parameters()]
    arrays = [t.numpy().copy() for _, t in m.named_parameters()]
    x = RNG.standard_normal((3, 2, 2))
    h0 = RNG.standard_normal((4, 2, 3)) * 0.5
    c0 = RNG.standard_normal((4, 2, 3)) * 0.5
    wo = RNG.standard_normal((3, 2, 6))

    def loss(xs, h, c, *params):
        for n_, p in zip(names, params):
            m._parameters[n_] = p
        out, state = m(xs, (h, c) if name == "lstm" else h)
        hn = state[0] if name == "lstm" else state
        return (out * wo).sum() + (hn * hn).sum()

    assert gradcheck(loss, x, h0, c0, *arrays)


def test_dropout_between_layers_only_in_training():
    cr.random.seed(5)
    m = nn.LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64)
    x = RNG.standard_normal((4, 2, 3))
    train = m(x)[0].numpy()
    m.eval()
    np.testing.assert_allclose(m(x)[0].numpy(), ref_rnn(m, x)[0], rtol=1e-10, atol=1e-12)
    assert not np.allclose(train, m(x)[0].numpy())


# ---------------------------------------------------------------------------- cells
@pytest.mark.parametrize("cell_cls,mode", [(nn.RNNCell, "RNN_TANH"), (nn.LSTMCell, "LSTM"),
                                           (nn.GRUCell, "GRU")])  # fmt: skip
def test_cells_match_one_step(cell_cls, mode):
    cr.random.seed(6)
    cell = cell_cls(3, 4, dtype=np.float64)
    p = {n: t.numpy() for n, t in cell.named_parameters()}
    x, h, c = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))
    ref_h, ref_c = ref_step(mode, x, h, c, p["weight_ih"], p["weight_hh"], p["bias_ih"],
                            p["bias_hh"])  # fmt: skip
    if mode == "LSTM":
        out_h, out_c = cell(x, (h, c))
        np.testing.assert_allclose(out_c.numpy(), ref_c, rtol=1e-12)
        assert cell(x[0])[0].shape == (4,)
    else:
        out_h = cell(x, h)
        assert cell(x[0]).shape == (4,)
    np.testing.assert_allclose(out_h.numpy(), ref_h, rtol=1e-12)
    assert gradcheck(lambda a, b: (cell(a, (b, b)) if mode == "LSTM" else cell(a, b))[0], x, h)


# ---------------------------------------------------------------------------- errors
def test_errors_are_clear():
    m = nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"GRU: input of shape \(5, 2, 2\).*expected \(L, N, 3\)"):
        m(cr.zeros(5, 2, 2))
    with pytest.raises(ValueError, match=r"GRU: h_0 of shape \(1, 3, 4\).*expected \(1, 2, 4\)"):
        m(cr.zeros(5, 2, 3), cr.zeros(1, 3, 4))
    with pytest.raises(TypeError, match=r"LSTM: hx must be a tuple \(h_0, c_0\)"):
        nn.LSTM(3, 4)(cr.zeros(5, 2, 3), cr.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="RNN: unknown nonlinearity 'sigmoid'"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(NotImplementedError, match="LSTM: proj_size is not supported"):
        nn.LSTM(3, 4, proj_size=2)


def test_embedding_padding_idx():
    # nn.Embedding(padding_idx=): the row starts at zero, gets no gradient, and F.embedding
    # cuts the gradient of padding positions only.
    emb = nn.Embedding(5, 3, padding_idx=1)
    np.testing.assert_array_equal(emb.weight.numpy()[1], 0.0)
    out = emb(cr.tensor([[1, 2, 1, 4]]))
    (out * cr.tensor(RNG.standard_normal(out.shape).astype(np.float32))).sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[1], 0.0)
    assert np.abs(g[2]).sum() > 0 and np.abs(g[4]).sum() > 0
    np.testing.assert_array_equal(g[[0, 3]], 0.0)
    neg = nn.Embedding(5, 3, padding_idx=-1)
    assert neg.padding_idx == 4


# ------------------------------------------------------------------ on a (fake) GPU
def test_recurrent_layers_on_device_equal_cpu(monkeypatch):
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    x = RNG.standard_normal((2, 5, 3))
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        results = []
        for device, move in (("cpu", lambda a: a), ("cuda", cupy.asarray)):
            m = _module(cls, input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                        batch_first=True).to(device)  # fmt: skip
            xs = cr.tensor(move(x), requires_grad=True)
            out, state = m(xs)
            h = state[0] if cls is nn.LSTM else state
            ((out * out).sum() + h.sum()).backward()
            grads = [cupy.asnumpy(p.grad._data) for p in m.parameters()]
            results.append([cupy.asnumpy(out._data), cupy.asnumpy(xs.grad._data), *grads])
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------- the fused cell primitives
def test_lstm_state_and_output_primitives():
    from chainrule.ops.nn import lstm_output, lstm_state

    gates, c = RNG.standard_normal((3, 8)), RNG.standard_normal((3, 2))
    i, f, g, o = np.split(gates, 4, axis=-1)
    c_new = expit(f) * c + expit(i) * np.tanh(g)
    np.testing.assert_allclose(lstm_state(gates, c).numpy(), c_new, rtol=1e-12)
    np.testing.assert_allclose(lstm_output(gates, c_new).numpy(), expit(o) * np.tanh(c_new),
                               rtol=1e-12)  # fmt: skip
    for f_ in (lstm_state, lstm_output, lambda a, b: lstm_output(a, lstm_state(a, b))):
        assert gradcheck(f_, gates, c)
        assert gradgradcheck(f_, gates, c)
    table = cr.ops.primitive_table
    assert table["lstm_state"].formula.startswith("c' = f c + i g")
    assert table["lstm_output"].formula.startswith("h = o tanh(c)")


def test_gru_cell_primitive():
    from chainrule.ops.nn import gru_cell

    xg, hg = RNG.standard_normal((3, 6)), RNG.standard_normal((3, 6))
    h = RNG.standard_normal((3, 2))
    xr, xz, xn = np.split(xg, 3, axis=-1)
    hr, hz, hn = np.split(hg, 3, axis=-1)
    r, z = expit(xr + hr), expit(xz + hz)
    n = np.tanh(xn + r * hn)
    np.testing.assert_allclose(gru_cell(xg, hg, h).numpy(), (1 - z) * n + z * h, rtol=1e-12)
    assert gradcheck(gru_cell, xg, hg, h)
    assert gradgradcheck(gru_cell, xg, hg, h)
    assert "dh = g z" in cr.ops.primitive_table["gru_cell"].formula


def test_one_fused_node_per_step():
    import io

    m = nn.GRU(2, 3)
    _, h = m(cr.zeros(4, 1, 2, requires_grad=True))
    text = io.StringIO()
    cr.explain(h.sum(), file=text)
    assert text.getvalue().count("] gru_cell:") == 4  # one per time step
    assert "] sigmoid:" not in text.getvalue()
    _, (h, c) = nn.LSTM(2, 3)(cr.zeros(4, 1, 2, requires_grad=True))
    text = io.StringIO()
    cr.explain((h + c).sum(), file=text)
    assert text.getvalue().count("] lstm_state:") == 4
    assert text.getvalue().count("] lstm_output:") == 4
