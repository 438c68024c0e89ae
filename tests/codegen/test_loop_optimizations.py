"""Loop-nest optimisations that change the code, never the values: sibling reductions
over one domain fused into one pass (build_loops._fused), shared subexpressions of
fused stores (cse), invariant Lets hoisted and fixed-location accumulators kept in
locals (licm). Each test checks the structure in Pipeline.source() and the values
against NumPy."""

import re

import numpy as np
import pytest

import halogrid as hg


def _warp_like_gradient():
    """d[h] for out = img * h[0] + img^2 * h[1] + h[2]: three reads of h at fixed
    indices, so three sibling reductions over every pixel."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(hg.Float(64), 2, "img")
    h = hg.ImageParam(hg.Float(64), 1, "h")
    out = hg.Func("out")
    out[y, x] = img[y, x] * h[0] + img[y, x] * img[y, x] * h[1] + h[2]
    r = hg.RDom(img)
    loss = hg.Func("loss")
    loss[()] = hg.sum(out[r[0], r[1]])
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, d[h]])


@pytest.mark.parametrize("schedule", ["default", "auto"])
def test_sibling_reductions_run_in_one_pass_and_agree_with_numpy(schedule, monkeypatch, rng):
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    pipe = _warp_like_gradient()
    if schedule == "auto":
        pipe.auto_schedule()
        source = pipe.source()
        kernel_source, driver = source.split("\ndef run(")
        kernels = kernel_source.split("@njit(")[1:]
        writers = [k for k in kernels if "(chunk_lo" in k.split("\n")[1]
                   and all(f"buf_d_h_0_rf{n}[" in k for n in (1, 2, 3))]
        assert len(writers) == 1, "the three reductions should share one chunked kernel"
        # zero inits of whole buffers are numpy fills in the driver, not kernels
        assert "buf_d_h_0.fill(" in source and "buf_d_h_0_rf1.fill(" in source
        # and the merges of the per-chunk partials are numpy reductions there too
        assert all(f"np.add.reduce(buf_d_h_0_rf{n}[:" in driver for n in (1, 2, 3))
    img = rng.random((37, 29))
    h = np.array([0.5, -2.0, 3.0])
    loss, d_h = pipe.compile()(img=img, h=h, shapes=[(), (3,)])
    expected = [img.sum(), (img * img).sum(), img.size]
    np.testing.assert_allclose(d_h, expected, rtol=1e-12)
    np.testing.assert_allclose(loss, (img * 0.5 - 2 * img * img + 3).sum(), rtol=1e-12)


def test_a_reduction_into_one_point_accumulates_in_a_local(rng):
    x = hg.Var("x")
    img = hg.ImageParam(hg.Float(32), 2, "img")
    gain = hg.ImageParam(hg.Float(32), 1, "gain")
    r = hg.RDom(img)
    total = hg.Func("total")
    total[x] = 0.0
    total[x] += img[r[0], r[1]] * gain[x]
    pipe = hg.Pipeline(total)
    source = pipe.source()
    kernel = source.split("def kernel_total_0")[1].split("\n\n\n")[0]
    innermost = kernel.split("for ")[-1].split("\n")[1]
    # a float64 partial of the float32 sum (passes/licm.py)
    assert re.fullmatch(r" *_acc\w* = \(_acc\w* \+ np\.float64\(\(buf_img\[.*\] \* _inv\w*\)\)\)",
                        innermost), kernel
    assert re.search(r"_inv\w* = buf_gain\[", kernel)  # the invariant load moved out
    a = rng.random((20, 33), dtype=np.float32)
    g = np.array([1.0, 2.0, -0.5], np.float32)
    got = pipe.compile()(img=a, gain=g, shapes=[(3,)])
    np.testing.assert_allclose(got, a.astype(np.float64).sum() * g, rtol=1e-5)


def test_hoisted_code_does_not_run_for_empty_loops(rng):
    """An invariant load out of an empty loop would read outside the buffer: the
    hoisted code is guarded by the loop running at least once."""
    x = hg.Var("x")
    img = hg.ImageParam(hg.Float(32), 1, "img")
    n = hg.Param(hg.Int(32), "n", 0)
    r = hg.RDom([(0, n)], name="r")
    acc = hg.Func("acc")
    acc[x] = 0.0
    acc[x] += img[r] * img[x]
    fn = hg.Pipeline(acc).compile()
    a = rng.random(4, dtype=np.float32)
    np.testing.assert_array_equal(fn(img=a, n=0, shapes=[(4,)]), np.zeros(4, np.float32))
    np.testing.assert_allclose(fn(img=a, n=3, shapes=[(4,)]), a[:3].sum() * a, rtol=1e-6)


def _big_histogram(bins):
    x = hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[x] = 0
    hist[hg.clamp(hg.i32(inp[r.x, r.y] * bins), 0, bins - 1)] += 1
    hist.update(0).parallel(r.x)
    return hg.Pipeline(hist).compile()


@pytest.mark.parametrize("shape, private", [((40, 50), False), ((1200, 1100), True)])
def test_parallel_scatter_picks_private_copies_only_when_it_has_many_adds_per_cell(
        shape, private, monkeypatch, rng):
    """2^17 bins: a few thousand adds go through atomics, 1.3 M adds (10 per bin) through
    private copies merged at the end; the counts are NumPy's either way."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    bins = 1 << 17
    fn = _big_histogram(bins)
    img = rng.random(shape, dtype=np.float32)
    ref = np.bincount(np.clip((img * bins).astype(np.int32), 0, bins - 1).ravel(),
                      minlength=bins)
    np.testing.assert_array_equal(fn(inp=img, shapes=[(bins,)]), ref)
    ran = {name for name, calls, _ in fn.profile(inp=img, shapes=[(bins,)]) if calls}
    assert any("_rf" in name for name in ran) == private, ran


