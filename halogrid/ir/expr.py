"""Interned, frozen expression nodes.

Invariants: structurally equal nodes are the same object (so `is` is equality and
hashing is by identity); nodes never change after construction; constructors are
strict (operand types must already match; promotion lives in types.match_types,
called by ops.py). Python operators on nodes build expressions (installed by ops.py),
so never use `==` to compare nodes: use `is`.
"""

from __future__ import annotations

import weakref
from typing import Any

from .. import errors
from .types import BOOL, INT32, Type

# key -> the one live node with that key. Weak values: a node nobody holds any more
# (the Funcs of a pipeline built in a loop and dropped) leaves the table, so a long
# run's table holds only live nodes. A key names children by id(), which stays unique
# while the node lives: a node holds its children.
_INTERNED: "weakref.WeakValueDictionary[tuple, Expr]" = weakref.WeakValueDictionary()


def _key_of(field: Any) -> Any:
    """Intern-key component: identity for mutable objects, type+repr for constants."""
    if isinstance(field, Expr):
        return id(field)
    if isinstance(field, tuple):
        return tuple(_key_of(f) for f in field)
    if isinstance(field, (int, float, str, bool, Type)) or field is None:
        return (type(field).__name__, repr(field))
    return id(field)


class Expr:
    """Base of all expression nodes. Subclasses list their fields in `_fields`."""

    __slots__ = ("type", "__weakref__")
    _fields: tuple[str, ...] = ()

    def __new__(cls, *fields):
        key = (cls,) + tuple(_key_of(f) for f in fields)
        node = _INTERNED.get(key)
        if node is None:
            node = object.__new__(cls)
            for name, value in zip(cls._fields, fields):
                object.__setattr__(node, name, value)
            object.__setattr__(node, "type", cls._type_of(*fields))
            object.__setattr__(node, "_kids", node._find_children())
            _INTERNED[key] = node
        return node

    def __init__(self, *fields):
        pass

    def __setattr__(self, name, value):
        raise errors.InternalError(f"Expr nodes are frozen (tried to set {name})")

    __hash__ = object.__hash__

    def __bool__(self):
        raise errors.DefinitionError(
            "Can't use a halogrid expression as a Python bool (in `if`, `and`, `or`, or "
            "chained comparisons). Use hg.select(cond, a, b) and the operators &, |, ~.")

    def children(self) -> tuple["Expr", ...]:
        """The Expr fields and Exprs in tuple fields, in field order (computed once: the
        walks of every pass ask for them)."""
        return self._kids

    def _find_children(self) -> tuple["Expr", ...]:
        out = []
        for name in self._fields:
            value = getattr(self, name)
            if isinstance(value, Expr):
                out.append(value)
            elif isinstance(value, tuple):
                out.extend(v for v in value if isinstance(v, Expr))
        return tuple(out)

    def fields(self) -> tuple:
        """The node's fields in `_fields` order (what its identity is made of)."""
        return tuple(getattr(self, n) for n in self._fields)

    def __repr__(self) -> str:
        from .printer import expr_repr
        return expr_repr(self)

    def __str__(self) -> str:
        from .printer import expr_text
        return expr_text(self)


class Const(Expr):
    _fields = ("ctype", "value")

    def __new__(cls, ctype: Type, value):
        return super().__new__(cls, ctype, _normalise_const(ctype, value))

    @staticmethod
    def _type_of(ctype, value):
        return ctype


def _normalise_const(ctype: Type, value):
    import numpy as np
    if ctype.is_float:
        return float(np.asarray(value, dtype=ctype.dtype))
    if ctype.is_bool:
        return bool(value)
    return int(np.asarray(int(value)).astype(ctype.dtype)) if ctype.bits < 64 else int(value)


