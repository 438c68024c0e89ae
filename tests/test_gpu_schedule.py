"""GPU schedule directives (gpu_tile, gpu_blocks, gpu_threads), after Halide's
correctness/gpu_* and error/* tests: the loop structure and launch-grid axes they
record, one test per mistake they refuse (a ScheduleError naming the directive, the
Func, why and the fix), and GPU-scheduled pipelines on the CPU target (where GPU loops
run as ordinary loops) equal to NumPy oracles and to the unscheduled pipeline."""

import re

import numpy as np
import pytest

import halogrid as hg
from box_blur import box_blur, box_blur_oracle
from halogrid.schedule.state import PARALLEL_KINDS, gpu_axis, stage_schedule

x, y, z, u = hg.Var("x"), hg.Var("y"), hg.Var("z"), hg.Var("u")
xo, yo, zo, xi, yi, zi = (hg.Var(n) for n in ("xo", "yo", "zo", "xi", "yi", "zi"))


def _raises(fn, *patterns):
    with pytest.raises(hg.ScheduleError) as info:
        fn()
    message = str(info.value)
    for pattern in patterns:
        assert re.search(pattern, message), f"{pattern!r} not in: {message}"
    return message


def _grid(f, index=0) -> dict:
    """loop name -> (kind, axis), outermost first, of f's definition `index`."""
    s = stage_schedule(f, index)
    return {n: gpu_axis(s, n) for n in s.dims}


def _pure(name="f", dims=2):
    f = hg.Func(name)
    args = (z, y, x)[3 - dims:]
    f[args] = sum(args[1:], args[0])
    return f


def _run(f, **inputs):
    return hg.Pipeline(f).compile()(**inputs)


# ---- the loops the directives record -------------------------------------------------

def test_gpu_tile_2d_puts_threads_innermost_and_blocks_right_outside():
    f = _pure()
    f.gpu_tile(x, y, xo, yo, xi, yi, 16, 8)
    assert _grid(f) == {"yo": ("gpu_block", 1), "xo": ("gpu_block", 0),
                        "yi": ("gpu_thread", 1), "xi": ("gpu_thread", 0)}
    assert stage_schedule(f, 0).const_extent == {"xi": 16, "yi": 8}


def test_gpu_tile_1d_and_3d_forms_and_outer_names_optional():
    f = _pure(dims=1)
    f.gpu_tile(x, xi, 64)     # the block loop keeps the name x
    assert _grid(f) == {"x": ("gpu_block", 0), "xi": ("gpu_thread", 0)}
    g = _pure(dims=3)
    g.gpu_tile(x, y, z, xo, yo, zo, xi, yi, zi, 8, 4, 2)
    assert list(_grid(g).items()) == [
        ("zo", ("gpu_block", 2)), ("yo", ("gpu_block", 1)), ("xo", ("gpu_block", 0)),
        ("zi", ("gpu_thread", 2)), ("yi", ("gpu_thread", 1)), ("xi", ("gpu_thread", 0))]


def test_gpu_blocks_and_threads_make_the_first_var_the_x_axis():
    f = _pure()
    f.tile(x, y, xo, yo, xi, yi, 8, 4).gpu_blocks(yo, xo).gpu_threads(yi, xi)
    # Halide's meaning: the first var is .x, the innermost loop of its kind
    assert list(_grid(f).items()) == [("xo", ("gpu_block", 1)), ("yo", ("gpu_block", 0)),
                                      ("xi", ("gpu_thread", 1)), ("yi", ("gpu_thread", 0))]
    assert gpu_axis(stage_schedule(_pure(), 0), "x") == ("serial", None)
    assert PARALLEL_KINDS == ("parallel", "gpu_block", "gpu_thread")


def test_gpu_directives_are_stage_methods_and_change_the_cache_fingerprint():
    f = _pure()
    f[y, x] = f[y, x] * 2
    before = stage_schedule(f, 1).fingerprint()
    assert f.update(0).gpu_blocks(y).gpu_threads(x).func is f
    assert stage_schedule(f, 1).fingerprint() != before
    assert _grid(f, 1) == {"y": ("gpu_block", 0), "x": ("gpu_thread", 0)}
    assert _grid(f, 0) == {"y": ("serial", None), "x": ("serial", None)}


# ---- refused schedules ---------------------------------------------------------------

def test_error_gpu_too_many_threads_per_block():
    _raises(lambda: _pure("big").gpu_tile(x, y, xo, yo, xi, yi, 64, 32),
            r"Can't apply gpu_tile\(x, y, xo, yo, xi, yi, 64, 32\) to Func 'big'",
            "32 \\* 64 = 2048 threads per block", "1024", "smaller thread tile")
    f = _pure("big2").split(x, xo, xi, 2048)
    _raises(lambda: f.gpu_blocks(xo).gpu_threads(xi), "gpu_threads\\(xi\\)", "'big2'",
            "2048 threads", "smaller")


