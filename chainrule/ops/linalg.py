"""Linear algebra primitives: matmul (the ``@`` operator), dot, outer, einsum, tensordot, kron,
cross, and the matrix functions behind :mod:`chainrule.linalg`.

The gradient of a product is a product with the other factor transposed::

    out = a @ b        da = g @ b^T        db = a^T @ g

Batched operands swap their last two axes instead of transposing; 1-D operands are promoted to
a row (``a``) or a column (``b``) and the gradient squeezed back; batch axes that were
broadcast are summed by the walk. ``einsum``'s gradient is another einsum: the output's
subscripts take the place of the operand being differentiated.

The matrix functions, each on a stack (..., m, n), with ``M^T`` the transpose of the last two
axes (the rules are written with ``xp.linalg``, so they are differentiable again)::

    inv       out = a^{-1}           da = -out^T g out^T
    det       out = det(a)           da = g out a^{-T}      (= g adj(a)^T; SVD cofactors if 0)
    slogdet   out = log|det(a)|      da = g a^{-T}
    solve     x = a^{-1} b           db = a^{-T} g          da = -db x^T
    cholesky  a = L L^T              da = sym(L^{-T} Phi(L^T g) L^{-1})
    qr        a = Q R                da = Q gR + (Q tril(skew) + gQ - Q Q^T gQ) R^{-T}
    eigh      a = V diag(w) V^T      da = V (diag(gw) + skew(V^T gV) / 2E) V^T
    svd       a = U diag(s) V^T      da = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gs)] V^T
                                          + the parts outside U's and V's column spaces
    pinv      P = pinv(a)            da = -P^T g P^T + (I - a P) g^T P P^T + P^T P g^T (I - P a)

A decomposition's outputs are packed into one array by one node, so that its rule sees every
output and every output's gradient together (an unused output's gradient is zero, which the
eigh/svd rules recognise: a loss of the eigen/singular values alone has an exact gradient even
where they repeat).
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, NamedTuple

import numpy as np

from ..autodiff import modes_switched, state
from ..backend import namespace_of
from ..tensor import Tensor, _as_array, _leaf, record
from . import reduce as _reduce
from .define import NP, apply, define, raw, xp_of
from .elementwise import multiply

__all__ = ["matmul", "dot", "outer", "einsum", "tensordot", "kron", "cross"]

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
                 "1-D operands promoted to a row / column, then squeezed)")  # fmt: skip


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
    if (ar or br) and (not modes_switched or state.grad_enabled):
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
        t.replace("...", ell[n_ell - (len(shape) - len(t) + 3) :])
        for t, shape in zip(terms, shapes)
    )
    if explicit:
        if "..." not in rhs and n_ell and any("..." in t for t in terms):
            raise ValueError(
                f"einsum: output subscripts of {subscripts!r} must contain '...' when the inputs do"
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
_einsum = define(
    "einsum",
    tuple(_einsum_vjp(k) for k in range(_EINSUM_MAX_OPERANDS)),
    "d(operand k) = einsum(g and the other operands -> operand k's subscripts)",
)


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


# --------------------------------------------------------------------------- tensordot
def _tensordot_axes(axes: Any, sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[tuple, tuple]:
    """``axes`` as two tuples of non-negative axes (of ``a`` and of ``b``), or a clear error."""
    na, nb = len(sa), len(sb)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > na or n > nb:
            raise ValueError(
                f"tensordot: axes={n} needs 0 <= axes <= min(a.ndim, b.ndim) for shapes {sa} "
                f"and {sb}"
            )
        pair: Any = (tuple(range(na - n, na)), tuple(range(n)))
    else:
        try:
            xa, xb = axes
        except (TypeError, ValueError):
            raise ValueError(
                f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}"
            ) from None
        try:
            xa = (operator.index(xa),) if not hasattr(xa, "__len__") else tuple(xa)
            xb = (operator.index(xb),) if not hasattr(xb, "__len__") else tuple(xb)
            if isinstance(axes, str) or any(
                isinstance(i, bool) or i != operator.index(i) for i in xa + xb
            ):
                raise TypeError
        except TypeError:
            raise ValueError(
                f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}"
            ) from None
        if len(xa) != len(xb):
            raise ValueError(
                f"tensordot: axes {axes!r} pair {len(xa)} axes of a with {len(xb)} of b"
            )
        pair = []
        for ax, n, which, shape in ((xa, na, "a", sa), (xb, nb, "b", sb)):
            if any(not -n <= int(i) < n for i in ax):
                raise ValueError(
                    f"tensordot: axes {ax!r} out of range for {which} of shape {shape}"
                )
            norm = tuple(int(i) % n for i in ax)
            if len(set(norm)) != len(norm):
                raise ValueError(f"tensordot: axes {ax!r} of {which} repeat an axis")
            pair.append(norm)
    for i, j in zip(*pair):
        if sa[i] != sb[j]:
            raise ValueError(
                f"tensordot: shapes {sa} and {sb} do not match along the summed axes: "
                f"{sa[i]} (axis {i} of a) != {sb[j]} (axis {j} of b)"
            )
    return tuple(pair[0]), tuple(pair[1])


def _tensordot_subscripts(na: int, nb: int, xa: tuple, xb: tuple) -> tuple[str, str, str]:
    """The einsum subscripts of ``a``, ``b`` and the result of a tensordot."""
    la = _LETTERS[:na]
    fresh = iter(_LETTERS[na:])
    lb = "".join(la[xa[xb.index(j)]] if j in xb else next(fresh) for j in range(nb))
    out = "".join(c for i, c in enumerate(la) if i not in xa)
    out += "".join(c for j, c in enumerate(lb) if j not in xb)
    return la, lb, out


# The gradient of a contraction is the contraction of g with the other operand, written as an
# einsum so that it is differentiable again (optimize=True contracts through BLAS).
_tensordot = define("tensordot", (
    lambda xp, g, out, a, b, spec: xp.einsum(f"{spec[2]},{spec[1]}->{spec[0]}", g, b,
                                             optimize=True),
    lambda xp, g, out, a, b, spec: xp.einsum(f"{spec[2]},{spec[0]}->{spec[1]}", g, a,
                                             optimize=True)),
    "da = g . b over b's free axes;  db = g . a over a's free axes")  # fmt: skip


def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """Sum of products over the given axes, as ``numpy.tensordot``.

    ``axes=N`` contracts the last ``N`` axes of ``a`` with the first ``N`` of ``b``;
    ``axes=(axes_a, axes_b)`` pairs the listed axes. The result has ``a``'s free axes, then
    ``b``'s. No broadcasting: paired axes must have equal sizes.

    Parameters
    ----------
    a, b : Tensor or array_like
    axes : int or pair of sequences of int

    Returns
    -------
    Tensor

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.ones((2, 3, 4))
    >>> cr.tensordot(a, cr.ones((3, 4, 5))).shape
    (2, 5)
    >>> cr.tensordot(cr.tensor([1.0, 2.0]), cr.tensor([3.0, 4.0]), axes=1).item()
    11.0
    """
    ad = a._data if isinstance(a, Tensor) else _linalg_operand(a, "tensordot")
    bd = b._data if isinstance(b, Tensor) else _linalg_operand(b, "tensordot")
    xa, xb = _tensordot_axes(axes, _shape(ad), _shape(bd))
    spec = _tensordot_subscripts(ad.ndim, bd.ndim, xa, xb)
    data = xp_of(ad, bd).tensordot(ad, bd, axes=(xa, xb))
    return _result(_tensordot, data, (a, b), (ad, bd), (spec,))


# -------------------------------------------------------------------------------- kron
def _kron_parts(xp: Any, g: Any, a: Any, b: Any) -> tuple[Any, Any, str, str, str]:
    """``g`` reshaped with ``a``'s and ``b``'s axes interleaved, ``a`` and ``b`` padded to the
    same number of axes, and the einsum subscripts of the three."""
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    la, lb = _LETTERS[:nd], _LETTERS[nd : 2 * nd]
    gr = g.reshape(tuple(n for pair in zip(sa, sb) for n in pair))
    return gr, (a.reshape(sa), b.reshape(sb)), la, lb, "".join(x + y for x, y in zip(la, lb))


def _d_kron_a(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    gr, (_, bp), la, lb, lg = _kron_parts(xp, g, a, b)
    return xp.einsum(f"{lg},{lb}->{la}", gr, bp, optimize=True).reshape(a.shape)


def _d_kron_b(xp: Any, g: Any, out: Any, a: Any, b: Any) -> Any:
    gr, (ap, _), la, lb, lg = _kron_parts(xp, g, a, b)
    return xp.einsum(f"{lg},{la}->{lb}", gr, ap, optimize=True).reshape(b.shape)


_kron = define("kron", (_d_kron_a, _d_kron_b),
               "g viewed as [i, k] (out[i*nb + k] = a[i] b[k]):  da[i] = sum_k g[i, k] b[k];  "
               "db[k] = sum_i g[i, k] a[i]")  # fmt: skip


def kron(a: Any, b: Any) -> Tensor:
    """Kronecker product, as ``numpy.kron``: blocks ``a[i] * b`` laid out on ``a``'s grid.

    The operand with fewer axes gets leading axes of size 1; the result's shape is the
    element-wise product of the two shapes.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.kron(cr.tensor([1.0, 10.0]), cr.tensor([1.0, 2.0, 3.0])).tolist()
    [1.0, 2.0, 3.0, 10.0, 20.0, 30.0]
    >>> cr.kron(cr.eye(2), cr.ones((2, 3))).shape
    (4, 6)
    """
    ad = a._data if isinstance(a, Tensor) else _linalg_operand(a, "kron")
    bd = b._data if isinstance(b, Tensor) else _linalg_operand(b, "kron")
    if ad.ndim + bd.ndim > len(_LETTERS):
        raise ValueError(f"kron: too many dimensions (shapes {_shape(ad)} and {_shape(bd)})")
    data = xp_of(ad, bd).kron(ad, bd)
    return _result(_kron, data, (a, b), (ad, bd))


# ------------------------------------------------------------------------------- cross
_cross = define("cross", (
    lambda xp, g, out, a, b, axis: xp.cross(b, g, axis=axis),
    lambda xp, g, out, a, b, axis: xp.cross(g, a, axis=axis)),
    "da = b x g;  db = g x a  (g . (da x b) = da . (b x g))")  # fmt: skip


def cross(a: Any, b: Any, axis: int = -1) -> Tensor:
    """Cross product of 3-vectors along ``axis``, with broadcasting (``torch.linalg.cross``).

    ``axis`` counts in the broadcast shape (as PyTorch's ``dim``; the same as NumPy's when the
    operands have equal numbers of axes). Both operands must have size 3 there; NumPy's
    deprecated 2-vectors are not supported.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cross(cr.tensor([1.0, 0.0, 0.0]), cr.tensor([0.0, 1.0, 0.0])).tolist()
    [0.0, 0.0, 1.0]
    """
    ad = a._data if isinstance(a, Tensor) else _linalg_operand(a, "cross")
    bd = b._data if isinstance(b, Tensor) else _linalg_operand(b, "cross")
    nd = max(ad.ndim, bd.ndim)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -nd <= axis < nd:
        raise ValueError(
            f"cross: axis {axis!r} out of range for operands of shapes {_shape(ad)} and "
            f"{_shape(bd)}"
        )
    k = int(axis) - nd if axis >= 0 else int(axis)
    for d, which in ((ad, "a"), (bd, "b")):
        if d.ndim < -k or d.shape[k] != 3:
            raise ValueError(
                f"cross: {which} of shape {_shape(d)} ({d.dtype}) has no axis of size 3 at "
                f"axis {axis} (shapes {_shape(ad)} and {_shape(bd)}); cross needs 3-vectors"
            )
    try:
        data = xp_of(ad, bd).cross(ad, bd, axis=k)
    except ValueError:
        raise ValueError(
            f"cross: shapes {_shape(ad)} and {_shape(bd)} cannot be broadcast together"
        ) from None
    return _result(_cross, data, (a, b), (ad, bd), (k,))


# ------------------------------------------------------------ linalg: shared machinery
def _linalg_operand(x: Any, op: str) -> Any:
    """The raw array behind ``x`` (lists and scalars converted with chainrule's dtype rules)."""
    d = raw(x)
    if not hasattr(d, "shape"):
        d = _as_array(d, None, op)
    return d


def _result(
    prim: Any, data: Any, tensors: tuple[Any, ...], raws: tuple[Any, ...], params: tuple = ()
) -> Tensor:
    """Wrap ``data`` as the output of ``prim``, recording it when an operand requires grad."""
    parents = tuple(t if isinstance(t, Tensor) and t._rg else None for t in tensors)
    if (not modes_switched or state.grad_enabled) and any(p is not None for p in parents):
        return record(prim, data, (*raws, *params), parents)
    return _leaf(data)


def _matrix(x: Any, op: str, square: bool = True) -> tuple[Any, Any]:
    """(``x``'s raw float array, the Tensor to record against) for a matrix operation.

    Integers and bools are computed in float64, as ``numpy.linalg`` does; float32 stays
    float32; other dtypes (float16, complex) are refused with the operation named.
    """
    d = x._data if isinstance(x, Tensor) else _linalg_operand(x, op)
    shape = _shape(d)
    if len(shape) < 2 or (square and shape[-1] != shape[-2]):
        want = "square matrices (..., n, n)" if square else "matrices (..., m, n)"
        raise ValueError(f"{op}: expected {want}; got shape {shape} ({d.dtype})")
    if d.dtype.kind in "iub":
        d = d.astype(np.float64)
    elif d.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"{op}: unsupported dtype {d.dtype} (shape {shape}); expected float32 or float64"
        )
    return d, x


