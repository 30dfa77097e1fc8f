"""The graph: grad mode, primitives, and the backward walk.

A recorded tensor is its own graph node. Beside its array it keeps

* ``_prim``    the :class:`Primitive` that made it (its name, formula and gradient rules),
* ``_args``    the raw values the forward was called with (arrays, constants, parameters),
* ``_parents`` the tensors among those arguments that need a gradient (``None`` elsewhere); a
  lone parent at argument 0, the most common case, is stored as the tensor itself rather than a
  one-tuple (one long-lived object fewer per node for the garbage collector to traverse),
* ``_seq``     a number from one global counter, larger than every parent's.

Because a parent is always older than its child, visiting nodes in decreasing ``_seq`` is a
reverse topological order. :func:`backward` pops nodes from a heap keyed on ``-_seq``; a node
is pushed the first time a gradient reaches it, and by the time it is popped every consumer
reachable from the root has been processed, so its gradient is complete. One pass, no
recursion, no dependency counting, time linear in the graph (times a log for the heap).

In-place modification is detected with the same counter: assigning ``tensor.data`` stamps the
tensor with a fresh number (``_version``); a node whose input or output carries a stamp newer than
the node itself was modified after it was recorded, and backward refuses to use it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from heapq import heappop, heappush
from threading import get_ident, local
from typing import Any

from numpy import ndarray

from .backend import namespace_of, numpy_namespace

__all__ = [
    "Primitive",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "inference_mode",
    "is_inference_mode_enabled",
    "detect_anomaly",
    "is_anomaly_enabled",
    "backward",
]

#: One counter for node order and in-place stamps (see the module docstring).
next_seq = itertools.count(1).__next__


class _State(local):
    """Grad, inference and anomaly mode of the calling thread (as in PyTorch).

    The defaults are class attributes, so a thread that never switched a mode reads them
    without an ``__init__`` having run for it: every new thread starts with grad enabled,
    inference and anomaly mode off, whatever the other threads are doing. Reading a flag is one
    attribute load on a ``threading.local``: about 40 ns where a plain slot takes about 10, paid
    only by operations on tensors that require grad (two reads: grad mode, anomaly mode).
    """

    grad_enabled = True
    inference = False
    anomaly = False


#: Switches read on every operation; one attribute load each, private to the calling thread.
state = _State()


class Primitive:
    """A differentiable operation: its name, its vector-Jacobian products and their formulas.

    ``vjps[i]`` is called as ``vjps[i](xp, g, out, *args)`` and returns the gradient with respect
    to argument ``i`` (``g`` is the gradient of the output, ``out`` the output, ``args`` the
    forward's arguments). ``formula`` is the rule written as maths, printed by ``explain``.

    Examples
    --------
    >>> exp = Primitive("exp", (lambda xp, g, out, x: g * out,), "g * exp(x)")
    >>> exp
    Primitive('exp': g * exp(x))
    """

    __slots__ = ("name", "vjps", "formula")

    def __init__(self, name: str, vjps: tuple[Callable[..., Any] | None, ...], formula: str):
        self.name = name
        self.vjps = vjps
        self.formula = formula

    def __repr__(self) -> str:
        return f"Primitive({self.name!r}: {self.formula})"


class _Switch:
    """Context manager and decorator that sets one flag of :data:`state` and restores it.

    The flag belongs to the calling thread. The values to restore are kept per thread too, so
    one instance shared by several threads (``guard = cr.no_grad()`` at module level) restores
    each thread's own mode.
    """

    flag = "grad_enabled"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._prev: dict[int, list[bool]] = {}

    def __enter__(self) -> None:
        self._prev.setdefault(get_ident(), []).append(getattr(state, self.flag))
        setattr(state, self.flag, self.enabled)

    def __exit__(self, *exc: object) -> None:
        setattr(state, self.flag, self._pop())

    def _pop(self) -> bool:
        ident = get_ident()
        stack = self._prev[ident]
        value = stack.pop()
        if not stack:
            del self._prev[ident]
        return value

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.enabled):
                return func(*args, **kwargs)

        return wrapper


class _GradMode(_Switch):
    flag = "grad_enabled"


def no_grad() -> _GradMode:
    """Context manager / decorator under which operations are not recorded.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager / decorator that turns recording back on (inside ``no_grad``).

    Examples
    --------
    >>> import chainrule as cr
    >>> with cr.no_grad(), cr.enable_grad():
    ...     cr.is_grad_enabled()
    True
    """
    return _GradMode(True)


class _SetGradEnabled(_GradMode):
    """Sets the mode as soon as it is made (a plain call switches it, as in PyTorch); as a
    context manager it restores the previous mode on exit."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        self._prev[get_ident()] = [state.grad_enabled]
        state.grad_enabled = enabled

    def __enter__(self) -> None:
        pass

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        state.grad_enabled = self._pop()  # as a decorator it applies only inside func
        return super().__call__(func)


def set_grad_enabled(mode: bool) -> _GradMode:
    """Set recording on or off: at once when called, or for a ``with`` block, or for a function
    it decorates.

    Examples
    --------
    >>> import chainrule as cr
    >>> with cr.set_grad_enabled(False):
    ...     cr.is_grad_enabled()
    False
    >>> _ = cr.set_grad_enabled(False); cr.is_grad_enabled()
    False
    >>> _ = cr.set_grad_enabled(True)
    """
    return _SetGradEnabled(bool(mode))


def is_grad_enabled() -> bool:
    """Whether operations on tensors that require grad are being recorded in the calling thread.

    Each thread has its own mode, and a new thread starts with recording on (as in PyTorch).

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.is_grad_enabled()
    True
    """
    return state.grad_enabled


class inference_mode(_Switch):  # noqa: N801 - named like the context manager it is, as in PyTorch
    """Context manager / decorator for inference: no operation is recorded.

    ``inference_mode()`` (or ``inference_mode(True)``) turns recording off and marks the thread
    as in inference mode; ``inference_mode(False)`` turns both back on inside such a block,
    as in PyTorch. Unlike PyTorch, tensors made in inference mode are ordinary tensors (there
    are no "inference tensors"), so this is :func:`no_grad` plus the flag read by
    :func:`is_inference_mode_enabled`. Like every mode it belongs to the calling thread. It can
    decorate a function with or without the call: ``@cr.inference_mode`` or
    ``@cr.inference_mode()``.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> with cr.inference_mode():
    ...     y = w * 2
    ...     cr.is_inference_mode_enabled(), cr.is_grad_enabled()
    (True, False)
    >>> y.requires_grad
    False
    """

    def __new__(cls, mode: Any = True) -> Any:
        self = super().__new__(cls)
        if callable(mode):  # used bare, as @cr.inference_mode
            self.__init__(True)
            return self(mode)
        return self

    def __init__(self, mode: bool = True) -> None:
        if not isinstance(mode, bool):
            raise TypeError(
                f"inference_mode: mode must be True or False, got {type(mode).__name__}"
            )
        super().__init__(mode)

    def __enter__(self) -> None:
        self._prev.setdefault(get_ident(), []).append((state.grad_enabled, state.inference))
        state.grad_enabled = not self.enabled
        state.inference = self.enabled

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled, state.inference = self._pop()


def is_inference_mode_enabled() -> bool:
    """Whether :class:`inference_mode` is active in the calling thread.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.is_inference_mode_enabled()
    False
    """
    return state.inference


class detect_anomaly(_Switch):  # noqa: N801 - named like the context manager it is, as in PyTorch
    """Context manager / decorator that names the first operation producing NaN or Inf.

    While active, every recorded forward result and every gradient a rule returns is checked; the
    first non-finite one raises :class:`FloatingPointError` naming the operation and whether it
    was the forward or the backward. Like grad mode it belongs to the calling thread.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([-1.0], requires_grad=True)
    >>> with cr.detect_anomaly():
    ...     cr.log(x)
    Traceback (most recent call last):
    ...
    FloatingPointError: detect_anomaly: forward of 'log' produced NaN/Inf (shape (1,), float32)
    """

    flag = "anomaly"

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled)


