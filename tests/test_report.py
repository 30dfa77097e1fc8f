"""report.html, the page ``chainrule train`` writes beside the model (no browser needed here)."""

from __future__ import annotations

import json
import re

import numpy as np

from chainrule.cli import main
from chainrule.training import train
from chainrule.viz.report import line_chart, training_report

TABLE = """id,colour,size,weight,label
1,red,1.0,10,a
2,blue,,12,b
3,red,3.0,11,a
4,green,4.0,,b
5,blue,5.0,15,b
6,red,6.0,9,a
7,green,7.0,14,b
8,red,8.0,10,a
9,blue,9.5,13,b
10,red,10.0,8,a
11,green,11.0,16,b
12,red,12.0,9,a
"""


def metric_cells(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r'data-metric="(\w+)">([^<]+)<', text)}


def test_cli_train_report_shows_data_model_metrics_and_command(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    csv.write_text(TABLE)
    out = tmp_path / "m"
    argv = ["train", "--data", str(csv), "--target", "label", "--model", "logreg",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "report.html" in capsys.readouterr().out
    text = (out / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((out / "metrics.json").read_text())
    spec = json.loads((out / "model.json").read_text())
    shown = metric_cells(text)
    assert set(shown) == {"accuracy", "loss"}
    for k, v in shown.items():
        assert abs(v - metrics[k]) <= 1e-5 * max(1.0, abs(metrics[k]))
    assert "<script" not in text and "http" not in text.replace("http://www.w3.org/2000/svg", "")
    assert spec["command"] and f'<pre id="command">{spec["command"]}</pre>' in text
    assert "--target label" in spec["command"]
    # columns: the ID left out with its reason; one-hot categories; imputation
    assert spec["columns"]["dropped"] and "id" in spec["columns"]["dropped"]
    reason = spec["columns"]["dropped"]["id"]
    assert f"<td>id</td><td>left out</td><td>{reason}</td>" in text
    assert "one-hot over 3 categories: blue, green, red" in text
    assert "missing → median" in text
    # the confusion matrix counts every held-out row, its diagonal the correct ones
    cells = re.findall(r'data-true="(\d+)" data-pred="(\d+)">(\d+)<', text)
    total = sum(int(n) for _, _, n in cells)
    right = sum(int(n) for i, j, n in cells if i == j)
    assert total == metrics["n_test"] and right == round(metrics["accuracy"] * total)
    first = re.search(r'<polyline points="([^"]+)"[^>]*><title>training loss<', text)
    assert len(first.group(1).split()) == len(metrics["train_loss"])  # one point per iteration


def test_regression_report_has_predicted_vs_true_and_curves(tmp_path):
    r = train("moons", model="mlp", epochs=3, out=tmp_path / "m",
              progress=False, task="regression")  # fmt: skip
    text = (tmp_path / "m" / "report.html").read_text()
    shown = metric_cells(text)
    assert set(shown) == {"r2", "rmse", "mae"}
    for k in shown:
        assert abs(shown[k] - r[k]) <= 1e-5 * max(1.0, abs(r[k]))
    assert 'id="predicted-vs-true"' in text
    assert text.count("<circle") >= r["n_test"]
    assert "validation loss" in text and "3 epochs" in text


def test_no_report_without_plots(tmp_path):
    r = train("iris", model="logreg", out=tmp_path / "m", progress=False, plots=False)
    assert "report.html" not in r["files"]
    assert not (tmp_path / "m" / "report.html").exists()


def test_training_report_from_python_without_command():
    spec = {"architecture": {"model": "mlp", "layer_sizes": [2, 4, 2]},
            "columns": {"features": [{"name": "f", "kind": "boolean", "median": 1.0,
                                      "indicator": True}], "dropped": {}, "id_columns": ["k"]},
            "target": {"name": "y", "task": "classification", "classes": ["no", "<yes>"]},
            "data": {"path": "x.csv", "rows": 3}}  # fmt: skip
    metrics = {"task": "classification", "accuracy": 1.0, "loss": 0.1, "train_loss": [1, 0.5],
               "val_loss": [1.1, 0.6], "val_score": [0.5, 1.0], "epochs": 2}  # fmt: skip
    text = training_report(spec, metrics, np.array([[0.0, 1.0], [1.0, 0.0]]), [1, 0]).decode()
    assert "trained from Python" in text
    assert "&lt;yes&gt;" in text and "<yes>" not in text
    assert "true/yes → 1" in text and "plus a 0/1 &#x27;missing&#x27; column" in text
    assert "<td>k</td><td>ID</td>" in text
    assert text.count("<polyline") == 3  # training and validation loss, validation accuracy


def test_line_chart_gaps_and_empty():
    svg = line_chart({"a": [1.0, None, float("nan"), 0.5]})
    coords = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(coords) == 2
    assert "no values" in line_chart({"a": [None]})
