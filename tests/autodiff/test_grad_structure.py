"""What propagate_adjoints builds: gathers where the index maps can be inverted, a
scatter only as the fallback for data-dependent indices, and the worked 4x4 example.

The structure tests compile nothing: they inspect d[f].definitions (a scatter is an
update whose left side is not all pure Vars).
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, assert_gather, is_scatter

BOUNDARIES = {
    "constant_exterior": lambda img: hg.BoundaryConditions.constant_exterior(img, 0.0),
    "repeat_edge": hg.BoundaryConditions.repeat_edge,
    "mirror_image": hg.BoundaryConditions.mirror_image,
    "mirror_interior": hg.BoundaryConditions.mirror_interior,
}


def test_worked_example_kernel_gradient_of_4x4_convolution_is_exact():
    """out[y,x] = sum_{i,j} in[y+i-1, x+j-1] k[i,j], zero boundary, loss = sum(out):
    dloss/dk[i,j] is the sum of the input over the window shifted by (i-1, j-1)."""
    y, x = hg.Var("y"), hg.Var("x")
    data = np.array([[1, 3, 1, 2], [0, 2, 1, 4], [2, 1, 0, 1], [3, 1, 2, 3]], np.float32)
    img = hg.Buffer(data, name="img")
    k = hg.Buffer(np.ones((3, 3), np.float32), name="k")
    padded = hg.BoundaryConditions.constant_exterior(img, 0)
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    out = hg.Func("out")
    out[y, x] = 0.0
    out[y, x] += padded[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]]
    rr = hg.RDom([(0, 4), (0, 4)], name="rr")
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += out[rr[0], rr[1]]

    g_img, g_k = hg.gradients(loss, [img, k])
    np.testing.assert_array_equal(g_k, [[11, 18, 15], [17, 27, 21], [12, 20, 15]])
    assert g_k.dtype == np.float32 and g_k.shape == (3, 3)
    # d/d in[p, q] = number of output pixels whose window covers (p, q) (k is all ones).
    cover = np.array([2, 3, 3, 2])  # 1-D: windows of outputs 0..3 covering pixel p
    np.testing.assert_array_equal(g_img, np.outer(cover, cover))


def _blur_pipeline(boundary: str):
    """img -> boundary -> 3x3 blur (update over an RDom) -> a sharpen and a vertical
    stencil on the blur -> loss."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    bc = BOUNDARIES[boundary](img)
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    blur = hg.Func("blur")
    blur[y, x] = hg.f64(0.0)
    blur[y, x] += bc[y + r[0], x + r[1]] / 9.0
    sharp = hg.Func("sharp")
    sharp[y, x] = 2.0 * bc[y, x] - blur[y, x]
    vert = hg.Func("vert")
    vert[y, x] = blur[y - 1, x] + blur[y + 1, x] * 0.5
    rr = hg.RDom([(0, 5), (0, 6)], name="rr")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += sharp[rr[0], rr[1]] ** 2 + vert[rr[0], rr[1]]
    return img, bc, blur, sharp, vert, loss


@pytest.mark.parametrize("boundary", ["constant_exterior", "repeat_edge"])
def test_adjoints_of_a_blur_with_boundary_on_the_input_are_gathers(boundary):
    img, bc, blur, sharp, vert, loss = _blur_pipeline(boundary)
    d = hg.propagate_adjoints(loss)
    for f in (blur, sharp, vert, bc):
        assert_gather(d[f], f"d[{f.name}]")


