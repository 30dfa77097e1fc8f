"""The ``chainrule`` command: ``version`` and ``explain`` (the article's example, live)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule import __version__, cli
from chainrule.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIFF = re.compile(r"(agrees|DISAGREES) \(max \|difference\| = ([0-9.e+-]+)\)")


def _differences(text: str) -> list[tuple[str, float]]:
    return [(verdict, float(d)) for verdict, d in DIFF.findall(text)]


def test_explain_logreg_prints_the_article_chain_and_agrees(capsys):
    assert main(["explain"]) == 0
    out = capsys.readouterr().out
    for line in [
        "dL/dp_c = -1/p_c = ",
        "dp_c/dq_i = p_c (delta_ic - p_i) = [",
        "dq/dW = x",
        "dL/dW = (p - onehot(c)) outer x =",
        "dL/dW vs chainrule backward: agrees",
        "dL/dW vs central finite differences: agrees",
        "dL/db vs central finite differences: agrees",
        "all agree",
    ]:
        assert line in out
    diffs = _differences(out)
    assert len(diffs) == 4
    assert all(verdict == "agrees" and d < 1e-10 for verdict, d in diffs)


@pytest.mark.parametrize("seed", [0, 7])
def test_explain_mlp_layer_by_layer_agrees(capsys, seed):
    assert main(["explain", "--model", "mlp", "--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    for line in [
        "dL/dq2 = p - onehot(c)",
        "dL/dW2 = dL/dq2 outer h",
        "dL/dh = W2^T dL/dq2",
        "dh/dz1 = 1 - h^2",
        "dL/dW1 = dL/dz1 outer x",
    ]:
        assert line in out
    diffs = _differences(out)
    assert len(diffs) == 8  # 4 parameters x (backward, finite differences)
    assert all(verdict == "agrees" and d < 1e-10 for verdict, d in diffs)
    assert f"seed {seed}" in out


def test_explain_graph_prints_chainrules_own_walk(capsys):
    assert main(["explain", "--graph"]) == 0
    out = capsys.readouterr().out
    for op in ["negative", "log", "getitem", "softmax", "add", "matmul"]:
        assert f"] {op}: out" in out
    assert "rule: out * (g - sum(g * out))" in out
    assert "gradients reaching the leaves" in out


def test_explain_reports_a_failed_check(capsys, monkeypatch):
    # Finite differences are never exact, so a zero tolerance must be reported as a failure.
    monkeypatch.setattr(cli, "TOLERANCE", 0.0)
    assert main(["explain"]) == 1
    out = capsys.readouterr().out
    assert "DISAGREES" in out and "SOME CHECKS FAILED" in out


def test_python_m_chainrule_explain():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule", "explain"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "all agree" in done.stdout
    assert all(d < 1e-10 for _, d in _differences(done.stdout))


def test_version(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.startswith(f"chainrule {__version__} (Python ")


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "explain" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["explain", "--model", "cnn"], "argument --model: invalid choice: 'cnn'"),
        (["explain", "--seed", "-1"], "argument --seed: must be a non-negative integer, got '-1'"),
        (["explain", "--seed", "x"], "argument --seed: must be a non-negative integer, got 'x'"),
        (["explain", "--bad"], "unrecognized arguments: --bad"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule") and "error: " in err
    assert message in err
