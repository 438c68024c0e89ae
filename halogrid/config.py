"""Every environment switch of halogrid, read in one place, and the trace() logger.

HALOGRID_DEBUG    0..4: 1 compile timings and cache misses, 2 loop nests,
                  3 IR after each pass, 4 generated source.
HALOGRID_CHECK    1: verify IR between passes (always on under pytest).
HALOGRID_DUMP_DIR write what the debug level prints into files there.
HALOGRID_CACHE_DIR where compiled modules live (default: the user cache dir).
HALOGRID_PARALLEL_MIN_WORK  outputs with fewer elements run serially (default 32768).
HALOGRID_COMPILE_JOBS processes compiling a new pipeline's kernels at once: 2 (default)
                  forks one helper on its first call (codegen/compile_jobs.py), 1 none.
HALOGRID_PROGRESS  compile progress on stderr (codegen/progress.py): 'auto' (default: a
                  bar on a terminal, else log lines only once a compile has run for
                  HALOGRID_PROGRESS_AFTER seconds, default 2), '1' always, '0' never.
HALOGRID_THREADING numba threading layer for parallel loops nested in serial ones, the
                  only ones still compiled as prange (default 'omp' with
                  OMP_WAIT_POLICY=PASSIVE, else 'workqueue'); a NUMBA_THREADING_LAYER
                  the user set wins. Top-level parallel loops run on halogrid's own
                  thread pool (codegen/launch.py).

Threading is chosen, not inherited: measured on a 2-vCPU machine, a prange launch
cost ~4 us (omp, active wait), 16-30 us (omp, passive wait), 70-120 us (workqueue);
omp's default active wait keeps idle threads spinning between kernels and steals
the core from the next serial kernel, so the passive policy is set. Small
pipelines run serially anyway (HALOGRID_PARALLEL_MIN_WORK).
"""

from __future__ import annotations

import os
import sys


def choose_threading_layer() -> str:
    """Set numba's threading layer (and OpenMP's wait policy) before numba starts one."""
    layer = os.environ.get("NUMBA_THREADING_LAYER") or os.environ.get(
        "HALOGRID_THREADING", "omp")
    if layer == "omp":
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("NUMBA_THREADING_LAYER", layer)
    if "numba" in sys.modules:  # imported before halogrid: its config is already read
        import numba
        if numba.config.THREADING_LAYER == "default":
            numba.config.THREADING_LAYER = layer
    return layer


choose_threading_layer()


def debug_level() -> int:
    try:
        return int(os.environ.get("HALOGRID_DEBUG", "0"))
    except ValueError:
        return 0


def check_enabled() -> bool:
    return os.environ.get("HALOGRID_CHECK", "0") not in ("", "0") or "pytest" in sys.modules


def parallel_min_work() -> int:
    """HALOGRID_PARALLEL_MIN_WORK: outputs with fewer elements run every kernel serially."""
    try:
        return int(os.environ.get("HALOGRID_PARALLEL_MIN_WORK", "32768"))
    except ValueError:
        return 32768


def compile_jobs() -> int:
    """HALOGRID_COMPILE_JOBS: 1 compiles every kernel in this process (see the doc)."""
    try:
        return int(os.environ.get("HALOGRID_COMPILE_JOBS", "2"))
    except ValueError:
        return 2


def progress_mode() -> str:
    """HALOGRID_PROGRESS: 'auto', 'on' (1/on/yes/true) or 'off' (0/off/no/false)."""
    value = os.environ.get("HALOGRID_PROGRESS", "auto").strip().lower()
    if value in ("1", "on", "yes", "true"):
        return "on"
    if value in ("0", "off", "no", "false"):
        return "off"
    return "auto"


def progress_after() -> float:
    """HALOGRID_PROGRESS_AFTER: seconds of compiling before 'auto' mode logs progress."""
    try:
        return float(os.environ.get("HALOGRID_PROGRESS_AFTER", "2"))
    except ValueError:
        return 2.0


def dump_dir() -> str | None:
    return os.environ.get("HALOGRID_DUMP_DIR") or None


def cache_dir() -> str:
    explicit = os.environ.get("HALOGRID_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "halogrid")


def trace(level: int, title: str, body: object = "") -> None:
    """Print (and optionally dump) `body` under `title` when HALOGRID_DEBUG >= level.
    A callable body is called only then (rendering a loop nest costs milliseconds)."""
    if debug_level() < level:
        return
    if callable(body):
        body = body()
    text = f"[halogrid] {title}" + (f"\n{body}" if body != "" else "")
    print(text, file=sys.stderr)
    folder = dump_dir()
    if folder:
        os.makedirs(folder, exist_ok=True)
        safe = "".join(c if c.isalnum() else "_" for c in title)[:80]
        with open(os.path.join(folder, safe + ".txt"), "a") as out:
            out.write(text + "\n")
