"""The ONNX mapping of each primitive: one entry per name in ``primitive_table``.

Like the rule table, this reads as a table: ``onnx_table["relu"]`` turns one recorded ``relu``
call into ONNX nodes. A mapping gets a :class:`~chainrule.onnx.graph.Call` (the call's
arguments, in the same order as the forward's) and returns the name of its output. A primitive
without an entry here cannot be exported, and the error names it.

Composite mappings keep the forward's own formula (``standardize`` is ``(x - mean) /
sqrt(var + eps)`` as in ``ops/nn.py``, not ONNX's LayerNormalization), so ONNX Runtime computes
what chainrule computes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .graph import Call, Mapping, onnx_dtype

__all__ = ["onnx_table"]

onnx_table: dict[str, Mapping] = {}


def _unary(name: str, op: str, **attrs: Any) -> None:
    onnx_table[name] = lambda c: c.node(op, [c.value(0)], **attrs)


def _binary(name: str, op: str) -> None:
    def emit(c: Call) -> str:
        dt = c.out.dtype
        return c.node(op, [c.value(0, dt), c.value(1, dt)])

    onnx_table[name] = emit


def _scalar(c: Call, v: float) -> str:
    return c.b.const(np.asarray(v, dtype=c.out.dtype))


# ------------------------------------------------------------------ elementwise, one op each
for _name, _op in [
    ("exp", "Exp"), ("log", "Log"), ("tanh", "Tanh"), ("sigmoid", "Sigmoid"), ("relu", "Relu"),
    ("abs", "Abs"), ("negative", "Neg"), ("sqrt", "Sqrt"), ("sin", "Sin"), ("cos", "Cos"),
    ("tan", "Tan"), ("arcsin", "Asin"), ("arccos", "Acos"), ("arctan", "Atan"),
    ("sinh", "Sinh"), ("cosh", "Cosh"), ("arcsinh", "Asinh"), ("arccosh", "Acosh"),
    ("arctanh", "Atanh"), ("erf", "Erf"), ("floor", "Floor"), ("ceil", "Ceil"),
    ("round", "Round"), ("sign", "Sign"), ("reciprocal", "Reciprocal"),
    ("softsign", "Softsign"), ("hardswish", "HardSwish"), ("alias", "Identity"),
    ("clone", "Identity"),
]:  # fmt: skip
    _unary(_name, _op)
_unary("hardsigmoid", "HardSigmoid", alpha=1 / 6, beta=0.5)

for _name, _op in [
    ("add", "Add"), ("subtract", "Sub"), ("multiply", "Mul"), ("divide", "Div"),
    ("power", "Pow"), ("maximum", "Max"), ("minimum", "Min"), ("matmul", "MatMul"),
]:  # fmt: skip
    _binary(_name, _op)


def _softplus_of(c: Call, x: str) -> str:
    """log(1 + exp(x)) as max(x, 0) + log(1 + exp(-|x|)): no overflow for large x."""
    tail = c.node("Exp", [c.node("Neg", [c.node("Abs", [x])])])
    return c.node(
        "Add", [c.node("Relu", [x]), c.node("Log", [c.node("Add", [tail, _scalar(c, 1)])])]
    )


def _sigmoid_mul(c: Call) -> str:  # silu: x sigmoid(x)
    x = c.value(0)
    return c.node("Mul", [x, c.node("Sigmoid", [x])])


def _mish(c: Call) -> str:  # x tanh(softplus(x))
    x = c.value(0)
    return c.node("Mul", [x, c.node("Tanh", [_softplus_of(c, x)])])


def _gelu(c: Call) -> str:
    x = c.value(0)
    if c.static(1) == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = c.node("Mul", [c.node("Mul", [x, x]), x])
        inner = c.node("Add", [x, c.node("Mul", [cube, _scalar(c, 0.044715)])])
        t = c.node("Tanh", [c.node("Mul", [inner, _scalar(c, math.sqrt(2 / math.pi))])])
    else:  # 0.5 x (1 + erf(x / sqrt(2)))
        t = c.node("Erf", [c.node("Mul", [x, _scalar(c, 1 / math.sqrt(2))])])
    half = c.node("Mul", [x, _scalar(c, 0.5)])
    return c.node("Mul", [half, c.node("Add", [t, _scalar(c, 1)])])


def _exp_unit(c: Call) -> str:  # elu, selu, celu: scale (x if x > 0 else alpha (exp(x / c) - 1))
    x = c.value(0)
    alpha, scale, div = (float(v) for v in (c.static(1), c.static(2), c.static(3)))
    xs = x if div == 1 else c.node("Div", [x, _scalar(c, div)])
    neg = c.node("Mul", [c.node("Sub", [c.node("Exp", [xs]), _scalar(c, 1)]), _scalar(c, alpha)])
    y = c.node("Where", [c.node("Greater", [x, _scalar(c, 0)]), x, neg])
    return y if scale == 1 else c.node("Mul", [y, _scalar(c, scale)])


def _leaky_relu(c: Call) -> str:
    return c.node("LeakyRelu", [c.value(0)], alpha=float(c.static(1)))


def _hardtanh(c: Call) -> str:
    return c.node("Clip", [c.value(0), _scalar(c, c.static(1)), _scalar(c, c.static(2))])


def _prelu(c: Call) -> str:
    x, w = c.value(0), c.value(1, c.out.dtype)
    return c.node("Where", [c.node("Greater", [x, _scalar(c, 0)]), x, c.node("Mul", [w, x])])


def _clip(c: Call) -> str:
    dt = c.out.dtype
    lo = "" if c.args[1] is None else c.value(1, dt)
    hi = "" if c.args[2] is None else c.value(2, dt)
    if (lo and c.is_value(1)) or (hi and c.is_value(2)):  # tensor bounds: Max/Min broadcast
        y = c.value(0)
        y = c.node("Max", [y, lo]) if lo else y
        return c.node("Min", [y, hi]) if hi else y
    if lo and np.ndim(c.args[1]) or hi and np.ndim(c.args[2]):
        y = c.value(0)
        y = c.node("Max", [y, lo]) if lo else y
        return c.node("Min", [y, hi]) if hi else y
    return c.node("Clip", [c.value(0), lo, hi])


def _where(c: Call) -> str:
    dt = c.out.dtype
    if not c.is_value(0) and _same_values(c, 1, 2):
        # where(mask, y, y.detach()) cuts a gradient (Embedding's padding_idx): its value is
        # y whatever the mask, so the mask (computed from the input) is not needed
        return c.value(1) if c.is_value(1) else c.value(2)
    cond = c.value(0)
    if c.args[0].dtype != np.bool_:
        cond = c.node("Cast", [cond], to=onnx_dtype(np.bool_))
    return c.node("Where", [cond, c.value(1, dt), c.value(2, dt)])


def _same_values(c: Call, i: int, j: int) -> bool:
    """Whether arguments ``i`` and ``j`` hold the same values in both traces."""
    return all(
        isinstance(a[i], np.ndarray) and isinstance(a[j], np.ndarray)
        and a[i].shape == a[j].shape and bool(np.array_equal(a[i], a[j]))
        for a in (c.args, c.twin)
    )  # fmt: skip


def _log_base(base: float) -> Mapping:
    return lambda c: c.node("Div", [c.node("Log", [c.value(0)]), _scalar(c, math.log(base))])


def _softplus_threshold(c: Call) -> str:  # nn.Softplus: (x, beta, threshold)
    x, beta, threshold = c.value(0), float(c.static(1)), float(c.static(2))
    bx = x if beta == 1 else c.node("Mul", [x, _scalar(c, beta)])
    sp = _softplus_of(c, bx)
    sp = sp if beta == 1 else c.node("Div", [sp, _scalar(c, beta)])
    return c.node("Where", [c.node("Greater", [bx, _scalar(c, threshold)]), x, sp])


onnx_table.update({
    "softplus_threshold": _softplus_threshold, "silu": _sigmoid_mul, "mish": _mish,
    "gelu": _gelu, "elu": _exp_unit, "selu": _exp_unit, "celu": _exp_unit,
    "leaky_relu": _leaky_relu, "hardtanh": _hardtanh, "prelu": _prelu,
    "clip": _clip, "where": _where, "log2": _log_base(2.0), "log10": _log_base(10.0),
    "softplus": lambda c: _softplus_of(c, c.value(0)),
    "log_sigmoid": lambda c: c.node("Neg", [_softplus_of(c, c.node("Neg", [c.value(0)]))]),
    "expm1": lambda c: c.node("Sub", [c.node("Exp", [c.value(0)]), _scalar(c, 1)]),
    "log1p": lambda c: c.node("Log", [c.node("Add", [c.value(0), _scalar(c, 1)])]),
    "exp2": lambda c: c.node("Pow", [_scalar(c, 2), c.value(0)]),
    "square": lambda c: c.node("Mul", [c.value(0), c.value(0)]),
    "rsqrt": lambda c: c.node("Reciprocal", [c.node("Sqrt", [c.value(0)])]),
    "astype": lambda c: c.node("Cast", [c.value(0)], to=onnx_dtype(c.out.dtype)),
})  # fmt: skip


# ----------------------------------------------------------------------------- reductions
def _reduce(op: str) -> Mapping:
    """sum/mean/amax/...: (x, axes, keepdims, ...)."""

    def emit(c: Call) -> str:
        axes, keep = c.static(1), bool(c.static(2))
        if not axes:
            return c.node("Identity", [c.value(0)])
        return c.b.reduce(op, c.value(0), axes, keep)

    return emit


def _var(c: Call, std: bool = False) -> str:
    """(x, axes, ddof, keepdims): sum((x - mean)^2) / (n - ddof)."""
    x = c.value(0)
    axes, ddof, keep = c.static(1), c.static(2), bool(c.static(3))
    n = int(np.prod([c.args[0].shape[a] for a in axes]))
    n2 = int(np.prod([c.twin[0].shape[a] for a in axes]))
    if n != n2:
        raise c.error("a variance over the batch axis cannot be exported with a dynamic batch")
    d = c.node("Sub", [x, c.b.reduce("ReduceMean", x, axes, True)])
    s = c.b.reduce("ReduceSum", c.node("Mul", [d, d]), axes, keep)
    v = c.node("Div", [s, _scalar(c, n - ddof)])
    return c.node("Sqrt", [v]) if std else v


def _norm(c: Call) -> str:
    """(x, p, axes, keepdims): (sum |x|^p)^(1/p); max/min |x| for p = +-inf."""
    x, p, axes, keep = c.value(0), float(c.static(1)), c.static(2), bool(c.static(3))
    if p == 2:
        return c.b.reduce("ReduceL2", x, axes, keep)
    if p == 1:
        return c.b.reduce("ReduceL1", x, axes, keep)
    a = c.node("Abs", [x])
    if math.isinf(p):
        return c.b.reduce("ReduceMax" if p > 0 else "ReduceMin", a, axes, keep)
    if p == 0:  # the count of nonzeros, as NumPy's ord=0
        nz = c.node("Cast", [c.node("Not", [c.node("Equal", [a, _scalar(c, 0)])])],
                    to=onnx_dtype(c.out.dtype))  # fmt: skip
        return c.b.reduce("ReduceSum", nz, axes, keep)
    s = c.b.reduce("ReduceSum", c.node("Pow", [a, _scalar(c, p)]), axes, keep)
    return c.node("Pow", [s, _scalar(c, 1 / p)])


onnx_table.update({
    "norm": _norm, "sum": _reduce("ReduceSum"), "mean": _reduce("ReduceMean"),
    "amax": _reduce("ReduceMax"), "max": _reduce("ReduceMax"), "amin": _reduce("ReduceMin"),
    "min": _reduce("ReduceMin"),
    "prod": _reduce("ReduceProd"), "logsumexp": _reduce("ReduceLogSumExp"),
    "var": _var, "std": lambda c: _var(c, std=True),
})  # fmt: skip


def _softmax(op: str) -> Mapping:
    def emit(c: Call) -> str:
        axes = c.static(1)
        axes = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
        if len(axes) != 1:
            raise c.error(f"{op} over several axes {axes} has no ONNX operator")
        return c.node(op, [c.value(0)], axis=int(axes[0]))

    return emit


def _standardize(c: Call) -> str:
    """(x, axes, eps, inv): (x - mean) / sqrt(var + eps), biased var, as ops/nn.py."""
    x, axes, eps = c.value(0), c.static(1), float(c.static(2))
    xc = c.node("Sub", [x, c.b.reduce("ReduceMean", x, axes, True)])
    var = c.b.reduce("ReduceMean", c.node("Mul", [xc, xc]), axes, True)
    return c.node("Div", [xc, c.node("Sqrt", [c.node("Add", [var, _scalar(c, eps)])])])


onnx_table.update({
    "softmax": _softmax("Softmax"), "log_softmax": _softmax("LogSoftmax"),
    "standardize": _standardize,
})  # fmt: skip


# ---------------------------------------------------------------------------------- shape
def _reshape(c: Call) -> str:
    return c.node("Reshape", [c.value(0), c.shape(1)])


def _broadcast_to(c: Call) -> str:
    return c.node("Expand", [c.value(0), c.shape(1)])


def _transpose(c: Call) -> str:
    perm = c.static(1)
    ndim = c.args[0].ndim
    perm = list(range(ndim))[::-1] if perm is None else [int(p) % ndim for p in perm]
    return c.node("Transpose", [c.value(0)], perm=perm)


def _swapaxes(c: Call) -> str:
    ndim = c.args[0].ndim
    a, b = int(c.static(1)) % ndim, int(c.static(2)) % ndim
    perm = list(range(ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return c.node("Transpose", [c.value(0)], perm=perm)


def _axes_op(op: str) -> Mapping:
    def emit(c: Call) -> str:
        axes = c.static(1)
        axes = [int(a) for a in (axes if isinstance(axes, (tuple, list)) else (axes,))]
        return c.node(op, [c.value(0), c.b.ints(axes)])

    return emit


def _arrays_then(c: Call, n_params: int) -> list[str]:
    """The array arguments of a variadic primitive (concatenate, stack), in the output dtype."""
    return [c.value(i, c.out.dtype) for i in range(len(c.args) - n_params)]


def _concatenate(c: Call) -> str:  # (*xs, axis, offsets)
    return c.node("Concat", _arrays_then(c, 2), axis=int(c.static(len(c.args) - 2)))


def _stack(c: Call) -> str:  # (*xs, axis)
    axis = int(c.static(len(c.args) - 1))
    axis = axis % c.out.ndim
    parts = [c.node("Unsqueeze", [x, c.b.ints([axis])]) for x in _arrays_then(c, 1)]
    return c.node("Concat", parts, axis=axis)


def _flip(c: Call) -> str:
    axes = c.static(1)
    ndim = c.args[0].ndim
    axes = range(ndim) if axes is None else axes
    axes = [int(a) % ndim for a in (axes if isinstance(axes, (tuple, list, range)) else (axes,))]
    big = np.iinfo(np.int64)
    return c.node("Slice", [c.value(0), c.b.ints([-1] * len(axes)),
                            c.b.ints([big.min] * len(axes)), c.b.ints(axes),
                            c.b.ints([-1] * len(axes))])  # fmt: skip


def _pad(c: Call) -> str:  # (x, widths, value): constant padding
    widths = c.static(1)
    ndim = c.args[0].ndim
    if not widths:
        return c.node("Identity", [c.value(0)])
    begins = [int(w[0]) for w in widths]
    ends = [int(w[1]) for w in widths]
    value = c.b.const(np.asarray(c.static(2), dtype=c.out.dtype))
    pads = c.b.ints(begins + ends) if len(widths) == ndim else None
    if pads is None:
        raise c.error(f"pad widths {widths} for a {ndim}-d array")
    return c.node("Pad", [c.value(0), pads, value], mode="constant")


# getitem: basic indices (slices, ints, None, ...) as Slice/Gather/Unsqueeze; integer arrays
# as Gather on their axis (one array, or np.ix_-style arrays that index axes independently).
_BIG = np.iinfo(np.int64).max


def _ix_arrays(arrays: list[Any]) -> list[np.ndarray] | None:
    """The 1-d indices of np.ix_-style arrays (array j varies along its own axis j only)."""
    k = len(arrays)
    out = []
    for j, a in enumerate(arrays):
        a = np.asarray(a)
        if a.dtype.kind not in "iu":
            return None
        shape = (1,) * (k - a.ndim) + a.shape  # NumPy broadcasts from the right
        if len(shape) != k or any(s != 1 for i, s in enumerate(shape) if i != j):
            return None
        out.append(a.reshape(-1))
    return out


def _getitem(c: Call) -> str:
    index = c.static(1) if not c.is_value(1) and not isinstance(c.args[1], np.ndarray) else None
    if index is None:  # one integer array (a value, e.g. Embedding's indices, or a constant)
        if c.args[1].dtype.kind not in "iu":
            raise c.error(f"an index of dtype {c.args[1].dtype} (only integer indices export)")
        idx = c.value(1)
        if c.args[1].dtype != np.int64:
            idx = c.node("Cast", [idx], to=onnx_dtype(np.int64))
        return c.node("Gather", [c.value(0), idx], axis=0)
    return _basic_index(c, c.value(0), c.args[0].ndim, index)


def _basic_index(c: Call, x: str, ndim: int, index: Any) -> str:
    index = list(index) if isinstance(index, tuple) else [index]
    n_used = sum(1 for i in index if i is not None and i is not Ellipsis)
    at = next((k for k, i in enumerate(index) if i is Ellipsis), None)
    if at is not None:
        index[at : at + 1] = [slice(None)] * (ndim - n_used)
    index += [slice(None)] * (ndim - sum(1 for i in index if i is not None))
    starts, ends, axes, steps = [], [], [], []
    takes: list[tuple[int, Any]] = []  # (axis, int or array) applied after the slices
    new_axes: list[int] = []
    arrays: list[tuple[int, Any]] = []
    axis = 0
    out_axis = 0
    for i in index:
        if i is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        if isinstance(i, slice):
            if i != slice(None):
                step = 1 if i.step is None else int(i.step)
                starts.append((0 if step > 0 else -1) if i.start is None else int(i.start))
                stop_none = _BIG if step > 0 else -_BIG - 1
                ends.append(stop_none if i.stop is None else int(i.stop))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif isinstance(i, (int, np.integer)):
            takes.append((axis, int(i)))
        elif isinstance(i, np.ndarray) or isinstance(i, (list, tuple)):
            arrays.append((axis, i))
            out_axis += 1
        else:
            raise c.error(f"index {i!r} of type {type(i).__name__} does not export")
        axis += 1
    if axes:
        x = c.node("Slice", [x, c.b.ints(starts), c.b.ints(ends), c.b.ints(axes), c.b.ints(steps)])
    if arrays:
        positions = [a for a, _ in arrays]
        ix = _ix_arrays([a for _, a in arrays])
        if ix is None or positions != list(range(positions[0], positions[0] + len(positions))):
            raise c.error("advanced indexing other than np.ix_-style integer arrays")
        for (ax, _), flat in zip(arrays, ix, strict=True):
            x = c.node("Gather", [x, c.b.const(flat.astype(np.int64))], axis=ax)
    for ax, i in reversed(takes):  # from the last axis, so earlier axes keep their numbers
        x = c.node("Gather", [x, c.b.const(np.asarray(i, dtype=np.int64))], axis=ax)
    if new_axes:
        x = c.node("Unsqueeze", [x, c.b.ints(new_axes)])
    return x


def _take_along_axis(c: Call) -> str:  # (x, indices, axis)
    idx = c.value(1)
    if c.args[1].dtype != np.int64:
        idx = c.node("Cast", [idx], to=onnx_dtype(np.int64))
    return c.node("GatherElements", [c.value(0), idx], axis=int(c.static(2)))


onnx_table.update({
    "reshape": _reshape, "broadcast_to": _broadcast_to, "transpose": _transpose,
    "swapaxes": _swapaxes, "expand_dims": _axes_op("Unsqueeze"), "squeeze": _axes_op("Squeeze"),
    "concatenate": _concatenate, "stack": _stack, "flip": _flip, "pad": _pad,
    "getitem": _getitem, "split": _getitem, "take_along_axis": _take_along_axis,
})  # fmt: skip


# ----------------------------------------------------------------------- layers (nn, conv)
def _linear(c: Call) -> str:  # (x, W, b): x @ W.T + b
    x, w = c.value(0), c.value(1)
    if c.args[0].ndim == 2:
        inputs = [x, w] + ([c.value(2)] if c.args[2] is not None else [])
        return c.node("Gemm", inputs, transB=1)
    y = c.node("MatMul", [x, c.node("Transpose", [w], perm=[1, 0])])
    return y if c.args[2] is None else c.node("Add", [y, c.value(2)])


def _flat_pads(pads: Any) -> list[int]:
    (pt, pb), (pl, pr) = pads
    return [int(pt), int(pl), int(pb), int(pr)]


def _conv2d(c: Call) -> str:  # (x, W, b, (stride, pads, dilation, groups))
    stride, pads, dil, groups = c.static(3)
    inputs = [c.value(0), c.value(1)] + ([c.value(2)] if c.args[2] is not None else [])
    return c.node("Conv", inputs, strides=list(stride), pads=_flat_pads(pads),
                  dilations=list(dil), group=int(groups))  # fmt: skip


def _conv_transpose2d(c: Call) -> str:  # conv2d_input_grad(x, W, out_shape, cfg)
    out_shape = c.args[2]
    stride, pads, dil, groups = c.static(3)
    kh, kw = c.args[1].shape[2:]
    flat = _flat_pads(pads)
    extra = []
    for ax, (k, s, d) in enumerate(zip((kh, kw), stride, dil, strict=True)):
        n = c.args[0].shape[2 + ax]
        natural = s * (n - 1) + d * (k - 1) + 1 - flat[ax] - flat[ax + 2]
        extra.append(int(out_shape[2 + ax]) - natural)
    return c.node("ConvTranspose", [c.value(0), c.value(1)], strides=list(stride), pads=flat,
                  dilations=list(dil), group=int(groups), output_padding=extra)  # fmt: skip


def _max_pool2d(c: Call) -> str:  # (x, argmax (for the backward), cfg)
    kernel, stride, pads, dil, _ = c.static(2)
    return c.node("MaxPool", [c.value(0)], kernel_shape=list(kernel), strides=list(stride),
                  pads=_flat_pads(pads), dilations=list(dil))  # fmt: skip


def _avg_pool2d(c: Call) -> str:  # (x, cfg, divisor): window sums / divisor
    kernel, stride, pads, dil, _ = c.static(1)
    if tuple(dil) != (1, 1):
        raise c.error("a dilated average pool has no ONNX operator before opset 19")
    y = c.node("AveragePool", [c.value(0)], kernel_shape=list(kernel), strides=list(stride),
               pads=_flat_pads(pads), count_include_pad=1)  # fmt: skip
    div = c.static(2)
    count = int(kernel[0]) * int(kernel[1])
    if np.ndim(div) == 0 and float(div) == count:
        return y
    scale = (count / np.asarray(div, dtype=np.float64)).astype(c.out.dtype)
    return c.node("Mul", [y, c.b.const(scale)])


def _unfold(c: Call) -> str:  # (x, kernel, cfg): im2col as a grouped conv with one-hot kernels
    (kh, kw), (stride, pads, dil, _) = c.static(1), c.static(2)
    ch = c.args[0].shape[1]
    eye = np.eye(kh * kw, dtype=c.out.dtype).reshape(kh * kw, 1, kh, kw)
    w = c.b.const(np.tile(eye, (ch, 1, 1, 1)))
    y = c.node("Conv", [c.value(0), w], strides=list(stride), pads=_flat_pads(pads),
               dilations=list(dil), group=int(ch))  # fmt: skip
    return c.node("Reshape", [y, c.b.ints([0, ch * kh * kw, -1])])


def _fold(c: Call) -> str:  # (cols, x_shape, kernel, cfg): col2im, the transpose of _unfold
    x_shape, (kh, kw), (stride, pads, dil, _) = c.args[1], c.static(2), c.static(3)
    ch, h, w = (int(v) for v in x_shape[1:])
    flat = _flat_pads(pads)
    sizes = []
    for size, k, s, d, p0, p1 in zip((h, w), (kh, kw), stride, dil, flat[:2], flat[2:]):
        sizes.append((size + p0 + p1 - d * (k - 1) - 1) // s + 1)
    cols = c.node("Reshape", [c.value(0), c.b.ints([0, ch * kh * kw, *sizes])])
    eye = np.eye(kh * kw, dtype=c.out.dtype).reshape(kh * kw, 1, kh, kw)
    extra = []
    for ax, (size, k, s, d) in enumerate(zip((h, w), (kh, kw), stride, dil)):
        natural = s * (sizes[ax] - 1) + d * (k - 1) + 1 - flat[ax] - flat[ax + 2]
        extra.append(size - natural)
    return c.node("ConvTranspose", [cols, c.b.const(np.tile(eye, (ch, 1, 1, 1)))],
                  strides=list(stride), pads=flat, dilations=list(dil), group=ch,
                  output_padding=extra)  # fmt: skip


onnx_table.update({
    "fold": _fold, "unfold": _unfold, "linear": _linear, "conv2d": _conv2d,
    "conv2d_input_grad": _conv_transpose2d,
    "max_pool2d": _max_pool2d, "avg_pool2d": _avg_pool2d,
})  # fmt: skip


# ------------------------------------------------------------------ recurrent cells (ops/nn.py)
def _blocks(c: Call, gates: str, n: int, k: int) -> list[str]:
    """The first ``k`` blocks of ``n`` columns of the last axis of ``gates``."""
    return [c.node("Slice", [gates, c.b.ints([j * n]), c.b.ints([(j + 1) * n]), c.b.ints([-1])])
            for j in range(k)]  # fmt: skip


def _lstm_state(c: Call) -> str:  # (gates, c, acts): f c + i g
    n = c.args[1].shape[-1]
    i, f, g = _blocks(c, c.value(0), n, 3)
    i, f, g = c.node("Sigmoid", [i]), c.node("Sigmoid", [f]), c.node("Tanh", [g])
    return c.node("Add", [c.node("Mul", [f, c.value(1)]), c.node("Mul", [i, g])])


def _lstm_output(c: Call) -> str:  # (gates, c, acts): o tanh(c)
    n = c.args[1].shape[-1]
    o = c.node("Sigmoid", [_blocks(c, c.value(0), n, 4)[3]])
    return c.node("Mul", [o, c.node("Tanh", [c.value(1)])])


def _gru_cell(c: Call) -> str:  # (x_gates, h_gates, h, acts): (1 - z) n + z h
    k = c.args[2].shape[-1]
    xr, xz, xn = _blocks(c, c.value(0), k, 3)
    hr, hz, hn = _blocks(c, c.value(1), k, 3)
    r = c.node("Sigmoid", [c.node("Add", [xr, hr])])
    z = c.node("Sigmoid", [c.node("Add", [xz, hz])])
    n = c.node("Tanh", [c.node("Add", [xn, c.node("Mul", [r, hn])])])
    keep = c.node("Mul", [c.node("Sub", [_scalar(c, 1), z]), n])
    return c.node("Add", [keep, c.node("Mul", [z, c.value(2)])])


onnx_table.update({"lstm_state": _lstm_state, "lstm_output": _lstm_output, "gru_cell": _gru_cell})


# ------------------------------------------------------- more elementwise, scans, rearranging
def _fmod(c: Call) -> str:  # C's fmod: the sign of x
    dt = c.out.dtype
    return c.node("Mod", [c.value(0, dt), c.value(1, dt)], fmod=1 if dt.kind == "f" else 0)


def _remainder(c: Call) -> str:  # Python's %: the sign of y, NumPy's fmod-then-adjust
    dt = c.out.dtype
    x, y = c.value(0, dt), c.value(1, dt)
    if dt.kind != "f":
        return c.node("Mod", [x, y], fmod=0)
    m = c.node("Mod", [x, y], fmod=1)
    zero = _scalar(c, 0)
    differ = c.node("Xor", [c.node("Less", [y, zero]), c.node("Less", [m, zero])])
    fix = c.node("And", [c.node("Not", [c.node("Equal", [m, zero])]), differ])
    return c.node("Where", [fix, c.node("Add", [m, y]), m])


def _trunc(c: Call) -> str:
    x = c.value(0)
    return c.node("Mul", [c.node("Sign", [x]), c.node("Floor", [c.node("Abs", [x])])])


def _hypot(c: Call) -> str:
    dt = c.out.dtype
    x, y = c.value(0, dt), c.value(1, dt)
    return c.node("Sqrt", [c.node("Add", [c.node("Mul", [x, x]), c.node("Mul", [y, y])])])


def _logaddexp(c: Call) -> str:  # max + log(1 + exp(-|x - y|)); x + log 2 where x == y (inf)
    dt = c.out.dtype
    x, y = c.value(0, dt), c.value(1, dt)
    tail = c.node("Exp", [c.node("Neg", [c.node("Abs", [c.node("Sub", [x, y])])])])
    v = c.node(
        "Add", [c.node("Max", [x, y]), c.node("Log", [c.node("Add", [tail, _scalar(c, 1)])])]
    )
    same = c.node("Equal", [x, y])
    return c.node("Where", [same, c.node("Add", [x, _scalar(c, math.log(2))]), v])


def _lerp(c: Call) -> str:  # PyTorch's two-sided form, as ops/elementwise.py
    dt = c.out.dtype
    a, b, w = c.value(0, dt), c.value(1, dt), c.value(2, dt)
    d = c.node("Sub", [b, a])
    low = c.node("Add", [a, c.node("Mul", [w, d])])
    high = c.node("Sub", [b, c.node("Mul", [d, c.node("Sub", [_scalar(c, 1), w])])])
    return c.node("Where", [c.node("Less", [w, _scalar(c, 0.5)]), low, high])


def _nan_to_num(c: Call) -> str:  # (x, nan, posinf, neginf): None = the dtype's extremes
    x = c.value(0)
    info = np.finfo(c.out.dtype)
    nan, pos, neg = c.static(1), c.static(2), c.static(3)
    pos = info.max if pos is None else pos
    neg = info.min if neg is None else neg
    y = c.node("Where", [c.node("IsNaN", [x]), _scalar(c, nan), x])
    y = c.node("Where", [c.node("IsInf", [x], detect_negative=0), _scalar(c, pos), y])
    return c.node("Where", [c.node("IsInf", [x], detect_positive=0), _scalar(c, neg), y])


def _nan_reduce(mean: bool) -> Mapping:
    def emit(c: Call) -> str:  # (x, axes, keepdims)
        x, axes, keep = c.value(0), c.static(1), bool(c.static(2))
        nan = c.node("IsNaN", [x])
        s = c.b.reduce("ReduceSum", c.node("Where", [nan, _scalar(c, 0), x]), axes, keep)
        if not mean:
            return s
        count = c.node("Cast", [c.node("Not", [nan])], to=onnx_dtype(c.out.dtype))
        return c.node("Div", [s, c.b.reduce("ReduceSum", count, axes, keep)])

    return emit


def _cumsum(c: Call) -> str:  # (x, axis)
    axis = c.b.const(np.asarray(int(c.static(1)), dtype=np.int64))
    return c.node("CumSum", [c.value(0), axis])


def _trilu(upper: int) -> Mapping:
    def emit(c: Call) -> str:  # (x, k)
        k = c.b.const(np.asarray(int(c.static(1)), dtype=np.int64))
        return c.node("Trilu", [c.value(0), k], upper=upper)

    return emit


def _tile(c: Call) -> str:  # (x, reps), NumPy's: reps padded with 1s, or x with new axes
    reps = [int(r) for r in np.atleast_1d(c.static(1))]
    x, ndim = c.value(0), c.args[0].ndim
    if len(reps) > ndim:
        x = c.node("Unsqueeze", [x, c.b.ints(range(len(reps) - ndim))])
    reps = [1] * (ndim - len(reps)) + reps
    return c.node("Tile", [x, c.b.ints(reps)])


def _take(c: Call, x: str, axis: int, index: np.ndarray) -> str:
    return c.node("Gather", [x, c.b.const(index.astype(np.int64))], axis=axis)


def _flat(c: Call) -> str:
    return c.node("Reshape", [c.value(0), c.b.ints([-1])])


def _repeat(c: Call) -> str:  # (x, repeats, axis): each element `repeats` times along axis
    repeats, axis = c.static(1), c.static(2)
    x = _flat(c) if axis is None else c.value(0)
    n = c.args[0].size if axis is None else c.args[0].shape[axis]
    if axis is not None and c.args[0].shape[axis] != c.twin[0].shape[axis]:
        raise c.error("repeat along the batch axis cannot be exported with a dynamic batch")
    return _take(c, x, 0 if axis is None else int(axis), np.repeat(np.arange(n), repeats))


def _roll(c: Call) -> str:  # (x, shift, axis)
    shift, axis = c.static(1), c.static(2)
    if axis is None:
        if c.args[0].shape != c.twin[0].shape:
            raise c.error("roll of the flattened array cannot be exported with a dynamic batch")
        y = _take(c, _flat(c), 0, np.roll(np.arange(c.args[0].size), shift))
        return c.node("Reshape", [y, c.b.ints(c.args[0].shape)])
    shifts = np.atleast_1d(shift).tolist()
    axes = np.atleast_1d(axis).tolist()
    shifts = shifts * len(axes) if len(shifts) == 1 else shifts
    x = c.value(0)
    for s, ax in zip(shifts, axes, strict=True):
        if c.args[0].shape[ax] != c.twin[0].shape[ax]:
            raise c.error("roll along the batch axis cannot be exported with a dynamic batch")
        x = _take(c, x, int(ax), np.roll(np.arange(c.args[0].shape[ax]), int(s)))
    return x


def _masked_fill(c: Call) -> str:  # (x, value, mask)
    mask = c.value(2)
    if c.args[2].dtype != np.bool_:
        mask = c.node("Cast", [mask], to=onnx_dtype(np.bool_))
    return c.node("Where", [mask, c.value(1, c.out.dtype), c.value(0)])


def _einsum(c: Call) -> str:  # (*operands, (inputs, output, sizes, flag, equation))
    inputs, output = c.args[-1][:2]  # (the sizes after them follow the batch)
    equation = ",".join(inputs) + "->" + output
    operands = [c.value(i, c.out.dtype) for i in range(len(c.args) - 1)]
    return c.node("Einsum", operands, equation=equation)


def _tensordot(c: Call) -> str:  # (a, b, (a's letters, b's letters, output's))
    a, b, out = c.static(2)
    return c.node("Einsum", [c.value(0, c.out.dtype), c.value(1, c.out.dtype)],
                  equation=f"{a},{b}->{out}")  # fmt: skip


def _outer(c: Call) -> str:
    dt = c.out.dtype
    a = c.node("Reshape", [c.value(0, dt), c.b.ints([-1, 1])])
    return c.node("Mul", [a, c.node("Reshape", [c.value(1, dt), c.b.ints([1, -1])])])


def _sort_axis(c: Call) -> int:
    """The axis a sort/topk gathered along: the index array of the output's full shape."""
    found = []
    for axis, idx in enumerate(c.args[1]):
        if np.shape(idx) == c.out.shape:
            mesh = np.arange(c.out.shape[axis]).reshape(
                [-1 if i == axis else 1 for i in range(c.out.ndim)]
            )
            found.append((bool(np.array_equal(np.broadcast_to(mesh, c.out.shape), idx)), axis))
    if not found:
        raise c.error("cannot tell the sorted axis")
    return min(found)[1]  # an index that is not the plain mesh of its axis, if there is one


