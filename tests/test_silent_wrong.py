"""Regression tests for answers that used to be silently wrong (issue 9).

Lists holding Tensors, tensor factories given Tensors, in-place arithmetic, bitwise operators
and PyTorch's ``max(dim)``: each either gives PyTorch's / NumPy's answer or raises.
"""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import gradcheck, gradgradcheck


# ------------------------------------------------------------ lists and tuples of tensors
def test_mean_and_sum_of_a_list_of_tensors_are_differentiable():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.mean([x, x + 2])
    y.backward()
    assert y.item() == pytest.approx(2.5)
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5])  # was [0, 0]: the list was detached
    x.grad = None
    cr.sum([x, 3 * x]).backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])
    x.grad = None
    cr.sum((x, 3 * x), axis=0).sum().backward()  # a tuple, with an axis
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 4.0])


def test_nested_lists_with_numbers_stack_in_the_tensors_dtype():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = cr.exp([[x, [0.0, 1.0]], [x * x, x]])
    assert y.shape == (2, 2, 2) and y.dtype == np.float64
    np.testing.assert_allclose(y.numpy()[0, 1], np.exp([0.0, 1.0]))
    y.sum().backward()
    a = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(a) * 2 + 2 * a * np.exp(a * a))
    f32 = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.sum([f32, [1, 2]]).dtype == np.float32  # ints beside float32 do not promote
    with cr.no_grad():  # float64 tensors in a list stay float64 without recording too
        assert cr.exp([x, x]).dtype == np.float64 and cr.tensor([x, x]).dtype == np.float64


def test_list_operands_of_binary_ops_and_matmul():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    (x * [x, x]).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])
    x.grad = None
    ([x, x] - x).sum().backward()  # reflected: a list on the left
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0])
    x.grad = None
    cr.maximum([x, 2 * x], 1.5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 3.0])
    # An entry point that does not stack lists refuses rather than detaching.
    with pytest.raises(TypeError, match=r"holds a Tensor that requires grad.*cr.stack"):
        cr.matmul([x, 2 * x], x)
    cr.matmul(cr.stack([x, 2 * x]), x).sum().backward()


def test_list_gradients_match_finite_differences():
    a = np.array([0.3, -1.2, 0.7])
    b = np.array([1.1, 0.4, -0.5])
    gradcheck(lambda x, y: cr.mean([x, x * y, [1.0, 2.0, 3.0]], axis=0), a, b)
    gradgradcheck(lambda x, y: cr.sum([x * x, x * y]) * cr.sum([x, y]), a, b)
    gradcheck(lambda x, y: cr.tanh([[x, y], [y, x]]), a, b)


def test_lists_that_cannot_stack_or_convert_raise():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"exp: the list of tensors cannot be stacked"):
        cr.exp([x, cr.ones(3)])
    with pytest.raises(TypeError, match=r"tensor: the list holds a Tensor that requires grad"):
        cr.tensor([x, x])
    with pytest.raises(TypeError, match=r"as_tensor: the list holds a Tensor that requires grad"):
        cr.as_tensor([x])


def test_lists_of_constants_and_no_grad_are_unchanged():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([1.0, 2.0])
    np.testing.assert_allclose(cr.mean([c, c + 2]).numpy(), 2.5)
    assert not cr.mean([c, c + 2]).requires_grad
    with cr.no_grad():
        t = cr.tensor([x, x])  # nothing is recorded, so nothing is dropped
        m = cr.mean([x, 2 * x])
    np.testing.assert_allclose(t.numpy(), [[1.0, 2.0], [1.0, 2.0]])
    assert not m.requires_grad and m.item() == pytest.approx(2.25)
    assert cr.tensor([x.detach(), [1.0, 2.0]]).shape == (2, 2)


