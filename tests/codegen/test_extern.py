"""hg.extern: stages computed by user Python code (NumPy or @njit) inside a pipeline.

Oracles: NumPy references of the whole pipeline, float64 finite differences
(tests/autodiff/helpers.check_grads) for gradients through a vjp, and records of the
boxes each stage was called on.
"""

import os
import sys

import numba
import numpy as np
import pytest

import halogrid as hg
from halogrid.ir import bounds

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "autodiff"))
from helpers import F64, GradFn, check_grads  # noqa: E402

x, y = hg.Var("x"), hg.Var("y")
F32 = hg.Float(32)


class Recorder:
    """Wraps a stage function, recording (origin, shape, input origins) per call."""

    def __init__(self, fn):
        self.fn, self.calls = fn, []

    def __call__(self, origin, shape, *inputs):
        self.calls.append((origin, shape, inputs[1::2]))
        return self.fn(origin, shape, *inputs)


def _row_cumsum(origin, shape, a, a_origin):
    """Cumulative sums along x from column 0 (fn reads whole rows: region rule)."""
    rows = slice(origin[0] - a_origin[0], origin[0] - a_origin[0] + shape[0])
    cols = slice(origin[1] - a_origin[1], origin[1] - a_origin[1] + shape[1])
    return np.cumsum(a[rows], axis=1, dtype=np.float32)[:, cols]


def test_numpy_stage_in_the_middle_of_a_pipeline(rng):
    inp = hg.ImageParam(F32, 2, "inp")
    a = hg.Func("a")
    a[y, x] = inp[y, x] * 2.0
    stage = Recorder(_row_cumsum)
    e = hg.extern("cumsum", stage, inputs=[a], type=F32, dims=2,
                  region=lambda box: [[box[0], (0, inp.width())]])
    out = hg.Func("out")
    out[y, x] = e[y, x] + 1.0
    img = rng.random((5, 8), dtype=np.float32)
    got = hg.Pipeline([out]).compile()(inp=img)
    np.testing.assert_allclose(got, np.cumsum(img * 2.0, axis=1) + 1.0, rtol=1e-6)
    assert stage.calls == [((0, 0), (5, 8), ((0, 0),))]


@numba.njit(cache=False)
def _box3(origin, shape, a, a_origin):
    out = np.empty(shape, np.float32)
    oy, ox = origin[0] - a_origin[0], origin[1] - a_origin[1]
    for i in range(shape[0]):
        for j in range(shape[1]):
            s = np.float32(0)
            for di in range(3):
                for dj in range(3):
                    s += a[oy + i + di - 1, ox + j + dj - 1]
            out[i, j] = s
    return out


def _box3_numpy(p):
    """3x3 box sums of p over its interior (p padded by one on every side)."""
    h, w = p.shape[0] - 2, p.shape[1] - 2
    return sum(p[di:di + h, dj:dj + w] for di in range(3) for dj in range(3))


def test_njit_stage_reading_a_grown_box(rng):
    inp = hg.ImageParam(F32, 2, "inp")
    clamped = hg.BoundaryConditions.repeat_edge(inp)
    src = hg.Func("src")
    src[y, x] = clamped[y, x]
    e = hg.extern("box3", _box3, inputs=[src], type=F32, dims=2,
                  region=lambda box: [[(m - 1, n + 2) for m, n in box]])
    img = rng.random((6, 7), dtype=np.float32)
    got = e.realize([6, 7], inp=img)
    np.testing.assert_allclose(got, _box3_numpy(np.pad(img, 1, mode="edge")), rtol=1e-5)


