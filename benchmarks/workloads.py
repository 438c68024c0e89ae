"""Workloads W1-W7 of /work/shared/WORKLOADS.md: inputs, targets and gradient names.

Invariants of every ``make_inputs(h, w)``:
- it returns a fresh dict of C-contiguous float32 NumPy arrays;
- values come from ``numpy.random.default_rng(0)``, drawn in the order the keys are
  listed in the builder's docstring, so two calls give bit-identical arrays;
- ``"target"`` has the shape of the forward output ``out`` (W6 adds ``"hist_target"``);
- the keys named in ``Workload.grad_names`` are exactly the gradients a system returns.
All index conventions are NumPy's: an image is (H, W), axis 0 is y.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

SIZES = {"Q": (256, 256), "S1": (1024, 1024), "S4": (2048, 2048)}
W2_SHAPE = (16, 256, 256)  # W2 ignores the size: (channels, H, W) is fixed


@dataclass(frozen=True)
class Workload:
    """One benchmark workload; ``smooth`` is False where gradients jump at floor()."""

    name: str
    title: str
    make_inputs: Callable[[int, int], dict]
    grad_names: tuple
    smooth: bool
    fixed_size: bool = False


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def w1_inputs(h, w):
    """inp (h,w) U[0,1); k (3,3) N(0,1); target (h,w) U[0,1)."""
    rng = np.random.default_rng(0)
    inp = rng.random((h, w))
    k = rng.standard_normal((3, 3))
    return {"inp": _f32(inp), "k": _f32(k), "target": _f32(rng.random((h, w)))}


def w2_inputs(h=None, w=None):
    """inp (16,256,256) N(0,1); k (16,16,3,3) N(0,1)/12; target like out, N(0,1)."""
    rng = np.random.default_rng(0)
    c, hh, ww = W2_SHAPE
    inp = rng.standard_normal((c, hh, ww))
    k = rng.standard_normal((c, c, 3, 3)) / 12.0
    target = rng.standard_normal((c, hh, ww))
    return {"inp": _f32(inp), "k": _f32(k), "target": _f32(target)}


def w3_inputs(h, w):
    """inp (h,w) U[0,1); target (h,w) U[0,1)."""
    rng = np.random.default_rng(0)
    inp = rng.random((h, w))
    return {"inp": _f32(inp), "target": _f32(rng.random((h, w)))}


def w4_inputs(h, w):
    """inp (h,w,3) U[0,1); guide (h,w) U[0,1); A (h/16,w/16,8,3,4) = identity affine
    + 0.1 N(0,1); target (h,w,3) U[0,1)."""
    rng = np.random.default_rng(0)
    inp = rng.random((h, w, 3))
    guide = rng.random((h, w))
    grid = 0.1 * rng.standard_normal((h // 16, w // 16, 8, 3, 4))
    grid[..., [0, 1, 2], [0, 1, 2]] += 1.0
    target = rng.random((h, w, 3))
    return {"inp": _f32(inp), "guide": _f32(guide), "A": _f32(grid), "target": _f32(target)}


def homography(h, w):
    """Fixed near-identity H3 for an (h, w) image: 0.1 rad rotation, a shift of
    (5%, -3%) of the image and a mild perspective term (no randomness)."""
    c, s = np.cos(0.1), np.sin(0.1)
    return np.array([[c, -s, 0.05 * w],
                     [s, c, -0.03 * h],
                     [0.05 / w, -0.03 / h, 1.0]])


def w5_inputs(h, w):
    """inp (h,w) U[0,1); H3 = homography(h, w); target (h,w) U[0,1)."""
    rng = np.random.default_rng(0)
    inp = rng.random((h, w))
    return {"inp": _f32(inp), "H3": _f32(homography(h, w)),
            "target": _f32(rng.random((h, w)))}


def w6_inputs(h, w):
    """inp (h,w) U[0,1); lut (256,) = clip(ramp**0.6 + 0.02 N(0,1), 0, 1);
    target (h,w) U[0,1); hist_target (64,) U[0,1) normalised to sum 1."""
    rng = np.random.default_rng(0)
    inp = rng.random((h, w))
    ramp = np.linspace(0.0, 1.0, 256) ** 0.6
    lut = np.clip(ramp + 0.02 * rng.standard_normal(256), 0.0, 1.0)
    target = rng.random((h, w))
    hist_target = rng.random(64)
    return {"inp": _f32(inp), "lut": _f32(lut), "target": _f32(target),
            "hist_target": _f32(hist_target / hist_target.sum())}


def w7_inputs(h, w):
    """inp (h,w) U[0,1); target (h,w) U[0,1)."""
    return w3_inputs(h, w)


WORKLOADS = {
    "W1": Workload("W1", "conv3x3, repeat edge", w1_inputs, ("inp", "k"), True),
    "W2": Workload("W2", "convnet layer 16->16ch 256x256", w2_inputs, ("inp", "k"), True,
                   fixed_size=True),
    "W3": Workload("W3", "separable 5-tap blur x2", w3_inputs, ("inp",), True),
    "W4": Workload("W4", "bilateral slice-apply (HDRNet)", w4_inputs,
                   ("A", "guide", "inp"), False),
    "W5": Workload("W5", "homography warp, bilinear", w5_inputs, ("H3", "inp"), False),
    "W6": Workload("W6", "tone curve + soft histogram", w6_inputs, ("lut", "inp"), False),
    "W7": Workload("W7", "bilateral grid filter", w7_inputs, ("inp",), False),
}


def size_label(workload, size):
    """Label of the size actually run: W2 ignores ``size`` and is always its own shape."""
    return "16x256x256" if workload.fixed_size else size


def inputs_for(workload, size):
    """Inputs of ``workload`` at size label ``size`` (a key of SIZES)."""
    h, w = SIZES[size]
    return workload.make_inputs(h, w)
