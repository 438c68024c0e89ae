"""``python -m benchmarks``: measure every (workload, size, system) cell, print the table
and write benchmarks/results/report.json and report.md.

Order of work: copy bandwidth first (idle machine), then per workload and size the
float64 oracle in this process and each system in its own subprocess
(``harness.run_cell``), then per workload and system the peak RSS at the RSS size.
This process never times anything itself, so the oracles it holds cannot skew timings.
"""
import argparse
import datetime
import importlib.metadata
import os
import platform
import sys
import tempfile

from benchmarks import agreement, env, harness, report, systems
from benchmarks.workloads import SIZES, WORKLOADS, inputs_for, size_label

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DEFAULT_SYSTEMS = ("torch", "jax", "halide", "halogrid")
CLEAN_LOAD = 0.2  # a cell is "contended" when others used more of the CPUs than this
TARGETS = ("cpu", "cuda")
PACKAGES = ("numpy", "numba", "torch", "jax", "jaxlib", "halide", "halogrid")


def _csv(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def parse(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=_csv, default=["S1", "S4"], help="of " + ",".join(SIZES))
    p.add_argument("--workloads", type=_csv, default=sorted(WORKLOADS))
    p.add_argument("--systems", type=_csv, default=list(DEFAULT_SYSTEMS))
    p.add_argument("--quick", action="store_true", help="smoke run at size Q (256x256)")
    p.add_argument("--rss-size", default="S4", help="size of the peak-RSS cells")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS cells")
    p.add_argument("--idle-wait", type=float, default=15.0,
                   help="before each cell wait up to this many s for other processes "
                        "to leave the CPUs (the machine may be shared); 0 = never wait")
    p.add_argument("--retries", type=int, default=1,
                   help="re-run a cell up to this many times while other processes took "
                        f"> {CLEAN_LOAD * 100:.0f}%% of the CPUs during it; the cleanest run is kept")
    p.add_argument("--nice", type=int, default=0,
                   help="os.nice() increment for this run and its cells; negative (root "
                        "only) gives the cells the CPUs first on a shared machine")
    p.add_argument("--out", default=RESULTS_DIR)
    p.add_argument("--target", choices=TARGETS, default="cpu",
                   help="cuda: the GPU suite, with options of its own "
                        "(python -m benchmarks --target cuda --help; benchmarks/cuda.py)")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.rss_size = ["Q"], "Q"
    for name, allowed in ((args.sizes, SIZES), (args.workloads, WORKLOADS),
                          (args.systems, systems.SYSTEMS)):
        unknown = set(name) - set(allowed)
        if unknown:
            p.error(f"unknown {sorted(unknown)}; choose from {sorted(allowed)}")
    return args


def _cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor()


def _memory_gb():
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) / 2**20


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_meta(args):
    """Everything needed to compare this report with another one."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in PACKAGES},
        "env": env.snapshot(),
        "copy_bandwidth_gbs": {"1_thread": harness.copy_bandwidth(threads=1),
                               "2_threads": harness.copy_bandwidth(threads=2)},
        "protocol": (f"first call timed alone, {harness.WARMUPS} warm-ups, median of "
                     f">= {harness.MIN_RUNS} runs; every cell in a fresh subprocess; "
                     f"waited up to {args.idle_wait:.0f} s for an idle machine before each"),
        "rss_size": None if args.no_rss else args.rss_size, "nice": os.nice(0),
        "sizes": {k: SIZES[k] for k in args.sizes}, "argv": sys.argv[1:],
    }


def _progress(row):
    text = f"{row['workload']} {row['size']} {row['system']}: {row.get('status')}"
    if row.get("status") == "ok":
        text += (f"  fwd {row['fwd']['median_ms']:.2f} ms  grad {row['grad']['median_ms']:.2f}"
                 f" ms  compile {row['compile_s']:.2f} s  grad diff "
                 f"{row.get('grad_rel_diff_max', float('nan')):.1e}")
    print(text, file=sys.stderr, flush=True)


def measure_size(workload, size, names, skipped, idle_wait, retries):
    """Rows of one (workload, size) for every system; ``skipped`` maps system ->
    'not available' reason and is extended when a cell reports one."""
    ref = agreement.reference(workload, inputs_for(WORKLOADS[workload], size))
    rows = []
    for name in names:
        if name in skipped:
            row = {"system": name, "workload": workload,
                   "size": size_label(WORKLOADS[workload], size), "status": skipped[name]}
        else:
            row, arrays = _cleanest_cell(name, workload, size, idle_wait, retries)
            if row["status"].startswith("not available"):
                skipped[name] = row["status"]
            elif row["status"] == "ok":
                _check(row, arrays, ref)
        _progress(row)
        rows.append(row)
    return rows


def _cleanest_cell(name, workload, size, idle_wait, retries):
    """Run a cell, again (up to ``retries`` times) while other processes contended for
    the CPUs during it; returns the (row, arrays) with the least contention."""
    best = None
    for attempt in range(1, retries + 2):
        if idle_wait > 0:
            harness.wait_for_idle(idle_wait)
        row, arrays = _cell(name, workload, size)
        row["attempts"] = attempt
        load = row.get("other_load", 0.0)
        if best is None or load < best[0].get("other_load", 0.0):
            best = (row, arrays)
        if row.get("status") != "ok" or load <= CLEAN_LOAD:
            break
    return best


def _cell(name, workload, size):
    """One timing cell. halogrid's starts from an empty module cache, so its "compile s"
    is a cold compile; a second process then builds and calls it once more on the cache
    the first one filled: ``cached_compile_s`` is that cached start, computed like
    compile s (builder time + excess of the first calls over the steady medians)."""
    if name != "halogrid":
        return harness.run_cell(name, workload, size)
    with tempfile.TemporaryDirectory(prefix="hgcache_") as cache:
        env = {"HALOGRID_CACHE_DIR": cache}
        row, arrays = harness.run_cell(name, workload, size, env=env)
        if row.get("status") == "ok":
            start, _ = harness.run_cell(name, workload, size, mode="rss", env=env)
            if start.get("status") == "ok":
                row["cached_compile_s"] = harness.compile_seconds(
                    start["build_s"], [(start[f"{part}_first_s"], row[part]["median_ms"])
                                       for part in ("fwd", "grad")])
    return row, arrays


def _check(row, arrays, ref):
    try:
        row.update(agreement.compare(row, arrays, ref))
    except (KeyError, ValueError) as err:
        row["status"] = f"error: wrong result: {type(err).__name__}: {err}"


def attach_rss(rows, workload, rss_size):
    """Set ``rss_mb`` on the ok rows of ``workload``: the peak RSS of its cell at
    ``rss_size`` (reused when that size was timed, else an extra 'rss' cell)."""
    for name in sorted({r["system"] for r in rows if r.get("status") == "ok"}):
        mine = [r for r in rows if r["system"] == name and r.get("status") == "ok"]
        timed = [r for r in mine if r["size"] == size_label(WORKLOADS[workload], rss_size)]
        if timed:
            peak = timed[0]["peak_rss_mb"]
        else:
            cell, _ = harness.run_cell(name, workload, rss_size, mode="rss")
            peak = cell.get("peak_rss_mb") if cell.get("status") == "ok" else None
            if peak is None:
                print(f"{workload} {rss_size} {name} RSS cell: {cell.get('status')}",
                      file=sys.stderr, flush=True)
        for row in mine:
            row["rss_mb"] = peak


def _target(argv):
    """--target of ``argv``, the rest left unparsed (the GPU suite has its own options)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--target", choices=TARGETS, default="cpu")
    return pre.parse_known_args(argv)[0].target


def main(argv=None):
    if _target(argv) == "cuda":
        from benchmarks import cuda
        sys.exit(cuda.main(argv))
    args = parse(argv)
    if args.nice:
        os.nice(args.nice)
    meta = machine_meta(args)
    skipped = {n: r for n in args.systems if (r := systems.precheck(n))}
    rows = []
    for workload in args.workloads:
        mine = []
        sizes = args.sizes[:1] if WORKLOADS[workload].fixed_size else args.sizes
        for size in sizes:
            mine += measure_size(workload, size, args.systems, skipped,
                                 args.idle_wait, args.retries)
        if not args.no_rss:
            attach_rss(mine, workload, args.rss_size)
        rows += mine
    report.add_halogrid_ratios(rows)
    print(report.text_table(rows))
    paths = report.write(rows, meta, args.out)
    print("wrote " + ", ".join(paths))
