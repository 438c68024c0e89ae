"""Forward pipelines for target='cuda' equal to the CPU target's results (same
pipeline, same inputs; tests/cuda/cuda_compare.py), and to NumPy oracles where one is
short: blurs through each boundary condition, gathers (LUT, a flow-field warp), a
scan, tuple Funcs and an argmax, a multi-output pipeline, an RDom with a where clause,
an extern stage, Buffers and typed Params, per-stage GPU schedules (scatters and
reductions: test_scatters.py)."""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import same
from cuda_pipelines import BOUNDARIES, H, W, recursive_filter, b, flow_warp, x, y


@pytest.mark.parametrize("boundary", sorted(BOUNDARIES))
def test_3x3_weighted_blur_through_each_boundary_condition(boundary, rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    wrap, pad = BOUNDARIES[boundary]
    c = wrap(inp)
    r = hg.RDom([(-1, 3), (-1, 3)])
    blur = hg.Func("blur")
    blur[y, x] = 0.0
    blur[y, x] += c[y + r[0], x + r[1]] * k[r[0] + 1, r[1] + 1]
    img = rng.random((H, W), dtype=np.float32)
    kk = rng.random((3, 3), dtype=np.float32)
    (got,) = same(blur, inp=img, k=kk)
    p = np.pad(img.astype(np.float64), 1, **pad)
    want = sum(kk[i, j] * p[i:i + H, j:j + W] for i in range(3) for j in range(3))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_lut_gather_at_a_clamped_data_dependent_index(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    lut = hg.ImageParam(hg.Float(32), 1, "lut")
    out = hg.Func("toned")
    out[y, x] = lut[hg.clamp(hg.i32(inp[y, x] * 255.0), 0, 255)]
    img = rng.random((H, W), dtype=np.float32) * 1.2 - 0.1  # some indices clamp
    table = rng.random(256, dtype=np.float32)
    (got,) = same(out, shapes=[(H, W)], inp=img, lut=table)
    np.testing.assert_array_equal(got, table[np.clip((img * 255).astype(np.int64), 0, 255)])


def test_recursive_filter_scans_each_row_in_order(rng):
    """f[y, r] = a f[y, r - 1] + (1 - a) inp[y, r]: a scan along x, parallel over y."""
    inp, a, f = recursive_filter()
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(f, inp=img, a=0.7)
    want = img.astype(np.float64).copy()
    for j in range(1, W):
        want[:, j] = 0.7 * want[:, j - 1] + 0.3 * want[:, j]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _np_flow_warp(img, flow):
    h, w = img.shape
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float64)
    sy, sx = gy + flow[..., 0], gx + flow[..., 1]
    y0, x0 = np.floor(sy), np.floor(sx)
    fy, fx = sy - y0, sx - x0

    def at(dy, dx):
        return img[np.clip(y0.astype(int) + dy, 0, h - 1), np.clip(x0.astype(int) + dx, 0, w - 1)]
    return ((1 - fy) * ((1 - fx) * at(0, 0) + fx * at(0, 1))
            + fy * ((1 - fx) * at(1, 0) + fx * at(1, 1)))


def test_flow_warp_gathers_at_data_dependent_points(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    flow = hg.ImageParam(hg.Float(32), 3, "flow")
    img = rng.random((H, W), dtype=np.float32)
    fl = (rng.standard_normal((H, W, 2)) * 3).astype(np.float32)  # some leave the image
    (got,) = same(flow_warp(inp, flow), shapes=[(H, W)], inp=img, flow=fl)
    np.testing.assert_allclose(got, _np_flow_warp(img.astype(np.float64), fl), rtol=1e-4,
                               atol=1e-5)


def test_tuple_func_with_a_tuple_update(rng):
    """(sum, max) of each row in one tuple Func: both values update together."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(0, W)])
    stats = hg.Func("stats")
    stats[y] = (hg.f32(0.0), hg.f32(-1e30))
    stats[y] = (stats[y][0] + inp[y, r[0]], hg.max(stats[y][1], inp[y, r[0]]))
    img = rng.standard_normal((H, W)).astype(np.float32)
    total, peak = same(stats, shapes=[(H,)], inp=img)
    np.testing.assert_allclose(total, img.astype(np.float64).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(peak, img.max(1))


def test_multi_output_pipeline_shares_its_producer(rng):
    """A blurred image, its 0-D mean and a histogram of it, from one stored blur."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    blur = hg.Func("blur")
    blur[y, x] = (c[y, x - 1] + c[y, x] + c[y, x + 1]) / 3
    blur.compute_root()
    r = hg.RDom(inp)
    mean = hg.Func("mean")
    mean[()] = 0.0
    mean[()] += blur[r[0], r[1]] / (H * W)
    hist = hg.Func("hist")
    hist[b] = 0
    hist[hg.clamp(hg.i32(blur[r[0], r[1]] * 8.0), 0, 7)] += 1
    img = rng.random((H, W), dtype=np.float32)
    got_blur, got_mean, got_hist = same([blur, mean, hist], shapes=[(H, W), (), (8,)],
                                        inp=img)
    p = np.pad(img.astype(np.float64), ((0, 0), (1, 1)), mode="edge")
    want = (p[:, :-2] + p[:, 1:-1] + p[:, 2:]) / 3
    np.testing.assert_allclose(got_blur, want, rtol=1e-5)
    np.testing.assert_allclose(got_mean, want.mean(), rtol=1e-5)
    assert got_hist.sum() == H * W


def test_rdom_with_where_sums_a_disk(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.constant_exterior(inp, 0.0)
    r = hg.RDom([(-2, 5), (-2, 5)])
    r.where(r[0] * r[0] + r[1] * r[1] <= 4)
    disk = hg.Func("disk")
    disk[y, x] = hg.sum(c[y + r[0], x + r[1]])
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(disk, inp=img)
    p = np.pad(img.astype(np.float64), 2)
    want = sum(p[2 + i:2 + i + H, 2 + j:2 + j + W]
               for i in range(-2, 3) for j in range(-2, 3) if i * i + j * j <= 4)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_extern_numpy_stage_between_gpu_stages(rng):
    """hg.extern's NumPy function runs on the host between device stages."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    doubled = hg.Func("doubled")
    doubled[y, x] = inp[y, x] * 2.0

    def row_cumsum(origin, shape, a, a_origin):
        rows = slice(origin[0] - a_origin[0], origin[0] - a_origin[0] + shape[0])
        cols = slice(origin[1] - a_origin[1], origin[1] - a_origin[1] + shape[1])
        return np.cumsum(a[rows], axis=1, dtype=np.float32)[:, cols]
    e = hg.extern("cumsum", row_cumsum, inputs=[doubled], type=hg.Float(32), dims=2,
                  region=lambda box: [[box[0], (0, inp.width())]])
    out = hg.Func("shifted")
    out[y, x] = e[y, x] + 1.0
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(out, inp=img)
    np.testing.assert_allclose(got, np.cumsum(img * 2.0, axis=1) + 1.0, rtol=1e-5)


def test_buffer_and_typed_params(rng):
    """A concrete hg.Buffer (uploaded for each call), an Int(32) and a Float(64) Param."""
    weights = rng.random(W, dtype=np.float32)
    wb = hg.Buffer(weights, name="weights")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    shift = hg.Param(hg.Int(32), "shift", 1)
    scale = hg.Param(hg.Float(64), "scale", 0.5)
    c = hg.BoundaryConditions.repeat_edge(inp)
    out = hg.Func("weighted")
    out[y, x] = hg.f32(hg.f64(c[y, x + shift] * wb[x]) * scale)
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(out, inp=img, shift=2, scale=0.25)
    shifted = img[:, np.minimum(np.arange(W) + 2, W - 1)]
    np.testing.assert_allclose(got, shifted * weights * 0.25, rtol=1e-6)


def test_each_update_stage_takes_its_own_gpu_schedule(rng):
    xo, yo, xi, yi = (hg.Var(n) for n in ("xo", "yo", "xi", "yi"))
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    f = hg.Func("staged")
    f[y, x] = inp[y, x]
    f[y, x] = f[y, x] * 2.0
    f[y, x] = f[y, x] + hg.f32(x)
    f.gpu_tile(x, y, xo, yo, xi, yi, 4, 4)
    f.update(0).gpu_tile(x, y, xo, yo, xi, yi, 8, 2)
    f.update(1).gpu_blocks(y).gpu_threads(x)
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(f, inp=img)
    np.testing.assert_array_equal(got, img * 2 + np.arange(W, dtype=np.float32))


def test_argmax_of_each_row_as_a_tuple_reduction(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(0, W)])
    am = hg.Func("argmax")
    am[y] = (hg.i32(0), hg.f32(-1e30))
    better = inp[y, r[0]] > am[y][1]
    am[y] = (hg.select(better, r[0], am[y][0]), hg.select(better, inp[y, r[0]], am[y][1]))
    am.update(0).gpu_blocks(y)
    img = rng.random((H, W), dtype=np.float32)
    where, peak = same(am, shapes=[(H,)], inp=img)
    np.testing.assert_array_equal(where, img.argmax(1))
    np.testing.assert_array_equal(peak, img.max(1))
