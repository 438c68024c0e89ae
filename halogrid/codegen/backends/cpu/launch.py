"""How the generated driver runs a chunked kernel: on this thread, or split across a
thread pool.

Invariants: `launch(kernel, lo, hi, args)` calls kernel(a, b, *args) on disjoint
[a, b) covering [lo, hi) and returns when all have finished, re-raising the first
error. Kernels are numba.njit(nogil=True), so pool threads run them concurrently.
The calling thread runs the first chunk itself: a launch costs one pool hand-off
per extra thread (~10-30 us), not a parfor start.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _workers(count: int) -> ThreadPoolExecutor:
    """The shared pool, grown to at least `count` threads."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count:
            _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="halogrid")
            _pool_size = count
        return _pool


def serial(kernel, lo: int, hi: int, args: tuple) -> None:
    if hi > lo:
        kernel(lo, hi, *args)


def parallel(threads: int):
    """A launch function splitting each range into `threads` near-equal chunks."""
    def launch(kernel, lo: int, hi: int, args: tuple) -> None:
        chunks = min(threads, hi - lo)
        if chunks <= 1:
            return serial(kernel, lo, hi, args)
        cuts = [lo + (hi - lo) * i // chunks for i in range(chunks + 1)]
        pool = _workers(threads - 1)
        futures = [pool.submit(kernel, cuts[i], cuts[i + 1], *args) for i in range(1, chunks)]
        try:
            kernel(cuts[0], cuts[1], *args)
        finally:
            for f in futures:
                f.result()
    return launch
