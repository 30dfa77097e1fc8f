"""chainrule's primitives, and the differentiable array namespace.

This module is what gradient rules receive as ``xp`` under ``create_graph=True``: its functions
have NumPy's names and signatures and accept Tensors, arrays and scalars alike.

Each family module lists in ``TENSOR_METHODS`` the functions that are also Tensor methods
(``x.exp()``, ``x.sum(axis=0)``); the operators are bound at the end of this file.
"""

from __future__ import annotations

import sys
from typing import Any

from ..tensor import Tensor, bind_methods, full_like, ones_like, zeros_like
from . import activation, conv, elementwise, indexing, linalg, nn, reduce, shape, sorting
from .activation import *  # noqa: F403
from .conv import *  # noqa: F403
from .define import primitive_table
from .elementwise import *  # noqa: F403
from .indexing import *  # noqa: F403
from .indexing import scatter_reduce_at  # noqa: F401 - rules call xp.scatter_reduce_at
from .linalg import *  # noqa: F403
from .nn import *  # noqa: F403
from .reduce import *  # noqa: F403
from .shape import *  # noqa: F403
from .sorting import *  # noqa: F403

__all__ = (
    ["primitive_table", "zeros_like", "ones_like", "full_like"]
    + elementwise.__all__
    + reduce.__all__
    + shape.__all__
    + linalg.__all__
    + nn.__all__
    + conv.__all__
    + activation.__all__
    + indexing.__all__
    + sorting.__all__
)

_FAMILIES = (elementwise, reduce, shape, linalg, nn, conv, activation, indexing, sorting)


def _reflected(func: Any) -> Any:
    def method(self: Tensor, other: Any) -> Any:
        return func(other, self)

    method.__name__ = "r" + func.__name__
    return method


# A function stored on the class is a method: `x.exp()` calls `exp(x)` with no wrapper between.
for _family in _FAMILIES:
    for _name in getattr(_family, "TENSOR_METHODS", ()):
        setattr(Tensor, _name, getattr(_family, _name))

# Operators: plain function objects, so `x * y` costs one call into the primitive.
Tensor.__add__ = elementwise.add
Tensor.__radd__ = _reflected(elementwise.add)
Tensor.__sub__ = elementwise.subtract
Tensor.__rsub__ = _reflected(elementwise.subtract)
Tensor.__mul__ = elementwise.multiply
Tensor.__rmul__ = _reflected(elementwise.multiply)
Tensor.__truediv__ = elementwise.divide
Tensor.__rtruediv__ = _reflected(elementwise.divide)
Tensor.__pow__ = elementwise.power
Tensor.__rpow__ = _reflected(elementwise.power)
Tensor.__floordiv__ = elementwise.floor_divide
Tensor.__rfloordiv__ = _reflected(elementwise.floor_divide)
Tensor.__mod__ = elementwise.remainder
Tensor.__rmod__ = _reflected(elementwise.remainder)
Tensor.__neg__ = elementwise.negative
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = elementwise.abs
Tensor.__lt__ = elementwise.less
Tensor.__le__ = elementwise.less_equal
Tensor.__gt__ = elementwise.greater
Tensor.__ge__ = elementwise.greater_equal
Tensor.__eq__ = elementwise.equal  # type: ignore[assignment]
Tensor.__ne__ = elementwise.not_equal  # type: ignore[assignment]
# Bitwise on integers, logical on bools, as in NumPy and PyTorch.
Tensor.__and__ = elementwise.bitwise_and
Tensor.__rand__ = _reflected(elementwise.bitwise_and)
Tensor.__or__ = elementwise.bitwise_or
Tensor.__ror__ = _reflected(elementwise.bitwise_or)
Tensor.__xor__ = elementwise.bitwise_xor
Tensor.__rxor__ = _reflected(elementwise.bitwise_xor)
Tensor.__invert__ = elementwise.bitwise_not
Tensor.__lshift__ = elementwise.left_shift
Tensor.__rlshift__ = _reflected(elementwise.left_shift)
Tensor.__rshift__ = elementwise.right_shift
Tensor.__rrshift__ = _reflected(elementwise.right_shift)

# PyTorch's spellings: dim=/keepdim= on the methods and functions that take axis=/keepdims=,
# x.max(1) -> (values, indices), x.view, x.unsqueeze... (see tensor.bind_methods and
# docs/numpy_vs_pytorch.md).
globals().update(bind_methods(sys.modules[__name__], _FAMILIES))
