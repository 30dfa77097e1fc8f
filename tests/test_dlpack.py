"""DLPack: chainrule tensors and NumPy/PyTorch/JAX arrays share memory both ways."""

import numpy as np
import pytest

import chainrule as cr


def test_numpy_from_tensor_shares_memory():
    t = cr.tensor([1.0, 2.0, 3.0])
    a = np.from_dlpack(t)
    assert a.dtype == np.float32
    a[0] = 9.0  # a write on NumPy's side is seen by the tensor
    assert t.tolist() == [9.0, 2.0, 3.0]
    t.numpy()[2] = -1.0  # and the other way round
    assert a.tolist() == [9.0, 2.0, -1.0]


def test_from_dlpack_numpy_shares_memory_and_keeps_dtype():
    for dtype in (np.float32, np.float64, np.int64, np.bool_):
        a = np.zeros((2, 3), dtype=dtype)
        t = cr.from_dlpack(a)
        assert t.dtype == dtype and t.shape == (2, 3)
        assert np.shares_memory(t.numpy(), a)
    a = np.arange(6.0).reshape(2, 3)
    t = cr.from_dlpack(a)
    a[1, 2] = 100.0
    assert t.numpy()[1, 2] == 100.0


def test_from_dlpack_non_contiguous_view():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    t = cr.from_dlpack(a)
    np.testing.assert_array_equal(t.numpy(), a)
    a[0, 1] = -5.0
    assert t.numpy()[0, 1] == -5.0


def test_dunders_and_round_trip():
    t = cr.ones(4)
    assert t.__dlpack_device__() == (1, 0)
    assert cr.from_dlpack(t) is t
    back = cr.from_dlpack(np.from_dlpack(t))
    back.numpy()[0] = 3.0
    assert t.tolist() == [3.0, 1.0, 1.0, 1.0]


def test_from_dlpack_requires_grad_is_a_leaf_with_grad():
    a = np.array([1.0, 2.0])
    t = cr.from_dlpack(a, requires_grad=True)
    (t * t).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), [2.0, 4.0])
    with pytest.raises(TypeError, match="from_dlpack: only floating-point"):
        cr.from_dlpack(np.arange(3), requires_grad=True)


def test_from_dlpack_refuses_objects_without_the_protocol():
    with pytest.raises(TypeError, match="from_dlpack: builtins.list does not support DLPack"):
        cr.from_dlpack([1.0, 2.0])


def test_torch_round_trip_shares_memory():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    x = torch.arange(4, dtype=torch.float32)
    t = cr.from_dlpack(x)
    x[0] = 42.0
    assert t.tolist()[0] == 42.0
    y = torch.from_dlpack(t)
    y[1] = -1.0
    assert t.tolist()[1] == -1.0
    u = cr.as_tensor(x)  # as_tensor goes through DLPack for a torch tensor
    x[3] = 7.0
    assert u.tolist()[3] == 7.0


def test_jax_round_trip():
    jax = pytest.importorskip("jax", reason="JAX is not installed")
    x = jax.numpy.arange(4.0, dtype=jax.numpy.float32)
    t = cr.as_tensor(x)
    np.testing.assert_array_equal(t.numpy(), np.arange(4.0, dtype=np.float32))
    y = jax.numpy.from_dlpack(cr.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(y), [1.0, 2.0])
