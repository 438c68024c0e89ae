"""User-given adjoints: `hg.custom_adjoint(f, rule)` and the vjp of `hg.extern` stages.

`hg.custom_adjoint(f, lambda d_f: {g: adjoint_of_g, ...})` replaces what f sends to
the Funcs and inputs it reads: during `propagate_adjoints`, once d_f (the adjoint of f
after all its updates; a tuple of Funcs for a tuple Func) is assembled, `rule(d_f)`
returns a dict mapping Funcs, Buffers, ImageParams or Params that f reads, directly or
through other Funcs, to Funcs over their dimensions (a Param's is 0-D) of their type.
Each is added to that key's adjoint in place of everything derived through f's
definitions. Keys the rule leaves out get nothing through f: the rule declares f
constant in them (a normalisation whose statistics are treated as constants); a
typo'd key is still an error, as is an adjoint of the wrong dimensions or type
(DifferentiationError naming f). The stage adjoints d[f, i] of such a Func are all d[f].

Funcs read only behind such a Func (a softmax's exponentials and sums) receive no
adjoint through it: where theirs is zero, they send nothing (not even zeros), so a
rule can stand in for definitions that reverse mode cannot differentiate.

An extern stage sends through its vjp (ir/extern.py): one extern Func per float input
(`vjp_stage`), over the region where the forward pass computed the stage; without a
vjp, differentiating through it is an error naming the stage.
"""

from __future__ import annotations

from typing import Callable

from .. import errors
from ..ir.buffer import InputBuffer, Param
from ..ir.expr import Call, Const
from ..ir.extern import vjp_stage
from ..ir.func import Func
from ..ir.graph import build_graph
from .invert import input_dims, input_type, producer_vars


def custom_adjoint(f: Func, rule: Callable[[Func], dict]) -> Func:
    """Use `rule(d_f) -> {input: adjoint Func}` for f's inputs (module doc); returns f.

    >>> def softmax_rule(d_s):             # d x = s * (d s - sum(d s * s))
    ...     d_x = hg.Func("d_x")
    ...     d_x[x] = s[x] * (d_s[x] - dot[()])
    ...     return {inp: d_x}
    >>> hg.custom_adjoint(s, softmax_rule)
    """
    if not isinstance(f, Func) or not f.defined():
        raise errors.not_differentiable(f"{f!r} with a custom adjoint", "it is not a "
                                        "defined Func", "Define the Func first, then attach "
                                        "hg.custom_adjoint(f, rule)")
    if not callable(rule):
        raise errors.bad_custom_adjoint(f.name, f"the rule is a {type(rule).__name__}",
                                        "Pass a function, e.g. lambda d_f: {g: d_g}")
    f.custom_adjoint = rule
    return f


class UserAdjoints:
    """The user-given adjoints of one reverse walk. `send(obj, value)` adds `value`, an
    expression over obj's producer Vars, to obj's adjoint."""

    def __init__(self, regions, send):
        self.regions, self.send = regions, send
        self.behind: set[int] = set()  # Funcs read by a Func with user adjoints

    def sends(self, f: Func, d_f: list) -> bool:
        """True when the walk must not derive f's adjoints: the user's rule or vjp sent
        them, or f is read only behind such a Func and its adjoint is zero."""
        rule = getattr(f, "custom_adjoint", None)
        if rule is not None:
            self._send_rule(f, rule, d_f[0] if len(d_f) == 1 else tuple(d_f))
        elif getattr(f, "extern", None) is not None:
            self._send_vjp(f, d_f[0])
        else:
            return id(f) in self.behind and all(_is_zero(d) for d in d_f)
        self.behind.update(id(g) for g in build_graph([f]).funcs if g is not f)
        return True

    def _send_rule(self, f: Func, rule, d_f) -> None:
        result = rule(d_f)
        if not isinstance(result, dict):
            raise errors.bad_custom_adjoint(
                f.name, f"the rule returned {_describe(result)}, not a dict",
                "Return {input: adjoint Func}, e.g. lambda d_f: {g: d_g}")
        graph = build_graph([f])
        reads = [g for g in graph.funcs if g is not f] + graph.inputs + graph.params
        for key, adjoint in result.items():
            if not any(key is r for r in reads):
                raise errors.bad_custom_adjoint(
                    f.name, f"the rule returned an adjoint for {_describe(key)}, which "
                    f"'{f.name}' does not read", "Return adjoints only of the Funcs, "
                    "Buffers, ImageParams and Params it reads")
            _check_adjoint(f, key, adjoint)
            self.send(key, Call(adjoint, producer_vars(input_dims(key)), 0))

    def _send_vjp(self, e: Func, d_e: Func) -> None:
        stage = e.extern
        if stage.vjp is None:
            raise errors.not_differentiable(
                f"extern stage '{stage.name}'", "it was defined without a vjp, so no "
                "adjoint can flow through it", "Pass vjp=... to hg.extern (a function "
                "returning one adjoint array per input), or give it hg.custom_adjoint")
        rng = self.regions.of_stage(e, 0)
        box = tuple((rng.min[d], rng.extent(d)) for d in range(e.dimensions()))
        for i, inp in enumerate(stage.inputs):
            if input_type(inp).is_float:
                g = vjp_stage(e, d_e, i, box)
                self.send(inp, Call(g, producer_vars(inp.dimensions()), 0))


def _check_adjoint(f: Func, key, adjoint) -> None:
    """adjoint is a defined one-valued Func of key's dimensions and type."""
    name = f"'{key.name}'"
    if not input_type(key).is_float:
        raise errors.bad_custom_adjoint(f.name, f"{name} has integer type {input_type(key)!r}, "
                                        "which has no adjoint", "Leave it out of the dict")
    if isinstance(key, Func) and key.outputs() != 1:
        raise errors.bad_custom_adjoint(f.name, f"{name} is a tuple Func", "Give adjoints "
                                        "of one-valued Funcs, or split it into one per value")
    if not isinstance(adjoint, Func) or not adjoint.defined() or adjoint.outputs() != 1:
        raise errors.bad_custom_adjoint(f.name, f"the adjoint for {name} is "
                                        f"{_describe(adjoint)}, not a defined one-valued Func",
                                        f"Define it as a Func over {input_dims(key)} Var(s)")
    if adjoint.dimensions() != input_dims(key):
        raise errors.bad_custom_adjoint(
            f.name, f"the adjoint for {name} has {adjoint.dimensions()} dimension(s) and "
            f"{name} has {input_dims(key)}", f"Define it over {input_dims(key)} Var(s) (a Param's "
            "adjoint is 0-D: d[()] = ...)")
    if adjoint.type() != input_type(key):
        raise errors.bad_custom_adjoint(
            f.name, f"the adjoint for {name} is {adjoint.type()!r} and {name} is "
            f"{input_type(key)!r}", f"Cast it, e.g. hg.cast({input_type(key)!r}, ...)")


def _is_zero(d: Func) -> bool:
    """d is an adjoint nothing was sent to: one pure definition, the constant 0."""
    value = d.definitions[0].values[0]
    return len(d.definitions) == 1 and isinstance(value, Const) and value.value == 0


def _describe(obj) -> str:
    if isinstance(obj, (Func, InputBuffer, Param)):
        return f"'{obj.name}'"
    return "None" if obj is None else f"a {type(obj).__name__}"
