"""Update definitions walked in reverse: reductions (+=, -=, *=, max/min, inline
reductions, implicit inits), scans / recursive filters over RDoms (gradients for the
input and the Param coefficient), and updates that overwrite earlier values.

Oracles: closed forms in NumPy, hand-written reverse loops, float64 finite differences.
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads

N, ROWS, COLS = 6, 4, 5
BIG = 1e30
REDUCTIONS = ["sum_minus", "product", "max_update", "min_update", "inline", "implicit_sum"]


@pytest.fixture(scope="module")
def reductions():
    y = hg.Var("y")
    v = hg.ImageParam(F64, 1, "v")
    m = hg.ImageParam(F64, 2, "m")
    G = hg.ImageParam(F64, 1, "G")
    r = hg.RDom([(0, N)], name="r")
    rc = hg.RDom([(0, COLS)], name="rc")
    ry = hg.RDom([(0, ROWS)], name="ry")

    s = hg.Func("s")
    s[()] = hg.f64(0.0)
    s[()] += v[r.x] ** 2
    s[()] -= v[r.x] * 0.5
    p = hg.Func("p")
    p[()] = hg.f64(1.0)
    p[()] *= v[r.x]
    mx = hg.Func("mx")
    mx[y] = hg.f64(-BIG)
    mx[y] = hg.max(mx[y], m[y, rc.x] * 1.5)
    mn = hg.Func("mn")
    mn[y] = hg.f64(BIG)
    mn[y] = hg.min(mn[y], m[y, rc.x])
    inl = hg.Func("inline")
    inl[y] = (hg.maximum(m[y, rc.x]) * 2.0 + hg.minimum(m[y, rc.x])
              + hg.product(m[y, rc.x]) + hg.sum(hg.tanh(m[y, rc.x])))
    q = hg.Func("q")
    q[y] += m[y, rc.x] * m[y, rc.x]  # implicit 0 init

    def rows(f, square=False):
        part = hg.Func(f"L_{f.name}")
        part[()] = hg.f64(0.0)
        part[()] += G[ry.x] * (f[ry.x] ** 2 if square else f[ry.x])
        return part[()]

    terms = {"sum_minus": s[()], "product": p[()], "max_update": rows(mx), "min_update": rows(mn),
             "inline": rows(inl), "implicit_sum": rows(q, True)}
    total = None
    for name in REDUCTIONS:
        w = hg.Param(F64, f"w_{name}", 0.0)
        total = w * terms[name] if total is None else total + w * terms[name]
    loss = hg.Func("loss")
    loss[()] = total
    return GradFn(loss, [v, m])


def _red_inputs(rng):
    return {"v": rng.uniform(0.5, 1.5, N) * rng.choice([-1, 1], N),
            "m": rng.standard_normal((ROWS, COLS)), "G": rng.standard_normal(ROWS)}


def _only(name):
    return {f"w_{n}": float(n == name) for n in REDUCTIONS}


def _argmask(m, fn):
    mask = np.zeros_like(m)
    mask[np.arange(m.shape[0]), fn(m, axis=1)] = 1.0
    return mask


def _expected(name, v, m, G):
    """(d/dv, d/dm) in closed form."""
    zv, zm = np.zeros_like(v), np.zeros_like(m)
    if name == "sum_minus":
        return 2 * v - 0.5, zm
    if name == "product":
        return np.array([np.prod(np.delete(v, i)) for i in range(N)]), zm
    if name == "max_update":
        return zv, 1.5 * G[:, None] * _argmask(m, np.argmax)
    if name in ("min_update",):
        return zv, G[:, None] * _argmask(m, np.argmin)
    if name == "inline":
        prod_others = np.stack([np.prod(np.delete(m, j, axis=1), axis=1) for j in range(COLS)], 1)
        d = 2 * _argmask(m, np.argmax) + _argmask(m, np.argmin) + prod_others + 1 - np.tanh(m) ** 2
        return zv, G[:, None] * d
    if name == "implicit_sum":
        q = np.sum(m * m, axis=1)
        return zv, (2 * G * q)[:, None] * 2 * m
    raise KeyError(name)


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_gradients_match_closed_forms(reductions, rng, name):
    inputs = _red_inputs(rng)
    _, (gv, gm), _ = reductions({**inputs, **_only(name)})
    ev, em = _expected(name, inputs["v"], inputs["m"], inputs["G"])
    np.testing.assert_allclose(gv, ev, rtol=1e-12, atol=1e-12, err_msg=f"{name}: d/dv")
    np.testing.assert_allclose(gm, em, rtol=1e-12, atol=1e-12, err_msg=f"{name}: d/dm")


def test_reductions_agree_with_finite_differences(reductions, rng):
    weights = {f"w_{n}": float(rng.standard_normal()) for n in REDUCTIONS}
    check_grads(reductions, {**_red_inputs(rng), **weights}, rng, n_dirs=4)


def test_product_reduction_with_an_exact_zero_factor_has_the_true_gradient(reductions, rng):
    """d/dv_i prod(v) = prod_{j != i} v_j, also where some v_j == 0 (no 0/0)."""
    inputs = _red_inputs(rng)
    inputs["v"][2] = 0.0
    _, (gv, _), _ = reductions({**inputs, **_only("product")})
    expected = np.array([np.prod(np.delete(inputs["v"], i)) for i in range(N)])
    np.testing.assert_allclose(gv, expected, rtol=1e-12, atol=1e-12)


# ---- scans / recursive filters ----------------------------------------------------


@pytest.fixture(scope="module")
def scan():
    """f[x] = in[x]; f[r] = f[r-1] * a + in[r] (r in [1, N)); loss = sum G * f**2."""
    x = hg.Var("x")
    inp = hg.ImageParam(F64, 1, "inp")
    G = hg.ImageParam(F64, 1, "G")
    a = hg.Param(F64, "a", 0.5)
    f = hg.Func("iir")
    f[x] = inp[x]
    r = hg.RDom([(1, N - 1)], name="r")
    f[r.x] = f[r.x - 1] * a + inp[r.x]
    rl = hg.RDom([(0, N)], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += G[rl.x] * f[rl.x] ** 2
    return GradFn(loss, [inp, a])


def _scan_oracle(inp, G, a):
    f = inp.copy()
    for i in range(1, N):
        f[i] = f[i - 1] * a + inp[i]
    adj = 2 * G * f
    for i in range(N - 2, -1, -1):  # reverse sweep: adj_f[i] += a * adj_f[i+1]
        adj[i] += a * adj[i + 1]
    return adj, float(np.sum(adj[1:] * f[:-1]))


def test_scan_gradients_for_input_and_coefficient_match_reverse_sweep(scan, rng):
    inputs = {"inp": rng.standard_normal(N), "G": rng.standard_normal(N), "a": 0.7}
    _, (g_in, g_a), _ = scan(inputs)
    e_in, e_a = _scan_oracle(inputs["inp"], inputs["G"], 0.7)
    assert np.shape(g_a) == ()
    np.testing.assert_allclose(g_in, e_in, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_a, e_a, rtol=1e-12)


def test_scan_agrees_with_finite_differences(scan, rng):
    check_grads(scan, {"inp": rng.standard_normal(N), "G": rng.standard_normal(N), "a": -0.6},
                rng, n_dirs=4)


def test_two_dimensional_scan_over_an_rdom_agrees_with_finite_differences(rng):
    """A row-wise recursive filter written over a 2-D RDom (rows outer, x inner)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(F64, 2, "inp")
    a = hg.Param(F64, "a", 0.5)
    f = hg.Func("iir2")
    f[y, x] = inp[y, x]
    r = hg.RDom([(0, ROWS), (1, COLS - 1)], name="r")
    f[r[0], r[1]] = f[r[0], r[1] - 1] * a + inp[r[0], r[1]] * (1.0 - a)
    rl = hg.RDom([(0, ROWS), (0, COLS)], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += hg.sin(f[rl[0], rl[1]]) * (rl[1] + 1.0)
    gfn = GradFn(loss, [inp, a])
    check_grads(gfn, {"inp": rng.standard_normal((ROWS, COLS)), "a": 0.6}, rng, n_dirs=4)


def test_causal_then_anticausal_recursive_filter_agrees_with_finite_differences(rng):
    """Two scans in opposite directions (a smoothing IIR filter); the backward pass
    is written as Halide users do, at f[N-1-r]."""
    x = hg.Var("x")
    inp = hg.ImageParam(F64, 1, "inp")
    a = hg.Param(F64, "a", 0.5)
    f = hg.Func("smooth")
    f[x] = inp[x]
    r = hg.RDom([(1, N - 1)], name="r")
    f[r.x] = f[r.x - 1] * a + f[r.x] * (1.0 - a)
    f[N - 1 - r.x] = f[N - r.x] * a + f[N - 1 - r.x] * (1.0 - a)
    rl = hg.RDom([(0, N)], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += f[rl.x] ** 2 * (rl.x + 1.0)
    data = rng.standard_normal(N)
    ref = data.copy()
    for i in range(1, N):
        ref[i] = ref[i - 1] * 0.3 + ref[i] * 0.7
    for i in range(1, N):
        ref[N - 1 - i] = ref[N - i] * 0.3 + ref[N - 1 - i] * 0.7
    forward = f.realize([N], inp=data, a=0.3)  # the forward pipeline is valid
    np.testing.assert_allclose(forward, ref, rtol=1e-12)
    gfn = GradFn(loss, [inp, a])
    check_grads(gfn, {"inp": data, "a": 0.3}, rng, n_dirs=4)


# ---- updates that overwrite earlier values -----------------------------------------


@pytest.fixture(scope="module")
def overwrite():
    """f[x] = 2v; f[r in 2..4] = v**2 (overwrites); f[x] = 3 f[x] + v (a pure update
    reading f at the same point). Extra outputs: d[f, i] for every stage."""
    x = hg.Var("x")
    v = hg.ImageParam(F64, 1, "v")
    G = hg.ImageParam(F64, 1, "G")
    f = hg.Func("ow")
    f[x] = v[x] * 2.0
    r = hg.RDom([(2, 3)], name="r")
    f[r.x] = v[r.x] ** 2
    f[x] = f[x] * 3.0 + v[x]
    rl = hg.RDom([(0, N)], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += G[rl.x] * f[rl.x] ** 2
    stages = [lambda d, i=i: d[f, i] for i in (-1, 0, 1)]
    return GradFn(loss, [v], extra=stages, extra_shapes=[(N,)] * 3)


def _overwrite_forward(v):
    f = 2 * v
    f[2:5] = v[2:5] ** 2
    return 3 * f + v


def test_overwriting_updates_match_closed_form_and_finite_differences(overwrite, rng):
    inputs = {"v": rng.standard_normal(N), "G": rng.standard_normal(N)}
    v, G = inputs["v"], inputs["G"]
    value, (gv,), _ = overwrite(inputs)
    f = _overwrite_forward(v)
    np.testing.assert_allclose(value, np.sum(G * f**2), rtol=1e-12)
    inner = np.where((np.arange(N) >= 2) & (np.arange(N) < 5), 2 * v, 2.0)
    np.testing.assert_allclose(gv, 2 * G * f * (3 * inner + 1), rtol=1e-12)
    check_grads(overwrite, inputs, rng, n_dirs=4)


def test_stage_adjoints_vanish_where_a_later_update_overwrote(overwrite, rng):
    """d[f, 1] is the final adjoint, d[f, 0] = 3 d[f, 1] (f = 3 f + v), and d[f, -1]
    (after the pure definition) is 0 on [2, 5), which update 0 overwrote."""
    inputs = {"v": rng.standard_normal(N), "G": rng.standard_normal(N)}
    _, _, (d_pure, d_u0, d_u1) = overwrite(inputs)
    final = 2 * inputs["G"] * _overwrite_forward(inputs["v"])
    np.testing.assert_allclose(d_u1, final, rtol=1e-12)
    np.testing.assert_allclose(d_u0, 3 * final, rtol=1e-12)
    expected_pure = 3 * final
    expected_pure[2:5] = 0.0
    np.testing.assert_array_equal(d_pure[2:5], 0.0)
    np.testing.assert_allclose(d_pure, expected_pure, rtol=1e-12)


def test_update_reading_a_point_that_a_later_iteration_overwrites(rng):
    """f[s] = f[s+1] / 2 for s = 0, 1 in order: f[0] reads f[1] BEFORE iteration 1
    overwrites it, so the old f[1] (= v[1]) still reaches the loss through f[0]."""
    x = hg.Var("x")
    v = hg.ImageParam(F64, 1, "v")
    f = hg.Func("shift_left")
    f[x] = v[x] * 1.0
    s = hg.RDom([(0, 2)], name="s")
    f[s.x] = f[s.x + 1] * 0.5
    rl = hg.RDom([(0, 4)], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += f[rl.x] * (rl.x + 1.0)
    gfn = GradFn(loss, [v], extra=[lambda d: d[f, -1]], extra_shapes=[(4,)])
    data = rng.standard_normal(4)
    value, (gv,), (d_pure,) = gfn({"v": data})
    # f = [v1/2, v2/2, v2, v3]; loss = v1/2 + 2 * v2/2 + 3 v2 + 4 v3.
    np.testing.assert_allclose(value, data[1] / 2 + data[2] + 3 * data[2] + 4 * data[3])
    np.testing.assert_allclose(d_pure, [0.0, 0.5, 4.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(gv, [0.0, 0.5, 4.0, 4.0], rtol=1e-12)
