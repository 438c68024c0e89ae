"""hg.dask scaling: a blur and its gradient over a lazily generated image, 1 vs 2 workers.

    python -m benchmarks.dask_scale                  # 16384 x 16384, chunks 2048
    python -m benchmarks.dask_scale --size 4096      # quicker

The workload is examples/dask_blur.py's: hg.dask.map_blocks of a 5x5 blur and
hg.dask.vjp of it (image and gain gradients), reduced to sums so that nothing whole is
ever materialised; the image and the output adjoint are generated chunk by chunk. Each
configuration is a dask.distributed LocalCluster of worker processes with one thread
(and one Numba thread) each, warmed up on a small image first (modules loaded, kernels
compiled). Beside them, the same work on one NumPy array in a process of its own (the
same compiled pipelines, one Numba thread): its time and peak memory. Reported: wall
seconds, the speedup of 2 workers over 1, and each worker's peak RSS (set by its chunks:
about the same for every image size) against the NumPy process's (set by the image).
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "examples"))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def on_cluster(workers: int, size: int, chunk: int) -> dict:
    from distributed import Client, LocalCluster

    import dask_blur
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit=0) as cluster, \
            Client(cluster) as client:
        dask_blur.run(256, 64, check=False)  # warm-up: every worker loads the modules
        client.run(lambda: None)
        report = dask_blur.run(size, chunk, check=False)
        peaks = client.run(_peak_rss_mib)
    return {"workers": workers, "seconds": report["seconds"],
            "worker peak RSS MiB": sorted(round(v) for v in peaks.values())}


def numpy_run(size: int) -> dict:
    """The same pipelines on one whole array, in this process (run as a child)."""
    import numpy as np

    import dask_blur
    import halogrid as hg
    blur, inp, gain = dask_blur.build_blur()
    rng = np.random.default_rng(0)
    image = rng.random((size, size), dtype=np.float32)
    seed = rng.random((size, size), dtype=np.float32)
    d = hg.propagate_adjoints(blur, seed)
    fwd = hg.Pipeline([blur]).compile()
    grad = hg.Pipeline([d[inp], d[gain]]).compile()
    small = image[:64, :64]
    fwd(inp=small, gain=1.5)
    grad(inp=small, gain=1.5, shapes=[small.shape, ()])  # compile outside the timing
    start = time.perf_counter()
    out = fwd(inp=image, gain=1.5)
    d_inp, d_gain = grad(inp=image, gain=1.5, shapes=[image.shape, ()])
    totals = (float(out.sum(dtype=np.float64)), float(d_inp.sum(dtype=np.float64)),
              float(d_gain))
    return {"seconds": time.perf_counter() - start, "peak RSS MiB": round(_peak_rss_mib()),
            "sums": totals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--numpy-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["NUMBA_NUM_THREADS"] = "1"  # one core per worker (inherited by workers)
    if args.numpy_child:
        print(json.dumps(numpy_run(args.size)))
        return
    rows = [on_cluster(n, args.size, args.chunk) for n in (1, 2)]
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--size",
                            str(args.size), "--numpy-child"], capture_output=True, text=True,
                           check=True, env=dict(os.environ))
    whole = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"image {args.size} x {args.size} float32, chunks {args.chunk}")
    for row in rows:
        print(f"  dask, {row['workers']} worker(s): {row['seconds']:.2f} s, "
              f"worker peak RSS {row['worker peak RSS MiB']} MiB")
    print(f"  speedup 2 workers / 1: {rows[0]['seconds'] / rows[1]['seconds']:.2f}x")
    print(f"  one NumPy array: {whole['seconds']:.2f} s, peak RSS {whole['peak RSS MiB']} MiB")


if __name__ == "__main__":
    main()
