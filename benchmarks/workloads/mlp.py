"""ReLU multilayer perceptrons: forward, softmax cross-entropy, backward (and an SGD update).

Every implementation computes, for weights ``W`` stored as (in, out) and float32 throughout::

    h_1 = relu(x @ W_1 + b_1), ..., logits = h_{L-1} @ W_L + b_L
    loss = mean_i( logsumexp(logits_i) - logits_i[y_i] )

then the gradient of ``loss`` with respect to every ``W`` and ``b``. ``tiny_step`` also applies
``p -= lr * dp`` to all parameters (one SGD step); ``mlp_784`` stops at the gradients.

Two workloads come from this module:

* ``tiny_step``: 10-32-32-2, batch 16, with the SGD update. So small that the time is almost all
  per-operation overhead: this measures the framework, not the arithmetic.
* ``mlp_784``: 784-256-256-10, batch 128, no update. Dominated by the matrix products: this
  measures whether the framework runs at BLAS speed without extra copies or conversions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Step, Target, Workload

SEED = 0


def make_data(sizes: tuple[int, ...], batch: int, seed: int = SEED) -> dict[str, Any]:
    """He-initialised float32 parameters [W1, b1, W2, b2, ...], inputs and integer labels."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params.append(
            (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        )
        params.append((0.1 * rng.standard_normal(fan_out)).astype(np.float32))
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)  # int64 class labels
    return {"params": params, "x": x, "y": y}


# ----------------------------------------------------------------------------- hand NumPy
def build_numpy(data: dict[str, Any], lr: float | None) -> Step:
    """The forward pass and the textbook backward formulas, written out by hand."""
    params = [p.copy() for p in data["params"]]
    Ws, bs = params[0::2], params[1::2]
    x, y = data["x"], data["y"]
    n = x.shape[0]
    rows = np.arange(n)
    last = len(Ws) - 1

    def step() -> tuple[Any, ...]:
        acts = [x]  # the input of each layer, needed for dW
        h = x
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = np.maximum(h @ W + b, 0)
            acts.append(h)
        logits = h @ Ws[-1] + bs[-1]
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        # dloss/dlogits = (softmax(logits) - onehot(y)) / n
        d = e / s
        d[rows, y] -= 1
        d /= n
        grads: list[Any] = [None] * len(params)
        for i in range(last, -1, -1):
            grads[2 * i] = acts[i].T @ d
            grads[2 * i + 1] = d.sum(axis=0)
            if i:
                d = (d @ Ws[i].T) * (acts[i] > 0)
        if lr is None:
            return (loss, *grads)
        for p, g in zip(params, grads):
            p -= lr * g
        return (loss, *params)

    return step


# ------------------------------------------------------------------------------ chainrule
def build_chainrule(data: dict[str, Any], lr: float | None) -> Step:
    import chainrule as cr

    params = [cr.tensor(p, requires_grad=True) for p in data["params"]]
    Ws, bs = params[0::2], params[1::2]
    x = cr.tensor(data["x"])
    y = cr.tensor(data["y"])
    hidden = list(zip(Ws[:-1], bs[:-1]))
    W_out, b_out = Ws[-1], bs[-1]

    def step() -> tuple[Any, ...]:
        h = x
        for W, b in hidden:
            h = cr.relu(h @ W + b)
        loss = cr.softmax_cross_entropy(h @ W_out + b_out, y)
        loss.backward()
        if lr is None:
            grads = [p.grad for p in params]
            for p in params:
                p.grad = None
            return (loss, *grads)
        with cr.no_grad():
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
        return (loss, *params)

    return step


# -------------------------------------------------------------------------------- PyTorch
def build_torch(data: dict[str, Any], lr: float | None) -> Step:
    import torch
    import torch.nn.functional as F

    params = [torch.tensor(p, requires_grad=True) for p in data["params"]]
    Ws, bs = params[0::2], params[1::2]
    x = torch.from_numpy(data["x"])
    y = torch.from_numpy(data["y"])
    hidden = list(zip(Ws[:-1], bs[:-1]))
    W_out, b_out = Ws[-1], bs[-1]

    def step() -> tuple[Any, ...]:
        h = x
        for W, b in hidden:
            h = torch.relu(h @ W + b)
        loss = F.cross_entropy(h @ W_out + b_out, y)
        loss.backward()
        if lr is None:
            grads = [p.grad for p in params]
            for p in params:
                p.grad = None
            return (loss, *grads)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return (loss, *params)

    return step


# -------------------------------------------------------------------------- HIPS autograd
def build_autograd(data: dict[str, Any], lr: float | None) -> Step:
    import autograd.numpy as anp
    from autograd import value_and_grad

    params = [p.copy() for p in data["params"]]
    x, y = data["x"], data["y"]
    rows = np.arange(x.shape[0])

    def loss_fn(params: list[Any]) -> Any:
        Ws, bs = params[0::2], params[1::2]
        h = x
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = anp.maximum(h @ W + b, 0)
        logits = h @ Ws[-1] + bs[-1]
        m = anp.max(logits, axis=1, keepdims=True)
        lse = m[:, 0] + anp.log(anp.sum(anp.exp(logits - m), axis=1))
        return anp.mean(lse - logits[rows, y])

    loss_and_grads = value_and_grad(loss_fn)

    def step() -> tuple[Any, ...]:
        loss, grads = loss_and_grads(params)
        if lr is None:
            return (loss, *grads)
        for p, g in zip(params, grads):
            p -= lr * g
        return (loss, *params)

    return step


