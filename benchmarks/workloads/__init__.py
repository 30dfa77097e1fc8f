"""The benchmark workloads: one computation, written once per implementation.

A :class:`Workload` holds the fixed-seed data and, for each implementation key (see
``peers.IMPLEMENTATIONS``), a builder ``build(data) -> step``. ``step()`` runs the computation
once and returns its results (loss, gradients or updated parameters) in the implementation's
own array type; the runner converts them to NumPy only when checking, never while timing.
The hand-written NumPy step is the reference every other implementation is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Step = Callable[[], tuple[Any, ...]]
Builder = Callable[[dict[str, Any]], Step]
Derive = Callable[[dict[str, Any], list[np.ndarray]], list[tuple[str, np.ndarray, float]]]


@dataclass(frozen=True)
class Target:
    """A speed goal: ``impl``'s median divided by ``versus``'s median must be <= ``max_ratio``."""

    impl: str
    versus: str
    max_ratio: float
    text: str


@dataclass(frozen=True)
class Workload:
    """One benchmarked computation and its implementations.

    ``outputs`` names what every step returns, in order; ``tolerance`` bounds
    max|out - ref| / max|ref| per output (float32 arithmetic, different summation orders).
    ``derive(data, outputs)`` may add further ``(name, array, tolerance)`` to compare (e.g.
    gradients recovered from an SGD update). ``ops`` is the number of recorded operations per
    step, for a per-op time.
    """

    name: str
    summary: str
    make_data: Callable[[], dict[str, Any]]
    impls: dict[str, Builder]
    outputs: tuple[str, ...]
    tolerance: float
    ops: int | None = None
    targets: tuple[Target, ...] = ()
    derive: Derive | None = None


def all_workloads() -> list[Workload]:
    """Every workload, in report order."""
    from . import conv, deep_chain, long_chain, mlp, mlp_epoch

    return [
        mlp.TINY_STEP,
        deep_chain.DEEP_CHAIN,
        mlp.MLP_784,
        long_chain.workload(20_000),
        long_chain.workload(200_000),
        mlp_epoch.MLP_EPOCH,
        conv.CONV2D,
        conv.CONV2D_CNN,
    ]
