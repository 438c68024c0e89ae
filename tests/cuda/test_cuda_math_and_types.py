"""Every math function and integer type for target='cuda': the CPU target's values,
and float32 transcendentals within the CUDA Programming Guide's maximum errors
(libdevice, no fast math), in float32 ulps from the float64 NumPy value:

  exp 2, log 1, sin 2, cos 2, tan 4, tanh 2, atan2 3, pow 4 ulps;
  sqrt correctly rounded (0.5 ulp); floor, ceil, round, abs, min, max, clamp, select
  exact.

Under the simulator kernels run as Python: each value is computed in float64 and
rounded once, 0.49-0.50 ulp measured for every function; a GPU run measures
libdevice against the same bounds. Integer `/` and
`%` are Halide's (Euclidean: the remainder is in [0, |b|), 0 for a zero divisor),
bitwise equal to the CPU target and to a NumPy oracle for every integer type.
"""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import same

x, y = hg.Var("x"), hg.Var("y")
H, W = 8, 12

# function -> (hg function, NumPy float64, max ulps, domain of each argument)
UNARY = {
    "exp": (hg.exp, np.exp, 2, (-10.0, 10.0)),
    "log": (hg.log, np.log, 1, (1e-3, 1e3)),
    "sqrt": (hg.sqrt, np.sqrt, 0, (0.0, 100.0)),
    "sin": (hg.sin, np.sin, 2, (-10.0, 10.0)),
    "cos": (hg.cos, np.cos, 2, (-10.0, 10.0)),
    "tan": (hg.tan, np.tan, 4, (-1.5, 1.5)),
    "tanh": (hg.tanh, np.tanh, 2, (-5.0, 5.0)),
    "floor": (hg.floor, np.floor, 0, (-5.0, 5.0)),
    "ceil": (hg.ceil, np.ceil, 0, (-5.0, 5.0)),
    "round": (hg.round, np.rint, 0, (-5.0, 5.0)),
    "abs": (hg.abs, np.abs, 0, (-5.0, 5.0)),
}
BINARY = {
    "atan2": (hg.atan2, np.arctan2, 3, (-3.0, 3.0), (-3.0, 3.0)),
    "pow": (hg.pow, np.power, 4, (0.01, 4.0), (-3.0, 3.0)),
    "min": (hg.min, np.minimum, 0, (-1.0, 1.0), (-1.0, 1.0)),
    "max": (hg.max, np.maximum, 0, (-1.0, 1.0), (-1.0, 1.0)),
}


def _ulps(got: np.ndarray, want: np.ndarray) -> float:
    """Largest distance of float32 `got` from float64 `want`, in float32 ulps of want."""
    spacing = np.spacing(np.abs(want.astype(np.float32))).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want) / spacing))


def _sample(rng, lo, hi, dtype=np.float32):
    a = rng.uniform(lo, hi, (H, W)).astype(dtype)
    if lo < -0.5 and hi > 0.5:  # halfway points, where round-half-even matters
        a[0, :8] = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.0, -0.0], dtype)
    return a


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32_function_within_its_ulps(name, rng):
    fn, ref, ulps, (lo, hi) = UNARY[name]
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    out = hg.Func(name)
    out[y, x] = fn(inp[y, x])
    a = _sample(rng, lo, hi)
    (got,) = same(out, rtol=4e-7, atol=0, inp=a)
    assert got.dtype == np.float32
    assert _ulps(got, ref(a.astype(np.float64))) <= max(ulps, 0.5)  # 0.5: rounded once


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float32_function_within_its_ulps(name, rng):
    fn, ref, ulps, (lo, hi), (lo2, hi2) = BINARY[name]
    a_in = hg.ImageParam(hg.Float(32), 2, "a")
    b_in = hg.ImageParam(hg.Float(32), 2, "b")
    out = hg.Func(name)
    out[y, x] = fn(a_in[y, x], b_in[y, x])
    a, bb = _sample(rng, lo, hi), _sample(rng, lo2, hi2)
    (got,) = same(out, rtol=4e-7, atol=0, a=a, b=bb)
    assert _ulps(got, ref(a.astype(np.float64), bb.astype(np.float64))) <= max(ulps, 0.5)


