"""The backward pass as a page to click through: one self-contained HTML file.

:func:`explain_html` lays out the recorded graph as :func:`chainrule.viz.draw_graph` does
(leaves at the bottom, the loss at the top) in inline SVG, and walks the backward pass that
:func:`chainrule.explain` computes on the side, node by node in the order
:func:`chainrule.autodiff.backward` runs them: "step", "back" and "play" (or the arrow keys and
the space bar) move the walk; the current node's rule and formula, the gradient coming in and the
gradient going out to each input are shown with their numbers, and each leaf's ``.grad`` fills in
as contributions reach it. :func:`article_derivation` adds the article's derivation by hand
(dL/dp_c = -1/p_c, dp_c/dq_i = p_c (delta_ic - p_i), dq/dW = x) with the example's numbers, and
the page checks that the chained product equals the walk's gradient.

Nothing is fetched: styles, script and data are inside the file, which opens from disk. Arrays
of up to ``max_values`` elements are stored value by value; larger ones as shape, norm, min and
max and a small heatmap (block means), so a graph of large tensors stays small.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..autodiff import parents_of
from ..explain import explain, format_values
from ..tensor import Tensor
from .graph import _Bend, _graph, _layers

__all__ = ["explain_html", "article_derivation", "Derivation"]

_BOX_W, _BOX_H, _BEND_W, _ROW_H = 220, 62, 28, 90  # pixels
_HEAT_CELLS = 16  # a heatmap has at most this many rows and columns of block means


@dataclass
class Derivation:
    """A derivation by hand shown beside the walk: lines of local derivatives with their
    numbers, then checks (a gradient by hand, and the leaf whose walk gradient it must equal).

    Examples
    --------
    >>> import numpy as np
    >>> Derivation("by hand", [("x", np.ones(2))]).lines[0][0]
    'x'
    """

    title: str
    lines: list[tuple[str, Any]]
    checks: list[tuple[str, Any, Tensor]] = field(default_factory=list)


def _number(v: float) -> float | str:
    """A JSON number; NaN and infinities as the strings JavaScript's Number() reads."""
    if math.isfinite(v):
        return v
    return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")


