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
import weakref
from collections.abc import Callable
from heapq import heappop, heappush
from threading import get_ident, local
from typing import Any

from numpy import add, ndarray

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
    "register_post_accumulate_grad_hook",
    "register_hook",
    "retain_grad",
    "queue_callback",
    "RemovableHandle",
]

#: One counter for node order and in-place stamps (see the module docstring).
next_seq = itertools.count(1).__next__


class _State(local):
    """Grad, inference and anomaly mode of the calling thread (as in PyTorch).

    The defaults are class attributes, so a thread that never switched a mode reads them
    without an ``__init__`` having run for it: every new thread starts with grad enabled,
    inference and anomaly mode off, whatever the other threads are doing.

    Reading a flag of a ``threading.local`` takes about 50 ns where a plain slot takes about
    10, and every recorded operation needs two (grad mode, anomaly mode). So writes keep
    :data:`modes_switched` up to date (see :func:`_set_mode`): while it is empty, every thread
    has grad enabled and anomaly mode off, and the hot paths (``ops/define.py``, ``record``)
    skip the reads: ``x._rg and (not modes_switched or state.grad_enabled)``.
    """

    grad_enabled = True
    inference = False
    anomaly = False
    transform_depth = 0  # transforms (grad, vjp...) evaluating their function in this thread
    end_callbacks: list[Callable[[], None]] | None = None  # see queue_callback

    def __setattr__(self, name: str, value: Any) -> None:
        _set_mode(name, value)


#: Switches read on every operation; one attribute load each, private to the calling thread.
state = _State()
_DEFAULTS = {"grad_enabled": True, "inference": False, "anomaly": False}

#: The keys of the threads whose grad mode is off or anomaly mode on. Empty: every thread
#: records with grad mode on and anomaly mode off, without reading :data:`state`. A set, so
#: that adding and discarding a thread are single (atomic) operations, without a lock.
modes_switched: set[int] = set()


class _ThreadKey:
    """A thread's entry in :data:`modes_switched` (its ``id``), kept in the thread's
    :data:`state`: a thread that ends with a mode switched drops its locals, and with them this
    key, which then leaves the set (so the other threads' fast path comes back)."""

    __slots__ = ("id",)

    def __init__(self) -> None:
        self.id = id(self)

    def __del__(self) -> None:
        try:
            modes_switched.discard(self.id)
        except Exception:  # noqa: BLE001 - interpreter shutdown: the module is gone
            pass


def _thread_setup(modes: dict[str, Any]) -> list[tuple[Any, Any]]:
    """What a thread keeps in its :data:`state` once it switches a mode: its key for
    :data:`modes_switched` and the stack of the values its open switches will restore."""
    key = modes["_key"] = _ThreadKey()
    modes["_id"] = key.id
    stack: list[tuple[Any, Any]] = []
    modes["_stack"] = stack
    return stack


def _update_switched(modes: dict[str, Any]) -> None:
    """Enter the calling thread in :data:`modes_switched`, or take it out, from its ``modes``
    (its :data:`state`'s ``__dict__``: what it has set; the class holds the defaults)."""
    if "_id" not in modes:
        _thread_setup(modes)
    if modes.get("grad_enabled", True) and not modes.get("anomaly", False):
        modes_switched.discard(modes["_id"])
    else:
        modes_switched.add(modes["_id"])


def _set_mode(name: str, value: Any) -> None:
    """Set a mode of the calling thread (what ``state.<name> = value`` does)."""
    modes = state.__dict__  # the calling thread's own
    modes[name] = value
    if name == "grad_enabled" or name == "anomaly":
        _update_switched(modes)


