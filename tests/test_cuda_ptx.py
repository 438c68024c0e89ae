"""Every CUDA kernel compiles to PTX for sm_90 (numba.cuda.compile_ptx: numba-cuda's
typing and NVVM, no GPU and no simulator), which catches typing errors that the
simulator, running kernels as Python, does not (issue 10, part 3).

Covered: every kernel of the benchmark workloads W1-W7, forward and forward+gradient,
under the default schedule and auto_schedule(target="cuda"); and kernels with the
trickier constructs (shared memory from compute_at at a gpu block loop, local arrays,
global scratch slices per block, atomics on float32/float64/int32 at 0-D, 1-D and 2-D
indices, privatised and deterministic scatters, rounding intrinsics, integer division
helpers, bool buffers, tuple Funcs, Params of every kind, 0-D outputs, 3-D thread
blocks), each checked to contain its construct. About 100 CPU-seconds in all (230
distinct kernels at 0.1-3 s each, most of it numba's typing and lowering, not NVVM).

Oracles: a kernel's static signature (ptx.signature) equals the numba types of the
arguments the generated driver passes it (the driver run on the host with NumPy
stand-ins for device buffers, launches recorded, nothing executed); the PTX targets
sm_90 and has one entry whose parameters are those of that signature in numba's ABI.
Kernels compile in a pool of spawned processes (one per CPU, at most 2), each distinct
(source, signature) once for the whole file.
"""

import multiprocessing
import os
import re
import types
from concurrent.futures import ProcessPoolExecutor

import numba
import numpy as np
import pytest

pytest.importorskip("numba_cuda", reason="the cuda extra: pip install -e '.[cuda]'")

import halogrid as hg  # noqa: E402
from benchmarks.peers import halogrid_impl  # noqa: E402
from benchmarks.workloads import WORKLOADS  # noqa: E402
from halogrid.codegen.backends.cuda import module_files, ptx, runtime  # noqa: E402
from halogrid.codegen.backends.cuda.module import BACKEND  # noqa: E402
from halogrid.codegen.names import storage_name  # noqa: E402
from halogrid.codegen.pipeline import CompiledPipeline  # noqa: E402
from halogrid.codegen.target import CUDA_CHUNKS, get_target  # noqa: E402

x, y, z, b = hg.Var("x"), hg.Var("y"), hg.Var("z"), hg.Var("b")
xo, yo, zo, xi, yi, zi = (hg.Var(n) for n in ("xo", "yo", "zo", "xi", "yi", "zi"))
SIZE = (32, 32)
JOBS = max(1, min(2, len(os.sched_getaffinity(0))))
PTX_WIDTH = {"int64": ".u64", "uint64": ".u64", "int32": ".u32", "uint32": ".u32",
             "int16": ".u16", "uint16": ".u16", "int8": ".u8", "uint8": ".u8",
             "bool": ".u8", "float32": ".f32", "float64": ".f64"}


