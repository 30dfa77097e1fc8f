"""Linear algebra primitives: matmul (the ``@`` operator), dot, outer, einsum.

The gradient of a product is a product with the other factor transposed::

    out = a @ b        da = g @ b^T        db = a^T @ g

Batched operands swap their last two axes instead of transposing; 1-D operands are promoted to
a row (``a``) or a column (``b``) and the gradient squeezed back; batch axes that were
broadcast are summed by the walk. ``einsum``'s gradient is another einsum: the output's
subscripts take the place of the operand being differentiated.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..autodiff import state
from ..backend import namespace_of
from ..tensor import Tensor, _leaf, record
from .define import NP, apply, define, raw, xp_of
from .elementwise import multiply

__all__ = ["matmul", "dot", "outer", "einsum"]

_ndarray = np.ndarray


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(getattr(x, "shape", ()))


# ------------------------------------------------------------------------------- matmul
def _promoted_grad(xp: Any, g: Any, a: Any, b: Any, wrt_a: bool) -> Any:
    """The rule for every case but 2-D @ 2-D: promote 1-D operands to a row (a) / column (b),
    put the squeezed axes back into ``g``, multiply by the swapped other factor, squeeze."""
    na, nb = a.ndim, b.ndim
    if na == 1 and nb == 1:  # a . b is 0-d
        return g * b if wrt_a else g * a
    if nb == 2 and not wrt_a and na > 2:
        # One weight shared by a stack: contract the stack in one product, not B of them.
        k = a.shape[-1]
        return a.reshape((-1, k)).T @ g.reshape((-1, b.shape[-1]))
    gs = g.shape
    if na == 1:
        g = g.reshape(gs[:-1] + (1,) + gs[-1:])
        a = a.reshape((1,) + a.shape)
    elif nb == 1:
        g = g.reshape(gs + (1,))
        b = b.reshape(b.shape + (1,))
    if wrt_a:
        r = xp.matmul(g, xp.swapaxes(b, -1, -2))
        return r.reshape(r.shape[:-2] + r.shape[-1:]) if na == 1 else r
    r = xp.matmul(xp.swapaxes(a, -1, -2), g)
    return r.reshape(r.shape[:-1]) if nb == 1 else r


def _d_matmul_a(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T  # the hot path of every dense layer: one BLAS call, no copy
    return _promoted_grad(xp, g, a, b, True)


def _d_matmul_b(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 2 and b.ndim == 2:
        return a.T @ g
    return _promoted_grad(xp, g, a, b, False)


_matmul = define("matmul", (_d_matmul_a, _d_matmul_b),
                 "da = g @ b^T;  db = a^T @ g  (batched: swap the last two axes; "
                 "1-D operands promoted to a row / column, then squeezed)")


def _matmul_error(op: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> ValueError:
    if not sa or not sb:
        which = "a" if not sa else "b"
        return ValueError(
            f"{op}: shapes {sa} and {sb}: {which} is 0-d, expected at least 1 dimension "
            "(use multiply for a scalar factor)"
        )
    ib = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[ib]:
        return ValueError(
            f"{op}: shapes {sa} and {sb} are not aligned: {sa[-1]} (dim {len(sa) - 1} of a) "
            f"!= {sb[ib]} (dim {ib} of b)"
        )
    return ValueError(
        f"{op}: shapes {sa} and {sb}: batch dimensions {sa[:-2]} and {sb[:-2]} cannot be "
        "broadcast together"
    )


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's ``matmul`` semantics (the ``@`` operator).

    2-D @ 2-D is the matrix product; operands with more axes are stacks of matrices whose
    leading (batch) axes broadcast; a 1-D ``a`` is a row vector and a 1-D ``b`` a column vector,
    and that axis is removed from the result (vector @ vector is 0-d). dtypes combine as in
    NumPy (float32 @ float32 stays float32).

    Parameters
    ----------
    a, b : Tensor or array_like
        At least 1-D; ``a.shape[-1]`` must equal ``b.shape[-2]`` (``b.shape[0]`` when 1-D).

    Returns
    -------
    Tensor
        Shape ``broadcast(a.shape[:-2], b.shape[:-2]) + (n, m)``, 1-D axes dropped.

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> (a @ cr.tensor([1.0, 1.0])).tolist()
    [3.0, 7.0]
    >>> cr.matmul(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])).item()
    11.0
    """
    if isinstance(a, Tensor):
        ad = a._data
        ar = a._rg
    else:
        ad = raw(a)
        ar = False
    if isinstance(b, Tensor):
        bd = b._data
        br = b._rg
    else:
        bd = raw(b)
        br = False
    xp = NP if ad.__class__ is _ndarray or bd.__class__ is _ndarray else xp_of(ad, bd)
    try:
        data = xp.matmul(ad, bd)
    except (ValueError, TypeError):
        raise _matmul_error("matmul", _shape(ad), _shape(bd)) from None
    if (ar or br) and state.grad_enabled:
        return record(_matmul, data, (ad, bd), (a if ar else None, b if br else None))
    return _leaf(data)


