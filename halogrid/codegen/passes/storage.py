"""Turn Func and input calls into buffer Loads, and Store coordinates into indices.

Requires: every Call targets a stored Func (with a Region) or an input buffer.
Guarantees: no Call remains; Load/Store indices are 0-based within the buffer
(coordinate minus the allocation's min); inputs by coordinate minus their window's min.
"""

from __future__ import annotations

from dataclasses import replace

from ...ir.expr import Call, Expr, Extent, Var, WindowEdge
from ...ir.simplify import simplify
from ...ir.types import INT32
from ...ir.visit import mutate_with
from ..stmt import AtomicAdd, FoldPartials, Load, Store, Stmt, map_exprs, map_leaves
from ..names import storage_name


def input_storage_name(buffer) -> str:
    return f"{buffer.name}#in{buffer.uid}"


def input_scalar(e: Extent) -> Var:
    """The driver argument an Extent or WindowEdge of an input is passed as (cpu.py)."""
    what = e.end if isinstance(e, WindowEdge) else "extent"
    return Var(f"{input_storage_name(e.buffer)}.{what}.{e.dim}", INT32)


def flatten_storage(s: Stmt, ctx) -> Stmt:
    """Calls become Loads in buffer coordinates: ctx.storage_regions maps id(func) to
    the Region whose mins index its buffer (where it is stored)."""
    funcs, regions = ctx.stored, ctx.storage_regions
    memo: dict = {}
    by_storage = {storage_name(f, i): regions[id(f)].min
                  for f in funcs for i in range(len(f.value_types()))}

    def to_load(call: Call):
        region = regions.get(id(call.callee))
        if region is None:  # the bound array holds the input's window from its min on
            buf = call.callee
            index = tuple(simplify(a - WindowEdge(buf, d, "min")) for d, a in enumerate(call.args))
            return Load(input_storage_name(buf), index, call.type)
        index = tuple(simplify(a - m) for a, m in zip(call.args, region.min))
        return Load(storage_name(call.callee, call.index), index, call.type)

    def rewrite(e: Expr) -> Expr:
        return mutate_with(e, {Call: to_load}, memo)

    return _offset_stores(map_exprs(s, rewrite), by_storage)


def _offset_stores(s: Stmt, mins: dict) -> Stmt:
    """Store coordinates -> in-buffer indices; storages absent from `mins` (rfactor
    intermediates) are built 0-based already."""
    def offset(t: Stmt) -> Stmt:
        if not isinstance(t, (Store, AtomicAdd, FoldPartials)) or t.storage not in mins:
            return t
        return replace(t, index=tuple(simplify(i - m) for i, m in zip(t.index, mins[t.storage])))
    return map_leaves(s, offset)
