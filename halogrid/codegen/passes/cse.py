"""Common-subexpression elimination inside each Store or AtomicAdd: a subexpression
used twice or more by one store (its value and indices together) is computed once, in
a Let just before it. Consecutive stores of one Block (the cores of fused sibling
updates) share their Lets, except for subexpressions that load a storage one of them
writes (an update's own f[a]), which stay in their store. The two values
of every Select are Lets too: a select then picks between computed values (an LLVM
`select`, vectorisable) instead of branching around loads; Halide's select evaluates
both sides as well.

Requires: loads are in bounds wherever they are written, even inside a Select branch
that is not taken (bounds inference unites both branches), so hoisting a Load out of a
Select is safe. Guarantees: every Let var is fresh; the order of Lets respects
dependencies (inner subexpressions first).
"""

from __future__ import annotations

import itertools

from ...ir.buffer import Param
from ...ir.expr import Const, Extent, RVar, Select, Var
from ...ir.visit import collect, post_order, substitute
from ..stmt import AtomicAdd, Block, For, IfThenElse, Let, Load, Store, Stmt, block

_LEAVES = (Const, Var, RVar, Param, Extent)


def cse(s: Stmt, ctx=None) -> Stmt:
    """Hoist repeated subexpressions of every store into Lets."""
    counter = itertools.count()
    return _walk(s, counter)


def _walk(s: Stmt, counter) -> Stmt:
    match s:
        case Store() | AtomicAdd():
            return _cse_stores([s], counter)
        case Block():
            return block(*_walk_block(s.stmts, counter))
        case For():
            return For(s.var, s.min, s.extent, s.kind, _walk(s.body, counter))
        case IfThenElse():
            return IfThenElse(s.cond, _walk(s.then_case, counter),
                              _walk(s.else_case, counter) if s.else_case else None)
    return s


def _walk_block(stmts, counter) -> list:
    out, run = [], []
    for s in list(stmts) + [None]:
        if isinstance(s, (Store, AtomicAdd)):
            run.append(s)
            continue
        if run:
            out.append(_cse_stores(run, counter))
        run = [s] if isinstance(s, (Store, AtomicAdd)) else []
        if s is not None and not run:
            out.append(_walk(s, counter))
    return out


def _loads_written(order: list, stores: list) -> set:
    """ids of the nodes that load a storage one of several stores writes: they stay in
    their store (a Let before the run would read the storage before the run writes it)."""
    written = {s.storage for s in stores} if len(stores) > 1 else set()
    dirty = set()
    for n in order:  # post-order: children first
        if (isinstance(n, Load) and n.storage in written) or \
                any(id(c) in dirty for c in n.children()):
            dirty.add(id(n))
    return dirty


def _tree_counts(roots) -> dict:
    """How often each node occurs when the expressions are read as trees."""
    order = post_order(roots)
    totals = {n: 0 for n in order}
    for root in roots:
        totals[root] += 1
    for node in reversed(order):  # parents first: a child occurs once per parent occurrence
        for child in node.children():
            totals[child] += totals[node]
    return totals


def _cse_stores(stores: list, counter) -> Stmt:
    roots = [e for s in stores for e in (*s.index, s.value)]
    totals = _tree_counts(roots)
    branches = {id(b) for n in post_order(roots) if isinstance(n, Select)
                for b in (n.true_value, n.false_value)}
    order = post_order(roots)
    dirty = _loads_written(order, stores)
    repeated = [n for n in order if not isinstance(n, _LEAVES) and id(n) not in dirty
                and (totals[n] > 1 or id(n) in branches)]
    if not repeated:
        return block(*stores)
    lets, mapping = [], {}
    for node in repeated:  # post-order: children are named before their parents
        var = Var(f"cse#{next(counter)}", node.type)
        lets.append(Let(var, substitute(node, mapping)))
        mapping[node] = var
    return block(*lets, *[type(s)(s.storage, tuple(substitute(i, mapping) for i in s.index),
                                  substitute(s.value, mapping)) for s in stores])
