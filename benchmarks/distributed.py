"""Data-parallel training over MPI: measured on this machine, then a ring-allreduce scaling model.

    python benchmarks/distributed.py [--quick] [--out benchmarks/RESULTS_distributed.md]

Measured, each in a fresh process (or an ``mpiexec`` job) with the BLAS threads fixed:

* the MLP epoch workload (``benchmarks/workloads/mlp_epoch.py``: 60,000 samples, 784-256-256-10
  ReLU, batch 128, SGD) as 1 process x 1 thread, 1 process x 2 threads, and 2 ranks x 1 thread
  with DistributedDataParallel (each rank 64 rows of every 128-row batch, so both runs take the
  same 469 optimiser steps), with the overlap of allreduce and backward on and off;
* the time per step spent waiting for allreduces at the end of backward (what overlap did not
  hide), and the compute time of a 64-row step alone;
* MPI_Allreduce latency and bandwidth between 2 ranks, fitted as ``t(n) = a + b n``;
* the digits CNN of ``chainrule train --model cnn`` (two 3x3 convolutions, 16 and 32 channels,
  on 8x8 images, max-pool, 128 hidden, 10 classes), compute per step.

The scaling model and its assumptions are written into the report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------- workers
def _mlp_data(n_samples: int):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from workloads import mlp_epoch

    data = mlp_epoch.make_data()
    return data["X"][:n_samples], data["y"][:n_samples], data


def _mlp_model(data):
    from workloads import mlp_epoch

    import chainrule as cr

    layers = []
    sizes = mlp_epoch.SIZES
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = cr.nn.Linear(a, b)
        lin.weight.data = data["weights"][i].copy()
        lin.bias.data = data["biases"][i].copy()
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(cr.nn.ReLU())
    return cr.nn.Sequential(*layers)


def worker_mlp(args: argparse.Namespace) -> dict:
    """One epoch of the MLP workload (per-rank batch = 128 / world size under mpiexec)."""
    import numpy as np

    import chainrule as cr
    import chainrule.distributed as dist

    X, y, data = _mlp_data(args.samples)
    dist.init()
    R, me = dist.world_size(), dist.rank()
    net = _mlp_model(data)
    model = (
        dist.DistributedDataParallel(net, bucket_cap_mb=args.bucket_mb, overlap=bool(args.overlap))
        if R > 1
        else net
    )
    opt = cr.optim.SGD(net.parameters(), lr=0.01)
    waits = []
    if R > 1:
        finish = model._finish

        def timed_finish() -> None:
            t0 = time.perf_counter()
            finish()
            waits.append(time.perf_counter() - t0)

        object.__setattr__(model, "_finish", timed_finish)
    batch = args.batch
    steps = math.ceil(len(y) / batch)

    def epoch() -> float:
        t0 = time.perf_counter()
        for s in range(steps):
            rows = slice(s * batch, (s + 1) * batch)
            xb, yb = X[rows][me::R], y[rows][me::R]
            loss = cr.nn.functional.cross_entropy(model(cr.as_tensor(xb)), cr.as_tensor(yb))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    epoch()  # warm-up (also the first, slower BLAS calls)
    if R > 1:
        dist.barrier()
    times = []
    for _ in range(args.repeats):
        waits.clear()
        times.append(epoch())
        if R > 1:
            dist.barrier()
    final = np.concatenate([p.numpy().ravel() for p in net.parameters()])
    return {
        "epoch_s": min(times),
        "epoch_all_s": times,
        "steps": steps,
        "per_rank_batch": batch // R,
        "wait_per_step_s": (sum(waits) / len(waits)) if waits else 0.0,
        "buckets": len(model._buckets) if R > 1 else 0,
        "early_buckets": getattr(model, "_launched_early", 0) if R > 1 else 0,
        "params": int(sum(p.size for p in net.parameters())),
        "checksum": float(np.abs(final).sum()),
    }


def worker_allreduce(args: argparse.Namespace) -> dict:
    """Allreduce time for float32 messages of growing size (fit t = a + b * bytes)."""
    import numpy as np
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    out = {}
    for n in [1, 64, 1024, 16384, 65536, 269322, 1048576]:
        a = np.ones(n, np.float32)
        reps = max(5, min(2000, int(2e6 / max(n, 1))))
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, a)
        best = math.inf
        for _ in range(3):
            comm.Barrier()
            t0 = time.perf_counter()
            for _ in range(reps):
                comm.Allreduce(MPI.IN_PLACE, a)
            best = min(best, (time.perf_counter() - t0) / reps)
        out[str(n * 4)] = best
    return {"allreduce_s_by_bytes": out, "ranks": comm.Get_size()}


def worker_cnn(args: argparse.Namespace) -> dict:
    """Compute per optimiser step of chainrule train's digits CNN, at a few batch sizes."""
    import numpy as np

    import chainrule as cr
    from chainrule.training import build_model

    cr.random.seed(0)
    net = build_model("cnn", 64, 10, [128])
    opt = cr.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    out = {"params": int(sum(p.size for p in net.parameters()))}
    for b in (8, 32, 128):
        x = rng.standard_normal((b, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, b)
        best = math.inf
        for rep in range(args.repeats + 1):
            t0 = time.perf_counter()
            for _ in range(20):
                loss = cr.nn.functional.cross_entropy(net(cr.as_tensor(x)), cr.as_tensor(y))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if rep:
                best = min(best, (time.perf_counter() - t0) / 20)
        out[f"step_s_b{b}"] = best
    return out


def worker_mlp_steps(args: argparse.Namespace) -> dict:
    """MLP compute per step (one process) at a few batch sizes, for the scaling model."""
    import chainrule as cr

    X, y, data = _mlp_data(4096)
    net = _mlp_model(data)
    opt = cr.optim.SGD(net.parameters(), lr=0.01)
    out = {}
    for b in (8, 32, 64, 128):
        best = math.inf
        for rep in range(args.repeats + 1):
            t0 = time.perf_counter()
            for s in range(20):
                xb, yb = X[s * b : (s + 1) * b], y[s * b : (s + 1) * b]
                loss = cr.nn.functional.cross_entropy(net(cr.as_tensor(xb)), cr.as_tensor(yb))
                opt.zero_grad()
                loss.backward()
                opt.step()
            if rep:
                best = min(best, (time.perf_counter() - t0) / 20)
        out[f"step_s_b{b}"] = best
    return out


WORKERS = {
    "mlp": worker_mlp,
    "allreduce": worker_allreduce,
    "cnn": worker_cnn,
    "mlp_steps": worker_mlp_steps,
}


# ---------------------------------------------------------------------- driver
def _env(threads: int) -> dict:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _run(worker: str, ranks: int, threads: int, extra: list[str]) -> dict:
    cmd = [sys.executable, str(HERE), "--worker", worker, *extra]
    if ranks > 1:
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(threads), timeout=1800)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _latency_bandwidth(points: dict[str, float]) -> tuple[float, float]:
    """``a`` (s) and ``b`` (s per byte) of ``t = a + b * bytes``: ``a`` is the time of the
    smallest message, ``b`` the least-squares slope over the messages of 64 KiB and more
    (a line through all sizes lets the large messages drag ``a`` far above the latency)."""
    sizes = sorted(points, key=float)
    a = points[sizes[0]]
    big = [(float(k), points[k]) for k in sizes if float(k) >= 65536]
    mx = sum(x for x, _ in big) / len(big)
    my = sum(y for _, y in big) / len(big)
    b = sum((x - mx) * (y - my) for x, y in big) / sum((x - mx) ** 2 for x, _ in big)
    return a, b


