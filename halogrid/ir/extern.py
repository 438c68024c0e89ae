"""Extern stages: Funcs computed by the user's Python code (NumPy or an @njit function).

`hg.extern(name, fn, inputs=[a, b], type=hg.Float(32), dims=2, region=None, vjp=None)`
returns a Func whose values over a box come from

    fn(out_origin, out_shape, a_array, a_origin, b_array, b_origin, ...) -> ndarray

(Halide's define_extern, whose buffers carry their mins): `out_origin`/`out_shape` are
tuples of ints, the box of the extern's own coordinates the pipeline needs (its first
element is at out_origin); each input comes as the array of the box it reads and the
coordinate of that array's first element. The result must have exactly `out_shape`
and the stage's dtype (checked at run time, codegen/externs.py).

Region rule: `region(out_box)` gets the output box as (min, extent) Exprs per dimension
and returns one box per input, (min, extent) per input dimension (ints or integer
Exprs of the out box, input extents and Params), e.g. a 3x3 stencil inside fn:
`region=lambda b: [[(m - 1, e + 2) for m, e in b]]`. Default: a Func input reads the
output's own box (it must have as many dimensions), a Buffer or ImageParam all of it.
Inputs whose box is outside an input raise the usual BoundsError when called.

`vjp(d_out, out_origin, out_shape, a_array, a_origin, ...)` returns one adjoint array
per input, each of the shape of that input's box (None: no adjoint through it); with
it gradients pass through the stage (autodiff/custom.py), without it
`propagate_adjoints` raises a DifferentiationError naming the stage.

Representation: a Func of kind 'extern' whose `extern` attribute is its ExternStage.
Its one definition is a stand-in that calls every input at the corners of the box
it reads, written in the stage's own region Vars (ir/bounds.region_vars), so the
graph, bounds inference, input-read checks and the cache key see the real reads.
The stand-in is never evaluated: codegen replaces the stage by one ExternCall run by
the driver (codegen/passes/extern_stages.py) and autodiff never derives it. Extern
stages and their Func inputs are computed at root, as in Halide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .. import errors
from .buffer import InputBuffer, Param
from .expr import Call, Var
from .func import Definition, Func
from .ops import cast, to_expr
from .types import INT32, Type
from .visit import collect, substitute


@dataclass(eq=False)
class ExternStage:
    """What the driver needs to run one extern stage.

    `boxes[i]`: the (min, extent) Exprs per dimension of input i that one call reads.
    A forward stage is called over its own allocation (`call_box` None) and returns
    exactly it. A vjp stage (kind 'vjp', made by `vjp_stage`) is called over the fixed
    `call_box` (its forward stage's region) with `inputs[0]` the output adjoint; of
    the vjp's results it keeps number `select`, which covers the box of input
    1 + select (in its own coordinates, those of that input), and is zero elsewhere."""

    name: str                      # the user's name: messages only, never emitted
    fn: object
    inputs: tuple
    boxes: tuple
    type: Type
    vjp: object = None
    kind: str = "forward"
    call_box: tuple | None = None
    select: int = 0
    forward: "ExternStage | None" = None   # a vjp stage's forward stage


def extern(name: str, fn: Callable, inputs: Sequence, type: Type, dims: int,  # noqa: A002
           region: Callable | None = None, vjp: Callable | None = None) -> Func:
    """A Func computed by `fn` over the box the pipeline needs (see the module doc).

    >>> def double(origin, shape, a, a_origin):
    ...     return 2 * a
    >>> twice = hg.extern("twice", double, inputs=[inp], type=hg.Float(32), dims=2,
    ...                   region=lambda box: [box], vjp=lambda d, o, s, a, ao: [2 * d])
    """
    name = str(name)
    inputs = tuple(inputs)
    _check_signature(name, fn, inputs, type, dims, vjp)
    f = Func(name, _kind="extern")
    out_box = _own_box(f, dims)
    boxes = _input_boxes(name, inputs, out_box, region)
    stage = ExternStage(name, fn, inputs, boxes, type, vjp)
    _define(f, stage, dims)
    for inp in inputs:
        if isinstance(inp, Func):
            inp.compute_root()  # fn reads its whole box as one array
    return f


def vjp_stage(e: Func, d_e: Func, index: int, call_box: tuple) -> Func:
    """The Func over input `index` of extern `e` that its vjp computes from the output
    adjoint `d_e` over `call_box` (e's forward region): zero outside that input's box."""
    fwd = e.extern
    own = {}
    for (m, x), (cm, cx) in zip(_own_box(e, e.dimensions()), call_box):
        own[m], own[x] = cm, cx
    boxes = tuple(tuple((substitute(m, own), substitute(x, own)) for m, x in box)
                  for box in fwd.boxes)
    target = fwd.inputs[index]
    stage = ExternStage(f"{fwd.name}.vjp", fwd.vjp, (d_e,) + fwd.inputs,
                        (tuple(call_box),) + boxes, target.type(), kind="vjp",
                        call_box=tuple(call_box), select=index, forward=fwd)
    f = Func(f"d_{fwd.name}_{target.name}", _kind="extern")
    _define(f, stage, target.dimensions())
    d_e.compute_root()  # read as one buffer (a seed's boundary Func would be inlined)
    return f


def extern_funcs(funcs) -> list[Func]:
    """The extern stages among `funcs`, in their order: the k-th is the driver's
    extern number k (codegen/externs.py binds its runner under that name)."""
    return [f for f in funcs if getattr(f, "extern", None) is not None]


def _own_box(f: Func, dims: int) -> list[tuple[Var, Var]]:
    """The (min, extent) Vars of f's allocation that bounds inference defines: the names
    of ir/bounds.region_vars (which needs f defined already; a test holds them equal)."""
    prefix = f"{f.name}#{f.uid}"
    return [(Var(f"{prefix}.min.{d}", INT32), Var(f"{prefix}.extent.{d}", INT32))
            for d in range(dims)]


def _define(f: Func, stage: ExternStage, dims: int) -> None:
    """f's stand-in definition: calls of each input at both corners of its box (see
    the module doc), plus one of f's own region Vars, which ties the cache key to f
    itself (so a compiled module is shared only by pipelines of this very stage, whose
    runner the module's globals hold)."""
    args = tuple(Var(f"_ext{d}") for d in range(dims))
    value = cast(stage.type, 0)
    for inp, box in zip(stage.inputs, stage.boxes):
        for corner in (tuple(m for m, _ in box), tuple(m + x - 1 for m, x in box)):
            value = value + cast(stage.type, Call(inp, corner, 0))
    value = value + cast(stage.type, _own_box(f, dims)[0][0])
    f.extern = stage
    f.definitions.append(Definition(args, (value,), (), errors.user_location()))
    f.compute_root()


def _check_signature(name, fn, inputs, type_, dims, vjp) -> None:
    if not callable(fn):
        raise errors.bad_extern(name, f"fn is a {type(fn).__name__}, not a function",
                                "Pass a Python function or an @njit function")
    if vjp is not None and not callable(vjp):
        raise errors.bad_extern(name, f"vjp is a {type(vjp).__name__}, not a function",
                                "Pass a function returning one adjoint array per input")
    if not isinstance(type_, Type):
        raise errors.bad_extern(name, f"type is {type_!r}, not a halogrid type",
                                "Pass e.g. type=hg.Float(32)")
    if not isinstance(dims, int) or dims < 1:
        raise errors.bad_extern(name, f"dims is {dims!r}", "Pass the number of dimensions "
                                "of its output, an int of at least 1")
    for i, inp in enumerate(inputs):
        if isinstance(inp, Param) or not isinstance(inp, (Func, InputBuffer)):
            raise errors.bad_extern(name, f"input {i} is {inp!r}", "Inputs are Funcs, "
                                    "Buffers or ImageParams; read a Param in a Func and "
                                    "pass that Func")
        if isinstance(inp, Func) and inp.outputs() != 1:  # an undefined one raises here
            raise errors.bad_extern(name, f"input {i} ('{inp.name}') is a tuple Func",
                                    "Pass one Func per value, e.g. a Func g[x] = t[x][0]")


def _input_boxes(name, inputs, out_box, region) -> tuple:
    """One box per input: region(out_box) or the default (module doc), checked."""
    if region is None:
        return tuple(_default_box(name, i, inp, out_box) for i, inp in enumerate(inputs))
    boxes = region([(m, x) for m, x in out_box])
    if not isinstance(boxes, (list, tuple)) or len(boxes) != len(inputs):
        raise errors.bad_extern(name, f"region returned {boxes!r} for {len(inputs)} input(s)",
                                "Return one box per input: [[(min, extent), ...], ...]")
    return tuple(_checked_box(name, i, inp, box, out_box)
                 for i, (inp, box) in enumerate(zip(inputs, boxes)))


def _default_box(name, i, inp, out_box) -> tuple:
    if isinstance(inp, InputBuffer):
        return tuple((cast(INT32, 0), inp.extent_expr(d)) for d in range(inp.dimensions()))
    if inp.dimensions() != len(out_box):
        raise errors.bad_extern(name, f"input {i} ('{inp.name}') has {inp.dimensions()} "
                                f"dimension(s) and the stage {len(out_box)}, so it has no "
                                "default box", "Pass region=lambda box: [...] giving each "
                                "input's box")
    return tuple(out_box)


def _checked_box(name, i, inp, box, out_box) -> tuple:
    """box as (min, extent) Int(32) Exprs of the out box (no other Vars)."""
    pairs = list(box) if isinstance(box, (list, tuple)) else None
    if pairs is None or len(pairs) != inp.dimensions() or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise errors.bad_extern(name, f"region gave input {i} ('{inp.name}') the box "
                                f"{box!r}", f"Give it {inp.dimensions()} (min, extent) pair(s)")
    allowed = {id(v) for pair in out_box for v in pair}
    out = []
    for lo, extent in pairs:
        lo, extent = to_expr(lo), to_expr(extent)
        free = [v for v in collect((lo, extent), Var) if id(v) not in allowed]
        if not (lo.type.is_int and extent.type.is_int) or free or collect((lo, extent), Call):
            raise errors.bad_extern(name, f"region gave input {i} ('{inp.name}') the bound "
                                    f"({lo}, {extent})", "Use integer expressions of the out "
                                    "box, input extents and Params only")
        out.append((cast(INT32, lo), cast(INT32, extent)))
    return tuple(out)
