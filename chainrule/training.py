"""What ``chainrule train``, ``predict``, ``evaluate`` and ``datasets`` do, importable on its own.

A user's table flows through three rooms: :mod:`chainrule.tables` reads it and fits the
preprocessing (column kinds, ID columns, imputation, one-hot, scaling, the task and its labels);
this module fits the model to convergence and scores it; :mod:`chainrule.model_folder` writes
the result as a unit. A trained model is a folder: ``model.safetensors`` (the weights, no
pickle), ``model.json`` (the architecture, the fitted preprocessing, the target, the data's
source and the weights' SHA-256), ``metrics.json`` (the task, held-out metrics, the training and
validation curves, which rows were held out) and, with matplotlib, ``loss_curve.png``.
:func:`load_model` rebuilds it from those files alone, checking each field.

Models: ``logreg`` (classes) and ``linear`` (ridge regression) are fitted to the optimum of their
penalised objective by L-BFGS; ``mlp`` and ``cnn`` (the 8x8 digits) by Adam on all but a
validation part of the training rows, stopping early on it and keeping the best weights;
``auto`` (the default) fits the linear model and the MLP and keeps the one that scores better on
that validation part.

Examples
--------
>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> result = train("iris", model="logreg", out=out, progress=False, plots=False)
>>> sorted(result["files"]), result["task"]
(['metrics.json', 'model.json', 'model.safetensors'], 'classification')
>>> load_model(out).classes
['setosa', 'versicolor', 'virginica']
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__, io, nn, optim
from . import random as _random
from .autodiff import no_grad
from .backend import blas_threads, on_device
from .data import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_moons,
    train_test_split,
)
from .distributed import DistributedDataParallel, allreduce_, is_main, launched_by_mpiexec
from .distributed import init as init_process_group
from .distributed.launch import shard_loss
from .model_folder import ModelFileError, check, write_model_folder
from .tables import Table, TableEncoder, Target, as_text, read_table
from .tensor import as_tensor

__all__ = [
    "DATASETS", "MODELS", "TASKS", "Data", "TrainedModel", "TrainingDiverged", "load_data",
    "build_model", "train", "load_model", "classification_report", "regression_report",
    "ridge_alpha",
    "format_report", "dataset_summaries", "held_out",
]  # fmt: skip

MODELS = ("auto", "logreg", "linear", "mlp", "cnn")
TASKS = ("auto", "classification", "regression")
FORMAT_VERSION = 2
TEST_SIZE = 0.25
#: Share of the training part held out to stop the networks early and to choose ``auto``'s model.
VALIDATION_SIZE = 0.15
#: Epochs without a better validation loss before a network's training stops.
PATIENCE = 20
#: ``--epochs``' default: a maximum, reached only when the validation loss keeps improving.
MAX_EPOCHS = 300
#: L2 penalty of ``logreg`` (scikit-learn's C = 1) and ``linear``'s ridge strengths (RidgeCV's,
#: chosen by leave-one-out error).
LOGREG_C = 1.0
RIDGE_ALPHAS = (0.1, 1.0, 10.0)
#: Channels of the CNN's two 3x3 convolutions (before a 2x2 max-pool and the dense layers).
CNN_CHANNELS = (16, 32)
_MOONS = {"n_samples": 500, "noise": 0.2}
_PROGRESS_SECONDS = 5.0

_BC = ["radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
       "concave_points", "symmetry", "fractal_dimension"]  # fmt: skip
#: name -> (loader, feature names, class names); the names follow scikit-learn's copies.
DATASETS: dict[str, tuple[Callable[[], tuple[np.ndarray, np.ndarray]], list[str], list[str]]] = {
    "digits": (load_digits, [f"pixel_{i}" for i in range(64)], [str(d) for d in range(10)]),
    "iris": (
        load_iris,
        ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        ["setosa", "versicolor", "virginica"],
    ),
    "wine": (
        load_wine,
        ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
         "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
         "od280_od315_of_diluted_wines", "proline"],
        ["class_0", "class_1", "class_2"],
    ),
    "breast_cancer": (
        load_breast_cancer,
        [f"{kind}_{b}" for kind in ("mean", "error", "worst") for b in _BC],
        ["malignant", "benign"],
    ),
    "moons": (
        lambda: make_moons(_MOONS["n_samples"], noise=_MOONS["noise"], random_state=0),
        ["x0", "x1"],
        ["0", "1"],
    ),
}  # fmt: skip


class TrainingDiverged(ValueError):
    """The loss became non-finite or exploded; nothing was written."""


@dataclass
class Data:
    """A table ready for the preprocessing: the frame of features and the target's cells."""

    frame: Any
    target: np.ndarray  # label texts, None where missing
    target_name: str
    name: str
    source: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    table: Table | None = None


def _pandas() -> Any:
    from .tables.read import _pandas

    return _pandas()


