"""LogisticRegression(distributed=True): rows split over ranks, the single-process fit."""

import numpy as np
import pytest

from chainrule.estimators import LogisticRegression

from .mpirun import REPORT, check, needs_mpi, reports, run

SCRIPT = (
    REPORT
    + """
import numpy as np
import chainrule.distributed as dist
from chainrule.estimators import LogisticRegression

R, me = dist.world_size(), dist.rank()
rng = np.random.default_rng(0)
X = rng.normal(size=(90, 4))
score = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.7, 90) > 0).astype(int) + (X[:, 2] > 0.4)
y3 = np.array(["ant", "bee", "cat"])[score]
y2 = (X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(0, 1, 90) > 0).astype(int)
w = rng.uniform(0.5, 2.0, size=90)
# uneven shards; rank 0 gets no "cat" at all in the 3-class problem
order = np.argsort(y3 == "cat", kind="stable")
cuts = np.linspace(0, 90, R + 1).astype(int)
mine = order[cuts[me]:cuts[me + 1]]
out = {}
cases = {
    "binary": (y2, dict()),
    "multi_balanced": (y3, dict(class_weight="balanced", C=0.5)),
    "multi_weighted_nopenalty": (y3, dict(penalty=None, fit_intercept=False)),
}
for name, (y, kw) in cases.items():
    sw = w if name != "multi_balanced" else None
    d = LogisticRegression(distributed=True, tol=1e-10, max_iter=2000, **kw)
    d.fit(X[mine], y[mine], sample_weight=None if sw is None else sw[mine])
    coefs = np.concatenate([d.coef_.ravel(), d.intercept_])
    same = all(np.array_equal(coefs, g) for g in dist.allgather_json(coefs.tolist()))
    ref = LogisticRegression(tol=1e-10, max_iter=2000, **kw).fit(X, y, sample_weight=sw)
    out[name] = {
        "err": max(float(np.abs(d.coef_ - ref.coef_).max()),
                   float(np.abs(d.intercept_ - ref.intercept_).max())),
        "size": float(np.abs(ref.coef_).max()), "same": same,
        "classes": d.classes_.tolist(), "ref_classes": ref.classes_.tolist(),
    }
report(out)
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_distributed_logistic_regression_equals_the_fit_on_all_rows(n, tmp_path):
    check(run(n, SCRIPT, tmp_path))
    for rank_result in reports(tmp_path, n):
        for case, r in rank_result.items():
            assert r["same"], case  # every rank ends with the same coefficients
            assert r["classes"] == r["ref_classes"], case
            assert r["size"] > 0.1, case
            assert r["err"] < 1e-5, (case, r)


def test_one_process_distributed_changes_nothing():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    a = LogisticRegression(distributed=True).fit(X, y)
    b = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-12)
    assert a.get_params()["distributed"] is True


MLP_SCRIPT = (
    REPORT
    + """
import warnings
import numpy as np
import chainrule.distributed as dist
from chainrule.estimators import MLPClassifier, MLPRegressor

R, me = dist.world_size(), dist.rank()
rng = np.random.default_rng(3)
X = rng.normal(size=(60, 3))
yc = np.where(X[:, 0] * X[:, 1] > 0, "in", "out")
yr = np.sin(X[:, 0]) + 0.5 * X[:, 2]
mine = np.arange(60)[me::R]
out = {}
warnings.simplefilter("ignore")  # max_iter is reached on purpose: the paths must still agree
for name, cls, y, kw in (("clf", MLPClassifier, yc, dict(class_weight="balanced")),
                         ("reg", MLPRegressor, yr, dict())):
    common = dict(hidden_layer_sizes=(6,), activation="tanh", solver="lbfgs", max_iter=40,
                  random_state=0, alpha=1e-3, **kw)
    d = cls(distributed=True, **common).fit(X[mine], y[mine])
    ref = cls(**common).fit(X, y)
    flat = np.concatenate([c.ravel() for c in d.coefs_ + d.intercepts_])
    want = np.concatenate([c.ravel() for c in ref.coefs_ + ref.intercepts_])
    same = all(np.array_equal(flat, g) for g in dist.allgather_json(flat.tolist()))
    out[name] = {"err": float(np.abs(flat - want).max()), "same": same,
                 "loss": abs(d.loss_ - ref.loss_), "moved": float(np.abs(want).max())}
report(out)
"""
)


@needs_mpi
def test_distributed_mlp_lbfgs_equals_the_fit_on_all_rows(tmp_path):
    check(run(3, MLP_SCRIPT, tmp_path))
    for rank_result in reports(tmp_path, 3):
        for case, r in rank_result.items():
            assert r["same"], case
            # L-BFGS on a non-convex loss amplifies the rounding of sums taken in another
            # order: equal to a relative 1e-6 of the weights, the loss to 1e-7.
            assert r["err"] < 1e-6 * r["moved"] and r["loss"] < 1e-7, (case, r)
            assert r["moved"] > 0.1, case


def test_distributed_mlp_needs_lbfgs():
    from chainrule.estimators import MLPRegressor

    with pytest.raises(ValueError, match="distributed=True fits with solver='lbfgs' only"):
        MLPRegressor(distributed=True).fit(np.ones((4, 1)), np.ones(4))