def _lapack(op: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a ``numpy.linalg`` function; its failures name the operation and the input."""
    try:
        return fn(*args, **kwargs)
    except np.linalg.LinAlgError as exc:
        a = args[0]
        raise np.linalg.LinAlgError(
            f"{op}: {exc} (input of shape {_shape(a)}, {a.dtype})"
        ) from None


def _mT(xp: Any, x: Any) -> Any:  # noqa: N802 - the maths' name for a stack's transpose
    return xp.swapaxes(x, -1, -2)


def _row(x: Any) -> Any:
    """A (..., k) stack as (..., 1, k): broadcasts along the rows (scales the columns)."""
    return x.reshape(tuple(x.shape[:-1]) + (1, x.shape[-1]))


def _col(x: Any) -> Any:
    """A (..., k) stack as (..., k, 1): broadcasts along the columns (scales the rows)."""
    return x.reshape(tuple(x.shape) + (1,))


def _mat(x: Any) -> Any:
    """A (...) stack of scalars as (..., 1, 1)."""
    return x.reshape(tuple(x.shape) + (1, 1))


def _eye_like(x: Any, n: int) -> Any:
    """A constant identity matrix with ``x``'s dtype and device."""
    d = x._data if isinstance(x, Tensor) else x
    return namespace_of(d).eye(n, dtype=d.dtype)


def _tril_mask(x: Any, n: int, k: int = 0, diagonal: float = 1.0) -> Any:
    """Constant lower-triangular mask (ones at and below diagonal ``k``), ``diagonal`` on it."""
    d = x._data if isinstance(x, Tensor) else x
    m = np.tril(np.ones((n, n)), k)
    if k >= 0:
        m[np.diag_indices(n)] = diagonal
    return namespace_of(d).asarray(m.astype(d.dtype))


def _is_zero(x: Any) -> bool:
    """Whether every element of ``x`` (an array or a Tensor) is zero: an output unused."""
    d = x._data if isinstance(x, Tensor) else x
    return not bool(d.any())


def _pack(xp: Any, parts: tuple[Any, ...], batch: tuple[int, ...]) -> Any:
    """Several outputs of one decomposition as one array (..., total): one node records them
    all, so its rule sees every output and every output's gradient together."""
    flat = [p.reshape(batch + (math.prod(p.shape[len(batch) :]),)) for p in parts]
    return xp.concatenate(flat, axis=-1)


def _unpack(x: Any, shapes: tuple[tuple[int, ...], ...]) -> list[Any]:
    """The outputs packed by :func:`_pack` (works on arrays and, differentiably, on Tensors)."""
    batch = tuple(x.shape[:-1])
    parts, i = [], 0
    for s in shapes:
        n = math.prod(s)
        parts.append(x[..., i : i + n].reshape(batch + s))
        i += n
    return parts


def _decomposition(
    prim: Any, x: Any, d: Any, parts: tuple[Any, ...], params: tuple = ()
) -> list[Any]:
    """Return ``parts`` as Tensors; recorded as one packed node when ``x`` requires grad."""
    if not (isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled)):
        return [_leaf(p) for p in parts]
    batch = tuple(d.shape[:-2])
    shapes = tuple(tuple(p.shape[len(batch) :]) for p in parts)
    packed = record(prim, _pack(xp_of(d), parts, batch), (d, shapes, *params), (x,))
    return _unpack(packed, shapes)


