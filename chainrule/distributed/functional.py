"""Differentiable communication: sums over ranks with their gradient rules.

Three primitives, each a forward and its vector-Jacobian product, like every other primitive
(they are in ``primitive_table`` and ``cr.explain`` prints their formulas). Which one is right
depends on what the ranks' losses mean together:

    all_reduce      forward  sum_r x_r         vjp  sum_r g_r       the objective is the sum of
                                                                    every rank's loss, each of
                                                                    which uses the total (the
                                                                    statistics of SyncBatchNorm)
    replicated      forward  x                 vjp  sum_r g_r       x is the same on every rank
                                                                    (a parameter); each rank's
                                                                    use adds to its gradient
    sum_replicated  forward  sum_r x_r         vjp  g               the total is the one
                                                                    objective, identical on
                                                                    every rank (a data-parallel
                                                                    L-BFGS loss)

A data-parallel full-batch loss is ``sum_replicated(loss_on_my_rows(replicated(W)))``: every rank
evaluates the same number, and backward gives every rank the same full gradient. In a group of
one all three are the identity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops.define import apply, define
from ..tensor import Tensor
from . import process_group as pg

__all__ = ["all_reduce", "replicated", "sum_replicated"]


def _sum_over_ranks(x: Any) -> Any:
    """The sum of a raw array over the ranks (a new array; ``x`` is not modified)."""
    g = pg._ensure()
    if g.size == 1:
        return x
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"all_reduce: expected a NumPy array (MPI reads host memory), got {type(x).__name__}"
        )
    out = np.array(x, order="C", copy=True)
    pg.allreduce_([out], op="sum")
    return out


# Under create_graph the rules must themselves say what their result means across ranks:
# all_reduce is its own adjoint; replicated and sum_replicated are each other's (the sum of the
# gradient over ranks is one value shared by all, and a shared g fans out to every rank's use).
def _vjp_all_reduce(xp: Any, g: Any, out: Any, x: Any) -> Any:
    return all_reduce(g) if isinstance(g, Tensor) else _sum_over_ranks(g)


def _vjp_replicated(xp: Any, g: Any, out: Any, x: Any) -> Any:
    return sum_replicated(g) if isinstance(g, Tensor) else _sum_over_ranks(g)


def _vjp_sum_replicated(xp: Any, g: Any, out: Any, x: Any) -> Any:
    return replicated(g) if isinstance(g, Tensor) else g


_all_reduce = define("all_reduce", (_vjp_all_reduce,), "all_reduce(g)")
_replicated = define("replicated", (_vjp_replicated,), "sum_replicated(g)")
_sum_replicated = define("sum_replicated", (_vjp_sum_replicated,), "replicated(g)")


def all_reduce(x: Any) -> Tensor:
    """The sum of ``x`` over all ranks, every rank's loss depending on it (vjp: all_reduce(g)).

    Parameters
    ----------
    x : Tensor or array_like
        Same shape and dtype on every rank.

    Returns
    -------
    Tensor
        ``sum_r x_r``, on every rank; float32 stays float32.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.distributed import all_reduce
    >>> all_reduce(cr.tensor([1.0, 2.0])).tolist()  # one rank: the identity
    [1.0, 2.0]
    """
    return apply(_all_reduce, lambda xp, a: _sum_over_ranks(a), (_as_operand(x),))


def replicated(x: Any) -> Tensor:
    """``x`` itself, marked as the same on every rank: its gradient is summed over the ranks.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.distributed import replicated
    >>> w = cr.tensor([3.0], requires_grad=True)
    >>> (replicated(w) * 2).sum().backward(); w.grad.tolist()
    [2.0]
    """
    return apply(_replicated, lambda xp, a: a, (_as_operand(x),))


def sum_replicated(x: Any) -> Tensor:
    """The sum of ``x`` over the ranks as one objective shared by all (vjp: g, unchanged).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.distributed import sum_replicated
    >>> sum_replicated(cr.tensor(1.5)).item()
    1.5
    """
    return apply(_sum_replicated, lambda xp, a: _sum_over_ranks(a), (_as_operand(x),))


def _as_operand(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x
    from ..tensor import as_tensor

    return as_tensor(x)
