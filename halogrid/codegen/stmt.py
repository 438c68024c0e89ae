"""The target-independent loop-nest IR that lowering produces and emitters consume.

Invariants (checked by `check`): every Var read in a Stmt is bound by an enclosing
For or an earlier Let, a kernel argument, or is a bounds let; every Load/Store names
a storage that is an input or was Allocated earlier; Store index arity equals the
storage's dimensionality. Statements are frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import errors
from ..ir.expr import Binary, Const, Expr, Var
from ..ir.simplify import simplify
from ..ir.types import INT32, Type
from ..ir.visit import collect


class Load(Expr):
    """Read `storage` (a buffer name of this pipeline) at `index` (0-based, in-buffer)."""

    _fields = ("storage", "index", "ltype")

    @staticmethod
    def _type_of(storage, index, ltype):
        return ltype

    def _text(self, text) -> str:
        return f"{self.storage}[{', '.join(text(i) for i in self.index)}]"


class Stmt:
    """Base of statements."""


@dataclass(frozen=True)
class For(Stmt):
    """for var in [min, min + extent): body. kind: serial/parallel/vectorized/unrolled,
    or reduction: a serial loop whose body folds floats into loop-carried locals
    (passes/licm.py), whose kernel LLVM may vectorise by reassociating those sums.

    `partition`: peel the iterations where clamps and split tails are not identities
    (passes/partition_loops.py), so the steady state has no min/max on this loop's var.
    """

    var: Var
    min: Expr
    extent: Expr
    kind: str
    body: Stmt
    partition: bool = False


@dataclass(frozen=True)
class Let(Stmt):
    """var = value, visible to the statements after it in the enclosing Block."""

    var: Var
    value: Expr


@dataclass(frozen=True)
class Store(Stmt):
    storage: str
    index: tuple
    value: Expr


@dataclass(frozen=True)
class AtomicAdd(Stmt):
    """storage[index] += value, atomically (parallel scatter updates)."""

    storage: str
    index: tuple
    value: Expr


@dataclass(frozen=True)
class IfThenElse(Stmt):
    cond: Expr
    then_case: Stmt
    else_case: Stmt | None = None


@dataclass(frozen=True)
class Allocate(Stmt):
    """A buffer for `storage` of `type` and `extents`, live until the kernel returns."""

    storage: str
    type: Type
    extents: tuple


@dataclass(frozen=True)
class FoldPartials(Stmt):
    """storage[index + i] = storage[index + i] op partial[0, start + i] op ... op
    partial[chunks - 1, start + i] for every i in `extents`: the merge of an rfactor
    intermediate (passes/reductions.py), whose outermost dimension holds one partial
    result per chunk. The CPU driver runs a top-level one as one NumPy reduction;
    `fold_loops` is the same as a loop nest, for kernels. op is "+", "*", "min" or "max"."""

    storage: str
    index: tuple
    partial: str
    start: tuple
    extents: tuple
    chunks: Expr
    op: str
    type: Type


@dataclass(frozen=True)
class ExternCall(Stmt):
    """storage = extern stage number `stage` (ir/extern.py) over the allocation
    [min, min + extent), called over the box [call_min, call_min + call_extent)
    (the allocation itself for a forward stage). `inputs` holds, per input of the
    stage, (storage, the coordinates of its buffer's first element, box min, box
    extent), each a tuple of Exprs per dimension. The driver runs it in Python
    (codegen/externs.py); like Allocate, it defines `storage`."""

    storage: str
    stage: int
    type: Type
    min: tuple
    extent: tuple
    call_min: tuple
    call_extent: tuple
    inputs: tuple

    def exprs(self) -> tuple:
        out = self.min + self.extent + self.call_min + self.call_extent
        for _, *parts in self.inputs:
            out += tuple(e for part in parts for e in part)
        return out

    def mapped(self, fn) -> "ExternCall":
        def each(t: tuple) -> tuple:
            return tuple(fn(e) for e in t)
        inputs = tuple((name,) + tuple(each(p) for p in parts) for name, *parts in self.inputs)
        return replace(self, min=each(self.min), extent=each(self.extent),
                       call_min=each(self.call_min), call_extent=each(self.call_extent),
                       inputs=inputs)


@dataclass(frozen=True)
class Fill(Stmt):
    """Host code: `value` stored over the whole allocation of `storage` (outlining
    turns a loop nest that does only that into one: NumPy's fill, a device fill)."""

    storage: str
    value: Expr


@dataclass(frozen=True)
class Launch(Stmt):
    """Host code: run kernel number `kernel` of the Module (its arguments, and for a
    chunked or gpu kernel its ranges, are the Kernel's)."""

    kernel: int


@dataclass(frozen=True)
class Block(Stmt):
    stmts: tuple = field(default_factory=tuple)


def block(*stmts) -> Stmt:
    """A Block flattening nested Blocks and dropping Nones."""
    flat: list[Stmt] = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, Block):
            flat.extend(s.stmts)
        else:
            flat.append(s)
    return flat[0] if len(flat) == 1 else Block(tuple(flat))


