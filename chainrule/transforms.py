"""JAX-style functional transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jvp``, ``jacobian``,
``hessian``.

They take a function and return a function. Arguments may be Tensors, NumPy arrays, Python
numbers, or nested tuples / lists / dicts of them; gradients come back in the same structure and
the same kind (NumPy arrays for arrays, Tensors for Tensors, floats for floats). They never touch
any ``.grad`` attribute: each call wraps its inputs in fresh leaves and asks the backward walk for
their gradients only.

Transforms nest (``hessian = jacobian(grad(f))``): when an input is already being traced by an
outer transform, the inner one records its own backward pass (``create_graph``), so the outer one
can differentiate through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import autodiff
from .autodiff import next_seq, state
from .backend import get_default_dtype, namespace_of
from .ops.define import apply, define
from .tensor import Tensor, _leaf

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian"]

class _Nesting:
    """Counts the transforms evaluating their function in this thread (``state`` is per
    thread, so transforms running in two threads at once do not see each other). Inside one, a
    transform's result may depend on tensors the outer one traces (through a closure), so it
    records its backward pass."""

    def __enter__(self) -> None:
        state.transform_depth += 1

    def __exit__(self, *exc: object) -> None:
        state.transform_depth -= 1


def _must_record(inputs: list[Any]) -> bool:
    return state.grad_enabled and (state.transform_depth > 0 or any(i.traced for i in inputs))


# An identity that is recorded: the traced copy of an input that an outer transform is tracing.
_alias = define("alias", (lambda xp, g, out, x: g,), "g")


# ----------------------------------------------------------------------------- pytrees
def _flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves of a nested tuple/list/dict, and a description to rebuild it."""
    if isinstance(tree, (tuple, list)):
        leaves: list[Any] = []
        defs = []
        for item in tree:
            sub, d = _flatten(item)
            leaves.extend(sub)
            defs.append((len(sub), d))
        return leaves, (type(tree), defs)
    if isinstance(tree, dict):
        leaves = []
        defs = []
        for key in tree:
            sub, d = _flatten(tree[key])
            leaves.extend(sub)
            defs.append((key, len(sub), d))
        return leaves, (dict, defs)
    return [tree], None


def _unflatten(treedef: Any, leaves: Sequence[Any]) -> Any:
    if treedef is None:
        return leaves[0]
    kind, defs = treedef
    out = []
    i = 0
    if kind is dict:
        result = {}
        for key, n, d in defs:
            result[key] = _unflatten(d, leaves[i : i + n])
            i += n
        return result
    for n, d in defs:
        out.append(_unflatten(d, leaves[i : i + n]))
        i += n
    return kind(out) if kind is not list else out


# ------------------------------------------------------------------------- inputs in
class _Input:
    """One differentiated input: the traced tensor and how to hand its gradient back."""

    __slots__ = ("tensor", "kind", "traced")

    def __init__(self, value: Any, op: str, position: str) -> None:
        self.traced = False
        if isinstance(value, Tensor):
            self.kind = "tensor"
            data = value._data
        elif isinstance(value, (float, int)) and not isinstance(value, bool):
            self.kind = "float"
            data = np.asarray(value, dtype=get_default_dtype())
            if isinstance(value, int):
                raise TypeError(
                    f"{op}: {position} is the Python int {value!r}; differentiate with respect "
                    f"to floats (write {float(value)!r})"
                )
        elif isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
            self.kind = "array"
            data = value
        elif isinstance(value, np.generic):
            self.kind = "array"
            data = np.asarray(value)
        else:
            raise TypeError(
                f"{op}: {position} is a {type(value).__name__}; expected a Tensor, an array, a "
                f"float, or a tuple/list/dict of them"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"{op}: {position} has dtype {data.dtype}; only floating-point inputs can be "
                f"differentiated"
            )
        if self.kind == "tensor" and value._rg and state.grad_enabled:
            # An outer trace holds this tensor: stay connected to it.
            self.traced = True
            self.tensor = apply(_alias, lambda xp, x: x, (value,))
        else:
            t = _leaf(data)
            t._rg = True
            t._seq = next_seq()
            self.tensor = t

    def give(self, g: Any) -> Any:
        """Hand back gradient ``g`` (array or Tensor or None) in this input's kind; a recorded
        Tensor (inside an outer trace) is handed back as it is, so the trace stays connected."""
        data = self.tensor._data
        if g is None:
            g = namespace_of(data).zeros_like(data)
        if isinstance(g, Tensor):
            if self.kind == "tensor" or g._rg:
                return g
            g = g._data
        if self.kind == "tensor":
            return _leaf(g)
        if self.kind == "float":
            return float(g) if g.size == 1 else np.asarray(g)
        return np.asarray(g) if type(g) is not np.ndarray and isinstance(g, np.generic) else g


