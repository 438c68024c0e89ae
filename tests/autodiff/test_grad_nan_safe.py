"""Gradients through guarded selects stay finite: the untaken branch of a select
(sqrt, 1/x, x*log x, pow at 0, atan2 at the origin, n-ary selects, the norm of an
all-zero window) never puts NaN or Inf into a gradient, without the user writing a
"double where". Oracles: float64 central differences away from the singular points
(element by element), hand-derived values at them, and PyTorch's conventions for
atan2 and pow where the derivative is undefined."""

import numpy as np
import pytest

import halogrid as hg

from helpers import GradFn, numeric_grad

F64 = hg.Float(64)
F32 = hg.Float(32)
POINTS = np.array([-2.0, -0.5, 0.0, 0.0, 0.3, 1.0, 2.5, 4.0])


def _sum_loss(fn, *params):
    """loss = sum over r of fn(p[r] for p in params), a 0-D Func."""
    n = POINTS.size
    r = hg.RDom([(0, n)], name="r")
    value = fn(*[p[r.x] for p in params])
    loss = hg.Func("loss")
    loss[()] = hg.cast(value.type, 0)
    loss[()] += value
    return loss


def _grads(fn, inputs: dict, ptype=F64, extra_wrt=()):
    params = [hg.ImageParam(ptype, 1, name) for name in inputs]
    gfn = GradFn(_sum_loss(fn, *params), params + list(extra_wrt))
    _, grads, _ = gfn(inputs)
    return gfn, [np.asarray(g, np.float64) for g in grads]


def _check_away_from(gfn, grads, inputs, name, singular):
    """d[name] equals central differences wherever the input is not singular."""
    fd = numeric_grad(gfn.value, inputs, name, eps=1e-7)
    i = list(inputs).index(name)
    regular = ~singular
    np.testing.assert_allclose(grads[i][regular], fd[regular], rtol=1e-6, atol=1e-7)


GUARDED = {
    "sqrt": (lambda v: hg.select(v > 0, hg.sqrt(v), 0.0),
             lambda x: np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1)), 0)),
    "reciprocal": (lambda v: hg.select(v != 0, 1.0 / v, 0.0),
                   lambda x: np.where(x != 0, -1 / np.where(x != 0, x, 1) ** 2, 0)),
    "x_log_x": (lambda v: hg.select(v > 0, v * hg.log(v), 0.0),
                lambda x: np.where(x > 0, np.log(np.where(x > 0, x, 1)) + 1, 0)),
    "pow_half": (lambda v: hg.select(v > 0, hg.pow(v, 0.5), 0.0),
                 lambda x: np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1)), 0)),
    "nary": (lambda v: hg.select(v > 1, hg.log(v), v > 0, hg.sqrt(v), 0.0),
             lambda x: np.where(x > 1, 1 / np.where(x > 1, x, 1),
                                np.where(x > 0, 0.5 / np.sqrt(np.where(x > 0, x, 1)), 0))),
}


@pytest.mark.parametrize("case", sorted(GUARDED))
def test_guarded_branch_gradients_are_finite_and_exact(case):
    fn, want = GUARDED[case]
    inputs = {"x": POINTS.copy()}
    gfn, (g,) = _grads(fn, inputs)
    assert np.isfinite(g).all(), f"{case}: d x = {g}"
    np.testing.assert_allclose(g, want(POINTS), rtol=1e-12, atol=1e-12)
    _check_away_from(gfn, [g], inputs, "x", np.isin(POINTS, [0.0, 1.0]))


def test_float32_guarded_gradients_are_finite():
    fn, want = GUARDED["x_log_x"]
    x32 = POINTS.astype(np.float32)
    _, (g,) = _grads(fn, {"x": x32}, ptype=F32)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, want(x32.astype(np.float64)), rtol=1e-5, atol=1e-6)


