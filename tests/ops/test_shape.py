"""Shape primitives: forward against NumPy, gradients against finite differences (float64),
closed forms and np.add.at, second derivatives, Hypothesis shapes, error messages, dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.backend import numpy_namespace
from chainrule.ops import shape as shape_ops
from chainrule.testing import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)
FAST = settings(max_examples=30, deadline=None)


def arr(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def grads(f, *arrays, create_graph=False):
    """Gradients of sum(u * f(*xs)) for a fixed random u, via Tensor.backward."""
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = f(*xs)
    u = np.random.default_rng(1).standard_normal(out.shape)
    (out * u).sum().backward(create_graph=create_graph)
    return [np.zeros_like(a) if x.grad is None else x.grad.numpy() for a, x in zip(arrays, xs)]


def check(f, *arrays):
    """Gradcheck ``f``; gradgradcheck ``f**2`` (a linear op's own second derivative is zero, so
    squaring makes its rule's create_graph form matter); and check that the create_graph
    gradient has the same values as the ordinary one (gradgradcheck alone cannot see that)."""
    assert gradcheck(f, *arrays)
    sq = lambda *xs: f(*xs) ** 2
    assert gradgradcheck(sq, *arrays)
    for plain, graph in zip(grads(sq, *arrays), grads(sq, *arrays, create_graph=True)):
        np.testing.assert_allclose(graph, plain, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------- reshape & co
@pytest.mark.parametrize(("shape", "new"), [((2, 3), (3, 2)), ((2, 3), (-1,)), ((6,), (1, 2, 3)),
                                            ((), (1, 1)), ((1, 1), ())])
def test_reshape(shape, new):
    a = arr(*shape)
    np.testing.assert_array_equal(cr.reshape(cr.tensor(a), new).numpy(), a.reshape(new))
    np.testing.assert_array_equal(cr.tensor(a).reshape(new).numpy(), a.reshape(new))
    check(lambda t: cr.reshape(t, new), a)


def test_reshape_method_takes_varargs_or_tuple():
    x = cr.tensor(arr(2, 3))
    assert x.reshape(3, 2).shape == x.reshape((3, 2)).shape == x.reshape([3, 2]).shape == (3, 2)
    assert x.reshape(-1).shape == (6,)


def test_broadcast_to_and_expand_dims():
    a = arr(3, 1)
    np.testing.assert_array_equal(cr.broadcast_to(cr.tensor(a), (2, 3, 4)).numpy(),
                                  np.broadcast_to(a, (2, 3, 4)))
    check(lambda t: cr.broadcast_to(t, (2, 3, 4)), a)
    np.testing.assert_array_equal(cr.expand_dims(cr.tensor(a), (0, 3)).numpy(),
                                  np.expand_dims(a, (0, 3)))
    check(lambda t: cr.expand_dims(t, -1), a)


@pytest.mark.parametrize(("shape", "axis"), [((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), -1),
                                             ((1, 3, 1), (0, 2)), ((), None), ((1,), 0)])
def test_squeeze(shape, axis):
    a = arr(*shape)
    np.testing.assert_array_equal(cr.squeeze(cr.tensor(a), axis).numpy(), np.squeeze(a, axis))
    np.testing.assert_array_equal(cr.tensor(a).squeeze(axis).numpy(), np.squeeze(a, axis))
    check(lambda t: cr.squeeze(t, axis), a)


# ------------------------------------------------------------ transpose, permute, swapaxes
@pytest.mark.parametrize("axes", [None, (0, 1, 2), (2, 0, 1), (1, 2, 0), (-1, 0, 1)])
def test_transpose(axes):
    a = arr(2, 3, 2)
    np.testing.assert_array_equal(cr.transpose(cr.tensor(a), axes).numpy(),
                                  np.transpose(a, axes))
    check(lambda t: cr.transpose(t, axes), a)


def test_transpose_method_forms_and_T():
    a = arr(2, 3, 4)
    x = cr.tensor(a)
    np.testing.assert_array_equal(x.transpose().numpy(), a.transpose())
    np.testing.assert_array_equal(x.transpose(None).numpy(), a.transpose())
    np.testing.assert_array_equal(x.transpose(1, 2, 0).numpy(), a.transpose(1, 2, 0))
    np.testing.assert_array_equal(x.transpose((1, 2, 0)).numpy(), a.transpose((1, 2, 0)))
    np.testing.assert_array_equal(x.transpose([1, 2, 0]).numpy(), a.transpose([1, 2, 0]))
    np.testing.assert_array_equal(x.T.numpy(), a.T)
    np.testing.assert_array_equal(cr.tensor(arr(3)).T.numpy().shape, (3,))
    b = arr(2, 3)
    check(lambda t: t.T, b)
    check(lambda t: t.transpose(1, 0), b)


def test_permute():
    a = arr(2, 3, 4)
    x = cr.tensor(a)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.permute((2, 0, 1)).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(cr.permute(x, 2, 0, 1).numpy(), a.transpose(2, 0, 1))
    check(lambda t: cr.permute(t, 1, 2, 0), arr(2, 1, 3))


@pytest.mark.parametrize(("a1", "a2"), [(0, 1), (0, -1), (1, 1), (2, 0)])
def test_swapaxes(a1, a2):
    a = arr(2, 3, 2)
    np.testing.assert_array_equal(cr.swapaxes(cr.tensor(a), a1, a2).numpy(),
                                  np.swapaxes(a, a1, a2))
    np.testing.assert_array_equal(cr.tensor(a).swapaxes(a1, a2).numpy(), np.swapaxes(a, a1, a2))
    check(lambda t: cr.swapaxes(t, a1, a2), a)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_flip(axis):
    a = arr(3, 2)
    np.testing.assert_array_equal(cr.flip(cr.tensor(a), axis).numpy(), np.flip(a, axis))
    np.testing.assert_array_equal(cr.tensor(a).flip(axis).numpy(), np.flip(a, axis))
    check(lambda t: cr.flip(t, axis), a)


def test_flip_0d():
    a = np.array(1.5)
    np.testing.assert_array_equal(cr.flip(cr.tensor(a)).numpy(), np.flip(a))
    check(cr.flip, a)


# --------------------------------------------------------------------- concatenate, stack
@pytest.mark.parametrize(("shapes", "axis"), [([(2, 3), (1, 3)], 0), ([(2, 1), (2, 3)], 1),
                                              ([(2, 1), (2, 2), (2, 1)], -1), ([(3,)], 0),
                                              ([(2, 0), (2, 2)], 1)])
def test_concatenate(shapes, axis):
    arrays = [arr(*s) for s in shapes]
    out = cr.concatenate([cr.tensor(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    check(lambda *ts: cr.concatenate(ts, axis=axis), *arrays)


def test_concatenate_with_constants_and_closed_form_gradient():
    a, b = arr(2, 2), arr(1, 2)
    x = cr.tensor(a, requires_grad=True)
    out = cr.concatenate((b, x, [[1.0, 2.0]]))  # an array, a tensor, a list
    np.testing.assert_array_equal(out.numpy(), np.concatenate([b, a, [[1.0, 2.0]]]))
    w = arr(4, 2)
    out.backward(w)
    np.testing.assert_array_equal(x.grad.numpy(), w[1:3])


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack(axis):
    arrays = [arr(2, 2), arr(2, 2), arr(2, 2)]
    out = cr.stack([cr.tensor(a) for a in arrays], axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.stack(arrays, axis=axis))
    check(lambda *ts: cr.stack(ts, axis=axis), *arrays)


def test_stack_0d():
    arrays = [np.array(1.0), np.array(2.0)]
    np.testing.assert_array_equal(cr.stack(arrays).numpy(), [1.0, 2.0])
    check(lambda a, b: cr.stack([a, b]), *arrays)


# ------------------------------------------------------------------------------ split
@pytest.mark.parametrize(("shape", "ios", "axis"), [((6,), 3, 0), ((2, 6), [1, 4], 1),
                                                    ((4, 2), [3, 1], 0), ((4, 2), [-1], 0),
                                                    ((3, 2), 1, -1), ((5,), [0, 5], 0)])
def test_split(shape, ios, axis):
    a = arr(*shape)
    pieces = cr.split(cr.tensor(a), ios, axis=axis)
    expected = np.split(a, ios, axis=axis)
    assert isinstance(pieces, list) and len(pieces) == len(expected)
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(p.numpy(), e)
    check(lambda t: cr.concatenate(cr.split(t, ios, axis=axis), axis=axis), a)


def test_split_unused_pieces_get_zero_gradient():
    a = arr(6, 2)
    x = cr.tensor(a, requires_grad=True)
    first, middle, last = cr.split(x, 3)
    ((middle * middle).sum() + first.sum()).backward()
    expected = np.zeros_like(a)
    expected[2:4] = 2 * a[2:4]
    expected[0:2] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    check(lambda t: cr.split(t, [1, 3], axis=1)[1], arr(2, 4))


# -------------------------------------------------------------------------------- pad
@pytest.mark.parametrize(("shape", "width", "value"), [((3,), 1, 0), ((3,), (1, 2), 0.5),
                                                       ((2, 2), ((0, 1), (2, 0)), -1.0),
                                                       ((2, 2), ((1, 1),), ((1, 2), (3, 4))),
                                                       ((), 2, 0), ((2, 1), 0, 0),
                                                       ((2, 3), {-1: (1, 2)}, 1.0),
                                                       ((2, 3), {0: 1}, 0)])
def test_pad_constant(shape, width, value):
    a = arr(*shape)
    out = cr.pad(cr.tensor(a), width, constant_values=value)
    np.testing.assert_array_equal(out.numpy(), np.pad(a, width, constant_values=value))
    check(lambda t: cr.pad(t, width, constant_values=value), a)


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric", "wrap"])
def test_pad_copying_modes(mode):
    a = arr(3, 3)
    width = ((1, 2), (2, 1))
    np.testing.assert_array_equal(cr.pad(cr.tensor(a), width, mode=mode).numpy(),
                                  np.pad(a, width, mode=mode))
    check(lambda t: cr.pad(t, width, mode=mode), a)


def test_pad_gradient_is_the_interior():
    x = cr.tensor(arr(2, 3), requires_grad=True)
    w = arr(5, 4)
    cr.pad(x, ((1, 2), (0, 1))).backward(w)
    np.testing.assert_array_equal(x.grad.numpy(), w[1:3, 0:3])


# --------------------------------------------------------------------------- indexing
A = np.arange(24.0).reshape(2, 3, 4) / 7.0
INDICES = {
    "int": 1,
    "negative int": -1,
    "ints": (1, 2, -1),
    "slice": slice(0, 2),
    "slice step": (slice(None), slice(None, None, 2)),
    "negative step": (slice(None, None, -1), slice(2, 0, -1)),
    "None": (None, 0),
    "Ellipsis": (Ellipsis, 1),
    "Ellipsis and None": (0, ..., None, slice(1, 3)),
    "empty tuple": (),
    "int list": [1, 0, 1],
    "nested list": [[0, 1], [1, 1]],
    "empty list": [],
    "int array": np.array([1, 0]),
    "int tensor": cr.tensor([1, 0, 1]),
    "int tensor in tuple": (slice(None), cr.tensor([2, 0])),
    "0-d int tensor": cr.tensor(1),
    "bool mask": A > 1.5,
    "bool tensor": cr.tensor(A[..., 0] > 0.5),
    "bool list": [True, False],
    "2-d mask and slice": (np.array([[True, False, True], [False, True, False]]), slice(1, 3)),
    "arrays broadcast": (np.array([[0], [1]]), np.array([0, 2, 2])),
    "array slice array": (np.array([0, 1, 1]), slice(None), np.array([3, 0, 3])),
    "array and int": (slice(None), [0, 0, 2], 3),
    "mask and array": (slice(None), np.array([True, False, True]), np.array([1, 1])),
}


@pytest.mark.parametrize("index", INDICES.values(), ids=INDICES.keys())
def test_getitem(index):
    np_index = tuple(i.numpy() if isinstance(i, cr.Tensor) else i for i in index) if (
        isinstance(index, tuple)) else (index.numpy() if isinstance(index, cr.Tensor) else index)
    np.testing.assert_array_equal(cr.tensor(A)[index].numpy(), A[np_index])
    np.testing.assert_array_equal(cr.getitem(cr.tensor(A), index).numpy(), A[np_index])
    check(lambda t: t[index], A)
    # The gradient is np.add.at of the output weights, exactly.
    x = cr.tensor(A, requires_grad=True)
    out = x[index]
    w = arr(*out.shape)
    out.backward(w)
    expected = np.zeros_like(A)
    np.add.at(expected, np_index, w)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@pytest.mark.parametrize("index", [[0, 0, 2, 0], (np.array([0, 0, 1]), np.array([1, 1, 1])),
                                   (slice(None), [2, 2])])
def test_getitem_repeated_indices_accumulate(index):
    a = np.arange(12.0).reshape(3, 4)
    x = cr.tensor(a, requires_grad=True)
    out = x[index]
    w = arr(*out.shape)
    out.backward(w)
    expected = np.zeros_like(a)
    np.add.at(expected, index, w)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert x.grad.numpy()[0].any()  # some element really received two gradients
    check(lambda t: t[index], a)


def test_getitem_needs_accumulation_only_for_integer_arrays():
    may_repeat = shape_ops._may_repeat
    assert may_repeat(np.array([0, 0]))
    assert may_repeat((slice(None), np.array([1, 2])))
    assert not may_repeat((slice(None), 1, None, Ellipsis))
    assert not may_repeat(np.array([True, False, True]))
    assert not may_repeat(np.array([3]))


def test_getitem_with_computed_mask_and_iteration():
    a = arr(4)
    x = cr.tensor(a, requires_grad=True)
    (x[x > 0] * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(a > 0, 3.0, 0.0))
    rows = list(cr.tensor(arr(2, 3)))
    assert [r.shape for r in rows] == [(3,), (3,)]


def test_getitem_without_grad_records_nothing():
    x = cr.tensor(arr(3), requires_grad=True)
    with cr.no_grad():
        assert not x[0].requires_grad
    assert x[0].requires_grad and x[0].grad_fn.name == "getitem"


# ------------------------------------------------------------------------- scatter_add
def test_scatter_add():
    values = arr(4)
    index = [1, 1, 0, 1]
    out = cr.scatter_add(cr.tensor(values), index, (3,))
    expected = np.zeros(3)
    np.add.at(expected, index, values)
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(numpy_namespace.scatter_add(values, np.array(index), (3,)),
                                  expected)
    check(lambda v: cr.scatter_add(v, index, (3,)), values)
    check(lambda v: cr.scatter_add(v, (slice(None), 1), (2, 3)), arr(2))
    assert cr.scatter_add is cr.ops.scatter_add


def test_scatter_add_error():
    with pytest.raises(IndexError, match=r"scatter_add: .* of a tensor of shape \(3,\)"):
        cr.scatter_add(cr.tensor(arr(2)), [0, 5], (3,))


# ------------------------------------------------------------------------------- dtypes
F32_OPS = {
    "reshape": lambda t: t.reshape(3, 2),
    "transpose": lambda t: t.T,
    "permute": lambda t: t.permute(1, 0),
    "swapaxes": lambda t: t.swapaxes(0, 1),
    "squeeze": lambda t: cr.expand_dims(t, 0).squeeze(),
    "flip": lambda t: t.flip(0),
    "concatenate": lambda t: cr.concatenate([t, t * 2.0], axis=1),
    "stack": lambda t: cr.stack([t, t]),
    "split": lambda t: cr.split(t, 3, axis=1)[1],
    "pad": lambda t: cr.pad(t, 1, constant_values=2.5),
    "pad reflect": lambda t: cr.pad(t, 1, mode="reflect"),
    "getitem": lambda t: t[[0, 0], 1:],
    "mask": lambda t: t[t > 0],
    "scatter_add": lambda t: cr.scatter_add(t, [0, 0], (4, 3)),
}


@pytest.mark.parametrize("f", F32_OPS.values(), ids=F32_OPS.keys())
def test_float32_stays_float32(f):
    x = cr.tensor(arr(2, 3).astype(np.float32), requires_grad=True)
    out = f(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32


# --------------------------------------------------------------------------- hypothesis
@st.composite
def reshapes(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    sides = draw(st.permutations(list(shape)))
    new: list[int] = []
    for n in sides:  # merge some neighbours, insert some ones
        if new and draw(st.booleans()):
            new[-1] *= n
        else:
            new.append(n)
        if draw(st.booleans()):
            new.append(1)
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return shape, tuple(new)


@FAST
@given(reshapes())
def test_reshape_hypothesis(case):
    shape, new = case
    a = arr(*shape)
    x = cr.tensor(a, requires_grad=True)
    out = x.reshape(new)
    np.testing.assert_array_equal(out.numpy(), a.reshape(new))
    w = arr(*out.shape)
    out.backward(w)
    np.testing.assert_array_equal(x.grad.numpy(), w.reshape(shape))


@FAST
@given(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4).flatmap(
    lambda s: st.tuples(st.just(s), st.permutations(range(len(s))))))
def test_transpose_hypothesis(case):
    shape, perm = case
    a = arr(*shape)
    x = cr.tensor(a, requires_grad=True)
    out = x.transpose(tuple(perm))
    np.testing.assert_array_equal(out.numpy(), a.transpose(perm))
    w = arr(*out.shape)
    out.backward(w)
    np.testing.assert_array_equal(x.grad.numpy(), w.transpose(np.argsort(perm)))


@FAST
@given(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2), st.data())
def test_squeeze_hypothesis(shape, data):
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = data.draw(st.none() | st.lists(st.sampled_from(ones), unique=True).map(tuple)
                     if ones else st.none())
    a = arr(*shape)
    x = cr.tensor(a, requires_grad=True)
    out = x.squeeze(axis)
    np.testing.assert_array_equal(out.numpy(), np.squeeze(a, axis))
    w = arr(*out.shape)
    out.backward(w)
    np.testing.assert_array_equal(x.grad.numpy(), w.reshape(shape))


@FAST
@given(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), st.data())
def test_concatenate_hypothesis(shape, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    lengths = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    ax = axis % len(shape)
    arrays = [arr(*shape[:ax], n, *shape[ax + 1:]) for n in lengths]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    out = cr.concatenate(xs, axis=axis)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=axis))
    w = arr(*out.shape)
    out.backward(w)
    for x, expected in zip(xs, np.split(w, np.cumsum(lengths)[:-1], axis=axis)):
        np.testing.assert_array_equal(x.grad.numpy(), expected)


def _indices(shape):
    basic = hnp.basic_indices(shape, allow_newaxis=True)
    return basic | hnp.integer_array_indices(shape) if shape else basic


@FAST
@given(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4).flatmap(
    lambda s: st.tuples(st.just(s), _indices(s))))
def test_getitem_hypothesis(case):
    shape, index = case
    a = arr(*shape)
    x = cr.tensor(a, requires_grad=True)
    out = x[index]
    np.testing.assert_array_equal(out.numpy(), a[index])
    w = arr(*out.shape)
    out.backward(w)
    expected = np.zeros_like(a)
    np.add.at(expected, index, w)
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# ----------------------------------------------------------------------------- errors
def test_errors_concatenate_and_stack():
    a, b = cr.ones((2, 3)), cr.ones((3, 2))
    with pytest.raises(ValueError, match="concatenate: need at least one tensor"):
        cr.concatenate([])
    with pytest.raises(TypeError, match=r"concatenate: expected a sequence of tensors"):
        cr.concatenate(a)
    with pytest.raises(ValueError, match=r"concatenate: .*same number of dimensions, got shapes "
                                         r"\[\(2, 3\), \(3,\)\]"):
        cr.concatenate([a, cr.ones(3)])
    with pytest.raises(ValueError, match=r"concatenate: shapes \[\(2, 3\), \(3, 2\)\] must match "
                                         r"on every axis except axis 0"):
        cr.concatenate([a, b])
    with pytest.raises(ValueError, match=r"concatenate: axis 2 is out of bounds for tensors of "
                                         r"shapes \[\(2, 3\), \(2, 3\)\]"):
        cr.concatenate([a, a], axis=2)
    with pytest.raises(TypeError, match="concatenate: axis must be an int, got 1.0"):
        cr.concatenate([a, a], axis=1.0)
    with pytest.raises(ValueError, match=r"concatenate: zero-dimensional"):
        cr.concatenate([cr.tensor(1.0), cr.tensor(2.0)])
    with pytest.raises(ValueError, match=r"stack: all tensors must have the same shape, got "
                                         r"shapes \[\(2, 3\), \(3, 2\)\]"):
        cr.stack([a, b])
    with pytest.raises(ValueError, match=r"stack: axis 3 is out of bounds .*\(2, 3\)"):
        cr.stack([a, a], axis=3)
    with pytest.raises(ValueError, match="stack: need at least one tensor"):
        cr.stack(())


def test_errors_getitem():
    x = cr.tensor(arr(2, 3))
    with pytest.raises(IndexError, match=r"getitem: invalid index 5 for a tensor of shape "
                                         r"\(2, 3\): index 5 is out of bounds"):
        x[5]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\): too many indices"):
        x[0, 1, 2]
    with pytest.raises(IndexError, match=r"getitem: invalid index 1.5 .*shape \(2, 3\)"):
        x[1.5]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\).*integer \(or boolean\)"):
        x[cr.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match=r"getitem: .*shape \(2, 3\).*boolean"):
        x[np.array([True, False, True])]


def test_errors_shape_ops():
    x = cr.ones((2, 3))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) into shape \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(TypeError, match=r"reshape: .*into shape \(2.0, 3\)"):
        x.reshape(2.0, 3)
    with pytest.raises(ValueError, match=r"transpose: axes \(1, 2\) are not a permutation of the "
                                         r"2 axes of a tensor of shape \(2, 3\)"):
        x.transpose(1, 2)
    with pytest.raises(ValueError, match=r"transpose: axes \(0,\) are not a permutation"):
        cr.transpose(x, (0,))
    with pytest.raises(ValueError, match=r"permute: axes \(0, 0\) are not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match=r"swapaxes: axis 2 is out of bounds .*\(2, 3\)"):
        x.swapaxes(0, 2)
    with pytest.raises(ValueError, match=r"squeeze: cannot squeeze axis 1 of a tensor of shape "
                                         r"\(2, 3\): it has length 3, expected 1"):
        x.squeeze(1)
    with pytest.raises(ValueError, match=r"flip: axis -3 is out of bounds .*\(2, 3\)"):
        x.flip(-3)
    with pytest.raises(ValueError, match=r"split: cannot split axis 1 \(length 3\) of a tensor "
                                         r"of shape \(2, 3\) into 2 equal pieces"):
        cr.split(x, 2, axis=1)
    with pytest.raises(ValueError, match=r"split: cannot split a zero-dimensional"):
        cr.split(cr.tensor(1.0), 1)
    with pytest.raises(ValueError, match=r"pad: pad_width \(1, 2, 3\) does not fit a tensor of "
                                         r"shape \(2, 3\)"):
        cr.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pad: pad_width must be non-negative"):
        cr.pad(x, -1)
    with pytest.raises(TypeError, match=r"pad: pad_width must be integers"):
        cr.pad(x, 1.5)
    with pytest.raises(ValueError, match=r"pad: mode 'mean' is not supported"):
        cr.pad(x, 1, mode="mean")
    with pytest.raises(ValueError, match=r"pad: mode 'reflect' on a tensor of shape \(0,\)"):
        cr.pad(cr.ones(0), 1, mode="reflect")


# ------------------------------------------------------------ repeat, repeat_interleave, tile
@pytest.mark.parametrize(("repeats", "axis"), [(2, None), (3, 0), (2, 1), ([1, 0, 2], 1),
                                               ([2], -1), (0, 0)])
def test_repeat(repeats, axis):
    a = arr(2, 3)
    np.testing.assert_array_equal(cr.repeat(cr.tensor(a), repeats, axis).numpy(),
                                  np.repeat(a, repeats, axis))
    np.testing.assert_array_equal(cr.tensor(a).repeat_interleave(repeats, dim=axis).numpy(),
                                  np.repeat(a, repeats, axis))
    check(lambda t: cr.repeat(t, repeats, axis), a)


def test_repeat_gradient_sums_the_copies():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    cr.repeat(x, [3, 1]).backward(cr.tensor([1.0, 2.0, 4.0, 8.0]))
    assert x.grad.tolist() == [7.0, 8.0]
    assert cr.repeat(cr.tensor(5.0), 2).tolist() == [5.0, 5.0]


@pytest.mark.parametrize("reps", [2, (2, 1), (1, 3), (2, 1, 2), (0, 1)])
def test_tile_and_tensor_repeat(reps):
    a = arr(2, 3)
    np.testing.assert_array_equal(cr.tile(cr.tensor(a), reps).numpy(), np.tile(a, reps))
    check(lambda t: cr.tile(t, reps), a)
    if np.ndim(reps) and len(reps) >= 2:  # PyTorch's Tensor.repeat tiles
        np.testing.assert_array_equal(cr.tensor(a).repeat(*reps).numpy(), np.tile(a, reps))
        np.testing.assert_array_equal(cr.tensor(a).repeat(reps).numpy(), np.tile(a, reps))


def test_tensor_repeat_is_pytorchs():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    out = x.repeat(3)
    assert out.tolist() == [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    out.backward(cr.tensor([1.0, 2.0, 4.0, 8.0, 16.0, 32.0]))
    assert x.grad.tolist() == [21.0, 42.0]
    with pytest.raises(ValueError, match=r"repeat: Tensor.repeat \(PyTorch's, which tiles\) "
                                         r"needs at least one size per dimension"):
        cr.ones((2, 2)).repeat(2)


# --------------------------------------------------------------------- tril, triu, roll
@pytest.mark.parametrize("k", [0, 1, -1])
def test_tril_triu(k):
    a = arr(2, 3, 4)
    np.testing.assert_array_equal(cr.tril(cr.tensor(a), k).numpy(), np.tril(a, k))
    np.testing.assert_array_equal(cr.tensor(a).triu(diagonal=k).numpy(), np.triu(a, k))
    np.testing.assert_array_equal(cr.triu(a, k=k).numpy(), np.triu(a, k))
    check(lambda t: cr.tril(t, k), a)
    check(lambda t: t.triu(k), a)


@pytest.mark.parametrize(("shift", "axis"), [(1, None), (-2, 1), ((1, 2), (0, 1)), (5, 0)])
def test_roll(shift, axis):
    a = arr(3, 4)
    np.testing.assert_array_equal(cr.roll(cr.tensor(a), shift, axis).numpy(),
                                  np.roll(a, shift, axis))
    np.testing.assert_array_equal(cr.tensor(a).roll(shift, dims=axis).numpy(),
                                  np.roll(a, shift, axis))
    check(lambda t: cr.roll(t, shift, axis), a)


# ------------------------------------------------------------- diagonal, diag, trace
@pytest.mark.parametrize(("shape", "offset", "a1", "a2"), [
    ((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((4, 3), 0, 1, 0),
    ((2, 3, 4), 1, 1, 2), ((2, 3, 4), 0, 0, 2), ((2, 3, 4), -1, 2, 0), ((3, 4), 5, 0, 1),
])  # fmt: skip
def test_diagonal_and_trace(shape, offset, a1, a2):
    a = arr(*shape)
    np.testing.assert_array_equal(cr.diagonal(cr.tensor(a), offset, a1, a2).numpy(),
                                  np.diagonal(a, offset, a1, a2))
    np.testing.assert_array_equal(
        cr.tensor(a).diagonal(offset, dim1=a1, dim2=a2).numpy(), np.diagonal(a, offset, a1, a2))
    np.testing.assert_allclose(cr.trace(cr.tensor(a), offset, a1, a2).numpy(),
                               np.trace(a, offset, a1, a2))
    check(lambda t: cr.diagonal(t, offset, a1, a2), a)
    check(lambda t: cr.trace(t, offset, axis1=a1, axis2=a2), a)


@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag(k):
    v = arr(3)
    m = arr(3, 4)
    np.testing.assert_array_equal(cr.diag(cr.tensor(v), k).numpy(), np.diag(v, k))
    np.testing.assert_array_equal(cr.tensor(m).diag(k).numpy(), np.diag(m, k))
    check(lambda t: cr.diag(t, k), v)
    check(lambda t: cr.diag(t, diagonal=k), m)


def test_trace_gradient_is_the_identity():
    x = cr.tensor(arr(3, 3), requires_grad=True)
    x.trace().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3))


# ------------------------------------------------------ moveaxis, flips, rot90, unflatten
@pytest.mark.parametrize(("src", "dst"), [(0, -1), (-1, 0), ((0, 1), (2, 0)), ((2, 0), (0, 1))])
def test_moveaxis(src, dst):
    a = arr(2, 3, 4)
    np.testing.assert_array_equal(cr.moveaxis(cr.tensor(a), src, dst).numpy(),
                                  np.moveaxis(a, src, dst))
    np.testing.assert_array_equal(cr.tensor(a).movedim(src, dst).numpy(), np.moveaxis(a, src, dst))
    check(lambda t: cr.movedim(t, src, dst), a)


def test_flips():
    a = arr(2, 3)
    np.testing.assert_array_equal(cr.fliplr(cr.tensor(a)).numpy(), np.fliplr(a))
    np.testing.assert_array_equal(cr.tensor(a).flipud().numpy(), np.flipud(a))
    check(cr.fliplr, a)
    check(cr.flipud, a)


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 5])
@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (2, 0)])
def test_rot90(k, axes):
    a = arr(2, 3, 4)
    np.testing.assert_array_equal(cr.rot90(cr.tensor(a), k, axes).numpy(), np.rot90(a, k, axes))
    np.testing.assert_array_equal(cr.tensor(a).rot90(k, dims=axes).numpy(), np.rot90(a, k, axes))
    check(lambda t: cr.rot90(t, k, axes), a)


def test_unflatten():
    a = arr(2, 6)
    np.testing.assert_array_equal(cr.tensor(a).unflatten(1, (3, 2)).numpy(), a.reshape(2, 3, 2))
    np.testing.assert_array_equal(cr.unflatten(cr.tensor(a), -1, (-1, 3)).numpy(),
                                  a.reshape(2, 2, 3))
    check(lambda t: cr.unflatten(t, 0, (1, 2)), a)
    assert cr.unflatten(cr.tensor(a), axis=0, sizes=(2, 1)).shape == (2, 1, 6)
    with pytest.raises(ValueError, match=r"unflatten: sizes \(4, 2\) do not multiply to the "
                                         r"length 6 of dim 1"):
        cr.unflatten(cr.tensor(a), 1, (4, 2))


# ------------------------------------------------- atleast, hstack & co, append, meshgrid
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_atleast(shape):
    a = arr(*shape)
    for n in (1, 2, 3):
        f = getattr(cr, f"atleast_{n}d")
        np.testing.assert_array_equal(f(cr.tensor(a)).numpy(), getattr(np, f"atleast_{n}d")(a))
        check(f, a)
    both = cr.atleast_2d(cr.tensor(a), cr.ones(2))
    assert isinstance(both, tuple) and both[1].shape == (1, 2)


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack"])
@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(2, 3), (2, 3)], [(3,), (3,), (3,)]])
def test_stacking_helpers(name, shapes):
    arrays = [arr(*s) for s in shapes]
    f = getattr(cr, name)
    np.testing.assert_array_equal(f([cr.tensor(a) for a in arrays]).numpy(),
                                  getattr(np, name)(arrays))
    check(lambda *ts: f(list(ts)), *arrays)


def test_r_and_c_replacements():
    a, b = arr(3), arr(2)
    np.testing.assert_array_equal(cr.hstack([a, b, 1.5]).numpy(), np.r_[a, b, 1.5])
    np.testing.assert_array_equal(cr.column_stack([a, a]).numpy(), np.c_[a, a])


def test_append():
    a, b = arr(2, 3), arr(1, 3)
    np.testing.assert_array_equal(cr.append(cr.tensor(a), b).numpy(), np.append(a, b))
    np.testing.assert_array_equal(cr.append(a, b, axis=0).numpy(), np.append(a, b, axis=0))
    np.testing.assert_array_equal(cr.append(a, b, dim=0).numpy(), np.append(a, b, axis=0))
    check(lambda s, t: cr.append(s, t, axis=0), a, b)
    check(lambda s, t: cr.append(s, t), a, b)


@pytest.mark.parametrize("indexing", ["xy", "ij"])
def test_meshgrid(indexing):
    xs = [arr(3), arr(2), arr(4)]
    for n in (1, 2, 3):
        got = cr.meshgrid(*[cr.tensor(x) for x in xs[:n]], indexing=indexing)
        want = np.meshgrid(*xs[:n], indexing=indexing)
        assert len(got) == n
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    check(lambda s, t: cr.meshgrid(s, t, indexing=indexing)[0] * cr.meshgrid(
        s, t, indexing=indexing)[1], xs[0], xs[1])


def test_stack_of_scalars_is_differentiable():
    x = cr.tensor(2.0, requires_grad=True)
    y = cr.tensor(3.0, requires_grad=True)
    out = cr.stack([x * y, x, cr.tensor(1.0), 4.0])
    assert out.tolist() == [6.0, 2.0, 1.0, 4.0]
    out.backward(cr.tensor([1.0, 10.0, 100.0, 1000.0]))
    assert x.grad.item() == 13.0 and y.grad.item() == 2.0
    check(lambda s, t: cr.stack([s * t, s.sum(), t]), np.array(0.5), np.array(-1.5))


# --------------------------------------------------------------- dtypes and errors (new)
F32_NEW_OPS = {
    "repeat": lambda t: cr.repeat(t, [1, 2, 0], axis=1),
    "tile": lambda t: t.tile((2, 1)),
    "tensor repeat": lambda t: t.repeat(1, 2),
    "tril": lambda t: t.tril(),
    "roll": lambda t: t.roll(1, 1),
    "diagonal": lambda t: t.diagonal(),
    "diag": lambda t: cr.diag(t.diagonal()),
    "trace": lambda t: t.trace(),
    "moveaxis": lambda t: t.moveaxis(0, 1),
    "rot90": lambda t: t.rot90(),
    "hstack": lambda t: cr.hstack([t, t]),
    "meshgrid": lambda t: cr.meshgrid(t[0], t[1])[0],
}


@pytest.mark.parametrize("f", F32_NEW_OPS.values(), ids=F32_NEW_OPS.keys())
def test_new_ops_float32_stays_float32(f):
    x = cr.tensor(arr(2, 3).astype(np.float32), requires_grad=True)
    out = f(x)
    assert out.dtype == np.float32
    (out * out).sum().backward()
    assert x.grad.dtype == np.float32


def test_errors_new_shape_ops():
    x = cr.ones((2, 3))
    with pytest.raises(ValueError, match=r"repeat: repeats \[1, 2\] must be non-negative, one "
                                         r"count or one per element of axis 1 \(length 3\)"):
        cr.repeat(x, [1, 2], axis=1)
    with pytest.raises(TypeError, match=r"repeat: repeats must be integers, got 1.5"):
        cr.repeat(x, 1.5)
    with pytest.raises(ValueError, match=r"tril: needs a tensor of at least 2 dimensions, got "
                                         r"shape \(3,\)"):
        cr.tril(cr.ones(3))
    with pytest.raises(ValueError, match=r"diagonal: the two axes must differ"):
        cr.diagonal(x, 0, 1, 1)
    with pytest.raises(ValueError, match=r"diag: needs a 1-d or 2-d tensor"):
        cr.diag(cr.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"roll: shifts \(1, 2\) and dims 0 must have one shift"):
        cr.roll(x, (1, 2), 0)
    with pytest.raises(ValueError, match=r"moveaxis: source \(0, 1\) and destination 0 must"):
        cr.moveaxis(x, (0, 1), 0)
    with pytest.raises(ValueError, match=r"rot90: the two axes must differ"):
        cr.rot90(x, 1, (0, 0))
    with pytest.raises(ValueError, match=r"meshgrid: indexing must be 'xy' or 'ij'"):
        cr.meshgrid(cr.ones(2), indexing="yx")
    with pytest.raises(TypeError, match=r"repeat: got axis=0 and dim=1"):
        cr.repeat(x, 2, axis=0, dim=1)
