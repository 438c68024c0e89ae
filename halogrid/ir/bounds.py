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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import errors
from .expr import Call, Expr, RVar, Var
from .func import update_pure_dims
from .interval import Interval, bounds_of, union
from .simplify import simplify
from .types import INT32
from .visit import collect


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
    """Regions for stored `funcs` (realization order) and reads of `inputs`."""
    result = BoundsResult()
    for f in funcs:
        result.regions[id(f)] = region_vars(f)
    consumers_of = {id(f): [] for f in funcs}
    for f in funcs:
        for s in stages[id(f)]:
            for call in collect(s.exprs(), Call):
                if call.callee is not f and id(call.callee) in consumers_of:
                    consumers_of[id(call.callee)].append(s)
    for f in reversed(funcs):
        _infer_func(f, stages, outputs, result, consumers_of[id(f)])
    for inp in inputs:
        for f in funcs:
            for s in stages[id(f)]:
                scope = stage_scope(s, result.regions[id(f)])
                reads = footprint(inp, s.exprs(), scope, f.name)
                for d, iv in enumerate(reads or []):
                    result.input_reads.append((f, inp, d, iv.simplified()))
    return result


def _infer_func(f, stages, outputs, result: BoundsResult, consumer_stages) -> None:
    region = result.regions[id(f)]
    n = f.dimensions()
    required = None
    if any(f is o for o in outputs):
        extents = _vars(f"{f.name}#{f.uid}", "out_extent", n)
        result.out_extents[id(f)] = extents
        required = [Interval(_zero(), e - 1) for e in extents]
    for s in consumer_stages:
        scope = stage_scope(s, result.regions[id(s.func)])
        required = merge(required, footprint(f, s.exprs(), scope, s.func.name))
    if required is None:
        raise errors.InternalError(f"stored Func {f.name} has no consumer and is no output")
    for d, iv in enumerate(required):
        result.lets.append((region.req_min[d], simplify(iv.min)))
        result.lets.append((region.req_max[d], simplify(iv.max)))
    allocated = [Interval(region.req_min[d], region.req_max[d]) for d in range(n)]
    for s in stages[id(f)][1:]:
        scope = stage_scope(s, region)
        lhs = []
        for d, a in enumerate(s.args):
            iv = bounds_of(a, scope)
            if not iv.bounded:
                raise errors.unbounded_index(f.name, f.name, d)
            lhs.append(iv)
        allocated = merge(allocated, lhs)
        allocated = merge(allocated, footprint(f, s.exprs(), scope, f.name))
    for d, iv in enumerate(allocated):
        result.lets.append((region.min[d], simplify(iv.min)))
        result.lets.append((region.max[d], simplify(iv.max)))
        result.lets.append((region.extent[d], simplify(region.max[d] - region.min[d] + 1)))


def _zero():
    from .expr import Const
    return Const(INT32, 0)
