"""Language level: every math function of API.md, Halide's integer division and
modulo, type promotion, casts, booleans and select. Many outputs share one compiled
pipeline to keep compile time down; a failure message names the output that differs."""

import numpy as np
import pytest

import halogrid as hg


def _check_outputs(pipeline_outputs, results, references, exact=()):
    """Compare each named result with its reference; report every mismatch at once."""
    failures = []
    for name, got in zip(pipeline_outputs, results):
        want = references[name]
        try:
            assert got.dtype == np.asarray(want).dtype, f"dtype {got.dtype} != {want.dtype}"
            if name in exact:
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        except AssertionError as e:  # collect, then fail with all names
            failures.append(f"{name}: {e}")
    assert not failures, "\n".join(failures)


def test_every_math_function_matches_numpy(rng):
    n = 24
    pos = (rng.random(n, dtype=np.float32) * np.float32(1.9) + np.float32(0.1))
    sgn = (rng.random(n, dtype=np.float32) * np.float32(4) - np.float32(2))
    wgt = rng.random(n, dtype=np.float32)
    halves = np.tile(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32), 4)
    A, B, W, HV = (hg.Buffer(v, name=nm) for v, nm in
                   [(pos, "pos"), (sgn, "sgn"), (wgt, "wgt"), (halves, "halves")])
    x = hg.Var("x")
    a, b, w, hv = A[x], B[x], W[x], HV[x]
    exprs = {
        "abs": (hg.abs(b), np.abs(sgn)),
        "exp": (hg.exp(b), np.exp(sgn)),
        "log": (hg.log(a), np.log(pos)),
        "sqrt": (hg.sqrt(a), np.sqrt(pos)),
        "pow": (hg.pow(a, b), np.power(pos, sgn)),
        "sin": (hg.sin(b), np.sin(sgn)),
        "cos": (hg.cos(b), np.cos(sgn)),
        "tan": (hg.tan(b * 0.5), np.tan(sgn * np.float32(0.5))),
        "tanh": (hg.tanh(b), np.tanh(sgn)),
        "atan2": (hg.atan2(b, a - 1.0), np.arctan2(sgn, pos - np.float32(1))),
        "floor": (hg.floor(b), np.floor(sgn)),
        "ceil": (hg.ceil(b), np.ceil(sgn)),
        "round_half_even": (hg.round(hv), np.rint(halves)),
        "round": (hg.round(b), np.rint(sgn)),
        "lerp": (hg.lerp(a, b, w), pos + (sgn - pos) * wgt),
        "clamp": (hg.clamp(b, -0.5, 0.75), np.clip(sgn, np.float32(-0.5), np.float32(0.75))),
        "min": (hg.min(a, b), np.minimum(pos, sgn)),
        "max": (hg.max(a, b), np.maximum(pos, sgn)),
        "select": (hg.select(b > 0, a, b), np.where(sgn > 0, pos, sgn)),
        "neg_pow2": (-(b ** 2), -(sgn * sgn)),
        "pow_operator_fractional": (a ** 0.5, np.power(pos, np.float32(0.5))),
        "pow_operator_cube": (b ** 3, sgn * sgn * sgn),
    }
    funcs = []
    for name, (e, _) in exprs.items():
        f = hg.Func(name)
        f[x] = e
        funcs.append(f)
    results = hg.Pipeline(funcs).compile(target="cpu")(shapes=[(n,)] * len(funcs))
    refs = {k: np.asarray(v[1], np.float32) for k, v in exprs.items()}
    _check_outputs(exprs, results, refs,
                   exact={"abs", "floor", "ceil", "round_half_even", "round", "clamp",
                          "min", "max", "select", "neg_pow2"})


def _euclid_divmod(a, b):
    """Halide's integer division: a == q*b + r with 0 <= r < |b|."""
    q = np.floor_divide(a, b)
    r = a - q * b
    neg = r < 0
    q = np.where(neg, q + 1, q)
    r = np.where(neg, r - b, r)
    return q.astype(a.dtype), r.astype(a.dtype)


