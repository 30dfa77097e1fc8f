"""nn.utils.clip_grad_norm_ and clip_grad_value_: norms against NumPy, in-place scaling as in
PyTorch, non-finite norms, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.nn.utils import clip_grad_norm_, clip_grad_value_


def params_with_grads(grads, dtype=np.float32):
    ps = []
    for g in grads:
        shape = () if g is None else np.shape(g)
        p = cr.nn.Parameter(cr.zeros(shape, dtype=dtype))
        if g is not None:
            p.grad = cr.tensor(np.asarray(g, dtype))
        ps.append(p)
    return ps


def numpy_total_norm(grads, p):
    flat = np.concatenate([np.ravel(g).astype(np.float64) for g in grads if g is not None])
    if p == np.inf:
        return np.abs(flat).max()
    return (np.abs(flat) ** p).sum() ** (1 / p)


GRADS = [[[3.0, -4.0], [0.5, 1.0]], None, [1.0, -2.0, 2.0], 7.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, np.inf, "inf"])
def test_total_norm_and_scaling_match_numpy(norm_type, dtype):
    ps = params_with_grads(GRADS, dtype)
    arrays = [p.grad.numpy() if p.grad is not None else None for p in ps]
    p = float(norm_type)
    expected = numpy_total_norm(GRADS, p)
    total = clip_grad_norm_(ps, max_norm=2.0, norm_type=norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == () and total.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    assert total.item() == pytest.approx(expected, rel=rtol)
    coef = 2.0 / (expected + 1e-6)
    for param, g, arr in zip(ps, GRADS, arrays):
        if g is None:
            assert param.grad is None
            continue
        assert param.grad.numpy() is arr and arr.dtype == dtype  # scaled in place
        np.testing.assert_allclose(arr, np.asarray(g) * coef, rtol=rtol)
    clipped = [q.grad.numpy() for q in ps if q.grad is not None]
    assert numpy_total_norm(clipped, p) == pytest.approx(2.0, rel=1e-5)


def test_small_norms_are_left_alone():
    ps = params_with_grads([[0.3, 0.4], [0.0]])
    before = [p.grad.numpy().copy() for p in ps]
    total = clip_grad_norm_(ps, max_norm=0.5 + 2e-6)
    assert total.item() == pytest.approx(0.5, rel=1e-7)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad.numpy(), b)


def test_single_tensor_generator_and_no_gradients():
    (p,) = params_with_grads([[6.0, 8.0]])
    assert clip_grad_norm_(p, 5.0).item() == 10.0
    np.testing.assert_allclose(p.grad.numpy(), [3.0, 4.0], rtol=1e-6)
    q = cr.nn.Parameter(cr.zeros(2))
    total = clip_grad_norm_((x for x in [q]), 1.0)
    assert total.item() == 0.0 and total.shape == () and q.grad is None


@settings(max_examples=40, deadline=None)
@given(
    shapes=st.lists(st.sampled_from([(), (1,), (3,), (2, 3)]), min_size=1, max_size=4),
    norm_type=st.sampled_from([1.0, 2.0, 3.0, np.inf]),
    max_norm=st.floats(0.01, 10.0),
    seed=st.integers(0, 2**16),
)
def test_clipping_property(shapes, norm_type, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) for s in shapes]
    ps = params_with_grads(grads, np.float64)
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type).item()
    expected = numpy_total_norm(grads, norm_type)
    assert total == pytest.approx(expected, rel=1e-12)
    after = numpy_total_norm([p.grad.numpy() for p in ps], norm_type)
    assert after <= max_norm * (1 + 1e-12)
    scale = min(1.0, max_norm / (expected + 1e-6))
    for p, g in zip(ps, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * scale, rtol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_error_if_nonfinite_raises_before_changing_anything(bad):
    ps = params_with_grads([[1.0, bad], [3.0]])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 .* "
                       "non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(ps[1].grad.numpy(), [3.0])


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nonfinite_norm_spreads_without_the_error_as_in_pytorch():
    ps = params_with_grads([[1.0, np.inf], [3.0]])
    total = clip_grad_norm_(ps, 1.0)
    assert total.item() == np.inf
    # max_norm / inf = 0: finite gradients become 0, the infinite one 0 * inf = NaN.
    np.testing.assert_array_equal(ps[1].grad.numpy(), [0.0])
    assert np.isnan(ps[0].grad.numpy()[1])


def test_clipping_marks_a_recorded_gradient_modified():
    p = cr.nn.Parameter(cr.tensor([3.0, 4.0]))
    (p * p * p).sum().backward(create_graph=True)
    penalty = (p.grad * p.grad).sum()
    clip_grad_norm_([p], 1.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        penalty.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_grad_value(dtype):
    grads = [[-3.0, 0.5, 2.0, np.nan], None, [[0.25, -0.75]]]
    ps = params_with_grads(grads, dtype)
    arr = ps[0].grad.numpy()
    assert clip_grad_value_(ps, 0.5) is None
    assert ps[0].grad.numpy() is arr and arr.dtype == dtype
    np.testing.assert_array_equal(arr, np.clip(np.asarray(grads[0], dtype), -0.5, 0.5))
    assert np.isnan(arr[3])
    assert ps[1].grad is None
    np.testing.assert_array_equal(ps[2].grad.numpy(), [[0.25, -0.5]])
    clip_grad_value_(ps[2], 0)
    np.testing.assert_array_equal(ps[2].grad.numpy(), [[0.0, 0.0]])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=0), ValueError,
         "norm_type must be positive or inf, got 0"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type=-2.0), ValueError, "positive or inf"),
        (lambda ps: clip_grad_norm_(ps, 1.0, norm_type="fro"), ValueError,
         "norm_type must be a number or 'inf'"),
        (lambda ps: clip_grad_norm_(ps, "1"), TypeError, "max_norm must be a real number"),
        (lambda ps: clip_grad_norm_([ps[0], 3.0], 1.0), TypeError, "item 1 is a float"),
        (lambda ps: clip_grad_value_(ps, -1.0), ValueError, "clip_value must be non-negative"),
        (lambda ps: clip_grad_value_(ps, None), TypeError, "clip_value must be a real number"),
        (lambda ps: clip_grad_value_([np.zeros(2)], 1.0), TypeError, "item 0 is a ndarray"),
    ],
)
def test_bad_arguments(call, error, match):
    ps = params_with_grads([[30.0, 40.0]])
    with pytest.raises(error, match=match):
        call(ps)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [30.0, 40.0])
