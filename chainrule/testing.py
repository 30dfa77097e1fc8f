"""Checking gradients against finite differences, in float64.

:func:`gradcheck` compares the reverse-mode gradient of ``sum(u * f(*inputs))`` (``u`` a fixed
random weighting of the outputs, so every output element takes part) with central differences,
element by element, and raises :class:`GradcheckError` naming the input, the element and both
values on the first mismatch. :func:`gradgradcheck` does the same for the gradient itself, built
with ``create_graph=True``: it checks second derivatives.

Examples
--------
>>> import numpy as np, chainrule as cr
>>> from chainrule.testing import gradcheck, gradgradcheck
>>> gradcheck(lambda x: cr.tanh(x) * x, np.array([0.5, -1.0]))
True
>>> gradgradcheck(lambda x: cr.exp(x).sum(), np.array([0.1, 0.2]))
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import autodiff
from .tensor import Tensor, _leaf

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with finite differences."""


def _is_differentiable(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.dtype.kind == "f"
    if isinstance(value, np.ndarray):
        return value.dtype.kind == "f"
    return isinstance(value, float) or (
        isinstance(value, (list, tuple)) and np.asarray(value).dtype.kind == "f"
    )


def _prepare(inputs: tuple[Any, ...]) -> tuple[list[Any], list[int]]:
    args: list[Any] = []
    which: list[int] = []
    for i, value in enumerate(inputs):
        if _is_differentiable(value):
            # A float64 C-ordered copy we may perturb: its reshape(-1) must be a view (with a
            # Fortran-ordered copy every perturbation would miss the input: a numeric gradient 0).
            arr = np.array(np.asarray(value), dtype=np.float64, order="C")
            t = _leaf(arr)
            t._rg = True
            t._seq = autodiff.next_seq()
            args.append(t)
            which.append(i)
        else:
            args.append(value)
    return args, which


def _weighted_sum(out: Any, u: np.ndarray) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if out.dtype.kind != "f":
        raise TypeError(f"gradcheck: the function returned a {out.dtype} tensor, not floating")
    return (out * u).sum()


def _output_weights(f: Callable[..., Any], args: list[Any], seed: int) -> np.ndarray:
    with autodiff.no_grad():
        out = f(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    return np.random.default_rng(seed).standard_normal(out.shape)


def _reverse_grads(
    f: Callable[..., Any], args: list[Any], which: list[int], u: np.ndarray, create_graph: bool
) -> list[Any]:
    with autodiff.enable_grad():  # also when called inside a finite-difference evaluation
        loss = _weighted_sum(f(*args), u)
    targets = [args[i] for i in which]
    if not loss.requires_grad:
        return [None for _ in targets]
    seed = _leaf(np.ones((), np.float64)) if create_graph else np.ones((), np.float64)
    with autodiff.enable_grad():
        return autodiff.backward(
            loss, seed, create_graph=create_graph, retain_graph=create_graph, targets=targets
        )


def _compare(
    f: Callable[..., Any],
    args: list[Any],
    which: list[int],
    u: np.ndarray,
    analytic: list[Any],
    eps: float,
    atol: float,
    rtol: float,
    what: str,
) -> None:
    for k, i in enumerate(which):
        arr = args[i]._data
        grad = analytic[k]
        if grad is None:
            grad = np.zeros_like(arr)
        elif isinstance(grad, Tensor):
            grad = grad._data
        grad = np.asarray(grad)
        if grad.shape != arr.shape:
            raise GradcheckError(
                f"{what}: gradient of input {i} has shape {grad.shape}, expected {arr.shape}"
            )
        flat = arr.reshape(-1)  # a view: perturbing it perturbs the input
        gflat = grad.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            with autodiff.no_grad():
                flat[j] = orig + eps
                plus = _weighted_sum(f(*args), u).item()
                flat[j] = orig - eps
                minus = _weighted_sum(f(*args), u).item()
            flat[j] = orig
            numeric = (plus - minus) / (2 * eps)
            if not abs(gflat[j] - numeric) <= atol + rtol * abs(numeric):
                index = np.unravel_index(j, arr.shape) if arr.shape else ()
                raise GradcheckError(
                    f"{what}: mismatch for input {i} (shape {arr.shape}) at element "
                    f"{tuple(int(n) for n in index)}: reverse mode {float(gflat[j])!r}, "
                    f"finite differences {numeric!r} (atol={atol}, rtol={rtol})"
                )


def gradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check the gradient of ``f`` at ``inputs`` against central finite differences in float64.

    Floating inputs (arrays, Tensors, Python floats) are copied to float64 leaves and checked;
    other inputs (integer indices, boolean masks, shapes) are passed through unchanged.

    Parameters
    ----------
    f : callable
        Takes the inputs, returns a Tensor of any shape.
    eps, atol, rtol : float
        Step of the central difference and the tolerances ``|a - n| <= atol + rtol * |n|``.
    seed : int
        Seed of the random output weighting.

    Returns
    -------
    True when every element agrees; raises :class:`GradcheckError` otherwise.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> gradcheck(lambda a, b: a * b, np.ones(3), np.arange(3.0))
    True
    """
    args, which = _prepare(inputs)
    if not which:
        raise ValueError("gradcheck: no floating-point input to check")
    u = _output_weights(f, args, seed)
    analytic = _reverse_grads(f, args, which, u, create_graph=False)
    _compare(f, args, which, u, analytic, eps, atol, rtol, "gradcheck")
    return True


def gradgradcheck(
    f: Callable[..., Any],
    *inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    seed: int = 0,
) -> bool:
    """Check second derivatives of ``f``: the gradient computed with ``create_graph=True`` is
    itself gradchecked (through ``sum_i v_i * grad_i`` with fixed random ``v``).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> gradgradcheck(lambda x: cr.sin(x) * x, np.array([0.3, 1.2]))
    True
    """
    args, which = _prepare(inputs)
    if not which:
        raise ValueError("gradgradcheck: no floating-point input to check")
    u = _output_weights(f, args, seed)
    rng = np.random.default_rng(seed + 1)
    vs = [rng.standard_normal(args[i].shape) for i in which]

    def first_derivative(*xs: Any) -> Tensor:
        xs = list(xs)
        grads = _reverse_grads(f, xs, which, u, create_graph=True)
        total: Any = _leaf(np.zeros((), np.float64))
        for g, v in zip(grads, vs):
            if g is not None:
                total = total + (g * v).sum()
        return total

    return gradcheck(first_derivative, *[a if i not in which else a._data for i, a in
                                         enumerate(args)], eps=eps, atol=atol, rtol=rtol,
                     seed=seed + 2)
