"""IR checks between passes (HALOGRID_CHECK=1, always on under pytest).

Requires: the LowerContext of a pipeline being lowered and the Stmt one pass made.
Guarantees: raises InternalError, naming the pass and printing the loop nest, when
a Var is unbound or a buffer is accessed with the wrong arity.
"""

from __future__ import annotations

from ... import config, errors
from ..stmt import Stmt, block, check, stmt_text
from ..target import THREADS
from .storage import input_storage_name


def check_stmt(ctx, lets: Stmt, s: Stmt, after: str) -> None:
    if not config.check_enabled():
        return
    b = ctx.bounds
    bound = {v.name for exts in b.out_extents.values() for v in exts}
    bound |= {v.name for mins in b.out_mins.values() for v in mins}
    bound.add(THREADS.name)  # a driver argument
    storages = {input_storage_name(i): i.dimensions() for i in ctx.graph.inputs}
    try:
        check(block(lets, s), bound, storages)
    except errors.InternalError as err:
        raise errors.InternalError(
            f"after {after}: {err}\n--- loop nest ---\n{stmt_text(block(lets, s))}") from None
