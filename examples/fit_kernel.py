"""Learn a blur kernel from a photograph and its blurred copy by gradient descent.

Two modes: a full 5x5 kernel (default) or, with --separable, a 1x7 vertical and a 1x7
horizontal kernel applied one after the other. The loss and its gradients w.r.t. the
kernel(s) come from ONE compiled pipeline (hg.propagate_adjoints + hg.Pipeline); the
image, the target and the kernels are ImageParams, so every step reuses it.

The photograph is skimage's camera, as its detail layer (the image minus its Gaussian
blur): a raw photograph's neighbouring pixels are so correlated that the 25 taps are
badly conditioned (condition number ~1e5 at 64x64, ~100 for the detail layer).
First the 4x4 seed check: d(sum(conv))/dk for a zero-padded 3x3 convolution.

    python examples/fit_kernel.py [--separable] [--quick] [--size N] [--steps N]
"""

import functools
import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

K = 5  # the full kernel's size
KS = 7  # the separable kernels' length
GOAL = 1e-3  # relative kernel error

# A 4x4 input whose zero-padded 3x3 convolution has d(sum(conv))/dk equal to SEED_GRAD.
# dk[i, j] is the sum of the input over rows i-1..i+2 and columns j-1..j+2 (clipped to
# the image), so inclusion-exclusion forces the corners (1, 2, 3, 3), the border rows'
# and columns' sums (7, 9, 6, 10) and the centre's sum (4); the other entries are one
# choice among several.
SEED_INPUT = np.array([[1, 1, 3, 2], [1, 1, 1, 2], [1, 1, 1, 3], [3, 2, 1, 3]], np.float32)
SEED_GRAD = np.array([[11, 18, 15], [17, 27, 21], [12, 20, 15]], np.float32)


def seed_check() -> np.ndarray:
    """d(sum(conv(SEED_INPUT, k)))/dk from propagate_adjoints (k = 1: the gradient is
    independent of k); asserts it equals SEED_GRAD."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.Buffer(SEED_INPUT, name="seed_in")
    k = hg.Buffer(np.ones((3, 3), np.float32), name="seed_k")
    padded = hg.BoundaryConditions.constant_exterior(inp, 0.0)
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    conv = hg.Func("conv")
    conv[y, x] = hg.sum(padded[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]])
    pixels = hg.RDom([(0, 4), (0, 4)], name="pixels")
    total = hg.Func("total")
    total[()] = hg.sum(conv[pixels[0], pixels[1]])
    grad = hg.propagate_adjoints(total)[k].realize([3, 3])
    np.testing.assert_array_equal(grad, SEED_GRAD)
    return grad


def true_kernel(size: int = K) -> np.ndarray:
    """An anisotropic, slightly rotated Gaussian, normalised to sum 1."""
    r = size // 2
    i, j = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    u, v = 0.8 * i + 0.6 * j, -0.6 * i + 0.8 * j
    k = np.exp(-(u**2) / (2 * 1.4**2) - v**2 / (2 * 0.7**2))
    return (k / k.sum()).astype(np.float32)


def true_separable() -> tuple[np.ndarray, np.ndarray]:
    """A vertical Gaussian and a horizontal, slightly skewed kernel, each summing to 1."""
    t = np.arange(KS) - KS // 2
    kv = np.exp(-t**2 / (2 * 1.3**2))
    kh = np.exp(-(t - 0.4) ** 2 / (2 * 0.9**2))
    return (kv / kv.sum()).astype(np.float32), (kh / kh.sum()).astype(np.float32)


def detail_image(size: int) -> np.ndarray:
    """camera's detail layer at size x size: the photograph minus its Gaussian blur."""
    from scipy.ndimage import gaussian_filter

    img = common.load_image("camera", size).astype(np.float64)
    return (img - gaussian_filter(img, 1.5, mode="nearest")).astype(np.float32)


numpy_blur = common.correlate  # the oracle (edge padding, as repeat_edge)


