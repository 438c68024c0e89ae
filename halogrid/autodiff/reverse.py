"""propagate_adjoints / Derivative: the reverse walk over definitions and updates.

Funcs are visited consumers-first; within a Func, updates last-to-first. The adjoint
flowing into stage k of f is d(f, k); each call in stage k's values sends
adjoint * partial to its callee (invert.py decides gather or scatter). For stage k:
  * `f[L] = f[L] + e` (a self-read at the same point with partial 1, the `+=`/`-=`
    shape): d(f, k-1) = d(f, k);
  * a scan (self-reads at other points, e.g. f[r] = f[r-1]*a + in[r]): the adjoint is
    propagated in place by a reversed scan on a copy of d(f, k);
  * otherwise the update overwrote f where it wrote: d(f, k-1) is d(f, k) masked
    there, plus what the self-reads send back.
Adjoint Funcs are ordinary Funcs (kind 'adjoint', compute_root by default).
"""

from __future__ import annotations

from .. import errors
from ..ir import ops
from ..ir.boundary import constant_exterior
from ..ir.buffer import Buffer, InputBuffer, Param
from ..ir.expr import Call, Const, Expr, RVar, Var
from ..ir.func import Definition, Func, RDom
from ..ir.graph import build_graph
from ..ir.simplify import simplify
from ..ir.solve import invert
from ..ir.types import INT32
from ..ir.visit import collect, mutate_with, substitute
from .backprop import at_values, leaf_adjoints, stage_leaves
from .custom import UserAdjoints
from .invert import (Contribution, LoopDomain, conjunction, contribution, guarded,
                     producer_vars, set_level)
from .order import FALSE, TRUE, UpdateOrder, loop_rvars, precedes, pure_dims, rvar_range
from .regions import forward_regions


class Derivative:
    """d[f] is the adjoint Func of f after all its updates; d[f, i] of update i, d[f, -1]
    of the pure definition. Anything the loss does not depend on has a zero adjoint."""

    def __init__(self, final: dict, stages: dict):
        self._final, self._stages = final, stages

    def __getitem__(self, key) -> Func:
        obj, stage = (key if isinstance(key, tuple) else (key, None))
        _check_differentiable(obj)
        if id(obj) not in self._final:
            return _zeros(obj)
        if stage is None:
            return self._final[id(obj)]
        index = stage + 1 if stage >= -1 else stage
        return self._stages[id(obj)][index]

    def __contains__(self, obj) -> bool:
        return id(obj) in self._final


def _adjoint_func(name: str) -> Func:
    """A new adjoint Func, tagged with the nesting level of the walk creating it."""
    f = Func(name, _kind="adjoint")
    f.adjoint_level = _current_level()
    return f


def _current_level() -> int:
    from .invert import _LEVEL
    return _LEVEL[0]


def _check_differentiable(obj) -> None:
    if isinstance(obj, RDom) or not hasattr(obj, "name"):
        raise errors.not_differentiable(f"with respect to {obj!r}", "it is not a Func, Buffer, "
                                        "ImageParam or Param", "Ask for d[f] of one of those")
    types = obj.value_types() if isinstance(obj, Func) else [_type(obj)]
    t = types[0]
    if not any(v.is_float for v in types):
        raise errors.not_differentiable(
            f"with respect to '{obj.name}'", f"it has integer type {t}",
            "Only Float inputs have adjoints; cast the input to float in the algorithm")


def _dims(obj) -> int:
    return 0 if isinstance(obj, Param) else obj.dimensions()


def _type(obj):
    return obj.type() if callable(getattr(obj, "type", None)) else obj.type


def _value_type(obj, index: int):
    return obj.value_types()[index] if isinstance(obj, Func) else _type(obj)


def _outputs(obj) -> int:
    return obj.outputs() if isinstance(obj, Func) else 1


def _adjoint_name(obj, index: int, suffix: str = "") -> str:
    """d_f (d_f_0, d_f_1, ... for the values of a tuple Func), then `suffix`."""
    element = f"_{index}" if _outputs(obj) > 1 else ""
    return f"d_{obj.name}{element}{suffix}"


def _pack(adjoints: list):
    """One Func per value -> the Func, or a tuple of them for a tuple Func."""
    return adjoints[0] if len(adjoints) == 1 else tuple(adjoints)


def _values(exprs: list):
    """The right side defining one value, or a tuple of values."""
    return exprs[0] if len(exprs) == 1 else tuple(exprs)


