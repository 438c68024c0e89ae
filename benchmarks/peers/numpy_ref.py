"""NumPy float64 references: the oracle for every forward, and gradients for W1, W3.

Written independently of the peers (plain loops over taps/corners, no shared helpers
with them) so that a formula mistake in one place cannot hide in all systems at once.
Every function takes the float32 input dict of ``benchmarks.workloads`` and computes in
float64. Forward outputs use the same convention as every system: an array ``out``, or
for W6 the pair ``(out, hist)``.
"""
import numpy as np

TAPS5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _d(inputs, name):
    return inputs[name].astype(np.float64)


def tent(coord, n):
    """Linear-interpolation corners of ``coord`` on a grid of n cells.

    Returns [(index0, weight0), (index1, weight1)] with indices clamped to [0, n-1];
    weights are (1 - frac, frac) of the unclamped floor, so they always sum to 1.
    """
    lo = np.floor(coord)
    frac = coord - lo
    lo = lo.astype(np.int64)
    return [(np.clip(lo, 0, n - 1), 1.0 - frac), (np.clip(lo + 1, 0, n - 1), frac)]


def lerp_index(t, n):
    """(i0, a) with i0 = clamp(floor(t), 0, n-2) and a = t - i0 (W6's LUT/bin rule)."""
    i0 = np.clip(np.floor(t), 0, n - 2)
    return i0.astype(np.int64), t - i0


def fwd_w1(inputs):
    img, k = _d(inputs, "inp"), _d(inputs, "k")
    h, w = img.shape
    pad = np.pad(img, 1, mode="edge")
    return sum(pad[i:i + h, j:j + w] * k[i, j] for i in range(3) for j in range(3))


def fwd_w2(inputs):
    img, k = _d(inputs, "inp"), _d(inputs, "k")
    _, h, w = img.shape
    pad = np.pad(img, ((0, 0), (1, 1), (1, 1)))
    return sum(np.einsum("oc,chw->ohw", k[:, :, i, j], pad[:, i:i + h, j:j + w])
               for i in range(3) for j in range(3))


def _blur5(a, axis, mode="edge"):
    """5-tap TAPS5 blur of ``a`` along ``axis``; ``mode`` is np.pad's boundary
    ("edge" = repeat edge for W3, "constant" = zero for W7's grid)."""
    n = a.shape[axis]
    pad_width = [(0, 0)] * a.ndim
    pad_width[axis] = (2, 2)
    pad = np.pad(a, pad_width, mode=mode)
    return sum(np.take(pad, np.arange(j, j + n), axis=axis) * TAPS5[j] for j in range(5))


def fwd_w3(inputs):
    return _blur5(_blur5(_d(inputs, "inp"), 1), 0)


def fwd_w4(inputs):
    img, guide, grid = _d(inputs, "inp"), _d(inputs, "guide"), _d(inputs, "A")
    h, w, _ = img.shape
    gh, gw, gd = grid.shape[:3]
    ys = tent((np.arange(h) + 0.5) / 16 - 0.5, gh)
    xs = tent((np.arange(w) + 0.5) / 16 - 0.5, gw)
    zs = tent(guide * 8 - 0.5, gd)
    coeff = np.zeros((h, w, 3, 4))
    for cy, wy in ys:
        for cx, wx in xs:
            for cz, wz in zs:
                weight = wy[:, None] * wx[None, :] * wz
                coeff += weight[..., None, None] * grid[cy[:, None], cx[None, :], cz]
    return np.einsum("hwck,hwk->hwc", coeff[..., :3], img) + coeff[..., 3]


def fwd_w5(inputs):
    img, hom = _d(inputs, "inp"), _d(inputs, "H3")
    h, w = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v, s = (hom[r, 0] * xs + hom[r, 1] * ys + hom[r, 2] for r in range(3))
    sx, sy = u / s, v / s
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = sx - x0, sy - y0
    out = np.zeros((h, w))
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            val = img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]
            out += np.where(inside, wy * wx * val, 0.0)
    return out


def fwd_w6(inputs):
    img, lut = _d(inputs, "inp"), _d(inputs, "lut")
    i0, a = lerp_index(img * 255, 256)
    out = lut[i0] * (1 - a) + lut[i0 + 1] * a
    b0, f = lerp_index(out * 63, 64)
    hist = (np.bincount(b0.ravel(), (1 - f).ravel(), minlength=64)
            + np.bincount(b0.ravel() + 1, f.ravel(), minlength=64))
    return out, hist


