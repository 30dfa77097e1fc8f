"""Pictures of a recorded computation graph: Graphviz DOT text, or a PNG/SVG drawn by matplotlib.

The graph is read, never changed: nodes are the recorded tensors reachable from the loss through
``parents_of`` plus the leaves they start from, and the gradients on them come from
:func:`chainrule.explain`, which runs the backward pass on the side (no ``.grad`` is touched and
the graph can be backpropagated afterwards).
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ..autodiff import parents_of
from ..explain import explain, format_values
from ..tensor import Tensor
from .plots import image_format, new_figure, save_figure

__all__ = ["to_dot", "draw_graph"]

_LEAF_COLOR = "#dbe9f6"
_OP_COLOR = "#fde9cf"
_LOSS_COLOR = "#d5efd5"


def _graph(loss: Any, fn: str) -> tuple[list[Tensor], list[tuple[Tensor, Tensor, int]]]:
    """The nodes (leaves in the order found, then operations oldest first) and the edges
    (parent, child, argument index), one per argument that needs a gradient."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"{fn}: expected a Tensor, got {type(loss).__name__}")
    if loss._prim is None:
        raise ValueError(
            f"{fn}: the tensor is a leaf, not the result of recorded operations; compute it "
            "from tensors with requires_grad=True (and outside no_grad)"
        )
    seen = {id(loss): loss}
    stack = [loss]
    edges: list[tuple[Tensor, Tensor, int]] = []
    leaves: list[Tensor] = []
    while stack:
        t = stack.pop()
        for i, p in enumerate(parents_of(t)):
            if p is None:
                continue
            edges.append((p, t, i))
            if id(p) not in seen:
                seen[id(p)] = p
                if p._prim is None:
                    leaves.append(p)
                else:
                    stack.append(p)
    ops = sorted((t for t in seen.values() if t._prim is not None), key=lambda t: t._seq)
    return leaves + ops, edges


def _labels(
    loss: Tensor, nodes: list[Tensor], values: bool, grads: bool, max_values: int, fn: str
) -> dict[int, list[str]]:
    """One list of text lines per node: its title, shape and dtype, value, gradient."""
    grad_of: dict[int, Any] = {}
    leaf_name: dict[int, str] = {}
    if grads:
        if loss._data.size != 1:
            raise ValueError(
                f"{fn}: gradients need a one-element loss, got shape {loss.shape}; reduce it "
                "first (e.g. loss.sum()) or pass grads=False"
            )
        e = explain(loss, file=io.StringIO(), max_values=max_values)
        grad_of = {id(s.node): s.grad_out for s in e.steps}
        for leaf in e.leaves:
            grad_of[id(leaf.tensor)] = leaf.grad
            leaf_name[id(leaf.tensor)] = leaf.label
    labels: dict[int, str] = {}
    n_leaves = 0
    for t in nodes:
        data = t._data
        desc = f"{tuple(data.shape)} {data.dtype}"
        if t._prim is None:
            n_leaves += 1
            title = leaf_name.get(id(t), f"leaf {n_leaves}")
            lines = [title, desc, f"requires_grad={t._rg}"]
        else:
            lines = [t._prim.name, f"out {desc}"]
        if values:
            lines.append("value " + format_values(data, max_values))
        if grads:
            g = grad_of.get(id(t))
            lines.append("grad " + ("none" if g is None else format_values(g, max_values)))
        labels[id(t)] = lines
    return labels


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(loss: Tensor, values: bool = True, grads: bool = True, max_values: int = 6) -> str:
    """The recorded graph of ``loss`` as Graphviz DOT text (render with ``dot -Tpng``).

    One box per recorded operation (its name, output shape and dtype, value, and the gradient
    dL/d(out) reaching it) and per leaf (its shape, requires_grad and the gradient backward
    would add to its ``.grad``); one edge parent -> child per argument that needs a gradient
    (so ``x * x`` has two edges from ``x``), labelled with the argument index where the child
    has several. Arrays of up to ``max_values`` elements are shown in full, larger ones as
    shape, norm, min and max. Leaves are at the bottom, the loss at the top. Needs no
    matplotlib; the graph and every ``.grad`` are left as they were.

    Parameters
    ----------
    loss : Tensor
        The result of recorded operations; one element if ``grads`` is True.
    values, grads : bool
        Show each node's value / gradient.
    max_values : int
        The largest array shown value by value.

    Returns
    -------
    str
        The DOT source of a ``digraph``.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> print(to_dot((x * x).sum(), values=False))  # doctest: +NORMALIZE_WHITESPACE
    digraph chainrule {
      rankdir=BT;
      node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];
      n0 [label="leaf A\\n(2,) float32\\nrequires_grad=True\\ngrad [2, 4]", fillcolor="#dbe9f6"];
      n1 [label="multiply\\nout (2,) float32\\ngrad [1, 1]", fillcolor="#fde9cf"];
      n2 [label="sum\\nout () float32\\ngrad 1", fillcolor="#d5efd5"];
      n0 -> n1 [label="0"];
      n0 -> n1 [label="1"];
      n1 -> n2;
    }
    """
    nodes, edges = _graph(loss, "to_dot")
    labels = _labels(loss, nodes, values, grads, max_values, "to_dot")
    ids = {id(t): f"n{k}" for k, t in enumerate(nodes)}
    n_parents = {id(t): sum(p is not None for p in parents_of(t)) for t in nodes}
    out = [
        "digraph chainrule {",
        "  rankdir=BT;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
    ]
    for t in nodes:
        color = _LEAF_COLOR if t._prim is None else _LOSS_COLOR if t is loss else _OP_COLOR
        label = _dot_quote("\n".join(labels[id(t)])).replace("\n", "\\n")
        out.append(f'  {ids[id(t)]} [label={label}, fillcolor="{color}"];')
    for p, t, i in sorted(edges, key=lambda e: (e[1]._seq, e[2])):
        attr = f' [label="{i}"]' if n_parents[id(t)] > 1 else ""
        out.append(f"  {ids[id(p)]} -> {ids[id(t)]}{attr};")
    out.append("}")
    return "\n".join(out)


