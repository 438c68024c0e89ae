"""Loop partitioning for vectorize(): peel the iterations where clamps bite.

Requires: For loops flagged `partition` (set by vectorize on the loop that carries
the vectorised dimension), coordinates still as Calls (before storage.py).
Guarantees: a flagged loop over L becomes a peeled loop over [min, lo) and
[hi, end) (one copy of the body, run twice) and a steady loop over [lo, hi),
computing the same values. In the middle one every min/max whose one
side is linear in L (c*L + r, r bounded over the inner loops) and whose other side
does not vary inside the loop is replaced by the side it provably equals there:
the L-dependent side in values and indices (a clamped index becomes the plain,
contiguous index LLVM can vectorise), the invariant side in inner loop extents (a
split tail min(F, e - xo*F) becomes the constant F); a comparison of such a linear
side with an invariant one becomes true (the steady range is narrowed to where it
holds), so the range tests guarding a clamped read vanish too. Nothing else changes.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from ...ir.expr import Binary, Const, Expr, Select, Var
from ...ir.interval import Interval, bounds_of
from ...ir.simplify import simplify
from ...ir.types import INT32
from ...ir.visit import collect, mutate_with
from ..stmt import AtomicAdd, Block, For, IfThenElse, Let, Stmt, Store, block

_ids = itertools.count()


def partition_loops(s: Stmt, ctx=None) -> Stmt:
    match s:
        case For():
            body = partition_loops(s.body)
            loop = replace(s, body=body, partition=False)
            return _partition(loop) if s.partition else loop
        case IfThenElse():
            return IfThenElse(s.cond, partition_loops(s.then_case),
                              partition_loops(s.else_case) if s.else_case else None)
        case Block():
            return Block(tuple(partition_loops(c) for c in s.stmts))
    return s


def _linear(e: Expr, var: Var):
    """(c, r) with e == c*var + r (c an int), or None."""
    if e is var:
        return 1, Const(INT32, 0)
    if e.type != INT32:
        return None
    if var not in set(collect((e,), Var)):
        return 0, e
    if isinstance(e, Binary) and e.op in ("+", "-"):
        a, b = _linear(e.a, var), _linear(e.b, var)
        if a is None or b is None:
            return None
        sign = 1 if e.op == "+" else -1
        return a[0] + sign * b[0], simplify(Binary(e.op, a[1], b[1]))
    if isinstance(e, Binary) and e.op == "*":
        for x, k in ((e.a, e.b), (e.b, e.a)):
            if isinstance(k, Const):
                inner = _linear(x, var)
                if inner is not None:
                    return inner[0] * k.value, simplify(inner[1] * k)
    return None


class _Steady:
    """Rewrites the body for the steady state and collects the conditions on L."""

    def __init__(self, var: Var):
        self.var = var
        self.lower: list[Expr] = []   # L >= each
        self.upper: list[Expr] = []   # L <= each
        self.scope: dict = {}
        self.inner: set = set()

    def _invariant(self, e: Expr) -> bool:
        vs = set(collect((e,), Var))
        return self.var not in vs and not (vs & self.inner)

    def _le(self, c: int, k: Expr, bound: Expr) -> None:
        """Require c*L + k <= bound."""
        if c > 0:
            self.upper.append(simplify((bound - k) / Const(INT32, c)))
        else:
            self.lower.append(simplify((k - bound + (-c - 1)) / Const(INT32, -c)))

    def _require(self, varying: Expr, fixed: Expr, at_most: bool) -> bool:
        """Narrow the steady state to varying <= fixed (at_most) or varying >= fixed;
        False (nothing recorded) unless varying is linear in L with a bounded rest and
        fixed does not vary in the loop."""
        lin = _linear(varying, self.var) if self._invariant(fixed) else None
        if lin is None or lin[0] == 0:
            return False
        lets = set(collect((lin[1],), Var)) & (self.inner - set(self.scope))
        r = bounds_of(lin[1], self.scope)
        if lets or not r.bounded:
            return False
        if at_most:
            self._le(lin[0], r.max, fixed)
        else:
            self._le(-lin[0], simplify(-r.min), simplify(-fixed))
        return True

    def clamp(self, e: Binary, keep_varying: bool) -> Expr | None:
        for varying, fixed in ((e.a, e.b), (e.b, e.a)):
            if self._require(varying, fixed, (e.op == "min") == keep_varying):
                return varying if keep_varying else fixed
        return None

    def compare(self, e: Binary) -> Expr | None:
        """a <= b or a < b with one side linear in L and the other invariant: true in
        the steady state, which is narrowed to where it holds (the range tests that
        guard a clamped read, like the adjoint's select(0 <= x + k <= w - 1, ...))."""
        b = e.b if e.op == "<=" else simplify(e.b - 1)
        for varying, fixed, at_most in ((e.a, b, True), (b, e.a, False)):
            if self._require(varying, fixed, at_most):
                return Const(e.type, True)
        return None

    def expr(self, e: Expr, keep_varying: bool = True) -> Expr:
        def rule(node):
            if isinstance(node, Binary) and node.op in ("min", "max"):
                return self.clamp(node, keep_varying)
            if keep_varying and isinstance(node, Binary) and node.op in ("<=", "<") \
                    and node.a.type == INT32:
                return self.compare(node)
            return None
        return simplify(mutate_with(e, {Binary: rule}))

    def stmt(self, s: Stmt) -> Stmt:
        match s:
            case For():
                extent = self.expr(s.extent, keep_varying=False)
                self.inner.add(s.var)
                self.scope[s.var] = Interval(s.min, simplify(s.min + extent - 1))
                return replace(s, extent=extent, body=self.stmt(s.body))
            case Let():
                self.inner.add(s.var)
                return Let(s.var, self.expr(s.value))
            case Store() | AtomicAdd():
                return type(s)(s.storage, tuple(self.expr(i) for i in s.index),
                               self.expr(s.value))
            case IfThenElse():
                return IfThenElse(self.expr(s.cond), self.stmt(s.then_case),
                                  self.stmt(s.else_case) if s.else_case else None)
            case Block():
                return Block(tuple(self.stmt(c) for c in s.stmts))
        return s


def _fold(op: str, items: list[Expr]) -> Expr:
    out = items[0]
    for e in items[1:]:
        out = Binary(op, out, e)
    return simplify(out)


def _partition(loop: For) -> Stmt:
    st = _Steady(loop.var)
    steady = st.stmt(loop.body)
    if not st.lower and not st.upper:
        return loop
    n = next(_ids)
    name = loop.var.name
    lo, hi = (Var(f"{name}.steady_{w}{n}", INT32) for w in ("lo", "hi"))
    end = simplify(loop.min + loop.extent)
    lo_value = _fold("min", [_fold("max", [loop.min] + st.lower), end])
    hi_value = _fold("max", [_fold("min", [end] + [simplify(u + 1) for u in st.upper]), lo])
    # the peeled head [min, lo) and tail [hi, end) share one copy of the clamped body
    part, a, b = (Var(f"{name}.{w}{n}", INT32) for w in ("part", "a", "b"))
    first = Binary("==", part, Const(INT32, 0))
    peeled = For(part, Const(INT32, 0), Const(INT32, 2), "serial", block(
        Let(a, Select(first, loop.min, hi)), Let(b, Select(first, lo, end)),
        replace(loop, min=a, extent=simplify(b - a))))
    return block(Let(lo, lo_value), Let(hi, hi_value), peeled,
                 replace(loop, min=lo, extent=simplify(hi - lo), body=steady))
