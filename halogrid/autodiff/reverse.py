"""propagate_adjoints / Derivative: the reverse walk over definitions and updates.

Funcs are visited consumers-first; within a Func, updates last-to-first. The adjoint
flowing into stage k of f is d(f, k), one Func per value of a tuple Func; each call in
stage k's values sends adjoint * partial to its callee (invert.py decides gather or
scatter). For stage k:
  * `f[L] = f[L] + e` (a self-read at the same point with partial 1, the `+=`/`-=`
    shape): d(f, k-1) = d(f, k);
  * max/min/product reductions into points L leaves RVars out of: reductions.py;
  * otherwise stage k sets f where it writes (overwrite.py): reads see f before the
    update or, where an earlier iteration wrote, after it (order.py); scans such as
    f[r] = f[r-1]*a + in[r] are reversed by a backwards scan; d(f, k-1) is d(f, k)
    masked where stage k wrote, plus what reads of the old values send back.
Adjoint Funcs are ordinary Funcs (kind 'adjoint'), marked root_by_default: stored unless
the user schedules them otherwise (schedule/defaults.py decides).
"""

from __future__ import annotations

import numpy as np

from .. import errors
from ..ir import ops
from ..ir.boundary import constant_exterior, window_exterior
from ..ir.buffer import Buffer, InputBuffer, Param
from ..ir.expr import Call, Const, Expr, WindowEdge
from ..ir.func import Definition, Func, RDom
from ..ir.graph import build_graph
from ..ir.simplify import simplify
from ..ir.types import INT32
from ..ir.visit import mutate_with
from .backprop import stage_leaves
from .custom import UserAdjoints
from .invert import (Contribution, LoopDomain, adjoint_func, adjoint_name, contribution,
                     input_dims, input_type, pack, producer_vars, routed_boundaries,
                     set_level, through_boundary)
from .order import loop_rvars, pure_dims
from .overwrite import OverwriteStages, is_read_of
from .reductions import ReductionStages, reduces_over_rdom, same_args
from .regions import forward_regions


class Derivative:
    """d[f] is the adjoint Func of f after all its updates; d[f, i] of update i, d[f, -1]
    of the pure definition. For a tuple Func each is a tuple with one Func per value
    (d[f][0]). Anything the loss does not depend on has a zero adjoint.

    >>> d = hg.propagate_adjoints(loss)
    >>> d[k].realize([3, 3], inp=image, target=goal)   # d loss / d k, an ordinary Func
    """

    def __init__(self, final: dict, stages: dict):
        self._final, self._stages = final, stages

    def __getitem__(self, key) -> Func:
        obj, stage = (key if isinstance(key, tuple) else (key, None))
        _check_differentiable(obj)
        if stage is None or id(obj) not in self._final:
            adjoint = self._final[id(obj)] if id(obj) in self._final else _zeros(obj)
            if isinstance(obj, InputBuffer):  # compiled, it defaults to obj's shape
                adjoint.adjoint_of = obj
            return adjoint
        index = stage + 1 if stage >= -1 else stage
        return self._stages[id(obj)][index]

    def __contains__(self, obj) -> bool:
        return id(obj) in self._final


def _check_differentiable(obj) -> None:
    if isinstance(obj, RDom) or not hasattr(obj, "name"):
        raise errors.not_differentiable(f"with respect to {obj!r}", "it is not a Func, Buffer, "
                                        "ImageParam or Param", "Ask for d[f] of one of those")
    types = obj.value_types() if isinstance(obj, Func) else [input_type(obj)]
    t = types[0]
    if not any(v.is_float for v in types):
        raise errors.not_differentiable(
            f"with respect to '{obj.name}'", f"it has integer type {t}",
            "Only Float inputs have adjoints; cast the input to float in the algorithm")


def _value_type(obj, index: int):
    return obj.value_types()[index] if isinstance(obj, Func) else input_type(obj)


def _outputs(obj) -> int:
    return obj.outputs() if isinstance(obj, Func) else 1


def _zeros(obj):
    result = []
    for i in range(_outputs(obj)):
        f = adjoint_func(adjoint_name(obj, i))
        f[producer_vars(input_dims(obj))] = ops.cast(_value_type(obj, i), 0)
        result.append(f)
    return pack(result)


