"""Per-block shared-memory copies of a small scatter target (histograms, LUT
adjoints, splats into a small grid).

Requires: a mapped CUDA kernel body whose only atomic target is one root buffer
(allocated by the host; the kernel neither loads nor stores it otherwise).
Guarantees: `privatise(body, alloc)` returns
    if cells(buffer) <= SHARED_CELLS:
        every block zeroes a shared copy, adds into it atomically (shared-memory
        atomics: contention stays inside the block), then adds its non-zero cells
        into the buffer atomically;
    else: body as it was.
The test is on host values, so every thread of a launch takes the same branch and
the barriers stay uniform. The sum is the same either way: only the order of float
additions differs (deterministic mode uses no atomics, so never gets here).
"""

from __future__ import annotations

from ....ir.expr import Binary, Const, Var
from ....ir.simplify import simplify
from ....ir.types import INT32
from ....ir.visit import collect
from ...stmt import (Allocate, AtomicAdd, Block, For, IfThenElse, Load, Stmt, Store, block,
                     exprs_of, map_leaves, walk)
from .nodes import Barrier, SharedAllocate, ThreadRank

SHARED_CELLS = 4096   # 16 KiB of float32, 32 KiB of float64: under the 48 KiB a block has


def scatter_target(body: Stmt, allocations: dict) -> Allocate | None:
    """The Allocate of the one buffer `body` adds into atomically, where privatisable."""
    targets = {t.storage for t in walk(body) if isinstance(t, AtomicAdd)}
    if len(targets) != 1:
        return None
    name = next(iter(targets))
    alloc = allocations.get(name)
    if alloc is None or alloc.type.is_bool or any(
            isinstance(t, Store) and t.storage == name for t in walk(body)):
        return None
    if any(load.storage == name for t in walk(body) for load in collect(exprs_of(t), Load)):
        return None
    return alloc


def privatise(body: Stmt, alloc: Allocate) -> Stmt:
    name, t = alloc.storage, alloc.type
    extents = alloc.extents
    cells = Const(INT32, 1)
    for e in extents:
        cells = simplify(cells * e)
    shared = f"{name}.shared"
    rank, ranks = Var(f"{name}.rank", INT32), Var(f"{name}.ranks", INT32)

    def to_shared(s: Stmt) -> Stmt:
        if isinstance(s, AtomicAdd) and s.storage == name:
            return AtomicAdd(shared, (_flat(s.index, extents),), s.value)
        return s

    def over_cells(what) -> Stmt:
        cell = Var(f"{shared}.{what.__name__}", INT32)
        return For(cell, Const(INT32, 0), cells, "rank", what(cell))

    def zero(cell):
        return Store(shared, (cell,), Const(t, 0))

    def merge(cell):
        value = Load(shared, (cell,), t)
        return IfThenElse(Binary("!=", value, Const(t, 0)),
                          AtomicAdd(name, _unflat(cell, extents), value))

    private = block(ThreadRank(rank, ranks), SharedAllocate(shared, t, SHARED_CELLS),
                    over_cells(zero), Barrier(), map_leaves(body, to_shared), Barrier(),
                    over_cells(merge))
    fits = Binary("<=", cells, Const(INT32, SHARED_CELLS))
    return IfThenElse(fits, private if isinstance(private, Block) else Block((private,)), body)


def _flat(index: tuple, extents: tuple):
    flat = index[0] if index else Const(INT32, 0)
    for i, e in zip(index[1:], extents[1:]):
        flat = flat * e + i
    return simplify(flat)


def _unflat(cell: Var, extents: tuple) -> tuple:
    coords, rest = [], cell
    for e in reversed(extents[1:]):
        coords.append(simplify(rest % e))
        rest = simplify(rest / e)
    return tuple([rest] + list(reversed(coords))) if extents else ()
