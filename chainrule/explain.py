"""``explain``: the backward pass of a loss, printed step by step with its numbers.

The walk is the one :func:`chainrule.autodiff.backward` does (nodes in decreasing ``_seq``, each
rule called with NumPy's namespace, gradients unbroadcast and cast to the parent's dtype, summed
in the same order), but the gradients are kept in a dictionary of its own: no ``.grad`` and no
node is touched, so the graph can be backpropagated afterwards as if nothing had happened.
"""

from __future__ import annotations

import heapq
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from .autodiff import _modified_error, parents_of, unbroadcast
from .backend import namespace_of, numpy_namespace
from .tensor import Tensor

__all__ = ["explain", "Explanation", "Step", "LeafGradient"]


@dataclass
class Step:
    """One node of the backward pass: dL/d(out) in, one gradient out per parent.

    ``in_shapes`` lists the shape of each argument of the operation (None for a non-array
    parameter); ``grads_in`` and ``sources`` are aligned with the leading arguments, None where
    an argument needs no gradient.
    """

    label: str
    op: str
    formula: str
    out_shape: tuple[int, ...]
    in_shapes: list[tuple[int, ...] | None]
    grad_out: np.ndarray
    grads_in: list[np.ndarray | None]
    sources: list[str | None]  # where each gradient goes: "[2]" (a step), "leaf A"; or None
    node: Tensor = field(repr=False)


@dataclass
class LeafGradient:
    """The gradient of the loss reaching one leaf that requires grad (what backward adds to
    its ``.grad``)."""

    label: str
    shape: tuple[int, ...]
    grad: np.ndarray
    tensor: Tensor = field(repr=False)


@dataclass
class Explanation:
    """The result of :func:`explain`: the steps in the order backward runs them, then the leaf
    gradients; ``str()`` gives the printed text."""

    steps: list[Step]
    leaves: list[LeafGradient]
    loss_shape: tuple[int, ...]
    max_values: int = 6

    def grad(self, t: Tensor) -> np.ndarray | None:
        """The gradient reaching tensor ``t`` (a leaf, or the output of a step); None if no
        gradient reaches it."""
        for leaf in self.leaves:
            if leaf.tensor is t:
                return leaf.grad
        for step in self.steps:
            if step.node is t:
                return step.grad_out
        return None

    def __str__(self) -> str:
        m = self.max_values
        lines = [f"backward pass of a loss of shape {self.loss_shape}, seed dL/dL = 1"]
        for s in self.steps:
            ins = ", ".join(str(sh) for sh in s.in_shapes if sh is not None)
            lines.append(f"{s.label} {s.op}: out {s.out_shape} <- in {ins}")
            lines.append(f"    rule: {s.formula}")
            lines.append(f"    dL/d(out) = {format_values(s.grad_out, m)}")
            for i, (g, src) in enumerate(zip(s.grads_in, s.sources)):
                if g is not None:
                    lines.append(f"    dL/d(in {i}) -> {src}: {format_values(g, m)}")
        lines.append("gradients reaching the leaves (what backward() adds to .grad):")
        for leaf in self.leaves:
            lines.append(f"    {leaf.label} {leaf.shape}: {format_values(leaf.grad, m)}")
        return "\n".join(lines)


def format_values(a: Any, max_values: int = 6) -> str:
    """The values of a small array on one line; shape, norm, min and max of a larger one.

    Examples
    --------
    >>> import numpy as np
    >>> format_values(np.array([0.5, -1.0]))
    '[0.5, -1]'
    >>> format_values(np.ones((3, 4)), max_values=6)
    'shape (3, 4), norm 3.4641, min 1, max 1'
    """
    if type(a) is not np.ndarray:
        a = a.get() if hasattr(a, "get") else np.asarray(a)
    if a.size <= max_values:
        text = np.array2string(
            a, separator=", ", max_line_width=10**6, formatter={"float_kind": _float}
        )
        return " ".join(text.split())
    return (
        f"shape {a.shape}, norm {float(np.linalg.norm(a)):.5g}, "
        f"min {float(a.min()):.5g}, max {float(a.max()):.5g}"
    )


def _float(v: float) -> str:
    return f"{v:.7g}"


