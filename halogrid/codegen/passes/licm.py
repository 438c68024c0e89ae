"""Loop-invariant code motion: Lets and loads whose value does not change in a loop move
in front of it, and a value the loop accumulates at one fixed location lives in a local
variable for the length of the loop; a serial loop folding a float into such a local
becomes kind "reduction" (its kernel may reassociate the sum, see outline.py).

Why: Numba gives LLVM no aliasing facts about buffers, so LLVM can neither hoist a
load out of a loop that stores to some buffer nor keep a fixed-location accumulator
(buf[c] = buf[c] + v, a reduction into a point) in a register: each iteration would
load and store it through memory.
Requires: CSE has run (invariant subexpressions are Lets at the top of loop bodies).
Guarantees: a hoisted Let reads no Var bound inside the loop and no buffer the loop
writes; an accumulator is promoted only when its index is invariant and no other
statement of the loop touches its buffer; hoisted code runs only when the loop runs
at least once (a guard), so loads stay in bounds exactly as before.
"""

from __future__ import annotations

import itertools

from ...ir.expr import Const, Var
from ...ir.simplify import simplify
from ...ir.types import INT32
from ...ir.visit import collect, substitute
from ..stmt import (AtomicAdd, Block, For, IfThenElse, Let, Load, Store, Stmt, block,
                    exprs_of, map_exprs, stores_in, walk)


def licm(s: Stmt) -> Stmt:
    return _walk(s, itertools.count())


def _walk(s: Stmt, counter) -> Stmt:
    match s:
        case For():
            loop = For(s.var, s.min, s.extent, s.kind, _walk(s.body, counter), s.partition)
            # a parallel loop is a kernel of its own (outline.py): nothing moves out of it
            return loop if s.kind == "parallel" else _loop(loop, counter)
        case IfThenElse():
            return IfThenElse(s.cond, _walk(s.then_case, counter),
                              _walk(s.else_case, counter) if s.else_case else None)
        case Block():
            return block(*[_walk(c, counter) for c in s.stmts])
    return s


def _loop(loop: For, counter) -> Stmt:
    body = list(loop.body.stmts) if isinstance(loop.body, Block) else [loop.body]
    written = stores_in(loop.body)
    inside = {loop.var.name} | {t.var.name for t in walk(loop.body) if isinstance(t, (Let, For))}
    hoisted, kept, loads = [], [], {}
    for s in body:
        if isinstance(s, Let) and _invariant(s.value, inside, written):
            hoisted.append(s)
            inside.discard(s.var.name)
        elif isinstance(s, IfThenElse) and s.else_case is None:
            guarded = _lift_from_guard(s, inside, written, hoisted)
            if guarded is not None:
                kept.append(guarded)
        else:
            kept.append(_hoist_loads(s, inside, written, loads, hoisted, counter))
    before, after, kind = [], [], loop.kind
    for i, s in enumerate(kept):
        if _promotable(s, kept, inside):
            if s.value.type.is_float and kind == "serial":
                kind = "reduction"  # the loop folds into a local: see stmt.For
            acc = Var(f"acc#{next(counter)}", s.value.type)
            current = Load(s.storage, s.index, s.value.type)
            before.append(Let(acc, current))
            kept[i] = Let(acc, substitute(s.value, {current: acc}))
            after.append(Store(s.storage, s.index, acc))
    if not hoisted and not before:
        return loop
    new_loop = For(loop.var, loop.min, loop.extent, kind, block(*kept), loop.partition)
    moved = block(*hoisted, *before, new_loop, *after)
    runs = simplify(Const(INT32, 0) < loop.extent)
    return moved if runs is Const(runs.type, True) else IfThenElse(runs, moved)


def _lift_from_guard(s: IfThenElse, inside: set, written: set, hoisted: list) -> Stmt | None:
    """Invariant Lets that read no buffer move out of a guard (an inner loop's
    `if extent > 0`) too: arithmetic is safe to run when the guard is false. None when
    nothing is left inside the guard."""
    body = list(s.then_case.stmts) if isinstance(s.then_case, Block) else [s.then_case]
    rest = []
    for c in body:
        if isinstance(c, Let) and not collect((c.value,), Load) and \
                _invariant(c.value, inside, written):
            hoisted.append(c)
            inside.discard(c.var.name)
        else:
            rest.append(c)
    return IfThenElse(s.cond, block(*rest)) if rest else None


def _hoist_loads(s: Stmt, inside: set, written: set, loads: dict, hoisted: list,
                 counter) -> Stmt:
    """s with its loop-invariant Loads read from Lets added to `hoisted` (shared through
    `loads`); only top-level statements of the body, which run every iteration."""
    if not isinstance(s, (Store, AtomicAdd, Let)):
        return s
    found = [n for n in collect(exprs_of(s), Load) if _invariant(n, inside, written)]
    for load in found:
        if load not in loads:
            loads[load] = Var(f"inv#{next(counter)}", load.type)
            hoisted.append(Let(loads[load], load))
    if not found:
        return s
    return map_exprs(s, lambda e: substitute(e, loads))


def _invariant(e, inside: set, written: set) -> bool:
    if any(v.name in inside for v in collect((e,), Var)):
        return False
    return not any(load.storage in written for load in collect((e,), Load))


def _promotable(s: Stmt, kept: list, inside: set) -> bool:
    """s is `buf[I] = buf[I] op ...` with I invariant, and buf appears nowhere else."""
    if not isinstance(s, Store) or not _invariant_index(s.index, inside):
        return False
    current = Load(s.storage, s.index, s.value.type)
    if not any(load is current for load in collect((s.value,), Load)):
        return False
    others = [o for o in kept if o is not s]
    touched = {load.storage for o in others for t in walk(o)
               for load in collect(exprs_of(t), Load)}
    touched |= stores_in(block(*others)) if others else set()
    reads_elsewhere = any(load.storage == s.storage and load is not current
                          for load in collect((s.value,), Load))
    return s.storage not in touched and not reads_elsewhere


def _invariant_index(index, inside: set) -> bool:
    return not any(v.name in inside for v in collect(tuple(index), Var)) and not any(
        collect(tuple(index), Load))
