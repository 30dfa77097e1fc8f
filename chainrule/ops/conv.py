"""Convolution and pooling primitives over NCHW arrays, as in PyTorch.

Fused: as a composition of slices, products and sums a 3x3 convolution would be dozens of
nodes and as many full-size temporaries; as one primitive it is one im2col view, one copy and
one matrix product, and its rules are products of the same size.

    conv2d              forward  W @ cols(x) + b           (cols: the windows of x, a strided view)
                        vjp      dx = col2im(W^T @ g)      = conv2d_input_grad(g, W)
                                 dW = g @ cols(x)^T        = conv2d_weight_grad(x, g)
                                 db = g summed over (N, H, W)

``conv2d`` is bilinear in (x, W), so the two helpers close the family under differentiation:
each is a convolution with one operand moved, and its rules are ``conv2d`` and the other
helper. Second derivatives therefore hold for every stride, padding, dilation and groups.

Pooling: max pooling sends ``g`` to the first maximum of each window (as PyTorch does on ties);
average pooling spreads ``g`` evenly. Each backward is a linear map whose own rule is the
forward map (gather / window sum), so these have second derivatives too.

Windows are strided views (``as_strided``); Python loops run only over the kh*kw kernel
offsets (9 for 3x3), never over pixels or the batch. Stride-1, one-group convolutions with
enough rows in the product (C_in*kh*kw) use a "flat" layout instead, channels first with each
image laid out row after row (the horizontal padding made by zeroing the reads that cross an
edge, so no product is widened by pad columns), where im2col copies and col2im adds contiguous
runs of Ho*Wo elements and each direction is a single matrix product over the whole batch (see
``_flat``); a recorded node keeps its im2col for the weight gradient.

The rest of the family is built on these rules, so the rule table stays small:

    conv1d, conv_transpose1d      the 2-D ones on a unit height (reshapes around them)
    conv3d                        a sum over the kernel's depth of conv2d on depth slices
                                  (depth folded into the batch)
    conv_transpose2d              conv2d_input_grad: the vjp of conv2d *is* its transpose
    max_pool1d/3d, avg_pool1d/3d  max_pool2d / avg_pool2d on a unit height; 3-D is separable
                                  (the max or mean over a box = over H, W, then over D)
    unfold, fold                  im2col and col2im, two primitives, each the other's vjp
    max_unpool2d                  a scatter, whose vjp is a gather, whose vjp is the scatter
    pixel_shuffle/unshuffle       reshape and permute
"""

from __future__ import annotations

import functools
import operator
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from ..autodiff import modes_switched, state
from ..tensor import Tensor, _as_array, _leaf, record
from .define import NP, apply, define, raw, xp_of
from .shape import getitem, reshape, transpose
from .shape import pad as _pad_axes

# unfold and fold stay out of the top-level namespace (F.unfold, F.fold): PyTorch's
# Tensor.unfold is another operation (windows along one axis).
__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool2d", "max_unpool2d", "pixel_shuffle", "pixel_unshuffle",
]  # fmt: skip

_ndarray = np.ndarray
Pads = tuple[tuple[int, int], tuple[int, int]]


