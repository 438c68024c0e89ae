"""The host half of a generated module, shared by the backends: the driver `run`
and the layout of kernel module files.

The driver: run(*inputs, *params, *input_windows, *output_regions, threads, *hooks)
    input_windows: per input, per dimension: the min and max coordinate its array
             holds and the whole image's extent (what Extent nodes read);
    output_regions: per output, its origin per dimension, then its extents;
    threads: the chunk count of private accumulators (THREADS);
    hooks:   the backend's run-time functions (Backend.hooks), `check` last: called
             once the bounds lets are known and before anything is allocated, with
             ((lo, hi) per checked input read, in Module.bounds.input_reads order);
  -> (tuple of output buffers, windows: per output, per dimension (allocation min,
     allocation extent)).
It computes every bounds let in Python (microseconds per call) and runs the host
statements of the Module (lower.py); kernels contain only loops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ..ir.expr import Extent, WindowEdge
from ..ir.simplify import simplify
from .externs import runner_name
from .names import storage_name
from .passes.storage import input_scalar, input_storage_name
from .pyemit import ExprEmitter, Namer, emit_stmt
from .stmt import Block, ExternCall, Fill, FoldPartials, For, IfThenElse, Launch
from .target import THREADS

KERNEL = "kernel"  # the one function of a kernel module


def input_scalars(inp) -> list:
    """The driver's scalars of one input, per dimension: window min, max, whole extent."""
    return [input_scalar(e) for d in range(inp.dimensions())
            for e in (WindowEdge(inp, d, "min"), WindowEdge(inp, d, "max"), Extent(inp, d))]


def arguments(lowered, namer: Namer) -> list[str]:
    names = [namer.storage(input_storage_name(i)) for i in lowered.graph.inputs]
    names += [namer.param(p) for p in lowered.graph.params]
    names += [namer.var(v) for i in lowered.graph.inputs for v in input_scalars(i)]
    for f in lowered.outputs:
        names += [namer.var(v) for v in lowered.bounds.out_mins[id(f)]]
        names += [namer.var(v) for v in lowered.bounds.out_extents[id(f)]]
    return names + [namer.var(THREADS)]


