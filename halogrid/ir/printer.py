"""Readable text of expressions, definitions and Funcs; repr that rebuilds a node."""

from __future__ import annotations

from .expr import (Binary, Call, Cast, Const, Expr, Extent, Intrinsic, Not, RVar, Select, Var,
                   WindowEdge)

_INFIX = {"+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "<": 3, "<=": 3, "==": 3, "!=": 3,
          "&&": 2, "||": 1}


def _const_text(e: Const) -> str:
    t = e.type
    if t.is_bool:
        return "True" if e.value else "False"
    if t.is_float:
        text = repr(e.value)
        return text if t.bits == 32 else f"f64({text})"
    return str(e.value) if (t.code, t.bits) == ("int", 32) else f"{t.name}({e.value})"


def expr_text(e: Expr, parent: int = 0) -> str:
    """Infix text, Halide-like: `blur(y, x) + in(y, x + 1)`."""
    from .buffer import Param
    text_hook = getattr(e, "_text", None)
    if text_hook is not None:
        return text_hook(expr_text)
    if isinstance(e, Const):
        return _const_text(e)
    if isinstance(e, (Var,)):
        return e.name
    if isinstance(e, RVar):
        return e.name
    if isinstance(e, Param):
        return e.pname
    if isinstance(e, Binary) and e.op == "+" and isinstance(e.b, Const) and e.b.value < 0:
        prec = _INFIX["-"]
        text = f"{expr_text(e.a, prec)} - {_const_text(Const(e.b.type, -e.b.value))}"
        return f"({text})" if prec < parent else text
    if isinstance(e, Binary) and e.op in _INFIX:
        prec = _INFIX[e.op]
        op = {"&&": "&", "||": "|"}.get(e.op, e.op)
        text = f"{expr_text(e.a, prec)} {op} {expr_text(e.b, prec + 1)}"
        return f"({text})" if prec < parent else text
    if isinstance(e, Binary):
        return f"{e.op}({expr_text(e.a)}, {expr_text(e.b)})"
    if isinstance(e, Not):
        return f"~{expr_text(e.a, 9)}"
    if isinstance(e, Cast):
        return f"{e.to.name}({expr_text(e.value)})"
    if isinstance(e, Select):
        return (f"select({expr_text(e.cond)}, {expr_text(e.true_value)}, "
                f"{expr_text(e.false_value)})")
    if isinstance(e, Call):
        suffix = f"[{e.index}]" if len(e.callee.value_types()) > 1 else ""
        return f"{e.callee.name}({', '.join(expr_text(a) for a in e.args)}){suffix}"
    if isinstance(e, Intrinsic):
        return f"{e.name}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, WindowEdge):
        return f"{e.buffer.name}.{e.end}({e.dim})"
    if isinstance(e, Extent):
        return f"{e.buffer.name}.extent({e.dim})"
    return type(e).__name__


def expr_repr(e: Expr) -> str:
    """A Python expression over `hg` that rebuilds e, given the same Vars/Funcs in scope."""
    from .buffer import Param
    if isinstance(e, Const):
        return f"hg.cast({e.type!r}, {e.value!r})"
    if isinstance(e, Var):
        return f"hg.Var({e.name!r})"
    if isinstance(e, Param):
        return e.pname
    if isinstance(e, Binary):
        if e.op in ("min", "max"):
            return f"hg.{e.op}({expr_repr(e.a)}, {expr_repr(e.b)})"
        op = {"&&": "&", "||": "|", "%": "%", "/": "/"}.get(e.op, e.op)
        return f"({expr_repr(e.a)} {op} {expr_repr(e.b)})"
    if isinstance(e, Not):
        return f"(~{expr_repr(e.a)})"
    if isinstance(e, Cast):
        return f"hg.cast({e.to!r}, {expr_repr(e.value)})"
    if isinstance(e, Select):
        return f"hg.select({', '.join(expr_repr(c) for c in e.children())})"
    if isinstance(e, Intrinsic):
        return f"hg.{e.name}({', '.join(expr_repr(a) for a in e.args)})"
    if isinstance(e, Call):
        args = ", ".join(expr_repr(a) for a in e.args) or "()"
        suffix = f"[{e.index}]" if len(e.callee.value_types()) > 1 else ""
        return f"{e.callee.name}[{args}]{suffix}"
    return expr_text(e)


def definition_text(func, index: int) -> str:
    d = func.definitions[index]
    lhs = f"{func.name}({', '.join(expr_text(a) for a in d.args)})"
    values = [expr_text(v) for v in d.values]
    rhs = values[0] if len(values) == 1 else f"({', '.join(values)})"
    where = "".join(f"  where {expr_text(p)}" for p in d.predicate())
    doms = "".join(
        f"  over {r.name} in " + " x ".join(f"[{expr_text(m)}, +{expr_text(x)})" for m, x in r.bounds)
        for r in d.rdoms)
    return f"{lhs} = {rhs}{doms}{where}"


def func_text(func) -> str:
    """Every definition of a Func, one per line."""
    return "\n".join(definition_text(func, i) for i in range(len(func.definitions)))
