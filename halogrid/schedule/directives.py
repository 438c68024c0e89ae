"""The schedule directives of API.md, validated when set.

Func-level choices (compute_root/inline/at, store_root/at) live in a FuncSchedule;
loop directives (split, fuse, tile, reorder, parallel, vectorize, unroll, rfactor,
atomic, gpu_tile, gpu_blocks, gpu_threads) apply to one definition: a Func's pure
definition, or `f.update(i)`, a Stage. GPU loops (kinds gpu_block / gpu_thread) are
checked against one launch grid (legality.gpu_problem) whenever loops are marked or
reordered; on the CPU target they run as ordinary loops.
Every directive returns its receiver so calls chain. A directive that would change
the result (a race, reordering a non-associative reduction) or names an unknown
loop raises a ScheduleError here; what needs the consumer's final schedule
(compute_at's loop) is checked at compile time, in codegen.
"""

from __future__ import annotations

import copy

from typing import TYPE_CHECKING, TypeVar, Union

from .. import errors
from ..ir.expr import RVar, Var
from . import legality
from .state import GPU_KINDS, FuncSchedule, func_schedule, stage_schedule

__all__ = ["FuncSchedule", "Stage", "install", "schedule_of"]

schedule_of = func_schedule

if TYPE_CHECKING:
    from ..ir.func import Func

VarLike = Union[Var, RVar, str]
"""A loop variable as the directives take it: an hg.Var, an RVar (r.x) or its name."""
S = TypeVar("S")  # the receiver a directive returns: a Func or a Stage


def _name(v) -> str:
    if isinstance(v, str):
        return v
    name = getattr(v, "name", None)
    if isinstance(name, str) and not hasattr(v, "bounds"):
        return str(name)
    if hasattr(v, "dimensions") and hasattr(v, "bounds") and v.dimensions() == 1:
        return v[0].name
    raise errors.ScheduleError(f"Can't use {v!r} as a loop variable: pass an hg.Var, an "
                               "RVar (r.x) or a name.")


def _label(index: int) -> str:
    return "the pure definition" if index == 0 else f"update {index - 1}"


class _Target:
    """One definition of one Func, with the helpers every directive needs."""

    def __init__(self, func, index: int, directive: str):
        self.func, self.index, self.directive = func, index, directive
        self.s = stage_schedule(func, index)
        self.definition = func.definitions[index]

    def fail(self, why: str, fix: str):
        raise errors.schedule_error(self.func.name, self.directive, why, fix)

    def known(self, v) -> str:
        name = _name(v)
        if name not in self.s.dims:
            self.fail(f"{_label(self.index)} has no loop variable '{name}' (its loops, "
                      f"outermost first: {', '.join(self.s.dims)})", "Use one of those names")
        return name

    def fresh(self, v, reusable=()) -> str:
        name = _name(v)
        if name in self.s.dims and name not in reusable:
            self.fail(f"'{name}' already names a loop of {_label(self.index)}",
                      "Pick a new name for the new loop")
        return name

    def associative(self) -> bool:
        return self.index > 0 and legality.associative_op(self.func, self.definition) is not None

    def race(self, name: str) -> str | None:
        if self.index == 0 or name == self.s.rfactor_name():
            return None
        return legality.race_reason(self.func, self.definition, self.s.origin[name])


def _text(name: str, *args) -> str:
    return f"{name}({', '.join(_safe_name(a) if not isinstance(a, int) else str(a) for a in args)})"


# ---- loop directives (one definition) ------------------------------------------

