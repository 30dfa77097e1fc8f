"""How a primitive is defined: a forward and its vector-Jacobian products, side by side.

Each family file (``elementwise.py``, ``reduce.py``, ``shape.py``, ``linalg.py``, ``nn.py``)
declares its primitives with these helpers::

    exp = unary("exp", lambda xp, x: xp.exp(x),
                vjp=lambda xp, g, out, x: g * out, formula="g * exp(x)")

* ``forward(xp, *args)`` computes on raw arrays with the array namespace ``xp``.
* ``vjp(xp, g, out, *args)`` returns dL/d(arg) given ``g`` = dL/d(out). On an ordinary backward
  pass ``xp`` is the backend (NumPy) and everything is a raw array; under ``create_graph=True``
  ``xp`` is :mod:`chainrule.ops` and ``g``, ``out`` and the tensor arguments are Tensors, so the
  same rule records a graph and gives second derivatives. A rule therefore uses only operators,
  array methods shared by ndarray and Tensor (``sum``, ``reshape``, ``T``...) and ``xp.<name>``.
* Rules return gradients in the broadcast shape; :func:`chainrule.autodiff.unbroadcast` sums them
  back in one place, and the walk casts them to the argument's dtype.

The generated public functions are plain closures made once at import, so calling one costs a
type check, the NumPy call and (when recording) one object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autodiff import Primitive, modes_switched, state
from ..backend import namespace_of, numpy_namespace, register_raw
from ..tensor import Tensor, _as_array, _leaf, record

__all__ = [
    "unary", "binary", "nondiff", "bitwise", "apply", "raw", "primitive_table",
    "holds_tensor", "stack_nested",
]  # fmt: skip

NP = numpy_namespace
_ndarray = np.ndarray

#: Every primitive by name, for ``explain`` and for auditing the rule table.
primitive_table: dict[str, Primitive] = {}


def _register(prim: Primitive) -> Primitive:
    if prim.name in primitive_table:
        raise ValueError(f"primitive {prim.name!r} is defined twice")
    primitive_table[prim.name] = prim
    return prim


def raw(value: Any) -> Any:
    """The raw operand behind ``value``: a Tensor's array, an ndarray, a Python scalar (kept weak).

    Lists and tuples become arrays with chainrule's dtype rules (floats: default float dtype).
    """
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, (list, tuple)):
        return _as_array(value, None, "operand")
    return value


def holds_tensor(value: Any) -> bool:
    """Whether a (nested) list or tuple holds a Tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> holds_tensor([1.0, [cr.ones(2)]]), holds_tensor([1.0, [2.0]])
    (True, False)
    """
    pending = [value]
    while pending:  # iterative: nesting depth is the user's, not Python's recursion limit
        for v in pending.pop():
            if isinstance(v, Tensor):
                return True
            if isinstance(v, (list, tuple)):
                pending.append(v)
    return False


def stack_nested(value: Any, op: str) -> Tensor:
    """A (nested) list or tuple holding Tensors as one Tensor, stacked differentiably, as HIPS
    autograd does: ``cr.mean([x, x + 2])`` is ``cr.mean(cr.stack([x, x + 2]))``. (Converting
    the list to an array would silently drop the tensors' gradients.)

    Numbers and Tensor-free sublists take the Tensors' dtype (like a Python scalar beside an
    array), so ``[x, 0.0]`` keeps a float64 ``x`` float64 and ``[x, 1]`` keeps float32 float32.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = stack_nested([x, [0.0, 1.0]], "mean")
    >>> y.shape, y.requires_grad
    ((2, 2), True)
    """
    from .shape import stack  # shape.py is built on this module

    dtypes = []
    pending = [value]
    while pending:
        for v in pending.pop():
            if isinstance(v, Tensor):
                dtypes.append(v._data.dtype)
            elif isinstance(v, (list, tuple)):
                pending.append(v)
    dt = np.result_type(*dtypes)

    def build(v: Any) -> Any:
        if isinstance(v, Tensor):
            return v
        if isinstance(v, (list, tuple)) and any(isinstance(e, (Tensor, list, tuple)) for e in v):
            return stack([build(e) for e in v])
        return _as_array(v, dt if dt.kind == "f" else None, op)

    try:
        return build(value)
    except ValueError as exc:
        raise ValueError(
            f"{op}: the {type(value).__name__} of tensors cannot be stacked into one tensor: {exc}"
        ) from None


def _weak_list(value: Any, other: Any) -> Any:
    """A Python list beside a floating array is weak, like a Python scalar: it takes the
    array's dtype (float64 * [0.3] keeps 0.3 exact; float32 * [1, 2] stays float32)."""
    dtype = getattr(other, "dtype", None)
    if dtype is not None and dtype.kind == "f":
        arr = np.asarray(value)
        if arr.dtype.kind in "iuf":
            return arr.astype(dtype)
    return _as_array(value, None, "operand")


