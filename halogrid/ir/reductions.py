"""Inline reductions hg.sum / product / maximum / minimum, as Halide builds them:
an anonymous Func over the free Vars of the expression, initialised to the
reduction's identity and updated over the expression's RDom.
"""

from __future__ import annotations

from .. import errors
from .expr import Call, RVar, Var
from .func import Func
from .ops import cast, to_expr
from .visit import collect

def _inline_reduction(kind: str, expr) -> Call:
    """hg.sum & co: an anonymous Func over the free Vars of `expr`, reduced over its RDom."""
    from .ops import max as hg_max, min as hg_min
    e = to_expr(expr)
    rvars = collect((e,), RVar)
    if not rvars:
        raise errors.DefinitionError(
            f"Can't build hg.{kind}({e}): the expression uses no RDom to reduce over.")
    free = []
    for v in collect((e,), Var):
        if all(v is not f for f in free):
            free.append(v)
    func = Func(f"{kind}", _kind="reduction")
    t = e.type
    init = {"sum": 0, "product": 1, "maximum": t.min_value(), "minimum": t.max_value()}[kind]
    func[tuple(free)] = cast(t, init)
    current = Call(func, tuple(free), 0)
    update = {"sum": lambda: current + e, "product": lambda: current * e,
              "maximum": lambda: hg_max(current, e), "minimum": lambda: hg_min(current, e)}[kind]()
    func[tuple(free)] = update
    return Call(func, tuple(free), 0)


def sum(expr) -> Call:  # noqa: A001 - Halide's name
    return _inline_reduction("sum", expr)


def product(expr) -> Call:
    return _inline_reduction("product", expr)


def maximum(expr) -> Call:
    return _inline_reduction("maximum", expr)


def minimum(expr) -> Call:
    return _inline_reduction("minimum", expr)
