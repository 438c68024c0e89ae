"""Where adjoints live and what users get when a gradient cannot be had: adjoints of
inputs cover exactly the input's extent, vanish outside the region the loss reads,
are zeros for inputs the loss ignores, and bad requests raise DifferentiationError."""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64


def _windowed_loss(data):
    """loss = sum of f = bc(img)**2 over rows [1, 4), cols [2, 7) of a 6x9 image."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.Buffer(data, name="img")
    f = hg.Func("sq")
    f[y, x] = hg.BoundaryConditions.repeat_edge(img)[y, x] ** 2
    r = hg.RDom([(1, 3), (2, 5)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += f[r[0], r[1]]
    return img, f, loss


def test_gradients_cover_the_input_extent_and_vanish_outside_the_read_window(rng):
    data = rng.standard_normal((6, 9))
    img, f, loss = _windowed_loss(data)
    other = hg.Buffer(rng.standard_normal((3, 5)), name="other")
    q = hg.Param(F64, "q", 2.0)
    g_img, g_other, g_q = hg.gradients(loss, [img, other, q])
    expected = np.zeros_like(data)
    expected[1:4, 2:7] = 2 * data[1:4, 2:7]
    assert g_img.shape == (6, 9) and g_img.dtype == np.float64
    np.testing.assert_allclose(g_img, expected, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(g_other, np.zeros((3, 5)))
    assert np.shape(g_q) == () and float(g_q) == 0.0


def test_adjoint_of_an_intermediate_is_zero_outside_the_region_the_loss_reads(rng):
    data = rng.standard_normal((6, 9))
    img, f, loss = _windowed_loss(data)
    d = hg.propagate_adjoints(loss)
    d_f = hg.Pipeline([d[f]]).realize([8, 10])  # larger than the image, let alone the window
    expected = np.zeros((8, 10))
    expected[1:4, 2:7] = 1.0
    np.testing.assert_array_equal(d_f, expected)


def test_unrelated_inputs_have_zero_adjoints_of_their_shape(rng):
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    b = hg.ImageParam(F64, 2, "b")
    p = hg.Param(F64, "p", 1.0)
    f = hg.Func("f")
    f[x] = a[x] * 3.0
    r = hg.RDom([(0, 4)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += f[r.x]
    d = hg.propagate_adjoints(loss)
    assert np.array_equal(d[b].realize([2, 3]), np.zeros((2, 3)))
    assert d[b].realize([2, 3]).dtype == np.float64
    assert d[p].realize([]).shape == () and float(d[p].realize([])) == 0.0
    np.testing.assert_array_equal(d[a].realize([6]), [3.0] * 4 + [0.0] * 2)


def test_loss_that_is_not_a_func_raises_differentiation_error():
    img = hg.ImageParam(F64, 2, "img")
    for not_a_func in (np.ones(3), img[0, 0], 1.5, img):
        with pytest.raises(hg.DifferentiationError, match="Func") as info:
            hg.propagate_adjoints(not_a_func)
        assert isinstance(info.value, hg.HalogridError)


def test_gradient_wrt_an_integer_input_raises_naming_the_input():
    y, x = hg.Var("y"), hg.Var("x")
    counts = hg.Buffer(np.arange(12, dtype=np.int32).reshape(3, 4), name="counts")
    scale = hg.Buffer(np.ones((3, 4)), name="scale")
    f = hg.Func("f")
    f[y, x] = hg.f64(counts[y, x]) * scale[y, x]
    r = hg.RDom([(0, 3), (0, 4)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += f[r[0], r[1]]
    d = hg.propagate_adjoints(loss)
    with pytest.raises(hg.DifferentiationError, match="counts") as info:
        d[counts]
    assert "integer" in str(info.value).lower() or "int" in str(info.value)
    with pytest.raises(hg.DifferentiationError, match="counts"):
        hg.gradients(loss, [scale, counts])
    ip = hg.Param(hg.Int(32), "ip", 1)
    with pytest.raises(hg.HalogridError, match="ip"):
        d[ip]


def test_integer_loss_and_non_scalar_loss_without_adjoint_raise():
    x = hg.Var("x")
    a = hg.ImageParam(F64, 1, "a")
    ints = hg.Func("ints")
    ints[()] = hg.i32(a[0] * 2.0)
    with pytest.raises(hg.DifferentiationError, match="ints"):
        hg.propagate_adjoints(ints)
    vec = hg.Func("vec")
    vec[x] = a[x] * 2.0
    with pytest.raises(hg.DifferentiationError, match="vec") as info:
        hg.propagate_adjoints(vec)
    assert "adjoint" in str(info.value)


def test_output_adjoint_of_the_wrong_rank_or_type_raises():
    y, x = hg.Var("y"), hg.Var("x")
    a = hg.ImageParam(F64, 2, "a")
    f = hg.Func("f2d")
    f[y, x] = a[y, x] * 2.0
    with pytest.raises(hg.DifferentiationError, match="f2d"):
        hg.propagate_adjoints(f, np.ones(4))
    with pytest.raises(hg.DifferentiationError, match="f2d"):
        hg.propagate_adjoints(f, hg.Buffer(np.ones((2, 2), np.float32), name="seed32"))


def test_derivative_of_an_rdom_raises():
    a = hg.ImageParam(F64, 1, "a")
    r = hg.RDom([(0, 3)], name="r")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += a[r.x]
    d = hg.propagate_adjoints(loss)
    with pytest.raises(hg.DifferentiationError):
        d[r]
