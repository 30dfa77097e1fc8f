"""SyncBatchNorm: R ranks of b rows train like one process of R*b rows with BatchNorm."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import SyncBatchNorm
from chainrule.testing import gradcheck, gradgradcheck

from .mpirun import REPORT, check, needs_mpi, reports, run

SCRIPT = (
    REPORT
    + """
import numpy as np
import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import DistributedDataParallel, SyncBatchNorm

R, me = dist.world_size(), dist.rank()
rng = np.random.default_rng(0)
b, steps = 3, 3
X = rng.normal(size=(steps, R * b, 2, 5)) * 3 + 1
y = rng.normal(size=(steps, R * b, 2))

def make(norm):
    cr.random.seed(0)
    return cr.nn.Sequential(cr.nn.Conv1d(2, 4, 3, padding=1, dtype="float64"),
                            norm(4, dtype="float64"), cr.nn.Tanh(), cr.nn.Flatten(),
                            cr.nn.Linear(20, 2, dtype="float64"))

def state(net):
    return np.concatenate([np.asarray(v, dtype=np.float64).ravel()
                           for v in net.state_dict().values()])

net = make(SyncBatchNorm)
model = DistributedDataParallel(net)
opt = cr.optim.SGD(model.parameters(), lr=0.1)
for s in range(steps):
    rows = slice(me * b, (me + 1) * b)
    loss = cr.nn.functional.mse_loss(model(cr.tensor(X[s, rows])), cr.tensor(y[s, rows]))
    opt.zero_grad(); loss.backward(); opt.step()
ref = make(cr.nn.BatchNorm1d)
ref_opt = cr.optim.SGD(ref.parameters(), lr=0.1)
for s in range(steps):
    loss = cr.nn.functional.mse_loss(ref(cr.tensor(X[s])), cr.tensor(y[s]))
    ref_opt.zero_grad(); loss.backward(); ref_opt.step()
net.eval(); ref.eval()
out = net(cr.tensor(X[0])).numpy(); want = ref(cr.tensor(X[0])).numpy()
report({"state": float(np.abs(state(net) - state(ref)).max()),
        "eval": float(np.abs(out - want).max()),
        "moved": float(np.abs(state(ref) - state(make(cr.nn.BatchNorm1d))).max())})
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_sync_batchnorm_on_n_ranks_is_batchnorm_on_the_whole_batch(n, tmp_path):
    check(run(n, SCRIPT, tmp_path))
    for r in reports(tmp_path, n):
        assert r["moved"] > 1e-2  # running statistics and weights did change
        assert r["state"] < 1e-12 and r["eval"] < 1e-12, r


def test_one_process_is_batchnorm_with_gradients():
    x = np.random.default_rng(1).normal(size=(4, 3, 2, 2))

    def f(x):
        return (SyncBatchNorm(3, dtype="float64")(x) ** 3).sum()

    def g(x):
        return (cr.nn.BatchNorm2d(3, dtype="float64")(x) ** 3).sum()

    assert abs(f(cr.tensor(x)).item() - g(cr.tensor(x)).item()) < 1e-12
    assert gradcheck(f, x) and gradgradcheck(f, x)


def test_convert_keeps_parameters_and_buffers():
    net = cr.nn.Sequential(cr.nn.Linear(2, 3), cr.nn.BatchNorm1d(3))
    w, rm = net[1].weight, net[1].running_mean
    SyncBatchNorm.convert_sync_batchnorm(net)
    assert isinstance(net[1], SyncBatchNorm)
    assert net[1].weight is w and net[1].running_mean is rm
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                      "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"]  # fmt: skip
    with pytest.raises(ValueError, match="expected an input of 2 or more dimensions"):
        SyncBatchNorm(3)(cr.ones(3))
