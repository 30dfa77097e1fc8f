"""Zero-copy exchange with other array libraries through the DLPack protocol.

DLPack is how NumPy, CuPy, PyTorch and JAX hand each other an array's memory without copying
it: the producer exposes ``__dlpack__`` (a capsule describing the buffer) and
``__dlpack_device__`` (where the buffer lives), the consumer wraps the same memory. A
:class:`~chainrule.Tensor` is both: ``torch.from_dlpack(t)`` and ``np.from_dlpack(t)`` see its
array, and :func:`from_dlpack` wraps theirs. A write on one side is seen on the other.

Examples
--------
>>> import numpy as np, chainrule as cr
>>> a = np.zeros(3, dtype=np.float32)
>>> t = cr.from_dlpack(a)
>>> a[0] = 5.0
>>> t.tolist()
[5.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor, _leaf

__all__ = ["from_dlpack", "DLPACK_LIBRARIES"]

#: Libraries whose arrays ``cr.as_tensor`` takes through DLPack (their own ``__array__`` may copy
#: or sync; DLPack shares the buffer).
DLPACK_LIBRARIES = frozenset({"torch", "jax", "jaxlib"})

_CPU, _CUDA, _CUDA_HOST, _CUDA_MANAGED = 1, 2, 3, 13


def from_dlpack(x: Any, *, requires_grad: bool = False) -> Tensor:
    """A Tensor sharing the memory of ``x``, any object with ``__dlpack__`` (a NumPy, CuPy,
    PyTorch or JAX array).

    CPU buffers become NumPy arrays, CUDA buffers CuPy arrays (CuPy must be installed). Nothing
    is copied: a write through ``x`` is seen in the tensor and the other way round (JAX arrays
    are immutable on their side).

    Parameters
    ----------
    x : object with ``__dlpack__`` and ``__dlpack_device__``
        The producer. A chainrule Tensor is returned as it is.
    requires_grad : bool
        Whether the new tensor (a leaf) records operations for gradients; needs a float dtype.

    Returns
    -------
    Tensor
        A leaf tensor over the same memory, with the producer's dtype and shape.

    Examples
    --------
    >>> import numpy as np, chainrule as cr
    >>> a = np.arange(3.0)
    >>> t = cr.from_dlpack(a)
    >>> np.shares_memory(t.numpy(), a)
    True
    """
    if isinstance(x, Tensor):
        return x
    if not hasattr(x, "__dlpack__") or not hasattr(x, "__dlpack_device__"):
        raise TypeError(
            f"from_dlpack: {type(x).__module__}.{type(x).__name__} does not support DLPack "
            "(it has no __dlpack__/__dlpack_device__); pass a NumPy, CuPy, PyTorch or JAX array"
        )
    device_type, _ = x.__dlpack_device__()
    if int(device_type) in (_CPU, _CUDA_HOST):
        try:
            arr = np.from_dlpack(x)
        except (BufferError, TypeError, RuntimeError) as exc:
            raise TypeError(
                f"from_dlpack: NumPy cannot take the buffer of {type(x).__name__}: {exc}"
            ) from exc
    elif int(device_type) in (_CUDA, _CUDA_MANAGED):  # pragma: no cover - needs a GPU
        try:
            import cupy
        except ImportError as exc:
            raise TypeError(
                f"from_dlpack: {type(x).__name__} lives on a CUDA device; install CuPy to "
                "take it without a copy"
            ) from exc
        arr = cupy.from_dlpack(x)
    else:
        raise TypeError(
            f"from_dlpack: {type(x).__name__} lives on DLPack device type {int(device_type)}; "
            "chainrule takes CPU (NumPy) and CUDA (CuPy) buffers"
        )
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"from_dlpack: unsupported dtype {arr.dtype}; expected a float, integer or bool array"
        )
    t = _leaf(arr)
    if requires_grad:
        if arr.dtype.kind != "f":
            raise TypeError(
                f"from_dlpack: only floating-point tensors can require gradients, got dtype "
                f"{arr.dtype}"
            )
        t._rg = True
    return t
