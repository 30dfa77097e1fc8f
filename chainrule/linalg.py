"""Linear algebra, as ``numpy.linalg`` and ``torch.linalg``: ``cr.linalg.<name>``.

Every function here is differentiable and batched: a ``(..., m, n)`` input is a stack of
matrices. The primitives live in :mod:`chainrule.ops.linalg`, each forward beside its gradient
rule (``cr.explain`` prints them); the norms and ``matrix_power`` are compositions of
primitives. The rules are the well-known ones (Giles 2008, "An extended collection of matrix
derivative results"; Seeger et al. 2017; Murray 2016 for Cholesky) and follow PyTorch where a
gradient has a choice to make:

- ``cholesky`` and ``eigh`` read one triangle of a symmetric input and return the symmetric
  gradient;
- ``eigh`` and ``svd``: any loss of the eigen/singular values alone has an exact gradient; a
  loss of the vectors must not depend on their signs, and its gradient is not finite where
  two eigenvalues (singular values) coincide; ``svd(full_matrices=True)`` ignores the gradient
  of the extra columns of U and rows of Vh;
- ``det`` of a singular matrix takes its gradient (the cofactors) from an SVD.

Examples
--------
>>> import chainrule as cr
>>> a = cr.tensor([[2.0, 1.0], [1.0, 3.0]], requires_grad=True)
>>> cr.linalg.det(a).backward()
>>> a.grad.tolist()
[[3.0, -1.0], [-1.0, 2.0]]
"""

from __future__ import annotations

from .ops.linalg import (
    EighResult,
    QRResult,
    SlogdetResult,
    SVDResult,
    cholesky,
    cross,
    det,
    eigh,
    eigvalsh,
    inv,
    kron,
    matmul,
    matrix_norm,
    matrix_power,
    norm,
    outer,
    pinv,
    qr,
    slogdet,
    solve,
    svd,
    svdvals,
    tensordot,
    vector_norm,
)

__all__ = [
    "cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "kron", "matmul",
    "matrix_norm", "matrix_power", "norm", "outer", "pinv", "qr", "slogdet", "solve", "svd",
    "svdvals", "tensordot", "vector_norm",
    "EighResult", "QRResult", "SlogdetResult", "SVDResult",
]  # fmt: skip