class _Bend:
    """A point where an edge that skips layers crosses an intermediate layer: it takes a
    (narrow) slot in that layer, so the edge is routed between the boxes, not through them."""

    __slots__ = ()


def _layers(
    nodes: list[Tensor], edges: list[tuple[Tensor, Tensor, int]]
) -> tuple[list[list[Any]], list[list[Any]]]:
    """Nodes by layer, and each edge as the route of its points (parent, bends..., child).

    An operation's layer is the longest path to it from a leaf; a leaf sits just below the
    lowest operation that uses it. An edge spanning several layers gets a :class:`_Bend` in each
    layer between (Sugiyama's layered drawing), and each layer is ordered to reduce crossings by
    one barycentre sweep up, then one down.
    """
    parents: dict[int, list[Tensor]] = {id(t): [] for t in nodes}
    for p, t, _ in edges:
        parents[id(t)].append(p)
    layer: dict[int, int] = {}
    for t in nodes:  # leaves first, then operations oldest first: parents are always done
        layer[id(t)] = 1 + max((layer[id(p)] for p in parents[id(t)]), default=-1)
    lowest_user: dict[int, int] = {}
    for p, t, _ in edges:
        if p._prim is None:
            lowest_user[id(p)] = min(lowest_user.get(id(p), layer[id(t)]), layer[id(t)])
    for leaf, j in lowest_user.items():  # leaves start at 0: lift each just below its lowest user
        layer[leaf] = j - 1
    rows: list[list[Any]] = [[] for _ in range(max(layer.values()) + 1)]
    for t in nodes:
        rows[layer[id(t)]].append(t)
    below: dict[int, list[Any]] = {id(t): [] for t in nodes}  # neighbours one layer down/up
    above: dict[int, list[Any]] = {id(t): [] for t in nodes}
    routes = []
    for p, t, _ in edges:
        route = [p]
        for j in range(layer[id(p)] + 1, layer[id(t)]):
            bend = _Bend()
            rows[j].append(bend)
            below[id(bend)], above[id(bend)] = [], []
            route.append(bend)
        route.append(t)
        for lo, hi in zip(route, route[1:]):
            below[id(hi)].append(lo)
            above[id(lo)].append(hi)
        routes.append(route)
    pos = {id(t): float(i) for row in rows for i, t in enumerate(row)}

    def sweep(row: list[Any], nbrs: dict[int, list[Any]]) -> None:
        def key(t: Any) -> float:
            ns = nbrs[id(t)]
            return float(np.mean([pos[id(n)] for n in ns])) if ns else pos[id(t)]

        row.sort(key=key)
        for i, t in enumerate(row):
            pos[id(t)] = float(i) - (len(row) - 1) / 2

    for row in rows[1:]:
        sweep(row, below)
    for row in reversed(rows[:-1]):
        sweep(row, above)
    return rows, routes


