"""``cr.save`` / ``cr.load``: PyTorch's spellings of :func:`chainrule.io.save` and
:func:`chainrule.io.load` (safetensors, never pickle).

``torch.save(model.state_dict(), path)`` becomes ``cr.save(model.state_dict(), path)``; an
optimiser's or a scheduler's state dict, or any nested dict/list of arrays, numbers and
strings, is saved too. Whole modules and other objects are refused (saving them would need
pickle, which runs code when loaded). PyTorch's own ``.pt``/``.pth`` files are pickles (or zip
archives of pickles) and are not read: re-save them from PyTorch with safetensors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import io as _io

__all__ = ["save", "load"]


def save(obj: Mapping[str, Any], f: str | os.PathLike[str], **kwargs: Any) -> None:
    """Save a state dict (or nested state) to the file ``f`` as safetensors, atomically.

    PyTorch's pickling options (``pickle_module``, ``_use_new_zipfile_serialization``...) are
    refused; ``metadata=`` (a dict of str) is passed to :func:`chainrule.io.save`.

    Examples
    --------
    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model = cr.nn.Linear(2, 1)
    >>> cr.save(model.state_dict(), path)
    >>> sorted(cr.load(path))
    ['bias', 'weight']
    """
    extra = sorted(set(kwargs) - {"metadata"})
    if extra:
        raise TypeError(
            f"save: unsupported arguments {extra}: chainrule saves safetensors, not pickles"
        )
    if not isinstance(obj, Mapping):
        hint = (
            " (save model.state_dict() and rebuild the model in code)"
            if hasattr(obj, "state_dict")
            else ""
        )
        raise TypeError(
            f"save: expected a state dict (a mapping of names to arrays, or a nested state), "
            f"got {type(obj).__name__}{hint}; objects are not pickled"
        )
    _io.save(obj, f, metadata=kwargs.get("metadata"))


def load(
    f: str | os.PathLike[str],
    map_location: Any = None,
    weights_only: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """Load what :func:`save` wrote: a state dict of NumPy arrays, or the nested state.

    ``map_location`` may be ``None``, ``"cpu"`` or a ``cr.device("cpu")`` (the arrays are
    loaded on the host; move the model with ``.to(device)``). ``weights_only`` is accepted for
    PyTorch's code and always holds: nothing in the file is executed. A PyTorch pickle
    (``.pt``/``.pth``) raises ValueError saying so.

    Examples
    --------
    >>> import os, tempfile, numpy as np, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "opt.safetensors")
    >>> cr.save({"step": 3, "lrs": [0.1, 0.01], "w": np.ones(2)}, path)
    >>> state = cr.load(path, map_location="cpu")
    >>> state["step"], state["lrs"], state["w"].tolist()
    (3, [0.1, 0.01], [1.0, 1.0])
    """
    if kwargs:
        raise TypeError(f"load: unsupported arguments {sorted(kwargs)}")
    if map_location is not None and str(map_location) != "cpu":
        raise ValueError(
            f"load: map_location={map_location!r} is not supported; load on the CPU and move "
            f"the model with .to(device)"
        )
    path = os.fspath(f)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        head = b""  # let io.load name the missing file
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise ValueError(
            f"load: {path} is a PyTorch pickle (.pt/.pth; zip or pickle format), which "
            f"chainrule never reads (unpickling runs code). In PyTorch, save the state dict with "
            f"safetensors.torch.save_file(state_dict, 'model.safetensors') and load that file"
        )
    return _io.load(path)
