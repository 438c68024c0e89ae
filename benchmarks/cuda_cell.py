"""Measure ONE system on ONE workload on the GPU, at each requested size; a subprocess
of ``python -m benchmarks --target cuda`` (``benchmarks/cuda.py``):

    python -m benchmarks.cuda_cell --system torch --workload W4 --sizes S1,S4 --out DIR
        [--mode start] [--host-io] [--dry]

A device system is a module (``CUDA_SYSTEMS``) with ``BUILDERS`` (workload -> builder,
as in ``benchmarks.systems`` but on device arrays: ``fwd(t)`` -> out or (out, hist),
``grad(t)`` -> (loss, {name: gradient}), all left on the device), ``to_device(numpy
dict)``, ``wait(result)`` (returns once the GPU work behind ``result`` is done),
``memory_reset()`` / ``memory_peak()`` (bytes or None), ``check()`` (None, or why the
system cannot run here), ``VERSION`` and ``MEMORY`` (how the peak is measured).

Per size, in ascending order: inputs moved to the device (not timed), the builder
(first size only: its time is ``build_s``), fwd then grad timed by
``harness.time_calls`` with every call waited for, so each time covers the GPU work;
the peak memory of the size's calls (inputs included); results copied to the host
after timing. ``--host-io`` adds a row per size timing the same functions on NumPy
arrays (halogrid copies them in and out). ``--mode start`` is the cached start: build
plus one fwd and one grad call at the first size. Writes DIR/cell.json (``rows``: one
record per size) and DIR/cell.npz (``r<i>__fwd0``.., ``r<i>__grad_<name>``).
"""
import argparse
import json
import os
import time
import traceback
from dataclasses import asdict

import numpy as np

from benchmarks import env, harness, systems
from benchmarks.workloads import SIZES as CPU_SIZES
from benchmarks.workloads import WORKLOADS

SIZES = {"tiny": (32, 32), **CPU_SIZES}
TINY_W2 = 8  # W2 at "tiny": its fixed 16x256x256 inputs cropped to 16x8x8
CUDA_SYSTEMS = {
    "halogrid": systems.System("halogrid", "benchmarks.peers.halogrid_cuda", "halogrid",
                               'halogrid target="cuda" (numba-cuda kernels)'),
    "torch": systems.System("torch", "benchmarks.peers.torch_cuda", "torch",
                            "PyTorch CUDA, eager + autograd"),
    "jax": systems.System("jax", "benchmarks.peers.jax_cuda", "jax",
                          "JAX jit + value_and_grad on the GPU"),
}
DRY_REPS = {"warmups": 0, "min_runs": 1, "max_runs": 1}


def inputs_at(name, size):
    """The inputs of workload ``name`` at ``size`` (a key of SIZES); W2 has one size,
    which "tiny" crops."""
    workload = WORKLOADS[name]
    if not workload.fixed_size:
        return workload.make_inputs(*SIZES[size])
    full = workload.make_inputs()
    if size != "tiny":
        return full
    return {k: v if k == "k" else np.ascontiguousarray(v[:, :TINY_W2, :TINY_W2])
            for k, v in full.items()}


def size_label(name, size):
    if not WORKLOADS[name].fixed_size:
        return size
    return f"16x{TINY_W2}x{TINY_W2}" if size == "tiny" else "16x256x256"


def sizes_of(name, sizes):
    """The sizes a workload runs at: W2 once (the first requested size)."""
    return sizes[:1] if WORKLOADS[name].fixed_size else list(sizes)


def to_host(value):
    """NumPy copy of a device result (numba device array, torch tensor, JAX array, any
    other ``__cuda_array_interface__`` array, tuples of them, NumPy arrays, floats)."""
    if isinstance(value, (tuple, list)):
        return tuple(to_host(v) for v in value)
    if hasattr(value, "copy_to_host"):
        return value.copy_to_host()
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    try:
        return np.asarray(value)
    except TypeError:  # CuPy and the like refuse an implicit copy to the host
        from numba import cuda
        return cuda.as_cuda_array(value).copy_to_host()


def _timed(system, fn, inputs, reps):
    return harness.time_calls(lambda t: system.wait(fn(t)), inputs, **reps)


def _row(name, workload, size, fwd, grad, result, compile_build_s):
    """One size's record and arrays from its fwd/grad Timings and last results."""
    fwd_out, (loss, grads) = result
    record = {"system": name, "workload": workload, "size": size_label(workload, size),
              "size_key": size, "status": "ok", "fwd": asdict(fwd), "grad": asdict(grad),
              "compile_s": harness.compile_seconds(
                  compile_build_s, [(t.first_s, t.median_ms) for t in (fwd, grad)]),
              "loss": float(to_host(loss))}
    arrays = harness.as_arrays(to_host(fwd_out), {k: to_host(g) for k, g in grads.items()})
    return record, arrays