def test_pow_partials_at_zero_follow_jax_and_torch():
    """d pow(x, p)/dp is 0 where x == 0 (not 0 * log 0); d/dx is p * x**(p-1)."""
    p = hg.Param(F64, "p", 2.5)
    inputs = {"x": np.abs(POINTS), "p": 2.5}
    x = hg.ImageParam(F64, 1, "x")
    gfn = GradFn(_sum_loss(lambda v: hg.pow(v, p), x), [x, p])
    _, (gx, gp), _ = gfn(inputs)
    ax = np.abs(POINTS)
    np.testing.assert_allclose(gx, 2.5 * ax ** 1.5, rtol=1e-12)
    want_p = np.sum(np.where(ax > 0, ax ** 2.5 * np.log(np.where(ax > 0, ax, 1)), 0))
    assert np.isfinite(gp) and float(gp) == pytest.approx(want_p, rel=1e-12)
    fd_p = numeric_grad(gfn.value, inputs, "p", eps=1e-7)
    assert float(gp) == pytest.approx(float(fd_p), rel=1e-6)
    _check_away_from(gfn, [gx, gp], inputs, "x", ax == 0)  # x < 0 has no real pow


def test_atan2_at_the_origin_has_zero_partials_like_torch():
    torch = pytest.importorskip("torch")
    ys = np.array([0.0, 0.0, 1.0, -2.0, 0.5, 0.7, 3.0, -1.0])  # off the cut y = 0, x < 0
    xs = np.array([0.0, 1.0, 0.0, -1.0, 2.0, -3.0, 0.2, 0.0])
    inputs = {"y": ys, "x": xs}
    gfn, (gy, gx) = _grads(lambda y, x: hg.atan2(y, x), inputs)
    ty, tx = (torch.tensor(v, requires_grad=True) for v in (ys, xs))
    torch.atan2(ty, tx).sum().backward()
    np.testing.assert_allclose(gy, ty.grad.numpy(), rtol=1e-12, atol=0)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=0)
    assert gy[0] == 0 and gx[0] == 0
    origin = (ys == 0) & (xs == 0)
    _check_away_from(gfn, [gy, gx], inputs, "y", origin)
    _check_away_from(gfn, [gy, gx], inputs, "x", origin)


def test_guard_in_another_func_than_the_singular_partial():
    """root = sqrt(x) is a Func of its own (stored): its adjoint is 0 where the
    consumer's guard is false, and 0 * sqrt'(0) must stay 0 across the Func boundary."""
    x = hg.ImageParam(F64, 1, "x")
    i = hg.Var("i")
    root = hg.Func("root")
    root[i] = hg.sqrt(x[i])
    root.compute_root()
    guarded = hg.Func("guarded")
    guarded[i] = hg.select(x[i] > 0, root[i], 0.0)
    r = hg.RDom([(0, POINTS.size)])
    loss = hg.Func("loss")
    loss[()] = hg.f64(0)
    loss[()] += guarded[r.x]
    gfn = GradFn(loss, [x])
    _, (g,), _ = gfn({"x": POINTS.copy()})
    want = GUARDED["sqrt"][1](POINTS)
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=0)


def test_guarded_norm_of_an_all_zero_window():
    img = np.random.default_rng(5).standard_normal((6, 7))
    img[1:5, 1:5] = 0.0  # windows centred at (2..3, 2..3) see only zeros
    inp = hg.ImageParam(F64, 2, "img")
    y, x = hg.Var("y"), hg.Var("x")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(-1, 3), (-1, 3)], name="w")
    sq = hg.Func("sq")
    sq[y, x] = hg.sum(clamped[y + r.y, x + r.x] ** 2)
    norm = hg.Func("norm")
    norm[y, x] = hg.select(sq[y, x] > 0, hg.sqrt(sq[y, x]), 0.0)
    rr = hg.RDom([(0, 6), (0, 7)])
    loss = hg.Func("loss")
    loss[()] = hg.f64(0)
    loss[()] += norm[rr[0], rr[1]]
    gfn = GradFn(loss, [inp])
    inputs = {"img": img}
    _, (g,), _ = gfn(inputs)
    assert np.isfinite(g).all(), g
    # every window a pixel contributes to is either all-zero (no gradient) or has
    # n > 0 (smooth there): central differences agree everywhere
    fd = numeric_grad(gfn.value, inputs, "img", eps=1e-7)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)
    assert np.all(g[2:4, 2:4] == 0)
