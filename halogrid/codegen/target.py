"""Target: the per-target policies that the shared lowering passes read.

Invariants: passes never test a target's name or hold a target constant of their
own; they ask the Target they were given (LowerContext.target). A Target is a frozen
value, part of the compile cache key through `key_text`.

Policies:
  loop_kind(kind)      the loop kind a scheduled kind lowers to on this target: the
                       CPU runs a gpu_block loop as a parallel loop and a gpu_thread
                       loop as a serial one (so gpu schedules are testable on the CPU);
                       CUDA runs a parallel loop as a grid-strided gpu_block loop;
  private_limit/cap    when a racing scatter gets private accumulators rather than
                       atomics (passes/reductions.py);
  atomics              whether float atomic adds may be used at all: never in
                       deterministic mode, whose scatters are privatised over a fixed
                       number of chunks and merged in chunk order;
  reassociate          whether float sums may be reassociated by the compiler (the
                       CPU's fastmath 'reassoc' on contiguous reduction loops): the
                       result is still the same from run to run for one compiled kernel;
  chunks               the number of private accumulator copies: the caller's thread
                       count (THREADS, a driver argument) or DETERMINISTIC_CHUNKS.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors
from ..ir.expr import Var
from ..ir.types import INT32

THREADS = Var("hg.threads", INT32)   # a driver argument: the chunk count of private copies
DETERMINISTIC_CHUNKS = 8             # chunks of a deterministic scatter, whatever the threads
CUDA_CHUNKS = 256                    # private copies of a racing scatter on the GPU
NAMES = ("cpu", "cuda")

_CPU_KINDS = {"gpu_block": "parallel", "gpu_thread": "serial"}
_CUDA_KINDS = {"parallel": "gpu_block", "vectorized": "serial"}
_SERIAL_KINDS = ("serial", "unrolled", "reduction")


@dataclass(frozen=True)
class Target:
    name: str
    deterministic: bool = False

    @property
    def is_gpu(self) -> bool:
        return self.name == "cuda"

    def loop_kind(self, kind: str) -> str:
        return (_CUDA_KINDS if self.is_gpu else _CPU_KINDS).get(kind, kind)

    def assign_loop_kinds(self, loops: list, func, definition, enclosing: str | None) -> None:
        """Each loop's kind on this target (loop_kind), in place. On CUDA a stage that
        no directive made parallel gets a default mapping of its outermost run of
        race-free pure loops: at root, block loops around one thread loop (or, for a
        single such loop, one loop over every thread of the grid); computed inside a
        consumer's gpu_block loop (`enclosing`: that loop's kind), thread loops."""
        for lp in loops:
            lp.kind = self.loop_kind(lp.kind)
        if not self.is_gpu or not all(lp.kind in _SERIAL_KINDS for lp in loops):
            return
        run = _race_free_pure_run(loops, func, definition)
        if enclosing is None:
            _default_gpu_kinds(run)
        elif enclosing == "gpu_block":
            for lp in run[-3:]:
                lp.kind = "gpu_thread"

    @property
    def atomics(self) -> bool:
        return not self.deterministic

    def atomic_adds(self, t) -> bool:
        """Whether a racing += of type t may be an atomic add: not in deterministic
        mode, and on a GPU only for 32- and 64-bit values (CUDA has no narrower
        atomics; an 8-bit histogram is privatised instead)."""
        return self.atomics and not t.is_bool and (not self.is_gpu or t.bits >= 32)

    @property
    def reassociate(self) -> bool:
        return not self.is_gpu

    @property
    def prefers_atomics(self) -> bool:
        """A racing + scatter uses atomics whenever it may: GPUs add floats atomically
        in hardware, while private copies would each be folded by one thread."""
        return self.is_gpu and self.atomics

    @property
    def private_limit(self) -> int:
        return 1 << 16

    @property
    def private_cap(self) -> int:
        return 1 << 24 if not self.is_gpu else 1 << 20

    def chunks(self) -> int | None:
        """A constant chunk count for private copies, or None: the THREADS argument."""
        if self.deterministic:
            return DETERMINISTIC_CHUNKS
        return CUDA_CHUNKS if self.is_gpu else None

    def key_text(self) -> str:
        return f"{self.name}{'/deterministic' if self.deterministic else ''}"


def get_target(target: "str | Target", deterministic: bool = False) -> Target:
    """The Target named `target` ('cpu' or 'cuda'); InputError for any other name."""
    if isinstance(target, Target):
        return Target(target.name, target.deterministic or deterministic)
    if target not in NAMES:
        raise errors.InputError(
            f"Can't compile for target {target!r}: known targets are {', '.join(NAMES)}.")
    return Target(target, bool(deterministic))


def _race_free_pure_run(loops: list, func, definition) -> list:
    """The outermost loops, in order, over pure dims whose iterations do not race."""
    from ..ir.expr import Var
    from ..schedule.legality import race_reason
    pure = {a.name for a in definition.args if isinstance(a, Var)}
    run = []
    for lp in loops:
        if lp.name not in pure or race_reason(func, definition, frozenset({lp.name})):
            break
        run.append(lp)
    return run


def _default_gpu_kinds(run: list) -> None:
    if len(run) == 1:
        run[0].kind = "gpu_grid"
        return
    for lp in run[-4:-1]:
        lp.kind = "gpu_block"
    if run:
        run[-1].kind = "gpu_thread"
