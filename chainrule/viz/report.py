"""``report.html``: what ``chainrule train`` did, as one page to open and share.

:func:`training_report` turns a model folder's ``model.json`` spec and ``metrics.json`` metrics
(and the held-out predictions) into one self-contained HTML page, readable without JavaScript
(inline CSS and SVG only): the data (rows, each column and how it was treated, the columns left
out and why), the model, the training and validation curves, the held-out metrics, the confusion
matrix or predicted against true, and the command that reproduces it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["training_report", "line_chart"]

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")
_METRIC_NAMES = {
    "accuracy": "accuracy",
    "loss": "log-loss",
    "r2": "R2",
    "rmse": "RMSE",
    "mae": "MAE",
}


def _e(x: Any) -> str:
    return html.escape(str(x))


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round numbers spanning [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _frame(
    lo_x: float, hi_x: float, lo_y: float, hi_y: float, w: int, h: int, xlabel: str, ylabel: str
) -> tuple[list[str], Any, Any]:
    """The axes of a chart: SVG parts and the two functions from data to pixels."""
    left, right, top, bottom = 62, 12, 12, 40
    if hi_x <= lo_x:
        hi_x = lo_x + 1
    if hi_y <= lo_y:
        lo_y, hi_y = lo_y - 0.5, hi_y + 0.5

    def px(v: float) -> float:
        return left + (v - lo_x) / (hi_x - lo_x) * (w - left - right)

    def py(v: float) -> float:
        return h - bottom - (v - lo_y) / (hi_y - lo_y) * (h - top - bottom)

    parts = [
        f'<rect x="{left}" y="{top}" width="{w - left - right}" '
        f'height="{h - top - bottom}" fill="none" stroke="#999"/>'
    ]
    for t in _ticks(lo_x, hi_x):
        parts.append(
            f'<text x="{px(t):.1f}" y="{h - bottom + 15}" text-anchor="middle">{t:.4g}</text>'
        )
    for t in _ticks(lo_y, hi_y):
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{py(t):.1f}" y2="{py(t):.1f}" '
            f'stroke="#eee"/><text x="{left - 5}" y="{py(t) + 4:.1f}" '
            f'text-anchor="end">{t:.4g}</text>'
        )
    parts.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 6}" text-anchor="middle">{_e(xlabel)}</text>'
    )
    parts.append(
        f'<text transform="translate(14,{(top + h - bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{_e(ylabel)}</text>'
    )
    return parts, px, py


def line_chart(
    series: dict[str, Sequence[float | None]],
    xlabel: str = "epoch",
    ylabel: str = "loss",
    width: int = 560,
    height: int = 300,
) -> str:
    """Curves as an inline SVG chart (x = 1, 2, ...); None and non-finite points are gaps.

    Parameters
    ----------
    series : dict of str to sequence of float or None
        One curve per name, drawn in order with a legend.
    xlabel, ylabel : str
        Axis titles.
    width, height : int
        The chart's size in pixels.

    Returns
    -------
    str
        An ``<svg>`` element.

    Examples
    --------
    >>> svg = line_chart({"training": [1.0, 0.5, 0.25], "validation": [None, 0.6, 0.4]})
    >>> svg.startswith("<svg") and svg.count("<polyline") == 2
    True
    """
    clean = {
        name: [
            (i + 1, float(v))
            for i, v in enumerate(vals)
            if v is not None and math.isfinite(float(v))
        ]
        for name, vals in series.items()
    }
    points = [p for pts in clean.values() for p in pts]
    if not points:
        return (
            f'<svg class="chart" width="{width}" height="40"><text x="8" y="24">no values'
            "</text></svg>"
        )
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    parts, px, py = _frame(min(xs), max(xs), min(ys), max(ys), width, height, xlabel, ylabel)
    for k, (name, pts) in enumerate(clean.items()):
        color = _COLORS[k % len(_COLORS)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{color}" '
            f'stroke-width="2"><title>{_e(name)}</title></polyline>'
        )
        if len(pts) == 1:
            parts.append(
                f'<circle cx="{px(pts[0][0]):.1f}" cy="{py(pts[0][1]):.1f}" r="3" fill="{color}"/>'
            )
        parts.append(
            f'<rect x="{width - 150}" y="{20 + 18 * k}" width="12" height="3" '
            f'fill="{color}"/><text x="{width - 132}" y="{25 + 18 * k}">{_e(name)}'
            "</text>"
        )
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-size="11" font-family="sans-serif">' + "".join(parts) + "</svg>"
    )


def _scatter(y_true: np.ndarray, y_pred: np.ndarray, name: str, size: int = 380) -> str:
    """Predicted against true, with the line y = x (at most 2000 points drawn)."""
    if len(y_true) > 2000:
        keep = np.random.default_rng(0).choice(len(y_true), 2000, replace=False)
        y_true, y_pred = y_true[keep], y_pred[keep]
    both = np.concatenate([y_true, y_pred])
    both = both[np.isfinite(both)]
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    parts, px, py = _frame(lo, hi, lo, hi, size, size, f"true {name}", f"predicted {name}")
    parts.append(
        f'<line x1="{px(lo):.1f}" y1="{py(lo):.1f}" x2="{px(hi):.1f}" y2="{py(hi):.1f}" '
        'stroke="#888" stroke-dasharray="4 3"/>'
    )
    for t, p in zip(y_true, y_pred):
        if math.isfinite(t) and math.isfinite(p):
            parts.append(
                f'<circle cx="{px(t):.1f}" cy="{py(p):.1f}" r="2.5" fill="#1f77b4" '
                'fill-opacity="0.6"/>'
            )
    return (
        f'<svg class="chart" id="predicted-vs-true" xmlns="http://www.w3.org/2000/svg" '
        f'width="{size}" height="{size}" font-size="11" font-family="sans-serif">'
        + "".join(parts)
        + "</svg>"
    )


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> str:
    """The confusion matrix as a table (rows: true class, columns: predicted), shaded."""
    k = len(classes)
    m = np.zeros((k, k), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    top = max(int(m.max()), 1)
    head = "".join(f"<th>{_e(c)}</th>" for c in classes)
    rows = []
    for i, c in enumerate(classes):
        cells = []
        for j in range(k):
            share = m[i, j] / top
            color = (
                f"rgba(31,119,180,{0.1 + 0.8 * share:.2f})"
                if i == j
                else f"rgba(214,39,40,{0.8 * share:.2f})"
            )
            cells.append(
                f'<td style="background:{color}" data-true="{i}" data-pred="{j}">{m[i, j]}</td>'
            )
        rows.append(f"<tr><th>{_e(c)}</th>{''.join(cells)}</tr>")
    return (
        '<table id="confusion" class="confusion"><caption>rows: true class; columns: '
        f"predicted class</caption><tr><th></th>{head}</tr>{''.join(rows)}</table>"
    )


def _columns(columns: dict[str, Any]) -> str:
    rows = []
    for f in columns.get("features", []):
        kind = f.get("kind")
        if kind == "numeric":
            how = (
                f"missing → median {f['median']:.6g}; standardised (mean {f['mean']:.6g}, "
                f"scale {f['scale']:.6g})"
            )
        elif kind == "boolean":
            how = f"true/yes → 1, false/no → 0; missing → median {f['median']:.6g}"
        else:
            cats = [str(c) for c in f.get("categories", [])]
            shown = ", ".join(cats[:12]) + (", …" if len(cats) > 12 else "")
            how = f"one-hot over {len(cats)} categories: {shown}"
        if f.get("indicator"):
            how += "; plus a 0/1 'missing' column"
        rows.append(f"<tr><td>{_e(f['name'])}</td><td>{_e(kind)}</td><td>{_e(how)}</td></tr>")
    for name, reason in columns.get("dropped", {}).items():
        rows.append(
            f'<tr class="dropped"><td>{_e(name)}</td><td>left out</td><td>{_e(reason)}</td></tr>'
        )
    ids = columns.get("id_columns", [])
    for name in ids:
        if name not in columns.get("dropped", {}):
            rows.append(
                f'<tr class="dropped"><td>{_e(name)}</td><td>ID</td>'
                "<td>kept for predict's output, not a feature</td></tr>"
            )
    return (
        '<table id="columns"><tr><th>column</th><th>kind</th><th>treatment</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def training_report(
    spec: dict[str, Any],
    metrics: dict[str, Any],
    outputs: Any = None,
    y_true: Any = None,
) -> bytes:
    """The training report of a model folder as one self-contained HTML page (UTF-8 bytes).

    Parameters
    ----------
    spec : dict
        ``model.json``'s content: ``architecture``, ``columns`` (the fitted
        :class:`chainrule.tables.TableEncoder`'s ``to_dict()``, with the columns left out and
        why), ``target``, ``data`` and ``command``.
    metrics : dict
        ``metrics.json``'s content: the held-out metrics, ``train_loss``, ``val_loss``,
        ``val_score``, ``epochs``, ``seconds``, ``n_train`` and ``n_test``.
    outputs : array of shape (n_test, n_outputs), optional
        The model's outputs on the held-out rows: class scores (their argmax is the prediction),
        or the standardised prediction of a regression (the target's mean and scale in
        ``spec["target"]`` undo the standardisation).
    y_true : array of shape (n_test,), optional
        The held-out labels: class indices, or the target's values.

    Returns
    -------
    bytes
        The page; it needs no JavaScript and fetches nothing.

    Examples
    --------
    >>> spec = {"architecture": {"model": "logreg", "layer_sizes": [2, 2]},
    ...         "columns": {"features": [], "dropped": {}, "id_columns": []},
    ...         "target": {"name": "y", "task": "classification", "classes": ["a", "b"]},
    ...         "data": {"dataset": "toy", "rows": 4}, "command": "chainrule train"}
    >>> metrics = {"task": "classification", "model": "logreg", "accuracy": 0.5, "loss": 0.7,
    ...            "train_loss": [0.9, 0.7], "n_train": 2, "n_test": 2}
    >>> page = training_report(spec, metrics, np.array([[1.0, 0.0], [1.0, 0.0]]), [0, 1])
    >>> b'data-metric="accuracy">0.5<' in page
    True
    """
    arch, target, data = spec.get("architecture", {}), spec.get("target", {}), spec.get("data", {})
    task = metrics.get("task", target.get("task"))
    source = data.get("path") or data.get("dataset") or data.get("name") or "?"
    kind = arch.get("model", metrics.get("model", "?"))
    title = f"chainrule: {kind} on {source}"
    out: list[str] = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}'
        f"</title><style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
    ]
    command = spec.get("command") or ""
    out.append("<h2>The command</h2>")
    if command:
        out.append(f'<pre id="command">{_e(command)}</pre>')
    else:
        out.append(
            '<p id="command">trained from Python (<code>chainrule.training.train</code>)</p>'
        )

    # ---- the data
    out.append("<h2>The data</h2><table class='kv'>")
    facts = [
        ("source", source),
        ("rows", data.get("rows")),
        ("training rows", metrics.get("n_train")),
        ("held-out rows", metrics.get("n_test")),
        ("held-out share", data.get("test_size")),
        ("split seed", data.get("seed")),
    ]
    label = target.get("name", "?")
    if task == "classification":
        classes = [str(c) for c in target.get("classes", [])]
        facts.append(("target", f"{label}: {len(classes)} classes ({', '.join(classes)})"))
    else:
        facts.append(
            (
                "target",
                f"{label}: a number (standardised with mean "
                f"{target.get('mean', 0):.6g}, scale {target.get('scale', 1):.6g})",
            )
        )
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts if v is not None]
    out.append("</table><h3>Columns and how each was treated</h3>")
    out.append(_columns(spec.get("columns", {})))

    # ---- the model
    sizes = arch.get("layer_sizes", [])
    out.append("<h2>The model</h2><table class='kv'>")
    model_facts = [("model", kind), ("layer sizes", " → ".join(str(s) for s in sizes))]
    if "conv_channels" in arch:
        model_facts.append(("convolution channels", ", ".join(map(str, arch["conv_channels"]))))
    if "ridge_alpha" in metrics:
        model_facts.append(("ridge strength", f"{metrics['ridge_alpha']:.6g}"))
    unit = "epochs" if kind in ("mlp", "cnn") else "L-BFGS iterations"
    if "epochs" in metrics:
        model_facts.append(("trained for", f"{metrics['epochs']} {unit}"))
    if "seconds" in metrics:
        model_facts.append(("time", f"{float(metrics['seconds']):.2f} s"))
    out += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in model_facts]
    out.append("</table>")

    # ---- curves
    out.append("<h2>Training</h2>")
    curves = {"training loss": metrics.get("train_loss") or []}
    if any(v is not None for v in metrics.get("val_loss") or []):
        curves["validation loss"] = metrics["val_loss"]
    xlabel = "epoch" if kind in ("mlp", "cnn") else "L-BFGS iteration"
    out.append(line_chart(curves, xlabel, "loss"))
    scores = metrics.get("val_score") or []
    if sum(v is not None for v in scores) > 1:
        name = "validation accuracy" if task == "classification" else "validation R2"
        out.append(line_chart({name: scores}, xlabel, name))

    # ---- metrics
    out.append("<h2>Held-out metrics</h2><table id='metrics' class='kv'>")
    for key, name in _METRIC_NAMES.items():
        if isinstance(metrics.get(key), (int, float)):
            out.append(
                f'<tr><th>{name}</th><td class="metric" data-metric="{key}">'
                f"{float(metrics[key]):.6g}</td></tr>"
            )
    out.append("</table>")

    # ---- predictions
    if outputs is not None and y_true is not None:
        outputs = np.asarray(outputs.get() if hasattr(outputs, "get") else outputs, np.float64)
        y = np.asarray(y_true)
        if task == "classification":
            classes = [str(c) for c in target.get("classes", [])]
            out.append("<h2>Confusion matrix (held-out rows)</h2>")
            out.append(_confusion(y.astype(np.int64), outputs.argmax(axis=1), classes))
        else:
            pred = outputs[:, 0] * float(target.get("scale", 1.0)) + float(target.get("mean", 0.0))
            out.append("<h2>Predicted against true (held-out rows)</h2>")
            out.append(_scatter(y.astype(np.float64), pred, label))
    version = spec.get("chainrule_version", "")
    out.append(
        f"<footer>written by chainrule {_e(version)}; the model folder also holds "
        "model.json, model.safetensors and metrics.json</footer></body></html>\n"
    )
    return "".join(out).encode("utf-8")


_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:16px auto;padding:0 16px;"
    "color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:26px;border-bottom:1px solid #ddd}"
    "h3{font-size:15px}table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #ddd;"
    "padding:3px 8px;text-align:left;vertical-align:top}table.kv th{background:#f6f6f6}"
    "tr.dropped td{color:#888}table.confusion td{text-align:right;min-width:34px}"
    "caption{caption-side:bottom;color:#666;font-size:12px}pre{background:#f6f6f6;padding:8px;"
    "white-space:pre-wrap}footer{margin:30px 0;color:#777;font-size:12px}svg.chart{display:block;"
    "margin:8px 0}"
)
