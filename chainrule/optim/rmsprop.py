"""RMSprop: gradients divided by a running root mean square of their recent values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..backend import namespace_of, numpy_namespace
from .optimizer import Optimizer, bump, check_number, gradient, lerp_, lerp_weight, scalars

__all__ = ["RMSprop"]

_ndarray = np.ndarray


class RMSprop(Optimizer):
    r"""RMSprop, PyTorch's ``torch.optim.RMSprop``.

    With gradient :math:`g_t` (plus ``weight_decay * p``)::

        v_t = alpha * v_{t-1} + (1 - alpha) * g_t**2
        s_t = sqrt(v_t) + eps       (centered: sqrt(v_t - gbar_t**2) + eps, gbar the mean of g)
        b_t = momentum * b_{t-1} + g_t / s_t;  p <- p - lr * b_t     (momentum > 0)
        p  <- p - lr * g_t / s_t                                       (otherwise)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate.
    alpha : float
        Smoothing constant of the running mean of squared gradients.
    eps : float
        Added to the denominator, for numerical stability.
    weight_decay : float
        L2 penalty factor.
    momentum : float
        Momentum factor.
    centered : bool
        Normalise by the estimated variance of the gradient instead of its second moment.
    maximize : bool
        Maximise the objective instead of minimising it.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0]))
    >>> opt = cr.optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()  # 1 - 0.01 * 2 / sqrt(0.01 * 4)
    [0.9000000357627869]
    """

    _state_arrays = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        check_number("RMSprop", "learning rate", group["lr"])
        check_number("RMSprop", "epsilon value", group["eps"])
        check_number("RMSprop", "momentum value", group["momentum"])
        check_number("RMSprop", "weight_decay value", group["weight_decay"])
        check_number("RMSprop", "alpha value", group["alpha"])

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        keys: tuple[str, ...] = ("step", "square_avg")
        if group["momentum"] > 0:
            keys += ("momentum_buffer",)
        if group["centered"]:
            keys += ("grad_avg",)
        return keys

    def _update(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])
        centered = group["centered"]
        maximize = group["maximize"]
        small = abs(1 - alpha) < 0.5
        state = self.state
        cache: dict[Any, tuple[Any, ...]] = {}
        for p in group["params"]:
            if p._grad is None:
                continue
            data = p._data
            dtype = data.dtype
            xp = numpy_namespace if type(data) is _ndarray else namespace_of(data)
            key = (type(data), dtype)
            consts = cache.get(key)
            if consts is None:
                values = (1 - alpha, alpha, lerp_weight(1 - alpha, dtype), eps, momentum, lr,
                          -lr, weight_decay)  # fmt: skip
                consts = cache[key] = scalars(xp, dtype, values)
            c_1ma, c_alpha, c_lerp, c_eps, c_momentum, c_lr, c_neg_lr, c_decay = consts
            st = state[p]
            if not st:
                st["step"] = 0
                st["square_avg"] = xp.zeros_like(data)
                if momentum > 0:
                    st["momentum_buffer"] = xp.zeros_like(data)
                if centered:
                    st["grad_avg"] = xp.zeros_like(data)
            st["step"] += 1
            decay = c_decay if weight_decay != 0 else None
            g, fresh = gradient(xp, p._grad._data, data, decay, maximize)
            square_avg = st["square_avg"]
            scratch = xp.multiply(g, c_1ma, out=xp.empty_like(data))
            scratch *= g
            square_avg *= c_alpha
            square_avg += scratch
            if centered:
                grad_avg = st["grad_avg"]
                lerp_(xp, grad_avg, g, small, c_lerp, scratch)
                xp.multiply(grad_avg, grad_avg, out=scratch)
                xp.subtract(square_avg, scratch, out=scratch)
                avg = xp.sqrt(scratch, out=scratch)
            else:
                avg = xp.sqrt(square_avg, out=scratch)
            avg += c_eps
            if momentum > 0:
                buf = st["momentum_buffer"]
                buf *= c_momentum
                buf += xp.divide(g, avg, out=avg)
                xp.multiply(buf, c_lr, out=scratch)
                data -= scratch
            else:
                update = xp.multiply(g, c_neg_lr, out=g if fresh else xp.empty_like(data))
                update /= avg
                data += update
            bump(p)
