"""The process group: which rank this process is, how many there are, and the collectives.

chainrule runs on MPI through mpi4py (``pip install "chainrule[mpi]"`` brings mpi4py and the
MPICH wheel, whose ``mpiexec`` lands beside ``python``). A process started without ``mpiexec``
is a group of one: :func:`rank` is 0, :func:`world_size` is 1, every collective returns its input
and mpi4py is never imported, so the same script runs unchanged on a laptop.

Failure. After :func:`init`, an uncaught exception on any rank prints its traceback (prefixed with
the rank) and calls ``MPI_Abort`` on the world, which ends every rank of the job with a non-zero
exit instead of leaving the others blocked in a collective. A ``timeout`` (seconds) makes every
collective of this module, and DistributedDataParallel's gradient allreduces, wait at most that
long; a rank that does not arrive in time is named in a :class:`CollectiveTimeout`, which (being
uncaught) aborts the job the same way. A rank that leaves without an exception (``sys.exit``)
while the others wait in a collective is caught only this way: without a timeout they wait, as
in PyTorch.

How a timed collective names the missing rank: before starting it, each rank sends a one-integer
"arrived" message to every other rank on a private duplicate communicator (one tag: MPI keeps
messages between a pair in order, so the k-th receive matches the k-th collective). While the
collective is pending, the receives that have not completed are the ranks that did not arrive.
This costs ``2 (world_size - 1)`` tiny messages per collective, only when a timeout is set.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..autodiff import next_seq
from ..tensor import Tensor

__all__ = [
    "init",
    "is_initialized",
    "rank",
    "world_size",
    "is_main",
    "barrier",
    "broadcast_",
    "broadcast_parameters",
    "broadcast_buffers",
    "allreduce_",
    "abort",
    "CollectiveTimeout",
    "launched_by_mpiexec",
    "allgather_json",
]

#: Environment variables through which an MPI launcher tells a process the job's size.
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

_OPS = ("sum", "mean", "max", "min")


class CollectiveTimeout(TimeoutError):
    """A collective waited longer than its timeout; the message names the missing ranks."""


class _Group:
    """The state of this process's group (one per process)."""

    def __init__(self) -> None:
        self.initialized = False
        self.MPI: Any = None  # the mpi4py.MPI module, None in a group of one
        self.comm: Any = None  # collectives
        self.arrivals: Any = None  # "arrived" messages of timed collectives
        self.rank = 0
        self.size = 1
        self.timeout: float | None = None
        self.previous_excepthook: Any = None


_group = _Group()


def launched_by_mpiexec() -> int:
    """The number of ranks an MPI launcher started this process among (0 if none did).

    Examples
    --------
    >>> launched_by_mpiexec() >= 0
    True
    """
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def _check_timeout(timeout: Any, op: str) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(
            f"{op}: timeout must be a positive number of seconds or None, got {timeout!r}"
        )
    return float(timeout)


def init(timeout: float | None = None, abort_on_exception: bool = True) -> None:
    """Join the job's process group (idempotent; a group of one without ``mpiexec``).

    Parameters
    ----------
    timeout : float, optional
        Default time limit, in seconds, of every collective (None: wait as long as it takes).
        Calling ``init`` again with a timeout changes it; without one, keeps it.
    abort_on_exception : bool, default True
        In a job of more than one rank, make an uncaught exception on this rank abort the
        whole job (every rank exits non-zero) after printing its traceback.

    Raises
    ------
    ImportError
        If ``mpiexec`` started several ranks but mpi4py is not installed.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.init(); dist.rank(), dist.world_size(), dist.is_main()
    (0, 1, True)
    """
    g = _group
    checked = _check_timeout(timeout, "distributed.init")
    if g.initialized:
        if timeout is not None:  # a later init() without a timeout keeps the one set
            g.timeout = checked
        return
    g.timeout = checked
    launched = launched_by_mpiexec()
    if launched:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            if launched > 1:
                raise ImportError(
                    f"distributed.init: this process is one of {launched} ranks started by an "
                    f"MPI launcher, but mpi4py is not installed; pip install 'chainrule[mpi]'"
                ) from exc
            MPI = None
        if MPI is not None:
            g.MPI = MPI
            g.comm = MPI.COMM_WORLD.Dup()
            g.arrivals = MPI.COMM_WORLD.Dup()
            g.rank = g.comm.Get_rank()
            g.size = g.comm.Get_size()
    g.initialized = True
    if g.size > 1 and abort_on_exception:
        g.previous_excepthook = sys.excepthook
        sys.excepthook = _abort_on_exception


