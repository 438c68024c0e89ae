"""The main demo: a separable 3x3 box blur with a repeat-edge boundary, compiled once
and run at two sizes, checked against NumPy, with timings. No downloads needed."""

import time

import numpy as np

import halogrid as hg


def build_blur() -> hg.Func:
    x, y = hg.Var("x"), hg.Var("y")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    blur_x = hg.Func("blur_x")
    blur_x[y, x] = (clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]) / 3
    blur_y = hg.Func("blur_y")
    blur_y[y, x] = (blur_x[y - 1, x] + blur_x[y, x] + blur_x[y + 1, x]) / 3
    blur_x.compute_root()
    return blur_y


def numpy_blur(a: np.ndarray) -> np.ndarray:
    p = np.pad(a, 1, mode="edge")
    bx = (p[:, :-2] + p[:, 1:-1] + p[:, 2:]) / 3
    return (bx[:-2] + bx[1:-1] + bx[2:]) / 3


def main() -> None:
    start = time.perf_counter()
    fn = hg.Pipeline(build_blur()).compile()
    small = np.arange(20, dtype=np.float32).reshape(4, 5)
    print("blur of a 4x5 ramp:\n", np.round(fn(inp=small), 3))
    print(f"compile + first call: {time.perf_counter() - start:.2f} s (cached after the first run)")
    image = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    fn(inp=image)
    start = time.perf_counter()
    out = fn(inp=image)
    took = time.perf_counter() - start
    start = time.perf_counter()
    ref = numpy_blur(image)
    numpy_took = time.perf_counter() - start
    print(f"1024x1024: halogrid {took * 1e3:.2f} ms, NumPy {numpy_took * 1e3:.2f} ms, "
          f"max |diff| = {np.abs(out - ref).max():.2e}")


if __name__ == "__main__":
    main()