def test_error_gpu_lots_of_dims():
    f = hg.Func("deep")
    w = hg.Var("w")
    f[w, z, y, x] = w + z + y + x
    _raises(lambda: f.gpu_blocks(x, y, z, w), "gpu_blocks\\(x, y, z, w\\)", "'deep'",
            "4 gpu_block loops", "3 axes", "fuse")
    f.split(w, "wo", "wi", 2).gpu_blocks("wo")
    _raises(lambda: f.gpu_threads(x, y, z, "wi"), "'deep'", "4 gpu_thread loops", "fuse")
    f.gpu_threads(x, y, z)                # 3 thread and 1 block axes: allowed


def test_gpu_threads_without_block_loops_is_a_producer_schedule():
    """Halide's producer.compute_at(consumer, block loop).gpu_threads(...): a stage's thread
    loops need no block loop of its own; alone, it runs as one block."""
    f = _pure("lonely")
    f.gpu_threads(x)
    assert np.array_equal(f.realize([3, 5]), np.add.outer(np.arange(3), np.arange(5)))


def test_error_gpu_blocks_inside_gpu_threads():
    f = _pure("inverted", dims=3).gpu_blocks(z).gpu_threads(y)
    _raises(lambda: f.gpu_blocks(x), r"gpu_blocks\(x\)", "'inverted'",
            "gpu_block loop 'x' would be inside gpu_thread loop 'y'", "outside")
    g = _pure("swapped").gpu_blocks(x)
    _raises(lambda: g.gpu_threads(y), "'swapped'", "'x' would be inside gpu_thread loop 'y'")
    h = _pure("reordered").gpu_tile(x, xo, xi, 32)
    _raises(lambda: h.reorder(xo, xi), r"reorder\(xo, xi\)", "'reordered'",
            "'xo' would be inside gpu_thread loop 'xi'")
    assert _grid(h)["xi"] == ("gpu_thread", 0)  # a refused directive changes nothing


def test_error_gpu_loop_over_a_racing_update_without_atomic():
    inp = hg.ImageParam(hg.Int(32), 1, "inp")
    r = hg.RDom([(0, inp.width())])
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(inp[r], 0, 9)] += 1
    _raises(lambda: hist.update(0).gpu_tile(r.x, xo, xi, 32), "'hist'",
            "may write the same location", "GPU threads .* would race", "atomic\\(\\)",
            "rfactor")
    scan = hg.Func("scan")
    scan[y, x] = hg.f32(x)
    scan[y, x] = scan[y - 1, x] + scan[y, x]
    scan.update(0).gpu_blocks(x)          # columns are independent
    _raises(lambda: scan.update(0).gpu_threads(y), "'scan'", "scan\\[y - 1, x\\]", "race")


def test_error_cpu_loop_directive_on_a_gpu_loop():
    f = _pure("mixed").gpu_tile(x, y, xo, yo, xi, yi, 8, 8)
    _raises(lambda: f.vectorize(xi), r"vectorize\(xi\)", "'mixed'",
            "'xi' is a gpu_thread loop, which can't also be vectorized", "Split 'xi'")
    _raises(lambda: f.vectorize(xi, 4), "gpu_thread loop")
    _raises(lambda: f.parallel(yo), r"parallel\(yo\)", "gpu_block loop",
            "already run concurrently")
    _raises(lambda: f.unroll(yi), "gpu_thread loop, which can't also be unrolled")


def test_error_gpu_directive_on_a_cpu_loop():
    f = _pure("cpu").vectorize(x, 4).parallel(y)
    _raises(lambda: f.gpu_threads("x_vi"), "'cpu'", "'x_vi' is already a vectorized loop",
            "Mark a loop that is not vectorized")
    _raises(lambda: f.gpu_blocks(y), "'y' is already a parallel loop")
    _raises(lambda: f.gpu_tile(y, yi, 4), r"gpu_tile\(y, yi, 4\)", "already a parallel")
    g = _pure("both").gpu_blocks(y)
    _raises(lambda: g.gpu_threads(y), "'y' is already a gpu_block loop")


def test_error_gpu_tile_with_a_bad_argument_list():
    _raises(lambda: _pure("args").gpu_tile(x, y, xo, yo, 8), "'args'",
            r"takes \(x, xo, xi, tx\)", "Pass one of those")
    _raises(lambda: _pure("args").gpu_tile(x, xo, xi, 8, 8), r"takes \(x, xo, xi, tx\)")
    _raises(lambda: _pure("args").gpu_tile(x, y, xo, 8), "'y' already names a loop")
    _raises(lambda: _pure("args").gpu_tile(x, xo, xi, 0), "positive integer")


