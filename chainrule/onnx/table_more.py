"""More of :data:`~chainrule.onnx.table.onnx_table`: the primitives that issue 11's first pass
left without a mapping (imported by ``table.py``, which it extends in place).

Each mapping computes what the primitive's forward computes, in the same order of operations
where that matters for rounding:

* elementwise: ``arctan2`` (Atan of the quotient, corrected by quadrant), ``copysign``
  (the sign bit of ``y`` read as ``y < 0 or 1 / y < 0``, so ``-0.0`` counts), ``floor_divide``
  (NumPy's ``divmod`` rounding), ``trunc_divide`` (integer operands never require grad, so
  only float divisions are ever recorded);
* scans along a fixed axis: ``cumprod``, ``cummax``, ``cummin`` as one running Mul/Max/Min
  per position (left to right, as NumPy), ``logcumsumexp`` as NumPy's running logaddexp (up to
  :data:`LOGCUMSUMEXP_STEPS` elements; beyond, ``m + log(cumsum(exp(x - m)))`` with ``m`` the
  slice's maximum);
* order statistics: ``kthvalue``, ``median`` (the lower median), ``quantile`` (every
  interpolation) through TopK's sorted values (median and quantile of a slice holding NaN are
  NaN, as chainrule's);
* diagonals: ``diagonal``, ``trace``, ``diag`` as Gathers at the diagonal's flat positions;
  ``kron`` (interleaved Unsqueeze, Mul, Reshape), ``cross``, ``det`` (ONNX Det);
* writes: ``scatter``, ``put_along_axis``, ``scatter_reduce`` (sum/prod/mean; amax/amin need
  opset 18), ``index_add``, the NumPy-index ``scatter_add`` as ScatterElements;
  ``masked_select`` as Compress; ``max_unpool2d`` as MaxUnpool on the indices of the
  MaxPool that produced them;
* losses (a forward may end in one): ``softmax_cross_entropy``, ``label_cross_entropy``,
  ``label_nll``, ``soft_cross_entropy``, ``sigmoid_cross_entropy``, ``binary_cross_entropy``,
  their mean's divisor computed from the batch size at run time (per-row weights read from
  the labels, i.e. class weights or ignore_index, are refused);
* distributed: ``replicated`` is the identity; ``all_reduce`` and ``sum_replicated`` are too
  in a group of one (a traced sum over several ranks is refused).

An index, mask or label array is a graph input of the export (an int64/bool input of the
model), or a constant that is the same in both traces; one computed from the input by an
operation with no gradient cannot be frozen into the file, and the export stops naming the
primitive.

Deliberately unmapped (:data:`UNMAPPED` with the reason; ``unmapped()`` returns exactly
these): the linear algebra that the standard ONNX domain has no operator for, and the
backward-only primitives, which a traced forward never records.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .graph import Call, ExportError, Mapping, _same, onnx_dtype
from .table import onnx_table

__all__ = ["UNMAPPED", "BACKWARD_ONLY", "NO_ONNX_OPERATOR"]

#: Primitives that only a backward pass records (the gradient of a forward primitive): a traced
#: forward never contains them, so they need no mapping (a forward that differentiates inside
#: itself, calling ``cr.grad``, is refused with the primitive named).
BACKWARD_ONLY: dict[str, str] = {
    "reverse_cumsum": "the gradient of cumsum",
    "conv2d_weight_grad": "the gradient of conv2d with respect to its weight",
    "max_pool2d_backward": "the gradient of max_pool2d",
    "max_pool2d_gather": "the gradient of max_pool2d_backward",
    "avg_pool2d_backward": "the gradient of avg_pool2d",
    "max_unpool2d_backward": "the gradient of max_unpool2d",
}

#: Forward primitives with no exact ONNX (opset 17, default and ai.onnx.ml domains) form.
NO_ONNX_OPERATOR: dict[str, str] = {
    "inv": "no Inverse operator in the standard domain (only com.microsoft's)",
    "solve": "no linear solve operator in the standard domain",
    "cholesky": "no Cholesky operator in the standard domain",
    "qr": "no QR operator in the standard domain",
    "svd": "no SVD operator in the standard domain",
    "eigh": "no eigendecomposition operator in the standard domain",
    "pinv": "no pseudo-inverse (it needs an SVD)",
    "slogdet": "log|Det| overflows float32 where slogdet does not (no LU operator to sum logs)",
}

#: Everything without a mapping, with the reason: what ``chainrule.onnx.unmapped()`` returns.
UNMAPPED: dict[str, str] = {**BACKWARD_ONLY, **NO_ONNX_OPERATOR}


def _scalar(c: Call, v: float, dtype: Any = None) -> str:
    return c.b.const(np.asarray(v, dtype=dtype or c.out.dtype))


def _i64(c: Call, v: int) -> str:
    return c.b.const(np.asarray(v, dtype=np.int64))


def _static_axis(c: Call, axis: int, what: str) -> int:
    """The length of argument 0 along ``axis``, which must not be the batch axis."""
    n, n2 = c.args[0].shape[axis], c.twin[0].shape[axis]
    if n != n2:
        raise c.error(f"{what} along the batch axis cannot be exported with a dynamic batch")
    return int(n)


def _flatten_static(c: Call, what: str) -> str:
    if c.args[0].shape != c.twin[0].shape:
        raise c.error(f"{what} of the flattened array cannot be exported with a dynamic batch")
    return c.node("Reshape", [c.value(0), c.b.ints([-1])])


def _array(c: Call, a: Any, a2: Any, what: str, dtype: Any = np.int64) -> str:
    """The ONNX name of an index/mask/label array ``a`` (``a2`` in the twin trace): a graph
    input (or a reshaped view of one), or a constant that is the same in both traces."""
    name = None
    for iname, t1, t2 in c.ex.inputs:
        d1, d2 = t1._data, t2._data
        if a is d1 and a2 is d2:
            name = iname
        elif (
            isinstance(a, np.ndarray)
            and a.base is not None
            and a.base is d1
            and isinstance(a2, np.ndarray)
            and a2.base is d2
            and a.size == d1.size
            and a2.size == d2.size
            and np.array_equal(a, d1.reshape(a.shape))
            and np.array_equal(a2, d2.reshape(a2.shape))
        ):  # a reshaped view of the input (equal values read in order, not a transpose)
            name = c.node("Reshape", [iname, c.ex.dynamic_ints(a.shape, a2.shape)])
        if name is not None:
            break
    if name is None:
        if not _same(np.asarray(a), np.asarray(a2)):
            raise c.error(
                f"the {what} is an array computed from the input by an operation with no "
                "gradient (or a constant sized by the batch), so it cannot be frozen into the "
                "file; pass it to the model as an input of its own"
            )
        return c.b.const(np.asarray(a, dtype=dtype))
    if np.asarray(a).dtype != np.dtype(dtype):
        name = c.node("Cast", [name], to=onnx_dtype(dtype))
    return name


# ---------------------------------------------------------------------------- elementwise
def _arctan2(c: Call) -> str:  # NumPy's order: arctan2(x, y) is the angle of the point (y, x)
    dt = c.out.dtype
    a, b = c.value(0, dt), c.value(1, dt)
    zero = _scalar(c, 0)
    base = c.node("Atan", [c.node("Div", [a, b])])
    turn = c.node("Where", [_negative_signbit(c, a), _scalar(c, -math.pi), _scalar(c, math.pi)])
    y = c.node("Where", [c.node("Less", [b, zero]), c.node("Add", [base, turn]), base])
    # b = +-0: a / b is +-inf with the sign of b, but the angle is +-pi/2 by the sign of a
    half = c.node("Mul", [c.node("Sign", [a]), _scalar(c, 0.5 * math.pi)])
    y = c.node("Where", [c.node("Equal", [b, zero]), half, y])
    # at the origin: atan2(+-0, +0) = +-0 and atan2(+-0, -0) = +-pi
    origin = c.node("And", [c.node("Equal", [a, zero]), c.node("Equal", [b, zero])])
    y = c.node("Where", [origin, c.node("Where", [_negative_signbit(c, b), turn, a]), y])
    # both infinite (inf / inf is NaN): +-pi/4, or +-3 pi/4 for b = -inf
    corner = c.node("Where", [c.node("Less", [b, zero]), _scalar(c, 0.75 * math.pi),
                              _scalar(c, 0.25 * math.pi)])  # fmt: skip
    corner = c.node("Mul", [corner, c.node("Sign", [a])])
    both = c.node("And", [c.node("IsInf", [a]), c.node("IsInf", [b])])
    return c.node("Where", [both, corner, y])


def _negative_signbit(c: Call, y: str) -> str:
    """``y < 0``, ``-0.0`` included (``1 / -0.0 = -inf``); ``-inf`` by the first test."""
    zero = _scalar(c, 0)
    return c.node("Or", [c.node("Less", [y, zero]),
                         c.node("Less", [c.node("Div", [_scalar(c, 1), y]), zero])])  # fmt: skip


def _copysign(c: Call) -> str:
    dt = c.out.dtype
    mag = c.node("Abs", [c.value(0, dt)])
    return c.node("Where", [_negative_signbit(c, c.value(1, dt)), c.node("Neg", [mag]), mag])


def _floor_divide(c: Call) -> str:
    dt = c.out.dtype
    x, y = c.value(0, dt), c.value(1, dt)
    # NumPy's npy_divmod: mod = fmod(x, y); div = (x - mod) / y, one less where mod and y
    # differ in sign; then the floor, rounded up where div is more than half above it.
    zero = _scalar(c, 0)
    mod = c.node("Mod", [x, y], fmod=1)
    div = c.node("Div", [c.node("Sub", [x, mod]), y])
    differ = c.node("Xor", [c.node("Less", [y, zero]), c.node("Less", [mod, zero])])
    fix = c.node("And", [c.node("Not", [c.node("Equal", [mod, zero])]), differ])
    div = c.node("Sub", [div, c.node("Cast", [fix], to=onnx_dtype(dt))])
    fl = c.node("Floor", [div])
    up = c.node("Greater", [c.node("Sub", [div, fl]), _scalar(c, 0.5)])
    fl = c.node("Add", [fl, c.node("Cast", [up], to=onnx_dtype(dt))])
    # where y is 0, NumPy gives x / y (inf, or nan for 0 / 0); elsewhere the rounded quotient
    return c.node("Where", [c.node("Equal", [y, zero]), c.node("Div", [x, y]), fl])


def _trunc_divide(c: Call) -> str:
    dt = c.out.dtype
    x, y = c.value(0, dt), c.value(1, dt)
    q = c.node("Div", [x, y])
    return c.node("Mul", [c.node("Sign", [q]), c.node("Floor", [c.node("Abs", [q])])])


onnx_table.update({
    "arctan2": _arctan2, "copysign": _copysign, "floor_divide": _floor_divide,
    "trunc_divide": _trunc_divide,
})  # fmt: skip


# ---------------------------------------------------------------------------------- scans
def _running(c: Call, x: str, axis: int, n: int, op: str) -> str:
    """``op`` (Mul, Max, Min) accumulated left to right along ``axis`` of length ``n``."""
    if n <= 1:
        return c.node("Identity", [x])
    ax = c.b.ints([axis])
    acc = c.node("Slice", [x, c.b.ints([0]), c.b.ints([1]), ax])
    parts = [acc]
    for j in range(1, n):
        acc = c.node(op, [acc, c.node("Slice", [x, c.b.ints([j]), c.b.ints([j + 1]), ax])])
        parts.append(acc)
    return c.node("Concat", parts, axis=axis)


def _scan_input(c: Call, axis: Any, what: str) -> tuple[str, int, int]:
    if axis is None:
        return _flatten_static(c, what), 0, int(c.args[0].size)
    axis = int(axis) % c.args[0].ndim
    return c.value(0, c.out.dtype), axis, _static_axis(c, axis, what)


def _cumprod(c: Call) -> str:  # (x, axis)
    x, axis, n = _scan_input(c, c.static(1), "cumprod")
    return _running(c, x, axis, n, "Mul")


#: Up to this length logcumsumexp is NumPy's own left-to-right logaddexp, one step per
#: element; longer axes use the shifted CumSum (where an element more than ~87 (float32)
#: below its slice's maximum underflows to exp(...) = 0).
LOGCUMSUMEXP_STEPS = 64


def _logaddexp_of(c: Call, a: str, b: str) -> str:
    """NumPy's logaddexp: max + log(1 + exp(-|a - b|)); a + log 2 where a == b (infinities)."""
    tail = c.node("Exp", [c.node("Neg", [c.node("Abs", [c.node("Sub", [a, b])])])])
    v = c.node(
        "Add", [c.node("Max", [a, b]), c.node("Log", [c.node("Add", [tail, _scalar(c, 1)])])]
    )
    return c.node(
        "Where", [c.node("Equal", [a, b]), c.node("Add", [a, _scalar(c, math.log(2))]), v]
    )


