"""Forward pipelines for target='cuda' equal to the CPU target's results (same
pipeline, same inputs; tests/cuda/cuda_compare.py), and to NumPy oracles where one is
short: blurs through each boundary condition, scatters (serial, atomic() and
auto-scheduled), gathers (LUT, a flow-field warp), a scan, a bilateral grid, tuple,
0-D and multi-output pipelines, an RDom with a where clause."""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import same

x, y, z, b = hg.Var("x"), hg.Var("y"), hg.Var("z"), hg.Var("b")
H, W = 8, 12

BOUNDARIES = {  # halogrid condition -> np.pad arguments
    "repeat_edge": (lambda f: hg.BoundaryConditions.repeat_edge(f), {"mode": "edge"}),
    "constant_exterior": (lambda f: hg.BoundaryConditions.constant_exterior(f, 0.5),
                          {"mode": "constant", "constant_values": 0.5}),
    "mirror_image": (lambda f: hg.BoundaryConditions.mirror_image(f), {"mode": "symmetric"}),
    "mirror_interior": (lambda f: hg.BoundaryConditions.mirror_interior(f),
                        {"mode": "reflect"}),
}


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


def _histogram(weighted: bool):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[b] = 0.0 if weighted else 0
    v = inp[r[0], r[1]]
    hist[hg.clamp(hg.i32(v * 16.0), 0, 15)] += v if weighted else 1
    return inp, hist, r


def _np_hist(img, weighted):
    bins = np.clip((img * 16).astype(np.int64), 0, 15).ravel()
    return np.bincount(bins, img.ravel().astype(np.float64) if weighted else None, 16)


@pytest.mark.parametrize("schedule", ["serial", "atomic", "auto"])
@pytest.mark.parametrize("weighted", [False, True], ids=["counts", "weights"])
def test_histogram_scatter(schedule, weighted, rng):
    """A data-dependent scatter: serial (one thread), atomic() over a gpu_blocks
    loop (cuda.atomic.add), and as auto_schedule(target='cuda') chooses."""
    _, hist, r = _histogram(weighted)
    p = hg.Pipeline(hist)
    if schedule == "atomic":
        hist.update(0).atomic().gpu_blocks(r[0])
    elif schedule == "auto":
        p.auto_schedule(target="cuda")
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(p, shapes=[(16,)], inp=img)
    if schedule != "auto":
        assert ("cuda.atomic.add" in p.source(target="cuda")) == (schedule == "atomic")
    assert got.dtype == (np.float32 if weighted else np.int32)
    np.testing.assert_allclose(got, _np_hist(img, weighted), rtol=1e-5)


@pytest.mark.parametrize("schedule", ["atomic", "auto"])
@pytest.mark.parametrize("count", ["uint8", "int16", "uint16", "int64"])
def test_histogram_with_narrow_and_wide_integer_counts(count, schedule, rng):
    """Counts in the histogram's own integer type (CUDA has 32- and 64-bit atomic
    adds only: narrower cells need another way to add)."""
    t = {"uint8": hg.UInt(8), "int16": hg.Int(16), "uint16": hg.UInt(16),
         "int64": hg.Int(64)}[count]
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[b] = hg.cast(t, 0)
    hist[hg.clamp(hg.i32(inp[r[0], r[1]] * 16.0), 0, 15)] += hg.cast(t, 1)
    p = hg.Pipeline(hist)
    if schedule == "atomic":
        hist.update(0).atomic().gpu_blocks(r[0])
    else:
        p.auto_schedule(target="cuda")
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(p, shapes=[(16,)], inp=img)
    np.testing.assert_array_equal(got, _np_hist(img, False).astype(count))


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
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    a = hg.Param(hg.Float(32), "a", 0.7)
    r = hg.RDom([(1, W - 1)])
    f = hg.Func("iir")
    f[y, x] = inp[y, x]
    f[y, r[0]] = a * f[y, r[0] - 1] + (1.0 - a) * inp[y, r[0]]
    img = rng.random((H, W), dtype=np.float32)
    (got,) = same(f, inp=img, a=0.7)
    want = img.astype(np.float64).copy()
    for j in range(1, W):
        want[:, j] = 0.7 * want[:, j - 1] + 0.3 * want[:, j]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _flow_warp(inp, flow):
    """out[y, x]: inp sampled bilinearly (through repeat_edge) at (y, x) + flow[y, x]."""
    c = hg.BoundaryConditions.repeat_edge(inp)
    sy, sx = hg.f32(y) + flow[y, x, 0], hg.f32(x) + flow[y, x, 1]
    y0, x0 = hg.floor(sy), hg.floor(sx)
    fy, fx = sy - y0, sx - x0
    iy, ix = hg.i32(y0), hg.i32(x0)
    out = hg.Func("warped")
    out[y, x] = ((1 - fy) * ((1 - fx) * c[iy, ix] + fx * c[iy, ix + 1])
                 + fy * ((1 - fx) * c[iy + 1, ix] + fx * c[iy + 1, ix + 1]))
    return out


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
    (got,) = same(_flow_warp(inp, flow), shapes=[(H, W)], inp=img, flow=fl)
    np.testing.assert_allclose(got, _np_flow_warp(img.astype(np.float64), fl), rtol=1e-4,
                               atol=1e-5)


