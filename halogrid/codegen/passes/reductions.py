"""Parallel reductions: rfactor, private accumulators and atomic scatter-adds.

Requires: an update Stage of an associative reduction f[a] = f[a] op e whose
schedule either rfactor()s a reduction loop or puts parallel() on a loop whose
iterations write the same locations (legality.race_reason).
Guarantees: `plan_reduction` picks how the update is lowered:
  'plain'   no racing parallel loop: one Store, as written;
  'atomic'  atomic() was asked for (or the accumulator is large and op is +/-), and
            the target allows atomics (not in deterministic mode):
            the Store becomes AtomicAdd(f[a], e);
  'choose'  neither asked for and the accumulator has more than Target.private_limit elements
            or a size known only at run time: `private` and `atomic` hold both
            lowerings and the caller picks at run time (`private_fits`): private copies
            while the accumulator is small, or at most a quarter of the update's
            iteration count (of all fused sibling updates, which share the copies:
            build_loops._share_partials) and Target.private_cap elements, atomics
            otherwise.
            Measured: a float atomic add costs a locked compare-exchange loop, so 100 M
            of them (W4's grid adjoint at 1 MP) took 5x longer than private copies of
            the 393 K-cell grid; W5's image adjoint (4 bilinear corners, 4 adds per
            cell) 61 -> 41 ms at 4 MP with shared copies; one add per cell costs more
            to set up and fold than the atomics save (2.8x);
  'rfactor' rfactor(r, u), or private accumulators: the racing loop is split into
            Target.chunks() chunks (hg.threads on the CPU, DETERMINISTIC_CHUNKS in
            deterministic mode) and factored, any other racing loop made serial. An
            intermediate buffer with one extra, outermost dimension (the factored
            loop) is set to op's identity, the update writes
            intermediate[u, a] instead of f[a], and a FoldPartials folds the
            intermediate into f after the loop: f[a] = f[a] op intermediate[u, a].
`rfactor_parts` builds (before, core, after) for the 'rfactor' mode.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ...ir.expr import Call, Const, Expr, Var
from ...ir.simplify import simplify
from ...ir.types import INT32
from ...ir.visit import substitute
from ...schedule.legality import associative_op, race_reason
from ...schedule.state import PARALLEL_KINDS
from ..stmt import Allocate, FoldPartials, For, Load, Store, block
from ..names import storage_name



@dataclass
class Reduction:
    mode: str                  # 'plain', 'atomic' or 'rfactor'
    sched: object = None       # the schedule to lower with (privatising adds a split)
    op: str = "+"
    rhs: Expr | None = None
    factored: str | None = None
    private: "Reduction | None" = None
    atomic: "Reduction | None" = None


def plan_reduction(func, stage, sched, const_extents, target) -> Reduction:
    """How to lower `stage` (see module doc) on `target` (its private/atomic limits;
    without atomics, as in deterministic mode, every racing scatter is privatised).
    const_extents: the accumulator's extents where they are compile-time constants,
    else None."""
    if stage.index == 0 or sched is None:
        return Reduction("plain", sched)
    found = associative_op(func, stage)
    if sched.rfactor is not None:
        return Reduction("rfactor", sched, found[0], found[1], sched.rfactor[0])
    racing = [n for n in sched.dims if sched.kinds.get(n) in PARALLEL_KINDS
              and race_reason(func, stage, sched.origin[n])]
    if not racing or found is None:
        return Reduction("plain", sched)
    op, rhs = found
    atomic_ok = op in ("+", "-") and target.atomic_adds(stage.values[0].type)
    private = Reduction("rfactor", _privatised(sched, racing, target), op, rhs,
                        f"{racing[0]}.chunk")
    atomic = Reduction("atomic", sched, op, rhs)
    if not atomic_ok:
        return private
    if sched.atomic or target.prefers_atomics:
        return atomic
    if const_extents is not None and _product(const_extents) <= target.private_limit:
        return private
    return Reduction("choose", sched, op, rhs, private=private, atomic=atomic)


def private_fits(region, stage, target, siblings: int = 1) -> Expr:
    """Run-time test of the 'choose' mode: private copies of the accumulator (of
    `region`) pay off against atomics for this update, or for `siblings` updates like
    it fused into one loop nest and sharing the copies (see the module doc)."""
    size = region.extent[0] if region.extent else Const(INT32, 1)
    for e in region.extent[1:]:
        size = size * e
    work = Const(INT32, siblings)
    for rv in stage.rvars:
        work = work * rv.extent
    small = size <= target.private_limit
    return simplify(small | ((size * 4 <= work) & (size <= target.private_cap)))


def _product(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _privatised(sched, racing: list, target):
    """The first racing loop split into the target's chunk count (the caller's thread
    count, hg.threads, where the target has none), the chunk loop factored and
    parallel; the other racing loops serial, since each chunk's iterations share its
    private copy (a CUDA block's thread loops would race on it: lost updates)."""
    s = copy.deepcopy(sched)
    loop = racing[0]
    for other in racing[1:]:
        s.kinds[other] = "serial"
    chunk = f"{loop}.chunk"
    pos = s.dims.index(loop)
    s.dims[pos:pos + 1] = [chunk, loop]
    s.origin[chunk] = s.origin[loop]
    chunks = target.chunks()  # a count of chunks, not a chunk size (loop_plan's split)
    s.splits.append(("split", loop, chunk, loop,
                     "threads" if chunks is None else ("chunks", chunks)))
    s.kinds[loop] = "serial"
    s.kinds[chunk] = "parallel"
    s.rfactor = (chunk, chunk)
    return s


def _identity(op: str, t) -> Const:
    value = {"+": 0, "-": 0, "*": 1, "min": t.max_value(), "max": t.min_value()}[op]
    return Const(t, value)


def rfactor_parts(func, stage, plan, args, value, region, red: Reduction):
    """(before, core, after) statements of an rfactor'd update; see module doc."""
    loop = plan.loop(red.factored)
    t = value.type
    name = f"{storage_name(func, 0)}.rf{stage.index}"
    n = func.dimensions()
    # the factored dimension is outermost: each parallel iteration owns one
    # contiguous slice (no false sharing, unit-stride updates)
    extents = (loop.extent,) + tuple(region.extent)
    here = (loop.var,) + tuple(simplify(a - m) for a, m in zip(args, region.min))
    current = Call(func, tuple(args), 0)
    core = Store(name, here, substitute(value, {current: Load(name, here, t)}))
    init_vars = [Var(f"{func.name}#{func.uid}rfi{stage.index}.{d}", INT32) for d in range(n + 1)]
    init = Store(name, tuple(init_vars), _identity(red.op, t))
    for d in reversed(range(n + 1)):
        init = For(init_vars[d], Const(INT32, 0), extents[d], "serial", init)
    return block(Allocate(name, t, extents), init), core, _merge(func, stage, name, extents,
                                                                 region, red, t)


def _merge(func, stage, name, extents, region, red, t) -> FoldPartials:
    """f[a] = f[a] op (the partials of every chunk) over the region's required part of
    pure dims and all of its reduced ones."""
    first, start, window = [], [], []
    for d in range(func.dimensions()):
        lo, extent = Const(INT32, 0), extents[d + 1]
        if isinstance(stage.args[d], Var):  # pure dim: only the required region
            lo = simplify(region.req_min[d] - region.min[d])
            extent = simplify(region.req_max[d] - region.req_min[d] + 1)
        first.append(simplify(region.min[d] + lo))
        start.append(lo)
        window.append(extent)
    op = "+" if red.op == "-" else red.op
    return FoldPartials(storage_name(func, 0), tuple(first), name, tuple(start),
                        tuple(window), extents[0], op, t)
