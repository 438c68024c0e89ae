"""The one Mutator and one-off walks over expressions.

Invariant: mutate() rebuilds a node only when one of its children changed, so an
untouched subtree keeps its identity (interned nodes make that free).
"""

from __future__ import annotations

from typing import Callable

from .expr import Expr

_Rewrite = Callable[[Expr], Expr | None]


def rebuild(node: Expr, children: list[Expr]) -> Expr:
    """`node` with its Expr children replaced in order; the same node if none changed.

    Generic over node classes: Expr fields and tuples of Exprs are refilled in
    field order, other fields are kept; the class's strict constructor re-checks types.
    """
    if all(a is b for a, b in zip(node.children(), children)):
        return node
    it = iter(children)
    fields = []
    for value in node.fields():
        if isinstance(value, Expr):
            fields.append(next(it))
        elif isinstance(value, tuple):
            fields.append(tuple(next(it) if isinstance(v, Expr) else v for v in value))
        else:
            fields.append(value)
    return type(node)(*fields)


def mutate_with(expr: Expr, rules: dict[type, _Rewrite], memo: dict | None = None) -> Expr:
    """Bottom-up rewrite: children first, then `rules[type(node)](node)` may replace it.

    A rule returning None keeps the (rebuilt) node. Shared subtrees are visited once.
    """
    memo = {} if memo is None else memo

    def walk(node: Expr) -> Expr:
        hit = memo.get(node)
        if hit is not None:
            return hit
        rebuilt = rebuild(node, [walk(c) for c in node.children()])
        rule = rules.get(type(rebuilt))
        result = rule(rebuilt) if rule else None
        memo[node] = rebuilt if result is None else result
        return memo[node]

    return walk(expr)


def mutate_top_down(expr: Expr, rule: _Rewrite, memo: dict | None = None) -> Expr:
    """Pre-order rewrite: `rule(node)` returning an Expr replaces the whole subtree."""
    memo = {} if memo is None else memo

    def walk(node: Expr) -> Expr:
        hit = memo.get(node)
        if hit is not None:
            return hit
        replaced = rule(node)
        result = replaced if replaced is not None else rebuild(
            node, [walk(c) for c in node.children()])
        memo[node] = result
        return result

    return walk(expr)


def substitute(expr: Expr, mapping: dict[Expr, Expr]) -> Expr:
    """Replace whole subtrees found in `mapping` (keys are interned nodes)."""
    if not mapping:
        return expr
    return mutate_top_down(expr, mapping.get)


def walk(exprs, visit: Callable[[Expr], None]) -> None:
    """Call visit(node) on every distinct node reachable from `exprs` (pre-order)."""
    seen: set[int] = set()
    stack = [e for e in exprs][::-1]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        visit(node)
        stack.extend(reversed(node.children()))


def collect(exprs, node_type: type) -> list:
    """Distinct nodes of `node_type` in `exprs`, in first-seen pre-order."""
    found: list = []
    walk(exprs, lambda n: found.append(n) if isinstance(n, node_type) else None)
    return found


def post_order(roots, stop_at: tuple = ()) -> list[Expr]:
    """Distinct nodes reachable from `roots`, every node after all its children.
    Children of nodes of the types in `stop_at` are not visited."""
    order: list[Expr] = []
    seen: set[int] = set()
    stack = [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if not isinstance(node, stop_at):
            stack.extend((c, False) for c in node.children())
    return order
