"""A model folder written as a unit, and read back as one consistent generation.

``chainrule train --out DIR`` builds the new folder beside ``DIR`` (``.DIR.tmp-<pid>-<random>``),
writes and flushes every file there, then swaps it in with one atomic exchange of the two names
(Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere, two renames a moment apart) and deletes the old
generation. A run killed at any point leaves ``DIR`` either wholly old or wholly new, and no file
of an earlier run survives in it. An advisory lock (``fcntl.flock`` on ``.DIR.lock``) makes a
second writer fail at once with a clear message; temporaries left by a killed writer are removed
by the next one (a writer holding the lock knows every other temporary of ``DIR`` is dead).

``model.json`` holds the SHA-256 of ``model.safetensors``: :func:`read_model_folder` checks it,
so weights and description always belong together (a reader racing a rewrite retries).
:func:`check` is the one validator of ``model.json``'s fields: each error names the file and
the field.

Examples
--------
>>> import os, tempfile
>>> out = os.path.join(tempfile.mkdtemp(), "model")
>>> write_model_folder(out, {"a.txt": b"new"})
>>> sorted(os.listdir(out))
['a.txt']
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["write_model_folder", "folder_lock", "check", "ModelFileError"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


class ModelFileError(ValueError):
    """A model folder's file is damaged, inconsistent or not chainrule's."""


def check(condition: Any, path: str, field: str, message: str) -> None:
    """Raise :class:`ModelFileError` ``"<path>: <field> <message>"`` unless ``condition``.

    Examples
    --------
    >>> check(True, "m/model.json", "format_version", "must be 2")
    >>> check(False, "m/model.json", "format_version", "must be 2")
    Traceback (most recent call last):
    chainrule.model_folder.ModelFileError: m/model.json: format_version must be 2
    """
    if not condition:
        raise ModelFileError(f"{path}: {field} {message}")


def _siblings(folder: str) -> tuple[str, str]:
    parent, name = os.path.split(os.path.abspath(folder))
    return parent, name


@contextlib.contextmanager
def folder_lock(folder: str) -> Iterator[None]:
    """Hold the advisory write lock of ``folder`` (a sibling ``.NAME.lock`` file), or raise
    ``RuntimeError`` at once when another process holds it.

    Examples
    --------
    >>> import tempfile
    >>> with folder_lock(os.path.join(tempfile.mkdtemp(), "m")):
    ...     pass
    """
    import fcntl

    parent, name = _siblings(folder)
    os.makedirs(parent, exist_ok=True)
    fd = os.open(os.path.join(parent, f".{name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RuntimeError(
                f"another process is writing {folder} (it holds {parent}/.{name}.lock); wait "
                "for it to finish or choose another --out"
            ) from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _clean_stale(parent: str, name: str) -> None:
    """Remove temporaries of ``name`` left by killed writers (call with the lock held)."""
    for entry in os.listdir(parent):
        if entry.startswith((f".{name}.tmp-", f".{name}.old-")):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _fsync_dir(path: str) -> None:
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)


def _exchange(a: str, b: str) -> bool:
    """Atomically swap the names ``a`` and ``b`` (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]  # fmt: skip
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), b)


def write_model_folder(
    folder: str | os.PathLike[str], files: dict[str, bytes | Callable[[str], Any]]
) -> None:
    """Make ``folder`` hold exactly ``files``, swapped in as a unit.

    Each value is the file's bytes, or a function that writes the file to the path it is
    given (a picture drawn by matplotlib).

    Takes :func:`folder_lock` for the whole write. An existing ``folder`` that is not a
    directory is refused.

    Examples
    --------
    >>> import tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "m")
    >>> write_model_folder(out, {"old.png": b"1", "w": b"1"})
    >>> write_model_folder(out, {"w": b"2"})
    >>> sorted(os.listdir(out)), open(os.path.join(out, "w"), "rb").read()
    (['w'], b'2')
    """
    folder = os.path.abspath(os.fspath(folder))
    parent, name = _siblings(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, "exists and is not a folder", folder)
    with folder_lock(folder):
        _clean_stale(parent, name)
        tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        os.mkdir(tmp)
        try:
            for fname, data in files.items():
                target = os.path.join(tmp, fname)
                if callable(data):
                    data(target)
                    continue
                with open(target, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            os.chmod(tmp, 0o777 & ~_umask())
            _fsync_dir(tmp)
            if not os.path.exists(folder):
                os.rename(tmp, folder)
            elif _exchange(tmp, folder):
                shutil.rmtree(tmp)  # now the old generation
            else:
                old = os.path.join(parent, f".{name}.old-{os.getpid()}-{secrets.token_hex(4)}")
                os.rename(folder, old)
                os.rename(tmp, folder)
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
