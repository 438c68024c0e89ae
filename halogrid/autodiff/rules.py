"""The one table of partial derivatives: for each node kind, the partials of the node
with respect to each of its Expr children, as Exprs of the node's inputs.

Invariant: partials(node) returns one Expr (or None for "no gradient flows") per child in
node.children() order. Integer-valued children never receive gradients; floor, ceil,
round, comparisons and casts to integers have zero derivative (None), never an error.
"""

from __future__ import annotations

from ..ir import ops
from ..ir.expr import Binary, Cast, Const, Expr, Intrinsic, Not, Select


def _one(t) -> Const:
    return Const(t, 1)


def _binary(e: Binary):
    a, b, t = e.a, e.b, e.type
    match e.op:
        case "+":
            return (_one(t), _one(t))
        case "-":
            return (_one(t), Const(t, -1))
        case "*":
            return (b, a)
        case "/":
            return (_one(t) / b, -a / (b * b))
        case "min":
            return (ops.select(a <= b, _one(t), Const(t, 0)), ops.select(a <= b, Const(t, 0), _one(t)))
        case "max":
            return (ops.select(a >= b, _one(t), Const(t, 0)), ops.select(a >= b, Const(t, 0), _one(t)))
    return (None, None)


def _select(e: Select):
    t = e.type
    return (None, ops.select(e.cond, _one(t), Const(t, 0)), ops.select(e.cond, Const(t, 0), _one(t)))


def _cast(e: Cast):
    return (_one(e.type),) if e.type.is_float and e.value.type.is_float else (None,)


def _unary(fn):
    return lambda e: (fn(e.args[0], e),)


def _atan2(e: Intrinsic):
    y, x = e.args
    denom = x * x + y * y
    return (x / denom, -y / denom)


def _pow(e: Intrinsic):
    a, b = e.args
    return (b * ops.pow(a, b - 1), e * ops.log(a))


def _abs(e: Intrinsic):
    a = e.args[0]
    t = a.type
    return (ops.select(a > 0, _one(t), ops.select(a < 0, Const(t, -1), Const(t, 0))),)


def _zero(e: Intrinsic):
    return (None,) * len(e.args)


INTRINSIC_RULES = {
    "exp": _unary(lambda a, e: e),
    "log": _unary(lambda a, e: 1 / a),
    "sqrt": _unary(lambda a, e: 0.5 / e),
    "sin": _unary(lambda a, e: ops.cos(a)),
    "cos": _unary(lambda a, e: -ops.sin(a)),
    "tan": _unary(lambda a, e: 1 + e * e),
    "tanh": _unary(lambda a, e: 1 - e * e),
    "atan2": _atan2,
    "pow": _pow,
    "abs": _abs,
    "floor": _zero, "ceil": _zero, "round": _zero,
}


def partials(e: Expr) -> tuple:
    """Partials of e w.r.t. each child (None where no gradient flows)."""
    if not e.type.is_float:
        return (None,) * len(e.children())
    match e:
        case Binary():
            return _binary(e)
        case Select():
            return _select(e)
        case Cast():
            return _cast(e)
        case Intrinsic():
            return INTRINSIC_RULES[e.name](e)
        case Not():
            return (None,)
    return (None,) * len(e.children())
