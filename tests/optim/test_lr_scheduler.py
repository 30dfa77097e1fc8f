"""Learning-rate schedulers: sequences equal to PyTorch 2.13's (printed by it and pasted here),
closed forms, state-dict round trips, ReduceLROnPlateau's patience/cooldown/min_lr."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.optim import lr_scheduler as lrs


def make_opt(lrs_=(0.1, 0.02), kind="SGD", **kw):
    params = [cr.nn.Parameter(cr.zeros(1)) for _ in lrs_]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs_)]
    return getattr(optim, kind)(groups, **kw)


def sequence(opt, sched, n, momentum=False):
    """The rates (and momentum) in use at each of n optimiser steps."""
    out = []
    for i in range(n):
        last = sched.get_last_lr()
        assert last == [g["lr"] for g in opt.param_groups]
        if momentum:
            g = opt.param_groups[0]
            out.append((last[0], g["momentum"] if "momentum" in g else g["betas"][0]))
        else:
            out.append(last if len(last) > 1 else last[0])
        opt.step()
        if i < n - 1:
            sched.step()
    return out


# ----------------------------------------------------------------- PyTorch's sequences
def test_step_lr():
    opt = make_opt()
    got = sequence(opt, lrs.StepLR(opt, step_size=3, gamma=0.1), 10)
    assert got == [
        [0.1, 0.02], [0.1, 0.02], [0.1, 0.02],
        [0.010000000000000002, 0.002], [0.010000000000000002, 0.002],
        [0.010000000000000002, 0.002], [0.0010000000000000002, 0.0002],
        [0.0010000000000000002, 0.0002], [0.0010000000000000002, 0.0002],
        [0.00010000000000000003, 2e-05],
    ]  # fmt: skip
    for epoch, (a, b) in enumerate(got):  # the closed form
        assert a == pytest.approx(0.1 * 0.1 ** (epoch // 3), rel=1e-14)
        assert b == pytest.approx(0.02 * 0.1 ** (epoch // 3), rel=1e-14)


def test_exponential_lr():
    opt = make_opt()
    got = sequence(opt, lrs.ExponentialLR(opt, gamma=0.7), 8)
    assert got == [
        [0.1, 0.02], [0.06999999999999999, 0.013999999999999999],
        [0.048999999999999995, 0.009799999999999998], [0.0343, 0.006859999999999998],
        [0.024009999999999997, 0.004801999999999998],
        [0.016806999999999996, 0.0033613999999999983],
        [0.011764899999999997, 0.002352979999999999],
        [0.008235429999999997, 0.0016470859999999992],
    ]  # fmt: skip
    for epoch, (a, _) in enumerate(got):
        assert a == pytest.approx(0.1 * 0.7**epoch, rel=1e-14)


def test_cosine_annealing_lr_over_three_half_periods():
    opt = make_opt((0.1,))
    got = sequence(opt, lrs.CosineAnnealingLR(opt, T_max=5, eta_min=0.01), 16)
    assert got == [
        0.1, 0.09140576474687263, 0.06890576474687263, 0.04109423525312736,
        0.018594235253127367, 0.01, 0.018594235253127367, 0.04109423525312739,
        0.06890576474687267, 0.09140576474687269, 0.10000000000000006, 0.09140576474687272,
        0.06890576474687268, 0.0410942352531274, 0.01859423525312738, 0.01,
    ]  # fmt: skip
    closed = [0.01 + (0.1 - 0.01) * (1 + math.cos(math.pi * t / 5)) / 2 for t in range(16)]
    np.testing.assert_allclose(got, closed, rtol=1e-13)


def test_linear_lr_warmup():
    opt = make_opt((0.1,))
    assert sequence(opt, lrs.LinearLR(opt), 8) == [
        0.03333333333333333, 0.04666666666666667, 0.060000000000000005, 0.07333333333333335,
        0.08666666666666668, 0.1, 0.1, 0.1,
    ]  # fmt: skip
    opt = make_opt((0.1,))
    sched = lrs.LinearLR(opt, start_factor=0.1, end_factor=0.7, total_iters=4)
    got = sequence(opt, sched, 7)
    assert got == [
        0.010000000000000002, 0.025000000000000005, 0.04000000000000001, 0.05500000000000001,
        0.07, 0.07, 0.07,
    ]  # fmt: skip
    closed = [0.1 * (0.1 + 0.6 * min(t, 4) / 4) for t in range(7)]
    np.testing.assert_allclose(got, closed, rtol=1e-14)


def test_one_cycle_lr_cycles_sgd_momentum():
    opt = make_opt((0.1,), momentum=0.9)
    got = sequence(opt, lrs.OneCycleLR(opt, max_lr=1.0, total_steps=10), 10, momentum=True)
    assert got == [
        (0.040000000000000036, 0.95), (0.52, 0.8999999999999999), (1.0, 0.85),
        (0.9504846320134737, 0.854951556604879), (0.8117456539497631, 0.8688255099070633),
        (0.6112620219362893, 0.8888739533021842), (0.38874197806371075, 0.9111260466978157),
        (0.18825834605023697, 0.9311744900929366), (0.049519367986526286, 0.945048443395121),
        (4e-06, 0.95),
    ]  # fmt: skip


def test_one_cycle_lr_three_phase_linear():
    opt = make_opt((0.1,), momentum=0.9)
    sched = lrs.OneCycleLR(
        opt, max_lr=1.0, epochs=2, steps_per_epoch=5, anneal_strategy="linear",
        three_phase=True, pct_start=0.25,
    )  # fmt: skip
    assert sequence(opt, sched, 10, momentum=True) == [
        (0.04, 0.95), (0.6799999999999999, 0.8833333333333333), (0.68, 0.8833333333333333),
        (0.040000000000000036, 0.95), (0.033334, 0.95), (0.026668, 0.95), (0.020002, 0.95),
        (0.013336, 0.95), (0.006669999999999995, 0.95), (3.9999999999970615e-06, 0.95),
    ]  # fmt: skip
    sched.step()  # step 10 is allowed (as in PyTorch); the next is one too many
    with pytest.raises(ValueError, match="tried to step 11 times, but total_steps is 10"):
        sched.step()


def test_one_cycle_lr_cycles_adam_beta1_and_drives_the_update():
    opt = make_opt((0.1,), kind="Adam", betas=(0.9, 0.99))
    sched = lrs.OneCycleLR(opt, max_lr=0.01, total_steps=6, base_momentum=0.8, max_momentum=0.9)
    assert sequence(opt, sched, 6, momentum=True) == [
        (0.0003999999999999993, 0.9), (0.009944154354509118, 0.8005584586887436),
        (0.00811745653949763, 0.8188255099070634), (0.00462637102666975, 0.8537365046793213),
        (0.001334775301888306, 0.8866525935914913), (4e-08, 0.9),
    ]  # fmt: skip
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    # The optimiser reads the scheduled values: one Adam step moves p by the scheduled lr.
    p = opt.param_groups[0]["params"][0]
    p.grad = cr.ones(1)
    before = p.item()
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    assert before - p.item() == pytest.approx(0.25, rel=1e-6)


def test_one_cycle_lr_per_group_max_lr():
    opt = make_opt((0.1, 0.1), momentum=0.9)
    sched = lrs.OneCycleLR(opt, max_lr=[1.0, 0.5], total_steps=4, cycle_momentum=False)
    assert sched.get_last_lr() == pytest.approx([1.0 / 25, 0.5 / 25], rel=1e-14)
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]


# ----------------------------------------------------------------- ReduceLROnPlateau
METRICS = [5, 4, 4, 4, 4, 3.9999, 4, 4, 4, 4, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1]


def plateau(metrics, **kw):
    opt = make_opt()
    sched = lrs.ReduceLROnPlateau(opt, **kw)
    out = []
    for m in metrics:
        sched.step(m)
        out.append(sched.get_last_lr())
    return out


def test_plateau_waits_patience_bad_epochs():
    got = plateau(METRICS, patience=2)
    # 4 < 5: better; then three epochs without a relative improvement of 1e-4 (3.9999 is not
    # one): the rate drops after the third, i.e. after more than `patience` bad epochs.
    assert [r[0] for r in got[:8]] == [0.1, 0.1, 0.1, 0.1, 0.010000000000000002,
                                       0.010000000000000002, 0.010000000000000002,
                                       0.0010000000000000002]  # fmt: skip
    assert got[-1] == [1.0000000000000004e-06, 2.0000000000000004e-07]


def test_plateau_cooldown_and_min_lr():
    got = plateau(METRICS, patience=1, cooldown=2, factor=0.5, min_lr=0.01)
    assert got == (
        [[0.1, 0.02]] * 3 + [[0.05, 0.01]] * 4 + [[0.025, 0.01]] * 4 + [[0.0125, 0.01]] * 4
        + [[0.01, 0.01]] * 5
    )


def test_plateau_per_group_min_lr_and_max_mode():
    got = plateau(METRICS, patience=1, min_lr=[0.05, 0.0], factor=0.5)
    assert [r[0] for r in got] == [0.1] * 3 + [0.05] * 17
    assert got[-1][1] == 7.8125e-05
    got = plateau(METRICS, mode="max", patience=0, threshold_mode="abs", threshold=0.5)
    # No metric after the first beats 5 + 0.5: every step reduces, until the change < eps.
    assert [r[0] for r in got[:3]] == [0.1, 0.010000000000000002, 0.0010000000000000002]
    assert got[-1] == [1.0000000000000005e-08, 2.000000000000001e-09]


def test_plateau_accepts_a_tensor_metric_and_counts_epochs():
    opt = make_opt((1.0,))
    sched = lrs.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    sched.step(cr.tensor(2.0))
    sched.step(cr.tensor([2.0]))
    assert sched.last_epoch == 2 and sched.best == 2.0
    assert sched.get_last_lr() == [0.5]


# ----------------------------------------------------------------- state dicts
SCHEDULERS = [
    ("StepLR", {"step_size": 2, "gamma": 0.5}, {}),
    ("ExponentialLR", {"gamma": 0.9}, {}),
    ("CosineAnnealingLR", {"T_max": 3, "eta_min": 0.001}, {}),
    ("LinearLR", {"start_factor": 0.2, "total_iters": 6}, {}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 12}, {"momentum": 0.9}),
]


@pytest.mark.parametrize("via_json", [False, True], ids=["dict", "json"])
@pytest.mark.parametrize(("name", "kw", "okw"), SCHEDULERS, ids=[s[0] for s in SCHEDULERS])
def test_scheduler_state_dict_round_trip(name, kw, okw, via_json):
    opt = make_opt(**okw)
    sched = getattr(lrs, name)(opt, **kw)
    full = sequence(opt, sched, 11, momentum=bool(okw))

    opt = make_opt(**okw)
    sched = getattr(lrs, name)(opt, **kw)
    first = sequence(opt, sched, 5, momentum=bool(okw))
    sched.step()
    osd, ssd = opt.state_dict(), sched.state_dict()
    if via_json:
        osd = json.loads(json.dumps(osd))
        ssd = json.loads(json.dumps(ssd))
    opt2 = make_opt((0.7, 0.7), **okw)
    sched2 = getattr(lrs, name)(opt2, **kw)  # built first, as in PyTorch, then loaded
    opt2.load_state_dict(osd)
    sched2.load_state_dict(ssd)
    assert sched2.last_epoch == 5
    rest = sequence(opt2, sched2, 6, momentum=bool(okw))
    assert first + rest == full


def test_plateau_state_dict_round_trip():
    opt = make_opt()
    a = lrs.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
    for m in METRICS[:7]:
        a.step(m)
    sd = json.loads(json.dumps(a.state_dict()))  # best may be inf: JSON writes Infinity
    b = lrs.ReduceLROnPlateau(make_opt(), patience=5)
    b.optimizer.load_state_dict(opt.state_dict())
    b.load_state_dict(sd)
    for m in METRICS[7:]:
        a.step(m)
        b.step(m)
        assert a.get_last_lr() == b.get_last_lr()
    assert b.patience == 1 and b.num_bad_epochs == a.num_bad_epochs


def test_state_dict_excludes_the_optimizer_and_is_a_copy():
    opt = make_opt()
    sched = lrs.StepLR(opt, step_size=2)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["base_lrs"] == [0.1, 0.02]
    sd["base_lrs"].append(1.0)
    assert sched.base_lrs == [0.1, 0.02]


def test_load_state_dict_errors_change_nothing():
    opt = make_opt()
    sched = lrs.StepLR(opt, step_size=2)
    other = lrs.ReduceLROnPlateau(make_opt()).state_dict()
    with pytest.raises(ValueError, match=r"StepLR.load_state_dict: unexpected keys \[.*'best'"):
        sched.load_state_dict(other)
    bad = sched.state_dict()
    bad["base_lrs"] = [0.1]
    bad["last_epoch"] = 7
    with pytest.raises(ValueError, match="base_lrs has 1 values, but the optimizer has 2"):
        sched.load_state_dict(bad)
    with pytest.raises(ValueError, match="'last_epoch' entry"):
        sched.load_state_dict([1, 2])
    assert sched.last_epoch == 0


def test_resuming_with_last_epoch():
    opt = make_opt((1.0,))
    with pytest.raises(KeyError, match="has no 'initial_lr'"):
        lrs.StepLR(opt, step_size=2, last_epoch=3)
    opt.param_groups[0]["initial_lr"] = 1.0
    sched = lrs.ExponentialLR(opt, gamma=0.5, last_epoch=3)
    assert sched.last_epoch == 4 and sched.base_lrs == [1.0]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda o: lrs.StepLR(o, step_size=0), ValueError, "StepLR: step_size must be a positive"),
        (lambda o: lrs.StepLR("opt", step_size=1), TypeError, "StepLR: expected an Optimizer"),
        (lambda o: lrs.ExponentialLR(o, gamma="x"), ValueError, "gamma must be a real number"),
        (lambda o: lrs.CosineAnnealingLR(o, T_max=0), ValueError, "T_max must be a positive"),
        (lambda o: lrs.LinearLR(o, start_factor=0), ValueError, r"start_factor must be in \(0"),
        (lambda o: lrs.LinearLR(o, end_factor=1.5), ValueError, r"end_factor must be in \[0"),
        (lambda o: lrs.OneCycleLR(o, max_lr=1.0), ValueError, "either total_steps or both"),
        (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=-1), ValueError, "total_steps"),
        (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1.5), ValueError,
         "pct_start"),
        (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"),
         ValueError, "anneal_strategy"),
        (lambda o: lrs.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError,
         "max_lr has 1 values, but the optimizer has 2"),
        (lambda o: lrs.OneCycleLR(optim.Adagrad(o.param_groups[0]["params"]), max_lr=1.0,
                                  total_steps=5), ValueError, "Adagrad has neither"),
        (lambda o: lrs.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be < 1.0"),
        (lambda o: lrs.ReduceLROnPlateau(o, mode="up"), ValueError, "mode must be 'min'"),
        (lambda o: lrs.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
        (lambda o: lrs.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be"),
        (lambda o: lrs.ReduceLROnPlateau(o, min_lr=[0.0]), ValueError, "min_lr has 1 values"),
    ],
)
def test_bad_arguments(make, error, match):
    opt = make_opt()
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(error, match=match):
        make(opt)
    if "OneCycle" not in match:
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in before]


def _scheduler(kind):
    opt = make_opt(kind="Adam")
    return {
        "StepLR": lambda: lrs.StepLR(opt, step_size=2),
        "CosineAnnealingLR": lambda: lrs.CosineAnnealingLR(opt, T_max=4),
        "LinearLR": lambda: lrs.LinearLR(opt),
        "OneCycleLR": lambda: lrs.OneCycleLR(opt, max_lr=1.0, total_steps=10),
        "ReduceLROnPlateau": lambda: lrs.ReduceLROnPlateau(opt),
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "key", "value", "match"),
    [
        ("StepLR", "last_epoch", "x", r"last_epoch is 'x' \(str\); expected an integer >= -1"),
        ("StepLR", "last_epoch", 2.5, "last_epoch is 2.5 .*integer"),
        ("StepLR", "last_epoch", True, "last_epoch is True .*integer"),
        ("StepLR", "last_epoch", -2, "last_epoch is -2 .*expected an integer >= -1"),
        ("StepLR", "_step_count", None, "_step_count is None"),
        ("StepLR", "step_size", 0, "step_size is 0 .*integer >= 1"),
        ("StepLR", "gamma", float("nan"), "gamma is nan"),
        ("StepLR", "base_lrs", [0.1, "a"], "base_lrs holds 'a'; expected learning rates"),
        ("StepLR", "base_lrs", [0.1, -1.0], "base_lrs holds -1.0"),
        ("StepLR", "_last_lr", 0.1, "_last_lr has 0.1, but the optimizer has 2"),
        ("StepLR", "_is_initial", 0, "_is_initial is 0 .*True or False"),
        ("CosineAnnealingLR", "T_max", "4", "T_max is '4'"),
        ("LinearLR", "start_factor", 0.0, r"start_factor is 0.0 .*\(0, 1\]"),
        ("LinearLR", "end_factor", 1.5, r"end_factor is 1.5 .*\[0, 1\]"),
        ("OneCycleLR", "_anneal_func_type", "cubic", r"_anneal_func_type is 'cubic'.*'linear'"),
        ("OneCycleLR", "_schedule_phases", [{"end_step": 2}], "_schedule_phases is"),
        ("OneCycleLR", "total_steps", 0, "total_steps is 0"),
        ("ReduceLROnPlateau", "mode", "up", r"mode is 'up' .*one of \['min', 'max'\]"),
        ("ReduceLROnPlateau", "factor", 1.0, "factor is 1.0 .*< 1"),
        ("ReduceLROnPlateau", "best", "low", "best is 'low'"),
        ("ReduceLROnPlateau", "num_bad_epochs", -1, "num_bad_epochs is -1"),
        ("ReduceLROnPlateau", "min_lrs", [0, 0, 0], "min_lrs has 3 values"),
    ],
)
def test_load_state_dict_refuses_bad_types_and_ranges_at_load(kind, key, value, match):
    sched = _scheduler(kind)
    before = sched.state_dict()
    sd = sched.state_dict()
    sd[key] = value
    with pytest.raises(ValueError, match=f"{kind}.load_state_dict: {match}"):
        sched.load_state_dict(sd)
    assert sched.state_dict() == before or kind == "ReduceLROnPlateau"  # best=inf == inf
    assert sched.last_epoch == before["last_epoch"]


@pytest.mark.parametrize(
    "kind", ["StepLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR", "ReduceLROnPlateau"]
)
def test_a_state_after_a_json_round_trip_loads_and_steps_alike(kind):
    a, b = _scheduler(kind), _scheduler(kind)
    for _ in range(3):
        a.step(1.0) if kind == "ReduceLROnPlateau" else a.step()
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert b.state_dict() == json.loads(json.dumps(a.state_dict()))
    assert b.last_epoch == a.last_epoch == 3


def test_load_checkpoint_refuses_a_bad_scheduler_state_at_load_naming_the_file(tmp_path):
    pytest.importorskip("safetensors")
    model = cr.nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = lrs.StepLR(opt, step_size=2)
    sched.last_epoch = "x"  # what a hand-edited or foreign checkpoint could hold
    path = tmp_path / "ckpt.safetensors"
    cr.io.save_checkpoint(path, model, opt, sched)

    model2 = cr.nn.Linear(2, 1)
    opt2 = optim.SGD(model2.parameters(), lr=0.5)
    sched2 = lrs.StepLR(opt2, step_size=2)
    weight = model2.weight.numpy().copy()
    with pytest.raises(ValueError) as info:
        cr.io.load_checkpoint(path, model2, opt2, sched2)
    message = str(info.value)
    assert message.startswith(f"io.load_checkpoint: the scheduler state in {path} was refused")
    assert "StepLR.load_state_dict: last_epoch is 'x' (str)" in message
    assert sched2.last_epoch == 0 and opt2.param_groups[0]["lr"] == 0.5
    np.testing.assert_array_equal(model2.weight.numpy(), weight)


def test_load_checkpoint_puts_the_scheduler_back_when_the_optimizer_state_is_refused(tmp_path):
    pytest.importorskip("safetensors")
    model = cr.nn.Linear(2, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    sched = lrs.StepLR(opt, step_size=2)
    for p in model.parameters():
        p.grad = cr.ones(*p.shape)
    opt.step()
    sched.step()
    sched.step()
    opt.state[model.weight]["step"] = -3  # refused by Adam.load_state_dict
    path = tmp_path / "ckpt.safetensors"
    cr.io.save_checkpoint(path, model, opt, sched)

    model2 = cr.nn.Linear(2, 1)
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    sched2 = lrs.StepLR(opt2, step_size=2)
    with pytest.raises(ValueError, match="the optimizer state in .*ckpt.safetensors was refused: "
                       "Adam.load_state_dict: state 'step' of parameter 0"):  # fmt: skip
        cr.io.load_checkpoint(path, model2, opt2, sched2)
    assert sched2.last_epoch == 0 and sched2.state_dict() == lrs.StepLR(
        optim.Adam(cr.nn.Linear(2, 1).parameters(), lr=0.5), step_size=2
    ).state_dict()
    assert opt2.state_dict()["state"] == {}
