"""Python module source for the CPU: numba.njit kernels and a plain-Python driver.

The module defines:
  kernel_<k>(...)  one numba.njit(nogil=True) function per loop nest (outline.py);
                   a chunked kernel takes (chunk_lo, chunk_hi, ...) first and runs
                   its parallel loop over [chunk_lo, chunk_hi)
  run(*inputs, *params, *input_windows, *outputs_regions, threads, launch, check)
    input_windows: per input, per dimension: the min and max coordinate its array
             holds and the whole image's extent (what Extent nodes read);
    output_regions: per output, its origin per dimension, then its extents;
                   -> (tuple of output buffers, windows)
    threads: numba.get_num_threads() of the caller (the chunk count of private
             accumulators);
    launch(kernel, lo, hi, args): runs a chunked kernel over [lo, hi), split across
             the thread pool or not (launch.py); the driver never picks;
    check(reads): called once the bounds lets are known and before anything is
             allocated, with ((lo, hi) per checked input read, in
             Module.bounds.input_reads order);
    windows: per output, per dimension (allocation min, allocation extent).
  extern_<k>       not defined here: the runner of the pipeline's k-th extern stage,
                   a global that codegen/externs.py binds when the pipeline compiles.
The driver computes every bounds let and allocates every root buffer in Python
(microseconds per call), so kernels contain only loops: that is what Numba spends
its compile time on.
"""

from __future__ import annotations

from ....ir.expr import Extent, WindowEdge
from ....ir.simplify import simplify
from ...externs import runner_name
from ...target import THREADS
from ...lower import Module
from ...names import storage_name
from .outline import Kernel
from ...passes.storage import input_scalar, input_storage_name
from ...pyemit import ExprEmitter, Namer, emit_stmt
from ...stmt import Block, ExternCall, Fill, FoldPartials, IfThenElse, Launch

# identifiers of the driver's interface; Namer's names all start with a kind and "_"
CHUNK_LO, CHUNK_HI = "chunk_lo", "chunk_hi"
KERNEL = "kernel"  # the one function of a kernel module

HEADER = '''"""halogrid pipeline: generated code, do not edit."""
import math

import numpy as np
from numba import njit, prange

from halogrid.codegen.backends.cpu.intrinsics import _hg_atomic_add, _hg_div, _hg_mod
'''


def input_scalars(inp) -> list:
    """The driver's scalars of one input, per dimension: window min, max, whole extent."""
    return [input_scalar(e) for d in range(inp.dimensions())
            for e in (WindowEdge(inp, d, "min"), WindowEdge(inp, d, "max"), Extent(inp, d))]


def arguments(lowered: Module, namer: Namer) -> list[str]:
    names = [namer.storage(input_storage_name(i)) for i in lowered.graph.inputs]
    names += [namer.param(p) for p in lowered.graph.params]
    names += [namer.var(v) for i in lowered.graph.inputs for v in input_scalars(i)]
    for f in lowered.outputs:
        names += [namer.var(v) for v in lowered.bounds.out_mins[id(f)]]
        names += [namer.var(v) for v in lowered.bounds.out_extents[id(f)]]
    return names + [namer.var(THREADS)]


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _kernel_args(k: Kernel, ex: ExprEmitter) -> list[str]:
    return [ex(v) for v in k.scalars] + [ex.namer.storage(s) for s in k.storages]


def _emit_kernel(k: Kernel, name: str, ex: ExprEmitter, lines: list[str]) -> None:
    flags = ", parallel=True" if k.nested_parallel else ""
    if k.reassociate:  # float sums in any order: LLVM keeps vector partial sums
        flags += ", fastmath={'reassoc'}"
    args = _kernel_args(k, ex)
    if k.chunked is not None:
        args = [CHUNK_LO, CHUNK_HI] + args
    lines += [f"@njit(cache=True, error_model='numpy', nogil=True, no_cfunc_wrapper=True{flags})",
              f"def {name}({', '.join(args)}):"]
    ex.prange = k.nested_parallel  # a chunked kernel already runs on one thread
    if k.chunked is not None:
        lines.append(f"    for {ex(k.chunked.var)} in range({CHUNK_LO}, {CHUNK_HI}):")
    emit_stmt(k.body, ex, 1 if k.chunked is None else 2, lines)
    ex.prange = True
    lines += ["", ""]


def _emit_host(s, module: Module, names: list, ex: ExprEmitter, indent: int,
               lines: list[str]) -> None:
    """The driver's lines of host statement `s` (outline.py lists what they are)."""
    pad = "    " * indent
    match s:
        case Block():
            for c in s.stmts:
                _emit_host(c, module, names, ex, indent, lines)
            if not s.stmts:
                lines.append(f"{pad}pass")
        case Fill():
            lines.append(f"{pad}{ex.namer.storage(s.storage)}.fill({ex(s.value)})")
        case FoldPartials():
            lines.append(pad + _fold_source(s, ex))
        case ExternCall():
            lines.append(pad + _extern_source(s, ex))
        case IfThenElse():
            lines.append(f"{pad}if {ex(s.cond)}:")
            _emit_host(s.then_case, module, names, ex, indent + 1, lines)
            lines.append(f"{pad}else:")
            _emit_host(s.else_case or Block(()), module, names, ex, indent + 1, lines)
        case Launch():
            _emit_launch(module.kernels[s.kernel], names[s.kernel], ex, pad, lines)
        case _:
            emit_stmt(s, ex, indent, lines)


