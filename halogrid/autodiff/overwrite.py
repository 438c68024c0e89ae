"""Adjoint of an update stage that sets f at its left side (not an accumulation or a
reduction): overwritten values, reads of values from before the update, scans.

Invariant (given order.py's one write per point): a read of f at point q during
iteration t of stage k sees f after stage k at q where an earlier iteration wrote q,
and f before stage k otherwise; partials are evaluated at those values (stored as
copies of f's first stages). d(f, k-1) is the adjoint after stage k masked where stage
k wrote, plus the adjoints of reads of values from before the update; reads of values
earlier iterations wrote are reversed first, by a scan over the iterations backwards.
"""

from __future__ import annotations

from .. import errors
from ..ir import ops
from ..ir.expr import Call, Expr, Var
from ..ir.func import Func, RDom
from ..ir.simplify import simplify
from ..ir.solve import invert
from ..ir.visit import collect, mutate_with, substitute
from .backprop import at_values, stage_leaves
from .invert import (LoopDomain, adjoint_func, adjoint_name, conjunction, contribution, guarded,
                     pack, producer_vars)
from .order import FALSE, TRUE, UpdateOrder, clamp_to, precedes, pure_dims, rvar_range


class OverwriteStages:
    """The reverse walk's handling of overwriting stages (mixed into _ReverseWalk, whose
    _send_leaf, _prefix, regions and counter it uses)."""

    def _overwrite(self, f: Func, k: int, d_k: list, domain: LoopDomain) -> list | None:
        """Stage k sets f at its left side. A read of f sees f before this update (stage
        k-1) unless an earlier iteration of it wrote the point (then f after it); reads
        of those later values are reversed by a scan, the others flow into d(f, k-1)."""
        d = f.definitions[k]
        reads = [c for c in collect(d.values, Call) if c.callee is f]
        if k == 0:
            self._send_leaves(f, stage_leaves(d.values, [Call(a, d.args, 0) for a in d_k]),
                              {}, domain)
            return None
        order = self._order(f, k)
        _check_self_reads(f, k, reads)
        new = {c: order.written_earlier(c.args) for c in reads}
        seen = {c: self._seen(f, k, c, new[c]) for c in reads}
        scanned = [c for c in reads if new[c] is not FALSE and c.type.is_float]
        sources = [(a, 0) for a in d_k]  # (Func, value index) of the adjoint after stage k
        if scanned:
            scan = self._reverse_scan(f, k, d_k, scanned, seen, order)
            sources = [(scan, i) for i in range(len(d_k))]
        seeds = [Call(g, d.args, i) for g, i in sources]
        leaves = [(leaf, at_values(a, seen)) for leaf, a in stage_leaves(d.values, seeds)]
        old = self._send_leaves(f, leaves, new, domain)
        return self._previous(f, k, sources, old, domain)

    def _send_leaves(self, f: Func, leaves, new: dict, domain: LoopDomain) -> list:
        """Send the adjoints of reads of other Funcs; return those of reads of f that see
        values from before this update (guarded where that depends on the iteration)."""
        old = []
        for leaf, adjoint in leaves:
            if not is_read_of(leaf, f):
                self._send_leaf(leaf, adjoint, domain)
            elif new[leaf] is not TRUE:
                old.append((leaf, adjoint if new[leaf] is FALSE else
                            ops.select(new[leaf], ops.cast(adjoint.type, 0), adjoint)))
        return old

    def _order(self, f: Func, k: int) -> UpdateOrder:
        order = UpdateOrder.of(f, f.definitions[k])
        if order is None:
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it writes some points more than once "
                "(or at locations that cannot be solved for its RVars), so the values its "
                "earlier writes held are gone", "Write each iteration into a new Func with "
                "an extra dimension (g[r, x] = ...), or use an accumulating update "
                "(+=, -=, *=, min, max)")
        return order

    def _seen(self, f: Func, k: int, read: Call, new: Expr) -> Expr:
        """The value `read` sees in stage k: f after stage k where `new` holds (an
        earlier iteration wrote it), f before stage k elsewhere."""
        before = Call(self._prefix(f, k - 1), read.args, read.index)
        if new is FALSE:
            return before
        after = read if k == len(f.definitions) - 1 else Call(self._prefix(f, k), read.args,
                                                                  read.index)
        return after if new is TRUE else ops.select(new, after, before)

    def _reverse_scan(self, f: Func, k: int, d_k: list, scanned, seen, order) -> Func:
        """d(f, k) plus, iterating stage k backwards, what each iteration's reads of
        values written by earlier iterations send back: at the end it holds at the point
        iteration s wrote the adjoint of the value s wrote. One update gathers every
        read (a read's iteration is solved from the point); a single unsolvable read
        scatters instead."""
        d = f.definitions[k]
        targets = producer_vars(f.dimensions())
        scan = adjoint_func(f"d_{f.name}_scan{k}")
        scan[targets] = pack([Call(a, targets, 0) for a in d_k])
        rev = RDom([(rv.min, rv.extent) for rv in order.rvars], name=f"r_rev{k}")
        s = [simplify(rv.min + rv.extent - 1 - (rev[i] - rv.min))
             for i, rv in enumerate(order.rvars)]
        at_s = dict(zip(order.rvars, s))
        seeds = [Call(scan, d.args, i) for i in range(len(d_k))]
        adjoints = {leaf: at_values(a, seen) for leaf, a in stage_leaves(d.values, seeds)}
        lhs = tuple(substitute(a, at_s) for a in d.args)
        totals = [Call(scan, lhs, i) for i in range(len(d_k))]
        for read in scanned:
            if read not in adjoints:
                continue
            term = _later_read(d, order, read, adjoints[read], lhs, s, scan)
            if term is None:
                return self._scatter_scan(f, k, scan, scanned, adjoints, at_s, order)
            totals[read.index] = totals[read.index] + term
        scan[lhs] = pack(totals)
        scan.root_by_default = True
        return scan

    def _scatter_scan(self, f: Func, k: int, scan: Func, scanned, adjoints, at_s, order):
        """The reversed scan as a scatter at the read point, for one read whose
        iteration cannot be solved from the point it reads."""
        if len(scanned) != 1 or f.outputs() != 1:
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it reads values written by earlier "
                "iterations at points the reads' iterations cannot be solved from",
                "Read them at affine expressions of the RVars (f[r - 1]), or write each "
                "iteration into a new Func with an extra dimension")
        read = scanned[0]
        d = f.definitions[k]
        value = guarded(substitute(adjoints[read], at_s),
                        [substitute(p, at_s) for p in d.predicate()]
                        + [substitute(order.written_earlier(read.args), at_s)])
        at = tuple(substitute(a, at_s) for a in read.args)
        scan[at] = scan[at] + value
        scan.root_by_default = True
        return scan

    def _previous(self, f: Func, k: int, sources: list, old, domain) -> list:
        """d(f, k-1), one Func per value: the adjoint after stage k (`sources`: (Func,
        value index) pairs) masked where stage k wrote, plus what its reads of values
        from before the update (`old`) send back."""
        targets = producer_vars(f.dimensions())
        written = self._written(f, k, targets)
        result = []
        for i, (source, index) in enumerate(sources):
            t = f.value_types()[i]
            prev = adjoint_func(adjoint_name(f, i, f"_stage{k - 1}"))
            prev[targets] = ops.select(written, ops.cast(t, 0), Call(source, targets, index))
            for leaf, adjoint in old:
                if leaf.index != i:
                    continue
                self.counter += 1
                for c in contribution(leaf.args, adjoint, domain, f"r_adj{self.counter}"):
                    args = targets if c.is_pure else c.args
                    prev[args] = prev[args] + ops.cast(t, c.value)
            prev.root_by_default = True
            result.append(prev)
        return result

    def _written(self, f: Func, k: int, targets) -> Expr:
        """Bool: stage k of f wrote at `targets`."""
        d = f.definitions[k]
        rng = self.regions.of_stage(f, k)
        conds = []
        for i in pure_dims(f, d):
            conds += [rng.min[i] <= targets[i], targets[i] <= rng.max[i]]
        conds.append(self._order(f, k).writer(targets)[1])
        return conjunction(conds)


