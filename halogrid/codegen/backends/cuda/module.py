"""Python module source for CUDA: numba-cuda kernels and a plain-Python host driver
(codegen/host.py documents the driver).

The module defines:
  kernel_<k>(...)  one `cuda.jit(cache=True)` kernel per CudaKernel (outline.py); its
                   loops of kind block.<a> / thread.<a> stride over blockIdx.<a> /
                   threadIdx.<a>, a grid.x loop over every thread of the grid;
  run(..., threads, launch, alloc, fill, check)
    launch(kernel, grid, block, args): runs a kernel (runtime.py): `grid` holds the
             block loops' extents (the runtime caps them; the loops stride), `block`
             the threads per axis;
    alloc(storage, shape, dtype): a device buffer (runtime.py reuses intermediate
             buffers across calls);
    fill(buffer, value): a device fill;
    owners(grid, block, per_thread): the blocks (or threads) a launch runs, capped as
             launch caps them: the slices of a scratch buffer (scratch.py).
Allocations inside a kernel are shared memory at block level (inside block loops,
outside thread loops) and local memory elsewhere, of a constant size: the largest
the allocation can be (a split tail or a clamp makes it smaller, never larger).
"""

from __future__ import annotations

from .... import errors
from ....ir.expr import Intrinsic
from ....ir.simplify import simplify
from ...host import Backend, kernel_args, tuple_text
from ...names import storage_name
from ...pyemit import ExprEmitter, emit_stmt, type_ctor
from ...stmt import Allocate, AtomicAdd, Fill, FoldPartials, For, Stmt
from .nodes import Barrier, OnFirstThread, Owner, SharedAllocate, ThreadRank
from .bounds import upper_const
from .outline import CudaKernel

HEADER = '''"""halogrid pipeline: generated CUDA code, do not edit."""
import math

import numpy as np
from numba import cuda

from halogrid.codegen.backends.cuda.intrinsics import (
    _hg_ceil32, _hg_ceil64, _hg_cos, _hg_div, _hg_exp, _hg_floor32, _hg_floor64, _hg_log,
    _hg_mod, _hg_pow, _hg_round32, _hg_round64, _hg_sin, _hg_sqrt, _hg_tan)
'''

# the driver runs its bounds lets on the host: the same helper names, host versions
DRIVER_HEADER = '''"""halogrid pipeline: generated CUDA host code, do not edit."""
import math

import numpy as np

from halogrid.codegen.backends.cuda.host_intrinsics import (
    _hg_ceil32, _hg_ceil64, _hg_cos, _hg_div, _hg_exp, _hg_floor32, _hg_floor64, _hg_log,
    _hg_mod, _hg_pow, _hg_round32, _hg_round64, _hg_sin, _hg_sqrt, _hg_tan)
'''

_STRIDES = {"block": ("cuda.blockIdx.{a}", "cuda.gridDim.{a}"),
            "thread": ("cuda.threadIdx.{a}", "cuda.blockDim.{a}"),
            "grid": ("cuda.grid(1)", "cuda.gridsize(1)"),
            "rank": ("{rank}", "{ranks}"),
            "spread": ("cuda.blockIdx.{a} * cuda.blockDim.{a} + cuda.threadIdx.{a}",
                       "cuda.gridDim.{a} * cuda.blockDim.{a}")}
_ROUNDING = ("floor", "ceil", "round")
_IEEE_MATH = ("exp", "log", "sqrt", "sin", "cos", "tan", "pow")


