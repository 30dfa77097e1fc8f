"""Grad, inference and anomaly mode belong to the calling thread (as in PyTorch).

Every test orders its threads with barriers and events, never with sleeps, so each interleaving
it names is the one that runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

TIMEOUT = 30  # seconds; only reached if a test is broken, never part of what a test checks


def run_threads(*targets: Callable[[], Any]) -> list[Any]:
    """Run each target in its own thread, return their results, re-raise the first error."""
    results: list[Any] = [None] * len(targets)
    errors: list[BaseException] = []

    def wrap(i: int, target: Callable[[], Any]) -> None:
        try:
            results[i] = target()
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a test thread hung"
    if errors:
        raise errors[0]
    return results


def test_a_new_thread_starts_with_grad_enabled_while_the_main_thread_is_in_no_grad():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        assert not cr.is_grad_enabled()

        def worker() -> tuple[bool, bool, bool]:
            y = (w * 3).sum()
            y.backward()
            return cr.is_grad_enabled(), y.requires_grad, cr.is_inference_mode_enabled()

        ((enabled, recorded, inference),) = run_threads(worker)
        assert not cr.is_grad_enabled()  # the worker did not switch the main thread's mode
    assert enabled and recorded and not inference
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 3.0])


def test_overlapping_no_grad_blocks_in_two_threads_restore_each_threads_mode():
    """A enters, B enters, A leaves, B leaves: the order that left grad off process-wide."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    w = cr.tensor([2.0], requires_grad=True)

    def a() -> list[bool]:
        seen = []
        with cr.no_grad():
            a_in.set()
            assert b_in.wait(TIMEOUT)
            seen.append((w * w).requires_grad)
        a_out.set()  # B is still inside its block
        seen.append((w * w).requires_grad)
        seen.append(cr.is_grad_enabled())
        return seen

    def b() -> list[bool]:
        seen = []
        assert a_in.wait(TIMEOUT)
        seen.append(cr.is_grad_enabled())  # A's block is open: B is unaffected
        with cr.no_grad():
            b_in.set()
            assert a_out.wait(TIMEOUT)
            seen.append(cr.is_grad_enabled())  # A left its block: B's block still holds
        seen.append(cr.is_grad_enabled())
        return seen

    seen_a, seen_b = run_threads(a, b)
    assert seen_a == [False, True, True]
    assert seen_b == [True, False, True]
    assert cr.is_grad_enabled()


def test_one_shared_no_grad_instance_restores_each_threads_own_mode():
    guard = cr.no_grad()  # one object entered by both threads, as a module-level guard would be
    both_in, a_out = threading.Barrier(2, timeout=TIMEOUT), threading.Event()

    def a() -> bool:
        with cr.no_grad(), guard:  # A was already off: it must come back off, not on
            both_in.wait()
        a_out.set()
        return cr.is_grad_enabled()

    def b() -> tuple[bool, bool]:
        with guard:
            both_in.wait()
            assert a_out.wait(TIMEOUT)
            inside = cr.is_grad_enabled()
        return inside, cr.is_grad_enabled()

    after_a, (inside_b, after_b) = run_threads(a, b)
    assert after_a is True  # the outer no_grad in A also closed
    assert (inside_b, after_b) == (False, True)


def test_a_training_thread_keeps_its_gradients_while_another_thread_evaluates_in_no_grad():
    """The step of the training thread runs inside the evaluating thread's no_grad block."""
    model = cr.nn.Linear(3, 1)
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    eval_open, trained = threading.Event(), threading.Event()

    def evaluate() -> bool:
        with cr.no_grad():
            out = model(x)
            eval_open.set()
            assert trained.wait(TIMEOUT)
            return out.requires_grad

    def train() -> np.ndarray:
        assert eval_open.wait(TIMEOUT)
        model.zero_grad()
        model(x).sum().backward()  # would raise if the forward was not recorded
        trained.set()
        return model.weight.grad.numpy()

    eval_recorded, weight_grad = run_threads(evaluate, train)
    assert eval_recorded is False
    np.testing.assert_allclose(weight_grad, [[3.0, 5.0, 7.0]])


