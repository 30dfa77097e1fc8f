"""Timing and checking: median of many perf_counter samples, and agreement with hand NumPy.

Timing protocol for one (workload, implementation) cell:

1. the step's first call is the correctness check (it is also the first warm-up: caches fill,
   JAX compiles);
2. at least one more warm-up call, then more for ``warmup_fraction`` of the time budget unless
   one call already takes more than a quarter of the budget;
3. each sample times ``loops`` back-to-back calls with ``time.perf_counter`` (``loops`` chosen
   so that a sample lasts at least ``min_sample_s``, which keeps timer resolution and call
   overhead negligible for microsecond steps) and divides by ``loops``;
4. samples continue until the budget is spent and at least ``min_samples`` were taken (or the
   hard cap of ``4 x budget`` is reached, which only very slow steps hit); the median is reported.

The garbage collector stays enabled, as in real use, so an implementation that creates many
tracked objects pays for their collection. Before each cell it runs once and then
``gc.freeze()`` moves every object alive at that point (the peers' modules: importing torch and
JAX leaves hundreds of thousands) out of its reach: collections during a cell traverse only what
the cell itself created, as they would in a process that imported one framework.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

_perf = time.perf_counter


@dataclass(frozen=True)
class Budget:
    """How long to spend timing one cell."""

    seconds: float
    min_samples: int
    max_samples: int = 1000
    min_sample_s: float = 0.002
    warmup_fraction: float = 0.1


@dataclass(frozen=True)
class Measurement:
    """Per-call times (seconds) of one cell, summarised."""

    median: float
    q25: float
    q75: float
    samples: int
    loops: int

    @property
    def calls(self) -> int:
        return self.samples * self.loops


def measure(step: Callable[[], Any], budget: Budget) -> Measurement:
    """Time ``step`` (already called once, by the check) after warm-up."""
    gc.collect()
    gc.freeze()
    try:
        # The first call may have compiled (JAX jit): the second decides how slow a call is.
        warm_until = _perf() + budget.warmup_fraction * budget.seconds
        t0 = _perf()
        step()
        t1 = _perf()
        fastest = t1 - t0
        while fastest < budget.seconds / 4 and t1 < warm_until:
            t0 = _perf()
            step()
            t1 = _perf()
            fastest = min(fastest, t1 - t0)
        loops = max(1, math.ceil(budget.min_sample_s / max(fastest, 1e-9)))
        times: list[float] = []
        start = _perf()
        hard_stop = start + 4 * budget.seconds
        while len(times) < budget.max_samples:
            t0 = _perf()
            for _ in range(loops):
                step()
            t1 = _perf()
            times.append((t1 - t0) / loops)
            if len(times) >= budget.min_samples and t1 - start >= budget.seconds:
                break
            if t1 >= hard_stop:
                break
    finally:
        gc.unfreeze()
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return Measurement(statistics.median(times), q[0], q[2], len(times), loops)


def to_numpy(value: Any) -> np.ndarray:
    """A copy of any implementation's array (chainrule, torch, jax, numpy) as an ndarray."""
    if hasattr(value, "detach"):  # torch and chainrule tensors may be part of a graph
        value = value.detach()
    return np.array(value, copy=True)


@dataclass(frozen=True)
class Check:
    """How one implementation's results compare with the hand-NumPy reference."""

    ok: bool
    max_error: float  # the largest max|out - ref| / max|ref| over all outputs
    worst: str  # the output where it occurred
    message: str  # empty when ok; otherwise what went wrong
    dtypes: tuple[str, ...]  # the dtype of each output, to see float32 was kept

    def summary(self) -> str:
        if not self.ok:
            return "FAILED: " + self.message
        note = ""
        wide = sorted({d for d in self.dtypes if d not in ("float32",)})
        if wide:
            note = f"; outputs in {', '.join(wide)}"
        if not self.max_error:
            return f"ok (exact{note})"
        return f"ok ({self.max_error:.0e} in {self.worst}{note})"


def compare(
    names: tuple[str, ...],
    tolerance: float,
    reference: list[np.ndarray],
    outputs: list[np.ndarray],
    derived_ref: list[tuple[str, np.ndarray, float]],
    derived_out: list[tuple[str, np.ndarray, float]],
) -> Check:
    """Compare outputs with the reference, relative to each reference's largest magnitude."""
    dtypes = tuple(str(o.dtype) for o in outputs)
    if len(outputs) != len(reference):
        return Check(False, math.inf, "", f"{len(outputs)} outputs, expected {len(names)}", dtypes)
    pairs = [(n, r, o, tolerance) for n, r, o in zip(names, reference, outputs)]
    pairs += [(n, r, o, tol) for (n, r, tol), (_, o, _) in zip(derived_ref, derived_out)]
    worst, worst_err, failures = "", 0.0, []
    for name, ref, out, tol in pairs:
        if out.shape != ref.shape:
            failures.append(f"{name}: shape {out.shape}, expected {ref.shape}")
            continue
        ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
        scale = max(float(np.max(np.abs(ref64))), 1e-30) if ref64.size else 1.0
        err = float(np.max(np.abs(out64 - ref64))) / scale if ref64.size else 0.0
        if not np.isfinite(err):
            err = math.inf
        if err > worst_err or not worst:
            worst, worst_err = name, err
        if err > tol:
            failures.append(f"{name}: relative error {err:.1e} > {tol:.0e}")
    return Check(not failures, worst_err, worst, "; ".join(failures), dtypes)
