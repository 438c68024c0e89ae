"""Consecutive serial ('plain') updates of one Func over one domain run in one loop nest
(build_loops._fused / _plain_legal, Halide's compute_with), sharing what they
recompute (cse): the adjoint of a weighted sum of channels, and two scatters over one
RDom. Each fused case is checked against NumPy and against the same pipeline lowered
unfused; the cases that must not fuse (an update reading f at another point, different
ops, reductions into fixed points, parallel updates writing transposed points) keep one
nest per update and their values."""

import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen import lower as lowering
from halogrid.codegen.names import storage_name
from halogrid.codegen.passes import build_loops
from halogrid.codegen.stmt import For, stores_in

W = (0.25, 0.5, 0.125)


def _nests(pipe: hg.Pipeline, f: hg.Func) -> int:
    """How many top-level loop nests of the lowered pipeline write f."""
    body = lowering.lower(pipe.outputs).body
    name = storage_name(f, 0)
    tops = body.stmts if hasattr(body, "stmts") else (body,)
    return sum(1 for s in _top_fors(tops) if name in stores_in(s))


def _top_fors(stmts):
    for s in stmts:
        if isinstance(s, For):
            yield s
        else:
            yield from _top_fors(getattr(s, "stmts", ()) or
                                 [c for c in (getattr(s, "then_case", None),
                                              getattr(s, "else_case", None)) if c])


