"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..backend import namespace_of, numpy_namespace
from .optimizer import Optimizer, bump, check_number, gradient, scalars

__all__ = ["SGD"]

_ndarray = np.ndarray


class SGD(Optimizer):
    r"""Stochastic gradient descent, PyTorch's ``torch.optim.SGD``.

    With gradient :math:`g_t` (plus ``weight_decay * p``; negated under ``maximize``)::

        b_1 = g_1,   b_t = momentum * b_{t-1} + (1 - dampening) * g_t     (momentum != 0)
        d_t = g_t + momentum * b_t  (nesterov)   or   b_t                  (or g_t without momentum)
        p  <- p - lr * d_t

    The momentum buffer starts as the first gradient itself, as in PyTorch.

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups (dicts with ``"params"`` and per-group options).
    lr : float
        Learning rate.
    momentum, dampening, weight_decay : float
        Momentum factor, its dampening, and the L2 penalty factor.
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize : bool
        Maximise the objective instead of minimising it.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0, -2.0]))
    >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> w.tolist()
    [0.46000000834465027, -0.9200000166893005]
    """

    _state_arrays = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        check_number("SGD", "learning rate", group["lr"])
        check_number("SGD", "momentum", group["momentum"])
        check_number("SGD", "dampening", group["dampening"], float("-inf"))
        check_number("SGD", "weight_decay", group["weight_decay"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _update(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])
        nesterov = group["nesterov"]
        maximize = group["maximize"]
        values = (lr, momentum, 1 - dampening, weight_decay)
        state = self.state
        cache: dict[Any, tuple[Any, ...]] = {}
        for p in group["params"]:
            if p._grad is None:
                continue
            data = p._data
            xp = numpy_namespace if type(data) is _ndarray else namespace_of(data)
            key = (type(data), data.dtype)
            consts = cache.get(key) or cache.setdefault(key, scalars(xp, data.dtype, values))
            c_lr, c_momentum, c_undamped, c_decay = consts
            decay = c_decay if weight_decay != 0 else None
            g, fresh = gradient(xp, p._grad._data, data, decay, maximize)
            if momentum != 0:
                st = state[p]
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = g if fresh else g.copy()
                    st["momentum_buffer"] = buf
                    fresh = False
                else:
                    buf *= c_momentum
                    buf += g if dampening == 0 else g * c_undamped
                if nesterov:
                    step = buf * c_momentum
                    step += g
                    g, fresh = step, True
                else:
                    g, fresh = buf, False
            if fresh:
                g *= c_lr
                data -= g
            else:
                data -= g * c_lr
            bump(p)
