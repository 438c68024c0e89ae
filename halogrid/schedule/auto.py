"""The autoscheduler: one pass over a pipeline (forward and adjoint Funcs alike).

Rules, in order, for Funcs the user left unscheduled:
  * store or recompute: a pure Func read at several distinct points by its consumers
    (a stencil input, or a forward value an adjoint gathers over an RDom) is stored
    (compute_root) so it is not recomputed per read; pointwise Funcs stay inlined;
  * pure definitions of stored Funcs: the outermost loop runs in parallel; the
    innermost stays a plain contiguous loop for LLVM to vectorise (no explicit
    vectorize: measured slower to compile and to run on W1/W3 gradients); when the
    definition clamps or range-tests that innermost Var (an adjoint's gather), the
    edges where they bite are peeled off so the middle has neither (W3's gradient at
    4 MP: 61 -> 18 ms; peeling loops without them, like W7's 2-channel inner loop,
    made its forward 1.5-2x slower), unless they all hold that Var within NARROW
    constants (W7's adjoints clamp the channel to [0, 1]: a copy of the loop body for
    nothing, and compile time);
  * updates over stencil taps (reads at x + (RVars) along the innermost Var x: a
    convolution, or a conv layer's adjoint over output channels x 3 x 3) run the taps
    outside the innermost pure loop, which then walks contiguous memory (its clamped
    edges peeled); other reductions keep their RVars innermost (a bilateral slice's
    corners, whose weights do not depend on them);
  * updates: parallel over the outermost pure Var when each iteration owns its point
    (a fixed slice too, like one channel of an adjoint), except the edge pieces of a
    boundary condition's adjoint (a fixed row summing the few reads past the edge),
    whose work is too small to pay for a parallel launch;
    associative reductions and scatters (+=, min/max ...) go parallel over their
    outermost RVar, and the runtime picks private accumulators or atomics. That
    includes reductions into one fixed point over a large RDom (a loss, the adjoint of
    a matrix entry read by every pixel), 0-D Funcs too.
Directives a Func already has are never overridden; a directive the legality checks
refuse is skipped (the default schedule is always a valid fallback). Parallel loops
fall back to serial code for small problems, so small pipelines keep their speed.
"""

from __future__ import annotations

from .. import errors
from ..ir.expr import Binary, Call, Cast, Const, RVar, Var
from ..ir.graph import build_graph
from ..ir.visit import collect
from .defaults import is_stored
from .directives import Stage, schedule_of

NARROW = 8  # clamps to fewer constant values than this leave no loop worth peeling


def auto_schedule(outputs, target: str = "cpu") -> None:
    """Schedule every Func reachable from `outputs` (see the module docstring; for
    target "cuda", auto_cuda.py's policy)."""
    if target == "cuda":
        from .auto_cuda import auto_schedule_cuda  # imports this module's helpers
        auto_schedule_cuda(outputs)
        return
    graph = build_graph(outputs)
    for f in graph.funcs:
        if schedule_of(f).compute is None and _worth_storing(f, graph):
            f.compute_root()
    for f in graph.funcs:
        if not is_stored(f, graph.outputs):
            continue
        if f.dimensions() > 0:
            _schedule_pure(f)
        for i in range(1, len(f.definitions)):
            _schedule_update(f, i)


def _worth_storing(f, graph) -> bool:
    """A pure Func read at two or more distinct points (per consumer definition). Not
    a boundary condition read at a data-dependent index (a warp's floor(coordinate)):
    such reads are bounded only by the condition's own clamp, inlined into them."""
    if len(f.definitions) != 1 or any(f is o for o in graph.outputs):
        return False
    worth = False
    for consumer in graph.consumers.get(id(f), []):
        for d in consumer.definitions:
            reads = {c.args for c in collect(tuple(d.args) + tuple(d.values), Call)
                     if c.callee is f}
            if f.kind == "boundary" and any(_data_dependent(args) for args in reads):
                return False
            worth = worth or len(reads) > 1 or bool(reads and d.rdoms)
    return worth


def _data_dependent(args) -> bool:
    """An index computed from loaded values or from floats (i32(floor(u)) of a
    coordinate), whose interval bounds analysis cannot prove finite."""
    return bool(collect(args, Call)) or any(c.value.type.is_float
                                            for c in collect(args, Cast))


