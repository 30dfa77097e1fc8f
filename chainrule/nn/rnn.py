"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM`` and ``GRU`` with PyTorch's arguments,
parameter names and layouts (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``,
``bias_hh_l0``, ``..._reverse``; gates stacked i, f, g, o for the LSTM and r, z, n for the GRU),
so a PyTorch ``state_dict`` loads one to one.

PyTorch's equations, per layer and direction, with ``x_t`` the layer's input at step ``t``:

* RNN:  ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``
* LSTM: ``i, f, g, o = sigma, sigma, tanh, sigma of (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``;
  ``c_t = f c_{t-1} + i g``;  ``h_t = o tanh(c_t)``
* GRU:  ``r, z = sigma(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})``;
  ``n = tanh(W_in x_t + b_in + r (W_hn h_{t-1} + b_hn))``;  ``h_t = (1 - z) n + z h_{t-1}``

The input projections of all steps are one ``linear`` node per layer and direction; each step
adds one ``linear`` for the recurrent term and the gate arithmetic, which for the LSTM and the
GRU is fused (``lstm_state`` + ``lstm_output``, ``gru_cell`` in :mod:`chainrule.ops.nn`, their
rules beside their forwards). Backpropagation through time is the ordinary walk.

Examples
--------
>>> import chainrule as cr
>>> lstm = LSTM(input_size=3, hidden_size=4, batch_first=True)
>>> out, (h, c) = lstm(cr.zeros(2, 5, 3))
>>> out.shape, h.shape, c.shape
((2, 5, 4), (1, 2, 4), (1, 2, 4))
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from .. import ops
from ..backend import namespace_of
from ..ops.nn import gru_cell, linear, lstm_output, lstm_state
from ..tensor import Tensor, _as_array, _float_dtype, _leaf, empty
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _tensor(x: Any, op: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    return _leaf(_as_array(x, None, op))


# ------------------------------------------------------------------------ one time step
def _rnn_step(xt: Any, h: Any, w_hh: Any, b_hh: Any, relu: bool) -> Tensor:
    pre = xt + linear(h, w_hh, b_hh)
    return ops.relu(pre) if relu else ops.tanh(pre)


def _lstm_step(xt: Any, h: Any, c: Any, w_hh: Any, b_hh: Any) -> tuple[Tensor, Tensor]:
    gates = xt + linear(h, w_hh, b_hh)
    c = lstm_state(gates, c)
    return lstm_output(gates, c), c


def _gru_step(xt: Any, h: Any, w_hh: Any, b_hh: Any) -> Tensor:
    return gru_cell(xt, linear(h, w_hh, b_hh), h)


# --------------------------------------------------------------------------- the layers
class RNNBase(Module):
    """The shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`: PyTorch's
    parameters per layer and direction, the loop over time, the initial states.

    Examples
    --------
    >>> import chainrule as cr
    >>> isinstance(GRU(2, 3), RNNBase), GRU(2, 3, bidirectional=True).mode
    (True, 'GRU')
    """

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = operator.index(input_size)
        self.hidden_size = operator.index(hidden_size)
        self.num_layers = operator.index(num_layers)
        if self.input_size <= 0 or self.hidden_size <= 0 or self.num_layers <= 0:
            raise ValueError(
                f"{name}: input_size, hidden_size and num_layers must be positive, got "
                f"{input_size}, {hidden_size} and {num_layers}"
            )
        if proj_size:
            raise NotImplementedError(f"{name}: proj_size is not supported")
        self.proj_size = 0
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = F._check_p(dropout, name)
        self.bidirectional = bool(bidirectional)
        dt = _float_dtype(dtype, name)
        gates = _GATES[mode] * self.hidden_size
        directions = 2 if self.bidirectional else 1
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, self.hidden_size)}
                if self.bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for kind, shape in shapes.items():
                    setattr(self, f"{kind}_l{layer}{suffix}", Parameter(empty(*shape, dtype=dt)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _layer_parameters(self, layer: int, suffix: str) -> tuple[Any, Any, Any, Any]:
        p = self._parameters
        key = f"l{layer}{suffix}"
        return (p[f"weight_ih_{key}"], p[f"weight_hh_{key}"], p.get(f"bias_ih_{key}"),
                p.get(f"bias_hh_{key}"))  # fmt: skip

    def _check_state(self, h: Any, expected: tuple[int, ...], what: str) -> Tensor:
        t = _tensor(h, type(self).__name__)
        if tuple(t.shape) != expected:
            raise ValueError(
                f"{type(self).__name__}: {what} of shape {tuple(t.shape)} (dtype {t.dtype}) does "
                f"not fit; expected {expected} (num_layers * num_directions, batch, hidden_size)"
            )
        return t

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Any]:
        """Run the sequence ``input`` (L, N, input_size), (N, L, input_size) with
        ``batch_first``, or unbatched (L, input_size), from the initial state ``hx`` (zeros by
        default; ``(h_0, c_0)`` for the LSTM, each (num_layers * num_directions, N,
        hidden_size), or without N for unbatched input).

        Returns ``(output, h_n)`` (``(output, (h_n, c_n))`` for the LSTM); ``output`` holds the
        last layer's hidden state at every step, both directions concatenated on the last axis.
        """
        name = type(self).__name__
        x = _tensor(input, name)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input of shape {tuple(x.shape)} (dtype {x.dtype}) does not fit; "
                f"expected (L, N, {self.input_size}), (N, L, {self.input_size}) with "
                f"batch_first, or unbatched (L, {self.input_size})"
            )
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point input, got dtype {x.dtype}")
        batched = x.ndim == 3
        if not batched:
            x = ops.expand_dims(x, 1)
        elif self.batch_first:
            x = ops.swapaxes(x, 0, 1)
        steps, n = x.shape[0], x.shape[1]
        if steps == 0 or n == 0:
            raise ValueError(f"{name}: input of shape {tuple(x.shape)} has no steps or no samples")
        directions = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * directions, n, self.hidden_size)
        lstm = self.mode == "LSTM"
        h0, c0 = self._initial_state(hx, state_shape, batched, x, lstm)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = F.dropout(x, self.dropout, True)
            outputs = []
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                k = layer * directions + d
                h = h0[k]
                c = c0[k] if lstm else None
                w_ih, w_hh, b_ih, b_hh = self._layer_parameters(layer, suffix)
                xs = ops.split(linear(x, w_ih, b_ih), steps, axis=0)
                order = range(steps - 1, -1, -1) if d else range(steps)
                hs: list[Any] = [None] * steps
                for t in order:
                    xt = ops.reshape(xs[t], (n, -1))
                    if lstm:
                        h, c = _lstm_step(xt, h, c, w_hh, b_hh)
                    elif self.mode == "GRU":
                        h = _gru_step(xt, h, w_hh, b_hh)
                    else:
                        h = _rnn_step(xt, h, w_hh, b_hh, self.mode == "RNN_RELU")
                    hs[t] = h
                outputs.append(ops.stack(hs, axis=0))
                h_n.append(h)
                c_n.append(c)
            x = outputs[0] if directions == 1 else ops.concatenate(outputs, axis=-1)
        output = x
        h_last = ops.stack(h_n, axis=0)
        c_last = ops.stack(c_n, axis=0) if lstm else None
        if not batched:
            output = ops.reshape(output, (steps, -1))
            h_last = ops.reshape(h_last, (state_shape[0], self.hidden_size))
            if lstm:
                c_last = ops.reshape(c_last, (state_shape[0], self.hidden_size))
        elif self.batch_first:
            output = ops.swapaxes(output, 0, 1)
        return output, ((h_last, c_last) if lstm else h_last)

    def _initial_state(
        self, hx: Any, shape: tuple[int, ...], batched: bool, x: Tensor, lstm: bool
    ) -> tuple[list[Any], list[Any]]:
        """``h_0`` (and ``c_0``) as a list of (N, hidden_size) states, one per layer and
        direction."""
        given = shape if batched else (shape[0], shape[2])
        if hx is None:
            zeros = np.zeros((shape[1], shape[2]), x.dtype)
            if x._data.__class__ is not np.ndarray:
                zeros = namespace_of(x._data).asarray(zeros)
            return [zeros] * shape[0], [zeros] * shape[0]
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    f"{type(self).__name__}: hx must be a tuple (h_0, c_0), got {type(hx).__name__}"
                )
            states = [
                self._check_state(hx[0], given, "h_0"),
                self._check_state(hx[1], given, "c_0"),
            ]
        else:
            states = [self._check_state(hx, given, "h_0")]
        lists = []
        for s in states:
            s = s if batched else ops.expand_dims(s, 1)
            lists.append([ops.reshape(p, shape[1:]) for p in ops.split(s, shape[0], axis=0)])
        return lists[0], (lists[1] if lstm else lists[0])

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN_RELU":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` (``relu`` with
    ``nonlinearity="relu"``), stacked ``num_layers`` deep, optionally bidirectional.

    Examples
    --------
    >>> import chainrule as cr
    >>> rnn = RNN(3, 4, num_layers=2, bidirectional=True)
    >>> out, h = rnn(cr.zeros(5, 2, 3))
    >>> out.shape, h.shape
    ((5, 2, 8), (4, 2, 4))
    >>> [name for name, _ in rnn.named_parameters()][:4]
    ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNN: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'"
            )
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype)  # fmt: skip
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gate order i, f, g, o; returns
    ``(output, (h_n, c_n))``.

    Examples
    --------
    >>> import chainrule as cr
    >>> lstm = LSTM(2, 3)
    >>> lstm.weight_ih_l0.shape, lstm.weight_hh_l0.shape
    ((12, 2), (12, 3))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
    ) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, dtype)  # fmt: skip


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gate order r, z, n.

    Examples
    --------
    >>> import chainrule as cr
    >>> gru = GRU(2, 3, batch_first=True)
    >>> out, h = gru(cr.zeros(4, 6, 2))
    >>> out.shape, h.shape
    ((4, 6, 3), (1, 4, 3))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
    ) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, dtype=dtype)  # fmt: skip