# ---------------------------------------------------------------------------- inv, det
_inv = define("inv", (lambda xp, g, out, a: -_mT(xp, out) @ g @ _mT(xp, out),),
              "da = -out^T @ g @ out^T")  # fmt: skip


def inv(a: Any) -> Tensor:
    """Inverse of a square matrix, or of each matrix in a stack (..., n, n).

    Raises ``numpy.linalg.LinAlgError`` naming the operation when a matrix is singular.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.inv(cr.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    d, x = _matrix(a, "inv")
    return _result(_inv, _lapack("inv", xp_of(d).linalg.inv, d), (x,), (d,))


def _cofactors_svd(a: Any, scale: Any) -> Any:
    """``scale * adj(A)^T`` for any square A (singular too), from A = U diag(s) V^T:
    adj(A)^T = det(U) det(V) U diag(prod_{j != i} s_j) V^T."""
    xp = namespace_of(a)
    u, s, vh = xp.linalg.svd(a)
    n = s.shape[-1]
    others = xp.where(xp.eye(n, dtype=bool), 1, s[..., None, :]).prod(axis=-1)
    sign = xp.linalg.det(u) * xp.linalg.det(vh)
    return _mat(sign * scale) * ((u * others[..., None, :]) @ vh)


def _d_det(xp: Any, g: Any, out: Any, a: Any) -> Any:
    d = out._data if isinstance(out, Tensor) else out
    singular = d == 0
    if not singular.any():
        # d det(A) / dA = adj(A)^T = det(A) A^{-T}
        return _mat(g * out) * _mT(xp, xp.linalg.inv(a))
    if isinstance(a, Tensor):
        raise NotImplementedError(
            f"det: second derivatives at a singular matrix are not supported (input of shape "
            f"{_shape(a)}, {a.dtype}); the first derivative is"
        )
    # As PyTorch: matrices with det == 0 take the cofactors from an SVD (a rank n-1 matrix has
    # a nonzero gradient); the others the inverse, computed with the singular ones replaced.
    n = a.shape[-1]
    eye = xp.eye(n, dtype=a.dtype)
    safe = xp.where(singular[..., None, None], eye, a)
    regular = _mat(g * out) * _mT(xp, xp.linalg.inv(safe))
    return xp.where(singular[..., None, None], _cofactors_svd(a, g), regular)


_det = define("det", (_d_det,),
              "da = g * det(a) * a^{-T}  (= g * adj(a)^T; at det == 0 from the SVD: "
              "g det(U V^T) U diag(prod_{j!=i} s_j) V^T)")  # fmt: skip


def det(a: Any) -> Tensor:
    """Determinant of a square matrix or of each matrix in a stack (..., n, n).

    The gradient is ``adj(A)^T``: ``det(A) A^{-T}`` for invertible matrices and, as in PyTorch,
    the cofactors from an SVD where ``det(A) == 0`` exactly (nonzero for rank n-1, zero for lower
    rank). Second derivatives are supported at invertible matrices only.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.det(cr.tensor([[1.0, 2.0], [3.0, 4.0]])).item()
    -2.0...
    """
    d, x = _matrix(a, "det")
    return _result(_det, _lapack("det", xp_of(d).linalg.det, d), (x,), (d,))


def _d_slogdet(xp: Any, g: Any, out: Any, a: Any) -> Any:
    d = out._data if isinstance(out, Tensor) else out
    if bool(xp_of(d).isinf(d).any()):
        raise np.linalg.LinAlgError(
            f"slogdet: the gradient of log|det(a)| at a singular matrix is infinite (input of "
            f"shape {_shape(a)}, {a.dtype})"
        )
    return _mat(g) * _mT(xp, xp.linalg.inv(a))


_slogdet = define("slogdet", (_d_slogdet,), "d logabsdet / da = g * a^{-T}  (sign: no gradient)")


class SlogdetResult(NamedTuple):
    """Sign and log of the absolute value of a determinant, as ``numpy.linalg.slogdet``."""

    sign: Tensor
    logabsdet: Tensor


def slogdet(a: Any) -> SlogdetResult:
    """Sign and natural log of the absolute determinant, as ``numpy.linalg.slogdet``.

    ``logabsdet`` is differentiable (gradient ``a^{-T}``; a singular matrix, whose logabsdet is
    ``-inf``, raises on backward); ``sign`` is not.

    Examples
    --------
    >>> import chainrule as cr
    >>> sign, logabsdet = cr.linalg.slogdet(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
    >>> sign.item(), round(logabsdet.item(), 4)
    (-1.0, 0.6931)
    """
    d, x = _matrix(a, "slogdet")
    sign, logabsdet = _lapack("slogdet", xp_of(d).linalg.slogdet, d)
    return SlogdetResult(_leaf(sign), _result(_slogdet, logabsdet, (x,), (d,)))


# ------------------------------------------------------------------------------- solve
def _solve_adjoint(xp: Any, g: Any, a: Any, vector: bool) -> Any:
    """``a^{-T} g``: the gradient of b, from which a's follows."""
    if vector:
        return xp.linalg.solve(_mT(xp, a), _col(g)).reshape(g.shape)
    return xp.linalg.solve(_mT(xp, a), g)


def _d_solve_a(xp: Any, g: Any, out: Any, a: Any, b: Any, vector: bool) -> Any:
    gb = _solve_adjoint(xp, g, a, vector)
    return -(_col(gb) * _row(out)) if vector else -(gb @ _mT(xp, out))


_solve = define("solve", (
    _d_solve_a,
    lambda xp, g, out, a, b, vector: _solve_adjoint(xp, g, a, vector)),
    "x = a^{-1} b:  db = a^{-T} g;  da = -db x^T")  # fmt: skip


def solve(a: Any, b: Any) -> Tensor:
    """Solution ``x`` of ``a @ x = b``, as ``numpy.linalg.solve`` (NumPy 2 rules).

    ``a`` is (..., n, n). A 1-D ``b`` of length n is one right-hand side (``x`` is (..., n));
    otherwise ``b`` is (..., n, k), k right-hand sides, and the batch axes broadcast.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.solve(cr.tensor([[2.0, 0.0], [0.0, 4.0]]), cr.tensor([1.0, 1.0])).tolist()
    [0.5, 0.25]
    """
    ad, x = _matrix(a, "solve")
    bd = b._data if isinstance(b, Tensor) else _linalg_operand(b, "solve")
    if bd.dtype.kind in "iub":
        bd = bd.astype(np.float64)
    n = ad.shape[-1]
    vector = bd.ndim == 1
    if bd.ndim == 0 or bd.shape[0 if vector else -2] != n:
        raise ValueError(
            f"solve: b of shape {_shape(bd)} does not fit a of shape {_shape(ad)}; expected "
            f"({n},) or (..., {n}, k)"
        )
    try:
        data = _lapack("solve", xp_of(ad).linalg.solve, ad, bd)
    except np.linalg.LinAlgError:
        raise
    except ValueError:
        raise ValueError(
            f"solve: batch shapes of a {_shape(ad)} and b {_shape(bd)} cannot be broadcast together"
        ) from None
    return _result(_solve, data, (x, b), (ad, bd), (vector,))


# ---------------------------------------------------------------------------- cholesky
def _d_cholesky(xp: Any, g: Any, out: Any, a: Any, upper: bool) -> Any:
    # Murray (2016), as PyTorch: gA = sym(L^{-T} Phi(L^T gL) L^{-1}), Phi = lower triangle with
    # the diagonal halved; sym(X) = (X + X^T) / 2, the gradient of a symmetric input.
    L, gL = (_mT(xp, out), _mT(xp, g)) if upper else (out, g)
    n = L.shape[-1]
    phi = (_mT(xp, L) @ gL) * _tril_mask(out, n, 0, 0.5)
    L_inv = xp.linalg.inv(L)
    ga = _mT(xp, L_inv) @ phi @ L_inv
    return (ga + _mT(xp, ga)) * 0.5


_cholesky = define("cholesky", (_d_cholesky,),
                   "da = sym(L^{-T} Phi(L^T g) L^{-1}),  Phi(X) = tril(X) with diag halved, "
                   "sym(X) = (X + X^T)/2")  # fmt: skip


def cholesky(a: Any, upper: bool = False) -> Tensor:
    """Cholesky factor of a symmetric positive definite matrix (or stack): ``a = L L^T``.

    Returns the lower factor ``L`` (``upper=True``: ``U = L^T``, ``a = U^T U``). Only the lower
    triangle of ``a`` is read; the gradient is the symmetric one (as PyTorch), the gradient with
    respect to a symmetric input. A matrix that is not positive definite raises
    ``numpy.linalg.LinAlgError`` naming the operation.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.cholesky(cr.tensor([[4.0, 2.0], [2.0, 5.0]])).tolist()
    [[2.0, 0.0], [1.0, 2.0]]
    """
    d, x = _matrix(a, "cholesky")
    L = _lapack("cholesky", xp_of(d).linalg.cholesky, d)
    return _result(_cholesky, _mT(xp_of(L), L) if upper else L, (x,), (d,), (bool(upper),))


# ---------------------------------------------------------------------------------- qr
def _right_solve_rt(xp: Any, r: Any, x: Any) -> Any:
    """``x R^{-T}`` for an invertible R."""
    return _mT(xp, xp.linalg.solve(r, _mT(xp, x)))


def _qr_grad_tall(xp: Any, q: Any, r: Any, gq: Any, gr: Any) -> Any:
    """The QR rule for m >= n (Q is m x n, R n x n), as TensorFlow's and PyTorch's:
    gA = Q gR + (Q tril(skew(Q^T gQ) + skew(R gR^T)) + gQ - Q Q^T gQ) R^{-T}."""
    qdq = _mT(xp, q) @ gq
    rdr = r @ _mT(xp, gr)
    m = (qdq - _mT(xp, qdq) + rdr - _mT(xp, rdr)) * _tril_mask(q, r.shape[-1], -1)
    return q @ gr + _right_solve_rt(xp, r, q @ m + gq - q @ qdq)


def _d_qr(xp: Any, g: Any, out: Any, a: Any, shapes: Any, mode: str) -> Any:
    q, r = _unpack(out, shapes)
    gq, gr = _unpack(g, shapes)
    m, n = a.shape[-2], a.shape[-1]
    if mode == "complete" and m > n:
        raise ValueError(
            f"qr: mode='complete' is not differentiable for a tall matrix (shape {_shape(a)}): "
            "its extra columns of Q are any basis of the complement; use mode='reduced'"
        )
    if m >= n:
        return _qr_grad_tall(xp, q, r, gq, gr)
    # Wide: A = [X | Y], R = [U | V], X = Q U is square; Y = Q V adds Q gV to gA's Y part and
    # Y gV^T to gQ (Walter & Lehmann; Roberts & Roberts 2020).
    y, u = a[..., :, m:], r[..., :, :m]
    gu, gv = gr[..., :, :m], gr[..., :, m:]
    gx = _qr_grad_tall(xp, q, u, gq + y @ _mT(xp, gv), gu)
    return xp.concatenate([gx, q @ gv], axis=-1)


_qr = define("qr", (_d_qr,),
             "m >= n: da = Q gR + (Q tril(skew(Q^T gQ) + skew(R gR^T)) + gQ - Q Q^T gQ) R^{-T}, "
             "skew(X) = X - X^T;  m < n: the same on the leading square block, + Q gR[:, m:] on "
             "the rest")  # fmt: skip


class QRResult(NamedTuple):
    """Q and R of a QR decomposition, as ``numpy.linalg.qr``."""

    Q: Tensor
    R: Tensor


def qr(a: Any, mode: str = "reduced") -> Any:
    """QR decomposition ``a = Q R`` of a matrix or stack (..., m, n), as ``numpy.linalg.qr``.

    ``mode='reduced'`` (k = min(m, n): Q is (..., m, k), R (..., k, n)), ``'complete'`` (Q is
    (..., m, m)) or ``'r'`` (R alone). The gradient needs R's leading k x k block invertible
    (full rank); for ``'complete'`` it exists only when m <= n, as in PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> q, r = cr.linalg.qr(cr.tensor([[3.0, 1.0], [4.0, 2.0]]))
    >>> (q @ r).tolist()
    [[3.0..., 1.0...], [4.0..., 2.0...]]
    """
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: unsupported mode {mode!r}; expected 'reduced', 'complete' or 'r'")
    d, x = _matrix(a, "qr", square=False)
    parts = _lapack("qr", xp_of(d).linalg.qr, d, "reduced" if mode == "r" else mode)
    q, r = _decomposition(_qr, x, d, tuple(parts), (mode,))
    return r if mode == "r" else QRResult(q, r)


# -------------------------------------------------------------------------------- eigh
def _d_eigh(xp: Any, g: Any, out: Any, a: Any, shapes: Any, uplo: str) -> Any:
    w, v = _unpack(out, shapes)
    gw, gv = _unpack(g, shapes)
    if _is_zero(gv):  # eigenvalues only: exact even for repeated eigenvalues
        return (v * _row(gw)) @ _mT(xp, v)
    # gA = V (diag(gw) + skew(V^T gV) / 2 / E) V^T, E_ij = w_j - w_i: non-finite where two
    # eigenvalues coincide and the loss depends on their eigenvectors, as PyTorch.
    n = w.shape[-1]
    eye = _eye_like(out, n)
    vgv = _mT(xp, v) @ gv
    e = _row(w) - _col(w) + eye
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (vgv - _mT(xp, vgv)) * 0.5 / e
    return v @ (inner + _row(gw) * eye) @ _mT(xp, v)


_eigh = define("eigh", (_d_eigh,),
               "da = V (diag(gw) + (V^T gV - gV^T V) / 2 / E) V^T,  E_ij = w_j - w_i "
               "(distinct eigenvalues; V diag(gw) V^T when gV = 0)")  # fmt: skip


class EighResult(NamedTuple):
    """Eigenvalues (ascending) and eigenvectors (columns), as ``numpy.linalg.eigh``."""

    eigenvalues: Tensor
    eigenvectors: Tensor


def _check_uplo(uplo: str, op: str) -> str:
    if uplo not in ("L", "U"):
        raise ValueError(f"{op}: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803 - NumPy's name
    """Eigen-decomposition of a symmetric matrix or stack: ``a = V diag(w) V^T``.

    Reads only the lower (``UPLO='L'``) or upper triangle, as ``numpy.linalg.eigh``. The
    gradient is the symmetric one (as PyTorch). It is exact for any loss of the eigenvalues
    alone; a loss that uses the eigenvectors must not depend on their signs, and where two
    eigenvalues coincide its gradient is not finite (as in PyTorch).

    Examples
    --------
    >>> import chainrule as cr
    >>> w, v = cr.linalg.eigh(cr.tensor([[2.0, 1.0], [1.0, 2.0]]))
    >>> w.tolist()
    [1.0..., 3.0...]
    """
    d, x = _matrix(a, "eigh")
    parts = _lapack("eigh", xp_of(d).linalg.eigh, d, _check_uplo(UPLO, "eigh"))
    w, v = _decomposition(_eigh, x, d, tuple(parts), (UPLO,))
    return EighResult(w, v)


def eigvalsh(a: Any, UPLO: str = "L") -> Tensor:  # noqa: N803 - NumPy's name
    """Eigenvalues (ascending) of a symmetric matrix or stack, as ``numpy.linalg.eigvalsh``.

    The gradient, ``V diag(g) V^T``, is defined for repeated eigenvalues too.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.eigvalsh(cr.tensor([[2.0, 0.0], [0.0, 1.0]])).tolist()
    [1.0, 2.0]
    """
    if isinstance(a, Tensor) and a._rg and (not modes_switched or state.grad_enabled):
        return eigh(a, UPLO).eigenvalues
    d, _ = _matrix(a, "eigvalsh")
    return _leaf(_lapack("eigvalsh", xp_of(d).linalg.eigvalsh, d, _check_uplo(UPLO, "eigvalsh")))


# --------------------------------------------------------------------------------- svd
def _d_svd(xp: Any, g: Any, out: Any, a: Any, shapes: Any) -> Any:
    u, s, vh = _unpack(out, shapes)
    gu, gs, gvh = _unpack(g, shapes)
    m, n = a.shape[-2], a.shape[-1]
    k = s.shape[-1]
    if u.shape[-1] != k:  # full_matrices: the extra columns are any basis, ignored (PyTorch)
        u, gu = u[..., :, :k], gu[..., :, :k]
    if vh.shape[-2] != k:
        vh, gvh = vh[..., :k, :], gvh[..., :k, :]
    use_u, use_v = not _is_zero(gu), not _is_zero(gvh)
    if not use_u and not use_v:  # singular values only: exact even when they repeat
        return (u * _row(gs)) @ vh
    # PyTorch's svd_backward (real case): with E_ij = s_j^2 - s_i^2 (1 on the diagonal),
    # gA = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gs)] V^T
    #      + (I - U U^T) gU S^{-1} V^T + U S^{-1} gV^T (I - V V^T)
    s2 = s * s
    eye = _eye_like(out, k)
    e = _row(s2) - _col(s2) + eye
    inner = 0
    if use_u:
        ugu = _mT(xp, u) @ gu
        inner = (ugu - _mT(xp, ugu)) * _row(s)
    if use_v:
        vgv = vh @ _mT(xp, gvh)
        inner = inner + _col(s) * (vgv - _mT(xp, vgv))
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = inner / e + _row(gs) * eye
        if m > n and use_u:
            gu_s = gu / _row(s)
            ga = u @ inner + gu_s - u @ (_mT(xp, u) @ gu_s)
            return ga @ vh
        if m < n and use_v:
            s_gvh = gvh / _col(s)
            ga = inner @ vh + s_gvh - (s_gvh @ _mT(xp, vh)) @ vh
            return u @ ga
    return u @ inner @ vh


_svd = define("svd", (_d_svd,),
              "da = U [(skew(U^T gU) S + S skew(V^T gV)) / E + diag(gs)] V^T + (I - U U^T) gU "
              "S^{-1} V^T + U S^{-1} gV^T (I - V V^T),  E_ij = s_j^2 - s_i^2, skew(X) = X - X^T "
              "(distinct singular values; U diag(gs) V^T when gU = gV = 0)")  # fmt: skip


class SVDResult(NamedTuple):
    """U, S and Vh of a singular value decomposition, as ``numpy.linalg.svd``."""

    U: Tensor
    S: Tensor
    Vh: Tensor


def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True) -> Any:
    """Singular value decomposition ``a = U diag(S) Vh`` of a matrix or stack (..., m, n).

    As ``numpy.linalg.svd``: S descending; ``full_matrices=True`` gives square U and Vh,
    ``False`` the reduced k = min(m, n) columns; ``compute_uv=False`` returns S alone.

    The gradient follows PyTorch: exact for any loss of S alone (``U diag(gS) Vh``); a loss
    that uses U or Vh must not depend on the signs of the singular vectors, and where singular
    values coincide (or are zero, for a non-square matrix) its gradient is not finite. With
    ``full_matrices=True`` the gradient of U's and Vh's extra columns/rows is ignored: they
    are any basis of the complement.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.svd(cr.tensor([[3.0, 0.0], [0.0, -4.0]]), compute_uv=False).tolist()
    [4.0, 3.0]
    """
    d, x = _matrix(a, "svd", square=False)
    recording = isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled)
    svd_raw = xp_of(d).linalg.svd
    if not compute_uv and not recording:
        return _leaf(_lapack("svd", svd_raw, d, compute_uv=False))
    full = bool(full_matrices) and compute_uv
    parts = _lapack("svd", svd_raw, d, full_matrices=full)
    u, s, vh = _decomposition(_svd, x, d, tuple(parts))
    return SVDResult(u, s, vh) if compute_uv else s


