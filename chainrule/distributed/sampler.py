"""DistributedSampler: each rank's share of a dataset's indices, disjoint, one epoch at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from . import process_group as pg

__all__ = ["DistributedSampler"]


class DistributedSampler:
    """The indices of rank ``rank``'s shard of a dataset, for ``DataLoader(sampler=...)``.

    Every epoch the indices ``0 .. n-1`` are put in one order shared by all ranks (shuffled
    from ``seed`` and the epoch, when ``shuffle``), made a multiple of the number of ranks, and
    dealt out: rank ``r`` takes positions ``r, r + R, r + 2R, ...``. So the shards are disjoint
    and every rank takes the same number of samples (and steps). To make the length a multiple,
    ``drop_last=False`` repeats the first indices of the order (a few samples are seen twice per
    epoch, as in PyTorch); ``drop_last=True`` drops the last ``n mod R``.

    Parameters
    ----------
    dataset : Dataset or int
        Anything with ``__len__``, or the number of samples.
    num_replicas : int, optional
        Number of ranks (default: :func:`~chainrule.distributed.world_size`).
    rank : int, optional
        This rank (default: :func:`~chainrule.distributed.rank`).
    shuffle : bool, default True
    seed : int, default 0
        The same on every rank. Epoch ``e``'s order comes from
        ``numpy.random.default_rng(SeedSequence(seed, spawn_key=(e,)))``.
    drop_last : bool, default False

    Examples
    --------
    >>> from chainrule.distributed import DistributedSampler
    >>> [list(DistributedSampler(5, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    >>> len(DistributedSampler(5, num_replicas=2, rank=1, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        name = "DistributedSampler"
        n = (
            dataset
            if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool)
            else None
        )
        if n is None:
            if not hasattr(dataset, "__len__"):
                raise TypeError(
                    f"{name}: dataset must have a length (or be an int), "
                    f"got {type(dataset).__name__}"
                )
            n = len(dataset)
        if n < 0:
            raise ValueError(f"{name}: the dataset size must be >= 0, got {n}")
        if num_replicas is None:
            num_replicas = pg.world_size()
        if rank is None:
            rank = pg.rank() if num_replicas == pg.world_size() else 0
        for label, value, low in (("num_replicas", num_replicas, 1), ("rank", rank, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name}: {label} must be an int >= {low}, got {value!r}")
        if rank >= num_replicas:
            raise ValueError(f"{name}: rank {rank} is not below num_replicas={num_replicas}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"{name}: seed must be a non-negative int, got {seed!r}")
        if drop_last and n < num_replicas:
            raise ValueError(
                f"{name}: with drop_last=True, {n} samples leave nothing for {num_replicas} ranks"
            )
        self.n = int(n)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        if self.drop_last:
            self.num_samples = self.n // self.num_replicas
        else:
            self.num_samples = -(-self.n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s order from now on (call it at the start of every epoch).

        Examples
        --------
        >>> from chainrule.distributed import DistributedSampler
        >>> s = DistributedSampler(6, num_replicas=1, rank=0, seed=3)
        >>> first = list(s); s.set_epoch(1); list(s) != first
        True
        """
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: expected an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch, as an int64 array.

        Examples
        --------
        >>> from chainrule.distributed import DistributedSampler
        >>> DistributedSampler(4, num_replicas=2, rank=0, shuffle=False).indices().tolist()
        [0, 2]
        """
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.epoch,)))
            order = rng.permutation(self.n).astype(np.int64)
        else:
            order = np.arange(self.n, dtype=np.int64)
        if self.total_size > self.n:
            repeats = -(-self.total_size // max(self.n, 1))
            order = np.tile(order, repeats)[: self.total_size]
        else:
            order = order[: self.total_size]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
