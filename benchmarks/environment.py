"""What a measurement ran on: the peers installed, their versions, threads, BLAS and machine.

By default nothing here changes the environment except ``torch.set_num_threads``, which gives
PyTorch the same thread count as NumPy's BLAS; ``--threads N`` also limits the BLAS and OpenMP
pools (threadpoolctl) and XLA (``XLA_FLAGS``, before JAX starts). The OpenBLAS variables
(``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``) are only recorded, never set or cleared: run the
benchmark with ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` to measure without them.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Implementation key -> (column title, module that must be importable; None: always present).
IMPLEMENTATIONS: dict[str, tuple[str, str | None]] = {
    "chainrule": ("chainrule", None),
    "chainrule_compiled": ("chainrule compiled (cr.compile)", None),
    "numpy": ("hand NumPy", None),
    "torch": ("PyTorch eager", "torch"),
    "autograd": ("HIPS autograd", "autograd"),
    "jax": ("JAX eager (no jit)", "jax"),
    "jax_jit": ("JAX jit", "jax"),
}

#: Variables that change BLAS or thread behaviour; recorded in the header, never modified.
ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XLA_FLAGS",
)


def is_installed(module: str | None) -> bool:
    return module is None or importlib.util.find_spec(module) is not None


def installed_implementations() -> tuple[list[str], list[str]]:
    """(implementation keys whose peer is importable, those whose peer is missing)."""
    present, missing = [], []
    for key, (_, module) in IMPLEMENTATIONS.items():
        (present if is_installed(module) else missing).append(key)
    return present, missing


@dataclass
class Environment:
    """The facts printed in the results header."""

    command: str
    date: str
    cpu: str
    cores: str
    platform: str
    versions: dict[str, str]
    blas: list[dict[str, Any]]
    threads: dict[str, str]
    env_vars: dict[str, str | None]
    git: str
    load: str


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cores() -> str:
    logical = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = logical
    return f"{logical} logical CPUs, {usable} usable by this process"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "chainrule"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes in chainrule/" if dirty else "")


def numpy_blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the BLAS NumPy loaded (call before importing any peer)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def blas_threads(info: list[dict[str, Any]]) -> int | None:
    threads = [i["num_threads"] for i in info if "num_threads" in i]
    return max(threads) if threads else None


def import_peers(present: list[str], n_threads: int | None = None) -> None:
    """Import the installed peers now, so their thread pools exist before limits are set.

    With ``n_threads`` (the --threads option), XLA's CPU pool is sized through ``XLA_FLAGS``,
    the only way to do it, which must happen before JAX starts.
    """
    if n_threads and ("jax" in present or "jax_jit" in present) and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (
            f"{flags} --xla_cpu_multi_thread_eigen={'true' if n_threads > 1 else 'false'} "
            f"intra_op_parallelism_threads={n_threads}"
        ).strip()
    for key in present:
        module = IMPLEMENTATIONS[key][1]
        if module:
            importlib.import_module(module)


_limiter: Any = None  # keeps a --threads limit alive for the whole run


def limit_threads(n_threads: int) -> None:
    """Limit every BLAS and OpenMP pool loaded so far to ``n_threads`` (the --threads option)."""
    global _limiter
    from threadpoolctl import threadpool_limits

    _limiter = threadpool_limits(limits=n_threads)


def set_peer_threads(
    present: list[str], n_threads: int | None, limited: bool = False
) -> dict[str, str]:
    """Give PyTorch NumPy's BLAS thread count; report every implementation's thread setting."""
    threads = {"NumPy BLAS": str(n_threads) if n_threads else "unknown (no threadpoolctl)"}
    if limited:
        threads["NumPy BLAS"] += " (set by --threads through threadpoolctl)"
    if "torch" in present:
        import torch

        if n_threads:
            torch.set_num_threads(n_threads)
        threads["PyTorch"] = (
            f"torch.set_num_threads({n_threads}) -> {torch.get_num_threads()} intra-op threads"
            if n_threads
            else f"default, {torch.get_num_threads()} intra-op threads"
        )
    if "jax" in present or "jax_jit" in present:
        threads["JAX"] = (
            f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r} (set by --threads)"
            if limited
            else "XLA's own CPU thread pool, left as is"
        )
    return threads


def environment_variables() -> dict[str, str | None]:
    """The BLAS- and thread-related variables as the run found them (None: unset)."""
    return {name: os.environ.get(name) for name in ENV_VARS}


def describe(
    argv: list[str],
    env_vars: dict[str, str | None],
    numpy_blas: list[dict[str, Any]],
    threads: dict[str, str],
) -> Environment:
    """Collect the header facts (after the peers were imported, so their BLAS shows too)."""
    versions = {
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "chainrule": _version_of_chainrule(),
        "torch": _version("torch"),
        "jax": _version("jax"),
        "jaxlib": _version("jaxlib"),
        "autograd": _version("autograd"),
        "threadpoolctl": _version("threadpoolctl"),
    }
    try:
        from threadpoolctl import threadpool_info

        blas = threadpool_info()
    except ImportError:
        blas = []
    numpy_paths = {i.get("filepath") for i in numpy_blas}
    for entry in blas:
        entry["used_by_numpy"] = entry.get("filepath") in numpy_paths
    return Environment(
        command=shlex.join(argv),
        date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        cpu=_cpu_model(),
        cores=_cores(),
        platform=f"{platform.system()} {platform.release()} {platform.machine()}",
        versions=versions,
        blas=blas,
        threads=threads,
        env_vars=env_vars,
        git=_git_state(),
        load=_load(),
    )


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    text = f"{one:.2f} (1 min), {five:.2f} (5 min) before the first measurement"
    if one >= 0.25 * (os.cpu_count() or 1):
        text += (
            " — **the machine was busy: timings, above all multi-threaded ones, are unreliable**"
        )
    return text


def _version_of_chainrule() -> str:
    try:
        import chainrule
    except Exception as exc:  # report, don't stop: the peers can still be measured
        return f"import failed: {type(exc).__name__}: {exc}"
    return f"{chainrule.__version__} ({Path(chainrule.__file__).parent})"


def interpreter_argv() -> list[str]:
    """The command line as typed, interpreter included (``sys.orig_argv`` on 3.10+)."""
    argv = list(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))
    if argv:
        argv[0] = Path(argv[0]).name
    return argv
