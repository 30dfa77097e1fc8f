"""Random numbers for chainrule: one seedable NumPy ``Generator`` that ``rand``/``randn`` draw from.

Examples
--------
>>> import chainrule as cr
>>> cr.random.seed(0)
>>> a = cr.randn(3)
>>> cr.random.seed(0)
>>> bool((cr.randn(3).numpy() == a.numpy()).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "seed", "manual_seed", "get_generator", "get_state", "set_state", "resolve", "Generator",
    "randperm",
]  # fmt: skip

_generator = np.random.default_rng()


def seed(n: int) -> None:
    """Reset chainrule's global generator to a fresh PCG64 stream seeded with ``n``.

    Examples
    --------
    >>> seed(42)
    """
    global _generator
    _generator = np.random.default_rng(n)


def get_generator() -> np.random.Generator:
    """The global ``numpy.random.Generator`` that chainrule's random functions use by default.

    Examples
    --------
    >>> isinstance(get_generator(), np.random.Generator)
    True
    """
    return _generator


def get_state() -> dict[str, Any]:
    """The global generator's state, a plain dict (for checkpoints).

    Examples
    --------
    >>> s = get_state(); a = get_generator().random(); set_state(s)
    >>> get_generator().random() == a
    True
    """
    return _generator.bit_generator.state


def set_state(state: dict[str, Any]) -> None:
    """Restore a state returned by :func:`get_state`.

    Examples
    --------
    >>> set_state(get_state())
    """
    _generator.bit_generator.state = state


def resolve(generator: np.random.Generator | int | None) -> np.random.Generator:
    """The generator to draw from: the given one, a new one from an int seed, or the global one.

    Examples
    --------
    >>> resolve(3).random() == np.random.default_rng(3).random()
    True
    """
    if generator is None:
        return _generator
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)):
        return np.random.default_rng(int(generator))
    raise TypeError(
        f"random: expected a numpy.random.Generator, an int seed or None, got {type(generator)!r}"
    )


def manual_seed(n: int) -> np.random.Generator:
    """PyTorch's spelling of :func:`seed`; returns the new global generator.

    Examples
    --------
    >>> import chainrule as cr
    >>> g = cr.manual_seed(0)
    >>> g is get_generator()
    True
    """
    seed(n)
    return _generator


class Generator(np.random.Generator):
    """A seedable generator, PyTorch's ``torch.Generator``: pass it as ``generator=`` to
    chainrule's random functions (``randn``, ``rand``, ``randint``, ``randperm``, ``normal_``,
    ``DataLoader``, ``random_split``...).

    It is a ``numpy.random.Generator`` (PCG64) with PyTorch's ``manual_seed`` (returns the
    generator itself), ``initial_seed`` and ``seed``; ``get_state``/``set_state`` hold NumPy's
    state dict rather than PyTorch's byte tensor, and the streams differ from PyTorch's.

    Parameters
    ----------
    device : str, default "cpu"
        Only the CPU: draws are made on the host (moved to a GPU with ``.to``).

    Examples
    --------
    >>> import chainrule as cr
    >>> g = cr.Generator().manual_seed(0)
    >>> a = cr.randn(3, generator=g)
    >>> bool((cr.randn(3, generator=cr.Generator().manual_seed(0)).numpy() == a.numpy()).all())
    True
    """

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise ValueError(
                f"Generator: only device='cpu' is supported (draws are made on the host), "
                f"got {device!r}"
            )
        self._initial_seed = int(np.random.SeedSequence().entropy % 2**63)
        super().__init__(np.random.PCG64(self._initial_seed))

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (an int >= 0); returns ``self``."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"Generator.manual_seed: expected an int >= 0, got {seed!r}")
        self.bit_generator.state = np.random.PCG64(int(seed)).state
        self._initial_seed = int(seed)
        return self

    def initial_seed(self) -> int:
        """The seed the current stream started from."""
        return self._initial_seed

    def seed(self) -> int:
        """Restart from a fresh non-deterministic seed; returns it."""
        new = int(np.random.SeedSequence().entropy % 2**63)
        self.manual_seed(new)
        return new

    def get_state(self) -> dict[str, Any]:
        """The stream's state (NumPy's PCG64 state dict)."""
        return self.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> Generator:
        """Restore a state from :meth:`get_state`; returns ``self``."""
        self.bit_generator.state = state
        return self


def randperm(
    n: int,
    *,
    generator: np.random.Generator | int | None = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Any:
    """A random permutation of ``0 .. n-1`` (int64 by default), as ``torch.randperm``.

    Examples
    --------
    >>> import chainrule as cr
    >>> p = cr.randperm(5, generator=cr.Generator().manual_seed(1))
    >>> p.dtype, sorted(p.tolist())
    (dtype('int64'), [0, 1, 2, 3, 4])
    """
    from .tensor import _resolve_dtype, tensor

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be an int >= 0, got {n!r}")
    dt = _resolve_dtype(dtype, "randperm") or np.dtype(np.int64)
    if requires_grad and dt.kind != "f":
        raise ValueError(f"randperm: only floating tensors can require grad, got dtype {dt}")
    out = resolve(generator).permutation(int(n)).astype(dt)
    t = tensor(out, requires_grad=requires_grad)
    return t if device is None else t.to(device)
