"""Measurement primitives: call timing, one isolated cell, peak RSS, copy bandwidth.

A *cell* is one (system, workload, size). ``run_cell`` measures it in a fresh
``python -m benchmarks.one`` subprocess, so every cell starts cold (first call = real
compile), no other peer's thread pool is loaded next to it, and the subprocess's peak
RSS is that cell's alone. The subprocess writes ``cell.json`` (timings) and
``cell.npz`` (forward outputs and gradients) for the parent to check.
"""
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

WARMUPS = 2
MIN_RUNS = 5
MAX_RUNS = 30
EXTRA_RUN_BUDGET_S = 1.0  # fast calls get more runs, up to MAX_RUNS, within this budget
CELL_TIMEOUT_S = 900


@dataclass
class Timing:
    """first_s: the first call (includes any lazy compile); median_ms over runs_ms,
    which are the calls after WARMUPS untimed warm-ups."""

    first_s: float
    median_ms: float
    runs_ms: list


def time_calls(fn, inputs, warmups=WARMUPS, min_runs=MIN_RUNS, max_runs=MAX_RUNS):
    """Time ``fn(inputs)``: first call, ``warmups`` warm-ups, then >= ``min_runs`` timed
    runs (more, up to ``max_runs``, while they take under EXTRA_RUN_BUDGET_S).

    Returns (Timing, result of the last call)."""
    start = time.perf_counter()
    result = fn(inputs)
    first = time.perf_counter() - start
    for _ in range(warmups):
        fn(inputs)
    runs = []
    while len(runs) < min_runs or (sum(runs) < EXTRA_RUN_BUDGET_S and len(runs) < max_runs):
        start = time.perf_counter()
        result = fn(inputs)
        runs.append(time.perf_counter() - start)
    timing = Timing(first, 1e3 * statistics.median(runs), [1e3 * r for r in runs])
    return timing, result


def compile_seconds(build_s, calls):
    """Compile time = builder time + what each first call took beyond a steady call;
    ``calls``: (first call s, steady median ms) per function."""
    return build_s + sum(max(0.0, first - median_ms / 1e3) for first, median_ms in calls)


def rss_mb():
    """(current RSS, peak RSS) of this process in MB: VmRSS and VmHWM of /proc/self.

    Not getrusage: Linux carries ru_maxrss across fork+exec (the signal struct keeps
    the pre-exec high-water mark), so a subprocess would report at least its parent's
    peak. VmHWM belongs to the new address space and counts only this process."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_snapshot():
    """(wall s, machine busy CPU s, CPU s of this process and its waited-for children,
    such as halogrid's compile helper) for ``other_load``."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    own = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return (time.perf_counter(), (sum(ticks[:8]) - idle) / tick,
            sum(u.ru_utime + u.ru_stime for u in own))


def other_load(start, end):
    """Fraction of the machine's CPUs busy with OTHER processes between two
    ``cpu_snapshot``s (0 = we had the machine to ourselves, 1 = fully contended)."""
    wall = end[0] - start[0]
    others = (end[1] - start[1]) - (end[2] - start[2])
    return max(0.0, others / (wall * os.cpu_count())) if wall > 0 else 0.0


def wait_for_idle(max_wait_s, threshold=0.15, probe_s=0.5):
    """Wait until other processes use < ``threshold`` of the machine (probing every
    ``probe_s``), at most ``max_wait_s``; returns the last measured other load."""
    deadline = time.perf_counter() + max_wait_s
    while True:
        start = cpu_snapshot()
        time.sleep(probe_s)
        load = other_load(start, cpu_snapshot())
        if load < threshold or time.perf_counter() >= deadline:
            return load


def as_arrays(fwd_result, grads):
    """npz-ready dict: fwd0.. for the forward outputs, grad_<name> per gradient."""
    outputs = fwd_result if isinstance(fwd_result, tuple) else (fwd_result,)
    arrays = {f"fwd{i}": np.asarray(o) for i, o in enumerate(outputs)}
    arrays.update({f"grad_{name}": np.asarray(g) for name, g in grads.items()})
    return arrays


def run_cell(system, workload, size, mode="time", timeout_s=CELL_TIMEOUT_S, env=None):
    """Measure one cell in a subprocess; returns (record dict, arrays dict or {}).

    ``mode="time"``: full timing; ``mode="rss"``: build + one fwd + one grad, for the
    peak RSS only. ``env``: variables set for the subprocess on top of ours. A crash,
    timeout or unavailable system gives a record whose ``status`` says so (never an
    exception)."""
    args = ["--system", system, "--workload", workload, "--size", size, "--mode", mode]
    record = {"system": system, "workload": workload, "size": size}
    return run_module("benchmarks.one", args, record, timeout_s, env)


def run_module(module, args, record, timeout_s=CELL_TIMEOUT_S, env=None):
    """``python -m module *args --out DIR`` in a subprocess, which writes DIR/cell.json
    (a record) and optionally DIR/cell.npz; returns (that record, its arrays or {}).
    ``record`` is the fallback whose ``status`` is set when the process wrote nothing."""
    with tempfile.TemporaryDirectory(prefix="hgbench_") as out_dir:
        cmd = [sys.executable, "-m", module, *args, "--out", out_dir]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  cwd=_repo_root(), env={**os.environ, **(env or {})})
        except subprocess.TimeoutExpired:
            return {**record, "status": f"error: timeout after {timeout_s:.0f} s"}, {}
        json_path = os.path.join(out_dir, "cell.json")
        if not os.path.exists(json_path):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {**record, "status": f"error: exit {proc.returncode}: {' | '.join(tail)}"}, {}
        with open(json_path) as f:
            record = json.load(f)
        npz_path = os.path.join(out_dir, "cell.npz")
        arrays = dict(np.load(npz_path)) if os.path.exists(npz_path) else {}
    return record, arrays


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def copy_bandwidth(megabytes=256, runs=5, threads=1):
    """STREAM-style copy: np.copyto of a float32 array of ``megabytes`` MB, in GB/s
    counting read + write (2 x bytes). ``threads`` > 1 copies equal slices
    concurrently (NumPy releases the GIL for the copy). Median over ``runs``."""
    n = megabytes * 2**20 // 4
    src = np.ones(n, np.float32)
    dst = np.zeros(n, np.float32)
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [(dst[a:b], src[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    times = []
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(runs + 2):  # the first 2 are warm-ups (page faults, pool start)
            start = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(*pair), parts))
            times.append(time.perf_counter() - start)
    return 2 * src.nbytes / statistics.median(times[2:]) / 1e9
