"""Tracing a forward and building the ONNX graph: the machinery under the mapping table.

A forward is run twice in eval mode, on the example input and on a *twin* input with one more
row (fresh values). Both recorded graphs are walked in the order they were recorded; the twin
tells the exporter which numbers depend on the batch (a reshape to ``(B * 3, ...)`` becomes a
shape computed from the input's batch size) and catches arrays that the recorded graph treats as
constants but that were computed from the input by an operation with no gradient (a comparison's
mask): those would be frozen into the file, so the export stops with an error naming the
primitive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autodiff import parents_of
from ..tensor import Tensor

try:  # the extra [onnx]; chainrule.onnx.export says how to install it
    import onnx
    from onnx import helper, numpy_helper
except ImportError:  # pragma: no cover - exercised only without the extra
    onnx = None

__all__ = ["Builder", "Call", "ExportError", "trace_nodes"]


class ExportError(ValueError):
    """A model (or a part of it) that cannot be written as ONNX, with the reason."""


def require_onnx() -> None:
    """Raise an ImportError that says how to install the ``[onnx]`` extra."""
    if onnx is None:
        raise ImportError(
            "chainrule.onnx needs the onnx package: pip install 'chainrule[onnx]' "
            "(onnx to build the file, onnxruntime to run it)"
        )


def onnx_dtype(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Builder:
    """Nodes, initializers and fresh names of one ONNX graph under construction.

    Examples
    --------
    >>> b = Builder(17)
    >>> y = b.node("Relu", ["x"])
    >>> y, b.nodes[0].op_type, b.const([1.0, 2.0]) == b.const([1.0, 2.0])
    ('Relu_1', 'Relu', True)
    """

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0
        self._consts: dict[tuple[Any, ...], str] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        *,
        outputs: int | Sequence[str] = 1,
        domain: str = "",
        **attrs: Any,
    ) -> Any:
        """Append one node; return its output name (or names when ``outputs`` > 1)."""
        if isinstance(outputs, int):
            names = [self.fresh(op) for _ in range(outputs)]
        else:
            names = list(outputs)
        self.nodes.append(
            helper.make_node(op, list(inputs), names, name=self.fresh(f"n_{op}"), domain=domain,
                             **{k: v for k, v in attrs.items() if v is not None})
        )  # fmt: skip
        return names[0] if len(names) == 1 else names

    def const(self, value: Any, dtype: Any = None, name: str | None = None) -> str:
        """An initializer holding ``value`` (small ones shared by value)."""
        arr = np.asarray(value, dtype=dtype)
        if arr.dtype == np.float64 and dtype is None and not isinstance(value, np.ndarray):
            arr = arr.astype(np.float32)
        key = None
        if arr.size <= 16 and name is None:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            if key in self._consts:
                return self._consts[key]
        name = name or self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.array(arr, order="C"), name))
        if key is not None:
            self._consts[key] = name
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def reduce(self, op: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
        """``op`` (ReduceSum, ReduceMean...) over ``axes``: an input from opset 18 (13 for
        ReduceSum), an attribute before."""
        axes = [int(a) for a in axes]
        if op == "ReduceSum" and self.opset >= 13 or self.opset >= 18:
            return self.node(op, [x, self.ints(axes)], keepdims=int(keepdims))
        return self.node(op, [x], axes=axes, keepdims=int(keepdims))


def trace_nodes(outputs: Sequence[Tensor]) -> list[Tensor]:
    """The recorded tensors reachable from ``outputs``, in the order they were recorded."""
    seen: set[int] = set()
    found: list[Tensor] = []
    pending = [o for o in outputs if isinstance(o, Tensor)]
    while pending:  # iterative: a deep network must not hit the recursion limit
        t = pending.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._prim is not None:
            found.append(t)
        pending.extend(p for p in parents_of(t) if p is not None)
    found.sort(key=lambda t: t._seq)
    return found


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, True))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _uniform_batch_pair(a: Any, a2: Any) -> bool:
    """Whether ``a`` and ``a2`` are arrays of one repeated value whose shapes differ (with the
    batch size), so that the constant is ``value`` expanded to a batch-sized shape."""
    return (
        isinstance(a, np.ndarray)
        and isinstance(a2, np.ndarray)
        and a.dtype == a2.dtype
        and a.ndim == a2.ndim
        and a.shape != a2.shape
        and a.size > 0
        and a2.size > 0
        and bool(np.all(a == a.flat[0]))
        and bool(np.all(a2 == a.flat[0]))
    )


class Call:
    """One recorded primitive call, as a mapping in the table sees it.

    ``args`` are the forward's arguments (arrays first, then parameters); ``twin`` the same
    call's arguments in the twin trace (one more row in the batch).
    """

    def __init__(self, exporter: Any, node: Tensor, twin: Tensor) -> None:
        self.ex = exporter
        self.b: Builder = exporter.b
        self.name = node._prim.name
        self.args = node._args
        self.twin = twin._args
        self.parents = parents_of(node)
        self.out = node._data
        self.out_twin = twin._data

    def error(self, why: str) -> ExportError:
        shapes = ", ".join(str(tuple(a.shape)) for a in self.args if isinstance(a, np.ndarray))
        return ExportError(f"onnx export: primitive {self.name!r} (array shapes {shapes}): {why}")

    def node(self, op: str, inputs: Sequence[str], **kw: Any) -> Any:
        return self.b.node(op, inputs, **kw)

    def is_value(self, i: int) -> bool:
        """Whether argument ``i`` is computed from the graph's inputs (not a constant)."""
        p = self.parents[i] if i < len(self.parents) else None
        return p is not None or self.ex.input_name(self.args[i], self.twin[i]) is not None

    def value(self, i: int, dtype: Any = None) -> str:
        """The ONNX name of argument ``i``: a traced value, a graph input or an initializer.

        A constant must be the same in both traces; a Python scalar takes ``dtype`` (default:
        the output's float dtype, as a weak scalar in NumPy).
        """
        p = self.parents[i] if i < len(self.parents) else None
        if p is not None:
            name = self.ex.name_of(p)
            if dtype is not None and np.dtype(dtype) != p._data.dtype:
                name = self.node("Cast", [name], to=onnx_dtype(dtype))
            return name
        a, a2 = self.args[i], self.twin[i]
        name = self.ex.input_name(a, a2)
        if name is not None:
            if dtype is not None and np.dtype(dtype) != a.dtype:
                name = self.node("Cast", [name], to=onnx_dtype(dtype))
            return name
        if isinstance(a, Tensor):
            a, a2 = a._data, a2._data
        if _uniform_batch_pair(a, a2):  # zeros(B, H): an initial state sized by the batch
            fill = self.b.const(a.reshape(-1)[:1].reshape(()))
            return self.node("Expand", [fill, self.ex.dynamic_ints(a.shape, a2.shape)])
        if not _same(a, a2):
            raise self.error(
                f"argument {i} is an array the recorded graph treats as a constant, but it "
                "changes with the input (it was computed from the input by an operation with "
                "no gradient, such as a comparison or argmax), so it cannot be frozen into the file"
            )
        if dtype is None and not isinstance(a, np.ndarray):
            dtype = self.out.dtype if self.out.dtype.kind == "f" else None
        return self.ex.constant(a, dtype)

    def values(self, idx: Sequence[int], dtype: Any = None) -> list[str]:
        return [self.value(i, dtype) for i in idx]

    def static(self, i: int) -> Any:
        """Parameter ``i``, which must not depend on the batch size."""
        if not _same(self.args[i], self.twin[i]):
            raise self.error(f"parameter {i} ({self.args[i]!r}) changes with the batch size")
        return self.args[i]

    def shape(self, i: int) -> str:
        """Shape parameter ``i`` as an int64 tensor; entries that change with the batch size
        are computed at run time from the batch (``a * batch + b``)."""
        s1 = [int(v) for v in self.args[i]]
        s2 = [int(v) for v in self.twin[i]]
        if len(s1) != len(s2):
            raise self.error(f"shape parameter {self.args[i]} changes rank with the batch size")
        return self.ex.dynamic_ints(s1, s2)


Mapping = Callable[[Call], Any]