# ------------------------------------------------------------------------------ helpers
def _pair(value: Any, name: str, op: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= low``, as a pair."""
    try:
        if isinstance(value, (tuple, list)):
            if len(value) != 2:
                raise TypeError
            a, b = operator.index(value[0]), operator.index(value[1])
        else:
            a = b = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    if a < low or b < low:
        raise ValueError(f"{op}: {name} must be >= {low}, got {value!r}")
    return a, b


def _operand(x: Any, op: str, what: str) -> Any:
    """The raw array behind ``x`` (Tensors and arrays as they are, lists converted)."""
    d = x._data if isinstance(x, Tensor) else raw(x)
    if d.__class__ is not _ndarray and not hasattr(d, "__cuda_array_interface__"):
        d = _as_array(d, None, op)
    if d.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got dtype {d.dtype}")
    return d


def _check_4d(shape: tuple[int, ...], op: str, what: str, layout: str) -> None:
    if len(shape) != 4:
        hint = " (add a batch axis with x[None])" if len(shape) == 3 and what == "input" else ""
        raise ValueError(
            f"{op}: {what} must be 4-D {layout}, got shape {shape} ({len(shape)}-D){hint}"
        )


def _pad(xp: Any, x: Any, pads: Pads, value: float = 0.0) -> Any:
    """``x`` with ``pads`` rows/columns of ``value`` around its last two axes (``x`` if none)."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + pt + pb, w + pl + pr)
    out = xp.zeros(shape, x.dtype) if value == 0 else xp.full(shape, value, x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def _crop(x: Any, pads: Pads, shape: tuple[int, ...]) -> Any:
    (pt, _), (pl, _) = pads
    if x.shape == shape:
        return x
    return x[:, :, pt:pt + shape[2], pl:pl + shape[3]]


@functools.lru_cache(maxsize=256)
def _offsets(
    kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, ho: int, wo: int
) -> tuple[tuple[slice, slice, slice, slice], ...]:
    """For each kernel offset (i, j), row-major, the index of the padded input that its
    element of every window reads: rows i*dh, i*dh + sh, ...; columns likewise."""
    full = slice(None)
    return tuple(
        (full, full, slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
         slice(j * dw, j * dw + sw * (wo - 1) + 1, sw))
        for i in range(kh) for j in range(kw)
    )  # fmt: skip


def _call(prim: Any, forward: Any, xp: Any, arrays: tuple[Any, ...], params: tuple[Any, ...]):
    """A rule's call of another primitive of this family: the raw forward on an ordinary
    backward, a recorded node under create_graph (when the rule receives Tensors)."""
    for a in arrays:
        if isinstance(a, Tensor):
            return apply(prim, forward, arrays, params)
    return forward(xp, *arrays, *params)


# ------------------------------------------------------------------------------ conv2d
#: A convolution's settings: (stride (sh, sw), pads ((top, bottom), (left, right)),
#: dilation (dh, dw), groups).
ConvCfg = tuple[tuple[int, int], Pads, tuple[int, int], int]


def _cols(
    xp: Any, x: Any, kh: int, kw: int, cfg: ConvCfg, ones_row: bool = False
) -> tuple[Any, int, int]:
    """im2col: the windows of padded ``x`` as an (N, groups, C/groups*kh*kw, Ho*Wo) array.

    The windows are a strided view; the reshape is the one copy (none for a 1x1 kernel with
    stride 1 and no padding). With ``ones_row`` each group gets one more row of ones, so that
    a bias appended to the weight is added by the matrix product itself."""
    (sh, sw), pads, (dh, dw), groups = cfg
    xpad = _pad(xp, x, pads)
    n, c, hp, wp = xpad.shape
    ho = (hp - dh * (kh - 1) - 1) // sh + 1
    wo = (wp - dw * (kw - 1) - 1) // sw + 1
    s0, s1, s2, s3 = xpad.strides
    shape = (n, c, kh, kw, ho, wo)
    view = xp.lib.stride_tricks.as_strided(
        xpad, shape, (s0, s1, s2 * dh, s3 * dw, s2 * sh, s3 * sw), writeable=False
    )
    k = c // groups * kh * kw
    if not ones_row:
        return view.reshape((n, groups, k, ho * wo)), ho, wo
    cols = xp.empty((n, groups, k + 1, ho * wo), x.dtype)
    cols[:, :, k] = 1
    # Only splitting axes, so this reshape of the slice is a view and the copy lands in cols.
    split = (n, groups, c // groups, kh, kw, ho, wo)
    block = cols[:, :, :k].reshape(split)
    block[...] = view.reshape(split)
    return cols, ho, wo


# Stride 1, one group, enough rows in the product: the "flat" layout. Each channel's images
# are laid end to end, row after row with a pitch of P = max(W, Wo) elements and zero rows
# above and below for the vertical padding, so that a kernel offset (p, q) is one shift of
# the whole flat array by p*dh*P + q*dw - pl. Outputs are computed on rows of P (= Wo unless
# the kernel narrows the image; then the last W - Wo columns of each row are dropped), which
# turns im2col into a copy of contiguous runs of Ho*P elements and col2im into kh*kw adds of
# such runs, instead of runs of Wo. A shifted run reads across the left and right edges into
# the neighbouring row: the horizontal padding is made by zeroing those reads (_flat_edges)
# rather than by storing pad columns, which would widen every product by (pl + pr) / Wo (25%
# on 3x3 kernels over 8x8 images). One matrix product per direction: (O, K) @ (K, N*Ho*P).
# Below this K = C_in*kh*kw the transposes in and out of the layout cost more than they save
# (measured on 1 thread, a whole layer's forward and backward on batches of 8x8 to 32x32
# images): from K = 36 the flat layout takes 0.75-1.0x the general path's time (the 8x8
# images gain most), at K = 27 up to 1.15x on 32x32 images. (The forward and the weight
# gradient, before the edges were zeroed instead of padded, gained only from K ~ 96.)
_FLAT_MIN_K = 32
#: The forward keeps its im2col for the weight gradient up to this size (one layer's; larger
#: ones are rebuilt in backward, as the memory of a deep net's forward would be dominated by
#: them). The CNN example's layers need 2 to 5 MB.
_SAVE_COLS_MAX_BYTES = 64 << 20


def _flat(xp: Any, cfg: ConvCfg, w_shape: tuple[int, ...]) -> bool:
    return (
        (xp is NP or xp is np) and cfg[0] == (1, 1) and cfg[3] == 1 and w_shape[0] > 1
        and w_shape[1] * w_shape[2] * w_shape[3] >= _FLAT_MIN_K
    )  # fmt: skip


class _FlatSaved:
    """What a flat conv2d node keeps for its rules on an ordinary backward: the forward's
    im2col, the weight gradient's operand, so that it is not built twice. (The incoming
    gradient in the flat layout is made by each rule: sharing it saved 1-2% of the CNN
    layer's step, not worth a cache that a gradient array changed in place between two walks
    of a retained graph could make stale.)"""

    __slots__ = ("cols",)

    def __init__(self) -> None:
        self.cols = None


def _flat_geometry(
    x_shape: tuple[int, ...], kh: int, kw: int, cfg: ConvCfg
) -> tuple[int, int, int, int]:
    """(Ho, Wo, P, S): output size, the row pitch, and the flat length per image (the left
    margin, the padded rows, and the overhang of the last shift)."""
    _, ((pt, pb), (pl, pr)), (dh, dw), _ = cfg
    hp, w = x_shape[2] + pt + pb, x_shape[3]
    ho, wo = hp - dh * (kh - 1), w + pl + pr - dw * (kw - 1)
    pitch = max(w, wo)
    return ho, wo, pitch, hp * pitch + max(pl, dw * (kw - 1))


# Memory for the flat path's large arrays. An array of a few MB that NumPy frees goes back to
# the operating system (glibc maps blocks that large afresh), so every step would fault its
# pages in again: about 1,700 page faults a step on the CNN layer, half its time. Each thread
# keeps the arrays it made here and hands one out again once nothing else references it (its
# reference count is the pool's own), so an array a caller or a node still holds (a kept
# im2col, an output) is never reused under it. Traced arrays (cr.compile: an ndarray
# subclass) always get fresh ones, which the trace sees being made.
class _Pool(threading.local):
    def __init__(self) -> None:
        self.arrays: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()
        self.nbytes = 0


_pool = _Pool()
_POOL_SHAPES = 32  # shapes kept per thread, least recently used dropped
_POOL_PER_SHAPE = 3
_POOL_MAX_BYTES = 256 << 20  # per thread; a larger array is never kept


def _refcount(arrays: list[Any], i: int) -> int:
    return sys.getrefcount(arrays[i])


_UNREFERENCED = _refcount([np.empty(0)], 0)  # the count when only the pool's list holds it


def _array(plain: bool, shape: tuple[int, ...], dtype: Any, zero: bool = False) -> Any:
    """A new array, or with ``plain`` (ndarray inputs) one from this thread's pool."""
    if not plain:
        return NP.zeros(shape, dtype) if zero else NP.empty(shape, dtype)
    key = (shape, np.dtype(dtype))
    pool = _pool.arrays
    arrays = pool.get(key)
    if arrays is None:
        arrays = pool[key] = []
    else:
        pool.move_to_end(key)
        for i in range(len(arrays)):
            if _refcount(arrays, i) == _UNREFERENCED:
                a = arrays[i]
                if zero:
                    a.fill(0)
                return a
    a = np.zeros(shape, dtype) if zero else np.empty(shape, dtype)
    if len(arrays) < _POOL_PER_SHAPE and a.nbytes <= _POOL_MAX_BYTES // 4:
        arrays.append(a)
        _pool.nbytes += a.nbytes
    # The key just used is the newest, and its arrays alone stay under the cap.
    while len(pool) > _POOL_SHAPES or _pool.nbytes > _POOL_MAX_BYTES:
        _pool.nbytes -= sum(old.nbytes for old in pool.popitem(last=False)[1])
    return a


def _flat_edges(a: Any, w: int, kw: int, dw: int, pl: int, wo: int) -> None:
    """Zero, in ``a`` (C, kh, kw, N, Ho, P), the entries whose input column ``j + q*dw - pl``
    lies outside [0, W): the reads that crossed into the neighbouring row (the padding)."""
    for q in range(kw):
        s = q * dw - pl
        lo, hi = min(wo, max(0, -s)), max(0, w - s)
        if lo:
            a[:, :, q, :, :, :lo] = 0
        if hi < wo:
            a[:, :, q, :, :, hi:wo] = 0


def _flat_buffer(
    plain: bool, x_shape: tuple[int, ...], dtype: Any, kh: int, kw: int, cfg: ConvCfg
) -> tuple[Any, Any]:
    """A zero flat buffer (C, N, S) and the view of its image pixels (C, N, H, W)."""
    _, ((pt, _), (pl, _)), _, _ = cfg
    n, c, h, w = x_shape
    _, _, pitch, s = _flat_geometry(x_shape, kh, kw, cfg)
    buf = _array(plain, (c, n, s), dtype, zero=True)
    pixels = buf[:, :, pl + pt * pitch : pl + (pt + h) * pitch].reshape((c, n, h, pitch))
    return buf, pixels[:, :, :, :w]


def _flat_cols(x: Any, kh: int, kw: int, cfg: ConvCfg) -> Any:
    """im2col in the flat layout: (C*kh*kw, N*Ho*P), rows ordered (c, p, q)."""
    _, (_, (pl, _)), (dh, dw), _ = cfg
    n, c, h, w = x.shape
    ho, wo, pitch, _ = _flat_geometry(x.shape, kh, kw, cfg)
    plain = x.__class__ is _ndarray
    buf, pixels = _flat_buffer(plain, x.shape, x.dtype, kh, kw, cfg)
    pixels[...] = x.transpose(1, 0, 2, 3)
    s0, s1, s2 = buf.strides
    view = NP.lib.stride_tricks.as_strided(
        buf, (c, kh, kw, n, ho * pitch), (s0, dh * pitch * s2, dw * s2, s1, s2), writeable=False
    )
    cols = _array(plain, (c * kh * kw, n * ho * pitch), x.dtype)
    cols6 = cols.reshape((c, kh, kw, n, ho, pitch))
    NP.copyto(cols6.reshape((c, kh, kw, n, ho * pitch)), view)
    _flat_edges(cols6, w, kw, dw, pl, wo)
    return cols


def _flat_g(g: Any, pitch: int) -> Any:
    """``g`` (N, O, Ho, Wo) as (O, N*Ho*P), zeros in the dropped columns."""
    n, o, ho, wo = g.shape
    plain = g.__class__ is _ndarray
    if pitch == wo:
        gt = _array(plain, (o, n, ho, wo), g.dtype)
        NP.copyto(gt, g.transpose(1, 0, 2, 3))
    else:
        gt = _array(plain, (o, n, ho, pitch), g.dtype, zero=True)
        gt[:, :, :, :wo] = g.transpose(1, 0, 2, 3)
    return gt.reshape((o, n * ho * pitch))


def _flat_forward(x: Any, w: Any, b: Any, cfg: ConvCfg, saved: _FlatSaved | None) -> Any:
    o, _, kh, kw = w.shape
    n = x.shape[0]
    ho, wo, pitch, _ = _flat_geometry(x.shape, kh, kw, cfg)
    cols = _flat_cols(x, kh, kw, cfg)
    if saved is not None and cols.nbytes <= _SAVE_COLS_MAX_BYTES:
        saved.cols = cols
    plain = x.__class__ is _ndarray and w.__class__ is _ndarray
    w2 = w.reshape((o, -1))
    prod = _array(plain, (o, n * ho * pitch), NP.result_type(w2, cols))
    NP.matmul(w2, cols, out=prod)
    rows = prod.reshape((o, n, ho, pitch))[:, :, :, :wo].transpose(1, 0, 2, 3)
    out = _array(plain, (n, o, ho, wo), prod.dtype if b is None else NP.result_type(prod, b))
    if b is None:
        NP.copyto(out, rows)
    else:
        NP.add(rows, b.reshape((o, 1, 1)), out=out)
    return out


def _flat_input_grad(g: Any, w: Any, x_shape: tuple[int, ...], cfg: ConvCfg) -> Any:
    _, (_, (pl, _)), (dh, dw), _ = cfg
    n, c, h, wd = x_shape
    o, _, kh, kw = w.shape
    ho, wo, pitch, _ = _flat_geometry(x_shape, kh, kw, cfg)
    r = ho * pitch
    plain = g.__class__ is _ndarray and w.__class__ is _ndarray
    # The dropped columns of g are zeros, so their column gradients add nothing; the reads
    # across an edge must add nothing either, so their column gradients are zeroed.
    wt, gt = w.reshape((o, -1)).T, _flat_g(g, pitch)
    dcols = _array(plain, (c * kh * kw, n * r), NP.result_type(wt, gt))
    NP.matmul(wt, gt, out=dcols)
    dcols6 = dcols.reshape((c, kh, kw, n, ho, pitch))
    _flat_edges(dcols6, wd, kw, dw, pl, wo)
    dx = _array(plain, x_shape, dcols.dtype)
    if ho == h and pitch == wd:
        # The output rows are the input rows (padding 'same' along H): with the images back
        # to back, each kernel offset is one shift of the whole batch, and col2im is kh*kw
        # adds of runs N*H*W long instead of N*C runs of H*W (a third faster on the CNN
        # layer). A shift then reads into the image above or below, so the rows that cross
        # an image's top or bottom edge are zeroed too.
        pt = cfg[1][0][0]
        for p in range(kh):
            s = p * dh - pt
            lo, hi = min(ho, max(0, -s)), max(0, h - s)
            if lo:
                dcols6[:, p, :, :, :lo] = 0
            if hi < ho:
                dcols6[:, p, :, :, hi:] = 0
        length = n * r
        flat = _array(plain, (c, length + (kh - 1) * dh * pitch + (kw - 1) * dw), dcols.dtype,
                      zero=True)  # fmt: skip
        d4 = dcols.reshape((c, kh, kw, length))
        for p in range(kh):
            for q in range(kw):
                shift = p * dh * pitch + q * dw
                flat[:, shift : shift + length] += d4[:, p, q]
        start = pt * pitch + pl
        images = flat[:, start : start + length].reshape((c, n, h * wd))
        NP.copyto(dx.reshape((n, c, h * wd)).transpose(1, 0, 2), images)
        return dx
    buf, pixels = _flat_buffer(plain, x_shape, dcols.dtype, kh, kw, cfg)
    for p in range(kh):
        for q in range(kw):
            shift = p * dh * pitch + q * dw
            buf[:, :, shift : shift + r] += dcols6[:, p, q].reshape((c, n, r))
    NP.copyto(dx, pixels.transpose(1, 0, 2, 3))
    return dx


def _flat_weight_grad(
    x: Any, g: Any, w_shape: tuple[int, ...], cfg: ConvCfg, saved: _FlatSaved | None = None
) -> Any:
    o, _, kh, kw = w_shape
    pitch = _flat_geometry(x.shape, kh, kw, cfg)[2]
    cols = saved.cols if saved is not None and saved.cols is not None else None
    if cols is None:
        cols = _flat_cols(x, kh, kw, cfg)
    # The dropped columns of g are zeros, so whatever cols holds there adds nothing.
    return NP.matmul(_flat_g(g, pitch), cols.T).reshape(w_shape)


def _conv2d_forward(
    xp: Any, x: Any, w: Any, b: Any, cfg: ConvCfg, saved: _FlatSaved | None = None
) -> Any:
    groups = cfg[3]
    o, _, kh, kw = w.shape
    if _flat(xp, cfg, w.shape):
        return _flat_forward(x, w, b, cfg, saved)
    wg = w.reshape((groups, o // groups, -1))
    if b is not None:
        # The bias as one more weight column against a row of ones: the product adds it,
        # which costs far less than a second pass over the output.
        wg = xp.concatenate([wg, b.reshape((groups, o // groups, 1))], axis=2)
    cols, ho, wo = _cols(xp, x, kh, kw, cfg, ones_row=b is not None)
    if o == groups:  # depthwise-like, one output channel per group: 1-row products are slow
        out = xp.einsum("gk,ngkl->ngl", wg[:, 0], cols)
    else:
        # (G, O/G, K) @ (N, G, K, L): one product per group, batched over N and G in one call.
        out = xp.matmul(wg, cols)
    return out.reshape((x.shape[0], o, ho, wo))


def _conv2d_input_grad_forward(
    xp: Any, g: Any, w: Any, x_shape: tuple[int, ...], cfg: ConvCfg
) -> Any:
    """col2im(W^T @ g): each window's column gradient added back to the pixels it read."""
    if _flat(xp, cfg, w.shape):
        return _flat_input_grad(g, w, x_shape, cfg)
    (sh, sw), pads, (dh, dw), groups = cfg
    n, c, h, wd = x_shape
    o, cg, kh, kw = w.shape
    ho, wo = g.shape[2], g.shape[3]
    (pt, pb), (pl, pr) = pads
    dx = xp.zeros((n, c, h + pt + pb, wd + pl + pr), xp.result_type(g, w))
    offsets = _offsets(kh, kw, sh, sw, dh, dw, ho, wo)
    if o == groups:
        # One output channel per group (depthwise): each kernel offset adds g times one weight
        # per input channel, without the (N, C*kh*kw, L) columns or a batch of 1-row products.
        g5 = g.reshape((n, groups, 1, ho, wo))
        w5 = w.reshape((groups, cg, kh * kw, 1, 1))
        for k, index in enumerate(offsets):
            dx[index] += (g5 * w5[:, :, k]).reshape((n, c, ho, wo))
    else:
        g = xp.ascontiguousarray(g)  # a broadcast g (from a sum) would keep matmul off BLAS
        wg = w.reshape((groups, o // groups, cg * kh * kw))
        dcols = xp.matmul(xp.swapaxes(wg, -1, -2), g.reshape((n, groups, o // groups, -1)))
        dcols = dcols.reshape((n, c, kh * kw, ho, wo))
        for k, index in enumerate(offsets):
            dx[index] += dcols[:, :, k]
    return _crop(dx, pads, x_shape)


def _conv2d_weight_grad_forward(
    xp: Any, x: Any, g: Any, w_shape: tuple[int, ...], cfg: ConvCfg
) -> Any:
    """g @ cols(x)^T summed over the batch: (N, G, O/G, L) @ (N, G, L, K) -> (G, O/G, K)."""
    if _flat(xp, cfg, w_shape):
        return _flat_weight_grad(x, g, w_shape, cfg)
    groups = cfg[3]
    o, _, kh, kw = w_shape
    cols, ho, wo = _cols(xp, x, kh, kw, cfg)
    n = g.shape[0]
    if o == groups:  # depthwise-like: see _conv2d_forward
        return xp.einsum("ngl,ngkl->gk", g.reshape((n, groups, -1)), cols).reshape(w_shape)
    g = xp.ascontiguousarray(g)  # a broadcast g (from a sum) would keep matmul off BLAS
    gg = g.reshape((n, groups, o // groups, -1))
    return xp.matmul(gg, xp.swapaxes(cols, -1, -2)).sum(axis=0).reshape(w_shape)


# ``saved`` (a _FlatSaved, or None) is there only on a flat node recorded by conv2d; it serves
# the ordinary backward, while under create_graph the rules record the helpers as always.
def _d_conv_x(
    xp: Any, g: Any, out: Any, x: Any, w: Any, b: Any, cfg: ConvCfg, saved: Any = None
) -> Any:
    return _call(_conv_input_grad, _conv2d_input_grad_forward, xp, (g, w), (x.shape, cfg))


def _d_conv_w(
    xp: Any, g: Any, out: Any, x: Any, w: Any, b: Any, cfg: ConvCfg, saved: Any = None
) -> Any:
    if saved is not None and not isinstance(g, Tensor):
        return _flat_weight_grad(x, g, w.shape, cfg, saved)
    return _call(_conv_weight_grad, _conv2d_weight_grad_forward, xp, (x, g), (w.shape, cfg))


def _d_conv_b(
    xp: Any, g: Any, out: Any, x: Any, w: Any, b: Any, cfg: ConvCfg, saved: Any = None
) -> Any:
    if isinstance(g, Tensor):
        return g.sum(axis=(0, 2, 3))
    # Row sums by a matrix-vector product: a few times faster than sum over axes (0, 2, 3).
    n, o = g.shape[:2]
    rows = xp.ascontiguousarray(g).reshape((n, o, -1))
    return xp.matmul(rows, xp.ones(rows.shape[2], g.dtype)).sum(axis=0)


_conv = define("conv2d", (_d_conv_x, _d_conv_w, _d_conv_b),
    "dx = col2im(W^T @ g) = conv2d_input_grad(g, W);  dW = g @ cols(x)^T = "
    "conv2d_weight_grad(x, g);  db = g summed over (N, H, W)")  # fmt: skip

# conv2d_input_grad(g, W) = A_W^T g, where A_W x = conv2d(x, W). For an incoming G (x's shape):
# <G, A_W^T g> = <conv2d(G, W), g>, so dg = conv2d(G, W) and dW = conv2d_weight_grad(G, g).
_conv_input_grad = define("conv2d_input_grad", (
    lambda xp, G, out, g, w, x_shape, cfg:
        _call(_conv, _conv2d_forward, xp, (G, w, None), (cfg,)),
    lambda xp, G, out, g, w, x_shape, cfg:
        _call(_conv_weight_grad, _conv2d_weight_grad_forward, xp, (G, g), (w.shape, cfg))),
    "dg = conv2d(G, W);  dW = conv2d_weight_grad(G, g)")  # fmt: skip

# conv2d_weight_grad(x, g) = d<conv2d(x, W), g>/dW. For an incoming H (W's shape):
# <H, conv2d_weight_grad(x, g)> = <conv2d(x, H), g>, so dx = conv2d_input_grad(g, H) and
# dg = conv2d(x, H).
_conv_weight_grad = define("conv2d_weight_grad", (
    lambda xp, H, out, x, g, w_shape, cfg:
        _call(_conv_input_grad, _conv2d_input_grad_forward, xp, (g, H), (x.shape, cfg)),
    lambda xp, H, out, x, g, w_shape, cfg:
        _call(_conv, _conv2d_forward, xp, (x, H, None), (cfg,))),
    "dx = conv2d_input_grad(g, H);  dg = conv2d(x, H)")  # fmt: skip


def _conv_padding(
    padding: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> Pads:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise ValueError(
                f"conv2d: padding {padding!r} is not understood; expected an int, a pair of "
                "ints, 'same' or 'valid'"
            )
        if stride != (1, 1):
            raise ValueError(
                f"conv2d: padding='same' needs stride 1, got stride {stride} (as in PyTorch)"
            )
        # The output keeps the input's size; an odd total puts the extra row/column at the
        # bottom/right, as PyTorch does.
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    ph, pw = _pair(padding, "padding", "conv2d", 0)
    return (ph, ph), (pw, pw)


def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of a batch of images, NCHW.

    ``out[n, o, i, j] = b[o] + sum_{c, p, q} W[o, c, p, q] * xpad[n, g*C/G + c, i*sh + p*dh,
    j*sw + q*dw]`` for output channel ``o`` in group ``g``. Computed as im2col (a strided view
    of the padded input, copied once) and one batched matrix product; gradients for ``x``,
    ``weight`` and ``bias``, and second derivatives.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C_in, H, W), floating
    weight : Tensor or array_like, shape (C_out, C_in / groups, kh, kw)
    bias : Tensor or array_like, shape (C_out,), optional
    stride, dilation : int or pair of ints
    padding : int, pair of ints, 'same' or 'valid'
        Zeros added on both sides of H and W. ``'same'`` (stride 1 only) keeps the size.
    groups : int
        Split channels into groups convolved separately; ``groups == C_in`` is depthwise.

    Returns
    -------
    Tensor
        Shape (N, C_out, Ho, Wo), ``Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1``. float32
        inputs give float32.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import conv2d
    >>> x = cr.ones((1, 1, 3, 3))
    >>> conv2d(x, cr.ones((1, 1, 2, 2))).tolist()
    [[[[4.0, 4.0], [4.0, 4.0]]]]
    >>> conv2d(x, cr.ones((2, 1, 3, 3)), padding=1).shape
    (1, 2, 3, 3)
    """
    op = "conv2d"
    xd, wd, bd, groups, o = _conv_args(op, 2, x, weight, bias, groups, False)
    xs, ws = xd.shape, wd.shape
    stride_ = _pair(stride, "stride", op, 1)
    dilation_ = _pair(dilation, "dilation", op, 1)
    kernel = (ws[2], ws[3])
    pads = _conv_padding(padding, kernel, stride_, dilation_)
    for axis, (n, k, d, p) in enumerate(zip(xs[2:], kernel, dilation_, pads)):
        if n + p[0] + p[1] < d * (k - 1) + 1:
            raise ValueError(
                f"{op}: kernel of size {kernel} (dilation {dilation_}) spans "
                f"{d * (k - 1) + 1} along {'HW'[axis]}, more than the padded input's "
                f"{n + p[0] + p[1]} (input of shape {xs}, padding {pads[axis]})"
            )
    arrays = (x if isinstance(x, Tensor) else xd, weight if isinstance(weight, Tensor) else wd,
              bias if isinstance(bias, Tensor) else bd)  # fmt: skip
    cfg = (stride_, pads, dilation_, groups)
    return apply(_conv, _conv2d_forward, arrays, _conv_params(cfg, arrays[0], arrays[1]))


def _conv_params(cfg: ConvCfg, x: Any, w: Any) -> tuple[Any, ...]:
    """The params of a conv2d node for ``apply`` (``x`` and ``w`` as passed to it): with a
    _FlatSaved when the node will be recorded on the flat path with a weight gradient."""
    if isinstance(w, Tensor) and w._rg and (not modes_switched or state.grad_enabled):
        xd = x._data if isinstance(x, Tensor) else x
        wd = w._data
        if isinstance(xd, np.ndarray) and isinstance(wd, np.ndarray) and _flat(NP, cfg, wd.shape):
            return (cfg, _FlatSaved())
    return (cfg,)


conv2d.prim = _conv  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- pooling
#: A pooling's settings: (kernel (kh, kw), stride (sh, sw), pads ((top, bottom), (left,
#: right)) including the extra rows/columns of ceil_mode, dilation (dh, dw), output (ho, wo)).
PoolCfg = tuple[tuple[int, int], tuple[int, int], Pads, tuple[int, int], tuple[int, int]]


def _pool_cfg(
    op: str, shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any,
    dilation: Any, ceil_mode: bool,
) -> PoolCfg:
    _check_4d(shape, op, "input", "(N, C, H, W)")
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    stride_ = kernel if stride is None else _pair(stride, "stride", op, 1)
    pad = _pair(padding, "padding", op, 0)
    dil = _pair(dilation, "dilation", op, 1)
    pads, out = [], []
    for axis in range(2):
        n, k, s, p, d = shape[2 + axis], kernel[axis], stride_[axis], pad[axis], dil[axis]
        if 2 * p > k:
            raise ValueError(
                f"{op}: padding {pad} must be at most half of kernel_size {kernel} (as in "
                "PyTorch), so that every window holds an input element"
            )
        span = d * (k - 1) + 1
        if n + 2 * p < span:
            raise ValueError(
                f"{op}: kernel of size {kernel} (dilation {dil}) spans {span} along "
                f"{'HW'[axis]}, more than the padded input's {n + 2 * p} (input of shape "
                f"{shape}, padding {pad})"
            )
        m = n + 2 * p - span
        size = (-(-m // s) if ceil_mode else m // s) + 1
        if ceil_mode and (size - 1) * s >= n + p:
            size -= 1  # the last window must start inside the input or its left padding
        extra = max(0, (size - 1) * s + span - (n + 2 * p))
        pads.append((p, p + extra))
        out.append(size)
    return kernel, stride_, (pads[0], pads[1]), dil, (out[0], out[1])


def _windows(cfg: PoolCfg) -> tuple[tuple[slice, slice, slice, slice], ...]:
    (kh, kw), (sh, sw), _, (dh, dw), (ho, wo) = cfg
    return _offsets(kh, kw, sh, sw, dh, dw, ho, wo)


def _disjoint(cfg: PoolCfg) -> bool:
    """Whether no two windows overlap (stride at least the dilated kernel's extent), so that
    each padded pixel is read by at most one (window, kernel offset) pair."""
    (kh, kw), (sh, sw), _, (dh, dw), _ = cfg
    return sh >= dh * (kh - 1) + 1 and sw >= dw * (kw - 1) + 1


# -------------------------------------------------------------------------- max_pool2d
def _max_pool_forward(xp: Any, x: Any, cfg: PoolCfg, want_index: bool) -> tuple[Any, Any]:
    """The window maxima, and (if asked) each one's kernel offset, row-major; on a tie the
    first maximum keeps it (PyTorch's choice). A NaN propagates to the maximum (where the
    gradient then goes within that window is unspecified)."""
    xpad = _pad(xp, x, cfg[2], -np.inf)
    windows = _windows(cfg)
    best = xpad[windows[0]].copy()
    if not want_index:
        for index in windows[1:]:
            xp.maximum(best, xpad[index], out=best)
        return best, None
    dtype = np.uint8 if len(windows) <= 256 else np.int32
    arg = xp.zeros(best.shape, dtype)
    upd = xp.empty(best.shape, bool)
    for k, index in enumerate(windows[1:], 1):
        v = xpad[index]
        xp.greater(v, best, out=upd)  # strictly: an equal later value does not take over
        xp.maximum(best, v, out=best)
        # arg = k where upd: modular arithmetic on the small ints, faster than a masked copy
        arg += (dtype(k) - arg) * upd
    return best, arg


def _max_scatter_forward(
    xp: Any, g: Any, arg: Any, cfg: PoolCfg, x_shape: tuple[int, ...]
) -> Any:
    """Each window's gradient added at its maximum: the vjp of max_pool2d."""
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = cfg[2]
    dx = xp.zeros((n, c, h + pt + pb, w + pl + pr), g.dtype)
    if _disjoint(cfg):  # each pixel belongs to one window offset: write, don't add
        for k, index in enumerate(_windows(cfg)):
            xp.multiply(g, arg == k, out=dx[index])
    else:
        for k, index in enumerate(_windows(cfg)):
            dx[index] += g * (arg == k)
    return _crop(dx, cfg[2], x_shape)


def _max_gather_forward(
    xp: Any, G: Any, arg: Any, cfg: PoolCfg, x_shape: tuple[int, ...]
) -> Any:
    """Each window's maximum position read from ``G``: the vjp of the scatter above."""
    gpad = _pad(xp, G, cfg[2])
    windows = _windows(cfg)
    out = gpad[windows[0]] * (arg == 0)
    for k, index in enumerate(windows[1:], 1):
        out += gpad[index] * (arg == k)
    return out


_max_scatter = define("max_pool2d_backward", (
    lambda xp, G, out, g, arg, cfg, x_shape:
        _call(_max_gather, _max_gather_forward, xp, (G,), (arg, cfg, x_shape)),),
    "dg = G read at each window's maximum")  # fmt: skip

_max_gather = define("max_pool2d_gather", (
    lambda xp, g, out, G, arg, cfg, x_shape:
        _call(_max_scatter, _max_scatter_forward, xp, (g,), (arg, cfg, x_shape)),),
    "dG = g added at each window's maximum")  # fmt: skip

_max_pool = define("max_pool2d", (
    lambda xp, g, out, x, arg, cfg:
        _call(_max_scatter, _max_scatter_forward, xp, (g,), (arg, cfg, x.shape)),),
    "dx = g added at each window's (first) maximum, zero elsewhere")  # fmt: skip


def max_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Maximum over each (kh, kw) window of a batch of images, NCHW, as PyTorch's.

    The gradient of each window goes to its maximum; on a tie, to the first in row-major
    order (PyTorch's choice). Padding is ``-inf``, so it never wins.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, H, W), floating
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size`` (non-overlapping windows).
    padding : int or pair of ints
        At most half the kernel size.
    dilation : int or pair of ints
    ceil_mode : bool
        Round the output size up, so a partial window at the end counts.
    return_indices : bool
        Also return each maximum's flat position ``h * W + w`` in its (H, W) plane (int64,
        no gradient), as :func:`max_unpool2d` takes them.

    Returns
    -------
    Tensor, or (Tensor, Tensor) with ``return_indices``
        Shape (N, C, Ho, Wo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import max_pool2d
    >>> x = cr.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    >>> max_pool2d(x, 2, return_indices=True)[1].tolist()
    [[[[5, 7], [13, 15]]]]
    """
    op = "max_pool2d"
    xd = _operand(x, op, "input")
    cfg = _pool_cfg(op, xd.shape, kernel_size, stride, padding, dilation, bool(ceil_mode))
    xp = NP if xd.__class__ is _ndarray else xp_of(xd)
    recording = isinstance(x, Tensor) and x._rg and (not modes_switched or state.grad_enabled)
    out, arg = _max_pool_forward(xp, xd, cfg, recording or return_indices)
    result = record(_max_pool, out, (xd, arg, cfg), (x,)) if recording else _leaf(out)
    if return_indices:
        return result, _leaf(_flat_indices(xp, arg, cfg, xd.shape[3]))
    return result


def _flat_indices(xp: Any, arg: Any, cfg: PoolCfg, width: int) -> Any:
    """Each window's maximum as ``h * W + w`` in the unpadded plane, from its kernel offset."""
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (dh, dw), (ho, wo) = cfg
    a = arg.astype(np.int64)
    rows = a // kw * dh + (xp.arange(ho, dtype=np.int64) * sh - pt)[:, None]
    cols = a % kw * dw + xp.arange(wo, dtype=np.int64) * sw - pl
    return rows * width + cols


max_pool2d.prim = _max_pool  # type: ignore[attr-defined]


# -------------------------------------------------------------------------- avg_pool2d
def _window_sum(xp: Any, xpad: Any, cfg: PoolCfg) -> Any:
    (kh, kw), _, _, _, (ho, wo) = cfg
    n, c, hp, wp = xpad.shape
    if ho == wo == 1 and (kh, kw) == (hp, wp):  # one window, the whole image
        # Row sums by a matrix-vector product: a few times faster than sum over (2, 3).
        rows = xp.ascontiguousarray(xpad).reshape((n, c, -1))
        return xp.matmul(rows, xp.ones(rows.shape[2], rows.dtype)).reshape((n, c, 1, 1))
    windows = _windows(cfg)
    out = xpad[windows[0]].copy()
    for index in windows[1:]:
        out += xpad[index]
    return out


def _window_spread(xp: Any, g: Any, cfg: PoolCfg, padded: tuple[int, ...]) -> Any:
    """The adjoint of :func:`_window_sum`: each window's ``g`` added to all its pixels."""
    (kh, kw), _, _, _, (ho, wo) = cfg
    if ho == wo == 1 and (kh, kw) == padded[2:]:
        return xp.broadcast_to(g, padded).copy()
    dx = xp.zeros(padded, g.dtype)
    windows = _windows(cfg)
    if _disjoint(cfg):
        for index in windows:
            dx[index] = g
    else:
        for index in windows:
            dx[index] += g
    return dx


def _on(xp: Any, div: Any) -> Any:
    # The divisor table is made once with NumPy; another backend needs its own copy.
    return div if xp is NP or div.__class__ is int else xp.asarray(div)


def _avg_pool_forward(xp: Any, x: Any, cfg: PoolCfg, div: Any) -> Any:
    s = _window_sum(xp, _pad(xp, x, cfg[2]), cfg)
    s /= _on(xp, div)
    return s


def _avg_spread_forward(
    xp: Any, g: Any, cfg: PoolCfg, div: Any, x_shape: tuple[int, ...]
) -> Any:
    n, c, h, w = x_shape
    (pt, pb), (pl, pr) = cfg[2]
    dx = _window_spread(xp, g / _on(xp, div), cfg, (n, c, h + pt + pb, w + pl + pr))
    return _crop(dx, cfg[2], x_shape)


_avg_pool = define("avg_pool2d", (
    lambda xp, g, out, x, cfg, div:
        _call(_avg_spread, _avg_spread_forward, xp, (g,), (cfg, div, x.shape)),),
    "dx = g / count spread evenly over each window")  # fmt: skip

_avg_spread = define("avg_pool2d_backward", (
    lambda xp, G, out, g, cfg, div, x_shape:
        _call(_avg_pool, _avg_pool_forward, xp, (G,), (cfg, div)),),
    "dg = avg_pool2d(G)  (the window sums of G / count)")  # fmt: skip


def _divisor(
    cfg: PoolCfg, shape: tuple[int, ...], count_include_pad: bool, dtype: Any
) -> Any:
    """The count each window's sum is divided by: kh*kw, or, where windows reach into the
    padding, PyTorch's count (padding counts if ``count_include_pad``; ceil_mode's overhang
    never does)."""
    (kh, kw), _, ((pt, pb), (pl, pr)), _, _ = cfg
    h, w = shape[2], shape[3]
    (ph, pw) = (pt, pl)
    extra_h, extra_w = pb - ph, pr - pw
    if not (extra_h or extra_w) and (count_include_pad or not (ph or pw)):
        return kh * kw
    mask = np.zeros((1, 1, h + pt + pb, w + pl + pr), dtype)
    if count_include_pad:
        mask[:, :, :h + 2 * ph, :w + 2 * pw] = 1
    else:
        mask[:, :, ph:ph + h, pw:pw + w] = 1
    return _window_sum(NP, mask, cfg)[0, 0]


def avg_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each (kh, kw) window of a batch of images, NCHW, as PyTorch's.

    The gradient of each window is spread evenly over its elements.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, H, W), floating
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size``.
    padding : int or pair of ints
        Zeros, at most half the kernel size.
    ceil_mode : bool
        Round the output size up, so a partial window at the end counts.
    count_include_pad : bool
        Whether padded zeros count in the divisor (PyTorch's default, True).
    divisor_override : int, optional
        Divide every window's sum by this instead.

    Returns
    -------
    Tensor
        Shape (N, C, Ho, Wo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import avg_pool2d
    >>> avg_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    op = "avg_pool2d"
    xd = _operand(x, op, "input")
    cfg = _pool_cfg(op, xd.shape, kernel_size, stride, padding, 1, bool(ceil_mode))
    if divisor_override is not None:
        div = operator.index(divisor_override)
        if div <= 0:
            raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    else:
        div = _divisor(cfg, xd.shape, bool(count_include_pad), xd.dtype)
    return apply(_avg_pool, _avg_pool_forward, (x if isinstance(x, Tensor) else xd,), (cfg, div))


avg_pool2d.prim = _avg_pool  # type: ignore[attr-defined]


# ----------------------------------------------------------------- adaptive_avg_pool2d
def _adaptive_matrix(n: int, m: int, dtype: Any) -> np.ndarray:
    """(m, n) averaging matrix of PyTorch's adaptive windows: row i averages
    ``[floor(i n / m), ceil((i + 1) n / m))``."""
    p = np.zeros((m, n), dtype)
    for i in range(m):
        a, b = (i * n) // m, -(-((i + 1) * n) // m)
        p[i, a:b] = 1.0 / (b - a)
    return p


def adaptive_avg_pool2d(x: Any, output_size: Any) -> Tensor:
    """Mean over the windows that divide H x W into ``output_size`` cells, as PyTorch's.

    When the sizes divide evenly this is :func:`avg_pool2d` with kernel = stride = H / Ho
    (output size 1 is the mean over H and W); otherwise the windows are PyTorch's
    ``[floor(i H / Ho), ceil((i + 1) H / Ho))``, possibly overlapping, computed as
    ``P_h @ x @ P_w^T`` with averaging matrices.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, H, W), floating
    output_size : int or pair of ints
        An entry of None keeps that input size.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import adaptive_avg_pool2d
    >>> adaptive_avg_pool2d(cr.arange(16.0).reshape(1, 1, 4, 4), 1).tolist()
    [[[[7.5]]]]
    """
    op = "adaptive_avg_pool2d"
    xd = _operand(x, op, "input")
    shape = xd.shape
    _check_4d(shape, op, "input", "(N, C, H, W)")
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        output_size = tuple(
            shape[2 + i] if s is None else s for i, s in enumerate(output_size)
        )
    oh, ow = _pair(output_size, "output_size", op, 1)
    h, w = shape[2], shape[3]
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(x, (h // oh, w // ow))
    from .linalg import matmul

    xp = xp_of(xd)  # the matrices are made with NumPy; a GPU input needs copies
    ph = xp.asarray(_adaptive_matrix(h, oh, xd.dtype))
    pw = xp.asarray(_adaptive_matrix(w, ow, xd.dtype))
    return matmul(matmul(ph, x), pw.T)


adaptive_avg_pool2d.prim = _avg_pool  # type: ignore[attr-defined]


# ------------------------------------------------- the rest of the family (see the top)

_AXIS_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_INPUT_LAYOUT = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}


def _ntuple(value: Any, nd: int, name: str, op: str, low: int) -> tuple[int, ...]:
    """An int or ``nd`` ints, each ``>= low``, as an ``nd``-tuple."""
    try:
        if isinstance(value, (tuple, list)):
            if len(value) != nd:
                raise TypeError
            out = tuple(operator.index(v) for v in value)
        else:
            out = (operator.index(value),) * nd
    except TypeError:
        raise TypeError(
            f"{op}: {name} must be an int or a tuple of {nd} ints, got {value!r}"
        ) from None
    if any(v < low for v in out):
        raise ValueError(f"{op}: {name} must be >= {low}, got {value!r}")
    return out


def _check_nd(shape: tuple[int, ...], nd: int, op: str, what: str, layout: str) -> None:
    if len(shape) != nd + 2:
        hint = (
            " (add a batch axis with x[None])" if len(shape) == nd + 1 and what == "input" else ""
        )
        raise ValueError(
            f"{op}: {what} must be {nd + 2}-D {layout}, got shape {shape} ({len(shape)}-D){hint}"
        )


def _tensor(x: Any, d: Any) -> Tensor:
    """``x`` itself if a Tensor (so its graph continues), else its array as a constant leaf."""
    return x if isinstance(x, Tensor) else _leaf(d)


def _conv_args(
    op: str, nd: int, x: Any, weight: Any, bias: Any, groups: Any, transposed: bool
) -> tuple[Any, Any, Any, int, int]:
    """Checked arrays of a convolution, its groups and its output channel count."""
    xd = _operand(x, op, "input")
    wd = _operand(weight, op, "weight")
    xs, ws = xd.shape, wd.shape
    k = ", ".join(("kl",) if nd == 1 else ("kd", "kh", "kw")[3 - nd:])
    _check_nd(xs, nd, op, "input", _INPUT_LAYOUT[nd].replace("C", "C_in"))
    if transposed:
        _check_nd(ws, nd, op, "weight", f"(C_in, C_out / groups, {k})")
    else:
        _check_nd(ws, nd, op, "weight", f"(C_out, C_in / groups, {k})")
    try:
        groups = operator.index(groups)
    except TypeError:
        raise TypeError(f"{op}: groups must be an int, got {groups!r}") from None
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    c = xs[1]
    if transposed:
        o = ws[1] * groups
        if ws[0] != c or c % groups:
            raise ValueError(
                f"{op}: input of shape {xs} has {c} channels, but weight of shape {ws} expects "
                f"{ws[0]} (weight.shape[0]), which groups={groups} must divide"
            )
    else:
        o = ws[0]
        if c % groups or o % groups:
            raise ValueError(
                f"{op}: groups={groups} must divide both the input channels ({c}, input of "
                f"shape {xs}) and the output channels ({o}, weight of shape {ws})"
            )
        if ws[1] * groups != c:
            raise ValueError(
                f"{op}: input of shape {xs} has {c} channels, but weight of shape {ws} expects "
                f"{ws[1] * groups} (weight.shape[1] * groups = {ws[1]} * {groups})"
            )
    bd = None
    if bias is not None:
        bd = _operand(bias, op, "bias")
        if bd.shape != (o,):
            raise ValueError(
                f"{op}: bias of shape {bd.shape} does not match weight of shape {ws}; expected "
                f"shape ({o},), one per output channel"
            )
    return xd, wd, bd, groups, o


def _conv_pads(
    op: str, padding: Any, kernel: tuple[int, ...], stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """(before, after) zeros per spatial axis: from an int, a tuple, 'valid' or 'same'."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(
                f"{op}: padding {padding!r} is not understood; expected an int, a tuple of "
                f"{nd} ints, 'same' or 'valid'"
            )
        if any(s != 1 for s in stride):
            raise ValueError(
                f"{op}: padding='same' needs stride 1, got stride {stride} (as in PyTorch)"
            )
        # An odd total puts the extra zero after (bottom/right), as PyTorch does.
        return tuple(
            (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)
        )
    return tuple((p, p) for p in _ntuple(padding, nd, "padding", op, 0))


def _check_span(
    op: str, shape: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
) -> None:
    names = _AXIS_NAMES[len(kernel)]
    for axis, (n, k, d, p) in enumerate(zip(shape[2:], kernel, dilation, pads)):
        if n + p[0] + p[1] < d * (k - 1) + 1:
            raise ValueError(
                f"{op}: kernel of size {kernel} (dilation {dilation}) spans {d * (k - 1) + 1} "
                f"along {names[axis]}, more than the padded input's {n + p[0] + p[1]} (input of "
                f"shape {shape}, padding {pads[axis]})"
            )


# ------------------------------------------------------------------------------ conv1d
def conv1d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D convolution (cross-correlation, as in PyTorch) of a batch of sequences, NCL.

    ``out[n, o, i] = b[o] + sum_{c, p} W[o, c, p] * xpad[n, g*C/G + c, i*s + p*d]``. Computed
    as :func:`conv2d` on a unit height, so it has the same rules and second derivatives.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C_in, L), floating
    weight : Tensor or array_like, shape (C_out, C_in / groups, k)
    bias : Tensor or array_like, shape (C_out,), optional
    stride, dilation : int or tuple of one int
    padding : int, tuple of one int, 'same' or 'valid'
        Zeros on both ends; ``'same'`` (stride 1) keeps the length, an odd total padding
        putting the extra zero at the end.
    groups : int

    Returns
    -------
    Tensor
        Shape (N, C_out, Lo), ``Lo = (L + 2 p - d (k - 1) - 1) // s + 1``; ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import conv1d
    >>> conv1d(cr.tensor([[[1.0, 2.0, 3.0, 4.0]]]), cr.tensor([[[1.0, -1.0]]])).tolist()
    [[[-1.0, -1.0, -1.0]]]
    """
    op = "conv1d"
    xd, wd, bd, groups, o = _conv_args(op, 1, x, weight, bias, groups, False)
    stride_ = _ntuple(stride, 1, "stride", op, 1)
    dilation_ = _ntuple(dilation, 1, "dilation", op, 1)
    kernel = (wd.shape[2],)
    pads = _conv_pads(op, padding, kernel, stride_, dilation_)
    _check_span(op, xd.shape, kernel, dilation_, pads)
    n, c, length = xd.shape
    x4 = reshape(x if isinstance(x, Tensor) else xd, (n, c, 1, length))
    w4 = reshape(weight if isinstance(weight, Tensor) else wd, (o, wd.shape[1], 1, kernel[0]))
    cfg = ((1, stride_[0]), ((0, 0), pads[0]), (1, dilation_[0]), groups)
    out = apply(_conv, _conv2d_forward, (x4, w4, bias if isinstance(bias, Tensor) else bd),
                _conv_params(cfg, x4, w4))  # fmt: skip
    return reshape(out, (n, o, out.shape[3]))


# ------------------------------------------------------------------------------ conv3d
def conv3d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution (cross-correlation, as in PyTorch) of a batch of volumes, NCDHW.

    ``out[:, :, t] = b + sum_p conv2d(xpad[:, :, t*sd + p*dd], W[:, :, p])``: one
    :func:`conv2d` per kernel depth ``p``, on all output depths at once (depth folded into the
    batch). Gradients and second derivatives come from conv2d's rules.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C_in, D, H, W), floating
    weight : Tensor or array_like, shape (C_out, C_in / groups, kd, kh, kw)
    bias : Tensor or array_like, shape (C_out,), optional
    stride, dilation : int or tuple of three ints
    padding : int, tuple of three ints, 'same' or 'valid'
    groups : int

    Returns
    -------
    Tensor
        Shape (N, C_out, Do, Ho, Wo), each as in :func:`conv2d`; ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import conv3d
    >>> conv3d(cr.ones((1, 1, 3, 3, 3)), cr.ones((2, 1, 2, 2, 2))).shape
    (1, 2, 2, 2, 2)
    >>> conv3d(cr.ones((1, 1, 2, 2, 2)), cr.ones((1, 1, 2, 2, 2))).item()
    8.0
    """
    op = "conv3d"
    xd, wd, bd, groups, o = _conv_args(op, 3, x, weight, bias, groups, False)
    stride_ = _ntuple(stride, 3, "stride", op, 1)
    dilation_ = _ntuple(dilation, 3, "dilation", op, 1)
    kernel = tuple(wd.shape[2:])
    pads = _conv_pads(op, padding, kernel, stride_, dilation_)
    _check_span(op, xd.shape, kernel, dilation_, pads)
    n, c, d, h, w = xd.shape
    kd, sd, dd, (p0, p1) = kernel[0], stride_[0], dilation_[0], pads[0]
    do = (d + p0 + p1 - dd * (kd - 1) - 1) // sd + 1
    # Depth next to the batch: a depth slice of every window is then a batch of images.
    xt = transpose(_tensor(x, xd), (0, 2, 1, 3, 4))
    if p0 or p1:
        xt = _pad_axes(xt, ((0, 0), (p0, p1), (0, 0), (0, 0), (0, 0)))
    wt = _tensor(weight, wd)
    cfg = (stride_[1:], pads[1:], dilation_[1:], groups)
    out: Any = None
    for p in range(kd):
        start = p * dd
        planes = getitem(xt, (slice(None), slice(start, start + sd * (do - 1) + 1, sd)))
        planes = reshape(planes, (n * do, c, h, w))
        b = (bias if isinstance(bias, Tensor) else bd) if p == 0 else None  # added once
        wp = getitem(wt, (slice(None), slice(None), p))
        y = apply(_conv, _conv2d_forward, (planes, wp, b), _conv_params(cfg, planes, wp))
        out = y if out is None else out + y
    ho, wo = out.shape[2], out.shape[3]
    return transpose(reshape(out, (n, do, o, ho, wo)), (0, 2, 1, 3, 4))


# --------------------------------------------------------------------- conv_transpose
def _transposed_shape(
    op: str, shape: tuple[int, ...], o: int, kernel: tuple[int, ...], stride: tuple[int, ...],
    padding: tuple[int, ...], output_padding: tuple[int, ...], dilation: tuple[int, ...],
) -> tuple[int, ...]:
    names = _AXIS_NAMES[len(kernel)]
    sizes = []
    for axis, (n, k, s, p, q, d) in enumerate(
        zip(shape[2:], kernel, stride, padding, output_padding, dilation)
    ):
        if q >= max(s, d):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                f"or dilation {dilation} along {names[axis]} (as in PyTorch)"
            )
        size = (n - 1) * s - 2 * p + d * (k - 1) + q + 1
        if size < 1:
            raise ValueError(
                f"{op}: input of shape {shape} with kernel {kernel}, stride {stride}, padding "
                f"{padding} and dilation {dilation} gives an output of size {size} along "
                f"{names[axis]}; it must be >= 1"
            )
        sizes.append(size)
    return (shape[0], o, *sizes)


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-D transposed convolution ("deconvolution"), NCHW, as PyTorch's.

    The transpose of :func:`conv2d` as a linear map of its input: ``conv_transpose2d(x, W)``
    is the gradient of ``<conv2d(y, W), x>`` with respect to ``y``. It is computed by that
    rule itself (``conv2d_input_grad``: ``W^T @ x`` then col2im), so its gradients are
    ``conv2d`` and ``conv2d_weight_grad``, with second derivatives.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C_in, H, W), floating
    weight : Tensor or array_like, shape (C_in, C_out / groups, kh, kw)
        PyTorch's layout for transposed convolutions.
    bias : Tensor or array_like, shape (C_out,), optional
    stride, dilation : int or pair of ints
    padding : int or pair of ints
        ``dilation * (k - 1) - padding`` zeros are effectively added around ``x``.
    output_padding : int or pair of ints
        Extra rows/columns at the bottom/right of the output, smaller than the stride or the
        dilation.
    groups : int

    Returns
    -------
    Tensor
        Shape (N, C_out, Ho, Wo), ``Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import conv_transpose2d
    >>> conv_transpose2d(cr.ones((1, 1, 2, 2)), cr.ones((1, 1, 2, 2))).tolist()
    [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]
    >>> conv_transpose2d(cr.ones((1, 4, 5, 5)), cr.ones((4, 3, 3, 3)), stride=2, padding=1,
    ...                  output_padding=1).shape
    (1, 3, 10, 10)
    """
    return _conv_transpose("conv_transpose2d", 2, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)  # fmt: skip


def _conv_transpose(
    op: str, nd: int, x: Any, weight: Any, bias: Any, stride: Any, padding: Any,
    output_padding: Any, groups: Any, dilation: Any,
) -> Tensor:
    xd, wd, bd, groups, o = _conv_args(op, nd, x, weight, bias, groups, True)
    stride_ = _ntuple(stride, nd, "stride", op, 1)
    dilation_ = _ntuple(dilation, nd, "dilation", op, 1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of {nd} ints, got {padding!r}")
    pad = _ntuple(padding, nd, "padding", op, 0)
    outpad = _ntuple(output_padding, nd, "output_padding", op, 0)
    kernel = tuple(wd.shape[2:])
    shape = _transposed_shape(op, xd.shape, o, kernel, stride_, pad, outpad, dilation_)
    # The conv2d this is the input gradient of must map the output's size back to x's, or
    # its own rules would not fit. output_padding rows are rows that conv2d's last window
    # skips: that conv2d pads (p, p + s - 1 - q) (at most p), and rows past even its window
    # (q > p + s - 1, reachable when dilation > stride) are zeros added afterwards.
    pads, extra = [], []
    for p, s, q in zip(pad, stride_, outpad):
        after = min(p, p + s - 1 - q)
        pads.append((p, max(after, 0)))
        extra.append(max(-after, 0))
    inner = (*shape[:2], *(n - e for n, e in zip(shape[2:], extra)))
    xt, wt = _tensor(x, xd), _tensor(weight, wd)
    if nd == 1:  # on a unit height
        n, c, length = xd.shape
        xt = reshape(xt, (n, c, 1, length))
        wt = reshape(wt, (*wd.shape[:2], 1, kernel[0]))
        cfg = ((1, stride_[0]), ((0, 0), pads[0]), (1, dilation_[0]), groups)
        inner4 = (n, o, 1, inner[2])
    else:
        cfg = (stride_, (pads[0], pads[1]), dilation_, groups)
        inner4 = inner
    out = apply(_conv_input_grad, _conv2d_input_grad_forward, (xt, wt), (inner4, cfg))
    if nd == 1:
        out = reshape(out, inner)
    if any(extra):
        out = _pad_axes(out, ((0, 0), (0, 0), *((0, e) for e in extra)))
    if bd is not None:
        out = out + reshape(_tensor(bias, bd), (o,) + (1,) * nd)
    return out


def conv_transpose1d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """1-D transposed convolution, NCL, as PyTorch's: :func:`conv_transpose2d` on a unit
    height.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C_in, L), floating
    weight : Tensor or array_like, shape (C_in, C_out / groups, k)
    bias : Tensor or array_like, shape (C_out,), optional
    stride, padding, output_padding, dilation : int or tuple of one int
    groups : int

    Returns
    -------
    Tensor
        Shape (N, C_out, Lo), ``Lo = (L - 1) s - 2 p + d (k - 1) + output_padding + 1``.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import conv_transpose1d
    >>> conv_transpose1d(cr.tensor([[[1.0, 2.0]]]), cr.tensor([[[1.0, 10.0]]])).tolist()
    [[[1.0, 12.0, 20.0]]]
    """
    return _conv_transpose("conv_transpose1d", 1, x, weight, bias, stride, padding,
                           output_padding, groups, dilation)  # fmt: skip


# ------------------------------------------------------------------ 1-D and 3-D pooling
def _pool_args(
    op: str, shape: tuple[int, ...], nd: int, kernel_size: Any, stride: Any, padding: Any,
    dilation: Any,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Checked (kernel, stride, padding, dilation) of an ``nd``-D pooling, errors naming it."""
    _check_nd(shape, nd, op, "input", _INPUT_LAYOUT[nd])
    kernel = _ntuple(kernel_size, nd, "kernel_size", op, 1)
    stride_ = kernel if stride is None else _ntuple(stride, nd, "stride", op, 1)
    pad = _ntuple(padding, nd, "padding", op, 0)
    dil = _ntuple(dilation, nd, "dilation", op, 1)
    if any(2 * p > k for p, k in zip(pad, kernel)):
        raise ValueError(
            f"{op}: padding {pad} must be at most half of kernel_size {kernel} (as in "
            "PyTorch), so that every window holds an input element"
        )
    _check_span(op, shape, kernel, dil, tuple((p, p) for p in pad))
    return kernel, stride_, pad, dil


def max_pool1d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Maximum over each window of a batch of sequences, NCL, as PyTorch's:
    :func:`max_pool2d` on a unit height (gradient to each window's first maximum).

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, L), floating
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    padding : int
        ``-inf``, at most half the kernel size.
    dilation : int
    ceil_mode : bool
    return_indices : bool
        Also return each maximum's position along L (int64), for ``max_unpool``.

    Returns
    -------
    Tensor, or (Tensor, Tensor) with ``return_indices``
        Shape (N, C, Lo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import max_pool1d
    >>> max_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 0.0, 5.0]]]), 2).tolist()
    [[[3.0, 2.0]]]
    """
    op = "max_pool1d"
    xd = _operand(x, op, "input")
    k, s, p, d = _pool_args(op, xd.shape, 1, kernel_size, stride, padding, dilation)
    n, c, length = xd.shape
    x4 = reshape(x if isinstance(x, Tensor) else xd, (n, c, 1, length))
    res = max_pool2d(x4, (1, k[0]), (1, s[0]), (0, p[0]), (1, d[0]), ceil_mode, return_indices)
    if return_indices:
        out, idx = res
        return reshape(out, (n, c, out.shape[3])), reshape(idx, (n, c, out.shape[3]))
    return reshape(res, (n, c, res.shape[3]))


def max_pool3d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Maximum over each (kd, kh, kw) box of a batch of volumes, NCDHW, as PyTorch's.

    A box's maximum is the maximum over depth of the (kh, kw) maxima of its planes, so this is
    :func:`max_pool2d` over H and W, then over D. The gradient goes to the box's first maximum
    in (d, h, w) order, PyTorch's choice on ties.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, D, H, W), floating
    kernel_size : int or tuple of three ints
    stride : int or tuple of three ints, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of three ints
        ``-inf``, at most half the kernel size.
    dilation : int or tuple of three ints
    ceil_mode : bool
    return_indices : bool
        Not supported for 3-D (raises ValueError).

    Returns
    -------
    Tensor
        Shape (N, C, Do, Ho, Wo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import max_pool3d
    >>> max_pool3d(cr.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[7.0]]]]]
    """
    op = "max_pool3d"
    if return_indices:
        raise ValueError(f"{op}: return_indices=True is not supported (only 1-D and 2-D)")
    xd = _operand(x, op, "input")
    k, s, p, d = _pool_args(op, xd.shape, 3, kernel_size, stride, padding, dilation)
    n, c, depth, h, w = xd.shape
    planes = reshape(x if isinstance(x, Tensor) else xd, (n, c * depth, h, w))
    y = max_pool2d(planes, k[1:], s[1:], p[1:], d[1:], ceil_mode)
    ho, wo = y.shape[2], y.shape[3]
    y = max_pool2d(reshape(y, (n, c, depth, ho * wo)), (k[0], 1), (s[0], 1), (p[0], 0),
                   (d[0], 1), ceil_mode)  # fmt: skip
    return reshape(y, (n, c, y.shape[2], ho, wo))


def avg_pool1d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """Mean over each window of a batch of sequences, NCL, as PyTorch's: :func:`avg_pool2d`
    on a unit height.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, L), floating
    kernel_size : int
    stride : int, optional
        Defaults to ``kernel_size``.
    padding : int
        Zeros, at most half the kernel size.
    ceil_mode : bool
    count_include_pad : bool
        Whether padded zeros count in the divisor.

    Returns
    -------
    Tensor
        Shape (N, C, Lo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import avg_pool1d
    >>> avg_pool1d(cr.tensor([[[1.0, 3.0, 2.0, 4.0]]]), 2).tolist()
    [[[2.0, 3.0]]]
    """
    op = "avg_pool1d"
    xd = _operand(x, op, "input")
    k, s, p, _ = _pool_args(op, xd.shape, 1, kernel_size, stride, padding, 1)
    n, c, length = xd.shape
    x4 = reshape(x if isinstance(x, Tensor) else xd, (n, c, 1, length))
    out = avg_pool2d(x4, (1, k[0]), (1, s[0]), (0, p[0]), ceil_mode, count_include_pad)
    return reshape(out, (n, c, out.shape[3]))


def avg_pool3d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """Mean over each (kd, kh, kw) box of a batch of volumes, NCDHW, as PyTorch's.

    Separable: :func:`avg_pool2d` over H and W, then over D. PyTorch's divisor of a box (its
    size, or the count of real elements without ``count_include_pad``) is the product of the
    per-axis counts, so the two stages divide by exactly it.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, D, H, W), floating
    kernel_size : int or tuple of three ints
    stride : int or tuple of three ints, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of three ints
        Zeros, at most half the kernel size.
    ceil_mode : bool
    count_include_pad : bool
    divisor_override : int, optional
        Divide every box's sum by this instead.

    Returns
    -------
    Tensor
        Shape (N, C, Do, Ho, Wo), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import avg_pool3d
    >>> avg_pool3d(cr.arange(8.0).reshape(1, 1, 2, 2, 2), 2).tolist()
    [[[[[3.5]]]]]
    """
    op = "avg_pool3d"
    xd = _operand(x, op, "input")
    k, s, p, _ = _pool_args(op, xd.shape, 3, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        divisor_override = operator.index(divisor_override)
        if divisor_override <= 0:
            raise ValueError(f"{op}: divisor_override must be positive, got {divisor_override}")
    n, c, depth, h, w = xd.shape
    planes = reshape(x if isinstance(x, Tensor) else xd, (n, c * depth, h, w))
    # With an override the first stage only sums (divisor 1) and the second divides by it.
    first = None if divisor_override is None else 1
    y = avg_pool2d(planes, k[1:], s[1:], p[1:], ceil_mode, count_include_pad, first)
    ho, wo = y.shape[2], y.shape[3]
    y = avg_pool2d(reshape(y, (n, c, depth, ho * wo)), (k[0], 1), (s[0], 1), (p[0], 0),
                   ceil_mode, count_include_pad, divisor_override)  # fmt: skip
    return reshape(y, (n, c, y.shape[2], ho, wo))


# ------------------------------------------------------------------------ unfold / fold
def _unfold_forward(xp: Any, x: Any, kernel: tuple[int, int], cfg: ConvCfg) -> Any:
    cols, _, _ = _cols(xp, x, kernel[0], kernel[1], cfg)
    out = cols.reshape((x.shape[0], -1, cols.shape[-1]))
    # A 1x1 kernel with stride 1 and no padding gives a view of x: copy, never alias an input.
    return out.copy() if xp.may_share_memory(out, x) else out


def _fold_forward(
    xp: Any, cols: Any, x_shape: tuple[int, ...], kernel: tuple[int, int], cfg: ConvCfg
) -> Any:
    """col2im: each column added back to the pixels its window read (overlaps add up)."""
    (sh, sw), pads, (dh, dw), _ = cfg
    n, c, h, w = x_shape
    kh, kw = kernel
    (pt, pb), (pl, pr) = pads
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = xp.zeros((n, c, h + pt + pb, w + pl + pr), cols.dtype)
    c5 = cols.reshape((n, c, kh * kw, ho, wo))
    for k, index in enumerate(_offsets(kh, kw, sh, sw, dh, dw, ho, wo)):
        out[index] += c5[:, :, k]
    return _crop(out, pads, x_shape)


_unfold = define("unfold", (
    lambda xp, g, out, x, kernel, cfg:
        _call(_fold, _fold_forward, xp, (g,), (x.shape, kernel, cfg)),),
    "dx = fold(g): each column's gradient added back to the pixels its window read")  # fmt: skip

_fold = define("fold", (
    lambda xp, G, out, cols, x_shape, kernel, cfg:
        _call(_unfold, _unfold_forward, xp, (G,), (kernel, cfg)),),
    "dcols = unfold(G): each window of G as a column")  # fmt: skip


def _block_cfg(
    op: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> tuple[tuple[int, int], ConvCfg]:
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    dil = _pair(dilation, "dilation", op, 1)
    ph, pw = _pair(padding, "padding", op, 0)
    st = _pair(stride, "stride", op, 1)
    return kernel, (st, ((ph, ph), (pw, pw)), dil, 1)


def unfold(
    x: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
) -> Tensor:
    """The sliding (kh, kw) windows of a batch of images as columns (im2col), as PyTorch's.

    ``out[n, c*kh*kw + p*kw + q, l] = xpad[n, c, i*sh + p*dh, j*sw + q*dw]`` for window
    ``l = i*Wo + j``. Its gradient is :func:`fold`, and fold's is unfold.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, H, W), floating
    kernel_size, dilation, stride : int or pair of ints
    padding : int or pair of ints
        Zeros on both sides.

    Returns
    -------
    Tensor
        Shape (N, C*kh*kw, L), ``L = Ho*Wo`` windows; ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import unfold
    >>> unfold(cr.arange(9.0).reshape(1, 1, 3, 3), 2).tolist()
    [[[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]]
    """
    op = "unfold"
    xd = _operand(x, op, "input")
    _check_4d(xd.shape, op, "input", "(N, C, H, W)")
    kernel, cfg = _block_cfg(op, kernel_size, dilation, padding, stride)
    _check_span(op, xd.shape, kernel, cfg[2], cfg[1])
    return apply(_unfold, _unfold_forward, (x if isinstance(x, Tensor) else xd,), (kernel, cfg))


def fold(
    x: Any,
    output_size: Any,
    kernel_size: Any,
    dilation: Any = 1,
    padding: Any = 0,
    stride: Any = 1,
) -> Tensor:
    """Columns of window values summed back into images (col2im), as PyTorch's: the adjoint
    of :func:`unfold`, so ``fold(unfold(x))`` counts each pixel once per window over it.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C*kh*kw, L), floating
    output_size : int or pair of ints
        (H, W) of the images.
    kernel_size, dilation, stride : int or pair of ints
    padding : int or pair of ints

    Returns
    -------
    Tensor
        Shape (N, C, H, W), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import fold, unfold
    >>> fold(unfold(cr.ones((1, 1, 3, 3)), 2), 3, 2).tolist()
    [[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]
    """
    op = "fold"
    xd = _operand(x, op, "input")
    if xd.ndim != 3:
        raise ValueError(
            f"{op}: input must be 3-D (N, C*kh*kw, L), got shape {xd.shape} ({xd.ndim}-D)"
        )
    h, w = _pair(output_size, "output_size", op, 1)
    kernel, cfg = _block_cfg(op, kernel_size, dilation, padding, stride)
    n, ck, length = xd.shape
    kk = kernel[0] * kernel[1]
    shape = (n, ck // kk, h, w)
    _check_span(op, shape, kernel, cfg[2], cfg[1])
    (sh, sw), ((ph, _), (pw, _)), (dh, dw), _ = cfg
    blocks = ((h + 2 * ph - dh * (kernel[0] - 1) - 1) // sh + 1) * (
        (w + 2 * pw - dw * (kernel[1] - 1) - 1) // sw + 1)  # fmt: skip
    if ck % kk or length != blocks:
        raise ValueError(
            f"{op}: input of shape {xd.shape} does not fit kernel_size {kernel} and "
            f"output_size {(h, w)}: expected (N, C*{kk}, {blocks})"
        )
    return apply(_fold, _fold_forward, (x if isinstance(x, Tensor) else xd,),
                 (shape, kernel, cfg))  # fmt: skip


# ------------------------------------------------------------------------ max_unpool2d
def _unpool_forward(xp: Any, x: Any, flat: Any, win: Any, shape: tuple[int, ...]) -> Any:
    out = xp.zeros(int(np.prod(shape)), x.dtype)
    if win is None:
        out[flat] = x.reshape(-1)
    else:
        out[flat[win]] = x.reshape(-1)[win]
    return out.reshape(shape)


def _unpool_gather_forward(
    xp: Any, g: Any, flat: Any, win: Any, x_shape: tuple[int, ...]
) -> Any:
    v = g.reshape(-1)[flat]
    return (v if win is None else v * win).reshape(x_shape)


_unpool = define("max_unpool2d", (
    lambda xp, g, out, x, flat, win, shape:
        _call(_unpool_gather, _unpool_gather_forward, xp, (g,), (flat, win, x.shape)),),
    "dx = g read at each value's index (zero where a repeated index overwrote it)")  # fmt: skip

_unpool_gather = define("max_unpool2d_backward", (
    lambda xp, G, out, g, flat, win, x_shape:
        _call(_unpool, _unpool_forward, xp, (G,), (flat, win, g.shape)),),
    "dg = G placed at the indices (max_unpool2d(G))")  # fmt: skip


def max_unpool2d(
    x: Any,
    indices: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    output_size: Any = None,
) -> Tensor:
    """The partial inverse of :func:`max_pool2d`: each value placed at its index in a plane
    of zeros, as PyTorch's.

    ``indices`` are flat positions in each (H_out, W_out) plane, as
    ``max_pool2d(..., return_indices=True)`` returns them. Where an index repeats (overlapping
    windows), the last value is kept and only it gets a gradient.

    Parameters
    ----------
    x : Tensor or array_like, shape (N, C, H, W), floating
    indices : Tensor or array_like of ints, shape (N, C, H, W)
    kernel_size : int or pair of ints
    stride : int or pair of ints, optional
        Defaults to ``kernel_size``.
    padding : int or pair of ints
    output_size : sequence of ints, optional
        (H_out, W_out) (or the full shape); default ``(H - 1) s - 2 p + k`` per axis.

    Returns
    -------
    Tensor
        Shape (N, C, H_out, W_out), ``x``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import max_pool2d, max_unpool2d
    >>> x = cr.tensor([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> out, idx = max_pool2d(x, 2, return_indices=True)
    >>> max_unpool2d(out, idx, 2).tolist()
    [[[[0.0, 0.0], [4.0, 0.0]]]]
    """
    op = "max_unpool2d"
    xd = _operand(x, op, "input")
    _check_4d(xd.shape, op, "input", "(N, C, H, W)")
    idx = indices._data if isinstance(indices, Tensor) else raw(indices)
    if not hasattr(idx, "dtype"):
        idx = np.asarray(idx)
    if idx.dtype.kind not in "iu" or idx.shape != xd.shape:
        raise ValueError(
            f"{op}: indices must be integers of the input's shape {xd.shape}, got shape "
            f"{idx.shape} and dtype {idx.dtype}"
        )
    kernel = _pair(kernel_size, "kernel_size", op, 1)
    st = kernel if stride is None else _pair(stride, "stride", op, 1)
    pad = _pair(padding, "padding", op, 0)
    n, c, h, w = xd.shape
    if output_size is None:
        size = ((h - 1) * st[0] - 2 * pad[0] + kernel[0], (w - 1) * st[1] - 2 * pad[1] + kernel[1])
    else:
        size = tuple(output_size)[-2:]
        size = _pair(size, "output_size", op, 1)
    plane = size[0] * size[1]
    xp = NP if xd.__class__ is _ndarray else xp_of(xd)
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= plane):
        raise ValueError(
            f"{op}: indices must lie in [0, {plane}) for an output of size {size}, got values "
            f"in [{int(idx.min())}, {int(idx.max())}]"
        )
    flat = (idx.reshape((n * c, -1)).astype(np.int64)
            + (xp.arange(n * c, dtype=np.int64) * plane)[:, None]).reshape(-1)  # fmt: skip
    # A repeated index keeps its last value (NumPy's assignment, PyTorch on the CPU); mark the
    # kept ones so the gradient reaches only them (the scatter and gather stay adjoint).
    last = xp.empty(n * c * plane, np.int64)
    order = xp.arange(flat.size, dtype=np.int64)
    last[flat] = order
    win = last[flat] == order
    win = None if bool(win.all()) else win
    return apply(_unpool, _unpool_forward, (x if isinstance(x, Tensor) else xd,),
                 (flat, win, (n, c, *size)))  # fmt: skip


# ------------------------------------------------------------------- pixel (un)shuffle
def _factor(value: Any, name: str, op: str) -> int:
    try:
        r = operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {value!r}") from None
    if r < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {r}")
    return r


def pixel_shuffle(x: Any, upscale_factor: int) -> Tensor:
    """Rearrange (*, C r^2, H, W) into (*, C, H r, W r), as PyTorch's: channel ``c r^2 +
    i r + j`` becomes the pixel offset (i, j) of channel ``c``. A reshape and a permute.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import pixel_shuffle
    >>> pixel_shuffle(cr.arange(4.0).reshape(1, 4, 1, 1), 2).tolist()
    [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    op = "pixel_shuffle"
    xd = _operand(x, op, "input")
    r = _factor(upscale_factor, "upscale_factor", op)
    if xd.ndim < 3 or xd.shape[-3] % (r * r):
        raise ValueError(
            f"{op}: input of shape {xd.shape} must be (*, C * {r}^2, H, W), with channels "
            f"divisible by upscale_factor^2 = {r * r}"
        )
    *b, c, h, w = xd.shape
    nb = len(b)
    y = reshape(_tensor(x, xd), (*b, c // (r * r), r, r, h, w))
    y = transpose(y, (*range(nb), nb, nb + 3, nb + 1, nb + 4, nb + 2))
    return reshape(y, (*b, c // (r * r), h * r, w * r))


def pixel_unshuffle(x: Any, downscale_factor: int) -> Tensor:
    """Rearrange (*, C, H r, W r) into (*, C r^2, H, W), as PyTorch's: the inverse of
    :func:`pixel_shuffle`.

    Examples
    --------
    >>> import chainrule as cr
    >>> from chainrule.ops.conv import pixel_unshuffle
    >>> pixel_unshuffle(cr.arange(4.0).reshape(1, 1, 2, 2), 2).reshape(-1).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    op = "pixel_unshuffle"
    xd = _operand(x, op, "input")
    r = _factor(downscale_factor, "downscale_factor", op)
    if xd.ndim < 3 or xd.shape[-2] % r or xd.shape[-1] % r:
        raise ValueError(
            f"{op}: input of shape {xd.shape} must be (*, C, H, W) with H and W divisible by "
            f"downscale_factor = {r}"
        )
    *b, c, h, w = xd.shape
    nb = len(b)
    y = reshape(_tensor(x, xd), (*b, c, h // r, r, w // r, r))
    y = transpose(y, (*range(nb), nb, nb + 2, nb + 4, nb + 1, nb + 3))
    return reshape(y, (*b, c * r * r, h // r, w // r))
