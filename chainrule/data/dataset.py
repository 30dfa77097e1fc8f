"""``Dataset``, ``TensorDataset`` and ``DataLoader``: mini-batches of Tensors, as in PyTorch.

A ``DataLoader`` over a ``TensorDataset`` takes each batch with one fancy-indexing operation per
array (no Python loop over samples); over any other ``Dataset`` it fetches the samples one by one
and stacks them. Shuffling is reproducible: with ``seed=s`` the order of epoch ``e`` comes from a
NumPy generator seeded with ``(s, e)``, so iterating twice gives epoch 0 then epoch 1, and a loader
resumed with ``set_epoch(e)`` replays epoch ``e`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor, _as_array, _leaf

__all__ = ["Dataset", "TensorDataset", "DataLoader"]


class Dataset:
    """A collection of samples: subclasses define ``__getitem__(i)`` and ``__len__()``.

    A sample is a Tensor, an array, a number, or a tuple/list/dict of them; the
    :class:`DataLoader` stacks samples position by position (key by key) into batches.

    Examples
    --------
    >>> import numpy as np
    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return np.float64(i), np.float64(i * i)
    >>> [b[1].tolist() for b in DataLoader(Squares(), batch_size=2)]
    [[0.0, 1.0], [4.0, 9.0]]
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Samples that are rows of tensors sharing their first dimension: sample ``i`` is
    ``(t[i] for t in tensors)``.

    Arrays are wrapped without a copy; tensors keep their dtype.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> ds = TensorDataset(np.zeros((3, 2)), np.arange(3))
    >>> len(ds), ds[2][1].item()
    (3, 2)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        arrays = tuple(_as_array(t, None, "TensorDataset") for t in tensors)
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(
                    f"TensorDataset: tensor {i} is 0-d; every tensor needs a first (sample) "
                    f"dimension"
                )
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(
                f"TensorDataset: all tensors must have the same first dimension (number of "
                f"samples), got shapes {shapes}"
            )
        self.arrays = arrays
        self.tensors = tuple(_leaf(a) for a in arrays)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(_leaf(a[index]) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]