def _zeros(obj):
    result = []
    for i in range(_outputs(obj)):
        f = _adjoint_func(_adjoint_name(obj, i))
        f[producer_vars(_dims(obj))] = ops.cast(_value_type(obj, i), 0)
        result.append(f)
    return _pack(result)


def propagate_adjoints(loss, adjoint=None) -> Derivative:
    """Adjoints of everything `loss` depends on. A non-scalar loss needs `adjoint`: the
    output adjoint as an array/Buffer whose shape is the region (a vector-Jacobian product)."""
    if not isinstance(loss, Func):
        raise errors.not_differentiable(f"{loss!r}", "the loss must be a Func",
                                        "Define the loss as a (0-D) Func")
    _check_differentiable(loss)
    seed, seed_extents = _seed(loss, adjoint)
    graph = build_graph([loss])
    level = 1 + max((f.adjoint_level for f in graph.funcs), default=-1)
    set_level(level)
    regions = forward_regions(graph, seed_extents)
    walker = _ReverseWalk(graph, regions)
    walker.run(loss, seed)
    return Derivative(walker.final, walker.stage_adjoints)


def _seed(loss: Func, adjoint):
    t = loss.type()
    if adjoint is None:
        if loss.dimensions() != 0:
            raise errors.not_differentiable(
                f"Func '{loss.name}'", f"it has {loss.dimensions()} dimension(s) and no output "
                "adjoint was given", "Pass one: propagate_adjoints(f, adjoint_array), or reduce "
                "the loss to 0-D")
        seed = _adjoint_func(f"d_{loss.name}")
        seed[()] = ops.cast(t, 1)
        return seed, []
    buf = adjoint if isinstance(adjoint, Buffer) else Buffer(_as_array(adjoint, t), name=f"d_{loss.name}_seed")
    if buf.dimensions() != loss.dimensions() or buf.type() != t:
        raise errors.not_differentiable(
            f"Func '{loss.name}'", f"the output adjoint has {buf.dimensions()} dims of "
            f"{buf.type()}, the Func {loss.dimensions()} of {t}", "Pass an adjoint of f's shape and type")
    return constant_exterior(buf, 0), [buf.extent_expr(d) for d in range(buf.dimensions())]


def _as_array(a, t):
    import numpy as np
    return np.ascontiguousarray(np.asarray(a, dtype=t.dtype))


