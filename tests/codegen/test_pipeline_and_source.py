"""Pipeline compile/realize behaviour, the default schedule, compute_root/compute_inline,
multiple outputs, print_loop_nest() and Pipeline.source() (names sanitised)."""

import ast
import re

import numpy as np
import pytest

import halogrid as hg


def _loop_nest(func, capsys):
    capsys.readouterr()
    func.print_loop_nest()
    text = capsys.readouterr().out
    assert text.strip(), "print_loop_nest() printed nothing"
    return text


def test_default_output_shape_is_first_image_params_and_0d_outputs_stay_0d(small_image):
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    scaled = hg.Func("scaled")
    scaled[y, x] = inp[y, x] * 3.0
    corner = hg.Func("corner")
    corner[()] = inp[0, 0] + inp[1, 2]
    fn = hg.Pipeline([scaled, corner]).compile(target="cpu")

    a = small_image
    result = fn(inp=a)
    assert isinstance(result, tuple) and len(result) == 2   # output order kept
    got_scaled, got_corner = result
    assert got_scaled.shape == a.shape and got_corner.shape == ()
    np.testing.assert_allclose(got_scaled, a * 3, rtol=1e-6)
    np.testing.assert_allclose(got_corner, a[0, 0] + a[1, 2], rtol=1e-6)
    got_scaled, got_corner = fn(inp=a, shapes=[(2, 3), ()])
    np.testing.assert_allclose(got_scaled, a[:2, :3] * 3, rtol=1e-6)


@pytest.mark.parametrize("schedule", ["default", "compute_root", "compute_inline"])
def test_schedules_of_a_producer_give_the_same_values(schedule, rng, capsys):
    row, col = hg.Var("row"), hg.Var("col")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    edge = hg.BoundaryConditions.repeat_edge(inp)
    prod = hg.Func("prod_stage")
    prod[row, col] = edge[row, col] * 2.0 + 1.0
    cons = hg.Func("cons_stage")
    cons[row, col] = prod[row - 1, col] + prod[row + 1, col] + prod[row, col + 1]
    if schedule != "default":
        assert getattr(prod, schedule)() is prod
    fn = hg.Pipeline([cons]).compile(target="cpu")

    a = rng.random((5, 6), dtype=np.float32)
    p = np.pad(a.astype(np.float64), 1, mode="edge") * 2 + 1
    want = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, 2:]
    np.testing.assert_allclose(fn(inp=a), want, rtol=1e-6)

    nest = _loop_nest(cons, capsys)
    assert "cons_stage" in nest
    # Halide's default inlines a pure producer; compute_root gives it its own loops.
    assert ("prod_stage" in nest) == (schedule == "compute_root"), nest


def test_loop_nest_lists_pure_dims_as_written_with_the_last_innermost(capsys):
    row, col = hg.Var("row"), hg.Var("col")
    f = hg.Func("grid_fn")
    f[row, col] = row * 10 + col
    np.testing.assert_array_equal(f.realize([2, 3]), [[0, 1, 2], [10, 11, 12]])
    nest = _loop_nest(f, capsys).splitlines()
    row_line = next(i for i, line in enumerate(nest) if "row" in line and "for" in line)
    col_line = next(i for i, line in enumerate(nest) if "col" in line and "for" in line)
    assert row_line < col_line, "\n".join(nest)
    indent = lambda line: len(line) - len(line.lstrip())  # noqa: E731
    assert indent(nest[col_line]) > indent(nest[row_line]), "\n".join(nest)


def test_funcs_with_updates_are_computed_at_root_by_default(rng, capsys):
    data = rng.random((3, 4), dtype=np.float32)
    img = hg.Buffer(data, name="img")
    y, x = hg.Var("y"), hg.Var("x")
    r = hg.RDom([(0, 4)], name="r")
    rowsum = hg.Func("rowsum_stage")
    rowsum[y] = 0.0
    rowsum[y] += img[y, r.x]
    normed = hg.Func("normed")
    normed[y, x] = img[y, x] / rowsum[y]
    np.testing.assert_allclose(normed.realize([3, 4]), data / data.sum(axis=1, keepdims=True),
                               rtol=1e-5)
    assert "rowsum_stage" in _loop_nest(normed, capsys)


def test_multiple_outputs_share_a_producer_and_return_in_order(rng):
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    shared = hg.Func("shared")
    shared[y, x] = inp[y, x] * inp[y, x]
    shared.compute_root()
    plus = hg.Func("plus")
    plus[y, x] = shared[y, x] + 1.0
    minus = hg.Func("minus")
    minus[y, x] = shared[y, x] - 1.0
    p = hg.Pipeline([minus, plus, shared])
    fn = p.compile(target="cpu")
    a = rng.random((3, 5), dtype=np.float32)
    got_minus, got_plus, got_shared = fn(inp=a)
    np.testing.assert_allclose(got_shared, a * a, rtol=1e-6)
    np.testing.assert_allclose(got_minus, a * a - 1, rtol=1e-6)
    np.testing.assert_allclose(got_plus, a * a + 1, rtol=1e-6)

    # Without `shared` among the outputs it is still computed once for both consumers:
    # the generated Python stores into its buffer in exactly one place.
    src = hg.Pipeline([minus, plus]).source(target="cpu")
    stores = re.findall(r"(?m)^\s*\w*shared\w*\[[^\]]*\]\s*=", src)
    assert len(stores) == 1, src


def test_source_is_readable_python_naming_the_funcs():
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "inp")
    stage_one = hg.Func("stage_one")
    stage_one[y, x] = inp[y, x] + 1.0
    stage_one.compute_root()
    stage_two = hg.Func("stage_two")
    stage_two[y, x] = stage_one[y, x] * 2.0
    src = hg.Pipeline([stage_two]).source(target="cpu")
    assert isinstance(src, str)
    ast.parse(src)
    assert "stage_one" in src and "stage_two" in src


HOSTILE = ["a; import os", 'q"uote\nos.system("echo pwned")', "a b", "a_b", "class",
           "1st", "blür", "__import__('os')"]


def test_hostile_func_and_input_names_are_sanitised_and_still_compute(rng):
    """User strings never reach exec: the source parses, carries none of the payloads,
    and Funcs whose names sanitise alike do not collide."""
    y, x = hg.Var("y"), hg.Var("x")
    inp = hg.ImageParam(hg.Float(32), 2, "in")          # a Python keyword as input name
    k = hg.Param(hg.Float(32), "lambda", 1.0)           # and as a Param name
    stage = inp
    a = rng.random((3, 4), dtype=np.float32)
    want = a.astype(np.float64)
    for i, name in enumerate(HOSTILE):
        f = hg.Func(name)
        f[y, x] = stage[y, x] * 2.0 + float(i) * k
        f.compute_root()
        stage = f
        want = want * 2 + i * 0.5
    p = hg.Pipeline([stage])
    src = p.source(target="cpu")
    ast.parse(src)
    # sanitised identifiers may keep the letters; the raw punctuation never survives
    for payload in ["import os", "os.system(", 'q"uote', "__import__('os')", "a b"]:
        assert payload not in src, payload
    fn = p.compile(target="cpu")
    np.testing.assert_allclose(fn(**{"in": a, "lambda": 0.5}), want, rtol=1e-5)
