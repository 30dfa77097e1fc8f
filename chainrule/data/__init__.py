"""Data: ``Dataset``, ``TensorDataset``, ``DataLoader``, bundled data sets, generators, CSV files.

Examples
--------
>>> import chainrule as cr
>>> X, y = cr.data.load_iris()
>>> X_tr, X_te, y_tr, y_te = cr.data.train_test_split(X, y, test_size=0.2, random_state=0)
>>> loader = cr.data.DataLoader(cr.data.TensorDataset(X_tr, y_tr), batch_size=32, shuffle=True,
...                             seed=0)
>>> xb, yb = next(iter(loader))
>>> xb.shape, yb.dtype
((32, 4), dtype('int64'))
"""

from .csv import load_csv
from .dataset import DataLoader, Dataset, TensorDataset
from .datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
    make_moons,
    make_spirals,
)
from .split import Standardizer, standardize, train_test_split

__all__ = [
    "Dataset", "TensorDataset", "DataLoader",
    "load_digits", "load_iris", "load_breast_cancer", "load_wine",
    "make_moons", "make_spirals", "make_blobs",
    "load_csv", "train_test_split", "Standardizer", "standardize",
]  # fmt: skip
