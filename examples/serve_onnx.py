"""Serve a chainrule model with ONNX Runtime: train (or take) a model folder, export it with
its preprocessing, and predict the raw rows of a table without chainrule in the loop.

    python examples/serve_onnx.py                      # penguins: train, export, serve
    python examples/serve_onnx.py MODEL_DIR TABLE.csv  # your model folder and table

The exported file takes one input per feature column, shape (batch, 1): float32 with NaN for
a missing number, strings ("" for a missing text) for a text column; it gives ``label`` and
``probabilities`` (classifiers) or ``variable`` (regressions). Needs ``pip install
'chainrule[onnx,cli]'``.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import onnxruntime as ort
import pandas as pd

from chainrule.cli import main as chainrule

HERE = os.path.dirname(os.path.abspath(__file__))
PENGUINS = os.path.join(HERE, "data", "penguins.csv")
BOOLEANS = {"true": 1.0, "t": 1.0, "yes": 1.0, "false": 0.0, "f": 0.0, "no": 0.0}  # as chainrule


def feed(session: ort.InferenceSession, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The raw columns of ``frame`` as the file's inputs (what a web service would build)."""
    inputs = {}
    for i in session.get_inputs():
        col = frame[i.name]
        if i.type == "tensor(string)":
            text = ["" if pd.isna(v) else str(v).strip() for v in col]
            inputs[i.name] = np.array(text, dtype=object).reshape(-1, 1)
        else:
            values = pd.to_numeric(col.map(lambda v: BOOLEANS.get(str(v).strip().lower(), v)))
            inputs[i.name] = values.to_numpy(np.float32, na_value=np.nan).reshape(-1, 1)
    return inputs


def serve(model_dir: str, table: str, onnx_path: str) -> np.ndarray:
    """Export ``model_dir`` to ``onnx_path`` and predict every row of ``table`` with ORT."""
    if chainrule(["export", model_dir, onnx_path]) != 0:
        raise SystemExit(2)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    frame = pd.read_csv(table, dtype=str, keep_default_na=True)  # raw text, as it arrives
    outputs = session.run(None, feed(session, frame))
    names = [o.name for o in session.get_outputs()]
    for row in range(min(5, len(frame))):
        shown = {n: (np.round(v[row].astype(float), 3).tolist() if v.dtype != object else v[row])
                 for n, v in zip(names, outputs)}  # fmt: skip
        print(f"row {row + 1}: {shown}")
    print(f"... {len(frame)} rows predicted by ONNX Runtime {ort.__version__}")
    return outputs[0]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) >= 3:
            model_dir, table = sys.argv[1], sys.argv[2]
        else:
            model_dir, table = os.path.join(tmp, "penguins-model"), PENGUINS
            chainrule(["train", "--data", table, "--target", "species", "--model", "mlp",
                       "--epochs", "20", "--out", model_dir, "--quiet"])  # fmt: skip
        serve(model_dir, table, os.path.join(tmp, "model.onnx"))
