"""Data-dependent and recursive pipelines end to end: histograms (scatter updates),
LUT gathers, recursive filters (updates over RDoms) and a downsample/upsample pair."""

import numpy as np

import halogrid as hg


def test_histogram_scatter_update_counts_each_bin_with_clamped_index(rng):
    data = rng.random((7, 11), dtype=np.float32)
    data[0, 0], data[1, 1], data[2, 2] = 1.0, 0.0, 0.999  # 1.0 lands in bin 16 -> clamp
    img = hg.Buffer(data, name="img")
    b = hg.Var("b")
    r = hg.RDom([(0, 7), (0, 11)], name="r")
    hist = hg.Func("hist")
    hist[b] = 0
    hist[hg.clamp(hg.i32(img[r[0], r[1]] * 16.0), 0, 15)] += 1

    out = hist.realize([16])
    bins = np.clip((data * np.float32(16)).astype(np.int32), 0, 15)
    expected = np.bincount(bins.ravel(), minlength=16)
    assert out.shape == (16,) and out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)
    assert out.sum() == data.size


def test_uint8_histogram_with_implicit_init_is_bounded_by_the_input_type(rng):
    """A uint8 load lies in [0, 255]; that bound makes the scatter index provably in
    range without a clamp. `+=` with no pure definition starts from 0."""
    data = rng.integers(0, 256, size=(9, 10), dtype=np.uint8)
    data[0, 0], data[0, 1] = 0, 255
    img = hg.Buffer(data, name="img8")
    r = hg.RDom([(0, 9), (0, 10)], name="r")
    hist = hg.Func("hist8")
    hist[hg.i32(img[r[0], r[1]])] += 1

    out = hist.realize([256])
    assert out.shape == (256,) and out.dtype == np.int32
    np.testing.assert_array_equal(out, np.bincount(data.ravel(), minlength=256))


def test_weighted_scatter_with_data_dependent_location_and_minus_equals(rng):
    """Updates at data-dependent locations with a float payload: acc[bin(v)] -= v."""
    vals = rng.random(40, dtype=np.float32)
    src = hg.Buffer(vals, name="vals")
    i = hg.Var("i")
    r = hg.RDom([(0, 40)], name="r")
    acc = hg.Func("acc")
    acc[i] = 1.0
    acc[hg.clamp(hg.i32(src[r.x] * 4.0), 0, 3)] -= src[r.x]

    out = acc.realize([4])
    expected = np.ones(4)
    np.subtract.at(expected, np.clip((vals * np.float32(4)).astype(np.int32), 0, 3), vals)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_lut_gather_with_clamped_data_dependent_index_runs_at_two_sizes(rng):
    y, x = hg.Var("y"), hg.Var("x")
    lut = hg.ImageParam(hg.Float(32), 1, "lut")
    img = hg.ImageParam(hg.Float(32), 2, "img")
    out = hg.Func("toned")
    out[y, x] = lut[hg.clamp(hg.i32(img[y, x] * 255.0), 0, 255)]
    fn = hg.Pipeline([out]).compile(target="cpu")

    table = rng.random(256, dtype=np.float32)
    for shape in [(5, 8), (12, 3)]:
        # Values outside [0, 1] exercise both ends of the clamp; the cast truncates.
        a = (rng.random(shape, dtype=np.float32) * np.float32(1.4) - np.float32(0.2))
        res = fn(lut=table, img=a, shapes=[shape])
        idx = np.clip((a * np.float32(255)).astype(np.int32), 0, 255)
        assert res.shape == shape and res.dtype == np.float32
        np.testing.assert_array_equal(res, table[idx])


def test_lut_gather_indexed_by_uint8_needs_no_clamp(rng):
    y, x = hg.Var("y"), hg.Var("x")
    data = rng.integers(0, 256, size=(4, 6), dtype=np.uint8)
    data[0, 0], data[3, 5] = 0, 255
    table = (np.arange(256, dtype=np.float32) ** 0.5)
    img = hg.Buffer(data, name="img8")
    lut = hg.Buffer(table, name="lut")
    out = hg.Func("gathered")
    out[y, x] = lut[hg.i32(img[y, x])]

    res = out.realize([4, 6])
    np.testing.assert_array_equal(res, table[data])


def test_gather_from_a_computed_lut_func_is_bounded_by_the_clamp(rng):
    """The LUT is a Func computed at root: its region comes from the clamp's bounds."""
    i, y, x = hg.Var("i"), hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(hg.Float(32), 2, "img")
    curve = hg.Func("curve")
    curve[i] = hg.sqrt(hg.f32(i)) * 2.0 + 1.0
    curve.compute_root()
    out = hg.Func("curved")
    out[y, x] = curve[hg.clamp(hg.i32(img[y, x] * 64.0), 0, 63)]
    fn = hg.Pipeline([out]).compile(target="cpu")
    a = rng.random((5, 6), dtype=np.float32) * np.float32(1.2)
    idx = np.clip((a * np.float32(64)).astype(np.int32), 0, 63)
    want = np.sqrt(idx.astype(np.float32)) * np.float32(2) + np.float32(1)
    np.testing.assert_allclose(fn(img=a), want, rtol=1e-6)


