"""examples/fit_kernel.py's compiled loss-and-adjoint pipeline against NumPy (the fit
itself runs in tests/end_to_end/test_examples_eng1.py)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fit_kernel.py"


def _load():
    sys.path.insert(0, str(EXAMPLE.parent))  # the example imports its shared `common`
    spec = importlib.util.spec_from_file_location("fit_kernel_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fit_kernel_loss_and_gradient_match_numpy(rng):
    example = _load()
    fn = example.build_loss_and_gradient()
    img = rng.standard_normal((9, 11)).astype(np.float32)
    k_true, k = example.true_kernel(), rng.random((5, 5)).astype(np.float32)
    target = example.numpy_blur(img, k_true).astype(np.float32)
    loss, grad = fn(inp=img, target=target, k=k, shapes=[(), (5, 5)])
    p = np.pad(img.astype(np.float64), 2, mode="edge")
    patches = np.stack([p[i:i + 9, j:j + 11].ravel() for i in range(5) for j in range(5)], 1)
    residual = patches @ k.ravel().astype(np.float64) - target.ravel()
    np.testing.assert_allclose(loss, np.mean(residual**2), rtol=1e-4)
    np.testing.assert_allclose(grad.ravel(), 2 * patches.T @ residual / residual.size,
                               rtol=1e-3, atol=1e-5)
