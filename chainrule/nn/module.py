"""``Module`` and ``Parameter``: the containers a network is built from, as in PyTorch.

A Module owns Parameters (tensors that are learned), buffers (arrays that are state but not
learned, such as BatchNorm's running mean) and submodules, each registered simply by assigning
it as an attribute. ``parameters()``, ``state_dict()``, ``train()`` and ``zero_grad()`` walk
that tree.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..backend import namespace_of, parse_device
from ..tensor import Tensor, _as_array, _check_grad_dtype, _leaf

__all__ = ["Module", "Parameter", "IncompatibleKeys"]


class Parameter(Tensor):
    """A Tensor that a Module learns: assigning one to a Module attribute registers it.

    Parameters require grad by default and are always leaves.

    Examples
    --------
    >>> import chainrule as cr
    >>> p = cr.nn.Parameter(cr.zeros(3))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        arr = _as_array(data, None, "Parameter")
        if isinstance(data, Tensor):
            arr = data._data
        if requires_grad:
            _check_grad_dtype(arr.dtype, "Parameter")
        super().__init__(arr)
        self._rg = bool(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce__(self) -> tuple[Any, ...]:
        grad = None if self._grad is None else self._grad.numpy()
        return (_rebuild_parameter, (self.numpy(), self._rg, grad))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool, grad: Any) -> Parameter:
    p = Parameter(data, requires_grad)
    if grad is not None:
        p._grad = _leaf(grad)
    return p


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` found missing or unexpected (non-strict mode)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class of every layer and model.

    Subclasses set their parameters and submodules as attributes in ``__init__`` (after calling
    ``super().__init__()``) and compute in ``forward``; calling the module calls ``forward``.

    Examples
    --------
    >>> import chainrule as cr
    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = cr.nn.Parameter(cr.ones(2))
    ...         self.b = cr.nn.Parameter(cr.zeros(2))
    ...     def forward(self, x):
    ...         return x * self.w + self.b
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['w', 'b']
    >>> m(cr.tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ----------------------------------------------------------------- registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        params, modules, buffers = self._parameters, self._modules, self._buffers
        if isinstance(value, Parameter):
            modules.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
        elif isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        elif name in buffers:
            buffers[name] = None if value is None else _buffer_array(value, name)
        elif name in params:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}.{name} is a Parameter; assign a Parameter or None, "
                    f"not {type(value).__name__}"
                )
            params[name] = None
        else:
            modules.pop(name, None)
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table in d and name in d[table]:
                if table == "_buffers":
                    return self._buffer_tensor(name, d[table][name])
                return d[table][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _buffer_tensor(self, name: str, arr: Any) -> Any:
        """A buffer read as an attribute: a Tensor that does not require grad and shares the
        buffer's array (PyTorch's buffers are tensors: ``bn.running_mean.clone()``,
        ``self.pe.size(1)``, slicing and arithmetic work; writes such as
        ``m.running_mean[...] = 0`` or ``copy_`` reach the buffer). The same Tensor is given
        back while the buffer holds the same array. ``named_buffers()``, ``state_dict()`` and
        the layers themselves keep working on the arrays."""
        if arr is None:
            return None
        cache = self.__dict__.get("_buffer_tensors")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_buffer_tensors", cache)
        t = cache.get(name)
        if t is None or t._data is not arr:
            t = cache[name] = _leaf(arr)
        return t

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for an absent one such as a missing bias).

        Examples
        --------
        >>> import chainrule as cr
        >>> m = cr.nn.Module(); m.register_parameter("bias", None); m.bias is None
        True
        """
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: {name!r} must be a Parameter or None, "
                f"got {type(param).__name__}"
            )
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Register an array that is state but not learned (saved in ``state_dict`` unless
        ``persistent=False``).

        Examples
        --------
        >>> import numpy as np, chainrule as cr
        >>> m = cr.nn.Module(); m.register_buffer("count", np.zeros(()))
        >>> list(m.state_dict())
        ['count']
        """
        self.__dict__.pop(name, None)
        self._buffers[name] = None if value is None else _buffer_array(value, name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a submodule under ``name``.

        Examples
        --------
        >>> import chainrule as cr
        >>> m = cr.nn.Module(); m.add_module("act", cr.nn.ReLU()); list(m._modules)
        ['act']
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        self.__dict__.pop(name, None)
        self._modules[name] = module

    # -------------------------------------------------------------------- running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # -------------------------------------------------------------------- walking
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule below it, with dotted names, each once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{k}" if name else k, m)
                for k, m in module._modules.items()
                if m is not None
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every submodule below it."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules, with their names."""
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name (``"0.weight"``), each once.

        Examples
        --------
        >>> import chainrule as cr
        >>> [n for n, _ in cr.nn.Linear(2, 3).named_parameters()]
        ['weight', 'bias']
        """
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, module in modules:
            for pname, p in module._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mname}.{pname}" if mname else pname), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter, each once (shared parameters are not repeated)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Any]]:
        """Every buffer array with its dotted name."""
        modules = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, module in modules:
            for bname, b in module._buffers.items():
                if b is not None:
                    yield (f"{mname}.{bname}" if mname else bname), b

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        """Every buffer array."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -------------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active, BatchNorm using batch statistics) on every module.

        Examples
        --------
        >>> import chainrule as cr
        >>> cr.nn.Sequential(cr.nn.Dropout(0.5)).eval()[0].training
        False
        """
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter (freeze with False)."""
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None, or to zeros with ``set_to_none=False``)."""
        for p in self.parameters():
            if set_to_none or p._grad is None:
                p._grad = None
            else:
                p._grad = _leaf(np.zeros_like(p._grad._data))

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and on this module."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -------------------------------------------------------------------- state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and persistent buffer, by dotted name, as NumPy arrays.

        Copies, so later training does not change a state dict taken earlier.

        Examples
        --------
        >>> import chainrule as cr
        >>> {k: v.shape for k, v in cr.nn.Linear(2, 3).state_dict().items()}
        {'weight': (3, 2), 'bias': (3,)}
        """
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for mname, module in self.named_modules():
            pre = f"{mname}." if mname else ""
            for name, p in module._parameters.items():
                if p is not None:
                    out[pre + name] = np.array(p.numpy(), copy=True)
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    out[pre + name] = np.array(_host(b), copy=True)
        return out

    def _state_slots(self) -> dict[str, tuple[Module, str, bool]]:
        slots: dict[str, tuple[Module, str, bool]] = {}
        for mname, module in self.named_modules():
            pre = f"{mname}." if mname else ""
            for name, p in module._parameters.items():
                if p is not None:
                    slots[pre + name] = (module, name, True)
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    slots[pre + name] = (module, name, False)
        return slots

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into the parameters and buffers of the same names.

        Everything is checked before anything is written: with ``strict`` a missing or
        unexpected name is an error, and a shape mismatch always is, so a failed load changes
        nothing. Values are cast to each parameter's dtype.

        Examples
        --------
        >>> import chainrule as cr
        >>> a, b = cr.nn.Linear(2, 3), cr.nn.Linear(2, 3)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        """
        slots = self._state_slots()
        missing = [k for k in slots if k not in state_dict]
        unexpected = [k for k in state_dict if k not in slots]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict: missing keys {missing}, unexpected keys {unexpected} "
                f"(pass strict=False to load the rest)"
            )
        staged = []
        for key, (module, name, is_param) in slots.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            arr = _buffer_array(value, key)
            current = module._parameters[name] if is_param else module._buffers[name]
            cur_shape = tuple(current.shape)
            if tuple(arr.shape) != cur_shape:
                raise ValueError(
                    f"load_state_dict: {key!r} has shape {tuple(arr.shape)} in the state dict "
                    f"but {cur_shape} in the model"
                )
            staged.append((module, name, is_param, arr))
        for module, name, is_param, arr in staged:
            if is_param:  # a copy in the parameter's dtype, on its device
                p = module._parameters[name]
                p.data = _onto(arr, p._data)
            else:
                module._buffers[name] = _onto(arr, module._buffers[name])
        return IncompatibleKeys(missing, unexpected)

    # -------------------------------------------------------------------- dtype/device
    def to(self, device: Any = None, dtype: Any = None) -> Module:
        """Move to ``device`` (``"cpu"``; ``"cuda"`` needs CuPy) and/or cast floating
        parameters and buffers to ``dtype``, in place; returns the module.

        ``m.to(np.float64)`` is accepted as a dtype, as in PyTorch.

        Examples
        --------
        >>> import numpy as np, chainrule as cr
        >>> cr.nn.Linear(2, 2).to(np.float64).weight.dtype
        dtype('float64')
        """
        if device is not None and not isinstance(device, str):
            device, dtype = None, device
        dt = None if dtype is None else np.dtype(dtype)
        if dt is not None and dt.kind != "f":
            raise TypeError(f"Module.to: expected a floating dtype, got {dt}")
        move = _device_mover(device)
        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    arr = move(p._data)
                    if dt is not None and arr.dtype != dt:
                        arr = arr.astype(dt)
                    if arr is not p._data:
                        p.data = arr
                        p._grad = None
            for name, b in list(module._buffers.items()):
                if b is not None:
                    arr = move(b)
                    if dt is not None and arr.dtype.kind == "f" and arr.dtype != dt:
                        arr = arr.astype(dt)
                    module._buffers[name] = arr
        return self

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32."""
        return self.to(dtype=np.float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64."""
        return self.to(dtype=np.float64)

    # -------------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The layer's settings shown inside its ``repr`` (override in layers)."""
        return ""

    def __repr__(self) -> str:
        # PyTorch's layout: a one-line extra_repr inline; otherwise its lines, then one
        # "(name): repr" per child, each indented by two spaces.
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        head = f"{type(self).__name__}("
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _host(array: Any) -> np.ndarray:
    return array if type(array) is np.ndarray else array.get()


def _onto(array: Any, like: Any) -> Any:
    """A copy of ``array`` in ``like``'s dtype, on ``like``'s device (host or GPU)."""
    if type(like) is np.ndarray:
        return np.array(_host(array), dtype=like.dtype, copy=True)
    return namespace_of(like).array(array, dtype=like.dtype, copy=True)


def _buffer_array(value: Any, name: str) -> Any:
    if isinstance(value, Tensor):
        return value._data
    if type(value) is np.ndarray or hasattr(value, "__cuda_array_interface__"):
        return value
    return _as_array(value, None, f"buffer {name!r}")


def _device_mover(device: str | None) -> Callable[[Any], Any]:
    if device is None:
        return lambda a: a
    kind, index = parse_device(device, "Module.to")
    if kind == "cpu":
        return _host
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            "Module.to('cuda'): CuPy is not installed; install chainrule[gpu] on a machine "
            "with an NVIDIA GPU"
        ) from None

    def move(a: Any) -> Any:
        with cupy.cuda.Device(index):
            return cupy.asarray(a)

    return move
