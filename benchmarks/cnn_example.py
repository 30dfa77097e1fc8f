"""The CNN of ``examples/digits_mlp_and_cnn.py``, one training epoch, beside PyTorch.

The same recipe three ways, in one process, epochs interleaved so that a busy machine slows
each alike: chainrule eager (the example's loop as written), chainrule with the inner step
under ``cr.compile``, and PyTorch eager (the same layers, Adam lr 1e-3, batch 32, shuffled,
cross-entropy). Epoch times are medians over the repeats; the first epoch of each (the trace,
PyTorch's warm-up) is not counted.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cnn_example.py [--epochs 6]
        [--threads N] [--out benchmarks/RESULTS_cnn_example.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import chainrule as cr  # noqa: E402


def _example() -> Any:
    spec = importlib.util.spec_from_file_location(
        "digits_example", ROOT / "examples" / "digits_mlp_and_cnn.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def chainrule_epoch(compiled: bool) -> Any:
    ex = _example()
    X, _, y, _ = ex.digits(0)
    X = X.reshape(-1, 1, 8, 8)
    cr.random.seed(0)
    model = ex.cnn()
    loader = cr.data.DataLoader(cr.data.TensorDataset(X, y), batch_size=32, shuffle=True, seed=0)
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    F = cr.nn.functional

    def train_step(xb: Any, yb: Any) -> Any:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = cr.compile(train_step) if compiled else train_step

    def epoch() -> float:
        model.train()
        total = 0.0
        for xb, yb in loader:
            total += step(xb, yb).item() * len(yb)
        return total / len(y)

    return epoch


def torch_epoch() -> Any:
    import torch

    ex = _example()
    X, _, y, _ = ex.digits(0)
    X = torch.from_numpy(X.reshape(-1, 1, 8, 8))
    y = torch.from_numpy(y.astype(np.int64))
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)

    def epoch() -> float:
        model.train()
        total = 0.0
        order = torch.randperm(len(y), generator=gen)
        for start in range(0, len(y), 32):
            idx = order[start : start + 32]
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / len(y)

    return epoch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_cnn_example.md"))
    args = parser.parse_args(argv)
    runs: dict[str, Any] = {
        "chainrule eager": chainrule_epoch(False),
        "chainrule compiled": chainrule_epoch(True),
    }
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        runs["PyTorch eager"] = torch_epoch()
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    times: dict[str, list[float]] = {k: [] for k in runs}
    losses: dict[str, list[float]] = {k: [] for k in runs}
    load = os.getloadavg()[0]
    for e in range(args.epochs + 1):
        for name, epoch in runs.items():
            start = time.perf_counter()
            losses[name].append(epoch())
            if e:  # the first epoch traces / warms up
                times[name].append(time.perf_counter() - start)
    ref = statistics.median(times.get("PyTorch eager", [float("nan")]))
    lines = [
        "# The CNN example, one epoch, beside PyTorch",
        "",
        f"Command: `python benchmarks/cnn_example.py --epochs {args.epochs}"
        + (f" --threads {args.threads}" if args.threads else "")
        + "`; "
        f"Python {platform.python_version()}, NumPy {np.__version__}, PyTorch {torch_version}, "
        f"{platform.machine()}; load average {load:.2f} before the run. The epochs are "
        "interleaved so that load falls on all three alike; compare ratios.",
        "",
        "examples/digits_mlp_and_cnn.py's CNN (conv 1->32, conv 32->64, 3x3 padding 1, max-pool, "
        "dense 1024->128->10, dropout 0.3), Adam lr 1e-3, batch 32 shuffled, 1347 images of 8x8.",
        "",
        "| implementation | median epoch | min | x PyTorch | loss after the last epoch |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in runs:
        med = statistics.median(times[name])
        lines.append(
            f"| {name} | {med * 1e3:.0f} ms | {min(times[name]) * 1e3:.0f} ms | "
            f"{med / ref:.2f} | {losses[name][-1]:.4f} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
