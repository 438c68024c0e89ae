"""The region of a producer needed by one iteration of a consumer's loop.

Used for compute_at/store_at: the producer's calls in the consumer's definition,
written in the consumer's loop variables, are bounded with ir/interval.bounds_of
over the loops inside the chosen level (the loops at and outside it are fixed),
then united with the footprint of the producer's own updates, and intersected
with the producer's whole-pipeline region (so split tails never compute, or read
inputs, beyond what the pipeline needs).
"""

from __future__ import annotations

from .. import errors
from ..ir.bounds import Region, footprint, merge
from ..ir.expr import Var
from ..ir.interval import Interval, bounds_of
from ..ir.simplify import simplify
from ..ir.types import INT32
from .stmt import Let


def local_region(func, stages: list, required: list[Interval], whole: Region,
                 tag: str) -> tuple[Region, list[Let]]:
    """Region Vars (named by `tag`) and their lets for `required` (see module doc)."""
    n = func.dimensions()
    prefix = f"{func.name}#{func.uid}.{tag}"
    names = ("req_min", "req_max", "min", "max", "extent")
    region = Region(*([Var(f"{prefix}.{w}.{d}", INT32) for d in range(n)] for w in names))
    lets = []
    for d, iv in enumerate(required):
        lets.append(Let(region.req_min[d], simplify(_max(iv.min, whole.req_min[d]))))
        lets.append(Let(region.req_max[d], simplify(_min(iv.max, whole.req_max[d]))))
    alloc = [Interval(region.req_min[d], region.req_max[d]) for d in range(n)]
    for s in stages[1:]:
        scope = {v: Interval(region.req_min[d], region.req_max[d]) for d, v in s.pure_dims}
        lhs = [bounds_of(a, scope) for a in s.args]
        if not all(iv.bounded for iv in lhs):
            raise errors.unbounded_index(func.name, func.name, 0)
        alloc = merge(alloc, lhs)
        own = footprint(func, s.exprs(), scope, func.name)
        if own is not None:
            alloc = merge(alloc, own)
    for d, iv in enumerate(alloc):
        lets.append(Let(region.min[d], simplify(_max(iv.min, whole.min[d]))))
        lets.append(Let(region.max[d], simplify(_min(iv.max, whole.max[d]))))
        lets.append(Let(region.extent[d], simplify(region.max[d] - region.min[d] + 1)))
    return region, lets


def _min(a, b):
    from ..ir.expr import Binary
    return Binary("min", a, b)


def _max(a, b):
    from ..ir.expr import Binary
    return Binary("max", a, b)
