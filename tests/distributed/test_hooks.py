"""Post-accumulate-grad hooks: they run inside the backward walk, once per leaf, with the
leaf's complete gradient, as soon as its last consumer has run."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import autodiff


def test_hook_sees_complete_grad_before_earlier_layers_are_walked():
    w1 = cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
    w2 = cr.tensor([[0.5], [-1.0]], dtype="float64", requires_grad=True)
    x = cr.tensor([[1.0, -1.0]], dtype="float64")
    seen = []

    def on_w2(t):
        # w1's gradient needs nodes older than w2's consumer: not delivered yet.
        seen.append(("w2", t.grad.numpy().copy(), w1.grad is None))

    def on_w1(t):
        seen.append(("w1", t.grad.numpy().copy(), w2.grad is not None))

    h1 = w1.register_post_accumulate_grad_hook(on_w1)
    h2 = w2.register_post_accumulate_grad_hook(on_w2)
    ((x @ w1).tanh() @ w2).sum().backward()
    h1.remove()
    h2.remove()
    hid = np.tanh(np.array([[1.0, -1.0]]) @ np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert [s[0] for s in seen] == ["w2", "w1"]
    np.testing.assert_allclose(seen[0][1], hid.T)
    assert seen[0][2] is True
    expected_w1 = np.array([[1.0], [-1.0]]) @ ((1 - hid**2) * np.array([[0.5, -1.0]]))
    np.testing.assert_allclose(seen[1][1], expected_w1)
    assert seen[1][2] is True
    assert not autodiff._grad_hooks


def test_shared_leaf_fires_once_with_the_sum_of_its_uses():
    w = cr.tensor([2.0, 3.0], dtype="float64", requires_grad=True)
    calls = []
    h = w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.tolist()))
    ((w * w).exp().sum() + (w * 5.0).sum()).backward()
    h.remove()
    assert calls == [(2 * np.array([2.0, 3.0]) * np.exp([4.0, 9.0]) + 5.0).tolist()]


def test_hook_accumulates_like_grad_and_removal_stops_it():
    w = cr.tensor([1.0], dtype="float64", requires_grad=True)
    calls = []
    h = w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.item()))
    (w * 2).sum().backward()
    (w * 3).sum().backward()
    h.remove()
    h.remove()  # idempotent
    (w * 4).sum().backward()
    assert calls == [2.0, 5.0]
    assert w.grad.item() == 9.0


def test_grad_functions_touch_no_grad_and_run_no_hook():
    w = cr.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    calls = []
    h = w.register_post_accumulate_grad_hook(lambda t: calls.append(1))
    g = autodiff.backward((w * w).sum(), np.ones(()), targets=[w])
    h.remove()
    assert calls == [] and w.grad is None
    np.testing.assert_allclose(g[0], [2.0, 4.0])


def test_queue_callback_runs_once_after_every_hook():
    a = cr.tensor([1.0], dtype="float64", requires_grad=True)
    b = cr.tensor([2.0], dtype="float64", requires_grad=True)
    order = []

    def hook(t):
        order.append("hook")
        if len(order) == 1:
            autodiff.queue_callback(lambda: order.append(("end", a.grad.item(), b.grad.item())))

    handles = [
        a.register_post_accumulate_grad_hook(hook),
        b.register_post_accumulate_grad_hook(hook),
    ]
    (a * b).sum().backward()
    for h in handles:
        h.remove()
    assert order == ["hook", "hook", ("end", 2.0, 1.0)]
    with pytest.raises(RuntimeError, match="no backward walk"):
        autodiff.queue_callback(lambda: None)


def test_a_raising_hook_propagates_and_leaves_the_walk_state_clean():
    w = cr.tensor([1.0], dtype="float64", requires_grad=True)

    def boom(t):
        autodiff.queue_callback(lambda: None)
        raise ValueError("boom")

    h = w.register_post_accumulate_grad_hook(boom)
    with pytest.raises(ValueError, match="boom"):
        (w * 2).sum().backward()
    h.remove()
    assert autodiff.state.end_callbacks is None
    (w * 2).sum().backward()
    assert w.grad.item() == 4.0


def test_hook_under_create_graph_gets_a_differentiable_grad():
    w = cr.tensor([3.0], dtype="float64", requires_grad=True)
    got = []
    h = w.register_post_accumulate_grad_hook(lambda t: got.append(t.grad.requires_grad))
    (w**3).sum().backward(create_graph=True)
    h.remove()
    assert got == [True]
    assert w.grad.item() == 27.0


def test_only_leaves_that_require_grad_take_hooks():
    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not a leaf"):
        (x * 2).register_post_accumulate_grad_hook(print)
    with pytest.raises(RuntimeError, match="without requires_grad"):
        cr.tensor([1.0]).register_post_accumulate_grad_hook(print)
    with pytest.raises(TypeError, match="callable"):
        x.register_post_accumulate_grad_hook(3)


def test_hooks_do_not_keep_tensors_alive():
    import gc

    w = cr.tensor([1.0], requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: None)
    assert id(w) in autodiff._grad_hooks
    key = id(w)
    del w
    gc.collect()
    assert key not in autodiff._grad_hooks