class DataLoader:
    """Iterate over a dataset in mini-batches of Tensors.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__len__`` and ``__getitem__``; a :class:`TensorDataset` is batched by
        indexing its arrays directly (fast path).
    batch_size : int, default 1
        Samples per batch; the last batch is smaller unless ``drop_last``.
    shuffle : bool, default False
        A new random order every epoch (every call of ``iter``).
    drop_last : bool, default False
        Drop the last, incomplete batch.
    seed : int, optional
        Makes the shuffling reproducible: epoch ``e``'s order comes from
        ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(e,)))``, independent of any
        other random state. The epoch counter starts at 0 and advances on every ``iter``;
        :meth:`set_epoch` moves it (to resume training from a checkpoint).
    generator : numpy.random.Generator, optional
        Draw the orders from this generator instead (its stream simply continues from epoch to
        epoch). Without ``seed`` and ``generator`` the orders come from chainrule's global
        generator (:mod:`chainrule.random`), reproducible with ``cr.random.seed``.
    sampler : iterable of int, optional
        The indices of an epoch, in order, with a ``__len__`` (e.g.
        :class:`chainrule.distributed.DistributedSampler`, one rank's shard); excludes
        ``shuffle``, ``seed`` and ``generator``. Iterated anew every epoch.

    Yields
    ------
    Tensor or tuple of Tensor
        For a :class:`TensorDataset`, a tuple with one batch per tensor; otherwise the samples
        stacked along a new first axis, with the sample's structure (tuple, list or dict).

    Examples
    --------
    >>> import numpy as np
    >>> ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> loader = DataLoader(ds, batch_size=5, shuffle=True, seed=0)
    >>> first = [y.tolist() for _, y in loader]
    >>> first == [y.tolist() for _, y in DataLoader(ds, batch_size=5, shuffle=True, seed=0)]
    True
    >>> len(DataLoader(ds, batch_size=2, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
        sampler: Any = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"DataLoader: dataset must define __len__ and __getitem__, got "
                f"{type(dataset).__name__}"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(
                f"DataLoader: batch_size must be a positive int, got {type(batch_size).__name__}"
            )
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass seed or generator, not both")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"DataLoader: seed must be a non-negative int, got {seed!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(
                f"DataLoader: generator must be a numpy.random.Generator, got "
                f"{type(generator).__name__}"
            )
        if sampler is not None and (shuffle or seed is not None or generator is not None):
            raise ValueError("DataLoader: a sampler chooses the order; drop shuffle/seed/generator")
        if sampler is not None and not (
            hasattr(sampler, "__iter__") and hasattr(sampler, "__len__")
        ):
            raise TypeError(
                f"DataLoader: sampler must be iterable and have a length, got "
                f"{type(sampler).__name__}"
            )
        self.sampler = sampler
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = None if seed is None else int(seed)
        self.generator = generator
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter`` produce epoch ``epoch``'s order (with ``seed``).

        Examples
        --------
        >>> import numpy as np
        >>> ds = TensorDataset(np.arange(6))
        >>> a = DataLoader(ds, batch_size=6, shuffle=True, seed=1)
        >>> _ = list(a); second = next(iter(a))[0].tolist()
        >>> b = DataLoader(ds, batch_size=6, shuffle=True, seed=1); b.set_epoch(1)
        >>> next(iter(b))[0].tolist() == second
        True
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: expected a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter(self.sampler, dtype=np.intp, count=len(self.sampler))
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self.seed is not None:
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.epoch,)))
        elif self.generator is not None:
            rng = self.generator
        else:
            rng = _random.get_generator()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        # The order is drawn now, not at the first next(), so that iter() alone starts an epoch
        # (as in PyTorch) and the epoch counter cannot be skipped by a lazily started generator.
        order = self._order()
        self.epoch += 1
        stop = len(self) * self.batch_size
        if isinstance(self.dataset, TensorDataset):
            return self._tensor_batches(self.dataset.arrays, order, stop)
        return self._collated_batches(order, stop)

    def _tensor_batches(
        self, arrays: tuple[Any, ...], order: np.ndarray, stop: int
    ) -> Iterator[tuple[Tensor, ...]]:
        bs = self.batch_size
        if not self.shuffle and self.sampler is None:
            # In order, a batch is a slice: a view of the dataset's arrays, no copy.
            for start in range(0, min(stop, len(order)), bs):
                yield tuple(_leaf(a[start : start + bs]) for a in arrays)
            return
        for start in range(0, min(stop, len(order)), bs):
            idx = order[start : start + bs]
            yield tuple(_leaf(a[idx]) for a in arrays)

    def _collated_batches(self, order: np.ndarray, stop: int) -> Iterator[Any]:
        bs, dataset = self.batch_size, self.dataset
        for start in range(0, min(stop, len(order)), bs):
            yield collate([dataset[int(i)] for i in order[start : start + bs]])


def collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into one batch, keeping the samples' structure.

    Tuples and lists are collated position by position, dicts key by key; leaves (Tensors,
    arrays, numbers) are stacked along a new first axis into a Tensor.

    Examples
    --------
    >>> batch = collate([(1.0, 0), (2.0, 1)])
    >>> batch[0].tolist(), batch[1].tolist()
    ([1.0, 2.0], [0, 1])
    """
    first = samples[0]
    if isinstance(first, (tuple, list)):
        n = len(first)
        if any(not isinstance(s, (tuple, list)) or len(s) != n for s in samples):
            raise ValueError(
                f"DataLoader: samples have different structures; expected {type(first).__name__}"
                f"s of length {n} like the first sample"
            )
        return type(first)(collate([s[j] for s in samples]) for j in range(n))
    if isinstance(first, Mapping):
        keys = list(first)
        if any(not isinstance(s, Mapping) or list(s) != keys for s in samples):
            raise ValueError(f"DataLoader: samples have different keys; expected {keys}")
        return {k: collate([s[k] for s in samples]) for k in keys}
    # Python floats follow chainrule's default float dtype, as in cr.tensor.
    arrays = [_as_array(s, None, "DataLoader") for s in samples]
    try:
        return _leaf(np.stack(arrays))
    except ValueError as exc:
        shapes = sorted({tuple(a.shape) for a in arrays})
        raise ValueError(
            f"DataLoader: cannot stack samples of different shapes {shapes} into a batch"
        ) from exc
