"""chainrule's primitives, and the differentiable array namespace.

This module is what gradient rules receive as ``xp`` under ``create_graph=True``: its functions
have NumPy's names and signatures and accept Tensors, arrays and scalars alike.

Each family module lists in ``TENSOR_METHODS`` the functions that are also Tensor methods
(``x.exp()``, ``x.sum(axis=0)``); the operators are bound at the end of this file.
"""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, full_like, ones_like, zeros_like
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
Tensor.__and__ = elementwise.logical_and
Tensor.__rand__ = _reflected(elementwise.logical_and)
Tensor.__or__ = elementwise.logical_or
Tensor.__ror__ = _reflected(elementwise.logical_or)
Tensor.__invert__ = elementwise.logical_not
