"""The one table of partial derivatives: for each node kind, the partials of the node
with respect to each of its Expr children, as Exprs of the node's inputs; and `chain`,
the product of an adjoint and a partial.

Invariants: partials(node) returns one Expr (or None for "no gradient flows") per child
in node.children() order. Integer-valued children never receive gradients; floor, ceil,
round, comparisons and casts to integers have zero derivative (None), never an error.
The partials of a select are selects of the constants 1 and 0, so `chain` routes the
adjoint into the taken branch only (select(c, adj, 0) and select(c, 0, adj)).
`chain(adj, p)` is 0 wherever adj is 0, even where p is Inf or NaN: the partials of an
untaken branch (sqrt'(0), 1/0, log'(0)) never reach a gradient, without the user's
"double where".
Conventions where a partial has no finite value (Halide's and JAX's where they exist):
atan2(y, x) has zero partials at (0, 0) (PyTorch's choice); d pow(a, b)/da is 0 where
b == 0 and d pow(a, b)/db is 0 where a == 0 (JAX's); d pow(a, 0.5)/da at a == 0 stays
+Inf, as sqrt's does, so it is finite only where a guard leaves that branch untaken.
"""

from __future__ import annotations

import math

from ..ir import ops
from ..ir.expr import Binary, Call, Cast, Const, Expr, Extent, Intrinsic, Not, RVar, Select, Var


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


def _replace_zero(d: Expr) -> Expr:
    """d, or 1 where d == 0 (JAX's `_replace_zero`): a divisor `_finite` trusts."""
    return ops.select(d == 0, Const(d.type, 1), d)


def _atan2(e: Intrinsic):
    """Zero partials at (0, 0), where atan2 has no derivative (see module doc)."""
    y, x = e.args
    denom = _replace_zero(x * x + y * y)
    return (x / denom, -y / denom)


def _pow(e: Intrinsic):
    """d/da: 0 where b == 0 (not 0 * a**-1); d/db: 0 where a == 0 (not 0 * log 0)."""
    a, b = e.args
    zero = Const(e.type, 0)
    if isinstance(b, Const):
        d_a = zero if b.value == 0 else b * ops.pow(a, b - 1)
    else:
        d_a = ops.select(b == 0, zero, b * ops.pow(a, b - 1))
    return (d_a, e * ops.log(_replace_zero(a)))


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


# ---- adjoint times partial -----------------------------------------------------------

_FINITE_INTRINSICS = frozenset({"exp", "sin", "cos", "tanh", "abs", "floor", "ceil", "round"})
_LEAVES = (Var, RVar, Call, Extent)


def chain(adjoint: Expr, partial: Expr, node: Expr | None = None) -> Expr:
    """adjoint * partial, the term a child of `node` receives (all of node's type).

    A select partial with a constant branch (select, min, max) distributes: the adjoint
    reaches each branch as a select, not as adj * (0/1 mask). A masked adjoint
    select(c, v, 0) distributes too, so a masked-off lane multiplies nothing. What is
    left multiplies, guarded by adj == 0 where the rule's partial may be Inf/NaN where
    node and its operands are finite (`_finite`: 1/b, sqrt', log', pow'), so 0 * Inf
    never turns into NaN (module doc). Partials that are the node's own operands or
    value (a * b, exp, tanh) need no guard: they are Inf only where the forward is
    (without `node`, every partial that may be Inf is guarded).
    """
    if _is_zero(adjoint) or _is_zero(partial):
        return Const(adjoint.type, 0)
    if _is_one(partial):
        return adjoint
    if isinstance(partial, Select) and _has_const_branch(partial):
        return _pick(partial.cond, chain(adjoint, partial.true_value, node),
                     chain(adjoint, partial.false_value, node))
    if isinstance(adjoint, Select) and _has_const_branch(adjoint, zero_only=True):
        return _pick(adjoint.cond, chain(adjoint.true_value, partial, node),
                     chain(adjoint.false_value, partial, node))
    product = adjoint * partial
    if _finite(partial, set() if node is None else {node, *node.children()}):
        return product
    return ops.select(adjoint == 0, Const(product.type, 0), product)


def _pick(cond: Expr, t: Expr, f: Expr) -> Expr:
    return t if t is f else Select(cond, t, f)


def _is_zero(e: Expr) -> bool:
    return isinstance(e, Const) and e.value == 0


def _is_one(e: Expr) -> bool:
    return isinstance(e, Const) and e.value == 1


def _has_const_branch(e: Select, zero_only: bool = False) -> bool:
    test = _is_zero if zero_only else (lambda b: isinstance(b, Const))
    return test(e.true_value) or test(e.false_value)


def _finite(e: Expr, primal: set, memo: dict | None = None) -> bool:
    """e is finite wherever its leaves (loads, variables, Params, the `primal` values)
    are: only + - * min max, selects, casts, division by a nonzero divisor and the
    bounded/smooth intrinsics (exp overflow aside)."""
    from ..ir.buffer import Param
    memo = {} if memo is None else memo
    if e in memo:
        return memo[e]
    if e in primal:
        return True
    match e:
        case Const():
            ok = not e.type.is_float or math.isfinite(e.value)
        case Binary() if e.op == "/":
            ok = _finite(e.a, primal, memo) and _finite(e.b, primal, memo) and _nonzero(e.b)
        case Intrinsic():
            ok = e.name in _FINITE_INTRINSICS and all(_finite(c, primal, memo) for c in e.args)
        case Binary() | Select() | Cast() | Not():
            ok = all(_finite(c, primal, memo) for c in e.children())
        case _:
            ok = isinstance(e, _LEAVES + (Param,))
    memo[e] = ok
    return ok


def _nonzero(d: Expr) -> bool:
    """d is a nonzero constant or `_replace_zero(x)`."""
    if isinstance(d, Const):
        return d.value != 0
    return (isinstance(d, Select) and isinstance(d.cond, Binary) and d.cond.op == "=="
            and d.cond.a is d.false_value and _is_zero(d.cond.b)
            and isinstance(d.true_value, Const) and d.true_value.value != 0)
