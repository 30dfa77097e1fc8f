"""The pages in a real browser: click through the backward pass and read what the page shows.

Every gradient is read from the page's visible text (rounded to 7 significant digits there), so
the comparisons allow that rounding and nothing more.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.training import train
from chainrule.viz import explain_html

from .conftest import console_errors

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHOWN = {"rtol": 1e-6, "atol": 1e-300}  # the page prints 7 significant digits


def shown(browser, selector: str) -> list[np.ndarray]:
    """The arrays displayed under ``selector``, each read from its table's cells."""
    texts = browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map("
        "t => [...t.querySelectorAll('td.v')].map(c => c.textContent))",
        selector,
    )
    return [np.array([float(v) for v in cells]) for cells in texts]


def leaf_grads(browser) -> dict[str, np.ndarray]:
    names = browser.execute_script(
        "return [...document.querySelectorAll('.leaf-grad')].map(d => d.dataset.leaf)"
    )
    return {n: shown(browser, f'.leaf-grad[data-leaf="{n}"] table')[0] for n in names}


def click_through(browser, path, e) -> None:
    """Open the page and press "step" through the whole walk, checking each step against the
    explanation ``e`` (the op, the incoming gradient, each outgoing gradient)."""
    browser.get(path.as_uri())
    assert browser.find_element("id", "pos").text.startswith(f"step 0 of {len(e.steps)}")
    step = browser.find_element("id", "step")
    for k, s in enumerate(e.steps, 1):
        step.click()
        assert browser.find_element("id", "pos").text == f"step {k} of {len(e.steps)}"
        assert browser.find_element("id", "cur-op").text == f"[{k}] {s.op}"
        formula = browser.find_element("id", "cur-formula").text
        assert " ".join(s.formula.split()) in " ".join(formula.split())
        if s.grad_out.size <= 64:
            (g,) = shown(browser, "#current .grad-out table")
            np.testing.assert_allclose(g, s.grad_out.reshape(-1), **SHOWN)
        sent = [g for g in s.grads_in if g is not None]
        outs = shown(browser, "#current .grad-in table")
        assert len(outs) == len([g for g in sent if g.size <= 64])
        for got, want in zip(outs, [g for g in sent if g.size <= 64]):
            np.testing.assert_allclose(got, want.reshape(-1), **SHOWN)
    assert not step.is_enabled()


def test_article_example_clicked_through(browser, tmp_path, capsys):
    path = tmp_path / "backward.html"
    assert main(["explain", "--html", str(path)]) == 0
    capsys.readouterr()
    # the same example, rebuilt from the CLI's seed, to hold the page against
    rng = np.random.default_rng(0)
    x = rng.normal(size=4)
    c = int(rng.integers(3))
    W = cr.tensor(rng.normal(scale=0.5, size=(3, 4)), dtype=np.float64, requires_grad=True)
    b = cr.tensor(rng.normal(scale=0.5, size=3), dtype=np.float64, requires_grad=True)
    loss = -cr.log(cr.softmax(W @ x + b, axis=-1)[c])
    e = cr.explain(loss, file=io.StringIO())
    click_through(browser, path, e)
    loss.backward()
    grads = leaf_grads(browser)
    assert set(grads) == {"W", "b"}
    np.testing.assert_allclose(grads["W"], W.grad.numpy().reshape(-1), **SHOWN)
    np.testing.assert_allclose(grads["b"], b.grad.numpy(), **SHOWN)
    for j in range(2):  # the derivation by hand equals the walk's gradient
        assert browser.find_element("id", f"check{j}").text.startswith("equals the walk")
    assert "dL/dp_c = −1/p_c" in browser.find_element("id", "derivation").text
    # back, then the arrow keys; before the walk reaches W, its .grad is empty
    browser.find_element("id", "back").click()
    assert browser.find_element("id", "pos").text == f"step {len(e.steps) - 1} of {len(e.steps)}"
    assert "None" in browser.find_element("css selector", '.leaf-grad[data-leaf="W"]').text
    assert "not finished" in browser.find_element("id", "check0").text
    body = browser.find_element("tag name", "body")
    body.send_keys("\ue014")  # ArrowRight
    assert browser.find_element("id", "pos").text == f"step {len(e.steps)} of {len(e.steps)}"
    body.send_keys("\ue011")  # Home
    assert browser.find_element("id", "pos").text.startswith("step 0 of")
    assert console_errors(browser) == []


def test_small_mlp_clicked_through(browser, tmp_path):
    cr.random.seed(3)
    model = cr.nn.Sequential(cr.nn.Linear(4, 5), cr.nn.Tanh(), cr.nn.Linear(5, 3))
    x = cr.tensor(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    loss = cr.nn.functional.cross_entropy(model(x), np.array([0, 2, 1, 1, 0, 2]))
    params = dict(model.named_parameters())
    path = explain_html(loss, tmp_path / "mlp.html", names=params)
    e = cr.explain(loss, file=io.StringIO())
    click_through(browser, path, e)
    loss.backward()
    grads = leaf_grads(browser)
    assert set(grads) == set(params)
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], p.grad.numpy().reshape(-1), **SHOWN)
    assert browser.find_elements("css selector", ".node.filled") != []
    assert console_errors(browser) == []


def test_play_walks_to_the_end(browser, tmp_path):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    path = explain_html((x * x).sum(), tmp_path / "p.html")
    browser.get(path.as_uri())
    browser.find_element("id", "play").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda d: d.find_element("id", "pos").text == "step 2 of 2")
    np.testing.assert_allclose(leaf_grads(browser)["leaf A"], [2.0, 4.0])
    assert console_errors(browser) == []


def test_report_shows_the_metrics(browser, tmp_path):
    out = tmp_path / "m"
    train("iris", model="mlp", epochs=5, out=out, progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    browser.get((out / "report.html").as_uri())
    cells = browser.find_elements("css selector", "td.metric")
    got = {c.get_attribute("data-metric"): float(c.text) for c in cells}
    assert set(got) == {"accuracy", "loss"}
    for k, v in got.items():
        np.testing.assert_allclose(v, metrics[k], rtol=1e-5)
    assert "Confusion matrix" in browser.find_element("tag name", "body").text
    assert browser.find_element("id", "confusion").is_displayed()
    assert console_errors(browser) == []


def test_large_tensors_show_a_heatmap_and_the_check(browser, tmp_path):
    from chainrule.viz.explain_html import Derivation

    w = cr.tensor(np.linspace(-1, 1, 100).reshape(10, 10), requires_grad=True)
    loss = (cr.tanh(w) * 3).sum()
    by_hand = 3 * (1 - np.tanh(w.numpy()) ** 2)
    check = Derivation("by hand", [], [("dL/dw = 3 (1 - tanh(w)^2)", by_hand, w)])
    path = explain_html(loss, tmp_path / "big.html", names={"w": w}, derivation=check)
    browser.get(path.as_uri())
    browser.find_element("tag name", "body").send_keys("\ue010")  # End
    grad = browser.find_element("css selector", '.leaf-grad[data-leaf="w"]')
    assert "shape (10, 10), norm" in grad.text
    assert len(grad.find_elements("css selector", "svg rect")) == 100  # a 10 x 10 heatmap
    assert browser.find_element("id", "check0").text.startswith("equals the walk")
    assert console_errors(browser) == []
