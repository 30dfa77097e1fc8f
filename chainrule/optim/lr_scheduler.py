"""Learning-rate schedules, as in ``torch.optim.lr_scheduler``.

A scheduler changes ``group["lr"]`` of its optimiser's parameter groups each time its
``step()`` is called (once per epoch, or per batch for :class:`OneCycleLR`), after the
optimiser's own ``step()``. The formulas, including PyTorch's recursive forms, are PyTorch's,
so the learning rates agree with it to the last bit.

A scheduler's ``state_dict()`` holds only Python numbers, strings, lists and dicts.
"""

from __future__ import annotations

import bisect
import copy
import math
import numbers
from collections.abc import Callable
from typing import Any

from .optimizer import Optimizer

__all__ = [
    "LRScheduler",
    "StepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "MultiStepLR",
    "LambdaLR",
    "MultiplicativeLR",
    "PolynomialLR",
    "ConstantLR",
    "CosineAnnealingWarmRestarts",
    "SequentialLR",
]


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")


def _positive_int(name: str, what: str, value: Any) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}: {what} must be a positive integer, got {value!r}")


def _real(name: str, what: str, value: Any) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{name}: {what} must be a real number, got {value!r}")


def _per_group(name: str, what: str, optimizer: Optimizer, value: Any) -> list[Any]:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{name}: {what} has {len(value)} values, but the optimizer has {n} "
                f"parameter groups"
            )
        return list(value)
    return [value] * n


