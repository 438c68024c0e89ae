"""Helpers shared by the examples (not part of the library): packaged photographs,
PSNR, a Bayer mosaic, Adam, the tqdm optimisation loop, argument parsing and figures.

Images come from scikit-image's bundled files only (astronaut, camera, coffee, chelsea,
...), so nothing is downloaded. Every image is float32 in [0, 1], NumPy axis order.
"""

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

OUT = Path(__file__).resolve().parent / "out"


def load_image(name: str = "camera", size: int = 128, gray: bool = True) -> np.ndarray:
    """A packaged skimage photograph, centre-cropped to a square and resized to
    (size, size) (or (size, size, 3) with gray=False), float32 in [0, 1]."""
    import skimage.data
    from skimage.color import gray2rgb, rgb2gray
    from skimage.transform import resize

    img = getattr(skimage.data, name)()
    if img.ndim == 2 and not gray:
        img = gray2rgb(img)
    if img.ndim == 3 and gray:
        img = rgb2gray(img[..., :3])
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    img = resize(img, (size, size) + img.shape[2:], anti_aliasing=True)
    img = img.astype(np.float64)
    return (img / max(img.max(), 1e-12)).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same shape."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / max(mse, 1e-30)))


def correlate(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """NumPy oracle: out[y, x] = sum_{i,j} img[y+i-ry, x+j-rx] k[i, j] with edge padding
    (ry, rx = k's half sizes), the examples' blur with repeat_edge."""
    ry, rx = k.shape[0] // 2, k.shape[1] // 2
    p = np.pad(img, ((ry, ry), (rx, rx)), mode="edge")
    h, w = img.shape
    return sum(p[i:i + h, j:j + w] * k[i, j]
               for i in range(k.shape[0]) for j in range(k.shape[1]))


def bayer_mosaic(rgb: np.ndarray) -> np.ndarray:
    """An RGGB Bayer mosaic (H, W) of an (H, W, 3) image: R at (even, even),
    G at (even, odd) and (odd, even), B at (odd, odd)."""
    y, x = np.mgrid[:rgb.shape[0], :rgb.shape[1]]
    channel = np.where((y % 2 == 0) & (x % 2 == 0), 0, np.where((y % 2 == 1) & (x % 2 == 1), 2, 1))
    return np.take_along_axis(rgb, channel[..., None], axis=2)[..., 0]


class Adam:
    """Adam on a dict of NumPy arrays (or floats), in float64; step() returns new values.
    With steps=N the learning rate decays geometrically to lr * decay at step N."""

    def __init__(self, lr: float, steps: int = 0, decay: float = 1.0, b1: float = 0.9,
                 b2: float = 0.999, eps: float = 1e-8):
        self.lr, self.steps, self.decay, self.b1, self.b2, self.eps = lr, steps, decay, b1, b2, eps
        self.m: dict = {}
        self.v: dict = {}
        self.t = 0

    def step(self, params: dict, grads: dict) -> dict:
        self.t += 1
        lr = self.lr * self.decay ** min((self.t - 1) / max(self.steps - 1, 1), 1.0)
        out = {}
        for name, value in params.items():
            g = np.asarray(grads[name], np.float64)
            self.m[name] = self.b1 * self.m.get(name, 0.0) + (1 - self.b1) * g
            self.v[name] = self.b2 * self.v.get(name, 0.0) + (1 - self.b2) * g * g
            m_hat = self.m[name] / (1 - self.b1**self.t)
            v_hat = self.v[name] / (1 - self.b2**self.t)
            out[name] = np.asarray(value, np.float64) - lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return out


def optimise(step: Callable[[int], float], steps: int, desc: str) -> list[float]:
    """Calls step(i) -> loss for i in range(steps) under a tqdm bar; returns the losses."""
    from tqdm import tqdm

    losses = []
    with tqdm(range(steps), desc=desc, leave=False, mininterval=0.5) as bar:
        for i in bar:
            losses.append(float(step(i)))
            bar.set_postfix(loss=f"{losses[-1]:.3e}", refresh=False)
    return losses


def parse_args(description: str, size: int, steps: int, quick_size: int, quick_steps: int,
               extra: Callable[[argparse.ArgumentParser], None] | None = None,
               argv: list[str] | None = None) -> argparse.Namespace:
    """--quick (quick_size, quick_steps), --size, --steps, --out; `extra` adds more flags.
    An explicit --size/--steps wins over --quick."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small image, few steps (tests)")
    parser.add_argument("--size", type=int, default=None, help=f"image side (default {size})")
    parser.add_argument("--steps", type=int, default=None, help=f"steps (default {steps})")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the figure")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    args.size = args.size or (quick_size if args.quick else size)
    args.steps = args.steps or (quick_steps if args.quick else steps)
    return args


def save_figure(path: Path, images: dict[str, np.ndarray], losses: list[float] | None = None,
                loss_label: str = "loss",
                plots: dict[str, dict[str, np.ndarray]] | None = None) -> Path:
    """One row: each named image (gray or RGB, shown in [0, 1]), then each of `plots`
    (a title -> {label: 1-D values} panel of lines) and, if given, the loss curve on a
    log scale. Uses the Agg backend; creates the folder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = plots or {}
    n = len(images) + len(plots) + (losses is not None)
    fig, axes = plt.subplots(1, n, figsize=(3 * n, 3.2), squeeze=False)
    for ax, (title, img) in zip(axes[0], images.items()):
        ax.imshow(np.clip(img, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    for ax, (title, lines) in zip(axes[0, len(images):], plots.items()):
        for label, values in lines.items():
            ax.plot(values, label=label, linewidth=1)
        ax.legend(fontsize=7)
        ax.set_title(title, fontsize=9)
    if losses is not None:
        ax = axes[0, -1]
        ax.semilogy(np.maximum(losses, 1e-30))
        ax.set_xlabel("step")
        ax.set_title(loss_label, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def report(name: str, value: float, goal: str, ok: bool, started: float) -> None:
    """The line every example ends with: its metric against its goal, and the run time."""
    verdict = "PASS" if ok else "FAIL"
    print(f"{name}: {value:.4g} (goal {goal}) {verdict}  [{time.perf_counter() - started:.1f} s]")


def bilinear(src, ys, xs, *rest):
    """halogrid Expr: src (a Func, e.g. a boundary condition) sampled bilinearly at the
    float pixel coordinates (ys, xs) (then src's further indices `rest`, e.g. a colour);
    differentiable in ys and xs."""
    import halogrid as hg

    y0, x0 = hg.floor(ys), hg.floor(xs)
    iy, ix = hg.i32(y0), hg.i32(x0)
    ay, ax = ys - y0, xs - x0
    return ((1 - ay) * ((1 - ax) * src[(iy, ix) + rest] + ax * src[(iy, ix + 1) + rest])
            + ay * ((1 - ax) * src[(iy + 1, ix) + rest] + ax * src[(iy + 1, ix + 1) + rest]))


def mean_squared_error(a, b, like) -> "object":
    """halogrid Func: mean over the ImageParam `like`'s domain of (a - b)^2, a and b Funcs
    or ImageParams read at the same pixel."""
    import halogrid as hg

    pixels = hg.RDom(like, name="pixels")
    n = hg.f32(like.height() * like.width())
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += (a[pixels[0], pixels[1]] - b[pixels[0], pixels[1]]) ** 2 / n
    return loss


def bilinear_demosaick(mosaic: np.ndarray) -> np.ndarray:
    """(H, W, 3) bilinear demosaicking of an RGGB mosaic (see bayer_mosaic): each colour's
    samples convolved with its interpolation kernel, edges mirrored about the edge pixel
    (scipy 'mirror', which keeps the Bayer parity)."""
    from scipy.ndimage import convolve

    y, x = np.mgrid[:mosaic.shape[0], :mosaic.shape[1]]
    masks = [(y % 2 == 0) & (x % 2 == 0), (y + x) % 2 == 1, (y % 2 == 1) & (x % 2 == 1)]
    rb = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4.0
    g = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]]) / 4.0
    planes = [convolve(np.where(m, mosaic, 0.0), k, mode="mirror")
              for m, k in zip(masks, (rb, g, rb))]
    return np.stack(planes, -1).astype(np.float32)