def _logcumsumexp(c: Call) -> str:  # (x, axis)
    x, axis, n = _scan_input(c, c.static(1), "logcumsumexp")
    if n <= LOGCUMSUMEXP_STEPS:
        ax = c.b.ints([axis])
        acc = c.node("Slice", [x, c.b.ints([0]), c.b.ints([1]), ax])
        parts = [acc]
        for j in range(1, n):
            xj = c.node("Slice", [x, c.b.ints([j]), c.b.ints([j + 1]), ax])
            acc = _logaddexp_of(c, acc, xj)
            parts.append(acc)
        return parts[0] if n == 1 else c.node("Concat", parts, axis=axis)
    m = c.b.reduce("ReduceMax", x, [axis], True)
    finite = c.node("Not", [c.node("IsInf", [m])])
    m = c.node("Where", [finite, m, _scalar(c, 0)])  # an all -inf slice stays -inf
    s = c.node("CumSum", [c.node("Exp", [c.node("Sub", [x, m])]), _i64(c, axis)])
    return c.node("Add", [c.node("Log", [s]), m])


def _pick_axis(c: Call, parts: Any, parts2: Any) -> int:
    """The axis of an open-mesh index tuple (``_along_index``) that holds the user's index:
    the part that is not the plain ``arange`` of its own axis in either trace (when every part
    is one, any axis reads the same elements)."""

    def is_mesh(p: Any, axis: int) -> bool:
        p = np.asarray(p)
        if p.ndim != len(parts) or any(s != 1 for i, s in enumerate(p.shape) if i != axis):
            return False
        return bool(np.array_equal(p.reshape(-1), np.arange(p.size)))

    for axis, (p, p2) in enumerate(zip(parts, parts2, strict=True)):
        if not (is_mesh(p, axis) and is_mesh(p2, axis)):
            return axis
    return 0


