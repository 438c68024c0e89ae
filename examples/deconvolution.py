"""Recover a sharp photograph from a blurred, noisy copy with a known kernel.

Gradient descent (Adam) on the image x minimises
    E(x) = mean((k * x - b)^2) + weight * mean(sqrt(dx^2 + dy^2 + eps^2)),
a data term and a gradient-domain (smoothed total variation) prior; dE/dx comes from one
compiled propagate_adjoints pipeline. The prior weight is a Param tuned on another
photograph (camera, whose sharp version is known) by a coarse-to-fine search over
log(weight), each candidate scored by the PSNR of its reconstruction, then used on the
test photograph (astronaut). Metric: PSNR gain of the reconstruction over the blurred
input on the test photograph (goal > 1 dB).

    python examples/deconvolution.py [--quick] [--size N] [--steps N]
"""

import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

K, NOISE, EPS = 5, 0.01, 1e-3
GOAL = 1.0  # dB


def blur_kernel() -> np.ndarray:
    """A 5x5 Gaussian (sigma 1.2), summing to 1."""
    t = np.arange(K) - K // 2
    g = np.exp(-t**2 / (2 * 1.2**2))
    return (np.outer(g, g) / np.outer(g, g).sum()).astype(np.float32)


def numpy_blur(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Edge-padded correlation with k (the forward model's oracle)."""
    p = np.pad(img, K // 2, mode="edge")
    h, w = img.shape
    return sum(p[i:i + h, j:j + w] * k[i, j] for i in range(K) for j in range(K))


def build():
    """fn(x=, b=, k=, weight=) -> (E, dE/dx)."""
    y, xv = hg.Var("y"), hg.Var("x")
    x = hg.ImageParam(hg.Float(32), 2, "x")
    b = hg.ImageParam(hg.Float(32), 2, "b")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    weight = hg.Param(hg.Float(32), "weight", 0.01)
    xc = hg.BoundaryConditions.repeat_edge(x)
    r = hg.RDom([(0, K), (0, K)], name="r")
    blur = hg.Func("blur")
    blur[y, xv] = hg.sum(xc[y + r[0] - K // 2, xv + r[1] - K // 2] * k[r[0], r[1]])
    prior = hg.Func("prior")
    dy, dx = xc[y + 1, xv] - xc[y, xv], xc[y, xv + 1] - xc[y, xv]
    prior[y, xv] = hg.sqrt(dx * dx + dy * dy + EPS * EPS)
    data = common.mean_squared_error(blur, b, b)
    pixels = hg.RDom(b, name="all")
    energy = hg.Func("energy")
    energy[()] = data[()] + weight * hg.sum(prior[pixels[0], pixels[1]]) / hg.f32(
        b.height() * b.width())
    return hg.Pipeline([energy, hg.propagate_adjoints(energy)[x]]).compile()


def degrade(img: np.ndarray, seed: int) -> np.ndarray:
    """The blurred, noisy observation b = k * img + N(0, NOISE^2)."""
    noise = np.random.default_rng(seed).normal(0.0, NOISE, img.shape)
    return (numpy_blur(img, blur_kernel()) + noise).astype(np.float32)


def deconvolve(fn, b: np.ndarray, weight: float, steps: int, lr: float = 0.01):
    """Adam on x from x = b. Returns (x, energies)."""
    adam = common.Adam(lr, steps, decay=0.1)
    state = {"x": b.astype(np.float64)}

    def step(i: int) -> float:
        energy, grad = fn(x=state["x"].astype(np.float32), b=b, k=blur_kernel(), weight=weight)
        state.update(adam.step(state, {"x": grad}))
        return float(energy)

    energies = common.optimise(step, steps, f"deconvolve (weight {weight:.2e})")
    return state["x"].astype(np.float32), energies


def tune_weight(fn, sharp: np.ndarray, steps: int, rounds: int = 2) -> float:
    """The prior weight maximising the reconstruction PSNR of `sharp` (the training
    photograph): 5 candidates a decade apart, then 5 around the best, a quarter decade
    apart."""
    b = degrade(sharp, seed=1)
    centre, spacing = -3.0, 1.0
    for _ in range(rounds):
        candidates = centre + spacing * np.arange(-2, 3)
        scores = [common.psnr(deconvolve(fn, b, 10**c, steps)[0], sharp) for c in candidates]
        centre, spacing = candidates[int(np.argmax(scores))], spacing / 4
    return float(10**centre)


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 256, 200, 64, 60, argv=argv)
    fn = build()
    weight = tune_weight(fn, common.load_image("camera", args.size), args.steps)
    print(f"prior weight tuned on camera: {weight:.3e}")
    sharp = common.load_image("astronaut", args.size)
    b = degrade(sharp, seed=2)
    x, energies = deconvolve(fn, b, weight, args.steps)
    gain = common.psnr(x, sharp) - common.psnr(b, sharp)
    print(f"PSNR blurred {common.psnr(b, sharp):.2f} dB -> deconvolved {common.psnr(x, sharp):.2f} dB")
    common.save_figure(args.out / "deconvolution.png",
                       {"blurred + noise": b, "deconvolved": x, "sharp": sharp}, energies,
                       "energy")
    common.report("PSNR gain (dB)", gain, f"> {GOAL:g}", gain > GOAL, started)
    return gain


if __name__ == "__main__":
    main()
