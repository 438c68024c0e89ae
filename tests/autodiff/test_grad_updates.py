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


# ---- reads of values that a later update (or iteration) overwrites ------------------


def _sum_loss(f, n, weighted=False, power=1):
    """loss = sum_x (x + 1)**weighted * f[x]**power over [0, n)."""
    rl = hg.RDom([(0, n)], name="rl")
    loss = hg.Func(f"loss_{f.name}")
    loss[()] = hg.f64(0.0)
    term = f[rl.x] ** power if power != 1 else f[rl.x]
    loss[()] += term * (rl.x + 1.0) if weighted else term
    return loss


def test_values_read_before_a_later_update_overwrites_them_match_hand_derived_gradient():
    """f = a; f[2] = f[1] f[3]; f[3] = f[3] f[2]. Final f = [a0, a1, a1 a3, a1 a3^2, a4],
    so d a = [1, 1 + a3 + a3^2, 0, a1 (1 + 2 a3), 1]; update 1 read f[3] = a3, which it
    then overwrote. d[f, 0] (before update 1) = [1, 1, 1 + a3, a1 a3, 1]."""
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    f = hg.Func("two_writes")
    f[x] = a[x]
    f[2] = f[1] * f[3]
    f[3] = f[3] * f[2]
    gfn = GradFn(_sum_loss(f, 5), [a], extra=[lambda d: d[f, 0], lambda d: d[f, -1]],
                 extra_shapes=[(5,), (5,)])
    data = np.array([0.3, -0.7, 0.5, 0.9, 0.2])
    value, (ga,), (d_u0, d_pure) = gfn({"a": data})
    np.testing.assert_allclose(value, 0.3 - 0.7 - 0.63 - 0.567 + 0.2, rtol=1e-12)
    np.testing.assert_allclose(ga, [1.0, 2.71, 0.0, -1.96, 1.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d_u0, [1.0, 1.0, 1.9, -0.63, 1.0], rtol=1e-12)
    np.testing.assert_allclose(d_pure, ga, rtol=1e-12, atol=1e-15)


def test_in_place_permutation_update_reads_old_and_new_values():
    """f[r] = f[N-1-r] for r = 0..N-1 in order: the first half reads values not yet
    written (a[N-1-r]), the second half reads what the first half wrote, so f becomes
    the palindrome [a4, a3, a2, a3, a4] and d a = [0, 0, w2, w1 + w3, w0 + w4]."""
    n = 5
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    f = hg.Func("mirror")
    f[x] = a[x] * 1.0
    r = hg.RDom([(0, n)], name="r")
    f[r.x] = f[n - 1 - r.x]
    gfn = GradFn(_sum_loss(f, n, weighted=True), [a])
    data = np.arange(1.0, n + 1.0)
    value, (ga,), _ = gfn({"a": data})
    np.testing.assert_allclose(value, np.dot([5, 4, 3, 4, 5], np.arange(1, n + 1)))
    np.testing.assert_allclose(ga, [0.0, 0.0, 3.0, 2.0 + 4.0, 1.0 + 5.0], rtol=1e-12)


def test_nonlinear_in_place_permutation_agrees_with_finite_differences(rng):
    n = 6
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    f = hg.Func("mirror_scaled")
    f[x] = a[x] * 1.0
    r = hg.RDom([(0, n)], name="r")
    f[r.x] = hg.sin(f[n - 1 - r.x]) * (r.x + 2.0) + f[r.x]
    gfn = GradFn(_sum_loss(f, n, weighted=True, power=2), [a])
    data = rng.standard_normal(n)
    ref = data.copy()
    for i in range(n):
        ref[i] = np.sin(ref[n - 1 - i]) * (i + 2.0) + ref[i]
    np.testing.assert_allclose(gfn.value({"a": data}), np.dot(ref**2, np.arange(1, n + 1)),
                               rtol=1e-12)
    check_grads(gfn, {"a": data}, rng, n_dirs=4)


def test_nonlinear_forward_then_backward_scan_agrees_with_finite_differences(rng):
    """A causal then an anticausal scan over the same Func, both nonlinear in f: the
    backward scan reads what the forward scan wrote, and its own earlier iterations."""
    x = hg.Var("x")
    inp = hg.ImageParam(F64, 1, "inp")
    a = hg.Param(F64, "a", 0.5)
    f = hg.Func("nl_smooth")
    f[x] = inp[x]
    r = hg.RDom([(1, N - 1)], name="r")
    f[r.x] = hg.sin(f[r.x - 1]) * a + f[r.x] * f[r.x]
    f[N - 1 - r.x] = hg.tanh(f[N - r.x] * f[N - 1 - r.x]) + f[N - 1 - r.x] * a
    gfn = GradFn(_sum_loss(f, N, weighted=True), [inp, a])
    data = rng.standard_normal(N) * 0.5
    ref = data.copy()
    for i in range(1, N):
        ref[i] = np.sin(ref[i - 1]) * 0.4 + ref[i] ** 2
    for i in range(1, N):
        ref[N - 1 - i] = np.tanh(ref[N - i] * ref[N - 1 - i]) + ref[N - 1 - i] * 0.4
    np.testing.assert_allclose(f.realize([N], inp=data, a=0.4), ref, rtol=1e-12)
    check_grads(gfn, {"inp": data, "a": 0.4}, rng, n_dirs=4)


def test_scan_reading_two_earlier_iterations_and_chained_updates_agree_with_fd(rng):
    """f[r] = f[r-1] f[r-2] + sin(f[r]) reads two earlier iterations (one reversed
    update gathers both), then a pure-Var update and a fixed-point update read it."""
    x = hg.Var("x")
    inp = hg.ImageParam(F64, 1, "inp")
    f = hg.Func("fib_like")
    f[x] = inp[x]
    r = hg.RDom([(2, N - 2)], name="r")
    f[r.x] = f[r.x - 1] * f[r.x - 2] + hg.sin(f[r.x])
    f[x] = hg.tanh(f[x]) * inp[x]
    f[0] = f[N - 1] * f[1] + f[0]
    gfn = GradFn(_sum_loss(f, N, weighted=True), [inp])
    data = rng.standard_normal(N) * 0.8
    ref = data.copy()
    for i in range(2, N):
        ref[i] = ref[i - 1] * ref[i - 2] + np.sin(ref[i])
    ref = np.tanh(ref) * data
    ref[0] = ref[N - 1] * ref[1] + ref[0]
    np.testing.assert_allclose(f.realize([N], inp=data), ref, rtol=1e-12)
    check_grads(gfn, {"inp": data}, rng, n_dirs=4)


def test_scan_reading_an_earlier_iteration_it_cannot_solve_for_scatters_back(rng):
    """f[r] = sin(f[r // 2]) f[r]: the point r // 2 is read by two later iterations, so
    the reversed scan scatters to the read point instead of gathering."""
    n = 7
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    f = hg.Func("tree_scan")
    f[x] = a[x]
    r = hg.RDom([(1, n - 1)], name="r")
    f[r.x] = hg.sin(f[r.x // 2]) * f[r.x]
    gfn = GradFn(_sum_loss(f, n, weighted=True), [a])
    data = rng.standard_normal(n)
    ref = data.copy()
    for i in range(1, n):
        ref[i] = np.sin(ref[i // 2]) * ref[i]
    np.testing.assert_allclose(f.realize([n], a=data), ref, rtol=1e-12)
    check_grads(gfn, {"a": data}, rng, n_dirs=4)


def _image_loss(f):
    """loss = sum over the ROWS x COLS image of f**2 * (column + 1)."""
    rl = hg.RDom([(0, ROWS), (0, COLS)], name="rl")
    loss = hg.Func(f"loss_{f.name}")
    loss[()] = hg.f64(0.0)
    loss[()] += f[rl[0], rl[1]] ** 2 * (rl[1] + 1.0)
    return loss


def test_two_dimensional_scan_reading_earlier_and_later_iterations_agrees_with_fd(rng):
    """Over a 2-D RDom (rows outer): f[i-1, j+1] was written by an earlier row, f[i, j-1]
    by an earlier iteration of this row, f[i, j+1] not yet (its old value)."""
    y, x = hg.Var("y"), hg.Var("x")
    m = hg.ImageParam(F64, 2, "m")
    f = hg.Func("grid_scan")
    f[y, x] = m[y, x]
    r = hg.RDom([(1, ROWS - 1), (1, COLS - 2)], name="r")
    i, j = r[0], r[1]
    f[i, j] = hg.sin(f[i - 1, j + 1]) * f[i, j] + f[i, j - 1] * 0.5 + f[i, j + 1] ** 2 * 0.1
    data = rng.standard_normal((ROWS, COLS)) * 0.7
    ref = data.copy()
    for a in range(1, ROWS):
        for b in range(1, COLS - 1):
            ref[a, b] = (np.sin(ref[a - 1, b + 1]) * ref[a, b] + ref[a, b - 1] * 0.5
                         + ref[a, b + 1] ** 2 * 0.1)
    np.testing.assert_allclose(f.realize([ROWS, COLS], m=data), ref, rtol=1e-12)
    check_grads(GradFn(_image_loss(f), [m]), {"m": data}, rng, n_dirs=4)


def test_scan_over_an_rdom_with_a_predicate_agrees_with_finite_differences(rng):
    """Only even r are written: f[r - 2] was written by an earlier iteration (except at
    the start), f[r - 1] never is."""
    n = 8
    x = hg.Var("x")
    v = hg.ImageParam(F64, 1, "v")
    f = hg.Func("even_scan")
    f[x] = v[x]
    r = hg.RDom([(2, n - 2)], name="r")
    r.where(r.x % 2 == 0)
    f[r.x] = hg.tanh(f[r.x - 2]) * f[r.x - 1] + f[r.x]
    data = rng.standard_normal(n)
    ref = data.copy()
    for k in range(2, n, 2):
        ref[k] = np.tanh(ref[k - 2]) * ref[k - 1] + ref[k]
    np.testing.assert_allclose(f.realize([n], v=data), ref, rtol=1e-12)
    check_grads(GradFn(_sum_loss(f, n, weighted=True, power=2), [v]), {"v": data}, rng,
                n_dirs=4)


def test_scan_gated_by_a_predicate_that_reads_an_input_agrees_with_fd(rng):
    """r.where(g[r] > 0): the predicate reads an input, so the adjoint evaluates it only
    at iterations in range (solved iterations are clamped; the guards zero the rest)."""
    n = 8
    x = hg.Var("x")
    v, g = hg.ImageParam(F64, 1, "v"), hg.ImageParam(F64, 1, "g")
    f = hg.Func("gated")
    f[x] = v[x]
    r = hg.RDom([(1, n - 1)], name="r")
    r.where(g[r.x] > 0)
    f[r.x] = hg.sin(f[r.x - 1]) * f[r.x] + v[r.x - 1]
    data, gate = rng.standard_normal(n), np.array([1.0, 1, -1, 1, 1, -1, -1, 1])
    ref = data.copy()
    for i in range(1, n):
        if gate[i] > 0:
            ref[i] = np.sin(ref[i - 1]) * ref[i] + data[i - 1]
    np.testing.assert_allclose(f.realize([n], v=data, g=gate), ref, rtol=1e-12)
    check_grads(GradFn(_sum_loss(f, n, weighted=True, power=2), [v]), {"v": data, "g": gate},
                rng, n_dirs=4)


def test_row_scan_with_a_predicate_on_the_pure_var_agrees_with_finite_differences(rng):
    """r.where(r <= y): row y scans its first y + 1 columns (a triangle); the mask of
    written points reads the predicate at the adjoint's own coordinates."""
    y, x = hg.Var("y"), hg.Var("x")
    m = hg.ImageParam(F64, 2, "m")
    f = hg.Func("triangle")
    f[y, x] = m[y, x]
    r = hg.RDom([(1, COLS - 1)], name="r")
    r.where(r.x <= y)
    f[y, r.x] = hg.sin(f[y, r.x - 1]) + f[y, r.x] * 0.5
    data = rng.standard_normal((ROWS, COLS))
    ref = data.copy()
    for i in range(ROWS):
        for j in range(1, i + 1):
            ref[i, j] = np.sin(ref[i, j - 1]) + ref[i, j] * 0.5
    np.testing.assert_allclose(f.realize([ROWS, COLS], m=data), ref, rtol=1e-12)
    check_grads(GradFn(_image_loss(f), [m]), {"m": data}, rng, n_dirs=4)


def test_nonlinear_row_scan_with_a_param_agrees_with_finite_differences(rng):
    """A scan along an RVar for every row (pure Var y): f[y, r] = tanh(a f[y, r-1]) + in."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(F64, 2, "inp")
    a = hg.Param(F64, "a", 0.5)
    f = hg.Func("row_scan")
    f[y, x] = inp[y, x]
    r = hg.RDom([(1, COLS - 1)], name="r")
    f[y, r.x] = hg.tanh(f[y, r.x - 1] * a) + f[y, r.x]
    gfn = GradFn(_image_loss(f), [inp, a])
    check_grads(gfn, {"inp": rng.standard_normal((ROWS, COLS)), "a": 1.3}, rng, n_dirs=4)


def test_update_writing_a_point_twice_raises_instead_of_a_wrong_gradient():
    """f[r // 2] = f[r // 2] * 0.5 + v[r]: the value the first write left is read and
    overwritten within one update; it is gone when the adjoint needs it."""
    x = hg.Var("x")
    v = hg.ImageParam(F64, 1, "v")
    f = hg.Func("halving")
    f[x] = v[x] * 1.0
    r = hg.RDom([(0, 4)], name="r")
    f[r.x // 2] = hg.sin(f[r.x // 2]) + v[r.x]
    with pytest.raises(hg.DifferentiationError, match="halving") as info:
        hg.propagate_adjoints(_sum_loss(f, 2))
    assert "more than once" in str(info.value) and "extra dimension" in str(info.value)


@pytest.mark.parametrize("shape", ["sin", "max_of_self"])
def test_nonlinear_same_point_recurrence_over_an_rdom_raises_with_the_rewrite(shape):
    """f[x] = sin(f[x]) + m[x, r] and f[x] = max(f[x], f[x] m[x, r]) overwrite, at one
    point, every value the next iteration's partials need."""
    x = hg.Var("x")
    m = hg.ImageParam(F64, 2, "m")
    f = hg.Func("recur")
    f[x] = hg.f64(0.5)
    r = hg.RDom([(0, COLS)], name="r")
    if shape == "sin":
        f[x] = hg.sin(f[x]) + m[x, r.x]
    else:
        f[x] = hg.max(f[x], f[x] * m[x, r.x])
    with pytest.raises(hg.DifferentiationError, match="recur") as info:
        hg.propagate_adjoints(_sum_loss(f, ROWS))
    assert "extra dimension" in str(info.value)


# ---- update left sides that repeat a pure Var (diagonals) ----------------------------


def test_diagonal_updates_match_numpy_and_finite_differences(rng):
    """f[y, y] = 2 sin(f[y, y]) + m[y, 0] f[y, y+1] and f[y, y+1] = f[y, y] f[y, y+1]
    (Halide allows a pure Var inside another dim's index): forward vs NumPy, d m vs FD,
    and on the overwritten diagonal the pure stage's adjoint is what update 0's read
    of it sends back: d[f, 0] * 2 cos(m)."""
    y, x = hg.Var("y"), hg.Var("x")
    m = hg.ImageParam(F64, 2, "m")
    f = hg.Func("diag")
    f[y, x] = m[y, x]
    f[y, y] = hg.sin(f[y, y]) * 2.0 + m[y, 0] * f[y, y + 1]
    f[y, y + 1] = f[y, y] * f[y, y + 1]
    loss = _image_loss(f)
    data = rng.standard_normal((ROWS, COLS))
    ref = data.copy()
    for i in range(ROWS):
        ref[i, i] = np.sin(ref[i, i]) * 2.0 + data[i, 0] * ref[i, i + 1]
    for i in range(ROWS):
        ref[i, i + 1] = ref[i, i] * ref[i, i + 1]
    np.testing.assert_allclose(f.realize([ROWS, COLS], m=data), ref, rtol=1e-12)
    gfn = GradFn(loss, [m], extra=[lambda d: d[f, 0], lambda d: d[f, -1]],
                 extra_shapes=[(ROWS, COLS)] * 2)
    _, _, (d_u0, d_pure) = gfn({"m": data})
    diag = (np.arange(ROWS), np.arange(ROWS))
    # the pure stage's diagonal was overwritten; only update 0's read of it remains
    np.testing.assert_allclose(d_pure[diag], d_u0[diag] * 2.0 * np.cos(data[diag]), rtol=1e-12)
    check_grads(gfn, {"m": data}, rng, n_dirs=4)


def test_diagonal_max_reduction_and_accumulation_agree_with_finite_differences(rng):
    """f[y, y] = max(f[y, y], m[y, r]^2) (first-hit subgradient, no helper Func over the
    repeated Var) and f[y, y + 1] += m[y, r] m[(y + 1) % 4, r]."""
    y, x = hg.Var("y"), hg.Var("x")
    m = hg.ImageParam(F64, 2, "m")
    f = hg.Func("diag_max")
    f[y, x] = m[y, x] * 0.5
    r = hg.RDom([(0, COLS)], name="r")
    f[y, y] = hg.max(f[y, y], m[y, r.x] * m[y, r.x])
    f[y, y + 1] += m[y, r.x] * m[(y + 1) % ROWS, r.x]
    data = rng.standard_normal((ROWS, COLS))
    ref = data * 0.5
    for i in range(ROWS):
        ref[i, i] = max(ref[i, i], np.max(data[i] ** 2))
        ref[i, i + 1] += np.dot(data[i], data[(i + 1) % ROWS])
    np.testing.assert_allclose(f.realize([ROWS, COLS], m=data), ref, rtol=1e-12)
    check_grads(GradFn(_image_loss(f), [m]), {"m": data}, rng, n_dirs=4)


def test_second_order_through_a_nonlinear_forward_then_backward_scan_agrees_with_fd(rng):
    """d[inp] of a scan pipeline is a Func with reversed scans; differentiating
    sum(d[inp]^2) again goes through those scans (their reads are affine)."""
    x = hg.Var("x")
    inp = hg.ImageParam(F64, 1, "inp")
    f = hg.Func("scan2")
    f[x] = inp[x]
    r = hg.RDom([(1, N - 1)], name="r")
    f[r.x] = hg.sin(f[r.x - 1]) + f[r.x] * 0.5
    f[N - 1 - r.x] = hg.tanh(f[N - r.x]) * f[N - 1 - r.x]
    grad = hg.propagate_adjoints(_sum_loss(f, N, weighted=True, power=2))[inp]
    rl = hg.RDom([(0, N)], name="rl2")
    loss2 = hg.Func("grad_norm")
    loss2[()] = hg.f64(0.0)
    loss2[()] += grad[rl.x] ** 2
    check_grads(GradFn(loss2, [inp]), {"inp": rng.standard_normal(N)}, rng, n_dirs=4)
