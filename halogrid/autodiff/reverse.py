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
from .backprop import leaf_adjoints
from .invert import (Contribution, LoopDomain, conjunction, contribution, guarded,
                     producer_vars, set_level)
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
    t = obj.type() if callable(getattr(obj, "type", None)) else obj.type
    if not t.is_float:
        raise errors.not_differentiable(
            f"with respect to '{obj.name}'", f"it has integer type {t}",
            "Only Float inputs have adjoints; cast the input to float in the algorithm")


def _dims(obj) -> int:
    return 0 if isinstance(obj, Param) else obj.dimensions()


def _type(obj):
    return obj.type() if callable(getattr(obj, "type", None)) else obj.type


def _zeros(obj) -> Func:
    f = _adjoint_func(f"d_{obj.name}")
    f[producer_vars(_dims(obj))] = ops.cast(_type(obj), 0)
    return f


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
    def __init__(self, graph, regions):
        self.graph, self.regions = graph, regions
        self.pending: dict[int, list[Contribution]] = {}
        self.final: dict[int, Func] = {}
        self.stage_adjoints: dict[int, list] = {}
        self.counter = 0
        self.prefixes: dict = {}

    def run(self, loss: Func, seed: Func) -> None:
        for f in reversed(self.graph.funcs):
            d_f = seed if f is loss else self._assemble(f)
            self.final[id(f)] = d_f
            self._walk_stages(f, d_f)
        for obj in list(self.graph.inputs) + list(self.graph.params):
            if _type(obj).is_float:
                self.final[id(obj)] = self._assemble(obj)

    # -- assembling an adjoint Func from its contributions
    def _assemble(self, obj) -> Func:
        contributions = self.pending.pop(id(obj), [])
        d = _adjoint_func(f"d_{obj.name}")
        t = _type(obj)
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
            self._send(leaf.callee, leaf.args, adjoint, domain)

    def _send(self, callee, args, adjoint: Expr, domain: LoopDomain) -> None:
        self.counter += 1
        parts = contribution(tuple(args), adjoint, domain, f"r_adj{self.counter}")
        self.pending.setdefault(id(callee), []).extend(parts)

    # -- the stages of one Func, last update first
    def _walk_stages(self, f: Func, d_f: Func) -> None:
        if f.outputs() != 1:
            raise errors.not_differentiable(f"tuple Func '{f.name}'", "adjoints of multi-valued "
                                            "Funcs are not supported", "Split it into one Func per value")
        adjoints = [None] * len(f.definitions)
        current = d_f
        for k in range(len(f.definitions) - 1, -1, -1):
            adjoints[k] = current
            current = self._stage(f, k, current)
        self.stage_adjoints[id(f)] = adjoints

    def _domain(self, f: Func, k: int) -> LoopDomain:
        d = f.definitions[k]
        rng = self.regions.of_stage(f, k)
        pure = [(a, rng.min[i], rng.max[i]) for i, a in enumerate(d.args) if isinstance(a, Var)]
        rvars = [RVar(r, i) for r in d.rdoms for i in range(r.dimensions())]
        return LoopDomain(pure, rvars, d.predicate())

    def _stage(self, f: Func, k: int, d_k: Func) -> Func | None:
        """Propagate stage k's adjoint to its callees; return d(f, k-1)."""
        d = f.definitions[k]
        domain = self._domain(f, k)
        leaves = leaf_adjoints(d.values[0], Call(d_k, d.args, 0))
        self_reads = [(leaf, a) for leaf, a in leaves if isinstance(leaf, Call) and leaf.callee is f]
        accumulates = _is_accumulation(d.args, self_reads, d_k)
        if not accumulates and _reduces_over_rdom(d, self_reads):
            return self._reduction(f, k, d_k, domain)
        source = d_k
        old = {leaf for leaf, _ in self_reads if _same(leaf.args, d.args) or _reads_old_value(d, leaf)}
        if not accumulates and any(leaf not in old for leaf, _ in self_reads):
            source = self._reverse_scan(f, k, d_k, [r for r in self_reads if r[0] not in old], domain)
            leaves = leaf_adjoints(d.values[0], Call(source, d.args, 0))
            self_reads = [(lf, a) for lf, a in leaves if isinstance(lf, Call) and lf.callee is f]
        leaves = [(leaf, self._stage_values(f, k, d.args, a, old)) for leaf, a in leaves]
        self_reads = [(leaf, a) for leaf, a in leaves if leaf in old]
        for leaf, adjoint in leaves:
            if isinstance(leaf, Call) and leaf.callee is f:
                continue
            self._send_leaf(leaf, adjoint, domain)
        if k == 0:
            return None
        if accumulates:
            return d_k
        return self._previous(f, k, source, self_reads, domain)

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

    def _stage_values(self, f: Func, k: int, lhs, e: Expr, old=frozenset()) -> Expr:
        """e with reads of f replaced by f as stage k saw it: before the update at the
        written point (and at points `old` that later iterations overwrite), after this
        stage's earlier iterations elsewhere."""
        if len(f.definitions) == 1:
            return e

        def rewrite(call: Call):
            if call.callee is not f:
                return None
            stage = k - 1 if _same(call.args, lhs) or call in old else k
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

    def _reverse_scan(self, f: Func, k: int, d_k: Func, self_reads, domain) -> Func:
        """A copy of d(f, k) updated in reverse iteration order (the adjoint of a scan)."""
        d = f.definitions[k]
        parallel_dims = [i for i, a in enumerate(d.args) if isinstance(a, Var)]
        if any(leaf.args[i] is not d.args[i] for leaf, _ in self_reads for i in parallel_dims):
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it reads f at other points while writing "
                "along pure Vars", "Write the recurrence over an RDom (f[r] = f[r-1] ...)")
        scan = _adjoint_func(f"d_{f.name}_scan{k}")
        targets = producer_vars(f.dimensions())
        scan[targets] = Call(d_k, targets, 0)
        rvars = domain.rvars
        rev = RDom([(rv.min, rv.extent) for rv in rvars], name=f"r_rev{k}")
        flip = {rv: rv.min + rv.extent - 1 - (rev[i] - rv.min) for i, rv in enumerate(rvars)}
        for leaf, _ in self_reads:
            if _same(leaf.args, d.args):
                continue
            partial = _partial_wrt(d.values[0], leaf)
            lhs = tuple(substitute(a, flip) for a in leaf.args)
            value = Call(scan, tuple(substitute(a, flip) for a in d.args), 0) * substitute(partial, flip)
            scan[lhs] = scan[lhs] + guarded(value, [substitute(p, flip) for p in d.predicate()])
        scan.compute_root()
        return scan

    def _previous(self, f: Func, k: int, source: Func, self_reads, domain) -> Func:
        """d(f, k-1): `source` masked where stage k wrote, plus what the reads of
        not-yet-written values (`self_reads`) send back."""
        targets = producer_vars(f.dimensions())
        written = self._written(f, k, targets)
        prev = _adjoint_func(f"d_{f.name}_stage{k - 1}")
        kept = ops.select(written, ops.cast(f.type(), 0), Call(source, targets, 0))
        prev[targets] = kept
        for leaf, adjoint in self_reads:  # reads of values this stage had not yet written
            self.counter += 1
            for c in contribution(leaf.args, adjoint, domain, f"r_adj{self.counter}"):
                args = targets if c.is_pure else c.args
                prev[args] = prev[args] + c.value
        prev.compute_root()
        return prev

    def _written(self, f: Func, k: int, targets) -> Expr:
        """Bool: stage k of f wrote at `targets` (its left side must be Vars or RVars)."""
        d = f.definitions[k]
        rng = self.regions.of_stage(f, k)
        conds = []
        for i, (a, t) in enumerate(zip(d.args, targets)):
            if isinstance(a, Var):
                conds += [rng.min[i] <= t, t <= rng.max[i]]
        reduced = [i for i, a in enumerate(d.args) if not isinstance(a, Var)]
        rvars = [RVar(r, j) for r in d.rdoms for j in range(r.dimensions())]
        inv = invert(tuple(d.args[i] for i in reduced), rvars, tuple(targets[i] for i in reduced))
        if inv is None or inv.multiplicity or collect(tuple(inv.solutions.values()), RVar):
            raise errors.not_differentiable(
                f"update {k - 1} of Func '{f.name}'", "it overwrites values at computed "
                "locations", "Use an accumulating update (+=, -=) or index by invertible "
                "expressions of Vars/RVars")
        mapping = inv.solutions
        conds += list(inv.predicates)
        for rv, sol in mapping.items():
            conds += [rv.min <= sol, sol <= simplify(rv.min + rv.extent - 1)]
        conds += [substitute(p, mapping) for p in d.predicate()]
        cond = conjunction(conds)
        return ops.to_expr(True) if cond is None else cond