def is_initialized() -> bool:
    """Whether :func:`init` has run in this process.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.init(); dist.is_initialized()
    True
    """
    return _group.initialized


def _ensure() -> _Group:
    if not _group.initialized:
        init()
    return _group


def rank() -> int:
    """This process's rank, 0 to ``world_size() - 1`` (0 without ``mpiexec``).

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.rank()
    0
    """
    return _ensure().rank


def world_size() -> int:
    """The number of ranks in the job (1 without ``mpiexec``).

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.world_size()
    1
    """
    return _ensure().size


def is_main() -> bool:
    """Whether this is rank 0, the rank that prints and writes files.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.is_main()
    True
    """
    return _ensure().rank == 0


#: Seconds between flushing a message and MPI_Abort: the launcher forwards a rank's output
#: through a pipe, and an abort that follows the write at once can cut it off.
_FORWARD_GRACE = 0.2


def abort(message: str, code: int = 1) -> None:
    """Print ``message`` (prefixed with the rank) and end every rank of the job with ``code``.

    In a group of one this is ``sys.exit(code)`` after printing.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> try:
    ...     dist.abort("stopping", code=3)
    ... except SystemExit as exc:
    ...     print(exc.code)
    3
    """
    g = _ensure()
    prefix = f"[rank {g.rank}/{g.size}] " if g.size > 1 else ""
    sys.stderr.write(f"{prefix}{message}\n")
    sys.stderr.flush()
    if g.size > 1:
        sys.stdout.flush()
        time.sleep(_FORWARD_GRACE)
        g.MPI.COMM_WORLD.Abort(code)
    raise SystemExit(code)


def _abort_on_exception(exc_type: Any, exc: BaseException, tb: Any) -> None:
    g = _group
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    lines = "".join(f"[rank {g.rank}/{g.size}] {line}\n" for line in text.rstrip().split("\n"))
    sys.stderr.write(lines)
    sys.stderr.write(f"[rank {g.rank}/{g.size}] aborting the whole job (MPI_Abort)\n")
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(_FORWARD_GRACE)
    g.MPI.COMM_WORLD.Abort(1)


# ---------------------------------------------------------------------- waiting with a timeout
class _Arrival:
    """The "arrived" messages of one timed collective (see the module docstring)."""

    __slots__ = ("sends", "recvs", "peers", "buffers")

    def __init__(self, g: _Group) -> None:
        me = np.array([g.rank], dtype=np.int64)
        self.peers = [r for r in range(g.size) if r != g.rank]
        self.buffers = [np.empty(1, dtype=np.int64) for _ in self.peers]
        self.sends = [g.arrivals.Isend(me, dest=r, tag=0) for r in self.peers]
        self.recvs = [
            g.arrivals.Irecv(b, source=r, tag=0) for r, b in zip(self.peers, self.buffers)
        ]

    def missing(self) -> list[int]:
        return [r for r, req in zip(self.peers, self.recvs) if not req.Test()]

    def finish(self, MPI: Any) -> None:
        MPI.Request.Waitall(self.sends + self.recvs)


def _start_arrival(g: _Group, timeout: float | None) -> _Arrival | None:
    return _Arrival(g) if timeout is not None and g.size > 1 else None


def _wait(
    g: _Group, requests: Sequence[Any], op: str, timeout: float | None, arrival: _Arrival | None
) -> None:
    """Complete ``requests``; with a timeout, poll and name the ranks that never arrived."""
    MPI = g.MPI
    if timeout is None:
        MPI.Request.Waitall(list(requests))
        return
    deadline = time.monotonic() + timeout
    pause = 1e-5
    requests = list(requests)
    while not MPI.Request.Testall(requests):
        if time.monotonic() > deadline:
            missing = arrival.missing() if arrival is not None else []
            who = (
                f"rank(s) {missing} did not arrive"
                if missing
                else "every rank arrived, but the collective did not complete"
            )
            raise CollectiveTimeout(
                f"{op}: timed out after {timeout:g} s on rank {g.rank} of {g.size}: {who}"
            )
        time.sleep(pause)
        pause = min(pause * 2, 1e-3)
    if arrival is not None:
        arrival.finish(MPI)


