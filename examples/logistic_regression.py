"""Softmax regression fitted by gradient descent, with the chain rule checked by hand.

The article this project grew from derives, for one sample x of class c,

    L = -log p_c,   p = softmax(q),   q = W x + b
    dL/dW = dL/dp_c * dp_c/dq * dq/dW = (p - onehot(c)) outer x

This script computes that gradient by hand, computes it again with chainrule's automatic
differentiation (which knows nothing of the formula: it chains log_softmax, indexing, matmul
and add), shows they agree to 1e-12 in float64, and then fits the model with
``cr.value_and_grad`` on a dataset it generates.

Run: python examples/logistic_regression.py
"""

from __future__ import annotations

import textwrap

import numpy as np

import chainrule as cr


def make_data(n: int, n_features: int, n_classes: int, seed: int):
    """Gaussian blobs, one per class, in float64."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=2.5, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n)
    X = centres[y] + rng.normal(size=(n, n_features))
    return X, y


def loss_fn(W, b, X, y):
    """Mean cross-entropy of softmax(X W^T + b), written from primitives (no fused loss)."""
    logits = X @ W.T + b
    log_p = cr.log_softmax(logits, axis=1)
    return -log_p[np.arange(len(y)), y].mean()


def softmax(q: np.ndarray) -> np.ndarray:
    e = np.exp(q - q.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main() -> None:
    n_features, n_classes = 4, 3
    X, y = make_data(600, n_features, n_classes, seed=0)
    X_train, y_train, X_test, y_test = X[:450], y[:450], X[450:], y[450:]
    rng = np.random.default_rng(1)
    W = rng.normal(scale=0.1, size=(n_classes, n_features))
    b = np.zeros(n_classes)

    # 1. One sample, the article's derivation against chainrule's backward pass.
    x, c = X_train[0], y_train[0]
    p = softmax(W @ x + b)
    onehot = np.eye(n_classes)[c]
    by_hand = np.outer(p - onehot, x)
    by_chainrule = cr.grad(loss_fn)(W, b, x[None, :], np.array([c]))
    print("One sample: dL/dW = (softmax(Wx+b) - onehot(c)) outer x")
    print("  by hand:\n" + textwrap.indent(np.array2string(by_hand, precision=6), "    "))
    print("  chainrule:\n" + textwrap.indent(np.array2string(by_chainrule, precision=6), "    "))
    diff = np.abs(by_hand - by_chainrule).max()
    print(f"  max |difference| = {diff:.2e}")
    assert diff < 1e-12, diff

    # 2. Fit by full-batch gradient descent.
    step = cr.value_and_grad(loss_fn, argnums=(0, 1))
    lr = 0.5
    for epoch in range(201):
        loss, (dW, db) = step(W, b, X_train, y_train)
        W = W - lr * dW
        b = b - lr * db
        if epoch % 50 == 0:
            print(f"epoch {epoch:3d}  loss {float(loss):.6f}")

    # 3. The batch gradient at the fitted weights: (P - Y)^T X / n, by hand and by chainrule.
    P = softmax(X_train @ W.T + b)
    Y = np.eye(n_classes)[y_train]
    by_hand = (P - Y).T @ X_train / len(y_train)
    by_chainrule = cr.grad(loss_fn)(W, b, X_train, y_train)
    diff = np.abs(by_hand - by_chainrule).max()
    print(f"batch gradient at the fit: max |hand - chainrule| = {diff:.2e}")
    assert diff < 1e-12, diff

    accuracy = float(np.mean((X_test @ W.T + b).argmax(axis=1) == y_test))
    print(f"held-out accuracy: {accuracy:.3f} ({len(y_test)} samples)")


if __name__ == "__main__":
    main()
