"""Simplify every expression of a Stmt (ir/simplify.py rules); structure unchanged."""

from __future__ import annotations

from ...ir.simplify import simplify
from ..stmt import Stmt, map_exprs


def simplify_stmt(s: Stmt, ctx=None) -> Stmt:
    return map_exprs(s, simplify)
