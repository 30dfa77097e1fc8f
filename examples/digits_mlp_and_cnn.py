"""Train a multilayer perceptron and a small convolutional network on the bundled digits.

The 1797 8x8 images of handwritten digits that ship with chainrule (from scikit-learn's copy of
the UCI set), 25% held out with a fixed seed, pixels standardised with the training set's
statistics. Both models are written the way a PyTorch user writes them: ``nn.Sequential``,
``Adam``, a ``DataLoader``, ``cross_entropy``, ``backward()``, ``step()``.

Run: python examples/digits_mlp_and_cnn.py            (about half a minute on two cores)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, Standardizer, TensorDataset, load_digits, train_test_split

F = nn.functional


def digits(seed: int = 0) -> tuple[np.ndarray, ...]:
    """Standardised float32 train/test splits of the digits (25% held out)."""
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )
    scaler = Standardizer().fit(X_train)
    return (
        scaler.transform(X_train).astype(np.float32),
        scaler.transform(X_test).astype(np.float32),
        y_train,
        y_test,
    )


def mlp() -> nn.Module:
    """64 -> 256 -> 128 -> 10, ReLU, with dropout between."""
    return nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, 10),
    )  # fmt: skip


def cnn() -> nn.Module:
    """Two 3x3 convolutions and a max-pool over the 8x8 image, then two dense layers."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 10),
    )  # fmt: skip


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``X`` that ``model`` classifies as ``y`` (in eval mode, without a graph)."""
    model.eval()
    with cr.no_grad():
        predicted = model(cr.tensor(X)).numpy().argmax(axis=1)
    model.train()
    return float(np.mean(predicted == y))


def fit(
    model: nn.Module,
    X: np.ndarray,
    y: np.ndarray,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
) -> list[float]:
    """Train with Adam and a cosine learning-rate schedule; returns the mean loss per epoch."""
    loader = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True, seed=seed)
    opt = optim.Adam(model.parameters(), lr=lr)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    losses = []
    model.train()
    for _ in range(epochs):
        total, count = 0.0, 0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            count += len(yb)
        schedule.step()
        losses.append(total / count)
    return losses


def run(kind: str, epochs: int, seed: int = 0, verbose: bool = True) -> dict[str, Any]:
    """Train ``kind`` ("mlp" or "cnn") from a fixed seed; returns losses, accuracy and time."""
    X_train, X_test, y_train, y_test = digits(seed)
    cr.random.seed(seed)  # the initial weights and the dropout masks
    if kind == "cnn":
        model = cnn()
        X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    else:
        model = mlp()
    start = time.perf_counter()
    losses = fit(model, X_train, y_train, epochs, seed=seed)
    seconds = time.perf_counter() - start
    acc = accuracy(model, X_test, y_test)
    if verbose:
        print(
            f"{kind}: {sum(p.size for p in model.parameters()):,} parameters, {epochs} epochs "
            f"in {seconds:.1f} s; loss {losses[0]:.3f} -> {losses[-1]:.4f}; "
            f"held-out accuracy {acc:.4f} ({len(y_test)} images)"
        )
    return {"losses": losses, "accuracy": acc, "seconds": seconds, "model": model}


def main() -> None:
    mlp_result = run("mlp", epochs=40)
    cnn_result = run("cnn", epochs=25)
    assert mlp_result["accuracy"] >= 0.97, mlp_result["accuracy"]
    assert cnn_result["accuracy"] >= 0.98, cnn_result["accuracy"]


if __name__ == "__main__":
    main()
