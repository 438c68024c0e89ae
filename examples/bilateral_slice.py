"""HDRNet's bilateral slice-apply as a PyTorch operator written in halogrid.

A bilateral grid (GH, GW, GD, 12) holds a 3x4 affine colour transform per cell; each
pixel (y, x) of the image reads it trilinearly at (y, x, its luminance) and applies it:
    out[y, x, c] = sum_j A[c, j] * img[y, x, j] + A[c, 3].
The op comes from hg.torch.to_autograd (forward and backward compiled from
propagate_adjoints). A tiny CNN predicts the grid from a low-resolution copy of the
photograph and is trained (torch Adam) so that the sliced result reproduces a local
tone-mapping (base/detail decomposition in log luminance) of the photograph.
Metric: PSNR gain of the output over the input, both against the target (goal >= 10 dB).
benchmarks/bilateral_slice_torch.py times the op against grid_sample on a 5-D grid.

    python examples/bilateral_slice.py [--quick] [--size N] [--steps N]
"""

import time

import numpy as np
import torch

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 10.0  # dB
GRID = (8, 8, 8)  # GH, GW, GD
LUMA = (0.299, 0.587, 0.114)


def slice_apply_funcs(img: hg.ImageParam, grid: hg.ImageParam):
    """(out, coef, [layer0, layer1], rows): out[y, x, c] of img[y, x, 3] and
    grid[gy, gx, gz, 12], the grid read trilinearly at cell coordinates
    ((y + 0.5) GH / H - 0.5, (x + 0.5) GW / W - 0.5, luma GD - 0.5), neighbour indices
    clamped to the grid (grid_sample's border padding).

    Written for a cheap backward: luma is a Func (its adjoint is one value per pixel,
    not one per colour channel that reads it), coef[y, x, c, j] is the 3x4 matrix (its
    adjoint one gather, not one per 4 c + j it is read at), and the affine is a sum
    over the homogeneous colour (r, g, b, 1) (one adjoint of img's reads, not three).
    The trilinear read is separable: rows[y, gx, gz, k] is the grid read linearly in y
    (one row of cells per image row, 6 MB at 1 MP: each pixel then gathers 2 cells per
    depth, not 4, and its adjoint scatters into its own row's slice, in L1), two layers
    read it linearly in x at the depth cells z0 and z0 + 1, and the depth fraction mixes
    them (luma's adjoint: their difference)."""
    y, x, c, j = hg.Var("y"), hg.Var("x"), hg.Var("c"), hg.Var("j")
    luma = hg.Func("luma")
    luma[y, x] = sum(w * img[y, x, i] for i, w in enumerate(LUMA))
    coords = [(hg.f32(y) + 0.5) * hg.f32(grid.dim_extent(0)) / hg.f32(img.dim_extent(0)) - 0.5,
              (hg.f32(x) + 0.5) * hg.f32(grid.dim_extent(1)) / hg.f32(img.dim_extent(1)) - 0.5,
              luma[y, x] * hg.f32(grid.dim_extent(2)) - 0.5]
    lows = [hg.floor(t) for t in coords]
    fracs = [t - lo for t, lo in zip(coords, lows)]

    def cell(a, d):  # the neighbour cell lo + d along grid axis a, clamped
        return hg.clamp(hg.i32(lows[a]) + d, 0, grid.dim_extent(a) - 1)

    gx, gz, k = hg.Var("gx"), hg.Var("gz"), hg.Var("k")
    rows = hg.Func("rows")  # the grid read linearly in y: one row of cells per image row
    rows[y, gx, gz, k] = ((1.0 - fracs[0]) * grid[cell(0, 0), gx, gz, k]
                          + fracs[0] * grid[cell(0, 1), gx, gz, k])
    layers = []
    for dz in (0, 1):  # the grid read bilinearly in (y, x) at depth cell z0 + dz
        layer = hg.Func(f"layer{dz}")
        layer[y, x, c, j] = ((1.0 - fracs[1]) * rows[y, cell(1, 0), cell(2, dz), 4 * c + j]
                             + fracs[1] * rows[y, cell(1, 1), cell(2, dz), 4 * c + j])
        layers.append(layer)
    coef = hg.Func("coef")
    coef[y, x, c, j] = (layers[0][y, x, c, j] * (1.0 - fracs[2])
                        + layers[1][y, x, c, j] * fracs[2])
    rgb1 = hg.Func("rgb1")
    rgb1[y, x, j] = hg.select(j < 3, img[y, x, hg.min(j, 2)], 1.0)
    r = hg.RDom([(0, 4)], "r")
    out = hg.Func("sliced")
    out[y, x, c] = 0.0
    out[y, x, c] += coef[y, x, c, r.x] * rgb1[y, x, r.x]
    return out, coef, layers, rows


