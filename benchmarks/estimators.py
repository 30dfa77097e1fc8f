"""Fit times of chainrule's scikit-learn estimators beside scikit-learn's own.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/estimators.py [--out PATH]

* LogisticRegression on iris, wine, breast_cancer and digits (standardised), tol=1e-10 and
  max_iter=10000 so both reach the same optimum: the median of 5 fits each, scikit-learn as a
  user runs it (NumPy's and SciPy's BLAS pools at their default size) and limited to one thread
  (threadpoolctl), and chainrule (whose fit limits itself to one thread). The objectives at the
  two solutions are compared.
* MLPClassifier(hidden_layer_sizes=(256,), random_state=0) on the digits (25% held out): time
  per epoch and held-out accuracy, chainrule and scikit-learn.

Writes a markdown report (default benchmarks/RESULTS_estimators.md).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

DATASETS = ("iris", "wine", "breast_cancer", "digits")
REPEATS = 5


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.preprocessing import StandardScaler

    import chainrule.data as data

    X, y = getattr(data, f"load_{name}")()
    return StandardScaler().fit_transform(X), y


def _objective(coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """scikit-learn's objective, (sum_i loss_i + ||W||^2 / (2C)) / n with C = 1."""
    z = X @ coef.T + intercept
    n = len(y)
    if coef.shape[0] == 1:
        t = (y == y.max()).astype(float)
        loss = np.logaddexp(0, z[:, 0]) - t * z[:, 0]
    else:
        zmax = z.max(axis=1, keepdims=True)
        lse = (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))[:, 0]
        loss = lse - z[np.arange(n), y]
    return float((loss.sum() + 0.5 * (coef**2).sum()) / n)


def _median_fit_time(make: Any, X: np.ndarray, y: np.ndarray, limit: bool) -> tuple[float, Any]:
    from threadpoolctl import threadpool_limits

    times = []
    model = None
    for _ in range(REPEATS):
        model = make()
        start = time.perf_counter()
        if limit:
            with threadpool_limits(1):
                model.fit(X, y)
        else:
            model.fit(X, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def logistic_rows() -> list[str]:
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    from chainrule.estimators import LogisticRegression

    settings = {"tol": 1e-10, "max_iter": 10_000}
    rows = []
    for name in DATASETS:
        X, y = _data(name)
        t_sk, sk = _median_fit_time(lambda: SkLogisticRegression(**settings), X, y, False)
        t_sk1, _ = _median_fit_time(lambda: SkLogisticRegression(**settings), X, y, True)
        t_cr, cr = _median_fit_time(lambda: LogisticRegression(**settings), X, y, False)
        f_sk = _objective(sk.coef_, sk.intercept_, X, y)
        f_cr = _objective(cr.coef_, cr.intercept_, X, y)
        rows.append(
            f"| {name} | {X.shape[0]}x{X.shape[1]}, {len(np.unique(y))} classes | "
            f"{t_cr * 1e3:.1f} ms | {t_sk * 1e3:.1f} ms | {t_sk1 * 1e3:.1f} ms | "
            f"{t_cr / t_sk:.2f} | {t_cr / t_sk1:.2f} | {(f_cr - f_sk) / abs(f_sk):+.1e} |"
        )
    return rows


def mlp_rows() -> list[str]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from chainrule.estimators import MLPClassifier

    X, y = _data("digits")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    rows = []
    for label, make in (
        ("chainrule", lambda: MLPClassifier(hidden_layer_sizes=(256,), random_state=0)),
        ("scikit-learn", lambda: SkMLPClassifier(hidden_layer_sizes=(256,), random_state=0)),
    ):
        model = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(X_tr, y_tr)
            seconds = time.perf_counter() - start
        rows.append(
            f"| {label} | {model.n_iter_} | {seconds / model.n_iter_ * 1e3:.1f} ms | "
            f"{model.score(X_te, y_te):.4f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE / "RESULTS_estimators.md"))
    args = parser.parse_args(argv)
    import sklearn
    from threadpoolctl import threadpool_info

    blas = [
        f"{i['internal_api']} {i['version']} ({i['num_threads']} threads, {i['filepath']})"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    unset = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v not in os.environ]
    lines = [
        "# chainrule estimators beside scikit-learn",
        "",
        f"- **Command:** `python benchmarks/estimators.py` "
        f"(unset: {', '.join(unset) or 'none'})",
        f"- **Date:** {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- **Machine:** {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}",
        "- **BLAS pools loaded:** " + "; ".join(blas),
        "",
        "## LogisticRegression (tol=1e-10, max_iter=10000, C=1, median of 5 fits)",
        "",
        "`ratio` = chainrule's time / scikit-learn's (as users run it: default thread pools; and "
        "limited to one thread). `objective` = relative difference of the objectives at the two "
        "solutions. Target: at most 0.5 against scikit-learn as users run it.",
        "",
        "| data | shape | chainrule | scikit-learn | scikit-learn, 1 thread | ratio | "
        "ratio vs 1 thread | objective |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *logistic_rows(),
        "",
        "## MLPClassifier(hidden_layer_sizes=(256,), random_state=0), digits, 25% held out",
        "",
        "| implementation | epochs | time per epoch | held-out accuracy |",
        "|---|---:|---:|---:|",
        *mlp_rows(),
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
