"""A stand-in for CuPy, built on NumPy: chainrule's GPU code paths run where there is no GPU.

``DeviceArray`` is a NumPy array that says it lives on a GPU (it has ``__cuda_array_interface__``
and ``.get()``), and, like a CuPy array, refuses to be mixed with host ``numpy.ndarray`` operands
in ufuncs and array functions. The fake ``cupy`` module offers NumPy's functions with their array
results moved to the "device". Computations are NumPy's, so a model trained on this device must
give bit for bit the numbers it gives on the CPU: tests check the device plumbing (which arrays
live where, what is copied back) this way. CuPy's own behaviour (its kernels, its coverage of
NumPy's API) needs a real GPU: ``tests/test_gpu.py`` runs when CuPy is installed.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

import numpy as np


class DeviceArray(np.ndarray):
    """A NumPy array that behaves, for placement, like a CuPy array."""

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}

    def get(self) -> np.ndarray:
        """Copy to the host (CuPy's ``ndarray.get``)."""
        return np.array(self.view(np.ndarray), copy=True)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _refuse_host(ufunc.__name__, inputs)
        if "out" in kwargs:
            _refuse_host(ufunc.__name__, kwargs["out"])
            kwargs["out"] = tuple(_host_view(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*(_host_view(a) for a in inputs), **kwargs)
        return _to_device(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        _refuse_host(func.__name__, _flatten(args) + _flatten(list(kwargs.values())))
        args = _map(_host_view, args)
        kwargs = {k: _map(_host_view, v) for k, v in kwargs.items()}
        return _to_device(func(*args, **kwargs))

    # CuPy indexes with host (NumPy) index arrays too, and copies host values assigned in.
    def __getitem__(self, index: Any) -> Any:
        return _to_device(self.view(np.ndarray)[_map(_host_view, index)])

    def __setitem__(self, index: Any, value: Any) -> None:
        self.view(np.ndarray)[_map(_host_view, index)] = _host_view(value)


def _flatten(values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, (list, tuple)):
            out.extend(_flatten(v))
        else:
            out.append(v)
    return out


def _refuse_host(name: str, values: Any) -> None:
    for v in _flatten(list(values)):
        if type(v) is np.ndarray:
            raise TypeError(
                f"fake cupy: {name} got a host numpy.ndarray beside a device array (CuPy raises "
                "here too); move it with cupy.asarray first"
            )


def _host_view(a: Any) -> Any:
    return a.view(np.ndarray) if isinstance(a, DeviceArray) else a


def _map(f: Any, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_map(f, v) for v in value)
    if isinstance(value, list):
        return [_map(f, v) for v in value]
    return f(value)


def _to_device(result: Any) -> Any:
    if isinstance(result, np.ndarray):  # 0-d results stay arrays, as in CuPy
        return result.view(DeviceArray) if type(result) is not DeviceArray else result
    if isinstance(result, np.generic):
        return np.asarray(result).view(DeviceArray)
    if isinstance(result, tuple):
        return tuple(_to_device(r) for r in result)
    if isinstance(result, list):
        return [_to_device(r) for r in result]
    return result


def _device_function(func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Host arrays passed to a cupy.* function are copied to the device (cupy.asarray does
        # that, and so do creation functions given host data).
        args = _map(_host_view, args)
        kwargs = {k: _map(_host_view, v) for k, v in kwargs.items()}
        return _to_device(func(*args, **kwargs))

    return wrapper


class _Device:
    """``cupy.cuda.Device(i)``: a context manager that makes GPU ``i`` current."""

    current = 0

    def __init__(self, index: int = 0) -> None:
        self.index = index

    def __enter__(self) -> _Device:
        self.previous, _Device.current = _Device.current, self.index
        return self

    def __exit__(self, *exc: object) -> None:
        _Device.current = self.previous


def make_module() -> dict[str, types.ModuleType]:
    """The fake ``cupy``, ``cupyx``, ``cupyx.scipy`` and ``cupyx.scipy.special`` modules."""
    import scipy.special

    cupy = types.ModuleType("cupy")
    for name in dir(np):
        if name.startswith("_"):
            continue
        value = getattr(np, name)
        if isinstance(value, np.ufunc):  # dispatches on DeviceArray by itself; keeps .at etc.
            setattr(cupy, name, value)
        elif callable(value) and not isinstance(value, type):
            setattr(cupy, name, _device_function(value))
        else:
            setattr(cupy, name, value)
    cupy.ndarray = DeviceArray
    cupy.cuda = types.SimpleNamespace(Device=_Device)
    cupy.asnumpy = lambda a: a.get() if isinstance(a, DeviceArray) else np.asarray(a)
    cupyx = types.ModuleType("cupyx")
    cupyx_scipy = types.ModuleType("cupyx.scipy")
    special = types.ModuleType("cupyx.scipy.special")
    for name in ("erf", "erfc", "erfinv", "gammaln", "digamma", "expit", "logit", "log_expit"):
        if hasattr(scipy.special, name):
            setattr(special, name, _device_function(getattr(scipy.special, name)))
    cupyx.scipy = cupyx_scipy
    cupyx_scipy.special = special
    return {
        "cupy": cupy, "cupyx": cupyx, "cupyx.scipy": cupyx_scipy, "cupyx.scipy.special": special,
    }  # fmt: skip


def install(monkeypatch: Any) -> types.ModuleType:
    """Put the fake modules in ``sys.modules`` for one test and forget any real CuPy namespace
    chainrule has cached; ``monkeypatch`` undoes both."""
    from chainrule import backend

    modules = make_module()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(
        backend, "_namespaces", [ns for ns in backend._namespaces if ns.__name__ != "cupy"]
    )
    return modules["cupy"]