def build():
    """The torch op slice_apply(img (H, W, 3), grid (GH, GW, GD, 12)) -> (H, W, 3).
    rows is stored (forward and backward); in the backward everything else per pixel is
    recomputed where it is read rather than stored: coef, the layers and the adjoints
    that are one product per value (coef's, the layers', the output's: the seed, zero
    outside its window); measured at 1 MP, storing coef or the layers (48 or 96 MB) cost
    more in memory traffic than their 2-4 gathers a value from rows. The rest is
    auto-scheduled: parallel loops, the 4 scatters into the adjoint of rows in one loop
    nest parallel over image rows (each writes its own row), the grid's 2 with private
    accumulators."""
    img = hg.ImageParam(hg.Float(32), 3, "img")
    grid = hg.ImageParam(hg.Float(32), 4, "grid")
    out, coef, layers, rows = slice_apply_funcs(img, grid)
    rows.compute_root()

    def schedule(backward, d):
        for f in [out, coef] + layers:
            d[f].compute_inline()
        for f in [coef] + layers:
            f.compute_inline()
        backward.auto_schedule()
    return hg.torch.to_autograd([out], inputs=[img, grid], name="bilateral_slice_apply",
                                backward_schedule=schedule)


def torch_slice_apply(img: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The same operator in PyTorch ops: grid_sample (trilinear, border padding,
    align_corners=False) on the grid as a 5-D (1, 12, GD, GH, GW) volume."""
    h, w, _ = img.shape
    luma = img @ torch.tensor(LUMA, dtype=img.dtype)
    ys = (torch.arange(h, dtype=img.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=img.dtype) + 0.5) / w * 2 - 1
    where = torch.stack([xs[None, :].expand(h, w), ys[:, None].expand(h, w), luma * 2 - 1], -1)
    volume = grid.permute(3, 2, 0, 1)[None]
    coef = torch.nn.functional.grid_sample(volume, where[None, None], mode="bilinear",
                                           padding_mode="border", align_corners=False)
    affine = coef[0, :, 0].permute(1, 2, 0).reshape(h, w, 3, 4)
    return (affine[..., :3] @ img[..., None])[..., 0] + affine[..., 3]


def identity_grid(shape=GRID) -> torch.Tensor:
    """A grid whose every cell is the identity colour transform."""
    return torch.eye(3, 4).reshape(12).expand(*shape, 12).contiguous()


def tone_map(rgb: np.ndarray) -> np.ndarray:
    """The target: a local tone-mapping. Log luminance split into a Gaussian base and
    the detail; the base compressed 0.4x and brightened, the detail boosted 1.6x; the
    colours scaled by the luminance ratio."""
    from scipy.ndimage import gaussian_filter

    log_l = np.log(rgb @ np.array(LUMA) + 1e-3)
    base = gaussian_filter(log_l, sigma=rgb.shape[0] / 24, mode="nearest")
    mapped = 0.4 * (base - base.mean()) + 1.6 * (log_l - base) + np.log(0.45)
    return np.clip(rgb * np.exp(mapped - log_l)[..., None], 0, 1).astype(np.float32)


class GridNet(torch.nn.Module):
    """A tiny CNN: a (3, 4 GH, 4 GW) thumbnail -> a (GH, GW, GD, 12) grid, starting at the
    identity transform (zero last layer)."""

    def __init__(self):
        super().__init__()
        gd = GRID[2]
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, 2, 1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 12 * gd, 1))
        torch.nn.init.zeros_(self.body[-1].weight)
        torch.nn.init.zeros_(self.body[-1].bias)

    def forward(self, thumb):
        gh, gw, gd = GRID
        out = self.body(thumb[None])[0].reshape(gd, 12, gh, gw).permute(2, 3, 0, 1)
        return (out + identity_grid()).contiguous()


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 256, 200, 64, 80, argv=argv)
    torch.manual_seed(0)
    op = build()
    rgb = common.load_image("coffee", args.size, gray=False)
    target = torch.from_numpy(tone_map(rgb))
    img = torch.from_numpy(rgb)
    thumb = torch.from_numpy(common.load_image("coffee", 4 * GRID[0], gray=False)).permute(2, 0, 1)
    net = GridNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def step(i: int) -> float:
        loss = torch.mean((op(img, net(thumb)) - target) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    losses = common.optimise(step, args.steps, "train slice grid")
    with torch.no_grad():
        out = op(img, net(thumb)).numpy()
    before, after = common.psnr(rgb, target.numpy()), common.psnr(out, target.numpy())
    print(f"PSNR to the tone-mapped target: input {before:.2f} dB -> sliced {after:.2f} dB")
    common.save_figure(args.out / "bilateral_slice.png",
                       {"input": rgb, "bilateral slice": out, "target": target.numpy()},
                       losses, "MSE")
    common.report("PSNR gain (dB)", after - before, f">= {GOAL:g}", after - before >= GOAL,
                  started)
    return after - before


if __name__ == "__main__":
    main()
