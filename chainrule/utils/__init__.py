"""PyTorch's ``torch.utils`` spellings: :mod:`chainrule.utils.data`.

Examples
--------
>>> from chainrule.utils.data import DataLoader, TensorDataset
>>> import numpy as np
>>> len(DataLoader(TensorDataset(np.zeros((5, 2))), batch_size=2))
3
"""

from . import data

__all__ = ["data"]
