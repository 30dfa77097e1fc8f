"""Device (CuPy) code paths, run on a fake CuPy built on NumPy (``tests/fake_cupy.py``).

The fake computes with NumPy, so everything done "on the device" must equal the CPU result bit
for bit, and any host array that leaks into a device computation raises, as it does in CuPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

from . import fake_cupy


@pytest.fixture
def cupy(monkeypatch):
    return fake_cupy.install(monkeypatch)


def _model(seed=0):
    cr.random.seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((16, 5)).astype(np.float32), rng.integers(0, 3, 16)


def test_fake_refuses_host_arrays_like_cupy(cupy):
    a = cupy.asarray(np.ones(3))
    assert hasattr(a, "__cuda_array_interface__") and type(a.get()) is np.ndarray
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        a + np.ones(3)


def test_training_steps_on_device_equal_cpu(cupy):
    X, y = _data()
    results = []
    for device in ("cpu", "cuda"):
        model = _model().to(device)
        opt = cr.optim.Adam(model.parameters(), lr=0.01)
        move = (lambda a: a) if device == "cpu" else cupy.asarray
        x, t = cr.as_tensor(move(X)), move(y)
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
        if device == "cuda":
            assert all(hasattr(p.data, "__cuda_array_interface__") for p in model.parameters())
            assert all(hasattr(p.grad.data, "__cuda_array_interface__") for p in model.parameters())
        results.append(([p.numpy() for p in model.parameters()], loss.item()))
    (cpu, loss_cpu), (gpu, loss_gpu) = results
    assert loss_cpu == loss_gpu
    for a, b in zip(cpu, gpu):
        assert type(b) is np.ndarray
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "f",
    [
        lambda x: cr.softmax(x, axis=1).sum(),
        lambda x: cr.log_softmax(x, axis=1).mean(),
        lambda x: cr.logsumexp(x, axis=1).sum(),
        lambda x: (x.tanh() * x.sigmoid()).max(),
        lambda x: F.cross_entropy(x, np.array([0, 2, 1, 1]), label_smoothing=0.1),
        lambda x: F.binary_cross_entropy_with_logits(x, np.ones((4, 3), np.float32)),
        lambda x: (x @ x.T).std(),
        lambda x: x.reshape(12)[3:9].sum() + x[1].prod(),
    ],
)
def test_ops_and_gradients_on_device_equal_cpu(cupy, f):
    X = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    out = []
    for data in (X, cupy.asarray(X)):
        x = cr.tensor(data, requires_grad=True)
        loss = f(x)
        loss.backward()
        out.append((loss.item(), x.grad.numpy()))
    assert out[0][0] == out[1][0]
    np.testing.assert_array_equal(out[0][1], out[1][1])


def _both(cupy, build, run):
    """Run ``run(model, move)`` for a fresh ``build()`` on the CPU and on the device."""
    out = []
    for device in ("cpu", "cuda"):
        model = build().to(device)
        move = (lambda a: a) if device == "cpu" else cupy.asarray
        out.append(run(model, move))
    return out


def test_conv_pool_batchnorm_dropout_embedding_on_device_equal_cpu(cupy):
    def build():
        cr.random.seed(3)
        return nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 2 * 2, 3),
        )  # fmt: skip

    X = np.random.default_rng(2).standard_normal((5, 2, 4, 4)).astype(np.float32)

    def run(model, move):
        cr.random.seed(7)  # the same dropout masks on both
        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(model(cr.as_tensor(move(X))), np.array([0, 1, 2, 0, 1]))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
        model.eval()
        return [v.numpy() if isinstance(v, cr.Tensor) else v for v in model.state_dict().values()]

    cpu, gpu = _both(cupy, build, run)
    for a, b in zip(cpu, gpu):
        np.testing.assert_array_equal(a, cupy.asnumpy(b))

    emb = nn.Embedding(6, 3)
    w0 = emb.weight.numpy().copy()
    emb.to("cuda")
    out = emb(cupy.asarray(np.array([[1, 5], [1, 0]])))
    out.sum().backward()
    np.testing.assert_array_equal(out.numpy(), w0[[[1, 5], [1, 0]]])
    assert emb.weight.grad.numpy()[1].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "Adagrad", "SGD"])
def test_optimizers_on_device_equal_cpu(cupy, name):
    def run(model, move):
        opt = getattr(cr.optim, name)(model.parameters(), lr=0.05)
        X, y = _data()
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(cr.as_tensor(move(X))), y).backward()
            opt.step()
        return [p.numpy() for p in model.parameters()]

    cpu, gpu = _both(cupy, _model, run)
    for a, b in zip(cpu, gpu):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_keeps_the_device(cupy, tmp_path):
    pytest.importorskip("safetensors")
    model = _model().to("cuda")
    cr.io.save(model.state_dict(), tmp_path / "m.safetensors")
    other = _model(seed=1).to("cuda")
    other.load_state_dict(cr.io.load(tmp_path / "m.safetensors"))
    for p, q in zip(model.parameters(), other.parameters()):
        assert hasattr(q.data, "__cuda_array_interface__")  # loaded onto the module's device
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    X, _ = _data()
    np.testing.assert_array_equal(
        model(cr.as_tensor(cupy.asarray(X))).numpy(), other(cr.as_tensor(cupy.asarray(X))).numpy()
    )


def test_minimize_and_transforms_on_device(cupy):
    pytest.importorskip("scipy")
    target = cupy.asarray(np.array([1.0, -2.0, 0.5]))
    w = nn.Parameter(cr.tensor(cupy.zeros(3)))
    res = cr.optim.minimize(lambda: ((w - target) ** 2).sum(), [w])
    assert res.success and hasattr(w.data, "__cuda_array_interface__")
    np.testing.assert_allclose(w.numpy(), [1.0, -2.0, 0.5], atol=1e-8)

    x = cupy.asarray(np.array([0.5, -1.0]))
    g = cr.grad(lambda v: (v**3).sum())(x)
    h = cr.hessian(lambda v: (v**3).sum())(x)
    assert hasattr(g, "__cuda_array_interface__")
    np.testing.assert_allclose(cupy.asnumpy(g), [0.75, 3.0])
    np.testing.assert_allclose(cupy.asnumpy(h), np.diag([3.0, -6.0]))


# ------------------------------------------------------------------- estimators on a device
def _digits_subset():
    from chainrule.data import load_digits

    X, y = load_digits()
    X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)
    return X[:300], y[:300]


@pytest.mark.parametrize(
    "params",
    [
        {"solver": "adam", "dropout": 0.2, "max_iter": 5},
        {"solver": "sgd", "early_stopping": True, "max_iter": 8, "class_weight": "balanced"},
        {"solver": "lbfgs", "max_iter": 15},
    ],
)
def test_mlp_classifier_on_device_equals_cpu(cupy, params):
    pytest.importorskip("sklearn")
    import warnings

    from chainrule.estimators import MLPClassifier

    X, y = _digits_subset()
    fits = []
    for device in ("cpu", "cuda"):
        clf = MLPClassifier((16,), random_state=0, device=device, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits.append(clf.fit(X, y))
    cpu, gpu = fits
    assert gpu.loss_curve_ == cpu.loss_curve_
    for a, b in zip(cpu.coefs_ + cpu.intercepts_, gpu.coefs_ + gpu.intercepts_):
        assert type(b) is np.ndarray
        np.testing.assert_array_equal(a, b)
    assert all(hasattr(p.data, "__cuda_array_interface__") for p in gpu._net.parameters())
    np.testing.assert_array_equal(gpu.predict_proba(X), cpu.predict_proba(X))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_partial_fit_and_regressor_on_device(cupy):
    pytest.importorskip("sklearn")
    from chainrule.estimators import MLPClassifier, MLPRegressor

    X, y = _digits_subset()
    a = MLPClassifier((8,), random_state=0, device="cuda:0")
    b = MLPClassifier((8,), random_state=0)
    for _ in range(2):
        a.partial_fit(X, y, classes=np.arange(10))
        b.partial_fit(X, y, classes=np.arange(10))
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    # Moving a fitted model: the next fit starts from its weights on the new device.
    a.set_params(device="cpu", warm_start=True, max_iter=2).fit(X, y)
    assert type(a._net[0].weight.data) is np.ndarray
    r = MLPRegressor((8,), random_state=0, max_iter=3, device="cuda").fit(X, X[:, :2])
    r_cpu = MLPRegressor((8,), random_state=0, max_iter=3).fit(X, X[:, :2])
    np.testing.assert_array_equal(r.predict(X), r_cpu.predict(X))


def test_mlp_device_errors(monkeypatch):
    pytest.importorskip("sklearn")
    import sys

    from chainrule.estimators import MLPClassifier

    X, y = _digits_subset()
    for bad in ("gpu", "cuda:x", "cpu:0", 0):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            MLPClassifier(device=bad).fit(X, y)
    monkeypatch.setitem(sys.modules, "cupy", None)  # CuPy not installed
    clf = MLPClassifier(device="cuda")
    hint = r'needs CuPy and an NVIDIA GPU: pip install "chainrule\[gpu\]"'
    with pytest.raises(ImportError, match=hint):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "n_features_in_")


def test_readme_gpu_example_runs_on_the_fake(cupy):
    import pathlib

    text = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = text.split("## On a GPU", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    rng = np.random.default_rng(0)
    namespace = {
        "X_batch": rng.standard_normal((8, 64)).astype(np.float32),
        "y_batch": rng.integers(0, 10, 8),
    }
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    grad = namespace["model"][0].weight.grad
    assert hasattr(grad.data, "__cuda_array_interface__") and grad.shape == (128, 64)


def test_cli_training_on_device_equals_cpu(cupy, tmp_path):
    pytest.importorskip("safetensors")
    from chainrule.training import load_model, train

    runs = [
        train("iris", model=model, hidden=(8,), epochs=3, out=tmp_path / f"{model}-{device}",
              progress=False, plots=False, device=device)  # fmt: skip
        for model in ("mlp", "logreg")
        for device in ("cpu", "cuda")
    ]
    for cpu, gpu in (runs[:2], runs[2:]):
        assert gpu["train_loss"] == cpu["train_loss"]
        assert (gpu["accuracy"], gpu["loss"]) == (cpu["accuracy"], cpu["loss"])
        a, b = load_model(cpu["out"]), load_model(gpu["out"])
        for p, q in zip(a.net.parameters(), b.net.parameters()):
            assert type(q.data) is np.ndarray  # saved from, and loaded to, the host
            np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_cli_device_errors(monkeypatch, tmp_path, capsys):
    import sys

    from chainrule.cli import main

    assert main(["train", "--data", "iris", "--device", "tpu", "--out", str(tmp_path)]) == 2
    assert "train: device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "cupy", None)
    assert main(["train", "--data", "iris", "--device", "cuda", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert 'needs CuPy and an NVIDIA GPU: pip install "chainrule[gpu]"' in err
    assert not any(tmp_path.iterdir())  # nothing written


# ------------------------------------------------------------------- several GPUs
def test_fake_models_several_gpus_and_the_current_one(cupy):
    runtime = cupy.cuda.runtime
    assert runtime.getDevice() == 0 and runtime.getDeviceCount() == fake_cupy.DEVICE_COUNT
    a = cupy.ones(3)
    assert a.device.id == 0 and a.device == cupy.cuda.Device(0)
    with cupy.cuda.Device(2) as dev:
        assert runtime.getDevice() == 2 and dev.id == 2 and cupy.cuda.Device().id == 2
        b = cupy.asarray(np.arange(3.0))
        assert b.device.id == 2 and (b * 2).device.id == 2 and b[1:].device.id == 2
        with pytest.raises(ValueError, match="array device = 0 while current = 2"):
            a + 1  # CuPy computes on the current GPU only
        c = cupy.asarray(a)  # copied to the current GPU
        assert c is not a and c.device.id == 2 and a.device.id == 0
        assert cupy.asarray(b) is b and a.copy().device.id == 2
    assert runtime.getDevice() == 0 and (a + 1).device.id == 0
    with pytest.raises(ValueError, match="array device = 2 while current = 0"):
        b.sum()
    np.testing.assert_array_equal(b.get(), [0.0, 1.0, 2.0])  # the host can read any GPU
    cupy.cuda.Device(1).use()
    assert runtime.getDevice() == 1 and cupy.zeros(2).device.id == 1
    with pytest.raises(runtime.CUDARuntimeError, match="invalid device ordinal 9"):
        cupy.cuda.Device(9).use()
    with pytest.raises(runtime.CUDARuntimeError):
        with cupy.cuda.Device(-1):
            pass
    assert runtime.getDevice() == 1


def test_fake_current_gpu_belongs_to_the_thread(cupy):
    import threading

    seen = []
    with cupy.cuda.Device(3):
        worker = threading.Thread(target=lambda: seen.append(cupy.cuda.runtime.getDevice()))
        worker.start()
        worker.join()
        assert cupy.cuda.runtime.getDevice() == 3
    assert seen == [0]


@pytest.mark.parametrize("index", [1, 3])
def test_module_to_cuda_n_puts_every_array_on_gpu_n_and_leaves_the_current_gpu(cupy, index):
    model = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 3))
    expected = [p.numpy() for p in model.parameters()]
    model.to(f"cuda:{index}")
    assert cupy.cuda.runtime.getDevice() == 0
    arrays = [p.data for p in model.parameters()] + [b for _, b in model.named_buffers()]
    assert all(a.device.id == index for a in arrays if hasattr(a, "device"))
    assert all(p.data.device.id == index for p in model.parameters())
    for p, e in zip(model.parameters(), expected):
        np.testing.assert_array_equal(p.numpy(), e)
    X, _ = _data()
    with cupy.cuda.Device(index):  # computing needs GPU N current, as in CuPy
        out = model(cr.as_tensor(cupy.asarray(X)))
        out.sum().backward()
    assert out.data.device.id == index and model[0].weight.grad.data.device.id == index
    model.to("cuda:0")  # and from one GPU to another
    assert all(p.data.device.id == 0 for p in model.parameters())


def test_on_device_makes_gpu_n_current_inside_and_restores_the_previous_one(cupy):
    from chainrule.backend import on_device

    cupy.cuda.Device(1).use()  # the caller's current GPU is not always 0
    context, move = on_device("cuda:2", "test")
    assert cupy.cuda.runtime.getDevice() == 1  # nothing switched before the block
    with context:
        assert cupy.cuda.runtime.getDevice() == 2
        assert move(np.ones(2)).device.id == 2
    assert cupy.cuda.runtime.getDevice() == 1
    with pytest.raises(RuntimeError, match="boom"):
        with on_device("cuda:3", "test")[0]:
            raise RuntimeError("boom")
    assert cupy.cuda.runtime.getDevice() == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_mlp_fit_on_cuda_n_trains_on_gpu_n_and_leaves_the_current_gpu(cupy, solver):
    pytest.importorskip("sklearn")
    from chainrule.estimators import MLPClassifier

    X, y = _digits_subset()
    gpu = MLPClassifier((8,), solver=solver, max_iter=3, random_state=0, device="cuda:2")
    cpu = MLPClassifier((8,), solver=solver, max_iter=3, random_state=0)
    gpu.fit(X, y)
    cpu.fit(X, y)
    assert cupy.cuda.runtime.getDevice() == 0
    assert all(p.data.device.id == 2 for p in gpu._net.parameters())
    np.testing.assert_array_equal(gpu.coefs_[0], cpu.coefs_[0])
    np.testing.assert_array_equal(gpu.predict_proba(X), cpu.predict_proba(X))
    assert cupy.cuda.runtime.getDevice() == 0


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_estimators_and_train_keep_the_eager_step_on_a_gpu(cupy, monkeypatch, tmp_path):
    # cr.compile's GPU replay has not run on a real GPU yet: the library's own fits keep the
    # eager step there (a user may still compile a GPU step themselves)
    pytest.importorskip("safetensors")
    from chainrule import training
    from chainrule.compile import Compiled
    from chainrule.estimators import MLPClassifier

    calls = []
    real = Compiled.__call__

    def counted(self, *args, **kwargs):
        calls.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Compiled, "__call__", counted)
    X, y = _data()
    MLPClassifier((8,), max_iter=2, random_state=0, device="cuda").fit(X, y)
    training.train("iris", model="mlp", hidden=(8,), epochs=2, out=tmp_path / "gpu",
                   progress=False, plots=False, device="cuda")  # fmt: skip
    assert calls == []
    MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)  # on the CPU it is replayed
    assert calls
