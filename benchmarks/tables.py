"""``chainrule train`` with its defaults beside a default scikit-learn pipeline, on the same rows.

For each table, chainrule trains with no option but the data and the target; its held-out rows
(from ``metrics.json``) are then given to scikit-learn's default pipeline (impute, one-hot,
scale, LogisticRegression; or RidgeCV for a regression) fitted on the same training rows. Both
are scored on the same held-out rows: accuracy, or R^2.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tables.py [TABLE.csv:TARGET ...]

With no argument it runs the bundled data sets, scikit-learn's diabetes table and the Palmer
penguins (examples/data/penguins.csv: text features, missing values) for three targets.
Writes benchmarks/RESULTS_tables.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from chainrule.training import load_data, train  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PENGUINS = os.path.join(HERE, "..", "examples", "data", "penguins.csv")


def _sklearn(task: str) -> object:
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    text = make_pipeline(SimpleImputer(strategy="most_frequent"),
                         OneHotEncoder(handle_unknown="ignore"))  # fmt: skip
    pre = ColumnTransformer([("num", numeric, make_column_selector(dtype_include="number")),
                             ("txt", text, make_column_selector(dtype_exclude="number"))])
    return make_pipeline(pre, LogisticRegression() if task == "classification" else RidgeCV())


def compare(source: str, target: str | None) -> dict:
    out = tempfile.mkdtemp()
    start = time.perf_counter()
    r = train(source, target, out=out, progress=False, plots=False)
    seconds = time.perf_counter() - start
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    d = load_data(source, target)
    keep = np.array([v is not None for v in d.target])
    test = np.array(metrics["held_out_rows"])
    train_rows = np.setdiff1d(np.flatnonzero(keep), test)
    frame = d.frame.copy()
    if "dataset" not in r.get("source", {}) and source.endswith(".csv"):
        frame = frame.drop(columns=[c for c in frame.columns if c in _ids(out)])
    y = d.target
    task = r["task"]
    model = _sklearn(task)
    if task == "classification":
        model.fit(frame.iloc[train_rows], y[train_rows].astype(str))
        theirs = float(np.mean(model.predict(frame.iloc[test]) == y[test].astype(str)))
        ours = r["accuracy"]
    else:
        yy = y.astype(float)
        model.fit(frame.iloc[train_rows], yy[train_rows])
        p = model.predict(frame.iloc[test])
        theirs = 1 - ((yy[test] - p) ** 2).sum() / ((yy[test] - yy[test].mean()) ** 2).sum()
        ours = r["r2"]
    return {"table": os.path.basename(source), "target": d.target_name, "task": task,
            "model": r["model"], "chainrule": ours, "sklearn": float(theirs),
            "seconds": seconds, "n_test": len(test)}  # fmt: skip


def _ids(out: str) -> list[str]:
    spec = json.load(open(os.path.join(out, "model.json")))
    return spec["columns"]["id_columns"]


def main(argv: list[str]) -> None:
    jobs = [(a.split(":", 1) + [None])[:2] for a in argv] or [
        ["iris", None], ["wine", None], ["breast_cancer", None], ["digits", None],
        [PENGUINS, "species"], [PENGUINS, "sex"], [PENGUINS, "body_mass_g"],
    ]  # fmt: skip
    if not argv:
        from sklearn.datasets import load_diabetes

        path = os.path.join(tempfile.mkdtemp(), "diabetes.csv")
        load_diabetes(as_frame=True).frame.to_csv(path, index=False)
        jobs.append([path, "target"])
    rows = [compare(s, t) for s, t in jobs]
    lines = ["| table | target | task | chosen model | chainrule | scikit-learn | difference |"
             " train seconds |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        metric = "accuracy" if r["task"] == "classification" else "R2"
        lines.append(f"| {r['table']} | {r['target']} | {r['task']} ({metric}) | {r['model']} | "
                     f"{r['chainrule']:.4f} | {r['sklearn']:.4f} | "
                     f"{r['chainrule'] - r['sklearn']:+.4f} | {r['seconds']:.2f} |")
    text = "\n".join(lines)
    print(text)
    if not argv:
        with open(os.path.join(HERE, "RESULTS_tables.md"), "w") as f:
            f.write("# chainrule train's defaults beside a default scikit-learn pipeline\n\n"
                    "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/tables.py`"
                    " (see its docstring); held-out 25%, the same rows for both.\n\n"
                    + text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
