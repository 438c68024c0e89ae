"""The content-hashed compile cache: a second process with the same HALOGRID_CACHE_DIR
loads the compiled module instead of compiling; a corrupt cache file is recompiled; a
different pipeline never gets another pipeline's code. HALOGRID_DEBUG=1 logs
'cache miss' / 'cache hit'."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

import halogrid as hg

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import numpy as np
import halogrid as hg
y, x = hg.Var("y"), hg.Var("x")
inp = hg.ImageParam(hg.Float(32), 2, "inp")
edge = hg.BoundaryConditions.repeat_edge(inp)
f = hg.Func("cached_stage")
f[y, x] = edge[y, x - 1] * 2.0 + edge[y, x + 1]
fn = hg.Pipeline([f]).compile(target="cpu")
out = fn(inp=np.arange(6, dtype=np.float32).reshape(2, 3))
print("RESULT", out.ravel().tolist())
"""
EXPECTED = "RESULT [1.0, 2.0, 4.0, 10.0, 11.0, 13.0]"  # checked against NumPy below

MISS = re.compile(r"cache miss", re.IGNORECASE)
HIT = re.compile(r"cache hit", re.IGNORECASE)
REBUILT = re.compile(r"cache miss|unreadable|corrupt|rebuil", re.IGNORECASE)
PASS_TRACE = re.compile(r"\bafter \w+")   # HALOGRID_DEBUG=3: the IR after each lowering pass