def test_histogram_equalisation_chains_scatter_scan_and_gather(rng):
    """hist (scatter) -> cdf (scan over an RDom) -> out = cdf[bin(img)] / N."""
    h, w, bins = 6, 7, 16
    data = rng.random((h, w), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    b, y, x = hg.Var("b"), hg.Var("y"), hg.Var("x")
    bin_of = lambda v: hg.clamp(hg.i32(v * 16.0), 0, bins - 1)  # noqa: E731
    r = hg.RDom([(0, h), (0, w)], name="r")
    hist = hg.Func("hist")
    hist[b] = 0
    hist[bin_of(img[r[0], r[1]])] += 1
    s = hg.RDom([(1, bins - 1)], name="s")
    cdf = hg.Func("cdf")
    cdf[b] = hist[b]
    cdf[s.x] = cdf[s.x - 1] + hist[s.x]
    out = hg.Func("equalised")
    out[y, x] = hg.f32(cdf[bin_of(img[y, x])]) / float(h * w)

    got = out.realize([h, w])
    idx = np.clip((data * np.float32(16)).astype(np.int32), 0, bins - 1)
    cdf_ref = np.cumsum(np.bincount(idx.ravel(), minlength=bins))
    np.testing.assert_allclose(got, cdf_ref[idx] / np.float32(h * w), rtol=1e-6)
    assert got.max() == 1.0


def _iir_ref(sig, a):
    out = np.empty_like(sig)
    out[0] = sig[0]
    for i in range(1, len(sig)):
        out[i] = np.float32(out[i - 1] * np.float32(a) + sig[i])
    return out


def test_1d_recursive_filter_as_update_over_rdom_with_param_coefficient(rng):
    n = 33
    sig = rng.random(n, dtype=np.float32)
    inp = hg.Buffer(sig, name="sig")
    a = hg.Param(hg.Float(32), "a", 0.5)
    x = hg.Var("x")
    r = hg.RDom([(1, n - 1)], name="r")
    f = hg.Func("iir")
    f[x] = inp[x]
    f[r.x] = f[r.x - 1] * a + inp[r.x]

    np.testing.assert_allclose(f.realize([n]), _iir_ref(sig, 0.5), rtol=1e-5, atol=1e-6)
    fn = hg.Pipeline([f]).compile(target="cpu")
    np.testing.assert_allclose(fn(a=0.9, shapes=[(n,)]), _iir_ref(sig, 0.9),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fn(shapes=[(n,)]), _iir_ref(sig, 0.5), rtol=1e-5, atol=1e-6)


def test_recursive_filters_along_each_axis_keep_the_pure_var_of_the_other(rng):
    data = rng.random((5, 8), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    y, x = hg.Var("y"), hg.Var("x")
    rx = hg.RDom([(1, 7)], name="rx")
    ry = hg.RDom([(1, 4)], name="ry")
    rows = hg.Func("rows")
    rows[y, x] = img[y, x]
    rows[y, rx.x] = rows[y, rx.x - 1] * 0.5 + img[y, rx.x]
    cols = hg.Func("cols")
    cols[y, x] = img[y, x]
    cols[ry.x, x] = cols[ry.x - 1, x] * 0.5 + img[ry.x, x]

    got_rows, got_cols = hg.Pipeline([rows, cols]).compile()(shapes=[(5, 8), (5, 8)])
    ref_rows = np.stack([_iir_ref(row, 0.5) for row in data])
    ref_cols = np.stack([_iir_ref(col, 0.5) for col in data.T]).T
    np.testing.assert_allclose(got_rows, ref_rows, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_cols, ref_cols, rtol=1e-5, atol=1e-6)


def test_downsample_upsample_pair_as_two_outputs_sharing_the_producer(rng):
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    down = hg.Func("down")
    down[y, x] = (inp[2 * y, 2 * x] + inp[2 * y + 1, 2 * x]
                  + inp[2 * y, 2 * x + 1] + inp[2 * y + 1, 2 * x + 1]) * 0.25
    up = hg.Func("up")
    up[y, x] = down[y // 2, x // 2]
    fn = hg.Pipeline([down, up]).compile(target="cpu")

    for h, w in [(4, 6), (10, 8)]:
        a = rng.random((h, w), dtype=np.float32)
        d, u = fn(inp=a, shapes=[(h // 2, w // 2), (h, w)])
        ref_d = a.astype(np.float64).reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        ref_u = np.repeat(np.repeat(ref_d, 2, axis=0), 2, axis=1)
        assert d.shape == (h // 2, w // 2) and u.shape == (h, w)
        np.testing.assert_allclose(d, ref_d, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(u, ref_u, rtol=1e-6, atol=1e-6)