class Var(Expr):
    """A named loop variable. User Vars are Int(32); internal scalars may have any type.

    Vars with the same name are the same variable (IR nodes are interned).

    >>> x, y = hg.Var("x"), hg.Var("y")
    >>> f[y, x] = x + y
    """

    _fields = ("name", "vtype")

    _counter = [0]

    def __new__(cls, name: str | None = None, vtype: Type = INT32):
        if name is None:
            cls._counter[0] += 1
            name = f"v{cls._counter[0]}"
        if not isinstance(name, str):
            raise errors.DefinitionError(f"Can't make a Var named {name!r}: names are strings.")
        return super().__new__(cls, name, vtype)

    @staticmethod
    def _type_of(name, vtype):
        return vtype


class RVar(Expr):
    """Dimension `index` of an RDom; iterates [min, min + extent)."""

    _fields = ("rdom", "index")

    @staticmethod
    def _type_of(rdom, index):
        return INT32

    @property
    def name(self) -> str:
        return self.rdom.dim_name(self.index)

    @property
    def min(self) -> Expr:
        return self.rdom.bounds[self.index][0]

    @property
    def extent(self) -> Expr:
        return self.rdom.bounds[self.index][1]


class Cast(Expr):
    _fields = ("to", "value")

    @staticmethod
    def _type_of(to, value):
        return to


ARITH = ("+", "-", "*", "/", "%", "min", "max")
COMPARE = ("<", "<=", "==", "!=")
LOGIC = ("&&", "||")


class Binary(Expr):
    """a op b. Arithmetic keeps the operand type; comparisons and logic give Bool.

    Integer '/' and '%' are Halide's: floor division (Euclidean for negative divisors)
    and a non-negative remainder; division by zero gives zero.
    """

    _fields = ("op", "a", "b")

    def __new__(cls, op: str, a: Expr, b: Expr):
        if op not in ARITH + COMPARE + LOGIC:
            raise errors.InternalError(f"unknown binary op {op}")
        if a.type != b.type:
            raise errors.InternalError(f"Binary {op} on {a.type} and {b.type}")
        return super().__new__(cls, op, a, b)

    @staticmethod
    def _type_of(op, a, b):
        return a.type if op in ARITH else BOOL


class Not(Expr):
    _fields = ("a",)

    @staticmethod
    def _type_of(a):
        return BOOL


class Select(Expr):
    _fields = ("cond", "true_value", "false_value")

    def __new__(cls, cond: Expr, t: Expr, f: Expr):
        if t.type != f.type or not cond.type.is_bool:
            raise errors.InternalError(f"Select on {cond.type}, {t.type}, {f.type}")
        return super().__new__(cls, cond, t, f)

    @staticmethod
    def _type_of(cond, t, f):
        return t.type


class Call(Expr):
    """Value `index` of `callee` (a Func or an input buffer) at `args`."""

    _fields = ("callee", "args", "index")

    @staticmethod
    def _type_of(callee, args, index):
        return callee.value_types()[index]


class Intrinsic(Expr):
    """A math function from ir/intrinsics.py applied to args (types already resolved)."""

    _fields = ("name", "args", "rtype")

    @staticmethod
    def _type_of(name, args, rtype):
        return rtype


class Extent(Expr):
    """The extent of dimension `dim` of an input buffer, known at call time: the whole
    image's (a call's `full_shapes=`, else the bound array's own extent)."""

    _fields = ("buffer", "dim")

    @staticmethod
    def _type_of(buffer, dim):
        return INT32


class WindowEdge(Extent):
    """The first (`end` 'min') or last ('max') coordinate of dimension `dim` that the
    array bound to an input holds: 0 and extent - 1 unless a call gives `origins=`
    (Halide's buffer min and max). An Extent, so every pass treats it as a leaf."""

    _fields = ("buffer", "dim", "end")

    @staticmethod
    def _type_of(buffer, dim, end):
        return INT32


def const(value, ctype: Type | None = None) -> Const:
    """A constant; Python bool/int/float default to Bool/Int(32)/Float(32)."""
    from .types import Float
    if ctype is None:
        if isinstance(value, bool):
            ctype = BOOL
        elif isinstance(value, int):
            ctype = INT32
        else:
            ctype = Float(32)
    return Const(ctype, value)
