"""Deterministic mode (`compile(target, deterministic=True)`): every scatter and
reduction gives bitwise-identical results from run to run and for any thread count.

Each case is a scatter-shaped pipeline, auto-scheduled (its scatters parallel, their
privatised-or-atomic choice left to the target) or scheduled by hand (a parallel
rfactor, a user atomic()). Compiled deterministically, it runs twice with 2 threads
and once with 1 (the parallel launcher forced on even for these small images): the
bits agree; the values equal a float64 NumPy oracle and the default mode's values
within float32 tolerance. The code that runs has no atomic add, reads no thread
count, and is a cache entry of its own beside the default mode's.
"""

import contextlib
import re

import numba
import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen import cache
from halogrid.codegen.target import DETERMINISTIC_CHUNKS, get_target
from benchmarks.peers.halogrid_impl import homography_sample
from halogrid.ir.graph import build_graph

H, W = 37, 45  # not multiples of the chunk count: chunks of unequal length
SHAPE = (H, W)


# ---- the cases: (outputs, inputs, shapes, oracle values) -------------------------

def _seeded_sum(out, seed):
    """loss = sum(out * seed): its adjoint of out is seed, so oracles stay linear."""
    r = hg.RDom(seed)
    at = tuple(r[i] for i in range(seed.dimensions()))
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += out[at] * seed[at]
    return loss


def _tent_index(t, n):
    """(i0, a): t's cell, clamped to [0, n - 2], and its fraction (W6's lerp index)."""
    i0 = hg.clamp(hg.floor(t), 0.0, float(n - 2))
    return hg.i32(i0), t - i0


def _np_tent_index(t, n):
    i0 = np.clip(np.floor(t), 0, n - 2)
    return i0.astype(np.int64), t - i0


def lut_and_histogram(rng, shape=SHAPE):
    """d[lut] of a tone curve (256 bins), and a soft 64-bin histogram of the image (a
    forward scatter): W6's two scatters."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    lut = hg.ImageParam(hg.Float(32), 1, "lut")
    seed = hg.ImageParam(hg.Float(32), 2, "seed")
    y, x = hg.Var("y"), hg.Var("x")
    i0, a = _tent_index(inp[y, x] * 255.0, 256)
    out = hg.Func("curve")
    out[y, x] = lut[i0] * (1.0 - a) + lut[i0 + 1] * a
    r = hg.RDom(inp)
    b0, f = _tent_index(inp[r[0], r[1]] * 63.0, 64)
    hist = hg.Func("hist")
    hist[hg.Var("b")] = 0.0
    hist[b0] += 1.0 - f
    hist[b0 + 1] += f
    d = hg.propagate_adjoints(_seeded_sum(out, seed))
    img = rng.random(shape, dtype=np.float32)
    s = rng.standard_normal(shape).astype(np.float32)
    inputs = {"inp": img, "lut": np.linspace(0, 1, 256, dtype=np.float32), "seed": s}
    t = img.astype(np.float64)
    j, fa = _np_tent_index(t * 255.0, 256)
    d_lut = np.zeros(256)
    np.add.at(d_lut, j, s * (1 - fa))
    np.add.at(d_lut, j + 1, s * fa)
    b, fb = _np_tent_index(t * 63.0, 64)
    want_hist = np.zeros(64)
    np.add.at(want_hist, b, 1 - fb)
    np.add.at(want_hist, b + 1, fb)
    return [hist, d[lut]], inputs, [(64,), (256,)], [want_hist, d_lut]




def _np_warp_adjoints(img, hom, seed):
    """(d inp, d H3) of sum(warp(img, hom) * seed), in float64."""
    h, w = img.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    coords = (x, y, np.ones_like(x))
    u, v, s = (sum(hom[r, j] * coords[j] for j in range(3)) for r in range(3))
    sx, sy = u / s, v / s
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    d_img = np.zeros((h, w))
    d_sx, d_sy = np.zeros_like(sx), np.zeros_like(sy)
    for dy, wy, gy in ((0, 1 - fy, -1.0), (1, fy, 1.0)):
        for dx, wx, gx in ((0, 1 - fx, -1.0), (1, fx, 1.0)):
            yy, xx = y0.astype(np.int64) + dy, x0.astype(np.int64) + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            val = np.where(inside, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0)
            np.add.at(d_img, (yy[inside], xx[inside]), (seed * wy * wx)[inside])
            d_sx += seed * wy * gx * val
            d_sy += seed * gy * wx * val
    d_hom = np.zeros((3, 3))
    for j in range(3):
        d_hom[0, j] = np.sum(d_sx * coords[j] / s)
        d_hom[1, j] = np.sum(d_sy * coords[j] / s)
        d_hom[2, j] = np.sum(-(d_sx * u + d_sy * v) * coords[j] / s ** 2)
    return d_img, d_hom


def warp_adjoints(rng, shape=SHAPE):
    """W5's adjoints: d[inp] of a homography warp (four bilinear corners scattered per
    pixel) and d[H3] (every pixel adds into each of the 9 entries: nine fused
    reductions into fixed points, each privatised and folded in turn)."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    hom = hg.ImageParam(hg.Float(32), 2, "H3")
    seed = hg.ImageParam(hg.Float(32), 2, "seed")
    y, x = hg.Var("y"), hg.Var("x")
    out = hg.Func("warped")
    out[y, x] = homography_sample(inp, hom, y, x)  # W5's algorithm
    d = hg.propagate_adjoints(_seeded_sum(out, seed))
    img = rng.random(shape, dtype=np.float32)
    s = rng.standard_normal(shape).astype(np.float32)
    c, sn = np.cos(0.1), np.sin(0.1)
    h3 = np.array([[c, -sn, 2.3], [sn, c, -1.7], [1e-3, -2e-3, 1.0]], np.float32)
    inputs = {"inp": img, "H3": h3, "seed": s}
    want = _np_warp_adjoints(img.astype(np.float64), h3.astype(np.float64), s)
    return [d[inp], d[hom]], inputs, [shape, (3, 3)], list(want)


