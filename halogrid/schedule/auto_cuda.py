"""The autoscheduler's CUDA policy (`auto_schedule(target="cuda")`): every stage with
loops to spread runs on the launch grid, and every buffer stays on the device (no
stage is left to the host between two others).

Where Funcs are computed (Funcs the user placed, outputs and autodiff's
`root_by_default` Funcs keep their placement):
  * a pure Func read at one point per consumer definition (a pointwise chain) stays
    inlined, and so does a cheap one read at many points (fewer than CHEAP
    operations: a boundary condition, a clamped copy): a few recomputed loads cost
    less than a round trip through global memory;
  * an expensive stencil producer (read only at constant offsets from the pure loops
    of its one consumer, a pure Func) is computed at that consumer's innermost
    gpu_block loop: a tile plus its halo per block, in shared memory; an expensive
    Func read at many points otherwise (over an RDom, by several consumers) is
    stored at root;
  * an inline reduction (hg.sum & co) read at one point by one pure consumer is
    computed at that consumer's innermost loop, inside its gpu_thread loops: in each
    thread's local memory, never in a global buffer.
How each stored definition runs:
  * its loops to tile: its pure dims (in an update, the race-free ones) but the
    narrow ones, at most NARROW wide because the definition clamps them to a few
    constants or every consumer reads them at a few constant indices (colour
    channels, a 3x3 kernel's taps). 1 loop: gpu_tile(x, 256); 2: 32x8 threads, x
    (innermost, contiguous) the .x axis, 16x16 for a consumer of a shared-memory tile
    (square tiles have the smallest halo); 3: the two innermost fused into the .x axis
    of the 32x8 tile (their extents are known only at run time, and a 3-channel
    innermost dim would idle 29 of a warp's 32 lanes), or, under a 16x16 stencil tile,
    the two innermost tiled and the outermost gpu_blocks; more: the outer ones fused
    first. Block loops outermost, thread loops next, every other loop (narrow dims,
    RVars) serially inside each thread;
  * an associative update that sums more large dims than it writes: a scatter-add
    (a histogram, a LUT's adjoint, a warp's or a splat's) gets atomic() and its wide
    RVars tiled (the CUDA backend privatises a few-cell target per block in shared
    memory, so contention stays inside a block); a reduction into its own pure dims
    and fixed points (a loss, d k, d H3), or another into at most RFACTOR_CELLS cells,
    has its RVars fused, split by CHUNK and rfactored: the factored loop gpu_blocks
    (one partial each, merged after the loop), its pure dims of known width (at most
    KNOWN) that loop's threads;
  * anything else (a scan, a single-point update) runs as written.
Definitions the user scheduled are left alone; a plan the directives refuse is
undone as a whole (the default schedule is always valid).
"""

from __future__ import annotations

import copy
import math

from .. import errors
from ..ir.expr import Binary, Call, Const, Intrinsic, RVar, Select, Var
from ..ir.graph import build_graph
from ..ir.interval import UNBOUNDED, Interval, bounds_of
from ..ir.simplify import simplify
from ..ir.visit import collect
from .auto import _customised, _data_dependent, _small_constant_domain
from .defaults import is_stored, schedule_of
from .directives import Stage
from .legality import MAX_GPU_THREADS, associative_op, race_reason
from .state import stage_schedule

TILE_1D = 256            # threads of a 1-D tile
TILE_2D = (32, 8)        # (x, y) threads: a warp reads 32 consecutive elements
STENCIL_TILE = (16, 16)  # (x, y) threads of a consumer of a shared-memory tile
NARROW = 4               # dims at most this wide run serially inside each thread
KNOWN = 64               # widths up to this are tracked (small outputs of reductions)
CHEAP = 8                # Funcs with fewer operations are recomputed, not stored
RFACTOR_CELLS = 1024     # reductions into at most this many cells are factored
CHUNK = 64               # iterations each partial of a factored reduction sums


def auto_schedule_cuda(outputs) -> None:
    """Schedule every Func reachable from `outputs` for CUDA (see the module doc)."""
    graph = build_graph(outputs)
    widths = _narrow_dims(graph)
    placed = {}
    for f in graph.funcs:
        where = _placement(f, graph)
        if where == "root":
            f.compute_root()
        elif where is not None:
            placed[id(f)] = (f,) + where
    square = {id(consumer) for _, kind, consumer in placed.values() if kind == "shared"}
    for f in graph.funcs:   # a Func the user computes inside another keeps its loops
        if (id(f) not in placed and is_stored(f, graph.outputs)
                and schedule_of(f).compute != "at"):
            _schedule_stages(f, widths, STENCIL_TILE if id(f) in square else TILE_2D)
    for f, kind, consumer in placed.values():
        loop = _home(consumer, kind)
        if loop is not None:
            f.compute_at(consumer, loop)
            continue
        if kind == "shared":
            f.compute_root()  # no tiled consumer to share a tile with: a global buffer
        _schedule_stages(f, widths, TILE_2D)


