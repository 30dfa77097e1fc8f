#!/usr/bin/env bash
# Everything a session with a GPU machine should run, in one call (the device tool's budget is
# 15 minutes, start-up included): the real-GPU tests, then the GPU benchmark. Nothing is
# installed (the machine has no network): chainrule runs from this tree, on the image's NumPy,
# CuPy and PyTorch. Results are written under $OUT (the device tool brings that folder back).
#
#   bash benchmarks/gpu_session.sh        # on the device machine, from the repository root
set -u
OUT=${OUT:-/tmp/gpu_session}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python -c "import numpy, cupy; print('NumPy', numpy.__version__, 'CuPy', cupy.__version__)"
    python -c "import torch; print('PyTorch', torch.__version__, torch.cuda.is_available())"
} >"$OUT/versions.txt" 2>&1
if python -c "import pytest" 2>/dev/null; then
    timeout 300 python -m pytest -q -p no:cacheprovider -o addopts="" tests/test_gpu.py \
        >"$OUT/test_gpu.txt" 2>&1
    echo "test_gpu.py exit status $?" >>"$OUT/test_gpu.txt"
else
    echo "pytest is not installed on this machine" >"$OUT/test_gpu.txt"
fi
timeout 240 python benchmarks/gpu.py --repeats 20 --batches 40 --out "$OUT/RESULTS_gpu.md" \
    >"$OUT/gpu_benchmark.txt" 2>&1
echo "gpu.py exit status $?" >>"$OUT/gpu_benchmark.txt"
tail -n 5 "$OUT/test_gpu.txt"
cat "$OUT/RESULTS_gpu.md" 2>/dev/null || tail -n 20 "$OUT/gpu_benchmark.txt"
