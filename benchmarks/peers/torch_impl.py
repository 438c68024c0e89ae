"""PyTorch CPU peer: eager forwards, gradients by autograd (``loss.backward()``).

Dtype-generic: benchmarked in float32; the harness also runs it on float64 copies of
the inputs as the gradient oracle of the workloads NumPy has no gradient for.
Device-generic: every tensor a forward creates is on its inputs' device, so
``peers/torch_cuda.py`` runs the same forwards on the GPU.

Written the way a PyTorch user would: conv2d for W1-W3, ``grid_sample`` for W4/W5
(trilinear/bilinear sampling; ``padding_mode="border"`` is equivalent to clamping the
tent's cell indices, ``"zeros"`` to per-tap zero outside), ``index_add`` scatters for
the W6 histogram and the W7 splat. Timed calls include NumPy -> tensor (zero-copy) and
tensor -> NumPy conversion. Builders follow ``benchmarks.systems`` (see README).
"""
import torch
import torch.nn.functional as F

from benchmarks import env
from benchmarks.workloads import WORKLOADS

torch.set_num_threads(env.THREADS)
VERSION = torch.__version__
TAPS5 = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)


def w1(t):
    img = F.pad(t["inp"][None, None], (1, 1, 1, 1), mode="replicate")
    return F.conv2d(img, t["k"][None, None])[0, 0]


def w2(t):
    return F.conv2d(t["inp"][None], t["k"], padding=1)[0]


def w3(t):
    taps = torch.tensor(TAPS5, dtype=t["inp"].dtype, device=t["inp"].device)
    img = F.pad(t["inp"][None, None], (2, 2, 0, 0), mode="replicate")
    bx = F.conv2d(img, taps.view(1, 1, 1, 5))
    bx = F.pad(bx, (0, 0, 2, 2), mode="replicate")
    return F.conv2d(bx, taps.view(1, 1, 5, 1))[0, 0]


def _normalised(coord, n):
    """grid_sample coordinate (align_corners=True) of cell-space ``coord`` on n cells."""
    return coord * (2.0 / (n - 1)) - 1.0


def w4(t):
    img, guide, grid = t["inp"], t["guide"], t["A"]
    h, w, _ = img.shape
    gh, gw, gd = grid.shape[:3]
    vol = grid.reshape(gh, gw, gd, 12).permute(3, 2, 0, 1)[None]  # (1,12,D,GH,GW)
    gx = (torch.arange(w, dtype=img.dtype, device=img.device) + 0.5) / 16 - 0.5
    gy = (torch.arange(h, dtype=img.dtype, device=img.device) + 0.5) / 16 - 0.5
    sx = _normalised(gx, gw).expand(h, w)
    sy = _normalised(gy, gh)[:, None].expand(h, w)
    sz = _normalised(guide * 8 - 0.5, gd)
    where = torch.stack([sx, sy, sz], dim=-1)[None, None]  # (1,1,H,W,3) = (x,y,z)
    coeff = F.grid_sample(vol, where, mode="bilinear", padding_mode="border",
                          align_corners=True)[0, :, 0].reshape(3, 4, h, w)
    return (torch.einsum("ckhw,hwk->hwc", coeff[:, :3], img)
            + coeff[:, 3].permute(1, 2, 0))


def w5(t):
    img, hom = t["inp"], t["H3"]
    h, w = img.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype, device=img.device),
                            torch.arange(w, dtype=img.dtype, device=img.device),
                            indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1)  # (H,W,3)
    uvw = pts @ hom.T
    sx, sy = uvw[..., 0] / uvw[..., 2], uvw[..., 1] / uvw[..., 2]
    where = torch.stack([_normalised(sx, w), _normalised(sy, h)], dim=-1)[None]
    return F.grid_sample(img[None, None], where, mode="bilinear", padding_mode="zeros",
                         align_corners=True)[0, 0]


