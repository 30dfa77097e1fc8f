"""``chainrule train / predict / evaluate / datasets``: end to end in a temporary folder."""

from __future__ import annotations

import csv
import json
import sys
import types

import numpy as np
import pytest

import chainrule as cr
from chainrule import training
from chainrule.cli import main
from chainrule.data import load_digits, make_moons


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _read_predictions(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"]
    return [r[0] for r in rows[1:]]


def _confusion(out):
    """The matrix printed by evaluate: the rows after the header line of class names."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith("wrote") or line.startswith("matplotlib"):
            break
        rows.append([int(v) for v in line.split()[1:]])
    return np.array(rows)


def _one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("chainrule"), err
    assert "error: " in err
    return err


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "model"
    argv = ["train", "--model", "mlp", "--epochs", "3", "--hidden", "32", "--out", str(out)]
    assert main(argv) == 0
    return out


def _digits_held_out(tmp_path, model_dir):
    """The held-out rows of the digits model as a CSV file (rows from its metrics.json)."""
    X, y = load_digits()
    rows_te = json.loads((model_dir / "metrics.json").read_text())["held_out_rows"]
    X_te, y_te = X[rows_te], y[rows_te]
    names = [f"pixel_{i}" for i in range(64)]
    rows = [[*map(repr, x.tolist()), int(t)] for x, t in zip(X_te, y_te)]
    return _write_csv(tmp_path / "held_out.csv", [*names, "target"], rows), y_te


def test_train_writes_the_model_folder(digits_model, capsys):
    files = {p.name for p in digits_model.iterdir()}
    assert {"model.safetensors", "model.json", "metrics.json", "loss_curve.png"} <= files
    spec = json.loads((digits_model / "model.json").read_text())
    arch = spec["architecture"]
    assert arch["model"] == "mlp" and arch["layer_sizes"] == [64, 32, 10]
    assert spec["target"] == {"name": "target", "task": "classification",
                              "classes": [str(d) for d in range(10)]}  # fmt: skip
    cols = spec["columns"]["features"]
    assert [c["name"] for c in cols[:2]] == ["pixel_0", "pixel_1"] and len(cols) == 64
    assert all(c["kind"] == "numeric" and c["scale"] > 0 for c in cols)
    assert spec["data"]["dataset"] == "digits" and spec["format_version"] == 2
    raw = (digits_model / "model.safetensors").read_bytes()
    assert spec["weights_sha256"] == __import__("hashlib").sha256(raw).hexdigest()
    weights = cr.io.load(digits_model / "model.safetensors")
    assert weights["0.weight"].shape == (32, 64) and weights["2.weight"].shape == (10, 32)
    metrics = json.loads((digits_model / "metrics.json").read_text())
    assert len(metrics["train_loss"]) == len(metrics["val_loss"]) == 3
    assert 1 <= metrics["epochs"] <= 3  # the best epoch count, retrained on all training rows
    assert metrics["train_loss"][-1] < metrics["train_loss"][0]
    assert metrics["n_test"] == 450 and 0.8 < metrics["accuracy"] <= 1 and metrics["loss"] > 0
    assert metrics["task"] == "classification" and len(metrics["held_out_rows"]) == 450


def test_predict_recomputes_the_held_out_accuracy(digits_model, tmp_path, capsys):
    path, y_te = _digits_held_out(tmp_path, digits_model)
    out = tmp_path / "pred.csv"
    assert main(["predict", str(digits_model), path, "-o", str(out)]) == 0
    predicted = _read_predictions(out)
    assert len(predicted) == len(y_te) == 450
    metrics = json.loads((digits_model / "metrics.json").read_text())
    assert np.mean(np.array(predicted) == y_te.astype(str)) == pytest.approx(metrics["accuracy"])
    # to stdout, same predictions
    capsys.readouterr()
    assert main(["predict", str(digits_model), path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "prediction" and lines[1:] == predicted


def test_evaluate_prints_accuracy_report_and_confusion_matrix(
    digits_model, tmp_path, capsys, monkeypatch
):
    path, y_te = _digits_held_out(tmp_path, digits_model)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(digits_model), path]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((digits_model / "metrics.json").read_text())
    assert f"accuracy {metrics['accuracy']:.4f} (450 samples)" in out
    assert "precision  recall  support" in out
    cm = _confusion(out)
    assert cm.shape == (10, 10) and cm.sum() == 450
    assert cm.sum(axis=1).tolist() == np.bincount(y_te).tolist()  # the support per class
    assert np.trace(cm) / 450 == pytest.approx(metrics["accuracy"])
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0  # --out: the current folder
    assert not (digits_model / "confusion_matrix.png").exists()


def test_csv_round_trip_with_text_labels(tmp_path, capsys):
    X, y = make_moons(200, noise=0.1, random_state=1)
    names = np.array(["left", "right"])
    rows = [[repr(float(a)), repr(float(b)), names[t]] for (a, b), t in zip(X, y)]
    data = _write_csv(tmp_path / "moons.csv", ["u", "v", "label"], rows)
    out = tmp_path / "m"
    args = ["train", "--data", data, "--target", "label", "--hidden", "16", "--epochs", "40",
            "--lr", "0.01", "--model", "mlp", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    spec = json.loads((out / "model.json").read_text())
    assert spec["target"]["classes"] == ["left", "right"]
    assert [c["name"] for c in spec["columns"]["features"]] == ["u", "v"]
    assert spec["target"]["name"] == "label"
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.9
    # columns in another order, the label present: matched by name, label ignored
    swapped = _write_csv(tmp_path / "new.csv", ["label", "v", "u"],
                         [[r[2], r[1], r[0]] for r in rows])  # fmt: skip
    pred = tmp_path / "p.csv"
    assert main(["predict", str(out), swapped, "-o", str(pred)]) == 0
    predicted = np.array(_read_predictions(pred))
    assert set(predicted) <= {"left", "right"} and len(predicted) == 200
    assert np.mean(predicted == names[y]) > 0.9
    capsys.readouterr()
    assert main(["evaluate", str(out), swapped, "--target", "label", "--out", str(tmp_path)]) == 0
    assert _confusion(capsys.readouterr().out).sum() == 200


def test_logreg_is_one_linear_layer(tmp_path, capsys):
    out = tmp_path / "lr"
    assert main(["train", "--data", "iris", "--model", "logreg", "--out", str(out)]) == 0
    assert set(cr.io.load(out / "model.safetensors")) == {"0.weight", "0.bias"}
    assert json.loads((out / "model.json").read_text())["architecture"]["layer_sizes"] == [4, 3]
    assert "held-out accuracy" in capsys.readouterr().out
    # fitted to the optimum of scikit-learn's objective: the penalised gradient vanishes
    model = training.load_model(out)
    X = training.load_data("iris")
    assert model.kind == "logreg" and X.frame.shape == (150, 4)
    assert json.loads((out / "metrics.json").read_text())["accuracy"] >= 0.9


def test_cnn_on_digits(tmp_path, capsys):
    out = tmp_path / "cnn"
    assert main(["train", "--model", "cnn", "--epochs", "2", "--hidden", "32",
                 "--out", str(out)]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    model = training.load_model(out)
    assert model.kind == "cnn"
    d = training.load_data("digits")
    assert np.mean(model.predict(d.frame[:200]) == d.target[:200]) > 0.8


def test_without_matplotlib_or_tqdm_training_still_works(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "_matplotlib", lambda: False)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    out = tmp_path / "plain"
    assert main(["train", "--data", "wine", "--model", "logreg", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "matplotlib is not installed" in text
    assert not (out / "loss_curve.png").exists() and (out / "model.safetensors").exists()


def test_tqdm_bar_is_disabled_off_a_terminal(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=calls.append))
    training.train("iris", model="mlp", epochs=1, out=tmp_path / "m", plots=False)
    assert calls == []  # pytest's stderr is not a terminal: no bar


def test_datasets_lists_shapes_and_classes(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "digits          1797 x 64  10 classes" in out
    assert (
        "iris             150 x 4    3 classes (setosa: 50, versicolor: 50, virginica: 50)" in out
    )
    assert {line.split()[0] for line in out.splitlines()} == set(training.DATASETS)


def test_default_train_reaches_95_percent(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 0
    metrics = json.loads((tmp_path / "chainrule-model" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.98 and metrics["model"] == "mlp"
    assert f"held-out accuracy {metrics['accuracy']:.4f}" in capsys.readouterr().out


@pytest.fixture
def files(tmp_path, digits_model):
    good = _write_csv(tmp_path / "good.csv", ["a", "b", "label"], [[1, 2, "x"], [3, 4, "y"]] * 4)
    malformed = tmp_path / "bad.csv"
    malformed.write_text("a,b,label\n1,2,x\n3,4,y,5\n")
    unlabelled = _write_csv(tmp_path / "px.csv", [f"pixel_{i}" for i in range(64)], [[0] * 64])
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.json").write_text("{not json")
    (corrupt / "model.safetensors").write_bytes(b"junk")
    return {"good": good, "bad": str(malformed), "corrupt": str(corrupt),
            "model": str(digits_model), "dir": tmp_path, "px": unlabelled}  # fmt: skip


BAD = {
    "missing file": (["train", "--data", "{dir}/nope.csv"], "no such file"),
    "bad target column": (["train", "--data", "{good}", "--target", "nope"], "no column 'nope'"),
    "malformed csv": (["train", "--data", "{bad}"], "Expected 3 fields in line 3"),
    "unknown option": (["train", "--bogus"], "unrecognized arguments: --bogus"),
    "unknown model": (["train", "--model", "forest"], "invalid choice: 'forest'"),
    "cnn on iris": (["train", "--model", "cnn", "--data", "iris"], "8x8 digits only"),
    "bad hidden": (["train", "--hidden", "12,x"], "positive layer sizes"),
    "bad epochs": (["train", "--epochs", "0"], "positive number"),
    "missing model dir": (["predict", "{dir}/none", "{good}"], "no model directory"),
    "corrupt model dir": (["evaluate", "{corrupt}", "{good}"], "model.json is not valid JSON"),
    "missing predict input": (["predict", "{model}", "{dir}/nope.csv"], "no such file"),
    "input lacks features": (["predict", "{model}", "{good}"], "lacks the model's feature"),
    "evaluate without labels": (["evaluate", "{model}", "{px}"], "no label column 'target'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, files, capsys):
    argv, message = BAD[case]
    argv = [a.format(**files) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = _one_line_error(capsys)
    assert message in err


def test_help_everywhere(capsys):
    for cmd in ["train", "predict", "evaluate", "datasets"]:
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0
        assert f"usage: chainrule {cmd}" in capsys.readouterr().out


@pytest.mark.parametrize(("table", "model"), [("iris", "mlp"), ("digits", "cnn")])
def test_the_compiled_step_trains_the_same_model_as_the_eager_one(
    tmp_path, monkeypatch, table, model
):
    from chainrule.compile import Compiled

    replays = []
    real = Compiled.__call__

    def counted(self, *args, **kwargs):
        replays.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Compiled, "__call__", counted)
    runs = {}
    for flag in (False, True):
        monkeypatch.setattr(training, "COMPILE_STEP", flag)
        out = tmp_path / str(flag)
        r = training.train(table, model=model, hidden=(8,), epochs=3, out=out, progress=False,
                           plots=False)  # fmt: skip
        runs[flag] = (r["train_loss"], r["val_loss"], (out / "model.safetensors").read_bytes())
        assert bool(replays) == flag  # the compiled run did go through cr.compile
    assert runs[True] == runs[False]  # bit for bit: the replay runs the same NumPy calls
