"""Language level: Func definitions and updates (=, +=, -=, *=, /=, implicit init),
RDom iteration order and `where`, inline reductions, zero-dimensional and tuple Funcs."""

import numpy as np

import halogrid as hg


def test_update_operators_apply_in_definition_order(rng):
    vals = rng.random(10, dtype=np.float32)
    ivals = np.arange(-5, 5, dtype=np.int32)
    A, I = hg.Buffer(vals, name="vals"), hg.Buffer(ivals, name="ivals")
    x = hg.Var("x")
    f = hg.Func("chain")
    f[x] = A[x]
    f[x] += 2.0
    f[x] *= 3.0
    f[x] -= 1.0
    f[x] /= 4.0
    g = hg.Func("ichain")
    g[x] = I[x]
    g[x] -= 7
    g[x] /= 2          # integer: floor division
    g[x] *= -1
    g[3] = 100         # update at a constant location
    g[x] = g[x] + 1    # `=` referring to itself is an update, not a redefinition

    got_f, got_g = hg.Pipeline([f, g]).compile(target="cpu")(shapes=[(10,), (10,)])
    np.testing.assert_allclose(got_f, ((vals + 2) * 3 - 1) / 4, rtol=1e-6)
    want_g = -np.floor_divide(ivals - 7, 2)
    want_g[3] = 100
    want_g += 1
    assert got_g.dtype == np.int32
    np.testing.assert_array_equal(got_g, want_g)


def test_updates_without_pure_definition_start_from_halides_implicit_init():
    data = np.array([[1, 2, 3], [2, 2, 2], [-1, 4, 1]], np.int32)
    img = hg.Buffer(data, name="img")
    y = hg.Var("y")
    r = hg.RDom([(0, 3)], name="r")
    total, neg, prod = hg.Func("total"), hg.Func("neg"), hg.Func("prod")
    total[y] += img[y, r.x]
    neg[y] -= img[y, r.x]
    prod[y] *= img[y, r.x]
    got = hg.Pipeline([total, neg, prod]).compile(target="cpu")(shapes=[(3,)] * 3)
    np.testing.assert_array_equal(got[0], data.sum(axis=1))
    np.testing.assert_array_equal(got[1], -data.sum(axis=1))
    np.testing.assert_array_equal(got[2], data.prod(axis=1))


def test_multidimensional_rdom_iterates_its_last_dimension_innermost():
    r = hg.RDom([hg.Range(0, 2), (0, 3)], name="r")   # hg.Range and pairs mix
    order = hg.Func("order")
    order[()] = 0
    order[()] = order[()] * 7 + (r[0] * 3 + r[1])
    expected = 0
    for i in range(2):
        for j in range(3):  # last dimension innermost
            expected = expected * 7 + (i * 3 + j)
    out = order.realize([])
    assert out.shape == () and out.dtype == np.int32
    assert int(out) == expected


def test_rdom_where_restricts_update_and_inline_reduction(rng):
    n = 6
    r = hg.RDom([(0, n), (0, n)], name="tri")
    r.where(r.x < r.y)
    count = hg.Func("pairs")
    count[()] = 0
    count[()] += r.y - r.x   # summed over the pairs with r.x < r.y only

    # a 5-point cross (|dx| + |dy| <= 1 disc) as an inline sum with a predicate
    data = rng.random((5, 7), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    padded = hg.BoundaryConditions.constant_exterior(img, 0)
    d = hg.RDom([(-1, 3), (-1, 3)], name="d")
    d.where(d.x * d.x + d.y * d.y <= 1)
    y, x = hg.Var("y"), hg.Var("x")
    cross = hg.Func("cross")
    cross[y, x] = hg.sum(padded[y + d.x, x + d.y])

    got_count, got_cross = hg.Pipeline([count, cross]).compile()(shapes=[(), (5, 7)])
    want_count = sum(j - i for i in range(n) for j in range(n) if i < j)
    assert got_count.shape == () and int(got_count) == want_count
    p = np.pad(data.astype(np.float64), 1)
    want = p[1:-1, 1:-1] + p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]
    np.testing.assert_allclose(got_cross, want, rtol=1e-5, atol=1e-6)


