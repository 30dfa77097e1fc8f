"""DistributedSampler: disjoint shards, every row once per epoch, equal lengths, set_epoch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import chainrule as cr
from chainrule.distributed import DistributedSampler

from .mpirun import REPORT, check, needs_mpi, reports, run


@given(
    n=st.integers(0, 60), ranks=st.integers(1, 7), shuffle=st.booleans(), epoch=st.integers(0, 3)
)
def test_shards_cover_every_row_and_have_equal_lengths(n, ranks, shuffle, epoch):
    shards = []
    for r in range(ranks):
        s = DistributedSampler(n, num_replicas=ranks, rank=r, shuffle=shuffle, seed=7)
        s.set_epoch(epoch)
        shards.append(list(s))
        assert len(shards[-1]) == len(s) == -(-n // ranks)
    flat = sorted(i for shard in shards for i in shard)
    assert set(flat) == set(range(n))
    # padding repeats only as many rows as needed to make the length a multiple
    assert len(flat) - n == (-n) % ranks if n else flat == []
    if n % ranks == 0:
        assert flat == list(range(n))  # exactly once


@given(n=st.integers(1, 60), ranks=st.integers(1, 7))
def test_drop_last_gives_disjoint_equal_shards(n, ranks):
    if n < ranks:
        with pytest.raises(ValueError, match="leave nothing"):
            DistributedSampler(n, num_replicas=ranks, rank=0, drop_last=True)
        return
    shards = [list(DistributedSampler(n, ranks, r, drop_last=True)) for r in range(ranks)]
    flat = [i for shard in shards for i in shard]
    assert len(flat) == len(set(flat)) == (n // ranks) * ranks
    assert {len(s) for s in shards} == {n // ranks}


def test_set_epoch_reshuffles_the_same_way_on_every_rank():
    a = [DistributedSampler(20, 2, r, seed=3) for r in range(2)]
    first = [list(s) for s in a]
    for s in a:
        s.set_epoch(1)
    second = [list(s) for s in a]
    assert first != second
    assert sorted(first[0] + first[1]) == sorted(second[0] + second[1]) == list(range(20))
    again = DistributedSampler(20, 2, 1, seed=3)
    again.set_epoch(1)
    assert list(again) == second[1]


def test_dataloader_takes_a_sampler():
    ds = cr.data.TensorDataset(np.arange(10.0))
    loader = cr.data.DataLoader(
        ds, batch_size=2, sampler=DistributedSampler(ds, 2, 1, shuffle=False)
    )
    assert len(loader) == 3
    assert [b[0].tolist() for b in loader] == [[1.0, 3.0], [5.0, 7.0], [9.0]]
    with pytest.raises(ValueError, match="a sampler chooses the order"):
        cr.data.DataLoader(ds, sampler=DistributedSampler(ds, 2, 0), shuffle=True)
    with pytest.raises(TypeError, match="sampler must be iterable and have a length"):
        cr.data.DataLoader(ds, sampler=3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="rank 2 is not below num_replicas=2"):
        DistributedSampler(5, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DistributedSampler(5, 1, 0, seed=-1)
    with pytest.raises(TypeError, match="dataset must have a length"):
        DistributedSampler(object())
    with pytest.raises(ValueError, match="set_epoch: expected an int >= 0"):
        DistributedSampler(5, 1, 0).set_epoch(-1)


EPOCHS = (
    REPORT
    + """
import json
import numpy as np
import chainrule as cr
import chainrule.distributed as dist

ds = cr.data.TensorDataset(np.arange(30))
sampler = dist.DistributedSampler(ds, seed=1)
loader = cr.data.DataLoader(ds, batch_size=4, sampler=sampler)
seen = []
for epoch in range(2):
    sampler.set_epoch(epoch)
    seen.append([int(i) for (batch,) in loader for i in batch.tolist()])
report({"rank": dist.rank(), "steps": len(loader), "seen": seen})
"""
)


@needs_mpi
def test_every_row_exactly_once_per_epoch_across_3_ranks(tmp_path):
    check(run(3, EPOCHS, tmp_path))
    out = reports(tmp_path, 3)
    assert len({o["steps"] for o in out}) == 1  # the same number of steps on every rank
    for epoch in range(2):
        rows = sorted(i for o in out for i in o["seen"][epoch])
        assert rows == list(range(30))
    assert out[0]["seen"][0] != out[0]["seen"][1]
