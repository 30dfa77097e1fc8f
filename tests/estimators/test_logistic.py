"""estimators.LogisticRegression: scikit-learn's objective and API, chainrule's gradients."""

from __future__ import annotations

import importlib
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr

pytest.importorskip("sklearn")

from scipy.special import logsumexp  # noqa: E402
from sklearn import linear_model  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from chainrule.estimators import LogisticRegression  # noqa: E402

TIGHT = {"tol": 1e-10, "max_iter": 10000}


def objective(coef, intercept, X, y, C=1.0, s=None):
    """sum_i s_i loss_i + 0.5/C ||coef||^2, in NumPy: the reference for both libraries."""
    s = np.ones(len(y)) if s is None else s
    z = X @ coef.T + intercept
    if coef.shape[0] == 1:
        loss = np.logaddexp(0.0, z[:, 0]) - (y == 1) * z[:, 0]
    else:
        loss = logsumexp(z, axis=1) - z[np.arange(len(y)), y]
    return s @ loss + (0.0 if C == np.inf else 0.5 / C * (coef**2).sum())


def sklearn_fit(X, y, sample_weight=None, **params):
    """sklearn's LogisticRegression, fitted on one BLAS thread (no 2-core thread fight)."""
    with threadpool_limits(1):
        return linear_model.LogisticRegression(**params).fit(X, y, sample_weight=sample_weight)


def standardized(name):
    X, y = getattr(cr.data, f"load_{name}")()
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    return standardized("iris")


