"""A deep chain of cheap elementwise operations: per-operation overhead, forward and backward.

On a 100-element float32 vector ``x``, 5,000 times: ``y = y * 1.0001`` then ``y = tanh(y)``
(10,000 recorded operations), then ``s = y.sum()`` and ds/dx. Iterated tanh contracts slowly
towards 0, so values and gradients stay normal floats (no overflow, no denormals).

JAX with jit runs the loop as ``lax.fori_loop``: unrolling 10,000 operations makes XLA compile
for minutes (measured: ~100 s), and a loop is what a JAX user would write.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Step, Target, Workload

SEED = 0
SIZE = 100
PAIRS = 5_000  # each pair is a multiply and a tanh
SCALE = 1.0001


def make_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    return {"x": rng.uniform(-1.0, 1.0, SIZE).astype(np.float32)}


def build_numpy(data: dict[str, Any]) -> Step:
    """Forward keeping each tanh output; backward multiplies by the local derivatives."""
    x = data["x"]

    def step() -> tuple[Any, ...]:
        y = x
        saved = []
        for _ in range(PAIRS):
            y = y * SCALE
            y = np.tanh(y)
            saved.append(y)
        s = y.sum()
        g = np.ones_like(y)
        for t in reversed(saved):
            g = g * (1 - t * t)  # d tanh(u)/du = 1 - tanh(u)**2
            g = g * SCALE
        return (s, g)

    return step


def build_chainrule(data: dict[str, Any]) -> Step:
    import chainrule as cr

    x = cr.tensor(data["x"], requires_grad=True)
    tanh = cr.tanh

    def step() -> tuple[Any, ...]:
        y = x
        for _ in range(PAIRS):
            y = y * SCALE
            y = tanh(y)
        s = y.sum()
        s.backward()
        g = x.grad
        x.grad = None
        return (s, g)

    return step


def build_chainrule_compiled(data: dict[str, Any]) -> Step:
    """The chainrule step under ``cr.compile`` (traced in the checking call: about 3 s for the
    10,000 operations and their rules)."""
    import chainrule as cr

    return cr.compile(build_chainrule(data))


def build_torch(data: dict[str, Any]) -> Step:
    import torch

    x = torch.tensor(data["x"], requires_grad=True)
    tanh = torch.tanh

    def step() -> tuple[Any, ...]:
        y = x
        for _ in range(PAIRS):
            y = y * SCALE
            y = tanh(y)
        s = y.sum()
        s.backward()
        g = x.grad
        x.grad = None
        return (s, g)

    return step


def build_autograd(data: dict[str, Any]) -> Step:
    import autograd.numpy as anp
    from autograd import value_and_grad

    x = data["x"].copy()

    def f(x: Any) -> Any:
        y = x
        for _ in range(PAIRS):
            y = y * SCALE
            y = anp.tanh(y)
        return anp.sum(y)

    f_and_grad = value_and_grad(f)

    def step() -> tuple[Any, ...]:
        return f_and_grad(x)

    return step


def _build_jax(data: dict[str, Any], jit: bool) -> Step:
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(data["x"])

    def f(x: Any) -> Any:
        y = x
        for _ in range(PAIRS):
            y = y * SCALE
            y = jnp.tanh(y)
        return jnp.sum(y)

    def f_loop(x: Any) -> Any:
        y = jax.lax.fori_loop(0, PAIRS, lambda i, y: jnp.tanh(y * SCALE), x)
        return jnp.sum(y)

    f_and_grad = jax.jit(jax.value_and_grad(f_loop)) if jit else jax.value_and_grad(f)

    def step() -> tuple[Any, ...]:
        return jax.block_until_ready(f_and_grad(x))

    return step


DEEP_CHAIN = Workload(
    name="deep_chain",
    summary=(
        "10,000 elementwise operations (5,000 x (multiply by 1.0001, tanh)) on a 100-element "
        "float32 vector, then sum and backward. Per-operation overhead, forward and backward. "
        "JAX jit runs it as a lax.fori_loop (unrolled, XLA compiles for ~100 s)."
    ),
    make_data=make_data,
    impls={
        "chainrule": build_chainrule,
        "chainrule_compiled": build_chainrule_compiled,
        "numpy": build_numpy,
        "torch": build_torch,
        "autograd": build_autograd,
        "jax": lambda d: _build_jax(d, jit=False),
        "jax_jit": lambda d: _build_jax(d, jit=True),
    },
    outputs=("sum", "dx"),
    # Each framework writes tanh's derivative its own way (1 - t**2, 1 / cosh(x)**2): float32
    # roundings that differ by an ulp, compounded over 5,000 factors, reach ~5e-4. A wrong rule
    # is off by far more (dropping the 1.0001 factors alone is 65%).
    tolerance=5e-3,
    ops=2 * PAIRS,
    targets=(
        Target("chainrule", "torch", 1 / 3, "chainrule <= 1/3 of PyTorch"),
        Target("chainrule_compiled", "numpy", 1.0, "compiled <= 1.0x hand NumPy"),
    ),
)
