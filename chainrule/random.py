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

__all__ = ["seed", "manual_seed", "get_generator", "get_state", "set_state", "resolve"]

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