def time_sizes(system, name, workload, sizes, host_io=False, reps=None):
    """Rows and arrays of every size (see the module docstring). A size that raises
    gets an error row and the next size still runs (an out-of-memory S4 keeps S1)."""
    build = Builder(system.BUILDERS[workload])
    rows, arrays = [], []
    for size in sizes:
        try:
            more_rows, more_arrays = _time_size(system, name, workload, size, build,
                                                host_io, reps or {})
        except Exception as err:
            more_rows = [{"system": name, "workload": workload, "size_key": size,
                          "size": size_label(workload, size), "traceback": traceback.format_exc(),
                          "status": f"error: {type(err).__name__}: {err}"}]
            more_arrays = [{}]
        rows += more_rows
        arrays += more_arrays
    return rows, arrays


class Builder:
    """Calls a builder once, on the first inputs (a builder that raised raises the same
    error again, without a second compile); ``build_s`` is its time until
    ``take_build_s`` hands it to the first size's compile time."""

    def __init__(self, build):
        self.build, self.fns, self.error, self.build_s = build, None, None, 0.0

    def __call__(self, inputs):
        if self.error is not None:
            raise self.error
        if self.fns is None:
            start = time.perf_counter()
            try:
                self.fns = self.build(inputs)
            except Exception as err:
                self.error = err
                raise
            self.build_s = time.perf_counter() - start
        return self.fns

    def take_build_s(self):
        taken, self.build_s = self.build_s, 0.0
        return taken


def _time_size(system, name, workload, size, build, host_io, reps):
    host = inputs_at(workload, size)
    system.memory_reset()
    device = system.to_device(host)
    fwd_fn, grad_fn = build(device)
    fwd, fwd_out = _timed(system, fwd_fn, device, reps)
    grad, grad_out = _timed(system, grad_fn, device, reps)
    peak = system.memory_peak()
    record, out = _row(name, workload, size, fwd, grad, (fwd_out, grad_out),
                       build.take_build_s())
    record["peak_mb"] = None if peak is None else peak / 2**20
    rows, arrays = [record], [out]
    del device, fwd_out, grad_out  # this size's device arrays go before the next size's
    if host_io:
        fwd, fwd_out = _timed(system, fwd_fn, host, reps)
        grad, grad_out = _timed(system, grad_fn, host, reps)
        record, out = _row(f"{name} numpy-io", workload, size, fwd, grad, (fwd_out, grad_out),
                           0.0)
        rows.append(record)
        arrays.append(out)
    return rows, arrays


def cached_start(system, workload, size):
    """Build plus the first fwd and grad call at ``size``, on whatever caches exist."""
    device = system.to_device(inputs_at(workload, size))
    start = time.perf_counter()
    fwd_fn, grad_fn = system.BUILDERS[workload](device)
    record = {"size": size_label(workload, size), "build_s": time.perf_counter() - start}
    for part, fn in (("fwd", fwd_fn), ("grad", grad_fn)):
        start = time.perf_counter()
        system.wait(fn(device))
        record[f"{part}_first_s"] = time.perf_counter() - start
    return record


def measure(args, record):
    """Fill ``record`` (status, version, rows); returns the arrays of its rows."""
    try:
        system = systems.load(args.system, CUDA_SYSTEMS)
    except systems.Unavailable as err:
        record["status"] = str(err)
        return []
    record["status"] = system.check() or "ok"
    record.update(version=system.VERSION, memory=system.MEMORY)
    if record["status"] != "ok":
        return []
    if args.mode == "start":
        record["rows"] = [cached_start(system, args.workload, args.sizes[0])]
        return []
    rows, arrays = time_sizes(system, args.system, args.workload, args.sizes,
                              args.host_io, DRY_REPS if args.dry else None)
    record["rows"] = rows
    return arrays


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=sorted(CUDA_SYSTEMS))
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--sizes", required=True, type=lambda s: s.split(","))
    parser.add_argument("--mode", choices=("time", "start"), default="time")
    parser.add_argument("--host-io", action="store_true")
    parser.add_argument("--dry", action="store_true", help="one timed call per function")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    record = {"system": args.system, "workload": args.workload, "mode": args.mode,
              "env": env.snapshot()}
    try:
        arrays = measure(args, record)
    except Exception as err:  # recorded in the report instead of killing the whole run
        record["status"] = f"error: {type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        arrays = []
    flat = {f"r{i}__{key}": a for i, row in enumerate(arrays) for key, a in row.items()}
    if flat:
        np.savez(os.path.join(args.out, "cell.npz"), **flat)
    with open(os.path.join(args.out, "cell.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