def _np_tents(t, n):
    """Per corner k in (0, 1): (cell index clamped to [0, n - 1], tent weight)."""
    t0 = np.floor(t)
    f = t - t0
    return [(np.clip(t0 + k, 0, n - 1).astype(np.int64), f if k else 1 - f) for k in (0, 1)]


def _corner(t, n, k):
    """The cell (clamped to [0, n - 1]) and tent weight of corner k (an RVar) of t."""
    t0 = hg.floor(t)
    f = t - t0
    return hg.clamp(hg.i32(t0) + k, 0, n - 1), hg.select(k == 0, 1.0 - f, f)


GRID = (4, 5, 8)  # the bilateral grid: (H/16 + 2, W/16 + 2, 8 intensities)


def grid_splat(rng, shape=SHAPE):
    """d[A] of a bilateral slice (each pixel reads 8 trilinear corners of grid A): the
    adjoint splats every pixel into the grid (W4's d A, one channel)."""
    guide = hg.ImageParam(hg.Float(32), 2, "guide")
    grid = hg.ImageParam(hg.Float(32), 3, "A")
    seed = hg.ImageParam(hg.Float(32), 2, "seed")
    y, x = hg.Var("y"), hg.Var("x")
    rk = hg.RDom([(0, 2), (0, 2), (0, 2)], name="rk")
    cy, wy = _corner((hg.f32(y) + 0.5) / 16.0 - 0.5, grid.dim_extent(0), rk[0])
    cx, wx = _corner((hg.f32(x) + 0.5) / 16.0 - 0.5, grid.dim_extent(1), rk[1])
    cz, wz = _corner(guide[y, x] * 8.0 - 0.5, grid.dim_extent(2), rk[2])
    out = hg.Func("sliced")
    out[y, x] = 0.0
    out[y, x] += wy * wx * wz * grid[cy, cx, cz]
    d = hg.propagate_adjoints(_seeded_sum(out, seed))
    g = rng.random(shape, dtype=np.float32)
    s = rng.standard_normal(shape).astype(np.float32)
    inputs = {"guide": g, "A": rng.random(GRID, dtype=np.float32), "seed": s}
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    want = np.zeros(GRID)
    for iy, wy_ in _np_tents((yy + 0.5) / 16 - 0.5, GRID[0]):
        for ix, wx_ in _np_tents((xx + 0.5) / 16 - 0.5, GRID[1]):
            for iz, wz_ in _np_tents(g.astype(np.float64) * 8 - 0.5, GRID[2]):
                np.add.at(want, (iy, ix, iz), s * wy_ * wx_ * wz_)
    return [d[grid]], inputs, [GRID], [want]