def _luma_adjoint(tag: str):
    """d[img] of luma = sum_i W[i] img[y, x, i] seeded by `seed`: three updates of
    d_img, one per channel, each over every pixel (img itself is no input of it)."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(hg.Float(32), 3, f"img{tag}")
    luma = hg.Func(f"luma{tag}")
    luma[y, x] = sum(w * img[y, x, i] for i, w in enumerate(W))
    seed = hg.ImageParam(hg.Float(32), 2, f"seed{tag}")
    d = hg.propagate_adjoints(luma, seed)
    return hg.Pipeline([d[img]]), d[img], seed.name


def _two_scatters(tag: str):
    """hist[i] += img[r] at i = clamp(floor(8 img), 0, 7) and at i + 1 (clamped): two
    plain updates over one RDom writing overlapping bins."""
    i = hg.Var("i")
    img = hg.ImageParam(hg.Float(64), 2, f"img{tag}")
    r = hg.RDom(img)
    v = img[r.x, r.y]
    b = hg.clamp(hg.i32(hg.floor(v * 8)), 0, 7)
    hist = hg.Func(f"hist{tag}")
    hist[i] = hg.f64(0.0)
    hist[b] += v
    hist[hg.min(b + 1, 7)] += v * v
    return hg.Pipeline(hist), hist, img.name


def _unfused(monkeypatch):
    monkeypatch.setattr(build_loops, "_plain_legal", lambda *a: False)


@pytest.mark.parametrize("schedule", ["default", "auto"])
def test_channel_updates_of_an_adjoint_share_one_nest(schedule, monkeypatch, rng):
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    pipe, d_img, seed_name = _luma_adjoint(f"_{schedule}")
    if schedule == "auto":
        pipe.auto_schedule()
    fused_nests = _nests(pipe, d_img)
    fused_loads = pipe.source().count(f"buf_{seed_name}[")  # shared by the 3 stores (cse)
    img = rng.random((23, 31, 3), dtype=np.float32)
    seed = rng.random((23, 31), dtype=np.float32)
    got = pipe.compile()(**{seed_name: seed}, shapes=[img.shape])
    expected = seed[..., None] * np.array(W, np.float32)
    np.testing.assert_array_equal(got, expected)  # one product per value: exact
    _unfused(monkeypatch)
    pipe2, d_img2, seed2 = _luma_adjoint(f"_{schedule}_unfused")
    if schedule == "auto":
        pipe2.auto_schedule()
    assert _nests(pipe2, d_img2) == fused_nests + 2  # 3 channel updates: 3 nests -> 1
    assert pipe2.source().count(f"buf_{seed2}[") == 3 * fused_loads
    np.testing.assert_array_equal(pipe2.compile()(**{seed2: seed}, shapes=[img.shape]), got)


def test_overlapping_scatters_share_one_nest_and_agree_with_numpy(monkeypatch, rng):
    pipe, hist, img_name = _two_scatters("_a")
    img = rng.random((40, 27))
    got = pipe.compile()(**{img_name: img}, shapes=[(8,)])
    b = np.clip(np.floor(img * 8).astype(int), 0, 7)
    expected = np.bincount(b.ravel(), img.ravel(), 8) + \
        np.bincount(np.minimum(b + 1, 7).ravel(), (img * img).ravel(), 8)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    fused = _nests(pipe, hist)
    _unfused(monkeypatch)
    pipe2, hist2, img2 = _two_scatters("_b")
    assert _nests(pipe2, hist2) == fused + 1
    np.testing.assert_allclose(pipe2.compile()(**{img2: img}, shapes=[(8,)]), got, rtol=1e-12)


def test_an_update_reading_f_elsewhere_is_not_fused(rng):
    """f[x] += g[x], then f[x] += f[x + 1] / 2: fused, the second would read f[x + 1]
    before the first had added g[x + 1] to it."""
    x = hg.Var("x")
    g = hg.ImageParam(hg.Float(64), 1, "g")
    f = hg.Func("f")
    f[x] = hg.f64(1.0)
    f[x] += g[x]
    f[x] += f[hg.min(x + 1, 9)] / 2
    pipe = hg.Pipeline(f)
    assert _nests(pipe, f) == 3
    gv = rng.random(10)
    first = 1.0 + gv
    np.testing.assert_allclose(pipe.compile()(g=gv, shapes=[(10,)]),
                               first + first[np.minimum(np.arange(10) + 1, 9)] / 2,
                               rtol=1e-14)


def test_different_ops_are_not_fused(rng):
    """+= then max into the same points: the order of the two matters."""
    x = hg.Var("x")
    img = hg.ImageParam(hg.Float(64), 1, "img")
    mixed = hg.Func("mixed")
    mixed[x] = hg.f64(0.0)
    mixed[x] += img[x]
    mixed[x] = hg.max(mixed[x], img[x] * 2 - 0.5)
    pipe = hg.Pipeline(mixed)
    assert _nests(pipe, mixed) == 3
    v = rng.random(50)
    np.testing.assert_allclose(pipe.compile()(img=v), np.maximum(v, v * 2 - 0.5), rtol=1e-14)


def test_reductions_into_fixed_points_are_not_fused(rng):
    """Two sums over one RDom into points[0] and points[1]: apart, licm keeps each in a
    float64 local (its loop then writes no buffer: the Store follows it); fused, they
    would share a loop that writes the buffer twice, and neither could."""
    x = hg.Var("x")
    img = hg.ImageParam(hg.Float(64), 1, "img")
    r = hg.RDom(img)
    points = hg.Func("points")
    points[x] = hg.f64(0.0)
    points[0] += img[r.x]
    points[1] += img[r.x] * img[r.x]
    pipe = hg.Pipeline(points)
    body = lowering.lower(pipe.outputs).body
    loops = list(_top_fors(body.stmts))
    assert len(loops) == 3 and [storage_name(points, 0) in stores_in(s) for s in loops] == \
        [True, False, False]
    v = rng.random(50)
    np.testing.assert_allclose(pipe.compile()(img=v, shapes=[(2,)]), [v.sum(), (v * v).sum()],
                               rtol=1e-12)


def test_parallel_updates_writing_transposed_points_are_not_fused(monkeypatch, rng):
    """f[r.x, r.y] += a and f[r.y, r.x] += b, each parallel over r.x (race-free alone):
    fused, iterations r.x = 1 and r.x = 2 would both write f[1, 2]."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    y, x = hg.Var("y"), hg.Var("x")
    a = hg.ImageParam(hg.Float(64), 2, "a")
    r = hg.RDom(a)
    f = hg.Func("f")
    f[y, x] = hg.f64(0.0)
    f[r.x, r.y] += a[r.x, r.y]
    f[r.y, r.x] += a[r.x, r.y] * 2
    f.update(0).parallel(r.x)
    f.update(1).parallel(r.x)
    pipe = hg.Pipeline(f)
    assert _nests(pipe, f) == 3
    v = rng.random((9, 9))
    np.testing.assert_allclose(pipe.compile()(a=v), v + 2 * v.T, rtol=1e-14)
