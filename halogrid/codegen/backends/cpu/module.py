"""Python module source for the CPU: numba.njit kernels and a plain-Python driver
(codegen/host.py documents the driver).

The module defines:
  kernel_<k>(...)  one numba.njit(nogil=True) function per loop nest (outline.py);
                   a chunked kernel takes (chunk_lo, chunk_hi, ...) first and runs
                   its parallel loop over [chunk_lo, chunk_hi)
  run(..., threads, launch, check)
    threads: numba.get_num_threads() of the caller (the chunk count of private
             accumulators);
    launch(kernel, lo, hi, args): runs a chunked kernel over [lo, hi), split across
             the thread pool or not (launch.py); the driver never picks;
  extern_<k>       not defined here: the runner of the pipeline's k-th extern stage,
                   a global that codegen/externs.py binds when the pipeline compiles.
"""

from __future__ import annotations

from ....ir.simplify import simplify
from ...host import Backend, kernel_args, tuple_text
from ...pyemit import ExprEmitter, emit_stmt
from ...stmt import Fill, FoldPartials
from .outline import Kernel

# identifiers of the driver's interface; Namer's names all start with a kind and "_"
CHUNK_LO, CHUNK_HI = "chunk_lo", "chunk_hi"

HEADER = '''"""halogrid pipeline: generated code, do not edit."""
import math

import numpy as np
from numba import njit, prange

from halogrid.codegen.backends.cpu.intrinsics import _hg_atomic_add, _hg_div, _hg_mod
'''

_UFUNCS = {"+": "np.add", "*": "np.multiply", "min": "np.minimum", "max": "np.maximum"}


class CpuBackend(Backend):
    header = HEADER
    hooks = ("launch", "check")

    def emit_kernel(self, k: Kernel, name: str, ex: ExprEmitter, lines: list[str]) -> None:
        flags = ", parallel=True" if k.nested_parallel else ""
        if k.reassociate:  # float sums in any order: LLVM keeps vector partial sums
            flags += ", fastmath={'reassoc'}"
        args = kernel_args(k, ex)
        if k.chunked is not None:
            args = [CHUNK_LO, CHUNK_HI] + args
        lines += ["@njit(cache=True, error_model='numpy', nogil=True, "
                  f"no_cfunc_wrapper=True{flags})", f"def {name}({', '.join(args)}):"]
        ex.prange = k.nested_parallel  # a chunked kernel already runs on one thread
        if k.chunked is not None:
            lines.append(f"    for {ex(k.chunked.var)} in range({CHUNK_LO}, {CHUNK_HI}):")
        emit_stmt(k.body, ex, 1 if k.chunked is None else 2, lines)
        ex.prange = True
        lines += ["", ""]

    def fill(self, s: Fill, ex: ExprEmitter) -> str:
        return f"{ex.namer.storage(s.storage)}.fill({ex(s.value)})"

    def fold(self, fold: FoldPartials, ex: ExprEmitter) -> str:
        """storage[window] = op(storage[window], op.reduce(partial[:, window'], axis=0))."""
        def window(starts) -> list[str]:
            return [f"{ex(i)}:{ex(simplify(i + e))}" for i, e in zip(starts, fold.extents)]

        ufunc = _UFUNCS[fold.op]
        dest = f"{ex.namer.storage(fold.storage)}[{', '.join(window(fold.index)) or '()'}]"
        partials = f"{ex.namer.storage(fold.partial)}[{', '.join([':'] + window(fold.start))}]"
        return f"{dest} = {ufunc}({dest}, {ufunc}.reduce({partials}, axis=0))"

    def launch(self, k: Kernel, name: str, ex: ExprEmitter) -> str:
        if k.chunked is None:
            return f"{name}({', '.join(kernel_args(k, ex))})"
        loop = k.chunked
        stop = ex(simplify(loop.min + loop.extent))
        return f"launch({name}, {ex(loop.min)}, {stop}, {tuple_text(kernel_args(k, ex))})"


BACKEND = CpuBackend()
module_files = BACKEND.module_files
module_source = BACKEND.module_source
