"""Language level: Buffer (zero-copy, every supported dtype, non-contiguous views),
ImageParam and Param bound by name at call time."""

import numpy as np

import halogrid as hg

DTYPES = [np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.int64,
          np.float32, np.float64]


def _extremes(dtype, shape, rng):
    """Random values of `dtype` with the type's extreme values planted."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
        a.flat[0], a.flat[1] = info.min, info.max
    else:
        a = (rng.standard_normal(shape) * 1e3).astype(dtype)
        a.flat[0], a.flat[1] = np.finfo(dtype).max, np.finfo(dtype).tiny
    return a


def test_buffers_of_every_supported_dtype_pass_through_unchanged(rng):
    y, x = hg.Var("y"), hg.Var("x")
    arrays, funcs = {}, []
    for dt in DTYPES:
        a = _extremes(dt, (3, 4), rng)
        arrays[np.dtype(dt).name] = a
        f = hg.Func("copy_" + np.dtype(dt).name)
        f[y, x] = hg.Buffer(a, name="in_" + np.dtype(dt).name)[y, x]
        funcs.append(f)
    flags = rng.random((3, 4)) > 0.5
    mask = hg.Buffer(flags, name="flags")
    chosen = hg.Func("chosen")
    chosen[y, x] = hg.select(mask[y, x], 1, 2)
    negated = hg.Func("negated")
    negated[y, x] = ~mask[y, x]
    funcs += [chosen, negated]

    results = hg.Pipeline(funcs).compile(target="cpu")(shapes=[(3, 4)] * len(funcs))
    for (name, a), got in zip(arrays.items(), results):
        assert got.dtype == a.dtype, name
        np.testing.assert_array_equal(got, a, err_msg=name)
    np.testing.assert_array_equal(results[-2], np.where(flags, 1, 2))
    assert results[-1].dtype == np.bool_
    np.testing.assert_array_equal(results[-1], ~flags)


def test_buffer_is_a_zero_copy_view_of_the_array():
    arr = np.zeros((3, 5), np.float32)
    buf = hg.Buffer(arr, name="live")
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("plus_one")
    f[y, x] = buf[y, x] + 1.0
    np.testing.assert_array_equal(f.realize([3, 5]), np.ones((3, 5), np.float32))
    arr[...] = np.arange(15, dtype=np.float32).reshape(3, 5)   # in place, after wrapping
    np.testing.assert_array_equal(f.realize([3, 5]), arr + 1)


def test_buffer_element_access_is_a_load_expression(rng):
    data = rng.random((3, 4), dtype=np.float32)
    b = hg.Buffer(data, name="b")
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("centred")
    f[y, x] = b[y, x] - b[0, 2]
    np.testing.assert_allclose(f.realize([3, 4]), data - data[0, 2], rtol=1e-6, atol=1e-7)


def test_buffers_over_non_contiguous_views_read_the_viewed_elements(rng):
    base = rng.random((8, 9), dtype=np.float32)
    views = {
        "strided": base[::2, 1::3],          # (4, 3)
        "transposed": base.T[:4, :3],       # (4, 3), column-major strides
        "reversed": base[::-1, ::-1][:4, :3],
    }
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("mix")
    bufs = {k: hg.Buffer(v, name=k) for k, v in views.items()}
    f[y, x] = bufs["strided"][y, x] + 10.0 * bufs["transposed"][y, x] \
        + 100.0 * bufs["reversed"][y, x]
    want = views["strided"] + 10 * views["transposed"].astype(np.float64) \
        + 100 * views["reversed"].astype(np.float64)
    np.testing.assert_allclose(f.realize([4, 3]), want, rtol=1e-6)


def test_image_param_accepts_non_contiguous_and_array_like_inputs(rng):
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain = hg.Param(hg.Float(32), "gain", 1.0)
    offset = hg.Param(hg.Int(32), "offset", 3)
    y, x = hg.Var("y"), hg.Var("x")
    f = hg.Func("scaled")
    f[y, x] = inp[y, x] * gain + offset
    fn = hg.Pipeline([f]).compile(target="cpu")

    class ArrayLike:
        def __init__(self, a):
            self._a = a

        def __array__(self, dtype=None, copy=None):
            return self._a

    base = rng.random((6, 10), dtype=np.float32)
    cases = [base, base[::2, ::3], base.T, np.asfortranarray(base), ArrayLike(base[1:4, 2:7])]
    for a in cases:
        arr = np.asarray(a)
        np.testing.assert_allclose(fn(inp=a), arr + 3, rtol=1e-6)          # defaults
        np.testing.assert_allclose(fn(inp=a, gain=2.5, offset=-1), arr * 2.5 - 1, rtol=1e-6)


def test_buffer_of_three_dimensions_uses_numpy_axis_order(rng):
    data = rng.random((2, 3, 4), dtype=np.float32)
    b = hg.Buffer(data, name="vol")
    z, y, x = hg.Var("z"), hg.Var("y"), hg.Var("x")
    f = hg.Func("weighted")
    f[z, y, x] = b[z, y, x] * 1000.0 + hg.f32(z * 100 + y * 10 + x)
    out = f.realize([2, 3, 4])
    idx = np.indices((2, 3, 4))
    want = data * np.float32(1000) + (idx[0] * 100 + idx[1] * 10 + idx[2]).astype(np.float32)
    assert out.shape == (2, 3, 4)
    np.testing.assert_allclose(out, want, rtol=1e-6)