def test_set_grad_enabled_called_plainly_in_one_thread_leaves_the_others_alone():
    off, checked = threading.Event(), threading.Event()

    def a() -> bool:
        cr.set_grad_enabled(False)  # switched for the rest of this thread's life
        off.set()
        assert checked.wait(TIMEOUT)
        return cr.is_grad_enabled()

    def b() -> bool:
        assert off.wait(TIMEOUT)
        enabled = cr.is_grad_enabled()
        checked.set()
        return enabled

    assert run_threads(a, b) == [False, True]
    assert cr.is_grad_enabled()


def test_inference_mode_is_per_thread():
    inside, checked = threading.Event(), threading.Event()
    w = cr.tensor([1.0], requires_grad=True)

    def a() -> tuple[bool, bool]:
        with cr.inference_mode():
            inside.set()
            assert checked.wait(TIMEOUT)
            return cr.is_inference_mode_enabled(), (w * 2).requires_grad

    def b() -> tuple[bool, bool]:
        assert inside.wait(TIMEOUT)
        seen = cr.is_inference_mode_enabled(), (w * 2).requires_grad
        checked.set()
        return seen

    assert run_threads(a, b) == [(True, False), (False, True)]


def test_detect_anomaly_is_per_thread():
    inside, checked = threading.Event(), threading.Event()
    x = cr.tensor([-1.0], requires_grad=True)

    def a() -> str:
        with cr.detect_anomaly():
            inside.set()
            try:
                with np.errstate(invalid="ignore"):
                    cr.log(x)
            except FloatingPointError as exc:
                return str(exc)
            finally:
                assert checked.wait(TIMEOUT)
        return "no error"

    def b() -> tuple[bool, bool]:
        assert inside.wait(TIMEOUT)
        try:
            with np.errstate(invalid="ignore"):
                y = cr.log(x)  # anomaly mode is off in this thread: a NaN, no error
            return cr.is_anomaly_enabled(), bool(np.isnan(y.numpy()).all())
        finally:
            checked.set()

    message, (b_anomaly, b_nan) = run_threads(a, b)
    assert "forward of 'log'" in message
    assert (b_anomaly, b_nan) == (False, True)


def test_many_threads_alternating_no_grad_never_lose_a_gradient():
    """Eight threads, each step of each thread fenced by a barrier so that every step of a
    gradient thread runs while the no_grad threads are inside their blocks."""
    n_steps, n_each = 50, 4
    barrier = threading.Barrier(2 * n_each, timeout=TIMEOUT)

    def with_grad() -> int:
        recorded = 0
        w = cr.tensor([1.0], requires_grad=True)
        for _ in range(n_steps):
            barrier.wait()  # the no_grad threads are inside their blocks now
            recorded += (w * 2).requires_grad
            barrier.wait()
        return recorded

    def without_grad() -> int:
        recorded = 0
        w = cr.tensor([1.0], requires_grad=True)
        for _ in range(n_steps):
            with cr.no_grad():
                barrier.wait()
                recorded += (w * 2).requires_grad
                barrier.wait()
        return recorded

    counts = run_threads(*[with_grad] * n_each, *[without_grad] * n_each)
    assert counts == [n_steps] * n_each + [0] * n_each


def test_inference_mode_forms():
    w = cr.tensor([1.0], requires_grad=True)

    @cr.inference_mode
    def bare() -> bool:
        return (w * 2).requires_grad

    @cr.inference_mode()
    def called() -> bool:
        return (w * 2).requires_grad

    assert bare() is False and called() is False
    assert cr.is_grad_enabled() and not cr.is_inference_mode_enabled()
    with cr.no_grad():
        with cr.inference_mode(mode=False):  # as in PyTorch: turns recording back on
            assert (w * 2).requires_grad
            assert not cr.is_inference_mode_enabled()
        assert not cr.is_grad_enabled()
    with cr.inference_mode(), cr.inference_mode(False):
        assert cr.is_grad_enabled()
    assert bare.__name__ == "bare"
    with pytest.raises(TypeError, match="inference_mode: mode must be True or False, got str"):
        cr.inference_mode("yes")  # type: ignore[arg-type]