def noisy_binary(n=200, p=3, seed=0):
    """Overlapping classes: the unpenalised optimum is finite."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = (X @ np.arange(1.0, p + 1) + 2.0 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


# ----------------------------------------------------------------------- parity with sklearn
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_objective_matches_sklearn_at_both_solutions(name):
    X, y = standardized(name)
    ours = LogisticRegression(**TIGHT).fit(X, y)
    ref = sklearn_fit(X, y, **TIGHT)
    assert ours.coef_.shape == ref.coef_.shape
    assert ours.coef_.shape[0] == (1 if name == "breast_cancer" else len(np.unique(y)))
    f_ours = objective(ours.coef_, ours.intercept_, X, y)
    f_ref = objective(ref.coef_, ref.intercept_, X, y)
    assert abs(f_ours - f_ref) <= 1e-6 * abs(f_ref)
    assert np.mean(ours.predict(X) == ref.predict(X)) >= 0.99
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("name", ["wine", "breast_cancer"])
def test_weighted_objective_matches_sklearn(name):
    X, y = standardized(name)
    sw = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y))
    kw = dict(C=0.3, class_weight="balanced", **TIGHT)
    ours = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
    ref = sklearn_fit(X, y, sw, **kw)
    counts = np.bincount(y, weights=sw)
    s = sw * (sw.sum() / (len(counts) * counts))[y]
    f_ours = objective(ours.coef_, ours.intercept_, X, y, 0.3, s)
    f_ref = objective(ref.coef_, ref.intercept_, X, y, 0.3, s)
    assert abs(f_ours - f_ref) <= 1e-6 * abs(f_ref)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-4, atol=1e-5)


def test_penalty_none_matches_unpenalised_sklearn():
    X, y = noisy_binary()
    ours = LogisticRegression(penalty=None, **TIGHT).fit(X, y)
    ref = sklearn_fit(X, y, C=np.inf, **TIGHT)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-5, atol=1e-7)
    # The penalty shrinks: same data, C=0.01 gives a much smaller coefficient vector.
    small = LogisticRegression(C=0.01, **TIGHT).fit(X, y)
    assert np.linalg.norm(small.coef_) < 0.5 * np.linalg.norm(ours.coef_)


@pytest.mark.parametrize("binary", [True, False])
def test_fit_intercept_false(iris, binary):
    X, y = iris
    if binary:
        y = (y == 1).astype(np.int64)
    ours = LogisticRegression(fit_intercept=False, **TIGHT).fit(X, y)
    ref = sklearn_fit(X, y, fit_intercept=False, **TIGHT)
    assert np.array_equal(ours.intercept_, np.zeros(1 if binary else 3))
    f_ours = objective(ours.coef_, 0.0, X, y)
    f_ref = objective(ref.coef_, 0.0, X, y)
    assert abs(f_ours - f_ref) <= 1e-6 * abs(f_ref)


# ------------------------------------------------------------------- the scikit-learn API
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # n_iter check
@parametrize_with_checks([LogisticRegression()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_fitted_attributes_and_methods(iris):
    X, y = iris
    clf = LogisticRegression(max_iter=500).fit(X, y)
    assert clf.coef_.shape == (3, 4) and clf.intercept_.shape == (3,)
    assert clf.n_features_in_ == 4 and clf.classes_.tolist() == [0, 1, 2]
    assert clf.n_iter_.dtype == np.int32 and clf.n_iter_.shape == (1,)
    assert 0 < clf.n_iter_[0] < 500
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    scores = clf.decision_function(X)
    np.testing.assert_allclose(scores, X @ clf.coef_.T + clf.intercept_)
    assert np.array_equal(clf.predict(X), scores.argmax(axis=1))
    assert clf.score(X, y) > 0.95


def test_binary_decision_function_is_one_column():
    X, y = noisy_binary()
    clf = LogisticRegression().fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(y),) and clf.coef_.shape == (1, 3)
    assert np.array_equal(clf.predict(X), (scores > 0).astype(np.int64))
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-scores)))
    # far from the boundary the log-probabilities stay finite
    assert np.isfinite(clf.predict_log_proba(X * 1e4)).all()


def test_pipeline_and_grid_search():
    X, y = cr.data.load_iris()
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    search = GridSearchCV(pipe, {"logisticregression__C": [0.01, 1.0, 100.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["logisticregression__C"] in (1.0, 100.0)
    assert search.best_score_ > 0.9
    assert search.predict(X).shape == (150,)


def test_clone_and_pickle_round_trip(iris):
    X, y = iris
    clf = LogisticRegression(C=0.5, class_weight="balanced").fit(X, y)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params() and not hasattr(twin, "coef_")
    assert np.array_equal(twin.fit(X, y).predict_proba(X), clf.predict_proba(X))
    back = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert np.array_equal(back.predict(X), clf.predict(X))


@pytest.mark.parametrize("binary", [True, False])
def test_string_labels(iris, binary):
    X, y = iris
    if binary:
        y = np.minimum(y, 1)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    by_name = LogisticRegression().fit(X, names)
    by_index = LogisticRegression().fit(X, y)
    assert by_name.classes_.tolist() == sorted(set(names.tolist()))
    assert np.array_equal(by_name.coef_, by_index.coef_)
    assert np.array_equal(by_name.predict(X), by_name.classes_[by_index.predict(X)])
    assert set(by_name.predict(X).tolist()) <= set(names.tolist())


def test_class_weight_balanced_equals_sample_weights(iris):
    X, y = iris
    keep = np.r_[0:50, 50:70, 100:150]  # 50 / 20 / 50 samples
    X, y = X[keep], y[keep]
    balanced = LogisticRegression(class_weight="balanced", **TIGHT).fit(X, y)
    weights = (len(y) / (3 * np.bincount(y)))[y]
    weighted = LogisticRegression(**TIGHT).fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(balanced.coef_, weighted.coef_, rtol=1e-6, atol=1e-8)
    plain = LogisticRegression(**TIGHT).fit(X, y)
    assert not np.allclose(balanced.coef_, plain.coef_, atol=1e-3)
    as_dict = LogisticRegression(class_weight={0: 1.0, 1: 2.0, 2: 1.0}, **TIGHT).fit(X, y)
    doubled = LogisticRegression(**TIGHT).fit(X, y, sample_weight=np.where(y == 1, 2.0, 1.0))
    np.testing.assert_allclose(as_dict.coef_, doubled.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("binary", [True, False])
def test_sample_weight_two_equals_duplicating(iris, binary):
    X, y = iris
    if binary:
        y = (y == 2).astype(np.int64)
    sw = np.ones(len(y))
    sw[::7] = 2.0
    weighted = LogisticRegression(**TIGHT).fit(X, y, sample_weight=sw)
    dup = np.r_[np.arange(len(y)), np.arange(len(y))[::7]]
    duplicated = LogisticRegression(**TIGHT).fit(X[dup], y[dup])
    np.testing.assert_allclose(weighted.coef_, duplicated.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(weighted.intercept_, duplicated.intercept_, atol=1e-6)
    unweighted = LogisticRegression(**TIGHT).fit(X, y)
    assert not np.allclose(weighted.coef_, unweighted.coef_, atol=1e-3)


def test_max_iter_reached_warns_and_caps_n_iter(iris):
    X, y = iris
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        clf = LogisticRegression(max_iter=2).fit(X, y)
    assert clf.n_iter_.tolist() == [2]


# --------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_rejected(iris, bad):
    X, y = iris
    X = X.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        LogisticRegression().fit(X, y)
    clf = LogisticRegression().fit(iris[0], y)
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        clf.predict(X)


def test_wrong_number_of_features_at_predict(iris):
    X, y = iris
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(
        ValueError,
        match="X has 3 features, but LogisticRegression is expecting 4 features as input",
    ):
        clf.predict(X[:, :3])


def test_single_class_is_rejected(iris):
    X, _ = iris
    with pytest.raises(ValueError, match="at least 2 classes.*only one class: 'a'"):
        LogisticRegression().fit(X, np.array(["a"] * len(X)))


def test_one_dimensional_x_is_rejected(iris):
    X, y = iris
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        LogisticRegression().fit(X[:, 0], y)


def test_continuous_targets_are_rejected(iris):
    with pytest.raises(ValueError, match="Unknown label type"):
        LogisticRegression().fit(iris[0], iris[0][:, 0])


def test_unfitted_estimator_raises(iris):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LogisticRegression().predict(iris[0])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"penalty": "l1"}, "penalty must be 'l2' or None, got 'l1'"),
        ({"C": 0.0}, "C must be a positive number, got 0.0"),
        ({"C": "big"}, "C must be a positive number"),
        ({"solver": "saga"}, "solver must be 'lbfgs'"),
        ({"max_iter": -1}, "max_iter must be an int >= 0, got -1"),
        ({"tol": -1e-3}, "tol must be a number >= 0"),
        ({"class_weight": "auto"}, "class_weight must be a dict, 'balanced' or None"),
        ({"fit_intercept": "yes"}, "fit_intercept must be a bool"),
    ],
)
def test_bad_parameters_raise_before_fitting(iris, params, message):
    clf = LogisticRegression(**params)
    with pytest.raises(ValueError, match=message):
        clf.fit(*iris)
    assert not hasattr(clf, "coef_")


def test_zero_total_weight_is_rejected(iris):
    X, y = iris
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        LogisticRegression().fit(X, y, sample_weight=np.zeros(len(y)))
    no_class = LogisticRegression(class_weight={0: 0.0, 1: 0.0, 2: 0.0})
    with pytest.raises(ValueError, match="sum to 0.0; expected a positive sum"):
        no_class.fit(X, y)


# ------------------------------------------------------------------------ optional extra
def test_import_chainrule_does_not_import_estimators():
    code = "import sys, chainrule; print('chainrule.estimators' in sys.modules)"
    root = pathlib.Path(cr.__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "False"


def test_missing_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    for name in ("chainrule.estimators", "chainrule.estimators.logistic"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[sklearn\]"'):
        importlib.import_module("chainrule.estimators")


def _pool_threads():
    from threadpoolctl import threadpool_info

    return sorted((pool["user_api"], pool["num_threads"]) for pool in threadpool_info())


def test_the_fit_runs_on_one_blas_thread(monkeypatch):
    """Counted from inside the loss, while L-BFGS runs: every BLAS and OpenMP pool at 1."""
    import chainrule.estimators.logistic as logistic

    seen = []
    real_minimize = logistic.minimize

    def counting_minimize(fun, *args, **kwargs):
        def counted():
            if len(seen) < 3:
                seen.append(_pool_threads())
            return fun()

        return real_minimize(counted, *args, **kwargs)

    monkeypatch.setattr(logistic, "minimize", counting_minimize)
    X, y = noisy_binary()
    with threadpool_limits(2):
        outside = _pool_threads()
        if not any(api == "blas" for api, _ in outside):
            pytest.skip("no BLAS pool that threadpoolctl can see")
        assert all(n == 2 for _, n in outside)  # else the test could not fail
        LogisticRegression().fit(X, y)
        assert _pool_threads() == outside  # the limit ends with the fit
    assert len(seen) == 3
    for pools in seen:
        assert [api for api, _ in pools] == [api for api, _ in outside]
        assert all(n == 1 for _, n in pools), pools
