"""ir/solve.py cross-checked against sympy, the independent oracle.

For each index system args(loop vars) == targets, sympy.linsolve solves the same
equations (a floor division `e // c` becomes e == c*t + k, 0 <= k < c, with halogrid's
own k) for the loop vars halogrid solved: the solutions must be equal as rational
expressions, and at every integer target point of a box, halogrid's predicates hold
exactly when sympy's solution is an integer point that meets the equations with no
loop var. Where halogrid refuses a system (None), sympy finds no choice of unknowns,
in halogrid's order, that the system determines uniquely with constant coefficients.
"""

import itertools

import pytest
import sympy
from sympy.solvers.solveset import NonlinearError
from hypothesis import given, settings
from hypothesis import strategies as st

import halogrid as hg
from halogrid.ir.buffer import Param
from halogrid.ir.expr import Binary, Const, Extent, RVar, Var
from halogrid.ir.solve import invert

x, y, z = hg.Var("x"), hg.Var("y"), hg.Var("z")
t0, t1, t2 = hg.Var("t0"), hg.Var("t1"), hg.Var("t2")
w = hg.ImageParam(hg.Float(32), 2, "w").width()


class _Sym:
    """halogrid index Exprs -> sympy, one integer Symbol per leaf."""

    def __init__(self):
        self.symbols: dict = {}

    def leaf(self, e) -> sympy.Symbol:
        if e not in self.symbols:
            self.symbols[e] = sympy.Symbol(f"v{len(self.symbols)}", integer=True)
        return self.symbols[e]

    def __call__(self, e, exact_division: bool = False):
        match e:
            case Const():
                return sympy.Integer(int(e.value))
            case Var() | RVar() | Extent() | Param():
                return self.leaf(e)
            case Binary(op="+"):
                return self(e.a, exact_division) + self(e.b, exact_division)
            case Binary(op="-"):
                return self(e.a, exact_division) - self(e.b, exact_division)
            case Binary(op="*"):
                return self(e.a, exact_division) * self(e.b, exact_division)
            case Binary(op="/"):
                a, b = self(e.a, exact_division), self(e.b, exact_division)
                return a / b if exact_division else sympy.floor(a / b)
            case Binary(op="%"):
                return sympy.Mod(self(e.a), self(e.b))
            case Binary(op="=="):
                return sympy.Eq(self(e.a), self(e.b))
        raise TypeError(f"no sympy form for {e!r}")


_PY_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "/": lambda a, b: a // b, "%": lambda a, b: a % b, "==": lambda a, b: a == b}


