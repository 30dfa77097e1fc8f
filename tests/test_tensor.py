"""Tensor: creation, dtype rules, attributes, NumPy interoperability, operators."""

from __future__ import annotations

import copy
import pickle
import weakref

import numpy as np
import pytest

import chainrule as cr


@pytest.fixture
def float64_default():
    previous = cr.get_default_dtype()
    cr.set_default_dtype(np.float64)
    try:
        yield
    finally:
        cr.set_default_dtype(previous)


# --------------------------------------------------------------------------- creation
def test_tensor_copies_and_keeps_values():
    a = np.array([1.0, 2.0, 3.0])
    t = cr.tensor(a)
    assert t.data is not a
    a[0] = 100.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0, 3.0])
    assert t.dtype == np.float64
    assert not t.requires_grad and t.is_leaf and t.grad is None


def test_tensor_from_tensor_copies_into_a_new_leaf():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(TypeError, match=r"tensor: copying a Tensor that requires grad.*clone"):
        cr.tensor(y)  # it would silently drop y's gradient
    t = cr.tensor(y.detach())
    assert t.is_leaf and not t.requires_grad
    assert not np.shares_memory(t.data, y.data)
    np.testing.assert_array_equal(t.numpy(), [2.0, 4.0])


def test_tensor_dtype_and_requires_grad_arguments():
    t = cr.tensor([1, 2], dtype=np.float64, requires_grad=True)
    assert t.dtype == np.float64 and t.requires_grad
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    assert cr.tensor([1.7, 2.2], dtype="int64").tolist() == [1, 2]


def test_as_tensor_shares_memory_when_it_can():
    a = np.zeros(3, np.float32)
    assert cr.as_tensor(a).data is a
    assert cr.as_tensor(a, dtype=np.float32).data is a
    b = cr.as_tensor(a, dtype=np.float64)
    assert b.dtype == np.float64 and not np.shares_memory(b.data, a)
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    assert cr.as_tensor(t) is t
    assert cr.as_tensor(t, dtype=np.float32) is t
    converted = cr.as_tensor(t, dtype=np.float64)
    assert converted is not t and converted.dtype == np.float64
    np.testing.assert_array_equal(converted.numpy(), [1.0, 2.0])


def test_as_tensor_of_python_data_follows_dtype_rules():
    assert cr.as_tensor([1.0, 2.0]).dtype == np.float32
    assert cr.as_tensor([1, 2]).dtype == np.int64
    assert cr.as_tensor(np.float64(2.0)).shape == ()


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: cr.zeros(2, 3), (2, 3)),
        (lambda: cr.zeros((2, 3)), (2, 3)),
        (lambda: cr.zeros([4]), (4,)),
        (lambda: cr.zeros(), ()),
        (lambda: cr.ones(3), (3,)),
        (lambda: cr.empty(2, 2), (2, 2)),
    ],
)
def test_filled_constructors_shapes_and_default_dtype(make, shape):
    t = make()
    assert t.shape == shape and t.dtype == np.float32 and t.is_leaf and not t.requires_grad


def test_filled_constructor_values():
    np.testing.assert_array_equal(cr.zeros(2, 2).numpy(), np.zeros((2, 2)))
    np.testing.assert_array_equal(cr.ones(3).numpy(), np.ones(3))
    assert cr.zeros(2, dtype=np.float64).dtype == np.float64
    assert cr.ones(2, dtype=np.int64).tolist() == [1, 1]
    w = cr.zeros(2, 2, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_full():
    t = cr.full((2, 2), 2.5)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 2.5))
    assert cr.full(3, 7).dtype == np.int64 and cr.full(3, 7).tolist() == [7, 7, 7]
    assert cr.full(2, True).dtype == np.bool_
    assert cr.full((2,), 1, dtype=np.float64).dtype == np.float64
    assert cr.full((2,), 0.5, requires_grad=True).requires_grad


def test_like_constructors_take_shape_and_dtype():
    src = cr.tensor(np.arange(6, dtype=np.float64).reshape(2, 3))
    for make, value in ((cr.zeros_like, 0.0), (cr.ones_like, 1.0)):
        t = make(src)
        assert t.shape == (2, 3) and t.dtype == np.float64
        np.testing.assert_array_equal(t.numpy(), np.full((2, 3), value))
    f = cr.full_like(src, 4.5)
    assert f.dtype == np.float64
    np.testing.assert_array_equal(f.numpy(), np.full((2, 3), 4.5))
    assert cr.zeros_like(cr.tensor([1, 2])).dtype == np.int64
    assert cr.ones_like(np.zeros(2, np.float32), dtype=np.float64).dtype == np.float64
    assert cr.full_like(src, 1.0, dtype=np.float32).dtype == np.float32
    assert cr.zeros_like(src, requires_grad=True).requires_grad
    assert cr.ones_like(src).data is not src.data


