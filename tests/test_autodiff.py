"""The backward walk, grad mode, anomaly detection, in-place detection and error hygiene."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autodiff import unbroadcast
from chainrule.ops.define import apply, define
from chainrule.testing import gradcheck


def leaf(values, dtype=np.float64):
    return cr.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# --------------------------------------------------------------------------- backward
def test_non_scalar_output_needs_a_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"backward: grad can be implied only .*\(2,\).*grad="):
        (x * 2).backward()
    assert x.grad is None


def test_one_element_output_of_any_rank_implies_the_gradient():
    x = leaf([[3.0]])
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[6.0]])


def test_backward_with_an_explicit_gradient():
    x = leaf([1.0, 2.0])
    (x * x).backward(np.array([10.0, 100.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [20.0, 400.0])
    x.grad = None
    (x * 3).backward(cr.tensor(np.array([1.0, -1.0])))
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, -3.0])
    x.grad = None
    (x * 3).backward([1.0, 2.0])  # a list, cast to the output's dtype
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])


def test_backward_gradient_of_the_wrong_shape():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"backward: grad has shape \(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))
    with pytest.raises(ValueError, match=r"backward: grad has shape \(1, 2\)"):
        (x * 2).backward(np.ones((1, 2)))
    assert x.grad is None


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="backward: this tensor does not require grad"):
        cr.tensor([1.0]).sum().backward()


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = leaf([1.0, 2.0])
    y = cr.exp(x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="'sum' a second time.*retain_graph=True"):
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]))  # unchanged


def test_retain_graph_allows_backward_twice_and_gradients_accumulate():
    x = leaf([1.0, 2.0])
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 12.0])
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 24.0])


def test_gradients_accumulate_across_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [7.0, 9.0])
    (x * 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 10.0])


@pytest.mark.parametrize(
    "f, expected",
    [
        (lambda x: x * x, lambda v: 2 * v),
        (lambda x: x + x, lambda v: np.full_like(v, 2.0)),
        (lambda x: x * x + x, lambda v: 2 * v + 1),
        (lambda x: (x - x) * x, lambda v: np.zeros_like(v)),
        (lambda x: cr.exp(x) * x / x, lambda v: np.exp(v)),
    ],
)
def test_a_leaf_used_several_times(f, expected):
    v = np.array([0.5, -1.5, 2.0])
    x = leaf(v)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected(v), rtol=1e-14)


def test_diamond_graph():
    x = leaf([0.3, 0.7])
    a = x * 2
    b = cr.sin(a)
    c = cr.cos(a)
    (b * c).sum().backward()  # sin(2x) cos(2x) = sin(4x) / 2
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(4 * x.numpy()), rtol=1e-13)


def test_leaf_gradients_are_not_aliased_and_are_writable():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert a.grad.data.flags.writeable and b.grad.data.flags.writeable
    a.grad.data[0] = 99.0
    a.grad.data *= 2
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_gradient_is_not_the_callers_seed_array():
    x = leaf([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x + 0).backward(seed)
    assert not np.shares_memory(x.grad.data, seed)
    seed[0] = 50.0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_create_graph_leaf_gradients_are_not_aliased_and_are_writable():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward(create_graph=True)  # add hands the same gradient to both
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert a.grad.data.flags.writeable
    a.grad.data[0] = 99.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    g = cr.tensor(np.array([2.0, 3.0]))
    a.grad = None
    a.backward(g, create_graph=True)  # a leaf root: its .grad is not the caller's tensor
    assert a.grad is not g and not np.shares_memory(a.grad.data, g.data)


def test_create_graph_copy_of_a_gradient_stays_differentiable():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    z = x * y
    (z + z * 0).sum().backward(create_graph=True)
    gx = x.grad  # = y, through a graph
    assert gx.requires_grad
    x.grad = y.grad = None
    (gx * gx).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, 8.0])


def test_broadcast_gradient_is_a_writable_array():
    b = leaf([1.0, 2.0, 3.0])
    (cr.zeros((4, 3), dtype=np.float64) + b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), [4.0, 4.0, 4.0])
    b.grad.data += 1
    np.testing.assert_array_equal(b.grad.numpy(), [5.0, 5.0, 5.0])


def test_a_leaf_as_the_root():
    x = cr.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0
    v = leaf([1.0, 2.0])
    g = np.array([5.0, 6.0])
    v.backward(g)
    np.testing.assert_array_equal(v.grad.numpy(), [5.0, 6.0])
    g[0] = 0.0
    np.testing.assert_array_equal(v.grad.numpy(), [5.0, 6.0])  # a copy, not the seed
    v.backward(g)
    np.testing.assert_array_equal(v.grad.numpy(), [5.0, 12.0])


def test_leaves_that_do_not_require_grad_get_no_gradient():
    x, c = leaf([1.0, 2.0]), cr.tensor(np.array([3.0, 4.0]))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_gradient_dtype_follows_the_leaf():
    x32 = cr.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x32 * np.array([0.1, 0.2])  # float64 ndarray: the result is float64
    assert y.dtype == np.float64
    y.sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad.numpy(), [0.1, 0.2], rtol=1e-7)


def test_create_graph_second_derivative():
    x = cr.tensor(np.float64(2.0), requires_grad=True)
    (x**3).backward(create_graph=True)
    g = x.grad
    assert g.requires_grad and g.item() == 12.0  # 3 x^2
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0  # 6 x


def test_create_graph_third_derivative_of_sin():
    x = leaf(0.7)
    cr.sin(x).backward(create_graph=True)
    g1 = x.grad
    x.grad = None
    g1.backward(create_graph=True)
    g2 = x.grad
    x.grad = None
    g2.backward()
    np.testing.assert_allclose(g1.item(), np.cos(0.7), rtol=1e-15)
    np.testing.assert_allclose(g2.item(), -np.sin(0.7), rtol=1e-15)
    np.testing.assert_allclose(x.grad.item(), -np.cos(0.7), rtol=1e-15)


def test_create_graph_gradient_penalty_on_two_leaves():
    # L = sum((d/dx sum(x*y))^2) = sum(y^2): dL/dy = 2y, dL/dx = 0
    x, y = leaf([1.0, 2.0]), leaf([3.0, -4.0])
    (x * y).sum().backward(create_graph=True)
    gx = x.grad
    x.grad = y.grad = None
    (gx * gx).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [6.0, -8.0])
    assert x.grad is None or not x.grad.numpy().any()


# ---------------------------------------------------------------------------- the walk
def test_a_chain_of_200k_operations():
    x = leaf([1.0, -2.0])
    y = x
    for _ in range(200_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.0001**200_000), rtol=1e-9)
    del y
    # deleting a long chain that was never differentiated must not overflow the C stack either
    z = x
    for _ in range(200_000):
        z = z + 1.0
    ref = weakref.ref(z)
    del z
    gc.collect()
    assert ref() is None


def test_intermediates_are_kept_by_the_root_until_backward():
    x = leaf([1.0, 2.0])
    a = x * 2
    b = cr.exp(a)
    c = b.sum()
    refs = [weakref.ref(a), weakref.ref(b)]
    del a, b
    gc.collect()
    assert all(r() is not None for r in refs)  # the root's graph holds them
    c.backward()
    gc.collect()
    assert all(r() is None for r in refs)  # released by the walk
    assert c._args is None and c._parents is None
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([2.0, 4.0]), rtol=1e-15)


def test_saved_values_are_released_after_backward():
    x = leaf([1.0, 2.0])
    a = x * x
    b = cr.tanh(a)
    c = b.sum()
    c.backward()
    for t in (a, b, c):
        assert t._args is None and t._parents is None
        assert t._gacc is None
    assert x._gacc is None


def test_retain_graph_keeps_saved_values():
    x = leaf([1.0, 2.0])
    a = x * x
    c = a.sum()
    c.backward(retain_graph=True)
    assert a._args is not None and c._args is not None
    assert a._gacc is None and x._gacc is None


_STEPS = [
    lambda a, b: a + b,
    lambda a, b: a * b,
    lambda a, b: a - 0.5 * b,
    lambda a, b: cr.tanh(a) * b,
    lambda a, b: cr.sin(a + b),
    lambda a, b: a / (1.5 + cr.tanh(b)),
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_STEPS) - 1), st.integers(0, 99), st.integers(0, 99)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 3),
)
def test_random_graphs_match_finite_differences(program, n_out):
    # Random DAGs with shared subexpressions, fan-out and fan-in: the walk must finish every
    # consumer of a node before the node itself runs, whatever order the nodes were made in.
    def f(x, y):
        values = [x, y]
        for op, i, j in program:
            values.append(_STEPS[op](values[i % len(values)], values[j % len(values)]))
        out = values[-1]
        for v in values[-n_out:-1]:
            out = out + v
        return out

    rng = np.random.default_rng(len(program))
    assert gradcheck(f, rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (2, 3)))


# --------------------------------------------------------------------------- grad mode
def test_no_grad_context_manager():
    x = leaf([1.0])
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 2
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.numpy(), [2.0])


def test_grad_mode_nesting():
    x = leaf([1.0])
    with cr.no_grad():
        with cr.enable_grad():
            assert cr.is_grad_enabled()
            assert (x * 2).requires_grad
            with cr.set_grad_enabled(False):
                assert not cr.is_grad_enabled()
                assert not (x * 2).requires_grad
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
        with cr.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert cr.is_grad_enabled()


def test_a_grad_mode_object_can_be_reused_and_nested():
    mode = cr.no_grad()
    with mode:
        with mode:
            assert not cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


def test_grad_mode_decorators():
    x = leaf([1.0])

    @cr.no_grad()
    def off(t):
        assert not cr.is_grad_enabled()
        return t * 2

    @cr.enable_grad()
    def on(t):
        return t * 2

    @cr.set_grad_enabled(False)
    def off2(t):
        return t * 2

    assert not off(x).requires_grad
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert on(x).requires_grad
        assert not cr.is_grad_enabled()
    assert not off2(x).requires_grad
    assert off.__name__ == "off"  # functools.wraps


def test_grad_mode_is_restored_after_exceptions():
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            raise ZeroDivisionError
    assert cr.is_grad_enabled()

    @cr.no_grad()
    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        boom()
    assert cr.is_grad_enabled()
    with cr.no_grad():
        with pytest.raises(ValueError):
            with cr.enable_grad():
                raise ValueError
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()


def test_backward_works_inside_no_grad():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    with cr.no_grad():
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ------------------------------------------------------------------------ anomaly mode
def test_anomaly_names_the_forward_op():
    x = leaf([1.0, -1.0])
    with cr.detect_anomaly():
        assert cr.is_anomaly_enabled()
        y = x * 2  # fine
        with pytest.raises(FloatingPointError, match="forward of 'log' produced NaN/Inf"):
            with np.errstate(invalid="ignore"):
                cr.log(y)
    assert not cr.is_anomaly_enabled()


def test_anomaly_names_the_backward_op():
    x = leaf([0.0, 4.0])
    with cr.detect_anomaly():
        y = cr.sqrt(x)  # finite forward
        assert np.isfinite(y.numpy()).all()
        with pytest.raises(FloatingPointError, match="backward of 'sqrt' produced NaN/Inf"):
            with np.errstate(divide="ignore"):
                y.sum().backward()
    assert x.grad is None


def test_anomaly_as_decorator():
    @cr.detect_anomaly()
    def f(t):
        assert cr.is_anomaly_enabled()
        return cr.log(t)

    with np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError, match="'log'"):
            f(leaf([-1.0]))
    assert not cr.is_anomaly_enabled()


def test_anomaly_is_off_by_default():
    assert not cr.is_anomaly_enabled()
    x = leaf([-1.0, 0.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        y = cr.log(x)
        assert np.isnan(y.numpy()[0])
        y.sum().backward()
    assert x.grad.numpy()[0] == -1.0 and np.isinf(x.grad.numpy()[1])


# ------------------------------------------------------------------ in-place detection
def test_in_place_data_update_is_detected():
    x = leaf([1.0, 2.0])
    y = x * x
    with cr.no_grad():
        x.data -= 1
    with pytest.raises(RuntimeError, match="'multiply' was modified in place"):
        y.sum().backward()
    assert x.grad is None


def test_data_reassignment_is_detected():
    x = leaf([1.0, 2.0])
    y = cr.exp(x)
    x.data = np.array([5.0, 6.0])
    with pytest.raises(RuntimeError, match="'exp' was modified in place"):
        y.sum().backward()


def test_output_data_reassignment_is_detected():
    x = leaf([1.0, 2.0])
    y = cr.exp(x)  # exp's rule uses its output
    y.data = np.zeros(2)
    with pytest.raises(RuntimeError, match="its output of 'exp' was modified in place"):
        y.backward(np.ones(2))
    z = cr.exp(x)
    s = z.sum()
    z.data = np.zeros(2)
    with pytest.raises(RuntimeError, match="input of shape \\(2,\\) of 'sum' was modified"):
        s.backward()


def test_without_modification_backward_is_fine_and_a_new_forward_is_fine():
    x = leaf([1.0, 2.0])
    y = x * x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    with cr.no_grad():
        x.data -= 1
    x.grad = None
    (x * x).sum().backward()  # recorded after the update
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0])


# ------------------------------------------------------------ errors leave no residue
def _all_gacc_clear(*tensors):
    return all(t._gacc is None for t in tensors)


def test_freed_graph_reached_mid_walk_changes_no_gradient():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    x.grad = np.array([10.0, 10.0])
    h = x * w
    h.sum().backward()  # frees h's node
    x.grad = np.array([10.0, 10.0])
    w.grad = None
    k = x * 2
    bad = (h + k + w).sum()
    with pytest.raises(RuntimeError, match="'multiply' a second time"):
        bad.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 10.0])
    assert w.grad is None
    assert _all_gacc_clear(x, w, h, k, bad)
    (x * x * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [16.0, 26.0])
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 4.0])


def _raising_primitive():
    name = "test_autodiff_raising_vjp"

    def vjp(xp, g, out, x):
        raise ValueError("broken rule")

    prim = define(name, (vjp,), "raises")
    return lambda t: apply(prim, lambda xp, x: x * 1.0, (t,))


_raising = _raising_primitive()


def test_a_rule_that_raises_changes_no_gradient():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    b = _raising(w)
    a = x * 2  # newer, so it runs first: x holds a gradient when the broken rule raises
    root = (a + b).sum()
    with pytest.raises(ValueError, match="broken rule"):
        root.backward()
    assert x.grad is None and w.grad is None
    assert _all_gacc_clear(x, w, a, b, root)
    (x * w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 2.0])


def test_a_rule_that_raises_leaves_no_pending_gradient_on_intermediates():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    a = cr.exp(x)
    b = _raising(w)  # newer than a: a waits with a pending gradient when b's rule raises
    root = (a + b).sum()
    with pytest.raises(ValueError, match="broken rule"):
        root.backward()
    assert _all_gacc_clear(x, w, a, b, root)
    (a * 1.0).sum().backward()  # a's own node was never run, so it can be walked now
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)


def test_a_rule_raising_for_its_second_argument_leaves_no_pending_gradient():
    def bad(xp, g, out, x, y):
        raise ArithmeticError("second argument")

    prim = define("test_autodiff_raising_second_vjp", (lambda xp, g, out, x, y: g, bad), "")
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    a = cr.exp(x)
    root = apply(prim, lambda xp, x, y: x + y, (a, w)).sum()
    with pytest.raises(ArithmeticError):
        root.backward()
    assert _all_gacc_clear(x, w, a, root)
    a.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-15)


def test_a_rule_returning_the_wrong_shape_changes_no_gradient():
    prim = define("test_autodiff_wrong_shape_vjp", (lambda xp, g, out, x: xp.ones((5, 7)),), "")
    x = leaf([1.0, 2.0])
    x.grad = np.array([1.0, 1.0])
    y = (apply(prim, lambda xp, x: x + 0.0, (x,)) + x).sum()
    with pytest.raises(ValueError):
        y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    assert x._gacc is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


def test_anomaly_error_in_backward_leaves_no_gradient_and_no_residue():
    x, w = leaf([0.0, 1.0]), leaf([1.0, 1.0])
    s = cr.sqrt(x)
    root = (s + w * 2).sum()
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        with pytest.raises(FloatingPointError, match="backward of 'sqrt'"):
            root.backward()
    assert x.grad is None and w.grad is None
    assert _all_gacc_clear(x, w, s, root)


# ----------------------------------------------------------------------- unbroadcast
@pytest.mark.parametrize(
    "gshape, shape",
    [((2, 3), (3,)), ((2, 3), (2, 1)), ((2, 3), (1, 3)), ((2, 3), ()), ((4, 2, 3), (2, 1)),
     ((2, 3), (2, 3)), ((1,), ()),
     # size-0 broadcast axes: the sum over nothing is zeros of the operand's shape
     ((0, 3), (1, 3)), ((2, 0, 3), (1, 3)), ((0, 3), (3,)), ((0,), ()), ((3, 0), (3, 1)),
     ((0,), (1,)), ((2, 0), (1, 1))],
)  # fmt: skip
def test_unbroadcast_sums_over_broadcast_axes(gshape, shape):
    g = np.arange(np.prod(gshape), dtype=np.float64).reshape(gshape)
    out = unbroadcast(g, shape)
    assert out.shape == shape
    # reference: the adjoint of broadcast_to, via a dot-product identity
    v = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_allclose(np.sum(out * v), np.sum(g * np.broadcast_to(v, gshape)))


def test_gradient_through_a_size_zero_broadcast_is_zeros_of_the_operands_shape():
    x = cr.tensor([[1.0, 2.0, 3.0]], dtype="float64", requires_grad=True)  # (1, 3)
    b = cr.tensor(2.0, dtype="float64", requires_grad=True)  # ()
    empty = cr.zeros(0, 3, dtype="float64")
    ((x + empty) * b).sum().backward()  # x and b are broadcast along a size-0 axis
    assert x.grad.shape == (1, 3) and b.grad.shape == ()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 3)))
    assert b.grad.item() == 0.0


def test_set_grad_enabled_as_a_plain_call_switches_at_once():
    try:
        cr.set_grad_enabled(False)
        assert not cr.is_grad_enabled()
        x = cr.ones(2, requires_grad=True)
        assert not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def f():
        return cr.is_grad_enabled()

    assert cr.is_grad_enabled() and f() is False and cr.is_grad_enabled()


# ------------------------------------------------------- the walk's fast path and its exits
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_implied_seed_is_one_of_the_outputs_dtype_and_never_handed_out(shape, dtype):
    x = cr.tensor(np.full(shape, 3.0, dtype), requires_grad=True)
    x.backward()  # the root is the leaf: its .grad is the seed itself, so it must be a copy
    assert x.grad.dtype == dtype and x.grad.shape == shape
    assert x.grad.numpy().flags.owndata and x.grad.numpy().flags.writeable
    x.grad.data[...] = 7.0
    x.grad = None
    (x * x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 6.0, dtype))


def test_unbroadcast_of_an_array_keeps_float32_and_sums_the_stretched_axes():
    g = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = unbroadcast(g, (3, 1))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, g.sum(axis=0).sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(unbroadcast(g, (4,)), g.sum(axis=(0, 1)))


def test_a_post_accumulate_hook_runs_once_its_last_consumer_has_run():
    first = leaf([1.0, 2.0])  # used by the first operation only: complete last
    last = leaf([3.0, 4.0])  # used by the last operation only: complete after the root's rule
    seen = []
    h1 = first.register_post_accumulate_grad_hook(lambda t: seen.append(("first", last.grad)))
    h2 = last.register_post_accumulate_grad_hook(lambda t: seen.append(("last", first.grad)))
    ((first * 2).tanh() * last).sum().backward()
    h1.remove()
    h2.remove()
    assert [name for name, _ in seen] == ["last", "first"]
    assert seen[0][1] is None  # when last's hook ran, first's gradient was not there yet
    np.testing.assert_array_equal(seen[1][1].numpy(), last.grad.numpy())
    np.testing.assert_allclose(last.grad.numpy(), np.tanh([2.0, 4.0]), rtol=1e-6)


def test_a_wrapped_deliver_receives_every_leaf(monkeypatch):
    """cr.compile wraps autodiff._deliver while it traces: the walk must then hand each leaf
    to the wrapper instead of taking its fast path."""
    from chainrule import autodiff

    original = autodiff._deliver
    delivered = []

    def wrapper(leaf_: cr.Tensor, create_graph: bool, handed_out: set[int]) -> None:
        delivered.append(leaf_)
        original(leaf_, create_graph, handed_out)

    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    monkeypatch.setattr(autodiff, "_deliver", wrapper)
    (a * b).sum().backward()
    assert len(delivered) == 2 and {id(t) for t in delivered} == {id(a), id(b)}
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])
