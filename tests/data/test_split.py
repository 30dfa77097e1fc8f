"""train_test_split and Standardizer/standardize."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data import Standardizer, standardize, train_test_split


# ------------------------------------------------------------------------------ train_test_split
@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 60), frac=st.floats(0.01, 0.99), seed=st.integers(0, 1000))
def test_split_is_a_partition_with_aligned_arrays(n, frac, seed):
    X = np.arange(2 * n).reshape(n, 2)
    y = np.arange(n)
    n_test = int(np.ceil(frac * n))
    if not 1 <= n_test <= n - 1:
        with pytest.raises(ValueError, match="both the train and the test part need"):
            train_test_split(X, y, test_size=frac, random_state=seed)
        return
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=frac, random_state=seed)
    assert len(y_te) == n_test and len(y_tr) == n - n_test
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), np.arange(n))
    np.testing.assert_array_equal(X_tr[:, 0] // 2, y_tr)
    np.testing.assert_array_equal(X_te[:, 0] // 2, y_te)


def test_split_reproducible_and_counts():
    y = np.arange(10)
    a = train_test_split(y, test_size=3, random_state=1)
    b = train_test_split(y, test_size=3, random_state=1)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert len(a[1]) == 3
    assert len(train_test_split(y, random_state=0)[1]) == 3  # ceil(0.25 * 10)
    c = train_test_split(y, test_size=3, random_state=2)
    assert not np.array_equal(a[1], c[1])


def test_split_without_shuffle_takes_the_tail():
    tr, te = train_test_split(np.arange(8), test_size=0.25, shuffle=False)
    assert tr.tolist() == list(range(6)) and te.tolist() == [6, 7]


def test_split_keeps_input_kinds():
    t = cr.tensor(np.arange(6.0))
    lst = list("abcdef")
    t_tr, t_te, l_tr, l_te = train_test_split(t, lst, test_size=2, random_state=0)
    assert isinstance(t_tr, cr.Tensor) and isinstance(l_te, list)
    assert [lst[int(v)] for v in t_te.numpy()] == l_te
    assert [lst[int(v)] for v in t_tr.numpy()] == l_tr


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=3)
    assert np.bincount(y_te).tolist() == [12, 6, 2]
    assert np.bincount(y_tr).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[X_te], y_te)
    assert sorted(np.concatenate([X_tr, X_te]).tolist()) == list(range(100))


def test_stratified_split_rounds_like_scikit_learn():
    # 7 test samples over shares 3.5 / 2.1 / 1.4: floors 3, 2, 1 and the one left goes to the
    # largest remainder (class 0).
    y = np.array([0] * 10 + [1] * 6 + [2] * 4)
    _, y_te = train_test_split(y, test_size=7, stratify=y, random_state=0)
    assert np.bincount(y_te).tolist() == [4, 2, 1]


def test_split_errors():
    with pytest.raises(ValueError, match=r"same number of samples .* \[3, 4\]"):
        train_test_split(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"test_size as a fraction must be in \(0, 1\), got 1.5"):
        train_test_split(np.zeros(4), test_size=1.5)
    with pytest.raises(ValueError, match="gives 4 test samples out of 4"):
        train_test_split(np.zeros(4), test_size=4)
    with pytest.raises(TypeError, match="test_size must be a float in"):
        train_test_split(np.zeros(4), test_size="half")
    with pytest.raises(ValueError, match="class 1 has only one sample"):
        train_test_split(np.zeros(5), stratify=np.array([0, 0, 0, 0, 1]))
    with pytest.raises(ValueError, match="stratify needs shuffle=True"):
        train_test_split(np.zeros(4), stratify=np.zeros(4), shuffle=False)
    with pytest.raises(ValueError, match="cannot hold all 3 classes"):
        train_test_split(np.zeros(9), test_size=2, stratify=np.repeat([0, 1, 2], 3))
    with pytest.raises(ValueError, match="expected at least one array"):
        train_test_split()


# ------------------------------------------------------------------------------ Standardizer
def test_standardizer_moments_and_inverse():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=[3.0, -2.0], scale=[5.0, 0.1], size=(200, 2))
    s = Standardizer().fit(X)
    Z = s.transform(X)
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s.mean_, X.mean(0))
    np.testing.assert_allclose(s.scale_, X.std(0))
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-12)


def test_constant_columns_are_only_centred():
    X = np.column_stack([np.full(7, 0.1), np.arange(7.0), np.zeros(7)])
    Z = Standardizer().fit_transform(X)
    assert Standardizer().fit(X).scale_[[0, 2]].tolist() == [1.0, 1.0]
    np.testing.assert_array_equal(Z[:, 2], 0.0)
    assert np.abs(Z[:, 0]).max() < 1e-15  # not rounding noise blown up by a tiny std


def test_standardizer_dtypes():
    X32 = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    assert Standardizer().fit_transform(X32).dtype == np.float32
    Xi = np.array([[1, 2], [3, 6]])
    assert Standardizer().fit_transform(Xi).tolist() == [[-1.0, -1.0], [1.0, 1.0]]
    assert Standardizer().fit_transform(cr.tensor(X32)).dtype == np.float32


def test_standardize_function_uses_the_first_arrays_statistics():
    X_tr = np.array([[0.0, 10.0], [2.0, 30.0]])
    X_te = np.array([[1.0, 50.0]])
    Z_tr, Z_te = standardize(X_tr, X_te)
    assert Z_tr.tolist() == [[-1.0, -1.0], [1.0, 1.0]]
    assert Z_te.tolist() == [[0.0, 3.0]]
    assert standardize(X_tr).tolist() == Z_tr.tolist()


def test_standardizer_errors():
    with pytest.raises(RuntimeError, match="Standardizer.transform: call fit first"):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X has 3 columns, but the standardizer was fitted on 2"):
        s.transform(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"expected a 2-d array .* got shape \(3,\)"):
        Standardizer().fit(np.zeros(3))
    with pytest.raises(TypeError, match="expected numeric data, got dtype <U1"):
        Standardizer().fit(np.array([["a"]]))
    with pytest.raises(ValueError, match="X has no samples"):
        Standardizer().fit(np.zeros((0, 2)))
