"""Vector-Jacobian products of a pipeline as ordinary Funcs (what hg.torch's backward
op and hg.dask.vjp compile).

`vjp_funcs(outputs, wrt)` returns (seeds, grads): one seed per output, an ImageParam of
the output's type and dimensions (a Param for a 0-D output), and one Func per input
of `wrt` computing sum_i <seed_i, d out_i / d x> over the seed's window
(propagate_adjoints with an ImageParam seed: a block of an output adjoint contributes
only over the block it holds). Inputs the outputs do not depend on get zeros.
"""

from __future__ import annotations

from .. import errors
from ..autodiff.reverse import propagate_adjoints
from ..ir.buffer import ImageParam, Param
from ..ir.expr import Var
from ..ir.func import Func


def seed_for(f: Func, k: int):
    """The adjoint input of output `f` (the k-th of the pipeline)."""
    if len(f.value_types()) != 1:
        raise errors.interop_error(
            f"differentiate output '{f.name}'", "it is a tuple Func",
            "Make each tuple element an output Func of its own")
    if f.dimensions() == 0:
        return Param(f.type(), f"d_out{k}", 0)
    return ImageParam(f.type(), f.dimensions(), f"d_out{k}")


def vjp_funcs(outputs: list, wrt: list) -> tuple[list, list[Func]]:
    """(seeds, one gradient Func per input of `wrt`); see the module doc."""
    return vjp_parts(outputs, wrt)[:2]


def vjp_parts(outputs: list, wrt: list) -> tuple[list, list[Func], list]:
    """vjp_funcs' (seeds, grads) and the Derivative of each output they sum."""
    seeds = [seed_for(f, k) for k, f in enumerate(outputs)]
    derivatives = []
    for f, seed in zip(outputs, seeds):
        d = propagate_adjoints(f) if f.dimensions() == 0 else propagate_adjoints(f, seed)
        derivatives.append((d, seed if f.dimensions() == 0 else None))
    grads = []
    for x in wrt:
        n = 0 if isinstance(x, Param) else x.dimensions()
        dims = tuple(Var(f"_g{d}") for d in range(n))
        total = None
        for d, scale in derivatives:
            term = d[x][dims]
            term = term * scale if scale is not None else term
            total = term if total is None else total + term
        g = Func(f"grad_{x.name}")
        g[dims] = total
        grads.append(g)
    return seeds, grads, [d for d, _ in derivatives]