def svdvals(a: Any) -> Tensor:
    """Singular values, descending, of a matrix or stack (``numpy.linalg.svdvals``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.svdvals(cr.tensor([[0.0, 2.0], [1.0, 0.0]])).tolist()
    [2.0, 1.0]
    """
    return svd(a, full_matrices=False, compute_uv=False)


# -------------------------------------------------------------------------------- pinv
def _d_pinv(xp: Any, g: Any, out: Any, a: Any) -> Any:
    # PyTorch's pinv_backward (valid where the rank is locally constant, e.g. full rank),
    # arranged so that the products are of the smaller dimension.
    m, n = a.shape[-2], a.shape[-1]
    pt, gt = _mT(xp, out), _mT(xp, g)
    if m <= n:
        k = gt @ out
        kpt = k @ pt
        return -_mT(xp, out @ k) + kpt - (a @ out) @ kpt + (pt @ out) @ (gt - k @ a)
    k = out @ gt
    ptk = pt @ k
    return -_mT(xp, k @ out) + ((gt - a @ k) @ out) @ pt + ptk - (ptk @ out) @ a


_pinv = define("pinv", (_d_pinv,),
               "P = pinv(a):  da = -P^T g P^T + (I - a P) g^T P P^T + P^T P g^T (I - P a)  "
               "(constant rank)")  # fmt: skip


