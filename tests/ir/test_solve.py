"""Index inversion (ir/solve.py), checked by substitution: at every solution the
index expressions evaluate to the targets, exactly when the predicates hold."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import halogrid as hg
from halogrid.ir.expr import Const
from halogrid.ir.simplify import simplify
from halogrid.ir.solve import invert
from halogrid.ir.types import INT32
from halogrid.ir.visit import substitute

x, y = hg.Var("x"), hg.Var("y")
t0, t1 = hg.Var("t0"), hg.Var("t1")
w = hg.ImageParam(hg.Float(32), 2, "w").width()


def _value(e, env: dict) -> int:
    out = simplify(substitute(e, {k: Const(INT32, v) for k, v in env.items()}))
    assert isinstance(out, Const), out
    return int(out.value)


def _check(args, loop_vars, targets, solved_vars, env=None):
    """Every target point in a small box either satisfies the predicates and maps back
    through the solution (for every k of a floor division), or fails a predicate and
    then no integer loop point reaches it."""
    inv = invert(args, loop_vars, targets)
    assert inv is not None and set(inv.solutions) == set(solved_vars)
    env = dict(env or {})
    ks = [range(c) for _, c in inv.multiplicity]
    for point in itertools.product(range(-5, 6), repeat=len(targets)):
        at = {**env, **dict(zip(targets, point))}
        if not all(_value(p, at) for p in inv.predicates):
            reach = [dict(zip(loop_vars, v)) for v in
                     itertools.product(range(-40, 41), repeat=len(loop_vars))]
            assert not any(all(_value(a, {**at, **r}) == _value(t, at)
                               for a, t in zip(args, targets)) for r in reach)
            continue
        for k in itertools.product(*ks):
            here = {**at, **{v: kv for (v, _), kv in zip(inv.multiplicity, k)}}
            loop_point = {v: _value(inv.solutions[v], here) for v in solved_vars}
            full = {**here, **loop_point}
            assert [_value(a, full) for a in args] == list(point)


def test_a_shift_and_a_swap_of_two_dimensions():
    _check([y, x + y], [y, x], [t0, t1], [x, y])
    _check([x + 2], [x], [t0], [x])


def test_a_stride_gives_a_divisibility_predicate():
    _check([x * 2 - 1], [x], [t0], [x])


def test_a_floor_division_enumerates_its_preimage():
    inv = invert([x / 3], [x], [t0])
    assert [c for _, c in inv.multiplicity] == [3]
    _check([x / 3], [x], [t0], [x])


def test_an_index_without_loop_vars_becomes_a_predicate():
    _check([x, hg.i32(3)], [x], [t0, t1], [x])


def test_a_symbolic_coefficient_picks_the_other_unknown():
    inv = invert([y * w + x], [y, x], [t0])
    assert set(inv.solutions) == {x}
    _check([y * w + x], [y, x], [t0], [x], env={y: 2, w: 7})


@pytest.mark.parametrize("args", [[x * x], [x + y, x + y]])
def test_non_linear_or_singular_systems_are_refused(args):
    assert invert(args, [x, y], [t0, t1][:len(args)]) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=4, max_size=4), st.integers(-4, 4),
       st.integers(-4, 4))
def test_random_affine_systems_map_back_to_their_targets(coefs, c0, c1):
    """args = M @ (y, x) + c for a random integer M. An invertible M is always solved
    (with divisibility predicates when det(M) != +-1); a singular one may be refused,
    or solved for some of the vars (the others stay free, set to 1 here, and an index
    without loop vars becomes a predicate). Whatever is returned maps back exactly."""
    a, b, c, d = coefs
    args = [y * a + x * b + c0, y * c + x * d + c1]
    inv = invert(args, [y, x], [t0, t1])
    if a * d - b * c != 0:
        assert inv is not None and set(inv.solutions) == {y, x}
    if inv is None:
        return
    for p0, p1 in itertools.product(range(-4, 5), repeat=2):
        at = {t0: p0, t1: p1, y: 1, x: 1}
        if all(_value(p, at) for p in inv.predicates):
            point = {**at, **{v: _value(e, at) for v, e in inv.solutions.items()}}
            assert [_value(e, point) for e in args] == [p0, p1]