def conv_kernel_adjoint(rng, shape=SHAPE):
    """d[k] of a 3x3 convolution through repeat_edge: every pixel adds into 9 values."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    seed = hg.ImageParam(hg.Float(32), 2, "seed")
    y, x = hg.Var("y"), hg.Var("x")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(0, 3), (0, 3)])
    out = hg.Func("conv")
    out[y, x] = hg.sum(clamped[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]])
    d = hg.propagate_adjoints(_seeded_sum(out, seed))
    img = rng.random(shape, dtype=np.float32)
    s = rng.standard_normal(shape).astype(np.float32)
    inputs = {"inp": img, "k": np.full((3, 3), 1 / 9, np.float32), "seed": s}
    padded = np.pad(img.astype(np.float64), 1, mode="edge")
    h, w = shape
    want = np.array([[np.sum(s * padded[i:i + h, j:j + w]) for j in range(3)]
                     for i in range(3)])
    return [d[k]], inputs, [(3, 3)], [want]


def _sum_of_squares(name):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    loss = hg.Func(name)
    loss[()] = 0.0
    loss[()] += inp[r[0], r[1]] * inp[r[0], r[1]]
    return loss, r


def rfactor_loss(rng, shape=SHAPE):
    """A 0-D loss whose rows are rfactor'd into a parallel partial per row."""
    loss, r = _sum_of_squares("rf_loss")
    u = hg.Var("u")
    loss.update(0).rfactor(r[0], u).parallel(u)
    img = rng.standard_normal(shape).astype(np.float32)
    return [loss], {"inp": img}, [()], [np.sum(img.astype(np.float64) ** 2)]


def auto_loss(rng, shape=SHAPE):
    """A 0-D loss the autoscheduler makes parallel over its outer RVar (privatised)."""
    loss, _ = _sum_of_squares("auto_loss")
    img = rng.standard_normal(shape).astype(np.float32)
    return [loss], {"inp": img}, [()], [np.sum(img.astype(np.float64) ** 2)]


def atomic_scatter(rng, shape=SHAPE):
    """A user's atomic() parallel scatter: a 16-bin histogram weighted by the image."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("weighted_hist")
    hist[hg.Var("b")] = 0.0
    hist[hg.clamp(hg.i32(inp[r[0], r[1]] * 16.0), 0, 15)] += inp[r[0], r[1]]
    hist.update(0).atomic().parallel(r[0])
    img = rng.random(shape, dtype=np.float32)
    t = img.astype(np.float64)
    want = np.bincount(np.clip((img * 16).astype(np.int64), 0, 15).ravel(), t.ravel(), 16)
    return [hist], {"inp": img}, [(16,)], [want]


# case -> (builder, auto_schedule the pipeline, has a privatised scatter); conv_kernel's
# d[k] is a gather (each of k's rows sums over the image) and rfactor_loss is the user's
# rfactor: neither needs private copies
CASES = {"lut_and_histogram": (lut_and_histogram, True, True),
         "warp": (warp_adjoints, True, True), "grid_splat": (grid_splat, True, True),
         "conv_kernel": (conv_kernel_adjoint, True, False),
         "rfactor_loss": (rfactor_loss, False, False), "auto_loss": (auto_loss, True, True),
         "atomic_scatter": (atomic_scatter, False, True)}


# ---- running and comparing -------------------------------------------------------

@contextlib.contextmanager
def _numba_threads(n: int):
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _tuple(results) -> tuple:
    return results if isinstance(results, tuple) else (results,)


def _bits(results) -> list[tuple]:
    """Each output's dtype, shape and bytes: equal only when bitwise equal."""
    return [(r.dtype.str, r.shape, np.ascontiguousarray(r).tobytes())
            for r in _tuple(results)]


def _pipeline(name, rng, shape=SHAPE, target="cpu"):
    """(Pipeline, its inputs, output shapes, oracle values) of case `name` on images of
    `shape`, auto-scheduled for `target` where the case is. Inputs an adjoint does not
    read (d[lut] is linear in lut) are left out."""
    build, auto, _ = CASES[name]
    outputs, inputs, shapes, want = build(rng, shape)
    p = hg.Pipeline(outputs)
    if auto:
        p.auto_schedule(target)
    graph = build_graph(outputs)
    names = {str(i.name) for i in graph.inputs + graph.params}
    return p, {k: v for k, v in inputs.items() if k in names}, shapes, want


def _source(p, deterministic: bool) -> str:
    return p.source(get_target("cpu", deterministic))


