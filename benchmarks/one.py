"""Measure ONE cell (system, workload, size) in this process; used as a subprocess.

    python -m benchmarks.one --system torch --workload W4 --size S4 --out DIR [--mode rss]

Writes DIR/cell.json (status, timings, compile time, RSS) and, when the cell ran,
DIR/cell.npz (forward outputs ``fwd0..``, gradients ``grad_<name>``; see
``harness.as_arrays``). Only the one system's module is imported, so the reported peak
RSS is that of this system running this workload (plus the interpreter and its
libraries; ``import_rss_mb`` is the RSS right after importing them, before any input
exists).
"""
import argparse
import json
import os
import time
import traceback
from dataclasses import asdict

import numpy as np

from benchmarks import env, harness, systems
from benchmarks.workloads import WORKLOADS, inputs_for, size_label


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=sorted(systems.SYSTEMS))
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--size", required=True)
    parser.add_argument("--mode", choices=("time", "rss"), default="time")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def _single(fn, inputs):
    start = time.perf_counter()
    result = fn(inputs)
    return time.perf_counter() - start, result


def measure(args, record):
    """Fill ``record`` for the cell; returns the npz arrays (empty if it did not run)."""
    try:
        module = systems.load(args.system)
    except systems.Unavailable as err:
        record["status"] = str(err)
        return {}
    record["version"] = getattr(module, "VERSION", "")
    build, reason = systems.builder(module, args.workload)
    if build is None:
        record["status"] = reason
        return {}
    record["import_rss_mb"] = harness.rss_mb()[0]
    inputs = inputs_for(WORKLOADS[args.workload], args.size)
    start = time.perf_counter()
    fwd_fn, grad_fn = build(inputs)
    record["build_s"] = time.perf_counter() - start
    if args.mode == "rss":
        record["fwd_first_s"], fwd_result = _single(fwd_fn, inputs)
        record["grad_first_s"], (loss, grads) = _single(grad_fn, inputs)
    else:
        before = harness.cpu_snapshot()
        fwd, fwd_result = harness.time_calls(fwd_fn, inputs)
        grad, (loss, grads) = harness.time_calls(grad_fn, inputs)
        record.update(fwd=asdict(fwd), grad=asdict(grad),
                      compile_s=harness.compile_seconds(
                          record["build_s"], [(t.first_s, t.median_ms) for t in (fwd, grad)]),
                      other_load=harness.other_load(before, harness.cpu_snapshot()))
    record["loss"] = float(loss)
    record["status"] = "ok"
    return harness.as_arrays(fwd_result, grads)


def main(argv=None):
    args = _parse(argv)
    workload = WORKLOADS[args.workload]
    record = {"system": args.system, "workload": args.workload,
              "size": size_label(workload, args.size), "mode": args.mode,
              "env": env.snapshot()}
    try:
        arrays = measure(args, record)
    except Exception as err:  # recorded in the report instead of killing the whole run
        record["status"] = f"error: {type(err).__name__}: {err}"
        record["traceback"] = traceback.format_exc()
        arrays = {}
    record["peak_rss_mb"] = harness.rss_mb()[1]
    if arrays:
        np.savez(os.path.join(args.out, "cell.npz"), **arrays)
    with open(os.path.join(args.out, "cell.json"), "w") as f:
        json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
