"""Adjoint pipelines (propagate_adjoints) for target='cuda' equal to the CPU target's:
the forward pipelines of test_forward.py and test_scatters.py under loss =
sum(out * seed), with the loss and the adjoints of its inputs (gathers, scatters into
inputs, reductions into kernels and Params), default-scheduled and
auto_schedule(target='cuda')'d; a hand-scheduled adjoint, forward-mode tangents and a
second-order adjoint."""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import same, seeded_loss
from cuda_pipelines import BOUNDARIES, H, W, recursive_filter, bilateral_grid, flow_warp, x, y
from halogrid.schedule.state import stage_schedule


def _gradients(out, wrt: list, schedule: str, n_seed_dims: int = 2):
    """Pipeline [loss, d[w] for w in wrt] of loss = sum(out * seed)."""
    seed = hg.ImageParam(hg.Float(32), n_seed_dims, "seed")
    loss = seeded_loss(out, seed)
    d = hg.propagate_adjoints(loss)
    p = hg.Pipeline([loss] + [d[w] for w in wrt])
    if schedule == "auto":
        p.auto_schedule(target="cuda")
    return p


SCHEDULES = ["default", "auto"]


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("boundary", sorted(BOUNDARIES))
def test_blur_adjoints_of_the_image_and_the_kernel(boundary, schedule, rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    c = BOUNDARIES[boundary][0](inp)
    r = hg.RDom([(0, 3), (0, 3)])
    out = hg.Func("conv")
    out[y, x] = hg.sum(c[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]])
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    kk = rng.random((3, 3), dtype=np.float32)
    _, d_inp, d_k = same(_gradients(out, [inp, k], schedule), inp=img, k=kk, seed=s)
    pad = BOUNDARIES[boundary][1]
    p = np.pad(img.astype(np.float64), 1, **pad)
    want_k = [[np.sum(s * p[i:i + H, j:j + W]) for j in range(3)] for i in range(3)]
    np.testing.assert_allclose(d_k, want_k, rtol=1e-4, atol=1e-5)
    assert d_inp.shape == (H, W)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_lut_adjoint_scatters_into_the_table(schedule, rng):
    """d[lut] of a linearly interpolated tone curve (a scatter into 64 bins) and
    d[inp] (a gather of the curve's slope)."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    lut = hg.ImageParam(hg.Float(32), 1, "lut")
    t = hg.clamp(inp[y, x], 0.0, 1.0) * 62.0
    i0 = hg.i32(hg.floor(t))
    a = t - hg.floor(t)
    out = hg.Func("curve")
    out[y, x] = lut[i0] * (1.0 - a) + lut[i0 + 1] * a
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    table = np.sort(rng.random(64, dtype=np.float32))
    _, d_inp, d_lut = same(_gradients(out, [inp, lut], schedule), inp=img, lut=table, seed=s)
    tt = img.astype(np.float64) * 62
    j, f = np.floor(tt).astype(np.int64), tt - np.floor(tt)
    want = np.zeros(64)
    np.add.at(want, j, s * (1 - f))
    np.add.at(want, j + 1, s * f)
    np.testing.assert_allclose(d_lut, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_soft_histogram_adjoint_of_the_image(schedule, rng):
    """A weighted histogram's d[inp]: each pixel reads its bin's seed (a gather of a
    scatter)."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[hg.Var("b")] = 0.0
    v = inp[r[0], r[1]]
    hist[hg.clamp(hg.i32(v * 16.0), 0, 15)] += v * v
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal(16).astype(np.float32)
    p = _gradients(hist, [inp], schedule, n_seed_dims=1)
    _, d_inp = same(p, inp=img, seed=s)
    bins = np.clip((img * 16).astype(np.int64), 0, 15)
    np.testing.assert_allclose(d_inp, 2 * img * s[bins], rtol=1e-5)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_recursive_filter_adjoints_of_the_image_and_the_coefficient(schedule, rng):
    """The scan reversed (a backwards gather update) and d[a], a 0-D reduction."""
    inp, a, f = recursive_filter()
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    _, d_inp, d_a = same(_gradients(f, [inp, a], schedule), inp=img, a=0.7, seed=s)
    assert d_a.shape == () and d_inp.shape == (H, W)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_flow_warp_adjoints_scatter_into_the_image(schedule, rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    flow = hg.ImageParam(hg.Float(32), 3, "flow")
    img = rng.random((H, W), dtype=np.float32)
    fl = (rng.standard_normal((H, W, 2)) * 3).astype(np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    p = _gradients(flow_warp(inp, flow), [inp, flow], schedule)
    _, d_inp, d_flow = same(p, rtol=1e-4, atol=1e-5, inp=img, flow=fl, seed=s)
    # every pixel's four bilinear weights sum to 1: so do the seeds it scatters
    np.testing.assert_allclose(d_inp.sum(), s.sum(), rtol=1e-4)
    assert d_flow.shape == (H, W, 2)


def test_bilateral_grid_adjoint_of_the_guide(rng):
    """Through the slice (a scatter into the grid) and the splat (a gather of it),
    auto-scheduled only: the simulator takes 4 s a run of its 11 kernels."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    _, out = bilateral_grid(inp)
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    same(_gradients(out, [inp], "auto"), rtol=1e-4, atol=1e-5, inp=img, seed=s)


def test_tuple_func_adjoints_per_element(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    pair = hg.Func("pair")
    pair[y, x] = (inp[y, x] * inp[y, x], hg.sin(inp[y, x]))
    out = hg.Func("combined")
    out[y, x] = pair[y, x][0] * 2.0 + pair[y, x][1]
    img = rng.random((H, W), dtype=np.float32)
    s = rng.standard_normal((H, W)).astype(np.float32)
    _, d_inp = same(_gradients(out, [inp], "default"), inp=img, seed=s)
    np.testing.assert_allclose(d_inp, s * (4 * img + np.cos(img)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", ["default", "rfactor", "auto"])
def test_zero_dimensional_loss_and_its_gradient(schedule, rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain = hg.Param(hg.Float(32), "gain", 1.5)
    r = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += gain * inp[r[0], r[1]] * inp[r[0], r[1]]
    if schedule == "rfactor":
        loss.update(0).rfactor(r[0], hg.Var("u")).gpu_blocks(hg.Var("u"))
    d = hg.propagate_adjoints(loss)
    p = hg.Pipeline([loss, d[inp], d[gain]])
    if schedule == "auto":
        p.auto_schedule(target="cuda")
    img = rng.standard_normal((H, W)).astype(np.float32)
    value, d_inp, d_gain = same(p, inp=img, gain=1.5)
    np.testing.assert_allclose(d_inp, 3.0 * img, rtol=1e-6)
    np.testing.assert_allclose(d_gain, np.sum(img.astype(np.float64) ** 2), rtol=1e-5)
    np.testing.assert_allclose(value, 1.5 * d_gain, rtol=1e-5)


def test_hand_gpu_scheduled_adjoints_match_the_unscheduled_ones(rng):
    """d[inp] gpu_tile'd, d[k]'s reduction over the image rfactor'd over rows into
    gpu blocks: the adjoints are ordinary Funcs, scheduled like any other."""
    xo, yo, xi, yi, u = (hg.Var(n) for n in ("xo", "yo", "xi", "yi", "u"))
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    seed = hg.ImageParam(hg.Float(32), 2, "seed")
    c = hg.BoundaryConditions.mirror_image(inp)
    r = hg.RDom([(0, 3), (0, 3)])
    out = hg.Func("conv")
    out[y, x] = hg.sum(c[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]])
    d = hg.propagate_adjoints(seeded_loss(out, seed))
    img = rng.random((H, W), dtype=np.float32)
    inputs = {"inp": img, "k": rng.random((3, 3), dtype=np.float32),
              "seed": rng.standard_normal((H, W)).astype(np.float32)}
    plain = same([d[inp], d[k]], **inputs)
    row, col = d[inp].args()
    d[inp].gpu_tile(col, row, xo, yo, xi, yi, 4, 4)
    image_rows = stage_schedule(d[k], 1).dims[2]   # d_k[_d0, _d1] += ... over rows, cols
    d[k].update(0).rfactor(image_rows, u).gpu_blocks(u)
    scheduled = same([d[inp], d[k]], **inputs)
    source = hg.Pipeline([d[inp], d[k]]).source(target="cuda")
    assert "cuda.threadIdx.y" in source and "_rf" in source  # the tile, the partials
    for got, want in zip(scheduled, plain):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_forward_mode_tangents(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    f = hg.Func("f")
    f[y, x] = hg.sin(c[y, x - 1]) * c[y, x + 1]
    v = rng.random((H, W), dtype=np.float32)
    t = hg.propagate_tangents({inp: v})
    img = rng.random((H, W), dtype=np.float32)
    value, tangent = same([f, t[f]], inp=img)
    left, right = np.concatenate([img[:, :1], img[:, :-1]], 1), np.concatenate(
        [img[:, 1:], img[:, -1:]], 1)
    dl, dr = np.concatenate([v[:, :1], v[:, :-1]], 1), np.concatenate([v[:, 1:], v[:, -1:]], 1)
    np.testing.assert_allclose(tangent, np.cos(left) * dl * right + np.sin(left) * dr,
                               rtol=1e-5, atol=1e-6)


def test_second_order_adjoint_of_a_gradient_norm(rng):
    """d/d inp of sum(d loss / d inp ^ 2) with loss = sum(exp(inp / 2)): the adjoint
    pipeline differentiated again."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += hg.exp(inp[r[0], r[1]] * 0.5)
    d = hg.propagate_adjoints(loss)
    r2 = hg.RDom(inp)
    norm = hg.Func("grad_norm")
    norm[()] = 0.0
    norm[()] += d[inp][r2[0], r2[1]] * d[inp][r2[0], r2[1]]
    dd = hg.propagate_adjoints(norm)
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same([dd[inp]], inp=img)
    np.testing.assert_allclose(got, 0.25 * np.exp(img.astype(np.float64)), rtol=1e-5)
