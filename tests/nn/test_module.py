"""Module and Parameter: registration, walking the tree, modes, gradients, state dicts, dtype,
repr, copying."""

from __future__ import annotations

import copy
import pickle
import re
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(cr.ones(4))
        self.register_buffer("count", np.zeros((), np.int64))
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.bias = nn.Parameter(cr.zeros(4))
        self.head = nn.Sequential(nn.Linear(4, 2), nn.Tanh())

    def forward(self, x):
        return self.head(self.first(x) + self.bias)


# ------------------------------------------------------------------------- registration
def test_attribute_assignment_registers_parameters_modules_and_plain_attributes():
    m = Block()
    assert list(m._parameters) == ["scale"]
    assert list(m._modules) == ["fc", "act"]
    assert list(m._buffers) == ["count"]
    m.note = "plain"
    assert "note" not in m._parameters and m.__dict__["note"] == "plain"
    assert m.scale is m._parameters["scale"]
    # Reassigning a name to another kind moves it between the tables.
    m.act = nn.Parameter(cr.zeros(1))
    assert "act" in m._parameters and "act" not in m._modules
    del m.act
    assert "act" not in m._parameters
    with pytest.raises(AttributeError, match="no attribute 'act'"):
        m.act  # noqa: B018


def test_assigning_a_non_parameter_to_a_parameter_name_is_an_error():
    m = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"Linear.weight is a Parameter; assign a Parameter"):
        m.weight = cr.zeros(2, 2)
    m.bias = None
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]


def test_attributes_before_super_init_are_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Bad()


def test_register_parameter_and_add_module_check_their_types():
    m = nn.Module()
    with pytest.raises(TypeError, match="register_parameter: 'w' must be a Parameter or None"):
        m.register_parameter("w", cr.zeros(1))
    with pytest.raises(TypeError, match="add_module: 'sub' must be a Module"):
        m.add_module("sub", 3)


def test_parameter_is_a_leaf_that_requires_grad():
    p = nn.Parameter(cr.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf and isinstance(p, cr.Tensor)
    assert not nn.Parameter(cr.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        nn.Parameter(np.arange(3))


# ---------------------------------------------------------------------------- walking
def test_named_parameters_order_and_dotted_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["bias", "first.scale", "first.fc.weight", "first.fc.bias",
                     "head.0.weight", "head.0.bias"]
    assert [p for p in net.parameters()] == [p for _, p in net.named_parameters()]
    assert [n for n, _ in net.named_parameters(prefix="net")][0] == "net.bias"
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["bias"]


def test_shared_parameters_and_modules_are_counted_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(seq.modules())) == 3  # seq, lin, relu
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight  # one Parameter in two modules
    both = nn.Sequential(a, b)
    assert len(list(both.parameters())) == 3


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "head"]
    assert list(net.children()) == [net.first, net.head]
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "first", "first.fc", "first.act", "head", "head.0", "head.1"]
    assert next(net.modules()) is net


def test_buffers_are_walked_and_registered_with_persistence():
    m = Block()
    m.register_buffer("tmp", np.ones(2), persistent=False)
    assert [n for n, _ in m.named_buffers()] == ["count", "tmp"]
    assert "tmp" not in m.state_dict() and "count" in m.state_dict()
    m.count = cr.tensor(5)  # assigning to a buffer name stores the array
    assert isinstance(m._buffers["count"], np.ndarray) and m.count.item() == 5


# ------------------------------------------------------------------------------ modes
def test_train_and_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.head.train()
    assert net.head[0].training and not net.training
    net.train()
    assert all(m.training for m in net.modules())


def test_requires_grad_freezes_every_parameter():
    net = Net().requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_apply_visits_children_first():
    seen = []
    Net().apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Block", "Linear", "Tanh", "Sequential", "Net"]


# ------------------------------------------------------------------------- zero_grad
def test_zero_grad_to_none_and_to_zeros():
    net = Net()
    net(cr.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        assert p.grad.shape == p.shape and not p.grad.numpy().any()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_gradients_accumulate_until_zeroed():
    lin = nn.Linear(2, 1)
    x = cr.tensor([[1.0, 2.0]])
    lin(x).sum().backward()
    lin(x).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[2.0, 4.0]])
    lin.zero_grad()
    lin(x).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), [[1.0, 2.0]])


# ------------------------------------------------------------------------ state dicts
def test_state_dict_keys_values_and_copies():
    net = Net()
    sd = net.state_dict()
    # As in PyTorch: a module's own parameters, then its own buffers, then its children.
    assert list(sd) == ["bias", "first.scale", "first.count", "first.fc.weight", "first.fc.bias",
                        "head.0.weight", "head.0.bias"]
    assert all(type(v) is np.ndarray for v in sd.values())
    np.testing.assert_array_equal(sd["first.fc.weight"], net.first.fc.weight.numpy())
    sd["first.fc.weight"][...] = 7  # a copy: the model is untouched
    assert not (net.first.fc.weight.numpy() == 7).any()


@pytest.mark.parametrize("make", [
    lambda: nn.Linear(3, 4),
    lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
    lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)),
])
def test_state_dict_round_trip(make):
    cr.random.seed(1)
    a = make()
    a.train()
    for _ in range(2):  # moves BatchNorm's running statistics away from their defaults
        a(cr.randn(6, 3))
    cr.random.seed(2)
    b = make()
    assert b.load_state_dict(a.state_dict()) == ([], [])
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
        assert va.dtype == vb.dtype
    x = cr.randn(5, 3)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


