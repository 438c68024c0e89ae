"""Scatters and reductions for target='cuda' equal to the CPU target's results and to
NumPy: histograms serial, atomic() and auto-scheduled (privatised per block in shared
memory, chosen at run time), with integer counts of every width; a bilateral grid's
splat; 0-D losses and column sums, rfactor'd; histogram equalisation (a scatter, a
scan and a gather)."""

import numpy as np
import pytest

import halogrid as hg
from cuda_compare import same
from cuda_pipelines import GRID, H, W, b, bilateral_grid, x, y


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
