"""Capture a step once, replay it without Tensors, nodes or the backward walk.

``cr.compile(fn)`` runs ``fn`` eagerly on its first call for a given set of input shapes and
dtypes, and records, as it goes, every NumPy call that touches a value derived from the
inputs: the forward, the backward rules (``loss.backward()`` inside ``fn``) and the
gradients that land on the leaves. Later calls with the same shapes and dtypes replay that
flat list of NumPy calls on the new inputs: no Tensor, graph node, dispatch or backward walk
is made per operation, which is what dominates a small step.

How the capture works (the same idea as ``jax.jit``'s tracer or ``torch.jit.trace``, at the
NumPy level): the inputs are wrapped as a marker subclass of ``ndarray`` whose
``__array_ufunc__``, ``__array_function__`` and view methods record each call with its
operands (a traced value by its slot, anything else by reference) and compute it on plain
arrays; while tracing, reading a Tensor's array (a weight) makes it a slot too, read afresh
from that Tensor at every replay. ``opt.step()`` and ``opt.zero_grad()`` inside ``fn`` are
recorded as calls: the replay hands them the replayed gradients and runs them as they are
(their Python state, the step count of Adam, the learning rate a scheduler set, stays live).
Draws from chainrule's global generator (dropout) are replayed as draws.

The replay is one generated Python function, a line per NumPy call. Before it is generated,
calls whose results nothing reads are dropped, constant arrays (``arange(n)``, the
``ones_like`` seed of ``backward`` and what is computed from constants alone) are made once,
a chain of elementwise calls is evaluated in place in one buffer (``out=`` the operand read
for the last time), each temporary is released right after the call that reads it last, and
the results of 4 KiB and more that never leave the step (not returned, not a gradient handed
to a leaf or to ``opt.step``, no view of them either) are written into buffers the program
keeps between replays (``out=``), as PyTorch's caching allocator keeps its blocks: no
allocation and no page faults per step. A replay that finds the buffers in use (another
thread replaying the same program) makes its own.
None of these changes a result bit: every call that remains computes what it computed eagerly,
on the same values, in the same order.

Python reads of traced values (``bool``, ``int``, ``float``, ``.item()``: a branch on a
value, cross-entropy's check that the labels are in range) are specialised and guarded, and
checked first where they depend on the inputs alone: a call whose value differs from a trace's is
traced again as a variant (up to 4 per signature), beyond that run eagerly (``fallbacks``),
with the same random draws. Limitations, each caught where it can be:

* A guarded value that changes *after* the step has written state (weights, gradients,
  buffers) cannot fall back: :class:`TraceError`, which names the read. Keep data-dependent
  Python decisions out of the step (``cr.where``, masks), or make them before any update.
* BatchNorm in training mode with running statistics is refused at trace time (its running
  averages are updated with Python-number factors the trace cannot see); eval mode and
  ``track_running_stats=False`` compile.
* ``fn`` must return Tensors, arrays, Python constants, or (nested) tuples, lists and dicts of
  them; returned Tensors are detached (no ``grad_fn``), as ``jax.jit`` returns arrays; a
  weight returned is the weight itself.
* Inputs are arrays and Tensors that do not require grad (parameters live in modules or
  closures: their arrays are read afresh at every replay, so updates and ``p.data = ...``
  between calls are seen; a changed shape runs eagerly). A leaf that already holds a
  ``.grad`` from outside the step when the backward inside reaches it is refused (call
  ``opt.zero_grad()`` inside ``fn``).
* A ``numpy.random.Generator`` passed explicitly (``dropout(generator=rng)``) cannot be
  traced (its draw would be replayed as a constant): the trace raises :class:`TraceError`.
  Use the global generator (``cr.manual_seed``).
* One trace at a time, and not alongside other threads' NumPy work (a trace briefly patches
  NumPy's array constructors and ``Tensor._data``).

A new input shape or dtype traces again; at most ``cache_size`` traces are kept (least
recently used dropped). Replays reproduce eager results bit for bit: the same NumPy calls run
in the same order on the same values.

**On a GPU** (an input is a CuPy array, and the model lives on the same GPU), the first call
is a rehearsal on host copies of the inputs and weights: it records the step as above, runs no
update (``opt.step()`` is recorded, not run) and puts back every gradient and array it set.
The recorded NumPy calls are then translated to their CuPy counterparts, and each run of two
or more elementwise calls with one result shape (a bias add and its ReLU, softmax's shift and
exponential, tanh's rule) becomes one kernel with ``cupy.fuse``: a small GPU step is bound by
kernel launches, not arithmetic. That program is run for the first call's results and
replayed afterwards. Host arrays passed beside GPU ones (labels) are moved to the GPU, as
chainrule's eager functions move them. Results equal eager CuPy's up to the rounding of a
fused kernel (the compiler may contract ``a * b + c`` into one fused multiply-add: about one
float32 ulp per contraction). A step that the translation cannot do (random draws: dropout;
a NumPy function CuPy lacks; ``zero_grad(set_to_none=False)``) runs eagerly for that input
signature, with one ``RuntimeWarning`` saying why (``Compiled.eager_reason``). Python side
effects of ``fn`` happen at the rehearsal only, as in ``jax.jit``: once per trace, not per
call (and twice on a first call that then runs eagerly).
"""

from __future__ import annotations

import builtins
import functools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import autodiff
from . import random as _random
from .backend import namespace_of, numpy_namespace
from .tensor import Tensor, _leaf

__all__ = ["compile", "Compiled", "TraceError"]

_ndarray = np.ndarray
_asarray = np.asarray  # NumPy's own, whatever a trace patches
_lock = threading.RLock()
_tls = threading.local()  # .active: the tracer recording on this thread (None when not)
_tls.active = None


class TraceError(RuntimeError):
    """A step could not be captured faithfully (data-dependent control flow, an untracked
    value); the message names the operation."""