class _ReverseWalk:
    """The walk. An adjoint is kept as a list with one Func per value of its Func (tuple
    Funcs have several); pending contributions are keyed by (callee, value index)."""

    def __init__(self, graph, regions):
        self.graph, self.regions = graph, regions
        self.pending: dict[tuple, list[Contribution]] = {}
        self.final: dict[int, Func | tuple] = {}
        self.stage_adjoints: dict[int, list] = {}
        self.counter = 0
        self.prefixes: dict = {}
        self.user = UserAdjoints(regions, self._send_pure)  # hg.custom_adjoint, hg.extern

    def run(self, loss: Func, seed: Func) -> None:
        for f in reversed(self.graph.funcs):
            d_f = [seed] if f is loss else [self._assemble(f, i) for i in range(f.outputs())]
            self.final[id(f)] = _pack(d_f)
            self._walk_stages(f, d_f)
        for obj in list(self.graph.inputs) + list(self.graph.params):
            if _type(obj).is_float:
                self.final[id(obj)] = self._assemble(obj)

    # -- assembling an adjoint Func from its contributions
    def _assemble(self, obj, index: int = 0) -> Func:
        contributions = self.pending.pop((id(obj), index), [])
        d = _adjoint_func(_adjoint_name(obj, index))
        t = _value_type(obj, index)
        targets = producer_vars(_dims(obj))
        pure = [ops.cast(t, c.value) for c in contributions if c.is_pure]
        total = ops.cast(t, 0)
        for term in pure:
            total = term if total is Const(t, 0) else total + term
        d[targets] = total
        for c in contributions:
            if not c.is_pure:
                d[c.args] = d[c.args] + ops.cast(t, c.value)
        d.compute_root()
        return d

    def _send_leaf(self, leaf, adjoint: Expr, domain: LoopDomain) -> None:
        """Send a leaf's adjoint to its callee (a Param's is 0-D)."""
        if isinstance(leaf, Param):
            self._send(leaf, (), adjoint, domain)
        else:
            self._send(leaf.callee, leaf.args, adjoint, domain, leaf.index)

    def _send(self, callee, args, adjoint: Expr, domain: LoopDomain, index: int = 0) -> None:
        self.counter += 1
        parts = contribution(tuple(args), adjoint, domain, f"r_adj{self.counter}")
        self.pending.setdefault((id(callee), index), []).extend(parts)

    def _send_pure(self, callee, value: Expr) -> None:
        """Add `value`, an expression over callee's producer Vars, to its adjoint."""
        self.pending.setdefault((id(callee), 0), []).append(
            Contribution(producer_vars(_dims(callee)), value, None))

    # -- the stages of one Func, last update first
    def _walk_stages(self, f: Func, d_f: list) -> None:
        if self.user.sends(f, d_f):  # the user's adjoints replace derived ones
            self.stage_adjoints[id(f)] = [_pack(d_f)] * len(f.definitions)
            return
        adjoints = [None] * len(f.definitions)
        current = d_f
        for k in range(len(f.definitions) - 1, -1, -1):
            adjoints[k] = _pack(current)
            current = self._stage(f, k, current)
        self.stage_adjoints[id(f)] = adjoints

    def _domain(self, f: Func, k: int) -> LoopDomain:
        d = f.definitions[k]
        rng = self.regions.of_stage(f, k)
        pure = [(d.args[i], rng.min[i], rng.max[i]) for i in pure_dims(f, d)]
        return LoopDomain(pure, loop_rvars(d), d.predicate())

    def _stage(self, f: Func, k: int, d_k: list) -> list | None:
        """Propagate stage k's adjoints (one per value) to its callees; return d(f, k-1)."""
        d = f.definitions[k]
        domain = self._domain(f, k)
        seeds = [Call(a, d.args, 0) for a in d_k]
        leaves = stage_leaves(d.values, seeds)
        self_reads = [(leaf, a) for leaf, a in leaves if _reads(leaf, f)]
        if k > 0 and _is_accumulation(d, self_reads, seeds):
            for leaf, adjoint in leaves:  # the added terms do not read f
                if not _reads(leaf, f):
                    self._send_leaf(leaf, adjoint, domain)
            return d_k
        if k > 0 and _reduces_over_rdom(d, self_reads):
            if len(d_k) > 1:
                raise errors.not_differentiable(
                    f"update {k - 1} of tuple Func '{f.name}'", "it reduces over an RDom, "
                    "reading f where it writes", "Reduce each value in a Func of its own")
            return [self._reduction(f, k, d_k[0], domain)]
        return self._overwrite(f, k, d_k, domain)

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
            if not _reads(leaf, f):
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

    def _reduction(self, f: Func, k: int, d_k: Func, domain) -> Func | None:
        """f[L] = max/min(f[L], e) or f[L] * e over RVars missing from L: the final value
        tells which terms mattered (max/min: the terms equal to it; product: final / e)."""
        d = f.definitions[k]
        value, lhs = d.values[0], d.args
        op, own, other = _reduction_shape(value, f, lhs)
        final = self._value_after(f, k, lhs)
        if op in ("min", "max"):
            factor = self._first_hit(f, k, other, final)
        else:
            factor, rest = self._product_parts(f, k, other)
        for leaf, adjoint in leaf_adjoints(other, Call(d_k, lhs, 0)):
            adjoint = self._stage_values(f, k, lhs, adjoint) * factor
            self._send_leaf(leaf, adjoint, domain)
        if k == 0:
            return None
        targets = producer_vars(f.dimensions())
        before = Call(self._prefix(f, k - 1), targets, 0)
        after = self._value_after(f, k, targets)
        prev = _adjoint_func(f"d_{f.name}_stage{k - 1}")
        if op in ("min", "max"):
            prev[targets] = ops.select(before == after, Call(d_k, targets, 0), ops.cast(f.type(), 0))
        else:
            prev[targets] = Call(d_k, targets, 0) * substitute(rest, dict(zip(d.args, targets)))
        prev.compute_root()
        return prev

    def _product_parts(self, f: Func, k: int, other: Expr):
        """(d f / d term, d f / d initial value) of f[L] *= term over an RDom, exact even
        when terms are zero: from the product of the non-zero terms and their count."""
        d = f.definitions[k]
        t = f.type()
        one, zero = ops.cast(t, 1), ops.cast(t, 0)
        if not all(isinstance(a, Var) for a in d.args):
            raise errors.not_differentiable(
                f"the product update of Func '{f.name}'", "its left side is not made of Vars",
                "Write the product over Vars, e.g. hg.product(...)")
        nonzero = _adjoint_func(f"{f.name}_nonzero{k}")
        nonzero[d.args] = one
        nonzero[d.args] = nonzero[d.args] * ops.select(other == zero, one, other)
        zeros = _adjoint_func(f"{f.name}_zeros{k}")
        zeros[d.args] = ops.cast(INT32, 0)
        zeros[d.args] = zeros[d.args] + ops.select(other == zero, 1, 0)
        nonzero.compute_root()
        zeros.compute_root()
        before = Call(self._prefix(f, k - 1), d.args, 0)
        prod, count = Call(nonzero, d.args, 0), Call(zeros, d.args, 0)
        term = ops.select(other == zero, ops.select(count == 1, prod * before, zero),
                          ops.select(count == 0, prod * before / other, zero))
        rest = ops.select(count == 0, prod, zero)
        return term, rest

    def _first_hit(self, f: Func, k: int, other: Expr, final: Expr) -> Expr:
        """1 for the single term of a min/max reduction that the gradient goes to: the
        first (in iteration order) equal to the result, unless the initial value already
        was; 0 elsewhere. Ties thus get one subgradient, as finite differences see."""
        d = f.definitions[k]
        one, zero = ops.cast(f.type(), 1), ops.cast(f.type(), 0)
        before = Call(self._prefix(f, k - 1), d.args, 0)
        lhs_rvars = set(collect(d.args, RVar))
        rvars = [RVar(r, i) for r in d.rdoms for i in range(r.dimensions())]
        reduced = [rv for rv in rvars if rv not in lhs_rvars]
        if not all(isinstance(a, Var) for a in d.args):
            return ops.select((other == final) & (before != final), one, zero)
        linear = ops.cast(INT32, 0)
        for rv in reduced:  # LAST dimension innermost: row-major position in the RDom
            linear = linear * rv.extent + (rv - rv.min)
        first = _adjoint_func(f"{f.name}_first{k}")
        big = ops.cast(INT32, 2 ** 31 - 1)
        first[d.args] = big
        first[d.args] = ops.min(first[d.args], ops.select(other == final, linear, big))
        first.compute_root()
        return ops.select((linear == Call(first, d.args, 0)) & (before != final), one, zero)

    def _value_after(self, f: Func, k: int, args) -> Expr:
        target = f if k == len(f.definitions) - 1 else self._prefix(f, k)
        return Call(target, tuple(args), 0)

    def _stage_values(self, f: Func, k: int, lhs, e: Expr) -> Expr:
        """e with reads of f replaced by f as a reduction stage k saw it: before the
        update at the written point, after it elsewhere."""
        if len(f.definitions) == 1:
            return e

        def rewrite(call: Call):
            if call.callee is not f:
                return None
            stage = k - 1 if _same(call.args, lhs) else k
            if stage == len(f.definitions) - 1:
                return None
            return Call(self._prefix(f, stage), call.args, call.index)
        return mutate_with(e, {Call: rewrite})

    def _prefix(self, f: Func, last: int) -> Func:
        """A copy of f with definitions 0..last only (its value after update last-1)."""
        key = (id(f), last)
        if key not in self.prefixes:
            copy = Func(f"{f.name}_upto{last}", _kind="forward_copy")
            copy.adjoint_level = f.adjoint_level
            to_copy = {Call: lambda c: Call(copy, c.args, c.index) if c.callee is f else None}
            for d in f.definitions[:last + 1]:
                copy.definitions.append(Definition(
                    tuple(mutate_with(a, to_copy) for a in d.args),
                    tuple(mutate_with(v, to_copy) for v in d.values), d.rdoms, d.location))
            if last > 0:
                copy.compute_root()
            self.prefixes[key] = copy
        return self.prefixes[key]

    def _reverse_scan(self, f: Func, k: int, d_k: list, scanned, seen, order) -> Func:
        """d(f, k) plus, iterating stage k backwards, what each iteration's reads of
        values written by earlier iterations send back: at the end it holds at the point
        iteration s wrote the adjoint of the value s wrote. One update gathers every
        read (a read's iteration is solved from the point); a single unsolvable read
        scatters instead."""
        d = f.definitions[k]
        targets = producer_vars(f.dimensions())
        scan = _adjoint_func(f"d_{f.name}_scan{k}")
        scan[targets] = _values([Call(a, targets, 0) for a in d_k])
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
            term = _later_read(d, order, read, adjoints[read], lhs, s)
            if term is None:
                return self._scatter_scan(f, k, scan, scanned, adjoints, at_s, order)
            totals[read.index] = totals[read.index] + term
        scan[lhs] = _values(totals)
        scan.compute_root()
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
        scan.compute_root()
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
            prev = _adjoint_func(_adjoint_name(f, i, f"_stage{k - 1}"))
            prev[targets] = ops.select(written, ops.cast(t, 0), Call(source, targets, index))
            for leaf, adjoint in old:
                if leaf.index != i:
                    continue
                self.counter += 1
                for c in contribution(leaf.args, adjoint, domain, f"r_adj{self.counter}"):
                    args = targets if c.is_pure else c.args
                    prev[args] = prev[args] + ops.cast(t, c.value)
            prev.compute_root()
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