def _split(t: _Target, x, xo, xi, factor) -> None:
    x = t.known(x)
    xo, xi = t.fresh(xo, (x,)), t.fresh(xi)
    if xo == xi:
        t.fail("the outer and inner loops need different names", "Rename one of them")
    if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
        t.fail(f"the factor {factor!r} is not a positive integer", "Pass an int >= 1")
    if t.s.is_reduction_loop(x) and t.index > 0 and not t.associative():
        t.fail(f"'{x}' is a reduction variable of {_label(t.index)}, which is not associative "
               "(not f[..] = f[..] + - * min max e), so its order must stay as written",
               "Split a pure variable instead")
    s = t.s
    pos = s.dims.index(x)
    s.dims[pos:pos + 1] = [xo, xi]
    origin = s.origin.pop(x)
    s.origin[xo] = s.origin[xi] = origin
    s.kinds.pop(x, None)
    extent = s.const_extent.pop(x, None)
    s.const_extent[xi] = factor
    if extent is not None:
        s.const_extent[xo] = -(-extent // factor)
    s.splits.append(("split", x, xo, xi, int(factor)))


def _fuse(t: _Target, inner, outer, fused) -> None:
    inner, outer = t.known(inner), t.known(outer)
    fused = t.fresh(fused, (inner, outer))
    s = t.s
    if s.dims.index(outer) + 1 != s.dims.index(inner):
        t.fail(f"'{outer}' is not the loop immediately outside '{inner}'",
               f"Reorder first so that '{outer}' directly encloses '{inner}'")
    pos = s.dims.index(outer)
    s.dims[pos:pos + 2] = [fused]
    s.origin[fused] = s.origin.pop(inner) | s.origin.pop(outer)
    a, b = s.const_extent.pop(inner, None), s.const_extent.pop(outer, None)
    if a is not None and b is not None:
        s.const_extent[fused] = a * b
    s.kinds.pop(inner, None)
    s.kinds.pop(outer, None)
    s.splits.append(("fuse", inner, outer, fused))


def _reorder(t: _Target, *vars_innermost_first) -> None:
    new = _reordered(t, [t.known(v) for v in vars_innermost_first])
    _check_gpu(t, new, t.s.kinds)
    t.s.dims[:] = new


def _reordered(t: _Target, names: list) -> list:
    """The loops with `names` (innermost first) in the slots they occupy, others in place."""
    if len(set(names)) != len(names):
        t.fail("a loop is listed twice", "List each loop once")
    s = t.s
    slots = sorted(s.dims.index(n) for n in names)
    new = list(s.dims)
    for slot, name in zip(slots, reversed(names)):
        new[slot] = name
    _check_interchange(t, s.dims, new)
    return new


def _check_interchange(t: _Target, old: list, new: list) -> None:
    if t.index == 0 or t.associative():
        return
    for i, a in enumerate(old):
        for b in old[i + 1:]:
            if new.index(a) > new.index(b) and t.race(a) and t.race(b):
                t.fail(f"loops '{a}' and '{b}' both carry dependencies of {_label(t.index)}, "
                       "which is not associative, so their order must stay as written",
                       "Reorder only loops whose iterations are independent")


def _parallel(t: _Target, v, task_size=None) -> None:
    v = t.known(v)
    _not_gpu(t, v, "parallel")
    if task_size is not None:
        _split(t, v, v, f"{v}_task", task_size)
    reason = t.race(v)
    if reason and not t.s.atomic and not t.associative():
        t.fail(f"{reason}, so parallel iterations of {_label(t.index)} would race",
               "Parallelise a pure variable, or make the update an associative reduction "
               "(+= and friends) and use rfactor(...) or atomic()")
    t.s.kinds[v] = "parallel"


def _vector_like(t: _Target, v, n, kind: str, suffix: str) -> None:
    v = t.known(v)
    _not_gpu(t, v, kind)
    if n is not None:
        _split(t, v, v, f"{v}_{suffix}", n)
        inner, outer = f"{v}_{suffix}", v
    else:
        if v not in t.s.const_extent:
            name = "vectorize" if kind == "vectorized" else "unroll"
            t.fail(f"loop '{v}' has no constant extent", f"Give a factor: {name}({v}, 8), "
                   "or split it first")
        inner, outer = v, _split_outer(t.s, v)
    t.s.kinds[inner] = kind
    if kind == "vectorized":
        t.s.partition.add(outer)


def _split_outer(s, inner: str) -> str:
    for rec in reversed(s.splits):
        if rec[0] == "split" and rec[3] == inner and rec[2] in s.dims:
            return rec[2]
    return inner


def _rfactor(t: _Target, *pairs) -> None:
    if len(pairs) == 1 and isinstance(pairs[0], (list, tuple)):
        pairs = tuple(pairs[0])
    if len(pairs) == 1 and isinstance(pairs[0], (list, tuple)):
        pairs = tuple(pairs[0])
    if len(pairs) != 2:
        t.fail("it takes one (reduction variable, new Var) pair", "Call rfactor(r.y, v)")
    if t.index == 0 or not t.associative():
        t.fail(f"{_label(t.index)} is not an associative update (f[..] = f[..] op e, op one "
               "of + - * min max)", "Use rfactor only on such reductions")
    if t.s.rfactor is not None:
        t.fail("it was already factored", "Call rfactor once per update")
    r = t.known(pairs[0])
    if not t.s.is_reduction_loop(r):
        t.fail(f"'{r}' is not a reduction loop", "Pass an RVar of the update (or a split of one)")
    u = t.fresh(pairs[1])
    s = t.s
    s.dims[s.dims.index(r)] = u
    s.origin[u] = s.origin.pop(r)
    if r in s.const_extent:
        s.const_extent[u] = s.const_extent.pop(r)
    if r in s.kinds:
        s.kinds[u] = s.kinds.pop(r)
    s.rfactor = (u, r)


def _atomic(t: _Target) -> None:
    found = legality.associative_op(t.func, t.definition) if t.index else None
    if found is None or found[0] not in ("+", "-"):
        t.fail(f"{_label(t.index)} is not an add/subtract update f[..] += e",
               "Use atomic() on += updates, or rfactor(...) for other reductions")
    vtype = t.definition.values[0].type
    if vtype.is_bool:
        t.fail("booleans have no atomic add", "Accumulate into an integer type")
    t.s.atomic = True


# ---- GPU loops ----------------------------------------------------------------------

def _not_gpu(t: _Target, v: str, new_kind: str) -> None:
    kind = t.s.kinds.get(v)
    if kind in GPU_KINDS:
        fix = ("GPU loops already run concurrently: leave parallel out" if new_kind ==
               "parallel" else f"Split '{v}' before marking the GPU loops and make a loop "
               f"inside them {new_kind}")
        t.fail(f"'{v}' is a {kind} loop, which can't also be {new_kind}",
               f"{fix}, or don't mark this loop for the GPU")


def _free_for(t: _Target, v: str, kind: str) -> None:
    other = t.s.kinds.get(v)
    if other is not None and other != kind:
        t.fail(f"'{v}' is already a {other} loop, which can't also be a {kind} loop",
               f"Mark a loop that is not {other}, or build the schedule again without "
               "that directive")


def _gpu(t: _Target, kind: str, *vars_x_first) -> None:
    """Mark loops `kind`, the first the .x axis: the listed loops are reordered so the
    first is innermost, as gpu_axis counts axes by nesting."""
    names = [t.known(v) for v in vars_x_first]
    if not names:
        t.fail("no loop was named", "Name one to three loops, the .x axis first")
    for n in names:
        _free_for(t, n, kind)
        reason = t.race(n)
        if reason and not t.s.atomic:
            t.fail(f"{reason}, so the GPU threads running {_label(t.index)} would race",
                   "Call atomic() first (+= updates), or rfactor(r, v) and use v as the "
                   "GPU loop, or use a pure variable")
    dims, marked = _reordered(t, names), dict.fromkeys(names, kind)
    _check_gpu(t, dims, {**t.s.kinds, **marked})
    t.s.dims[:] = dims
    t.s.kinds.update(marked)


def _gpu_blocks(t: _Target, *vars_x_first) -> None:
    _gpu(t, "gpu_block", *vars_x_first)


def _gpu_threads(t: _Target, *vars_x_first) -> None:
    _gpu(t, "gpu_thread", *vars_x_first)


def _check_gpu(t: _Target, dims: list, kinds: dict) -> None:
    problem = legality.gpu_problem(dims, kinds, t.s.const_extent)
    if problem is not None:
        t.fail(*problem)


def _gpu_tile(t: _Target, *args) -> None:
    """Halide's gpu_tile: args (x[, y[, z]], [outer names,] inner names, sizes); each var
    is split by its size, the inner (thread) loops become innermost and the outer (block)
    loops enclose them directly; the outer loops keep the vars' names when not given."""
    n = 0
    while n < len(args) and isinstance(args[-1 - n], int) and not isinstance(args[-1 - n], bool):
        n += 1
    names = args[:len(args) - n]
    if not 1 <= n <= 3 or len(names) not in (2 * n, 3 * n):
        t.fail("it takes (x, xo, xi, tx), (x, y, xo, yo, xi, yi, tx, ty) or the 3-D form, "
               "the outer names optional", "Pass one of those argument lists")
    dims, sizes, inners = names[:n], args[len(names):], names[-n:]
    outers = names[n:2 * n] if len(names) == 3 * n else dims
    for v in map(t.known, dims):
        if t.s.kinds.get(v) not in GPU_KINDS:  # a GPU loop is split into GPU loops again
            _free_for(t, v, "GPU")
    for v, vo, vi, size in zip(dims, outers, inners, sizes):
        _split(t, v, vo, vi, size)
    _reorder(t, *inners, *outers)
    _gpu(t, "gpu_block", *outers)
    _gpu(t, "gpu_thread", *inners)


def _receiver(obj) -> tuple:
    if isinstance(obj, Stage):
        return obj.func, obj.index
    if not obj.definitions:
        raise errors.undefined_func(obj.name, obj.location)
    return obj, 0


def _tile(t: _Target, x, y, *rest) -> None:
    if len(rest) == 4:
        (xi, yi, fx, fy), xo, yo = rest, x, y
    elif len(rest) == 6:
        xo, yo, xi, yi, fx, fy = rest
    else:
        t.fail("it takes (x, y, xo, yo, xi, yi, fx, fy) or (x, y, xi, yi, fx, fy)",
               "Pass one of those argument lists")
    _split(t, x, xo, xi, fx)
    _split(t, y, yo, yi, fy)
    _reorder(t, xi, yi, xo, yo)


def _apply(receiver, name: str, body, *args, extra: tuple = ()):
    """Run directive `body(target, *args, *extra)` on the definition `receiver` (a Func
    or a Stage) names; error messages show the call as `name(*args)`, Nones left out."""
    func, index = _receiver(receiver)
    shown = [a for a in args if a is not None]
    target = _Target(func, index, _text(name, *shown))
    before = copy.deepcopy(target.s)
    try:
        body(target, *args, *extra)
    except errors.ScheduleError:  # a refused directive leaves the schedule as it was
        vars(target.s).clear()
        vars(target.s).update(vars(before))
        raise
    return receiver


class LoopDirectives:
    """The loop directives of one definition: a Func's pure definition, or `f.update(i)`.

    Each returns its receiver, so calls chain: `f.split(x, xo, xi, 8).parallel(y)`.
    Loop variables are hg.Vars, RVars (r.x) or their names."""

    def split(self: S, var: VarLike, outer: VarLike, inner: VarLike, factor: int) -> S:
        """Split loop `var` into `outer` and `inner` loops; `inner` runs `factor` iterations.

        >>> f.split(x, xo, xi, 8)          # for xo: for xi in range(8): x = xo * 8 + xi
        """
        return _apply(self, "split", _split, var, outer, inner, factor)

    def fuse(self: S, inner: VarLike, outer: VarLike, fused: VarLike) -> S:
        """Merge loop `outer` and the loop `inner` directly inside it into one loop `fused`.

        >>> f.fuse(x, y, xy)               # one loop over every (y, x)
        """
        return _apply(self, "fuse", _fuse, inner, outer, fused)

    def tile(self: S, x: VarLike, y: VarLike, xo: VarLike, yo: VarLike, xi: VarLike | int,
             yi: VarLike | int | None = None, xfactor: int | None = None,
             yfactor: int | None = None) -> S:
        """Split `x` and `y` by `xfactor`, `yfactor` and order the loops yo, xo, yi, xi.

        >>> f.tile(x, y, xo, yo, xi, yi, 32, 8)
        >>> f.tile(x, y, xi, yi, 32, 8)    # the outer loops keep the names x and y
        """
        args = tuple(a for a in (xo, yo, xi, yi, xfactor, yfactor) if a is not None)
        return _apply(self, "tile", _tile, x, y, *args)

    def reorder(self: S, *vars: VarLike) -> S:
        """Order the listed loops, innermost first (as in Halide); others keep their places.

        >>> f.reorder(y, x)                # y becomes the innermost loop
        """
        return _apply(self, "reorder", _reorder, *vars)

    def parallel(self: S, var: VarLike, task_size: int | None = None) -> S:
        """Run the iterations of loop `var` on the thread pool (split by `task_size` first).

        >>> f.parallel(y)
        >>> f.parallel(y, 16)              # tasks of 16 rows
        """
        return _apply(self, "parallel", _parallel, var, task_size)

    def vectorize(self: S, var: VarLike, factor: int | None = None) -> S:
        """Vectorise loop `var` (after splitting off an inner loop of `factor` lanes).

        >>> f.vectorize(x, 8)
        """
        return _apply(self, "vectorize", _vector_like, var, factor, extra=("vectorized", "vi"))

    def unroll(self: S, var: VarLike, factor: int | None = None) -> S:
        """Unroll loop `var` (after splitting off an inner loop of `factor` iterations).

        >>> f.unroll(x, 4)
        """
        return _apply(self, "unroll", _vector_like, var, factor, extra=("unrolled", "ui"))

    def rfactor(self: S, rvar: VarLike | list, var: VarLike | None = None) -> S:
        """Make an associative reduction parallel: each value of the new pure Var `var`
        reduces its own slice of reduction loop `rvar` into private partials, which are
        then merged (Halide's rfactor; `rfactor([(r.y, v)])` is accepted too).

        >>> f.update(0).rfactor(r.y, v).parallel(v)
        """
        args = (rvar,) if var is None else (rvar, var)
        return _apply(self, "rfactor", _rfactor, *args)

    def atomic(self: S) -> S:
        """Let parallel iterations of a `+=`/`-=` update add to shared cells atomically.

        >>> hist.update(0).atomic().parallel(r.y)
        """
        return _apply(self, "atomic", _atomic)

    def gpu_tile(self: S, *vars_and_sizes: VarLike | int) -> S:
        """Split each var by its size into a block loop and a thread loop, order all the
        thread loops innermost with the block loops right outside them, and mark them
        gpu_block / gpu_thread (Halide's gpu_tile; the 1-D, 2-D and 3-D forms; without
        outer names the block loops keep the vars' names). At most 1024 threads a block.

        >>> f.gpu_tile(x, y, xo, yo, xi, yi, 16, 16)   # blockIdx.x = xo, threadIdx.x = xi
        >>> f.gpu_tile(x, xo, xi, 64)
        >>> f.gpu_tile(x, y, z, xo, yo, zo, xi, yi, zi, 8, 8, 4)
        """
        return _apply(self, "gpu_tile", _gpu_tile, *vars_and_sizes)

    def gpu_blocks(self: S, *vars: VarLike) -> S:
        """Run loops `vars` as the CUDA grid's blocks, the first the .x axis (they are
        reordered so the first is innermost); on the CPU target, as ordinary loops.

        >>> f.split(x, xo, xi, 32).split(y, yo, yi, 8).reorder(xi, yi, xo, yo)
        >>> f.gpu_blocks(xo, yo).gpu_threads(xi, yi)
        """
        return _apply(self, "gpu_blocks", _gpu_blocks, *vars)

    def gpu_threads(self: S, *vars: VarLike) -> S:
        """Run loops `vars` as the threads of each block, the first the .x axis (they are
        reordered so the first is innermost); they must be inside gpu_blocks loops.

        >>> f.gpu_blocks(xo, yo).gpu_threads(xi, yi)
        """
        return _apply(self, "gpu_threads", _gpu_threads, *vars)


_LOOP_DIRECTIVES = ("split", "fuse", "tile", "reorder", "parallel", "vectorize", "unroll",
                    "rfactor", "atomic", "gpu_tile", "gpu_blocks", "gpu_threads")


class Stage(LoopDirectives):
    """`f.update(i)`: the i-th update definition, with the loop directives of a Func.

    >>> f.update(0).parallel(y)
    """

    def __init__(self, func, index: int):
        self.func, self.index = func, index

    def __repr__(self) -> str:
        return f"<hg.Stage {self.func.name}.update({self.index - 1})>"

    def name(self) -> str:
        return f"{self.func.name}.update({self.index - 1})"


def update(func: Func, i: int = 0) -> Stage:
    """The Stage of update definition i (0-based), for scheduling it.

    >>> hist.update(0).atomic().parallel(r.y)
    """
    n = len(func.definitions) - 1
    if not isinstance(i, int) or not 0 <= i < max(n, 0):
        raise errors.schedule_error(func.name, f"update({i})",
                                    f"it has {max(n, 0)} update definition(s)",
                                    "Use an index in range, or define the update first")
    return Stage(func, i + 1)


# ---- where a Func is computed and stored ------------------------------------------

def compute_root(func: Func) -> Func:
    """Compute all of `func` before its consumers, into its own buffer.

    >>> blur_x.compute_root()
    """
    s = schedule_of(func)
    s.compute, s.compute_at = "root", None
    return func


def compute_inline(func: Func) -> Func:
    """Substitute `func`'s definition into every use (pure Funcs only; the default for
    them, as in Halide).

    >>> gray.compute_inline()
    """
    if len(func.definitions) > 1:
        raise errors.schedule_error(
            func.name, "compute_inline()", "it has update definitions, which need storage",
            "Use compute_root() or compute_at()")
    s = schedule_of(func)
    s.compute, s.compute_at = "inline", None
    return func


def _at(func, consumer, var, directive: str) -> tuple:
    from ..ir.func import Func
    if not isinstance(consumer, Func) or consumer is func:
        raise errors.schedule_error(func.name, directive, "the first argument must be "
                                    "another Func, the consumer", "Pass the Func that reads it")
    return consumer, _name(var)


def compute_at(func: Func, consumer: Func, var: VarLike) -> Func:
    """Compute `func` inside `consumer`'s loop over `var`, per iteration, on the region it needs.

    >>> blur_x.compute_at(blur_y, y)      # the rows of blur_x each row of blur_y reads
    """
    directive = f"compute_at({getattr(consumer, 'name', consumer)}, {_safe_name(var)})"
    s = schedule_of(func)
    s.compute, s.compute_at = "at", _at(func, consumer, var, directive)
    return func


def store_at(func: Func, consumer: Func, var: VarLike) -> Func:
    """Allocate `func`'s buffer inside `consumer`'s loop over `var` (compute_at goes inside).

    >>> blur_x.store_at(blur_y, yo).compute_at(blur_y, y)
    """
    directive = f"store_at({getattr(consumer, 'name', consumer)}, {_safe_name(var)})"
    s = schedule_of(func)
    s.store, s.store_at = "at", _at(func, consumer, var, directive)
    return func


def store_root(func: Func) -> Func:
    """Allocate `func`'s buffer once, at the top, for all of its compute_at iterations.

    >>> blur_x.store_root().compute_at(blur_y, y)
    """
    s = schedule_of(func)
    s.store, s.store_at = "root", None
    return func


def _safe_name(v) -> str:
    try:
        return _name(v)
    except errors.ScheduleError:
        return repr(v)


def install(func_class) -> None:
    """Give Func (and Stage) the directive methods; ir/ knows nothing of schedules."""
    for name in _LOOP_DIRECTIVES:
        setattr(func_class, name, vars(LoopDirectives)[name])
    func_class.update = update
    func_class.compute_root = compute_root
    func_class.compute_inline = compute_inline
    func_class.compute_at = compute_at
    func_class.store_at = store_at
    func_class.store_root = store_root