# ---------------------------------------------------------------------------- dot, outer
def dot(a: Any, b: Any) -> Tensor:
    """Dot product with NumPy's ``dot`` semantics.

    0-d operands multiply; 1-D . 1-D is the inner product; 2-D . 2-D the matrix product;
    N-D . 1-D sums over the last axis of ``a``; N-D . M-D (M >= 2) sums over the last axis of
    ``a`` and the second-to-last of ``b``, giving ``a.shape[:-1] + b.shape[:-2] + b.shape[-1:]``
    (no broadcasting, unlike :func:`matmul`).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.dot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0])).item()
    11.0
    >>> cr.dot(cr.ones((2, 3, 4)), cr.ones((5, 4, 6))).shape
    (2, 3, 5, 6)
    """
    sa, sb = _shape(raw(a)), _shape(raw(b))
    na, nb = len(sa), len(sb)
    if na == 0 or nb == 0:
        return multiply(a, b)
    ib = 0 if nb == 1 else nb - 2
    if sa[-1] != sb[ib]:
        raise _matmul_error("dot", sa, sb)
    if nb == 1 or na == 1 or nb == 2:
        return matmul(a, b)  # the same contraction, and no batch axes to broadcast
    letters = _LETTERS[: na + nb - 1]
    sub_a = letters[:na]
    sub_b = letters[na : na + nb - 2] + sub_a[-1] + letters[-1]
    out = sub_a[:-1] + sub_b[:-2] + sub_b[-1]
    return einsum(f"{sub_a},{sub_b}->{out}", a, b)


_outer = define("outer", (
    lambda xp, g, out, a, b: xp.matmul(g, b.reshape((-1,))).reshape(a.shape),
    lambda xp, g, out, a, b: xp.matmul(a.reshape((-1,)), g).reshape(b.shape)),
    "da = g @ b;  db = a @ g  (a, b flattened)")  # fmt: skip


def outer(a: Any, b: Any) -> Tensor:
    """Outer product ``out[i, j] = a[i] * b[j]`` of the flattened operands, as ``numpy.outer``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.outer(cr.tensor([1.0, 2.0]), cr.tensor([1.0, 10.0, 100.0])).tolist()
    [[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]]
    """
    return apply(_outer, lambda xp, a, b: xp.outer(a, b), (a, b))


