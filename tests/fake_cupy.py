"""A stand-in for CuPy, built on NumPy: chainrule's GPU code paths run where there is no GPU.

``DeviceArray`` is a NumPy array that says it lives on a GPU (it has ``__cuda_array_interface__``
and ``.get()``), and, like a CuPy array, refuses to be mixed with host ``numpy.ndarray`` operands
in ufuncs and array functions. The fake ``cupy`` module offers NumPy's functions with their array
results moved to the "device". Computations are NumPy's, so a model trained on this device must
give bit for bit the numbers it gives on the CPU: tests check the device plumbing (which arrays
live where, what is copied back) this way. CuPy's own behaviour (its kernels, its coverage of
NumPy's API) needs a real GPU: ``tests/test_gpu.py`` runs when CuPy is installed.

The fake has :data:`DEVICE_COUNT` GPUs and, per thread as in CUDA, a current one
(``cupy.cuda.Device(n)`` as a context manager or with ``.use()``,
``cupy.cuda.runtime.getDevice()``). An array remembers the GPU it was made on (``a.device.id``);
like CuPy, the fake makes new arrays on the current GPU, copies an array to the current GPU in
``cupy.asarray`` / ``cupy.array`` / ``a.copy()``, and refuses to compute on an array that lives
on another GPU than the current one ("Array device must be same as the current device").
"""

from __future__ import annotations

import functools
import sys
import threading
import types
from typing import Any

import numpy as np

#: How many GPUs the fake has.
DEVICE_COUNT = 4


class CUDARuntimeError(RuntimeError):
    """``cupy.cuda.runtime.CUDARuntimeError``."""


class _Current(threading.local):
    device = 0  # CUDA's current device belongs to the host thread; a new thread starts on 0


_current = _Current()


class Device:
    """``cupy.cuda.Device(n)``: GPU ``n`` (the current one when ``n`` is None).

    ``with Device(n):`` makes it current for the block and restores the previous one after;
    ``Device(n).use()`` makes it current for good. A GPU the fake does not have is refused when
    it is made current, as CUDA refuses it.
    """

    def __init__(self, device: int | None = None) -> None:
        self.id = _current.device if device is None else int(device)
        self._previous: list[int] = []

    def use(self) -> None:
        _check_device(self.id)
        _current.device = self.id

    def __enter__(self) -> Device:
        _check_device(self.id)
        self._previous.append(_current.device)
        _current.device = self.id
        return self

    def __exit__(self, *exc: object) -> None:
        _current.device = self._previous.pop()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


def _check_device(index: int) -> None:
    if not 0 <= index < DEVICE_COUNT:
        raise CUDARuntimeError(
            f"cudaErrorInvalidDevice: invalid device ordinal {index} (the fake has "
            f"{DEVICE_COUNT} GPUs)"
        )


class DeviceArray(np.ndarray):
    """A NumPy array that behaves, for placement, like a CuPy array on one of the GPUs."""

    _device_id: int

    def __array_finalize__(self, obj: Any) -> None:
        # Views of a device array stay on its GPU; a fresh result is made on the current one.
        self._device_id = getattr(obj, "_device_id", _current.device)

    @property
    def device(self) -> Device:
        """The GPU the array lives on (CuPy's ``ndarray.device``)."""
        return Device(self._device_id)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (0, False), "version": 3}

    def get(self) -> np.ndarray:
        """Copy to the host (CuPy's ``ndarray.get``)."""
        return np.array(self.view(np.ndarray), copy=True)

    def copy(self, order: str = "C") -> DeviceArray:  # type: ignore[override]
        """A copy on the current GPU (CuPy copies across GPUs this way)."""
        return _on_current(np.array(self.view(np.ndarray), order=order, copy=True))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        _refuse_host(ufunc.__name__, inputs)
        _refuse_other_device(inputs)
        if "out" in kwargs:
            _refuse_host(ufunc.__name__, kwargs["out"])
            _refuse_other_device(kwargs["out"])
            kwargs["out"] = tuple(_host_view(o) for o in kwargs["out"])
        result = getattr(ufunc, method)(*(_host_view(a) for a in inputs), **kwargs)
        return _to_device(result)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        _refuse_host(func.__name__, _flatten(args) + _flatten(list(kwargs.values())))
        _refuse_other_device(_flatten(args) + _flatten(list(kwargs.values())))
        args = _map(_host_view, args)
        kwargs = {k: _map(_host_view, v) for k, v in kwargs.items()}
        return _to_device(func(*args, **kwargs))

    # CuPy indexes with host (NumPy) index arrays too, and copies host values assigned in.
    def __getitem__(self, index: Any) -> Any:
        out = _to_device(self.view(np.ndarray)[_map(_host_view, index)])
        if isinstance(out, DeviceArray):
            out._device_id = self._device_id  # a view (or a gather) of this GPU's memory
        return out

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


def _refuse_other_device(values: Any) -> None:
    for v in _flatten(list(values)):
        if isinstance(v, DeviceArray) and v._device_id != _current.device:
            raise ValueError(
                f"fake cupy: Array device must be same as the current device: array device = "
                f"{v._device_id} while current = {_current.device}"
            )


def _on_current(result: np.ndarray) -> DeviceArray:
    out = result.view(DeviceArray)
    out._device_id = _current.device
    return out


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
        return _on_current(result) if type(result) is not DeviceArray else result
    if isinstance(result, np.generic):
        return _on_current(np.asarray(result))
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


def _asarray(a: Any, dtype: Any = None, order: Any = None, **_: Any) -> DeviceArray:
    """``cupy.asarray``: ``a`` itself when it already is on the current GPU with that dtype,
    else a copy there (host data and other GPUs' arrays alike)."""
    if (
        isinstance(a, DeviceArray)
        and a._device_id == _current.device
        and (dtype is None or np.dtype(dtype) == a.dtype)
    ):
        return a
    return _array(a, dtype=dtype, order=order or "K")


def _array(a: Any, dtype: Any = None, copy: bool = True, order: str = "K", **kw: Any) -> Any:
    """``cupy.array``: a copy on the current GPU (unless ``copy=False`` and no copy is needed)."""
    if not copy:
        return _asarray(a, dtype=dtype, order=order)
    return _on_current(np.array(_map(_host_view, a), dtype=dtype, order=order, copy=True, **kw))


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
    cupy.asarray, cupy.array = _asarray, _array
    runtime = types.SimpleNamespace(
        getDevice=lambda: _current.device,
        setDevice=lambda index: Device(index).use(),
        getDeviceCount=lambda: DEVICE_COUNT,
        CUDARuntimeError=CUDARuntimeError,
    )
    cupy.cuda = types.SimpleNamespace(
        Device=Device, runtime=runtime, get_device_id=lambda: _current.device
    )
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
    monkeypatch.setattr(_current, "device", 0)  # every test starts on GPU 0
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(
        backend, "_namespaces", [ns for ns in backend._namespaces if ns.__name__ != "cupy"]
    )
    return modules["cupy"]