def test_stencil_after_a_stage_grows_its_box(rng):
    inp = hg.ImageParam(F32, 2, "inp")
    src = hg.Func("src")
    src[y, x] = hg.BoundaryConditions.repeat_edge(inp)[y, x]
    stage = Recorder(lambda origin, shape, a, a_origin: np.sqrt(a).astype(np.float32))
    e = hg.extern("root", stage, inputs=[src], type=F32, dims=2)
    out = hg.Func("blur_x")
    out[y, x] = e[y, x - 1] + e[y, x] + e[y, x + 1]
    img = rng.random((4, 6), dtype=np.float32)
    got = out.realize([4, 6], inp=img)
    p = np.sqrt(np.pad(img, ((0, 0), (1, 1)), mode="edge"))
    np.testing.assert_allclose(got, p[:, :-2] + p[:, 1:-1] + p[:, 2:], rtol=1e-6)
    assert stage.calls == [((0, -1), (4, 8), ((0, -1),))]


def _sin_stage(origin, shape, a, a_origin):
    return np.sin(a)


def _sin_vjp(d, origin, shape, a, a_origin):
    return (d * np.cos(a),)


def _loss_through(e, n, w):
    blur = hg.Func("blur")
    blur[x] = e[x - 1] + 2.0 * e[x] + e[x + 1]
    r = hg.RDom([(0, n)], name="r_l")
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += w[r.x] * blur[r.x] ** 2
    return loss


def _sin_of_scaled(condition, scale: float):
    """inp, and the extern sin stage (with its vjp) of condition(inp) * scale."""
    inp = hg.ImageParam(F64, 1, "inp")
    src = hg.Func("src")
    src[x] = condition(inp)[x] * scale
    return inp, hg.extern("sin", _sin_stage, inputs=[src], type=F64, dims=1, vjp=_sin_vjp)


def test_gradient_through_a_vjp_matches_finite_differences(rng):
    n = 9
    inp, e = _sin_of_scaled(hg.BoundaryConditions.repeat_edge, 1.5)
    w = hg.Buffer(rng.standard_normal(n), name="w")
    gfn = GradFn(_loss_through(e, n, w), [inp])
    check_grads(gfn, {"inp": rng.standard_normal(n)}, rng)


def test_auto_scheduled_gradient_pipeline_equals_the_default_one(rng):
    n = 40
    inp, e = _sin_of_scaled(hg.BoundaryConditions.mirror_image, 0.5)
    loss = _loss_through(e, n, hg.Buffer(rng.standard_normal(n), name="w"))
    d = hg.propagate_adjoints(loss)
    v = rng.standard_normal(n)
    expected = hg.Pipeline([loss, d[inp]]).compile()(inp=v, shapes=[(), (n,)])
    tuned = hg.Pipeline([loss, d[inp]]).auto_schedule().compile()(inp=v, shapes=[(), (n,)])
    np.testing.assert_allclose(tuned[0], expected[0], rtol=1e-12)
    np.testing.assert_allclose(tuned[1], expected[1], rtol=1e-12)


def test_two_input_vjp_runs_once_per_call(rng):
    n = 6
    a_in, b_in = hg.ImageParam(F64, 1, "a_in"), hg.ImageParam(F64, 1, "b_in")
    calls = []

    def vjp(d, origin, shape, a, a_origin, b, b_origin):
        calls.append(origin)
        return d * b, d * a

    e = hg.extern("product", lambda o, s, a, ao, b, bo: a * b, inputs=[a_in, b_in],
                  type=F64, dims=1, vjp=vjp)
    w = hg.Buffer(rng.standard_normal(n), name="w")
    r = hg.RDom([(0, n)], name="r_p")
    loss = hg.Func("loss_p")
    loss[()] = hg.f64(0.0)
    loss[()] += w[r.x] * hg.sin(e[r.x])
    gfn = GradFn(loss, [a_in, b_in])
    av, bv = rng.standard_normal(n), rng.standard_normal(n)
    calls.clear()
    _, (d_a, d_b), _ = gfn({"a_in": av, "b_in": bv})
    assert calls == [(0,)]
    ref = w.array * np.cos(av * bv)
    np.testing.assert_allclose(d_a, ref * bv, rtol=1e-12)
    np.testing.assert_allclose(d_b, ref * av, rtol=1e-12)
    check_grads(gfn, {"a_in": av, "b_in": bv}, rng)


