"""What a schedule may do to a definition without changing its result.

`associative_op` recognises updates `f[args] = f[args] op e` (op in + - * min max,
e free of f) whose iterations may be regrouped (rfactor, private accumulators,
atomics). `race_reason` says why running a loop's iterations concurrently would
race, or None when each iteration writes its own locations and reads only them.
"""

from __future__ import annotations

from ..ir.expr import Binary, Call, Cast, RVar, Var
from ..ir.visit import collect

ASSOCIATIVE_OPS = ("+", "-", "*", "min", "max")


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
