"""Colour pipelines end to end: RGB -> HSV with select, uint8 images in and float out."""

import numpy as np

import halogrid as hg


def _hsv_ref(rgb):
    """The same formulas as the pipeline, in float32 NumPy."""
    r, g, b = (rgb[..., i] for i in range(3))
    mx = np.maximum(r, np.maximum(g, b))
    mn = np.minimum(r, np.minimum(g, b))
    d = mx - mn
    safe_d = np.where(d > 0, d, np.float32(1))
    h6 = np.where(d == 0, np.float32(0),
                  np.where(mx == r, (g - b) / safe_d,
                           np.where(mx == g, (b - r) / safe_d + np.float32(2),
                                    (r - g) / safe_d + np.float32(4))))
    h = np.where(h6 < 0, h6 + np.float32(6), h6) / np.float32(6)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, np.float32(1)), np.float32(0))
    return np.stack([h, s, mx], axis=-1).astype(np.float32)


def test_rgb_to_hsv_with_nary_select_matches_numpy(rng):
    y, x, c = hg.Var("y"), hg.Var("x"), hg.Var("c")
    rgb = hg.ImageParam(hg.Float(32), 3, "rgb")
    r, g, b = rgb[y, x, 0], rgb[y, x, 1], rgb[y, x, 2]
    mx = hg.max(r, hg.max(g, b))
    mn = hg.min(r, hg.min(g, b))
    d = mx - mn
    safe_d = hg.select(d > 0, d, 1.0)
    h6 = hg.select(d == 0, 0.0,
                   mx == r, (g - b) / safe_d,
                   mx == g, (b - r) / safe_d + 2.0,
                   (r - g) / safe_d + 4.0)
    h = hg.select(h6 < 0, h6 + 6.0, h6) / 6.0
    s = hg.select(mx > 0, d / hg.select(mx > 0, mx, 1.0), 0.0)
    hsv = hg.Func("hsv")
    hsv[y, x, c] = hg.select(c == 0, h, c == 1, s, mx)
    fn = hg.Pipeline([hsv]).compile(target="cpu")

    for shape in [(5, 7, 3), (2, 3, 3)]:
        a = rng.random(shape, dtype=np.float32)
        a[0, 0] = [0.5, 0.5, 0.5]      # grey: hue 0, saturation 0
        a[0, 1] = [0.0, 0.0, 0.0]      # black
        a[1, 0] = [0.9, 0.1, 0.4]      # red is max, g < b: negative hue wraps
        a[1, 1] = [0.2, 0.8, 0.8]      # tie between g and b
        out = fn(rgb=a)                # shapes omitted: the input's shape (H, W, 3)
        assert out.shape == shape and out.dtype == np.float32
        np.testing.assert_allclose(out, _hsv_ref(a), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(out[1, 0], [(0.1 - 0.4) / 0.8 / 6 + 1, 0.8 / 0.9, 0.9],
                               rtol=1e-5)


def test_uint8_rgb_in_float32_gray_out_follows_type_promotion(rng):
    """uint8 * float constant is Float(32) (Halide's rule), so the output is float32
    with no explicit cast; an explicit hg.f32 gives the same."""
    y, x = hg.Var("y"), hg.Var("x")
    rgb8 = hg.ImageParam(hg.UInt(8), 3, "rgb8")
    gray = hg.Func("gray")
    gray[y, x] = (0.299 * rgb8[y, x, 0] + 0.587 * rgb8[y, x, 1] + 0.114 * rgb8[y, x, 2]) / 255.0
    norm = hg.Func("norm")
    norm[y, x] = hg.f32(rgb8[y, x, 1]) / 255.0
    fn = hg.Pipeline([gray, norm]).compile(target="cpu")

    a = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    a[0, 0] = [255, 255, 255]
    got_gray, got_norm = fn(rgb8=a, shapes=[(6, 5), (6, 5)])
    f = a.astype(np.float32)
    ref = (np.float32(0.299) * f[..., 0] + np.float32(0.587) * f[..., 1]
           + np.float32(0.114) * f[..., 2]) / np.float32(255)
    assert got_gray.dtype == np.float32 and got_norm.dtype == np.float32
    np.testing.assert_allclose(got_gray, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got_norm, f[..., 1] / np.float32(255), rtol=1e-6)
    assert abs(got_gray[0, 0] - 1.0) < 1e-6  # white stays white
