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


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names separated by commas, got {text!r}")
    return names


def _char(text: str) -> str:
    text = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(text) != 1:
        raise argparse.ArgumentTypeError(f"expected one character (or 'tab'), got {text!r}")
    return text


def _add_reading(p: Any) -> None:
    """Options of how a table file is read (train, predict, evaluate)."""
    p.add_argument("--delimiter", type=_char, metavar="CHAR",
                   help="the field delimiter (default: sniffed among , ; tab |)")
    p.add_argument("--decimal", choices=(".", ","),
                   help="the decimal mark (default '.', or ',' when a ;-separated file uses it)")
    p.add_argument("--encoding", default="utf-8", help="the file's text encoding (default utf-8)")
    p.add_argument("--inf-as-missing", action="store_true",
                   help="read inf, Infinity and 1e400 as missing values instead of refusing them")


def _add_train(sub: Any) -> None:
    from .training import DATASETS, MAX_EPOCHS, MODELS, TASKS

    tr = sub.add_parser(
        "train",
        help="train a classifier or regressor on a bundled data set or a table file",
        description="Fit a model to 75% of the rows (stratified for classes) and report it on "
        "the other 25%. Columns are typed from the data: numbers are imputed (median plus a "
        "missing indicator) and standardised, text is one-hot encoded, ID-like and very "
        "high-cardinality columns are left out (each with a note). logreg and linear are fitted "
        "to the optimum of their penalised objective; mlp and cnn stop early on a validation "
        "part and keep the best epoch count; auto fits both a linear model and an mlp and keeps "
        "the better. Writes model.safetensors, model.json, metrics.json, loss_curve.png and "
        "report.html (the run as a page to open and share) to --out, all at once.",
    )
    tr.add_argument("--data", default="digits", metavar="NAME|PATH",
                    help=f"{', '.join(DATASETS)}, or a .csv/.tsv/.txt/.parquet file "
                    "(default digits)")  # fmt: skip
    tr.add_argument("--target", metavar="COLUMN",
                    help="the label column of a table file (default: its last column)")
    tr.add_argument("--task", choices=TASKS, default="auto",
                    help="auto (default): text labels and integers with few values are classes, "
                    "other numbers a regression")  # fmt: skip
    tr.add_argument("--features", type=_names, metavar="A,B,...",
                    help="use exactly these columns (none is left out automatically)")
    tr.add_argument("--drop", type=_names, default=(), metavar="A,B,...",
                    help="never use these columns")
    tr.add_argument("--model", choices=MODELS, default="auto",
                    help="auto (default: the better of a linear model and an mlp on a "
                    "validation part), logreg (classes), linear (ridge regression), mlp, or cnn "
                    "(digits only)")  # fmt: skip
    tr.add_argument("--hidden", type=_sizes, default=(128,), metavar="N[,N...]",
                    help="hidden layer sizes of mlp/cnn (default 128)")
    tr.add_argument("--epochs", type=_positive(int), default=None,
                    help=f"the most epochs of mlp/cnn (default {MAX_EPOCHS}; they stop early)")
    tr.add_argument("--lr", type=_positive(float), default=1e-3,
                    help="Adam's learning rate for mlp/cnn (default 1e-3)")
    tr.add_argument("--batch-size", type=_positive(int), default=32, help="default 32")
    tr.add_argument("--seed", type=_seed, default=0,
                    help="seed of the splits, the initial weights and the batches (default 0)")
    tr.add_argument("--out", default="chainrule-model", metavar="DIR",
                    help="folder to write the model to (default ./chainrule-model)")  # fmt: skip
    tr.add_argument("--device", default="cpu", metavar="DEVICE",
                    help="cpu (default), cuda or cuda:N (an NVIDIA GPU through CuPy)")  # fmt: skip
    tr.add_argument("--threads", type=_positive(int), default=1,
                    help="BLAS threads while training (default 1: small models run faster on "
                    "one, see benchmarks/RESULTS_cli.md)")  # fmt: skip
    tr.add_argument("--quiet", action="store_true", help="print only the result and errors")
    tr.add_argument("--workers", type=_positive(int), default=None, metavar="N",
                    help="train on N processes through mpiexec (data-parallel; needs "
                    "chainrule[mpi]); the same as mpiexec -n N chainrule train ...")  # fmt: skip
    _add_reading(tr)

    pr = sub.add_parser(
        "predict",
        help="predict the rows of a table file with a trained model",
        description="Read the model's feature columns (by name, in any order; other columns "
        "are ignored) from INPUT, preprocess them as in training and write a table with the "
        "ID-like and --keep columns, then 'prediction' (and with --proba one probability column "
        "per class), in INPUT's delimiter.",
    )
    pr.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by chainrule train")
    pr.add_argument("input", metavar="INPUT")
    pr.add_argument("-o", "--output", metavar="PATH", help="write here (default: stdout)")
    pr.add_argument("--keep", type=_names, default=(), metavar="A,B,...",
                    help="also copy these columns of INPUT to the output, first")
    pr.add_argument("--proba", action="store_true",
                    help="add a probability column per class (classifiers)")
    pr.add_argument("--runtime", choices=("chainrule", "onnxruntime"), default="chainrule",
                    help="compute with chainrule (default) or export the model to ONNX and run "
                    "it with ONNX Runtime (needs the [onnx] extra)")  # fmt: skip
    _add_reading(pr)

    ev = sub.add_parser(
        "evaluate",
        help="score a trained model on a labelled table (default: its held-out part)",
        description="Compare a trained model's predictions with the label column: accuracy, "
        "per-class precision/recall and the confusion matrix, or R2, RMSE and MAE. Without "
        "INPUT, the held-out rows of the training data are scored (when the training file is "
        "unchanged). Writes confusion_matrix.png or predicted_vs_true.png to --out when "
        "matplotlib is installed.",
    )
    ev.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by chainrule train")
    ev.add_argument("input", metavar="INPUT", nargs="?")
    ev.add_argument("--target", metavar="COLUMN",
                    help="the label column (default: the one the model was trained with)")
    ev.add_argument("--out", default=".", metavar="DIR",
                    help="folder for the picture (default: the current folder)")
    _add_reading(ev)
    sub.add_parser("datasets", help="list the bundled data sets with their shapes and classes",
                   description="List the bundled data sets: samples, features, samples per "
                   "class.")  # fmt: skip
    ex = sub.add_parser(
        "export",
        help="write a trained model folder as one ONNX file, preprocessing included",
        description="Write MODEL_DIR (from chainrule train) as an ONNX model that takes the raw "
        "feature columns chainrule predict reads (one input per column, shape (batch, 1): "
        'float32 with NaN for a missing number, strings with "" for a missing text) and '
        "gives 'label' and 'probabilities' (classifiers) or 'variable' (regressions). Needs "
        "the [onnx] extra.",
    )
    ex.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by chainrule train")
    ex.add_argument("output", metavar="OUTPUT", help="the .onnx file to write")
    ex.add_argument("--opset", type=_positive(int), default=17,
                    help="ONNX operator set (default 17)")  # fmt: skip


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
    exp.add_argument(
        "--html",
        metavar="PATH",
        help="also write the backward pass as a page to click through step by step "
        "(one self-contained HTML file; cr.viz.explain_html)",
    )
    _add_train(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    A closed standard output (``chainrule predict ... | head``) ends the command quietly, as
    Unix tools do (status 141, no traceback).

    Examples
    --------
    >>> main(["version"])  # doctest: +ELLIPSIS
    chainrule ...
    0
    """
    try:
        status = _main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in _COMMANDS:
        args.argv = list(sys.argv[1:] if argv is None else argv)
        try:
            return _COMMANDS[args.command](args)
        except BrokenPipeError:
            raise
        except (ValueError, KeyError, OSError, ImportError, RuntimeError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and exc.filename and exc.strerror:
                text = f"{exc.filename}: {exc.strerror}"
            message = " ".join(str(text).split())  # one line, whatever the library wrote
            if len(message) > 1000:  # a 100 kB column name is echoed in part
                message = message[:1000] + " [...]"
            print(f"{parser.prog}: error: {message}", file=sys.stderr)
            return 2
    if args.command == "version":
        print(f"chainrule {__version__} (Python {sys.version.split()[0]}, NumPy {np.__version__})")
        return 0
    parser.print_help()
    return 0


# ------------------------------------------------------------- train/predict/evaluate
def _train(args: argparse.Namespace) -> int:
    from .distributed import launch
    from .training import command_line, train

    if args.workers is not None and args.workers > 1 and launch.pg.launched_by_mpiexec() <= 1:
        return launch.run_workers(args.workers, launch.strip_workers(args.argv))
    if not launch.join_job():  # rank > 0 of an mpiexec job: silent, writes nothing
        args.quiet = True
    r = train(args.data, args.target, args.model, args.hidden, args.epochs, args.lr,
              args.batch_size, args.seed, args.out, progress=not args.quiet, device=args.device,
              task=args.task, features=args.features, drop=args.drop, delimiter=args.delimiter,
              decimal=args.decimal, encoding=args.encoding, inf_as_missing=args.inf_as_missing,
              threads=args.threads, command=command_line(["train", *args.argv[1:]]))  # fmt: skip
    if not args.quiet:
        for note in r["notes"]:
            print(note)
    name = os.path.basename(args.data)
    if r["task"] == "classification":
        score = f"held-out accuracy {r['accuracy']:.4f}, loss {r['loss']:.4f}"
    else:
        score = f"held-out R2 {r['r2']:.4f}, RMSE {r['rmse']:.4g}, MAE {r['mae']:.4g}"
    how = (f"{r['epochs']} epochs" if r["model"] in ("mlp", "cnn")
           else f"{r['epochs']} L-BFGS iterations")  # fmt: skip
    print(f"{r['model']} on {name}: {how} in {r['seconds']:.1f} s; {score} "
          f"({r['n_test']} rows)")
    if not args.quiet:
        print(f"wrote {', '.join(r['files'])} to {r['out']}")
    return 0


def _read(args: argparse.Namespace, path: str, model: Any, extra: tuple[str, ...] = ()) -> Any:
    from .tables import read_table

    text = tuple(model.encoder.categorical_columns) + (model.target.name,) + extra
    return read_table(path, delimiter=args.delimiter, decimal=args.decimal,
                      encoding=args.encoding, text_columns=text,
                      inf_as_missing=args.inf_as_missing)  # fmt: skip


def _predict(args: argparse.Namespace) -> int:
    from .io import write_atomic
    from .training import load_model

    model = load_model(args.model_dir)
    table = _read(args, args.input, model, tuple(args.keep))
    frame = table.frame
    unknown = [c for c in args.keep if c not in frame.columns]
    if unknown:
        raise ValueError(f"--keep: {args.input} has no column(s) {', '.join(map(repr, unknown))}")
    keep = [c for c in model.encoder.id_columns if c in frame.columns and c not in args.keep]
    keep = list(args.keep) + keep
    predictor = model
    if args.runtime == "onnxruntime":
        from .onnx.tables import OnnxRuntimeModel  # the same model, exported and run by ORT

        predictor = OnnxRuntimeModel(model)
    prediction = predictor.predict(frame, args.input)
    columns = {c: frame[c].to_numpy(dtype=object) for c in keep}
    columns["prediction"] = prediction if model.task == "classification" else [
        repr(float(v)) for v in prediction]  # fmt: skip
    if args.proba:
        proba = predictor.predict_proba(frame, args.input)
        for k, c in enumerate(model.classes or []):
            columns[f"probability_{c}"] = [f"{v:.6g}" for v in proba[:, k]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=table.delimiter or ",", lineterminator="\n")
    writer.writerow(list(columns))
    writer.writerows(zip(*[[("" if v is None or v != v else v) for v in col]
                           for col in columns.values()]))  # fmt: skip
    if args.output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        write_atomic(args.output, buffer.getvalue().encode())
        print(f"wrote {len(frame)} predictions to {args.output}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .tables import as_text
    from .training import (
        _matplotlib,
        classification_report,
        format_report,
        held_out,
        load_model,
        regression_report,
    )  # fmt: skip

    model = load_model(args.model_dir)
    if args.input is None:
        if args.target is not None:
            raise ValueError("--target needs INPUT (the held-out part uses the trained target)")
        frame, cells, source = held_out(model)
    else:
        target = args.target or model.target.name
        table = _read(args, args.input, model, (target,))
        if target not in table.frame.columns:
            raise ValueError(f"{args.input} has no label column {target!r} (pass --target COLUMN)")
        frame, source = table.frame, args.input
        cells = as_text(frame[target].to_numpy(dtype=object))
    labels, keep = model.target.encode(cells)
    if not keep.any():
        raise ValueError(f"{source} has no labelled row")
    frame = frame[keep] if not keep.all() else frame
    prediction = model.predict(frame, source)
    os.makedirs(args.out, exist_ok=True)
    if model.task == "classification":
        classes = model.classes or []
        report = classification_report(np.asarray(classes)[labels], prediction, classes)
        print(f"{source}:")
        print(format_report(report, classes))
        picture = os.path.join(args.out, "confusion_matrix.png")
    else:
        r = regression_report(labels, prediction)
        print(f"{source}: R2 {r['r2']:.4f}, RMSE {r['rmse']:.4g}, MAE {r['mae']:.4g} "
              f"({len(labels)} rows)")
        picture = os.path.join(args.out, "predicted_vs_true.png")
    if not _matplotlib():
        print(f"matplotlib is not installed: no {os.path.basename(picture)} "
              '(pip install "chainrule[cli]")')
        return 0
    from .viz import plot_confusion_matrix, plot_predicted_vs_true

    if model.task == "classification":
        plot_confusion_matrix(report["confusion"], picture, class_names=model.classes)
    else:
        plot_predicted_vs_true(labels, prediction, picture, name=model.target.name)
    print(f"wrote {picture}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from .training import dataset_summaries

    for d in dataset_summaries():
        counts = ", ".join(f"{c}: {n}" for c, n in d["class_counts"].items())
        print(f"{d['name']:<14} {d['n_samples']:>5} x {d['n_features']:<3} "
              f"{len(d['class_counts']):>2} classes ({counts})")  # fmt: skip
    return 0


def _export(args: argparse.Namespace) -> int:
    from .onnx.tables import export_model_dir

    proto = export_model_dir(args.model_dir, args.output, opset=args.opset)
    names = [i.name for i in proto.graph.input]
    shown = ", ".join(names[:6]) + (f", ... ({len(names)} columns)" if len(names) > 6 else "")
    outputs = ", ".join(o.name for o in proto.graph.output)
    print(f"wrote {args.output} (inputs {shown}; outputs {outputs})")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _train, "predict": _predict, "evaluate": _evaluate, "datasets": _datasets,
    "export": _export,
    "explain": lambda args: _explain(args.model, args.seed, args.graph, args.html),
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


def _explain(model: str, seed: int, graph_too: bool = False, html: str | None = None) -> int:
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
    if html is not None:  # before backward(), which frees the graph the page walks
        from .viz.explain_html import article_derivation, explain_html

        named = {k[4:]: v for k, v in leaves.items()}  # "dL/dW" -> "W"
        derivation = article_derivation(x, c, {k[4:]: v for k, v in params.items()}, named)
        try:
            explain_html(loss_t, html, names=named, derivation=derivation,
                         title=f"The chain rule, step by step: {model} (seed {seed})")  # fmt: skip
        except OSError as exc:  # a missing folder, no permission: one line, as other commands
            print(f"chainrule: error: {html}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        print(f"wrote {html}")
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
