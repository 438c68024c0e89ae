"""Split a lowered body into CUDA kernels and the host statements that launch them.

Requires: a lowered body for the CUDA target (build_loops mapped `parallel` loops to
gpu_block and vectorized ones to serial: Target.loop_kind).
Guarantees: `outline(body, ctx)` returns host statements; every Load and Store runs
in a kernel (no host round trips), the host only allocates device buffers, fills
them, runs extern stages and launches:
  Let / Allocate / Fill / ExternCall   as on the CPU (the runtime's device versions);
  For / IfThenElse   a serial loop or branch whose range or condition reads no buffer,
                     around gpu loop nests: run by the host, launching per iteration;
  Launch(k)          ctx.kernels[k], a CudaKernel.
A top-level nest with gpu loops becomes one kernel: the gpu_block loops on its spine
(perfectly nested from the top, innermost = .x) are grid-strided loops over
blockIdx, each outermost chain of gpu_thread loops inside them block-strided loops
over threadIdx (innermost = .x), so any grid or block size computes every iteration
exactly once. Between the block loops and the thread loops ("block level") every
thread of a block runs the same statements: Lets and loops around thread loops as
they are, a statement that stores without thread loops on thread 0 only, and a
barrier follows each such statement where later ones of the block read what it
wrote. gpu loops elsewhere (nested in a thread loop, off the spine) run serially.
Other statements (serial loop nests, FoldPartials) become kernels too: a fold runs
one thread per output cell (partials summed in chunk order), the rest one thread.
A top-level Let that reads a buffer is recomputed inside each kernel that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .... import errors
from ....ir.expr import Binary, Const, Expr, Var
from ....ir.simplify import simplify
from ....ir.types import INT32
from ....ir.visit import collect
from ...outlining import as_fill, driver_can_run, flat, free_names
from ...stmt import (Allocate, AtomicAdd, Block, ExternCall, FoldPartials, For, IfThenElse,
                     Launch, Let, Load, Stmt, Store, block, exprs_of, stores_in,
                     walk)
from .bounds import upper_const
from .nodes import Barrier, OnFirstThread
from .privatise import privatise, scatter_target
from .scratch import to_scratch

MAX_THREADS = 1024
SPREAD = 128        # threads per block of a kernel whose schedule has block loops only
GPU_KINDS = ("gpu_block", "gpu_thread", "gpu_grid")
AXES = "xyz"


@dataclass
class CudaKernel:
    body: Stmt                  # loops with kinds block.<axis>, thread.<axis>, grid.x
    grid: list                  # per block axis (x first): the loop extent (host Expr)
    block: list                 # per thread axis (x first): threads, an int
    scalars: list = field(default_factory=list)
    storages: list = field(default_factory=list)
    writes: str = ""
    flat_threads: int = 0       # > 0: one grid-strided loop over blocks x threads
    flat_count: Expr | None = None  # ... of this many iterations
    scratches: list = field(default_factory=list)  # scratch.Scratch buffers it takes


def outline(body: Stmt, ctx) -> Stmt:
    return _Outliner(ctx.kernels).run(body)


class _Outliner:
    def __init__(self, kernels: list):
        self.kernels = kernels
        self.sunk: dict[str, Let] = {}    # buffer-reading top-level Lets, by var name
        self.allocations: dict = {}       # root buffers, by storage name

    def run(self, body: Stmt) -> Stmt:
        items: list = []
        pending: list = []
        allocations = self.allocations

        def flush() -> None:
            if pending:
                self.launch(items, self.kernel(block(*pending)))
                pending.clear()

        for s in flat(body):
            if isinstance(s, Allocate):
                allocations[s.storage] = s
            if (fill := as_fill(s, allocations)) is not None:
                items.append(fill)
            elif isinstance(s, Allocate):
                items.append(s)
            elif isinstance(s, Let) and self.host_can_run(s):
                items.append(s)
            elif isinstance(s, Let):
                self.sunk[s.var.name] = s
            elif isinstance(s, ExternCall) and self.host_can_run(s):
                flush()
                items.append(s)
            elif isinstance(s, FoldPartials) and self.host_can_run(s):
                flush()
                self.launch(items, self.kernel(_fold_nest(s), flat_threads=256))
            elif isinstance(s, For) and s.kind == "gpu_grid":
                flush()
                self.launch(items, self.kernel(replace(s, kind="grid.x"), flat_threads=256))
            elif _has_gpu_loop(s) and isinstance(s, For) and s.kind in GPU_KINDS:
                flush()
                self.launch(items, self.kernel(s))
            elif _has_gpu_loop(s) and isinstance(s, (For, IfThenElse)) and \
                    self.host_can_run(s):
                flush()
                items.append(self.host_control(s))
            else:
                pending.append(s)
        flush()
        return block(*items) if items else Block(())

    def host_can_run(self, s: Stmt) -> bool:
        return driver_can_run(s, set(self.sunk))

    def host_control(self, s: Stmt) -> Stmt:
        if isinstance(s, For):
            return replace(s, kind="serial", body=self.run(s.body))
        return IfThenElse(s.cond, self.run(s.then_case),
                          self.run(s.else_case) if s.else_case else None)

    def launch(self, items: list, kernel: CudaKernel) -> None:
        self.kernels.append(kernel)
        items.append(Launch(len(self.kernels) - 1))

    def kernel(self, nest: Stmt, flat_threads: int = 0) -> CudaKernel:
        nest = self.with_sunk_lets(nest)
        scalars, storages = free_names(nest, set())
        writes = next((t.storage for t in walk(nest) if isinstance(t, (Store, AtomicAdd))), "")
        if flat_threads:
            loop = nest.stmts[-1] if isinstance(nest, Block) else nest
            return CudaKernel(nest, [], [], scalars, storages, writes, flat_threads,
                              loop.extent)
        grid: list = []
        body = _map_blocks(nest, grid)
        threads: list = [[], [], []]  # per axis: the thread loops' constant bounds or None
        lets = {t.var.name: t.value for t in walk(nest) if isinstance(t, Let)}
        body = _map_threads(body, threads, lets)
        host = {v.name for v in scalars if isinstance(v, Var)}
        body, scratches = to_scratch(body, host, lets)
        storages += [sc.storage for sc in scratches]
        if grid and not _has_threads(body):  # one thread per block would idle the GPU
            body = _spread(body)
            grid[0] = simplify((grid[0] + SPREAD - 1) / SPREAD)
            threads[0].append(SPREAD)
        elif grid or _has_threads(body):
            body = _block_level(body)
            target = scatter_target(body, self.allocations)
            if target is not None:
                body = privatise(body, target)
                scalars, _ = free_names(block(nest, target), set())
        body = _sized_allocations(body, {})
        return CudaKernel(body, grid, _block_shape(threads), scalars, storages, writes,
                          scratches=scratches)

    def with_sunk_lets(self, nest: Stmt) -> Stmt:
        """nest preceded by the sunk Lets it reads (transitively, in program order)."""
        needed: list[Let] = []
        todo = [v.name for v in collect(_all_exprs(nest), Var)]
        seen: set = set()
        while todo:
            name = todo.pop()
            if name in seen or name not in self.sunk:
                continue
            seen.add(name)
            let = self.sunk[name]
            needed.append(let)
            todo += [v.name for v in collect((let.value,), Var)]
        order = list(self.sunk)
        needed.sort(key=lambda let: order.index(let.var.name))
        return block(*needed, nest)


def _all_exprs(s: Stmt) -> list[Expr]:
    return [e for t in walk(s) for e in exprs_of(t)]


def _has_gpu_loop(s: Stmt) -> bool:
    return any(isinstance(t, For) and t.kind in GPU_KINDS for t in walk(s))


def _fold_nest(fold: FoldPartials) -> Stmt:
    """The fold as one flattened loop over its window (each iteration one output cell,
    its partials folded in chunk order: deterministic), kind grid.x."""
    count = Const(INT32, 1)
    for e in fold.extents:
        count = simplify(count * e)
    cell = Var(f"{fold.partial}.cell", INT32)
    coords, rest = [], cell
    for e in reversed(fold.extents):
        coords.append(simplify(rest % e))
        rest = simplify(rest / e)
    coords.reverse()
    here = tuple(simplify(i + c) for i, c in zip(fold.index, coords))
    chunk = Var(f"{fold.partial}.chunk", INT32)
    there = (chunk,) + tuple(simplify(s + c) for s, c in zip(fold.start, coords))
    update = Store(fold.storage, here, Binary(fold.op, Load(fold.storage, here, fold.type),
                                              Load(fold.partial, there, fold.type)))
    inner = For(chunk, Const(INT32, 0), fold.chunks, "serial", update)
    return For(cell, Const(INT32, 0), count, "grid.x", inner)


def _map_blocks(s: Stmt, grid: list) -> Stmt:
    """Number the gpu_block loops of the spine (innermost = x); record their extents."""
    if isinstance(s, For) and s.kind == "gpu_block" and len(grid) < 3:
        depth = len(grid)
        grid.append(None)
        body = _map_blocks(s.body, grid)
        axis = len(grid) - 1 - depth
        grid[axis] = s.extent
        return replace(s, kind=f"block.{AXES[axis]}", body=body)
    if isinstance(s, Block) and s.stmts and all(isinstance(t, Let) for t in s.stmts[:-1]):
        return Block(s.stmts[:-1] + (_map_blocks(s.stmts[-1], grid),))
    return s


def _spread(s: Stmt) -> Stmt:
    """The x block loop of a kernel without thread loops strided over every thread of
    the grid instead (kind spread.x): its iterations are independent, as a block loop's."""
    if isinstance(s, For) and s.kind == "block.x":
        return replace(s, kind="spread.x")
    if isinstance(s, For):
        return replace(s, body=_spread(s.body))
    if isinstance(s, Block):
        return Block(s.stmts[:-1] + (_spread(s.stmts[-1]),))
    return s