# ---- where Funcs are computed ---------------------------------------------------------

def _placement(f, graph):
    """'root', ('shared', consumer), ('local', consumer) or None (as the default)."""
    if (schedule_of(f).compute is not None or f.kind == "extern"  # the user's, or root
            or any(f is o for o in graph.outputs)):                 # by default (adjoints)
        return None
    reads = _reads_of(f, graph)
    if len(f.definitions) > 1:
        pointwise = (f.kind == "reduction" and len(reads) == 1 and len(reads[0][2]) == 1
                     and _pure_only(reads[0][0]))
        return ("local", reads[0][0]) if pointwise else None
    if f.kind == "boundary" and any(_data_dependent(a) for _, _, pts in reads for a in pts):
        return None  # bounded only by the condition's own clamp, inlined into the read
    if not any(len(pts) > 1 or d.rdoms for _, d, pts in reads) or _cost(f) < CHEAP:
        return None
    if len(reads) == 1 and _stencil(*reads[0]):
        return ("shared", reads[0][0])
    return "root"


def _reads_of(f, graph) -> list:
    """(consumer, definition, distinct argument tuples) of every definition reading f."""
    out, seen = [], set()
    for c in graph.consumers.get(id(f), []):
        if id(c) in seen or c is f:
            continue
        seen.add(id(c))
        for d in c.definitions:
            points = {call.args for call in collect(tuple(d.args) + tuple(d.values), Call)
                      if call.callee is f}
            if points:
                out.append((c, d, points))
    return out


def _pure_only(c) -> bool:
    return len(c.definitions) == 1 and c.dimensions() > 0 and not _customised(c, 0)


def _stencil(c, d, points) -> bool:
    """Every read at constant offsets from the pure loops of c, a tileable pure Func."""
    if not _pure_only(c) or c.dimensions() < 2:
        return False
    return all(len(p) == len(d.args) and all(isinstance(simplify(a - v), Const)
                                             for a, v in zip(p, d.args)) for p in points)


def _cost(f) -> int:
    return len(collect(tuple(f.definitions[0].values), (Binary, Call, Select, Intrinsic)))


def _home(consumer, kind: str):
    """The loop of consumer's pure definition a producer placed `kind` is computed at:
    for 'shared', its innermost gpu_block loop (one tile per block); for 'local', its
    innermost loop, inside its gpu_thread loops (a point per iteration, so the buffer
    has a constant size); None where the consumer has no such loops."""
    s = consumer.definitions[0].schedule
    kinds = [] if s is None else [s.kinds.get(n) for n in s.dims]
    if kind == "local":
        return s.dims[-1] if "gpu_thread" in kinds else None
    blocks = [n for n, k in zip(s.dims, kinds) if k == "gpu_block"] if kinds else []
    return blocks[-1] if blocks else None


# ---- narrow dims ------------------------------------------------------------------------

def _narrow_dims(graph) -> dict:
    """id(f) -> {dim: width} for f's dims at most KNOWN wide (see the module doc):
    consumers are visited before producers, so a producer dim read at a narrow dim of
    its consumer is narrow too (a channel passed down a chain)."""
    widths: dict = {}
    for f in reversed(graph.funcs):
        output = any(f is o for o in graph.outputs)
        dims = {}
        for k in range(f.dimensions()):
            w = _guarded_width(f.definitions[0], k)
            if w is None and not output:
                w = _read_width(f, k, graph, widths)
            if w is not None and w <= KNOWN:
                dims[k] = w
        widths[id(f)] = dims
    return widths


def _guarded_width(d, k: int) -> int | None:
    """The width of the constant clamps/range tests of the definition's k-th left-side
    Var (0 <= x <= 2, min(max(x, 0), 2): 3), or None where it has none."""
    v = d.args[k]
    if not isinstance(v, Var):
        return None
    limits = []
    for b in collect(tuple(d.values), Binary):
        if b.op in ("min", "max", "<", "<="):
            for side, other in ((b.a, b.b), (b.b, b.a)):
                if _bare(side, v):
                    limits.append(other)
    if not all(isinstance(e, Const) for e in limits) or len({e.value for e in limits}) < 2:
        return None
    values = [e.value for e in limits]
    return int(max(values) - min(values)) + 1


