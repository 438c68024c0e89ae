"""Reverse accumulation through one expression tree.

Invariant: for value V and seed A, returns for every Call and Param leaf L reached
through float-typed nodes the Expr adjoint(L) = sum over paths of A * product of
partials (rules.py; `chain` multiplies, so a zero adjoint never meets an Inf
partial), with the leaf's type.
"""

from __future__ import annotations

from ..ir.buffer import Param
from ..ir.expr import Call, Expr
from ..ir.ops import cast
from ..ir.visit import mutate_with, post_order
from .rules import chain, partials


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
            term = cast(child.type, chain(a, partial, node))
            adjoint[child] = term if child not in adjoint else adjoint[child] + term
    return [(n, adjoint[n]) for n in order
            if isinstance(n, (Call, Param)) and n in adjoint and n.type.is_float]


def stage_leaves(values, seeds) -> list[tuple[Expr, Expr]]:
    """leaf_adjoints summed over the values of a (tuple) definition, value i seeded
    with seeds[i]; integer values carry no adjoint."""
    merged: dict = {}
    for value, seed in zip(values, seeds):
        if not value.type.is_float:
            continue
        for leaf, a in leaf_adjoints(value, seed):
            merged[leaf] = a if leaf not in merged else merged[leaf] + a
    return list(merged.items())


def at_values(e: Expr, values: dict) -> Expr:
    """e with each Call in `values` replaced by the value it stands for there."""
    return mutate_with(e, {Call: values.get}) if values else e
