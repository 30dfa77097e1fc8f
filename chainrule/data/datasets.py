"""Small classic data sets that need no network, and synthetic data generators.

``load_digits``, ``load_iris``, ``load_breast_cancer`` and ``load_wine`` return ``(X, y)``:
``X`` a float64 array of shape (n_samples, n_features), ``y`` an int64 array of class indices.
They come from scikit-learn when it is installed and otherwise from copies of the same files
shipped in ``chainrule/data/files`` (parsed with ``numpy.loadtxt``; nothing is unpickled), so the
arrays are identical either way.

``make_moons``, ``make_spirals`` and ``make_blobs`` draw float64 ``X`` and int64 ``y`` from a
NumPy ``Generator``: ``random_state`` is an int seed, a Generator, or None for chainrule's global
generator (:mod:`chainrule.random`).
"""

from __future__ import annotations

import gzip
import io
from importlib import resources
from typing import Any

import numpy as np

from .. import random as _random

__all__ = [
    "load_digits",
    "load_iris",
    "load_breast_cancer",
    "load_wine",
    "make_moons",
    "make_spirals",
    "make_blobs",
]

# name -> (file in chainrule/data/files, n_samples, n_features, first line is a header)
_FILES = {
    "digits": ("digits.csv.gz", 1797, 64, False),
    "iris": ("iris.csv", 150, 4, True),
    "breast_cancer": ("breast_cancer.csv", 569, 30, True),
    "wine": ("wine_data.csv", 178, 13, True),
}


