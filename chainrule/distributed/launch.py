"""What ``chainrule train`` needs to run on several ranks: starting ``mpiexec`` for
``--workers N``, quieting every rank but 0, and the loss of one rank's share of a batch.

``mpiexec -n 4 chainrule train ...`` runs four copies of the command. Each reads the table
(the table reader has no partial reads), encodes it and splits it exactly as one process does,
then takes every 4th row of each mini-batch; DistributedDataParallel averages the gradients, so
the model is the one-process model up to rounding. Rank 0 alone prints and writes the model
folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ..tensor import as_tensor
from . import process_group as pg

__all__ = ["find_mpiexec", "run_workers", "join_job", "shard_loss"]


def find_mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the MPICH wheel's), else the first on ``PATH``.

    Examples
    --------
    >>> path = find_mpiexec()
    >>> path is None or path.endswith("mpiexec")
    True
    """
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def run_workers(n: int, argv: list[str]) -> int:
    """Run ``python -m chainrule <argv>`` on ``n`` ranks through ``mpiexec``; its exit status.

    Raises
    ------
    ImportError
        If mpi4py or ``mpiexec`` is missing (``pip install "chainrule[mpi]"``).

    Examples
    --------
    >>> run_workers(1, ["version"])  # doctest: +SKIP
    0
    """
    try:
        import mpi4py  # noqa: F401 - the ranks need it; say so before starting them
    except ImportError:
        raise ImportError(
            "--workers needs mpi4py and an MPI launcher: pip install 'chainrule[mpi]'"
        ) from None
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise ImportError(
            "--workers: no mpiexec beside python or on PATH; pip install 'chainrule[mpi]'"
        )
    cmd = [mpiexec, "-n", str(int(n)), sys.executable, "-m", "chainrule", *argv]
    return subprocess.call(cmd, env=dict(os.environ))


def strip_workers(argv: list[str]) -> list[str]:
    """``argv`` without its ``--workers N`` / ``--workers=N``.

    Examples
    --------
    >>> strip_workers(["train", "--workers", "2", "--data", "iris", "--workers=3"])
    ['train', '--data', 'iris']
    """
    out: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--workers":
            skip = True
        elif not a.startswith("--workers="):
            out.append(a)
    return out


def join_job() -> bool:
    """Join the MPI job when ``mpiexec`` started this process among several; True on rank 0.

    On the other ranks standard output goes to ``os.devnull``: rank 0 alone prints.

    Examples
    --------
    >>> join_job()  # not started by mpiexec
    True
    """
    if pg.launched_by_mpiexec() <= 1:
        return True
    pg.init()
    if pg.is_main():
        return True
    sys.stdout.flush()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process
    return False


def shard_loss(net: Any, loss_fn: Any, X: Any, y: Any, idx: np.ndarray) -> tuple[Any, float, int]:
    """This rank's part of the mean loss of the mini-batch ``idx``, scaled for averaging.

    Rank ``r`` of ``R`` takes rows ``idx[r::R]``. Its mean loss is multiplied by
    ``R * len(mine) / len(idx)``, so the mean over the ranks of the gradients (what
    DistributedDataParallel computes) is the gradient of the batch's mean loss, whatever the
    split. A rank left without rows (a batch smaller than R) returns a zero loss that still
    reaches every parameter, so that every rank takes part in every allreduce.

    Returns
    -------
    (loss, sum of the row losses, number of rows) of this rank.

    Examples
    --------
    >>> import chainrule as cr
    >>> net = cr.nn.Linear(2, 1)
    >>> X, y = np.ones((4, 2), np.float32), np.zeros((4, 1), np.float32)
    >>> loss, total, rows = shard_loss(net, cr.nn.functional.mse_loss, X, y, np.arange(4))
    >>> rows
    4
    """
    size, me = pg.world_size(), pg.rank()
    mine = idx[me::size]
    if len(mine) == 0:
        zero = sum((p * 0.0).sum() for p in net.parameters())
        return zero, 0.0, 0
    loss = loss_fn(net(as_tensor(X[mine])), y[mine])
    value = float(loss.item())
    if size > 1:
        loss = loss * (size * len(mine) / len(idx))
    return loss, value * len(mine), len(mine)