def pinv(a: Any, rcond: Any = None, hermitian: bool = False) -> Tensor:
    """Moore-Penrose pseudo-inverse of a matrix or stack (..., m, n), as ``numpy.linalg.pinv``.

    Singular values below ``rcond`` times the largest count as zero (NumPy's default when
    None). The gradient assumes the rank does not change near ``a`` (full rank, for instance).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.pinv(cr.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    d, x = _matrix(a, "pinv", square=False)
    kwargs = {"hermitian": bool(hermitian)}
    if rcond is not None:
        kwargs["rcond"] = rcond
    data = _lapack("pinv", xp_of(d).linalg.pinv, d, **kwargs)
    return _result(_pinv, data, (x,), (d,))


# ------------------------------------------------------------------------ matrix_power
def matrix_power(a: Any, n: int) -> Tensor:
    """``a`` multiplied by itself ``n`` times (``n < 0``: powers of the inverse), as
    ``numpy.linalg.matrix_power``.

    A composition of :func:`matmul` (by repeated squaring) and :func:`inv`, so its gradient and
    the formulas ``explain`` shows are theirs. ``n = 0`` gives the identity, with a zero
    gradient.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linalg.matrix_power(cr.tensor([[1.0, 1.0], [0.0, 1.0]]), 3).tolist()
    [[1.0, 3.0], [0.0, 1.0]]
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"matrix_power: the exponent must be an int, got {type(n).__name__}")
    d, x = _matrix(a, "matrix_power")
    if not isinstance(x, Tensor):
        x = _leaf(_linalg_operand(a, "matrix_power"))  # integers stay integers, as NumPy
    if n == 0:
        return x * 0 + _eye_like(x, d.shape[-1])
    if n == 1:
        return x * 1  # a new tensor, as NumPy's copy
    base = inv(x) if n < 0 else x
    n = abs(int(n))
    result = None
    while True:  # binary powering: log2(n) squarings
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if not n:
            return result
        base = matmul(base, base)


