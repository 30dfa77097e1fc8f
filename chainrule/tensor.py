"""The Tensor: an array, its gradient, and (when it was computed) the node that made it.

Operators and math methods (``+``, ``@``, ``.sum()``, ``.exp()``...) are attached in
:mod:`chainrule.ops`, next to the primitives they call.
"""

from __future__ import annotations

import inspect
import operator
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autodiff
from . import random as _random
from .autodiff import modes_switched, next_seq, state
from .backend import get_default_dtype, namespace_of
from .devices import device as _device

__all__ = [
    "Tensor",
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "arange",
    "linspace",
    "eye",
    "rand",
    "randn",
    "from_numpy",
    "rand_like",
    "randn_like",
    "randint",
    "normal",
]

_ndarray = np.ndarray
_new = object.__new__
_ALLOWED_KINDS = "fiub"


_COPY_GRAD = (
    "{op}: copying a Tensor that requires grad into a new leaf would silently drop its "
    "gradient; use x.clone() to copy inside the graph, or x.detach().clone() for a constant copy"
)


class _Exports(threading.local):
    """How many times this thread turned a Tensor (one that requires grad) into a NumPy array
    (``Tensor.__array__``); see ``_as_array``."""

    def __init__(self) -> None:
        self.all = 0
        self.grad = 0


_exports = _Exports()


