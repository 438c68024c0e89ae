"""Reverse accumulation through one expression tree.

Invariant: for value V and seed A, returns for every Call and Param leaf L reached
through float-typed nodes the Expr adjoint(L) = sum over paths of A * product of
partials (rules.py), with the leaf's type.
"""

from __future__ import annotations

from ..ir.buffer import Param
from ..ir.expr import Call, Expr
from ..ir.ops import cast
from .rules import partials


def _post_order(root: Expr) -> list[Expr]:
    order: list[Expr] = []
    seen: set[int] = set()

    def visit(node: Expr) -> None:
        stack = [(node, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                order.append(n)
                continue
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.append((n, True))
            if not isinstance(n, Call):
                stack.extend((c, False) for c in n.children())

    visit(root)
    return order


def leaf_adjoints(value: Expr, seed: Expr) -> list[tuple[Expr, Expr]]:
    """[(leaf, adjoint)] for Call and Param leaves of `value`, in first-use order."""
    adjoint: dict = {value: cast(value.type, seed)}
    order = _post_order(value)
    for node in reversed(order):
        a = adjoint.get(node)
        if a is None or isinstance(node, (Call, Param)):
            continue
        for child, partial in zip(node.children(), partials(node)):
            if partial is None or not child.type.is_float:
                continue
            term = cast(child.type, a * partial)
            adjoint[child] = term if child not in adjoint else adjoint[child] + term
    return [(n, adjoint[n]) for n in order
            if isinstance(n, (Call, Param)) and n in adjoint and n.type.is_float]