def _cummax(op: str) -> Mapping:
    def emit(c: Call) -> str:  # (x, open-mesh index): the running extreme's source
        axis = _pick_axis(c, c.args[1], c.twin[1])
        return _running(c, c.value(0), axis, _static_axis(c, axis, op), op)

    return emit


onnx_table.update({
    "cumprod": _cumprod, "logcumsumexp": _logcumsumexp, "cummax": _cummax("Max"),
    "cummin": _cummax("Min"),
})  # fmt: skip


# ----------------------------------------------------------------------- order statistics
def _kth_smallest(c: Call, x: str, axis: int, k: int) -> str:
    """The ``k``-th smallest (from 1) along ``axis``, the axis kept with length 1."""
    values, _ = c.node("TopK", [x, c.b.ints([k])], outputs=2, axis=axis, largest=0, sorted=1)
    return c.node("Slice", [values, c.b.ints([k - 1]), c.b.ints([k]), c.b.ints([axis])])


def _kthvalue(c: Call) -> str:  # (x, open-mesh index; the axis dropped unless keepdim)
    x = c.args[0]
    keep = c.out.ndim == x.ndim
    parts, parts2 = c.args[1], c.twin[1]
    axis = _pick_axis(c, parts, parts2) if keep else _kth_axis_dropped(c)
    n = _static_axis(c, axis, "kthvalue")
    k = _find_k(c, axis, n, keep)
    y = _kth_smallest(c, c.value(0), axis, k)
    return y if keep else c.node("Squeeze", [y, c.b.ints([axis])])


