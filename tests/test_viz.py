"""chainrule.viz: DOT text and pictures of a recorded graph, and training plots."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule import viz
from chainrule.autodiff import parents_of

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (chainrule[viz]) missing"
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _mlp_loss():
    """A small regression net with a shared leaf (x used twice) and a large tensor (summaries)."""
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.normal(size=(4, 3)), dtype=np.float64)
    W = cr.tensor(rng.normal(size=(3, 5)), dtype=np.float64, requires_grad=True)
    b = cr.tensor(np.zeros(5), dtype=np.float64, requires_grad=True)
    v = cr.tensor(rng.normal(size=5), dtype=np.float64, requires_grad=True)
    h = cr.tanh(X @ W + b)
    loss = ((h @ v - 1.0) ** 2).mean() + (v * v).sum()
    return loss, [W, b, v]


def _walk(loss):
    """Every node reachable from loss and the number of parent -> child edges (independent
    of viz's own walk)."""
    nodes, n_edges, todo = {id(loss): loss}, 0, [loss]
    while todo:
        t = todo.pop()
        for p in parents_of(t):
            if p is not None:
                n_edges += 1
                if id(p) not in nodes:
                    nodes[id(p)] = p
                    todo.append(p)
    return list(nodes.values()), n_edges


def _svg_text(path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return " ".join(root.itertext())


def _check_png(path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 5000


def test_to_dot_nodes_edges_values_and_grads():
    loss, (W, b, v) = _mlp_loss()
    dot = viz.to_dot(loss)
    nodes, n_edges = _walk(loss)
    ops = [t for t in nodes if t._prim is not None]
    leaves = [t for t in nodes if t._prim is None]
    assert dot.startswith("digraph chainrule {") and dot.endswith("}")
    assert len(re.findall(r"^  n\d+ -> n\d+", dot, flags=re.M)) == n_edges
    assert len(re.findall(r"^  n\d+ \[label=", dot, flags=re.M)) == len(nodes)
    for t in ops:
        assert f'label="{t._prim.name}\\n' in dot
    assert dot.count("requires_grad=True") == len(leaves) == 3
    # v (5 elements) is shown value by value with the gradient backward would give it.
    e = cr.explain(loss, file=io.StringIO())
    vals = ", ".join(f"{a:.7g}" for a in v.numpy())
    grads = ", ".join(f"{a:.7g}" for a in e.grad(v))
    assert f"(5,) float64\\nrequires_grad=True\\nvalue [{vals}]\\ngrad [{grads}]" in dot
    loss_line = [line for line in dot.splitlines() if "fillcolor" in line][-1]
    # the loss (an add) is drawn last, with the seed dL/dL = 1
    assert loss_line.startswith(f'  n{len(nodes) - 1} [label="add\\n')
    assert '\\ngrad 1"' in loss_line
    # The (3, 5) weight is summarised.
    assert f"norm {float(np.linalg.norm(W.numpy())):.5g}" in dot
    assert W.grad is None and b.grad is None and v.grad is None


def test_to_dot_edge_per_argument_and_options():
    x = cr.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    loss = (x * x).sum()
    dot = viz.to_dot(loss, values=False)
    assert dot.count("n0 -> n1") == 2  # x enters multiply twice
    assert "value" not in dot and "grad [2, 4]" in dot
    plain = viz.to_dot(x * 3.0, grads=False)  # a non-scalar output is fine without gradients
    assert "\\ngrad" not in plain and "value [3, 6]" in plain
    with pytest.raises(ValueError, match=r"to_dot: gradients need a one-element loss.*\(2,\)"):
        viz.to_dot(x * 3.0)
    with pytest.raises(ValueError, match="to_dot: the tensor is a leaf"):
        viz.to_dot(x)
    with pytest.raises(TypeError, match="to_dot: expected a Tensor, got ndarray"):
        viz.to_dot(np.ones(2))


@needs_matplotlib
def test_draw_graph_png_and_svg_leave_graph_untouched(tmp_path):
    loss, params = _mlp_loss()
    png = viz.draw_graph(loss, tmp_path / "g.png")
    assert png == tmp_path / "g.png"
    _check_png(png)
    svg = viz.draw_graph(loss, str(tmp_path / "g.svg"), values=False)
    text = _svg_text(svg)
    nodes, _ = _walk(loss)
    for name in {t._prim.name for t in nodes if t._prim is not None}:
        assert name in text
    assert "leaf A" in text and "value" not in text and "grad" in text
    assert sorted(os.listdir(tmp_path)) == ["g.png", "g.svg"]  # no temporary file left
    # Nothing was accumulated or freed: backward gives the same gradients as on a fresh graph.
    assert all(p.grad is None for p in params)
    loss.backward()
    fresh, fresh_params = _mlp_loss()
    fresh.backward()
    for p, q in zip(params, fresh_params):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_layout_routes_layer_skipping_edges_through_gaps_between_boxes():
    from chainrule.viz.graph import _Bend, _graph, _layers

    x = cr.tensor([0.5, -1.0], requires_grad=True)
    w = cr.tensor([2.0, 3.0], requires_grad=True)
    a = x * w
    loss = (a.exp().log().tanh() + a).sum() + (w * w).sum()  # a -> add skips three layers
    nodes, edges = _graph(loss, "test")
    rows, routes = _layers(nodes, edges)
    row_of = {id(t): j for j, row in enumerate(rows) for t in row}
    assert len(row_of) == sum(len(row) for row in rows)  # each node or bend in one place
    assert len(routes) == len(edges)
    for (p, t, _), route in zip(edges, routes):
        assert route[0] is p and route[-1] is t
        assert all(isinstance(r, _Bend) for r in route[1:-1])
        # One step per layer: an edge never jumps over a layer, so never across a box there.
        assert [row_of[id(r)] for r in route] == list(range(row_of[id(p)], row_of[id(t)] + 1))
    skip = [r for r in routes if r[0] is a and r[-1]._prim.name == "add"]
    assert len(skip) == 1 and len(skip[0]) == 5
    bends = [r for route in routes for r in route[1:-1]]
    assert len(bends) == sum(isinstance(t, _Bend) for row in rows for t in row)
    for p, _, _ in edges:  # a leaf sits just below its lowest user
        if p._prim is None:
            lowest = min(row_of[id(u)] for q, u, _ in edges if q is p)
            assert row_of[id(p)] == lowest - 1


@needs_matplotlib
def test_draw_graph_with_skip_edges(tmp_path):
    x = cr.tensor([0.5, -1.0], requires_grad=True)
    a = x * 2.0
    loss = (a.exp().log().tanh() + a).sum() + (x * x).sum()
    _check_png(viz.draw_graph(loss, tmp_path / "skip.png"))


@needs_matplotlib
def test_draw_graph_bad_input(tmp_path):
    x = cr.tensor([1.0], requires_grad=True)
    loss = (x * 2.0).sum()
    with pytest.raises(ValueError, match=r"draw_graph: .*must end in \.png or \.svg.*'\.jpg'"):
        viz.draw_graph(loss, tmp_path / "g.jpg")
    with pytest.raises(FileNotFoundError, match="draw_graph: the directory"):
        viz.draw_graph(loss, tmp_path / "missing" / "g.png")
    assert os.listdir(tmp_path) == []


@needs_matplotlib
def test_plot_training_curves(tmp_path):
    losses = list(np.exp(-np.linspace(0, 3, 50)))
    _check_png(viz.plot_training_curves(losses, tmp_path / "c.png", val_scores=[0.5, 0.7, 0.8]))
    text = _svg_text(viz.plot_training_curves(losses, tmp_path / "c.svg", val_scores=[0.5, 0.9]))
    assert "training loss" in text and "validation score" in text
    assert "validation score" not in _svg_text(viz.plot_training_curves(losses, tmp_path / "d.svg"))
    assert (tmp_path / "c.svg").stat().st_size > 5000
    with pytest.raises(ValueError, match=r"plot_training_curves: losses must be .*shape \(2, 2\)"):
        viz.plot_training_curves(np.ones((2, 2)), tmp_path / "e.png")
    with pytest.raises(ValueError, match="plot_training_curves: .*suffix '.pdf'"):
        viz.plot_training_curves(losses, tmp_path / "e.pdf")


@needs_matplotlib
def test_plot_confusion_matrix(tmp_path):
    cm = np.array([[13, 2, 0], [1, 9, 4], [0, 3, 11]])
    _check_png(viz.plot_confusion_matrix(cm, tmp_path / "cm.png"))
    out = viz.plot_confusion_matrix(cm, tmp_path / "cm.svg", class_names=["cat", "dog", "eel"])
    text = _svg_text(out)
    assert out.stat().st_size > 5000
    for word in ["cat", "dog", "eel", "13", "11", "predicted", "true"]:
        assert word in text
    with pytest.raises(ValueError, match=r"plot_confusion_matrix: cm must be a square .*\(2, 3\)"):
        viz.plot_confusion_matrix(np.ones((2, 3), dtype=int), tmp_path / "x.png")
    with pytest.raises(TypeError, match="plot_confusion_matrix: cm must hold integer.*float64"):
        viz.plot_confusion_matrix(np.ones((2, 2)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="plot_confusion_matrix: got 2 class_names for a 3x3"):
        viz.plot_confusion_matrix(cm, tmp_path / "x.png", class_names=["a", "b"])


@needs_matplotlib
def test_plot_decision_boundary(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2)).astype(np.float32)
    y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    seen = []

    def predict(P):
        seen.append((P.shape, P.dtype))
        return cr.tensor((P[:, 0] + 0.5 * P[:, 1] > 0).astype(np.int64)).numpy().astype(str)

    def predict_str(P):
        return np.where(predict(P) == "1", "pos", "neg")

    _check_png(viz.plot_decision_boundary(predict_str, X, y, tmp_path / "db.png", resolution=50))
    assert seen == [((2500, 2), np.float32)]
    text = _svg_text(viz.plot_decision_boundary(predict_str, X, y, tmp_path / "db.svg"))
    assert "pos" in text and "neg" in text
    assert (tmp_path / "db.svg").stat().st_size > 5000
    with pytest.raises(ValueError, match=r"plot_decision_boundary: X must have shape \(n, 2\)"):
        viz.plot_decision_boundary(predict_str, X[:, :1], y, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"plot_decision_boundary: y must have shape \(60,\)"):
        viz.plot_decision_boundary(predict_str, X, y[:5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="plot_decision_boundary: predict_fn returned 3 labels"):
        viz.plot_decision_boundary(lambda P: [0, 1, 0], X, y, tmp_path / "x.png")
    with pytest.raises(ValueError, match="plot_decision_boundary: resolution must be an int"):
        viz.plot_decision_boundary(predict_str, X, y, tmp_path / "x.png", resolution=1)


def test_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    assert "multiply" in viz.to_dot(loss)
    hint = r'draw_graph needs matplotlib.*pip install "chainrule\[viz\]"'
    with pytest.raises(ImportError, match=hint):
        viz.draw_graph(loss, tmp_path / "g.png")
    with pytest.raises(ImportError, match=r'plot_confusion_matrix needs .*chainrule\[viz\]'):
        viz.plot_confusion_matrix([[1]], tmp_path / "cm.svg")
    assert os.listdir(tmp_path) == []
