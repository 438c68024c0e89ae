"""Stencil pipelines end to end against NumPy references.

Boundary conditions are checked against np.pad: repeat_edge = 'edge',
constant_exterior = 'constant', mirror_image = 'symmetric', mirror_interior = 'reflect'.
Each compiled pipeline is reused across sizes wherever the test allows.
"""

import numpy as np
import pytest

import halogrid as hg

BOUNDARIES = ["repeat_edge", "constant_exterior", "mirror_image", "mirror_interior"]
NP_PAD_MODE = {"repeat_edge": "edge", "constant_exterior": "constant",
               "mirror_image": "symmetric", "mirror_interior": "reflect"}
EXTERIOR = 0.25  # the constant_exterior value used throughout


def with_boundary(name, source):
    if name == "constant_exterior":
        return hg.BoundaryConditions.constant_exterior(source, EXTERIOR)
    return getattr(hg.BoundaryConditions, name)(source)


def np_pad(a, width, name):
    if name == "constant_exterior":
        return np.pad(a, width, mode="constant", constant_values=EXTERIOR)
    return np.pad(a, width, mode=NP_PAD_MODE[name])


def correlate_ref(a, k, boundary):
    """out[y, x] = sum_{i,j} pad(a)[y + i, x + j] * k[i, j] (k centred), in float64."""
    ky, kx = k.shape
    h, w = a.shape
    p = np_pad(a.astype(np.float64), ((ky // 2, ky // 2), (kx // 2, kx // 2)), boundary)
    out = np.zeros((h, w))
    for i in range(ky):
        for j in range(kx):
            out += p[i:i + h, j:j + w] * k[i, j]
    return out


def test_box_blur_3x3_matches_np_pad_for_each_boundary_condition(rng):
    """One pipeline, one output per boundary condition (one compile for all four)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    boxes = []
    for boundary in BOUNDARIES:
        padded = with_boundary(boundary, inp)
        box = hg.Func("box_" + boundary)
        box[y, x] = hg.sum(padded[y + r.x, x + r.y]) / 9.0
        boxes.append(box)
    fn = hg.Pipeline(boxes).compile(target="cpu")

    for shape in [(6, 9), (5, 3), (2, 2)]:
        a = rng.random(shape, dtype=np.float32)
        results = fn(inp=a)   # shapes omitted: every output takes the input's shape
        assert isinstance(results, tuple) and len(results) == len(BOUNDARIES)
        for boundary, out in zip(BOUNDARIES, results):
            assert isinstance(out, np.ndarray)
            assert out.shape == shape and out.dtype == np.float32
            np.testing.assert_allclose(out, correlate_ref(a, np.ones((3, 3)) / 9, boundary),
                                       rtol=1e-5, atol=1e-6, err_msg=f"{boundary} {shape}")


def test_each_boundary_condition_far_outside_small_images_equals_np_pad(rng):
    """Reading 3 pixels beyond every edge of images as small as 1 pixel: the output
    region (H + 6, W + 6) shifted by -3 is exactly np.pad(a, 3, mode)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    funcs = []
    for name in BOUNDARIES:
        f = hg.Func("far_" + name)
        f[y, x] = with_boundary(name, inp)[y - 3, x - 3]
        funcs.append(f)
    fn = hg.Pipeline(funcs).compile(target="cpu")

    for h, w in [(2, 3), (1, 4), (5, 5)]:
        a = rng.random((h, w), dtype=np.float32)
        results = fn(inp=a, shapes=[(h + 6, w + 6)] * len(funcs))
        for name, got in zip(BOUNDARIES, results):
            np.testing.assert_array_equal(got, np_pad(a, 3, name), err_msg=f"{name} {h}x{w}")


@pytest.mark.parametrize("boundary", ["repeat_edge", "mirror_interior"])
def test_weighted_3x3_blur_as_update_over_rdom_matches_numpy(boundary, rng):
    """API.md's blur: pure init then `+=` over a 2-D RDom, with an asymmetric kernel so
    that a swapped axis or a flipped kernel shows."""
    y, x = hg.Var("y"), hg.Var("x")
    weights = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], np.float32) / 16
    weights[0, 2] += 0.25  # break the symmetry
    data = rng.random((7, 10), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    k = hg.Buffer(weights, name="k")
    clamped = with_boundary(boundary, img)
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    blur = hg.Func("blur")
    blur[y, x] = 0.0
    blur[y, x] += clamped[y + r.y, x + r.x] * k[r.y + 1, r.x + 1]

    out = blur.realize([7, 10])
    assert out.shape == (7, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, correlate_ref(data, weights.astype(np.float64), boundary),
                               rtol=1e-5, atol=1e-6)


def test_4x4_seed_convolution_with_ones_kernel_and_zero_boundary_is_exact():
    y, x = hg.Var("y"), hg.Var("x")
    data = np.array([[1, 3, 1, 2], [0, 2, 1, 4], [2, 1, 0, 1], [3, 1, 2, 3]], np.float32)
    img = hg.Buffer(data, name="seed_in")
    k = hg.Buffer(np.ones((3, 3), np.float32), name="k")
    padded = hg.BoundaryConditions.constant_exterior(img, 0)
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    conv = hg.Func("conv")
    conv[y, x] = 0.0
    conv[y, x] += padded[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]]

    out = conv.realize([4, 4])
    expected = np.array([[6, 8, 13, 8], [9, 11, 15, 9], [9, 12, 15, 11], [7, 9, 8, 6]],
                        np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_multichannel_convolution_reduces_over_a_3d_rdom(rng):
    """WORKLOADS W2 in miniature: out[co, y, x] = sum_{ci,i,j} in[ci, y+i-1, x+j-1] *
    k[co, ci, i, j] with a zero boundary, the reduction over r.x, r.y, r.z."""
    ci_n, co_n, h, w = 3, 2, 5, 6
    data = rng.random((ci_n, h, w), dtype=np.float32)
    weights = rng.random((co_n, ci_n, 3, 3), dtype=np.float32) - np.float32(0.5)
    inp = hg.Buffer(data, name="inp")
    k = hg.Buffer(weights, name="k")
    padded = hg.BoundaryConditions.constant_exterior(inp, 0)
    co, y, x = hg.Var("co"), hg.Var("y"), hg.Var("x")
    r = hg.RDom([(0, ci_n), (0, 3), (0, 3)], name="r")
    conv = hg.Func("conv_layer")
    conv[co, y, x] = 0.0
    conv[co, y, x] += padded[r.x, y + r.y - 1, x + r.z - 1] * k[co, r.x, r.y, r.z]

    out = conv.realize([co_n, h, w])
    p = np.pad(data.astype(np.float64), ((0, 0), (1, 1), (1, 1)))
    want = np.zeros((co_n, h, w))
    for o in range(co_n):
        for c in range(ci_n):
            for i in range(3):
                for j in range(3):
                    want[o] += p[c, i:i + h, j:j + w] * weights[o, c, i, j]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("schedule", ["default_inline", "compute_root"])
def test_separable_two_stage_5_tap_blur_matches_numpy(schedule, rng):
    """WORKLOADS W3: bx = horizontal taps [1,4,6,4,1]/16, out = vertical taps of bx."""
    y, x = hg.Var("y"), hg.Var("x")
    taps = np.array([1, 4, 6, 4, 1], np.float32) / 16
    w = hg.Buffer(taps, name="w")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    rj = hg.RDom([(0, 5)], name="rj")
    ri = hg.RDom([(0, 5)], name="ri")
    bx = hg.Func("bx")
    bx[y, x] = hg.sum(clamped[y, x + rj.x - 2] * w[rj.x])
    out = hg.Func("blur_y")
    out[y, x] = hg.sum(bx[y + ri.x - 2, x] * w[ri.x])
    if schedule == "compute_root":
        assert bx.compute_root() is bx  # directives chain
    fn = hg.Pipeline([out]).compile(target="cpu")

    for shape in [(8, 11), (3, 2)]:
        a = rng.random(shape, dtype=np.float32)
        h, wd = shape
        p = np.pad(a.astype(np.float64), 2, mode="edge")
        horiz = sum(p[:, j:j + wd] * taps[j] for j in range(5))
        ref = sum(horiz[i:i + h, :] * taps[i] for i in range(5))
        res = fn(inp=a)
        assert res.shape == shape and res.dtype == np.float32
        np.testing.assert_allclose(res, ref, rtol=1e-5, atol=1e-6)


def _edge_box_ref(a, out_shape):
    """3x3 mean of a at clamped coordinates, over any output region starting at 0."""
    h, w = a.shape
    oy, ox = np.arange(out_shape[0]), np.arange(out_shape[1])
    acc = np.zeros(out_shape)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            rows = np.clip(oy + dy, 0, h - 1)
            cols = np.clip(ox + dx, 0, w - 1)
            acc += a.astype(np.float64)[np.ix_(rows, cols)]
    return acc / 9


def test_one_compiled_callable_runs_at_three_sizes_and_any_output_region(rng):
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    blur = hg.Func("blur")
    blur[y, x] = (clamped[y - 1, x - 1] + clamped[y - 1, x] + clamped[y - 1, x + 1]
                  + clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]
                  + clamped[y + 1, x - 1] + clamped[y + 1, x] + clamped[y + 1, x + 1]) / 9.0
    fn = hg.Pipeline([blur]).compile(target="cpu")

    for shape in [(3, 4), (16, 16), (9, 31)]:
        a = rng.random(shape, dtype=np.float32)
        out = fn(inp=a)  # shapes omitted: the output takes the input's shape
        assert out.shape == shape
        np.testing.assert_allclose(out, _edge_box_ref(a, shape), rtol=1e-5, atol=1e-6)

    # Output size independent of the input size: smaller, larger, and 1x1.
    a = rng.random((7, 5), dtype=np.float32)
    for out_shape in [(4, 2), (10, 12), (1, 1)]:
        out = fn(inp=a, shapes=[out_shape])
        assert out.shape == out_shape
        np.testing.assert_allclose(out, _edge_box_ref(a, out_shape), rtol=1e-5, atol=1e-6)
