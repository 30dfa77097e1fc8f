"""The README's example runs and prints what the README says."""

from __future__ import annotations

import pathlib

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_ten_line_example_runs(capsys):
    text = README.read_text()
    code = text.split("## Ten lines", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "[[ 6.  0.]\n [ 0. 12.]]" in out
    w = namespace["w"]
    x = np.array([[1.0, 2.0]], np.float32)
    t = np.tanh(x @ w.numpy())
    expected = x.T @ (1 - t**2)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-6)


def test_readme_networks_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    code = text.split("## Networks", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    import chainrule as cr

    model, X_test, y_test = namespace["model"], namespace["X_test"], namespace["y_test"]
    with cr.no_grad():
        predicted = model(cr.tensor(X_test.astype("float32"))).numpy().argmax(axis=1)
    assert (predicted == y_test).mean() > 0.93
    saved = cr.io.load(tmp_path / "digits.safetensors")
    assert set(saved) == set(model.state_dict())


def test_readme_estimator_example_runs():
    text = README.read_text()
    code = text.split("## Estimators", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    clf = namespace["clf"]
    assert list(clf.classes_) == [0, 1, 2] and clf.coef_.shape == (3, 13)
