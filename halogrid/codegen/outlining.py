"""What both backends' outliners share: which statements the host can run, which
loop nests are fills, and the free names (kernel arguments) of a kernel body.

Invariants: `free_names` lists, in first-use order, the Vars, Params and storages a
statement reads or writes without binding or allocating them; Lets bind for the
rest of their Block, For vars for their body.
"""

from __future__ import annotations

from ..ir.buffer import Param
from ..ir.expr import Const, Extent, Var
from ..ir.simplify import simplify
from ..ir.visit import collect
from .passes.storage import input_scalar
from .stmt import (Allocate, AtomicAdd, Block, Fill, For, Let, Load, Stmt, Store, children_of,
                   exprs_of, walk)


def free_names(body: Stmt, bound: set) -> tuple[list, list]:
    """(scalars, storages): the free Vars/Params and storages of `body` (module doc)."""
    scalars: dict = {}
    storages: dict = {}
    free(body, set(bound), set(), scalars, storages)
    return list(scalars.values()), list(storages)


def driver_can_run(s: Stmt, kernel_vars: set) -> bool:
    """s's own expressions read no buffer and no Var that only a kernel defines."""
    exprs = exprs_of(s)
    return not collect(exprs, Load) and not any(
        v.name in kernel_vars for v in collect(exprs, Var))


def as_fill(s: Stmt, allocations: dict) -> Fill | None:
    """A Fill when s is loops over every dimension of an allocation, in order, storing
    one constant at (loop var - loop min)."""
    loops = []
    while isinstance(s, For):
        loops.append(s)
        s = s.body
    if not loops or not isinstance(s, Store) or not isinstance(s.value, Const):
        return None
    alloc = allocations.get(s.storage)
    if alloc is None or not len(alloc.extents) == len(loops) == len(s.index):
        return None
    for loop, index, extent in zip(loops, s.index, alloc.extents):
        if loop.extent is not extent or index is not simplify(loop.var - loop.min):
            return None
    return Fill(s.storage, s.value)


def flat(s: Stmt) -> tuple:
    return s.stmts if isinstance(s, Block) else (s,)


def has_kind(s: Stmt, kind: str) -> bool:
    return any(isinstance(t, For) and t.kind == kind for t in walk(s))


def free(s: Stmt, scope: set, allocated: set, scalars: dict, storages: dict) -> None:
    """Add to scalars/storages what `s` uses outside `scope`/`allocated` (in place).
    Lets bind for the rest of their Block, For vars for their body."""
    for e in exprs_of(s):
        for node in collect((e,), (Var, Param, Load, Extent)):
            if isinstance(node, Var) and node.name not in scope:
                scalars.setdefault(("var", node.name), node)
            elif isinstance(node, Param):
                scalars.setdefault(("param", node.uid), node)
            elif isinstance(node, Load) and node.storage not in allocated:
                storages.setdefault(node.storage)
            elif isinstance(node, Extent):
                v = input_scalar(node)
                scalars.setdefault(("var", v.name), v)
    if isinstance(s, (Store, AtomicAdd)) and s.storage not in allocated:
        storages.setdefault(s.storage)
    if isinstance(s, Allocate):
        allocated.add(s.storage)
    if isinstance(s, Let):
        scope.add(s.var.name)
    if isinstance(s, Block):
        for c in s.stmts:  # one scope: a Let is seen by the statements after it
            free(c, scope, allocated, scalars, storages)
        return
    inner = scope | {s.var.name} if isinstance(s, For) else scope
    for c in children_of(s):
        free(c, set(inner), set(allocated), scalars, storages)