GRID = (3, 4, 4)   # bilateral grid cells: (H / 4 + 1, W / 4 + 1, 4 intensities)


def bilateral_grid(inp):
    """Splat (a scatter of every pixel into its grid cell), a 3-tap blur along the
    intensity axis, and a trilinear slice (a data-dependent gather)."""
    r = hg.RDom(inp)
    v = hg.clamp(inp[r[0], r[1]], 0.0, 1.0)
    grid = hg.Func("grid")
    grid[y, x, z, b] = 0.0
    cell = (r[0] / 4, r[1] / 4, hg.i32(v * (GRID[2] - 1) + 0.5))
    grid[cell + (0,)] += v
    grid[cell + (1,)] += 1.0
    blurred = hg.Func("blurred")
    zc = [hg.clamp(z + d, 0, GRID[2] - 1) for d in (-1, 0, 1)]
    blurred[y, x, z, b] = (grid[y, x, zc[0], b] + 2 * grid[y, x, zc[1], b]
                           + grid[y, x, zc[2], b]) / 4
    gy, gx = hg.f32(y) / 4.0, hg.f32(x) / 4.0
    gz = hg.clamp(inp[y, x], 0.0, 1.0) * (GRID[2] - 1)
    iy, ix = hg.i32(gy), hg.i32(gx)
    iz = hg.min(hg.i32(gz), GRID[2] - 2)
    fy, fx, fz = gy - hg.f32(iy), gx - hg.f32(ix), gz - hg.f32(iz)

    def lerp3(c):
        def at(dy, dx, dz):
            return blurred[hg.min(iy + dy, GRID[0] - 1), hg.min(ix + dx, GRID[1] - 1),
                           iz + dz, c]
        return sum(wy * wx * wz * at(dy, dx, dz)
                   for dy, wy in ((0, 1 - fy), (1, fy)) for dx, wx in ((0, 1 - fx), (1, fx))
                   for dz, wz in ((0, 1 - fz), (1, fz)))
    out = hg.Func("sliced")
    out[y, x] = lerp3(0) / hg.max(lerp3(1), 1e-3)
    return grid, out


