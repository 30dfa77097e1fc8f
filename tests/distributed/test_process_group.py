"""The process group: collectives at 2 and 3 ranks, failure handling, timeouts, one process."""

import re

import numpy as np
import pytest

import chainrule.distributed as dist

from .mpirun import REPORT, check, needs_mpi, reports, run

COLLECTIVES = (
    REPORT
    + """
import json
import numpy as np
import chainrule as cr
import chainrule.distributed as dist

dist.init()
R, me = dist.world_size(), dist.rank()
a = np.array([me + 1.0, 2.0 * me]); n = np.array([me], dtype=np.int64)
dist.allreduce_([a, n], op="sum")
m = np.full(3, float(me), dtype=np.float32); dist.allreduce_(m)  # mean, float32 kept
hi = np.array([me]); dist.allreduce_(hi, op="max")
b = np.full(2, float(me)); dist.broadcast_(b, root=R - 1)
cr.random.seed(100 + me)
net = cr.nn.Linear(3, 2)
dist.broadcast_parameters(net)
dist.barrier(timeout=30)
report(({
    "rank": me, "sum": a.tolist(), "isum": n.tolist(), "mean": m.tolist(), "dtype": str(m.dtype),
    "max": hi.tolist(), "bcast": b.tolist(), "weights": net.weight.numpy().ravel().tolist(),
    "main": dist.is_main(), "gathered": dist.allgather_json({"r": me, "s": "x" * me}),
}))
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_collectives(n, tmp_path):
    check(run(n, COLLECTIVES, tmp_path))
    out = reports(tmp_path, n)
    assert sorted(o["rank"] for o in out) == list(range(n))
    for o in out:
        assert o["sum"] == [n * (n + 1) / 2, 2.0 * n * (n - 1) / 2]
        assert o["isum"] == [n * (n - 1) // 2]
        assert o["mean"] == [(n - 1) / 2] * 3 and o["dtype"] == "float32"
        assert o["max"] == [n - 1]
        assert o["bcast"] == [n - 1.0] * 2
        assert o["main"] == (o["rank"] == 0)
        assert o["gathered"] == [{"r": r, "s": "x" * r} for r in range(n)]
    assert all(o["weights"] == out[0]["weights"] for o in out)


RAISES = """
import time
import numpy as np
import chainrule as cr
import chainrule.distributed as dist

dist.init()
me = dist.rank()
model = dist.DistributedDataParallel(cr.nn.Linear(4, 1))
for step in range(1000):
    if me == 1 and step == 3:
        raise RuntimeError("disk full on rank one")
    model(cr.ones(2, 4)).sum().backward()
    dist.barrier()
print("never reached", flush=True)
"""


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_a_rank_raising_mid_epoch_ends_every_rank(n, tmp_path):
    # The other ranks are blocked in an allreduce or a barrier: the subprocess timeout (which
    # would fail the test) is what "within seconds" means here.
    result = run(n, RAISES, tmp_path, timeout=30)
    assert result.returncode != 0
    assert "never reached" not in result.stdout
    assert f"[rank 1/{n}] RuntimeError: disk full on rank one" in result.stderr
    assert f"[rank 1/{n}] aborting the whole job" in result.stderr


LATE = """
import time
import chainrule.distributed as dist

dist.init(timeout=1.0)
if dist.rank() == 1:
    time.sleep(60)
dist.barrier()
print("never reached", flush=True)
"""


@needs_mpi
def test_a_timeout_names_the_rank_that_did_not_arrive(tmp_path):
    result = run(3, LATE, tmp_path, timeout=40)
    assert result.returncode != 0
    assert "never reached" not in result.stdout
    # Rank 0 or rank 2, whichever gives up first, names rank 1 and aborts the job.
    assert re.search(
        r"CollectiveTimeout: distributed.barrier: timed out after 1 s on rank [02] of 3: "
        r"rank\(s\) \[1\] did not arrive",
        result.stderr,
    ), result.stderr


# ---------------------------------------------------------------------- one process
def test_one_process_is_a_group_of_one():
    dist.init()
    assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
    a = np.array([1.0, 2.0])
    assert dist.allreduce_(a, op="sum")[0] is a and a.tolist() == [1.0, 2.0]
    dist.barrier(timeout=1)
    assert dist.allgather_json([1, "a"]) == [[1, "a"]]


def test_bad_arguments_name_the_operation():
    with pytest.raises(ValueError, match=r"distributed.allreduce_: op must be one of"):
        dist.allreduce_(np.ones(2), op="prod")
    with pytest.raises(TypeError, match=r"op='mean' of item 0 \(shape \(2,\), dtype int64\)"):
        dist.allreduce_(np.ones(2, dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"item 0 \(shape \(2,\), dtype float64\) must be a C-contiguous"
    ):
        dist.allreduce_(np.ones((2, 2))[:, 0])
    with pytest.raises(TypeError, match="expected NumPy arrays or Tensors"):
        dist.allreduce_([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"root must be a rank in \[0, 1\)"):
        dist.broadcast_(np.ones(1), root=1)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        dist.barrier(timeout=0)


def test_abort_in_one_process_exits_with_the_code(capsys):
    with pytest.raises(SystemExit) as info:
        dist.abort("bad input", code=4)
    assert info.value.code == 4
    assert "bad input" in capsys.readouterr().err


LEAVES = """
import sys
import numpy as np
import chainrule.distributed as dist

dist.init(timeout=2)
if dist.rank() == 1:
    sys.exit(0)  # not an exception: no abort from this rank
dist.allreduce_(np.ones(3))
print("never reached", flush=True)
"""


@needs_mpi
def test_a_rank_that_exits_early_is_named_by_the_timeout(tmp_path):
    result = run(2, LEAVES, tmp_path, timeout=40)
    assert result.returncode != 0
    assert "never reached" not in result.stdout
    assert "distributed.allreduce_: timed out after 2 s on rank 0 of 2: rank(s) [1] did not" in (
        result.stderr
    )