def exprs_of(s: Stmt) -> tuple[Expr, ...]:
    """The expressions directly held by one statement (not its children)."""
    match s:
        case For():
            return (s.min, s.extent)
        case Let():
            return (s.value,)
        case Store() | AtomicAdd():
            return tuple(s.index) + (s.value,)
        case IfThenElse():
            return (s.cond,)
        case Allocate():
            return tuple(s.extents)
        case FoldPartials():
            return tuple(s.index) + tuple(s.start) + tuple(s.extents) + (s.chunks,)
        case ExternCall():
            return s.exprs()
        case Fill():
            return (s.value,)
    return ()


def children_of(s: Stmt) -> tuple[Stmt, ...]:
    match s:
        case For():
            return (s.body,)
        case IfThenElse():
            return (s.then_case,) + ((s.else_case,) if s.else_case else ())
        case Block():
            return s.stmts
    return ()


def walk(s: Stmt):
    """Every statement of `s`, itself first, in program order (pre-order)."""
    yield s
    for c in children_of(s):
        yield from walk(c)


def stores_in(s: Stmt) -> set:
    """The storages that Stores, AtomicAdds and FoldPartials anywhere in `s` write."""
    return {t.storage for t in walk(s) if isinstance(t, (Store, AtomicAdd, FoldPartials))}


def map_exprs(s: Stmt, fn) -> Stmt:
    """Apply fn to every expression of every statement (structure unchanged)."""
    match s:
        case For():
            return replace(s, min=fn(s.min), extent=fn(s.extent), body=map_exprs(s.body, fn))
        case Let():
            return Let(s.var, fn(s.value))
        case Store() | AtomicAdd():
            return type(s)(s.storage, tuple(fn(i) for i in s.index), fn(s.value))
        case IfThenElse():
            return IfThenElse(fn(s.cond), map_exprs(s.then_case, fn),
                              map_exprs(s.else_case, fn) if s.else_case else None)
        case Allocate():
            return Allocate(s.storage, s.type, tuple(fn(e) for e in s.extents))
        case FoldPartials():
            return replace(s, index=tuple(map(fn, s.index)), start=tuple(map(fn, s.start)),
                           extents=tuple(map(fn, s.extents)), chunks=fn(s.chunks))
        case ExternCall():
            return s.mapped(fn)
        case Block():
            return Block(tuple(map_exprs(c, fn) for c in s.stmts))
    return s


def fold_loops(s: FoldPartials) -> Stmt:
    """The loop nest FoldPartials stands for; the chunk loop is outermost, so the inner
    loops read the partials and write the storage contiguously."""
    vs = [Var(f"{s.partial}.fold{d}", INT32) for d in range(len(s.extents) + 1)]
    here = tuple(simplify(i + v) for i, v in zip(s.index, vs[1:]))
    there = (vs[0],) + tuple(simplify(i + v) for i, v in zip(s.start, vs[1:]))
    body: Stmt = Store(s.storage, here, Binary(s.op, Load(s.storage, here, s.type),
                                               Load(s.partial, there, s.type)))
    for v, extent in reversed(list(zip(vs, (s.chunks,) + tuple(s.extents)))):
        body = For(v, Const(INT32, 0), extent, "serial", body)
    return body


def map_leaves(s: Stmt, fn) -> Stmt:
    """s with fn applied to every statement that is not a For, IfThenElse or Block."""
    match s:
        case For():
            return replace(s, body=map_leaves(s.body, fn))
        case IfThenElse():
            return IfThenElse(s.cond, map_leaves(s.then_case, fn),
                              map_leaves(s.else_case, fn) if s.else_case else None)
        case Block():
            return Block(tuple(map_leaves(c, fn) for c in s.stmts))
    return fn(s)