# ------------------------------------------------------------------- tensor factories
def test_linspace_is_differentiable_in_its_ends():
    a = cr.tensor(1.0, dtype=np.float64, requires_grad=True)
    b = cr.tensor([3.0], dtype=np.float64, requires_grad=True)  # one element is accepted
    y = cr.linspace(a, b, 5)
    np.testing.assert_allclose(y.numpy(), np.linspace(1.0, 3.0, 5))
    assert y.dtype == np.float64 and y.requires_grad
    g = np.arange(5.0)
    y.backward(g)
    w = np.linspace(0, 1, 5)
    assert a.grad.item() == pytest.approx(np.sum(g * (1 - w)))
    np.testing.assert_allclose(b.grad.numpy(), [np.sum(g * w)])
    gradcheck(lambda s, t: cr.linspace(s, t, 4), np.array(0.5), np.array(-2.0))
    gradgradcheck(lambda s, t: cr.linspace(s, t, 4) ** 2, np.array(0.5), np.array(-2.0))
    c = cr.tensor(2.0, requires_grad=True)
    assert cr.linspace(c, 4, 3).dtype == np.float32
    with pytest.raises(ValueError, match=r"linspace: expected a number or a one-element"):
        cr.linspace(cr.ones(2, requires_grad=True), 1.0, 3)


def test_full_is_differentiable_in_its_fill_value():
    v = cr.tensor(2.0, dtype=np.float64, requires_grad=True)
    y = cr.full((2, 3), v)
    np.testing.assert_array_equal(y.numpy(), np.full((2, 3), 2.0))
    y.backward(np.arange(6.0).reshape(2, 3))
    assert v.grad.item() == 15.0
    gradcheck(lambda s: cr.full((3,), s) * cr.tensor([1.0, 2.0, 3.0], dtype=np.float64),
              np.array(0.7))  # fmt: skip
    assert cr.full(2, v, dtype=np.float32).dtype == np.float32
    v.grad = None
    cr.full_like(cr.zeros(2, dtype=np.float64), v).sum().backward()  # was detached
    assert v.grad.item() == 2.0


def test_arange_and_tensor_refuse_tensors_that_require_grad():
    n = cr.tensor(3.0, requires_grad=True)
    with pytest.raises(TypeError, match=r"arange: .* no gradient"):
        cr.arange(n)
    with pytest.raises(TypeError, match=r"tensor: copying a Tensor that requires grad"):
        cr.tensor(n * 2)
    assert cr.arange(n.detach().item()).tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_array_equal(cr.tensor(n.detach()).numpy(), 3.0)


# ------------------------------------------------------------------ in-place arithmetic
def test_parameter_update_under_no_grad_is_in_place():
    cr.random.seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 2), cr.nn.Tanh(), cr.nn.Linear(2, 1))
    before = [p.numpy().copy() for p in model.parameters()]
    ids = [id(p) for p in model.parameters()]
    model(cr.ones(4, 3)).sum().backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    with cr.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad  # used to rebind the loop variable and leave the model unchanged
    for p, b, g, i in zip(model.parameters(), before, grads, ids, strict=True):
        assert id(p) == i
        np.testing.assert_allclose(p.numpy(), b - 0.1 * g, rtol=1e-6)
    w = model[0].weight
    data = w.data
    with cr.no_grad():
        w += 1.0
        w *= 2.0
        w /= 4.0
    assert w.data is data  # the same array, written in place
    np.testing.assert_allclose(w.numpy(), (before[0] - 0.1 * grads[0] + 1.0) / 2.0, rtol=1e-6)


def test_in_place_on_a_leaf_that_requires_grad_raises_outside_no_grad():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"-=: a leaf tensor that requires grad .*no_grad"):
        p -= 1.0
    with pytest.raises(RuntimeError, match=r"add_: a leaf tensor"):
        p.add_(1.0)
    np.testing.assert_array_equal(p.numpy(), [1.0, 2.0])  # nothing changed


def test_in_place_after_use_in_a_recorded_graph_raises_at_backward():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (p * p).sum()
    with cr.no_grad():
        p -= 1.0
    with pytest.raises(RuntimeError, match=r"modified in place"):
        loss.backward()
    y = p * 2
    z = y * y  # saves y
    y += 1.0  # y becomes y + 1; z's saved y is stale
    with pytest.raises(RuntimeError, match=r"modified in place"):
        z.sum().backward()


