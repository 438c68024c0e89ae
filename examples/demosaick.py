"""Learned demosaicking: an AHD-style choice among 8 learned 5x5 filters by local gradients.

Each of the 8 filter sets holds a 5x5 kernel per Bayer phase (2x2) and output colour. A
pixel's 8 directional gradient energies (|difference| across offsets at 8 angles,
summed over a 3x3 window, normalised) pick the filters softly:
    rgb = sum_k softmax_k(-beta * energy_k) * (filter_k * mosaic),
the smoother direction winning, as AHD picks the less textured interpolation. The
filters and beta are trained by Adam (NumPy) on the MSE over training photographs, the
gradients coming from one compiled propagate_adjoints pipeline; all filters start as
bilinear demosaicking. Metric: PSNR gain over bilinear on held-out photographs
(goal >= 2 dB).

    python examples/demosaick.py [--quick] [--size N] [--steps N]
"""

import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 2.0  # dB
K, TAPS = 8, 5
OFFSETS = np.array([[0, 2], [1, 2], [2, 2], [2, 1], [2, 0], [2, -1], [2, -2], [1, -2]], np.int32)
TRAIN, TEST = ["astronaut", "rocket", "hubble_deep_field"], ["chelsea", "coffee"]


def bayer_colour(y, x):
    """The RGGB colour (0 R, 1 G, 2 B) sampled at (y, x) (ints or arrays)."""
    return np.where((y % 2 == 0) & (x % 2 == 0), 0, np.where((y % 2 == 1) & (x % 2 == 1), 2, 1))


def bilinear_weights() -> np.ndarray:
    """(K, 2, 2, 3, 5, 5) filters equal to bilinear demosaicking: the 3x3 interpolation
    kernel of each colour restricted to the neighbours of that colour."""
    rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4.0
    g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4.0
    w = np.zeros((2, 2, 3, TAPS, TAPS))
    for py, px, c, i, j in np.ndindex(2, 2, 3, 3, 3):
        if bayer_colour(py + i - 1, px + j - 1) == c:
            w[py, px, c, i + 1, j + 1] = (g if c == 1 else rb)[i, j]
    return np.broadcast_to(w, (K,) + w.shape).astype(np.float32).copy()


def build():
    """fn(mosaic=, w=, beta=, truth=, shapes=) -> (loss, d w, d beta, rgb). rgb and truth
    are (H/2, W/2, 2, 2, 3): half-resolution pixel, Bayer phase, colour."""
    yy, xx, py, px, c, k = (hg.Var(n) for n in ("Y", "X", "py", "px", "c", "k"))
    mosaic = hg.ImageParam(hg.Float(32), 2, "mosaic")
    w = hg.ImageParam(hg.Float(32), 6, "w")
    truth = hg.ImageParam(hg.Float(32), 5, "truth")
    beta = hg.Param(hg.Float(32), "beta", 1.0)
    m = hg.BoundaryConditions.mirror_interior(mosaic)  # keeps the Bayer parity at the edges
    offsets = hg.Buffer(OFFSETS, name="offsets")
    y, x = hg.Var("y"), hg.Var("x")
    win = hg.RDom([(-1, 3), (-1, 3)], name="win")
    energy = hg.Func("energy")
    oy, ox = offsets[k, 0], offsets[k, 1]
    energy[k, y, x] = hg.sum(hg.abs(m[y + win[0] + oy, x + win[1] + ox]
                                    - m[y + win[0] - oy, x + win[1] - ox]))
    ks = hg.RDom([(0, K)], name="ks")
    total = hg.Func("total")
    total[y, x] = hg.sum(energy[ks[0], y, x]) + 1e-3
    select_w = hg.Func("select_w")
    select_w[k, y, x] = hg.exp(-beta * K * energy[k, y, x] / total[y, x])
    norm = hg.Func("norm")
    norm[y, x] = hg.sum(select_w[ks[0], y, x])
    taps = hg.RDom([(0, K), (0, TAPS), (0, TAPS)], name="taps")
    fy, fx = 2 * yy + py, 2 * xx + px
    rgb = hg.Func("rgb")
    rgb[yy, xx, py, px, c] = hg.sum(
        select_w[taps[0], fy, fx] * m[fy + taps[1] - 2, fx + taps[2] - 2]
        * w[taps[0], py, px, c, taps[1], taps[2]]) / norm[fy, fx]
    px5 = hg.RDom(truth, name="px5")
    at = tuple(px5[i] for i in range(5))
    loss = hg.Func("loss")
    loss[()] = hg.sum((rgb[at] - truth[at]) ** 2) / hg.f32(mosaic.height() * mosaic.width() * 3)
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, d[w], d[beta], rgb]).compile()


