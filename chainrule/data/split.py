"""``train_test_split`` and ``Standardizer``: the two preprocessing steps every example needs,
for users without scikit-learn (whose functions of the same purpose work just as well).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import random as _random
from ..tensor import Tensor, _leaf

__all__ = ["train_test_split", "Standardizer", "standardize"]


def _n_samples(a: Any) -> int:
    shape = getattr(a, "shape", None)
    if shape is None:
        return len(a)
    if len(shape) == 0:
        raise ValueError("train_test_split: cannot split a 0-d array")
    return shape[0]


def _take(a: Any, idx: np.ndarray) -> Any:
    if isinstance(a, Tensor):
        return _leaf(a._data[idx])
    if isinstance(a, np.ndarray) or hasattr(a, "__cuda_array_interface__"):
        return a[idx]
    if isinstance(a, list):
        return [a[i] for i in idx]
    return np.asarray(a)[idx]


def _test_count(test_size: Any, n: int) -> int:
    if isinstance(test_size, bool):
        raise TypeError("train_test_split: test_size must be a float in (0, 1) or an int")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)):
        if not 0.0 < test_size < 1.0:
            raise ValueError(
                f"train_test_split: test_size as a fraction must be in (0, 1), got {test_size}"
            )
        n_test = math.ceil(test_size * n)
    else:
        raise TypeError(
            f"train_test_split: test_size must be a float in (0, 1) or an int, got "
            f"{type(test_size).__name__}"
        )
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"train_test_split: test_size={test_size} gives {n_test} test samples out of {n}; "
            f"both the train and the test part need at least one"
        )
    return n_test


def _stratified(
    labels: np.ndarray, n_test: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    classes, y, counts = np.unique(labels, return_inverse=True, return_counts=True)
    n = len(labels)
    if counts.min() < 2:
        raise ValueError(
            f"train_test_split: class {classes[counts.argmin()].item()!r} has only one sample; "
            f"stratify needs at least two of each class"
        )
    if n_test < len(classes) or n - n_test < len(classes):
        raise ValueError(
            f"train_test_split: {n_test} test and {n - n_test} train samples cannot hold all "
            f"{len(classes)} classes each (stratify)"
        )
    # Each class's share of the test set, rounded down; the samples still missing go to the
    # classes with the largest remainders (ties broken at random), as in scikit-learn.
    exact = counts * (n_test / n)
    per_class = np.floor(exact).astype(np.int64)
    short = n_test - int(per_class.sum())
    if short:
        tie_break = rng.permutation(len(classes))
        order = tie_break[np.argsort(-(exact - per_class)[tie_break], kind="stable")]
        per_class[order[:short]] += 1
    members = np.split(np.argsort(y, kind="stable"), np.cumsum(counts)[:-1])
    test, train = [], []
    for idx, k in zip(members, per_class):
        idx = rng.permutation(idx)
        test.append(idx[:k])
        train.append(idx[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(
    *arrays: Any,
    test_size: float | int = 0.25,
    random_state: int | np.random.Generator | None = None,
    stratify: Any = None,
    shuffle: bool = True,
) -> list[Any]:
    """Split arrays (same first dimension) into random train and test parts, as scikit-learn's
    ``train_test_split``.

    Parameters
    ----------
    *arrays : arrays, Tensors or lists
        Split along the first axis, each the same way.
    test_size : float or int, default 0.25
        A fraction of the samples (rounded up) or a count.
    random_state : int, numpy Generator or None
        The shuffle's seed (None: chainrule's global generator).
    stratify : array, optional
        Class labels: each class gets (about) the same share of the test set.
    shuffle : bool, default True
        Without shuffling the last ``test_size`` samples are the test part.

    Returns
    -------
    list
        ``[a_train, a_test, b_train, b_test, ...]``, each of the input's kind.

    Examples
    --------
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10)
    >>> X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
    >>> X_tr.shape, X_te.shape, bool((X_te[:, 0] // 2 == y_te).all())
    ((7, 2), (3, 2), True)
    """
    if not arrays:
        raise ValueError("train_test_split: expected at least one array")
    lengths = [_n_samples(a) for a in arrays]
    n = lengths[0]
    if any(m != n for m in lengths):
        raise ValueError(
            f"train_test_split: all arrays must have the same number of samples (first "
            f"dimension), got {lengths}"
        )
    n_test = _test_count(test_size, n)
    if not shuffle:
        if stratify is not None:
            raise ValueError("train_test_split: stratify needs shuffle=True")
        train, test = np.arange(n - n_test), np.arange(n - n_test, n)
    else:
        rng = _random.resolve(random_state)
        if stratify is not None:
            labels = np.asarray(stratify._data if isinstance(stratify, Tensor) else stratify)
            if labels.ndim != 1 or len(labels) != n:
                raise ValueError(
                    f"train_test_split: stratify must be one label per sample, shape ({n},), "
                    f"got {labels.shape}"
                )
            train, test = _stratified(labels, n_test, rng)
        else:
            perm = rng.permutation(n)
            train, test = perm[n_test:], perm[:n_test]
    out = []
    for a in arrays:
        out += [_take(a, train), _take(a, test)]
    return out


class Standardizer:
    """Shift and scale each column to mean 0 and standard deviation 1, with the statistics of the
    data it was fitted on (like scikit-learn's ``StandardScaler``).

    Constant columns are only centred, never divided by zero. Float32 input stays float32;
    integer input becomes float64.

    Attributes
    ----------
    mean_, scale_ : arrays of shape (n_features,)

    Examples
    --------
    >>> s = Standardizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> s.transform(np.array([[2.0, 6.0]])).tolist()
    [[0.0, 1.0]]
    >>> s.inverse_transform(s.transform(np.array([[3.0, 5.0]]))).tolist()
    [[3.0, 5.0]]
    """

    mean_: np.ndarray
    scale_: np.ndarray

    @staticmethod
    def _array(X: Any, op: str) -> np.ndarray:
        arr = np.asarray(X._data if isinstance(X, Tensor) else X)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"Standardizer.{op}: expected numeric data, got dtype {arr.dtype}")
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        if arr.ndim != 2:
            raise ValueError(
                f"Standardizer.{op}: expected a 2-d array (n_samples, n_features), got shape "
                f"{arr.shape}"
            )
        return arr

    def fit(self, X: Any) -> Standardizer:
        """Compute each column's mean and standard deviation from ``X`` (n_samples, n_features)."""
        X = self._array(X, "fit")
        if len(X) == 0:
            raise ValueError("Standardizer.fit: X has no samples")
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        # A constant column can still have a tiny nonzero std from rounding in the mean.
        constant = (X.max(axis=0) == X.min(axis=0)) | (scale == 0)
        self.scale_ = np.where(constant, np.ones_like(scale), scale)
        return self

    def _check(self, X: Any, op: str) -> np.ndarray:
        if not hasattr(self, "mean_"):
            raise RuntimeError(f"Standardizer.{op}: call fit first")
        X = self._array(X, op)
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"Standardizer.{op}: X has {X.shape[1]} columns, but the standardizer was fitted "
                f"on {self.mean_.shape[0]}"
            )
        return X

    def transform(self, X: Any) -> np.ndarray:
        """``(X - mean_) / scale_``."""
        X = self._check(X, "transform")
        return ((X - self.mean_) / self.scale_).astype(X.dtype, copy=False)

    def fit_transform(self, X: Any) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """``X * scale_ + mean_``: undo :meth:`transform`."""
        X = self._check(X, "inverse_transform")
        return (X * self.scale_ + self.mean_).astype(X.dtype, copy=False)


def standardize(X: Any, *others: Any) -> Any:
    """Standardise ``X`` with its own column statistics, and ``others`` (e.g. the test set)
    with the same ones.

    Returns
    -------
    array, or a tuple of arrays when ``others`` are given

    Examples
    --------
    >>> X_tr, X_te = standardize(np.array([[0.0], [2.0]]), np.array([[4.0]]))
    >>> X_tr.ravel().tolist(), X_te.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    """
    scaler = Standardizer().fit(X)
    if not others:
        return scaler.transform(X)
    return (scaler.transform(X), *(scaler.transform(o) for o in others))