def test_in_place_on_a_recorded_tensor_records_the_update():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = x * 2
    alias = y
    y += x * x
    assert alias is y and y.requires_grad
    np.testing.assert_allclose(y.numpy(), [3.0, 8.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 + 2 * x.numpy())
    c = cr.zeros(2, dtype=np.float64)  # a constant updated with a recorded operand
    c += x
    c *= x
    assert c.requires_grad
    x.grad = None
    c.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())

    def f(a: cr.Tensor, b: cr.Tensor) -> cr.Tensor:
        out = a * b
        out -= b
        out /= a + 3
        out **= 2
        return out

    gradcheck(f, np.array([0.5, 1.5]), np.array([2.0, -1.0]))
    gradgradcheck(f, np.array([0.5, 1.5]), np.array([2.0, -1.0]))


def test_in_place_on_constants_keeps_shape_and_dtype():
    a = cr.tensor([1, 2])
    b = a
    a += 1
    assert b is a and a.tolist() == [2, 3] and a.dtype == np.int64
    with pytest.raises(TypeError, match=r"\+=: cannot update a tensor of shape \(2,\) and dtype "
                                        r"int64 in place"):  # fmt: skip
        a += 0.5
    f = cr.ones(3)
    f += np.ones(3)  # float64 operand: float32 stays float32
    assert f.dtype == np.float32 and f.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match=r"-=: cannot update a tensor of shape \(3,\)"):
        f -= cr.ones((2, 3))
    y = cr.ones(3, requires_grad=True) * 1
    with pytest.raises(ValueError, match=r"\*=: the result has shape \(2, 3\)"):
        y *= cr.ones((2, 3))


def test_in_place_methods():
    t = cr.tensor([1.0, -2.0, 3.0])
    assert t.add_(1.0, alpha=2).tolist() == [3.0, 0.0, 5.0]
    assert t.sub_(cr.ones(3)).tolist() == [2.0, -1.0, 4.0]
    assert t.mul_(2).tolist() == [4.0, -2.0, 8.0]
    assert t.div_(2).tolist() == [2.0, -1.0, 4.0]
    assert t.clamp_(-0.5, 3).tolist() == [2.0, -0.5, 3.0]
    assert t.clamp_(max=1).tolist() == [1.0, -0.5, 1.0]
    assert t.fill_(cr.tensor(7.0)).tolist() == [7.0, 7.0, 7.0]
    assert t.zero_() is t and t.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match=r"clamp_: at least one"):
        t.clamp_()
    x = cr.tensor([0.5, 2.0], dtype=np.float64, requires_grad=True)
    y = x * 1
    y.clamp_(0, 1)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])


def test_tensor_constructor_refuses_a_grad_tensor_too():
    x = cr.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(TypeError, match=r"Tensor: copying a Tensor that requires grad"):
        cr.Tensor(x)
    assert cr.Tensor(x.detach()).tolist() == [2.0]


def test_more_in_place_operators():
    i = cr.tensor([7, 10])
    alias = i
    i //= 2
    i %= 3
    assert alias is i and i.tolist() == [0, 2]
    m = cr.tensor([True, False, True])
    m &= cr.tensor([True, True, False])
    m |= cr.tensor([False, True, False])
    m ^= cr.tensor([True, False, False])
    assert m.tolist() == [False, True, False]
    b = cr.tensor([12, 10])
    b &= 6
    assert b.tolist() == [4, 2]
    with pytest.raises(TypeError, match=r"&=: cannot update a tensor of shape \(2,\) and dtype "
                                        r"float32"):  # fmt: skip
        f = cr.ones(2)
        f &= 1
    x = cr.tensor([2.5, -1.5], dtype=np.float64, requires_grad=True)
    y = x * 3
    y //= 2  # recorded: floor_divide's gradient
    assert y.tolist() == [3.0, -3.0] and y.requires_grad


def test_shape_ops_stack_lists_of_tensors():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = cr.reshape([x, 2 * x], (4,))
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0, 2.0, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    cr.concatenate([[x, x], cr.ones((1, 2), dtype=np.float64)]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    gradcheck(lambda a: cr.reshape([a, a * a], (4, 1)), np.array([0.5, -1.0]))