def explain(loss: Tensor, file: TextIO | None = None, max_values: int = 6) -> Explanation:
    """Run the backward pass of ``loss`` on the side and print it node by node.

    For each node, from the loss back to the leaves, the text gives the operation, its rule
    from the primitive table, the shapes of its output and inputs, the incoming gradient
    dL/d(out) and the gradient it sends to each input, then the gradient reaching each leaf that
    requires grad. Arrays of up to ``max_values`` elements are printed in full, larger ones as
    shape, norm, min and max. The gradients are computed exactly as ``loss.backward()`` would,
    but no ``.grad`` is modified and the graph stays usable.

    Parameters
    ----------
    loss : Tensor
        A one-element tensor computed from tensors that require grad.
    file : text stream, optional
        Where to print (default ``sys.stdout``).
    max_values : int
        The largest array printed value by value.

    Returns
    -------
    Explanation
        ``.steps`` (one :class:`Step` per node, in backward order), ``.leaves`` (one
        :class:`LeafGradient` per leaf reached); ``str()`` gives the printed text.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> e = explain((x * x).sum())
    backward pass of a loss of shape (), seed dL/dL = 1
    [1] sum: out () <- in (2,)
        rule: g broadcast back over the summed axes
        dL/d(out) = 1
        dL/d(in 0) -> [2]: [1, 1]
    [2] multiply: out (2,) <- in (2,), (2,)
        rule: dx = g * y;  dy = g * x
        dL/d(out) = [1, 1]
        dL/d(in 0) -> leaf A: [1, 2]
        dL/d(in 1) -> leaf A: [1, 2]
    gradients reaching the leaves (what backward() adds to .grad):
        leaf A (2,): [2, 4]
    >>> x.grad is None
    True
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"explain: expected a Tensor, got {type(loss).__name__}")
    if loss._data.size != 1:
        raise ValueError(
            f"explain: the loss must have one element, got shape {loss.shape}; "
            "reduce it first (e.g. loss.sum())"
        )
    if loss._prim is None:
        raise ValueError(
            "explain: the loss is a leaf, not the result of recorded operations; compute it "
            "from tensors with requires_grad=True (and outside no_grad)"
        )
    data = loss._data
    acc: dict[int, Any] = {id(loss): namespace_of(data).ones_like(data)}
    labels: dict[int, str] = {}
    heap: list[tuple[int, Tensor]] = [(-loss._seq, loss)]
    steps: list[Step] = []
    leaves: list[LeafGradient] = []
    while heap:
        t = heapq.heappop(heap)[1]
        g = acc[id(t)]
        args = t._args
        if args is None:
            raise _freed(t)
        seq = t._seq
        if t._version > seq:
            raise _modified_error(t, t)
        xp = numpy_namespace if type(g) is np.ndarray else namespace_of(g)
        parents = parents_of(t)
        grads_in: list[Any] = []
        for i, p in enumerate(parents):
            if p is None:
                grads_in.append(None)
                continue
            if p._version > seq:
                raise _modified_error(t, p)
            gi = t._prim.vjps[i](xp, g, t._data, *args)
            pdata = p._data
            if gi.shape != pdata.shape:
                gi = unbroadcast(gi, pdata.shape)
            if gi.dtype != pdata.dtype:
                gi = gi.astype(pdata.dtype)
            grads_in.append(gi)
            key = id(p)
            if key in acc:
                acc[key] = acc[key] + gi  # a new array: gi is shown in this step as it was
            else:
                acc[key] = gi
                if p._prim is None:
                    labels[key] = f"leaf {_letters(len(leaves))}"
                    leaves.append(LeafGradient(labels[key], tuple(pdata.shape), gi, p))
                else:
                    heapq.heappush(heap, (-p._seq, p))
        steps.append(Step(
            label="", op=t._prim.name, formula=t._prim.formula, out_shape=tuple(t._data.shape),
            in_shapes=[tuple(a.shape) if hasattr(a, "shape") else None for a in args],
            grad_out=g, grads_in=grads_in, sources=[], node=t))  # fmt: skip
    # Step labels follow the backward order, which is known only once every node is found.
    order = {id(s.node): f"[{k}]" for k, s in enumerate(steps, 1)}
    for s in steps:
        s.label = order[id(s.node)]
        s.sources = [
            None if g is None else order.get(id(p), labels.get(id(p)))
            for g, p in zip(s.grads_in, parents_of(s.node))
        ]
    for leaf in leaves:  # the final sums (a leaf used twice gets both contributions)
        leaf.grad = acc[id(leaf.tensor)]
    result = Explanation(steps, leaves, tuple(data.shape), max_values)
    print(result, file=sys.stdout if file is None else file)
    return result


def _freed(t: Tensor) -> RuntimeError:
    return RuntimeError(
        f"explain: backward() already ran through this graph and freed the values its rules "
        f"need (first at {t._prim.name!r}); call explain (or draw_graph/to_dot with gradients) "
        "before backward(), or keep them with loss.backward(retain_graph=True); "
        "draw_graph(..., grads=False) draws the graph without gradients"
    )


def _letters(k: int) -> str:
    """A, B, ..., Z, AA, AB, ... for leaf number ``k``."""
    name = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        name = chr(65 + r) + name
    return name
