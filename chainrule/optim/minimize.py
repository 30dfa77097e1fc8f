"""Full-batch optimisation with ``scipy.optimize.minimize`` and exact gradients.

L-BFGS and its kin converge in far fewer steps than SGD on small, smooth problems (logistic
regression, small networks on a whole data set). :func:`minimize` hands SciPy the parameters
as one float64 vector and, for each point SciPy asks about, the loss and its exact gradient
computed by chainrule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .. import autodiff
from ..autodiff import next_seq, state
from ..backend import namespace_of
from ..tensor import Tensor

__all__ = ["minimize"]

#: SciPy methods that take no gradient: the loss alone is evaluated for them.
_GRADIENT_FREE = {"nelder-mead", "powell", "cobyla", "cobyqa"}


def _import_scipy_optimize() -> Any:
    try:
        import scipy.optimize
    except ImportError:
        raise ImportError(
            'chainrule.optim.minimize needs SciPy; install it with: pip install "chainrule[scipy]"'
        ) from None
    return scipy.optimize


def _host(array: Any) -> np.ndarray:
    if hasattr(array, "__cuda_array_interface__"):
        return array.get()
    return np.asarray(array)  # gradients of 0-d parameters may come back as NumPy scalars


def minimize(
    fun: Callable[[], Tensor],
    params: Iterable[Tensor] | Any,
    method: str = "L-BFGS-B",
    tol: float | None = None,
    options: dict[str, Any] | None = None,
    callback: Callable[..., Any] | None = None,
    bounds: Sequence[Any] | None = None,
) -> Any:
    """Minimise ``fun()`` over ``params`` with ``scipy.optimize.minimize``, in place.

    The parameters are flattened into one float64 vector. For each vector SciPy asks about,
    it is written into the parameters (in their own dtype), the loss ``fun()`` is evaluated
    with grad mode on, and its exact gradient is computed by a backward pass that touches no
    ``.grad``. At the end the solution SciPy returns is written into the parameters.

    Parameters
    ----------
    fun : callable
        Takes no arguments and returns the loss, a one-element Tensor computed from ``params``.
    params : iterable of Tensor, or Module
        The tensors to optimise (each must require grad), or a Module (its parameters).
    method : str
        Any method of ``scipy.optimize.minimize``; gradient-based ones ("L-BFGS-B", "BFGS",
        "CG", "Newton-CG", "TNC", "SLSQP", "trust-constr") receive the exact gradient.
    tol : float, optional
        Tolerance for termination (SciPy's ``tol``).
    options : dict, optional
        Method options, e.g. ``{"maxiter": 500}``.
    callback : callable, optional
        Passed to SciPy unchanged (called after each iteration).
    bounds : sequence, optional
        One entry per parameter: None (unbounded) or a pair ``(low, high)`` of scalars or
        arrays broadcastable to that parameter's shape (None for no bound on a side). For
        methods that take bounds ("L-BFGS-B", "TNC", "SLSQP", "Powell", "trust-constr", ...).

    Returns
    -------
    scipy.optimize.OptimizeResult
        SciPy's result; ``x`` is the flat solution (also written into ``params``), ``fun``
        the loss there.

    Raises
    ------
    ImportError
        If SciPy is not installed (``pip install "chainrule[scipy]"``).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.zeros(2, dtype="float64"))
    >>> target = cr.tensor([1.0, -2.0], dtype="float64")
    >>> res = cr.optim.minimize(lambda: ((w - target) ** 2).sum(), [w])
    >>> bool(res.success), [round(v, 6) for v in w.tolist()]
    (True, [1.0, -2.0])
    """
    op = "minimize"
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    params = list(params)
    if not params:
        raise ValueError(f"{op}: got an empty parameter list")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: parameter {i} is a {type(p).__name__}; expected a Tensor")
        if not p.requires_grad or not p.is_leaf:
            raise ValueError(
                f"{op}: parameter {i} (shape {p.shape}) must be a leaf tensor that requires "
                f"grad; only those can be optimised"
            )
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"{op}: a parameter appears more than once")
    if not callable(fun):
        raise TypeError(f"{op}: fun must be a callable returning the loss, not {_describe(fun)}")
    sizes = [p.size for p in params]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])
    scipy_bounds = _flat_bounds(bounds, params, offsets, op) if bounds is not None else None
    optimize = _import_scipy_optimize()

    slots = [(p, int(a), int(b), p.shape) for p, a, b in zip(params, offsets[:-1], offsets[1:])]

    def write(x: np.ndarray) -> None:
        seq = next_seq()
        for p, start, stop, shape in slots:
            data = p._data
            chunk = x[start:stop].reshape(shape)
            # Written in place, cast to the parameter's dtype: arrays sharing it see the values.
            data[...] = chunk if data.__class__ is np.ndarray else _to_device(chunk, data)
            p._version = seq

    def loss_of(x: np.ndarray) -> Tensor:
        write(x)
        previous = state.grad_enabled
        state.grad_enabled = True
        try:
            loss = fun()
        finally:
            state.grad_enabled = previous
        if loss.__class__ is not Tensor and not isinstance(loss, Tensor) or loss.size != 1:
            raise TypeError(
                f"{op}: fun() must return a one-element Tensor (the loss), got {_describe(loss)}"
            )
        return loss

    def value(x: np.ndarray) -> float:
        return float(loss_of(x).item())

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        loss = loss_of(x)
        data = loss._data
        if not loss._rg:
            return float(data.item()), np.zeros(n)
        grads = autodiff.backward(loss, namespace_of(data).ones_like(data), targets=params)
        if len(grads) == 1 and grads[0] is not None and grads[0].__class__ is np.ndarray:
            flat = grads[0].astype(np.float64).reshape(-1)  # a fresh copy SciPy may keep
        else:
            flat = np.zeros(n)
            for g, (_, start, stop, _) in zip(grads, slots):
                if g is not None:
                    flat[start:stop] = _host(g).reshape(-1)
        return float(data.item()), flat

    x0 = np.concatenate([_host(p._data).astype(np.float64).reshape(-1) for p in params])
    gradient_free = method.lower() in _GRADIENT_FREE if isinstance(method, str) else False
    kwargs: dict[str, Any] = {"method": method, "tol": tol, "options": options}
    if callback is not None:
        kwargs["callback"] = callback
    if scipy_bounds is not None:
        kwargs["bounds"] = optimize.Bounds(*scipy_bounds)
    if gradient_free:
        result = optimize.minimize(value, x0, **kwargs)
    else:
        result = optimize.minimize(value_and_grad, x0, jac=True, **kwargs)
    write(np.asarray(result.x, dtype=np.float64))
    return result


def _to_device(chunk: np.ndarray, like: Any) -> Any:  # pragma: no cover - needs a GPU
    return namespace_of(like).asarray(chunk, dtype=like.dtype)


def _flat_bounds(
    bounds: Sequence[Any], params: list[Tensor], offsets: Any, op: str
) -> tuple[np.ndarray, np.ndarray]:
    bounds = list(bounds)
    if len(bounds) != len(params):
        raise ValueError(
            f"{op}: bounds has {len(bounds)} entries but there are {len(params)} parameters; "
            f"give one (low, high) pair or None per parameter"
        )
    n = int(offsets[-1])
    low = np.full(n, -np.inf)
    high = np.full(n, np.inf)
    for i, (b, p) in enumerate(zip(bounds, params)):
        if b is None:
            continue
        if not isinstance(b, (tuple, list)) or len(b) != 2:
            raise ValueError(f"{op}: bounds[{i}] must be None or a pair (low, high), got {b!r}")
        start, stop = offsets[i], offsets[i + 1]
        for side, value, dest, fill in ((0, b[0], low, -np.inf), (1, b[1], high, np.inf)):
            if value is None:
                continue
            arr = _host(value._data) if isinstance(value, Tensor) else np.asarray(value, float)
            try:
                arr = np.broadcast_to(arr.astype(np.float64), p.shape)
            except ValueError:
                raise ValueError(
                    f"{op}: bounds[{i}][{side}] has shape {arr.shape}, which does not "
                    f"broadcast to the parameter's shape {p.shape}"
                ) from None
            dest[start:stop] = np.where(np.isnan(arr), fill, arr).reshape(-1)
    if np.any(low > high):
        raise ValueError(f"{op}: some lower bounds are above their upper bounds")
    return low, high


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a Tensor of shape {value.shape}"
    return f"a {type(value).__name__}"
