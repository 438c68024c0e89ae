"""Build the loop nest of every stored Func from its Stages, regions and schedule.

Requires: Stages from passes/inline.py, whole-pipeline regions from ir/bounds.py.
Guarantees: each definition runs over the loops of its schedule (loop_plan.py):
pure definitions over the allocation, updates' pure Vars over the required region,
RVars over their RDom (by default LAST dimension innermost, RVars inside pure
loops). Root Funcs are allocated and computed at the top level in realization
order; a compute_at Func is allocated (at its store level) and computed at the top
of its consumer's loop body, over the region that one iteration needs
(local_bounds.py). Values are written through Store (or AtomicAdd) with
coordinates still un-offset; the returned storage regions say which mins index
each buffer (storage.py applies them). Tuple values are computed before any is
stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ... import errors
from ...ir.bounds import Region, Stage
from ...ir.expr import Binary, Call, Const, Expr, RVar, Var
from ...ir.interval import Interval, bounds_of
from ...ir.simplify import simplify
from ...ir.visit import collect, mutate_with, substitute
from ...schedule.legality import associative_op
from ...schedule.state import PARALLEL_KINDS
from ..local_bounds import footprint, local_region
from ..loop_plan import plan_stage, stage_ranges
from ..names import storage_name
from ..stmt import (Allocate, AtomicAdd, For, IfThenElse, Let, Load, Stmt, Store, block,
                    map_exprs, map_leaves)
from .reductions import plan_reduction, private_fits, rfactor_parts

__all__ = ["build_loops", "storage_name"]


@dataclass
class _Ctx:
    stages: dict
    regions: dict                 # id(func) -> Region its loops run over
    whole: dict                   # id(func) -> whole-pipeline Region (top-level lets)
    let_values: dict
    target: object                # the Target (codegen/target.py)
    enclosing: list = field(default_factory=list)  # kinds of the consumer loops a
    #                                                producer is being lowered inside
    storage_regions: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)   # (id(C), stage, loop) -> [(what, P)]
    used: set = field(default_factory=set)
    loop_names: dict = field(default_factory=dict)
    const_extents: dict = field(default_factory=dict)  # id(Region) -> _const_extents


def build_loops(s: Stmt, lower_ctx) -> Stmt:
    """s followed by the allocations and loop nests of the stored Funcs, in realization
    order; records where each Func is stored in lower_ctx.storage_regions."""
    funcs, stages, outputs = lower_ctx.stored, lower_ctx.stages, lower_ctx.graph.outputs
    regions, lets = lower_ctx.bounds.regions, lower_ctx.bounds.lets
    ctx = _Ctx(stages, dict(regions), regions, dict(lets), lower_ctx.target)
    placed = _placements(funcs, outputs, ctx)
    out = []
    for f in funcs:
        store, compute = placed.get(id(f), ("root", "root"))
        if store == "root":
            ctx.storage_regions[id(f)] = regions[id(f)]
            out.extend(_allocations(f, regions[id(f)]))
        if compute == "root":
            out.extend(_stage_nests(ctx, f, stages[id(f)]))
    for key, items in ctx.places.items():
        if key not in ctx.used:
            _missing_loop(ctx, key, items)
    lower_ctx.storage_regions.update(ctx.storage_regions)
    return block(s, *out)


def _allocations(f, region: Region) -> list:
    return [Allocate(storage_name(f, i), t, tuple(region.extent))
            for i, t in enumerate(f.value_types())]


# ---- compute_at / store_at placement ---------------------------------------------

def _placements(funcs, outputs, ctx: _Ctx) -> dict:
    placed = {}
    for p in funcs:
        s = p.func_schedule
        if s is None or (s.compute != "at" and s.store != "at"):
            continue
        consumer, var = s.compute_at or s.store_at
        directive = f"compute_at({consumer.name}, {var})"
        if any(p is o for o in outputs):
            _fail(p, directive, "it is an output of the pipeline, computed at root",
                  "Schedule its producers instead")
        index = _caller_stage(p, consumer, funcs, ctx, directive)
        store_var = s.store_at[1] if s.store == "at" else var
        if s.store == "at" and s.store_at[0] is not consumer:
            _fail(p, f"store_at({s.store_at[0].name}, {store_var})", "it is computed in "
                  f"'{consumer.name}', so it must be stored in one of its loops too",
                  "Use the same consumer for store_at and compute_at")
        if s.store != "root":
            ctx.places.setdefault((id(consumer), index, store_var), []).append(("store", p))
        ctx.places.setdefault((id(consumer), index, var), []).append(("compute", p))
        placed[id(p)] = ("root" if s.store == "root" else "at", "at")
    return placed


def _caller_stage(p, consumer, funcs, ctx: _Ctx, directive: str) -> int:
    callers = [(f, st.index) for f in funcs if f is not p for st in ctx.stages[id(f)]
               if any(c.callee is p for c in collect(st.exprs(), Call))]
    if all(consumer is not f for f in funcs):
        _fail(p, directive, f"'{consumer.name}' is inlined, so it has no loops",
              f"Schedule {consumer.name}.compute_root() (or compute it at root by default)")
    others = sorted({f.name for f, _ in callers if f is not consumer})
    if others:
        _fail(p, directive, f"it is also used by {', '.join(others)}",
              "Use compute_root(), or compute it at each consumer through a wrapper Func")
    if len(callers) != 1:
        _fail(p, directive, f"{len(callers)} definitions of '{consumer.name}' use it",
              "Use compute_root() or store_root()")
    return callers[0][1]


def _missing_loop(ctx: _Ctx, key, items) -> None:
    what, p = items[0]
    s = p.func_schedule
    explicit_store = what == "store" and s.store == "at"
    consumer, var = s.store_at if explicit_store or s.compute_at is None else s.compute_at
    loops = ctx.loop_names.get(key[:2], [])
    _fail(p, f"{'store' if explicit_store else 'compute'}_at({consumer.name}, {var})",
          f"the definition of '{consumer.name}' that uses it has no loop '{var}' (its "
          f"loops, outermost first: {', '.join(loops)})", "Use one of those loops")


def _fail(p, directive: str, why: str, fix: str):
    raise errors.schedule_error(p.name, directive, why, fix)


def _inject(ctx: _Ctx, consumer, stage: Stage, plan, i: int, rename) -> list:
    key = (id(consumer), stage.index, plan.loops[i].name)
    items = ctx.places.get(key)
    if not items:
        return []
    ctx.used.add(key)
    scope: dict = {}
    for lp in plan.loops[i + 1:]:  # outermost first: extents may read enclosing loops
        lo, ext = bounds_of(lp.min, scope), bounds_of(lp.extent, scope)
        scope[lp.var] = Interval(lo.min, simplify(lo.max + ext.max - 1))
    exprs = [rename(e) for e in stage.exprs()]
    out = []
    for what, p in items:
        required = footprint(p, exprs, scope, consumer.name)
        region, lets = local_region(p, ctx.stages[id(p)], required, ctx.whole[id(p)],
                                    f"{what}{i}")
        out.extend(lets)
        if what == "store":
            ctx.storage_regions[id(p)] = region
            out.extend(_allocations(p, region))
        else:
            ctx.regions[id(p)] = region
            if id(p) not in ctx.storage_regions:
                ctx.storage_regions[id(p)] = region
                out.extend(_allocations(p, region))
            ctx.enclosing.append(plan.loops[i].kind)
            out.extend(_stage_nests(ctx, p, ctx.stages[id(p)]))
            ctx.enclosing.pop()
    return out


# ---- one definition --------------------------------------------------------------

def _stage_nests(ctx: _Ctx, f, stages: list) -> list:
    """The loop nests of f's definitions; runs of sibling updates share one (_fused)."""
    out, i = [], 0
    while i < len(stages):
        fused, j = None, i + 1
        while j < len(stages) and (attempt := _fused(ctx, f, stages[i:j + 1])) is not None:
            fused, j = attempt, j + 1
        out.append(fused if fused is not None else _stage_nest(ctx, f, stages[i]))
        i = j
    return out


