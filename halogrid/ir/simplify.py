"""Algebraic simplification: per-node match/case rules and constant folding.

Invariant: simplify(e) evaluates to the same value as e for every binding of its
free variables (float rules never assume x*0 == 0 or x-x == 0, because of NaN/inf).
Integer arithmetic folds with Halide's semantics (floor division, non-negative
remainder, x/0 == 0) and wraps to the node's type.
"""

from __future__ import annotations

import numpy as np

from . import intrinsics
from .expr import Binary, Cast, Const, Expr, Intrinsic, Not, Select
from .visit import mutate_with


def halide_div(a: int, b: int) -> int:
    if b == 0:
        return 0
    q, r = divmod(a, b)
    return q + 1 if r < 0 else q  # r < 0 only when b < 0: round towards Euclid


def halide_mod(a: int, b: int) -> int:
    if b == 0:
        return 0
    r = a % b
    return r - b if r < 0 else r


def _wrap(t, value) -> Const:
    return Const(t, value)


def fold_binary(op: str, a: Const, b: Const) -> Const:
    """The value of `a op b` for two constants of the same type."""
    t, x, y = a.type, a.value, b.value
    if op in ("<", "<=", "==", "!="):
        return Const(_bool(), {"<": x < y, "<=": x <= y, "==": x == y, "!=": x != y}[op])
    if op in ("&&", "||"):
        return Const(_bool(), (x and y) if op == "&&" else (x or y))
    if op == "min":
        return Const(t, min(x, y))
    if op == "max":
        return Const(t, max(x, y))
    if t.is_float:
        with np.errstate(all="ignore"):
            fx, fy = np.asarray(x, t.dtype), np.asarray(y, t.dtype)
            value = {"+": fx + fy, "-": fx - fy, "*": fx * fy, "/": fx / fy,
                     "%": fx - fy * np.floor(fx / fy)}[op]
        return Const(t, float(value))
    value = {"+": x + y, "-": x - y, "*": x * y, "/": halide_div(x, y),
             "%": halide_mod(x, y)}[op]
    return _wrap(t, value)


def _bool():
    from .types import BOOL
    return BOOL


def _is(e: Expr, value) -> bool:
    return isinstance(e, Const) and e.value == value and not (e.type.is_float and value != value)


def _again(e: Binary) -> Expr:
    """e, simplified further where a rule applies (rules may rewrite into new Binaries)."""
    result = _simplify_binary(e)
    return e if result is None else result


def _simplify_binary(e: Binary) -> Expr | None:
    a, b, op, t = e.a, e.b, e.op, e.a.type
    match (op, a, b):
        case (_, Const(), Const()):
            return fold_binary(op, a, b)
        case ("+", Const(), _) | ("*", Const(), _) | ("min", Const(), _) | ("max", Const(), _):
            return _again(Binary(op, b, a))
        case ("+", _, Const()) if _is(b, 0):
            return a
        case ("-", _, Const()) if _is(b, 0):
            return a
        case ("*", _, Const()) if _is(b, 1):
            return a
        case ("/", _, Const()) if _is(b, 1):
            return a
        case ("*", _, Const()) if _is(b, 0) and t.is_int:
            return b
        case ("-", _, _) if a is b and t.is_int:
            return Const(t, 0)
        case ("-", _, Const()) if t.is_int:
            return _again(Binary("+", a, fold_binary("-", Const(t, 0), b)))
        case ("+", Binary(op="+", b=Const()), Const()) if t.is_int:
            return _again(Binary("+", a.a, fold_binary("+", a.b, b)))
        case ("-", Binary(op="+", b=Const()), _) if a.a is b and t.is_int:
            return a.b
        case ("-", Binary(op="+", b=Const()), Binary(op="+", b=Const())) if a.a is b.a and t.is_int:
            return fold_binary("-", a.b, b.b)
        case ("+", Binary(op="-", b=_), _) if a.b is b and t.is_int:
            return a.a
        case ("+", _, Binary(op="-", b=_)) if b.b is a and t.is_int:
            return b.a
        case ("+", _, Binary(op="+", a=Binary(op="-"), b=Const())) if b.a.b is a and t.is_int:
            return Binary("+", b.a.a, b.b)
        case ("min" | "max", _, _) if a is b:
            return a
        case ("min" | "max", Binary(op=op2), _) if op2 == op and (a.a is b or a.b is b):
            return a
        case ("min" | "max", Binary(op=op2), _) if op2 == op:
            inner = _simplify_binary(Binary(op, a.b, b))
            return None if inner is None else _again(Binary(op, a.a, inner))
        case ("min" | "max", Binary(op="+", b=Const()), Binary(op="+", b=Const())) if a.a is b.a:
            return Binary("+", a.a, fold_binary(op, a.b, b.b))
        case ("min" | "max", Binary(op="+", b=Const()), _) if a.a is b and t.is_int:
            return Binary("+", b, fold_binary(op, a.b, Const(t, 0)))
        case ("&&", Const(), _):
            return b if a.value else a
        case ("&&", _, Const()):
            return a if b.value else b
        case ("||", Const(), _):
            return a if a.value else b
        case ("||", _, Const()):
            return b if b.value else a
    return None


def _simplify_cast(e: Cast) -> Expr | None:
    match e.value:
        case Const() as c:
            value = c.value
            if e.to.is_int and isinstance(value, float):
                if value != value or value in (float("inf"), float("-inf")):
                    return None
                value = int(np.trunc(value))
            return Const(e.to, value)
        case Cast(value=inner) if inner.type == e.to and e.value.type.is_float and e.to.is_float:
            return inner if inner.type.bits <= e.value.type.bits else None
    return e.value if e.value.type == e.to else None


def _simplify_select(e: Select) -> Expr | None:
    if isinstance(e.cond, Const):
        return e.true_value if e.cond.value else e.false_value
    if e.true_value is e.false_value:
        return e.true_value
    return None


def _simplify_not(e: Not) -> Expr | None:
    match e.a:
        case Const() as c:
            return Const(c.type, not c.value)
        case Not(a=inner):
            return inner
    return None


def _simplify_intrinsic(e: Intrinsic) -> Expr | None:
    if all(isinstance(a, Const) for a in e.args):
        row = intrinsics.lookup(e.name)
        with np.errstate(all="ignore"):
            value = row.numpy(*[np.asarray(a.value, a.type.dtype) for a in e.args])
        return Const(e.rtype, value.item())
    return None


_RULES = {Binary: _simplify_binary, Cast: _simplify_cast, Select: _simplify_select,
          Not: _simplify_not, Intrinsic: _simplify_intrinsic}


_SIMPLIFIED: dict = {}  # node -> its simplified form; nodes are interned and immutable
# Entries hold their nodes alive, so the memo is emptied when it grows past this: a
# bounded memory for a process that builds pipelines for ever, never a cleared memo
# within one pipeline's lowering (W7's forward and gradient fill ~3,500 entries).
MEMO_LIMIT = 1 << 15


def simplify(e: Expr) -> Expr:
    """Fold constants and apply the rules above until nothing changes (bottom-up).
    Memoised (see MEMO_LIMIT): a pure function of an interned node, asked for the same
    subtrees by pass after pass."""
    if len(_SIMPLIFIED) > MEMO_LIMIT:
        _SIMPLIFIED.clear()
    return mutate_with(e, _RULES, _SIMPLIFIED)