def expand_folds(s: Stmt) -> Stmt:
    """s with every FoldPartials replaced by its `fold_loops`."""
    return map_leaves(s, lambda t: fold_loops(t) if isinstance(t, FoldPartials) else t)


def check(s: Stmt, bound: set[str], storages: dict[str, int]) -> None:
    """Raise InternalError if a Var is unbound or a storage unknown (see module doc)."""
    bound = set(bound)

    def visit(node: Stmt, scope: set[str]) -> None:
        for e in exprs_of(node):
            for v in collect((e,), Var):
                if v.name not in scope:
                    raise errors.InternalError(f"unbound {v.name} in\n{node}")
            for load in collect((e,), Load):
                if storages.get(load.storage) != len(load.index):
                    raise errors.InternalError(f"bad load of {load.storage} in\n{node}")
        if isinstance(node, Fill) and node.storage not in storages:
            raise errors.InternalError(f"fill of unknown {node.storage}")
        if isinstance(node, (Store, AtomicAdd, FoldPartials)) and \
                storages.get(node.storage) != len(node.index):
            raise errors.InternalError(f"bad store to {node.storage}")
        if isinstance(node, FoldPartials) and storages.get(node.partial) != len(node.start) + 1:
            raise errors.InternalError(f"bad partials {node.partial}")
        if isinstance(node, ExternCall):
            for name, mins, _, _ in node.inputs:
                if storages.get(name) != len(mins):
                    raise errors.InternalError(f"bad extern input {name} in\n{node}")
            storages[node.storage] = len(node.min)
        if isinstance(node, Allocate):
            storages[node.storage] = len(node.extents)
        if isinstance(node, Let):
            scope.add(node.var.name)
        inner = scope | {node.var.name} if isinstance(node, For) else scope
        for c in children_of(node):
            visit(c, inner if not isinstance(node, Block) else scope)

    visit(s, bound)


def stmt_text(s: Stmt, indent: int = 0) -> str:
    """The loop nest as readable text (what print_loop_nest shows)."""
    pad = "  " * indent
    match s:
        case For():
            head = f"{pad}for {s.var.name} in [{s.min}, {s.min} + {s.extent}) ({s.kind}):"
            if s.partition:
                head = head[:-1] + " (partitioned):"
            return head + "\n" + stmt_text(s.body, indent + 1)
        case Let():
            return f"{pad}let {s.var.name} = {s.value}"
        case Store():
            return f"{pad}{s.storage}[{', '.join(str(i) for i in s.index)}] = {s.value}"
        case AtomicAdd():
            return f"{pad}atomic {s.storage}[{', '.join(str(i) for i in s.index)}] += {s.value}"
        case IfThenElse():
            text = f"{pad}if {s.cond}:\n" + stmt_text(s.then_case, indent + 1)
            if s.else_case:
                text += f"\n{pad}else:\n" + stmt_text(s.else_case, indent + 1)
            return text
        case Allocate():
            return f"{pad}allocate {s.storage}: {s.type.name}[{', '.join(str(e) for e in s.extents)}]"
        case FoldPartials():
            window = ", ".join(f"{i} + [0, {e})" for i, e in zip(s.index, s.extents))
            start = ", ".join(str(i) for i in s.start)
            return (f"{pad}fold {s.storage}[{window}] {s.op}= "
                    f"{s.partial}[0..{s.chunks}, {start} + ...]")
        case ExternCall():
            def box(mins, extents) -> str:
                return ", ".join(f"{m} + [0, {e})" for m, e in zip(mins, extents))
            reads = "; ".join(f"{name}[{box(b, e)}]" for name, _, b, e in s.inputs)
            return (f"{pad}extern {s.storage}[{box(s.min, s.extent)}] = stage {s.stage} "
                    f"over [{box(s.call_min, s.call_extent)}] of {reads}")
        case Fill():
            return f"{pad}fill {s.storage} = {s.value}"
        case Launch():
            return f"{pad}launch kernel {s.kernel}"
        case Block():
            return "\n".join(stmt_text(c, indent) for c in s.stmts)
    return pad + repr(s)
