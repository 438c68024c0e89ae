"""A definition's schedule turned into concrete loops: the loop list, the value of
every original dimension in terms of the loop variables, and the tail guards.

Invariants: loops are listed outermost first; each loop's min and extent only read
loops listed before it (a split's inner loop whose exact extent reads an inner loop
instead runs to its constant factor under a guard, Halide's GuardWithIf). A split
x -> (xo, xi) by F iterates x = min + xo*F + xi with xi < min(F, extent - xo*F), so
splits that do not divide the extent stay exact for pure and update definitions.
Loop variables are fresh per definition, so a producer computed inside a
consumer's loop never shadows the consumer's variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import errors
from ..ir.expr import Const, Expr, Var
from ..ir.simplify import simplify
from ..ir.types import INT32
from ..ir.visit import collect, substitute
from ..schedule.state import initial_stage_schedule
from .target import THREADS



@dataclass
class Loop:
    name: str
    var: Var
    min: Expr
    extent: Expr
    kind: str = "serial"
    partition: bool = False


@dataclass
class LoopPlan:
    loops: list[Loop]                       # outermost first
    subst: dict = field(default_factory=dict)   # original Var/RVar -> Expr of loop vars
    guards: list[Expr] = field(default_factory=list)
    lets: list[tuple] = field(default_factory=list)  # (Var, Expr) evaluated before the loops

    def loop(self, name: str) -> Loop | None:
        return next((lp for lp in self.loops if lp.name == name), None)


def _c(v: int) -> Const:
    return Const(INT32, v)


class _Builder:
    def __init__(self, func, index: int):
        self.func, self.index, self.count = func, index, 0
        self.current: dict[str, Var] = {}      # loop name -> its current Var
        self.info: dict[str, tuple] = {}       # loop name -> (min, extent)
        self.value: dict[Var, Expr] = {}       # retired Var -> Expr of newer Vars
        self.limit: dict[str, tuple] = {}      # split inner -> (factor, exact extent)
        self.loop_vars: set = set()
        self.lets: list[tuple] = []
        self.guards: list[Expr] = []

    def fresh(self, name: str) -> Var:
        self.count += 1
        v = Var(f"{name}#{self.func.uid}s{self.index}n{self.count}", INT32)
        self.current[name] = v
        self.loop_vars.add(v)
        return v

    def split(self, x: str, xo: str, xi: str, factor) -> None:
        old = self.current.pop(x)
        m, e = self.info.pop(x)
        size = e
        if isinstance(factor, int):
            f = _c(factor)
        else:  # ("chunks", n): n chunks, n = THREADS for "threads"; sized before the loops
            n = THREADS if factor == "threads" else _c(factor[1])
            if x in self.limit and set(collect((e,), Var)) & self.loop_vars:
                size = self.limit[x][0]  # a split tail: chunk its factor, xi's tail empty
            f = Var(f"{x}.chunk_size#{self.func.uid}s{self.index}n{self.count}", INT32)
            self.lets.append((f, simplify((size + n - 1) / n)))
        vo, vi = self.fresh(xo), self.fresh(xi)
        self.info[xo] = (_c(0), simplify((size + f - 1) / f))
        exact = simplify(_min(f, e - vo * f))
        self.info[xi] = (_c(0), exact)
        self.limit[xi] = (f, exact)
        self.value[old] = m + vo * f + vi

    def fuse(self, inner: str, outer: str, fused: str) -> None:
        vi, vo = self.current.pop(inner), self.current.pop(outer)
        (mi, ei), (mo, eo) = self.info.pop(inner), self.info.pop(outer)
        if inner in self.limit and set(collect((ei,), Var)) & self.loop_vars:
            ei, exact = self.limit.pop(inner)   # a split tail: run to the factor, guarded
            self.guards.append(_lt(vi - mi, exact))
        if set(collect((eo,), Var)) & self.loop_vars:
            raise errors.schedule_error(
                self.func.name, f"fuse({inner}, {outer}, {fused})",
                f"the extent of '{outer}' varies from one iteration to the next (a split "
                "tail)", "Fuse the outer loop of a split, or use factors that divide")
        vf = self.fresh(fused)
        # an empty loop (extent <= 0, an RDom with no points) keeps the fused one empty:
        # two negative extents would multiply into a positive one
        self.info[fused] = (_c(0), simplify(_max0(ei) * _max0(eo)))
        self.value[vi] = mi + vf % ei
        self.value[vo] = mo + vf / ei

    def resolve(self, e: Expr) -> Expr:
        for _ in range(64):
            nxt = substitute(e, self.value)
            if nxt is e:
                return simplify(e)
            e = nxt
        raise errors.InternalError("split definitions do not terminate")


def _max0(e: Expr) -> Expr:
    from ..ir.expr import Binary
    return Binary("max", e, _c(0))


def _min(a: Expr, b: Expr) -> Expr:
    from ..ir.expr import Binary
    return Binary("min", a, b)


def plan_stage(stage, ranges: dict, sched=None) -> LoopPlan:
    """Loops for `stage` (an ir.bounds.Stage); ranges: original name -> (min, extent)."""
    func = stage.func
    s = sched or func.definitions[stage.index].schedule or initial_stage_schedule(
        func.definitions[stage.index])
    b = _Builder(func, stage.index)
    originals = _originals(stage)
    for name in originals:
        b.fresh(name)
        b.info[name] = ranges[name]
    start = {name: b.current[name] for name in originals}
    for rec in s.splits:
        if rec[0] == "split":
            b.split(*rec[1:])
        else:
            b.fuse(*rec[1:])
    if s.rfactor is not None:  # the factored loop keeps its loop, under its new name
        u, r = s.rfactor
        b.current[u], b.info[u] = b.current.pop(r), b.info.pop(r)
        if r in b.limit:
            b.limit[u] = b.limit.pop(r)
    plan = LoopPlan([], lets=b.lets, guards=list(b.guards))
    outside: set = set()
    for name in s.dims:
        var = b.current[name]
        m, e = b.info[name]
        kind = s.kinds.get(name, "serial")
        inner_vars = set(collect((e,), Var)) & b.loop_vars
        if name in b.limit and (not inner_vars <= outside or kind == "unrolled"):
            factor, exact = b.limit[name]
            plan.guards.append(_lt(var, exact))
            e = factor
        plan.loops.append(Loop(name, var, m, e, kind, name in s.partition))
        outside.add(var)
    plan.guards = [b.resolve(g) for g in plan.guards]
    for name, expr in originals.items():
        plan.subst[expr] = b.resolve(start[name])
    return plan


def _lt(a: Expr, b: Expr) -> Expr:
    from ..ir.expr import Binary
    return Binary("<", a, b)


def _originals(stage) -> dict:
    """Original dimension name -> the Var/RVar expression the definition uses."""
    out = {}
    for _, var in stage.pure_dims:
        out[var.name] = var
    for rv in stage.rvars:
        out[rv.name] = rv
    return out


def stage_ranges(stage, region) -> dict:
    """Default iteration ranges: pure def over the allocation, updates over the
    required region, RVars over their RDom."""
    out = {}
    for d, var in stage.pure_dims:
        if stage.index == 0:
            out[var.name] = (region.min[d], region.extent[d])
        else:
            out[var.name] = (region.req_min[d],
                             simplify(region.req_max[d] - region.req_min[d] + 1))
    for rv in stage.rvars:
        out[rv.name] = (rv.min, rv.extent)
    return out