def _array(a: Any, max_values: int) -> dict[str, Any]:
    """An array for the page: its shape and values when small; else a summary and a heatmap."""
    if type(a) is not np.ndarray:
        a = a.get() if hasattr(a, "get") else np.asarray(a)
    shape = list(a.shape)
    if a.dtype.kind == "c":
        raise TypeError(f"explain_html: complex arrays are not shown (dtype {a.dtype})")
    if a.size <= max_values:
        flat = a.astype(np.float64).reshape(-1)
        return {"shape": shape, "values": [_number(float(v)) for v in flat]}
    out: dict[str, Any] = {"shape": shape, "summary": format_values(a, 0)}
    m = a.astype(np.float64).reshape(1, -1) if a.ndim < 2 else a.astype(np.float64)
    m = m.reshape(m.shape[0], -1)
    rows = np.array_split(np.arange(m.shape[0]), min(_HEAT_CELLS, m.shape[0]))
    cols = np.array_split(np.arange(m.shape[1]), min(_HEAT_CELLS, m.shape[1]))
    with np.errstate(all="ignore"):
        cells = [[float(m[np.ix_(r, c)].mean()) for c in cols] for r in rows]
    # Shades only, so two digits do: cells as integers -99..99 of the largest |block mean|.
    cell = np.nan_to_num(np.array(cells), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(np.abs(cell).max())
    out["heat"] = np.rint(99 * cell / (top or 1.0)).astype(int).tolist()
    return out


def _short(a: Any) -> str:
    text = format_values(a, 4)
    return text if len(text) <= 26 else text[:25] + "…"


def explain_html(
    loss: Tensor,
    path: str | os.PathLike[str],
    *,
    names: dict[str, Tensor] | None = None,
    derivation: Derivation | None = None,
    title: str = "The backward pass, step by step",
    max_values: int = 64,
) -> Path:
    """Write the backward pass of ``loss`` as an interactive, self-contained HTML page.

    The page shows the recorded graph (one box per operation and per leaf that requires grad,
    an arrow per argument that needs a gradient) and walks the backward pass in the order
    ``loss.backward()`` runs it, with each rule's formula from the primitive table, the incoming
    gradient dL/d(out), the gradient sent to each input and each leaf's ``.grad`` as it
    accumulates. The gradients are those of :func:`chainrule.explain`: computed exactly as
    ``backward()`` would, with no ``.grad`` touched and the graph left usable.

    Parameters
    ----------
    loss : Tensor
        A one-element tensor computed from tensors that require grad (before ``backward()``
        frees its graph, or after ``backward(retain_graph=True)``).
    path : str or PathLike
        The ``.html`` file to write (atomically).
    names : dict of str to Tensor, optional
        Names for leaves (default "leaf A", "leaf B", ... in the order the walk reaches them).
    derivation : Derivation, optional
        A derivation by hand to show beside the walk (see :func:`article_derivation`).
    title : str
        The page's heading.
    max_values : int
        Arrays with at most this many elements are shown value by value; larger ones as shape,
        norm, min, max and a heatmap.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import chainrule as cr, tempfile, pathlib
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> page = explain_html((x * x).sum(), pathlib.Path(tempfile.mkdtemp()) / "b.html")
    >>> "multiply" in page.read_text() and x.grad is None
    True
    """
    from ..io import write_atomic

    nodes, edges = _graph(loss, "explain_html")
    e = explain(loss, file=io.StringIO(), max_values=0)
    index = {id(t): k for k, t in enumerate(nodes)}
    given = {id(t): n for n, t in (names or {}).items()}
    label = {id(leaf.tensor): given.get(id(leaf.tensor), leaf.label) for leaf in e.leaves}
    for t in nodes:
        if t._prim is None and id(t) not in label:  # reached by no gradient: not in explain
            label[id(t)] = given.get(id(t), "leaf")

    # The walk: each step's gradients in and out, and the running sum of each leaf's .grad.
    running: dict[int, Any] = {}
    steps = []
    for s in e.steps:
        outs, updates = [], []
        for i, (g, p) in enumerate(zip(s.grads_in, parents_of(s.node))):
            if g is None or p is None:
                continue
            outs.append({"arg": i, "to": index[id(p)], "grad": _array(g, max_values)})
            if p._prim is None:
                running[id(p)] = g if id(p) not in running else running[id(p)] + g
                updates.append({"leaf": index[id(p)], "grad": _array(running[id(p)], max_values)})
        steps.append({
            "node": index[id(s.node)], "op": s.op, "formula": s.formula,
            "in_shapes": [None if sh is None else list(sh) for sh in s.in_shapes],
            "grad_out": _array(s.grad_out, max_values), "outs": outs, "updates": updates,
        })  # fmt: skip

    rows, routes = _layers(nodes, edges)
    width = max(sum(_BEND_W if isinstance(t, _Bend) else _BOX_W + 16 for t in row) for row in rows)
    width, height = max(width + 20, 300), len(rows) * _ROW_H + 10
    xy: dict[int, tuple[float, float]] = {}
    for j, row in enumerate(rows):
        y = height - (j + 0.5) * _ROW_H  # layer 0 (the leaves) at the bottom
        x = (width - sum(_BEND_W if isinstance(t, _Bend) else _BOX_W + 16 for t in row)) / 2
        for t in row:
            w = _BEND_W if isinstance(t, _Bend) else _BOX_W + 16
            xy[id(t)] = (x + w / 2, y)
            x += w

    node_data = []
    for t in nodes:
        kind = "leaf" if t._prim is None else "loss" if t is loss else "op"
        data = t._data
        node_data.append({
            "kind": kind, "name": label[id(t)] if kind == "leaf" else t._prim.name,
            "shape": list(data.shape), "dtype": str(data.dtype),
            "value": _array(data, max_values),
        })  # fmt: skip
    svg = [f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
           f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker>'
           "</defs>"]  # fmt: skip
    for k, route in enumerate(routes):
        pts = [xy[id(t)] for t in route]
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        pts[0] = (x0, y0 - _BOX_H / 2)
        pts[-1] = (x1, y1 + _BOX_H / 2)
        d = " ".join(f"{'M' if i == 0 else 'L'}{px:.1f},{py:.1f}" for i, (px, py) in enumerate(pts))
        p, t = route[0], route[-1]
        svg.append(f'<path class="edge" id="e{k}" data-from="{index[id(p)]}" '
                   f'data-to="{index[id(t)]}" d="{d}" marker-end="url(#arrow)"/>')  # fmt: skip
    for k, t in enumerate(nodes):
        x, y = xy[id(t)]
        nd = node_data[k]
        lines = [nd["name"], f"{tuple(nd['shape'])} {nd['dtype']}", "value " + _short(t._data)]
        texts = "".join(
            f'<text x="{x:.1f}" y="{y - _BOX_H / 2 + 14 + 13 * i:.1f}"'
            f"{' class=title' if i == 0 else ''}>{html.escape(s)}</text>"
            for i, s in enumerate(lines)
        )
        svg.append(
            f'<g class="node {nd["kind"]}" id="n{k}" data-node="{k}">'
            f'<rect x="{x - _BOX_W / 2:.1f}" y="{y - _BOX_H / 2:.1f}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="8"/>{texts}<text x="{x:.1f}" y="{y + _BOX_H / 2 - 7:.1f}" '
            f'class="grad" id="g{k}">grad —</text></g>'
        )
    svg.append("</svg>")

    page: dict[str, Any] = {
        "title": title, "loss_shape": list(loss.shape), "nodes": node_data, "steps": steps,
        "leaves": [index[id(leaf.tensor)] for leaf in e.leaves],
        "final": {str(index[id(leaf.tensor)]): _array(leaf.grad, max_values) for leaf in e.leaves},
    }  # fmt: skip
    if derivation is not None:
        checks = []
        for text, value, t in derivation.checks:
            if id(t) not in index or t._prim is not None:
                raise ValueError(
                    f"explain_html: the derivation's check {text!r} names a tensor that is not a "
                    "leaf of this loss's graph"
                )
            walk = e.grad(t)
            if walk is None or np.shape(value) != walk.shape:
                raise ValueError(
                    f"explain_html: the derivation's check {text!r} has shape "
                    f"{np.shape(value)}, but the gradient reaching that leaf has shape "
                    f"{None if walk is None else walk.shape}"
                )
            checks.append({"text": text, "value": _array(value, 10**9), "leaf": index[id(t)],
                           "walk": _array(walk, 10**9)})  # fmt: skip
        page["derivation"] = {
            "title": derivation.title,
            "lines": [{"text": s, "value": _array(v, max_values)} for s, v in derivation.lines],
            "checks": checks,
        }
    blob = json.dumps(page, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    doc = _TEMPLATE.format(title=html.escape(title), svg="\n".join(svg), data=blob,
                           css=_CSS, js=_JS, n=len(steps))  # fmt: skip
    return write_atomic(path, doc)


def article_derivation(
    x: Any, c: int, params: dict[str, Any], leaves: dict[str, Tensor]
) -> Derivation:
    """The article's derivation by hand of a softmax cross-entropy loss, with its numbers.

    For logistic regression (``params`` has ``W`` and ``b``; q = W x + b, p = softmax(q),
    L = -ln p_c): the local derivatives dL/dp_c = -1/p_c, dp_c/dq_i = p_c (delta_ic - p_i) and
    dq/dW = x, chained into dL/dq = p - onehot(c), dL/dW = dL/dq outer x and dL/db = dL/dq. For
    the two-layer network (``W1``, ``b1``, ``W2``, ``b2``; h = tanh(W1 x + b1)) the same at
    the output layer, then back through tanh (dh/dz1 = 1 - h^2). Each chained gradient is a
    check against the leaf named the same in ``leaves``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> W, b = np.zeros((3, 2)), np.zeros(3)
    >>> leaves = {"W": cr.tensor(W, requires_grad=True), "b": cr.tensor(b, requires_grad=True)}
    >>> d = article_derivation(np.array([1.0, 2.0]), 0, {"W": W, "b": b}, leaves)
    >>> [text for text, _ in d.lines][3]
    'dL/dp_c = −1/p_c'
    """
    x = np.asarray(x, dtype=np.float64)

    def softmax(q: np.ndarray) -> np.ndarray:
        p = np.exp(q - q.max())
        return p / p.sum()

    if set(params) == {"W", "b"}:
        W, b = (np.asarray(params[k], np.float64) for k in ("W", "b"))
        q = W @ x + b
        p = softmax(q)
        onehot = np.eye(len(q))[c]
        dq = -1 / p[c] * (p[c] * (onehot - p))
        lines = [
            ("q = W x + b", q), ("p = softmax(q)", p), ("L = −ln p_c", -np.log(p[c])),
            ("dL/dp_c = −1/p_c", -1 / p[c]),
            ("dp_c/dq_i = p_c (δ_ic − p_i)", p[c] * (onehot - p)),
            ("dq/dW = x (row i of W feeds q_i)", x),
            ("dL/dq = dL/dp_c · dp_c/dq = p − onehot(c)", dq),
        ]  # fmt: skip
        checks = [("dL/dW = dL/dq ⊗ x", np.outer(dq, x), leaves["W"]),
                  ("dL/db = dL/dq", dq, leaves["b"])]  # fmt: skip
        title = f"The article's derivation (correct class c = {c})"
    elif set(params) == {"W1", "b1", "W2", "b2"}:
        W1, b1, W2, b2 = (np.asarray(params[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
        h = np.tanh(W1 @ x + b1)
        p = softmax(W2 @ h + b2)
        dq2 = p - np.eye(len(p))[c]
        dz1 = (W2.T @ dq2) * (1 - h**2)
        lines = [
            ("h = tanh(W1 x + b1)", h), ("p = softmax(W2 h + b2)", p),
            ("L = −ln p_c", -np.log(p[c])),
            ("dL/dq2 = p − onehot(c)", dq2), ("dL/dh = W2ᵀ dL/dq2", W2.T @ dq2),
            ("dh/dz1 = 1 − h²", 1 - h**2), ("dL/dz1 = dL/dh · (1 − h²)", dz1),
        ]  # fmt: skip
        checks = [("dL/dW2 = dL/dq2 ⊗ h", np.outer(dq2, h), leaves["W2"]),
                  ("dL/db2 = dL/dq2", dq2, leaves["b2"]),
                  ("dL/dW1 = dL/dz1 ⊗ x", np.outer(dz1, x), leaves["W1"]),
                  ("dL/db1 = dL/dz1", dz1, leaves["b1"])]  # fmt: skip
        title = f"The derivation by hand, layer by layer (correct class c = {c})"
    else:
        raise ValueError(
            "article_derivation: params must be W, b (logistic regression) or W1, b1, W2, b2 "
            f"(two-layer network), got {sorted(params)}"
        )
    return Derivation(title, lines, checks)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;display:flex;flex-wrap:wrap}
header{width:100%;padding:8px 16px;background:#f4f4f4;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 6px}h2{font-size:15px;margin:12px 0 4px}
button{font:inherit;padding:3px 12px;margin-right:4px}
#wrap{flex:1 1 520px;overflow:auto;padding:8px;max-height:calc(100vh - 90px)}
#side{flex:1 1 380px;padding:0 16px;overflow:auto;max-height:calc(100vh - 90px)}
svg text{font:11px monospace;text-anchor:middle;fill:#222}svg text.title{font-weight:bold}
.node rect{stroke:#666;fill:#fde9cf}.node.leaf rect{fill:#dbe9f6}.node.loss rect{fill:#d5efd5}
.node.done rect{stroke:#999;opacity:.75}.node.current rect{stroke:#d62728;stroke-width:3;opacity:1}
.node.target rect{stroke:#1f77b4;stroke-width:3}.node.filled rect{fill:#b9e4b9}
.edge{fill:none;stroke:#777;stroke-width:1.2}.edge.active{stroke:#d62728;stroke-width:2.5}
svg marker path{fill:#777}text.grad{fill:#a11}
table.arr{border-collapse:collapse;margin:2px 0 6px;font:12px monospace}
table.arr td{border:1px solid #ddd;padding:1px 5px;text-align:right}
.formula{font:13px monospace;white-space:pre-wrap;background:#f7f7f7;padding:4px 6px}
.ok{color:#170}.bad{color:#b00;font-weight:bold}.muted{color:#777}
"""

_JS = r"""
const D = JSON.parse(document.getElementById('data').textContent);
const N = D.steps.length;
let k = 0, timer = null;
const $ = (id) => document.getElementById(id);
const num = (v) => Number(v);
function fmt(v) {
  v = num(v);
  if (!isFinite(v)) return String(v);
  if (v === 0) return '0';
  return String(Number(v.toPrecision(7)));
}
function shapeText(s) { return '(' + s.join(', ') + (s.length === 1 ? ',' : '') + ')'; }
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const a in attrs || {}) e.setAttribute(a, attrs[a]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function shortText(a) {
  if (!a.values) return a.summary;
  const t = a.values.length === 1 ? fmt(a.values[0]) : '[' + a.values.map(fmt).join(', ') + ']';
  return t.length > 26 ? t.slice(0, 25) + "…" : t;
}
// An array as a table of its values (a matrix row by row), or its summary and a heatmap.
function arrayView(a, cls) {
  const box = el('div', {class: cls || 'array'});
  if (a.values) {
    const s = a.shape, cols = s.length ? s[s.length - 1] : 1;
    const t = el('table', {class: 'arr'});
    for (let i = 0; i < a.values.length; i += Math.max(cols, 1)) {
      const tr = el('tr');
      for (let j = i; j < Math.min(i + Math.max(cols, 1), a.values.length); j++) {
        tr.appendChild(el('td', {class: 'v', 'data-value': String(a.values[j])}, fmt(a.values[j])));
      }
      t.appendChild(tr);
    }
    box.appendChild(t);
    return box;
  }
  box.appendChild(el('div', {class: 'summary'}, a.summary));
  const h = a.heat, r = h.length, c = h[0].length, m = 99;
  const ns = 'http://www.w3.org/2000/svg', px = Math.max(4, Math.floor(160 / Math.max(r, c)));
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', c * px); svg.setAttribute('height', r * px);
  h.forEach((row, i) => row.forEach((v, j) => {
    const q = m ? num(v) / m : 0, rect = document.createElementNS(ns, 'rect');
    const u = Math.round(255 - 200 * Math.abs(q));
    const col = q >= 0 ? `rgb(255,${u},${u})` : `rgb(${u},${u},255)`;
    rect.setAttribute('x', j * px); rect.setAttribute('y', i * px);
    rect.setAttribute('width', px); rect.setAttribute('height', px); rect.setAttribute('fill', col);
    svg.appendChild(rect);
  }));
  box.appendChild(svg);
  box.appendChild(el('div', {class: 'muted'}, 'block means; red > 0, blue < 0'));
  return box;
}
function nodeName(i) {
  const n = D.nodes[i];
  if (n.kind === 'leaf') return n.name;
  const s = D.steps.findIndex((st) => st.node === i);
  return '[' + (s + 1) + '] ' + n.name;
}
function leafGrads(upto) {  // each leaf's .grad after the first `upto` steps
  const g = {};
  for (let s = 0; s < upto; s++) for (const u of D.steps[s].updates) g[u.leaf] = u.grad;
  return g;
}
function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(num(a[i]) - num(b[i])));
  return m;
}
function render() {
  $('pos').textContent = k === 0 ? `step 0 of ${N}: press step (→)` : `step ${k} of ${N}`;
  $('back').disabled = k === 0; $('step').disabled = k === N;
  document.querySelectorAll('.node').forEach(
    (g) => g.classList.remove('current', 'done', 'target', 'filled'));
  document.querySelectorAll('.edge').forEach((e) => e.classList.remove('active'));
  for (let i = 0; i < D.nodes.length; i++) $('g' + i).textContent = 'grad —';
  for (let s = 0; s < k; s++) {
    const st = D.steps[s];
    $('n' + st.node).classList.add(s === k - 1 ? 'current' : 'done');
    $('g' + st.node).textContent = 'grad ' + shortText(st.grad_out);
  }
  const lg = leafGrads(k);
  for (const i in lg) {
    $('g' + i).textContent = 'grad ' + shortText(lg[i]);
    $('n' + i).classList.add('filled');
  }
  const cur = $('current'); cur.textContent = '';
  if (k === 0) {
    cur.appendChild(el('p', {}, `The loss has shape ${shapeText(D.loss_shape)}; the walk `
      + `starts from dL/dL = 1 and visits the ${N} operations in the order backward() runs `
      + 'them (the reverse of the order they were recorded in).'));
  } else {
    const st = D.steps[k - 1];
    cur.appendChild(el('h2', {id: 'cur-op'}, `[${k}] ${st.op}`));
    const ins = st.in_shapes.filter((s) => s).map(shapeText).join(', ');
    cur.appendChild(el('div', {class: 'muted'},
      'out ' + shapeText(D.nodes[st.node].shape) + ' ← in ' + ins));
    cur.appendChild(el('div', {class: 'formula', id: 'cur-formula'}, 'rule: ' + st.formula));
    cur.appendChild(el('h2', {}, 'value (forward)'));
    cur.appendChild(arrayView(D.nodes[st.node].value));
    cur.appendChild(el('h2', {}, 'dL/d(out), coming in'));
    cur.appendChild(arrayView(st.grad_out, 'array grad-out'));
    for (const o of st.outs) {
      cur.appendChild(el('h2', {}, `dL/d(in ${o.arg}) → ${nodeName(o.to)}`));
      cur.appendChild(arrayView(o.grad, 'array grad-in'));
      $('n' + o.to).classList.add('target');
      document.querySelectorAll(`.edge[data-from="${o.to}"][data-to="${st.node}"]`)
        .forEach((e) => e.classList.add('active'));
    }
  }
  const lv = $('leaves'); lv.textContent = '';
  for (const i of D.leaves) {
    const n = D.nodes[i];
    const div = el('div', {class: 'leaf-grad', id: 'leaf' + i, 'data-leaf': n.name});
    div.appendChild(el('h2', {}, `${n.name} ${shapeText(n.shape)} ${n.dtype}: .grad`));
    div.appendChild(lg[i] ? arrayView(lg[i]) : el('div', {class: 'muted'}, 'None (not yet)'));
    lv.appendChild(div);
  }
  if (D.derivation) {
    const last = {};
    D.steps.forEach((st, s) => st.updates.forEach((u) => { last[u.leaf] = s + 1; }));
    D.derivation.checks.forEach((c, j) => {
      const out = $('check' + j);
      if (k < last[c.leaf]) {
        out.className = 'muted';
        out.textContent = 'the walk has not finished this leaf yet';
        return;
      }
      const walk = c.walk, d = maxDiff(c.value.values, walk.values);
      const ok = d <= 1e-10 * Math.max(1, ...walk.values.map((v) => Math.abs(num(v))));
      out.className = ok ? 'ok' : 'bad';
      out.textContent = (ok ? 'equals' : 'DIFFERS FROM') + ` the walk's gradient of `
        + `${D.nodes[c.leaf].name} (max |difference| ${d.toExponential(2)})`;
    });
  }
}
function go(to) { k = Math.max(0, Math.min(N, to)); render(); }
function play() {
  if (timer) { clearInterval(timer); timer = null; $('play').textContent = 'play'; return; }
  if (k === N) k = 0;
  $('play').textContent = 'pause';
  timer = setInterval(() => { if (k >= N) { play(); return; } go(k + 1); }, 900);
}
$('step').onclick = () => go(k + 1);
$('back').onclick = () => go(k - 1);
$('play').onclick = play;
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') { go(k + 1); ev.preventDefault(); }
  else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') { go(k - 1); ev.preventDefault(); }
  else if (ev.key === 'Home') go(0);
  else if (ev.key === 'End') go(N);
  else if (ev.key === ' ') { play(); ev.preventDefault(); }
});
if (D.derivation) {
  const dv = $('derivation');
  dv.appendChild(el('h2', {}, D.derivation.title));
  for (const l of D.derivation.lines) {
    dv.appendChild(el('div', {class: 'formula'}, l.text));
    dv.appendChild(arrayView(l.value));
  }
  D.derivation.checks.forEach((c, j) => {
    dv.appendChild(el('div', {class: 'formula'}, c.text + ' (by hand)'));
    dv.appendChild(arrayView(c.value, 'array by-hand'));
    dv.appendChild(el('div', {id: 'check' + j, class: 'check'}));
  });
}
render();
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
<header><h1>{title}</h1>
<button id="back" title="back (←)">◀ back</button><button id="step" title="step (→)">step ▶</button>
<button id="play" title="play / pause (space)">play</button>
<span id="pos">{n} steps</span>
<span class="muted"> — arrow keys step, space plays; Home / End jump</span></header>
<div id="wrap">{svg}</div>
<div id="side"><div id="current"></div><div id="leaves"></div><div id="derivation"></div></div>
<script type="application/json" id="data">{data}</script>
<script>{js}</script>
</body></html>
"""