def _explicit_generators_refused(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """chainrule.random.resolve while tracing: a draw from an explicitly passed generator would
    be replayed as a constant (the same dropout mask at every step), so the trace refuses it."""

    def traced(generator: Any) -> Any:
        if generator is not None and _tls_active() is not None:
            raise TraceError(
                "compile: a random draw from an explicitly passed generator (e.g. "
                "dropout(generator=...), nn.Dropout(generator=...)) cannot be replayed: it would "
                "repeat the same draw at every call. Draw from the global generator "
                "(cr.manual_seed) inside a compiled step, or run the step eagerly"
            )
        return resolve(generator)

    return traced


class _Slot:
    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i

    def __repr__(self) -> str:
        return f"%{self.i}"


_CONTROL = (
    "compile: {what} of a traced value changed from the traced call ({old!r}, now {new!r}) "
    "after the step had already updated weights, gradients or buffers, so it can neither be "
    "replayed nor rerun eagerly: the trace froze one branch of data-dependent Python control "
    "flow. Keep such decisions out of the compiled function (use cr.where, masks), or make "
    "them before the first in-place update"
)


class _GuardFailed(Exception):
    """A Python value read from a traced value differs from the trace: run eagerly instead."""


class _Guard:
    """Replays a Python read of a traced value (``bool``, ``int``, ``.item()``...): the value
    must equal the traced one, else the step is not this trace's step. The replay inlines the
    read and the comparison (see ``_emit``) and calls :meth:`failed` on a mismatch."""

    __slots__ = ("read", "expected", "late", "what")

    def __init__(self, read: Any, expected: Any, late: bool, what: str) -> None:
        self.read, self.expected, self.late, self.what = read, expected, late, what

    def failed(self, got: Any) -> None:
        if self.late:
            raise TraceError(_CONTROL.format(what=self.what, old=self.expected, new=got))
        raise _GuardFailed


class _Traced(np.ndarray):
    """Marker subclass: a value computed from the compiled function's inputs."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if any(isinstance(a, Tensor) for a in inputs) or any(
            isinstance(a, Tensor) for a in kwargs.get("out", ())
        ):
            return NotImplemented  # the Tensor's own operator records it, on raw operands
        return _tracer().call(getattr(ufunc, method), inputs, kwargs, f"{ufunc.__name__}.{method}")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return _tracer().call(func, args, kwargs, getattr(func, "__name__", repr(func)))

    def __bool__(self) -> bool:
        return _tracer().guard(self, _ndarray.__bool__, "the truth value")

    def __float__(self) -> float:
        return _tracer().guard(self, _ndarray.__float__, "float()")

    def __int__(self) -> int:
        return _tracer().guard(self, _ndarray.__int__, "int()")

    def __index__(self) -> int:
        return _tracer().guard(self, _ndarray.__index__, "use as an index")

    def __complex__(self) -> complex:
        return _tracer().guard(self, _ndarray.__complex__, "complex()")

    def item(self, *args: Any) -> Any:
        return _tracer().guard(self, lambda a: _ndarray.item(a, *args), ".item()")

    def tolist(self) -> Any:
        return _tracer().guard(self, _ndarray.tolist, ".tolist()")

    def __iter__(self) -> Any:
        return iter([self[i] for i in range(len(self))])

    def __reduce__(self) -> Any:
        raise TraceError("compile: a traced value cannot be pickled or saved inside the step")

    @property
    def T(self) -> Any:  # noqa: N802 - ndarray's name
        return _tracer().call(_ndarray.transpose, (self,), {}, "T")

    @property
    def mT(self) -> Any:  # noqa: N802 - ndarray's name
        return _tracer().call(np.swapaxes, (self, -1, -2), {}, "mT")


def _method(name: str) -> Callable[..., Any]:
    base = getattr(_ndarray, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _tracer().call(base, (self, *args), kwargs, name)

    method.__name__ = name
    return method


# ndarray methods that compute in C without calling a ufunc or array function: recorded.
for _name in (
    "reshape", "transpose", "swapaxes", "squeeze", "ravel", "flatten", "copy", "astype",
    "view", "__getitem__", "__setitem__", "fill", "dot", "take", "repeat", "argmax", "argmin",
    "diagonal", "cumsum", "cumprod", "sort", "argsort", "round", "nonzero", "searchsorted",
    "put", "partition", "argpartition", "trace", "clip", "conj", "conjugate", "__copy__",
    "__deepcopy__",
):  # fmt: skip
    setattr(_Traced, _name, _method(_name))


def _tls_active() -> _Tracer | None:
    return getattr(_tls, "active", None)


def _plain(value: Any) -> Any:
    """The plain ndarray behind a traced face (same memory)."""
    return _ndarray.view(value, _ndarray)


def _tracer() -> _Tracer:
    if _tls_active() is None:
        raise TraceError("compile: a traced value was used after its trace ended")
    return _tls_active()


# Functions that return shapes, dtypes or flags, never values: their results are static.
_STATIC = {
    np.shape, np.ndim, np.size, np.result_type, np.can_cast, np.iterable, np.broadcast_shapes,
    np.min_scalar_type, np.isscalar,
}  # fmt: skip
# NumPy functions that take no __array_function__ dispatch (their ``like=`` decides), so a
# traced operand would come back a plain array the trace never saw: patched while tracing.
_CREATORS = (
    "zeros", "empty", "ones", "full", "eye", "identity", "arange", "asarray", "array",
    "asanyarray", "ascontiguousarray", "asfortranarray", "frombuffer", "fromiter",
)  # fmt: skip
# Calls that always return a new array (never a view of an operand).
_FRESH = {
    np.zeros, np.empty, np.ones, np.full, np.eye, np.identity, np.arange, np.zeros_like,
    np.empty_like, np.ones_like, np.full_like, np.copy,
}  # fmt: skip
# Calls whose result depends on their operands' shapes and dtypes only, never their values.
_VALUE_FREE = {np.zeros_like, np.ones_like}


class _Tracer:
    """The recording: slots (values made in the trace) and the list of calls that made them."""

    def __init__(self) -> None:
        self.values: list[Any] = []  # the trace-time value of each slot
        self.slot_of: dict[int, int] = {}
        self.ops: list[tuple[Any, ...]] = []
        self.leaves: list[Tensor] = []
        self.written = False  # whether state outside the trace was written yet
        self.fresh: set[int] = set()  # slots holding new arrays (not views, not external)
        self.ext: dict[int, tuple[Any, Any, Any]] = {}  # id(tensor) -> (tensor, array, face)
        self.rebound: list[Tensor] = []
        self.tensors: dict[int, Tensor] = {}  # every Tensor that existed before and was read
        self.owners: dict[int, int] = {}  # id(array owning its memory) -> its slot
        self.ext_slots: set[int] = set()  # slots that are (views of) weights and buffers
        # A GPU step is traced on host copies (see _trace): ``device`` is CuPy then, and
        # ``undo`` lists the (tensor, attribute, value) that the trace changed, restored after.
        self.device: Any = None
        self.undo: list[tuple[Any, str, Any]] = []

    def external(self, t: Tensor, arr: Any) -> Any:
        """A Tensor's array read inside the step (a weight, a constant): a slot that every
        replay reads afresh from the Tensor, so updates and rebinding between calls are seen."""
        hit = self.ext.get(id(t))
        if hit is not None and hit[1] is arr:
            return hit[2]
        face = self.new_slot(_host_copy(arr) if self.device is not None else arr)
        slot = _Slot(self.slot_of[id(face)])
        self.ops.append((_Read(t, arr.shape, arr.dtype, self.written), (), {}, slot))
        self.ext_slots.add(slot.i)
        self.ext[id(t)] = (t, arr, face)
        self.tensors[id(t)] = t
        return face

    def guard(self, value: Any, read: Any, what: str) -> Any:
        got = read(_plain(value))
        self.ops.append((_Guard(read, got, self.written, what), (self.template(value),), {}, None))
        return got

    # ------------------------------------------------------------------ slots
    def new_slot(self, value: Any) -> Any:
        """Register a raw result as a new slot; returns its traced face."""
        if value.__class__ is not _ndarray:
            value = _asarray(value)
        traced = _ndarray.view(value, _Traced)
        self.slot_of[id(traced)] = len(self.values)
        if value.base is None:  # owns its memory: views of it can be rebuilt from the slot
            self.owners[id(value)] = len(self.values)
        self.values.append(traced)  # kept alive: ids stay unique during the trace
        return traced

    def template(self, value: Any) -> Any:
        """``value`` with traced arrays replaced by their slots (constants by reference)."""
        cls = value.__class__
        if cls is _Traced:
            slot = self.slot_of.get(id(value))
            if slot is None:
                raise TraceError(
                    "compile: a traced value was made by an operation the trace cannot record "
                    f"(shape {value.shape}, dtype {value.dtype})"
                )
            return _Slot(slot)
        if cls is _ndarray:
            return self.alias(value)
        if cls is tuple or cls is list:
            items = [self.template(v) for v in value]
            return items if cls is list else tuple(items)
        if cls is dict:
            return {k: self.template(v) for k, v in value.items()}
        if isinstance(value, Tensor):
            raise TraceError("compile: a Tensor reached NumPy inside the trace; internal error")
        return value

    def alias(self, arr: _ndarray) -> Any:
        """A plain array sharing memory with a value of the trace (``np.asarray`` of a traced
        value, a view NumPy made inside a function it runs in C): that slot, or a view of the
        slot that owns the memory, rebuilt at every replay with the same shape, strides and
        offset. Any other array is a constant, used by reference."""
        owner = arr
        while owner.base is not None and isinstance(owner.base, _ndarray):
            owner = owner.base
            if owner.__class__ is _Traced:
                slot = self.slot_of.get(id(owner))
                if slot is not None and _same_view(arr, owner):
                    return _Slot(slot)
        slot = self.owners.get(id(owner))
        if slot is None:
            return arr
        base = self.values[slot]
        if _same_view(arr, base):
            return _Slot(slot)
        offset = arr.__array_interface__["data"][0] - base.__array_interface__["data"][0]
        view = _View(arr.shape, arr.strides, arr.dtype, offset, base.shape, base.strides)
        face = self.new_slot(view(_plain(base)))
        out = _Slot(self.slot_of[id(face)])
        if slot in self.ext_slots:
            self.ext_slots.add(out.i)
        self.ops.append((view, (_Slot(slot),), {}, out))
        return out

    def raw(self, value: Any) -> Any:
        return _map_nested(value, lambda v: _plain(v) if v.__class__ is _Traced else v)

    def wrap(self, result: Any, name: str) -> tuple[Any, Any]:
        """(the traced face of ``result``, its template of output slots)."""
        if isinstance(result, (_ndarray, np.generic)):
            traced = self.new_slot(result)
            return traced, _Slot(self.slot_of[id(traced)])
        if result is None:
            return None, None
        if isinstance(result, (tuple, list)) and any(
            isinstance(r, (_ndarray, np.generic)) for r in result
        ):
            pairs = [self.wrap(r, name) for r in result]
            faces = [p[0] for p in pairs]
            return (faces if isinstance(result, list) else tuple(faces)), tuple(p[1] for p in pairs)
        raise TraceError(
            f"compile: {name} returned the Python value {result!r} computed from a traced "
            "value; the trace would freeze it. Keep it an array, or compute it outside"
        )

    # ------------------------------------------------------------------ recording
    def call(self, func: Any, args: Any, kwargs: Any, name: str) -> Any:
        targs = self.template(tuple(args))
        tkwargs = self.template(dict(kwargs))
        _tls.active = None  # NumPy's own Python code inside func is part of this one call
        try:
            result = func(*self.raw(tuple(args)), **self.raw(dict(kwargs)))
        finally:
            _tls.active = self
        if func in _STATIC:
            return result
        out = kwargs.get("out")
        if out is not None:
            # Written into existing arrays: the result is those arrays, traced or not.
            self.ops.append((func, targs, tkwargs, None))
            if any(self.is_external(o) for o in (out if isinstance(out, tuple) else (out,))):
                self.written = True
            if isinstance(out, tuple):
                return out[0] if len(out) == 1 else out
            return out
        if name == "__setitem__" or (result is None and name.endswith(".at")):
            self.ops.append((func, targs, tkwargs, None))
            if self.is_external(args[0]):
                self.written = True
            return None
        face, slots = self.wrap(result, name)
        made = _slots_in(slots, [])
        if _ufunc_of(func) is not None or func in _FRESH or isinstance(func, _Draw):
            self.fresh.update(made)
        elif self.ext_slots.intersection(_slots_in((targs, tkwargs), [])):
            self.ext_slots.update(made)  # may be a view of a weight or a buffer
        # A NumPy scalar result is kept a 0-d array, in the trace and in every replay.
        self.ops.append((func, targs, tkwargs, slots))
        if isinstance(result, np.generic):
            self.ops[-1] = (func, targs, tkwargs, ("scalar", slots))
        return face

    def is_external(self, value: Any) -> bool:
        """Whether writing into ``value`` writes state that outlives the step."""
        if value.__class__ is not _Traced:
            return True
        return self.slot_of.get(id(value)) in self.ext_slots

    def host(self, func: Callable[..., Any], *args: Any, writes: bool = True) -> None:
        """A Python call replayed as it is (optimiser steps, gradient bindings); ``writes``:
        whether rerunning the step eagerly after it would differ (``zero_grad`` would not)."""
        targs = tuple(self.template(a) if isinstance(a, _ndarray) else a for a in args)
        self.ops.append((func if isinstance(func, _Bind) else _Host(func), targs, {}, None))
        self.written = self.written or writes


# ---------------------------------------------------------------------- patches while tracing
def _creator(name: str, original: Any) -> Any:
    @functools.wraps(original)
    def create(*args: Any, **kwargs: Any) -> Any:
        tracer = _tls_active()
        if tracer is None or kwargs.get("like") is not None:
            return original(*args, **kwargs)
        if (
            name in ("asarray", "array", "asanyarray", "ascontiguousarray", "asfortranarray")
            and args
            and not isinstance(args[0], (_ndarray, np.generic, int, float, complex, list, tuple))
            and hasattr(args[0], "__array_interface__")
        ):  # fmt: skip
            raise TraceError(
                f"compile: np.{name} of a {type(args[0]).__name__} (raw memory) inside the "
                "step cannot be replayed"
            )
        # Made inside the step: a fresh array at every replay (a scratch buffer filled in
        # place must start from its initial value each time).
        return tracer.call(original, args, kwargs, name)

    return create


_DATA = Tensor.__dict__["_data"]  # the slot behind Tensor._data


class _Read:
    """Replays a read of a Tensor's array (a weight, a buffer): the array it holds now. The
    replay inlines the read and the checks of its kind, shape and dtype (see ``_emit``) and
    calls :meth:`failed` on a mismatch."""

    __slots__ = ("tensor", "shape", "dtype", "late")

    def __init__(self, tensor: Tensor, shape: tuple[int, ...], dtype: Any, late: bool) -> None:
        self.tensor, self.shape, self.dtype, self.late = tensor, shape, dtype, late

    def failed(self, arr: Any) -> None:
        """The tensor now holds an array of another shape, dtype or kind: not this trace."""
        if self.late:
            raise TraceError(
                f"compile: a tensor read inside the step changed from shape {self.shape} "
                f"{self.dtype} to {getattr(arr, 'shape', '?')} {getattr(arr, 'dtype', '?')} "
                "after the step had already written state; it cannot be replayed"
            )
        raise _GuardFailed


def _same_view(a: _ndarray, b: _ndarray) -> bool:
    return (
        a.shape == b.shape
        and a.strides == b.strides
        and a.dtype == b.dtype
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )


class _View:
    """Rebuilds a view NumPy made without the trace seeing it (inside ``ascontiguousarray``,
    a C function): the same shape, strides and byte offset into the array that owns it."""

    __slots__ = ("shape", "strides", "dtype", "offset", "base_shape", "base_strides")

    def __init__(
        self, shape: Any, strides: Any, dtype: Any, offset: int, base_shape: Any, base_strides: Any
    ) -> None:
        self.shape, self.strides, self.dtype, self.offset = shape, strides, dtype, offset
        self.base_shape, self.base_strides = base_shape, base_strides

    def __call__(self, base: Any) -> Any:
        if base.shape != self.base_shape or base.strides != self.base_strides:
            raise TraceError(
                f"compile: an array of shape {base.shape} and strides {base.strides} came out "
                f"of a replayed call that made shape {self.base_shape} and strides "
                f"{self.base_strides} when traced; the step cannot be replayed"
            )
        if not (base.flags.c_contiguous or base.flags.f_contiguous):
            raise TraceError("compile: a view of a non-contiguous array cannot be rebuilt")
        return _ndarray(
            self.shape, self.dtype, buffer=base, offset=self.offset, strides=self.strides
        )


class _Rebind:
    """Replays ``t.data = value`` on a Tensor that existed before the step."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor

    def __call__(self, value: Any) -> None:
        _DATA.__set__(self.tensor, value)


def _data_get(t: Tensor) -> Any:
    arr = _DATA.__get__(t, Tensor)
    tracer = _tls_active()
    if tracer is None:
        return arr
    if arr.__class__ is not _ndarray:
        if not _on_device(arr) or arr.__class__ is _Traced:
            return arr
        if tracer.device is None:
            raise TraceError(
                f"compile: the step reads a GPU array (shape {arr.shape}, {arr.dtype}) but its "
                "inputs are NumPy arrays; pass the inputs on the same GPU as the model"
            )
    return tracer.external(t, arr)


def _data_set(t: Tensor, value: Any) -> None:
    tracer = _tls_active()
    if tracer is not None and tracer.device is not None:
        try:
            tracer.undo.append((t, "_data", _DATA.__get__(t, Tensor)))
        except AttributeError:  # a Tensor made inside the step: nothing to put back
            pass
    if tracer is not None and id(t) in tracer.ext:
        tracer.ops.append((_Rebind(t), (tracer.template(value),), {}, None))
        tracer.written = True
        del tracer.ext[id(t)]
        tracer.rebound.append(t)
    _DATA.__set__(t, value)


def _no_running_stats(original: Any) -> Any:
    def batch_norm(x: Any, running_mean: Any, running_var: Any, *args: Any, **kw: Any) -> Any:
        training = args[2] if len(args) > 2 else kw.get("training", False)
        if _tls_active() is not None and training and running_mean is not None:
            raise TraceError(
                "compile: BatchNorm in training mode updates its running statistics (and "
                "num_batches_tracked) in place with Python numbers, which a trace cannot "
                "replay; compile the step with the model in eval mode, or build the layer with "
                "track_running_stats=False, or leave this step eager"
            )
        return original(x, running_mean, running_var, *args, **kw)

    return batch_norm


class _Host:
    """A Python call replayed as it is: ``opt.step()``, ``opt.zero_grad()``."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)


class _Bind:
    """Hands a leaf the gradient a replay computed, as the backward walk does eagerly. The
    first binding of a leaf in a step requires its ``.grad`` to be None, as it was when the
    step was traced (eagerly the walk would add to it)."""

    __slots__ = ("first",)

    def __init__(self, first: bool) -> None:
        self.first = first

    def __call__(self, leaf: Tensor, grad: Any) -> None:
        if self.first and leaf._grad is not None:
            raise TraceError(
                f"compile: a leaf of shape {tuple(leaf._data.shape)} holds a .grad when the "
                "replayed backward reaches it, which it did not when the step was traced "
                "(eagerly the gradient would be added to it); clear gradients inside the "
                "compiled function (opt.zero_grad()) or before every call"
            )
        leaf._grad = _leaf(grad)


def _clear_grads(*leaves: Tensor) -> None:
    for leaf in leaves:
        leaf._grad = None


def _deliver(original: Any) -> Any:
    def deliver(leaf: Any, create_graph: bool, handed_out: set[int]) -> None:
        tracer = _tls_active()
        if tracer is None:  # another thread's backward while this one traces
            return original(leaf, create_graph, handed_out)
        old = leaf._grad
        if create_graph:
            raise TraceError("compile: backward(create_graph=True) inside a compiled step")
        if old is not None and _DATA.__get__(old, Tensor).__class__ is not _Traced:
            leaf._gacc = None  # the walk ends here: leave no traced value behind
            raise TraceError(
                f"compile: a leaf of shape {_DATA.__get__(leaf, Tensor).shape} already holds "
                "a .grad made before this step, which the backward inside the step adds to; call "
                "opt.zero_grad() (or set .grad = None) inside the compiled function"
            )
        if tracer.device is not None:
            tracer.undo.append((leaf, "_grad", old))
        original(leaf, create_graph, handed_out)
        first = not any(x is leaf for x in tracer.leaves)
        tracer.host(_Bind(first), leaf, _DATA.__get__(leaf._grad, Tensor))
        if first:
            tracer.leaves.append(leaf)

    return deliver


def _opt_step(original: Any) -> Any:
    def step(self: Any, closure: Any = None) -> Any:
        tracer = _tls_active()
        if tracer is None:
            return original(self, closure)
        if closure is not None:
            raise TraceError("compile: opt.step(closure) inside a compiled step")
        if tracer.device is not None:  # traced on host copies: the update runs at replay
            tracer.host(original, self)
            return None
        # The update runs now on plain arrays (it writes the weights and state in place) and
        # is replayed as this same call, after the gradients of that replay are bound.
        swapped = []
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                data = None if g is None else _DATA.__get__(g, Tensor)
                if data.__class__ is _Traced:
                    swapped.append((p, g))
                    p._grad = _leaf(_plain(data))
        _tls.active = None
        try:
            original(self)
        finally:
            _tls.active = tracer
            for p, g in swapped:
                p._grad = g
        tracer.host(original, self)
        return None

    return step


def _zero_grad(original: Any) -> Any:
    def zero_grad(self: Any, set_to_none: bool = True) -> None:
        tracer = _tls_active()
        if tracer is not None and tracer.device is not None:
            if not set_to_none:
                raise TraceError("compile: zero_grad(set_to_none=False) in a GPU step")
            for group in self.param_groups:
                for p in group["params"]:
                    tracer.undo.append((p, "_grad", p._grad))
        original(self, set_to_none)
        if tracer is not None:
            tracer.host(original, self, set_to_none, writes=not set_to_none)

    return zero_grad


class _RngProxy:
    """Stands in for chainrule's global generator while tracing: each draw is recorded as a
    draw from the global generator at replay time."""

    def __init__(self, real: np.random.Generator) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._real, name)
        if not callable(method):
            return method

        def draw(*args: Any, **kwargs: Any) -> Any:
            tracer = _tls_active()
            if tracer is None:  # another thread draws while this one traces
                return method(*args, **kwargs)
            if tracer.device is not None:
                raise TraceError("compile: random draws (dropout) in a GPU step")
            return tracer.call(_Draw(name), args, kwargs, f"generator.{name}")

        return draw


class _Draw:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        gen = _random._generator
        if isinstance(gen, _RngProxy):
            gen = gen._real
        return getattr(gen, self.name)(*args, **kwargs)


def _trace(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], device: Any = None
) -> Any:
    """Run ``fn`` once, recording; returns (the program, fn's eager result).

    With ``device`` (CuPy: some input is a GPU array) the run is a rehearsal on host copies of
    the inputs and of every weight read: the optimiser's update is recorded, not run, and the
    gradients and arrays it sets on existing Tensors are put back afterwards. The program is
    then translated to CuPy (elementwise chains fused into one kernel each) and replayed on
    the GPU for the first call's results: ``(program, None)``, the caller runs it."""
    from .optim.optimizer import Optimizer

    tracer = _Tracer()
    tracer.device = device
    arg_slots: list[int] = []
    stride_tricks = np.lib.stride_tricks

    def enter(value: Any) -> Any:
        if isinstance(value, Tensor):
            face = tracer.new_slot(_host_copy(value._data))
            arg_slots.append(tracer.slot_of[id(face)])
            return _leaf(face)
        if isinstance(value, _ndarray) or _on_device(value):
            face = tracer.new_slot(_host_copy(value))
            arg_slots.append(tracer.slot_of[id(face)])
            return face
        return value

    targs = tuple(enter(a) for a in args)
    tkwargs = {k: enter(v) for k, v in kwargs.items()}
    patches: list[tuple[Any, str, Any]] = []
    for owner in (np, numpy_namespace):
        for name in _CREATORS:
            original = getattr(owner, name, None)
            if original is not None:
                patches.append((owner, name, original))
    for name in ("as_strided", "sliding_window_view"):
        patches.append((stride_tricks, name, getattr(stride_tricks, name)))
    for owner, name, original in patches:
        setattr(owner, name, _creator(name, original))
    from .nn import functional as F

    deliver, step, zero = autodiff._deliver, Optimizer.step, Optimizer.zero_grad
    real_rng = _random._generator
    bn = F.batch_norm
    F.batch_norm = _no_running_stats(bn)
    Tensor._data = property(_data_get, _data_set)  # type: ignore[assignment]
    autodiff._deliver = _deliver(deliver)
    Optimizer.step = _opt_step(step)  # type: ignore[method-assign]
    Optimizer.zero_grad = _zero_grad(zero)  # type: ignore[method-assign]
    _random._generator = _RngProxy(real_rng)  # type: ignore[assignment]
    resolve = _random.resolve
    _random.resolve = _explicit_generators_refused(resolve)  # type: ignore[assignment]
    _tls.active = tracer
    try:
        result = fn(*targs, **tkwargs)
        out_template = _outputs(tracer, result)
    finally:
        _tls.active = None
        for owner, name, original in patches:
            setattr(owner, name, original)
        Tensor._data = _DATA  # type: ignore[assignment]
        F.batch_norm = bn
        autodiff._deliver = deliver
        Optimizer.step = step  # type: ignore[method-assign]
        Optimizer.zero_grad = zero  # type: ignore[method-assign]
        if isinstance(_random._generator, _RngProxy):
            _random._generator = real_rng
        _random.resolve = resolve  # type: ignore[assignment]
        if device is not None:
            cleared = [leaf for leaf in tracer.leaves if leaf._grad is None]
            for t, attr, value in reversed(tracer.undo):  # the rehearsal leaves no trace
                if attr == "_data":
                    _DATA.__set__(t, value)
                else:
                    t._grad = value
    if device is not None:
        return _Program(tracer, arg_slots, out_template, cleared, device), None
    # Leaves keep plain arrays: the traced faces must not outlive the trace.
    for t in tracer.rebound:
        if t._data.__class__ is _Traced:
            t._data = _plain(t._data)
    for leaf in tracer.leaves:
        if leaf._grad is not None and leaf._grad._data.__class__ is _Traced:
            leaf._grad._data = _plain(leaf._grad._data)
    cleared = [leaf for leaf in tracer.leaves if leaf._grad is None]
    program = _Program(tracer, arg_slots, out_template, cleared)
    return program, program.build(program.trace_values())


def _outputs(tracer: _Tracer, value: Any) -> Any:
    if isinstance(value, Tensor):
        if tracer.tensors.get(id(value)) is value:
            return ("const", value)  # a weight returned: the Tensor itself, as eagerly
        return ("tensor", tracer.template(_DATA.__get__(value, Tensor)))
    if value.__class__ is _Traced:
        return ("array", tracer.template(value))
    if isinstance(value, (tuple, list)):
        return (type(value), [_outputs(tracer, v) for v in value])
    if isinstance(value, dict):
        return (dict, {k: _outputs(tracer, v) for k, v in value.items()})
    if value is None or isinstance(value, (int, float, str, bool, np.ndarray, np.generic)):
        return ("const", value)
    if isinstance(value, Tensor) or (
        isinstance(value, _ndarray) and value.__class__ is not _Traced
    ):
        return ("const", value)
    raise TraceError(
        f"compile: the compiled function returned a {type(value).__name__}; return Tensors, "
        "arrays, numbers, or tuples, lists and dicts of them"
    )


def _map_nested(value: Any, leaf: Callable[[Any], Any]) -> Any:
    """``value`` with ``leaf`` applied to everything inside its (nested) tuples, lists and
    dicts' values."""
    cls = value.__class__
    if cls is tuple or cls is list:
        items = [_map_nested(v, leaf) for v in value]
        return items if cls is list else tuple(items)
    if cls is dict:
        return {k: _map_nested(v, leaf) for k, v in value.items()}
    return leaf(value)


def _fill(template: Any, values: list[Any]) -> Any:
    return _map_nested(template, lambda t: values[t.i] if t.__class__ is _Slot else t)


def _slots_in(template: Any, into: list[int]) -> list[int]:
    cls = template.__class__
    if cls is _Slot:
        into.append(template.i)
    elif cls is tuple or cls is list:
        for t in template:
            _slots_in(t, into)
    elif cls is dict:
        for t in template.values():
            _slots_in(t, into)
    return into


def _ufunc_of(func: Any) -> Any:
    owner = getattr(func, "__self__", None)
    return owner if owner.__class__ is np.ufunc else None


_FRESH_METHODS = {_ndarray.copy}
_VARIANTS = 4  # traces kept per input signature, one per outcome of its guards
_EAGER: list[Any] = []  # the cache entry of a GPU signature that runs eagerly
_ALIAS = object()  # marks a call replaced by "this slot is that slot"
_GETITEM = _ndarray.__getitem__
_SETITEM = _ndarray.__setitem__


class _Program:
    """The recorded calls, ready to replay: each call's operands are filled in from the slot
    list by position (precomputed), its result stored in its slot.

    Three rewrites, none of which changes a result bit (every call that stays computes what it
    computed in the trace, on the same values):

    * dead calls (results that nothing later reads: a validation's intermediate, a copy that
      only protected an eager caller) are dropped;
    * calls with no traced operand that make a read-only array (``arange(n)`` for the rows of a
      cross-entropy, a ``ones`` for a row sum) are made once;
    * an elementwise ufunc whose operand of the result's shape and dtype is read for the last
      time, and is a fresh array nothing else sees, writes its result into that operand
      (``out=``): a chain of elementwise calls runs in place in one buffer.
    """

    def __init__(
        self,
        tracer: _Tracer,
        arg_slots: list[int],
        out_template: Any,
        cleared: list[Tensor],
        device: Any = None,
    ) -> None:
        self.device = device
        self.n = len(tracer.values)
        self.arg_slots = arg_slots
        self.out_template = out_template
        self.leaves = tracer.leaves
        self._trace_values = tracer.values
        ops = [list(op) for op in tracer.ops]
        # 0. A gradient handed to a leaf that the step clears again (``p.grad = None`` after
        # an update that read it through the trace) is seen by no one unless a Python call
        # (opt.step) runs in between: not handed out at all.
        gone = {id(leaf) for leaf in cleared}
        later_host = False
        kept_binds: list[Tensor] = []
        for k in range(len(ops) - 1, -1, -1):
            func = ops[k][0]
            if func.__class__ is _Host:
                later_host = True
            elif func.__class__ is _Bind and id(ops[k][1][0]) in gone:
                if later_host:
                    if not any(x is ops[k][1][0] for x in kept_binds):
                        kept_binds.append(ops[k][1][0])
                else:
                    del ops[k]
        if kept_binds:
            ops.append([_Host(_clear_grads), tuple(kept_binds), {}, None])
        shapes = [(v.shape, v.dtype) for v in tracer.values]
        results = set(arg_slots) | set(_slots_in(_out_slots(out_template), []))
        escaped = _escaped(ops, results)
        # 1. dead calls
        ops = _dead_calls_dropped(ops, escaped)
        uses = [_slots_in((op[1], op[2]), []) for op in ops]
        fresh, viewed = _fresh_and_viewed(ops, uses)
        # 2. constants made once: a creator with no traced operand (``arange(n)``), a
        # ``ones_like`` of anything (its value is fixed by the operand's shape and dtype, which
        # the trace fixes: the seed of ``backward``), and a pure elementwise call whose
        # operands are all such constants (the seed divided by n in ``mean``'s rule). The
        # trace computed each of them; its value is what every replay would compute.
        self.init: list[Any] = [None] * self.n
        hoisted = []
        for k, (op, used) in enumerate(zip(ops, uses)):
            func, outs = op[0], op[3]
            if outs.__class__ is tuple and len(outs) == 2 and outs[0] == "scalar":
                outs = outs[1]
            uf = _ufunc_of(func)
            if (
                outs.__class__ is _Slot
                and "out" not in op[2]
                and (
                    (not used and func in _FRESH)
                    or func in _VALUE_FREE
                    or (
                        uf is not None and func == uf.__call__
                        and all(self.init[i] is not None for i in used)
                    )
                )
                and outs.i not in escaped
                and outs.i not in viewed
                and not _written(ops, uses, outs.i)
            ):  # fmt: skip
                self.init[outs.i] = _plain(tracer.values[outs.i])
                hoisted.append(k)
        for k in reversed(hoisted):
            del ops[k], uses[k]
            # a hoisted constant is no fresh buffer of this replay: never written in place
        const = {i for i, v in enumerate(self.init) if v is not None}
        fresh -= const
        # 2b. the same call on the same operands made twice (softmax recomputed by the
        # cross-entropy's rule) is made once, where no operand nor result is ever written;
        # elementwise writes into private arrays are made new values first, so that a chain
        # of them computed twice is merged too
        pinned = set(results)
        for op, used in zip(ops, uses):
            if op[3] is None and not (_ufunc_of(op[0]) is not None and list(op[2]) == ["out"]):
                pinned.update(used)
        ops, extra = _writes_as_new_values(ops, fresh, pinned, self.n, shapes)
        shapes += [shapes[i] for i in extra]
        self.init += [None] * len(extra)
        self.n += len(extra)
        escaped = _escaped(ops, results)
        ops, uses = _common_calls_merged(ops, escaped, self.init)
        ops = _dead_calls_dropped(ops, results)
        uses = [_slots_in((op[1], op[2]), []) for op in ops]
        fresh, viewed = _fresh_and_viewed(ops, uses)
        fresh -= const
        # 3. elementwise results written into an operand read for the last time
        last: dict[int, int] = {}
        for k, used in enumerate(uses):
            for i in used:
                last[i] = k
        # (not on a GPU: there elementwise chains become one fused kernel each, below)
        for k, (op, used) in enumerate(zip(ops, uses) if device is None else ()):
            uf = _ufunc_of(op[0])
            outs = op[3]
            if (
                uf is None or uf.signature is not None or uf.nout != 1 or op[0] != uf.__call__
                or outs.__class__ is not _Slot or op[2] or outs.i not in fresh
            ):  # fmt: skip
                continue
            for a in op[1]:
                if (
                    a.__class__ is _Slot and a.i in fresh and a.i not in viewed
                    and a.i not in escaped and last.get(a.i) == k
                    and shapes[a.i] == shapes[outs.i] and used.count(a.i) == 1
                ):  # fmt: skip
                    op[2] = {"out": (a,)}
                    fresh.discard(a.i)
                    break
        # 4. a copy of a fresh array read for the last time is that array (eagerly the copy
        # protected a caller that no longer exists); rebinding a Tensor to the array it holds
        # (``p.data -= u`` assigns the updated array back) is nothing
        read_of: dict[int, int] = {}
        same: dict[int, int] = {}
        for k, op in enumerate(ops):
            func, outs = op[0], op[3]
            if func.__class__ is _Read:
                read_of[outs.i] = id(func.tensor)
            elif func is _ndarray.copy and len(op[1]) == 1 and not op[2]:
                a = op[1][0]
                if (
                    a.__class__ is _Slot and a.i in fresh and a.i not in viewed
                    and a.i not in escaped and last.get(a.i) == k
                ):  # fmt: skip
                    op[0] = _ALIAS
                    fresh.add(outs.i)
            elif func is np.asarray and len(op[1]) == 1 and not op[2] and outs.__class__ is _Slot:
                if op[1][0].__class__ is _Slot:
                    same[outs.i] = same.get(op[1][0].i, op[1][0].i)
        ops = [
            op for op in ops
            if not (
                op[0].__class__ is _Rebind and op[1][0].__class__ is _Slot
                and read_of.get(same.get(op[1][0].i, op[1][0].i)) == id(op[0].tensor)
            )
        ]  # fmt: skip
        ops = _dead_calls_dropped(ops, results)
        ops = _guards_first(ops)
        # 5. results that never leave the replay get a buffer of their own, kept between
        # replays (out=): no allocation, no page faults on the step's larger arrays
        like = tracer.values + [tracer.values[i] for i in extra]  # a new value: its original's
        self._busy = threading.Lock()
        if device is None:
            self.buffers = tuple(_buffers_assigned(ops, results, like))
        else:
            # 5'. on a GPU (CuPy has its own memory pool): each chain of elementwise calls
            # becomes one fused kernel, and every call its CuPy counterpart
            self.buffers = ()
            keep = results | escaped
            ops = _chains_fused(ops, shapes, keep, device)
            ops = [_on_gpu(op, device) for op in ops]
            self.init = [None if v is None else device.asarray(v) for v in self.init]
        self.calls = ops  # (function, operands, keywords, results): what the replay runs
        self.ops = len(ops)
        self.draws = any(isinstance(op[0], _Draw) for op in ops)
        self._replay = _generate(
            ops, arg_slots, self.init, out_template, len(self.buffers), device
        )

    def run(self, *inputs: Any) -> Any:
        """Replay on ``inputs`` (arrays, in the trace's order). The buffers are this
        program's, unless another thread (or a nested call) is replaying it right now: then
        the call gets buffers of its own."""
        if not self.buffers:
            return self._replay(*inputs, ())
        if not self._busy.acquire(blocking=False):
            return self._replay(*inputs, tuple(_new_buffer(b) for b in self.buffers))
        try:
            return self._replay(*inputs, self.buffers)
        finally:
            self._busy.release()

    def trace_values(self) -> list[Any]:
        values = [None if v is None else _plain(v) for v in self._trace_values]
        self._trace_values = []  # the trace's own arrays are released after the first call
        return values

    def build(self, values: list[Any]) -> Any:
        return _build(self.out_template, values)


def _fresh_and_viewed(ops: list[list[Any]], uses: list[list[int]]) -> tuple[set[int], set[int]]:
    """Which slots are fresh arrays (made by a ufunc or a creator, never a view), and which
    are read by a call that may return a view of them (then they are never reused)."""
    fresh: set[int] = set()
    viewed: set[int] = set()
    for op, used in zip(ops, uses):
        outs = op[3]
        if outs is None:
            continue
        if outs.__class__ is tuple and outs and outs[0] == "scalar":
            outs = outs[1]
        made = _slots_in(outs, [])
        if _ufunc_of(op[0]) is not None or op[0] in _FRESH or isinstance(op[0], _Draw):
            if "out" not in op[2]:
                fresh.update(made)
        elif op[0] in _FRESH_METHODS:
            fresh.update(made)
        elif op[0] is _GETITEM:  # a view of the array indexed, never of the index
            viewed.update(_slots_in(op[1][0], []))
        else:
            viewed.update(used)
    return fresh, viewed


def _same_result(
    uf: Any, targs: Any, into: tuple[Any, Any], shapes: list[Any], n: int, extra: list[int]
) -> bool:
    """Whether ``uf(*targs)`` makes an array of ``into``'s shape and dtype, as ``out=`` did
    (no broadcast to a larger shape, no promotion that the cast into ``out`` undid)."""
    dummies = []
    dims = []
    for a in targs:
        if a.__class__ is _Slot:
            shape, dtype = shapes[extra[a.i - n] if a.i >= n else a.i]
            dummies.append(np.zeros((1,) * len(shape), dtype))
            dims.append(shape)
        elif isinstance(a, (bool, int, float, complex)):
            dummies.append(a)  # weak: takes the array's dtype, as in the call
        elif isinstance(a, (_ndarray, np.generic)):
            dummies.append(np.zeros((1,) * a.ndim, a.dtype))
            dims.append(a.shape)
        else:
            return False
    try:
        with np.errstate(all="ignore"):
            dtype = uf(*dummies).dtype
        shape = np.broadcast_shapes(*dims)
    except (TypeError, ValueError):
        return False
    return shape == into[0] and dtype == into[1]


def _writes_as_new_values(
    ops: list[list[Any]], fresh: set[int], pinned: set[int], n: int, shapes: list[Any]
) -> tuple[list[list[Any]], list[int]]:
    """``ops`` with each elementwise write into a private array (``maximum(m, x, out=m)``, a
    running maximum) made a call with a new result slot, which later calls read instead.

    Then the same computation written twice (softmax's row maximum, in the loss and again in
    its rule) is the same chain of calls twice, which :func:`_common_calls_merged` makes once;
    the in-place rewrite after it writes into dead buffers again where it can. A write is
    renamed only into an array that is fresh, that nothing outside the step sees (``pinned``:
    arguments, results, Python calls) and of which no view was taken yet (a view would see the
    write). Returns the new ops and, for each new slot ``n + j``, the slot it replaces."""
    rename: dict[int, int] = {}
    viewed: set[int] = set()
    extra: list[int] = []
    out_ops = []
    for op in ops:
        func, targs, tkwargs, outs = op
        targs, tkwargs = _renamed(targs, rename), _renamed(tkwargs, rename)
        op = [func, targs, tkwargs, outs]
        uf = _ufunc_of(func)
        target = tkwargs.get("out") if tkwargs.__class__ is dict else None
        if (
            outs is None and uf is not None and func == uf.__call__ and uf.nout == 1
            and uf.signature is None and list(tkwargs) == ["out"] and target.__class__ is tuple
            and len(target) == 1 and target[0].__class__ is _Slot
        ):  # fmt: skip
            a = target[0].i
            original = extra[a - n] if a >= n else a
            if (
                original in fresh and original not in pinned and a not in viewed
                and _same_result(uf, targs, shapes[original], shapes, n, extra)
            ):  # fmt: skip
                new = _Slot(n + len(extra))
                extra.append(original)
                rename[original] = new.i
                out_ops.append([func, targs, {}, new])
                continue
        if outs is not None and not (
            uf is not None or func in _FRESH or func in _FRESH_METHODS or isinstance(func, _Draw)
        ):
            viewed.update(_slots_in(targs[:1] if func is _GETITEM else (targs, tkwargs), []))
        out_ops.append(op)
    return out_ops, extra


# ---------------------------------------------------------------------------- on a GPU
def _on_device(value: Any) -> bool:
    """Whether ``value`` is a GPU (CuPy) array."""
    return value.__class__ is not _ndarray and hasattr(value, "__cuda_array_interface__")


def _host_copy(value: Any) -> Any:
    return value.get() if _on_device(value) else value


class _Untranslatable(Exception):
    """A recorded NumPy call with no CuPy counterpart the replay can use: the step runs
    eagerly on the GPU instead."""


class _DeviceReduce:
    """``np.add.reduce(x, axis=..., dtype=..., keepdims=...)`` as CuPy's ``cupy.sum`` (and
    max, min, prod, any, all for the other ufuncs)."""

    __slots__ = ("func",)

    def __init__(self, func: Any) -> None:
        self.func = func

    def __call__(
        self, x: Any, axis: Any = 0, dtype: Any = None, out: Any = None, keepdims: bool = False,
        where: Any = True,
    ) -> Any:  # fmt: skip
        # ``where`` is always True here: _on_gpu refuses any other value at translation
        kw = {} if dtype is None else {"dtype": dtype}
        if out is not None:
            kw["out"] = out[0] if isinstance(out, tuple) else out
        return self.func(x, axis=axis, keepdims=keepdims, **kw)


_REDUCTIONS = {
    "add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
    "logical_or": "any", "logical_and": "all",
}  # fmt: skip
_PASS = (_Read, _Guard, _Host, _Bind, _Rebind)


def _device_func(func: Any, xp: Any) -> Any:
    """The CuPy function that does on GPU arrays what the recorded NumPy ``func`` did."""
    if func is _ALIAS or func.__class__ in _PASS or func.__class__ is _Fused:
        return func
    uf = _ufunc_of(func)
    if uf is not None:
        method = func.__name__
        if method == "__call__":
            target = getattr(xp, uf.__name__, None)
        elif method == "reduce" and uf.__name__ in _REDUCTIONS:
            target = getattr(xp, _REDUCTIONS[uf.__name__], None)
            target = None if target is None else _DeviceReduce(target)
        else:
            target = None
    elif getattr(func, "__objclass__", None) is _ndarray:  # an ndarray method, indexing
        target = getattr(xp.ndarray, func.__name__, None)
    elif getattr(func, "__module__", "").startswith("numpy") and hasattr(func, "__name__"):
        owner = xp.lib.stride_tricks if "stride_tricks" in func.__module__ else xp
        target = getattr(owner, func.__name__, None)
    else:
        target = None
    if target is None:
        name = getattr(func, "__name__", type(func).__name__)
        raise _Untranslatable(f"no CuPy counterpart for {name}")
    return target


def _to_gpu(value: Any, xp: Any) -> Any:
    """Host arrays among a call's constant operands, moved to the GPU once."""
    return _map_nested(value, lambda v: xp.asarray(v) if v.__class__ is _ndarray else v)


def _on_gpu(op: list[Any], xp: Any) -> list[Any]:
    func, targs, tkwargs, outs = op
    target = _device_func(func, xp)
    if target.__class__ is _DeviceReduce and (
        set(tkwargs) - {"axis", "dtype", "out", "keepdims", "where"}
        or tkwargs.get("where", True) is not True
    ):
        raise _Untranslatable(f"a {func.__self__.__name__} reduction with {sorted(tkwargs)}")
    return [target, _to_gpu(targs, xp), _to_gpu(tkwargs, xp), outs]


class _Fused:
    """A chain of elementwise calls made one GPU kernel with ``cupy.fuse``: takes the chain's
    inputs, returns the results that are read after it."""

    def __init__(self, steps: list[tuple[Any, tuple[Any, ...], int]], inputs: list[Any],
                 results: list[int], xp: Any) -> None:  # fmt: skip
        names: dict[str, Any] = {}
        local = {x.i: f"i{k}" for k, x in enumerate(inputs) if x.__class__ is _Slot}
        lines = [f"def _chain({', '.join(f'i{k}' for k in range(len(inputs)))}):"]
        for k, (uf, args, out) in enumerate(steps):
            names[f"u{k}"] = getattr(xp, uf.__name__)
            parts = []
            for a in args:
                if a.__class__ is _Slot:
                    parts.append(local[a.i])
                else:
                    names[f"c{k}_{len(parts)}"] = a
                    parts.append(f"c{k}_{len(parts)}")
            local[out] = f"t{k}"
            lines.append(f"    t{k} = u{k}({', '.join(parts)})")
        lines.append("    return " + ", ".join(local[i] for i in results))
        self.source = "\n".join(lines)
        exec(builtins.compile(self.source, "<chainrule.compile fused>", "exec"), names)  # noqa: S102
        fuse = getattr(xp, "fuse", None)
        self.kernel = names["_chain"] if fuse is None else fuse(names["_chain"])
        self.steps = len(steps)
        self.__name__ = "fused"

    def __call__(self, *inputs: Any) -> Any:
        return self.kernel(*inputs)


def _scalar_for(a: Any, dtype: Any) -> Any:
    """A Python number operand as a NumPy scalar of the array operand's dtype: what NumPy's
    (and CuPy's) weak scalars become in the call, stated explicitly for the fused kernel."""
    return dtype.type(a)


def _chains_fused(
    ops: list[list[Any]], shapes: list[Any], keep: set[int], xp: Any
) -> list[list[Any]]:
    """``ops`` with each run of two or more elementwise float calls of one result shape
    (reads of weights may sit between them) replaced by one :class:`_Fused` call."""
    readers: dict[int, list[int]] = {}
    for k, op in enumerate(ops):
        for i in _slots_in((op[1], op[2]), []):
            readers.setdefault(i, []).append(k)

    def fusible(op: list[Any]) -> bool:
        func, targs, tkwargs, outs = op
        uf = _ufunc_of(func)
        if (
            uf is None or func != uf.__call__ or uf.nout != 1 or uf.signature is not None
            or tkwargs or outs.__class__ is not _Slot or shapes[outs.i][1].kind not in "fb"
        ):  # fmt: skip
            return False
        arrays = [a for a in targs if a.__class__ is _Slot]
        if not arrays or len(arrays) + sum(
            isinstance(a, (bool, int, float)) for a in targs
        ) != len(targs):  # fmt: skip
            return False
        return all(shapes[a.i][1].kind == "f" for a in arrays)

    out: list[list[Any]] = []
    group: list[int] = []
    waiting: list[list[Any]] = []  # reads met inside a group: emitted before the fused call

    def flush() -> None:
        if len(group) < 2:
            out.extend(ops[k] for k in group)
            out.extend(waiting)
        else:
            made = {ops[k][3].i for k in group}
            members = set(group)
            inputs: list[Any] = []
            steps = []
            for k in group:
                func, targs, _, outs = ops[k]
                dtype = np.result_type(*(shapes[a.i][1] for a in targs if a.__class__ is _Slot))
                args = []
                for a in targs:
                    if a.__class__ is _Slot:
                        if a.i not in made and not any(x.i == a.i for x in inputs):
                            inputs.append(a)
                        args.append(a)
                    else:
                        args.append(_scalar_for(a, dtype))
                steps.append((_ufunc_of(func), tuple(args), outs.i))
            results = [
                ops[k][3].i for k in group
                if ops[k][3].i in keep
                or any(r not in members for r in readers.get(ops[k][3].i, []))
            ]  # fmt: skip
            fused = _Fused(steps, inputs, results, xp)
            made_slots = tuple(_Slot(i) for i in results)
            out.extend(waiting)
            target = made_slots[0] if len(made_slots) == 1 else made_slots
            out.append([fused, tuple(inputs), {}, target])
        group.clear()
        waiting.clear()

    shape = None
    for k, op in enumerate(ops):
        if fusible(op):
            if group and shapes[op[3].i][0] != shape:
                flush()
            group.append(k)
            shape = shapes[op[3].i][0]
        elif group and op[0].__class__ is _Read:
            waiting.append(op)
        else:
            flush()
            out.append(op)
    flush()
    return out


class _Buf:
    """A buffer operand of the replay (``out=``): its ``j``-th buffer."""

    __slots__ = ("j",)

    def __init__(self, j: int) -> None:
        self.j = j


_MIN_BUFFER = 4096  # bytes; NumPy's own cache serves smaller arrays about as fast


def _new_buffer(like: Any) -> Any:
    return np.empty_like(like, order="K")  # the same memory layout as the traced result


def _buffers_assigned(ops: list[list[Any]], results: set[int], values: list[Any]) -> list[Any]:
    """Give each ufunc result (``matmul`` included) and each ``np.empty``/``np.zeros``
    scratch array that never leaves the replay a buffer.

    A result leaves the replay if it, or any array that may share its memory (a view, a
    transpose, a result written into it, an alias), is an argument or a result of the step,
    or is handed to a Python call (``opt.step``, a gradient bound to a leaf, ``p.data = ...``,
    any call the replay does not know). Those are made afresh at every replay, as eagerly;
    the others are written into the same array at every replay (writes into them, by
    ``out=``, indexing or ``np.copyto``, stay inside). Returns the traced arrays the buffers
    copy the shape, dtype and layout of; the calls given a buffer get ``out=(_Buf(j),)``."""
    escaped = set(results)
    for func, targs, tkwargs, outs in ops:
        if outs is None and not (
            func.__class__ is _Guard or func is _SETITEM or func is np.copyto
            or func is _ndarray.fill
            or (_ufunc_of(func) is not None and (func.__name__ == "at" or "out" in tkwargs))
        ):  # fmt: skip
            escaped.update(_slots_in((targs, tkwargs), []))
    group: dict[int, int] = {}

    def find(i: int) -> int:
        while group.get(i, i) != i:
            group[i] = group.get(group[i], group[i])
            i = group[i]
        return i

    for func, targs, tkwargs, outs in ops:
        if outs is None:
            continue
        if outs.__class__ is tuple and outs and outs[0] == "scalar":
            continue  # a new 0-d array, never a view
        uf = _ufunc_of(func)
        if (uf is not None and "out" not in tkwargs) or func in _FRESH or isinstance(func, _Draw):
            continue
        if func in _FRESH_METHODS:
            continue
        if uf is not None:  # written into its out= operand: the result is that array
            shared = _slots_in(tkwargs["out"], [])
        elif func is _GETITEM:  # a view of the array indexed, never of the index
            shared = _slots_in(targs[:1], [])
        else:
            shared = _slots_in((targs, tkwargs), [])
        for o in _slots_in(outs, []):
            for i in shared:
                group[find(o)] = find(i)
    out_of_reach = {find(i) for i in escaped}
    like: list[Any] = []
    for op in ops:
        func, targs, tkwargs, outs = op
        if outs.__class__ is not _Slot or find(outs.i) in out_of_reach:
            continue
        value = values[outs.i]
        if value is None or value.nbytes < _MIN_BUFFER:
            continue
        uf = _ufunc_of(func)
        if uf is not None and func == uf.__call__ and uf.nout == 1 and not tkwargs:
            op[2] = {"out": (_Buf(len(like)),)}
        elif func in _SCRATCH and not any(a.__class__ is _Slot for a in targs):
            # np.empty / np.zeros of a fixed shape: the same array again (zeroed again)
            op[0], op[1], op[2] = _SCRATCH[func], (_Buf(len(like)),), {}
        else:
            continue
        like.append(_new_buffer(_plain(value)))
    return like


def _as_is(buf: Any) -> Any:
    return buf  # np.empty: whatever the array holds, as eagerly


def _zeroed(buf: Any) -> Any:
    buf.fill(0)
    return buf


_SCRATCH = {np.empty: _as_is, np.zeros: _zeroed}


def _generate(
    ops: list[list[Any]],
    arg_slots: list[int],
    init: list[Any],
    out_template: Any,
    n_buffers: int = 0,
    device: Any = None,
) -> Callable[..., Any]:
    """The replay as one Python function, generated: a line per call, operands in local
    variables, no interpreter loop, no per-call lists or dicts."""
    names: dict[str, Any] = {"_asarray": _asarray, "_tensor": _tensor_of}
    if device is not None:
        names.update(_asarray=device.asarray, _tensor=_leaf)
    ids: dict[int, str] = {}

    def const(value: Any) -> str:
        if value is None or value is True or value is False:
            return repr(value)
        name = ids.get(id(value))
        if name is None:
            name = ids[id(value)] = f"c{len(ids)}"
            names[name] = value
        return name

    def expr(t: Any) -> str:
        cls = t.__class__
        if cls is _Slot:
            return f"h{t.i}" if init[t.i] is not None else f"v{t.i}"
        if cls is _Buf:
            return f"b{t.j}"
        if cls is tuple:
            return "(" + "".join(expr(x) + ", " for x in t) + ")"
        if cls is list:
            return "[" + ", ".join(expr(x) for x in t) + "]"
        if cls is dict:
            return "{" + ", ".join(f"{const(k)}: {expr(v)}" for k, v in t.items()) + "}"
        return const(t)

    for i, v in enumerate(init):
        if v is not None:
            names[f"h{i}"] = v
    # Each local is deleted after the call that reads it last (as a NumPy program's
    # temporaries die at the end of their expression): NumPy's allocator then hands the
    # freed memory, still in cache, to the next result, and the replay's peak memory is the
    # eager step's, not the sum of every value it made.
    keep = set(_slots_in(_out_slots(out_template), []))
    last: dict[int, int] = {}
    for k, (_func, targs, tkwargs, outs) in enumerate(ops):
        for i in _slots_in((targs, tkwargs), []):
            last[i] = k
        if outs is not None:
            for i in _slots_in(outs[1] if outs.__class__ is tuple and outs and outs[0] == "scalar"
                               else outs, []):  # fmt: skip
                last.setdefault(i, k)  # made and never read: dropped at once
    dies: dict[int, list[int]] = {}
    for i, k in last.items():
        if i not in keep and init[i] is None:
            dies.setdefault(k, []).append(i)
    names["_dget"] = _DATA.__get__
    names["_T"] = Tensor
    names["_nd"] = _ndarray if device is None else device.ndarray
    params = [f"a{k}" for k in range(len(arg_slots))] + ["_B"]
    lines = [f"def _replay({', '.join(params)}):"]
    if n_buffers:
        lines.append(f"    {''.join(f'b{j}, ' for j in range(n_buffers))}= _B")
    if device is None:
        lines += [f"    v{slot} = a{k}" for k, slot in enumerate(arg_slots)]
    else:  # host arrays given beside GPU ones are moved there, as chainrule moves labels
        lines += [f"    v{slot} = _asarray(a{k})" for k, slot in enumerate(arg_slots)]
    for k, (func, targs, tkwargs, outs) in enumerate(ops):
        _emit(k, func, targs, tkwargs, outs, names, lines, expr, const)
        if k in dies:
            lines.append("    del " + ", ".join(f"v{i}" for i in sorted(dies[k])))
    lines.append(f"    return {_build_expr(out_template, expr, const)}")
    source = "\n".join(lines)
    names["__source__"] = source
    code = builtins.compile(source, "<chainrule.compile replay>", "exec")
    exec(code, names)  # noqa: S102 - our own generated source
    return names["_replay"]


def _emit(
    k: int,
    func: Any,
    targs: Any,
    tkwargs: Any,
    outs: Any,
    names: dict[str, Any],
    lines: list[str],
    expr: Callable[[Any], str],
    const: Callable[[Any], str],
) -> None:
    """The line(s) of the replay for call ``k``."""
    if func is _ALIAS:
        lines.append(f"    v{outs.i} = {expr(targs[0])}")
        return
    cls = func.__class__
    if cls is _Read:  # inline: a slot read and three compares, no Python call
        v = f"v{outs.i}"
        names[f"t{k}"], names[f"s{k}"], names[f"d{k}"], names[f"f{k}"] = (
            func.tensor, func.shape, func.dtype, func
        )
        lines.append(f"    {v} = _dget(t{k}, _T)")
        lines.append(
            f"    if {v}.__class__ is not _nd or {v}.shape != s{k} or "
            f"({v}.dtype is not d{k} and {v}.dtype != d{k}): f{k}.failed({v})"
        )
        return
    if cls is _Guard:
        v = expr(targs[0])
        names[f"r{k}"], names[f"e{k}"], names[f"f{k}"] = func.read, func.expected, func
        lines.append(f"    g = r{k}({v} if {v}.__class__ is _nd else _asarray({v}))")
        lines.append(f"    if g != e{k}: f{k}.failed(g)")
        return
    uf = _ufunc_of(func)
    # a ufunc's own call (vectorcall) is faster than its bound __call__ (a method-wrapper)
    names[f"f{k}"] = uf if uf is not None and func == uf.__call__ else func
    parts = [expr(a) for a in targs]
    if (
        uf is not None and func == uf.__call__ and list(tkwargs) == ["out"]
        and uf is not np.maximum and uf is not np.minimum  # deprecated positionally
        and len(tkwargs["out"]) == 1 and len(targs) == uf.nin
    ):  # fmt: skip
        parts.append(expr(tkwargs["out"][0]))  # out as a positional argument: faster
        tkwargs = {}
    if all(isinstance(key, str) and key.isidentifier() for key in tkwargs):
        parts += [f"{key}={expr(v)}" for key, v in tkwargs.items()]
    elif tkwargs:
        parts.append("**" + expr(tkwargs))
    call = f"f{k}({', '.join(parts)})"
    if outs is None:
        lines.append(f"    {call}")
    elif outs.__class__ is _Slot:
        lines.append(f"    v{outs.i} = {call}")
    elif outs[0] == "scalar":
        lines.append(f"    v{outs[1].i} = _asarray({call})")
    else:
        lines.append(f"    {expr(outs)} = {call}")


def _tensor_of(value: Any) -> Tensor:
    return _leaf(value if value.__class__ is _ndarray else _asarray(value))


def _build_expr(template: Any, expr: Callable[[Any], str], const: Callable[[Any], str]) -> str:
    kind, payload = template
    if kind == "tensor":
        return f"_tensor({expr(payload)})"
    if kind == "array":
        return expr(payload)
    if kind == "const":
        return const(payload)
    if kind is dict:
        items = ", ".join(f"{const(k)}: {_build_expr(v, expr, const)}" for k, v in payload.items())
        return "{" + items + "}"
    items = "".join(_build_expr(v, expr, const) + ", " for v in payload)
    return f"[{items}]" if kind is list else f"({items})"


def _sig(template: Any, init: list[Any]) -> Any:
    """A hashable stand-in for an operand template: slots by number (constants made once by
    value, when small), immutable constants by value, anything else by identity."""
    cls = template.__class__
    if cls is _Slot:
        c = init[template.i]
        if c is not None and c.size <= 1024:  # two ``ones(10)`` made by two rules are one
            return ("c", c.shape, c.dtype.str, c.tobytes())
        return ("s", template.i)
    if cls is tuple or cls is list:
        return (cls.__name__, *(_sig(t, init) for t in template))
    if cls is dict:
        return ("d", *sorted((k, _sig(v, init)) for k, v in template.items()))
    if template is None or cls in (bool, int, float, str, np.dtype):
        return ("v", cls, template)
    if cls is slice:
        return (
            "sl", _sig(template.start, init), _sig(template.stop, init), _sig(template.step, init)
        )  # fmt: skip
    return ("id", id(template))


def _renamed(template: Any, rename: dict[int, int]) -> Any:
    return _map_nested(
        template,
        lambda t: _Slot(rename[t.i]) if t.__class__ is _Slot and t.i in rename else t,
    )


def _common_calls_merged(
    ops: list[list[Any]], escaped: set[int], init: list[Any]
) -> tuple[list[list[Any]], list[list[int]]]:
    """``ops`` with repeated pure calls (a ufunc, an indexing) made once. A slot and every
    slot that may be a view of it form a group; a call is merged only if no slot in its
    operands' or its result's groups is ever written (out=, setitem, a Python call)."""
    group: dict[int, int] = {}

    def find(i: int) -> int:
        while group.get(i, i) != i:
            i = group[i]
        return i

    written: set[int] = set()
    for func, targs, tkwargs, outs in ops:
        used = _slots_in((targs, tkwargs), [])
        if "out" in tkwargs:
            written.update(_slots_in(tkwargs["out"], []))
        elif outs is None and func.__class__ is not _Guard:
            targets = targs if func.__class__ in (_Host, _Bind) else targs[:1]
            written.update(_slots_in((targets, tkwargs), []))
        if outs is not None and not (
            _ufunc_of(func) is not None or func in _FRESH or func in _FRESH_METHODS
        ):
            for o in _slots_in(outs, []):  # may be a view of any operand
                for i in used:
                    group[find(o)] = find(i)
    mutated = {find(i) for i in written}
    seen: dict[Any, int] = {}
    rename: dict[int, int] = {}
    merged = []
    for op in ops:
        op[1] = _renamed(op[1], rename)
        op[2] = _renamed(op[2], rename)
        func, targs, tkwargs, outs = op
        if (
            outs.__class__ is _Slot
            and (_ufunc_of(func) is not None or func is _GETITEM)
            and "out" not in tkwargs
            and outs.i not in escaped
            and find(outs.i) not in mutated
            and all(find(i) not in mutated for i in _slots_in((targs, tkwargs), []))
        ):
            key = (func, _sig(targs, init), _sig(tkwargs, init))
            if key in seen:
                rename[outs.i] = seen[key]
                continue
            seen[key] = outs.i
        merged.append(op)
    return merged, [_slots_in((op[1], op[2]), []) for op in merged]


def _guards_first(ops: list[list[Any]]) -> list[list[Any]]:
    """``ops`` with each guard, and the pure calls it reads (cross-entropy's label check,
    from the input labels), moved to the front: a replay that is not this trace's step is
    found before any work is done. Calls move only if nothing writes what they read and no
    draw or effect is among them, so every value is what it was in place."""
    producer: dict[int, int] = {}
    written: set[int] = set()
    for k, (func, targs, tkwargs, outs) in enumerate(ops):
        if outs is not None:
            for i in _slots_in(outs, []):
                producer[i] = k
        if "out" in tkwargs:
            written.update(_slots_in(tkwargs["out"], []))
        elif outs is None and func.__class__ is not _Guard:
            targets = targs if func.__class__ in (_Host, _Bind) else targs[:1]
            written.update(_slots_in((targets, tkwargs), []))
    # Python calls (opt.step) change weights in place without the trace seeing which arrays:
    # a weight read after one stays after it.
    first_call = next(
        (k for k, op in enumerate(ops) if op[0].__class__ in (_Host, _Bind, _Rebind)), len(ops)
    )
    moved: set[int] = set()
    for g, op in enumerate(ops):
        if op[0].__class__ is not _Guard:
            continue
        cone: set[int] = set()
        stack, ok = [g], True
        while stack and ok:
            k = stack.pop()
            if k in cone:
                continue
            cone.add(k)
            func, targs, tkwargs, outs = ops[k]
            if k != g and (outs is None or isinstance(func, _Draw) or "out" in tkwargs):
                ok = False
            if func.__class__ is _Read and g > first_call:
                ok = False
            for i in _slots_in((targs, tkwargs), []):
                if i in written:
                    ok = False
                elif i in producer:
                    stack.append(producer[i])
        if ok:
            moved |= cone
            op[0] = _Guard(op[0].read, op[0].expected, False, op[0].what)  # now before effects
    if not moved:
        return ops
    return [ops[k] for k in sorted(moved)] + [op for k, op in enumerate(ops) if k not in moved]


def _escaped(ops: list[list[Any]], results: set[int]) -> set[int]:
    """``results`` and every slot an effect (a host call, a write, a guard) touches: values
    pinned as they are, never dropped, merged or reused."""
    escaped = set(results)
    for op in ops:
        if op[3] is None:
            escaped.update(_slots_in((op[1], op[2]), []))
    return escaped


def _dead_calls_dropped(ops: list[list[Any]], needed: set[int]) -> list[list[Any]]:
    """``ops`` without the calls whose results nothing reads (effects always stay)."""
    live = set(needed)
    keep = [False] * len(ops)
    for k in range(len(ops) - 1, -1, -1):
        op = ops[k]
        outs = _slots_in(op[3], []) if op[3] is not None else []
        if op[3] is None or isinstance(op[0], _Draw) or any(o in live for o in outs):
            keep[k] = True
            live.update(_slots_in((op[1], op[2]), []))
    return [op for op, kept in zip(ops, keep) if kept]


def _written(ops: list[list[Any]], uses: list[list[int]], slot: int) -> bool:
    """Whether any call may write into ``slot``'s array (an out=, a setitem, a host call)."""
    for op, used in zip(ops, uses):
        if slot in used and (op[3] is None or "out" in op[2]):
            return True
    return False


def _out_slots(template: Any) -> Any:
    kind, payload = template
    if kind in ("tensor", "array"):
        return payload
    if kind == "const":
        return None
    if kind is dict:
        return [_out_slots(v) for v in payload.values()]
    return [_out_slots(v) for v in payload]


def _build(template: Any, values: list[Any]) -> Any:
    kind, payload = template
    if kind == "tensor":
        v = _fill(payload, values)
        return _leaf(v if v.__class__ is _ndarray else _asarray(v))
    if kind == "array":
        return _fill(payload, values)
    if kind == "const":
        return payload
    if kind is dict:
        return {k: _build(v, values) for k, v in payload.items()}
    items = [_build(v, values) for v in payload]
    return items if kind is list else tuple(items)


def _key_of(value: Any) -> Any:
    if isinstance(value, Tensor):
        if value._rg:
            raise TypeError(
                "compile: an input Tensor requires grad; pass parameters through a module or "
                "a closure (they are read by reference), and data as Tensors or arrays"
            )
        d = value._data
        if d.__class__ is _ndarray:
            return ("T", d.shape, d.dtype)
        if _on_device(d) and hasattr(d, "device"):
            return ("DT", d.shape, d.dtype, d.device.id)
        return None
    if value.__class__ is _ndarray:
        return ("A", value.shape, value.dtype)
    if _on_device(value):
        try:
            return ("D", value.shape, value.dtype, value.device.id)
        except AttributeError:  # a GPU array-like other than CuPy's: eager
            return None
    if isinstance(value, _ndarray):
        return None  # an ndarray subclass: the call runs eagerly
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"compile: argument of type {type(value).__name__} is neither an array, a Tensor "
            "nor a hashable constant"
        ) from None
    return ("C", type(value), value)


class Compiled:
    """A function compiled by :func:`compile`: call it as the function itself.

    Attributes
    ----------
    traces : int
        How many times a trace was recorded (first calls and new shapes or dtypes).
    fallbacks : int
        How many calls ran eagerly because a Python value read from a traced value (a branch
        taken, whether a batch's labels are in range) differed from every trace's for these
        shapes and no more variants are kept (a trace per such outcome, up to 4 per
        signature).
    """

    def __init__(self, fn: Callable[..., Any], cache_size: int) -> None:
        if cache_size < 1:
            raise ValueError(f"compile: cache_size must be >= 1, got {cache_size}")
        self.fn = fn
        self.cache_size = cache_size
        self.traces = 0
        self.fallbacks = 0
        self.eager_reason: str | None = None
        self._cache: OrderedDict[Any, list[_Program]] = OrderedDict()
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        keys = []
        inputs = []  # the arrays, in the order the trace entered them
        for a in args:
            cls = a.__class__
            if cls is _ndarray:  # the common case first: one tuple, no function call
                keys.append(("A", a.shape, a.dtype))
                inputs.append(a)
                continue
            k = _key_of(a)
            if k is None:
                return self.fn(*args, **kwargs)  # an ndarray subclass: eager
            keys.append(k)
            if k[0] != "C":
                inputs.append(a._data if k[0][-1] == "T" else a)
        kkeys = []
        for name, v in sorted(kwargs.items()):
            k = _key_of(v)
            if k is None:
                return self.fn(*args, **kwargs)
            kkeys.append((name, k))
            if k[0] != "C":
                inputs.append(v._data if k[0][-1] == "T" else v)
        key = (tuple(keys), tuple(kkeys), autodiff.state.grad_enabled)
        variants = self._cache.get(key)
        if variants is _EAGER:
            return self.fn(*args, **kwargs)
        if variants is not None:
            self._cache.move_to_end(key)
            for k, program in enumerate(variants):
                rng = _random.get_state() if program.draws else None
                try:
                    result = program.run(*inputs)
                except _GuardFailed:
                    # A value the trace read in Python differs, before any state was
                    # written: not this trace's step; try the next (from the same draws).
                    if rng is not None:
                        _random.set_state(rng)
                    continue
                if k:
                    variants.insert(0, variants.pop(k))  # the most recent first
                return result
            if len(variants) >= _VARIANTS:
                self.fallbacks += 1
                return self.fn(*args, **kwargs)
        gpu = next((a for a in inputs if _on_device(a)), None)
        if gpu is not None:
            try:
                with _lock:
                    program, _ = _trace(
                        self.fn, args, dict(sorted(kwargs.items())), namespace_of(gpu)
                    )
            except Exception as exc:  # noqa: BLE001 - any failure of the rehearsal: eager
                self._cache[key] = _EAGER
                self.eager_reason = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"compile: this GPU step runs eagerly ({self.eager_reason})",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return self.fn(*args, **kwargs)
            result = program.run(*inputs)
        else:
            with _lock:
                # kwargs are entered in sorted order so that their slots match later calls
                program, result = _trace(self.fn, args, dict(sorted(kwargs.items())))
        self.traces += 1
        if variants is not None:
            variants.insert(0, program)
            return result
        self._cache[key] = [program]
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    @property
    def ops(self) -> int:
        """The number of recorded calls of the most recent trace (0 before the first call)."""
        programs = [v for v in self._cache.values() if v is not _EAGER]
        return programs[-1][0].ops if programs else 0


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = 8) -> Any:  # noqa: A001
    """Capture ``fn`` on its first call per input shapes and dtypes; replay it afterwards.

    ``fn`` takes Tensors (not requiring grad), arrays and hashable constants; it may run a
    model, ``loss.backward()``, ``opt.zero_grad()`` and ``opt.step()``, and returns Tensors,
    arrays or numbers (in tuples, lists or dicts). The first call runs ``fn`` eagerly and
    records every NumPy call made on values derived from its inputs; later calls with the same
    shapes and dtypes replay that list with no Tensor or graph objects per operation. Weights,
    optimiser state and module buffers are read and updated by reference. See the module
    documentation for the limitations (data-dependent control flow raises
    :class:`TraceError`).

    Parameters
    ----------
    fn : callable
        The step. ``cr.compile`` also works as a decorator, with or without arguments.
    cache_size : int
        How many traces (input signatures) to keep; the least recently used is dropped.

    Returns
    -------
    Compiled
        Callable like ``fn``; results equal ``fn``'s bit for bit, returned Tensors detached.

    Examples
    --------
    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.tensor([1.0, -2.0]))
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> @cr.compile
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = ((x * w).sum() - 1.0) ** 2
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> [round(float(step(cr.tensor([1.0, 1.0]))), 4) for _ in range(3)]
    [4.0, 1.44, 0.5184]
    >>> step.traces
    1
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size)
    return Compiled(fn, cache_size)
