"""cr.compile: a replayed step equals the eager step bit for bit (MLP, CNN, BatchNorm and
Dropout, every optimiser), retraces on new shapes within a bounded cache, falls back or refuses
on data-dependent control flow, and leaves NumPy and chainrule as they were."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import compile as compile_module  # noqa: F401 - the module is importable
from chainrule.compile import Compiled, TraceError
from chainrule.tensor import Tensor

nn = cr.nn
RNG = np.random.default_rng(5)


def _pair(build, opt_factory, loss="ce"):
    """Two identical (model, step) pairs from the same seed; the second step compiled."""

    def make():
        cr.manual_seed(7)
        model = build()
        opt = opt_factory(model.parameters())

        def step(x, y):
            opt.zero_grad()
            out = model(x)
            value = nn.functional.cross_entropy(out, y) if loss == "ce" else ((out - y) ** 2).mean()
            value.backward()
            opt.step()
            return value

        return model, step

    m1, s1 = make()
    m2, s2 = make()
    return m1, s1, m2, cr.compile(s2)


def _run_both(m1, s1, m2, c2, batches, seeds=True):
    for i, (x, y) in enumerate(batches):
        if seeds:
            cr.manual_seed(100 + i)
        a = s1(cr.tensor(x), cr.tensor(y))
        if seeds:
            cr.manual_seed(100 + i)
        b = c2(cr.tensor(x), cr.tensor(y))
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        for p, q in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_array_equal(p.numpy(), q.numpy())
        for (name, u), (_, v) in zip(m1.named_buffers(), m2.named_buffers()):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v), err_msg=name)


def _mlp():
    return nn.Sequential(
        nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 3)
    )


def _batches(n=4, batch=16, shape=(10,), classes=3):
    return [
        (RNG.standard_normal((batch, *shape)).astype(np.float32), RNG.integers(0, classes, batch))
        for _ in range(n)
    ]


OPTIMISERS = {
    "sgd": lambda p: cr.optim.SGD(p, lr=0.1),
    "sgd_momentum_nesterov": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    "sgd_decay": lambda p: cr.optim.SGD(p, lr=0.05, momentum=0.5, weight_decay=1e-2),
    "adam": lambda p: cr.optim.Adam(p, lr=1e-2),
    "adam_amsgrad": lambda p: cr.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda p: cr.optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: cr.optim.RMSprop(p, lr=1e-2, momentum=0.5),
    "adagrad": lambda p: cr.optim.Adagrad(p, lr=1e-2),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_mlp_step_equals_eager_for_every_optimiser(name):
    m1, s1, m2, c2 = _pair(_mlp, OPTIMISERS[name])
    _run_both(m1, s1, m2, c2, _batches())
    assert c2.traces == 1 and c2.fallbacks == 0
    assert c2.ops > 0


def test_learning_rate_scheduler_outside_the_step_is_seen():
    m1, s1, m2, c2 = _pair(_mlp, lambda p: cr.optim.SGD(p, lr=0.1, momentum=0.9))
    opts = [  # the optimisers live in the steps' closures
        c.cell_contents
        for f in (s1, c2.fn)
        for c in f.__closure__
        if isinstance(c.cell_contents, cr.optim.Optimizer)
    ]
    assert len(opts) == 2
    scheds = [cr.optim.lr_scheduler.StepLR(o, step_size=1, gamma=0.5) for o in opts]
    for x, y in _batches(3):
        _run_both(m1, s1, m2, c2, [(x, y)])
        for s in scheds:
            s.step()
    assert opts[0].param_groups[0]["lr"] == opts[1].param_groups[0]["lr"] == 0.1 * 0.5**3


def test_cnn_step_equals_eager():
    def cnn():
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(16 * 4 * 4, 10),
        )  # fmt: skip

    m1, s1, m2, c2 = _pair(cnn, lambda p: cr.optim.Adam(p, lr=1e-3))
    batches = [(x, RNG.permutation(np.arange(12) % 10)) for x, _ in _batches(4, 12, (1, 8, 8))]
    _run_both(m1, s1, m2, c2, batches)
    assert c2.traces == 1 and c2.fallbacks == 0
    # cross_entropy's label check reads whether the labels are in range, not the largest
    # label: a batch without the top classes replays the same trace
    _run_both(m1, s1, m2, c2, batches[:1] + [(batches[1][0], np.zeros(12, np.int64))])
    assert c2.traces == 1 and c2.fallbacks == 0
    # the check runs first in the replay, before any work
    program = c2._cache[next(iter(c2._cache))][0]
    assert type(program.calls[0][0]).__name__ in ("_Read", "_Guard") or program.calls[0][0] in (
        np.asarray,
        np.ndarray.reshape,
        np.ndarray.view,
    )


@pytest.mark.parametrize("train", [True, False])
def test_dropout_train_and_eval_equal_eager(train):
    def build():
        return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3))

    m1, s1, m2, c2 = _pair(build, lambda p: cr.optim.SGD(p, lr=0.1))
    m1.train(train)
    m2.train(train)
    _run_both(m1, s1, m2, c2, _batches())


def test_dropout_draws_from_the_global_generator_at_every_replay():
    x = np.ones((4, 50), np.float32)

    @cr.compile
    def f(x):
        return nn.functional.dropout(x, 0.5, training=True)

    a, b = f(x), f(x)
    assert not np.array_equal(a.numpy(), b.numpy())  # a fresh mask per call, not a constant
    cr.manual_seed(3)
    c = f(x)
    cr.manual_seed(3)
    np.testing.assert_array_equal(c.numpy(), nn.functional.dropout(x, 0.5, training=True).numpy())


def test_batchnorm_eval_equals_eager_and_training_is_refused_clearly():
    def build():
        return nn.Sequential(nn.Linear(10, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    m1, s1, m2, c2 = _pair(build, lambda p: cr.optim.SGD(p, lr=0.1))
    m1.eval()
    m2.eval()
    _run_both(m1, s1, m2, c2, _batches())
    m2.train()
    x, y = _batches(1)[0]
    with pytest.raises(TraceError, match="BatchNorm in training mode"):
        c2(cr.tensor(x), cr.tensor(x[:, :1].astype(np.int64) * 0))
    # a BatchNorm without running statistics has nothing to update: compiled
    m3, s3, m4, c4 = _pair(
        lambda: nn.Sequential(nn.Linear(10, 8), nn.BatchNorm1d(8, track_running_stats=False)),
        lambda p: cr.optim.SGD(p, lr=0.1),
        loss="mse",
    )
    batches = [(x, RNG.standard_normal((16, 8)).astype(np.float32)) for x, _ in _batches(3)]
    _run_both(m3, s3, m4, c4, batches)


def test_retrace_on_new_batch_size_and_dtype_and_bounded_cache():
    m1, s1, m2, c2 = _pair(_mlp, lambda p: cr.optim.SGD(p, lr=0.1))
    c2.cache_size = 2

    def full(n, batch):  # every class in every batch: one label-check outcome per shape
        return [(x, RNG.permutation(np.arange(batch) % 3)) for x, _ in _batches(n, batch)]

    for batch in (16, 8, 16, 5):
        _run_both(m1, s1, m2, c2, full(2, batch))
    assert c2.traces == 3  # 16, 8, 16 again (cached), 5 (evicts 8, the least recent)
    assert len(c2._cache) == 2
    _run_both(m1, s1, m2, c2, full(1, 8))
    assert c2.traces == 4

    @cr.compile
    def double(x):
        return x * 2

    assert double(np.ones(3, np.float32)).dtype == np.float32
    assert double(np.ones(3, np.float64)).dtype == np.float64
    assert double.traces == 2


def test_branch_on_a_value_falls_back_before_any_update():
    @cr.compile
    def f(x):
        if (x.sum() > 0).item():
            return x * 2
        return x - 1

    pos, neg = cr.ones(3), -cr.ones(3)
    np.testing.assert_array_equal(f(pos).numpy(), [2, 2, 2])
    np.testing.assert_array_equal(f(neg).numpy(), [-2, -2, -2])  # the other branch, traced
    np.testing.assert_array_equal(f(pos).numpy(), [2, 2, 2])
    np.testing.assert_array_equal(f(neg).numpy(), [-2, -2, -2])
    assert f.traces == 2 and f.fallbacks == 0

    @cr.compile
    def g(x):
        return x * int((x.sum() > 0).item() + x.sum().item())  # a new value every call

    for k in range(1, 8):
        np.testing.assert_array_equal(g(cr.ones(2) * k).numpy(), [k * (2 * k + 1)] * 2)
    assert g.traces == 4 and g.fallbacks == 3  # 4 variants kept, then eager


def test_branch_after_an_update_is_a_clear_error():
    w = nn.Parameter(cr.tensor([1.0, 2.0]))
    opt = cr.optim.SGD([w], lr=0.1)

    @cr.compile
    def step(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        if bool(loss > 0):  # decided after the weights moved
            return loss
        return -loss

    step(cr.tensor([1.0, 1.0]))
    step(cr.tensor([1.0, 1.0]))
    with pytest.raises(TraceError, match="truth value of a traced value changed"):
        step(cr.tensor([-10.0, -10.0]))


def test_leaf_with_a_stale_grad_is_refused():
    w = cr.tensor([1.0, 2.0], requires_grad=True)

    @cr.compile
    def f(x):
        (w * x).sum().backward()
        return w.grad

    (w * 3).sum().backward()  # a .grad from before the step
    with pytest.raises(TraceError, match="already holds"):
        f(cr.tensor([1.0, 1.0]))
    w.grad = None
    np.testing.assert_array_equal(f(cr.tensor([1.0, 1.0])).numpy(), [1.0, 1.0])
    with pytest.raises(TraceError, match="holds a .grad"):
        f(cr.tensor([2.0, 2.0]))  # the replay finds the previous call's .grad
    w.grad = None
    np.testing.assert_array_equal(f(cr.tensor([2.0, 3.0])).numpy(), [2.0, 3.0])


def test_weights_changed_between_calls_are_read_afresh():
    w = cr.tensor([1.0, 2.0])

    @cr.compile
    def f(x):
        return (x * w).sum() + (w * w).sum()  # (w * w) has no input operand: still replayed

    assert float(f(np.ones(2))) == 3.0 + 5.0
    w.data[...] = 3.0  # in place
    assert float(f(np.ones(2))) == 6.0 + 18.0
    w.data = cr.tensor([0.5, 0.5])  # rebound
    assert float(f(np.ones(2))) == 1.0 + 0.5
    w.data = cr.tensor([1.0, 1.0, 1.0])  # another shape: not this trace's step, runs eagerly
    assert float(f(np.ones(3))) == 3.0 + 3.0


def test_returns_detached_tensors_and_weights_themselves():
    lin = nn.Linear(3, 2)

    @cr.compile
    def f(x):
        return lin(x), lin.weight, {"n": 1}

    for _ in range(2):
        out, weight, extra = f(np.ones((4, 3), np.float32))
        assert isinstance(out, Tensor) and out.grad_fn is None and not out.requires_grad
        assert weight is lin.weight
        assert extra == {"n": 1}


def test_bad_arguments_and_results_are_refused():
    with pytest.raises(ValueError, match="cache_size"):
        cr.compile(lambda x: x, cache_size=0)
    f = cr.compile(lambda x: x * 2)
    with pytest.raises(TypeError, match="requires grad"):
        f(cr.tensor([1.0], requires_grad=True))
    with pytest.raises(TypeError, match="neither an array"):
        f([1.0, 2.0])
    g = cr.compile(lambda x: object())
    with pytest.raises(TraceError, match="returned a object"):
        g(np.ones(2))
    assert isinstance(f, Compiled)


def test_numpy_and_chainrule_are_left_as_they_were_after_a_failed_trace():
    zeros, data_attr = np.zeros, Tensor.__dict__["_data"]

    @cr.compile
    def bad(x):
        np.zeros(3)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        bad(np.ones(2))
    assert np.zeros is zeros
    assert Tensor.__dict__["_data"] is data_attr
    assert cr.random.get_generator().__class__ is np.random.Generator
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    (t * t).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 4.0])


def test_long_chain_replays_in_place():
    x = cr.tensor(RNG.uniform(-1, 1, 100), requires_grad=True)

    def chain():
        y = x
        for _ in range(200):
            y = cr.tanh(y * 1.0001)
        s = y.sum()
        s.backward()
        g = x.grad
        x.grad = None
        return s, g

    c = cr.compile(chain)
    for _ in range(3):
        a, b = chain(), c()
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert c.ops <= 6 * 200 + 10  # hand NumPy's count: no bookkeeping, no gradient copies


def test_replay_frees_each_temporary_after_its_last_use():
    import tracemalloc

    n = 250_000  # 1 MB of float32 per array

    def chain(x):
        y = x
        for _ in range(12):
            y = y[::-1] + 1.0  # a view, then a new array: nothing is evaluated in place
        return y.sum()

    c = cr.compile(chain)
    x = np.ones(n, np.float32)
    c(x)  # the trace
    tracemalloc.start()
    try:
        result = c(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert float(result) == 13.0 * n
    assert peak < 4 * 4 * n  # at most a few arrays alive at once, not all twelve


def test_constants_of_the_backward_walk_are_made_once():
    w = cr.tensor(RNG.standard_normal(5), requires_grad=True)

    def step(x):
        loss = (x * w).mean()  # backward seeds ones_like(loss), then mean's rule divides it by n
        loss.backward()
        g = w.grad
        w.grad = None
        return loss, g

    c = cr.compile(step)
    x = RNG.standard_normal((4, 5))
    for _ in range(3):
        a, b = step(x), c(x)
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    program = next(iter(c._cache.values()))[0]
    funcs = [op[0] for op in program.calls]
    assert np.ones_like not in funcs
    w2 = cr.tensor(RNG.standard_normal(5), requires_grad=True)

    def written(x):
        seed = np.ones_like(x)  # a value-free creator that is then written: not a constant
        seed[0] = 5.0
        return (cr.tensor(seed) * x).sum() + (w2 * 0).sum()

    c2 = cr.compile(written)
    x = np.arange(3.0)
    assert float(c2(x)) == float(c2(x)) == float(written(x)) == 0 + 1 + 2


def test_softmax_of_the_loss_and_of_its_rule_is_computed_once():
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 10))

    def step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        for p in model.parameters():
            p.grad = None
        return loss, grads

    c = cr.compile(step)
    x = RNG.standard_normal((16, 6)).astype(np.float32)
    y = np.arange(16) % 10
    for _ in range(3):
        (la, ga), (lb, gb) = step(x, y), c(x, y)
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
        for a, b in zip(ga, gb):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    calls = next(iter(c._cache.values()))[0].calls
    ufuncs = [op[0].__self__ for op in calls if getattr(op[0], "__name__", "") == "__call__"]
    assert ufuncs.count(np.exp) == 1  # eagerly twice: in the loss, and again in its rule
    assert ufuncs.count(np.maximum) == 9 + 1  # one row maximum over 10 classes, and the relu


def test_a_write_into_an_array_is_not_moved_where_it_would_change_a_value():
    def step(x):
        m = np.zeros(3, np.float32)
        np.add(m, x, out=m)  # float64 x added into float32 m: cast on the way in
        y = m * 1.0
        np.multiply(m, 2.0, out=m)  # seen through y? no: y is a new array
        v = m[:2]  # a view taken before the next write sees that write
        np.add(m, 1.0, out=m)
        return cr.tensor(y), cr.tensor(v.copy()), cr.tensor(m)

    c = cr.compile(step)
    x = np.array([0.1, 0.2, 0.3])
    for _ in range(3):
        for a, b in zip(step(x), c(x)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_write_is_a_new_value_only_where_the_call_alone_makes_the_same_array():
    compile_mod = __import__("sys").modules["chainrule.compile"]
    same, slot = compile_mod._same_result, compile_mod._Slot
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    shapes = [((4, 3), f32), ((4, 3), f64), ((3,), f32), ((1, 3), f32)]
    into = shapes[0]
    assert same(np.add, (slot(0), slot(2)), into, shapes, 99, [])
    assert same(np.add, (slot(0), 2.5), into, shapes, 99, [])  # a Python float takes f32
    assert not same(np.add, (slot(0), slot(1)), into, shapes, 99, [])  # out= cast f64 back
    assert not same(np.add, (slot(0), np.float64(2.5)), into, shapes, 99, [])  # strong scalar
    assert not same(np.exp, (slot(3),), into, shapes, 99, [])  # out= broadcast it to (4, 3)
    assert not same(np.greater, (slot(0), 0.0), into, shapes, 99, [])  # bool, cast into f32
    assert same(np.add, (slot(5), slot(2)), into, shapes, 5, [0])  # slot 5 replaced slot 0


def test_buffers_kept_between_replays_never_leak_into_results_or_other_threads():
    import threading

    w = cr.tensor(RNG.standard_normal((64, 64)), requires_grad=True)

    def step(x):
        h = x @ w  # returned: made afresh at every replay
        z = cr.tanh(h @ w)  # intermediates: written into the program's buffers
        loss = (z * z).sum()
        loss.backward()
        g = w.grad  # bound to the leaf, then returned: never a buffer
        w.grad = None
        return h, loss, g

    c = cr.compile(step)
    xs = [RNG.standard_normal((32, 64)) for _ in range(4)]
    want = [tuple(t.numpy().copy() for t in step(x)) for x in xs]
    first = c(xs[0])
    assert next(iter(c._cache.values()))[0].buffers  # the test exercises buffers
    kept = [c(x) for x in xs]
    for got, ref in zip([first, *kept[1:]], want):
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a.numpy(), b)  # earlier results left as they were
    v = cr.tensor(RNG.standard_normal((64, 64)))

    def forward(x):  # no backward: threads share no .grad
        return (cr.tanh(cr.tanh(x @ v) @ v) * 2.0).sum(axis=1)

    f = cr.compile(forward)
    expected = [forward(x).numpy() for x in xs]
    f(xs[0])
    assert next(iter(f._cache.values()))[0].buffers
    errors = []

    def worker(k):
        try:
            for _ in range(200):
                np.testing.assert_array_equal(f(xs[k]).numpy(), expected[k])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_scratch_arrays_kept_between_replays_start_as_eagerly():
    def step(x):
        acc = np.zeros(4096)  # filled in part: the rest must be zeros again at every replay
        acc[: x.shape[0]] = x
        acc[8:16] += x  # would accumulate over replays if the buffer were not zeroed again
        tmp = np.empty(4096)
        np.multiply(acc, 2.0, out=tmp)
        return cr.tensor(tmp[:8].copy()), cr.tensor(acc.sum())

    c = cr.compile(step)
    for x in (np.arange(1.0, 9.0), np.ones(8), -np.arange(8.0)):
        for a, b in zip(step(x), c(x)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    program = next(iter(c._cache.values()))[0]
    assert len(program.buffers) == 2  # acc and tmp: written inside, never handed out


def test_a_trace_leaves_other_threads_eager_work_alone():
    import threading

    def model(seed):  # built here, before the thread starts: init draws from the global
        m = _mlp()  # generator, which the traces below seed
        rng = np.random.default_rng(seed)
        for p in m.parameters():
            p.data = cr.tensor(0.3 * rng.standard_normal(p.shape).astype(np.float32))
        return m

    def train(m, seed, steps, out):
        opt = cr.optim.SGD(m.parameters(), lr=0.1)
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            x = rng.standard_normal((16, 10)).astype(np.float32)
            y = rng.integers(0, 3, 16)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(m(cr.tensor(x)), cr.tensor(y))
            loss.backward()
            opt.step()
            out.append(float(loss))

    alone: list[float] = []
    train(model(3), 3, 60, alone)
    beside: list[float] = []
    worker = threading.Thread(target=train, args=(model(3), 3, 60, beside))
    worker.start()
    for _ in range(5):  # traces (new shapes) while the worker trains eagerly
        m1, s1, m2, c2 = _pair(_mlp, lambda p: cr.optim.SGD(p, lr=0.1))
        _run_both(m1, s1, m2, c2, _batches(2, int(RNG.integers(3, 40))), seeds=False)
    worker.join()
    assert beside == alone


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_mlp_estimators_compiled_inner_step_equals_eager(monkeypatch, solver):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from chainrule.estimators import MLPClassifier, MLPRegressor
    from chainrule.estimators import mlp as mlp_module

    X = RNG.standard_normal((90, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    fitted = {}
    for flag in (False, True):
        monkeypatch.setattr(mlp_module, "COMPILE_STEP", flag)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            kw = dict(max_iter=8, random_state=0, solver=solver, batch_size=32)
            clf = MLPClassifier((7,), alpha=1e-3, **kw).fit(X, y)
            reg = MLPRegressor((5,), **kw).fit(X, X[:, 3])
            # dropout draws from the estimator's own generator: the step stays eager
            drop = MLPClassifier((7,), dropout=0.3, **kw).fit(X, y)
        fitted[flag] = (clf, reg, drop)
    for eager, compiled in zip(fitted[False], fitted[True]):
        assert eager.loss_curve_ == compiled.loss_curve_
        for a, b in zip(eager.coefs_ + eager.intercepts_, compiled.coefs_ + compiled.intercepts_):
            np.testing.assert_array_equal(a, b)


def test_an_explicit_generator_is_refused_not_replayed_as_a_constant():
    layer = cr.nn.Dropout(0.5, generator=np.random.default_rng(0))
    step = cr.compile(lambda x: layer(x).sum())
    with pytest.raises(TraceError, match="explicitly passed generator"):
        step(np.ones((4, 3), np.float32))
    # outside a trace the generator is used as before
    assert layer(cr.ones(4, 3)).shape == (4, 3)


def test_array_likes_other_than_numpy_and_cupy_arrays_run_eagerly():
    class Sub(np.ndarray):
        pass

    class DeviceLike:  # a GPU array-like that is not CuPy's: no shape, no device, unhashable
        __cuda_array_interface__: dict = {}
        __hash__ = None

    calls = []

    def fn(x):
        calls.append(type(x))
        return 1.0

    step = cr.compile(fn)
    sub = np.ones(3).view(Sub)
    assert step(sub) == 1.0 and step(sub) == 1.0 and step(DeviceLike()) == 1.0
    assert calls == [Sub, Sub, DeviceLike] and step.traces == 0


# ------------------------------------------------------------------------------ on a GPU
def _gpu_mlp(cupy, dropout=0.0):
    cr.random.seed(0)
    layers = [nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    model = nn.Sequential(*layers, nn.Linear(32, 3)).to("cuda")
    return model, cr.optim.Adam(model.parameters(), lr=0.01)


def test_gpu_step_is_rehearsed_on_the_host_then_replayed_with_fused_kernels(monkeypatch):
    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    rng = np.random.default_rng(0)
    X = cupy.asarray(rng.standard_normal((16, 10)).astype(np.float32))
    y = rng.integers(0, 3, 16)  # host labels beside GPU inputs, as chainrule moves them
    results = []
    for compiled in (False, True):
        model, opt = _gpu_mlp(cupy)

        def step(x, y, model=model, opt=opt):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        f = cr.compile(step) if compiled else step
        losses = [f(cr.as_tensor(X), y) for _ in range(4)]
        assert all(isinstance(loss._data, cupy.ndarray) for loss in losses)
        params = list(model.parameters())
        assert all(isinstance(p._data, cupy.ndarray) for p in params)
        assert all(isinstance(p.grad._data, cupy.ndarray) for p in params)
        arrays = [p.numpy() for p in params] + [p.grad.numpy() for p in params]
        results.append(([float(v.numpy()) for v in losses], arrays))
    (eager_losses, eager_weights), (losses, weights) = results
    assert losses == eager_losses  # the fake computes with NumPy: equal bit for bit
    for a, b in zip(eager_weights, weights):
        np.testing.assert_array_equal(a, b)
    assert f.traces == 1 and f.eager_reason is None
    program = next(iter(f._cache.values()))[0]
    fused = [op[0] for op in program.calls if op[0].__class__.__name__ == "_Fused"]
    # the relu after a bias, tanh after a bias, softmax's shift and exp, tanh's rule...
    assert len(fused) >= 4 and sum(k.steps for k in fused) >= 9


def test_gpu_step_the_replay_cannot_do_runs_eagerly_with_a_warning(monkeypatch):
    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    model, opt = _gpu_mlp(cupy, dropout=0.5)  # draws: not replayed on a GPU
    X = cupy.asarray(np.ones((8, 10), np.float32))
    y = cupy.asarray(np.zeros(8, np.int64))

    @cr.compile
    def step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.warns(RuntimeWarning, match="runs eagerly.*random draws"):
        step(cr.as_tensor(X), y)
    after = [p.numpy() for p in model.parameters()]
    assert all((a != b).any() for a, b in zip(before, after))  # updated once, by the eager run
    assert opt.state[next(iter(model.parameters()))]["step"] == 1
    step(cr.as_tensor(X), y)  # no second warning: the signature is known to run eagerly
    assert step.traces == 0 and "random draws" in step.eager_reason


def test_recorded_numpy_calls_map_to_their_cupy_counterparts(monkeypatch):
    import sys

    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    mod = sys.modules["chainrule.compile"]
    to_gpu = mod._device_func
    assert to_gpu(np.exp.__call__, cupy) is cupy.exp
    assert to_gpu(np.ndarray.transpose, cupy) is cupy.ndarray.transpose
    assert to_gpu(np.ndarray.__getitem__, cupy) is cupy.ndarray.__getitem__
    assert to_gpu(np.where, cupy) is cupy.where
    assert to_gpu(np.lib.stride_tricks.as_strided, cupy) is cupy.lib.stride_tricks.as_strided
    total = to_gpu(np.add.reduce, cupy)
    x = cupy.asarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(total(x, axis=(1,), dtype=None, keepdims=True).get(), [[3], [12]])
    with pytest.raises(mod._Untranslatable, match="accumulate"):
        to_gpu(np.add.accumulate, cupy)
    with pytest.raises(mod._Untranslatable, match="initial"):
        mod._on_gpu([np.add.reduce, (mod._Slot(0),), {"axis": 0, "initial": 1.0}, None], cupy)


def test_batches_with_different_largest_labels_replay_one_trace():
    model = nn.Linear(4, 10)
    F = nn.functional

    def losses(x, y):
        return F.cross_entropy(model(x), y), F.nll_loss(F.log_softmax(model(x), 1), y)

    loss_of = cr.compile(losses)
    x = RNG.standard_normal((8, 4)).astype(np.float32)
    for top in range(10, 1, -1):  # the largest label of the batch goes from 9 down to 1
        y = np.arange(8) % top
        for a, b in zip(loss_of(x, y), losses(x, y)):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert loss_of.traces == 1 and loss_of.fallbacks == 0
    with pytest.raises(ValueError, match="target 12 is out of range"):
        loss_of(x, np.full(8, 12))


def test_gpu_errors_name_what_the_replay_cannot_do(monkeypatch):
    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    model, opt = _gpu_mlp(cupy)
    X = cupy.asarray(np.ones((8, 10), np.float32))
    y = cupy.asarray(np.zeros(8, np.int64))

    @cr.compile
    def keeps_zeroed_grads(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        return loss

    with pytest.warns(RuntimeWarning, match=r"set_to_none=False\) in a GPU step"):
        keeps_zeroed_grads(cr.as_tensor(X), y)

    @cr.compile
    def host_inputs(x):  # a model on the GPU, inputs on the host
        return model(x)

    with pytest.raises(TraceError, match="reads a GPU array .* inputs are NumPy arrays"):
        host_inputs(np.ones((8, 10), np.float32))
