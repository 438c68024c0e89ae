"""NumPy float64 evaluation of a fuzz Case, written without halogrid.

`Evaluator(case, inputs).at(name, Y, X)` is the value of stage `name` at the integer
index arrays (Y, X) (any shape, any integers: stages are defined on the whole plane,
as Funcs are). Pointwise stages evaluate their sources at mapped indices, so nothing
needs bounds; stages with updates (scans, multi-updates) compute whole rows of the
image's extent for the rows asked, and the histogram is computed once. Boundary
conditions fold an index back into [0, n) by repeated reflection, NumPy pad style.
"""

from __future__ import annotations

import numpy as np

UNARY = {
    "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "softplus": lambda u: np.log1p(np.exp(u)),
    "sqrt1": lambda u: np.sqrt(u * u + 1), "log1": lambda u: np.log(u * u + 1),
    "recip1": lambda u: 1 / (1 + u * u), "square": lambda u: u * u * 0.5,
    "atan2c": lambda u: np.arctan2(u, 2.0), "pow_half": lambda u: (u * u + 1) ** 0.5,
    "gauss": lambda u: np.exp(-u * u), "floor_plus": lambda u: np.floor(u * 4) / 4 + u,
    "guard_sqrt": lambda u: np.sqrt(np.maximum(u, 0)),
    "guard_xlogx": lambda u: np.where(u > 0, u * np.log(np.where(u > 0, u, 1)), 0.0),
    "guard_recip": lambda u: np.where(u != 0, 1 / np.where(u != 0, u, 1), 0.0),
}
BINARY = {
    "add": np.add, "mul": np.multiply, "sub_scaled": lambda u, v: u - 0.5 * v,
    "max": np.maximum, "min": np.minimum,
    "select_gt": lambda u, v: np.where(u > v, u * v, u - v),
    "lerp": lambda u, v: u + (v - u) * 0.25, "atan2": lambda u, v: np.arctan2(u, v * v + 1),
    "hypot1": lambda u, v: np.sqrt(u * u + v * v + 1),
}
RESAMPLE = {
    "down_x": lambda Y, X: (Y, X // 2), "down_y": lambda Y, X: (Y // 2, X),
    "up_x": lambda Y, X: (Y, 2 * X), "up_y_odd": lambda Y, X: (2 * Y + 1, X),
    "transpose": lambda Y, X: (X, Y), "down_up": lambda Y, X: (Y // 2, 2 * X + 1),
}
UPDATES = {
    "square": lambda s: s * s * 0.5 + s, "tanh": lambda s: np.tanh(s) + 0.5 * s,
    "affine": lambda s: 0.75 * s + 0.25,
    "mul": np.multiply, "add": lambda a, b: a + 0.5 * b, "lin": lambda a, b: 0.5 * a - b,
}
WHERE = {None: lambda r0, r1: True, "diamond": lambda r0, r1: abs(r0) + abs(r1) <= 1,
         "corner": lambda r0, r1: r0 + r1 <= 1}
REDUCE = {"sum": (0.0, np.add), "maximum": (-np.inf, np.maximum),
          "minimum": (np.inf, np.minimum), "product": (1.0, np.multiply)}


def fold(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Index i brought into [0, n) by the boundary condition `mode`."""
    i = np.array(i, dtype=np.int64)
    if mode in ("repeat_edge", "constant_exterior"):
        return np.clip(i, 0, n - 1)
    if n == 1:
        return np.zeros_like(i)
    edge = 0 if mode == "mirror_image" else 1     # mirror_interior skips the edge pixel
    while True:
        low, high = i < 0, i >= n
        if not (low.any() or high.any()):
            return i
        i = np.where(low, -i - 1 + edge, i)
        i = np.where(high, 2 * n - 1 - i - edge, i)


class Evaluator:
    def __init__(self, case, inputs: dict):
        self.case, self.inputs = case, inputs
        self.H, self.W = case.shape
        self.memo: dict = {}

    def at(self, name: str, Y, X) -> np.ndarray:
        Y, X = np.broadcast_arrays(np.asarray(Y, np.int64), np.asarray(X, np.int64))
        s = self.case.stage(name)
        return getattr(self, "_" + s.kind)(s, Y, X)

    def loss(self) -> float:
        Y, X = np.mgrid[0:self.H, 0:self.W]
        out = self.at(self.case.output.name, Y, X)
        return float(np.sum(out * self.inputs["wts"]))

    # -- one method per stage kind
    def _bc(self, s, Y, X):
        img = np.asarray(self.inputs[s.srcs[0]], np.float64)
        mode = s.args["mode"]
        value = img[fold(Y, self.H, mode), fold(X, self.W, mode)]
        if mode == "constant_exterior":
            inside = (Y >= 0) & (Y < self.H) & (X >= 0) & (X < self.W)
            value = np.where(inside, value, s.args["value"])
        return value

    def _stencil(self, s, Y, X):
        total = np.zeros(Y.shape)
        for dy, dx, w in s.args["taps"]:
            iy, ix = Y + dy, X + dx
            if s.args["clamped"]:
                iy, ix = np.clip(iy, 0, self.H - 1), np.clip(ix, 0, self.W - 1)
            total = total + w * self.at(s.srcs[0], iy, ix)
        return total

    def _pointwise(self, s, Y, X):
        u = self.at(s.srcs[0], Y, X)
        op = s.args["op"]
        if op in UNARY:
            return UNARY[op](u)
        v = self.at(s.srcs[1], Y, X)
        if op == "param_affine":
            return u * float(self.inputs["p"]) + v
        return BINARY[op](u, v)

    def _resample(self, s, Y, X):
        return self.at(s.srcs[0], *RESAMPLE[s.args["mode"]](Y, X))

    def _reduce(self, s, Y, X):
        y0, ny, x0, nx = s.args["box"]
        init, combine = REDUCE[s.args["op"]]
        acc = np.full(Y.shape, init)
        for r0 in range(y0, y0 + ny):
            for r1 in range(x0, x0 + nx):
                if WHERE[s.args["where"]](r0, r1):
                    acc = combine(acc, self.at(s.srcs[0], Y + r0, X + r1))
        return acc

    def _update_sum(self, s, Y, X):
        y0, ny, x0, nx = s.args["box"]
        acc = self.at(s.srcs[0], Y, X) if s.args["init"] == "src" else np.zeros(Y.shape)
        for r0 in range(y0, y0 + ny):
            for r1 in range(x0, x0 + nx):
                w = s.args["weights"][r0 - y0][r1 - x0]
                acc = acc + w * self.at(s.srcs[0], Y + r0, X + r1)
        return acc

    def _histogram(self, s, Y, X):
        B = s.args["bins"]
        if s.name not in self.memo:
            R0, R1 = np.mgrid[0:self.H, 0:self.W]
            if s.srcs[1] == "lab":
                bins = (np.asarray(self.inputs["lab"], np.int64) // s.args["div"]) % B
            else:
                bins = np.clip(np.floor(self.at(s.srcs[1], R0, R1) * 4).astype(np.int64)
                               + B // 2, 0, B - 1)
            hist = np.zeros(B)
            np.add.at(hist, bins.ravel(), self.at(s.srcs[0], R0, R1).ravel())
            self.memo[s.name] = hist
        if s.args["readback"] == "mod":
            index = (X + 2 * Y) % B
        else:
            lab = np.asarray(self.inputs["lab"], np.int64)
            index = lab[np.clip(Y, 0, self.H - 1), np.clip(X, 0, self.W - 1)] % B
        return self.memo[s.name][index]

    def _gather(self, s, Y, X):
        v, idx = s.srcs
        n = self.H if s.args["axis"] == "y" else self.W
        at = (lambda i: self.at(v, i, X)) if s.args["axis"] == "y" else (lambda i: self.at(v, Y, i))
        coord = Y if s.args["axis"] == "y" else X
        if s.args["mode"] == "lut":
            return at(np.clip(np.floor(self.at(idx, Y, X) * 2).astype(np.int64) + 1, 0, n - 1))
        t = coord + 0.5 * np.tanh(self.at(idx, Y, X))
        i = np.floor(t).astype(np.int64)
        f = t - np.floor(t)
        if s.args["mode"] == "warp_clamp":
            i = np.clip(i, coord - 1, coord)
        return at(i) * (1 - f) + at(i + 1) * f

    def _abs_index(self, s, Y, X):
        c = s.args["c"]
        if s.args["axis"] == "y":
            return self.at(s.srcs[0], np.abs(Y - c), X)
        return self.at(s.srcs[0], Y, np.abs(X - c))

    def _lines(self, s, Y, X, axis, update_lines, pointwise):
        """Values of a Func whose updates write whole lines of the image's extent
        along `axis` ("x": rows, "y": columns): `update_lines(L)` runs the updates on
        lines L (k, n) of the pure values; a point outside [0, n) along the axis is
        `pointwise(pure value)` (the updates that write every point)."""
        across, along = (Y, X) if axis == "x" else (X, Y)
        n = self.W if axis == "x" else self.H
        keys, inverse = np.unique(across.ravel(), return_inverse=True)
        grid = np.arange(n)[None, :]
        lines = (self.at(s.srcs[0], keys[:, None], grid) if axis == "x" else
                 self.at(s.srcs[0], grid, keys[:, None]))
        lines = update_lines(lines)
        inside = (along >= 0) & (along < n)
        flat = lines[inverse.reshape(across.shape), np.clip(along, 0, n - 1)]
        return np.where(inside, flat, pointwise(self.at(s.srcs[0], Y, X)))

    def _scan(self, s, Y, X):
        return self._lines(s, Y, X, s.args["axis"], lambda L: scan_lines(L, s.args),
                           lambda v: v)

    def _multi_update(self, s, Y, X):
        ups = s.args["updates"]

        def run(lines):
            lines = lines.copy()
            for u in ups:
                if u[0] == "pure":
                    lines = UPDATES[u[1]](lines)
                else:
                    _, c, a, b, op = u
                    lines[:, c] = UPDATES[op](lines[:, a], lines[:, b])
            return lines

        def outside(v):
            for u in ups:
                if u[0] == "pure":
                    v = UPDATES[u[1]](v)
            return v
        return self._lines(s, Y, X, "x", run, outside)

    def _tuple(self, s, Y, X):
        u, v = self.at(s.srcs[0], Y, X), self.at(s.srcs[1], Y, X)
        t0, t1 = u * s.args["k"] + v, u * v
        if s.args["update"]:
            t0, t1 = t0 * t1, t0 + 0.5 * t1
        return t0 - 0.5 * t1


def scan_lines(lines: np.ndarray, args: dict) -> np.ndarray:
    """The scan's updates along axis 1 of lines (k, n): forward, then maybe backward."""
    f = np.tanh if args["nonlinear"] else (lambda v: v)
    lines = lines.copy()
    n = lines.shape[1]
    for j in range(1, n):
        lines[:, j] = f(lines[:, j - 1]) * args["k"] + lines[:, j]
    if args["backward"]:
        for j in range(n - 2, -1, -1):
            lines[:, j] = f(lines[:, j + 1]) * args["k2"] + lines[:, j]
    return lines

