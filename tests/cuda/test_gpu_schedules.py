"""GPU schedules compiled for target='cuda': gpu_tile in its 1-D, 2-D and 3-D forms,
gpu_blocks / gpu_threads, a producer computed at a block loop (a shared-memory tile
with barriers) and at a thread loop (local memory), the refusals that only the CUDA
target makes, and schedule independence: one separable blur under several GPU
schedules gives the CPU target's values and the same values under every schedule
(the directive-time errors are tests/test_gpu_schedule.py's)."""

import re

import numpy as np
import pytest

import halogrid as hg
from box_blur import box_blur, box_blur_oracle
from cuda_compare import assert_close, cuda_run, same
from halogrid.codegen.backends.cuda import runtime
from halogrid.schedule.state import stage_schedule

x, y, z = hg.Var("x"), hg.Var("y"), hg.Var("z")
xo, yo, zo, xi, yi, zi = (hg.Var(n) for n in ("xo", "yo", "zo", "xi", "yi", "zi"))


def _launch_blocks(source: str) -> list[str]:
    """The block shapes of the driver's launches, as written."""
    return re.findall(r"launch\(kernel_\w+, .*?, (\((?:\d+, ?)*\d+,?\)), \(", source)


@pytest.mark.parametrize("dims, shape, tile, block", [
    (1, (30,), (x, xo, xi, 16), "(16,)"),
    (2, (13, 21), (x, y, xo, yo, xi, yi, 8, 4), "(8, 4)"),
    (3, (3, 5, 7), (x, y, z, xo, yo, zo, xi, yi, zi, 4, 2, 2), "(4, 2, 2)"),
], ids=["1d", "2d", "3d"])
def test_gpu_tile_forms_launch_their_thread_tiles(dims, shape, tile, block, rng):
    inp, f = box_blur(dims)
    f.gpu_tile(*tile)
    a = rng.random(shape, dtype=np.float32)
    (got,) = same(f, inp=a)
    np.testing.assert_allclose(got, box_blur_oracle(a), rtol=1e-5)
    source = hg.Pipeline(f).source(target="cuda")
    assert _launch_blocks(source) == [block]
    for axis in "xyz"[:dims]:
        assert f"cuda.blockIdx.{axis}" in source and f"cuda.threadIdx.{axis}" in source


def test_gpu_blocks_and_threads_over_a_tile(rng):
    inp, f = box_blur(2)
    f.tile(x, y, xo, yo, xi, yi, 8, 2).gpu_blocks(xo, yo).gpu_threads(xi, yi)
    a = rng.random((9, 17), dtype=np.float32)
    (got,) = same(f, inp=a)
    np.testing.assert_allclose(got, box_blur_oracle(a), rtol=1e-5)
    assert _launch_blocks(hg.Pipeline(f).source(target="cuda")) == ["(8, 2)"]


def test_gpu_threads_over_a_loop_longer_than_a_block_stride(rng):
    """gpu_threads(x) over rows of 1500 pixels (no constant extent, more than 1024
    threads): the block gets a bounded number of threads, which stride the row."""
    inp, f = box_blur(2)
    f.gpu_blocks(y).gpu_threads(x)
    a = rng.random((2, 1500), dtype=np.float32)
    (got,) = same(f, inp=a)
    np.testing.assert_allclose(got, box_blur_oracle(a), rtol=1e-5)
    (block,) = _launch_blocks(hg.Pipeline(f).source(target="cuda"))
    assert 1 <= int(block.strip("(,)")) <= 1024


