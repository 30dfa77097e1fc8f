"""scaled_dot_product_attention, MultiheadAttention and TransformerEncoderLayer: values against
plain-NumPy references written here from PyTorch's documented equations, every mask and layout
flag, float64 gradchecks (second order for the functional attention), PyTorch's names."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.special import erf

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(17)


# ------------------------------------------------------------------ NumPy references
def softmax(s: np.ndarray) -> np.ndarray:
    m = s.max(axis=-1, keepdims=True)
    e = np.exp(s - m)
    return e / e.sum(axis=-1, keepdims=True)


def ref_sdpa(q, k, v, keep=None, bias=None, scale=None, drop=None):
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if bias is not None:
        s = s + bias
    if keep is not None:
        s = np.where(keep, s, -np.inf)
    w = softmax(s)
    if drop is not None:
        w = w * drop
    return w @ v, w


def ref_mha(mha, q, k, v, keep=None, bias=None):
    """PyTorch's multi-head attention on (N, L, E) arrays with the module's parameters."""
    p = {name: t.numpy() for name, t in mha.named_parameters()}
    h, e = mha.num_heads, mha.embed_dim
    d = e // h
    if "in_proj_weight" in p:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0, 0, 0)

    def heads(x, w, b):
        y = x @ w.T + b
        return y.reshape(y.shape[0], y.shape[1], h, d).transpose(0, 2, 1, 3)

    out, w = ref_sdpa(heads(q, wq, bq), heads(k, wk, bk), heads(v, wv, bv), keep, bias)
    n, n_query = q.shape[:2]
    out = out.transpose(0, 2, 1, 3).reshape(n, n_query, e) @ p["out_proj.weight"].T
    if "out_proj.bias" in p:
        out = out + p["out_proj.bias"]
    return out, w


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def ref_encoder_layer(layer, x, keep=None, bias=None, activation="relu"):
    p = {name: t.numpy() for name, t in layer.named_parameters()}

    def sa(y):
        return ref_mha(layer.self_attn, y, y, y, keep, bias)[0]

    def ff(y):
        hdn = y @ p["linear1.weight"].T + p["linear1.bias"]
        if activation == "relu":
            hdn = np.maximum(hdn, 0)
        else:
            hdn = 0.5 * hdn * (1 + erf(hdn / math.sqrt(2)))
        return hdn @ p["linear2.weight"].T + p["linear2.bias"]

    def n1(y):
        return layer_norm(y, p["norm1.weight"], p["norm1.bias"])

    def n2(y):
        return layer_norm(y, p["norm2.weight"], p["norm2.bias"])

    if layer.norm_first:
        x = x + sa(n1(x))
        return x + ff(n2(x))
    x = n1(x + sa(x))
    return n2(x + ff(x))


def with_parameters(module, names, values):
    """Install Tensors as the module's parameters (by dotted name) for a gradcheck."""
    for name, value in zip(names, values):
        *path, leaf = name.split(".")
        owner = module
        for part in path:
            owner = getattr(owner, part)
        owner._parameters[leaf] = value


def param_gradcheck(module, loss_of_module):
    names = [n for n, _ in module.named_parameters()]
    arrays = [t.numpy().copy() for _, t in module.named_parameters()]

    def f(*values):
        with_parameters(module, names, values)
        return loss_of_module(module)

    try:
        assert gradcheck(f, *arrays)
    finally:
        with_parameters(module, names, [nn.Parameter(a) for a in arrays])


# ----------------------------------------------------------------- scaled dot product
def _qkv(batch=(2, 3), n_query=4, n_key=5, e=6, ev=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(batch + (n_query, e)), rng.standard_normal(batch + (n_key, e)),
            rng.standard_normal(batch + (n_key, ev)))  # fmt: skip


def test_sdpa_plain_and_scale():
    q, k, v = _qkv()
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v).numpy(),
                               ref_sdpa(q, k, v)[0], rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(F.scaled_dot_product_attention(q, k, v, scale=0.3).numpy(),
                               ref_sdpa(q, k, v, scale=0.3)[0], rtol=1e-12)  # fmt: skip


def test_sdpa_bool_mask_keeps_true():
    q, k, v = _qkv()
    keep = RNG.random((4, 5)) > 0.4
    keep[:, 0] = True  # every query keeps a key
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, keep=keep)[0], rtol=1e-12)


