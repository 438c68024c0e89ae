"""Bilateral slice-apply, forward + backward: the halogrid op vs the same operator in PyTorch.

    python -m benchmarks.bilateral_slice_torch               # 1024 x 1024 (1 MP), grid 16x16x8
    python -m benchmarks.bilateral_slice_torch --size 512 --threads 1

The halogrid op is examples/bilateral_slice.py's (hg.torch.to_autograd of the slice-apply
Func, its backward scheduled by the example's hook); the PyTorch one is its torch_slice_apply
(grid_sample, trilinear, on the grid as a 5-D volume, then the 3x4 affine). Both compute
in float32 and are checked equal first. Each implementation and thread count
(torch.set_num_threads(n), NUMBA_NUM_THREADS=n) runs in a process of its own, the two
implementations alternating for --rounds rounds: warmed up on a 64x64 image (kernels
compiled or loaded), then timed over --reps calls of forward + backward (gradients for
the image and the grid). Reported: the median wall time and the median CPU time of a
call (on a loaded machine the CPU time of one thread is the steadier figure), the best
over the rounds. Memory: the growth of peak RSS over the timed calls, and the bytes
autograd saves for backward (saved_tensors_hooks). Prints a table.
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
GRID = (16, 16, 8)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(size: int, seed: int = 0):
    import torch

    import bilateral_slice
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(size, size, 3, generator=g).requires_grad_()
    grid = (bilateral_slice.identity_grid(GRID)
            + 0.1 * torch.randn(*GRID, 12, generator=g)).requires_grad_()
    return img, grid


def _saved_bytes(fn, img, grid) -> int:
    """Bytes of the tensors autograd keeps for backward in one forward."""
    import torch

    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(img, grid)
    return total[0]


def one(impl: str, size: int, reps: int, threads: int) -> dict:
    """Time and memory of one implementation on `threads` threads, in this process
    (started with NUMBA_NUM_THREADS=threads)."""
    import torch

    import bilateral_slice
    torch.set_num_threads(threads)
    fn = bilateral_slice.build() if impl == "halogrid" else bilateral_slice.torch_slice_apply

    def fwd_bwd(img, grid):
        out = fn(img, grid)
        out.backward(torch.ones_like(out))

    fwd_bwd(*_inputs(64))
    img, grid = _inputs(size)
    base = _peak_rss_mib()
    walls, cpus = [], []
    for _ in range(reps):
        start, cpu = time.perf_counter(), time.process_time()
        fwd_bwd(img, grid)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return {"impl": impl, "seconds": sorted(walls)[reps // 2],
            "cpu_seconds": sorted(cpus)[reps // 2],
            "rss_growth_mib": _peak_rss_mib() - base,
            "saved_mib": _saved_bytes(fn, img, grid) / 2**20}


def _agree(size: int = 96) -> float:
    """Largest difference of the outputs and of the grid gradients."""
    import torch

    import bilateral_slice
    op = bilateral_slice.build()
    worst = 0.0
    results = []
    for fn in (op, bilateral_slice.torch_slice_apply):
        img, grid = _inputs(size, seed=1)
        out = fn(img, grid)
        out.backward(torch.ones_like(out))
        results.append((out.detach(), grid.grad))
    for a, b in zip(*results):
        worst = max(worst, (a - b).abs().max().item())
    return worst


def _run_one(impl: str, args, threads: int) -> dict:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    cmd = [sys.executable, "-m", "benchmarks.bilateral_slice_torch", "--one", impl,
           "--size", str(args.size), "--reps", str(args.reps), "--threads", str(threads)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True,
                         cwd=os.path.dirname(_HERE)).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--one", choices=["halogrid", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.size, args.reps, args.threads[0])))
        return
    print(f"outputs and grid gradients agree to {_agree():.2e}")
    print(f"\nslice-apply fwd+bwd, {args.size}x{args.size} image, grid {GRID}, "
          f"best of {args.rounds} rounds")
    print(f"{'threads':>7} {'impl':10} {'median s':>9} {'CPU s':>7} {'RSS growth MiB':>15} "
          f"{'saved MiB':>10}")
    for threads in args.threads:
        best = {}
        for _ in range(args.rounds):
            for impl in ("halogrid", "torch"):
                r = _run_one(impl, args, threads)
                if impl not in best or r["seconds"] < best[impl]["seconds"]:
                    best[impl] = r
        for r in best.values():
            print(f"{threads:7d} {r['impl']:10} {r['seconds']:9.3f} {r['cpu_seconds']:7.3f} "
                  f"{r['rss_growth_mib']:15.1f} {r['saved_mib']:10.1f}")
        print(f"{threads:7d} halogrid speedup: wall "
              f"{best['torch']['seconds'] / best['halogrid']['seconds']:.2f}x, CPU "
              f"{best['torch']['cpu_seconds'] / best['halogrid']['cpu_seconds']:.2f}x")


if __name__ == "__main__":
    main()