# ---------------------------------------------------------------------------- the cells
class _CellBase(Module):
    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, dtype: Any):
        super().__init__()
        name = type(self).__name__
        self.input_size = operator.index(input_size)
        self.hidden_size = operator.index(hidden_size)
        self.bias = bool(bias)
        dt = _float_dtype(dtype, name)
        g = gates * self.hidden_size
        self.weight_ih = Parameter(empty(g, self.input_size, dtype=dt))
        self.weight_hh = Parameter(empty(g, self.hidden_size, dtype=dt))
        if self.bias:
            self.bias_ih = Parameter(empty(g, dtype=dt))
            self.bias_hh = Parameter(empty(g, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def _input(self, input: Any, hx: Any) -> tuple[Tensor, list[Any], bool]:
        name = type(self).__name__
        x = _tensor(input, name)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input of shape {tuple(x.shape)} does not fit; expected "
                f"(N, {self.input_size}) or ({self.input_size},)"
            )
        batched = x.ndim == 2
        if not batched:
            x = ops.expand_dims(x, 0)
        n = x.shape[0]
        states = [] if hx is None else list(hx) if isinstance(hx, (tuple, list)) else [hx]
        out = []
        for s in states:
            s = _tensor(s, name)
            if tuple(s.shape) != ((n, self.hidden_size) if batched else (self.hidden_size,)):
                raise ValueError(
                    f"{name}: state of shape {tuple(s.shape)} does not fit an input of shape "
                    f"{tuple(input.shape)}; expected hidden_size {self.hidden_size}"
                )
            out.append(s if batched else ops.expand_dims(s, 0))
        return x, out, batched

    def _zeros(self, x: Tensor) -> Any:
        z = np.zeros((x.shape[0], self.hidden_size), x.dtype)
        return z if x._data.__class__ is np.ndarray else namespace_of(x._data).asarray(z)

    def _project(self, x: Tensor) -> Tensor:
        p = self._parameters
        return linear(x, p["weight_ih"], p["bias_ih"])

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


def _unbatch(t: Tensor, batched: bool) -> Tensor:
    return t if batched else ops.reshape(t, t.shape[1:])


class RNNCell(_CellBase):
    """One step of :class:`RNN`: ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> RNNCell(3, 2)(cr.zeros(4, 3)).shape
    (4, 2)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
        dtype: Any = None,
    ) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"RNNCell: unknown nonlinearity {nonlinearity!r}; expected 'tanh' or 'relu'"
            )
        super().__init__(input_size, hidden_size, bias, 1, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, states, batched = self._input(input, hx)
        h = states[0] if states else self._zeros(x)
        p = self._parameters
        h = _rnn_step(self._project(x), h, p["weight_hh"], p["bias_hh"],
                      self.nonlinearity == "relu")  # fmt: skip
        return _unbatch(h, batched)


class LSTMCell(_CellBase):
    """One step of :class:`LSTM`; ``hx`` is ``(h, c)``, the result ``(h', c')``.

    Examples
    --------
    >>> import chainrule as cr
    >>> h, c = LSTMCell(3, 2)(cr.zeros(4, 3))
    >>> h.shape, c.shape
    ((4, 2), (4, 2))
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, 4, dtype)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, states, batched = self._input(input, hx)
        if states and len(states) != 2:
            raise TypeError("LSTMCell: hx must be a tuple (h, c)")
        h, c = states if states else (self._zeros(x), self._zeros(x))
        p = self._parameters
        h, c = _lstm_step(self._project(x), h, c, p["weight_hh"], p["bias_hh"])
        return _unbatch(h, batched), _unbatch(c, batched)


class GRUCell(_CellBase):
    """One step of :class:`GRU`.

    Examples
    --------
    >>> import chainrule as cr
    >>> GRUCell(3, 2)(cr.zeros(3)).shape
    (2,)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None):
        super().__init__(input_size, hidden_size, bias, 3, dtype)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, states, batched = self._input(input, hx)
        h = states[0] if states else self._zeros(x)
        p = self._parameters
        return _unbatch(_gru_step(self._project(x), h, p["weight_hh"], p["bias_hh"]), batched)
