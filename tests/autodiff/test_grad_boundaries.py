"""Gradients at the edges through each boundary condition: pixels that the boundary
repeats receive the sum of the adjoints of every position that reads them.

Oracles: NumPy's np.pad index maps (edge / symmetric / reflect), hand-counted edge
weights, float64 finite differences, and PyTorch conv2d with its padding modes (torch
'replicate' == repeat_edge, 'reflect' == mirror_interior == NumPy 'reflect'; NumPy
'symmetric' == mirror_image has no torch mode, so it is checked with np.pad and finite
differences of a NumPy reference).
"""

import numpy as np
import pytest

import halogrid as hg
from helpers import F64, GradFn, check_grads

N, PAD = 6, 3
MODES = ["repeat_edge", "constant_exterior", "mirror_image", "mirror_interior"]
NP_MODE = {"repeat_edge": "edge", "mirror_image": "symmetric", "mirror_interior": "reflect"}


def _boundary(mode, src):
    if mode == "constant_exterior":
        return hg.BoundaryConditions.constant_exterior(src, 0.7)
    return getattr(hg.BoundaryConditions, mode)(src)


@pytest.fixture(scope="module")
def edges_1d():
    """L = sum_k w_k * sum_{i in [-PAD, N+PAD)} (G[i] * bc_k(v)[i] + Q[i] * bc_k(v)[i]**2 / 2)."""
    v = hg.ImageParam(F64, 1, "v")
    G = hg.ImageParam(F64, 1, "G")
    Q = hg.ImageParam(F64, 1, "Q")
    r = hg.RDom([(-PAD, N + 2 * PAD)], name="r")
    total = None
    for mode in MODES:
        bc = _boundary(mode, v)
        w = hg.Param(F64, f"w_{mode}", 0.0)
        part = hg.Func(f"L_{mode}")
        part[()] = hg.f64(0.0)
        part[()] += G[r.x + PAD] * bc[r.x] + Q[r.x + PAD] * bc[r.x] ** 2 * 0.5
        total = w * part[()] if total is None else total + w * part[()]
    loss = hg.Func("loss")
    loss[()] = total
    return GradFn(loss, [v])


def _only(mode):
    return {f"w_{m}": float(m == mode) for m in MODES}


def _padded_index(mode):
    """Which input pixel each padded position reads (-1: the constant)."""
    if mode == "constant_exterior":
        return np.pad(np.arange(N), PAD, mode="constant", constant_values=-1)
    return np.pad(np.arange(N), PAD, mode=NP_MODE[mode])


EDGE_COUNTS = {
    "repeat_edge": [4, 1, 1, 1, 1, 4],
    "constant_exterior": [1, 1, 1, 1, 1, 1],
    "mirror_image": [2, 2, 2, 2, 2, 2],
    "mirror_interior": [1, 2, 3, 3, 2, 1],
}


@pytest.mark.parametrize("mode", MODES)
def test_edge_pixels_receive_the_sum_of_the_positions_that_read_them(edges_1d, rng, mode):
    ones = np.ones(N + 2 * PAD)
    inputs = {"v": rng.standard_normal(N), "G": ones, "Q": 0 * ones, **_only(mode)}
    _, (g,), _ = edges_1d(inputs)
    np.testing.assert_array_equal(g, EDGE_COUNTS[mode])


@pytest.mark.parametrize("mode", MODES)
def test_boundary_adjoint_matches_np_pad_index_map(edges_1d, rng, mode):
    v = rng.standard_normal(N)
    G, Q = rng.standard_normal(N + 2 * PAD), rng.standard_normal(N + 2 * PAD)
    _, (g,), _ = edges_1d({"v": v, "G": G, "Q": Q, **_only(mode)})
    idx = _padded_index(mode)
    values = np.where(idx >= 0, v[np.maximum(idx, 0)], 0.7)
    adjoint = G + Q * values
    inside = idx >= 0
    expected = np.bincount(idx[inside], adjoint[inside], minlength=N)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_boundaries_agree_with_finite_differences(edges_1d, rng):
    inputs = {"v": rng.standard_normal(N), "G": rng.standard_normal(N + 2 * PAD),
              "Q": rng.standard_normal(N + 2 * PAD)}
    inputs.update({f"w_{m}": float(rng.standard_normal()) for m in MODES})
    check_grads(edges_1d, inputs, rng, n_dirs=4)