def _customised(f, index: int) -> bool:
    s = f.definitions[index].schedule
    return s is not None and bool(s.splits or s.kinds or s.rfactor or s.atomic or s.partition)


def _small_constant_domain(rvars, limit: int = 256) -> bool:
    """RVars with constant extents whose product is at most `limit` (kernel taps)."""
    total = 1
    for rv in rvars:
        if not isinstance(rv.extent, Const):
            return False
        total *= rv.extent.value
    return total <= limit


def _edge_pieces(rvars) -> bool:
    """An RDom narrowed to the reads past an image edge (a clamp's adjoint: extents
    like min(w, -1) + 2, a few pixels wide), or a few constant taps."""
    return _small_constant_domain(rvars) or any(
        b.op in ("min", "max") for rv in rvars for b in collect((rv.extent,), Binary))


def _has_taps(d) -> bool:
    """Stencil taps: a read at x + (an expression of RVars) along the innermost Var x
    of the left side (which must be all pure Vars: each point owns its value)."""
    if not d.args or not all(isinstance(a, Var) for a in d.args):
        return False
    x = d.args[-1]
    return any(_shifted(arg, x) for c in collect(tuple(d.values), Call) for arg in c.args)


def _shifted(arg, x) -> bool:
    """arg is (a clamp of) x + terms, the terms free of x and some reading an RVar."""
    while isinstance(arg, Binary) and arg.op in ("min", "max"):
        arg = arg.a if _reads(arg.a, x) else arg.b
    terms = _terms(arg)
    with_x = [t for t in terms if _reads(t, x)]
    return len(with_x) == 1 and with_x[0] is x and any(collect((t,), RVar) for t in terms)


def _reads(e, x) -> bool:
    return any(v is x for v in collect((e,), Var))


def _terms(e) -> list:
    if isinstance(e, Binary) and e.op in ("+", "-"):
        return _terms(e.a) + _terms(e.b)
    return [e]


def _try(directive) -> None:
    try:
        directive()
    except errors.ScheduleError:
        pass  # the default loop stays: always valid


def _schedule_pure(f) -> None:
    if _customised(f, 0):
        return
    args = f.args()
    if len(args) >= 2:
        _try(lambda: f.parallel(args[0]))
        if _clamps_along(f.definitions[0], args[-1]):
            _peel_edges(f, 0, args[-1])


def _clamps_along(d, x) -> bool:
    """A clamp or range test on x in the definition (an adjoint's gather guard), unless
    all of them hold x within a few constants (a channel index clamped to [0, 1]): a
    loop that short has no steady middle worth a copy of its body."""
    tests = [b for b in collect(tuple(d.values), Binary)
             if b.op in ("min", "max", "<", "<=") and _reads(b, x)]
    limits = [side for b in tests for side in (b.a, b.b) if not _reads(side, x)]
    if limits and all(isinstance(v, Const) for v in limits):
        values = [v.value for v in limits]
        return max(values) - min(values) >= NARROW
    return bool(tests)


def _peel_edges(f, index: int, var) -> None:
    """Partition the innermost loop: where its clamps and range tests bite (image
    edges) runs apart from the steady middle, which LLVM can vectorise."""
    sched = f.definitions[index].schedule
    if sched is not None:
        sched.partition.add(var.name)


def _schedule_update(f, index: int) -> None:
    if _customised(f, index):
        return
    d = f.definitions[index]
    stage = Stage(f, index)
    pure = list(dict.fromkeys(a for a in d.args if isinstance(a, Var)))  # f[x, x]: once
    rvars = [RVar(r, k) for r in d.rdoms for k in range(r.dimensions())]
    fixed = any(not isinstance(a, Var) and not collect((a,), RVar) for a in d.args)
    if fixed and rvars and _edge_pieces(rvars):
        return  # what a clamp's adjoint collects at an image edge: too little work
    if pure and rvars and _has_taps(d):
        # a stencil-like reduction (conv taps): run the taps outside the innermost pure
        # loop, so that loop walks contiguous memory and LLVM can vectorise it
        inner_first = [pure[-1]] + list(reversed(rvars)) + list(reversed(pure[:-1]))
        _try(lambda: stage.reorder(*inner_first))
        _peel_edges(f, index, pure[-1])
    if pure:
        _try(lambda: stage.parallel(pure[0]))
    elif rvars:
        _try(lambda: stage.parallel(rvars[0]))

