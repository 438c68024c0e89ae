"""Build the loop nest of every stored Func from its Stages and regions.

Requires: Stages from passes/inline.py and regions from ir/bounds.py.
Guarantees: pure definitions loop over the allocation, updates' pure Vars over the
required region and RVars over their RDom (LAST dimension innermost, inside the pure
loops); values are written through Store with coordinates still un-offset (storage.py
turns them into in-buffer indices). Tuple values are computed before any is stored.
"""

from __future__ import annotations

from ...ir.bounds import Region, Stage
from ...ir.expr import Expr, RVar, Var
from ...ir.ops import binary
from ...ir.visit import substitute
from ..stmt import Allocate, For, IfThenElse, Let, Store, block


def storage_name(func, index: int) -> str:
    return f"{func.name}#{func.uid}.{index}"


def rvar_loop_var(rv: RVar) -> Var:
    return Var(f"{rv.name}#{id(rv.rdom)}")


def build_loops(funcs: list, stages: dict, regions: dict):
    """Allocate + loop nests for each stored Func, in realization order."""
    out = []
    for f in funcs:
        region: Region = regions[id(f)]
        for i, t in enumerate(f.value_types()):
            out.append(Allocate(storage_name(f, i), t, tuple(region.extent)))
        for stage in stages[id(f)]:
            out.append(_stage_loops(stage, region))
    return block(*out)


def _stage_loops(stage: Stage, region: Region):
    rv_map = {rv: rvar_loop_var(rv) for rv in stage.rvars}
    rename = (lambda e: substitute(e, rv_map)) if rv_map else (lambda e: e)
    args = tuple(rename(a) for a in stage.args)
    values = [rename(v) for v in stage.values]
    body = _stores(stage.func, args, values)
    if stage.predicates:
        cond = stage.predicates[0]
        for p in stage.predicates[1:]:
            cond = binary("&&", cond, p)
        body = IfThenElse(rename(cond), body)
    for rv in reversed(stage.rvars):
        body = For(rv_map[rv], rename(rv.min), rename(rv.extent), "serial", body)
    for d, var in reversed(stage.pure_dims):
        if stage.index == 0:
            lo, extent = region.min[d], region.extent[d]
        else:
            lo, extent = region.req_min[d], region.req_max[d] - region.req_min[d] + 1
        body = For(var, lo, extent, "serial", body)
    return body


def _stores(func, args, values: list[Expr]):
    if len(values) == 1:
        return Store(storage_name(func, 0), args, values[0])
    temps = [Var(f"{func.name}#{func.uid}.value{i}", v.type) for i, v in enumerate(values)]
    lets = [Let(t, v) for t, v in zip(temps, values)]
    stores = [Store(storage_name(func, i), args, t) for i, t in enumerate(temps)]
    return block(*lets, *stores)
