"""Adjoints of tuple-valued Funcs: d[f] is a tuple with one adjoint Func per value
(d[f][0], d[f][1]), for pure tuple definitions, values read as f[x][i], selects, tuple
updates, tuple scans and tuple accumulations.

Oracles: closed forms in NumPy and float64 finite differences.
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads

N = 5


def _loss(name, term):
    """loss = sum over x in [0, N) of term(rl.x)."""
    rl = hg.RDom([(0, N)], name="rl")
    loss = hg.Func(name)
    loss[()] = hg.f64(0.0)
    loss[()] += term(rl.x)
    return loss


def _inputs(rng, scale=1.0):
    return {"a": rng.standard_normal(N) * scale, "b": rng.standard_normal(N) * scale}


def test_pure_tuple_func_has_one_adjoint_per_value(rng):
    """t = (a b, sin a + b); loss = sum t0^2 t1: d[t][0] = 2 t0 t1, d[t][1] = t0^2."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    t = hg.Func("pair")
    t[x] = (a[x] * b[x], hg.sin(a[x]) + b[x])
    loss = _loss("loss", lambda i: t[i][0] ** 2 * t[i][1])
    d = hg.propagate_adjoints(loss)
    assert isinstance(d[t], tuple) and len(d[t]) == 2
    assert all(isinstance(e, hg.Func) for e in d[t])
    gfn = GradFn(loss, [a, b], extra=[lambda d: d[t][0], lambda d: d[t][1]],
                 extra_shapes=[(N,), (N,)])
    inputs = _inputs(rng)
    A, B = inputs["a"], inputs["b"]
    _, (ga, gb), (dt0, dt1) = gfn(inputs)
    t0, t1 = A * B, np.sin(A) + B
    np.testing.assert_allclose(dt0, 2 * t0 * t1, rtol=1e-12)
    np.testing.assert_allclose(dt1, t0**2, rtol=1e-12)
    np.testing.assert_allclose(ga, 2 * t0 * t1 * B + t0**2 * np.cos(A), rtol=1e-12)
    np.testing.assert_allclose(gb, 2 * t0 * t1 * A + t0**2, rtol=1e-12)
    check_grads(gfn, inputs, rng, n_dirs=3)


@pytest.mark.parametrize("form", ["element_selects", "tuple_select"])
def test_tuple_selects_send_each_value_its_own_adjoint(rng, form):
    """t = (max(a, b), 2 min(a, b)), written with a select per value or as one tuple
    select; then a tuple update swaps the values with a tuple select where t0 > 1.
    loss = sum (x+1) t0 + t1^2."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    t = hg.Func("sorted_pair")
    if form == "tuple_select":
        t[x] = hg.select(a[x] > b[x], (a[x], b[x] * 2.0), (b[x], a[x] * 2.0))
    else:
        t[x] = (hg.select(a[x] > b[x], a[x], b[x]), hg.select(a[x] > b[x], b[x], a[x]) * 2.0)
    t[x] = hg.select(t[x][0] > 0.5, (t[x][1], t[x][0]), (t[x][0], t[x][1]))
    loss = _loss("loss", lambda i: t[i][0] * (i + 1.0) + t[i][1] ** 2)
    gfn = GradFn(loss, [a, b])
    A, B = np.array([0.3, -1.2, 2.0, 0.7, -0.4]), np.array([1.5, -0.1, -0.6, 0.2, -2.0])
    inputs = {"a": A, "b": B}
    value, (ga, gb), _ = gfn(inputs)
    w, hi, lo = np.arange(1.0, N + 1), np.maximum(A, B), 2 * np.minimum(A, B)
    swap = hi > 0.5  # [T, F, T, T, F]
    t0, t1 = np.where(swap, lo, hi), np.where(swap, hi, lo)
    np.testing.assert_allclose(value, np.sum(w * t0 + t1**2), rtol=1e-12)
    d_hi = np.where(swap, 2 * hi, w)  # d loss / d max(a, b)
    d_lo = np.where(swap, w, 2 * lo) * 2.0  # d loss / d min(a, b)
    np.testing.assert_allclose(ga, np.where(A > B, d_hi, d_lo), rtol=1e-12)
    np.testing.assert_allclose(gb, np.where(A > B, d_lo, d_hi), rtol=1e-12)
    check_grads(gfn, inputs, rng, n_dirs=3)


def test_tuple_updates_and_a_coupled_tuple_scan_agree_with_finite_differences(rng):
    """u = (a, b); u = (u0 u1, u0 + u1) (both values read both old values); then a scan
    whose values read each other's previous iteration. d[u, 0] is a tuple as well."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    u = hg.Func("coupled")
    u[x] = (a[x], b[x])
    u[x] = (u[x][0] * u[x][1], u[x][0] + u[x][1])
    r = hg.RDom([(1, N - 1)], name="r")
    u[r.x] = (u[r.x - 1][0] * u[r.x][1] + hg.sin(u[r.x - 1][1]), u[r.x - 1][0] + u[r.x][0])
    loss = _loss("loss", lambda i: u[i][0] * (i + 1.0) + u[i][1] ** 2)
    inputs = _inputs(rng, 0.5)
    A, B = inputs["a"], inputs["b"]
    u0, u1 = A * B, A + B
    for i in range(1, N):
        u0[i], u1[i] = u0[i - 1] * u1[i] + np.sin(u1[i - 1]), u0[i - 1] + u0[i]
    out = u.realize([N], a=A, b=B)
    np.testing.assert_allclose(out[0], u0, rtol=1e-12)
    np.testing.assert_allclose(out[1], u1, rtol=1e-12)
    gfn = GradFn(loss, [a, b], extra=[lambda d: d[u, 1][0], lambda d: d[u, 1][1]],
                 extra_shapes=[(N,), (N,)])
    _, _, (final0, final1) = gfn(inputs)
    np.testing.assert_allclose(final0, np.arange(1.0, N + 1), rtol=1e-12)
    np.testing.assert_allclose(final1, 2 * u1, rtol=1e-12)
    assert isinstance(hg.propagate_adjoints(loss)[u, 0], tuple)
    check_grads(gfn, inputs, rng, n_dirs=4)


