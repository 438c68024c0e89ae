"""Split a lowered body into compiled kernels and the plain-Python driver that runs them.

Requires: a Lowered body (allocations, lets and loop nests at the top level).
Guarantees: `outline(body, ctx)` returns the driver's statements in program order:
  Let / Allocate   run by the driver in Python (a Let here reads no buffer);
  Fill             a constant stored over a whole allocation, numpy's fill();
  FoldPartials     an rfactor merge, one NumPy reduction over the partials' first axis;
  ExternCall       an extern stage: the user's function, run by codegen/externs.py;
  IfThenElse       a top-level branch around parallel loops whose condition reads
                   no buffer (others are serial code like any loop), of such statements;
  Launch(k)        a call of ctx.kernels[k], one compiled function; every Load, Store
                   and loop runs in one.
A Kernel with `chunked` set is a top-level parallel For: the launcher runs its body
over chunks [lo, hi) of the loop's range on the thread pool. Other Kernels are a
maximal run of serial statements, called once (with prange only where a parallel
loop is nested in a serial one). A Kernel's arguments are the Vars, Params and
storages it reads or writes without binding or allocating them, in first-use order.

Why: one njit function per loop nest compiles in a fraction of the time of one big
parallel=True function (no parfor passes, no serial twin), and Lets hoisted out of a
serial run are safe: reading no buffer, their value cannot depend on its stores.
A top-level Let that reads a buffer (the values of a 0-D tuple Func, a load licm.py
moved out of a serial loop), or a Var such a Let defines, stays in the run of the
statements that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .... import errors
from ....ir.expr import Var
from ....ir.visit import collect
from ...outlining import as_fill, driver_can_run, flat, free_names, has_kind
from ...stmt import (Allocate, AtomicAdd, Block, ExternCall, FoldPartials, For, IfThenElse, Launch,
                     Let, Load, Stmt, Store, block, expand_folds, exprs_of, walk)


@dataclass
class Kernel:
    body: Stmt                      # the loop body when chunked, else the statements
    chunked: For | None = None      # the parallel loop the launcher splits
    scalars: list = field(default_factory=list)    # free Vars and Params
    storages: list = field(default_factory=list)   # free storage names
    nested_parallel: bool = False   # a parallel loop inside a serial one: prange
    writes: str = ""                # the first storage it stores to (names the kernel)
    reassociate: bool = False       # has a float reduction loop (compiled with reassoc)


def outline(body: Stmt, ctx) -> Stmt:
    """The host statements of `body` (see the module doc); the kernels they launch
    are appended to ctx.kernels, Launch(k) naming ctx.kernels[k]."""
    return _outline(body, ctx.kernels, set())


def _outline(body: Stmt, kernels: list, kernel_vars: set) -> Stmt:
    """`kernel_vars`: names of Lets that run inside kernels, which the host cannot read."""
    items: list = []
    run: list[Stmt] = []
    allocations: dict = {}

    def launch(kernel: Kernel) -> None:
        kernels.append(kernel)
        items.append(Launch(len(kernels) - 1))

    def flush() -> None:
        if run:
            launch(_kernel(block(*run), None, kernel_vars))
            run.clear()

    for s in flat(body):
        if isinstance(s, Allocate):
            allocations[s.storage] = s
        if (fill := as_fill(s, allocations)) is not None:
            items.append(fill)  # before the pending run: nothing in it touches a new buffer
        elif isinstance(s, (FoldPartials, ExternCall)) and driver_can_run(s, kernel_vars):
            flush()
            items.append(s)
        elif isinstance(s, Allocate) or (isinstance(s, Let) and driver_can_run(s, kernel_vars)):
            items.append(s)
        elif isinstance(s, For) and s.kind == "parallel":
            flush()
            launch(_kernel(s.body, s, kernel_vars))
        elif isinstance(s, IfThenElse) and driver_can_run(s, kernel_vars) and \
                has_kind(s, "parallel"):  # else it stays in the serial run
            flush()
            items.append(IfThenElse(s.cond, _outline(s.then_case, kernels, kernel_vars),
                                    _outline(s.else_case, kernels, kernel_vars)
                                    if s.else_case else None))
        else:  # a Let reading a buffer (a tuple's values) joins the run that stores it
            if isinstance(s, Let):
                kernel_vars.add(s.var.name)
            run.append(s)
    flush()
    return block(*items) if items else Block(())


def _kernel(body: Stmt, chunked: For | None, kernel_vars: set) -> Kernel:
    body = expand_folds(body)
    bound = {chunked.var.name} if chunked is not None else set()
    scalars, storages = free_names(body, bound)
    foreign = [v for v in scalars if isinstance(v, Var) and v.name in kernel_vars]
    if foreign:
        raise errors.InternalError(f"{foreign[0].name} is defined in another kernel")
    nested = chunked is None and has_kind(body, "parallel")
    writes = next((t.storage for t in walk(body) if isinstance(t, (Store, AtomicAdd))), "")
    return Kernel(body, chunked, scalars, storages, nested, writes,
                  _has_contiguous_reduction(body))


def _has_contiguous_reduction(s: Stmt) -> bool:
    """A float reduction loop that reads memory contiguously along its var (the var
    in a Load's last index): the loops whose sums LLVM vectorises when allowed to
    reassociate. A strided one (a sum down a column) would not vectorise anyway, so
    its kernel keeps the written order of the sums."""
    return any(isinstance(t, For) and t.kind == "reduction" and _reads_along(t)
               for t in walk(s))


def _reads_along(loop: For) -> bool:
    """A Load in the loop whose last index moves with its var: names the var directly
    or through the Lets (CSE's, e.g. `_cse = r - inp.min`) of the body bound from it."""
    along = {loop.var.name}
    loads = []
    for t in walk(loop.body):  # program order: a Let is seen before its uses
        exprs = exprs_of(t)
        if isinstance(t, Let) and _names(exprs) & along:
            along.add(t.var.name)
        loads += collect(exprs, Load)
    return any(load.index and _names(load.index[-1:]) & along for load in loads)


def _names(exprs) -> set[str]:
    return {v.name for v in collect(exprs, Var)}


