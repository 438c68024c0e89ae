"""Layering (../shared/DESIGN.md): ir/ and autodiff/ import nothing from codegen/, and
autodiff calls no schedule directive; adjoint storage defaults live in
schedule/defaults.py. The conveniences that cross layers (api.py: Func.realize,
print_loop_nest, compile_to_callable, hg.gradients, hg.check_gradients) still work,
checked against NumPy oracles.

The scans read every module's syntax tree: imports anywhere (top level or inside a
function, absolute or relative) and method calls by name. Names that builtins share
(set.update, str.split) can't be told from directives by syntax; the runtime test
(autodiff's Funcs carry no schedule at all) covers those.
"""

import ast
import pathlib
import pydoc

import numpy as np
import pytest

import halogrid as hg
from halogrid import api
from halogrid.codegen.cache import pipeline_key
from halogrid.ir.graph import build_graph
from halogrid.schedule import directives
from halogrid.schedule.defaults import is_stored

PACKAGE = pathlib.Path(hg.__file__).resolve().parent
F64 = hg.Float(64)


def _sources(layer: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def _package_of(path: pathlib.Path) -> list[str]:
    """The dotted package a module's relative imports start from (halogrid.ir for
    halogrid/ir/func.py and halogrid/ir/__init__.py alike)."""
    return list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])


def _imported(text: str, package: list[str]) -> set[str]:
    """Absolute names of the modules (and `from m import name` targets) the source
    imports anywhere, plus strings passed to importlib.import_module / __import__."""
    names = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            names.add(".".join(module))
            names |= {".".join(module + [a.name]) for a in node.names}
        elif isinstance(node, ast.Call) and _called_name(node) in ("import_module", "__import__"):
            names |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return names


def _called_name(call: ast.Call) -> str | None:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)


def _reaches_codegen(name: str) -> bool:
    return name == "halogrid.codegen" or name.startswith("halogrid.codegen.")


def _installed_methods(install) -> set[str]:
    """The methods an install(func_class) puts on Func."""
    holder = type("Holder", (), {})
    install(holder)
    return {n for n in vars(holder) if not n.startswith("__")}


BUILTIN_METHODS = {n for t in (dict, set, list, str, tuple) for n in dir(t)}
DIRECTIVES = _installed_methods(directives.install) - BUILTIN_METHODS
COMPILING = _installed_methods(api.install)


def _method_calls(text: str, names: set[str]) -> list[str]:
    return [f"line {node.lineno}: .{node.func.attr}()" for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in names]


# ---- the scans ----------------------------------------------------------------

def test_the_scanners_see_every_kind_of_import_and_call():
    text = ("import halogrid.codegen.stmt\n"
            "from .. import codegen\n"
            "def f(g):\n"
            "    from ..codegen.pipeline import Pipeline\n"
            "    import importlib; importlib.import_module('halogrid.codegen.cache')\n"
            "    g.compute_root(); g.update(0).parallel('y'); g.realize([2])\n")
    found = _imported(text, ["halogrid", "autodiff"])
    assert {"halogrid.codegen.stmt", "halogrid.codegen", "halogrid.codegen.pipeline",
            "halogrid.codegen.cache"} <= found
    assert {"compute_root", "parallel", "realize"} <= DIRECTIVES | COMPILING
    assert len(_method_calls(text, DIRECTIVES)) == 2  # .update() is set.update's name too
    assert len(_method_calls(text, COMPILING)) == 1
    assert _imported("from .expr import Var\n", ["halogrid", "ir"]) == {
        "halogrid.ir.expr", "halogrid.ir.expr.Var"}


@pytest.mark.parametrize("layer", ["ir", "autodiff"])
def test_layer_imports_nothing_from_codegen(layer):
    paths = _sources(layer)
    assert len(paths) > 5
    bad = {str(p.relative_to(PACKAGE)): sorted(n for n in _imported(p.read_text(), _package_of(p))
                                              if _reaches_codegen(n))
           for p in paths}
    assert {k: v for k, v in bad.items() if v} == {}


@pytest.mark.parametrize("layer, names", [("autodiff", DIRECTIVES | COMPILING),
                                          ("ir", COMPILING)])