def _map_threads(s: Stmt, threads: list, lets: dict) -> Stmt:
    """Number each outermost chain of gpu_thread loops (innermost = x), recording each
    one's constant extent bound (or None) in `threads` per axis; gpu loops inside a
    thread loop or outside the mapped ones run serially."""
    if isinstance(s, For) and s.kind == "gpu_thread":
        return _thread_chain(s, threads, [], lets)
    if isinstance(s, For) and s.kind == "gpu_block":
        return replace(s, kind="serial", body=_map_threads(s.body, threads, lets))
    if isinstance(s, For):
        return replace(s, body=_map_threads(s.body, threads, lets))
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _map_threads(s.then_case, threads, lets),
                          _map_threads(s.else_case, threads, lets) if s.else_case else None)
    if isinstance(s, Block):
        return Block(tuple(_map_threads(c, threads, lets) for c in s.stmts))
    return s


def _thread_chain(s: For, threads: list, chain: list, lets: dict) -> Stmt:
    """Map s and the gpu_thread loops nested right inside it (through Lets and guards
    without an else, which licm puts around inner loops) onto thread axes."""
    depth = len(chain)
    chain.append(s)
    inner = _next_in_chain(s.body)
    if inner is not None and len(chain) < 3:
        body = _replace_in_chain(s.body, _thread_chain(inner, threads, chain, lets))
    else:
        body = _serial_gpu(s.body)
    axis = len(chain) - 1 - depth
    threads[axis].append(upper_const(s.extent, lets))
    return replace(s, kind=f"thread.{AXES[axis]}", body=body)


