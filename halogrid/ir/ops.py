"""Operator sugar and the public math functions: promote (types.match_types), then
construct strict nodes. Installing the operators on Expr happens at import time here.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from .. import errors
from . import intrinsics
from .expr import Binary, Cast, Const, Expr, Intrinsic, Not, Select, const
from .types import Float, Type, match_types

_LITERALS = (bool, int, float, np.bool_, np.integer, np.floating)

ExprLike = Union[Expr, int, float, bool, np.generic]
"""What every public expression function takes: an Expr, a Var, a Func or Buffer call, or
a Python/NumPy number (which becomes a constant of Halide's literal type)."""


def to_expr(value) -> Expr:
    """Any operand as an Expr (Python and NumPy scalars become constants)."""
    if isinstance(value, Expr):
        return value
    to_expr_hook = getattr(value, "_as_expr", None)
    if to_expr_hook is not None:
        return to_expr_hook()
    if isinstance(value, np.generic):
        from .types import from_dtype
        return Const(from_dtype(value.dtype), value.item())
    if isinstance(value, _LITERALS):
        return const(value)
    raise errors.type_mismatch(f"use {type(value).__name__} value {value!r} in an expression",
                               "only halogrid expressions and numbers are allowed",
                               "Wrap arrays in hg.Buffer and index them")


def cast(to: Type, value: ExprLike) -> Expr:
    """`value` converted to type `to` (floats to ints truncate toward zero, as in C).

    >>> hg.cast(hg.UInt(8), hg.clamp(img[y, x] * 255, 0, 255))
    """
    if _is_literal(value):  # build directly: f64(0.1) keeps double precision
        return Const(to, int(np.trunc(value)) if to.is_int and isinstance(value, float) else value)
    e = to_expr(value)
    if e.type == to:
        return e
    if isinstance(e, Const):
        if to.is_int and e.type.is_float:
            return Const(to, int(np.trunc(e.value)))
        return Const(to, e.value)
    return Cast(to, e)


def _is_literal(value) -> bool:
    return isinstance(value, _LITERALS) and not isinstance(value, Expr)


def promote(a, b) -> tuple[Expr, Expr]:
    """Both operands as Exprs of their common type."""
    ea, eb = to_expr(a), to_expr(b)
    common = match_types(ea.type, eb.type, _is_literal(a), _is_literal(b))
    return cast(common, a), cast(common, b)


def binary(op: str, a, b) -> Expr:
    ea, eb = promote(a, b)
    if op in ("&&", "||"):
        ea, eb = _as_bool(ea, op), _as_bool(eb, op)
    return Binary(op, ea, eb)


def _as_bool(e: Expr, op: str) -> Expr:
    if not e.type.is_bool:
        raise errors.type_mismatch(f"apply '{op}' to {e}", f"it has type {e.type}, not Bool",
                                   "Compare it first, e.g. (e != 0)")
    return e


def _div(a, b) -> Expr:
    return binary("/", a, b)


def _floordiv(a, b) -> Expr:
    q = binary("/", a, b)
    return floor(q) if q.type.is_float else q


def _mod(a, b) -> Expr:
    ea, eb = promote(a, b)
    if ea.type.is_float:
        return ea - eb * floor(ea / eb)
    return Binary("%", ea, eb)


def _pow(a, b) -> Expr:
    if isinstance(b, int) and not isinstance(b, bool) and 1 <= b <= 4:
        base = to_expr(a)
        result = base
        for _ in range(b - 1):
            result = result * base
        return result
    return pow(a, b)


def _neg(a) -> Expr:
    e = to_expr(a)
    return binary("-", Const(e.type, 0), e)


def _invert(a) -> Expr:
    return Not(_as_bool(to_expr(a), "~"))


def _install_operators() -> None:
    table = {
        "__add__": lambda a, b: binary("+", a, b), "__radd__": lambda a, b: binary("+", b, a),
        "__sub__": lambda a, b: binary("-", a, b), "__rsub__": lambda a, b: binary("-", b, a),
        "__mul__": lambda a, b: binary("*", a, b), "__rmul__": lambda a, b: binary("*", b, a),
        "__truediv__": _div, "__rtruediv__": lambda a, b: _div(b, a),
        "__floordiv__": _floordiv, "__rfloordiv__": lambda a, b: _floordiv(b, a),
        "__mod__": _mod, "__rmod__": lambda a, b: _mod(b, a),
        "__pow__": _pow, "__rpow__": lambda a, b: pow(b, a),
        "__neg__": _neg, "__pos__": lambda a: a, "__invert__": _invert,
        "__lt__": lambda a, b: binary("<", a, b), "__le__": lambda a, b: binary("<=", a, b),
        "__gt__": lambda a, b: binary("<", b, a), "__ge__": lambda a, b: binary("<=", b, a),
        "__eq__": lambda a, b: binary("==", a, b), "__ne__": lambda a, b: binary("!=", a, b),
        "__and__": lambda a, b: binary("&&", a, b), "__rand__": lambda a, b: binary("&&", b, a),
        "__or__": lambda a, b: binary("||", a, b), "__ror__": lambda a, b: binary("||", b, a),
    }
    for name, fn in table.items():
        setattr(Expr, name, fn)
    Expr.__hash__ = object.__hash__


_install_operators()


# ---- public functions ----------------------------------------------------------

def select(condition: ExprLike, true_value: ExprLike, false_value: ExprLike,
           *more: ExprLike) -> Expr:
    """`true_value` where `condition` holds, else `false_value` (both are computed: a
    blend, not a branch). N-ary: select(c1, a, c2, b, default) is the first match.

    >>> f[x] = hg.select(x < 3, 0.0, 1.0)
    >>> f[x] = hg.select(x < 3, 0.0, x < 6, 0.5, 1.0)
    """
    args = (condition, true_value, false_value) + more
    if len(args) % 2 == 0:
        raise errors.type_mismatch("build select", f"it takes an odd number >= 3 of arguments, "
                                   f"got {len(args)}", "Use select(cond, a, b)")
    if any(isinstance(v, tuple) for v in args[1::2] + args[-1:]):
        return _tuple_select(args)
    result = args[-1]
    for i in range(len(args) - 3, -1, -2):
        cond = _as_bool(to_expr(args[i]), "select")
        t, f = promote(args[i + 1], result)
        result = Select(cond, t, f)
    return to_expr(result)


def _tuple_select(args) -> tuple:
    """Halide's Tuple select: select(c, (a0, a1), (b0, b1)) is one select per value."""
    values = args[1::2] + args[-1:]
    sizes = {len(v) if isinstance(v, tuple) else None for v in values}
    if len(sizes) != 1 or None in sizes:
        raise errors.type_mismatch("build select", "its values mix tuples of different sizes "
                                   "or tuples and single values", "Give every value the same "
                                   "number of elements")
    n = sizes.pop()
    return tuple(select(*[a[i] if isinstance(a, tuple) else a for a in args]) for i in range(n))


def min(a: ExprLike, b: ExprLike, *rest: ExprLike) -> Expr:  # noqa: A001 - Halide's name
    """The smallest of two or more expressions (promoted to their common type).

    >>> f[x] = hg.min(img[x], 0.5)
    """
    result = binary("min", a, b)
    for r in rest:
        result = binary("min", result, r)
    return result


def max(a: ExprLike, b: ExprLike, *rest: ExprLike) -> Expr:  # noqa: A001
    """The largest of two or more expressions (promoted to their common type).

    >>> f[x] = hg.max(img[x], 0.0)         # ReLU
    """
    result = binary("max", a, b)
    for r in rest:
        result = binary("max", result, r)
    return result


def clamp(e: ExprLike, lo: ExprLike, hi: ExprLike) -> Expr:
    """min(max(e, lo), hi), with lo and hi converted to e's type.

    >>> f[y, x] = img[hg.clamp(y, 0, img.height() - 1), hg.clamp(x, 0, img.width() - 1)]
    """
    ee = to_expr(e)
    return Binary("min", Binary("max", ee, cast(ee.type, lo)), cast(ee.type, hi))


def lerp(a: ExprLike, b: ExprLike, w: ExprLike) -> Expr:
    """a + (b - a) * w: linear interpolation from a (w = 0) to b (w = 1).

    >>> f[x] = hg.lerp(img[x], img[x + 1], 0.25)
    """
    ea, eb = promote(a, b)
    return ea + (eb - ea) * w


def _float_args(args) -> list[Expr]:
    exprs = [to_expr(a) for a in args]
    if len(exprs) == 2:
        exprs = list(promote(args[0], args[1]))
    return [e if e.type.is_float else cast(Float(32), e) for e in exprs]


def call_intrinsic(name: str, *args) -> Expr:
    row = intrinsics.lookup(name)
    exprs = _float_args(args) if row.float_only else [to_expr(a) for a in args]
    return Intrinsic(name, tuple(exprs), exprs[0].type)


def _document(fn, name: str, what: str, example: str):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{what}\n\n    >>> {example}\n    "
    return fn


def _unary(name: str, what: str, example: str):
    """hg.<name>(e): one row of ir/intrinsics.py as a public function."""
    def fn(e: ExprLike) -> Expr:
        return call_intrinsic(name, e)
    return _document(fn, name, what, example)


def _binary(name: str, what: str, example: str):
    def fn(a: ExprLike, b: ExprLike) -> Expr:
        return call_intrinsic(name, a, b)
    return _document(fn, name, what, example)


_FLOAT = "; an integer argument becomes Float(32)"
exp = _unary("exp", "e raised to `e`" + _FLOAT + ".", "f[x] = hg.exp(-img[x] * img[x])")
log = _unary("log", "The natural logarithm" + _FLOAT + ".", "f[x] = hg.log(1.0 + img[x])")
sqrt = _unary("sqrt", "The square root" + _FLOAT + ".", "f[x] = hg.sqrt(img[x] * img[x] + 1.0)")
sin = _unary("sin", "The sine (radians)" + _FLOAT + ".", "f[x] = hg.sin(hg.f32(x) * 0.1)")
cos = _unary("cos", "The cosine (radians)" + _FLOAT + ".", "f[x] = hg.cos(hg.f32(x) * 0.1)")
tan = _unary("tan", "The tangent (radians)" + _FLOAT + ".", "f[x] = hg.tan(img[x])")
tanh = _unary("tanh", "The hyperbolic tangent" + _FLOAT + ".", "f[x] = hg.tanh(img[x])")
floor = _unary("floor", "The largest integer <= e, as a float" + _FLOAT + ".",
               "f[x] = lut[hg.i32(hg.floor(img[x] * 255))]")
ceil = _unary("ceil", "The smallest integer >= e, as a float" + _FLOAT + ".",
              "f[x] = hg.ceil(img[x] * 4)")
round = _unary("round", "e rounded to the nearest integer (halves to even), as a float"
               + _FLOAT + ".", "f[x] = hg.round(img[x] * 255) / 255")
abs = _unary("abs", "The absolute value, of the argument's type.",  # noqa: A001
             "f[x] = hg.abs(img[x] - img[x + 1])")
atan2 = _binary("atan2", "The angle of the point (b, a), i.e. atan(a / b) in (-pi, pi]"
                + _FLOAT + ".", "angle[y, x] = hg.atan2(dy[y, x], dx[y, x])")
pow = _binary("pow", "a raised to the power b (both promoted to a common float type).",
              "f[x] = hg.pow(img[x], 2.2)")


def f32(e: ExprLike) -> Expr:
    """`e` as Float(32); hg.f32(x) makes a loop index a float value.

    >>> f[x] = hg.f32(x) / 10
    """
    return cast(Float(32), e)


def f64(e: ExprLike) -> Expr:
    """`e` as Float(64); a Python float keeps double precision: hg.f64(0.1).

    >>> f[x] = hg.f64(img[x]) * hg.f64(0.1)
    """
    return cast(Float(64), e)


def i32(e: ExprLike) -> Expr:
    """`e` as Int(32), truncating floats toward zero; the cast data-dependent indices need.

    >>> f[y, x] = lut[hg.clamp(hg.i32(img[y, x] * 255), 0, 255)]
    """
    from .types import Int
    return cast(Int(32), e)

