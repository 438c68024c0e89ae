"""Property: for random pipelines of 1-4 stages (stencils, pointwise math, resampling,
reductions) after a random boundary condition, the adjoints agree with float64 finite
differences along random directions. Each example compiles one pipeline, so the
example count is kept small."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import halogrid as hg
from helpers import F64, GradFn, check_grads

SHAPE, OUT = (6, 7), (4, 4)

POINTWISE = {
    "tanh": hg.tanh,
    "sin": hg.sin,
    "square": lambda e: e * e * 0.5,
    "softplus": lambda e: hg.log(1.0 + hg.exp(e)),
    "abs": hg.abs,
    "leaky_relu": lambda e: hg.max(e, e * 0.1),
    "gauss": lambda e: hg.exp(-e * e),
    "sqrt": lambda e: hg.sqrt(e * e + 1.0),
}
BOUNDARIES = ["repeat_edge", "constant_exterior", "mirror_image", "mirror_interior"]

offsets = st.tuples(st.integers(-1, 1), st.integers(-1, 1))
stage = st.one_of(
    st.tuples(st.just("stencil"), st.lists(st.tuples(offsets, st.floats(-1, 1)), min_size=1,
                                            max_size=3)),
    st.tuples(st.just("pointwise"), st.sampled_from(sorted(POINTWISE))),
    st.tuples(st.just("downsample"), st.booleans()),
    st.tuples(st.just("upsample"), st.sampled_from([2, 4])),
    st.tuples(st.just("reduce"), st.sampled_from(["sum", "maximum", "minimum", "product"])),
)


def _apply(kind, arg, cur, y, x, k):
    g = hg.Func(f"stage{k}_{kind}")
    if kind == "stencil":
        g[y, x] = sum((cur[y + dy, x + dx] * w for (dy, dx), w in arg[1:]),
                      cur[y + arg[0][0][0], x + arg[0][0][1]] * arg[0][1])
    elif kind == "pointwise":
        g[y, x] = POINTWISE[arg](cur[y, x])
    elif kind == "downsample":
        g[y, x] = (cur[2 * y, 2 * x] + cur[2 * y + 1, 2 * x + int(arg)]) * 0.5
    elif kind == "upsample":
        g[y, x] = cur[y // arg, x // arg] if arg == 2 else cur[y // arg, x]
    else:
        r = hg.RDom([(-1, 3)], name=f"r{k}")
        reduce = getattr(hg, arg)
        g[y, x] = reduce(cur[y + r.x, x] * 0.5 + 0.75) if arg == "product" else reduce(cur[y, x + r.x])
    return g


def _build(boundary, stages):
    y, x = hg.Var("y"), hg.Var("x")
    img = hg.ImageParam(F64, 2, "img")
    T = hg.ImageParam(F64, 2, "T")
    cur = getattr(hg.BoundaryConditions, boundary)(img)
    for k, (kind, arg) in enumerate(stages):
        cur = _apply(kind, arg, cur, y, x, k)
    r = hg.RDom([(0, OUT[0]), (0, OUT[1])], name="rl")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += T[r[0], r[1]] * cur[r[0], r[1]] + 0.1 * cur[r[0], r[1]] ** 2
    return GradFn(loss, [img])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(boundary=st.sampled_from(BOUNDARIES), stages=st.lists(stage, min_size=1, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_random_pipelines_agree_with_finite_differences(boundary, stages, seed):
    rng = np.random.default_rng(seed)
    gfn = _build(boundary, stages)
    inputs = {"img": rng.standard_normal(SHAPE), "T": rng.standard_normal(OUT)}
    check_grads(gfn, inputs, rng, n_dirs=3, rtol=1e-5, atol=1e-8)