def _separable():
    """(inp, blur_x, out): out = a vertical 3-tap blur of a horizontal one."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    bx = hg.Func("blur_x")
    bx[y, x] = (c[y, x - 1] + 2.0 * c[y, x] + c[y, x + 1]) * 0.25
    out = hg.Func("blur_y")
    out[y, x] = (bx[y - 1, x] + 2.0 * bx[y, x] + bx[y + 1, x]) * 0.25
    return inp, bx, out


def _shared_tile(bx, out):
    out.gpu_tile(x, y, xo, yo, xi, yi, 8, 4)
    bx.compute_at(out, xo).gpu_threads(x, y)


def _local_rows(bx, out):
    out.gpu_tile(x, y, xo, yo, xi, yi, 8, 4)
    bx.compute_at(out, xi)


SCHEDULES = {
    "default": lambda bx, out: None,
    "inline_tile_16x8": lambda bx, out: out.gpu_tile(x, y, xo, yo, xi, yi, 16, 8),
    "root_both_tiled": lambda bx, out: (
        bx.compute_root().gpu_tile(x, y, xo, yo, xi, yi, 4, 4),
        out.gpu_tile(x, y, xo, yo, xi, yi, 8, 8)),
    "rows_as_blocks": lambda bx, out: (bx.compute_root().gpu_blocks(y).gpu_threads(x),
                                       out.gpu_blocks(y).gpu_threads(x)),
    "shared_tile": _shared_tile,
    "local_per_thread": _local_rows,
}


def _np_separable(a):
    p = np.pad(a.astype(np.float64), 1, mode="edge")
    bx = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) * 0.25
    return (bx[:-2] + 2 * bx[1:-1] + bx[2:]) * 0.25


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_separable_blur_is_schedule_independent_across_gpu_schedules(name, rng):
    """Each schedule: the CPU target's values, NumPy's, and within 1e-6 of the
    unscheduled CUDA pipeline (the same arithmetic, at other points of the grid)."""
    a = rng.random((11, 19), dtype=np.float32)  # no multiple of any tile: tails
    _, bx, out = _separable()
    SCHEDULES[name](bx, out)
    (got,) = same(out, inp=a)
    np.testing.assert_allclose(got, _np_separable(a), rtol=1e-5)
    _, _, unscheduled = _separable()
    assert_close(got, cuda_run(unscheduled, inp=a), rtol=1e-6, atol=0)


def test_a_producer_at_a_block_loop_lives_in_shared_memory_behind_a_barrier():
    _, bx, out = _separable()
    _shared_tile(bx, out)
    source = hg.Pipeline(out).source(target="cuda")
    assert "cuda.shared.array((6, 8)" in source  # a tile of 4 rows + 2 halo rows
    assert "cuda.syncthreads()" in source
    assert "cuda.local.array" not in source


def test_a_producer_at_a_thread_loop_lives_in_local_memory():
    _, bx, out = _separable()
    _local_rows(bx, out)
    source = hg.Pipeline(out).source(target="cuda")
    assert "cuda.local.array((3, 1)" in source  # the 3 rows one output pixel reads
    assert "cuda.shared.array" not in source


def test_a_buffer_without_a_constant_size_lives_in_scratch_slices(rng):
    """compute_at a loop whose extent has no constant bound (one row of blur_x per
    block, as wide as the image): the buffer becomes a global scratch buffer with one
    slice per block, sized by the host; values as on the CPU."""
    inp, bx, out = _separable()
    out.gpu_blocks(y)
    bx.compute_at(out, y)
    src = hg.Pipeline(out).source(target="cuda")
    assert "owners(" in src and "_scratch" in src and "cuda.local.array" not in src
    same([out], inp=rng.random((7, 11), dtype=np.float32))


def test_a_buffer_with_no_host_bound_is_a_schedule_error():
    """A per-iteration buffer whose size reads a value only the kernel knows (a
    data-dependent RDom extent) has no bound the host can compute: refused, with the
    Func and the fix."""
    lens = hg.ImageParam(hg.Int(32), 1, "lens")
    x, i = hg.Var("x"), hg.Var("i")
    g = hg.Func("ragged")
    g[x, i] = hg.f32(x + i)
    r = hg.RDom([(0, 4)])
    f = hg.Func("sums")
    f[x] = 0.0
    f[x] += g[x, hg.clamp(lens[x] + r.x, 0, 100)]
    f.update().gpu_tile(x, hg.Var("xo"), hg.Var("xi"), 8)
    g.compute_at(f, "xi")
    try:
        src = hg.Pipeline(f).source(target="cuda")
    except hg.ScheduleError as err:
        assert re.search(r"Func 'ragged(#\d+)?'", str(err)) and "compute_root" in str(err)
    else:  # bounded after all (clamped reads): then it must run like the CPU
        assert "def kernel" in src
        same([f], lens=np.array([3, 0, 7, 1, 2], np.int32), shapes=[(5,)])


def _histogram():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[hg.Var("b")] = 0
    hist[hg.clamp(hg.i32(inp[r[0], r[1]] * 10.0), 0, 9)] += 1
    return hist, r


def test_a_refused_racing_gpu_tile_leaves_the_schedule_as_it_was():
    hist, r = _histogram()
    before = list(stage_schedule(hist, 1).dims)
    with pytest.raises(hg.ScheduleError, match="atomic"):
        hist.update(0).gpu_tile(r[1], xo, xi, 8)
    assert stage_schedule(hist, 1).dims == before


def test_an_atomic_gpu_tiled_histogram_matches_numpy(rng):
    hist, r = _histogram()
    hist.update(0).atomic().gpu_tile(r[1], xo, xi, 8)
    a = rng.random((7, 20), dtype=np.float32)
    got = cuda_run(hist, shapes=[(10,)], inp=a)
    np.testing.assert_array_equal(got, np.bincount(np.clip((a * 10).astype(int), 0, 9).ravel(),
                                                   minlength=10))


def _row_per_block(bx, out):
    out.gpu_blocks(y)
    bx.compute_at(out, y)   # a buffer with no constant size: scratch slices per block


def _auto_histogram():
    hist, _ = _histogram()
    return hg.Pipeline(hist).auto_schedule(target="cuda"), [(10,)]


def _separable_with(schedule):
    def build():
        _, bx, out = _separable()
        schedule(bx, out)
        return hg.Pipeline(out), None
    return build


GRID_CASES = {"shared_tile": _separable_with(_shared_tile),
              "row_per_block": _separable_with(_row_per_block),
              "auto_histogram": _auto_histogram}


@pytest.mark.parametrize("name", sorted(GRID_CASES))
def test_a_capped_grid_strides_over_every_iteration_once(name, monkeypatch, rng):
    """Kernels stride their block loops, so a grid capped at 2 x 2 blocks (runtime
    GRID_LIMITS, as CUDA caps huge grids) computes what the full grid computes: block
    loops that synchronise, scratch slices per block, private copies per block."""
    p, shapes = GRID_CASES[name]()
    a = rng.random((11, 19), dtype=np.float32)
    full = cuda_run(p, shapes, inp=a)
    monkeypatch.setattr(runtime, "GRID_LIMITS", (2, 2, 1))
    assert runtime.capped((7, 5)) == (2, 2)
    assert_close(cuda_run(p, shapes, inp=a), full, rtol=1e-6, atol=0)
