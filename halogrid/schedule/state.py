"""The schedule state a directive records: per Func (where it is computed and
stored) and per definition (its loop structure).

Invariants: state only records choices, it never changes what a Func computes.
A StageSchedule's `dims` always lists the definition's current loop names,
OUTERMOST first (Halide's reorder() lists them innermost first; we store the
reverse), and `origin[name]` the original dimensions a loop iterates over.
`kinds[name]` is parallel, vectorized, unrolled or one of GPU_KINDS (absent: serial);
GPU loops map onto the CUDA grid by nesting, innermost first (`gpu_axis`), as
Halide's CanonicalizeGPUVars does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.expr import RVar, Var

GPU_KINDS = ("gpu_block", "gpu_thread")
PARALLEL_KINDS = ("parallel",) + GPU_KINDS   # loops whose iterations may run concurrently


@dataclass
class FuncSchedule:
    compute: str | None = None          # None (the default decides), 'root', 'inline', 'at'
    compute_at: tuple | None = None     # (consumer Func, loop name)
    store: str | None = None            # None (with compute), 'root', 'at'
    store_at: tuple | None = None       # (consumer Func, loop name)

    def fingerprint(self, ref=id) -> tuple:
        """Hashable summary; `ref` names Funcs canonically (the cache passes ordinals)."""
        def at(pair):
            return None if pair is None else (ref(pair[0]), pair[1])
        return (self.compute, at(self.compute_at), self.store, at(self.store_at))


@dataclass
class StageSchedule:
    dims: list[str]                       # loop names, outermost first
    origin: dict[str, frozenset]          # loop name -> original dimension names
    rvars: frozenset                      # original names that are reduction dimensions
    splits: list[tuple] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)      # name -> kind (see module doc)
    const_extent: dict[str, int] = field(default_factory=dict)
    partition: set = field(default_factory=set)   # loops whose clamps/tails are peeled
    rfactor: tuple | None = None          # (loop name, original loop name it replaced)
    atomic: bool = False

    def fingerprint(self, ref=id) -> tuple:
        return (tuple(self.dims), tuple(self.splits), tuple(sorted(self.kinds.items())),
                tuple(sorted(self.partition)), self.rfactor, self.atomic)

    def is_reduction_loop(self, name: str) -> bool:
        return bool(self.origin[name] & self.rvars) and self.rfactor_name() != name

    def rfactor_name(self) -> str | None:
        return None if self.rfactor is None else self.rfactor[0]


def gpu_axis(sched: StageSchedule, name: str) -> tuple[str, int | None]:
    """(kind, axis) of loop `name`: axis 0/1/2 is .x/.y/.z, counted outwards from the
    innermost loop of that GPU kind in `sched.dims`; None for a loop that is not a GPU loop."""
    kind = sched.kinds.get(name, "serial")
    if kind not in GPU_KINDS:
        return kind, None
    same = [n for n in sched.dims if sched.kinds.get(n) == kind]
    return kind, len(same) - 1 - same.index(name)


def initial_stage_schedule(definition) -> StageSchedule:
    """The default loops of a definition: pure Vars as written, then its RVars."""
    pure = list(dict.fromkeys(a.name for a in definition.args if isinstance(a, Var)))
    rvars = [RVar(r, k).name for r in definition.rdoms for k in range(r.dimensions())]
    names = pure + rvars
    const = {}
    for r in definition.rdoms:
        for k, (_, extent) in enumerate(r.bounds):
            if type(extent).__name__ == "Const":
                const[RVar(r, k).name] = int(extent.value)
    return StageSchedule(list(names), {n: frozenset([n]) for n in names}, frozenset(rvars),
                         const_extent=const)


def stage_schedule(func, index: int) -> StageSchedule:
    """The schedule of func's definition `index` (0 pure, i for update i-1), created lazily."""
    d = func.definitions[index]
    if d.schedule is None:
        d.schedule = initial_stage_schedule(d)
    return d.schedule


def func_schedule(func) -> FuncSchedule:
    if func.func_schedule is None:
        func.func_schedule = FuncSchedule()
    return func.func_schedule
