#!/usr/bin/env bash
# The one prepared command for a lent GPU machine (an H200 with torch, JAX, numba-cuda):
# the CUDA test leg on the real GPU (libdevice, PTX, the gpu-marked tests: streams, torch
# CUDA tensors, the disk cache across processes), then `python -m benchmarks --target cuda`.
# Everything is written under $OUT (default /tmp/halogrid_gpu); about 9 minutes at most.
set -u
OUT=${OUT:-/tmp/halogrid_gpu}
mkdir -p "$OUT"
pip install --no-deps -e . > "$OUT/install.log" 2>&1
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
HALOGRID_TEST_CUDA=1 timeout 240 python -m pytest -q -p no:cacheprovider tests/cuda \
    > "$OUT/tests_cuda.log" 2>&1
echo "tests/cuda rc=$?" | tee "$OUT/summary.txt"
tail -3 "$OUT/tests_cuda.log"
timeout 300 python -m benchmarks --target cuda > "$OUT/benchmarks_cuda.txt" 2>&1
echo "benchmarks rc=$?" | tee -a "$OUT/summary.txt"
tail -40 "$OUT/benchmarks_cuda.txt"
