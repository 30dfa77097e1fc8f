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