def _lerp_index(t, n):
    """(i0, a): i0 = clamp(floor(t), 0, n-2) as int64, a = t - i0 (differentiable)."""
    i0 = torch.clamp(torch.floor(t.detach()), 0, n - 2)
    return i0.long(), t - i0


def w6(t):
    img, lut = t["inp"], t["lut"]
    i0, a = _lerp_index(img * 255, 256)
    out = lut[i0] * (1 - a) + lut[i0 + 1] * a
    b0, f = _lerp_index(out * 63, 64)
    b0, f = b0.reshape(-1), f.reshape(-1)
    hist = torch.zeros(64, dtype=out.dtype, device=out.device)
    hist = hist.index_add(0, b0, 1 - f).index_add(0, b0 + 1, f)
    return out, hist


def _tent(coord, n):
    """[(index, weight)] x2 of linear interpolation, indices clamped to [0, n-1]."""
    lo = torch.floor(coord.detach())
    frac = coord - lo
    lo = lo.long()
    return [(lo.clamp(0, n - 1), 1 - frac), ((lo + 1).clamp(0, n - 1), frac)]


def _blur5_zero(g, dim):
    n = g.shape[dim]
    pad = [0, 0] * g.dim()
    pad[2 * (g.dim() - 1 - dim)] = pad[2 * (g.dim() - 1 - dim) + 1] = 2
    p = F.pad(g, pad)
    return sum(p.narrow(dim, j, n) * TAPS5[j] for j in range(5))


def _w7_corners(img):
    h, w = img.shape
    ar = lambda n: torch.arange(n, dtype=img.dtype, device=img.device) / 8.0  # noqa: E731
    ys, xs, zs = _tent(ar(h), h // 8), _tent(ar(w), w // 8), _tent(img * 15, 16)
    for cy, wy in ys:
        for cx, wx in xs:
            for cz, wz in zs:
                flat = ((cy[:, None] * (w // 8) + cx[None, :]) * 16 + cz).reshape(-1)
                yield flat, (wy[:, None] * wx[None, :] * wz).reshape(-1)


def w7(t):
    img = t["inp"]
    h, w = img.shape
    shape = (2, h // 8, w // 8, 16)
    grid = torch.zeros(2, shape[1] * shape[2] * 16, dtype=img.dtype, device=img.device)
    values = torch.stack([img.reshape(-1), torch.ones_like(img.reshape(-1))])
    corners = list(_w7_corners(img))
    for flat, wt in corners:
        grid = grid.index_add(1, flat, values * wt)
    grid = grid.reshape(shape)
    for dim in (1, 2, 3):
        grid = _blur5_zero(grid, dim)
    grid = grid.reshape(2, -1)
    sliced = sum(grid[:, flat] * wt for flat, wt in corners)
    return (sliced[0] / sliced[1]).reshape(h, w)


FORWARDS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7}


def _loss(t, result):
    """L = sum((out - target)^2) (+ W6 histogram term), as in numpy_ref.loss."""
    out = result[0] if isinstance(result, tuple) else result
    total = torch.sum((out - t["target"]) ** 2)
    if isinstance(result, tuple):
        total = total + torch.sum((result[1] / out.numel() - t["hist_target"]) ** 2)
    return total


def _numpy(result):
    if isinstance(result, tuple):
        return tuple(r.detach().numpy() for r in result)
    return result.detach().numpy()


def _builder(forward, grad_names):
    def build(example_inputs):
        def fwd(inputs):
            with torch.no_grad():
                return _numpy(forward({k: torch.from_numpy(v) for k, v in inputs.items()}))

        def grad(inputs):
            t = {k: torch.from_numpy(v).requires_grad_(k in grad_names)
                 for k, v in inputs.items()}
            loss = _loss(t, forward(t))
            loss.backward()
            return loss.item(), {n: t[n].grad.numpy() for n in grad_names}

        return fwd, grad

    return build


BUILDERS = {name: _builder(f, WORKLOADS[name].grad_names) for name, f in FORWARDS.items()}
