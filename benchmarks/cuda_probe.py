"""The GPU and its memory-traffic floor, in a subprocess of ``python -m benchmarks
--target cuda`` (so the parent never creates a CUDA context):

    python -m benchmarks.cuda_probe --megabytes 1024 --out DIR

Writes DIR/cell.json: ``status`` ("ok", or a one-line reason there is no usable GPU),
the device (name, compute capability, memory), and ``copy_gbs``: the device-to-device
copy bandwidth, counting read + write (2 x bytes), median of RUNS copies of a
``--megabytes`` float32 buffer after 2 warm-ups, each copy waited for
(``cuda.synchronize``). 1 GiB is 20x the H200's L2 cache, so the copy streams from
and to HBM: the floor a memory-bound kernel can reach.
"""
import argparse
import json
import os
import statistics
import time

import numpy as np

RUNS = 20
NO_GPU = ('no CUDA GPU: numba.cuda sees none. Without a GPU run `NUMBA_ENABLE_CUDASIM=1 '
          'python -m benchmarks --target cuda --sizes tiny --dry` (the simulator) or '
          '`python -m benchmarks --target cpu`')


def copy_bandwidth(cuda, megabytes, runs=RUNS):
    """GB/s of ``dst.copy_to_device(src)`` between two device buffers (see above)."""
    n = megabytes * 2**20 // 4
    src, dst = cuda.device_array(n, np.float32), cuda.device_array(n, np.float32)
    times = []
    for _ in range(runs + 2):
        cuda.synchronize()
        start = time.perf_counter()
        dst.copy_to_device(src)
        cuda.synchronize()
        times.append(time.perf_counter() - start)
    return 2 * n * 4 / statistics.median(times[2:]) / 1e9


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def probe(megabytes):
    from numba import cuda
    if not cuda.is_available():
        return {"status": NO_GPU}
    device = cuda.get_current_device()
    free, total = cuda.current_context().get_memory_info()
    return {"status": "ok", "device": _text(getattr(device, "name", "numba-cuda simulator")),
            "compute_capability": list(device.compute_capability),
            "memory_gb": total / 2**30 if total != float("inf") else None,
            "simulator": os.environ.get("NUMBA_ENABLE_CUDASIM") == "1",
            "copy_megabytes": megabytes, "copy_gbs": copy_bandwidth(cuda, megabytes)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    try:
        record = probe(args.megabytes)
    except Exception as err:  # a driver that fails to initialise is "no usable GPU" too
        record = {"status": f"no usable CUDA GPU: {type(err).__name__}: {err}"}
    with open(os.path.join(args.out, "cell.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
