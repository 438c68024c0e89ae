"""Numba helpers that generated code imports: Halide integer division and modulo,
and the CPU atomic add (an llvmlite `atomicrmw`).

Invariants: _hg_div(a, b) rounds towards -inf for b > 0 and towards +inf for b < 0
(Euclidean), _hg_mod(a, b) is in [0, |b|); both give 0 for b == 0, as Halide does.
They are for signed operands only: pyemit emits plain // and % for unsigned ones (the
`q += 1` here would make Numba type an unsigned quotient as float64).
"""

from __future__ import annotations

from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@njit(cache=True, inline="always")
def _hg_div(a, b):
    if b == 0:
        return a - a
    q = a // b
    if b < 0 and q * b != a:
        q += 1
    return q


@njit(cache=True, inline="always")
def _hg_mod(a, b):
    if b == 0:
        return a - a
    r = a % b
    if r < 0:
        r -= b
    return r


@intrinsic
def _hg_atomic_add(typingctx, array, index, value):
    """array[index] += value as one LLVM `atomicrmw add/fadd` (monotonic ordering):
    parallel scatter-adds (histograms, gradients of gathers) without a race.
    `index` is a tuple of integers, one per dimension, already in bounds."""
    if not isinstance(array, types.Array) or not isinstance(index, types.BaseTuple):
        return None
    dtype = array.dtype
    if not isinstance(dtype, (types.Integer, types.Float)):
        return None

    def codegen(context, builder, signature, args):
        aryty, idxty, valty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        raw = cgutils.unpack_tuple(builder, args[1], count=len(idxty))
        indices = [context.cast(builder, i, t, types.intp) for i, t in zip(raw, idxty)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, indices, wraparound=False)
        val = context.cast(builder, args[2], valty, dtype)
        op = "fadd" if isinstance(dtype, types.Float) else "add"
        builder.atomic_rmw(op, ptr, val, "monotonic")
        return context.get_dummy_value()

    return types.void(array, index, value), codegen
