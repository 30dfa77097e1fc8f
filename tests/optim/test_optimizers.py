"""Optimisers: steps against hand-written NumPy versions of PyTorch's formulas, against numbers
PyTorch 2.13 printed, parameter groups, zero_grad, state dicts, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import optim

# ----------------------------------------------------------------- NumPy references
# Written the way the formulas read (not the way the optimisers evaluate them), in the
# parameter's dtype; Python scalars stay weak so float32 stays float32.


def ref_sgd(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    buf = None
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adam(p, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    b1, b2 = betas
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        if amsgrad:
            vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2**t) + eps
        p = p - lr / (1 - b1**t) * m / denom
    return p


def ref_adamw(p, grads, weight_decay=1e-2, **kw):
    return ref_adam(p, grads, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    sq = np.zeros_like(p)
    mean = np.zeros_like(p)
    buf = np.zeros_like(p)
    for g in grads:
        g = -g if maximize else g
        g = g + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g * g
        if centered:
            mean = alpha * mean + (1 - alpha) * g
            avg = np.sqrt(sq - mean * mean) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    return p


def ref_adagrad(p, grads, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    total = np.full_like(p, initial_accumulator_value)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        total = total + g * g
        p = p - clr * g / (np.sqrt(total) + eps)
    return p


REFS = {
    "SGD": ref_sgd, "Adam": ref_adam, "AdamW": ref_adamw, "RMSprop": ref_rmsprop,
    "Adagrad": ref_adagrad,
}

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.9), "maximize": True}),
    ("Adam", {"lr": 0.01, "betas": (0.7, 0.5), "eps": 1e-3}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.3, "maximize": True}),
    ("RMSprop", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.01, "centered": True, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "alpha": 0.3, "maximize": True}),
    ("Adagrad", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.1, "maximize": True, "eps": 1e-3}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in c.items())}" for n, c in CONFIGS]


def tol(dtype):
    return {"rtol": 1e-6, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}


def run(name, cfg, p0, grads):
    p = cr.nn.Parameter(cr.tensor(p0))
    opt = getattr(optim, name)([p], **cfg)
    for g in grads:
        p.grad = cr.tensor(g)
        opt.step()
    return p


def data(dtype, shape=(4, 3), steps=5, seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]
    return p0, grads


# ----------------------------------------------------------------- updates
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "cfg"), CONFIGS, ids=IDS)
def test_steps_match_numpy_reference(name, cfg, dtype):
    p0, grads = data(dtype)
    p = run(name, cfg, p0, grads)
    assert p.dtype == dtype and p.is_leaf and p.grad_fn is None
    np.testing.assert_allclose(p.numpy(), REFS[name](p0, grads, **cfg), **tol(dtype))


# Printed by PyTorch 2.13 (float64), p0 and grads as below, three steps.
TORCH_P0 = [0.5, -1.5, 2.0]
TORCH_GRADS = [[0.3, -1.2, 0.8], [-0.5, 0.4, 1.1], [0.9, -0.1, -0.7]]
TORCH_TABLE = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
     [0.3574406848005, -1.1657578886315, 1.544930193562]),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.2, "maximize": True},
     [0.5732, -1.7432, 2.2976]),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
     [0.48700385822832987, -1.4796591790808697, 1.9745091185937154]),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1},
     [0.4873252159207201, -1.4779383135331723, 1.9701577744959788]),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1},
     [0.35808406272980864, -1.3355012844612628, 1.7350361449812013]),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "initial_accumulator_value": 0.1,
                 "weight_decay": 0.1},
     [0.4173531126683777, -1.4047990830269617, 1.8577324002423234]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("name", "cfg", "expected"), TORCH_TABLE, ids=[r[0] for r in TORCH_TABLE])
def test_steps_match_pytorch_numbers(name, cfg, expected, dtype):
    p0 = np.array(TORCH_P0, dtype)
    grads = [np.array(g, dtype) for g in TORCH_GRADS]
    p = run(name, cfg, p0, grads)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(p.numpy(), expected, rtol=rtol)


@settings(max_examples=30, deadline=None)
@given(
    shape=st.sampled_from([(), (1,), (5,), (2, 3), (2, 1, 4)]),
    seed=st.integers(0, 2**16),
    which=st.integers(0, len(CONFIGS) - 1),
)
def test_any_shape_matches_reference(shape, seed, which):
    name, cfg = CONFIGS[which]
    p0, grads = data(np.float64, shape, steps=3, seed=seed)
    p = run(name, cfg, p0, grads)
    assert p.shape == shape
    np.testing.assert_allclose(p.numpy(), REFS[name](p0, grads, **cfg), **tol(np.float64))


def test_sgd_first_momentum_buffer_is_the_gradient():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    p.grad = cr.tensor([2.0, -4.0])
    opt.step()
    # No dampening on the first step: the buffer is the gradient itself (a copy of it).
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [2.0, -4.0])
    assert opt.state[p]["momentum_buffer"] is not p.grad.numpy()
    np.testing.assert_array_equal(p.numpy(), [0.0, 4.0])


def test_adamw_is_adam_with_decoupled_weight_decay():
    p0, grads = data(np.float32)
    a = cr.nn.Parameter(cr.tensor(p0))
    b = cr.nn.Parameter(cr.tensor(p0))
    oa = optim.AdamW([a], lr=0.01, weight_decay=0.2)
    ob = optim.Adam([b], lr=0.01, weight_decay=0.2, decoupled_weight_decay=True)
    for g in grads:
        a.grad, b.grad = cr.tensor(g), cr.tensor(g)
        oa.step()
        ob.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert oa.defaults["weight_decay"] == 0.2 and optim.AdamW([a]).defaults["weight_decay"] == 1e-2


def test_numpy_scalar_hyperparameters_keep_float32():
    p0, grads = data(np.float32)
    p = run("Adam", {"lr": np.float64(0.01), "betas": (np.float64(0.9), 0.999)}, p0, grads)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.numpy(), ref_adam(p0, grads, lr=0.01), **tol(np.float32))


def test_updates_are_in_place_and_mark_the_parameter_modified():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    array = p.numpy()
    loss = (p * p).sum()
    loss.backward(retain_graph=True)
    opt = optim.SGD([p], lr=0.1)
    opt.step()
    assert p.numpy() is array
    np.testing.assert_allclose(array, [0.8, 1.6], rtol=1e-7)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_parameters_without_grad_are_skipped():
    a = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    b = cr.nn.Parameter(cr.tensor([3.0]))
    for name in REFS:
        opt = getattr(optim, name)([a, b], lr=0.1)
        a.grad = cr.tensor([1.0, 1.0])
        b.grad = None
        opt.step()
        np.testing.assert_array_equal(b.numpy(), [3.0])
        assert name == "Adagrad" or b not in opt.state  # Adagrad makes its state up front
        if name == "Adagrad":
            assert opt.state[b]["step"] == 0
        assert opt.state[a] or name == "SGD"


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    p = cr.nn.Parameter(cr.tensor([3.0]))
    opt = optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        calls.append(cr.is_grad_enabled())
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert calls == [True]
    assert loss.item() == 9.0
    np.testing.assert_array_equal(p.numpy(), [1.5])
    assert opt.step() is None


@pytest.mark.parametrize(
    ("name", "cfg", "steps"),
    [("SGD", {"lr": 0.1, "momentum": 0.9}, 150), ("Adam", {"lr": 0.05}, 400),
     ("RMSprop", {"lr": 1e-3}, 3000), ("Adagrad", {"lr": 0.5}, 600)],
)  # fmt: skip
def test_training_loop_reaches_least_squares_solution(name, cfg, steps):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    Xt, yt = cr.tensor(X), cr.tensor(y)
    w = cr.nn.Parameter(cr.zeros(3, dtype="float64"))
    b = cr.nn.Parameter(cr.zeros((), dtype="float64"))
    opt = getattr(optim, name)([w, b], **cfg)
    for _ in range(steps):
        opt.zero_grad()
        r = Xt @ w + b - yt
        (r * r).mean().backward()
        opt.step()
    np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 0.5], atol=2e-3)
    assert b.item() == pytest.approx(0.3, abs=2e-3)


# ----------------------------------------------------------------- groups, zero_grad
def test_parameter_groups_have_their_own_hyperparameters():
    p0, grads = data(np.float64)
    q0, qgrads = data(np.float64, shape=(2,), seed=1)
    p = cr.nn.Parameter(cr.tensor(p0))
    q = cr.nn.Parameter(cr.tensor(q0))
    opt = optim.SGD([{"params": [p]}, {"params": q, "lr": 0.01, "nesterov": True}],
                    lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["nesterov"] for g in opt.param_groups] == [False, True]
    assert opt.param_groups[1]["params"] == [q]
    for g, h in zip(grads, qgrads):
        p.grad, q.grad = cr.tensor(g), cr.tensor(h)
        opt.step()
    np.testing.assert_allclose(p.numpy(), ref_sgd(p0, grads, 0.1, momentum=0.9), rtol=1e-12)
    np.testing.assert_allclose(
        q.numpy(), ref_sgd(q0, qgrads, 0.01, momentum=0.9, nesterov=True), rtol=1e-12
    )


def test_add_param_group_and_model_parameters():
    model = cr.nn.Module()
    model.w = cr.nn.Parameter(cr.ones(2))
    model.b = cr.nn.Parameter(cr.zeros(1))
    opt = optim.Adam(model.parameters(), lr=0.1)  # a generator is fine
    assert opt.param_groups[0]["params"] == [model.w, model.b]
    extra = cr.nn.Parameter(cr.ones(3))
    opt.add_param_group({"params": [extra], "betas": (0.5, 0.6)})
    assert opt.param_groups[1]["betas"] == (0.5, 0.6) and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one group"):
        opt.add_param_group({"params": [model.w]})
    assert len(opt.param_groups) == 2
    assert "Parameter Group 1" in repr(opt) and "betas: (0.5, 0.6)" in repr(opt)


def test_zero_grad():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    q = cr.nn.Parameter(cr.tensor([1.0]))
    opt = optim.SGD([p, q], lr=0.1)
    (p * p).sum().backward()
    array = p.grad.numpy()
    opt.zero_grad(set_to_none=False)
    assert p.grad.numpy() is array and p.grad.dtype == np.float32
    np.testing.assert_array_equal(array, [0.0, 0.0])
    assert q.grad is None
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 4.0])
    opt.zero_grad()
    assert p.grad is None


def test_zero_grad_cuts_a_recorded_gradient_from_its_graph():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    (p * p * p).sum().backward(create_graph=True)
    assert p.grad.requires_grad
    optim.SGD([p]).zero_grad(set_to_none=False)
    assert not p.grad.requires_grad
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0])


# ----------------------------------------------------------------- state dicts
ROUND_TRIP = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.1}),
]


def _two_groups(name, cfg, p0s):
    ps = [cr.nn.Parameter(cr.tensor(p)) for p in p0s]
    opt = getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.003}], **cfg)
    return ps, opt


def _grads(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in [(3, 2), (2,), (4,)]]


def _to_json(sd):
    """A JSON round trip: arrays as lists, keys as strings (what a checkpoint may do)."""

    def enc(v):
        if isinstance(v, np.ndarray):
            return {"__array__": v.tolist(), "dtype": str(v.dtype)}
        raise TypeError(type(v))

    def dec(d):
        return np.array(d["__array__"], d["dtype"]) if "__array__" in d else d

    return json.loads(json.dumps(sd, default=enc), object_hook=dec)


@pytest.mark.parametrize("via_json", [False, True], ids=["dict", "json"])
@pytest.mark.parametrize(("name", "cfg"), ROUND_TRIP, ids=[r[0] for r in ROUND_TRIP])
def test_state_dict_round_trip_continues_bit_for_bit(name, cfg, via_json):
    rng = np.random.default_rng(0)
    p0s = [rng.standard_normal(s).astype(np.float32) for s in [(3, 2), (2,), (4,)]]
    a_params, a = _two_groups(name, cfg, p0s)
    for k in range(3):
        for p, g in zip(a_params, _grads(k)):
            p.grad = cr.tensor(g)
        a.step()
    sd = a.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    for entries in sd["state"].values():
        for v in entries.values():
            assert isinstance(v, (np.ndarray, int, float))
    if via_json:
        sd = _to_json(sd)
    b_params, b = _two_groups(name, {**cfg, "lr": 0.5}, [p.numpy().copy() for p in a_params])
    b.load_state_dict(sd)
    assert [g["lr"] for g in b.param_groups] == [cfg["lr"], 0.003]
    for k in range(3, 6):
        for ps in (a_params, b_params):
            for p, g in zip(ps, _grads(k)):
                p.grad = cr.tensor(g)
        a.step()
        b.step()
    for pa, pb in zip(a_params, b_params):
        assert pb.dtype == np.float32
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())


def test_state_dict_holds_copies():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9))
    p.grad = cr.tensor([1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    saved = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], saved)
    assert sd["state"][0]["step"] == 1 and opt.state[p]["step"] == 2
    assert sd["param_groups"][0]["betas"] == (0.8, 0.9)
    opt.param_groups[0]["lr"] = 7.0
    assert sd["param_groups"][0]["lr"] == 0.1


def test_loaded_state_is_cast_to_the_parameter_dtype():
    p32 = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    p64 = cr.nn.Parameter(cr.tensor([1.0, 2.0], dtype="float64"))
    a = optim.SGD([p64], lr=0.1, momentum=0.9)
    p64.grad = cr.tensor([0.1, 0.2], dtype="float64")
    a.step()
    b = optim.SGD([p32], lr=0.1, momentum=0.9)
    b.load_state_dict(a.state_dict())
    buf = b.state[p32]["momentum_buffer"]
    assert buf.dtype == np.float32
    np.testing.assert_allclose(buf, [0.1, 0.2], rtol=1e-7)


def _sgd_with_state():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    q = cr.nn.Parameter(cr.tensor([3.0]))
    opt = optim.SGD([p, q], lr=0.1, momentum=0.9)
    p.grad, q.grad = cr.tensor([1.0, 1.0]), cr.tensor([1.0])
    opt.step()
    return p, q, opt


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda sd: sd["param_groups"].append({"params": []}), "2 parameter groups but"),
        (lambda sd: sd["param_groups"][0]["params"].pop(), "has 1 parameters in the state"),
        (lambda sd: sd["state"][0].update(momentum_buffer=np.zeros(3)), r"shape \(3,\)"),
        (lambda sd: sd["state"].update({5: {}}), "state for parameter 5"),
        (lambda sd: sd["state"].update({"x": {}}), "indices must be integers"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), "group 0.*learning rate"),
        (lambda sd: sd.pop("state"), "'state' and 'param_groups'"),
        (lambda sd: sd.update(param_groups=3), "'param_groups' to be a list .*got a int"),
        (lambda sd: sd.update(state=[1]), "and 'state' a dict, .*and a list"),
        (lambda sd: sd["param_groups"][0].update(params=5), "group 0 .*'params' list"),
    ],
)
def test_load_state_dict_errors_change_nothing(mutate, match):
    p, q, opt = _sgd_with_state()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.7  # would change, if the load went through
    mutate(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["momentum_buffer"], [1.0, 1.0])


def test_load_state_dict_requires_the_optimizers_state_entries():
    p = cr.nn.Parameter(cr.tensor([1.0]))
    opt = optim.Adam([p], amsgrad=True)
    p.grad = cr.tensor([1.0])
    opt.step()
    sd = opt.state_dict()
    del sd["state"][0]["max_exp_avg_sq"]
    with pytest.raises(ValueError, match=r"lacks \['max_exp_avg_sq'\]"):
        opt.load_state_dict(sd)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize("name", list(REFS))
def test_negative_learning_rate_is_refused(name):
    p = cr.nn.Parameter(cr.ones(1))
    with pytest.raises(ValueError, match=rf"^{name}: invalid learning rate -0.1"):
        getattr(optim, name)([p], lr=-0.1)
    with pytest.raises(ValueError, match=rf"^{name}: invalid learning rate -1"):
        getattr(optim, name)([{"params": [p], "lr": -1.0}], lr=0.1)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda p: optim.SGD([p], momentum=-0.5), ValueError, "SGD: invalid momentum"),
        (lambda p: optim.SGD([p], weight_decay=-1), ValueError, "SGD: invalid weight_decay"),
        (lambda p: optim.SGD([p], nesterov=True), ValueError, "Nesterov momentum requires"),
        (lambda p: optim.SGD([p], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
         "zero dampening"),
        (lambda p: optim.SGD([p], lr="fast"), ValueError, "learning rate must be a real number"),
        (lambda p: optim.Adam([p], betas=(1.0, 0.9)), ValueError,
         "Adam: invalid beta parameter at index 0"),
        (lambda p: optim.Adam([p], betas=(0.9,)), ValueError, "betas must be a pair"),
        (lambda p: optim.AdamW([p], eps=-1e-8), ValueError, "AdamW: invalid epsilon"),
        (lambda p: optim.AdamW([p], weight_decay=-0.1), ValueError, "AdamW: invalid weight_decay"),
        (lambda p: optim.RMSprop([p], alpha=-0.1), ValueError, "RMSprop: invalid alpha"),
        (lambda p: optim.RMSprop([p], momentum=-0.1), ValueError, "RMSprop: invalid momentum"),
        (lambda p: optim.Adagrad([p], lr_decay=-0.1), ValueError, "Adagrad: invalid lr_decay"),
        (lambda p: optim.Adagrad([p], initial_accumulator_value=-1), ValueError,
         "Adagrad: invalid initial_accumulator_value"),
        (lambda p: optim.SGD([]), ValueError, "SGD: got an empty parameter list"),
        (lambda p: optim.SGD(p), TypeError, "a single Tensor of shape"),
        (lambda p: optim.SGD({p}), TypeError, "not a set"),
        (lambda p: optim.SGD([p, p]), ValueError, "appears twice"),
        (lambda p: optim.SGD([p * 2]), ValueError, "is not a leaf; it was computed by 'multiply'"),
        (lambda p: optim.SGD([cr.tensor([1, 2])]), TypeError, "dtype int64"),
        (lambda p: optim.SGD([p.numpy()]), TypeError, "is a ndarray; expected a Tensor"),
        (lambda p: optim.SGD([{"params": [p]}, p]), TypeError, "must be a dict"),
        (lambda p: optim.SGD([{"lr": 0.1}]), ValueError, "has no 'params' entry"),
        (lambda p: optim.SGD(3), TypeError, "got int"),
    ],
)
def test_bad_arguments(make, error, match):
    p = cr.nn.Parameter(cr.ones(2))
    with pytest.raises(error, match=match):
        make(p)


def _adam_with_state():
    p = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = cr.tensor([1.0, -1.0])
    opt.step()
    return p, opt


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("step", "x", r"state 'step' of parameter 0 should be a non-negative integer, got 'x'"),
        ("step", -1, "should be a non-negative integer, got -1"),
        ("step", 1.5, "should be a non-negative integer, got 1.5"),
        ("step", True, "should be a non-negative integer, got True"),
        ("exp_avg", np.array(["a", "b"]), "'exp_avg' of parameter 0 should be a real array"),
        ("exp_avg", [1.0, None], "should be a real array of numbers, got dtype object"),
        ("exp_avg", [[1.0], [2.0, 3.0]], "'exp_avg' of parameter 0 is not an array"),
        ("exp_avg", np.array([1.0, np.nan]), "holds NaN or Inf"),
        ("exp_avg_sq", np.array([1.0, -1.0]), "'exp_avg_sq' of parameter 0 holds negative"),
        ("max_exp_avg_sq", np.array([1.0, 2.0, 3.0]), r"has shape \(3,\)"),
        ("momentum_buffer", np.zeros(2), "Adam keeps no such state .*another optimizer"),
    ],
)
def test_load_state_dict_checks_each_state_entry_at_load(key, value, match):
    p, opt = _adam_with_state()
    before = opt.state_dict()
    sd = opt.state_dict()
    sd["state"][0][key] = value
    with pytest.raises(ValueError, match=match) as info:
        opt.load_state_dict(sd)
    assert str(info.value).startswith(f"Adam.load_state_dict: state {key!r} of parameter 0")
    after = opt.state_dict()
    assert after["state"][0]["step"] == before["state"][0]["step"] == 1
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])


def test_load_state_dict_takes_a_zero_d_array_or_whole_float_as_the_step():
    p, opt = _adam_with_state()
    sd = opt.state_dict()
    sd["state"][0]["step"] = np.array(4)
    opt.load_state_dict(sd)
    assert opt.state[p]["step"] == 4 and type(opt.state[p]["step"]) is int
    sd["state"][0]["step"] = 5.0
    opt.load_state_dict(sd)
    assert opt.state[p]["step"] == 5 and type(opt.state[p]["step"]) is int


def test_load_checkpoint_puts_the_optimizer_back_when_the_model_refuses_its_state(tmp_path):
    pytest.importorskip("safetensors")

    class Refusing(cr.nn.Linear):
        def load_state_dict(self, state_dict, *args, **kwargs):
            raise ValueError("this model takes no weights")

    def trained(model, lr):
        opt = optim.Adam(model.parameters(), lr=lr)
        for p in model.parameters():
            p.grad = cr.ones(*p.shape)
        opt.step()
        return opt

    path = tmp_path / "ckpt.safetensors"
    source = cr.nn.Linear(2, 1)
    cr.io.save_checkpoint(path, source, trained(source, 0.1))
    model = Refusing(2, 1)
    opt = trained(model, 0.5)
    before = opt.state_dict()
    state, groups = opt.state, opt.param_groups
    with pytest.raises(ValueError, match=r"the model state in .*ckpt.safetensors was refused: "
                       "this model takes no weights"):  # fmt: skip
        cr.io.load_checkpoint(path, model, opt)
    assert opt.state is state and opt.param_groups is groups  # put back, not copied
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"] and after["param_groups"][0]["lr"] == 0.5
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