def _next_in_chain(s: Stmt) -> For | None:
    if isinstance(s, For):
        return s if s.kind == "gpu_thread" else None
    if isinstance(s, Block) and s.stmts and all(isinstance(t, Let) for t in s.stmts[:-1]):
        return _next_in_chain(s.stmts[-1])
    if isinstance(s, IfThenElse) and s.else_case is None:
        return _next_in_chain(s.then_case)
    return None


def _replace_in_chain(s: Stmt, mapped: For) -> Stmt:
    """s with its chain's next loop (_next_in_chain) replaced by `mapped`, and every
    statement beside it, Lets only, kept."""
    if isinstance(s, For):
        return mapped
    if isinstance(s, Block):
        return Block(s.stmts[:-1] + (_replace_in_chain(s.stmts[-1], mapped),))
    return IfThenElse(s.cond, _replace_in_chain(s.then_case, mapped))


def _serial_gpu(s: Stmt) -> Stmt:
    """s with every gpu loop serial (it runs inside one thread)."""
    if isinstance(s, For):
        kind = "serial" if s.kind in GPU_KINDS else s.kind
        return replace(s, kind=kind, body=_serial_gpu(s.body))
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _serial_gpu(s.then_case),
                          _serial_gpu(s.else_case) if s.else_case else None)
    if isinstance(s, Block):
        return Block(tuple(_serial_gpu(c) for c in s.stmts))
    return s


