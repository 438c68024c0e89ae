"""The autoscheduler changes how, never what: a forward + adjoint pipeline (a stencil
over a repeat-edge input, a kernel-weight reduction and a histogram scatter) gives the
default schedule's results, and the schedule it picks is the documented one."""

import numpy as np
import pytest

import halogrid as hg


@pytest.fixture(autouse=True)
def _always_parallel(monkeypatch):
    """Run the prange kernels even on small shapes (one compile, not two)."""
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")


def _pipeline():
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    conv = hg.Func("conv")
    conv[y, x] = 0.0
    conv[y, x] += clamped[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]]
    rl = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += conv[rl[0], rl[1]] ** 2
    hist = hg.Func("hist")
    hist[hg.Var("b")] = 0.0
    hist[hg.clamp(hg.i32(conv[rl[0], rl[1]] * 4.0), 0, 15)] += 1.0
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, d[inp], d[k], hist]), conv


def test_auto_schedule_matches_the_default_schedule(rng):
    data = rng.random((13, 11), dtype=np.float32)
    weights = rng.standard_normal((3, 3)).astype(np.float32)
    shapes = [(), data.shape, (3, 3), (16,)]
    default, _ = _pipeline()
    want = default.compile()(shapes=shapes, inp=data, k=weights)
    auto, conv = _pipeline()
    auto.auto_schedule()
    assert "parallel" in conv.definitions[0].schedule.kinds.values()
    got = auto.compile()(shapes=shapes, inp=data, k=weights)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)
    np.testing.assert_array_equal(got[3], want[3])  # integer-valued counts: exact
