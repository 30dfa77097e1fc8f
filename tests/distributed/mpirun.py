"""Start a script on N MPI ranks in a subprocess, with a timeout (tests of chainrule.distributed).

The ``mpiexec`` used is the one beside this Python (the MPICH wheel's), so that it belongs to the
MPI that mpi4py loads. MPICH's Hydra runs as root without flags; nothing is set for it. Each
rank is limited to one BLAS thread (the machine may have two cores for several ranks).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def mpiexec() -> str | None:
    """The mpiexec of this environment, or None."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def skip_reason() -> str | None:
    """Why the multi-rank tests cannot run here, or None."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'chainrule[mpi]')"
    if mpiexec() is None:
        return "no mpiexec found beside python or on PATH (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name in [k for k in env if k.startswith(("PMI_", "OMPI_", "PMIX_", "MPI_LOCAL"))]:
        del env[name]  # never inherit an outer launcher's identity
    return env


def run(
    n: int, script: str, tmp_path: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``script`` (Python source) on ``n`` ranks; its output and exit status."""
    path = tmp_path / f"script_{n}.py"
    path.write_text(textwrap.dedent(script))
    cmd = [mpiexec(), "-n", str(n), sys.executable, str(path), *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=environment()
    )


def check(result: subprocess.CompletedProcess) -> str:
    """The stdout of a run that must have succeeded (stderr in the failure message)."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


#: What a script calls to hand its result back: one JSON file per rank (their stdouts interleave).
REPORT = """
def report(value):
    import json, chainrule.distributed as _d
    with open(f"rank{_d.rank()}.json", "w") as f:
        json.dump(value, f)
"""


def reports(tmp_path: Path, n: int) -> list:
    """The values the ranks passed to ``report``, in rank order."""
    import json

    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]
