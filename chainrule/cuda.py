"""``cr.cuda``: PyTorch's ``torch.cuda.is_available()`` and ``device_count()``, through CuPy.

A GPU is available when CuPy is installed (``pip install "chainrule[gpu]"``) and sees at least
one CUDA device; without CuPy both answer "none" instead of raising, as PyTorch's do on a CPU
build.
"""

from __future__ import annotations

__all__ = ["is_available", "device_count"]


def device_count() -> int:
    """The number of CUDA devices CuPy sees; 0 without CuPy or without a working driver.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cuda.device_count() >= 0
    True
    """
    try:
        import cupy
    except ImportError:
        return 0
    try:
        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # no driver, no device: CuPy raises its CUDARuntimeError
        return 0


def is_available() -> bool:
    """Whether a GPU can be used: CuPy is installed and sees a CUDA device.

    Examples
    --------
    >>> import chainrule as cr
    >>> cr.cuda.is_available() == (cr.cuda.device_count() > 0)
    True
    """
    return device_count() > 0
