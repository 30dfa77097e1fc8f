"""Fit times of chainrule's scikit-learn estimators beside scikit-learn's own.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/estimators.py [--out PATH]

* LogisticRegression on iris, wine, breast_cancer and digits (standardised), tol=1e-10 and
  max_iter=10000 so both reach the same optimum: the median of 5 fits each, scikit-learn as a
  user runs it (NumPy's and SciPy's BLAS pools at their default size) and limited to one thread
  (threadpoolctl), and chainrule (whose fit limits itself to one thread). The objectives at the
  two solutions are compared.
  The floor: scikit-learn's input checks and a hand-optimised NumPy loss and gradient through
  the same SciPy call.
* MLPClassifier(hidden_layer_sizes=(256,), random_state=0) on the digits (25% held out): time
  per epoch (median of 5 fits each, alternating) and held-out accuracy, chainrule and
  scikit-learn.

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
MLP_REPEATS = 5


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


def _numpy_floor_fit(X: np.ndarray, y: np.ndarray, tol: float, max_iter: int) -> Any:
    """The least a scikit-learn-compatible L-BFGS logistic regression can spend: the input checks
    every estimator must make, then the same SciPy L-BFGS-B call (scikit-learn's options) on a
    hand-optimised NumPy loss and gradient (no autodiff). Parameters: W (k x p) row by row, then
    the k intercepts (k = 1 for two classes)."""
    from scipy.optimize import minimize
    from scipy.special import expit
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_X_y

    X, y = check_X_y(X, y, dtype=np.float64)
    check_classification_targets(y)
    classes, y = np.unique(y, return_inverse=True)
    n, p = X.shape
    k = classes.size
    kk = 1 if k == 2 else k
    l2 = 0.5 / n
    if kk == 1:
        t = (y == 1).astype(float)

        def fg(v: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = v[:p], v[p]
            z = X @ w + b
            f = (np.logaddexp(0, z).sum() - z @ t) / n + l2 * (w @ w)
            d = expit(z)
            d -= t
            d /= n
            return f, np.concatenate([X.T @ d + (2 * l2) * w, [d.sum()]])
    else:
        onehot = np.eye(k)[y]
        ones = np.ones(k)

        def fg(v: np.ndarray) -> tuple[float, np.ndarray]:
            W, b = v[: kk * p].reshape(kk, p), v[kk * p :]
            z = X @ W.T
            z += b
            m = z[:, 0].copy()  # row max column by column: NumPy's row reduction is slower
            for j in range(1, k):
                np.maximum(m, z[:, j], out=m)
            e = np.exp(z - m[:, None])
            s = e @ ones
            f = (np.log(s).sum() + m.sum() - np.vdot(z, onehot)) / n + l2 * np.vdot(W, W)
            e /= (s * n)[:, None]
            e -= onehot / n
            return f, np.concatenate([(e.T @ X + (2 * l2) * W).ravel(), e.sum(axis=0)])

    options = {"maxiter": max_iter, "gtol": tol, "maxls": 50, "ftol": 64 * np.finfo(float).eps}
    return minimize(fg, np.zeros(kk * (p + 1)), jac=True, method="L-BFGS-B", options=options)


def logistic_rows() -> list[str]:
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression
    from threadpoolctl import ThreadpoolController

    from chainrule.estimators import LogisticRegression

    settings = {"tol": 1e-10, "max_iter": 10_000}
    one_thread = ThreadpoolController()  # made once: finding the pools takes milliseconds
    rows = []
    for name in DATASETS:
        X, y = _data(name)
        t_sk, sk = _median_fit_time(lambda: SkLogisticRegression(**settings), X, y, False)
        t_sk1, _ = _median_fit_time(lambda: SkLogisticRegression(**settings), X, y, True)
        t_cr, cr = _median_fit_time(lambda: LogisticRegression(**settings), X, y, False)
        floor = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            with one_thread.limit(limits=1):
                _numpy_floor_fit(X, y, **settings)
            floor.append(time.perf_counter() - start)
        t_np = statistics.median(floor)
        res = _numpy_floor_fit(X, y, **settings)
        kk = sk.coef_.shape[0]
        f_np = _objective(res.x[:-kk].reshape(kk, -1), res.x[-kk:], X, y)
        f_sk = _objective(sk.coef_, sk.intercept_, X, y)
        f_cr = _objective(cr.coef_, cr.intercept_, X, y)
        rows.append(
            f"| {name} | {X.shape[0]}x{X.shape[1]}, {len(np.unique(y))} classes | "
            f"{t_cr * 1e3:.1f} ms | {t_sk * 1e3:.1f} ms | {t_sk1 * 1e3:.1f} ms | "
            f"{t_np * 1e3:.1f} ms | {t_cr / t_sk:.2f} | {t_cr / t_sk1:.2f} | {t_np / t_sk:.2f} | "
            f"{(f_cr - f_sk) / abs(f_sk):+.1e} | {(f_np - f_sk) / abs(f_sk):+.1e} |"
        )
    return rows


def mlp_rows() -> list[str]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    from chainrule.estimators import MLPClassifier

    X, y = _data("digits")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    makers = (
        ("chainrule", lambda: MLPClassifier(hidden_layer_sizes=(256,), random_state=0)),
        ("scikit-learn", lambda: SkMLPClassifier(hidden_layer_sizes=(256,), random_state=0)),
    )
    per_epoch: dict[str, list[float]] = {label: [] for label, _ in makers}
    fitted = {}
    for _ in range(MLP_REPEATS):  # interleaved, so slow phases of the machine hit both
        for label, make in makers:
            model = make()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                start = time.perf_counter()
                model.fit(X_tr, y_tr)
                seconds = time.perf_counter() - start
            per_epoch[label].append(seconds / model.n_iter_)
            fitted[label] = model
    rows = []
    for label, _ in makers:
        model = fitted[label]
        times = per_epoch[label]
        rows.append(
            f"| {label} | {model.n_iter_} | {statistics.median(times) * 1e3:.2f} ms | "
            f"{min(times) * 1e3:.2f} ms | {model.score(X_te, y_te):.4f} |"
        )
    ratio = statistics.median(per_epoch["chainrule"]) / statistics.median(per_epoch["scikit-learn"])
    rows.append("")
    rows.append(f"Median time per epoch, chainrule / scikit-learn: {ratio:.2f}.")
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
        f"- **Command:** `python benchmarks/estimators.py` (unset: {', '.join(unset) or 'none'})",
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
        "solutions (`floor objective`: the floor's against scikit-learn's). `NumPy floor` = the "
        "input checks every scikit-learn estimator makes, then the same SciPy L-BFGS-B call on a "
        "hand-optimised NumPy loss and gradient (no autodiff), on one BLAS thread: the least any "
        "scikit-learn-compatible fit built on SciPy's L-BFGS-B spends at this iteration count; "
        "`floor ratio` = that time / scikit-learn's. "
        "Target: at most 0.5 against scikit-learn as users run it.",
        "",
        "| data | shape | chainrule | scikit-learn | scikit-learn, 1 thread | NumPy floor | "
        "ratio | ratio vs 1 thread | floor ratio | objective | floor objective |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *logistic_rows(),
        "",
        "## MLPClassifier(hidden_layer_sizes=(256,), random_state=0), digits, 25% held out",
        "",
        f"Each fitted {MLP_REPEATS} times, the two alternating; default thread pools for both.",
        "",
        "| implementation | epochs | time per epoch (median) | (fastest) | held-out accuracy |",
        "|---|---:|---:|---:|---:|",
        *mlp_rows(),
        "",
    ]
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
