"""Interleaved A/B timing of chainrule's eager engine: a baseline checkout against this one.

Usage::

    git worktree add /tmp/base 1b77d69
    python benchmarks/eager_ab.py /tmp/base --rounds 12

On a shared machine one run of each side says little: another process can take a core for a
second at any time. So each side runs in a fresh process, the two sides alternate (ABBA order:
base, new, new, base, ...), and every process times every workload; the table gives the median
over processes of each process's median step time, and the median of the ratios of the two
processes of each round (paired, so a slow minute hits both sides of the pair). Each process runs
with one BLAS thread and without the OpenBLAS tuning variables, the same for both sides.

On a loaded machine even that moves by a few percent. ``--instructions`` counts instead the
instructions each step executes, under valgrind's callgrind (deterministic to about 0.1%, and
blind to the other processes; it does not see cache misses, so it complements the timing)::

    python benchmarks/eager_ab.py /tmp/base --instructions

The workloads use only API that the baseline also has:

* ``tiny_step``: benchmarks/run.py's tiny MLP (10-32-32-2, batch 16, ReLU, softmax
  cross-entropy, backward, ``p.data -= lr * p.grad.data`` under ``no_grad``);
* ``tanh_step``: the same shape with tanh activations and a mean squared error;
* ``module_step``: ``nn.Sequential`` of Linear/Tanh layers, ``MSELoss``, ``optim.SGD`` with
  momentum, ``zero_grad()``, ``backward()``, ``step()`` (the optimiser's per-step overhead);
* ``deep_chain``: benchmarks/run.py's deep chain, 5,000 times ``y = tanh(y * 1.0001)`` on 100
  floats, then ``sum().backward()`` (10,000 recorded operations).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKLOADS = ("tiny_step", "tanh_step", "module_step", "deep_chain")


# ------------------------------------------------------------------------ the workloads
def _mlp_params(cr: Any, np: Any, sizes: tuple[int, ...]) -> list[Any]:
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        params.append(cr.tensor(w.astype(np.float32), requires_grad=True))
        params.append(
            cr.tensor((0.1 * rng.standard_normal(fan_out)).astype(np.float32), requires_grad=True)
        )
    return params


def build_tiny_step(cr: Any, np: Any) -> Callable[[], Any]:
    params = _mlp_params(cr, np, (10, 32, 32, 2))
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((16, 10)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 2, 16))
    W1, b1, W2, b2, W3, b3 = params
    lr = 0.01

    def step() -> Any:
        h = cr.relu(x @ W1 + b1)
        h = cr.relu(h @ W2 + b2)
        loss = cr.softmax_cross_entropy(h @ W3 + b3, y)
        loss.backward()
        with cr.no_grad():
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
        return loss

    return step


def build_tanh_step(cr: Any, np: Any) -> Callable[[], Any]:
    params = _mlp_params(cr, np, (10, 32, 32, 1))
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((16, 10)).astype(np.float32))
    t = cr.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    W1, b1, W2, b2, W3, b3 = params
    lr = 0.01

    def step() -> Any:
        h = cr.tanh(x @ W1 + b1)
        h = cr.tanh(h @ W2 + b2)
        d = cr.tanh(h @ W3 + b3) - t
        loss = (d * d).mean()
        loss.backward()
        with cr.no_grad():
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
        return loss

    return step


def build_module_step(cr: Any, np: Any) -> Callable[[], Any]:
    nn = cr.nn
    cr.manual_seed(0) if hasattr(cr, "manual_seed") else None
    model = nn.Sequential(
        nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1)
    )
    opt = cr.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.MSELoss()
    rng = np.random.default_rng(1)
    x = cr.tensor(rng.standard_normal((16, 10)).astype(np.float32))
    t = cr.tensor(rng.standard_normal((16, 1)).astype(np.float32))

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(x), t)
        loss.backward()
        opt.step()
        return loss

    return step


def build_deep_chain(cr: Any, np: Any) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.uniform(-1.0, 1.0, 100).astype(np.float32), requires_grad=True)
    tanh = cr.tanh

    def step() -> Any:
        y = x
        for _ in range(5_000):
            y = y * 1.0001
            y = tanh(y)
        s = y.sum()
        s.backward()
        x.grad = None
        return s

    return step


# ------------------------------------------------------------------- one process, one side
def _time(step: Callable[[], Any], seconds: float) -> float:
    """The median over samples of the per-call time; a sample lasts at least 5 ms."""
    perf = time.perf_counter
    step()
    t0 = perf()
    step()
    one = max(perf() - t0, 1e-7)
    loops = max(1, int(0.005 / one))
    end = perf() + 0.1 * seconds
    while perf() < end:  # warm-up
        step()
    samples = []
    end = perf() + seconds
    while perf() < end or len(samples) < 5:
        t0 = perf()
        for _ in range(loops):
            step()
        samples.append((perf() - t0) / loops)
    return statistics.median(samples)


def child(root: str, names: list[str], seconds: float, count: int = 0) -> None:
    sys.path.insert(0, root)
    import numpy as np

    import chainrule as cr

    where = Path(cr.__file__).resolve()
    if Path(root).resolve() not in where.parents:
        raise SystemExit(f"eager_ab: imported chainrule from {where}, not from {root}")
    out = {}
    for name in names:
        step = globals()[f"build_{name}"](cr, np)
        step()
        gc.collect()
        gc.freeze()  # what setup left alive stays out of the collections the steps cause
        if count:
            step()
            # callgrind counts only inside functools.reduce (--toggle-collect): the steps alone
            functools.reduce(lambda _, __: step(), range(count), None)
            out[name] = 0.0
        else:
            out[name] = _time(step, seconds)
        gc.unfreeze()
    print(json.dumps(out))


# ----------------------------------------------------------------------- the interleaving
def _run_side(root: str, names: list[str], seconds: float) -> dict[str, float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONPATH"):
        env.pop(var, None)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        root,
        "--child",
        root,
        "--seconds",
        str(seconds),
        *(f"--only={n}" for n in names),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"eager_ab: {root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


COUNTS = {"tiny_step": 200, "tanh_step": 200, "module_step": 200, "deep_chain": 2}


def _instructions(root: str, name: str) -> float:
    """Instructions per step of workload ``name`` in checkout ``root`` (callgrind)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PYTHONPATH"):
        env.pop(var, None)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        cmd = ["valgrind", "--tool=callgrind", "--collect-atstart=no",
               "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
               sys.executable, str(Path(__file__).resolve()), root, "--child", root,
               f"--count={COUNTS[name]}", f"--only={name}"]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            raise SystemExit(f"eager_ab: callgrind of {name} in {root} failed:\n{done.stderr}")
        for line in out.read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1]) / COUNTS[name]
    raise SystemExit(f"eager_ab: no instruction count for {name} in {root}")


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="the baseline checkout (e.g. a git worktree of 1b77d69)")
    ap.add_argument("--new", default=str(HERE.parent), help="the checkout under test")
    ap.add_argument("--rounds", type=int, default=10, help="processes per side")
    ap.add_argument("--seconds", type=float, default=0.6, help="timing per workload")
    ap.add_argument("--only", action="append", choices=WORKLOADS)
    ap.add_argument("--instructions", action="store_true", help="count instructions instead")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    names = args.only or list(WORKLOADS)
    if args.child:
        child(args.child, names, args.seconds, args.count)
        return 0
    if args.instructions:
        print(f"base: {args.base}; new: {args.new}; instructions per step (callgrind)\n")
        print("| workload | base | new | new/base |")
        print("|---|---:|---:|---:|")
        for n in names:
            b, v = _instructions(args.base, n), _instructions(args.new, n)
            print(f"| {n} | {b:,.0f} | {v:,.0f} | {v / b:.4f} |", flush=True)
        return 0
    sides = {"base": args.base, "new": args.new}
    runs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    for r in range(args.rounds):
        order = ("base", "new") if r % 2 == 0 else ("new", "base")
        for side in order:
            runs[side].append(_run_side(sides[side], names, args.seconds))
        print(
            f"round {r + 1}/{args.rounds}: "
            + ", ".join(f"{n} {runs['new'][-1][n] / runs['base'][-1][n]:.3f}" for n in names),
            file=sys.stderr,
            flush=True,
        )
    print(
        f"base: {args.base}; new: {args.new}; {args.rounds} processes per side, ABBA order, "
        f"{args.seconds} s per workload per process, one BLAS thread\n"
    )
    print(
        "| workload | base median (us) | new median (us) | new/base (medians) "
        "| new/base (paired, median) | rounds new faster |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for n in names:
        b = [run[n] for run in runs["base"]]
        v = [run[n] for run in runs["new"]]
        paired = [x / y for x, y in zip(v, b)]
        faster = sum(p < 1 for p in paired)
        print(
            f"| {n} | {_us(statistics.median(b))} | {_us(statistics.median(v))} "
            f"| {statistics.median(v) / statistics.median(b):.3f} "
            f"| {statistics.median(paired):.3f} | {faster}/{len(paired)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