def _later_read(d, order: UpdateOrder, read: Call, adjoint: Expr, lhs, s,
                scan: Func) -> Expr | None:
    """What `read`, made by the iteration t after s that reads the point s wrote
    (`lhs`), sends back there: its adjoint at t where t exists, else 0; None when t
    cannot be solved from the point. The scan is read at t itself (an affine point, so
    the scan stays differentiable); everything else at t clamped into range."""
    probes = tuple(Var(f"_q{i}") for i in order.reduced)
    inv = invert(tuple(read.args[i] for i in order.reduced), order.rvars, probes)
    if inv is None or inv.multiplicity or set(inv.solutions) != set(order.rvars):
        return None
    env = dict(zip(probes, (lhs[i] for i in order.reduced)))
    t = {rv: simplify(substitute(inv.solutions[rv], env)) for rv in order.rvars}
    conds = [substitute(p, env) for p in inv.predicates]
    for rv, value in t.items():
        conds += rvar_range(rv, value)
    at_s = dict(zip(order.rvars, s))
    clamped = {rv: clamp_to(rv, value) for rv, value in t.items()}
    conds += [substitute(p, clamped) for p in d.predicate()]
    conds += [substitute(p, at_s) for p in d.predicate()]
    conds.append(precedes(s, [t[rv] for rv in order.rvars]))

    def at_t(call: Call):
        if call.callee is not scan:
            return None
        return Call(scan, tuple(substitute(a, t) for a in call.args), call.index)
    return guarded(substitute(mutate_with(adjoint, {Call: at_t}), clamped), conds)


def _check_self_reads(f: Func, k: int, reads) -> None:
    """Halide's rule: a read of f inside an update has its pure Vars in their places."""
    d = f.definitions[k]
    for read in reads:
        if any(read.args[i] is not d.args[i] for i in pure_dims(f, d)):
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it reads f at other points along "
                "the pure Vars it writes", "Write the recurrence over an RDom "
                "(f[r] = f[r-1] ...)")


def is_read_of(leaf, f: Func) -> bool:
    """A leaf of backprop that is a read of f."""
    return isinstance(leaf, Call) and leaf.callee is f