def _stage_nest(ctx: _Ctx, f, stage: Stage):
    region = ctx.regions[id(f)]
    sched = f.definitions[stage.index].schedule
    red = plan_reduction(f, stage, sched, _const_extents(ctx, region), ctx.target)
    if red.mode != "choose":
        return _lowered(ctx, f, stage, red)
    if any(key[:2] == (id(f), stage.index) for key in ctx.places):
        return _lowered(ctx, f, stage, red.atomic)  # producers inside: lower them once
    return IfThenElse(private_fits(region, stage, ctx.target), _lowered(ctx, f, stage, red.private),
                      _lowered(ctx, f, stage, red.atomic))


@dataclass
class _Parts:
    """One definition lowered but not yet wrapped in its loops: `core` is what one
    iteration runs, `before`/`after` set up and merge an rfactor intermediate."""
    plan: object
    rename: object
    before: object
    core: object
    after: object
    args: tuple = ()   # the left side's coordinates, renamed


def _lowered(ctx: _Ctx, f, stage: Stage, red):
    p = _parts(ctx, f, stage, red)
    body = p.core
    for i in reversed(range(len(p.plan.loops))):
        lp = p.plan.loops[i]
        body = For(lp.var, lp.min, lp.extent, lp.kind,
                   block(*_inject(ctx, f, stage, p.plan, i, p.rename), body), lp.partition)
    return block(*[Let(v, e) for v, e in p.plan.lets], p.before, body, p.after)


