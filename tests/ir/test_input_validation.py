"""Call arguments a compiled pipeline refuses or converts (codegen/binding.py, the Param
checks of ir/buffer.py, RDom and index checks of ir/func.py): every refusal is a
HalogridError naming the input and the fix, never a raw NumPy/Numba/torch exception,
and every conversion gives the values of a NumPy reference."""

import numpy as np
import pytest

import halogrid as hg

x, y = hg.Var("x"), hg.Var("y")


@pytest.fixture(scope="module")
def scaled():
    """out[y, x] = inp[y, x] * gain + n, compiled once for the module."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain = hg.Param(hg.Float(32), "gain", 1.0)
    n = hg.Param(hg.Int(32), "n", 0)
    out = hg.Func("scaled")
    out[y, x] = inp[y, x] * gain + hg.f32(n)
    return hg.Pipeline(out).compile()


def _raises(match: str, fn, *args, **kwargs):
    with pytest.raises(hg.InputError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_big_endian_input_is_converted_to_native_order(scaled, rng):
    img = rng.random((3, 5)).astype(">f4")
    out = scaled(inp=img, gain=2.0, n=1)
    np.testing.assert_array_equal(out, img.astype(np.float32) * np.float32(2) + 1)


def test_big_endian_input_of_another_dtype_is_still_refused(scaled):
    msg = _raises("expects dtype float32 but got float64", scaled, inp=np.ones((2, 2), ">f8"))
    assert "'inp'" in msg and "astype(np.float32)" in msg


def test_non_numeric_input_array_is_refused(scaled):
    _raises("Can't bind input 'inp': it expects dtype float32 but got <U1",
            scaled, inp=np.array([["a", "b"]]))


@pytest.mark.parametrize("shape, why", [((-3, 4), "extent -3 of dimension 0 is negative"),
                                         ((2.5, 4), "extent 2.5 of dimension 0 is not an int"),
                                         ((2, True), "extent True of dimension 1 is not an int")])
def test_bad_output_shapes_are_refused(scaled, shape, why):
    msg = _raises(why, scaled, inp=np.ones((2, 4), np.float32), shapes=[shape])
    assert msg.startswith(f"Can't realize output 'scaled' over shape {shape!r}")
    assert "non-negative int extent" in msg


def test_numpy_integer_extents_are_accepted(scaled):
    out = scaled(inp=np.ones((2, 4), np.float32), shapes=[(np.int64(2), np.int32(3))])
    np.testing.assert_array_equal(out, np.ones((2, 3), np.float32))


def test_realize_with_a_negative_extent_is_refused():
    f = hg.Func("neg_extent")
    f[y, x] = y + x
    with pytest.raises(hg.InputError, match=r"over shape \(-3, 4\): the extent -3 of dimension 0"):
        f.realize([-3, 4])


def test_realize_with_a_number_for_a_shape_is_refused():
    f = hg.Func("number_shape")
    f[x] = x
    with pytest.raises(hg.InputError, match="over shape 5: a shape is a tuple of extents"):
        f.realize(5)


def test_param_given_an_array_is_refused(scaled):
    msg = _raises("it is an array of shape \\(3,\\), not a scalar", scaled,
                  inp=np.ones((2, 2), np.float32), gain=np.ones(3))
    assert msg.startswith("Can't set Param 'gain' of type hg.Float(32)")


@pytest.mark.parametrize("text", ["abc", "3"])
def test_param_given_a_string_is_refused(scaled, text):
    msg = _raises("a string is not a number", scaled, inp=np.ones((2, 2), np.float32), gain=text)
    assert f"to '{text}'" in msg and "float(text)" in msg


def test_int_param_out_of_range_is_refused(scaled):
    msg = _raises(r"outside the type's range \[-2147483648, 2147483647\]", scaled,
                  inp=np.ones((2, 2), np.float32), n=2 ** 40)
    assert "Param 'n' of type hg.Int(32)" in msg and "wider type" in msg


def test_uint_param_below_zero_is_refused():
    with pytest.raises(hg.InputError, match=r"outside the type's range \[0, 255\]"):
        hg.Param(hg.UInt(8), "level", -1)


def test_int_param_given_a_fraction_is_refused(scaled):
    _raises("it is not an integer, and a float is never truncated", scaled,
            inp=np.ones((2, 2), np.float32), n=2.7)


def test_int_param_given_an_integral_float_takes_its_value(scaled):
    out = scaled(inp=np.ones((2, 2), np.float32), n=3.0, gain=np.float64(0.5))
    np.testing.assert_array_equal(out, np.full((2, 2), 3.5, np.float32))


def test_float32_param_beyond_its_range_is_refused():
    p = hg.Param(hg.Float(32), "huge")
    with pytest.raises(hg.InputError, match="outside the range of float32. Use a Float\\(64\\)"):
        p.set(1e300)


def test_param_set_is_checked_when_set():
    p = hg.Param(hg.Int(16), "count", 1)
    with pytest.raises(hg.InputError, match="Param 'count' of type hg.Int\\(16\\) to 40000"):
        p.set(40000)
    assert p.value() == 1


def test_complex_param_is_refused():
    with pytest.raises(hg.InputError, match="a complex is not a real number"):
        hg.Param(hg.Float(64), "z", np.complex128(1 + 2j))


def test_rdom_with_a_float_extent_is_refused():
    with pytest.raises(hg.DefinitionError, match="Can't build RDom 'r' in dimension 0: its "
                       "extent 2.5 is not an integer"):
        hg.RDom([(0, 2.5)], name="r")


def test_rdom_with_a_float_expression_min_is_refused():
    inp = hg.ImageParam(hg.Float(32), 1, "inp")
    with pytest.raises(hg.DefinitionError, match="dimension 1: its min .* is not an integer"):
        hg.RDom([(0, 3), (inp[0], 3)])


def test_float_index_into_an_image_param_is_refused():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    with pytest.raises(hg.TypeMismatchError, match="Can't index 'inp' in dimension 1 with a "
                       "float32 expression: .* Cast it explicitly, e.g. hg.i32"):
        inp[y, hg.f32(x) * 0.5]


def test_float_index_into_a_func_is_refused():
    g = hg.Func("g")
    g[x] = x
    with pytest.raises(hg.TypeMismatchError, match="Can't index 'g' in dimension 0"):
        g[hg.f32(x) * 0.5]


# ---- default output shapes --------------------------------------------------------

def _kernel_fit():
    """The README's gradient example: a 3x3 kernel k applied to a clamped image."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    target = hg.ImageParam(hg.Float(32), 2, "target")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(0, 3), (0, 3)])
    out = hg.Func("conv")
    out[y, x] = hg.sum(clamped[y + r.x - 1, x + r.y - 1] * k[r.x, r.y])
    rr = hg.RDom(target)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += (out[rr.x, rr.y] - target[rr.x, rr.y]) ** 2
    return inp, k, target, out, loss


