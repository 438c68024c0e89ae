"""A blur and its gradient over a lazily generated dask array, block by block.

The image is never materialised whole: dask generates it chunk by chunk, hg.dask runs the
compiled blur on each block with halos from bounds inference, and hg.dask.vjp runs the
compiled adjoint over the blocks of an output adjoint. Checked against the same pipeline
run on one NumPy array (the whole image, so only at the small sizes).

    python examples/dask_blur.py            # 2048 x 2048, checked against NumPy
    python examples/dask_blur.py --tiny     # 96 x 80 (the test suite runs this)
    python examples/dask_blur.py --size 16384 --workers 2   # on a LocalCluster
"""

import argparse
import time

import dask.array as da
import numpy as np

import halogrid as hg


def build_blur():
    """A 5x5 binomial blur of a mirror_image image, times a gain Param."""
    x, y = hg.Var("x"), hg.Var("y")
    inp, gain = hg.ImageParam(hg.Float(32), 2, "inp"), hg.Param(hg.Float(32), "gain", 1.0)
    bc = hg.BoundaryConditions.mirror_image(inp)
    taps = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]
    blur_x = hg.Func("blur_x")
    blur_x[y, x] = sum(w * bc[y, x + i - 2] for i, w in enumerate(taps))
    blur = hg.Func("blur")
    blur[y, x] = sum(w * blur_x[y + i - 2, x] for i, w in enumerate(taps)) * gain
    blur_x.compute_root()
    return blur, inp, gain


def lazy_image(size: int, chunk: int, seed: int):
    """A (size, size) float32 dask array, generated chunk by chunk."""
    return da.random.default_rng(seed).random((size, size), dtype=np.float32,
                                              chunks=(chunk, chunk))


def run(size: int, chunk: int, check: bool) -> dict:
    blur, inp, gain = build_blur()
    image, d_out = lazy_image(size, chunk, 0), lazy_image(size, chunk, 1)
    out = hg.dask.map_blocks([blur], inp=image, gain=1.5)
    d_inp, d_gain = hg.dask.vjp([blur], {inp: image, gain: 1.5}, d_out=d_out)
    start = time.perf_counter()
    totals = da.compute(out.sum(dtype=np.float64), d_inp.sum(dtype=np.float64), d_gain)
    seconds = time.perf_counter() - start
    report = {"seconds": seconds, "sum out": float(totals[0]), "sum d_inp": float(totals[1]),
              "d_gain": float(totals[2])}
    if check:
        whole, seed = image.compute(), d_out.compute()
        d = hg.propagate_adjoints(blur, seed)
        fn = hg.Pipeline([blur, d[inp], d[gain]]).compile()
        ref_out, ref_d, ref_g = fn(inp=whole, gain=1.5, shapes=[whole.shape, whole.shape, ()])
        report["max |dask - numpy|"] = max(
            float(np.abs(out.compute() - ref_out).max()),
            float(np.abs(d_inp.compute() - ref_d).max()),
            abs(float(totals[2]) - float(ref_g)) / max(1.0, abs(float(ref_g))))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="96 x 80-ish: a smoke run")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--workers", type=int, default=0,
                        help="run on a dask.distributed LocalCluster of this many processes")
    args = parser.parse_args()
    size, chunk = (96, 27) if args.tiny else (args.size, args.chunk)
    check = size <= 4096
    if args.workers:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster):
            report = run(size, chunk, check)
    else:
        report = run(size, chunk, check)
    for key, value in report.items():
        print(f"{key}: {value:.6g}")
    if check and report["max |dask - numpy|"] > 1e-3:
        raise SystemExit("dask and NumPy runs differ")


if __name__ == "__main__":
    main()