def is_anomaly_enabled() -> bool:
    """Whether :class:`detect_anomaly` is active in the calling thread.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.is_anomaly_enabled()
    False
    """
    return state.anomaly


def check_finite(array: Any, name: str, phase: str) -> None:
    """Raise FloatingPointError if ``array`` holds NaN or Inf (used by anomaly mode)."""
    xp = namespace_of(array)
    if not bool(xp.isfinite(array).all()):
        raise FloatingPointError(
            f"detect_anomaly: {phase} of {name!r} produced NaN/Inf "
            f"(shape {tuple(array.shape)}, {array.dtype})"
        )


def parents_of(t: Any) -> tuple[Any, ...]:
    """The parents of recorded tensor ``t``, aligned with its primitive's arguments (None where
    an argument needs no gradient); empty for a leaf or a freed node.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.ones(2, requires_grad=True)
    >>> parents_of(x * 2) == (x,)
    True
    """
    parents = t._parents
    if parents is None:
        return ()
    return parents if parents.__class__ is tuple else (parents,)


def unbroadcast(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``g`` over the axes that broadcasting added or stretched, so it has ``shape``.

    This is the one place broadcasting is undone; rules return gradients in the broadcast shape.
    Works on arrays and on Tensors (it uses only the ``sum`` and ``reshape`` methods).

    Examples
    --------
    >>> import numpy as np
    >>> unbroadcast(np.ones((2, 3)), (3,))
    array([2., 2., 2.])
    >>> unbroadcast(np.ones((2, 3)), (2, 1)).shape
    (2, 1)
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead:
        g = g.sum(axis=_LEADING_AXES[lead] if lead < 8 else tuple(range(lead)))
        gshape = g.shape
        if gshape == shape:  # the common case: a bias added to a batch
            return g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[i] != 1)
    return g.sum(axis=axes, keepdims=True)


_LEADING_AXES = [tuple(range(n)) for n in range(8)]


def _freed_error(t: Any) -> RuntimeError:
    return RuntimeError(
        f"backward: trying to backward through {t._prim.name!r} a second time, but its saved "
        "values were freed after the first backward; pass retain_graph=True to the first "
        "backward() if you need to backward through the graph twice"
    )