# ------------------------------------------------------------------------------ einsum
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@functools.lru_cache(maxsize=512)
def _parse_einsum(
    subscripts: str, shapes: tuple[tuple[int, ...], ...]
) -> tuple[str, tuple[str, ...], str, dict[str, int]]:
    """Rewrite ``subscripts`` with letters only: ``...`` becomes fresh letters (right-aligned
    across operands, as NumPy broadcasts it) and the implicit output is spelled out.

    Returns the rewritten subscripts, the per-operand terms, the output term and each letter's
    size (the largest over operands, since a size-1 axis broadcasts).
    """
    s = subscripts.replace(" ", "")
    if s.count("->") > 1 or ("-" in s.replace("->", "")) or (">" in s.replace("->", "")):
        raise ValueError(f"einsum: subscripts {subscripts!r} have a misplaced '->'")
    explicit = "->" in s
    lhs, rhs = s.split("->") if explicit else (s, "")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), but "
            f"{len(shapes)} were given"
        )
    for term in terms + [rhs]:
        body = term.replace("...", "", 1)
        bad = sorted({c for c in body if c not in _LETTERS})
        if bad:
            raise ValueError(
                f"einsum: invalid character(s) {''.join(bad)!r} in subscripts {subscripts!r}; "
                "expected letters a-z, A-Z, ',', '->' and at most one '...' per operand"
            )
    used = {c for c in s if c in _LETTERS}
    fresh = iter(c for c in _LETTERS if c not in used)
    n_ell = 0
    for term, shape in zip(terms, shapes):
        named = len(term.replace("...", ""))
        if "..." in term:
            if len(shape) < named:
                raise ValueError(
                    f"einsum: operand of shape {shape} has {len(shape)} dimension(s), fewer "
                    f"than the {named} named in {term!r} (subscripts {subscripts!r})"
                )
            n_ell = max(n_ell, len(shape) - named)
        elif len(shape) != named:
            raise ValueError(
                f"einsum: operand of shape {shape} has {len(shape)} dimension(s), but its "
                f"subscripts {term!r} name {named} (subscripts {subscripts!r})"
            )
    try:
        ell = "".join(next(fresh) for _ in range(n_ell))
    except StopIteration:
        raise ValueError(f"einsum: too many dimensions for subscripts {subscripts!r}") from None
    # NumPy aligns the ``...`` axes of all operands on the right, like broadcasting.
    ins = tuple(
        t.replace("...", ell[n_ell - (len(shape) - len(t) + 3):]) for t, shape in zip(terms, shapes)
    )
    if explicit:
        if "..." not in rhs and n_ell and any("..." in t for t in terms):
            raise ValueError(
                f"einsum: output subscripts of {subscripts!r} must contain '...' when the "
                "inputs do"
            )
        out = rhs.replace("...", ell)
        if len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts of {subscripts!r} repeat an index")
        missing = sorted(set(out) - set("".join(ins)))
        if missing:
            raise ValueError(
                f"einsum: output index {''.join(missing)!r} of {subscripts!r} does not appear "
                "in any operand"
            )
    else:
        counts: dict[str, int] = {}
        for c in "".join(terms).replace("...", ""):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1))
    sizes: dict[str, int] = {}
    for term, shape in zip(ins, shapes):
        own: dict[str, int] = {}
        for c, n in zip(term, shape):
            if c in own and own[c] != n:
                raise ValueError(
                    f"einsum: index {c!r} is repeated in operand {term!r} of shape {shape} "
                    f"with different sizes {own[c]} and {n} (subscripts {subscripts!r})"
                )
            own[c] = n
            m = sizes.get(c, 1)
            if m != n and m != 1 and n != 1:
                raise ValueError(
                    f"einsum: index {c!r} has size {m} in one operand and {n} in another "
                    f"(operand shapes {shapes}, subscripts {subscripts!r})"
                )
            sizes[c] = n if m == 1 else m
    return ",".join(ins) + "->" + out, ins, out, sizes


