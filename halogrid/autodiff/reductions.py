"""Adjoints of reductions over an RDom into a fixed point: f[L] = max/min(f[L], e) and
f[L] = f[L] * e, where L leaves some RVars out (so one point is written many times).

Invariant: the final value tells which terms mattered: max/min send the adjoint to the
first term (in iteration order) equal to the result unless the initial value already
was; products send final / e, exact with zero terms (counted, never divided by).
"""

from __future__ import annotations

from .. import errors
from ..ir import ops
from ..ir.expr import Binary, Call, Expr, RVar, Var
from ..ir.func import Func
from ..ir.types import INT32
from ..ir.visit import collect, mutate_with, substitute
from .backprop import leaf_adjoints
from .invert import adjoint_func, producer_vars
from .order import loop_rvars


class ReductionStages:
    """The reverse walk's handling of reductions (mixed into _ReverseWalk, whose
    _send_leaf and _prefix it uses)."""

    def _reduction(self, f: Func, k: int, d_k: Func, domain) -> Func:
        """f[L] = max/min(f[L], e) or f[L] * e over RVars missing from L (update k >= 1):
        the final value tells which terms mattered (max/min: the terms equal to it;
        product: final / e). Returns d(f, k-1)."""
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
        targets = producer_vars(f.dimensions())
        before = Call(self._prefix(f, k - 1), targets, 0)
        after = self._value_after(f, k, targets)
        prev = adjoint_func(f"d_{f.name}_stage{k - 1}")
        if op in ("min", "max"):
            prev[targets] = ops.select(before == after, Call(d_k, targets, 0), ops.cast(f.type(), 0))
        else:
            prev[targets] = Call(d_k, targets, 0) * substitute(rest, dict(zip(d.args, targets)))
        prev.root_by_default = True
        return prev

    def _product_parts(self, f: Func, k: int, other: Expr):
        """(d f / d term, d f / d initial value) of f[L] *= term over an RDom, exact even
        when terms are zero: from the product of the non-zero terms and their count."""
        d = f.definitions[k]
        t = f.type()
        one, zero = ops.cast(t, 1), ops.cast(t, 0)
        if not _distinct_vars(d.args):
            raise errors.not_differentiable(
                f"the product update of Func '{f.name}'", "its left side is not made of "
                "distinct Vars", "Write the product over Vars, e.g. hg.product(...)")
        nonzero = adjoint_func(f"{f.name}_nonzero{k}")
        nonzero[d.args] = one
        nonzero[d.args] = nonzero[d.args] * ops.select(other == zero, one, other)
        zeros = adjoint_func(f"{f.name}_zeros{k}")
        zeros[d.args] = ops.cast(INT32, 0)
        zeros[d.args] = zeros[d.args] + ops.select(other == zero, 1, 0)
        nonzero.root_by_default = True
        zeros.root_by_default = True
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
        if not _distinct_vars(d.args):
            return ops.select((other == final) & (before != final), one, zero)
        linear = ops.cast(INT32, 0)
        for rv in reduced:  # LAST dimension innermost: row-major position in the RDom
            linear = linear * rv.extent + (rv - rv.min)
        first = adjoint_func(f"{f.name}_first{k}")
        big = ops.cast(INT32, 2 ** 31 - 1)
        first[d.args] = big
        first[d.args] = ops.min(first[d.args], ops.select(other == final, linear, big))
        first.root_by_default = True
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
            stage = k - 1 if same_args(call.args, lhs) else k
            if stage == len(f.definitions) - 1:
                return None
            return Call(self._prefix(f, stage), call.args, call.index)
        return mutate_with(e, {Call: rewrite})


def _distinct_vars(args) -> bool:
    """A left side that can be a pure definition's (f[x, x] cannot)."""
    return all(isinstance(a, Var) for a in args) and len(set(args)) == len(args)


def same_args(a: tuple, b: tuple) -> bool:
    """The same index expressions (interned nodes: identity is equality)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def reduces_over_rdom(d, self_reads) -> bool:
    """A same-point self-read in an update iterating RVars that L does not mention."""
    lhs_rvars = set(collect(d.args, RVar))
    return any(same_args(leaf.args, d.args) for leaf, _ in self_reads) and any(
        rv not in lhs_rvars for rv in loop_rvars(d))


def _reduction_shape(value: Expr, f: Func, lhs):
    """(op, self read, other operand) of max/min/product reductions whose other operand
    does not read f, else an error."""
    if isinstance(value, Binary) and value.op in ("min", "max", "*"):
        for own, other in ((value.a, value.b), (value.b, value.a)):
            if isinstance(own, Call) and own.callee is f and same_args(own.args, lhs) and not any(
                    c.callee is f for c in collect((other,), Call)):
                return value.op, own, other
    raise errors.not_differentiable(
        f"the update of Func '{f.name}'", "it combines f with itself over an RDom in a way "
        "other than +, -, *, min or max, overwriting the values each iteration read",
        "Write the scan into a new Func with an extra dimension (g[x, r] = h(g[x, r - 1], "
        "...)), or use one of those reductions")
