"""Kernels of a new pipeline compile in two processes (codegen/compile_jobs.py): the
values never depend on it, the helper's kernels come from Numba's cache, and a failing
helper only means this process compiles them itself."""

import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen.backends.cpu import compile_jobs

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"),
                                reason="compile jobs need os.fork (not on Windows)")


def _blur_and_sum(tag: str):
    """A pipeline of several kernels; `tag` names a Func so each test builds a module
    of its own (a cache hit would skip the parallel compile)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    bx = hg.Func(f"bx_{tag}")
    bx[y, x] = clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]
    out = hg.Func("out")
    out[y, x] = bx[y - 1, x] + bx[y, x] + bx[y + 1, x]
    r = hg.RDom(inp)
    total = hg.Func("total")
    total[()] = hg.f32(0)
    total[()] += out[r.x, r.y]
    return hg.Pipeline([out, total]).auto_schedule()


def _check_values(compiled, shape, rng) -> None:
    """Run `compiled` on a random image and compare with NumPy."""
    img = rng.random(shape, dtype=np.float32)
    out, total = compiled(inp=img, shapes=[shape, ()])
    padded = np.pad(img, 1, mode="edge")
    bx = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    expected = bx[:-2] + bx[1:-1] + bx[2:]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(total, expected.sum(dtype=np.float64), rtol=1e-5)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HALOGRID_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HALOGRID_COMPILE_JOBS", "2")
    monkeypatch.setattr(compile_jobs, "_usable_cpus", lambda: 2)


def _kernels(compiled):
    return {n: k for n, k in vars(compiled.module).items() if n.startswith("kernel_")}


def test_signatures_are_recorded_without_running_a_kernel(fresh_cache, rng):
    compiled = _blur_and_sum("sig").compile()
    img = rng.random((37, 29), dtype=np.float32)
    # run(img, its window (min, max, extent) per dim, the output's origin and extents, threads)
    args = (img, 0, 36, 37, 0, 28, 29, 0, 0, 37, 29, 2)
    jobs = compile_jobs.signatures(compiled.module, args, lambda reads: None)
    assert {id(k) for k, _ in jobs} == {id(k) for k in _kernels(compiled).values()}
    assert all(not k.overloads for k, _ in jobs)
    for kernel, sig in jobs:
        assert all(str(t).startswith(("int", "array(float32", "float"))
                   for t in sig), (kernel, sig)


def test_a_new_pipeline_compiles_in_two_processes_with_the_same_values(fresh_cache, rng):
    compiled = _blur_and_sum("two").compile()
    _check_values(compiled, (37, 29), rng)
    hits = sum(sum(k.stats.cache_hits.values()) for k in _kernels(compiled).values())
    assert hits >= 1, "the helper's kernels should load from Numba's cache"


def test_a_failing_helper_leaves_the_kernels_to_this_process(fresh_cache, monkeypatch, rng):
    class Broken:
        def compile(self, sig):
            raise RuntimeError("helper failure")

    real_split = compile_jobs._split
    monkeypatch.setattr(compile_jobs, "_split",
                        lambda jobs: (real_split(jobs)[0], [(Broken(), ())]))
    compiled = _blur_and_sum("broken").compile()
    _check_values(compiled, (23, 31), rng)
