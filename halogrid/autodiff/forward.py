"""propagate_tangents / Tangents: forward mode, Jacobian-vector products (JVPs).

The tangent of a Func f is a Func t_f over f's Vars with one definition per definition
of f: where stage k of f computes f[L] = v, stage k of t_f computes t_f[L] = the sum,
over the leaves of v (calls and Params), of the partial of v with respect to the leaf
(rules.py, the table reverse mode reads) times the leaf's tangent. A read of f inside
its own update reads t_f at the same point, so t_f follows f's iteration exactly (scans,
accumulations, overwrites) under any legal schedule.

Where a partial of an update needs f's own value (the argmax of a max reduction, a
product, a nonlinear scan), that is the value f has *during* the update, which no
finished Func holds: f and its tangent are then computed together as one tuple Func
`f_dual[L] = (v, t)` (dual numbers), and t_f reads the tangent elements of it.

Invariants: t_f has f's dimensions and value types; integer values, index expressions,
RDom bounds and predicates have no tangent; a Func that depends on no seeded input has
an all-zero tangent (and `f in t` is False); tangent Funcs are ordinary Funcs (kind
'tangent'), inlined like their primal when pure, computed at root when the primal is.
"""

from __future__ import annotations

import numpy as np

from .. import errors
from ..ir import ops
from ..ir.buffer import Buffer, InputBuffer, Param
from ..ir.expr import Call, Const, Expr, Var
from ..ir.func import Definition, Func
from ..ir.graph import build_graph
from ..ir.visit import collect, mutate_with, post_order
from .rules import chain, partials


class Tangents:
    """t[f] is the tangent Func of f (the JVP along the seeded tangents); t[inp] and
    t[param] are the seeded tangents themselves as Funcs (a Param's is 0-D). Anything
    that depends on no seeded input has an all-zero tangent Func."""

    def __init__(self, walk: "_ForwardWalk"):
        self._walk = walk
        self._wrapped: dict = {}

    def __getitem__(self, obj) -> Func:
        if isinstance(obj, Func):
            _check_float(obj, obj.value_types())
            found = self._walk.tangent_func(obj)
            if found is not None:
                return found
        elif not isinstance(obj, (InputBuffer, Param)):
            raise errors.not_differentiable(
                f"{obj!r} in forward mode", "it is not a Func, Buffer, ImageParam or Param",
                "Ask for t[f] of one of those")
        if id(obj) not in self._wrapped:  # one Func per input or independent Func
            made = _zeros(obj.name, obj.args(), obj.value_types()) if isinstance(obj, Func) \
                else self._walk.seed_func(obj)
            self._wrapped[id(obj)] = (obj, made)
        return self._wrapped[id(obj)][1]

    def __contains__(self, obj) -> bool:
        if isinstance(obj, Func):
            return self._walk.tangent_func(obj) is not None
        return id(obj) in self._walk.seeds


def propagate_tangents(seeds: dict) -> Tangents:
    """Forward mode: the tangents of every Func depending on the seeded inputs.

    `seeds` maps inputs to their tangents: an ImageParam or Buffer to an array of its
    shape (wrapped as a Buffer named 't_<input>') or to an ImageParam/Buffer of the same
    type and dimensions (bound by its name when a compiled pipeline runs, so one compiled
    pipeline serves every tangent); a Param to a number or to a Param of its type.

    >>> t = hg.propagate_tangents({inp: v, gain: 1.0})
    >>> jvp = t[blur].realize([H, W], inp=image)     # d blur(inp + s v, gain + s) / ds
    """
    if not isinstance(seeds, dict) or not seeds:
        raise errors.not_differentiable(
            "in forward mode without seeds", "propagate_tangents needs a dict of inputs "
            "to tangents", "Pass e.g. propagate_tangents({inp: tangent_array, gain: 1.0})")
    table = {id(obj): (obj, _seed_tangent(obj, value)) for obj, value in seeds.items()}
    return Tangents(_ForwardWalk(table))


# ---- seeds ------------------------------------------------------------------------