# ------------------------------------------------------------------------------- norms
# The norms are compositions of primitives (|x|, sums, max/min, the reduce family's norm, the
# singular values), so each gradient is the chain of those rules: at zero it is PyTorch's
# subgradient (0 for vector and Frobenius norms; U V^T-type for the spectral/nuclear norms).
def _norm_operand(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    d = _linalg_operand(x, op)
    return _leaf(d.astype(np.float64) if d.dtype.kind in "iub" else d)


def _torch_names(op: str, axis: Any, keepdims: Any, dim: Any, keepdim: Any) -> tuple[Any, bool]:
    """Accept PyTorch's ``dim``/``keepdim`` as well as NumPy's ``axis``/``keepdims``."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis or dim, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _is_real(ord: Any) -> bool:  # noqa: A002
    return not isinstance(ord, bool) and isinstance(ord, (int, float, np.integer, np.floating))


def vector_norm(
    x: Any,
    ord: Any = 2,  # noqa: A002 - NumPy's and PyTorch's name
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Vector norm of ``x`` over ``axis`` (all elements when None), as ``torch.linalg.vector_norm``.

    ``ord``: any real p (``(sum |x|^p)^(1/p)``), ``inf`` (max ``|x|``), ``-inf`` (min ``|x|``), 0
    (the number of nonzero elements; no gradient). ``axis`` may be a tuple: those axes are
    treated as one vector. The gradient at the zero vector is 0 (for p >= 1), as PyTorch;
    for p < 1 it is not finite at zero elements. PyTorch's ``dim``/``keepdim`` are accepted.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([[3.0, -4.0], [0.0, 0.0]])
    >>> cr.linalg.vector_norm(x).item(), cr.linalg.vector_norm(x, 1, axis=1).tolist()
    (5.0, [7.0, 0.0])
    """
    axis, keepdims = _torch_names("vector_norm", axis, keepdims, dim, keepdim)
    t = _norm_operand(x, "vector_norm")
    if not _is_real(ord):
        raise ValueError(
            f"vector_norm: ord must be a real number (or inf, -inf), got {ord!r} (tensor of "
            f"shape {t.shape}); use matrix_norm for 'fro' and 'nuc'"
        )
    shape = tuple(t.shape)
    axes = _reduce.normalize_axis(axis, len(shape), "vector_norm", shape)
    kept = tuple(1 if i in axes else n for i, n in enumerate(shape))
    p = float(ord)
    if p == 2 and (len(axes) <= 2 or len(axes) == len(shape)):
        return _reduce.norm(t, None, axis=None if axis is None else axes, keepdims=keepdims)
    if len(axes) == 1 and (p >= 1 or p == -math.inf):
        return _reduce.norm(t, p, axis=axes[0], keepdims=keepdims)
    rest = tuple(i for i in range(len(shape)) if i not in axes)
    flat = t.transpose(rest + axes) if rest + axes != tuple(range(len(shape))) else t
    flat = flat.reshape(tuple(shape[i] for i in rest) + (-1,))
    if p == 0:
        r = _leaf((flat._data != 0).sum(axis=-1).astype(flat.dtype))
    elif p >= 1 or p == -math.inf:
        r = _reduce.norm(flat, p, axis=-1)
    else:
        r = (abs(flat) ** p).sum(axis=-1) ** (1.0 / p)
    return r.reshape(kept) if keepdims else r


def _matrix_axes(axis: Any, ndim: int, shape: tuple[int, ...], op: str) -> tuple[int, int]:
    try:
        r, c = axis
        if not all(_is_real(i) and float(i) == int(i) for i in (r, c)):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"{op}: axis must be a pair of ints, got {axis!r}") from None
    if not (-ndim <= r < ndim and -ndim <= c < ndim) or r % ndim == c % ndim:
        raise ValueError(
            f"{op}: axis {axis!r} must name two different axes of the tensor of shape {shape}"
        )
    return int(r) % ndim, int(c) % ndim


