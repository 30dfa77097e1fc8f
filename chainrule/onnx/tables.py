"""A model folder written by ``chainrule train`` as one ONNX file, preprocessing included.

The file takes the raw feature columns that ``chainrule predict`` reads, one input per column
(as skl2onnx does), each of shape ``(batch, 1)``:

* numeric and boolean columns: float32, NaN for a missing cell (booleans as 0/1);
* text columns: strings, the cell's text stripped of surrounding spaces, ``""`` for a missing
  cell.

Inside, the fitted :class:`~chainrule.tables.TableEncoder` becomes nodes: the training median
where a number is missing (``IsNaN``/``Where``), the missing-indicator column, standardisation
with the training mean and scale, and one-hot encoding through ``ai.onnx.ml.LabelEncoder``
(text to category index; an unseen category is -1 and encodes as all zeros, a missing cell is
the ``(missing)`` category when training had one). Then the network, then the head: for a
classifier ``label`` (the class name, a string) and ``probabilities`` (batch, n_classes); for a
regression ``variable`` (batch,), in the target's units.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .graph import Builder, onnx_dtype, require_onnx

__all__ = ["export_model_dir", "onnx_feed", "OnnxRuntimeModel"]

_MISSING_CATEGORY = "(missing)"  # TableEncoder's category of missing text cells
ML_DOMAIN = "ai.onnx.ml"


def _input_name(column: str, taken: set[str]) -> str:
    """The column's name as an ONNX input name (they must be unique; any text is allowed)."""
    name = column
    k = 1
    while name in taken:
        k += 1
        name = f"{column}_{k}"
    taken.add(name)
    return name


def input_names(encoder: Any) -> list[str]:
    """One ONNX input name per feature column, in the encoder's order."""
    taken: set[str] = set()
    return [_input_name(c.name, taken) for c in encoder.columns]


def _encode_column(b: Builder, c: Any, x: str) -> str:
    """The encoder's columns for one feature, float32 (batch, width)."""
    f32 = np.float32
    if c.kind == "categorical":
        keys = list(c.categories)
        values = list(range(len(keys)))
        if _MISSING_CATEGORY in keys:  # a missing cell arrives as "" and is that category
            keys.append("")
            values.append(keys.index(_MISSING_CATEGORY))
        idx = b.node("LabelEncoder", [x], domain=ML_DOMAIN, keys_strings=keys,
                     values_int64s=values, default_int64=-1)  # fmt: skip
        hot = b.node("Equal", [idx, b.const(np.arange(len(c.categories), dtype=np.int64)[None])])
        return b.node("Cast", [hot], to=onnx_dtype(f32))
    miss = b.node("IsNaN", [x])
    v = b.node("Where", [miss, b.const(np.asarray(c.median, f32)), x])
    if c.kind == "numeric":
        v = b.node("Sub", [v, b.const(np.asarray(c.mean, f32))])
        v = b.node("Div", [v, b.const(np.asarray(c.scale, f32))])
    if not c.indicator:
        return v
    return b.node("Concat", [v, b.node("Cast", [miss], to=onnx_dtype(f32))], axis=1)


def export_model_dir(
    model_dir: str | os.PathLike[str],
    path: str | os.PathLike[str] | None = None,
    *,
    opset: int = 17,
) -> Any:
    """Write the model folder ``model_dir`` (from ``chainrule train``) as one ONNX model.

    Parameters
    ----------
    model_dir : str or PathLike
        A folder written by ``chainrule train``.
    path : str or PathLike, optional
        Where to write the ``.onnx`` file.
    opset : int
        The ONNX operator set (17 or later); ``ai.onnx.ml`` opset 3.

    Returns
    -------
    onnx.ModelProto
        The checked model; see the module docstring for its inputs and outputs.

    Examples
    --------
    >>> export_model_dir("/nonexistent/model")
    Traceback (most recent call last):
    FileNotFoundError: no model directory /nonexistent/model
    """
    from ..training import load_model

    return export_trained(load_model(model_dir), path, opset=opset)