# ---- 3x3 convolution with each padding, vs torch and np.pad -------------------------

IMG = (7, 8)


@pytest.fixture(scope="module")
def conv():
    """out_k[y,x] = sum_{i,j} bc_k(img)[y+i-1, x+j-1] k[i,j]; L = sum_k w_k sum T*out_k**2."""
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    k = hg.ImageParam(F64, 2, "k")
    T = hg.ImageParam(F64, 2, "T")
    r = hg.RDom([(0, 3), (0, 3)], name="r")
    rr = hg.RDom([(0, IMG[0]), (0, IMG[1])], name="rr")
    total = None
    for mode in MODES:
        bc = _boundary(mode, img) if mode != "constant_exterior" else \
            hg.BoundaryConditions.constant_exterior(img, 0.0)
        out = hg.Func(f"conv_{mode}")
        out[y, x] = hg.f64(0.0)
        out[y, x] += bc[y + r[0] - 1, x + r[1] - 1] * k[r[0], r[1]]
        part = hg.Func(f"L_{mode}")
        part[()] = hg.f64(0.0)
        part[()] += T[rr[0], rr[1]] * out[rr[0], rr[1]] ** 2
        w = hg.Param(F64, f"w_{mode}", 0.0)
        total = w * part[()] if total is None else total + w * part[()]
    loss = hg.Func("loss")
    loss[()] = total
    return GradFn(loss, [img, k])


def _conv_inputs(rng):
    return {"img": rng.standard_normal(IMG), "k": rng.standard_normal((3, 3)),
            "T": rng.standard_normal(IMG)}


TORCH_PAD = {"constant_exterior": "constant", "repeat_edge": "replicate",
             "mirror_interior": "reflect"}


@pytest.mark.parametrize("mode", list(TORCH_PAD))
def test_conv_with_padding_matches_torch_conv2d(conv, rng, mode):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    inputs = _conv_inputs(rng)
    value, (g_img, g_k), _ = conv({**inputs, **_only(mode)})
    img = torch.tensor(inputs["img"], requires_grad=True)
    k = torch.tensor(inputs["k"], requires_grad=True)
    padded = F.pad(img[None, None], (1, 1, 1, 1), mode=TORCH_PAD[mode])
    out = F.conv2d(padded, k[None, None])[0, 0]
    loss = (torch.tensor(inputs["T"]) * out**2).sum()
    loss.backward()
    np.testing.assert_allclose(value, loss.item(), rtol=1e-12)
    np.testing.assert_allclose(g_img, img.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g_k, k.grad.numpy(), rtol=1e-10, atol=1e-12)


def _numpy_conv_loss(img, k, T, mode):
    p = np.pad(img, 1, mode=NP_MODE[mode]) if mode in NP_MODE else np.pad(img, 1)
    out = sum(p[i:i + IMG[0], j:j + IMG[1]] * k[i, j] for i in range(3) for j in range(3))
    return float(np.sum(T * out**2))


@pytest.mark.parametrize("mode", MODES)
def test_conv_with_padding_matches_np_pad_finite_differences(conv, rng, mode):
    """Independent of halogrid's forward: central differences of a NumPy reference."""
    inputs = _conv_inputs(rng)
    value, (g_img, g_k), _ = conv({**inputs, **_only(mode)})
    np.testing.assert_allclose(value, _numpy_conv_loss(**inputs, mode=mode), rtol=1e-12)
    for name, got in (("img", g_img), ("k", g_k)):
        expected = np.zeros_like(got)
        for idx in np.ndindex(*got.shape):
            hi, lo = dict(inputs), dict(inputs)
            hi[name] = inputs[name].copy()
            lo[name] = inputs[name].copy()
            hi[name][idx] += 1e-6
            lo[name][idx] -= 1e-6
            expected[idx] = (_numpy_conv_loss(**hi, mode=mode)
                             - _numpy_conv_loss(**lo, mode=mode)) / 2e-6
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=f"d{name}")


def test_all_paddings_agree_with_finite_differences(conv, rng):
    inputs = {**_conv_inputs(rng), **{f"w_{m}": float(rng.standard_normal()) for m in MODES}}
    check_grads(conv, inputs, rng, n_dirs=3)