# ---- GPU-scheduled pipelines on the CPU target ----------------------------------------

@pytest.mark.parametrize("dims, shape, tile", [
    (1, (45,), (x, xo, xi, 16)),
    (2, (13, 21), (x, y, xo, yo, xi, yi, 8, 4)),
    (3, (5, 7, 9), (x, y, z, xo, yo, zo, xi, yi, zi, 4, 4, 2)),
], ids=["1d", "2d", "3d"])
def test_gpu_tile_blur_with_tails_equals_numpy_and_unscheduled(rng, dims, shape, tile):
    a = rng.random(shape, dtype=np.float32)
    f = box_blur(dims)[1].gpu_tile(*tile)       # no extent divides its tile size
    out = _run(f, inp=a)
    np.testing.assert_allclose(out, box_blur_oracle(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out, _run(box_blur(dims)[1], inp=a))


def test_gpu_mixed_dimensionality_by_hand_after_split(rng):
    a = rng.random((11, 19), dtype=np.float32)
    f = box_blur(2)[1].split(x, xo, xi, 8).split(y, yo, yi, 4).reorder(xi, yi, xo, yo)
    f.gpu_blocks(xo, yo).gpu_threads(xi, yi)
    np.testing.assert_array_equal(_run(f, inp=a), _run(box_blur(2)[1], inp=a))


def test_gpu_update_over_pure_dims(rng):
    a = rng.random((9, 14), dtype=np.float32)

    def build():
        inp = hg.ImageParam(hg.Float(32), 2, "inp")
        f = hg.Func("twice")
        f[y, x] = inp[y, x]
        f[y, x] = f[y, x] * 2 + f[y, x] * f[y, x]
        return f

    f = build()
    f.gpu_tile(x, y, xo, yo, xi, yi, 4, 4)
    f.update(0).gpu_tile(x, y, xo, yo, xi, yi, 8, 2)
    out = _run(f, inp=a)
    np.testing.assert_allclose(out, a * 2 + a * a, rtol=1e-6)
    np.testing.assert_array_equal(out, _run(build(), inp=a))


def test_gpu_histogram_with_atomic(rng, capsys):
    labels = rng.integers(-3, 14, size=(10, 13)).astype(np.int32)
    inp = hg.ImageParam(hg.Int(32), 2, "labels")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(inp[r.x, r.y], 0, 9)] += 1
    hist.update(0).atomic().gpu_blocks(r.x).gpu_threads(r.y)
    out = hg.Pipeline(hist).compile()(labels=labels, shapes=[(10,)])
    np.testing.assert_array_equal(out, np.bincount(np.clip(labels, 0, 9).ravel(), minlength=10))
    hist.print_loop_nest()
    nest = capsys.readouterr().out
    assert re.search(r"atomic hist\S*\[", nest), nest   # a GPU loop races like a parallel one


def test_gpu_rfactor_sum(rng):
    a = rng.random((6, 37), dtype=np.float32)

    def build():
        inp = hg.ImageParam(hg.Float(32), 2, "inp")
        r = hg.RDom([(0, 37)])
        total = hg.Func("row_sums")
        total[y] = 0.0
        total[y] += inp[y, r]
        return total, r

    f, r = build()
    f.update(0).split(r.x, "ro", "ri", 8).rfactor("ro", u).gpu_blocks(u, y)
    assert _grid(f, 1) == {"y": ("gpu_block", 1), "u": ("gpu_block", 0), "ri": ("serial", None)}
    _raises(lambda: f.update(0).gpu_threads("ri"), "'row_sums'", "would race")
    out = hg.Pipeline(f).compile()(inp=a, shapes=[(6,)])
    np.testing.assert_allclose(out, a.astype(np.float64).sum(axis=1), rtol=1e-5)
    plain, _ = build()
    np.testing.assert_allclose(out, hg.Pipeline(plain).compile()(inp=a, shapes=[(6,)]),
                               rtol=1e-6)


def test_print_loop_nest_shows_the_gpu_loops_as_the_cpu_runs_them(capsys):
    f = _pure("shown").gpu_tile(x, y, xo, yo, xi, yi, 8, 8)
    f.print_loop_nest()
    kinds = re.findall(r"for (\w+)\S* in .*\((\w+)\):", capsys.readouterr().out)
    # the CPU target runs block loops on the thread pool and thread loops serially
    assert kinds == [("yo", "parallel"), ("xo", "parallel"), ("yi", "serial"),
                     ("xi", "serial")]