# ------------------------------------------------------------------------------------ JAX
def _build_jax(data: dict[str, Any], lr: float | None, jit: bool) -> Step:
    import jax
    import jax.numpy as jnp

    params = [jnp.asarray(p) for p in data["params"]]
    x = jnp.asarray(data["x"])
    y = jnp.asarray(data["y"].astype(np.int32))  # JAX's default integer without x64

    def loss_fn(params: list[Any], x: Any, y: Any) -> Any:
        Ws, bs = params[0::2], params[1::2]
        h = x
        for W, b in zip(Ws[:-1], bs[:-1]):
            h = jax.nn.relu(h @ W + b)
        logp = jax.nn.log_softmax(h @ Ws[-1] + bs[-1], axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    loss_and_grads = jax.value_and_grad(loss_fn)
    if lr is None:
        f = jax.jit(loss_and_grads) if jit else loss_and_grads

        def step() -> tuple[Any, ...]:
            loss, grads = jax.block_until_ready(f(params, x, y))
            return (loss, *grads)

        return step

    def train_step(params: list[Any], x: Any, y: Any) -> tuple[Any, list[Any]]:
        loss, grads = loss_and_grads(params, x, y)
        return loss, [p - lr * g for p, g in zip(params, grads)]

    f = jax.jit(train_step) if jit else train_step
    state = [params]

    def step() -> tuple[Any, ...]:
        loss, new = jax.block_until_ready(f(state[0], x, y))
        state[0] = new
        return (loss, *new)

    return step


def build_chainrule_compiled(data: dict[str, Any], lr: float | None) -> Step:
    """The chainrule step above, unchanged, under ``cr.compile``: traced on the first (checking)
    call, replayed afterwards."""
    import chainrule as cr

    return cr.compile(build_chainrule(data, lr))


def _impls(lr: float | None) -> dict[str, Any]:
    return {
        "chainrule": lambda d: build_chainrule(d, lr),
        "chainrule_compiled": lambda d: build_chainrule_compiled(d, lr),
        "numpy": lambda d: build_numpy(d, lr),
        "torch": lambda d: build_torch(d, lr),
        "autograd": lambda d: build_autograd(d, lr),
        "jax": lambda d: _build_jax(d, lr, jit=False),
        "jax_jit": lambda d: _build_jax(d, lr, jit=True),
    }


def _names(n_layers: int, prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{k}{i}" for i in range(1, n_layers + 1) for k in ("W", "b"))


# ---------------------------------------------------------------------------- workloads
TINY_SIZES = (10, 32, 32, 2)
TINY_BATCH = 16
TINY_LR = 0.1


def _tiny_data() -> dict[str, Any]:
    return make_data(TINY_SIZES, TINY_BATCH)


def _gradients_from_update(
    data: dict[str, Any], outputs: list[np.ndarray]
) -> list[tuple[str, np.ndarray, float]]:
    # (p_before - p_after) / lr is the gradient each implementation applied, so the SGD step
    # checks the gradients too, not just parameters that barely moved. Recovering it cancels
    # most of p's float32 digits, hence the looser tolerance.
    return [
        (f"d{name[1:]}", (p0.astype(np.float64) - p1) / TINY_LR, 1e-3)
        for name, p0, p1 in zip(_names(3, "p"), data["params"], outputs[1:])
    ]


TINY_STEP = Workload(
    name="tiny_step",
    summary=(
        "10-32-32-2 ReLU MLP, batch 16: forward, softmax cross-entropy, backward, SGD update of "
        "all 6 parameters (lr=0.1). Time is almost all per-operation overhead."
    ),
    make_data=_tiny_data,
    impls=_impls(TINY_LR),
    outputs=("loss", *_names(3, "p")),
    tolerance=1e-4,
    derive=_gradients_from_update,
    targets=(
        Target("chainrule", "numpy", 2.5, "chainrule <= 2.5x hand NumPy"),
        Target("chainrule", "torch", 0.5, "chainrule <= 0.5x PyTorch"),
        Target("chainrule_compiled", "numpy", 1.0, "compiled <= 1.0x hand NumPy"),
    ),
)

MLP_SIZES = (784, 256, 256, 10)
MLP_BATCH = 128

MLP_784 = Workload(
    name="mlp_784",
    summary=(
        "784-256-256-10 ReLU MLP, batch 128: forward, softmax cross-entropy, backward (no "
        "update). Bound by the matrix products."
    ),
    make_data=lambda: make_data(MLP_SIZES, MLP_BATCH),
    impls=_impls(None),
    outputs=("loss", *_names(3, "d")),
    tolerance=1e-4,
    targets=(
        Target("chainrule", "numpy", 1.1, "chainrule within 1.1x of hand NumPy"),
        Target("chainrule_compiled", "numpy", 1.0, "compiled <= 1.0x hand NumPy"),
    ),
)
