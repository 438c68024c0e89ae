"""Extern stages (ir/extern.py) become ExternCall statements that the driver runs.

Requires: build_loops' output: every root Func's Allocate and loop nests at the top
level, in realization order, and the storage regions of root Funcs.
Guarantees: the Allocate and the stand-in loop nest of each extern stage are replaced
by one ExternCall where the loop nest was (after its producers, before its
consumers), so no loop computes an extern's storage; the k-th extern of `funcs`
(the pipeline's, realization order) is stage number k. Raises ScheduleError when an
extern stage, or a Func it reads, is not computed at root (its function reads and
returns whole buffers).
"""

from __future__ import annotations

from ... import errors
from ...ir.buffer import InputBuffer
from ...ir.expr import WindowEdge
from ...ir.extern import extern_funcs
from ...schedule.defaults import schedule_of
from ..names import storage_name
from ..stmt import Allocate, Block, ExternCall, Stmt, block, stores_in
from .storage import input_storage_name


def extern_stages(s: Stmt, ctx) -> Stmt:
    funcs, storage_regions = ctx.graph.funcs, ctx.storage_regions
    externs = extern_funcs(funcs)
    if not externs:
        return s
    for f in externs:
        _check_root(f, f, "it is an extern stage, computed by Python code into a root buffer")
        for inp in f.extern.inputs:
            if not isinstance(inp, InputBuffer):
                _check_root(inp, f, f"extern stage '{f.extern.name}' reads it as one buffer")
    calls = {storage_name(f, 0): _call(k, f, storage_regions) for k, f in enumerate(externs)}
    out = []
    for t in (s.stmts if isinstance(s, Block) else (s,)):
        if isinstance(t, Allocate) and t.storage in calls:
            continue
        written = stores_in(t)
        if written and written <= calls.keys():
            out.extend(calls.pop(name) for name in sorted(written) if name in calls)
            continue
        out.append(t)
    if calls:
        raise errors.InternalError(f"no stand-in loop nest for extern storage {sorted(calls)}")
    return block(*out)


def _check_root(func, stage, why: str) -> None:
    sched = schedule_of(func)
    if sched.compute not in (None, "root") or sched.store not in (None, "root"):
        directive = "compute_at" if "at" in (sched.compute, sched.store) else "compute_inline"
        raise errors.schedule_error(func.name, directive, why,
                                    "Remove it: extern stages and their Func inputs are "
                                    "computed at root")


def _call(k: int, f, storage_regions: dict) -> ExternCall:
    stage = f.extern
    region = storage_regions[id(f)]
    box = stage.call_box or tuple(zip(region.min, region.extent))
    inputs = []
    for inp, b in zip(stage.inputs, stage.boxes):
        if isinstance(inp, InputBuffer):
            name = input_storage_name(inp)
            origin = tuple(WindowEdge(inp, d, "min") for d in range(inp.dimensions()))
        else:
            name, origin = storage_name(inp, 0), tuple(storage_regions[id(inp)].min)
        inputs.append((name, origin) + _split(b))
    return ExternCall(storage_name(f, 0), k, stage.type, tuple(region.min),
                      tuple(region.extent), *_split(box), tuple(inputs))


def _split(box) -> tuple[tuple, tuple]:
    """((min, extent), ...) -> ((mins), (extents))."""
    return tuple(m for m, _ in box), tuple(x for _, x in box)