def _reads_old_value(d, leaf: Call) -> bool:
    """True when the point `leaf` reads is written by a LATER iteration of the update
    (so the read sees the value from before the update), as in f[s] = f[s+1] / 2."""
    rvars = [RVar(r, j) for r in d.rdoms for j in range(r.dimensions())]
    dims = [i for i, a in enumerate(d.args) if not isinstance(a, Var)]
    probes = tuple(Var(f"_probe{i}") for i in dims)
    inv = invert(tuple(d.args[i] for i in dims), rvars, probes)
    if inv is None or inv.multiplicity or len(inv.solutions) != len(rvars):
        return False
    at_read = dict(zip(probes, (leaf.args[i] for i in dims)))
    for rv in rvars:  # iteration order: first RVar outermost
        delta = simplify(substitute(inv.solutions[rv], at_read) - rv)
        if not isinstance(delta, Const):
            return False
        if delta.value != 0:
            return delta.value > 0
    return False


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _is_accumulation(lhs, self_reads, d_k: Func) -> bool:
    """True for f[L] = f[L] + e: one self-read at L whose adjoint is the seed itself."""
    if len(self_reads) != 1:
        return False
    leaf, adjoint = self_reads[0]
    return _same(leaf.args, lhs) and simplify(adjoint) is simplify(Call(d_k, lhs, 0))


