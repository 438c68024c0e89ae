"""Buffers inside a CUDA kernel whose size has no constant bound, moved to global
scratch memory: one slice per owner (a block, for a buffer at block level; a thread
otherwise), allocated by the host.

Requires: a kernel body with its gpu loops mapped (kinds block.<a>, thread.<a>,
grid.x), before block-level code is assigned to threads, and the names the host
passes it. Guarantees: `to_scratch(body, host, lets)` returns
the body and the Scratch buffers it now uses: each such Allocate is gone, and every
Load/Store/AtomicAdd of its storage reads `scratch[owner, flat index]` (flattened by
the allocation's own extents), where `owner` is the kernel's linear block index or
global thread index (an Owner statement at the top). A scratch's `cells` is an upper
bound of the allocation's size over every iteration that reads host names only (a
constant bound where the tile's halo cancels, else interval arithmetic over the
enclosing loops), so a slice holds any iteration's buffer. Raises a ScheduleError
naming the Func where no such bound exists.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .... import errors
from ....ir.expr import Binary, Const, Expr, Var
from ....ir.interval import Interval, bounds_of
from ....ir.simplify import simplify
from ....ir.types import INT32, Type
from ....ir.visit import collect, mutate_with
from ...stmt import (Allocate, AtomicAdd, Block, For, IfThenElse, Load, Stmt, Store, block,
                     map_exprs, map_leaves)
from .bounds import expand_lets, upper_const
from .nodes import Owner


@dataclass(frozen=True)
class Scratch:
    storage: str        # the scratch buffer's storage name (a kernel argument)
    type: Type
    cells: Expr         # per owner, host names only
    per_thread: bool    # owners are threads (else blocks)


def to_scratch(body: Stmt, host: set, lets: dict) -> tuple[Stmt, list[Scratch]]:
    found: list = []
    body = _walk(body, [], False, host, lets, found)
    if not found:
        return body, []
    scratches = []
    for alloc, cells, per_thread in found:
        name = f"{alloc.storage}.scratch"
        owner = Var(f"{name}.owner", INT32)
        body = _redirect(body, alloc, name, owner)
        body = block(Owner(owner, per_thread), body)
        scratches.append(Scratch(name, alloc.type, cells, per_thread))
    return body, scratches


def _walk(s: Stmt, loops: list, in_thread: bool, host: set, lets: dict, found: list) -> Stmt:
    if isinstance(s, Allocate) and any(upper_const(e, lets) is None for e in s.extents):
        found.append((s, _cells(s, loops, host, lets), in_thread or not _in_block(loops)))
        return Block(())
    if isinstance(s, For):
        inner = in_thread or s.kind.split(".")[0] in ("thread", "spread", "grid")
        return replace(s, body=_walk(s.body, loops + [s], inner, host, lets, found))
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _walk(s.then_case, loops, in_thread, host, lets, found),
                          _walk(s.else_case, loops, in_thread, host, lets, found)
                          if s.else_case else None)
    if isinstance(s, Block):
        return Block(tuple(_walk(c, loops, in_thread, host, lets, found) for c in s.stmts))
    return s


def _in_block(loops: list) -> bool:
    return any(lp.kind.startswith("block.") for lp in loops)


def _cells(alloc: Allocate, loops: list, host: set, lets: dict) -> Expr:
    scope: dict = {}
    for lp in loops:  # outermost first: a loop's range may read the loops outside it
        lo = bounds_of(expand_lets(lp.min, lets), scope)
        ext = bounds_of(expand_lets(lp.extent, lets), scope)
        if lo.min is not None and lo.max is not None and ext.max is not None:
            scope[lp.var] = Interval(lo.min, simplify(lo.max + ext.max - 1))
    cells: Expr = Const(INT32, 1)
    for e in alloc.extents:
        bound = upper_const(e, lets)
        size = Const(INT32, bound) if bound is not None else \
            bounds_of(expand_lets(e, lets), scope).max
        if size is None or {v.name for v in collect((size,), Var)} - host:
            raise errors.schedule_error(
                alloc.storage.split(".")[0], "compute_at (target='cuda')",
                f"its buffer inside a CUDA kernel has extent {e}, which has no upper bound "
                "that the host can compute", "Split the consumer's loops by constant "
                "factors (gpu_tile) and compute the producer at a tile loop, or "
                "compute_root() the producer")
        cells = simplify(cells * Binary("max", size, Const(INT32, 1)))
    return cells


def _redirect(body: Stmt, alloc: Allocate, name: str, owner: Var) -> Stmt:
    """Loads/Stores/AtomicAdds of alloc's storage as scratch[owner, flat index]."""
    extents = alloc.extents

    def flat(index: tuple) -> tuple:
        at = index[0] if index else Const(INT32, 0)
        for i, e in zip(index[1:], extents[1:]):
            at = at * e + i
        return (owner, simplify(at))

    def load(e: Load) -> Expr:
        return Load(name, flat(e.index), e.ltype) if e.storage == alloc.storage else e

    def leaf(s: Stmt) -> Stmt:
        if isinstance(s, (Store, AtomicAdd)) and s.storage == alloc.storage:
            return type(s)(name, flat(s.index), s.value)
        return s

    memo: dict = {}
    body = map_exprs(body, lambda e: mutate_with(e, {Load: load}, memo))
    return map_leaves(body, leaf)
