"""fuse() of loops that may be empty: two negative extents must not multiply into a
positive one (an adjoint's RDom with no points ran once, reading out of bounds)."""

import numpy as np

import halogrid as hg


def _count(fused: bool):
    n, m = hg.Param(hg.Int(32), "n"), hg.Param(hg.Int(32), "m")
    x = hg.Var("x")
    r = hg.RDom([(0, n), (0, m)])
    count = hg.Func("count")
    count[x] = 0
    count[x] += hg.select(r.x >= 0, 1, 1)
    if fused:
        count.update().fuse(r.y, r.x, "rxy")
    return hg.Pipeline(count).compile()


def test_fused_empty_domains_stay_empty():
    for n, m in [(-1, -1), (-2, 3), (0, 5), (3, -4)]:
        assert _count(True)(n=n, m=m, shapes=[(2,)]).tolist() == [0, 0], (n, m)


def test_fused_domains_count_every_point():
    for n, m in [(1, 1), (2, 3), (4, 1)]:
        got = _count(True)(n=n, m=m, shapes=[(2,)])
        np.testing.assert_array_equal(got, _count(False)(n=n, m=m, shapes=[(2,)]))
        assert got.tolist() == [n * m, n * m]