def test_arange():
    assert cr.arange(3).tolist() == [0, 1, 2]
    assert cr.arange(3).dtype == np.int64
    assert cr.arange(1, 7, 2).tolist() == [1, 3, 5]
    f = cr.arange(0, 1, 0.25)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f.numpy(), [0.0, 0.25, 0.5, 0.75])
    assert cr.arange(3, dtype=np.float64).dtype == np.float64


def test_linspace_and_eye():
    t = cr.linspace(0, 1, 5)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), [0.0, 0.25, 0.5, 0.75, 1.0])
    assert cr.linspace(0, 1, 3, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(cr.eye(2).numpy(), np.eye(2))
    np.testing.assert_array_equal(cr.eye(2, 3).numpy(), np.eye(2, 3))
    assert cr.eye(2).dtype == np.float32
    assert cr.eye(2, dtype=np.float64).dtype == np.float64


def test_rand_and_randn_are_seedable():
    cr.random.seed(123)
    a, b = cr.rand(4), cr.randn(2, 3)
    cr.random.seed(123)
    np.testing.assert_array_equal(cr.rand(4).numpy(), a.numpy())
    np.testing.assert_array_equal(cr.randn(2, 3).numpy(), b.numpy())
    assert a.dtype == np.float32 and b.shape == (2, 3)
    assert ((a.numpy() >= 0) & (a.numpy() < 1)).all()
    assert cr.randn(2, dtype=np.float64).dtype == np.float64
    assert cr.randn(2, requires_grad=True).requires_grad


def test_rand_and_randn_take_a_generator_or_an_int():
    expected = np.random.default_rng(5).random(3)
    got = cr.rand(3, dtype=np.float64, generator=np.random.default_rng(5)).numpy()
    np.testing.assert_array_equal(got, expected)
    expected = np.random.default_rng(5).standard_normal((2, 2))
    np.testing.assert_array_equal(cr.randn(2, 2, dtype=np.float64, generator=5).numpy(), expected)
    # an int seed does not touch the global stream
    cr.random.seed(0)
    first = cr.rand(2).numpy()
    cr.random.seed(0)
    cr.rand(2, generator=99)
    np.testing.assert_array_equal(cr.rand(2).numpy(), first)
    with pytest.raises(TypeError, match="Generator"):
        cr.randn(2, generator="seed")


def test_random_state_round_trip():
    state = cr.random.get_state()
    a = cr.rand(3).numpy()
    cr.random.set_state(state)
    np.testing.assert_array_equal(cr.rand(3).numpy(), a)


@pytest.mark.parametrize("make", [cr.rand, cr.randn])
def test_random_samples_need_a_float_dtype(make):
    with pytest.raises(TypeError, match=make.__name__ + ".*floating dtype.*int64"):
        make(3, dtype=np.int64)


# ----------------------------------------------------------------------------- dtypes
def test_arrays_keep_their_dtype():
    for dt in (np.float16, np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_):
        assert cr.tensor(np.zeros(2, dt)).dtype == dt
    assert cr.tensor(np.float64(1.0)).dtype == np.float64
    assert cr.tensor(np.float32(1.0)).dtype == np.float32


def test_python_data_dtypes():
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor((1.0, 2.0)).dtype == np.float32
    assert cr.tensor([[1, 2.5]]).dtype == np.float32
    assert cr.tensor(3).dtype == np.int64
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor(True).dtype == np.bool_
    assert cr.tensor([True, False]).dtype == np.bool_
    assert cr.tensor(1.5).shape == ()


def test_set_default_dtype(float64_default):
    assert cr.get_default_dtype() == np.float64
    assert cr.tensor(1.5).dtype == np.float64
    assert cr.tensor([1.0, 2.0]).dtype == np.float64
    assert cr.zeros(2).dtype == np.float64
    assert cr.randn(2).dtype == np.float64
    assert cr.arange(0.0, 1.0, 0.5).dtype == np.float64
    assert cr.tensor([1, 2]).dtype == np.int64  # ints stay ints
    assert cr.tensor(np.zeros(1, np.float32)).dtype == np.float32  # arrays keep theirs


def test_set_default_dtype_restores_and_rejects():
    previous = cr.get_default_dtype()
    try:
        cr.set_default_dtype("float64")
        assert cr.tensor([1.0]).dtype == np.float64
    finally:
        cr.set_default_dtype(previous)
    assert cr.tensor([1.0]).dtype == np.float32
    with pytest.raises(TypeError, match="set_default_dtype.*floating.*int64"):
        cr.set_default_dtype(np.int64)
    with pytest.raises(TypeError, match="set_default_dtype.*unknown dtype 'foo'"):
        cr.set_default_dtype("foo")
    assert cr.get_default_dtype() == previous


@pytest.mark.parametrize(
    "make, op",
    [
        (lambda: cr.tensor([1, 2], requires_grad=True), "tensor"),
        (lambda: cr.tensor([True], requires_grad=True), "tensor"),
        (lambda: cr.zeros(2, dtype=np.int64, requires_grad=True), "zeros"),
        (lambda: cr.arange(3, requires_grad=True), "arange"),
        (lambda: cr.full((2,), 1, requires_grad=True), "full"),
        (lambda: cr.Tensor(np.array([1]), requires_grad=True), "Tensor"),
    ],
)
def test_integer_and_bool_tensors_cannot_require_grad(make, op):
    with pytest.raises(TypeError, match=rf"{op}: only floating-point .* dtype (int64|bool)"):
        make()


def test_requires_grad_setter_rejects_integer_and_bool():
    for t, dt in ((cr.tensor([1, 2]), "int64"), (cr.tensor([True]), "bool")):
        with pytest.raises(TypeError, match=f"requires_grad: .*dtype {dt}"):
            t.requires_grad = True
        assert not t.requires_grad
        with pytest.raises(TypeError, match="requires_grad"):
            t.requires_grad_()


def test_astype_to_int_never_requires_grad():
    x = cr.tensor([1.5, 2.5], requires_grad=True)
    i = x.astype(np.int64)
    assert i.dtype == np.int64 and not i.requires_grad
    assert i.tolist() == [1, 2]


@pytest.mark.parametrize(
    "call, op",
    [
        (lambda: cr.tensor([1.0], dtype="foo"), "tensor"),
        (lambda: cr.tensor([1.0], dtype=object), "tensor"),
        (lambda: cr.tensor([1.0], dtype=complex), "tensor"),
        (lambda: cr.tensor([1.0], dtype=str), "tensor"),
        (lambda: cr.tensor([1j]), "tensor"),
        (lambda: cr.tensor(["a", "b"]), "tensor"),
        (lambda: cr.tensor(np.array([object()])), "tensor"),
        (lambda: cr.tensor([[1.0], [2.0, 3.0]]), "tensor"),
        (lambda: cr.as_tensor([1.0], dtype="foo"), "as_tensor"),
        (lambda: cr.as_tensor(np.array(["x"])), "as_tensor"),
        (lambda: cr.zeros(2, dtype="foo"), "zeros"),
        (lambda: cr.ones(2, dtype=complex), "ones"),
        (lambda: cr.full((2,), 1.0, dtype=object), "full"),
        (lambda: cr.arange(3, dtype="foo"), "arange"),
        (lambda: cr.eye(2, dtype=complex), "eye"),
        (lambda: cr.zeros_like(cr.zeros(2), dtype="foo"), "zeros_like"),
        (lambda: cr.randn(2, dtype="foo"), "randn"),
        (lambda: cr.tensor([1.0]).astype("foo"), "astype"),
        (lambda: cr.tensor([1.0]).astype(complex), "astype"),
    ],
)
def test_unknown_dtypes_are_a_type_error_naming_the_op(call, op):
    with pytest.raises(TypeError, match=rf"^{op}: "):
        call()


def test_mixed_float_dtypes_follow_numpy_promotion():
    a = cr.tensor(np.ones(2, np.float32))
    b = cr.tensor(np.ones(2, np.float64))
    assert (a + b).dtype == np.float64
    assert (a * b).dtype == (np.ones(2, np.float32) * np.ones(2)).dtype
    assert (a * 1.5).dtype == np.float32
    assert (1.5 * a).dtype == np.float32
    assert (a / 3).dtype == np.float32
    assert (a**2).dtype == np.float32
    assert (cr.tensor(np.ones(2, np.float16)) + a).dtype == np.float32


def test_python_scalars_are_weak_and_not_rounded_through_float32():
    x64 = np.array([1.0, 3.0, 1e10])
    x = cr.tensor(x64, requires_grad=True)
    np.testing.assert_array_equal((x * 1.000001).numpy(), x64 * 1.000001)
    np.testing.assert_array_equal((x + 0.1).numpy(), x64 + 0.1)
    np.testing.assert_array_equal((1.000001 * x).numpy(), 1.000001 * x64)
    assert not np.array_equal(x64 * np.float32(1.000001), x64 * 1.000001)  # the test has teeth


# ------------------------------------------------------------------------- attributes
def test_array_attributes():
    t = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert type(t.data) is np.ndarray
    assert t.numpy() is t.data
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert cr.tensor(2.5).tolist() == 2.5
    assert cr.tensor([[2.5]]).item() == 2.5
    assert isinstance(cr.tensor([3]).item(), int)
    with pytest.raises(ValueError, match=r"item: .*one-element.*\(2, 3\)"):
        t.item()
    assert float(cr.tensor(1.5)) == 1.5 and int(cr.tensor(4)) == 4


def test_data_is_assignable():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    t.data = np.array([5.0, 6.0], np.float32)
    np.testing.assert_array_equal(t.numpy(), [5.0, 6.0])
    t.data = cr.tensor([7.0, 8.0])
    assert type(t.data) is np.ndarray
    np.testing.assert_array_equal(t.numpy(), [7.0, 8.0])
    with pytest.raises(TypeError, match="data assignment: only floating-point"):
        t.data = np.array([1, 2])
    np.testing.assert_array_equal(t.numpy(), [7.0, 8.0])


def test_sgd_step_on_data_with_ndarray_and_with_tensor_gradient():
    p = cr.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()  # grad = 2p
    storage = p.data
    with cr.no_grad():
        p.data -= 0.25 * p.grad.numpy()
    np.testing.assert_allclose(p.numpy(), [0.5, 1.0])
    with cr.no_grad():
        p.data -= 0.25 * p.grad  # a Tensor: NumPy's in-place update must accept it
    np.testing.assert_allclose(p.numpy(), [0.0, 0.0])
    assert p.data is storage and type(p.data) is np.ndarray  # updated in place
    assert p.requires_grad and p.is_leaf


def test_grad_attribute():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad is None
    x.grad = np.array([3.0, 4.0], np.float32)
    assert isinstance(x.grad, cr.Tensor)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    (x * 2).sum().backward()  # accumulates onto the assigned gradient
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 6.0])
    x.grad = None
    assert x.grad is None
    with pytest.raises(ValueError, match=r"grad assignment: .*\(3,\).*\(2,\)"):
        x.grad = np.zeros(3)
    assert x.grad is None