def _timeout_of(g: _Group, timeout: Any, op: str) -> float | None:
    return g.timeout if timeout is None else _check_timeout(timeout, op)


# ---------------------------------------------------------------------- collectives
def barrier(timeout: float | None = None) -> None:
    """Wait until every rank has called ``barrier``.

    Parameters
    ----------
    timeout : float, optional
        Seconds to wait (default: the one given to :func:`init`); past it a
        :class:`CollectiveTimeout` names the ranks that did not arrive.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.barrier()
    """
    g = _ensure()
    timeout = _timeout_of(g, timeout, "distributed.barrier")
    if g.size == 1:
        return
    if timeout is None:
        g.comm.Barrier()
        return
    arrival = _start_arrival(g, timeout)
    _wait(g, [g.comm.Ibarrier()], "distributed.barrier", timeout, arrival)


def _arrays_of(values: Any, op: str) -> list[np.ndarray]:
    if isinstance(values, (Tensor, np.ndarray)):
        values = [values]
    out = []
    for i, v in enumerate(values):
        a = v._data if isinstance(v, Tensor) else v
        if not isinstance(a, np.ndarray):
            raise TypeError(
                f"{op}: item {i} is a {type(v).__name__}; expected NumPy arrays or Tensors on "
                f"NumPy (MPI reads host memory)"
            )
        if not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(
                f"{op}: item {i} (shape {a.shape}, dtype {a.dtype}) must be a C-contiguous, "
                f"writeable array: the result is written into it"
            )
        out.append(a)
    return out


def _groups_by_dtype(arrays: list[np.ndarray]) -> dict[np.dtype, list[np.ndarray]]:
    groups: dict[np.dtype, list[np.ndarray]] = {}
    for a in arrays:
        groups.setdefault(a.dtype, []).append(a)
    return groups


def allreduce_(
    arrays: Iterable[Any] | Any, op: str = "mean", timeout: float | None = None
) -> list[np.ndarray]:
    """Reduce ``arrays`` over all ranks, in place: every rank ends with the same result.

    Parameters
    ----------
    arrays : array, Tensor, or iterable of them
        C-contiguous NumPy arrays (or Tensors on NumPy); each rank passes the same shapes and
        dtypes in the same order. Arrays of one dtype travel in one flat message.
    op : {"mean", "sum", "max", "min"}
        ``"mean"`` is the sum divided by :func:`world_size` (an integer array must use another
        op).
    timeout : float, optional
        Seconds to wait (default: the one given to :func:`init`).

    Returns
    -------
    list of ndarray
        The arrays, now holding the result.

    Examples
    --------
    >>> import numpy as np, chainrule.distributed as dist
    >>> a = np.array([1.0, 2.0])
    >>> dist.allreduce_([a], op="sum")[0].tolist()
    [1.0, 2.0]
    """
    name = "distributed.allreduce_"
    if op not in _OPS:
        raise ValueError(f"{name}: op must be one of {list(_OPS)}, got {op!r}")
    out = _arrays_of(arrays, name)
    if op == "mean":
        for i, a in enumerate(out):
            if not np.issubdtype(a.dtype, np.inexact):
                raise TypeError(
                    f"{name}: op='mean' of item {i} (shape {a.shape}, dtype {a.dtype}) needs a "
                    f"floating array; use op='sum'"
                )
    g = _ensure()
    timeout = _timeout_of(g, timeout, name)
    if g.size == 1:
        return out
    MPI = g.MPI
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    for group in _groups_by_dtype(out).values():
        flat = (
            group[0].reshape(-1)
            if len(group) == 1
            else np.concatenate([a.reshape(-1) for a in group])
        )
        arrival = _start_arrival(g, timeout)
        if timeout is None:
            g.comm.Allreduce(MPI.IN_PLACE, flat, op=mpi_op)
        else:
            _wait(g, [g.comm.Iallreduce(MPI.IN_PLACE, flat, op=mpi_op)], name, timeout, arrival)
        if op == "mean":
            flat /= g.size
        if len(group) > 1:
            start = 0
            for a in group:
                a.reshape(-1)[...] = flat[start : start + a.size]
                start += a.size
    return out