def _kth_axis_dropped(c: Call) -> int:
    """The reduced axis of a kthvalue without keepdim: the one whose k-th values match."""
    x = c.args[0]
    for axis in range(x.ndim):
        if tuple(np.delete(x.shape, axis)) != c.out.shape:
            continue
        try:
            _find_k(c, axis, x.shape[axis], False)
        except ExportError:  # not this axis
            continue
        return axis
    raise c.error("cannot tell the axis of the k-th value")


def _find_k(c: Call, axis: int, n: int, keep: bool) -> int:
    """The ``k`` whose k-th smallest values are the recorded ones, in both traces."""
    sorted1 = np.sort(c.args[0], axis=axis)
    sorted2 = np.sort(c.twin[0], axis=axis)
    for k in range(1, n + 1):
        ok = True
        for s, out in ((sorted1, c.out), (sorted2, c.out_twin)):
            v = np.take(s, [k - 1], axis=axis)
            v = v if keep else np.squeeze(v, axis)
            if v.shape != out.shape or not np.array_equal(v, out, equal_nan=True):
                ok = False
                break
        if ok:
            return k
    raise c.error("the recorded values are not the k-th smallest for any k")


def _with_nan(c: Call, x: str, y: str, axis: int | None, keep: bool) -> str:
    """``y`` with NaN where the slice of ``x`` along ``axis`` holds a NaN (torch.median)."""
    if c.out.dtype.kind != "f":
        return y
    has = c.node("Cast", [c.node("IsNaN", [x])], to=onnx_dtype(np.float32))
    has = c.b.reduce("ReduceMax", has, [axis if axis is not None else 0], keep)
    if axis is None:
        has = c.node("Reshape", [has, c.b.ints([])])
    flag = c.node("Greater", [has, _scalar(c, 0, np.float32)])
    return c.node("Where", [flag, _scalar(c, np.nan), y])