def _py(e, env: dict):
    """Value of a halogrid predicate at integer leaves `env` (positive divisors only,
    where Halide's division is Python's floor division)."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Binary):
        return _PY_OPS[e.op](_py(e.a, env), _py(e.b, env))
    return env[e]


def _equations(sym: _Sym, args, targets, multiplicity) -> list:
    """args == targets as sympy expressions == 0, floor divisions unfolded with the
    k variables halogrid introduced (in the same order)."""
    ks = iter(multiplicity)
    eqs = []
    for arg, target in zip(args, targets):
        if isinstance(arg, Binary) and arg.op == "/" and isinstance(arg.b, Const):
            k, c = next(ks)
            assert c == arg.b.value
            eqs.append(sym(arg.a) - (c * sym(target) + sym(k)))
        else:
            eqs.append(sym(arg) - sym(target))
    return eqs


def _unique(eqs, unknowns):
    """sympy's unique solution of eqs for unknowns (dict), or None when sympy finds
    none, many, or coefficients on the unknowns that are not constants."""
    if not unknowns:   # nothing to solve: every index is a predicate
        return {}
    try:
        matrix, _ = sympy.linear_eq_to_matrix(eqs, unknowns)
    except NonlinearError:
        return None
    if matrix.free_symbols or matrix.rank() < len(unknowns):
        return None
    (solution,) = sympy.linsolve(eqs, unknowns)
    return dict(zip(unknowns, solution))


def _cross_check(args, loop_vars, targets, leaf_values=None, box=range(-4, 5)):
    inv = invert(args, loop_vars, targets)
    assert inv is not None, f"halogrid refused {args}"
    sym = _Sym()
    eqs = _equations(sym, args, targets, inv.multiplicity)
    unknowns = [sym(v) for v in inv.solutions]
    loops = {sym(v) for v in loop_vars}
    with_loops = [e for e in eqs if e.free_symbols & loops]
    without = [e for e in eqs if not e.free_symbols & loops]
    oracle = _unique(with_loops, unknowns)
    assert oracle is not None, f"sympy finds no unique solution for {unknowns}"
    for v, e in inv.solutions.items():
        assert sympy.simplify(sym(e, exact_division=True) - oracle[sym(v)]) == 0, (
            f"{v}: halogrid {e!r}, sympy {oracle[sym(v)]}")
    fixed = {sym(k): sympy.Integer(val) for k, val in (leaf_values or {}).items()}
    for point in itertools.product(box, repeat=len(targets)):
        for kv in itertools.product(*[range(c) for _, c in inv.multiplicity]):
            at = {**fixed, **{sym(t): p for t, p in zip(targets, point)},
                  **{sym(k): v for (k, _), v in zip(inv.multiplicity, kv)}}
            free = {s: 1 for s in loops - set(unknowns)}   # loop vars left free
            values = [oracle[u].subs({**at, **free}) for u in unknowns]
            reachable = (all(v.is_integer for v in values)
                         and all(e.subs({**at, **free}) == 0 for e in without))
            ints = {leaf: int(at.get(s, free.get(s, 0))) for leaf, s in sym.symbols.items()}
            holds = all(_py(p, ints) for p in inv.predicates)
            assert holds == reachable, (
                f"at {at}: predicates {inv.predicates} give {holds}, sympy {values}")


def _check_refused(args, loop_vars, targets):
    """halogrid returns None; sympy agrees that no choice of unknowns works."""
    assert invert(args, loop_vars, targets) is None
    sym = _Sym()
    ks = [(Var(f"k{i}"), a.b.value) for i, a in enumerate(args)
          if isinstance(a, Binary) and a.op == "/" and isinstance(a.b, Const)]
    eqs = _equations(sym, args, targets, ks)
    loops = [sym(v) for v in loop_vars]
    with_loops = [e for e in eqs if e.free_symbols & set(loops)]
    for unknowns in itertools.combinations(loops, len(with_loops)):
        assert _unique(with_loops, list(unknowns)) is None, f"sympy solves for {unknowns}"


@pytest.mark.parametrize("args,loop_vars,targets", [
    ([x + 2], [x], [t0]),
    ([y, x + y], [y, x], [t0, t1]),
    ([x * 2 - 1], [x], [t0]),
    ([x * 3 + y, x - y * 2], [y, x], [t0, t1]),
    ([x + y + z, y - z, x * 2 + z], [z, y, x], [t0, t1, t2]),
    ([x, hg.i32(3)], [x], [t0, t1]),
    ([x / 3], [x], [t0]),
    ([(x * 2 + y) / 2, y - x], [y, x], [t0, t1]),
])
def test_solutions_equal_sympy_linsolve(args, loop_vars, targets):
    _cross_check(args, loop_vars, targets)


def test_symbolic_offsets_and_coefficients_match_sympy():
    """A width in the constant term stays symbolic; a symbolic coefficient on y makes
    halogrid solve for x, as sympy does with y a parameter."""
    _cross_check([x + w, y - w * 2], [y, x], [t0, t1], leaf_values={w: 5})
    inv = invert([y * w + x], [y, x], [t0])
    assert set(inv.solutions) == {x}
    _cross_check([y * w + x], [y, x], [t0], leaf_values={w: 7})


@pytest.mark.parametrize("args", [[x * x, y], [x + y, x * 2 + y * 2], [x * y, x]])
def test_refused_systems_have_no_unique_affine_solution_in_sympy(args):
    _check_refused(args, [y, x], [t0, t1])


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=9, max_size=9),
       st.lists(st.integers(-4, 4), min_size=3, max_size=3), st.integers(1, 3))
def test_random_3x3_systems_agree_with_sympy(coefs, offsets, divisor):
    """args = M @ (z, y, x) + c, the first index floor-divided by `divisor`: halogrid
    solves exactly the systems sympy solves uniquely, with the same solutions."""
    rows = [coefs[0:3], coefs[3:6], coefs[6:9]]
    args = [z * a + y * b + x * c + off for (a, b, c), off in zip(rows, offsets)]
    if divisor > 1:
        args[0] = args[0] / divisor
    targets = [t0, t1, t2]
    if sympy.Matrix(rows).det() != 0:
        _cross_check(args, [z, y, x], targets, box=range(-1, 2))
    elif invert(args, [z, y, x], targets) is None:
        _check_refused(args, [z, y, x], targets)
    else:
        _cross_check(args, [z, y, x], targets, box=range(-1, 2))
