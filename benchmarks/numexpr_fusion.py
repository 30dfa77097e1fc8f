"""Would numexpr's one-pass evaluation beat the compiled replay's in-place NumPy chains?

Issue 14 allows fusing elementwise chains with a well-kept library (numexpr, numba) if it is
measured faster. This times, on one thread, the two chains the benchmark steps are made of:
a bias add and ReLU, and tanh's backward rule ``g * (1 - t * t) * s``, as the replay runs them
(NumPy ufuncs writing in place into one buffer) and as one ``numexpr.evaluate`` each, for
array sizes from the tiny step's to a 1024x1024 layer.

    pip install numexpr
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/numexpr_fusion.py
"""

from __future__ import annotations

import timeit

import numpy as np


def _row(shape: tuple[int, ...], rng: np.random.Generator) -> list[float]:
    import numexpr as ne

    a = rng.standard_normal(shape).astype(np.float32)
    t = np.tanh(a)
    b = rng.standard_normal(shape[-1]).astype(np.float32)
    out = np.empty_like(a)
    s = np.float32(1.0001)

    def relu_numpy() -> None:
        np.add(a, b, out=out)
        np.maximum(out, 0, out=out)

    def relu_numexpr() -> None:
        ne.evaluate("where(a + b > 0, a + b, 0)", local_dict={"a": a, "b": b}, out=out)

    def tanh_numpy() -> None:
        np.multiply(t, t, out=out)
        np.subtract(1, out, out=out)
        np.multiply(a, out, out=out)
        np.multiply(out, s, out=out)

    def tanh_numexpr() -> None:
        ne.evaluate("a * (1 - t * t) * s", local_dict={"a": a, "t": t, "s": s}, out=out)

    return [
        min(timeit.repeat(f, number=200, repeat=5)) / 200 * 1e6
        for f in (relu_numpy, relu_numexpr, tanh_numpy, tanh_numexpr)
    ]


def main() -> None:
    import numexpr as ne

    ne.set_num_threads(1)
    print(f"numexpr {ne.__version__}, NumPy {np.__version__}, one thread; best of 5, µs per call")
    print("| shape | bias+ReLU NumPy | bias+ReLU numexpr | tanh rule NumPy | tanh rule numexpr |")
    print("|---|---:|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for shape in [(16, 32), (128, 256), (128, 1024), (1024, 1024)]:
        times = _row(shape, rng)
        print(f"| {shape} | " + " | ".join(f"{x:.1f}" for x in times) + " |")


if __name__ == "__main__":
    main()