def xp_of(*values: Any) -> Any:
    """The namespace of the first array among raw ``values`` (NumPy when all are scalars)."""
    for v in values:
        if v.__class__ is _ndarray:
            return NP
        if hasattr(v, "__cuda_array_interface__"):
            return namespace_of(v)
    return NP


def _operand_error(name: str, raws: Any, exc: Exception) -> ValueError:
    """NumPy's complaint about operands (most often broadcasting), with the operation named."""
    shapes = ", ".join(str(tuple(getattr(a, "shape", ()))) for a in raws)
    dtypes = ", ".join(str(getattr(a, "dtype", type(a).__name__)) for a in raws)
    if "broadcast" in str(exc):
        return ValueError(
            f"{name}: operands of shapes {shapes} (dtypes {dtypes}) cannot be broadcast "
            "together; trailing dimensions must be equal or 1"
        )
    return ValueError(f"{name}: {exc} (operands of shapes {shapes}, dtypes {dtypes})")


def unary(
    name: str,
    forward: Callable[..., Any],
    vjp: Callable[..., Any],
    formula: str,
    ufunc: bool = False,
) -> Callable[[Any], Tensor]:
    """Define a one-array primitive ``f(x)``; return its public function.

    ``ufunc=True`` declares that ``forward`` is the backend's function of the same name
    (``xp.exp`` for "exp"); on NumPy arrays it is then called directly, one Python frame less
    on the hottest path.

    ``forward`` is also registered in the array namespaces under ``name`` when the backend
    lacks it, so rules can call ``xp.<name>`` on raw arrays.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.exp.prim.formula
    'g * exp(x)'
    """
    prim = _register(Primitive(name, (vjp,), formula))
    register_raw(name, forward)
    direct = getattr(NP, name) if ufunc else None

    def op(x: Any) -> Tensor:
        if isinstance(x, Tensor):
            xd = x._data
            if direct is not None and xd.__class__ is _ndarray:
                data = direct(xd)
            else:
                data = forward(NP if xd.__class__ is _ndarray else namespace_of(xd), xd)
            if x._rg and (not modes_switched or state.grad_enabled):
                return record(prim, data, (xd,), x)
            return _leaf(data)
        if isinstance(x, (list, tuple)) and holds_tensor(x):
            return op(stack_nested(x, name))
        xd = raw(x)
        if xd.__class__ is not _ndarray and not hasattr(xd, "__cuda_array_interface__"):
            xd = _as_array(xd, None, name)
        return _leaf(forward(xp_of(xd), xd))

    op.__name__ = op.__qualname__ = name
    op.prim = prim  # type: ignore[attr-defined]
    return op


def binary(
    name: str,
    forward: Callable[..., Any],
    vjp_x: Callable[..., Any] | None,
    vjp_y: Callable[..., Any] | None,
    formula: str,
    ufunc: bool = False,
) -> Callable[[Any, Any], Tensor]:
    """Define a two-array primitive ``f(x, y)`` with NumPy broadcasting; return its function.

    ``ufunc=True`` declares that ``forward`` is the backend's function of the same name, called
    directly on NumPy arrays (see :func:`unary`).

    Python scalars stay Python scalars (weak, as in NumPy 2), so ``x * 1.000001`` keeps ``x``'s
    dtype and the scalar's full precision.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.multiply.prim.formula
    'dx = g * y;  dy = g * x'
    """
    prim = _register(Primitive(name, (vjp_x, vjp_y), formula))
    direct = getattr(NP, name) if ufunc else None

    def op(x: Any, y: Any) -> Tensor:
        if isinstance(x, Tensor):
            xd = x._data
            xr = x._rg
        elif isinstance(x, (list, tuple)):  # reflected operators ([1, 2] - t) and cr.add([..], y)
            if holds_tensor(x):
                return op(stack_nested(x, name), y)
            xd = _weak_list(x, y._data if isinstance(y, Tensor) else raw(y))
            xr = False
        else:
            xd = raw(x)
            xr = False
        if isinstance(y, Tensor):
            yd = y._data
            yr = y._rg
        elif y.__class__ is float or y.__class__ is int:
            yd = y  # the common `x * 0.5`: a weak Python scalar, no conversion
            yr = False
        elif isinstance(y, (list, tuple)):
            if holds_tensor(y):
                return op(x, stack_nested(y, name))
            yd = _weak_list(y, xd)
            yr = False
        else:
            yd = raw(y)
            yr = False
        try:
            if xd.__class__ is _ndarray or yd.__class__ is _ndarray:
                data = forward(NP, xd, yd) if direct is None else direct(xd, yd)
            else:
                data = forward(xp_of(xd, yd), xd, yd)
        except ValueError as exc:
            raise _operand_error(name, (xd, yd), exc) from None
        if (xr or yr) and (not modes_switched or state.grad_enabled):
            parents = x if not yr else (x if xr else None, y)
            return record(prim, data, (xd, yd), parents)
        return _leaf(data)

    op.__name__ = op.__qualname__ = name
    op.prim = prim  # type: ignore[attr-defined]
    return op