def _modified_error(t: Any, p: Any) -> RuntimeError:
    which = "its output" if p is t else f"an input of shape {tuple(p._data.shape)}"
    return RuntimeError(
        f"backward: {which} of {t._prim.name!r} was modified in place (its .data was assigned) "
        "after the operation was recorded, so its gradient would be wrong; recompute the "
        "forward after modifying the tensor"
    )


def backward(
    root: Any,
    seed: Any,
    *,
    retain_graph: bool = False,
    create_graph: bool = False,
    targets: list[Any] | None = None,
) -> list[Any] | None:
    """Propagate ``seed`` (dL/droot) back through the graph that made ``root``.

    Without ``targets``, gradients accumulate into the ``.grad`` of every leaf that requires
    grad, as ``Tensor.backward`` does. With ``targets`` (a list of tensors), their gradients are
    returned in order (``None`` where unreachable), no ``.grad`` is touched, and the walk stops at
    the targets and prunes every node older than the oldest of them (it cannot lead to one).

    With ``create_graph`` the rules run on Tensors with chainrule's own differentiable namespace,
    so the gradients returned are themselves recorded and can be differentiated again.
    """
    if create_graph:
        from . import ops as diff_xp
    heap: list[tuple[int, Any]] = []
    reached: list[Any] = []  # leaves (or targets) that received a gradient
    target_ids: set[int] | None = None
    oldest = 0
    if targets is not None:
        target_ids = {id(t) for t in targets}
        oldest = min(t._seq for t in targets)
    root._gacc = seed
    nxt = None  # the node to process next, when known without the heap
    if root._prim is None or (target_ids is not None and id(root) in target_ids):
        reached.append(root)
    else:
        nxt = root
    anomaly = state.anomaly
    try:
        while True:
            if nxt is not None:
                t = nxt
                nxt = None
            elif heap:
                t = heappop(heap)[1]
            else:
                break
            g = t._gacc
            t._gacc = None
            args = t._args
            if args is None:
                raise _freed_error(t)
            parents = t._parents
            if parents.__class__ is not tuple:
                parents = (parents,)
            seq = t._seq
            if t._version > seq:
                raise _modified_error(t, t)
            vjps = t._prim.vjps
            if create_graph:
                xp = diff_xp
                out = t
                n = len(parents)
                args = (
                    tuple(p if p is not None else a for p, a in zip(parents, args[:n])) + args[n:]
                )
            else:
                xp = numpy_namespace if g.__class__ is ndarray else namespace_of(g)
                out = t._data
            i = -1
            for p in parents:
                i += 1
                if p is None:
                    continue
                if target_ids is not None and p._seq < oldest and id(p) not in target_ids:
                    continue
                if p._version > seq:
                    raise _modified_error(t, p)
                gi = vjps[i](xp, g, out, *args)
                pdata = p._data
                if gi.shape != pdata.shape:
                    gi = unbroadcast(gi, pdata.shape)
                if gi.dtype is not pdata.dtype and gi.dtype != pdata.dtype:
                    gi = gi.astype(pdata.dtype)
                if anomaly:
                    check_finite(gi._data if create_graph else gi, t._prim.name, "backward")
                if p._gacc is None:
                    p._gacc = gi
                    if p._prim is None or (target_ids is not None and id(p) in target_ids):
                        reached.append(p)
                    elif nxt is None and (not heap or p._seq > -heap[0][0]):
                        # In a chain the next node is the only one ready: skip the heap.
                        nxt = p
                    else:
                        if nxt is not None and nxt._seq < p._seq:
                            nxt, p = p, nxt
                        heappush(heap, (-p._seq, p))
                else:
                    p._gacc = p._gacc + gi
            if not retain_graph:
                t._args = None
                t._parents = None
    except BaseException:
        for _, t in heap:
            t._gacc = None
        if nxt is not None:
            nxt._gacc = None
        for t in reached:
            t._gacc = None
        raise

    if targets is not None:
        found = {}
        for t in reached:
            found[id(t)] = t._gacc
            t._gacc = None
        return [found.get(id(t)) for t in targets]

    # A rule may pass its incoming gradient through unchanged (add does), so one array can reach
    # several leaves, or be the caller's seed, or be a view: such arrays are copied before they
    # become a .grad that a user or an optimiser may modify in place.
    # Under create_graph the same holds for the Tensors' arrays; their copy is recorded (g * 1)
    # so that it stays differentiable.
    handed_out = {id(seed._data if create_graph else seed)}
    for leaf in reached:
        gacc = leaf._gacc
        leaf._gacc = None
        arr = gacc._data if create_graph else gacc
        flags = getattr(arr, "flags", None)
        if (
            id(arr) in handed_out
            or flags is None
            or not flags.owndata
            or not getattr(flags, "writeable", True)
        ):
            gacc = gacc * 1 if create_graph else gacc.copy()
            arr = gacc._data if create_graph else gacc
        handed_out.add(id(arr))
        leaf._accumulate_grad(gacc, create_graph)
    return None
