"""MkDocs hooks: pages generated from the code at build time (mkdocs.yml names this file).

* ``rules.md``: every primitive of :data:`chainrule.ops.primitive_table` and its gradient
  formula, so the documented rule table cannot drift from the code;
* ``backward.html`` and ``backward-mlp.html``: the interactive backward pass of the article's
  example and of the two-layer network (``chainrule explain --html``), which the tutorial embeds.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from typing import Any


def rule_table() -> str:
    """The rule table as Markdown: one row per primitive, its formula as the code states it."""
    from chainrule.ops import primitive_table

    def cell(text: str) -> str:
        return "`" + " ".join(text.split()).replace("|", "\\|").replace("`", "'") + "`"

    rows = [
        "# The rule table",
        "",
        "Every differentiable primitive of chainrule, with the vector-Jacobian product its",
        "backward rule computes (`g` is the incoming gradient dL/d(out), `out` the forward's",
        "result). This page is generated from `chainrule.ops.primitive_table` when the site is",
        "built; `cr.explain(loss)` prints the same formulas for a real backward pass.",
        "",
        f"{len(primitive_table)} primitives.",
        "",
        "| primitive | gradient rule |",
        "|---|---|",
    ]
    for name in sorted(primitive_table):
        formula = primitive_table[name].formula or "(no gradient)"
        rows.append(f"| `{name}` | {cell(formula)} |")
    return "\n".join(rows) + "\n"


def backward_page(model: str) -> str:
    """The page ``chainrule explain --model MODEL --html`` writes."""
    from chainrule.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "page.html")
        with contextlib.redirect_stdout(io.StringIO()):
            status = main(["explain", "--model", model, "--html", path])
        if status != 0:
            raise RuntimeError(f"chainrule explain --model {model} failed its checks")
        with open(path, encoding="utf-8") as f:
            return f.read()


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File  # here: pytest imports this file without mkdocs

    files.append(File.generated(config, "rules.md", content=rule_table()))
    files.append(File.generated(config, "backward.html", content=backward_page("logreg")))
    files.append(File.generated(config, "backward-mlp.html", content=backward_page("mlp")))
    return files