def _sized_allocations(s: Stmt, lets: dict) -> Stmt:
    """s with every Allocate's extents replaced by constant upper bounds (a buffer
    in a kernel has a constant size); `lets` collects the Lets seen, in order."""
    if isinstance(s, Let):
        lets[s.var.name] = s.value
        return s
    if isinstance(s, Allocate):
        sizes = []
        for e in s.extents:
            bound = upper_const(e, lets)
            sizes.append(Const(INT32, max(bound, 1)) if bound is not None else e)
        return Allocate(s.storage, s.type, tuple(sizes))
    if isinstance(s, For):
        return replace(s, body=_sized_allocations(s.body, lets))
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _sized_allocations(s.then_case, lets),
                          _sized_allocations(s.else_case, lets) if s.else_case else None)
    if isinstance(s, Block):
        return Block(tuple(_sized_allocations(c, lets) for c in s.stmts))
    return s


DEFAULT_THREADS = (128, 8, 4)  # per axis, where no thread loop's extent has a bound


def _block_shape(bounds: list) -> list:
    """Threads per axis: the largest constant bound of the axis's thread loops (the
    default where none has one), the product at most MAX_THREADS (halving the widest;
    the loops stride, so any shape is correct), trailing 1s dropped."""
    threads = []
    for axis, found in enumerate(bounds):
        known = [b for b in found if b is not None]
        size = max(known) if known else (DEFAULT_THREADS[axis] if found else 1)
        threads.append(max(1, min(size, MAX_THREADS)))
    while threads[0] * threads[1] * threads[2] > MAX_THREADS:
        widest = threads.index(max(threads))
        threads[widest] = (threads[widest] + 1) // 2
    while len(threads) > 1 and threads[-1] == 1:
        threads.pop()
    return threads


def _is_thread_loop(s: Stmt) -> bool:
    return isinstance(s, For) and s.kind.startswith("thread.")


def _has_threads(s: Stmt) -> bool:
    return any(_is_thread_loop(t) for t in walk(s))


def _block_level(s: Stmt) -> Stmt:
    """The statements inside the block loops: see the module doc. A block loop whose
    body synchronises ends each iteration with a barrier too: a block running several
    iterations must not overwrite shared memory that its threads still read."""
    if isinstance(s, For) and s.kind.startswith("block."):
        body = _block_level(s.body)
        if any(isinstance(t, Barrier) for t in walk(body)):
            body = block(body, Barrier())
        return replace(s, body=body)
    if isinstance(s, Block) and s.stmts and _is_block_loop(s.stmts[-1]):
        return Block(s.stmts[:-1] + (_block_level(s.stmts[-1]),))
    return _block_body(s)


def _is_block_loop(s: Stmt) -> bool:
    return isinstance(s, For) and s.kind.startswith("block.")


def _block_body(s: Stmt) -> Stmt:
    if _is_thread_loop(s) or not _has_threads(s) and not stores_in(s):
        return s
    if not _has_threads(s):
        return OnFirstThread(s)
    if isinstance(s, For):
        return replace(s, body=_block_body(s.body))
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _block_body(s.then_case),
                          _block_body(s.else_case) if s.else_case else None)
    if isinstance(s, Block):
        out: list = []
        for i, c in enumerate(s.stmts):
            out.append(_block_body(c))
            later = s.stmts[i + 1:]
            if stores_in(c) and any(_reads_any(t, stores_in(c)) or stores_in(t)
                                    for t in later):
                out.append(Barrier())
        return Block(tuple(out))
    raise errors.InternalError(f"unexpected {type(s).__name__} at gpu block level")


def _reads_any(s: Stmt, storages: set) -> bool:
    return any(load.storage in storages for load in collect(_all_exprs(s), Load))
