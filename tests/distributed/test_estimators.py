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
