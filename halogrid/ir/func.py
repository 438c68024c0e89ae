"""RDom, Func and Definition: the algorithm a user writes.

Invariants: a Func's first Definition is pure (distinct Vars on the left side, no
RVars); every later Definition is an update. Definitions are appended, never
changed. Funcs (and their schedules) are the only mutable IR objects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from .. import errors
from .expr import Call, Expr, RVar, Var
from .ops import binary, cast, to_expr
from .types import INT32, Type
from .visit import collect

_ids = itertools.count()


class Name(str):
    """A name readable both as an attribute (`f.name`) and as Halide's method (`f.name()`)."""

    def __call__(self) -> str:
        return str(self)


# ---- RDom -----------------------------------------------------------------------

class Range:
    """hg.Range(min, extent), accepted wherever an RDom takes a (min, extent) pair."""

    def __init__(self, min, extent):  # noqa: A002 - Halide's names
        self.min, self.extent = min, extent

    def __iter__(self):
        return iter((self.min, self.extent))


_RDIM_NAMES = ("x", "y", "z", "w")


class RDom:
    """A reduction domain: (min, extent) per dimension, LAST dimension innermost.

    `where(pred)` adds a predicate; it may reference the RDom's own RVars.
    """

    def __init__(self, ranges, name: str | None = None):
        if hasattr(ranges, "dimensions") and hasattr(ranges, "extent_expr"):
            ranges = [(0, ranges.extent_expr(d)) for d in range(ranges.dimensions())]
        if isinstance(ranges, (Range, tuple)) and len(ranges) == 2 and not isinstance(
                ranges[0], (tuple, list, Range)):
            ranges = [ranges]
        self.bounds = []
        for i, pair in enumerate(ranges):
            lo, extent = tuple(pair)
            self.bounds.append((cast(INT32, lo), cast(INT32, extent)))
        self.name = Name(name or f"r{next(_ids)}")
        self.predicates: list[Expr] = []

    def dim_name(self, index: int) -> str:
        return f"{self.name}.{_RDIM_NAMES[index] if index < 4 else index}"

    def dimensions(self) -> int:
        return len(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, index: int) -> RVar:
        if not 0 <= index < len(self.bounds):
            raise errors.DefinitionError(
                f"Can't take dimension {index} of RDom '{self.name}': it has "
                f"{len(self.bounds)} dimension(s).")
        return RVar(self, index)

    x = property(lambda self: self[0])
    y = property(lambda self: self[1])
    z = property(lambda self: self[2])
    w = property(lambda self: self[3])

    def where(self, predicate) -> "RDom":
        self.predicates.append(to_expr(predicate))
        return self

    def _as_expr(self) -> Expr:
        if len(self.bounds) != 1:
            raise errors.DefinitionError(
                f"Can't use the {len(self.bounds)}-D RDom '{self.name}' as an expression. "
                "Use one of its dimensions, e.g. r.x or r[0].")
        return self[0]

    def __repr__(self) -> str:
        return f"RDom({[(str(a), str(b)) for a, b in self.bounds]}, name={self.name!r})"


def _install_expr_forwarding(cls) -> None:
    """Operators on cls act on cls._as_expr(): a 1-D RDom behaves as its only RVar, as in
    Halide; a reference to an undefined Func raises a clear error when used."""
    names = ["__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
             "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__",
             "__rmod__", "__neg__", "__lt__", "__le__", "__gt__", "__ge__", "__pow__",
             "__rpow__", "__and__", "__or__", "__invert__"]
    for name in names:
        setattr(cls, name, (lambda n: lambda self, *a: getattr(self._as_expr(), n)(*a))(name))


_install_expr_forwarding(RDom)


# ---- Definitions ---------------------------------------------------------------

@dataclass
class Definition:
    """One definition of a Func: args = values, over the RDoms it mentions."""

    args: tuple[Expr, ...]
    values: tuple[Expr, ...]
    rdoms: tuple[RDom, ...] = ()
    location: str | None = None
    schedule: object = field(default=None, repr=False)

    def predicate(self) -> list[Expr]:
        return [p for r in self.rdoms for p in r.predicates]


class UpdateValue:
    """What `f[x] op= e` hands to Func.__setitem__: the op and the right side."""

    def __init__(self, op: str, ref, rhs):
        self.op, self.ref, self.rhs = op, ref, rhs

    def _as_expr(self) -> Expr:
        return _combine(self.op, to_expr(self.ref), self.rhs)


def _combine(op: str, current: Expr, rhs) -> Expr:
    from .ops import max as hg_max, min as hg_min
    if op in ("min", "max"):
        return (hg_min if op == "min" else hg_max)(current, rhs)
    return cast(current.type, binary(op, current, rhs))


