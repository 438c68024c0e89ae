"""Burst photography as an inverse problem: the latent image and the homographies together.

N raw frames are made from a latent photograph by small homographies (sub-pixel shifts,
a fraction of a degree of rotation, bicubic resampling by SciPy), an RGGB Bayer CFA and
Gaussian noise. With no training data, Adam (NumPy) minimises
    E(latent, H_1..H_N-1) = mean_n,y,x (CFA(warp(latent, H_n)) - frame_n)^2
                           + weight * mean sqrt(|grad latent|^2 + eps^2),
the warp bilinear, H_0 = identity (the reference frame), every gradient from one compiled
propagate_adjoints pipeline. Starts from bilinear demosaicking of the reference frame and
identity homographies. Metric: PSNR gain over that single-frame demosaicking (goal > 1 dB).

    python examples/burst.py [--quick] [--size N] [--steps N] [--frames N]
"""

import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 1.0  # dB
NOISE, EPS, WEIGHT, MARGIN = 0.02, 1e-2, 2e-3, 4


def warp_coords(h, ys, xs, rows, cols):
    """Where pixel (ys, xs) of a frame samples the latent image: H = I + h (h: 8 deltas,
    row-major, H[2, 2] = 1) on coordinates normalised to [-1, 1]. Works on halogrid
    Exprs and on NumPy arrays alike."""
    u, v = (xs + 0.5) * 2.0 / cols - 1.0, (ys + 0.5) * 2.0 / rows - 1.0
    w = h[6] * u + h[7] * v + 1.0
    uu = ((1.0 + h[0]) * u + h[1] * v + h[2]) / w
    vv = (h[3] * u + (1.0 + h[4]) * v + h[5]) / w
    return (vv + 1.0) * rows / 2.0 - 0.5, (uu + 1.0) * cols / 2.0 - 0.5


class _Clamped:
    """latent[y, x, c] with y and x clamped into the image: repeat_edge for the warp's
    data-dependent reads, written on the ImageParam so that its adjoint is one scatter."""

    def __init__(self, latent, size: int):
        self.latent, self.size = latent, size

    def __getitem__(self, key):
        y, x, c = key
        return self.latent[hg.clamp(y, 0, self.size - 1), hg.clamp(x, 0, self.size - 1), c]


def build(frames_count: int, size: int):
    """fn(latent=, frames=, homs=, weight=) -> (E, d latent, d homs) for frames
    (N, size, size), latent (size, size, 3), homs (N, 8)."""
    n, y, x, c = hg.Var("n"), hg.Var("y"), hg.Var("x"), hg.Var("c")
    latent = hg.ImageParam(hg.Float(32), 3, "latent")
    frames = hg.ImageParam(hg.Float(32), 3, "frames")
    homs = hg.ImageParam(hg.Float(32), 2, "homs")
    weight = hg.Param(hg.Float(32), "weight", WEIGHT)
    src = hg.BoundaryConditions.repeat_edge(latent)
    coords = hg.Func("coords")  # computed once: inlined, its adjoint would be huge
    coords[n, y, x] = warp_coords([homs[n, i] for i in range(8)], hg.f32(y), hg.f32(x),
                                  float(size), float(size))
    coords.compute_root()
    cfa = y % 2 + x % 2  # RGGB: R 0, G 1, B 2
    predicted = hg.Func("predicted")
    predicted[n, y, x] = common.bilinear(_Clamped(latent, size), coords[n, y, x][0],
                                         coords[n, y, x][1], cfa)
    predicted.compute_root()
    inner = hg.RDom([(0, frames_count), (MARGIN, size - 2 * MARGIN),
                     (MARGIN, size - 2 * MARGIN)], name="inner")
    data = hg.sum((predicted[inner[0], inner[1], inner[2]]
                   - frames[inner[0], inner[1], inner[2]]) ** 2)
    tv = hg.Func("tv")
    dy, dx = src[y + 1, x, c] - src[y, x, c], src[y, x + 1, c] - src[y, x, c]
    tv[y, x, c] = hg.sqrt(dy * dy + dx * dx + EPS * EPS)
    pixels = hg.RDom([(0, size), (0, size), (0, 3)], name="pixels")
    energy = hg.Func("energy")
    energy[()] = (data / float(frames_count * (size - 2 * MARGIN) ** 2)
                  + weight * hg.sum(tv[pixels[0], pixels[1], pixels[2]]) / float(3 * size**2))
    d = hg.propagate_adjoints(energy)
    return hg.Pipeline([energy, d[latent], d[homs]]).compile()


