"""A differentiable RGB -> HSV halogrid pipeline as the first layer of a PyTorch classifier.

The patches are crops of packaged photographs recoloured to a random hue, so their class
(one of 4 hue quarters) depends on hue alone. The model is
    learned 3x3 colour matrix -> halogrid HSV (hg.torch.to_autograd) -> 1x1 conv -> pool -> linear;
the colour matrix starts as a channel rotation (a hue shift by 1/3), so training must move
it through the HSV layer's gradient (it is not detached). The hue/saturation gradients are
checked against finite differences away from HSV's singular points (grey pixels, ties of
the largest channel, the hue wrap at red). Metric: test accuracy (goal > 0.8; chance 0.25).

    python examples/colorspace_classifier.py [--quick] [--size N] [--steps N]
"""

import time

import numpy as np
import torch

import halogrid as hg

try:
    from examples import common
except ImportError:  # run as a script: examples/ is on sys.path
    import common

GOAL = 0.8  # test accuracy
CLASSES, EPS = 4, 1e-6
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]


def hsv_func(rgb: hg.ImageParam) -> hg.Func:
    """hsv[c, y, x] of rgb[c, y, x] in [0, 1]: c = 0 hue in [0, 1) (red 0, green 1/3,
    blue 2/3), 1 saturation (max - min) / max, 2 value max. The chroma is floored at EPS
    so grey pixels give hue 0, not NaN."""
    c, y, x = hg.Var("c"), hg.Var("y"), hg.Var("x")
    r, g, b = rgb[0, y, x], rgb[1, y, x], rgb[2, y, x]
    v = hg.max(r, hg.max(g, b))
    chroma = hg.max(v - hg.min(r, hg.min(g, b)), EPS)
    sector = hg.select(v == r, (g - b) / chroma, v == g, (b - r) / chroma + 2.0,
                       (r - g) / chroma + 4.0) / 6.0
    hue = hg.select(sector < 0.0, sector + 1.0, sector)
    hsv = hg.Func("hsv")
    hsv[c, y, x] = hg.select(c == 0, hue, c == 1, chroma / hg.max(v, EPS), v)
    return hsv


def build():
    """(the torch op hsv(rgb (3, H, W)) -> (3, H, W), the ImageParam, the Func)."""
    rgb = hg.ImageParam(hg.Float(32), 3, "rgb")
    hsv = hsv_func(rgb)
    return hg.torch.to_autograd([hsv], inputs=[rgb], name="rgb_to_hsv"), rgb, hsv


def torch_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """The same HSV in PyTorch ops (the oracle for the op's values and gradients)."""
    r, g, b = rgb.unbind(-3)
    v = torch.maximum(r, torch.maximum(g, b))
    chroma = torch.clamp(v - torch.minimum(r, torch.minimum(g, b)), min=EPS)
    sector = torch.where(v == r, (g - b) / chroma,
                         torch.where(v == g, (b - r) / chroma + 2, (r - g) / chroma + 4)) / 6
    hue = torch.where(sector < 0, sector + 1, sector)
    return torch.stack([hue, chroma / torch.clamp(v, min=EPS), v], -3)