def ring_allreduce(bytes_: float, p: int, alpha: float, beta: float) -> float:
    """Ring allreduce: reduce-scatter then allgather, 2 (p - 1) steps of bytes / p each."""
    if p == 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * bytes_ * beta


def predict(
    t_step: float, grad_bytes: float, backward_share: float, p: int, alpha: float, beta: float
) -> tuple[float, float]:
    """Step time at p ranks (the per-rank batch fixed) and the parallel efficiency.

    The allreduce can hide behind the backward pass that follows the first bucket; what does
    not fit is exposed: step = compute + max(0, allreduce - backward_share * compute)."""
    t_ar = ring_allreduce(grad_bytes, p, alpha, beta)
    step = t_step + max(0.0, t_ar - backward_share * t_step)
    return step, t_step / step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=sorted(WORKERS))
    parser.add_argument("--quick", action="store_true", help="1/6 of the epoch, 1 repeat")
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--overlap", type=int, default=1)
    parser.add_argument("--bucket-mb", type=float, default=25.0)
    parser.add_argument("--rewrite", action="store_true", help="rewrite --out from its data")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS_distributed.md"))
    args = parser.parse_args()
    if args.worker:
        result = WORKERS[args.worker](args)
        import chainrule.distributed as dist

        if dist.is_main():
            print(json.dumps(result))
        return

    if args.rewrite:  # the report again from the measurements kept in it
        text = Path(args.out).read_text()
        raw = json.loads(text.split(RAW_MARK, 1)[1].split("-->", 1)[0])
    else:
        extra = ["--repeats", "1", "--samples", "10000"] if args.quick else ["--repeats", "3"]
        started, load_before = time.time(), os.getloadavg()
        raw = {
            "quick": args.quick,
            "one_1": _run("mlp", 1, 1, extra),
            "one_2": _run("mlp", 1, 2, extra),
            "two_ov": _run("mlp", 2, 1, [*extra, "--overlap", "1"]),
            "two_no": _run("mlp", 2, 1, [*extra, "--overlap", "0"]),
            "two_small": _run("mlp", 2, 1, [*extra, "--overlap", "1", "--bucket-mb", "0.25"]),
            "steps": _run("mlp_steps", 1, 1, extra[:2]),
            "ar": _run("allreduce", 2, 1, []),
            "cnn": _run("cnn", 1, 1, extra[:2]),
            "seconds": time.time() - started,
            "load": [load_before, os.getloadavg()],
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        }
    report = _report(raw) + f"\n{RAW_MARK}\n{json.dumps(raw, indent=1)}\n-->\n"
    Path(args.out).write_text(report)
    print(report)