def test_requires_grad_and_leaves():
    x = cr.tensor([1.0, 2.0])
    assert not x.requires_grad and x.is_leaf
    x.requires_grad = True
    assert x.requires_grad
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name == "multiply"
    with pytest.raises(RuntimeError, match="requires_grad: .*leaf.*'multiply'.*detach"):
        y.requires_grad = False
    assert y.requires_grad
    assert x.requires_grad_(False) is x and not x.requires_grad
    assert cr.zeros(2).requires_grad_().requires_grad


def test_detach_shares_data_and_leaves_the_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert d.data is y.data
    z = (d * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])  # d is a constant


def test_astype_is_differentiable_and_casts_the_gradient_back():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn.name == "astype"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_numpy_conversion():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    a = np.asarray(t)
    assert type(a) is np.ndarray and a is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    c = np.array(t)
    assert not np.shares_memory(c, t.data)
    np.testing.assert_array_equal(c, [1.0, 2.0])


def test_repr_shows_values_and_graph_information():
    x = cr.tensor([1.0, 2.5], requires_grad=True)
    assert repr(x) == "tensor([1. , 2.5], requires_grad=True)"
    assert repr(x * 2) == "tensor([2., 5.], grad_fn=<multiply>)"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor(np.array([0.5]))) == "tensor([0.5], dtype=float64)"
    assert "grad_fn=<exp>" in repr(cr.exp(x))