def regular_colours(n: int, seed: int) -> np.ndarray:
    """(3, n, 1) random colours away from HSV's singular points: channels at least 0.1
    apart, hue at least 0.03 from the wrap."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        c = rng.uniform(0.1, 0.9, 3)
        gaps = np.abs(c[:, None] - c[None, :])[np.triu_indices(3, 1)]
        hue = torch_hsv(torch.tensor(c[:, None, None]))[0].item()
        if gaps.min() > 0.1 and 0.03 < hue < 0.97:
            out.append(c)
    return np.array(out, np.float32).T[:, :, None]


def check_hsv_gradients(rgb, hsv) -> None:
    """hg.check_gradients (finite differences along random directions) at regular colours."""
    print(hg.check_gradients(hsv, {rgb: regular_colours(16, seed=0)}, shapes=(3, 16, 1)))


def make_patches(n: int, patch: int, photos: list[str], seed: int):
    """n crops (n, 3, P, P) of the photographs, each given a random hue from its class's
    quarter (saturation lifted to >= 0.35 so hue is visible), and their classes."""
    from skimage.color import hsv2rgb, rgb2hsv

    rng = np.random.default_rng(seed)
    images = [rgb2hsv(common.load_image(p, 4 * patch * 4, gray=False)) for p in photos]
    labels = rng.integers(0, CLASSES, n)
    patches = np.empty((n, 3, patch, patch), np.float32)
    for i, label in enumerate(labels):
        img = images[rng.integers(len(images))]
        y, x = rng.integers(0, img.shape[0] - patch, 2)
        crop = img[y:y + patch, x:x + patch].copy()
        crop[..., 0] = (label + rng.uniform(0.05, 0.95)) / CLASSES
        crop[..., 1] = 0.35 + 0.65 * crop[..., 1]
        crop[..., 2] = 0.2 + 0.8 * crop[..., 2]
        patches[i] = hsv2rgb(crop).transpose(2, 0, 1)
    return torch.from_numpy(patches), torch.from_numpy(labels)


class Model(torch.nn.Module):
    """colour matrix -> halogrid HSV -> per-pixel features -> mean over the patch -> classes."""

    def __init__(self, hsv_op):
        super().__init__()
        self.hsv_op = hsv_op
        self.mix = torch.nn.Parameter(torch.eye(3).roll(1, 0))  # r<-b, g<-r, b<-g
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 1), torch.nn.ReLU(),
                                            torch.nn.Conv2d(32, 32, 1), torch.nn.ReLU())
        self.classify = torch.nn.Linear(32, CLASSES)

    def forward(self, rgb):
        n, _, h, w = rgb.shape  # the patches side by side in one (3, N*P, P) image: one call
        mixed = torch.einsum("ij,njyx->inyx", self.mix, rgb).clamp(0, 1).reshape(3, n * h, w)
        hsv = self.hsv_op(mixed.contiguous()).reshape(3, n, h, w).transpose(0, 1)
        return self.classify(self.features(hsv).mean((2, 3)))


def train(model, patches, labels, steps: int, batch: int = 128):
    """Adam on cross-entropy over random minibatches; returns the losses."""
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    rng = np.random.default_rng(0)

    def step(i: int) -> float:
        idx = torch.from_numpy(rng.integers(0, len(labels), batch))
        loss = torch.nn.functional.cross_entropy(model(patches[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return common.optimise(step, steps, "train hue classifier")


def main(argv: list[str] | None = None) -> float:
    started = time.perf_counter()
    args = common.parse_args(__doc__.splitlines()[0], 16, 300, 8, 80, argv=argv)
    torch.manual_seed(0)
    op, rgb, hsv = build()
    check_hsv_gradients(rgb, hsv)
    patches, labels = make_patches(512, args.size, PHOTOS[:3], seed=1)
    test_patches, test_labels = make_patches(256, args.size, PHOTOS[3:], seed=2)
    model = Model(op)
    mix_start = model.mix.detach().clone()
    losses = train(model, patches, labels, args.steps)
    with torch.no_grad():
        accuracy = (model(test_patches).argmax(1) == test_labels).float().mean().item()
    moved = (model.mix.detach() - mix_start).abs().max().item()
    print(f"colour matrix moved by up to {moved:.3f} through the HSV layer's gradient")
    shown = {f"test patch (class {int(test_labels[i])})": test_patches[i].permute(1, 2, 0).numpy()
             for i in range(3)}
    common.save_figure(args.out / "colorspace_classifier.png", shown, losses, "cross-entropy")
    common.report("test accuracy", accuracy, f"> {GOAL:g}, chance {1 / CLASSES:g}",
                  accuracy > GOAL, started)
    return accuracy


if __name__ == "__main__":
    main()
