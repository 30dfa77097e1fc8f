"""Bundled data sets (shipped files vs scikit-learn) and the make_* generators."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import datasets
from chainrule.data.datasets import make_blobs, make_moons, make_spirals

# name -> (shape, class counts, first row's first values)
EXPECTED = {
    "digits": ((1797, 64), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
               [0.0, 0.0, 5.0, 13.0, 9.0]),
    "iris": ((150, 4), [50, 50, 50], [5.1, 3.5, 1.4, 0.2]),
    "breast_cancer": ((569, 30), [212, 357], [17.99, 10.38, 122.8, 1001.0, 0.1184]),
    "wine": ((178, 13), [59, 71, 48], [14.23, 1.71, 2.43, 15.6, 127.0]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_files(name):
    X, y = datasets._from_files(name)
    shape, counts, first = EXPECTED[name]
    assert X.shape == shape and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (shape[0],) and y.dtype == np.int64
    assert np.bincount(y).tolist() == counts
    assert X[0, : len(first)].tolist() == first
    assert np.isfinite(X).all()


def test_digits_pixels_are_counts():
    X, _ = datasets._from_files("digits")
    assert X.min() == 0.0 and X.max() == 16.0
    np.testing.assert_array_equal(X, np.round(X))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_public_loaders_match_shipped_files(name):
    X, y = getattr(cr.data, f"load_{name}")()
    Xf, yf = datasets._from_files(name)
    assert X.dtype == np.float64 and y.dtype == np.int64 and X.flags.c_contiguous
    np.testing.assert_array_equal(X, Xf)
    np.testing.assert_array_equal(y, yf)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_files_equal_scikit_learn(name):
    sk_datasets = pytest.importorskip("sklearn.datasets")
    Xs, ys = getattr(sk_datasets, f"load_{name}")(return_X_y=True)
    X, y = datasets._from_files(name)
    assert np.array_equal(X, Xs) and np.array_equal(y, ys)


def test_loaders_work_without_scikit_learn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    used = []
    original = datasets._from_files
    monkeypatch.setattr(datasets, "_from_files", lambda name: used.append(name) or original(name))
    X, y = cr.data.load_iris()
    assert used == ["iris"]
    assert X.shape == (150, 4) and np.bincount(y).tolist() == [50, 50, 50]


# ------------------------------------------------------------------------------ make_moons
def test_moons_lie_on_their_half_circles():
    X, y = make_moons(101, shuffle=False)
    assert X.shape == (101, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 51]
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, rtol=1e-12)
    assert (outer[:, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, rtol=1e-12)
    assert (inner[:, 1] <= 0.5 + 1e-12).all()
    np.testing.assert_allclose(outer[[0, -1]], [[1.0, 0.0], [-1.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(inner[[0, -1]], [[0.0, 0.5], [2.0, 0.5]], atol=1e-15)


def test_moons_shuffle_noise_and_seed():
    X0, y0 = make_moons(200, shuffle=False)
    X, y = make_moons(200, random_state=0)
    assert sorted(map(tuple, X.tolist())) == sorted(map(tuple, X0.tolist()))
    assert not np.array_equal(y, y0)  # shuffled
    Xa, ya = make_moons(200, noise=0.1, random_state=3)
    Xb, yb = make_moons(200, noise=0.1, random_state=3)
    assert np.array_equal(Xa, Xb) and np.array_equal(ya, yb)
    Xc, _ = make_moons(200, noise=0.1, random_state=4)
    assert not np.array_equal(Xa, Xc)
    # With the same permutation drawn first, the noise is the only difference.
    clean, labels = make_moons(2000, random_state=np.random.default_rng(5))
    noisy, labels2 = make_moons(2000, noise=0.1, random_state=np.random.default_rng(5))
    assert np.array_equal(labels, labels2)
    assert 0.09 < np.std(noisy - clean) < 0.11


def test_moons_tuple_and_errors():
    _, y = make_moons((3, 7), shuffle=False)
    assert y.tolist() == [0] * 3 + [1] * 7
    with pytest.raises(ValueError, match="make_moons: n_samples must be at least 1, got 0"):
        make_moons(0)
    with pytest.raises(ValueError, match="make_moons: noise must be a non-negative"):
        make_moons(10, noise=-0.1)
    with pytest.raises(TypeError, match="make_moons: n_samples must be an int, got float"):
        make_moons(10.0)


# ------------------------------------------------------------------------------ make_spirals
def test_spirals_geometry():
    X, y = make_spirals(31, n_classes=3, shuffle=False)
    assert X.shape == (31, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [11, 10, 10]
    for k in range(3):
        arm = X[y == k]
        r = np.hypot(arm[:, 0], arm[:, 1])
        np.testing.assert_allclose(r, np.linspace(0.0, 1.0, len(arm)), atol=1e-15)
        theta = 2 * np.pi * k / 3 + 3 * np.pi * r[1:]
        np.testing.assert_allclose(arm[1:, 0], r[1:] * np.cos(theta), atol=1e-15)
        np.testing.assert_allclose(arm[1:, 1], r[1:] * np.sin(theta), atol=1e-15)


def test_spirals_seed_noise_and_errors():
    a = make_spirals(100, noise=0.2, random_state=1)
    b = make_spirals(100, noise=0.2, random_state=1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.bincount(a[1]).tolist() == [50, 50]
    with pytest.raises(ValueError, match="n_classes must be between 1 and n_samples=4, got 5"):
        make_spirals(4, n_classes=5)


# ------------------------------------------------------------------------------ make_blobs
def test_blobs_counts_and_exact_centres():
    centres = np.array([[0.0, 1.0, 2.0], [10.0, 10.0, 10.0], [-5.0, 0.0, 5.0]])
    X, y = make_blobs(10, centers=centres, cluster_std=0.0, shuffle=False)
    assert X.shape == (10, 3) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [4, 3, 3]  # the remainder goes to the first clusters
    np.testing.assert_array_equal(X, centres[y])


def test_blobs_statistics():
    X, y = make_blobs([3000, 2000], centers=[[0.0, 0.0], [20.0, -20.0]],
                      cluster_std=[1.0, 3.0], random_state=0)  # fmt: skip
    assert np.bincount(y).tolist() == [3000, 2000]
    np.testing.assert_allclose(X[y == 0].mean(0), [0.0, 0.0], atol=0.1)
    np.testing.assert_allclose(X[y == 1].mean(0), [20.0, -20.0], atol=0.3)
    np.testing.assert_allclose(X[y == 0].std(0), [1.0, 1.0], rtol=0.05)
    np.testing.assert_allclose(X[y == 1].std(0), [3.0, 3.0], rtol=0.05)


def test_blobs_random_centres_and_seed():
    X, y = make_blobs(90, n_features=4, cluster_std=0.0, center_box=(-1.0, 1.0),
                      random_state=7)  # fmt: skip
    assert X.shape == (90, 4) and np.bincount(y).tolist() == [30, 30, 30]  # 3 centres default
    assert (np.abs(X) <= 1.0).all()
    assert len(np.unique(X, axis=0)) == 3
    X2, y2 = make_blobs(90, n_features=4, cluster_std=0.0, center_box=(-1.0, 1.0),
                        random_state=7)  # fmt: skip
    assert np.array_equal(X, X2) and np.array_equal(y, y2)


def test_blobs_errors():
    with pytest.raises(ValueError, match="2 counts in n_samples but 3 centers"):
        make_blobs([5, 5], centers=np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"cluster_std must be a non-negative number or one per"):
        make_blobs(10, centers=2, cluster_std=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"cluster_std must be .* one per cluster \(2\)"):
        make_blobs(10, centers=2, cluster_std=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"centers must be an int or a \(n_centers, n_features\)"):
        make_blobs(10, centers=[1.0, 2.0])
    with pytest.raises(ValueError, match="n_features must be a positive int"):
        make_blobs(10, n_features=0)