def test_bilateral_grid_splat_and_slice(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    grid, out = bilateral_grid(inp)
    grid.compute_root()
    img = rng.random((H, W), dtype=np.float32)
    got_grid, _ = same([grid, out], shapes=[GRID + (2,), (H, W)], inp=img)
    want = np.zeros(GRID + (2,))
    cells = (np.arange(H)[:, None] // 4, np.arange(W)[None, :] // 4,
             (img * (GRID[2] - 1) + 0.5).astype(np.int64))
    np.add.at(want, cells + (0,), img.astype(np.float64))
    np.add.at(want, cells + (1,), 1.0)
    np.testing.assert_allclose(got_grid, want, rtol=1e-5)


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


@pytest.mark.parametrize("schedule", ["default", "rfactor", "auto"])
def test_zero_dimensional_loss(schedule, rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += inp[r[0], r[1]] * inp[r[0], r[1]]
    p = hg.Pipeline(loss)
    if schedule == "rfactor":
        u = hg.Var("u")
        loss.update(0).rfactor(r[0], u).gpu_blocks(u)
    elif schedule == "auto":
        p.auto_schedule(target="cuda")
    img = rng.standard_normal((H, W)).astype(np.float32)
    (got,) = same(p, shapes=[()], inp=img)
    assert got.shape == ()
    np.testing.assert_allclose(got, np.sum(img.astype(np.float64) ** 2), rtol=1e-5)


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


def test_rfactor_column_sums_fold_their_partials(rng):
    """col[x] = sum over rows, split by 4 and rfactor'd over the row blocks (a gpu
    block loop): the partials fold in a device kernel."""
    ro, ri, u = hg.Var("ro"), hg.Var("ri"), hg.Var("u")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(0, inp.height())])
    col = hg.Func("col")
    col[x] = 0.0
    col[x] += inp[r[0], x]
    out = hg.Func("centered")
    out[y, x] = inp[y, x] - col[x] / hg.f32(inp.height())
    col.update(0).split(r[0], ro, ri, 4).rfactor(ro, u).gpu_blocks(u)
    img = rng.random((H + 3, W), dtype=np.float32)  # 11 rows: a tail block
    (got,) = same(out, inp=img)
    np.testing.assert_allclose(got, img - img.astype(np.float64).mean(0), rtol=1e-5,
                               atol=1e-6)


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


def test_one_compiled_histogram_at_few_and_many_bins(rng):
    """auto_schedule(target='cuda')'s small-scatter choice is made at run time: 16
    bins fit a private copy per block in shared memory, 5000 do not; one compiled
    pipeline runs both, and 16 again."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    n = hg.Param(hg.Int(32), "n", 16)
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[b] = 0.0
    v = inp[r[0], r[1]]
    hist[hg.clamp(hg.i32(v * hg.f32(n)), 0, n - 1)] += v
    p = hg.Pipeline(hist).auto_schedule(target="cuda")
    img = rng.random((16, 16), dtype=np.float32)
    for bins in (16, 5000, 16):
        (got,) = same(p, shapes=[(bins,)], inp=img, n=bins)
        cells = np.clip((img * np.float32(bins)).astype(np.int64), 0, bins - 1).ravel()
        np.testing.assert_allclose(got, np.bincount(cells, img.ravel().astype(np.float64),
                                                    bins), rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("schedule", ["default", "auto"])
def test_histogram_equalisation_chains_scatter_scan_and_gather(schedule, rng):
    """A uint8 image's histogram (scatter), its cumulative sum (scan) and the
    equalised image (a gather of the scan at each pixel's value)."""
    inp = hg.ImageParam(hg.UInt(8), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.i32(inp[r[0], r[1]])] += 1
    rs = hg.RDom([(1, 255)])
    cdf = hg.Func("cdf")
    cdf[x] = hist[x]
    cdf[rs[0]] = cdf[rs[0] - 1] + hist[rs[0]]
    hist.compute_root()
    cdf.compute_root()
    out = hg.Func("equalised")
    out[y, x] = hg.cast(hg.UInt(8), cdf[hg.i32(inp[y, x])] * 255 / (H * W))
    p = hg.Pipeline(out)
    if schedule == "auto":
        p.auto_schedule(target="cuda")
    img = rng.integers(0, 256, (H, W)).astype(np.uint8)
    (got,) = same(p, inp=img)
    want_cdf = np.cumsum(np.bincount(img.ravel(), minlength=256))
    np.testing.assert_array_equal(got, (want_cdf[img] * 255 // (H * W)).astype(np.uint8))