def load_data(
    source: str,
    target: str | None = None,
    *,
    delimiter: str | None = None,
    decimal: str | None = None,
    encoding: str = "utf-8",
    inf_as_missing: bool = False,
) -> Data:
    """A bundled data set by name, or a table file (``target``: the label column, default the
    last one).

    Examples
    --------
    >>> d = load_data("iris")
    >>> d.frame.shape, d.target[0], d.target_name
    ((150, 4), 'setosa', 'target')
    """
    pd = _pandas()
    if source in DATASETS:
        if target is not None:
            raise ValueError(f"--target applies to table files, not to the bundled {source!r}")
        loader, features, classes = DATASETS[source]
        X, y = loader()
        info: dict[str, Any] = {"dataset": source}
        if source == "moons":
            info.update(_MOONS, random_state=0)
        frame = pd.DataFrame(np.asarray(X, dtype=np.float64), columns=list(features))
        labels = np.asarray(classes, dtype=object)[y]
        return Data(frame, labels, "target", source, info)
    if not os.path.exists(source) and "." not in os.path.basename(source):
        raise ValueError(
            f"unknown data {source!r}: expected one of {', '.join(DATASETS)} or a table file "
            "(.csv, .tsv, .txt, .parquet)"
        )
    names = _header_names(source, delimiter, encoding)
    if target is None:
        target = names[-1]
    elif target not in names:
        raise ValueError(
            f"{source} has no column {target!r}; the columns are {', '.join(map(repr, names))}"
        )
    table = read_table(source, delimiter=delimiter, decimal=decimal, encoding=encoding,
                       text_columns=(target,), inf_as_missing=inf_as_missing)  # fmt: skip
    cells = as_text(table.frame[target].to_numpy(dtype=object))
    frame = table.frame.drop(columns=[target])
    info = {"path": os.path.abspath(source), "sha256": table.sha256,
            "delimiter": table.delimiter, "decimal": table.decimal, "encoding": encoding,
            "inf_as_missing": inf_as_missing}  # fmt: skip
    return Data(frame, cells, target, os.path.basename(source), info, list(table.notes), table)


def _header_names(path: str, delimiter: str | None, encoding: str) -> list[str]:
    """The column names of a table file (read_table's own checks included)."""
    from .tables.read import _head, header_names, sniff_delimiter

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    if path.lower().endswith(".parquet"):
        return [str(c) for c in read_table(path).frame.columns]
    _, lines = _head(path, encoding, "--encoding")
    d = delimiter or sniff_delimiter(lines, os.path.splitext(path)[1].lower())
    return header_names(lines, d, path)


def build_model(
    kind: str, n_features: int, n_outputs: int, hidden: Sequence[int] = (128,)
) -> Any:
    """The network for ``kind`` (logreg, linear, mlp or cnn); cnn takes (n, 1, 8, 8) images.

    Examples
    --------
    >>> import chainrule as cr
    >>> build_model("mlp", 4, 3, (8, 5))(cr.zeros(2, 4)).shape
    (2, 3)
    """
    if kind in ("logreg", "linear"):
        return nn.Sequential(nn.Linear(n_features, n_outputs))
    if kind == "mlp":
        layers: list[Any] = []
        sizes = [n_features, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], n_outputs))
    if kind == "cnn":
        if n_features != 64:
            raise ValueError(f"the cnn model needs 8x8 images (64 features), got {n_features}")
        c1, c2 = CNN_CHANNELS
        layers = [nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1),
                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]  # fmt: skip
        sizes = [c2 * 4 * 4, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], n_outputs))
    raise ValueError(f"unknown model {kind!r}: expected one of {', '.join(MODELS[1:])}")


def _inputs(kind: str, X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float32)
    return X.reshape(-1, 1, 8, 8) if kind == "cnn" else X


def _outputs(net: Any, X: np.ndarray, move: Any = None) -> np.ndarray:
    net.eval()
    with no_grad():
        out = net(as_tensor(X if move is None else move(X)))
    return out.numpy().astype(np.float64)