def test_weakref():
    t = cr.tensor([1.0])
    r = weakref.ref(t)
    assert r() is t
    del t
    assert r() is None


@pytest.mark.parametrize("roundtrip", [lambda t: pickle.loads(pickle.dumps(t)), copy.deepcopy])
def test_pickle_and_deepcopy_of_a_leaf(roundtrip):
    t = cr.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    t.grad = np.array([[0.5, 0.25]])
    u = roundtrip(t)
    assert u is not t and isinstance(u, cr.Tensor)
    assert u.requires_grad and u.is_leaf and u.dtype == np.float64
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    assert not np.shares_memory(u.data, t.data)
    np.testing.assert_array_equal(u.grad.numpy(), [[0.5, 0.25]])
    (u * u).sum().backward()  # the copy is a working leaf
    np.testing.assert_array_equal(u.grad.numpy(), [[2.5, 4.25]])
    np.testing.assert_array_equal(t.grad.numpy(), [[0.5, 0.25]])


# ------------------------------------------------------------------------- operators
_NUMPY_OPS = {
    "+": (lambda a, b: a + b, lambda a, b: (np.ones_like(a), np.ones_like(b))),
    "-": (lambda a, b: a - b, lambda a, b: (np.ones_like(a), -np.ones_like(b))),
    "*": (lambda a, b: a * b, lambda a, b: (b, a)),
    "/": (lambda a, b: a / b, lambda a, b: (1 / b, -a / b**2)),
    "**": (lambda a, b: a**b, lambda a, b: (b * a ** (b - 1), a**b * np.log(a))),
}