def test_transform_nesting_is_per_thread():
    """A thread inside cr.grad's function does not make another thread's cr.grad record its
    backward (nor the other way round): the nesting depth belongs to the thread."""
    from chainrule.autodiff import state

    inside = threading.Event()
    release = threading.Event()

    def slow(x):
        inside.set()
        assert release.wait(TIMEOUT)
        return (x * x).sum()

    def outer() -> float:
        return float(np.asarray(cr.grad(slow)(np.array([3.0])))[0])

    def other() -> tuple[int, type]:
        assert inside.wait(TIMEOUT)
        depth = state.transform_depth  # 0 here, although the first thread is inside a transform
        # not nested in this thread: a plain array comes back (nested, a recorded Tensor would)
        g = cr.grad(lambda x: (x**3).sum())(np.array([2.0]))
        release.set()
        return depth, type(g)

    results = run_threads(outer, other)
    assert results == [6.0, (0, np.ndarray)]


# -------------------------------------------- the fast path while every thread is at defaults
def _switched() -> set[int]:
    from chainrule.autodiff import modes_switched

    return set(modes_switched)


def test_the_fast_path_flag_follows_every_switch():
    assert _switched() == set()
    w = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        assert len(_switched()) == 1 and not (w * 2).requires_grad
        with cr.enable_grad():
            assert _switched() == set() and (w * 2).requires_grad
        assert len(_switched()) == 1
    assert _switched() == set()
    with cr.detect_anomaly():
        assert len(_switched()) == 1
        with (
            pytest.raises(FloatingPointError, match="forward of 'log'"),
            np.errstate(invalid="ignore"),
        ):
            cr.log(-w)
    with cr.inference_mode():
        assert len(_switched()) == 1 and not (w * 2).requires_grad
    assert _switched() == set() and (w * 2).requires_grad


def test_a_direct_write_to_the_state_is_seen_by_every_operation():
    from chainrule.autodiff import state

    w = cr.tensor([1.0], requires_grad=True)
    state.grad_enabled = False  # as chainrule.optim.minimize does
    try:
        assert not (w * 2).requires_grad and not cr.tanh(w).requires_grad
        assert len(_switched()) == 1
    finally:
        state.grad_enabled = True
    assert _switched() == set() and (w * 2).requires_grad


def test_a_thread_that_ends_with_grad_off_gives_the_fast_path_back():
    def worker() -> bool:
        cr.set_grad_enabled(False)  # a plain call: never restored
        return bool(_switched())

    (inside,) = run_threads(worker)
    assert inside
    assert _switched() == set()  # the ended thread's locals, and its key, are gone
    w = cr.tensor([1.0], requires_grad=True)
    assert (w * 2).requires_grad


def test_one_switch_reentered_in_one_thread_restores_each_level():
    guard = cr.no_grad()
    with guard:
        with cr.enable_grad():
            with guard:
                assert not cr.is_grad_enabled()
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled() and _switched() == set()


def test_blocks_left_out_of_order_by_generators_restore_what_each_block_saved():
    def inside(switch: Any) -> Any:
        with switch:
            yield cr.is_grad_enabled()
        yield cr.is_grad_enabled()

    a, b = inside(cr.no_grad()), inside(cr.enable_grad())
    try:
        # a enters (saves True), b enters (saves False), a leaves (restores True), b leaves
        # (restores False): each block restores what it saved, as with per-instance stacks.
        assert [next(a), next(b), next(a), next(b)] == [False, True, True, False]
    finally:
        cr.set_grad_enabled(True)
    from chainrule.autodiff import state

    assert state.__dict__["_stack"] == [] and _switched() == set()
