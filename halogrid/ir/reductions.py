"""Inline reductions hg.sum / product / maximum / minimum, as Halide builds them:
an anonymous Func over the free Vars of the expression, initialised to the
reduction's identity and updated over the expression's RDom.
"""

from __future__ import annotations

from .. import errors
from .expr import Call, RVar, Var
from .func import Func
from .ops import ExprLike, cast, to_expr
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


def sum(expr: ExprLike) -> Call:  # noqa: A001 - Halide's name
    """The sum of `expr` over every point of the RDoms it uses (an inline reduction:
    an anonymous Func over the free Vars of `expr`, as Halide builds it).

    >>> r = hg.RDom([(-1, 3), (-1, 3)])
    >>> blur[y, x] = hg.sum(img[y + r.y, x + r.x]) / 9
    """
    return _inline_reduction("sum", expr)


def product(expr: ExprLike) -> Call:
    """The product of `expr` over every point of the RDoms it uses (an inline reduction:
    an anonymous Func over the free Vars of `expr`, as Halide builds it).

    >>> r = hg.RDom([(-1, 3), (-1, 3)])
    >>> f[x] = hg.product(1.0 + img[x, r])
    """
    return _inline_reduction("product", expr)


def maximum(expr: ExprLike) -> Call:
    """The largest value of `expr` over the RDoms it uses (an inline reduction:
    an anonymous Func over the free Vars of `expr`, as Halide builds it).

    >>> r = hg.RDom([(-1, 3), (-1, 3)])
    >>> dilate[y, x] = hg.maximum(img[y + r.y, x + r.x])
    """
    return _inline_reduction("maximum", expr)


def minimum(expr: ExprLike) -> Call:
    """The smallest value of `expr` over the RDoms it uses (an inline reduction:
    an anonymous Func over the free Vars of `expr`, as Halide builds it).

    >>> r = hg.RDom([(-1, 3), (-1, 3)])
    >>> erode[y, x] = hg.minimum(img[y + r.y, x + r.x])
    """
    return _inline_reduction("minimum", expr)