_CPU, _CUDA = _device("cpu"), _device("cuda")  # what Tensor.device gives


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Create tensors with :func:`tensor` (copies) or :func:`as_tensor` (shares memory when it can).
    A tensor with ``requires_grad=True`` records every operation on it; ``backward()`` on a result
    then fills the ``.grad`` of every leaf that requires grad.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = (
        "_data",  # the ndarray
        "_rg",  # requires grad
        "_grad",  # the accumulated gradient (a Tensor) of a leaf
        "_prim",  # the Primitive that made this tensor, None for a leaf
        "_args",  # the raw arguments of that primitive's forward (None once freed)
        "_parents",  # the argument tensors that need a gradient, None where one does not
        "_seq",  # creation order; parents are always older than their children
        "_gacc",  # gradient accumulated during a backward walk
        "_version",  # stamp of the last in-place modification (0: never)
        "__weakref__",
    )

    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # NumPy hands every ufunc with a Tensor operand here (ndarray + Tensor, np.exp(t)).
        # `__array_ufunc__ = None` would defer the binary operators too, but makes in-place
        # ndarray updates (`p.data -= lr * p.grad`) a TypeError, since NumPy never defers those.
        if method == "__call__" and not kwargs:
            func = _ufunc_ops.get(ufunc) or _ufunc_op(ufunc)
            return NotImplemented if func is None else func(*inputs)
        out = kwargs.pop("out", None)
        if out is None or kwargs or any(isinstance(o, Tensor) for o in out):
            return NotImplemented
        # Writing into a raw array records nothing: compute on the raw operands.
        raws = tuple(a._data if isinstance(a, Tensor) else a for a in inputs)
        return getattr(ufunc, method)(*raws, out=out)

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor) and data._rg and (not modes_switched or state.grad_enabled):
            raise TypeError(_COPY_GRAD.format(op="Tensor"))
        arr = _as_array(data, dtype, "Tensor")
        if requires_grad:
            _check_grad_dtype(arr.dtype, "Tensor")
        self._data = arr
        self._rg = bool(requires_grad)
        self._grad = None
        self._prim = None
        self._args = None
        self._parents = None
        self._seq = 0
        self._gacc = None
        self._version = 0

    # ------------------------------------------------------------------ array attributes
    @property
    def data(self) -> Any:
        """The underlying array. Assigning it (``p.data -= lr * g``) marks the tensor modified."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        arr = value._data if isinstance(value, Tensor) else value
        if type(arr) is not _ndarray and not hasattr(arr, "__cuda_array_interface__"):
            arr = np.asarray(arr)
        if self._rg:
            _check_grad_dtype(arr.dtype, "data assignment")
        self._data = arr
        self._version = next_seq()

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def size(self) -> int:
        """The number of elements; also callable as PyTorch's ``t.size()`` (the shape) and
        ``t.size(d)``.

        Examples
        --------
        >>> import chainrule as cr
        >>> t = cr.ones(2, 3)
        >>> t.size, t.size(), t.size(-1)
        (6, (2, 3), 3)
        """
        return _Size.of(self._data)

    @property
    def dtype(self) -> np.dtype:
        """The array's dtype."""
        return self._data.dtype

    @property
    def device(self) -> str:
        """``"cpu"`` for NumPy arrays, ``"cuda"`` for CuPy arrays: a :class:`chainrule.device`,
        a string with PyTorch's ``.type`` and ``.index`` (``x.device.type == "cuda"``)."""
        return _CPU if type(self._data) is _ndarray else _CUDA

    def numpy(self) -> np.ndarray:
        """The underlying NumPy array (shared, not copied).

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.tensor([1.0, 2.0]).numpy()
        array([1., 2.], dtype=float32)
        """
        data = self._data
        if type(data) is not _ndarray:
            return data.get()  # a CuPy array: copy to the host
        return data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.tensor([[2.5]]).item()
        2.5
        """
        if self._data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python number, "
                f"got shape {self.shape}"
            )
        return self._data.item()

    def tolist(self) -> Any:
        """The values as nested Python lists (a number for a 0-d tensor)."""
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        # NumPy calls this for each Tensor inside a list (np.asarray([x, y])); counting them
        # lets _as_array refuse to detach ones that require grad, at no cost otherwise.
        counts = _exports
        counts.all += 1
        if self._rg:
            counts.grad += 1
        arr = self.numpy()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        if copy:
            return arr.copy()
        return arr

    def __dlpack__(self, **kwargs: Any) -> Any:
        """The array's DLPack capsule (shared memory, no copy): ``np.from_dlpack(t)``,
        ``torch.from_dlpack(t)``; keyword arguments (``stream``, ``max_version``...) pass to the
        backend array. See :mod:`chainrule.dlpack`."""
        return self._data.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        """``(device_type, device_id)`` of the array, as DLPack numbers them (1: CPU, 2: CUDA)."""
        return self._data.__dlpack_device__()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Any:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    def __reduce__(self) -> tuple[Any, ...]:
        grad = None if self._grad is None else self._grad.numpy()
        return (_rebuild, (self.numpy(), self._rg and self._prim is None, grad))

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extras = []
        if self._data.dtype not in (get_default_dtype(), np.dtype(np.int64), np.dtype(bool)):
            extras.append(f"dtype={self._data.dtype}")
        if self._prim is not None:
            extras.append(f"grad_fn=<{self._prim.name}>")
        elif self._rg:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ------------------------------------------------------------------ autograd attributes
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor are recorded for differentiation."""
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._prim is not None:
            raise RuntimeError(
                f"requires_grad: can only be changed on leaf tensors; this tensor was computed "
                f"by {self._prim.name!r} (use .detach() to get a leaf)"
            )
        if value:
            _check_grad_dtype(self._data.dtype, "requires_grad")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return the tensor.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.zeros(2).requires_grad_().requires_grad
        True
        """
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors that were not computed by a recorded operation."""
        return self._prim is None

    @property
    def grad_fn(self) -> Any:
        """The :class:`~chainrule.autodiff.Primitive` that computed this tensor, or None."""
        return self._prim

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward()`` (leaves only); assignable, e.g. ``None``."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        g = value if isinstance(value, Tensor) else as_tensor(value)
        if g.shape != self.shape or g.dtype != self.dtype:
            raise ValueError(
                f"grad assignment: gradient has shape {g.shape} and dtype {g.dtype}, but the "
                f"tensor has shape {self.shape} and dtype {self.dtype}; they must match"
            )
        self._grad = g

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this tensor's array, outside any graph.

        Examples
        --------
        >>> import chainrule as cr
        >>> x = cr.ones(2, requires_grad=True)
        >>> (x * 2).detach().requires_grad
        False
        """
        return _leaf(self._data)

    def backward(
        self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into the ``.grad`` of every leaf that requires grad.

        Parameters
        ----------
        grad : array_like, optional
            dL/d(self), same shape as ``self``. Required unless ``self`` has one element.
        retain_graph : bool, optional
            Keep the saved values so backward can run through the graph again. Defaults to
            ``create_graph``.
        create_graph : bool
            Record the backward pass itself, so the gradients can be differentiated again.

        Examples
        --------
        >>> import chainrule as cr
        >>> x = cr.tensor(3.0, requires_grad=True)
        >>> (x ** 2).backward()
        >>> x.grad
        tensor(6.)
        """
        if not self._rg:
            raise RuntimeError(
                "backward: this tensor does not require grad and was not computed from one "
                "that does; set requires_grad=True on the inputs you want gradients for"
            )
        data = self._data
        if grad is None:
            if data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implied only for a one-element output, but this "
                    f"output has shape {data.shape}; pass grad= of that shape "
                    f"(e.g. y.sum().backward())"
                )
            if data.__class__ is _ndarray:
                # np.array(1) is one C call; np.ones_like passes through three Python-level
                # NumPy wrappers (about 1.3 us of a tiny training step's backward).
                seed = np.array(1, dtype=data.dtype)
                if data.ndim:
                    seed = seed.reshape(data.shape)
            else:
                seed = namespace_of(data).ones_like(data)
        else:
            seed = grad._data if isinstance(grad, Tensor) else _as_array(grad, None, "backward")
            if seed.shape != data.shape:
                raise ValueError(
                    f"backward: grad has shape {seed.shape}, but the output has shape "
                    f"{data.shape}; they must match"
                )
            if seed.dtype != data.dtype:
                seed = seed.astype(data.dtype)
        if create_graph:
            seed = grad if isinstance(grad, Tensor) else _leaf(seed)
        if retain_graph is None:
            retain_graph = create_graph
        autodiff.backward(self, seed, retain_graph=retain_graph, create_graph=create_graph)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(self)`` each time a backward walk has added to this leaf's ``.grad``.

        The hook runs inside the walk, as soon as this leaf's gradient is complete (the rest of
        the graph may still be walking), as PyTorch's method of the same name.
        ``DistributedDataParallel`` starts its allreduces from such hooks. Returns a handle
        whose ``remove()`` unregisters the hook.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> h = w.register_post_accumulate_grad_hook(lambda t: print(t.grad))
        >>> (w * w).sum().backward()
        tensor([2., 4.])
        >>> h.remove()
        """
        return autodiff.register_post_accumulate_grad_hook(self, hook)

    def register_hook(self, hook: Callable[[Tensor], Any]) -> Any:
        """Call ``hook(grad)`` with the gradient flowing into this tensor during backward; a
        returned Tensor replaces it (PyTorch's). Returns a handle with ``remove()``.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> h = w.register_hook(lambda g: g.clamp(max=1.0))
        >>> (w * 5).sum().backward(); w.grad.tolist()
        [1.0, 1.0]
        """
        return autodiff.register_hook(self, hook)

    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after ``backward()``.

        Examples
        --------
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
        >>> y = x * 2; y.retain_grad()
        >>> (y * y).sum().backward(); y.grad.tolist()
        [4.0, 8.0]
        """
        autodiff.retain_grad(self)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor."""
        entry = autodiff._tensor_hooks.get(id(self))
        return bool(self._prim is not None and entry and entry[0]() is self and entry[2])

    def _accumulate_grad(self, g: Any, create_graph: bool) -> None:
        if create_graph:
            self._grad = g if self._grad is None else self._grad + g
        elif self._grad is None:
            self._grad = _leaf(g)
        else:
            self._grad = _leaf(self._grad._data + g)

    # ------------------------------------------------------------------ in-place updates
    # `p -= lr * p.grad` under no_grad writes into p's array, as in PyTorch. Every in-place
    # update stamps `_version`, so a graph recorded before it refuses to backward through the
    # old values (see autodiff's docstring). A leaf that requires grad may only be updated
    # under no_grad; a recorded tensor (or one updated with a recorded operand) takes the
    # recorded result as its new node instead of being overwritten (see `_become`).
    def _inplace(self, name: str, other: Any, recorded: Any, update: Any) -> Tensor:
        if state.grad_enabled:
            if self._rg and self._prim is None:
                raise RuntimeError(
                    f"{name}: a leaf tensor that requires grad (shape {self.shape}, dtype "
                    f"{self.dtype}) cannot be modified in place while gradients are recorded; "
                    "update parameters inside `with cr.no_grad():`, or use an out-of-place "
                    "operation (x = x + y)"
                )
            if (
                self._rg
                or _recorded(other)
                or (isinstance(other, (list, tuple)) and _holds_tensor(other))
            ):
                return self._become(name, recorded)
        data = self._data
        od = other._data if isinstance(other, Tensor) else other
        if isinstance(od, (list, tuple)):
            # A list is weak, like a Python scalar: a float64 tensor keeps 0.3 exact.
            od = _as_array(od, data.dtype if data.dtype.kind == "f" else None, name)
        try:
            update(np if data.__class__ is _ndarray else namespace_of(data), data, od)
        except (TypeError, ValueError) as exc:
            shape = tuple(getattr(od, "shape", ()))
            kind = getattr(od, "dtype", type(od).__name__)
            raise (TypeError if isinstance(exc, TypeError) else ValueError)(
                f"{name}: cannot update a tensor of shape {self.shape} and dtype {self.dtype} "
                f"in place with an operand of shape {shape} and dtype {kind} (the result must "
                f"keep the tensor's shape and dtype): {exc}"
            ) from None
        self._version = next_seq()
        return self

    def _become(self, name: str, recorded: Any) -> Tensor:
        """Make this tensor the output of ``recorded(old)``, where ``old`` stands for its
        previous value and node. Its old array is not overwritten (graphs saved it), and its
        version stamp is older than the new node but newer than every node recorded before, so
        those refuse to backward through the tensor they knew."""
        old = _new(Tensor)
        for slot in _SLOTS:
            setattr(old, slot, getattr(self, slot))
        stamp = next_seq()
        out = recorded(old)
        if out.shape != old.shape or not np.can_cast(out.dtype, old.dtype, "same_kind"):
            raise (ValueError if out.shape != old.shape else TypeError)(
                f"{name}: the result has shape {out.shape} and dtype {out.dtype}, but "
                f"the tensor has shape {old.shape} and dtype {old.dtype}; an in-place update "
                "must keep both"
            )
        if out.dtype != old.dtype:
            out = out.astype(old.dtype)  # float32 += float64 stays float32, as in PyTorch
        for slot in _SLOTS:
            setattr(self, slot, getattr(out, slot))
        self._version = stamp
        return self

    def _add(self, name: str, other: Any) -> Tensor:
        return self._inplace(
            name, other, lambda old: old + other, lambda xp, a, b: xp.add(a, b, out=a)
        )

    def _sub(self, name: str, other: Any) -> Tensor:
        return self._inplace(
            name, other, lambda old: old - other, lambda xp, a, b: xp.subtract(a, b, out=a)
        )

    def _mul(self, name: str, other: Any) -> Tensor:
        return self._inplace(
            name, other, lambda old: old * other, lambda xp, a, b: xp.multiply(a, b, out=a)
        )

    def _div(self, name: str, other: Any) -> Tensor:
        return self._inplace(
            name, other, lambda old: old / other, lambda xp, a, b: xp.divide(a, b, out=a)
        )

    def __iadd__(self, other: Any) -> Tensor:
        return self._add("+=", other)

    def __isub__(self, other: Any) -> Tensor:
        return self._sub("-=", other)

    def __imul__(self, other: Any) -> Tensor:
        return self._mul("*=", other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._div("/=", other)

    def __ipow__(self, other: Any) -> Tensor:
        return self._inplace(
            "**=", other, lambda old: old**other, lambda xp, a, b: xp.power(a, b, out=a)
        )

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self._inplace(
            "//=", other, lambda old: old // other, lambda xp, a, b: xp.floor_divide(a, b, out=a)
        )

    def __imod__(self, other: Any) -> Tensor:
        return self._inplace(
            "%=", other, lambda old: old % other, lambda xp, a, b: xp.remainder(a, b, out=a)
        )

    def __iand__(self, other: Any) -> Tensor:
        return self._inplace(
            "&=", other, lambda old: old & other, lambda xp, a, b: xp.bitwise_and(a, b, out=a)
        )

    def __ior__(self, other: Any) -> Tensor:
        return self._inplace(
            "|=", other, lambda old: old | other, lambda xp, a, b: xp.bitwise_or(a, b, out=a)
        )

    def __ixor__(self, other: Any) -> Tensor:
        return self._inplace(
            "^=", other, lambda old: old ^ other, lambda xp, a, b: xp.bitwise_xor(a, b, out=a)
        )

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place (PyTorch's ``add_``); returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.ones(2).add_(cr.ones(2), alpha=3).tolist()
        [4.0, 4.0]
        """
        return self._add("add_", other if alpha == 1 else other * alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.ones(2).sub_(0.5).tolist()
        [0.5, 0.5]
        """
        return self._sub("sub_", other if alpha == 1 else other * alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place; returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.ones(2).mul_(3).tolist()
        [3.0, 3.0]
        """
        return self._mul("mul_", other)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place; returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.ones(2).div_(4).tolist()
        [0.25, 0.25]
        """
        return self._div("div_", other)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
        """Limit the values to ``[min, max]`` in place (PyTorch's ``clamp_``); returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.tensor([-1.0, 0.5, 2.0]).clamp_(0, 1).tolist()
        [0.0, 0.5, 1.0]
        """
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")
        lo = min._data if isinstance(min, Tensor) else min
        hi = max._data if isinstance(max, Tensor) else max
        return self._inplace(
            "clamp_", None, lambda old: old.clip(min, max),
            lambda xp, a, b: xp.clip(a, lo, hi, out=a),
        )  # fmt: skip

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` in place; returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.zeros(2).fill_(7).tolist()
        [7.0, 7.0]
        """
        if isinstance(value, Tensor):
            if value._data.size != 1:
                raise ValueError(
                    f"fill_: the value must be a number or a one-element tensor, got shape "
                    f"{value.shape}"
                )

        def recorded(old: Tensor) -> Tensor:  # old's values are gone: no gradient to them
            return full(old.shape, value, dtype=old.dtype)

        def update(xp: Any, a: Any, b: Any) -> None:
            a[...] = value._data.reshape(()) if isinstance(value, Tensor) else value

        return self._inplace("fill_", value, recorded, update)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast to this shape, cast to this dtype) in place; returns
        ``self``. Recorded when ``src`` or ``self`` is: the gradient reaches ``src``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.zeros(2, 2).copy_(cr.tensor([1.0, 2.0])).tolist()
        [[1.0, 2.0], [1.0, 2.0]]
        """

        def recorded(old: Tensor) -> Tensor:  # old's values are gone: no gradient to them
            return _ops.astype(_ops.broadcast_to(src, old.shape), old.dtype)

        def update(xp: Any, a: Any, b: Any) -> None:
            a[...] = b

        return self._inplace("copy_", src, recorded, update)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Set the elements where the boolean ``mask`` is true to ``value``, in place
        (PyTorch's ``masked_fill_``); returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> x = cr.tensor([1.0, -2.0, 3.0])
        >>> x.masked_fill_(x < 0, 0.0).tolist()
        [1.0, 0.0, 3.0]
        """

        def update(xp: Any, a: Any, b: Any) -> None:
            a[...] = _ops.masked_fill(a, mask, b)._data

        return self._inplace(
            "masked_fill_", value, lambda old: _ops.masked_fill(old, mask, value), update
        )

    def _draw_(self, name: str, draw: Any) -> Tensor:
        if self._data.dtype.kind != "f":
            raise TypeError(f"{name}: expects a floating tensor, got dtype {self.dtype}")

        def sample() -> Any:
            return namespace_of(self._data).asarray(draw(self.shape).astype(self.dtype))

        def update(xp: Any, a: Any, b: Any) -> None:
            a[...] = sample()

        return self._inplace(name, None, lambda old: _leaf(sample()), update)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill in place with samples of a normal distribution (PyTorch's ``normal_``), drawn
        from ``generator`` or chainrule's global one (:func:`manual_seed`); returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.zeros(1000).normal_(5.0, 0.1, generator=0).mean().item() // 1
        4.0
        """
        gen = _random.resolve(generator)
        return self._draw_("normal_", lambda shape: gen.normal(mean, std, shape))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill in place with samples uniform on ``[a, b)`` (PyTorch's ``uniform_``); returns
        ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> x = cr.zeros(100).uniform_(-1, 1)
        >>> bool((x >= -1).all() and (x < 1).all())
        True
        """
        gen = _random.resolve(generator)
        return self._draw_("uniform_", lambda shape: gen.uniform(a, b, shape))

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value``, with NumPy's indexing, following the in-place rules above.

        Under ``no_grad`` (or on a tensor outside any graph) the values are written into the
        array. On a recorded tensor, or with a ``value`` that requires grad, the assignment is
        recorded: the gradient reaches ``value`` from the positions written, and the old
        values from the others. A leaf that requires grad refuses it outside ``no_grad``.

        Examples
        --------
        >>> import chainrule as cr
        >>> pe = cr.zeros(2, 4)
        >>> pe[:, 0::2] = cr.ones(2, 2); pe.tolist()
        [[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0]]
        """
        raw = _ops.shape._raw_index(index)

        def recorded(old: Tensor) -> Tensor:
            xp = namespace_of(old._data)
            written = xp.zeros(old.shape, dtype=np.int64)
            xp.add.at(written, raw, 1)
            if written.max(initial=0) > 1:
                raise IndexError(
                    f"setitem: the index names an element of the tensor (shape {old.shape}) "
                    "more than once; which value is kept is not defined, so a recorded "
                    "assignment refuses it"
                )
            part = _ops.astype(_ops.broadcast_to(value, old._data[raw].shape), old.dtype)
            return _ops.where(written == 0, old, _ops.scatter_add(part, raw, old.shape))

        def update(xp: Any, a: Any, b: Any) -> None:
            a[raw] = b

        self._inplace("setitem", value, recorded, update)

    def zero_(self) -> Tensor:
        """Set every element to zero in place; returns ``self``.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.ones(2).zero_().tolist()
        [0.0, 0.0]
        """
        return self.fill_(0)


_SLOTS = tuple(s for s in Tensor.__slots__ if s != "__weakref__")


def _holds_tensor(value: Any) -> bool:
    from .ops.define import holds_tensor  # ops is built on top of this module

    return holds_tensor(value)


# NumPy ufunc -> the chainrule function of the same name (np.add -> chainrule.ops.add).
_ufunc_ops: dict[Any, Any] = {}


def _ufunc_op(ufunc: Any) -> Any:
    from . import ops  # imported late: ops is built on top of this module

    func = getattr(ops, ufunc.__name__, None)
    if func is not None:
        _ufunc_ops[ufunc] = func
    return func


# ---------------------------------------------------------------------- making tensors
def _rebuild(data: np.ndarray, requires_grad: bool, grad: np.ndarray | None) -> Tensor:
    t = _leaf(data)
    t._rg = requires_grad
    if grad is not None:
        t._grad = _leaf(grad)
    return t


def _leaf(data: Any) -> Tensor:
    """Wrap a raw array (no copy) as a leaf that does not require grad."""
    if data.__class__ is not _ndarray and isinstance(data, np.generic):
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._rg = False
    t._grad = None
    t._prim = None
    t._args = None
    t._parents = None
    t._seq = 0
    t._gacc = None
    t._version = 0
    return t


def record(prim: autodiff.Primitive, data: Any, args: tuple[Any, ...], parents: tuple) -> Tensor:
    """Wrap ``data`` as the output of ``prim`` applied to ``args``, recording the node.

    ``parents[i]`` is the Tensor passed as argument ``i`` if it requires grad, else None; a lone
    parent at argument 0 may be passed as the Tensor itself (see ``autodiff.parents_of``).
    """
    if data.__class__ is not _ndarray and isinstance(data, np.generic):
        data = np.asarray(data)
    t = _new(Tensor)
    t._data = data
    t._rg = True
    t._grad = None
    t._prim = prim
    t._args = args
    t._parents = parents
    t._seq = next_seq()
    t._gacc = None
    t._version = 0
    if modes_switched and state.anomaly:
        autodiff.check_finite(data, prim.name, "forward")
    return t


def _check_grad_dtype(dtype: np.dtype, op: str) -> None:
    if dtype.kind != "f":
        raise TypeError(
            f"{op}: only floating-point tensors can require gradients, got dtype {dtype} "
            f"(convert with .astype(np.float32) or .astype(np.float64) first)"
        )


def _resolve_dtype(dtype: Any, op: str) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{op}: unknown dtype {dtype!r}") from exc
    if dt.kind not in _ALLOWED_KINDS:
        raise TypeError(f"{op}: unsupported dtype {dt}; expected a floating, integer or bool dtype")
    return dt


def _as_array(data: Any, dtype: Any, op: str, copy: bool = False) -> Any:
    """Convert ``data`` to an array following chainrule's dtype rules (see :func:`tensor`)."""
    dt = _resolve_dtype(dtype, op)
    if isinstance(data, Tensor):
        arr = data._data
    elif type(data) is _ndarray or hasattr(data, "__cuda_array_interface__"):
        arr = data
    elif isinstance(data, np.generic):
        arr = np.asarray(data)
    else:
        counts = _exports
        exports, grad_exports = counts.all, counts.grad
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:
            kind = type(data).__name__
            raise TypeError(f"{op}: cannot make a tensor from {kind}: {exc}") from exc
        if grad_exports != counts.grad and (not modes_switched or state.grad_enabled):
            raise TypeError(
                f"{op}: the {type(data).__name__} holds a Tensor that requires grad; making an "
                f"array of it would silently drop its gradient. Join tensors with cr.stack(...) "
                f"(differentiable), or .detach() them to use their values as constants"
            )
        if (
            dt is None
            and arr.dtype == np.float64
            and isinstance(data, (float, list, tuple))
            and exports == counts.all  # float64 Tensors in a list stay float64
        ):
            dt = get_default_dtype()  # Python floats become the default float dtype
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise TypeError(
            f"{op}: unsupported dtype {arr.dtype}; expected a floating, integer or bool dtype"
        )
    if dt is not None and arr.dtype != dt:
        return arr.astype(dt)
    if copy:
        return arr.copy()
    return arr


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a new leaf tensor holding a copy of ``data``.

    Arrays keep their dtype; Python floats and lists of floats become the default float dtype
    (float32, see :func:`~chainrule.set_default_dtype`), Python ints int64, bools bool.

    Parameters
    ----------
    data : array_like or Tensor
    dtype : dtype, optional
    requires_grad : bool
        Record operations on this tensor; only floating-point tensors may.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0], requires_grad=True)
    tensor([1., 2.], requires_grad=True)
    >>> cr.tensor([1, 2]).dtype
    dtype('int64')
    """
    if isinstance(data, Tensor) and data._rg and (not modes_switched or state.grad_enabled):
        raise TypeError(_COPY_GRAD.format(op="tensor"))
    arr = _as_array(data, dtype, "tensor", copy=True)
    if requires_grad:
        _check_grad_dtype(arr.dtype, "tensor")
    t = _leaf(arr)
    t._rg = bool(requires_grad)
    return t


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """Return ``data`` as a tensor, sharing its memory when no conversion is needed.

    A Tensor of the requested dtype is returned as it is.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> a = np.zeros(3)
    >>> cr.as_tensor(a).numpy() is a
    True
    """
    if isinstance(data, Tensor):
        if dtype is None or data.dtype == np.dtype(dtype):
            return data
        return data.astype(dtype)  # a recorded cast: the result stays in data's graph
    if type(data).__module__.partition(".")[0] in ("torch", "jax", "jaxlib"):
        from .dlpack import from_dlpack  # PyTorch/JAX arrays: their buffer, shared via DLPack

        data = from_dlpack(data)._data
    return _leaf(_as_array(data, dtype, "as_tensor"))


def _shape_arg(shape: tuple[Any, ...], op: str) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], Sequence):
        shape = tuple(shape[0])
    try:
        return tuple(int(n) for n in shape)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{op}: shape must be integers, got {shape!r}") from exc


def _new_leaf(arr: Any, requires_grad: bool, op: str) -> Tensor:
    if requires_grad:
        _check_grad_dtype(arr.dtype, op)
    t = _leaf(arr)
    t._rg = bool(requires_grad)
    return t


def _float_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _resolve_dtype(dtype, op)
    return get_default_dtype() if dt is None else dt


def _random_dtype(dtype: Any, op: str) -> np.dtype:
    dt = _float_dtype(dtype, op)
    if dt.kind != "f":  # casting samples in [0, 1) or N(0, 1) to ints would give mostly zeros
        raise TypeError(f"{op}: random samples need a floating dtype, got {dt}")
    return dt


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (default float dtype).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.zeros(2, 3).shape
    (2, 3)
    """
    arr = np.zeros(_shape_arg(shape, "zeros"), _float_dtype(dtype, "zeros"))
    return _new_leaf(arr, requires_grad, "zeros")


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones (default float dtype).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones((2,)).tolist()
    [1.0, 1.0]
    """
    arr = np.ones(_shape_arg(shape, "ones"), _float_dtype(dtype, "ones"))
    return _new_leaf(arr, requires_grad, "ones")


def empty(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (default float dtype).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.empty(4).shape
    (4,)
    """
    arr = np.empty(_shape_arg(shape, "empty"), _float_dtype(dtype, "empty"))
    return _new_leaf(arr, requires_grad, "empty")


def full(shape: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (float fill: default float dtype; int fill: int64).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.full((2,), 7.0).tolist()
    [7.0, 7.0]
    """
    dt = _resolve_dtype(dtype, "full")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if isinstance(fill_value, Tensor):
        # Differentiable in the fill value: every element is it, so its gradient is sum(g).
        fill = _scalar_tensor(fill_value, "full")
        if dt is not None and dt != fill.dtype:
            fill = fill.astype(dt)
        out = fill * np.ones(shape, fill.dtype)  # recorded when the fill requires grad
        return out if out._rg else _new_leaf(out._data, requires_grad, "full")
    if dt is None:
        dt = _as_array(fill_value, None, "full").dtype
    return _new_leaf(np.full(shape, fill_value, dt), requires_grad, "full")


def _like(x: Any, dtype: Any, op: str) -> tuple[tuple[int, ...], np.dtype]:
    arr = x._data if isinstance(x, Tensor) else np.asarray(x)
    dt = _resolve_dtype(dtype, op)
    return arr.shape, (arr.dtype if dt is None else dt)


def zeros_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape and dtype of ``x``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.zeros_like(cr.ones(2)).tolist()
    [0.0, 0.0]
    """
    shape, dt = _like(x, dtype, "zeros_like")
    return _new_leaf(np.zeros(shape, dt), requires_grad, "zeros_like")


def ones_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with the shape and dtype of ``x``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones_like(cr.zeros(2)).tolist()
    [1.0, 1.0]
    """
    shape, dt = _like(x, dtype, "ones_like")
    return _new_leaf(np.ones(shape, dt), requires_grad, "ones_like")


def full_like(x: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """``fill_value`` with the shape and dtype of ``x``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.full_like(cr.zeros(2), 3).tolist()
    [3.0, 3.0]
    """
    shape, dt = _like(x, dtype, "full_like")
    if isinstance(fill_value, Tensor):  # differentiable in the fill value, as full()
        return full(shape, fill_value, dtype=dt, requires_grad=requires_grad)
    return _new_leaf(np.full(shape, fill_value, dt), requires_grad, "full_like")


def arange(
    start: Any, stop: Any = None, step: Any = 1, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """Evenly spaced values in ``[start, stop)``; int64 for int arguments, else default float.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.arange(3).tolist()
    [0, 1, 2]
    >>> cr.arange(0, 1, 0.5).dtype
    dtype('float32')
    """
    if any(_recorded(v) for v in (start, stop, step)):
        raise TypeError(
            "arange: start, stop and step must not be Tensors that require grad: how many "
            "values there are jumps with them, so arange has no gradient; pass "
            ".detach() or .item() values, or build the values from a differentiable tensor "
            "(start + step * cr.arange(n))"
        )
    if stop is None:
        start, stop = 0, start
    dt = _resolve_dtype(dtype, "arange")
    if dt is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dt = np.dtype(np.int64) if ints else get_default_dtype()
    return _new_leaf(np.arange(start, stop, step, dtype=dt), requires_grad, "arange")


def linspace(
    start: float, stop: float, num: int = 50, dtype: Any = None, requires_grad: bool = False
) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive (default float dtype).

    ``start`` and ``stop`` may be one-element Tensors that require grad: the values are linear
    in them, ``start + (stop - start) * w`` with ``w = [0, 1/(num-1), ..., 1]``, and the result
    is recorded (the gradient is ``sum(g * (1 - w))`` for ``start``, ``sum(g * w)`` for
    ``stop``); its dtype is then the ends' unless ``dtype`` is given.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.linspace(0, 1, 3).tolist()
    [0.0, 0.5, 1.0]
    >>> a = cr.tensor(1.0, requires_grad=True)
    >>> cr.linspace(a, 3.0, 3).sum().backward(); a.grad
    tensor(1.5)
    """
    if isinstance(start, Tensor) or isinstance(stop, Tensor):
        lo = _scalar_tensor(start, "linspace")
        hi = _scalar_tensor(stop, "linspace")
        if dtype is not None:
            dt = _float_dtype(dtype, "linspace")
        else:  # a number beside a Tensor end is weak, like a Python scalar
            ends = [e.dtype for e in (start, stop) if isinstance(e, Tensor)]
            dt = np.result_type(*ends)
            if dt.kind != "f":
                dt = get_default_dtype()
        w = np.linspace(0.0, 1.0, num, dtype=dt)
        lo, hi = lo.astype(dt), hi.astype(dt)
        return lo + (hi - lo) * w  # recorded when an end requires grad
    arr = np.linspace(start, stop, num, dtype=_float_dtype(dtype, "linspace"))
    return _new_leaf(arr, requires_grad, "linspace")


def _recorded(value: Any) -> bool:
    """Whether ``value`` is a Tensor whose operations are being recorded."""
    return isinstance(value, Tensor) and value._rg and (not modes_switched or state.grad_enabled)


def _scalar_tensor(value: Any, op: str) -> Tensor:
    """``value`` (a one-element Tensor, or a number) as a 0-d Tensor, still in its graph."""
    if not isinstance(value, Tensor):
        return _leaf(_as_array(value, None, op).reshape(()))
    if value._data.size != 1:
        raise ValueError(
            f"{op}: expected a number or a one-element tensor, got a tensor of shape "
            f"{value.shape} (dtype {value.dtype})"
        )
    return value if value._data.ndim == 0 else value.reshape(())


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix, ``n`` by ``m`` (default float dtype).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.eye(2).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    arr = np.eye(n, m, dtype=_float_dtype(dtype, "eye"))
    return _new_leaf(arr, requires_grad, "eye")


def rand(
    *shape: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Uniform samples in [0, 1), from ``generator`` or chainrule's seeded global generator.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.random.seed(0); a = cr.rand(2)
    >>> bool((a.numpy() >= 0).all() and (a.numpy() < 1).all())
    True
    """
    dt = _random_dtype(dtype, "rand")
    gen = _random.resolve(generator)
    arr = gen.random(_shape_arg(shape, "rand"), dtype=np.float64).astype(dt, copy=False)
    return _new_leaf(arr, requires_grad, "rand")


def randn(
    *shape: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Standard normal samples, from ``generator`` or chainrule's seeded global generator.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.randn(2, 3, generator=0).shape
    (2, 3)
    """
    dt = _random_dtype(dtype, "randn")
    gen = _random.resolve(generator)
    arr = gen.standard_normal(_shape_arg(shape, "randn")).astype(dt, copy=False)
    return _new_leaf(arr, requires_grad, "randn")


# ------------------------------------------------------------------ PyTorch spellings
# Where NumPy and PyTorch disagree about a Tensor method, one rule decides (the table is in
# docs/numpy_vs_pytorch.md): called with `dim=`, or with a positional int where PyTorch takes a
# dim, the method follows PyTorch (`x.max(1)` is `(values, indices)`, `x.var(0)` is unbiased);
# called with `axis=` (or nothing) it follows NumPy. Module-level functions follow NumPy
# except when given `dim=`.

#: chainrule.ops, set by :func:`bind_methods` (ops is built on top of this module).
_ops: Any = None


class _Size(int):
    """``t.size``: the number of elements as an int (NumPy's ``size``) that can also be called
    as PyTorch's ``t.size()`` (the shape) or ``t.size(d)`` (the length of dimension ``d``)."""

    shape: tuple[int, ...]

    @staticmethod
    def of(data: Any) -> _Size:
        s = _Size(data.size)
        s.shape = data.shape
        return s

    def __call__(self, dim: int | None = None) -> Any:
        shape = self.shape
        if dim is None:
            return shape
        try:
            return shape[operator.index(dim)]
        except (IndexError, TypeError):
            raise IndexError(
                f"size: dimension {dim!r} is out of range for a tensor of shape {shape}"
            ) from None


def _torch_names(kwargs: dict[str, Any], op: str) -> dict[str, Any]:
    """``kwargs`` with PyTorch's ``dim``/``keepdim`` renamed to NumPy's ``axis``/``keepdims``."""
    for torch_name, np_name in (("dim", "axis"), ("keepdim", "keepdims")):
        if torch_name in kwargs:
            if np_name in kwargs:
                raise TypeError(f"{op}: got both {torch_name}= and {np_name}=; pass one of them")
            kwargs[np_name] = kwargs.pop(torch_name)
    return kwargs


def with_dim(func: Any) -> Any:
    """``func`` (a function taking ``axis``/``keepdims``) taking PyTorch's ``dim``/``keepdim``
    as well; over ``dim`` 0 or -1 of a 0-d tensor a reduction returns what PyTorch does.

    Functions that already take ``dim``, or take no axis, are returned as they are.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).sum(dim=1, keepdim=True).shape
    (2, 1)
    >>> cr.tensor(4.0).sum(0).item()
    4.0
    """
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return func
    if "dim" in params or not ("axis" in params or "keepdims" in params):
        return func
    name = func.__name__
    zero_d = func.__module__.endswith(".reduce") or name == "squeeze"
    axis_at = params.index("axis") - 1 if "axis" in params else -1

    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            kwargs = _torch_names(kwargs, name)
        elif not args:
            return func(x)  # x.sum(): nothing to translate
        if zero_d and getattr(x, "ndim", None) == 0:
            return _zero_d(func, x, axis_at, args, kwargs)
        return func(x, *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = name
    wrapper.__doc__ = func.__doc__
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


def _zero_d(func: Any, x: Any, axis_at: int, args: tuple, kwargs: dict[str, Any]) -> Any:
    """A reduction of a 0-d tensor over dim 0 or -1, as PyTorch: over its one value."""
    axis = args[axis_at] if 0 <= axis_at < len(args) else kwargs.get("axis")
    if axis.__class__ is not int or axis not in (0, -1):
        return func(x, *args, **kwargs)  # no axis, or one the function will judge
    if "axis" in kwargs:
        kwargs = {**kwargs, "axis": 0}
    else:
        args = args[:axis_at] + (0,) + args[axis_at + 1 :]
    out = func(_ops.reshape(x, (1,)), *args, **kwargs)
    if isinstance(out, tuple):
        return type(out)(*(_ops.reshape(o, ()) for o in out))
    return _ops.reshape(out, ())


def _is_dim(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _extreme(name: str, method: bool) -> Any:
    """``max``/``min``: PyTorch's ``(values, indices)`` when given ``dim=`` (or, for the
    method, a positional int), PyTorch's elementwise form when given a tensor, else NumPy's."""
    reduce_func = getattr(_ops.reduce, name)
    pair = _ops.maximum if name == "max" else _ops.minimum

    def extreme(x: Any, *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], Tensor):
            return pair(x, args[0], *args[1:], **kwargs)  # torch.max(a, b)
        if "dim" in kwargs or (method and args and _is_dim(args[0])):
            if "dim" in kwargs:
                dim, rest = kwargs.pop("dim"), args
            else:
                dim, rest = args[0], args[1:]  # x.max(1) or x.max(1, True)
            keepdim = kwargs.pop("keepdim", kwargs.pop("keepdims", rest[0] if rest else False))
            if kwargs or len(rest) > 1:
                raise TypeError(f"{name}: unexpected arguments {kwargs or rest[1:]} with dim")
            return _values_indices(x, dim, bool(keepdim), name)
        if kwargs:
            kwargs = _torch_names(kwargs, name)
        return reduce_func(x, *args, **kwargs)

    extreme.__name__ = extreme.__qualname__ = name
    extreme.__doc__ = reduce_func.__doc__
    return extreme


def _values_indices(x: Any, dim: Any, keepdim: bool, name: str) -> Any:
    """PyTorch's ``max(dim)``/``min(dim)``: the extreme values, differentiable (the gradient
    goes to the chosen element, as in PyTorch), and their int64 indices (first on ties)."""
    ops = _ops
    x = x if isinstance(x, Tensor) else as_tensor(x)
    if x._data.ndim == 0:
        if not _is_dim(dim) or dim not in (0, -1):
            raise IndexError(f"{name}: dim {dim!r} is out of range for a 0-d tensor")
        x1 = ops.reshape(x, (1,))
        v, i = _values_indices(x1, 0, False, name)
        return ops.ValuesIndices(v, i)
    idx = (ops.argmax if name == "max" else ops.argmin)(x, axis=dim, keepdims=True)
    values = ops.take_along_axis(x, idx, axis=dim)
    if not keepdim:
        values, idx = ops.squeeze(values, dim), ops.squeeze(idx, dim)
    return ops.ValuesIndices(values, idx)


def _spread(name: str, method: bool) -> Any:
    """``var``/``std``: PyTorch's unbiased default (``correction=1``) when given ``dim=`` (or,
    for the method, a positional int) and no ``ddof``/``correction``/``unbiased``; NumPy's
    ``ddof=0`` default otherwise."""
    reduce_func = getattr(_ops.reduce, name)

    def spread(x: Any, *args: Any, **kwargs: Any) -> Any:
        torch_style = "dim" in kwargs or (method and args and _is_dim(args[0]))
        if kwargs:
            kwargs = _torch_names(kwargs, name)
        if torch_style:
            if len(args) > 1:
                raise TypeError(
                    f"{name}: with a dim, pass the other arguments by keyword "
                    "(correction=, unbiased=, keepdim=)"
                )
            if not {"ddof", "correction", "unbiased"} & kwargs.keys():
                kwargs["correction"] = 1
        return reduce_func(x, *args, **kwargs)

    spread.__name__ = spread.__qualname__ = name
    spread.__doc__ = reduce_func.__doc__
    return spread


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    # PyTorch's x.transpose(d0, d1) swaps two dims; NumPy's reads the ints as a permutation.
    # They agree on x.transpose(1, 0) of a matrix; two valid dims follow PyTorch.
    nd = self._data.ndim
    if len(axes) == 2 and all(_is_dim(a) and -nd <= a < nd for a in axes):
        return _ops.swapaxes(self, axes[0], axes[1])
    return _numpy_transpose(self, *axes)


_numpy_transpose: Any = None


def _view(self: Tensor, *shape: Any) -> Tensor:
    """The tensor with a new shape, PyTorch's ``view`` (here :func:`reshape`: a copy when the
    array cannot be viewed).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).view(-1).shape
    (6,)
    """
    return _ops.reshape(self, *shape)


def _unsqueeze(self: Tensor, dim: int) -> Tensor:
    """A new axis of length 1 at ``dim``, PyTorch's ``unsqueeze`` (NumPy's ``expand_dims``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(3).unsqueeze(-1).shape
    (3, 1)
    """
    return _ops.expand_dims(self, dim)


def _flatten(self: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """The dims ``start_dim..end_dim`` (inclusive) merged into one, as ``torch.flatten``; all of
    them by default (a 1-d result; a 0-d tensor becomes shape ``(1,)``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3, 4).flatten(1).shape
    (2, 12)
    """
    shape = self._data.shape
    nd = max(len(shape), 1)
    lo, hi = start_dim, end_dim
    if not (_is_dim(lo) and _is_dim(hi) and -nd <= lo < nd and -nd <= hi < nd):
        raise IndexError(
            f"flatten: start_dim {start_dim!r} and end_dim {end_dim!r} must be dims of a "
            f"tensor of shape {shape}"
        )
    lo, hi = lo % nd, hi % nd
    if lo > hi:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    if not shape:
        return _ops.reshape(self, (1,))
    return _ops.reshape(self, shape[:lo] + (-1,) + shape[hi + 1 :] if shape else (1,))


def _ravel(self: Tensor) -> Tensor:
    """The elements as a 1-d tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).ravel().shape
    (6,)
    """
    return _ops.reshape(self, (-1,))


def _expand(self: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to ``sizes`` (PyTorch's ``expand``; -1 keeps a dimension's length).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(3, 1).expand(-1, 4).shape
    (3, 4)
    """
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    shape = self._data.shape
    lead = len(sizes) - len(shape)
    if lead < 0:
        raise ValueError(
            f"expand: {len(sizes)} sizes {sizes} for a tensor of shape {shape}; give at least "
            f"{len(shape)}"
        )
    target = tuple(shape[i - lead] if (n == -1 and i >= lead) else n for i, n in enumerate(sizes))
    return _ops.broadcast_to(self, target)


def _mT(self: Tensor) -> Tensor:  # noqa: N802 - PyTorch's name
    if self._data.ndim < 2:
        raise ValueError(f"mT: needs a tensor of at least 2 dims, got shape {self.shape}")
    return _ops.swapaxes(self, -2, -1)


def _clone(self: Tensor) -> Tensor:
    """A copy of the tensor's values that stays in the graph (the gradient passes through).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.ones(2, requires_grad=True)
    >>> y = x.clone(); y.requires_grad, y.data is x.data
    (True, False)
    """
    return _ops.clone(self)


def _numel(self: Tensor) -> int:
    """The number of elements (PyTorch's ``numel()``; ``t.size`` as NumPy spells it).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).numel()
    6
    """
    return int(self._data.size)


def _dim(self: Tensor) -> int:
    """The number of dimensions (PyTorch's ``dim()``; ``t.ndim``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).dim()
    2
    """
    return self._data.ndim


def _to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """A tensor on another device and/or of another dtype, as PyTorch's ``to``:
    ``t.to("cpu")``, ``t.to(cr.float64)``, ``t.to("cuda", cr.float32)``, ``t.to(other)``
    (``other``'s device and dtype), ``t.to(device=..., dtype=...)``. Returns ``t`` itself when
    nothing changes. A dtype change is recorded (differentiable between floating dtypes); a
    device change is not, so it is refused for a tensor whose operations are recorded.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2).to(cr.float64).dtype
    dtype('float64')
    >>> t = cr.ones(2); t.to("cpu") is t
    True
    """
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.pop("copy", None), kwargs.pop("non_blocking", None)
    if kwargs:
        raise TypeError(f"to: unexpected keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, str):
            device = a
        else:
            dtype = a
    out = self
    if dtype is not None:
        dt = _resolve_dtype(dtype, "to")
        if dt != self._data.dtype:
            out = _ops.astype(self, dt)
    if device is not None:
        from .backend import on_device, parse_device

        kind, _ = parse_device(device, "to")
        if kind != out.device or kind == "cuda":
            if kind == out.device == "cuda" and parse_device(device, "to")[1] == int(
                out._data.device.id
            ):
                return out
            if out._rg and (not modes_switched or state.grad_enabled):
                raise RuntimeError(
                    f"to: moving a tensor that requires grad from {out.device} to {device} is "
                    "not recorded; move the inputs and the model before computing, or "
                    ".detach() the tensor"
                )
            if kind == "cpu":
                return _leaf(out.numpy())
            context, move = on_device(device, "to")
            with context:
                return _leaf(move(out._data))
    return out


def _cpu(self: Tensor) -> Tensor:
    """The tensor on the host (itself when it already is), as PyTorch's ``cpu()``.

    Examples
    --------
    >>> import chainrule as cr
    >>> t = cr.ones(2); t.cpu() is t
    True
    """
    return _to(self, "cpu")


def _cast(name: str, dtype: Any) -> Any:
    dt = np.dtype(dtype)

    def cast(self: Tensor) -> Tensor:
        return self if self._data.dtype == dt else _ops.astype(self, dt)

    cast.__name__ = cast.__qualname__ = name
    cast.__doc__ = f"""The tensor as {dt} (itself if it already is), PyTorch's ``{name}()``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.5]).{name}().dtype
    dtype('{dt}')
    """
    return cast


def _type_as(self: Tensor, other: Tensor) -> Tensor:
    """The tensor cast to ``other``'s dtype.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1, 2]).type_as(cr.ones(1)).dtype
    dtype('float32')
    """
    return _to(self, dtype=other.dtype)


def _new_factory(name: str, fill: Any) -> Any:
    def new(
        self: Tensor, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        shape = _shape_arg(size, name)
        dt = self._data.dtype if dtype is None else _resolve_dtype(dtype, name)
        arr = namespace_of(self._data).full(shape, fill, dtype=dt)
        out = _new_leaf(arr, requires_grad, name)
        return out if device is None else _to(out, device)

    new.__name__ = new.__qualname__ = name
    new.__doc__ = f"""A tensor of {fill}s of shape ``size``, with this tensor's dtype and
    device unless given (PyTorch's ``{name}``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(1, dtype=cr.float64).{name}(2, 3).dtype
    dtype('float64')
    """
    return new


def _contiguous(self: Tensor) -> Tensor:
    """The tensor itself: PyTorch's layout call, nothing to do here.

    Examples
    --------
    >>> import chainrule as cr
    >>> t = cr.ones(2); t.contiguous() is t
    True
    """
    return self


def _clamp(self: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Limit the values to ``[min, max]``, PyTorch's ``clamp`` (NumPy's ``clip``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([-1.0, 2.0]).clamp(min=0).tolist()
    [0.0, 2.0]
    """
    return _ops.clip(self, min, max)


def _t(self: Tensor) -> Tensor:
    """PyTorch's ``t()``: a matrix transposed; a 0-d or 1-d tensor as it is.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones(2, 3).t().shape
    (3, 2)
    """
    if self._data.ndim > 2:
        raise ValueError(
            f"t: expects a tensor of at most 2 dims, got shape {self.shape}; "
            f"use transpose(d0, d1) or mT"
        )
    return _ops.transpose(self) if self._data.ndim == 2 else self


def _matrix_product(name: str, ndim: int) -> Any:
    def product(self: Tensor, other: Any) -> Tensor:
        other_ndim = getattr(other, "ndim", np.ndim(other))
        if self._data.ndim != ndim or other_ndim != ndim:
            raise ValueError(
                f"{name}: expects two {ndim}-d tensors, got shapes {self.shape} and "
                f"{tuple(np.shape(other))}; use matmul (or @) to broadcast"
            )
        return _ops.matmul(self, other)

    product.__name__ = product.__qualname__ = name
    product.__doc__ = f"""PyTorch's ``{name}``: the matrix product of two {ndim}-d tensors.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones({", ".join(["2"] * ndim)}).{name}(cr.ones({", ".join(["2"] * ndim)})).shape
    ({", ".join(["2"] * ndim)})
    """
    return product


def _add_method(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """PyTorch's ``add``: ``self + alpha * other``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0]).add(cr.ones(2), alpha=3).tolist()
    [4.0, 5.0]
    """
    return _ops.add(self, other if alpha == 1 else alpha * other)


def _sub_method(self: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    """PyTorch's ``sub``: ``self - alpha * other``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.tensor([1.0, 2.0]).sub(cr.ones(2), alpha=3).tolist()
    [-2.0, -1.0]
    """
    return _ops.subtract(self, other if alpha == 1 else alpha * other)


def _shaped_as(name: str) -> Any:
    def as_other(self: Tensor, other: Any) -> Tensor:
        shape = tuple(other.shape)
        return _expand(self, *shape) if name == "expand_as" else _ops.reshape(self, shape)

    as_other.__name__ = as_other.__qualname__ = name
    what = "broadcast to" if name == "expand_as" else "reshaped to"
    as_other.__doc__ = f"""The tensor {what} ``other``'s shape (PyTorch's ``{name}``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.ones({"1, 3" if name == "expand_as" else "6"}).{name}(cr.zeros(2, 3)).shape
    (2, 3)
    """
    return as_other


def _p_norm(norm: Any) -> Any:
    def p_norm(x: Any, *args: Any, p: Any = None, **kwargs: Any) -> Any:
        if p is not None:
            if "ord" in kwargs or args:
                raise TypeError("norm: got p= and an order (ord= or positional); pass one of them")
            kwargs["ord"] = None if p == "fro" else p
        return norm(x, *args, **kwargs)

    p_norm.__name__ = p_norm.__qualname__ = "norm"
    p_norm.__doc__ = f"""{norm.__doc__}
    PyTorch's ``p=`` stands for ``ord=`` (``p="fro"`` for the default).

    >>> cr.tensor([[3.0, 4.0]]).norm(p=2, dim=1).tolist()
    [5.0]
    """
    p_norm.__wrapped__ = norm  # type: ignore[attr-defined]
    return p_norm


def _dims_flip(flip: Any) -> Any:
    def dims_flip(x: Any, *dims: Any, **kwargs: Any) -> Any:
        if "dims" in kwargs:
            if "axis" in kwargs or dims:
                raise TypeError("flip: got dims= and an axis (axis= or positional); pass one")
            kwargs["axis"] = kwargs.pop("dims")
        elif len(dims) > 1:
            dims = (tuple(dims),)  # PyTorch's x.flip(0, 1)
        return flip(x, *dims, **kwargs)

    dims_flip.__name__ = dims_flip.__qualname__ = "flip"
    dims_flip.__doc__ = f"""{flip.__doc__}
    PyTorch's spellings too: ``flip(x, dims=[0, 1])``, ``x.flip(0, 1)``.

    >>> cr.tensor([[1, 2], [3, 4]]).flip(0, 1).tolist()
    [[4, 3], [2, 1]]
    """
    dims_flip.__wrapped__ = flip  # type: ignore[attr-defined]
    return dims_flip


def _split_sizes(x: Any, split_size_or_sections: Any, dim: int, op: str) -> list[int]:
    """The cut points of ``torch.split(x, split_size_or_sections, dim)``."""
    shape = tuple(x.shape)
    if not shape:
        raise ValueError(f"{op}: cannot split a zero-dimensional tensor (shape ())")
    if not _is_dim(dim) or not -len(shape) <= dim < len(shape):
        raise IndexError(f"{op}: dim {dim!r} is out of range for a tensor of shape {shape}")
    n = shape[dim]
    if _is_dim(split_size_or_sections):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"{op}: split_size must be a positive int, got {size}")
        return list(range(size, n, size))
    sizes = [operator.index(s) for s in split_size_or_sections]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise ValueError(
            f"{op}: section sizes {sizes} must be non-negative and sum to the length {n} of "
            f"dim {dim} of a tensor of shape {shape}"
        )
    return list(np.cumsum(sizes[:-1], dtype=np.int64).tolist())


def _torch_split(x: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Any, ...]:
    """PyTorch's ``split``: pieces of ``split_size`` along ``dim`` (the last one shorter), or
    pieces of the given sizes, which must sum to the length of ``dim``.

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.tolist() for p in cr.arange(5).split(2)]
    [[0, 1], [2, 3], [4]]
    >>> [p.shape for p in cr.ones(2, 5).split([1, 4], dim=1)]
    [(2, 1), (2, 4)]
    """
    cuts = _split_sizes(x, split_size_or_sections, dim, "split")
    return tuple(_ops.split(x, cuts, axis=dim))


def _chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's ``chunk``: ``chunks`` pieces along ``dim`` of ``ceil(length / chunks)`` each
    (the last one shorter; fewer pieces when the length runs out first).

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.tolist() for p in cr.arange(5).chunk(2)]
    [[0, 1, 2], [3, 4]]
    """
    if not _is_dim(chunks) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = self.shape[dim] if self._data.ndim else 0
    return _torch_split(self, max(-(-n // int(chunks)), 1), dim)


def _unbind(self: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, each without that dim (PyTorch's ``unbind``).

    Examples
    --------
    >>> import chainrule as cr
    >>> [r.tolist() for r in cr.tensor([[1, 2], [3, 4]]).unbind(1)]
    [[1, 3], [2, 4]]
    """
    return tuple(_ops.squeeze(p, axis=dim) for p in _torch_split(self, 1, dim))


def _split_function(numpy_split: Any) -> Any:
    def split(x: Any, *args: Any, **kwargs: Any) -> Any:
        if "dim" in kwargs:  # PyTorch's meaning: sizes, not section counts or cut indices
            return _torch_split(x, *args, **kwargs)
        return numpy_split(x, *args, **kwargs)

    split.__doc__ = numpy_split.__doc__
    split.__wrapped__ = numpy_split  # type: ignore[attr-defined]
    return split


def _split_method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
    """PyTorch's ``split`` (sizes along ``dim``); given ``axis=``, NumPy's ``split``.

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.tolist() for p in cr.arange(5).split(2)]
    [[0, 1], [2, 3], [4]]
    """
    if "axis" in kwargs:
        return _ops.split(self, *args, **kwargs)
    return _torch_split(self, *args, **kwargs)


def bind_methods(ops: Any, families: Sequence[Any]) -> dict[str, Any]:
    """Attach the Tensor methods that need :mod:`chainrule.ops`, with PyTorch's spellings;
    called once, at the end of ``chainrule/ops/__init__.py``. Every family's
    ``TENSOR_METHODS`` that takes ``axis``/``keepdims`` also takes ``dim``/``keepdim``.

    Returns the module-level functions that change (the same, taking ``dim=``; ``max``/``min``
    give ``(values, indices)`` and ``var``/``std`` are unbiased when given ``dim=``).

    Examples
    --------
    >>> import chainrule as cr
    >>> values, indices = cr.tensor([[1.0, 5.0], [3.0, 2.0]]).max(1)
    >>> values.tolist(), indices.tolist()
    ([5.0, 3.0], [1, 0])
    """
    global _ops, _numpy_transpose
    _ops = ops
    _numpy_transpose = Tensor.transpose
    methods = {
        "max": _extreme("max", True),
        "min": _extreme("min", True),
        "var": _spread("var", True),
        "std": _spread("std", True),
        "transpose": _transpose,
        "view": _view,
        "unsqueeze": _unsqueeze,
        "flatten": _flatten,
        "ravel": _ravel,
        "expand": _expand,
        "clone": _clone,
        "numel": _numel,
        "dim": _dim,
        "to": _to,
        "cpu": _cpu,
        "type_as": _type_as,
        "contiguous": _contiguous,
        "new_zeros": _new_factory("new_zeros", 0),
        "new_ones": _new_factory("new_ones", 1),
        "float": _cast("float", np.float32),
        "double": _cast("double", np.float64),
        "half": _cast("half", np.float16),
        "long": _cast("long", np.int64),
        "int": _cast("int", np.int32),
        "bool": _cast("bool", np.bool_),
        "clamp": _clamp,
        "split": _split_method,
        "chunk": _chunk,
        "unbind": _unbind,
        "t": _t,
        "mm": _matrix_product("mm", 2),
        "bmm": _matrix_product("bmm", 3),
        "matmul": ops.matmul,
        "add": _add_method,
        "sub": _sub_method,
        "mul": ops.multiply,
        "pow": ops.power,
        "neg": ops.negative,
        "eq": ops.equal,
        "ne": ops.not_equal,
        "gt": ops.greater,
        "ge": ops.greater_equal,
        "lt": ops.less,
        "le": ops.less_equal,
        "expand_as": _shaped_as("expand_as"),
        "view_as": _shaped_as("view_as"),
        "reshape_as": _shaped_as("reshape_as"),
        "norm": _p_norm(with_dim(ops.reduce.norm)),
        "flip": _dims_flip(with_dim(ops.shape.flip)),
    }
    for family in families:
        for name in getattr(family, "TENSOR_METHODS", ()):
            setattr(Tensor, name, with_dim(getattr(family, name)))
    for name, func in methods.items():
        setattr(Tensor, name, func)
    Tensor.mT = property(_mT, doc="The last two dims swapped (PyTorch's ``mT``).")  # type: ignore
    module_level = {}
    for family in families:
        for name in getattr(family, "__all__", ()):
            func = getattr(family, name)
            if callable(func) and not isinstance(func, type):
                wrapped = with_dim(func)
                if wrapped is not func:
                    module_level[name] = wrapped
    module_level.update(
        cat=module_level.get("concatenate", ops.concatenate),
        max=_extreme("max", False),
        min=_extreme("min", False),
        var=_spread("var", False),
        std=_spread("std", False),
        split=_split_function(ops.split),
        norm=methods["norm"],
        flip=methods["flip"],
    )
    return module_level


# ------------------------------------------------------- PyTorch's functions of a tensor
def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """``torch.chunk``: ``chunks`` pieces along ``dim`` (see :meth:`Tensor.chunk`).

    Examples
    --------
    >>> import chainrule as cr
    >>> [p.shape for p in cr.chunk(cr.ones(5, 2), 2)]
    [(3, 2), (2, 2)]
    """
    return _chunk(as_tensor(input), chunks, dim)


def unbind(input: Any, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """``torch.unbind``: the slices along ``dim``, each without that dim.

    Examples
    --------
    >>> import chainrule as cr
    >>> [r.tolist() for r in cr.unbind(cr.tensor([[1, 2], [3, 4]]))]
    [[1, 2], [3, 4]]
    """
    return _unbind(as_tensor(input), dim)


def mm(input: Any, mat2: Any) -> Tensor:  # noqa: A002
    """``torch.mm``: the product of two matrices (2-d only; :func:`matmul` broadcasts).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.mm(cr.ones(2, 3), cr.ones(3, 4)).shape
    (2, 4)
    """
    return _matrix_product("mm", 2)(as_tensor(input), mat2)


def bmm(input: Any, mat2: Any) -> Tensor:  # noqa: A002
    """``torch.bmm``: batched matrix products of two 3-d tensors.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.bmm(cr.ones(5, 2, 3), cr.ones(5, 3, 4)).shape
    (5, 2, 4)
    """
    return _matrix_product("bmm", 3)(as_tensor(input), mat2)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """``torch.clamp``: the values limited to ``[min, max]`` (NumPy's ``clip``).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.clamp(cr.tensor([-1.0, 2.0]), min=0).tolist()
    [0.0, 2.0]
    """
    return _clamp(as_tensor(input), min, max)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:  # noqa: A002
    """``torch.flatten``: dims ``start_dim..end_dim`` merged into one.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.flatten(cr.ones(2, 3, 4), 1).shape
    (2, 12)
    """
    return _flatten(as_tensor(input), start_dim, end_dim)


def numel(input: Any) -> int:  # noqa: A002
    """``torch.numel``: the number of elements.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.numel(cr.ones(2, 3))
    6
    """
    return _numel(as_tensor(input))


def is_tensor(obj: Any) -> bool:
    """``torch.is_tensor``: whether ``obj`` is a chainrule Tensor.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.is_tensor(cr.ones(1)), cr.is_tensor([1.0])
    (True, False)
    """
    return isinstance(obj, Tensor)


# ------------------------------------------------------------- PyTorch's factory names
def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory and dtype, as ``torch.from_numpy``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> a = np.zeros(2)
    >>> t = cr.from_numpy(a); a[0] = 5.0; t.tolist()
    [5.0, 0.0]
    """
    if type(array) is not _ndarray:
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return _leaf(_as_array(array, None, "from_numpy"))


def rand_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) with the shape (and floating dtype) of ``x``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.rand_like(cr.zeros(2, 3)).shape
    (2, 3)
    """
    shape, dt = _like(x, dtype, "rand_like")
    return rand(*shape, dtype=dt if dt.kind == "f" else None, requires_grad=requires_grad)


def randn_like(x: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples with the shape (and floating dtype) of ``x``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.randn_like(cr.zeros(2, dtype=np.float64)).dtype
    dtype('float64')
    """
    shape, dt = _like(x, dtype, "randn_like")
    return randn(*shape, dtype=dt if dt.kind == "f" else None, requires_grad=requires_grad)


def randint(
    low: int,
    high: int | None = None,
    size: Any = None,
    dtype: Any = None,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Random integers in ``[low, high)`` of shape ``size`` (int64), as ``torch.randint``:
    ``randint(high, size)`` or ``randint(low, high, size)``.

    Examples
    --------
    >>> import chainrule as cr
    >>> t = cr.randint(3, 10, (4,))
    >>> t.dtype, bool(((t.numpy() >= 3) & (t.numpy() < 10)).all())
    (dtype('int64'), True)
    """
    if size is None:
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint: give the size, as randint(high, size) or (low, high, size)")
        low, high, size = 0, low, high
    dt = _resolve_dtype(dtype, "randint") or np.dtype(np.int64)
    gen = _random.resolve(generator)
    shape = _shape_arg((size,), "randint")
    return _leaf(gen.integers(low, high, shape).astype(dt, copy=False))


def normal(
    mean: Any = 0.0,
    std: Any = 1.0,
    size: Any = None,
    dtype: Any = None,
    generator: np.random.Generator | int | None = None,
) -> Tensor:
    """Normal samples with ``mean`` and ``std`` (numbers or tensors, broadcast; the shape is
    theirs, or ``size`` for numbers), as ``torch.normal``. The samples are constants: write
    ``mean + std * cr.randn(...)`` for a result differentiable in ``mean`` and ``std``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.normal(2.0, 0.5, size=(3,)).shape
    (3,)
    """
    m = mean._data if isinstance(mean, Tensor) else np.asarray(mean)
    s = std._data if isinstance(std, Tensor) else np.asarray(std)
    if _recorded(mean) or _recorded(std):
        raise TypeError(
            "normal: mean or std requires grad, but samples drawn by normal() are constants; "
            "write mean + std * cr.randn_like(mean) to differentiate through them"
        )
    shape = np.broadcast_shapes(m.shape, s.shape) if size is None else _shape_arg((size,), "")
    dt = _resolve_dtype(dtype, "normal")
    if dt is None:
        tensors = [t.dtype for t in (mean, std) if isinstance(t, Tensor) and t.dtype.kind == "f"]
        dt = np.result_type(*tensors) if tensors else get_default_dtype()
    gen = _random.resolve(generator)
    arr = (m + s * gen.standard_normal(shape)).astype(dt, copy=False)
    return _leaf(np.asarray(arr))