def _seed_tangent(obj, value):
    """The tangent of one seeded input: an Expr for a Param, an input buffer otherwise."""
    if isinstance(obj, Param):
        _check_float(obj, [obj.type])
        if isinstance(value, Param):
            _check_seed(obj, value.type == obj.type, f"the tangent Param has type {value.type}",
                        f"Give a Param of type {obj.type}")
            return value
        array = np.asarray(value, dtype=np.float64)
        _check_seed(obj, array.ndim == 0, f"a Param's tangent is a number, got shape "
                    f"{array.shape}", "Pass a float or a Param")
        return Const(obj.type, float(array))
    if not isinstance(obj, InputBuffer):
        raise errors.not_differentiable(
            f"{obj!r} in propagate_tangents", "only inputs (Buffer, ImageParam, Param) "
            "take tangents", "Seed the inputs the Funcs are computed from")
    _check_float(obj, [obj.type()])
    if isinstance(value, InputBuffer):
        _check_seed(obj, value.type() == obj.type() and value.dimensions() == obj.dimensions(),
                    f"the tangent is {value.dimensions()}-D {value.type()}", "Give one of "
                    f"{obj.dimensions()} dimension(s) of {obj.type()}")
        buf = value
    else:
        array = np.ascontiguousarray(np.asarray(value, dtype=obj.type().dtype))
        _check_seed(obj, array.ndim == obj.dimensions(), f"the tangent has {array.ndim} "
                    f"dimension(s), the input {obj.dimensions()}", "Pass an array of the "
                    "input's shape")
        buf = Buffer(array, name=f"t_{obj.name}")
    if isinstance(obj, Buffer) and isinstance(buf, Buffer):
        _check_seed(obj, buf.shape == obj.shape, f"the tangent has shape {buf.shape}, the "
                    f"input {obj.shape}", "Pass an array of the input's shape")
    return buf


def _check_seed(obj, ok: bool, why: str, fix: str) -> None:
    if not ok:
        raise errors.not_differentiable(f"along the tangent of '{obj.name}'", why, fix)


def _check_float(obj, types) -> None:
    if not any(t.is_float for t in types):
        raise errors.not_differentiable(
            f"with respect to '{obj.name}'", f"it has integer type {types[0]}",
            "Only Float values have tangents; cast to float in the algorithm")


# ---- the walk over Funcs -------------------------------------------------------------

class _ForwardWalk:
    """Builds tangent Funcs on demand, producers first, each Func once."""

    def __init__(self, seeds: dict):
        self.seeds = seeds                 # id(input or Param) -> (it, its tangent)
        self.done: dict[int, tuple] = {}   # id(Func) -> (Func, tangent Func or None)

    def tangent_func(self, f: Func) -> Func | None:
        if id(f) not in self.done:
            for g in build_graph([f]).funcs:  # realization order: producers first
                if id(g) not in self.done:
                    self.done[id(g)] = (g, self._build(g))
        return self.done[id(f)][1]

    def seed_func(self, obj) -> Func:
        """The seeded tangent of an input as a Func (zeros when it was not seeded)."""
        if isinstance(obj, Param):
            dims, types = (), [obj.type]
        else:
            dims, types = tuple(Var(f"_t{d}") for d in range(obj.dimensions())), [obj.type()]
        hit = self.seeds.get(id(obj))
        if hit is None:
            return _zeros(obj.name, dims, types)
        t = _new_tangent(f"t_{obj.name}", None)
        t[dims] = hit[1] if isinstance(obj, Param) else Call(hit[1], dims, 0)
        return t

    def _leaf(self, f: Func, own):
        """Tangent of a Call or Param leaf inside f; `own(call)` answers f's self-reads."""
        def leaf(node) -> Expr | None:
            if isinstance(node, Param):
                hit = self.seeds.get(id(node))
                return None if hit is None else hit[1]
            if node.callee is f:
                return own(node)
            if isinstance(node.callee, Func):
                found = self.done[id(node.callee)][1]
                return None if found is None else Call(found, node.args, node.index)
            hit = self.seeds.get(id(node.callee))
            return None if hit is None else Call(hit[1], node.args, 0)
        return leaf

    def _build(self, f: Func) -> Func | None:
        """f's tangent Func, or None when nothing but f itself could carry a tangent."""
        alone = self._leaf(f, lambda call: None)
        if all(tangent(v, alone) is None for d in f.definitions for v in d.values):
            return None
        if f.kind == "extern":  # its definition only stands in for the reads of user code
            raise errors.not_differentiable(
                f"extern stage '{f.name}' in forward mode", "its values come from Python "
                "code, which has no tangent rule", "Differentiate through it in reverse mode "
                "(hg.extern(..., vjp=...)), or seed only inputs it does not read")
        plain = self._plain(f)
        return plain if plain is not None else self._dual(f)

    def _plain(self, f: Func) -> Func | None:
        """t_f with f's definitions; None when an update's tangent needs f's own value."""
        t = _new_tangent(f"t_{f.name}", f)
        leaf = self._leaf(f, lambda call: Call(t, call.args, call.index))
        for k, d in enumerate(f.definitions):
            values = tuple(_or_zero(tangent(v, leaf), v.type) for v in d.values)
            if k > 0 and _reads(values + d.args, f):
                return None
            t.definitions.append(Definition(d.args, values, d.rdoms, d.location))
        return t

    def _dual(self, f: Func) -> Func:
        """f and its tangent as one tuple Func; t_f reads the tangent elements."""
        n = f.outputs()
        dual = _new_tangent(f"{f.name}_dual", f)
        leaf = self._leaf(f, lambda call: Call(dual, call.args, n + call.index))

        def to_dual(e: Expr) -> Expr:
            return mutate_with(e, {Call: lambda c: Call(dual, c.args, c.index)
                                   if c.callee is f else None})
        for d in f.definitions:
            tangents = tuple(_or_zero(tangent(v, leaf), v.type) for v in d.values)
            dual.definitions.append(Definition(
                tuple(to_dual(a) for a in d.args),
                tuple(to_dual(v) for v in d.values + tangents), d.rdoms, d.location))
        dual.root_by_default = True
        t = _new_tangent(f"t_{f.name}", f)
        dims = f.definitions[0].args
        t.definitions.append(Definition(
            dims, tuple(Call(dual, dims, n + i) for i in range(n)), (), f.location))
        return t


