"""Recover the homography between a photograph and a warped copy by gradient descent.

The warp samples the image bilinearly (zero exterior) at H(x, y) for a 3x3 matrix H
(8 Params, H[2, 2] = 1) acting on normalised coordinates in [-1, 1], so one H means the
same warp at every level of an image pyramid. The pyramid (2x2 box downsampling) is built
in halogrid; the fit runs coarse to fine with Adam on H, the gradient of the mean squared
error w.r.t. the 8 Params coming from one compiled propagate_adjoints pipeline.
Metric: the mean distance of the four image corners mapped by the fitted and the true H,
in full-resolution pixels (goal < 0.5 px, from an identity start 10+ px off).

    python examples/homography.py [--quick] [--size N] [--steps N]
"""

import functools
import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 0.5  # px, mean corner error
TRUE_H = np.array([[1.12, 0.16, 0.15], [-0.11, 0.93, -0.13], [0.1, -0.08, 1.0]])
LEVELS = 3


def warp_func(img: hg.ImageParam, h: list[hg.Param]) -> hg.Func:
    """warp[y, x] = img (zero outside) at the pixel H maps (y, x) to, in normalised
    coordinates u = (x + 0.5) * 2 / width - 1 (same for v and y)."""
    y, x = hg.Var("y"), hg.Var("x")
    rows, cols = hg.f32(img.height()), hg.f32(img.width())
    u = (hg.f32(x) + 0.5) * 2.0 / cols - 1.0
    v = (hg.f32(y) + 0.5) * 2.0 / rows - 1.0
    w = h[6] * u + h[7] * v + 1.0
    uu = (h[0] * u + h[1] * v + h[2]) / w
    vv = (h[3] * u + h[4] * v + h[5]) / w
    src = hg.BoundaryConditions.constant_exterior(img, 0.0)
    warp = hg.Func("warp")
    warp[y, x] = common.bilinear(src, (vv + 1.0) * rows / 2.0 - 0.5,
                                 (uu + 1.0) * cols / 2.0 - 0.5)
    return warp


@functools.cache  # compile each pipeline once per process
def build():
    """(warp_fn(img=, h0..h7=), loss_fn(img=, target=, h0..h7=) -> (loss, d h0..d h7),
    down_fn(img=, shapes=[(h // 2, w // 2)]))."""
    img = hg.ImageParam(hg.Float(32), 2, "img")
    target = hg.ImageParam(hg.Float(32), 2, "target")
    h = [hg.Param(hg.Float(32), f"h{i}", 0.0) for i in range(8)]
    warp = warp_func(img, h)
    loss = common.mean_squared_error(warp, target, target)
    d = hg.propagate_adjoints(loss)
    y, x = hg.Var("y"), hg.Var("x")
    c = hg.BoundaryConditions.repeat_edge(img)
    down = hg.Func("down")
    down[y, x] = (c[2 * y, 2 * x] + c[2 * y, 2 * x + 1] + c[2 * y + 1, 2 * x]
                  + c[2 * y + 1, 2 * x + 1]) * 0.25
    return (hg.Pipeline(warp).compile(), hg.Pipeline([loss] + [d[p] for p in h]).compile(),
            hg.Pipeline(down).compile())


def params(H: np.ndarray) -> dict[str, float]:
    """The 8 Params of H (normalised so that H[2, 2] = 1)."""
    flat = (np.asarray(H, np.float64) / H[2, 2]).ravel()[:8]
    return {f"h{i}": float(v) for i, v in enumerate(flat)}


def corner_error(H: np.ndarray, H_true: np.ndarray, size: int) -> float:
    """Mean distance (pixels at size x size) between the image corners mapped by H and
    by H_true."""
    corners = np.array([[-1, -1, 1], [1, -1, 1], [-1, 1, 1], [1, 1, 1]], np.float64).T

    def mapped(M):
        p = M @ corners
        return p[:2] / p[2] * size / 2

    return float(np.linalg.norm(mapped(H) - mapped(H_true), axis=0).mean())


def pyramid(down_fn, img: np.ndarray, levels: int) -> list[np.ndarray]:
    """[img, img / 2, img / 4, ...] (levels of them), each a 2x2 box downsampling."""
    out = [img]
    for _ in range(levels - 1):
        a = out[-1]
        out.append(down_fn(img=a, shapes=[(a.shape[0] // 2, a.shape[1] // 2)]))
    return out


def fit(size: int, steps: int, lr: float = 0.01):
    """Coarse to fine: `steps` Adam steps per level from the identity. Returns
    (image, target, fitted H, losses, warps at the start of each level and the end)."""
    img = common.load_image("astronaut", size)
    warp_fn, loss_fn, down_fn = build()
    target = warp_fn(img=img, **params(TRUE_H))
    images, targets = pyramid(down_fn, img, LEVELS), pyramid(down_fn, target, LEVELS)
    h = {k: np.float64(v) for k, v in params(np.eye(3)).items()}
    losses, snapshots = [], []
    for level in reversed(range(LEVELS)):
        snapshots.append(warp_fn(img=img, **h))
        adam = common.Adam(lr)

        def step(i: int) -> float:
            nonlocal h
            loss, *grads = loss_fn(img=images[level], target=targets[level], **h)
            h = adam.step(h, dict(zip(h, grads)))
            return float(loss)

        losses += common.optimise(step, steps, f"level {level} ({images[level].shape[0]} px)")
    snapshots.append(warp_fn(img=img, **h))
    H = np.append([h[f"h{i}"] for i in range(8)], 1.0).reshape(3, 3)
    return img, target, H, losses, snapshots


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 256, 150, 96, 60, argv=argv)
    start_err = corner_error(np.eye(3), TRUE_H, args.size)
    print(f"start: mean corner error {start_err:.1f} px at {args.size}x{args.size}")
    img, target, H, losses, snapshots = fit(args.size, args.steps)
    err = corner_error(H, TRUE_H, args.size)
    print("fitted H:\n", np.round(H, 4), "\ntrue H:\n", TRUE_H)
    figure = {"input (the identity start)": img,
              **{f"after level {LEVELS - 1 - i}": s for i, s in enumerate(snapshots[1:-1])},
              "result": snapshots[-1], "target": target}
    common.save_figure(args.out / "homography.png", figure, losses, "loss (MSE), coarse to fine")
    common.report("mean corner error (px)", err, f"< {GOAL} from {start_err:.1f}",
                  err < GOAL, started)
    return err


if __name__ == "__main__":
    main()