def broadcast_(
    arrays: Iterable[Any] | Any, root: int = 0, timeout: float | None = None
) -> list[np.ndarray]:
    """Overwrite ``arrays`` on every rank with rank ``root``'s values, in place.

    Examples
    --------
    >>> import numpy as np, chainrule.distributed as dist
    >>> dist.broadcast_(np.arange(3.0))[0].tolist()
    [0.0, 1.0, 2.0]
    """
    name = "distributed.broadcast_"
    out = _arrays_of(arrays, name)
    g = _ensure()
    if isinstance(root, bool) or not isinstance(root, (int, np.integer)) or not 0 <= root < g.size:
        raise ValueError(f"{name}: root must be a rank in [0, {g.size}), got {root!r}")
    timeout = _timeout_of(g, timeout, name)
    if g.size == 1:
        return out
    for group in _groups_by_dtype(out).values():
        flat = (
            group[0].reshape(-1)
            if len(group) == 1
            else np.concatenate([a.reshape(-1) for a in group])
        )
        arrival = _start_arrival(g, timeout)
        if timeout is None:
            g.comm.Bcast(flat, root=root)
        else:
            _wait(g, [g.comm.Ibcast(flat, root=root)], name, timeout, arrival)
        if len(group) > 1:
            start = 0
            for a in group:
                a.reshape(-1)[...] = flat[start : start + a.size]
                start += a.size
    return out


def broadcast_parameters(module: Any, root: int = 0, timeout: float | None = None) -> None:
    """Give every rank rank ``root``'s parameters and buffers (in place).

    Every rank must hold a module of the same structure. Parameters are written in place and
    stamped as modified, so a graph recorded before refuses to backward through old values.

    Examples
    --------
    >>> import chainrule as cr, chainrule.distributed as dist
    >>> model = cr.nn.Linear(2, 1)
    >>> dist.broadcast_parameters(model)
    """
    params = [p for p in module.parameters()]
    arrays = [p._data for p in params] + [b for b in module.buffers() if isinstance(b, np.ndarray)]
    if _ensure().size == 1 or not arrays:
        return
    broadcast_(arrays, root=root, timeout=timeout)
    seq = next_seq()
    for p in params:
        p._version = seq


def broadcast_buffers(module: Any, root: int = 0, timeout: float | None = None) -> None:
    """Give every rank rank ``root``'s buffers (BatchNorm's running statistics), in place.

    Examples
    --------
    >>> import chainrule as cr, chainrule.distributed as dist
    >>> dist.broadcast_buffers(cr.nn.BatchNorm1d(3))
    """
    arrays = [b for b in module.buffers() if isinstance(b, np.ndarray) and b.size]
    if _ensure().size == 1 or not arrays:
        return
    broadcast_(arrays, root=root, timeout=timeout)


def allgather_json(value: Any, timeout: float | None = None) -> list[Any]:
    """Every rank's ``value`` (anything :mod:`json` writes), in rank order, on every rank.

    Values travel as JSON text, never pickles: a rank can only send data, not code.

    Examples
    --------
    >>> import chainrule.distributed as dist
    >>> dist.allgather_json({"rows": 10})
    [{'rows': 10}]
    """
    import json

    name = "distributed.allgather_json"
    text = json.dumps(value).encode()
    g = _ensure()
    timeout = _timeout_of(g, timeout, name)
    if g.size == 1:
        return [json.loads(text)]
    sizes = np.zeros(g.size, dtype=np.int64)
    mine = np.array([len(text)], dtype=np.int64)
    arrival = _start_arrival(g, timeout)
    _wait(g, [g.comm.Iallgather(mine, sizes)], name, timeout, arrival)
    buffer = np.empty(int(sizes.sum()), dtype=np.uint8)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    send = np.frombuffer(text, dtype=np.uint8)
    arrival = _start_arrival(g, timeout)
    request = g.comm.Iallgatherv(send, [buffer, (sizes, offsets), g.MPI.BYTE])
    _wait(g, [request], name, timeout, arrival)
    raw = buffer.tobytes()
    return [json.loads(raw[o : o + s]) for o, s in zip(offsets.tolist(), sizes.tolist())]
