"""The example scripts: the digits models learn, quickly, from a fixed seed."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_example():
    return _load("digits_mlp_and_cnn")


def test_mlp_learns_the_digits_in_a_few_epochs(digits_example):
    result = digits_example.run("mlp", epochs=4, verbose=False)
    losses = result["losses"]
    assert losses[-1] < 0.5 * losses[0]
    assert result["accuracy"] >= 0.93


def test_cnn_learns_the_digits_in_a_few_epochs(digits_example):
    result = digits_example.run("cnn", epochs=2, verbose=False)
    losses = result["losses"]
    assert losses[-1] < 0.5 * losses[0]
    assert result["accuracy"] >= 0.90


def test_same_seed_same_model(digits_example):
    a = digits_example.run("mlp", epochs=1, verbose=False)["model"].state_dict()
    b = digits_example.run("mlp", epochs=1, verbose=False)["model"].state_dict()
    assert all((a[k] == b[k]).all() for k in a)


def test_logistic_regression_example_runs(capsys):
    _load("logistic_regression").main()
    out = capsys.readouterr().out
    diffs = [float(v) for v in re.findall(r"max \|[^|]*\| = ([0-9.e+-]+)", out)]
    assert len(diffs) == 2 and max(diffs) < 1e-12
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.9


def test_docs_figures_script_writes_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location(
        "make_figures", EXAMPLES.parent / "docs" / "make_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.logistic_graph(tmp_path / "graph.png")
    data = (tmp_path / "graph.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000
