"""cr.viz.explain_html and ``chainrule explain --html``: the page's data, without a browser.

The page carries its walk as JSON; these tests read it back and hold it against
:func:`chainrule.explain` and ``backward()``. tests/browser/ clicks through the same pages.
"""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.viz import article_derivation, explain_html
from chainrule.viz.explain_html import Derivation


def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1).replace("<\\/", "</"))


def values(a: dict) -> np.ndarray:
    return np.array([float(v) for v in a["values"]]).reshape(a["shape"])


def test_square_sum_page_matches_explain_and_backward(tmp_path):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    path = explain_html(loss, tmp_path / "b.html")
    assert x.grad is None  # nothing touched
    d = page_data(path)
    assert [s["op"] for s in d["steps"]] == ["sum", "multiply"]
    assert d["steps"][0]["formula"] == cr.ops.primitive_table["sum"].formula
    np.testing.assert_array_equal(values(d["steps"][0]["grad_out"]), 1.0)
    # x feeds multiply twice: two contributions, the running .grad after each
    updates = d["steps"][1]["updates"]
    assert [values(u["grad"]).tolist() for u in updates] == [[1.0, 2.0], [2.0, 4.0]]
    loss.backward()
    leaf = d["leaves"][0]
    np.testing.assert_array_equal(values(d["final"][str(leaf)]), x.grad.numpy())
    assert d["nodes"][leaf]["name"] == "leaf A" and d["nodes"][leaf]["dtype"] == "float32"


def test_mlp_page_every_step_equals_explain(tmp_path):
    cr.random.seed(1)
    model = cr.nn.Sequential(cr.nn.Linear(4, 5), cr.nn.Tanh(), cr.nn.Linear(5, 3))
    x = cr.tensor(np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32))
    loss = cr.nn.functional.cross_entropy(model(x), np.array([0, 2]))
    e = cr.explain(loss, file=io.StringIO())
    params = dict(model.named_parameters())
    d = page_data(explain_html(loss, tmp_path / "mlp.html", names=params))
    assert [s["op"] for s in d["steps"]] == [s.op for s in e.steps]
    for step, s in zip(d["steps"], e.steps):
        np.testing.assert_array_equal(values(step["grad_out"]), s.grad_out)
        sent = [g for g in s.grads_in if g is not None]
        assert len(step["outs"]) == len(sent)
        for out, g in zip(step["outs"], sent):
            np.testing.assert_array_equal(values(out["grad"]), g)
    loss.backward()
    shown = {d["nodes"][i]["name"]: values(d["final"][str(i)]) for i in d["leaves"]}
    assert set(shown) == set(params)
    for name, p in params.items():
        np.testing.assert_array_equal(shown[name], p.grad.numpy())


def test_names_and_layout(tmp_path):
    w = cr.tensor([[0.5, -1.0], [2.0, 0.1]], requires_grad=True)
    b = cr.tensor([0.1, 0.2], requires_grad=True)
    loss = cr.tanh(cr.tensor([[1.0, 2.0]]) @ w + b).sum()
    path = explain_html(loss, tmp_path / "n.html", names={"w": w, "b": b}, title="T <&>")
    text = path.read_text()
    d = page_data(path)
    leaf_names = {d["nodes"][i]["name"] for i in d["leaves"]}
    assert leaf_names == {"w", "b"}
    assert "<title>T &lt;&amp;&gt;</title>" in text
    # the loss on top, leaves at the bottom (SVG y grows downwards)
    ys = {}
    for k, y in re.findall(
        r'<g class="node [a-z]+" id="n(\d+)".*?<rect x="[\d.]+" y="([\d.]+)"', text
    ):
        ys[int(k)] = float(y)
    loss_k = next(k for k, n in enumerate(d["nodes"]) if n["kind"] == "loss")
    assert all(ys[loss_k] < ys[i] for i in d["leaves"])


def test_page_is_self_contained_and_small(tmp_path):
    cr.random.seed(0)
    w = cr.randn(100, 100, requires_grad=True)
    h = cr.randn(32, 100)
    for _ in range(24):
        h = cr.tanh(h @ w)
    loss = h.sum()
    path = explain_html(loss, tmp_path / "big.html")
    d = page_data(path)
    assert len(d["nodes"]) == 50
    assert path.stat().st_size < 500_000
    text = path.read_text()
    assert re.findall(r"https?://[^\"' ]+", text) == ["http://www.w3.org/2000/svg"] * 2
    assert " src=" not in text and "<link" not in text and "@import" not in text
    big = d["steps"][0]["outs"][0]["grad"]  # a (32, 100) gradient: summary and heatmap
    assert "values" not in big and big["summary"].startswith("shape (32, 100)")
    assert len(big["heat"]) == 16 and max(abs(v) for row in big["heat"] for v in row) == 99


