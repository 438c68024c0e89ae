"""Readable text of a fuzz Stage, in halogrid-like notation (what a failure prints)."""

from __future__ import annotations

UNARY_TEXT = {
    "sin": "sin(u)", "cos": "cos(u)", "tanh": "tanh(u)", "softplus": "log(1 + exp(u))",
    "sqrt1": "sqrt(u*u + 1)", "log1": "log(u*u + 1)", "recip1": "1 / (1 + u*u)",
    "square": "u*u*0.5", "atan2c": "atan2(u, 2)", "pow_half": "pow(u*u + 1, 0.5)",
    "gauss": "exp(-u*u)", "floor_plus": "floor(u*4)/4 + u",
    "guard_sqrt": "select(u > 0, sqrt(u), 0)", "guard_xlogx": "select(u > 0, u*log(u), 0)",
    "guard_recip": "select(u != 0, 1/u, 0)",
}
BINARY_TEXT = {
    "add": "u + v", "mul": "u * v", "sub_scaled": "u - 0.5*v", "max": "max(u, v)",
    "min": "min(u, v)", "select_gt": "select(u > v, u*v, u - v)", "lerp": "lerp(u, v, 0.25)",
    "atan2": "atan2(u, v*v + 1)", "hypot1": "sqrt(u*u + v*v + 1)",
    "param_affine": "u * p + v",
}
RESAMPLE_TEXT = {
    "down_x": "[y, x // 2]", "down_y": "[y // 2, x]", "up_x": "[y, 2*x]",
    "up_y_odd": "[2*y + 1, x]", "transpose": "[x, y]", "down_up": "[y // 2, 2*x + 1]",
}
WHERE_TEXT = {None: "", "diamond": " where |r0| + |r1| <= 1", "corner": " where r0 + r1 <= 1"}
UPDATE_TEXT = {"square": "s*s*0.5 + s", "tanh": "tanh(s) + 0.5*s", "affine": "0.75*s + 0.25",
               "mul": "A * B", "add": "A + 0.5*B", "lin": "0.5*A - B"}


def _off(v: str, d: int) -> str:
    return v if d == 0 else f"{v}{d:+d}"


def _taps(s, shape) -> str:
    H, W = shape
    parts = []
    for dy, dx, w in s.args["taps"]:
        iy, ix = _off("y", dy), _off("x", dx)
        if s.args["clamped"]:
            iy, ix = f"clamp({iy}, 0, {H - 1})", f"clamp({ix}, 0, {W - 1})"
        parts.append(f"{w}*{s.srcs[0]}[{iy}, {ix}]")
    return " + ".join(parts)


def _multi(s) -> str:
    lines = [f"{s.name}[y, x] = {s.srcs[0]}[y, x]"]
    for u in s.args["updates"]:
        if u[0] == "pure":
            lines.append(f"{s.name}[y, x] = " + UPDATE_TEXT[u[1]].replace("s", f"{s.name}[y, x]"))
        else:
            _, c, a, b, op = u
            rhs = UPDATE_TEXT[op].replace("A", f"{s.name}[y, {a}]").replace("B", f"{s.name}[y, {b}]")
            lines.append(f"{s.name}[y, {c}] = {rhs}")
    return "\n  ".join(lines)


def _scan(s, shape) -> str:
    n = shape[1] if s.args["axis"] == "x" else shape[0]
    f = "tanh" if s.args["nonlinear"] else ""
    at = (lambda i: f"[y, {i}]") if s.args["axis"] == "x" else (lambda i: f"[{i}, x]")
    lines = [f"{s.name}[y, x] = {s.srcs[0]}[y, x]",
             f"{s.name}{at('r')} = {f}({s.name}{at('r-1')})*{s.args['k']} + "
             f"{s.name}{at('r')}  for r in [1, {n})"]
    if s.args["backward"]:
        lines.append(f"{s.name}{at(f'{n - 2}-r')} = {f}({s.name}{at(f'{n - 1}-r')})*"
                     f"{s.args['k2']} + {s.name}{at(f'{n - 2}-r')}  for r in [0, {n - 1})")
    return "\n  ".join(lines)


