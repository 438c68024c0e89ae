"""The examples of issue 12 (kernel learning, homography, rotation, tone curve,
deconvolution), each run through main() in --quick mode: its stated metric must meet
its goal and its figure must be written."""

import numpy as np
import pytest
from examples_helper import EXAMPLES, load_example as _load


@pytest.mark.parametrize("mode", [[], ["--separable"]], ids=["5x5", "separable"])
def test_fit_kernel_recovers_the_kernel(tmp_path, mode):
    example = _load("fit_kernel")
    err = example.main(["--quick", "--out", str(tmp_path)] + mode)
    assert err < 1e-3
    assert (tmp_path / f"fit_kernel_{'separable' if mode else 'kernel'}.png").stat().st_size > 0


def test_fit_kernel_seed_check_matches_numpy():
    example = _load("fit_kernel")
    padded = np.pad(example.SEED_INPUT.astype(np.float64), 1)
    windows = [[padded[i:i + 4, j:j + 4].sum() for j in range(3)] for i in range(3)]
    np.testing.assert_array_equal(windows, example.SEED_GRAD)
    np.testing.assert_array_equal(example.seed_check(), example.SEED_GRAD)


def test_homography_recovers_the_warp_coarse_to_fine(tmp_path):
    example = _load("homography")
    assert example.corner_error(np.eye(3), example.TRUE_H, 96) > 10  # the start is 10+ px off
    assert example.main(["--quick", "--out", str(tmp_path)]) < 0.5
    assert (tmp_path / "homography.png").stat().st_size > 0


def test_rotation_learns_the_angle(tmp_path):
    example = _load("rotation")
    assert example.main(["--quick", "--out", str(tmp_path)]) < 0.1
    assert (tmp_path / "rotation.png").stat().st_size > 0


def test_tone_curve_matches_the_target_histogram(tmp_path):
    example = _load("tone_curve")
    assert example.main(["--quick", "--out", str(tmp_path)]) >= 10
    assert (tmp_path / "tone_curve.png").stat().st_size > 0


def test_tone_curve_soft_histogram_and_curve_match_numpy(rng):
    example = _load("tone_curve")
    img = rng.random((9, 13)).astype(np.float32)
    curve = np.sort(rng.random(256)).astype(np.float32)
    target = rng.random(64).astype(np.float32) / 64
    loss, distance, hist, mapped, _ = example.build()(
        img=img, curve=curve, target_hist=target, shapes=example.shapes(img))
    np.testing.assert_allclose(mapped, np.interp(img * 255.0, np.arange(256), curve),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hist, example.numpy_soft_histogram(mapped), rtol=1e-4,
                               atol=1e-7)
    np.testing.assert_allclose(distance, ((hist - target) ** 2).sum(), rtol=1e-4)
    smooth = (np.diff(curve.astype(np.float64), 2) ** 2).sum()
    np.testing.assert_allclose(loss, distance + example.SMOOTHNESS * smooth, rtol=1e-4)


def test_deconvolution_gains_psnr_with_the_tuned_prior(tmp_path):
    example = _load("deconvolution")
    assert example.main(["--quick", "--out", str(tmp_path)]) > 1.0
    assert (tmp_path / "deconvolution.png").stat().st_size > 0


def test_readme_demo_is_the_homography_example_with_its_extra():
    first = next(line for line in (EXAMPLES.parent / "README.md").read_text().splitlines()
                 if line.startswith("pip install"))
    assert first.startswith('pip install -e ".[examples]" && python examples/homography.py')
    extras = (EXAMPLES.parent / "pyproject.toml").read_text().split("examples = [")[1]
    for package in ("scikit-image", "matplotlib", "tqdm"):
        assert package in extras.split("]")[0]


def test_deconvolution_hypergradient_matches_finite_differences(rng):
    """dval/dlog_weight differentiates through the gradient step (a second-order
    adjoint): compared with central differences of val in float64 arithmetic."""
    example = _load("deconvolution")
    fn = example.build()
    sharp = rng.random((12, 14)).astype(np.float32)
    b = example.degrade(sharp, seed=0)
    x = (b + 0.05 * rng.standard_normal(b.shape)).astype(np.float32)

    def run(log_weight):
        return fn(x=x, b=b, k=example.blur_kernel(), sharp=sharp, log_weight=log_weight,
                  shapes=[(), b.shape, ()])

    val, x_next, grad = run(-3.0)
    h = 0.05
    fd = (np.float64(run(-3.0 + h)[0]) - np.float64(run(-3.0 - h)[0])) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=2e-2)
    np.testing.assert_allclose(val, np.mean((x_next.astype(np.float64) - sharp) ** 2), rtol=1e-4)
