"""``cr.cdist``: distances between two sets of row vectors, as ``torch.cdist``."""

from __future__ import annotations

import math
from typing import Any

from .ops import norm
from .tensor import Tensor, as_tensor

__all__ = ["cdist"]


def cdist(x1: Any, x2: Any, p: float = 2.0, compute_mode: str | None = None) -> Tensor:
    r"""The p-norm distance between each row of ``x1`` and each row of ``x2``.

    ``out[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p`` for ``x1`` of shape ``(*B, P, M)``
    and ``x2`` of shape ``(*B, R, M)`` (batch dims broadcast); the result is ``(*B, P, R)``.
    Built on the differentiable ``norm`` of the differences (so the gradient is 0, as in
    PyTorch, where two rows coincide); the memory is ``P * R * M`` per batch.
    ``compute_mode`` is accepted for PyTorch's code (the direct difference is always used).

    Parameters
    ----------
    x1, x2 : Tensor or array
        At least 2-d, the same last dimension and floating dtype.
    p : float, default 2
        Any ``p >= 1``, or ``inf`` (the largest coordinate difference).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cdist(cr.tensor([[0.0, 0.0], [3.0, 0.0]]), cr.tensor([[3.0, 4.0]])).tolist()
    [[5.0], [4.0]]
    """
    a, b = as_tensor(x1), as_tensor(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"cdist: expected x1 (*, P, M) and x2 (*, R, M) with the same M, got shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        raise TypeError(f"cdist: expected floating tensors, got dtypes {a.dtype} and {b.dtype}")
    if not isinstance(p, (int, float)) or isinstance(p, bool) or math.isnan(p) or p < 1:
        raise ValueError(
            f"cdist: p must be a number >= 1 or inf (PyTorch's p < 1 is not supported), got {p!r}"
        )
    if compute_mode not in (
        None,
        "use_mm_for_euclid_dist_if_necessary",
        "use_mm_for_euclid_dist",
        "donot_use_mm_for_euclid_dist",
    ):
        raise ValueError(f"cdist: unknown compute_mode {compute_mode!r}")
    diff = a.unsqueeze(-2) - b.unsqueeze(-3)
    return norm(diff, ord=p, axis=-1)
