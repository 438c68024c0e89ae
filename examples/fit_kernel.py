"""Learn a 5x5 blur kernel from an (input, blurred) image pair by gradient descent.

The loss and its gradient w.r.t. the kernel come from ONE compiled pipeline
(hg.propagate_adjoints + hg.Pipeline): the image, the target and the kernel are
ImageParams, so every step calls the same compiled function with new kernel values.
Everything is synthetic; no downloads. Runs in a few seconds after the first compile.
"""

import time

import numpy as np

import halogrid as hg

K = 5  # kernel size
R = K // 2


def true_kernel() -> np.ndarray:
    """An anisotropic, slightly rotated Gaussian, normalised to sum 1."""
    i, j = np.mgrid[-R:R + 1, -R:R + 1].astype(np.float64)
    u, v = 0.8 * i + 0.6 * j, -0.6 * i + 0.8 * j
    k = np.exp(-(u**2) / (2 * 1.4**2) - v**2 / (2 * 0.7**2))
    return (k / k.sum()).astype(np.float32)


def synthetic_image(size: int = 64, seed: int = 0) -> np.ndarray:
    """Zero-mean texture (noise) plus a few bright rectangles: rich in all frequencies,
    so every kernel tap is identifiable."""
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((size, size))
    for _ in range(6):
        y0, x0 = rng.integers(0, size - 16, 2)
        img[y0:y0 + rng.integers(4, 16), x0:x0 + rng.integers(4, 16)] += 2.0
    return (img - img.mean()).astype(np.float32)


def numpy_blur(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """out[y, x] = sum_{i,j} img[y+i-R, x+j-R] k[i, j] with edge padding (the oracle)."""
    p = np.pad(img, R, mode="edge")
    h, w = img.shape
    return sum(p[i:i + h, j:j + w] * k[i, j] for i in range(K) for j in range(K))


def build_loss_and_gradient():
    """The compiled callable fn(inp=, target=, k=, shapes=[(), (K, K)]) -> (loss, dloss/dk)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    target = hg.ImageParam(hg.Float(32), 2, "target")
    k = hg.ImageParam(hg.Float(32), 2, "k")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(0, K), (0, K)], name="r")
    blur = hg.Func("blur")
    blur[y, x] = 0.0
    blur[y, x] += clamped[y + r[0] - R, x + r[1] - R] * k[r[0], r[1]]
    pixels = hg.RDom(inp, name="pixels")  # the whole image, whatever its size
    n = hg.f32(inp.height() * inp.width())
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += (blur[pixels[0], pixels[1]] - target[pixels[0], pixels[1]]) ** 2 / n
    d = hg.propagate_adjoints(loss)
    return hg.Pipeline([loss, d[k]]).compile()


def fit(steps: int = 150, lr: float = 0.08, size: int = 64, report_every: int = 15,
        verbose: bool = True):
    """Returns (learned kernel, true kernel, list of losses)."""
    img = synthetic_image(size)
    k_true = true_kernel()
    target = numpy_blur(img, k_true).astype(np.float32)
    start = time.perf_counter()
    fn = build_loss_and_gradient()
    kernel = np.full((K, K), 1.0 / (K * K), np.float32)  # start from a box blur
    losses = []
    for step in range(steps + 1):
        loss, grad = fn(inp=img, target=target, k=kernel, shapes=[(), (K, K)])
        losses.append(float(loss))
        if verbose and step % report_every == 0:
            print(f"step {step:4d}  loss {float(loss):.3e}  "
                  f"max |k - k_true| {np.abs(kernel - k_true).max():.2e}")
        kernel = (kernel - lr * grad).astype(np.float32)
    if verbose:
        print(f"{steps} steps in {time.perf_counter() - start:.2f} s (including the compile)")
    return kernel, k_true, losses


def main() -> None:
    kernel, k_true, losses = fit()
    print("learned kernel:\n", np.round(kernel, 3))
    print("true kernel:\n", np.round(k_true, 3))
    print(f"loss {losses[0]:.3e} -> {losses[-1]:.3e}")


if __name__ == "__main__":
    main()
