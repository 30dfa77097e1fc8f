"""``torch.utils.data``'s names over :mod:`chainrule.data`, so ``from torch.utils.data import
DataLoader``-style code runs with ``chainrule.utils.data``; adds :class:`Subset` and
:func:`random_split`.

Examples
--------
>>> import numpy as np
>>> from chainrule.utils.data import DataLoader, TensorDataset, random_split
>>> train, test = random_split(TensorDataset(np.arange(10.0)), [0.8, 0.2], generator=0)
>>> len(train), len(test), len(DataLoader(train, batch_size=4))
(8, 2, 2)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import random as _random
from ..data import DataLoader, Dataset, TensorDataset

__all__ = ["DataLoader", "Dataset", "TensorDataset", "Subset", "random_split"]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (``torch.utils.data.Subset``).

    Examples
    --------
    >>> import numpy as np
    >>> s = Subset(TensorDataset(np.arange(5) * 10), [4, 0])
    >>> len(s), s[0][0].item(), s[1][0].item()
    (2, 40, 0)
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                f"Subset: dataset must define __len__ and __getitem__, got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.indices = [int(i) for i in np.asarray(indices).reshape(-1)]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (list, tuple, np.ndarray)):
            return [self.dataset[self.indices[int(i)]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(
    dataset: Any,
    lengths: Sequence[int | float],
    generator: np.random.Generator | int | None = None,
) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are counts summing to ``len(dataset)``, or fractions summing to 1 (each gets
    ``floor(n * fraction)`` samples and the remainder is handed out one by one from the first,
    as PyTorch does). The order comes from ``generator`` (a :class:`chainrule.Generator`, a
    NumPy generator or an int seed) or chainrule's global generator.

    Examples
    --------
    >>> import numpy as np
    >>> a, b, c = random_split(TensorDataset(np.arange(10)), [0.5, 0.3, 0.2], generator=1)
    >>> [len(a), len(b), len(c)], sorted(a.indices + b.indices + c.indices) == list(range(10))
    ([5, 3, 2], True)
    """
    n = len(dataset)
    if (
        not isinstance(lengths, (list, tuple))
        or not lengths
        or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and v >= 0 for v in lengths
        )
    ):
        raise ValueError(f"random_split: lengths must be a list of numbers >= 0, got {lengths!r}")
    if all(isinstance(v, numbers.Integral) for v in lengths):
        sizes = [int(v) for v in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(v <= 1 for v in lengths):
        sizes = [int(math.floor(n * v)) for v in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        raise ValueError(
            f"random_split: fractions must sum to 1, got {lengths!r} (sum {sum(lengths)})"
        )
    if sum(sizes) != n:
        raise ValueError(
            f"random_split: the lengths {sizes} sum to {sum(sizes)}, but the dataset has {n} "
            f"samples"
        )
    order = _random.resolve(generator).permutation(n)
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, order[start : start + size]))
        start += size
    return out
