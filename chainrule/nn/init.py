"""Initialisers: fill a parameter in place with values from a distribution, as ``torch.nn.init``.

Each function takes a Tensor (or Parameter, or a NumPy array), replaces its values without
recording anything, keeps its shape, dtype and device, and returns it. Random ones draw from
``generator`` (a ``numpy.random.Generator`` or an int seed) or, by default, from chainrule's
global generator, so ``cr.random.seed(n)`` makes a model's initial weights reproducible.

The formulas are PyTorch's. For a weight of shape ``(out, in, *kernel)``::

    fan_in  = in  * prod(kernel)        fan_out = out * prod(kernel)
    kaiming_uniform_  U(-b, b),  b = gain * sqrt(3 / fan)       (fan = fan_in or fan_out)
    kaiming_normal_   N(0, std), std = gain / sqrt(fan)
    xavier_uniform_   U(-b, b),  b = gain * sqrt(6 / (fan_in + fan_out))
    xavier_normal_    N(0, std), std = gain * sqrt(2 / (fan_in + fan_out))

A convolution weight ``(out, in/groups, kh, kw)`` thus has ``fan_in = in/groups * kh * kw``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import random as _random
from ..backend import namespace_of
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "reset_affine_",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
]

_LINEAR_FNS = (
    "linear", "conv1d", "conv2d", "conv3d",
    "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)  # fmt: skip


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    ``linear``/``conv*``/``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: sqrt(2 / (1 + slope**2)) with ``param`` the slope (0.01 by default);
    ``selu``: 3/4.

    Examples
    --------
    >>> round(calculate_gain("relu"), 6)
    1.414214
    >>> round(calculate_gain("leaky_relu", 0.2), 6)
    1.38675
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{', '.join(_LINEAR_FNS)}, sigmoid, tanh, relu, leaky_relu, selu"
    )


def _array(tensor: Any, op: str) -> Any:
    if isinstance(tensor, Tensor):
        return tensor._data
    if type(tensor) is np.ndarray or hasattr(tensor, "__cuda_array_interface__"):
        return tensor
    raise TypeError(f"{op}: expected a Tensor, Parameter or array, got {type(tensor).__name__}")


def _fill(tensor: Any, values: Any) -> Any:
    """Put ``values`` into ``tensor`` with its dtype and device; nothing is recorded."""
    arr = _array(tensor, "init")
    if isinstance(tensor, Tensor):
        if type(arr) is not np.ndarray:
            values = namespace_of(arr).asarray(values)
        # Assigning .data (not writing into the array) stamps the tensor as modified, so a graph
        # recorded with the old values refuses to backward instead of silently using new ones.
        tensor.data = values.astype(arr.dtype, copy=False).reshape(arr.shape)
    else:
        arr[...] = values
    return tensor


def _float_dtype(tensor: Any, op: str) -> np.dtype:
    dt = _array(tensor, op).dtype
    if dt.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {dt}")
    return dt


def _empty(tensor: Any) -> bool:
    if _array(tensor, "init").size == 0:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def uniform_(
    tensor: Any, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | int | None = None
) -> Any:
    """Fill ``tensor`` with samples from U(a, b).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = uniform_(cr.empty(1000), -2.0, 2.0, generator=0)
    >>> bool((w.numpy() >= -2).all() and (w.numpy() < 2).all())
    True
    """
    _float_dtype(tensor, "uniform_")
    if a > b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    gen = _random.resolve(generator)
    return _fill(tensor, gen.uniform(a, b, _array(tensor, "uniform_").shape))


def normal_(
    tensor: Any,
    mean: float = 0.0,
    std: float = 1.0,
    generator: np.random.Generator | int | None = None,
) -> Any:
    """Fill ``tensor`` with samples from N(mean, std**2).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = normal_(cr.empty(10000), 3.0, 0.5, generator=0)
    >>> round(float(w.numpy().mean()), 1), round(float(w.numpy().std()), 1)
    (3.0, 0.5)
    """
    _float_dtype(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    gen = _random.resolve(generator)
    return _fill(tensor, gen.normal(mean, std, _array(tensor, "normal_").shape))


def constant_(tensor: Any, val: float) -> Any:
    """Fill ``tensor`` with ``val``.

    Examples
    --------
    >>> import chainrule as cr
    >>> constant_(cr.empty(2), 0.5).tolist()
    [0.5, 0.5]
    """
    arr = _array(tensor, "constant_")
    return _fill(tensor, np.full(arr.shape, val, arr.dtype))


def zeros_(tensor: Any) -> Any:
    """Fill ``tensor`` with zeros.

    Examples
    --------
    >>> import chainrule as cr
    >>> zeros_(cr.ones(2)).tolist()
    [0.0, 0.0]
    """
    return constant_(tensor, 0)


def ones_(tensor: Any) -> Any:
    """Fill ``tensor`` with ones.

    Examples
    --------
    >>> import chainrule as cr
    >>> ones_(cr.zeros(2)).tolist()
    [1.0, 1.0]
    """
    return constant_(tensor, 1)


def _calculate_fan_in_and_fan_out(tensor: Any, op: str) -> tuple[int, int]:
    shape = _array(tensor, op).shape
    if len(shape) < 2:
        raise ValueError(
            f"{op}: fan in and fan out can not be computed for a tensor with fewer than 2 "
            f"dimensions (got shape {tuple(shape)}); expected (out, in, *kernel)"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str, op: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode {mode!r} not supported; expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, op)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | int | None = None
) -> Any:
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = xavier_uniform_(cr.empty(3, 5), generator=0)
    >>> bool(abs(w.numpy()).max() <= (6 / 8) ** 0.5)
    True
    """
    _float_dtype(tensor, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    if _empty(tensor):
        return tensor
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(
    tensor: Any, gain: float = 1.0, generator: np.random.Generator | int | None = None
) -> Any:
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> import chainrule as cr
    >>> xavier_normal_(cr.empty(3, 5), generator=0).shape
    (3, 5)
    """
    _float_dtype(tensor, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    if _empty(tensor):
        return tensor
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | int | None = None,
) -> Any:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)``, ``gain = calculate_gain(
    nonlinearity, a)``.

    ``a=sqrt(5)`` (what ``Linear`` and ``Conv2d`` use) gives ``b = 1 / sqrt(fan_in)``.

    Examples
    --------
    >>> import math, chainrule as cr
    >>> w = kaiming_uniform_(cr.empty(8, 4), a=math.sqrt(5), generator=0)
    >>> bool(abs(w.numpy()).max() <= 1 / math.sqrt(4))
    True
    """
    _float_dtype(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode, "kaiming_uniform_")
    if _empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor: Any,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: np.random.Generator | int | None = None,
) -> Any:
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> kaiming_normal_(cr.empty(16, 3, 3, 3), mode="fan_out", nonlinearity="relu").shape
    (16, 3, 3, 3)
    """
    _float_dtype(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode, "kaiming_normal_")
    if _empty(tensor):
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def reset_affine_(weight: Any, bias: Any = None) -> None:
    """PyTorch's default initialisation of ``Linear`` and ``Conv2d``: ``kaiming_uniform_`` with
    ``a = sqrt(5)`` for the weight (U(-b, b), b = 1/sqrt(fan_in)), and U(-b, b) for the bias.

    Examples
    --------
    >>> import chainrule as cr
    >>> w, b = cr.zeros(3, 4), cr.zeros(3)
    >>> reset_affine_(w, b)
    >>> bool(abs(b.numpy()).max() <= 0.5)
    True
    """
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight, "reset_affine_")
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
