"""Solving index equations: which consumer loop points read a given producer point.

`invert(args, loop_vars, targets)` solves args[i](loop vars) == targets[i] for some of
the loop vars. Index expressions may use +, -, multiplication, and one floor division
by a positive constant at the top (`x // 2`): then the preimage has several points,
enumerated by a new variable k in [0, c). The unknowns must appear linearly with
constant coefficients; other leaves (targets, extents, params) may appear in any
polynomial. Returns None when the system is not of that shape (data-dependent, clamped
or non-linear indices) or has no unique solution; the caller then falls back to a
scatter.

Polynomials are dicts {monomial: Fraction}, a monomial a sorted tuple of leaf numbers
(() is the constant term); exact rational Gaussian elimination solves the system.
(This replaced sympy, whose import alone cost 0.5 s per process.)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction

from .expr import Binary, Const, Expr, Extent, RVar, Var
from .types import INT32


@dataclass
class Inversion:
    solutions: dict = field(default_factory=dict)   # solved loop var -> Expr
    multiplicity: list = field(default_factory=list)  # (Var k, extent c): k in [0, c)
    predicates: list = field(default_factory=list)  # conditions on targets (Bool Exprs)


class _NotAffine(Exception):
    pass


def _add(p: dict, q: dict, scale: Fraction = Fraction(1)) -> dict:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0) + scale * c
        if out[m] == 0:
            del out[m]
    return out


def _mul(p: dict, q: dict) -> dict:
    out: dict = {}
    for (m1, c1), (m2, c2) in itertools.product(p.items(), q.items()):
        mono = tuple(sorted(m1 + m2))
        out[mono] = out.get(mono, 0) + c1 * c2
    return {m: c for m, c in out.items() if c != 0}


class _Polys:
    """Expr <-> polynomial, with one number per variable-like leaf."""

    def __init__(self):
        self.numbers: dict = {}   # leaf Expr -> number
        self.leaves: list = []    # number -> leaf Expr

    def leaf(self, e: Expr) -> dict:
        if e not in self.numbers:
            self.numbers[e] = len(self.leaves)
            self.leaves.append(e)
        return {(self.numbers[e],): Fraction(1)}

    def of(self, e: Expr) -> dict:
        from .buffer import Param
        if not e.type.is_int:
            raise _NotAffine()
        match e:
            case Const():
                return {(): Fraction(e.value)} if e.value else {}
            case Var() | RVar() | Extent() | Param():
                return self.leaf(e)
            case Binary(op="+"):
                return _add(self.of(e.a), self.of(e.b))
            case Binary(op="-"):
                return _add(self.of(e.a), self.of(e.b), Fraction(-1))
            case Binary(op="*"):
                return _mul(self.of(e.a), self.of(e.b))
        raise _NotAffine()

    def expr(self, p: dict) -> Expr:
        """An integer-coefficient polynomial as an Expr: positive terms first, then the
        negative ones subtracted, in first-appearance order of their leaves."""
        terms = sorted(p.items(), key=lambda mc: (len(mc[0]), mc[0]))
        result = None
        for positive in (True, False):
            for mono, coef in terms:
                if (coef > 0) != positive:
                    continue
                term = self._term(mono, abs(int(coef)))
                if result is None:
                    result = term if positive else Binary("-", Const(INT32, 0), term)
                else:
                    result = Binary("+" if positive else "-", result, term)
        return Const(INT32, 0) if result is None else result

    def _term(self, mono: tuple, coef: int) -> Expr:
        factors = [self.leaves[i] for i in mono]
        if coef != 1 or not factors:
            factors = [Const(INT32, coef)] + factors
        term = factors[0]
        for f in factors[1:]:
            term = Binary("*", term, f)
        return term


def _split_floordiv(arg: Expr):
    """(inner, c) for arg == inner / c with a positive constant c, else (arg, 1)."""
    if isinstance(arg, Binary) and arg.op == "/" and isinstance(arg.b, Const) and arg.b.value > 0:
        return arg.a, arg.b.value
    return arg, 1


def invert(args, loop_vars, targets) -> Inversion | None:
    """Solve args[i] == targets[i]; loop_vars are tried as unknowns in the given order."""
    polys = _Polys()
    result = Inversion()
    equations = []
    try:
        for i, (arg, target) in enumerate(zip(args, targets)):
            inner, c = _split_floordiv(arg)
            rhs = polys.leaf(target)
            if c > 1:
                k = Var(f"{target.name}.k{i}", INT32)
                result.multiplicity.append((k, c))
                rhs = _add(_mul({(): Fraction(c)}, rhs), polys.leaf(k))
            equations.append(_add(polys.of(inner), rhs, Fraction(-1)))
    except _NotAffine:
        return None
    loops = [polys.numbers[v] for v in loop_vars if v in polys.numbers]
    var_eqs = []
    for eq in equations:
        if _leaves_of(eq) & set(loops):
            var_eqs.append(eq)
        else:  # an index with no loop var: the target must equal it
            result.predicates.append(Binary("==", polys.expr(eq), Const(INT32, 0)))
    solved = _solve_linear(var_eqs, loops)
    if solved is None:
        return None
    for number, value in solved.items():
        den = math.lcm(*[c.denominator for c in value.values()]) if value else 1
        num = polys.expr({m: c * den for m, c in value.items()})
        if den != 1:
            result.predicates.append(Binary("==", Binary("%", num, Const(INT32, den)),
                                            Const(INT32, 0)))
            num = Binary("/", num, Const(INT32, den))
        result.solutions[polys.leaves[number]] = num
    return result


def _leaves_of(p: dict) -> set:
    return {i for mono in p for i in mono}


def _solve_linear(equations: list, candidates: list) -> dict | None:
    """{leaf number: polynomial} for the first set of candidates (in order) that solves
    the system uniquely, with constant coefficients on them; None when none does."""
    n = len(equations)
    if n == 0:
        return {}
    present = [u for u in candidates if any(u in _leaves_of(eq) for eq in equations)]
    for unknowns in itertools.combinations(present, n):
        system = _linear_system(equations, unknowns)
        if system is None:
            if _nonlinear(equations, unknowns):
                return None
            continue
        values = _eliminate(*system)
        if values is not None:
            return dict(zip(unknowns, values))
    return None


def _linear_system(equations: list, unknowns: tuple):
    """(matrix of Fractions, right-hand polynomials) of equations linear in `unknowns`
    with constant coefficients, else None."""
    matrix, rhs = [], []
    for eq in equations:
        row, rest = [Fraction(0)] * len(unknowns), {}
        for mono, coef in eq.items():
            hits = [u for u in unknowns if u in mono]
            if not hits:
                rest[mono] = -coef
            elif mono in {(u,) for u in unknowns}:
                row[unknowns.index(mono[0])] = coef
            else:
                return None
        matrix.append(row)
        rhs.append(rest)
    return matrix, rhs


def _nonlinear(equations: list, unknowns: tuple) -> bool:
    """An unknown in a product of two loop-dependent factors (not just a coefficient
    that is a symbol): no choice of unknowns makes the system affine."""
    return any(sum(mono.count(u) for u in unknowns) > 1 for eq in equations for mono in eq)


def _eliminate(matrix: list, rhs: list) -> list | None:
    """Gauss-Jordan elimination with exact Fractions; None when the matrix is singular."""
    n = len(matrix)
    matrix, rhs = [list(r) for r in matrix], [dict(p) for p in rhs]
    for col in range(n):
        pivot = next((r for r in range(col, n) if matrix[r][col] != 0), None)
        if pivot is None:
            return None
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        rhs[col], rhs[pivot] = rhs[pivot], rhs[col]
        scale = 1 / matrix[col][col]
        matrix[col] = [v * scale for v in matrix[col]]
        rhs[col] = {m: c * scale for m, c in rhs[col].items()}
        for r in range(n):
            if r != col and matrix[r][col] != 0:
                factor = matrix[r][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[col])]
                rhs[r] = _add(rhs[r], rhs[col], -factor)
    return rhs