def _reduces_over_rdom(d, self_reads) -> bool:
    """A same-point self-read in an update iterating RVars that L does not mention."""
    from ..ir.visit import collect
    lhs_rvars = set(collect(d.args, RVar))
    loops = [RVar(r, i) for r in d.rdoms for i in range(r.dimensions())]
    return any(_same(leaf.args, d.args) for leaf, _ in self_reads) and any(
        rv not in lhs_rvars for rv in loops)


def _reduction_shape(value: Expr, f: Func, lhs):
    """(op, self read, other operand) of max/min/product reductions, else an error."""
    from ..ir.expr import Binary
    if isinstance(value, Binary) and value.op in ("min", "max", "*"):
        for own, other in ((value.a, value.b), (value.b, value.a)):
            if isinstance(own, Call) and own.callee is f and _same(own.args, lhs):
                return value.op, own, other
    raise errors.not_differentiable(
        f"the update of Func '{f.name}'", "it combines f with itself over an RDom in a way "
        "other than +, -, *, min or max", "Rewrite it as one of those reductions or as a scan "
        "f[r] = g(f[r-1], ...)")


def _partial_wrt(value: Expr, leaf: Call) -> Expr:
    """d value / d leaf, by back-propagating a unit seed."""
    one = ops.cast(value.type, 1)
    for found, adjoint in leaf_adjoints(value, one):
        if found is leaf:
            return adjoint
    return ops.cast(value.type, 0)


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