def _bare(e, v) -> bool:
    """e is v, or a clamp (min/max chain) of v."""
    while isinstance(e, Binary) and e.op in ("min", "max"):
        e = e.a if any(u is v for u in collect((e.a,), Var)) else e.b
    return e is v


def _read_width(f, k: int, graph, widths) -> int | None:
    """How many values consumers read f's dim k at, where all reads are bounded by
    constants (a narrow dim of a consumer counts as [0, width))."""
    lo = hi = None
    for c, d, points in _reads_of(f, graph):
        scope = _scope(d, widths.get(id(c), {}))
        for p in points:
            i = bounds_of(p[k], scope).simplified()
            if not (isinstance(i.min, Const) and isinstance(i.max, Const)):
                return None
            lo = i.min.value if lo is None else min(lo, i.min.value)
            hi = i.max.value if hi is None else max(hi, i.max.value)
    return None if lo is None else int(hi - lo) + 1


def _scope(d, dims: dict) -> dict:
    """Intervals of a definition's left-side Vars: [0, width) for narrow dims."""
    scope = {}
    for j, a in enumerate(d.args):
        if isinstance(a, Var):
            w = dims.get(j)
            scope[a] = UNBOUNDED if w is None else Interval(Const(a.type, 0),
                                                            Const(a.type, w - 1))
    return scope


def _width(f, d, k: int, widths) -> int | None:
    """The width of f's dim k where at most KNOWN (its Func's, or clamped in d)."""
    w = widths[id(f)].get(k) or _guarded_width(d, k)
    return w if w is not None and w <= KNOWN else None


def _narrow(f, d, k: int, widths) -> bool:
    w = _width(f, d, k, widths)
    return w is not None and w <= NARROW


# ---- the launch grid of each definition --------------------------------------------------

def _schedule_stages(f, widths, tile2d) -> None:
    if f.kind == "extern":
        return  # its definition only stands in for the reads of user code
    if f.dimensions() > 0 and not _customised(f, 0):
        d = f.definitions[0]
        wide = [a.name for k, a in enumerate(d.args) if not _narrow(f, d, k, widths)]
        _attempt(f, 0, lambda: _grid(f, wide or [a.name for a in d.args], tile2d))
    for i in range(1, len(f.definitions)):
        if not _customised(f, i):
            _schedule_update(f, i, widths)


def _schedule_update(f, index: int, widths) -> None:
    """Race-free loops on the grid, or a reduction's plan where the update sums more
    large dims than it writes (see the module doc)."""
    d, stage = f.definitions[index], Stage(f, index)
    pure = {a.name: k for k, a in enumerate(d.args) if isinstance(a, Var)}
    rvars = {rv.name: rv for r in d.rdoms for rv in (RVar(r, k) for k in range(r.dimensions()))}
    free = [n for n in stage_schedule(f, index).dims
            if race_reason(f, d, frozenset([n])) is None]
    thin = [n for n in free if n in pure and _width(f, d, pure[n], widths)]   # known
    wide = [n for n in free if n not in thin and (n in pure or _large(rvars[n]))]
    summed = [rv for n, rv in rvars.items() if n not in free and _large(rv)]
    found = associative_op(f, d)
    if found is not None and rvars and (len(summed) > len(wide) or not wide):
        racing = [rv for n, rv in rvars.items() if n not in free]
        threads = math.prod(_width(f, d, pure[n], widths) for n in thin)
        plan = _reduction(f, d, found[0], widths, racing, thin, threads)
        if plan is not None and racing and _attempt(f, index, lambda: plan(stage)):
            return
    tiled = [n for n in free if n in wide or n in thin and not _narrow(f, d, pure[n], widths)]
    if wide and _attempt(f, index, lambda: _grid(stage, tiled, TILE_2D)):
        return
    # an update whose RVars can't be split (not associative, though race-free: a copy
    # over an RDom) still marks them: blocks over them, its narrow dims as threads
    if wide and _attempt(f, index, lambda: _mark(stage, wide[-3:], thin[-3:])):
        return
    if free:
        _attempt(f, index, lambda: _grid(stage, free, TILE_2D))


def _large(rv) -> bool:
    """An RVar over a run-time extent (an image), not a clamp's few edge pixels."""
    return not isinstance(rv.extent, Const) and not any(
        b.op in ("min", "max") for b in collect((rv.extent,), Binary))