def export_trained(model: Any, path: Any = None, *, opset: int = 17) -> Any:
    """:func:`export_model_dir` for a loaded :class:`~chainrule.training.TrainedModel`."""
    require_onnx()
    from . import _value_info, make_model, save
    from .estimators import classifier_head
    from .table import onnx_table
    from .trace import trace_into

    enc = model.encoder
    b = Builder(opset)
    names = input_names(enc)
    ins = []
    parts = []
    for c, name in zip(enc.columns, names, strict=True):
        dtype = object if c.kind == "categorical" else np.float32
        ins.append(_value_info(name, np.dtype(dtype) if dtype is object else dtype, ["batch", 1]))
        parts.append(_encode_column(b, c, name))
    features = parts[0] if len(parts) == 1 else b.node("Concat", parts, axis=1)
    width = len(enc.output_names)
    example = np.random.default_rng(0).standard_normal((3, width)).astype(np.float32)
    net_in = features
    if model.kind == "cnn":
        net_in = b.node("Reshape", [features, b.ints([-1, 1, 8, 8])])
        example = example.reshape(-1, 1, 8, 8)
    outs, _, _ = trace_into(b, model.net, [example], [net_in], table=onnx_table, prefix="net.")
    logits = outs[0]
    if model.task == "classification":
        label, proba = classifier_head(b, logits, np.asarray(model.classes), single_logit=False)
        b.node("Identity", [label], outputs=["label"])
        b.node("Identity", [proba], outputs=["probabilities"])
        outs_info = [
            _value_info("label", np.dtype(object), ["batch"]),
            _value_info("probabilities", np.float32, ["batch", len(model.classes)]),
        ]
    else:
        t = model.target
        z = b.node("Squeeze", [logits, b.ints([1])])
        z = b.node("Mul", [z, b.const(np.asarray(t.scale, np.float32))])
        b.node("Add", [z, b.const(np.asarray(t.mean, np.float32))], outputs=["variable"])
        outs_info = [_value_info("variable", np.float32, ["batch"])]
    proto = make_model(b, ins, outs_info, domains={ML_DOMAIN: 3},
                       doc=f"chainrule model folder {os.fspath(model.path)}")  # fmt: skip
    if path is not None:
        save(proto, path)
    return proto


def onnx_feed(encoder: Any, frame: Any, source: str = "the table") -> dict[str, np.ndarray]:
    """The inputs of an exported model folder for the rows of a DataFrame: each feature column
    as ``chainrule predict`` reads it (numbers parsed, text stripped, missing as NaN or "").

    Examples
    --------
    >>> import pandas as pd
    >>> from chainrule.tables import TableEncoder
    >>> df = pd.DataFrame({"age": [30.0, None], "town": ["a", None]})
    >>> feed = onnx_feed(TableEncoder.fit(df, np.arange(2)), df)
    >>> feed["age"].ravel().tolist(), feed["town"].ravel().tolist()
    ([30.0, nan], ['a', ''])
    """
    from ..tables import as_text
    from ..tables.columns import TableEncoder

    present = {str(c) for c in frame.columns}
    missing = [c.name for c in encoder.columns if c.name not in present]
    if missing:
        raise ValueError(f"{source} lacks the model's feature column(s) {missing[:5]}")
    feed = {}
    for c, name in zip(encoder.columns, input_names(encoder), strict=True):
        col = frame[c.name]
        if c.kind == "categorical":
            text = as_text(col.to_numpy(dtype=object))
            feed[name] = np.array(["" if v is None else v for v in text], dtype=object)[:, None]
        else:
            values = TableEncoder._column_numbers(c, col, source)
            feed[name] = values.astype(np.float32)[:, None]
    return feed


class OnnxRuntimeModel:
    """A model folder exported to ONNX and run by ONNX Runtime, with the
    :class:`~chainrule.training.TrainedModel` interface that ``chainrule predict`` uses
    (``predict``, ``predict_proba``, ``task``, ``classes``).
    """

    def __init__(self, model: Any) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ImportError(
                "--runtime onnxruntime needs ONNX Runtime: pip install 'chainrule[onnx]'"
            ) from exc
        self.model = model
        proto = export_trained(model)
        self.session = ort.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )

    @property
    def task(self) -> str:
        return self.model.task

    @property
    def classes(self) -> list[str] | None:
        return self.model.classes

    def _run(self, frame: Any, source: str) -> list[np.ndarray]:
        return self.session.run(None, onnx_feed(self.model.encoder, frame, source))

    def predict(self, frame: Any, source: str = "the table") -> np.ndarray:
        """Class names (strings) or predicted values, as ``TrainedModel.predict``."""
        out = self._run(frame, source)
        if self.task == "classification":
            return np.asarray(out[0], dtype=object)
        return out[0].astype(np.float64)

    def predict_proba(self, frame: Any, source: str = "the table") -> np.ndarray:
        """Class probabilities, one column per class (classification only)."""
        if self.task != "classification":
            raise ValueError("--proba needs a classifier; this model is a regression")
        return self._run(frame, source)[1].astype(np.float64)
