"""A data-dependent read through a boundary condition differentiates as written: a
bilinear warp of an image by a 3x3 homography Param, read through constant_exterior or
repeat_edge at i32(floor(warped coordinate)). The condition bounds what the image sees,
so no clamp is asked for; gradients wrt the image and the homography match float64
finite differences of a NumPy reference."""

import numpy as np
import pytest

import halogrid as hg

F64 = hg.Float(64)
H = (1.1, 0.12, -1.4, -0.07, 0.93, 1.3, 0.011, -0.017, 1.0)  # maps pixels off both edges


def _warp_loss(condition: str):
    img = hg.ImageParam(F64, 2, "img")
    target = hg.ImageParam(F64, 2, "target")
    h = [hg.Param(F64, f"h{i}", v) for i, v in enumerate(H)]
    y, x = hg.Var("y"), hg.Var("x")
    src = (hg.BoundaryConditions.repeat_edge(img) if condition == "repeat_edge"
           else hg.BoundaryConditions.constant_exterior(img, 0.25))
    fx, fy = hg.f64(x), hg.f64(y)
    w = h[6] * fx + h[7] * fy + h[8]
    u = (h[0] * fx + h[1] * fy + h[2]) / w
    v = (h[3] * fx + h[4] * fy + h[5]) / w
    iu, iv = hg.i32(hg.floor(u)), hg.i32(hg.floor(v))
    au, av = u - hg.floor(u), v - hg.floor(v)
    warp = hg.Func("warp")
    warp[y, x] = ((1 - av) * ((1 - au) * src[iv, iu] + au * src[iv, iu + 1])
                  + av * ((1 - au) * src[iv + 1, iu] + au * src[iv + 1, iu + 1]))
    r = hg.RDom(target)
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += (warp[r[0], r[1]] - target[r[0], r[1]]) ** 2
    return img, h, warp, loss


def _reference_warp(a, shape, h, condition: str) -> np.ndarray:
    rows, cols = shape
    y, x = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64),
                       indexing="ij")
    w = h[6] * x + h[7] * y + h[8]
    u, v = (h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w
    iu, iv = np.floor(u).astype(int), np.floor(v).astype(int)
    au, av = u - np.floor(u), v - np.floor(v)

    def src(r, c):
        inside = (r >= 0) & (r < a.shape[0]) & (c >= 0) & (c < a.shape[1])
        read = a[np.clip(r, 0, a.shape[0] - 1), np.clip(c, 0, a.shape[1] - 1)]
        return read if condition == "repeat_edge" else np.where(inside, read, 0.25)

    return ((1 - av) * ((1 - au) * src(iv, iu) + au * src(iv, iu + 1))
            + av * ((1 - au) * src(iv + 1, iu) + au * src(iv + 1, iu + 1)))


def _reference_loss(a, target, h, condition: str) -> float:
    return float(((_reference_warp(a, target.shape, h, condition) - target) ** 2).sum())


CONDITIONS = ["constant_exterior", "repeat_edge"]


@pytest.mark.parametrize("condition", CONDITIONS)
def test_warp_through_a_boundary_condition_has_the_finite_difference_gradients(condition,
                                                                              rng):
    img, h, warp, loss = _warp_loss(condition)
    d = hg.propagate_adjoints(loss)
    fn = hg.Pipeline([loss, d[img]] + [d[p] for p in h]).compile()
    a, target = rng.random((7, 9)), rng.random((6, 8))
    loss_value, d_img, *d_h = fn(img=a, target=target)

    np.testing.assert_allclose(loss_value, _reference_loss(a, target, H, condition), rtol=1e-12)
    assert d_img.shape == a.shape and np.abs(d_img).max() > 0
    eps = 1e-6
    for _ in range(3):  # the image: the loss is quadratic in it, so central differences are exact
        direction = rng.standard_normal(a.shape)
        fd = (_reference_loss(a + eps * direction, target, H, condition)
              - _reference_loss(a - eps * direction, target, H, condition)) / (2 * eps)
        np.testing.assert_allclose(np.sum(d_img * direction), fd, rtol=1e-6, atol=1e-8)
    for i, grad in enumerate(d_h):  # each homography entry (no sample crosses a pixel edge)
        hi, lo = list(H), list(H)
        hi[i] += eps
        lo[i] -= eps
        fd = (_reference_loss(a, target, hi, condition)
              - _reference_loss(a, target, lo, condition)) / (2 * eps)
        np.testing.assert_allclose(float(grad), fd, rtol=1e-5, atol=1e-6, err_msg=f"h{i}")


@pytest.mark.parametrize("condition", CONDITIONS)
def test_the_warp_forward_matches_numpy(condition, rng):
    img, _, warp, _ = _warp_loss(condition)
    a = rng.random((7, 9))
    got = hg.Pipeline([warp]).compile()(img=a, shapes=[(6, 8)])
    np.testing.assert_allclose(got, _reference_warp(a, (6, 8), H, condition), rtol=1e-12)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_the_warp_gradients_under_auto_schedule_equal_the_default_schedules(condition, rng):
    """auto_schedule keeps a condition read at floor(coordinate) inlined (stored, its
    reads would have no bounds: it was a BoundsError) and changes no value."""
    a, target = rng.random((7, 9)), rng.random((6, 8))
    results = []
    for schedule in ("default", "auto"):
        img, h, _, loss = _warp_loss(condition)
        d = hg.propagate_adjoints(loss)
        p = hg.Pipeline([loss, d[img]] + [d[q] for q in h])
        if schedule == "auto":
            p.auto_schedule()
        results.append(p.compile()(img=a, target=target))
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
