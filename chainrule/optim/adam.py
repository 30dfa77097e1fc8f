"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..backend import namespace_of, numpy_namespace
from .optimizer import Optimizer, bump, check_number, gradient, lerp_, lerp_weight, scalars

__all__ = ["Adam", "AdamW"]

_ndarray = np.ndarray


class Adam(Optimizer):
    r"""Adam, PyTorch's ``torch.optim.Adam`` (single-tensor implementation).

    With gradient :math:`g_t` (plus ``weight_decay * p`` unless the decay is decoupled)::

        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t**2          (amsgrad: vmax_t = max(vmax, v_t))
        p  <- p - lr / (1 - beta1**t) * m_t / (sqrt(v_t) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr : float
        Learning rate.
    betas : (float, float)
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the denominator, for numerical stability.
    weight_decay : float
        L2 penalty factor (added to the gradient), or with ``decoupled_weight_decay`` the
        factor of AdamW's decay ``p <- p * (1 - lr * weight_decay)``.
    amsgrad : bool
        Use the running maximum of ``v`` (AMSGrad).
    maximize : bool
        Maximise the objective instead of minimising it.
    decoupled_weight_decay : bool
        Decay the weights directly (AdamW) instead of through the gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0, -2.0]))
    >>> opt = cr.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()  # the first step moves each weight by lr against its gradient's sign
    [0.9000000357627869, -1.899999976158142]
    """

    _state_arrays = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        check_number(name, "learning rate", group["lr"])
        check_number(name, "epsilon value", group["eps"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        check_number(name, "beta parameter at index 0", betas[0], high=1.0, high_open=True)
        check_number(name, "beta parameter at index 1", betas[1], high=1.0, high_open=True)
        check_number(name, "weight_decay value", group["weight_decay"])

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        keys = ("step", "exp_avg", "exp_avg_sq")
        return keys + ("max_exp_avg_sq",) if group["amsgrad"] else keys

    def _update(self, group: dict[str, Any]) -> None:
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        amsgrad = group["amsgrad"]
        maximize = group["maximize"]
        decoupled = group["decoupled_weight_decay"]
        small = abs(1 - beta1) < 0.5
        state = self.state
        cache: dict[Any, tuple[Any, ...]] = {}
        for p in group["params"]:
            if p._grad is None:
                continue
            data = p._data
            dtype = data.dtype
            xp = numpy_namespace if type(data) is _ndarray else namespace_of(data)
            st = state[p]
            if not st:
                st["step"] = 0
                st["exp_avg"] = xp.zeros_like(data)
                st["exp_avg_sq"] = xp.zeros_like(data)
                if amsgrad:
                    st["max_exp_avg_sq"] = xp.zeros_like(data)
            step = st["step"] + 1
            st["step"] = step
            key = (type(data), dtype, step)  # one step count for all, unless added or loaded apart
            consts = cache.get(key)
            if consts is None:
                # Python floats, as PyTorch computes them; then rounded to the dtype.
                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                values = (
                    lerp_weight(1 - beta1, dtype), 1 - beta2, beta2, bias_correction2_sqrt, eps,
                    -step_size, weight_decay, 1 - lr * weight_decay,
                )  # fmt: skip
                consts = cache[key] = scalars(xp, dtype, values)
            c_lerp, c_1mb2, c_b2, c_bc2, c_eps, c_step, c_decay, c_keep = consts
            if decoupled:
                if weight_decay != 0:
                    data *= c_keep
                g, fresh = gradient(xp, p._grad._data, data, None, maximize)
            else:
                decay = c_decay if weight_decay != 0 else None
                g, fresh = gradient(xp, p._grad._data, data, decay, maximize)
            m, v = st["exp_avg"], st["exp_avg_sq"]
            scratch = xp.empty_like(data)
            lerp_(xp, m, g, small, c_lerp, scratch)
            xp.multiply(g, c_1mb2, out=scratch)
            scratch *= g
            v *= c_b2
            v += scratch
            if amsgrad:
                vmax = st["max_exp_avg_sq"]
                xp.maximum(vmax, v, out=vmax)
                v = vmax
            denom = xp.sqrt(v, out=scratch)
            denom /= c_bc2
            denom += c_eps
            update = xp.multiply(m, c_step, out=g if fresh else xp.empty_like(data))
            update /= denom
            data += update
            bump(p)


class AdamW(Adam):
    r"""AdamW, PyTorch's ``torch.optim.AdamW``: Adam with decoupled weight decay.

    Before each Adam step the weights decay directly, ``p <- p * (1 - lr * weight_decay)``,
    instead of adding ``weight_decay * p`` to the gradient (Loshchilov & Hutter).

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters, or parameter groups.
    lr, betas, eps, amsgrad, maximize
        As for :class:`Adam`.
    weight_decay : float
        Decoupled weight decay factor (default 1e-2, as in PyTorch).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0]))
    >>> opt = cr.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.grad = cr.tensor([0.0]); opt.step()   # a zero gradient: only the decay acts
    >>> w.tolist()
    [0.949999988079071]
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
