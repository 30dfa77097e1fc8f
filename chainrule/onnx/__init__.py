"""Export to ONNX: a module's recorded forward, one mapping per primitive.

``export(model, example_input, "model.onnx")`` runs one forward in eval mode (the graph that
autodiff records anyway), maps each recorded primitive to ONNX nodes through
:data:`onnx_table` (a missing entry is an error that names the primitive), makes the batch axis
dynamic and checks the result with ``onnx.checker.check_model(full_check=True)``. Estimators
have ``to_onnx()``; a model folder written by ``chainrule train`` exports with its
preprocessing through :func:`export_model_dir` (``chainrule export MODEL_DIR model.onnx``).

Needs the ``[onnx]`` extra (``onnx``; ``onnxruntime`` to run the file).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from .graph import Builder, ExportError, onnx_dtype, require_onnx
from .table import onnx_table
from .trace import trace_into

__all__ = ["export", "onnx_table", "ExportError", "make_model", "DEFAULT_OPSET", "unmapped"]

DEFAULT_OPSET = 17


def _as_arrays(example_input: Any) -> list[np.ndarray]:
    items = example_input if isinstance(example_input, (tuple, list)) else (example_input,)
    arrays = []
    for x in items:
        a = x._data if isinstance(x, Tensor) else np.asarray(x)
        if not isinstance(a, np.ndarray):
            a = a.get()  # a CuPy array: export works on the host
        arrays.append(np.asarray(a, order="C"))
    return arrays


def make_model(
    b: Builder,
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    *,
    domains: dict[str, int] | None = None,
    doc: str = "",
) -> Any:
    """An ONNX model from a builder's nodes, checked with ``full_check=True``.

    ``inputs``/``outputs`` are ``onnx.ValueInfoProto`` (``helper.make_tensor_value_info``).

    Examples
    --------
    >>> b = Builder(17)
    >>> _ = b.node("Relu", ["x"], outputs=["y"])
    >>> x, y = (_value_info(n, np.float32, ["batch", 3]) for n in "xy")
    >>> make_model(b, [x], [y]).graph.node[0].op_type
    'Relu'
    """
    import onnx
    from onnx import helper

    graph = helper.make_graph(b.nodes, "chainrule", list(inputs), list(outputs), b.initializers)
    opsets = [helper.make_opsetid("", b.opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="chainrule")
    model.ir_version = min(onnx.IR_VERSION, 9)  # readable by ONNX Runtime releases since 1.15
    model.doc_string = doc
    onnx.checker.check_model(model, full_check=True)
    return model


def _value_info(name: str, dtype: Any, shape: Sequence[Any]) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, onnx_dtype(dtype), list(shape))


def export(
    module: Any,
    example_input: Any,
    path: str | os.PathLike[str] | None = None,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Any:
    """Write ``module``'s forward as an ONNX model.

    The forward runs in eval mode (dropout off, batch norm on its running statistics; the
    module's mode is restored) on ``example_input`` and on a twin input with one more row; the
    recorded primitives become ONNX nodes through :data:`onnx_table`.

    Parameters
    ----------
    module : Module or callable
        Called as ``module(*inputs)``; returns a Tensor or a tuple of Tensors.
    example_input : Tensor, array or a tuple of them
        One batch; the first axis is the batch axis.
    path : str or PathLike, optional
        Where to write the ``.onnx`` file; the model is returned either way.
    input_names, output_names : sequences of str, optional
        Defaults ``input``/``input_1``... and ``output``/``output_1``...
    dynamic_batch : bool
        Name the first axis of inputs and outputs ``batch`` so any batch size runs.
    opset : int
        The ONNX operator set (17 or later).

    Returns
    -------
    onnx.ModelProto
        The checked model.

    Raises
    ------
    ExportError
        A primitive with no mapping, or a graph that depends on the input in a way a file
        cannot hold (the message names the primitive).

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.onnx import export
    >>> model = cr.nn.Sequential(cr.nn.Linear(4, 3), cr.nn.ReLU())
    >>> proto = export(model, cr.randn(2, 4))
    >>> [n.op_type for n in proto.graph.node][:2], proto.graph.output[0].name
    (['Gemm', 'Relu'], 'output')
    """
    require_onnx()
    if opset < 17:
        raise ValueError(
            f"onnx export: opset {opset} is too old; chainrule writes opset 17 or later"
        )
    example = _as_arrays(example_input)
    if dynamic_batch and any(a.ndim == 0 for a in example):
        raise ValueError(
            "onnx export: a 0-d example input has no batch axis; pass dynamic_batch=False"
        )
    names_in = list(input_names or [_nth("input", i) for i in range(len(example))])
    if len(names_in) != len(example):
        raise ValueError(
            f"onnx export: {len(names_in)} input_names for {len(example)} example inputs"
        )
    b = Builder(opset)
    outs, values, shapes = trace_into(
        b, module, example, names_in, dynamic_batch=dynamic_batch, table=onnx_table
    )
    names_out = list(output_names or [_nth("output", i) for i in range(len(outs))])
    if len(names_out) != len(outs):
        raise ValueError(f"onnx export: {len(names_out)} output_names for {len(outs)} outputs")
    for src, dst in zip(outs, names_out, strict=True):
        b.node("Identity", [src], outputs=[dst])
    ins = [
        _value_info(n, a.dtype, (["batch"] if dynamic_batch else [a.shape[0]]) + list(a.shape[1:]))
        for n, a in zip(names_in, example, strict=True)
    ]
    outs_info = [
        _value_info(n, v.dtype, shape if dynamic_batch else list(v.shape))
        for n, v, shape in zip(names_out, values, shapes, strict=True)
    ]
    model = make_model(b, ins, outs_info)
    if path is not None:
        save(model, path)
    return model


def save(model: Any, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to ``path`` atomically (a temporary file, then a rename).

    Examples
    --------
    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    >>> save(export(cr.nn.Linear(2, 1), cr.ones(1, 2)), path)
    >>> os.path.getsize(path) > 0
    True
    """
    from ..io import write_atomic

    write_atomic(path, model.SerializeToString())


def unmapped() -> list[str]:
    """The primitives that have no ONNX mapping (a model using one cannot be exported).

    They are exactly the ones :data:`chainrule.onnx.table_more.UNMAPPED` lists with the
    reason: the backward-only primitives (``BACKWARD_ONLY``: gradients of forward primitives,
    which a traced forward never records, so they need no mapping) and the linear algebra the
    standard ONNX domain has no operator for (``NO_ONNX_OPERATOR``: inv, solve, cholesky, qr,
    svd, eigh, pinv, and slogdet, whose ``log|Det|`` would overflow where slogdet does not).

    Examples
    --------
    >>> from chainrule.onnx import unmapped
    >>> from chainrule.onnx.table_more import UNMAPPED
    >>> "relu" in unmapped(), "cholesky" in unmapped(), UNMAPPED["reverse_cumsum"]
    (False, True, 'the gradient of cumsum')
    """
    from ..ops.define import primitive_table

    return sorted(set(primitive_table) - set(onnx_table))


def _nth(base: str, i: int) -> str:
    return base if i == 0 else f"{base}_{i}"
