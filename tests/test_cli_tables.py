"""``chainrule train/predict/evaluate`` on tables as people publish them: text features, missing
values, ID columns, other delimiters, regression targets, and the command line's manners."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from chainrule import training
from chainrule.cli import main

pytest.importorskip("pandas")
pytest.importorskip("safetensors")

PENGUINS = os.path.join(os.path.dirname(__file__), "..", "examples", "data", "penguins.csv")


def _table(path, header, rows, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def _read(path_or_text, delimiter=","):
    text = open(path_or_text).read() if os.path.exists(path_or_text) else path_or_text
    return list(csv.reader(text.splitlines(), delimiter=delimiter))


def _people(n=160, seed=0):
    """A synthetic table: an id, a text feature that matters, a number with gaps, a boolean,
    and a class that depends on them."""
    rng = np.random.default_rng(seed)
    town = rng.choice(["north", "south", "east"], n)
    age = rng.uniform(18, 80, n).round(1)
    member = rng.random(n) < 0.5
    score = (town == "north") * 2.0 + (age - 50) / 10 + member * 1.5 + rng.normal(0, 0.3, n)
    label = np.where(score > 0.8, "buys", "leaves")
    rows = []
    for i in range(n):
        a = "" if i % 9 == 0 else str(age[i])
        t = "NA" if i % 13 == 0 else town[i]
        rows.append([1000 + i, t, a, "true" if member[i] else "false", label[i]])
    return ["customer_id", "town", "age", "member", "label"], rows, score


def test_text_missing_id_and_semicolons_end_to_end(tmp_path, capsys):
    header, rows, _ = _people()
    data = _table(tmp_path / "people.csv", header, rows, ";")
    out = tmp_path / "m"
    assert main(["train", "--data", data, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out column 'customer_id': ID-like" in printed
    assert "task: classification (text labels" in printed
    assert "held-out accuracy" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.85 and metrics["task"] == "classification"
    spec = json.loads((out / "model.json").read_text())
    kinds = {c["name"]: c["kind"] for c in spec["columns"]["features"]}
    assert kinds == {"town": "categorical", "age": "numeric", "member": "boolean"}
    assert spec["columns"]["id_columns"] == ["customer_id"]
    assert spec["data"]["delimiter"] == ";"

    # predict: new rows with an unseen town, a missing age, columns shuffled, an extra column
    new = _table(tmp_path / "new.csv", ["note", "member", "age", "town", "customer_id"],
                 [["x", "true", "", "west", 7], ["y", "false", "75", "north", 8]], ";")  # fmt: skip
    assert main(["predict", str(out), new, "--proba"]) == 0
    got = _read(capsys.readouterr().out, ";")
    assert got[0] == ["customer_id", "prediction", "probability_buys", "probability_leaves"]
    assert [r[0] for r in got[1:]] == ["7", "8"]
    for r in got[1:]:
        assert r[1] in {"buys", "leaves"}
        assert float(r[2]) + float(r[3]) == pytest.approx(1, abs=1e-5)
    # --keep copies columns first; a used feature absent is the only failure
    assert main(["predict", str(out), new, "--keep", "note"]) == 0
    assert _read(capsys.readouterr().out, ";")[0] == ["note", "customer_id", "prediction"]
    lacking = _table(tmp_path / "lack.csv", ["town", "member"], [["north", "true"]])
    assert main(["predict", str(out), lacking]) == 2
    assert "lacks the model's feature column(s) 'age'" in capsys.readouterr().err

    # evaluate with no table: the held-out rows of the training file
    assert main(["evaluate", str(out), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("people.csv (held-out part):")
    assert f"accuracy {metrics['accuracy']:.4f} ({metrics['n_test']} samples)" in text
    assert (tmp_path / "confusion_matrix.png").exists()
    # the file changed: refused, not silently re-split
    with open(data, "a") as f:
        f.write("2000;north;40;true;buys\n")
    assert main(["evaluate", str(out)]) == 2
    assert "has changed since the model was trained" in capsys.readouterr().err


def test_regression_with_linear_and_mlp(tmp_path, capsys):
    rng = np.random.default_rng(3)
    n = 300
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    kind = rng.choice(["a", "b"], n)
    y = 3 * x1 - 2 * x2 + (kind == "a") * 1.5 + rng.normal(0, 0.1, n) + 100
    rows = [[f"{a:.5f}", f"{b:.5f}", k, f"{t:.5f}"] for a, b, k, t in zip(x1, x2, kind, y)]
    data = _table(tmp_path / "r.tsv", ["x1", "x2", "kind", "y"], rows, "\t")
    for model in ("linear", "mlp"):
        out = tmp_path / model
        assert main(["train", "--data", data, "--model", model, "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert "task: regression (numbers with" in printed and "held-out R2" in printed
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["task"] == "regression" and metrics["r2"] > (0.99 if model ==
                                                                     "linear" else 0.95)
        assert set(metrics) >= {"r2", "rmse", "mae", "val_loss", "held_out_rows"}
        assert main(["evaluate", str(out), data, "--out", str(tmp_path / "ev")]) == 0
        assert "R2" in capsys.readouterr().out
        assert (tmp_path / "ev" / "predicted_vs_true.png").exists()
    # the linear fit is ridge at its optimum: compare with the closed form on the same rows
    model = training.load_model(tmp_path / "linear")
    metrics = json.loads((tmp_path / "linear" / "metrics.json").read_text())
    test = np.array(metrics["held_out_rows"])
    train = np.setdiff1d(np.arange(n), test)
    d = training.load_data(data, "y")
    X = model.encoder.transform(d.frame)[train]
    t = (y[train] - model.target.mean) / model.target.scale
    Xc, tc = X - X.mean(axis=0), t - t.mean()
    w = np.linalg.solve(Xc.T @ Xc + metrics["ridge_alpha"] * np.eye(X.shape[1]), Xc.T @ tc)
    closed_form = Xc @ w + t.mean()
    # the one-hot pair is collinear with the intercept: compare predictions, not weights
    fitted = model.outputs(d.frame.iloc[train])[:, 0]
    np.testing.assert_allclose(fitted, closed_form, atol=1e-4)
    # predictions written with the input's delimiter, as numbers
    assert main(["predict", str(tmp_path / "linear"), data]) == 0
    got = _read(capsys.readouterr().out, "\t")
    assert got[0] == ["prediction"] and abs(float(got[1][0]) - y[0]) < 1


def test_task_flag_and_wrong_model_for_task(tmp_path, capsys):
    rows = [[i, i % 3] for i in range(60)]
    data = _table(tmp_path / "t.csv", ["x", "y"], rows)
    assert main(["train", "--data", data, "--task", "regression", "--model", "logreg",
                 "--out", str(tmp_path / "m")]) == 2  # fmt: skip
    assert "--model logreg fits classes" in capsys.readouterr().err
    assert main(["train", "--data", data, "--model", "linear", "--out", str(tmp_path / "m")]) == 2
    assert "--model linear is a regression" in capsys.readouterr().err


def test_penguins_both_tasks(tmp_path, capsys):
    out = tmp_path / "species"
    assert main(["train", "--data", PENGUINS, "--target", "species", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["accuracy"] >= 0.95
    out = tmp_path / "mass"
    assert main(["train", "--data", PENGUINS, "--target", "body_mass_g", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out 2 row(s) with no 'body_mass_g' value" in printed
    assert json.loads((out / "metrics.json").read_text())["r2"] >= 0.8


def test_divergence_is_one_line_exit_2_and_keeps_the_old_model(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--data", "iris", "--model", "logreg", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", "--data", "iris", "--model", "mlp", "--lr", "1e6",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err and "smaller --lr" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_progress_lines_off_a_terminal_and_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(training, "_PROGRESS_SECONDS", 0.0)
    assert main(["train", "--data", "iris", "--model", "mlp", "--epochs", "3",
                 "--out", str(tmp_path / "m")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0].startswith("mlp: epoch 1/3, loss ") and "validation accuracy" in lines[0]
    assert len(lines) == 3
    assert main(["train", "--data", "iris", "--model", "mlp", "--epochs", "3", "--quiet",
                 "--out", str(tmp_path / "q")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err == "" and len(captured.out.splitlines()) == 1


def test_a_closed_pipe_ends_quietly(tmp_path):
    out = tmp_path / "m"
    assert main(["train", "--data", "iris", "--model", "logreg", "--out", str(out)]) == 0
    rows = [[5.1, 3.5, 1.4, 0.2]] * 20000
    data = _table(tmp_path / "many.csv", training.DATASETS["iris"][1], rows)
    proc = subprocess.run(
        f"{sys.executable} -m chainrule predict {out} {data} | head -n 2",
        shell=True, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.stdout.splitlines() == ["prediction", "setosa"]
    assert proc.stderr == ""


def test_bad_model_files_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "--data", "iris", "--model", "logreg", "--out", str(out)]) == 0
    capsys.readouterr()
    (out / "model.safetensors").write_bytes(b"\x00" * 40)
    assert main(["evaluate", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not belong to" in err
    spec = json.loads((out / "model.json").read_text())
    import hashlib

    spec["weights_sha256"] = hashlib.sha256(b"\x00" * 40).hexdigest()
    (out / "model.json").write_text(json.dumps(spec))
    assert main(["evaluate", str(out)]) == 2
    assert "damaged or not a safetensors file" in capsys.readouterr().err


def test_train_help_shows_percentages_once(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "75% of the rows" in text and "%%" not in text


def test_ridge_alpha_is_ridgecvs_choice():
    sklearn = pytest.importorskip("sklearn.linear_model")
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n, d = int(rng.integers(15, 200)), int(rng.integers(1, 12))
        X = rng.normal(size=(n, d))
        y = X @ rng.normal(size=d) * rng.uniform(0, 1) + rng.normal(0, rng.uniform(0.1, 3), n)
        expected = sklearn.RidgeCV(alphas=training.RIDGE_ALPHAS).fit(X, y).alpha_
        assert training.ridge_alpha(X, y) == expected


def test_auto_keeps_the_linear_model_unless_the_mlp_is_surely_better(tmp_path, capsys):
    # a linear truth with noise: the MLP cannot be surely better on the validation rows
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(0, 1.0, 120)
    data = _table(tmp_path / "lin.csv", ["a", "b", "c", "y"],
                  [[*(f"{v:.6f}" for v in x), f"{t:.6f}"] for x, t in zip(X, y)])  # fmt: skip
    assert main(["train", "--data", data, "--out", str(tmp_path / "m")]) == 0
    assert "model: linear (validation R2" in capsys.readouterr().out
    # a curved truth: the MLP wins by far more than two standard errors
    X = rng.uniform(-3, 3, size=(600, 2))
    y = np.sin(2 * X[:, 0]) * 3 + X[:, 1] ** 2 + rng.normal(0, 0.1, 600)
    data = _table(tmp_path / "curve.csv", ["a", "b", "y"],
                  [[*(f"{v:.6f}" for v in x), f"{t:.6f}"] for x, t in zip(X, y)])  # fmt: skip
    assert main(["train", "--data", data, "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "model: mlp (validation R2" in out
    assert json.loads((tmp_path / "n" / "metrics.json").read_text())["r2"] > 0.9