# --------------------------------------------------------------------------- scoring
def _log_loss(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    res = float(((y - pred) ** 2).sum())
    return 1.0 - res / ss if ss > 0 else (1.0 if res == 0 else 0.0)


def _score(task: str, out: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(score, loss): accuracy and log-loss for classes, R^2 and MSE (standardised) otherwise."""
    if task == "classification":
        return float(np.mean(out.argmax(axis=1) == y)), _log_loss(out, y)
    pred = out[:, 0]
    return _r2(y, pred), float(np.mean((pred - y) ** 2))


# ---------------------------------------------------------------------------- fitting
def _penalised_fit(
    net: Any, X: np.ndarray, y: np.ndarray, task: str, alpha: float, move: Any
) -> list[float]:
    """Fit a one-layer ``net`` to the optimum of its penalised objective with L-BFGS.

    Classes: mean cross-entropy + ||W||^2 / (2 C n) (scikit-learn's LogisticRegression objective
    divided by n). Regression: (||Xw + b - y||^2 + alpha ||w||^2) / (2 n) (Ridge's, over 2n).
    Returns the objective after each L-BFGS iteration."""
    n = len(y)
    Xt = as_tensor(move(X.astype(np.float32)))
    yt = move(y if task == "classification" else y.astype(np.float32))
    weight = net[0].weight
    curve: list[float] = []

    def objective() -> Any:
        out = net(Xt)
        if task == "classification":
            data = nn.functional.cross_entropy(out, yt)
            return data + (weight * weight).sum() * (0.5 / (LOGREG_C * n))
        r = out[:, 0] - as_tensor(yt)
        return ((r * r).sum() + alpha * (weight * weight).sum()) * (0.5 / n)

    def record(intermediate_result: Any) -> None:  # SciPy passes the iterate's objective
        curve.append(float(intermediate_result.fun))

    net.train()
    res = optim.minimize(objective, net, tol=1e-8, options={"maxiter": 2000}, callback=record)
    if not np.isfinite(res.fun):
        raise TrainingDiverged("the linear model's objective is not finite")
    return curve or [float(res.fun)]


@dataclass
class _Fit:
    net: Any
    kind: str
    hidden: list[int]
    train_loss: list[float]
    val_loss: list[float]
    val_score: list[float]
    epochs: int
    seconds: float
    alpha: float | None = None
    val_outputs: np.ndarray | None = None  # on the validation part, before any refit


class _Progress:
    """Progress on stderr: a tqdm bar on a terminal, else a line every few seconds."""

    def __init__(self, show: bool, total: int, what: str) -> None:
        self.show, self.total, self.what = show, total, what
        self.bar = None
        self.last = time.perf_counter()
        if show and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=what, unit="epoch", file=sys.stderr)

    def update(self, epoch: int, loss: float, val_loss: float, score: float, name: str) -> None:
        if not self.show:
            return
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}", **{f"val_{name}": f"{score:.4f}"})
            return
        now = time.perf_counter()
        if now - self.last >= _PROGRESS_SECONDS:
            self.last = now
            print(f"{self.what}: epoch {epoch}/{self.total}, loss {loss:.4f}, validation loss "
                  f"{val_loss:.4f}, validation {name} {score:.4f}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


#: Whether one process replays the network's training step with ``cr.compile``
#: (bit-identical to the eager step; measured on the digits, one thread: the default MLP run's
#: training 11% faster, the CNN run 7.1-7.7 s against 7.8-10.5 s eager, alternated on a busy
#: machine). DDP runs eagerly, and so does a GPU: cr.compile's GPU replay has not been
#: measured on a real GPU yet.
COMPILE_STEP = True


def _replayed(kind: str, device: str) -> bool:
    return kind in ("mlp", "cnn") and not str(device).startswith("cuda")


def _step_of(net: Any, opt: Any, loss_fn: Any, compiled: bool = False) -> Any:
    """The training step on one batch, compiled when asked and COMPILE_STEP is on."""

    def step(xb: Any, yb: Any) -> Any:
        loss = loss_fn(net(as_tensor(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    if not (compiled and COMPILE_STEP):
        return step
    from .compile import compile as _compile

    return _compile(step)


def _epoch(
    net: Any, opt: Any, X: Any, y: Any, rng: Any, batch_size: int, loss_fn: Any,
    step: Any = None,
) -> float:  # fmt: skip
    """One pass of Adam over shuffled mini-batches; the mean training loss."""
    net.train()
    n = len(y)
    order = rng.permutation(n)
    total = 0.0
    parallel = _parallel()
    if step is None and not parallel:
        step = _step_of(net, opt, loss_fn)
    for s in range(0, n, batch_size):
        idx = order[s : s + batch_size]
        if parallel:  # this rank's rows of the batch; DDP averages the gradients
            loss, part, _ = shard_loss(net, loss_fn, X, y, idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += part
        else:
            total += step(X[idx], y[idx]).item() * len(idx)
    if parallel:  # every rank sees the same epoch loss, so every rank stops at the same epoch
        total = float(allreduce_(np.array([total]), op="sum")[0][0])
    return total / n


def _parallel() -> bool:
    """Whether ``mpiexec`` started this process among several (see chainrule.distributed)."""
    return launched_by_mpiexec() > 1


def _fit_network(
    kind: str, hidden: list[int], X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
    task: str, n_outputs: int, lr: float, batch_size: int, max_epochs: int, seed: int,
    progress: bool, move: Any, device: str,
) -> _Fit:  # fmt: skip
    """Adam with early stopping on the validation loss: the rate halves after PATIENCE // 4
    epochs without improvement, training stops after PATIENCE, and the epoch count with the
    best validation loss is remembered. Then the same network, from the same initial weights,
    is trained on the training and validation rows together for that many epochs at the same
    rates (no row of a small table is wasted on validation alone)."""
    _random.seed(seed)  # the initial weights, drawn on the host
    net = build_model(kind, X.shape[1], n_outputs, hidden)
    init = net.state_dict()
    net.to(device)
    trained = DistributedDataParallel(net) if _parallel() else net
    opt = optim.Adam(net.parameters(), lr=lr)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=PATIENCE // 4)
    Xd, Xvd = move(_inputs(kind, X)), move(_inputs(kind, Xv))
    y2 = y if task == "classification" else y.astype(np.float32)[:, None]
    yd = move(y2)
    rng = np.random.default_rng(seed)
    loss_fn = nn.functional.cross_entropy if task == "classification" else nn.functional.mse_loss
    # traced once per batch shape, replayed at every other step (see COMPILE_STEP)
    step = None if _parallel() else _step_of(trained, opt, loss_fn, _replayed(kind, device))
    train_loss, val_loss, val_score, rates = [], [], [], []
    best, best_epoch, best_out, bad = math.inf, 0, None, 0
    bar = _Progress(progress, max_epochs, kind)
    start = time.perf_counter()
    initial = _score(task, _outputs(net, Xd), y)[1]  # the untrained network's loss
    try:
        for epoch in range(1, max_epochs + 1):
            rates.append(opt.param_groups[0]["lr"])
            mean = _epoch(trained, opt, Xd, yd, rng, batch_size, loss_fn, step)
            _check_loss(mean, initial, epoch, lr)
            out = _outputs(net, Xvd)
            score, vloss = _score(task, out, yv)
            train_loss.append(mean)
            val_loss.append(vloss)
            val_score.append(score)
            bar.update(epoch, mean, vloss, score, "accuracy" if task == "classification" else "R2")
            plateau.step(vloss)
            if best_epoch == 0 or vloss < best - 1e-7 * abs(best):
                best, best_epoch, best_out, bad = vloss, epoch, out, 0
            else:
                bad += 1
                if bad >= PATIENCE:
                    break
        # The refit on all the training rows, replaying the rates up to the best epoch.
        net.load_state_dict(init)
        opt = optim.Adam(net.parameters(), lr=lr)
        step = None if _parallel() else _step_of(trained, opt, loss_fn, _replayed(kind, device))
        Xa = move(np.concatenate([_inputs(kind, X), _inputs(kind, Xv)]))
        ya = move(np.concatenate([y2, yv if task == "classification" else
                                  yv.astype(np.float32)[:, None]]))  # fmt: skip
        rng = np.random.default_rng(seed)
        for epoch, rate in enumerate(rates[:best_epoch], 1):
            opt.param_groups[0]["lr"] = rate
            mean = _epoch(trained, opt, Xa, ya, rng, batch_size, loss_fn, step)
            _check_loss(mean, initial, epoch, lr)
    finally:
        bar.close()
    return _Fit(net, kind, hidden, train_loss, val_loss, val_score, best_epoch,
                time.perf_counter() - start, val_outputs=best_out)  # fmt: skip


def _row_losses(task: str, out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's loss: cross-entropy for classes, the squared error otherwise."""
    if task == "classification":
        z = out - out.max(axis=1, keepdims=True)
        return np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]
    return (out[:, 0] - y) ** 2


def _paired_advantage(
    task: str, lin_out: np.ndarray, mlp_out: np.ndarray, y: np.ndarray
) -> tuple[float, tuple[float, float]]:
    """How surely the MLP beats the linear model on the validation rows: the paired t statistic
    of the per-row loss differences (linear minus MLP), and both models' scores. ``auto`` keeps
    the MLP only when t > 2 and its score is no worse: on a small table, a validation part of a
    few rows cannot tell them apart, and the linear model is the safer choice.

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1])
    >>> lin = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.0], [0.0, 0.5]])
    >>> t, scores = _paired_advantage("classification", lin, 4 * lin, y)
    >>> round(t, 1), scores
    (21.4, (1.0, 1.0))
    """
    d = _row_losses(task, lin_out, y) - _row_losses(task, mlp_out, y)
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    mean = float(d.mean())
    t = mean / (sd / math.sqrt(len(d))) if sd > 0 else (math.inf if mean > 0 else 0.0)
    return t, (_score(task, lin_out, y)[0], _score(task, mlp_out, y)[0])


def _check_loss(mean: float, initial: float, epoch: int, lr: float) -> None:
    """Refuse a non-finite epoch loss, or one 100 times the untrained network's (or above
    100 when that was small): Adam with a sane rate never gets there."""
    if not math.isfinite(mean) or mean > 100 * max(initial, 1.0):
        raise TrainingDiverged(
            f"training diverged at epoch {epoch} (loss {mean:.3g}); try a smaller --lr "
            f"(it was {lr:g})"
        )


def ridge_alpha(X: np.ndarray, y: np.ndarray, alphas: Sequence[float] = RIDGE_ALPHAS) -> float:
    """The ridge strength among ``alphas`` with the smallest leave-one-out error on (X, y),
    computed in closed form from one SVD as scikit-learn's ``RidgeCV`` does: with the hat
    matrix H of the ridge fit (intercept unpenalised), the leave-one-out residual of row i is
    ``(y_i - yhat_i) / (1 - H_ii)``. Ties go to the larger strength.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> ridge_alpha(X, X @ [1.0, -2.0, 0.5] + rng.normal(0, 0.1, 40))
    0.1
    """
    n = len(y)
    Xc = X - X.mean(axis=0)
    yc = y - y.mean()
    U, sv, _ = np.linalg.svd(Xc, full_matrices=False)
    Uy = U.T @ yc
    best, best_err = None, math.inf
    for alpha in sorted(alphas, reverse=True):
        shrink = sv**2 / (sv**2 + alpha)
        fitted = U @ (shrink * Uy)
        hat = (U**2) @ shrink + 1.0 / n
        err = float(np.mean(((yc - fitted) / np.maximum(1.0 - hat, 1e-12)) ** 2))
        if err < best_err * (1 - 1e-12):
            best, best_err = alpha, err
    return float(best if best is not None else alphas[0])


def _fit_linear(
    kind: str, X: np.ndarray, y: np.ndarray, Xv: np.ndarray | None, yv: np.ndarray | None,
    task: str, n_outputs: int, move: Any, device: str,
) -> _Fit:  # fmt: skip
    """logreg (C = 1) or linear (ridge, its strength by leave-one-out on these rows) fitted to
    the optimum on (X, y), and scored on the validation part when one is given."""
    start = time.perf_counter()
    alpha = ridge_alpha(X, y) if kind == "linear" else None
    net = build_model(kind, X.shape[1], n_outputs)
    for p in net.parameters():
        p.data = p.data * 0
    net.to(device)
    curve = _penalised_fit(net, X, y, task, alpha or 0.0, move)
    score, vloss, out = math.nan, math.nan, None
    if Xv is not None:
        out = _outputs(net, move(_inputs(kind, Xv)))
        score, vloss = _score(task, out, yv)
    return _Fit(net, kind, [], curve, [vloss], [score], len(curve), time.perf_counter() - start,
                alpha, out)  # fmt: skip


def _refit_linear(fit: _Fit, X: np.ndarray, y: np.ndarray, task: str, move: Any) -> _Fit:
    """The chosen linear model fitted again on all the training rows (a ridge strength chosen
    again on them)."""
    net = fit.net
    for p in net.parameters():
        p.data = p.data * 0
    start = time.perf_counter()
    if fit.kind == "linear":
        fit.alpha = ridge_alpha(X, y)
    curve = _penalised_fit(net, X, y, task, fit.alpha or 0.0, move)
    fit.train_loss, fit.epochs = curve, len(curve)
    fit.seconds += time.perf_counter() - start
    return fit


# ------------------------------------------------------------------------------ train
def _split(
    n: int, y: np.ndarray, task: str, size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Positions of a random split; stratified for classes when every class can be."""
    idx = np.arange(n)
    note = None
    stratify = None
    if task == "classification":
        counts = np.bincount(y)
        if counts[counts > 0].min() >= 2:
            stratify = y
        else:
            note = "a class has a single row: the split is not stratified"
    a, b = train_test_split(idx, test_size=size, random_state=seed, stratify=stratify)
    return np.sort(a), np.sort(b), note


def _resolve_model(model: str, task: str, data_name: str) -> str:
    linear = "logreg" if task == "classification" else "linear"
    if model == "auto":
        return "auto"
    if task == "regression" and model in ("logreg", "cnn"):
        raise ValueError(f"--model {model} fits classes; for a regression use linear or mlp")
    if task == "classification" and model == "linear":
        raise ValueError("--model linear is a regression; for classes use logreg or mlp")
    if model == "cnn" and data_name != "digits":
        raise ValueError(f"--model cnn works on the 8x8 digits only, not on {data_name!r}")
    return model if model in MODELS else linear


def _check_args(model: str, task: str, epochs: int | None, lr: float, batch_size: int,
                hidden: Sequence[int]) -> None:  # fmt: skip
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    if (epochs is not None and epochs < 1) or batch_size < 1 or not lr > 0 or not math.isfinite(
        lr
    ) or any(h < 1 for h in hidden):
        raise ValueError("epochs, batch size, learning rate and hidden sizes must be positive")
    if model in ("mlp", "cnn") and not hidden:
        raise ValueError(f"--model {model} needs at least one hidden layer size")


def train(
    data: str = "digits",
    target: str | None = None,
    model: str = "auto",
    hidden: Sequence[int] = (128,),
    epochs: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    out: str | os.PathLike[str] = "chainrule-model",
    progress: bool = True,
    plots: bool = True,
    device: str = "cpu",
    *,
    task: str = "auto",
    features: Sequence[str] | None = None,
    drop: Sequence[str] = (),
    delimiter: str | None = None,
    decimal: str | None = None,
    encoding: str = "utf-8",
    inf_as_missing: bool = False,
    threads: int = 1,
    command: str | None = None,
) -> dict[str, Any]:
    """Fit a model to 75% of ``data``, score it on the other 25%, and write it to ``out``.

    ``data`` is a bundled data set's name or a table file; ``target`` its label column
    (default the last). The task is decided from the labels (``task="auto"``: text and
    integer labels with few values are classes, other numbers a regression). The features go
    through :class:`chainrule.tables.TableEncoder` (fitted on the training part). ``epochs``
    is the networks' maximum (default MAX_EPOCHS; they stop early on a validation part).
    ``device="cuda"`` (or ``"cuda:N"``) trains on a GPU through CuPy. ``threads`` is the
    BLAS thread count while training (default 1: see benchmarks/RESULTS_cli.md).

    Returns
    -------
    dict
        ``task``, ``model`` (the one fitted), the held-out metrics (``accuracy`` and ``loss``,
        or ``r2``, ``rmse`` and ``mae``), ``train_loss``, ``val_loss``, ``val_score``,
        ``epochs``, ``seconds``, ``n_train``, ``n_test``, ``out``, ``files`` and ``notes``
        (lines to show).

    Raises
    ------
    TrainingDiverged
        The loss became non-finite or exploded (nothing is written).

    Examples
    --------
    >>> import tempfile
    >>> r = train("iris", model="mlp", epochs=2, out=tempfile.mkdtemp(), plots=False,
    ...           progress=False)
    >>> r["n_train"], r["n_test"], len(r["train_loss"])
    (112, 38, 2)
    """
    _check_args(model, task, epochs, lr, batch_size, hidden)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    main = True  # under mpiexec -n N: rank 0 alone shows progress and writes the folder
    if _parallel():
        init_process_group()
        main = is_main()
        progress = progress and main
    context, move = on_device(device, "train")  # checked before anything is read or written
    d = load_data(data, target, delimiter=delimiter, decimal=decimal, encoding=encoding,
                  inf_as_missing=inf_as_missing)  # fmt: skip
    notes = list(d.notes)
    tgt, y, keep, why = Target.fit(d.target_name, d.target, task)
    if tgt.task == "regression" or task != "auto" or d.table is not None:
        notes.append(f"task: {tgt.task} ({why}; --task to change)")
    if not keep.all():
        notes.append(f"left out {int((~keep).sum())} row(s) with no {d.target_name!r} value")
    frame = d.frame[keep] if not keep.all() else d.frame
    rows = np.flatnonzero(keep)  # positions in the file's data rows
    kind = _resolve_model(model, tgt.task, d.name)
    train_idx, test_idx, note = _split(len(y), y, tgt.task, TEST_SIZE, seed)
    if note:
        notes.append(note)
    enc = TableEncoder.fit(frame, train_idx, list(features) if features else None, tuple(drop),
                           exclude=(d.target_name,))  # fmt: skip
    for name, reason in enc.dropped.items():
        notes.append(f"left out column {name!r}: {reason} (--features to choose the columns)")
    X = enc.transform(frame, d.name)
    if kind == "cnn" and X.shape[1] != 64:
        raise ValueError(f"--model cnn needs the 64 pixel columns, got {X.shape[1]} features")
    y_fit = y if tgt.task == "classification" else (y - tgt.mean) / tgt.scale
    X_train, y_train = X[train_idx], y_fit[train_idx]
    n_outputs = len(tgt.classes) if tgt.task == "classification" else 1
    fit_pos, val_pos, _ = _split(len(y_train), y_train if tgt.task == "classification" else
                                 np.zeros(len(y_train), np.int64), tgt.task, VALIDATION_SIZE,
                                 seed)  # fmt: skip
    Xf, yf, Xv, yv = X_train[fit_pos], y_train[fit_pos], X_train[val_pos], y_train[val_pos]
    linear = "logreg" if tgt.task == "classification" else "linear"
    hidden_l = [int(h) for h in hidden]
    max_epochs = MAX_EPOCHS if epochs is None else int(epochs)
    if kind in (linear, "auto") and lr != 1e-3 and kind != "auto":
        notes.append(f"--lr is not used by {kind}: it is fitted to its optimum by L-BFGS")

    with context, blas_threads(threads):
        if kind in ("mlp", "cnn"):
            fit = _fit_network(kind, hidden_l, Xf, yf, Xv, yv, tgt.task, n_outputs, lr,
                               batch_size, max_epochs, seed, progress, move, device)  # fmt: skip
        elif kind == linear:
            fit = _fit_linear(kind, X_train, y_train, None, None, tgt.task, n_outputs, move,
                              device)  # fmt: skip
        else:  # auto: the linear model and the MLP, the better on the validation part
            lin = _fit_linear(linear, Xf, yf, Xv, yv, tgt.task, n_outputs, move, device)
            mlp = _fit_network("mlp", hidden_l, Xf, yf, Xv, yv, tgt.task, n_outputs, lr,
                               batch_size, max_epochs, seed, progress, move, device)  # fmt: skip
            t, scores = _paired_advantage(tgt.task, lin.val_outputs, mlp.val_outputs, yv)
            chosen = mlp if t > 2.0 and scores[1] >= scores[0] else lin
            name = "accuracy" if tgt.task == "classification" else "R2"
            notes.append(
                f"model: {chosen.kind} (validation {name} {scores[0]:.4f} for {linear}, "
                f"{scores[1]:.4f} for mlp, paired t {t:.1f}; --model to choose)"
            )
            fit = chosen if chosen is mlp else _refit_linear(lin, X_train, y_train, tgt.task, move)
            fit.seconds = lin.seconds + mlp.seconds
        outputs = _outputs(fit.net, move(_inputs(fit.kind, X[test_idx])))
    fit.net.to("cpu")
    state = {k: np.asarray(v) for k, v in fit.net.state_dict().items()}
    bad = [k for k, v in state.items() if not np.isfinite(v).all()]
    if bad:
        raise TrainingDiverged(f"the trained weights {bad[0]!r} are not finite; try a smaller --lr")

    metrics: dict[str, Any] = {"task": tgt.task, "model": fit.kind}
    y_test = y[test_idx]
    if tgt.task == "classification":
        metrics["accuracy"], metrics["loss"] = _score(tgt.task, outputs, y_test)
    else:
        pred = outputs[:, 0] * tgt.scale + tgt.mean
        metrics.update(regression_report(y_test, pred))
    metrics.update({
        "train_loss": fit.train_loss, "val_loss": fit.val_loss, "val_score": fit.val_score,
        "epochs": fit.epochs, "seconds": fit.seconds, "n_train": int(len(train_idx)),
        "n_test": int(len(test_idx)), "held_out_rows": rows[test_idx].tolist(),
        "validation_rows": rows[train_idx[val_pos]].tolist() if fit.kind != linear else [],
    })  # fmt: skip
    if fit.alpha is not None:
        metrics["ridge_alpha"] = fit.alpha
    weights = io._serialize(state, None)
    sizes = _layer_sizes(fit.net, fit.kind)
    spec = {
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": {"model": fit.kind, "layer_sizes": sizes,
                         **({"conv_channels": list(CNN_CHANNELS), "image_shape": [1, 8, 8]}
                            if fit.kind == "cnn" else {})},  # fmt: skip
        "columns": enc.to_dict(),
        "target": tgt.to_dict(),
        "data": {**d.source, "rows": int(len(d.target)), "test_size": TEST_SIZE, "seed": seed},
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "command": command or "",
    }
    files: dict[str, Any] = {
        "model.safetensors": weights,
        "model.json": _json_bytes(spec),
        "metrics.json": _json_bytes(metrics),
    }
    if plots and _matplotlib():
        from .viz import plot_training_curves

        net_fit = fit.kind in ("mlp", "cnn")
        files["loss_curve.png"] = lambda p: plot_training_curves(
            fit.train_loss, p, val_losses=fit.val_loss if net_fit else None,
            xlabel="epoch" if net_fit else "L-BFGS iteration")  # fmt: skip
    elif plots:
        notes.append(
            'matplotlib is not installed: no loss_curve.png (pip install "chainrule[cli]")'
        )
    if plots:  # the pages need no matplotlib: inline SVG
        from .viz.report import training_report

        files["report.html"] = training_report(spec, metrics, outputs, y_test)
    out = os.fspath(out)
    if main:
        write_model_folder(out, files)
    return {**metrics, "out": out, "files": sorted(files), "notes": notes,
            "features": enc.output_names}  # fmt: skip


def _layer_sizes(net: Any, kind: str) -> list[int]:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    first = 64 if kind == "cnn" else linears[0].in_features
    return [first, *[m.out_features for m in linears]]


def _json_bytes(obj: Any) -> bytes:
    """Strict JSON (no NaN or Infinity: they become null)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return (json.dumps(clean(obj), indent=2, allow_nan=False) + "\n").encode()


def _matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------- loading a model
@dataclass
class TrainedModel:
    """A model folder loaded back: the network, the preprocessing, the target, ``model.json``."""

    net: Any
    spec: dict[str, Any]
    kind: str
    encoder: TableEncoder
    target: Target
    path: str

    @property
    def task(self) -> str:
        """"classification" or "regression"."""
        return self.target.task

    @property
    def classes(self) -> list[str] | None:
        """The class names (classification), else None."""
        return self.target.classes

    @property
    def feature_names(self) -> list[str]:
        """The input columns the model reads."""
        return self.encoder.feature_names

    def outputs(self, frame: Any, source: str = "the table") -> np.ndarray:
        """The network's raw outputs (logits, or the standardised prediction) for ``frame``."""
        X = self.encoder.transform(frame, source)
        return _outputs(self.net, _inputs(self.kind, X))

    def predict(self, frame: Any, source: str = "the table") -> np.ndarray:
        """Class names (strings) or predicted values for the rows of a DataFrame."""
        out = self.outputs(frame, source)
        if self.task == "classification":
            return np.asarray(self.classes)[out.argmax(axis=1)]
        return out[:, 0] * self.target.scale + self.target.mean

    def predict_proba(self, frame: Any, source: str = "the table") -> np.ndarray:
        """Class probabilities, one column per class (classification only)."""
        if self.task != "classification":
            raise ValueError("--proba needs a classifier; this model is a regression")
        return _softmax(self.outputs(frame, source))


def _read_json(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            raw = f.read(64 << 20)
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        what = " ".join(str(exc).split())[:200]
        raise ModelFileError(f"{path} is not valid JSON: {what}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _check_spec(spec: Any, path: str) -> None:
    check(isinstance(spec, dict), path, "the file", "must hold a JSON object")
    version = spec.get("format_version")
    check(version == FORMAT_VERSION, path, "format_version",
          f"is {version!r}; this chainrule ({__version__}) reads format {FORMAT_VERSION} "
          "(retrain the model with this version)")
    allowed = {"format_version", "chainrule_version", "architecture", "columns", "target", "data",
               "weights_sha256", "command"}  # fmt: skip
    check(set(spec) == allowed, path, "the file",
          f"must have the keys {sorted(allowed)}; unknown {sorted(set(spec) - allowed)}, "
          f"missing {sorted(allowed - set(spec))}")
    arch = spec["architecture"]
    check(isinstance(arch, dict), path, "architecture", "must be an object")
    check(arch.get("model") in MODELS[1:], path, "architecture.model",
          f"must be one of {', '.join(MODELS[1:])}, got {arch.get('model')!r}")
    sizes = arch.get("layer_sizes")
    check(isinstance(sizes, list) and len(sizes) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 1_000_000 for s in sizes),
          path, "architecture.layer_sizes", "must be a list of 2 or more sizes in 1..1000000")
    extra = {"conv_channels", "image_shape"} if arch["model"] == "cnn" else set()
    check(set(arch) == {"model", "layer_sizes"} | extra, path, "architecture", "has wrong keys")
    if arch["model"] in ("logreg", "linear"):
        check(len(sizes) == 2, path, "architecture.layer_sizes", "must have 2 sizes for "
              f"{arch['model']}")
    if arch["model"] == "cnn":
        check(arch["conv_channels"] == list(CNN_CHANNELS) and arch["image_shape"] == [1, 8, 8]
              and sizes[0] == 64, path, "architecture", "is not chainrule's digits CNN")
    digest = spec["weights_sha256"]
    check(isinstance(digest, str) and len(digest) == 64, path, "weights_sha256",
          "must be a SHA-256 in hex")
    check(isinstance(spec["data"], dict), path, "data", "must be an object")


def _load_weights(path: str, raw: bytes, net: Any) -> None:
    st = io._safetensors()
    try:
        arrays = st.numpy.load(raw)
    except Exception:  # safetensors raises its own SafetensorError and others
        raise ModelFileError(f"{path} is damaged or not a safetensors file") from None
    expected = net.state_dict()
    if set(arrays) != set(expected):
        raise ModelFileError(
            f"{path} does not fit the architecture: it holds {sorted(arrays)[:6]}, the "
            f"model needs {sorted(expected)[:6]}"
        )
    for k, v in expected.items():
        a = arrays[k]
        if a.dtype != np.float32 or a.shape != tuple(v.shape):
            raise ModelFileError(
                f"{path}: {k} is {a.dtype} {a.shape}; the architecture needs float32 "
                f"{tuple(v.shape)}"
            )
        if not np.isfinite(a).all():
            raise ModelFileError(f"{path}: {k} holds non-finite values")
    net.load_state_dict(arrays)


def load_model(model_dir: str | os.PathLike[str]) -> TrainedModel:
    """Rebuild the model saved by :func:`train` in ``model_dir`` (JSON + safetensors, no pickle).

    Every field of ``model.json`` is checked (types, ranges, finiteness, ``format_version``),
    and the weights must be the ones ``model.json`` was written with (their SHA-256), float32,
    finite and of the architecture's shapes.

    Raises
    ------
    FileNotFoundError
        No such folder, or a file missing from it.
    ValueError
        Any of the checks above, naming the file and the field.

    Examples
    --------
    >>> load_model("/nonexistent/model")
    Traceback (most recent call last):
    FileNotFoundError: no model directory /nonexistent/model
    """
    folder = os.fspath(model_dir)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"no model directory {folder}")
    spec_path = os.path.join(folder, "model.json")
    weights_path = os.path.join(folder, "model.safetensors")
    for _attempt in range(3):  # a writer may swap the folder between the two reads
        for p in (spec_path, weights_path):
            if not os.path.isfile(p):
                raise FileNotFoundError(
                    f"{folder} has no {os.path.basename(p)} (is it a folder written by "
                    "chainrule train?)"
                )
        spec = _read_json(spec_path)
        with open(weights_path, "rb") as f:
            raw = f.read()
        _check_spec(spec, spec_path)
        if hashlib.sha256(raw).hexdigest() == spec["weights_sha256"]:
            break
        time.sleep(0.05)
    else:
        raise ModelFileError(
            f"{weights_path} does not belong to {spec_path} (its SHA-256 differs from the one "
            "model.json records): the folder was changed by hand or damaged"
        )
    encoder = TableEncoder.from_dict(spec["columns"], spec_path)
    tgt = Target.from_dict(spec["target"], spec_path)
    arch = spec["architecture"]
    sizes = arch["layer_sizes"]
    n_out = len(tgt.classes) if tgt.task == "classification" else 1
    check(sizes[0] == len(encoder.output_names), spec_path, "architecture.layer_sizes",
          f"starts with {sizes[0]} inputs, but the columns give {len(encoder.output_names)}")
    check(sizes[-1] == n_out, spec_path, "architecture.layer_sizes",
          f"ends with {sizes[-1]} outputs, but the target needs {n_out}")
    if arch["model"] in ("logreg", "cnn"):
        check(tgt.task == "classification", spec_path, "architecture.model", "needs classes")
    if arch["model"] == "linear":
        check(tgt.task == "regression", spec_path, "architecture.model", "needs a regression")
    net = build_model(arch["model"], sizes[0], n_out, sizes[1:-1])
    _load_weights(weights_path, raw, net)
    net.eval()
    return TrainedModel(net, spec, arch["model"], encoder, tgt, folder)


# ---------------------------------------------------------------------- held-out part
def held_out(model: TrainedModel) -> tuple[Any, np.ndarray, str]:
    """The held-out rows of the data ``model`` was trained on: (frame, label cells, source),
    when the training file is still there with the same content (or the data is bundled).

    Examples
    --------
    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> _ = train("iris", model="logreg", out=out, progress=False, plots=False)
    >>> frame, labels, source = held_out(load_model(out))
    >>> len(frame), source
    (38, 'iris (held-out part)')
    """
    metrics_path = os.path.join(model.path, "metrics.json")
    metrics = _read_json(metrics_path)
    rows = metrics.get("held_out_rows") if isinstance(metrics, dict) else None
    check(isinstance(rows, list) and all(isinstance(r, int) and r >= 0 for r in rows),
          metrics_path, "held_out_rows", "must be a list of row numbers")  # fmt: skip
    src = model.spec["data"]
    if "dataset" in src:
        d = load_data(str(src["dataset"]))
        name = str(src["dataset"])
    else:
        path = src.get("path")
        check(isinstance(path, str), model.path + "/model.json", "data.path", "must be a path")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"the training file {path} is gone; pass a table to evaluate")
        from .tables.read import file_sha256

        if file_sha256(path) != src.get("sha256"):
            raise ValueError(
                f"{path} has changed since the model was trained (its SHA-256 differs); pass "
                "the table to evaluate explicitly"
            )
        d = load_data(path, model.target.name, delimiter=src.get("delimiter"),
                      decimal=src.get("decimal"), encoding=src.get("encoding", "utf-8"),
                      inf_as_missing=bool(src.get("inf_as_missing", False)))  # fmt: skip
        name = os.path.basename(path)
    if rows and max(rows) >= len(d.target):
        raise ValueError(f"{metrics_path}: held_out_rows point past the data's end")
    return d.frame.iloc[rows], d.target[rows], f"{name} (held-out part)"


# --------------------------------------------------------------------------- reports
def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, per-class precision, recall and support, and the confusion matrix
    (rows: true class, columns: predicted), over ``classes`` in that order.

    Examples
    --------
    >>> r = classification_report(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    >>> r["accuracy"], r["precision"], r["recall"], r["confusion"].tolist()
    (0.6666666666666666, [1.0, 0.5], [0.5, 1.0], [[1, 1], [0, 1]])
    """
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(t) for t in y_true} - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not among the model's classes {list(classes)}")
    k = len(classes)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, ([index[str(t)] for t in y_true], [index[str(p)] for p in y_pred]), 1)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    diag = np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, diag / predicted, 0.0)
        recall = np.where(support > 0, diag / support, 0.0)
    return {
        "accuracy": float(diag.sum() / max(cm.sum(), 1)),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "support": support.tolist(),
        "confusion": cm,
    }


def regression_report(y_true: Any, y_pred: Any) -> dict[str, float]:
    """R^2, RMSE and MAE of predictions.

    Examples
    --------
    >>> regression_report([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    {'r2': 0.5, 'rmse': 0.5773502691896257, 'mae': 0.3333333333333333}
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    return {"r2": _r2(t, p), "rmse": float(np.sqrt(np.mean((t - p) ** 2))),
            "mae": float(np.mean(np.abs(t - p)))}  # fmt: skip


def format_report(report: dict[str, Any], classes: Sequence[str]) -> str:
    """``classification_report`` as text: accuracy, a per-class table, the confusion matrix.

    Examples
    --------
    >>> r = classification_report(["a", "b"], ["a", "b"], ["a", "b"])
    >>> print(format_report(r, ["a", "b"]).splitlines()[0])
    accuracy 1.0000 (2 samples)
    """
    cm = report["confusion"]
    w = max(5, *(len(c) for c in classes), len(str(cm.max())))
    lines = [f"accuracy {report['accuracy']:.4f} ({int(cm.sum())} samples)", "",
             f"{'class':>{w}}  precision  recall  support"]  # fmt: skip
    for c, p, r, s in zip(classes, report["precision"], report["recall"], report["support"]):
        lines.append(f"{c:>{w}}  {p:9.4f}  {r:6.4f}  {s:7d}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class):",
              " " * w + "".join(f" {c:>{w}}" for c in classes)]  # fmt: skip
    for c, row in zip(classes, cm):
        lines.append(f"{c:>{w}}" + "".join(f" {v:>{w}d}" for v in row))
    return "\n".join(lines)


def dataset_summaries() -> list[dict[str, Any]]:
    """Name, number of samples and features, and samples per class of each bundled data set.

    Examples
    --------
    >>> s = {d["name"]: d for d in dataset_summaries()}
    >>> s["iris"]["n_samples"], s["iris"]["n_features"], s["iris"]["class_counts"]
    (150, 4, {'setosa': 50, 'versicolor': 50, 'virginica': 50})
    """
    out = []
    for name, (loader, _, classes) in DATASETS.items():
        X, y = loader()
        counts = np.bincount(y, minlength=len(classes))
        out.append({"name": name, "n_samples": X.shape[0], "n_features": X.shape[1],
                    "class_counts": dict(zip(classes, counts.tolist()))})  # fmt: skip
    return out


def command_line(argv: Sequence[str]) -> str:
    """The shell command that reproduces a run (``chainrule`` and the quoted arguments).

    Examples
    --------
    >>> command_line(["train", "--data", "my table.csv"])
    "chainrule train --data 'my table.csv'"
    """
    return " ".join(["chainrule", *map(shlex.quote, argv)])
