"""What a schedule may do to a definition without changing its result.

`associative_op` recognises updates `f[args] = f[args] op e` (op in + - * min max,
e free of f) whose iterations may be regrouped (rfactor, private accumulators,
atomics). `race_reason` says why running a loop's iterations concurrently would
race, or None when each iteration writes its own locations and reads only them.
`gpu_problem` says why a definition's GPU loops can't form one CUDA launch grid.
"""

from __future__ import annotations

from ..ir.expr import Binary, Call, Cast, RVar, Var
from ..ir.visit import collect
from .state import GPU_KINDS

ASSOCIATIVE_OPS = ("+", "-", "*", "min", "max")
MAX_GPU_THREADS = 1024   # threads per block, every CUDA device
MAX_GPU_DIMS = 3         # .x .y .z of blockIdx and of threadIdx


def _self_calls(func, exprs) -> list[Call]:
    return [c for c in collect(tuple(exprs), Call) if c.callee is func]


def associative_op(func, definition) -> tuple[str, object] | None:
    """(op, e) when `definition` is `f[args] = f[args] op e`; None otherwise."""
    if len(definition.values) != 1:
        return None
    value = definition.values[0]
    if isinstance(value, Cast) and value.to == value.value.type:
        value = value.value
    if not isinstance(value, Binary) or value.op not in ASSOCIATIVE_OPS:
        return None
    here = Call(func, tuple(definition.args), 0)
    a, b = value.a, value.b
    if b is here and value.op != "-":
        a, b = b, a
    if a is not here or _self_calls(func, (b,) + tuple(definition.args)):
        return None
    return value.op, b


def race_reason(func, definition, origins: frozenset) -> str | None:
    """Why iterations of a loop over `origins` (original dim names) of this update race."""
    if len(func.definitions) and definition is func.definitions[0]:
        return None
    args = tuple(definition.args)
    bare = {a.name for a in args if isinstance(a, (Var, RVar))}
    reads = _self_calls(func, definition.values)
    for name in sorted(origins):
        if name not in bare:
            return (f"every iteration of '{name}' may write the same location "
                    f"{func.name}[{', '.join(str(a) for a in args)}]")
    dims = [k for k, a in enumerate(args) if isinstance(a, (Var, RVar)) and a.name in origins]
    for call in reads:
        if any(call.args[k] is not args[k] for k in dims):
            return (f"iterations read {func.name}[{', '.join(str(a) for a in call.args)}], "
                    "which other iterations write")
    return None


def lhs_is_scatter(definition) -> bool:
    """True when some left-side coordinate is data-dependent or mixes reduction vars."""
    return any(not isinstance(a, (Var, RVar)) for a in definition.args)


def gpu_problem(dims: list, kinds: dict, const_extent: dict) -> tuple[str, str] | None:
    """(why, fix) when the GPU loops of loops `dims` (outermost first) with `kinds` can't
    map onto a launch grid: every gpu_thread loop inside every gpu_block loop (thread
    loops without block loops are allowed: a producer computed inside a consumer's
    block loop, as in Halide, or one block of threads), at most
    MAX_GPU_DIMS loops of each kind, at most MAX_GPU_THREADS threads per block (the
    product of the thread loops' constant extents; unknown extents are checked at launch).
    None when they can, or when there are no GPU loops."""
    blocks = [n for n in dims if kinds.get(n) == "gpu_block"]
    threads = [n for n in dims if kinds.get(n) == "gpu_thread"]
    if threads and blocks and dims.index(threads[0]) < dims.index(blocks[-1]):
        return (f"gpu_block loop '{blocks[-1]}' would be inside gpu_thread loop "
                f"'{threads[0]}' (loops, outermost first: {', '.join(dims)})",
                "Put the gpu_blocks loops outside the gpu_threads loops (reorder(...)), "
                "or use gpu_tile(...)")
    for kind, loops in zip(GPU_KINDS, (blocks, threads)):
        if len(loops) > MAX_GPU_DIMS:
            return (f"it makes {len(loops)} {kind} loops ({', '.join(loops)}), more than "
                    f"the {MAX_GPU_DIMS} axes (x, y, z) a launch has",
                    "Fuse some of them first (fuse(...))")
    size = 1
    for n in threads:
        size *= const_extent.get(n, 1)
    if size > MAX_GPU_THREADS:
        shown = " * ".join(str(const_extent[n]) for n in threads if n in const_extent)
        return (f"its thread loops make {shown} = {size} threads per block, more than "
                f"the {MAX_GPU_THREADS} a GPU runs", "Use smaller thread tile factors")
    return None
