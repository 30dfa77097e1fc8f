"""Data-parallel training over MPI (mpi4py): the process group, DistributedDataParallel,
DistributedSampler, rank-0 checkpoints and differentiable sums over ranks.

Launch a script on 4 processes with ``mpiexec -n 4 python train.py`` (``pip install
"chainrule[mpi]"`` installs mpi4py and MPICH, whose ``mpiexec`` lands beside ``python``). The
same script runs unchanged as one process without ``mpiexec``.

Examples
--------
>>> import chainrule as cr
>>> import chainrule.distributed as dist
>>> dist.init()
>>> model = dist.DistributedDataParallel(cr.nn.Linear(4, 2))
>>> sampler = dist.DistributedSampler(100, shuffle=True, seed=0)
>>> dist.rank(), dist.world_size(), len(sampler)
(0, 1, 100)
"""

from .checkpoint import load_checkpoint, save_checkpoint
from .ddp import DistributedDataParallel
from .functional import all_reduce, replicated, sum_replicated
from .process_group import (
    CollectiveTimeout,
    abort,
    allgather_json,
    allreduce_,
    barrier,
    broadcast_,
    broadcast_buffers,
    broadcast_parameters,
    init,
    is_initialized,
    is_main,
    launched_by_mpiexec,
    rank,
    world_size,
)
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm

__all__ = [
    "init", "is_initialized", "rank", "world_size", "is_main", "barrier", "abort",
    "broadcast_", "broadcast_parameters", "broadcast_buffers", "allreduce_", "allgather_json",
    "CollectiveTimeout", "launched_by_mpiexec",
    "DistributedDataParallel", "DistributedSampler", "SyncBatchNorm",
    "save_checkpoint", "load_checkpoint",
    "all_reduce", "replicated", "sum_replicated",
]  # fmt: skip