def _from_files(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse the shipped copy of data set ``name`` (the path used without scikit-learn)."""
    fname, n, d, has_header = _FILES[name]
    raw = resources.files(__package__).joinpath("files", fname).read_bytes()
    if fname.endswith(".gz"):
        raw = gzip.decompress(raw)
    table = np.loadtxt(
        io.StringIO(raw.decode("ascii")), delimiter=",", skiprows=int(has_header), ndmin=2
    )
    if table.shape != (n, d + 1):
        raise RuntimeError(
            f"load_{name}: the shipped file {fname} holds a {table.shape} table, expected "
            f"({n}, {d + 1}); the installation is damaged"
        )
    return np.ascontiguousarray(table[:, :d]), table[:, d].astype(np.int64)


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn import datasets
    except ImportError:
        return _from_files(name)
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.ascontiguousarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 images of handwritten digits (UCI): ``X`` (1797, 64) pixel counts 0-16,
    ``y`` the digit 0-9.

    Examples
    --------
    >>> X, y = load_digits()
    >>> X.shape, X.dtype, y.dtype, int(y.max())
    ((1797, 64), dtype('float64'), dtype('int64'), 9)
    """
    return _load("digits")


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """Fisher's iris flowers: ``X`` (150, 4) sepal and petal lengths and widths in cm, ``y``
    the species 0-2 (setosa, versicolor, virginica), 50 of each.

    Examples
    --------
    >>> X, y = load_iris()
    >>> X.shape, np.bincount(y).tolist()
    ((150, 4), [50, 50, 50])
    """
    return _load("iris")


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Breast Cancer Wisconsin (diagnostic): ``X`` (569, 30) cell-nucleus measurements, ``y``
    0 = malignant (212), 1 = benign (357).

    Examples
    --------
    >>> X, y = load_breast_cancer()
    >>> X.shape, np.bincount(y).tolist()
    ((569, 30), [212, 357])
    """
    return _load("breast_cancer")


def load_wine() -> tuple[np.ndarray, np.ndarray]:
    """Wine recognition: ``X`` (178, 13) chemical analyses of wines from three cultivars,
    ``y`` the cultivar 0-2.

    Examples
    --------
    >>> X, y = load_wine()
    >>> X.shape, np.bincount(y).tolist()
    ((178, 13), [59, 71, 48])
    """
    return _load("wine")


# ------------------------------------------------------------------------------ generators
def _check_n_samples(n_samples: Any, op: str, minimum: int = 1) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise TypeError(f"{op}: n_samples must be an int, got {type(n_samples).__name__}")
    if n_samples < minimum:
        raise ValueError(f"{op}: n_samples must be at least {minimum}, got {n_samples}")
    return int(n_samples)


def _check_noise(noise: Any, op: str) -> float:
    noise = 0.0 if noise is None else float(noise)
    if not noise >= 0.0:
        raise ValueError(f"{op}: noise must be a non-negative standard deviation, got {noise}")
    return noise


def _finish(
    X: np.ndarray, y: np.ndarray, noise: float, shuffle: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if shuffle:
        perm = rng.permutation(len(y))
        X, y = X[perm], y[perm]
    if noise > 0.0:
        X += rng.normal(scale=noise, size=X.shape)
    return X, y


def make_moons(
    n_samples: int | tuple[int, int] = 100,
    noise: float = 0.0,
    random_state: int | np.random.Generator | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles in 2-D, as scikit-learn's ``make_moons``.

    Class 0 is the upper half of the unit circle, class 1 the lower half shifted by (1, -0.5);
    ``n_samples`` is split ``n // 2`` (class 0) and the rest (class 1), or given as a pair.
    Gaussian noise of standard deviation ``noise`` is added to every coordinate.

    Returns
    -------
    X : (n_samples, 2) float64 array
    y : (n_samples,) int64 array of 0 and 1

    Examples
    --------
    >>> X, y = make_moons(6, shuffle=False)
    >>> X[:3].round(3).tolist(), y.tolist()
    ([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], [0, 0, 0, 1, 1, 1])
    """
    op = "make_moons"
    if isinstance(n_samples, tuple):
        if len(n_samples) != 2:
            raise ValueError(f"{op}: n_samples as a tuple must be (n_outer, n_inner)")
        n_out = _check_n_samples(n_samples[0], op, 0)
        n_in = _check_n_samples(n_samples[1], op, 0)
    else:
        n = _check_n_samples(n_samples, op)
        n_out, n_in = n // 2, n - n // 2
    noise = _check_noise(noise, op)
    rng = _random.resolve(random_state)
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.empty((n_out + n_in, 2))
    X[:n_out, 0], X[:n_out, 1] = np.cos(t_out), np.sin(t_out)
    X[n_out:, 0], X[n_out:, 1] = 1.0 - np.cos(t_in), 0.5 - np.sin(t_in)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n_out, n_in])
    return _finish(X, y, noise, shuffle, rng)


