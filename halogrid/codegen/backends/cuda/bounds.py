"""Constant and host-computable bounds of the sizes inside CUDA kernels."""

from __future__ import annotations

from ....ir.expr import Binary, Const, Expr, Select, Var
from ....ir.visit import collect, substitute


def upper_const(e: Expr, lets: dict | None = None) -> int | None:
    """A constant upper bound of e, looking through the Lets `lets` (var name ->
    value), or None. min/max/select are lifted over +, - and * or / by a positive
    constant until the leaves are sums the simplifier can cancel: the size of a
    producer computed per tile, `min(req_max, max) - max(req_min, min) + 1` with a
    split tail `min(E - xo*4, 4)` inside, is bounded by the tile plus its halo."""
    return _bound(_lift(expand_lets(e, lets or {})), True)


def expand_lets(e: Expr, lets: dict, depth: int = 8) -> Expr:
    """e with the Lets `lets` (var name -> value) substituted, `depth` levels deep."""
    if depth == 0:
        return e
    names = {v.name for v in collect((e,), Var)} & set(lets)
    if not names:
        return e
    mapping = {v: lets[v.name] for v in collect((e,), Var) if v.name in names}
    return expand_lets(substitute(e, mapping), lets, depth - 1)


_CHOICES = ("min", "max")


def _lift(e: Expr) -> Expr:
    """e with min/max/select moved above +, -, and * or / by a positive constant."""
    if isinstance(e, Select):
        return Select(e.cond, _lift(e.true_value), _lift(e.false_value))
    if not isinstance(e, Binary):
        return e
    a, b = _lift(e.a), _lift(e.b)
    if e.op in _CHOICES:
        return Binary(e.op, a, b)
    positive = isinstance(b, Const) and not b.type.is_float and b.value > 0
    if e.op not in ("+", "-") and not (e.op in ("*", "/") and positive):
        return Binary(e.op, a, b)
    for side, other in ((a, b), (b, a)):
        if isinstance(side, Select) or isinstance(side, Binary) and side.op in _CHOICES:
            def rebuild(arm, left=side is a):
                return _lift(Binary(e.op, arm, other) if left else Binary(e.op, other, arm))
            if isinstance(side, Select):
                return Select(side.cond, rebuild(side.true_value), rebuild(side.false_value))
            op = side.op
            if e.op == "-" and side is b:  # a - min(p, q) = max(a - p, a - q)
                op = "max" if op == "min" else "min"
            return Binary(op, rebuild(side.a), rebuild(side.b))
    return Binary(e.op, a, b)


def _bound(e: Expr, upper: bool) -> int | None:
    """A constant bound of a lifted expression (min/max/select only above sums)."""
    if isinstance(e, Select):
        a, b = _bound(e.true_value, upper), _bound(e.false_value, upper)
        return None if a is None or b is None else (max(a, b) if upper else min(a, b))
    if isinstance(e, Binary) and e.op in _CHOICES:
        a, b = _bound(e.a, upper), _bound(e.b, upper)
        if (e.op == "min") == upper:  # an upper bound of a min: either arm's
            known = [v for v in (a, b) if v is not None]
            return (min if upper else max)(known) if known else None
        return None if a is None or b is None else (max(a, b) if upper else min(a, b))
    terms = _linear(e)
    if terms is None or any(coef for atom, coef in terms.items() if atom is not None):
        return None
    return terms.get(None, 0)


def _linear(e: Expr) -> dict | None:
    """e as {id(atom): integer coefficient} (None: the constant term), atoms being the
    non-linear subexpressions (Vars, products of two of them...; interned, so equal
    atoms are one object); None for floats."""
    if isinstance(e, Const):
        return None if e.type.is_float else {None: int(e.value)}
    if isinstance(e, Binary) and e.op in ("+", "-"):
        a, b = _linear(e.a), _linear(e.b)
        if a is None or b is None:
            return None
        sign = 1 if e.op == "+" else -1
        out = dict(a)
        for atom, coef in b.items():
            out[atom] = out.get(atom, 0) + sign * coef
        return out
    if isinstance(e, Binary) and e.op == "*" and isinstance(e.b, Const):
        a = _linear(e.a)
        if a is None or e.b.type.is_float:
            return None
        return {atom: coef * int(e.b.value) for atom, coef in a.items()}
    if e.type.is_float:
        return None
    return {id(e): 1}
