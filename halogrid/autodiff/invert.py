"""Scatter -> gather (Li et al. 2018, section 4): how one call's adjoint reaches its callee.

A consumer stage reads producer p at index expressions e(loop vars) and sends adjoint
A(loop vars) back. When e is invertible (ir/solve.py), the contribution is a *gather*
over p's own variables: the solved loop vars are replaced by their solutions, the
remaining loop vars (and the several solutions of floor divisions) become a fresh RDom,
and predicates keep the solutions inside the consumer's domain. Otherwise it is a
*scatter* update at p[e] over a fresh RDom covering the consumer's whole domain; the
update is correct under any schedule (codegen serialises or privatises it).

Invariant: a Contribution with `rdom is None` is a pure expression over `args` (the
producer's Vars); with an RDom it is an update `adjoint[args] += value` over it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import ops
from ..ir.expr import Const, Expr, Var
from ..ir.types import INT32
from ..ir.func import RDom
from ..ir.simplify import simplify
from ..ir.solve import invert
from ..ir.visit import substitute


@dataclass
class Contribution:
    args: tuple          # producer coordinates (Vars for gathers, any Exprs for scatters)
    value: Expr
    rdom: RDom | None
    is_scatter: bool = False


@dataclass
class LoopDomain:
    """The loop variables of a consumer stage and their ranges (closed form)."""

    pure: list           # [(Var, min Expr, max Expr)]
    rvars: list          # [RVar] (ranges from their RDom)
    predicates: list     # RDom where-predicates of the stage

    def loop_vars(self) -> list:
        return [v for v, _, _ in self.pure] + list(self.rvars)

    def range_of(self, v) -> tuple[Expr, Expr]:
        for var, lo, hi in self.pure:
            if var is v:
                return lo, hi
        return v.min, simplify(v.min + v.extent - 1)


def producer_vars(n: int) -> tuple[Var, ...]:
    return tuple(Var(f"_d{d}") for d in range(n))


def _and_all(conds: list[Expr]):
    result = None
    for c in conds:
        result = c if result is None else result & c
    return result


def _guarded(value: Expr, conds: list[Expr]) -> Expr:
    cond = _and_all(conds)
    return value if cond is None else ops.select(cond, value, ops.cast(value.type, 0))


def _fresh_rdom(ranges: list[tuple[Expr, Expr]], name: str) -> RDom:
    return RDom([(lo, simplify(hi - lo + 1)) for lo, hi in ranges], name=name)


def scatter(call_args: tuple, adjoint: Expr, domain: LoopDomain, name: str) -> Contribution:
    """p[e] += A over every point of the consumer's domain."""
    loop_vars = domain.loop_vars()
    if not loop_vars:
        return Contribution(tuple(call_args), adjoint, None, is_scatter=True)
    rdom = _fresh_rdom([domain.range_of(v) for v in loop_vars], name)
    mapping = {v: rdom[i] for i, v in enumerate(loop_vars)}
    value = _guarded(adjoint, [substitute(p, mapping) for p in domain.predicates])
    args = tuple(substitute(a, mapping) for a in call_args)
    return Contribution(args, substitute(value, mapping), rdom, is_scatter=True)


def gather(call_args: tuple, adjoint: Expr, domain: LoopDomain, name: str) -> Contribution | None:
    """The contribution as a gather over the producer's Vars, or None if not invertible."""
    targets = producer_vars(len(call_args))
    loop_vars = domain.loop_vars()
    inv = invert(call_args, loop_vars, targets)
    if inv is None:
        return None
    conds = list(inv.predicates)
    clamped = {}
    for v, solution in inv.solutions.items():
        lo, hi = domain.range_of(v)
        conds += [lo <= solution, solution <= hi]
        clamped[v] = ops.clamp(solution, lo, hi)  # keeps reads in range; the select zeroes
    leftovers = [v for v in loop_vars if v not in inv.solutions]
    ranges = [domain.range_of(v) for v in leftovers]
    ranges += [(Const(INT32, 0), Const(INT32, c - 1)) for _, c in inv.multiplicity]
    cond = _and_all([substitute(c, inv.solutions) for c in conds + list(domain.predicates)])
    body = substitute(adjoint, clamped)
    value = body if cond is None else ops.select(cond, body, ops.cast(body.type, 0))
    if not ranges:
        return Contribution(targets, simplify(value), None)
    rdom = _fresh_rdom(ranges, name)
    extra = leftovers + [k for k, _ in inv.multiplicity]
    value = substitute(value, {v: rdom[i] for i, v in enumerate(extra)})
    return Contribution(targets, simplify(value), rdom)


def contribution(call_args: tuple, adjoint: Expr, domain: LoopDomain, name: str) -> Contribution:
    """Gather when the indices can be inverted, scatter otherwise."""
    found = gather(call_args, adjoint, domain, name) if call_args else None
    return found if found is not None else scatter(call_args, adjoint, domain, name)

