"""halogrid on the GPU for ``python -m benchmarks --target cuda`` (the device-system
interface of ``benchmarks/cuda_cell.py``): halogrid_impl's algorithms, each pipeline
``auto_schedule(target="cuda")``-d and compiled with ``compile(target="cuda")``.

Inputs are numba device arrays (``cuda.to_device``, outside the timed calls) and the
compiled pipelines return numba device arrays, so no timed call copies to or from the
host; the NumPy-in/NumPy-out row of W1 calls the same functions with NumPy arrays.
Peak memory counts numba's device allocations (``benchmarks.numba_memory``), which is
why this module installs that counter before anything creates a CUDA context.
"""
from benchmarks import numba_memory

_NO_COUNTER = numba_memory.install()

import halogrid as hg  # noqa: E402  (after the memory manager is in place)
from numba import cuda  # noqa: E402

from benchmarks.peers import halogrid_impl  # noqa: E402

VERSION = hg.__version__
MEMORY = ("numba device allocations live at once (an EMM plugin)" if _NO_COUNTER is None
          else f"device used memory, total - free, after the calls ({_NO_COUNTER})")
_USED_AT_RESET = [0]


def builders(target):
    """workload -> builder of halogrid_impl's pipelines compiled for ``target``."""
    return {name: halogrid_impl._builder(*spec, target=target)
            for name, spec in halogrid_impl.SPECS.items()}


BUILDERS = builders("cuda")


def check():
    """None if a CUDA device (or numba's simulator) is there, else why not."""
    return None if cuda.is_available() else "not available: numba.cuda sees no GPU"


def to_device(inputs):
    return {name: cuda.to_device(array) for name, array in inputs.items()}


def wait(result):
    cuda.synchronize()
    return result


def memory_reset():
    numba_memory.reset_peak()
    _USED_AT_RESET[0] = numba_memory.used_bytes()


def memory_peak():
    """Peak bytes since ``memory_reset``; with no counter, the growth of the device's
    used memory since then (None in the simulator)."""
    if _NO_COUNTER is None:
        return numba_memory.peak_bytes()
    used = numba_memory.used_bytes()
    return None if used is None else used - _USED_AT_RESET[0]
