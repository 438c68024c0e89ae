"""THE ordered list of lowering passes: Pipeline outputs -> loop-nest Stmt.

Read top to bottom: each line is one pass, followed by a trace of its result.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config
from ..ir import bounds
from ..ir.graph import Graph, build_graph
from ..schedule.defaults import is_stored
from .passes.build_loops import build_loops
from .passes.checks import check_stmt
from .passes.cse import cse
from .passes.dedupe_lets import dedupe_lets
from .passes.extern_stages import extern_stages
from .passes.inline import inline
from .passes.licm import licm
from .passes.partition_loops import partition_loops
from .passes.simplify_stmt import simplify_stmt
from .passes.storage import flatten_storage
from .stmt import Let, Stmt, block, stmt_text


@dataclass
class Lowered:
    """Everything the emitters need: the loop nest, the bounds lets, the interface."""

    graph: Graph
    stored: list            # stored Funcs, realization order
    bounds: bounds.BoundsResult
    lets: Stmt              # bounds lets, run before the body (and by the bounds function)
    body: Stmt              # allocations and loop nests

    @property
    def outputs(self) -> list:
        return self.graph.outputs

    def text(self) -> str:
        return stmt_text(block(self.lets, self.body))


def lower(outputs) -> Lowered:
    g = build_graph(outputs)
    config.trace(3, "realization order", lambda: ", ".join(f.name for f in g.funcs))
    stored = [f for f in g.funcs if is_stored(f, g.outputs)]
    stored_ids = {id(f) for f in stored}
    stages = inline(g.funcs, stored_ids)
    b = bounds.infer(stored, stages, g.outputs, g.inputs)  # needs inlined stages
    lets = block(*[Let(v, e) for v, e in b.lets])
    config.trace(3, "after bounds", lambda: stmt_text(lets))
    s, storage_regions = build_loops(stored, stages, b.regions, b.lets, g.outputs)
    config.trace(3, "after build_loops", lambda: stmt_text(s))
    s = extern_stages(s, g.funcs, storage_regions)  # right after build_loops: its stand-ins
    config.trace(3, "after extern_stages", lambda: stmt_text(s))
    s = partition_loops(s)  # before storage: clamps are still in Call coordinates
    config.trace(3, "after partition_loops", lambda: stmt_text(s))
    s = flatten_storage(s, stored, storage_regions)  # after build_loops: Stores exist
    config.trace(3, "after flatten_storage", lambda: stmt_text(s))
    s = simplify_stmt(s)
    config.trace(3, "after simplify_stmt", lambda: stmt_text(s))
    s = cse(s)  # after the others: they match on whole expressions
    config.trace(3, "after cse", lambda: stmt_text(s))
    s = licm(s)  # after cse: invariant subexpressions are Lets by now
    config.trace(3, "after licm", lambda: stmt_text(s))
    s = dedupe_lets(s)  # after licm: it hoists sibling loops' Lets side by side
    config.trace(3, "after dedupe_lets", lambda: stmt_text(s))
    lowered = Lowered(g, stored, b, lets, s)
    check_stmt(lowered)
    config.trace(2, "loop nest", lowered.text)
    return lowered
