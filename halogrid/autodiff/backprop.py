"""Reverse accumulation through one expression tree.

Invariant: for value V and seed A, returns for every Call and Param leaf L reached
through float-typed nodes the Expr adjoint(L) = sum over paths of A * product of
partials (rules.py), with the leaf's type.
"""

from __future__ import annotations

from ..ir.buffer import Param
from ..ir.expr import Call, Expr
from ..ir.ops import cast
from ..ir.visit import post_order
from .rules import partials


def leaf_adjoints(value: Expr, seed: Expr) -> list[tuple[Expr, Expr]]:
    """[(leaf, adjoint)] for Call and Param leaves of `value`, in first-use order."""
    adjoint: dict = {value: cast(value.type, seed)}
    order = post_order((value,), stop_at=(Call,))
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