def draw_graph(
    loss: Tensor,
    path: str | os.PathLike,
    values: bool = True,
    grads: bool = True,
    max_values: int = 4,
) -> Path:
    """Draw the recorded graph of ``loss`` to a PNG or SVG file, with values and gradients.

    The same nodes and edges as :func:`to_dot`, laid out in layers (an operation's layer is the
    longest path to it from a leaf, a leaf sits just below its lowest user, the loss is at the
    top; an edge that skips layers bends through gaps kept for it in each layer between, never
    through a box), drawn with matplotlib alone (no Graphviz). The file is written atomically;
    the graph and every ``.grad`` are left as they were.

    Parameters
    ----------
    loss : Tensor
        The result of recorded operations; one element if ``grads`` is True.
    path : str or PathLike
        Where to write; the suffix (.png or .svg) chooses the format.
    values, grads : bool
        Show each node's value / gradient.
    max_values : int
        The largest array shown value by value.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import chainrule as cr, tempfile, pathlib
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> d = tempfile.mkdtemp()
    >>> draw_graph((x * x).sum(), pathlib.Path(d) / "graph.svg").name
    'graph.svg'
    >>> x.grad is None
    True
    """
    fn = "draw_graph"
    path, fmt = image_format(path, fn)
    nodes, edges = _graph(loss, fn)
    labels = {
        k: [w for line in lines for w in textwrap.wrap(line, 36, subsequent_indent="  ")]
        for k, lines in _labels(loss, nodes, values, grads, max_values, fn).items()
    }
    rows, routes = _layers(nodes, edges)
    # Work in inches (data units = inches) so boxes and text keep their size at any graph size.
    col_w = max(len(line) for lines in labels.values() for line in lines) * 0.075 + 0.6
    bend_w = 0.35  # the slot of an edge passing through a layer
    row_h = max(len(lines) for lines in labels.values()) * 0.17 + 0.8

    def slot(t: Any) -> float:
        return bend_w if isinstance(t, _Bend) else col_w

    width = max(sum(slot(t) for t in row) for row in rows) + 0.4
    height = len(rows) * row_h + 0.2
    fig = new_figure(fn, width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    xy: dict[int, tuple[float, float]] = {}
    boxes = {}
    for j, row in enumerate(rows):
        y = (j + 0.5) * row_h + 0.1
        x = (width - sum(slot(t) for t in row)) / 2
        for t in row:
            xy[id(t)] = (x + slot(t) / 2, y)
            x += slot(t)
            if isinstance(t, _Bend):
                continue
            color = _LEAF_COLOR if t._prim is None else _LOSS_COLOR if t is loss else _OP_COLOR
            boxes[id(t)] = ax.text(
                *xy[id(t)], "\n".join(labels[id(t)]), ha="center", va="center", fontsize=8,
                family="monospace",
                bbox={"boxstyle": "round,pad=0.4", "facecolor": color, "edgecolor": "0.4"},
            )  # fmt: skip
    # Arrows after the boxes: they are clipped to the box outlines, which exist once drawn. An
    # edge through bends is drawn segment by segment, the arrowhead on the last.
    repeat: dict[tuple[int, int], int] = {}
    for route in routes:
        p, t = route[0], route[-1]
        k = repeat[id(p), id(t)] = repeat.get((id(p), id(t)), -1) + 1
        last = len(route) - 2
        for i, (a, b) in enumerate(zip(route, route[1:])):
            ax.annotate(
                "", xy=xy[id(b)], xytext=xy[id(a)],
                arrowprops={
                    "arrowstyle": "-|>" if i == last else "-", "color": "0.3",
                    "shrinkA": 1 if i == 0 else 0, "shrinkB": 1 if i == last else 0,
                    "patchA": boxes[id(a)].get_bbox_patch() if i == 0 else None,
                    "patchB": boxes[id(b)].get_bbox_patch() if i == last else None,
                    "connectionstyle": f"arc3,rad={0.25 * k * (-1) ** k if last == 0 else 0}",
                },
            )  # fmt: skip
    # Agg's limit is 2**16 pixels a side; very large graphs get a lower resolution instead.
    dpi = min(100.0, 30000.0 / max(width, height))
    return save_figure(fig, path, fmt, dpi=dpi)
