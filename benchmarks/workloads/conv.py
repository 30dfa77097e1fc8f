"""A convolution layer, forward and backward: batch 64, 1 -> 32 channels, 28x28, 3x3 kernel.

``out = conv2d(x, W, b)`` (stride 1, no padding: 26x26 outputs), ``loss = sum(out * G)`` with a
fixed random ``G`` so the backward pass carries a real gradient, then d loss / dW and
d loss / db (the first layer of a CNN: no gradient for the images).

Hand NumPy is im2col through a strided view and one matrix product each way, the textbook
formulation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import Step, Target, Workload

SEED = 0
N, C_IN, C_OUT, H, K = 64, 1, 32, 28, 3
OUT = H - K + 1


def make_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    bound = 1 / np.sqrt(C_IN * K * K)
    return {
        "x": rng.standard_normal((N, C_IN, H, H)).astype(np.float32),
        "W": rng.uniform(-bound, bound, (C_OUT, C_IN, K, K)).astype(np.float32),
        "b": rng.uniform(-bound, bound, C_OUT).astype(np.float32),
        "G": rng.standard_normal((N, C_OUT, OUT, OUT)).astype(np.float32),
    }


def build_numpy(data: dict[str, Any]) -> Step:
    x, W, b, G = data["x"], data["W"], data["b"], data["G"]
    Wm = W.reshape(C_OUT, -1)

    def step() -> tuple[Any, ...]:
        win = np.lib.stride_tricks.sliding_window_view(x, (K, K), axis=(2, 3))
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * OUT * OUT, C_IN * K * K)
        out = (cols @ Wm.T).reshape(N, OUT, OUT, C_OUT).transpose(0, 3, 1, 2) + b[:, None, None]
        loss = (out * G).sum()
        g = G.transpose(0, 2, 3, 1).reshape(-1, C_OUT)
        dW = (g.T @ cols).reshape(W.shape)
        db = G.sum(axis=(0, 2, 3))
        return (loss, dW, db)

    return step


def build_chainrule(data: dict[str, Any]) -> Step:
    import chainrule as cr

    x = cr.tensor(data["x"])
    G = cr.tensor(data["G"])
    W = cr.tensor(data["W"], requires_grad=True)
    b = cr.tensor(data["b"], requires_grad=True)

    def step() -> tuple[Any, ...]:
        loss = (cr.conv2d(x, W, b) * G).sum()
        loss.backward()
        dW, db = W.grad, b.grad
        W.grad = b.grad = None
        return (loss, dW, db)

    return step


def build_torch(data: dict[str, Any]) -> Step:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(data["x"])
    G = torch.from_numpy(data["G"])
    W = torch.tensor(data["W"], requires_grad=True)
    b = torch.tensor(data["b"], requires_grad=True)

    def step() -> tuple[Any, ...]:
        loss = (F.conv2d(x, W, b) * G).sum()
        loss.backward()
        dW, db = W.grad, b.grad
        W.grad = b.grad = None
        return (loss, dW, db)

    return step


def build_chainrule_compiled(data: dict[str, Any]) -> Step:
    import chainrule as cr

    return cr.compile(build_chainrule(data))


CONV2D = Workload(
    name="conv2d",
    summary=(
        "Conv2d forward + backward (weights and bias): batch 64, 1 -> 32 channels, 28x28 "
        "input, 3x3 kernel, stride 1, no padding; loss = sum(out * G)."
    ),
    make_data=make_data,
    impls={
        "numpy": build_numpy,
        "chainrule": build_chainrule,
        "chainrule_compiled": build_chainrule_compiled,
        "torch": build_torch,
    },
    outputs=("loss", "dW", "db"),
    tolerance=1e-4,
    targets=(
        Target("chainrule", "torch", 3.0, "chainrule within 3x of PyTorch"),
        Target("chainrule", "torch", 1.0, "chainrule <= 1.0x PyTorch"),
    ),
)


# ---------------------------------------------------------------- the CNN example's layer
# examples/digits_mlp_and_cnn.py's kind of layer: many channels on a small image, where the
# products are short and wide and col2im (the input gradient) costs as much as a product.
CN, CC, CO, CH = 128, 16, 32, 8


def make_cnn_data() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    bound = 1 / np.sqrt(CC * K * K)
    return {
        "x": rng.standard_normal((CN, CC, CH, CH)).astype(np.float32),
        "W": rng.uniform(-bound, bound, (CO, CC, K, K)).astype(np.float32),
        "b": rng.uniform(-bound, bound, CO).astype(np.float32),
        "G": rng.standard_normal((CN, CO, CH, CH)).astype(np.float32),
    }


def build_cnn_numpy(data: dict[str, Any]) -> Step:
    """im2col of the zero-padded input (channels last), one product per direction, col2im as
    kh*kw strided adds: the textbook formulation."""
    x, W, b, G = data["x"], data["W"], data["b"], data["G"]
    Wm = W.transpose(0, 2, 3, 1).reshape(CO, -1)  # (O, kh*kw*C)

    def step() -> tuple[Any, ...]:
        xp = np.zeros((CN, CH + 2, CH + 2, CC), np.float32)
        xp[:, 1:-1, 1:-1] = x.transpose(0, 2, 3, 1)
        win = np.lib.stride_tricks.sliding_window_view(xp, (K, K), axis=(1, 2))
        cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(CN * CH * CH, -1)
        out = (cols @ Wm.T).reshape(CN, CH, CH, CO).transpose(0, 3, 1, 2) + b[:, None, None]
        loss = (out * G).sum()
        g = G.transpose(0, 2, 3, 1).reshape(-1, CO)
        dW = (g.T @ cols).reshape(CO, K, K, CC).transpose(0, 3, 1, 2)
        db = G.sum(axis=(0, 2, 3))
        dcols = (g @ Wm).reshape(CN, CH, CH, K, K, CC)
        dxp = np.zeros_like(xp)
        for i in range(K):
            for j in range(K):
                dxp[:, i : i + CH, j : j + CH] += dcols[:, :, :, i, j]
        dx = dxp[:, 1:-1, 1:-1].transpose(0, 3, 1, 2)
        return (loss, dx, dW, db)

    return step


def build_cnn_chainrule(data: dict[str, Any]) -> Step:
    import chainrule as cr

    x = cr.tensor(data["x"], requires_grad=True)
    G = cr.tensor(data["G"])
    W = cr.tensor(data["W"], requires_grad=True)
    b = cr.tensor(data["b"], requires_grad=True)

    def step() -> tuple[Any, ...]:
        loss = (cr.conv2d(x, W, b, padding=1) * G).sum()
        loss.backward()
        dx, dW, db = x.grad, W.grad, b.grad
        x.grad = W.grad = b.grad = None
        return (loss, dx, dW, db)

    return step


def build_cnn_torch(data: dict[str, Any]) -> Step:
    import torch
    import torch.nn.functional as F

    x = torch.tensor(data["x"], requires_grad=True)
    G = torch.from_numpy(data["G"])
    W = torch.tensor(data["W"], requires_grad=True)
    b = torch.tensor(data["b"], requires_grad=True)

    def step() -> tuple[Any, ...]:
        loss = (F.conv2d(x, W, b, padding=1) * G).sum()
        loss.backward()
        dx, dW, db = x.grad, W.grad, b.grad
        x.grad = W.grad = b.grad = None
        return (loss, dx, dW, db)

    return step


CONV2D_CNN = Workload(
    name="conv2d_cnn_layer",
    summary=(
        "The CNN example's kind of layer, forward + backward (input, weights, bias): batch 128, "
        "16 -> 32 channels, 8x8 input, 3x3 kernel, padding 1; loss = sum(out * G)."
    ),
    make_data=make_cnn_data,
    impls={
        "numpy": build_cnn_numpy,
        "chainrule": build_cnn_chainrule,
        "chainrule_compiled": lambda d: __import__("chainrule").compile(build_cnn_chainrule(d)),
        "torch": build_cnn_torch,
    },
    outputs=("loss", "dx", "dW", "db"),
    tolerance=1e-4,
    targets=(Target("chainrule", "torch", 1.0, "chainrule <= 1.0x PyTorch"),),
)
