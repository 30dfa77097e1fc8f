"""chainrule on a GPU (CuPy) beside PyTorch on the same GPU: eager, compiled, per step.

Issue 14's GPU targets: the tiny step replayed (``cr.compile``) faster than PyTorch eager's
step, and MLP epochs at 1024 and 4096 hidden units within 1.1x of PyTorch. This script needs
CuPy and a CUDA device (PyTorch with CUDA for its columns); it runs nowhere else.

Workloads, float32, plain SGD, each implementation from the same initial weights and data:

* ``tiny_step``: 10-32-32-2 ReLU MLP, batch 16, cross-entropy, SGD lr 0.1 (launch-bound);
* ``mlp_1024`` / ``mlp_4096``: 784-H-H-10 ReLU MLP, batch 128, ``--batches`` steps of an
  epoch over synthetic data (an epoch's time per step).

Implementations: chainrule eager (``nn.Sequential`` on CuPy, ``optim.SGD``), chainrule with
the step under ``cr.compile`` (fused elementwise kernels), PyTorch eager on CUDA. Every timing
synchronises the device at its end. Medians of interleaved repeats.

    python benchmarks/gpu.py [--repeats 30] [--batches 50] [--out benchmarks/RESULTS_gpu.md]
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
sys.path.insert(0, str(HERE.parent))


def _weights(sizes: tuple[int, ...], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        out.append((w, b))
    return out


def chainrule_steps(sizes, batches, lr, compiled):  # type: ignore[no-untyped-def]
    import cupy

    import chainrule as cr
    from chainrule import nn, optim

    layers: list[Any] = []
    for i, (w, b) in enumerate(_weights(sizes)):
        lin = nn.Linear(sizes[i], sizes[i + 1])
        lin.weight.data, lin.bias.data = w, b
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers).to("cuda")
    opt = optim.SGD(model.parameters(), lr=lr)
    data = [(cr.as_tensor(cupy.asarray(x)), cupy.asarray(y)) for x, y in batches]

    def step(x: Any, y: Any) -> Any:
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = cr.compile(step) if compiled else step

    def epoch() -> float:
        for x, y in data:
            loss = run(x, y)
        cupy.cuda.Device().synchronize()
        return float(loss.numpy())

    return epoch, (run if compiled else None)


def torch_steps(sizes, batches, lr):  # type: ignore[no-untyped-def]
    import torch

    layers: list[Any] = []
    for i, (w, b) in enumerate(_weights(sizes)):
        lin = torch.nn.Linear(sizes[i], sizes[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    data = [(torch.from_numpy(x).cuda(), torch.from_numpy(y).cuda()) for x, y in batches]

    def epoch() -> float:
        for x, y in data:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
        return float(loss.item())

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--out", default=str(HERE / "RESULTS_gpu.md"))
    args = parser.parse_args()
    import cupy

    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    rng = np.random.default_rng(1)
    workloads = {
        "tiny_step": ((10, 32, 32, 2), 16, 1, 0.1),
        "mlp_1024": ((784, 1024, 1024, 10), 128, args.batches, 0.01),
        "mlp_4096": ((784, 4096, 4096, 10), 128, args.batches, 0.01),
    }
    rows = []
    notes = []
    for name, (sizes, batch, n_batches, lr) in workloads.items():
        batches = [
            (
                rng.standard_normal((batch, sizes[0])).astype(np.float32),
                rng.integers(0, sizes[-1], batch),
            )
            for _ in range(n_batches)
        ]
        impls: dict[str, Any] = {}
        impls["chainrule eager"], _ = chainrule_steps(sizes, batches, lr, compiled=False)
        impls["chainrule compiled"], compiled = chainrule_steps(sizes, batches, lr, compiled=True)
        if has_torch:
            impls["PyTorch eager"] = torch_steps(sizes, batches, lr)
        losses = {k: [f() for _ in range(3)][-1] for k, f in impls.items()}  # warm-up, trace
        if compiled is not None and compiled.eager_reason:
            notes.append(f"{name}: the compiled step ran eagerly: {compiled.eager_reason}")
        times: dict[str, list[float]] = {k: [] for k in impls}
        reps = args.repeats * (20 if n_batches == 1 else 1)
        for _ in range(reps):
            for k, f in impls.items():
                t = time.perf_counter()
                f()
                times[k].append((time.perf_counter() - t) / n_batches)
        ref = statistics.median(times["PyTorch eager"]) if has_torch else None
        for k, ts in times.items():
            med = statistics.median(ts)
            ratio = f"{med / ref:.2f}" if ref else "–"
            rows.append(f"| {name} | {k} | {med * 1e6:.1f} µs | {ratio} | {losses[k]:.5f} |")
    device = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    device = device.decode() if isinstance(device, bytes) else device
    text = "\n".join(
        [
            "# chainrule on a GPU beside PyTorch",
            "",
            f"Command: `python benchmarks/gpu.py --repeats {args.repeats} --batches "
            f"{args.batches}`; GPU: {device}; CuPy {cupy.__version__}"
            + (f", PyTorch {torch.__version__}" if has_torch else ", no PyTorch CUDA")
            + f"; NumPy {np.__version__}; Python {platform.python_version()}; "
            f"{os.cpu_count()} CPUs. Median time per training step (an epoch's steps / their "
            "number), interleaved repeats, device synchronised at the end of each.",
            "",
            "| workload | implementation | per step | x PyTorch | last loss |",
            "|---|---|---:|---:|---:|",
            *rows,
            "",
            *notes,
            "",
        ]
    )
    print(text)
    if args.out != "-":
        from chainrule.io import write_atomic

        write_atomic(args.out, text)


if __name__ == "__main__":
    main()