def _parts(ctx: _Ctx, f, stage: Stage, red) -> _Parts:
    region = ctx.regions[id(f)]
    plan = plan_stage(stage, stage_ranges(stage, region), red.sched)
    ctx.target.assign_loop_kinds(plan.loops, f, f.definitions[stage.index],
                                 ctx.enclosing[-1] if ctx.enclosing else None)
    ctx.loop_names[(id(f), stage.index)] = [lp.name for lp in plan.loops]

    def rename(e: Expr) -> Expr:
        return substitute(e, plan.subst)

    args = tuple(rename(a) for a in stage.args)
    values = [rename(v) for v in stage.values]
    before = after = None
    if red.mode == "rfactor":
        before, core, after = rfactor_parts(f, stage, plan, args, values[0], region, red)
    elif red.mode == "atomic":
        delta = rename(red.rhs)
        if red.op == "-":
            delta = Binary("-", Const(delta.type, 0), delta)
        core = AtomicAdd(storage_name(f, 0), args, delta)
    else:
        core = _stores(f, stage.index, args, values)
    conds = [rename(p) for p in stage.predicates] + plan.guards
    if conds:
        cond = conds[0]
        for c in conds[1:]:
            cond = Binary("&&", cond, c)
        core = IfThenElse(cond, core)
    return _Parts(plan, rename, before, core, after, args)


# ---- sibling updates in one loop nest -------------------------------------------

def _fused(ctx: _Ctx, f, group: list):
    """One loop nest running `group` (consecutive updates of f) together, or None.
    Sibling reductions over the same domain are common in adjoints: every read of
    hom[i, j] by a warp sends one, every channel of a pixel read by a weighted sum
    another; fused, they share the consumer's recomputed values (CSE) and make one pass
    over memory instead of n (Halide's compute_with). Legal for parallel reductions
    because each core writes only its own intermediate (rfactor) or adds atomically,
    and none reads f; for plain ones see _plain_legal."""
    region = ctx.regions[id(f)]
    reds = []
    for st in group:
        if st.index == 0 or any(key[:2] == (id(f), st.index) for key in ctx.places):
            return None
        red = plan_reduction(f, st, f.definitions[st.index].schedule,
                             _const_extents(ctx, region), ctx.target)
        if red.mode == "plain":
            found = associative_op(f, f.definitions[st.index])
            red = replace(red, op=found[0], rhs=found[1]) if found else None
        if red is None or red.mode not in ("plain", "rfactor", "atomic", "choose") or any(
                c.callee is f for c in collect((red.rhs, *st.predicates), Call)):
            return None
        reds.append(red)
    if len({r.mode for r in reds}) != 1:
        return None
    if reds[0].mode == "plain":
        additive = {"+", "-"}
        if len({"+" if r.op in additive else r.op for r in reds}) != 1:
            return None
    if reds[0].mode != "choose":
        return _fuse_parts(ctx, f, group, reds)
    private = _fuse_parts(ctx, f, group, [r.private for r in reds])
    atomic = _fuse_parts(ctx, f, group, [r.atomic for r in reds])
    if private is None or atomic is None:
        return None
    return IfThenElse(private_fits(region, group[0], ctx.target, len(group)), private, atomic)


def _plain_legal(first, parts: list, mappings: list) -> bool:
    """Whether serial updates f[a_k] = f[a_k] op e_k (one commutative op, no e_k reads
    f) may run fused, iteration by iteration: unfused, each location gets the same
    contributions in another order, so the result is equal (to rounding, where two
    updates add into one location). Two more conditions: every loop of a parallel
    kind is the same coordinate of every update's left side (iterations write disjoint
    slices of f, as each update alone does), and every update's left side moves with
    the innermost loop (licm keeps a fixed-location accumulator in a float64 local only
    when no other statement of the loop writes the buffer: fusing would lose it)."""
    coords = [tuple(substitute(a, m) for a in p.args) for p, m in zip(parts, mappings)]
    for lp in first.loops:
        if lp.kind in PARALLEL_KINDS and not any(
                all(args[d] is lp.var for args in coords) for d in range(len(coords[0]))):
            return False
    inner = first.loops[-1].var if first.loops else None
    return inner is None or all(any(v is inner for v in collect(args, Var))
                                for args in coords)


