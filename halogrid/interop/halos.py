"""Halos of a blocked pipeline, from halogrid's own bounds inference.

`halos(outputs, images, params)`: per image input (by name), per dimension, how many
pixels before and after an output block the block's input window must reach, so that
computing the block from that window (origins=) gives the whole-image values.

How: the pipeline's bounds are inferred with every boundary-condition Func stored (so
its region is the coordinates the condition is asked for, before it maps them into the
image) and evaluated at two interior probe blocks of two image sizes; a footprint that
differs between the probes (a downsampling, a reduction over the whole image) is not a
halo and is refused. At the image's true edges the window is cut off at the edge
(dask's boundary='none'): a clamping condition maps outside coordinates to edge pixels
the window holds; a mirroring one maps them up to a halo's distance back inside, so an
image read through a mirror gets the larger of its two halos (plus one) on both sides.
"""

from __future__ import annotations

from .. import errors
from ..codegen.passes.inline import inline
from ..ir import bounds
from ..ir.buffer import Param
from ..ir.expr import Const, Extent, Var, WindowEdge
from ..ir.graph import build_graph
from ..ir.simplify import simplify
from ..ir.types import INT32
from ..ir.visit import mutate_with
from ..schedule.defaults import is_stored

_PROBES = ((1 << 20, 1 << 19, 61), (1 << 21, (1 << 19) + 1234, 97))  # (image, origin, extent)
_MIRRORS = ("mirror_image", "mirror_interior")


def halos(outputs: list, images: list[str], params: dict) -> dict[str, list[tuple[int, int]]]:
    """{image name: [(before, after)] per dimension}; see the module doc."""
    g = build_graph(outputs)
    if any(f.dimensions() == 0 for f in g.outputs):
        raise errors.interop_error("run a 0-D output block by block", "it reduces the whole "
                                   "image", "Compute it from the blocked outputs instead")
    boundary = [f for f in g.funcs if hasattr(f, "boundary_of")]
    stored = [f for f in g.funcs if is_stored(f, g.outputs) or hasattr(f, "boundary_of")]
    stages = inline(g.funcs, {id(f) for f in stored})
    b = bounds.infer(stored, stages, g.outputs, g.inputs)
    by_name = {str(i.name): i for i in g.inputs}
    results = [_probe(g, b, boundary, by_name, images, params, probe) for probe in _PROBES]
    if results[0] != results[1]:
        raise errors.interop_error(
            "run the pipeline block by block", "its input footprint is not a fixed halo around "
            f"each block (probes gave {results[0]} and {results[1]})", "Block only pipelines "
            "whose outputs read their inputs at fixed offsets (stencils, local warps)")
    mirrored = {str(f.boundary_of[0].name) for f in boundary if f.boundary_of[1] in _MIRRORS}
    return {name: [(h + 1, h + 1) for h in map(max, halo)] if name in mirrored else halo
            for name, halo in results[0].items()}


def _probe(g, b, boundary, by_name, images, params, probe) -> dict:
    size, origin, extent = probe
    env = {}
    for f in g.outputs:
        for v in b.out_mins[id(f)]:
            env[v] = Const(INT32, origin)
        for v in b.out_extents[id(f)]:
            env[v] = Const(INT32, extent)
    leaves = {Extent: lambda e: Const(INT32, size),
              WindowEdge: lambda e: Const(INT32, 0 if e.end == "min" else size - 1),
              Param: lambda p: _param_const(p, params)}
    for var, value in b.lets:
        env[var] = _evaluate(value, env, leaves)
    reach = {name: [(0, 0)] * by_name[name].dimensions() for name in images}

    def widen(name, d, lo, hi):
        if name in reach:
            before, after = reach[name][d]
            reach[name][d] = (max(before, origin - lo), max(after, hi - (origin + extent - 1)))
    boundary_ids = {id(f) for f in boundary}
    for consumer, inp, d, iv in b.input_reads:
        if id(consumer) not in boundary_ids:
            widen(str(inp.name), d, _int(iv.min, env, leaves), _int(iv.max, env, leaves))
    for f in boundary:
        region, source = b.regions.get(id(f)), f.boundary_of[0]
        if region is None:
            continue
        for d in range(f.dimensions()):
            widen(str(source.name), d, _int(region.req_min[d], env, leaves),
                  _int(region.req_max[d], env, leaves))
    return reach


def _param_const(p, params: dict):
    value = params.get(str(p.name), p.value())
    if value is None:
        raise errors.missing_input(str(p.name), sorted(params))
    return Const(p.type, p.type.dtype.type(value).item())


def _evaluate(e, env: dict, leaves: dict):
    rules = {Var: lambda v: env.get(v), **leaves}
    return simplify(mutate_with(e, rules))


def _int(e, env, leaves) -> int:
    value = _evaluate(e, env, leaves)
    if not isinstance(value, Const):
        raise errors.InternalError(f"halo bound {e} did not evaluate to a constant: {value}")
    return int(value.value)
