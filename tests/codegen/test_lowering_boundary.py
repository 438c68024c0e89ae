"""The backend boundary of codegen: lower(outputs, target) -> Module, passes with one
shape checked after each, Target policies, and a Pipeline that never goes stale."""

import inspect

import numpy as np
import pytest

import halogrid as hg
from halogrid.codegen import lower as lower_module
from halogrid.codegen.lower import Module, lower
from halogrid.codegen.stmt import Launch, Let, walk
from halogrid.codegen.target import Target, get_target

x, y = hg.Var("x"), hg.Var("y")


def _blur():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    f = hg.Func("blur")
    f[y, x] = (c[y, x - 1] + c[y, x] + c[y, x + 1]) / 3
    return inp, f


def test_lower_returns_host_statements_that_launch_every_kernel():
    _, f = _blur()
    m = lower([f], "cpu")
    assert isinstance(m, Module) and m.target == Target("cpu")
    launched = sorted(t.kernel for t in walk(m.host) if isinstance(t, Launch))
    assert launched == list(range(len(m.kernels))) and m.kernels
    assert "for " in m.text() and "launch kernel" not in m.text()  # the loop nest, not the host


def test_every_pass_has_the_pass_shape():
    names = ["build_loops", "extern_stages", "partition_loops", "flatten_storage",
             "simplify_stmt", "cse", "licm", "dedupe_lets"]
    for name in names:
        params = list(inspect.signature(getattr(lower_module, name)).parameters)
        assert params[:2] in (["s", "ctx"], ["s", "lower_ctx"]), (name, params)
    source = inspect.getsource(lower_module.lower)
    order = [source.index(f"run({n}") for n in names] + [source.index("run(_outliner")]
    assert order == sorted(order)  # listed in order, outlining last


def test_the_checker_names_the_pass_that_broke_the_loop_nest(monkeypatch):
    _, f = _blur()
    stray = hg.Var("stray")

    def broken(s, ctx=None):
        return Let(hg.Var("bad"), stray + 1) if s is not None else s
    monkeypatch.setattr(lower_module, "cse", broken)
    with pytest.raises(hg.InternalError, match="after broken: unbound stray"):
        lower([f], "cpu")


def test_unknown_target_and_target_values():
    with pytest.raises(hg.InputError, match="known targets are cpu, cuda"):
        get_target("metal")
    t = get_target("cpu", deterministic=True)
    assert not t.atomics and t.chunks() == 8 and t.key_text() == "cpu/deterministic"
    assert get_target("cuda").loop_kind("parallel") == "gpu_block"
    assert get_target("cpu").loop_kind("gpu_block") == "parallel"
    assert get_target("cpu").loop_kind("gpu_thread") == "serial"


def test_a_schedule_set_after_source_lowers_again_and_compiles_the_new_one(rng):
    inp, f = _blur()
    p = hg.Pipeline(f)
    before = p.source()
    assert "launch(" not in before           # one serial kernel
    f.parallel(y)
    after = p.source()
    assert after != before and "launch(" in after
    img = rng.random((40, 30), dtype=np.float32)
    out = p.compile()(inp=img)
    assert "launch(" in p.source()
    ref = hg.Pipeline(_blur()[1]).compile()(inp=img)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_cuda_source_needs_no_gpu_and_maps_unscheduled_stages():
    inp, f = _blur()
    src = hg.Pipeline(f).source(target="cuda")
    assert "@cuda.jit(cache=True)" in src
    assert "cuda.blockIdx.x" in src and "cuda.threadIdx.x" in src
    assert "blur" not in src.split("import")[0]  # names are identifiers, not user strings


def test_deterministic_and_default_are_different_cache_entries():
    bins = hg.ImageParam(hg.UInt(8), 1, "bins")
    r = hg.RDom([(0, 64)])
    h = hg.Func("h")
    h[x] = 0.0
    h[hg.i32(bins[r]) % 8] += 1.0
    h.update().atomic().parallel(r)
    p = hg.Pipeline(h)
    assert "_hg_atomic_add(" in p.source()
    m = p.lower("cpu", deterministic=True)
    assert not any("Atomic" in type(t).__name__ for k in m.kernels for t in walk(k.body))
    data = (np.arange(64) * 7 % 256).astype(np.uint8)
    a = p.compile()(bins=data, shapes=[(8,)])
    b = p.compile(deterministic=True)(bins=data, shapes=[(8,)])
    np.testing.assert_array_equal(a, np.bincount(data % 8, minlength=8).astype(np.float32))
    np.testing.assert_array_equal(b, a)
