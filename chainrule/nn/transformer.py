"""Attention layers: ``MultiheadAttention`` and ``TransformerEncoderLayer`` with PyTorch's
arguments, parameter names and layouts, so a PyTorch ``state_dict`` loads one to one.

Both are compositions: linear projections (one fused ``linear`` node each), the scaled
dot-product attention of :func:`chainrule.nn.functional.scaled_dot_product_attention`
(matmul, masked softmax, dropout) and layer norms, so their gradients are those of the
primitives they are made of.

Examples
--------
>>> import chainrule as cr
>>> mha = MultiheadAttention(8, 2, batch_first=True)
>>> x = cr.zeros(3, 5, 8)
>>> out, weights = mha(x, x, x)
>>> out.shape, weights.shape
((3, 5, 8), (3, 5, 5))
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import ops
from ..backend import like_device
from ..ops.nn import linear
from ..tensor import Tensor, _as_array, _float_dtype, _leaf, empty
from . import functional as F
from . import init
from .layers import Dropout, Linear
from .module import Module, Parameter
from .normalization import LayerNorm

__all__ = ["MultiheadAttention", "TransformerEncoderLayer"]


def _tensor(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _leaf(_as_array(x, None, op))


def _mask_parts(mask: Any, masked_when_true: bool, op: str, what: str) -> tuple[Any, Any]:
    """A PyTorch mask as (keep, bias): a boolean mask (True = masked out, PyTorch's
    convention for these modules) becomes ``keep``; a floating one is added to the scores."""
    if mask is None:
        return None, None
    md = mask._data if isinstance(mask, Tensor) else _as_array(mask, None, op)
    if md.dtype == np.bool_:
        return (~md if masked_when_true else md), None
    if md.dtype.kind == "f":
        return None, mask if isinstance(mask, Tensor) else md
    raise TypeError(f"{op}: {what} must be boolean or floating, got dtype {md.dtype}")


class MultiheadAttention(Module):
    """Multi-head attention ``concat(head_1, ..., head_h) W_o^T + b_o`` with
    ``head_i = softmax(Q_i K_i^T / sqrt(d) + mask) V_i``, as PyTorch's ``nn.MultiheadAttention``.

    Parameters are PyTorch's: ``in_proj_weight`` (3E, E) and ``in_proj_bias`` (3E,) stack the
    query, key and value projections (or ``q_proj_weight``, ``k_proj_weight``,
    ``v_proj_weight`` when ``kdim``/``vdim`` differ from ``embed_dim``), and ``out_proj`` is a
    :class:`Linear`. Initialisation: Xavier-uniform projections, zero biases.

    Parameters
    ----------
    embed_dim : int
    num_heads : int
        Must divide ``embed_dim``.
    dropout : float
        Dropout on the attention weights in training mode.
    bias : bool
    add_bias_kv, add_zero_attn : bool
        Not supported (must be False).
    kdim, vdim : int, optional
        Feature sizes of key and value (``embed_dim`` by default).
    batch_first : bool
        Inputs and output are (N, L, E) instead of (L, N, E); unbatched (L, E) also works.
    dtype : dtype, optional

    Examples
    --------
    >>> import chainrule as cr
    >>> mha = MultiheadAttention(4, 2)
    >>> sorted(name for name, _ in mha.named_parameters())
    ['in_proj_bias', 'in_proj_weight', 'out_proj.bias', 'out_proj.weight']
    >>> q = cr.zeros(5, 1, 4)  # (L, N, E)
    >>> mha(q, q, q, need_weights=False)[0].shape
    (5, 1, 4)
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        op = "MultiheadAttention"
        self.embed_dim = operator.index(embed_dim)
        self.num_heads = operator.index(num_heads)
        if self.embed_dim <= 0 or self.num_heads <= 0:
            raise ValueError(
                f"{op}: embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"{op}: embed_dim ({self.embed_dim}) must be divisible by num_heads "
                f"({self.num_heads})"
            )
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError(f"{op}: add_bias_kv and add_zero_attn are not supported")
        self.kdim = self.embed_dim if kdim is None else operator.index(kdim)
        self.vdim = self.embed_dim if vdim is None else operator.index(vdim)
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.head_dim = self.embed_dim // self.num_heads
        self.dropout = F._check_p(dropout, op)
        self.batch_first = bool(batch_first)
        dt = _float_dtype(dtype, op)
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * e, e, dtype=dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(empty(e, e, dtype=dt))
            self.k_proj_weight = Parameter(empty(e, self.kdim, dtype=dt))
            self.v_proj_weight = Parameter(empty(e, self.vdim, dtype=dt))
        if bias:
            self.in_proj_bias = Parameter(empty(3 * e, dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(e, e, bias=bias, dtype=dt)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _projections(self) -> tuple[list[Any], list[Any]]:
        p = self._parameters
        if self._qkv_same_embed_dim:
            weights = ops.split(p["in_proj_weight"], 3, axis=0)
        else:
            weights = [p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]]
        b = p["in_proj_bias"]
        biases = [None] * 3 if b is None else ops.split(b, 3, axis=0)
        return weights, biases

    def forward(
        self,
        query: Any,
        key: Any,
        value: Any,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; returns ``(output, weights)``.

        Shapes (E = embed_dim, H = num_heads): query (L, N, E), key (S, N, kdim), value
        (S, N, vdim), or (N, L, E)... with ``batch_first``, or unbatched (L, E), (S, kdim),
        (S, vdim). ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N * H, L, S):
        boolean masks are True where attention is NOT allowed (PyTorch's convention here);
        floating masks are added to the scores. ``is_causal=True`` without ``attn_mask``
        applies the causal mask (query i sees keys 0..i). ``weights`` is (N, L, S) averaged
        over heads, (N, H, L, S) with ``average_attn_weights=False``, None without
        ``need_weights``; it is taken after dropout, as in PyTorch.
        """
        op = "MultiheadAttention"
        q, k, v = (_tensor(t, op) for t in (query, key, value))
        batched = q.ndim == 3
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ValueError(
                f"{op}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got "
                f"shapes {q.shape}, {k.shape}, {v.shape}"
            )
        if not batched:
            q, k, v = (ops.expand_dims(t, 0) for t in (q, k, v))
        elif not self.batch_first:
            q, k, v = (ops.swapaxes(t, 0, 1) for t in (q, k, v))
        n, n_query, e = q.shape
        n_key = k.shape[1]
        if (e, k.shape[2], v.shape[2]) != (self.embed_dim, self.kdim, self.vdim) or (
            k.shape[:2] != v.shape[:2] or k.shape[0] != n
        ):
            raise ValueError(
                f"{op}: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                f"{tuple(value.shape)} do not fit embed_dim={self.embed_dim}, kdim={self.kdim}, "
                f"vdim={self.vdim} (batch_first={self.batch_first}): expected one batch size, "
                "one key/value length and feature sizes (E, kdim, vdim)"
            )
        h, d = self.num_heads, self.head_dim
        weights, biases = self._projections()

        def heads(t: Any, w: Any, b: Any) -> Tensor:
            # (N, T, E) -> (N, H, T, d)
            t = linear(t, w, b)
            return ops.transpose(ops.reshape(t, (n, t.shape[1], h, d)), (0, 2, 1, 3))

        qh, kh, vh = (heads(t, w, b) for t, w, b in zip((q, k, v), weights, biases))
        keep, bias = self._masks(attn_mask, key_padding_mask, is_causal, batched, n, n_query,
                                 n_key)  # fmt: skip
        if qh._data.__class__ is not np.ndarray:  # host masks beside device inputs
            keep = like_device(keep, qh._data)
            bias = like_device(bias, qh._data)
        p = self.dropout if self.training else 0.0
        out, attn = F._attention(qh, kh, vh, keep, bias, 1.0 / math.sqrt(d), p)
        out = ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (n, n_query, e))
        out = self.out_proj(out)
        if not batched:
            out = ops.reshape(out, (n_query, e))
        elif not self.batch_first:
            out = ops.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            attn = ops.mean(attn, axis=1)
        if not batched:
            attn = ops.reshape(attn, attn.shape[1:])
        return out, attn

    def _masks(
        self, attn_mask: Any, key_padding_mask: Any, is_causal: bool, batched: bool, n: int,
        n_query: int, n_key: int,
    ) -> tuple[Any, Any]:  # fmt: skip
        """``attn_mask`` and ``key_padding_mask`` as one boolean ``keep`` and one additive
        ``bias``, both broadcast against the scores (N, H, L, S)."""
        op = "MultiheadAttention"
        h = self.num_heads
        if attn_mask is None and is_causal:
            attn_mask = ~np.tril(np.ones((n_query, n_key), dtype=bool))
        keep, bias = _mask_parts(attn_mask, True, op, "attn_mask")
        if attn_mask is not None:
            shape = tuple((keep if keep is not None else bias).shape)
            if shape == (n_query, n_key):
                pass
            elif shape == (n * h, n_query, n_key):
                if keep is not None:
                    keep = keep.reshape((n, h, n_query, n_key))
                else:
                    bias = ops.reshape(bias, (n, h, n_query, n_key))
            else:
                raise ValueError(
                    f"{op}: attn_mask of shape {shape} does not fit; expected "
                    f"({n_query}, {n_key}) or ({n * h}, {n_query}, {n_key})"
                )
        pad_keep, pad_bias = _mask_parts(key_padding_mask, True, op, "key_padding_mask")
        if key_padding_mask is not None:
            shape = tuple((pad_keep if pad_keep is not None else pad_bias).shape)
            expected = (n, n_key) if batched else (n_key,)
            if shape != expected:
                raise ValueError(
                    f"{op}: key_padding_mask of shape {shape} does not fit; expected {expected}"
                )
            if pad_keep is not None:
                pad_keep = pad_keep.reshape((n, 1, 1, n_key))
                keep = pad_keep if keep is None else keep & pad_keep
            else:
                pad_bias = ops.reshape(pad_bias, (n, 1, 1, n_key))
                bias = pad_bias if bias is None else bias + pad_bias
        return keep, bias

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"


_ACTIVATIONS: dict[str, Callable[[Any], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a layer
    norm, as PyTorch's ``nn.TransformerEncoderLayer``.

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, with
    ``ff(x) = linear2(dropout(activation(linear1(x))))`` and dropout after each block.
    Submodules and parameters have PyTorch's names (``self_attn``, ``linear1``, ``linear2``,
    ``norm1``, ``norm2``).

    Examples
    --------
    >>> import chainrule as cr
    >>> layer = TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
    >>> layer(cr.zeros(2, 5, 8)).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Any], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)  # fmt: skip
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(
                    f"TransformerEncoderLayer: activation should be 'relu' or 'gelu' (or a "
                    f"callable), not {activation!r}"
                )
            activation = _ACTIVATIONS[activation]
        self.activation = activation

    def forward(
        self,
        src: Any,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:
        """Encode ``src`` (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E);
        the masks are :class:`MultiheadAttention`'s ``attn_mask`` and ``key_padding_mask``."""
        x = _tensor(src, "TransformerEncoderLayer")
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: Any, mask: Any, key_padding_mask: Any, is_causal: bool) -> Tensor:
        out = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask,
                             need_weights=False, is_causal=is_causal)[0]  # fmt: skip
        return self.dropout1(out)

    def _ff_block(self, x: Any) -> Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (each with its own parameters,
    initialised as copies of the given layer, as PyTorch does), then ``norm`` if given.

    ``mask``, ``src_key_padding_mask`` and ``is_causal`` are passed to every layer. The
    state dict keys are PyTorch's (``layers.0.self_attn.in_proj_weight``, ``norm.weight``).
    ``enable_nested_tensor`` and ``mask_check`` are accepted for PyTorch's code (no effect).

    Examples
    --------
    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    >>> enc = TransformerEncoder(layer, num_layers=2, norm=cr.nn.LayerNorm(8))
    >>> enc(cr.randn(3, 5, 8)).shape
    (3, 5, 8)
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        import copy

        from .layers import ModuleList

        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(
                f"TransformerEncoder: encoder_layer must be a Module, got "
                f"{type(encoder_layer).__name__}"
            )
        n = operator.index(num_layers)
        if n < 1:
            raise ValueError(f"TransformerEncoder: num_layers must be >= 1, got {num_layers}")
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(n)])
        self.num_layers = n
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check

    def forward(
        self,
        src: Any,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """Run ``src`` through the layers (and the final norm); shapes as the layer's."""
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal))  # fmt: skip
        if self.norm is not None:
            x = self.norm(x)
        return x
