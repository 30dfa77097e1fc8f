"""A very long chain: does the cost of forward + backward grow linearly with its length?

``y = x``; n times ``y = y * 1.0001``; ``y.sum().backward()``, on a 100-element float32 vector.
Run at two lengths (20,000 and 200,000); equal time per operation means linear time. chainrule
and hand NumPy only: this is a property of chainrule's backward walk (iterative, saved values
freed as it goes), not a comparison between frameworks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Step, Workload

SEED = 0
SIZE = 100
SCALE = 1.0001  # 1.0001 ** 200_000 ~ 4.9e8: large but far from float32 overflow


def make_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    return {"x": rng.uniform(-1.0, 1.0, SIZE).astype(np.float32)}


def build_numpy(data: dict[str, Any], n: int) -> Step:
    x = data["x"]

    def step() -> tuple[Any, ...]:
        y = x
        for _ in range(n):
            y = y * SCALE
        s = y.sum()
        g = np.ones_like(y)
        for _ in range(n):
            g = g * SCALE
        return (s, g)

    return step


def build_chainrule(data: dict[str, Any], n: int) -> Step:
    import chainrule as cr

    x = cr.tensor(data["x"], requires_grad=True)

    def step() -> tuple[Any, ...]:
        y = x
        for _ in range(n):
            y = y * SCALE
        s = y.sum()
        s.backward()
        g = x.grad
        x.grad = None
        return (s, g)

    return step


def workload(n: int) -> Workload:
    """The chain of ``n`` multiplications, named ``long_chain_<n/1000>k``."""
    return Workload(
        name=f"long_chain_{n // 1000}k",
        summary=(
            f"y = x; {n:,} times y = y * 1.0001; y.sum().backward() on a 100-element float32 "
            "vector. Linear time means the same time per operation at every length."
        ),
        make_data=make_data,
        impls={
            "chainrule": lambda d: build_chainrule(d, n),
            "numpy": lambda d: build_numpy(d, n),
        },
        outputs=("sum", "dx"),
        tolerance=1e-4,
        ops=n,
    )
