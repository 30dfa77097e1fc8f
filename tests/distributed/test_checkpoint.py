"""Checkpoints: written by rank 0 alone, loaded by every rank; resume at the same world size
bit for bit, and at another world size from exactly the saved state."""

import os

import numpy as np

import chainrule as cr
import chainrule.distributed as dist

from .mpirun import REPORT, check, needs_mpi, reports, run

TRAIN = (
    REPORT
    + """
import os, sys
import numpy as np
import chainrule as cr
import chainrule.distributed as dist
from chainrule import io

phase = sys.argv[1]
dist.init(timeout=60)
me, R = dist.rank(), dist.world_size()
writes = []
real_save = io.save_checkpoint
io.save_checkpoint = lambda *a, **k: (writes.append(a[0]), real_save(*a, **k))

cr.random.seed(0)
net = cr.nn.Sequential(cr.nn.Linear(4, 8, dtype="float64"), cr.nn.Dropout(0.3),
                       cr.nn.Tanh(), cr.nn.Linear(8, 2, dtype="float64"))
model = dist.DistributedDataParallel(net)
opt = cr.optim.Adam(model.parameters(), lr=0.01)
cr.random.seed(1000 + me)  # dropout masks differ between ranks
rng = np.random.default_rng(0)
X, y = rng.normal(size=(36, 4)), rng.integers(0, 2, size=36)
sampler = dist.DistributedSampler(36, seed=5)
loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=3, sampler=sampler)

def params():
    return np.concatenate([p.numpy().ravel() for p in net.parameters()]).tolist()

start, out = 0, {}
if phase != "first":
    info = dist.load_checkpoint("ckpt.safetensors", model, opt)
    start = info["epoch"] + 1
    out["loaded"] = params()
    out["saved_by"] = info["world_size"]
    out["extra"] = info["extra"]
for epoch in range(start, 4):
    sampler.set_epoch(epoch)
    for xb, yb in loader:
        loss = cr.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad(); loss.backward(); opt.step()
    if phase == "first" and epoch == 1:
        dist.save_checkpoint("ckpt.safetensors", model, opt, epoch=epoch, extra={"note": "e1"})
        out["at_save"] = params()
out["final"] = params()
out["writes"] = len(writes)
out["same"] = all(v == out["final"] for v in dist.allgather_json(out["final"]))
report(out)
"""
)


@needs_mpi
def test_rank_0_writes_and_resume_at_2_and_at_3_ranks(tmp_path):
    check(run(2, TRAIN, tmp_path, "first"))
    first = reports(tmp_path, 2)
    assert [r["writes"] for r in first] == [1, 0]
    assert sorted(os.listdir(tmp_path)) == ["ckpt.safetensors", "rank0.json", "rank1.json",
                                            "script_2.py"]  # fmt: skip
    assert first[0]["same"] and first[1]["same"]
    assert first[0]["final"] != first[0]["at_save"]

    check(run(2, TRAIN, tmp_path, "resume"))
    again = reports(tmp_path, 2)
    for r in again:
        assert r["loaded"] == first[0]["at_save"]
        assert r["saved_by"] == 2 and r["extra"] == {"note": "e1"}
        assert r["final"] == first[0]["final"]  # bit for bit
        assert r["writes"] == 0

    check(run(3, TRAIN, tmp_path, "resume"))
    three = reports(tmp_path, 3)
    for r in three:
        assert r["loaded"] == first[0]["at_save"]
        assert r["same"] and r["saved_by"] == 2
        assert np.isfinite(r["final"]).all() and r["final"] != r["loaded"]


def test_one_process_checkpoint_round_trip(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.random.seed(3)
    a = cr.nn.Linear(2, 2, dtype="float64")
    model = dist.DistributedDataParallel(a)
    state = cr.random.get_state()
    dist.save_checkpoint(path, model, epoch=4)
    cr.random.seed(99)
    b = cr.nn.Linear(2, 2, dtype="float64")
    info = dist.load_checkpoint(path, b)
    assert info == {"epoch": 4, "extra": None, "world_size": 1}
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    assert cr.random.get_state() == state
    # a plain io checkpoint loads too
    cr.io.save_checkpoint(path, a, epoch=2)
    assert dist.load_checkpoint(path, b)["world_size"] == 1
