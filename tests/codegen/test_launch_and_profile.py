"""The driver/kernel split of the CPU backend: the thread-pool launcher covers every
iteration exactly once, kernels are plain njit functions (no prange unless a parallel
loop is nested in a serial one), and CompiledPipeline.profile times each kernel."""

import threading

import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen.backends.cpu import launch


def _recording_kernel():
    seen, lock = [], threading.Lock()

    def kernel(lo, hi, out):
        with lock:
            seen.append((lo, hi, threading.get_ident()))
        out[lo:hi] += 1
    return kernel, seen


@pytest.mark.parametrize("lo, hi, threads", [(0, 10, 2), (3, 4, 2), (-5, 7, 3), (0, 1000, 4)])
def test_parallel_launch_covers_the_range_once_in_disjoint_chunks(lo, hi, threads):
    kernel, seen = _recording_kernel()
    out = np.zeros(hi - lo + 10, np.int64)
    shifted = lambda a, b, buf: kernel(a - lo, b - lo, buf)  # noqa: E731 (index from 0)
    launch.parallel(threads)(shifted, lo, hi, (out,))
    assert out[:hi - lo].tolist() == [1] * (hi - lo) and not out[hi - lo:].any()
    assert len(seen) == min(threads, hi - lo)


def test_empty_ranges_run_nothing_and_errors_reach_the_caller():
    kernel, seen = _recording_kernel()
    launch.parallel(2)(kernel, 5, 5, (np.zeros(1),))
    launch.serial(kernel, 5, 2, (np.zeros(1),))
    assert seen == []

    def failing(lo, hi):
        if lo > 0:
            raise ValueError("chunk failed")
    with pytest.raises(ValueError, match="chunk failed"):
        launch.parallel(2)(failing, 0, 10, ())


def _blur_pipeline():
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    bx, out = hg.Func("bx"), hg.Func("out")
    bx[y, x] = clamped[y, x - 1] + clamped[y, x] + clamped[y, x + 1]
    out[y, x] = bx[y - 1, x] + bx[y, x] + bx[y + 1, x]
    bx.compute_root().parallel(y)
    out.parallel(y)
    return hg.Pipeline(out)


def test_parallel_loops_become_chunked_kernels_without_prange():
    source = _blur_pipeline().source()
    assert "prange(" not in source
    assert "def kernel_bx_0(chunk_lo, chunk_hi" in source
    assert "def kernel_out_0(chunk_lo, chunk_hi" in source
    assert "launch(kernel_bx_0" in source and "def run(" in source


def test_profile_names_every_kernel_and_restores_them(monkeypatch, rng):
    monkeypatch.setenv("HALOGRID_PARALLEL_MIN_WORK", "0")
    fn = _blur_pipeline().compile()
    a = rng.random((40, 30), dtype=np.float32)
    expected = fn(inp=a)
    rows = fn.profile(inp=a)
    assert sorted(name for name, _, _ in rows) == ["kernel_bx_0", "kernel_out_0"]
    assert all(calls == 1 and seconds >= 0 for _, calls, seconds in rows)
    assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
    np.testing.assert_array_equal(fn(inp=a), expected)  # real kernels back in place
    assert type(fn.module.kernel_bx_0).__name__ != "Timed"