def test_float64_functions_keep_double_precision(rng):
    """One Func of float64 math (a tuple): within 4 float64 ulps of NumPy."""
    inp = hg.ImageParam(hg.Float(64), 2, "inp")
    v = inp[y, x]
    out = hg.Func("f64")
    out[y, x] = (hg.exp(v), hg.log(v), hg.sqrt(v), hg.sin(v), hg.tanh(v),
                 hg.atan2(v, 1.5 - v), hg.pow(v, 1.7), hg.floor(v * 3) + hg.round(v * 5))
    a = rng.uniform(0.01, 3.0, (H, W))
    got = same(out, rtol=1e-15, atol=0, inp=a)
    want = (np.exp(a), np.log(a), np.sqrt(a), np.sin(a), np.tanh(a), np.arctan2(a, 1.5 - a),
            a ** 1.7, np.floor(a * 3) + np.rint(a * 5))
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, w, rtol=1e-15 * 4)


def test_lerp_clamp_select_and_comparisons(rng):
    a_in = hg.ImageParam(hg.Float(32), 2, "a")
    b_in = hg.ImageParam(hg.Float(32), 2, "b")
    a, bb = a_in[y, x], b_in[y, x]
    out = hg.Func("mix")
    out[y, x] = (hg.lerp(a, bb, 0.25), hg.clamp(a, -0.5, 0.5),
                 hg.select(a > bb, a - bb, (a < 0.0) & (bb < 0.0), a * bb, bb))
    va, vb = _sample(rng, -1, 1), _sample(rng, -1, 1)
    lerp, clamp, sel = same(out, a=va, b=vb)
    np.testing.assert_allclose(lerp, va + (vb - va) * np.float32(0.25), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(clamp, np.clip(va, -0.5, 0.5))
    want = np.where(va > vb, va - vb, np.where((va < 0) & (vb < 0), va * vb, vb))
    np.testing.assert_array_equal(sel, want)


INT_TYPES = {"int8": hg.Int(8), "int16": hg.Int(16), "int32": hg.Int(32),
             "int64": hg.Int(64), "uint8": hg.UInt(8), "uint16": hg.UInt(16),
             "uint32": hg.UInt(32)}


def _euclid(a, b):
    """Halide's a / b and a % b for integers (0 where b == 0), computed in int64."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b == 0, 1, b)
    r = np.mod(a, np.abs(safe))
    q = (a - r) // safe
    return np.where(b == 0, 0, q), np.where(b == 0, 0, r)


@pytest.mark.parametrize("name", sorted(INT_TYPES))
def test_integer_division_modulo_and_casts(name, rng):
    """a / b, a % b and a // b keep the inputs' type; i32 casts widen before the
    arithmetic; f32 of a quotient. Signed divisors include 0 and negatives."""
    t = INT_TYPES[name]
    dtype = np.dtype(name)
    a_in = hg.ImageParam(t, 2, "a")
    b_in = hg.ImageParam(t, 2, "b")
    a, bb = a_in[y, x], b_in[y, x]
    out = hg.Func(f"ints_{name}")
    out[y, x] = (a / bb, a % bb, a // bb, hg.i32(a) - hg.i32(bb) * 3, hg.f32(a / bb) * 0.5)
    lo = -100 if dtype.kind == "i" else 0
    va = rng.integers(lo, 101, (H, W)).astype(dtype)
    vb = rng.integers(lo // 10, 11, (H, W)).astype(dtype)
    if dtype.kind == "u":
        vb = np.maximum(vb, 1).astype(dtype)  # unsigned operands never divide by 0 here
    quo, rem, floordiv, wide, half = same(out, a=va, b=vb)
    want_q, want_r = _euclid(va, vb)
    for got in (quo, rem, floordiv):
        assert got.dtype == dtype
    np.testing.assert_array_equal(quo, want_q)
    np.testing.assert_array_equal(floordiv, want_q)
    np.testing.assert_array_equal(rem, want_r)
    assert wide.dtype == np.int32
    np.testing.assert_array_equal(wide, va.astype(np.int64) - vb.astype(np.int64) * 3)
    np.testing.assert_array_equal(half, (want_q * 0.5).astype(np.float32))


def test_integer_constants_fold_like_halide(rng):
    """Negative literals and unsigned narrowing: -7 / 2 == -4, -7 % 2 == 1, and
    u8(300) wraps to 44."""
    inp = hg.ImageParam(hg.Int(32), 2, "inp")
    out = hg.Func("consts")
    out[y, x] = (inp[y, x] / 2, inp[y, x] % -3, hg.cast(hg.UInt(8), inp[y, x] + 300))
    v = rng.integers(-20, 21, (H, W)).astype(np.int32)
    q, r, u8 = same(out, inp=v)
    np.testing.assert_array_equal(q, np.floor_divide(v, 2))
    np.testing.assert_array_equal(r, np.mod(v, 3))
    np.testing.assert_array_equal(u8, ((v.astype(np.int64) + 300) % 256).astype(np.uint8))
