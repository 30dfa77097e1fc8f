"""``chainrule train`` on the digits: wall time of the default MLP and the CNN by BLAS threads.

Each run is a fresh process (`python -m chainrule train ... --threads N --quiet`), timed from
start to exit, median of REPEAT runs; the cores of the machine is the largest N tried, which is
what NumPy's and SciPy's OpenBLAS pools take when nothing limits them.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cli_threads.py

Writes benchmarks/RESULTS_cli.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPEAT = 3
RUNS = {
    "mlp (default run)": ["--model", "mlp"],
    "cnn": ["--model", "cnn", "--epochs", "25"],
}


def _blas() -> str:
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_info

    return ", ".join(sorted({f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)"
                             for i in threadpool_info()}))  # fmt: skip


def run(args: list[str], threads: int) -> tuple[float, str]:
    out = tempfile.mkdtemp()
    cmd = [sys.executable, "-m", "chainrule", "train", *args, "--threads", str(threads),
           "--quiet", "--out", out]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout.strip()


def read_seconds(rows: int = 200_000, cols: int = 20) -> float:
    """Median of 3 reads of a rows x cols CSV of random floats by ``chainrule.tables``."""
    import numpy as np
    import pandas as pd

    from chainrule.tables import read_table

    path = os.path.join(tempfile.mkdtemp(), "big.csv")
    data = np.random.default_rng(0).normal(size=(rows, cols))
    pd.DataFrame(data, columns=[f"c{i}" for i in range(cols)]).to_csv(path, index=False)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        read_table(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cores = os.cpu_count() or 1
    counts = sorted({1, cores})
    lines = ["| run | " + " | ".join(f"--threads {n}" for n in counts) + " | ratio |",
             "|---|" + "---:|" * (len(counts) + 1)]  # fmt: skip
    for name, args in RUNS.items():
        times = []
        for n in counts:
            ts = [run(args, n)[0] for _ in range(REPEAT)]
            times.append(statistics.median(ts))
        ratio = times[-1] / times[0]
        lines.append(f"| {name} | " + " | ".join(f"{t:.1f} s" for t in times)
                     + f" | {ratio:.2f} |")  # fmt: skip
    table = "\n".join(lines)
    print(table)
    reading = read_seconds()
    print(f"read 200,000 x 20: {reading:.2f} s")
    with open(os.path.join(HERE, "RESULTS_cli.md"), "w") as f:
        f.write(
            "# chainrule train: wall time by BLAS threads\n\n"
            "`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cli_threads.py`: "
            f"a fresh process per run, median of {REPEAT}, whole command (start-up, reading, "
            f"training, writing). Machine: {cores} cores; BLAS: {_blas()}. The ratio is the "
            "time with every core over the time with one.\n\n" + table + "\n\n"
            f"Reading a 200,000 x 20 CSV of random floats (`chainrule.tables.read_table`, "
            f"pandas' C reader after the header checks, plus the file's SHA-256): "
            f"{reading:.2f} s, median of 3.\n\n"
            "Why `--threads 1` is the default: on an idle machine more threads save a little "
            "(the ratio above); on a busy one the BLAS pools of NumPy and SciPy (both loaded by "
            "`chainrule train`) spin against each other and against the other work, and a "
            "threaded step gets many times slower: on this machine at a load average of 5.7, "
            "benchmarks/distributed.py measured the MLP epoch workload at 19.45 s with 2 "
            "threads against 2.82 s with 1 (6.9x; 2026-11-29), and the issue that led here saw "
            "51.6 s against 6.9 s for the CNN. One thread costs little when idle and avoids "
            "the collapse; `--threads N` takes more.\n"
        )


if __name__ == "__main__":
    main()
