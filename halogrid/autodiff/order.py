"""Iteration order of one update definition: which iteration wrote a point, and whether
a read sees a value that an earlier iteration of the same update wrote.

An update f[L(p, t)] = V(...) runs its pure Vars p in parallel and its RVars t in
lexicographic order (the first RVar outermost, as the loops are built). Its *pure dims*
are those whose left side is the pure definition's own Var (Halide's rule); every other
dim is *reduced* (an expression of RVars, constants and pure Vars).

Invariant: `UpdateOrder.of` succeeds only for updates whose reduced dims determine the
iteration uniquely (each point is written at most once); then a read at point q during
iteration t sees the value iteration s(q) wrote exactly when s(q) is a valid iteration
that precedes t, and the value from before the update otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import ops
from ..ir.expr import Const, Expr, RVar, Var
from ..ir.func import update_pure_dims
from ..ir.simplify import simplify
from ..ir.solve import invert
from ..ir.visit import collect, substitute
from .invert import conjunction

TRUE = ops.to_expr(True)
FALSE = ops.to_expr(False)


def pure_dims(f, d) -> list[int]:
    """Dims of definition `d` of f that loop over a pure Var (ir/func.py's rule)."""
    return update_pure_dims(d.args, f.definitions[0].args)


def loop_rvars(d) -> list[RVar]:
    """The RVars an update iterates, outermost first."""
    return [RVar(r, i) for r in d.rdoms for i in range(r.dimensions())]


def rvar_range(rv: RVar, value: Expr) -> list[Expr]:
    """rv.min <= value <= rv.max."""
    return [rv.min <= value, value <= simplify(rv.min + rv.extent - 1)]


def clamp_to(rv: RVar, value: Expr) -> Expr:
    """value clamped into rv's range (where a guard already tests the range, this keeps
    what the guarded expression reads in bounds)."""
    return ops.clamp(value, rv.min, simplify(rv.min + rv.extent - 1))


def precedes(before: list[Expr], after: list[Expr]) -> Expr:
    """Bool: iteration `before` comes strictly before iteration `after` (lexicographic,
    first coordinate outermost); decided statically where the differences are constants."""
    result = FALSE
    for b, a in reversed(list(zip(before, after))):
        delta = simplify(b - a)
        if isinstance(delta, Const):
            result = TRUE if delta.value < 0 else FALSE if delta.value > 0 else result
        else:
            result = ops.select(b < a, TRUE, ops.select(b == a, result, FALSE))
    return result


@dataclass
class UpdateOrder:
    """The inverse of an update's left side over its RVars."""

    definition: object
    reduced: list          # dims of the left side that are not pure Vars
    rvars: list            # iterated RVars, outermost first
    probes: tuple          # Vars standing for the coordinates of a point (reduced dims)
    solutions: dict        # RVar -> Expr of the probes (and pure Vars)
    predicates: list       # conditions on the probes for the point to be written

    @classmethod
    def of(cls, f, d) -> "UpdateOrder | None":
        """None when the reduced dims do not determine the iteration uniquely."""
        pure = set(pure_dims(f, d))
        reduced = [i for i in range(len(d.args)) if i not in pure]
        rvars = loop_rvars(d)
        probes = tuple(Var(f"_w{i}") for i in reduced)
        inv = invert(tuple(d.args[i] for i in reduced), rvars, probes)
        if inv is None or inv.multiplicity or set(inv.solutions) != set(rvars) or collect(
                tuple(inv.solutions.values()), RVar):
            return None
        return cls(d, reduced, rvars, probes, dict(inv.solutions), list(inv.predicates))

    def writer(self, point) -> tuple[list[Expr], Expr]:
        """(iteration, Bool it is valid) of the iteration writing at `point` (a full
        coordinate tuple; its pure dims must be the update's own Vars or their values)."""
        pure = self._pure_values(point)
        env = {**dict(zip(self.probes, (point[i] for i in self.reduced))), **pure}
        iteration = [simplify(substitute(self.solutions[rv], env)) for rv in self.rvars]
        at = dict(zip(self.rvars, iteration))
        conds = [substitute(p, env) for p in self.predicates]
        for rv, value in at.items():
            conds += rvar_range(rv, value)
        inside = {rv: clamp_to(rv, value) for rv, value in at.items()}  # reads stay in range
        conds += [substitute(p, {**pure, **inside}) for p in self.definition.predicate()]
        valid = conjunction([simplify(c) for c in conds])
        return iteration, TRUE if valid is None else valid

    def written_earlier(self, point) -> Expr:
        """Bool, in terms of the current iteration's RVars: an earlier iteration of this
        update wrote the point `point` that the current iteration reads."""
        if not self.rvars:
            return FALSE
        iteration, valid = self.writer(point)
        order = precedes(iteration, self.rvars)
        if order is FALSE:
            return FALSE
        return order if valid is TRUE else simplify(valid & order)

    def _pure_values(self, point) -> dict:
        """Pure Vars of the left side mapped to the point's coordinates there."""
        d = self.definition
        return {d.args[i]: point[i] for i in range(len(d.args)) if i not in self.reduced}
