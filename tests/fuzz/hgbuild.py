"""A fuzz Case as halogrid Funcs: the output, the loss and its adjoints, one Pipeline.

`build(case, wts)` makes fresh Funcs every call (schedules mutate Funcs, so each
schedule of a case gets its own); `SCHEDULES` maps a name to a function that schedules
a Pipeline's outputs. Every stage is a Float(64) Func [y, x]; integer inputs only feed
indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import halogrid as hg
from halogrid.ir.expr import Call
from halogrid.ir.graph import build_graph
from halogrid.ir.visit import collect

F64 = hg.Float(64)
LAB_TYPES = {"int32": hg.Int(32), "int16": hg.Int(16), "uint8": hg.UInt(8),
             "uint16": hg.UInt(16), "uint32": hg.UInt(32)}
y, x = hg.Var("y"), hg.Var("x")

UNARY = {
    "sin": hg.sin, "cos": hg.cos, "tanh": hg.tanh,
    "softplus": lambda u: hg.log(1 + hg.exp(u)),
    "sqrt1": lambda u: hg.sqrt(u * u + 1), "log1": lambda u: hg.log(u * u + 1),
    "recip1": lambda u: 1 / (1 + u * u), "square": lambda u: u * u * 0.5,
    "atan2c": lambda u: hg.atan2(u, hg.f64(2)), "pow_half": lambda u: hg.pow(u * u + 1, 0.5),
    "gauss": lambda u: hg.exp(-u * u), "floor_plus": lambda u: hg.floor(u * 4) / 4 + u,
    "guard_sqrt": lambda u: hg.select(u > 0, hg.sqrt(u), 0.0),
    "guard_xlogx": lambda u: hg.select(u > 0, u * hg.log(u), 0.0),
    "guard_recip": lambda u: hg.select(u != 0, 1 / u, 0.0),
}
BINARY = {
    "add": lambda u, v: u + v, "mul": lambda u, v: u * v, "sub_scaled": lambda u, v: u - 0.5 * v,
    "max": hg.max, "min": hg.min, "select_gt": lambda u, v: hg.select(u > v, u * v, u - v),
    "lerp": lambda u, v: hg.lerp(u, v, 0.25), "atan2": lambda u, v: hg.atan2(u, v * v + 1),
    "hypot1": lambda u, v: hg.sqrt(u * u + v * v + 1),
}
RESAMPLE = {
    "down_x": lambda: (y, x // 2), "down_y": lambda: (y // 2, x), "up_x": lambda: (y, 2 * x),
    "up_y_odd": lambda: (2 * y + 1, x), "transpose": lambda: (x, y),
    "down_up": lambda: (y // 2, 2 * x + 1),
}
UPDATES = {
    "square": lambda s: s * s * 0.5 + s, "tanh": lambda s: hg.tanh(s) + 0.5 * s,
    "affine": lambda s: 0.75 * s + 0.25,
    "mul": lambda a, b: a * b, "add": lambda a, b: a + 0.5 * b, "lin": lambda a, b: 0.5 * a - b,
}
WHERE = {"diamond": lambda r: hg.abs(r[0]) + hg.abs(r[1]) <= 1,
         "corner": lambda r: r[0] + r[1] <= 1}
REDUCE = {"sum": hg.sum, "maximum": hg.maximum, "minimum": hg.minimum, "product": hg.product}
BC = hg.BoundaryConditions


@dataclass
class Built:
    out: hg.Func
    loss: hg.Func
    wrt: list          # ImageParams / Params whose adjoints are outputs, by name order
    outputs: list      # [out, loss, d[w] for w in wrt]


class _Builder:
    def __init__(self, case):
        self.case = case
        self.H, self.W = case.shape
        self.inputs = {"a": hg.ImageParam(F64, 2, "a"), "b": hg.ImageParam(F64, 2, "b"),
                       "lab": hg.ImageParam(LAB_TYPES[case.lab_type], 2, "lab"),
                       "p": hg.Param(F64, "p", 1.0)}
        self.funcs: dict = {}

    def src(self, name: str):
        return self.funcs.get(name) or self.inputs[name]

    def stage(self, s) -> hg.Func:
        """The Func of stage s: defined by the kind's method, or the Func it returns
        (a boundary condition is read directly, not through a copy)."""
        f = hg.Func(s.name)
        f = getattr(self, "_" + s.kind)(f, s, [self.src(n) for n in s.srcs]) or f
        self.funcs[s.name] = f
        return f

    # -- one method per stage kind: define f from its sources
    def _bc(self, f, s, srcs):
        mode = getattr(BC, s.args["mode"])
        if s.args["value"] is not None:
            return mode(srcs[0], hg.f64(s.args["value"]))
        return mode(srcs[0])

    def _stencil(self, f, s, srcs):
        total = hg.f64(0)
        for dy, dx, w in s.args["taps"]:
            iy, ix = y + dy, x + dx
            if s.args["clamped"]:
                iy, ix = hg.clamp(iy, 0, self.H - 1), hg.clamp(ix, 0, self.W - 1)
            total = total + w * srcs[0][iy, ix]
        f[y, x] = total

    def _pointwise(self, f, s, srcs):
        op, u = s.args["op"], srcs[0][y, x]
        if op in UNARY:
            f[y, x] = UNARY[op](u)
        elif op == "param_affine":
            f[y, x] = u * self.inputs["p"] + srcs[1][y, x]
        else:
            f[y, x] = BINARY[op](u, srcs[1][y, x])

    def _resample(self, f, s, srcs):
        f[y, x] = srcs[0][RESAMPLE[s.args["mode"]]()]

    def _reduce(self, f, s, srcs):
        y0, ny, x0, nx = s.args["box"]
        r = hg.RDom([(y0, ny), (x0, nx)])
        if s.args["where"]:
            r.where(WHERE[s.args["where"]](r))
        f[y, x] = REDUCE[s.args["op"]](srcs[0][y + r[0], x + r[1]])

    def _update_sum(self, f, s, srcs):
        import numpy as np
        y0, ny, x0, nx = s.args["box"]
        k = hg.Buffer(np.array(s.args["weights"], np.float64), name=f"k_{s.name}")
        r = hg.RDom([(y0, ny), (x0, nx)])
        f[y, x] = srcs[0][y, x] if s.args["init"] == "src" else hg.f64(0)
        f[y, x] += k[r[0] - y0, r[1] - x0] * srcs[0][y + r[0], x + r[1]]

    def _histogram(self, f, s, srcs):
        B, lab = s.args["bins"], self.inputs["lab"]
        r = hg.RDom([(0, self.H), (0, self.W)])
        if s.srcs[1] == "lab":
            bin_ = hg.i32((lab[r[0], r[1]] // s.args["div"]) % B)
        else:
            bin_ = hg.clamp(hg.i32(hg.floor(srcs[1][r[0], r[1]] * 4)) + B // 2, 0, B - 1)
        h = hg.Func(f"h_{s.name}")
        h[x] = hg.f64(0)
        h[bin_] += srcs[0][r[0], r[1]]
        if s.args["readback"] == "mod":
            f[y, x] = h[(x + 2 * y) % B]
        else:
            f[y, x] = h[hg.i32(lab[hg.clamp(y, 0, self.H - 1), hg.clamp(x, 0, self.W - 1)] % B)]

    def _gather(self, f, s, srcs):
        v, idx = srcs
        axis = s.args["axis"]
        n, coord = (self.H, y) if axis == "y" else (self.W, x)
        at = (lambda i: v[i, x]) if axis == "y" else (lambda i: v[y, i])
        if s.args["mode"] == "lut":
            f[y, x] = at(hg.clamp(hg.i32(hg.floor(idx[y, x] * 2)) + 1, 0, n - 1))
            return
        t = coord + 0.5 * hg.tanh(idx[y, x])
        i = hg.i32(hg.floor(t))
        frac = t - hg.floor(t)
        if s.args["mode"] == "warp_clamp":
            i = hg.clamp(i, coord - 1, coord)
        f[y, x] = at(i) * (1 - frac) + at(i + 1) * frac

    def _abs_index(self, f, s, srcs):
        c = s.args["c"]
        f[y, x] = srcs[0][hg.abs(y - c), x] if s.args["axis"] == "y" else srcs[0][y, hg.abs(x - c)]

    def _scan(self, f, s, srcs):
        a = s.args
        n = self.W if a["axis"] == "x" else self.H
        g = hg.tanh if a["nonlinear"] else (lambda e: e)
        at = (lambda i: (y, i)) if a["axis"] == "x" else (lambda i: (i, x))
        f[y, x] = srcs[0][y, x]
        r = hg.RDom([(1, n - 1)])
        f[at(r[0])] = g(f[at(r[0] - 1)]) * a["k"] + f[at(r[0])]
        if a["backward"]:
            r2 = hg.RDom([(0, n - 1)])
            f[at(n - 2 - r2[0])] = g(f[at(n - 1 - r2[0])]) * a["k2"] + f[at(n - 2 - r2[0])]

    def _multi_update(self, f, s, srcs):
        f[y, x] = srcs[0][y, x]
        for u in s.args["updates"]:
            if u[0] == "pure":
                f[y, x] = UPDATES[u[1]](f[y, x])
            else:
                _, c, a, b, op = u
                f[y, c] = UPDATES[op](f[y, a], f[y, b])

    def _tuple(self, f, s, srcs):
        u, v = srcs[0][y, x], srcs[1][y, x]
        t = hg.Func(f"t_{s.name}")
        t[y, x] = (u * s.args["k"] + v, u * v)
        if s.args["update"]:
            t[y, x] = (t[y, x][0] * t[y, x][1], t[y, x][0] + 0.5 * t[y, x][1])
        f[y, x] = t[y, x][0] - 0.5 * t[y, x][1]


def build(case, wts) -> Built:
    """Fresh Funcs for `case`; the loss weights the output by the float64 array `wts`."""
    b = _Builder(case)
    for s in case.stages:
        out = b.stage(s)
    weights = hg.Buffer(wts, name="wts")
    r = hg.RDom([(0, b.H), (0, b.W)])
    loss = hg.Func("loss")
    loss[()] = hg.f64(0)
    loss[()] += out[r[0], r[1]] * weights[r[0], r[1]]
    used = case.inputs_used()
    wrt = [b.inputs[n] for n in ("a", "b", "p") if n in used]
    d = hg.propagate_adjoints(loss)
    return Built(out, loss, wrt, [out, loss] + [d[w] for w in wrt])


def _all_root(outputs) -> None:
    """compute_root on every Func but a boundary condition read at a data-dependent
    index (a stored one has no bounded region there: a BoundsError, as in Halide)."""
    graph = build_graph(outputs)
    for f in graph.funcs:
        if not (f.kind == "boundary" and _read_data_dependently(f, graph)):
            f.compute_root()


def _read_data_dependently(f, graph) -> bool:
    calls = (c for g in graph.consumers.get(id(f), []) for d in g.definitions
             for c in collect(tuple(d.values), Call) if c.callee is f)
    return any(collect(c.args, Call) for c in calls)


SCHEDULES = {
    "default": lambda outputs: None,
    "auto": lambda outputs: hg.Pipeline(outputs).auto_schedule(),
    "root": _all_root,
}