def test_float_reductions_reassociate_only_in_their_kernels(rng):
    x = hg.Var("x")
    img = hg.ImageParam(hg.Float(32), 1, "img")
    r = hg.RDom(img)
    total, scaled = hg.Func("total"), hg.Func("scaled")
    total[x] = 0.0
    total[x] += img[r]
    scaled[x] = img[x] * 2.0
    scaled.parallel(x)  # its own kernel
    source = hg.Pipeline([total, scaled]).source()
    kernels = source.split("@njit(")[1:]
    flagged = [k for k in kernels if "fastmath={'reassoc'}" in k.split("\n")[0]]
    assert len(flagged) == 1 and "def kernel_total_0" in flagged[0]
    a = rng.random(1 << 20, dtype=np.float32)
    got_total, got_scaled = hg.Pipeline([total, scaled]).compile()(
        img=a, shapes=[(1,), a.shape])
    np.testing.assert_allclose(got_total, [a.astype(np.float64).sum()], rtol=1e-5)
    np.testing.assert_array_equal(got_scaled, a * 2)



def test_a_sum_reading_through_cse_lets_of_window_offsets_still_reassociates(rng):
    """Inputs are read at `r - <window min>`, which CSE binds to a Let in the loop, so
    the Load's index names the Let, not r: the kernel must still reassociate (without
    it the README gradient's loss kernel ran 2.7x slower)."""
    x = hg.Var("x")
    a, b = hg.ImageParam(hg.Float(32), 2, "a"), hg.ImageParam(hg.Float(32), 2, "b")
    r = hg.RDom(a)
    total = hg.Func("sq_total")
    total[x] = 0.0
    total[x] += (a[r[0], r[1]] - b[r[0], r[1]]) ** 2
    pipeline = hg.Pipeline([total])
    kernel = next(k for k in pipeline.source().split("@njit(")[1:] if "def kernel_sq_total" in k)
    assert "fastmath={'reassoc'}" in kernel.split("\n")[0], kernel
    u, v = rng.random((2, 300, 500), dtype=np.float32)
    want = ((u.astype(np.float64) - v) ** 2).sum()
    np.testing.assert_allclose(pipeline.compile()(a=u, b=v, shapes=[(1,)]), [want], rtol=1e-5)