def make_burst(truth: np.ndarray, frames_count: int, seed: int):
    """(frames (N, H, W), true homography deltas (N, 8), frame 0 the identity)."""
    from scipy.ndimage import map_coordinates

    rng = np.random.default_rng(seed)
    size = truth.shape[0]
    homs = np.zeros((frames_count, 8))
    for i in range(1, frames_count):
        angle = np.deg2rad(rng.uniform(-0.7, 0.7))
        shift = rng.uniform(-1.5, 1.5, 2) * 2 / size  # up to 1.5 px
        homs[i, :6] = [np.cos(angle) - 1, -np.sin(angle), shift[0],
                       np.sin(angle), np.cos(angle) - 1, shift[1]]
        homs[i, 6:] = rng.uniform(-0.005, 0.005, 2)
    ys, xs = np.mgrid[:size, :size].astype(np.float64)
    frames = []
    for h in homs:
        sy, sx = warp_coords(h, ys, xs, size, size)
        warped = np.stack([map_coordinates(truth[..., ch], [sy, sx], order=3, mode="nearest")
                           for ch in range(3)], -1)
        frames.append(common.bayer_mosaic(warped) + rng.normal(0, NOISE, (size, size)))
    return np.array(frames, np.float32), homs


def reconstruct(fn, frames: np.ndarray, steps: int):
    """Adam on the latent image (from the reference frame's bilinear demosaicking) and on
    the homographies of frames 1.. (from the identity). Returns (latent, homs, energies)."""
    state = {"latent": common.bilinear_demosaick(frames[0]).astype(np.float64),
             "homs": np.zeros((len(frames), 8))}
    image_adam, warp_adam = common.Adam(5e-3, steps, decay=0.2), common.Adam(2e-3, steps, 0.1)

    def step(_: int) -> float:
        energy, d_latent, d_homs = fn(latent=state["latent"].astype(np.float32), frames=frames,
                                      homs=state["homs"].astype(np.float32))
        d_homs[0] = 0.0  # the reference frame defines the latent image's geometry
        state.update(image_adam.step({"latent": state["latent"]}, {"latent": d_latent}))
        state.update(warp_adam.step({"homs": state["homs"]}, {"homs": d_homs}))
        return float(energy)

    energies = common.optimise(step, steps, "burst reconstruction")
    return state["latent"].astype(np.float32), state["homs"], energies


def inner_psnr(img: np.ndarray, truth: np.ndarray) -> float:
    """PSNR away from the border the data term does not see."""
    cut = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    return common.psnr(img[cut], truth[cut])


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()

    def extra(parser):
        parser.add_argument("--frames", type=int, default=8, help="burst length (default 8)")

    args = common.parse_args(__doc__.splitlines()[0], 128, 150, 64, 80, extra, argv)
    truth = common.load_image("astronaut", args.size, gray=False)
    frames, true_homs = make_burst(truth, args.frames, seed=0)
    fn = build(args.frames, args.size)
    latent, homs, energies = reconstruct(fn, frames, args.steps)
    single = common.bilinear_demosaick(frames[0])
    before, after = inner_psnr(single, truth), inner_psnr(latent, truth)
    px = np.abs(homs[:, [2, 5]] - true_homs[:, [2, 5]]).max() * args.size / 2
    print(f"PSNR: single-frame bilinear {before:.2f} dB -> burst {after:.2f} dB; "
          f"largest translation error {px:.3f} px")
    common.save_figure(args.out / "burst.png",
                       {"reference frame (bilinear)": single, "burst reconstruction": latent,
                        "truth": truth}, energies, "energy")
    common.report("PSNR gain over single-frame demosaicking (dB)", after - before,
                  f"> {GOAL:g}", after - before > GOAL, started)
    return after - before


if __name__ == "__main__":
    main()
