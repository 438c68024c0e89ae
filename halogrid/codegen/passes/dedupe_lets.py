"""Drop Lets that recompute a value an earlier Let in scope already holds.

Why: licm hoists the invariant Lets of sibling loops (the pieces of a partitioned
loop, fused reductions) into the same enclosing body, so each arrives once per sibling;
every copy is more code for Numba and LLVM to compile (it costs compile time, not run
time: LLVM would merge them too).
Requires: Let vars are unique (cse/licm make fresh ones). Guarantees: a Let is dropped
only when its value reads no buffer (so no store between the two can change it) and an
equal value is bound by a Let of an enclosing scope or earlier in the same Block; its
uses read that Let's var instead.
"""

from __future__ import annotations

from dataclasses import replace

from ...ir.visit import collect, substitute
from ..stmt import Block, For, IfThenElse, Let, Load, Stmt, block, map_exprs


def dedupe_lets(s: Stmt) -> Stmt:
    return _walk(s, {}, {})


def _walk(s: Stmt, known: dict, renames: dict) -> Stmt | None:
    """s with renames applied; `known` (value -> Var) and `renames` gain this scope's
    entries in place, so a Block passes them on from one statement to the next."""
    def rename(e):
        return substitute(e, renames)

    match s:
        case Let():
            value = rename(s.value)
            if value in known:
                renames[s.var] = known[value]
                return None
            if not collect((value,), Load):
                known[value] = s.var
            return Let(s.var, value)
        case Block():
            return block(*[_walk(c, known, renames) for c in s.stmts])
        case For():
            body = _walk(s.body, dict(known), dict(renames))
            return replace(s, min=rename(s.min), extent=rename(s.extent), body=body)
        case IfThenElse():
            return IfThenElse(rename(s.cond), _walk(s.then_case, dict(known), dict(renames)),
                              _walk(s.else_case, dict(known), dict(renames))
                              if s.else_case else None)
    return map_exprs(s, rename)