def test_batchnorm_buffers_are_in_the_state_dict_and_loaded():
    a, b = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    a(cr.randn(4, 3, 2, 2))
    assert list(a.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"]
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.running_mean, a.running_mean)
    np.testing.assert_array_equal(b.running_var, a.running_var)
    assert int(b.num_batches_tracked) == 1 and b.num_batches_tracked.dtype == np.int64
    b.running_mean[...] = 9  # loaded as a copy
    assert not (a.running_mean == 9).any()


def test_load_state_dict_casts_to_the_parameter_dtype():
    lin = nn.Linear(2, 2)
    sd = {k: v.astype(np.float64) for k, v in nn.Linear(2, 2).state_dict().items()}
    lin.load_state_dict(sd)
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.numpy(), sd["weight"].astype(np.float32))


def _snapshot(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def test_load_state_dict_strict_errors_change_nothing():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = _snapshot(net)
    good = {k: v + 1 for k, v in before.items()}

    missing = dict(good)
    del missing["0.bias"]
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\], unexpected keys \[\]"):
        net.load_state_dict(missing)

    extra = dict(good, **{"2.weight": np.zeros(1)})
    with pytest.raises(KeyError, match=r"unexpected keys \['2.weight'\]"):
        net.load_state_dict(extra)

    # A bad shape late in the dict: nothing before it may have been written either.
    bad_shape = dict(good, **{"1.running_var": np.ones(4)})
    with pytest.raises(ValueError, match=r"'1.running_var' has shape \(4,\) in the state dict "
                                         r"but \(3,\) in the model"):
        net.load_state_dict(bad_shape)
    with pytest.raises(ValueError, match="has shape"):
        net.load_state_dict(bad_shape, strict=False)  # shapes are checked without strict too

    after = _snapshot(net)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_load_state_dict_non_strict_reports_and_loads_the_rest():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    sd = a.state_dict()
    del sd["bias"]
    sd["other"] = np.zeros(1)
    result = b.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(b.weight.numpy(), a.weight.numpy())


# ------------------------------------------------------------------------ dtype, device
def test_to_float64_casts_parameters_and_floating_buffers_only():
    net = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    assert net.to(np.float64) is net
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net[1].running_mean.dtype == np.float64
    assert net[1].num_batches_tracked.dtype == np.int64
    y = net(cr.randn(4, 2, dtype=np.float64))
    assert y.dtype == np.float64
    net.float()
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.double()[0].weight.dtype == np.float64
    assert nn.Linear(1, 1).to("cpu", np.float64).weight.dtype == np.float64
    assert nn.Linear(1, 1).to(dtype=np.float64).weight.dtype == np.float64


def test_to_rejects_bad_dtypes_and_devices():
    with pytest.raises(TypeError, match="Module.to: expected a floating dtype, got int32"):
        nn.Linear(1, 1).to(np.int32)
    message = "Module.to: device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"
    with pytest.raises(ValueError, match=message):
        nn.Linear(1, 1).to("tpu")
    with pytest.raises(ValueError, match="got 'cuda:one'"):
        nn.Linear(1, 1).to("cuda:one")


# -------------------------------------------------------------------------------- repr
def test_repr_of_a_nested_sequential_looks_like_pytorch():
    model = nn.Sequential(
        nn.Linear(4, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 2), nn.Dropout(0.2)),
        nn.Softmax(dim=1),
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=8, out_features=2, bias=True)\n"
        "    (1): Dropout(p=0.2, inplace=False)\n"
        "  )\n"
        "  (3): Softmax(dim=1)\n"
        ")"
    )
    assert repr(nn.Sequential()) == "Sequential()"


def test_repr_with_extra_repr_and_children():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(1, 1, bias=False)

        def extra_repr(self):
            return "alpha=1"

    assert repr(Custom()) == (
        "Custom(\n  alpha=1\n  (fc): Linear(in_features=1, out_features=1, bias=False)\n)"
    )


def test_forward_must_be_defined():
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(1)


# ---------------------------------------------------------------------------- copying
def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))])
def test_deepcopy_and_pickle_give_an_independent_equal_module(copier):
    net = Net()
    net.first.count[...] = 3
    net(cr.randn(2, 3)).sum().backward()
    net.eval()
    clone = copier(net)
    _assert_same_state(net, clone)
    assert not clone.training
    assert isinstance(clone.first.fc.weight, nn.Parameter) and clone.first.fc.weight.requires_grad
    np.testing.assert_array_equal(clone.bias.grad.numpy(), net.bias.grad.numpy())
    x = cr.randn(3, 3)
    np.testing.assert_array_equal(clone(x).numpy(), net(x).numpy())
    clone.first.fc.weight.data = clone.first.fc.weight.numpy() + 1
    assert not np.array_equal(clone.first.fc.weight.numpy(), net.first.fc.weight.numpy())


def test_deepcopy_keeps_shared_parameters_shared():
    lin = nn.Linear(2, 2)
    clone = copy.deepcopy(nn.Sequential(lin, lin))
    assert clone[0] is clone[1]
    assert len(list(clone.parameters())) == 2


def test_a_copied_model_trains_on_its_own():
    net = nn.Sequential(nn.Linear(2, 2))
    clone = copy.deepcopy(net)
    clone(cr.ones(1, 2)).sum().backward()
    assert net[0].weight.grad is None and clone[0].weight.grad is not None


def test_ordered_dict_sequential_keeps_names():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert re.search(r"\(fc\): Linear", repr(seq))
