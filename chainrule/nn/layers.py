"""Layers: thin Modules that hold parameters and call :mod:`chainrule.nn.functional`.

Defaults (initialisation, arguments, ``repr``) are PyTorch's. Random initial values come from
chainrule's global generator, so ``cr.random.seed(n)`` before building a model makes it
reproducible.

Hot paths read parameters from ``self._parameters`` directly: ``self.weight`` would go through
``Module.__getattr__``, a Python-level lookup that costs as much as a small operation.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..ops.elementwise import gelu, leaky_relu, relu, sigmoid, tanh
from ..ops.nn import linear
from ..ops.reduce import log_softmax, softmax
from ..ops.shape import reshape
from ..tensor import Tensor, _float_dtype, empty
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = [
    "Identity", "Linear", "Sequential", "ModuleList", "ReLU", "LeakyReLU", "GELU", "Tanh",
    "Sigmoid", "Softmax", "LogSoftmax", "Flatten", "Dropout", "Embedding",
]  # fmt: skip


class Identity(Module):
    """Returns its input; any constructor arguments are ignored (PyTorch's placeholder).

    Examples
    --------
    >>> import chainrule as cr
    >>> Identity()(cr.tensor([1.0])).tolist()
    [1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x


class Linear(Module):
    """Affine map ``y = x @ weight.T + bias`` over the last axis.

    ``weight`` has shape ``(out_features, in_features)`` and ``bias`` ``(out_features,)``, both
    initialised from U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch (the weight by
    ``kaiming_uniform_(a=sqrt(5))``), weight first, from chainrule's global generator.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias.
    dtype : dtype, optional
        Of the parameters (chainrule's default float dtype, float32, unless given).

    Examples
    --------
    >>> import chainrule as cr
    >>> layer = Linear(4, 8)
    >>> layer
    Linear(in_features=4, out_features=8, bias=True)
    >>> layer(cr.zeros(2, 4)).shape
    (2, 8)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = operator.index(in_features)
        self.out_features = operator.index(out_features)
        if self.in_features < 0 or self.out_features < 0:
            raise ValueError(
                f"Linear: in_features and out_features must be non-negative, got "
                f"{in_features} and {out_features}"
            )
        dt = _float_dtype(dtype, "Linear")
        self.weight = Parameter(empty(self.out_features, self.in_features, dtype=dt))
        if bias:
            self.bias = Parameter(empty(self.out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the initial weight and bias again (PyTorch's scheme)."""
        init.reset_affine_(self.weight, self.bias)

    def forward(self, x: Any) -> Tensor:
        p = self._parameters
        return linear(x, p["weight"], p["bias"])

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self._parameters['bias'] is not None}"
        )


# ------------------------------------------------------------------------- containers
class _ModuleSequence(Module):
    """The list behaviour shared by ``Sequential`` and ``ModuleList``: ``len``, iteration,
    indexing (negative too), slicing (a new container of the same modules, keeping their names),
    ``append``, ``insert``, ``extend``, item assignment and deletion."""

    def _index(self, idx: int) -> int:
        n = len(self._modules)
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__}: index {i} is out of range for {n} modules")
        return i % n

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            picked = type(self)()
            for name, module in list(self._modules.items())[idx]:
                picked.add_module(name, module)
            return picked
        return list(self._modules.values())[self._index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[self._index(idx)]
        self.add_module(key, module)

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        for key in keys[idx] if isinstance(idx, slice) else [keys[self._index(idx)]]:
            del self._modules[key]
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules: list[Module]) -> None:
        # Names become "0", "1", ... again after a deletion or insertion, as in PyTorch.
        self._modules.clear()
        for k, m in enumerate(modules):
            self._modules[str(k)] = m

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Any:
        """Add ``module`` at the end; returns the container."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        """Append each of ``modules``; returns the container."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Any:
        """Insert ``module`` before position ``index``; returns the container."""
        name = type(self).__name__
        if not isinstance(module, Module):
            raise TypeError(f"{name}.insert: expected a Module, got {type(module).__name__}")
        n = len(self._modules)
        i = operator.index(index)
        if not -n <= i <= n:
            raise IndexError(f"{name}.insert: index {i} is out of range for {n} modules")
        mods = list(self._modules.values())
        mods.insert(i if i >= 0 else i + n, module)
        self._renumber(mods)
        return self


