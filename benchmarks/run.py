"""Time chainrule against hand-written NumPy and every installed peer; write a markdown report.

Usage (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/run.py
    python benchmarks/run.py --quick                 # ~1 minute, for validation only
    python benchmarks/run.py --only tiny_step --only mlp_784 --out -
    python benchmarks/run.py --check                 # correctness only, no timing

Every implementation's first step is compared with hand NumPy before it is timed; one that
disagrees is not timed. See benchmarks/README.md for the workloads and how to read the table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # the sibling modules, then this checkout's chainrule

import environment  # noqa: E402
import harness  # noqa: E402
import report  # noqa: E402
from workloads import Workload, all_workloads  # noqa: E402

FULL = harness.Budget(seconds=6.0, min_samples=5)
QUICK = harness.Budget(seconds=1.0, min_samples=3)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    names = [w.name for w in all_workloads()]
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short time budgets (~1 minute in all); a validation run, not a reference measurement",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this workload (repeatable, or comma-separated): {', '.join(names)}",
    )
    p.add_argument(
        "--impl",
        action="append",
        metavar="KEY",
        help=f"run only these implementations (repeatable, or comma-separated; hand "
        f"NumPy always runs as the reference): "
        f"{', '.join(environment.IMPLEMENTATIONS)}",
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="limit NumPy's BLAS (and every OpenMP pool) to N threads through "
        "threadpoolctl, and PyTorch to N; default: NumPy's BLAS as loaded, "
        "PyTorch set to match it",
    )
    p.add_argument(
        "--same-process",
        action="store_true",
        help="run every workload in this process; by default each workload runs in a fresh "
        "Python process, so no workload inherits another's heap, thread pools or warm caches",
    )
    p.add_argument("--cells-json", help=argparse.SUPPRESS)  # the child's output, for the parent
    p.add_argument(
        "--check",
        action="store_true",
        help="only check every implementation against hand NumPy; no timing, no report file",
    )
    p.add_argument(
        "--out",
        default=str(HERE / "RESULTS.md"),
        help="markdown report path ('-' for stdout only; default benchmarks/RESULTS.md)",
    )
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    if args.threads and not environment.is_installed("threadpoolctl"):
        p.error("--threads needs threadpoolctl: pip install threadpoolctl")
    args.only = _split(args.only)
    args.impl = _split(args.impl)
    unknown = [n for n in args.only or () if n not in names]
    if unknown:
        p.error(f"unknown workload(s) {unknown}; choose from {names}")
    unknown = [k for k in args.impl or () if k not in environment.IMPLEMENTATIONS]
    if unknown:
        p.error(
            f"unknown implementation(s) {unknown}; choose from {list(environment.IMPLEMENTATIONS)}"
        )
    return args


SETTLE_SECONDS = 1.0


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_workload(
    w: Workload, keys: list[str], budget: harness.Budget | None
) -> dict[tuple[str, str], report.Cell]:
    """Check (and unless ``budget`` is None, time) each implementation of ``w``."""
    cells: dict[tuple[str, str], report.Cell] = {}
    data = w.make_data()
    ref_step = w.impls["numpy"](data)
    ref_raw = ref_step()
    reference = [harness.to_numpy(v) for v in ref_raw]
    derived_ref = w.derive(data, reference) if w.derive else []
    for key in keys:
        if key not in w.impls:
            continue
        cell = cells[(w.name, key)] = report.Cell()
        try:
            if key == "numpy":
                step = ref_step
                outputs = reference
            else:
                step = w.impls[key](data)
                raw = step()
                outputs = [harness.to_numpy(v) for v in raw]
            derived = w.derive(data, outputs) if w.derive else []
            cell.check = harness.compare(
                w.outputs, w.tolerance, reference, outputs, derived_ref, derived
            )
            if not cell.check.ok or budget is None:
                _log(f"  {w.name:<16} {key:<10} check {cell.check.summary()}")
                continue
            # Let the previous cell's thread pools go idle first: OpenMP (PyTorch) and XLA
            # workers spin for a while after their last task and would steal a core from
            # this cell on a 2-core machine.
            time.sleep(SETTLE_SECONDS)
            cell.measurement = harness.measure(step, budget)
            m = cell.measurement
            _log(
                f"  {w.name:<16} {key:<10} {report.fmt_time(m.median):>10}  "
                f"({m.samples}x{m.loops})  check {cell.check.summary()}"
            )
        except Exception as exc:  # one broken implementation must not stop the others
            cell.error = f"{type(exc).__name__}: {exc}\n" + traceback.format_exc()
            _log(f"  {w.name:<16} {key:<10} ERROR {type(exc).__name__}: {exc}")
    return cells


def _cells_to_json(cells: dict[tuple[str, str], report.Cell]) -> list[dict[str, Any]]:
    return [
        {
            "workload": w,
            "impl": k,
            "check": None if c.check is None else dataclasses.asdict(c.check),
            "measurement": None if c.measurement is None else dataclasses.asdict(c.measurement),
            "error": c.error,
        }
        for (w, k), c in cells.items()
    ]


def _cells_from_json(items: list[dict[str, Any]]) -> dict[tuple[str, str], report.Cell]:
    cells = {}
    for item in items:
        check = item["check"]
        if check is not None:
            check = harness.Check(**{**check, "dtypes": tuple(check["dtypes"])})
        m = item["measurement"]
        cells[(item["workload"], item["impl"])] = report.Cell(
            check=check,
            measurement=None if m is None else harness.Measurement(**m),
            error=item["error"],
        )
    return cells


def _run_in_child(name: str, argv: list[str]) -> dict[tuple[str, str], report.Cell]:
    """Run one workload in a fresh interpreter with the same options; return its cells."""
    passed = []
    skip = False
    for i, a in enumerate(argv):  # drop --only/--out (and their values): the child gets its own
        if skip:
            skip = False
            continue
        if a in ("--only", "--out"):
            skip = i + 1 < len(argv)
            continue
        if a.startswith(("--only=", "--out=")):
            continue
        passed.append(a)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cells.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), *passed, "--only", name,
               "--cells-json", str(out)]  # fmt: skip
        subprocess.run(cmd, check=False)
        if not out.exists():
            cell = report.Cell(error=f"the child process for {name} wrote no results")
            return {(name, "numpy"): cell}
        return _cells_from_json(json.loads(out.read_text()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    env_vars = environment.environment_variables()  # as found, before --threads sets XLA_FLAGS
    numpy_blas = environment.numpy_blas_info()  # before any peer loads its own BLAS
    present, missing = environment.installed_implementations()
    if args.impl:
        present = [k for k in present if k in args.impl or k == "numpy"]
    # Imported now: import cost and start-up stay out of the cells.
    environment.import_peers(present, args.threads)
    n_threads = environment.blas_threads(numpy_blas)
    if args.threads:
        environment.limit_threads(args.threads)
        n_threads = args.threads
    threads = environment.set_peer_threads(present, n_threads, limited=bool(args.threads))
    env = environment.describe(environment.interpreter_argv(), env_vars, numpy_blas, threads)

    budget = None if args.check else (QUICK if args.quick else FULL)
    workloads = [w for w in all_workloads() if not args.only or w.name in args.only]
    if missing:
        _log("not installed: " + ", ".join(environment.IMPLEMENTATIONS[k][0] for k in missing))
    cells: dict[tuple[str, str], report.Cell] = {}
    isolate = not args.same_process and args.cells_json is None and len(workloads) > 1
    for w in workloads:
        _log(w.name)
        if isolate:
            cells.update(_run_in_child(w.name, argv if argv is not None else sys.argv[1:]))
        else:
            cells.update(run_workload(w, present, budget))
    if args.cells_json is not None:
        Path(args.cells_json).write_text(json.dumps(_cells_to_json(cells)))
        return 0

    failed = [k for k, c in cells.items() if c.error or (c.check and not c.check.ok)]
    elapsed = time.perf_counter() - started
    _log(f"done in {elapsed:.0f} s" + (f"; {len(failed)} failed: {failed}" if failed else ""))
    if budget is None:
        return 1 if failed else 0
    budget_text = (
        f"time.perf_counter; per cell: first call = correctness check, then warm-up for "
        f"{budget.warmup_fraction:.0%} of a {budget.seconds:g} s budget, then samples of >= "
        f"{budget.min_sample_s * 1e3:g} ms until the budget is spent (at least "
        f"{budget.min_samples} samples); median reported; GC enabled, objects alive before "
        f"each cell frozen (gc.freeze); whole run took {elapsed:.0f} s"
    )
    text = report.render(env, args.quick, budget_text, workloads, cells, missing)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        _log(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