def nondiff(name: str, forward: Callable[..., Any]) -> Callable[..., Tensor]:
    """Define an operation with no gradient (comparisons, ``sign``, ``argmax``...).

    Its result never requires grad. Tensor arguments are unwrapped; other arguments (axes,
    lists, scalars) pass to the forward as they are.

    Examples
    --------
    >>> import chainrule as cr
    >>> (cr.tensor([1.0, 3.0]) > 2).tolist()
    [False, True]
    """

    def op(*args: Any, **kwargs: Any) -> Tensor:
        rargs = [a._data if isinstance(a, Tensor) else a for a in args]
        return _leaf(forward(xp_of(*rargs), *rargs, **kwargs))

    op.__name__ = op.__qualname__ = name
    return op


def bitwise(name: str) -> Callable[..., Tensor]:
    """Define the no-gradient integer/bool operation ``xp.<name>`` (``bitwise_and``,
    ``left_shift``...): bitwise on integers, logical on bools, as in NumPy and PyTorch; other
    dtypes get an error naming the operation, shapes and dtypes.

    Examples
    --------
    >>> import chainrule as cr
    >>> (cr.tensor([12, 10]) & 6).tolist()
    [4, 2]
    """

    def forward(xp: Any, *args: Any) -> Any:
        try:
            return getattr(xp, name)(*args)
        except TypeError:
            shapes = ", ".join(str(tuple(getattr(a, "shape", ()))) for a in args)
            dtypes = ", ".join(str(getattr(a, "dtype", type(a).__name__)) for a in args)
            raise TypeError(
                f"{name}: needs integer or bool tensors, got shapes {shapes} and dtypes "
                f"{dtypes} (compare first, e.g. (x > 0) & (y > 0), for a logical result)"
            ) from None

    return nondiff(name, forward)


def apply(
    prim: Primitive,
    forward: Callable[..., Any],
    arrays: tuple[Any, ...],
    params: tuple[Any, ...] = (),
) -> Tensor:
    """Run ``forward(xp, *arrays, *params)`` and record ``prim`` if any array requires grad.

    ``arrays`` are the differentiable positions (Tensors, arrays or scalars), aligned with
    ``prim.vjps``; ``params`` are everything else (axes, shapes, flags), passed to the forward
    and to every rule after the arrays.

    Examples
    --------
    >>> import chainrule as cr
    >>> prim = Primitive("twice", (lambda xp, g, out, x: 2 * g,), "2 g")
    >>> y = apply(prim, lambda xp, x: 2 * x, (cr.ones(2, requires_grad=True),))
    >>> y.grad_fn.name
    'twice'
    """
    if len(arrays) == 1:  # the common case, a few times cheaper than the general loop
        x = arrays[0]
        if isinstance(x, Tensor):
            xd = x._data
            data = forward(NP if xd.__class__ is _ndarray else namespace_of(xd), xd, *params)
            if x._rg and (not modes_switched or state.grad_enabled):
                return record(prim, data, (xd, *params), x)
            return _leaf(data)
    raws = []
    parents = []
    recording = False
    for a in arrays:
        if not isinstance(a, Tensor):
            if not (isinstance(a, (list, tuple)) and holds_tensor(a)):
                raws.append(raw(a))
                parents.append(None)
                continue
            a = stack_nested(a, prim.name)  # never detach: the list's tensors keep their grads
        raws.append(a._data)
        if a._rg:
            parents.append(a)
            recording = True
        else:
            parents.append(None)
    try:
        data = forward(xp_of(*raws), *raws, *params)
    except ValueError as exc:
        raise _operand_error(prim.name, raws, exc) from None
    if recording and (not modes_switched or state.grad_enabled):
        return record(prim, data, (*raws, *params), tuple(parents))
    return _leaf(data)


def define(name: str, vjps: tuple[Callable[..., Any] | None, ...], formula: str) -> Primitive:
    """Register and return a :class:`Primitive` for a hand-written public function.

    Examples
    --------
    >>> primitive_table["sum"].name
    'sum'
    """
    return _register(Primitive(name, vjps, formula))
