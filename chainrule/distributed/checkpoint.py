"""Checkpoints of a data-parallel run: written once by rank 0, read by every rank.

Rank 0 writes the model, optimiser and scheduler (the same on every rank after each averaged
step) with :func:`chainrule.io.save_checkpoint`, atomically, together with every rank's random
generator state; the other ranks wait at a barrier until the file is complete. Every rank loads
the same file. At the world size that wrote it each rank gets its own generator state back, so
the run continues bit for bit; at another world size every rank takes rank 0's state (the
model and optimiser are exact; the data shards are the new world size's).
"""

from __future__ import annotations

import os
from typing import Any

from .. import io
from .. import random as _random
from . import process_group as pg

__all__ = ["save_checkpoint", "load_checkpoint"]

_KEY = "distributed"


def _unwrap(model: Any) -> Any:
    from .ddp import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int | None = None,
    extra: Any = None,
) -> None:
    """Write a checkpoint from rank 0 (atomically); every rank returns once it is complete.

    Call it on every rank (it gathers the ranks' random states). A
    :class:`DistributedDataParallel` model is saved as its inner module, so the file loads into
    a plain model too.

    Examples
    --------
    >>> import os, tempfile, chainrule as cr, chainrule.distributed as dist
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> dist.save_checkpoint(path, cr.nn.Linear(2, 1), epoch=3)
    >>> dist.load_checkpoint(path, cr.nn.Linear(2, 1))["epoch"]
    3
    """
    states = pg.allgather_json(_random.get_state())
    if pg.is_main():
        record = {_KEY: {"world_size": len(states), "rng": states}, "user": extra}
        io.save_checkpoint(path, _unwrap(model), optimizer, scheduler, epoch=epoch, extra=record)
    pg.barrier()


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` on every rank.

    Returns ``{"epoch": ..., "extra": ..., "world_size": ...}``, ``world_size`` being the
    number of ranks that wrote it. A file written by :func:`chainrule.io.save_checkpoint`
    loads too (``world_size`` 1).

    Examples
    --------
    >>> import os, tempfile, chainrule as cr, chainrule.distributed as dist
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> dist.save_checkpoint(path, cr.nn.Linear(2, 1), extra={"best": 0.5})
    >>> info = dist.load_checkpoint(path, cr.nn.Linear(2, 1)); info["extra"], info["world_size"]
    ({'best': 0.5}, 1)
    """
    info = io.load_checkpoint(path, _unwrap(model), optimizer, scheduler, restore_rng=restore_rng)
    extra = info.get("extra")
    if not (isinstance(extra, dict) and _KEY in extra and "user" in extra):
        return {**info, "world_size": 1}
    saved = extra[_KEY]
    states = saved["rng"]
    if restore_rng:
        me = pg.rank()
        same = saved["world_size"] == pg.world_size()
        _random.set_state(states[me] if same else states[0])
    return {"epoch": info["epoch"], "extra": extra["user"], "world_size": saved["world_size"]}
