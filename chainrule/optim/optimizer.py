"""``Optimizer``: parameter groups, per-parameter state, and saving both, as in PyTorch.

An optimiser holds ``param_groups`` (dicts with a ``"params"`` list and that group's
hyper-parameters) and ``state`` (a dict per parameter: step counts, moment estimates). A
subclass only says how one group is updated (``_update``) and checks its hyper-parameters
(``_validate``).

Updates run on the raw arrays, in place, in the parameter's dtype: no graph is recorded, and
float32 parameters are computed in float32 as PyTorch does. After changing an array the
optimiser stamps the parameter's in-place version (``_version``), so a graph recorded before the
step refuses to run backward with the changed values.
"""

from __future__ import annotations

import copy
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autodiff import enable_grad, next_seq
from ..backend import namespace_of
from ..tensor import Tensor

__all__ = ["Optimizer"]

_ndarray = np.ndarray


class Optimizer:
    """Base class of the optimisers: parameter groups, state, ``zero_grad`` and state dicts.

    Parameters
    ----------
    params : iterable of Tensor, or iterable of dict
        The tensors to optimise, or parameter groups: dicts with a ``"params"`` entry and any
        hyper-parameters that differ from ``defaults`` for that group.
    defaults : dict
        Hyper-parameters of every group that does not set its own.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.ones(2))
    >>> b = cr.nn.Parameter(cr.zeros(1))
    >>> opt = cr.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    """

    #: Per-parameter state entries that are arrays shaped like the parameter.
    _state_arrays: tuple[str, ...] = ()
    #: Per-parameter state entries that are Python ints (non-negative counts).
    _state_ints: tuple[str, ...] = ("step",)
    #: State arrays that accumulate squares, so a loaded one must hold no negative value.
    _state_nonnegative: tuple[str, ...] = ("exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum")

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = dict(defaults)
        self._validate(self.defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of dicts, got a single "
                f"Tensor of shape {params.shape}; pass [tensor] or model.parameters()"
            )
        if isinstance(params, dict):
            params = [params]
        _refuse_sets(params, name)
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(
                f"{name}: params should be an iterable of Tensors or of dicts, "
                f"got {type(params).__name__}"
            ) from None
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with hyper-parameters that default to ``defaults``.

        Useful when fine-tuning: unfreeze layers and hand them to the optimiser as training
        goes on.

        Examples
        --------
        >>> import chainrule as cr
        >>> opt = cr.optim.SGD([cr.nn.Parameter(cr.ones(2))], lr=0.1)
        >>> opt.add_param_group({"params": [cr.nn.Parameter(cr.ones(3))], "lr": 0.01})
        >>> len(opt.param_groups), opt.param_groups[1]["lr"]
        (2, 0.01)
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}: a parameter group must be a dict with a 'params' entry, "
                f"got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{name}: parameter group {param_group!r} has no 'params' entry")
        params = param_group["params"]
        _refuse_sets(params, name)
        params = [params] if isinstance(params, Tensor) else list(params)
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name}: parameter {i} of the group is a {type(p).__name__}; expected a "
                    f"Tensor (e.g. an nn.Parameter)"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: parameter {i} of the group (shape {p.shape}) is not a leaf; it "
                    f"was computed by {p.grad_fn.name!r}, and only leaves can be optimised"
                )
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{name}: parameter {i} of the group has dtype {p.dtype}; only "
                    f"floating-point tensors can be optimised"
                )
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} appears twice in the same group")
            seen.add(id(p))
        for group in self.param_groups:
            if any(id(p) in seen for p in group["params"]):
                raise ValueError(f"{name}: some parameters appear in more than one group")
        group = {"params": params}
        group.update((k, v) for k, v in param_group.items() if k != "params")
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._validate(group)
        self.param_groups.append(group)
        self._init_group_state(group)

    def _validate(self, group: dict[str, Any]) -> None:
        """Raise ValueError if a hyper-parameter of ``group`` is out of range (subclasses)."""

    def _init_group_state(self, group: dict[str, Any]) -> None:
        """Create state eagerly for a new group (Adagrad does; the others create it lazily)."""

    def _required_state(self, group: dict[str, Any]) -> tuple[str, ...]:
        """State entries that a non-empty state of a parameter in ``group`` must hold."""
        return ()

    # ------------------------------------------------------------------ stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter: to None (default), or to zeros in place.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter(cr.ones(2))
        >>> (w * w).sum().backward()
        >>> opt = cr.optim.SGD([w], lr=0.1)
        >>> opt.zero_grad(); w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                elif g._prim is None:
                    g._data.fill(0)
                    g._version = next_seq()
                else:  # a gradient recorded with create_graph: cut it from its graph
                    p._grad = Tensor(namespace_of(g._data).zeros_like(g._data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns ``closure()`` if given.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (called with grad mode enabled, before
            the update). Needed by methods that evaluate the loss several times; optional here.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter(cr.tensor([1.0, 2.0]))
        >>> opt = cr.optim.SGD([w], lr=0.1)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w * w).sum()
        ...     loss.backward()
        ...     return loss
        >>> opt.step(closure).item()
        5.0
        >>> w.tolist()
        [0.800000011920929, 1.600000023841858]
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not define _update()")

    # ------------------------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state as plain data: NumPy array copies, Python numbers, indices.

        ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index, ...]}]}``,
        where parameters are numbered in the order of the groups, as in PyTorch, so the state
        can be loaded into an optimiser built the same way over other (e.g. fresh) parameters.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter(cr.ones(2)); w.grad = cr.ones(2)
        >>> opt = cr.optim.SGD([w], lr=0.1, momentum=0.9); opt.step()
        >>> sd = opt.state_dict()
        >>> sd["state"]
        {0: {'momentum_buffer': array([1., 1.], dtype=float32)}}
        >>> sd["param_groups"][0]["params"]
        [0]
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, entries in self.state.items():
            state[index[id(p)]] = {k: _saved_value(v) for k, v in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by :meth:`state_dict`, onto this optimiser's parameters.

        The groups must hold the same number of parameters as when the state was saved;
        per-parameter arrays must have the parameter's shape and are cast to its dtype.
        Everything is checked before anything changes, so a failed load leaves the optimiser
        as it was. Keys may be strings (``"0"``) and tuples lists, as after a JSON round trip.

        Examples
        --------
        >>> import chainrule as cr
        >>> w = cr.nn.Parameter(cr.ones(2)); w.grad = cr.ones(2)
        >>> a = cr.optim.Adam([w], lr=0.1); a.step()
        >>> b = cr.optim.Adam([w], lr=0.5)
        >>> b.load_state_dict(a.state_dict())
        >>> b.param_groups[0]["lr"], b.state[w]["step"]
        (0.1, 1)
        """
        name = type(self).__name__
        if not (
            isinstance(state_dict, dict) and "state" in state_dict and "param_groups" in state_dict
        ):
            raise ValueError(
                f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups' "
                f"entries (from Optimizer.state_dict()), got {_describe(state_dict)}"
            )
        saved_groups = state_dict["param_groups"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(state_dict["state"], dict):
            raise ValueError(
                f"{name}.load_state_dict: expected 'param_groups' to be a list and 'state' a "
                f"dict, got {_describe(saved_groups)} and {_describe(state_dict['state'])}"
            )
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                f"groups but the optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, tuple[Tensor, dict[str, Any]]] = {}
        new_groups = []
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not (isinstance(saved, dict) and isinstance(saved.get("params"), (list, tuple))):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} of the state dict is not a "
                    f"dict with a 'params' list"
                )
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {i} has {len(saved['params'])} "
                    f"parameters in the state dict but {len(group['params'])} in the optimizer"
                )
            merged = {"params": group["params"]}
            for key, value in saved.items():
                if key == "params":
                    continue
                if isinstance(group.get(key), tuple) and isinstance(value, list):
                    value = tuple(value)
                merged[key] = copy.deepcopy(value)
            for key, value in group.items():
                merged.setdefault(key, value)
            try:
                self._validate(merged)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{name}.load_state_dict: parameter group {i}: {exc}") from None
            new_groups.append(merged)
            for idx, p in zip(saved["params"], group["params"]):
                by_index[_index(idx, name)] = (p, merged)

        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, entries in state_dict["state"].items():
            idx = _index(key, name)
            if idx not in by_index:
                raise ValueError(
                    f"{name}.load_state_dict: the state dict has state for parameter {idx}, "
                    f"but its groups list only parameters {sorted(by_index)}"
                )
            p, group = by_index[idx]
            if not isinstance(entries, dict):
                raise ValueError(
                    f"{name}.load_state_dict: the state of parameter {idx} is a "
                    f"{type(entries).__name__}, expected a dict"
                )
            missing = [k for k in self._required_state(group) if k not in entries]
            if entries and missing:
                raise ValueError(
                    f"{name}.load_state_dict: the state of parameter {idx} lacks {missing} "
                    f"(has {sorted(entries)})"
                )
            new_state[p] = {k: self._loaded_value(k, v, p, idx) for k, v in entries.items()}
        self.param_groups[:] = new_groups
        self.state = new_state

    def _loaded_value(self, key: str, value: Any, p: Tensor, idx: int) -> Any:
        """Check one saved state entry (kind, type, shape, range) and return it ready to use."""
        name = type(self).__name__
        where = f"{name}.load_state_dict: state {key!r} of parameter {idx}"
        if isinstance(value, Tensor):
            value = value._data
        if key in self._state_arrays:
            shape = getattr(value, "shape", None)
            if shape is None:
                try:
                    value = np.asarray(value)
                except ValueError:  # a ragged list
                    raise ValueError(f"{where} is not an array: {_describe(value)}") from None
                shape = value.shape
            if tuple(shape) != p.shape:
                raise ValueError(
                    f"{where} has shape {tuple(shape)}, but the parameter has shape {p.shape}"
                )
            kind = getattr(getattr(value, "dtype", None), "kind", None)
            if kind not in ("f", "i", "u"):
                raise ValueError(
                    f"{where} should be a real array of numbers, got dtype "
                    f"{getattr(value, 'dtype', type(value).__name__)}"
                )
            host = _host(value)
            if not np.isfinite(host).all():
                raise ValueError(f"{where} holds NaN or Inf; the state was saved after diverging")
            if key in self._state_nonnegative and (host < 0).any():
                raise ValueError(f"{where} holds negative values, but it is a sum of squares")
            data = p._data
            if type(data) is _ndarray:
                return np.array(host, dtype=data.dtype, copy=True)
            return namespace_of(data).array(value, dtype=data.dtype, copy=True)
        if key in self._state_ints:
            if hasattr(value, "item") and getattr(value, "shape", None) == ():
                value = value.item()  # a 0-d array, as safetensors or torch keep a step
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"{where} should be a non-negative integer, got {value!r} "
                    f"({type(value).__name__})"
                )
            return int(value)
        if self._state_arrays:
            raise ValueError(
                f"{where}: {name} keeps no such state (it keeps "
                f"{sorted(self._state_arrays + self._state_ints)}); is this the state of another "
                f"optimizer?"
            )
        return copy.deepcopy(value)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# ---------------------------------------------------------------------- helpers
def _host(value: Any) -> Any:
    if type(value) is _ndarray or not hasattr(value, "__cuda_array_interface__"):
        return value
    return value.get()


def _saved_value(value: Any) -> Any:
    if isinstance(value, Tensor):
        value = value._data
    if type(value) is _ndarray or hasattr(value, "__cuda_array_interface__"):
        return np.array(_host(value), copy=True)
    return copy.deepcopy(value)


def _index(key: Any, name: str) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and key.isdigit():
        return int(key)
    raise ValueError(f"{name}.load_state_dict: parameter indices must be integers, got {key!r}")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {sorted(map(str, value))}"
    return f"a {type(value).__name__}"


def check_number(
    opt: str,
    what: str,
    value: Any,
    low: float = 0.0,
    *,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless ``value`` is a real number in the given interval."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"{opt}: {what} must be a real number, got {value!r}")
    value = float(value)
    ok = (value > low if low_open else value >= low) and not np.isnan(value)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if not ok:
        lo = f"{'(' if low_open else '['}{low:g}"
        hi = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
        raise ValueError(f"{opt}: invalid {what} {value!r}; expected a value in {lo}, {hi}")


def bump(p: Tensor) -> None:
    """Stamp ``p`` as modified in place, so graphs recorded before the update refuse it."""
    p._version = next_seq()


def scalars(xp: Any, dtype: Any, values: tuple[float, ...]) -> tuple[Any, ...]:
    """``values`` as 0-d arrays of ``dtype`` (the optimisers make them once per dtype and step).

    NumPy applies a 0-d array of the operand's dtype several times faster than a Python float,
    which it converts on every operation; it rounds the value to the dtype just the same, so
    results are unchanged. Small parameters are dominated by this per-operation cost.
    """
    return tuple(xp.asarray(v, dtype=dtype) for v in values)


def lerp_weight(weight: float, dtype: Any) -> float:
    """The coefficient :func:`lerp_` multiplies by: ``weight``, or ``1 - weight`` rounded to
    ``dtype`` as ``torch.lerp`` computes it for weights of 1/2 and more."""
    if abs(weight) < 0.5:
        return weight
    return float(dtype.type(1) - dtype.type(weight))


def gradient(xp: Any, grad: Any, data: Any, weight_decay: Any, maximize: bool) -> tuple[Any, bool]:
    """The gradient an update uses: ``grad`` negated under ``maximize``, plus
    ``weight_decay * data`` (L2 penalty; None for none), as PyTorch adds them.

    Returns the array and whether it is a fresh array the caller may overwrite (it is
    ``grad`` itself, the user's ``.grad``, when nothing had to be added).
    """
    # Fresh arrays are made with out=: ufuncs on 0-d arrays would return NumPy scalars, which
    # cannot be stored as state and updated in place.
    if maximize:
        grad = xp.negative(grad, out=xp.empty_like(grad))
    if weight_decay is not None:
        decayed = xp.multiply(data, weight_decay, out=xp.empty_like(data))
        decayed += grad
        return decayed, True
    return grad, maximize


def lerp_(xp: Any, start: Any, end: Any, small: bool, coeff: Any, scratch: Any) -> None:
    """``start += w * (end - start)`` in place, evaluated as ``torch.lerp_`` does: for a small
    weight (``|w| < 1/2``) ``coeff`` is ``w``, else ``1 - w`` (see :func:`lerp_weight`).
    ``scratch`` is overwritten."""
    xp.subtract(end, start, out=scratch)
    scratch *= coeff
    if small:
        start += scratch
    else:
        xp.subtract(end, scratch, out=start)


def _refuse_sets(params: Any, name: str) -> None:
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{name}: parameters must be given in an ordered collection (a list), not a "
            f"set, whose order changes between runs and would scramble saved state"
        )
