"""Long runs and many threads: a compiled pipeline called from 8 threads at once gives
each caller its own right answer (its first call included), and a loop that builds,
lowers and compiles pipelines for ever runs in bounded memory (the intern table holds
only live nodes, the simplifier's memo is bounded)."""

import gc
import os
import threading

import numpy as np

import halogrid as hg
from halogrid.codegen import cache
from halogrid.ir import expr, simplify
from halogrid.ir.graph import build_graph

THREADS = 8


def _threaded_pipeline():
    """A parallel stencil of a Param-scaled input and a sum over all of it."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain = hg.Param(hg.Float(32), "gain", 1.0)
    edge = hg.BoundaryConditions.repeat_edge(inp)
    blur = hg.Func("threads_blur")
    blur[y, x] = (edge[y - 1, x] + edge[y, x] * 2.0 + edge[y + 1, x]) * gain
    blur.parallel(y)
    r = hg.RDom([(0, inp.height()), (0, inp.width())])
    total = hg.Func("threads_total")
    total[()] = 0.0
    total[()] += blur[r[0], r[1]]
    return hg.Pipeline([blur, total])


def _reference(a: np.ndarray, gain: float):
    p = np.pad(a.astype(np.float64), ((1, 1), (0, 0)), mode="edge")
    blur = (p[:-2] + 2 * p[1:-1] + p[2:]) * gain
    return blur, blur.sum()


def test_a_compiled_pipeline_called_from_8_threads_at_once_is_right_for_each(rng):
    fn = _threaded_pipeline().compile()  # its first call (which compiles) is threaded too
    images = [rng.random((96 + 8 * i, 400), dtype=np.float32) for i in range(THREADS)]
    results: dict = {}
    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> None:
        barrier.wait()
        for round_ in range(3):
            results[i, round_] = fn(inp=images[i], gain=0.5 + i, shapes=[images[i].shape, ()])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert len(results) == 3 * THREADS
    for (i, _), (blur, total) in results.items():
        want_blur, want_total = _reference(images[i], 0.5 + i)
        np.testing.assert_allclose(blur, want_blur, rtol=1e-5, err_msg=f"thread {i}")
        np.testing.assert_allclose(total, want_total, rtol=1e-4, err_msg=f"thread {i}")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _small_pipeline(i: int):
    """A new small pipeline: its constants differ from every other i's."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    edge = hg.BoundaryConditions.repeat_edge(inp)
    f = hg.Func("mem_f")
    f[y, x] = (edge[y, x - 1] + edge[y, x + 1 + i % 5]) * (0.25 + i)
    return hg.Pipeline([f])


def _scaled_pipeline():
    """The same pipeline at every build: scaled by a Param (the training loop's kind)."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    w = hg.Param(hg.Float(32), "w", 1.0)
    f = hg.Func("mem_scaled")
    f[y, x] = inp[y, x] * w + 1.0
    return hg.Pipeline([f])


def test_the_same_pipeline_with_a_param_built_twice_has_one_cache_key():
    keys = {cache.pipeline_key(build_graph(_scaled_pipeline().outputs), "cpu")
            for _ in range(2)}
    assert len(keys) == 1  # a Param's per-object uid is not part of the key


def test_building_2000_pipelines_runs_in_bounded_memory():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for i in range(2000):
        _small_pipeline(i).source()            # lowering and code generation, all new
        got = _scaled_pipeline().compile()(inp=a, w=float(i))  # compiled once, then hits
        np.testing.assert_array_equal(got, a * np.float32(i) + 1)
        if i == 200:
            gc.collect()
            rss, nodes = _rss_mb(), len(expr._INTERNED)
    gc.collect()
    # before: +220 MB and 378,000 interned nodes over the last 1,800 pipelines
    assert _rss_mb() - rss < 40, (rss, _rss_mb())
    assert len(expr._INTERNED) < nodes + 2 * simplify.MEMO_LIMIT, (nodes, len(expr._INTERNED))
    assert len(simplify._SIMPLIFIED) <= simplify.MEMO_LIMIT + 1000
