"""Python module source for the CPU: one numba.njit kernel and a plain bounds function.

The module defines:
  kernel(*inputs, *params, *output_extents, threads) -> tuple of output buffers
  bounds(*inputs, *params, *output_extents, threads) -> (reads, windows)
(threads: numba.get_num_threads(), passed in because reading it inside a kernel
makes Numba refuse to cache the kernel)
  PARALLEL: whether kernel has prange loops; then kernel_serial is the same code
  with range, which the caller runs for outputs under config.parallel_min_work()
  elements
  (a prange launch costs ~20-120 us on 2 cores, see config.py)
    reads:   ((lo, hi) per checked input read, in Lowered.bounds.input_reads order)
    windows: per output, per dimension (allocation min, allocation extent)
"""

from __future__ import annotations

from .lower import Lowered
from .names import storage_name
from .passes.storage import input_storage_name
from .pyemit import ExprEmitter, Namer, emit_stmt
from .loop_plan import THREADS
from .stmt import For, Stmt, children_of

HEADER = '''"""halogrid pipeline: generated code, do not edit."""
import math

import numpy as np
from numba import njit, prange

from halogrid.codegen.intrinsics import _hg_atomic_add, _hg_div, _hg_mod
'''


def arguments(lowered: Lowered, namer: Namer) -> list[str]:
    names = [namer.storage(input_storage_name(i)) for i in lowered.graph.inputs]
    names += [namer.param(p) for p in lowered.graph.params]
    for f in lowered.outputs:
        names += [namer.var(v) for v in lowered.bounds.out_extents[id(f)]]
    return names + [namer.var(THREADS)]  # numba.get_num_threads() of the caller


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _has_parallel_loop(s: Stmt) -> bool:
    if isinstance(s, For) and s.kind == "parallel":
        return True
    return any(_has_parallel_loop(c) for c in children_of(s))


def _kernel(lowered: Lowered, ex: ExprEmitter, args: str, name: str, parallel: bool,
            lines: list[str]) -> None:
    flags = ", parallel=True" if parallel else ""
    lines += [f"@njit(cache=True, error_model='numpy', nogil=True{flags})",
              f"def {name}({args}):"]
    emit_stmt(lowered.lets, ex, 1, lines)
    emit_stmt(lowered.body, ex, 1, lines)
    outputs = [ex.namer.storage(storage_name(f, i)) for f in lowered.outputs
               for i in range(len(f.value_types()))]
    lines += [f"    return {_tuple(outputs)}", "", ""]


def module_source(lowered: Lowered) -> str:
    """The whole generated module (see the module docstring for its interface)."""
    parallel = _has_parallel_loop(lowered.body)
    namer = Namer()
    ex = ExprEmitter(namer, "cpu")
    args = ", ".join(arguments(lowered, namer))
    lines = [HEADER, "", f"PARALLEL = {parallel}", ""]
    _kernel(lowered, ex, args, "kernel", parallel, lines)
    if parallel:  # compiled on its first call only: when a small problem runs
        ex.serial = True
        _kernel(lowered, ex, args, "kernel_serial", False, lines)
        ex.serial = False
    lines += ["", "", f"def bounds({args}):"]
    emit_stmt(lowered.lets, ex, 1, lines)
    reads = [f"({ex(iv.min)}, {ex(iv.max)})" for _, _, _, iv in lowered.bounds.input_reads]
    lines.append(f"    reads = {_tuple(reads)}")
    windows = []
    for f in lowered.outputs:
        region = lowered.bounds.regions[id(f)]
        dims = [f"({ex(region.min[d])}, {ex(region.extent[d])})" for d in range(f.dimensions())]
        windows.append(_tuple(dims))
    lines.append(f"    windows = {_tuple(windows)}")
    lines.append("    return reads, windows")
    return "\n".join(lines) + "\n"