def _wrap_args(
    args: tuple[Any, ...], argnums: tuple[int, ...], op: str
) -> tuple[list[Any], list[tuple[list[_Input], Any]]]:
    call_args = list(args)
    wrapped = []
    for n in argnums:
        if not -len(args) <= n < len(args):
            raise ValueError(
                f"{op}: argnums {n} is out of range for a function called with {len(args)} "
                "positional arguments"
            )
        leaves, treedef = _flatten(args[n])
        inputs = [_Input(v, op, f"argument {n}") for v in leaves]
        call_args[n] = _unflatten(treedef, [i.tensor for i in inputs])
        wrapped.append((inputs, treedef))
    return call_args, wrapped


def _argnums_tuple(argnums: int | Sequence[int], op: str) -> tuple[tuple[int, ...], bool]:
    if isinstance(argnums, int):
        return (argnums,), True
    try:
        nums = tuple(int(a) for a in argnums)
    except TypeError:
        raise TypeError(
            f"{op}: argnums must be an int or a tuple of ints, got {argnums!r}"
        ) from None
    if not nums:
        raise ValueError(f"{op}: argnums must not be empty")
    return nums, False


def _split_aux(result: Any, has_aux: bool, op: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise TypeError(f"{op}: with has_aux=True the function must return a pair (output, aux)")
    return result[0], result[1]


def _walk(
    root: Any, seed: Any, inputs: list[_Input], create_graph: bool, retain: bool = True
) -> list[Any]:
    """Gradients of ``root`` (seeded with ``seed``) for ``inputs``; None where unreachable.

    The graph is kept (``retain``) when it will be walked again or an outer trace needs it.
    """
    if not isinstance(root, Tensor) or not root._rg:
        return [None] * len(inputs)
    if create_graph and not isinstance(seed, Tensor):
        seed = _leaf(seed)
    if not create_graph and isinstance(seed, Tensor):
        seed = seed._data
    with autodiff.enable_grad() if create_graph else autodiff.no_grad():
        return autodiff.backward(
            root,
            seed,
            retain_graph=retain or create_graph,
            create_graph=create_graph,
            targets=[i.tensor for i in inputs],
        )


def _hand_back(wrapped: list[tuple[list[_Input], Any]], grads: list[Any], single: bool) -> Any:
    out = []
    k = 0
    for inputs, treedef in wrapped:
        n = len(inputs)
        out.append(_unflatten(treedef, [i.give(g) for i, g in zip(inputs, grads[k : k + n])]))
        k += n
    return out[0] if single else tuple(out)


def _value_out(out: Any, wrapped: list[tuple[list[_Input], Any]], traced: bool) -> Any:
    """The function's output in the kind of its inputs (arrays in, arrays out), except inside an
    outer trace, where it stays a recorded Tensor."""
    if not isinstance(out, Tensor):
        return out
    if traced and out._rg:
        return out
    if any(i.kind == "tensor" for inputs, _ in wrapped for i in inputs):
        return out.detach()
    return out._data


# ------------------------------------------------------------------------- transforms
def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Return a function computing ``(f(*args), gradient of f)`` with respect to ``argnums``.

    ``f`` must return a one-element Tensor (or ``(output, aux)`` with ``has_aux=True``; the
    result is then ``((value, aux), grads)`` as in JAX).

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> value, g = cr.value_and_grad(lambda x: (x ** 2).sum())(np.array([1.0, 3.0]))
    >>> float(value), g
    (10.0, array([2., 6.]))
    """
    nums, single = _argnums_tuple(argnums, "value_and_grad")

    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        call_args, wrapped = _wrap_args(args, nums, "value_and_grad")
        inputs = [i for ins, _ in wrapped for i in ins]
        traced = _must_record(inputs)
        with autodiff.enable_grad(), _Nesting():
            result = f(*call_args, **kwargs)
        out, aux = _split_aux(result, has_aux, "value_and_grad")
        if isinstance(out, Tensor):
            if out.size != 1:
                raise TypeError(
                    f"grad: the function must return a scalar (one-element) Tensor, got shape "
                    f"{out.shape}; use vjp or jacobian for non-scalar outputs"
                )
            if out.dtype.kind != "f":
                raise TypeError(f"grad: the function returned a {out.dtype} tensor, not floating")
            seed = namespace_of(out._data).ones_like(out._data)
        elif isinstance(out, (float, int, np.ndarray, np.generic)):
            seed = None  # a constant: every gradient is zero
        else:
            raise TypeError(f"grad: the function must return a Tensor, got {type(out).__name__}")
        if seed is None:
            grads: list[Any] = [None] * len(inputs)
        else:
            grads = _walk(out, seed, inputs, traced, retain=False)
        value = _value_out(out, wrapped, traced)
        grads_out = _hand_back(wrapped, grads, single)
        return ((value, aux) if has_aux else value), grads_out

    value_and_grad_f.__name__ = f"value_and_grad({getattr(f, '__name__', 'f')})"
    return value_and_grad_f


def grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Return a function computing the gradient of scalar-valued ``f`` w.r.t. ``argnums``.

    Parameters
    ----------
    f : callable
        Returns a one-element Tensor (or ``(output, aux)`` with ``has_aux``).
    argnums : int or tuple of ints
        Which positional arguments to differentiate; a tuple gives a tuple of gradients.
    has_aux : bool
        ``f`` returns ``(output, aux)``; the result is then ``(grads, aux)``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.grad(lambda w, x: (w * x).sum(), argnums=(0, 1))(np.ones(2), np.array([3.0, 4.0]))
    (array([3., 4.]), array([1., 1.]))
    """
    vg = value_and_grad(f, argnums, has_aux)

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, grads = vg(*args, **kwargs)
        if has_aux:
            return grads, value[1]
        return grads

    grad_f.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    return grad_f


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """Evaluate ``f(*primals)`` and return it with a function mapping an output cotangent
    ``ct`` to ``ct^T J`` for each primal (a tuple, one entry per primal).

    The returned function may be called many times. ``f`` may return a Tensor or a
    tuple/list/dict of Tensors; the cotangent then has the same structure.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> out, f_vjp = cr.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))
    >>> f_vjp(np.array([1.0, 10.0]))
    (array([ 3., 30.]),)
    """
    nums = tuple(range(len(primals)))
    call_args, wrapped = _wrap_args(primals, nums, "vjp")
    inputs = [i for ins, _ in wrapped for i in ins]
    traced = _must_record(inputs)
    with autodiff.enable_grad(), _Nesting():
        result = f(*call_args)
    out, aux = _split_aux(result, has_aux, "vjp")
    out_leaves, out_def = _flatten(out)

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        ct_leaves, ct_def = _flatten(cotangent)
        if len(ct_leaves) != len(out_leaves):
            raise ValueError(
                f"vjp: the cotangent has {len(ct_leaves)} leaves but the output has "
                f"{len(out_leaves)}; give one array per output"
            )
        create = traced or (
            state.grad_enabled and any(isinstance(c, Tensor) and c._rg for c in ct_leaves)
        )
        roots = []
        for o, c in zip(out_leaves, ct_leaves):
            if not isinstance(o, Tensor):
                continue
            cdata = c._data if isinstance(c, Tensor) else np.asarray(c)
            if cdata.shape != o.shape:
                raise ValueError(
                    f"vjp: cotangent has shape {cdata.shape} but the output has shape {o.shape}"
                )
            roots.append((o, c if isinstance(c, Tensor) else cdata.astype(o.dtype, copy=False)))
        if not roots:
            grads: list[Any] = [None] * len(inputs)
        elif len(roots) == 1:
            o, c = roots[0]
            grads = _walk(o, c, inputs, create)
        else:
            # Several outputs: one scalar root sum_k <out_k, ct_k> has exactly these gradients.
            with autodiff.enable_grad():
                total = None
                for o, c in roots:
                    term = (o * c).sum()
                    total = term if total is None else total + term
            grads = _walk(total, np.ones((), total.dtype), inputs, create)
        return _hand_back(wrapped, grads, single=False)

    value = _unflatten(out_def, [_value_out(o, wrapped, traced) for o in out_leaves])
    if has_aux:
        return value, vjp_fn, aux
    return value, vjp_fn


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[Any, Any]:
    """Evaluate ``f(*primals)`` and the directional derivative ``J @ tangents``.

    Computed by reverse mode twice: ``u -> J^T u`` is linear in ``u``, so the gradient of
    ``<J^T u, t>`` with respect to ``u`` is ``J t``. Every rule in chainrule is differentiable,
    so this costs about two backward passes.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> out, tangent = cr.jvp(lambda x: x ** 2, (np.array([1.0, 3.0]),), (np.array([1.0, 0.0]),))
    >>> tangent
    array([2., 0.])
    """
    primals = tuple(primals)
    tangents = tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: got {len(primals)} primals but {len(tangents)} tangents; give one per primal"
        )
    nums = tuple(range(len(primals)))
    call_args, wrapped = _wrap_args(primals, nums, "jvp")
    inputs = [i for ins, _ in wrapped for i in ins]
    t_leaves: list[Any] = []
    for p, t in zip(primals, tangents):
        pl, _ = _flatten(p)
        tl, _ = _flatten(t)
        if len(pl) != len(tl):
            raise ValueError("jvp: each tangent must have the structure of its primal")
        for a, b in zip(pl, tl):
            bshape = np.shape(b._data if isinstance(b, Tensor) else b)
            ashape = np.shape(a._data if isinstance(a, Tensor) else a)
            if bshape != ashape:
                raise ValueError(f"jvp: tangent shape {bshape} does not match primal {ashape}")
        t_leaves.extend(tl)
    traced = _must_record(inputs)
    with autodiff.enable_grad(), _Nesting():
        out = f(*call_args)
        out_leaves, out_def = _flatten(out)
        # Dummy cotangents u (one per output), traced so the vjp can be differentiated in u.
        us = [_Input(np.zeros(o.shape, o.dtype), "jvp", "cotangent") for o in out_leaves]
        total = None
        for o, u in zip(out_leaves, us):
            term = (o * u.tensor).sum()
            total = term if total is None else total + term
        vjps = _walk(total, np.ones((), total.dtype), inputs, create_graph=True)
        s = None
        for v, t in zip(vjps, t_leaves):
            if v is None:
                continue
            term = (v * t).sum()
            s = term if s is None else s + term
    if s is None:
        tangent_out = [None] * len(us)
    else:
        tangent_out = _walk(s, np.ones((), s.dtype), us, create_graph=traced)
    # Tangents come back in the primals' kind: Tensors for Tensors, floats for floats, else arrays.
    kinds = {i.kind for i in inputs}
    kind = "tensor" if "tensor" in kinds else ("float" if kinds == {"float"} else "array")
    outs = []
    for u, g in zip(us, tangent_out):
        u.kind = kind
        outs.append(u.give(g))
    value = _unflatten(out_def, [_value_out(o, wrapped, traced) for o in out_leaves])
    return value, _unflatten(out_def, outs)