class CudaEmitter(ExprEmitter):
    """The printer's CUDA hooks: gpu loops, shared/local arrays, atomics, barriers,
    math through CUDA's own spellings (`level` is where the statement runs)."""

    def __init__(self, namer, target: str = "cuda"):
        super().__init__(namer, "cuda")
        self.level = "kernel"   # kernel -> block -> thread
        self.rank = self.ranks = ""  # the identifiers of the last ThreadRank

    def loop(self, s: For, indent: int, lines: list[str]) -> None:
        group, _, axis = s.kind.partition(".")
        if group not in _STRIDES:
            return super().loop(s, indent, lines)
        start, step = (t.format(a=axis, rank=self.rank, ranks=self.ranks)
                       for t in _STRIDES[group])
        pad = "    " * indent
        stop = self(simplify(s.min + s.extent))
        lines.append(f"{pad}for {self(s.var)} in range({self(s.min)} + {start}, {stop}, {step}):")
        outer, self.level = self.level, "thread" if group != "block" else "block"
        emit_stmt(s.body, self, indent + 1, lines)
        self.level = outer

    def atomic_add(self, s: AtomicAdd) -> str:
        """numba-cuda lowers an atomic on a 1-D array only with a plain integer index
        (a 1-tuple: "Cannot cast UniTuple(int64 x 1) to int64"); a 0-D buffer is one
        element, index 0."""
        if len(s.index) <= 1:
            index = self(s.index[0]) if s.index else "0"
        else:
            index = "(" + ", ".join(self(i) for i in s.index) + ")"
        return f"cuda.atomic.add({self.namer.storage(s.storage)}, {index}, {self(s.value)})"

    def allocate(self, s: Allocate) -> str:
        shape = []
        for e in s.extents:
            bound = upper_const(e)
            if bound is None:
                raise errors.schedule_error(
                    s.storage.split(".")[0], "compute_at (target='cuda')",
                    f"a buffer inside a CUDA kernel needs a constant size, and its extent "
                    f"{e} has no constant bound",
                    "Split the consumer's loops by constant factors (gpu_tile) and compute "
                    "the producer at a tile loop, or compute_root() the producer")
            shape.append(str(max(bound, 1)))
        space = "shared" if self.level == "block" else "local"
        shape_text = tuple_text(shape) if shape else "(1,)"
        return f"{self.namer.storage(s.storage)} = cuda.{space}.array({shape_text}, " \
               f"{type_ctor(s.type)})"

    def other(self, s: Stmt, indent: int, lines: list[str]) -> None:
        pad = "    " * indent
        if isinstance(s, Barrier):
            lines.append(f"{pad}cuda.syncthreads()")
        elif isinstance(s, ThreadRank):
            self.rank, self.ranks = self(s.rank), self(s.ranks)
            lines.append(f"{pad}{self.ranks} = cuda.blockDim.x * cuda.blockDim.y * "
                         "cuda.blockDim.z")
            lines.append(f"{pad}{self.rank} = cuda.threadIdx.x + cuda.blockDim.x * "
                         "(cuda.threadIdx.y + cuda.blockDim.y * cuda.threadIdx.z)")
        elif isinstance(s, SharedAllocate):
            lines.append(f"{pad}{self.namer.storage(s.storage)} = cuda.shared.array("
                         f"({s.cells},), {type_ctor(s.type)})")
        elif isinstance(s, Owner):
            blocks = "cuda.blockIdx.x + cuda.gridDim.x * (cuda.blockIdx.y + cuda.gridDim.y * " \
                     "cuda.blockIdx.z)"
            if s.per_thread:
                blocks = f"({blocks}) * (cuda.blockDim.x * cuda.blockDim.y * cuda.blockDim.z)" \
                         " + cuda.threadIdx.x + cuda.blockDim.x * (cuda.threadIdx.y + " \
                         "cuda.blockDim.y * cuda.threadIdx.z)"
            lines.append(f"{pad}{self(s.var)} = {blocks}")
        elif isinstance(s, OnFirstThread):
            lines.append(f"{pad}if cuda.threadIdx.x == 0 and cuda.threadIdx.y == 0 and "
                         "cuda.threadIdx.z == 0:")
            emit_stmt(s.body, self, indent + 1, lines)
        else:
            super().other(s, indent, lines)

    def _intrinsic(self, e: Intrinsic) -> str:
        if e.name in _ROUNDING:  # Numba's math.floor returns an int: keep the float type
            return f"_hg_{e.name}{e.type.bits}({self(e.args[0])})"
        if e.name in _IEEE_MATH:
            return f"_hg_{e.name}({', '.join(self(a) for a in e.args)})"
        return super()._intrinsic(e)


class CudaBackend(Backend):
    header = HEADER
    driver_header = DRIVER_HEADER
    emitter = CudaEmitter
    target = "cuda"
    hooks = ("launch", "alloc", "fill", "owners", "check")

    def emit_kernel(self, k: CudaKernel, name: str, ex: ExprEmitter, lines: list[str]) -> None:
        lines += ["@cuda.jit(cache=True)", f"def {name}({', '.join(kernel_args(k, ex))}):"]
        emit_stmt(k.body, ex, 1, lines)
        lines += ["", ""]

    def fill(self, s: Fill, ex: ExprEmitter) -> str:
        return f"fill({ex.namer.storage(s.storage)}, {ex(s.value)})"

    def fold(self, s: FoldPartials, ex: ExprEmitter) -> str:
        raise errors.InternalError("the CUDA outliner turns every fold into a kernel")

    def launch(self, k: CudaKernel, name: str, ex: ExprEmitter) -> str:
        """launch(kernel, grid, block, args), after the scratch buffers it takes:
        alloc(..., (owners(grid, block, per thread), cells per owner), ...)."""
        args = tuple_text(kernel_args(k, ex))
        if k.flat_threads:
            count = ex(k.flat_count)
            grid = f"(({count} + {k.flat_threads - 1}) // {k.flat_threads},)"
            block = f"({k.flat_threads},)"
        else:
            grid = tuple_text([ex(e) for e in k.grid]) if k.grid else "(1,)"
            block = tuple_text([str(t) for t in k.block]) if k.block else "(1,)"
        lines = []
        for sc in k.scratches:
            buf = ex.namer.storage(sc.storage)
            lines.append(f"{buf} = alloc({buf!r}, (owners({grid}, {block}, {sc.per_thread}), "
                         f"{ex(sc.cells)}), {type_ctor(sc.type)}, False)")
        return "; ".join(lines + [f"launch({name}, {grid}, {block}, {args})"])

    def allocate_host(self, s: Allocate, lowered, ex: ExprEmitter) -> str:
        """buffer = alloc(its identifier, shape, dtype, is an output): the identifier,
        not the storage name, so no user string reaches the source."""
        shape = ", ".join(f"max({ex(e)}, 0)" for e in s.extents) if s.extents else "1"
        storage = ex.namer.storage(s.storage)
        output = any(s.storage == storage_name(f, i) for f in lowered.outputs
                     for i in range(len(f.value_types())))
        return f"{storage} = alloc({storage!r}, ({shape},), {type_ctor(s.type)}, {output})"

    def emit_host(self, s, lowered, names, ex, indent, lines) -> None:
        if isinstance(s, Allocate):
            lines.append("    " * indent + self.allocate_host(s, lowered, ex))
            return
        super().emit_host(s, lowered, names, ex, indent, lines)


BACKEND = CudaBackend()
module_files = BACKEND.module_files
module_source = BACKEND.module_source