def _install_update_ops(cls) -> None:
    for dunder, op in (("__iadd__", "+"), ("__isub__", "-"), ("__imul__", "*"),
                       ("__itruediv__", "/")):
        setattr(cls, dunder, (lambda o: lambda self, rhs: UpdateValue(o, self, rhs))(op))


_install_update_ops(Call)


class PendingRef:
    """f[args] for a Func with no definition yet: only `op=` may follow."""

    def __init__(self, func: "Func", args):
        self.func, self.args = func, args

    def _as_expr(self) -> Expr:
        raise errors.undefined_func(self.func.name)


_install_update_ops(PendingRef)
_install_expr_forwarding(PendingRef)


class TupleRef:
    """f[args] for a tuple-valued Func: index it to get one value, f[x][i]."""

    def __init__(self, func: "Func", args):
        self.func, self.args = func, args

    def __getitem__(self, index: int) -> Call:
        n = len(self.func.value_types())
        if not 0 <= index < n:
            raise errors.DefinitionError(
                f"Can't take value {index} of tuple Func '{self.func.name}': it has {n} values.")
        return Call(self.func, self.args, index)

    def __len__(self) -> int:
        return len(self.func.value_types())

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def _as_expr(self) -> Expr:
        raise errors.DefinitionError(
            f"Can't use tuple Func '{self.func.name}' as one expression. "
            f"Index it: {self.func.name}[...][0].")


_install_update_ops(TupleRef)  # f[x] += (a, b): one rhs per value


# ---- Func ----------------------------------------------------------------------

class Func:
    """A function over an integer grid, defined by a pure definition and updates."""

    def __init__(self, name: str | None = None, *, _kind: str = "user"):
        self.name = Name(name if name is not None else f"f{next(_ids)}")
        self.uid = next(_ids)
        self.definitions: list[Definition] = []
        self.kind = _kind  # 'user', 'boundary', 'reduction' (hg.sum & co), 'adjoint'
        self.adjoint_level = -1  # 0 for first adjoints, 1 for adjoints of those, ...
        self.func_schedule = None  # set by schedule/directives.py
        self.location = errors.user_location()

    def __repr__(self) -> str:
        return f"<hg.Func '{self.name}' dims={self.dimensions() if self.defined() else '?'}>"

    # -- introspection, Halide-style
    def defined(self) -> bool:
        return bool(self.definitions)

    def dimensions(self) -> int:
        return len(self._require().args)

    def args(self) -> list[Var]:
        return list(self._require().args)

    def value_types(self) -> list[Type]:
        return [v.type for v in self._require().values]

    def type(self) -> Type:
        return self.value_types()[0]

    def outputs(self) -> int:
        return len(self._require().values)

    def values(self) -> tuple[Expr, ...]:
        return self._require().values

    def updates(self) -> list[Definition]:
        return self.definitions[1:]

    def _require(self) -> Definition:
        if not self.definitions:
            raise errors.undefined_func(self.name, self.location)
        return self.definitions[0]

    # -- calls
    def __getitem__(self, key):
        args = _normalise_args(key)
        if not self.definitions:
            return PendingRef(self, args)
        if len(args) != self.dimensions():
            raise errors.dimension_mismatch(self.name, self.dimensions(), len(args), "call")
        if self.outputs() > 1:
            return TupleRef(self, args)
        return Call(self, args, 0)

    # -- definitions
    def __setitem__(self, key, value):
        args = _normalise_args(key)
        if not self.definitions:
            if isinstance(value, UpdateValue):
                self._define_pure(_init_vars(args), _identity_values(value))
                self._define_update(args, value)
                return
            self._define_pure(args, value)
            return
        if len(args) != self.dimensions():
            raise errors.dimension_mismatch(self.name, self.dimensions(), len(args), "define")
        if not isinstance(value, UpdateValue) and self._is_redefinition(args, value):
            raise errors.redefined_pure(self.name, self.location)
        self._define_update(args, value)

    def _define_pure(self, args, value) -> None:
        values = _normalise_values(value)
        seen = set()
        for dim, arg in enumerate(args):
            if isinstance(arg, RVar):
                raise errors.rdom_in_pure_lhs(self.name, dim)
            if not isinstance(arg, Var) or arg.name in seen:
                raise errors.bad_pure_lhs(self.name, dim, str(arg))
            seen.add(arg.name)
        if collect(values, RVar):
            rdoms = {id(r.rdom): r.rdom for r in collect(values, RVar)}
            names = ", ".join(r.name for r in rdoms.values())
            raise errors.DefinitionError(
                f"Can't use RDom {names} in the pure definition of Func '{self.name}': "
                "reductions need an update, e.g. f[x] = 0; f[x] += g[x, r], or hg.sum(...).")
        _check_free_vars(self.name, args, values)
        self.definitions.append(Definition(tuple(args), values, (), errors.user_location()))

    def _define_update(self, args, value) -> None:
        if isinstance(value, UpdateValue):
            current = self._current_values(args)
            rhs = value.rhs
            rhs_values = rhs if isinstance(rhs, (tuple, list)) else (rhs,) * len(current)
            values = tuple(_combine(value.op, c, r) for c, r in zip(current, rhs_values))
        else:
            values = _normalise_values(value)
        expected = self.value_types()
        if len(values) != len(expected):
            raise errors.DefinitionError(
                f"Can't update Func '{self.name}' with {len(values)} value(s): it has "
                f"{len(expected)}.")
        values = tuple(cast(t, v) for t, v in zip(expected, values))
        _check_update_lhs(self.name, args, self.definitions[0].args)
        _check_free_vars(self.name, [a for a in args if isinstance(a, Var)], values + args)
        rvars = collect(args + values, RVar)
        rdoms = tuple({id(r.rdom): r.rdom for r in rvars}.values())
        self.definitions.append(Definition(tuple(args), values, rdoms, errors.user_location()))

    def _current_values(self, args) -> tuple[Expr, ...]:
        return tuple(Call(self, tuple(args), i) for i in range(self.outputs()))

    def _is_redefinition(self, args, value) -> bool:
        values = _normalise_values(value)
        refers_to_self = any(c.callee is self for c in collect(values, Call))
        return (all(isinstance(a, Var) for a in args) and not refers_to_self
                and not collect(values, RVar))

    # -- realization (sugar over codegen.pipeline.Pipeline)
    def realize(self, shape=None, target: str = "cpu", **inputs):
        from ..codegen.pipeline import Pipeline
        return Pipeline([self]).realize(shape, target=target, **inputs)

    def print_loop_nest(self) -> None:
        from ..codegen.pipeline import Pipeline
        print(Pipeline([self]).loop_nest())

    def compile_to_callable(self, target: str = "cpu"):
        from ..codegen.pipeline import Pipeline
        return Pipeline([self]).compile(target=target)