def _restore(stack: list[tuple[Any, Any]], top: tuple[Any, Any], switch: Any) -> Any:
    """The value ``switch`` saved last on this thread's ``stack``, when ``top`` (just popped)
    is another switch's. Blocks close in the reverse order of opening, so the switch's own entry
    is on top, except when generators suspended inside blocks resume in another order: then it
    is the topmost entry of ``switch``."""
    stack.append(top)
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] is switch:
            return stack.pop(i)[1]
    raise RuntimeError(f"{type(switch).__name__}: exited in a thread that did not enter it")


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

    The flag belongs to the calling thread. The values to restore are kept per thread too (in
    the thread's :data:`state`), so one instance shared by several threads
    (``guard = cr.no_grad()`` at module level) restores each thread's own mode.
    """

    flag = "grad_enabled"

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        modes = state.__dict__  # the calling thread's own
        flag = self.flag
        saved = (self, modes.get(flag, _DEFAULTS[flag]))
        try:
            modes["_stack"].append(saved)
        except KeyError:  # the thread's first switch
            _thread_setup(modes).append(saved)
        modes[flag] = self.enabled
        # _update_switched(modes), inlined: a no_grad block is opened on every training step.
        if modes.get("grad_enabled", True) and not modes.get("anomaly", False):
            modes_switched.discard(modes["_id"])
        else:
            modes_switched.add(modes["_id"])

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        modes = state.__dict__
        stack = modes["_stack"]
        switch, value = stack.pop()
        if switch is not self:
            value = _restore(stack, (switch, value), self)
        modes[self.flag] = value
        if modes.get("grad_enabled", True) and not modes.get("anomaly", False):
            modes_switched.discard(modes["_id"])
        else:
            modes_switched.add(modes["_id"])

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)(self.enabled):
                return func(*args, **kwargs)

        return wrapper


class _GradMode(_Switch):
    flag = "grad_enabled"


# A switch keeps nothing between uses (what it restores is kept per thread), so no_grad() and
# enable_grad() return these two instead of making one per block.
_NO_GRAD = _GradMode(False)
_ENABLE_GRAD = _GradMode(True)


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
    return _NO_GRAD


def enable_grad() -> _GradMode:
    """Context manager / decorator that turns recording back on (inside ``no_grad``).

    Examples
    --------
    >>> import chainrule as cr
    >>> with cr.no_grad(), cr.enable_grad():
    ...     cr.is_grad_enabled()
    True
    """
    return _ENABLE_GRAD


class _SetGradEnabled(_GradMode):
    """Sets the mode as soon as it is made (a plain call switches it, as in PyTorch); as a
    context manager it restores the previous mode on exit."""

    def __init__(self, enabled: bool) -> None:
        super().__init__(enabled)
        # Kept in the instance, not the thread: a plain call never restores.
        self._prev = {get_ident(): state.grad_enabled}
        state.grad_enabled = enabled

    def __enter__(self) -> None:
        pass

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        state.grad_enabled = self._prev.pop(get_ident())

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        state.grad_enabled = self._prev.pop(get_ident())  # as a decorator: only inside func
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
        modes = state.__dict__
        saved = (self, (modes.get("grad_enabled", True), modes.get("inference", False)))
        try:
            modes["_stack"].append(saved)
        except KeyError:  # the thread's first switch
            _thread_setup(modes).append(saved)
        modes["grad_enabled"] = not self.enabled
        modes["inference"] = self.enabled
        _update_switched(modes)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        modes = state.__dict__
        stack = modes["_stack"]
        switch, value = stack.pop()
        if switch is not self:
            value = _restore(stack, (switch, value), self)
        modes["grad_enabled"], modes["inference"] = value
        _update_switched(modes)


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
    # On NumPy arrays add.reduce is what ndarray.sum calls, minus a Python-level wrapper.
    total = _add_reduce if g.__class__ is ndarray else _sum_method
    lead = len(gshape) - len(shape)
    if lead:
        g = total(g, _LEADING_AXES[lead] if lead < 8 else tuple(range(lead)))
        gshape = g.shape
        if gshape == shape:  # the common case: a bias added to a batch
            return g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and gshape[i] != 1)
    return total(g, axes, keepdims=True)


def _sum_method(g: Any, axis: tuple[int, ...], keepdims: bool = False) -> Any:
    return g.sum(axis=axis, keepdims=keepdims)


_LEADING_AXES = [tuple(range(n)) for n in range(8)]
_add_reduce = add.reduce


# ---------------------------------------------------------------------- gradient-ready hooks
# PyTorch's `register_post_accumulate_grad_hook`: a leaf's hooks run as soon as the walk has
# finished its gradient and added it to `.grad`, while the rest of the graph is still being
# walked (DistributedDataParallel starts a bucket's allreduce there). The registry is keyed by
# id() and holds a weak reference, so a hook never keeps its tensor alive. With no hook
# registered, backward pays one truth test of this dict per call and one integer comparison
# per node (`seq <= fire_at`, with fire_at = 0).
_grad_hooks: dict[int, tuple[Any, list[Callable[[Any], None]]]] = {}


class RemovableHandle:
    """What a hook registration returns: ``remove()`` unregisters the hook (idempotent).

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.ones(2, requires_grad=True)
    >>> h = w.register_post_accumulate_grad_hook(print)
    >>> h.remove(); (w * w).sum().backward(); w.grad.tolist()
    [2.0, 2.0]
    """

    __slots__ = ("_key", "_hook", "_registry")

    def __init__(
        self, key: int, hook: Callable[[Any], Any], registry: dict[int, Any] | None = None
    ) -> None:
        self._key = key
        self._hook = hook
        self._registry = _grad_hooks if registry is None else registry

    def remove(self) -> None:
        entry = self._registry.get(self._key)
        if entry is None:
            return
        hooks = entry[1]
        for i, h in enumerate(hooks):
            if h is self._hook:
                del hooks[i]
                break
        if not hooks and not (len(entry) > 2 and entry[2]):  # a retain_grad entry stays
            del self._registry[self._key]


def register_post_accumulate_grad_hook(leaf: Any, hook: Callable[[Any], None]) -> RemovableHandle:
    """Call ``hook(leaf)`` after each backward walk has accumulated ``leaf``'s gradient.

    The hook runs during the walk, as soon as every node that contributes to ``leaf``'s
    gradient has run, and sees the updated ``leaf.grad``. Only ``backward()`` (which fills
    ``.grad``) runs hooks; ``grad()``-style calls touch no ``.grad`` and run none.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> seen = []
    >>> h = w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    >>> (w * 3).sum().backward(); seen
    [[3.0, 3.0]]
    >>> h.remove()
    """
    if not callable(hook):
        raise TypeError(
            f"register_post_accumulate_grad_hook: hook must be callable, got {type(hook).__name__}"
        )
    if leaf._prim is not None or not leaf._rg:
        raise RuntimeError(
            f"register_post_accumulate_grad_hook: only a leaf tensor that requires grad "
            f"accumulates a .grad; got a tensor of shape {tuple(leaf._data.shape)} that is "
            f"{'not a leaf' if leaf._prim is not None else 'a leaf without requires_grad'}"
        )
    key = id(leaf)
    entry = _grad_hooks.get(key)
    if entry is None or entry[0]() is not leaf:
        entry = (weakref.ref(leaf, lambda _, key=key: _grad_hooks.pop(key, None)), [])
        _grad_hooks[key] = entry
    entry[1].append(hook)
    return RemovableHandle(key, hook)


# ------------------------------------------------------------------------------ tensor hooks
# PyTorch's `Tensor.register_hook(fn)` and `retain_grad()`: when the walk has the complete
# gradient flowing into a hooked tensor (a node: when it is popped, before its rule runs; a
# leaf: before the gradient is added to .grad), each hook is called with it and may return a
# replacement, which is what flows on. A non-leaf that retains its grad then accumulates it
# into its .grad. Keyed by id() with a weak reference, as the hooks above; entries are
# [weakref, hooks, retains_grad]. With none registered, backward pays one truth test of this
# dict per call and one test of a local flag per node.
_tensor_hooks: dict[int, list[Any]] = {}


def _tensor_entry(t: Any, op: str) -> list[Any]:
    if not t._rg:
        raise RuntimeError(
            f"{op}: the tensor of shape {tuple(t._data.shape)} does not require grad, so no "
            f"gradient will flow into it; create it with requires_grad=True"
        )
    key = id(t)
    entry = _tensor_hooks.get(key)
    if entry is None or entry[0]() is not t:
        entry = [weakref.ref(t, lambda _, key=key: _tensor_hooks.pop(key, None)), [], False]
        _tensor_hooks[key] = entry
    return entry


def register_hook(t: Any, hook: Callable[[Any], Any]) -> RemovableHandle:
    """Call ``hook(grad)`` with the gradient flowing into ``t`` during each backward walk.

    ``grad`` is a Tensor of ``t``'s shape (recorded under ``create_graph=True``); a hook that
    returns a Tensor or array replaces the gradient from there on (for a leaf, what is added
    to ``.grad``). Hooks run in registration order, also in walks that return gradients
    (``autodiff.backward(..., targets=...)``); ``cr.grad(f)(x)`` differentiates a fresh copy
    of ``x``, so hooks registered on ``x`` do not run there.

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x * 3
    >>> h = y.register_hook(lambda g: g * 10)
    >>> y.sum().backward(); x.grad.tolist()
    [30.0, 30.0]
    """
    if not callable(hook):
        raise TypeError(f"register_hook: hook must be callable, got {type(hook).__name__}")
    entry = _tensor_entry(t, "register_hook")
    entry[1].append(hook)
    return RemovableHandle(id(t), hook, _tensor_hooks)


def retain_grad(t: Any) -> None:
    """Make the non-leaf ``t`` keep its gradient in ``.grad`` after ``backward()`` (a leaf
    that requires grad keeps it anyway).

    Examples
    --------
    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> y = x * x
    >>> retain_grad(y); (y * 3).sum().backward(); y.grad.tolist()
    [3.0, 3.0]
    """
    if t._prim is None and t._rg:
        return
    _tensor_entry(t, "retain_grad")[2] = True


def _run_tensor_hooks(t: Any, g: Any, create_graph: bool, retain: bool) -> Any:
    """The gradient ``g`` of ``t`` after its hooks; stores it in a retaining node's .grad."""
    entry = _tensor_hooks.get(id(t))
    if entry is None or entry[0]() is not t:
        return g
    if entry[1]:
        from .tensor import Tensor, _leaf

        for hook in tuple(entry[1]):
            new = hook(g if create_graph else _leaf(g))
            if new is None:
                continue
            if create_graph:
                new = new if isinstance(new, Tensor) else _leaf(new)
                arr = new._data
            else:
                arr = new = new._data if isinstance(new, Tensor) else new
            if getattr(arr, "shape", None) != t._data.shape:
                raise RuntimeError(
                    f"register_hook: a hook returned a gradient of shape "
                    f"{getattr(arr, 'shape', type(arr).__name__)} for a tensor of shape "
                    f"{tuple(t._data.shape)}; it must keep the shape"
                )
            if arr.dtype != t._data.dtype:
                new = new.astype(t._data.dtype)
            g = new
    if retain and entry[2] and t._prim is not None:
        t._accumulate_grad(g if create_graph else g.copy(), create_graph)
    return g


def queue_callback(callback: Callable[[], None]) -> None:
    """Run ``callback()`` once, when the backward walk in progress ends (from a hook).

    PyTorch's ``Variable._execution_engine.queue_callback``: DistributedDataParallel queues
    the wait for its last allreduces this way.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.ones(1, requires_grad=True)
    >>> h = w.register_post_accumulate_grad_hook(lambda t: queue_callback(lambda: print("end")))
    >>> (w * 2).sum().backward()
    end
    >>> h.remove()
    """
    queued = state.end_callbacks
    if queued is None:
        raise RuntimeError(
            "queue_callback: no backward walk with gradient hooks is in progress in this "
            "thread; call it from a hook registered with register_post_accumulate_grad_hook"
        )
    queued.append(callback)


def _hooked_leaves(root: Any) -> list[tuple[int, Any]]:
    """The hooked leaves reachable from ``root``, each with the ``_seq`` of its last consumer.

    The walk visits nodes in decreasing ``_seq``, so a leaf's gradient is complete once the
    consumer with the smallest ``_seq`` has run. Sorted by that number, smallest first, so
    ``pop()`` gives the leaf that completes next.
    """
    last: dict[int, tuple[int, Any]] = {}
    seen = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        parents = t._parents
        if parents is None:
            continue
        if parents.__class__ is not tuple:
            parents = (parents,)
        seq = t._seq
        for p in parents:
            if p is None:
                continue
            if p._prim is None:
                key = id(p)
                if key in _grad_hooks and (key not in last or seq < last[key][0]):
                    last[key] = (seq, p)
            elif id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return sorted(last.values(), key=lambda e: e[0])


def _hand_over(leaves: list[Any], create_graph: bool, handed_out: set[int]) -> None:
    """Add each leaf's finished gradient (its ``_gacc``) to its ``.grad``.

    A rule may pass its incoming gradient through unchanged (add does), so one array can reach
    several leaves, or be the caller's seed, or be a view: such arrays are copied before they
    become a .grad that a user or an optimiser may modify in place. Under create_graph the same
    holds for the Tensors' arrays; their copy is recorded (g * 1) so that it stays
    differentiable.
    """
    for leaf in leaves:
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


def _deliver(leaf: Any, create_graph: bool, handed_out: set[int]) -> None:
    """Run a leaf's tensor hooks on its finished gradient, add it to its ``.grad``
    (:func:`_hand_over`) and run its post-accumulate hooks.

    Backward calls this for each leaf only when some hook is registered or this function has
    been replaced (``cr.compile`` wraps it while tracing, to record the hand-over); otherwise
    it hands all leaves over in one :func:`_hand_over` call.
    """
    if _tensor_hooks:
        leaf._gacc = _run_tensor_hooks(leaf, leaf._gacc, create_graph, True)
    _hand_over((leaf,), create_graph, handed_out)
    if _grad_hooks:
        entry = _grad_hooks.get(id(leaf))
        if entry is not None:
            for hook in tuple(entry[1]):
                hook(leaf)


_DELIVER = _deliver  # to tell whether it is wrapped


def _fire(
    pending: list[tuple[int, Any]], below: int, create_graph: bool, handed_out: set[int]
) -> int:
    """Deliver the hooked leaves of ``pending`` whose last consumer's ``_seq`` is above
    ``below`` (the walk has run them all); return the ``_seq`` at which the next one fires."""
    while pending and pending[-1][0] > below:
        leaf = pending.pop()[1]
        if leaf._gacc is not None:
            _deliver(leaf, create_graph, handed_out)
    return pending[-1][0] if pending else 0


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
    # Leaves with post-accumulate-grad hooks get their .grad (and run their hooks) inside the
    # walk, as soon as it has run their last consumer (when it pops an older node, or ends),
    # instead of all together at the end.
    pending: list[tuple[int, Any]] = []
    fire_at = 0  # the _seq of the next leaf's last consumer; 0: no hooked leaf pending
    queued = None  # callbacks the hooks queue for the end of this walk
    handed_out = {id(seed._data if create_graph else seed)}
    if _grad_hooks and targets is None:
        pending = _hooked_leaves(root)
        if pending:
            fire_at = pending[-1][0]
            queued = state.end_callbacks = []
    root._gacc = seed
    nxt = None  # the node to process next, when known without the heap
    if root._prim is None or (target_ids is not None and id(root) in target_ids):
        reached.append(root)
    else:
        nxt = root
    anomaly = state.anomaly if modes_switched else False
    hooked = True if _tensor_hooks else False
    watch = hooked or fire_at > 0  # else the walk pays one test per node for the hooks
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
            if watch:
                if t._seq < fire_at:  # every consumer of some hooked leaf has run
                    fire_at = _fire(pending, t._seq, create_graph, handed_out)
                if hooked and id(t) in _tensor_hooks:
                    g = _run_tensor_hooks(t, g, create_graph, targets is None)
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
        if pending:
            _fire(pending, 0, create_graph, handed_out)
    except BaseException:
        if queued is not None:
            state.end_callbacks = None
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
            if hooked and id(t) in _tensor_hooks:
                found[id(t)] = _run_tensor_hooks(t, found[id(t)], create_graph, False)
        return [found.get(id(t)) for t in targets]

    if _deliver is _DELIVER and not _tensor_hooks and not _grad_hooks:
        _hand_over(reached, create_graph, handed_out)  # the common case, in one call
    else:
        for leaf in reached:
            if leaf._gacc is not None:  # None: delivered inside the walk (it has hooks)
                _deliver(leaf, create_graph, handed_out)
    if queued is not None:
        state.end_callbacks = None
        for callback in queued:
            callback()
    return None
