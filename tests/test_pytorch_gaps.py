"""Issue 9's remaining PyTorch vocabulary gaps: each by value, against PyTorch where installed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as S

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