def _normalise_args(key) -> tuple[Expr, ...]:
    if not isinstance(key, tuple):
        key = (key,)
    return tuple(to_expr(k) for k in key)


def _normalise_values(value) -> tuple[Expr, ...]:
    if isinstance(value, (tuple, list)):
        if not value:
            raise errors.DefinitionError("Can't define a Func with an empty tuple of values.")
        return tuple(to_expr(v) for v in value)
    return (to_expr(value),)


def _init_vars(args) -> tuple[Var, ...]:
    """Vars of an implicit pure definition: the update's own Vars where it has them."""
    return tuple(a if isinstance(a, Var) else Var(f"_{i}") for i, a in enumerate(args))


def _identity_values(update: UpdateValue) -> tuple[Expr, ...]:
    from .ops import promote
    rhs = update.rhs if isinstance(update.rhs, (tuple, list)) else (update.rhs,)
    identity = {"+": 0, "-": 0, "*": 1, "/": 1}[update.op]
    return tuple(promote(to_expr(r), identity)[1] for r in rhs)


def update_pure_dims(args, pure_args) -> list[int]:
    """Dims of an update's left side that loop over a pure Var: a bare Var that is not
    the pure definition's Var of another dim, at its first occurrence. Other dims may use
    those Vars inside their index, as Halide allows (f[x, x] = ...: a diagonal)."""
    dims, seen = [], set()
    for dim, arg in enumerate(args):
        if isinstance(arg, Var) and arg not in seen and not any(
                p is arg for d, p in enumerate(pure_args) if d != dim):
            dims.append(dim)
            seen.add(arg)
    return dims


def _check_update_lhs(name: str, args, pure_args) -> None:
    pure_dims = update_pure_dims(args, pure_args)
    pure = {args[d] for d in pure_dims}
    for dim, arg in enumerate(args):
        if dim not in pure_dims and any(v not in pure for v in collect((arg,), Var)):
            raise errors.bad_update_lhs(name, dim, str(arg))


def _check_free_vars(name: str, bound, exprs) -> None:
    bound_names = {v.name for v in bound if isinstance(v, Var)}
    for v in collect(tuple(exprs), Var):
        if v.name not in bound_names:
            raise errors.DefinitionError(
                f"Can't define Func '{name}': Var '{v.name}' is used on the right side but "
                "is not one of the Vars on the left side. Add it to the left side or use an "
                "RDom.")
