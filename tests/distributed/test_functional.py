"""Differentiable sums over ranks: all_reduce, replicated, sum_replicated."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributed import all_reduce, replicated, sum_replicated
from chainrule.ops import primitive_table
from chainrule.testing import gradcheck, gradgradcheck

from .mpirun import REPORT, check, needs_mpi, reports, run

X = np.array([[0.3, -1.2, 0.7], [1.5, 0.1, -0.4]])


@pytest.mark.parametrize("op", [all_reduce, replicated, sum_replicated])
def test_one_rank_is_the_identity_with_first_and_second_derivatives(op):
    def f(x):
        return (op(x.tanh()) * x).sum() + op(x * x).exp().sum()

    assert gradcheck(f, X)
    assert gradgradcheck(f, X)
    np.testing.assert_array_equal(op(cr.tensor(X)).numpy(), X)


@pytest.mark.parametrize("op", [all_reduce, replicated, sum_replicated])
def test_float32_stays_float32_and_formulas_are_in_the_table(op):
    assert op(cr.ones(2, dtype="float32")).dtype == np.float32
    formula = primitive_table[op.__name__].formula
    assert formula == {"all_reduce": "all_reduce(g)", "replicated": "sum_replicated(g)",
                       "sum_replicated": "replicated(g)"}[op.__name__]  # fmt: skip
    x = cr.ones(2, requires_grad=True)
    assert f"{op.__name__}" in str(cr.explain((op(x) * 2).sum()))


MULTI = (
    REPORT
    + """
import numpy as np
import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import all_reduce, replicated, sum_replicated
from chainrule.testing import gradcheck, gradgradcheck

R, me = dist.world_size(), dist.rank()
c = np.array([1.0 + me, -0.5 * me, 2.0])  # each rank's own data
x0 = np.array([0.2, -0.3, 0.5])           # the same on every rank (a replicated parameter)

# J = sum_r h_r(x): every rank evaluates all of J; its gradient is the full sum of the ranks'.
def J(x):
    return sum_replicated(((replicated(x) * c).tanh() ** 2).sum())

ok1 = gradcheck(J, x0) and gradgradcheck(J, x0)
x = cr.tensor(x0, requires_grad=True)
value = J(x)
value.backward()
allc = np.array([[1.0 + r, -0.5 * r, 2.0] for r in range(R)])
want_value = float((np.tanh(x0 * allc) ** 2).sum())
want_grad = (2 * np.tanh(x0 * allc) * (1 - np.tanh(x0 * allc) ** 2) * allc).sum(axis=0)

# all_reduce: the objective is sum_r L_r(S), S = sum_r x_r; rank r's gradient is dJ/dx_r.
xr = cr.tensor(c * 0.1, requires_grad=True)
S = all_reduce(xr)
(S.tanh() * c).sum().backward()
S_want = (allc * 0.1).sum(axis=0)
g_want = (1 - np.tanh(S_want) ** 2) * allc.sum(axis=0)
report({
    "ok1": bool(ok1),
    "value": abs(value.item() - want_value),
    "grad": float(np.abs(x.grad.numpy() - want_grad).max()),
    "S": float(np.abs(S.numpy() - S_want).max()),
    "gS": float(np.abs(xr.grad.numpy() - g_want).max()),
})
"""
)


@needs_mpi
@pytest.mark.parametrize("n", [2, 3])
def test_values_and_gradients_across_ranks(n, tmp_path):
    check(run(n, MULTI, tmp_path))
    for r in reports(tmp_path, n):
        assert r["ok1"]
        assert r["value"] < 1e-12 and r["grad"] < 1e-12
        assert r["S"] < 1e-12 and r["gS"] < 1e-12