def test_adjoints_of_inputs_default_to_their_inputs_shapes(rng):
    inp, k, target, out, loss = _kernel_fit()
    d = hg.propagate_adjoints(loss)
    fn = hg.Pipeline([loss, d[k], d[inp], out]).compile()
    img, kk = rng.random((8, 10), np.float32), rng.random((3, 3), np.float32)
    goal = rng.random((8, 10), np.float32)
    value, d_k, d_inp, conv = fn(inp=img, k=kk, target=goal)
    assert value.shape == () and d_k.shape == (3, 3) and d_inp.shape == (8, 10)
    assert conv.shape == (8, 10)  # a Func: the shape of the first ImageParam bound
    padded = np.pad(img.astype(np.float64), 1, mode="edge")
    windows = np.stack([padded[i:i + 8, j:j + 10] for i in range(3) for j in range(3)])
    residual = np.tensordot(kk.astype(np.float64).ravel(), windows, 1) - goal
    expected = 2 * np.tensordot(windows, residual, ((1, 2), (0, 1))).reshape(3, 3)
    np.testing.assert_allclose(d_k, expected, rtol=1e-4)
    np.testing.assert_allclose(value, (residual ** 2).sum(), rtol=1e-4)


def test_adjoint_of_a_buffer_defaults_to_the_buffers_shape(rng):
    weights = rng.random((2, 3), np.float32)
    w = hg.Buffer(weights, name="w")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    loss = hg.Func("loss_w")
    r = hg.RDom([(0, 2), (0, 3)])
    loss[()] = 0.0
    loss[()] += w[r.x, r.y] * inp[r.x, r.y]
    d = hg.propagate_adjoints(loss)
    img = rng.random((5, 7), np.float32)
    d_w = hg.Pipeline([d[w]]).compile()(inp=img)
    np.testing.assert_array_equal(d_w, img[:2, :3])


def test_output_shape_without_an_image_param_asks_for_shapes():
    f = hg.Func("free")
    f[y, x] = y + x
    with pytest.raises(hg.InputError, match="Can't infer the shape of output 'free': the "
                       "pipeline binds no ImageParam. Pass shapes="):
        hg.Pipeline(f).compile()()


def test_tensor_that_requires_grad_is_refused_for_an_image(scaled):
    torch = pytest.importorskip("torch")
    msg = _raises("Can't bind input 'inp': it is a tensor that requires grad", scaled,
                  inp=torch.ones(2, 2, requires_grad=True))
    assert "tensor.detach()" in msg and "hg.torch.to_autograd" in msg


def test_tensor_that_requires_grad_is_refused_for_a_param(scaled):
    torch = pytest.importorskip("torch")
    _raises("Can't bind input 'gain': it is a tensor that requires grad", scaled,
            inp=np.ones((2, 2), np.float32), gain=torch.tensor(1.5, requires_grad=True))


def test_plain_tensors_bind_like_arrays(scaled):
    torch = pytest.importorskip("torch")
    img = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    out = scaled(inp=img, gain=torch.tensor(2.0), n=torch.tensor(1))
    np.testing.assert_array_equal(out, img.numpy() * 2 + 1)
