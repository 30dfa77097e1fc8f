"""What ``chainrule train``, ``predict``, ``evaluate`` and ``datasets`` do, importable on its own.

A trained model is a folder: ``model.safetensors`` (the weights, no pickle), ``model.json`` (the
architecture, the class and feature names, the standardiser's mean and scale, the data source),
``metrics.json`` (held-out accuracy and loss, the training loss per epoch) and, with matplotlib,
``loss_curve.png``. :func:`load_model` rebuilds the network from ``model.json`` alone.

Examples
--------
>>> import tempfile
>>> out = tempfile.mkdtemp()
>>> result = train("iris", model="logreg", epochs=2, out=out, progress=False, plots=False)
>>> sorted(result["files"])
['metrics.json', 'model.json', 'model.safetensors']
>>> load_model(out).classes
['setosa', 'versicolor', 'virginica']
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import __version__, io, nn, optim
from . import random as _random
from .autodiff import no_grad
from .backend import on_device
from .data import (
    DataLoader,
    Standardizer,
    TensorDataset,
    load_breast_cancer,
    load_csv,
    load_digits,
    load_iris,
    load_wine,
    make_moons,
    train_test_split,
)
from .io import write_atomic
from .tensor import as_tensor

__all__ = [
    "DATASETS", "MODELS", "Data", "TrainedModel", "load_dataset", "split", "build_model",
    "train", "load_model", "read_table", "classification_report", "format_report",
    "dataset_summaries",
]  # fmt: skip

MODELS = ("logreg", "mlp", "cnn")
FORMAT_VERSION = 1
TEST_SIZE = 0.25
#: Channels of the CNN's two 3x3 convolutions (before a 2x2 max-pool and the dense layers).
CNN_CHANNELS = (16, 32)
_MOONS = {"n_samples": 500, "noise": 0.2}

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
        [
            "alcohol",
            "malic_acid",
            "ash",
            "alcalinity_of_ash",
            "magnesium",
            "total_phenols",
            "flavanoids",
            "nonflavanoid_phenols",
            "proanthocyanins",
            "color_intensity",
            "hue",
            "od280_od315_of_diluted_wines",
            "proline",
        ],
        ["class_0", "class_1", "class_2"],
    ),  # fmt: skip
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
}


@dataclass
class Data:
    """A classification table: ``y`` holds indices into ``classes`` (names as strings)."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    classes: list[str]
    source: dict[str, Any]


def _labels_as_text(y: np.ndarray, classes: Any) -> np.ndarray:
    """load_csv's target as strings: text labels come as codes into ``classes``, integer
    labels as the values themselves."""
    if classes is None:
        raise ValueError(
            "the target column holds non-integer numbers; chainrule train fits classifiers, "
            "so it needs class labels (text or integers)"
        )
    classes = np.asarray(classes)
    return classes[y].astype(str) if classes.dtype.kind == "U" else y.astype(str)


def load_dataset(source: str, target: str | None = None) -> Data:
    """A bundled data set by name, or a CSV file (``target``: the label column, default the last).

    Examples
    --------
    >>> d = load_dataset("iris")
    >>> d.X.shape, d.classes[d.y[0]], d.feature_names[0]
    ((150, 4), 'setosa', 'sepal_length')
    """
    if source in DATASETS:
        if target is not None:
            raise ValueError(f"--target applies to CSV files, not to the bundled {source!r}")
        loader, features, classes = DATASETS[source]
        X, y = loader()
        info: dict[str, Any] = {"dataset": source}
        if source == "moons":
            info.update(_MOONS, random_state=0)
        return Data(X, y, list(features), list(classes), info)
    if not source.lower().endswith(".csv"):
        raise ValueError(
            f"unknown data {source!r}: expected one of {', '.join(DATASETS)} or a .csv file"
        )
    if not os.path.exists(source):
        raise FileNotFoundError(f"no such file: {source}")
    X, y, info = load_csv(source, target=-1 if target is None else target)
    text = _labels_as_text(y, info["classes"])
    names, codes = np.unique(text, return_inverse=True)
    if len(names) < 2:
        raise ValueError(f"{source}: the target column {info['target_name']!r} has one class")
    return Data(
        X,
        codes.astype(np.int64),
        list(info["feature_names"]),
        [str(c) for c in names],
        {"csv": os.path.abspath(source), "target": info["target_name"]},
    )


