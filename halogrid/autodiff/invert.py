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

import itertools
from dataclasses import dataclass, field, replace

from ..ir import ops
from ..ir.buffer import Param
from ..ir.expr import Binary, Call, Cast, Const, Expr, RVar, Var
from ..ir.func import Func, RDom
from ..ir.simplify import simplify
from ..ir.solve import invert
from ..ir.types import INT32, Type
from ..ir.visit import collect, substitute
from .backprop import leaf_adjoints


@dataclass
class Contribution:
    args: tuple          # producer coordinates (Vars for gathers, any Exprs for scatters)
    value: Expr
    rdom: RDom | None
    is_scatter: bool = False

    @property
    def is_pure(self) -> bool:
        """A gather with nothing to reduce over: a pure expression of the producer's Vars."""
        return self.rdom is None and not self.is_scatter


@dataclass
class LoopDomain:
    """The loop variables of a consumer stage and their ranges (closed form)."""

    pure: list           # [(Var, min Expr, max Expr)]
    rvars: list          # [RVar] (ranges from their RDom)
    predicates: list     # RDom where-predicates of the stage
    narrowed: dict = field(default_factory=dict)  # loop var -> (min, max) overriding the above

    def loop_vars(self) -> list:
        return [v for v, _, _ in self.pure] + list(self.rvars)

    def range_of(self, v) -> tuple[Expr, Expr]:
        if v in self.narrowed:
            return self.narrowed[v]
        for var, lo, hi in self.pure:
            if var is v:
                return lo, hi
        return v.min, simplify(v.min + v.extent - 1)


_LEVEL = [0]  # adjoint nesting level of the propagate_adjoints call in progress


def set_level(level: int) -> None:
    """Adjoints of adjoints name their Vars apart, so a consumer's Vars (an earlier
    adjoint's `_d0`) never collide with the producer Vars being solved for."""
    _LEVEL[0] = level


def producer_var(d: int) -> Var:
    return Var(f"_d{d}" if _LEVEL[0] == 0 else f"_d{d}_{_LEVEL[0]}")


def producer_vars(n: int) -> tuple[Var, ...]:
    return tuple(producer_var(d) for d in range(n))


def input_dims(obj) -> int:
    """The dimensions of a Func, Buffer or ImageParam; a Param's are 0."""
    return 0 if isinstance(obj, Param) else obj.dimensions()


def input_type(obj) -> Type:
    """The type of a one-valued Func, Buffer, ImageParam or Param (or any Expr)."""
    return obj.type() if callable(getattr(obj, "type", None)) else obj.type


def pack(values: list):
    """One item per value of a Func (adjoint Funcs, right sides) -> the item, or a tuple
    of them for a tuple Func."""
    return values[0] if len(values) == 1 else tuple(values)


def adjoint_func(name: str) -> Func:
    """A new adjoint Func (kind 'adjoint'), tagged with the nesting level of the walk
    creating it."""
    f = Func(name, _kind="adjoint")
    f.adjoint_level = _LEVEL[0]
    return f


def adjoint_name(obj, index: int, suffix: str = "") -> str:
    """d_f (d_f_0, d_f_1, ... for the values of a tuple Func), then `suffix`."""
    element = f"_{index}" if isinstance(obj, Func) and obj.outputs() > 1 else ""
    return f"d_{obj.name}{element}{suffix}"


def conjunction(conds: list[Expr]) -> Expr | None:
    """c0 & c1 & ...; None for no conditions."""
    result = None
    for c in conds:
        result = c if result is None else result & c
    return result


def guarded(value: Expr, conds: list[Expr]) -> Expr:
    """value where every condition holds, else 0."""
    cond = conjunction(conds)
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
    value = guarded(adjoint, [substitute(p, mapping) for p in domain.predicates])
    args = tuple(substitute(a, mapping) for a in call_args)
    return Contribution(args, substitute(value, mapping), rdom, is_scatter=True)


