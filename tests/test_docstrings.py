"""The public API documents itself: every public name of API.md (the contract in
../shared/API.md, listed the way ../shared/tools/api_check.py lists them, plus the names
it spells without `hg.`) has a docstring with an example (a `>>>` line or an indented
code line), a real
signature (not `(*args, **kwargs)`) and type hints; `help()` of the main classes shows
docstrings, not code comments; and the package ships a py.typed marker.

A name API.md promises that halogrid does not have yet is api_check.py's report, not
this test's: only names that resolve are checked here.
"""

import inspect
import pathlib
import pydoc
import re

import pytest

import halogrid as hg

ROOT = pathlib.Path(__file__).resolve().parent.parent
API = ROOT.parent / "shared" / "API.md"

# API.md's `hg.` names when this test was written (API.md itself is read when present)
HG_NAMES = [
    "Bool", "BoundaryConditions.repeat_edge", "Buffer", "Float", "Func", "GradientCheckError",
    "HalogridError", "ImageParam", "Int", "Param", "Pipeline", "RDom", "Range", "UInt", "Var",
    "abs", "atan2", "cast", "ceil", "check_gradients", "clamp", "cos", "custom_adjoint",
    "dask", "dask.map_blocks", "dask.vjp", "exp", "extern", "f32", "f64", "floor",
    "gradients", "i32", "lerp", "log", "max", "maximum", "min", "minimum", "pow", "product",
    "propagate_adjoints", "propagate_tangents", "round", "select", "sin", "sqrt", "sum",
    "tan", "tanh", "torch", "torch.to_autograd"]
# names API.md spells without `hg.`: methods and the other boundary conditions
FUNC_METHODS = ["compute_root", "compute_inline", "compute_at", "store_root", "store_at",
                "split", "fuse", "tile", "reorder", "parallel", "vectorize", "unroll",
                "rfactor", "atomic", "gpu_tile", "gpu_blocks", "gpu_threads", "realize",
                "print_loop_nest", "update"]
OTHER = ["Pipeline.compile", "Pipeline.auto_schedule", "Pipeline.source", "Pipeline.realize",
         "Pipeline.print_loop_nest", "Pipeline.stages", "RDom.where", "Param.set",
         "BoundaryConditions.constant_exterior", "BoundaryConditions.mirror_image",
         "BoundaryConditions.mirror_interior", "BoundaryConditions", "Derivative", "Type",
         "InputError", "BoundsError", "DefinitionError", "ScheduleError",
         "DifferentiationError", "TypeMismatchError"]


def _api_names() -> list[str]:
    names = set(HG_NAMES) | {f"Func.{m}" for m in FUNC_METHODS} | set(OTHER)
    if API.exists():
        text = API.read_text()
        names |= set(re.findall(r"\bhg\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)",
                                text))
    return sorted(names)


def _resolve(dotted: str):
    """The object hg.<dotted>, or None where it is missing (or needs an optional
    dependency, e.g. hg.dask without dask installed)."""
    obj = hg
    for part in dotted.split("."):
        try:
            obj = getattr(obj, part)
        except (AttributeError, ImportError):
            return None
    return obj


PRESENT = [(n, _resolve(n)) for n in _api_names() if _resolve(n) is not None]


def _documented(dotted: str):
    """The object whose docstring and signature `dotted` shows (a property's getter)."""
    owner, _, attr = dotted.rpartition(".")
    raw = inspect.getattr_static(_resolve(owner), attr) if owner else None
    if isinstance(raw, property):
        return raw, raw.fget
    obj = _resolve(dotted)
    return obj, obj


def test_the_api_names_are_found():
    assert len(PRESENT) >= 60, [n for n, _ in PRESENT]


@pytest.mark.parametrize("name", [n for n, _ in PRESENT])
def test_every_public_name_has_a_docstring_with_an_example(name):
    doc_obj, _ = _documented(name)
    doc = inspect.getdoc(doc_obj) or ""
    assert len(doc.split()) >= 5, f"hg.{name} has no docstring worth the name: {doc!r}"
    assert _has_example(doc), f"hg.{name}'s docstring shows no example:\n{doc}"


def _has_example(doc: str) -> bool:
    """A `>>>` line, or an indented code line (a call or an assignment)."""
    return any(line.startswith(">>>") or (line.startswith("    ") and re.search(r"\w\(|=", line))
               for line in doc.splitlines())


def _callables():
    for name, obj in PRESENT:
        if inspect.ismodule(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
            continue
        _, fn = _documented(name)
        if callable(fn):
            yield name, fn


@pytest.mark.parametrize("name, fn", list(_callables()), ids=[n for n, _ in _callables()])
def test_every_public_callable_has_a_real_signature_with_type_hints(name, fn):
    target = fn.__init__ if inspect.isclass(fn) and "__init__" in vars(fn) else fn
    if inspect.isclass(fn) and "__new__" in vars(fn) and "__init__" not in vars(fn):
        target = fn.__new__
    sig = inspect.signature(target)
    params = list(sig.parameters.values())
    if params and params[0].name in ("self", "cls", "func"):
        params = params[1:]  # the receiver (directives take the Func as `func`)
    generic = [p.name for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name in ("args", "kwargs")]
    assert not generic, f"hg.{name}{sig}: a generic (*args, **kwargs) signature"
    missing = [p.name for p in params
               if p.annotation is p.empty and p.kind is not p.VAR_KEYWORD]
    assert not missing, f"hg.{name}{sig}: parameters without type hints: {missing}"
    if not inspect.isclass(fn):
        assert sig.return_annotation is not sig.empty, f"hg.{name}{sig}: no return type"


@pytest.mark.parametrize("cls", [hg.Func, hg.Pipeline, hg.RDom, hg.Buffer, hg.ImageParam,
                                 hg.Param], ids=lambda c: c.__name__)
def test_help_of_a_class_shows_docstrings_not_code_comments(cls):
    undocumented = [n for n, member in inspect.getmembers(cls)
                    if not n.startswith("_") and (inspect.isfunction(member)
                                                  or isinstance(member, property))
                    and not inspect.getdoc(member)]
    assert not undocumented, f"{cls.__name__}: methods without a docstring: {undocumented}"
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    comments = [line for line in text.splitlines() if line.strip().lstrip("|").strip()
                .startswith("# --")]
    assert not comments, comments


def test_the_package_ships_a_py_typed_marker():
    marker = pathlib.Path(hg.__file__).parent / "py.typed"
    assert marker.exists()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'\[tool\.setuptools\.package-data\]\s*halogrid\s*=\s*\[\s*"py\.typed"',
                     pyproject), "py.typed is not declared as package data"