def _reduction(f, d, op: str, widths, racing, thin, threads):
    """The plan of a reduction over RVars `racing`: _scatter for a data-dependent add
    (into few cells the CUDA backend privatises it per block in shared memory, into
    many the adds rarely collide), else _factor where it writes its own pure dims and
    fixed points or few cells; None for anything else (a min/max into many cells)."""
    scatter = any(collect((a,), (RVar, Call)) for a in d.args)
    if scatter and op in ("+", "-") and not d.values[0].type.is_bool:
        return lambda stage: _scatter(stage, racing)
    cells = _cells(f, d, widths)
    if not scatter or cells is not None and cells <= RFACTOR_CELLS:
        return lambda stage: _factor(stage, racing, thin if threads <= MAX_GPU_THREADS
                                     else [])
    return None


def _attempt(f, index: int, plan) -> bool:
    """Run `plan` (directives on one definition); undo all of it if one is refused."""
    d = f.definitions[index]
    before = copy.deepcopy(d.schedule)
    try:
        plan()
        return True
    except errors.ScheduleError:
        d.schedule = before
        return False


def _grid(receiver, loops: list, tile2d) -> None:
    """Tile `loops` (names, outermost first) onto the launch grid (see the module
    doc); block loops outermost, then thread loops, then every other loop in order."""
    func, index = (receiver.func, receiver.index) if isinstance(receiver, Stage) else \
        (receiver, 0)
    s = stage_schedule(func, index)
    rest = [n for n in s.dims if n not in loops]
    receiver.reorder(*reversed(loops + rest))
    while len(loops) > 3:
        loops = [_fuse(receiver, loops[0], loops[1])] + loops[2:]
    if len(loops) == 3 and tile2d == TILE_2D:
        loops = [loops[0], _fuse(receiver, loops[1], loops[2])]
    x = loops[-1]
    if len(loops) == 1:
        receiver.gpu_tile(x, f"{x}.blk", f"{x}.thr", TILE_1D)
    else:
        y = loops[-2]
        receiver.gpu_tile(x, y, f"{x}.blk", f"{y}.blk", f"{x}.thr", f"{y}.thr", *tile2d)
        if len(loops) == 3:
            receiver.gpu_blocks(loops[0])
    order = ([n for n in s.dims if s.kinds.get(n) == "gpu_block"]
             + [n for n in s.dims if s.kinds.get(n) == "gpu_thread"])
    receiver.reorder(*reversed(order + [n for n in s.dims if n not in order]))


def _fuse(receiver, outer: str, inner: str) -> str:
    fused = f"{outer}.{inner}"
    receiver.fuse(inner, outer, fused)
    return fused


def _mark(stage, blocks: list, threads: list) -> None:
    """Loops `blocks` (outermost first) as gpu_blocks and `threads` as gpu_threads
    inside them, unsplit (their iterations stride over the grid); the rest inside."""
    s = stage_schedule(stage.func, stage.index)
    rest = [n for n in s.dims if n not in blocks and n not in threads]
    stage.reorder(*reversed(blocks + threads + rest))
    stage.gpu_blocks(*reversed(blocks))
    if threads:
        stage.gpu_threads(*reversed(threads))


def _cells(f, d, widths) -> int | None:
    """How many cells an update writes, where its left side is bounded by constants."""
    scope = _scope(d, {k: w for k in range(len(d.args)) if (w := _width(f, d, k, widths))})
    total = 1
    for a in d.args:
        if not collect((a,), (Var, RVar, Call)):
            continue  # a fixed point: one cell
        i = bounds_of(a, scope).simplified()
        if not (isinstance(i.min, Const) and isinstance(i.max, Const)):
            return None
        total *= int(i.max.value - i.min.value) + 1
    return total


def _factor(stage, rvars, thin) -> None:
    """A reduction into few cells: its RVars fused, split by CHUNK and factored; one
    partial per gpu_block iteration, the narrow pure dims `thin` that block's threads."""
    f = stage.func
    names = [rv.name for rv in rvars]
    fused = names[-1]
    for outer in reversed(names[:-1]):
        stage.fuse(fused, outer, f"{outer}.{fused}")
        fused = f"{outer}.{fused}"
    part, inner = f"{fused}.part", f"{fused}.in"
    stage.split(fused, f"{fused}.out", inner, CHUNK)
    stage.rfactor(f"{fused}.out", part)
    others = [n for n in stage_schedule(f, stage.index).dims
              if n not in thin and n not in (part, inner)]
    stage.reorder(*reversed([part] + thin + others + [inner]))
    stage.gpu_blocks(part)
    if thin:
        stage.gpu_threads(*reversed(thin))


def _scatter(stage, rvars) -> None:
    """A scatter into many cells: atomic adds, its wide RVars (not a few constant
    taps or corners) tiled, the others serial in each thread."""
    stage.atomic()
    wide = [rv.name for rv in rvars if not _small_constant_domain([rv], NARROW)]
    _grid(stage, wide[-3:] or [rv.name for rv in rvars][-3:], TILE_2D)
