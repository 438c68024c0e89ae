"""Schedule independence: every schedule of a pipeline gives the default schedule's
result (bit-identical, or allclose where a schedule reassociates float sums).

Each pipeline is compiled once per schedule (a Numba compile costs ~1-2 s), so the
schedules are chosen to cover many directives each rather than one per test.
Shapes are odd so that no split factor divides them (tails must stay exact).
"""

import numpy as np
import pytest

import halogrid as hg



@pytest.fixture(autouse=True)
def _always_parallel(monkeypatch):
    """Run the prange kernels even on small shapes (one compile per schedule, not two)."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")


x, y, u = hg.Var("x"), hg.Var("y"), hg.Var("u")
xo, xi, yo, yi = hg.Var("xo"), hg.Var("xi"), hg.Var("yo"), hg.Var("yi")


def _blur(schedule):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    bx = hg.Func("bx")
    bx[y, x] = (clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]) / 3
    by = hg.Func("by")
    by[y, x] = (bx[y - 1, x] + bx[y, x] + bx[y + 1, x]) / 3
    schedule(bx, by)
    return hg.Pipeline([by]).compile()


BLUR_SCHEDULES = {
    "root_split_parallel_vectorize": lambda bx, by: (
        bx.compute_root().parallel(y).vectorize(x, 8),
        by.split(x, xo, xi, 8).parallel(y).vectorize(xi)),
    "tile_compute_at_tile": lambda bx, by: (
        by.tile(x, y, xo, yo, xi, yi, 16, 8).parallel(yo).vectorize(xi, 4),
        bx.compute_at(by, xo).vectorize(x, 8)),
    "rows_store_root_unroll_fuse": lambda bx, by: (
        by.split(y, yo, yi, 4).fuse(yi, yo, "yf").unroll(x, 3).parallel("yf"),
        bx.store_root().compute_at(by, "yf")),
}


@pytest.mark.parametrize("name", sorted(BLUR_SCHEDULES))
def test_separable_blur_matches_default_schedule(name, rng):
    default = _blur(lambda bx, by: None)
    scheduled = _blur(BLUR_SCHEDULES[name])
    for shape in [(37, 53), (3, 2)]:
        img = rng.random(shape, dtype=np.float32)
        np.testing.assert_array_equal(scheduled(inp=img), default(inp=img))


def _histogram(schedule):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(hg.i32(inp[r.x, r.y] * 64), 0, 63)] += 1
    schedule(hist, r)
    return hg.Pipeline([hist]).compile()


@pytest.mark.parametrize("name,schedule", [
    ("parallel_chosen", lambda h, r: h.update(0).parallel(r.x)),
    ("atomic", lambda h, r: h.update(0).atomic().parallel(r.x, 16)),
    ("rfactor", lambda h, r: h.update(0).split(r.x, yo, yi, 32).rfactor(yo, u).parallel(u)),
])
def test_histogram_scatter_matches_numpy_under_parallel_schedules(name, schedule, rng):
    fn = _histogram(schedule)
    for shape in [(301, 257), (3, 5)]:
        img = rng.random(shape, dtype=np.float32)
        ref = np.bincount(np.clip((img * 64).astype(np.int32), 0, 63).ravel(), minlength=64)
        np.testing.assert_array_equal(fn(inp=img, shapes=[(64,)]), ref)


def test_recursive_filter_keeps_its_order_under_pure_var_schedules(rng):
    def build(schedule):
        inp = hg.ImageParam(hg.Float(32), 2, "inp")
        r = hg.RDom([(1, inp.width() - 1)])
        f = hg.Func("iir")
        f[y, x] = inp[y, x]
        f[y, r] = f[y, r - 1] * 0.5 + inp[y, r] * 0.5
        schedule(f, r)
        return hg.Pipeline([f]).compile()

    default = build(lambda f, r: None)
    scheduled = build(lambda f, r: (f.parallel(y).vectorize(x, 8),
                                    f.update(0).split(y, yo, yi, 8).parallel(yo)))
    img = rng.random((131, 67), dtype=np.float32)
    np.testing.assert_array_equal(scheduled(inp=img), default(inp=img))


def test_kernel_weight_gradient_reduction_in_parallel(rng):
    """d_k[ky, kx] = sum over (y, x) of d_out[y, x] * in[y + ky, x + kx]."""
    def build(schedule):
        inp = hg.ImageParam(hg.Float(32), 2, "inp")
        d_out = hg.ImageParam(hg.Float(32), 2, "d_out")
        r = hg.RDom(d_out)
        dk = hg.Func("dk")
        dk[y, x] = 0.0
        dk[y, x] += d_out[r.x, r.y] * inp[r.x + y, r.y + x]
        schedule(dk, r)
        return hg.Pipeline([dk]).compile()

    img = rng.random((203, 151), dtype=np.float32)
    d_out = rng.random((201, 149), dtype=np.float32)
    default = build(lambda dk, r: None)(inp=img, d_out=d_out, shapes=[(3, 3)])
    ref = np.array([[np.sum(d_out * img[i:i + 201, j:j + 149], dtype=np.float64)
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(default, ref, rtol=1e-4)
    for schedule in [lambda dk, r: dk.update(0).parallel(r.x),
                     lambda dk, r: dk.update(0).rfactor(r.x, u).parallel(u).vectorize(r.y, 8)]:
        out = build(schedule)(inp=img, d_out=d_out, shapes=[(3, 3)])
        np.testing.assert_allclose(out, default, rtol=1e-4)


def test_multi_output_pipeline_with_shared_producer_scheduled(rng):
    def build(schedule):
        inp = hg.ImageParam(hg.Float(32), 2, "inp")
        sq = hg.Func("sq")
        sq[y, x] = inp[y, x] * inp[y, x]
        a = hg.Func("a")
        a[y, x] = sq[y, x] + 1.0
        b = hg.Func("b")
        b[y, x] = sq[y, x] * 2.0
        schedule(sq, a, b)
        return hg.Pipeline([a, b]).compile()

    img = rng.random((29, 41), dtype=np.float32)
    ref = build(lambda sq, a, b: None)(inp=img)
    out = build(lambda sq, a, b: (sq.compute_root().parallel(y, 4).vectorize(x, 4),
                                  a.reorder(y, x).parallel(x), b.tile(x, y, xi, yi, 8, 8)))(inp=img)
    for got, want in zip(out, ref):
        np.testing.assert_array_equal(got, want)


_COLUMN_FOLDS = {  # op name -> (halogrid combine, NumPy reduction along axis 0)
    "sum": (lambda a, b: a + b, np.sum),
    "product": (lambda a, b: a * b, np.prod),
    "min": (hg.min, np.min),
    "max": (hg.max, np.max),
}


@pytest.mark.parametrize("op", sorted(_COLUMN_FOLDS))
@pytest.mark.parametrize("where", ["root", "inside_consumer"])
def test_rfactor_partials_fold_with_every_associative_op(op, where, rng):
    """col[x] = op over rows of inp[r, x], rfactor'd into per-chunk partials that fold
    back into col: at the root a NumPy reduction in the driver, computed inside the
    consumer's loop a loop nest in the kernel."""
    combine, reference = _COLUMN_FOLDS[op]
    ro, ri = hg.Var("ro"), hg.Var("ri")
    inp = hg.ImageParam(hg.Float(64), 2, "inp")
    r = hg.RDom([(1, inp.height() - 1)])
    col = hg.Func("col")
    col[x] = inp[0, x]
    col[x] = combine(col[x], inp[r.x, x])
    out = hg.Func("out")
    out[y, x] = inp[y, x] - col[x]
    col.update(0).split(r.x, ro, ri, 4).rfactor(ro, u).parallel(u)
    if where == "inside_consumer":
        col.compute_at(out, x)
    pipe = hg.Pipeline(out)
    driver = pipe.source().split("\ndef run(")[1]
    assert (".reduce(buf_col_0_rf1[:" in driver) == (where == "root")
    img = rng.random((23, 9)) + 0.5
    np.testing.assert_allclose(pipe.compile()(inp=img), img - reference(img, axis=0),
                               rtol=1e-12, atol=1e-12)