def tuple_text(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def kernel_args(k, ex: ExprEmitter) -> list[str]:
    return [ex(v) for v in k.scalars] + [ex.namer.storage(s) for s in k.storages]


class Backend(ABC):
    """What a backend supplies: its module header, its expression/statement printer
    class, its driver hooks, and these host statement printers."""

    header = ""
    driver_header = None   # the driver module's header where it differs from kernels'
    emitter = ExprEmitter
    target = "cpu"
    hooks: tuple = ("check",)

    @abstractmethod
    def emit_kernel(self, k, name: str, ex: ExprEmitter, lines: list[str]) -> None:
        """Append the lines of kernel `k`, defined as `name`."""

    @abstractmethod
    def fill(self, s: Fill, ex: ExprEmitter) -> str:
        """The driver line of a Fill."""

    @abstractmethod
    def fold(self, s: FoldPartials, ex: ExprEmitter) -> str:
        """The driver line of a host FoldPartials."""

    @abstractmethod
    def launch(self, k, name: str, ex: ExprEmitter) -> str:
        """The driver line that runs kernel `k` (global `name`)."""

    # -- shared
    def module_files(self, lowered) -> tuple[str, dict[str, str]]:
        """(driver module source, {kernel global name: kernel module source}).

        Each kernel module defines one function, `kernel`, emitted with names of its
        own (a fresh Namer: parameters and locals numbered from 1 in order of first
        use), so a kernel that two pipelines share - the forward stages a gradient
        pipeline recomputes - has the same text in both and compiles once (cache.py
        stores it by content). The driver module has no kernels: cache.py binds each
        global name to its module's `kernel` on import, and `run` looks them up as
        globals at call time."""
        ex = self.emitter(Namer(), self.target)
        arguments(lowered, ex.namer)  # the driver's argument names come first
        names = [ex.namer.name("kernel", f"{k.writes}#k{i}")
                 for i, k in enumerate(lowered.kernels)]
        sources = {}
        for k, name in zip(lowered.kernels, names):
            lines = [self.header, ""]
            self.emit_kernel(k, KERNEL, self.emitter(Namer(), self.target), lines)
            sources[name] = "\n".join(lines).rstrip() + "\n"
        lines = [self.driver_header or self.header, ""]
        self.emit_driver(lowered, names, ex, lines)
        return "\n".join(lines) + "\n", sources

    def module_source(self, lowered) -> str:
        """The generated code in one text (Pipeline.source()): the header, each kernel
        under the global name the driver calls it by, then the driver."""
        driver, kernels = self.module_files(lowered)
        bodies = [self._body(src, self.header).replace(f"def {KERNEL}(", f"def {name}(", 1)
                  for name, src in kernels.items()]
        if self.driver_header:
            return (self.header + "\n\n" + "\n\n".join(bodies) + "\n\n# -- host\n"
                    + driver)
        return self.header + "\n\n" + "\n\n".join(bodies + [self._body(driver, self.header)])

    @staticmethod
    def _body(module: str, header: str) -> str:
        return module[len(header):].strip() + "\n"

    def emit_driver(self, lowered, names: list, ex: ExprEmitter, lines: list[str]) -> None:
        args = arguments(lowered, ex.namer) + list(self.hooks)
        lines.append(f"def run({', '.join(args)}):")
        emit_stmt(lowered.lets, ex, 1, lines)
        reads = [f"({ex(iv.min)}, {ex(iv.max)})" for _, _, _, iv in lowered.bounds.input_reads]
        lines.append(f"    check({tuple_text(reads)})")
        self.emit_host(lowered.host, lowered, names, ex, 1, lines)
        windows = []
        for f in lowered.outputs:
            region = lowered.bounds.regions[id(f)]
            dims = [f"({ex(region.min[d])}, {ex(region.extent[d])})"
                    for d in range(f.dimensions())]
            windows.append(tuple_text(dims))
        outputs = [ex.namer.storage(storage_name(f, i)) for f in lowered.outputs
                   for i in range(len(f.value_types()))]
        lines.append(f"    return {tuple_text(outputs)}, {tuple_text(windows)}")

    def emit_host(self, s, lowered, names: list, ex: ExprEmitter, indent: int,
                  lines: list[str]) -> None:
        """The driver's lines of host statement `s` (the outliners list what they are)."""
        pad = "    " * indent
        match s:
            case Block():
                for c in s.stmts:
                    self.emit_host(c, lowered, names, ex, indent, lines)
                if not s.stmts:
                    lines.append(f"{pad}pass")
            case Fill():
                lines.append(pad + self.fill(s, ex))
            case FoldPartials():
                lines.append(pad + self.fold(s, ex))
            case ExternCall():
                lines.append(pad + extern_source(s, ex))
            case IfThenElse():
                lines.append(f"{pad}if {ex(s.cond)}:")
                self.emit_host(s.then_case, lowered, names, ex, indent + 1, lines)
                lines.append(f"{pad}else:")
                self.emit_host(s.else_case or Block(()), lowered, names, ex, indent + 1, lines)
            case For():
                stop = simplify(s.min + s.extent)
                lines.append(f"{pad}for {ex(s.var)} in range({ex(s.min)}, {ex(stop)}):")
                self.emit_host(s.body, lowered, names, ex, indent + 1, lines)
            case Launch():
                lines.append(pad + self.launch(lowered.kernels[s.kernel], names[s.kernel], ex))
            case _:
                emit_stmt(s, ex, indent, lines)


def extern_source(call: ExternCall, ex: ExprEmitter) -> str:
    """storage = extern_k(min, extent, call min, call extent, *(buffer, origin, box
    min, box extent)): the runner codegen/externs.py binds as the global extern_k."""
    def ints(exprs) -> str:
        return tuple_text([ex(e) for e in exprs])
    args = [ints(call.min), ints(call.extent), ints(call.call_min), ints(call.call_extent)]
    args += [tuple_text([ex.namer.storage(name)] + [ints(part) for part in parts])
             for name, *parts in call.inputs]
    return f"{ex.namer.storage(call.storage)} = {runner_name(call.stage)}({', '.join(args)})"
