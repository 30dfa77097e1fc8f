"""Issue 9's remaining PyTorch vocabulary gaps: each by value, against PyTorch where installed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as S
from chainrule.testing import gradcheck, gradgradcheck

try:
    import torch
except ImportError:  # pragma: no cover - torch is optional
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")


# --- schedulers -----------------------------------------------------------------------------


def _pair(lr=1.0, groups=1):
    opt = cr.optim.SGD([{"params": [cr.nn.Parameter(cr.ones(1))]} for _ in range(groups)], lr=lr)
    if torch is None:
        return opt, None
    topt = torch.optim.SGD(
        [{"params": [torch.nn.Parameter(torch.ones(1))]} for _ in range(groups)], lr=lr
    )
    return opt, topt


def _run(sched, opt, n, epochs=None):
    lrs = []
    for i in range(n):
        lrs.append(list(sched.get_last_lr()))
        opt.step()
        if epochs is None:
            sched.step()
        else:
            sched.step(epochs[i])
    return lrs


SCHEDULES = {
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.3),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 1.0 / (1 + e)),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 if e % 2 else 0.8),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=6, power=2.0),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=3),
    "WarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01),
    "WarmRestarts1": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4),
    "Sequential": lambda m, o: m.SequentialLR(
        o,
        [m.LinearLR(o, start_factor=0.1, total_iters=3), m.CosineAnnealingLR(o, T_max=5)],
        milestones=[3],
    ),
    "Sequential3": lambda m, o: m.SequentialLR(
        o,
        [
            m.ConstantLR(o, factor=0.5, total_iters=2),
            m.ExponentialLR(o, gamma=0.9),
            m.MultiStepLR(o, milestones=[0, 2], gamma=0.5),
        ],
        milestones=[2, 6],
    ),
}

EXPECTED = {  # hand-computed first rates, checked without PyTorch
    "MultiStepLR": [1.0, 1.0, 0.3, 0.3, 0.3, 0.3 * 0.09, 0.3 * 0.09],
    "LambdaLR": [1.0, 0.5, 1 / 3, 0.25],
    "MultiplicativeLR": [1.0, 0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.9],
    "PolynomialLR": [(1 - t / 6) ** 2 for t in range(7)] + [0.0],
    "ConstantLR": [0.25, 0.25, 0.25, 1.0, 1.0],
    "WarmRestarts1": [0.5 * (1 + math.cos(math.pi * (t % 4) / 4)) for t in range(9)],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scheduler_values(name):
    opt, _ = _pair()
    sched = SCHEDULES[name](S, opt)
    got = [v[0] for v in _run(sched, opt, len(EXPECTED[name]))]
    np.testing.assert_allclose(got, EXPECTED[name], rtol=1e-12, atol=1e-15)


@needs_torch
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_matches_pytorch(name):
    opt, topt = _pair(lr=0.5, groups=2)
    ours = _run(SCHEDULES[name](S, opt), opt, 20)
    theirs = _run(SCHEDULES[name](torch.optim.lr_scheduler, topt), topt, 20)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-16)


@needs_torch
def test_warm_restarts_fractional_epochs_match_pytorch():
    epochs = [0.5, 1.25, 2.0, 3.7, 9.1, 10.0, 22.5, 4.0]
    opt, topt = _pair()
    ours = _run(S.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2), opt, 8, epochs)
    theirs = _run(torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, 3, 2), topt, 8, epochs)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_scheduler_state_dict_round_trip(name):
    opt, _ = _pair()
    a = SCHEDULES[name](S, opt)
    _run(a, opt, 7)
    state = a.state_dict()
    assert "lr_lambdas" not in state
    json.dumps(state)  # plain data
    after_a = _run(a, opt, 6)
    opt2, _ = _pair()
    for g, g2 in zip(opt.param_groups, opt2.param_groups):
        g2["initial_lr"] = g["initial_lr"]
    b = SCHEDULES[name](S, opt2)
    b.load_state_dict(state)
    for g, lr in zip(opt2.param_groups, state["_last_lr"]):
        g["lr"] = lr
    assert _run(b, opt2, 6) == after_a


def test_constant_lr_factor_one_round_trips():
    opt, _ = _pair()
    a = S.ConstantLR(opt, factor=1.0, total_iters=2)
    b = S.ConstantLR(opt, factor=0.5, total_iters=2)
    b.load_state_dict(a.state_dict())
    assert b.factor == 1.0
    with pytest.raises(ValueError, match=r"ConstantLR.load_state_dict: factor is 2.0"):
        b.load_state_dict({**a.state_dict(), "factor": 2.0})


def test_scheduler_refusals():
    opt, _ = _pair()
    with pytest.raises(ValueError, match="MultiStepLR: milestones"):
        S.MultiStepLR(opt, milestones=[-1])
    with pytest.raises(TypeError, match="LambdaLR: lr_lambda must be callable"):
        S.LambdaLR(opt, 0.5)
    with pytest.raises(ValueError, match="LambdaLR: lr_lambda has 2 values"):
        S.LambdaLR(opt, [lambda e: 1.0, lambda e: 1.0])
    with pytest.raises(ValueError, match=r"ConstantLR: factor must be in \(0, 1\]"):
        S.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="CosineAnnealingWarmRestarts: T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=2).step(-1.0)
    with pytest.raises(ValueError, match="expected 1 milestones"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], milestones=[])
    other, _ = _pair()
    with pytest.raises(ValueError, match=r"schedulers\[1\] \(StepLR\) drives another"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(other, 3)], milestones=[2])
    with pytest.raises(TypeError, match="ReduceLROnPlateau needs a metric"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.ReduceLROnPlateau(opt)], milestones=[2])


# --- package level ---------------------------------------------------------------------------


def test_device_names_type_index_and_use_in_to():
    assert (cr.device("cpu").type, cr.device("cpu").index) == ("cpu", None)
    assert (cr.device("cuda").type, cr.device("cuda").index) == ("cuda", None)
    assert cr.device("cuda", 2) == "cuda:2" == cr.device("cuda:2")
    assert cr.device(cr.device("cuda:1")).index == 1
    assert repr(cr.device("cuda:3")) == "device(type='cuda', index=3)"
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(cr.device("cpu")) is x
    assert x.device == "cpu" and x.device.type == "cpu" and isinstance(x.device, cr.device)
    m = cr.nn.Linear(2, 1).to(cr.device("cpu"))
    assert m.weight.device == cr.device("cpu")
    for bad, index in [("gpu", None), ("cuda:x", None), ("cpu:1", None), ("cuda:1", 2), (3, None)]:
        with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda' or 'cuda:N'"):
            cr.device(bad, index)


def test_cuda_is_available_follows_cupy():
    try:
        import cupy  # noqa: F401

        has_cupy = True
    except ImportError:
        has_cupy = False
    assert cr.cuda.is_available() == (cr.cuda.device_count() > 0)
    if not has_cupy:
        assert cr.cuda.device_count() == 0 and cr.cuda.is_available() is False


def test_generator_seeds_and_is_accepted_by_random_functions():
    g = cr.Generator()
    assert g.manual_seed(7) is g and g.initial_seed() == 7
    a = cr.randn(4, generator=g).numpy()
    b = cr.rand(3, generator=g).numpy()
    g.manual_seed(7)
    np.testing.assert_array_equal(cr.randn(4, generator=g).numpy(), a)
    state = g.get_state()
    np.testing.assert_array_equal(cr.rand(3, generator=g).numpy(), b)
    g.set_state(state)
    np.testing.assert_array_equal(cr.rand(3, generator=g).numpy(), b)
    # the same stream as NumPy's PCG64 with that seed
    np.testing.assert_array_equal(a, np.random.default_rng(7).standard_normal(4).astype(a.dtype))
    ints = cr.randint(0, 10, (5,), generator=cr.Generator().manual_seed(1)).tolist()
    assert ints == cr.randint(0, 10, (5,), generator=cr.Generator().manual_seed(1)).tolist()
    loader = cr.utils.data.DataLoader(
        cr.data.TensorDataset(np.arange(8)), batch_size=8, shuffle=True, generator=g
    )
    assert sorted(next(iter(loader))[0].tolist()) == list(range(8))
    with pytest.raises(ValueError, match="Generator: only device='cpu'"):
        cr.Generator("cuda")
    with pytest.raises(ValueError, match="manual_seed: expected an int >= 0"):
        g.manual_seed(-1)


def test_randperm():
    p = cr.randperm(10, generator=cr.Generator().manual_seed(3))
    assert p.dtype == np.int64 and p.shape == (10,) and not p.requires_grad
    assert sorted(p.tolist()) == list(range(10))
    np.testing.assert_array_equal(p.numpy(), np.random.default_rng(3).permutation(10))
    f = cr.randperm(4, dtype=cr.float64, requires_grad=True)
    assert f.dtype == np.float64 and f.requires_grad
    assert cr.randperm(0).shape == (0,)
    with pytest.raises(ValueError, match="randperm: n must be an int >= 0"):
        cr.randperm(-1)
    with pytest.raises(ValueError, match="randperm: only floating tensors can require grad"):
        cr.randperm(3, requires_grad=True)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, math.inf])
def test_cdist_values_and_gradients(p):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4))
    b[0, 1] = a[0, 2]  # a zero distance: gradient 0 there, as PyTorch
    want = np.linalg.norm(a[:, :, None, :] - b[:, None, :, :], ord=p, axis=-1)
    np.testing.assert_allclose(cr.cdist(cr.tensor(a), cr.tensor(b), p=p).numpy(), want, 1e-12)
    c, d = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    assert gradcheck(lambda x, y: cr.cdist(x, y, p=p), c, d)
    if p != math.inf:  # the max norm's second derivative is zero almost everywhere
        assert gradgradcheck(lambda x, y: cr.cdist(x, y, p=p), c, d)
    if torch is not None:
        x, y = cr.tensor(a, requires_grad=True), cr.tensor(b, requires_grad=True)
        tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        w = rng.normal(size=(2, 3, 5))
        (cr.cdist(x, y, p=p) * cr.tensor(w)).sum().backward()
        (torch.cdist(tx, ty, p=p) * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), atol=1e-12)


def test_cdist_keeps_float32_and_refuses():
    out = cr.cdist(cr.ones((2, 3), dtype=cr.float32), cr.zeros((4, 3), dtype=cr.float32))
    assert out.dtype == np.float32 and out.shape == (2, 4)
    with pytest.raises(ValueError, match=r"cdist: expected x1 \(\*, P, M\).*\(2, 3\) and \(4, 2\)"):
        cr.cdist(cr.ones((2, 3)), cr.ones((4, 2)))
    with pytest.raises(TypeError, match="cdist: expected floating tensors"):
        cr.cdist(cr.ones((2, 3), dtype=cr.int64), cr.ones((2, 3)))
    with pytest.raises(ValueError, match="cdist: p must be a number >= 1"):
        cr.cdist(cr.ones((2, 3)), cr.ones((2, 3)), p=0.5)


def test_save_load_state_dicts(tmp_path):
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    model(cr.randn(5, 3)).sum().backward()
    opt.step()
    cr.save(model.state_dict(), tmp_path / "m.safetensors")
    cr.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}, tmp_path / "c")
    other = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    other.load_state_dict(cr.load(tmp_path / "m.safetensors", map_location="cpu"))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    ckpt = cr.load(str(tmp_path / "c"), map_location=cr.device("cpu"), weights_only=True)
    assert ckpt["epoch"] == 3
    opt2 = cr.optim.Adam(other.parameters(), lr=0.5)
    opt2.load_state_dict(ckpt["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01
    st = opt2.state_dict()["state"][0]
    np.testing.assert_array_equal(st["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_save_load_refusals(tmp_path):
    with pytest.raises(TypeError, match=r"save model.state_dict\(\)"):
        cr.save(cr.nn.Linear(2, 2), tmp_path / "m")
    with pytest.raises(TypeError, match="save: unsupported arguments \\['pickle_module'\\]"):
        cr.save({"w": np.ones(1)}, tmp_path / "m", pickle_module=None)
    import pickle
    import zipfile

    (tmp_path / "old.pt").write_bytes(pickle.dumps({"w": 1}))
    with zipfile.ZipFile(tmp_path / "new.pt", "w") as z:
        z.writestr("archive/data.pkl", b"x")
    for name in ("old.pt", "new.pt"):
        with pytest.raises(ValueError, match="is a PyTorch pickle.*never reads"):
            cr.load(tmp_path / name)
    with pytest.raises(ValueError, match="map_location='cuda' is not supported"):
        cr.load(tmp_path / "old.pt", map_location="cuda")


@needs_torch
def test_load_refuses_a_real_torch_file(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "t.pt")
    with pytest.raises(ValueError, match="PyTorch pickle"):
        cr.load(tmp_path / "t.pt")


def test_utils_data_alias_subset_random_split():
    from chainrule.utils.data import DataLoader, Dataset, Subset, TensorDataset, random_split

    assert DataLoader is cr.data.DataLoader and Dataset is cr.data.Dataset
    assert TensorDataset is cr.data.TensorDataset
    ds = TensorDataset(np.arange(10) * 10, np.arange(10))
    sub = Subset(ds, [3, 1, 4])
    assert len(sub) == 3 and sub[0][0].item() == 30 and sub[2][1].item() == 4
    assert [s[1].item() for s in sub[[0, 2]]] == [3, 4]
    xb, yb = next(iter(DataLoader(sub, batch_size=3)))
    assert xb.tolist() == [30, 10, 40] and yb.tolist() == [3, 1, 4]
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=cr.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(sum((p.indices for p in parts), [])) == list(range(10))
    np.testing.assert_array_equal(
        sum((p.indices for p in parts), []), np.random.default_rng(0).permutation(10)
    )
    assert [len(p) for p in random_split(range(7), [0.5, 0.5], generator=0)] == [4, 3]
    assert [len(p) for p in random_split(range(7), [2, 5], generator=0)] == [2, 5]
    with pytest.raises(ValueError, match=r"lengths \[2, 2\] sum to 4, but the dataset has 7"):
        random_split(range(7), [2, 2])
    with pytest.raises(ValueError, match="fractions must sum to 1"):
        random_split(range(7), [0.5, 0.4])
    with pytest.raises(TypeError, match="Subset: dataset must define"):
        Subset(3, [0])


# --- nn / F ----------------------------------------------------------------------------------

F = cr.nn.functional


def _np_group_norm(x, g, eps=1e-5):
    n, c = x.shape[:2]
    r = x.reshape(n, g, -1)
    y = (r - r.mean(-1, keepdims=True)) / np.sqrt(r.var(-1, keepdims=True) + eps)
    return y.reshape(x.shape)


def test_group_norm_values_gradients_and_module():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(3, 6, 4, 2)), rng.normal(size=6), rng.normal(size=6)
    want = _np_group_norm(x, 3) * w[None, :, None, None] + b[None, :, None, None]
    got = F.group_norm(cr.tensor(x), 3, cr.tensor(w), cr.tensor(b))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    xs = rng.normal(size=(2, 4, 3))
    assert gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), xs, w[:4], b[:4])
    assert gradgradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), xs, w[:4], b[:4])
    gn = cr.nn.GroupNorm(2, 6, affine=False)
    assert gn.weight is None and list(gn.state_dict()) == []
    f32 = cr.nn.GroupNorm(3, 6)(cr.randn(2, 6, 5))
    assert f32.dtype == np.float32
    if torch is not None:
        t = torch.nn.functional.group_norm(torch.tensor(x), 3, torch.tensor(w), torch.tensor(b))
        np.testing.assert_allclose(got.numpy(), t.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match=r"group_norm: num_groups=4 must be a positive divisor"):
        F.group_norm(cr.tensor(x), 4)
    with pytest.raises(ValueError, match="GroupNorm: num_channels=6 must be divisible"):
        cr.nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"group_norm: weight of shape \(4,\)"):
        F.group_norm(cr.tensor(x), 3, cr.ones(4))


def test_instance_norm_values_running_stats_and_gradients():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3, 5, 2))
    want = _np_group_norm(x, 3)  # one group per channel is instance norm
    rm, rv = np.zeros(3), np.ones(3)
    got = F.instance_norm(cr.tensor(x), rm, rv, momentum=0.2)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    flat = x.reshape(4, 3, -1)
    np.testing.assert_allclose(rm, 0.2 * flat.mean(-1).mean(0), atol=1e-14)
    np.testing.assert_allclose(rv, 0.8 + 0.2 * flat.var(-1, ddof=1).mean(0), atol=1e-14)
    ev = F.instance_norm(cr.tensor(x), rm, rv, use_input_stats=False)
    np.testing.assert_allclose(
        ev.numpy(), (x - rm[:, None, None]) / np.sqrt(rv + 1e-5)[:, None, None]
    )
    w, b = rng.normal(size=3), rng.normal(size=3)
    xs = rng.normal(size=(2, 3, 4))
    assert gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), xs, w, b)
    assert gradgradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), xs, w, b)
    with pytest.raises(ValueError, match="use_input_stats=False needs running_mean"):
        F.instance_norm(cr.tensor(x), use_input_stats=False)
    with pytest.raises(ValueError, match="instance_norm: running statistics of shape"):
        F.instance_norm(cr.tensor(x), np.zeros(2), np.ones(2))


@needs_torch
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
def test_instance_norm_modules_match_pytorch(affine, track):
    rng = np.random.default_rng(3)
    for ours, theirs, shape in [
        (cr.nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (4, 3, 6)),
        (cr.nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (2, 3, 4, 5)),
        (cr.nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (3, 4, 5)),  # unbatched
    ]:
        m = ours(3, affine=affine, track_running_stats=track, momentum=0.3, dtype=cr.float64)
        t = theirs(3, affine=affine, track_running_stats=track, momentum=0.3).double()
        if affine:
            w, b = rng.normal(size=3), rng.normal(size=3)
            m.weight.data, m.bias.data = w.copy(), b.copy()
            t.weight.data, t.bias.data = torch.tensor(w), torch.tensor(b)
        assert sorted(m.state_dict()) == sorted(t.state_dict())
        for _ in range(2):
            x = rng.normal(size=shape)
            np.testing.assert_allclose(
                m(cr.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12
            )
        m.eval(), t.eval()
        x = rng.normal(size=shape)
        np.testing.assert_allclose(
            m(cr.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12
        )
        for k, v in t.state_dict().items():
            np.testing.assert_allclose(np.asarray(m.state_dict()[k]), v.numpy(), atol=1e-12)


def test_bilinear_values_gradients_and_module():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 5))
    w, bias = rng.normal(size=(2, 4, 5)), rng.normal(size=2)
    want = np.einsum("...i,kij,...j->...k", a, w, b) + bias
    got = F.bilinear(cr.tensor(a), cr.tensor(b), cr.tensor(w), cr.tensor(bias))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    assert gradcheck(F.bilinear, a[0], b[0], w, bias)
    assert gradgradcheck(F.bilinear, a[0], b[0], w, bias)
    m = cr.nn.Bilinear(4, 5, 2, bias=False)
    assert m.weight.shape == (2, 4, 5) and m.bias is None
    assert np.abs(m.weight.numpy()).max() <= 0.5  # U(-1/sqrt(4), 1/sqrt(4))
    assert m(cr.randn(7, 4), cr.randn(7, 5)).dtype == np.float32
    if torch is not None:
        t = torch.nn.functional.bilinear(*map(torch.tensor, (a, b, w, bias)))
        np.testing.assert_allclose(got.numpy(), t.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match=r"bilinear: expected input1 \(\*, in1\)"):
        F.bilinear(cr.tensor(a), cr.tensor(b), cr.tensor(w[:, :3]))


@pytest.mark.parametrize("size", [(3, 2), 1, (4, None), (7, 5)])
def test_adaptive_max_pool2d(size):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 7, 5))
    v, i = F.adaptive_max_pool2d(cr.tensor(x), size, return_indices=True)
    oh, ow = (size, size) if isinstance(size, int) else (size[0], size[1] or 5)
    for r in range(oh):
        h0, h1 = r * 7 // oh, -(-(r + 1) * 7 // oh)
        for c in range(ow):
            w0, w1 = c * 5 // ow, -(-(c + 1) * 5 // ow)
            np.testing.assert_array_equal(v.numpy()[:, :, r, c], x[:, :, h0:h1, w0:w1].max((2, 3)))
    flat = x.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, i.numpy().reshape(2, 3, -1), -1),
                                  v.numpy().reshape(2, 3, -1))  # fmt: skip
    assert i.dtype == np.int64
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, size), x[:1])
    assert gradgradcheck(lambda x: F.adaptive_max_pool2d(x, size), x[:1])
    if torch is not None:
        tv, ti = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), size, True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_adaptive_max_pool1d_avg_pool1d_and_modules():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 7))
    v, i = cr.nn.AdaptiveMaxPool1d(3, return_indices=True)(cr.tensor(x))
    windows = [(0, 3), (2, 5), (4, 7)]
    np.testing.assert_array_equal(
        v.numpy(), np.stack([x[..., a:b].max(-1) for a, b in windows], -1)
    )
    first = np.stack([a + x[..., a:b].argmax(-1) for a, b in windows], -1)
    np.testing.assert_array_equal(i.numpy(), first)
    avg = cr.nn.AdaptiveAvgPool1d(3)(cr.tensor(x))
    np.testing.assert_allclose(
        avg.numpy(), np.stack([x[..., a:b].mean(-1) for a, b in windows], -1)
    )
    assert cr.nn.AdaptiveAvgPool1d(2)(cr.tensor(x[0])).shape == (3, 2)  # unbatched
    assert cr.nn.AdaptiveMaxPool2d(2)(cr.randn(3, 4, 4)).shape == (3, 2, 2)
    x32 = cr.randn(2, 3, 8)
    assert F.adaptive_max_pool1d(x32, 2).dtype == np.float32
    assert F.adaptive_avg_pool1d(x32, 3).dtype == np.float32
    assert gradcheck(lambda x: F.adaptive_max_pool1d(x, 3), x)
    assert gradgradcheck(lambda x: F.adaptive_max_pool1d(x, 3), x)
    assert gradcheck(lambda x: F.adaptive_avg_pool1d(x, 3), x)
    assert gradgradcheck(lambda x: F.adaptive_avg_pool1d(x, 3), x)
    # the gradient goes to the chosen element only
    t = cr.tensor(np.array([[[1.0, 1.0, 0.0]]]), requires_grad=True)
    F.adaptive_max_pool1d(t, 1).sum().backward()
    assert t.grad.tolist() == [[[1.0, 0.0, 0.0]]]
    with pytest.raises(ValueError, match="adaptive_max_pool1d: output_size entries must be ints"):
        F.adaptive_max_pool1d(cr.tensor(x), 0)
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: expected an input of shape"):
        F.adaptive_max_pool2d(cr.tensor(x[0, 0]), 2)


def test_transformer_encoder_stack_norm_and_masks():
    cr.manual_seed(0)
    layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    enc = cr.nn.TransformerEncoder(layer, num_layers=3, norm=cr.nn.LayerNorm(8))
    assert len(enc.layers) == 3 and enc.layers[0] is not layer
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1 and np.array_equal(w0.numpy(), w1.numpy())
    x = cr.randn(2, 5, 8)
    mask = np.triu(np.ones((5, 5), bool), 1)
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    want = x
    for lyr in enc.layers:
        want = lyr(want, src_mask=mask, src_key_padding_mask=pad)
    want = enc.norm(want)
    got = enc(x, mask=mask, src_key_padding_mask=pad)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
    assert not np.allclose(got.numpy(), enc(x).numpy(), atol=1e-3)  # the masks matter
    got.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        cr.nn.TransformerEncoder(layer, 0)


@needs_torch
def test_transformer_encoder_matches_pytorch():
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    tnorm = torch.nn.LayerNorm(8)
    tenc = torch.nn.TransformerEncoder(tl, 2, norm=tnorm, enable_nested_tensor=False).double()
    layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, dtype=cr.float64)
    enc = cr.nn.TransformerEncoder(layer, 2, norm=cr.nn.LayerNorm(8, dtype=cr.float64))
    assert sorted(enc.state_dict()) == sorted(tenc.state_dict())
    enc.load_state_dict({k: v.numpy() for k, v in tenc.state_dict().items()})
    x = np.random.default_rng(7).normal(size=(2, 5, 8))
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    got = enc(cr.tensor(x), src_key_padding_mask=pad)
    want = tenc(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
    np.testing.assert_allclose(got.numpy()[0], want.detach().numpy()[0], atol=1e-10)
    np.testing.assert_allclose(got.numpy()[1, :3], want.detach().numpy()[1, :3], atol=1e-10)


def test_embedding_max_norm():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 0.0]])
    emb = cr.nn.Embedding(4, 2, max_norm=1.0, _weight=cr.nn.Parameter(w.copy()))
    out = emb(cr.tensor([0, 1, 0]))
    scale = 1.0 / (5.0 + 1e-7)
    np.testing.assert_allclose(
        out.numpy(), [[3 * scale, 4 * scale], [0.3, 0.4], [3 * scale, 4 * scale]]
    )
    np.testing.assert_allclose(emb.weight.numpy()[2], [6.0, 8.0])  # not looked up: unchanged
    np.testing.assert_allclose(emb.weight.numpy()[0], [3 * scale, 4 * scale])
    l1 = F.embedding(cr.tensor([2]), cr.tensor(w.copy()), max_norm=7.0, norm_type=1.0)
    np.testing.assert_allclose(l1.numpy(), [[6.0 * 7 / (14 + 1e-7), 8.0 * 7 / (14 + 1e-7)]])
    assert "max_norm=1.0" in repr(emb)
    if torch is not None:
        t = torch.nn.Embedding(4, 2, max_norm=1.0, _weight=torch.tensor(w.copy()))
        np.testing.assert_allclose(out.numpy(), t(torch.tensor([0, 1, 0])).detach().numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes(mode):
    rng = np.random.default_rng(8)
    for conv, shape, pad in [
        (cr.nn.Conv1d, (2, 3, 9), 2),
        (cr.nn.Conv2d, (2, 3, 6, 5), (1, 2)),
        (cr.nn.Conv2d, (1, 3, 6, 5), "same"),
        (cr.nn.Conv3d, (1, 2, 4, 4, 3), 1),
    ]:
        m = conv(shape[1], 2, 3, padding=pad, padding_mode=mode, dtype=cr.float64)
        x = rng.normal(size=shape)
        nd = len(shape) - 2
        amounts = (pad,) * nd if isinstance(pad, int) else (1,) * nd if pad == "same" else pad
        np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        xp = np.pad(x, [(0, 0), (0, 0)] + [(a, a) for a in amounts], mode=np_mode)
        plain = conv(shape[1], 2, 3, dtype=cr.float64)
        plain.load_state_dict(m.state_dict())
        np.testing.assert_allclose(
            m(cr.tensor(x)).numpy(), plain(cr.tensor(xp)).numpy(), atol=1e-12
        )
        assert f"padding_mode={mode}" in repr(m)
    m = cr.nn.Conv2d(2, 2, 3, padding=1, padding_mode=mode, dtype=cr.float64)
    assert gradcheck(lambda x: m(x), rng.normal(size=(1, 2, 4, 4)))
    assert gradgradcheck(lambda x: m(x), rng.normal(size=(1, 2, 4, 4)))
    if torch is not None:
        t = torch.nn.Conv2d(2, 2, 3, padding=1, padding_mode=mode).double()
        t.weight.data, t.bias.data = torch.tensor(m.weight.numpy()), torch.tensor(m.bias.numpy())
        x = rng.normal(size=(2, 2, 5, 4))
        np.testing.assert_allclose(
            m(cr.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), atol=1e-12
        )
    with pytest.raises(
        ValueError, match="ConvTranspose2d: padding_mode 'reflect' is not supported"
    ):
        cr.nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="Conv2d: padding_mode 'mirror' is not supported"):
        cr.nn.Conv2d(2, 2, 3, padding_mode="mirror")


# --- Tensor.register_hook / retain_grad --------------------------------------------------------


def test_register_hook_sees_and_replaces_gradients():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    seen = []
    y = x * x
    h = y.register_hook(lambda g: seen.append(g.tolist()))
    z = y * cr.tensor([1.0, 2.0, 3.0])
    z.register_hook(lambda g: g * 2)  # the seed doubled: everything below doubles
    z.sum().backward()
    assert seen == [[2.0, 4.0, 6.0]]
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 2.0, 3.0]) * 2 * x.numpy())
    h.remove()
    h.remove()  # idempotent
    x.grad = None
    y = x * x
    y.register_hook(lambda g: None)
    (y * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


def test_leaf_hook_runs_before_accumulation_and_in_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    calls = []
    w.register_hook(lambda g: calls.append(g.tolist()) or g.clamp(max=4.0))
    (w * cr.tensor([3.0, 5.0])).sum().backward()
    assert calls == [[3.0, 5.0]] and w.grad.tolist() == [3.0, 4.0]
    (w * cr.tensor([3.0, 5.0])).sum().backward()
    assert w.grad.tolist() == [6.0, 8.0]  # accumulated, each pass clipped
    (g,) = cr.autodiff.backward((w * 10).sum(), np.float64(1.0), targets=[w])
    assert g.tolist() == [4.0, 4.0] and len(calls) == 3
    assert w.grad.tolist() == [6.0, 8.0]  # grad() touches no .grad


def test_hooks_several_paths_order_and_dtype():
    x = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x * 2
    order = []
    y.register_hook(lambda g: order.append("a") or g + 1)
    y.register_hook(lambda g: order.append(("b", g.tolist())) or np.asarray(g.numpy(), np.float64))
    (y * y + y).sum().backward()  # both uses of y summed before the hooks run, once
    assert order == ["a", ("b", [2 * 2 + 1 + 1, 2 * 4 + 1 + 1])]
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([6.0, 10.0]))
    with pytest.raises(RuntimeError, match=r"register_hook: a hook returned a gradient of shape"):
        z = x * 1
        z.register_hook(lambda g: cr.ones(3))
        z.sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.ones(2).register_hook(print)
    with pytest.raises(TypeError, match="hook must be callable"):
        x.register_hook(3)


def test_hooks_under_create_graph_are_differentiable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x**3
    y.register_hook(lambda g: g * x)  # the replacement depends on x: recorded
    (gx,) = cr.autodiff.backward(y, cr.ones(2), create_graph=True, targets=[x]) or [None]
    np.testing.assert_allclose(gx.numpy(), 3 * x.numpy() ** 2 * x.numpy())
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 9 * x.numpy() ** 2)  # d/dx of 3 x^3


def test_retain_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    assert not y.retains_grad
    y.retain_grad()
    assert y.retains_grad and y.grad is None
    h = y.register_hook(lambda g: g * 2)
    z = (y * y).sum()
    z.backward(retain_graph=True)
    np.testing.assert_allclose(y.grad.numpy(), 2 * 2 * y.numpy())  # after the hook, as PyTorch
    z.backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * 2 * 2 * y.numpy())  # accumulates
    h.remove()
    assert y.retains_grad  # removing a hook keeps retain_grad
    x.retain_grad()  # a leaf: nothing to do
    assert not x.retains_grad
    other = x * 1
    (other * 2).sum().backward()
    assert other.grad is None  # not retained


@needs_torch
def test_hooks_and_retain_grad_match_pytorch():
    a = np.array([0.5, -1.5, 2.0])

    def run(lib, t):
        x = t(a.copy(), requires_grad=True)
        y = x.tanh() * 3
        y.retain_grad()
        y.register_hook(lambda g: g * g)
        z = (y * y).sum()
        z.register_hook(lambda g: g * 0.5)
        z.backward()
        return x.grad, y.grad

    gx, gy = run(cr, lambda v, requires_grad: cr.tensor(v, requires_grad=requires_grad))
    tx, ty = run(torch, lambda v, requires_grad: torch.tensor(v, requires_grad=requires_grad))
    np.testing.assert_allclose(gx.numpy(), tx.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gy.numpy(), ty.numpy(), rtol=1e-12)


# --- buffers read as tensors -------------------------------------------------------------------


class _PositionalEncoding(cr.nn.Module):
    def __init__(self, d, n=16):
        super().__init__()
        pos = np.arange(n)[:, None] / 10000 ** (np.arange(0, d, 2) / d)
        pe = np.zeros((1, n, d))
        pe[0, :, 0::2], pe[0, :, 1::2] = np.sin(pos), np.cos(pos)
        self.register_buffer("pe", pe)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]


def test_buffers_read_as_tensors():
    bn = cr.nn.BatchNorm1d(3, dtype=cr.float64)
    rm = bn.running_mean
    assert isinstance(rm, cr.Tensor) and not rm.requires_grad and rm is bn.running_mean
    assert rm.size() == (3,) and rm.size(0) == 3
    before = bn.running_mean.clone()
    x = np.random.default_rng(9).normal(size=(8, 3)) + 2.0
    bn(cr.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(0))  # the same array, updated
    np.testing.assert_array_equal(before.numpy(), np.zeros(3))  # the clone did not move
    assert int(bn.num_batches_tracked) == 1
    assert (bn.running_var * 2 + 1).shape == (3,)
    bn.running_mean[...] = 5.0  # a write through the tensor reaches the buffer
    assert bn.state_dict()["running_mean"].tolist() == [5.0] * 3
    sd = bn.state_dict()
    sd["running_mean"][...] = -1.0  # state_dict() holds copies
    assert bn.running_mean.tolist() == [5.0] * 3
    fresh = cr.nn.BatchNorm1d(3, dtype=cr.float64)
    fresh.load_state_dict(sd)
    assert fresh.running_mean.tolist() == [-1.0] * 3
    fresh.to(cr.device("cpu"))
    assert fresh.running_mean.tolist() == [-1.0] * 3
    assert isinstance(next(iter(fresh.buffers())), np.ndarray)  # named_buffers keeps arrays
    fresh.running_mean = cr.zeros(3, dtype=cr.float64)  # assigning a Tensor stores its array
    assert isinstance(fresh._buffers["running_mean"], np.ndarray)
    assert fresh.running_mean.tolist() == [0.0] * 3
    assert cr.nn.BatchNorm1d(3, track_running_stats=False).running_mean is None


def test_list_written_into_a_float64_tensor_keeps_float64_values():
    bn = cr.nn.BatchNorm1d(2, dtype=cr.float64)
    bn.running_mean[...] = [0.1, 0.3]  # as into an ndarray: no float32 rounding on the way
    assert bn._buffers["running_mean"].tolist() == [0.1, 0.3]
    x = cr.zeros(2, dtype=cr.float64)
    x += [0.1, 0.7]
    assert x.tolist() == [0.1, 0.7]


def test_buffer_positional_encoding_runs_unchanged():
    pe = _PositionalEncoding(4)
    x = cr.zeros(2, 5, 4, dtype=cr.float64, requires_grad=True)
    y = pe(x)
    np.testing.assert_allclose(y.numpy()[1], pe._buffers["pe"][0, :5])
    y.sum().backward()
    assert x.grad.tolist() == np.ones((2, 5, 4)).tolist()
    assert pe.pe.size(1) == 16 and list(pe.state_dict()) == ["pe"]
