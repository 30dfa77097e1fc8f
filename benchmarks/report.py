"""The results as markdown: header (command, machine, versions, BLAS), table, targets."""

from __future__ import annotations

from dataclasses import dataclass

from environment import IMPLEMENTATIONS, Environment
from harness import Check, Measurement
from workloads import Workload

QUICK_BANNER = (
    "> **Quick validation run, not the reference measurement.** Short time budgets on a shared "
    "machine: use these numbers to see that everything runs and roughly where it stands, not "
    "to judge a target."
)


@dataclass
class Cell:
    """The outcome for one (workload, implementation)."""

    check: Check | None = None
    measurement: Measurement | None = None
    error: str = ""  # an exception raised while building or running the step

    @property
    def median(self) -> float | None:
        return self.measurement.median if self.measurement else None


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    return f"{a / b:.2f}"


def _status(cell: Cell) -> str:
    if cell.error:
        return "ERROR: " + cell.error.replace("|", "\\|").splitlines()[0][:120]
    if cell.check is None:
        return "–"
    return cell.check.summary().replace("|", "\\|")


def header(env: Environment, quick: bool, budget_text: str) -> list[str]:
    lines = ["# chainrule benchmark results", ""]
    if quick:
        lines += [QUICK_BANNER, ""]
    lines += [
        f"- **Command:** `{env.command}`",
        f"- **Date:** {env.date}",
        f"- **Machine:** {env.cpu}; {env.cores}; {env.platform}",
        f"- **chainrule:** {env.versions['chainrule']}; git {env.git}",
        "- **Versions:** "
        + ", ".join(f"{k} {v}" for k, v in env.versions.items() if k != "chainrule"),
        "- **Threads:** " + "; ".join(f"{k}: {v}" for k, v in env.threads.items()),
        f"- **Load average:** {env.load}",
        "- **Environment:** "
        + ", ".join(f"`{k}`={'unset' if v is None else repr(v)}" for k, v in env.env_vars.items()),
        f"- **Timing:** {budget_text}",
        "",
        "BLAS and thread pools loaded (threadpoolctl `threadpool_info()`):",
        "",
    ]
    if not env.blas:
        lines += ["threadpoolctl is not installed: `pip install threadpoolctl`.", ""]
    else:
        lines += [
            "| user_api | internal_api | version | num_threads | architecture | library | "
            "used by NumPy |",
            "|---|---|---|---|---|---|---|",
        ]
        for e in env.blas:
            lib = str(e.get("filepath", "")).rsplit("/", 1)[-1]
            lines.append(
                f"| {e.get('user_api', '')} | {e.get('internal_api', '')} | "
                f"{e.get('version', '')} | {e.get('num_threads', '')} | "
                f"{e.get('architecture', '–') or '–'} | {lib} | "
                f"{'yes' if e.get('used_by_numpy') else 'no'} |"
            )
        lines.append("")
    return lines


def table(workloads: list[Workload], cells: dict[tuple[str, str], Cell]) -> list[str]:
    with_torch = any(key == "torch" for _, key in cells)  # no column for a missing peer
    ratios = "`× NumPy`, `× PyTorch`" if with_torch else "`× NumPy`"
    lines = [
        "## Results",
        "",
        "Median time per step; `per op` = median / operations in the step; `repeats` = samples "
        "× calls per sample; `IQR` = interquartile range / median; "
        f"{ratios} = this median / that implementation's median on the same workload (lower is "
        "faster); `check` = agreement with hand NumPy (largest relative error over all "
        "outputs; `exact` = bit-identical).",
        "",
        "| workload | implementation | median | per op | repeats | IQR | × NumPy | "
        + ("× PyTorch | " if with_torch else "")
        + "check |",
        "|---|---|---:|---:|---:|---:|---:|" + ("---:|" if with_torch else "") + "---|",
    ]
    for w in workloads:
        ref = cells.get((w.name, "numpy"), Cell()).median
        torch = cells.get((w.name, "torch"), Cell()).median
        for key in IMPLEMENTATIONS:
            cell = cells.get((w.name, key))
            if cell is None:
                continue
            m = cell.measurement
            if m is None:
                row = ["–"] * 5
            else:
                iqr = (m.q75 - m.q25) / m.median if m.median else 0.0
                row = [
                    fmt_time(m.median),
                    fmt_time(m.median / w.ops) if w.ops else "–",
                    f"{m.samples}×{m.loops}",
                    f"{100 * iqr:.0f}%",
                    _ratio(m.median, ref),
                ]
            if with_torch:
                row.append("–" if m is None else _ratio(m.median, torch))
            title = IMPLEMENTATIONS[key][0]
            lines.append(f"| {w.name} | {title} | " + " | ".join(row) + f" | {_status(cell)} |")
    lines.append("")
    return lines


def targets(workloads: list[Workload], cells: dict[tuple[str, str], Cell]) -> list[str]:
    rows = []
    for w in workloads:
        for t in w.targets:
            a = cells.get((w.name, t.impl), Cell()).median
            b = cells.get((w.name, t.versus), Cell()).median
            if a is None or b is None:
                rows.append(f"| {w.name} | {t.text} | not measured | – |")
                continue
            ratio = a / b
            met = "yes" if ratio <= t.max_ratio else "**no**"
            rows.append(f"| {w.name} | {t.text} | {ratio:.2f}x | {met} |")
    per_op = {}
    for w in workloads:
        m = cells.get((w.name, "chainrule"), Cell()).median
        if w.name.startswith("long_chain_") and m is not None and w.ops:
            per_op[w.ops] = m / w.ops
    if len(per_op) >= 2:
        short, long = min(per_op), max(per_op)
        ratio = per_op[long] / per_op[short]
        met = "yes" if ratio <= 1.5 else "**no**"
        rows.append(
            f"| long_chain | linear time: chainrule's time per op at {long:,} ops / at "
            f"{short:,} ops <= 1.5 | {ratio:.2f}x ({fmt_time(per_op[long])} vs "
            f"{fmt_time(per_op[short])} per op) | {met} |"
        )
    if not rows:
        return []
    return [
        "## Targets",
        "",
        "| workload | target | measured | met |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def notes(
    workloads: list[Workload], cells: dict[tuple[str, str], Cell], missing: list[str]
) -> list[str]:
    lines = ["## Notes", ""]
    if missing:
        titles = ", ".join(IMPLEMENTATIONS[k][0] for k in missing)
        lines.append(f"- Not installed (columns skipped): {titles}.")
    for (wname, key), cell in cells.items():
        if cell.error:
            lines.append(f"- {wname} / {IMPLEMENTATIONS[key][0]} raised:")
            lines.append("")
            lines.append("  ```")
            lines += ["  " + ln for ln in cell.error.strip().splitlines()[-6:]]
            lines.append("  ```")
    if len(lines) > 2:
        lines.append("")
    lines.append("Workloads (see benchmarks/README.md for the exact maths):")
    lines.append("")
    lines += [f"- **{w.name}**: {w.summary}" for w in workloads]
    lines.append("")
    return lines


def render(
    env: Environment,
    quick: bool,
    budget_text: str,
    workloads: list[Workload],
    cells: dict[tuple[str, str], Cell],
    missing: list[str],
) -> str:
    parts = header(env, quick, budget_text) + table(workloads, cells)
    parts += targets(workloads, cells) + notes(workloads, cells, missing)
    return "\n".join(parts)