@functools.cache  # compile each pipeline once per process
def build_loss_and_gradient(separable: bool = False):
    """The compiled callable: fn(inp=, target=, k=) -> (loss, dloss/dk) for the 5x5
    kernel, or fn(inp=, target=, kv=, kh=) -> (loss, dloss/dkv, dloss/dkh)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    target = hg.ImageParam(hg.Float(32), 2, "target")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    if not separable:
        k = hg.ImageParam(hg.Float(32), 2, "k")
        r = hg.RDom([(0, K), (0, K)], name="r")
        blur = hg.Func("blur")
        blur[y, x] = 0.0
        blur[y, x] += clamped[y + r[0] - K // 2, x + r[1] - K // 2] * k[r[0], r[1]]
        loss = common.mean_squared_error(blur, target, inp)
        return hg.Pipeline([loss, hg.propagate_adjoints(loss)[k]]).compile()
    kv, kh = hg.ImageParam(hg.Float(32), 1, "kv"), hg.ImageParam(hg.Float(32), 1, "kh")
    t = hg.RDom([(0, KS)], name="t")
    blur_y, blur_x = hg.Func("blur_y"), hg.Func("blur_x")
    blur_y[y, x] = hg.sum(clamped[y + t[0] - KS // 2, x] * kv[t[0]])
    blur_y.compute_root()
    # edge padding of the 2-D blur = blur_y (of the clamped image) read at clamped x
    blur_x[y, x] = hg.sum(blur_y[y, hg.clamp(x + t[0] - KS // 2, 0, inp.width() - 1)]
                          * kh[t[0]])
    loss = common.mean_squared_error(blur_x, target, inp)
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, d[kv], d[kh]]).compile()


def relative_error(kernel: np.ndarray, k_true: np.ndarray) -> float:
    """||kernel - k_true|| / ||k_true|| (Frobenius), in float64."""
    diff = np.asarray(kernel, np.float64) - k_true
    return float(np.linalg.norm(diff) / np.linalg.norm(k_true))


def fit(steps: int = 300, lr: float = 0.1, size: int = 64, separable: bool = False,
        verbose: bool = True):
    """Adam on the kernel(s) from a box blur start, the learning rate decayed 100x over
    the run. Returns (learned kernel, true kernel, losses); in separable mode the
    kernels are their outer product (7x7)."""
    img = detail_image(size)
    fn = build_loss_and_gradient(separable)
    if separable:
        kv_true, kh_true = true_separable()
        k_true = np.outer(kv_true, kh_true)
        params = {"kv": np.full(KS, 1.0 / KS), "kh": np.full(KS, 1.0 / KS)}
    else:
        k_true = true_kernel()
        params = {"k": np.full((K, K), 1.0 / (K * K))}
    target = numpy_blur(img, k_true).astype(np.float32)
    adam = common.Adam(lr, steps, decay=0.01)

    def step(i: int) -> float:
        nonlocal params
        values = {n: v.astype(np.float32) for n, v in params.items()}
        loss, *grads = fn(inp=img, target=target, **values)
        params = adam.step(params, dict(zip(values, grads)))
        return float(loss)

    losses = common.optimise(step, steps, "fit " + ("1x7 pair" if separable else "5x5 kernel"))
    kernel = np.outer(params["kv"], params["kh"]) if separable else params["k"]
    if verbose:
        print(f"loss {losses[0]:.3e} -> {losses[-1]:.3e}")
    return kernel.astype(np.float32), k_true.astype(np.float32), losses


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 128, 400, 48, 300, argv=argv,
                             extra=lambda p: p.add_argument("--separable", action="store_true"))
    print("seed check d(sum(conv))/dk:", seed_check().astype(int).tolist())
    img = detail_image(args.size)
    kernel, k_true, losses = fit(args.steps, size=args.size, separable=args.separable)
    err = relative_error(kernel, k_true)
    name = "separable" if args.separable else "kernel"
    blurred = numpy_blur(img, kernel)
    target = numpy_blur(img, k_true)
    shift = lambda a: a + 0.5  # the detail layer is centred on 0
    common.save_figure(args.out / f"fit_kernel_{name}.png",
                       {"input (detail layer)": shift(img), "learned blur": shift(blurred),
                        "target": shift(target), "learned kernel": kernel / kernel.max(),
                        "true kernel": k_true / k_true.max()}, losses, "loss (MSE)")
    common.report("relative kernel error", err, f"< {GOAL:g}", err < GOAL, started)
    return err


if __name__ == "__main__":
    main()
