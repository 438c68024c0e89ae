"""The call graph of a pipeline: Funcs, inputs and Params reachable from outputs,
in realization order (every producer before its consumers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import errors
from .expr import Call, Expr, Extent
from .visit import collect


def definition_exprs(func) -> tuple[Expr, ...]:
    """Every expression of every definition of func, RDom bounds and predicates included."""
    out: list[Expr] = []
    for d in func.definitions:
        out.extend(d.args)
        out.extend(d.values)
        for r in d.rdoms:
            for lo, extent in r.bounds:
                out.extend((lo, extent))
            out.extend(r.predicates)
    return tuple(out)


def direct_callees(func) -> list:
    """Funcs and input buffers called by func's definitions (func itself excluded)."""
    found = []
    exprs = definition_exprs(func)
    for c in collect(exprs, Call):
        if c.callee is not func and all(c.callee is not f for f in found):
            found.append(c.callee)
    for e in collect(exprs, Extent):
        if all(e.buffer is not f for f in found):
            found.append(e.buffer)
    return found


@dataclass
class Graph:
    outputs: list
    funcs: list = field(default_factory=list)      # realization order
    inputs: list = field(default_factory=list)     # Buffers and ImageParams
    params: list = field(default_factory=list)     # Params
    consumers: dict = field(default_factory=dict)  # id(func) -> [consumer funcs]


def build_graph(outputs) -> Graph:
    """Depth-first post-order from the outputs; raises on undefined Funcs."""
    from .buffer import InputBuffer, Param
    from .func import Func
    g = Graph(list(outputs))
    visiting: set[int] = set()
    done: set[int] = set()

    def visit(f):
        if id(f) in done:
            return
        if id(f) in visiting:
            raise errors.DefinitionError(
                f"Can't realize Func '{f.name}': it calls itself through other Funcs. "
                "Only updates of a Func may refer to the Func itself.")
        if not f.definitions:
            raise errors.undefined_func(f.name, f.location)
        visiting.add(id(f))
        for callee in direct_callees(f):
            if isinstance(callee, Func):
                g.consumers.setdefault(id(callee), []).append(f)
                visit(callee)
            elif isinstance(callee, InputBuffer) and all(callee is not i for i in g.inputs):
                g.inputs.append(callee)
        visiting.discard(id(f))
        done.add(id(f))
        g.funcs.append(f)

    for out in outputs:
        if not isinstance(out, Func):
            raise errors.DefinitionError(f"Can't build a pipeline from {out!r}: outputs are Funcs.")
        visit(out)
    for f in g.funcs:
        for p in collect(definition_exprs(f), Param):
            if all(p is not q for q in g.params):
                g.params.append(p)
    return g
