"""Non-scalar outputs seeded with an output adjoint (VJPs, via the inner-product
identity <u, J v> == <J^T u, v> against finite differences) and second order:
differentiating a pipeline that contains adjoint Funcs gives Hessian-vector products."""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads, directional_fd

SHAPE = (5, 6)


def _image_op(img, p):
    """A 2-D output with a pure stage and an update, reading across a boundary."""
    y, x = hg.Var("y"), hg.Var("x")
    bc = hg.BoundaryConditions.mirror_interior(img)
    f = hg.Func("op")
    f[y, x] = hg.tanh(bc[y, x + 1] * p) + bc[y - 1, x] * img[y, x]
    f[y, x] += hg.sin(bc[y + 1, x - 1]) * 0.5
    return f


@pytest.fixture(scope="module")
def vjp():
    img = hg.ImageParam(F64, 2, "img")
    p = hg.Param(F64, "p", 1.0)
    seed = hg.Buffer(np.zeros(SHAPE), name="seed")
    return GradFn(_image_op(img, p), [img, p], out_shape=SHAPE, seed=seed)


def _vjp_inputs(rng):
    return {"img": rng.standard_normal(SHAPE), "p": 0.8}


def test_vjp_satisfies_the_inner_product_identity(vjp, rng):
    inputs = _vjp_inputs(rng)
    for _ in range(2):  # the same compiled callable, rebinding the seed by name
        check_grads(vjp, inputs, rng, n_dirs=3, seed_value=rng.standard_normal(SHAPE))


def test_vjp_is_linear_in_the_output_adjoint(vjp, rng):
    inputs = _vjp_inputs(rng)
    u1, u2 = rng.standard_normal(SHAPE), rng.standard_normal(SHAPE)
    _, g1, _ = vjp({**inputs, "seed": u1})
    _, g2, _ = vjp({**inputs, "seed": u2})
    _, g12, _ = vjp({**inputs, "seed": u1 - 2.0 * u2})
    for a, b, c in zip(g1, g2, g12):
        np.testing.assert_allclose(c, a - 2.0 * b, rtol=1e-10, atol=1e-12)


def test_vjp_with_a_one_hot_adjoint_is_a_row_of_the_jacobian(vjp, rng):
    inputs = _vjp_inputs(rng)
    u = np.zeros(SHAPE)
    u[0, 5] = 1.0  # a corner pixel: its stencil reaches across two edges
    _, (g_img, g_p), _ = vjp({**inputs, "seed": u})
    for idx in [(0, 0), (0, 4), (0, 5), (1, 4), (1, 5), (2, 2)]:
        e = {"img": np.zeros(SHAPE)}
        e["img"][idx] = 1.0
        fd = directional_fd(vjp.value, {**inputs, "seed": u}, ["img"], e, 1e-6, seed=u)
        np.testing.assert_allclose(g_img[idx], fd, rtol=1e-6, atol=1e-9, err_msg=str(idx))


def test_propagate_adjoints_accepts_a_plain_array_as_output_adjoint(vjp, rng):
    img = hg.ImageParam(F64, 2, "img")
    p = hg.Param(F64, "p", 1.0)
    u = rng.standard_normal(SHAPE)
    d = hg.propagate_adjoints(_image_op(img, p), u)
    inputs = _vjp_inputs(rng)
    got = hg.Pipeline([d[img]]).realize(SHAPE, **inputs)
    _, (expected, _), _ = vjp({**inputs, "seed": u})
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ---- second order --------------------------------------------------------------

HSHAPE = (4, 5)


