"""One training epoch of a 784-256-256-10 ReLU MLP with plain SGD: the whole user-facing stack.

60,000 synthetic float32 samples (10 classes), batch 128 in a fixed order (no shuffling, so
every implementation sees the same batches; the last batch has 96 samples), mean softmax
cross-entropy, SGD with lr 0.01. Each step of the workload is a whole epoch from the same
starting weights; it returns the final weights, which are compared with hand NumPy's.

* chainrule: ``nn.Sequential`` of ``nn.Linear`` / ``nn.ReLU``, ``nn.functional.cross_entropy``,
  ``optim.SGD``, batches from ``data.DataLoader(TensorDataset(X, y), batch_size=128)``.
* PyTorch: the same with ``torch.nn``, ``F.cross_entropy``, ``torch.optim.SGD``; batches by
  slicing the tensors (faster than torch's DataLoader, which collates sample by sample).
* hand NumPy: the forward, the textbook backward and ``p -= lr * g``, batches by slicing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Step, Target, Workload

SEED = 0
N_SAMPLES = 60_000
SIZES = (784, 256, 256, 10)
BATCH = 128
LR = 0.01


def make_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    weights, biases = [], []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)  # PyTorch's nn.Linear default range
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        biases.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    X = rng.standard_normal((N_SAMPLES, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], N_SAMPLES)
    return {"weights": weights, "biases": biases, "X": X, "y": y}


def _final(weights: list[Any], biases: list[Any]) -> tuple[Any, ...]:
    out: list[Any] = []
    for w, b in zip(weights, biases):
        out.extend((w, b))
    return tuple(out)


def build_numpy(data: dict[str, Any]) -> Step:
    X, y = data["X"], data["y"]

    def step() -> tuple[Any, ...]:
        Ws = [w.T.copy() for w in data["weights"]]  # (in, out) for x @ W
        bs = [b.copy() for b in data["biases"]]
        for start in range(0, N_SAMPLES, BATCH):
            xb, yb = X[start : start + BATCH], y[start : start + BATCH]
            n = len(yb)
            acts = [xb]
            h = xb
            for W, b in zip(Ws[:-1], bs[:-1]):
                h = np.maximum(h @ W + b, 0)
                acts.append(h)
            z = h @ Ws[-1] + bs[-1]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            d = e / e.sum(axis=1, keepdims=True)
            d[np.arange(n), yb] -= 1
            d /= n
            for i in range(len(Ws) - 1, -1, -1):
                gW = acts[i].T @ d
                gb = d.sum(axis=0)
                if i:
                    d = (d @ Ws[i].T) * (acts[i] > 0)
                Ws[i] -= LR * gW
                bs[i] -= LR * gb
        return _final([W.T for W in Ws], bs)

    return step


def build_chainrule(data: dict[str, Any]) -> Step:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(data["X"], data["y"]), batch_size=BATCH)
    layers: list[Any] = []
    for i in range(len(SIZES) - 1):
        layers.append(nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]

    def step() -> tuple[Any, ...]:
        for m, w, b in zip(linears, data["weights"], data["biases"]):
            m.weight.data = w.copy()
            m.bias.data = b.copy()
        opt = optim.SGD(model.parameters(), lr=LR)
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return _final([m.weight for m in linears], [m.bias for m in linears])

    del cr
    return step


def build_chainrule_compiled(data: dict[str, Any]) -> Step:
    """The same model, loss, optimiser and loader; the inner step under ``cr.compile`` (two
    traces: the full batches and the last, shorter one). One optimiser for all epochs (plain
    SGD keeps no state, so this equals a fresh one per epoch)."""
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(data["X"], data["y"]), batch_size=BATCH)
    layers: list[Any] = []
    for i in range(len(SIZES) - 1):
        layers.append(nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    opt = optim.SGD(model.parameters(), lr=LR)

    @cr.compile
    def train_step(xb: Any, yb: Any) -> Any:
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    def step() -> tuple[Any, ...]:
        for m, w, b in zip(linears, data["weights"], data["biases"]):
            m.weight.data = w.copy()
            m.bias.data = b.copy()
        for xb, yb in loader:
            train_step(xb, yb)
        return _final([m.weight for m in linears], [m.bias for m in linears])

    return step


def build_torch(data: dict[str, Any]) -> Step:
    import torch
    import torch.nn.functional as F

    X = torch.from_numpy(data["X"])
    y = torch.from_numpy(data["y"])
    layers: list[Any] = []
    for i in range(len(SIZES) - 1):
        layers.append(torch.nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]

    def step() -> tuple[Any, ...]:
        with torch.no_grad():
            for m, w, b in zip(linears, data["weights"], data["biases"]):
                m.weight.copy_(torch.from_numpy(w))
                m.bias.copy_(torch.from_numpy(b))
        opt = torch.optim.SGD(model.parameters(), lr=LR)
        for start in range(0, N_SAMPLES, BATCH):
            loss = F.cross_entropy(model(X[start : start + BATCH]), y[start : start + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return _final([m.weight for m in linears], [m.bias for m in linears])

    return step


MLP_EPOCH = Workload(
    name="mlp_epoch",
    summary=(
        "One epoch of a 784-256-256-10 ReLU MLP with SGD (lr 0.01) on 60,000 synthetic samples, "
        "batch 128, fixed order: model, loss, optimiser and data loader as a user writes them."
    ),
    make_data=make_data,
    impls={
        "numpy": build_numpy,
        "chainrule": build_chainrule,
        "chainrule_compiled": build_chainrule_compiled,
        "torch": build_torch,
    },
    outputs=("W1", "b1", "W2", "b2", "W3", "b3"),
    tolerance=1e-3,
    targets=(
        Target("chainrule", "numpy", 1.1, "chainrule within 1.1x of hand NumPy"),
        Target("chainrule", "torch", 1.0, "chainrule faster than PyTorch"),
        Target("chainrule_compiled", "numpy", 0.85, "compiled <= 0.85x hand NumPy"),
    ),
)
