"""Interval arithmetic with symbolic ends.

An Interval's ends are Exprs (evaluated at run time, when shapes and Params are
known) or None for -inf/+inf. `bounds_of(e, scope)` over-approximates the values
of e when each Var/RVar ranges over its interval in `scope`.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import intrinsics
from .expr import Binary, Call, Cast, Const, Expr, Extent, Intrinsic, Not, RVar, Select, Var
from .ops import cast
from .simplify import simplify


@dataclass(frozen=True)
class Interval:
    min: Expr | None
    max: Expr | None

    @staticmethod
    def point(e: Expr) -> "Interval":
        return Interval(e, e)

    @property
    def bounded(self) -> bool:
        return self.min is not None and self.max is not None

    def simplified(self) -> "Interval":
        return Interval(_s(self.min), _s(self.max))


UNBOUNDED = Interval(None, None)


def _s(e):
    return None if e is None else simplify(e)


def _bin(op, a, b):
    return None if a is None or b is None else simplify(Binary(op, a, b))


def _lo(op, a, b):
    """min/max of two lower ends (None = -inf)."""
    if a is None or b is None:
        return None if op == "min" else (a if b is None else b)
    return simplify(Binary(op, a, b))


def _hi(op, a, b):
    """min/max of two upper ends (None = +inf)."""
    if a is None or b is None:
        return None if op == "max" else (a if b is None else b)
    return simplify(Binary(op, a, b))


def union(a: Interval, b: Interval) -> Interval:
    return Interval(_lo("min", a.min, b.min), _hi("max", a.max, b.max))


def _type_range(t) -> Interval:
    if t.is_bool:
        return Interval(Const(t, 0), Const(t, 1))
    if t.is_int and t.bits <= 16:
        return Interval(Const(t, t.min_value()), Const(t, t.max_value()))
    return UNBOUNDED


def _mul(a: Interval, b: Interval) -> Interval:
    if isinstance(b.min, Const) and b.min is b.max:
        a, b = b, a
    if isinstance(a.min, Const) and a.min is a.max:
        c = a.min
        lo, hi = _bin("*", b.min, c), _bin("*", b.max, c)
        return Interval(lo, hi) if c.value >= 0 else Interval(hi, lo)
    if a.bounded and b.bounded:
        corners = [_bin("*", x, y) for x in (a.min, a.max) for y in (b.min, b.max)]
        lo, hi = corners[0], corners[0]
        for c in corners[1:]:
            lo, hi = _bin("min", lo, c), _bin("max", hi, c)
        return Interval(lo, hi)
    return UNBOUNDED


def _div(a: Interval, b: Interval) -> Interval:
    if isinstance(b.min, Const) and b.min is b.max and b.min.value != 0:
        c = b.min
        lo, hi = _bin("/", a.min, c), _bin("/", a.max, c)
        return Interval(lo, hi) if c.value > 0 else Interval(hi, lo)
    return UNBOUNDED


def _mod(a: Interval, b: Interval, t) -> Interval:
    if isinstance(b.min, Const) and b.min is b.max and b.min.value != 0 and t.is_int:
        return Interval(Const(t, 0), Const(t, abs(b.min.value) - 1))
    return UNBOUNDED


def _binary(e: Binary, scope) -> Interval:
    if e.type.is_bool:
        return _type_range(e.type)
    a, b = bounds_of(e.a, scope), bounds_of(e.b, scope)
    match e.op:
        case "+":
            return Interval(_bin("+", a.min, b.min), _bin("+", a.max, b.max))
        case "-":
            return Interval(_bin("-", a.min, b.max), _bin("-", a.max, b.min))
        case "*":
            return _mul(a, b)
        case "/":
            return _div(a, b)
        case "%":
            return _mod(a, b, e.type)
        case "min" | "max":
            return Interval(_lo(e.op, a.min, b.min), _hi(e.op, a.max, b.max))
    return UNBOUNDED


def _cast(e: Cast, scope) -> Interval:
    inner = bounds_of(e.value, scope)
    src = e.value.type
    widening = e.to.is_int and src.is_int and e.to.bits > src.bits
    if e.to.is_bool or (e.to.is_int and src.is_int and not widening) or (
            e.to.is_int and e.to.bits < src.bits):
        # may wrap: only the type's range is certain, unless constant ends fit in it
        return _fitting(inner, e.to) or _type_range(e.to)
    lo = None if inner.min is None else simplify(cast(e.to, inner.min))
    hi = None if inner.max is None else simplify(cast(e.to, inner.max))
    result = Interval(lo, hi)
    return result if result.bounded else _clip(result, _type_range(e.to))


def _fitting(a: Interval, t) -> Interval | None:
    """`a` cast to integer type t when both ends are constants t holds (no value of
    the interval wraps), else None."""
    ends = (a.min, a.max)
    if t.is_bool or not all(isinstance(v, Const) for v in ends):
        return None
    if not all(t.min_value() <= v.value <= t.max_value() for v in ends):
        return None
    return Interval(*(Const(t, int(v.value)) for v in ends))


def _clip(a: Interval, limits: Interval) -> Interval:
    return Interval(a.min if a.min is not None else limits.min,
                    a.max if a.max is not None else limits.max)


def _intrinsic(e: Intrinsic, scope) -> Interval:
    """The row's interval rule (ir/intrinsics.py): monotone rows map the ends of their
    argument's interval, a valley (abs) has its minimum at the point nearest 0."""
    rule = intrinsics.lookup(e.name).monotonic
    if rule.startswith("bounded:"):
        lo, hi = rule.split(":")[1:]
        return Interval(Const(e.type, float(lo)), Const(e.type, float(hi)))
    if rule not in ("up", "down", "valley") or len(e.args) != 1:
        return UNBOUNDED
    a = bounds_of(e.args[0], scope)

    def at(x):  # a NaN end (sqrt, log below their domain) bounds nothing
        y = None if x is None else simplify(Intrinsic(e.name, (x,), e.rtype))
        return None if isinstance(y, Const) and y.value != y.value else y

    if rule == "up":
        return Interval(at(a.min), at(a.max))
    if rule == "down":
        return Interval(at(a.max), at(a.min))
    return _valley(at, a, e.args[0].type)


def _valley(at, a: Interval, t) -> Interval:
    """f non-increasing up to 0 and non-decreasing after: f(the point of [lo, hi]
    nearest 0) <= f <= max(f(lo), f(hi)); an unbounded end leaves the max unbounded."""
    zero = Const(t, 0)
    nearest = zero if a.min is None else _bin("max", a.min, zero)
    if a.max is not None:
        nearest = _bin("min", nearest, a.max)
    hi = _bin("max", at(a.min), at(a.max))
    return Interval(at(nearest), hi)


def bounds_of(e: Expr, scope: dict) -> Interval:
    """Interval of e's values; scope maps Var/RVar nodes to Intervals."""
    from .buffer import Param
    match e:
        case Const() | Extent() | Param():
            return Interval.point(e)
        case Var() | RVar():
            if e in scope:
                return scope[e]
            if isinstance(e, RVar):
                return Interval(e.min, simplify(e.min + e.extent - 1))
            return Interval.point(e)
        case Binary():
            return _binary(e, scope)
        case Select():
            return union(bounds_of(e.true_value, scope), bounds_of(e.false_value, scope))
        case Cast():
            return _cast(e, scope)
        case Not():
            return _type_range(e.type)
        case Intrinsic():
            return _intrinsic(e, scope)
        case Call():
            return _type_range(e.type)
    return UNBOUNDED