@pytest.fixture(scope="module")
def compile_ptx():
    """compile_ptx(kernels) -> [PTX] in order; fails listing every kernel that did not
    compile. Each distinct kernel compiles once per module, in the pool."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(JOBS, mp_context=context) as pool:
        memo: dict = {}

        def run(found: list) -> list:
            futures = [memo.setdefault((k.source, k.signature), pool.submit(ptx.try_compile, k))
                       for k in found]
            results = [f.result() for f in futures]
            failed = [(k.name, error) for k, (_, error, _) in zip(found, results) if error]
            assert not failed, ptx.failure_text(failed, len(found))
            return [text for text, _, _ in results]
        yield run


# ---- the oracles --------------------------------------------------------------------

class _DriverTypes(CompiledPipeline):
    """The CUDA driver run on the host, as CudaCompiledPipeline runs it, with NumPy
    arrays for device buffers and the runtime's own launch (and any other hook but
    alloc/fill/check), whose kernels are recorders: each records numba.typeof of the
    arguments it is called with (how numba-cuda types a launch) and runs nothing.
    Launches over an empty grid are recorded too (the runtime would skip them)."""

    def __init__(self, module):
        driver, sources = module_files(module)
        self.launched: dict = {}
        code = types.ModuleType("halogrid_cuda_driver")
        code.__dict__.update({name: _Recorder(name, self.launched) for name in sources})
        exec(compile(driver, "<cuda driver>", "exec"), code.__dict__)
        meta = {"reads": [[f.name, module.graph.inputs.index(inp), d]
                          for f, inp, d, _ in module.bounds.input_reads]}
        super().__init__(module.graph, code, meta)

    def _execute(self, args, shapes, check, wrap_launch):
        workspace = runtime.Workspace()

        def launch(kernel, grid, block, kernel_args):  # an empty grid too (it skips those)
            workspace.launch(kernel, tuple(max(g, 1) for g in grid), block, kernel_args)
        stand_ins = {"launch": launch, "alloc": _zeros, "fill": _fill, "check": check}
        hooks = [stand_ins.get(h) or getattr(workspace, h) for h in BACKEND.hooks]
        return self.module.run(*args, CUDA_CHUNKS, *hooks)


class _Recorder:
    """kernel[grid, block, stream](*args): records the argument types under `name`."""

    def __init__(self, name: str, launched: dict):
        self.name, self.launched = name, launched

    def __getitem__(self, launch_config):
        return self

    def __call__(self, *args):
        sig = tuple(numba.typeof(a) for a in args)
        assert self.launched.setdefault(self.name, sig) == sig, self.name


def _zeros(storage, shape, dtype, output=False):
    return np.zeros(shape, dtype)


def _fill(buffer, value):
    buffer.fill(value)


def _entry_params(text: str) -> list[str]:
    (entry,) = re.findall(r"\.visible \.entry \w+\((.*?)\)", text, re.S)
    return re.findall(r"\.param (\.\w+)", entry)


def _abi_params(sig: tuple) -> list[str]:
    """numba's kernel ABI: a scalar is one parameter; an array is meminfo, parent,
    nitems, itemsize, data, then shape and strides per dimension (all 64-bit)."""
    out: list = []
    for t in sig:
        if isinstance(t, numba.types.Array):
            out += [".u64"] * (5 + 2 * t.ndim)
        else:
            out.append(PTX_WIDTH[str(t)])
    return out


def check_module(module, inputs: dict, shapes, compile_ptx) -> list:
    """The module's kernels (ptx.Kernel), checked: PTX for sm_90 with the signature's
    parameters, then the signatures against the driver's launches."""
    found = ptx.kernels(module)
    for k, text in zip(found, compile_ptx(found)):
        assert ".target sm_90" in text, k.name
        assert _entry_params(text) == _abi_params(k.signature), k.name
    driver = _DriverTypes(module)
    driver(shapes=shapes, **inputs)
    differences = _differences(module, found, driver.launched)
    assert not differences, "the driver passes other types:\n" + "\n".join(map(str, differences))
    return found


def _differences(module, found: list, launched: dict) -> list:
    """(kernel, argument, type the driver passes, ptx.signature's type) where they
    differ; a kernel the driver never launches, or launches unknown, is one too."""
    out = [(name, "launched but not in the module") for name in launched
           if name not in {k.name for k in found}]
    for k, kernel in zip(found, module.kernels):
        passed = launched.get(k.name)
        if passed is None or len(passed) != len(k.signature):
            out.append((k.name, f"launched with {passed}, signature {k.signature}"))
            continue
        names = [str(v.name) for v in kernel.scalars] + list(kernel.storages)
        out += [(k.name, n, str(a), str(b)) for n, a, b in zip(names, passed, k.signature)
                if a != b]
    return out


# ---- W1-W7 -------------------------------------------------------------------------

def _workload(name: str, part: str, schedule: str):
    """(Pipeline, inputs, output shapes) as benchmarks/peers/halogrid_impl builds them."""
    algorithm, grad_names, fwd_count = halogrid_impl.SPECS[name]
    params, outputs, loss = algorithm()
    inputs = WORKLOADS[name].make_inputs(*SIZE)
    if part == "grad":
        d = hg.propagate_adjoints(loss)
        outputs = [loss] + [d[params[n]] for n in grad_names]
        shapes = [()] + [inputs[n].shape for n in grad_names]
    else:
        shapes = [inputs["target"].shape] + [(64,)] * (fwd_count - 1)
    p = hg.Pipeline(outputs)
    if schedule == "auto":
        p.auto_schedule(target="cuda")
    names = {str(i.name) for i in p.lower("cuda").graph.inputs}
    return p, {k: v for k, v in inputs.items() if k in names}, shapes


