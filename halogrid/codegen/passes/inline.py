"""Inline every Func that is not stored into its consumers' definitions.

Requires: `stored` holds every Func with updates (schedule/defaults decided).
Guarantees: the returned Stages call only stored Funcs and inputs.
"""

from __future__ import annotations

from ...ir.bounds import Stage, stages_of
from ...ir.expr import Call, Expr
from ...ir.visit import mutate_with, substitute


def inline(funcs: list, stored: set[int]) -> dict[int, list[Stage]]:
    """Lowered Stages of each stored Func (keyed by id), inlined Funcs substituted."""
    memo: dict = {}

    def expand(e: Expr) -> Expr:
        return mutate_with(e, {Call: _inline_call}, memo)

    def _inline_call(call: Call):
        f = call.callee
        if id(f) in stored or not hasattr(f, "definitions"):
            return None
        pure = f.definitions[0]
        body = substitute(pure.values[call.index], dict(zip(pure.args, call.args)))
        return expand(body)

    stages = {}
    for f in funcs:
        if id(f) not in stored:
            continue
        stages[id(f)] = stages_of(f, expand)
    return stages
