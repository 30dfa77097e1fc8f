"""Plots of a training run: loss curves, a confusion matrix, a 2-D decision boundary.

Each function writes one PNG or SVG file (chosen by the path's suffix) and returns its path.
matplotlib is imported only when a function is called (it is the optional extra
``chainrule[viz]``), and only through its object-oriented API (``Figure`` + the Agg canvas), so
no global pyplot state or interactive backend is touched. Files are written to a temporary file
in the same directory and moved into place, so a reader never sees half a picture.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_training_curves", "plot_confusion_matrix", "plot_decision_boundary"]

_FORMATS = {".png": "png", ".svg": "svg"}


def image_format(path: str | os.PathLike, fn: str) -> tuple[Path, str]:
    """The path as a Path and its image format ("png" or "svg"), checked before any drawing."""
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{fn}: cannot write {str(path)!r}: the file name must end in .png or .svg, "
            f"got suffix {path.suffix!r}"
        )
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{fn}: the directory {str(directory)!r} does not exist")
    return path, fmt


def new_figure(fn: str, width: float, height: float) -> Any:
    """A matplotlib Figure (size in inches) on the non-interactive Agg canvas.

    Raises ImportError naming the ``viz`` extra when matplotlib is not installed.
    """
    try:
        import matplotlib  # noqa: F401  (imported first: a hidden parent hides the submodules)
    except ImportError as e:
        raise ImportError(
            f'{fn} needs matplotlib, which is not installed: pip install "chainrule[viz]"'
        ) from e
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path, fmt: str, dpi: float = 100.0) -> Path:
    """Render ``fig`` and write it to ``path`` atomically (:func:`chainrule.io.write_atomic`)."""
    import matplotlib

    from ..io import write_atomic

    buffer = io.BytesIO()
    # SVG text kept as <text> (not glyph outlines): searchable, and much smaller.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt, dpi=dpi)
    return write_atomic(path, buffer.getvalue())


def _vector(values: Any, what: str, fn: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{fn}: {what} must be a non-empty 1-D sequence, got shape {a.shape}")
    return a


def plot_training_curves(
    losses: Sequence[float] | np.ndarray,
    path: str | os.PathLike,
    val_scores: Sequence[float] | np.ndarray | None = None,
    *,
    val_losses: Sequence[float] | np.ndarray | None = None,
    xlabel: str = "step",
) -> Path:
    """Plot the training loss, and optionally a validation score, against training progress.

    The losses are drawn at x = 1, 2, ..., n. Validation scores go on a second y axis, spread
    evenly over the same span: score k of m sits at x = k * n / m, so one score per epoch lines
    up with the end of that epoch's per-batch losses (and m == n gives x = 1, ..., n).

    Parameters
    ----------
    losses : 1-D sequence of float
        One loss per step or epoch (NaN leaves a gap).
    path : str or PathLike
        Where to write; the suffix (.png or .svg) chooses the format.
    val_scores : 1-D sequence of float, optional
        Validation scores (accuracy, R^2, ...).
    val_losses : 1-D sequence of float, optional
        Validation losses, one per loss, drawn on the loss axis.
    xlabel : str, default "step"
        What one loss is ("epoch" when there is one per epoch).

    Returns
    -------
    Path
        ``path``, written atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> plot_training_curves([1.0, 0.5, 0.3], pathlib.Path(d) / "loss.png").name
    'loss.png'
    """
    fn = "plot_training_curves"
    path, fmt = image_format(path, fn)
    loss = _vector(losses, "losses", fn)
    val = None if val_scores is None else _vector(val_scores, "val_scores", fn)
    fig = new_figure(fn, 6.4, 4.2)
    ax = fig.add_subplot()
    n = loss.size
    handles = ax.plot(np.arange(1, n + 1), loss, color="C0", marker="o" if n <= 30 else None,
                      label="training loss")  # fmt: skip
    if val_losses is not None:
        vl = _vector(val_losses, "val_losses", fn)
        if vl.size != n:
            raise ValueError(f"{fn}: got {vl.size} val_losses for {n} losses")
        handles += ax.plot(np.arange(1, n + 1), vl, color="C2", marker="o" if n <= 30 else None,
                           label="validation loss")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    legend_ax = ax
    if val is not None:
        ax2 = legend_ax = ax.twinx()  # the legend goes on the top axes, above both curves
        xs = np.arange(1, val.size + 1) * (n / val.size)
        handles += ax2.plot(xs, val, color="C1", marker="s", label="validation score")
        ax2.set_ylabel("validation score")
    legend_ax.legend(handles=handles, loc="best")
    ax.set_title("training curves")
    fig.tight_layout()
    return save_figure(fig, path, fmt)


def plot_confusion_matrix(
    cm: Any, path: str | os.PathLike, class_names: Sequence[str] | None = None
) -> Path:
    """Draw a confusion matrix (rows: true class, columns: predicted class) with its counts.

    Parameters
    ----------
    cm : 2-D integer array, shape (k, k)
        ``cm[i, j]`` = number of samples of true class i predicted as class j.
    path : str or PathLike
        Where to write; the suffix (.png or .svg) chooses the format.
    class_names : sequence of str, optional
        k names for the axes (default 0, 1, ..., k-1).

    Returns
    -------
    Path
        ``path``, written atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> plot_confusion_matrix([[5, 1], [2, 7]], pathlib.Path(d) / "cm.svg").suffix
    '.svg'
    """
    fn = "plot_confusion_matrix"
    path, fmt = image_format(path, fn)
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"{fn}: cm must be a square 2-D array, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.integer):
        raise TypeError(f"{fn}: cm must hold integer counts, got dtype {cm.dtype}")
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"{fn}: got {len(names)} class_names for a {k}x{k} matrix")
    side = max(4.0, 0.55 * k + 2.5)
    fig = new_figure(fn, side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(int(cm.max()), 1))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    half = cm.max() / 2
    fontsize = 10 if k <= 10 else max(4, 10 - (k - 10) // 3)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=fontsize,
                    color="white" if cm[i, j] > half else "black")  # fmt: skip
    ax.set_xticks(range(k), names, rotation=45 if k > 5 else 0, ha="right" if k > 5 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix")
    fig.tight_layout()
    return save_figure(fig, path, fmt)


def plot_predicted_vs_true(
    y_true: Any, y_pred: Any, path: str | os.PathLike, name: str = "target"
) -> Path:
    """Scatter a regression's predictions against the true values, with the diagonal y = x.

    Parameters
    ----------
    y_true, y_pred : 1-D sequences of float, the same length
    path : str or PathLike
        Where to write; the suffix (.png or .svg) chooses the format.
    name : str
        What is predicted (the axes' label).

    Returns
    -------
    Path
        ``path``, written atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = tempfile.mkdtemp()
    >>> plot_predicted_vs_true([1.0, 2.0, 3.0], [1.1, 1.9, 3.2], pathlib.Path(d) / "p.png").name
    'p.png'
    """
    fn = "plot_predicted_vs_true"
    path, fmt = image_format(path, fn)
    t = _vector(y_true, "y_true", fn)
    p = _vector(y_pred, "y_pred", fn)
    if t.size != p.size or t.size == 0:
        raise ValueError(f"{fn}: y_true and y_pred need the same, non-zero length "
                         f"({t.size} and {p.size})")  # fmt: skip
    fig = new_figure(fn, 5.0, 5.0)
    ax = fig.add_subplot()
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.6", lw=1, label="y = x")
    ax.scatter(t, p, s=14, alpha=0.7, color="C0", label="held-out rows")
    ss = float(((t - t.mean()) ** 2).sum())
    r2 = 1 - float(((t - p) ** 2).sum()) / ss if ss > 0 else float("nan")
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_title(f"predicted vs true (R2 {r2:.3f}, {t.size} rows)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return save_figure(fig, path, fmt)


def plot_decision_boundary(
    predict_fn: Callable[[np.ndarray], Any],
    X: Any,
    y: Any,
    path: str | os.PathLike,
    resolution: int = 200,
) -> Path:
    """Draw the regions a classifier assigns to each class over 2-D data, and the data.

    ``predict_fn`` is evaluated once on a ``resolution`` x ``resolution`` grid covering ``X``
    (plus a 5% margin); the regions are filled contours, the samples a scatter coloured by
    their true label. The grid has ``X``'s dtype when that is floating (float32 models stay
    float32).

    Parameters
    ----------
    predict_fn : callable
        Maps an (m, 2) array to m labels (an array, list or Tensor).
    X : array, shape (n, 2)
        The samples.
    y : array, shape (n,)
        Their labels.
    path : str or PathLike
        Where to write; the suffix (.png or .svg) chooses the format.
    resolution : int
        Grid points per axis (at least 2).

    Returns
    -------
    Path
        ``path``, written atomically.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    >>> y = np.array([0, 1, 1, 0])
    >>> f = lambda P: (P[:, 1] > 0.5).astype(int)
    >>> d = tempfile.mkdtemp()
    >>> plot_decision_boundary(f, X, y, pathlib.Path(d) / "db.png", resolution=20).name
    'db.png'
    """
    fn = "plot_decision_boundary"
    path, fmt = image_format(path, fn)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2 or X.shape[0] == 0:
        raise ValueError(f"{fn}: X must have shape (n, 2) with n >= 1, got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"{fn}: y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"{fn}: resolution must be an int >= 2, got {resolution!r}")
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    lo, hi = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    pad = np.where(hi > lo, 0.05 * (hi - lo), 0.5)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(dtype)
    pred = np.asarray(predict_fn(grid)).reshape(-1)
    if pred.size != grid.shape[0]:
        raise ValueError(
            f"{fn}: predict_fn returned {pred.size} labels for a grid of {grid.shape[0]} points"
        )
    classes = np.unique(np.concatenate([y, pred]))
    k = classes.size
    fig = new_figure(fn, 6.4, 5.4)
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps["tab10" if k <= 10 else "tab20" if k <= 20 else "viridis"]
    colors = base(np.arange(k) if k <= 20 else np.linspace(0, 1, k))
    cmap = ListedColormap(colors)
    ax = fig.add_subplot()
    zz = np.searchsorted(classes, pred).reshape(xx.shape)
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=cmap, alpha=0.3)
    ycode = np.searchsorted(classes, y)
    for c in np.unique(ycode):
        sel = ycode == c
        ax.scatter(X[sel, 0], X[sel, 1], color=colors[c], edgecolors="black", linewidths=0.5,
                   s=25, label=str(classes[c]))  # fmt: skip
    ax.legend(title="class", loc="best")
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("decision boundary")
    fig.tight_layout()
    return save_figure(fig, path, fmt)
