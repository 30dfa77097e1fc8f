"""Adagrad: per-coordinate learning rates that shrink with the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..backend import namespace_of, numpy_namespace
from .optimizer import Optimizer, bump, check_number, gradient, scalars

__all__ = ["Adagrad"]

_ndarray = np.ndarray


class Adagrad(Optimizer):
    r"""Adagrad, PyTorch's ``torch.optim.Adagrad``.

    With gradient :math:`g_t` (plus ``weight_decay * p``)::

        lr_t = lr / (1 + (t - 1) * lr_decay)
        s_t  = s_{t-1} + g_t**2                  (s_0 = initial_accumulator_value)
        p   <- p - lr_t * g_t / (sqrt(s_t) + eps)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate.
    lr_decay : float
        Learning-rate decay per step.
    weight_decay : float
        L2 penalty factor.
    initial_accumulator_value : float
        Starting value of the sum of squared gradients.
    eps : float
        Added to the denominator, for numerical stability.
    maximize : bool
        Maximise the objective instead of minimising it.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0]))
    >>> opt = cr.optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()  # 1 - 0.1 * 2 / sqrt(4)
    [0.8999999761581421]
    """

    _state_arrays = ("sum",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        check_number("Adagrad", "learning rate", group["lr"])
        check_number("Adagrad", "lr_decay value", group["lr_decay"])
        check_number("Adagrad", "weight_decay value", group["weight_decay"])
        check_number("Adagrad", "initial_accumulator_value", group["initial_accumulator_value"])
        check_number("Adagrad", "epsilon value", group["eps"])

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        return ("step", "sum")

    def _init_group_state(self, group: dict[str, Any]) -> None:
        # PyTorch creates Adagrad's state up front, so it is saved even before the first step.
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        data = p._data
        xp = numpy_namespace if type(data) is _ndarray else namespace_of(data)
        st = self.state[p]
        st["step"] = 0
        st["sum"] = xp.full_like(data, group["initial_accumulator_value"])
        return st

    def _update(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        lr_decay = float(group["lr_decay"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        maximize = group["maximize"]
        state = self.state
        cache: dict[Any, tuple[Any, ...]] = {}
        for p in group["params"]:
            if p._grad is None:
                continue
            data = p._data
            dtype = data.dtype
            xp = numpy_namespace if type(data) is _ndarray else namespace_of(data)
            st = state[p] or self._init_state(p, group)
            step = st["step"] + 1
            st["step"] = step
            key = (type(data), dtype, step)
            consts = cache.get(key)
            if consts is None:
                clr = lr / (1 + (step - 1) * lr_decay)
                consts = cache[key] = scalars(xp, dtype, (-clr, eps, weight_decay))
            c_neg_clr, c_eps, c_decay = consts
            decay = c_decay if weight_decay != 0 else None
            g, fresh = gradient(xp, p._grad._data, data, decay, maximize)
            total = st["sum"]
            scratch = xp.multiply(g, g, out=xp.empty_like(data))
            total += scratch
            std = xp.sqrt(total, out=scratch)
            std += c_eps
            update = xp.multiply(g, c_neg_clr, out=g if fresh else xp.empty_like(data))
            update /= std
            data += update
            bump(p)