def test_tuple_accumulation_over_an_rdom_matches_closed_form(rng):
    """w = (a, b); w += (a r, sin(b) r) for r in 0..2: w = (4 a, b + 3 sin b);
    loss = sum w0 w1: d a = 4 w1, d b = w0 (1 + 3 cos b)."""
    x = hg.Var("x")
    a, b = hg.ImageParam(F64, 1, "a"), hg.ImageParam(F64, 1, "b")
    w = hg.Func("sums")
    w[x] = (a[x], b[x])
    r = hg.RDom([(0, 3)], name="r")
    w[x] += (a[x] * r.x, hg.sin(b[x]) * r.x)
    loss = _loss("loss", lambda i: w[i][0] * w[i][1])
    gfn = GradFn(loss, [a, b])
    inputs = _inputs(rng)
    A, B = inputs["a"], inputs["b"]
    _, (ga, gb), _ = gfn(inputs)
    w0, w1 = 4 * A, B + 3 * np.sin(B)
    np.testing.assert_allclose(ga, 4 * w1, rtol=1e-12)
    np.testing.assert_allclose(gb, w0 * (1 + 3 * np.cos(B)), rtol=1e-12)


def test_tuple_with_an_integer_value_differentiates_its_float_value(rng):
    """t = (2 a, x) with an Int(32) value; loss = sum t0 * f64(t1): d a = 2 x."""
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    t = hg.Func("with_index")
    t[x] = (a[x] * 2.0, x)
    loss = _loss("loss", lambda i: t[i][0] * hg.f64(t[i][1]))
    gfn = GradFn(loss, [a], extra=[lambda d: d[t][0]], extra_shapes=[(N,)])
    _, (ga,), (dt0,) = gfn({"a": rng.standard_normal(N)})
    np.testing.assert_allclose(dt0, np.arange(N), rtol=1e-12)
    np.testing.assert_allclose(ga, 2.0 * np.arange(N), rtol=1e-12)


def test_tuple_reduction_and_tuple_loss_raise_differentiation_errors():
    """An argmax-with-payload tuple reduction overwrites the values it compared; a loss
    must have one value."""
    v = hg.ImageParam(F64, 1, "v")
    r = hg.RDom([(0, N)], name="r")
    best = hg.Func("best")
    best[()] = (hg.f64(-1e30), hg.f64(0.0))
    better = v[r.x] > best[()][0]
    best[()] = (hg.select(better, v[r.x], best[()][0]), hg.select(better, v[r.x] * 2.0, best[()][1]))
    loss = hg.Func("loss")
    loss[()] = best[()][1]
    with pytest.raises(hg.DifferentiationError, match="best"):
        hg.propagate_adjoints(loss)
    with pytest.raises(hg.DifferentiationError, match="best"):
        hg.propagate_adjoints(best)


def test_tuple_select_of_mismatched_values_is_refused():
    x = hg.Var("x")
    with pytest.raises(hg.TypeMismatchError, match="same number of elements"):
        hg.select(x < 2, (x, x * 2), (x,))
    with pytest.raises(hg.TypeMismatchError, match="tuples and single values"):
        hg.select(x < 2, (x, x * 2), x)
