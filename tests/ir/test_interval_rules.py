"""Interval rules of the intrinsics table: every monotone-piecewise function bounds
its values from its argument's interval (so an index through abs, floor, sqrt, ... is
not "data-dependent"), checked against NumPy on samples of the interval; and bounds
inference uses them end to end."""

import numpy as np
import pytest

import halogrid as hg
from halogrid.ir import intrinsics, ops
from halogrid.ir.expr import Const, Var
from halogrid.ir.interval import Interval, bounds_of

F32 = hg.Float(32)
ONE_ARG = ["abs", "exp", "log", "sqrt", "sin", "cos", "tanh", "floor", "ceil", "round"]


def _const_interval(name, lo, hi):
    v = Var("v", F32)
    got = bounds_of(ops.call_intrinsic(name, v), {v: Interval(Const(F32, lo), Const(F32, hi))})
    assert isinstance(got.min, Const) and isinstance(got.max, Const), (name, got)
    return got.min.value, got.max.value


@pytest.mark.parametrize("name", ONE_ARG)
def test_interval_contains_every_value_and_is_tight_for_monotone_rows(name, rng):
    fn = intrinsics.lookup(name).numpy
    for _ in range(40):
        lo, hi = np.sort(rng.uniform(-6, 6, 2)).astype(np.float32)
        if name in ("log", "sqrt"):
            lo, hi = np.float32(abs(lo) + 0.01), np.float32(abs(hi) + 0.5)
            lo, hi = min(lo, hi), max(lo, hi)
        samples = np.concatenate([np.linspace(lo, hi, 101, dtype=np.float32), [0.0]])
        samples = samples[(samples >= lo) & (samples <= hi)]
        values = fn(samples.astype(np.float64))
        bmin, bmax = _const_interval(name, float(lo), float(hi))
        tol = 1e-6 * (1 + np.abs(values).max())
        assert values.min() >= bmin - tol and values.max() <= bmax + tol, (name, lo, hi)
        if intrinsics.lookup(name).monotonic in ("up", "valley"):  # exact, not just safe
            assert values.min() == pytest.approx(bmin, abs=tol)
            assert values.max() == pytest.approx(bmax, abs=tol)


def test_abs_interval_for_signs_and_unbounded_ends():
    v = Var("v", hg.Int(32))
    i32 = hg.Int(32)

    def of(lo, hi):
        iv = Interval(*[None if end is None else Const(i32, end) for end in (lo, hi)])
        got = bounds_of(ops.abs(v), {v: iv})
        return tuple(None if e is None else e.value for e in (got.min, got.max))

    assert of(2, 5) == (2, 5)
    assert of(-5, -2) == (2, 5)
    assert of(-3, 7) == (0, 7)
    assert of(-9, 7) == (0, 9)
    assert of(None, -4) == (4, None)
    assert of(3, None) == (3, None)
    assert of(None, None) == (0, None)


def test_sqrt_below_its_domain_bounds_nothing():
    v = Var("v", F32)
    got = bounds_of(ops.sqrt(v), {v: Interval(Const(F32, -1.0), Const(F32, 4.0))})
    assert got.min is None and got.max.value == 2.0


def test_atan2_is_bounded_by_pi():
    v = Var("v", F32)
    got = bounds_of(ops.atan2(v, v), {})
    assert got.min.value <= -np.pi and got.max.value >= np.pi
    assert got.max.value - np.pi < 1e-6


def test_indices_through_abs_floor_sqrt_and_mirrored_taps_compile():
    table = np.arange(20, dtype=np.float32) * 1.5
    b = hg.Buffer(table, name="b")
    x = hg.Var("x")
    mirrored = hg.Func("mirrored")
    mirrored[x] = b[hg.abs(x - 3)]
    root = hg.Func("root")
    root[x] = b[hg.i32(hg.floor(hg.sqrt(hg.f32(x))))]
    rounded = hg.Func("rounded")
    rounded[x] = b[hg.i32(hg.round(hg.f32(x) * 0.5)) + hg.i32(hg.ceil(hg.tanh(hg.f32(x))))]
    n = 7
    got = hg.Pipeline([mirrored, root, rounded]).compile()(shapes=[(n,)] * 3)
    xs = np.arange(n)
    np.testing.assert_array_equal(got[0], table[np.abs(xs - 3)])
    np.testing.assert_array_equal(got[1], table[np.floor(np.sqrt(xs)).astype(int)])
    np.testing.assert_array_equal(
        got[2], table[np.rint(xs * 0.5).astype(int) + np.ceil(np.tanh(xs)).astype(int)])


def test_abs_of_unbounded_data_is_still_refused():
    idx = hg.Buffer(np.array([-2, 1, 3], np.int32), name="idx")
    b = hg.Buffer(np.arange(5, dtype=np.float32), name="b")
    x = hg.Var("x")
    f = hg.Func("f")
    f[x] = b[hg.abs(idx[x])]
    with pytest.raises(hg.BoundsError, match="data-dependent"):
        f.realize([3])


@pytest.mark.parametrize("t, dtype", [(hg.UInt(32), np.uint32), (hg.Int(64), np.int64),
                                      (hg.UInt(8), np.uint8)])
def test_a_cast_to_int32_keeps_constant_ends_that_fit(t, dtype):
    """i32(lab % 3) is within [0, 2] whatever lab's integer type: a histogram indexed by
    it needs no clamp (a same-width or narrowing cast only wraps values it cannot hold)."""
    x = hg.Var("x")
    lab = hg.ImageParam(t, 1, "lab")
    assert bounds_of(hg.i32(lab[x] % 3), {}) == Interval(Const(hg.Int(32), 0),
                                                          Const(hg.Int(32), 2))
    h = hg.Func("h")
    h[x] = hg.f64(0)
    r = hg.RDom([(0, 7)])
    h[hg.i32(lab[r] % 3)] += hg.f64(1)
    values = np.arange(7, dtype=dtype) * 5
    out = hg.Pipeline([h]).compile()(lab=values, shapes=[(3,)])
    np.testing.assert_array_equal(out, np.bincount(values % 3, minlength=3))
