"""``cr.device``: PyTorch's device object, for code that writes ``torch.device("cuda")``.

A device is a string ("cpu", "cuda", "cuda:1") with PyTorch's ``type`` and ``index``
attributes, so everything that takes a device name (``Tensor.to``, ``Module.to``, the
factories' ``device=``) takes one, and ``x.device == cr.device("cpu")`` compares as expected.
"""

from __future__ import annotations

from typing import Any

__all__ = ["device"]


class device(str):  # noqa: N801 - torch.device's name
    """A device: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``, ``device("cuda", 1)``.

    Parameters
    ----------
    type : str or device
        ``"cpu"`` or ``"cuda"``, optionally with ``":N"``.
    index : int, optional
        The GPU's number (not with a ``":N"`` in ``type``, not for the CPU).

    Examples
    --------
    >>> import chainrule as cr
    >>> d = cr.device("cuda:1")
    >>> d.type, d.index, str(d)
    ('cuda', 1, 'cuda:1')
    >>> cr.ones(2).to(cr.device("cpu")).device == cr.device("cpu")
    True
    """

    type: str
    index: int | None

    def __new__(cls, type: Any, index: int | None = None) -> device:  # noqa: A002
        name = type if isinstance(type, str) else None
        kind, _, num = name.partition(":") if name is not None else ("", "", "")
        ok = kind in ("cpu", "cuda") and (not num or (kind == "cuda" and num.isdigit()))
        if index is not None:
            ok = ok and not num and isinstance(index, int) and not isinstance(index, bool)
            ok = ok and index >= 0 and (kind == "cuda" or index == 0)
        if not ok:
            extra = "" if index is None else f", index {index!r}"
            raise ValueError(
                f"device: expected 'cpu', 'cuda' or 'cuda:N' (and an optional index >= 0), got "
                f"{type!r}{extra}"
            )
        if kind == "cpu":
            idx = None
        else:
            idx = int(num) if num else index
        text = kind if idx is None else f"{kind}:{idx}"
        self = super().__new__(cls, text)
        self.type = kind
        self.index = idx
        return self

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (device, (str(self),))
