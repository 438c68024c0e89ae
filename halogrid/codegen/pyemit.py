"""Stmt/Expr -> Python source text, and the naming context that owns every identifier.

Invariants: every identifier in generated code comes from `Namer.name`, which keeps
only [A-Za-z0-9_] of the internal name, prefixes it by kind and makes it unique, so no
user string reaches exec. Integer arithmetic on Int(32) runs in Numba's int64 (no
overflow emulation); narrower and unsigned types wrap explicitly like Halide's.
"""

from __future__ import annotations

import keyword
import math
import re

from ..errors import InternalError
from ..ir import intrinsics
from ..ir.buffer import Param
from ..ir.simplify import simplify
from ..ir.expr import Binary, Cast, Const, Expr, Extent, Intrinsic, Not, Select, Var
from .stmt import Allocate, AtomicAdd, Block, For, IfThenElse, Let, Load, Store, Stmt


class Namer:
    """Maps internal names (Func, Var, storage names) to unique Python identifiers."""

    # names the generated module defines or imports itself (cpu.py's header and driver)
    RESERVED = frozenset({"math", "np", "njit", "prange", "run", "launch", "check", "kernel",
                          "chunk_lo", "chunk_hi", "_hg_div", "_hg_mod", "_hg_atomic_add"})

    def __init__(self):
        self._by_key: dict[tuple, str] = {}
        self._used: set[str] = set(self.RESERVED)
        self._last: dict[str, int] = {}  # base -> the last suffix tried (names stay O(1))

    def name(self, kind: str, internal: str) -> str:
        """A fresh identifier for (kind, internal), the same one on every later call."""
        key = (kind, internal)
        if key not in self._by_key:
            readable = re.sub(r"#\w+", "", internal)
            base = f"{kind}_" + (re.sub(r"[^A-Za-z0-9_]", "_", readable) or "v")
            base = base[:48]
            candidate, n = base, self._last.get(base, 1)
            while candidate in self._used or keyword.iskeyword(candidate):
                n += 1
                candidate = f"{base}_{n}"
            self._last[base] = n
            self._used.add(candidate)
            self._by_key[key] = candidate
        return self._by_key[key]

    def var(self, v: Var) -> str:
        return self.name("v" if "#" not in v.name else "", v.name)

    def storage(self, storage: str) -> str:
        return self.name("buf", storage)

    def param(self, p: Param) -> str:
        return self.name("p", f"{p.pname}#{p.uid}")


_WRAPPED_INTS = {("int", 8), ("int", 16), ("uint", 8), ("uint", 16), ("uint", 32)}


def type_ctor(t) -> str:
    return f"np.{t.dtype.name}" if not t.is_bool else "np.bool_"


def _float_const(t, value: float) -> str:
    if math.isnan(value):
        text = "np.nan"
    elif math.isinf(value):
        text = "np.inf" if value > 0 else "-np.inf"
    else:
        text = repr(value)
    return f"np.float32({text})" if t.bits == 32 else f"np.float64({text})"