def split(X: np.ndarray, y: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """The stratified 75/25 split ``train`` uses: ``[X_train, X_test, y_train, y_test]``.

    Examples
    --------
    >>> parts = split(np.arange(16.0).reshape(8, 2), np.array([0, 1] * 4))
    >>> [p.shape for p in parts]
    [(6, 2), (2, 2), (6,), (2,)]
    """
    return train_test_split(X, y, test_size=TEST_SIZE, random_state=seed, stratify=y)


def build_model(kind: str, n_features: int, n_classes: int, hidden: Sequence[int] = (128,)) -> Any:
    """The network for ``kind`` (logreg, mlp or cnn); cnn takes (n, 1, 8, 8) images.

    Examples
    --------
    >>> import chainrule as cr
    >>> build_model("mlp", 4, 3, (8, 5))(cr.zeros(2, 4)).shape
    (2, 3)
    """
    if kind == "logreg":
        return nn.Sequential(nn.Linear(n_features, n_classes))
    if kind == "mlp":
        layers: list[Any] = []
        sizes = [n_features, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
    if kind == "cnn":
        if n_features != 64:
            raise ValueError(f"the cnn model needs 8x8 images (64 features), got {n_features}")
        c1, c2 = CNN_CHANNELS
        layers = [nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c2, 3, padding=1),
                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]  # fmt: skip
        sizes = [c2 * 4 * 4, *hidden]
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
    raise ValueError(f"unknown model {kind!r}: expected one of {', '.join(MODELS)}")


def _inputs(kind: str, X: np.ndarray) -> np.ndarray:
    X = X.astype(np.float32)
    return X.reshape(-1, 1, 8, 8) if kind == "cnn" else X


def _logits(model: Any, X: np.ndarray, move: Any = None) -> np.ndarray:
    model.eval()
    with no_grad():
        return model(as_tensor(X if move is None else move(X))).numpy()


def _adam_epochs(
    net: Any, loader: Any, lr: float, epochs: int, progress: bool, move: Any
) -> tuple[list[float], float]:
    """Train ``net`` with Adam for ``epochs`` passes over ``loader`` (batches copied by
    ``move``); the mean training loss of each epoch, and the seconds taken."""
    opt = optim.Adam(net.parameters(), lr=lr)
    losses: list[float] = []
    n = len(loader.dataset)
    start = time.perf_counter()
    bar = _epochs(epochs, progress)
    net.train()
    for _ in bar:
        total = 0.0
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(net(as_tensor(move(xb.data))), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
        losses.append(total / n)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
    return losses, time.perf_counter() - start


def _cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def _epochs(n: int, progress: bool) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return range(n)
    return tqdm(range(n), desc="training", unit="epoch", file=sys.stderr,
                disable=not (progress and sys.stderr.isatty()))  # fmt: skip


def _write_json(path: str, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2) + "\n").encode())


def _matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def train(
    data: str = "digits",
    target: str | None = None,
    model: str = "mlp",
    hidden: Sequence[int] = (128,),
    epochs: int = 30,
    lr: float = 1e-3,
    batch_size: int = 32,
    seed: int = 0,
    out: str | os.PathLike[str] = "chainrule-model",
    progress: bool = True,
    plots: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train a classifier with Adam on 75% of ``data`` and write it, with its metrics, to ``out``.

    Features are standardised with the training part's statistics; the other 25% (stratified)
    gives the reported accuracy and cross-entropy loss. ``device="cuda"`` (or ``"cuda:N"``)
    trains on a GPU through CuPy; the weights are drawn on the host first, so the model is the
    same up to floating-point rounding, and it is saved from the host.

    Returns
    -------
    dict
        ``accuracy``, ``loss``, ``train_loss`` (per epoch), ``seconds``, ``n_train``,
        ``n_test``, ``out`` and ``files`` (the names written), and ``notes`` (lines to show).

    Examples
    --------
    >>> import tempfile
    >>> r = train("iris", model="logreg", epochs=1, out=tempfile.mkdtemp(), plots=False)
    >>> r["n_train"], r["n_test"], len(r["train_loss"])
    (112, 38, 1)
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}: expected one of {', '.join(MODELS)}")
    if model == "cnn" and data != "digits":
        raise ValueError(f"--model cnn works on the 8x8 digits only, not on {data!r}")
    if epochs < 1 or batch_size < 1 or not lr > 0 or any(h < 1 for h in hidden):
        raise ValueError("epochs, batch size, learning rate and hidden sizes must be positive")
    if model != "logreg" and not hidden:
        raise ValueError(f"--model {model} needs at least one hidden layer size")
    context, move = on_device(device, "train")  # checked before anything is read or written
    d = load_dataset(data, target)
    X_train, X_test, y_train, y_test = split(d.X, d.y, seed)
    scaler = Standardizer().fit(X_train)
    X_train = _inputs(model, scaler.transform(X_train))
    X_test = _inputs(model, scaler.transform(X_test))
    hidden = [] if model == "logreg" else [int(h) for h in hidden]

    _random.seed(seed)  # the initial weights, drawn on the host
    net = build_model(model, d.X.shape[1], len(d.classes), hidden)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True,
                        seed=seed)  # fmt: skip
    with context:
        net.to(device)
        losses, seconds = _adam_epochs(net, loader, lr, epochs, progress, move)
        logits = _logits(net, X_test, move)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    test_loss = _cross_entropy(logits, y_test)

    os.makedirs(out, exist_ok=True)
    out = os.fspath(out)
    sizes = [d.X.shape[1], *hidden, len(d.classes)]
    spec = {
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "architecture": {
            "model": model,
            "layer_sizes": sizes,
            "n_features": int(d.X.shape[1]),
            "classes": d.classes,
            "feature_names": d.feature_names,
            **(
                {"conv_channels": list(CNN_CHANNELS), "image_shape": [1, 8, 8]}
                if model == "cnn"
                else {}
            ),
        },  # fmt: skip
        "preprocessing": {
            "standardize": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}
        },
        "data": {**d.source, "test_size": TEST_SIZE, "seed": seed},
    }
    metrics = {
        "accuracy": accuracy,
        "loss": test_loss,
        "train_loss": losses,
        "epochs": epochs,
        "seconds": seconds,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
    }
    io.save(net.state_dict(), os.path.join(out, "model.safetensors"))
    _write_json(os.path.join(out, "model.json"), spec)
    _write_json(os.path.join(out, "metrics.json"), metrics)
    files = ["metrics.json", "model.json", "model.safetensors"]
    notes = []
    if plots and _matplotlib():
        from .viz import plot_training_curves

        plot_training_curves(losses, os.path.join(out, "loss_curve.png"))
        files.append("loss_curve.png")
    elif plots:
        notes.append(
            'matplotlib is not installed: no loss_curve.png (pip install "chainrule[cli]")'
        )
    return {**metrics, "out": out, "files": sorted(files), "notes": notes}


