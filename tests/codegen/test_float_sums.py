"""Float32 sums over large domains stay accurate: a 4096 x 4096 (16 M) float32 sum is
within 1e-5 of float64 (a float32 running total lost 0.1-3% there) under the default
schedule, a parallel (privatised) reduction, rfactor and auto_schedule; sums at every
level of a loop nest are float64 partials (licm), which a small loop nest shows."""

import numpy as np
import pytest

import halogrid as hg

N = 4096


@pytest.fixture(scope="module")
def image():
    """Values like 0.4237...: a constant makes a float32 running total's rounding
    systematic, the noise keeps it from being a special case."""
    rng = np.random.default_rng(7)
    return (np.float32(0.4237) + rng.random((N, N), dtype=np.float32) * np.float32(1e-3))


def _losses(names):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    losses = []
    for name in names:
        r = hg.RDom([(0, N), (0, N)], name=f"r_{name}")
        loss = hg.Func(f"loss_{name}")
        loss[()] = hg.f32(0)
        term = inp[r[0], r[1]]
        loss[()] += term * term if name == "squares" else term
        losses.append((loss, r))
    return inp, losses


def test_sixteen_million_float32_sum_is_accurate_under_every_schedule(image):
    names = ("plain", "parallel", "rfactor")
    inp, losses = _losses(names)
    u = hg.Var("u")
    _, (par, rp), (rf, rr) = losses
    par.update(0).parallel(rp[0])
    rf.update(0).rfactor(rr[0], u).parallel(u)
    funcs = [f for f, _ in losses]
    got = hg.Pipeline(funcs).compile()(inp=image, shapes=[()] * len(funcs))
    want = image.astype(np.float64).sum()
    for name, value in zip(names, got):
        assert value.dtype == np.float32 and value.shape == ()
        assert abs(float(value) - want) / want < 1e-5, (name, float(value), want)


def test_sixteen_million_float32_sum_is_accurate_when_auto_scheduled(image):
    inp, losses = _losses(("squares",))
    p = hg.Pipeline([losses[0][0]])
    p.auto_schedule("cpu")
    value = p.compile()(inp=image, shapes=[()])
    want = (image.astype(np.float64) ** 2).sum()
    assert abs(float(value) - want) / want < 1e-5


def test_every_level_of_a_loop_nest_sums_into_a_float64_partial():
    img = np.full((3, 5), 0.1, np.float32)
    b = hg.Buffer(img, name="img")
    r = hg.RDom([(0, 3), (0, 5)])
    s = hg.Func("s")
    s[()] = hg.f32(0)
    s[()] += b[r[0], r[1]]
    src = hg.Pipeline([s]).source()
    assert src.count("np.float64(0.0)") == 2, src  # one partial per loop level
    assert abs(float(s.realize([])) - 1.5) < 1e-6


def test_integer_and_non_sum_folds_keep_their_type():
    a = np.arange(1, 6, dtype=np.int32)
    f = np.linspace(0.5, 1.5, 5).astype(np.float32)
    A, F = hg.Buffer(a, name="a"), hg.Buffer(f, name="f")
    r = hg.RDom([(0, 5)])
    total = hg.Func("total")
    total[()] = 0
    total[()] += A[r.x]
    prod = hg.Func("prod")
    prod[()] = hg.f32(1)
    prod[()] = prod[()] * F[r.x]
    decay = hg.Func("decay")  # not a sum: the running value is scaled
    decay[()] = hg.f32(0)
    decay[()] = decay[()] * 0.5 + F[r.x]
    t, p, d = hg.Pipeline([total, prod, decay]).compile()(shapes=[()] * 3)
    assert t.dtype == np.int32 and int(t) == 15
    np.testing.assert_allclose(p, np.prod(f.astype(np.float64)), rtol=1e-6)
    want = 0.0
    for v in f.astype(np.float64):
        want = want * 0.5 + v
    np.testing.assert_allclose(d, want, rtol=1e-6)
