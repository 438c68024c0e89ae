"""Per-kernel wall times of one pipeline run (CompiledPipeline.profile).

Invariants: inside `timed_kernels(module)` every kernel_* of the generated module is
replaced by a Timed wrapper (the driver looks kernels up as module globals at call
time) and restored on exit; a chunked kernel is timed around its whole launch, so
its time is wall time across threads, not the sum of its chunks.
"""

from __future__ import annotations

import time
from contextlib import contextmanager


class Timed:
    def __init__(self, name: str, kernel):
        self.name, self.kernel = name, kernel
        self.calls, self.seconds = 0, 0.0

    def _add(self, start: float) -> None:
        self.calls += 1
        self.seconds += time.perf_counter() - start

    def __call__(self, *args):
        start = time.perf_counter()
        self.kernel(*args)
        self._add(start)

    def launch(self, base, lo: int, hi: int, args: tuple) -> None:
        start = time.perf_counter()
        base(self.kernel, lo, hi, args)
        self._add(start)


def timing(base):
    """A launch function that times each launch of a Timed kernel with `base`."""
    return lambda kernel, lo, hi, args: kernel.launch(base, lo, hi, args)


@contextmanager
def timed_kernels(module):
    """Yield the list of Timed wrappers installed in `module` for the duration."""
    originals = {n: k for n, k in vars(module).items() if n.startswith("kernel_")}
    timed = [Timed(n, k) for n, k in originals.items()]
    vars(module).update({t.name: t for t in timed})
    try:
        yield timed
    finally:
        vars(module).update(originals)