def _median(c: Call) -> str:  # (x, axis or None, keepdims, index)
    axis, keep = c.static(1), bool(c.static(2))
    if axis is None:
        x = _flatten_static(c, "median")
        n = int(c.args[0].size)
        y = _kth_smallest(c, x, 0, (n - 1) // 2 + 1)
        return _with_nan(c, x, c.node("Reshape", [y, c.b.ints([])]), None, False)
    axis = int(axis)
    n = _static_axis(c, axis, "median")
    x = c.value(0)
    y = _kth_smallest(c, x, axis, (n - 1) // 2 + 1)
    y = y if keep else c.node("Squeeze", [y, c.b.ints([axis])])
    return _with_nan(c, x, y, axis, keep)


def _quantile(c: Call) -> str:  # (x, qs, axis, keepdims, method, scalar, w)
    qs, axis, keep = np.asarray(c.static(1)), c.static(2), bool(c.static(3))
    method, scalar = c.static(4), bool(c.static(5))
    ndim = c.args[0].ndim
    if axis is None:
        x, ax, n = _flatten_static(c, "quantile"), 0, int(c.args[0].size)
    else:
        x, ax = c.value(0), int(axis)
        n = _static_axis(c, ax, "quantile")
    srt, _ = c.node("TopK", [x, c.b.ints([n])], outputs=2, axis=ax, largest=0, sorted=1)
    outs = []
    for q in qs:
        pos = float(np.quantile(np.arange(n, dtype=np.float64), q, method=method))
        lo = int(math.floor(pos))
        hi = lo + 1 if lo + 1 < n else lo
        t = pos - lo
        a = c.node("Gather", [srt, c.b.ints([lo])], axis=ax)
        if t:  # NumPy's _lerp: a + (b - a) t, or b - (b - a) (1 - t) from t = 0.5 on
            b = c.node("Gather", [srt, c.b.ints([hi])], axis=ax)
            d = c.node("Sub", [b, a])
            if t >= 0.5:
                a = c.node("Sub", [b, c.node("Mul", [d, _scalar(c, 1 - t)])])
            else:
                a = c.node("Add", [a, c.node("Mul", [d, _scalar(c, t)])])
        if axis is None:
            a = c.node("Reshape", [a, c.b.ints([1] * ndim if keep else [])])
        elif not keep:
            a = c.node("Squeeze", [a, c.b.ints([ax])])
        outs.append(_with_nan(c, x, a, None if axis is None else ax, keep))
    if scalar:
        return outs[0]
    return c.node("Concat", [c.node("Unsqueeze", [o, c.b.ints([0])]) for o in outs], axis=0)


onnx_table.update({"kthvalue": _kthvalue, "median": _median, "quantile": _quantile})


# ------------------------------------------------------------------------------ diagonals
def _diagonal_of(c: Call, x: str, shape: tuple[int, ...], offset: int, a1: int, a2: int) -> str:
    """NumPy's diagonal: axes a1, a2 removed, the diagonal last."""
    nd = len(shape)
    a1, a2 = a1 % nd, a2 % nd
    if shape[a1] != c.twin[0].shape[a1] or shape[a2] != c.twin[0].shape[a2]:
        raise c.error("a diagonal across the batch axis cannot be exported with a dynamic batch")
    rest = [i for i in range(nd) if i not in (a1, a2)]
    n1, n2 = shape[a1], shape[a2]
    y = c.node("Transpose", [x], perm=rest + [a1, a2])
    y = c.node("Reshape", [y, c.b.ints([0] * len(rest) + [n1 * n2])])
    length = max(0, min(n1 + min(offset, 0), n2 - max(offset, 0)))
    rows = np.arange(length) + max(-offset, 0)
    cols = np.arange(length) + max(offset, 0)
    return c.node("Gather", [y, c.b.const((rows * n2 + cols).astype(np.int64))], axis=len(rest))


def _diagonal(c: Call) -> str:  # (x, offset, a1, a2)
    offset, a1, a2 = (int(c.static(i)) for i in (1, 2, 3))
    return _diagonal_of(c, c.value(0), c.args[0].shape, offset, a1, a2)


def _trace(c: Call) -> str:  # (x, offset, a1, a2)
    offset, a1, a2 = (int(c.static(i)) for i in (1, 2, 3))
    d = _diagonal_of(c, c.value(0), c.args[0].shape, offset, a1, a2)
    return c.b.reduce("ReduceSum", d, [c.args[0].ndim - 2], False)


def _diag(c: Call) -> str:  # (v 1-d, k): a square matrix with v on diagonal k
    k = int(c.static(1))
    n = _static_axis(c, 0, "diag")
    size = n + abs(k)
    index = np.zeros((size, size), dtype=np.int64)  # 0 reads the padding zero
    i = np.arange(n)
    index[i + max(-k, 0), i + max(k, 0)] = i + 1
    padded = c.node("Concat", [c.b.const(np.zeros(1, c.out.dtype)), c.value(0)], axis=0)
    return c.node("Gather", [padded, c.b.const(index)], axis=0)


def _kron(c: Call) -> str:  # (a, b): out[i * nb + k] = a[i] b[k] on every axis
    dt = c.out.dtype
    a, b = c.value(0, dt), c.value(1, dt)
    na, nb = c.args[0].ndim, c.args[1].ndim
    nd = max(na, nb)
    if na < nd:
        a = c.node("Unsqueeze", [a, c.b.ints(range(nd - na))])
    if nb < nd:
        b = c.node("Unsqueeze", [b, c.b.ints(range(nd - nb))])
    a = c.node("Unsqueeze", [a, c.b.ints(range(1, 2 * nd, 2))])  # (a0, 1, a1, 1, ...)
    b = c.node("Unsqueeze", [b, c.b.ints(range(0, 2 * nd, 2))])  # (1, b0, 1, b1, ...)
    prod = c.node("Mul", [a, b])
    return c.node("Reshape", [prod, c.ex.dynamic_ints(c.out.shape, c.out_twin.shape)])


def _cross(c: Call) -> str:  # (a, b, axis < 0)
    dt = c.out.dtype
    axis = int(c.static(2))
    a, b = c.value(0, dt), c.value(1, dt)

    def comp(x: str, i: int) -> str:
        return c.node("Gather", [x, c.b.ints([i])], axis=axis)

    def term(i: int, j: int) -> str:  # a_i b_j - a_j b_i
        return c.node("Sub", [c.node("Mul", [comp(a, i), comp(b, j)]),
                              c.node("Mul", [comp(a, j), comp(b, i)])])  # fmt: skip

    return c.node("Concat", [term(1, 2), term(2, 0), term(0, 1)], axis=axis)


onnx_table.update({
    "diagonal": _diagonal, "trace": _trace, "diag": _diag, "kron": _kron, "cross": _cross,
    "det": lambda c: c.node("Det", [c.value(0)]),
})  # fmt: skip


# ----------------------------------------------------------------------------------- writes
def _mesh_index(c: Call, i: int) -> tuple[int, str]:
    """(axis, int64 index) of argument ``i``, an open-mesh index tuple (``_along_index``)."""
    parts, parts2 = c.args[i], c.twin[i]
    axis = _pick_axis(c, parts, parts2)
    return axis, _array(c, parts[axis], parts2[axis], "index")


def _updates(c: Call, i: int, index: str) -> str:
    """Argument ``i`` (src/values) in the output dtype, broadcast to the index's shape."""
    return c.node("Expand", [c.value(i, c.out.dtype), c.node("Shape", [index])])


def _scatter(c: Call) -> str:  # scatter and put_along_axis: (x, src, full index)
    axis, index = _mesh_index(c, 2)
    return c.node("ScatterElements", [c.value(0), index, _updates(c, 1, index)], axis=axis,
                  reduction="none")  # fmt: skip


def _written(c: Call, index: str, axis: int) -> str:
    """Booleans of x's shape, true where ``index`` writes."""
    zeros = c.node("ConstantOfShape", [c.node("Shape", [c.value(0)])])  # float32 zeros
    ones = c.node("ConstantOfShape", [c.node("Shape", [index])],
                  value=_tensor_attr(np.ones(1, np.float32)))  # fmt: skip
    hit = c.node("ScatterElements", [zeros, index, ones], axis=axis)
    return c.node("Greater", [hit, c.b.const(np.asarray(0, np.float32))])


def _tensor_attr(a: np.ndarray) -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(a)


_REDUCTION = {"sum": "add", "prod": "mul", "amax": "max", "amin": "min", "mean": "add"}


def _scatter_reduce(c: Call) -> str:  # (x, src, full index, reduce, include_self)
    reduce, include_self = c.static(3), bool(c.static(4))
    dt = c.out.dtype
    if dt.kind != "f":
        raise c.error(f"scatter_reduce of {dt} values (only floating point is recorded)")
    if reduce in ("amax", "amin") and c.b.opset < 18:
        raise c.error(f"scatter_reduce {reduce!r} needs ScatterElements' max/min: opset >= 18")
    axis, index = _mesh_index(c, 2)
    x, src = c.value(0), _updates(c, 1, index)
    written = None if include_self else _written(c, index, axis)
    base = x
    if written is not None:
        fill = {"sum": 0.0, "mean": 0.0, "prod": 1.0, "amax": -np.inf, "amin": np.inf}[reduce]
        base = c.node("Where", [written, _scalar(c, fill), x])
    out = c.node("ScatterElements", [base, index, src], axis=axis, reduction=_REDUCTION[reduce])
    if reduce != "mean":
        return out
    one = c.node("ConstantOfShape", [c.node("Shape", [index])],
                 value=_tensor_attr(np.ones(1, dt)))  # fmt: skip
    start = c.node("ConstantOfShape", [c.node("Shape", [x])], value=_tensor_attr(np.ones(1, dt)))
    if written is not None:
        start = c.node("Where", [written, _scalar(c, 0), start])
    count = c.node("ScatterElements", [start, index, one], axis=axis, reduction="add")
    return c.node("Div", [out, count])


def _index_add(c: Call) -> str:  # (x, src, (slice(None),) * d + (index,), alpha)
    full, alpha = c.args[2], c.static(3)
    axis = len(full) - 1
    nd = c.args[0].ndim
    index = _array(c, full[-1], c.twin[2][-1], "index")
    src = c.value(1, c.out.dtype)
    if alpha != 1:
        src = c.node("Mul", [src, _scalar(c, alpha)])
    shaped = [1] * nd
    shaped[axis] = -1
    index = c.node("Reshape", [index, c.b.ints(shaped)])
    index = c.node("Expand", [index, c.node("Shape", [src])])
    return c.node("ScatterElements", [c.value(0), index, src], axis=axis, reduction="add")


def _scatter_add_at(c: Call) -> str:  # (values, NumPy index, shape): zeros with values added
    shape, shape2 = c.args[2], c.twin[2]
    if tuple(shape) != tuple(shape2):
        raise c.error("scatter_add into a shape sized by the batch needs dynamic_batch=False")
    index = c.args[1]
    if not _same(index, c.twin[1]):
        raise c.error(
            "the index is computed from the input by an operation with no gradient, so it "
            "cannot be frozen into the file"
        )
    size = int(np.prod(shape))
    pos = np.arange(size, dtype=np.int64).reshape(shape)[index]
    values = c.value(0, c.out.dtype)
    values = c.node("Expand", [values, c.b.ints(pos.shape)])
    zeros = c.b.const(np.zeros(size, c.out.dtype))
    out = c.node("ScatterElements", [zeros, c.b.const(pos.reshape(-1)),
                                     c.node("Reshape", [values, c.b.ints([-1])])],
                 axis=0, reduction="add")  # fmt: skip
    return c.node("Reshape", [out, c.b.ints(shape)])


def _masked_select(c: Call) -> str:  # (x, mask, broadcast shape): a 1-d result
    shape = c.ex.dynamic_ints(c.args[2], c.twin[2])
    mask = _array(c, c.args[1], c.twin[1], "mask", dtype=np.bool_)
    x = c.node("Reshape", [c.node("Expand", [c.value(0), shape]), c.b.ints([-1])])
    mask = c.node("Reshape", [c.node("Expand", [mask, shape]), c.b.ints([-1])])
    return c.node("Compress", [x, mask], axis=0)


onnx_table.update({
    "scatter": _scatter, "put_along_axis": _scatter, "scatter_reduce": _scatter_reduce,
    "index_add": _index_add, "scatter_add": _scatter_add_at, "masked_select": _masked_select,
})  # fmt: skip


# ----------------------------------------------------------------------------- max_unpool2d
_max_pool2d_alone = onnx_table["max_pool2d"]


def _max_pool2d(c: Call) -> str:
    """max_pool2d as before, noting the call so that a max_unpool2d of its indices finds it."""
    name = _max_pool2d_alone(c)
    c.ex.__dict__.setdefault("max_pools", []).append((c.value(0), c.args, c.twin))
    return name


def _plane_indices(flat: np.ndarray, x_shape: tuple[int, ...], plane: int) -> np.ndarray:
    """max_unpool2d's flat positions back to positions in each (H, W) plane."""
    n, ch = x_shape[:2]
    rows = flat.reshape(n * ch, -1) - (np.arange(n * ch, dtype=np.int64) * plane)[:, None]
    return rows.reshape(x_shape)


def _max_unpool2d(c: Call) -> str:  # (x, flat positions, kept writes, output shape)
    from ..ops.conv import _flat_indices

    shape, shape2 = c.args[3], c.twin[3]
    plane, plane2 = int(np.prod(shape[2:])), int(np.prod(shape2[2:]))
    idx = _plane_indices(c.args[1], c.args[0].shape, plane)
    idx2 = _plane_indices(c.twin[1], c.twin[0].shape, plane2)
    for pool_in, args, twin in getattr(c.ex, "max_pools", ()):
        (xd, arg, cfg), (xd2, arg2, cfg2) = args[:3], twin[:3]
        if tuple(xd.shape[2:]) != tuple(shape[2:]) or tuple(xd2.shape[2:]) != tuple(shape2[2:]):
            continue  # ONNX's indices count in the pooled input: its planes must be these
        if not (
            _same(_flat_indices(np, arg, cfg, xd.shape[3]), idx)
            and _same(_flat_indices(np, arg2, cfg2, xd2.shape[3]), idx2)
        ):
            continue
        kernel, stride, pads, dil, _ = cfg
        (pt, pb), (pl, pr) = pads
        _, indices = c.node("MaxPool", [pool_in], outputs=2, kernel_shape=list(kernel),
                            strides=list(stride), pads=[int(pt), int(pl), int(pb), int(pr)],
                            dilations=list(dil))  # fmt: skip
        return c.node("MaxUnpool", [c.value(0), indices, c.node("Shape", [pool_in])],
                      kernel_shape=list(kernel), strides=list(stride),
                      pads=[int(pt), int(pl), int(pb), int(pr)])  # fmt: skip
    if not _same(c.args[1], c.twin[1]):
        raise c.error(
            "the indices are not those of a max_pool2d(return_indices=True) in the same "
            "model, and they change with the input, so they cannot be frozen into the file"
        )
    indices = c.b.const(np.asarray(c.args[1], np.int64).reshape(c.args[0].shape))
    kernel = [1, 1]  # (the output shape is given: MaxUnpool's kernel only sizes a default)
    return c.node("MaxUnpool", [c.value(0), indices, c.b.ints(shape)], kernel_shape=kernel)


onnx_table.update({"max_pool2d": _max_pool2d, "max_unpool2d": _max_unpool2d})


# ----------------------------------------------------------------------------------- losses
def _denom(c: Call, i: int) -> str | None:
    """The divisor of a reduced loss (argument ``i``): None (per-row losses), a constant, or
    the batch-sized count (rows, or elements) computed from the batch at run time."""
    d, d2 = c.args[i], c.twin[i]
    if d is None:
        return None
    if _same(d, d2):
        return _scalar(c, float(d))
    if not all(isinstance(v, (int, np.integer)) for v in (d, d2)):
        raise c.error(
            "the mean's divisor is a sum of per-row weights computed from the labels (class "
            "weights or ignore_index), which cannot be frozen into the file; export with "
            "reduction='sum' or 'none'"
        )
    count = c.ex.dynamic_ints([int(d)], [int(d2)])
    count = c.node("Cast", [c.node("Reshape", [count, c.b.ints([])])], to=onnx_dtype(c.out.dtype))
    return count


def _total(c: Call, loss: str, ndim: int, denom: str | None) -> str:
    """``loss`` summed and divided by ``denom``, or as it is when there is no divisor."""
    if denom is None:
        return loss
    return c.node("Div", [c.b.reduce("ReduceSum", loss, range(ndim), False), denom])


def _optional(c: Call, i: int) -> str | None:
    """Weight argument ``i`` of a loss, or None; per-row weights read from the labels (class
    weights, ignore_index) change with the input and are refused."""
    if c.args[i] is None:
        return None
    try:
        return c.value(i, c.out.dtype)
    except ExportError:
        raise c.error(
            "its per-row weights are computed from the labels (class weights or ignore_index), "
            "which cannot be frozen into the file; export the model without the weighted loss"
        ) from None


def _shifted(c: Call, q: str) -> tuple[str, str]:
    """(z, lse): logits less their row maximum, and log sum exp z per row (kept dims)."""
    z = c.node("Sub", [q, c.b.reduce("ReduceMax", q, [1], True)])
    lse = c.node("Log", [c.b.reduce("ReduceSum", c.node("Exp", [z]), [1], True)])
    return z, lse


def _at_labels(c: Call, z: str) -> str:
    """``z[i, labels[i]]`` (kept dims), the labels argument 1."""
    y = c.node("Unsqueeze", [_array(c, c.args[1], c.twin[1], "labels"), c.b.ints([1])])
    return c.node("GatherElements", [z, y], axis=1)


def _softmax_cross_entropy(c: Call) -> str:  # (logits, labels, n): mean of lse - z[y]
    z, lse = _shifted(c, c.value(0))
    loss = c.node("Sub", [lse, _at_labels(c, z)])
    return _total(c, loss, 2, _denom(c, 2))


def _label_cross_entropy(c: Call) -> str:  # (logits, labels, a, b, v, denom, p)
    z, lse = _shifted(c, c.value(0))
    loss = c.node("Squeeze", [c.node("Sub", [lse, _at_labels(c, z)]), c.b.ints([1])])
    a, b, v = _optional(c, 2), _optional(c, 3), _optional(c, 4)
    lse = c.node("Squeeze", [lse, c.b.ints([1])])
    if a is not None:
        loss = c.node("Mul", [loss, a])
    if b is not None:  # + b sum_c v_c (lse - z_c), v = ones when None
        if v is None:
            n_classes = _scalar(c, float(c.args[0].shape[1]))
            smooth = c.node("Sub", [c.node("Mul", [lse, n_classes]),
                                    c.b.reduce("ReduceSum", z, [1], False)])  # fmt: skip
        else:
            vsum = c.b.reduce("ReduceSum", v, [0], False)
            smooth = c.node("Sub", [c.node("Mul", [lse, vsum]), c.node("MatMul", [z, v])])
        loss = c.node("Add", [loss, c.node("Mul", [b, smooth])])
    return _total(c, loss, 1, _denom(c, 5))


def _label_nll(c: Call) -> str:  # (log_probs, labels, a, denom): -log_probs[i, y_i]
    loss = c.node("Neg", [c.node("Squeeze", [_at_labels(c, c.value(0)), c.b.ints([1])])])
    a = _optional(c, 2)
    if a is not None:
        loss = c.node("Mul", [loss, a])
    return _total(c, loss, 1, _denom(c, 3))


def _soft_cross_entropy(c: Call) -> str:  # (logits, targets, denom): sum_c t (lse - z)
    z, lse = _shifted(c, c.value(0))
    t = c.value(1, c.out.dtype)
    loss = c.b.reduce("ReduceSum", c.node("Mul", [t, c.node("Sub", [lse, z])]), [1], False)
    return _total(c, loss, 1, _denom(c, 2))


def _log_sigmoid(c: Call, x: str) -> str:  # min(x, 0) - log(1 + exp(-|x|))
    tail = c.node("Exp", [c.node("Neg", [c.node("Abs", [x])])])
    return c.node("Sub", [c.node("Min", [x, _scalar(c, 0)]),
                          c.node("Log", [c.node("Add", [tail, _scalar(c, 1)])])])  # fmt: skip


def _sigmoid_cross_entropy(c: Call) -> str:  # (x, t, w, pw, denom)
    x, t = c.value(0), c.value(1, c.out.dtype)
    w, pw = _optional(c, 2), _optional(c, 3)
    ls = _log_sigmoid(c, x)
    if pw is not None:  # (1 + (pw - 1) t) log sigmoid(x)
        scale = c.node(
            "Add", [_scalar(c, 1), c.node("Mul", [c.node("Sub", [pw, _scalar(c, 1)]), t])]
        )
        ls = c.node("Mul", [scale, ls])
    loss = c.node("Sub", [c.node("Mul", [c.node("Sub", [_scalar(c, 1), t]), x]), ls])
    if w is not None:
        loss = c.node("Mul", [loss, w])
    return _total(c, loss, c.args[0].ndim, _denom(c, 4))


def _binary_cross_entropy(c: Call) -> str:  # (p, t, w, denom): logs floored at -100
    p, t = c.value(0), c.value(1, c.out.dtype)
    floor = _scalar(c, -100.0)
    log_p = c.node("Max", [c.node("Log", [p]), floor])
    log_1mp = c.node("Max", [c.node("Log", [c.node("Sub", [_scalar(c, 1), p])]), floor])
    loss = c.node("Sub", [c.node("Mul", [c.node("Sub", [t, _scalar(c, 1)]), log_1mp]),
                          c.node("Mul", [t, log_p])])  # fmt: skip
    w = _optional(c, 2)
    if w is not None:
        loss = c.node("Mul", [loss, w])
    return _total(c, loss, c.args[0].ndim, _denom(c, 3))


onnx_table.update({
    "softmax_cross_entropy": _softmax_cross_entropy, "label_cross_entropy": _label_cross_entropy,
    "label_nll": _label_nll, "soft_cross_entropy": _soft_cross_entropy,
    "sigmoid_cross_entropy": _sigmoid_cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
})  # fmt: skip


# ------------------------------------------------------------------ distributed (one rank)
def _over_ranks(c: Call) -> str:
    """all_reduce/sum_replicated: sums over the ranks, the identity in a group of one; a file
    runs in one process, so a traced sum over several ranks is refused."""
    if not (_same(c.out, c.args[0]) and _same(c.out_twin, c.twin[0])):
        raise c.error(
            "a sum over the ranks of a process group has no meaning in a one-process ONNX file; "
            "export the model outside the group (or on a group of one)"
        )
    return c.node("Identity", [c.value(0)])


onnx_table.update({
    "replicated": lambda c: c.node("Identity", [c.value(0)]),  # forward: x itself
    "all_reduce": _over_ranks, "sum_replicated": _over_ranks,
})  # fmt: skip
