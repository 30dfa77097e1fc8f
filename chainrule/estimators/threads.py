"""One BLAS thread for the estimators' fits.

Their problems are small and latency-bound; with NumPy's and SciPy's OpenBLAS pools each at the
machine's core count, the two fight and a fit runs several times slower. threadpoolctl limits
every pool. Finding the pools means scanning the process's loaded libraries (a few milliseconds,
as long as a whole small fit), so the controller is made once and reused.
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..backend import blas_threads

__all__ = ["one_blas_thread"]


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """A context manager that limits every BLAS and OpenMP pool to one thread (a no-op without
    threadpoolctl).

    Examples
    --------
    >>> with one_blas_thread():
    ...     pass
    """
    return blas_threads(1)
