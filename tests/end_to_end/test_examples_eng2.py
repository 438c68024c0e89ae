"""The examples of issue 12 built on hg.torch and the Bayer pipeline (colour-space
classifier, bilateral slicing, learned demosaicking, burst reconstruction), each run
through main() in --quick mode: its stated metric must meet its goal and its figure must
be written. Beside them, each example's operator against an independent oracle."""

import numpy as np
import pytest

from examples_helper import load_example as _load

torch = pytest.importorskip("torch")


def test_colorspace_classifier_learns_hue_through_the_halogrid_layer(tmp_path):
    example = _load("colorspace_classifier")
    assert example.main(["--quick", "--out", str(tmp_path)]) > 0.8  # chance: 0.25
    assert (tmp_path / "colorspace_classifier.png").stat().st_size > 0


def test_hsv_op_values_and_colour_matrix_gradient_match_torch():
    example = _load("colorspace_classifier")
    op = example.build()[0]
    rgb = torch.from_numpy(example.regular_colours(24, seed=3)[:, :, 0].reshape(3, 4, 6))
    torch.testing.assert_close(op(rgb), example.torch_hsv(rgb))
    grads = []
    for hsv in (op, example.torch_hsv):  # the matrix's gradient flows through the HSV layer
        torch.manual_seed(0)
        model = example.Model(hsv)
        model.mix.data = torch.eye(3) * 0.9 + 0.05
        patches = rgb.reshape(3, 4, 2, 3).permute(1, 0, 2, 3).contiguous()
        torch.nn.functional.cross_entropy(model(patches), torch.arange(4)).backward()
        grads.append(model.mix.grad)
    assert grads[0].abs().max() > 1e-3
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_bilateral_slice_raises_psnr_by_10_db(tmp_path):
    example = _load("bilateral_slice")
    assert example.main(["--quick", "--out", str(tmp_path)]) >= 10
    assert (tmp_path / "bilateral_slice.png").stat().st_size > 0


def test_bilateral_slice_op_matches_grid_sample_values_and_gradients():
    example = _load("bilateral_slice")
    op = example.build()
    torch.manual_seed(0)
    img = torch.rand(20, 24, 3)
    grid = example.identity_grid((3, 4, 5)) + 0.3 * torch.randn(3, 4, 5, 12)
    seed = torch.randn(20, 24, 3)
    results = []
    for fn in (op, example.torch_slice_apply):
        a, g = img.clone().requires_grad_(), grid.clone().requires_grad_()
        out = fn(a, g)
        (out * seed).sum().backward()
        results.append((out.detach(), a.grad, g.grad))
    for mine, ref in zip(*results):
        torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-5)


def test_demosaick_starts_as_bilinear_and_beats_it_by_2_db(tmp_path):
    example = _load("demosaick")
    common = example.common
    model = example.Demosaicker(example.build(), ["chelsea"], 32)
    _, _, rgb = model.run({"w": example.bilinear_weights(), "beta": 1.0}, 0)
    np.testing.assert_allclose(rgb, common.bilinear_demosaick(model.mosaics[0]), atol=1e-6)
    assert example.main(["--quick", "--out", str(tmp_path)]) >= 2
    assert (tmp_path / "demosaick.png").stat().st_size > 0


def test_bilinear_demosaick_keeps_samples_and_is_exact_on_ramps():
    common = _load("demosaick").common
    y, x = np.mgrid[:12, :16].astype(np.float64)
    ramp = np.stack([0.02 * y + 0.01 * x, 0.03 * x + 0.1, 0.5 - 0.01 * y], -1)
    mosaic = common.bayer_mosaic(ramp)
    out = common.bilinear_demosaick(mosaic)
    np.testing.assert_allclose(out[1:-1, 1:-1], ramp[1:-1, 1:-1], atol=1e-6)  # linear: exact
    np.testing.assert_allclose(common.bayer_mosaic(out), mosaic, atol=1e-6)


def test_burst_beats_single_frame_demosaicking(tmp_path):
    example = _load("burst")
    assert example.main(["--quick", "--out", str(tmp_path)]) > 1.0
    assert (tmp_path / "burst.png").stat().st_size > 0