def test_sdpa_float_mask_is_added_and_gets_a_gradient():
    q, k, v = _qkv()
    bias = RNG.standard_normal((3, 4, 5))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, bias=bias)[0], rtol=1e-12)
    assert gradcheck(lambda b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), bias)


def test_sdpa_causal():
    q, k, v = _qkv(n_query=5)
    keep = np.tril(np.ones((5, 5), bool))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, keep=keep)[0], rtol=1e-12)
    # The first query sees only the first key: its output is the first value.
    np.testing.assert_allclose(out.numpy()[..., 0, :], v[..., 0, :], rtol=1e-12)


def test_sdpa_dropout_matches_the_drawn_mask():
    q, k, v = _qkv()
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, generator=3)
    u = np.random.default_rng(3).random((2, 3, 4, 5))
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, drop=(u >= 0.4) / 0.6)[0],
                               rtol=1e-12)  # fmt: skip
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    np.testing.assert_array_equal(dropped.numpy(), 0.0)


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal"])
def test_sdpa_gradcheck_and_gradgradcheck(mask):
    q, k, v = _qkv(batch=(2,), n_query=3, n_key=3, e=4, ev=2, seed=1)
    keep = np.array([[True, False, True], [True, True, False], [False, True, True]])
    bias = np.random.default_rng(2).standard_normal((3, 3))
    kwargs = {"none": {}, "bool": {"attn_mask": keep}, "float": {"attn_mask": bias},
              "causal": {"is_causal": True}}[mask]  # fmt: skip

    def f(a, b, c):
        return F.scaled_dot_product_attention(a, b, c, **kwargs)

    assert gradcheck(f, q, k, v)
    assert gradgradcheck(f, q, k, v)


def test_sdpa_float32_and_errors():
    q, k, v = (cr.tensor(a.astype(np.float32)) for a in _qkv())
    assert F.scaled_dot_product_attention(q, k, v, is_causal=False).dtype == np.float32
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: query \(2, 3, 4, 6\), "
                                         r"key \(2, 3, 5, 5\)"):  # fmt: skip
        F.scaled_dot_product_attention(q, cr.zeros(2, 3, 5, 5), v)
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 4\) does not broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 4), bool))


# ------------------------------------------------------------------ MultiheadAttention
def _mha(**kwargs):
    cr.random.seed(0)
    mha = nn.MultiheadAttention(8, 2, dtype=np.float64, **kwargs)
    # Non-zero biases, so the test sees them.
    for name, t in mha.named_parameters():
        if "bias" in name:
            t._data[...] = RNG.standard_normal(t.shape) * 0.1
    return mha


def test_mha_parameters_are_pytorchs():
    mha = nn.MultiheadAttention(8, 2)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight",
                                      "out_proj.bias"]  # fmt: skip
    assert mha.in_proj_weight.shape == (24, 8) and mha.in_proj_bias.shape == (24,)
    np.testing.assert_array_equal(mha.in_proj_bias.numpy(), 0.0)
    bound = math.sqrt(6 / (24 + 8))  # Xavier-uniform on (3E, E)
    assert np.abs(mha.in_proj_weight.numpy()).max() <= bound
    kv = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, bias=False)
    assert list(kv.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                     "out_proj.weight"]  # fmt: skip
    assert kv.k_proj_weight.shape == (8, 3) and kv.v_proj_weight.shape == (8, 5)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_mha_values(batch_first, average):
    mha = _mha(batch_first=batch_first)
    q, k, v = RNG.standard_normal((2, 4, 8)), RNG.standard_normal((2, 5, 8)), \
        RNG.standard_normal((2, 5, 8))  # fmt: skip
    ref_out, ref_w = ref_mha(mha, q, k, v)
    args = (q, k, v) if batch_first else tuple(np.swapaxes(a, 0, 1) for a in (q, k, v))
    out, w = mha(*args, average_attn_weights=average)
    out = out.numpy() if batch_first else np.swapaxes(out.numpy(), 0, 1)
    np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.mean(1) if average else ref_w, rtol=1e-10)