def _later_read(d, order: UpdateOrder, read: Call, adjoint: Expr, lhs, s) -> Expr | None:
    """What `read`, made by the iteration t after s that reads the point s wrote
    (`lhs`), sends back there: its adjoint at t where t exists, else 0; None when t
    cannot be solved from the point."""
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
    conds += [substitute(p, t) for p in d.predicate()] + [substitute(p, at_s) for p in d.predicate()]
    conds.append(precedes(s, [t[rv] for rv in order.rvars]))
    clamped = {rv: ops.clamp(value, rv.min, simplify(rv.min + rv.extent - 1))
               for rv, value in t.items()}
    return guarded(substitute(adjoint, clamped), conds)


def _check_self_reads(f: Func, k: int, reads) -> None:
    """Halide's rule: a read of f inside an update has its pure Vars in their places."""
    d = f.definitions[k]
    for read in reads:
        if any(read.args[i] is not d.args[i] for i in pure_dims(f, d)):
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it reads f at other points along "
                "the pure Vars it writes", "Write the recurrence over an RDom "
                "(f[r] = f[r-1] ...)")


def _reads(leaf, f: Func) -> bool:
    return isinstance(leaf, Call) and leaf.callee is f


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _is_accumulation(d, self_reads, seeds: list) -> bool:
    """True for f[L] = f[L] + e (per value of a tuple): each float value reads f only at
    L, its own value, and that read's adjoint is the seed itself."""
    floats = {i for i, v in enumerate(d.values) if v.type.is_float}
    if not floats or len(self_reads) != len(floats):
        return False
    return {leaf.index for leaf, _ in self_reads} == floats and all(
        _same(leaf.args, d.args) and simplify(a) is simplify(seeds[leaf.index])
        for leaf, a in self_reads)