def _gather(s) -> str:
    v, idx = s.srcs
    if s.args["mode"] == "lut":
        pos = f"clamp(i32(floor({idx}[y, x]*2)) + 1, 0, n-1)"
        return f"{v}[{pos}, x]" if s.args["axis"] == "y" else f"{v}[y, {pos}]"
    c = s.args["axis"]
    clamp = "clamp(i, {0}-1, {0})".format(c) if s.args["mode"] == "warp_clamp" else "i"
    return (f"t = {c} + 0.5*tanh({idx}[y, x]); i = i32(floor(t)); f = t - floor(t); "
            f"lerp({v} at {c}={clamp}, {v} at {c}={clamp}+1, f)")


def stage_text(s, shape) -> str:
    """One or a few lines `name[y, x] = ...` for Stage s of a Case of this shape."""
    H, W = shape
    a = s.args
    u, v = (list(s.srcs) + [None])[:2]
    if s.kind == "bc":
        extra = f", {a['value']}" if a["value"] is not None else ""
        return f"{s.name} = {a['mode']}({u}{extra})"
    elif s.kind == "stencil":
        rhs = _taps(s, shape)
    elif s.kind == "pointwise":
        table = BINARY_TEXT if a["op"] in BINARY_TEXT else UNARY_TEXT
        rhs = table[a["op"]].replace("u", f"{u}[y, x]").replace("v", f"{v}[y, x]") if v else \
            table[a["op"]].replace("u", f"{u}[y, x]")
    elif s.kind == "resample":
        rhs = u + RESAMPLE_TEXT[a["mode"]]
    elif s.kind == "reduce":
        y0, ny, x0, nx = a["box"]
        rhs = (f"{a['op']}({u}[y + r0, x + r1]) for r0 in [{y0}, {y0 + ny}), r1 in "
               f"[{x0}, {x0 + nx}){WHERE_TEXT[a['where']]}")
    elif s.kind == "update_sum":
        y0, ny, x0, nx = a["box"]
        init = f"{u}[y, x]" if a["init"] == "src" else "0"
        return (f"{s.name}[y, x] = {init}\n  {s.name}[y, x] += k{a['weights']}[r0-{y0}, r1-{x0}] "
                f"* {u}[y + r0, x + r1] for r0 in [{y0}, {y0 + ny}), r1 in [{x0}, {x0 + nx})")
    elif s.kind == "histogram":
        B = a["bins"]
        binexpr = (f"i32((lab[r0, r1] // {a['div']}) % {B})" if v == "lab" else
                   f"clamp(i32(floor({v}[r0, r1]*4)) + {B // 2}, 0, {B - 1})")
        back = (f"(x + 2*y) % {B}" if a["readback"] == "mod" else
                f"i32(lab[clamp(y, 0, {H - 1}), clamp(x, 0, {W - 1})] % {B})")
        return (f"h_{s.name}[i] = 0; h_{s.name}[{binexpr}] += {u}[r0, r1] for r0 in [0, {H}), "
                f"r1 in [0, {W})\n  {s.name}[y, x] = h_{s.name}[{back}]")
    elif s.kind == "gather":
        rhs = _gather(s)
    elif s.kind == "abs_index":
        rhs = f"{u}[abs(y - {a['c']}), x]" if a["axis"] == "y" else f"{u}[y, abs(x - {a['c']})]"
    elif s.kind == "scan":
        return _scan(s, shape)
    elif s.kind == "multi_update":
        return _multi(s)
    elif s.kind == "tuple":
        upd = (f"\n  t_{s.name}[y, x] = (t0*t1, t0 + 0.5*t1)" if a["update"] else "")
        return (f"t_{s.name}[y, x] = ({u}[y, x]*{a['k']} + {v}[y, x], {u}[y, x]*{v}[y, x])"
                f"{upd}\n  {s.name}[y, x] = t0 - 0.5*t1")
    else:
        raise ValueError(f"unknown stage kind {s.kind}")
    return f"{s.name}[y, x] = {rhs}"
