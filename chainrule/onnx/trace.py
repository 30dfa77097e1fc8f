"""Run a module's forward (twice) and write its recorded graph into a :class:`Builder`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autodiff import enable_grad
from ..tensor import Tensor, _leaf
from .graph import Builder, Call, ExportError, _same, trace_nodes
from .modules import recording_whole_modules

__all__ = ["trace_into"]


class _Exporter:
    """The names of one traced forward's values, parameters and constants in the builder."""

    def __init__(
        self,
        b: Builder,
        inputs: list[tuple[str, Tensor, Tensor]],
        param_names: dict[int, str],
        buffer_names: dict[int, str],
        batch_of: str,
        batch_sizes: tuple[int, int],
    ) -> None:
        self.b = b
        self.inputs = inputs
        self.param_names = param_names
        self.buffer_names = buffer_names
        self.names: dict[int, str] = {}
        self.batch_of = batch_of
        self.batch_sizes = batch_sizes
        self._batch: str | None = None
        self._by_id: dict[int, str] = {}

    def input_name(self, a: Any, a2: Any) -> str | None:
        for name, t1, t2 in self.inputs:
            if (a is t1 or a is t1._data) and (a2 is t2 or a2 is t2._data):
                return name
        return None

    def name_of(self, t: Tensor) -> str:
        name = self.names.get(id(t))
        if name is not None:
            return name
        for iname, t1, _ in self.inputs:
            if t is t1:
                return iname
        if t._prim is not None:
            raise ExportError(f"onnx export: {t._prim.name!r} is used before it was exported")
        pname = self.param_names.get(id(t))
        name = self.b.const(t._data, name=pname) if pname else self.constant(t._data, None)
        self.names[id(t)] = name
        return name

    def constant(self, a: Any, dtype: Any) -> str:
        if isinstance(a, np.ndarray) and (dtype is None or a.dtype == dtype):
            known = self._by_id.get(id(a))
            if known is not None:
                return known
            name = self.b.const(a, name=self.buffer_names.get(id(a)))
            self._by_id[id(a)] = name
            return name
        return self.b.const(a, dtype)

    def batch(self) -> str:
        """The batch size at run time, as a 1-element int64 tensor."""
        if self._batch is None:
            shape = self.b.node("Shape", [self.batch_of])
            self._batch = self.b.node("Slice", [shape, self.b.ints([0]), self.b.ints([1])])
        return self._batch

    def dynamic_ints(self, s1: Sequence[int], s2: Sequence[int]) -> str:
        if list(s1) == list(s2):
            return self.b.ints(s1)
        n1, n2 = self.batch_sizes
        pieces: list[str] = []
        fixed: list[int] = []
        for v1, v2 in zip(s1, s2, strict=True):
            if v1 == v2:
                fixed.append(v1)
                continue
            slope, rem = divmod(v2 - v1, n2 - n1)
            offset = v1 - slope * n1
            if rem:
                raise ExportError(
                    f"onnx export: a shape entry ({v1}) is not a multiple of the batch size"
                )
            if fixed:
                pieces.append(self.b.ints(fixed))
                fixed = []
            v = self.batch()
            if slope != 1:
                v = self.b.node("Mul", [v, self.b.ints([slope])])
            if offset:
                v = self.b.node("Add", [v, self.b.ints([offset])])
            pieces.append(v)
        if fixed:
            pieces.append(self.b.ints(fixed))
        return pieces[0] if len(pieces) == 1 else self.b.node("Concat", pieces, axis=0)


def _twin_of(x: np.ndarray, dynamic_batch: bool, rng: np.random.Generator) -> np.ndarray:
    """An input like ``x`` with one more row (when the batch is dynamic) and fresh values."""
    shape = ((x.shape[0] + 1,) if dynamic_batch else x.shape[:1]) + x.shape[1:]
    if x.dtype.kind == "f":
        scale = float(np.std(x)) if x.size else 1.0
        return (rng.standard_normal(shape) * (scale or 1.0) + float(np.mean(x))).astype(x.dtype)
    if x.dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    lo, hi = (int(x.min()), int(x.max())) if x.size else (0, 0)
    return rng.integers(lo, hi + 1, shape).astype(x.dtype)


def _forward(module: Any, arrays: Sequence[np.ndarray]) -> tuple[list[Tensor], list[Tensor]]:
    ins = []
    for a in arrays:
        t = _leaf(a)
        if a.dtype.kind == "f":
            t._rg = True  # so that every operation on the input is recorded
        ins.append(t)
    with enable_grad():
        out = module(*ins)
    outs, pending = [], [out]
    while pending:  # (output, (h, c)) of an LSTM: the tensors in order, flattened
        o = pending.pop(0)
        if isinstance(o, (tuple, list)):
            pending[:0] = list(o)
        else:
            outs.append(o)
    for o in outs:
        if not isinstance(o, Tensor):
            raise ExportError(
                f"onnx export: the forward returned a {type(o).__name__}; expected Tensors"
            )
    return ins, outs


