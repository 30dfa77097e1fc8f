"""Saving and loading: weights in the safetensors format, and training checkpoints.

Nothing here unpickles: a safetensors file is a JSON header plus raw array bytes, so loading a
file runs no code from it, and a truncated, corrupted or foreign file is reported as such
(``ValueError``). Files are written atomically: to a temporary file in the same folder, flushed
to disk, then renamed over the target, so a crash mid-write leaves the old file intact.

A checkpoint is one safetensors file: the model's arrays under ``model/<name>``, the optimiser's
and scheduler's arrays under ``optimizer/...`` and ``scheduler/...``, and everything else (the
optimiser's parameter groups and step counts, the scheduler's state, the epoch, chainrule's
random-generator state, your ``extra``) as JSON in the header's metadata, under
``"chainrule.checkpoint"``. The ``safetensors`` package is needed: ``pip install
"chainrule[io]"``.

Examples
--------
>>> import os, tempfile, chainrule as cr
>>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
>>> cr.io.save({"w": cr.ones(2, 3)}, path)
>>> cr.io.load(path)["w"].shape
(2, 3)
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import random as _random
from .tensor import Tensor

__all__ = [
    "save", "load", "load_metadata", "save_checkpoint", "load_checkpoint", "write_atomic",
]  # fmt: skip

CHECKPOINT_KEY = "chainrule.checkpoint"
#: The metadata key under which io.save records a nested state dict's structure.
STATE_KEY = "chainrule.state"
CHECKPOINT_VERSION = 1
_SUPPORTED = frozenset(
    np.dtype(t)
    for t in (
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64",
    )
)  # fmt: skip
# Tags of the JSON encoding of optimiser/scheduler/extra state (see _encode).
_TENSOR, _SCALAR, _TUPLE, _ITEMS = "__tensor__", "__scalar__", "__tuple__", "__items__"
_TAGS = frozenset({_TENSOR, _SCALAR, _TUPLE, _ITEMS})


def _safetensors() -> Any:
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            'chainrule.io needs the safetensors package: pip install "chainrule[io]" '
            "(or pip install safetensors)"
        ) from None
    return safetensors


def _host(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value._data
    if hasattr(value, "__cuda_array_interface__"):
        value = value.get()
    return np.asarray(value)


# ---------------------------------------------------------------------------- files
#: A temporary of write_atomic older than this is stale even when its writer's pid is alive
#: (pids are reused).
STALE_SECONDS = 24 * 3600


def _remove_stale(directory: str, prefix: str) -> None:
    """Delete ``prefix<pid>-*.tmp`` files whose writer is dead (killed mid-write) or that are
    older than STALE_SECONDS. Best effort: a file that vanishes or resists is left alone."""
    try:
        entries = [e for e in os.listdir(directory) if e.startswith(prefix) and e.endswith(".tmp")]
    except OSError:
        return
    now = time.time()
    for entry in entries:
        pid_text = entry[len(prefix) :].split("-", 1)[0]
        full = os.path.join(directory, entry)
        try:
            alive = pid_text.isdigit() and _alive(int(pid_text))
            if not alive or now - os.stat(full).st_mtime > STALE_SECONDS:
                os.unlink(full)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    r"""Write ``data`` to ``path`` so that ``path`` always holds either the old or the new file.

    The bytes go to a temporary file in the target's folder (``os.replace`` is atomic only
    within one file system), are flushed to disk, and the temporary file is renamed over
    ``path``; a crash or an error mid-write leaves the old file as it was and no temporary
    file behind (a temporary left by a killed process, ``.NAME.tmp-<pid>-*.tmp``, is removed by
    the next write to ``path`` once that process is gone). A new file gets the usual mode
    (0o666 less the umask), a replaced one keeps its mode. chainrule writes every file it
    produces this way (weights, checkpoints, the command's JSON and CSV outputs, pictures).

    Parameters
    ----------
    path : str or PathLike
        The file to write; its folder must exist.
    data : bytes or str
        The contents; a str is encoded as UTF-8.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> write_atomic(target, "first\n").read_text()
    'first\n'
    >>> write_atomic(target, b"second\n").read_bytes(), os.listdir(os.path.dirname(target))
    (b'second\n', ['notes.txt'])
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_atomic: data must be bytes or str, got {type(data).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    prefix = f".{os.path.basename(path)}.tmp-"
    _remove_stale(directory, prefix)
    tmp = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f"{prefix}{os.getpid()}-", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)  # NamedTemporaryFile creates 0o600; give the usual mode
        os.replace(tmp.name, path)
    except BaseException:
        try:
            os.unlink(tmp.name)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
    return Path(path)


def _read(path: Any, op: str) -> tuple[str, dict[str, np.ndarray], dict[str, str]]:
    st = _safetensors()
    fname = os.fspath(path)
    if not os.path.exists(fname):
        raise FileNotFoundError(f"{op}: no such file: {fname}")
    try:
        with st.safe_open(fname, framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # SafetensorError, OSError, ...: whatever the bytes provoke
        raise ValueError(f"{op}: {fname} is not a valid safetensors file: {exc}") from exc
    return fname, tensors, dict(metadata)


def _arrays(state_dict: Any, op: str) -> dict[str, np.ndarray]:
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"{op}: expected a mapping of names to arrays (a state_dict), got "
            f"{type(state_dict).__name__}"
        )
    out = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise TypeError(f"{op}: names must be str, got {key!r}")
        if not isinstance(value, (Tensor, np.ndarray, np.generic)) and not hasattr(
            value, "__cuda_array_interface__"
        ):
            raise TypeError(
                f"{op}: {key!r} is a {type(value).__name__}; expected an array or a Tensor"
            )
        arr = _host(value)
        if arr.dtype not in _SUPPORTED:
            raise TypeError(
                f"{op}: {key!r} has dtype {arr.dtype}, which safetensors cannot store; "
                f"supported: {sorted(str(d) for d in _SUPPORTED)}"
            )
        # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
        out[key] = arr if arr.flags.c_contiguous else arr.copy(order="C")
    return out


def _serialize(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None) -> bytes:
    return _safetensors().numpy.save(tensors, metadata=metadata)


def save(
    state_dict: Mapping[str, Any],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Save named arrays (a module's ``state_dict()``) to ``path`` in the safetensors format.

    Any other state dict (an optimiser's or a scheduler's: nested dicts and lists, numbers,
    strings, integer keys) is saved too, encoded as :func:`save_checkpoint` encodes them (the
    arrays as tensors, the structure in the metadata); :func:`load` gives it back as saved.

    Parameters
    ----------
    state_dict : mapping of str to array or Tensor, or a nested state
    path : str or path-like
        Written atomically (temporary file, fsync, rename).
    metadata : mapping of str to str, optional
        Stored in the file's header; read back with :func:`load_metadata`.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save({"w": np.eye(2)}, path, metadata={"note": "identity"})
    >>> load(path)["w"].tolist(), load_metadata(path)
    ([[1.0, 0.0], [0.0, 1.0]], {'note': 'identity'})
    >>> save({"state": {0: {"step": 3}}, "lr": [0.1]}, path)
    >>> load(path)
    {'state': {0: {'step': 3}}, 'lr': [0.1]}
    """
    meta = None
    if metadata is not None:
        if not isinstance(metadata, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise TypeError("io.save: metadata must be a mapping of str to str")
        if STATE_KEY in metadata:
            raise ValueError(f"io.save: the metadata key {STATE_KEY!r} is chainrule's own")
        meta = dict(metadata)
    if isinstance(state_dict, Mapping) and not all(
        isinstance(k, str) and _is_array(v) for k, v in state_dict.items()
    ):
        # Any other state (an optimiser's: nested dicts, lists, numbers, int keys) is stored as
        # the checkpoints store it: arrays as tensors, the rest as JSON in the metadata.
        tensors: dict[str, np.ndarray] = {}
        structure = _encode(state_dict, "state", tensors, "io.save")
        meta = {**(meta or {}), STATE_KEY: json.dumps(structure)}
    else:
        tensors = _arrays(state_dict, "io.save")
    write_atomic(os.fspath(path), _serialize(tensors, meta))


def _is_array(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray, np.generic)) or hasattr(
        value, "__cuda_array_interface__"
    )


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load the named arrays of a safetensors file (as NumPy arrays, in name order), or the
    state :func:`save` stored from a nested state dict (an optimiser's), as it was saved.

    Pass the result to ``model.load_state_dict``. A file that is not a valid safetensors file
    raises ``ValueError``; nothing in the file is executed.

    Examples
    --------
    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> a, b = cr.nn.Linear(2, 2), cr.nn.Linear(2, 2)
    >>> save(a.state_dict(), path)
    >>> _ = b.load_state_dict(load(path))
    >>> bool((a.weight.numpy() == b.weight.numpy()).all())
    True
    """
    fname, tensors, metadata = _read(path, "io.load")
    if STATE_KEY not in metadata:
        return tensors

    def bad(why: str) -> ValueError:
        return ValueError(f"io.load: {fname} holds a corrupted chainrule state: {why}")

    try:
        structure = json.loads(metadata[STATE_KEY])
    except (ValueError, RecursionError) as exc:
        raise bad(f"its {STATE_KEY!r} metadata is not JSON ({exc})") from None
    return _decode(structure, tensors, bad)


def load_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The str-to-str metadata stored in a safetensors file's header.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> save({"w": np.zeros(1)}, path)
    >>> load_metadata(path)
    {}
    """
    metadata = _read(path, "io.load_metadata")[2]
    metadata.pop(STATE_KEY, None)  # chainrule's own record of a nested state (see save)
    return metadata


# ---------------------------------------------------------------------------- checkpoints
def _encode(
    obj: Any, where: str, tensors: dict[str, np.ndarray], op: str = "io.save_checkpoint"
) -> Any:
    """``obj`` as JSON-able data; arrays go into ``tensors`` and are replaced by their names.

    Lists, str-keyed dicts, numbers, strings, None and bools are themselves; tuples, dicts
    with other keys (the optimiser's integer parameter indices) and arrays are tagged, so that
    decoding gives back exactly the types that were saved.
    """
    if obj is None or (
        isinstance(obj, (bool, int, float, str)) and not isinstance(obj, np.generic)
    ):
        return obj
    if isinstance(obj, (Tensor, np.ndarray, np.generic)) or hasattr(
        obj, "__cuda_array_interface__"
    ):
        name = where
        while name in tensors:
            name += "'"
        tensors[name] = _arrays({name: obj}, op)[name]
        return {_SCALAR if isinstance(obj, np.generic) else _TENSOR: name}
    if isinstance(obj, list):
        return [_encode(v, f"{where}/{i}", tensors, op) for i, v in enumerate(obj)]
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, f"{where}/{i}", tensors, op) for i, v in enumerate(obj)]}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not (len(obj) == 1 and set(obj) <= _TAGS):
            return {k: _encode(v, f"{where}/{k}", tensors, op) for k, v in obj.items()}
        return {
            _ITEMS: [
                [_encode(k.item() if isinstance(k, np.generic) else k, f"{where}/key", {}, op),
                 _encode(v, f"{where}/{k}", tensors, op)]
                for k, v in obj.items()
            ]
        }  # fmt: skip
    raise TypeError(
        f"{op}: cannot store {where} of type {type(obj).__name__}; expected "
        f"arrays, numbers, strings, None, bools, lists, tuples and dicts"
    )


def _decode(obj: Any, tensors: dict[str, np.ndarray], bad: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, bad) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((tag, value),) = obj.items()
        if tag in (_TENSOR, _SCALAR):
            if not isinstance(value, str) or value not in tensors:
                raise bad(f"the array {value!r} it refers to is missing")
            arr = tensors[value]
            return arr[()] if tag == _SCALAR else arr
        if tag == _TUPLE and isinstance(value, list):
            return tuple(_decode(v, tensors, bad) for v in value)
        if tag == _ITEMS and isinstance(value, list):
            out = {}
            for pair in value:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise bad("a dict entry is not a [key, value] pair")
                key = _decode(pair[0], tensors, bad)
                try:
                    out[key] = _decode(pair[1], tensors, bad)
                except TypeError:
                    raise bad(f"dict key {key!r} is not hashable") from None
            return out
    return {k: _decode(v, tensors, bad) for k, v in obj.items()}


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int | None = None,
    extra: Any = None,
) -> None:
    """Save everything needed to resume training, atomically, in one safetensors file.

    Stores ``model.state_dict()``, ``optimizer.state_dict()`` and ``scheduler.state_dict()``
    (when given), ``epoch``, chainrule's global random-generator state
    (:func:`chainrule.random.get_state`) and ``extra`` (arrays, numbers, strings, lists, dicts).
    Resuming with :func:`load_checkpoint` continues bit for bit as if training had not stopped
    (for a shuffling :class:`~chainrule.data.DataLoader` with a ``seed``, also call
    ``loader.set_epoch(epoch)``).

    Examples
    --------
    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> model = cr.nn.Linear(3, 1)
    >>> save_checkpoint(path, model, epoch=5, extra={"best_loss": 0.25})
    >>> load_checkpoint(path, cr.nn.Linear(3, 1))
    {'epoch': 5, 'extra': {'best_loss': 0.25}}
    """
    op = "io.save_checkpoint"
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer))):
        raise TypeError(f"{op}: epoch must be an int or None, got {type(epoch).__name__}")
    tensors = {f"model/{k}": v for k, v in _arrays(model.state_dict(), op).items()}
    header: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "epoch": None if epoch is None else int(epoch),
        "model": sorted(k[len("model/") :] for k in tensors),
        "rng": _random.get_state(),  # Python's json writes PCG64's 128-bit ints exactly
    }
    if optimizer is not None:
        header["optimizer"] = _encode(optimizer.state_dict(), "optimizer", tensors)
    if scheduler is not None:
        header["scheduler"] = _encode(scheduler.state_dict(), "scheduler", tensors)
    if extra is not None:
        header["extra"] = _encode(extra, "extra", tensors)
    metadata = {CHECKPOINT_KEY: json.dumps(header)}
    write_atomic(os.fspath(path), _serialize(tensors, metadata))


def _restorer(target: Any) -> Any:
    """A function that puts ``target``'s current state back after a load_state_dict."""
    from .optim.optimizer import Optimizer

    if isinstance(target, Optimizer):
        # Its load_state_dict rebinds the state and fills param_groups with new dicts, so
        # keeping references is enough: no copy of its (model-sized) arrays.
        groups, state = list(target.param_groups), target.state

        def restore() -> None:
            target.param_groups[:] = groups
            target.state = state

        return restore
    return functools.partial(target.load_state_dict, target.state_dict())


def load_checkpoint(
    path: str | os.PathLike[str],
    model: Any,
    optimizer: Any = None,
    scheduler: Any = None,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``model`` (and
    ``optimizer``, ``scheduler``), and chainrule's random-generator state.

    The file and the model's names and shapes are checked before anything is changed, and the
    optimiser's and scheduler's states are checked (types, ranges, shapes) as they load; a
    refused checkpoint leaves the model, optimiser, scheduler and random state as they were,
    and every error names the file.

    Returns
    -------
    dict
        ``{"epoch": ..., "extra": ...}`` as saved.

    Raises
    ------
    ValueError
        If the file is not a valid safetensors file, not a chainrule checkpoint, corrupted, lacks
        the optimiser or scheduler state asked for, holds a state they refuse, or does not fit
        the model.

    Examples
    --------
    >>> import os, tempfile, chainrule as cr
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
    >>> save_checkpoint(path, cr.nn.Linear(2, 2), epoch=1)
    >>> load_checkpoint(path, cr.nn.Linear(2, 2))["epoch"]
    1
    """
    op = "io.load_checkpoint"
    fname, tensors, metadata = _read(path, op)

    def bad(why: str) -> ValueError:
        return ValueError(f"{op}: {fname} is a corrupted chainrule checkpoint: {why}")

    raw = metadata.get(CHECKPOINT_KEY)
    if raw is None:
        raise ValueError(
            f"{op}: {fname} is a safetensors file but not a chainrule checkpoint (its metadata "
            f"has no {CHECKPOINT_KEY!r} entry); for weights saved with io.save use io.load"
        )
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise bad(f"its {CHECKPOINT_KEY!r} metadata is not JSON ({exc})") from None
    if not isinstance(header, dict) or not isinstance(header.get("version"), int):
        raise bad("its header has no format version")
    if header["version"] > CHECKPOINT_VERSION:
        raise ValueError(
            f"{op}: {fname} has checkpoint format {header['version']}, newer than this "
            f"chainrule's ({CHECKPOINT_VERSION}); upgrade chainrule"
        )
    epoch = header.get("epoch")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        raise bad(f"epoch {epoch!r} is not an int")

    state = {k[len("model/") :]: v for k, v in tensors.items() if k.startswith("model/")}
    if header.get("model") != sorted(state):
        raise bad("the model arrays listed in the header are not those in the file")
    current = model.state_dict()
    missing = [k for k in current if k not in state]
    unexpected = [k for k in state if k not in current]
    if missing or unexpected:
        raise ValueError(
            f"{op}: {fname} does not fit the model: missing {missing}, unexpected {unexpected}"
        )
    for k, v in current.items():
        if tuple(v.shape) != state[k].shape:
            raise ValueError(
                f"{op}: {fname} does not fit the model: {k!r} has shape {state[k].shape} in "
                f"the checkpoint but {tuple(v.shape)} in the model"
            )

    def part(name: str, wanted: Any) -> Any:
        if wanted is None:
            return None
        if name not in header:
            raise ValueError(f"{op}: {fname} holds no {name} state (saved without one)")
        return _decode(header[name], tensors, bad)

    try:
        optim_state = part("optimizer", optimizer)
        sched_state = part("scheduler", scheduler)
        extra = _decode(header.get("extra"), tensors, bad)
    except RecursionError:
        raise bad("its state is nested too deeply") from None
    rng = header.get("rng")
    if restore_rng:
        try:  # validate on a scratch generator, so that a bad state changes nothing
            np.random.PCG64().state = rng
        except (TypeError, ValueError, KeyError) as exc:
            raise bad(f"its random-generator state is invalid ({exc})") from None

    # Each load_state_dict checks its whole state before changing anything. If a later load
    # refuses its state, the earlier ones are put back, so a refused checkpoint leaves
    # everything as it was; every refusal names the file.
    undo: list[Any] = []
    for what, target, loaded in (
        ("scheduler", scheduler, sched_state),
        ("optimizer", optimizer, optim_state),
        ("model", model, state),
    ):
        if target is None:
            continue
        restore = _restorer(target) if what != "model" else None
        try:
            target.load_state_dict(loaded)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            for put_back in reversed(undo):
                put_back()
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise ValueError(f"{op}: the {what} state in {fname} was refused: {why}") from None
        undo.append(restore)
    if restore_rng:
        _random.set_state(rng)
    return {"epoch": epoch, "extra": extra}
