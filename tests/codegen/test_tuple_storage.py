"""Tuple elements are distinct storage whatever their values: equal, constant and
shared element expressions, in pure definitions and updates, 0-D and 1-D, against
NumPy references (a merged element would return the other element's values)."""

import numpy as np

import halogrid as hg


def _realized(f, shape):
    return tuple(np.asarray(v) for v in f.realize(shape))


def test_sum_and_sum_of_squares_from_equal_initial_values():
    a = np.arange(5, dtype=np.float64)
    A = hg.Buffer(a, name="A")
    r = hg.RDom([(0, 5)])
    s = hg.Func("s")
    s[()] = (hg.f64(0), hg.f64(0))
    s[()] = (s[()][0] + A[r.x], s[()][1] + A[r.x] * A[r.x])
    total, squares = _realized(s, [])
    assert total.shape == () and float(total) == a.sum() == 10
    assert float(squares) == (a * a).sum() == 30


def test_update_without_rdom_after_equal_constants():
    u = hg.Func("u")
    u[()] = (hg.f64(0), hg.f64(0))
    u[()] = (u[()][0] + 1.0, u[()][1] + 2.0)
    one, two = _realized(u, [])
    assert (float(one), float(two)) == (1.0, 2.0)


def test_one_dimensional_tuples_with_shared_and_constant_elements():
    a = np.linspace(-1, 2, 7).astype(np.float32)
    A = hg.Buffer(a, name="A")
    x = hg.Var("x")
    shared = A[x] * 2.0
    p = hg.Func("p")  # pure: two equal elements, a constant one
    p[x] = (shared, shared, hg.f32(3))
    got = _realized(p, [7])
    for v, want in zip(got, (a * 2, a * 2, np.full(7, 3, np.float32))):
        np.testing.assert_array_equal(v, want)
    q = hg.Func("q")  # equal pure elements, updates that make them differ
    q[x] = (hg.f32(1), hg.f32(1))
    q[x] = (q[x][0] + A[x], q[x][1] * A[x])
    q[x] = (q[x][1], q[x][0])  # a swap: both read before either is written
    first, second = _realized(q, [7])
    np.testing.assert_allclose(first, a, rtol=1e-6)
    np.testing.assert_allclose(second, 1 + a, rtol=1e-6)


def test_reduction_into_tuple_elements_of_a_one_dimensional_func():
    img = np.arange(12, dtype=np.float64).reshape(3, 4)
    B = hg.Buffer(img, name="img")
    x = hg.Var("x")
    r = hg.RDom([(0, 3)])
    m = hg.Func("m")
    m[x] = (hg.f64(0), hg.f64(0), hg.f64(0))
    m[x] = (m[x][0] + B[r.x, x], m[x][1] + B[r.x, x] ** 2, m[x][2] + 1.0)
    total, squares, count = _realized(m, [4])
    np.testing.assert_array_equal(total, img.sum(axis=0))
    np.testing.assert_array_equal(squares, (img ** 2).sum(axis=0))
    np.testing.assert_array_equal(count, np.full(4, 3.0))