def _fuse_parts(ctx: _Ctx, f, group: list, reds: list):
    parts = [_parts(ctx, f, st, red) for st, red in zip(group, reds)]
    if all(r.mode == "rfactor" and r.op == reds[0].op for r in reds) and \
            all(collect(tuple(st.args), RVar) for st in group):
        _share_partials(parts)
    first = parts[0].plan
    mappings = [_same_loops(p.plan, first) for p in parts]
    if any(m is None for m in mappings) or (
            reds[0].mode == "plain" and not _plain_legal(first, parts, mappings)):
        return None
    cores = [map_exprs(p.core, lambda e, m=m: substitute(e, m))
             for p, m in zip(parts, mappings)]
    body = block(*cores)
    for lp in reversed(first.loops):
        body = For(lp.var, lp.min, lp.extent, lp.kind, body, lp.partition)
    lets = [Let(v, e) for p in parts for v, e in p.plan.lets]
    return block(*lets, *[p.before for p in parts], body, *[p.after for p in parts])


def _share_partials(parts: list) -> None:
    """Sibling rfactor'd scatters into one Func with one op accumulate into the first's
    per-chunk partials (in place): one set of private copies to fill and fold, not one
    per sibling (W5's image adjoint: 4 bilinear corners, 4x the memory otherwise).
    Legal because the partials fold into f with that op, in any order. Not for
    reductions into fixed points (W5's d H3): apart, each keeps its partial in a
    register (licm), which a shared buffer would prevent."""
    shared = parts[0].after.partial  # `after` folds the partials: a FoldPartials
    for p in parts[1:]:
        own = p.after.partial

        def rename(e, own=own):
            return mutate_with(e, {Load: lambda n: Load(shared, n.index, n.type)
                                   if n.storage == own else None})
        core = map_exprs(p.core, rename)
        p.core = map_leaves(core, lambda t, own=own: replace(t, storage=shared)
                            if isinstance(t, Store) and t.storage == own else t)
        p.before = p.after = None


def _same_loops(plan, first) -> dict | None:
    """{plan's loop and let Vars: first's} when both plans run the same loops."""
    if len(plan.loops) != len(first.loops) or len(plan.lets) != len(first.lets):
        return None
    mapping = {}
    for (v, e), (w, e_first) in zip(plan.lets, first.lets):
        if substitute(e, mapping) is not e_first:
            return None
        mapping[v] = w
    for lp, lq in zip(plan.loops, first.loops):
        if (lp.kind, lp.partition) != (lq.kind, lq.partition) or \
                substitute(lp.min, mapping) is not lq.min or \
                substitute(lp.extent, mapping) is not lq.extent:
            return None
        mapping[lp.var] = lq.var
    return mapping


def _const_extents(ctx: _Ctx, region: Region) -> list[int] | None:
    """The region's extents when the bounds lets make them constants (memoised)."""
    if id(region) not in ctx.const_extents:
        ctx.const_extents[id(region)] = _resolve_extents(ctx, region)
    return ctx.const_extents[id(region)]


def _resolve_extents(ctx: _Ctx, region: Region) -> list[int] | None:
    out = []
    for e in region.extent:
        for _ in range(16):
            nxt = simplify(substitute(e, ctx.let_values))
            if nxt is e:
                break
            e = nxt
        if not isinstance(e, Const):
            return None
        out.append(int(e.value))
    return out


def _stores(func, stage: int, args, values: list[Expr]):
    """The Stores of one definition; a tuple's values go through Lets first (every
    value is read before any element is written). The Let vars are named by stage:
    dedupe_lets requires unique Let vars, and equal values of two stages (a pure
    (0, 0) and its update) must not merge."""
    if len(values) == 1:
        return Store(storage_name(func, 0), args, values[0])
    temps = [Var(f"{func.name}#{func.uid}.s{stage}.value{i}", v.type)
             for i, v in enumerate(values)]
    lets = [Let(t, v) for t, v in zip(temps, values)]
    stores = [Store(storage_name(func, i), args, t) for i, t in enumerate(temps)]
    return block(*lets, *stores)
