"""Random pipeline descriptions for the fuzzer: a seed -> a `Case`.

A Case is plain data (no halogrid, no NumPy evaluation): a list of `Stage`s, each a
2-D function s[y, x] of earlier stages or of boundary-conditioned inputs, the last one
the output. `hgbuild.py` turns a Case into halogrid Funcs, `npeval.py` evaluates it with
NumPy in float64; `Case.text()` is the readable pipeline a failure prints.

Inputs: `a`, `b` (float64 images of the case's shape), `p` (a float64 Param), `lab`
(an integer image of type `Case.lab_type`) and `wts` (a float64 Buffer weighting the
loss: loss = sum over the output's [0, H) x [0, W) of out * wts).

Features that trip known, not yet fixed bugs are listed in EXCLUDED; the generator never
produces them while they are listed (each name says what it leaves out).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Feature flags of the generator: a listed feature is never generated. Each stays
# here only while the bug it trips is unfixed. Fixed, so no longer listed (and still
# accepted by generate()): overwritten_reads, uint32_index_cast, data_dependent_bc_reads,
# stale_cells_outside_request, deep_clamped_chains (2-3 chained clamped 4-tap
# stencils); nonlinear scans and tuple Funcs lost their flags.
EXCLUDED = frozenset()
# Only where kernels run as Python (NUMBA_DISABLE_JIT=1): a select's untaken branch
# is evaluated, and math.log/math.sqrt of a negative raise ValueError there (Numba
# gives NaN, which the select discards).
WITHOUT_JIT = frozenset({"domain_errors_without_jit"})


def default_excluded() -> frozenset:
    """EXCLUDED, plus WITHOUT_JIT when Numba's JIT is disabled."""
    import numba
    return EXCLUDED | (WITHOUT_JIT if numba.config.DISABLE_JIT else frozenset())


BC_MODES = ("repeat_edge", "constant_exterior", "mirror_image", "mirror_interior")
UNARY = ("sin", "cos", "tanh", "softplus", "sqrt1", "log1", "recip1", "square", "atan2c",
         "pow_half", "gauss", "floor_plus")
BINARY = ("add", "mul", "sub_scaled", "max", "min", "select_gt", "lerp", "atan2",
          "hypot1", "param_affine")
GUARDED = ("guard_recip",)
GUARDED_DOMAIN = ("guard_sqrt", "guard_xlogx")   # log/sqrt of the untaken branch
RESAMPLE = ("down_x", "down_y", "up_x", "up_y_odd", "transpose", "down_up")
REDUCE_OPS = ("sum", "maximum", "minimum", "product")
LAB_TYPES = ("int32", "int16", "uint8", "uint16", "uint32")
DYADIC = (-0.75, -0.5, -0.25, 0.25, 0.375, 0.5, 0.625, 0.75, 1.25)


@dataclass
class Stage:
    name: str
    kind: str
    srcs: tuple
    args: dict = field(default_factory=dict)


