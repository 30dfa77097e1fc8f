"""PyTorch's spellings on Tensor and in the package (issue 9): dim=/keepdim=, max(dim) ->
(values, indices), size(), view, unsqueeze, to, clone, bitwise operators, dtype names..."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule.testing import gradcheck, gradgradcheck

A = np.array([[1.0, 5.0, -2.0], [3.0, 2.0, 7.0]])


# ------------------------------------------------------------------ max/min with a dim
def test_max_min_with_a_dim_give_values_and_indices():
    x = cr.tensor(A)
    for out in (x.max(1), x.max(dim=1), cr.max(x, dim=1)):
        values, indices = out
        np.testing.assert_array_equal(values.numpy(), A.max(1))
        np.testing.assert_array_equal(indices.numpy(), A.argmax(1))
        assert out.values is values and out.indices is indices
        assert indices.dtype == np.int64
    _, pred = x.min(0)
    np.testing.assert_array_equal(pred.numpy(), A.argmin(0))
    v, i = x.max(1, keepdim=True)
    assert v.shape == (2, 1) and i.shape == (2, 1)
    assert x.max(1, True).values.shape == (2, 1)  # PyTorch's positional keepdim
    with pytest.raises(TypeError, match=r"max: unexpected arguments \(3,\) with dim"):
        x.max(1, True, 3)
    v, i = x.min(dim=-1, keepdim=True)
    np.testing.assert_array_equal(v.numpy(), A.min(-1, keepdims=True))


def test_max_min_numpy_forms_stay_numpy():
    x = cr.tensor(A)
    np.testing.assert_array_equal(x.max(axis=1).numpy(), A.max(1))
    np.testing.assert_array_equal(cr.max(x, 1).numpy(), A.max(1))  # module level: NumPy's
    np.testing.assert_array_equal(cr.min(x, axis=0, keepdim=True).numpy(), A.min(0, keepdims=True))
    assert x.max().item() == 7.0 and x.min().item() == -2.0
    np.testing.assert_array_equal(x.max(x * 0).numpy(), np.maximum(A, 0))  # torch.max(a, b)
    np.testing.assert_array_equal(x.min(cr.zeros(3)).numpy(), np.minimum(A, 0))


def test_max_with_a_dim_routes_the_gradient_to_the_chosen_element():
    x = cr.tensor([[2.0, 2.0, 1.0]], dtype=np.float64, requires_grad=True)
    x.max(1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0, 0.0]])  # PyTorch: the index
    gradcheck(lambda a: a.max(1).values, A)
    gradcheck(lambda a: a.min(dim=0, keepdim=True).values, A)
    gradgradcheck(lambda a: a.max(0).values ** 2, A)


def test_max_of_a_0d_tensor_over_dim_0():
    values, indices = cr.tensor(3.0).max(0)
    assert values.item() == 3.0 and indices.item() == 0 and values.shape == ()
    with pytest.raises(IndexError, match=r"max: dim 1 is out of range for a 0-d tensor"):
        cr.tensor(3.0).max(dim=1)


# ------------------------------------------------------------- dim= and keepdim= at large
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "logsumexp", "argmax", "argmin"])
def test_reductions_take_dim_and_keepdim(name):
    x = cr.tensor(A)
    ref = getattr(cr, name)(x, axis=1, keepdims=True).numpy()
    np.testing.assert_allclose(getattr(x, name)(dim=1, keepdim=True).numpy(), ref)
    np.testing.assert_allclose(getattr(cr, name)(x, dim=1, keepdim=True).numpy(), ref)
    with pytest.raises(TypeError, match=f"{name}: got both dim= and axis="):
        getattr(x, name)(dim=1, axis=1)


def test_softmax_cumsum_squeeze_take_dim():
    x = cr.tensor(A)
    np.testing.assert_allclose(x.softmax(dim=0).numpy(), cr.softmax(x, axis=0).numpy())
    np.testing.assert_allclose(x.cumsum(dim=1).numpy(), np.cumsum(A, 1), rtol=1e-6)
    assert cr.ones(2, 1).squeeze(dim=1).shape == (2,)


def test_reductions_over_dim_0_of_a_0d_tensor_work_as_in_pytorch():
    t = cr.tensor(4.0, dtype=np.float64, requires_grad=True)
    for out in (t.sum(0), t.sum(dim=-1, keepdim=True), t.mean(0), t.cumsum(0), t.squeeze(0)):
        assert out.shape == () and out.item() == 4.0
    assert t.softmax(dim=0).item() == 1.0 and t.argmax(0).item() == 0
    t.sum(dim=0).backward()
    assert t.grad.item() == 1.0
    with pytest.raises(ValueError, match=r"sum: axis 1 is out of bounds"):
        t.sum(1)


def test_var_std_follow_pytorch_with_a_dim_and_numpy_with_an_axis():
    x = cr.tensor(A)
    np.testing.assert_allclose(x.var(1).numpy(), A.var(1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.std(dim=0).numpy(), A.std(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(cr.var(x, dim=0).numpy(), A.var(0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(x.var(axis=1).numpy(), A.var(1), rtol=1e-12)
    np.testing.assert_allclose(cr.var(x, 1).numpy(), A.var(1), rtol=1e-12)
    np.testing.assert_allclose(x.var().numpy(), A.var(), rtol=1e-12)  # no dim: NumPy's
    np.testing.assert_allclose(x.std(1, unbiased=False).numpy(), A.std(1), rtol=1e-12)
    v = x.var(dim=1, correction=0, keepdim=True)
    np.testing.assert_allclose(v.numpy(), A.var(1, keepdims=True), rtol=1e-12)
    with pytest.raises(TypeError, match=r"var: with a dim, pass the other arguments by keyword"):
        x.var(1, True)


def test_transpose_with_two_dims_swaps_them():
    x = cr.ones(2, 3, 4)
    assert x.transpose(0, 2).shape == (4, 3, 2)  # PyTorch's swap (NumPy would refuse)
    assert x.transpose(2, 0, 1).shape == (4, 2, 3)  # three ints: NumPy's permutation
    m = cr.tensor(A)
    np.testing.assert_array_equal(m.transpose(0, 1).numpy(), A.T)  # PyTorch's, not identity
    np.testing.assert_array_equal(m.mT.numpy(), A.T)
    assert x.mT.shape == (2, 4, 3)
    with pytest.raises(ValueError, match=r"mT: needs a tensor of at least 2 dims"):
        _ = cr.ones(3).mT


# ------------------------------------------------------------------ Tensor spellings
def test_size_is_an_int_and_callable():
    t = cr.ones(2, 3)
    assert t.size == 6 and isinstance(t.size, int)
    assert t.size() == (2, 3) and t.size(0) == 2 and t.size(-1) == 3
    assert t.numel() == 6 and t.dim() == 2
    with pytest.raises(IndexError, match=r"size: dimension 2 is out of range"):
        t.size(2)


def test_shape_spellings_and_their_gradients():
    x = cr.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.view(6, 4).shape == (6, 4) and x.view((4, -1)).shape == (4, 6)
    assert x.unsqueeze(1).shape == (2, 1, 3, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert x.flatten(0, 1).shape == (6, 4) and x.ravel().shape == (24,)
    assert cr.tensor(1.0).flatten().shape == (1,)
    assert cr.ones(3, 1).expand(2, -1, 4).shape == (2, 3, 4)
    assert x.permute(2, 0, 1).shape == (4, 2, 3) and x.contiguous() is x
    gradcheck(lambda a: a.view(6, 4).unsqueeze(0).flatten(1, 2) * a.ravel(), np.ones((2, 3, 4)))
    gradcheck(lambda a: a.expand(2, 3) * np.arange(6.0).reshape(2, 3), np.ones((3,)))
    with pytest.raises(ValueError, match=r"flatten: start_dim 2 comes after end_dim 1"):
        x.flatten(2, 1)
    with pytest.raises(ValueError, match=r"expand: 1 sizes"):
        cr.ones(2, 3).expand(3)


def test_clone_is_a_recorded_copy():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    y = x.clone()
    assert y.data is not x.data and y.grad_fn.name == "clone"
    np.testing.assert_array_equal(cr.clone(x).numpy(), x.numpy())
    gradcheck(lambda a: cr.clone(a) * a, np.array([0.5, -1.5]))
    gradgradcheck(lambda a: a.clone() * a, np.array([0.5, -1.5]))
    assert "clone" in cr.primitive_table


def test_dtype_casts_and_to():
    t = cr.tensor([1.5, -2.0])
    assert t.double().dtype == np.float64 and t.half().dtype == np.float16
    assert t.float() is t and t.long().tolist() == [1, -2] and t.int().dtype == np.int32
    assert t.bool().tolist() == [True, True]
    assert t.to(cr.float64).dtype == np.float64 and t.to("cpu") is t
    assert t.to("cpu", np.float64).dtype == np.float64
    assert t.to(dtype=cr.int64).dtype == np.int64 and t.cpu() is t
    assert t.to(cr.ones(1, dtype=np.float64)).dtype == np.float64
    assert cr.tensor([1, 2]).type_as(t).dtype == np.float32
    x = cr.tensor([1.0], requires_grad=True)
    y = x.double()
    assert y.requires_grad and y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.item() == 1.0
    with pytest.raises(ValueError, match=r"to: device must be 'cpu', 'cuda' or 'cuda:N'"):
        t.to("tpu")
    with pytest.raises(TypeError, match=r"to: unexpected keyword arguments \['memory_format'\]"):
        t.to(memory_format=None)


def test_new_zeros_new_ones():
    t = cr.ones(1, dtype=np.float64)
    z = t.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float64 and z.numpy().sum() == 0
    o = t.new_ones((2,), dtype=np.int64)
    assert o.tolist() == [1, 1] and o.dtype == np.int64
    assert t.new_zeros(2, requires_grad=True).requires_grad


# ------------------------------------------------------------------ bitwise operators
def test_bitwise_operators_on_integers_and_logical_on_bools():
    a, b = np.array([12, 10, -3]), np.array([6, 3, 5])
    x, y = cr.tensor(a), cr.tensor(b)
    np.testing.assert_array_equal((x & y).numpy(), a & b)
    np.testing.assert_array_equal((x | y).numpy(), a | b)
    np.testing.assert_array_equal((x ^ y).numpy(), a ^ b)
    np.testing.assert_array_equal((~x).numpy(), ~a)
    np.testing.assert_array_equal((x << 2).numpy(), a << 2)
    np.testing.assert_array_equal((x >> 1).numpy(), a >> 1)
    np.testing.assert_array_equal((6 & x).numpy(), 6 & a)  # reflected
    np.testing.assert_array_equal((1 << y).numpy(), 1 << b)
    assert (x & 6).dtype == np.int64
    p, q = cr.tensor([True, False, True]), cr.tensor([True, True, False])
    assert (p & q).tolist() == [True, False, False] and (p | q).tolist() == [True, True, True]
    assert (p ^ q).tolist() == [False, True, True] and (~p).tolist() == [False, True, False]
    with pytest.raises(
        TypeError,
        match=r"bitwise_and: needs integer or bool tensors, got "
        r"shapes \(3,\), \(3,\) and dtypes float32, float32",
    ):
        cr.ones(3) & cr.ones(3)  # fmt: skip
    with pytest.raises(TypeError, match=r"bitwise_not: needs integer or bool"):
        ~cr.ones(3)


# ------------------------------------------------------------------ package-level names
def test_package_spellings():
    assert cr.float32 == np.float32 and cr.float64 == np.float64 and cr.int64 == np.int64
    assert cr.float == np.float32 and cr.double == np.float64 and cr.long == np.int64
    assert cr.int == np.int32 and cr.bool == np.bool_ and cr.half == np.float16
    assert cr.zeros(2, dtype=cr.float64).dtype == np.float64
    ns: dict = {}
    exec("from chainrule import *", ns)
    assert "float32" in ns and "cat" in ns and "float" not in ns and "int" not in ns
    c = cr.cat([cr.ones(2, 1), cr.zeros(2, 2)], dim=1)
    np.testing.assert_array_equal(c.numpy(), [[1, 0, 0], [1, 0, 0]])
    gradcheck(lambda a, b: cr.cat([a, b * 2], dim=0), np.ones((1, 2)), np.ones((2, 2)))
    a = np.zeros(3)
    t = cr.from_numpy(a)
    a[1] = 4.0
    assert t.tolist() == [0.0, 4.0, 0.0] and t.dtype == np.float64
    with pytest.raises(TypeError, match=r"from_numpy: expected a numpy.ndarray, got list"):
        cr.from_numpy([1.0])


def test_random_spellings_are_seeded_and_shaped():
    g = cr.manual_seed(3)
    assert g is cr.random.get_generator()
    first = cr.randn(4).numpy()
    cr.manual_seed(3)
    np.testing.assert_array_equal(cr.randn(4).numpy(), first)
    like = cr.zeros(2, 3, dtype=np.float64)
    assert cr.rand_like(like).shape == (2, 3) and cr.rand_like(like).dtype == np.float64
    assert cr.randn_like(cr.zeros(5)).dtype == np.float32
    r = cr.randint(2, 5, (1000,), generator=0).numpy()
    assert r.dtype == np.int64 and r.min() == 2 and r.max() == 4
    assert cr.randint(3, (2, 2)).shape == (2, 2)
    n = cr.normal(10.0, 2.0, size=(20000,), generator=1).numpy()
    assert abs(n.mean() - 10.0) < 0.1 and abs(n.std() - 2.0) < 0.1
    m = cr.normal(cr.tensor([0.0, 100.0], dtype=np.float64), 1e-6)
    assert m.dtype == np.float64 and np.allclose(m.numpy(), [0.0, 100.0], atol=1e-4)
    with pytest.raises(TypeError, match=r"normal: mean or std requires grad"):
        cr.normal(cr.zeros(2, requires_grad=True), 1.0)
    with pytest.raises(TypeError, match=r"randint: give the size"):
        cr.randint(5)


# ----------------------------------------------------------------------- nn containers
def test_module_dict():
    d = cr.nn.ModuleDict({"a": cr.nn.Linear(2, 1)})
    d["b"] = cr.nn.Linear(2, 3)
    d.update([("c", cr.nn.Identity())])
    assert list(d) == ["a", "b", "c"] and "b" in d and len(d) == 3
    assert set(d.state_dict()) == {"a.weight", "a.bias", "b.weight", "b.bias"}
    assert len(list(d.parameters())) == 4
    assert d.pop("c").__class__ is cr.nn.Identity and len(d) == 2
    with pytest.raises(KeyError, match=r"ModuleDict: no module named 'z'"):
        d["z"]
    with pytest.raises(TypeError, match=r"ModuleDict: 'x' must be a Module, got int"):
        d.update({"x": 3})


def test_parameter_list_and_dict_are_trained():
    ps = cr.nn.ParameterList([cr.tensor([1.0, 2.0]), np.ones(3)])
    ps.append(cr.zeros(1))
    assert len(ps) == 3 and all(isinstance(p, cr.nn.Parameter) for p in ps)
    assert list(ps.state_dict()) == ["0", "1", "2"] and ps[-1].shape == (1,)
    pd = cr.nn.ParameterDict({"w": cr.ones(2)})
    pd["b"] = cr.zeros(1)

    class Model(cr.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ps, self.pd = ps, pd

        def forward(self) -> cr.Tensor:
            return (self.ps[0] * self.pd["w"]).sum() + self.pd["b"].sum() * 3

    m = Model()
    assert set(m.state_dict()) == {"ps.0", "ps.1", "ps.2", "pd.w", "pd.b"}
    opt = cr.optim.SGD(m.parameters(), lr=0.5)
    m().backward()
    opt.step()
    np.testing.assert_allclose(pd["w"].numpy(), [0.5, 0.0])
    np.testing.assert_allclose(pd["b"].numpy(), [-1.5])
    with pytest.raises(TypeError, match=r"ParameterList: a computed tensor cannot become"):
        ps.append(cr.ones(1, requires_grad=True) * 2)
    with pytest.raises(IndexError, match=r"ParameterList: index 5 is out of range"):
        ps[5]


def test_unflatten_and_identity():
    x = cr.tensor(np.arange(24.0).reshape(2, 12))
    y = cr.nn.Unflatten(1, (3, -1))(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_array_equal(cr.nn.Flatten()(y).numpy(), x.numpy())
    assert cr.nn.Unflatten(-1, (2, 6))(x).shape == (2, 2, 6)
    assert cr.nn.Identity()(x) is x
    with pytest.raises(ValueError, match=r"Unflatten: cannot split dim 1 of length 12"):
        cr.nn.Unflatten(1, (5, 5))(x)
    gradcheck(lambda a: cr.nn.Unflatten(0, (2, 3))(a) * 2, np.ones(6))


# ------------------------------------------------------------------ io.save of any state
def test_io_save_round_trips_an_optimizers_state(tmp_path):
    cr.manual_seed(0)
    model = cr.nn.Linear(3, 2)
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        opt.zero_grad()
        model(cr.ones(4, 3)).sum().backward()
        opt.step()
    path = tmp_path / "opt.safetensors"
    state = opt.state_dict()
    cr.io.save(state, path, metadata={"note": "adam"})
    loaded = cr.io.load(path)
    assert set(loaded) == set(state) and set(loaded["state"]) == set(state["state"])
    for k, st in state["state"].items():
        for name, v in st.items():
            np.testing.assert_array_equal(np.asarray(loaded["state"][k][name]), np.asarray(v))
    assert loaded["param_groups"][0]["lr"] == 0.01
    assert cr.io.load_metadata(path) == {"note": "adam"}
    fresh = cr.optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(loaded)
    assert fresh.param_groups[0]["lr"] == 0.01
    cr.io.save({"w": np.eye(2), "step": 3, "names": ["a", "b"]}, path)
    mixed = cr.io.load(path)
    assert mixed["step"] == 3 and mixed["names"] == ["a", "b"] and mixed["w"].shape == (2, 2)
    with pytest.raises(ValueError, match=r"io.save: the metadata key 'chainrule.state'"):
        cr.io.save({"w": np.eye(2)}, path, metadata={"chainrule.state": "x"})


# ------------------------------------------------------- explain / draw_graph after backward
def test_explain_and_draw_graph_after_backward_say_how(tmp_path):
    from chainrule.viz import draw_graph

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"explain: backward\(\) already ran .*retain_graph"):
        draw_graph(loss, tmp_path / "g.svg")
    assert draw_graph(loss, tmp_path / "g.svg", grads=False).exists()  # no gradients needed
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    e = cr.explain(loss, file=open(os.devnull, "w"))  # noqa: SIM115
    np.testing.assert_allclose(e.leaves[0].grad, [2.0, 4.0])
    assert draw_graph(loss, tmp_path / "h.svg").exists()


# ------------------------------------------------------------- on a (fake) GPU
def test_spellings_on_a_device(monkeypatch):
    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    t = cr.tensor(A)
    g = t.to("cuda")
    assert g.device == "cuda" and g.to("cuda") is g and g.to("cuda:0") is g
    assert g.to("cuda:1")._data.device.id == 1
    np.testing.assert_array_equal(g.cpu().numpy(), A)
    assert g.cpu().device == "cpu"
    values, indices = g.max(1)
    assert values.device == "cuda"
    np.testing.assert_array_equal(indices.numpy(), A.argmax(1))
    p = cr.nn.Parameter(cupy.asarray(np.ones(3, np.float32)))
    data = p.data
    p.grad = cr.as_tensor(cupy.asarray(np.full(3, 2.0, np.float32)))
    with cr.no_grad():
        p -= 0.5 * p.grad
    assert p.data is data and p.numpy().tolist() == [0.0, 0.0, 0.0]
    i = cr.as_tensor(cupy.asarray(np.array([12, 10])))
    assert (i & 6).numpy().tolist() == [4, 2] and (i & 6).device == "cuda"
    with pytest.raises(RuntimeError, match=r"to: moving a tensor that requires grad"):
        cr.ones(2, requires_grad=True).to("cuda")
