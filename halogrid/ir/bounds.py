"""Bounds inference: the region of every stored Func and every input that the
outputs need, as symbolic lets evaluated at run time.

Input: the stored Funcs in realization order, each with its lowered stages (calls to
inlined Funcs already substituted). Output: an ordered list of (Var, Expr) lets
(consumers before producers, so every let only refers to earlier ones, to output
extents, input extents and Params) and the intervals at which inputs are read.

Per stored Func f and dimension d the lets are named (`regions[f]` holds the Vars):
  req_min/req_max  what consumers (or the output shape) need; updates' pure
                   loops run over this
  min/max/extent   the allocation: req united with the footprint of f's own updates
                   (their left sides and self-reads); the pure definition runs over it

Reads through inlined Funcs are followed Func by Func, as Halide's boxes are: within
one stage, an inlined Func's region (the union of its call sites) becomes lets, and
its own calls are bounded over those lets. So the lets grow linearly with the number
of call sites in the pipeline, where the inlined expressions (chained clamped
stencils: 4 taps per stage, 4^depth distinct index expressions) would grow
exponentially. Index expressions themselves are bounded with inlined calls
substituted, so a clamp inside an inlined Func still bounds the index it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import errors
from .expr import Call, Expr, RVar, Var
from .func import update_pure_dims
from .interval import Interval, bounds_of, union
from .simplify import simplify
from .types import INT32
from .visit import collect, mutate_with, substitute


@dataclass
class Stage:
    """One definition of a stored Func after inlining: what the loop nest evaluates."""

    func: object
    index: int                      # 0 for the pure definition, i for update i-1
    args: tuple[Expr, ...]
    values: tuple[Expr, ...]
    rvars: list[RVar]               # outermost first (RDom order; LAST innermost)
    predicates: list[Expr]

    @property
    def pure_dims(self) -> list[tuple[int, Var]]:
        """Dims that loop over a pure Var (f[x, x]: dim 0 only)."""
        dims = update_pure_dims(self.args, self.func.definitions[0].args)
        return [(d, self.args[d]) for d in dims]

    def exprs(self) -> tuple[Expr, ...]:
        rdom_exprs = tuple(e for r in self.rvars for e in (r.min, r.extent))
        return self.args + self.values + tuple(self.predicates) + rdom_exprs


def stages_of(func, expand=lambda e: e) -> list[Stage]:
    """Every definition of func as a Stage, with `expand` applied to its expressions."""
    stages = []
    for index, d in enumerate(func.definitions):
        rvars = [RVar(r, k) for r in d.rdoms for k in range(r.dimensions())]
        stages.append(Stage(func, index, tuple(expand(a) for a in d.args),
                            tuple(expand(v) for v in d.values), rvars,
                            [expand(p) for p in d.predicate()]))
    return stages


def is_inlined(callee, stored: set[int]) -> bool:
    """A Func computed where it is called: defined, and not among the stored Funcs."""
    return id(callee) not in stored and hasattr(callee, "definitions")


def inliner(stored: set[int]):
    """`expand(e)`: e with every call of an inlined Func (is_inlined) replaced by its
    pure definition at the call's arguments, recursively. One memo per inliner.

    Arguments are simplified before they are substituted, so that calls reached along
    different paths (`g[(x - 1) + 1]`, `g[(x + 1) - 1]`) meet as one node and a chain
    of stencils expands to one node per distinct call, not one per path."""
    memo: dict = {}

    def expand(e: Expr) -> Expr:
        return mutate_with(e, {Call: _inline_call}, memo)

    def _inline_call(call: Call):
        f = call.callee
        if not is_inlined(f, stored):
            return None
        pure = f.definitions[0]
        args = [simplify(a) for a in call.args]
        return expand(substitute(pure.values[call.index], dict(zip(pure.args, args))))

    return expand


@dataclass
class Region:
    """Symbolic bounds Vars of one stored Func (one entry per dimension)."""

    req_min: list[Var]
    req_max: list[Var]
    min: list[Var]
    max: list[Var]
    extent: list[Var]


@dataclass
class BoundsResult:
    lets: list[tuple[Var, Expr]] = field(default_factory=list)
    regions: dict = field(default_factory=dict)       # id(func) -> Region
    out_extents: dict = field(default_factory=dict)   # id(func) -> [Var] (outputs only)
    out_mins: dict = field(default_factory=dict)      # id(func) -> [Var]: the region's origin
    input_reads: list = field(default_factory=list)   # (consumer, input, dim, Interval)


def _vars(prefix: str, what: str, n: int) -> list[Var]:
    return [Var(f"{prefix}.{what}.{d}", INT32) for d in range(n)]


def region_vars(func) -> Region:
    prefix = f"{func.name}#{func.uid}"
    n = func.dimensions()
    return Region(*(_vars(prefix, w, n) for w in ("req_min", "req_max", "min", "max", "extent")))


def stage_scope(stage: Stage, region: Region) -> dict:
    """Loop-variable intervals of a stage: pure def over the allocation, updates over req."""
    lo, hi = (region.min, region.max) if stage.index == 0 else (region.req_min, region.req_max)
    return {v: Interval(lo[d], hi[d]) for d, v in stage.pure_dims}


def footprint(callee, exprs, scope: dict, where: str) -> list[Interval] | None:
    """Per dimension, the union of the intervals at which `exprs` call `callee` (None:
    no call); an unbounded index raises, naming `where` (the calling Func)."""
    result = None
    for call in collect(tuple(exprs), Call):
        if call.callee is not callee:
            continue
        intervals = [bounds_of(a, scope) for a in call.args]
        for d, iv in enumerate(intervals):
            if not iv.bounded:
                raise errors.unbounded_index(where, callee.name, d)
        result = merge(result, intervals)
    return result


def merge(acc, new):
    """Dimension-wise union of two interval lists (None: nothing yet)."""
    if new is None:
        return acc
    return new if acc is None else [union(a, b) for a, b in zip(acc, new)]


def infer(funcs: list, stages: dict, outputs: list, inputs: list) -> BoundsResult:
    """Regions for stored `funcs` (realization order) and reads of `inputs`; `stages`
    are their Stages with inlined Funcs substituted (passes/inline.py)."""
    result = BoundsResult()
    stored = {id(f) for f in funcs}
    walk = _ReadWalker(stored, result.lets)
    for f in funcs:
        result.regions[id(f)] = region_vars(f)
    reads: dict = {}  # (id(func), stage index) -> {id(callee): [Interval]}
    for f in reversed(funcs):  # consumers first: their reads are known before f's
        _infer_func(f, stages[id(f)], outputs, result, reads, walk)
    for inp in inputs:
        for f in funcs:
            for s in stages[id(f)]:
                for d, iv in enumerate(reads[(id(f), s.index)].get(id(inp), [])):
                    result.input_reads.append((f, inp, d, iv.simplified()))
    return result


def _with_own_reads(f, stages: list, required: list[Interval]) -> list[Interval]:
    """`required` united with where f's updates read f (over `required`): the updates
    loop over req, so a cell a later update reads (f[y, 2] = f[y, 1] + f[y, 0] with
    only columns 1.. requested) must have gone through the earlier updates too."""
    for s in stages[1:]:
        scope = {v: required[d] for d, v in s.pure_dims}
        required = merge(required, footprint(f, s.exprs(), scope, f.name))
    return required


def _infer_func(f, stages: list, outputs, result: BoundsResult, reads: dict, walk) -> None:
    region = result.regions[id(f)]
    n = f.dimensions()
    required = None
    if any(f is o for o in outputs):
        extents = _vars(f"{f.name}#{f.uid}", "out_extent", n)
        mins = _vars(f"{f.name}#{f.uid}", "out_min", n)
        result.out_extents[id(f)], result.out_mins[id(f)] = extents, mins
        required = [Interval(m, m + e - 1) for m, e in zip(mins, extents)]
    for (consumer, _), by_callee in reads.items():
        if consumer != id(f):
            required = merge(required, by_callee.get(id(f)))
    if required is None:
        raise errors.InternalError(f"stored Func {f.name} has no consumer and is no output")
    required = _with_own_reads(f, stages, required)
    for d, iv in enumerate(required):
        result.lets.append((region.req_min[d], simplify(iv.min)))
        result.lets.append((region.req_max[d], simplify(iv.max)))
    allocated = [Interval(region.req_min[d], region.req_max[d]) for d in range(n)]
    raw = stages_of(f)
    for s in stages[1:]:  # updates loop over req: their footprint sizes the allocation
        scope = stage_scope(s, region)
        reads[(id(f), s.index)] = walk(raw[s.index], scope)
        lhs = []
        for d, a in enumerate(s.args):
            iv = bounds_of(a, scope)
            if not iv.bounded:
                raise errors.unbounded_index(f.name, f.name, d)
            lhs.append(iv)
        allocated = merge(allocated, lhs)
        allocated = merge(allocated, reads[(id(f), s.index)].get(id(f)))
    for d, iv in enumerate(allocated):
        result.lets.append((region.min[d], simplify(iv.min)))
        result.lets.append((region.max[d], simplify(iv.max)))
        result.lets.append((region.extent[d], simplify(region.max[d] - region.min[d] + 1)))
    reads[(id(f), 0)] = walk(raw[0], stage_scope(stages[0], region))


class _ReadWalker:
    """walk(stage, scope) -> {id(callee): [Interval]}: where one stage of a stored Func
    reads each stored Func and input, directly or through inlined Funcs.

    Invariant: every inlined Func is bounded once per stage, over the union of all its
    call sites in that stage (callers before callees), and that union is bound to lets
    (appended to `lets`, after the stored Func's own region lets), so no interval
    expression repeats another one inside it.
    """

    def __init__(self, stored: set[int], lets: list):
        self.stored, self.lets = stored, lets
        self.expand = inliner(stored)

    def __call__(self, stage: Stage, scope: dict) -> dict:
        reads: dict = {}
        boxes: dict = {}  # id(inlined Func) -> ([Interval], set of value indices called)
        self._visit(stage.exprs(), scope, stage.func.name, reads, boxes)
        for h in _inlined_order(stage.exprs(), self.stored):
            if id(h) not in boxes:  # reached only through tuple values nobody calls
                continue
            box, called = boxes[id(h)]
            pure = h.definitions[0]
            inner = dict(zip(pure.args, self._bind(h, stage, box)))
            values = tuple(pure.values[i] for i in sorted(called))
            self._visit(values, inner, stage.func.name, reads, boxes)
        return reads

    def _visit(self, exprs, scope: dict, where: str, reads: dict, boxes: dict) -> None:
        for call in collect(exprs, Call):
            intervals = [bounds_of(self.expand(a), scope) for a in call.args]
            key = id(call.callee)
            if is_inlined(call.callee, self.stored):
                box, called = boxes.get(key, (None, set()))
                boxes[key] = (merge(box, intervals), called | {call.index})
                continue
            for d, iv in enumerate(intervals):
                if not iv.bounded:
                    raise errors.unbounded_index(where, call.callee.name, d)
            reads[key] = merge(reads.get(key), intervals)

    def _bind(self, h, stage: Stage, box: list) -> list[Interval]:
        """The box with each compound end replaced by a let Var (named by the stage and
        the inlined Func's uid: an inlined Func's name appears in no loop nest)."""
        prefix = f"{stage.func.name}#{stage.func.uid}.{stage.index}.inlined{h.uid}"
        bound = []
        for d, iv in enumerate(box):
            ends = []
            for what, e in (("min", iv.min), ("max", iv.max)):
                if e is not None and e.children():
                    v = Var(f"{prefix}.{what}.{d}", e.type)
                    self.lets.append((v, simplify(e)))
                    e = v
                ends.append(e)
            bound.append(Interval(*ends))
        return bound


def _inlined_order(exprs, stored: set[int]) -> list:
    """The inlined Funcs `exprs` reach, each before every inlined Func it calls."""
    order: list = []
    seen: set[int] = set()

    def visit_calls(exprs) -> None:
        for call in collect(exprs, Call):
            f = call.callee
            if is_inlined(f, stored) and id(f) not in seen:
                seen.add(id(f))
                visit_calls(f.definitions[0].values)
                order.append(f)

    visit_calls(exprs)
    return order[::-1]