def test_adjoint_of_a_pure_separable_stencil_is_a_pure_gather():
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    bc = hg.BoundaryConditions.repeat_edge(img)
    bx = hg.Func("bx")
    bx[y, x] = (bc[y, x - 1] + bc[y, x] + bc[y, x + 1]) / 3.0
    by = hg.Func("by")
    by[y, x] = (bx[y - 1, x] + 2.0 * bx[y, x] + bx[y + 1, x]) / 4.0
    r = hg.RDom([(0, 4), (0, 4)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += by[r[0], r[1]]
    d = hg.propagate_adjoints(loss)
    for f in (bx, bc):
        assert_gather(d[f], f"d[{f.name}]")


def _read(index_fn, ndim_in: int, ndim_out: int = 2):
    """producer P (a copy of an input), consumer C[...] = P[index_fn(vars)]; loss = sum C."""
    vs = [hg.Var(n) for n in "yx"[:ndim_out]]
    img = hg.ImageParam(F64, ndim_in, "img")
    p = hg.Func("P")
    pv = [hg.Var(f"p{i}") for i in range(ndim_in)]
    p[tuple(pv)] = img[tuple(pv)] * 2.0
    c = hg.Func("C")
    idx = index_fn(*vs)
    c[tuple(vs)] = p[idx if isinstance(idx, tuple) else (idx,)]
    r = hg.RDom([(0, 4)] * ndim_out, name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += c[tuple(r[i] for i in range(ndim_out))]
    return p, c, loss


INVERTIBLE = {
    "shift": (lambda y, x: (y + 1, x - 2), 2),
    "downsample_2x": (lambda y, x: (2 * y, 2 * x + 1), 2),
    "transpose": (lambda y, x: (x, y), 2),
    "x_plus_y": (lambda y, x: x + y, 1),
    "y_minus_x": (lambda y, x: y - x + 3, 1),
    "upsample_x_div_2": (lambda y, x: (y // 2, x // 2), 2),
    "upsample_x_div_4": (lambda y, x: (y // 4, x), 2),
    "x_plus_y_div_2": (lambda y, x: (x + y) // 2, 1),
}


@pytest.mark.parametrize("case", list(INVERTIBLE))
def test_invertible_index_maps_give_gathers(case):
    index_fn, ndim_in = INVERTIBLE[case]
    p, c, loss = _read(index_fn, ndim_in)
    d = hg.propagate_adjoints(loss)
    assert_gather(d[p], f"d[P] for {case}")


def test_update_over_rdom_reading_x_plus_rx_gives_a_gather():
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    p = hg.Func("P")
    p[y, x] = img[y, x] + 1.0
    r = hg.RDom([(0, 3)], name="r")
    c = hg.Func("C")
    c[y, x] = hg.f64(0.0)
    c[y, x] += p[y, x + r.x] * (r.x + 1.0)
    rr = hg.RDom([(0, 4), (0, 4)], name="rr")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += c[rr[0], rr[1]]
    d = hg.propagate_adjoints(loss)
    assert_gather(d[p], "d[P]")


def test_data_dependent_lut_index_falls_back_to_a_scatter():
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    lut = hg.ImageParam(F64, 1, "lut")
    table = hg.Func("table")
    i = hg.Var("i")
    table[i] = lut[i] * 1.0
    out = hg.Func("out")
    out[y, x] = table[hg.clamp(hg.i32(img[y, x] * 15.0), 0, 15)]
    r = hg.RDom([(0, 4), (0, 4)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += out[r[0], r[1]]
    d = hg.propagate_adjoints(loss)
    assert any(is_scatter(defn) for defn in d[table].definitions)


def test_reads_at_fixed_indices_give_updates_at_those_indices(rng):
    """hom[1, 2] and img[y, 0] do not depend on the loop var of that dimension: their
    adjoints are updates at the fixed index (one reduction per read), not gathers over
    the whole dimension that keep one value of it; values agree with float64 differences."""
    from helpers import GradFn, check_grads
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    hom = hg.ImageParam(F64, 2, "hom")
    out = hg.Func("out")
    out[y, x] = img[y, x] * hom[1, 2] + img[y, 0] * hom[0, 0]
    r = hg.RDom([(0, 6), (0, 5)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.sum(out[r[0], r[1]] ** 2)
    gfn = GradFn(loss, [img, hom])
    d_hom, d_img = gfn.d[hom], gfn.d[img]
    fixed = [d.args for d in d_hom.definitions[1:]]
    assert sorted((int(a.value), int(b.value)) for a, b in fixed) == [(0, 0), (1, 2)]
    assert any(isinstance(d.args[0], hg.Var) and not isinstance(d.args[1], hg.Var)
               for d in d_img.definitions[1:])
    inputs = {"img": rng.random((6, 5)), "hom": rng.random((3, 3))}
    check_grads(gfn, inputs, rng)
