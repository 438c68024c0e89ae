"""Drop Lets that recompute a value an earlier Let in scope already holds.

Why: licm hoists the invariant Lets of sibling loops (the pieces of a partitioned
loop, fused reductions) into the same enclosing body, so each arrives once per sibling;
every copy is more code for Numba and LLVM to compile (it costs compile time, not run
time: LLVM would merge them too).
Requires: Let vars are unique (cse/licm make fresh ones), except loop-carried locals
(licm's accumulators), which are bound more than once and never merge. Guarantees: a
Let is dropped only when its value reads no buffer (so no store between the two can
change it) and an equal value is bound by a Let of an enclosing scope or earlier in the
same Block; its uses read that Let's var instead.
"""

from __future__ import annotations

from dataclasses import replace

from ...ir.visit import collect, substitute
from ..stmt import Block, For, IfThenElse, Let, Load, Stmt, block, map_exprs, walk


def dedupe_lets(s: Stmt, ctx=None) -> Stmt:
    bound: dict = {}
    for t in walk(s):
        if isinstance(t, Let):
            bound[t.var] = bound.get(t.var, 0) + 1
    carried = {v for v, n in bound.items() if n > 1}
    return _walk(s, {}, {}, carried)


def _walk(s: Stmt, known: dict, renames: dict, carried: set) -> Stmt | None:
    """s with renames applied; `known` (value -> Var) and `renames` gain this scope's
    entries in place, so a Block passes them on from one statement to the next.
    `carried`: vars bound more than once (loop-carried), never merged either way."""
    def rename(e):
        return substitute(e, renames)

    match s:
        case Let() if s.var in carried:
            return Let(s.var, rename(s.value))
        case Let():
            value = rename(s.value)
            if value in known:
                renames[s.var] = known[value]
                return None
            if not collect((value,), Load):
                known[value] = s.var
            return Let(s.var, value)
        case Block():
            return block(*[_walk(c, known, renames, carried) for c in s.stmts])
        case For():
            body = _walk(s.body, dict(known), dict(renames), carried)
            return replace(s, min=rename(s.min), extent=rename(s.extent), body=body)
        case IfThenElse():
            return IfThenElse(rename(s.cond),
                              _walk(s.then_case, dict(known), dict(renames), carried),
                              _walk(s.else_case, dict(known), dict(renames), carried)
                              if s.else_case else None)
    return map_exprs(s, rename)
