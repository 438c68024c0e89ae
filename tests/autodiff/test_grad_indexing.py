"""Scatter -> gather: gradients through affine and non-injective index maps (checked
against a NumPy scatter oracle), and through data-dependent indices (LUT, histogram,
bilinear warp through computed coordinates), checked against finite differences and
PyTorch autograd.

Affine terms share one compiled pipeline: loss = sum_k w_k * L_k with L_k =
sum over C_k's domain of G_k * C_k**2 and C_k[y, x] = sum of the input at index_k;
a one-hot w isolates term k.
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads, numeric_grad

A_SHAPE, V_SHAPE = (6, 6), (12,)

# name: (input, output shape, reads(y, x) -> list of input indices as tuples)
AFFINE = {
    "x_plus_rx": ("A", (4, 4), lambda y, x: [(y + 1, x + r) for r in range(3)]),
    "window_2d": ("A", (4, 4), lambda y, x: [(y + i, x + j) for i in range(3) for j in range(3)]),
    "scale_2x": ("A", (3, 3), lambda y, x: [(2 * y, 2 * x + 1)]),
    "transpose_shift": ("A", (4, 5), lambda y, x: [(x, y + 1)]),
    "x_plus_y": ("V", (4, 5), lambda y, x: [(x + y,)]),
    "y_minus_x": ("V", (4, 5), lambda y, x: [(y - x + 5,)]),
    "x_div_2": ("A", (12, 12), lambda y, x: [(y // 2, x // 2)]),
    "x_div_4": ("V", (3, 12), lambda y, x: [(x // 4,)]),
    "x_plus_y_div_2": ("V", (5, 6), lambda y, x: [((x + y) // 2,)]),
    "shift_of_div": ("A", (8, 8), lambda y, x: [((y + 1) // 2, x // 2 + 1)]),
    "2x_plus_rx": ("V", (2, 5), lambda y, x: [(2 * x + r,) for r in range(3)]),
}
NAMES = list(AFFINE)


def _term(name, A, V, y, x, r2, r1):
    """C_k[y, x] in halogrid, mirroring AFFINE[name]'s reads."""
    return {
        "x_plus_rx": lambda: hg.sum(A[y + 1, x + r1.x]),
        "window_2d": lambda: hg.sum(A[y + r2[0], x + r2[1]]),
        "scale_2x": lambda: A[2 * y, 2 * x + 1],
        "transpose_shift": lambda: A[x, y + 1],
        "x_plus_y": lambda: V[x + y],
        "y_minus_x": lambda: V[y - x + 5],
        "x_div_2": lambda: A[y // 2, x // 2],
        "x_div_4": lambda: V[x // 4],
        "x_plus_y_div_2": lambda: V[(x + y) // 2],
        "shift_of_div": lambda: A[(y + 1) // 2, x // 2 + 1],
        "2x_plus_rx": lambda: hg.sum(V[2 * x + r1.x]),
    }[name]()


def _weights(rng):
    return {name: rng.standard_normal(AFFINE[name][1]) for name in NAMES}


@pytest.fixture(scope="module")
def affine():
    y, x = hg.Var("y"), hg.Var("x")
    A = hg.ImageParam(F64, 2, "A")
    V = hg.ImageParam(F64, 1, "V")
    G = _weights(np.random.default_rng(7))
    r2 = hg.RDom([(0, 3), (0, 3)], name="win")
    r1 = hg.RDom([(0, 3)], name="row")
    params, total = [], None
    for k, name in enumerate(NAMES):
        c = hg.Func(f"C_{k}")
        c[y, x] = _term(name, A, V, y, x, r2, r1)
        g = hg.Buffer(G[name], name=f"G_{k}")
        shape = AFFINE[name][1]
        r = hg.RDom([(0, shape[0]), (0, shape[1])], name=f"dom_{k}")
        part = hg.Func(f"L_{k}")
        part[()] = hg.f64(0.0)
        part[()] += g[r[0], r[1]] * c[r[0], r[1]] ** 2
        w = hg.Param(F64, f"w_{k}", 0.0)
        params.append(w)
        total = w * part[()] if total is None else total + w * part[()]
    loss = hg.Func("loss")
    loss[()] = total
    return GradFn(loss, [A, V]), G


def _oracle(name, G, inputs):
    """NumPy: forward C_k, then scatter 2 * G * C_k to the read input pixels."""
    which, shape, reads = AFFINE[name]
    src = inputs[which]
    grad = np.zeros_like(src)
    for y, x in np.ndindex(*shape):
        idx = reads(y, x)
        value = sum(src[i] for i in idx)
        for i in idx:
            grad[i] += 2 * G[name][y, x] * value
    return which, grad


def _inputs(rng):
    return {"A": rng.standard_normal(A_SHAPE), "V": rng.standard_normal(V_SHAPE)}


@pytest.mark.parametrize("name", NAMES)
def test_affine_and_non_injective_index_maps_match_the_scatter_oracle(affine, rng, name):
    gfn, G = affine
    inputs = _inputs(rng)
    onehot = {f"w_{k}": float(n == name) for k, n in enumerate(NAMES)}
    _, (gA, gV), _ = gfn({**inputs, **onehot})
    which, expected = _oracle(name, G, inputs)
    got, other = (gA, gV) if which == "A" else (gV, gA)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(other, np.zeros_like(other))


def test_all_index_maps_agree_with_finite_differences(affine, rng):
    gfn, _ = affine
    weights = {f"w_{k}": float(rng.standard_normal()) for k in range(len(NAMES))}
    check_grads(gfn, {**_inputs(rng), **weights}, rng, n_dirs=4)


# ---- data-dependent indices: the scatter fallback ------------------------------------

LUT_N, BINS, IMG = 16, 8, (6, 7)


@pytest.fixture(scope="module")
def lut_hist():
    """loss = sum T*out**2 with out = lut[bin(img)] * img, plus sum_b c_b * hist_b**2
    with hist[bin(img)] += wt (a weighted histogram)."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    lut = hg.ImageParam(F64, 1, "lut")
    wt = hg.ImageParam(F64, 2, "wt")
    out = hg.Func("toned")
    out[y, x] = lut[hg.clamp(hg.i32(img[y, x] * float(LUT_N)), 0, LUT_N - 1)] * img[y, x]
    b = hg.Var("b")
    r = hg.RDom([(0, IMG[0]), (0, IMG[1])], name="r")
    hist = hg.Func("hist")
    hist[b] = hg.f64(0.0)
    hist[hg.clamp(hg.i32(img[r[0], r[1]] * float(BINS)), 0, BINS - 1)] += wt[r[0], r[1]]
    rng = np.random.default_rng(3)
    T = hg.Buffer(rng.standard_normal(IMG), name="T")
    C = hg.Buffer(rng.standard_normal(BINS), name="C")
    rb = hg.RDom([(0, BINS)], name="rb")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += T[r[0], r[1]] * out[r[0], r[1]] ** 2
    loss[()] += C[rb.x] * hist[rb.x] ** 2
    return GradFn(loss, [img, lut, wt]), T.array, C.array


def _lut_inputs(rng):
    img = rng.uniform(-0.1, 1.1, IMG)  # both ends of the clamps are exercised
    return {"img": img, "lut": rng.standard_normal(LUT_N), "wt": rng.standard_normal(IMG)}


def test_lut_and_histogram_gradients_match_numpy_scatter(lut_hist, rng):
    gfn, T, C = lut_hist
    inputs = _lut_inputs(rng)
    _, (g_img, g_lut, g_wt), _ = gfn(inputs)
    img, lut, wt = inputs["img"], inputs["lut"], inputs["wt"]
    idx = np.clip((img * LUT_N).astype(np.int32), 0, LUT_N - 1)
    out = lut[idx] * img
    expected_lut = np.bincount(idx.ravel(), (2 * T * out * img).ravel(), minlength=LUT_N)
    np.testing.assert_allclose(g_lut, expected_lut, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g_img, 2 * T * out * lut[idx], rtol=1e-12, atol=1e-12)
    bins = np.clip((img * BINS).astype(np.int32), 0, BINS - 1)
    hist = np.bincount(bins.ravel(), wt.ravel(), minlength=BINS)
    np.testing.assert_allclose(g_wt, (2 * C * hist)[bins], rtol=1e-12, atol=1e-12)


def test_lut_and_histogram_agree_with_finite_differences(lut_hist, rng):
    check_grads(lut_hist[0], _lut_inputs(rng), rng, n_dirs=4)


def test_lut_and_histogram_match_torch_gather_and_scatter_add(lut_hist, rng):
    torch = pytest.importorskip("torch")
    gfn, T, C = lut_hist
    inputs = _lut_inputs(rng)
    _, grads, _ = gfn(inputs)
    img, lut, wt = (torch.tensor(inputs[k], requires_grad=True) for k in ("img", "lut", "wt"))
    idx = torch.clamp((img.detach() * LUT_N).to(torch.int64), 0, LUT_N - 1)
    out = lut[idx] * img
    bins = torch.clamp((img.detach() * BINS).to(torch.int64), 0, BINS - 1)
    hist = torch.zeros(BINS, dtype=torch.float64).scatter_add(0, bins.reshape(-1), wt.reshape(-1))
    loss = (torch.tensor(T) * out**2).sum() + (torch.tensor(C) * hist**2).sum()
    loss.backward()
    for got, t in zip(grads, (img, lut, wt)):
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-12)


WARP = (7, 8)
H0 = np.array([[1.05, 0.08, -0.6], [-0.05, 0.95, 0.4], [0.01, -0.008, 1.0]])


@pytest.fixture(scope="module")
def warp():
    """Bilinear warp of a repeat-edge image through a homography: coordinates are
    computed Funcs (U, Vc), the sample indices floor(U), floor(Vc) are data-dependent."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    Hm = hg.ImageParam(F64, 2, "H")
    tgt = hg.ImageParam(F64, 2, "tgt")
    bc = hg.BoundaryConditions.repeat_edge(img)
    xf, yf = hg.f64(x), hg.f64(y)
    den = Hm[2, 0] * xf + Hm[2, 1] * yf + Hm[2, 2]
    U, Vc = hg.Func("U"), hg.Func("Vc")
    U[y, x] = (Hm[0, 0] * xf + Hm[0, 1] * yf + Hm[0, 2]) / den
    Vc[y, x] = (Hm[1, 0] * xf + Hm[1, 1] * yf + Hm[1, 2]) / den
    X0, Y0, FX, FY = hg.Func("X0"), hg.Func("Y0"), hg.Func("FX"), hg.Func("FY")
    X0[y, x] = hg.i32(hg.floor(U[y, x]))
    Y0[y, x] = hg.i32(hg.floor(Vc[y, x]))
    FX[y, x] = U[y, x] - hg.floor(U[y, x])
    FY[y, x] = Vc[y, x] - hg.floor(Vc[y, x])
    # Clamped to one pixel outside: repeat_edge reads the same values there.
    x0 = hg.clamp(X0[y, x], -1, img.width())
    y0 = hg.clamp(Y0[y, x], -1, img.height())
    fx, fy = FX[y, x], FY[y, x]
    out = hg.Func("warped")
    out[y, x] = ((1.0 - fy) * ((1.0 - fx) * bc[y0, x0] + fx * bc[y0, x0 + 1])
                 + fy * ((1.0 - fx) * bc[y0 + 1, x0] + fx * bc[y0 + 1, x0 + 1]))
    for f in (U, Vc, X0, Y0, FX, FY, out):  # small expressions keep the Numba compile short
        f.compute_root()
    r = hg.RDom([(0, WARP[0]), (0, WARP[1])], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += (out[r[0], r[1]] - tgt[r[0], r[1]]) ** 2
    return GradFn(loss, [img, Hm])


def _warp_inputs(rng):
    return {"img": rng.random(WARP), "H": H0 + 0.01 * rng.standard_normal((3, 3)),
            "tgt": rng.random(WARP)}


def test_bilinear_homography_warp_agrees_with_finite_differences(warp, rng):
    inputs = _warp_inputs(rng)
    grads = check_grads(warp, inputs, rng, n_dirs=4, rtol=1e-5)
    np.testing.assert_allclose(grads["H"], numeric_grad(warp.value, inputs, "H"),
                               rtol=1e-5, atol=1e-7)


def test_bilinear_homography_warp_matches_torch_grid_sample(warp, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    inputs = _warp_inputs(rng)
    _, (g_img, g_H), _ = warp(inputs)
    img = torch.tensor(inputs["img"], requires_grad=True)
    Hm = torch.tensor(inputs["H"], requires_grad=True)
    h, w = WARP
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    den = Hm[2, 0] * xx + Hm[2, 1] * yy + Hm[2, 2]
    u = (Hm[0, 0] * xx + Hm[0, 1] * yy + Hm[0, 2]) / den
    v = (Hm[1, 0] * xx + Hm[1, 1] * yy + Hm[1, 2]) / den
    grid = torch.stack([2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1], dim=-1)[None]
    out = F.grid_sample(img[None, None], grid, mode="bilinear", padding_mode="border",
                        align_corners=True)[0, 0]
    ((out - torch.tensor(inputs["tgt"])) ** 2).sum().backward()
    np.testing.assert_allclose(g_img, img.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(g_H, Hm.grad.numpy(), rtol=1e-8, atol=1e-9)


def test_integer_histogram_read_through_a_cast_passes_no_adjoint(rng):
    """An int Func built by a scatter (+= 1 at data-dependent bins) has no adjoint; the
    weights it multiplies get the counts, the image it bins gets zeros."""
    x = hg.Var("x")
    img = hg.ImageParam(F64, 1, "img")
    w = hg.ImageParam(F64, 1, "w")
    r = hg.RDom([(0, 12)])
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(hg.i32(img[r] * 8.0), 0, 7)] += 1
    o = hg.Func("o")
    o[x] = hg.f64(hist[x]) * w[x] * img[x]
    d = hg.propagate_adjoints(o, np.ones(8))
    a = rng.random(12)
    weights = rng.random(8)
    d_w, d_img = hg.Pipeline([d[w], d[img]]).compile()(img=a, w=weights,
                                                         shapes=[(8,), (12,)])
    counts = np.bincount(np.clip((a * 8).astype(int), 0, 7), minlength=8)
    np.testing.assert_allclose(d_w, counts * a[:8])
    expected = np.zeros(12)
    expected[:8] = counts * weights
    np.testing.assert_allclose(d_img, expected)