def test_non_finite_values_are_valid_json(tmp_path):
    x = cr.tensor([0.0, 1.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        d = page_data(explain_html(cr.log(x).sum(), tmp_path / "nan.html"))
    node_values = [v for n in d["nodes"] for v in n["value"]["values"]]
    assert "-Infinity" in node_values
    assert "Infinity" in [v for u in d["steps"][-1]["updates"] for v in u["grad"]["values"]]


def test_refusals(tmp_path):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="explain_html: expected a Tensor"):
        explain_html(np.ones(2), tmp_path / "a.html")
    with pytest.raises(ValueError, match="leaf"):
        explain_html(x, tmp_path / "a.html")
    loss = (x * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        explain_html(loss, tmp_path / "a.html")
    y = x * 3
    with pytest.raises(ValueError, match="not a leaf"):
        explain_html(y.sum(), tmp_path / "a.html", derivation=Derivation("d", [], [("y", 1, y)]))
    with pytest.raises(ValueError, match="W, b"):
        article_derivation(np.ones(2), 0, {"V": np.ones((2, 2))}, {})
    assert not (tmp_path / "a.html").exists()


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_cli_explain_html_derivation_equals_backward(tmp_path, capsys, model):
    path = tmp_path / f"{model}.html"
    assert main(["explain", "--model", model, "--html", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    d = page_data(path)
    checks = d["derivation"]["checks"]
    assert len(checks) == (2 if model == "logreg" else 4)
    if model == "logreg":
        texts = [line["text"] for line in d["derivation"]["lines"]]
        assert "dL/dp_c = −1/p_c" in texts and "dp_c/dq_i = p_c (δ_ic − p_i)" in texts
        assert [s["op"] for s in d["steps"]][-1] == "matmul"
    for c in checks:
        by_hand, walk = values(c["value"]), values(d["final"][str(c["leaf"])])
        np.testing.assert_allclose(by_hand, walk, rtol=0, atol=1e-12)
        assert d["nodes"][c["leaf"]]["name"] in c["text"]


def test_device_page_equals_cpu_page(monkeypatch, tmp_path):
    from . import fake_cupy

    cupy = fake_cupy.install(monkeypatch)
    pages = []
    for device in ("cpu", "cuda"):
        cr.random.seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(4, 5), cr.nn.Tanh(), cr.nn.Linear(5, 3)).to(device)
        X = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
        y = np.array([0, 1, 2])
        if device == "cuda":
            X, y = cupy.asarray(X), cupy.asarray(y)
        loss = cr.nn.functional.cross_entropy(model(cr.as_tensor(X)), y)
        path = explain_html(loss, tmp_path / f"{device}.html", names=dict(model.named_parameters()))
        pages.append(page_data(path))
    assert pages[0] == pages[1]


def test_derivation_check_on_a_large_leaf_and_a_wrong_shape(tmp_path):
    w = cr.tensor(np.linspace(-1, 1, 100).reshape(10, 10), requires_grad=True)
    loss = (w * w).sum()
    by_hand = 2 * w.numpy()
    d = page_data(
        explain_html(loss, tmp_path / "w.html",
                     derivation=Derivation("by hand", [], [("dL/dw = 2 w", by_hand, w)]))
    )  # fmt: skip
    check = d["derivation"]["checks"][0]
    assert "values" not in d["final"][str(check["leaf"])]  # the node shows a summary...
    np.testing.assert_array_equal(values(check["walk"]), by_hand)  # ...the check has it all
    with pytest.raises(ValueError, match=r"shape \(3,\), but .* shape \(10, 10\)"):
        explain_html(loss, tmp_path / "x.html",
                     derivation=Derivation("d", [], [("bad", np.ones(3), w)]))  # fmt: skip


def test_cli_explain_html_unwritable_path(tmp_path, capsys):
    path = tmp_path / "no such folder" / "b.html"
    assert main(["explain", "--html", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule: error: {path}: ") and "Traceback" not in err