def matrix_norm(
    x: Any,
    ord: Any = "fro",  # noqa: A002 - NumPy's and PyTorch's name
    axis: Any = (-2, -1),
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Matrix norm over the two axes ``axis`` (rows, columns), as ``torch.linalg.matrix_norm``.

    ``ord``: ``'fro'`` (Frobenius), ``'nuc'`` (sum of singular values), 2 / -2 (largest /
    smallest singular value), 1 / -1 (max / min column sum of ``|x|``), ``inf`` / ``-inf``
    (max / min row sum of ``|x|``). The 2 and nuclear norms' gradients come from the singular
    values' rule, exact also where they repeat (ties of the max share the gradient).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.tensor([[1.0, -2.0], [3.0, 4.0]])
    >>> cr.linalg.matrix_norm(a, 1).item(), cr.linalg.matrix_norm(a, float("inf")).item()
    (6.0, 7.0)
    """
    axis, keepdims = _torch_names("matrix_norm", None if dim is not None else axis, keepdims,
                                  dim, keepdim)  # fmt: skip
    t = _norm_operand(x, "matrix_norm")
    shape = tuple(t.shape)
    if len(shape) < 2:
        raise ValueError(f"matrix_norm: expected at least 2 dimensions, got shape {shape}")
    r, c = _matrix_axes(axis, len(shape), shape, "matrix_norm")
    kept = tuple(1 if i in (r, c) else n for i, n in enumerate(shape))
    if isinstance(ord, str) and ord == "fro":
        return _reduce.norm(t, None, axis=(r, c), keepdims=keepdims)
    rest = tuple(i for i in range(len(shape)) if i not in (r, c))
    m = t.transpose(rest + (r, c)) if rest + (r, c) != tuple(range(len(shape))) else t
    if isinstance(ord, str) and ord == "nuc":
        out = svdvals(m).sum(axis=-1)
    elif _is_real(ord) and abs(ord) == 2:
        s = svdvals(m)
        out = s.max(axis=-1) if ord > 0 else s.min(axis=-1)
    elif _is_real(ord) and abs(ord) in (1, math.inf):
        sums = abs(m).sum(axis=-2 if abs(ord) == 1 else -1)
        out = sums.max(axis=-1) if ord > 0 else sums.min(axis=-1)
    else:
        raise ValueError(
            f"matrix_norm: unsupported ord={ord!r} (tensor of shape {shape}); expected 'fro', "
            "'nuc', 2, -2, 1, -1, inf or -inf"
        )
    return out.reshape(kept) if keepdims else out


def norm(
    x: Any,
    ord: Any = None,  # noqa: A002 - NumPy's name
    axis: Any = None,
    keepdims: bool = False,
    *,
    dim: Any = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Vector or matrix norm, as ``numpy.linalg.norm`` / ``torch.linalg.norm``.

    ``axis`` an int: a vector norm (:func:`vector_norm`); a pair: a matrix norm
    (:func:`matrix_norm`). ``axis=None``: with ``ord=None`` the 2-norm of all the elements;
    otherwise ``x`` must be 1-D (vector norm) or 2-D (matrix norm).

    Examples
    --------
    >>> import chainrule as cr
    >>> a = cr.tensor([[3.0, 0.0], [0.0, 4.0]])
    >>> cr.linalg.norm(a).item(), cr.linalg.norm(a, "nuc").item(), cr.linalg.norm(a, 2).item()
    (5.0, 7.0, 4.0)
    """
    axis, keepdims = _torch_names("norm", axis, keepdims, dim, keepdim)
    t = _norm_operand(x, "norm")
    ndim = t.ndim
    if axis is None:
        if ord is None:
            return vector_norm(t, 2, None, keepdims)
        if ndim == 1:
            return vector_norm(t, ord, 0, keepdims)
        if ndim == 2:
            return matrix_norm(t, ord, (0, 1), keepdims)
        raise ValueError(
            f"norm: ord={ord!r} with axis=None needs a 1-D or 2-D tensor, got shape "
            f"{tuple(t.shape)}; give axis (one int: vector norm, two: matrix norm)"
        )
    if isinstance(axis, (tuple, list)) and len(axis) == 2:
        return matrix_norm(t, "fro" if ord is None else ord, tuple(axis), keepdims)
    if isinstance(axis, (tuple, list)):
        if len(axis) != 1:
            raise ValueError(
                f"norm: axis {axis!r} names {len(axis)} axes of a tensor of shape "
                f"{tuple(t.shape)}; expected one (vector norm) or two (matrix norm)"
            )
        axis = axis[0]
    return vector_norm(t, 2 if ord is None else ord, axis, keepdims)
