"""Common-subexpression elimination inside each Store: a subexpression used twice or
more by one Store (its value and indices together) is computed once, in a Let just
before it.

Requires: loads are in bounds wherever they are written, even inside a Select branch
that is not taken (bounds inference unites both branches), so hoisting a Load out of a
Select is safe. Guarantees: every Let var is fresh; the order of Lets respects
dependencies (inner subexpressions first).
"""

from __future__ import annotations

import itertools

from ...ir.buffer import Param
from ...ir.expr import Const, Extent, RVar, Var
from ...ir.visit import post_order, substitute
from ..stmt import Block, For, IfThenElse, Let, Store, Stmt, block

_LEAVES = (Const, Var, RVar, Param, Extent)


def cse(s: Stmt) -> Stmt:
    """Hoist repeated subexpressions of every Store into Lets."""
    counter = itertools.count()
    return _walk(s, counter)


def _walk(s: Stmt, counter) -> Stmt:
    match s:
        case Store():
            return _cse_store(s, counter)
        case For():
            return For(s.var, s.min, s.extent, s.kind, _walk(s.body, counter))
        case IfThenElse():
            return IfThenElse(s.cond, _walk(s.then_case, counter),
                              _walk(s.else_case, counter) if s.else_case else None)
        case Block():
            return Block(tuple(_walk(c, counter) for c in s.stmts))
    return s


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


def _cse_store(s: Store, counter) -> Stmt:
    roots = list(s.index) + [s.value]
    totals = _tree_counts(roots)
    repeated = [n for n in post_order(roots)
                if totals[n] > 1 and not isinstance(n, _LEAVES)]
    if not repeated:
        return s
    lets, mapping = [], {}
    for node in repeated:  # post-order: children are named before their parents
        var = Var(f"cse#{next(counter)}", node.type)
        lets.append(Let(var, substitute(node, mapping)))
        mapping[node] = var
    index = tuple(substitute(i, mapping) for i in s.index)
    return block(*lets, Store(s.storage, index, substitute(s.value, mapping)))