def test_mha_unbatched_and_no_weights():
    mha = _mha()
    x = RNG.standard_normal((4, 8))
    out, w = mha(x, x, x)
    ref_out, ref_w = ref_mha(mha, x[None], x[None], x[None])
    np.testing.assert_allclose(out.numpy(), ref_out[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.mean(1)[0], rtol=1e-10)
    out2, none = mha(x, x, x, need_weights=False)
    assert none is None
    np.testing.assert_array_equal(out2.numpy(), out.numpy())


def test_mha_kdim_vdim_and_no_bias():
    mha = _mha(kdim=3, vdim=5, bias=False, batch_first=True)
    q, k, v = RNG.standard_normal((2, 4, 8)), RNG.standard_normal((2, 6, 3)), \
        RNG.standard_normal((2, 6, 5))  # fmt: skip
    out, w = mha(q, k, v)
    ref_out, ref_w = ref_mha(mha, q, k, v)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)
    assert w.shape == (2, 4, 6)


def test_mha_masks():
    mha = _mha(batch_first=True)
    x = RNG.standard_normal((2, 4, 8))
    pad = np.array([[False, False, True, True], [False, False, False, True]])  # True: ignored
    blocked = np.triu(np.ones((4, 4), bool), 1)  # True: not allowed
    keep = ~blocked[None, None] & ~pad[:, None, None, :]
    out, w = mha(x, x, x, key_padding_mask=pad, attn_mask=blocked)
    ref_out, ref_w = ref_mha(mha, x, x, x, keep=keep)
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), ref_w.mean(1), rtol=1e-10, atol=1e-15)
    assert (w.numpy()[0, :, 2:] == 0).all()
    # is_causal without a mask is the same causal mask.
    causal = mha(x, x, x, is_causal=True)[0]
    np.testing.assert_allclose(causal.numpy(), mha(x, x, x, attn_mask=blocked)[0].numpy())
    # Float masks add; a per-head (N * H, L, S) mask too.
    fpad = np.where(pad, -1e9, 0.0)
    bias3 = RNG.standard_normal((4, 4, 4))
    out, _ = mha(x, x, x, key_padding_mask=fpad, attn_mask=bias3)
    ref_out, _ = ref_mha(mha, x, x, x, bias=bias3.reshape(2, 2, 4, 4) + fpad[:, None, None, :])
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch_first,batched,pad,mask,need,avg", [
    flags for flags in itertools.product([True, False], repeat=6)
])  # fmt: skip
def test_mha_shapes_for_every_flag(batch_first, batched, pad, mask, need, avg):
    mha = nn.MultiheadAttention(4, 2, batch_first=batch_first)
    n, n_query, n_key = 3, 2, 5
    if batched:
        q = cr.zeros(*((n, n_query, 4) if batch_first else (n_query, n, 4)))
        k = cr.zeros(*((n, n_key, 4) if batch_first else (n_key, n, 4)))
    else:
        q, k = cr.zeros(n_query, 4), cr.zeros(n_key, 4)
    kpm = (np.zeros((n, n_key) if batched else (n_key,), bool)) if pad else None
    am = np.zeros((n_query, n_key), bool) if mask else None
    out, w = mha(q, k, k, key_padding_mask=kpm, attn_mask=am, need_weights=need,
                 average_attn_weights=avg)  # fmt: skip
    assert out.shape == q.shape
    if not need:
        assert w is None
        return
    heads = () if avg else (2,)
    assert w.shape == ((n,) if batched else ()) + heads + (n_query, n_key)


def test_mha_dropout_only_in_training():
    mha = _mha(dropout=0.5, batch_first=True)
    x = RNG.standard_normal((2, 4, 8))
    cr.random.seed(1)
    a = mha(x, x, x)[0].numpy()
    mha.eval()
    b = mha(x, x, x)[0].numpy()
    np.testing.assert_allclose(b, ref_mha(mha, x, x, x)[0], rtol=1e-10, atol=1e-12)
    assert not np.allclose(a, b)


def test_mha_gradcheck_parameters():
    mha = _mha(batch_first=True)
    x = RNG.standard_normal((2, 3, 8))
    pad = np.array([[False, False, True], [False, False, False]])
    w = RNG.standard_normal((2, 3, 8))
    param_gradcheck(mha, lambda m: (m(x, x, x, key_padding_mask=pad)[0] * w).sum())


def test_mha_gradcheck_inputs():
    mha = _mha()
    q, k = RNG.standard_normal((3, 2, 8)), RNG.standard_normal((4, 2, 8))
    assert gradcheck(lambda a, b: mha(a, b, b)[0], q, k)


