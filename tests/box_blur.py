"""A 3-tap box blur along every axis of a 1-, 2- or 3-D input through repeat_edge, and
its NumPy float64 oracle: the pipeline the GPU-schedule tests schedule every way
(tests/test_gpu_schedule.py on the CPU, tests/cuda/test_gpu_schedules.py on cuda)."""

import numpy as np

import halogrid as hg

x, y, z = hg.Var("x"), hg.Var("y"), hg.Var("z")


def box_blur(dims: int):
    """(input, f) with f the blur of the `dims`-D input, over vars (z, y, x)[-dims:]."""
    inp = hg.ImageParam(hg.Float(32), dims, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    args = (z, y, x)[3 - dims:]
    total = 0.0
    for k in range(dims):
        for d in (-1, 0, 1):
            total = total + c[tuple(a + d if j == k else a for j, a in enumerate(args))]
    f = hg.Func(f"blur{dims}")
    f[args] = total / (3 * dims)
    return inp, f


def box_blur_oracle(a: np.ndarray) -> np.ndarray:
    p = np.pad(a.astype(np.float64), 1, mode="edge")
    total = np.zeros(a.shape)
    for k in range(a.ndim):
        for d in (0, 1, 2):
            total += p[tuple(slice(d, d + n) if j == k else slice(1, 1 + n)
                             for j, n in enumerate(a.shape))]
    return total / (3 * a.ndim)