def test_a_stage_without_vjp_cannot_be_differentiated():
    inp = hg.ImageParam(F32, 1, "inp")
    e = hg.extern("opaque", lambda o, s, a, ao: a, inputs=[inp], type=F32, dims=1)
    loss = hg.Func("loss_o")
    r = hg.RDom([(0, 3)], name="r_o")
    loss[()] = 0.0
    loss[()] += e[r.x]
    with pytest.raises(hg.DifferentiationError, match="extern stage 'opaque'.*without a vjp"):
        hg.propagate_adjoints(loss)


@pytest.mark.parametrize("result, message", [
    (lambda shape: np.zeros((shape[0] + 1,), np.float32), r"returned shape \(5,\) for the box "
                                                          r"of shape \(4,\)"),
    (lambda shape: np.zeros(shape, np.float64), "returned an array of dtype float64, the "
                                                "stage computes float32"),
    (lambda shape: None, "fn returned None"),
])
def test_bad_results_raise_naming_the_stage(result, message):
    inp = hg.ImageParam(F32, 1, "inp")
    e = hg.extern("broken stage", lambda o, s, a, ao: result(s), inputs=[inp], type=F32, dims=1)
    with pytest.raises(hg.HalogridError, match="extern stage 'broken stage'.*" + message):
        e.realize([4], inp=np.ones(4, np.float32))


def test_bad_vjp_results_raise_naming_the_stage():
    inp = hg.ImageParam(F64, 1, "inp")
    e = hg.extern("stage v", lambda o, s, a, ao: a * 2.0, inputs=[inp], type=F64, dims=1,
                  vjp=lambda d, o, s, a, ao: d * 2.0)
    d = hg.propagate_adjoints(e, np.ones(3))
    with pytest.raises(hg.HalogridError, match="extern stage 'stage v'.*vjp returned a "
                                               "ndarray for 1 input"):
        d[inp].realize([3], inp=np.ones(3))


def test_inputs_arrive_as_read_only_views_of_the_caller_arrays():
    inp = hg.ImageParam(F32, 1, "inp")
    seen = []

    def fn(origin, shape, a, a_origin):
        seen.append((a.flags.writeable, a.base is not None))
        return a + np.float32(1)

    e = hg.extern("peek", fn, inputs=[inp], type=F32, dims=1)
    data = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(e.realize([4], inp=data), data + 1)
    assert seen == [(False, True)]


def test_second_compile_reuses_kernels_and_still_calls_the_stage(rng):
    inp = hg.ImageParam(F32, 2, "inp")
    a = hg.Func("a2")
    a[y, x] = inp[y, x] + 1.0
    stage = Recorder(lambda o, s, arr, ao: (arr * 3.0).astype(np.float32))
    e = hg.extern("triple", stage, inputs=[a], type=F32, dims=2)
    out = hg.Func("out2")
    out[y, x] = e[y, x] * e[y, x]
    img = rng.random((3, 4), dtype=np.float32)
    first = hg.Pipeline([out]).compile()
    np.testing.assert_allclose(first(inp=img), ((img + 1) * 3) ** 2, rtol=1e-6)
    kernels = {n: k for n, k in vars(first.module).items() if n.startswith("kernel_")}
    compiled = {n: len(k.overloads) for n, k in kernels.items()}
    second = hg.Pipeline([out]).compile()
    assert second.module is first.module
    np.testing.assert_allclose(second(inp=img * 2), ((img * 2 + 1) * 3) ** 2, rtol=1e-6)
    assert {n: len(k.overloads) for n, k in kernels.items()} == compiled
    assert len(stage.calls) == 2  # once per run, never in the compile helper's dry run


def test_generated_source_never_contains_the_stage_name():
    name = "evil'); import os; os.system('x') #"
    inp = hg.ImageParam(F32, 1, "inp")
    e = hg.extern(name, lambda o, s, a, ao: a, inputs=[inp], type=F32, dims=1)
    source = hg.Pipeline([e]).source()
    assert name not in source and "os.system" not in source
    np.testing.assert_array_equal(e.realize([3], inp=np.arange(3, dtype=np.float32)),
                                  np.arange(3, dtype=np.float32))