def _reduces_over_rdom(d, self_reads) -> bool:
    """A same-point self-read in an update iterating RVars that L does not mention."""
    lhs_rvars = set(collect(d.args, RVar))
    return any(_same(leaf.args, d.args) for leaf, _ in self_reads) and any(
        rv not in lhs_rvars for rv in loop_rvars(d))


def _reduction_shape(value: Expr, f: Func, lhs):
    """(op, self read, other operand) of max/min/product reductions, else an error."""
    from ..ir.expr import Binary
    if isinstance(value, Binary) and value.op in ("min", "max", "*"):
        for own, other in ((value.a, value.b), (value.b, value.a)):
            if isinstance(own, Call) and own.callee is f and _same(own.args, lhs):
                return value.op, own, other
    raise errors.not_differentiable(
        f"the update of Func '{f.name}'", "it combines f with itself over an RDom in a way "
        "other than +, -, *, min or max, overwriting the values each iteration read",
        "Write the scan into a new Func with an extra dimension (g[x, r] = h(g[x, r - 1], "
        "...)), or use one of those reductions")


def gradients(loss: Func, inputs, target: str = "cpu", **bindings) -> list:
    """Realize d[input] for each input over its full shape (Params: 0-D)."""
    from ..codegen.pipeline import Pipeline
    d = propagate_adjoints(loss)
    funcs, shapes = [], []
    for obj in inputs:
        funcs.append(d[obj])
        shapes.append(_shape_of(obj, bindings))
    result = Pipeline(funcs).realize(shapes, target=target, **bindings) if len(funcs) > 1 else \
        Pipeline(funcs).realize(shapes[0], target=target, **bindings)
    return list(result) if len(funcs) > 1 else [result]


def _shape_of(obj, bindings) -> tuple:
    if isinstance(obj, Param):
        return ()
    if isinstance(obj, Buffer):
        return obj.shape
    if isinstance(obj, InputBuffer) and str(obj.name) in bindings:
        import numpy as np
        return np.shape(bindings[str(obj.name)])
    raise errors.not_differentiable(
        f"'{obj.name}' in gradients()", "its shape is unknown", "Pass it by name as a keyword, "
        "or realize d[f] yourself with a shape")