def test_steady_loops_of_a_stencil_adjoint_drop_their_range_tests(monkeypatch, rng):
    """The gather adjoint of out[y, x] += in[y, x + r - 1] * k[r] tests 0 <= x + 1 - r
    <= w - 1 and clamps its read; auto_schedule puts x innermost and peels the edges,
    and the steady loop keeps neither the clamp nor the test."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 1, "k")
    r = hg.RDom([(0, 3)], name="r")
    padded = hg.Func("padded")
    padded[y, x] = hg.BoundaryConditions.constant_exterior(inp, 0.0)[y, x]
    out = hg.Func("out")
    out[y, x] = 0.0
    out[y, x] += padded[y, x + r - 1] * k[r]
    rl = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = hg.sum(out[rl[0], rl[1]])
    d = hg.propagate_adjoints(loss)
    pipe = hg.Pipeline([d[inp]]).auto_schedule()
    lines = pipe.source().split("\n")
    heads = [i for i, line in enumerate(lines) if re.search(r"for \w+ in range\(\w+_steady_lo", line)]
    assert heads, "no partitioned loop"
    for i in heads:
        var = re.search(r"for (\w+) in", lines[i]).group(1)
        depth = len(lines[i]) - len(lines[i].lstrip())
        body = []
        for line in lines[i + 1:]:
            if len(line) - len(line.lstrip()) <= depth:
                break
            body.append(line)
        text = "\n".join(body)
        assert not re.search(rf"(min|max)\([^()]*\b{var}\b", text), text  # no clamp on x
        assert not re.search(rf"<= \(*{var}\b|\b{var} <=", text), text     # no range test
    a = rng.random((5, 9), dtype=np.float32)
    kv = np.array([1.0, 10.0, 100.0], np.float32)
    expected = np.zeros(9)
    for j in range(9):
        expected[j] = sum(kv[t] for t in range(3) if 0 <= j - t + 1 < 9)
    got = pipe.compile()(inp=a, k=kv, shapes=[a.shape])
    np.testing.assert_allclose(got, np.broadcast_to(expected, a.shape), rtol=1e-6)


def test_sibling_scatters_share_their_private_copies(monkeypatch, rng):
    """A tent splat sends two scatters per pixel into one histogram: fused, they add into
    ONE set of per-thread copies, and the run-time choice counts both scatters' adds
    (420 K pixels x 2 adds into 2^17 bins is private; either alone would not be)."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    bins = 1 << 17
    x = hg.Var("x")
    inp = hg.ImageParam(hg.Float(64), 2, "inp")
    r = hg.RDom(inp)
    t = inp[r.x, r.y] * (bins - 1)
    b0 = hg.clamp(hg.i32(hg.floor(t)), 0, bins - 2)
    frac = t - b0
    hist = hg.Func("hist")
    hist[x] = hg.f64(0)
    hist[b0] += 1.0 - frac
    hist[b0 + 1] += frac
    pipe = hg.Pipeline(hist).auto_schedule()
    partials = set(re.findall(r"buf_hist_0_rf\d+", pipe.source()))
    assert len(partials) == 1, partials
    fn = pipe.compile()
    img = rng.random((600, 700))
    pos = img.ravel() * (bins - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, bins - 2)
    ref = np.bincount(lo, 1 - (pos - lo), bins) + np.bincount(lo + 1, pos - lo, bins)
    np.testing.assert_allclose(fn(inp=img, shapes=[(bins,)]), ref, rtol=1e-9, atol=1e-9)
    ran = {name for name, calls, _ in fn.profile(inp=img, shapes=[(bins,)]) if calls}
    assert any("_rf" in name for name in ran), ran
