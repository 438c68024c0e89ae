"""Bounds inference stays linear in the size of the pipeline: chained stencils under the
default (inlining) schedule give bounds lets and input checks that grow by a constant
per stage, and the pipelines compile and match NumPy at every depth."""

import numpy as np
import pytest

import halogrid as hg
from halogrid.ir import bounds
from halogrid.ir.printer import expr_text

TAPS = (-1, 0, 1, 2)


def _chain(depth: int, clamp_every_stage: bool):
    """`depth` 4-tap stencils along x, each reading the previous stage: clamped at
    every stage (4^depth distinct index expressions), or through repeat_edge of the
    input only."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    y, x = hg.Var("y"), hg.Var("x")
    last_x = inp.width() - 1
    prev = inp if clamp_every_stage else hg.BoundaryConditions.repeat_edge(inp)
    for k in range(depth):
        f = hg.Func(f"stencil{k}")
        at = (lambda t: hg.clamp(x + t, 0, last_x)) if clamp_every_stage else (lambda t: x + t)
        f[y, x] = 0.25 * (prev[y, at(-1)] + prev[y, at(0)] + prev[y, at(1)] + prev[y, at(2)])
        prev = f
    return inp, prev


def _reference(a: np.ndarray, depth: int, clamp_every_stage: bool) -> np.ndarray:
    """The chain in float64 (the input edge-padded once when only it is clamped)."""
    pad = (0, 0) if clamp_every_stage else (depth * 1, depth * 2)
    out = np.pad(a.astype(np.float64), ((0, 0), pad), mode="edge")
    cols = np.arange(out.shape[1])
    for _ in range(depth):
        out = 0.25 * sum(out[:, np.clip(cols + t, 0, out.shape[1] - 1)] for t in TAPS)
    return out[:, pad[0]:pad[0] + a.shape[1]]


def _bounds_text_size(out, inp) -> int:
    """Characters of every bounds let and input-read interval of `out` alone stored."""
    result = bounds.infer([out], {id(out): bounds.stages_of(out)}, [out], [inp])
    texts = [expr_text(e) for _, e in result.lets]
    texts += [expr_text(e) for *_, iv in result.input_reads for e in (iv.min, iv.max)]
    return sum(len(t) for t in texts)


def _driver(source: str) -> str:
    return source[source.index("def run("):]


def test_bounds_of_stencils_clamped_at_every_stage_grow_linearly():
    sizes = [_bounds_text_size(*reversed(_chain(d, True))) for d in range(2, 9)]
    steps = np.diff(sizes)
    # every stage adds the same lets (its region, as the union of its 4 call sites)
    assert steps.max() <= 1.2 * steps.min(), sizes
    assert sizes[-1] < 8 * sizes[0], sizes


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_stencils_clamped_at_every_stage_compile_and_match_numpy(depth, rng):
    inp, out = _chain(depth, True)
    a = rng.random((5, 23), dtype=np.float32)
    got = hg.Pipeline([out]).compile()(inp=a)
    np.testing.assert_allclose(got, _reference(a, depth, True), rtol=1e-5, atol=1e-6)


def test_stencil_chains_depth_2_to_8_compile_with_linear_drivers_and_match_numpy(rng):
    a = rng.random((4, 29), dtype=np.float32)
    drivers, sources = [], []
    for depth in range(2, 9):
        inp, out = _chain(depth, False)
        p = hg.Pipeline([out])
        source = p.source()
        compile(source, "<generated>", "exec")  # parses: no runaway nesting
        drivers.append(len(_driver(source)))
        sources.append(len(source))
        np.testing.assert_allclose(p.compile()(inp=a), _reference(a, depth, False),
                                   rtol=1e-5, atol=1e-6, err_msg=f"depth {depth}")
    steps = np.diff(drivers)
    assert steps.max() <= 1.2 * steps.min(), drivers
    # the kernel computes one value per distinct (stage, offset): quadratic in the
    # depth for a stencil chain under inlining, never exponential
    assert sources[6] < 4 * sources[2], sources