def _topk_values(c: Call) -> str:
    """sort and topk (values): ONNX TopK along the axis, largest or smallest first as the
    trace shows (the recorded indices are the trace's own, so they are not reused)."""
    axis = _sort_axis(c)
    x = c.args[0]
    k = c.out.shape[axis]
    if x.shape[axis] != c.twin[0].shape[axis]:
        raise c.error("sorting along the batch axis cannot be exported with a dynamic batch")
    descending = np.take(-np.sort(-x, axis=axis), np.arange(k), axis=axis)
    ascending = np.take(np.sort(x, axis=axis), np.arange(k), axis=axis)
    if np.array_equal(c.out, descending, equal_nan=True):
        largest = 1
    elif np.array_equal(c.out, ascending, equal_nan=True):
        largest = 0
    else:
        raise c.error("the recorded values are neither the largest nor the smallest first")
    kk = c.b.const(np.asarray([k], dtype=np.int64))
    values, _ = c.node("TopK", [c.value(0), kk], outputs=2, axis=axis, largest=largest, sorted=1)
    return values


def _gather(c: Call) -> str:  # (x, open-mesh index tuple with the user's index at `dim`)
    dim = _sort_axis(c)
    index = np.asarray(c.static(1)[dim], dtype=np.int64)
    return c.node("GatherElements", [c.value(0), c.b.const(index)], axis=dim)


def _index_select(c: Call) -> str:  # (x, (slice(None),..., index))
    return _basic_index(c, c.value(0), c.args[0].ndim, c.static(1))


onnx_table.update({
    "fmod": _fmod, "remainder": _remainder, "trunc": _trunc, "hypot": _hypot,
    "logaddexp": _logaddexp, "lerp": _lerp, "nan_to_num": _nan_to_num,
    "nansum": _nan_reduce(False), "nanmean": _nan_reduce(True), "cumsum": _cumsum,
    "tril": _trilu(0), "triu": _trilu(1), "tile": _tile, "repeat": _repeat, "roll": _roll,
    "masked_fill": _masked_fill, "einsum": _einsum, "tensordot": _tensordot, "outer": _outer,
    "sort": _topk_values, "topk": _topk_values, "gather": _gather, "index_select": _index_select,
})  # fmt: skip


from . import table_more  # noqa: E402,F401 - the rest of the table (scans, scatters, losses...)