def trace_into(
    b: Builder,
    module: Any,
    example: Sequence[np.ndarray],
    input_names: Sequence[str],
    *,
    dynamic_batch: bool = True,
    table: dict[str, Any],
    prefix: str = "",
) -> tuple[list[str], list[np.ndarray], list[list[Any]]]:
    """Trace ``module`` on ``example`` (eval mode) and append its graph to ``b``.

    Returns the output names, the outputs' values on ``example`` and their ONNX shapes (an axis
    that changes with the batch size is ``"batch"``). Parameters become initializers named
    ``prefix`` + their name in the module.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> from chainrule.onnx.table import onnx_table
    >>> b = Builder(17)
    >>> x = np.ones((2, 3), np.float32)
    >>> names, values, shapes = trace_into(b, cr.nn.Linear(3, 4), [x], ["x"], table=onnx_table)
    >>> [n.op_type for n in b.nodes], shapes
    (['Gemm'], [['batch', 4]])
    """
    params = list(module.named_parameters()) if hasattr(module, "named_parameters") else []
    buffers = list(module.named_buffers()) if hasattr(module, "named_buffers") else []
    on_device = [n for n, p in params if type(p._data) is not np.ndarray]
    if on_device:
        raise ExportError(
            f"onnx export: parameter {on_device[0]!r} is on a GPU; move the model to the CPU "
            "first (model.to('cpu'))"
        )
    param_names = {id(p): prefix + n for n, p in params}
    buffer_names = {id(t._data if isinstance(t, Tensor) else t): prefix + n for n, t in buffers}
    modes = [(m, m.training) for m in module.modules()] if hasattr(module, "modules") else []
    flags = [(p, p._rg) for _, p in params]
    rng = np.random.default_rng(0)
    twin = [_twin_of(x, dynamic_batch, rng) for x in example]
    try:
        if hasattr(module, "eval"):
            module.eval()
        for p, _ in flags:
            if p._data.dtype.kind == "f":
                p._rg = True
        with recording_whole_modules(module):
            ins1, outs1 = _forward(module, example)
            ins2, outs2 = _forward(module, twin)
    finally:
        for p, flag in flags:
            p._rg = flag
        for m, mode in modes:  # each submodule's own mode (a frozen BatchNorm stays in eval)
            object.__setattr__(m, "training", mode)
    n1 = example[0].shape[0] if example and example[0].ndim else 1
    n2 = twin[0].shape[0] if twin and twin[0].ndim else 1
    ex = _Exporter(
        b,
        [(n, t1, t2) for n, t1, t2 in zip(input_names, ins1, ins2, strict=True)],
        param_names,
        buffer_names,
        input_names[0],
        (n1, n2),
    )
    nodes1, nodes2 = trace_nodes(outs1), trace_nodes(outs2)
    if [t._prim.name for t in nodes1] != [t._prim.name for t in nodes2]:
        raise ExportError(
            "onnx export: the forward records a different graph for another batch size or other "
            "input values (Python control flow on the data, or a batch axis that is not the "
            "first), so one traced graph cannot stand for it"
        )
    for t1, t2 in zip(nodes1, nodes2, strict=True):
        mapping = table.get(t1._prim.name)
        if mapping is None:
            raise ExportError(
                f"onnx export: no ONNX mapping for primitive {t1._prim.name!r} "
                f"(output shape {tuple(t1.shape)}, dtype {t1.dtype}); "
                "chainrule.onnx.onnx_table lists the ones that export"
            )
        call = Call(ex, t1, t2)
        ex.names[id(t1)] = mapping(call)
    names = []
    for k, (o, o2) in enumerate(zip(outs1, outs2, strict=True)):
        if o._prim is None and ex.input_name(o, o2) is None and not _same(o._data, o2._data):
            raise ExportError(
                f"onnx export: output {k} (shape {tuple(o.shape)}, dtype {o.dtype}) changes "
                "with the input, but the forward records nothing that computes it (integer "
                "arithmetic, comparisons and other operations without a gradient are not "
                "recorded), so it cannot be written as a graph"
            )
        name = ex.name_of(o)
        if name in (input_names or ()) or name in {i.name for i in b.initializers}:
            name = b.node("Identity", [name])
        names.append(name)
    shapes = [
        [n if n == m else "batch" for n, m in zip(o1.shape, o2.shape, strict=True)]
        for o1, o2 in zip(outs1, outs2, strict=True)
    ]
    return names, [o._data for o in outs1], shapes
