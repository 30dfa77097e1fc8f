"""Pictures of chainrule graphs and training runs (the optional extra ``chainrule[viz]``).

:func:`to_dot` needs nothing beyond chainrule; the drawing functions import matplotlib when
called, and raise ImportError naming ``pip install "chainrule[viz]"`` if it is missing.

Examples
--------
>>> import chainrule as cr
>>> from chainrule import viz
>>> x = cr.tensor([3.0], requires_grad=True)
>>> "multiply" in viz.to_dot((x * x).sum())
True
"""

from __future__ import annotations

from .graph import draw_graph, to_dot
from .plots import (
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_predicted_vs_true,
    plot_training_curves,
)

__all__ = [
    "to_dot", "draw_graph", "plot_training_curves", "plot_confusion_matrix",
    "plot_decision_boundary", "plot_predicted_vs_true",
]  # fmt: skip