def _run(cache_dir):
    env = dict(os.environ, HALOGRID_CACHE_DIR=str(cache_dir), HALOGRID_DEBUG="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_expected_result_of_the_cached_script():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    p = np.pad(a, ((0, 0), (1, 1)), mode="edge")
    want = p[:, :-2] * 2 + p[:, 2:]
    assert EXPECTED == "RESULT " + str(want.ravel().tolist())


def test_second_process_loads_from_cache_and_corrupt_files_are_recompiled(tmp_path):
    cache = tmp_path / "cache"
    out1, err1 = _run(cache)
    assert EXPECTED in out1
    assert MISS.search(err1), f"first run should log a cache miss:\n{err1}"
    assert any(p.is_file() for p in cache.rglob("*")), "nothing was written to the cache"

    out2, err2 = _run(cache)
    assert EXPECTED in out2
    assert not MISS.search(err2), f"second run recompiled:\n{err2}"
    assert HIT.search(err2), f"second run should log a cache hit:\n{err2}"

    for path in cache.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage, not a module\x00")
    out3, err3 = _run(cache)
    assert EXPECTED in out3, err3
    assert REBUILT.search(err3), f"a corrupt cache file should be recompiled:\n{err3}"


def _scale_pipeline(constant, name="scale"):
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    f = hg.Func(name)
    f[y, x] = inp[y, x] * constant + 0.5
    return hg.Pipeline([f])


def test_same_pipeline_built_twice_skips_lowering_in_process(monkeypatch, capfd, rng):
    """A warm start does no compiler work: at HALOGRID_DEBUG=3 every lowering pass
    traces its output, so a second compile of equal content must trace none."""
    monkeypatch.setenv("HALOGRID_DEBUG", "3")
    a = rng.random((3, 4), dtype=np.float32)
    capfd.readouterr()
    first = _scale_pipeline(1.25).compile(target="cpu")
    capfd.readouterr()
    second = _scale_pipeline(1.25).compile(target="cpu")   # new objects, same content
    log = capfd.readouterr().err
    assert not MISS.search(log) and not PASS_TRACE.search(log), log
    np.testing.assert_allclose(second(inp=a), first(inp=a), rtol=0)
    np.testing.assert_allclose(second(inp=a), a * 1.25 + 0.5, rtol=1e-6)


def test_pipelines_differing_in_one_constant_get_their_own_code(rng):
    a = rng.random((3, 4), dtype=np.float32)
    three = _scale_pipeline(3.0).compile(target="cpu")
    four = _scale_pipeline(4.0).compile(target="cpu")
    np.testing.assert_allclose(three(inp=a), a * 3 + 0.5, rtol=1e-6)
    np.testing.assert_allclose(four(inp=a), a * 4 + 0.5, rtol=1e-6)


def test_pipelines_that_share_a_loop_nest_share_its_compiled_kernel(tmp_path, monkeypatch, rng):
    """A stage that two pipelines both compute (the forward stages a gradient pipeline
    recomputes) is one kernel file, named by the hash of its text, and one compiled
    function; each pipeline's driver still computes its own values."""
    monkeypatch.setenv("HALOGRID_CACHE_DIR", str(tmp_path))
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    edge = hg.BoundaryConditions.repeat_edge(inp)
    blur = hg.Func("shared_blur")
    blur[y, x] = edge[y, x - 1] + edge[y, x] + edge[y, x + 1]
    alone = hg.Pipeline([blur]).auto_schedule().compile()
    doubled = hg.Func("doubled")
    doubled[y, x] = blur[y, x] * 2.0
    both = hg.Pipeline([blur, doubled]).auto_schedule().compile()
    shared = set(alone.meta["kernels"].values()) & set(both.meta["kernels"].values())
    assert shared, (alone.meta["kernels"], both.meta["kernels"])
    assert {p.name for p in tmp_path.glob("hg_k_*.py")} >= {f"hg_k_{d}.py" for d in shared}
    a = rng.random((5, 7), dtype=np.float32)
    p = np.pad(a, ((0, 0), (1, 1)), mode="edge")
    want = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    np.testing.assert_allclose(alone(inp=a), want, rtol=1e-6)
    out, twice = both(inp=a)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(twice, 2 * want, rtol=1e-6)


def test_compiling_one_pipeline_twice_hits_the_cache_and_leaves_its_funcs_as_written(
        tmp_path, monkeypatch, capfd, rng):
    """Lowering reads schedules without recording defaults on the user's Funcs (here
    the inlined boundary conditions and the adjoint's seed exterior), so the key of the
    same Pipeline object is the same after a compile and the second compile is a hit."""
    from halogrid.codegen import cache
    from halogrid.ir.graph import build_graph
    monkeypatch.setenv("HALOGRID_CACHE_DIR", str(tmp_path))  # the first compile lowers
    monkeypatch.setenv("HALOGRID_DEBUG", "1")
    y, x = hg.Var("y"), hg.Var("x")
    inp, k = hg.ImageParam(hg.Float(32), 2, "inp"), hg.ImageParam(hg.Float(32), 2, "k")
    edge = hg.BoundaryConditions.repeat_edge(inp)
    r = hg.RDom([(-1, 3), (-2, 5)], name="r")
    blur = hg.Func("blur_twice")
    blur[y, x] = hg.sum(edge[y + r[0], x + r[1] + 1] * k[r[0] + 1, r[1] + 2])
    seed = rng.random((5, 6), dtype=np.float32)
    pipeline = hg.Pipeline([hg.propagate_adjoints(blur, seed)[inp]])
    graph = build_graph(pipeline.outputs)
    schedules = [f.func_schedule for f in graph.funcs]
    key = cache.pipeline_key(graph, "cpu")
    capfd.readouterr()
    first = pipeline.compile()
    assert MISS.search(capfd.readouterr().err)
    assert [f.func_schedule for f in graph.funcs] == schedules
    assert cache.pipeline_key(build_graph(pipeline.outputs), "cpu") == key
    second = pipeline.compile()
    log = capfd.readouterr().err
    assert not MISS.search(log) and second.module is first.module, log  # the memory hit
    a, w = rng.random((5, 6), dtype=np.float32), rng.random((3, 5), dtype=np.float32)
    want = np.zeros((5, 6))  # d inp: each seed value times k, scattered to clamped reads
    for r0 in range(-1, 2):
        for r1 in range(-2, 3):
            rows = np.clip(np.arange(5)[:, None] + r0, 0, 4)
            cols = np.clip(np.arange(6)[None, :] + r1 + 1, 0, 5)
            np.add.at(want, (rows, cols), seed * w[r0 + 1, r1 + 2])
    np.testing.assert_allclose(first(inp=a, k=w), want, rtol=1e-5)
    np.testing.assert_array_equal(second(inp=a, k=w), first(inp=a, k=w))


def test_the_same_pipeline_built_twice_in_one_process_has_one_key():
    """RDoms are named from a counter (r3, then r15) and loop names carry them: the key
    uses each RDom's canonical id instead (a second build was a cache miss)."""
    from halogrid.codegen import cache
    from halogrid.ir.graph import build_graph

    def build():
        x = hg.Var("x")
        inp = hg.ImageParam(hg.Float(32), 1, "inp")
        r = hg.RDom([(0, 8)])
        s = hg.Func("s")
        s[x] = 0.0
        s[x] += inp[r.x] * x
        s.update().parallel(x).reorder(r.x, x)
        d = hg.propagate_adjoints(s, np.ones(4, np.float32))
        return [s, d[inp]]

    first, second = build(), build()
    assert cache.pipeline_key(build_graph(first), "cpu") == \
        cache.pipeline_key(build_graph(second), "cpu")
    other = build()
    other[0].update().unroll(other[0].definitions[1].rdoms[0].x, 2)
    assert cache.pipeline_key(build_graph(other), "cpu") != \
        cache.pipeline_key(build_graph(first), "cpu")
