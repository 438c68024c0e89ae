"""hg.torch.to_autograd against PyTorch's own ops and torch.autograd.gradcheck (float64)."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import halogrid as hg  # noqa: E402

F64 = hg.Float(64)
x, y = hg.Var("x"), hg.Var("y")


def _blur(t=F64):
    """3x3 correlation of a repeat_edge image with kernel k, times Param gain."""
    inp, k, gain = hg.ImageParam(t, 2, "inp"), hg.ImageParam(t, 2, "k"), hg.Param(t, "gain")
    bc = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    out = hg.Func("blur")
    out[y, x] = hg.sum(bc[y + r.y, x + r.x] * k[r.y + 1, r.x + 1]) * gain
    return out, [inp, k, gain]


@pytest.fixture(scope="module")
def blur_op():
    out, inputs = _blur()
    return hg.torch.to_autograd([out], inputs=inputs, name="blur")


def _torch_blur(img, k, gain):
    padded = F.pad(img[None, None], (1, 1, 1, 1), mode="replicate")
    return F.conv2d(padded, k[None, None])[0, 0] * gain


def _leaf(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, dtype=torch.float64, generator=g).requires_grad_()


def test_stencil_matches_conv2d_and_passes_gradcheck_and_opcheck(blur_op):
    img, k, gain = _leaf(7, 6), _leaf(3, 3, seed=1), torch.tensor(1.5, dtype=torch.float64,
                                                                   requires_grad=True)
    torch.testing.assert_close(blur_op(img, k, gain), _torch_blur(img, k, gain))
    assert torch.autograd.gradcheck(blur_op, (img, k, gain))
    seed = _leaf(7, 6, seed=2).detach()  # a VJP with an arbitrary output adjoint
    mine = torch.autograd.grad(blur_op(img, k, gain), (img, k, gain), seed)
    theirs = torch.autograd.grad(_torch_blur(img, k, gain), (img, k, gain), seed)
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b)
    torch.library.opcheck(blur_op, (img, k, gain))
    assert img.grad is None and k.grad is None  # the op never touches .grad


def test_batch_dimension_runs_each_image_and_sums_shared_gradients(blur_op):
    imgs, k = _leaf(3, 5, 4), _leaf(3, 3, seed=1)
    gain = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    batched = blur_op(imgs, k, gain)
    assert batched.shape == (3, 5, 4)
    for b in range(3):
        torch.testing.assert_close(batched[b], _torch_blur(imgs[b], k, gain))
    loss = (batched * torch.arange(60, dtype=torch.float64).reshape(3, 5, 4)).sum()
    mine = torch.autograd.grad(loss, (imgs, k, gain))
    ref = torch.stack([_torch_blur(imgs[b], k, gain) for b in range(3)])
    theirs = torch.autograd.grad((ref * torch.arange(60.0, dtype=torch.float64)
                                  .reshape(3, 5, 4)).sum(), (imgs, k, gain))
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b)


def test_no_grad_call_saves_nothing_and_returns_plain_tensors(blur_op):
    img, k = torch.rand(4, 4, dtype=torch.float64), torch.rand(3, 3, dtype=torch.float64)
    with torch.no_grad():
        out = blur_op(img, k, torch.tensor(2.0, dtype=torch.float64))
    assert out.grad_fn is None and not out.requires_grad
    torch.testing.assert_close(out, _torch_blur(img, k, 2.0))


def test_wrong_dtype_ndim_and_device_raise_halogrid_errors(blur_op):
    k, gain = torch.rand(3, 3, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    with pytest.raises(hg.InputError, match="inp"):
        blur_op(torch.rand(4, 4, dtype=torch.float32), k, gain)
    with pytest.raises(hg.InputError, match="dimension"):
        blur_op(torch.rand(2, 2, 4, 4, dtype=torch.float64), k, gain)
    from halogrid.interop.torch import _numpy  # a CPU-only torch makes no CUDA tensor
    with pytest.raises(hg.InputError, match='target="cuda"'):
        _numpy("inp", torch.empty(4, 4, device="meta"))


def _warp():
    """Bilinear resampling of a repeat_edge image through a 3x3 homography H."""
    inp, H = hg.ImageParam(F64, 2, "img"), hg.ImageParam(F64, 2, "H")
    bc = hg.BoundaryConditions.repeat_edge(inp)
    fx, fy = hg.f64(x), hg.f64(y)
    w = H[2, 0] * fx + H[2, 1] * fy + H[2, 2]
    u = (H[0, 0] * fx + H[0, 1] * fy + H[0, 2]) / w
    v = (H[1, 0] * fx + H[1, 1] * fy + H[1, 2]) / w
    u0, v0 = hg.floor(u), hg.floor(v)
    a, b = u - u0, v - v0
    # clamped a pixel past the edge (repeat_edge reads the same there): a bounded index
    iu = hg.clamp(hg.i32(u0), -1, inp.width())
    iv = hg.clamp(hg.i32(v0), -1, inp.height())
    out = hg.Func("warp")
    out[y, x] = ((1 - b) * ((1 - a) * bc[iv, iu] + a * bc[iv, iu + 1]) +
                 b * ((1 - a) * bc[iv + 1, iu] + a * bc[iv + 1, iu + 1]))
    return out, [inp, H]


def test_warp_matches_grid_sample_and_gradchecks_image_and_homography():
    out, inputs = _warp()
    op = hg.torch.to_autograd([out], inputs=inputs, name="warp")
    h, w = 6, 7
    img = _leaf(h, w, seed=3)
    H = torch.tensor([[0.93, 0.05, 0.31], [-0.04, 1.06, 0.22], [0.004, -0.003, 1.0]],
                     dtype=torch.float64, requires_grad=True)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1) @ H.T
    u, v = pts[..., 0] / pts[..., 2], pts[..., 1] / pts[..., 2]
    grid = torch.stack([2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1], -1)[None]
    ref = F.grid_sample(img[None, None], grid, mode="bilinear", padding_mode="border",
                        align_corners=True)[0, 0]
    torch.testing.assert_close(op(img, H), ref)
    assert torch.autograd.gradcheck(op, (img, H))


def test_histogram_lut_op_gradchecks_lut_and_image():
    img, lut = hg.ImageParam(F64, 2, "img"), hg.ImageParam(F64, 1, "lut")
    out = hg.Func("lut_apply")
    out[y, x] = lut[hg.clamp(hg.i32(img[y, x] * 15), 0, 15)] * img[y, x]
    op = hg.torch.to_autograd([out], inputs=[img, lut], name="lut apply!")  # sanitised
    a = (torch.rand(5, 4, dtype=torch.float64) * 0.9 + 0.03).requires_grad_()
    table = _leaf(16, seed=4)
    index = torch.clamp((a.detach() * 15).long(), 0, 15)
    torch.testing.assert_close(op(a, table), table[index] * a)
    assert torch.autograd.gradcheck(op, (a, table))


def test_multi_output_op_gradchecks_and_treats_unused_outputs_as_zero():
    inp, gain = hg.ImageParam(F64, 2, "inp"), hg.Param(F64, "gain")
    bc = hg.BoundaryConditions.mirror_image(inp)
    dx, energy = hg.Func("dx"), hg.Func("energy")
    dx[y, x] = (bc[y, x + 1] - bc[y, x - 1]) * gain
    r = hg.RDom([(0, inp.height()), (0, inp.width())], name="r")
    energy[()] = hg.f64(0)
    energy[()] += bc[r[0], r[1]] * bc[r[0], r[1]] * gain
    op = hg.torch.to_autograd([dx, energy], inputs=[inp, gain], name="pair")
    img, g = _leaf(4, 5, seed=5), torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    d, e = op(img, g)
    torch.testing.assert_close(e, (img * img).sum() * g)
    assert d.shape == (4, 5)
    torch.testing.assert_close(d[:, 1:-1], (img[:, 2:] - img[:, :-2]) * g)
    torch.testing.assert_close(d[:, 0], (img[:, 1] - img[:, 0]) * g)  # mirrored edge
    assert torch.autograd.gradcheck(op, (img, g))
    (only_d,) = torch.autograd.grad(d.sum(), (img,), retain_graph=True)  # e's grad: None
    (zero_e,) = torch.autograd.grad((d, e), (img,), (torch.ones_like(d), torch.zeros_like(e)))
    torch.testing.assert_close(only_d, zero_e)
    assert only_d.abs().sum() > 0


def test_torch_compile_fullgraph_between_convs_trains_like_eager():
    out, inputs = _blur(hg.Float(32))
    op = hg.torch.to_autograd([out], inputs=inputs, name="blur32")

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Conv2d(1, 1, 3)
            self.k = torch.nn.Parameter(torch.full((3, 3), 1.0 / 9))
            self.gain = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, img):
            a = self.c1(img)
            b = op(a.reshape(-1, *a.shape[2:]), self.k, self.gain)  # (N*C, H, W) batch
            return self.c2(b.reshape(a.shape))

    def train(model):
        torch.manual_seed(0)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        data, target = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 6, 6)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = ((model(data) - target) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    torch.manual_seed(1)
    eager = Model()
    compiled = Model()
    compiled.load_state_dict(eager.state_dict())
    expected = train(eager)
    got = train(torch.compile(compiled, fullgraph=True))  # inductor
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert expected[-1] < expected[0]


def test_two_ops_with_one_name_do_not_clash_and_core_imports_no_torch():
    a = hg.torch.to_autograd(*_pair_of_same_name())
    b = hg.torch.to_autograd(*_pair_of_same_name())
    assert a._qualname != b._qualname and a._qualname.startswith("halogrid::same_")
    code = "import sys, halogrid; assert 'torch' not in sys.modules and 'dask' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _pair_of_same_name():
    inp = hg.ImageParam(F64, 1, "v")
    f = hg.Func("twice")
    f[x] = inp[x] * 2
    return [f], [inp], "same"


def test_backward_schedule_hook_and_auto_give_the_default_gradients():
    """backward_schedule schedules the backward pipeline only: its hook gets that
    Pipeline and the output's Derivative; gradients equal conv2d's either way."""
    seen = []

    def hook(backward, d):
        seen.append((backward, d))
        d[out].compute_root()  # an adjoint Func stored instead of inlined
        backward.auto_schedule()

    out, inputs = _blur()
    ops = [hg.torch.to_autograd([out], inputs=inputs, name="blur_hook", backward_schedule=h)
           for h in (hook, "auto")]
    ((backward, d),) = seen
    assert isinstance(backward, hg.Pipeline) and isinstance(d[inputs[1]], hg.Func)
    img, k = _leaf(9, 8, seed=6), _leaf(3, 3, seed=7)
    gain = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    seed = _leaf(9, 8, seed=8).detach()
    theirs = torch.autograd.grad(_torch_blur(img, k, gain), (img, k, gain), seed)
    for op in ops:
        mine = torch.autograd.grad(op(img, k, gain), (img, k, gain), seed)
        for a, b in zip(mine, theirs):
            torch.testing.assert_close(a, b)
    with pytest.raises(hg.HalogridError, match="backward_schedule"):
        hg.torch.to_autograd([out], inputs=inputs, backward_schedule="fast")