def jacobian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Return a function computing the Jacobian of ``f`` (reverse mode, one row per output
    element). The Jacobian for an input of shape ``s_in`` has shape ``out.shape + s_in``.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    nums, single = _argnums_tuple(argnums, "jacobian")

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        call_args, wrapped = _wrap_args(args, nums, "jacobian")
        inputs = [i for ins, _ in wrapped for i in ins]
        traced = _must_record(inputs)
        with autodiff.enable_grad(), _Nesting():
            out = f(*call_args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"jacobian: the function must return a Tensor, got {type(out).__name__}"
            )
        odata = out._data
        xp = namespace_of(odata)
        rows: list[list[Any]] = [[] for _ in inputs]
        for k in range(odata.size):
            seed = xp.zeros(odata.size, odata.dtype)
            seed[k] = 1
            grads = _walk(out, seed.reshape(odata.shape), inputs, traced)
            for j, g in enumerate(grads):
                if g is None:
                    d = inputs[j].tensor._data
                    g = namespace_of(d).zeros_like(d)
                rows[j].append(g)
        jacs = []
        for inp, r in zip(inputs, rows):
            shape = odata.shape + inp.tensor.shape
            if not r:
                d = inp.tensor._data
                jacs.append(namespace_of(d).zeros(shape, d.dtype))
            elif traced:
                from .ops import reshape, stack

                jacs.append(reshape(stack(r), shape))
            else:
                jacs.append(xp.stack([g._data if isinstance(g, Tensor) else g for g in r])
                            .reshape(shape))
        return _hand_back(wrapped, jacs, single)

    jacobian_f.__name__ = f"jacobian({getattr(f, '__name__', 'f')})"
    return jacobian_f


def hessian(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """Return a function computing the Hessian of scalar-valued ``f``: the Jacobian of its
    gradient, of shape ``x.shape + x.shape`` for one input.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> cr.hessian(lambda x: (x ** 3).sum())(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    nums, single = _argnums_tuple(argnums, "hessian")
    if not single:
        raise ValueError("hessian: pass a single int argnums (the Hessian of one argument)")
    return jacobian(grad(f, argnums), argnums)
