"""``chainrule export MODEL_DIR model.onnx``: the whole model folder, preprocessing included;
ONNX Runtime on the raw columns gives the predictions of ``chainrule predict`` on every row."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from chainrule.cli import main

pytest.importorskip("pandas")
pytest.importorskip("safetensors")
onnx = pytest.importorskip("onnx", reason="the [onnx] extra (onnx) is not installed")
ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra (onnxruntime) is not installed")

from chainrule.onnx.tables import onnx_feed  # noqa: E402
from chainrule.tables import read_table  # noqa: E402
from chainrule.training import load_model  # noqa: E402

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "data", "penguins.csv")


def _table(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _rows(text):
    return list(csv.reader(text.splitlines()))


def _shop(n=150, seed=0, regression=False):
    """Text features with gaps ("NA", ""), a number with gaps, a boolean, and a label."""
    rng = np.random.default_rng(seed)
    town = rng.choice(["north", "south", "east"], n)
    plan = rng.choice(["basic", "pro"], n)
    age = rng.uniform(18, 80, n).round(1)
    member = rng.random(n) < 0.5
    score = (town == "north") * 2.0 + (age - 50) / 10 + member * 1.5 + (plan == "pro")
    score = score + rng.normal(0, 0.3, n)
    label = score.round(3) if regression else np.where(score > 0.8, "buys", "leaves")
    rows = []
    for i in range(n):
        rows.append([
            1000 + i, "NA" if i % 13 == 0 else town[i], "" if i % 11 == 0 else plan[i],
            "" if i % 9 == 0 else str(age[i]), "true" if member[i] else "false", label[i],
        ])  # fmt: skip
    return ["customer_id", "town", "plan", "age", "member", "label"], rows


_NEW_ROWS = [  # unseen category, every kind of gap, padded text, a number written as text
    [1, "west", "pro", "", "true"],
    [2, "", "", "75", "false"],
    [3, " north ", "basic", "33.5", ""],
    [4, "NA", "platinum", "1e2", "true"],
    [5, "south", "pro", "18", "false"],
]


def _export_and_compare(model_dir, data, tmp_path, capsys, proba=True):
    onnx_path = tmp_path / "model.onnx"
    assert main(["export", str(model_dir), str(onnx_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto, full_check=True)
    extra = ["--proba"] if proto.graph.output[0].name == "label" and proba else []
    assert main(["predict", str(model_dir), data, *extra]) == 0
    want = _rows(capsys.readouterr().out)
    assert main(["predict", str(model_dir), data, *extra, "--runtime", "onnxruntime"]) == 0
    got = _rows(capsys.readouterr().out)
    assert got[0] == want[0] and len(got) == len(want) > 1
    col = want[0].index("prediction")
    classification = proto.graph.output[0].name == "label"
    for g, w in zip(got[1:], want[1:]):
        if classification:
            assert g[col] == w[col]  # the same class on every row
            np.testing.assert_allclose(np.float64(g[col + 1:]), np.float64(w[col + 1:]),
                                       atol=2e-5)  # fmt: skip
        else:
            np.testing.assert_allclose(float(g[col]), float(w[col]), rtol=1e-5, atol=1e-5)
    # the file alone, in a fresh ONNX Runtime session, on the raw columns
    model = load_model(model_dir)
    table = read_table(data, text_columns=tuple(model.encoder.categorical_columns))
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, onnx_feed(model.encoder, table.frame))
    if classification:
        np.testing.assert_array_equal(out[0], model.predict(table.frame))
        np.testing.assert_allclose(out[1], model.predict_proba(table.frame), atol=1e-5)
    else:
        np.testing.assert_allclose(out[0], model.predict(table.frame), rtol=1e-5, atol=1e-5)
    return proto


def test_penguins_mlp_every_row(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--data", PENGUINS, "--target", "species", "--model", "mlp",
                 "--epochs", "5", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    proto = _export_and_compare(out, PENGUINS, tmp_path, capsys)
    assert "ai.onnx.ml" in {o.domain for o in proto.opset_import}
    kinds = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert kinds["island"] == onnx.TensorProto.STRING
    assert kinds["bill_length_mm"] == onnx.TensorProto.FLOAT


@pytest.mark.parametrize("model", ["logreg", "mlp"])
def test_text_features_and_missing_values(model, tmp_path, capsys):
    header, rows = _shop()
    data = _table(tmp_path / "shop.csv", header, rows)
    out = tmp_path / "m"
    assert main(["train", "--data", data, "--model", model, "--epochs", "20", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    _export_and_compare(out, data, tmp_path, capsys)
    new = _table(tmp_path / "new.csv", header[:-1], _NEW_ROWS)
    _export_and_compare(out, new, tmp_path, capsys)


def test_regression_model_folder(tmp_path, capsys):
    header, rows = _shop(regression=True)
    data = _table(tmp_path / "shop.csv", header, rows)
    out = tmp_path / "m"
    assert main(["train", "--data", data, "--model", "mlp", "--epochs", "10", "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    proto = _export_and_compare(out, data, tmp_path, capsys)
    assert [o.name for o in proto.graph.output] == ["variable"]
    new = _table(tmp_path / "new.csv", header[:-1], _NEW_ROWS)
    _export_and_compare(out, new, tmp_path, capsys)


def test_export_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nothing"), str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err
    assert "no model directory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


def test_serve_example_predicts_like_chainrule(tmp_path, capsys):
    import runpy

    example = os.path.join(os.path.dirname(PENGUINS), "..", "serve_onnx.py")
    serve = runpy.run_path(example)["serve"]
    out = tmp_path / "m"
    assert main(["train", "--data", PENGUINS, "--target", "species", "--model", "logreg",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    labels = serve(str(out), PENGUINS, str(tmp_path / "model.onnx"))
    assert "rows predicted by ONNX Runtime" in capsys.readouterr().out
    model = load_model(out)
    table = read_table(PENGUINS, text_columns=tuple(model.encoder.categorical_columns))
    np.testing.assert_array_equal(labels, model.predict(table.frame))
