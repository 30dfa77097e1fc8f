"""Pictures of chainrule graphs and training runs (the optional extra ``chainrule[viz]``).

:func:`explain_html` writes the backward pass as a page to click through; :func:`training_report`
is the ``report.html`` that ``chainrule train`` writes. Both are self-contained HTML.

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

from .explain_html import article_derivation, explain_html
from .graph import draw_graph, to_dot
from .plots import (
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_predicted_vs_true,
    plot_training_curves,
)
from .report import training_report

__all__ = [
    "to_dot", "draw_graph", "plot_training_curves", "plot_confusion_matrix",
    "plot_decision_boundary", "plot_predicted_vs_true", "explain_html", "article_derivation",
    "training_report",
]  # fmt: skip