def test_mha_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        nn.MultiheadAttention(4, 2, add_bias_kv=True)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    with pytest.raises(ValueError, match=r"MultiheadAttention: query \(2, 3, 5\)"):
        mha(cr.zeros(2, 3, 5), cr.zeros(2, 3, 5), cr.zeros(2, 3, 5))
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(2, 4\) does not fit"):
        mha(cr.zeros(2, 3, 4), cr.zeros(2, 3, 4), cr.zeros(2, 3, 4),
            key_padding_mask=np.zeros((2, 4), bool))  # fmt: skip
    with pytest.raises(ValueError, match=r"attn_mask of shape \(3, 2\) does not fit"):
        mha(cr.zeros(2, 3, 4), cr.zeros(2, 3, 4), cr.zeros(2, 3, 4),
            attn_mask=np.zeros((3, 2), bool))  # fmt: skip


# ------------------------------------------------------------- TransformerEncoderLayer
def _layer(**kwargs):
    cr.random.seed(2)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, dtype=np.float64,
                                       **kwargs)  # fmt: skip
    for name, t in layer.named_parameters():
        if "bias" in name or "norm" in name:
            t._data[...] += RNG.standard_normal(t.shape) * 0.1
    return layer


def test_encoder_layer_parameter_names_are_pytorchs():
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    assert list(layer.state_dict()) == [
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
        "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
    ]  # fmt: skip


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_layer_values(norm_first, activation, batch_first):
    layer = _layer(norm_first=norm_first, activation=activation, batch_first=batch_first)
    x = RNG.standard_normal((2, 5, 8))
    ref = ref_encoder_layer(layer, x, activation=activation)
    out = layer(x if batch_first else np.swapaxes(x, 0, 1)).numpy()
    out = out if batch_first else np.swapaxes(out, 0, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


def test_encoder_layer_masks_and_unbatched():
    layer = _layer(batch_first=True)
    x = RNG.standard_normal((2, 4, 8))
    pad = np.array([[False, False, False, True], [False, True, False, False]])
    blocked = np.triu(np.ones((4, 4), bool), 1)
    keep = ~blocked[None, None] & ~pad[:, None, None, :]
    out = layer(x, src_mask=blocked, src_key_padding_mask=pad)
    np.testing.assert_allclose(out.numpy(), ref_encoder_layer(layer, x, keep=keep), rtol=1e-10,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(layer(x[0]).numpy(), ref_encoder_layer(layer, x[:1])[0],
                               rtol=1e-10, atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(layer(x, is_causal=True).numpy(),
                               layer(x, src_mask=blocked).numpy())  # fmt: skip


def test_encoder_layer_dropout_and_callable_activation():
    cr.random.seed(3)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.5,
                                       activation=F.silu, batch_first=True)  # fmt: skip
    x = cr.tensor(RNG.standard_normal((2, 3, 8)).astype(np.float32))
    train = layer(x)
    layer.eval()
    assert train.dtype == np.float32
    assert not np.allclose(train.numpy(), layer(x).numpy())
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    with pytest.raises(ValueError, match="activation should be 'relu' or 'gelu'"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_gradcheck_parameters(norm_first):
    layer = _layer(norm_first=norm_first, batch_first=True, activation="gelu")
    x = RNG.standard_normal((2, 3, 8))
    w = RNG.standard_normal((2, 3, 8))
    param_gradcheck(layer, lambda m: (m(x) * w).sum())


# ------------------------------------------------------------------ on a (fake) GPU
def test_attention_on_device_equals_cpu(monkeypatch):
    from tests import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    x = RNG.standard_normal((2, 4, 8))
    pad = np.array([[False, False, False, True], [False, True, False, False]])
    blocked = np.triu(np.ones((4, 4), bool), 1)
    bias = RNG.standard_normal((4, 4))
    results = []
    state = _layer(batch_first=True).state_dict()
    for device, move in (("cpu", lambda a: a), ("cuda", cupy.asarray)):
        layer = _layer(batch_first=True)
        layer.load_state_dict(state)
        layer.to(device)
        xs = cr.tensor(move(x), requires_grad=True)
        out = layer(xs, src_mask=blocked, src_key_padding_mask=pad)
        out = out + F.scaled_dot_product_attention(xs, xs, xs, is_causal=True)
        out = out + F.scaled_dot_product_attention(xs, xs, xs, attn_mask=bias)
        (out * out).sum().backward()
        grads = [cupy.asnumpy(p.grad._data) for p in layer.parameters()]
        results.append([cupy.asnumpy(out._data), cupy.asnumpy(xs.grad._data), *grads])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
