"""Peak device memory of numba allocations (halogrid's CUDA cells), like PyTorch's
``torch.cuda.max_memory_allocated``: an External Memory Management plugin that is
numba-cuda's own manager plus a byte count.

``install()`` must run before numba creates its CUDA context (before the first device
array). From then on ``live_bytes`` counts the device arrays numba allocated and has not
released (released = finalised: numba queues the ``cuMemFree`` and runs it later, in
batches, so the driver's free memory lags behind), and ``peak_bytes`` is the high-water
mark of ``live_bytes`` since the last ``reset_peak``. Where the plugin cannot be
installed (the simulator, a numba-cuda without this manager), ``install`` returns why,
and callers fall back to the device's used memory (``used_bytes``).
"""
from numba import cuda

_COUNT = {"live": 0, "peak": 0}
_SIZES = {}  # device address -> bytes, for the allocations not yet released


def _address(handle):
    """The integer address of a device pointer (cuda-bindings' CUdeviceptr converts
    with int(); a ctypes c_void_p keeps it in ``.value``)."""
    return int(getattr(handle, "value", handle))


def _allocated(handle, size):
    _SIZES[_address(handle)] = size
    _COUNT["live"] += size
    _COUNT["peak"] = max(_COUNT["peak"], _COUNT["live"])


def _released(handle):
    _COUNT["live"] -= _SIZES.pop(_address(handle), 0)  # pinned host memory is not counted


def install():
    """Make numba allocate through the counting manager; None, or why it cannot."""
    if not hasattr(cuda, "set_memory_manager"):
        return "numba.cuda has no set_memory_manager (the simulator)"
    try:
        from numba.cuda.cudadrv.driver import NumbaCUDAMemoryManager
    except ImportError as err:
        return f"no numba-cuda memory manager to count with ({err})"

    class CountingManager(NumbaCUDAMemoryManager):
        """numba-cuda's manager; every device allocation is counted until numba
        queues its release (``deallocations.add_item``, called by the finalizer)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            queue = self.deallocations
            enqueue = queue.add_item

            def add_item(dtor, handle, *rest):
                _released(handle)
                enqueue(dtor, handle, *rest)
            queue.add_item = add_item

        def memalloc(self, size):
            mem = super().memalloc(size)
            _allocated(mem.handle, size)
            return mem

    cuda.set_memory_manager(CountingManager)
    return None


def live_bytes():
    return _COUNT["live"]


def peak_bytes():
    return _COUNT["peak"]


def reset_peak():
    _COUNT["peak"] = _COUNT["live"]


def used_bytes():
    """Bytes in use on the device (total - free), any allocator's; None where numba
    cannot tell (the simulator reports infinite memory)."""
    free, total = cuda.current_context().get_memory_info()
    used = total - free
    return int(used) if used == used and abs(used) != float("inf") else None
