"""How much of an MLP training step is its matrix products: the floor no replay can go below.

Issue 14 asks for the compiled MLP epoch at <= 0.85x hand-written NumPy. A replay removes
Python and bookkeeping, and can fuse or drop elementwise work, but every implementation has to
do the same eight matrix products per step (three forward, three weight gradients, two input
gradients), with the same BLAS. This script times, interleaved in one process (a busy machine
slows each alike), for the 784-256-256-10 ReLU MLP at batch 128 (``mlp_784`` and every batch
of ``mlp_epoch`` in ``benchmarks/run.py``):

* those eight products alone, on arrays of the step's shapes and layouts;
* hand NumPy's whole step (``workloads/mlp.py``, no update) and chainrule's step under
  ``cr.compile``;

and reports each as a ratio to hand NumPy's step.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/gemm_floor.py [--threads 1]
        [--repeats 300] [--out benchmarks/RESULTS_gemm_floor.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from workloads import mlp  # noqa: E402

SIZES = (784, 256, 256, 10)
BATCH = 128


def matmuls_only(data: dict[str, Any]) -> Any:
    """The step's eight matrix products, on arrays of its shapes and memory layouts."""
    rng = np.random.default_rng(1)
    W1, W2, W3 = data["params"][0::2]
    x = data["x"]
    h1 = rng.random((BATCH, SIZES[1]), dtype=np.float32)
    h2 = rng.random((BATCH, SIZES[2]), dtype=np.float32)
    d3 = rng.random((BATCH, SIZES[3]), dtype=np.float32)
    d2 = rng.random((BATCH, SIZES[2]), dtype=np.float32)
    d1 = rng.random((BATCH, SIZES[1]), dtype=np.float32)

    def step() -> tuple[Any, ...]:
        return (
            x @ W1, h1 @ W2, h2 @ W3,  # forward
            h2.T @ d3, d3 @ W3.T,  # last layer: dW3, dh2
            h1.T @ d2, d2 @ W2.T,  # dW2, dh1
            x.T @ d1,  # dW1 (no gradient for the input)
        )  # fmt: skip

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--out", default=str(HERE / "RESULTS_gemm_floor.md"))
    args = parser.parse_args()
    import threadpoolctl

    threadpoolctl.threadpool_limits(args.threads)

    blas = [
        f"{i['internal_api']} {i['version']} ({i['num_threads']} thread(s), {i['architecture']})"
        for i in threadpoolctl.threadpool_info()
        if i["user_api"] == "blas"
    ]
    data = mlp.make_data(SIZES, BATCH)
    steps = {
        "the eight matrix products alone": matmuls_only(data),
        "hand NumPy step": mlp.build_numpy(data, None),
        "chainrule compiled step (cr.compile)": mlp.build_chainrule_compiled(data, None),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():
        step(), step()  # the trace, warm caches
    load = os.getloadavg()[0]
    set_vars = [f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if k in os.environ]  # fmt: skip
    openblas_env = ", ".join(set_vars) if set_vars else "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset"
    for _ in range(args.repeats):
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t)
    ref = statistics.median(times["hand NumPy step"])
    rows = [
        f"| {name} | {statistics.median(ts) * 1e3:.3f} ms | "
        f"{statistics.median(ts) / ref:.2f} |"
        for name, ts in times.items()
    ]
    text = "\n".join(
        [
            "# The matrix-product floor of the MLP step",
            "",
            f"Command: `python benchmarks/gemm_floor.py --threads {args.threads} --repeats "
            f"{args.repeats}` ({openblas_env}); Python "
            f"{platform.python_version()}, NumPy {np.__version__}, BLAS: {'; '.join(blas)}; "
            f"{platform.machine()}, {os.cpu_count()} logical CPUs; load average {load:.2f} "
            "before the run. Interleaved repeats, medians.",
            "",
            "784-256-256-10 ReLU MLP, batch 128, float32, forward + backward (no update):",
            "",
            "| what | median | x hand NumPy step |",
            "|---|---:|---:|",
            *rows,
            "",
            "Every implementation must do these eight products with this BLAS; the rest of hand",
            "NumPy's step is elementwise work and reductions. A compiled step can remove or fuse",
            "that rest but not the products, so with one BLAS thread its floor is the first",
            "row's ratio; a target below it (0.85x for the MLP epoch, say) would need fewer or",
            "faster products, not a faster replay.",
            "",
        ]
    )
    print(text)
    if args.out != "-":
        from chainrule.io import write_atomic

        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