@dataclass
class Case:
    seed: int
    shape: tuple
    lab_type: str
    stages: list
    excluded: frozenset

    @property
    def output(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def inputs_used(self) -> set:
        used = set()
        for s in self.stages:
            used |= {n for n in s.srcs if n in ("a", "b", "lab")}
            if s.kind == "pointwise" and s.args["op"] == "param_affine":
                used.add("p")
            if s.kind == "histogram" and s.args["readback"] == "lab":
                used.add("lab")
        return used

    def text(self) -> str:
        from .describe import stage_text
        head = (f"case seed={self.seed} shape={self.shape} lab={self.lab_type} "
                f"excluded={sorted(self.excluded)}")
        lines = [head] + [stage_text(s, self.shape) for s in self.stages]
        lines.append(f"loss[] = sum over [0, {self.shape[0]}) x [0, {self.shape[1]}) of "
                     f"{self.output.name}[y, x] * wts[y, x]")
        return "\n".join(lines)


class _Gen:
    """State of one generation: the rng, the stages so far, the excluded features."""

    def __init__(self, seed: int, excluded: frozenset):
        self.rng = np.random.default_rng(seed)
        self.excluded = excluded
        self.stages: list[Stage] = []
        self.clamped_stencils = 0
        self.chains = 0
        self.H, self.W = (int(v) for v in self.rng.integers(3, 8, size=2))
        self.lab_type = str(self.rng.choice([t for t in LAB_TYPES if not (
            t == "uint32" and "uint32_index_cast" in excluded)]))

    def allowed(self, feature: str) -> bool:
        return feature not in self.excluded

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def const(self) -> float:
        return float(self.pick(DYADIC))

    def add(self, kind: str, srcs, **args) -> str:
        name = f"s{len(self.stages)}"
        self.stages.append(Stage(name, kind, tuple(srcs), args))
        return name

    def leaf(self) -> str:
        """A new boundary-conditioned input stage."""
        mode = self.pick(BC_MODES)
        value = self.const() if mode == "constant_exterior" else None
        return self.add("bc", [self.pick(("a", "b"))], mode=mode, value=value)

    def other(self) -> str:
        """A second source: an earlier stage or a new leaf."""
        earlier = [s.name for s in self.stages if s.kind != "bc" or self.rng.random() < 0.5]
        if earlier and self.rng.random() < 0.5:
            return self.pick(earlier)
        return self.leaf()


def generate(seed: int, excluded: frozenset | None = None) -> Case:
    """A 1-5 stage pipeline (boundary-condition leaves not counted), deterministic in
    seed and the excluded features (default_excluded() when None)."""
    excluded = default_excluded() if excluded is None else frozenset(excluded)
    g = _Gen(seed, excluded)
    current = g.leaf()
    for _ in range(int(g.rng.integers(1, 6))):
        choices = [k for k, (feature, _) in KINDS.items() if feature is None or g.allowed(feature)]
        kind = g.pick(choices)
        current = KINDS[kind][1](g, current)
    return Case(seed, (g.H, g.W), g.lab_type, g.stages, excluded)


# -- one generator per stage kind: (g, src) -> name of the new stage

def _box(g: _Gen, max_cells: int = 9, origin: bool = False) -> tuple:
    """(y0, ny, x0, nx) with mins in {-1, 0}; with `origin`, (0, 0) is inside."""
    while True:
        y0, x0 = (int(v) for v in g.rng.integers(-1, 1, size=2))
        ny, nx = (int(v) for v in g.rng.integers(1, 4, size=2))
        if ny * nx <= max_cells and (not origin or (y0 + ny > 0 and x0 + nx > 0)):
            return y0, ny, x0, nx


def _stencil(g: _Gen, src: str) -> str:
    if g.allowed("deep_clamped_chains") and not g.chains and g.rng.random() < 0.25:
        return _clamped_chain(g, src)
    clamped = g.rng.random() < 0.3 and g.clamped_stencils == 0
    g.clamped_stencils += clamped
    taps = [(int(g.rng.integers(-2, 3)), int(g.rng.integers(-2, 3)), g.const())
            for _ in range(int(g.rng.integers(2, 5)))]
    return g.add("stencil", [src], taps=taps, clamped=bool(clamped))


def _clamped_chain(g: _Gen, src: str) -> str:
    """2-3 chained 4-tap stencils, every index clamped to the image (once per case:
    inlined, a chain of depth n has 4^n taps, which lowering pays for)."""
    g.chains += 1
    for _ in range(int(g.rng.integers(2, 4))):
        taps = [(dy, dx, g.const()) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        src = g.add("stencil", [src], taps=taps, clamped=True)
    return src


def _pointwise(g: _Gen, src: str) -> str:
    ops = UNARY + BINARY + GUARDED + (
        GUARDED_DOMAIN if g.allowed("domain_errors_without_jit") else ())
    op = g.pick(ops)
    srcs = [src, g.other()] if op in BINARY else [src]
    return g.add("pointwise", srcs, op=op)


def _resample(g: _Gen, src: str) -> str:
    return g.add("resample", [src], mode=g.pick(RESAMPLE))


def _reduce(g: _Gen, src: str) -> str:
    op = g.pick(REDUCE_OPS)
    where = g.pick((None, "diamond", "corner"))
    box = _box(g, 4 if op == "product" else 9, origin=where is not None)  # never empty
    return g.add("reduce", [src], op=op, box=box, where=where)


def _update_sum(g: _Gen, src: str) -> str:
    box = _box(g)
    weights = [[g.const() for _ in range(box[3])] for _ in range(box[1])]
    return g.add("update_sum", [src], box=box, weights=weights,
                 init=g.pick(("zero", "src")))


def _histogram(g: _Gen, src: str) -> str:
    bins_src = "lab" if g.rng.random() < 0.5 else g.other()
    return g.add("histogram", [src, bins_src], bins=int(g.rng.integers(3, 7)),
                 div=int(g.rng.integers(1, 4)), readback=g.pick(("mod", "lab")))


def _gather(g: _Gen, src: str) -> str:
    modes = ("warp_clamp", "lut") + (("warp_bc",) if g.allowed("data_dependent_bc_reads") else ())
    mode = g.pick(modes)
    axis = g.pick(("y", "x"))
    if mode == "warp_bc":  # the values come from a boundary condition, read unclamped
        return g.add("gather", [g.leaf(), src], mode=mode, axis=axis)
    return g.add("gather", [src, g.other()], mode=mode, axis=axis)


def _abs_index(g: _Gen, src: str) -> str:
    return g.add("abs_index", [src], c=int(g.rng.integers(1, 3)), axis=g.pick(("y", "x")))


def _scan(g: _Gen, src: str) -> str:
    nonlinear = g.rng.random() < 0.5
    backward = g.allowed("overwritten_reads") and g.rng.random() < 0.5
    return g.add("scan", [src], axis=g.pick(("y", "x")), k=g.const(), k2=g.const(),
                 nonlinear=bool(nonlinear), backward=bool(backward))


def overwritten_read(updates: list) -> bool:
    """Does an update read a cell that it or a later update overwrites? ("pure" updates
    read and write every cell, each cell only from itself; ("col", c, a, b, op) writes
    column c from columns a and b.)"""
    for i, u in enumerate(updates):
        if u[0] == "col" and u[1] in u[2:4]:
            return True
        reads = None if u[0] == "pure" else set(u[2:4])   # None: every cell
        for later in updates[i + 1:]:
            if later[0] == "pure" or reads is None or later[1] in reads:
                return True
    return False


def _multi_update(g: _Gen, src: str) -> str:
    while True:
        updates = []
        for _ in range(int(g.rng.integers(1, 4))):
            if g.rng.random() < 0.4:
                updates.append(("pure", g.pick(("square", "tanh", "affine"))))
            else:
                c, a, b = (int(v) for v in g.rng.integers(0, g.W, size=3))
                updates.append(("col", c, a, b, g.pick(("mul", "add", "lin"))))
        stale = any(u[0] == "pure" and any(v[0] == "col" for v in updates[i + 1:])
                    for i, u in enumerate(updates))
        if ((g.allowed("overwritten_reads") or not overwritten_read(updates))
                and (g.allowed("stale_cells_outside_request") or not stale)):
            return g.add("multi_update", [src], updates=updates)


def _tuple(g: _Gen, src: str) -> str:
    return g.add("tuple", [src, g.other()], k=g.const(), update=bool(g.rng.random() < 0.5))


# kind -> (the feature flag that excludes it, or None; its generator)
KINDS = {
    "stencil": (None, _stencil),
    "pointwise": (None, _pointwise),
    "resample": (None, _resample),
    "reduce": (None, _reduce),
    "update_sum": (None, _update_sum),
    "histogram": (None, _histogram),
    "gather": (None, _gather),
    "abs_index": (None, _abs_index),
    "scan": (None, _scan),
    "multi_update": (None, _multi_update),
    "tuple": (None, _tuple),
}
