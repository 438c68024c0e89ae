"""What a generated CUDA driver calls at run time: device buffers, fills, launches,
and the checks that the CUDA target can run at all.

Invariants: every launch and copy goes on one stream per call (the caller's, or
the default stream); `Workspace.alloc` hands out, for an intermediate, the buffer it
handed out for the same storage, shape and type on an earlier call (so intermediates
are allocated once per shape), and the same for an output unless `fresh_outputs`
(outputs returned as device arrays belong to the caller); `Workspace.upload` copies
a NumPy input into a device buffer kept per input, shape and type in the same way.
Grid extents are capped at CUDA's limits: kernels stride their block loops, so a
smaller grid still runs every iteration.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from .... import errors

GRID_LIMITS = (2 ** 31 - 1, 65535, 65535)
FILL_THREADS = 256


def require() -> None:
    """InputError unless numba-cuda is installed and a GPU (or its simulator) is there."""
    if importlib.util.find_spec("numba_cuda") is None:
        raise errors.InputError(
            "target='cuda' needs numba-cuda, which is not installed: "
            'pip install "halogrid[cuda]" (or use target="cpu").')
    from numba import cuda
    if simulated():
        return
    if not cuda.is_available():
        raise errors.InputError(
            "target='cuda' found no CUDA GPU on this machine (numba.cuda.is_available() is "
            "False). Run on a machine with an NVIDIA GPU and driver, use numba-cuda's "
            "simulator for small tests (NUMBA_ENABLE_CUDASIM=1), or target='cpu'.")


def simulated() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def as_stream(stream):
    """A numba stream for `stream`: None (the default stream), a numba Stream, an int
    handle (torch.cuda.Stream.cuda_stream) or an object with a cuda_stream handle."""
    from numba import cuda
    if stream is None:
        return cuda.default_stream()
    if hasattr(stream, "cuda_stream") and not isinstance(stream, int):
        stream = stream.cuda_stream
    if isinstance(stream, int):
        return cuda.external_stream(stream)
    return stream


def is_device_array(value) -> bool:
    """A numba device array (the simulator's too) or a __cuda_array_interface__ producer."""
    return hasattr(value, "__cuda_array_interface__") or _is_numba_device_array(value)


def _is_numba_device_array(value) -> bool:
    return hasattr(value, "copy_to_host") and hasattr(value, "shape")


def device_view(value):
    """A numba device array over `value` (zero copy)."""
    if _is_numba_device_array(value):
        return value
    from numba import cuda
    return cuda.as_cuda_array(value)


class Workspace:
    """Device buffers of one compiled pipeline, reused across its calls."""

    def __init__(self):
        self.buffers: dict = {}
        self.stream = None
        self.fresh_outputs = True

    def alloc(self, storage: str, shape: tuple, dtype, output: bool = False):
        from numba import cuda
        key = (storage, tuple(shape), np.dtype(dtype).str)
        if output and self.fresh_outputs:
            return cuda.device_array(tuple(shape), dtype, stream=self.stream)
        if key not in self.buffers:
            self.buffers[key] = cuda.device_array(tuple(shape), dtype, stream=self.stream)
        return self.buffers[key]

    def upload(self, index: int, array: np.ndarray):
        """`array` on the device, in the buffer this input used last time if it fits."""
        from numba import cuda
        key = (f"input{index}", array.shape, array.dtype.str)
        if key not in self.buffers:
            self.buffers[key] = cuda.device_array(array.shape, array.dtype, stream=self.stream)
        buf = self.buffers[key]
        buf.copy_to_device(np.ascontiguousarray(array), stream=self.stream)
        return buf

    def fill(self, buffer, value) -> None:
        if buffer.size == 0:
            return
        flat = buffer.reshape(buffer.size)
        blocks = min((buffer.size + FILL_THREADS - 1) // FILL_THREADS, GRID_LIMITS[0])
        from .fill import fill
        fill[blocks, FILL_THREADS, self.stream](flat, value)

    def launch(self, kernel, grid: tuple, block: tuple, args: tuple) -> None:
        if any(g <= 0 for g in grid):
            return  # an empty block loop: nothing to run
        kernel[capped(grid), tuple(block), self.stream](*map(_plain, args))

    @staticmethod
    def owners(grid: tuple, block: tuple, per_thread: bool) -> int:
        """How many blocks (threads) `launch` runs for this grid and block."""
        count = 1
        for g in capped(grid) + (tuple(block) if per_thread else ()):
            count *= max(int(g), 1)
        return count


def _plain(arg):
    """Integer scalars as Python ints (int64 in the kernel): the driver's lets mix ints
    and np.int32s, and each mix would be one more specialisation to compile."""
    return int(arg) if isinstance(arg, np.integer) and arg.dtype.itemsize <= 4 else arg


def capped(grid: tuple) -> tuple:
    """The grid a launch runs: each extent at CUDA's limit (the loops stride)."""
    return tuple(min(int(g), limit) for g, limit in zip(grid, GRID_LIMITS))
