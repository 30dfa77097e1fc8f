"""The ``chainrule`` command (also ``python -m chainrule``).

``chainrule version`` reports what is installed; ``chainrule explain`` works the article's
chain-rule example with numbers (a logistic-regression step, or ``--model mlp`` a two-layer
network) and checks each result against chainrule's backward pass and finite differences.
``chainrule train`` fits a classifier (logistic regression, an MLP or a small CNN) to a bundled
data set or a CSV file and writes it to a folder; ``predict`` and ``evaluate`` use that folder on
new CSV rows; ``datasets`` lists the bundled data sets (the logic lives in chainrule.training).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from . import __version__
from .explain import explain
from .ops import log, softmax, tanh
from .tensor import tensor

#: Largest difference accepted between the hand-derived, backward and finite-difference results.
TOLERANCE = 1e-10


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (argparse adds the usage before them)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _seed(text: str) -> int:
    value = int(text) if text.isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def _positive(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _sizes(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected positive layer sizes separated by commas (e.g. 128,64), got {text!r}"
        )
    return tuple(int(p) for p in parts)


def _add_train(sub: Any) -> None:
    from .training import DATASETS, MODELS

    tr = sub.add_parser(
        "train",
        help="train a classifier on a bundled data set or a CSV file and save it to a folder",
        description="Train with Adam on 75%% of the data (stratified; features standardised "
        "with the training part's statistics), report the held-out accuracy and loss, and "
        "write model.safetensors, model.json, metrics.json and loss_curve.png to --out.",
    )
    tr.add_argument(
        "--data",
        default="digits",
        metavar="NAME|PATH.csv",
        help=f"{', '.join(DATASETS)}, or a CSV file (default digits)",
    )
    tr.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label column of a CSV file (default: its last column)",
    )
    tr.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="logistic regression, a ReLU MLP (default) or a CNN (digits only)",
    )
    tr.add_argument(
        "--hidden",
        type=_sizes,
        default=(128,),
        metavar="N[,N...]",
        help="hidden layer sizes of mlp/cnn (default 128)",
    )
    tr.add_argument("--epochs", type=_positive(int), default=30, help="default 30")
    tr.add_argument(
        "--lr", type=_positive(float), default=1e-3, help="Adam's learning rate (default 1e-3)"
    )
    tr.add_argument("--batch-size", type=_positive(int), default=32, help="default 32")
    tr.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the split, the initial weights and the batches (default 0)",
    )
    tr.add_argument("--out", default="chainrule-model", metavar="DIR",
                    help="folder to write the model to (default ./chainrule-model)")  # fmt: skip
    tr.add_argument("--device", default="cpu", metavar="DEVICE",
                    help="cpu (default), cuda or cuda:N (an NVIDIA GPU through CuPy)")  # fmt: skip

    pr = sub.add_parser(
        "predict",
        help="predict the classes of the rows of a CSV file with a trained model",
        description="Read the model's feature columns (by name) from INPUT.csv, standardise "
        "them as in training and write a CSV with a 'prediction' column.",
    )
    pr.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by chainrule train")
    pr.add_argument("input", metavar="INPUT.csv")
    pr.add_argument("-o", "--output", metavar="PATH", help="write here (default: stdout)")

    ev = sub.add_parser(
        "evaluate",
        help="accuracy, per-class precision/recall and the confusion matrix on a labelled CSV",
        description="Compare a trained model's predictions on INPUT.csv with its label column; "
        "also writes confusion_matrix.png into MODEL_DIR when matplotlib is installed.",
    )
    ev.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by chainrule train")
    ev.add_argument("input", metavar="INPUT.csv")
    ev.add_argument(
        "--target",
        metavar="COLUMN",
        help="the label column (default: the one the model was trained with)",
    )
    sub.add_parser("datasets", help="list the bundled data sets with their shapes and classes",
                   description="List the bundled data sets: samples, features, samples per "
                   "class.")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chainrule",
        description="Gradients by the chain rule over NumPy arrays. "
        "Library docs: README.md; example: python examples/logistic_regression.py",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print chainrule's, Python's and NumPy's versions")
    exp = sub.add_parser(
        "explain",
        help="work the chain rule by hand on a small model and check it against backward()",
        description="Compute each local derivative of a softmax cross-entropy loss by hand, "
        "chain them, and check the result against chainrule's backward pass and central "
        "finite differences.",
    )
    exp.add_argument(
        "--model",
        choices=("logreg", "mlp"),
        default="logreg",
        help="logistic regression (default) or a two-layer tanh network",
    )
    exp.add_argument("--seed", type=_seed, default=0, help="seed of the random example")
    exp.add_argument(
        "--graph",
        action="store_true",
        help="also print chainrule's own backward pass node by node (cr.explain)",
    )
    _add_train(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["version"])  # doctest: +ELLIPSIS
    chainrule ...
    0
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in _COMMANDS:
        try:
            return _COMMANDS[args.command](args)
        except (ValueError, KeyError, OSError, ImportError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and exc.filename and exc.strerror:
                text = f"{exc.filename}: {exc.strerror}"
            message = " ".join(str(text).split())  # one line, whatever the library wrote
            print(f"{parser.prog}: error: {message}", file=sys.stderr)
            return 2
    if args.command == "version":
        print(f"chainrule {__version__} (Python {sys.version.split()[0]}, NumPy {np.__version__})")
        return 0
    if args.command == "explain":
        return _explain(args.model, args.seed, args.graph)
    parser.print_help()
    return 0


# ------------------------------------------------------------- train/predict/evaluate
def _train(args: argparse.Namespace) -> int:
    from .training import train

    r = train(args.data, args.target, args.model, args.hidden, args.epochs, args.lr,
              args.batch_size, args.seed, args.out, device=args.device)  # fmt: skip
    print(
        f"{args.model} on {args.data}: {r['epochs']} epochs in {r['seconds']:.1f} s; "
        f"held-out accuracy {r['accuracy']:.4f}, loss {r['loss']:.4f} ({r['n_test']} samples)"
    )
    for note in r["notes"]:
        print(note)
    print(f"wrote {', '.join(r['files'])} to {r['out']}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .io import write_atomic
    from .training import load_model, read_table

    model = load_model(args.model_dir)
    target = model.spec.get("data", {}).get("target", "target")
    X, _ = read_table(args.input, model.feature_names, target)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["prediction"])
    writer.writerows([p] for p in model.predict(X))
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        write_atomic(args.output, buffer.getvalue().encode())
        print(f"wrote {len(X)} predictions to {args.output}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .training import _matplotlib, classification_report, format_report, load_model, read_table

    model = load_model(args.model_dir)
    target = args.target or model.spec.get("data", {}).get("target", "target")
    X, labels = read_table(args.input, model.feature_names, target)
    if labels is None:
        raise ValueError(f"{args.input} has no label column {target!r} (pass --target COLUMN)")
    report = classification_report(labels, model.predict(X), model.classes)
    print(format_report(report, model.classes))
    if _matplotlib():
        from .viz import plot_confusion_matrix

        path = os.path.join(args.model_dir, "confusion_matrix.png")
        plot_confusion_matrix(report["confusion"], path, class_names=model.classes)
        print(f"wrote {path}")
    else:
        print('matplotlib is not installed: no confusion_matrix.png (pip install "chainrule[cli]")')
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .training import dataset_summaries

    for d in dataset_summaries():
        counts = ", ".join(f"{c}: {n}" for c, n in d["class_counts"].items())
        print(f"{d['name']:<14} {d['n_samples']:>5} x {d['n_features']:<3} "
              f"{len(d['class_counts']):>2} classes ({counts})")  # fmt: skip
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _train, "predict": _predict, "evaluate": _evaluate, "datasets": _datasets,
}  # fmt: skip


# --------------------------------------------------------------------------------- explain
def _fmt(a: np.ndarray | float) -> str:
    return np.array2string(np.asarray(a), precision=6, max_line_width=100)


def _show(name: str, value: np.ndarray | float) -> None:
    text = _fmt(value)
    if "\n" in text:  # a matrix: start it on its own line so its rows align
        text = "\n    " + text.replace("\n", "\n    ")
        print(f"  {name} ={text}")
    else:
        print(f"  {name} = {text}")


def _cross_entropy(q: np.ndarray, c: int) -> float:
    """-ln softmax(q)_c, computed stably (for the finite differences)."""
    m = q.max()
    return float(m + np.log(np.exp(q - m).sum()) - q[c])


def _finite_differences(f: Callable[[], float], a: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """dF/da by the fourth-order central difference (error ~h^4 + rounding/h, ~1e-13 here),
    perturbing ``a`` in place and restoring it."""
    grad = np.empty_like(a)
    for i in np.ndindex(a.shape):
        v = a[i]
        vals = []
        for step in (2 * h, h, -h, -2 * h):
            a[i] = v + step
            vals.append(f())
        a[i] = v
        grad[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return grad


def _check(name: str, by_hand: np.ndarray, backward: np.ndarray, numeric: np.ndarray) -> bool:
    ok = True
    for what, other in (("chainrule backward", backward), ("central finite differences", numeric)):
        diff = float(np.max(np.abs(by_hand - other)))
        verdict = "agrees" if diff <= TOLERANCE else "DISAGREES"
        ok = ok and diff <= TOLERANCE
        print(f"  {name} vs {what}: {verdict} (max |difference| = {diff:.3e})")
    return ok


def _explain(model: str, seed: int, graph_too: bool = False) -> int:
    rng = np.random.default_rng(seed)
    n_classes, n_features, n_hidden = 3, 4, 5
    x = rng.normal(size=n_features)
    c = int(rng.integers(n_classes))
    onehot = np.eye(n_classes)[c]
    print(f"x = {_fmt(x)}, correct class c = {c} (float64, seed {seed})")
    if model == "logreg":
        W = rng.normal(scale=0.5, size=(n_classes, n_features))
        b = rng.normal(scale=0.5, size=n_classes)
        print("logistic regression: q = W x + b, p = softmax(q), L = -ln p_c")
        q = W @ x + b
        p = np.exp(q - q.max())
        p /= p.sum()
        _show("q", q)
        _show("p", p)
        _show("L = -ln p_c", -np.log(p[c]))
        print("local derivatives:")
        _show("dL/dp_c = -1/p_c", -1 / p[c])
        _show("dp_c/dq_i = p_c (delta_ic - p_i)", p[c] * (onehot - p))
        _show("dq/dW = x (row i of W feeds q_i)", x)
        dq = -1 / p[c] * (p[c] * (onehot - p))
        print("chained:")
        _show("dL/dq = dL/dp_c dp_c/dq = p - onehot(c)", dq)
        _show("dL/dW = (p - onehot(c)) outer x", np.outer(dq, x))
        _show("dL/db = p - onehot(c)", dq)
        hand = {"dL/dW": np.outer(dq, x), "dL/db": dq}
        params = {"dL/dW": W, "dL/db": b}

        def loss() -> float:
            return _cross_entropy(W @ x + b, c)

        def graph(t: dict[str, Any]) -> Any:
            return -log(softmax(t["dL/dW"] @ x + t["dL/db"], axis=-1)[c])

    else:
        W1 = rng.normal(scale=0.5, size=(n_hidden, n_features))
        b1 = rng.normal(scale=0.5, size=n_hidden)
        W2 = rng.normal(scale=0.5, size=(n_classes, n_hidden))
        b2 = rng.normal(scale=0.5, size=n_classes)
        print("two-layer network: h = tanh(W1 x + b1), q2 = W2 h + b2, L = -ln softmax(q2)_c")
        h = np.tanh(W1 @ x + b1)
        q2 = W2 @ h + b2
        p = np.exp(q2 - q2.max())
        p /= p.sum()
        _show("h", h)
        _show("p = softmax(q2)", p)
        _show("L", -np.log(p[c]))
        print("layer 2 (output):")
        dq2 = p - onehot
        _show("dL/dq2 = p - onehot(c)", dq2)
        _show("dL/dW2 = dL/dq2 outer h", np.outer(dq2, h))
        _show("dL/db2 = dL/dq2", dq2)
        dh = W2.T @ dq2
        _show("dL/dh = W2^T dL/dq2", dh)
        print("layer 1 (hidden):")
        _show("dh/dz1 = 1 - h^2", 1 - h**2)
        dz1 = dh * (1 - h**2)
        _show("dL/dz1 = dL/dh * (1 - h^2)", dz1)
        _show("dL/dW1 = dL/dz1 outer x", np.outer(dz1, x))
        _show("dL/db1 = dL/dz1", dz1)
        hand = {"dL/dW2": np.outer(dq2, h), "dL/db2": dq2,
                "dL/dW1": np.outer(dz1, x), "dL/db1": dz1}  # fmt: skip
        params = {"dL/dW2": W2, "dL/db2": b2, "dL/dW1": W1, "dL/db1": b1}

        def loss() -> float:
            return _cross_entropy(W2 @ np.tanh(W1 @ x + b1) + b2, c)

        def graph(t: dict[str, Any]) -> Any:
            hid = tanh(t["dL/dW1"] @ x + t["dL/db1"])
            return -log(softmax(t["dL/dW2"] @ hid + t["dL/db2"], axis=-1)[c])

    leaves = {k: tensor(v, dtype=np.float64, requires_grad=True) for k, v in params.items()}
    loss_t = graph(leaves)
    if graph_too:
        print("chainrule's backward pass, node by node (chainrule.explain):")
        explain(loss_t)
    loss_t.backward()
    print("checks (tolerance 1e-10):")
    ok = True
    for k in hand:
        ok = _check(k, hand[k], leaves[k].grad.numpy(), _finite_differences(loss, params[k])) and ok
    print("all agree" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