RAW_MARK = "<!-- measurements (python benchmarks/distributed.py --rewrite regenerates the text):"
QUICK_NOTE = "**Quick run: 1/6 of the epoch, one repeat.** "


def _report(raw: dict) -> str:  # noqa: C901
    import numpy as np

    one_1, one_2, two_ov, two_no, two_small = (
        raw[k] for k in ("one_1", "one_2", "two_ov", "two_no", "two_small")
    )
    steps, ar, cnn, seconds, quick = (
        raw["steps"],
        raw["ar"],
        raw["cnn"],
        raw["seconds"],
        raw["quick"],
    )
    n_steps = one_1["steps"]
    alpha, beta = _latency_bandwidth(ar["allreduce_s_by_bytes"])
    mlp_bytes = one_1["params"] * 4
    cnn_bytes = cnn["params"] * 4
    t_mlp = steps["step_s_b128"]
    t_cnn = cnn["step_s_b32"]
    t64 = steps["step_s_b64"]
    # Share of a step after the first bucket is ready: backward is about 2/3 of a step's
    # compute (two matrix products per layer against one forward), and the output layer's
    # bucket is ready almost at its start.
    backward_share = 2 / 3
    exposed_ov = two_ov["wait_per_step_s"]
    exposed_no = two_no["wait_per_step_s"]
    lines = []
    w = lines.append
    w("# Data-parallel training over MPI: measurements and a scaling model")
    w("")
    load = raw["load"]
    w(
        f"Written by `python benchmarks/distributed.py{' --quick' if quick else ''}` "
        f"({seconds:.0f} s). {QUICK_NOTE if quick else ''}"
        f"Machine: {raw['cpus']} logical CPUs, Python {raw['python']}, NumPy "
        f"{np.__version__}, MPICH (pip wheel) through mpi4py. Best of "
        f"{len(one_1['epoch_all_s'])} epoch(s) after a warm-up epoch. "
        + (
            f"**The machine was shared with other jobs**: load average {load[0][0]:.1f} before "
            f"and {load[1][0]:.1f} after the run on {raw['cpus']} CPUs, so every process here "
            "competed for the cores and the figures are noisy and pessimistic (rerun on an idle "
            "machine for reference figures; "
            if load[0][0] >= 1.0
            else f"The machine was otherwise idle (load average {load[0][0]:.1f} before, "
            f"{load[1][0]:.1f} after, on {raw['cpus']} CPUs; "
        )
        + "`--rewrite` regenerates this text from the measurements kept at the end of the file)."
    )
    w("")
    w("## 1. The MLP epoch workload on this 2-core machine")
    w("")
    w(
        f"784-256-256-10 ReLU MLP, float32, {one_1['steps']} SGD steps of 128 rows "
        f"({one_1['params']:,} parameters, {mlp_bytes / 2**20:.2f} MiB of gradients per step). "
        "With 2 ranks each rank takes 64 rows of every 128-row batch and DistributedDataParallel "
        "averages the gradients, so both runs take the same steps to the same weights "
        f"(checksums {one_1['checksum']:.6f} and {two_ov['checksum']:.6f})."
    )
    w("")
    w("| run | epoch (s) | per step (ms) | speed-up vs 1 x 1 |")
    w("|---|---:|---:|---:|")
    for name, r in (
        ("1 process x 1 thread", one_1),
        ("1 process x 2 threads", one_2),
        ("2 ranks x 1 thread, overlap on, 25 MB buckets", two_ov),
        ("2 ranks x 1 thread, overlap on, 0.25 MB buckets", two_small),
        ("2 ranks x 1 thread, overlap off", two_no),
    ):
        w(
            f"| {name} | {r['epoch_s']:.2f} | {1e3 * r['epoch_s'] / n_steps:.2f} | "
            f"{one_1['epoch_s'] / r['epoch_s']:.2f} |"
        )
    w("")
    w("Where a 2-rank step goes (per rank, per step):")
    w("")
    w("| | ms |")
    w("|---|---:|")
    t_alone = ar["allreduce_s_by_bytes"].get(
        str(mlp_bytes), ring_allreduce(mlp_bytes, 2, alpha, beta)
    )
    w(f"| compute of a 64-row step, one process alone | {1e3 * t64:.2f} |")
    w(
        f"| allreduce of the {mlp_bytes / 2**20:.2f} MiB gradient, measured alone "
        f"(`MPI_Allreduce`, 2 ranks, section 2) | {1e3 * t_alone:.2f} |"
    )
    for label, r in (
        ("overlap on, 25 MB buckets", two_ov),
        ("overlap on, 0.25 MB buckets", two_small),
    ):
        w(
            f"| waiting for allreduces after backward, {label} ({r['buckets']} bucket(s), "
            f"{r['early_buckets']} started inside backward) | "
            f"{1e3 * r['wait_per_step_s']:.2f} |"
        )
    w(f"| waiting for allreduces after backward, overlap off | {1e3 * exposed_no:.2f} |")
    exposed_ov = min(exposed_ov, two_small["wait_per_step_s"])
    hidden = 1 - exposed_ov / exposed_no if exposed_no > 0 else 0.0
    w("")
    verdict = "hid" if hidden >= 0 else "did not hide anything: it added"
    w(
        f"Overlap {verdict} {abs(100 * hidden):.0f}% of the wait after backward (the better "
        "bucket size against overlap off). The wait is measured on each rank from the end of "
        "its backward walk until every bucket is averaged, so it also holds the time a rank "
        "waits for the other to finish its own computation: on a loaded 2-core machine, where "
        "a rank is often descheduled, it is far above the allreduce measured alone. MPICH "
        "advances a non-blocking collective only inside MPI calls (chainrule calls `MPI_Test` "
        "from each gradient hook), and with 2 ranks on 2 cores no core is idle to move the "
        "messages. With the default 25 MB buckets this model's whole gradient is one bucket, "
        "started when the first layer's gradient is done, at the end of the walk; "
        "`bucket_cap_mb=0.25` makes 4 buckets, the last layers' started while the first "
        "layer's backward runs."
    )
    w("")
    fast = min((one_2, "1 process x 2 threads"), (two_ov, "2 ranks x 1 thread"),
               key=lambda e: e[0]["epoch_s"])  # fmt: skip
    slow_time = max(one_2["epoch_s"], two_ov["epoch_s"])
    best_speedup = one_1["epoch_s"] / fast[0]["epoch_s"]
    w(
        f"2 ranks x 1 thread against 1 process x 2 threads, both on the two cores: in this run "
        f"{fast[1]} was {slow_time / fast[0]['epoch_s']:.2f}x faster; the better speed-up over "
        f"one process on one thread was {best_speedup:.2f}x, where two idle cores could give "
        "up to 2x. "
        "The threaded process splits each matrix product and busy-waits in OpenBLAS between "
        "them, which a loaded machine punishes; the ranks split the batch (64 rows each, so "
        "the per-operation Python overhead is paid twice for half the rows) and add one "
        "allreduce per step."
    )
    w("")
    w("## 2. Allreduce cost on this machine")
    w("")
    w("| bytes | time (µs) |")
    w("|---:|---:|")
    for k, v in ar["allreduce_s_by_bytes"].items():
        w(f"| {int(k):,} | {1e6 * v:.1f} |")
    w("")
    w(
        f"`t = a + b * bytes` with a = {1e6 * alpha:.1f} µs (the smallest message) and "
        f"1/b = {1 / beta / 1e9:.2f} GB/s (the slope over 64 KiB and more): shared memory "
        "between two processes on one host."
    )
    w("")
    w("## 3. Scaling model: 8, 64 and 512 ranks")
    w("")
    w(
        "Ring allreduce of n bytes over p ranks: `T_ar = 2 (p - 1) a + 2 (p - 1) / p * n * b` "
        "(reduce-scatter then allgather; each rank sends and receives 2 (p-1)/p of the "
        "gradient whatever p is). Step time at p ranks with the per-rank batch fixed (weak "
        "scaling, the usual data-parallel setting): `t = t_c + max(0, T_ar - s * t_c)`, with "
        "`t_c` the measured one-process compute of a step and `s` the share of the step during "
        "which a started allreduce can run behind the backward pass. Efficiency = "
        "`t_c / t`; an epoch over N samples takes `N / (p * batch)` steps of `t`."
    )
    w("")
    w("Assumptions:")
    w("")
    w(
        "* one rank per core or node, each as fast as this machine's single thread; no "
        "straggler, no contention for memory bandwidth between ranks;"
    )
    w(
        f"* `s = {backward_share:.2f}` (backward is two products per layer against one "
        "forward, and buckets are launched as layers finish); the measured hiding above is "
        "lower, so the 'overlap' column is a best case and the 'no overlap' column "
        "(`s = 0`) a worst case;"
    )
    w(
        "* two networks: this host's shared memory (the measured a and b; in practice only "
        "up to the cores of one node) and a cluster interconnect of a = 5 µs and 10 GB/s "
        "per link (100 Gb/s InfiniBand or RoCE), stated, not measured;"
    )
    w(
        "* the allreduce is bandwidth-optimal ring; latency grows as 2 (p - 1) a (a tree or "
        "hierarchical allreduce, which MPICH picks for small messages, grows as log p);"
    )
    w(
        f"* MLP: batch 128 per rank, t_c = {1e3 * t_mlp:.2f} ms, {mlp_bytes / 2**20:.2f} MiB of "
        f"gradients, epoch of 60,000 samples; CNN: `chainrule train --model cnn` on 8x8 digits, "
        f"batch 32 per rank, t_c = {1e3 * t_cnn:.2f} ms, {cnn['params']:,} parameters "
        f"({cnn_bytes / 2**20:.2f} MiB), epoch of 1,347 samples (the digits training part)."
    )
    w("")
    nets = {"this host (measured a, b)": (alpha, beta), "100 Gb/s, 5 µs (assumed)": (5e-6, 1e-10)}
    w(
        "| workload | network | ranks | allreduce (ms) | step, overlap (ms) | efficiency, overlap "
        "| efficiency, no overlap | epoch, overlap (s) |"
    )
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, t_c, nbytes, samples, batch in (
        ("MLP", t_mlp, mlp_bytes, 60_000, 128),
        ("CNN", t_cnn, cnn_bytes, 1_347, 32),
    ):
        for net, (a, b) in nets.items():
            for p in (8, 64, 512):
                step, eff = predict(t_c, nbytes, backward_share, p, a, b)
                _, eff_no = predict(t_c, nbytes, 0.0, p, a, b)
                n_step = math.ceil(samples / (p * batch))
                w(
                    f"| {label} | {net} | {p} | {1e3 * ring_allreduce(nbytes, p, a, b):.2f} | "
                    f"{1e3 * step:.2f} | {100 * eff:.0f}% | {100 * eff_no:.0f}% | "
                    f"{n_step * step:.3f} |"
                )
    w("")
    w(
        "Reading it: per rank, a ring allreduce moves about twice the gradient whatever the "
        "rank count, so the bandwidth term stays flat, while the latency term grows as "
        "2 (p - 1) a: at hundreds of ranks the latency of a ring dominates a gradient of this "
        "size, which is why MPI libraries switch to trees or hierarchical (per node, then "
        "across nodes) allreduces there. A step of a few milliseconds leaves little compute to "
        "hide communication behind: larger per-rank batches, or accumulating several "
        "micro-batches under `no_sync()` before one allreduce, raise t_c against T_ar and the "
        "efficiency with it. The CNN's epoch (1,347 samples) has fewer samples than 64 ranks x "
        "32 rows: beyond that, more ranks only make the epoch one step with smaller shards."
    )
    w("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
