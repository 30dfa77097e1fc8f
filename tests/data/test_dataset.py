"""Dataset, TensorDataset, DataLoader: batching, shuffling reproducibility, collation, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data import DataLoader, Dataset, TensorDataset
from chainrule.data.dataset import collate


def epoch_order(loader: DataLoader, column: int = 1) -> list[int]:
    """Run one epoch and return the sample indices in the order they came (column holds ids)."""
    return [int(v) for batch in loader for v in batch[column].numpy()]


class Pairs(Dataset):
    """A generic dataset holding the same samples as TensorDataset(X, ids)."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = X
        self.calls = 0

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        self.calls += 1
        return self.X[i], np.int64(i)


X10 = np.arange(30, dtype=np.float32).reshape(10, 3)
IDS10 = np.arange(10)


# ------------------------------------------------------------------------ Dataset / TensorDataset
def test_dataset_base_class_is_abstract():
    with pytest.raises(NotImplementedError, match="Dataset does not define __getitem__"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="does not define __len__"):
        len(Dataset())


def test_tensor_dataset_items_and_len():
    ds = TensorDataset(cr.tensor(X10), IDS10)
    assert len(ds) == 10
    x, i = ds[4]
    assert isinstance(x, cr.Tensor) and isinstance(i, cr.Tensor)
    assert x.tolist() == [12.0, 13.0, 14.0] and i.item() == 4
    assert x.dtype == np.float32 and not x.requires_grad
    assert ds.tensors[0].shape == (10, 3)


def test_tensor_dataset_rejects_mismatched_first_dimension():
    with pytest.raises(ValueError, match=r"same first dimension.*\(10, 3\), \(9,\)"):
        TensorDataset(X10, np.arange(9))
    with pytest.raises(ValueError, match="tensor 1 is 0-d"):
        TensorDataset(X10, np.float64(1.0))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()


# ------------------------------------------------------------------------ DataLoader basics
def test_batches_in_order_without_shuffle():
    loader = DataLoader(TensorDataset(X10, IDS10), batch_size=4)
    batches = list(loader)
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(isinstance(x, cr.Tensor) and x.dtype == np.float32 for x, _ in batches)
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in batches]), X10)
    assert len(loader) == 3


def test_drop_last_and_len():
    ds = TensorDataset(X10, IDS10)
    loader = DataLoader(ds, batch_size=4, drop_last=True)
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(loader) == 2
    assert len(DataLoader(ds, batch_size=10, drop_last=True)) == 1
    assert len(DataLoader(ds, batch_size=11, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=11, drop_last=True)) == []
    assert len(DataLoader(ds, batch_size=11)) == 1


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    batch_size=st.integers(1, 12),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_every_sample_once_per_epoch(n, batch_size, drop_last, shuffle):
    loader = DataLoader(
        TensorDataset(np.arange(n)),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=3,
    )
    batches = [b[0].numpy() for b in loader]
    assert len(batches) == len(loader)
    sizes = [len(b) for b in batches]
    assert all(s == batch_size for s in sizes[:-1])
    if drop_last:
        assert sizes == [batch_size] * (n // batch_size)
    else:
        assert sum(sizes) == n
        seen = np.concatenate(batches)
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))


# ------------------------------------------------------------------------ shuffling
def test_seeded_shuffle_follows_epoch_streams():
    n, seed = 10, 123
    loader = DataLoader(TensorDataset(X10, IDS10), batch_size=3, shuffle=True, seed=seed)
    for epoch in range(3):
        expected = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch,)))
        assert epoch_order(loader) == expected.permutation(n).tolist()
    assert loader.epoch == 3


def test_seeded_shuffle_is_reproducible_and_changes_each_epoch():
    ds = TensorDataset(X10, IDS10)
    a = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    b = DataLoader(ds, batch_size=4, shuffle=True, seed=7)
    first_a, second_a = epoch_order(a), epoch_order(a)
    assert first_a == epoch_order(b) and second_a == epoch_order(b)
    assert first_a != second_a
    assert sorted(first_a) == list(range(10))
    assert epoch_order(DataLoader(ds, batch_size=4, shuffle=True, seed=8)) != first_a


