"""DistributedDataParallel: N ranks with batch b equal 1 process with batch N*b.

Each multi-rank test is one ``mpiexec`` subprocess; rank 0 also trains the single-process
reference in the same script and compares.
"""

import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import DistributedDataParallel

from .mpirun import REPORT, check, needs_mpi, reports, run

COMMON = """
import json, sys
import numpy as np
import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import DistributedDataParallel

dist.init(timeout=60)
R, me = dist.world_size(), dist.rank()

def make_model(seed):
    cr.random.seed(seed)
    return cr.nn.Sequential(
        cr.nn.Linear(5, 16, dtype="float64"), cr.nn.Tanh(),
        cr.nn.Linear(16, 8, dtype="float64"), cr.nn.ReLU(),
        cr.nn.Linear(8, 3, dtype="float64"),
    )

def params(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])

def all_equal_across_ranks(values):
    gathered = dist.allgather_json(values.tolist())
    return all(np.array_equal(gathered[0], v) for v in gathered)

rng = np.random.default_rng(0)
b, steps = 4, 3
X = rng.normal(size=(steps, R * b, 5))
y = rng.integers(0, 3, size=(steps, R * b))
"""


DDP_SCRIPT = (
    COMMON
    + """
results = {}
configs = [
    ("SGD", 25.0, True), ("SGD", 0.0, True), ("SGD", 25.0, False),
    ("Adam", 25.0, True), ("Adam", 0.0, False), ("Adam", 0.001, True),
]
for opt_name, cap, overlap in configs:
    model = DistributedDataParallel(make_model(seed=1 + me), bucket_cap_mb=cap, overlap=overlap)
    opt = getattr(cr.optim, opt_name)(model.parameters(), lr=0.05)
    for s in range(steps):
        rows = slice(me * b, (me + 1) * b)
        loss = cr.nn.functional.cross_entropy(model(cr.tensor(X[s, rows])), cr.tensor(y[s, rows]))
        opt.zero_grad(); loss.backward(); opt.step()
    mine = params(model.module)
    same = all_equal_across_ranks(mine)
    if me == 0:
        ref = make_model(seed=1)
        ref_opt = getattr(cr.optim, opt_name)(ref.parameters(), lr=0.05)
        for s in range(steps):
            loss = cr.nn.functional.cross_entropy(ref(cr.tensor(X[s])), cr.tensor(y[s]))
            ref_opt.zero_grad(); loss.backward(); ref_opt.step()
        results[f"{opt_name}/{cap}/{overlap}"] = {
            "err": float(np.abs(mine - params(ref)).max()),
            "moved": float(np.abs(params(ref) - params(make_model(seed=1))).max()),
            "same": same, "buckets": len(model._buckets), "early": model._launched_early,
        }
if me == 0:
    print(json.dumps(results))
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_n_ranks_equal_one_process_with_n_times_the_batch(n, tmp_path):
    results = json.loads(check(run(n, DDP_SCRIPT, tmp_path)).strip().splitlines()[-1])
    assert len(results) == 6
    for key, r in results.items():
        assert r["err"] < 1e-6, (key, r)
        assert r["moved"] > 1e-3, (key, r)  # the comparison is not of two untrained models
        assert r["same"], key  # bit for bit the same parameters on every rank
    assert results["SGD/0.0/True"]["buckets"] == 6  # one bucket per parameter
    assert results["SGD/25.0/True"]["buckets"] == 1
    assert results["Adam/0.001/True"]["buckets"] > 1
    # With overlap, every bucket but the first layer's starts inside the backward walk.
    assert results["SGD/0.0/True"]["early"] >= 5
    assert results["Adam/0.001/True"]["early"] >= 1
    assert results["SGD/25.0/False"]["early"] == 0


NO_SYNC_SCRIPT = (
    COMMON
    + """
model = DistributedDataParallel(make_model(seed=5 + me))
micro = 3
Xm = rng.normal(size=(micro, R * b, 5)); ym = rng.integers(0, 3, size=(micro, R * b))
rows = slice(me * b, (me + 1) * b)
def micro_loss(net, m, rows):
    return cr.nn.functional.cross_entropy(net(cr.tensor(Xm[m, rows])), cr.tensor(ym[m, rows]))
with model.no_sync():
    for m in range(micro - 1):
        micro_loss(model, m, rows).backward()
local = np.concatenate([p.grad.numpy().ravel() for p in model.module.parameters()])
local_differs = not all_equal_across_ranks(local)
micro_loss(model, micro - 1, rows).backward()
synced = np.concatenate([p.grad.numpy().ravel() for p in model.module.parameters()])
same = all_equal_across_ranks(synced)
if me == 0:
    ref = make_model(seed=5)
    for r in range(R):
        for m in range(micro):
            (micro_loss(ref, m, slice(r * b, (r + 1) * b)) / R).backward()
    want = np.concatenate([p.grad.numpy().ravel() for p in ref.parameters()])
    print(json.dumps({"err": float(np.abs(synced - want).max()), "same": same,
                      "local_differs": local_differs, "norm": float(np.abs(want).max())}))
try:
    DistributedDataParallel(model.module)
    raise SystemExit("wrapped twice")
except RuntimeError as exc:
    assert "already belongs to another DistributedDataParallel" in str(exc)
model.remove_hooks()
again = DistributedDataParallel(model.module)  # allowed once the old hooks are gone
"""
)


@needs_mpi
def test_no_sync_accumulates_locally_then_averages_the_sum(tmp_path):
    r = json.loads(check(run(2, NO_SYNC_SCRIPT, tmp_path)).strip().splitlines()[-1])
    assert r["local_differs"] and r["same"]
    assert r["norm"] > 1e-3
    assert r["err"] < 1e-12


BUFFER_SCRIPT = (
    REPORT
    + COMMON
    + """
cr.random.seed(0)
net = cr.nn.Sequential(cr.nn.Linear(5, 4, dtype="float64"), cr.nn.BatchNorm1d(4, dtype="float64"))
model = DistributedDataParallel(net)
rows = slice(me * b, (me + 1) * b)
model(cr.tensor(X[0, rows]))  # each rank updates its running stats from its own rows
local = np.concatenate([net[1].running_mean, net[1].running_var])
model(cr.tensor(X[1, rows]))  # the forward starts by taking rank 0's buffers
gathered = dist.allgather_json(local.tolist())
differ = not np.array_equal(gathered[0], gathered[1])
after = np.concatenate([net[1].running_mean, net[1].running_var])
# rank 0's buffers after its second batch, recomputed from its first-batch state
bn = cr.nn.BatchNorm1d(4, dtype="float64")
bn.running_mean[...] = gathered[0][:4]; bn.running_var[...] = gathered[0][4:]
bn.weight, bn.bias = net[1].weight, net[1].bias
h = net[0](cr.tensor(X[1, rows]))
bn(h)
want = np.concatenate([bn.running_mean, bn.running_var])
report({"differ": differ, "ok": bool(np.allclose(after, want, rtol=0, atol=1e-15))})
"""
)


@needs_mpi
def test_buffers_come_from_rank_0_at_each_forward(tmp_path):
    check(run(2, BUFFER_SCRIPT, tmp_path))
    assert reports(tmp_path, 2) == [{"differ": True, "ok": True}] * 2


# ---------------------------------------------------------------------- one process
def test_single_process_ddp_is_the_model_itself():
    cr.random.seed(0)
    net = cr.nn.Linear(3, 2, dtype="float64")
    ddp = DistributedDataParallel(net)
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    ddp(x).sum().backward()
    np.testing.assert_array_equal(net.weight.grad.numpy(), np.tile([3.0, 5.0, 7.0], (2, 1)))
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]


def test_init_without_a_timeout_keeps_the_one_set():
    import chainrule.distributed as dist
    from chainrule.distributed import process_group

    try:
        dist.init(timeout=5)
        dist.init()
        assert process_group._group.timeout == 5.0
    finally:
        process_group._group.timeout = None


def test_ddp_refuses_what_it_cannot_reduce():
    with pytest.raises(
        TypeError, match="DistributedDataParallel: module must be a chainrule Module"
    ):
        DistributedDataParallel(lambda x: x)
    with pytest.raises(ValueError, match="bucket_cap_mb must be a number >= 0"):
        DistributedDataParallel(cr.nn.Linear(1, 1), bucket_cap_mb=-1)
