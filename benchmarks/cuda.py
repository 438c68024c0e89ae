"""The GPU suite: W1-W7 on halogrid target="cuda", PyTorch CUDA and JAX on the GPU.

``python -m benchmarks --target cuda`` times forward and forward+gradient at S1 and S4
in one command that ends within ``--budget-s`` (default 285 s: cells that would start
later are reported as skipped).

Order of work: the probe subprocess (``cuda_probe``: the GPU, or a one-line reason and
exit status 2; its device-to-device copy bandwidth is the floor), then one subprocess
per (system, workload) timing every size (``cuda_cell``): per workload halogrid (from
an empty module cache: compile time) and PyTorch, then JAX for every workload, then
halogrid's cached starts (a second process on each filled cache). Meanwhile a
thread of this process computes the float64 oracles on the CPU; this process never
touches the GPU. ``--dry`` (``--sizes tiny``, one timed call per function) runs every
code path quickly, also under ``NUMBA_ENABLE_CUDASIM=1``, and exits 1 if a cell failed.
"""
import argparse
import datetime
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks import agreement, cuda_report, harness, report, run, systems
from benchmarks.cuda_cell import CUDA_SYSTEMS, SIZES, inputs_at, size_label, sizes_of
from benchmarks.workloads import WORKLOADS

BUDGET_S = 285.0
DRY_BUDGET_S = 1800.0  # the simulator runs a W4 gradient at 32x32 in ~1 min
CELL_TIMEOUT_S = 180.0
MIN_CELL_S = 10.0  # a cell is skipped when less than this is left of the budget
PACKAGES = ("numpy", "numba", "numba-cuda", "cuda-bindings", "torch", "jax", "jaxlib",
            "jax-cuda12-plugin", "halogrid")
NO_NUMBA_CUDA = ('numba-cuda is not installed: pip install "halogrid[cuda]" (or run '
                 '`python -m benchmarks --target cpu`)')


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks --target cuda",
                                description=__doc__.split("\n")[0])
    p.add_argument("--target", choices=("cuda",), default="cuda")
    p.add_argument("--sizes", type=run._csv, default=None,
                   help=f"of {','.join(SIZES)} (default S1,S4; tiny with --dry)")
    p.add_argument("--workloads", type=run._csv, default=sorted(WORKLOADS))
    p.add_argument("--systems", type=run._csv, default=list(CUDA_SYSTEMS))
    p.add_argument("--dry", action="store_true",
                   help="one timed call per function, small copy probe; exit 1 on a failed cell")
    p.add_argument("--budget-s", type=float, default=None,
                   help=f"wall-clock budget of the whole run, later cells skipped "
                        f"(default {BUDGET_S:.0f} s; {DRY_BUDGET_S:.0f} s with --dry)")
    p.add_argument("--out", default=run.RESULTS_DIR)
    args = p.parse_args(argv)
    args.sizes = args.sizes or (["tiny"] if args.dry else ["S1", "S4"])
    if args.budget_s is None:
        args.budget_s = DRY_BUDGET_S if args.dry else BUDGET_S
    for given, allowed in ((args.sizes, SIZES), (args.workloads, WORKLOADS),
                           (args.systems, CUDA_SYSTEMS)):
        unknown = set(given) - set(allowed)
        if unknown:
            p.error(f"unknown {sorted(unknown)}; choose from {sorted(allowed)}")
    args.sizes = sorted(args.sizes, key=lambda s: SIZES[s][0])  # JAX's peak only grows
    return args


def _exit(reason):
    print(f"python -m benchmarks --target cuda: {reason.splitlines()[0]}", file=sys.stderr)
    sys.exit(2)


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _oracle(workload, size):
    """(float64 reference, floor bytes) of one (workload, size), for the oracle thread."""
    inputs = inputs_at(workload, size)
    ref = agreement.reference(workload, inputs)
    return ref, cuda_report.floor_bytes(inputs, ref.fwd, WORKLOADS[workload].grad_names)


def _plan(args):
    """Cells in priority order, (mode, system, workload): per workload halogrid and
    PyTorch (the pair the issue's targets compare), then JAX, then halogrid's cached
    starts; under --budget-s the last ones are the first skipped."""
    first = [s for s in ("halogrid", "torch") if s in args.systems]
    later = [s for s in args.systems if s not in first]
    cells = [("time", s, w) for w in args.workloads for s in first]
    cells += [("time", s, w) for s in later for w in args.workloads]
    if "halogrid" in args.systems:
        cells += [("start", "halogrid", w) for w in args.workloads]
    return cells


def _status_rows(system, workload, sizes, status):
    return [{"system": system, "workload": workload, "size": size_label(workload, s),
             "size_key": s, "status": status} for s in sizes]


