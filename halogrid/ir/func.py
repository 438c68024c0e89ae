"""RDom, Func and Definition: the algorithm a user writes.

Invariants: a Func's first Definition is pure (distinct Vars on the left side, no
RVars); every later Definition is an update. Definitions are appended, never
changed. Funcs (and their schedules) are the only mutable IR objects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

from .. import errors
from .expr import Call, Expr, RVar, Var
from .ops import ExprLike, binary, cast, to_expr
from .types import INT32, Type
from .visit import collect

_ids = itertools.count()


class Name(str):
    """A name readable both as an attribute (`f.name`) and as Halide's method (`f.name()`)."""

    def __call__(self) -> str:
        return str(self)


# ---- RDom -----------------------------------------------------------------------

class Range:
    """hg.Range(min, extent), accepted wherever an RDom takes a (min, extent) pair.

    >>> r = hg.RDom([hg.Range(0, 3), hg.Range(-1, 3)])
    """

    def __init__(self, min: ExprLike, extent: ExprLike):  # noqa: A002 - Halide's names
        self.min, self.extent = min, extent

    def __iter__(self):
        return iter((self.min, self.extent))


_RDIM_NAMES = ("x", "y", "z", "w")


class RDom:
    """A reduction domain: (min, extent) per dimension, LAST dimension innermost.

    Built from a list of (min, extent) pairs (ints or integer expressions; a float is
    refused), one hg.Range, or an input (hg.RDom(img): its whole extent). Dimensions
    are r.x, r.y, r.z, r.w or r[i]; `where(pred)` restricts it.

    >>> r = hg.RDom([(-1, 3), (-1, 3)], name="r")
    >>> blur[y, x] = 0.0
    >>> blur[y, x] += img[y + r.y, x + r.x] / 9
    >>> everything = hg.RDom(img)       # r[0] over img's rows, r[1] over its columns
    """

    def __init__(self, ranges: Sequence[tuple[ExprLike, ExprLike] | Range] | Range | object,
                 name: str | None = None):
        if hasattr(ranges, "dimensions") and hasattr(ranges, "extent_expr"):
            ranges = [(0, ranges.extent_expr(d)) for d in range(ranges.dimensions())]
        if isinstance(ranges, (Range, tuple)) and len(ranges) == 2 and not isinstance(
                ranges[0], (tuple, list, Range)):
            ranges = [ranges]
        self.name = Name(name or f"r{next(_ids)}")
        self.bounds = []
        for i, pair in enumerate(ranges):
            lo, extent = tuple(pair)
            self.bounds.append((self._int(i, "min", lo), self._int(i, "extent", extent)))
        self.predicates: list[Expr] = []

    def _int(self, dim: int, what: str, value) -> Expr:
        """An RDom bound as Int(32); a float (constant or expression) is refused, never
        truncated."""
        e = to_expr(value)
        if e.type.is_float:
            raise errors.bad_rdom(self.name, dim, what, repr(value))
        return cast(INT32, e)

    def dim_name(self, index: int) -> str:
        """The printed name of dimension `index`: 'r.x', 'r.y', ..., then 'r.4'."""
        return f"{self.name}.{_RDIM_NAMES[index] if index < 4 else index}"

    def dimensions(self) -> int:
        """The number of dimensions."""
        return len(self.bounds)

    def __len__(self) -> int:
        return len(self.bounds)

    def __getitem__(self, index: int) -> RVar:
        if not 0 <= index < len(self.bounds):
            raise errors.DefinitionError(
                f"Can't take dimension {index} of RDom '{self.name}': it has "
                f"{len(self.bounds)} dimension(s).")
        return RVar(self, index)

    x = property(lambda self: self[0], doc="Dimension 0, the outermost loop (r[0]).")
    y = property(lambda self: self[1], doc="Dimension 1 (r[1]).")
    z = property(lambda self: self[2], doc="Dimension 2 (r[2]).")
    w = property(lambda self: self[3], doc="Dimension 3 (r[3]).")

    def where(self, predicate: ExprLike) -> "RDom":
        """Visit only the points where `predicate` (over this RDom's RVars) holds.

        >>> r = hg.RDom([(-2, 5), (-2, 5)]).where(r.x * r.x + r.y * r.y <= 4)  # a disc
        """
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
    """A function over an integer grid, defined by a pure definition and updates.

    `f[y, x] = e` gives the pure definition (distinct Vars on the left); later
    `f[...] = e`, `f[...] += e` (also -=, *=, /=) are updates, which may use RDoms and
    other index expressions on the left. `f[y, x]` in an expression is a call. Axis
    order is NumPy's; the schedule directives (split, parallel, compute_at, ...) and
    realize/print_loop_nest/compile_to_callable are methods too, installed by
    schedule/directives.py and api.py (ir/ knows nothing of schedules or codegen).

    >>> x, y = hg.Var("x"), hg.Var("y")
    >>> f = hg.Func("f")
    >>> f[y, x] = x + y * 10
    >>> f.realize([2, 3])
    array([[ 0,  1,  2],
           [10, 11, 12]], dtype=int32)
    """

    def __init__(self, name: str | None = None, *, _kind: str = "user"):
        self.name = Name(name if name is not None else f"f{next(_ids)}")
        self.uid = next(_ids)
        self.definitions: list[Definition] = []
        self.kind = _kind  # 'user', 'boundary', 'reduction' (hg.sum & co), 'adjoint'
        self.adjoint_level = -1  # 0 for first adjoints, 1 for adjoints of those, ...
        self.adjoint_of = None  # the input whose adjoint d[input] this is (its shape)
        self.func_schedule = None  # set by schedule/directives.py
        # autodiff's intent for Funcs it makes that are read at many points (adjoints,
        # reversed scans, duals): computed at root unless a directive says otherwise;
        # schedule/defaults.py decides, so autodiff never calls a directive
        self.root_by_default = False
        self.location = errors.user_location()

    def __repr__(self) -> str:
        return f"<hg.Func '{self.name}' dims={self.dimensions() if self.defined() else '?'}>"

    # -- introspection, Halide-style
    def defined(self) -> bool:
        """Whether the Func has a pure definition yet."""
        return bool(self.definitions)

    def dimensions(self) -> int:
        """The number of dimensions (arguments) of the pure definition."""
        return len(self._require().args)

    def args(self) -> list[Var]:
        """The Vars of the pure definition, in order."""
        return list(self._require().args)

    def value_types(self) -> list[Type]:
        """The type of each value (one for an ordinary Func, several for a tuple)."""
        return [v.type for v in self._require().values]

    def type(self) -> Type:
        """The type of the (first) value."""
        return self.value_types()[0]

    def outputs(self) -> int:
        """The number of values: 1, or the length of a tuple definition."""
        return len(self._require().values)

    def values(self) -> tuple[Expr, ...]:
        """The right sides of the pure definition."""
        return self._require().values

    def updates(self) -> list[Definition]:
        """The update definitions, in the order they were written."""
        return self.definitions[1:]

    def _require(self) -> Definition:
        if not self.definitions:
            raise errors.undefined_func(self.name, self.location)
        return self.definitions[0]

    # -- calls
    def __getitem__(self, key):
        """f[y, x]: a call (an Expr; f[y, x][i] for a tuple Func), or before f has a
        definition, the left side of one."""
        args = _normalise_args(key, self.name)
        if not self.definitions:
            return PendingRef(self, args)
        if len(args) != self.dimensions():
            raise errors.dimension_mismatch(self.name, self.dimensions(), len(args), "call")
        if self.outputs() > 1:
            return TupleRef(self, args)
        return Call(self, args, 0)

    # -- definitions
    def __setitem__(self, key, value):
        """f[y, x] = e: the pure definition first, then updates (f[...] += e and friends)."""
        args = _normalise_args(key, self.name)
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


def _normalise_args(key, name: str = "") -> tuple[Expr, ...]:
    """The index expressions of f[key]; float indices are refused, as in Halide."""
    if not isinstance(key, tuple):
        key = (key,)
    args = tuple(to_expr(k) for k in key)
    for dim, arg in enumerate(args):
        if arg.type.is_float:
            raise errors.float_index(name, dim, arg.type.name)
    return args


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
