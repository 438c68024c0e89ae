"""Learn the angle that rotates a photograph onto a rotated copy (a Param, by Adam).

rotate[y, x] samples the image bilinearly (zero exterior) at the point the rotation by
-angle about the centre maps (y, x) to; the loss is the mean squared difference to the
target, and its derivative w.r.t. the angle Param comes from propagate_adjoints through
one compiled pipeline. The figure shows the rotated image at a few iterations moving
towards the target. Metric: |angle - true angle| < 0.1 degree.

    python examples/rotation.py [--quick] [--size N] [--steps N]
"""

import functools
import time

import numpy as np

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 0.1  # degrees
TRUE_ANGLE = 14.0  # degrees


def rotate_func(img: hg.ImageParam, angle: hg.Param) -> hg.Func:
    """rotate[y, x] = img (zero outside) at (y, x) rotated by -angle (radians) about the
    image centre: the image turned by +angle (counter-clockwise on screen)."""
    y, x = hg.Var("y"), hg.Var("x")
    cy, cx = (hg.f32(img.height()) - 1) / 2, (hg.f32(img.width()) - 1) / 2
    dy, dx = hg.f32(y) - cy, hg.f32(x) - cx
    c, s = hg.cos(angle), hg.sin(angle)
    src = hg.BoundaryConditions.constant_exterior(img, 0.0)
    rotate = hg.Func("rotate")
    rotate[y, x] = common.bilinear(src, cy + c * dy - s * dx, cx + s * dy + c * dx)
    return rotate


@functools.cache  # compile each pipeline once per process
def build():
    """(rotate_fn(img=, angle=), loss_fn(img=, target=, angle=) -> (loss, d angle))."""
    img = hg.ImageParam(hg.Float(32), 2, "img")
    target = hg.ImageParam(hg.Float(32), 2, "target")
    angle = hg.Param(hg.Float(32), "angle", 0.0)
    rotate = rotate_func(img, angle)
    loss = common.mean_squared_error(rotate, target, target)
    return (hg.Pipeline(rotate).compile(),
            hg.Pipeline([loss, hg.propagate_adjoints(loss)[angle]]).compile())


def fit(size: int, steps: int, lr: float = 0.02, snapshots: int = 4):
    """Adam on the angle from 0. Returns (image, target, angle in degrees, losses,
    {step: rotated image} at `snapshots` evenly spaced steps and the end)."""
    img = common.load_image("camera", size)
    rotate_fn, loss_fn = build()
    target = rotate_fn(img=img, angle=np.deg2rad(TRUE_ANGLE))
    adam = common.Adam(lr, steps, decay=0.02)
    state = {"angle": 0.0}
    shown = {}
    marks = {round(j * steps / snapshots) for j in range(snapshots)}

    def step(i: int) -> float:
        if i in marks:
            shown[i] = rotate_fn(img=img, angle=state["angle"])
        loss, grad = loss_fn(img=img, target=target, angle=state["angle"])
        state.update(adam.step(state, {"angle": grad}))
        return float(loss)

    losses = common.optimise(step, steps, "rotation")
    shown[steps] = rotate_fn(img=img, angle=state["angle"])
    return img, target, float(np.rad2deg(state["angle"])), losses, shown


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 256, 150, 96, 80, argv=argv)
    img, target, angle, losses, shown = fit(args.size, args.steps)
    err = abs(angle - TRUE_ANGLE)
    print(f"learned angle {angle:.4f} deg, true {TRUE_ANGLE} deg")
    figure = {"input": img, **{f"step {i}": a for i, a in shown.items()}, "target": target}
    common.save_figure(args.out / "rotation.png", figure, losses, "loss (MSE)")
    common.report("angle error (deg)", err, f"< {GOAL}", err < GOAL, started)
    return err


if __name__ == "__main__":
    main()