def test_region_outside_an_input_is_a_bounds_error():
    inp = hg.ImageParam(F32, 1, "inp")
    e = hg.extern("shifted", lambda o, s, a, ao: a, inputs=[inp], type=F32, dims=1,
                  region=lambda box: [[(box[0][0] + 1, box[0][1])]])
    with pytest.raises(hg.BoundsError, match="Func 'shifted'.*input 'inp'"):
        e.realize([4], inp=np.ones(4, np.float32))


def test_definition_errors_name_the_stage():
    inp = hg.ImageParam(F32, 2, "inp")
    f1 = hg.Func("f1")
    f1[x] = x * 1.0
    with pytest.raises(hg.DefinitionError, match="stage 'two'.*has 1 dimension.*region="):
        hg.extern("two", lambda *a: None, inputs=[f1], type=F32, dims=2)
    with pytest.raises(hg.DefinitionError, match="stage 'boxes'.*region returned"):
        hg.extern("boxes", lambda *a: None, inputs=[inp], type=F32, dims=2,
                  region=lambda box: [])
    with pytest.raises(hg.DefinitionError, match="stage 'floats'.*bound"):
        hg.extern("floats", lambda *a: None, inputs=[inp], type=F32, dims=2,
                  region=lambda box: [[(0.5, 1), (0, 1)]])
    with pytest.raises(hg.DefinitionError, match="stage 'fn'.*not a function"):
        hg.extern("fn", 3, inputs=[inp], type=F32, dims=2)


def test_an_inlined_stage_is_a_schedule_error():
    inp = hg.ImageParam(F32, 1, "inp")
    e = hg.extern("rooted", lambda o, s, a, ao: a, inputs=[inp], type=F32, dims=1)
    out = hg.Func("after")
    out[x] = e[x] + 1.0
    e.compute_inline()
    with pytest.raises(hg.ScheduleError, match="compute_inline to Func 'rooted'.*extern stage"):
        out.realize([3], inp=np.ones(3, np.float32))


def test_own_box_is_the_region_bounds_inference_defines():
    from halogrid.ir.extern import _own_box
    inp = hg.ImageParam(F32, 2, "inp")
    e = hg.extern("boxed", lambda *a: None, inputs=[inp], type=F32, dims=2)
    region = bounds.region_vars(e)
    pairs = zip(_own_box(e, 2), zip(region.min, region.extent), strict=True)
    assert all(a is c and b is d for (a, b), (c, d) in pairs)


_SCRIPT = """
import numpy as np, halogrid as hg
x = hg.Var("x")
inp = hg.ImageParam(hg.Float(32), 1, "inp")
calls = []
def fn(origin, shape, a, a_origin):
    calls.append(origin)
    return a * np.float32(SCALE)
e = hg.extern("scaled", fn, inputs=[inp], type=hg.Float(32), dims=1)
out = hg.Func("out")
out[x] = e[x] + 1.0
print(out.realize([3], inp=np.arange(3, dtype=np.float32)).tolist(), len(calls))
"""


def test_a_cached_module_in_a_new_process_calls_that_process_function(tmp_path):
    """The driver on disk holds no function: each process binds its own."""
    import subprocess
    env = {**os.environ, "HALOGRID_CACHE_DIR": str(tmp_path), "HALOGRID_DEBUG": "1"}
    runs = [subprocess.run([sys.executable, "-c", _SCRIPT.replace("SCALE", scale)], env=env,
                           capture_output=True, text=True, timeout=300) for scale in "23"]
    assert [r.stdout.split() for r in runs] == [["[1.0,", "3.0,", "5.0]", "1"],
                                                ["[1.0,", "4.0,", "7.0]", "1"]], runs[1].stderr
    assert "cache miss" in runs[0].stderr and "cache hit" in runs[1].stderr
