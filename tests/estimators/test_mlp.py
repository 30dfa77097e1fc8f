"""estimators.MLPClassifier / MLPRegressor: scikit-learn's API and training loop on chainrule."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from chainrule.estimators import MLPClassifier, MLPRegressor  # noqa: E402


def blobs(n=120, k=3, p=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, p))
    y = np.arange(n) % k
    return centers[y] + rng.normal(size=(n, p)), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    return scaler.transform(Xtr), scaler.transform(Xte), ytr, yte


# ------------------------------------------------------------------- the scikit-learn API
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0),
        MLPRegressor(
            hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01, random_state=0
        ),
    ],
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_digits_accuracy_matches_sklearn(digits):
    Xtr, Xte, ytr, yte = digits
    ours = MLPClassifier(hidden_layer_sizes=(256,), random_state=0).fit(Xtr, ytr)
    with threadpool_limits(1):
        ref = neural_network.MLPClassifier(hidden_layer_sizes=(256,), random_state=0)
        ref.fit(Xtr, ytr)
    assert ours.score(Xte, yte) >= ref.score(Xte, yte) - 0.01
    assert 10 < ours.n_iter_ < 200 and len(ours.loss_curve_) == ours.n_iter_
    assert ours.t_ == ours.n_iter_ * len(ytr)
    assert ours.loss_curve_[-1] < 0.1 * ours.loss_curve_[0]


def test_fitted_attributes_and_layouts():
    X, y = blobs()
    clf = MLPClassifier(
        (8, 5), activation="tanh", learning_rate_init=0.01, max_iter=300, random_state=0
    ).fit(X, y)
    assert [c.shape for c in clf.coefs_] == [(4, 8), (8, 5), (5, 3)]
    assert [b.shape for b in clf.intercepts_] == [(8,), (5,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"
    assert clf.n_features_in_ == 4 and clf.classes_.tolist() == [0, 1, 2]
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    proba = clf.predict_proba(X)
    h = np.tanh(
        np.tanh(X @ clf.coefs_[0] + clf.intercepts_[0]) @ clf.coefs_[1] + clf.intercepts_[1]
    )
    z = h @ clf.coefs_[2] + clf.intercepts_[2]
    np.testing.assert_allclose(proba, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert np.array_equal(clf.predict(X), proba.argmax(axis=1))
    assert clf.score(X, y) > 0.95


def test_binary_uses_one_logistic_unit():
    X, y = blobs(k=2)
    names = np.array(["a", "b"])[y]
    clf = MLPClassifier((6,), solver="lbfgs", random_state=0).fit(X, names)
    assert clf.coefs_[-1].shape == (6, 1) and clf.out_activation_ == "logistic"
    z = np.maximum(X @ clf.coefs_[0] + clf.intercepts_[0], 0) @ clf.coefs_[1] + clf.intercepts_[1]
    np.testing.assert_allclose(clf.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z[:, 0])))
    assert set(clf.predict(X).tolist()) <= {"a", "b"} and clf.score(X, names) > 0.95


def test_glorot_init_from_random_state():
    X, y = blobs()
    for act, factor in (("relu", 6.0), ("logistic", 2.0)):
        clf = MLPClassifier((50,), activation=act, max_iter=1, random_state=3)
        with pytest.warns(ConvergenceWarning):
            clf.fit(X, y)
        bound = np.sqrt(factor / (4 + 50))
        # one small Adam step (lr 1e-3) cannot move a weight far past the init bound
        assert np.abs(clf.coefs_[0]).max() <= bound + 2e-3
        assert np.abs(clf.coefs_[0]).max() > 0.9 * bound
    a = MLPClassifier((5,), max_iter=20, random_state=7)
    b = MLPClassifier((5,), max_iter=20, random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
        b.fit(X, y)
    assert np.array_equal(a.coefs_[0], b.coefs_[0])


def test_regressor_loss_and_multioutput():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    Y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 0])])
    reg = MLPRegressor((32,), solver="lbfgs", alpha=0.0, max_iter=500, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (150, 2) and reg.n_outputs_ == 2
    assert reg.out_activation_ == "identity" and reg.score(X, Y) > 0.95
    np.testing.assert_allclose(reg.loss_, 0.5 * np.mean((reg.predict(X) - Y) ** 2), rtol=1e-8)
    one = MLPRegressor((8,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        one.fit(X, Y[:, 0])
    assert one.predict(X).shape == (150,)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_stops_when_loss_stalls(solver):
    X, y = blobs()
    clf = MLPClassifier((8,), solver=solver, tol=1.0, n_iter_no_change=3, random_state=0)
    clf.fit(X, y)
    # epoch 1 improves on inf; epochs 2-5 do not beat it by tol; stop when the count exceeds 3
    assert clf.n_iter_ == 5


def test_sgd_learning_rate_schedules():
    X, y = blobs()
    kw = dict(solver="sgd", max_iter=5, random_state=0, learning_rate_init=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        inv = MLPClassifier((8,), learning_rate="invscaling", **kw).fit(X, y)
        const = MLPClassifier((8,), **kw).fit(X, y)
    lr = inv._optimizer.param_groups[0]["lr"]
    assert lr == pytest.approx(0.1 / (inv.t_ + 1) ** 0.5)
    assert const._optimizer.param_groups[0]["lr"] == 0.1
    ada = MLPClassifier((8,), learning_rate="adaptive", tol=1.0, n_iter_no_change=2, **kw)
    ada.set_params(max_iter=200).fit(X, y)
    assert ada._optimizer.param_groups[0]["lr"] <= 1e-6  # divided by 5 until below 1e-6


def test_pipeline_and_grid_search():
    X, y = blobs(n=90)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(solver="lbfgs", random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1.0], "mlpclassifier__hidden_layer_sizes": [(4,)]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.9 and search.predict(X).shape == (90,)


def test_clone_and_pickle_round_trip():
    X, y = blobs()
    clf = MLPClassifier((8,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        twin = clone(clf)
        assert twin.get_params() == clf.get_params() and not hasattr(twin, "coefs_")
        assert np.array_equal(twin.fit(X, y).predict_proba(X), clf.predict_proba(X))
    back = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))
    # the unpickled estimator keeps training from its own state
    back.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert np.array_equal(back.predict_proba(X), clf.predict_proba(X))


def test_partial_fit():
    X, y = blobs()
    clf = MLPClassifier((8,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert clf.classes_.tolist() == [0, 1, 2] and clf.coefs_[-1].shape == (8, 3)
    for _ in range(60):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 61 and len(clf.loss_curve_) == 61
    assert clf.loss_curve_[-1] < clf.loss_curve_[1] and clf.score(X, y) > 0.9
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        clf.partial_fit(X[:2], [0, 7])
    reg = MLPRegressor((4,), random_state=0).partial_fit(X, y.astype(float))
    assert reg.n_iter_ == 1
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")


def test_early_stopping():
    X, y = blobs(n=200)
    clf = MLPClassifier(
        (8,), early_stopping=True, batch_size=32, learning_rate_init=0.01, random_state=0
    ).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.9
    assert clf.n_iter_ < 300
    reg = MLPRegressor(
        (8,), early_stopping=True, batch_size=32, learning_rate_init=0.01, random_state=0
    )
    reg.fit(X, X[:, 0] - X[:, 1])
    assert len(reg.validation_scores_) == reg.n_iter_ and reg.best_validation_score_ > 0.5


def test_warm_start_continues():
    X, y = blobs()
    kw = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(warm_start=True, **kw).fit(X, y)
        first = [c.copy() for c in clf.coefs_]
        clf.fit(X, y)
        cold = MLPClassifier(**kw).fit(X, y)
        cold.fit(X, y)
    assert clf.n_iter_ == 20 and len(clf.loss_curve_) == 20
    assert clf.loss_curve_[10] < clf.loss_curve_[0]  # did not restart from the init
    assert not np.array_equal(clf.coefs_[0], first[0])
    assert cold.n_iter_ == 10


def test_sample_weight_two_equals_duplication():
    X, y = blobs(n=60)
    w = np.ones(60)
    w[:10] = 2.0
    Xd, yd = np.concatenate([X, X[:10]]), np.concatenate([y, y[:10]])
    kw = dict(hidden_layer_sizes=(8,), max_iter=1, shuffle=False, batch_size=1000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(**kw).fit(X, y, sample_weight=w)
        b = MLPClassifier(**kw).fit(Xd, yd)
    assert a.loss_curve_[0] == pytest.approx(b.loss_curve_[0], rel=1e-12)
    np.testing.assert_allclose(a.coefs_[0], b.coefs_[0], rtol=1e-10, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPRegressor(**kw).fit(X, X[:, 0], sample_weight=w)
        b = MLPRegressor(**kw).fit(Xd, Xd[:, 0])
    assert a.loss_curve_[0] == pytest.approx(b.loss_curve_[0], rel=1e-12)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-10, atol=1e-12)


def test_class_weight_changes_predictions():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0.0, 1.0, (180, 2)), rng.normal(1.0, 1.0, (20, 2))])
    y = np.r_[np.zeros(180, int), np.ones(20, int)]
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=2000, random_state=0)
    plain = MLPClassifier(**kw).fit(X, y)
    balanced = MLPClassifier(class_weight="balanced", **kw).fit(X, y)
    assert (balanced.predict(X) == 1).sum() > 2 * (plain.predict(X) == 1).sum()
    weighted = MLPClassifier(**kw).fit(X, y, sample_weight=np.where(y == 1, 9.0, 1.0))
    by_dict = MLPClassifier(class_weight={0: 1.0, 1: 9.0}, **kw).fit(X, y)
    np.testing.assert_allclose(by_dict.predict_proba(X), weighted.predict_proba(X), atol=1e-10)


def test_dropout_trains_and_is_off_at_predict():
    X, y = blobs()
    clf = MLPClassifier((32,), dropout=0.3, max_iter=300, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert np.array_equal(clf.predict_proba(X), clf.predict_proba(X))
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        MLPClassifier(dropout=0.5, solver="lbfgs").fit(X, y)


def test_errors():
    X, y = blobs()
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        MLPClassifier(device="tpu").fit(X, y)
    with pytest.raises(ValueError, match="device must be"):
        MLPRegressor(device="cuda:first").fit(X, y.astype(float))
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier().fit(bad, y)
    clf = MLPClassifier((4,), solver="lbfgs", random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match="only one class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="activation must be one of"):
        MLPClassifier(activation="gelu").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(0,)).fit(X, y)


def _sklearn_objective(ours, X, y, sample_weight):
    """scikit-learn's own loss function (data term plus its L2 term) at ``ours``' weights."""
    kind = neural_network.MLPClassifier if ours._is_clf else neural_network.MLPRegressor
    ref = kind(hidden_layer_sizes=ours.hidden_layer_sizes, activation=ours.activation,
               alpha=ours.alpha, solver="lbfgs", max_iter=1, random_state=0)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref.fit(X, y)  # builds the layers and the label binariser
    ref.coefs_ = [c.copy() for c in ours.coefs_]
    ref.intercepts_ = [b.copy() for b in ours.intercepts_]
    target = ref._label_binarizer.transform(y) if ours._is_clf else y.reshape(len(y), -1)
    n_layers = len(ref.coefs_) + 1
    activations = [X] + [None] * (n_layers - 1)
    deltas = [None] * (n_layers - 1)
    coef_grads = [np.empty_like(c) for c in ref.coefs_]
    intercept_grads = [np.empty_like(b) for b in ref.intercepts_]
    loss, _, _ = ref._backprop(
        X, target, sample_weight, activations, deltas, coef_grads, intercept_grads
    )
    return loss


@pytest.mark.parametrize(
    ("kind", "k"), [(MLPClassifier, 3), (MLPClassifier, 2), (MLPRegressor, None)]
)
def test_lbfgs_loss_is_sklearns_objective_with_alpha_over_the_weight_sum(kind, k):
    """``loss_`` of an L-BFGS fit is the objective at the fitted weights: scikit-learn's
    ``_backprop`` loss at the same weights, data term plus 0.5 * alpha * ||W||^2 / sum(w).
    With alpha = 1 and weights summing to 3.5 * n, the L2 term is a large part of it."""
    X, y = blobs(n=60, k=k or 3)
    if kind is MLPRegressor:
        y = X @ [1.0, -0.5, 0.25, 2.0] + np.sin(X[:, 0])
    w = np.linspace(0.5, 6.5, len(y))  # sums to 3.5 * n: dividing by n would not match
    est = kind((5,), solver="lbfgs", alpha=1.0, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y, sample_weight=w)
    expected = _sklearn_objective(est, X, y, w)
    penalty = 0.5 * sum(float((c**2).sum()) for c in est.coefs_) / w.sum()
    assert penalty > 1e-3 * expected  # the L2 term is not lost in the tolerance
    np.testing.assert_allclose(est.loss_, expected, rtol=1e-9)


@pytest.mark.parametrize(("solver", "threads"), [("lbfgs", 1), ("adam", 2)])
def test_lbfgs_fits_on_one_blas_thread_and_adam_on_numpys(monkeypatch, solver, threads):
    """Counted from inside the objective during the fit: L-BFGS limits every pool to one
    thread (SciPy's and NumPy's BLAS would fight), the stochastic solvers leave them alone."""
    from threadpoolctl import threadpool_info

    def pools():
        return sorted((p["user_api"], p["num_threads"]) for p in threadpool_info())

    seen = []
    real_objective = MLPClassifier._objective

    def counting_objective(self, *args):
        if len(seen) < 3:
            seen.append(pools())
        return real_objective(self, *args)

    monkeypatch.setattr(MLPClassifier, "_objective", counting_objective)
    X, y = blobs()
    with threadpool_limits(2):
        import scipy.optimize  # noqa: F401 - loads SciPy's BLAS, as the fit would

        outside = pools()
        if not any(api == "blas" for api, _ in outside):
            pytest.skip("no BLAS pool that threadpoolctl can see")
        assert all(n == 2 for _, n in outside)  # else the test could not fail
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier((4,), solver=solver, max_iter=3, random_state=0).fit(X, y)
        assert pools() == outside
    assert len(seen) == 3
    for inside in seen:
        assert [api for api, _ in inside] == [api for api, _ in outside]
        assert all(n == threads for _, n in inside), inside