def test_layer_calls_no_schedule_directive_or_compiling_method(layer, names):
    calls = {str(p.relative_to(PACKAGE)): _method_calls(p.read_text(), names)
             for p in _sources(layer)}
    assert {k: v for k, v in calls.items() if v} == {}


# ---- adjoint storage: recorded by autodiff, decided by schedule/defaults.py ---------

def _stencil_loss(inp):
    """loss = sum over the image of blur(gain)**2, gain = 1.5 repeat_edge(inp) and blur a
    3-tap stencil of it; d[gain] is a pure gather (an inlinable adjoint)."""
    y, x = hg.Var("y"), hg.Var("x")
    gain = hg.Func("gain")
    gain[y, x] = hg.BoundaryConditions.repeat_edge(inp)[y, x] * 1.5
    blur = hg.Func("blur")
    blur[y, x] = (gain[y, x - 1] + gain[y, x] + gain[y, x + 1]) / 3
    r = hg.RDom(inp)
    loss = hg.Func("loss")
    loss[()] = hg.f64(0.0)
    loss[()] += blur[r.x, r.y] ** 2
    return loss, gain, blur


def _stencil_oracle(img):
    """(loss, d loss / d img) of _stencil_loss in NumPy."""
    g = 1.5 * img
    p = np.pad(g, ((0, 0), (1, 1)), mode="edge")
    blur = (p[:, :-2] + p[:, 1:-1] + p[:, 2:]) / 3
    d_p = np.zeros_like(p)
    for shift in range(3):
        d_p[:, shift:shift + img.shape[1]] += 2 * blur / 3
    d_g = d_p[:, 1:-1].copy()
    d_g[:, 0] += d_p[:, 0]
    d_g[:, -1] += d_p[:, -1]
    return float(np.sum(blur ** 2)), 1.5 * d_g


def _scans_and_reductions():
    """A nonlinear scan, an overwrite, a max and a product reduction: every kind of
    intermediate Func the reverse walk (overwrite.py, reductions.py) and forward mode's
    dual tuple make, in one loss."""
    x = hg.Var("x")
    v = hg.ImageParam(F64, 1, "v")
    f = hg.Func("f")
    f[x] = v[x]
    s = hg.RDom([(1, 5)], name="s")
    f[s] = hg.tanh(f[s - 1]) * 0.5 + f[s]
    f[2] = f[1] * f[3]
    r = hg.RDom([(0, 6)], name="r")
    mx = hg.Func("mx")
    mx[()] = hg.f64(-1e30)
    mx[()] = hg.max(mx[()], f[r.x] * 1.5)
    p = hg.Func("p")
    p[()] = hg.f64(1.0)
    p[()] *= f[r.x]
    loss = hg.Func("loss")
    loss[()] = mx[()] + p[()]
    return loss, v, f


def test_autodiff_records_storage_intent_without_scheduling_anything():
    loss, v, f = _scans_and_reductions()
    d = hg.propagate_adjoints(loss)
    t = hg.propagate_tangents({v: np.ones(6)})
    made = build_graph([d[v], t[loss]]).funcs
    assert [g.name for g in made if g.func_schedule is not None or
            any(df.schedule is not None for df in g.definitions)] == []
    names = {str(g.name): g for g in made}
    for expected in ("d_f_scan1", "d_f_stage1", "mx_first1", "p_nonzero1", "p_zeros1",
                     "d_f", "f_dual"):
        assert names[expected].root_by_default, expected
        assert is_stored(names[expected], []), expected
    assert not any(g.root_by_default for g in (loss, f))  # the user's Funcs are as written


def test_a_tangent_is_root_by_default_where_its_primal_is_computed_at_root():
    inp = hg.ImageParam(F64, 2, "inp")
    loss, gain, blur = _stencil_loss(inp)
    gain.compute_root()
    t = hg.propagate_tangents({inp: np.ones((3, 4))})
    assert t[gain].root_by_default and t[gain].func_schedule is None
    assert not t[blur].root_by_default and not is_stored(t[blur], [])


