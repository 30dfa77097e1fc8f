"""Array namespaces: the module of functions a device's arrays are computed with.

Every forward computation and every gradient rule in chainrule is written against a namespace
``xp`` that is passed in, never against ``numpy`` directly. On the CPU that namespace is
:data:`numpy_namespace`: NumPy's own functions, plus the few that NumPy lacks and the rules need
(``sigmoid``, ``erf``, ``logsumexp``, ...), which each primitive registers here from its forward.
A CuPy namespace is built the same way when CuPy is present (the GPU work fills this in).

The default floating dtype (what Python floats and lists become) also lives here.
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "numpy_namespace",
    "namespace_of",
    "register_raw",
    "get_default_dtype",
    "set_default_dtype",
    "blas_threads",
]


def _make_namespace(module: types.ModuleType, name: str) -> types.SimpleNamespace:
    ns = types.SimpleNamespace(
        **{k: getattr(module, k) for k in dir(module) if not k.startswith("_")}
    )
    ns.__name__ = name
    return ns


#: NumPy's functions as a plain namespace object; attribute lookup is one dict access.
numpy_namespace = _make_namespace(np, "numpy")

_namespaces: list[types.SimpleNamespace] = [numpy_namespace]
_raw_functions: dict[str, Callable[..., Any]] = {}


def register_raw(name: str, forward: Callable[..., Any]) -> None:
    """Make ``forward(xp, *args)`` available as ``xp.<name>(*args)`` in every array namespace.

    Only names the backend lacks are added (``numpy.exp`` stays NumPy's own).

    Examples
    --------
    >>> register_raw("twice", lambda xp, x: x * 2)
    >>> numpy_namespace.twice(np.ones(2))
    array([2., 2.])
    """
    _raw_functions[name] = forward
    for ns in _namespaces:
        if not hasattr(ns, name):
            setattr(ns, name, _bind(forward, ns))


def _bind(forward: Callable[..., Any], ns: types.SimpleNamespace) -> Callable[..., Any]:
    def bound(*args: Any, **kwargs: Any) -> Any:
        return forward(ns, *args, **kwargs)

    bound.__name__ = getattr(forward, "__name__", "raw")
    return bound


def namespace_of(array: Any) -> types.SimpleNamespace:
    """Return the array namespace that computes on ``array`` (NumPy for ndarrays and scalars).

    Examples
    --------
    >>> namespace_of(np.zeros(3)).__name__
    'numpy'
    """
    if type(array) is np.ndarray or not hasattr(array, "__cuda_array_interface__"):
        return numpy_namespace
    return _cupy_namespace()


def like_device(array: Any, like: Any) -> Any:
    """``array`` copied to ``like``'s GPU when ``like`` is a GPU (CuPy) array and ``array`` a
    NumPy one; otherwise ``array`` itself. Constants (targets, weights, labels) given as NumPy
    arrays beside GPU inputs go through this, so they need not be moved by hand.

    Examples
    --------
    >>> like_device(np.ones(2), np.zeros(3)) is not None
    True
    """
    if type(array) is not np.ndarray or type(like) is np.ndarray:
        return array
    if not hasattr(like, "__cuda_array_interface__"):
        return array
    return namespace_of(like).asarray(array)


def parse_device(device: Any, where: str) -> tuple[str, int]:
    """``("cpu", 0)`` or ``("cuda", N)`` for the names "cpu", "cuda" (GPU 0) and "cuda:N".

    Raises
    ------
    ValueError
        Naming ``where`` (the function or option that got it) for any other value.

    Examples
    --------
    >>> parse_device("cuda:1", "Module.to")
    ('cuda', 1)
    """
    kind, _, index = device.partition(":") if isinstance(device, str) else ("", "", "")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise ValueError(f"{where}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return kind, int(index or 0)


def on_device(device: Any, where: str) -> tuple[contextlib.AbstractContextManager[Any], Any]:
    """The context to compute in on ``device`` ("cpu", "cuda", "cuda:N"; that GPU made current)
    and the function that copies host arrays there (the identity for "cpu").

    Raises
    ------
    ValueError
        For another device name (see :func:`parse_device`).
    ImportError
        For a GPU when CuPy is not installed, naming ``where`` and the extra to install.

    Examples
    --------
    >>> context, move = on_device("cpu", "example")
    >>> with context:
    ...     move(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    kind, index = parse_device(device, where)
    if kind == "cpu":
        return contextlib.nullcontext(), lambda a: a
    try:
        import cupy
    except ImportError:
        raise ImportError(
            f"{where}: device={device!r} needs CuPy and an NVIDIA GPU: "
            'pip install "chainrule[gpu]"'
        ) from None
    return cupy.cuda.Device(index), cupy.asarray


def _cupy_namespace() -> types.SimpleNamespace:  # pragma: no cover - needs a GPU
    for ns in _namespaces:
        if ns.__name__ == "cupy":
            return ns
    import cupy

    ns = _make_namespace(cupy, "cupy")
    for name, forward in _raw_functions.items():
        if not hasattr(ns, name):
            setattr(ns, name, _bind(forward, ns))
    _namespaces.append(ns)
    return ns


_FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)


@functools.lru_cache(maxsize=1)
def _threadpool_controller() -> Any:
    # Finding the pools scans the process's loaded libraries (milliseconds): made once.
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_threads(n: int) -> contextlib.AbstractContextManager[Any]:
    """A context manager that limits every BLAS and OpenMP pool to ``n`` threads (a no-op
    without threadpoolctl). NumPy's and SciPy's pools each take every core by default and
    fight when both are busy; the estimators and ``chainrule train`` choose instead.

    Examples
    --------
    >>> with blas_threads(1):
    ...     pass
    """
    try:
        controller = _threadpool_controller()
    except ImportError:
        return contextlib.nullcontext()
    return controller.limit(limits=n)


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats and lists of floats become (float32 unless changed).

    Examples
    --------
    >>> get_default_dtype()
    dtype('float32')
    """
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype that Python floats and lists of floats become.

    Parameters
    ----------
    dtype : numpy dtype or its name
        One of float16, float32, float64.

    Examples
    --------
    >>> set_default_dtype(np.float64); get_default_dtype()
    dtype('float64')
    >>> set_default_dtype("float32")
    """
    global _default_dtype
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"set_default_dtype: unknown dtype {dtype!r}") from exc
    if dt not in _FLOAT_DTYPES:
        raise TypeError(
            f"set_default_dtype: expected a floating dtype (float16, float32, float64), got {dt}"
        )
    _default_dtype = dt
