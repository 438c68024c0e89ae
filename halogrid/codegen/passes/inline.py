"""Inline every Func that is not stored into its consumers' definitions.

Requires: `stored` holds every Func with updates (schedule/defaults decided).
Guarantees: the returned Stages call only stored Funcs and inputs.
"""

from __future__ import annotations

from ...ir.bounds import Stage, inliner, stages_of


def inline(funcs: list, stored: set[int]) -> dict[int, list[Stage]]:
    """Lowered Stages of each stored Func (keyed by id), inlined Funcs substituted."""
    expand = inliner(stored)
    stages = {}
    for f in funcs:
        if id(f) not in stored:
            continue
        stages[id(f)] = stages_of(f, expand)
    return stages
