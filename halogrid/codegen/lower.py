"""THE ordered list of lowering passes: Pipeline outputs + Target -> Module.

Read top to bottom: each line is one pass `pass(stmt, ctx) -> Stmt`, followed by a
trace of its result and, under HALOGRID_CHECK, the Stmt checker. Outlining is last:
it splits the loop nest into host statements and the kernels they launch, the one
pass whose rules are the backend's (backends/<target>/outline.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
from .stmt import Block, Let, Stmt, block, stmt_text
from .target import Target, get_target


@dataclass
class LowerContext:
    """What the passes share: the target, the graph and its bounds; build_loops adds
    the storage regions, outlining the kernels."""

    target: Target
    graph: Graph
    stored: list                    # stored Funcs, realization order
    stages: dict                    # id(func) -> its inlined Stages
    bounds: bounds.BoundsResult
    storage_regions: dict = field(default_factory=dict)
    kernels: list = field(default_factory=list)


@dataclass
class Module:
    """A lowered pipeline: the bounds lets, the loop nest before outlining (what
    print_loop_nest shows), and the host statements with the kernels they launch."""

    target: Target
    graph: Graph
    stored: list
    bounds: bounds.BoundsResult
    lets: Stmt              # bounds lets, run before the body (and by the bounds function)
    body: Stmt              # allocations and loop nests
    host: Stmt              # body outlined: host statements, Launch(k) of kernels[k]
    kernels: list

    @property
    def outputs(self) -> list:
        return self.graph.outputs

    def text(self) -> str:
        return stmt_text(block(self.lets, self.body))


def _outliner(target: Target):
    if target.is_gpu:
        from .backends.cuda.outline import outline
    else:
        from .backends.cpu.outline import outline
    return outline


def lower(outputs, target: "str | Target" = "cpu") -> Module:
    target = get_target(target)
    g = build_graph(outputs)
    config.trace(3, "realization order", lambda: ", ".join(f.name for f in g.funcs))
    stored = [f for f in g.funcs if is_stored(f, g.outputs)]
    stages = inline(g.funcs, {id(f) for f in stored})
    b = bounds.infer(stored, stages, g.outputs, g.inputs)  # needs inlined stages
    ctx = LowerContext(target, g, stored, stages, b)
    lets = block(*[Let(v, e) for v, e in b.lets])
    config.trace(3, "after bounds", lambda: stmt_text(lets))

    def run(pass_, s: Stmt, check: bool = True) -> Stmt:
        s = pass_(s, ctx)
        config.trace(3, f"after {pass_.__name__}", lambda: stmt_text(s))
        if check:
            check_stmt(ctx, lets, s, pass_.__name__)
        return s

    s = run(build_loops, Block(()), check=False)  # extern stand-ins until the next pass
    s = run(extern_stages, s)    # right after build_loops: its stand-ins
    s = run(partition_loops, s)  # before storage: clamps are still in Call coordinates
    s = run(flatten_storage, s)  # after build_loops: Stores exist
    s = run(simplify_stmt, s)
    s = run(cse, s)              # after the others: they match on whole expressions
    s = run(licm, s)             # after cse: invariant subexpressions are Lets by now
    s = run(dedupe_lets, s)      # after licm: it hoists sibling loops' Lets side by side
    body = s
    host = run(_outliner(target), block(s))  # last: host statements + ctx.kernels
    module = Module(target, g, stored, b, lets, body, host, ctx.kernels)
    config.trace(2, "loop nest", module.text)
    return module