class ExprEmitter:
    """Python text of expressions and statements for one target. The target hooks that
    a backend's printer overrides: `index`, `loop`, `atomic_add`, `allocate`, `other`
    (statements only that backend lowers to) and `_intrinsic` (math spelling)."""

    def __init__(self, namer: Namer, target: str = "cpu"):
        self.namer, self.target = namer, target
        self.prange = True   # parallel loops as prange (False: plain range)

    def __call__(self, e: Expr) -> str:
        return self.emit(e)

    def emit(self, e: Expr) -> str:
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise InternalError(f"no emitter for {type(e).__name__}")
        return method(e)

    def _const(self, e: Const) -> str:
        t = e.type
        if t.is_bool:
            return "True" if e.value else "False"
        if t.is_float:
            return _float_const(t, e.value)
        if (t.code, t.bits) in (("int", 32), ("int", 64)):
            return str(e.value) if e.value >= 0 else f"({e.value})"
        return f"{type_ctor(t)}({e.value})"

    def _var(self, e: Var) -> str:
        return self.namer.var(e)

    def _param(self, e: Param) -> str:
        return self.namer.param(e)

    def _extent(self, e: Extent) -> str:
        from .passes.storage import input_scalar
        return self.namer.var(input_scalar(e))

    _windowedge = _extent

    def _load(self, e: Load) -> str:
        return f"{self.namer.storage(e.storage)}[{self.index(e.index)}]"

    def index(self, index: tuple) -> str:
        """Buffer coordinates as unsigned integers: they are never negative (bounds
        inference), and Numba wraps a signed index around when it is, a select per
        access that turns contiguous loads into gathers (measured 7x slower loops)."""
        if not index:
            return "0"
        return ", ".join(self.emit(i) if isinstance(i, Const) else f"np.uintp({self.emit(i)})"
                         for i in index)

    def _binary(self, e: Binary) -> str:
        a, b, op, t = self.emit(e.a), self.emit(e.b), e.op, e.a.type
        if op in ("min", "max"):
            return f"{op}({a}, {b})"
        if op in ("&&", "||"):
            return f"({a} {'&' if op == '&&' else '|'} {b})"
        if op in ("/", "%") and t.is_int:
            return self._int_div(op, a, b, e.b, t)
        text = f"({a} {op} {b})"
        if op in ("+", "-", "*") and (t.code, t.bits) in _WRAPPED_INTS:
            return f"{type_ctor(t)}{text}"
        return text

    def _int_div(self, op: str, a: str, b: str, divisor: Expr, t) -> str:
        """Halide's integer / and %: Python's // and % where they agree (a positive
        divisor; any unsigned divisor, which `error_model='numpy'` turns into 0 for a zero
        one), the Euclidean helpers otherwise (a negative or unknown signed divisor).
        The helpers' `q += 1` would make Numba type an unsigned quotient as float64."""
        if t.code == "uint" or (isinstance(divisor, Const) and divisor.value > 0):
            text = f"({a} {'//' if op == '/' else '%'} {b})"
        else:
            text = f"_hg_{'div' if op == '/' else 'mod'}({a}, {b})"
        return f"{type_ctor(t)}({text})" if (t.code, t.bits) in _WRAPPED_INTS else text

    def _not(self, e: Not) -> str:
        return f"(not {self.emit(e.a)})"

    def _select(self, e: Select) -> str:
        return (f"({self.emit(e.true_value)} if {self.emit(e.cond)} "
                f"else {self.emit(e.false_value)})")

    def _cast(self, e: Cast) -> str:
        inner = self.emit(e.value)
        if e.to.is_bool:
            return f"({inner} != 0)"
        return f"{type_ctor(e.to)}({inner})"

    def _intrinsic(self, e: Intrinsic) -> str:
        row = intrinsics.lookup(e.name)
        template = row.cpu if self.target == "cpu" else row.cuda
        return template.format(*[self.emit(a) for a in e.args])

    # -- statement hooks (emit_stmt calls them)
    def loop(self, s: For, indent: int, lines: list[str]) -> None:
        pad = "    " * indent
        if s.kind == "parallel":
            return _emit_parallel(s, self, indent, lines)
        if s.kind == "unrolled" and isinstance(s.extent, Const):
            for k in range(int(s.extent.value)):
                lines.append(f"{pad}{self(s.var)} = {self(simplify(s.min + k))}")
                emit_stmt(s.body, self, indent, lines)
            return
        stop = simplify(s.min + s.extent)
        lines.append(f"{pad}for {self(s.var)} in range({self(s.min)}, {self(stop)}):")
        emit_stmt(s.body, self, indent + 1, lines)

    def atomic_add(self, s: AtomicAdd) -> str:
        index = ", ".join(self(i) for i in s.index) + ("," if len(s.index) == 1 else "")
        return f"_hg_atomic_add({self.namer.storage(s.storage)}, ({index}), {self(s.value)})"

    def allocate(self, s: Allocate) -> str:
        shape = ", ".join(f"max({self(e)}, 0)" for e in s.extents) if s.extents else "1"
        return f"{self.namer.storage(s.storage)} = np.empty(({shape},), {type_ctor(s.type)})"

    def other(self, s: Stmt, indent: int, lines: list[str]) -> None:
        raise InternalError(f"no emitter for {type(s).__name__}")


def emit_stmt(s: Stmt, ex: ExprEmitter, indent: int, lines: list[str]) -> None:
    """Append the Python lines of `s` at `indent` levels of four spaces."""
    pad = "    " * indent
    match s:
        case Block():
            for c in s.stmts:
                emit_stmt(c, ex, indent, lines)
        case For():
            ex.loop(s, indent, lines)
        case AtomicAdd():
            lines.append(pad + ex.atomic_add(s))
        case Let():
            lines.append(f"{pad}{ex(s.var)} = {ex(s.value)}")
        case Store():
            lines.append(f"{pad}{ex.namer.storage(s.storage)}[{ex.index(s.index)}] = "
                         f"{ex(s.value)}")
        case IfThenElse():
            lines.append(f"{pad}if {ex(s.cond)}:")
            emit_stmt(s.then_case, ex, indent + 1, lines)
            if s.else_case is not None:
                lines.append(f"{pad}else:")
                emit_stmt(s.else_case, ex, indent + 1, lines)
        case Allocate():
            lines.append(pad + ex.allocate(s))
        case _:
            ex.other(s, indent, lines)


def _emit_parallel(s: For, ex: ExprEmitter, indent: int, lines: list[str]) -> None:
    """prange, or range where the loop is already inside a parallel chunk (ex.prange)."""
    pad = "    " * indent
    stop = ex(simplify(s.min + s.extent))
    rng = "prange" if ex.prange else "range"
    lines.append(f"{pad}for {ex(s.var)} in {rng}({ex(s.min)}, {stop}):")
    emit_stmt(s.body, ex, indent + 1, lines)