def _per_class(n: int, k: int) -> list[int]:
    # The remainder goes to the first classes, as scikit-learn's make_blobs does.
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def make_spirals(
    n_samples: int = 100,
    n_classes: int = 2,
    noise: float = 0.0,
    random_state: int | np.random.Generator | None = None,
    shuffle: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms in 2-D, one per class: a classic problem that no linear model
    solves.

    Arm ``k`` holds points at radius ``r`` from 0 to 1 and angle ``2 pi k / n_classes + 3 pi r``
    (one and a half turns); ``n_samples`` is shared out as evenly as possible, the first arms
    taking the remainder. Gaussian noise of standard deviation ``noise`` is added to every
    coordinate.

    Returns
    -------
    X : (n_samples, 2) float64 array, inside the unit disc when ``noise=0``
    y : (n_samples,) int64 array of arm indices

    Examples
    --------
    >>> X, y = make_spirals(6, n_classes=3, shuffle=False)
    >>> y.tolist(), bool(np.all(np.hypot(X[:, 0], X[:, 1]) <= 1.0))
    ([0, 0, 1, 1, 2, 2], True)
    """
    op = "make_spirals"
    n = _check_n_samples(n_samples, op)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
        raise TypeError(f"{op}: n_classes must be an int, got {type(n_classes).__name__}")
    if not 1 <= n_classes <= n:
        raise ValueError(f"{op}: n_classes must be between 1 and n_samples={n}, got {n_classes}")
    noise = _check_noise(noise, op)
    rng = _random.resolve(random_state)
    counts = _per_class(n, int(n_classes))
    r = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
    y = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    theta = 2.0 * np.pi * y / n_classes + 3.0 * np.pi * r
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1)
    return _finish(X, y, noise, shuffle, rng)


def make_blobs(
    n_samples: int | Any = 100,
    centers: int | Any = None,
    n_features: int = 2,
    cluster_std: float | Any = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
    shuffle: bool = True,
    random_state: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic Gaussian clusters, as scikit-learn's ``make_blobs``.

    Parameters
    ----------
    n_samples : int or sequence of int
        The total, shared out evenly over the clusters (the first ones take the remainder), or
        the count of each cluster.
    centers : int or (n_centers, n_features) array, optional
        The number of clusters, whose centres are drawn uniformly from ``center_box`` (3 by
        default when ``n_samples`` is an int), or the centres themselves.
    n_features : int, default 2
        Dimension of the points (ignored when ``centers`` is an array).
    cluster_std : float or sequence of float, default 1.0
        Standard deviation of each cluster.

    Returns
    -------
    X : (n_samples, n_features) float64 array
    y : (n_samples,) int64 array of cluster indices

    Examples
    --------
    >>> X, y = make_blobs([2, 3], centers=[[0.0, 0.0], [5.0, 5.0]], cluster_std=0.0,
    ...                   shuffle=False)
    >>> X.tolist(), y.tolist()
    ([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [5.0, 5.0]], [0, 0, 1, 1, 1])
    """
    op = "make_blobs"
    rng = _random.resolve(random_state)
    counts_given = not isinstance(n_samples, (int, np.integer))
    if counts_given:
        counts = [_check_n_samples(c, op, 0) for c in n_samples]
        if not counts:
            raise ValueError(f"{op}: n_samples as a sequence needs one count per cluster")
    else:
        n = _check_n_samples(n_samples, op)
    if centers is None or isinstance(centers, (int, np.integer)):
        k = len(counts) if counts_given else (3 if centers is None else int(centers))
        if counts_given and centers is not None and centers != k:
            raise ValueError(
                f"{op}: {len(counts)} counts in n_samples but centers={centers}; they must agree"
            )
        if not isinstance(n_features, (int, np.integer)) or n_features < 1:
            raise ValueError(f"{op}: n_features must be a positive int, got {n_features!r}")
        if k < 1:
            raise ValueError(f"{op}: centers must be a positive int, got {centers}")
        lo, hi = center_box
        centres = rng.uniform(lo, hi, size=(k, int(n_features)))
    else:
        centres = np.array(centers, dtype=np.float64)
        if centres.ndim != 2 or len(centres) == 0:
            raise ValueError(
                f"{op}: centers must be an int or a (n_centers, n_features) array, got shape "
                f"{centres.shape}"
            )
        k = len(centres)
        if counts_given and len(counts) != k:
            raise ValueError(
                f"{op}: {len(counts)} counts in n_samples but {k} centers; they must agree"
            )
    if not counts_given:
        counts = _per_class(n, k)
    std = np.asarray(cluster_std, dtype=np.float64)
    if std.ndim == 0:
        std = np.full(k, float(std))
    if std.shape != (k,) or np.any(std < 0):
        raise ValueError(
            f"{op}: cluster_std must be a non-negative number or one per cluster ({k}), got "
            f"{cluster_std!r}"
        )
    d = centres.shape[1]
    X = np.concatenate(
        [rng.normal(loc=centres[i], scale=std[i], size=(c, d)) for i, c in enumerate(counts)]
    )
    y = np.repeat(np.arange(k, dtype=np.int64), counts)
    return _finish(X, y, 0.0, shuffle, rng)