@pytest.mark.parametrize("op", list(_NUMPY_OPS))
def test_ndarray_on_the_left_gives_a_tensor(op):
    f, d = _NUMPY_OPS[op]
    a = np.array([1.5, 2.0, 3.0])
    bv = np.array([0.5, 1.5, 2.5])
    b = cr.tensor(bv, requires_grad=True)
    out = f(a, b)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.numpy(), f(a, bv), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), d(a, bv)[1], rtol=1e-13)


@pytest.mark.parametrize("op", list(_NUMPY_OPS))
def test_python_number_on_the_left_gives_a_tensor(op):
    f, d = _NUMPY_OPS[op]
    bv = np.array([0.5, 1.5, 2.5])
    b = cr.tensor(bv, requires_grad=True)
    out = f(2.0, b)
    assert isinstance(out, cr.Tensor) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), f(2.0, bv), rtol=1e-15)
    out.sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), d(np.full(3, 2.0), bv)[1], rtol=1e-13)


@pytest.mark.parametrize("op", list(_NUMPY_OPS))
def test_tensor_on_the_left_of_ndarray_and_number(op):
    f, d = _NUMPY_OPS[op]
    av = np.array([1.5, 2.0, 3.0])
    for other in (np.array([0.5, 1.5, 2.5]), 3.0, 2):
        a = cr.tensor(av, requires_grad=True)
        out = f(a, other)
        np.testing.assert_allclose(out.numpy(), f(av, other), rtol=1e-15)
        out.sum().backward()
        ob = np.broadcast_to(np.asarray(other, np.float64), av.shape)
        np.testing.assert_allclose(a.grad.numpy(), d(av, ob)[0], rtol=1e-13)


def test_numpy_scalars_and_ufuncs_defer_to_tensor():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(np.float32(2) * x, cr.Tensor)
    assert (np.float32(2) * x).dtype == np.float32
    assert (np.float64(2) * x).dtype == np.float64  # NumPy 2: a NumPy scalar is not weak
    e = np.exp(x)
    assert isinstance(e, cr.Tensor) and e.grad_fn.name == "exp"
    c = np.ones(2) < x
    assert isinstance(c, cr.Tensor) and c.tolist() == [False, True]


def test_in_place_numpy_update_with_a_tensor_operand():
    a = np.ones(2)
    a += cr.tensor([1.0, 2.0])
    np.testing.assert_array_equal(a, [2.0, 3.0])
    a *= cr.tensor([2.0, 0.5])
    np.testing.assert_array_equal(a, [4.0, 1.5])


def test_unary_operators():
    x = cr.tensor([-1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal((-x).numpy(), [1.0, -2.0])
    assert +x is x
    np.testing.assert_array_equal(abs(x).numpy(), [1.0, 2.0])
    (-x + abs(x)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-2.0, 0.0])


def test_comparison_operators_return_bool_tensors():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result, expected in (
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
        ((x > 1) & (x < 3), [False, True, False]),
        ((x < 2) | (x > 2), [True, False, True]),
        (~(x > 1), [True, False, False]),
    ):
        assert result.dtype == np.bool_ and not result.requires_grad
        assert result.tolist() == expected


def test_tensor_is_hashable_by_identity():
    a, b = cr.tensor([1.0]), cr.tensor([1.0])
    assert len({a, b}) == 2
    assert {a: 1}[a] == 1


def test_grad_assignment_checks_dtype():
    t = cr.zeros(2, dtype=np.float32, requires_grad=True)
    with pytest.raises(ValueError, match=r"grad assignment: .*float64.*float32"):
        t.grad = np.zeros(2)
    assert t.grad is None


def test_as_tensor_with_a_new_dtype_stays_in_the_graph():
    x = cr.tensor([1.0, 2.0], dtype=np.float32, requires_grad=True)
    y = cr.as_tensor(x, dtype=np.float64)
    assert y.dtype == np.float64 and y.requires_grad and y.grad_fn.name == "astype"
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