def to_phases(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H/2, W/2, 2, 2, 3)."""
    h, w, _ = rgb.shape
    return np.ascontiguousarray(rgb.reshape(h // 2, 2, w // 2, 2, 3).transpose(0, 2, 1, 3, 4))


def from_phases(p: np.ndarray) -> np.ndarray:
    """The inverse of to_phases."""
    h2, w2 = p.shape[:2]
    return np.ascontiguousarray(p.transpose(0, 2, 1, 3, 4).reshape(2 * h2, 2 * w2, 3))


class Demosaicker:
    """The compiled pipeline with its images: run(params, i) -> (loss, grads, rgb)."""

    def __init__(self, fn, names: list[str], size: int):
        self.fn = fn
        self.truths = [common.load_image(n, size, gray=False) for n in names]
        self.mosaics = [common.bayer_mosaic(t) for t in self.truths]

    def run(self, params: dict, i: int):
        t = to_phases(self.truths[i])
        loss, dw, dbeta, rgb = self.fn(mosaic=self.mosaics[i], truth=t,
                                       w=params["w"].astype(np.float32), beta=params["beta"],
                                       shapes=[(), params["w"].shape, (), t.shape])
        return float(loss), {"w": dw, "beta": float(dbeta)}, from_phases(rgb)

    def gain(self, params: dict) -> tuple[float, float]:
        """Mean PSNR of the learned and of bilinear demosaicking over the images."""
        learned = [common.psnr(self.run(params, i)[2], t) for i, t in enumerate(self.truths)]
        bilinear = [common.psnr(common.bilinear_demosaick(m), t)
                    for m, t in zip(self.mosaics, self.truths)]
        return float(np.mean(learned)), float(np.mean(bilinear))


def train(model: Demosaicker, steps: int) -> tuple[dict, list[float]]:
    """Adam on the filters and beta over all training images (their mean loss)."""
    params = {"w": bilinear_weights().astype(np.float64), "beta": 1.0}
    adam = common.Adam(3e-2, steps, decay=0.1)

    def step(_: int) -> float:
        runs = [model.run(params, i) for i in range(len(model.truths))]
        grads = {name: np.mean([g[name] for _, g, _ in runs], axis=0) for name in params}
        params.update(adam.step(params, grads))
        return float(np.mean([loss for loss, _, _ in runs]))

    return params, common.optimise(step, steps, "train demosaicking filters")


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 128, 200, 48, 120, argv=argv)
    fn = build()
    params, losses = train(Demosaicker(fn, TRAIN, args.size), args.steps)
    test = Demosaicker(fn, TEST, args.size)
    learned, bilinear = test.gain(params)
    print(f"test PSNR: bilinear {bilinear:.2f} dB -> learned {learned:.2f} dB "
          f"(beta {params['beta']:.2f})")
    truth = test.truths[0]
    common.save_figure(args.out / "demosaick.png",
                       {"mosaic": test.mosaics[0],
                        "bilinear": common.bilinear_demosaick(test.mosaics[0]),
                        "learned": test.run(params, 0)[2], "truth": truth}, losses, "train MSE")
    common.report("test PSNR gain over bilinear (dB)", learned - bilinear, f">= {GOAL:g}",
                  learned - bilinear >= GOAL, started)
    return learned - bilinear


if __name__ == "__main__":
    main()