def propagate_adjoints(loss: Func, adjoint: object = None) -> Derivative:
    """Adjoints of everything `loss` depends on. A non-scalar loss needs `adjoint`: the
    output adjoint as an array/Buffer whose shape is the region (a vector-Jacobian product).

    >>> d = hg.propagate_adjoints(loss)              # loss: a 0-D Func
    >>> fn = hg.Pipeline([loss, d[k], d[inp]]).compile()
    >>> vjp = hg.propagate_adjoints(out, np.ones((480, 640), np.float32))
    """
    if not isinstance(loss, Func):
        raise errors.not_differentiable(f"{loss!r}", "the loss must be a Func",
                                        "Define the loss as a (0-D) Func")
    _check_differentiable(loss)
    seed, seed_region = _seed(loss, adjoint)
    graph = build_graph([loss])
    level = 1 + max((f.adjoint_level for f in graph.funcs), default=-1)
    set_level(level)
    routed = routed_boundaries(graph.funcs)
    regions = forward_regions(graph, seed_region, routed)
    walker = _ReverseWalk(graph, regions, routed)
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
        seed = adjoint_func(f"d_{loss.name}")
        seed[()] = ops.cast(t, 1)
        return seed, []
    buf = adjoint if isinstance(adjoint, InputBuffer) else \
        Buffer(_as_array(adjoint, t), name=f"d_{loss.name}_seed")
    if buf.dimensions() != loss.dimensions() or buf.type() != t:
        raise errors.not_differentiable(
            f"Func '{loss.name}'", f"the output adjoint has {buf.dimensions()} dims of "
            f"{buf.type()}, the Func {loss.dimensions()} of {t}", "Pass an adjoint of f's shape and type")
    dims = range(buf.dimensions())
    if isinstance(buf, Buffer):  # the region is the array's shape
        zero = Const(INT32, 0)
        return constant_exterior(buf, 0), [(zero, buf.extent_expr(d)) for d in dims]
    # an ImageParam seed: the region is the window its array holds (origins= of a call)
    edges = [(WindowEdge(buf, d, "min"), WindowEdge(buf, d, "max")) for d in dims]
    return window_exterior(buf, 0), [(lo, simplify(hi - lo + 1)) for lo, hi in edges]


def _as_array(a, t):
    return np.ascontiguousarray(np.asarray(a, dtype=t.dtype))