def test_set_epoch_replays_an_epoch():
    ds = TensorDataset(X10, IDS10)
    a = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    orders = [epoch_order(a) for _ in range(4)]
    b = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    b.set_epoch(2)
    assert epoch_order(b) == orders[2] and epoch_order(b) == orders[3]
    with pytest.raises(ValueError, match="set_epoch: expected a non-negative int"):
        b.set_epoch(-1)


def test_iter_alone_starts_an_epoch():
    loader = DataLoader(TensorDataset(X10, IDS10), batch_size=4, shuffle=True, seed=1)
    iter(loader)
    assert loader.epoch == 1
    reference = DataLoader(TensorDataset(X10, IDS10), batch_size=4, shuffle=True, seed=1)
    reference.set_epoch(1)
    assert epoch_order(loader) == epoch_order(reference)


def test_generator_stream_continues_across_epochs():
    ds = TensorDataset(X10, IDS10)
    loader = DataLoader(ds, batch_size=10, shuffle=True, generator=np.random.default_rng(42))
    ref = np.random.default_rng(42)
    assert epoch_order(loader) == ref.permutation(10).tolist()
    assert epoch_order(loader) == ref.permutation(10).tolist()


def test_global_generator_used_without_seed():
    ds = TensorDataset(X10, IDS10)
    cr.random.seed(11)
    first = epoch_order(DataLoader(ds, batch_size=3, shuffle=True))
    cr.random.seed(11)
    assert epoch_order(DataLoader(ds, batch_size=3, shuffle=True)) == first
    cr.random.seed(11)
    assert first == cr.random.get_generator().permutation(10).tolist()


# ------------------------------------------------------------------------ fast path vs generic
def test_tensor_dataset_fast_path_never_calls_getitem(monkeypatch):
    def forbidden(self, index):
        raise AssertionError("per-sample __getitem__ called on the fast path")

    monkeypatch.setattr(TensorDataset, "__getitem__", forbidden)
    loader = DataLoader(TensorDataset(X10, IDS10), batch_size=3, shuffle=True, seed=0)
    assert sorted(epoch_order(loader)) == list(range(10))


def test_generic_dataset_gives_same_batches_as_fast_path():
    fast = DataLoader(TensorDataset(X10, IDS10), batch_size=4, shuffle=True, seed=9)
    pairs = Pairs(X10)
    slow = DataLoader(pairs, batch_size=4, shuffle=True, seed=9)
    for (xf, yf), (xs, ys) in zip(fast, slow):
        assert isinstance(xs, cr.Tensor) and xs.dtype == np.float32 and ys.dtype == np.int64
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())
    assert pairs.calls == 10
    assert len(slow) == 3


def test_collate_structures():
    batch = collate([{"x": np.ones(2), "y": [1, 2.5]}, {"x": np.zeros(2), "y": [3, 4.5]}])
    assert set(batch) == {"x", "y"}
    assert batch["x"].tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert isinstance(batch["y"], list)
    assert batch["y"][0].tolist() == [1, 3] and batch["y"][0].dtype == np.int64
    # Python floats follow chainrule's default float dtype, as cr.tensor does.
    assert batch["y"][1].dtype == cr.get_default_dtype()
    single = collate([cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])])
    assert isinstance(single, cr.Tensor) and single.shape == (2, 2)


def test_collate_errors():
    with pytest.raises(
        ValueError, match=r"cannot stack samples of different shapes \[\(2,\), \(3,\)\]"
    ):
        collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="different structures; expected tuples of length 2"):
        collate([(1, 2), (1, 2, 3)])
    with pytest.raises(ValueError, match=r"different keys; expected \['a'\]"):
        collate([{"a": 1}, {"b": 1}])


# ------------------------------------------------------------------------ argument checks
def test_loader_argument_errors():
    ds = TensorDataset(X10)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be a positive int, got float"):
        DataLoader(ds, batch_size=2.0)
    with pytest.raises(ValueError, match="pass seed or generator, not both"):
        DataLoader(ds, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        DataLoader(ds, seed=-3)
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator, got int"):
        DataLoader(ds, generator=3)
    with pytest.raises(TypeError, match="dataset must define __len__ and __getitem__, got int"):
        DataLoader(5)