class Run:
    """The cells of one run, their rows, and what they share: the deadline, the
    per-workload halogrid caches, the systems found unavailable."""

    def __init__(self, args, cache_root, started):
        self.args, self.cache_root = args, cache_root
        self.deadline = started + args.budget_s  # perf_counter time the run must end by
        self.unavailable = {s: r for s in args.systems
                            if (r := systems.precheck(s, CUDA_SYSTEMS))}
        self.rows, self.arrays, self.memory = [], {}, {}

    def _env(self, system, workload):
        if system != "halogrid":
            return {}
        return {"HALOGRID_CACHE_DIR": os.path.join(self.cache_root, workload)}

    def cell(self, mode, system, workload):
        sizes = sizes_of(workload, self.args.sizes)
        left = self.deadline - time.perf_counter()
        if system in self.unavailable:
            if mode == "time":
                self.rows += _status_rows(system, workload, sizes, self.unavailable[system])
            return
        if mode == "start" and not any(
                (r["workload"], r["system"], r["status"]) == (workload, system, "ok")
                for r in self.rows):
            return  # no timed cell to start from
        if left < MIN_CELL_S:
            if mode == "time":
                self.rows += _status_rows(system, workload, sizes,
                                          "skipped: --budget-s reached")
            return
        args = ["--system", system, "--workload", workload, "--sizes", ",".join(sizes),
                "--mode", mode] + ["--dry"] * self.args.dry
        args += ["--host-io"] * (system == "halogrid" and workload == "W1" and mode == "time")
        record, arrays = harness.run_module("benchmarks.cuda_cell", args, {},
                                            min(left, CELL_TIMEOUT_S), self._env(system, workload))
        self._absorb(mode, system, workload, sizes, record, arrays)

    def _absorb(self, mode, system, workload, sizes, record, arrays):
        status = record.get("status", "?")
        print(f"{workload} {system} {mode}: {status}", file=sys.stderr, flush=True)
        if status.startswith("not available"):
            self.unavailable[system] = status
        if status != "ok":
            if mode == "time":
                self.rows += _status_rows(system, workload, sizes, status)
            return
        self.memory[system] = record["memory"]
        if mode == "start":
            self._cached_start(workload, record["rows"][0])
            return
        for i, row in enumerate(record["rows"]):
            row["version"] = record["version"]
            self.rows.append(row)
            prefix = f"r{i}__"
            self.arrays[id(row)] = {k[len(prefix):]: a for k, a in arrays.items()
                                    if k.startswith(prefix)}

    def _cached_start(self, workload, start):
        for row in self.rows:
            if ((row["workload"], row["system"], row["size"]) == (workload, "halogrid",
                                                                   start["size"])
                    and row.get("status") == "ok"):
                row["cached_s"] = harness.compile_seconds(
                    start["build_s"], [(start[f"{p}_first_s"], row[p]["median_ms"])
                                       for p in ("fwd", "grad")])

    def check(self, oracles):
        """Agreement and floors of every ok row; ``oracles``: (workload, size key) ->
        future of _oracle."""
        floors = {}
        for (workload, size), future in oracles.items():
            mine = [r for r in self.rows if (r["workload"], r.get("size_key")) == (workload, size)
                    and r.get("status") == "ok"]
            try:
                ref, floor = future.result()
            except Exception as err:  # the timings still stand; the check is missing
                for row in mine:
                    row["oracle_error"] = f"{type(err).__name__}: {err}"
                continue
            floors[(workload, size_label(workload, size))] = floor
            for row in mine:
                _agree(row, self.arrays[id(row)], ref)
        return floors

    def sorted_rows(self):
        """Rows by workload, size, then system in --systems order (numpy-io after its
        system)."""
        order = {name: i for i, name in enumerate(self.args.systems)}
        return sorted(self.rows, key=lambda r: (
            r["workload"], SIZES[r["size_key"]][0], order[r["system"].split()[0]], r["system"]))


def _agree(row, arrays, ref):
    try:
        row.update(agreement.compare(row, arrays, ref))
    except (KeyError, ValueError) as err:
        row["status"] = f"error: wrong result: {type(err).__name__}: {err}"


def _meta(args, probe, memory, started):
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "probe": probe, "versions": {p: v for p in PACKAGES if (v := _version(p))},
            "memory": memory, "argv": sys.argv[1:], "sizes": args.sizes,
            "elapsed_s": time.perf_counter() - started, "budget_s": args.budget_s}


def main(argv=None):
    started = time.perf_counter()
    args = parse(argv)
    if importlib.util.find_spec("numba_cuda") is None:
        _exit(NO_NUMBA_CUDA)
    probe, _ = harness.run_module("benchmarks.cuda_probe",
                                  ["--megabytes", "16" if args.dry else "1024"],
                                  {"status": "the GPU probe wrote nothing"}, CELL_TIMEOUT_S)
    if probe["status"] != "ok":
        _exit(probe["status"])
    with tempfile.TemporaryDirectory(prefix="hgcuda_") as cache_root, \
            ThreadPoolExecutor(1) as pool:
        oracles = {(w, s): pool.submit(_oracle, w, s)
                   for w in args.workloads for s in sizes_of(w, args.sizes)}
        work = Run(args, cache_root, started)
        for mode, system, workload in _plan(args):
            work.cell(mode, system, workload)
        floors = work.check(oracles)
    rows = work.sorted_rows()
    report.add_halogrid_ratios(rows)
    cuda_report.add_floors(rows, floors, probe.get("copy_gbs"))
    meta = _meta(args, probe, work.memory, started)
    print(cuda_report.header(meta))
    print(cuda_report.text_table(rows))
    print("\n".join(cuda_report.targets(rows, args.sizes[-1])))
    print("wrote " + ", ".join(cuda_report.write(rows, meta, args.out)))
    failed = [r for r in rows if r.get("status", "").startswith("error")]
    return 1 if args.dry and failed else 0