def test_integer_division_and_modulo_follow_halide_floor_semantics():
    a = np.arange(-9, 10, dtype=np.int32)
    bpos = np.array([1, 2, 3, 4] * 5, np.int32)[:a.size]
    bneg = -bpos
    fl = (a.astype(np.float32) * np.float32(0.7))
    A, BP, BN, FL = (hg.Buffer(v, name=nm) for v, nm in
                     [(a, "a"), (bpos, "bpos"), (bneg, "bneg"), (fl, "fl")])
    x = hg.Var("x")
    q_neg, r_neg = _euclid_divmod(a, bneg)
    exprs = {
        "div": (A[x] / BP[x], np.floor_divide(a, bpos)),
        "floordiv": (A[x] // BP[x], np.floor_divide(a, bpos)),
        "mod": (A[x] % BP[x], np.mod(a, bpos)),
        "div_const": (A[x] / 4, np.floor_divide(a, 4)),
        "mod_const": (A[x] % 3, np.mod(a, 3)),
        "floordiv_const": (A[x] // 2, np.floor_divide(a, 2)),
        "div_negative_divisor": (A[x] / BN[x], q_neg),
        "mod_negative_divisor_is_non_negative": (A[x] % BN[x], r_neg),
        "var_div": (x / 3, np.arange(a.size, dtype=np.int32) // 3),
        "float_div_is_true_division": (FL[x] / 2, fl / np.float32(2)),
        "float_floordiv": (FL[x] // 0.75, np.floor(fl / np.float32(0.75))),
        "int_div_by_float_literal": (A[x] / 2.0, a.astype(np.float32) / np.float32(2)),
    }
    funcs = []
    for name, (e, _) in exprs.items():
        f = hg.Func(name)
        f[x] = e
        funcs.append(f)
    results = hg.Pipeline(funcs).compile(target="cpu")(shapes=[(a.size,)] * len(funcs))
    refs = {k: np.asarray(v[1]) for k, v in exprs.items()}
    _check_outputs(exprs, results, refs,
                   exact={k for k in exprs if k != "float_floordiv"})
    # the defining identity, checked on the results themselves
    by_name = dict(zip(exprs, results))
    q, r = by_name["div_negative_divisor"], by_name["mod_negative_divisor_is_non_negative"]
    np.testing.assert_array_equal(q * bneg + r, a)
    assert (r >= 0).all()


def test_type_promotion_follows_halide_rules():
    u8 = np.array([0, 10, 200, 255], np.uint8)
    u8b = np.array([1, 20, 100, 1], np.uint8)
    u16 = np.array([1, 300, 40000, 65535], np.uint16)
    i8 = np.array([-128, -1, 100, 127], np.int8)
    i16 = np.array([-300, 5, 1000, -32768], np.int16)
    i32 = np.array([-7, 3, 100000, -2], np.int32)
    f32 = np.array([0.1, -2.5, 3.25, 1e6], np.float32)
    f64 = np.array([0.1, 1e-12, -3.0, 2.0], np.float64)
    bufs = {nm: hg.Buffer(v, name=nm) for nm, v in
            [("u8", u8), ("u8b", u8b), ("u16", u16), ("i8", i8), ("i16", i16),
             ("i32", i32), ("f32", f32), ("f64", f64)]}
    x = hg.Var("x")
    L = {nm: b[x] for nm, b in bufs.items()}
    with np.errstate(over="ignore"):
        exprs = {
            "u8_plus_u8_wraps": (L["u8"] + L["u8b"], u8 + u8b),
            "u8_minus_u8_wraps": (L["u8"] - L["u8b"], u8 - u8b),
            "u8_plus_int_literal_stays_u8": (L["u8"] + 1, u8 + np.uint8(1)),
            "i8_times_int_literal_stays_i8": (L["i8"] * 2, i8 * np.int8(2)),
            "u8_times_float_literal_is_f32": (L["u8"] * 0.5, u8.astype(np.float32) * 0.5),
            "u8_plus_u16_is_u16": (L["u8"] + L["u16"], u8.astype(np.uint16) + u16),
            "u8_plus_i16_is_i16": (L["u8"] + L["i16"], u8.astype(np.int16) + i16),
            "u16_plus_i8_is_i16": (L["u16"] + L["i8"], u16.astype(np.int16) + i8.astype(np.int16)),
            "i16_plus_i32_is_i32": (L["i16"] + L["i32"], i16.astype(np.int32) + i32),
            "i32_plus_f32_is_f32": (L["i32"] + L["f32"], i32.astype(np.float32) + f32),
            "i32_plus_float_literal_is_f32": (L["i32"] + 2.5, i32.astype(np.float32) + np.float32(2.5)),
            "f32_plus_float_literal_is_f32": (L["f32"] + 0.1, f32 + np.float32(0.1)),
            "f32_plus_f64_is_f64": (L["f32"] + L["f64"], f32.astype(np.float64) + f64),
            "f64_plus_float_literal_is_f64": (L["f64"] + 0.1, f64 + 0.1),
            "i32_div_int_literal_is_floor": (L["i32"] / 2, np.floor_divide(i32, 2)),
            "f32_of_u8_over_255": (hg.f32(L["u8"]) / 255.0,
                                   u8.astype(np.float32) / np.float32(255)),
        }
    funcs = []
    for name, (e, _) in exprs.items():
        f = hg.Func(name)
        f[x] = e
        funcs.append(f)
    results = hg.Pipeline(funcs).compile(target="cpu")(shapes=[(4,)] * len(funcs))
    refs = {k: np.asarray(v[1]) for k, v in exprs.items()}
    # float division may be computed as a multiply by the reciprocal: allow an ulp
    _check_outputs(exprs, results, refs, exact=set(exprs) - {"f32_of_u8_over_255"})


def test_casts_wrap_integers_and_truncate_floats_toward_zero():
    ints = np.array([-1, 0, 255, 256, 300, -129], np.int32)
    u16 = np.array([0, 1, 40000, 65535, 32767, 32768], np.uint16)
    floats = np.array([-2.7, -0.5, 0.5, 2.7, 254.9, 1.99], np.float32)
    I, U, F = (hg.Buffer(v, name=nm) for v, nm in [(ints, "ints"), (u16, "u16"), (floats, "floats")])
    x = hg.Var("x")
    exprs = {
        "int_to_u8_wraps": (hg.cast(hg.UInt(8), I[x]), ints.astype(np.uint8)),
        "int_to_i8_wraps": (hg.cast(hg.Int(8), I[x]), ints.astype(np.int8)),
        "u16_to_i16_wraps": (hg.cast(hg.Int(16), U[x]), u16.astype(np.int16)),
        "float_to_i32_truncates": (hg.i32(F[x]), np.trunc(floats).astype(np.int32)),
        "float_to_i16_truncates": (hg.cast(hg.Int(16), F[x]), np.trunc(floats).astype(np.int16)),
        "int_to_f32": (hg.f32(I[x]), ints.astype(np.float32)),
        "f32_to_f64": (hg.f64(F[x]), floats.astype(np.float64)),
        "f64_literal_keeps_double": (hg.f64(0.1) * hg.f64(I[x]), 0.1 * ints.astype(np.float64)),
        "abs_float_to_u8": (hg.cast(hg.UInt(8), hg.abs(F[x])), np.trunc(np.abs(floats)).astype(np.uint8)),
    }
    funcs = []
    for name, (e, _) in exprs.items():
        f = hg.Func(name)
        f[x] = e
        funcs.append(f)
    results = hg.Pipeline(funcs).compile(target="cpu")(shapes=[(6,)] * len(funcs))
    refs = {k: np.asarray(v[1]) for k, v in exprs.items()}
    _check_outputs(exprs, results, refs, exact=set(exprs))


def test_float64_param_and_constants_keep_double_precision():
    p = hg.Param(hg.Float(64), "p", 0.1)
    x = hg.Var("x")
    f = hg.Func("dbl")
    f[x] = p + 0.2 + hg.f64(x) * hg.f64(0.1)
    fn = hg.Pipeline([f]).compile(target="cpu")
    out = fn(shapes=[(3,)])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, 0.1 + 0.2 + np.arange(3) * 0.1)
    assert out[0] == 0.30000000000000004  # float32 constants could not give this
    np.testing.assert_array_equal(fn(p=1e-10, shapes=[(3,)]), 1e-10 + 0.2 + np.arange(3) * 0.1)


def test_boolean_operators_nary_select_and_bool_outputs():
    vals = np.array([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], np.float32)
    V = hg.Buffer(vals, name="vals")
    x = hg.Var("x")
    v = V[x]
    cls = hg.Func("cls")
    cls[x] = hg.select((v > 0.2) & (v < 0.8), 1, ~(v < 0.5) | (v == 0.1), 2, 3)
    mask = hg.Func("mask")
    mask[x] = (v >= 0.5) & ~(v == 1.0) & (v != 0.3)
    picked = hg.Func("picked")
    picked[x] = hg.select(mask[x], v * 2.0, -v)
    got_cls, got_mask, got_picked = hg.Pipeline([cls, mask, picked]).compile()(shapes=[(7,)] * 3)

    inner = (vals > np.float32(0.2)) & (vals < np.float32(0.8))
    other = ~(vals < np.float32(0.5)) | (vals == np.float32(0.1))
    np.testing.assert_array_equal(got_cls, np.where(inner, 1, np.where(other, 2, 3)))
    assert got_cls.dtype == np.int32
    assert got_mask.dtype == np.bool_
    np.testing.assert_array_equal(got_mask, (vals >= 0.5) & (vals != 1.0))  # 0.3 < 0.5
    np.testing.assert_array_equal(got_picked, np.where(got_mask, vals * np.float32(2), -vals))


@pytest.mark.parametrize("bad", ["float_and", "float_invert"])
def test_boolean_operators_refuse_non_boolean_operands(bad):
    x = hg.Var("x")
    e = hg.f32(x)
    with pytest.raises(hg.TypeMismatchError) as info:
        if bad == "float_and":
            _ = (e > 1.0) & e
        else:
            _ = ~e
    assert isinstance(info.value, TypeError)
    assert "Bool" in str(info.value) or "bool" in str(info.value)