@pytest.fixture(scope="module")
def hvp():
    """loss(x) = sum (row+1) * tanh(k * blur(x))**2 + sum x**3 / 3 over a 4x5 window of
    a 5x6 image; g = d[x]; loss2 = <g, v>; d2 = propagate_adjoints(loss2): d2[x] = H v."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "x")
    v = hg.ImageParam(F64, 2, "v")
    k = hg.Param(F64, "k", 1.5)
    blur = hg.Func("blur")
    blur[y, x] = (img[y, x + 1] + 2.0 * img[y, x] + img[y + 1, x]) / 4.0
    r = hg.RDom([(0, HSHAPE[0]), (0, HSHAPE[1])], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += (r[0] + 1.0) * hg.tanh(k * blur[r[0], r[1]]) ** 2 + img[r[0], r[1]] ** 3 / 3.0
    g = hg.propagate_adjoints(loss)[img]
    loss2 = hg.Func("loss2")
    loss2[()] = hg.f64(0.0)
    rv = hg.RDom([(0, HSHAPE[0] + 1), (0, HSHAPE[1] + 1)], name="rv")
    loss2[()] += g[rv[0], rv[1]] * v[rv[0], rv[1]]
    return GradFn(loss2, [img], extra=[g], extra_shapes=[IMG_SHAPE])


IMG_SHAPE = (HSHAPE[0] + 1, HSHAPE[1] + 1)


def test_hessian_vector_product_matches_finite_differences_of_the_gradient(hvp, rng):
    data, v = rng.standard_normal(IMG_SHAPE), rng.standard_normal(IMG_SHAPE)
    _, (hv,), _ = hvp({"x": data, "v": v})
    eps = 1e-6
    _, _, (g_hi,) = hvp({"x": data + eps * v, "v": v})
    _, _, (g_lo,) = hvp({"x": data - eps * v, "v": v})
    np.testing.assert_allclose(hv, (g_hi - g_lo) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_gradient_inside_the_second_order_pipeline_is_the_first_order_gradient(hvp, rng):
    """The adjoint Func g, realized as an ordinary output, matches a NumPy closed form."""
    data = rng.standard_normal(IMG_SHAPE)
    _, _, (g,) = hvp({"x": data, "v": np.zeros(IMG_SHAPE)})
    h, w = HSHAPE
    blur = (data[:h, 1:w + 1] + 2 * data[:h, :w] + data[1:h + 1, :w]) / 4
    t = np.tanh(1.5 * blur)
    d_blur = (np.arange(h)[:, None] + 1.0) * 2 * t * (1 - t * t) * 1.5 / 4
    expected = np.zeros(IMG_SHAPE)
    expected[:h, 1:w + 1] += d_blur
    expected[:h, :w] += 2 * d_blur + data[:h, :w] ** 2
    expected[1:h + 1, :w] += d_blur
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_second_order_loss_agrees_with_finite_differences_and_is_symmetric(hvp, rng):
    data = rng.standard_normal(IMG_SHAPE)
    v, w = rng.standard_normal(IMG_SHAPE), rng.standard_normal(IMG_SHAPE)
    check_grads(hvp, {"x": data, "v": v}, rng, n_dirs=3, rtol=1e-6)
    _, (hv,), _ = hvp({"x": data, "v": v})
    _, (hw,), _ = hvp({"x": data, "v": w})
    np.testing.assert_allclose(np.vdot(w, hv), np.vdot(hw, v), rtol=1e-10)


def test_second_order_through_a_repeat_edge_boundary_matches_closed_form():
    """The first adjoint of a clamped read is a scatter update (d_x[clamp(r)] += ...);
    differentiating it again must treat it as the accumulation it is.
    loss = sum_{r<4} bc(x)[r+1]**3 = x1^3 + x2^3 + 2 x3^3 for a length-4 x."""
    x = hg.ImageParam(F64, 1, "x")
    v = hg.ImageParam(F64, 1, "v")
    bc = hg.BoundaryConditions.repeat_edge(x)
    r = hg.RDom([(0, 4)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += bc[r.x + 1] ** 3
    g = hg.propagate_adjoints(loss)[x]
    loss2 = hg.Func("loss2")
    loss2[()] = hg.f64(0.0)
    loss2[()] += g[r.x] * v[r.x]
    hv = hg.propagate_adjoints(loss2)[x]
    data, direction = np.array([0.5, -1.0, 2.0, 1.5]), np.array([1.0, 2.0, -1.0, 0.5])
    got = hg.Pipeline([hv]).realize([4], x=data, v=direction)
    np.testing.assert_allclose(got, [0.0, 6 * data[1] * direction[1], 6 * data[2] * direction[2],
                                     12 * data[3] * direction[3]], rtol=1e-12)