def test_the_users_schedule_wins_over_the_adjoint_default_and_values_agree(rng):
    img = rng.standard_normal((5, 7))
    inp = hg.ImageParam(F64, 2, "inp")
    loss, gain, _ = _stencil_loss(inp)
    d = hg.propagate_adjoints(loss)
    d_gain = d[gain]
    assert len(d_gain.definitions) == 1 and d_gain.root_by_default
    assert is_stored(d_gain, [d[inp]])
    default = hg.Pipeline([loss, d[inp]]).compile()(inp=img)
    key = pipeline_key(build_graph([loss, d[inp]]), "cpu")
    d_gain.compute_inline()
    assert not is_stored(d_gain, [d[inp]])
    assert pipeline_key(build_graph([loss, d[inp]]), "cpu") != key
    inlined = hg.Pipeline([loss, d[inp]]).compile()(inp=img)
    value, grad = _stencil_oracle(img)
    for got in (default, inlined):
        assert float(got[0]) == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(got[1], grad, rtol=1e-12, atol=1e-12)


def test_the_cache_key_tells_a_root_by_default_func_from_a_plain_one():
    loss, gain, _ = _stencil_loss(hg.ImageParam(F64, 2, "inp"))

    def key(mark: bool) -> str:
        gain.root_by_default = mark
        return pipeline_key(build_graph([loss]), "cpu")
    plain = key(False)
    assert key(True) != plain
    assert key(False) == plain and gain.func_schedule is None


# ---- the conveniences in api.py ---------------------------------------------------

def test_func_realize_print_loop_nest_and_compile_to_callable(rng, capsys):
    img = rng.standard_normal((4, 6))
    inp = hg.ImageParam(F64, 2, "inp")
    _, gain, blur = _stencil_loss(inp)
    p = np.pad(1.5 * img, ((0, 0), (1, 1)), mode="edge")
    expected = (p[:, :-2] + p[:, 1:-1] + p[:, 2:]) / 3
    np.testing.assert_allclose(blur.realize([4, 6], inp=img), expected, rtol=1e-14)
    np.testing.assert_allclose(blur.compile_to_callable()(inp=img), expected, rtol=1e-14)
    blur.print_loop_nest()
    assert "blur" in capsys.readouterr().out
    for method in ("realize", "print_loop_nest", "compile_to_callable"):
        assert getattr(hg.Func, method) is getattr(api, method)
    text = pydoc.render_doc(hg.Func.realize)
    assert "Compile (cached) and run over `shape`" in text and "target" in text


def test_gradients_match_the_numpy_oracle(rng):
    img = rng.standard_normal((5, 7))
    inp = hg.ImageParam(F64, 2, "inp")
    scale = hg.Param(F64, "scale", 2.0)
    loss, _, _ = _stencil_loss(inp)
    scaled = hg.Func("scaled")
    scaled[()] = loss[()] * scale
    g_inp, g_scale = hg.gradients(scaled, [inp, scale], inp=img, scale=2.0)
    value, grad = _stencil_oracle(img)
    np.testing.assert_allclose(g_inp, 2.0 * grad, rtol=1e-12, atol=1e-12)
    assert np.shape(g_scale) == () and float(g_scale) == pytest.approx(value, rel=1e-12)
    [only] = hg.gradients(loss, [inp], inp=img)
    np.testing.assert_allclose(only, grad, rtol=1e-12, atol=1e-12)
    with pytest.raises(hg.DifferentiationError, match="'inp' in gradients.*shape is unknown"):
        hg.gradients(loss, [inp])


def test_check_gradients_passes_fails_and_compiles_for_its_target(rng):
    img = rng.standard_normal((5, 7))
    inp = hg.ImageParam(F64, 2, "inp")
    loss, _, _ = _stencil_loss(inp)
    report = hg.check_gradients(loss, {inp: img}, directions=2)
    assert isinstance(report, hg.GradientReport)
    assert [(r.input, r.direction) for r in report.rows] == [("inp", 0), ("inp", 1)]
    assert report.max_rel_err < 1e-7
    np.testing.assert_allclose(report.rows[0].grad_norm,
                               np.linalg.norm(_stencil_oracle(img)[1]), rtol=1e-12)
    y, x = hg.Var("y"), hg.Var("x")
    wrong = hg.Func("wrong")
    wrong[y, x] = inp[y, x] * 0.0
    with pytest.raises(hg.GradientCheckError, match="inp"):
        hg.check_gradients(loss, {inp: img}, directions=1, gradients={inp: wrong})
    with pytest.raises(hg.InputError, match="nowhere"):
        hg.check_gradients(loss, {inp: img}, target="nowhere")
