"""Solving index equations: which consumer loop points read a given producer point.

sympy stays inside this file (imported lazily: it costs 0.2-0.4 s).

`invert(args, loop_vars, targets)` solves args[i](loop vars) == targets[i] for some of
the loop vars. Index expressions may use +, -, multiplication by constants, and one
floor division by a positive constant at the top (`x // 2`): then the preimage has
several points, enumerated by a new variable k in [0, c). Returns None when the
system is not of that shape (data-dependent, clamped or non-linear indices) or has
no unique solution; the caller then falls back to a scatter.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .expr import Binary, Const, Expr, Extent, RVar, Var
from .types import INT32


@dataclass
class Inversion:
    solutions: dict = field(default_factory=dict)   # solved loop var -> Expr
    multiplicity: list = field(default_factory=list)  # (Var k, extent c): k in [0, c)
    predicates: list = field(default_factory=list)  # conditions on targets (Bool Exprs)


class _NotAffine(Exception):
    pass


class _Converter:
    """Expr <-> sympy, with one sympy symbol per variable-like leaf."""

    def __init__(self, sympy):
        self.sp = sympy
        self.symbols: dict = {}   # leaf Expr -> Symbol
        self.leaves: dict = {}    # Symbol -> leaf Expr

    def symbol(self, leaf: Expr):
        if leaf not in self.symbols:
            s = self.sp.Symbol(f"s{len(self.symbols)}", integer=True)
            self.symbols[leaf] = s
            self.leaves[s] = leaf
        return self.symbols[leaf]

    def to_sympy(self, e: Expr):
        from .buffer import Param
        if not e.type.is_int:
            raise _NotAffine()
        match e:
            case Const():
                return self.sp.Integer(e.value)
            case Var() | RVar() | Extent() | Param():
                return self.symbol(e)
            case Binary(op="+"):
                return self.to_sympy(e.a) + self.to_sympy(e.b)
            case Binary(op="-"):
                return self.to_sympy(e.a) - self.to_sympy(e.b)
            case Binary(op="*"):
                return self.to_sympy(e.a) * self.to_sympy(e.b)
        raise _NotAffine()

    def to_expr(self, s) -> Expr:
        sp = self.sp
        if s.is_Integer:
            return Const(INT32, int(s))
        if s.is_Symbol:
            return self.leaves[s]
        if s.is_Add or s.is_Mul:
            parts = [self.to_expr(a) for a in s.args]
            op = "+" if s.is_Add else "*"
            result = parts[0]
            for p in parts[1:]:
                result = Binary(op, result, p)
            return result
        raise _NotAffine(sp.srepr(s))


def _split_floordiv(arg: Expr):
    """(inner, c) for arg == inner / c with a positive constant c, else (arg, 1)."""
    if isinstance(arg, Binary) and arg.op == "/" and isinstance(arg.b, Const) and arg.b.value > 0:
        return arg.a, arg.b.value
    return arg, 1


def invert(args, loop_vars, targets) -> Inversion | None:
    """Solve args[i] == targets[i]; loop_vars are tried as unknowns in the given order."""
    import sympy
    conv = _Converter(sympy)
    result = Inversion()
    equations = []
    try:
        for i, (arg, target) in enumerate(zip(args, targets)):
            inner, c = _split_floordiv(arg)
            rhs = conv.symbol(target)
            if c > 1:
                k = Var(f"{target.name}.k{i}", INT32)
                result.multiplicity.append((k, c))
                rhs = c * rhs + conv.symbol(k)
            equations.append(conv.to_sympy(inner) - rhs)
    except _NotAffine:
        return None
    loop_symbols = [conv.symbols[v] for v in loop_vars if v in conv.symbols]
    pure_eqs = [eq for eq in equations if not eq.free_symbols & set(loop_symbols)]
    var_eqs = [eq for eq in equations if eq.free_symbols & set(loop_symbols)]
    for eq in pure_eqs:  # an index with no loop var: the target must equal it
        result.predicates.append(_eq_zero(conv, eq))
    solved = _solve_linear(sympy, var_eqs, loop_symbols)
    if solved is None:
        return None
    try:
        for sym, value in solved.items():
            num, den = sympy.fraction(sympy.together(value))
            if not den.is_Integer or den == 0:
                return None
            num_expr = conv.to_expr(sympy.expand(num * sympy.sign(den)))
            den_value = abs(int(den))
            if den_value != 1:
                result.predicates.append(Binary("==", Binary("%", num_expr, Const(INT32, den_value)),
                                                Const(INT32, 0)))
                num_expr = Binary("/", num_expr, Const(INT32, den_value))
            result.solutions[conv.leaves[sym]] = num_expr
    except _NotAffine:
        return None
    return result


def _eq_zero(conv: _Converter, eq) -> Expr:
    return Binary("==", conv.to_expr(eq), Const(INT32, 0))


def _solve_linear(sympy, equations, candidates):
    """{symbol: value} for the first set of candidates (in order) uniquely solving the system."""
    n = len(equations)
    if n == 0:
        return {}
    present = [s for s in candidates if any(s in eq.free_symbols for eq in equations)]
    for unknowns in itertools.combinations(present, n):
        try:
            matrix, rhs = sympy.linear_eq_to_matrix(equations, list(unknowns))
        except ValueError:  # sympy's NonlinearError: not an affine system
            return None
        if any(not entry.is_number for entry in matrix):
            continue
        if matrix.det() == 0:
            continue
        values = matrix.LUsolve(rhs)
        return dict(zip(unknowns, [sympy.expand(v) for v in values]))
    return None
