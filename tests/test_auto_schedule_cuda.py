"""auto_schedule(target="cuda") changes how, never what: the benchmark workloads' algorithms
(W1-W7 of benchmarks/workloads.py, forward and forward + gradient, at small sizes)
auto-scheduled for CUDA and compiled for the CPU (where gpu_block loops run as parallel
loops and gpu_thread loops as serial ones) give the forward's NumPy float64 reference
and the default schedule's gradients; and the schedules are the documented ones: every
stored stage with loops has its gpu_block loops outermost (no stage left to the host),
pure stages tiled 2-D, pointwise reductions in thread-local memory, stencil producers
in a block's tile, reductions into fixed cells factored, scatters atomic, and
directives the user set kept."""

import numpy as np
import pytest

import halogrid as hg
from benchmarks import workloads
from benchmarks.peers import halogrid_impl as impl
from benchmarks.peers import numpy_ref
from halogrid.ir.graph import build_graph
from halogrid.schedule.defaults import is_stored, schedule_of
from jit_off import python_kernels

SIZES = {"W4": (32, 32)}   # W4's grid has h/16 x w/16 cells


def _inputs(name: str) -> dict:
    if name == "W2":   # its fixed 16x256x256 shape, shrunk to 16 channels of 10x12
        rng = np.random.default_rng(0)
        return {"inp": rng.standard_normal((16, 10, 12)).astype(np.float32),
                "k": (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32),
                "target": rng.standard_normal((16, 10, 12)).astype(np.float32)}
    return workloads.WORKLOADS[name].make_inputs(*SIZES.get(name, (16, 16)))


def _pipeline(name: str, grad: bool):
    """(pipeline, inputs -> output shapes) of workload `name`: its forward outputs, or
    its loss and the adjoints of its gradient inputs."""
    algorithm, wrt, n_fwd = impl.SPECS[name]
    params, outs, loss = algorithm()
    if not grad:
        return hg.Pipeline(outs), lambda i: [i["target"].shape] + [(64,)] * (n_fwd - 1)
    d = hg.propagate_adjoints(loss)
    return (hg.Pipeline([loss] + [d[params[n]] for n in wrt]),
            lambda i: [()] + [i[n].shape for n in wrt])


def _run(pipeline, shapes, inputs) -> tuple:
    fn = pipeline.compile()
    out = fn(shapes=shapes(inputs), **{k: v for k, v in inputs.items() if k in fn.input_names})
    return out if isinstance(out, tuple) else (out,)


def _gpu_layout(pipeline) -> list:
    """Problems with the CUDA schedule of every stored stage, as text (none: []): a
    stage with loops and no gpu_block loops outermost, or with no gpu_thread loops
    (but a factored reduction's partial loop, which the backend spreads over threads
    itself)."""
    graph = build_graph(pipeline.outputs)
    problems = []
    for f in graph.funcs:
        if not is_stored(f, graph.outputs) or f.kind == "extern":
            continue
        where = schedule_of(f)
        if where.compute == "at":   # at a GPU loop of its consumer, or inside one
            consumer, loop = where.compute_at
            s = consumer.definitions[0].schedule
            if not any(s.kinds.get(n) in ("gpu_block", "gpu_thread")
                       for n in s.dims[:s.dims.index(loop) + 1]):
                problems.append(f"{f.name} computed at {consumer.name}.{loop}")
            continue
        for i, d in enumerate(f.definitions):
            s = d.schedule
            dims = [] if s is None else s.dims
            if not dims and (d.args or d.rdoms) and (i == 0 or d.rdoms):
                problems.append(f"{f.name}[{i}] has no schedule")
                continue
            kinds = [s.kinds.get(n) for n in dims] if dims else []
            blocks = kinds.count("gpu_block")
            if dims and (blocks == 0 or kinds[:blocks] != ["gpu_block"] * blocks
                         or "gpu_thread" not in kinds and s.rfactor is None):
                problems.append(f"{f.name}[{i}] loops {list(zip(dims, kinds))}")
    return problems


def _close(got, want, what):
    for k, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(1.0, float(np.abs(b).max()))
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-4 * scale,
                                   err_msg=f"{what}: output {k}")


@pytest.mark.parametrize("name", sorted(impl.SPECS))
def test_forward_equals_numpy(name):
    inputs = _inputs(name)
    pipeline, shapes = _pipeline(name, grad=False)
    pipeline.auto_schedule("cuda")
    assert _gpu_layout(pipeline) == []
    want = getattr(numpy_ref, f"fwd_{name.lower()}")(inputs)
    _close(_run(pipeline, shapes, inputs), want if isinstance(want, tuple) else (want,),
           name)


@pytest.mark.parametrize("name", sorted(impl.SPECS))
def test_gradient_equals_the_default_schedule(name):
    inputs = _inputs(name)
    auto, shapes = _pipeline(name, grad=True)
    auto.auto_schedule("cuda")
    assert _gpu_layout(auto) == []
    got = _run(auto, shapes, inputs)   # first: Numba's helpers must compile as Numba
    default, _ = _pipeline(name, grad=True)
    with python_kernels():
        _close(got, _run(default, shapes, inputs), name)


