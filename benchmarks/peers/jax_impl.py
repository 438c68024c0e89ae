"""JAX peer: every workload as one ``jax.jit`` function, gradients by ``jax.value_and_grad``.

Written the way a JAX user would: shifted slices of padded arrays for the stencils
(XLA fuses them), ``lax.conv_general_dilated`` for W2, explicit gather formulas for the
tent/bilinear sampling (JAX has no grid_sample) and ``.at[].add`` scatters for the W6
histogram and the W7 splat. Timed calls include host -> device transfer of the NumPy
inputs, ``block_until_ready`` and conversion back to NumPy. XLA's CPU thread pool is
left at its default (all cores = 2 here). Builders follow ``benchmarks.systems``.
"""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.workloads import WORKLOADS

VERSION = jax.__version__
TAPS5 = jnp.array([1.0, 4.0, 6.0, 4.0, 1.0], jnp.float32) / 16


def w1(t):
    img, k = t["inp"], t["k"]
    h, w = img.shape
    pad = jnp.pad(img, 1, mode="edge")
    return sum(pad[i:i + h, j:j + w] * k[i, j] for i in range(3) for j in range(3))


def w2(t):
    out = lax.conv_general_dilated(t["inp"][None], t["k"], (1, 1), "SAME",
                                   dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out[0]


def _blur5(a, axis, mode):
    """TAPS5 blur along ``axis``; ``mode`` is jnp.pad's ("edge" or "constant" = zero)."""
    n = a.shape[axis]
    pad_width = [(0, 0)] * a.ndim
    pad_width[axis] = (2, 2)
    p = jnp.pad(a, pad_width, mode=mode)
    return sum(lax.slice_in_dim(p, j, j + n, axis=axis) * TAPS5[j] for j in range(5))


def w3(t):
    return _blur5(_blur5(t["inp"], 1, "edge"), 0, "edge")


def _tent(coord, n):
    """[(index, weight)] x2 of linear interpolation, indices clamped to [0, n-1]."""
    lo = jnp.floor(coord)
    frac = coord - lo
    lo = lo.astype(jnp.int32)
    return [(jnp.clip(lo, 0, n - 1), 1 - frac), (jnp.clip(lo + 1, 0, n - 1), frac)]


def _cells(y_coord, x_coord, z_coord, shape):
    """Yield (flat cell index, weight) for the 8 trilinear corners on grid ``shape``."""
    gh, gw, gd = shape
    for cy, wy in _tent(y_coord, gh):
        for cx, wx in _tent(x_coord, gw):
            for cz, wz in _tent(z_coord, gd):
                yield (cy[:, None] * gw + cx[None, :]) * gd + cz, wy[:, None] * wx[None, :] * wz


def w4(t):
    img, guide, grid = t["inp"], t["guide"], t["A"]
    h, w, _ = img.shape
    flat_grid = grid.reshape(-1, 12)
    gy = (jnp.arange(h, dtype=jnp.float32) + 0.5) / 16 - 0.5
    gx = (jnp.arange(w, dtype=jnp.float32) + 0.5) / 16 - 0.5
    coeff = sum(wt[..., None] * flat_grid[idx]
                for idx, wt in _cells(gy, gx, guide * 8 - 0.5, grid.shape[:3]))
    coeff = coeff.reshape(h, w, 3, 4)
    return jnp.einsum("hwck,hwk->hwc", coeff[..., :3], img) + coeff[..., 3]


def w5(t):
    img, hom = t["inp"], t["H3"]
    h, w = img.shape
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                          jnp.arange(w, dtype=jnp.float32), indexing="ij")
    u, v, s = (hom[r, 0] * xs + hom[r, 1] * ys + hom[r, 2] for r in range(3))
    sx, sy = u / s, v / s
    x0, y0 = jnp.floor(sx), jnp.floor(sy)
    fx, fy = sx - x0, sy - y0
    x0, y0 = x0.astype(jnp.int32), y0.astype(jnp.int32)
    out = jnp.zeros((h, w), jnp.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            val = img[jnp.clip(yy, 0, h - 1), jnp.clip(xx, 0, w - 1)]
            out = out + jnp.where(inside, wy * wx * val, 0.0)
    return out


def _lerp_index(t, n):
    """(i0, a): i0 = clamp(floor(t), 0, n-2), a = t - i0."""
    i0 = jnp.clip(jnp.floor(t), 0, n - 2)
    return i0.astype(jnp.int32), t - i0


def w6(t):
    img, lut = t["inp"], t["lut"]
    i0, a = _lerp_index(img * 255, 256)
    out = lut[i0] * (1 - a) + lut[i0 + 1] * a
    b0, f = _lerp_index(out * 63, 64)
    hist = jnp.zeros(64, jnp.float32).at[b0].add(1 - f).at[b0 + 1].add(f)
    return out, hist


def w7(t):
    img = t["inp"]
    h, w = img.shape
    shape = (h // 8, w // 8, 16)
    ar = jnp.arange(max(h, w), dtype=jnp.float32) / 8.0
    corners = list(_cells(ar[:h], ar[:w], img * 15, shape))
    values = jnp.stack([img, jnp.ones_like(img)], axis=-1)
    grid = jnp.zeros((np.prod(shape), 2), jnp.float32)
    for idx, wt in corners:
        grid = grid.at[idx].add(values * wt[..., None])
    grid = grid.reshape(shape + (2,))
    for axis in range(3):
        grid = _blur5(grid, axis, "constant")
    grid = grid.reshape(-1, 2)
    sliced = sum(grid[idx] * wt[..., None] for idx, wt in corners)
    return sliced[..., 0] / sliced[..., 1]


FORWARDS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}


def _loss(t, result):
    """L = sum((out - target)^2) (+ W6 histogram term), as in numpy_ref.loss."""
    out = result[0] if isinstance(result, tuple) else result
    total = jnp.sum((out - t["target"]) ** 2)
    if isinstance(result, tuple):
        total = total + jnp.sum((result[1] / out.size - t["hist_target"]) ** 2)
    return total


def _numpy(result):
    result = jax.block_until_ready(result)
    if isinstance(result, tuple):
        return tuple(np.asarray(r) for r in result)
    return np.asarray(result)


def jitted(forward, grad_names):
    """(forward, gradient) as jitted functions of an input dict that return JAX arrays,
    not yet ready: ``forward(t)`` -> out (W6: (out, hist)); ``gradient(t)`` -> (loss,
    {name: dL/dname}) for ``grad_names``, the other inputs held constant."""
    fwd_jit = jax.jit(forward)

    def loss_of(diff, rest):
        t = {**diff, **rest}
        return _loss(t, forward(t))

    grad_jit = jax.jit(jax.value_and_grad(loss_of))

    def gradient(inputs):
        diff = {n: inputs[n] for n in grad_names}
        rest = {k: v for k, v in inputs.items() if k not in grad_names}
        return grad_jit(diff, rest)

    return fwd_jit, gradient


def _builder(forward, grad_names):
    def build(example_inputs):
        fwd_jit, gradient = jitted(forward, grad_names)

        def fwd(inputs):
            return _numpy(fwd_jit(inputs))

        def grad(inputs):
            loss, grads = jax.block_until_ready(gradient(inputs))
            return float(loss), {n: np.asarray(g) for n, g in grads.items()}

        return fwd, grad

    return build


BUILDERS = {name: _builder(f, WORKLOADS[name].grad_names) for name, f in FORWARDS.items()}
