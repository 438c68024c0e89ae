"""Compile a freshly generated module's kernels in two processes at once.

Why: Numba compiles one function at a time under a process-wide lock, 0.05-1 s per
kernel, so a gradient pipeline's first call spends seconds compiling while the other
core idles. Kernels are independent functions, and the generated module caches them
on disk (`cache=True`), so another process can compile some of them for this one.

How (`precompile`, before the first real run of a module this process generated):
  1. a dry run of the driver with recording stand-ins for the kernels gives each
     kernel's argument types (the driver's control flow depends on shapes only);
  2. the kernels are split into two groups of about equal source size; a forked child
     compiles one group into Numba's cache while this process compiles the other;
  3. the real run then loads the child's kernels from the cache on their first call.
Invariants: results never depend on the child. A kernel it failed to compile (or
that is missing from the cache for any reason) compiles on first call as usual; the
child exits with os._exit, running no atexit hooks or buffered writes of the parent.
The fork happens while this thread holds Numba's compiler lock, so no other thread is
inside LLVM at that moment. Used only where os.fork exists, with more than one CPU the
process may run on, and unless HALOGRID_COMPILE_JOBS=1; otherwise this process compiles
every kernel here, before the run, all the same (with Numba's JIT on). Either way the
kernels compiled / total are reported on stderr when the compile is long (progress.py).
"""

from __future__ import annotations

import inspect
import os
import time
import types

import numba
from numba.core.compiler_lock import global_compiler_lock

from .... import config
from ... import externs, progress
from . import launch


def available() -> bool:
    """Whether `precompile` can run: Numba's JIT is on (kernels are dispatchers)."""
    return not numba.config.DISABLE_JIT


def _helper_allowed() -> bool:
    """Whether a helper process may compile half of the kernels (see the module doc)."""
    return hasattr(os, "fork") and _usable_cpus() > 1 and config.compile_jobs() > 1


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class _Recorder:
    """Stands in for a kernel during the dry run: records argument types only."""

    def __init__(self, kernel):
        self.kernel, self.signatures = kernel, set()

    def __call__(self, *args) -> None:
        self.signatures.add(tuple(numba.typeof(a) for a in args))


def _dispatchers(module) -> dict:
    """{global name: Numba dispatcher} of a driver module's kernels (under profile() a
    kernel global is a profiler.Timed around its dispatcher)."""
    return {n: getattr(k, "kernel", k) for n, k in vars(module).items()
            if n.startswith("kernel_")}


def signatures(module, args: tuple, check) -> list[tuple]:
    """[(kernel, argument types)] of one run of module.run(*args), not yet compiled.
    A kernel bound to several globals (two identical loop nests) is listed once.
    The dry run is a copy of `run` over globals of its own: the module's stay as they
    are, so other threads calling the pipeline meanwhile run the real kernels."""
    dispatchers = _dispatchers(module)
    recorders = {id(d): _Recorder(d) for d in dispatchers.values()}
    dry_globals = dict(vars(module))
    dry_globals.update({n: recorders[id(d)] for n, d in dispatchers.items()})
    stages = externs.runners(module)  # no user code runs in a dry run
    dry_globals.update({n: r.dry for n, r in stages.items()})
    types.FunctionType(module.run.__code__, dry_globals)(*args, launch.serial, check)
    return [(r.kernel, sig) for r in recorders.values() for sig in r.signatures
            if sig not in r.kernel.overloads]


def _split(jobs: list) -> tuple[list, list]:
    """Two groups of about equal total source length (a proxy for compile time)."""
    sized = sorted(((len(inspect.getsource(job[0].py_func)), i, job)
                    for i, job in enumerate(jobs)), reverse=True)
    mine, theirs, load = [], [], [0, 0]
    for size, _, job in sized:
        side = 0 if load[0] <= load[1] else 1
        (mine, theirs)[side].append(job)
        load[side] += size
    return mine, theirs


def precompile(module, args: tuple, check) -> None:
    """Compile the kernels one run of `module.run(*args)` calls (see the module doc),
    reporting kernels compiled / total (progress.py)."""
    jobs = signatures(module, args, check)
    if not jobs:
        return
    mine, theirs = _split(jobs) if len(jobs) > 1 and _helper_allowed() else (jobs, [])
    names = {id(d): n for n, d in _dispatchers(module).items()}
    report = progress.CompileProgress(len(jobs))
    pid = _fork_helper(theirs, names) if theirs else None
    try:
        for kernel, sig in mine:
            _compile(kernel, sig, names, report)
    finally:
        if pid is not None:
            os.waitpid(pid, 0)
            report.advance(len(theirs))
        report.close()


def _compile(kernel, sig, names: dict, report) -> None:
    """Compile one kernel; its time goes to HALOGRID_DEBUG=1 (from either process)."""
    start = time.perf_counter()
    kernel.compile(sig)
    config.trace(1, f"compiled {names.get(id(kernel), 'kernel')} in "
                    f"{time.perf_counter() - start:.2f} s (pid {os.getpid()})")
    if report is not None:
        report.advance()


def _fork_helper(jobs: list, names: dict) -> int:
    """Fork the child that compiles `jobs` into Numba's cache; returns its pid."""
    with global_compiler_lock:
        pid = os.fork()
        if pid == 0:  # the child: compile into the on-disk cache, then leave
            status = 1
            try:
                for kernel, sig in jobs:
                    _compile(kernel, sig, names, None)
                status = 0
            finally:
                os._exit(status)
    return pid