@dataclass
class TrainedModel:
    """A model folder loaded back: the network, its ``model.json`` and the class names."""

    net: Any
    spec: dict[str, Any]
    kind: str
    classes: list[str]
    feature_names: list[str]
    mean: np.ndarray
    scale: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class names (strings) for the raw feature rows ``X`` (standardised here)."""
        Z = _inputs(self.kind, (np.asarray(X, dtype=np.float64) - self.mean) / self.scale)
        return np.asarray(self.classes)[_logits(self.net, Z).argmax(axis=1)]


def load_model(model_dir: str | os.PathLike[str]) -> TrainedModel:
    """Rebuild the model saved by :func:`train` in ``model_dir`` (JSON + safetensors, no pickle).

    Raises
    ------
    FileNotFoundError
        No such folder, or a file missing from it.
    ValueError
        A corrupt ``model.json`` or ``model.safetensors``, or weights that do not fit.

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
    weights = os.path.join(folder, "model.safetensors")
    for path in (spec_path, weights):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{folder} has no {os.path.basename(path)} (is it a folder written by "
                f"chainrule train?)"
            )
    try:
        with open(spec_path, encoding="utf-8") as f:
            spec = json.load(f)
        arch = spec["architecture"]
        kind, sizes = arch["model"], [int(s) for s in arch["layer_sizes"]]
        classes = [str(c) for c in arch["classes"]]
        features = [str(c) for c in arch["feature_names"]]
        std = spec["preprocessing"]["standardize"]
        mean = np.asarray(std["mean"], dtype=np.float64)
        scale = np.asarray(std["scale"], dtype=np.float64)
    except (ValueError, KeyError, TypeError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else f"is not valid: {exc}"
        raise ValueError(f"{spec_path} {what}") from None
    n = len(features)
    if sizes[0] != n or sizes[-1] != len(classes) or mean.shape != (n,) or scale.shape != (n,):
        raise ValueError(f"{spec_path} is inconsistent: layer sizes, names and statistics differ")
    net = build_model(kind, n, len(classes), sizes[1:-1])
    try:
        net.load_state_dict(io.load(weights))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{weights} does not fit {spec_path}: {exc}") from None
    net.eval()
    return TrainedModel(net, spec, kind, classes, features, mean, scale)


def read_table(
    path: str, feature_names: Sequence[str], target: str | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The columns ``feature_names`` of the CSV ``path`` (by name, in that order), and the
    ``target`` column as strings when it is given and present (None otherwise).

    Examples
    --------
    >>> import os, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> with open(p, "w") as f:
    ...     _ = f.write("b,a,label\\n1,2,x\\n3,4,y\\n")
    >>> X, y = read_table(p, ["a", "b"], "label")
    >>> X.tolist(), y.tolist()
    ([[2.0, 1.0], [4.0, 3.0]], ['x', 'y'])
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        header = [name.strip() for name in next(csv.reader(f), [])]
    missing = [name for name in feature_names if name not in header]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{path} lacks the model's feature column(s) {shown}")
    has_target = target is not None and target in header
    X, y, info = load_csv(path, target=target if has_target else None)
    cols = [info["feature_names"].index(name) for name in feature_names]
    labels = _labels_as_text(y, info["classes"]) if has_target else None
    return X[:, cols], labels


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
