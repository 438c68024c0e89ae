"""Closed-form forward regions: where each Func of the forward pipeline is evaluated
when the loss is computed, as Exprs of input extents, Params and the seed's window.

Invariant: the ranges equal what codegen's bounds inference would compute with every
Func stored; adjoint contributions are guarded by them so that adjoints vanish outside
the region the loss reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import bounds
from ..ir.simplify import simplify
from ..ir.visit import substitute


@dataclass
class Range:
    min: list    # per dimension
    max: list

    def extent(self, d: int):
        return simplify(self.max[d] - self.min[d] + 1)


@dataclass
class ForwardRegions:
    required: dict   # id(func) -> Range the consumers need (updates' pure loops)
    allocated: dict  # id(func) -> Range incl. update footprints (the pure definition's loops)

    def of_stage(self, func, index: int) -> Range:
        return (self.allocated if index == 0 else self.required)[id(func)]


def forward_regions(graph, seed_region: list, routed: set = frozenset()) -> ForwardRegions:
    """Regions of every Func of `graph` (one output, the loss) in closed form;
    `seed_region`: the loss's region, (min, extent) per dimension. The boundary
    conditions in `routed` (invert.routed_boundaries) are inlined, as their adjoints
    are: they get no region, and what they wrap is bounded by their clamps."""
    funcs = [f for f in graph.funcs if id(f) not in routed]
    stages = {id(f): bounds.stages_of(f) for f in funcs}
    result = bounds.infer(funcs, stages, graph.outputs, graph.inputs)
    env: dict = {}
    for f in graph.outputs:
        for d, (lo, extent) in enumerate(seed_region):
            env[result.out_mins[id(f)][d]] = lo
            env[result.out_extents[id(f)][d]] = extent
    for var, value in result.lets:
        env[var] = simplify(substitute(value, env))
    required, allocated = {}, {}
    for f in funcs:
        r = result.regions[id(f)]
        required[id(f)] = Range([env[v] for v in r.req_min], [env[v] for v in r.req_max])
        allocated[id(f)] = Range([env[v] for v in r.min], [env[v] for v in r.max])
    return ForwardRegions(required, allocated)