class Sequential(_ModuleSequence):
    """Modules applied one after the other: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Takes modules (named ``"0"``, ``"1"``...) or one ``OrderedDict`` of name -> module. Supports
    ``len``, iteration, indexing (negative too), slicing (a new ``Sequential`` of the same
    modules, keeping their names), ``append``, ``insert``, ``extend`` and item assignment and
    deletion.

    Examples
    --------
    >>> import chainrule as cr
    >>> model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    >>> len(model), type(model[1]).__name__, len(model[1:])
    (3, 'ReLU', 2)
    >>> model(cr.zeros(2, 4)).shape
    (2, 3)
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x


class ModuleList(_ModuleSequence):
    """A list of modules, registered (their parameters are the list's), not called in order.

    Examples
    --------
    >>> layers = ModuleList([Linear(2, 2) for _ in range(3)])
    >>> len(layers), len(list(layers.parameters()))
    (3, 6)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)


# ------------------------------------------------------------------------ activations
class ReLU(Module):
    """``max(x, 0)`` elementwise. (``inplace`` is accepted for PyTorch compatibility; the
    result is always a new tensor.)

    Examples
    --------
    >>> import chainrule as cr
    >>> ReLU()(cr.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """``x`` where positive, ``negative_slope * x`` elsewhere.

    Examples
    --------
    >>> import chainrule as cr
    >>> LeakyReLU(0.5)(cr.tensor([-2.0, 3.0])).tolist()
    [-1.0, 3.0]
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` uses the tanh form.

    Examples
    --------
    >>> import chainrule as cr
    >>> round(GELU()(cr.tensor(1.0)).item(), 5)
    0.84134
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """Hyperbolic tangent elementwise.

    Examples
    --------
    >>> import chainrule as cr
    >>> Tanh()(cr.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, x: Any) -> Tensor:
        return tanh(x)


class Sigmoid(Module):
    """Logistic function ``1 / (1 + exp(-x))`` elementwise (stable for large ``|x|``).

    Examples
    --------
    >>> import chainrule as cr
    >>> Sigmoid()(cr.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, x: Any) -> Tensor:
        return sigmoid(x)


def _implicit_dim(name: str, ndim: int) -> int:
    # PyTorch's legacy choice when no dim is given, with its warning.
    warnings.warn(
        f"{name}: implicit dimension choice has been deprecated; pass dim=X "
        "(e.g. dim=-1 for the last axis)",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


class _AlongDim(Module):
    """A normalisation along one axis, ``dim`` (Softmax, LogSoftmax)."""

    _function: Any

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        dim = self.dim
        if dim is None:
            dim = _implicit_dim(type(self).__name__, len(getattr(x, "shape", ())))
        return type(self)._function(x, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """Softmax along ``dim``: ``exp(x) / sum(exp(x))``.

    With ``dim=None`` PyTorch's deprecated implicit choice is made (axis 0 for 0-, 1- and 3-D
    inputs, else axis 1), with a warning; pass ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> Softmax(dim=1)(cr.zeros(1, 2)).tolist()
    [[0.5, 0.5]]
    """

    _function = staticmethod(softmax)


class LogSoftmax(_AlongDim):
    """``log(softmax(x))`` along ``dim``, fused and stable. ``dim=None`` as for
    :class:`Softmax`.

    Examples
    --------
    >>> import chainrule as cr
    >>> LogSoftmax(dim=-1)(cr.tensor([0.0, 1e4])).tolist()
    [-10000.0, 0.0]
    """

    _function = staticmethod(log_softmax)


# ------------------------------------------------------------------------------ shapes
class Flatten(Module):
    """Merge the axes ``start_dim`` to ``end_dim`` (inclusive) into one.

    Examples
    --------
    >>> import chainrule as cr
    >>> Flatten()(cr.zeros(2, 3, 4, 5)).shape
    (2, 60)
    >>> Flatten(0, 1)(cr.zeros(2, 3, 4)).shape
    (6, 4)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Any) -> Tensor:
        shape = tuple(x.shape)
        n = len(shape)
        if n == 0:
            return reshape(x, (1,))
        s, e = self.start_dim, self.end_dim
        if not (-n <= s < n and -n <= e < n):
            raise IndexError(
                f"Flatten: start_dim={s}, end_dim={e} are out of range for an input of shape "
                f"{shape}; expected values in [{-n}, {n - 1}]"
            )
        s, e = s % n, e % n
        if s > e:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} for an "
                f"input of shape {shape}"
            )
        return reshape(x, shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


# ----------------------------------------------------------------------------- dropout
class Dropout(Module):
    """Inverted dropout while training (zero with probability ``p``, scale the rest by
    ``1 / (1 - p)``); the identity in evaluation mode (``model.eval()``).

    The masks come from chainrule's global generator (``cr.random.seed``), or from
    ``generator`` (a ``numpy.random.Generator``) if given.

    Examples
    --------
    >>> import chainrule as cr
    >>> d = Dropout(0.5)
    >>> sorted(set(d(cr.ones(100)).tolist()))
    [0.0, 2.0]
    >>> d.eval()(cr.ones(2)).tolist()
    [1.0, 1.0]
    """

    def __init__(
        self, p: float = 0.5, inplace: bool = False, generator: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.p = F._check_p(p, "Dropout")
        self.inplace = inplace
        self.generator = generator

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


# ---------------------------------------------------------------------------- embedding
class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight``
    (``num_embeddings``, ``embedding_dim``), initialised from N(0, 1) as in PyTorch.

    With ``padding_idx``, that row starts as zeros and never receives a gradient.
    With ``max_norm``, rows looked up whose ``norm_type``-norm exceeds it are rescaled to it
    in place first (PyTorch's renormalisation).

    Examples
    --------
    >>> import chainrule as cr
    >>> emb = Embedding(10, 3, padding_idx=0)
    >>> emb
    Embedding(10, 3, padding_idx=0)
    >>> emb(cr.tensor([[0, 4, 4]])).shape
    (1, 3, 3)
    >>> emb(cr.tensor([0])).tolist()
    [[0.0, 0.0, 0.0]]
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = None,
        _weight: Any = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
    ) -> None:
        super().__init__()
        self.max_norm, self.norm_type = max_norm, norm_type
        self.num_embeddings = operator.index(num_embeddings)
        self.embedding_dim = operator.index(embedding_dim)
        if padding_idx is not None:
            padding_idx = operator.index(padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                    f"({self.num_embeddings})"
                )
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(empty(*shape, dtype=_float_dtype(dtype, "Embedding")))
            self.reset_parameters()
        else:
            w = _weight if isinstance(_weight, Parameter) else Parameter(_weight)
            if tuple(w.shape) != shape:
                raise ValueError(
                    f"Embedding: _weight has shape {tuple(w.shape)}, expected {shape}"
                )
            self.weight = w

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None
    ) -> Embedding:
        """An Embedding holding (a copy of) the 2-D ``embeddings``; frozen unless
        ``freeze=False``.

        Examples
        --------
        >>> import chainrule as cr
        >>> emb = Embedding.from_pretrained(cr.tensor([[1.0, 2.0], [3.0, 4.0]]))
        >>> emb(cr.tensor([1])).tolist(), emb.weight.requires_grad
        ([[3.0, 4.0]], False)
        """
        arr = np.array(embeddings, copy=True)
        if arr.ndim != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-D, got shape {arr.shape}"
            )
        emb = cls(arr.shape[0], arr.shape[1], padding_idx=padding_idx,
                  _weight=Parameter(arr, requires_grad=not freeze))
        return emb

    def reset_parameters(self) -> None:
        """Draw the weight from N(0, 1) again, zeroing the padding row."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(
            indices, self._parameters["weight"], self.padding_idx, self.max_norm, self.norm_type
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