def _loops(f, index=0) -> dict:
    """loop name -> kind ('-' serial) of f's definition `index`, outermost first."""
    s = f.definitions[index].schedule
    return {n: s.kinds.get(n, "-") for n in s.dims}


def _funcs(pipeline) -> dict:
    return {f.name: f for f in build_graph(pipeline.outputs).funcs}


def test_the_schedules_it_picks():
    fwd, _ = _pipeline("W1", grad=False)
    fwd.auto_schedule("cuda")
    f = _funcs(fwd)
    # out: 32x8 thread tiles, x (contiguous) the .x axis; its hg.sum in each thread (at
    # out's innermost loop)
    assert _loops(f["out"]) == {"y.blk": "gpu_block", "x.blk": "gpu_block",
                                "y.thr": "gpu_thread", "x.thr": "gpu_thread"}
    assert f["out"].definitions[0].schedule.const_extent["x.thr"] == 32
    assert schedule_of(f["sum"]).compute_at == (f["out"], "x.thr")
    grad, _ = _pipeline("W1", grad=True)
    grad.auto_schedule("cuda")
    g = _funcs(grad)
    # the conv's update over its 3x3 taps: the image on the grid, the taps serial inside
    assert list(_loops(g["sum"], 1).values()) == ["gpu_block"] * 2 + ["gpu_thread"] * 2 + ["-"] * 2
    # the loss and d k (3x3 cells) reduce the image: factored, one partial per block,
    # d k's nine cells that block's threads
    assert g["loss"].definitions[1].schedule.rfactor is not None
    assert list(_loops(g["d_k"], 1).values()) == ["gpu_block", "gpu_thread", "gpu_thread", "-"]
    assert not g["d_k"].definitions[1].schedule.atomic
    w6, _ = _pipeline("W6", grad=False)
    w6.auto_schedule("cuda")
    hist = _funcs(w6)["hist"]   # 64 bins: atomic adds, which the backend privatises
    assert hist.definitions[1].schedule.atomic
    assert list(_loops(hist, 1).values()) == ["gpu_block"] * 2 + ["gpu_thread"] * 2
    w7, _ = _pipeline("W7", grad=False)
    w7.auto_schedule("cuda")
    grid = _funcs(w7)["grid"]
    # the splat scatters into a grid of a run-time size: atomic adds over the pixels,
    # the 8 corners and the 2 channels serial in each thread
    assert grid.definitions[1].schedule.atomic
    assert list(_loops(grid, 1).values())[4:] == ["-"] * 4


def test_an_expensive_stencil_producer_is_tiled_per_block():
    x, y = hg.Var("x"), hg.Var("y")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    g = hg.Func("g")
    g[y, x] = hg.sin(c[y, x]) * hg.cos(c[y, x]) + hg.exp(c[y, x] * 0.5) / (1 + c[y, x] ** 2)
    out = hg.Func("out")
    out[y, x] = g[y - 1, x] + g[y, x - 1] + g[y + 1, x + 1]
    p = hg.Pipeline(out).auto_schedule("cuda")
    assert schedule_of(g).compute_at == (out, "x.blk")   # shared memory: the innermost block loop
    assert out.definitions[0].schedule.const_extent["x.thr"] == 16   # square tiles
    a = np.random.default_rng(1).random((21, 35)).astype(np.float32).astype(np.float64)
    gv = np.sin(a) * np.cos(a) + np.exp(a * 0.5) / (1 + a ** 2)
    pad = np.pad(gv, 1, mode="edge")
    want = pad[:-2, 1:-1] + pad[1:-1, :-2] + pad[2:, 2:]
    got = p.compile()(inp=a.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_user_schedules_are_kept():
    x, y = hg.Var("x"), hg.Var("y")
    params, (out,), loss = impl.w3()
    out.gpu_tile(x, y, hg.Var("xo"), hg.Var("yo"), hg.Var("xi"), hg.Var("yi"), 8, 4)
    before = _loops(out)
    funcs = _funcs(hg.Pipeline(out))
    funcs["bx_edge"].compute_root()
    hg.Pipeline(out).auto_schedule("cuda")
    assert _loops(out) == before
    assert schedule_of(funcs["bx"]).compute == "root"    # as w3 wrote it
    assert "gpu_block" in _loops(funcs["bx"]).values()   # scheduled: the user set no loops
    assert "gpu_block" in _loops(funcs["bx_edge"]).values()


def test_a_producer_the_user_computes_at_a_consumer_loop_keeps_its_loops():
    x, y = hg.Var("x"), hg.Var("y")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    g, out = hg.Func("g"), hg.Func("out")
    g[y, x] = inp[y, x] * 2.0
    out[y, x] = g[y, x] + g[y, x + 1]
    out.gpu_tile(x, y, hg.Var("xo"), hg.Var("yo"), hg.Var("xi"), hg.Var("yi"), 16, 16)
    g.compute_at(out, "xo")
    hg.Pipeline(out).auto_schedule("cuda")
    assert g.definitions[0].schedule is None   # no block loops nested in out's blocks
    assert schedule_of(g).compute_at == (out, "xo")