@pytest.mark.parametrize("schedule", ["default", "auto"])
@pytest.mark.parametrize("part", ["fwd", "grad"])
@pytest.mark.parametrize("name", sorted(halogrid_impl.SPECS))
def test_workload_kernels_compile_to_ptx(name, part, schedule, compile_ptx):
    p, inputs, shapes = _workload(name, part, schedule)
    check_module(p.lower("cuda"), inputs, shapes, compile_ptx)


# ---- the trickier kernels ----------------------------------------------------------

def _image(shape=(12, 20), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def _stencil(at: str, producer_threads: bool):
    """A producer computed per 16x8 gpu tile at xo (shared memory; its loops as the
    backend assigns them, or gpu_threads) or per thread at xi (local memory)."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    prod = hg.Func("prod")
    prod[y, x] = c[y, x] * 2.0
    out = hg.Func("out")
    out[y, x] = prod[y, x - 1] + prod[y, x] + prod[y, x + 1] + prod[y - 1, x]
    out.gpu_tile(x, y, xo, yo, xi, yi, 16, 8)
    prod.compute_at(out, {"xo": xo, "xi": xi}[at])
    if producer_threads:
        prod.gpu_threads(x, y)
    return hg.Pipeline(out), {"inp": _image()}, None


def _row_per_block():
    """A producer row per gpu block (compute_at y): a size no constant bounds, so a
    global scratch buffer with a slice per block, sized by the host (owners)."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    c = hg.BoundaryConditions.repeat_edge(inp)
    prod = hg.Func("prod")
    prod[y, x] = c[y, x] * 2.0
    out = hg.Func("out")
    out[y, x] = prod[y, x - 1] + prod[y, x + 1]
    out.gpu_blocks(y).gpu_threads(x)
    prod.compute_at(out, y)
    return hg.Pipeline(out), {"inp": _image()}, None


def _atomic_histogram(t, threads: bool):
    """hist[bin(v)] += v (or 1) with atomic(): over gpu blocks of rows, and gpu threads
    along them (privatised: a shared-memory copy per block) or on thread 0 only."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[b] = hg.cast(t, 0)
    v = inp[r[0], r[1]]
    hist[hg.clamp(hg.i32(v * 16.0), 0, 15)] += hg.cast(t, v * 3.0 if t.is_float else 1)
    update = hist.update(0).atomic().gpu_blocks(r[0])
    if threads:
        update.gpu_threads(r[1])
    return hg.Pipeline(hist), {"inp": _image()}, [(16,)]


def _atomic_joint_histogram():
    """A 4x4 joint histogram of two images: an atomic add at a 2-D index."""
    a, c = hg.ImageParam(hg.Float(32), 2, "a"), hg.ImageParam(hg.Float(32), 2, "c")
    r = hg.RDom(a)
    hist = hg.Func("joint")
    hist[y, x] = 0.0
    at = [hg.clamp(hg.i32(f[r[0], r[1]] * 4.0), 0, 3) for f in (a, c)]
    hist[at[0], at[1]] += a[r[0], r[1]]
    hist.update(0).atomic().gpu_blocks(r[0])
    return hg.Pipeline(hist), {"a": _image(), "c": _image(seed=1)}, [(4, 4)]


def _atomic_loss():
    """A 0-D sum with atomic() over gpu blocks: atomic adds into one cell."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    total = hg.Func("total")
    total[()] = 0.0
    total[()] += inp[r[0], r[1]]
    total.update(0).atomic().gpu_blocks(r[0])
    return hg.Pipeline(total), {"inp": _image()}, [()]


def _deterministic_histogram():
    """A float scatter into 16 bins, auto-scheduled, in deterministic mode."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    hist = hg.Func("hist")
    hist[b] = 0.0
    v = inp[r[0], r[1]]
    hist[hg.clamp(hg.i32(v * 16.0), 0, 15)] += 1.0 - v
    p = hg.Pipeline(hist).auto_schedule(target="cuda")
    return p.lower(get_target("cuda", True)), {"inp": _image()}, [(16,)]


def _rounding():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    d = hg.ImageParam(hg.Float(64), 2, "d")
    out = hg.Func("rounded")
    out[y, x] = (hg.floor(inp[y, x]) + hg.ceil(inp[y, x]) * hg.round(inp[y, x]),
                 hg.floor(d[y, x]) - hg.ceil(d[y, x]) + hg.round(d[y, x]),
                 hg.i32(hg.floor(inp[y, x] * 3.0)))
    return hg.Pipeline(out), {"inp": _image(), "d": _image().astype(np.float64)}, None


def _integer_division():
    a = hg.ImageParam(hg.Int(32), 2, "a")
    q = hg.ImageParam(hg.Int(16), 1, "q")
    n = hg.Param(hg.Int(32), "n", 3)
    out = hg.Func("divided")
    out[y, x] = (a[y, x] / n, a[y, x] % hg.i32(q[x]), hg.cast(hg.UInt(8), a[y, x] + 300),
                 hg.cast(hg.Int(64), a[y, x]) / (n - 5),
                 hg.cast(hg.UInt(32), a[y, x]) / hg.cast(hg.UInt(32), n))
    ints = np.arange(-120, 120, dtype=np.int32).reshape(12, 20)
    return hg.Pipeline(out), {"a": ints, "q": np.arange(-10, 10, dtype=np.int16)}, None


def _bools():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    mask = hg.ImageParam(hg.Bool(), 2, "mask")
    both = hg.Func("both")
    both[y, x] = (inp[y, x] > 0.5) & mask[y, x]
    both.compute_root()
    out = hg.Func("masked")
    out[y, x] = hg.select(both[y, x] | ~mask[y, x], inp[y, x], -inp[y, x])
    return hg.Pipeline([out, both]), {"inp": _image(), "mask": _image() > 0.3}, None


def _tuple_update():
    """(sum, argmax, max in float64) of each row: a tuple Func of three types."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom([(0, inp.width())])
    st = hg.Func("stats")
    st[y] = (hg.f32(0.0), hg.i32(-1), hg.f64(-1e30))
    v = inp[y, r[0]]
    st[y] = (st[y][0] + v, hg.select(hg.f64(v) > st[y][2], r[0], st[y][1]),
             hg.max(st[y][2], hg.f64(v)))
    return hg.Pipeline(st), {"inp": _image()}, [(12,)]


def _params():
    """Params of five types, and a host-computed float Let of two of them."""
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    gain, offset = hg.Param(hg.Float(32), "gain", 1.5), hg.Param(hg.Float(64), "offset", 0.25)
    k, u = hg.Param(hg.Int(16), "k", 2), hg.Param(hg.UInt(8), "u", 7)
    on = hg.Param(hg.Bool(), "on", True)
    out = hg.Func("scaled")
    out[y, x] = hg.select(on, inp[y, x] * gain + hg.f32(offset), hg.f32(k * u))
    return hg.Pipeline(out), {"inp": _image()}, None


def _rfactor_loss():
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    r = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = 0.0
    loss[()] += inp[r[0], r[1]] * inp[r[0], r[1]]
    loss.update(0).rfactor(r[0], hg.Var("u")).gpu_blocks(hg.Var("u"))
    return hg.Pipeline(loss), {"inp": _image()}, [()]


def _tile_3d():
    inp = hg.ImageParam(hg.Float(32), 3, "inp")
    out = hg.Func("cube")
    out[z, y, x] = inp[z, y, x] * 2.0 + hg.f32(z)
    out.gpu_tile(x, y, z, xo, yo, zo, xi, yi, zi, 8, 4, 2)
    return hg.Pipeline(out), {"inp": _image((4, 6, 10))}, None


ATOMIC = "cuda.atomic.add("
SHARED = ("cuda.shared.array(", "cuda.syncthreads()")
PRIVATE = (ATOMIC,) + SHARED
CASES = {  # name -> (builder, what some kernel's body must say, what none may say)
    "shared_at_block_loop": (lambda: _stencil("xo", False), SHARED, ()),
    "shared_by_gpu_threads": (lambda: _stencil("xo", True), SHARED, ()),
    "local_per_thread": (lambda: _stencil("xi", False), ("cuda.local.array(",), ()),
    "scratch_row_per_block": (_row_per_block, ("_scratch[",), ()),
    "atomic_float32_privatised": (lambda: _atomic_histogram(hg.Float(32), True), PRIVATE, ()),
    "atomic_float64_privatised": (lambda: _atomic_histogram(hg.Float(64), True), PRIVATE, ()),
    "atomic_int32_privatised": (lambda: _atomic_histogram(hg.Int(32), True), PRIVATE, ()),
    "atomic_int32_on_thread_0": (lambda: _atomic_histogram(hg.Int(32), False), (ATOMIC,), ()),
    "atomic_at_2d_index": (_atomic_joint_histogram, (ATOMIC,), ()),
    "atomic_into_0d": (_atomic_loss, (ATOMIC,), ()),
    "deterministic_scatter": (_deterministic_histogram, (), ("cuda.atomic",)),
    "rounding": (_rounding, tuple(f"_hg_{f}{bits}(" for f in ("floor", "ceil", "round")
                                  for bits in (32, 64)), ()),
    "integer_division": (_integer_division, ("_hg_div(", "_hg_mod("), ()),
    "bool_buffers": (_bools, (), ()),
    "tuple_update": (_tuple_update, (), ()),
    "params": (_params, (), ()),
    "rfactor_0d_loss": (_rfactor_loss, (), ()),
    "tile_3d": (_tile_3d, ("cuda.threadIdx.z", "cuda.blockIdx.z"), ()),
}


def _body(source: str) -> str:
    return ptx.DECORATOR.split(source, 1)[1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_tricky_kernels_compile_to_ptx(case, compile_ptx):
    build, present, absent = CASES[case]
    p_or_module, inputs, shapes = build()
    found = check_module(ptx.as_module(p_or_module), inputs, shapes, compile_ptx)
    bodies = "\n".join(_body(k.source) for k in found)
    assert [w for w in present if w not in bodies] == []
    assert [w for w in absent if w in bodies] == []


def test_signatures_follow_the_storage_and_scalar_types():
    """Independent of the driver: the array types of bool and 0-D buffers and the
    scalar types of Params, integer Vars and a host-computed float Let."""
    p, _, _ = _params()
    (k,) = ptx.kernels(ptx.as_module(p))
    scalars = [str(t) for t in k.signature if not isinstance(t, numba.types.Array)]
    assert scalars[-4:] == ["float32", "float64", "bool", "float32"]  # gain offset on k*u
    assert set(scalars[:-4]) == {"int64"}
    module = ptx.as_module(_integer_division()[0])
    ((kernel, k),) = zip(module.kernels, ptx.kernels(module))
    by_name = {str(v.name): t for v, t in zip(kernel.scalars, k.signature)}
    assert by_name["n"] == numba.int64  # an Int(32) Param: a Python int at launch
    arrays = {t for k in ptx.kernels(ptx.as_module(_bools()[0])) for t in k.signature
              if isinstance(t, numba.types.Array)}
    assert arrays == {numba.types.Array(numba.float32, 2, "C"),
                      numba.types.Array(numba.boolean, 2, "C")}
    module = ptx.as_module(_rfactor_loss()[0])
    (loss,) = module.graph.outputs
    zero_d = ptx.storage_types(module)[storage_name(loss, 0)]
    assert zero_d == numba.types.Array(numba.float32, 1, "C")  # one element


def test_kernel_ptx_returns_ptx_per_kernel_and_names_each_failure(monkeypatch):
    p, _, _ = _tuple_update()
    texts = ptx.kernel_ptx(p)
    assert list(texts) == [k.name for k in ptx.kernels(ptx.as_module(p))]
    assert all(".target sm_90" in t for t in texts.values())
    good = ptx.kernels(ptx.as_module(p))
    broken = good[0]._replace(signature=good[0].signature[:-1] + (numba.int64,))  # no array
    monkeypatch.setattr(ptx, "kernels", lambda module: [broken] + good[1:])
    with pytest.raises(ptx.PtxError, match=rf"1 of {len(good)} CUDA kernels failed"
                                           rf"(.|\n)*{broken.name}: TypingError"):
        ptx.kernel_ptx(p)


def cli_pipeline():
    """What the CLI test compiles: a tuple Func with an update (two kernels)."""
    return _tuple_update()[0]


def test_command_line_prints_each_kernel(capsys):
    assert ptx.main([f"{__name__}:cli_pipeline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [k.name for k in ptx.kernels(ptx.as_module(cli_pipeline()))]
    assert [line.split()[0] for line in lines] == names
    assert all(re.fullmatch(r"\S+  \d+\.\d\d s  \d+ PTX lines", line) for line in lines)
    assert ptx.main([]) == 2