@functools.lru_cache(maxsize=512)
def _einsum_grad_plan(
    ins: tuple[str, ...], out: str, k: int
) -> tuple[str, tuple[int, ...], tuple[str, ...], tuple[int, ...]]:
    """How to differentiate operand ``k``: the einsum that computes its gradient.

    The gradient of operand k contracts ``g`` (with the output's subscripts) with every other
    operand, producing operand k's subscripts. An index repeated within operand k (a diagonal,
    ``"ii"``) is renamed on its second occurrence and tied back by an identity matrix; an index
    only operand k has (summed away inside it) is left out and broadcast afterwards.

    Returns the gradient subscripts, the other operands' positions, the identity matrices'
    index pairs and the positions of operand k's axes to broadcast.
    """
    term = ins[k]
    used = set(out).union(*ins)
    fresh = iter(c for c in _LETTERS if c not in used)
    seen: set[str] = set()
    renamed = []
    eyes = []
    for c in term:
        if c in seen:
            f = next(fresh)
            renamed.append(f)
            eyes.append(c + f)
        else:
            seen.add(c)
            renamed.append(c)
    others = tuple(j for j in range(len(ins)) if j != k)
    available = set(out).union(*(ins[j] for j in others), *eyes)
    target = "".join(c for c in renamed if c in available)
    broadcast = tuple(p for p, c in enumerate(renamed) if c not in available)
    subs = ",".join((out,) + tuple(ins[j] for j in others) + tuple(eyes)) + "->" + target
    return subs, others, tuple(eyes), broadcast


def _identity(like: Any, n: int) -> Any:
    data = like._data if isinstance(like, Tensor) else like
    return namespace_of(data).eye(n, dtype=data.dtype)


def _einsum_vjp(k: int) -> Any:
    def vjp(xp: Any, g: Any, out: Any, *args: Any) -> Any:
        ins, out_term, sizes, optimize, _ = args[-1]
        subs, others, eyes, broadcast = _einsum_grad_plan(ins, out_term, k)
        operands = [g] + [args[j] for j in others] + [_identity(g, sizes[e[0]]) for e in eyes]
        r = xp.einsum(subs, *operands, optimize=optimize)
        if broadcast:
            term = ins[k]
            full = tuple(sizes[c] for c in term)
            r = xp.broadcast_to(
                r.reshape(tuple(1 if p in broadcast else n for p, n in enumerate(full))), full
            )
        return r

    return vjp


_EINSUM_MAX_OPERANDS = 64  # NumPy's own limit (NPY_MAXARGS)
_einsum = define("einsum", tuple(_einsum_vjp(k) for k in range(_EINSUM_MAX_OPERANDS)),
                 "d(operand k) = einsum(g and the other operands -> operand k's subscripts)")


def _einsum_forward(xp: Any, *args: Any) -> Any:
    spec = args[-1]
    return xp.einsum(spec[4], *args[:-1], optimize=spec[3])


def einsum(subscripts: str, *operands: Any, optimize: Any = False) -> Tensor:
    """Einstein summation, as ``numpy.einsum``: explicit (``"ij,jk->ik"``) and implicit
    (``"ij,jk"``) forms, ``...`` for broadcast axes, repeated indices for diagonals.

    The gradient of each operand is itself an einsum, so second derivatives work too.

    Parameters
    ----------
    subscripts : str
        The subscripts; NumPy's interleaved ``einsum(op, sublist, ...)`` form is not supported.
    *operands : Tensor or array_like
    optimize : bool or str
        Passed to the backend's einsum (``True``/``"greedy"`` contracts through BLAS).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.einsum("ij->j", a).tolist()
    [4.0, 6.0]
    >>> cr.einsum("ii", a).item()
    5.0
    """
    if not isinstance(subscripts, str):
        raise TypeError(
            f"einsum: subscripts must be a str such as 'ij,jk->ik', got "
            f"{type(subscripts).__name__} (the interleaved sublist form is not supported)"
        )
    if not operands:
        raise ValueError(f"einsum: subscripts {subscripts!r} given no operands")
    if len(operands) > _EINSUM_MAX_OPERANDS:
        raise ValueError(f"einsum: at most {_EINSUM_MAX_OPERANDS} operands, got {len(operands)}")
    shapes = tuple(_shape(o._data if isinstance(o, Tensor) else raw(o)) for o in operands)
    full, ins, out, sizes = _parse_einsum(subscripts, shapes)
    return apply(_einsum, _einsum_forward, operands, ((ins, out, sizes, optimize, full),))


# Operators and methods that belong to this family.
Tensor.__matmul__ = matmul  # type: ignore[method-assign]
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)  # type: ignore[method-assign]
Tensor.dot = dot  # type: ignore[attr-defined]
