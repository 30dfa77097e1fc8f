"""On a real GPU (CuPy installed and a CUDA device visible); skipped everywhere else.

``tests/test_device.py`` runs the same device code paths on a NumPy-backed fake CuPy in CI; this
file checks what only real CuPy can tell: its kernels agree with NumPy to rounding, and every
function chainrule calls exists in CuPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

cupy = pytest.importorskip("cupy")
try:
    _GPUS = cupy.cuda.runtime.getDeviceCount()
except Exception:  # noqa: BLE001 - no driver, no device: CuPy raises its own error types
    _GPUS = 0
pytestmark = pytest.mark.skipif(_GPUS == 0, reason="CuPy is installed but sees no CUDA device")


def test_training_on_gpu_matches_cpu():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    results = []
    for device in ("cpu", "cuda"):
        cr.random.seed(0)
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
            nn.Dropout(0.1), nn.Linear(4 * 10, 3),
        ).to(device)  # fmt: skip
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        x = X.reshape(64, 1, 10, 1)
        x = cr.as_tensor(x if device == "cpu" else cupy.asarray(x))
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        results.append([p.numpy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_mlp_classifier_on_gpu_matches_cpu():
    pytest.importorskip("sklearn")
    from chainrule.data import load_digits
    from chainrule.estimators import MLPClassifier

    X, y = load_digits()
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    cpu = MLPClassifier((32,), random_state=0, max_iter=5).fit(X, y)
    gpu = MLPClassifier((32,), random_state=0, max_iter=5, device="cuda").fit(X, y)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-6)
    assert (gpu.predict(X) == cpu.predict(X)).mean() > 0.99


def test_cli_cnn_training_on_gpu_matches_cpu(tmp_path):
    pytest.importorskip("safetensors")
    from chainrule.training import train

    kw = {"model": "cnn", "epochs": 2, "progress": False, "plots": False}
    cpu = train("digits", out=tmp_path / "cpu", **kw)
    gpu = train("digits", out=tmp_path / "gpu", device="cuda", **kw)
    np.testing.assert_allclose(gpu["train_loss"], cpu["train_loss"], rtol=1e-4)
    assert abs(gpu["accuracy"] - cpu["accuracy"]) <= 0.01


def test_compiled_step_on_gpu_matches_eager_with_fused_kernels():
    rng = np.random.default_rng(0)
    X = cupy.asarray(rng.standard_normal((32, 10)).astype(np.float32))
    y = cupy.asarray(rng.integers(0, 3, 32))
    results = []
    for compiled in (False, True):
        cr.random.seed(0)
        model = nn.Sequential(
            nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)
        ).to("cuda")
        opt = cr.optim.Adam(model.parameters(), lr=0.01)

        def step(x, y, model=model, opt=opt):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        f = cr.compile(step) if compiled else step
        losses = [float(f(cr.as_tensor(X), y).numpy()) for _ in range(5)]
        results.append((losses, [p.numpy() for p in model.parameters()]))
    assert f.eager_reason is None and f.traces == 1
    program = next(iter(f._cache.values()))[0]
    assert any(op[0].__class__.__name__ == "_Fused" for op in program.calls)
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=1e-5)
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