def test_inline_reductions_sum_product_maximum_minimum(rng):
    data = rng.integers(-3, 4, size=(4, 6)).astype(np.int32)
    data[0] = [-3, -2, -1, -2, -3, -1]   # all negative: maximum must not start from 0
    data[1] = [3, 2, 1, 2, 3, 1]         # all positive: minimum must not start from 0
    fdata = rng.random((4, 6), dtype=np.float32) - np.float32(0.5)
    fdata[0] = -np.arange(1, 7, dtype=np.float32)
    fdata[1] = np.arange(1, 7, dtype=np.float32) * np.float32(0.125)
    img, fimg = hg.Buffer(data, name="img"), hg.Buffer(fdata, name="fimg")
    y = hg.Var("y")
    r = hg.RDom([(0, 6)], name="r")
    funcs = {}
    for name, reduce in [("s", hg.sum), ("p", hg.product), ("mx", hg.maximum),
                         ("mn", hg.minimum)]:
        funcs[name] = hg.Func(name)
        funcs[name][y] = reduce(img[y, r.x])
        funcs["f" + name] = hg.Func("f" + name)
        funcs["f" + name][y] = reduce(fimg[y, r.x])
    # a reduction over a 2-D RDom nested in arithmetic
    rr = hg.RDom([(0, 4), (0, 6)], name="rr")
    total = hg.Func("total")
    total[()] = hg.sum(fimg[rr[0], rr[1]]) * 2.0 + 1.0
    outs = list(funcs.values()) + [total]
    got = dict(zip(list(funcs) + ["total"],
                   hg.Pipeline(outs).compile()(shapes=[(4,)] * len(funcs) + [()])))

    np.testing.assert_array_equal(got["s"], data.sum(axis=1))
    np.testing.assert_array_equal(got["p"], data.prod(axis=1))
    np.testing.assert_array_equal(got["mx"], data.max(axis=1))
    np.testing.assert_array_equal(got["mn"], data.min(axis=1))
    assert got["s"].dtype == np.int32 and got["fs"].dtype == np.float32
    np.testing.assert_allclose(got["fs"], fdata.sum(axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["fp"], fdata.astype(np.float64).prod(axis=1), rtol=1e-5,
                               atol=1e-9)
    np.testing.assert_array_equal(got["fmx"], fdata.max(axis=1))
    np.testing.assert_array_equal(got["fmn"], fdata.min(axis=1))
    assert got["total"].shape == ()
    np.testing.assert_allclose(got["total"], fdata.astype(np.float64).sum() * 2 + 1, rtol=1e-5)


def test_zero_dimensional_loss_realizes_to_a_0d_array(rng):
    data = rng.random((5, 4), dtype=np.float32)
    target = rng.random((5, 4), dtype=np.float32)
    img, tgt = hg.Buffer(data, name="img"), hg.Buffer(target, name="target")
    rr = hg.RDom([(0, 5), (0, 4)], name="rr")
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += (img[rr[0], rr[1]] - tgt[rr[0], rr[1]]) ** 2
    out = loss.realize([])
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32
    want = ((data.astype(np.float64) - target) ** 2).sum()
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_tuple_funcs_realize_to_tuples_and_index_in_consumers(rng):
    vals = rng.random(9, dtype=np.float32)
    vals[4] = 2.0  # the unique maximum
    A = hg.Buffer(vals, name="vals")
    x = hg.Var("x")
    pair = hg.Func("pair")
    pair[x] = (A[x] * 2.0, hg.i32(A[x] * 10.0))
    use = hg.Func("use")
    use[x] = pair[x][0] + hg.f32(pair[x][1])

    got_pair = pair.realize([9])
    assert isinstance(got_pair, tuple) and len(got_pair) == 2
    assert got_pair[0].dtype == np.float32 and got_pair[1].dtype == np.int32
    np.testing.assert_allclose(got_pair[0], vals * 2, rtol=1e-7)
    np.testing.assert_array_equal(got_pair[1], (vals * np.float32(10)).astype(np.int32))
    np.testing.assert_allclose(use.realize([9]),
                               vals * 2 + (vals * np.float32(10)).astype(np.int32), rtol=1e-6)

    # argmax as a 0-D tuple reduction (Halide's classic tuple example)
    r = hg.RDom([(0, 9)], name="r")
    am = hg.Func("argmax")
    am[()] = (A[0], 0)
    better = A[r.x] > am[()][0]
    am[()] = (hg.select(better, A[r.x], am[()][0]), hg.select(better, r.x, am[()][1]))
    best, where = am.realize([])
    assert best.shape == () and where.shape == ()
    assert float(best) == 2.0 and int(where) == 4


def test_pure_funcs_compose_and_funcs_may_be_reused_by_several_consumers(rng):
    data = rng.random((4, 5), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    y, x = hg.Var("y"), hg.Var("x")
    sq = hg.Func("sq")
    sq[y, x] = img[y, x] * img[y, x]
    tr = hg.Func("transposed")
    tr[x, y] = sq[y, x] + 1.0      # the same Vars, named in the other order
    both = hg.Func("both")
    both[y, x] = sq[y, x] - tr[x, y]
    got_tr, got_both = hg.Pipeline([tr, both]).compile()(shapes=[(5, 4), (4, 5)])
    np.testing.assert_allclose(got_tr, (data * data).T + 1, rtol=1e-6)
    np.testing.assert_allclose(got_both, np.full((4, 5), -1.0), atol=1e-6)


def test_a_later_update_reads_cells_the_consumer_does_not_request():
    """f's updates run over what consumers need plus what f's own later updates read:
    column 0 is doubled before f[y, 2] reads it, though h asks for columns 1.. only."""
    y, x = hg.Var("y"), hg.Var("x")
    a = hg.ImageParam(hg.Float(64), 2, "a")
    f = hg.Func("f")
    f[y, x] = a[y, x]
    f[y, x] = f[y, x] * 2.0
    f[y, 2] = f[y, 1] + f[y, 0]
    h = hg.Func("h")
    h[y, x] = f[y, x + 1]
    values = np.arange(12.0).reshape(3, 4)
    expected = values * 2
    expected[:, 2] = expected[:, 1] + expected[:, 0]
    got = hg.Pipeline([h]).compile()(a=values, shapes=[(3, 3)])
    np.testing.assert_array_equal(got, expected[:, 1:4])
