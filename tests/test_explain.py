"""chainrule.explain: the backward pass printed step by step, with backward()'s numbers."""

from __future__ import annotations

import io

import numpy as np
import pytest

import chainrule as cr
from chainrule import autodiff
from chainrule.explain import Explanation, format_values


def _logreg(seed: int = 0):
    """The article's example: L = -ln softmax(W x + b)_c."""
    rng = np.random.default_rng(seed)
    W = cr.tensor(rng.normal(size=(3, 4)), dtype=np.float64, requires_grad=True)
    b = cr.tensor(rng.normal(size=3), dtype=np.float64, requires_grad=True)
    x = rng.normal(size=4)
    c = 2

    def f(W, b):
        return -cr.log(cr.softmax(W @ x + b, axis=-1)[c])

    return f, [W, b], x, c


def _mlp(seed: int = 0, dtype=np.float64):
    """A batch through tanh(X W1^T + b1) W2^T + b2 and the fused cross-entropy (the biases are
    broadcast over the batch, so their gradients go through unbroadcast)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(5, 4)).astype(dtype)
    y = np.array([0, 2, 1, 2, 0])
    params = [
        cr.tensor(rng.normal(size=s), dtype=dtype, requires_grad=True)
        for s in [(6, 4), (6,), (3, 6), (3,)]
    ]

    def f(W1, b1, W2, b2):
        h = cr.tanh(X @ W1.T + b1)
        return cr.softmax_cross_entropy(h @ W2.T + b2, y)

    return f, params


def _central_differences(f, params, h=1e-6):
    grads = []
    with cr.no_grad():
        for p in params:
            a = p.data
            g = np.empty_like(a)
            for i in np.ndindex(a.shape):
                v = a[i]
                a[i] = v + h
                up = f(*params).item()
                a[i] = v - h
                down = f(*params).item()
                a[i] = v
                g[i] = (up - down) / (2 * h)
            grads.append(g)
    return grads


@pytest.mark.parametrize("make", [_logreg, _mlp], ids=["logreg", "mlp"])
def test_leaf_gradients_equal_backward_and_finite_differences(make):
    f, params = make()[:2]
    loss = f(*params)
    e = cr.explain(loss, file=io.StringIO())
    assert all(p.grad is None for p in params)  # explain touched no .grad
    assert len(e.leaves) == len(params)
    mine = [e.grad(p) for p in params]
    loss.backward()  # the graph was left usable
    for g, p in zip(mine, params):
        np.testing.assert_array_equal(g, p.grad.numpy())
        assert g.dtype == p.dtype
    for g, numeric in zip(mine, _central_differences(f, params)):
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_logreg_gradient_is_the_articles_formula():
    f, (W, b), x, c = _logreg(1)
    e = cr.explain(f(W, b), file=io.StringIO())
    q = W.numpy() @ x + b.numpy()
    p = np.exp(q - q.max()) / np.exp(q - q.max()).sum()
    delta = p - np.eye(3)[c]
    np.testing.assert_allclose(e.grad(W), np.outer(delta, x), rtol=0, atol=1e-12)
    np.testing.assert_allclose(e.grad(b), delta, rtol=0, atol=1e-12)
    # dL/dp_c = -1/p_c is what the log step receives from the negation... times -1.
    log_step = next(s for s in e.steps if s.op == "log")
    np.testing.assert_allclose(log_step.grads_in[0], -1 / p[c], rtol=1e-14)
    softmax_step = next(s for s in e.steps if s.op == "softmax")
    np.testing.assert_allclose(softmax_step.grads_in[0], delta, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_incoming_gradient_equals_backward_to_that_node(dtype):
    f, params = _mlp(2, dtype)
    loss = f(*params)
    e = cr.explain(loss, file=io.StringIO())
    # Reverse topological order, one step per node, the loss first.
    seqs = [s.node._seq for s in e.steps]
    assert seqs == sorted(seqs, reverse=True) and e.steps[0].node is loss
    assert len(set(seqs)) == len(seqs)
    seed = np.ones_like(loss.numpy())
    for s in e.steps[1:]:
        (want,) = autodiff.backward(loss, seed, retain_graph=True, targets=[s.node])
        np.testing.assert_array_equal(s.grad_out, want)
        assert s.grad_out.dtype == dtype
        for g, p in zip(s.grads_in, autodiff.parents_of(s.node)):
            if p is not None:
                assert g.shape == p.shape and g.dtype == p.dtype
    assert all(p.grad is None for p in params)


def test_steps_record_shapes_and_sources():
    f, (W, b), x, c = _logreg()
    e = cr.explain(f(W, b), file=io.StringIO())
    assert [s.op for s in e.steps] == ["negative", "log", "getitem", "softmax", "add", "matmul"]
    matmul = e.steps[-1]
    assert matmul.out_shape == (3,)
    assert matmul.in_shapes == [(3, 4), (4,)]  # x is shown although it needs no gradient
    assert matmul.grads_in[1] is None and matmul.sources == ["leaf B", None]
    add = e.steps[-2]
    assert add.sources == ["[6]", "leaf A"]
    assert [leaf.label for leaf in e.leaves] == ["leaf A", "leaf B"]
    assert e.leaves[0].tensor is b and e.leaves[1].tensor is W


def test_text_names_each_operation_and_its_formula(capsys):
    f, params = _mlp()
    loss = f(*params)
    e = cr.explain(loss, max_values=4)  # default file: stdout
    printed = capsys.readouterr().out
    assert printed == str(e) + "\n"
    assert isinstance(e, Explanation)
    for s in e.steps:
        assert f"{s.label} {s.op}: out {s.out_shape}" in printed
        assert f"rule: {s.node._prim.formula}" in printed
    for name in ["softmax_cross_entropy", "add", "matmul", "tanh", "transpose"]:
        assert name in printed
    # A (6, 4) gradient exceeds max_values: shape, norm and range instead of values.
    g = e.grad(params[0])
    label = next(leaf.label for leaf in e.leaves if leaf.tensor is params[0])
    assert (
        f"{label} (6, 4): shape (6, 4), norm {np.linalg.norm(g):.5g}, "
        f"min {g.min():.5g}, max {g.max():.5g}"
    ) in printed
    assert printed.count("\n    leaf ") == 4


def test_leaf_used_twice_gets_both_contributions():
    x = cr.tensor([1.0, -2.0, 3.0], dtype=np.float64, requires_grad=True)
    out = io.StringIO()
    e = cr.explain((x * x * 3.0).sum(), file=out)
    np.testing.assert_array_equal(e.grad(x), 6 * x.numpy())
    mul = e.steps[-1]
    np.testing.assert_array_equal(mul.grads_in[0], 3 * x.numpy())  # one contribution each
    assert "leaf A (3,): [6, -12, 18]" in out.getvalue()
    assert x.grad is None


def test_explain_twice_and_after_retained_backward():
    f, params = _mlp(3)
    loss = f(*params)
    loss.backward(retain_graph=True)
    before = [p.grad.numpy().copy() for p in params]
    e1 = cr.explain(loss, file=io.StringIO())
    e2 = cr.explain(loss, file=io.StringIO())
    for p, g in zip(params, before):
        np.testing.assert_array_equal(p.grad.numpy(), g)
        np.testing.assert_array_equal(e1.grad(p), g)
        np.testing.assert_array_equal(e2.grad(p), g)
    assert str(e1) == str(e2)


def test_format_values():
    assert format_values(np.array(2.5)) == "2.5"
    assert format_values(np.array([[1.0, 2.0], [3.0, 4.0]])) == "[[1, 2], [3, 4]]"
    assert format_values(np.arange(7.0)) == "shape (7,), norm 9.5394, min 0, max 6"
    assert format_values(np.arange(7.0), max_values=7) == "[0, 1, 2, 3, 4, 5, 6]"


def test_errors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="explain: expected a Tensor, got ndarray"):
        cr.explain(np.ones(1))
    with pytest.raises(ValueError, match=r"one element, got shape \(2,\)"):
        cr.explain(x * 2)
    with pytest.raises(ValueError, match="the loss is a leaf"):
        cr.explain(cr.tensor(1.0, requires_grad=True))
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(
        RuntimeError, match=r"explain: backward\(\) already ran .*'sum'.*retain_graph=True"
    ):
        cr.explain(loss, file=io.StringIO())
    y = x * 1.0
    loss = (y * y).sum()
    y.data = y.data + 1
    with pytest.raises(RuntimeError, match="modified in place"):
        cr.explain(loss, file=io.StringIO())