def _emit_launch(k: Kernel, name: str, ex: ExprEmitter, pad: str, lines: list[str]) -> None:
    if k.chunked is None:
        lines.append(f"{pad}{name}({', '.join(_kernel_args(k, ex))})")
        return
    loop = k.chunked
    stop = ex(simplify(loop.min + loop.extent))
    lines.append(f"{pad}launch({name}, {ex(loop.min)}, {stop}, {_tuple(_kernel_args(k, ex))})")


_UFUNCS = {"+": "np.add", "*": "np.multiply", "min": "np.minimum", "max": "np.maximum"}


def _fold_source(fold: FoldPartials, ex: ExprEmitter) -> str:
    """storage[window] = op(storage[window], op.reduce(partial[:, window'], axis=0))."""
    def window(starts) -> list[str]:
        return [f"{ex(i)}:{ex(simplify(i + e))}" for i, e in zip(starts, fold.extents)]

    ufunc = _UFUNCS[fold.op]
    dest = f"{ex.namer.storage(fold.storage)}[{', '.join(window(fold.index)) or '()'}]"
    partials = f"{ex.namer.storage(fold.partial)}[{', '.join([':'] + window(fold.start))}]"
    return f"{dest} = {ufunc}({dest}, {ufunc}.reduce({partials}, axis=0))"


def _extern_source(call: ExternCall, ex: ExprEmitter) -> str:
    """storage = extern_k(min, extent, call min, call extent, *(buffer, origin, box
    min, box extent)): the runner codegen/externs.py binds as the global extern_k."""
    def ints(exprs) -> str:
        return _tuple([ex(e) for e in exprs])
    args = [ints(call.min), ints(call.extent), ints(call.call_min), ints(call.call_extent)]
    args += [_tuple([ex.namer.storage(name)] + [ints(part) for part in parts])
             for name, *parts in call.inputs]
    return f"{ex.namer.storage(call.storage)} = {runner_name(call.stage)}({', '.join(args)})"


def _emit_driver(lowered: Module, names: list, ex: ExprEmitter, lines: list[str]) -> None:
    args = arguments(lowered, ex.namer) + ["launch", "check"]
    lines.append(f"def run({', '.join(args)}):")
    emit_stmt(lowered.lets, ex, 1, lines)
    reads = [f"({ex(iv.min)}, {ex(iv.max)})" for _, _, _, iv in lowered.bounds.input_reads]
    lines.append(f"    check({_tuple(reads)})")
    _emit_host(lowered.host, lowered, names, ex, 1, lines)
    windows = []
    for f in lowered.outputs:
        region = lowered.bounds.regions[id(f)]
        dims = [f"({ex(region.min[d])}, {ex(region.extent[d])})" for d in range(f.dimensions())]
        windows.append(_tuple(dims))
    outputs = [ex.namer.storage(storage_name(f, i)) for f in lowered.outputs
               for i in range(len(f.value_types()))]
    lines.append(f"    return {_tuple(outputs)}, {_tuple(windows)}")


def module_source(lowered: Module) -> str:
    """The generated code in one text (Pipeline.source()): the header, each kernel
    under the global name the driver calls it by, then the driver."""
    driver, kernels = module_files(lowered)
    bodies = [_body(src).replace(f"def {KERNEL}(", f"def {name}(", 1)
              for name, src in kernels.items()]
    return HEADER + "\n\n" + "\n\n".join(bodies + [_body(driver)])


def module_files(lowered: Module) -> tuple[str, dict[str, str]]:
    """(driver module source, {kernel global name: kernel module source}).

    Each kernel module defines one function, `kernel`, emitted with names of its own
    (a fresh Namer: parameters and locals numbered from 1 in order of first use), so a
    kernel that two pipelines share - the forward stages a gradient pipeline recomputes
    - has the same text in both and compiles once (cache.py stores it by content). The
    driver module has no kernels: cache.py binds each global name to its module's
    `kernel` on import, and `run` looks them up as globals at call time.
    """
    namer = Namer()
    ex = ExprEmitter(namer, "cpu")
    arguments(lowered, namer)  # the driver's argument names come first
    names = [namer.name("kernel", f"{k.writes}#k{i}") for i, k in enumerate(lowered.kernels)]
    sources = {}
    for k, name in zip(lowered.kernels, names):
        lines = [HEADER, ""]
        _emit_kernel(k, KERNEL, ExprEmitter(Namer(), "cpu"), lines)
        sources[name] = "\n".join(lines).rstrip() + "\n"
    lines = [HEADER, ""]
    _emit_driver(lowered, names, ex, lines)
    return "\n".join(lines) + "\n", sources


def _body(module: str) -> str:
    """A generated module without its header."""
    return module[len(HEADER):].strip() + "\n"