def _new_tangent(name: str, primal: Func | None) -> Func:
    """A tangent Func at its primal's adjoint nesting level, at root by default where
    the primal is computed at root now (by a directive, or by default as an adjoint)."""
    t = Func(name, _kind="tangent")
    if primal is not None:
        t.adjoint_level = primal.adjoint_level
        schedule = primal.func_schedule
        compute = None if schedule is None else schedule.compute
        t.root_by_default = compute == "root" or (compute is None and primal.root_by_default)
    return t


def _zeros(name: str, dims, types) -> Func:
    z = _new_tangent(f"t_{name}", None)
    dims = tuple(dims)
    z.definitions.append(Definition(dims, tuple(Const(t, 0) for t in types), ()))
    return z


def _reads(exprs, f: Func) -> bool:
    return any(c.callee is f for c in collect(exprs, Call))


def _or_zero(e: Expr | None, t) -> Expr:
    return Const(t, 0) if e is None else e


# ---- the tangent of one expression ---------------------------------------------------

def tangent(value: Expr, leaf_tangent) -> Expr | None:
    """The tangent of `value` given `leaf_tangent(leaf)` for its Call and Param leaves
    (None: the leaf has none). None when no float path reaches a leaf with a tangent.

    Invariant: the result has value's type and equals sum over leaves L of
    d value / d L * tangent(L), the partials and their products (`chain`) taken from
    rules.py as reverse mode takes them: a select's partials route the tangent of the
    taken branch only, and a zero tangent times an Inf/NaN partial is 0, so an untaken
    branch (sqrt'(0), 1/0) never reaches the result.
    """
    found: dict = {}
    for node in post_order((value,), stop_at=(Call,)):
        if not node.type.is_float:
            continue
        if isinstance(node, (Call, Param)):
            t = leaf_tangent(node)
        else:
            kids = [found.get(c) for c in node.children()]
            t = _combine(node, kids) if any(k is not None for k in kids) else None
        if t is not None:
            found[node] = t
    return found.get(value)


def _combine(node: Expr, kid_tangents: list) -> Expr | None:
    total = None
    for partial, t in zip(partials(node), kid_tangents):
        if partial is None or t is None:
            continue
        term = chain(ops.cast(partial.type, t), partial)  # reverse mode's product, NaN-safe
        if not (isinstance(term, Const) and term.value == 0):
            term = ops.cast(node.type, term)
            total = term if total is None else total + term
    return total
