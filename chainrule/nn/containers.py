"""Containers with PyTorch's names: ``ModuleDict``, ``ParameterList``, ``ParameterDict``, and
``Unflatten`` (the inverse of ``Flatten``).

Each registers what it holds on the module itself (``_modules`` / ``_parameters``), so
``parameters()``, ``state_dict()`` (keys ``"0"``, ``"1"``... or the dict's keys), ``to()`` and
``zero_grad()`` see it as they see attributes.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..ops.shape import reshape
from ..tensor import Tensor
from .module import Module, Parameter

__all__ = ["ModuleDict", "ParameterList", "ParameterDict", "Unflatten"]


def _items(values: Any, name: str) -> Iterable[tuple[str, Any]]:
    if isinstance(values, Mapping):
        return values.items()
    try:
        return [(k, v) for k, v in values]
    except (TypeError, ValueError):
        raise TypeError(
            f"{name}: expected a mapping or an iterable of (key, value) pairs, got "
            f"{type(values).__name__}"
        ) from None


class ModuleDict(Module):
    """Modules by name, registered (their parameters are the dict's), as ``torch.nn.ModuleDict``.

    Examples
    --------
    >>> import chainrule as cr
    >>> heads = cr.nn.ModuleDict({"a": cr.nn.Linear(2, 1), "b": cr.nn.Linear(2, 3)})
    >>> heads["b"](cr.zeros(4, 2)).shape, len(list(heads.parameters()))
    ((4, 3), 4)
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(
                f"ModuleDict: no module named {key!r} (has {list(self._modules)})"
            ) from None

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        """The names, in insertion order."""
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order."""
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """``(name, module)`` pairs, in insertion order."""
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove the module ``key`` and return it."""
        return self._modules.pop(key)

    def clear(self) -> None:
        """Remove every module."""
        self._modules.clear()

    def update(self, modules: Any) -> None:
        """Add (or replace) modules from a mapping or ``(name, module)`` pairs."""
        for key, module in _items(modules, "ModuleDict.update"):
            if not isinstance(module, Module):
                raise TypeError(
                    f"ModuleDict: {key!r} must be a Module, got {type(module).__name__}"
                )
            self.add_module(str(key), module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict is not callable; call one of its modules")


def _as_parameter(value: Any, where: str) -> Parameter:
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor) and value.requires_grad and not value.is_leaf:
        raise TypeError(
            f"{where}: a computed tensor cannot become a Parameter (it would drop its graph); "
            "pass a leaf tensor or an array"
        )
    return Parameter(value)


class ParameterList(Module):
    """Parameters in a list, registered under ``"0"``, ``"1"``..., as ``torch.nn.ParameterList``.
    Tensors and arrays put in become Parameters.

    Examples
    --------
    >>> import chainrule as cr
    >>> ps = cr.nn.ParameterList([cr.zeros(2), cr.ones(3)])
    >>> len(ps), ps[1].shape, list(ps.state_dict())
    (2, (3,), ['0', '1'])
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _key(self, idx: int) -> str:
        n = len(self._parameters)
        i = operator.index(idx)
        if not -n <= i < n:
            raise IndexError(f"ParameterList: index {i} is out of range for {n} parameters")
        return str(i % n)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[self._key(idx)]

    def __setitem__(self, idx: int, value: Any) -> None:
        self._parameters[self._key(idx)] = _as_parameter(value, "ParameterList")

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` (made a Parameter) at the end; returns the list."""
        self._parameters[str(len(self._parameters))] = _as_parameter(value, "ParameterList")
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append each of ``values``; returns the list."""
        for v in values:
            self.append(v)
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterList is not callable")

    def extra_repr(self) -> str:
        return "\n".join(
            f"({k}): Parameter of shape {tuple(p.shape)} ({p.dtype})"
            for k, p in self._parameters.items()
        )


class ParameterDict(Module):
    """Parameters by name, as ``torch.nn.ParameterDict``; tensors and arrays put in become
    Parameters.

    Examples
    --------
    >>> import chainrule as cr
    >>> pd = cr.nn.ParameterDict({"scale": cr.ones(1)})
    >>> pd["shift"] = cr.zeros(1)
    >>> sorted(pd.keys()), pd["scale"].requires_grad
    (['scale', 'shift'], True)
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        try:
            return self._parameters[key]
        except KeyError:
            raise KeyError(
                f"ParameterDict: no parameter named {key!r} (has {list(self._parameters)})"
            ) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._parameters[str(key)] = _as_parameter(value, "ParameterDict")

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Iterable[str]:
        """The names, in insertion order."""
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        """The parameters, in insertion order."""
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        """``(name, parameter)`` pairs, in insertion order."""
        return self._parameters.items()

    def pop(self, key: str) -> Parameter:
        """Remove the parameter ``key`` and return it."""
        return self._parameters.pop(key)

    def update(self, parameters: Any) -> None:
        """Add (or replace) parameters from a mapping or ``(name, value)`` pairs."""
        for key, value in _items(parameters, "ParameterDict.update"):
            self[key] = value

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ParameterDict is not callable")


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size`` (one entry may be -1), the inverse of
    :class:`Flatten`, as ``torch.nn.Unflatten``.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.nn.Unflatten(1, (3, 4))(cr.zeros(2, 12)).shape
    (2, 3, 4)
    """

    def __init__(self, dim: int, unflattened_size: Iterable[int]) -> None:
        super().__init__()
        self.dim = operator.index(dim)
        self.unflattened_size = tuple(operator.index(n) for n in unflattened_size)

    def forward(self, x: Any) -> Tensor:
        shape = tuple(x.shape)
        n = len(shape)
        if not -n <= self.dim < n:
            raise IndexError(
                f"Unflatten: dim {self.dim} is out of range for an input of shape {shape}"
            )
        d = self.dim % n
        try:
            return reshape(x, shape[:d] + self.unflattened_size + shape[d + 1 :])
        except ValueError:
            raise ValueError(
                f"Unflatten: cannot split dim {d} of length {shape[d]} (input shape {shape}) "
                f"into {self.unflattened_size}"
            ) from None

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