@pytest.fixture
def parallel_launches(monkeypatch):
    """Every launch goes to the thread pool, whatever the output size."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "1")
    assert numba.config.NUMBA_NUM_THREADS >= 2, "the thread-count comparison needs 2"


@pytest.mark.usefixtures("parallel_launches")
@pytest.mark.parametrize("name", list(CASES))
def test_deterministic_runs_are_bitwise_equal_for_1_and_2_threads(name, rng):
    p, inputs, shapes, want = _pipeline(name, rng)
    fn = p.compile("cpu", deterministic=True)
    runs = []
    for threads in (2, 2, 1):
        with _numba_threads(threads):
            runs.append(fn(shapes=shapes, **inputs))
    assert _bits(runs[1]) == _bits(runs[0]), "two runs with 2 threads differ"
    assert _bits(runs[2]) == _bits(runs[0]), "1 thread and 2 threads differ"
    with _numba_threads(2):
        default = _tuple(p.compile("cpu")(shapes=shapes, **inputs))
    for i, (g, d, w) in enumerate(zip(_tuple(runs[0]), default, want)):
        scale = np.abs(w).max()
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * scale, err_msg=f"output {i}")
        np.testing.assert_allclose(g, d, rtol=1e-5, atol=1e-5 * scale, err_msg=f"output {i}")


def _thread_count_reads(driver: str) -> int:
    """How often the driver reads its thread-count argument (run's third-last)."""
    signature = re.search(r"^def run\((.*)\):$", driver, re.M).group(1).split(", ")
    return len(re.findall(rf"\b{signature[-3]}\b", driver)) - 1


@pytest.mark.parametrize("name", list(CASES))
def test_deterministic_code_has_no_atomics_and_no_thread_count(name, rng):
    """The code that runs (the cache entry) and Pipeline.source: no atomic add, the
    thread count never read, privatised loops split into DETERMINISTIC_CHUNKS chunks."""
    p, _, _, _ = _pipeline(name, rng)
    fn = p.compile("cpu", deterministic=True)
    driver, kernels, _ = cache.entry_sources(fn.key)
    source = _source(p, True)
    for text in [driver, *kernels.values(), source]:
        assert "_hg_atomic_add(" not in text
    assert _thread_count_reads(driver) == 0
    if CASES[name][2]:
        assert re.search(rf"_chunk_size = \(\(.* \+ {DETERMINISTIC_CHUNKS - 1}\) // "
                         rf"{DETERMINISTIC_CHUNKS}\)$", source, re.M)


def test_default_and_deterministic_modes_are_cache_entries_of_their_own(rng):
    """One pipeline compiled both ways in one process: two keys, two modules, and the
    default mode's code keeps its atomics and thread-count chunks."""
    p, inputs, shapes, _ = _pipeline("warp", rng)
    fast = p.compile("cpu")
    exact = p.compile("cpu", deterministic=True)
    assert fast.key != exact.key and fast.module is not exact.module
    assert p.compile("cpu", deterministic=True).module is exact.module
    fast_text, exact_text = (cache.entry_sources(f.key)[0] for f in (fast, exact))
    assert fast_text != exact_text
    assert "_hg_atomic_add(" in _source(p, False)
    assert _thread_count_reads(cache.entry_sources(fast.key)[0]) > 0
    assert "_hg_atomic_add(" not in _source(p, True)


@pytest.mark.usefixtures("parallel_launches")
@pytest.mark.parametrize("deterministic", [False, True])
def test_a_privatised_inner_split_loop_with_a_tail_is_sized_by_its_factor(deterministic, rng):
    """parallel() on the inner loop of split(r.x, ro, ri, 4): its extent min(4, H - 4 ro)
    reads ro, so the private copies are sized by the factor (the chunk size let and
    the partials' allocation, before the loops, read no loop variable: a NameError
    before). Deterministic mode privatises even with atomic()."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("tail_hist")
    hist[hg.Var("b")] = 0.0
    hist[hg.clamp(hg.i32(inp[r[0], r[1]] * 16.0), 0, 15)] += inp[r[0], r[1]]
    ro, ri = hg.Var("ro"), hg.Var("ri")
    hist.update(0).split(r[0], ro, ri, 4).parallel(ri)
    img = rng.random((H, W), dtype=np.float32)
    want = np.bincount(np.clip((img * 16).astype(np.int64), 0, 15).ravel(),
                       img.astype(np.float64).ravel(), 16)
    fn = hg.Pipeline(hist).compile("cpu", deterministic=deterministic)
    runs = []
    for threads in (2, 1):
        with _numba_threads(threads):
            runs.append(fn(inp=img, shapes=[(16,)]))
    for got in runs:
        np.testing.assert_allclose(got, want, rtol=1e-5)
    if deterministic:
        assert _bits(runs[1]) == _bits(runs[0])
