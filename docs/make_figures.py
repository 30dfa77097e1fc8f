"""Regenerate the pictures the README shows: python docs/make_figures.py

* docs/logistic_graph.png: the recorded graph of one logistic-regression loss (the article's
  example), with each node's value and gradient.
* docs/digits_loss_curve.png: the digits MLP's training loss per epoch, from
  examples/digits_mlp_and_cnn.py.
"""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

import chainrule as cr
from chainrule.viz import draw_graph, plot_training_curves

HERE = pathlib.Path(__file__).resolve().parent


def logistic_graph(path: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.normal(size=(1, 4)))
    W = cr.tensor(rng.normal(scale=0.5, size=(3, 4)), requires_grad=True)
    b = cr.tensor(np.zeros(3), requires_grad=True)
    loss = cr.softmax_cross_entropy(x @ W.T + b, np.array([0]))
    draw_graph(loss, path)


def digits_loss_curve(path: pathlib.Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "digits_example", HERE.parent / "examples" / "digits_mlp_and_cnn.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.run("mlp", epochs=40, verbose=False)
    plot_training_curves(result["losses"], path)


if __name__ == "__main__":
    logistic_graph(HERE / "logistic_graph.png")
    digits_loss_curve(HERE / "digits_loss_curve.png")
    print("wrote docs/logistic_graph.png and docs/digits_loss_curve.png")