def _whole(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low:
            return None
        return f"an integer >= {low}"

    return check


def _number(
    low: float = -math.inf, high: float = math.inf, *, low_open: bool = False
) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if (value > low if low_open else value >= low) and value <= high:  # NaN fails
                return None
        lo = f"{'(' if low_open else '['}{low:g}"
        return f"a real number in {lo}, {high:g}]" if high < math.inf else f"a number >= {low:g}"

    return check


def _choice(*options: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in options else f"one of {list(options)}"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "True or False"


def _phases(value: Any) -> str | None:
    keys = {"end_step", "start_lr", "end_lr", "start_momentum", "end_momentum"}
    names = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")
    wanted = "a list of phases (dicts with keys end_step and the start/end rate names)"
    if not isinstance(value, (list, tuple)) or not value:
        return wanted
    for phase in value:
        if not isinstance(phase, dict) or set(phase) != keys or _number(0)(phase["end_step"]):
            return wanted
        if any(phase[k] not in names for k in keys - {"end_step"}):
            return wanted
    return None


_ANY_REAL = _number()
_RATE = _number(0)

#: What each attribute a scheduler saves may hold when loaded; attributes that are per-group
#: lists of learning rates are checked apart (``_PER_GROUP``), and an attribute a subclass adds
#: must have the type of its current value.
_FIELDS: dict[str, Callable[[Any], str | None]] = {
    "last_epoch": _whole(-1),
    "_step_count": _whole(0),
    "_is_initial": _flag,
    "step_size": _whole(1),
    "gamma": _ANY_REAL,
    "T_max": _whole(1),
    "eta_min": _ANY_REAL,
    "start_factor": _number(0, 1, low_open=True),
    "end_factor": _number(0, 1),
    "total_iters": _whole(1),
    "total_steps": _whole(1),
    "_anneal_func_type": _choice("cos", "linear"),
    "_schedule_phases": _phases,
    "cycle_momentum": _flag,
    "use_beta1": _flag,
    "factor": lambda v: _ANY_REAL(v) or (None if v < 1 else "a real number < 1"),
    "default_min_lr": lambda v: None if v is None else _RATE(v),
    "patience": _whole(0),
    "cooldown": _whole(0),
    "eps": _ANY_REAL,
    "mode": _choice("min", "max"),
    "threshold": _ANY_REAL,
    "threshold_mode": _choice("rel", "abs"),
    "mode_worse": lambda v: None if v in (math.inf, -math.inf) else "inf or -inf",
    "best": _ANY_REAL,
    "cooldown_counter": _whole(0),
    "num_bad_epochs": _whole(0),
}
_PER_GROUP = ("base_lrs", "_last_lr", "min_lrs")


def _same_kind(current: Any) -> Callable[[Any], str | None]:
    for kind in (bool, numbers.Integral, numbers.Real, str, list, dict):
        if isinstance(current, kind):
            if kind is numbers.Integral:
                return _whole(-(2**63))
            if kind is numbers.Real:
                return _ANY_REAL
            if kind is list:
                kind = (list, tuple)
            return lambda v, k=kind: None if isinstance(v, k) else f"a {current.__class__.__name__}"
    return lambda v: None


class LRScheduler:
    """Base class of the schedulers: ``step()``, ``get_last_lr()`` and state dicts.

    A subclass computes the next learning rates in ``get_lr()`` from ``last_epoch`` (the
    number of ``step()`` calls so far; 0 right after construction, which already applies the
    schedule's first value).

    Parameters
    ----------
    optimizer : Optimizer
    last_epoch : int
        ``-1`` to start a schedule; a step count to resume one (the groups must then hold the
        ``"initial_lr"`` a scheduler stores in them).

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{name}: param_groups[{i}] has no 'initial_lr', which resuming with "
                        f"last_epoch={last_epoch} needs; load the optimizer's state dict from "
                        f"the checkpoint first"
                    )
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rates for the current ``last_epoch`` (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr()")

    def step(self) -> None:
        """Advance the schedule by one step and write the new rates into the groups."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()``, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimiser, as plain Python data (copies).

        Examples
        --------
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
        >>> cr.optim.lr_scheduler.StepLR(opt, step_size=2).state_dict()["last_epoch"]
        0
        """
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict` (checked before anything changes).

        Every entry is checked for its type and range at load, not at the next ``step()``:
        ``last_epoch`` an integer >= -1, the per-group learning rates numbers >= 0 with one per
        parameter group, modes among their choices, and so on; an entry a subclass adds must
        have the type of its current value. A refused state raises ValueError naming the entry.

        Examples
        --------
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
        >>> a = cr.optim.lr_scheduler.StepLR(opt, step_size=2); a.step(); a.step()
        >>> b = cr.optim.lr_scheduler.StepLR(opt, step_size=2); b.load_state_dict(a.state_dict())
        >>> b.last_epoch
        2
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "last_epoch" not in state_dict:
            raise ValueError(
                f"{name}.load_state_dict: expected a dict from {name}.state_dict() with a "
                f"'last_epoch' entry, got {type(state_dict).__name__}"
            )
        own = set(self.__dict__) - {"optimizer"}
        unexpected = sorted(set(state_dict) - own)
        if unexpected:
            raise ValueError(
                f"{name}.load_state_dict: unexpected keys {unexpected}; is this the state of "
                f"another kind of scheduler?"
            )
        n = len(self.optimizer.param_groups)
        for key, value in state_dict.items():
            if key in _PER_GROUP:
                if not isinstance(value, (list, tuple)) or len(value) != n:
                    got = f"{len(value)} values" if isinstance(value, (list, tuple)) else value
                    raise ValueError(
                        f"{name}.load_state_dict: {key} has {got!s}, but the optimizer has {n} "
                        f"parameter groups"
                    )
                bad = [v for v in value if _RATE(v)]
                if bad:
                    raise ValueError(
                        f"{name}.load_state_dict: {key} holds {bad[0]!r}; expected learning "
                        f"rates (numbers >= 0)"
                    )
                continue
            check = _FIELDS.get(key) or _same_kind(self.__dict__[key])
            wanted = check(value)
            if wanted is not None:
                raise ValueError(
                    f"{name}.load_state_dict: {key} is {value!r} ({type(value).__name__}); "
                    f"expected {wanted}"
                )
        self.__dict__.update(copy.deepcopy(state_dict))

    def _group_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    ``lr = base_lr * gamma ** (last_epoch // step_size)``

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        _positive_int("StepLR", "step_size", step_size)
        _real("StepLR", "gamma", gamma)
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every step: ``lr = base_lr * gamma ** epoch``.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> round(sched.get_last_lr()[0], 12)
    0.01
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        _real("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [lr * self.gamma for lr in self._group_lrs()]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the base rate down to ``eta_min`` over ``T_max`` steps.

    ``lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``, computed by
    PyTorch's recursive form (so another scheduler may also change the rate); beyond ``T_max``
    the rate rises again, a cosine of period ``2 * T_max``.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 12)); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.5, 0.0, 0.5, 1.0]
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        _positive_int("CosineAnnealingLR", "T_max", T_max)
        _real("CosineAnnealingLR", "eta_min", eta_min)
        self.T_max = int(T_max)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._group_lrs()
        if self._step_count == 1 and epoch > 0:
            return [
                eta_min + (base - eta_min) * (1 + math.cos(epoch * math.pi / t_max)) / 2
                for base in self.base_lrs
            ]
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            return [
                lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                for base, lr in zip(self.base_lrs, self._group_lrs())
            ]
        return [
            (1 + math.cos(math.pi * epoch / t_max))
            / (1 + math.cos(math.pi * (epoch - 1) / t_max))
            * (lr - eta_min)
            + eta_min
            for lr in self._group_lrs()
        ]


class LinearLR(LRScheduler):
    """Scale the learning rate linearly from ``start_factor`` to ``end_factor`` times the base
    rate over ``total_iters`` steps, then hold it (a warm-up).

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 12)); opt.step(); sched.step()
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        _real("LinearLR", "start_factor", start_factor)
        _real("LinearLR", "end_factor", end_factor)
        if start_factor > 1.0 or start_factor <= 0:
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], got {start_factor!r}")
        if end_factor > 1.0 or end_factor < 0:
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        _positive_int("LinearLR", "total_iters", total_iters)
        self.start_factor = start_factor
        self.end_factor = end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.start_factor for lr in self._group_lrs()]
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        start, end = self.start_factor, self.end_factor
        factor = 1.0 + (end - start) / (
            self.total_iters * start + (self.last_epoch - 1) * (end - start)
        )
        return [lr * factor for lr in self._group_lrs()]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): the learning rate rises from ``max_lr / div_factor``
    to ``max_lr`` over the first ``pct_start`` of the steps, then anneals to
    ``max_lr / (div_factor * final_div_factor)``; the momentum (SGD's ``momentum``, Adam's
    ``beta1``) moves the opposite way between ``max_momentum`` and ``base_momentum``.

    Step it after every batch; ``total_steps`` (or ``epochs * steps_per_epoch``) steps in all.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=0.1, momentum=0.9)
    >>> sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    >>> round(sched.get_last_lr()[0], 12), opt.param_groups[0]["momentum"]
    (0.04, 0.95)
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        name = "OneCycleLR"
        _check_optimizer(name, optimizer)
        if total_steps is not None:
            _positive_int(name, "total_steps", total_steps)
            self.total_steps = int(total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _positive_int(name, "epochs", epochs)
            _positive_int(name, "steps_per_epoch", steps_per_epoch)
            self.total_steps = int(epochs) * int(steps_per_epoch)
        else:
            raise ValueError(f"{name}: give either total_steps or both epochs and steps_per_epoch")
        _real(name, "pct_start", pct_start)
        if not 0 <= pct_start <= 1:
            raise ValueError(f"{name}: pct_start must be in [0, 1], got {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"{name}: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        _real(name, "div_factor", div_factor)
        _real(name, "final_div_factor", final_div_factor)
        self._anneal_func_type = anneal_strategy
        first = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases = [
                _phase(first, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(
                    float(2 * pct_start * self.total_steps) - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                _phase(
                    self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"
                ),
            ]
        else:
            self._schedule_phases = [
                _phase(first, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]
        max_lrs = _per_group(name, "max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"{name}: cycle_momentum needs an optimizer with a momentum or betas "
                    f"option; {type(optimizer).__name__} has neither (pass cycle_momentum=False)"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            max_ms = _per_group(name, "max_momentum", optimizer, max_momentum)
            base_ms = _per_group(name, "base_momentum", optimizer, base_momentum)
            if last_epoch == -1:
                for m_max, m_base, group in zip(max_ms, base_ms, optimizer.param_groups):
                    if self.use_beta1:
                        group["betas"] = (m_max, *group["betas"][1:])
                    else:
                        group["momentum"] = m_max
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {step} times, but total_steps is {self.total_steps}"
            )
        lrs = []
        phases = self._schedule_phases
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(phases):
                end_step = phase["end_step"]
                if step <= end_step or i == len(phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                    break
                start_step = end_step
            lrs.append(lr)
            if self.cycle_momentum:
                if self.use_beta1:
                    group["betas"] = (momentum, *group["betas"][1:])
                else:
                    group["momentum"] = momentum
        return lrs


def _phase(end_step: float, start_lr: str, end_lr: str, start_m: str, end_m: str) -> dict:
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_m,
        "end_momentum": end_m,
    }


class ReduceLROnPlateau(LRScheduler):
    """Reduce the learning rate by ``factor`` when a metric has stopped improving.

    ``step(metric)`` after each evaluation. A metric counts as an improvement when it beats the
    best so far by more than ``threshold`` (relative, or absolute with
    ``threshold_mode="abs"``). After more than ``patience`` steps without improvement every
    group's rate becomes ``max(lr * factor, min_lr)`` (changes smaller than ``eps`` are
    skipped), and the next ``cooldown`` steps are not counted.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.0, 2.0]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | list[float] = 0,
        eps: float = 1e-8,
    ) -> None:
        name = "ReduceLROnPlateau"
        _check_optimizer(name, optimizer)
        _real(name, "factor", factor)
        if factor >= 1.0:
            raise ValueError(f"{name}: factor must be < 1.0, got {factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"{name}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(
                f"{name}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}"
            )
        for what, value in (("patience", patience), ("cooldown", cooldown)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: {what} must be a non-negative integer, got {value!r}")
        _real(name, "threshold", threshold)
        _real(name, "eps", eps)
        self.optimizer = optimizer
        self.factor = factor
        if isinstance(min_lr, (list, tuple)):
            self.default_min_lr = None
            self.min_lrs = _per_group(name, "min_lr", optimizer, min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.eps = eps
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.last_epoch = 0
        self._last_lr = self._group_lrs()
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record a metric value (a number or a one-element Tensor) and maybe reduce the rate."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._group_lrs()

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"ReduceLROnPlateau: the optimizer has {len(groups)} parameter groups but "
                    f"min_lr was given for {len(self.min_lrs)}; set the min_lrs attribute to "
                    f"one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    @property
    def in_cooldown(self) -> bool:
        """Whether the scheduler is waiting out its cooldown after a reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each of the ``milestones`` (step counts).

    ``lr = base_lr * gamma ** (number of milestones <= last_epoch)``; a milestone listed twice
    multiplies twice, as in PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: list[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(milestones, (list, tuple)) or any(_whole(0)(m) for m in milestones):
            raise ValueError(
                f"MultiStepLR: milestones must be a list of integers >= 0, got {milestones!r}"
            )
        _real("MultiStepLR", "gamma", gamma)
        self.milestones = sorted(int(m) for m in milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        times = self.milestones.count(self.last_epoch)
        if times == 0:
            return self._group_lrs()
        return [lr * self.gamma**times for lr in self._group_lrs()]

    def _start_factor(self) -> float:
        return self.gamma ** self.milestones.count(0)


def _check_lambdas(name: str, optimizer: Optimizer, lr_lambda: Any) -> list[Callable]:
    _check_optimizer(name, optimizer)
    lambdas = _per_group(name, "lr_lambda", optimizer, lr_lambda)
    for fn in lambdas:
        if not callable(fn):
            raise TypeError(f"{name}: lr_lambda must be callable, got {type(fn).__name__}")
    return lambdas


class _LambdaState:
    """State dicts without the user's functions (they are not data), as PyTorch's."""

    def state_dict(self) -> dict[str, Any]:
        return {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "lr_lambdas")
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if isinstance(state_dict, dict) and "lr_lambdas" in state_dict:  # PyTorch's [None, ...]
            state_dict = {k: v for k, v in state_dict.items() if k != "lr_lambdas"}
        LRScheduler.load_state_dict(self, state_dict)  # type: ignore[arg-type]


class LambdaLR(_LambdaState, LRScheduler):
    """Set the learning rate to ``base_lr * lr_lambda(last_epoch)``.

    ``lr_lambda`` is a function of the step count, or a list of them (one per parameter group).
    ``state_dict()`` leaves the functions out (as PyTorch does for plain functions): the
    scheduler that loads the state must be built with the same functions.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5**epoch)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        self.lr_lambdas = _check_lambdas("LambdaLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * fn(self.last_epoch) for fn, base in zip(self.lr_lambdas, self.base_lrs)]


class MultiplicativeLR(_LambdaState, LRScheduler):
    """Multiply the learning rate by ``lr_lambda(last_epoch)`` at every step after the first.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.MultiplicativeLR(opt, lambda epoch: 0.5)
    >>> opt.step(); sched.step(); opt.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda: Any, last_epoch: int = -1) -> None:
        self.lr_lambdas = _check_lambdas("MultiplicativeLR", optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._group_lrs()
        return [lr * fn(self.last_epoch) for fn, lr in zip(self.lr_lambdas, self._group_lrs())]


class PolynomialLR(LRScheduler):
    """Decay the learning rate as ``base_lr * (1 - last_epoch / total_iters) ** power`` until
    ``total_iters``, then hold it (PyTorch's recursive form).

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.PolynomialLR(opt, total_iters=4, power=1.0)
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(round(sched.get_last_lr()[0], 12)); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    """

    def __init__(
        self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        _positive_int("PolynomialLR", "total_iters", total_iters)
        _real("PolynomialLR", "power", power)
        self.total_iters = int(total_iters)
        self.power = float(power)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._group_lrs()
        n, t = self.total_iters, self.last_epoch
        decay = ((1.0 - t / n) / (1.0 - (t - 1) / n)) ** self.power
        return [lr * decay for lr in self._group_lrs()]


class ConstantLR(LRScheduler):
    """Scale the learning rate by ``factor`` for the first ``total_iters`` steps, then restore it.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.ConstantLR(opt, factor=0.5, total_iters=2)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [0.5, 0.5, 1.0, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        _real("ConstantLR", "factor", factor)
        if factor > 1.0 or factor <= 0:
            raise ValueError(f"ConstantLR: factor must be in (0, 1], got {factor!r}")
        _positive_int("ConstantLR", "total_iters", total_iters)
        self.factor = factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [lr * self.factor for lr in self._group_lrs()]
        if self.last_epoch != self.total_iters:
            return self._group_lrs()
        return [lr * (1.0 / self.factor) for lr in self._group_lrs()]

    def _start_factor(self) -> float:
        return self.factor

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As :meth:`LRScheduler.load_state_dict`; ``factor`` is checked to lie in (0, 1]
        (ReduceLROnPlateau's ``factor`` of the same name must be below 1)."""
        if isinstance(state_dict, dict) and "factor" in state_dict:
            f = state_dict["factor"]
            if _number(0, 1, low_open=True)(f) is not None:
                raise ValueError(
                    f"ConstantLR.load_state_dict: factor is {f!r}; expected a number in (0, 1]"
                )
            rest = {k: v for k, v in state_dict.items() if k != "factor"}
            LRScheduler.load_state_dict(self, rest)
            self.factor = f
            return
        LRScheduler.load_state_dict(self, state_dict)


class CosineAnnealingWarmRestarts(LRScheduler):
    r"""Cosine annealing from the base rate to ``eta_min``, restarted every ``T_i`` steps.

    ``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2``, where ``T_cur``
    counts the steps since the last restart and ``T_i`` starts at ``T_0`` and is multiplied by
    ``T_mult`` at each restart. ``step(epoch)`` with a (fractional) epoch sets the position
    directly, as in PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> sched = cr.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=2)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(sched.get_last_lr()[0], 12)); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        _positive_int("CosineAnnealingWarmRestarts", "T_0", T_0)
        _positive_int("CosineAnnealingWarmRestarts", "T_mult", T_mult)
        _real("CosineAnnealingWarmRestarts", "eta_min", eta_min)
        self.T_0 = int(T_0)
        self.T_i = int(T_0)
        self.T_mult = int(T_mult)
        self.eta_min = eta_min
        self.T_cur = float(last_epoch)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        cos = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [self.eta_min + (base - self.eta_min) * cos / 2 for base in self.base_lrs]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one step, or jump to ``epoch`` (a number >= 0, fractions allowed)."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            _real("CosineAnnealingWarmRestarts.step", "epoch", epoch)
            if epoch < 0:
                raise ValueError(
                    f"CosineAnnealingWarmRestarts.step: epoch must be >= 0, got {epoch}"
                )
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = float(epoch % self.T_0)
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = float(epoch)
        self._step_count += 1
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._group_lrs()


class SequentialLR(LRScheduler):
    """Run ``schedulers`` one after another, switching at the ``milestones`` (step counts).

    At a milestone the next scheduler starts from its own step 0 (its starting rate, as
    PyTorch's closed form gives it). All schedulers must drive ``optimizer``.
    ``state_dict()`` holds each scheduler's state.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.optim import lr_scheduler as S
    >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(1))], lr=1.0)
    >>> warm = S.LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> decay = S.ExponentialLR(opt, gamma=0.5)
    >>> sched = S.SequentialLR(opt, [warm, decay], milestones=[2])
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: list[LRScheduler],
        milestones: list[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer("SequentialLR", optimizer)
        if not isinstance(schedulers, (list, tuple)) or not schedulers:
            raise ValueError("SequentialLR: expected a non-empty list of schedulers")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler) or isinstance(s, (ReduceLROnPlateau, SequentialLR)):
                raise TypeError(
                    f"SequentialLR: schedulers[{i}] is a {type(s).__name__}; expected an "
                    f"epoch-driven LRScheduler (ReduceLROnPlateau needs a metric)"
                )
            if s.optimizer is not optimizer:
                raise ValueError(
                    f"SequentialLR: schedulers[{i}] ({type(s).__name__}) drives another optimizer"
                )
        if not isinstance(milestones, (list, tuple)) or len(milestones) != len(schedulers) - 1:
            raise ValueError(
                f"SequentialLR: expected {len(schedulers) - 1} milestones for "
                f"{len(schedulers)} schedulers, got {milestones!r}"
            )
        if any(_whole(0)(m) for m in milestones) or list(milestones) != sorted(milestones):
            raise ValueError(
                f"SequentialLR: milestones must be increasing integers >= 0, got {milestones!r}"
            )
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self._milestones = [int(m) for m in milestones]
        self.last_epoch = last_epoch + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in self._schedulers:  # undo the step each scheduler took when it was built
            s.last_epoch -= 1
        first = self._schedulers[bisect.bisect_right(self._milestones, 0)]
        first._step_count = 0
        first._is_initial = True
        try:
            first.step()
        finally:
            first._is_initial = False
        self._last_lr = first.get_last_lr()

    def step(self) -> None:
        """Advance the scheduler in charge of this step (restarting one at its milestone)."""
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            sched.last_epoch = 0
            factor = _restart_factor(sched)
            if factor is None:  # no closed form in PyTorch either: its get_lr() at step 0
                values = sched.get_lr()
            else:
                values = [base * factor for base in sched.base_lrs]
            for group, lr in zip(self.optimizer.param_groups, values):
                group["lr"] = lr
            sched._last_lr = sched._group_lrs()
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """Own counters and milestones, and each scheduler's ``state_dict()``."""
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "_schedulers")
        }
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state from :meth:`state_dict` (the same kinds of schedulers, in order)."""
        inner = state_dict.get("_schedulers") if isinstance(state_dict, dict) else None
        if not isinstance(inner, (list, tuple)) or len(inner) != len(self._schedulers):
            raise ValueError(
                f"SequentialLR.load_state_dict: expected '_schedulers' with "
                f"{len(self._schedulers)} states, got {type(inner).__name__}"
            )
        rest = {k: v for k, v in state_dict.items() if k != "_schedulers"}
        own = self.__dict__.pop("_schedulers")
        try:
            LRScheduler.load_state_dict(self, rest)
        finally:
            self._schedulers = own
        for s, st in zip(self._schedulers, inner):
            s.load_state_dict(st)


def _restart_factor(sched: LRScheduler) -> float | None:
    """The factor on the base rate of PyTorch's closed form at step 0, None where none."""
    if isinstance(sched, LinearLR):
        return sched.start_factor
    if isinstance(sched, (MultiStepLR, ConstantLR)):
        return sched._start_factor()
    if isinstance(sched, (StepLR, ExponentialLR, CosineAnnealingLR, PolynomialLR)):
        return 1.0
    return None
