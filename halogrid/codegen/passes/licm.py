"""Loop-invariant code motion: Lets and loads whose value does not change in a loop move
in front of it, and a value the loop accumulates at one fixed location lives in a local
variable for the length of the loop; a serial loop folding a float into such a local
becomes kind "reduction" (its kernel may reassociate the sum, see outline.py).

A float sum (buf[c] = buf[c] + e, or - e) accumulates a float64 partial from 0 and adds
it into buf[c] after the loop (`_promote`): that Store is again a sum into buf[c], so
the enclosing loop promotes it too and every level of a loop nest sums into a float64
local. Why: a float32 running total of n terms loses about n * eps of its value
(a 64 M pixel loss came out 1.3% low, 16 M 0.2-3%); float64 partials keep the error
near float32's eps (one rounding per level), and they cost no time in loops that load
their terms from memory (measured: a 16 M sum of squares 7.4 -> 7.7 ms, vectorised;
blocked float32 sums took 10.4 ms).

Why: Numba gives LLVM no aliasing facts about buffers, so LLVM can neither hoist a
load out of a loop that stores to some buffer nor keep a fixed-location accumulator
(buf[c] = buf[c] + v, a reduction into a point) in a register: each iteration would
load and store it through memory.
Requires: CSE has run (invariant subexpressions are Lets at the top of loop bodies).
Guarantees: a hoisted Let reads no Var bound inside the loop and no buffer the loop
writes, and its var is assigned nowhere else in the loop (an accumulator's reset stays);
an accumulator is promoted only when its index is invariant and no other statement of
the loop touches its buffer; hoisted code that loads runs only when the loop runs at
least once (a guard), so loads stay in bounds exactly as before. (A float sum's partial
needs no guard: an empty loop adds 0 to a location its update writes.)
"""

from __future__ import annotations

import itertools

from ...ir.expr import Binary, Cast, Const, Var
from ...ir.simplify import simplify
from ...ir.types import INT32, Float
from ...ir.visit import collect, substitute
from ..stmt import (AtomicAdd, Block, For, IfThenElse, Let, Load, Store, Stmt, block,
                    exprs_of, map_exprs, stores_in, walk)


def licm(s: Stmt, ctx=None) -> Stmt:
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
    assigned = _assigned_vars(loop.body)
    for s in body:
        if isinstance(s, Let) and _invariant(s.value, inside, written) and \
                assigned[s.var] == 1:
            hoisted.append(s)
            inside.discard(s.var.name)
        elif isinstance(s, IfThenElse) and s.else_case is None:
            guarded = _lift_from_guard(s, inside, written, hoisted, assigned)
            if guarded is not None:
                kept.append(guarded)
        else:
            kept.append(_hoist_loads(s, inside, written, loads, hoisted, counter))
    promoted, kind = [], loop.kind
    for i, s in enumerate(kept):
        if _promotable(s, kept, inside):
            if s.value.type.is_float and kind == "serial":
                kind = "reduction"  # the loop folds into a local: see stmt.For
            first, kept[i], last, loads = _promote(s, f"acc#{next(counter)}")
            promoted.append((first, last, loads))
    if not hoisted and not promoted:
        return loop
    new_loop = For(loop.var, loop.min, loop.extent, kind, block(*kept), loop.partition)
    return _guarded(new_loop, hoisted, promoted)


def _guarded(loop: For, hoisted: list, promoted: list) -> Stmt:
    """The hoisted Lets and promoted accumulators around `loop`; what loads (and what
    reads a Let that loads) runs under `if extent > 0`. Arithmetic and float sums'
    partials stay outside the guard, so the enclosing loop promotes their Store."""
    runs = simplify(Const(INT32, 0) < loop.extent)
    if runs is Const(runs.type, True):
        return block(*hoisted, *[p[0] for p in promoted], loop, *[p[1] for p in promoted])
    free, guarded, names = [], [], set()
    for h in hoisted:
        if collect((h.value,), Load) or _reads(h.value, names):
            guarded.append(h)
            names.add(h.var.name)
        else:
            free.append(h)
    inner = [p for p in promoted if p[2] or _reads(p[1].value, names) or
             _reads(tuple(p[1].index), names)]
    outer = [p for p in promoted if p not in inner]
    body = [*[p[0] for p in outer]]
    if guarded or inner:
        body.append(IfThenElse(runs, block(*guarded, *[p[0] for p in inner], loop,
                                           *[p[1] for p in inner])))
    else:
        body.append(loop)
    return block(*free, *body, *[p[1] for p in outer])


def _reads(e, names: set) -> bool:
    exprs = e if isinstance(e, tuple) else (e,)
    return any(v.name in names for v in collect(exprs, Var))


def _promote(s: Store, name: str):
    """(Let before the loop, Let in it, Store after it, whether the Let before loads) for
    the accumulator `s`, in a local named like `name`: a float sum adds into a float64
    partial from 0 (module doc), any other fold carries the stored value."""
    t = s.value.type
    current = Load(s.storage, s.index, t)
    found = _float_sum(s.value, current)
    if found is None:
        acc = Var(name, t)
        return (Let(acc, current), Let(acc, substitute(s.value, {current: acc})),
                Store(s.storage, s.index, acc), True)
    op, term = found
    f64 = Float(64)
    acc = Var(name, f64)
    if not (isinstance(term, Cast) and term.value.type == f64):
        term = Cast(f64, term) if term.type != f64 else term
    else:
        term = term.value  # an inner loop's float64 partial: no rounding in between
    partial = Cast(t, acc) if t != f64 else acc
    return (Let(acc, Const(f64, 0)), Let(acc, Binary(op, acc, term)),
            Store(s.storage, s.index, Binary("+", current, partial)), False)


def _float_sum(value, current):
    """(op, term) when value is current + term, term + current or current - term with a
    float term that does not read current; else None."""
    if not (isinstance(value, Binary) and value.type.is_float and value.op in ("+", "-")):
        return None
    if value.a is current:
        term = value.b
    elif value.b is current and value.op == "+":
        term = value.a
    else:
        return None
    if any(load is current for load in collect((term,), Load)):
        return None
    return value.op, term


def _assigned_vars(s: Stmt) -> dict:
    """How many Lets of `s` bind each var (an accumulator's is bound more than once)."""
    counts: dict = {}
    for t in walk(s):
        if isinstance(t, Let):
            counts[t.var] = counts.get(t.var, 0) + 1
    return counts


def _lift_from_guard(s: IfThenElse, inside: set, written: set, hoisted: list,
                     assigned: dict) -> Stmt | None:
    """Invariant Lets that read no buffer move out of a guard (an inner loop's
    `if extent > 0`) too: arithmetic is safe to run when the guard is false. None when
    nothing is left inside the guard."""
    body = list(s.then_case.stmts) if isinstance(s.then_case, Block) else [s.then_case]
    rest = []
    for c in body:
        if isinstance(c, Let) and not collect((c.value,), Load) and \
                _invariant(c.value, inside, written) and assigned[c.var] == 1:
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