def gather(call_args: tuple, adjoint: Expr, domain: LoopDomain, name: str,
           targets=None, extra_conds=()) -> Contribution | None:
    """The contribution as a gather over the producer's Vars, or None if not invertible."""
    targets = producer_vars(len(call_args)) if targets is None else targets
    loop_vars = domain.loop_vars()
    inv = invert(call_args, loop_vars, targets)
    if inv is None:
        return None
    conds = list(inv.predicates) + list(extra_conds)
    clamped = {}
    for v, solution in inv.solutions.items():
        lo, hi = domain.range_of(v)
        conds += [lo <= solution, solution <= hi]
        clamped[v] = ops.clamp(solution, lo, hi)  # keeps reads in range; the select zeroes
    leftovers = [v for v in loop_vars if v not in inv.solutions]
    ranges = [domain.range_of(v) for v in leftovers]
    ranges += [(Const(INT32, 0), Const(INT32, c - 1)) for _, c in inv.multiplicity]
    value = guarded(substitute(adjoint, clamped),  # predicates may read data: in range
                    [substitute(c, inv.solutions) for c in conds]
                    + [substitute(p, clamped) for p in domain.predicates])
    if not ranges:
        return Contribution(targets, simplify(value), None)
    rdom = _fresh_rdom(ranges, name)
    extra = leftovers + [k for k, _ in inv.multiplicity]
    value = substitute(value, {v: rdom[i] for i, v in enumerate(extra)})
    return Contribution(targets, simplify(value), rdom)


def contribution(call_args: tuple, adjoint: Expr, domain: LoopDomain,
                 name: str) -> list[Contribution]:
    """Gathers when the indices can be inverted (clamped indices split into interior and
    edges), a scatter otherwise. Indices free of loop vars (hom[2, 2], img[y, 0]) stay
    fixed: the adjoint is an update at that index, not a gather over the whole dimension
    that keeps one value of it."""
    loop_vars = set(domain.loop_vars())
    fixed = {d for d, a in enumerate(call_args)
             if not any(v in loop_vars for v in collect((a,), (Var, RVar)))}
    if len(fixed) == len(call_args):
        return [scatter(call_args, adjoint, domain, name)]
    clamps = {d: p for d, a in enumerate(call_args)
              if d not in fixed and (p := _clamp_parts(a, domain)) is not None}
    if clamps or fixed:
        dims = sorted(set(clamps) | fixed)
        choices = [("fixed",) if d in fixed else ("in",) if _zero_outside(adjoint, *clamps[d])
                   else ("in", "lo", "hi") for d in dims]
        parts = [_clamp_case(call_args, adjoint, domain, name, dict(zip(dims, cases)), clamps)
                 for cases in itertools.product(*choices)]
        if all(p is not None for p in parts):
            return parts
    found = gather(call_args, adjoint, domain, name)
    return [found if found is not None else scatter(call_args, adjoint, domain, name)]


def _clamp_parts(arg: Expr, domain: LoopDomain):
    """(v, offset, lo, hi) for arg == clamp(v + offset, lo, hi), v a loop var, the rest
    free of loop vars; else None."""
    if not (isinstance(arg, Binary) and arg.op == "min" and isinstance(arg.a, Binary)
            and arg.a.op == "max"):
        return None
    e, lo, hi = arg.a.a, arg.a.b, arg.b
    loop_vars = set(domain.loop_vars())
    if any(v in loop_vars for v in collect((lo, hi), (Var, RVar))):
        return None
    if e in loop_vars:
        return e, Const(e.type, 0), lo, hi
    if isinstance(e, Binary) and e.op in ("+", "-") and e.a in loop_vars and not any(
            v in loop_vars for v in collect((e.b,), (Var, RVar))):
        return e.a, (e.b if e.op == "+" else simplify(Const(e.type, 0) - e.b)), lo, hi
    return None


