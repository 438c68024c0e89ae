"""Compiled integer / // and % for every Int and UInt width, against NumPy.

Halide's semantics (API.md): for a signed type, a == q*b + r with 0 <= r < |b|
(floor division for a positive divisor, Euclidean for a negative one); unsigned
division is plain; division by zero gives 0. The oracle computes in int64 from
np.mod and np.floor_divide and wraps to the operand type, independently of the
compiler's helpers."""

import numpy as np
import pytest

import halogrid as hg

SIGNED = [8, 16, 32, 64]
UNSIGNED = [8, 16, 32, 64]


def _halide_divmod(a, b, dtype):
    """(q, r) of Halide's integer division, computed in int64, wrapped to dtype."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    safe = np.where(b64 == 0, 1, b64)
    r = np.mod(a64, np.abs(safe))
    q = np.floor_divide(a64 - r, safe)
    zero = b64 == 0
    return (np.where(zero, 0, q).astype(dtype), np.where(zero, 0, r).astype(dtype))


def _operands(dtype, rng):
    info = np.iinfo(dtype)
    lo = max(int(info.min), -100)
    hi = min(int(info.max), 100)
    a = rng.integers(lo, hi + 1, size=64).astype(dtype)
    b = rng.integers(lo // 4, hi // 4 + 1, size=64).astype(dtype)
    b[:3] = [0, 1, 3]  # a zero divisor, one, a small positive one
    if info.min < 0:
        b[3:6] = [-1, -3, -7]
        a[:8] = [-7, 7, -1, -8, 8, 0, -100, 99]
    return a, b


def _compiled(exprs: dict, n: int):
    x = hg.Var("x")
    funcs = []
    for name, build in exprs.items():
        f = hg.Func(name)
        f[x] = build(x)
        funcs.append(f)
    return dict(zip(exprs, hg.Pipeline(funcs).compile(target="cpu")(shapes=[(n,)] * len(funcs))))


@pytest.mark.parametrize("code,bits",
                         [("int", b) for b in SIGNED] + [("uint", b) for b in UNSIGNED])
def test_division_and_modulo_of_every_integer_type(code, bits, rng):
    t = hg.Int(bits) if code == "int" else hg.UInt(bits)
    dtype = t.dtype
    a, b = _operands(dtype, rng)
    A, B = hg.Buffer(a, name="a"), hg.Buffer(b, name="b")
    c = hg.cast(t, 3)
    exprs = {
        "div": lambda x: A[x] / B[x],
        "floordiv": lambda x: A[x] // B[x],
        "mod": lambda x: A[x] % B[x],
        "div_const": lambda x: A[x] / c,
        "mod_const": lambda x: A[x] % c,
    }
    refs = {}
    refs["div"], refs["mod"] = _halide_divmod(a, b, dtype)
    refs["floordiv"] = refs["div"]
    three = np.full_like(a, 3)
    refs["div_const"], refs["mod_const"] = _halide_divmod(a, three, dtype)
    if code == "int":
        m = hg.cast(t, -3)
        exprs["div_negative_const"] = lambda x: A[x] / m
        exprs["mod_negative_const"] = lambda x: A[x] % m
        minus = np.full_like(a, -3)
        refs["div_negative_const"], refs["mod_negative_const"] = _halide_divmod(a, minus, dtype)
    got = _compiled(exprs, a.size)
    for name, want in refs.items():
        assert got[name].dtype == dtype, name
        np.testing.assert_array_equal(got[name], want, err_msg=name)
    if code == "int":  # the defining identity, on the compiled results themselves
        q, r = got["div"].astype(np.int64), got["mod"].astype(np.int64)
        nz = b != 0
        np.testing.assert_array_equal((q * b + r)[nz], a.astype(np.int64)[nz])
        assert ((r >= 0) & (r < np.abs(b.astype(np.int64)).clip(1))).all()