class _ReverseWalk(OverwriteStages, ReductionStages):
    """The walk. An adjoint is kept as a list with one Func per value of its Func (tuple
    Funcs have several); pending contributions are keyed by (callee, value index)."""

    def __init__(self, graph, regions, routed: set = frozenset()):
        self.graph, self.regions = graph, regions
        self.routed = routed  # boundary conditions whose adjoints pass straight through
        self.pending: dict[tuple, list[Contribution]] = {}
        self.final: dict[int, Func | tuple] = {}
        self.stage_adjoints: dict[int, list] = {}
        self.counter = 0
        self.prefixes: dict = {}
        self.user = UserAdjoints(regions, self._send_pure)  # hg.custom_adjoint, hg.extern

    def run(self, loss: Func, seed: Func) -> None:
        for f in reversed(self.graph.funcs):
            d_f = [seed] if f is loss else [self._assemble(f, i) for i in range(f.outputs())]
            self.final[id(f)] = pack(d_f)
            # what a condition wraps got its adjoint directly; an integer Func passes
            # nothing on (its values are piecewise constant in everything it reads)
            if id(f) not in self.routed and any(t.is_float for t in f.value_types()):
                self._walk_stages(f, d_f)
        for obj in list(self.graph.inputs) + list(self.graph.params):
            if input_type(obj).is_float:
                self.final[id(obj)] = self._assemble(obj)

    # -- assembling an adjoint Func from its contributions
    def _assemble(self, obj, index: int = 0) -> Func:
        contributions = self.pending.pop((id(obj), index), [])
        d = adjoint_func(adjoint_name(obj, index))
        t = _value_type(obj, index)
        targets = producer_vars(input_dims(obj))
        pure = [ops.cast(t, c.value) for c in contributions if c.is_pure]
        total = ops.cast(t, 0)
        for term in pure:
            total = term if total is Const(t, 0) else total + term
        d[targets] = total
        for c in contributions:
            if not c.is_pure:
                d[c.args] = d[c.args] + ops.cast(t, c.value)
        d.root_by_default = True
        return d

    def _send_leaf(self, leaf, adjoint: Expr, domain: LoopDomain) -> None:
        """Send a leaf's adjoint to its callee (a Param's is 0-D)."""
        if isinstance(leaf, Param):
            self._send(leaf, (), adjoint, domain)
        elif id(leaf.callee) in self.routed:
            # d[bc] gets its own term; what bc wraps gets its adjoint here, through
            # bc's clamp, not from d[bc] (whose region is unbounded)
            self._send(leaf.callee, leaf.args, adjoint, domain, leaf.index)
            for inner, inner_adjoint in through_boundary(leaf, adjoint):
                self._send_leaf(inner, inner_adjoint, domain)
        else:
            self._send(leaf.callee, leaf.args, adjoint, domain, leaf.index)

    def _send(self, callee, args, adjoint: Expr, domain: LoopDomain, index: int = 0) -> None:
        self.counter += 1
        parts = contribution(tuple(args), adjoint, domain, f"r_adj{self.counter}")
        self.pending.setdefault((id(callee), index), []).extend(parts)

    def _send_pure(self, callee, value: Expr) -> None:
        """Add `value`, an expression over callee's producer Vars, to its adjoint."""
        self.pending.setdefault((id(callee), 0), []).append(
            Contribution(producer_vars(input_dims(callee)), value, None))

    # -- the stages of one Func, last update first
    def _walk_stages(self, f: Func, d_f: list) -> None:
        if self.user.sends(f, d_f):  # the user's adjoints replace derived ones
            self.stage_adjoints[id(f)] = [pack(d_f)] * len(f.definitions)
            return
        adjoints = [None] * len(f.definitions)
        current = d_f
        for k in range(len(f.definitions) - 1, -1, -1):
            adjoints[k] = pack(current)
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
        self_reads = [(leaf, a) for leaf, a in leaves if is_read_of(leaf, f)]
        if k > 0 and _is_accumulation(d, self_reads, seeds):
            for leaf, adjoint in leaves:  # the added terms do not read f
                if not is_read_of(leaf, f):
                    self._send_leaf(leaf, adjoint, domain)
            return d_k
        if k > 0 and reduces_over_rdom(d, self_reads):
            if len(d_k) > 1:
                raise errors.not_differentiable(
                    f"update {k - 1} of tuple Func '{f.name}'", "it reduces over an RDom, "
                    "reading f where it writes", "Reduce each value in a Func of its own")
            return [self._reduction(f, k, d_k[0], domain)]
        return self._overwrite(f, k, d_k, domain)

    def _prefix(self, f: Func, last: int) -> Func:
        """A copy of f with definitions 0..last only (its value after update last-1);
        with updates it is stored, as any Func with updates is by default."""
        key = (id(f), last)
        if key not in self.prefixes:
            copy = Func(f"{f.name}_upto{last}", _kind="forward_copy")
            copy.adjoint_level = f.adjoint_level
            to_copy = {Call: lambda c: Call(copy, c.args, c.index) if c.callee is f else None}
            for d in f.definitions[:last + 1]:
                copy.definitions.append(Definition(
                    tuple(mutate_with(a, to_copy) for a in d.args),
                    tuple(mutate_with(v, to_copy) for v in d.values), d.rdoms, d.location))
            self.prefixes[key] = copy
        return self.prefixes[key]


def _is_accumulation(d, self_reads, seeds: list) -> bool:
    """True for f[L] = f[L] + e (per value of a tuple): each float value reads f only at
    L, its own value, and that read's adjoint is the seed itself."""
    floats = {i for i, v in enumerate(d.values) if v.type.is_float}
    if not floats or len(self_reads) != len(floats):
        return False
    return {leaf.index for leaf, _ in self_reads} == floats and all(
        same_args(leaf.args, d.args) and simplify(a) is simplify(seeds[leaf.index])
        for leaf, a in self_reads)
