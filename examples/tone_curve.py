"""Learn a tone curve that gives one photograph the histogram of another.

The curve is 256 values (an ImageParam) interpolated linearly: a pixel v in [0, 1] maps
to lerp(curve[i], curve[i + 1], 255 v - i). The image's 64-bin soft histogram spreads
each mapped pixel over its two nearest bins with tent weights, so it is differentiable
in the curve. The loss is the squared distance to the target photograph's soft
histogram plus a smoothness term (squared second differences of the curve); Adam on the
curve, the gradient from one compiled propagate_adjoints pipeline.
Metric: the histogram distance falls 10x from the identity curve.

    python examples/tone_curve.py [--quick] [--size N] [--steps N]
"""

import functools
import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

BINS, ENTRIES = 64, 256
GOAL = 10.0  # histogram distance reduction
SMOOTHNESS = 0.1


def apply_curve(img, curve) -> hg.Func:
    """mapped[y, x] = curve interpolated linearly at 255 * img[y, x]."""
    y, x = hg.Var("y"), hg.Var("x")
    t = hg.clamp(img[y, x], 0.0, 1.0) * (ENTRIES - 1)
    i = hg.clamp(hg.i32(hg.floor(t)), 0, ENTRIES - 2)
    a = t - hg.f32(i)
    mapped = hg.Func("mapped")
    mapped[y, x] = curve[i] * (1 - a) + curve[i + 1] * a
    return mapped


def soft_histogram(mapped: hg.Func, like: hg.ImageParam) -> hg.Func:
    """hist[b] = mean over pixels of max(0, 1 - |63 * mapped - b|): tent-weighted bins
    (each pixel in [0, 1] adds 1 in all, shared by its two nearest bins)."""
    b = hg.Var("b")
    r = hg.RDom(like, name="pixels")
    n = hg.f32(like.height() * like.width())
    hist = hg.Func("hist")
    hist[b] = 0.0
    hist[b] += hg.max(0.0, 1.0 - hg.abs(mapped[r[0], r[1]] * (BINS - 1) - hg.f32(b))) / n
    return hist


def numpy_soft_histogram(values: np.ndarray) -> np.ndarray:
    """The oracle: the same tent-weighted 64-bin histogram in float64."""
    p = np.asarray(values, np.float64).ravel()[:, None] * (BINS - 1)
    return np.maximum(0.0, 1.0 - np.abs(p - np.arange(BINS))).mean(axis=0)


@functools.cache  # compile each pipeline once per process
def build():
    """fn(img=, curve=, target_hist=, smoothness=) -> (loss, distance, hist, mapped,
    d curve); call with shapes=SHAPES(img)."""
    img = hg.ImageParam(hg.Float(32), 2, "img")
    curve = hg.ImageParam(hg.Float(32), 1, "curve")
    target_hist = hg.ImageParam(hg.Float(32), 1, "target_hist")
    weight = hg.Param(hg.Float(32), "smoothness", SMOOTHNESS)
    mapped = apply_curve(img, curve).compute_root()
    hist = soft_histogram(mapped, img)
    bins, inner = hg.RDom([(0, BINS)], name="bins"), hg.RDom([(1, ENTRIES - 2)], name="inner")
    distance = hg.Func("distance")
    distance[()] = hg.sum((hist[bins[0]] - target_hist[bins[0]]) ** 2)
    i = inner[0]
    loss = hg.Func("loss")
    loss[()] = distance[()] + weight * hg.sum(
        (curve[i + 1] - 2 * curve[i] + curve[i - 1]) ** 2)
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, distance, hist, mapped, d[curve]]).compile()


def shapes(img: np.ndarray) -> list[tuple]:
    return [(), (), (BINS,), img.shape, (ENTRIES,)]


def fit(size: int, steps: int, lr: float = 0.03):
    """Adam on the curve from the identity. Returns (image, target image, curve,
    mapped image, losses, distances)."""
    img = common.load_image("camera", size)
    target_img = common.load_image("coffee", size)
    target_hist = numpy_soft_histogram(target_img).astype(np.float32)
    fn = build()
    adam = common.Adam(lr, steps, decay=0.1)
    state = {"curve": np.linspace(0.0, 1.0, ENTRIES)}
    distances = []

    def step(i: int) -> float:
        loss, distance, _, _, grad = fn(img=img, curve=state["curve"].astype(np.float32),
                                        target_hist=target_hist, shapes=shapes(img))
        distances.append(float(distance))
        state.update(adam.step(state, {"curve": grad}))
        return float(loss)

    losses = common.optimise(step, steps, "tone curve")
    curve = state["curve"].astype(np.float32)
    _, distance, _, mapped, _ = fn(img=img, curve=curve, target_hist=target_hist,
                                   shapes=shapes(img))
    distances.append(float(distance))
    return img, target_img, curve, mapped, losses, distances


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 256, 300, 64, 150, argv=argv)
    img, target_img, curve, mapped, losses, distances = fit(args.size, args.steps)
    reduction = distances[0] / distances[-1]
    print(f"histogram distance {distances[0]:.3e} -> {distances[-1]:.3e}")
    hists = {"input": numpy_soft_histogram(img), "result": numpy_soft_histogram(mapped),
             "target": numpy_soft_histogram(target_img)}
    common.save_figure(args.out / "tone_curve.png",
                       {"input (camera)": img, "result": mapped,
                        "target histogram (coffee)": target_img}, losses, "loss",
                       {"tone curve": {"learned": curve, "identity": np.linspace(0, 1, ENTRIES)},
                        "soft histograms (64 bins)": hists})
    common.report("histogram distance reduction", reduction, f">= {GOAL:g}x",
                  reduction >= GOAL, started)
    return reduction


if __name__ == "__main__":
    main()