def _w7_corners(img):
    h, w = img.shape
    return (tent(np.arange(h) / 8.0, h // 8), tent(np.arange(w) / 8.0, w // 8),
            tent(img * 15.0, 16))


def fwd_w7(inputs):
    img = _d(inputs, "inp")
    h, w = img.shape
    shape = (h // 8, w // 8, 16)
    ys, xs, zs = _w7_corners(img)
    value, weight = np.zeros(np.prod(shape)), np.zeros(np.prod(shape))
    for cy, wy in ys:
        for cx, wx in xs:
            for cz, wz in zs:
                flat = np.ravel_multi_index((cy[:, None], cx[None, :], cz), shape).ravel()
                wt = (wy[:, None] * wx[None, :] * wz).ravel()
                value += np.bincount(flat, wt * img.ravel(), minlength=value.size)
                weight += np.bincount(flat, wt, minlength=weight.size)
    grids = [g.reshape(shape) for g in (value, weight)]
    for axis in range(3):
        grids = [_blur5(g, axis, "constant") for g in grids]
    sliced = [np.zeros((h, w)), np.zeros((h, w))]
    for cy, wy in ys:
        for cx, wx in xs:
            for cz, wz in zs:
                wt = wy[:, None] * wx[None, :] * wz
                for acc, g in zip(sliced, grids):
                    acc += wt * g[cy[:, None], cx[None, :], cz]
    return sliced[0] / sliced[1]


FORWARD = {"W1": fwd_w1, "W2": fwd_w2, "W3": fwd_w3, "W4": fwd_w4,
           "W5": fwd_w5, "W6": fwd_w6, "W7": fwd_w7}


def loss(inputs, result):
    """L = sum((out - target)^2), plus W6's sum((hist/(H*W) - hist_target)^2)."""
    out = result[0] if isinstance(result, tuple) else result
    total = np.sum((out - _d(inputs, "target")) ** 2)
    if isinstance(result, tuple):
        hist = result[1] / out.size
        total += np.sum((hist - _d(inputs, "hist_target")) ** 2)
    return float(total)


def _fold_edges(padded, pad, axis):
    """Adjoint of np.pad(mode='edge') along ``axis``: add the pad rows onto the edge."""
    a = np.moveaxis(padded, axis, 0)
    core = a[pad:-pad].copy()
    core[0] += a[:pad].sum(axis=0)
    core[-1] += a[-pad:].sum(axis=0)
    return np.moveaxis(core, 0, axis)


def grad_w1(inputs):
    """(loss, {"inp", "k"}) for W1 in float64."""
    img, k = _d(inputs, "inp"), _d(inputs, "k")
    h, w = img.shape
    out = fwd_w1(inputs)
    g = 2 * (out - _d(inputs, "target"))
    pad = np.pad(img, 1, mode="edge")
    d_pad = np.zeros_like(pad)
    d_k = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            d_pad[i:i + h, j:j + w] += g * k[i, j]
            d_k[i, j] = np.sum(g * pad[i:i + h, j:j + w])
    d_img = _fold_edges(_fold_edges(d_pad, 1, 0), 1, 1)
    return loss(inputs, out), {"inp": d_img, "k": d_k}


def _blur5_adjoint(g, axis):
    """Adjoint of ``_blur5(., axis)`` applied to output adjoint ``g``."""
    n = g.shape[axis]
    shape = list(g.shape)
    shape[axis] = n + 4
    d_pad = np.zeros(shape)
    view = np.moveaxis(d_pad, axis, 0)
    g_first = np.moveaxis(g, axis, 0)
    for j in range(5):
        view[j:j + n] += g_first * TAPS5[j]
    return _fold_edges(d_pad, 2, axis)


def grad_w3(inputs):
    """(loss, {"inp"}) for W3 in float64."""
    out = fwd_w3(inputs)
    g = 2 * (out - _d(inputs, "target"))
    d_img = _blur5_adjoint(_blur5_adjoint(g, 0), 1)
    return loss(inputs, out), {"inp": d_img}


GRADIENT = {"W1": grad_w1, "W3": grad_w3}