def _zero_outside(adjoint: Expr, v, offset, lo, hi) -> bool:
    """True when the adjoint tests lo <= v + offset < hi + 1 itself (constant_exterior's
    select): then reads clamped from outside carry zero and need no edge terms."""
    e = simplify(v + offset)
    tests = {(b.op, id(b.a), id(b.b)) for b in collect((adjoint,), Binary)}
    above = ("<=", id(simplify(lo)), id(e)) in tests
    below = ("<", id(e), id(simplify(hi + 1))) in tests or ("<=", id(e), id(simplify(hi))) in tests
    return above and below


def _clamp_case(call_args, adjoint, domain: LoopDomain, name: str, cases: dict, clamps: dict):
    """The part of a read's adjoint where each clamped dim is inside ('in') or past its
    low/high edge (the edge pixel collects every read beyond it); 'fixed' dims keep
    their loop-invariant index."""
    narrowed, conds, kept = dict(domain.narrowed), [], []
    for d, arg in enumerate(call_args):
        u = producer_var(d)
        if d not in cases:
            kept.append((d, arg))
            continue
        if cases[d] == "fixed":
            continue
        v, offset, lo, hi = clamps[d]
        vmin, vmax = domain.range_of(v)
        if cases[d] == "in":
            kept.append((d, simplify(v + offset)))
            conds += [lo <= u, u <= hi]
        elif cases[d] == "lo":
            narrowed[v] = (vmin, simplify(ops.min(vmax, lo - offset - 1)))
        else:
            narrowed[v] = (simplify(ops.max(vmin, hi - offset + 1)), vmax)
    sub_domain = replace(domain, narrowed=narrowed)
    sub_targets = tuple(producer_var(d) for d, _ in kept)
    found = gather(tuple(a for _, a in kept), adjoint, sub_domain, name, sub_targets, conds)
    if found is None:
        return None
    by_dim = dict(zip((d for d, _ in kept), found.args))
    for d, case in cases.items():
        if case == "fixed":
            by_dim[d] = call_args[d]
        elif case != "in":
            _, _, lo, hi = clamps[d]
            by_dim[d] = lo if case == "lo" else hi
    args = tuple(by_dim[d] for d in range(len(call_args)))
    if found.rdom is None and any(not isinstance(a, Var) for a in args):
        return Contribution(args, found.value, None, is_scatter=True)  # an update, no RDom
    return Contribution(args, found.value, found.rdom)


# -- data-dependent reads through boundary conditions
def _data_dependent(args) -> bool:
    """Whether an index reads data or rounds a float (img[i32(floor(u))]): no loop-var
    algebra inverts it, and only a clamp can bound it."""
    return any(isinstance(n, Call) or (isinstance(n, Cast) and n.value.type.is_float)
               for n in collect(tuple(args), (Call, Cast)))


def routed_boundaries(funcs) -> set[int]:
    """ids of the boundary-condition Funcs some definition reads at a data-dependent
    index. Their adjoints go straight to what they wrap (`through_boundary`): the
    condition's own clamp bounds what that sees, where an adjoint of the condition Func
    itself would be a scatter over an unbounded region."""
    routed = set()
    for f in funcs:
        for d in f.definitions:
            for call in collect(tuple(d.args) + tuple(d.values), Call):
                callee = call.callee
                if getattr(callee, "kind", None) == "boundary" and _data_dependent(call.args):
                    routed.add(id(callee))
    return routed


def through_boundary(call: Call, adjoint: Expr) -> list[tuple[Expr, Expr]]:
    """[(leaf, adjoint)] of the boundary condition's body at the call's indices: its
    reads of the wrapped input (clamped, so bounded) and the adjoint each receives."""
    pure = call.callee.definitions[0]
    body = substitute(pure.values[call.index], dict(zip(pure.args, call.args)))
    return leaf_adjoints(body, adjoint)
