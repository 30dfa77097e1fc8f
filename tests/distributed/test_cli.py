"""``mpiexec -n 2 chainrule train`` and ``chainrule train --workers 2``: one model folder,
written by rank 0, the result printed once, the same model as one process trains."""

import subprocess
import sys

import numpy as np
import pytest

from .mpirun import environment, mpiexec, needs_mpi

ARGS = ["train", "--data", "iris", "--model", "mlp", "--epochs", "4", "--batch-size", "9"]


def _weights(folder):
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def _train(cmd, tmp_path, out):
    return subprocess.run(
        [*cmd, sys.executable, "-m", "chainrule", *ARGS, "--out", str(tmp_path / out)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, env=environment(),
    )  # fmt: skip


@needs_mpi
@pytest.mark.parametrize("how", ["mpiexec", "workers"])
def test_two_ranks_write_one_folder_and_print_once(how, tmp_path):
    pytest.importorskip("safetensors")
    one = _train([], tmp_path, "one")
    assert one.returncode == 0, one.stderr
    if how == "mpiexec":
        two = _train([mpiexec(), "-n", "2"], tmp_path, "two")
    else:
        two = subprocess.run(
            [sys.executable, "-m", "chainrule", *ARGS, "--out", str(tmp_path / "two"),
             "--workers", "2"],
            capture_output=True, text=True, timeout=180, cwd=tmp_path, env=environment(),
        )  # fmt: skip
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("mlp on iris: 4 epochs") == 1
    assert two.stdout.count("wrote ") == 1
    folders = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert folders == ["one", "two"]
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    assert a.keys() == b.keys()
    for k in a:  # float32 weights: the same model up to the order of the sums
        np.testing.assert_allclose(b[k], a[k], rtol=0, atol=1e-6)
    assert any(np.abs(a[k]).max() > 0 for k in a)
    # the held-out line is the same, to the printed digits
    assert (
        one.stdout.splitlines()[-2].split(" in ")[1].split("; ")[1]
        == (two.stdout.splitlines()[-2].split(" in ")[1].split("; ")[1])
    )


def test_workers_strip_and_single_process_flag():
    from chainrule.distributed.launch import strip_workers

    assert strip_workers(["train", "--workers=2", "--quiet"]) == ["train", "--quiet"]
