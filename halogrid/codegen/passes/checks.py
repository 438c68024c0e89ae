"""IR checks between passes (HALOGRID_CHECK=1, always on under pytest).

Requires: a Lowered pipeline. Guarantees: raises InternalError, printing the loop
nest, when a Var is unbound or a buffer is accessed with the wrong arity.
"""

from __future__ import annotations

from ... import config, errors
from ..loop_plan import THREADS
from ..stmt import block, check
from .storage import input_storage_name


def check_stmt(lowered) -> None:
    if not config.check_enabled():
        return
    bound = {v.name for exts in lowered.bounds.out_extents.values() for v in exts}
    bound |= {v.name for mins in lowered.bounds.out_mins.values() for v in mins}
    bound.add(THREADS.name)  # a kernel argument (cpu.py)
    storages = {input_storage_name(i): i.dimensions() for i in lowered.graph.inputs}
    try:
        check(block(lowered.lets, lowered.body), bound, storages)
    except errors.InternalError as err:
        raise errors.InternalError(f"{err}\n--- loop nest ---\n{lowered.text()}") from None
