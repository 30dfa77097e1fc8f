"""The functional forms of the layers, with PyTorch's names and arguments (``F.relu``,
``F.linear``, ``F.dropout``, ``F.layer_norm``, ``F.batch_norm``...).

Layers hold parameters and buffers and call these; these call chainrule's primitives. The
activations and ``linear`` are the primitives themselves. Normalisation has one primitive of its
own, ``standardize`` in :mod:`chainrule.ops.nn` (see its comment there for why), with the affine
part composed from ``*`` and ``+``.

Examples
--------
>>> import chainrule as cr
>>> import chainrule.nn.functional as F
>>> F.relu(cr.tensor([-1.0, 2.0])).tolist()
[0.0, 2.0]
>>> F.softmax(cr.tensor([[0.0, 0.0]]), dim=1).tolist()
[[0.5, 0.5]]
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import random as _random
from ..backend import namespace_of
from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..ops.conv import (
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool2d,
    pixel_shuffle,
    pixel_unshuffle,
    unfold,
)
from ..ops.define import raw
from ..ops.elementwise import gelu, leaky_relu, relu, sigmoid, tanh
from ..ops.linalg import matmul
from ..ops.nn import _standardize, linear
from ..ops.shape import getitem, reshape, swapaxes
from ..tensor import Tensor, _as_array, _leaf, as_tensor
from .activation import (
    celu,
    cosine_similarity,
    elu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    logsigmoid,
    mish,
    normalize,
    pairwise_distance,
    prelu,
    relu6,
    selu,
    silu,
    softmin,
    softplus,
    softsign,
    swish,
)
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_embedding_loss,
    cross_entropy,
    gaussian_nll_loss,
    huber_loss,
    kl_div,
    l1_loss,
    margin_ranking_loss,
    mse_loss,
    nll_loss,
    poisson_nll_loss,
    smooth_l1_loss,
    triplet_margin_loss,
)
from .padding import pad
from .upsampling import interpolate

__all__ = [
    "relu", "leaky_relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax", "linear",
    "dropout", "embedding", "one_hot", "layer_norm", "batch_norm",
    "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "conv1d", "conv3d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool3d",
    "avg_pool1d", "avg_pool3d", "max_unpool2d", "unfold", "fold", "pixel_shuffle",
    "pixel_unshuffle", "pad", "interpolate",
    "cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "binary_cross_entropy",
    "mse_loss", "l1_loss", "huber_loss",
    "silu", "swish", "mish", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid",
    "hardswish", "softsign", "softmin", "logsigmoid", "glu", "prelu", "softplus", "normalize",
    "cosine_similarity", "pairwise_distance",
    "kl_div", "cosine_embedding_loss", "margin_ranking_loss", "triplet_margin_loss",
    "poisson_nll_loss", "gaussian_nll_loss", "smooth_l1_loss",
    "scaled_dot_product_attention",
    "group_norm", "instance_norm", "bilinear", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_avg_pool1d",
]  # fmt: skip

_ndarray = np.ndarray


def _data(x: Any, op: str) -> Any:
    """The raw array of a Tensor, array or array_like (chainrule's dtype rules)."""
    if isinstance(x, Tensor):
        return x._data
    if x.__class__ is _ndarray or hasattr(x, "__cuda_array_interface__"):
        return x
    return _as_array(raw(x), None, op)


# --------------------------------------------------------------------- softmax family
def softmax(x: Any, dim: int = -1, dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (stable for logits of any size).

    ``dtype`` casts the input first, as in PyTorch.

    Examples
    --------
    >>> import chainrule as cr
    >>> softmax(cr.tensor([[1.0, 1.0], [0.0, 1e4]])).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """
    if dtype is not None:
        x = _ew.astype(x, dtype)
    return _red.softmax(x, dim)


def log_softmax(x: Any, dim: int = -1, dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim``, one fused, stable primitive.

    Examples
    --------
    >>> import chainrule as cr
    >>> log_softmax(cr.tensor([0.0, 1e4])).tolist()
    [-10000.0, 0.0]
    """
    if dtype is not None:
        x = _ew.astype(x, dtype)
    return _red.log_softmax(x, dim)


# ------------------------------------------------------------------------------ dropout
def _check_p(p: Any, op: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{op}: probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def dropout(
    x: Any,
    p: float = 0.5,
    training: bool = True,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    ``1 / (1 - p)``, so the expected value is unchanged and evaluation needs no rescaling.

    The mask is drawn from ``generator`` (a ``numpy.random.Generator`` or an int seed) or from
    chainrule's global generator (``cr.random.seed``); it is drawn in float32 for float32 and
    float16 inputs, in float64 otherwise. ``p=0`` or ``training=False`` returns ``x`` itself;
    ``p=1`` gives zeros. The gradient is ``g * mask / (1 - p)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> y = dropout(cr.ones(8), p=0.5, generator=0)
    >>> sorted(set(y.tolist()))
    [0.0, 2.0]
    >>> dropout(cr.ones(2), p=0.5, training=False).tolist()
    [1.0, 1.0]
    """
    p = _check_p(p, "dropout")
    if not training or p == 0.0:
        return x if isinstance(x, Tensor) else as_tensor(x)
    xd = _data(x, "dropout")
    dt = xd.dtype
    if dt.kind != "f":
        raise TypeError(f"dropout: expected a floating-point input, got dtype {dt}")
    if p == 1.0:
        mask = np.zeros(xd.shape, dt)
    else:
        gen = _random.resolve(generator)
        u = gen.random(xd.shape, dtype=np.float64 if dt == np.float64 else np.float32)
        # bool * scalar of x's dtype: the scaled mask in one pass, already in x's dtype.
        mask = (u >= p) * dt.type(1.0 / (1.0 - p))
    if xd.__class__ is not _ndarray:
        mask = namespace_of(xd).asarray(mask)
    return _ew.multiply(x, mask)


# ---------------------------------------------------------------------------- one_hot
def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer class labels as one-hot rows: shape ``tensor.shape + (num_classes,)``, int64,
    as ``torch.nn.functional.one_hot`` (``num_classes=-1``: the largest label plus one). The
    result is a constant (labels have no gradient).

    Examples
    --------
    >>> import chainrule as cr
    >>> import chainrule.nn.functional as F
    >>> F.one_hot(cr.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    labels = _data(tensor, "one_hot")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expects integer class labels, got dtype {labels.dtype}")
    top = int(labels.max()) if labels.size else -1
    if num_classes == -1:
        num_classes = top + 1
    if labels.size and (int(labels.min()) < 0 or top >= num_classes):
        raise ValueError(
            f"one_hot: labels must lie in [0, {num_classes}), got values from "
            f"{int(labels.min())} to {top} (shape {tuple(labels.shape)})"
        )
    xp = namespace_of(labels)
    return _leaf((labels[..., None] == xp.arange(num_classes)).astype(np.int64))


# ---------------------------------------------------------------------------- embedding
def embedding(
    indices: Any,
    weight: Any,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by integer ``indices``.

    The result has shape ``indices.shape + (embedding_dim,)``. The gradient adds ``g`` into the
    rows that were picked, once per occurrence (a repeated index accumulates). Positions whose
    index is ``padding_idx`` pass no gradient to that row, as in PyTorch.

    With ``max_norm``, each row looked up whose ``norm_type``-norm exceeds it is first
    rescaled, in ``weight`` itself and outside the graph, to norm ``max_norm``
    (``w * max_norm / (norm + 1e-7)``), as PyTorch's ``embedding_renorm_``.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> e = embedding([[1, 2, 1]], w)
    >>> e.shape
    (1, 3, 2)
    >>> e.sum().backward(); w.grad.tolist()
    [[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]]
    """
    idx = indices._data if isinstance(indices, Tensor) else _data(indices, "embedding")
    wd = _data(weight, "embedding")
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be integers, got dtype {idx.dtype} "
            "(convert with .astype(np.int64))"
        )
    if wd.ndim != 2:
        raise ValueError(
            f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
            f"{tuple(wd.shape)}"
        )
    n = wd.shape[0]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(
            f"embedding: index {bad} is out of range for a weight with {n} rows; expected "
            f"0 <= index < {n}"
        )
    if padding_idx is not None and not -n <= padding_idx < n:
        raise ValueError(
            f"embedding: padding_idx {padding_idx} is out of range for a weight with {n} rows"
        )
    if max_norm is not None:
        rows = np.unique(idx)
        norms = np.linalg.norm(wd[rows], ord=norm_type, axis=1)
        big = norms > max_norm
        if big.any():
            scale = (max_norm / (norms[big] + 1e-7)).astype(wd.dtype)
            wd[rows[big]] *= scale[:, None]
            if isinstance(weight, Tensor):  # an in-place update, stamped as one
                from ..autodiff import next_seq

                weight._version = next_seq()
    out = getitem(weight if isinstance(weight, Tensor) else wd, idx)
    if padding_idx is not None and out._rg:
        keep = idx != padding_idx % n
        if not keep.all():
            # Same values; the gradient of the padding positions is cut (no row update).
            out = _ew.where(keep[..., None], out, out.detach())
    return out


# -------------------------------------------------------------------------- normalising
def _check_eps(eps: Any, op: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{op}: eps must be a positive number, got {eps!r}")
    return float(eps)


def _param_shape(v: Any, expected: tuple[int, ...], what: str, op: str) -> None:
    if v is not None:
        shape = tuple(_data(v, op).shape)
        if shape != expected:
            raise ValueError(f"{op}: {what} has shape {shape}, expected {expected}")


def layer_norm(
    x: Any,
    normalized_shape: int | tuple[int, ...] | list[int],
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` axes, then scale and shift:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance, per sample.

    Parameters
    ----------
    x : Tensor, shape (..., *normalized_shape)
    normalized_shape : int or tuple of ints
    weight, bias : Tensor of shape ``normalized_shape``, optional
    eps : float

    Examples
    --------
    >>> import chainrule as cr
    >>> y = layer_norm(cr.tensor([[1.0, 3.0], [0.0, 10.0]]), 2)
    >>> [[round(v, 4) for v in row] for row in y.tolist()]
    [[-1.0, 1.0], [-1.0, 1.0]]
    """
    xd = _data(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) else tuple(
        normalized_shape)
    k = len(shape)
    if k == 0 or xd.ndim < k or tuple(xd.shape[xd.ndim - k:]) != shape:
        raise ValueError(
            f"layer_norm: given normalized_shape={shape}, expected an input of shape "
            f"(*, {', '.join(map(str, shape))}), but got shape {tuple(xd.shape)}"
        )
    if xd.dtype.kind != "f":
        raise TypeError(f"layer_norm: expected a floating-point input, got dtype {xd.dtype}")
    _param_shape(weight, shape, "weight", "layer_norm")
    _param_shape(bias, shape, "bias", "layer_norm")
    eps = _check_eps(eps, "layer_norm")
    if not isinstance(x, Tensor):
        x = _leaf(xd)
    y = _standardize(x, xd, tuple(range(xd.ndim - k, xd.ndim)), eps)[0]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def _stat(v: Any, name: str) -> Any:
    """A running statistic as the array it is (updated in place), or None."""
    if v is None:
        return None
    if isinstance(v, Tensor):
        return v._data
    if v.__class__ is _ndarray or hasattr(v, "__cuda_array_interface__"):
        return v
    raise TypeError(
        f"batch_norm: {name} must be a Tensor or an array (it is updated in place), "
        f"got {type(v).__name__}"
    )


def batch_norm(
    x: Any,
    running_mean: Any,
    running_var: Any,
    weight: Any = None,
    bias: Any = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (axis 1) of ``x`` over the batch and spatial axes, then scale
    and shift per channel, with PyTorch's semantics.

    Training (``training=True``): normalise with the batch mean and the *biased* batch
    variance, and update the running statistics in place (when given) with the *unbiased*
    variance: ``running = (1 - momentum) * running + momentum * batch``. Evaluation: normalise
    with ``running_mean`` and ``running_var``.

    Parameters
    ----------
    x : Tensor, shape (N, C) or (N, C, *spatial), e.g. (N, C, H, W)
    running_mean, running_var : Tensor or array of shape (C,), or None
        Updated in place in training mode; required in evaluation mode.
    weight, bias : Tensor of shape (C,), optional
    training : bool
    momentum : float
    eps : float

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> rm, rv = np.zeros(1, np.float32), np.ones(1, np.float32)
    >>> y = batch_norm(cr.tensor([[1.0], [3.0]]), rm, rv, training=True)
    >>> [round(v, 3) for v in y.reshape(-1).tolist()]
    [-1.0, 1.0]
    >>> print(rm, rv)  # 0.9 * 0 + 0.1 * 2 (mean), 0.9 * 1 + 0.1 * 2 (unbiased variance)
    [0.2] [1.1]
    """
    op = "batch_norm"
    xd = _data(x, op)
    shape = tuple(xd.shape)
    if len(shape) < 2:
        raise ValueError(
            f"{op}: expected an input of shape (N, C) or (N, C, *spatial), got shape {shape}"
        )
    if xd.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {xd.dtype}")
    c = shape[1]
    rm, rv = _stat(running_mean, "running_mean"), _stat(running_var, "running_var")
    for name, v in (("running_mean", rm), ("running_var", rv), ("weight", weight),
                    ("bias", bias)):
        _param_shape(v, (c,), name, op)
    eps = float(eps)
    if eps < 0 or (training and eps == 0):
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    channel = (c,) + (1,) * (len(shape) - 2)  # per-channel values, broadcast against x
    if not isinstance(x, Tensor):
        x = _leaf(xd)
    if training:
        n = xd.size // c if c else 0
        if n <= 1:
            raise ValueError(
                f"{op}: expected more than 1 value per channel when training, got an input of "
                f"shape {shape}"
            )
        axes = (0,) + tuple(range(2, len(shape)))
        y, mean, var = _standardize(x, xd, axes, eps)
        if rm is not None:
            rm *= 1 - momentum
            rm += momentum * mean.reshape(c)
        if rv is not None:
            rv *= 1 - momentum
            rv += (momentum * n / (n - 1)) * var.reshape(c)
        if weight is not None:
            y = y * (weight if len(channel) == 1 else reshape(weight, channel))
        if bias is not None:
            y = y + (bias if len(channel) == 1 else reshape(bias, channel))
        return y
    if rm is None or rv is None:
        raise ValueError(
            f"{op}: evaluation mode (training=False) needs running_mean and running_var; pass "
            "training=True to normalise with the batch statistics"
        )
    # y = (x - rm) * inv * w + b = x * scale + shift: two passes over x; scale and shift are
    # per-channel, recorded only when weight or bias need gradients.
    inv = 1 / namespace_of(rv).sqrt(rv.astype(xd.dtype, copy=False) + eps)
    scale = inv if weight is None else weight * inv
    shift = -(rm.astype(xd.dtype, copy=False) * scale)
    if bias is not None:
        shift = shift + bias
    if len(channel) > 1:
        scale, shift = reshape(scale, channel), reshape(shift, channel)
    return x * scale + shift


# ---------------------------------------------------------------------------- attention
def _attention(
    q: Any,
    k: Any,
    v: Any,
    keep: Any,
    bias: Any,
    scale: float,
    dropout_p: float,
    generator: Any = None,
) -> tuple[Tensor, Tensor]:
    """``softmax(q k^T * scale + bias, masked to keep) @ v`` and the attention weights.

    ``keep`` is a boolean array (True: the query may attend to that key) or None; ``bias`` is
    added to the scores (a Tensor may carry a gradient) or None. Composed of matmul, where,
    softmax and dropout, so every derivative is theirs. A query row with no key kept gives NaN,
    as in PyTorch.
    """
    scores = matmul(q, swapaxes(k, -2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    if keep is not None:
        scores = _ew.where(keep, scores, -np.inf)
    weights = _red.softmax(scores, -1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, True, generator)
    return matmul(weights, v), weights


def _causal_keep(n_query: int, n_key: int) -> Any:
    # Query i sees keys 0..i (PyTorch's tril(ones(L, S))).
    return np.tril(np.ones((n_query, n_key), dtype=bool))


def scaled_dot_product_attention(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    *,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Attention ``softmax(Q K^T * scale + mask) V`` over the last two axes, as PyTorch's
    ``F.scaled_dot_product_attention``.

    Parameters
    ----------
    query : Tensor, shape (..., L, E)
    key : Tensor, shape (..., S, E)
    value : Tensor, shape (..., S, Ev)
        Leading (batch, head) axes broadcast.
    attn_mask : array_like, broadcastable to (..., L, S), optional
        Boolean: True where a query may attend to a key. Floating: added to the scores (may
        require grad).
    dropout_p : float
        Dropout on the attention weights (always applied when > 0, as in PyTorch).
    is_causal : bool
        Query ``i`` attends to keys ``0..i`` only; not combined with ``attn_mask``.
    scale : float, optional
        Defaults to ``1 / sqrt(E)``.
    generator : numpy Generator or int, optional
        For the dropout mask.

    Returns
    -------
    Tensor, shape (..., L, Ev)

    Examples
    --------
    >>> import chainrule as cr
    >>> q = cr.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> v = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> scaled_dot_product_attention(q, q, v, is_causal=True)[0].tolist()
    [1.0, 2.0]
    """
    op = "scaled_dot_product_attention"
    qd, kd, vd = (_data(t, op) for t in (query, key, value))
    if qd.ndim < 2 or kd.ndim < 2 or vd.ndim < 2:
        raise ValueError(
            f"{op}: query, key and value must be at least 2-D (..., L, E), got shapes "
            f"{tuple(qd.shape)}, {tuple(kd.shape)}, {tuple(vd.shape)}"
        )
    if qd.shape[-1] != kd.shape[-1] or kd.shape[-2] != vd.shape[-2]:
        raise ValueError(
            f"{op}: query {tuple(qd.shape)}, key {tuple(kd.shape)} and value "
            f"{tuple(vd.shape)} do not fit: expected query (..., L, E), key (..., S, E) and "
            "value (..., S, Ev)"
        )
    for t in (qd, kd, vd):
        if t.dtype.kind != "f":
            raise TypeError(f"{op}: expected floating-point inputs, got dtype {t.dtype}")
    p = _check_p(dropout_p, op)
    n_query, n_key = qd.shape[-2], kd.shape[-2]
    keep = bias = None
    if is_causal:
        if attn_mask is not None:
            raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both")
        keep = _causal_keep(n_query, n_key)
    elif attn_mask is not None:
        md = _data(attn_mask, op)
        if qd.__class__ is not _ndarray and md.__class__ is _ndarray:
            md = namespace_of(qd).asarray(md)  # a host mask beside device inputs
        try:
            np.broadcast_shapes(md.shape, qd.shape[:-1] + (n_key,))
        except ValueError:
            raise ValueError(
                f"{op}: attn_mask of shape {tuple(md.shape)} does not broadcast to the "
                f"attention scores' shape (..., {n_query}, {n_key})"
            ) from None
        if md.dtype == np.bool_:
            keep = md
        elif md.dtype.kind == "f":
            bias = attn_mask if isinstance(attn_mask, Tensor) else md
        else:
            raise TypeError(f"{op}: attn_mask must be boolean or floating, got dtype {md.dtype}")
    if keep is not None and qd.__class__ is not _ndarray:
        keep = namespace_of(qd).asarray(keep)
    s = 1.0 / float(np.sqrt(qd.shape[-1])) if scale is None else float(scale)
    return _attention(query, key, value, keep, bias, s, p, generator)[0]


# Defined in modules built on this one (they import layer_norm from here), bound last.
from .adaptive_pool import (  # noqa: E402
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
)
from .bilinear import bilinear  # noqa: E402
from .group_instance_norm import group_norm, instance_norm  # noqa: E402
